//! Validation output for programs (`--format json`) and for GitHub Actions
//! (`--format github`).

use crate::common::{Repo, snapshot};
use crate::fixtures::{CANARY, CHURN, CHURN_FILE, DEPLOY_FILE};

/// Three errors in two files, one of them without a position.
fn broken() -> Repo {
    let repo = Repo::new();
    repo.file(
        CHURN_FILE,
        CHURN.replace("stage: Staging", "stage: Production"),
    )
    .file("models/empty.yaml", "")
    .file(DEPLOY_FILE, CANARY.replace("duration: 1h", "duration: 1x"));
    repo
}

#[test]
fn validate_json_lists_every_error() {
    let repo = broken();
    let out = repo.run(&["validate", "--format", "json"]).code(1);
    let json = out.json();
    assert_eq!(json["format_version"], "1.0");
    assert_eq!(json["valid"], false);
    assert_eq!(json["files"], 3);
    assert_eq!(json["error_count"], 3);
    let errors = json["errors"].as_array().expect("errors is a list");
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[0]["file"], "[REPO]/deployments/churn-predictor.yaml");
    assert_eq!(errors[0]["line"], 12);
    assert_eq!(errors[0]["column"], 19);
    assert_eq!(errors[0]["rule"], "duration");
    assert_eq!(errors[2]["file"], "[REPO]/models/empty.yaml");
    assert!(
        errors[2].get("line").is_none(),
        "a whole-file error has no line"
    );
    snapshot!(serde_json::to_string_pretty(&json).expect("json"));
}

#[test]
fn validate_json_of_a_valid_repository() {
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN).file(DEPLOY_FILE, CANARY);
    let json = repo.run(&["validate", "--format", "json"]).code(0).json();
    assert_eq!(json["valid"], true);
    assert_eq!(json["error_count"], 0);
    assert_eq!(json["errors"], serde_json::json!([]));
}

#[test]
fn validate_github_annotations() {
    let repo = broken();
    let out = repo
        .run(&["validate", "--format", "github"])
        .code(1)
        .stdout_has("::error file=[REPO]/deployments/churn-predictor.yaml,line=12,col=19,title=modelops%3A duration::`1x` is not a duration")
        .stdout_has("::error file=[REPO]/models/churn-predictor.yaml,line=13,col=14,title=modelops%3A single-production::")
        .stdout_has("::error file=[REPO]/models/empty.yaml,title=modelops%3A yaml::file is empty");
    assert!(
        out.stdout().lines().all(|l| l.starts_with("::error ")),
        "{}",
        out.stdout()
    );
    snapshot!(out.stdout());
}

#[test]
fn validate_github_with_a_relative_repo_gives_workspace_paths() {
    // CI runs `modelops validate --repo <dir> --format github` from the
    // workspace root; annotations must name files relative to it.
    let repo = broken();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"))
        .args(["validate", "--format", "github", "--repo", "."])
        .current_dir(repo.root())
        .env("MODELOPS_NOW", crate::common::NOW)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error file=models/churn-predictor.yaml,line=13,col=14,"),
        "{stdout}"
    );
}

#[test]
fn validate_text_of_a_valid_repository() {
    let repo = Repo::example();
    repo.run(&["validate"])
        .code(0)
        .stdout_has("8 files valid: 3 models, 3 deployments, 1 policy.")
        .stdout_lacks("error");
}
