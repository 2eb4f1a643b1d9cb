//! One case per schema and semantic rule: the message, and the file, line and
//! column it points at. Each starts from the valid fixtures and breaks one thing.

use crate::common::{Repo, snapshot};
use crate::fixtures::{AB_TEST, CANARY, CHURN, CHURN_FILE, DEPLOY_FILE};

/// A repository holding the valid model and canary deployment.
fn valid() -> Repo {
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN).file(DEPLOY_FILE, CANARY);
    repo
}

/// A repository holding only the valid model, for errors that stop the
/// model file before the semantic rules (see
/// `a_deployment_is_not_blamed_for_its_invalid_model`).
fn model_only() -> Repo {
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN);
    repo
}

#[test]
fn fixtures_are_valid() {
    valid()
        .run(&["validate"])
        .code(0)
        .stdout_has("2 files valid: 1 model, 1 deployment, 1 policy.");
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN).file(DEPLOY_FILE, AB_TEST);
    repo.run(&["validate"]).code(0);
}

#[test]
fn model_name_must_be_domain_task() {
    let repo = valid();
    repo.edit(CHURN_FILE, "name: churn-predictor", "name: ChurnPredictor");
    let err = repo.rejects(
        "[REPO]/models/churn-predictor.yaml:4:9: error: model name `ChurnPredictor` must follow <domain>-<task>",
    );
    snapshot!(err);
}

#[test]
fn model_name_needs_two_words() {
    let repo = Repo::new();
    repo.file(
        CHURN_FILE,
        CHURN.replace("name: churn-predictor", "name: churn"),
    );
    repo.rejects("[REPO]/models/churn-predictor.yaml:4:9: error: model name `churn` must follow <domain>-<task>");
}

#[test]
fn duplicate_version() {
    let repo = valid();
    repo.edit(CHURN_FILE, "version: 2", "version: 1");
    let err = repo.rejects(
        "[REPO]/models/churn-predictor.yaml:12:16: error: version 1 is declared twice (entries 1 and 2)",
    );
    snapshot!(err);
}

#[test]
fn two_production_versions() {
    let repo = valid();
    repo.edit(CHURN_FILE, "stage: Staging", "stage: Production");
    let err = repo.rejects(
        "[REPO]/models/churn-predictor.yaml:13:14: error: versions 1 and 2 are both Production: at most one version of a model serves",
    );
    snapshot!(err);
}

#[test]
fn one_model_in_two_files() {
    let repo = valid();
    repo.file("models/churn-copy.yaml", CHURN);
    let err = repo.rejects(
        "[REPO]/models/churn-copy.yaml:4:9: error: model `churn-predictor` is defined in more than one file: also in models/churn-predictor.yaml",
    );
    assert!(
        err.contains("[REPO]/models/churn-predictor.yaml:4:9: error: model `churn-predictor` is defined in more than one file: also in models/churn-copy.yaml"),
        "{err}"
    );
    snapshot!(err);
}

#[test]
fn deployment_of_an_unknown_model() {
    let repo = valid();
    repo.edit(
        DEPLOY_FILE,
        "model: churn-predictor",
        "model: churn-predicter",
    );
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:6:10: error: model `churn-predicter` is not defined in models/; known models: churn-predictor",
    );
    snapshot!(err);
}

#[test]
fn deployment_of_an_unknown_version() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "model_version: 2", "model_version: 3");
    repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:9:20: error: model `churn-predictor` has no version 3 in models/churn-predictor.yaml",
    );
}

#[test]
fn ab_test_arm_of_an_unknown_version() {
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN)
        .file(DEPLOY_FILE, AB_TEST.replace("{version: 2,", "{version: 9,"));
    repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:10:26: error: model `churn-predictor` has no version 9 in models/churn-predictor.yaml",
    );
}

#[test]
fn canary_traffic_must_strictly_increase() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "traffic_percent: 50", "traffic_percent: 5");
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:13:26: error: traffic must strictly increase from stage to stage: 5% follows 10%",
    );
    snapshot!(err);
}

#[test]
fn canary_must_end_at_100() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "traffic_percent: 100", "traffic_percent: 80");
    repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:15:26: error: the last canary stage must send 100% of traffic, not 80%",
    );
}

#[test]

fn canary_traffic_over_100_is_reported_at_the_stage() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "traffic_percent: 100", "traffic_percent: 150");
    let err =
        repo.rejects("[REPO]/deployments/churn-predictor.yaml:15:26: error: `traffic_percent` ");
    assert!(err.contains("150") && err.contains("100"), "{err}");
    assert!(!err.contains("wrong form"), "{err}");
}

#[test]

fn unknown_field_inside_a_strategy_block_is_named() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "    stages:\n", "    stage:\n");
    let err = repo.rejects("[REPO]/deployments/churn-predictor.yaml:10:5: error: unknown field `stage`; did you mean `stages`?");
    assert!(err.contains("missing required field `stages`"), "{err}");
    assert!(!err.contains("wrong form"), "{err}");
}

#[test]

fn unknown_field_inside_a_signature_is_named() {
    let repo = model_only();
    repo.edit(
        CHURN_FILE,
        "training_run_id: run1\n",
        "training_run_id: run1\n      signature:\n        inputs:\n          - {name: amount, typ: double}\n",
    );
    let err = repo.rejects("[REPO]/models/churn-predictor.yaml:14:28: error: unknown field `typ`; did you mean `type`?");
    assert!(!err.contains("wrong form"), "{err}");
}

#[test]
fn errors_inside_a_strategy_block_are_refused() {
    // Whatever the message (see the ignored cases above), the file is refused.
    let repo = valid();
    repo.edit(DEPLOY_FILE, "traffic_percent: 100", "traffic_percent: 150");
    repo.rejects("[REPO]/deployments/churn-predictor.yaml:");
    let repo = valid();
    repo.edit(DEPLOY_FILE, "    stages:\n", "    stage:\n");
    repo.rejects("[REPO]/deployments/churn-predictor.yaml:");
}

#[test]
fn ab_test_traffic_must_sum_to_100() {
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN).file(
        DEPLOY_FILE,
        AB_TEST.replace(
            "{version: 2, traffic_percent: 50}",
            "{version: 2, traffic_percent: 40}",
        ),
    );
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:10:46: error: control and treatment traffic must sum to 100, not 90 (50 + 40)",
    );
    snapshot!(err);
}

#[test]
fn bad_duration() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "duration: 1h", "duration: 1x");
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:12:19: error: `1x` is not a duration: write a whole number and a unit (s, m, h, d or w), such as 30m, 1h or 7d",
    );
    snapshot!(err);
}

#[test]
fn zero_duration() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "duration: 1h", "duration: 0h");
    repo.rejects("[REPO]/deployments/churn-predictor.yaml:12:19: error: `0h` is zero");
}

#[test]
fn a_rollback_drill_needs_two_durations() {
    let repo = valid();
    repo.file(
        "policies/default.yaml",
        "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  production_requires:\n    rollback_ready: true\n    rollback_drill: {within: 7 days, sla: 0m}\n",
    );
    let err = repo.rejects(
        "[REPO]/policies/default.yaml:7:30: error: `7 days` is not a duration: write a whole number and a unit (s, m, h, d or w), such as 30m, 1h or 7d",
    );
    assert!(
        err.contains("[REPO]/policies/default.yaml:7:43: error: `0m` is zero: a duration must be longer than nothing"),
        "{err}"
    );
    repo.file(
        "policies/default.yaml",
        "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  production_requires:\n    rollback_drill: {within: 7d}\n",
    );
    repo.rejects("[REPO]/policies/default.yaml:6:5: error: missing required field `sla`");
}

#[test]
fn unknown_policy() {
    let repo = valid();
    repo.edit(CHURN_FILE, "spec:\n", "spec:\n  policy: strict\n");
    let err = repo.rejects(
        "[REPO]/models/churn-predictor.yaml:7:11: error: policy `strict` is not defined; known policies: default",
    );
    snapshot!(err);
}

#[test]
fn unpinned_dependency() {
    let repo = valid();
    repo.edit(
        CHURN_FILE,
        "training_run_id: run1\n",
        "training_run_id: run1\n      dependencies: {pandas: \">=1.5\", numpy: \"1.26.4\"}\n",
    );
    let err = repo.rejects(
        "[REPO]/models/churn-predictor.yaml:12:30: error: dependency `pandas: >=1.5` is not pinned: give the exact version, such as \"1.5.2\"",
    );
    snapshot!(err);
}

#[test]
fn non_finite_metric_and_fairness_score() {
    let repo = model_only();
    repo.edit(
        CHURN_FILE,
        "training_run_id: run1\n",
        "training_run_id: run1\n      metrics: {test_auc: .nan, test_accuracy: 0.9}\n      fairness:\n        gender: {female: .inf, male: 0.8}\n",
    );
    let err = repo.rejects("[REPO]/models/churn-predictor.yaml:12:27: error: metric `test_auc` must be a finite number, found .nan");
    assert!(
        err.contains("[REPO]/models/churn-predictor.yaml:14:26: error: fairness score of `gender` group `female` must be a finite number, found .inf"),
        "{err}"
    );
    snapshot!(err);
}

#[test]
fn signature_column_twice_and_unknown_type() {
    let repo = valid();
    repo.edit(
        CHURN_FILE,
        "training_run_id: run1\n",
        "training_run_id: run1
      signature:
        inputs:
          - {name: amount, type: double}
          - {name: amount, type: varchar}
",
    );
    let err = repo
        .rejects("[REPO]/models/churn-predictor.yaml:15:20: error: column `amount` appears twice");
    assert!(
        err.contains("[REPO]/models/churn-predictor.yaml:15:34: error: column type `varchar` is not an MLflow type; use one of boolean, integer, long, float, double, string, binary, datetime"),
        "{err}"
    );
    snapshot!(err);
}

#[test]
fn unknown_field_with_suggestion() {
    let repo = model_only();
    repo.edit(CHURN_FILE, "stage: Staging", "stge: Staging");
    let err = repo
        .rejects("[REPO]/models/churn-predictor.yaml:12:7: error: missing required field `stage`");
    assert!(
        err.contains("[REPO]/models/churn-predictor.yaml:13:")
            && err.contains(": error: unknown field `stge`; did you mean `stage`?"),
        "{err}"
    );
}

#[test]

fn unknown_field_points_at_the_key() {
    let repo = model_only();
    repo.edit(CHURN_FILE, "stage: Staging", "stge: Staging");
    repo.rejects("[REPO]/models/churn-predictor.yaml:13:7: error: unknown field `stge`; did you mean `stage`?");
}

#[test]
fn unknown_field_without_a_close_match_lists_the_fields() {
    let repo = model_only();
    repo.edit(
        CHURN_FILE,
        "  owner: ml-platform\n",
        "  owner: ml-platform\n  colour: blue\n",
    );
    let err = repo.rejects("[REPO]/models/churn-predictor.yaml:6:");
    assert!(
        err.contains(": error: unknown field `colour`; expected one of: name, owner, description"),
        "{err}"
    );
}

#[test]

fn a_deployment_is_not_blamed_for_its_invalid_model() {
    let repo = valid();
    repo.edit(CHURN_FILE, "stage: Staging", "stage: Prod");
    let err =
        repo.rejects("[REPO]/models/churn-predictor.yaml:13:14: error: `stage` must be one of");
    assert!(
        !err.contains("deployments/"),
        "only the model file is at fault:\n{err}"
    );
    assert!(err.ends_with("1 error in 2 files.\n"), "{err}");
}

#[test]
fn wrong_kind_for_the_folder() {
    let repo = valid();
    repo.file(DEPLOY_FILE, CHURN);
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:2:7: error: `kind: Model` in deployments/, which holds `kind: Deployment`; a Model belongs in models/",
    );
    snapshot!(err);
}

#[test]
fn missing_kind() {
    let repo = model_only();
    repo.edit(CHURN_FILE, "kind: Model\n", "");
    repo.rejects("[REPO]/models/churn-predictor.yaml:1:1: error: missing `kind`: files in models/ are `kind: Model`");
}

#[test]
fn wrong_api_version() {
    let repo = model_only();
    repo.edit(
        CHURN_FILE,
        "apiVersion: modelops/v1",
        "apiVersion: modelops/v2",
    );
    repo.rejects("[REPO]/models/churn-predictor.yaml:1:13: error: `apiVersion` must be one of modelops/v1, found modelops/v2");
}

#[test]
fn missing_required_field() {
    let repo = model_only();
    repo.edit(CHURN_FILE, "      source: runs:/run2/model\n", "");
    let err = repo
        .rejects("[REPO]/models/churn-predictor.yaml:12:7: error: missing required field `source`");
    snapshot!(err);
}

#[test]
fn unknown_stage() {
    let repo = model_only();
    repo.edit(CHURN_FILE, "stage: Staging", "stage: Prod");
    repo.rejects(
        "[REPO]/models/churn-predictor.yaml:13:14: error: `stage` must be one of Development, Staging, Production, Archived, found Prod",
    );
}

#[test]
fn version_zero() {
    let repo = model_only();
    repo.edit(CHURN_FILE, "version: 2", "version: 0");
    repo.rejects(
        "[REPO]/models/churn-predictor.yaml:12:16: error: `version` must be an integer of 1 or more or a semantic version such as 1.4.0, found 0",
    );
}

#[test]
fn no_strategy() {
    let repo = valid();
    let without: String = CANARY.lines().take(7).map(|l| format!("{l}\n")).collect();
    repo.file(DEPLOY_FILE, without);
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:5:1: error: no strategy: give exactly one of shadow, canary, ab_test or direct",
    );
    snapshot!(err);
}

#[test]
fn two_strategies() {
    let repo = valid();
    repo.file(DEPLOY_FILE, format!("{CANARY}  direct: {{}}\n"));
    repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:5:1: error: 2 strategies (canary, direct): give exactly one of shadow, canary, ab_test or direct",
    );
}

#[test]
fn unknown_serving_target() {
    let repo = valid();
    repo.edit(DEPLOY_FILE, "target: local", "target: kserve");
    let err = repo.rejects(
        "[REPO]/deployments/churn-predictor.yaml:7:11: error: serving target `kserve` is not in modelops.yaml serving.targets; known targets: local",
    );
    snapshot!(err);
}

#[test]
fn runs_source_must_match_training_run() {
    let repo = valid();
    repo.edit(CHURN_FILE, "training_run_id: run2", "training_run_id: run3");
    let err = repo.rejects(
        "[REPO]/models/churn-predictor.yaml:14:15: error: source names run `run2` but training_run_id is `run3`: a runs:/ source must come from the training run",
    );
    snapshot!(err);
}

#[test]
fn bad_config_is_reported_with_its_location() {
    let repo = valid();
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  state:\n    lock_timeout: soon\n",
    );
    repo.rejects("[REPO]/modelops.yaml:5:19: error: `soon` is not a duration");
}

#[test]
fn stage_aliases_must_be_ones_mlflow_accepts() {
    let repo = valid();
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  registry:\n    stage_aliases:\n      Production: latest\n      Canary: canary\n",
    );
    let err =
        repo.rejects("[REPO]/modelops.yaml:6:19: error: `latest` is not an alias MLflow accepts");
    assert!(
        err.contains("[REPO]/modelops.yaml:7:7: error: `Canary` has no alias: only Production and Staging are mirrored by aliases"),
        "{err}"
    );
}

/// An owner maps to exactly one GitHub identity: a team as org/team-slug,
/// or a login; an unknown key is a schema error at its place.
#[test]
fn owners_map_to_one_github_team_or_user() {
    let repo = valid();
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  owners:\n    risk-ml: {github_team: acme}\n    growth: {github_user: -bad-}\n    both: {github_team: acme/x, github_user: alice}\n    ok: {github_team: acme/risk-ml}\n",
    );
    let err = repo.rejects(
        "[REPO]/modelops.yaml:5:28: error: owner `risk-ml`: `acme` is not a team as org/team-slug (such as acme/risk-ml)",
    );
    for located in [
        "[REPO]/modelops.yaml:6:27: error: owner `growth`: `-bad-` is not a GitHub login",
        "[REPO]/modelops.yaml:7:5: error: owner `both`: give github_team or github_user, not both",
    ] {
        assert!(err.contains(located), "{located}\n{err}");
    }
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  owners:\n    risk-ml: {github_org: acme}\n",
    );
    repo.rejects("[REPO]/modelops.yaml:5:15: error: unknown field `github_org`");
}

/// Registries, serving targets and metrics providers take the fields of their
/// `type` only: another type's field, an unknown type or a missing one is an
/// error at its place, all reported at once.
#[test]
fn each_backend_type_takes_its_own_fields() {
    let repo = valid();
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  registry:\n    uri: http://mlflow:5000\n  serving:\n    targets:\n      edge:\n        type: local\n        config_dir: nginx\n      web:\n        type: nginx\n        config_dir: nginx\n        upstream_templat: \"127.0.0.1:90{version}\"\n      kube:\n        type: kserve\n      bare:\n        config_dir: nginx\n  metrics:\n    obs:\n      type: file\n      path: observations.yaml\n      url: http://prometheus:9090\n",
    );
    let err = repo.rejects(
        "[REPO]/modelops.yaml:10:9: error: unknown field `config_dir`; expected one of: type",
    );
    snapshot!(err);
}

/// A version key may be written as a number (`2:`), as YAML allows, inside
/// a serving target's `upstreams`.
#[test]
fn upstream_versions_may_be_unquoted_keys() {
    let repo = valid();
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  serving:\n    targets:\n      edge:\n        type: nginx\n        config_dir: nginx\n        upstreams:\n          churn-predictor: {2: \"127.0.0.1:9002\"}\n",
    );
    repo.run(&["validate"]).code(0);
}

#[test]
fn every_error_in_every_file_sorted_by_file_then_line() {
    let repo = Repo::new();
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  state:\n    lock_timeout: soon\n",
    )
    .file("models/a-empty.yaml", "")
    .file(
        CHURN_FILE,
        CHURN.replace("version: 2", "version: 1").replace(
            "training_run_id: run1\n",
            "training_run_id: run1\n      dependencies: {pandas: \">=1.5\"}\n",
        ),
    )
    .file(
        "models/fraud-detector.yaml",
        CHURN.replace("name: churn-predictor", "name: fraud_detector"),
    )
    .file(
        DEPLOY_FILE,
        CANARY
            .replace("target: local", "target: kserve")
            .replace("duration: 1h", "duration: 1x"),
    );
    let err = repo.run(&["validate"]).code(1).stderr();
    // Every error, in one run.
    assert!(err.ends_with("7 errors in 5 files.\n"), "{err}");
    // Sorted by file, then line.
    let keys: Vec<(String, usize)> = err
        .lines()
        .filter(|l| l.contains(": error: "))
        .map(|l| {
            let head = l.split(": error: ").next().unwrap_or_default();
            let mut parts = head.splitn(3, ':');
            let file = parts.next().unwrap_or_default().to_string();
            let line = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            (file, line)
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "{err}");
    assert_eq!(keys.len(), 7, "{err}");
    snapshot!(err);
}

#[test]
fn benchmark_endpoint_must_not_hold_credentials() {
    let repo = valid();
    repo.file(
        crate::fixtures::POLICY_FILE,
        "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  staging:\n    benchmark: {endpoint: \"http://bench:s3cret@127.0.0.1:8080/predict\", payload_file: p.json}\n  production:\n    benchmark: {endpoint: \"127.0.0.1:8080/predict\", payload_file: p.json}\n",
    );
    let err = repo.rejects("[REPO]/policies/default.yaml:6:27: error: the benchmark endpoint must not hold credentials (user:password@): policies are committed and copied into every plan");
    assert!(
        err.contains("[REPO]/policies/default.yaml:8:27: error: the benchmark endpoint must be an http:// or https:// URL"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}
