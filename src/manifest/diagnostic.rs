//! A problem found in the repository's files, with where it is.

use serde::{Deserialize, Serialize};

/// One error in one file. `line`/`column` are 1-based; both are absent when the
/// problem is with the file as a whole (too large, unreadable, a symlink that
/// leaves the repository).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Path relative to the repository root, `/`-separated.
    pub file: String,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Which check failed: `file`, `yaml`, `schema` or a semantic rule name.
    pub rule: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
    /// JSON pointer into the document, used to find `line`/`column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Whether the pointer's last segment names a key that is itself at
    /// fault (an unknown field): the position is the key's, not its value's.
    #[serde(skip)]
    pub at_key: bool,
}

impl Diagnostic {
    /// A problem with the file as a whole.
    pub fn file(file: &str, rule: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            line: None,
            column: None,
            rule: rule.to_string(),
            message: message.into(),
            pointer: None,
            at_key: false,
        }
    }

    /// A problem at a known line and column.
    pub fn at(
        file: &str,
        line: usize,
        column: usize,
        rule: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            line: Some(line),
            column: Some(column),
            ..Diagnostic::file(file, rule, message)
        }
    }

    /// A problem at a JSON pointer; the line and column are filled in later by
    /// [`super::locate::resolve`].
    pub fn pointer(
        file: &str,
        pointer: impl Into<String>,
        rule: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            pointer: Some(pointer.into()),
            ..Diagnostic::file(file, rule, message)
        }
    }

    /// A problem with a key itself, such as an unknown field.
    pub fn key(
        file: &str,
        pointer: impl Into<String>,
        rule: &str,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            at_key: true,
            ..Diagnostic::pointer(file, pointer, rule, message)
        }
    }

    /// Sort key: file, then line, then column, then message.
    pub fn sort_key(&self) -> (&str, usize, usize, &str) {
        (
            &self.file,
            self.line.unwrap_or(0),
            self.column.unwrap_or(0),
            &self.message,
        )
    }
}

/// Sorts by file and position and drops exact repeats.
pub fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diags.dedup_by(|a, b| a.sort_key() == b.sort_key());
}

/// Escapes one segment of a JSON pointer (RFC 6901).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
