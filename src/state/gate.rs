//! A gate's verdict on one check of one promotion: plain data that the
//! planner produces and the plan, the registries' rejection records and the
//! renderers carry.

use serde::{Deserialize, Serialize};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GateStatus {
    /// The check holds.
    Pass,
    /// The check does not hold, or could not be measured: the move is refused.
    Fail,
    /// The check does not apply to this move (see `reason`).
    Skip,
}

impl GateStatus {
    /// `PASS`, `FAIL` or `SKIP`, as tables show it.
    pub fn label(self) -> &'static str {
        match self {
            GateStatus::Pass => "PASS",
            GateStatus::Fail => "FAIL",
            GateStatus::Skip => "SKIP",
        }
    }
}

/// One check of one promotion: its verdict, what was measured, against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// Check name, such as `metric.test_accuracy` or `fairness.gender`.
    pub check: String,
    /// The verdict.
    pub status: GateStatus,
    /// Measured value, in words.
    pub value: String,
    /// The threshold, in words.
    pub threshold: String,
    /// Where the value came from: `manifest`, `run <id>`, `benchmark`, `registry`, ...
    pub source: String,
    /// Why it failed or was skipped, when the value alone does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl GateResult {
    /// Whether the check blocks the move.
    pub fn failed(&self) -> bool {
        self.status == GateStatus::Fail
    }
}

/// Whether any result blocks the move.
pub fn any_failed(results: &[GateResult]) -> bool {
    results.iter().any(GateResult::failed)
}

/// The failed checks in one line, for a rejection's reason.
pub fn failure_summary(results: &[GateResult]) -> String {
    results
        .iter()
        .filter(|g| g.failed())
        .map(|g| match &g.reason {
            Some(r) => format!("{}: {} ({r})", g.check, g.value),
            None => format!("{}: {} (needs {})", g.check, g.value, g.threshold),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
