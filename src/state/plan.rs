//! The `Plan`: ordered steps, changes made outside git, and errors — the value rendering and
//! applying consume. Its JSON form is a stable, documented interface.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::manifest::policy::PolicySpec;
use crate::manifest::{Diagnostic, Stage, VersionId};
use crate::state::{Analysis, FieldChange, RolloutRecord, TrafficRecord, VersionMetadata};

use super::gate::GateResult;

/// Major.minor of the plan's JSON shape. A minor bump only adds fields;
/// readers must ignore fields they do not know and reject another major.
pub const FORMAT_VERSION: &str = "1.6";

/// The result of comparing desired and actual state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// See [`FORMAT_VERSION`].
    pub format_version: String,
    /// When the plan was computed.
    pub created_at: Timestamp,
    /// What the plan was computed from.
    pub source: PlanSource,
    /// Fingerprint of the actual state the plan was computed from; a saved
    /// plan is applied only while the state still has it.
    pub state_fingerprint: String,
    /// Stage and metadata digest of every registered version at plan time,
    /// so a stale saved plan can say what changed.
    pub observed: BTreeMap<String, BTreeMap<String, String>>,
    /// Changes made outside git since modelops last applied (`drift` in
    /// JSON and in what users read).
    #[serde(rename = "drift")]
    pub outside_changes: Vec<OutsideChange>,
    /// Models and versions in the registry that git does not declare; left alone.
    pub unmanaged: Vec<String>,
    /// What could not be checked, in words (such as a training run the
    /// tracking server does not know). They do not block apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Versions validation gates rejected earlier whose manifest entry and
    /// policy have not changed since: git still asks for the move, and it is
    /// not tried again until they do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<HeldRejection>,
    /// Models a manual rollback holds: nothing is planned for them while
    /// git still asks for what was rolled back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_by_rollback: Vec<RollbackHold>,
    /// Versions whose stage in git is not their stage in the registry, and
    /// that this plan leaves so: git has to change to agree (see
    /// [`Diverged`]). Never empty while git and the registry disagree and
    /// the plan has no step that makes them agree.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diverged: Vec<Diverged>,
    /// The policies the plan's gated moves were evaluated with, so a saved
    /// plan's gates can be evaluated again at apply time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, PolicySpec>,
    /// Trusted settings (connections, commands, files read) this pull
    /// request changes: the plan used the base revision's, and these take
    /// effect after merge (`plan --base` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_merge: Vec<crate::manifest::trusted::SettingChange>,
    /// Per-model changes, in model-name order.
    pub models: Vec<ModelPlan>,
    /// Changes git asks for that modelops refuses (they block apply).
    pub errors: Vec<Diagnostic>,
    /// Counts of steps.
    pub summary: Summary,
}

/// Where the desired state came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanSource {
    /// Repository directory as given.
    pub repo: String,
    /// `--rev`, when the files came from a git revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Commit id the files came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `--base`, when the plan is limited to models changed since it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The models named on the command line, when the plan is limited to
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// `--pr`, the pull request whose reviews sign off its moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
}

/// A change made outside git.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutsideChange {
    /// Model.
    pub model: String,
    /// Version, when the change is on a version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionId>,
    /// Field that changed, before = as modelops applied it, after = as it is now.
    pub change: FieldChange,
}

/// A model a manual rollback holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackHold {
    /// Model.
    pub model: String,
    /// When it was rolled back.
    pub at: Timestamp,
    /// Why, as given to `modelops rollback --reason`.
    pub reason: String,
    /// Who rolled it back.
    pub actor: String,
    /// The version taken out of service.
    pub from: Option<VersionId>,
    /// The stage git should declare for `from`: Archived when it was in
    /// Production, Staging when a rollout of it was stopped.
    pub from_becomes: Stage,
    /// The version put back.
    pub to: VersionId,
    /// The model's manifest file.
    pub file: String,
    /// The unified diff that makes git agree with the rollback, when the
    /// manifest could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// A version whose stage git declares differs from the stage it has, and
/// that applying this plan does not change: a rejection, a rollback or a
/// failed rollout keeps it where it is until git changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diverged {
    /// Model.
    pub model: String,
    /// Version.
    pub version: VersionId,
    /// The stage git declares.
    pub declared: Stage,
    /// The stage the registry holds, and still holds after this plan.
    pub actual: Stage,
    /// What keeps it there.
    pub cause: DivergedCause,
    /// Why, in words.
    pub reason: String,
    /// Since when (the rejection, the rollback, the failed analysis), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// The model's manifest file.
    pub file: String,
    /// The unified diff of `file` that makes git agree with every diverged
    /// version of the model (the same on each of them), when the manifest
    /// could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// What keeps a [`Diverged`] version from the stage git declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergedCause {
    /// Validation gates refused the move (now, or earlier and held).
    Rejected,
    /// A rollout of the version failed its analysis.
    FailedRollout,
    /// A manual rollback holds the model.
    Rollback,
    /// A rollout promoted a version itself (`auto_promote`), ahead of git.
    AutoPromoted,
    /// No step of the plan moves it, for none of the reasons above (a move
    /// the plan refuses with an error is not listed: the error says what
    /// to fix).
    Refused,
}

impl DivergedCause {
    /// As the plan shows it.
    pub fn label(self) -> &'static str {
        match self {
            DivergedCause::Rejected => "rejected",
            DivergedCause::FailedRollout => "failed rollout",
            DivergedCause::Rollback => "held by a rollback",
            DivergedCause::AutoPromoted => "promoted by its rollout",
            DivergedCause::Refused => "not moved",
        }
    }
}

/// A version held back by an earlier rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldRejection {
    /// Model.
    pub model: String,
    /// Version.
    pub version: VersionId,
    /// The stage git asks for.
    pub wanted: Stage,
    /// When the gates rejected it.
    pub at: Timestamp,
    /// The failed checks.
    pub reason: String,
}

/// What happens to one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelPlan {
    /// Model name.
    pub model: String,
    /// `create`, `update` or `no-op`.
    pub action: ModelAction,
    /// Steps in the order they apply.
    pub steps: Vec<PlanStep>,
    /// Unified diff of the model's manifests against `--base`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_diff: Option<String>,
    /// What the rollout of this model does on this apply, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutNote>,
}

/// A rollout's decision for this apply, in words and figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutNote {
    /// `canary`, `shadow`, `ab_test` or `direct`.
    pub strategy: String,
    /// `start`, `advance`, `hold`, `complete`, `fail`, `promote`, `route`, `done`.
    pub action: String,
    /// One line: what happens and why, such as `advance fraud-detector
    /// canary 5% → 25%: 1h elapsed; error_rate_increase 0.1pp ≤ 0.5pp over 12,400 requests`.
    pub summary: String,
    /// The analysis behind the decision, when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// When the next decision is due (a stage's end), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<Timestamp>,
}

/// The overall action on a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelAction {
    /// The model is new to the registry.
    Create,
    /// The model exists and changes.
    Update,
    /// Nothing to do.
    NoOp,
}

/// One change, carrying everything needed to apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlanStep {
    /// Create a registered model.
    RegisterModel {
        /// Model.
        model: String,
        /// Owner.
        owner: String,
        /// Description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// Change a model's owner or description.
    UpdateModel {
        /// Model.
        model: String,
        /// Owner after.
        owner: String,
        /// Description after.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// Field-level changes.
        changes: Vec<FieldChange>,
    },
    /// Register a version in the given stage.
    RegisterVersion {
        /// Model.
        model: String,
        /// Version.
        version: VersionId,
        /// Stage it is registered in: Development, or Archived for history.
        stage: Stage,
        /// Its metadata.
        metadata: VersionMetadata,
    },
    /// Change a version's metadata.
    UpdateVersion {
        /// Model.
        model: String,
        /// Version.
        version: VersionId,
        /// Metadata after.
        metadata: VersionMetadata,
        /// Field-level changes.
        changes: Vec<FieldChange>,
    },
    /// Move a version between stages.
    TransitionStage {
        /// Model.
        model: String,
        /// Version.
        version: VersionId,
        /// Stage before.
        from: Stage,
        /// Stage after.
        to: Stage,
        /// Why, in words.
        reason: String,
        /// Validation gates evaluated for this move (all passed or skipped).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        gates: Vec<GateResult>,
        /// The policy the gates come from, for a gated move.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        policy: Option<String>,
    },
    /// Route a model's traffic on its serving target.
    SetTraffic {
        /// Model.
        model: String,
        /// Deployment (names the nginx fragment).
        deployment: String,
        /// Routing before, as observed (absent: not routed yet).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<TrafficRecord>,
        /// Routing after; `target` names the serving target.
        traffic: TrafficRecord,
        /// Why, in words.
        reason: String,
    },
    /// Remove a route no deployment owns any more (its deployment file was
    /// removed): the target stops routing the model.
    RemoveRoute {
        /// Model.
        model: String,
        /// The routing removed, as observed; `target` names the target.
        before: TrafficRecord,
        /// Why, in words.
        reason: String,
    },
    /// Record a rollout's progress in the actual state.
    RecordRollout {
        /// Model.
        model: String,
        /// The record after this apply.
        record: RolloutRecord,
        /// What changed, in words.
        summary: String,
    },
    /// Record that `modelops monitor` acted on a breach (or a schedule), so
    /// the same breach in the same window is not acted on twice.
    RecordAction {
        /// Model.
        model: String,
        /// The version monitored.
        version: VersionId,
        /// `model|version|signal|window start`: what makes the action unique.
        key: String,
        /// What was done, in words.
        summary: String,
    },
    /// Record a rollback drill (`modelops rollback --drill`): an audit event
    /// only; stages, rollout records and holds stay as they are.
    RecordDrill {
        /// Model.
        model: String,
        /// What was drilled, and how it went.
        drill: super::drill::DrillRecord,
    },
    /// Mark a version Rejected: validation gates refuse its move. The stage
    /// stays as it is, and the move is not tried again until the version's
    /// manifest entry or its policy changes.
    RejectVersion {
        /// Model.
        model: String,
        /// Version.
        version: VersionId,
        /// Its stage, which stays.
        from: Stage,
        /// The stage the gates refuse.
        to: Stage,
        /// The policy the gates come from.
        policy: String,
        /// Every check evaluated, at least one failed.
        gates: Vec<GateResult>,
        /// [`crate::reconcile::gates::rejection_key`] of what was refused.
        key: String,
    },
}

impl PlanStep {
    /// The model the step changes.
    pub fn model(&self) -> &str {
        match self {
            PlanStep::RegisterModel { model, .. }
            | PlanStep::UpdateModel { model, .. }
            | PlanStep::RegisterVersion { model, .. }
            | PlanStep::UpdateVersion { model, .. }
            | PlanStep::TransitionStage { model, .. }
            | PlanStep::SetTraffic { model, .. }
            | PlanStep::RemoveRoute { model, .. }
            | PlanStep::RecordRollout { model, .. }
            | PlanStep::RecordAction { model, .. }
            | PlanStep::RecordDrill { model, .. }
            | PlanStep::RejectVersion { model, .. } => model,
        }
    }

    /// Whether a serving target, not the registry, applies the step.
    pub fn is_routing(&self) -> bool {
        matches!(
            self,
            PlanStep::SetTraffic { .. } | PlanStep::RemoveRoute { .. }
        )
    }

    /// Which summary bucket the step counts in.
    pub fn kind(&self) -> StepKind {
        match self {
            PlanStep::RegisterModel { .. } | PlanStep::RegisterVersion { .. } => StepKind::Add,
            PlanStep::RejectVersion { .. } => StepKind::Reject,
            PlanStep::TransitionStage {
                to: Stage::Archived,
                ..
            } => StepKind::Archive,
            _ => StepKind::Change,
        }
    }
}

/// Summary bucket of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Registrations.
    Add,
    /// Updates and promotions.
    Change,
    /// Moves to Archived.
    Archive,
    /// Versions marked Rejected by gates.
    Reject,
}

/// Counts of steps by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Registrations.
    pub add: usize,
    /// Updates and promotions.
    pub change: usize,
    /// Moves to Archived.
    pub archive: usize,
    /// Versions validation gates reject (their moves are not applied).
    #[serde(default)]
    pub reject: usize,
}

impl Summary {
    /// Counts the steps of every model plan.
    pub fn of(models: &[ModelPlan]) -> Summary {
        let mut s = Summary::default();
        for step in models.iter().flat_map(|m| &m.steps) {
            match step.kind() {
                StepKind::Add => s.add += 1,
                StepKind::Change => s.change += 1,
                StepKind::Archive => s.archive += 1,
                StepKind::Reject => s.reject += 1,
            }
        }
        s
    }

    /// Whether there is anything to apply.
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.archive + self.reject == 0
    }
}

impl Plan {
    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        !self.summary.is_empty()
    }

    /// Whether git and the registry disagree on a version this plan does not
    /// change (see [`Plan::diverged`]).
    pub fn is_diverged(&self) -> bool {
        !self.diverged.is_empty()
    }

    /// Every step, in apply order.
    pub fn steps(&self) -> impl Iterator<Item = &PlanStep> {
        self.models.iter().flat_map(|m| &m.steps)
    }
}
