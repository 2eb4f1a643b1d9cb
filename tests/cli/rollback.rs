//! `modelops rollback` on the example repository with the embedded registry
//! and routing table: serving and registry switch, the event is logged with
//! its reason, and the rollback holds against later applies until the
//! manifest changes or the hold is released.

use crate::common::Repo;
use crate::lifecycle::applied;
use crate::promotion::promote_12;

const LATER: &str = "2026-11-27T09:00:00Z";

fn routing(repo: &Repo) -> serde_json::Value {
    let text = std::fs::read_to_string(repo.state().join("routing.json")).expect("routing.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v["routes"]["fraud-detector"]["weights"].clone()
}

/// The example applied, then fraud-detector version 3 promoted directly.
fn promoted() -> Repo {
    let repo = applied();
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(routing(&repo), serde_json::json!({"3": 100}));
    repo.at(LATER);
    repo
}

#[test]
fn a_rollback_switches_serving_and_registry_and_holds() {
    let repo = promoted();
    let state = || std::fs::read(repo.state_file()).expect("state");
    let out = repo
        .run(&["rollback", "fraud-detector", "--reason", "error spike"])
        .code(0)
        .stdout_has("Rolled back fraud-detector from version 3 to version 2 in ")
        .stdout_has("  serving: all traffic to version 2 on local target local");
    assert!(
        out.stdout().contains(" s (serving ") && out.stdout().contains(" s, registry "),
        "the elapsed time is printed: {}",
        out.stdout()
    );
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Archived ")
        .stdout_has("  rollback at 2026-11-27T09:00:00Z by tester (version 3 → version 2): error spike; held");
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has(
            "fraud-detector version 3: Production → Archived (rollback: error spike)  (by tester)",
        )
        .stdout_has(
            "fraud-detector version 2: Archived → Production (rollback: error spike)  (by tester)",
        )
        .stdout_has(
            "fraud-detector: rolled back from version 3 to version 2 by tester: error spike",
        );

    // Git still asks for version 3: the plan says the model is held, and
    // prints the change that makes git agree; apply leaves it alone. Git
    // and the registry disagree: exit 2.
    repo.run(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Held by rollback at 2026-11-27T09:00:00Z (version 3 → version 2, by tester): error spike\n")
        .stdout_has("    -      stage: Archived\n    +      stage: Production\n")
        .stdout_has("    -      stage: Production\n    +      stage: Archived\n")
        .stdout_has("No changes. Held by a rollback, so not compared with git: fraud-detector.");
    let before = state();
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(
        state(),
        before,
        "a scheduled apply must not undo the rollback"
    );
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));

    // The manifest change the plan printed releases the hold; git and the
    // registry then agree.
    repo.edit(
        "models/fraud-detector.yaml",
        "    - version: 2\n      stage: Archived",
        "    - version: 2\n      stage: Production",
    )
    .edit(
        "models/fraud-detector.yaml",
        "    - version: 3\n      stage: Production",
        "    - version: 3\n      stage: Archived",
    );
    repo.run(&["plan"])
        .code(0)
        .stdout_has("  ~ record rollout: rollback hold released: the model's manifest changed\n")
        .stdout_lacks("Held by rollback");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes. Registry and serving match the repository.");
}

#[test]
fn a_released_hold_lets_the_next_apply_follow_git() {
    let repo = promoted();
    repo.run(&["rollback", "fraud-detector", "--reason", "error spike"])
        .code(0);
    repo.run(&["rollback", "fraud-detector", "--release"])
        .code(0)
        .stdout_has(
            "Released the rollback hold on fraud-detector: the next apply follows git again.",
        );
    repo.run(&["plan"])
        .code(0)
        .stdout_has("version 3: Archived → Production (restored to Production from the archive)");
    repo.run(&["rollback", "fraud-detector", "--release"])
        .code(1)
        .stderr_has("fraud-detector is not held by a rollback; nothing to release");
}

#[test]
fn a_target_that_never_served_needs_force() {
    let repo = promoted();
    // Version 1 was registered as history: it never served here.
    repo.run(&[
        "rollback",
        "fraud-detector",
        "--to",
        "1",
        "--reason",
        "test",
    ])
    .code(1)
    .stderr_has(
        "fraud-detector version 1 was never in Production; pass --force to put it there anyway",
    );
    repo.run(&[
        "rollback",
        "fraud-detector",
        "--to",
        "9",
        "--reason",
        "test",
    ])
    .code(1)
    .stderr_has("fraud-detector has no version 9");
    repo.run(&["rollback", "fraud-detector", "--reason", " "])
        .code(1)
        .stderr_has("--reason must say why");
    repo.run(&[
        "rollback",
        "fraud-detector",
        "--to",
        "1",
        "--reason",
        "drill",
        "--force",
    ])
    .code(0)
    .stdout_has("Rolled back fraud-detector from version 3 to version 1");
    assert_eq!(routing(&repo), serde_json::json!({"1": 100}));
}

#[test]
fn a_rollback_during_a_canary_stops_it() {
    let repo = applied();
    repo.edit(
        "models/fraud-detector.yaml",
        "stage: Production",
        "stage: Archived",
    )
    .edit(
        "models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Production",
    )
    .edit(
        "models/fraud-detector.yaml",
        "adds optional device_fingerprint_seen_before.\n",
        "adds optional device_fingerprint_seen_before.\n      approved_by: risk-ml\n",
    );
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(routing(&repo), serde_json::json!({"2": 95, "3": 5}));
    repo.at("2026-11-26T09:20:00Z");
    repo.run(&["rollback", "fraud-detector", "--reason", "latency alarm"])
        .code(0)
        .stdout_has("Rolled back fraud-detector from version 3 to version 2")
        .stdout_has("  rollout; its canary of version 3 is stopped\n");
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Staging ");
    // Git agrees by taking version 3 back to Staging.
    repo.run(&["plan"])
        .code(0)
        .stdout_has("    -      stage: Production\n    +      stage: Staging\n");
}
