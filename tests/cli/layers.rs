//! The layer rules (docs/architecture.md): dependencies point down. Reads
//! every file under `src/` and names, by file and line, each import that
//! points up: a `use crate::X`, a `crate::X::` path, a `crate::{X, ..}` group,
//! or a `super::` chain that climbs to the crate root. Comments and string
//! literals are skipped. Within `commands`, a command file imports nothing
//! of another command file (cargo's commands never call each other: what
//! two commands share lives in `ops`).

use std::path::{Path, PathBuf};

/// (the layers a rule covers, the layers they must not import). A layer is a
/// top-level module of `src/`.
const RULES: &[(&[&str], &[&str])] = &[
    // The pure core names no I/O and nothing that drives it.
    (
        &["reconcile", "state", "manifest"],
        &["backend", "commands", "ops", "render", "source", "github"],
    ),
    // State and manifest are below the planner.
    (&["state", "manifest"], &["reconcile"]),
    // The I/O edge knows plain data, not the planner nor what drives it; the
    // applier (`apply`) is what maps plan steps onto registry writes.
    (&["backend"], &["commands", "ops", "reconcile", "apply"]),
    // Operations are called by commands, never the other way round.
    (&["ops"], &["commands"]),
    // Rendering words values; it reaches no backend and drives nothing.
    (&["render"], &["backend", "commands", "ops"]),
];

/// What `commands/mod.rs` shares with the command files, all about the
/// command line's output: writing to stdout (`emit`, `emit_commands`) and
/// stderr (`warn`) through the render boundary, and letting a large value
/// go at exit (`release_at_exit`). A file in
/// `src/commands/` may import these and nothing else of `commands`: not
/// another command's file, nor anything else `mod.rs` might grow.
const COMMANDS_SHARED: &[&str] = &["emit", "emit_commands", "warn", "release_at_exit"];

/// Violations known and left for the work that removes them, as (file,
/// layer imported). Each must still occur: remove its line when it is fixed.
const KNOWN: &[(&str, &str)] = &[
    // Test modules of the planner word steps with the text renderer.
    ("src/reconcile/tests.rs", "render"),
    ("src/reconcile/rollout/tests.rs", "render"),
];

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn imports_point_down() {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "found only {} files in src/", files.len());
    let mut violations = Vec::new();
    let mut known_seen = vec![false; KNOWN.len()];
    for file in &files {
        let rel = file
            .strip_prefix(ROOT)
            .expect("under the crate")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).expect("read a source file");
        for v in violations_in(&rel, &text) {
            match KNOWN
                .iter()
                .position(|k| *k == (rel.as_str(), v.imported.as_str()))
            {
                Some(i) => known_seen[i] = true,
                None => violations.push(v.to_string()),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that point up (see docs/architecture.md):\n{}",
        violations.join("\n")
    );
    let fixed: Vec<String> = KNOWN
        .iter()
        .zip(known_seen)
        .filter(|(_, seen)| !seen)
        .map(|((file, layer), _)| format!("{file} no longer imports {layer}"))
        .collect();
    assert!(
        fixed.is_empty(),
        "remove these from KNOWN in tests/cli/layers.rs:\n{}",
        fixed.join("\n")
    );
}

#[test]
fn every_form_of_import_is_found() {
    // (file, text, what must be reported as `line:layer`)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "src/state/a.rs",
            "use crate::backend::Registry;",
            &["1:backend"],
        ),
        (
            "src/state/a.rs",
            "let x = crate::render::text(1);",
            &["1:render"],
        ),
        (
            "src/reconcile/a.rs",
            "use crate::{\n    manifest::Stage,\n    github::{self, Client},\n};",
            &["3:github"],
        ),
        (
            "src/backend/mlflow/a.rs",
            "use super::super::super::reconcile::PlanStep;",
            &["1:reconcile"],
        ),
        (
            "src/backend/mod.rs",
            "use super::commands;",
            &["1:commands"],
        ),
        // Within the layer, or allowed.
        ("src/backend/mlflow/a.rs", "use super::super::local;", &[]),
        ("src/backend/a.rs", "use crate::state::Event;", &[]),
        ("src/commands/a.rs", "use crate::backend::Registry;", &[]),
        // Not code.
        ("src/state/a.rs", "// use crate::backend::Registry;", &[]),
        (
            "src/state/a.rs",
            "/// See [`crate::backend::Registry`].",
            &[],
        ),
        (
            "src/state/a.rs",
            "/* crate::backend:: /* nested */ crate::github:: */",
            &[],
        ),
        ("src/state/a.rs", r#"let s = "crate::backend::x";"#, &[]),
        ("src/state/a.rs", r##"let s = r#"crate::backend::"#;"##, &[]),
        (
            "src/state/a.rs",
            "let c = '\"'; crate::github::x();",
            &["1:github"],
        ),
        (
            "src/state/a.rs",
            "fn f<'a>(x: &'a str) { crate::source::x() }",
            &["1:source"],
        ),
        ("src/state/a.rs", "use mycrate::backend;", &[]),
        // Command files import only the shared output helpers of `commands`.
        (
            "src/commands/apply.rs",
            "use super::plan::{Planned, compute};",
            &["1:commands::plan"],
        ),
        (
            "src/commands/apply.rs",
            "use super::{emit,\n    plan};",
            &["2:commands::plan"],
        ),
        (
            "src/commands/monitor.rs",
            "crate::commands::rollback::locked(x);",
            &["1:commands::rollback"],
        ),
        (
            "src/commands/monitor.rs",
            "use crate::commands::{emit, rollback};",
            &["1:commands::rollback"],
        ),
        (
            "src/commands/apply/a.rs",
            "use super::super::plan;",
            &["1:commands::plan"],
        ),
        (
            "src/commands/apply.rs",
            "use super::{emit, emit_commands};\nsuper::warn(\"x\"); crate::commands::release_at_exit(1);",
            &[],
        ),
        ("src/commands/mod.rs", "use crate::ops::Context;", &[]),
        ("src/commands/apply.rs", "use crate::ops::plan;", &[]),
        (
            "src/ops/a.rs",
            "use crate::commands::emit;",
            &["1:commands"],
        ),
        (
            "src/ops/plan.rs",
            "use super::super::commands;",
            &["1:commands"],
        ),
    ];
    for (file, text, want) in cases {
        let got: Vec<String> = violations_in(file, text)
            .iter()
            .map(|v| format!("{}:{}", v.line, v.imported))
            .collect();
        assert_eq!(got, *want, "{file}: {text}");
    }
}

/// One import that points up.
struct Violation {
    file: String,
    line: usize,
    layer: String,
    /// A layer, or `commands::<name>` for a command file's import from `commands`.
    imported: String,
    code: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} imports {}: {}",
            self.file, self.line, self.layer, self.imported, self.code
        )
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `src/a/b.rs` and `src/a/b/mod.rs`
/// are `a::b`; `src/lib.rs` is the root.
fn module_path(file: &str) -> Vec<String> {
    let rel = file.strip_prefix("src/").unwrap_or(file);
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Every import in `text` that a rule forbids to `file`'s layer.
fn violations_in(file: &str, text: &str) -> Vec<Violation> {
    let module = module_path(file);
    let Some(layer) = module.first() else {
        return Vec::new();
    };
    let forbidden: Vec<&'static str> = RULES
        .iter()
        .filter(|(covered, _)| covered.contains(&layer.as_str()))
        .flat_map(|(_, banned)| banned.iter().copied())
        .collect();
    let code = code_only(text);
    let lines: Vec<&str> = text.lines().collect();
    let violation = |line: usize, imported: String| Violation {
        file: file.to_string(),
        line,
        layer: layer.clone(),
        imported,
        code: lines.get(line - 1).unwrap_or(&"").trim().to_string(),
    };
    let mut found: Vec<Violation> = top_level_imports(&code, module.len())
        .into_iter()
        .filter(|(_, name)| forbidden.contains(&name.as_str()))
        .map(|(line, name)| violation(line, name))
        .collect();
    if layer == "commands" && module.len() >= 2 {
        found.extend(
            commands_imports(&code, module.len())
                .into_iter()
                .filter(|(_, name)| !COMMANDS_SHARED.contains(&name.as_str()))
                .map(|(line, name)| violation(line, format!("commands::{name}"))),
        );
        found.sort_by_key(|v| v.line);
    }
    found
}

/// The names a file `depth` modules deep inside `commands` takes from
/// `commands` itself: `crate::commands::X`, each item of a
/// `crate::commands::{..}` group, and `super::` chains that climb exactly to
/// `commands` (counted from the file's module, as in [`top_level_imports`]).
fn commands_imports(code: &[char], depth: usize) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let line_of = |i: usize| code[..i].iter().filter(|c| **c == '\n').count() + 1;
    let starts = |i: usize, word: &str| {
        let w: Vec<char> = word.chars().collect();
        code.get(i..i + w.len()) == Some(&w[..])
    };
    let mut i = 0;
    while i < code.len() {
        if i > 0 && ident(code[i - 1]) {
            i += 1;
            continue;
        }
        let mut j = i;
        let at_commands = if starts(i, "crate::commands::") {
            j += "crate::commands::".len();
            true
        } else if starts(i, "super::") {
            let mut supers = 0;
            while starts(j, "super::") {
                supers += 1;
                j += "super::".len();
            }
            supers + 1 == depth
        } else {
            i += 1;
            continue;
        };
        if at_commands {
            if code.get(j) == Some(&'{') {
                found.extend(group(code, j).into_iter().map(|(k, n)| (line_of(k), n)));
            } else if let Some((k, name)) = name_at(code, j) {
                found.push((line_of(k), name));
            }
        }
        i = j.max(i + 1);
    }
    found
}

/// `text` with comments, string and character literals blanked out (line
/// breaks kept, so lines still count).
fn code_only(text: &str) -> Vec<char> {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let blank = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let start = i;
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if at(i) == 'r' && matches!(at(i + 1), '#' | '"') && raw_prefix(&c, i) {
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < c.len() && !c[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if at(i) == '\'' {
            // A character literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                continue;
            }
        } else {
            i += 1;
            continue;
        }
        blank(&mut out, start, i);
    }
    out
}

/// Whether the `r` at `i` starts a raw string (`r"`, `r#"`, `br"`), not an
/// identifier ending in `r`.
fn raw_prefix(c: &[char], i: usize) -> bool {
    let before = |k: usize| i.checked_sub(k).map_or('\0', |k| c[k]);
    !ident(before(1)) || (before(1) == 'b' && !ident(before(2)))
}

fn ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The top-level modules named by `crate::` paths and by `super::` chains
/// that climb to the root, from a file `depth` modules deep, with their line.
/// A `super::` chain is counted from the file's module; one inside an inline
/// module climbs one less than counted, which can only name a module inside
/// the same layer as the root one.
fn top_level_imports(code: &[char], depth: usize) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let line_of = |i: usize| code[..i].iter().filter(|c| **c == '\n').count() + 1;
    let starts = |i: usize, word: &str| {
        let w: Vec<char> = word.chars().collect();
        code.get(i..i + w.len()) == Some(&w[..])
    };
    let mut i = 0;
    while i < code.len() {
        if i > 0 && ident(code[i - 1]) {
            i += 1;
            continue;
        }
        let mut j = i;
        let root = if starts(i, "crate::") {
            j += "crate::".len();
            true
        } else if starts(i, "super::") {
            let mut supers = 0;
            while starts(j, "super::") {
                supers += 1;
                j += "super::".len();
            }
            supers >= depth
        } else {
            i += 1;
            continue;
        };
        if root {
            if code.get(j) == Some(&'{') {
                found.extend(group(code, j).into_iter().map(|(k, n)| (line_of(k), n)));
            } else if let Some((k, name)) = name_at(code, j) {
                found.push((line_of(k), name));
            }
        }
        i = j.max(i + 1);
    }
    found
}

/// The first name of each item in the `{ .. }` group opening at `open`.
fn group(code: &[char], open: usize) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect_name = true;
    let mut i = open;
    while i < code.len() {
        match code[i] {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_name = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_name = true,
            c if depth == 1 && expect_name && ident(c) => {
                if let Some((k, name)) = name_at(code, i) {
                    i = k + name.chars().count();
                    out.push((k, name));
                    expect_name = false;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The identifier starting at `i`, after any blanks.
fn name_at(code: &[char], mut i: usize) -> Option<(usize, String)> {
    while code.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    let name: String = code[i.min(code.len())..]
        .iter()
        .take_while(|c| ident(**c))
        .collect();
    (!name.is_empty()).then_some((i, name))
}
