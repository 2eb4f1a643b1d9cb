//! Validation gates: what must hold before a version enters Staging or
//! Production, evaluated from a policy, the candidate's metadata, the
//! Production baseline and what was observed (training runs, the registry's
//! logged signature, a latency benchmark). Pure: every input is a value.
//!
//! A check that cannot be measured — a missing metric, an unreadable source —
//! fails with its reason; only checks that do not apply (no baseline on a
//! first promotion, a waiver) are skipped, and say so.

mod approval;
mod checks;
pub mod rollback;
mod signature;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::manifest::policy::{Gates, PolicySpec};
use crate::manifest::{Stage, VersionId};
use crate::state::drill::DrillRecord;
use crate::state::sign_off::SignOffEvidence;
use crate::state::{ActualState, LatencyReport, LoggedSignature, VersionMetadata};

pub use approval::{DECLARED, verified_on_github};
pub use signature::compatibility;

pub use crate::state::gate::{GateResult, GateStatus, any_failed, failure_summary};

/// A (model, version) pair, the key of per-version observations.
pub type VersionKey = (String, VersionId);

/// What gates read besides the desired and actual state, gathered by the
/// commands (which do the I/O) for the versions [`candidates`] names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateObservations {
    /// Each candidate's logged-model signature, read from the registry (only
    /// registries that keep model artifacts fill this in).
    pub logged_signatures: BTreeMap<VersionKey, Result<LoggedSignature, String>>,
    /// Latency benchmarks run for candidates whose policy names one.
    pub benchmarks: BTreeMap<VersionKey, Result<LatencyReport, String>>,
    /// For each version that may enter Production under a policy with
    /// `rollback_ready`: the version a rollback would then go to, and
    /// whether it can serve.
    pub rollback_ready: BTreeMap<VersionKey, rollback::Readiness>,
    /// For each model whose policy names `rollback_drill`: its drills, read
    /// from the audit log (or why they could not be).
    pub drills: BTreeMap<String, Result<Vec<DrillRecord>, String>>,
    /// The versions, among those the rollback gates judge, whose move makes
    /// their model's first Production version: no other version has served
    /// there, so there is no rollback to be ready for or to drill.
    pub first_production: std::collections::BTreeSet<VersionKey>,
    /// What proves the `approval.<who>` sign-offs of owners mapped to
    /// GitHub identities: the pull request's reviews, or why they could not
    /// be read, and an operator's override.
    pub sign_offs: SignOffEvidence,
}

/// The version a gate evaluation is about.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Model name.
    pub model: &'a str,
    /// The model's owner (the `owner` approval).
    pub owner: &'a str,
    /// Version being moved.
    pub version: &'a VersionId,
    /// Its metadata as it will be when the move happens.
    pub metadata: &'a VersionMetadata,
    /// Stage it moves from.
    pub from: Stage,
    /// Stage it moves to.
    pub to: Stage,
}

/// Everything one evaluation reads.
#[derive(Debug, Clone, Copy)]
pub struct GateInputs<'a> {
    /// The model's policy.
    pub policy: &'a PolicySpec,
    /// The version and the move.
    pub candidate: Candidate<'a>,
    /// The version regressions and signature compatibility are measured
    /// against: the one serving in Production, or, on a model's first
    /// deploy, the one this plan puts in Production. See [`baseline_of`].
    pub baseline: Option<(&'a VersionId, &'a VersionMetadata)>,
    /// Registry and rollout state (rollout evidence).
    pub actual: &'a ActualState,
    /// Logged metrics by run id (`None`: the tracking server does not know the run).
    pub run_metrics:
        &'a BTreeMap<String, Option<crate::manifest::sorted_map::SortedMap<String, f64>>>,
    /// Logged signatures and benchmarks.
    pub observed: &'a GateObservations,
    /// Where the rollout evidence of a move into Production comes from.
    pub evidence: Evidence<'a>,
    /// Now: how old a rollback drill is.
    pub now: jiff::Timestamp,
}

/// Where a move's rollout evidence (`evidence.rollout`) comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence<'a> {
    /// The model's rollout record, as the registry holds it.
    Recorded,
    /// The rollout (`canary`, `shadow`, `ab_test`) this move starts: the
    /// version reaches Production only through it, so the check waits for it.
    Starts(&'a str),
    /// The rollout of this version that passes in this very plan (its record
    /// is written by the same apply).
    Passes(&'a str),
}

/// The gates of a move, or `None` when the move is not gated (to Development
/// or Archived).
pub fn gates_for(policy: &PolicySpec, to: Stage) -> Option<&Gates> {
    match to {
        Stage::Staging => Some(&policy.staging),
        Stage::Production => Some(&policy.production),
        Stage::Development | Stage::Archived => None,
    }
}

/// The baseline of a model's gated moves: the version serving in
/// Production, else the version git puts in Production (a first deploy
/// registers both in one apply, and the newer versions are still held to it).
pub fn baseline_of<'a>(
    actual: &'a ActualState,
    model: &str,
    planned: Option<(&'a VersionId, &'a VersionMetadata)>,
) -> Option<(&'a VersionId, &'a VersionMetadata)> {
    actual
        .models
        .get(model)
        .and_then(|m| m.production())
        .map(|p| (&p.version, &p.metadata))
        .or(planned)
}

/// Evaluates every gate of `inputs.candidate`'s move, in a fixed order:
/// metrics (threshold, then regression), fairness, signature, latency,
/// dependencies, then for Production the evidence, approvals and the
/// rollback gates the policy asks for. An empty
/// list means the move is not gated or the policy turns every check off.
pub fn evaluate(inputs: &GateInputs) -> Vec<GateResult> {
    let c = &inputs.candidate;
    let Some(gates) = gates_for(inputs.policy, c.to) else {
        return Vec::new();
    };
    let baseline = inputs.baseline.filter(|(v, _)| *v != c.version);
    let key = (c.model.to_string(), c.version.clone());
    let mut out = Vec::new();
    for (name, gate) in &gates.metrics {
        out.extend(checks::metric(
            name,
            gate,
            c.metadata,
            baseline,
            inputs.run_metrics,
        ));
    }
    if let Some(min) = gates.fairness_min {
        out.extend(checks::fairness(min, c.metadata));
    }
    if let Some(allowance) = gates.fairness_max_regression {
        out.extend(checks::bias_regression(allowance, c.metadata, baseline));
    }
    out.extend(signature::checks(
        &gates.signature,
        c.metadata,
        baseline,
        inputs.observed.logged_signatures.get(&key),
    ));
    if let Some(max) = gates.latency_p99_max_ms {
        out.push(checks::latency(
            max,
            gates.benchmark.is_some(),
            inputs.observed.benchmarks.get(&key),
            c.metadata,
            inputs.run_metrics,
        ));
    }
    if gates.require_pinned_dependencies {
        out.push(checks::pinned(c.metadata));
    }
    if c.to == Stage::Production {
        let requires = &inputs.policy.production_requires;
        if requires.rollout_evidence {
            out.push(checks::evidence(
                requires,
                c,
                inputs.actual.rollouts.get(c.model),
                inputs.evidence,
            ));
        }
        for who in &requires.approvals {
            out.push(approval::approval(who, c, &inputs.observed.sign_offs));
        }
        if requires.rollback_ready {
            out.push(rollback::ready(inputs.observed.rollback_ready.get(&key)));
        }
        if let Some(drill) = &requires.rollback_drill {
            out.push(rollback::drilled(
                c.model,
                drill,
                inputs.observed.drills.get(c.model),
                inputs.observed.first_production.contains(&key),
                inputs.now,
            ));
        }
    }
    out
}

/// Identifies what a rejection refused: the version's metadata, the stage it
/// was to enter and the policy it was held to. A rejected move is tried again
/// only when this changes — when its manifest entry or its policy changes.
pub fn rejection_key(metadata: &VersionMetadata, to: Stage, policy: &PolicySpec) -> String {
    let mut h = Sha256::new();
    h.update(metadata.digest().as_bytes());
    h.update(b"\0");
    h.update(to.as_str().as_bytes());
    h.update(b"\0");
    h.update(serde_json::to_vec(policy).expect("policies serialize"));
    let digest = h.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

// Number formatting lives in `state::format`; re-exported for the callers here.
pub(crate) use crate::state::format::num;

#[cfg(test)]
mod tests;

pub use crate::state::format::num_short;
