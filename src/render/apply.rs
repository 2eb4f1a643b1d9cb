//! What an apply did (`modelops apply`), in words: the steps applied, the
//! totals, and why it stopped or refused.

use super::count;
use crate::apply::ApplyReport;
use crate::reconcile::Summary;

/// What an apply says: lines for stdout, lines for stderr, and whether it
/// succeeded (every step applied and no version rejected).
pub struct ApplyWords {
    /// The steps done and the totals.
    pub out: String,
    /// Why it stopped, or what its rejections mean.
    pub err: String,
    /// Whether the apply succeeded.
    pub ok: bool,
}

/// `report` of a plan whose totals are `s`, in words.
pub fn applied_text(report: &ApplyReport, s: &Summary) -> ApplyWords {
    let mut out: String = report
        .applied
        .iter()
        .map(|line| format!("  done: {line}\n"))
        .collect();
    let mut err = String::new();
    let ok = match &report.failed {
        None if report.rejected > 0 => {
            out.push_str(&format!(
                "\nApply complete: {} added, {} changed, {} archived, {} rejected.\n",
                s.add, s.change, s.archive, s.reject
            ));
            err.push_str(&format!(
                "{} marked Rejected (failed validation gates or a failed rollout); the refused moves were not applied. \
                 A rejected move is not tried again until the version's manifest entry (or its policy) changes.\n",
                count(report.rejected, "version")
            ));
            false
        }
        None => {
            out.push_str(&format!(
                "\nApply complete: {} added, {} changed, {} archived.\n",
                s.add, s.change, s.archive
            ));
            true
        }
        Some((step, e)) => {
            err.push_str(&format!(
                "\nApply stopped after {} of {} steps.\nFailed: {step}\n  {e}\nThe steps above are applied and recorded. Run `modelops plan` to see what remains; the next apply continues from there.\n",
                report.applied.len(),
                report.total
            ));
            false
        }
    };
    ApplyWords { out, err, ok }
}

/// That the state changed since the plan (`saved`: a saved plan; else
/// while a fresh apply waited for the lock), and what changed.
pub fn stale_text(changes: &[String], saved: bool) -> String {
    let mut out = if saved {
        "Saved plan is stale: the state changed after the plan was made, so it can no longer be applied.\n"
    } else {
        "The state changed while this apply waited for the lock; nothing was applied.\n"
    }
    .to_string();
    for line in changes {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("Run `modelops plan` again.\n");
    out
}
