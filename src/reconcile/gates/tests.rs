//! Table-driven tests of every gate: at, just above and just below each
//! threshold, missing and NaN values, empty fairness maps, first promotions.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::*;
use crate::manifest::model::{Signature, SignatureColumn};
use crate::manifest::policy::{Benchmark, Better, MetricGate};
use crate::manifest::sorted_map::SortedMap;
use crate::state::{RegisteredModel, RegisteredVersion, RolloutRecord};

fn col(name: &str, ty: &str) -> SignatureColumn {
    SignatureColumn {
        name: name.into(),
        column_type: ty.into(),
        shape: None,
        optional: None,
    }
}

fn opt(name: &str, ty: &str) -> SignatureColumn {
    SignatureColumn {
        optional: Some(true),
        ..col(name, ty)
    }
}

fn sig(inputs: Vec<SignatureColumn>, outputs: Vec<SignatureColumn>) -> Signature {
    Signature { inputs, outputs }
}

fn base_sig() -> Signature {
    sig(
        vec![col("amount", "double"), col("merchant", "string")],
        vec![col("score", "double")],
    )
}

/// A candidate that passes every default gate.
fn good() -> VersionMetadata {
    VersionMetadata {
        source: "runs:/r2/model".into(),
        training_run_id: Some("r2".into()),
        metrics: [
            ("test_accuracy".to_string(), 0.90),
            ("test_auc".to_string(), 0.85),
            ("latency_p99_ms".to_string(), 40.0),
        ]
        .into(),
        fairness: [(
            "gender".to_string(),
            SortedMap::from([("female".to_string(), 0.84), ("male".to_string(), 0.86)]),
        )]
        .into(),
        signature: Some(base_sig()),
        dependencies: [("scikit-learn".to_string(), "1.5.2".to_string())].into(),
        approved_by: Some("risk-ml".into()),
        ..Default::default()
    }
}

/// Registry state with version 1 in Production (baseline accuracy 0.91).
fn with_production(baseline: VersionMetadata) -> ActualState {
    let mut a = ActualState::default();
    a.models.insert(
        "fraud-detector".into(),
        RegisteredModel {
            name: "fraud-detector".into(),
            owner: "risk-ml".into(),
            description: None,
            versions: vec![RegisteredVersion {
                version: VersionId::Number(1),
                stage: Stage::Production,
                metadata: baseline,
                rejected: None,
                signed_off_by: None,
                registered_at: Timestamp::UNIX_EPOCH,
                applied: None,
            }],
            applied: None,
        },
    );
    a
}

fn baseline() -> VersionMetadata {
    let mut b = good();
    b.metrics.insert("test_accuracy".into(), 0.91);
    b
}

struct Case {
    policy: PolicySpec,
    meta: VersionMetadata,
    actual: ActualState,
    from: Stage,
    to: Stage,
    runs: BTreeMap<String, Option<SortedMap<String, f64>>>,
    observed: GateObservations,
}

impl Case {
    fn staging(meta: VersionMetadata) -> Case {
        Case {
            policy: PolicySpec::guidelines(),
            meta,
            actual: with_production(baseline()),
            from: Stage::Development,
            to: Stage::Staging,
            runs: BTreeMap::new(),
            observed: GateObservations::default(),
        }
    }

    fn run(&self) -> Vec<GateResult> {
        evaluate(&GateInputs {
            policy: &self.policy,
            candidate: Candidate {
                model: "fraud-detector",
                owner: "risk-ml",
                version: &VersionId::Number(2),
                metadata: &self.meta,
                from: self.from,
                to: self.to,
            },
            baseline: baseline_of(&self.actual, "fraud-detector", None),
            actual: &self.actual,
            run_metrics: &self.runs,
            observed: &self.observed,
            evidence: Evidence::Recorded,
            now: jiff::Timestamp::UNIX_EPOCH,
        })
    }
}

fn check<'r>(results: &'r [GateResult], name: &str) -> &'r GateResult {
    results
        .iter()
        .find(|g| g.check == name)
        .unwrap_or_else(|| panic!("no check {name} in {results:#?}"))
}

fn status(results: &[GateResult], name: &str) -> GateStatus {
    check(results, name).status
}

fn with_metric(name: &str, value: f64) -> VersionMetadata {
    let mut m = good();
    m.metrics.insert(name.into(), value);
    m
}

#[test]
fn a_good_candidate_passes_every_default_gate() {
    let results = Case::staging(good()).run();
    assert!(!any_failed(&results), "{results:#?}");
    let names: Vec<&str> = results.iter().map(|g| g.check.as_str()).collect();
    assert_eq!(
        names,
        [
            "metric.test_accuracy",
            "regression.test_accuracy",
            "metric.test_auc",
            "fairness.gender",
            "bias_regression.gender",
            "signature.valid",
            "signature.compatible",
            "latency.p99",
            "dependencies.pinned",
        ]
    );
}

#[test]
fn no_bias_regression_per_group_against_production() {
    use GateStatus::*;
    type Groups = &'static [(&'static str, f64)];
    // The Production version scores female 0.84, male 0.86; the default
    // tolerance is 0.01. Row: the candidate's gender scores, the verdict,
    // the value shown, and what the reason names.
    let rows: &[(Groups, GateStatus, &str, &str)] = &[
        (
            &[("female", 0.84), ("male", 0.86)],
            Pass,
            "worst female +0",
            "",
        ),
        (
            &[("female", 0.83), ("male", 0.90)],
            Pass,
            "worst female -0.01",
            "",
        ),
        (
            &[("female", 0.829), ("male", 0.90)],
            Fail,
            "worst female -0.011",
            "female 0.84 → 0.829",
        ),
        (
            &[("female", 0.95), ("male", 0.81)],
            Fail,
            "worst male -0.05",
            "male 0.86 → 0.81",
        ),
        (
            &[("female", 0.95)],
            Fail,
            "worst female +0.11",
            "not scored: male",
        ),
        (
            &[("female", f64::NAN), ("male", 0.9)],
            Fail,
            "worst female NaN",
            "female 0.84 → NaN",
        ),
    ];
    for (groups, want, value, reason) in rows {
        let mut meta = good();
        meta.fairness = [(
            "gender".to_string(),
            groups.iter().map(|(g, v)| (g.to_string(), *v)).collect(),
        )]
        .into();
        let results = Case::staging(meta).run();
        let g = check(&results, "bias_regression.gender");
        assert_eq!((g.status, g.value.as_str()), (*want, *value), "{groups:?}");
        assert!(g.threshold.contains("version 1 − 0.01"), "{}", g.threshold);
        if *want == Fail {
            let why = g.reason.as_deref().unwrap();
            assert!(why.contains(reason), "{groups:?}: {why}");
        }
    }
    // An attribute the baseline scores and the candidate drops fails.
    let mut meta = good();
    meta.fairness = [(
        "age".to_string(),
        SortedMap::from([("young".to_string(), 0.9)]),
    )]
    .into();
    let results = Case::staging(meta).run();
    assert_eq!(status(&results, "bias_regression.gender"), Fail);
    // No Production version, or one with no scores: skipped, with the reason.
    let mut case = Case::staging(good());
    case.actual = ActualState::default();
    let results = case.run();
    assert_eq!(status(&results, "bias_regression"), Skip);
    let mut bare = baseline();
    bare.fairness = SortedMap::new();
    let mut case = Case::staging(good());
    case.actual = with_production(bare);
    let results = case.run();
    let g = check(&results, "bias_regression");
    assert_eq!(g.status, Skip);
    assert!(g.reason.as_deref().unwrap().contains("records no fairness"));
    // A looser tolerance, and `null` turning it off.
    let mut meta = good();
    meta.fairness = [(
        "gender".to_string(),
        SortedMap::from([("female".to_string(), 0.80), ("male".to_string(), 0.86)]),
    )]
    .into();
    let mut case = Case::staging(meta);
    case.policy.staging.fairness_max_regression = Some(0.05);
    assert_eq!(status(&case.run(), "bias_regression.gender"), Pass);
    case.policy.staging.fairness_max_regression = None;
    assert!(
        case.run()
            .iter()
            .all(|g| !g.check.starts_with("bias_regression"))
    );
}

#[test]
fn metric_thresholds_at_above_below_missing_and_nan() {
    use GateStatus::*;
    let rows: &[(&str, Option<f64>, GateStatus, &str)] = &[
        ("test_accuracy", Some(0.85), Pass, "0.85"),
        ("test_accuracy", Some(0.850001), Pass, "0.850001"),
        ("test_accuracy", Some(0.849999), Fail, "0.849999"),
        ("test_accuracy", Some(0.84), Fail, "0.84"),
        ("test_accuracy", Some(f64::NAN), Fail, "NaN"),
        ("test_accuracy", None, Fail, "missing"),
        ("test_auc", Some(0.80), Pass, "0.8"),
        ("test_auc", Some(0.7999), Fail, "0.7999"),
    ];
    for (metric, value, want, shown) in rows {
        let mut meta = good();
        match value {
            Some(v) => {
                meta.metrics.insert(metric.to_string(), *v);
            }
            None => {
                meta.metrics = meta
                    .metrics
                    .iter()
                    .filter(|(k, _)| k != metric)
                    .map(|(k, v)| (k.clone(), *v))
                    .collect()
            }
        }
        let results = Case::staging(meta).run();
        let g = check(&results, &format!("metric.{metric}"));
        assert_eq!(g.status, *want, "{metric} = {value:?}: {g:?}");
        assert_eq!(g.value, *shown);
        if value.is_none() {
            assert!(g.reason.as_deref().unwrap().contains(metric), "{g:?}");
        }
    }
}

#[test]
fn regression_against_production_at_above_below_and_without_baseline() {
    use GateStatus::*;
    // Baseline 0.91, allowance 0.01: the bound is 0.90.
    let rows: &[(f64, GateStatus)] = &[
        (0.90, Pass),
        (0.9000001, Pass),
        (0.8999, Fail),
        (0.89, Fail),
        (f64::NAN, Fail),
    ];
    for (value, want) in rows {
        let results = Case::staging(with_metric("test_accuracy", *value)).run();
        let g = check(&results, "regression.test_accuracy");
        assert_eq!(g.status, *want, "{value}: {g:?}");
        assert_eq!(g.threshold, "≥ 0.9 (version 1: 0.91 − 0.01)");
    }
    // 0.89 passes the threshold but regresses 0.02 against Production.
    let results = Case::staging(with_metric("test_accuracy", 0.89)).run();
    assert_eq!(status(&results, "metric.test_accuracy"), Pass);
    assert_eq!(status(&results, "regression.test_accuracy"), Fail);

    // First promotion: no Production version, so regression is skipped, and says why.
    let mut case = Case::staging(with_metric("test_accuracy", 0.86));
    case.actual = ActualState::default();
    let results = case.run();
    let g = check(&results, "regression.test_accuracy");
    assert_eq!(g.status, Skip);
    assert!(g.reason.as_deref().unwrap().contains("first promotion"));
    assert!(!any_failed(&results));

    // A baseline that lacks the metric cannot be compared: a failure.
    let mut b = baseline();
    b.metrics = SortedMap::from([("test_auc".to_string(), 0.9)]);
    let mut case = Case::staging(good());
    case.actual = with_production(b);
    let g = check(&case.run(), "regression.test_accuracy").clone();
    assert_eq!(g.status, Fail);
    assert!(g.reason.unwrap().contains("records no `test_accuracy`"));
}

#[test]
fn lower_is_better_metrics_bound_from_above() {
    use GateStatus::*;
    let mut policy = PolicySpec::guidelines();
    policy.staging.metrics = BTreeMap::from([(
        "error_rate".to_string(),
        MetricGate {
            better: Better::Lower,
            threshold: Some(0.02),
            max_regression: Some(0.005),
        },
    )]);
    let mut b = baseline();
    b.metrics.insert("error_rate".into(), 0.010);
    for (value, threshold, regression) in [
        (0.02, Pass, Fail),
        (0.015, Pass, Pass),
        (0.0151, Pass, Fail),
        (0.0201, Fail, Fail),
        (0.001, Pass, Pass),
    ] {
        let mut case = Case::staging(with_metric("error_rate", value));
        case.policy = policy.clone();
        case.actual = with_production(b.clone());
        let results = case.run();
        assert_eq!(status(&results, "metric.error_rate"), threshold, "{value}");
        assert_eq!(
            status(&results, "regression.error_rate"),
            regression,
            "{value}"
        );
    }
}

#[test]
fn run_metrics_are_preferred_and_labelled() {
    let mut case = Case::staging(good());
    case.runs.insert(
        "r2".into(),
        Some(SortedMap::from([("test_accuracy".to_string(), 0.84)])),
    );
    let results = case.run();
    let g = check(&results, "metric.test_accuracy");
    assert_eq!(
        (g.status, g.value.as_str(), g.source.as_str()),
        (GateStatus::Fail, "0.84", "run r2")
    );
    // A metric the run did not log comes from the manifest.
    assert_eq!(check(&results, "metric.test_auc").source, "manifest");
    // An unknown run is named in the source.
    case.runs.insert("r2".into(), None);
    let results = case.run();
    assert!(
        check(&results, "metric.test_accuracy")
            .source
            .contains("not in the tracking server")
    );
}

#[test]
fn fairness_floor_per_group() {
    use GateStatus::*;
    type Groups = &'static [(&'static str, f64)];
    let rows: &[(Groups, GateStatus, &str)] = &[
        (
            &[("female", 0.80), ("male", 0.90)],
            Pass,
            "lowest female 0.8",
        ),
        (
            &[("female", 0.800001), ("male", 0.9)],
            Pass,
            "lowest female 0.800001",
        ),
        (&[("female", 0.79), ("male", 0.9)], Fail, "female 0.79"),
        (
            &[("female", 0.79), ("male", 0.7)],
            Fail,
            "female 0.79, male 0.7",
        ),
        (&[("female", f64::NAN), ("male", 0.9)], Fail, "female NaN"),
        (&[], Fail, "no groups"),
    ];
    for (groups, want, value) in rows {
        let mut meta = good();
        meta.fairness = [(
            "gender".to_string(),
            groups.iter().map(|(g, v)| (g.to_string(), *v)).collect(),
        )]
        .into();
        let results = Case::staging(meta).run();
        let g = check(&results, "fairness.gender");
        assert_eq!((g.status, g.value.as_str()), (*want, *value), "{groups:?}");
        if *want == Fail && !groups.is_empty() {
            assert!(g.reason.as_deref().unwrap().contains("`gender`"));
        }
    }
    // An empty fairness map is a failure, not a pass.
    let mut meta = good();
    meta.fairness = SortedMap::new();
    let results = Case::staging(meta).run();
    assert_eq!(status(&results, "fairness"), Fail);
    // Each attribute is its own check.
    let mut meta = good();
    meta.fairness.insert(
        "age_band".into(),
        SortedMap::from([("18-34".to_string(), 0.81), ("55+".to_string(), 0.78)]),
    );
    let results = Case::staging(meta).run();
    assert_eq!(status(&results, "fairness.gender"), Pass);
    assert_eq!(check(&results, "fairness.age_band").value, "55+ 0.78");
}

#[test]
fn signature_compatibility_with_production() {
    use GateStatus::*;
    let rows: Vec<(Signature, GateStatus, &str)> = vec![
        (base_sig(), Pass, "unchanged"),
        (
            sig(
                vec![col("amount", "double"), col("merchant", "string")],
                vec![col("score", "double"), col("label", "string")],
            ),
            Pass,
            "compatible: adds output `label`",
        ),
        (
            sig(
                vec![
                    col("amount", "double"),
                    col("merchant", "string"),
                    opt("device", "boolean"),
                ],
                vec![col("score", "double")],
            ),
            Pass,
            "compatible: adds optional input `device`",
        ),
        (
            sig(vec![col("amount", "double")], vec![col("score", "double")]),
            Fail,
            "removes input `merchant`",
        ),
        (
            sig(
                vec![col("amount", "double"), col("merchant_id", "string")],
                vec![col("score", "double")],
            ),
            Fail,
            "input `merchant` renamed to `merchant_id`",
        ),
        (
            sig(
                vec![col("amount", "float"), col("merchant", "string")],
                vec![col("score", "double")],
            ),
            Fail,
            "input `amount` changes type double → float",
        ),
        (
            sig(
                vec![
                    col("amount", "double"),
                    col("merchant", "string"),
                    col("device", "boolean"),
                ],
                vec![col("score", "double")],
            ),
            Fail,
            "adds required input `device`",
        ),
        (
            sig(
                vec![col("amount", "double"), col("merchant", "string")],
                vec![],
            ),
            Fail,
            "removes output `score`",
        ),
    ];
    for (new, want, value) in rows {
        let mut meta = good();
        meta.signature = Some(new.clone());
        let results = Case::staging(meta).run();
        let g = check(&results, "signature.compatible");
        assert_eq!((g.status, g.value.as_str()), (want, value), "{new:?}");
    }
    // The policy may allow breaking changes; they are still shown.
    let mut case = Case::staging(good());
    case.meta.signature = Some(sig(
        vec![col("amount", "double")],
        vec![col("score", "double")],
    ));
    case.policy.staging.signature.allow_breaking_changes = true;
    let g = check(&case.run(), "signature.compatible").clone();
    assert_eq!(
        (g.status, g.value.as_str()),
        (Pass, "breaking: removes input `merchant`")
    );
    // No baseline, or a baseline without a signature: skipped with the reason.
    let mut case = Case::staging(good());
    case.actual = ActualState::default();
    assert_eq!(status(&case.run(), "signature.compatible"), Skip);
    let mut b = baseline();
    b.signature = None;
    let mut case = Case::staging(good());
    case.actual = with_production(b);
    let g = check(&case.run(), "signature.compatible").clone();
    assert_eq!(g.status, Skip);
    assert!(g.reason.unwrap().contains("declares no signature"));
}

#[test]
fn signature_must_be_declared_and_well_formed() {
    use GateStatus::*;
    let mut meta = good();
    meta.signature = None;
    let results = Case::staging(meta.clone()).run();
    assert_eq!(check(&results, "signature.valid").value, "none declared");
    assert_eq!(status(&results, "signature.valid"), Fail);
    // Not required: no signature checks at all.
    let mut case = Case::staging(meta);
    case.policy.staging.signature.required = false;
    assert!(case.run().iter().all(|g| !g.check.starts_with("signature")));
    // Malformed: duplicate, unknown type, no inputs.
    for (s, problem) in [
        (
            sig(vec![col("a", "double"), col("a", "double")], vec![]),
            "input `a` twice",
        ),
        (
            sig(vec![col("a", "decimal")], vec![]),
            "input `a` has unknown type `decimal`",
        ),
        (sig(vec![], vec![col("score", "double")]), "no inputs"),
    ] {
        let mut meta = good();
        meta.signature = Some(s);
        let results = Case::staging(meta).run();
        let g = check(&results, "signature.valid");
        assert_eq!(g.status, Fail);
        assert!(g.value.contains(problem), "{g:?}");
    }
}

#[test]
fn declared_signature_against_the_logged_model() {
    use GateStatus::*;
    let key = ("fraud-detector".to_string(), VersionId::Number(2));
    let rows: Vec<(Result<LoggedSignature, String>, GateStatus, &str)> = vec![
        (Ok(LoggedSignature::Found(base_sig())), Pass, "matches"),
        (
            Ok(LoggedSignature::Found(sig(
                vec![col("amount", "float"), col("merchant", "string")],
                vec![col("score", "double")],
            ))),
            Fail,
            "input `amount` is double in git, float in the logged model",
        ),
        (
            Ok(LoggedSignature::Found(sig(
                vec![col("amount", "double")],
                vec![col("score", "double")],
            ))),
            Fail,
            "input `merchant` is not in the logged model",
        ),
        (
            Ok(LoggedSignature::NotLogged(
                "no MLmodel at runs:/r2/model".into(),
            )),
            Skip,
            "not logged",
        ),
        (Err("HTTP 500".into()), Fail, "unreadable"),
    ];
    for (logged, want, value) in rows {
        let mut case = Case::staging(good());
        case.observed.logged_signatures.insert(key.clone(), logged);
        let results = case.run();
        let g = check(&results, "signature.logged");
        assert_eq!((g.status, g.value.as_str()), (want, value));
    }
    // A registry without artifacts observes nothing: no check.
    assert!(
        Case::staging(good())
            .run()
            .iter()
            .all(|g| g.check != "signature.logged")
    );
}

#[test]
fn latency_declared_or_benchmarked() {
    use GateStatus::*;
    for (p99, want) in [(100.0, Pass), (99.9, Pass), (100.1, Fail), (f64::NAN, Fail)] {
        let results = Case::staging(with_metric("latency_p99_ms", p99)).run();
        let g = check(&results, "latency.p99");
        assert_eq!(g.status, want, "{p99}");
        assert!(g.source.starts_with("declared, not measured"), "{g:?}");
    }
    let mut meta = good();
    meta.metrics = SortedMap::from([
        ("test_accuracy".to_string(), 0.9),
        ("test_auc".to_string(), 0.9),
    ]);
    let g = check(&Case::staging(meta).run(), "latency.p99").clone();
    assert_eq!(g.status, Fail);
    assert!(g.reason.unwrap().contains("no `latency_p99_ms` declared"));

    let key = ("fraud-detector".to_string(), VersionId::Number(2));
    let report = |p99: f64, failed: u32| LatencyReport {
        requests: 200,
        failed,
        p50_ms: 10.0,
        p95_ms: 20.0,
        p99_ms: p99,
        first_error: (failed > 0).then(|| "HTTP 503".to_string()),
    };
    let rows: Vec<(Option<Result<LatencyReport, String>>, GateStatus)> = vec![
        (Some(Ok(report(100.0, 0))), Pass),
        (Some(Ok(report(100.5, 0))), Fail),
        (Some(Ok(report(50.0, 3))), Fail),
        (
            Some(Err("benchmark of http://x: all 200 requests failed".into())),
            Fail,
        ),
        (None, Fail),
    ];
    for (measured, want) in rows {
        let mut case = Case::staging(good());
        case.policy.staging.benchmark = Some(Benchmark {
            endpoint: "http://127.0.0.1:1/predict".into(),
            payload_file: "payload.json".into(),
            requests: 200,
            concurrency: 4,
        });
        if let Some(m) = measured.clone() {
            case.observed.benchmarks.insert(key.clone(), m);
        }
        let results = case.run();
        let g = check(&results, "latency.p99");
        assert_eq!(g.status, want, "{measured:?}");
        assert!(g.source.starts_with("benchmark"), "{g:?}");
        if let Some(Ok(r)) = &measured
            && r.failed > 0
        {
            assert!(
                g.reason
                    .as_deref()
                    .unwrap()
                    .contains("3 of 200 requests failed; first: HTTP 503")
            );
        }
    }
}

#[test]
fn dependencies_must_be_declared_and_pinned() {
    use GateStatus::*;
    for (deps, want) in [
        (vec![("numpy", "1.26.4")], Pass),
        (vec![("numpy", "==1.26.4")], Pass),
        (vec![("numpy", ">=1.26")], Fail),
        (vec![], Fail),
    ] {
        let mut meta = good();
        meta.dependencies = deps
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(
            status(&Case::staging(meta).run(), "dependencies.pinned"),
            want,
            "{deps:?}"
        );
    }
}

#[test]
fn production_needs_evidence_and_the_owners_sign_off() {
    use GateStatus::*;
    let rollout = |version: u64, phase: &str| RolloutRecord {
        strategy: "canary".into(),
        version: VersionId::Number(version),
        from_version: Some(VersionId::Number(1)),
        step: 3,
        step_started_at: Timestamp::UNIX_EPOCH,
        phase: phase.into(),
        deployment: String::new(),
        started_at: None,
        stages: Vec::new(),
        consecutive_errors: 0,
        last_analysis: None,
        result: None,
        promoted: false,
    };
    let production = |record: Option<RolloutRecord>, approved: Option<&str>| {
        let mut case = Case::staging(good());
        case.from = Stage::Staging;
        case.to = Stage::Production;
        case.meta.approved_by = approved.map(str::to_string);
        if let Some(r) = record {
            case.actual.rollouts.insert("fraud-detector".into(), r);
        }
        case
    };
    let rows: Vec<(Option<RolloutRecord>, GateStatus, &str)> = vec![
        (Some(rollout(2, "Succeeded")), Pass, "canary succeeded"),
        (Some(rollout(2, "Progressing")), Fail, "canary Progressing"),
        (Some(rollout(3, "Succeeded")), Fail, "none recorded"),
        (None, Fail, "none recorded"),
    ];
    for (record, want, value) in rows {
        let results = production(record, Some("risk-ml")).run();
        let g = check(&results, "evidence.rollout");
        assert_eq!((g.status, g.value.as_str()), (want, value));
    }
    // Waived per model.
    let mut case = production(None, Some("risk-ml"));
    case.policy.production_requires.evidence_waived_for = vec!["fraud-detector".into()];
    assert_eq!(status(&case.run(), "evidence.rollout"), Skip);
    // A first deploy (Development → Production) has nothing to compare with.
    let mut case = production(None, Some("risk-ml"));
    case.from = Stage::Development;
    assert_eq!(status(&case.run(), "evidence.rollout"), Skip);
    // Approvals: the owner must be among those who signed off.
    for (approved, want) in [
        (Some("risk-ml"), Pass),
        (Some("alice, risk-ml"), Pass),
        (Some("alice"), Fail),
        (None, Fail),
    ] {
        let results = production(Some(rollout(2, "Succeeded")), approved).run();
        let g = check(&results, "approval.owner");
        assert_eq!(g.status, want, "{approved:?}");
        assert_eq!(g.threshold, "signed off by the owner, risk-ml");
    }
    // Staging needs neither.
    let results = Case::staging(good()).run();
    assert!(
        results
            .iter()
            .all(|g| !g.check.starts_with("evidence") && !g.check.starts_with("approval"))
    );
}

#[test]
fn moves_out_of_service_are_not_gated() {
    for to in [Stage::Archived, Stage::Development] {
        let mut case = Case::staging(with_metric("test_accuracy", 0.1));
        case.to = to;
        assert!(case.run().is_empty());
    }
}

#[test]
fn the_rejection_key_changes_with_the_manifest_entry_the_stage_and_the_policy() {
    let policy = PolicySpec::guidelines();
    let k = rejection_key(&good(), Stage::Staging, &policy);
    assert_eq!(k, rejection_key(&good(), Stage::Staging, &policy));
    assert_ne!(
        k,
        rejection_key(&with_metric("test_accuracy", 0.86), Stage::Staging, &policy)
    );
    assert_ne!(k, rejection_key(&good(), Stage::Production, &policy));
    let mut looser = policy.clone();
    looser.staging.fairness_min = Some(0.7);
    assert_ne!(k, rejection_key(&good(), Stage::Staging, &looser));
}

#[test]
fn numbers_are_shown_as_people_write_them() {
    for (x, s) in [
        (0.85, "0.85"),
        (0.9000000000000001, "0.9"),
        (100.0, "100"),
        (-0.0, "0"),
        (1.5e-7, "0"),
        (f64::NAN, "NaN"),
    ] {
        assert_eq!(num(x), s, "{x}");
    }
}

fn production_case(policy: PolicySpec) -> Case {
    Case {
        policy,
        from: Stage::Staging,
        to: Stage::Production,
        ..Case::staging(good())
    }
}

#[test]
fn the_rollback_gates_are_asked_for_by_the_policy_and_only_into_production() {
    let mut policy = PolicySpec::guidelines();
    let none: Vec<String> = production_case(policy.clone())
        .run()
        .iter()
        .map(|g| g.check.clone())
        .filter(|c| c.starts_with("rollback."))
        .collect();
    assert!(none.is_empty(), "{none:?}");
    policy.production_requires.rollback_ready = true;
    policy.production_requires.rollback_drill = Some(crate::manifest::policy::DrillRequirement {
        within: crate::manifest::common::DurationSpec("7d".into()),
        sla: crate::manifest::common::DurationSpec("5m".into()),
    });
    let checks = |case: &Case| -> Vec<String> {
        case.run()
            .iter()
            .map(|g| g.check.clone())
            .filter(|c| c.starts_with("rollback."))
            .collect()
    };
    let production = production_case(policy.clone());
    assert_eq!(checks(&production), ["rollback.ready", "rollback.drilled"]);
    let mut staging = production_case(policy);
    staging.to = Stage::Staging;
    assert!(checks(&staging).is_empty());
}
