//! The text of an imported manifest: YAML a person edits, every value
//! followed by a comment saying where it came from, and the to-dos of a
//! version (what its next promotion's gates will miss) as comments at the
//! top of its entry, each on its own line so it has a `file:line`.
//!
//! Every value is written plain only when YAML cannot read it as anything
//! but that string; otherwise double-quoted with JSON's escapes (which YAML
//! reads the same). Comments carry registry text too: they are kept to one
//! line of printable characters, so no value can end a comment and start
//! YAML of its own.

use crate::manifest::Stage;
use crate::manifest::model::{Signature, SignatureColumn};

use super::draft::{Draft, VersionDraft};

/// The comment column values' provenance is aligned to.
const COMMENT_COLUMN: usize = 40;

/// What opens the file.
pub struct Header<'a> {
    /// The `$schema` path, relative to `models/`, when the repository has
    /// the schemas.
    pub schema: Option<&'a str>,
    /// Where the model was read (`MLflow at http://…`).
    pub registry: &'a str,
}

/// One version's to-dos: the stage its next promotion enters, and each
/// missing piece of evidence in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Todos {
    /// The stage the version's next promotion enters.
    pub next: Stage,
    /// The policy it is held to.
    pub policy: String,
    /// What its gates will miss, one line each.
    pub items: Vec<String>,
}

/// A to-do as written: the version, its line in the file, and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoLine {
    /// The version's entry it is in.
    pub version: String,
    /// The stage its next promotion enters.
    pub next: Stage,
    /// 1-based line of the comment.
    pub line: usize,
    /// What is missing.
    pub text: String,
}

/// A manifest's text and where its to-dos are.
pub struct Rendered {
    /// The file's text.
    pub text: String,
    /// Its to-dos, in file order.
    pub todos: Vec<TodoLine>,
}

/// The manifest of `draft`, with `todos(version)` for each version.
pub fn model_yaml(
    draft: &Draft,
    header: &Header,
    todos: &dyn Fn(&VersionDraft) -> Option<Todos>,
) -> Rendered {
    let mut w = Writer::default();
    if let Some(schema) = header.schema {
        w.line(format!("# yaml-language-server: $schema={schema}"));
    }
    w.comment(
        "",
        &format!(
            "Imported by `modelops import --from mlflow` from {}.",
            header.registry
        ),
    );
    w.comment(
        "",
        "Each value is what MLflow holds, and its comment says where it came from.",
    );
    w.comment(
        "",
        "A later `modelops import` never overwrites this file: edit it freely.",
    );
    w.line("apiVersion: modelops/v1");
    w.line("kind: Model");
    w.line("metadata:");
    w.line(format!("  name: {}", scalar(&draft.name)));
    w.valued(
        format!("  owner: {}", scalar(&draft.owner.0)),
        &draft.owner.1,
    );
    if let Some((description, from)) = &draft.description {
        w.valued(format!("  description: {}", scalar(description)), from);
    }
    w.line("spec:");
    w.line("  versions:");
    for v in &draft.versions {
        version(&mut w, v, todos(v));
    }
    Rendered {
        text: w.text,
        todos: w.todos,
    }
}

/// The `modelops.yaml` of a repository imported from MLflow at `uri`
/// (shown without credentials).
pub fn config_yaml(uri: &str) -> String {
    let mut w = Writer::default();
    w.comment(
        "",
        "Written by `modelops import --from mlflow`: the registry the models were imported from.",
    );
    w.line("apiVersion: modelops/v1");
    w.line("kind: Config");
    w.line("spec:");
    w.line("  registry:");
    w.line("    type: mlflow");
    w.valued(
        format!("    uri: {}", scalar(uri)),
        "MLFLOW_TRACKING_URI overrides it",
    );
    w.comment(
        "    ",
        "Credentials come from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN: never from this file.",
    );
    w.text
}

fn version(w: &mut Writer, v: &VersionDraft, todos: Option<Todos>) {
    let from = |field: &str| v.from.get(field).map(String::as_str).unwrap_or("");
    let id = v.version.to_string();
    let version_text = match &v.version {
        crate::manifest::VersionId::Number(n) => n.to_string(),
        semantic => quoted(&semantic.to_string()),
    };
    w.valued(
        format!("    - version: {version_text}"),
        &format!("MLflow version {}", v.number),
    );
    let pad = "      ";
    if let Some(t) = todos.filter(|t| !t.items.is_empty()) {
        w.comment(
            pad,
            &format!(
                "TODO(modelops import): before {}, policy `{}` finds missing:",
                t.next, t.policy
            ),
        );
        for item in t.items {
            w.todos.push(TodoLine {
                version: id.clone(),
                next: t.next,
                line: w.lines + 1,
                text: one_line(&item),
            });
            w.comment(pad, &format!("  - {item}"));
        }
    }
    let notes = |w: &mut Writer, field: &str| {
        for (_, note) in v.notes.iter().filter(|(f, _)| *f == field) {
            w.comment(pad, &format!("note: {note}"));
        }
    };
    let m = &v.metadata;
    w.valued(format!("{pad}stage: {}", v.stage), from("stage"));
    w.valued(
        format!("{pad}source: {}", scalar(&m.source)),
        from("source"),
    );
    if let Some(run) = &m.training_run_id {
        w.valued(
            format!("{pad}training_run_id: {}", scalar(run)),
            from("training_run_id"),
        );
    }
    if let Some(d) = &m.dataset_version {
        w.valued(
            format!("{pad}dataset_version: {}", scalar(d)),
            from("dataset_version"),
        );
    }
    notes(w, "metrics");
    if !m.metrics.is_empty() {
        w.comment(pad, from("metrics"));
        w.line(format!("{pad}metrics:"));
        for (k, value) in m.metrics.iter() {
            w.line(format!("{pad}  {}: {}", scalar(k), number(*value)));
        }
    }
    if !m.fairness.is_empty() {
        w.comment(pad, from("fairness"));
        w.line(format!("{pad}fairness:"));
        for (attribute, groups) in m.fairness.iter() {
            w.line(format!(
                "{pad}  {}: {}",
                scalar(attribute),
                flow(groups.iter().map(|(g, s)| (g.as_str(), number(*s))))
            ));
        }
    }
    notes(w, "signature");
    if let Some(sig) = &m.signature {
        w.comment(pad, from("signature"));
        signature(w, pad, sig);
    }
    notes(w, "dependencies");
    if !m.dependencies.is_empty() {
        w.comment(pad, from("dependencies"));
        w.line(format!(
            "{pad}dependencies: {}",
            flow(m.dependencies.iter().map(|(k, v)| (k.as_str(), quoted(v))))
        ));
    }
    if let Some(c) = &m.changelog {
        w.valued(format!("{pad}changelog: {}", scalar(c)), from("changelog"));
    }
    if let Some(a) = &m.approved_by {
        w.valued(
            format!("{pad}approved_by: {}", scalar(a)),
            from("approved_by"),
        );
    }
    if !m.tags.is_empty() {
        w.comment(pad, from("tags"));
        w.line(format!("{pad}tags:"));
        for (k, value) in m.tags.iter() {
            w.line(format!("{pad}  {}: {}", scalar(k), scalar(value)));
        }
    }
}

fn signature(w: &mut Writer, pad: &str, sig: &Signature) {
    w.line(format!("{pad}signature:"));
    for (list, columns) in [("inputs", &sig.inputs), ("outputs", &sig.outputs)] {
        if columns.is_empty() {
            w.line(format!("{pad}  {list}: []"));
            continue;
        }
        w.line(format!("{pad}  {list}:"));
        for c in columns {
            w.line(format!("{pad}    - {}", column(c)));
        }
    }
}

fn column(c: &SignatureColumn) -> String {
    let mut parts = vec![
        format!("name: {}", scalar(&c.name)),
        format!("type: {}", scalar(&c.column_type)),
    ];
    if let Some(shape) = &c.shape {
        let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
        parts.push(format!("shape: [{}]", dims.join(", ")));
    }
    if let Some(optional) = c.optional {
        parts.push(format!("optional: {optional}"));
    }
    format!("{{{}}}", parts.join(", "))
}

fn flow<'a>(entries: impl Iterator<Item = (&'a str, String)>) -> String {
    let parts: Vec<String> = entries
        .map(|(k, v)| format!("{}: {v}", scalar(k)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A finite number as YAML reads it back to the same `f64`.
fn number(v: f64) -> String {
    format!("{v:?}")
}

/// A string as a YAML scalar: plain when YAML reads it as that string and
/// nothing else, double-quoted otherwise.
pub fn scalar(s: &str) -> String {
    if plain_is_safe(s) {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// Double-quoted, with JSON's escapes (YAML reads them the same).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn plain_is_safe(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    let first = s.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./@+:".contains(c))
        && !s.contains(": ")
        && !s.ends_with(':')
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

/// Text for a comment: one line, printable characters only.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[derive(Default)]
struct Writer {
    text: String,
    lines: usize,
    todos: Vec<TodoLine>,
}

impl Writer {
    fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
        self.lines += 1;
    }

    fn comment(&mut self, pad: &str, text: &str) {
        if !text.is_empty() {
            self.line(format!("{pad}# {}", one_line(text)));
        }
    }

    /// `line`, then its provenance as a trailing comment, aligned.
    fn valued(&mut self, line: String, from: &str) {
        if from.is_empty() {
            self.line(line);
            return;
        }
        let width = line.chars().count();
        let gap = COMMENT_COLUMN.saturating_sub(width).max(1);
        self.line(format!("{line}{}# {}", " ".repeat(gap), one_line(from)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        let cases = [
            ("risk-ml", "risk-ml"),
            ("models:/m-123", "models:/m-123"),
            ("runs:/abc/model", "runs:/abc/model"),
            ("v3.1", "v3.1"),
            ("1.5.2", "\"1.5.2\""),
            ("yes", "\"yes\""),
            ("Null", "\"Null\""),
            ("a: b", "\"a: b\""),
            ("two words", "\"two words\""),
            ("", "\"\""),
            ("#x", "\"#x\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("s3://bucket/key", "s3://bucket/key"),
            ("- item", "\"- item\""),
        ];
        for (s, want) in cases {
            assert_eq!(scalar(s), want, "{s:?}");
        }
    }

    #[test]
    fn a_comment_cannot_break_out_of_its_line() {
        let mut w = Writer::default();
        w.valued("  owner: x".into(), "tag\nkind: Policy");
        w.comment("", "a\rb");
        assert_eq!(w.text.lines().count(), 2, "{}", w.text);
        assert_eq!(w.lines, 2);
    }

    #[test]
    fn numbers_read_back_the_same() {
        for v in [0.9733, 12.5, 3.0, 1e-7, 123456789.125, -0.5] {
            assert_eq!(number(v).parse::<f64>().unwrap(), v);
        }
    }

    /// Registry text that a careless writer would turn into YAML of its
    /// own reads back as exactly that text.
    #[test]
    fn hostile_registry_text_reads_back_as_it_was() {
        use crate::manifest::model::SignatureColumn;
        use crate::manifest::{SourceFile, VersionId, load};
        use crate::reconcile::metadata_of;
        use crate::state::VersionMetadata;

        let hostile = "x\nkind: Policy\n# not a comment: {a: [b]} \"q\" 'q' \\ \u{1b}[31m";
        let metadata = VersionMetadata {
            source: "s3://bucket/a b/#c".into(),
            training_run_id: Some("0123abc".into()),
            dataset_version: Some("yes".into()),
            metrics: [("test: auc".to_string(), 0.9), ("n".to_string(), 1e-7)].into(),
            signature: Some(Signature {
                inputs: vec![SignatureColumn {
                    name: "on".into(),
                    column_type: "double".into(),
                    shape: Some(vec![-1, 4]),
                    optional: Some(true),
                }],
                outputs: vec![],
            }),
            dependencies: [("numpy".to_string(), "1.26".to_string())].into(),
            changelog: Some(hostile.into()),
            tags: [(hostile.to_string(), "null".to_string())].into(),
            ..Default::default()
        };
        let draft = Draft {
            name: "fraud-detector".into(),
            owner: ("risk-ml".into(), hostile.into()),
            description: Some((hostile.into(), hostile.into())),
            versions: vec![VersionDraft {
                version: VersionId::Number(1),
                number: 1,
                stage: Stage::Development,
                metadata: metadata.clone(),
                from: [("stage", hostile.to_string())].into(),
                notes: vec![("signature", hostile.to_string())],
            }],
        };
        let todos = Todos {
            next: Stage::Staging,
            policy: "default".into(),
            items: vec![hostile.into()],
        };
        let header = Header {
            schema: None,
            registry: hostile,
        };
        let rendered = model_yaml(&draft, &header, &|_| Some(todos.clone()));
        let files = [SourceFile {
            path: "models/fraud-detector.yaml".into(),
            content: Ok(rendered.text.clone().into_bytes()),
        }];
        let desired = load(&files).unwrap_or_else(|d| panic!("{d:#?}\n{}", rendered.text));
        let model = &desired.models["fraud-detector"];
        assert_eq!(model.description.as_deref(), Some(hostile));
        assert_eq!(
            metadata_of(&model.versions[0]),
            metadata,
            "{}",
            rendered.text
        );
        let line = rendered.todos[0].line;
        assert!(
            rendered
                .text
                .lines()
                .nth(line - 1)
                .unwrap()
                .starts_with("      # - x kind: Policy"),
            "{}",
            rendered.text
        );
    }
}
