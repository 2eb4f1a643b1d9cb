//! Reconciliation: `plan = f(desired, actual, observations, now)`, a pure
//! function from what git asks for and what the backends hold to the ordered
//! steps that make them agree. No I/O, no clock: time is a parameter.

pub mod admit;
pub mod adopt;
pub mod diverged;
pub mod gates;
pub mod monitor;
mod recheck;
pub mod rollback;
pub mod rollout;
pub mod saved_plan;

pub use recheck::{GatedMove, gated_moves, recheck_gates};

mod evidence;
mod outside;
mod stages;
mod verify;

pub use evidence::metadata_of;
use outside::changes_outside_git;
pub use outside::observed;
pub use stages::check_move;
use stages::{ModelOutput, ModelSteps, plan_model, production_after, ready_versions};
use verify::verify_metrics;
pub use verify::{
    GateCandidate, RollbackCandidate, gate_candidates, rollback_candidates, runs_to_verify,
};

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::manifest::policy::Benchmark;
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{
    Desired, DesiredModel, DesiredVersion, Diagnostic, Stage, Strategy, VersionId,
};

use crate::state::{
    ActualState, FieldChange, RegisteredModel, RegisteredVersion, VersionMetadata, diff_metadata,
};
use gates::GateObservations;

pub use crate::state::plan::{
    HeldRejection, ModelAction, ModelPlan, OutsideChange, Plan, PlanSource, PlanStep, Summary,
};

/// What planning reads besides the registry's state: the metrics logged by
/// training runs (to verify declared metrics and feed gates), what gates
/// read from the registry and benchmarks, and later rollout analysis and
/// monitoring measurements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Logged metrics by run id, for the runs [`runs_to_verify`] names;
    /// `None` for a run the registry does not know.
    pub run_metrics: BTreeMap<String, Option<SortedMap<String, f64>>>,
    /// Logged signatures and latency benchmarks of [`gate_candidates`].
    pub gates: GateObservations,
    /// Answers of the metrics providers to [`metric_queries`].
    pub metrics: rollout::Metrics,
}

/// Which models to plan: all, or only those named (`plan --base`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scope {
    /// Every model.
    #[default]
    All,
    /// Only these models.
    Only(BTreeSet<String>),
}

impl Scope {
    fn includes(&self, model: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(set) => set.contains(model),
        }
    }
}

/// Computes the plan. Deterministic: the same inputs give the same plan.
pub fn plan(
    desired: &Desired,
    actual: &ActualState,
    observations: &Observations,
    now: Timestamp,
    scope: &Scope,
) -> Plan {
    let mut lookup = rollout::Lookup::new(&observations.metrics);
    plan_with(desired, actual, observations, now, scope, &mut lookup)
}

/// The metric questions the plan's rollout decisions ask, given the answers
/// already in `observations`: the commands ask the providers these, and
/// plan again, until no new question comes (an answer can lead a decision
/// further, to a question it did not ask before).
pub fn metric_queries(
    desired: &Desired,
    actual: &ActualState,
    observations: &Observations,
    now: Timestamp,
    scope: &Scope,
) -> Vec<crate::state::metrics::MetricQuery> {
    if desired.deployments.is_empty() {
        return Vec::new();
    }
    let mut lookup = rollout::Lookup::new(&observations.metrics);
    plan_with(desired, actual, observations, now, scope, &mut lookup);
    let mut asked = lookup.asked;
    asked.sort();
    asked.dedup();
    asked.retain(|q| !observations.metrics.contains_key(q));
    asked
}

fn plan_with(
    desired: &Desired,
    actual: &ActualState,
    observations: &Observations,
    now: Timestamp,
    scope: &Scope,
    lookup: &mut rollout::Lookup,
) -> Plan {
    let mut models = Vec::new();
    let mut outside_changes = Vec::new();
    let mut errors = Vec::new();
    let mut unmanaged = Vec::new();
    let mut warnings = Vec::new();
    let mut held = Vec::new();
    let mut rollback_holds = Vec::new();
    let in_scope: Vec<&str> = desired
        .models
        .keys()
        .filter(|n| scope.includes(n))
        .map(String::as_str)
        .collect();
    let observed = observed(actual, &in_scope);
    // What the registry holds, with git's values where it holds no record
    // of a model or version modelops never wrote (see `adopt`); outside
    // changes, the state fingerprint and what the plan saw are the registry's own.
    let adopted = adopt::view(desired, actual);
    let view = adopted.as_ref().unwrap_or(actual);
    for (name, model) in &desired.models {
        if !scope.includes(name) {
            continue;
        }
        let registered = view.models.get(name);
        if let Some(r) = actual.models.get(name) {
            outside_changes.extend(changes_outside_git(r, &observed[name.as_str()]));
            for v in &r.versions {
                if model.version(&v.version).is_none() {
                    unmanaged.push(format!(
                        "{name} version {} ({}) is in the registry but not in {}; versions are never deleted",
                        v.version, v.stage, model.file
                    ));
                }
            }
        }
        verify_metrics(model, observations, &mut errors, &mut warnings);
        let mut out = ModelOutput {
            errors: &mut errors,
            warnings: &mut warnings,
            held: &mut held,
        };
        // A manual rollback holds the model while git still asks for what
        // was rolled back: nothing is planned for it.
        let record = view.rollouts.get(name);
        let holding =
            record.filter(|r| r.strategy == rollback::STRATEGY && r.phase == rollback::HELD);
        let mut released = None;
        if let Some(r) = holding {
            if rollback::still_held(r, model) {
                rollback_holds.push(rollback::hold_of(name, &model.file, r));
                models.push(ModelPlan {
                    model: name.clone(),
                    action: ModelAction::NoOp,
                    steps: Vec::new(),
                    manifest_diff: None,
                    rollout: None,
                });
                continue;
            }
            released = Some(rollback::release(name, r, "the model's manifest changed"));
        }
        let declared_production = model
            .versions
            .iter()
            .find(|v| v.spec.stage == Stage::Production)
            .map(|v| (&v.spec.version, metadata_of(v)));
        let admitter = admit::Admitter {
            model,
            policy_name: &model.policy,
            policy: &desired.policies[&model.policy],
            baseline: gates::baseline_of(
                view,
                name,
                declared_production.as_ref().map(|(v, m)| (*v, m)),
            ),
            actual: view,
            observations,
            now,
        };
        let ModelSteps {
            mut steps,
            delegated,
        } = plan_model(desired, view, &admitter, model, registered, &mut out);
        if let Some(step) = released {
            steps.insert(0, step);
        }
        let mut rollout_note = None;
        if let (Some(d), Some((candidate, _))) = (desired.deployments.get(name), &delegated)
            && let Strategy::Canary(c) = &d.strategy
            && let Some(declared) = &c.model_version
            && declared != candidate
        {
            errors.push(Diagnostic::pointer(
                &d.file,
                "/spec/canary/model_version",
                "canary-version",
                format!(
                    "{name}: the canary rolls out version {declared}, but {} puts version {candidate} in Production; make them agree",
                    model.file
                ),
            ));
        }
        if let Some(d) = desired.deployments.get(name) {
            let inputs = rollout::RolloutInputs {
                deployment: d,
                model,
                policy: (&model.policy, &desired.policies[&model.policy]),
                registered,
                serving: view.serving.get(name),
                record: view.rollouts.get(name),
                production_after: production_after(registered, &steps),
                candidate: delegated.as_ref().map(|(v, _)| v),
                ready: ready_versions(registered, &steps),
                may_start: delegated.as_ref().is_some_and(|(_, ok)| *ok),
                admit: &admitter,
                now,
            };
            let outcome = rollout::decide(&inputs, lookup);
            steps.extend(outcome.steps);
            rollout_note = outcome.note;
        }
        if let (Some(_), Some(r)) = (&adopted, actual.models.get(name)) {
            adopt::record(model, r, &mut steps);
        }
        let action = match (registered, steps.is_empty()) {
            (None, _) => ModelAction::Create,
            (Some(_), true) => ModelAction::NoOp,
            (Some(_), false) => ModelAction::Update,
        };
        models.push(ModelPlan {
            model: name.clone(),
            action,
            steps,
            manifest_diff: None,
            rollout: rollout_note,
        });
    }
    for (name, route) in &actual.unowned_routes {
        if scope.includes(name) {
            add_step(&mut models, name, unowned_route(desired, name, route));
        }
    }
    for name in actual.models.keys() {
        if !desired.models.contains_key(name) && scope.includes(name) {
            unmanaged.push(format!(
                "model {name} is in the registry but not in models/; it is left as it is"
            ));
        }
    }
    let summary = Summary::of(&models);
    let policies = models
        .iter()
        .flat_map(|m| &m.steps)
        .filter_map(|s| match s {
            PlanStep::TransitionStage {
                policy: Some(p), ..
            }
            | PlanStep::RejectVersion { policy: p, .. } => Some(p),
            _ => None,
        })
        .map(|p| (p.clone(), desired.policies[p].clone()))
        .collect();
    // A removed route can plan a model git no longer declares: the state
    // the plan saw covers every model it plans.
    let planned: Vec<&str> = models.iter().map(|m| m.model.as_str()).collect();
    let (observed, state_fingerprint) = if planned.len() == in_scope.len() {
        (observed, actual.fingerprint_of(in_scope.iter().copied()))
    } else {
        (
            self::observed(actual, &planned),
            actual.fingerprint_of(planned.iter().copied()),
        )
    };
    let mut p = Plan {
        format_version: crate::state::plan::FORMAT_VERSION.to_string(),
        created_at: now,
        source: PlanSource::default(),
        state_fingerprint,
        observed,
        outside_changes,
        unmanaged,
        warnings,
        rejected: held,
        held_by_rollback: rollback_holds,
        diverged: Vec::new(),
        policies,
        after_merge: Vec::new(),
        models,
        errors,
        summary,
    };
    p.diverged = diverged::find(desired, view, &p);
    p
}

/// The removal of a route no deployment owns: its deployment file was
/// removed (or now names another target), or its model left git. Removing
/// is the rule, never re-pointing: the plan shows it, and a reviewer who
/// wants the model served keeps (or restores) its deployment.
fn unowned_route(desired: &Desired, name: &str, route: &crate::state::TrafficRecord) -> PlanStep {
    let reason = match desired.deployments.get(name) {
        Some(d) => format!("its deployment {} routes it on {} now", d.file, d.target),
        None if desired.models.contains_key(name) => {
            "no deployment routes this model any more".to_string()
        }
        None => "the model is not in models/ and no deployment routes it".to_string(),
    };
    PlanStep::RemoveRoute {
        model: name.to_string(),
        before: route.clone(),
        reason,
    }
}

/// Adds `step` to `name`'s plan (a plan that had nothing to do now updates).
fn add_step(models: &mut Vec<ModelPlan>, name: &str, step: PlanStep) {
    match models.iter_mut().find(|m| m.model == name) {
        Some(m) => {
            m.steps.push(step);
            if m.action == ModelAction::NoOp {
                m.action = ModelAction::Update;
            }
        }
        None => models.push(ModelPlan {
            model: name.to_string(),
            action: ModelAction::Update,
            steps: vec![step],
            manifest_diff: None,
            rollout: None,
        }),
    }
}

#[cfg(test)]
mod tests;
