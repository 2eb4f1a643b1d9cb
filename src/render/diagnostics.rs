//! Validation errors as text, JSON, or GitHub workflow commands.

use std::fmt::Write;

use super::safe::{json, terminal, text};
use crate::manifest::Diagnostic;

/// `path:line:col: error: message`, one per line (a message that quotes a
/// value with a newline stays on its line: see [`text`]). Plain: for an
/// error message that travels further.
pub fn diagnostics_text(diags: &[Diagnostic]) -> String {
    diagnostic_lines(diags, "error:")
}

/// [`diagnostics_text`] with `error:` marked red, for a terminal.
pub fn diagnostics_painted(diags: &[Diagnostic]) -> String {
    diagnostic_lines(diags, &super::paint(super::Paint::Red, "error:"))
}

fn diagnostic_lines(diags: &[Diagnostic], label: &str) -> String {
    let mut out = String::new();
    for d in diags {
        let (file, message) = (text(&d.file), text(&d.message));
        let _ = match (d.line, d.column) {
            (Some(l), Some(c)) => writeln!(out, "{file}:{l}:{c}: {label} {message}"),
            _ => writeln!(out, "{file}: {label} {message}"),
        };
    }
    out
}

/// `1 file`, `2 files`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The errors that stopped a plan, then `N errors in M files; nothing
/// planned.`
pub fn nothing_planned(diags: &[Diagnostic], files: usize) -> String {
    format!(
        "{}{} in {}; nothing planned.\n",
        diagnostics_painted(diags),
        count(diags.len(), "error"),
        count(files, "file")
    )
}

/// `{"format_version", "valid", "errors": [...]}`.
pub fn diagnostics_json(diags: &[Diagnostic], files: usize) -> String {
    let value = serde_json::json!({
        "format_version": "1.0",
        "valid": diags.is_empty(),
        "files": files,
        "error_count": diags.len(),
        "errors": diags,
    });
    let mut s = serde_json::to_string_pretty(&value).expect("diagnostics serialize");
    s.push('\n');
    json(&s)
}

/// `::error file=…,line=…,col=…::message`, which GitHub Actions turns into
/// annotations on the pull request's lines.
pub fn diagnostics_github(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let mut props = format!("file={}", property(&d.file));
        if let Some(l) = d.line {
            let _ = write!(props, ",line={l}");
        }
        if let Some(c) = d.column {
            let _ = write!(props, ",col={c}");
        }
        let _ = write!(
            props,
            ",title={}",
            property(&format!("modelops: {}", d.rule))
        );
        let _ = writeln!(out, "::error {props}::{}", data(&d.message));
    }
    out
}

/// A command's message: hidden characters escaped (see [`terminal`]), then
/// what the runner unescapes.
fn data(s: &str) -> String {
    terminal(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escapes() {
        let d = Diagnostic::at("models/a,b.yaml", 3, 5, "schema", "50% bad\nnext");
        assert_eq!(
            diagnostics_github(&[d]),
            "::error file=models/a%2Cb.yaml,line=3,col=5,title=modelops%3A schema::50%25 bad%0Anext\n"
        );
    }
}
