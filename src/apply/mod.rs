//! Applying a plan: steps in order against the registry, stopping at the
//! first failure, keeping what was done, and saying so. [`step`] says what
//! each step means as registry writes.

pub mod step;

use crate::backend::serving::Route;
use crate::backend::serving::Targets;
use crate::backend::{ApplyContext, BackendError, Registry};
use crate::reconcile::{Plan, PlanStep};
use crate::render::describe_step;

/// What an apply did.
#[derive(Debug)]
pub struct ApplyReport {
    /// Steps applied, as `model: description` lines.
    pub applied: Vec<String>,
    /// Steps in the plan.
    pub total: usize,
    /// The step that failed and why; later steps were not attempted.
    pub failed: Option<(String, BackendError)>,
    /// Versions marked Rejected by their gates (among `applied`).
    pub rejected: usize,
}

/// Applies every step of `plan`, in order. Each applied step is recorded in
/// the event log with `ctx`'s commit, time and actor. Routing steps go to
/// the serving target they name; a model with routing steps is applied step
/// by step (in plan order), the others through the registry's batch.
pub fn apply(
    plan: &Plan,
    registry: &mut dyn Registry,
    targets: &mut Targets,
    ctx: &ApplyContext,
) -> ApplyReport {
    let groups: Vec<&[PlanStep]> = plan
        .models
        .iter()
        .map(|m| m.steps.as_slice())
        .filter(|s| !s.is_empty())
        .collect();
    let (with_routing, registry_only): (Vec<&[PlanStep]>, Vec<&[PlanStep]>) = groups
        .iter()
        .partition(|g| g.iter().any(PlanStep::is_routing));
    let mut outcomes = step::apply_models(registry, &registry_only, ctx);
    let mut stopped = outcomes.iter().any(|o| o.failed.is_some());
    for steps in &with_routing {
        let mut outcome = step::ModelOutcome::default();
        let ran = !stopped;
        if ran {
            for step in steps.iter() {
                let result = match step {
                    PlanStep::SetTraffic { .. } => set_traffic(step, targets),
                    PlanStep::RemoveRoute { .. } => remove_route(step, targets),
                    _ => step::apply_step(registry, step, ctx),
                };
                match result {
                    Ok(()) => outcome.applied += 1,
                    Err(e) => {
                        outcome.failed = Some(e);
                        stopped = true;
                        break;
                    }
                }
            }
        }
        if ran {
            step::end_model(registry, steps, &mut outcome);
            stopped |= outcome.failed.is_some();
        }
        outcomes.push(outcome);
    }
    let groups: Vec<&[PlanStep]> = registry_only.into_iter().chain(with_routing).collect();
    let mut report = ApplyReport {
        applied: Vec::new(),
        total: groups.iter().map(|g| g.len()).sum(),
        failed: None,
        rejected: 0,
    };
    for (steps, outcome) in groups.iter().zip(outcomes) {
        let ahead = outcome
            .ahead
            .iter()
            .filter(|&&j| j >= outcome.applied)
            .filter_map(|&j| steps.get(j));
        for step in steps[..outcome.applied.min(steps.len())]
            .iter()
            .chain(ahead)
        {
            if matches!(step, PlanStep::RejectVersion { .. }) {
                report.rejected += 1;
            }
            report
                .applied
                .push(format!("{}: {}", step.model(), describe_step(step)));
        }
        if let (Some(e), None) = (outcome.failed, &report.failed) {
            let what = match (steps.get(outcome.applied), steps.first()) {
                (Some(step), _) => format!("{}: {}", step.model(), describe_step(step)),
                // Every step applied; ending the model's writes failed.
                (None, Some(first)) => format!("{}: recording its events' head", first.model()),
                (None, None) => "recording events".to_string(),
            };
            report.failed = Some((what, e));
        }
    }
    if let Err(e) = registry.commit() {
        // Nothing of this run is durable: report the commit failure against
        // the whole run rather than a single step.
        report.applied.clear();
        report.rejected = 0;
        report.failed = Some(("saving the applied steps".to_string(), e));
    }
    report
}

/// Applies a routing step on its target, after checking the target still
/// routes as the plan saw it.
fn set_traffic(step: &PlanStep, targets: &mut Targets) -> Result<(), BackendError> {
    let PlanStep::SetTraffic {
        model,
        deployment,
        before,
        traffic,
        ..
    } = step
    else {
        return Ok(());
    };
    let target = targets.get_mut(&traffic.target).ok_or_else(|| {
        BackendError::Conflict(format!(
            "serving target {} is not configured",
            traffic.target
        ))
    })?;
    let serving = |e: crate::backend::serving::ServingError| BackendError::Conflict(e.to_string());
    let now = target.observe().map_err(serving)?.remove(model.as_str());
    if now.as_ref() != before.as_ref() && now.as_ref() != Some(traffic) {
        return Err(BackendError::Conflict(format!(
            "{model}: the routing on {} changed since the plan (it is {}, the plan expected {}); run `modelops plan` again",
            target.describe(),
            now.as_ref()
                .map_or("unrouted".to_string(), |t| t.describe()),
            before
                .as_ref()
                .map_or("unrouted".to_string(), |t| t.describe())
        )));
    }
    target
        .apply(&Route {
            model,
            deployment,
            traffic,
            sticky: traffic.sticky.as_ref(),
        })
        .map_err(serving)
}

/// Removes a route no deployment owns, after checking the target still
/// routes as the plan saw it.
fn remove_route(step: &PlanStep, targets: &mut Targets) -> Result<(), BackendError> {
    let PlanStep::RemoveRoute { model, before, .. } = step else {
        return Ok(());
    };
    let target = targets.get_mut(&before.target).ok_or_else(|| {
        BackendError::Conflict(format!(
            "serving target {} is not configured",
            before.target
        ))
    })?;
    let serving = |e: crate::backend::serving::ServingError| BackendError::Conflict(e.to_string());
    let now = target.observe().map_err(serving)?.remove(model.as_str());
    match now {
        None => Ok(()),
        Some(now) if &now == before => target.remove(model).map_err(serving),
        Some(now) => Err(BackendError::Conflict(format!(
            "{model}: the routing on {} changed since the plan (it is {}, the plan expected {}); run `modelops plan` again",
            target.describe(),
            now.describe(),
            before.describe()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{RegistryOps, StepRecord};
    use crate::manifest::{Stage, VersionId};
    use crate::reconcile::{ModelAction, ModelPlan, PlanSource, Summary};
    use crate::state::{ActualState, Event, Rejection, RolloutRecord, VersionMetadata};

    /// A registry that fails at one write: failure injection for the apply loop.
    struct FailingRegistry {
        fail_at: usize,
        applied: Vec<String>,
        committed: usize,
    }

    impl RegistryOps for FailingRegistry {
        fn register_model(
            &mut self,
            _: &str,
            _: &str,
            _: Option<&str>,
        ) -> Result<(), BackendError> {
            unreachable!("the test plans register versions only")
        }
        fn update_model(&mut self, _: &str, _: &str, _: Option<&str>) -> Result<(), BackendError> {
            unreachable!()
        }
        fn register_version(
            &mut self,
            _: &str,
            version: &VersionId,
            stage: Stage,
            _: &VersionMetadata,
            _: jiff::Timestamp,
        ) -> Result<(), BackendError> {
            if self.applied.len() == self.fail_at {
                return Err(BackendError::Conflict("injected failure".into()));
            }
            self.applied
                .push(format!("register version {version} as {stage}"));
            Ok(())
        }
        fn update_version(
            &mut self,
            _: &str,
            _: &VersionId,
            _: &VersionMetadata,
        ) -> Result<(), BackendError> {
            unreachable!()
        }
        fn set_stage(
            &mut self,
            _: &str,
            _: &VersionId,
            _: Stage,
            _: Stage,
        ) -> Result<(), BackendError> {
            unreachable!()
        }
        fn set_rejection(
            &mut self,
            _: &str,
            _: &VersionId,
            _: &Rejection,
        ) -> Result<(), BackendError> {
            unreachable!()
        }
        fn clear_rejection(&mut self, _: &str, _: &VersionId) -> Result<(), BackendError> {
            unreachable!()
        }
        fn record_rollout(&mut self, _: &str, _: &RolloutRecord) -> Result<(), BackendError> {
            unreachable!()
        }
        fn record_event(&mut self, _: StepRecord, _: &ApplyContext) -> Result<(), BackendError> {
            Ok(())
        }
    }

    impl Registry for FailingRegistry {
        fn describe(&self) -> String {
            "fake".into()
        }
        fn observe(&mut self) -> Result<ActualState, BackendError> {
            Ok(ActualState::default())
        }
        fn commit(&mut self) -> Result<(), BackendError> {
            self.committed = self.applied.len();
            Ok(())
        }
        fn events(&mut self, _: &str) -> Result<Vec<Event>, BackendError> {
            Ok(Vec::new())
        }
        fn lock(&mut self, _: std::time::Duration, _: &str) -> Result<(), BackendError> {
            Ok(())
        }
        fn unlock(&mut self) -> Result<(), BackendError> {
            Ok(())
        }
    }

    fn plan_of(versions: u64) -> Plan {
        let steps = (1..=versions)
            .map(|v| PlanStep::RegisterVersion {
                model: "fraud-detector".into(),
                version: VersionId::Number(v),
                stage: Stage::Development,
                metadata: VersionMetadata::default(),
            })
            .collect();
        let models = vec![ModelPlan {
            model: "fraud-detector".into(),
            action: ModelAction::Update,
            steps,
            manifest_diff: None,
            rollout: None,
        }];
        Plan {
            format_version: "1.0".into(),
            rejected: Vec::new(),
            held_by_rollback: Vec::new(),
            diverged: Vec::new(),
            policies: Default::default(),
            after_merge: Vec::new(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            source: PlanSource::default(),
            state_fingerprint: String::new(),
            observed: Default::default(),
            outside_changes: Vec::new(),
            unmanaged: Vec::new(),
            warnings: Vec::new(),
            summary: Summary::of(&models),
            models,
            errors: Vec::new(),
        }
    }

    #[test]
    fn a_failed_step_stops_the_apply_and_keeps_what_was_done() {
        let ctx = ApplyContext {
            now: jiff::Timestamp::UNIX_EPOCH,
            commit: None,
            actor: "t".into(),
            sign_offs: Default::default(),
        };
        let mut registry = FailingRegistry {
            fail_at: 2,
            applied: Vec::new(),
            committed: 0,
        };
        let report = apply(&plan_of(4), &mut registry, &mut Targets::new(), &ctx);
        assert_eq!(report.total, 4);
        assert_eq!(report.applied.len(), 2);
        assert_eq!(
            registry.applied,
            [
                "register version 1 as Development",
                "register version 2 as Development"
            ]
        );
        assert_eq!(registry.committed, 2, "what was done is made durable");
        let (step, e) = report.failed.expect("the third step fails");
        assert_eq!(step, "fraud-detector: register version 3 as Development");
        assert_eq!(e.to_string(), "injected failure");
    }

    #[test]
    fn after_a_failure_no_further_model_is_started() {
        let ctx = ApplyContext {
            now: jiff::Timestamp::UNIX_EPOCH,
            commit: None,
            actor: "t".into(),
            sign_offs: Default::default(),
        };
        let mut plan = plan_of(2);
        let mut second = plan.models[0].clone();
        second.model = "churn-predictor".into();
        for step in &mut second.steps {
            if let PlanStep::RegisterVersion { model, .. } = step {
                *model = "churn-predictor".into();
            }
        }
        plan.models.push(second);
        let mut registry = FailingRegistry {
            fail_at: 1,
            applied: Vec::new(),
            committed: 0,
        };
        let report = apply(&plan, &mut registry, &mut Targets::new(), &ctx);
        assert_eq!(report.total, 4);
        assert_eq!(
            report.applied,
            ["fraud-detector: register version 1 as Development"]
        );
        let (step, _) = report.failed.expect("the second step fails");
        assert_eq!(step, "fraud-detector: register version 2 as Development");
        assert_eq!(registry.applied.len(), 1, "churn-predictor was not started");
    }

    #[test]
    fn a_clean_apply_applies_every_step() {
        let ctx = ApplyContext {
            now: jiff::Timestamp::UNIX_EPOCH,
            commit: None,
            actor: "t".into(),
            sign_offs: Default::default(),
        };
        let mut registry = FailingRegistry {
            fail_at: usize::MAX,
            applied: Vec::new(),
            committed: 0,
        };
        let report = apply(&plan_of(3), &mut registry, &mut Targets::new(), &ctx);
        assert!(report.failed.is_none());
        assert_eq!(registry.committed, 3);
    }
}
