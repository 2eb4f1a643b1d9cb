//! The known-good rule on a real MLflow: the exit marker a rollback leaves is
//! an event tag read back by the next rollback, and a version deleted in
//! MLflow is never a target. Skipped without `MODELOPS_MLFLOW_URL`, unless
//! `MODELOPS_E2E=1`.

use modelops::backend::mlflow::request::{Method, Request};
use serde_json::json;

use crate::e2e::servers::{mlflow, mlflow_serial, unique};

#[test]
fn mlflow_rollbacks_skip_rolled_back_and_deleted_versions() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").unwrap();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let name = format!("fraud-detector-{}", &unique("k")[2..].replace('-', ""));
    let model = |stages: [&str; 3]| {
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
    let file = format!("models/{name}.yaml");
    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    // Version 1, then 2, then 3 in Production, each by succession.
    for stages in [
        ["Production", "Staging", "Development"],
        ["Archived", "Production", "Staging"],
        ["Archived", "Archived", "Production"],
    ] {
        repo.file(&file, model(stages));
        repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    }
    // Version 2 is deleted in MLflow: gone, so the rollback passes it over.
    client
        .send(&Request {
            method: Method::Delete,
            path: "model-versions/delete",
            query: Vec::new(),
            body: Some(json!({"name": name, "version": "2"})),
            idempotent: true,
        })
        .expect("delete version 2");
    repo.run_with(&["rollback", &name, "--reason", "e2e"], &env)
        .code(0)
        .stdout_has(&format!("Rolled back {name} from version 3 to version 1"));
    // Version 3 now carries the exit marker as an MLflow event tag: the next
    // default rollback has nowhere to go.
    repo.run_with(&["rollback", &name, "--reason", "again"], &env)
        .code(1)
        .stderr_has(&format!(
            "{name} has no known-good version to roll back to:\n  version 3: taken out of Production by a rollback: e2e (at 2026-11-26T09:00:00Z)\n"
        ));
    repo.run_with(&["rollback", &name, "--to", "2", "--reason", "x"], &env)
        .code(1)
        .stderr_has(&format!("{name} has no version 2 in "));
}
