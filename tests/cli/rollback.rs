//! `modelops rollback` on the example repository with the embedded registry
//! and routing table: serving and registry switch, the event is logged with
//! its reason, and the rollback holds against later applies until the
//! manifest changes or the hold is released. The default target is the last
//! known-good version, never one that was itself rolled back (issue 12's
//! sequence), the same for `modelops rollback` and for monitor's rollback
//! action; `--to` and `--force` for anything else, recorded as forced.

use crate::common::{Repo, copy_dir};
use crate::lifecycle::applied;
use crate::promotion::promote_12;
use crate::rollouts::{hours, promote};

const FRAUD: &str = "models/fraud-detector.yaml";

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
    promote(&repo);
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

/// The example's fraud-detector canary takes version 3 to Production: git
/// promotes it (signed off), and applies at the canary's stage boundaries
/// carry it through its four stages; version 2 is archived by succession.
fn canaried() -> Repo {
    let repo = applied();
    promote(&repo);
    repo.git_commit("promote fraud-detector 3 by canary");
    for h in [0, 1, 5, 17, 41] {
        repo.at(&hours(h));
        repo.run(&["apply", "--auto-approve"]).code(0);
    }
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  3          Production ")
        .stdout_has("  rollout: canary of version 3 against version 2: Succeeded");
    assert_eq!(routing(&repo), serde_json::json!({"3": 100}));
    repo
}

/// Issue 12's sequence up to the second rollback: version 3 rolled back
/// for an error spike, and git made to agree (version 2 Production).
fn rolled_back_and_agreed() -> Repo {
    let repo = canaried();
    repo.at(&hours(42));
    repo.run(&[
        "rollback",
        "fraud-detector",
        "--reason",
        "error spike in v3",
    ])
    .code(0)
    .stdout_has("Rolled back fraud-detector from version 3 to version 2");
    repo.edit(
        FRAUD,
        "    - version: 2\n      stage: Archived",
        "    - version: 2\n      stage: Production",
    )
    .edit(
        FRAUD,
        "    - version: 3\n      stage: Production",
        "    - version: 3\n      stage: Archived",
    )
    .git_commit("git agrees with the rollback");
    repo.at(&hours(43));
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes.");
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    repo
}

const REFUSAL: &str = "fraud-detector has no known-good version to roll back to:\n  version 3: taken out of Production by a rollback: error spike in v3 (at 2026-11-28T03:00:00Z)\n  version 1: never in Production\nName a version with --to; --force overrides its exclusion and the serving check.";

#[test]
fn a_default_rollback_never_returns_to_a_version_rolled_back_for_a_reason() {
    let repo = rolled_back_and_agreed();
    repo.at(&hours(44));
    let state = || std::fs::read(repo.state_file()).expect("state");
    let before = state();
    repo.run(&["rollback", "fraud-detector", "--reason", "v2 degraded too"])
        .code(1)
        .stderr_has(REFUSAL);
    assert_eq!(state(), before, "a refused rollback changes nothing");
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));

    // Naming version 3 is refused too, saying why; --force overrides, and
    // the rollback records what it overrode.
    let to_3 = |force: &[&str]| {
        let args = [
            "rollback",
            "fraud-detector",
            "--to",
            "3",
            "--reason",
            "v2 degraded too",
        ];
        repo.run(&[&args[..], force].concat())
    };
    to_3(&[]).code(1).stderr_has("fraud-detector version 3 is not known-good: taken out of Production by a rollback: error spike in v3 (at 2026-11-28T03:00:00Z); pass --force to roll back to it anyway");
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    to_3(&["--force"])
        .code(0)
        .stdout_has("Rolled back fraud-detector from version 2 to version 3")
        .stdout_has("  forced past: version 3: taken out of Production by a rollback: error spike in v3 (at 2026-11-28T03:00:00Z)\n");
    assert_eq!(routing(&repo), serde_json::json!({"3": 100}));
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has("fraud-detector version 2: taken out of Production by a rollback: v2 degraded too")
        .stdout_has("rolled back from version 2 to version 3 by tester: v2 degraded too (forced past: version 3: taken out of Production by a rollback: error spike in v3 (at 2026-11-28T03:00:00Z))");
    // Now both versions were rolled back: neither is a default target.
    repo.at(&hours(45));
    repo.run(&["rollback", "fraud-detector", "--reason", "again"])
        .code(1)
        .stderr_has("  version 2: taken out of Production by a rollback: v2 degraded too (at 2026-11-28T05:00:00Z)\n  version 1: never in Production\n");
}

/// The example's observations with every hour of fraud-detector version
/// `v` at a 1% error rate; monitoring then breaches `error_rate`.
fn breaching(repo: &Repo, v: &str) {
    crate::monitor::errors_from(repo, v, 0.01);
    repo.edit(
        "deployments/fraud-detector.yaml",
        "  monitoring:\n    latency_p99_sla: 50ms\n",
        "  monitoring:\n    latency_p99_sla: 50ms\n    on_breach: {signals: {error_rate: rollback}}\n",
    );
}

/// The registry stages `status` prints, `version stage` per line.
fn stages(repo: &Repo) -> Vec<String> {
    let text = repo.run(&["status", "fraud-detector"]).code(0).stdout();
    text.lines()
        .filter(|l| l.starts_with("  ") && l.trim_start().starts_with(char::is_numeric))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn monitor_rolls_back_to_the_same_target_as_modelops_rollback() {
    // (history, the Production version monitor watches, what both do)
    type Setup = fn() -> Repo;
    let rows: [(&str, Setup, &str, Result<&str, &str>); 2] = [
        (
            "after the canary: version 2 left by succession",
            canaried,
            "3",
            Ok("Rolled back fraud-detector from version 3 to version 2 in "),
        ),
        (
            "after a rollback git agreed with: nothing known-good",
            rolled_back_and_agreed,
            "2",
            Err(REFUSAL),
        ),
    ];
    for (name, setup, serving, want) in rows {
        let repo = setup();
        breaching(&repo, serving);
        repo.at(&hours(44));
        // The same state for both paths: the rollback by hand first, then
        // the state as it was before it, for monitor.
        let saved = tempfile::tempdir().expect("tempdir");
        copy_dir(&repo.state(), saved.path());
        let by_hand = repo.run(&["rollback", "fraud-detector", "--reason", "error_rate"]);
        let (hand_routing, hand_stages) = (routing(&repo), stages(&repo));
        std::fs::remove_dir_all(repo.state()).expect("remove state");
        copy_dir(saved.path(), &repo.state());
        let monitored = repo.run(&["monitor", "fraud-detector"]).code(1);
        match want {
            Ok(done) => {
                by_hand.code(0).stdout_has(done);
                monitored
                    .stderr_has(done)
                    .stdout_has("  action: rolled back for error_rate: ");
                // What monitor took out is marked so.
                repo.run(&["rollback", "fraud-detector", "--to", serving, "--reason", "x"])
                    .code(1)
                    .stderr_has(&format!("fraud-detector version {serving} is not known-good: taken out of Production by monitor's rollback: monitor: error_rate "));
            }
            Err(refused) => {
                by_hand.code(1).stderr_has(refused);
                monitored.stdout_has(&format!(
                    "  action: FAILED: rollback for error_rate: {}",
                    refused.lines().next().unwrap()
                ));
            }
        }
        assert_eq!(
            routing(&repo),
            hand_routing,
            "{name}: both send traffic to the same version"
        );
        assert_eq!(
            stages(&repo),
            hand_stages,
            "{name}: the same registry stages"
        );
    }
}
