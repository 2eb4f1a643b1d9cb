//! Reading the signature MLflow logged with a model from a real tracking
//! server (`MODELOPS_MLFLOW_URL`, started by `scripts/test.sh` with a local
//! artifact root). The tests write `MLmodel` files where a client logging to
//! that root would, for both layouts: a run's artifacts (MLflow 2) and a
//! logged model's (MLflow 3, `models:/m-…`). With `MODELOPS_E2E=1` a missing
//! server fails these tests instead of skipping.

use std::path::PathBuf;

use modelops::backend::mlflow::cache::ReadCache;
use modelops::backend::mlflow::client::{Client, ClientError};
use modelops::backend::mlflow::mlmodel::{LoggedSignature, logged_signature};
use modelops::manifest::model::{Signature, SignatureColumn};
use serde_json::{Value, json};

use crate::e2e::servers::{mlflow, mlflow_post, unique};

/// What `mlflow.pyfunc.log_model` 3.17.2 writes for a column signature.
const COLUMNS_MLMODEL: &str = r#"artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.11.7
mlflow_version: 3.17.2
signature:
  inputs: '[{"type": "double", "name": "tenure", "required": true}, {"type": "long", "name":
    "plan", "required": false}]'
  outputs: '[{"type": "double", "name": "churn", "required": true}]'
  params: null
utc_time_created: '2026-11-26 14:28:24.278434'
"#;

/// The same for a tensor signature.
const TENSOR_MLMODEL: &str = r#"artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
mlflow_version: 3.17.2
signature:
  inputs: '[{"name": "features", "type": "tensor", "tensor-spec": {"dtype": "float32",
    "shape": [-1, 4]}}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
"#;

fn columns_signature() -> Signature {
    let col = |name: &str, ty: &str, optional| SignatureColumn {
        name: name.into(),
        column_type: ty.into(),
        shape: None,
        optional,
    };
    Signature {
        inputs: vec![
            col("tenure", "double", None),
            col("plan", "long", Some(true)),
        ],
        outputs: vec![col("churn", "double", None)],
    }
}

/// A new run in a new experiment: its id, experiment id and artifact directory.
fn new_run(client: &Client) -> (String, String, PathBuf) {
    let experiment = mlflow_post(
        client,
        "experiments/create",
        json!({"name": unique("e2e-signature")}),
    );
    let experiment = experiment["experiment_id"].as_str().unwrap().to_string();
    let run = mlflow_post(
        client,
        "runs/create",
        json!({"experiment_id": experiment, "start_time": 0}),
    );
    let info = &run["run"]["info"];
    let root = local_dir(&info["artifact_uri"]);
    (
        info["run_id"].as_str().unwrap().to_string(),
        experiment,
        root,
    )
}

/// An artifact URI as a directory this test can write, as a client logging
/// to a local artifact root does.
fn local_dir(uri: &Value) -> PathBuf {
    let uri = uri.as_str().expect("artifact URI");
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    assert!(
        path.starts_with('/'),
        "artifact URI {uri} is not local: start the server with a local \
         --default-artifact-root (scripts/mlflow.sh does)"
    );
    PathBuf::from(path)
}

fn write_mlmodel(dir: PathBuf, text: &str) {
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("MLmodel"), text).unwrap();
}

/// A fresh cache per read: each case reads what the server has now.
fn read(client: &Client, source: &str, run: Option<&str>) -> LoggedSignature {
    logged_signature(client, &ReadCache::default(), source, run)
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn assert_not_logged(got: LoggedSignature, want: &str) {
    match got {
        LoggedSignature::NotLogged(why) => assert_eq!(why, want),
        other => panic!("expected NotLogged({want}), got {other:?}"),
    }
}

#[test]
fn a_run_artifacts_mlmodel_is_read() {
    let Some(client) = mlflow() else { return };
    let (run, _, root) = new_run(&client);
    write_mlmodel(root.join("model"), COLUMNS_MLMODEL);
    let want = LoggedSignature::Found(columns_signature());

    assert_eq!(
        read(&client, &format!("runs:/{run}/model"), Some(&run)),
        want
    );
    // The artifact URI itself as source, registered from the run.
    let by_path = format!("{}/model", root.display());
    assert_eq!(read(&client, &by_path, Some(&run)), want);
    assert_not_logged(
        read(&client, &by_path, None),
        &format!("the registry does not serve artifacts of {by_path}"),
    );
}

#[test]
fn an_mlflow3_logged_models_mlmodel_is_read() {
    let Some(client) = mlflow() else { return };
    let (run, experiment, _) = new_run(&client);
    let model = mlflow_post(
        &client,
        "logged-models",
        json!({"experiment_id": experiment, "name": "model", "source_run_id": run}),
    );
    let id = model["model"]["info"]["model_id"].as_str().unwrap();
    write_mlmodel(
        local_dir(&model["model"]["info"]["artifact_uri"]),
        TENSOR_MLMODEL,
    );
    let tensor = |name: &str, ty: &str, shape: &[i64]| SignatureColumn {
        name: name.into(),
        column_type: ty.into(),
        shape: Some(shape.to_vec()),
        optional: None,
    };
    let want = LoggedSignature::Found(Signature {
        inputs: vec![tensor("features", "float", &[-1, 4])],
        outputs: vec![tensor("", "long", &[-1])],
    });

    // MLflow 3's clients register `models:/m-…`.
    assert_eq!(read(&client, &format!("models:/{id}"), Some(&run)), want);
    // `runs:/<run>/model` registered through the REST API reaches the same
    // logged model: the run's own artifacts have no `model/MLmodel`.
    assert_eq!(
        read(&client, &format!("runs:/{run}/model"), Some(&run)),
        want
    );
    assert_not_logged(
        read(&client, &format!("runs:/{run}/other"), Some(&run)),
        &format!("no MLmodel at runs:/{run}/other"),
    );
    assert_not_logged(
        read(&client, "models:/m-00000000000000000000000000000000", None),
        "no MLmodel at models:/m-00000000000000000000000000000000",
    );
}

#[test]
fn missing_mlmodels_and_unserved_sources_are_not_logged() {
    let Some(client) = mlflow() else { return };
    let (run, _, root) = new_run(&client);
    assert_not_logged(
        read(&client, &format!("runs:/{run}/model"), Some(&run)),
        &format!("no MLmodel at runs:/{run}/model"),
    );
    assert_not_logged(
        read(&client, "runs:/0123456789abcdef/model", None),
        "no MLmodel at runs:/0123456789abcdef/model: run 0123456789abcdef does not exist",
    );
    for run_id in [None, Some(run.as_str())] {
        assert_not_logged(
            read(&client, "s3://models/churn/1", run_id),
            "the registry does not serve artifacts of s3://models/churn/1",
        );
    }

    write_mlmodel(
        root.join("unsigned"),
        "flavors: {}\nmlflow_version: 3.17.2\n",
    );
    assert_not_logged(
        read(&client, &format!("runs:/{run}/unsigned"), None),
        &format!("the MLmodel at runs:/{run}/unsigned has no signature"),
    );
}

#[test]
fn an_unreadable_mlmodel_is_an_error() {
    let Some(client) = mlflow() else { return };
    let (run, _, root) = new_run(&client);
    write_mlmodel(
        root.join("model"),
        "signature:\n  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float16\", \"shape\": [-1]}}]'\n",
    );
    let source = format!("runs:/{run}/model");
    match logged_signature(&client, &ReadCache::default(), &source, Some(&run)) {
        Err(e @ ClientError::Unexpected { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "unexpected answer to get-artifact (200): the MLmodel at {source}: \
                 signature.inputs[0]: tensor dtype `float16` has no MLflow column type \
                 (float64, float32, int64, int32, bool, str, object and bytes have)"
            )
        ),
        other => panic!("expected an error, got {other:?}"),
    }
}
