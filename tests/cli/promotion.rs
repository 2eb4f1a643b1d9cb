//! After the first apply: promotions through the stage graph, what is
//! refused, versions git no longer lists, saved plans, and drift.

use crate::common::{Repo, snapshot};
use crate::lifecycle::{applied, example_in_git};

const FRAUD: &str = "models/fraud-detector.yaml";

/// The day after the first apply.
const LATER: &str = "2026-11-27T09:00:00Z";

/// Promotes the fraud detector's version 3 as a team would after its canary
/// succeeded: the owner signs it off, 3 to Production, 2 to Archived.
/// Its deployment switches to `direct`, so the promotion is a plain stage
/// move (the canary itself is exercised in `rollouts`).
pub fn promote_12(repo: &Repo) {
    repo.file(
        "deployments/fraud-detector.yaml",
        "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: fraud-detector}\nspec:\n  model: fraud-detector\n  direct: {}\n",
    );
    repo.record_rollout("fraud-detector", 3, "canary", "Succeeded")
        .edit(FRAUD, "stage: Production", "stage: Archived")
        .edit(FRAUD, "stage: Staging", "stage: Production")
        .edit(
            FRAUD,
            "adds optional device_fingerprint_seen_before.\n",
            "adds optional device_fingerprint_seen_before.\n      approved_by: risk-ml\n",
        );
}

#[test]
fn staging_to_production_archives_the_previous_version() {
    let repo = applied();
    repo.at(LATER);
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 12");
    let plan = repo
        .run(&["plan", "-v", "--detailed-exitcode"])
        .code(2)
        .stdout_has("  # fraud-detector will be updated\n  ~ update version 3 (1 field)\n      approved_by: (none) → \"risk-ml\"\n  ~ version 3: Staging → Production (promoted to serve)\n")
        .stdout_has("      evidence.rollout          PASS    canary succeeded")
        .stdout_has("      approval.owner            PASS    risk-ml")
        .stdout_has("  - version 2: Production → Archived (archived)\n")
        .stdout_has("2 models unchanged.")
        .stdout_has("Plan: 0 to add, 3 to change, 1 to archive.");
    snapshot!(plan.stdout());
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("Apply complete: 0 added, 3 changed, 1 archived.");
    repo.run(&["plan", "-v", "--detailed-exitcode"]).code(0);
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Archived ")
        .stdout_has("  3          Production ");
    let history = repo
        .run(&["history", "fraud-detector", "--at", "2026-11-28T00:00:00Z"])
        .code(0)
        .stdout_has("2026-11-27T09:00:00Z  fraud-detector version 3: Staging → Production (promoted to serve)  (by tester commit [COMMIT])")
        .stdout_has("2026-11-27T09:00:00Z  fraud-detector version 2: Production → Archived (archived)")
        .stdout_has("At 2026-11-28T00:00:00Z, version 3 of fraud-detector was in Production.");
    snapshot!("history_after_promotion", history.stdout());
    repo.run(&["history", "fraud-detector", "--at", "2026-11-26T12:00:00Z"])
        .code(0)
        .stdout_has("At 2026-11-26T12:00:00Z, version 2 of fraud-detector was in Production.");
}

#[test]
fn skipping_staging_is_refused_at_the_stage_line() {
    let repo = applied();
    let state = std::fs::read(repo.state_file()).expect("state");
    repo.edit(FRAUD, "stage: Production", "stage: Archived");
    let mut text = repo.read(FRAUD);
    text.push_str(
        "
    - version: 4
      stage: Production
      source: runs:/0d1e2f/model
      training_run_id: 0d1e2f
",
    );
    repo.file(FRAUD, text);
    // Line 85 is blank, 86 `- version: 4`, 87 its stage.
    let located = "[REPO]/models/fraud-detector.yaml:87:14: fraud-detector version 4: cannot move Development → Production: promote it to Staging first (the guidelines' stage graph)";
    let plan = repo
        .run(&["plan", "-v", "--detailed-exitcode"])
        .code(1)
        .stdout_has(
            "Error: git asks for changes that break the stage graph; nothing will be applied:",
        )
        .stdout_has(located);
    snapshot!(plan.stdout());
    repo.run(&["plan", "-v", "--format", "markdown"])
        .code(1)
        .stdout_has("#### :x: Refused changes (nothing will be applied)")
        .stdout_has("- `[REPO]/models/fraud-detector.yaml:87` fraud-detector version 4\\: cannot move Development → Production");
    let json = repo.run(&["plan", "-v", "--format", "json"]).code(1).json();
    assert_eq!(json["errors"][0]["line"], 87);
    assert_eq!(json["errors"][0]["column"], 14);
    assert_eq!(json["errors"][0]["rule"], "stage-graph");
    repo.run(&["plan", "-v", "--out", "refused.json"]).code(1);
    assert!(
        !repo.path("refused.json").exists(),
        "a refused plan must not be saved"
    );
    repo.run(&["apply", "--auto-approve"])
        .code(1)
        .stdout_has(located);
    assert_eq!(
        std::fs::read(repo.state_file()).expect("state"),
        state,
        "nothing may be applied"
    );
}

#[test]
fn a_version_removed_from_git_stays_in_the_registry() {
    let repo = applied();
    let text = repo.read(FRAUD);
    let start = text.find("    - version: 1\n").expect("version 1");
    let end = text.find("    - version: 2\n").expect("version 2");
    repo.file(FRAUD, format!("{}{}", &text[..start], &text[end..]));
    repo.remove("models/recommendation-ranker.yaml")
        .remove("deployments/recommendation-ranker.yaml");
    // The versions stay; the route its removed deployment left is removed.
    let plan = repo
        .run(&["plan", "-v", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Not in git (left as they are):")
        .stdout_has("  fraud-detector version 1 (Archived) is in the registry but not in models/fraud-detector.yaml; versions are never deleted")
        .stdout_has("  model recommendation-ranker is in the registry but not in models/; it is left as it is")
        .stdout_has("  ~ remove route v1 50%, v2 50% on local (the model is not in models/ and no deployment routes it)\n")
        .stdout_has("Plan: 0 to add, 1 to change, 0 to archive.");
    snapshot!(plan.stdout());
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["plan", "-v", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes.");
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  1          Archived ");
    repo.run(&["status", "recommendation-ranker"])
        .code(0)
        .stdout_has("  1          Production ");
}

#[test]
fn changing_a_registered_source_is_refused() {
    let repo = applied();
    let state = std::fs::read(repo.state_file()).expect("state");
    repo.edit(
        FRAUD,
        "source: runs:/c0a42a8348c8778970e5cb63e6c40e05/model",
        "source: s3://models/fraud-detector/11",
    );
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("[REPO]/models/fraud-detector.yaml:39:15: fraud-detector version 2: source is runs:/c0a42a8348c8778970e5cb63e6c40e05/model in the registry, and a registered version's evidence cannot change (its gates were judged on it); register a new version instead");
    repo.run(&["apply", "--auto-approve"]).code(1);
    assert_eq!(
        std::fs::read(repo.state_file()).expect("state"),
        state,
        "nothing may be applied"
    );
}

#[test]
fn changed_metadata_is_updated_field_by_field() {
    let repo = applied();
    repo.edit(
        FRAUD,
        "through December 2024 (holiday season)",
        "through December 2024",
    );
    repo.run(&["plan", "-v"])
        .code(0)
        .stdout_has("  ~ update version 3 (1 field)\n      changelog: ")
        .stdout_has("Plan: 0 to add, 1 to change, 0 to archive.");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["history", "fraud-detector"]).code(0).stdout_has(
        "updated fraud-detector version 3 metadata  (by tester commit [COMMIT])\n      changelog: ",
    );
    // Evidence is not metadata: the same edit to a metric is refused.
    repo.edit(FRAUD, "test_recall: 0.71", "test_recall: 0.72");
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("fraud-detector version 3: `metrics` differs from what the registry holds, and a registered version's evidence cannot change");
}

#[test]
fn saved_plan_is_applied() {
    let repo = example_in_git();
    repo.run(&["plan", "-v", "--out", "plan.json"])
        .code(0)
        .stdout_has("Plan: 11 to add")
        .stderr_has("Saved the plan to plan.json. Apply it with: modelops apply plan.json");
    let saved: serde_json::Value =
        serde_json::from_str(&repo.read("plan.json")).expect("plan.json is JSON");
    assert_eq!(saved["format_version"], "1.6");
    assert!(!repo.state_file().exists());
    repo.run(&["apply", "plan.json"])
        .code(0)
        .stdout_has("Apply complete: 11 added, 11 changed, 2 archived.");
    repo.run(&["plan", "-v", "--detailed-exitcode"]).code(0);
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has("(by tester commit [COMMIT])");
}

#[test]
fn stale_saved_plan_is_refused_and_says_what_changed() {
    let repo = applied();
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    repo.run(&["plan", "-v", "--out", "plan.json"]).code(0);
    // Someone else applies first.
    repo.run(&["apply", "--auto-approve"]).code(0);
    let state = std::fs::read(repo.state_file()).expect("state");
    let out = repo
        .run(&["apply", "plan.json"])
        .code(1)
        .stderr_has("Saved plan is stale: the state changed after the plan was made, so it can no longer be applied.")
        .stderr_has("  fraud-detector version 2: stage Production → Archived")
        .stderr_has("  fraud-detector version 3: stage Staging → Production")
        .stderr_has("Run `modelops plan` again.")
        .stdout_empty();
    snapshot!(out.stderr());
    assert_eq!(
        std::fs::read(repo.state_file()).expect("state"),
        state,
        "a stale plan must not be applied"
    );
}

#[test]
fn saved_plan_of_another_major_format_is_refused() {
    let repo = example_in_git();
    repo.run(&["plan", "-v", "--out", "plan.json"]).code(0);
    repo.edit(
        "plan.json",
        "\"format_version\": \"1.6\"",
        "\"format_version\": \"2.0\"",
    );
    repo.run(&["apply", "plan.json"])
        .code(1)
        .stderr_has("has plan format \"2.0\"; this modelops reads 1.x");
    assert!(!repo.state_file().exists());
}

#[test]
fn a_stage_changed_outside_git_is_drift_and_is_put_back() {
    let repo = applied();
    // Someone archives the serving version directly in the registry.
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.state_file()).expect("state"))
            .expect("state is JSON");
    let versions = state["state"]["models"]["fraud-detector"]["versions"]
        .as_array_mut()
        .expect("versions");
    let v11 = versions
        .iter_mut()
        .find(|v| v["version"] == 2)
        .expect("version 2");
    v11["stage"] = "Archived".into();
    std::fs::write(repo.state_file(), serde_json::to_vec(&state).expect("json"))
        .expect("write state");

    let plan = repo
        .run(&["plan", "-v", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Note: objects changed outside git since modelops last applied them\n\n  ~ fraud-detector version 2: stage: \"Production\" → \"Archived\"\n")
        .stdout_has("The plan below puts them back as git declares them.")
        .stdout_has("  ~ version 2: Archived → Production (reverting a change made outside git)");
    snapshot!(plan.stdout());
    repo.run(&["plan", "-v", "--format", "markdown"])
        .code(0)
        .stdout_has("#### Changed outside git\n\n| model | version | change |\n|---|---|---|\n| `fraud-detector` | 2 | stage\\: \"Production\" → \"Archived\" |");
    let json = repo.run(&["plan", "-v", "--format", "json"]).code(0).json();
    assert_eq!(json["drift"][0]["model"], "fraud-detector");
    assert_eq!(json["drift"][0]["change"]["field"], "stage");

    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["plan", "-v", "--detailed-exitcode"])
        .code(0)
        .stdout_lacks("changed outside git");
}
