//! `modelops import --from mlflow` against a real MLflow server holding
//! models registered the way teams register them without modelops
//! (`tests/cli/import/team_registry.py`: `mlflow.sklearn.log_model` with a
//! signature and pinned requirements, versions in several stages and
//! aliases). Adopting changes nothing: `validate` passes and
//! `plan --detailed-exitcode` exits 0; promoting an imported version in git
//! meets gates that name the missing evidence; once it is there, the move
//! is applied and the model is modelops' from then on.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::Repo;
use crate::e2e::servers::{mlflow, mlflow_post, mlflow_serial, mlflow_url};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The virtualenv's python with MLflow and scikit-learn, or `None` (a
/// skip) outside end-to-end runs.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("MODELOPS_MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join(".cache/mlflow-venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        !crate::e2e::required(),
        "MODELOPS_E2E=1 but no {}: run scripts/mlflow.sh install",
        python.display()
    );
    eprintln!("skipped: no {}", python.display());
    None
}

/// What `team_registry.py` registered: model names and run ids.
struct Registered {
    fraud: String,
    churn: String,
    legacy: String,
    runs: Value,
}

/// Registers the team's models in the MLflow at `url` under a fresh prefix.
fn team_registry(python: &Path, url: &str) -> Registered {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("i{}{}", std::process::id(), nanos % 1_000_000_000);
    let out = Command::new(python)
        .arg(Path::new(ROOT).join("tests/cli/import/team_registry.py"))
        .arg(&prefix)
        .env("MLFLOW_TRACKING_URI", url)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "team_registry.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a JSON line");
    let v: Value = serde_json::from_str(last).expect("JSON");
    Registered {
        fraud: v["fraud"].as_str().unwrap().to_string(),
        churn: v["churn"].as_str().unwrap().to_string(),
        legacy: v["legacy"].as_str().unwrap().to_string(),
        runs: v["runs"].clone(),
    }
}

/// The 1-based line of `file`'s text that contains `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
        + 1
}

#[test]
fn an_imported_registry_plans_nothing_and_its_gates_name_what_is_missing() {
    let Some(client) = mlflow() else { return };
    let Some(python) = python() else { return };
    let url = mlflow_url().unwrap();
    let _serial = mlflow_serial();
    let team = team_registry(&python, &url);
    let (fraud, churn) = (team.fraud.as_str(), team.churn.as_str());
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let repo = Repo::new();
    let out = repo.root().display().to_string();
    let import = |extra: &[&str]| {
        let mut args = vec!["import", "--from", "mlflow", "--out", out.as_str()];
        args.extend(extra);
        repo.run_with(&args, &env)
    };

    // Import the two models; the registry's address goes to modelops.yaml.
    let imported = import(&["--model", fraud, "--model", churn])
        .code(0)
        .stdout_has(&format!("models/{fraud}.yaml\n"))
        .stdout_has(&format!("models/{churn}.yaml\n"))
        .stdout_has("modelops.yaml\n")
        .stdout_has("Imported 2 models from MLflow at");
    let config = repo.read("modelops.yaml");
    assert!(
        config.contains("type: mlflow") && config.contains(&format!("uri: {url}")),
        "{config}"
    );

    let fraud_file = format!("models/{fraud}.yaml");
    let text = repo.read(&fraud_file);
    let run2 = team.runs["fraud/2"].as_str().unwrap();
    for (what, needle) in [
        ("owner from the model's tag", "  owner: risk-ml "),
        (
            "description",
            "  description: \"Scores card transactions for fraud.\"",
        ),
        (
            "stage and alias",
            "stage: Production                 # MLflow stage Production and alias `production`",
        ),
        (
            "archived by stage",
            "stage: Archived                   # MLflow stage Archived",
        ),
        ("dataset from the version tag", "dataset_version: v2.0"),
        ("the metric", "test_auc: 0.9"),
        (
            "signature from MLmodel",
            "- {name: merchant_risk, type: double}",
        ),
        ("named output", "- {name: is_fraud, type: long}"),
        (
            "pinned requirements",
            "dependencies: {mlflow: \"3.17.2\", numpy: \"1.26.4\", pandas: \"2.2.3\", scikit-learn: \"1.5.2\"}",
        ),
        (
            "changelog from the description",
            "changelog: \"Retrained on transactions-2026-02.\"",
        ),
    ] {
        assert!(text.contains(needle), "{what}: no {needle:?} in\n{text}");
    }
    assert!(
        text.lines().any(|l| l.contains("training_run_id:")
            && l.contains(run2)
            && l.ends_with("# MLflow version run_id")),
        "the run: {run2} in\n{text}"
    );
    assert!(
        text.contains(&format!("# run {run2}'s logged metrics")),
        "metrics from the run {run2} in\n{text}"
    );
    let churn_text = repo.read(&format!("models/{churn}.yaml"));
    for (what, needle) in [
        (
            "alias-only Production",
            "stage: Production                 # alias `production` (MLflow stage None)",
        ),
        (
            "alias-only Staging",
            "stage: Staging                    # alias `staging` (MLflow stage None)",
        ),
        ("dataset from the run's tag", "dataset_version: churn-v4"),
        (
            "owner from who ran it",
            "# who ran version 1's training run (no `owner` tag)",
        ),
        (
            "an unnamed output is explained",
            "note: the logged signature has an unnamed output of type long",
        ),
    ] {
        assert!(
            churn_text.contains(needle),
            "{what}: no {needle:?} in\n{churn_text}"
        );
    }

    // The to-dos point at their lines, which say the same.
    let stdout = imported.raw_stdout().to_string();
    let todo = stdout
        .lines()
        .find(|l| l.contains(&fraud_file) && l.contains("version 3 → Production: approval.owner"))
        .unwrap_or_else(|| panic!("no approval to-do in\n{stdout}"));
    let line: usize = todo
        .split(&format!("{fraud_file}:"))
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {todo}"));
    assert_eq!(
        line,
        line_of(&text, "- approval.owner: `approved_by` must name risk-ml"),
        "{todo}"
    );
    for missing in ["fairness:", "evidence.rollout:"] {
        assert!(
            stdout.contains(&format!("version 3 → Production: {missing}")),
            "{missing} in\n{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!("models/{churn}.yaml"))
            && stdout.contains("version 2 → Production: signature.logged"),
        "the unnamed output fails signature.logged:\n{stdout}"
    );

    // Adopting changes nothing.
    repo.run(&["validate"]).code(0).stdout_has("2 models");
    let plan = repo.run(&["plan", "--detailed-exitcode"]);
    let plan = plan.code(0);
    assert!(
        !plan.stdout().contains(fraud) && !plan.stdout().contains(churn),
        "nothing to do for the imported models:\n{}",
        plan.stdout()
    );
    repo.git_commit("import");

    // Importing again keeps every file as it is.
    std::fs::write(repo.path(&fraud_file), format!("{text}# a hand edit\n")).unwrap();
    import(&["--model", fraud, "--model", churn])
        .code(0)
        .stdout_has(&format!(
            "it declares {fraud} (import never overwrites a file)"
        ))
        .stdout_has("Imported 0 models");
    assert!(repo.read(&fraud_file).ends_with("# a hand edit\n"));
    std::fs::write(repo.path(&fraud_file), &text).unwrap();

    // A name modelops does not accept is not imported, and says why.
    import(&["--model", &team.legacy])
        .code(1)
        .stderr_has(&format!(
            "not imported: {}: `{}` does not follow <domain>-<task>",
            team.legacy, team.legacy
        ));

    // Promote version 3 in git: the gates name what MLflow does not hold.
    let promoted = text
        .replace(
            "stage: Production                 # MLflow stage Production and alias `production`",
            "stage: Archived",
        )
        .replace(
            "stage: Staging                    # MLflow stage Staging and alias `staging`",
            "stage: Production",
        );
    repo.file(&fraud_file, &promoted);
    let refused = repo.run(&["plan", "-v"]).code(1);
    let out = refused.stdout();
    assert!(
        out.contains(
            "! version 3: mark Rejected, stays Staging (gates refuse Staging → Production)"
        ),
        "{out}"
    );
    for row in ["fairness ", "evidence.rollout ", "approval.owner "] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(row))
            .unwrap_or_else(|| panic!("no {row} row in\n{out}"));
        assert!(line.contains("FAIL"), "{line}");
    }
    for row in [
        "metric.test_accuracy ",
        "regression.test_accuracy ",
        "signature.logged ",
        "dependencies.pinned ",
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(row))
            .unwrap_or_else(|| panic!("no {row} row in\n{out}"));
        assert!(line.contains("PASS"), "what MLflow holds passes: {line}");
    }
    assert!(!out.contains("cannot change"), "no evidence error:\n{out}");

    // With the evidence in git, the move is applied, and the model is
    // modelops' from then on: the next plan has nothing to do.
    let ready = promoted.replace(
        "      stage: Production\n",
        "      stage: Production\n      fairness: {region: {eu: 0.91, us: 0.9}}\n      approved_by: risk-ml\n",
    );
    repo.file(&fraud_file, &ready).file(
        "policies/default.yaml",
        format!(
            "apiVersion: modelops/v1\nkind: Policy\nmetadata: {{name: default}}\nspec:\n  production_requires:\n    evidence_waived_for: [{fraud}]\n"
        ),
    );
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has(&format!("done: {fraud}: version 3: Staging → Production"));
    repo.run(&["plan", "--detailed-exitcode"]).code(0);
    let tags = version_tags(&client, fraud, 3);
    assert_eq!(
        tags.get("modelops.stage").map(String::as_str),
        Some("Production")
    );
    assert!(tags.contains_key("modelops.metrics"), "{tags:?}");

    // A change made in MLflow after import is still seen: the churn
    // predictor's production alias moved by hand.
    mlflow_post(
        &client,
        "registered-models/alias",
        json!({"name": churn, "alias": "production", "version": "2"}),
    );
    repo.run(&["plan", "--detailed-exitcode"])
        .code(1)
        .stdout_has(&format!(
            "{churn} version 2: cannot move Production → Staging"
        ));
}

fn version_tags(
    client: &modelops::backend::mlflow::client::Client,
    model: &str,
    version: u64,
) -> std::collections::BTreeMap<String, String> {
    let v = client
        .send(&modelops::backend::mlflow::request::get_model_version(
            model, version,
        ))
        .expect("get version");
    v["model_version"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["key"].as_str().unwrap_or("").to_string(),
                t["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}
