//! Bytes of one file to a JSON value, safely: duplicate keys, alias bombs,
//! deep nesting, invalid UTF-8 and empty or non-mapping documents are errors
//! with a position, never a panic, a hang or unbounded memory.

use serde_json::Value;

use super::diagnostic::Diagnostic;

/// Largest manifest read, in bytes (8 MiB). Real manifests are a few KiB; the
/// limit keeps a stray data file from being parsed.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 32;

/// The text of a file: UTF-8, without a byte-order mark, not blank.
pub fn text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (line, column) = line_col(&bytes[..e.valid_up_to()]);
            return Err(Diagnostic::at(
                file,
                line,
                column,
                "yaml",
                "file is not valid UTF-8: manifests must be UTF-8 text",
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if is_blank(text) {
        return Err(Diagnostic::file(
            file,
            "yaml",
            "file is empty: expected a document starting with `apiVersion: modelops/v1` and `kind:`",
        ));
    }
    Ok(text)
}

/// Deserializes a document straight into a manifest type, under the same
/// limits as [`parse`]. The fast path: most files are valid.
pub fn typed<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// A parser error as a diagnostic at its position.
pub fn diagnostic(file: &str, rule: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let e = e.without_snippet();
    let message = yaml_message(e);
    match e.location().filter(|l| l.line() > 0) {
        Some(l) => Diagnostic::at(file, l.line() as usize, l.column() as usize, rule, message),
        None => Diagnostic::file(file, rule, message),
    }
}

/// Parses one YAML document into a JSON value whose top level is a mapping.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Value, Diagnostic> {
    let text = text(file, bytes)?;
    let value: Value = serde_saphyr::from_str_with_options(text, options())
        .map_err(|e| diagnostic(file, "yaml", &e))?;
    match value {
        Value::Object(_) => Ok(value),
        other => Err(Diagnostic::at(
            file,
            1,
            1,
            "yaml",
            format!(
                "expected a mapping with `apiVersion`, `kind`, ... at the top of the file, found {}",
                json_type(&other)
            ),
        )),
    }
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_FILE_BYTES as usize);
    budget.max_depth = MAX_DEPTH;
    budget.max_events = 500_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_nodes = 100_000;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES as usize;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    options.strict_booleans = true;
    options
}

/// The parser's message without its own position prefix or suffix (we print
/// `file:line:col:` ourselves).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("budget breached: ") {
        let what = rest.split([' ', '{']).next().unwrap_or("");
        return match what {
            "Depth" => format!("nesting is deeper than {MAX_DEPTH} levels"),
            "Documents" => {
                "the file holds more than one YAML document; modelops reads one document per file"
                    .to_string()
            }
            "Nodes"
            | "Aliases"
            | "Events"
            | "AliasAnchorRatio"
            | "RecordedAnchorEvents"
            | "RecordedAnchorBytes" => {
                "aliases expand to too many nodes (an alias bomb?); write the values out instead"
                    .to_string()
            }
            _ => format!("the file is too large or complex to read safely ({what})"),
        };
    }
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        let key = key.split(" at line ").next().unwrap_or(key);
        return format!("duplicate key `{key}`: each key may appear once in a mapping");
    }
    let first = text.lines().next().unwrap_or("").trim();
    let first = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let first = first.trim_end_matches(':').trim();
    if first.is_empty() {
        "invalid YAML".to_string()
    } else {
        first.to_string()
    }
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// 1-based line and column of the end of `bytes` (columns count characters).
pub fn line_col(bytes: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(bytes);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A word for what a JSON value is, for messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}
