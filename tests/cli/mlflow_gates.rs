//! Validation gates against a real MLflow server: the metrics come from the
//! training runs MLflow holds, the declared signature is compared with the
//! MLmodel logged in the run's artifacts, and a rejection is a
//! `modelops.rejected` tag that the next plan reads back and honours.

use std::path::PathBuf;

use modelops::backend::mlflow::client::Client;
use modelops::backend::mlflow::request;
use serde_json::{Value, json};

use crate::e2e::servers::{mlflow, mlflow_post, mlflow_serial, unique};

/// A training run that logged `metrics` and an MLmodel whose input
/// `amount` has type `amount_type`, as a client logging to the server's local
/// artifact root leaves it. Returns the run id.
fn training_run(client: &Client, metrics: &[(&str, f64)], amount_type: &str) -> String {
    let experiment = mlflow_post(
        client,
        "experiments/create",
        json!({"name": unique("e2e-gates")}),
    );
    let run = mlflow_post(
        client,
        "runs/create",
        json!({"experiment_id": experiment["experiment_id"], "start_time": 0}),
    );
    let info = &run["run"]["info"];
    let run_id = info["run_id"].as_str().expect("run id").to_string();
    let metrics: Vec<Value> = metrics
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v, "timestamp": 0, "step": 0}))
        .collect();
    mlflow_post(
        client,
        "runs/log-batch",
        json!({"run_id": run_id, "metrics": metrics}),
    );
    let uri = info["artifact_uri"].as_str().expect("artifact URI");
    let dir = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri)).join("model");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let mlmodel = format!(
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\nmlflow_version: 3.17.2\nsignature:\n  inputs: '[{{\"type\": \"{amount_type}\", \"name\": \"amount\", \"required\": true}}, {{\"type\": \"string\", \"name\": \"merchant\", \"required\": true}}]'\n  outputs: '[{{\"type\": \"double\", \"name\": \"score\", \"required\": true}}]'\n  params: null\n"
    );
    std::fs::write(dir.join("MLmodel"), mlmodel).expect("MLmodel");
    run_id
}

fn version(v: u64, stage: &str, run: &str, accuracy: f64) -> String {
    format!(
        "    - version: {v}
      stage: {stage}
      source: runs:/{run}/model
      training_run_id: {run}
      metrics: {{test_accuracy: {accuracy}, test_auc: 0.9, latency_p99_ms: 20}}
      fairness: {{gender: {{female: 0.88, male: 0.9}}}}
      signature:
        inputs: [{{name: amount, type: double}}, {{name: merchant, type: string}}]
        outputs: [{{name: score, type: double}}]
      dependencies: {{scikit-learn: \"1.5.2\"}}
      approved_by: risk-ml
"
    )
}

#[test]
fn gates_read_mlflow_runs_and_logged_models_and_rejections_hold() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let good = training_run(
        &client,
        &[
            ("test_accuracy", 0.91),
            ("test_auc", 0.9),
            ("latency_p99_ms", 20.0),
        ],
        "double",
    );
    let bad = training_run(
        &client,
        &[
            ("test_accuracy", 0.84),
            ("test_auc", 0.9),
            ("latency_p99_ms", 20.0),
        ],
        "float",
    );
    let name = format!("fraud-detector-{}", &unique("g")[2..].replace('-', ""));
    let manifest = format!(
        "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: {name}\n  owner: risk-ml\nspec:\n  versions:\n{}{}",
        version(1, "Production", &good, 0.91),
        version(2, "Staging", &bad, 0.84)
    );
    let repo = crate::common::Repo::new();
    repo.file(&format!("models/{name}.yaml"), manifest);

    let plan = repo.run_with(&["plan", "-v"], &env).code(1).stdout_has(
        "  ! version 2: mark Rejected, stays Development (gates refuse Development → Staging)\n",
    );
    let out = plan.stdout();
    let row = |check: &str, version_rows: &str| -> String {
        version_rows
            .lines()
            .find(|l| l.trim_start().starts_with(check))
            .unwrap_or_else(|| panic!("no {check} row in\n{version_rows}"))
            .to_string()
    };
    let (v2_rows, v1_rows) = out
        .split_once("  ~ version 1: Development → Production")
        .expect("both moves");
    let accuracy = row("metric.test_accuracy", v2_rows);
    assert!(
        accuracy.contains("FAIL")
            && accuracy.contains("0.84")
            && accuracy.contains(&format!("run {bad}")),
        "the value comes from the run MLflow holds: {accuracy}"
    );
    let logged = row("signature.logged", v2_rows);
    assert!(
        logged.contains("FAIL")
            && logged.contains("input `amount` is double in git, float in the logged model"),
        "{logged}"
    );
    let logged = row("signature.logged", v1_rows);
    assert!(
        logged.contains("PASS") && logged.contains("matches"),
        "{logged}"
    );
    assert!(row("metric.test_accuracy", v1_rows).contains(&format!("run {good}")));

    repo.run_with(&["apply", "--auto-approve"], &env)
        .code(1)
        .stderr_has("1 version marked Rejected");
    let versions = client
        .send(&request::search_model_versions(
            &format!("name='{name}'"),
            None,
        ))
        .expect("versions");
    let v2 = versions["model_versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == "2")
        .expect("version 2 registered");
    assert_eq!(v2["current_stage"], "None", "not promoted");
    let tag = v2["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "modelops.rejected")
        .expect("a modelops.rejected tag");
    let rejection: Value = serde_json::from_str(tag["value"].as_str().unwrap()).expect("JSON");
    assert_eq!(rejection["stage"], "Staging");
    assert!(
        rejection["reason"]
            .as_str()
            .unwrap()
            .contains("metric.test_accuracy: 0.84"),
        "{rejection}"
    );

    // The next plan reads the tag back: held, not tried again; git and the
    // registry disagree, so --detailed-exitcode reports it (2, docs/plan.md).
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2)
        .stdout_has(&format!(
            "  {name} version 2 (git asks for Staging): rejected at "
        ));
    repo.run_with(&["status", &name], &env)
        .code(0)
        .stdout_has("  2          Development (Rejected) ")
        .stdout_has("  1          Production ");
}

#[test]
fn rollout_records_and_rollback_holds_live_in_mlflow() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let name = format!("fraud-detector-{}", &unique("r")[2..].replace('-', ""));
    let model = |one: &str, two: &str| {
        format!(
            "apiVersion: modelops/v1\nkind: Model\nmetadata: {{name: {name}, owner: risk-ml}}\nspec:\n  versions:\n    - {{version: 1, stage: {one}, source: s3://m/{name}/1}}\n    - {{version: 2, stage: {two}, source: s3://m/{name}/2}}\n"
        )
    };
    let repo = crate::common::Repo::new();
    repo.file(crate::fixtures::POLICY_FILE, crate::fixtures::NO_GATES_POLICY)
        .file(&format!("models/{name}.yaml"), model("Production", "Staging"))
        .file(
            &format!("deployments/{name}.yaml"),
            format!("apiVersion: modelops/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  model: {name}\n  canary:\n    stages:\n      - {{traffic_percent: 10, duration: 1h}}\n      - {{traffic_percent: 100, duration: 1h}}\n"),
        );
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.file(
        &format!("models/{name}.yaml"),
        model("Archived", "Production"),
    );
    repo.run_with(&["apply", "--auto-approve"], &env)
        .code(0)
        .stdout_has("record rollout: canary of version 2 started at 10%");
    // The record is a tag on the registered model, read back by any run.
    let got = client
        .send(&request::get_registered_model(&name))
        .expect("model");
    let tag = got["registered_model"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "modelops.rollout")
        .expect("a modelops.rollout tag");
    let record: Value = serde_json::from_str(tag["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        (record["strategy"].as_str(), record["phase"].as_str()),
        (Some("canary"), Some("Progressing"))
    );
    repo.run_with(&["status", &name], &env).code(0).stdout_has(
        "  rollout: canary of version 2 against version 1: Progressing, stage 1 of 2 (10%)",
    );

    // A rollback during the canary: traffic back, the hold recorded in MLflow.
    repo.run_with(&["rollback", &name, "--reason", "e2e"], &env)
        .code(0)
        .stdout_has(&format!("Rolled back {name} from version 2 to version 1"));
    // Held, and diverged from git: --detailed-exitcode says so with 2.
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2)
        .stdout_has("Held by rollback at ")
        .stdout_has(&format!(
            "    +    - {{version: 2, stage: Staging, source: s3://m/{name}/2}}\n"
        ));
    repo.run_with(&["status", &name], &env)
        .code(0)
        .stdout_has("  1          Production ")
        .stdout_has("): e2e; held");
}
