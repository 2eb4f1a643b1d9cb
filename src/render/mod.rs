//! Rendering: plans and diagnostics as text for a terminal, markdown for a
//! pull request, JSON for programs, and GitHub workflow commands.

mod apply;
mod diagnostics;
mod diverged;
mod drill;
mod markdown;
mod monitor;
pub mod paint;
mod rollback;
mod safe;
mod status;
mod text;

pub use apply::{ApplyWords, applied_text, stale_text};
pub use diagnostics::{
    count, diagnostics_github, diagnostics_json, diagnostics_painted, diagnostics_text,
    nothing_planned,
};
pub use drill::{drill_json, drill_text};
pub use markdown::plan_markdown;
pub use monitor::{monitor_markdown, monitor_text};
pub use paint::{Paint, paint};
pub use rollback::rollback_text;
pub use safe::{
    code, fence, inline, is_hidden, json as json_output, prose, terminal, terminal_painted, text,
};
pub use status::status_text;
pub use text::{Detail, describe_step, gate_table, plan_text, summary_line};

use serde_json::Value;

use crate::reconcile::Plan;
use crate::state::FieldChange;

/// The plan as pretty JSON (its documented, versioned shape), safe to
/// print (see [`json_output`]).
pub fn plan_json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("plans serialize");
    s.push('\n');
    json_output(&s)
}

/// A commit as shown: its first 12 characters (all of it when shorter, or
/// when 12 bytes would split a character of a hand-made one).
pub fn abbrev(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// A value as shown in a plan: strings quoted, absent as `(none)`, long values cut.
pub fn show_value(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => return "(none)".to_string(),
        Some(v) => serde_json::to_string(v).expect("values serialize"),
    };
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(100).collect::<String>())
    } else {
        text
    }
}

/// `field: before → after`.
pub fn show_change(c: &FieldChange) -> String {
    format!(
        "{}: {} → {}",
        c.field,
        show_value(c.before.as_ref()),
        show_value(c.after.as_ref())
    )
}

/// A trusted setting's change (see [`Plan::after_merge`]): `file setting:
/// before → after`, values quoted, absent as `(none)`.
pub fn show_setting_change(c: &crate::manifest::trusted::SettingChange) -> String {
    let value = |v: &Option<String>| show_value(v.clone().map(Value::String).as_ref());
    format!(
        "{} {}: {} → {}",
        c.file,
        c.setting,
        value(&c.base),
        value(&c.head)
    )
}

/// The heading of the after-merge section, naming the base revision.
pub fn after_merge_heading(plan: &Plan) -> String {
    let base = plan.source.base.as_deref().unwrap_or("the base revision");
    format!(
        "Takes effect after merge: this pull request changes settings that open connections, \
         run commands or read files; this plan used those of {base}"
    )
}

/// A change made outside git: field-level, except metadata, of which only a
/// digest of what was applied is kept (the plan's update step shows each
/// field against git).
pub fn show_outside_change(c: &FieldChange) -> String {
    if c.field == "metadata" {
        "metadata changed since modelops applied it".to_string()
    } else {
        show_change(c)
    }
}
