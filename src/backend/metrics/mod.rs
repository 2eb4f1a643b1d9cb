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
    Unavailable(Unavailable),
    /// The source answered something that is not a number series.
    #[error("{0}")]
    Malformed(String),
}

/// Why a source could not answer: a message without credentials, and the
/// kind of failure, which is what callers decide by (never the words). It
/// reads as its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    kind: Unanswered,
    message: String,
    /// Where the cause starts in `message`, after the source and the question.
    cause_from: usize,
}

/// The kinds of [`Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// The source could not be read, or answered with an error (an HTTP
    /// error page, a missing file).
    Answer,
    /// The source refused this question (a query it cannot run): the
    /// question belongs in the message.
    Query,
    /// Nothing answered: no connection, or no answer in time. Asking the
    /// same source again in this run would only wait again.
    Unreachable,
}

impl Unavailable {
    /// A failure of `kind`, in words.
    pub fn new(kind: Unanswered, message: impl Into<String>) -> Unavailable {
        Unavailable {
            kind,
            message: message.into(),
            cause_from: 0,
        }
    }

    /// Nothing answered `at` (the source and the question, or empty):
    /// `cause` is what happened.
    pub fn unreachable(at: &str, cause: &str) -> Unavailable {
        let head = if at.is_empty() {
            String::new()
        } else {
            format!("{at}: ")
        };
        Unavailable {
            kind: Unanswered::Unreachable,
            cause_from: head.len(),
            message: format!("{head}{cause}"),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> Unanswered {
        self.kind
    }

    /// The cause alone, without the source and the question
    /// (`connection failed: connection refused`).
    pub fn cause(&self) -> &str {
        &self.message[self.cause_from..]
    }
}

impl std::ops::Deref for Unavailable {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl MetricsError {
    /// [`Unanswered::Answer`] with `message`.
    pub fn unavailable(message: impl Into<String>) -> MetricsError {
        MetricsError::Unavailable(Unavailable::new(Unanswered::Answer, message))
    }

    /// The error with `at` (the source and the question) before its cause,
    /// and `clean` applied to the cause, which came from outside. An
    /// unreachable source's earlier `at` is replaced.
    pub fn at(self, at: &str, clean: impl Fn(&str) -> String) -> MetricsError {
        match self {
            MetricsError::Unavailable(u) => {
                let cause = clean(u.cause());
                let kept = match u.kind {
                    Unanswered::Unreachable => "",
                    _ => &u.message[..u.cause_from],
                };
                let head = format!("{at}: {kept}");
                MetricsError::Unavailable(Unavailable {
                    kind: u.kind,
                    cause_from: head.len(),
                    message: format!("{head}{cause}"),
                })
            }
            MetricsError::Malformed(m) => MetricsError::Malformed(format!("{at}: {}", clean(&m))),
        }
    }
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
