//! The registry seam: what any model registry (embedded, MLflow) must do for
//! planning and applying. A registry reads ([`Registry`]) and performs plain
//! writes ([`RegistryOps`]); what a plan step means, in those writes, is
//! decided once by the applier (`crate::apply::step`), which this layer does
//! not know.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{Stage, VersionId};
use crate::state::sign_off::SignOffRecord;
use crate::state::{
    ActualState, Event, LoggedSignature, Rejection, RolloutRecord, VersionMetadata,
};

/// Who and what an applied step is recorded against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyContext {
    /// When the apply runs.
    pub now: Timestamp,
    /// Git commit the desired state came from, when known.
    pub commit: Option<String>,
    /// Who runs it.
    pub actor: String,
    /// The sign-off of each move into Production, by (model, version):
    /// who approved it on GitHub, or the operator's override. Recorded with
    /// the move.
    pub sign_offs: BTreeMap<(String, VersionId), SignOffRecord>,
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

/// The audit record of one applied step, as the applier words it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The event: model, version, action, stages, summary, changes. The
    /// registry stamps its sequence number, time, commit and actor.
    pub event: Event,
    /// The step in one line, its action first and the stage it enters (if
    /// any) last: `transition_stage Staging -> Production`. For a registry
    /// that keeps events as tags and reads them back from this line.
    pub line: String,
}

/// The plain writes a registry performs. Which of them a plan step makes, in
/// which order, and what it records, is decided once by the applier; a
/// registry implements only these. Each fails with
/// [`BackendError::Conflict`] when the state it meets does not allow it.
pub trait RegistryOps {
    /// Registers `model`, without versions.
    fn register_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError>;
    /// Sets a registered model's owner and description.
    fn update_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError>;
    /// Registers `version` of `model` directly at `stage`, with `metadata`,
    /// as of `at`.
    fn register_version(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        at: jiff::Timestamp,
    ) -> Result<(), BackendError>;
    /// Replaces a registered version's metadata; its stage stays.
    fn update_version(
        &mut self,
        model: &str,
        version: &VersionId,
        metadata: &VersionMetadata,
    ) -> Result<(), BackendError>;
    /// Refuses a step planned while `version` was at `stage` when it no
    /// longer is (the state changed underneath). The default trusts the plan:
    /// for a registry that cannot tell without another request.
    fn expect_stage(
        &mut self,
        _model: &str,
        _version: &VersionId,
        _stage: Stage,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    /// Moves `version` from stage `from` to `to`.
    fn set_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        from: Stage,
        to: Stage,
    ) -> Result<(), BackendError>;
    /// Marks `version` Rejected, replacing any earlier rejection.
    fn set_rejection(
        &mut self,
        model: &str,
        version: &VersionId,
        rejection: &Rejection,
    ) -> Result<(), BackendError>;
    /// Clears `version`'s rejection; nothing to do when it has none.
    fn clear_rejection(&mut self, model: &str, version: &VersionId) -> Result<(), BackendError>;
    /// Keeps `model`'s rollout progress, replacing the record before.
    fn record_rollout(&mut self, model: &str, record: &RolloutRecord) -> Result<(), BackendError>;
    /// Records the audit event of an applied step, with `ctx`'s time,
    /// commit and actor. A registry may keep only the events it has a place
    /// for (MLflow keeps them as tags on versions).
    fn record_event(&mut self, record: StepRecord, ctx: &ApplyContext) -> Result<(), BackendError>;
    /// Keeps who signed off `version`'s move into Production on GitHub, as
    /// one line (`alice (1a2b3c4) on PR #7`), replacing the one before:
    /// MLflow's version tag `modelops.approvers`, the embedded store's
    /// `signed_off_by`. The default keeps it only in the event.
    fn record_sign_off(
        &mut self,
        _model: &str,
        _version: &VersionId,
        _approvers: &str,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    /// Registers `version` directly at `stage`, marked with `rejection` when
    /// given, and records `records`, the events of the steps this stands
    /// for, in order. The default is [`RegistryOps::register_version`],
    /// [`RegistryOps::set_rejection`] and then [`RegistryOps::record_event`]
    /// of each. A registry that can carry the rejection and the events in
    /// the registration itself (MLflow: as tags of `model-versions/create`)
    /// does it in one write.
    #[allow(clippy::too_many_arguments)]
    fn register_version_recorded(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        rejection: Option<&Rejection>,
        records: Vec<StepRecord>,
        ctx: &ApplyContext,
    ) -> Result<(), BackendError> {
        self.register_version(model, version, stage, metadata, ctx.now)?;
        if let Some(r) = rejection {
            self.set_rejection(model, version, r)?;
        }
        for record in records {
            self.record_event(record, ctx)?;
        }
        Ok(())
    }
    /// Whether the applier may register a new version directly at the
    /// stage a later step of the same apply moves it to from Development,
    /// or with the rejection a later step gives it there (both steps'
    /// events recorded): for a registry where that saves requests (MLflow).
    /// The default keeps every step apart.
    fn registers_where_moved(&self) -> bool {
        false
    }
    /// Ends `model`'s steps of this run, also after a failed one: a
    /// registry that keeps a write to once per model (MLflow's event-chain
    /// head) sends it here. The default has nothing to send.
    fn end_model(&mut self, _model: &str) -> Result<(), BackendError> {
        Ok(())
    }
}

/// A model registry: what it reads, how it makes writes durable, and its
/// lock. Its writes are [`RegistryOps`].
pub trait Registry: RegistryOps {
    /// Where it is, for messages (never with credentials).
    fn describe(&self) -> String;
    /// Reads the actual state.
    fn observe(&mut self) -> Result<ActualState, BackendError>;
    /// Writers that may work at once, one model each, at most `models` of
    /// them. A registry whose writes are independent requests (MLflow)
    /// returns several and the applier writes that many models at once. The
    /// default, none: models are written one after another through the
    /// registry itself.
    fn writers(&self, _models: usize) -> Vec<Box<dyn RegistryOps + Send + '_>> {
        Vec::new()
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

    /// Reads ahead, side by side, the signatures [`Registry::logged_signature`]
    /// will be asked for, `(source, run_id)` each, so that asking one by one
    /// then waits on nothing. A registry without a network (the default)
    /// does nothing.
    fn read_signatures_ahead(&mut self, _sources: &[(String, Option<String>)]) {}
}
