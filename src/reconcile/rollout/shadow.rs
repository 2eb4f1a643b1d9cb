//! The shadow strategy: the primary serves, the candidate gets mirrored
//! requests; the comparison after the duration decides.

use super::analysis::{Conditions, Subject, analyse};
use super::lifecycle::{
    ACCURACY_DROP_PP, LATENCY_P99_INCREASE_MS, PREDICTION_KL_MAX, at, begin, elapsed, finished,
    not_passed,
};
use super::{
    Lookup, RolloutInputs, RolloutOutcome, SUCCEEDED, human, note, promote, route, started,
};
use crate::manifest::deployment::{ComparisonMetric, ShadowStrategy};
use crate::state::{RolloutRecord, RolloutStage, TrafficRecord, Verdict};

/// Shadow: mirror, compare after the duration, promote when asked.
pub(super) fn shadow(
    inputs: &RolloutInputs,
    s: &ShadowStrategy,
    lookup: &mut Lookup,
) -> RolloutOutcome {
    let name = &inputs.model.name;
    let shadow = &s.shadow.version;
    // The primary is the Production version once this apply's registry
    // steps ran, so a first apply starts the shadow too.
    let Some(primary) = inputs.production_after.clone() else {
        return RolloutOutcome::default();
    };
    if &primary == shadow || inputs.model.version(shadow).is_none() {
        return RolloutOutcome::default();
    }
    let rejected = inputs
        .registered
        .and_then(|r| r.versions.iter().find(|v| &v.version == shadow))
        .is_some_and(|v| v.rejected.is_some());
    let record = inputs
        .record
        .filter(|r| r.strategy == "shadow" && &r.version == shadow);
    let mirrored = |record: &RolloutRecord| TrafficRecord {
        target: inputs.deployment.target.clone(),
        weights: [(primary.to_string(), 100)].into(),
        mirrors: [(
            shadow.to_string(),
            record.stages.first().map_or(100, |s| s.traffic_percent),
        )]
        .into(),
        sticky: None,
    };
    let wanted = inputs.candidate == Some(shadow) && inputs.may_start;
    let Some(record) = record else {
        if rejected || !inputs.ready.contains(shadow) {
            return RolloutOutcome::default();
        }
        let secs = s.comparison.duration.seconds().unwrap_or(0);
        let record = started(
            inputs,
            shadow,
            &primary,
            vec![RolloutStage {
                traffic_percent: s.shadow.traffic_percent,
                duration_secs: secs,
            }],
        );
        let mut steps = Vec::new();
        if let Some(st) = route(inputs, mirrored(&record), "shadow comparison".into()) {
            steps.push(st);
        }
        steps.push(super::PlanStep::RecordRollout {
            model: name.clone(),
            record,
            summary: format!("shadow of version {shadow} started"),
        });
        let summary = format!(
            "start {name} shadow: version {shadow} gets {}% of requests mirrored behind version {primary} for {}",
            s.shadow.traffic_percent,
            human(secs as i64)
        );
        return begin(inputs, steps, summary, secs);
    };
    if let Some(out) = finished(
        inputs,
        record,
        wanted,
        s.comparison.auto_promote,
        &primary,
        "promoted after its shadow comparison passed",
        &format!("the shadow comparison of version {shadow} passed"),
    ) {
        return out;
    }
    let mut steps = Vec::new();
    if let Some(st) = route(inputs, mirrored(record), "shadow comparison".into()) {
        steps.push(st);
    }
    let secs = record.stages.first().map_or(0, |st| st.duration_secs);
    let since = record.started_at.unwrap_or(record.step_started_at);
    let due = at(since, secs);
    let elapsed = elapsed(since, inputs.now);
    let headline = format!("{name} shadow of version {shadow}");
    if elapsed < secs as i64 {
        let summary = format!(
            "observe {headline}: {} of {} elapsed; comparison at {due}",
            human(elapsed),
            human(secs as i64)
        );
        return RolloutOutcome {
            steps,
            note: Some(note(inputs, "observe", summary, None, Some(due))),
        };
    }
    let has = |m: ComparisonMetric| s.comparison.metrics.contains(&m);
    let conditions = Conditions {
        error_rate_increase_pp: None,
        latency_p99_increase_ms: has(ComparisonMetric::LatencyP99)
            .then_some(LATENCY_P99_INCREASE_MS),
        accuracy_drop_pp: has(ComparisonMetric::Accuracy).then_some(ACCURACY_DROP_PP),
        prediction_kl_max: has(ComparisonMetric::PredictionDistribution).then(|| {
            inputs
                .deployment
                .monitoring
                .prediction_kl_divergence
                .unwrap_or(PREDICTION_KL_MAX)
        }),
    };
    let analysis = analyse(
        &Subject {
            model: name,
            stable: &primary,
            candidate: shadow,
            since,
            now: inputs.now,
            stable_window: None,
            min_requests: inputs.deployment.analysis.min_requests(),
        },
        &conditions,
        lookup,
    );
    if analysis.verdict != Verdict::Pass {
        let mut out = not_passed(
            inputs,
            record,
            &primary,
            analysis,
            &headline,
            "(comparison due)".into(),
            due,
        );
        if out
            .steps
            .iter()
            .all(|s| !matches!(s, super::PlanStep::SetTraffic { .. }))
        {
            out.steps.splice(0..0, steps);
        }
        return out;
    }
    let result = serde_json::json!({"comparison": "passed", "message": analysis.message});
    let passed = RolloutRecord {
        phase: SUCCEEDED.to_string(),
        consecutive_errors: 0,
        last_analysis: Some(analysis.clone()),
        result: Some(result),
        ..record.clone()
    };
    if wanted || s.comparison.auto_promote {
        let mut r = passed;
        r.promoted = !wanted;
        let steps = match promote(
            inputs,
            r,
            &primary,
            "promoted after its shadow comparison passed",
        ) {
            Ok(steps) => steps,
            Err(refused) => return refused,
        };
        let summary = format!(
            "promote {name} version {shadow}: shadow comparison passed ({}); version {primary} archived",
            analysis.message
        );
        return RolloutOutcome {
            steps,
            note: Some(note(inputs, "promote", summary, Some(analysis), None)),
        };
    }
    // Passed, and a person decides: the mirror stops, the result waits for git.
    let mut steps = Vec::new();
    let primary_only = TrafficRecord::all_to(&inputs.deployment.target, &primary);
    if let Some(st) = route(inputs, primary_only, "shadow comparison done".into()) {
        steps.push(st);
    }
    steps.push(super::PlanStep::RecordRollout {
        model: name.clone(),
        record: passed,
        summary: format!("shadow comparison passed: {}", analysis.message),
    });
    let summary = format!(
        "record {headline}: comparison passed ({}); promote it by setting its stage to Production in {}",
        analysis.message, inputs.model.file
    );
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "record", summary, Some(analysis), None)),
    }
}
