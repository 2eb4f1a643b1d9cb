//! Rollout decisions through the planner, with an injected clock and metric
//! answers: a canary from start to completion, a rollback, inconclusive
//! and unreadable metrics, a shadow and an A/B test.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::manifest::{Desired, SourceFile, Stage, VersionId, load};
use crate::reconcile::{Observations, Plan, PlanStep, Scope, metadata_of, metric_queries, plan};
use crate::render::describe_step;
use crate::state::metrics::{MetricQuery, Signal};
use crate::state::{ActualState, RegisteredModel, RegisteredVersion, RolloutRecord, TrafficRecord};

const NO_GATES: &str = "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  staging: &g {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}\n  production: *g\n  production_requires: {rollout_evidence: false, approvals: []}\n";

const CANARY: &str = "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: fraud-detector}\nspec:\n  model: fraud-detector\n  canary:\n    stages:\n      - {traffic_percent: 5, duration: 1h, rollback_if: {error_rate_increase: 0.5%, latency_p99_increase: 20ms}}\n      - {traffic_percent: 25, duration: 4h}\n      - {traffic_percent: 100, duration: 1h}\n";

const SHADOW: &str = "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: fraud-detector}\nspec:\n  model: fraud-detector\n  shadow:\n    shadow: {version: 3, traffic_percent: 50}\n    comparison: {metrics: [accuracy, latency_p99], duration: 1d}\n";

const AB: &str = "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: fraud-detector}\nspec:\n  model: fraud-detector\n  ab_test:\n    control: {version: 2, traffic_percent: 50}\n    treatment: {version: 3, traffic_percent: 50}\n    primary_metric: conversion_rate\n    guardrail_metrics: [error_rate]\n    duration: 7d\n    min_sample_size: 10000\n    sticky: {header: X-User-Id}\n";

fn t0() -> Timestamp {
    "2026-11-26T09:00:00Z".parse().unwrap()
}

fn after(secs: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_secs(secs)).unwrap()
}

/// Git: version 2 and 3 with the given stages, and `deployment`.
fn desired(stage_2: &str, stage_3: &str, deployment: &str) -> Desired {
    let model = format!(
        "apiVersion: modelops/v1\nkind: Model\nmetadata: {{name: fraud-detector, owner: risk}}\nspec:\n  versions:\n    - {{version: 2, stage: {stage_2}, source: s3://m/2}}\n    - {{version: 3, stage: {stage_3}, source: s3://m/3}}\n"
    );
    let files = [
        ("models/fraud-detector.yaml", model.as_str()),
        ("policies/default.yaml", NO_GATES),
        ("deployments/fraud-detector.yaml", deployment),
    ]
    .map(|(p, t)| SourceFile {
        path: p.into(),
        content: Ok(t.as_bytes().to_vec()),
    });
    load(&files).unwrap_or_else(|d| panic!("{d:#?}"))
}

/// The registry with version 2 in `stage_2` and 3 in `stage_3`.
fn registry(d: &Desired, stage_2: Stage, stage_3: Stage) -> ActualState {
    let m = &d.models["fraud-detector"];
    let version = |n: u64, stage| {
        let v = m.version(&VersionId::Number(n)).unwrap();
        RegisteredVersion {
            version: VersionId::Number(n),
            stage,
            metadata: metadata_of(v),
            rejected: None,
            signed_off_by: None,
            registered_at: Timestamp::UNIX_EPOCH,
            applied: None,
        }
    };
    let mut a = ActualState::default();
    a.models.insert(
        "fraud-detector".into(),
        RegisteredModel {
            name: "fraud-detector".into(),
            owner: "risk".into(),
            description: None,
            versions: vec![version(2, stage_2), version(3, stage_3)],
            applied: None,
        },
    );
    a
}

fn routed(a: &mut ActualState, weights: &[(&str, u8)]) {
    a.serving.insert(
        "fraud-detector".into(),
        TrafficRecord {
            target: "local".into(),
            weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            ..Default::default()
        },
    );
}

/// Answers for the window `(since, now]`: (version, signal, value).
fn answers(since: Timestamp, now: Timestamp, rows: &[(u64, Signal, f64)]) -> Observations {
    let mut metrics = BTreeMap::new();
    for (v, signal, value) in rows {
        metrics.insert(
            MetricQuery {
                model: "fraud-detector".into(),
                version: v.to_string(),
                signal: signal.clone(),
                start: since,
                end: now,
            },
            Ok(Some(*value)),
        );
    }
    Observations {
        metrics,
        ..Default::default()
    }
}

/// Healthy canary figures: 0.05% errors on both, p99 30 vs 35 ms.
fn healthy(since: Timestamp, now: Timestamp, canary_errors: f64) -> Observations {
    answers(
        since,
        now,
        &[
            (2, Signal::Requests, 100_000.0),
            (3, Signal::Requests, 12_400.0),
            (2, Signal::Errors, 50.0),
            (3, Signal::Errors, canary_errors),
            (2, Signal::LatencyP99Ms, 30.0),
            (3, Signal::LatencyP99Ms, 35.0),
        ],
    )
}

fn steps(p: &Plan) -> Vec<String> {
    p.steps().map(describe_step).collect()
}

fn note(p: &Plan) -> String {
    p.models[0]
        .rollout
        .as_ref()
        .map(|n| n.summary.clone())
        .unwrap_or_default()
}

fn running(step: usize, since: Timestamp, stages: &[(u8, u64)]) -> RolloutRecord {
    RolloutRecord {
        strategy: "canary".into(),
        version: VersionId::Number(3),
        from_version: Some(VersionId::Number(2)),
        step,
        step_started_at: since,
        phase: "Progressing".into(),
        deployment: "fraud-detector".into(),
        started_at: Some(t0()),
        stages: stages
            .iter()
            .map(|(p, d)| crate::state::RolloutStage {
                traffic_percent: *p,
                duration_secs: *d,
            })
            .collect(),
        consecutive_errors: 0,
        last_analysis: None,
        result: None,
        promoted: false,
    }
}

const STAGES: &[(u8, u64)] = &[(5, 3600), (25, 4 * 3600), (100, 3600)];

#[test]
fn a_canary_starts_when_git_promotes_and_the_registry_waits() {
    let d = desired("Archived", "Production", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 100)]);
    let p = plan(&d, &a, &Observations::default(), t0(), &Scope::All);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        steps(&p),
        [
            "route v2 95%, v3 5% on local (canary stage 1 of 3)",
            "record rollout: canary of version 3 started at 5%"
        ]
    );
    assert_eq!(
        note(&p),
        "start fraud-detector canary of version 3: 0% → 5% (stage 1 of 3)"
    );
}

#[test]
fn a_canary_holds_until_its_stage_has_lasted_then_advances() {
    let d = desired("Archived", "Production", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 95), ("3", 5)]);
    a.rollouts
        .insert("fraud-detector".into(), running(0, t0(), STAGES));

    let now = after(1800);
    let p = plan(&d, &a, &healthy(t0(), now, 6.0), now, &Scope::All);
    assert!(steps(&p).is_empty(), "{:?}", steps(&p));
    assert_eq!(
        note(&p),
        "hold fraud-detector canary at 5% (30m of 1h elapsed): error_rate_increase -0.002pp ≤ 0.5pp, latency_p99_increase 5ms ≤ 20ms over 12,400 requests"
    );
    assert_eq!(
        p.models[0].rollout.as_ref().unwrap().next_at,
        Some(after(3600))
    );

    let now = after(3600);
    let p = plan(&d, &a, &healthy(t0(), now, 6.0), now, &Scope::All);
    assert_eq!(
        steps(&p),
        [
            "route v2 75%, v3 25% on local (canary stage 2 of 3)",
            "record rollout: canary 5% → 25%"
        ]
    );
    assert!(
        note(&p)
            .starts_with("advance fraud-detector canary 5% → 25%: 1h elapsed; error_rate_increase"),
        "{}",
        note(&p)
    );
    let PlanStep::RecordRollout { record, .. } = &p.models[0].steps[1] else {
        panic!()
    };
    assert_eq!((record.step, record.step_started_at), (1, now));
}

#[test]
fn a_breached_condition_rolls_back_at_once_and_rejects_the_version() {
    let d = desired("Archived", "Production", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 95), ("3", 5)]);
    a.rollouts
        .insert("fraud-detector".into(), running(0, t0(), STAGES));
    // 1.2% errors on the canary against 0.05% on the stable version, before
    // the stage's hour is up: no waiting for the duration.
    let now = after(1200);
    let p = plan(&d, &a, &healthy(t0(), now, 149.0), now, &Scope::All);
    assert_eq!(
        steps(&p),
        [
            "route v2 100% on local (rollback of version 3)",
            "record rollout: roll back fraud-detector canary at 5%: error_rate_increase 1.152pp > 0.5pp over 12,400 requests",
            "version 3: mark Rejected, stays Staging (its canary failed: Staging → Production refused)"
        ]
    );
    assert!(
        note(&p).ends_with("all traffic to version 2; version 3 Rejected"),
        "{}",
        note(&p)
    );
    let PlanStep::RejectVersion { gates, key, .. } = &p.models[0].steps[2] else {
        panic!()
    };
    assert!(!key.is_empty());
    assert_eq!(gates[0].check, "canary.error_rate_increase");
    assert!(gates[0].failed());

    // Applied: the version is Rejected with that key, the record Failed; the
    // next plan neither retries nor re-routes.
    let v3 = &mut a.models.get_mut("fraud-detector").unwrap().versions[1];
    v3.rejected = Some(crate::state::Rejection {
        reason: "canary".into(),
        at: now,
        stage: Some(Stage::Production),
        key: Some(key.clone()),
    });
    a.rollouts.get_mut("fraud-detector").unwrap().phase = "Failed".into();
    routed(&mut a, &[("2", 100)]);
    let later = after(7200);
    let p = plan(&d, &a, &Observations::default(), later, &Scope::All);
    assert!(steps(&p).is_empty(), "{:?}", steps(&p));
    assert_eq!(p.rejected.len(), 1);
}

#[test]
fn too_few_requests_hold_the_stage_and_never_promote() {
    let d = desired("Archived", "Production", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 95), ("3", 5)]);
    a.rollouts
        .insert("fraud-detector".into(), running(0, t0(), STAGES));
    let now = after(5 * 3600);
    let mut obs = healthy(t0(), now, 1.0);
    let q = MetricQuery {
        model: "fraud-detector".into(),
        version: "3".into(),
        signal: Signal::Requests,
        start: t0(),
        end: now,
    };
    obs.metrics.insert(q, Ok(Some(420.0)));
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert!(steps(&p).is_empty(), "{:?}", steps(&p));
    assert!(
        note(&p).contains("version 3 served 420 requests, below the 1,000 needed to judge"),
        "{}",
        note(&p)
    );
}

#[test]
fn unreadable_metrics_hold_then_fail_at_the_error_limit() {
    let d = desired("Archived", "Production", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 95), ("3", 5)]);
    a.rollouts
        .insert("fraud-detector".into(), running(0, t0(), STAGES));
    let now = after(3600);
    let mut obs = Observations::default();
    for q in metric_queries(&d, &a, &obs, now, &Scope::All) {
        obs.metrics.insert(q, Err("connection refused".into()));
    }
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert_eq!(
        steps(&p),
        [
            "record rollout: analysis error 1 of 3: metrics unavailable: connection refused (requests, errors, latency_p99_ms of versions 2 and 3)"
        ]
    );
    a.rollouts
        .get_mut("fraud-detector")
        .unwrap()
        .consecutive_errors = 2;
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert_eq!(
        steps(&p)[0],
        "route v2 100% on local (rollback of version 3)"
    );
    assert!(
        steps(&p)[2].contains("mark Rejected"),
        "an unreachable source fails the rollout, never passes it"
    );
}

/// Version 2 Production, 3 in its canary's first stage (5%) since `t0`.
fn at_5_percent(d: &Desired) -> ActualState {
    let mut a = registry(d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 95), ("3", 5)]);
    a.rollouts
        .insert("fraud-detector".into(), running(0, t0(), STAGES));
    a
}

/// Every question the planner asks, answered "no data" (an empty window).
fn no_data(d: &Desired, a: &ActualState, now: Timestamp) -> Observations {
    let mut obs = Observations::default();
    for _ in 0..4 {
        for q in metric_queries(d, a, &obs, now, &Scope::All) {
            obs.metrics.insert(q, Ok(None));
        }
    }
    obs
}

/// Minutes into the stage, errors counted before, steps, what the note
/// says, and minutes until the next decision.
type NoDataRow<'a> = (i64, u32, &'a [&'a str], &'a str, Option<i64>);

#[test]
fn no_data_holds_without_counting_then_fails_after_the_timeout() {
    let d = desired("Archived", "Production", CANARY);
    let empty = "no data in the window (requests, errors, latency_p99_ms of versions 2 and 3)";
    // (minutes since the 1h stage started, errors counted before, steps,
    // what the note says, when the next decision is due)
    let rows: &[NoDataRow] = &[
        // Inside the stage: inconclusive, held, not counted.
        (
            15,
            0,
            &[],
            "hold fraud-detector canary at 5% (15m of 1h elapsed): no data in the window",
            Some(60),
        ),
        (
            45,
            0,
            &[],
            "(45m of 1h elapsed): no data in the window",
            Some(60),
        ),
        // An answer, even an empty one, ends a run of provider errors.
        (
            30,
            2,
            &["record rollout: metrics readable again"],
            "(30m of 1h elapsed): no data",
            Some(60),
        ),
        // The stage is over and still no data: held, and says until when.
        (
            60,
            0,
            &[],
            "the stage's duration is over: the rollout fails at 2026-11-26T11:00:00Z if there is still no data (analysis.no_data_timeout 1h)",
            Some(120),
        ),
        (
            105,
            0,
            &[],
            "(1h 45m of 1h elapsed): no data in the window",
            Some(120),
        ),
    ];
    for &(minutes, errors, want_steps, want_note, next) in rows {
        let mut a = at_5_percent(&d);
        a.rollouts
            .get_mut("fraud-detector")
            .unwrap()
            .consecutive_errors = errors;
        let now = after(minutes * 60);
        let p = plan(&d, &a, &no_data(&d, &a, now), now, &Scope::All);
        assert_eq!(steps(&p), want_steps, "{minutes}m");
        assert!(note(&p).contains(want_note), "{minutes}m: {}", note(&p));
        assert!(note(&p).contains(empty), "{minutes}m: {}", note(&p));
        assert!(!note(&p).contains("allowed"), "not counted: {}", note(&p));
        assert_eq!(
            p.models[0].rollout.as_ref().unwrap().next_at,
            next.map(|m| after(m * 60)),
            "{minutes}m"
        );
    }
    // analysis.no_data_timeout (1h) after the stage ended: failed with that
    // reason and Rejected, never promoted.
    let a = at_5_percent(&d);
    let now = after(2 * 3600);
    let p = plan(&d, &a, &no_data(&d, &a, now), now, &Scope::All);
    let s = steps(&p);
    assert_eq!(s[0], "route v2 100% on local (rollback of version 3)");
    assert!(s.iter().any(|s| s.contains("mark Rejected")), "{s:?}");
    assert!(
        !s.iter()
            .any(|s| s.starts_with("version 3: Staging → Production")),
        "{s:?}"
    );
    assert!(
        note(&p).starts_with(&format!(
            "fail fraud-detector canary at 5%: {empty} 1h after the stage's duration ended (analysis.no_data_timeout 1h); all traffic to version 2; version 3 Rejected"
        )),
        "{}",
        note(&p)
    );
}

#[test]
fn zero_is_data_an_empty_errors_answer_beside_requests_is_no_errors() {
    let d = desired("Archived", "Production", CANARY);
    let a = at_5_percent(&d);
    let now = after(3600);
    // Neither version ever answered 5xx: Prometheus has no such series, and
    // `sum` over none is an empty vector.
    let mut obs = no_data(&d, &a, now);
    for (v, signal, value) in [
        (2, Signal::Requests, 100_000.0),
        (3, Signal::Requests, 12_400.0),
        (2, Signal::LatencyP99Ms, 30.0),
        (3, Signal::LatencyP99Ms, 35.0),
    ] {
        obs.metrics
            .extend(answers(t0(), now, &[(v, signal, value)]).metrics);
    }
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert_eq!(
        note(&p),
        "advance fraud-detector canary 5% → 25%: 1h elapsed; error_rate_increase 0pp ≤ 0.5pp, latency_p99_increase 5ms ≤ 20ms over 12,400 requests"
    );
    // Without requests, an empty errors answer stays no data.
    obs.metrics.extend(
        no_data(&d, &a, now)
            .metrics
            .into_iter()
            .filter(|(q, _)| q.signal == Signal::Requests && q.version == "3"),
    );
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert!(
        note(&p).contains("no data in the window (requests, errors of version 3)"),
        "{}",
        note(&p)
    );
}
#[test]
fn the_last_stage_completing_moves_the_registry_with_the_traffic() {
    let d = desired("Archived", "Production", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("3", 100)]);
    let since = after(5 * 3600);
    a.rollouts
        .insert("fraud-detector".into(), running(2, since, STAGES));
    let now = after(6 * 3600);
    // No rollback_if on the last stage: only the request minimum applies. At
    // 100% the stable version serves nothing, so it is measured over the
    // earlier stages, from the rollout's start to this stage's.
    let mut obs = answers(since, now, &[(3, Signal::Requests, 99_000.0)]);
    obs.metrics
        .extend(answers(t0(), since, &[(2, Signal::Requests, 400_000.0)]).metrics);
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert_eq!(
        steps(&p),
        [
            "version 3: Staging → Production (canary completed 3 stages)",
            "version 2: Production → Archived (replaced in Production by version 3)",
            "record rollout: version 3 promoted: canary completed 3 stages"
        ]
    );
    // Afterwards: nothing to do.
    let mut done = registry(&d, Stage::Archived, Stage::Production);
    routed(&mut done, &[("3", 100)]);
    let p = plan(&d, &done, &Observations::default(), now, &Scope::All);
    assert!(steps(&p).is_empty(), "{:?}", steps(&p));
}

#[test]
fn a_canary_git_no_longer_asks_for_is_stopped() {
    let d = desired("Production", "Staging", CANARY);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 75), ("3", 25)]);
    a.rollouts
        .insert("fraud-detector".into(), running(1, t0(), STAGES));
    let p = plan(&d, &a, &Observations::default(), after(60), &Scope::All);
    assert_eq!(
        steps(&p),
        [
            "route v2 100% on local (canary of version 3 stopped)",
            "record rollout: git no longer asks for it"
        ]
    );
}

#[test]
fn a_shadow_mirrors_then_records_its_comparison_for_a_person() {
    let d = desired("Production", "Staging", SHADOW);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 100)]);
    let p = plan(&d, &a, &Observations::default(), t0(), &Scope::All);
    assert_eq!(
        steps(&p),
        [
            "route v2 100%, v3 mirrored 50% on local (shadow comparison)",
            "record rollout: shadow of version 3 started"
        ]
    );
    let PlanStep::RecordRollout { record, .. } = &p.models[0].steps[1] else {
        panic!()
    };
    a.rollouts.insert("fraud-detector".into(), record.clone());
    a.serving.get_mut("fraud-detector").unwrap().mirrors = [("3".to_string(), 50)].into();
    let now = after(86_400);
    let obs = answers(
        t0(),
        now,
        &[
            (2, Signal::Requests, 50_000.0),
            (3, Signal::Requests, 25_000.0),
            (2, Signal::LatencyP99Ms, 30.0),
            (3, Signal::LatencyP99Ms, 33.0),
            (2, Signal::Accuracy, 0.95),
            (3, Signal::Accuracy, 0.955),
        ],
    );
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert_eq!(
        steps(&p)[0],
        "route v2 100% on local (shadow comparison done)"
    );
    assert!(note(&p).contains("comparison passed"), "{}", note(&p));
    assert!(
        note(&p).contains(
            "promote it by setting its stage to Production in models/fraud-detector.yaml"
        )
    );
}

#[test]
fn an_ab_test_splits_sticky_and_decides_with_a_z_test() {
    let d = desired("Production", "Staging", AB);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 100)]);
    let p = plan(&d, &a, &Observations::default(), t0(), &Scope::All);
    let PlanStep::SetTraffic { traffic, .. } = &p.models[0].steps[0] else {
        panic!("{:?}", steps(&p))
    };
    assert_eq!(
        traffic.weights,
        BTreeMap::from([("2".to_string(), 50), ("3".to_string(), 50)])
    );
    assert_eq!(
        traffic.sticky.as_ref().and_then(|s| s.header.as_deref()),
        Some("X-User-Id")
    );
    let PlanStep::RecordRollout { record, .. } = &p.models[0].steps[1] else {
        panic!()
    };
    a.rollouts.insert("fraud-detector".into(), record.clone());
    a.serving.insert("fraud-detector".into(), traffic.clone());
    let now = after(7 * 86_400);
    let obs = answers(
        t0(),
        now,
        &[
            (2, Signal::Requests, 200_000.0),
            (3, Signal::Requests, 200_000.0),
            (2, Signal::Errors, 100.0),
            (3, Signal::Errors, 110.0),
            (2, Signal::Rate("conversion_rate".into()), 0.041),
            (3, Signal::Rate("conversion_rate".into()), 0.044),
        ],
    );
    let p = plan(&d, &a, &obs, now, &Scope::All);
    assert!(
        note(&p).contains("treatment wins, conversion_rate 4.1% → 4.4% (+0.300pp"),
        "{}",
        note(&p)
    );
    assert_eq!(steps(&p)[0], "route v2 100% on local (A/B test decided)");
    let PlanStep::RecordRollout { record, .. } = &p.models[0].steps[1] else {
        panic!()
    };
    assert_eq!(record.phase, "Succeeded");
    assert_eq!(record.result.as_ref().unwrap()["winner"], "treatment");
}

#[test]
fn the_first_analysis_waits_for_the_warmup_never_longer_than_the_stage() {
    // Seconds-long stages, as a live loop scraped every second runs them.
    let fast = CANARY
        .replace("duration: 1h, rollback_if", "duration: 20s, rollback_if")
        .replace(
            "  canary:\n",
            "  analysis: {warmup: 5s, min_requests: 100}\n  canary:\n",
        );
    let d = desired("Archived", "Production", &fast);
    let mut a = registry(&d, Stage::Production, Stage::Staging);
    routed(&mut a, &[("2", 95), ("3", 5)]);
    let stages = &[(5, 20), (25, 4 * 3600), (100, 3600)];
    a.rollouts
        .insert("fraud-detector".into(), running(0, t0(), stages));

    let p = plan(&d, &a, &healthy(t0(), after(4), 6.0), after(4), &Scope::All);
    assert_eq!(
        note(&p),
        "hold fraud-detector canary at 5%: just started; the first analysis runs after 5s"
    );
    let p = plan(&d, &a, &healthy(t0(), after(6), 6.0), after(6), &Scope::All);
    assert!(
        note(&p).starts_with("hold fraud-detector canary at 5% (6s of 20s elapsed): error_rate"),
        "{}",
        note(&p)
    );
    let p = plan(
        &d,
        &a,
        &healthy(t0(), after(20), 6.0),
        after(20),
        &Scope::All,
    );
    assert!(
        note(&p).starts_with("advance fraud-detector canary 5% → 25%"),
        "{}",
        note(&p)
    );

    // Without a warmup, the default minute is cut to a shorter stage.
    let d = desired("Archived", "Production", &fast.replace("warmup: 5s, ", ""));
    let p = plan(
        &d,
        &a,
        &healthy(t0(), after(19), 6.0),
        after(19),
        &Scope::All,
    );
    assert_eq!(
        note(&p),
        "hold fraud-detector canary at 5%: just started; the first analysis runs after 20s"
    );
    let p = plan(
        &d,
        &a,
        &healthy(t0(), after(20), 6.0),
        after(20),
        &Scope::All,
    );
    assert!(
        note(&p).starts_with("advance fraud-detector canary 5% → 25%"),
        "{}",
        note(&p)
    );
}
