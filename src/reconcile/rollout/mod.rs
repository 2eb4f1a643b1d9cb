//! Rollouts: how a new Production version reaches its traffic, one decision
//! per reconcile. The state lives in the actual state ([`RolloutRecord`]), so
//! any run on any machine continues a rollout, and time is a parameter.
//!
//! - canary: stage by stage; a stage advances when its duration has passed
//!   and its analysis passes; the last stage completing moves the registry.
//! - shadow: the primary serves, the candidate gets mirrored requests; after
//!   the comparison's duration the result is recorded, and the candidate is
//!   promoted when it passed and auto-promotion (or git) asks for it.
//! - ab_test: control and treatment split; guardrails hold throughout; after
//!   the duration and the sample size, a two-proportion z-test decides.
//! - direct: traffic follows the registry's Production version at once.
//!
//! A failed analysis sends all traffic to the stable version at once, marks
//! the rollout Failed and the version Rejected (not retried until its
//! manifest changes). Too few requests holds; unreadable metrics hold until
//! the deployment's error limit, then fail. Nothing inconclusive promotes.

mod ab_test;
mod analysis;
mod canary;
mod lifecycle;
mod shadow;
pub mod stats;

use std::collections::BTreeMap;

use jiff::Timestamp;

pub use analysis::{Lookup, Metrics, thousands};

use super::admit::{Admitter, Decision, Move};
use super::gates::{Evidence, GateResult, GateStatus, failure_summary, rejection_key};
use crate::manifest::policy::PolicySpec;
use crate::manifest::{DesiredDeployment, DesiredModel, Stage, Strategy, VersionId};
use crate::state::plan::{PlanStep, RolloutNote};
use crate::state::{Analysis, RegisteredModel, RolloutRecord, TrafficRecord, VersionMetadata};

/// Phase of a running rollout.
pub const PROGRESSING: &str = "Progressing";
/// Phase of a rollout that completed (or whose comparison passed).
pub const SUCCEEDED: &str = "Succeeded";
/// Phase of a rollout whose analysis failed.
pub const FAILED: &str = "Failed";
/// Phase of a rollout stopped because git no longer asks for it.
pub const ABORTED: &str = "Aborted";

/// Everything one model's rollout decision reads.
pub struct RolloutInputs<'a> {
    /// The deployment.
    pub deployment: &'a DesiredDeployment,
    /// The model as git declares it.
    pub model: &'a DesiredModel,
    /// Its policy and the policy's name (rejections record them).
    pub policy: (&'a str, &'a PolicySpec),
    /// The model as the registry holds it before this apply.
    pub registered: Option<&'a RegisteredModel>,
    /// Its routing as the serving target holds it.
    pub serving: Option<&'a TrafficRecord>,
    /// Its rollout record.
    pub record: Option<&'a RolloutRecord>,
    /// The registry's Production version once this plan's registry steps ran.
    pub production_after: Option<VersionId>,
    /// The version git puts in Production that this rollout (rather than a
    /// stage move) takes there; see [`takes_over`].
    pub candidate: Option<&'a VersionId>,
    /// The candidate passed its gates: a rollout of it may start (or go on).
    /// `false` with a candidate: its gates refused it in this plan.
    pub may_start: bool,
    /// Judges the move into Production a passed rollout makes: every path
    /// to Production goes through the model's full policy.
    pub admit: &'a Admitter<'a>,
    /// Versions in Staging and not Rejected once this plan's registry steps
    /// ran: the only ones a shadow or an A/B test starts with.
    pub ready: std::collections::BTreeSet<VersionId>,
    /// Now.
    pub now: Timestamp,
}

/// What one model's rollout does on this apply.
#[derive(Debug, Default)]
pub struct RolloutOutcome {
    /// Steps, in apply order (routing first).
    pub steps: Vec<PlanStep>,
    /// The decision in words.
    pub note: Option<RolloutNote>,
}

/// Whether moving `wanted` into Production is this deployment's rollout
/// rather than a plain stage move: a canary of any version, a shadow or A/B
/// test of its own candidate, when another version is serving.
pub fn takes_over(d: &DesiredDeployment, stable: Option<&VersionId>, wanted: &VersionId) -> bool {
    let Some(stable) = stable else { return false };
    if stable == wanted {
        return false;
    }
    match &d.strategy {
        Strategy::Canary(_) => true,
        Strategy::Shadow(s) => &s.shadow.version == wanted,
        Strategy::AbTest(a) => &a.treatment.version == wanted,
        Strategy::Direct => false,
    }
}

/// The model's rollout decision for this apply.
pub fn decide(inputs: &RolloutInputs, lookup: &mut Lookup) -> RolloutOutcome {
    let mut out = match &inputs.deployment.strategy {
        Strategy::Canary(c) => canary::canary(inputs, c, lookup),
        Strategy::Shadow(s) => shadow::shadow(inputs, s, lookup),
        Strategy::AbTest(a) => ab_test::ab_test(inputs, a, lookup),
        Strategy::Direct => RolloutOutcome::default(),
    };
    // Whatever the strategy left unrouted follows the registry's Production
    // version: stage and traffic move together.
    let mut prod_after = inputs.production_after.clone();
    for s in &out.steps {
        if let PlanStep::TransitionStage {
            version, from, to, ..
        } = s
        {
            if *to == Stage::Production {
                prod_after = Some(version.clone());
            } else if *from == Stage::Production && prod_after.as_ref() == Some(version) {
                prod_after = None;
            }
        }
    }
    if !out
        .steps
        .iter()
        .any(|s| matches!(s, PlanStep::SetTraffic { .. }))
        && out.note.as_ref().is_none_or(|n| n.action != "hold")
        && let Some(prod) = &prod_after
    {
        let keep_mirror = out.note.as_ref().is_some_and(|n| n.action == "observe");
        if !keep_mirror {
            let want = TrafficRecord::all_to(&inputs.deployment.target, prod);
            if let Some(step) = route(inputs, want, format!("version {prod} is Production")) {
                if out.note.is_none() {
                    out.note = Some(note(
                        inputs,
                        "route",
                        format!(
                            "route all {} traffic to version {prod}, the Production version",
                            inputs.model.name
                        ),
                        None,
                        None,
                    ));
                }
                out.steps.insert(0, step);
            }
        }
    }
    out
}

/// A routing step, when the target does not already route so.
fn route(inputs: &RolloutInputs, want: TrafficRecord, reason: String) -> Option<PlanStep> {
    if inputs.serving == Some(&want) {
        return None;
    }
    Some(PlanStep::SetTraffic {
        model: inputs.model.name.clone(),
        deployment: inputs.deployment.name.clone(),
        before: inputs.serving.cloned(),
        traffic: want,
        reason,
    })
}

/// A split between two versions, zero entries left out.
fn split(target: &str, stable: &VersionId, candidate: &VersionId, percent: u8) -> TrafficRecord {
    let mut weights = BTreeMap::new();
    if percent < 100 {
        weights.insert(stable.to_string(), 100 - percent);
    }
    if percent > 0 {
        weights.insert(candidate.to_string(), percent);
    }
    TrafficRecord {
        target: target.to_string(),
        weights,
        mirrors: BTreeMap::new(),
        sticky: None,
    }
}

fn note(
    inputs: &RolloutInputs,
    action: &str,
    summary: String,
    analysis: Option<Analysis>,
    next_at: Option<Timestamp>,
) -> RolloutNote {
    RolloutNote {
        strategy: inputs.deployment.strategy.name().to_string(),
        action: action.to_string(),
        summary,
        analysis,
        next_at,
    }
}

/// The candidate's metadata as git declares it (for a rejection's key).
fn declared_metadata(inputs: &RolloutInputs, version: &VersionId) -> Option<VersionMetadata> {
    inputs.model.version(version).map(super::metadata_of)
}

/// The registry stage of a version before this apply.
fn stage_of(inputs: &RolloutInputs, version: &VersionId) -> Stage {
    inputs
        .registered
        .and_then(|r| r.versions.iter().find(|v| &v.version == version))
        .map_or(Stage::Staging, |v| v.stage)
}

/// The steps of a failed rollout: all traffic to `stable` at once, the record
/// Failed, and the candidate Rejected for Production.
fn fail(
    inputs: &RolloutInputs,
    record: RolloutRecord,
    stable: &VersionId,
    analysis: Analysis,
    headline: String,
) -> RolloutOutcome {
    let candidate = record.version.clone();
    let mut steps = Vec::new();
    let back = TrafficRecord::all_to(&inputs.deployment.target, stable);
    if let Some(s) = route(inputs, back, format!("rollback of version {candidate}")) {
        steps.push(s);
    }
    let gates = analysis_gates(&record.strategy, &analysis);
    steps.push(PlanStep::RecordRollout {
        model: inputs.model.name.clone(),
        record: RolloutRecord {
            phase: FAILED.to_string(),
            last_analysis: Some(analysis.clone()),
            ..record
        },
        summary: format!("{headline}: {}", analysis.message),
    });
    let (policy_name, policy) = inputs.policy;
    steps.push(PlanStep::RejectVersion {
        model: inputs.model.name.clone(),
        version: candidate.clone(),
        from: stage_of(inputs, &candidate),
        to: Stage::Production,
        policy: policy_name.to_string(),
        gates,
        key: declared_metadata(inputs, &candidate)
            .map(|m| rejection_key(&m, Stage::Production, policy))
            .unwrap_or_default(),
    });
    let summary = format!(
        "{headline}: {}; all traffic to version {stable}; version {candidate} Rejected",
        analysis.message
    );
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "fail", summary, Some(analysis), None)),
    }
}

/// An analysis as gate results, the form a rejection records.
fn analysis_gates(strategy: &str, analysis: &Analysis) -> Vec<GateResult> {
    if analysis.checks.is_empty() || analysis.checks.iter().all(|c| c.passed) {
        return vec![GateResult {
            check: format!("{strategy}.analysis"),
            status: GateStatus::Fail,
            value: analysis.verdict.label().to_string(),
            threshold: "a passing analysis".into(),
            source: format!("{strategy} analysis"),
            reason: Some(analysis.message.clone()),
        }];
    }
    analysis
        .checks
        .iter()
        .map(|c| GateResult {
            check: format!("{strategy}.{}", c.name),
            status: if c.passed {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            },
            value: format!("{}{}", super::gates::num_short(c.value), c.unit),
            threshold: format!("≤ {}{}", super::gates::num_short(c.threshold), c.unit),
            source: format!("{strategy} analysis"),
            reason: None,
        })
        .collect()
}

/// The steps that make `candidate` the Production version once its rollout
/// passed: routing, the registry moves, and the record. The move is admitted
/// like any other ([`Admitter::decide`], the rollout being its evidence);
/// when the gates refuse it, the outcome is `Err`: all traffic to `stable`,
/// the result recorded, and the version Rejected (or held by an earlier
/// rejection of the same manifest and policy).
fn promote(
    inputs: &RolloutInputs,
    record: RolloutRecord,
    stable: &VersionId,
    reason: &str,
) -> Result<Vec<PlanStep>, RolloutOutcome> {
    let candidate = record.version.clone();
    let name = &inputs.model.name;
    let from = stage_of(inputs, &candidate);
    let mut transition = None;
    if from != Stage::Production {
        let refused_here = inputs.candidate == Some(&candidate) && !inputs.may_start;
        let decision = if refused_here {
            None
        } else {
            Some(inputs.admit.decide(&Move {
                version: &candidate,
                from,
                to: Stage::Production,
                reason,
                evidence: Evidence::Passes(&record.strategy),
            }))
        };
        match decision {
            Some(Decision::Admitted(step)) => transition = Some(step),
            refused => return Err(refuse(inputs, record, stable, refused)),
        }
    }
    let mut steps = Vec::new();
    let all = TrafficRecord::all_to(&inputs.deployment.target, &candidate);
    if let Some(s) = route(inputs, all, reason.to_string()) {
        steps.push(s);
    }
    steps.extend(transition);
    if stage_of(inputs, stable) == Stage::Production {
        steps.push(PlanStep::TransitionStage {
            model: name.clone(),
            version: stable.clone(),
            from: Stage::Production,
            to: Stage::Archived,
            reason: format!("replaced in Production by version {candidate}"),
            gates: Vec::new(),
            policy: None,
        });
    }
    steps.push(PlanStep::RecordRollout {
        model: name.clone(),
        record: RolloutRecord {
            phase: SUCCEEDED.to_string(),
            ..record
        },
        summary: format!("version {candidate} promoted: {reason}"),
    });
    Ok(steps)
}

/// A passed rollout whose version the gates refuse for Production: traffic
/// back to `stable`, the rollout's result kept (it is evidence, not a
/// promotion), and the version Rejected. `decision` is `None` when this
/// plan's own registry steps already rejected it, and a held rejection adds
/// no new one.
fn refuse(
    inputs: &RolloutInputs,
    record: RolloutRecord,
    stable: &VersionId,
    decision: Option<Decision>,
) -> RolloutOutcome {
    let candidate = record.version.clone();
    let name = &inputs.model.name;
    let mut steps = Vec::new();
    let back = TrafficRecord::all_to(&inputs.deployment.target, stable);
    if let Some(s) = route(
        inputs,
        back,
        format!("version {candidate} is refused Production by its gates"),
    ) {
        steps.push(s);
    }
    let kept = RolloutRecord {
        phase: SUCCEEDED.to_string(),
        promoted: false,
        ..record
    };
    let why = match &decision {
        Some(Decision::Refused(PlanStep::RejectVersion { gates, .. })) => failure_summary(gates),
        Some(Decision::Held(h)) => format!(
            "rejected at {}: {}",
            crate::state::format::at(h.at),
            h.reason
        ),
        _ => "see its gates above".to_string(),
    };
    if inputs.record != Some(&kept) {
        steps.push(PlanStep::RecordRollout {
            model: name.clone(),
            summary: format!(
                "{} of version {candidate} passed; its gates refuse Production",
                kept.strategy
            ),
            record: kept.clone(),
        });
    }
    if let Some(Decision::Refused(step)) = decision {
        steps.push(step);
    }
    let summary = format!(
        "{name}: the {} of version {candidate} passed, but its gates refuse Production ({why}); all traffic stays on version {stable}",
        kept.strategy
    );
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "refuse", summary, kept.last_analysis, None)),
    }
}

/// A record of a rollout starting now.
fn started(
    inputs: &RolloutInputs,
    candidate: &VersionId,
    stable: &VersionId,
    stages: Vec<crate::state::RolloutStage>,
) -> RolloutRecord {
    RolloutRecord {
        strategy: inputs.deployment.strategy.name().to_string(),
        version: candidate.clone(),
        from_version: Some(stable.clone()),
        step: 0,
        step_started_at: inputs.now,
        phase: PROGRESSING.to_string(),
        deployment: inputs.deployment.name.clone(),
        started_at: Some(inputs.now),
        stages,
        consecutive_errors: 0,
        last_analysis: None,
        result: None,
        promoted: false,
    }
}

// Duration formatting lives in `state::format`; re-exported for old callers.
pub use crate::state::format::human;

#[cfg(test)]
mod tests;
