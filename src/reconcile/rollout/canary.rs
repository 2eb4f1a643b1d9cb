//! The canary strategy: stage by stage, each stage's analysis against its
//! rollback conditions; a version git stops asking for is stopped.

use super::analysis::{Conditions, Subject, analyse};
use super::lifecycle::{at, begin, elapsed, just_started, not_passed, warming_up};
use super::{
    ABORTED, Lookup, PROGRESSING, RolloutInputs, RolloutOutcome, human, note, promote, route,
    split, started,
};
use crate::manifest::VersionId;
use crate::manifest::common::Unit;
use crate::manifest::deployment::{CanaryStrategy, RollbackConditions};
use crate::state::{RolloutRecord, RolloutStage, TrafficRecord, Verdict};

fn conditions_of(r: Option<&RollbackConditions>) -> Conditions {
    let Some(r) = r else {
        return Conditions::default();
    };
    Conditions {
        error_rate_increase_pp: r
            .error_rate_increase
            .as_ref()
            .and_then(|q| q.value(Unit::Percent).ok()),
        latency_p99_increase_ms: r
            .latency_p99_increase
            .as_ref()
            .and_then(|q| q.value(Unit::Millis).ok()),
        accuracy_drop_pp: r
            .accuracy_drop
            .as_ref()
            .and_then(|q| q.value(Unit::Percent).ok()),
        prediction_kl_max: None,
    }
}

/// The stable version a running rollout is judged against.
fn stable_of(inputs: &RolloutInputs, record: &RolloutRecord) -> Option<VersionId> {
    record
        .from_version
        .clone()
        .or_else(|| inputs.registered?.production().map(|p| p.version.clone()))
}

/// A running rollout of a version git no longer asks for, or that its gates
/// now refuse (the rejection is the registry step's): traffic back to
/// the stable version, the record Aborted, no rejection.
fn abort(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    stable: &VersionId,
    (recorded, why): (&str, &str),
) -> RolloutOutcome {
    let mut steps = Vec::new();
    let back = TrafficRecord::all_to(&inputs.deployment.target, stable);
    if let Some(s) = route(
        inputs,
        back,
        format!("{} of version {} stopped", record.strategy, record.version),
    ) {
        steps.push(s);
    }
    steps.push(super::PlanStep::RecordRollout {
        model: inputs.model.name.clone(),
        record: RolloutRecord {
            phase: ABORTED.to_string(),
            ..record.clone()
        },
        summary: recorded.to_string(),
    });
    let summary = format!(
        "stop {} {} of version {}: {why}; all traffic to version {stable}",
        inputs.model.name, record.strategy, record.version
    );
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "abort", summary, None, None)),
    }
}

/// Canary: stage by stage.
pub(super) fn canary(
    inputs: &RolloutInputs,
    c: &CanaryStrategy,
    lookup: &mut Lookup,
) -> RolloutOutcome {
    let name = &inputs.model.name;
    let running = inputs
        .record
        .filter(|r| r.strategy == "canary" && r.phase == PROGRESSING);
    let Some(candidate) = inputs.candidate else {
        return match running.and_then(|r| Some((r, stable_of(inputs, r)?))) {
            Some((r, stable)) => abort(
                inputs,
                r,
                &stable,
                (
                    "git no longer asks for it",
                    "git no longer puts it in Production",
                ),
            ),
            None => RolloutOutcome::default(),
        };
    };
    let Some(stable) = inputs
        .registered
        .and_then(|r| r.production())
        .map(|p| p.version.clone())
    else {
        return RolloutOutcome::default();
    };
    let record = running.filter(|r| &r.version == candidate);
    let Some(record) = record else {
        if !inputs.may_start {
            return RolloutOutcome::default();
        }
        let stages: Vec<RolloutStage> = c
            .stages
            .iter()
            .map(|s| RolloutStage {
                traffic_percent: s.traffic_percent,
                duration_secs: s.duration.seconds().unwrap_or(0),
            })
            .collect();
        let Some(first) = stages.first().copied() else {
            return RolloutOutcome::default();
        };
        let record = started(inputs, candidate, &stable, stages);
        let traffic = split(
            &inputs.deployment.target,
            &stable,
            candidate,
            first.traffic_percent,
        );
        let mut steps = Vec::new();
        if let Some(s) = route(
            inputs,
            traffic,
            format!("canary stage 1 of {}", record.stages.len()),
        ) {
            steps.push(s);
        }
        steps.push(super::PlanStep::RecordRollout {
            model: name.clone(),
            record,
            summary: format!(
                "canary of version {candidate} started at {}%",
                first.traffic_percent
            ),
        });
        let summary = format!(
            "start {name} canary of version {candidate}: 0% → {}% (stage 1 of {})",
            first.traffic_percent,
            c.stages.len()
        );
        return begin(inputs, steps, summary, first.duration_secs);
    };
    let stable = stable_of(inputs, record).unwrap_or(stable);
    if !inputs.may_start {
        return abort(
            inputs,
            record,
            &stable,
            (
                "its gates refuse Production",
                "its gates refuse Production (see the rejection)",
            ),
        );
    }
    let i = record.step.min(record.stages.len().saturating_sub(1));
    let Some(stage) = record.stages.get(i).copied() else {
        return RolloutOutcome::default();
    };
    let since = record.step_started_at;
    let due = at(since, stage.duration_secs);
    if warming_up(inputs, since, stage.duration_secs) {
        return just_started(
            inputs,
            &format!("{name} canary at {}%", stage.traffic_percent),
            due,
            stage.duration_secs,
        );
    }
    let conditions = conditions_of(c.stages.get(i).and_then(|s| s.rollback_if.as_ref()));
    let analysis = analyse(
        &Subject {
            model: name,
            stable: &stable,
            candidate,
            since,
            now: inputs.now,
            // At 100% the stable version serves nothing: it is measured over
            // the rollout's earlier stages.
            stable_window: (stage.traffic_percent >= 100)
                .then(|| (record.started_at.unwrap_or(since), since))
                .filter(|(a, b)| a < b),
            min_requests: inputs.deployment.analysis.min_requests(),
        },
        &conditions,
        lookup,
    );
    let headline = format!("{name} canary at {}%", stage.traffic_percent);
    let elapsed = elapsed(since, inputs.now);
    let holding = format!(
        "({} of {} elapsed)",
        human(elapsed),
        human(stage.duration_secs as i64)
    );
    if analysis.verdict != Verdict::Pass || elapsed < stage.duration_secs as i64 {
        return not_passed(inputs, record, &stable, analysis, &headline, holding, due);
    }
    let n = record.stages.len();
    if i + 1 < n {
        let next = record.stages[i + 1];
        let traffic = split(
            &inputs.deployment.target,
            &stable,
            candidate,
            next.traffic_percent,
        );
        let mut steps = Vec::new();
        if let Some(s) = route(inputs, traffic, format!("canary stage {} of {n}", i + 2)) {
            steps.push(s);
        }
        let summary = format!(
            "advance {name} canary {}% → {}%: {} elapsed; {}",
            stage.traffic_percent,
            next.traffic_percent,
            human(elapsed),
            analysis.message
        );
        steps.push(super::PlanStep::RecordRollout {
            model: name.clone(),
            record: RolloutRecord {
                step: i + 1,
                step_started_at: inputs.now,
                consecutive_errors: 0,
                last_analysis: Some(analysis.clone()),
                ..record.clone()
            },
            summary: format!(
                "canary {}% → {}%",
                stage.traffic_percent, next.traffic_percent
            ),
        });
        return RolloutOutcome {
            steps,
            note: Some(note(
                inputs,
                "advance",
                summary,
                Some(analysis),
                Some(at(inputs.now, next.duration_secs)),
            )),
        };
    }
    let done = RolloutRecord {
        consecutive_errors: 0,
        last_analysis: Some(analysis.clone()),
        ..record.clone()
    };
    let reason = format!("canary completed {n} stages");
    let steps = match promote(inputs, done, &stable, &reason) {
        Ok(steps) => steps,
        Err(refused) => return refused,
    };
    let summary = format!(
        "complete {name} canary: version {candidate} to Production after {n} stages, version {stable} archived; {}",
        analysis.message
    );
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "complete", summary, Some(analysis), None)),
    }
}
