//! The plan's Diverged section, as text and as markdown: every version git
//! declares at a stage it does not have and that apply will not move, why,
//! since when, and the change to git that makes it agree.

use std::fmt::Write;

use crate::reconcile::Plan;
use crate::state::plan::Diverged;

/// The diverged versions grouped by model (the plan lists them in model
/// order), each group with its model's patch.
fn by_model(plan: &Plan) -> Vec<&[Diverged]> {
    plan.diverged.chunk_by(|a, b| a.model == b.model).collect()
}

fn since(d: &Diverged) -> String {
    d.since
        .map(|t| format!(" since {}", crate::state::format::at(t)))
        .unwrap_or_default()
}

/// The section for a terminal; empty when nothing diverged.
pub fn diverged_text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.diverged.is_empty() {
        return out;
    }
    out.push_str(
        "Diverged: git declares a stage these versions do not have, and apply will not move them:\n",
    );
    for group in by_model(plan) {
        for d in group {
            let _ = writeln!(
                out,
                "  {} version {}: git declares {}, it is {} ({}{}): {}",
                d.model,
                d.version,
                d.declared,
                d.actual,
                d.cause.label(),
                since(d),
                d.reason
            );
        }
        if let Some(patch) = &group[0].patch {
            let _ = writeln!(out, "  This change to {} makes git agree:\n", group[0].file);
            for line in patch.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out.push('\n');
    out
}

/// The section for a pull-request comment; empty when nothing diverged.
pub fn diverged_markdown(plan: &Plan, escape: fn(&str) -> String) -> String {
    let mut out = String::new();
    if plan.diverged.is_empty() {
        return out;
    }
    out.push_str("#### :warning: Diverged from git (apply will not move these versions)\n\n");
    out.push_str("| model | version | git declares | actual | cause | since | why |\n|---|---|---|---|---|---|---|\n");
    for d in &plan.diverged {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            d.model,
            d.version,
            d.declared,
            d.actual,
            d.cause.label(),
            d.since.map(|t| t.to_string()).unwrap_or_default(),
            escape(&d.reason)
        );
    }
    out.push('\n');
    for group in by_model(plan) {
        if let Some(patch) = &group[0].patch {
            let fence = fence_for(patch);
            let _ = writeln!(
                out,
                "The change to `{}` that makes git agree:\n\n{fence}diff",
                group[0].file
            );
            out.push_str(patch);
            if !patch.ends_with('\n') {
                out.push('\n');
            }
            let _ = writeln!(out, "{fence}\n");
        }
    }
    out
}

/// A code fence longer than any run of backticks in `text`, so the text
/// cannot close it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::fence_for;

    #[test]
    fn a_fence_outlasts_the_backticks_inside() {
        for (text, fence) in [("plain", "```"), ("a ``` b", "````"), ("`````", "``````")] {
            assert_eq!(fence_for(text), fence, "{text}");
        }
    }
}
