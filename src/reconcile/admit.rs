//! Admission: whether a version may enter Staging or Production, decided in
//! one place for every path that gets it there — a direct move, a canary
//! starting or completing, a promotion after a shadow comparison or an A/B
//! test (by `auto_promote` or because git asks), a restore from Archived and
//! a revert of a change made outside git. Every one of them evaluates the
//! model's full policy here; a passed rollout is one gate among the others
//! (`evidence.rollout`) and never replaces them. Only `modelops rollback`,
//! the documented emergency path, skips this.

use super::gates::rollback::with_rollback_evidence;
use super::gates::{self, Candidate, Evidence, GateInputs, GateResult};
use super::{Observations, metadata_of};
use crate::manifest::policy::PolicySpec;
use crate::manifest::{DesiredModel, Stage, VersionId};
use crate::state::plan::{HeldRejection, PlanStep};
use crate::state::{ActualState, VersionMetadata};

/// What one model's gated moves are judged with.
pub struct Admitter<'a> {
    /// The model as git declares it (the candidates' metadata come from it).
    pub model: &'a DesiredModel,
    /// Its policy's name, recorded with every decision.
    pub policy_name: &'a str,
    /// Its policy.
    pub policy: &'a PolicySpec,
    /// The Production baseline (see [`gates::baseline_of`]).
    pub baseline: Option<(&'a VersionId, &'a VersionMetadata)>,
    /// Registry and rollout state.
    pub actual: &'a ActualState,
    /// Training runs, logged signatures, benchmarks and rollback evidence.
    pub observations: &'a Observations,
    /// Now (how old a rollback drill is).
    pub now: jiff::Timestamp,
}

/// A gated move.
#[derive(Debug, Clone, Copy)]
pub struct Move<'a> {
    /// The version.
    pub version: &'a VersionId,
    /// Its stage now.
    pub from: Stage,
    /// The stage it is to enter.
    pub to: Stage,
    /// Why, in words (the transition's reason).
    pub reason: &'a str,
    /// Where its rollout evidence comes from.
    pub evidence: Evidence<'a>,
}

/// The decision on one gated move.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The gates pass: the transition, carrying its results and policy (so
    /// that apply evaluates them again under the lock).
    Admitted(PlanStep),
    /// A gate fails: the version is Rejected for that stage.
    Refused(PlanStep),
    /// An earlier rejection of the same metadata under the same policy
    /// stands: nothing is tried until the manifest or the policy changes.
    Held(HeldRejection),
}

impl Admitter<'_> {
    /// The gate results of a move, without deciding anything.
    pub fn evaluate(&self, mv: &Move, metadata: &VersionMetadata) -> Vec<GateResult> {
        gates::evaluate(&GateInputs {
            policy: self.policy,
            candidate: Candidate {
                model: &self.model.name,
                owner: &self.model.owner,
                version: mv.version,
                metadata,
                from: mv.from,
                to: mv.to,
            },
            baseline: self.baseline,
            actual: self.actual,
            run_metrics: &self.observations.run_metrics,
            observed: &self.observations.gates,
            evidence: mv.evidence,
            now: self.now,
        })
    }

    /// Decides a move. The candidate is judged on its metadata as git
    /// declares it; a version git does not declare is refused.
    pub fn decide(&self, mv: &Move) -> Decision {
        let name = &self.model.name;
        let metadata = match self.model.version(mv.version) {
            Some(v) => metadata_of(v),
            None => {
                return Decision::Refused(self.refusal(
                    mv,
                    vec![undeclared(name, mv.version, &self.model.file)],
                    String::new(),
                ));
            }
        };
        let results = self.evaluate(mv, &metadata);
        // A rejection holds while the manifest entry and the policy are the
        // same (the base key: also a failed rollout's) and, under a policy
        // with rollback gates, while those answer as they did.
        let base = gates::rejection_key(&metadata, mv.to, self.policy);
        let key = with_rollback_evidence(base.clone(), &results);
        if let Some(r) = self
            .actual
            .version(name, mv.version)
            .and_then(|x| x.rejected.as_ref())
            .filter(|r| r.key.as_deref().is_some_and(|k| k == base || k == key))
        {
            return Decision::Held(HeldRejection {
                model: name.clone(),
                version: mv.version.clone(),
                wanted: mv.to,
                at: r.at,
                reason: r.reason.clone(),
            });
        }
        if gates::any_failed(&results) {
            return Decision::Refused(self.refusal(mv, results, key));
        }
        Decision::Admitted(PlanStep::TransitionStage {
            model: name.clone(),
            version: mv.version.clone(),
            from: mv.from,
            to: mv.to,
            reason: mv.reason.to_string(),
            gates: results,
            policy: Some(self.policy_name.to_string()),
        })
    }

    fn refusal(&self, mv: &Move, gates: Vec<GateResult>, key: String) -> PlanStep {
        PlanStep::RejectVersion {
            model: self.model.name.clone(),
            version: mv.version.clone(),
            from: mv.from,
            to: mv.to,
            policy: self.policy_name.to_string(),
            gates,
            key,
        }
    }
}

fn undeclared(model: &str, version: &VersionId, file: &str) -> GateResult {
    GateResult {
        check: "version".into(),
        status: gates::GateStatus::Fail,
        value: "not declared".into(),
        threshold: "declared in git".into(),
        source: "manifest".into(),
        reason: Some(format!(
            "{model} version {version} is not declared in {file}, so its gates cannot be evaluated"
        )),
    }
}
