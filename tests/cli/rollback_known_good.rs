//! Where a rollback goes by default, on the example repository: the last
//! known-good version, never one that was itself rolled back (issue 12's
//! sequence), the same for `modelops rollback` and for monitor's rollback
//! action; `--to` and `--force` for anything else, recorded as forced.

use crate::common::{NOW, Repo, copy_dir};
use crate::lifecycle::applied;

const FRAUD: &str = "models/fraud-detector.yaml";

/// `NOW` plus some hours.
fn hours(h: i64) -> String {
    let t: jiff::Timestamp = NOW.parse().unwrap();
    t.checked_add(jiff::SignedDuration::from_hours(h))
        .unwrap()
        .to_string()
}

fn routing(repo: &Repo) -> serde_json::Value {
    let text = std::fs::read_to_string(repo.state().join("routing.json")).expect("routing.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v["routes"]["fraud-detector"]["weights"].clone()
}

/// The example's fraud-detector canary takes version 3 to Production: git
/// promotes it (signed off), and applies at the canary's stage boundaries
/// carry it through its four stages; version 2 is archived by succession.
fn canaried() -> Repo {
    let repo = applied();
    repo.edit(FRAUD, "stage: Production", "stage: Archived")
        .edit(FRAUD, "stage: Staging", "stage: Production")
        .edit(
            FRAUD,
            "adds optional device_fingerprint_seen_before.\n",
            "adds optional device_fingerprint_seen_before.\n      approved_by: risk-ml\n",
        )
        .git_commit("promote fraud-detector 3 by canary");
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
    repo.run(&[
        "rollback",
        "fraud-detector",
        "--to",
        "3",
        "--reason",
        "v2 degraded too",
    ])
    .code(1)
    .stderr_has("fraud-detector version 3 is not known-good: taken out of Production by a rollback: error spike in v3 (at 2026-11-28T03:00:00Z); pass --force to roll back to it anyway");
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    repo.run(&[
        "rollback",
        "fraud-detector",
        "--to",
        "3",
        "--reason",
        "v2 degraded too",
        "--force",
    ])
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
