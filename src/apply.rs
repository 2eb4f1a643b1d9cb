//! Applying a plan: steps in order against the registry, stopping at the
//! first failure, keeping what was done, and saying so.

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
}

/// Applies every step of `plan`, in order. Each applied step is recorded in
/// the event log with `ctx`'s commit, time and actor.
pub fn apply(plan: &Plan, registry: &mut dyn Registry, ctx: &ApplyContext) -> ApplyReport {
    let steps: Vec<&PlanStep> = plan.steps().collect();
    let mut report = ApplyReport {
        applied: Vec::new(),
        total: steps.len(),
        failed: None,
    };
    for step in steps {
        let line = format!("{}: {}", step.model(), describe_step(step));
        match registry.apply(step, ctx) {
            Ok(()) => report.applied.push(line),
            Err(e) => {
                report.failed = Some((line, e));
                break;
            }
        }
    }
    if let Err(e) = registry.commit() {
        // Nothing of this run is durable: report the commit failure against
        // the whole run rather than a single step.
        report.applied.clear();
        report.failed = Some(("saving the applied steps".to_string(), e));
    }
    report
}
