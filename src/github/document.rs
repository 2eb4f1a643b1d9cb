//! What a comment reports: a saved plan (`plan --format json`), or, when
//! the repository did not validate and so has no plan, the report of
//! `validate --format json`; read from their JSON and rendered as markdown.
//! The comment then never goes on showing an older plan as if it were
//! current.

use std::fmt::Write;

use jiff::Timestamp;
use serde::Deserialize;

use crate::manifest::Diagnostic;
use crate::reconcile::ModelAction;
use crate::reconcile::Plan;
use crate::render::{abbrev, code, plan_markdown, prose, summary_line};
use crate::state::plan::FORMAT_VERSION;

/// A document to post.
#[derive(Debug, Clone)]
pub enum Document {
    /// A plan.
    Plan(Box<Plan>),
    /// A repository that did not validate: every error.
    Invalid(Invalid),
}

/// `validate --format json` of an invalid repository.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Invalid {
    /// How many files were read.
    #[serde(default)]
    pub files: usize,
    /// Every error.
    pub errors: Vec<Diagnostic>,
}

/// Why a file is not something to post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON, or not the shape of a plan or a validation report.
    #[error("is not a modelops plan (JSON): {0}")]
    Shape(String),
    /// A plan of another major format.
    #[error("has plan format {found:?}; this modelops reads {reads}.x")]
    Format {
        /// The file's `format_version`.
        found: String,
        /// The major this build reads.
        reads: String,
    },
    /// A validation report of a valid repository: there is a plan to post instead.
    #[error(
        "is a validation report with no errors; post the plan (`modelops plan --format json`) instead"
    )]
    Valid,
}

impl Document {
    /// Reads a plan or a validation report from its JSON text. A plan of
    /// another major `format_version` is refused, as `apply` refuses it.
    pub fn parse(text: &str) -> Result<Document, DocumentError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| DocumentError::Shape(e.to_string()))?;
        if let Some(valid) = value.get("valid").and_then(|v| v.as_bool()) {
            if valid {
                return Err(DocumentError::Valid);
            }
            let report: Invalid =
                serde_json::from_value(value).map_err(|e| DocumentError::Shape(e.to_string()))?;
            return Ok(Document::Invalid(report));
        }
        let found = value
            .get("format_version")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let reads = FORMAT_VERSION.split('.').next().unwrap_or("1").to_string();
        if found.split('.').next() != Some(reads.as_str()) {
            return Err(DocumentError::Format { found, reads });
        }
        let plan: Plan =
            serde_json::from_value(value).map_err(|e| DocumentError::Shape(e.to_string()))?;
        Ok(Document::Plan(Box::new(plan)))
    }

    /// The markdown of the comment, before its marker and footer.
    pub fn markdown(&self) -> String {
        match self {
            Document::Plan(plan) => plan_markdown(plan),
            Document::Invalid(report) => invalid_markdown(report),
        }
    }

    /// The comment instead of [`Document::markdown`] when that would take
    /// `parts` comments, more than the `max` posted: the counts, the
    /// models with changes (or the errors), as many as [`LISTED`], and where
    /// the whole plan is.
    pub fn summary(&self, parts: usize, max: usize) -> String {
        let mut out = String::from("### modelops plan\n\n");
        let _ = writeln!(
            out,
            "> :information_source: Too long for a pull-request comment: this would take {parts} comments, \
             and modelops posts at most {max}. The whole of it is in the **job summary** of the workflow run \
             (linked below) and in the saved plan file (`modelops plan --out`; the action's `plan-json` output).\n"
        );
        match self {
            Document::Plan(plan) => plan_summary(plan, &mut out),
            Document::Invalid(report) => {
                let _ = writeln!(
                    out,
                    "**:x: The repository is not valid: {} errors; nothing planned.**\n",
                    report.errors.len()
                );
                for d in report.errors.iter().take(LISTED) {
                    let _ = writeln!(out, "- {} {}", code(&place(d)), prose(&d.message));
                }
                more(&mut out, report.errors.len());
            }
        }
        out
    }

    /// The commit the plan was made from, when known.
    pub fn commit(&self) -> Option<&str> {
        match self {
            Document::Plan(plan) => plan.source.commit.as_deref(),
            Document::Invalid(_) => None,
        }
    }

    /// When the plan was made, when known.
    pub fn created_at(&self) -> Option<Timestamp> {
        match self {
            Document::Plan(plan) => Some(plan.created_at),
            Document::Invalid(_) => None,
        }
    }
}

/// Most models (or errors) a summary names.
pub const LISTED: usize = 200;

fn plan_summary(plan: &Plan, out: &mut String) {
    if let Some(commit) = &plan.source.commit {
        let _ = writeln!(
            out,
            "Repository {} at {}.\n",
            code(&plan.source.repo),
            code(abbrev(commit))
        );
    }
    let _ = writeln!(out, "**{}**\n", prose(&summary_line(plan)));
    let changed: Vec<_> = plan.models.iter().filter(|m| !m.steps.is_empty()).collect();
    let created = changed
        .iter()
        .filter(|m| m.action == ModelAction::Create)
        .count();
    let _ = writeln!(
        out,
        "| models | count |\n|---|---|\n| to create | {created} |\n| to update | {} |\n| unchanged | {} |\n| refused changes | {} |\n| warnings | {} |\n",
        changed.len() - created,
        plan.models.len() - changed.len(),
        plan.errors.len(),
        plan.warnings.len()
    );
    if changed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>Models with changes ({})</summary>\n",
        changed.len()
    );
    for m in changed.iter().take(LISTED) {
        let action = if m.action == ModelAction::Create {
            "create"
        } else {
            "update"
        };
        let _ = writeln!(
            out,
            "- {} — {action}, {} step{}",
            code(&m.model),
            m.steps.len(),
            if m.steps.len() == 1 { "" } else { "s" }
        );
    }
    more(out, changed.len());
    out.push_str("\n</details>\n");
}

/// `… and N more` when a list was cut at [`LISTED`].
fn more(out: &mut String, total: usize) {
    if total > LISTED {
        let _ = writeln!(out, "- … and {} more", total - LISTED);
    }
}

/// `file:line:col` of a diagnostic, as far as known.
fn place(d: &Diagnostic) -> String {
    match (d.line, d.column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", d.file),
        (Some(l), None) => format!("{}:{l}", d.file),
        _ => d.file.clone(),
    }
}

/// The comment for a repository that did not validate.
fn invalid_markdown(report: &Invalid) -> String {
    let mut out = String::from("### modelops plan\n\n");
    let errors = match report.errors.len() {
        1 => "1 error".to_string(),
        n => format!("{n} errors"),
    };
    let _ = writeln!(
        out,
        "**:x: The repository is not valid: {errors}; nothing planned.** Fix them and push again; \
         the workflow's annotations mark each on its line.\n"
    );
    for d in &report.errors {
        let _ = writeln!(out, "- {} {}", code(&place(d)), prose(&d.message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_by_shape() {
        let rows: [(&str, Result<&str, &str>); 7] = [
            ("not json", Err("is not a modelops plan (JSON)")),
            (
                r#"{"format_version": "2.0", "models": []}"#,
                Err(r#"has plan format "2.0"; this modelops reads 1.x"#),
            ),
            (r#"{"models": []}"#, Err(r#"has plan format """#)),
            (
                r#"{"format_version": "1.0", "valid": true, "files": 3, "errors": []}"#,
                Err("is a validation report with no errors"),
            ),
            (
                r#"{"format_version": "1.9", "models": 3}"#,
                Err("is not a modelops plan (JSON)"),
            ),
            (
                r#"{"format_version": "1.0", "valid": false, "files": 3, "errors": [
                    {"file": "models/a.yaml", "line": 3, "column": 7, "rule": "schema", "message": "stage must be one of <A>"},
                    {"file": "models/b.yaml", "rule": "file", "message": "unreadable"}]}"#,
                Ok(
                    "### modelops plan\n\n**:x: The repository is not valid: 2 errors; nothing planned.** Fix them and push again; \
                     the workflow's annotations mark each on its line.\n\n\
                     - `models/a.yaml:3:7` stage must be one of \\<A\\>\n- `models/b.yaml` unreadable\n",
                ),
            ),
            (
                r#"{"format_version": "1.0", "valid": false, "errors": [{"file": "m.yaml", "line": 1, "rule": "yaml", "message": "bad"}]}"#,
                Ok(
                    "### modelops plan\n\n**:x: The repository is not valid: 1 error; nothing planned.** Fix them and push again; \
                     the workflow's annotations mark each on its line.\n\n- `m.yaml:1` bad\n",
                ),
            ),
        ];
        for (text, want) in rows {
            match (Document::parse(text), want) {
                (Ok(doc), Ok(md)) => {
                    assert_eq!(doc.markdown(), md);
                    assert_eq!(doc.commit(), None);
                }
                (Err(e), Err(prefix)) => {
                    assert!(e.to_string().starts_with(prefix), "{e}")
                }
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }
}
