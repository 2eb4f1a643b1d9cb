//! What a metrics question is, as plain data shared by the planner
//! (rollout analysis) and the metrics providers that answer it.

use jiff::Timestamp;

/// A measured signal of one model version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// Requests served in the window (a count).
    Requests,
    /// Requests that failed (5xx or errors) in the window (a count).
    Errors,
    /// 99th-percentile latency over the window, in milliseconds.
    LatencyP99Ms,
    /// Accuracy on labelled requests over the window (a fraction).
    Accuracy,
    /// KL divergence of the version's predictions from the Production
    /// version's over the window.
    PredictionKl,
    /// A business metric measured as a rate over the window (a fraction),
    /// such as `conversion_rate`.
    Rate(String),
}

impl Signal {
    /// The name used in configuration (`queries`) and observation files.
    pub fn name(&self) -> &str {
        match self {
            Signal::Requests => "requests",
            Signal::Errors => "errors",
            Signal::LatencyP99Ms => "latency_p99_ms",
            Signal::Accuracy => "accuracy",
            Signal::PredictionKl => "prediction_kl_divergence",
            Signal::Rate(name) => name,
        }
    }

    /// The signal a name stands for (anything unknown is a business rate).
    pub fn from_name(name: &str) -> Signal {
        match name {
            "requests" => Signal::Requests,
            "errors" => Signal::Errors,
            "latency_p99_ms" | "latency_p99" => Signal::LatencyP99Ms,
            "accuracy" => Signal::Accuracy,
            "prediction_kl_divergence" | "prediction_distribution" => Signal::PredictionKl,
            other => Signal::Rate(other.to_string()),
        }
    }
}

/// One question to a provider: a signal of a version over `(start, end]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricQuery {
    /// Model name.
    pub model: String,
    /// Version, as written in manifests (`3`, `1.4.0`).
    pub version: String,
    /// What is measured.
    pub signal: Signal,
    /// Window start (exclusive).
    pub start: Timestamp,
    /// Window end (inclusive): the time of the question.
    pub end: Timestamp,
}
