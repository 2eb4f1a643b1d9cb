//! Git sources: `--rev` reads a commit without touching the working tree;
//! `--base` plans only what changed since a revision.

use crate::common::{Repo, copy_dir, snapshot};
use crate::fixtures::CHURN;
use crate::lifecycle::{applied, example_in_git};

#[test]
fn rev_reads_the_commit_not_the_working_tree() {
    let repo = example_in_git();
    let commit = repo.head();
    repo.file(
        "models/churn-predictor.yaml",
        "apiVersion: modelops/v1\nkind: Model\nspec: [unclosed\n",
    );
    repo.run(&["validate"])
        .code(1)
        .stderr_has("[REPO]/models/churn-predictor.yaml:");
    repo.run(&["validate", "--rev", "HEAD"])
        .code(0)
        .stdout_has("8 files valid: 3 models, 3 deployments, 1 policy.");
    let json = repo
        .run(&["plan", "--rev", "HEAD", "--format", "json"])
        .code(0)
        .json();
    assert_eq!(json["source"]["revision"], "HEAD");
    assert_eq!(json["source"]["commit"], "[COMMIT]");
    assert_eq!(json["summary"]["add"], 11);
    repo.run(&["apply", "--rev", "HEAD", "--auto-approve"])
        .code(0);
    let history = repo
        .run(&["history", "churn-predictor", "--format", "json"])
        .code(0);
    let events: serde_json::Value = serde_json::from_str(history.raw_stdout()).expect("json");
    assert_eq!(events["events"][0]["commit"], commit.as_str());
    // The working tree was not touched.
    assert!(
        repo.read("models/churn-predictor.yaml")
            .contains("[unclosed")
    );
}

#[test]
fn rev_reads_an_older_commit() {
    let repo = example_in_git();
    repo.edit(
        "models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Development",
    );
    repo.git_commit("demote 12");
    // Every model has a Staging candidate; at HEAD the fraud detector's is gone.
    let promotions = |rev: &str| {
        repo.run(&["plan", "--rev", rev])
            .code(0)
            .stdout()
            .matches(": Development → Staging")
            .count()
    };
    assert_eq!(promotions("HEAD~1"), 3);
    assert_eq!(promotions("HEAD"), 2);
}

#[test]
fn unknown_revision_is_an_error() {
    let repo = example_in_git();
    repo.run(&["validate", "--rev", "no-such-branch"])
        .code(1)
        .stderr_has("error: git: unknown revision `no-such-branch`");
    repo.run(&["plan", "--rev", "no-such-branch"]).code(1);
    assert!(!repo.has_state_dir());
}

#[test]
fn rev_outside_a_git_repository_is_an_error() {
    let repo = Repo::example();
    repo.run(&["validate", "--rev", "HEAD"])
        .code(1)
        .stderr_has("is not inside a git repository");
}

#[test]
fn base_plans_only_the_models_whose_files_changed() {
    let repo = applied();
    crate::promotion::promote_12(&repo);
    repo.git_commit("promote fraud-detector 12");
    let plan = repo
        .run(&["plan", "--base", "HEAD~1"])
        .code(0)
        .stdout_has("  # fraud-detector will be updated")
        .stdout_has("    manifest changes:\n    --- a/models/fraud-detector.yaml\n    +++ b/models/fraud-detector.yaml\n")
        .stdout_has("    -      stage: Production\n    +      stage: Archived\n")
        .stdout_has("    -      stage: Staging\n    +      stage: Production\n")
        .stdout_has("    +      approved_by: risk-ml\n")
        .stdout_lacks("churn-predictor")
        .stdout_lacks("recommendation-ranker");
    snapshot!(plan.stdout());
    let markdown = repo
        .run(&["plan", "--base", "HEAD~1", "--format", "markdown"])
        .code(0)
        .stdout_has(", models changed since `HEAD~1`.")
        .stdout_has("<details><summary>Manifest changes</summary>\n\n```diff\n--- a/models/fraud-detector.yaml\n");
    snapshot!("base_plan_as_markdown", markdown.stdout());
    let json = repo
        .run(&["plan", "--base", "HEAD~1", "--format", "json"])
        .code(0)
        .json();
    assert_eq!(json["source"]["base"], "HEAD~1");
    assert_eq!(json["models"].as_array().map(Vec::len), Some(1));
    repo.run(&["plan", "--base", "HEAD", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes.");
}

#[test]
fn base_includes_models_whose_deployment_changed() {
    let repo = applied();
    repo.edit(
        "deployments/churn-predictor.yaml",
        "duration: 7d",
        "duration: 14d",
    );
    let json = repo
        .run(&["plan", "--base", "HEAD", "--format", "json"])
        .code(0)
        .json();
    let models = json["models"].as_array().expect("models");
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["model"], "churn-predictor");
    let diff = models[0]["manifest_diff"].as_str().expect("a diff");
    assert!(
        diff.contains("-      duration: 7d\n+      duration: 14d\n"),
        "{diff}"
    );
}

#[test]
fn a_repository_in_a_subdirectory_of_git_is_read_from_there() {
    let repo = Repo::new();
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"),
        &repo.path("ops"),
    );
    // Inside the git repository, but outside the modelops repository.
    repo.file("secret.yaml", CHURN)
        .symlink("ops/models/secret.yaml", "../../secret.yaml")
        .git_commit("ops");
    repo.repo_dir("ops");
    repo.run(&["validate"])
        .code(1)
        .stderr_has("[REPO]/ops/models/secret.yaml: error: symlink leads outside the repository (to [REPO]/secret.yaml)");
    repo.run(&["validate", "--rev", "HEAD"])
        .code(1)
        .stderr_has("[REPO]/ops/models/secret.yaml: error: symlink leads outside the repository (to ../../secret.yaml)")
        .stderr_has("1 error in 9 files.");
    repo.remove("ops/models/secret.yaml")
        .git_commit("no symlink");
    repo.file("ops/models/fraud-detector.yaml", "not: [valid");
    repo.run(&["plan", "--rev", "HEAD"])
        .code(0)
        .stdout_has("Plan: 11 to add, 11 to change, 2 to archive.");
}

#[test]

fn apply_rev_uses_the_configuration_of_the_revision() {
    let repo = example_in_git();
    repo.default_state();
    // The working tree, not yet committed, moves the state.
    repo.edit(
        "modelops.yaml",
        "  state:\n",
        "  state:\n    dir: elsewhere\n",
    );
    repo.run(&["apply", "--rev", "HEAD", "--auto-approve"])
        .code(0);
    repo.run(&["plan", "--rev", "HEAD", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes.");
    assert!(repo.path(".modelops/state.json").exists());
    assert!(
        !repo.path("elsewhere").exists(),
        "the working tree's configuration must not be used"
    );
}
