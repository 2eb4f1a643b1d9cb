//! "Gates guard Production" on every path that reaches it, as a table: a
//! version its policy refuses (here: not signed off by its owner, so the
//! `approval.owner` gate fails) never becomes Production, whichever way it
//! is asked there — a direct move, a canary (at its start and at its
//! completion), a shadow comparison or an A/B test (by `auto_promote` and
//! because git asks), a restore from Archived, and the revert of a change
//! made outside git. The example repository is reconciled on a schedule
//! (every hour, the observations' resolution; the canary every 15 minutes as
//! `reconcile.yml` runs it), time moved only through `MODELOPS_NOW`, over the
//! rollouts' whole duration; after every run no refused version may be in
//! Production.

use jiff::{SignedDuration, Timestamp};

use crate::common::{NOW, Repo};
use crate::lifecycle::example_in_git;

/// The `n`th hourly run after `NOW` (the example's observations are hourly;
/// `schedule.rs` runs the same rollouts every 15 minutes).
fn hour(n: i64) -> String {
    tick(4 * n)
}

/// The schedule's `n`th run after `NOW`.
fn tick(n: i64) -> String {
    let t: Timestamp = NOW.parse().unwrap();
    t.checked_add(SignedDuration::from_mins(15 * n))
        .unwrap()
        .to_string()
}

/// One path into Production, and the version that must not take it.
struct Path {
    what: &'static str,
    model: &'static str,
    version: u64,
    /// The run at which git asks for the move (`None`: git never asks; the
    /// rollout's `auto_promote` would make it).
    asks_at: Option<i64>,
    /// What git changes in the model's manifest to ask, `(from, to)`.
    ask: &'static [(&'static str, &'static str)],
    /// What the run that refuses it prints.
    refused: &'static str,
    /// The gates the plan shows failing when git asks.
    fails: &'static [&'static str],
}

const CHURN: &str = "models/churn-predictor.yaml";
const RANKER: &str = "models/recommendation-ranker.yaml";
const FRAUD: &str = "models/fraud-detector.yaml";

/// Copies of the churn predictor with no deployment (so moves are direct),
/// each a model of its own: `(name, file)`.
const DIRECT: (&str, &str) = ("scorer-direct", "models/scorer-direct.yaml");
const RESTORE: (&str, &str) = ("scorer-restore", "models/scorer-restore.yaml");
const REVERT: (&str, &str) = ("scorer-revert", "models/scorer-revert.yaml");

/// The shadow passes after 7 days, the A/B test decides after 14.
const SHADOW_DONE: i64 = 7 * 24;
const AB_DONE: i64 = 14 * 24;

fn paths() -> Vec<Path> {
    vec![
        Path {
            what: "direct: Staging → Production, no deployment",
            model: DIRECT.0,
            version: 3,
            asks_at: Some(1),
            ask: &[
                (
                    "    - version: 2\n      stage: Production",
                    "    - version: 2\n      stage: Archived",
                ),
                (
                    "    - version: 3\n      stage: Staging",
                    "    - version: 3\n      stage: Production",
                ),
            ],
            refused: "! version 3: mark Rejected, stays Staging (gates refuse Staging → Production)",
            // Without a deployment nothing is rollout evidence either.
            fails: &["evidence.rollout", "approval.owner"],
        },
        Path {
            what: "restore: Archived → Production",
            model: RESTORE.0,
            version: 1,
            asks_at: Some(1),
            ask: &[
                (
                    "      approved_by: ml-platform\n      tags: {algorithm: gradient_boosting}\n\n    - version: 2",
                    "      tags: {algorithm: gradient_boosting}\n\n    - version: 2",
                ),
                (
                    "    - version: 1\n      stage: Archived",
                    "    - version: 1\n      stage: Production",
                ),
                (
                    "    - version: 2\n      stage: Production",
                    "    - version: 2\n      stage: Archived",
                ),
            ],
            refused: "! version 1: mark Rejected, stays Archived (gates refuse Archived → Production)",
            // An older version is also judged against the Production
            // version it would replace (`modelops rollback` is the
            // emergency path that skips gates).
            fails: &[
                "regression.test_accuracy",
                "bias_regression.age_band",
                "bias_regression.gender",
                "signature.compatible",
                "approval.owner",
            ],
        },
        Path {
            what: "canary start: git asks, the deployment's canary would take it",
            model: "fraud-detector",
            version: 3,
            asks_at: Some(1),
            ask: &[
                (
                    "    - version: 2\n      stage: Production",
                    "    - version: 2\n      stage: Archived",
                ),
                (
                    "    - version: 3\n      stage: Staging",
                    "    - version: 3\n      stage: Production",
                ),
            ],
            refused: "! version 3: mark Rejected, stays Staging (gates refuse Staging → Production)",
            fails: &["approval.owner"],
        },
        Path {
            what: "shadow, auto_promote: the comparison passes",
            model: "churn-auto",
            version: 3,
            asks_at: None,
            ask: &[],
            refused: "churn-auto: the shadow of version 3 passed, but its gates refuse Production (approval.owner: (none)",
            fails: &["approval.owner"],
        },
        Path {
            what: "shadow, git asks after the comparison passed",
            model: "churn-predictor",
            version: 3,
            asks_at: Some(SHADOW_DONE + 1),
            ask: &[
                (
                    "    - version: 2\n      stage: Production",
                    "    - version: 2\n      stage: Archived",
                ),
                (
                    "    - version: 3\n      stage: Staging",
                    "    - version: 3\n      stage: Production",
                ),
            ],
            refused: "evidence.rollout          PASS    shadow passed",
            fails: &["approval.owner"],
        },
        Path {
            what: "A/B test, auto_promote: the treatment wins",
            model: "ranker-auto",
            version: 2,
            asks_at: None,
            ask: &[],
            refused: "ranker-auto: the ab_test of version 2 passed, but its gates refuse Production (approval.owner: (none)",
            fails: &["approval.owner"],
        },
        Path {
            what: "A/B test, git asks after the test decided",
            model: "recommendation-ranker",
            version: 2,
            asks_at: Some(AB_DONE + 2),
            ask: &[
                (
                    "    - version: 1\n      stage: Production",
                    "    - version: 1\n      stage: Archived",
                ),
                (
                    "    - version: 2\n      stage: Staging",
                    "    - version: 2\n      stage: Production",
                ),
            ],
            refused: "approval.owner            FAIL    (none)",
            fails: &["approval.owner"],
        },
    ]
}

fn file_of(model: &str) -> String {
    match model {
        "churn-predictor" => CHURN.into(),
        "recommendation-ranker" => RANKER.into(),
        "fraud-detector" => FRAUD.into(),
        other => format!("models/{other}.yaml"),
    }
}

/// The stage the registry holds for `model` version `version`.
fn stage(repo: &Repo, model: &str, version: u64) -> String {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.state_file()).expect("state"))
            .expect("state is JSON");
    state["state"]["models"][model]["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("{model} is registered"))
        .iter()
        .find(|v| v["version"] == version)
        .unwrap_or_else(|| panic!("{model} version {version} is registered"))["stage"]
        .as_str()
        .expect("a stage")
        .to_string()
}

/// The example with three direct copies of the churn predictor, and copies
/// of the churn predictor and the recommendation ranker, with their
/// deployments and observations, whose rollouts promote on their own.
fn example_with_copies() -> Repo {
    let repo = example_in_git();
    let churn = repo.read(CHURN);
    let rename = |text: &str, from: &str, to: &str| {
        text.replace(&format!("name: {from}"), &format!("name: {to}"))
            .replace(&format!("model: {from}"), &format!("model: {to}"))
    };
    for (name, file) in [DIRECT, RESTORE, REVERT] {
        repo.file(file, rename(&churn, "churn-predictor", name));
    }
    let observations = repo.read("observations.yaml");
    // A model's lines: from `  name:` to the next two-space key.
    let block = |model: &str| {
        let head = format!("  {model}:");
        let mut lines = observations.lines().skip_while(|l| *l != head);
        let first = lines.next().unwrap_or_else(|| panic!("{model} observed"));
        let mut out = format!("{first}\n");
        for l in lines.take_while(|l| l.starts_with("   ") || l.is_empty()) {
            out.push_str(l);
            out.push('\n');
        }
        out
    };
    let mut extra = String::new();
    for (from, to) in [
        ("churn-predictor", "churn-auto"),
        ("recommendation-ranker", "ranker-auto"),
    ] {
        repo.file(
            &format!("models/{to}.yaml"),
            rename(&repo.read(&file_of(from)), from, to),
        );
        repo.file(
            &format!("deployments/{to}.yaml"),
            rename(&repo.read(&format!("deployments/{from}.yaml")), from, to)
                .replace("auto_promote: false", "auto_promote: true"),
        );
        extra.push_str(&block(from).replacen(&format!("  {from}:"), &format!("  {to}:"), 1));
    }
    let mut observations = observations.clone();
    if !observations.ends_with('\n') {
        observations.push('\n');
    }
    repo.file("observations.yaml", observations + &extra);
    repo.git_commit("copies");
    repo
}

#[test]
fn no_path_takes_a_refused_version_to_production() {
    let repo = example_with_copies();
    let paths = paths();
    repo.run(&["apply", "--auto-approve"]).code(0);
    let mut refused = vec![false; paths.len()];
    for n in 1..=AB_DONE + 3 {
        for p in &paths {
            if p.asks_at == Some(n) {
                for (from, to) in p.ask {
                    repo.edit(&file_of(p.model), from, to);
                }
                // The plan shows why, with the gate table.
                let json = repo.run(&["plan", "--format", "json"]).json();
                let failed: Vec<String> = json["models"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["model"] == p.model)
                    .flat_map(|m| m["steps"].as_array().unwrap().clone())
                    .filter(|s| s["version"] == p.version)
                    .flat_map(|s| s["gates"].as_array().cloned().unwrap_or_default())
                    .filter(|g| g["status"] == "fail")
                    .map(|g| g["check"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(failed, p.fails, "{}: the plan's gates", p.what);
            }
        }
        repo.at(&hour(n));
        let run = repo.run(&["apply", "-v", "--auto-approve"]);
        let out = run.stdout();
        for (i, p) in paths.iter().enumerate() {
            assert_ne!(
                stage(&repo, p.model, p.version),
                "Production",
                "{} reached Production at {}:\n{out}",
                p.what,
                hour(n)
            );
            if out.contains(p.refused) && p.asks_at.is_none_or(|a| n >= a) {
                refused[i] = true;
            }
        }
    }
    for (p, r) in paths.iter().zip(&refused) {
        assert!(*r, "{}: never refused with {:?}", p.what, p.refused);
    }
}

/// A canary that started signed off and loses its sign-off in its last
/// stage never completes: it is refused Production, traffic returns to the
/// stable version.
#[test]
fn a_canary_whose_gates_fail_before_completion_is_not_promoted() {
    let repo = example_in_git();
    repo.run(&["apply", "--auto-approve"]).code(0);
    crate::rollouts::promote(&repo);
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("start fraud-detector canary of version 3: 0% → 5% (stage 1 of 4)");
    let mut aborted = false;
    // Stage 4 (100%) begins after 17h and lasts 24h.
    for n in 1..=48 * 4 {
        if n == 20 * 4 {
            repo.edit(
                FRAUD,
                "device_fingerprint_seen_before.\n      approved_by: risk-ml\n",
                "device_fingerprint_seen_before.\n",
            );
        }
        repo.at(&tick(n));
        let out = repo.run(&["apply", "--auto-approve"]).stdout();
        assert_ne!(
            stage(&repo, "fraud-detector", 3),
            "Production",
            "at {}:\n{out}",
            tick(n)
        );
        aborted |= out.contains("its gates refuse Production");
    }
    assert!(
        aborted,
        "the canary was ended because its gates refuse Production"
    );
    let routing = repo.read("state/routing.json");
    let v: serde_json::Value = serde_json::from_str(&routing).unwrap();
    assert_eq!(
        v["routes"]["fraud-detector"]["weights"],
        serde_json::json!({"2": 100})
    );
}

/// A change made outside git (the Production version archived in the
/// registry) is put back only through the gates: once its sign-off is gone
/// from git, the revert is refused and the plan says the stage diverges.
#[test]
fn a_revert_into_production_passes_the_gates() {
    let repo = example_with_copies();
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.edit(
        REVERT.1,
        "      approved_by: ml-platform\n      tags: {algorithm: gradient_boosting}\n\n    # Candidate",
        "      tags: {algorithm: gradient_boosting}\n\n    # Candidate",
    );
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(stage(&repo, REVERT.0, 2), "Production");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.state_file()).unwrap()).unwrap();
    for v in state["state"]["models"][REVERT.0]["versions"]
        .as_array_mut()
        .unwrap()
    {
        if v["version"] == 2 {
            v["stage"] = "Archived".into();
        }
    }
    std::fs::write(repo.state_file(), serde_json::to_vec(&state).unwrap()).unwrap();
    repo.run(&["plan"])
        .stdout_has("  ~ scorer-revert version 2: stage: \"Production\" → \"Archived\"\n")
        .stdout_has("approval.owner            FAIL    (none)")
        .stdout_lacks("  ~ version 2: Archived → Production");
    repo.run(&["apply", "--auto-approve"]);
    assert_eq!(stage(&repo, REVERT.0, 2), "Archived");
}
