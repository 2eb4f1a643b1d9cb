//! Where git and the registry still disagree once a plan is applied: the
//! versions a rejection, a rollback, a failed rollout or an auto-promotion
//! keeps at a stage git does not declare. The plan lists them, so it never
//! reports a match that is not there; a rollout in progress is not listed
//! (its steps are the plan's, and it converges by itself).

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::gates::GateStatus;
use super::{rollback, rollout};
use crate::manifest::{Desired, DesiredModel, Stage, VersionId};
use crate::state::plan::{Diverged, DivergedCause, ModelPlan, Plan, PlanStep, RollbackHold};
use crate::state::{ActualState, RegisteredModel, RolloutRecord};

/// Every diverged version of the models `plan` covers, in model order then
/// the manifest's version order. `plan` is complete but for this list (and
/// the patches, which need the manifests' text: the caller fills them in).
pub fn find(desired: &Desired, actual: &ActualState, plan: &Plan) -> Vec<Diverged> {
    let mut out = Vec::new();
    for m in &plan.models {
        let (Some(model), Some(registered)) =
            (desired.models.get(&m.model), actual.models.get(&m.model))
        else {
            continue;
        };
        let hold = plan.held_by_rollback.iter().find(|h| h.model == m.model);
        let record = actual.rollouts.get(&m.model);
        out.extend(of_model(model, registered, record, hold, m, plan));
    }
    out
}

/// Why one version is where it is, before companions are resolved.
type Why = (DivergedCause, String, Option<Timestamp>);

fn of_model(
    model: &DesiredModel,
    registered: &RegisteredModel,
    record: Option<&RolloutRecord>,
    hold: Option<&RollbackHold>,
    planned: &ModelPlan,
    plan: &Plan,
) -> Vec<Diverged> {
    // Each version's stage once the plan's steps ran, and the rollout
    // record they leave.
    let mut after: BTreeMap<&VersionId, Stage> = registered
        .versions
        .iter()
        .map(|v| (&v.version, v.stage))
        .collect();
    let mut record = record;
    let mut rejected_now: BTreeMap<&VersionId, &PlanStep> = BTreeMap::new();
    for step in &planned.steps {
        match step {
            PlanStep::RegisterVersion { version, stage, .. }
            | PlanStep::TransitionStage {
                version, to: stage, ..
            } => {
                after.insert(version, *stage);
            }
            PlanStep::RejectVersion { version, .. } => {
                rejected_now.insert(version, step);
            }
            PlanStep::RecordRollout { record: r, .. } => record = Some(r),
            _ => {}
        }
    }
    let mut found: Vec<(&VersionId, Stage, Stage, Option<Why>)> = Vec::new();
    for v in &model.versions {
        let id = &v.spec.version;
        let declared = v.spec.stage;
        let Some(&actual) = after.get(id) else {
            continue;
        };
        if actual == declared {
            continue;
        }
        let in_rollout = record.is_some_and(|r| {
            r.phase == rollout::PROGRESSING
                && (&r.version == id || r.from_version.as_ref() == Some(id))
        });
        if in_rollout && hold.is_none() {
            continue;
        }
        let why = if let Some(h) = hold {
            Some(rollback_why(h, id))
        } else if let Some(step) = rejected_now.get(id) {
            Some(rejected_now_why(step, plan.created_at))
        } else if let Some(r) = registered
            .versions
            .iter()
            .find(|x| &x.version == id)
            .and_then(|x| x.rejected.as_ref())
        {
            let failed = record.filter(|rec| rec.phase == rollout::FAILED && &rec.version == id);
            Some(match failed {
                Some(rec) => (
                    DivergedCause::FailedRollout,
                    format!("its {} failed: {}", strategy_name(rec), r.reason),
                    Some(r.at),
                ),
                None => (
                    DivergedCause::Rejected,
                    format!("rejected by its gates: {}", r.reason),
                    Some(r.at),
                ),
            })
        } else {
            auto_promoted_why(record, id)
        };
        found.push((id, declared, actual, why));
    }
    // A version kept in place because what git asked in its stead did not
    // happen (the serving version stays in Production while its replacement
    // is rejected) shares its replacement's cause.
    let replacement = found
        .iter()
        .find(|(_, declared, _, why)| *declared == Stage::Production && why.is_some())
        .map(|(id, _, _, why)| ((*id).clone(), why.clone().expect("checked")));
    found
        .into_iter()
        .filter_map(|(id, declared, actual, why)| {
            let (cause, reason, since) = match (why, &replacement) {
                (Some(why), _) => why,
                (None, Some((other, (cause, _, since)))) if actual == Stage::Production => (
                    *cause,
                    format!(
                        "stays in Production: version {other}, which git puts in Production, {}",
                        match cause {
                            DivergedCause::Rejected => "was rejected by its gates",
                            DivergedCause::FailedRollout => "failed its rollout",
                            _ => cause.label(),
                        }
                    ),
                    *since,
                ),
                // A move the plan refuses is an error, and the error says
                // how to fix git: making git agree with the registry is not
                // the advice there.
                (None, _) if !plan.errors.is_empty() => return None,
                (None, _) => (
                    DivergedCause::Refused,
                    format!("no step of this plan moves it from {actual}"),
                    None,
                ),
            };
            Some(Diverged {
                model: model.name.clone(),
                version: id.clone(),
                declared,
                actual,
                cause,
                reason,
                since,
                file: model.file.clone(),
                patch: None,
            })
        })
        .collect()
}

fn rollback_why(h: &RollbackHold, id: &VersionId) -> Why {
    let what = if &h.to == id {
        "put back in Production"
    } else if h.from.as_ref() == Some(id) {
        "taken out of Production"
    } else {
        "left as it was"
    };
    let by = if h.actor.is_empty() {
        String::new()
    } else {
        format!(" by {}", h.actor)
    };
    (
        DivergedCause::Rollback,
        format!("{what} by a rollback{by}: {}", h.reason),
        Some(h.at),
    )
}

fn rejected_now_why(step: &PlanStep, now: Timestamp) -> Why {
    let PlanStep::RejectVersion { gates, to, .. } = step else {
        unreachable!("only reject steps are collected")
    };
    let failed: Vec<String> = gates
        .iter()
        .filter(|g| g.status == GateStatus::Fail)
        .map(|g| format!("{}: {}", g.check, g.value))
        .collect();
    // A rollout's analysis records its checks as `<strategy> analysis`.
    let rollout = gates
        .iter()
        .find_map(|g| g.source.strip_suffix(" analysis"));
    match rollout {
        Some(strategy) => (
            DivergedCause::FailedRollout,
            format!("its {strategy} fails on this apply: {}", failed.join("; ")),
            Some(now),
        ),
        None => (
            DivergedCause::Rejected,
            format!(
                "this apply marks it Rejected: its gates refuse {to}: {}",
                failed.join("; ")
            ),
            Some(now),
        ),
    }
}

fn auto_promoted_why(record: Option<&RolloutRecord>, id: &VersionId) -> Option<Why> {
    let r = record.filter(|r| {
        r.promoted
            && r.phase == rollout::SUCCEEDED
            && (&r.version == id || r.from_version.as_ref() == Some(id))
    })?;
    Some((
        DivergedCause::AutoPromoted,
        format!(
            "its {} promoted version {} to Production (auto_promote), ahead of git",
            strategy_name(r),
            r.version
        ),
        Some(r.step_started_at),
    ))
}

fn strategy_name(r: &RolloutRecord) -> &str {
    match r.strategy.as_str() {
        "ab_test" => "A/B test",
        s if s == rollback::STRATEGY => "rollback",
        s => s,
    }
}
