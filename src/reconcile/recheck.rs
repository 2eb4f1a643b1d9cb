//! Gates evaluated again at apply time, immediately before the moves,
//! against the state read under the apply lock: the Production baseline,
//! a run's metrics or a benchmark may have changed since the plan. A saved
//! plan carries its policies, so this needs nothing but the plan and the state.

use super::gates::rollback::with_rollback_evidence;
use super::gates::{self, Candidate, GateInputs, GateResult, GateStatus};
use super::{GateCandidate, Observations, Plan, PlanStep, Summary};
use crate::manifest::{Stage, VersionId};
use crate::state::{ActualState, TrafficRecord, VersionMetadata};

/// A gated move of a plan and what its gates read.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedMove {
    /// Index of the model in `plan.models`.
    pub model_index: usize,
    /// Index of the step in that model's steps.
    pub step_index: usize,
    /// Model.
    pub model: String,
    /// Version.
    pub version: VersionId,
    /// Stage before.
    pub from: Stage,
    /// Stage after.
    pub to: Stage,
    /// Policy name.
    pub policy: String,
    /// The model's owner when the move happens.
    pub owner: String,
    /// The version's metadata when the move happens (`None`: the version is
    /// neither in the plan nor in the registry, so it cannot be checked).
    pub metadata: Option<VersionMetadata>,
    /// The version this plan puts in Production, with its metadata, for a
    /// model with none serving (see [`gates::baseline_of`]).
    pub planned_production: Option<(VersionId, VersionMetadata)>,
    /// The strategy of a rollout of this version that passes in this plan
    /// (its record is written by the same apply): the move's evidence.
    pub passed_rollout: Option<String>,
}

/// A version's metadata as it will be when step `before` of a model's plan
/// runs: the plan's last registration or update of it, else the registry's.
fn metadata_at(
    steps: &[PlanStep],
    before: usize,
    model: &str,
    version: &VersionId,
    actual: &ActualState,
) -> Option<VersionMetadata> {
    steps[..before]
        .iter()
        .rev()
        .find_map(|s| match s {
            PlanStep::RegisterVersion {
                version: v,
                metadata,
                ..
            }
            | PlanStep::UpdateVersion {
                version: v,
                metadata,
                ..
            } if v == version => Some(metadata.clone()),
            _ => None,
        })
        .or_else(|| actual.version(model, version).map(|r| r.metadata.clone()))
}

impl GatedMove {
    /// What the commands observe for it (logged signature, benchmark).
    pub fn candidate(&self, plan: &Plan) -> Option<GateCandidate> {
        let metadata = self.metadata.as_ref()?;
        Some(GateCandidate {
            model: self.model.clone(),
            version: self.version.clone(),
            to: self.to,
            source: metadata.source.clone(),
            run_id: metadata.training_run_id.clone(),
            benchmark: plan
                .policies
                .get(&self.policy)
                .and_then(|p| gates::gates_for(p, self.to))
                .and_then(|g| g.benchmark.clone()),
            signature: metadata.signature.is_some(),
        })
    }
}

impl GatedMove {
    /// What the commands gather for its rollback gates, when it enters
    /// Production under a policy (as the plan carries it) that has them.
    pub fn rollback_candidate(&self, plan: &Plan) -> Option<super::RollbackCandidate> {
        if self.to != Stage::Production {
            return None;
        }
        let policy = plan.policies.get(&self.policy)?;
        super::RollbackCandidate::under(policy, &self.model, &self.version)
    }
}

/// The plan's gated moves (transitions that passed their gates when
/// planned), with the metadata and owner they will meet: the plan's own
/// registrations and updates first, else the registry's.
pub fn gated_moves(plan: &Plan, actual: &ActualState) -> Vec<GatedMove> {
    let mut out = Vec::new();
    for (mi, m) in plan.models.iter().enumerate() {
        for (si, step) in m.steps.iter().enumerate() {
            let PlanStep::TransitionStage {
                version,
                from,
                to,
                policy: Some(policy),
                ..
            } = step
            else {
                continue;
            };
            let metadata = metadata_at(&m.steps, si, &m.model, version, actual);
            let planned_production = m.steps.iter().find_map(|s| match s {
                PlanStep::TransitionStage {
                    version: v,
                    to: Stage::Production,
                    ..
                } if v != version => {
                    let meta = metadata_at(&m.steps, m.steps.len(), &m.model, v, actual)?;
                    Some((v.clone(), meta))
                }
                _ => None,
            });
            let planned_owner = m.steps.iter().find_map(|s| match s {
                PlanStep::RegisterModel { owner, .. } | PlanStep::UpdateModel { owner, .. } => {
                    Some(owner.clone())
                }
                _ => None,
            });
            let passed_rollout = m.steps.iter().find_map(|s| match s {
                PlanStep::RecordRollout { record, .. }
                    if &record.version == version && record.phase == super::rollout::SUCCEEDED =>
                {
                    Some(record.strategy.clone())
                }
                _ => None,
            });
            let owner = planned_owner
                .or_else(|| actual.models.get(&m.model).map(|r| r.owner.clone()))
                .unwrap_or_default();
            out.push(GatedMove {
                model_index: mi,
                step_index: si,
                model: m.model.clone(),
                version: version.clone(),
                from: *from,
                to: *to,
                policy: policy.clone(),
                owner,
                metadata,
                planned_production,
                passed_rollout,
            });
        }
    }
    out
}

fn unknown(check: &str, why: String) -> Vec<GateResult> {
    vec![GateResult {
        check: check.to_string(),
        status: GateStatus::Fail,
        value: "unknown".into(),
        threshold: "known".into(),
        source: "plan".into(),
        reason: Some(why),
    }]
}

/// Evaluates every gated move of `plan` again. A move whose gates now fail
/// becomes a [`PlanStep::RejectVersion`]; when it was a Production
/// promotion, the archiving of the serving version is dropped. Moves that
/// still pass get their fresh results. Returns what changed, in words.
pub fn recheck_gates(
    plan: &mut Plan,
    actual: &ActualState,
    observations: &Observations,
    now: jiff::Timestamp,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut refused_production = Vec::new();
    for mv in gated_moves(plan, actual) {
        // The serving version's metadata as it will be when the move
        // happens: the plan may record it first (an adopted version).
        let serving = actual
            .models
            .get(&mv.model)
            .and_then(|m| m.production())
            .and_then(|p| {
                let steps = &plan.models[mv.model_index].steps;
                let meta = metadata_at(steps, mv.step_index, &mv.model, &p.version, actual)?;
                Some((&p.version, meta))
            });
        let results = match (plan.policies.get(&mv.policy), &mv.metadata) {
            (None, _) => unknown(
                "policy",
                format!("the plan does not carry policy `{}`", mv.policy),
            ),
            (Some(_), None) => unknown(
                "version",
                format!(
                    "{} version {} is neither in the plan nor in the registry",
                    mv.model, mv.version
                ),
            ),
            (Some(policy), Some(metadata)) => gates::evaluate(&GateInputs {
                policy,
                candidate: Candidate {
                    model: &mv.model,
                    owner: &mv.owner,
                    version: &mv.version,
                    metadata,
                    from: mv.from,
                    to: mv.to,
                },
                baseline: serving.as_ref().map(|(v, m)| (*v, m)).or_else(|| {
                    gates::baseline_of(
                        actual,
                        &mv.model,
                        mv.planned_production.as_ref().map(|(v, m)| (v, m)),
                    )
                }),
                actual,
                run_metrics: &observations.run_metrics,
                observed: &observations.gates,
                evidence: match &mv.passed_rollout {
                    Some(strategy) => gates::Evidence::Passes(strategy),
                    None => gates::Evidence::Recorded,
                },
                now,
            }),
        };
        let step = &mut plan.models[mv.model_index].steps[mv.step_index];
        if !gates::any_failed(&results) {
            if let PlanStep::TransitionStage { gates, .. } = step {
                *gates = results;
            }
            continue;
        }
        notes.push(format!(
            "{} version {}: the gates for {} → {} fail now, at apply time: {}",
            mv.model,
            mv.version,
            mv.from,
            mv.to,
            gates::failure_summary(&results)
        ));
        let key = match (plan.policies.get(&mv.policy), &mv.metadata) {
            (Some(p), Some(m)) => {
                with_rollback_evidence(gates::rejection_key(m, mv.to, p), &results)
            }
            _ => String::new(),
        };
        *step = PlanStep::RejectVersion {
            model: mv.model.clone(),
            version: mv.version.clone(),
            from: mv.from,
            to: mv.to,
            policy: mv.policy.clone(),
            gates: results,
            key,
        };
        if mv.to == Stage::Production {
            refused_production.push((mv.model_index, mv.version.to_string()));
        }
    }
    for (mi, refused) in refused_production {
        let m = &mut plan.models[mi];
        if let Some(note) = route_back(m, &refused, actual) {
            notes.push(note);
        }
        let before = m.steps.len();
        m.steps.retain(|s| {
            !matches!(
                s,
                PlanStep::TransitionStage {
                    from: Stage::Production,
                    to: Stage::Archived,
                    ..
                }
            )
        });
        if m.steps.len() != before {
            notes.push(format!(
                "{}: the serving version stays in Production, since its replacement was rejected",
                m.model
            ));
        }
    }
    plan.summary = Summary::of(&plan.models);
    notes
}

/// Traffic does not stay on, nor move to, a version refused Production at
/// apply time: every routing step of the model that gives it a share now
/// sends all traffic to the serving version instead, and where the version
/// already has a share (a canary at its last stage, whose completion is the
/// refused move) a step is added that takes it away. As the plan does when
/// the same gates refuse at plan time. Without a serving version there is
/// nothing to route to, and the routing steps that favour the refused
/// version are dropped. Returns what changed, in words.
fn route_back(m: &mut super::ModelPlan, refused: &str, actual: &ActualState) -> Option<String> {
    let favours = |t: &TrafficRecord| t.weights.get(refused).is_some_and(|w| *w > 0);
    let stable = actual
        .models
        .get(&m.model)
        .and_then(|r| r.production())
        .map(|p| p.version.clone());
    let Some(stable) = stable else {
        let before = m.steps.len();
        m.steps
            .retain(|s| !matches!(s, PlanStep::SetTraffic { traffic, .. } if favours(traffic)));
        return (m.steps.len() != before).then(|| {
            format!(
                "{}: traffic stays as it is, since version {refused} was rejected",
                m.model
            )
        });
    };
    let reason = format!("version {refused} was refused Production at apply time");
    let mut changed = false;
    for s in &mut m.steps {
        if let PlanStep::SetTraffic {
            traffic,
            reason: why,
            ..
        } = s
            && favours(traffic)
        {
            *traffic = TrafficRecord::all_to(&traffic.target, &stable);
            *why = reason.clone();
            changed = true;
        }
    }
    m.steps.retain(
        |s| !matches!(s, PlanStep::SetTraffic { before: Some(b), traffic, .. } if b == traffic),
    );
    let routed = m
        .steps
        .iter()
        .any(|s| matches!(s, PlanStep::SetTraffic { .. }));
    if let Some(now) = actual.serving.get(&m.model).filter(|t| favours(t))
        && !routed
    {
        // The deployment whose rollout this plan records, else the one
        // recorded before, else the model's own name.
        let deployment = m
            .steps
            .iter()
            .find_map(|s| match s {
                PlanStep::RecordRollout { record, .. } => Some(record.deployment.clone()),
                _ => None,
            })
            .or_else(|| actual.rollouts.get(&m.model).map(|r| r.deployment.clone()))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| m.model.clone());
        m.steps.push(PlanStep::SetTraffic {
            model: m.model.clone(),
            deployment,
            before: Some(now.clone()),
            traffic: TrafficRecord::all_to(&now.target, &stable),
            reason: reason.clone(),
        });
        changed = true;
    }
    let routes = m
        .steps
        .iter()
        .any(|s| matches!(s, PlanStep::SetTraffic { .. }));
    changed.then(|| match routes {
        true => format!(
            "{}: all traffic goes to version {stable}, since version {refused} was rejected",
            m.model
        ),
        false => format!(
            "{}: traffic stays as it is, since version {refused} was rejected",
            m.model
        ),
    })
}
