//! The A/B test strategy: split, guard, then decide with a two-proportion
//! z-test.

use super::analysis::{Conditions, Subject, analyse, lacks_data};
use super::lifecycle::{
    ACCURACY_DROP_PP, ERROR_RATE_INCREASE_PP, LATENCY_P99_INCREASE_MS, at, begin, elapsed,
    finished, hold, just_started, not_passed, warming_up,
};
use super::stats::two_proportion;
use super::{
    Lookup, RolloutInputs, RolloutOutcome, SUCCEEDED, human, note, promote, route, started,
    thousands,
};
use crate::manifest::deployment::AbTestStrategy;
use crate::state::metrics::Signal;
use crate::state::{RolloutRecord, RolloutStage, TrafficRecord, Verdict};

/// A/B test: split, guard, then decide with a two-proportion z-test.
pub(super) fn ab_test(
    inputs: &RolloutInputs,
    a: &AbTestStrategy,
    lookup: &mut Lookup,
) -> RolloutOutcome {
    let name = &inputs.model.name;
    let (control, treatment) = (&a.control.version, &a.treatment.version);
    // Control is the Production version once this apply's registry steps
    // ran, so a first apply starts the test too.
    let Some(primary) = inputs.production_after.clone() else {
        return RolloutOutcome::default();
    };
    if &primary != control || inputs.model.version(treatment).is_none() {
        return RolloutOutcome::default();
    }
    let rejected = inputs
        .registered
        .and_then(|r| r.versions.iter().find(|v| &v.version == treatment))
        .is_some_and(|v| v.rejected.is_some());
    let wanted = inputs.candidate == Some(treatment) && inputs.may_start;
    let traffic = TrafficRecord {
        target: inputs.deployment.target.clone(),
        weights: [
            (control.to_string(), a.control.traffic_percent),
            (treatment.to_string(), a.treatment.traffic_percent),
        ]
        .into(),
        mirrors: Default::default(),
        sticky: a.sticky.clone(),
    };
    let record = inputs
        .record
        .filter(|r| r.strategy == "ab_test" && &r.version == treatment);
    let Some(record) = record else {
        if rejected || !inputs.ready.contains(treatment) {
            return RolloutOutcome::default();
        }
        let secs = a.duration.seconds().unwrap_or(0);
        let record = started(
            inputs,
            treatment,
            control,
            vec![RolloutStage {
                traffic_percent: a.treatment.traffic_percent,
                duration_secs: secs,
            }],
        );
        let mut steps = Vec::new();
        if let Some(st) = route(inputs, traffic, "A/B test".into()) {
            steps.push(st);
        }
        steps.push(super::PlanStep::RecordRollout {
            model: name.clone(),
            record,
            summary: format!("A/B test of version {treatment} started"),
        });
        let summary = format!(
            "start {name} A/B test: version {control} {}%, version {treatment} {}% for at least {} and {} requests per arm",
            a.control.traffic_percent,
            a.treatment.traffic_percent,
            human(secs as i64),
            thousands(a.min_sample_size as f64)
        );
        return begin(inputs, steps, summary, secs);
    };
    if let Some(out) = finished(
        inputs,
        record,
        wanted,
        a.auto_promote,
        control,
        "promoted after winning its A/B test",
        &format!("version {treatment} won its A/B test"),
    ) {
        return out;
    }
    let mut routing = Vec::new();
    if let Some(st) = route(inputs, traffic, "A/B test".into()) {
        routing.push(st);
    }
    let since = record.started_at.unwrap_or(record.step_started_at);
    let secs = record.stages.first().map_or(0, |s| s.duration_secs);
    let due = at(since, secs);
    let headline = format!("{name} A/B test of version {treatment}");
    let has = |g: &str| a.guardrail_metrics.iter().any(|m| m == g);
    let guardrails = Conditions {
        error_rate_increase_pp: has("error_rate").then_some(ERROR_RATE_INCREASE_PP),
        latency_p99_increase_ms: has("latency_p99").then_some(LATENCY_P99_INCREASE_MS),
        accuracy_drop_pp: has("accuracy").then_some(ACCURACY_DROP_PP),
        prediction_kl_max: None,
    };
    let subject = Subject {
        model: name,
        stable: control,
        candidate: treatment,
        since,
        now: inputs.now,
        stable_window: None,
        min_requests: inputs.deployment.analysis.min_requests(),
    };
    if warming_up(inputs, since, secs) {
        let mut out = just_started(inputs, &headline, due, secs);
        out.steps.splice(0..0, routing);
        return out;
    }
    let analysis = analyse(&subject, &guardrails, lookup);
    let elapsed = elapsed(since, inputs.now);
    let holding = format!("({} of {} elapsed)", human(elapsed), human(secs as i64));
    if matches!(analysis.verdict, Verdict::Fail | Verdict::Error) || lacks_data(&analysis) {
        let mut out = not_passed(inputs, record, control, analysis, &headline, holding, due);
        if out
            .steps
            .iter()
            .all(|s| !matches!(s, super::PlanStep::SetTraffic { .. }))
        {
            out.steps.splice(0..0, routing);
        }
        return out;
    }
    let n_c = analysis
        .requests
        .get(&control.to_string())
        .copied()
        .unwrap_or(0.0);
    let n_t = analysis
        .requests
        .get(&treatment.to_string())
        .copied()
        .unwrap_or(0.0);
    let enough = n_c >= a.min_sample_size as f64 && n_t >= a.min_sample_size as f64;
    if elapsed < secs as i64 || !enough {
        let summary = format!(
            "run {headline} {holding}: control {} and treatment {} of {} requests per arm; guardrails: {}",
            thousands(n_c),
            thousands(n_t),
            thousands(a.min_sample_size as f64),
            analysis.message
        );
        let mut out = hold(inputs, record, summary, analysis, Some(due));
        out.steps.splice(0..0, routing);
        return out;
    }
    let metric = Signal::Rate(a.primary_metric.clone());
    let rates = (
        lookup.try_get(name, control, metric.clone(), since, inputs.now),
        lookup.try_get(name, treatment, metric, since, inputs.now),
    );
    let (r_c, r_t) = match rates {
        (Ok(c), Ok(t)) => (c, t),
        (c, t) => {
            let missing: Vec<_> = [c.err(), t.err()].into_iter().flatten().collect();
            let mut a2 = analysis;
            if missing.iter().all(|m| m.no_data) {
                a2.verdict = Verdict::Inconclusive;
                a2.message = super::analysis::describe_missing(&missing);
                a2.no_data = missing
                    .iter()
                    .map(|m| format!("{} of version {}", m.signal, m.version))
                    .collect();
            } else {
                a2.verdict = Verdict::Error;
                a2.message = format!(
                    "metrics unavailable: {}",
                    super::analysis::describe_missing(&missing)
                );
            }
            let mut out = not_passed(inputs, record, control, a2, &headline, holding, due);
            out.steps.splice(0..0, routing);
            return out;
        }
    };
    let test = two_proportion(r_c * n_c, n_c, r_t * n_t, n_t, a.confidence);
    let pct = |x: f64| format!("{}%", super::super::gates::num_short(100.0 * x));
    let Some(test) = test else {
        let summary = format!(
            "hold {headline}: {} has no variance to test",
            a.primary_metric
        );
        return hold(inputs, record, summary, analysis, Some(due));
    };
    let result = serde_json::json!({
        "primary_metric": a.primary_metric,
        "control_rate": test.control_rate,
        "treatment_rate": test.treatment_rate,
        "effect": test.effect,
        "interval": [test.interval.0, test.interval.1],
        "p_value": test.p_value,
        "confidence": test.confidence,
        "winner": if test.treatment_wins() { "treatment" } else { "none" },
    });
    let figures = format!(
        "{} {} → {} ({:+.3}pp, {}% CI [{:+.3}pp, {:+.3}pp], p = {:.4})",
        a.primary_metric,
        pct(test.control_rate),
        pct(test.treatment_rate),
        100.0 * test.effect,
        super::super::gates::num_short(100.0 * test.confidence),
        100.0 * test.interval.0,
        100.0 * test.interval.1,
        test.p_value
    );
    let mut decided = RolloutRecord {
        consecutive_errors: 0,
        last_analysis: Some(analysis.clone()),
        result: Some(result),
        ..record.clone()
    };
    if test.treatment_wins() {
        decided.phase = SUCCEEDED.to_string();
        if wanted || a.auto_promote {
            decided.promoted = !wanted;
            let steps = match promote(
                inputs,
                decided,
                control,
                "promoted after winning its A/B test",
            ) {
                Ok(steps) => steps,
                Err(refused) => return refused,
            };
            let summary =
                format!("promote {name} version {treatment}: it won its A/B test, {figures}");
            return RolloutOutcome {
                steps,
                note: Some(note(inputs, "promote", summary, Some(analysis), None)),
            };
        }
        let mut steps = Vec::new();
        let back = TrafficRecord::all_to(&inputs.deployment.target, control);
        if let Some(st) = route(inputs, back, "A/B test decided".into()) {
            steps.push(st);
        }
        steps.push(super::PlanStep::RecordRollout {
            model: name.clone(),
            record: decided,
            summary: format!("A/B test decided: treatment wins, {figures}"),
        });
        let summary = format!(
            "record {headline}: treatment wins, {figures}; promote it by setting its stage to Production in {}",
            inputs.model.file
        );
        return RolloutOutcome {
            steps,
            note: Some(note(inputs, "record", summary, Some(analysis), None)),
        };
    }
    let mut lost = analysis.clone();
    lost.verdict = Verdict::Fail;
    lost.message = format!("the treatment did not win: {figures}");
    super::fail(inputs, decided, control, lost, format!("end {headline}"))
}
