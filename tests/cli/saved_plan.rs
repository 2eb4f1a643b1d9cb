//! Saved plans are bound to their commit: `apply FILE` derives the plan again
//! from the commit the file names and refuses any step that differs; a plan
//! from uncommitted changes needs `--allow-dirty-plan`.

use crate::common::Repo;
use crate::lifecycle::{applied, example_in_git};
use crate::promotion::promote_12;

/// The state directory's files, to show nothing was applied.
fn state_bytes(repo: &Repo) -> Vec<(String, Vec<u8>)> {
    ["state.json", "events.jsonl"]
        .iter()
        .map(|f| {
            (
                f.to_string(),
                std::fs::read(repo.state().join(f)).unwrap_or_default(),
            )
        })
        .collect()
}

/// The steps of `model` in a saved plan, to edit.
fn steps<'a>(plan: &'a mut serde_json::Value, model: &str) -> &'a mut Vec<serde_json::Value> {
    plan["models"]
        .as_array_mut()
        .expect("models")
        .iter_mut()
        .find(|m| m["model"] == model)
        .expect("model in plan")["steps"]
        .as_array_mut()
        .expect("steps")
}

#[test]
fn an_edited_saved_plan_is_refused_naming_the_first_differing_step() {
    type Tamper = fn(&mut serde_json::Value);
    // (case, the edit an attacker makes, what the refusal names)
    let cases: Vec<(&str, Tamper, &[&str])> = vec![
        (
            "source swapped for an attacker's artifact",
            |plan| {
                let s = steps(plan, "fraud-detector");
                let update = s
                    .iter_mut()
                    .find(|s| s["action"] == "update_version")
                    .expect("an update step");
                update["metadata"]["source"] = "s3://attacker-bucket/backdoored-model".into();
            },
            &[
                "First difference: step 1 (fraud-detector version 3), metadata.source: saved \"s3://attacker-bucket/backdoored-model\", derived \"runs:/",
            ],
        ),
        (
            "a version git never declared",
            |plan| {
                let s = steps(plan, "fraud-detector");
                s.push(serde_json::json!({
                    "action": "register_version", "model": "fraud-detector", "version": 99,
                    "stage": "Development", "metadata": {"source": "s3://attacker-bucket/m"},
                }));
            },
            &[
                "First difference: step 5 (fraud-detector version 99), step: saved {\"action\":\"register_version\"",
                "derived (none)",
            ],
        ),
        (
            "a source carrying terminal escapes and a workflow command",
            |plan| {
                let s = steps(plan, "fraud-detector");
                let update = s
                    .iter_mut()
                    .find(|s| s["action"] == "update_version")
                    .expect("an update step");
                update["metadata"]["source"] = "s3://m\u{1b}[2J\n::error::pwned".into();
            },
            &["metadata.source: saved \"s3://m\\u001b[2J\\n::error::pwned\""],
        ),
        (
            "a promotion turned into another stage",
            |plan| {
                let s = steps(plan, "fraud-detector");
                let promote = s
                    .iter_mut()
                    .find(|s| s["to"] == "Production")
                    .expect("a promotion");
                promote["version"] = 1.into();
                promote["from"] = "Archived".into();
            },
            &[
                "First difference: step 2 (fraud-detector version 1), from: saved \"Archived\", derived \"Staging\"",
            ],
        ),
    ];
    for (name, tamper, wanted) in cases {
        let repo = applied();
        repo.at("2026-11-27T09:00:00Z");
        promote_12(&repo);
        repo.git_commit("promote fraud-detector 3");
        repo.run(&["plan", "--out", "plan.json"]).code(0);
        let mut plan: serde_json::Value =
            serde_json::from_str(&repo.read("plan.json")).expect("plan JSON");
        tamper(&mut plan);
        repo.file("plan.json", serde_json::to_vec_pretty(&plan).expect("JSON"));
        let before = state_bytes(&repo);
        let mut run = repo
            .run(&["apply", "plan.json"])
            .code(1)
            .stderr_has("plan.json does not match the plan commit ")
            .stderr_has("nothing was applied")
            .stderr_lacks("\u{1b}")
            .stderr_lacks("\n::error")
            .stdout_empty();
        for w in wanted {
            run = run.stderr_has(w);
        }
        assert_eq!(state_bytes(&repo), before, "{name}: the state changed");
        repo.run(&["status", "fraud-detector"])
            .code(0)
            .stdout_has("  2          Production ")
            .stdout_lacks("\n  99 ");
        // The untouched plan from the same commit still applies.
        repo.run(&["plan", "--out", "plan.json"]).code(0);
        repo.run(&["apply", "plan.json"])
            .code(0)
            .stdout_has("Apply complete: 0 added, 3 changed, 1 archived.");
    }
}

#[test]
fn a_plan_from_uncommitted_changes_needs_the_flag_and_says_so() {
    let repo = example_in_git();
    repo.edit(
        "models/fraud-detector.yaml",
        "description: Real-time fraud score",
        "description: Uncommitted fraud score",
    );
    repo.run(&["plan", "--out", "plan.json"]).code(0);
    repo.run(&["apply", "plan.json"])
        .code(1)
        .stderr_has("plan.json was made from uncommitted changes on top of commit ")
        .stderr_has("pass --allow-dirty-plan to apply it as saved")
        .stdout_empty();
    assert!(!repo.state_file().exists(), "nothing may be applied");
    repo.run(&["apply", "--allow-dirty-plan", "plan.json"])
        .code(0)
        .stdout_has("Applying plan.json as saved, unchecked (--allow-dirty-plan): it was made from uncommitted changes")
        .stdout_has("Apply complete: 11 added");
    assert!(
        repo.read("state/state.json")
            .contains("Uncommitted fraud score")
    );
}

#[test]
fn a_plan_made_outside_git_needs_the_flag() {
    let repo = Repo::example();
    repo.run(&["plan", "--out", "plan.json"]).code(0);
    repo.run(&["apply", "plan.json"])
        .code(1)
        .stderr_has("plan.json was made outside git (no commit)");
    assert!(!repo.state_file().exists(), "nothing may be applied");
    repo.run(&["apply", "plan.json", "--allow-dirty-plan"])
        .code(0)
        .stdout_has("unchecked (--allow-dirty-plan)");
}
