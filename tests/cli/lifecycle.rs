//! plan, apply, status and history on a copy of the example repository, from
//! an empty registry.

use crate::common::{Repo, snapshot};

/// The example repository, committed.
pub fn example_in_git() -> Repo {
    let repo = Repo::example();
    repo.git_commit("example repository");
    repo
}

/// The example repository, committed and applied once.
pub fn applied() -> Repo {
    let repo = example_in_git();
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo
}

#[test]
fn first_plan_as_text() {
    let repo = example_in_git();
    let out = repo
        .run(&["plan"])
        .code(0)
        .stdout_has("# fraud-detector will be created")
        .stdout_has("~ version 2: Development → Production (first Production version of the model: nothing to compare with)")
        .stdout_has("Plan: 11 to add, 11 to change, 2 to archive.");
    snapshot!(out.stdout());
    assert!(!repo.has_state_dir(), "plan must not create state");
}

#[test]
fn first_plan_as_markdown() {
    let repo = example_in_git();
    let out = repo
        .run(&["plan", "--format", "markdown"])
        .code(0)
        .stdout_has("### modelops plan")
        .stdout_has("**Plan\\: 11 to add, 11 to change, 2 to archive.**");
    snapshot!(out.stdout());
}

#[test]
fn first_plan_as_json() {
    let repo = example_in_git();
    let json = repo.run(&["plan", "--format", "json"]).code(0).json();
    assert_eq!(json["format_version"], "1.6");
    assert_eq!(json["created_at"], crate::common::NOW);
    assert_eq!(json["source"]["repo"], "[REPO]");
    assert_eq!(json["source"]["commit"], "[COMMIT]");
    assert_eq!(
        json["summary"],
        serde_json::json!({"add": 11, "change": 11, "archive": 2, "reject": 0})
    );
    assert_eq!(json["errors"], serde_json::json!([]));
    let models: Vec<&str> = json["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["model"].as_str())
        .collect();
    assert_eq!(
        models,
        ["churn-predictor", "fraud-detector", "recommendation-ranker"]
    );
    snapshot!(serde_json::to_string_pretty(&json).expect("json"));
}

#[test]
fn detailed_exit_code_says_whether_there_are_changes() {
    let repo = example_in_git();
    repo.run(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Plan: 11 to add");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes. Registry and serving match the repository.");
}

#[test]
fn apply_registers_everything_once() {
    let repo = example_in_git();
    let out = repo
        .run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("  done: fraud-detector: register version 1 as Development")
        .stdout_has("Apply complete: 11 added, 11 changed, 2 archived.");
    snapshot!(out.stdout());
    let state = std::fs::read(repo.state_file()).expect("state written");
    let events = std::fs::read(repo.state().join("events.jsonl")).expect("events written");

    // A second apply finds nothing to do and writes nothing.
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("No changes.")
        .stdout_lacks("done:");
    assert_eq!(std::fs::read(repo.state_file()).expect("state"), state);
    assert_eq!(
        std::fs::read(repo.state().join("events.jsonl")).expect("events"),
        events
    );
}

#[test]
fn apply_without_a_terminal_or_auto_approve_changes_nothing() {
    let repo = example_in_git();
    repo.run(&["apply"]).code(1).stderr_has(
        "apply needs confirmation, and there is no terminal to ask on: pass --auto-approve",
    );
    assert!(
        !repo.state_file().exists(),
        "a refused apply must not write state"
    );
    repo.run(&["plan", "--detailed-exitcode"]).code(2);
}

#[test]
fn status_shows_the_registered_versions() {
    let repo = Repo::new();
    repo.run(&["status"])
        .code(0)
        .stdout_has("No models registered in local state in [REPO]/state.");
    repo.run(&["history", "fraud-detector"])
        .code(1)
        .stderr_has("model fraud-detector is not registered in local state in [REPO]/state");
    repo.run(&["unlock"]).code(0);
    assert!(
        !repo.has_state_dir(),
        "reading commands must not create state"
    );
    let repo = applied();
    let out = repo
        .run(&["status"])
        .code(0)
        .stdout_has("fraud-detector (owner risk-ml)");
    snapshot!(out.stdout());
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production             2026-11-26T09:00:00Z  runs:/c0a42a8348c8778970e5cb63e6c40e05/model")
        .stdout_lacks("churn-predictor");
    repo.run(&["status", "fraud-detectr"])
        .code(1)
        .stderr_has("model fraud-detectr is not registered in local state in [REPO]/state; did you mean `fraud-detector`?\n");
    let json: serde_json::Value =
        serde_json::from_str(&repo.run(&["status", "--format", "json"]).code(0).stdout())
            .expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(3));
}

#[test]
fn history_records_every_change_with_its_commit() {
    let repo = applied();
    let commit = repo.head();
    let out = repo
        .run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has("2026-11-26T09:00:00Z  fraud-detector version 2: Development → Production (first Production version of the model: nothing to compare with)  (by tester commit [COMMIT])");
    assert_eq!(out.stdout().lines().count(), 7, "{}", out.stdout());
    snapshot!(out.stdout());

    let json: serde_json::Value = serde_json::from_str(
        repo.run(&["history", "fraud-detector", "--format", "json"])
            .code(0)
            .raw_stdout(),
    )
    .expect("json");
    let events = json["events"].as_array().expect("events");
    assert_eq!(events.len(), 7);
    assert!(
        events
            .iter()
            .all(|e| e["commit"] == commit.as_str() && e["actor"] == "tester")
    );

    // An unknown model is a mistake, not an empty history.
    repo.run(&["history", "no-such-model"])
        .code(1)
        .stderr_has("model no-such-model is not registered in local state in [REPO]/state\n");
    repo.run(&["history", "fraud-detectr"])
        .code(1)
        .stderr_has("; did you mean `fraud-detector`?\n");
}

#[test]
fn history_at_a_time_says_which_version_served() {
    let repo = applied();
    repo.run(&["history", "fraud-detector", "--at", "2026-11-25T00:00:00Z"])
        .code(0)
        .stdout_has("At 2026-11-25T00:00:00Z, no version of fraud-detector was in Production.");
    repo.run(&["history", "fraud-detector", "--at", "2026-11-26T12:00:00Z"])
        .code(0)
        .stdout_has("At 2026-11-26T12:00:00Z, version 2 of fraud-detector was in Production.");
    repo.run(&["history", "fraud-detector", "--at", "yesterday"])
        .code(1)
        .stderr_has("--at yesterday is not an RFC 3339 time");
}

#[test]
fn a_repository_without_git_records_no_commit() {
    let repo = Repo::example();
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["history", "churn-predictor"])
        .code(0)
        .stdout_has("registered model churn-predictor (owner ml-platform)  (by tester)")
        .stdout_lacks("commit");
}

#[test]
fn ci_actor_is_recorded() {
    let repo = example_in_git();
    let out = repo
        .command(&["apply", "--auto-approve"])
        .env("GITHUB_ACTOR", "octocat")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    repo.run(&["history", "churn-predictor"])
        .code(0)
        .stdout_has("(by octocat commit [COMMIT])");
}

#[test]
fn an_apply_from_uncommitted_manifests_records_a_dirty_commit() {
    let repo = example_in_git();
    repo.edit(
        "models/fraud-detector.yaml",
        "  description: Real-time",
        "  description: Edited, real-time",
    );
    repo.run(&["apply", "--auto-approve"]).code(0);
    let json: serde_json::Value = serde_json::from_str(
        repo.run(&["history", "fraud-detector", "--format", "json"])
            .code(0)
            .raw_stdout(),
    )
    .expect("json");
    let want = format!("{}-dirty", repo.head());
    let events = json["events"].as_array().expect("events");
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["commit"] == want.as_str()),
        "{events:#?}"
    );
}
