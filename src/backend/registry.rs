//! The registry seam: what any model registry (embedded, MLflow) must do for
//! planning and applying.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::manifest::VersionId;
use crate::manifest::sorted_map::SortedMap;

use crate::reconcile::PlanStep;
use crate::state::{ActualState, Event, LoggedSignature};

/// Who and what an applied step is recorded against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyContext {
    /// When the apply runs.
    pub now: Timestamp,
    /// Git commit the desired state came from, when known.
    pub commit: Option<String>,
    /// Who runs it.
    pub actor: String,
}

/// A failure talking to or writing a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The state store could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Which file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state store holds something this version cannot read.
    #[error("{path} is not a modelops state file: {message}")]
    Corrupt {
        /// Which file.
        path: String,
        /// Why.
        message: String,
    },
    /// The event log is not the length the state file counts: the state was
    /// restored from a backup or lost, the log was cut short, or an apply
    /// was interrupted between the two writes. Neither file is touched.
    #[error(
        "{state} counts {counted} bytes of events in {log}, but {log} has {found} bytes; nothing was written to either file.\n\
         {}\n\
         modelops never truncates the log; `modelops history --verify` shows which lines are affected (see docs/audit.md)",
        mismatch_advice(*counted, *found)
    )]
    LogMismatch {
        /// The state file.
        state: String,
        /// The event log.
        log: String,
        /// Bytes the state counts.
        counted: u64,
        /// Bytes the log has.
        found: u64,
    },
    /// State read back breaks a rule the planner relies on (a rollout at a
    /// stage it does not have, a weight over 100): refused, never acted on.
    #[error("{source_name} holds an invalid record: {}", problems.join("; "))]
    InvalidState {
        /// Where it was read: the file, or the server and tag.
        source_name: String,
        /// Each problem, naming the model and field.
        problems: Vec<String>,
    },
    /// Another process holds the lock.
    #[error(
        "the state at {path} is locked by {holder}; waited {waited_secs} s. If that process is gone, run `modelops unlock`"
    )]
    Locked {
        /// The state directory.
        path: String,
        /// Who holds it and since when.
        holder: String,
        /// How long this process waited.
        waited_secs: u64,
    },
    /// A step does not fit the state it meets (the state changed underneath).
    #[error("{0}")]
    Conflict(String),
}

/// How to recover from a [`BackendError::LogMismatch`], by which side is longer.
fn mismatch_advice(counted: u64, found: u64) -> String {
    if found < counted {
        "The log is shorter than the state says: it was cut or replaced. Restore events.jsonl from a backup that is at least as long (the state's count must match its length).".to_string()
    } else {
        format!(
            "The log is longer than the state counts: the state file was restored from a backup or lost, or an apply stopped after writing events but before the state. \
             Put back the state.json that matches the log; if there is none (an interrupted apply), keep a copy of events.jsonl and cut the copy in use to the counted length (head -c {counted})."
        )
    }
}

/// What happened to one model's steps in [`Registry::apply_models`].
#[derive(Debug, Default)]
pub struct ModelOutcome {
    /// How many of its steps were applied, from the first.
    pub applied: usize,
    /// The error of the step after those, if one failed.
    pub failed: Option<BackendError>,
}

/// A model registry.
pub trait Registry {
    /// Where it is, for messages (never with credentials).
    fn describe(&self) -> String;
    /// Reads the actual state.
    fn observe(&mut self) -> Result<ActualState, BackendError>;
    /// Applies one step and records its event. Steps already applied stay
    /// applied when a later one fails.
    fn apply(&mut self, step: &PlanStep, ctx: &ApplyContext) -> Result<(), BackendError>;
    /// Applies the steps of several models, each model's in order, and says
    /// per model how far it got. Models are independent, so a registry may
    /// write several at once; after a failure it starts no new model. The
    /// default applies them one after another.
    fn apply_models(&mut self, models: &[&[PlanStep]], ctx: &ApplyContext) -> Vec<ModelOutcome> {
        let mut outcomes = Vec::new();
        let mut stopped = false;
        for steps in models {
            let mut outcome = ModelOutcome::default();
            if !stopped {
                for step in *steps {
                    match self.apply(step, ctx) {
                        Ok(()) => outcome.applied += 1,
                        Err(e) => {
                            outcome.failed = Some(e);
                            stopped = true;
                            break;
                        }
                    }
                }
            }
            outcomes.push(outcome);
        }
        outcomes
    }
    /// Makes every applied step durable. Called once after the last step, and
    /// after a failed step, so what was done is kept.
    fn commit(&mut self) -> Result<(), BackendError>;
    /// A model's events, oldest first.
    fn events(&mut self, model: &str) -> Result<Vec<Event>, BackendError>;
    /// Takes the apply lock, waiting up to `timeout` for another holder, then
    /// failing with [`BackendError::Locked`] naming it. `command` says what
    /// the holder is doing.
    fn lock(&mut self, timeout: std::time::Duration, command: &str) -> Result<(), BackendError>;
    /// Releases the lock taken by [`Registry::lock`].
    fn unlock(&mut self) -> Result<(), BackendError>;
    /// Whether `version` of `model` still has what it needs to serve:
    /// `Some(why)` when its artifacts are gone. The default, for a
    /// registry that keeps no artifacts (`local`), finds nothing gone.
    fn artifacts_gone(
        &mut self,
        _model: &str,
        _version: &VersionId,
    ) -> Result<Option<String>, BackendError> {
        Ok(None)
    }

    /// The metrics these training runs logged (`None` for an unknown run).
    /// A registry without a tracking server knows no runs and returns an
    /// empty map, so nothing is verified.
    fn run_metrics(
        &mut self,
        _runs: &[String],
    ) -> Result<BTreeMap<String, Option<SortedMap<String, f64>>>, BackendError> {
        Ok(BTreeMap::new())
    }

    /// The signature of the model logged at `source` (trained by `run_id`),
    /// for the gate that compares it with git's. `None`: this registry keeps
    /// no model artifacts, so there is nothing to compare with.
    fn logged_signature(
        &mut self,
        _source: &str,
        _run_id: Option<&str>,
    ) -> Option<Result<LoggedSignature, BackendError>> {
        None
    }
}
