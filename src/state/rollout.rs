//! A rollout's progress as the actual state keeps it: which version, which
//! stage since when, the stages it started with, and the last analysis. Any
//! run on any machine continues from this record alone.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::manifest::VersionId;

/// Progress of one rollout of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutRecord {
    /// `canary`, `shadow`, `ab_test` or `direct`.
    pub strategy: String,
    /// The version being rolled out (canary, shadow, A/B treatment).
    pub version: VersionId,
    /// The stable version it is judged against and replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<VersionId>,
    /// Index of the current stage in `stages`.
    pub step: usize,
    /// When the current stage started.
    pub step_started_at: Timestamp,
    /// `Progressing`, `Succeeded`, `Failed` or `RolledBack`.
    pub phase: String,
    /// The deployment running it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deployment: String,
    /// When the rollout started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// The stages as the deployment declared them when the rollout started;
    /// a later edit of the deployment does not change a running rollout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<RolloutStage>,
    /// Analyses in a row whose metrics could not be read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_errors: u32,
    /// The last analysis that was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_analysis: Option<Analysis>,
    /// The outcome of a shadow comparison or an A/B test, in words and figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Whether modelops promoted the version itself (`auto_promote`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promoted: bool,
}

impl RolloutRecord {
    /// The text field `key` of the recorded result (a rollback's `actor` or
    /// `reason`), or empty.
    pub fn result_text(&self, key: &str) -> String {
        self.result
            .as_ref()
            .and_then(|v| v[key].as_str())
            .unwrap_or("")
            .to_string()
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One stage of a rollout: its traffic share and how long it is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStage {
    /// Percent of live traffic to the new version (for a shadow: mirrored).
    pub traffic_percent: u8,
    /// How long the stage lasts, in seconds.
    pub duration_secs: u64,
}

/// The verdict of one analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every condition holds.
    Pass,
    /// A condition is breached: the rollout fails.
    Fail,
    /// Too few requests to judge: the stage holds, nothing is promoted.
    Inconclusive,
    /// Metrics could not be read: counts towards the error limit.
    Error,
}

impl Verdict {
    /// As tables show it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "ERROR",
        }
    }
}

/// One analysis of a rollout: what was measured against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// When it ran (the end of its window).
    pub at: Timestamp,
    /// The start of its window.
    pub since: Timestamp,
    /// The verdict.
    pub verdict: Verdict,
    /// Requests each version served in the window, by version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, f64>,
    /// Each condition checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<AnalysisCheck>,
    /// The verdict in words (what was missing, what was breached).
    pub message: String,
    /// Signals whose provider answered with nothing in the window
    /// (`requests of version 3`): an inconclusive analysis that lists any
    /// found no data, and the stage's `no_data_timeout` applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_data: Vec<String>,
}

/// One condition of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisCheck {
    /// The condition, such as `error_rate_increase`.
    pub name: String,
    /// Measured value, in `unit`.
    pub value: f64,
    /// The limit, in `unit`.
    pub threshold: f64,
    /// `pp` (percentage points), `ms`, or empty.
    pub unit: String,
    /// Whether the value is within the limit.
    pub passed: bool,
}

impl AnalysisCheck {
    /// `error_rate_increase 0.1pp ≤ 0.5pp`.
    pub fn describe(&self) -> String {
        let op = if self.passed { "≤" } else { ">" };
        format!(
            "{} {}{} {op} {}{}",
            self.name,
            super::format::num_short(self.value),
            self.unit,
            super::format::num_short(self.threshold),
            self.unit
        )
    }
}
