//! Table-driven tests of the planner: one row per situation.

use super::*;
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{SourceFile, load};
use crate::render::describe_step;
use crate::state::{AppliedVersion, RegisteredModel, RegisteredVersion};

fn version_yaml(v: &str, stage: &str) -> String {
    format!(
        "    - version: {v}\n      stage: {stage}\n      source: s3://models/m/{v}\n      metrics: {{test_accuracy: 0.9}}\n"
    )
}

fn desired(versions: &[(&str, &str)]) -> Desired {
    let mut text = String::from(
        "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: fraud-detector\n  owner: risk\nspec:\n  versions:\n",
    );
    for (v, s) in versions {
        text.push_str(&version_yaml(v, s));
    }
    load_with_policy(&text, LENIENT)
}

/// A `default` policy that gates nothing, for tests about the stage graph.
const LENIENT: &str = "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  staging: &g {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}\n  production: *g\n  production_requires: {rollout_evidence: false, approvals: []}\n";

fn load_with_policy(model: &str, policy: &str) -> Desired {
    let mut files = vec![SourceFile {
        path: "models/fraud-detector.yaml".into(),
        content: Ok(model.as_bytes().to_vec()),
    }];
    if !policy.is_empty() {
        files.push(SourceFile {
            path: "policies/default.yaml".into(),
            content: Ok(policy.as_bytes().to_vec()),
        });
    }
    load(&files).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn meta(v: &str) -> VersionMetadata {
    VersionMetadata {
        source: format!("s3://models/m/{v}"),
        metrics: [("test_accuracy".to_string(), 0.9)].into(),
        ..Default::default()
    }
}

fn actual(versions: &[(&str, Stage)]) -> ActualState {
    let mut state = ActualState::default();
    let model = RegisteredModel {
        name: "fraud-detector".into(),
        owner: "risk".into(),
        description: None,
        versions: versions
            .iter()
            .map(|(v, s)| RegisteredVersion {
                version: v.parse().unwrap(),
                stage: *s,
                metadata: meta(v),
                rejected: None,
                signed_off_by: None,
                registered_at: Timestamp::UNIX_EPOCH,
                applied: Some(AppliedVersion {
                    stage: *s,
                    metadata_digest: meta(v).digest(),
                }),
            })
            .collect(),
        applied: None,
    };
    state.models.insert(model.name.clone(), model);
    state
}

fn plan_all(d: &Desired, a: &ActualState) -> Plan {
    plan(
        d,
        a,
        &Observations::default(),
        Timestamp::UNIX_EPOCH,
        &Scope::All,
    )
}

fn steps(p: &Plan) -> Vec<String> {
    p.steps().map(describe_step).collect()
}

#[test]
fn plans_follow_the_stage_graph() {
    use Stage::*;
    struct Case {
        name: &'static str,
        want: &'static [(&'static str, &'static str)],
        have: Option<&'static [(&'static str, Stage)]>,
        steps: &'static [&'static str],
        error: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "new model registers history, then promotes straight to its first Production",
            want: &[("10", "Archived"), ("11", "Production"), ("12", "Staging")],
            have: None,
            steps: &[
                "register model fraud-detector (owner risk)",
                "register version 10 as Development",
                "register version 11 as Development",
                "register version 12 as Development",
                "version 12: Development → Staging (promoted after validation)",
                "version 11: Development → Production (first Production version of the model: nothing to compare with)",
                "version 10: Development → Archived (registered as history)",
            ],
            error: None,
        },
        Case {
            name: "in sync: nothing to do",
            want: &[("11", "Production"), ("12", "Staging")],
            have: Some(&[("11", Production), ("12", Staging)]),
            steps: &[],
            error: None,
        },
        Case {
            name: "Staging → Production archives the old Production version",
            want: &[("11", "Archived"), ("12", "Production")],
            have: Some(&[("11", Production), ("12", Staging)]),
            steps: &[
                "version 12: Staging → Production (promoted to serve)",
                "version 11: Production → Archived (archived)",
            ],
            error: None,
        },
        Case {
            name: "old Production version dropped from git is still archived when replaced",
            want: &[("12", "Production")],
            have: Some(&[("11", Production), ("12", Staging)]),
            steps: &[
                "version 12: Staging → Production (promoted to serve)",
                "version 11: Production → Archived (replaced in Production by version 12)",
            ],
            error: None,
        },
        Case {
            name: "skipping Staging on a model that has served is refused",
            want: &[("11", "Production"), ("13", "Production")],
            have: Some(&[("11", Production)]),
            steps: &[],
            error: Some("versions 11 and 13 are both Production"),
        },
        Case {
            name: "a new version declared Production on a served model is refused",
            want: &[("11", "Archived"), ("13", "Production")],
            have: Some(&[("11", Production)]),
            steps: &[
                "register version 13 as Development",
                "version 11: Production → Archived (archived)",
            ],
            error: Some("cannot move Development → Production"),
        },
        Case {
            name: "a model that never served may go straight to Production",
            want: &[("1", "Production")],
            have: Some(&[("1", Development)]),
            steps: &[
                "version 1: Development → Production (first Production version of the model: nothing to compare with)",
            ],
            error: None,
        },
        Case {
            name: "Production cannot step back to Staging",
            want: &[("11", "Staging")],
            have: Some(&[("11", Production)]),
            steps: &[],
            error: Some("cannot move Production → Staging"),
        },
        Case {
            name: "nothing moves back to Development",
            want: &[("12", "Development")],
            have: Some(&[("12", Staging)]),
            steps: &[],
            error: Some("cannot move Staging → Development"),
        },
        Case {
            name: "an archived version can be restored (rollback through git)",
            want: &[("10", "Production"), ("11", "Archived")],
            have: Some(&[("10", Archived), ("11", Production)]),
            steps: &[
                "version 10: Archived → Production (restored to Production from the archive)",
                "version 11: Production → Archived (archived)",
            ],
            error: None,
        },
    ];
    for case in cases {
        let d = match std::panic::catch_unwind(|| desired(case.want)) {
            Ok(d) => d,
            Err(_) => {
                // Validation refused the manifest itself (the two-Production row).
                assert!(
                    case.error.is_some_and(|e| e.contains("both Production")),
                    "{}",
                    case.name
                );
                continue;
            }
        };
        let a = case.have.map(actual).unwrap_or_default();
        let p = plan_all(&d, &a);
        assert_eq!(steps(&p), case.steps, "{}", case.name);
        match case.error {
            None => assert!(p.errors.is_empty(), "{}: {:?}", case.name, p.errors),
            Some(e) => {
                assert_eq!(p.errors.len(), 1, "{}", case.name);
                assert!(
                    p.errors[0].message.contains(e),
                    "{}: {}",
                    case.name,
                    p.errors[0].message
                );
                assert_eq!(
                    p.errors[0]
                        .pointer
                        .as_deref()
                        .map(|s| s.ends_with("/stage")),
                    Some(true),
                    "{}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn summary_counts_adds_changes_and_archives() {
    let d = desired(&[
        ("11", "Archived"),
        ("12", "Production"),
        ("13", "Development"),
    ]);
    let a = actual(&[("11", Stage::Production), ("12", Stage::Staging)]);
    let p = plan_all(&d, &a);
    assert_eq!(
        p.summary,
        Summary {
            add: 1,
            change: 1,
            archive: 1,
            reject: 0
        }
    );
    assert_eq!(p.models[0].action, ModelAction::Update);
}

#[test]
fn metadata_changes_are_field_level_and_source_is_immutable() {
    let d = desired(&[("12", "Staging")]);
    let mut a = actual(&[("12", Stage::Staging)]);
    let v = &mut a.models.get_mut("fraud-detector").unwrap().versions[0];
    v.metadata.metrics.insert("test_accuracy".into(), 0.8);
    let p = plan_all(&d, &a);
    match p.steps().next() {
        Some(PlanStep::UpdateVersion { changes, .. }) => {
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].field, "metrics.test_accuracy");
        }
        other => panic!("expected an update, got {other:?}"),
    }

    let v = &mut a.models.get_mut("fraud-detector").unwrap().versions[0];
    v.metadata.source = "s3://elsewhere".into();
    let p = plan_all(&d, &a);
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0].message.contains("cannot change"));
}

#[test]
fn a_registered_versions_evidence_is_immutable_in_git() {
    // Row: the field git changes after registration, and whether that is an
    // error (evidence) or an update (descriptive).
    type Row = (&'static str, fn(&mut VersionMetadata), Option<&'static str>);
    let rows: [Row; 7] = [
        (
            "metrics",
            |m| {
                m.metrics.insert("test_accuracy".into(), 0.5);
            },
            Some("/spec/versions/0/metrics"),
        ),
        (
            "fairness",
            |m| {
                m.fairness.insert("gender".into(), Default::default());
            },
            Some("/spec/versions/0/fairness"),
        ),
        (
            "training_run_id",
            |m| m.training_run_id = Some("other".into()),
            Some("/spec/versions/0/training_run_id"),
        ),
        (
            "dataset_version",
            |m| m.dataset_version = Some("v9".into()),
            Some("/spec/versions/0/dataset_version"),
        ),
        (
            "source",
            |m| m.source = "s3://attacker/model".into(),
            Some("/spec/versions/0/source"),
        ),
        (
            "changelog",
            |m| m.changelog = Some("typo fixed".into()),
            None,
        ),
        (
            "tags",
            |m| {
                m.tags.insert("team".into(), "risk".into());
            },
            None,
        ),
    ];
    for (field, edit, error_at) in rows {
        let d = desired(&[("12", "Staging")]);
        let mut a = actual(&[("12", Stage::Staging)]);
        // The registry holds what was registered; git now declares otherwise:
        // edit the registry's copy the other way round, applied included.
        let v = &mut a.models.get_mut("fraud-detector").unwrap().versions[0];
        edit(&mut v.metadata);
        v.applied.as_mut().unwrap().metadata_digest = v.metadata.digest();
        let p = plan_all(&d, &a);
        match error_at {
            Some(pointer) => {
                assert_eq!(p.errors.len(), 1, "{field}: {:?}", p.errors);
                assert_eq!(p.errors[0].pointer.as_deref(), Some(pointer), "{field}");
                assert!(
                    p.errors[0]
                        .message
                        .contains("register a new version instead"),
                    "{field}: {}",
                    p.errors[0].message
                );
                assert!(steps(&p).is_empty(), "{field}: {:?}", steps(&p));
            }
            None => {
                assert!(p.errors.is_empty(), "{field}: {:?}", p.errors);
                assert_eq!(steps(&p), ["update version 12 (1 field)"], "{field}");
            }
        }
    }
}

#[test]
fn drift_is_reported_against_what_was_applied() {
    let d = desired(&[("11", "Production"), ("12", "Staging")]);
    let mut a = actual(&[("11", Stage::Production), ("12", Stage::Staging)]);
    // Someone moved 12 to Production by hand.
    let m = a.models.get_mut("fraud-detector").unwrap();
    m.versions[1].stage = Stage::Production;
    let p = plan_all(&d, &a);
    assert_eq!(p.outside_changes.len(), 1);
    assert_eq!(p.outside_changes[0].change.field, "stage");
    assert_eq!(p.outside_changes[0].change.before, Some("Staging".into()));
    assert_eq!(p.outside_changes[0].change.after, Some("Production".into()));
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        steps(&p),
        ["version 12: Production → Staging (reverting a change made outside git)"]
    );
}

#[test]
fn versions_missing_from_git_are_reported_not_deleted() {
    let d = desired(&[("12", "Staging")]);
    let a = actual(&[("11", Stage::Archived), ("12", Stage::Staging)]);
    let p = plan_all(&d, &a);
    assert!(steps(&p).is_empty());
    assert_eq!(p.unmanaged.len(), 1);
    assert!(p.unmanaged[0].contains("version 11"));
}

#[test]
fn scope_limits_the_plan() {
    let d = desired(&[("1", "Production")]);
    let p = plan(
        &d,
        &ActualState::default(),
        &Observations::default(),
        Timestamp::UNIX_EPOCH,
        &Scope::Only(Default::default()),
    );
    assert!(p.models.is_empty());
    assert!(!p.has_changes());
}

#[test]
fn planning_is_deterministic_and_fingerprints_the_state() {
    let d = desired(&[("11", "Production"), ("12", "Staging")]);
    let a = actual(&[("11", Stage::Production)]);
    let now = Timestamp::UNIX_EPOCH;
    let p1 = plan(&d, &a, &Observations::default(), now, &Scope::All);
    let p2 = plan(&d, &a, &Observations::default(), now, &Scope::All);
    assert_eq!(p1, p2);
    let b = actual(&[("11", Stage::Archived)]);
    assert_ne!(
        a.fingerprint_of(["fraud-detector"]),
        b.fingerprint_of(["fraud-detector"])
    );
}

#[test]
fn metadata_changed_outside_git_is_drift_and_is_put_back() {
    let d = desired(&[("12", "Staging")]);
    let mut a = actual(&[("12", Stage::Staging)]);
    let v = &mut a.models.get_mut("fraud-detector").unwrap().versions[0];
    v.metadata.changelog = Some("edited in the registry UI".into());
    let p = plan_all(&d, &a);
    assert_eq!(p.outside_changes.len(), 1);
    assert_eq!(p.outside_changes[0].change.field, "metadata");
    assert_eq!(steps(&p), ["update version 12 (1 field)"]);
}

#[test]
fn a_registry_that_numbers_versions_gets_the_numbers_it_will_assign() {
    let d = desired(&[
        ("11", "Production"),
        ("12", "Staging"),
        ("14", "Development"),
    ]);
    let mut a = actual(&[("11", Stage::Production)]);
    a.assigns_numbers = true;
    a.next_numbers.insert("fraud-detector".into(), 12);
    let p = plan_all(&d, &a);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(
        p.errors[0]
            .message
            .contains("will number the next one 13, not 14"),
        "{}",
        p.errors[0].message
    );
    assert_eq!(
        p.errors[0].pointer.as_deref(),
        Some("/spec/versions/2/version")
    );

    // A new model starts at 1.
    let d = desired(&[("1", "Production"), ("2", "Staging")]);
    let fresh = ActualState {
        assigns_numbers: true,
        ..Default::default()
    };
    assert!(plan_all(&d, &fresh).errors.is_empty());
    let d = desired(&[("10", "Production")]);
    assert_eq!(plan_all(&d, &fresh).errors.len(), 1);
}

#[test]
fn other_models_in_a_shared_registry_do_not_make_a_plan_stale() {
    let d = desired(&[("11", "Production")]);
    let mut a = actual(&[("11", Stage::Production)]);
    let p = plan_all(&d, &a);
    let mut other = a.models["fraud-detector"].clone();
    other.name = "churn-predictor".into();
    a.models.insert(other.name.clone(), other);
    assert_eq!(a.fingerprint_of(["fraud-detector"]), p.state_fingerprint);
    assert!(!p.observed.contains_key("churn-predictor"));
    a.models.get_mut("fraud-detector").unwrap().versions[0].stage = Stage::Archived;
    assert_ne!(a.fingerprint_of(["fraud-detector"]), p.state_fingerprint);
}

#[test]
fn declared_metrics_must_be_the_ones_the_training_run_logged() {
    let text = "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: fraud-detector\n  owner: risk\nspec:\n  versions:\n    - version: 1\n      stage: Staging\n      source: runs:/r1/model\n      training_run_id: r1\n      metrics: {test_accuracy: 0.9, test_auc: 0.8}\n";
    let files = [SourceFile {
        path: "models/fraud-detector.yaml".into(),
        content: Ok(text.as_bytes().to_vec()),
    }];
    let d = load(&files).unwrap();
    let empty = ActualState::default();
    assert_eq!(runs_to_verify(&d, &empty, &Scope::All), ["r1"]);

    let check = |logged: Option<SortedMap<String, f64>>| {
        let obs = Observations {
            run_metrics: [("r1".to_string(), logged)].into(),
            ..Default::default()
        };
        plan(&d, &empty, &obs, Timestamp::UNIX_EPOCH, &Scope::All).errors
    };
    let same: SortedMap<String, f64> = [
        ("test_accuracy".to_string(), 0.9),
        ("test_auc".to_string(), 0.8),
        ("loss".to_string(), 0.2),
    ]
    .into();
    assert!(check(Some(same)).is_empty());
    let differs = check(Some([("test_accuracy".to_string(), 0.87)].into()));
    let messages: Vec<&str> = differs.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("declared 0.9, but run r1 logged 0.87"),
        "{messages:?}"
    );
    assert!(
        messages[1].contains("run r1 logged no `test_auc`"),
        "{messages:?}"
    );
    assert_eq!(
        differs[0].pointer.as_deref(),
        Some("/spec/versions/0/metrics/test_accuracy")
    );
    let obs = Observations {
        run_metrics: [("r1".to_string(), None)].into(),
        ..Default::default()
    };
    let unknown = plan(&d, &empty, &obs, Timestamp::UNIX_EPOCH, &Scope::All);
    assert!(unknown.errors.is_empty());
    assert!(
        unknown.warnings[0].contains("training run r1 is not in the tracking server"),
        "{:?}",
        unknown.warnings
    );
}

#[test]
fn a_first_apply_cut_short_is_continued_by_the_next_plan() {
    let d = desired(&[("1", "Archived"), ("2", "Production"), ("3", "Staging")]);
    // The first apply registered two versions, then the server went away.
    let a = actual(&[("1", Stage::Development), ("2", Stage::Development)]);
    let p = plan_all(&d, &a);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        steps(&p),
        [
            "register version 3 as Development",
            "version 3: Development → Staging (promoted after validation)",
            "version 2: Development → Production (first Production version of the model: nothing to compare with)",
            "version 1: Development → Archived (archived)",
        ]
    );
}

/// A model whose versions carry everything the default policy checks; each
/// row is (version, stage, test_accuracy).
fn gated(versions: &[(&str, &str, f64)]) -> Desired {
    let mut text = String::from(
        "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: fraud-detector\n  owner: risk\nspec:\n  versions:\n",
    );
    for (v, stage, accuracy) in versions {
        text.push_str(&format!(
            "    - version: {v}\n      stage: {stage}\n      source: s3://models/m/{v}\n      \
             metrics: {{test_accuracy: {accuracy}, test_auc: 0.9, latency_p99_ms: 20}}\n      \
             fairness: {{gender: {{female: 0.9, male: 0.9}}}}\n      \
             signature: {{inputs: [{{name: amount, type: double}}], outputs: [{{name: score, type: double}}]}}\n      \
             dependencies: {{numpy: \"1.26.4\"}}\n      approved_by: risk\n"
        ));
    }
    load_with_policy(&text, "")
}

/// The registry state `gated` declares, every version in the given stage.
fn gated_actual(d: &Desired, stages: &[(&str, Stage)]) -> ActualState {
    let model = &d.models["fraud-detector"];
    let mut a = actual(&[]);
    let m = a.models.get_mut("fraud-detector").unwrap();
    for (v, stage) in stages {
        let dv = model.version(&v.parse().unwrap()).unwrap();
        m.versions.push(RegisteredVersion {
            version: dv.spec.version.clone(),
            stage: *stage,
            metadata: metadata_of(dv),
            rejected: None,
            signed_off_by: None,
            registered_at: Timestamp::UNIX_EPOCH,
            applied: None,
        });
    }
    a
}

#[test]
fn a_failed_gate_plans_a_rejection_not_the_move() {
    let d = gated(&[("1", "Production", 0.91), ("2", "Staging", 0.84)]);
    let a = gated_actual(&d, &[("1", Stage::Production), ("2", Stage::Development)]);
    let p = plan_all(&d, &a);
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    assert_eq!(
        steps(&p),
        ["version 2: mark Rejected, stays Development (gates refuse Development → Staging)"]
    );
    assert_eq!(p.summary.reject, 1);
    assert!(p.has_changes());
    assert!(
        p.policies.contains_key("default"),
        "the plan carries its policy"
    );
    let PlanStep::RejectVersion { gates: g, .. } = &p.models[0].steps[0] else {
        panic!("a rejection")
    };
    let failed: Vec<&str> = g
        .iter()
        .filter(|r| r.failed())
        .map(|r| r.check.as_str())
        .collect();
    assert_eq!(failed, ["metric.test_accuracy", "regression.test_accuracy"]);
}

#[test]
fn a_rejected_version_is_held_until_its_manifest_changes() {
    let d = gated(&[("1", "Production", 0.91), ("2", "Staging", 0.84)]);
    let mut a = gated_actual(&d, &[("1", Stage::Production), ("2", Stage::Development)]);
    let p = plan_all(&d, &a);
    let PlanStep::RejectVersion { key, .. } = &p.models[0].steps[0] else {
        panic!("a rejection")
    };
    a.models.get_mut("fraud-detector").unwrap().versions[1].rejected =
        Some(crate::state::Rejection {
            reason: "metric.test_accuracy: 0.84 (needs ≥ 0.85)".into(),
            at: Timestamp::UNIX_EPOCH,
            stage: Some(Stage::Staging),
            key: Some(key.clone()),
        });
    let held = plan_all(&d, &a);
    assert!(steps(&held).is_empty(), "{:?}", steps(&held));
    assert!(!held.has_changes());
    assert_eq!(held.rejected.len(), 1);
    assert_eq!(held.rejected[0].wanted, Stage::Staging);

    // A registered version's metrics cannot change: retraining is a new
    // version. A changed policy evaluates the move again, and it passes.
    let retouched = gated(&[("1", "Production", 0.91), ("2", "Staging", 0.93)]);
    let p = plan_all(&retouched, &a);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert_eq!(p.errors[0].rule, "immutable-evidence");
    let mut looser = d.clone();
    let policy = looser.policies.get_mut("default").unwrap();
    policy
        .staging
        .metrics
        .get_mut("test_accuracy")
        .unwrap()
        .threshold = Some(0.80);
    policy
        .staging
        .metrics
        .get_mut("test_accuracy")
        .unwrap()
        .max_regression = Some(0.1);
    let p = plan_all(&looser, &a);
    assert_eq!(
        steps(&p),
        ["version 2: Development → Staging (promoted after validation)"]
    );
    assert!(p.rejected.is_empty());
}

#[test]
fn a_refused_production_promotion_keeps_the_serving_version() {
    let d = gated(&[("1", "Archived", 0.91), ("2", "Production", 0.84)]);
    let a = gated_actual(&d, &[("1", Stage::Production), ("2", Stage::Staging)]);
    let p = plan_all(&d, &a);
    assert_eq!(
        steps(&p),
        ["version 2: mark Rejected, stays Staging (gates refuse Staging → Production)"]
    );
    assert!(
        p.warnings[0].contains("version 1 stays in Production"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn gates_are_checked_again_at_apply_time() {
    let d = gated(&[("1", "Archived", 0.91), ("2", "Production", 0.95)]);
    let mut a = gated_actual(&d, &[("1", Stage::Production), ("2", Stage::Staging)]);
    a.rollouts.insert(
        "fraud-detector".into(),
        crate::state::RolloutRecord {
            strategy: "shadow".into(),
            version: VersionId::Number(2),
            from_version: Some(VersionId::Number(1)),
            step: 0,
            step_started_at: Timestamp::UNIX_EPOCH,
            phase: "Succeeded".into(),
            deployment: String::new(),
            started_at: None,
            stages: Vec::new(),
            consecutive_errors: 0,
            last_analysis: None,
            result: None,
            promoted: false,
        },
    );
    let planned = plan_all(&d, &a);
    assert_eq!(
        steps(&planned),
        [
            "version 2: Staging → Production (promoted to serve)",
            "version 1: Production → Archived (archived)"
        ]
    );
    // Unchanged inputs: the same verdict.
    let mut same = planned.clone();
    assert!(
        recheck_gates(
            &mut same,
            &a,
            &Observations::default(),
            Timestamp::UNIX_EPOCH
        )
        .is_empty()
    );
    assert_eq!(steps(&same), steps(&planned));
    // The rollout record is gone by apply time: the move is refused, and the
    // serving version is not archived.
    a.rollouts.clear();
    let mut now = planned.clone();
    // The routing that would follow version 2 sends everything to version
    // 1, which stays in Production.
    now.models[0].steps.push(PlanStep::SetTraffic {
        model: "fraud-detector".into(),
        deployment: "fraud-detector".into(),
        before: None,
        traffic: crate::state::TrafficRecord::all_to("local", &VersionId::Number(2)),
        reason: "version 2 is Production".into(),
    });
    let notes = recheck_gates(
        &mut now,
        &a,
        &Observations::default(),
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(
        steps(&now),
        [
            "version 2: mark Rejected, stays Staging (gates refuse Staging → Production)",
            "route v1 100% on local (version 2 was refused Production at apply time)"
        ]
    );
    assert_eq!(now.summary.reject, 1);
    assert!(notes[0].contains("evidence.rollout"), "{notes:?}");
    assert_eq!(
        notes[1],
        "fraud-detector: all traffic goes to version 1, since version 2 was rejected"
    );
    assert!(notes[2].contains("stays in Production"), "{notes:?}");
}

#[test]
fn a_canary_refused_at_completion_hands_its_traffic_back_whatever_its_last_stage() {
    // Version 2's canary completes in this plan; by apply time its evidence
    // is gone and the move is refused. Whatever share version 2 serves
    // (its last stage, or all of it), every request goes back to version 1,
    // and the step is there even when the completion itself routed nothing.
    let d = gated(&[("1", "Archived", 0.91), ("2", "Production", 0.95)]);
    let mut a = gated_actual(&d, &[("1", Stage::Production), ("2", Stage::Staging)]);
    let record = crate::state::RolloutRecord {
        strategy: "canary".into(),
        version: VersionId::Number(2),
        from_version: Some(VersionId::Number(1)),
        step: 3,
        step_started_at: Timestamp::UNIX_EPOCH,
        phase: "Succeeded".into(),
        deployment: "fraud-canary".into(),
        started_at: None,
        stages: Vec::new(),
        consecutive_errors: 0,
        last_analysis: None,
        result: None,
        promoted: false,
    };
    let planned = {
        let mut with = a.clone();
        with.rollouts
            .insert("fraud-detector".into(), record.clone());
        plan_all(&d, &with)
    };
    // At apply time the record still shows the canary at its last stage,
    // not completed: no evidence.
    a.rollouts.insert(
        "fraud-detector".into(),
        crate::state::RolloutRecord {
            phase: "Progressing".into(),
            ..record
        },
    );
    // (served by version 2 now, the share the completion routes, what apply does)
    type Weights = &'static [(&'static str, u8)];
    let cases: [(Weights, Option<Weights>, &[&str]); 3] = [
        (
            &[("1", 50), ("2", 50)],
            Some(&[("2", 100)]),
            &["route v1 100% on local"],
        ),
        (&[("2", 100)], None, &["route v1 100% on local"]),
        (&[("1", 100)], None, &[]),
    ];
    for (serving, completion, routes) in cases {
        let weights = |w: Weights| crate::state::TrafficRecord {
            weights: w.iter().map(|(v, p)| (v.to_string(), *p)).collect(),
            ..crate::state::TrafficRecord::all_to("local", &VersionId::Number(1))
        };
        a.serving.insert("fraud-detector".into(), weights(serving));
        let mut now = planned.clone();
        if let Some(c) = completion {
            now.models[0].steps.push(PlanStep::SetTraffic {
                model: "fraud-detector".into(),
                deployment: "fraud-canary".into(),
                before: Some(weights(serving)),
                traffic: weights(c),
                reason: "canary completed".into(),
            });
        }
        recheck_gates(
            &mut now,
            &a,
            &Observations::default(),
            Timestamp::UNIX_EPOCH,
        );
        let routing: Vec<String> = steps(&now)
            .into_iter()
            .filter(|s| s.starts_with("route"))
            .map(|s| s.split(" (").next().unwrap_or("").to_string())
            .collect();
        assert_eq!(routing, routes, "serving {serving:?}");
        for step in &now.models[0].steps {
            if let PlanStep::SetTraffic {
                deployment,
                traffic,
                ..
            } = step
            {
                assert_eq!(deployment, "fraud-canary");
                assert_eq!(traffic.weights.get("2"), None, "{traffic:?}");
            }
        }
    }
}

#[test]
fn on_a_first_deploy_newer_versions_are_held_to_the_declared_production_version() {
    // Nothing registered yet: version 2 enters Production in this apply, and
    // version 3 regresses 0.02 against it.
    let d = gated(&[("2", "Production", 0.90), ("3", "Staging", 0.88)]);
    let p = plan_all(&d, &ActualState::default());
    let rejected: Vec<String> = steps(&p)
        .into_iter()
        .filter(|s| s.contains("Rejected"))
        .collect();
    assert_eq!(
        rejected,
        ["version 3: mark Rejected, stays Development (gates refuse Development → Staging)"]
    );
    let PlanStep::RejectVersion { gates: g, .. } = p.models[0]
        .steps
        .iter()
        .find(|s| matches!(s, PlanStep::RejectVersion { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    let regression = g
        .iter()
        .find(|r| r.check == "regression.test_accuracy")
        .unwrap();
    assert!(regression.failed());
    assert_eq!(regression.threshold, "≥ 0.89 (version 2: 0.9 − 0.01)");
}
