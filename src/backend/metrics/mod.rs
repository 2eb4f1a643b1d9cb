//! Metrics providers: what a version served, measured, for rollout analysis
//! and monitoring. `file` reads observations from a YAML/JSON file;
//! `prometheus` asks a Prometheus server's HTTP API.

pub mod deadline;
pub mod file;
pub mod prometheus;

pub use crate::state::metrics::{MetricQuery, Signal};

/// A provider could not answer.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The source could not be reached or read (connection refused, HTTP
    /// error, unreadable file), in words without credentials.
    #[error("{0}")]
    Unavailable(String),
    /// The source answered something that is not a number series.
    #[error("{0}")]
    Malformed(String),
}

/// A source of measurements.
pub trait MetricsProvider {
    /// The provider in words, for messages (`prometheus at http://…`).
    fn describe(&self) -> String;
    /// The value of `q`'s signal over its window: `Ok(None)` when the source
    /// has no data for it (inconclusive for an analysis, never a pass; an
    /// `Err` is a provider error, which counts towards the error limit).
    fn query(&mut self, q: &MetricQuery) -> Result<Option<f64>, MetricsError>;
    /// The answers to independent questions, in their order (a provider
    /// that can ask them concurrently does).
    fn query_all(&mut self, questions: &[MetricQuery]) -> Vec<Result<Option<f64>, MetricsError>> {
        questions.iter().map(|q| self.query(q)).collect()
    }
}
