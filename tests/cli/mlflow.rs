//! The MLflow REST client against a real tracking server (started by
//! `scripts/test.sh`, whose URL arrives in `MODELOPS_MLFLOW_URL`). With
//! `MODELOPS_E2E=1` a missing server fails these tests instead of skipping.

use std::time::Duration;

use modelops::backend::mlflow::client::{Client, ClientError, Credentials, Endpoint, MAX_ATTEMPTS};
use modelops::backend::mlflow::request;
use serde_json::Value;

use crate::e2e::servers::{free_port, mlflow, mlflow_post, mlflow_serial, unique};

#[test]
fn registers_a_model_version_with_stage_alias_and_tags() {
    let Some(client) = mlflow() else { return };
    let name = unique("e2e-churn");
    client
        .send(&request::create_registered_model(
            &name,
            Some("test model"),
            &[("modelops.owner".into(), "ml-platform".into())],
        ))
        .expect("create model");
    let created = client
        .send(&request::create_model_version(
            &name,
            "s3://bucket/churn/1",
            None,
            Some("first"),
            &[("modelops.version".into(), "1".into())],
        ))
        .expect("create version");
    assert_eq!(
        created["model_version"]["version"], "1",
        "MLflow numbers versions from 1"
    );

    client
        .send(&request::transition_stage(&name, 1, "Production"))
        .expect("transition");
    client
        .send(&request::set_alias(&name, "production", 1))
        .expect("alias");
    client
        .send(&request::set_model_version_tag(
            &name,
            1,
            "modelops.stage",
            "Production",
        ))
        .expect("tag");
    // Setting an alias again is harmless.
    client
        .send(&request::set_alias(&name, "production", 1))
        .expect("alias again");

    let model = client
        .send(&request::get_registered_model(&name))
        .expect("get model");
    let aliases = model["registered_model"]["aliases"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        aliases
            .iter()
            .any(|a| a["alias"] == "production" && a["version"] == "1"),
        "{model:#}"
    );

    let filter = format!("name='{name}'");
    let versions = client
        .send(&request::search_model_versions(&filter, None))
        .expect("search versions");
    let v = &versions["model_versions"][0];
    assert_eq!(v["current_stage"], "Production");
    let tags: Vec<&Value> = v["tags"]
        .as_array()
        .map(|t| t.iter().collect())
        .unwrap_or_default();
    assert!(
        tags.iter()
            .any(|t| t["key"] == "modelops.stage" && t["value"] == "Production"),
        "{v:#}"
    );
}

#[test]
fn errors_carry_mlflow_codes_and_creating_twice_is_reported() {
    let Some(client) = mlflow() else { return };
    let missing = client
        .send(&request::get_registered_model(&unique("e2e-missing")))
        .unwrap_err();
    assert_eq!(missing.code(), Some("RESOURCE_DOES_NOT_EXIST"), "{missing}");

    let name = unique("e2e-twice");
    client
        .send(&request::create_registered_model(&name, None, &[]))
        .expect("create");
    let again = client
        .send(&request::create_registered_model(&name, None, &[]))
        .unwrap_err();
    assert_eq!(again.code(), Some("RESOURCE_ALREADY_EXISTS"), "{again}");

    // A runs:/ source must name the run the version belongs to.
    let bad = client
        .send(&request::create_model_version(
            &name,
            "runs:/abc/model",
            None,
            None,
            &[],
        ))
        .unwrap_err();
    assert_eq!(bad.code(), Some("INVALID_PARAMETER_VALUE"), "{bad}");
}

#[test]
fn an_unreachable_server_is_retried_for_reads_only() {
    // A port that was just free: nothing listens there.
    let port = free_port();
    let endpoint = Endpoint::new(
        &format!("http://user:s3cret@127.0.0.1:{port}"),
        &Credentials::default(),
    )
    .unwrap();
    let client = Client::new(endpoint, Duration::from_secs(2)).unwrap();

    let err = client
        .send(&request::get_registered_model("any-model"))
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    assert_eq!(client.sent(), MAX_ATTEMPTS as usize, "a read is retried");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && !text.contains("s3cret"),
        "{text}"
    );

    let before = client.sent();
    client
        .send(&request::create_registered_model("any-model", None, &[]))
        .unwrap_err();
    assert_eq!(client.sent() - before, 1, "a create is never retried");
}

/// A model manifest with three versions, MLflow-numbered from 1.
pub fn manifest(name: &str) -> String {
    let columns: String = (0..400)
        .map(|i| format!("{{name: feature_{i:03}, type: double}}, "))
        .collect();
    format!(
        r#"apiVersion: modelops/v1
kind: Model
metadata:
  name: {name}
  owner: risk-ml
  description: End-to-end test model
spec:
  versions:
    - version: 1
      stage: Archived
      source: s3://models/{name}/1
      dataset_version: v1
      metrics: {{test_accuracy: 0.86, test_auc: 0.81}}
      dependencies: {{scikit-learn: "1.5.2"}}
      changelog: First.
    - version: 2
      stage: Production
      source: s3://models/{name}/2
      dataset_version: v2
      metrics: {{test_accuracy: 0.88, test_auc: 0.84}}
      signature:
        inputs: [{columns}]
        outputs: [{{name: p, type: double}}]
      changelog: Wide signature.
    - version: 3
      stage: Staging
      source: s3://models/{name}/3
      dataset_version: v3
      metrics: {{test_accuracy: 0.89, test_auc: 0.85}}
      changelog: Retrained.
"#
    )
}

#[test]
fn apply_creates_the_declared_registry_and_converges() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let name = format!("fraud-detector-{}", &unique("x")[2..].replace('-', ""));
    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    repo.file(&format!("models/{name}.yaml"), manifest(&name));
    repo.git_commit("e2e");

    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2)
        .stdout_has(&format!("# {name} will be created"));
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);

    // Everything through the REST API.
    let model = client
        .send(&request::get_registered_model(&name))
        .expect("model");
    let m = &model["registered_model"];
    assert_eq!(m["description"], "End-to-end test model");
    let aliases: Vec<(String, String)> = m["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["alias"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        aliases.contains(&("production".into(), "2".into())),
        "{aliases:?}"
    );
    assert!(
        aliases.contains(&("staging".into(), "3".into())),
        "{aliases:?}"
    );
    let versions = client
        .send(&request::search_model_versions(
            &format!("name='{name}'"),
            None,
        ))
        .expect("versions");
    let stages: Vec<(String, String)> = versions["model_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["current_stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("1".into(), "Archived".into()),
            ("2".into(), "Production".into()),
            ("3".into(), "Staging".into())
        ]
    );
    let v2 = &versions["model_versions"][1];
    let tag = |key: &str| {
        v2["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .map(|t| t["value"].as_str().unwrap().to_string())
    };
    assert_eq!(tag("modelops.dataset_version").as_deref(), Some("v2"));
    assert!(
        tag("modelops.signature.0").is_some(),
        "a wide signature is split over several tags"
    );
    assert_eq!(v2["description"], "Wide signature.");

    // Converged: nothing left to do.
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0)
        .stdout_has("No changes.");

    // Someone moves the production alias in the MLflow UI: drift, then put back.
    client
        .send(&request::set_alias(&name, "production", 3))
        .expect("move alias");
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2)
        .stdout_has("changed outside git");
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0);
    let model = client
        .send(&request::get_registered_model(&name))
        .expect("model");
    let production = model["registered_model"]["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alias"] == "production")
        .map(|a| a["version"].clone());
    assert_eq!(production, Some(Value::from("2")));

    // A tag edited in the MLflow UI is drift too, and apply writes it back.
    client
        .send(&request::set_model_version_tag(
            &name,
            2,
            "modelops.dataset_version",
            "tampered",
        ))
        .expect("edit tag");
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2)
        .stdout_has("metadata changed since modelops applied it")
        .stdout_has("dataset_version: \"tampered\" → \"v2\"");
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0);

    // So is a stage moved by hand.
    client
        .send(&request::transition_stage(&name, 3, "Archived"))
        .expect("move stage");
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(2)
        .stdout_has("stage: \"Staging\" → \"Archived\"");
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0);

    // The audit trail lives in the registry.
    repo.run_with(&["history", &name, "--at", "2030-01-01T00:00:00Z"], &env)
        .code(0)
        .stdout_has(&format!("version 2 of {name} was in Production"));
}

#[test]
fn a_second_apply_waits_for_the_lock_then_names_its_holder() {
    use modelops::backend::Registry;
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let mut holder = modelops::backend::MlflowRegistry::new(client, &Default::default());
    holder
        .lock(Duration::from_secs(60), "integration test holder")
        .expect("take the MLflow lock");

    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    let name = format!("lock-test-{}", &unique("x")[2..].replace('-', ""));
    repo.file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  state: {lock_timeout: 1s}\n",
    );
    repo.file(&format!("models/{name}.yaml"), manifest(&name));
    repo.run_with(&["apply", "--auto-approve"], &env)
        .code(1)
        .stderr_has("is locked by pid ")
        .stderr_has("integration test holder");
    repo.run_with(&["unlock"], &env)
        .code(1)
        .stderr_has("integration test holder");

    holder.unlock().expect("release");
    repo.run_with(&["unlock"], &env)
        .code(0)
        .stdout_has("No lock is held");
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
}

/// A run with one logged metric, created through the REST API.
fn run_with_metric(client: &Client, key: &str, value: f64) -> String {
    let experiment = mlflow_post(
        client,
        "experiments/create",
        serde_json::json!({"name": unique("e2e-experiment")}),
    );
    let run = mlflow_post(
        client,
        "runs/create",
        serde_json::json!({"experiment_id": experiment["experiment_id"], "start_time": 0}),
    );
    let run_id = run["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    mlflow_post(
        client,
        "runs/log-metric",
        serde_json::json!({"run_id": run_id, "key": key, "value": value, "timestamp": 0, "step": 0}),
    );
    run_id
}

#[test]
fn declared_metrics_are_checked_against_the_training_run() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let run = run_with_metric(&client, "test_accuracy", 0.87);
    let name = format!("churn-predictor-{}", &unique("x")[2..].replace('-', ""));
    let model = |accuracy: &str| {
        format!(
            "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: {name}\n  owner: ml-platform\nspec:\n  versions:\n    - version: 1\n      stage: Staging\n      source: runs:/{run}/model\n      training_run_id: {run}\n      metrics: {{test_accuracy: {accuracy}}}\n"
        )
    };
    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    repo.file(&format!("models/{name}.yaml"), model("0.9"));
    repo.run_with(&["plan"], &env)
        .code(1)
        .stdout_has("declared 0.9, but run");
    repo.file(&format!("models/{name}.yaml"), model("0.87"));
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    let versions = client
        .send(&request::search_model_versions(
            &format!("name='{name}'"),
            None,
        ))
        .expect("versions");
    assert_eq!(versions["model_versions"][0]["run_id"], run.as_str());
}

#[test]
fn the_example_repository_applies_to_mlflow_exactly() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let repo = crate::common::Repo::example();
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0)
        .stdout_has("No changes.");
    let want: [(&str, &[&str], &str, &str); 3] = [
        (
            "churn-predictor",
            &["Archived", "Production", "Staging"],
            "2",
            "3",
        ),
        (
            "fraud-detector",
            &["Archived", "Production", "Staging"],
            "2",
            "3",
        ),
        (
            "recommendation-ranker",
            &["Production", "Staging"],
            "1",
            "2",
        ),
    ];
    for (name, stages, production, staging) in want {
        let versions = client
            .send(&request::search_model_versions(
                &format!("name='{name}'"),
                None,
            ))
            .expect("versions");
        let got: Vec<&str> = versions["model_versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["current_stage"].as_str().unwrap())
            .collect();
        assert_eq!(got, stages, "{name}");
        let model = client
            .send(&request::get_registered_model(name))
            .expect("model");
        let alias = |a: &str| {
            model["registered_model"]["aliases"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["alias"] == a)
                .map(|x| x["version"].as_str().unwrap().to_string())
        };
        assert_eq!(alias("production").as_deref(), Some(production), "{name}");
        assert_eq!(alias("staging").as_deref(), Some(staging), "{name}");
    }
}

/// A TCP proxy in front of the test server that can play dead: it forwards
/// `budget` connections (one request each: the client does not reuse them),
/// then closes every new one at once, as a server that went away would.
struct FlakyProxy {
    port: u16,
    budget: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl FlakyProxy {
    fn new(target: &str) -> FlakyProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicI64, Ordering};
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Arc::new(AtomicI64::new(-1));
        let left = budget.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let n = left.load(Ordering::SeqCst);
                if n == 0 {
                    drop(client);
                    continue;
                }
                if n > 0 {
                    left.fetch_sub(1, Ordering::SeqCst);
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut c1, mut s1) = (client, server);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c1, &mut s1);
                    let _ = s1.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        FlakyProxy { port, budget }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn allow(&self, connections: i64) {
        self.budget
            .store(connections, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_server_lost_in_the_middle_of_an_apply_is_reported_and_the_next_apply_converges() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let proxy = FlakyProxy::new(&std::env::var("MODELOPS_MLFLOW_URL").unwrap());
    let url = proxy.url();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let name = format!("fraud-detector-{}", &unique("f")[2..].replace('-', ""));
    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    repo.file(&format!("models/{name}.yaml"), manifest(&name));

    // Enough for the lock, the reads and a few steps, not for all of them.
    proxy.allow(12);
    let out = repo
        .run_with(&["apply", "--auto-approve"], &env)
        .code(1)
        .stderr_has("Apply stopped after ")
        .stderr_has("cannot reach MLflow at");
    assert!(!out.stderr().contains("panicked"), "{}", out.stderr());

    // The server is back: the lock left behind by the lost apply is the
    // only thing in the way, and `unlock --force` clears it.
    proxy.allow(-1);
    repo.run_with(&["unlock", "--force"], &env).code(0);
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0)
        .stdout_has("No changes.");
    let versions = client
        .send(&request::search_model_versions(
            &format!("name='{name}'"),
            None,
        ))
        .expect("versions");
    assert_eq!(
        versions["model_versions"].as_array().unwrap().len(),
        3,
        "no version registered twice"
    );
    // The events written before the loss and after it form one chain, and
    // the head tag (left behind by the lost apply) names its last event.
    repo.run_with(&["history", "--verify", &name], &env)
        .code(0)
        .stdout_has("events intact");
}

/// A stage alias names one version, and Staging may hold several: three
/// versions in Staging at once converge (a plan right after exits 0), and
/// promoting one of them leaves the others in Staging.
#[test]
fn several_versions_in_staging_share_one_alias_and_converge() {
    let Some(_client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let name = format!("staged-{}", &unique("s")[2..].replace('-', ""));
    let file = format!("models/{name}.yaml");
    let model = |stages: [&str; 4]| {
        let versions: String = stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                format!(
                    "    - {{version: {n}, stage: {s}, source: s3://m/{name}/{n}}}\n",
                    n = i + 1
                )
            })
            .collect();
        format!(
            "apiVersion: modelops/v1\nkind: Model\nmetadata: {{name: {name}, owner: risk-ml}}\nspec:\n  versions:\n{versions}"
        )
    };
    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    repo.file(
        &file,
        model(["Production", "Staging", "Staging", "Staging"]),
    );
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0)
        .stdout_lacks("changed outside git");
    repo.file(
        &file,
        model(["Archived", "Production", "Staging", "Staging"]),
    );
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0)
        .stdout_lacks("changed outside git");
    let status = repo.run_with(&["status", &name], &env).code(0);
    for (v, stage) in [
        (1, "Archived"),
        (2, "Production"),
        (3, "Staging"),
        (4, "Staging"),
    ] {
        assert!(
            status
                .stdout()
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{v} ")) && l.contains(stage)),
            "version {v} in {stage}:\n{}",
            status.stdout()
        );
    }
}
