//! The three progressive strategies' decisions: canary, shadow, A/B test.

use jiff::{SignedDuration, Timestamp};

use super::analysis::{Conditions, Subject, analyse, lacks_data};
use super::stats::two_proportion;
use super::{
    ABORTED, Lookup, PROGRESSING, RolloutInputs, RolloutOutcome, SUCCEEDED, fail, human, note,
    promote, route, split, started, thousands,
};
use crate::manifest::VersionId;
use crate::manifest::common::Unit;
use crate::manifest::deployment::{
    AbTestStrategy, CanaryStrategy, ComparisonMetric, RollbackConditions, ShadowStrategy,
};
use crate::state::metrics::Signal;
use crate::state::{Analysis, RolloutRecord, RolloutStage, TrafficRecord, Verdict};

/// Default limits where the guidelines' shapes give none (shadow comparisons
/// and A/B guardrails): the guidelines' canary thresholds.
const ERROR_RATE_INCREASE_PP: f64 = 0.5;
const LATENCY_P99_INCREASE_MS: f64 = 20.0;
const ACCURACY_DROP_PP: f64 = 1.0;
const PREDICTION_KL_MAX: f64 = 0.1;

/// The shortest window an analysis reads: right after a stage starts there
/// is nothing to measure, which is not an error.
const MIN_WINDOW_SECS: i64 = 60;

/// A stage that started less than [`MIN_WINDOW_SECS`] ago: hold, no analysis.
fn just_started(inputs: &RolloutInputs, headline: &str, due: Timestamp) -> RolloutOutcome {
    RolloutOutcome {
        steps: Vec::new(),
        note: Some(note(
            inputs,
            "hold",
            format!("hold {headline}: just started; the first analysis runs after 1m"),
            None,
            Some(due),
        )),
    }
}

fn at(t: Timestamp, secs: u64) -> Timestamp {
    t.saturating_add(SignedDuration::from_secs(secs as i64))
        .unwrap_or(t)
}

fn elapsed(since: Timestamp, now: Timestamp) -> i64 {
    now.as_second() - since.as_second()
}

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

/// What an analysis that is not a pass does: a failed one fails the
/// rollout; an error (the provider failed) counts towards the limit and
/// fails the rollout there; an inconclusive one holds, without counting —
/// unless it found no data and the stage ended (`due`) more than
/// `analysis.no_data_timeout` ago, which fails the rollout.
fn not_passed(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    stable: &VersionId,
    analysis: Analysis,
    headline: &str,
    holding: String,
    due: Timestamp,
) -> RolloutOutcome {
    let limit = inputs.deployment.analysis.max_consecutive_errors();
    let next_at = (inputs.now < due).then_some(due);
    match analysis.verdict {
        Verdict::Fail => fail(
            inputs,
            record.clone(),
            stable,
            analysis,
            format!("roll back {headline}"),
        ),
        Verdict::Error => {
            let errors = record.consecutive_errors + 1;
            if errors >= limit {
                let why = format!("({errors} analyses in a row)");
                return give_up(inputs, record, stable, analysis, &why, headline);
            }
            let summary = format!(
                "hold {headline} {holding}: {} (error {errors} of {limit} allowed)",
                analysis.message
            );
            RolloutOutcome {
                steps: vec![super::PlanStep::RecordRollout {
                    model: inputs.model.name.clone(),
                    record: RolloutRecord {
                        consecutive_errors: errors,
                        last_analysis: Some(analysis.clone()),
                        ..record.clone()
                    },
                    summary: format!("analysis error {errors} of {limit}: {}", analysis.message),
                }],
                note: Some(note(inputs, "hold", summary, Some(analysis), next_at)),
            }
        }
        Verdict::Inconclusive if lacks_data(&analysis) && inputs.now >= due => {
            let timeout = inputs.deployment.analysis.no_data_timeout_secs();
            let deadline = at(due, timeout);
            let late = human(elapsed(due, inputs.now));
            if inputs.now >= deadline {
                let why = format!(
                    "{late} after the stage's duration ended (analysis.no_data_timeout {})",
                    human(timeout as i64)
                );
                return give_up(inputs, record, stable, analysis, &why, headline);
            }
            let summary = format!(
                "hold {headline} {holding}: {}; the stage's duration is over: the rollout fails at {deadline} if there is still no data (analysis.no_data_timeout {})",
                analysis.message,
                human(timeout as i64)
            );
            hold(inputs, record, summary, analysis, Some(deadline))
        }
        Verdict::Inconclusive | Verdict::Pass => {
            let summary = format!("hold {headline} {holding}: {}", analysis.message);
            hold(inputs, record, summary, analysis, next_at)
        }
    }
}

/// Fails a rollout whose analysis never came to a verdict, saying `why`.
fn give_up(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    stable: &VersionId,
    mut analysis: Analysis,
    why: &str,
    headline: &str,
) -> RolloutOutcome {
    analysis.message = format!("{} {why}", analysis.message);
    fail(
        inputs,
        record.clone(),
        stable,
        analysis,
        format!("fail {headline}"),
    )
}

/// Holds the stage; writes only to clear an error count.
fn hold(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    summary: String,
    analysis: Analysis,
    next_at: Option<Timestamp>,
) -> RolloutOutcome {
    let mut steps = Vec::new();
    if record.consecutive_errors > 0 {
        steps.push(super::PlanStep::RecordRollout {
            model: inputs.model.name.clone(),
            record: RolloutRecord {
                consecutive_errors: 0,
                last_analysis: Some(analysis.clone()),
                ..record.clone()
            },
            summary: "metrics readable again".to_string(),
        });
    }
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "hold", summary, Some(analysis), next_at)),
    }
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
pub fn canary(inputs: &RolloutInputs, c: &CanaryStrategy, lookup: &mut Lookup) -> RolloutOutcome {
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
        return RolloutOutcome {
            steps,
            note: Some(note(
                inputs,
                "start",
                summary,
                None,
                Some(at(inputs.now, first.duration_secs)),
            )),
        };
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
    if elapsed(since, inputs.now) < MIN_WINDOW_SECS {
        return just_started(
            inputs,
            &format!("{name} canary at {}%", stage.traffic_percent),
            due,
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

/// Shadow: mirror, compare after the duration, promote when asked.
pub fn shadow(inputs: &RolloutInputs, s: &ShadowStrategy, lookup: &mut Lookup) -> RolloutOutcome {
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
        return RolloutOutcome {
            steps,
            note: Some(note(
                inputs,
                "start",
                summary,
                None,
                Some(at(inputs.now, secs)),
            )),
        };
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

/// A/B test: split, guard, then decide with a two-proportion z-test.
pub fn ab_test(inputs: &RolloutInputs, a: &AbTestStrategy, lookup: &mut Lookup) -> RolloutOutcome {
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
        return RolloutOutcome {
            steps,
            note: Some(note(
                inputs,
                "start",
                summary,
                None,
                Some(at(inputs.now, secs)),
            )),
        };
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
    if elapsed(since, inputs.now) < MIN_WINDOW_SECS {
        let mut out = just_started(inputs, &headline, due);
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

/// A shadow comparison or A/B test that already ended: a passed one
/// promotes when git asks for it or auto-promotion is on (once), else waits
/// for a person; `None` while it runs; a failed or stopped one does nothing.
fn finished(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    wanted: bool,
    auto_promote: bool,
    stable: &VersionId,
    reason: &str,
    outcome: &str,
) -> Option<RolloutOutcome> {
    let name = &inputs.model.name;
    let candidate = &record.version;
    match record.phase.as_str() {
        PROGRESSING => None,
        SUCCEEDED if wanted || (auto_promote && !record.promoted) => {
            let mut r = record.clone();
            r.promoted = !wanted;
            let steps = match promote(inputs, r, stable, reason) {
                Ok(steps) => steps,
                Err(refused) => return Some(refused),
            };
            let summary =
                format!("promote {name} version {candidate}: {outcome}; version {stable} archived");
            Some(RolloutOutcome {
                steps,
                note: Some(note(
                    inputs,
                    "promote",
                    summary,
                    record.last_analysis.clone(),
                    None,
                )),
            })
        }
        SUCCEEDED => {
            let summary = format!(
                "{name}: {outcome}; promote it by setting its stage to Production in {}",
                inputs.model.file
            );
            Some(RolloutOutcome {
                steps: Vec::new(),
                note: Some(note(
                    inputs,
                    "done",
                    summary,
                    record.last_analysis.clone(),
                    None,
                )),
            })
        }
        _ => Some(RolloutOutcome::default()),
    }
}
