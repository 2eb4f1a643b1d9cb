//! `rollback.ready` and `rollback.drilled` on every path into Production,
//! as a table: a direct move, a restore from Archived, a canary (at its
//! start, and on the run that would complete it), a shadow comparison and
//! an A/B test (by `auto_promote` and because git asks), and apply's
//! re-check of a saved plan. Each path is taken under five conditions, one
//! repository each: the drill missing, stale, too slow, the rollback target
//! unservable, and all in order. Only the last may reach Production, and
//! every refusal names the gate.
//!
//! The example repository is served by an nginx-type target `gate` whose
//! test and reload commands are `true` (no nginx needed): its health checks
//! reach small servers in the test (one answers 200, one switches between
//! 200 and 503), and its front doors, which drills probe, are servers
//! answering `x-modelops-version` with the rollback target's version, at
//! once or after 1.05 s. Time moves only through `MODELOPS_NOW`; the runs
//! follow the rollouts' decisions (every 2 hours while the canaries run,
//! then around the shadow's 7 days and the A/B test's 14).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::common::{NOW, Repo};
use crate::e2e::http::{Response, Server};
use crate::lifecycle::example_in_git;

/// What holds when a path is asked into Production.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Condition {
    /// No drill was ever run.
    Missing,
    /// The drills are older than the policy's `within` (30m).
    Stale,
    /// The drills passed, but their switch took longer than `sla` (1s).
    Slow,
    /// The version a rollback would go to fails its health check.
    Unservable,
    /// Drilled recently and fast, the rollback target healthy.
    InOrder,
}

impl Condition {
    /// What the rejection names, or `None` when the path is admitted.
    fn refusal(self) -> Option<&'static str> {
        match self {
            Condition::Missing => Some("rollback.drilled: no drill recorded"),
            Condition::Stale => Some("rollback.drilled: last passed"),
            Condition::Slow => Some("its switch is not under the SLA of 1s"),
            Condition::Unservable => Some("rollback.ready: version"),
            Condition::InOrder => None,
        }
    }

    /// The rollback keys of the policy every path but the canary's
    /// completion is held to from the start.
    fn policy_keys(self) -> &'static str {
        match self {
            Condition::Stale => "rollback_ready: true, rollback_drill: {within: 30m, sla: 5m}",
            Condition::Slow => "rollback_ready: true, rollback_drill: {within: 30d, sla: 1s}",
            _ => "rollback_ready: true, rollback_drill: {within: 30d, sla: 5m}",
        }
    }
}

/// One path into Production.
struct Path {
    what: &'static str,
    model: &'static str,
    version: u64,
    /// The rollback target after the move (the version serving now).
    serving: u64,
}

const PATHS: [Path; 9] = [
    Path {
        what: "direct",
        model: "scorer-direct",
        version: 3,
        serving: 2,
    },
    Path {
        what: "restore from Archived",
        model: "scorer-restore",
        version: 1,
        serving: 2,
    },
    Path {
        what: "canary start",
        model: "fraud-detector",
        version: 3,
        serving: 2,
    },
    Path {
        what: "canary completion",
        model: "fraud-done",
        version: 3,
        serving: 2,
    },
    Path {
        what: "shadow, auto_promote",
        model: "churn-auto",
        version: 3,
        serving: 2,
    },
    Path {
        what: "shadow, git asks",
        model: "churn-predictor",
        version: 3,
        serving: 2,
    },
    Path {
        what: "A/B test, auto_promote",
        model: "ranker-auto",
        version: 2,
        serving: 1,
    },
    Path {
        what: "A/B test, git asks",
        model: "recommendation-ranker",
        version: 2,
        serving: 1,
    },
    Path {
        what: "apply's re-check of a saved plan",
        model: "scorer-recheck",
        version: 3,
        serving: 2,
    },
];

/// When git asks (hours after `NOW`); auto-promoting paths are never asked.
fn asks_at(model: &str) -> Option<i64> {
    match model {
        "scorer-direct" | "scorer-restore" | "fraud-detector" | "fraud-done" => Some(2),
        "scorer-recheck" => Some(RECHECK_PLAN),
        "churn-predictor" => Some(SHADOW_DONE + 2),
        "recommendation-ranker" => Some(AB_DONE + 4),
        _ => None,
    }
}

/// The saved plan of `scorer-recheck` is made at this hour (between two
/// runs, so nothing else changes the state before it is applied), and
/// applied an hour later, before that hour's run.
const RECHECK_PLAN: i64 = 5;
/// The shadow passes after 7 days, the A/B test decides after 14.
const SHADOW_DONE: i64 = 7 * 24;
const AB_DONE: i64 = 14 * 24;

/// The runs, in hours after `NOW`.
fn schedule() -> Vec<i64> {
    let mut hours: Vec<i64> = (1..=26).map(|n| 2 * n).collect();
    hours.push(RECHECK_PLAN);
    hours.sort();
    hours.extend(SHADOW_DONE..=SHADOW_DONE + 3);
    hours.extend(AB_DONE..=AB_DONE + 5);
    hours
}

fn time(hours: i64, minutes: i64) -> String {
    let t: Timestamp = NOW.parse().unwrap();
    t.checked_add(SignedDuration::from_mins(60 * hours + minutes))
        .unwrap()
        .to_string()
}

/// A server answering health checks: 200 while `up`, else 503.
fn health(up: Arc<AtomicBool>) -> String {
    let server = Server::start(move |_| {
        if up.load(Ordering::SeqCst) {
            Response::ok("ok")
        } else {
            Response {
                status: "503 Service Unavailable".into(),
                ..Response::ok("down")
            }
        }
    });
    format!("127.0.0.1:{}", server.port)
}

/// A front door whose answers say `version` served them, after `delay`.
fn door(version: &'static str, delay: Duration) -> String {
    let server = Server::start(move |_| Response {
        headers: vec![("x-modelops-version", version.to_string())],
        delay,
        ..Response::ok(version)
    });
    format!("127.0.0.1:{}", server.port)
}

/// The switches of the rollback targets' health: every model's, the
/// completing canary's, the saved plan's.
struct Health {
    all: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    recheck: Arc<AtomicBool>,
}

/// The example with copies for the paths, every deployment on `gate`, the
/// policies of `condition`; committed.
fn repository(condition: Condition, gate_dir: &std::path::Path) -> (Repo, Health) {
    let repo = example_in_git();
    let churn = repo.read("models/churn-predictor.yaml");
    let rename = |text: &str, from: &str, to: &str| {
        text.replace(&format!("name: {from}"), &format!("name: {to}"))
            .replace(&format!("model: {from}"), &format!("model: {to}"))
    };
    for name in ["scorer-direct", "scorer-restore", "scorer-recheck"] {
        repo.file(
            &format!("models/{name}.yaml"),
            rename(&churn, "churn-predictor", name),
        )
        .file(
            &format!("deployments/{name}.yaml"),
            format!(
                "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  model: {name}\n  target: gate\n  direct: {{}}\n"
            ),
        );
    }
    let observations = repo.read("observations.yaml");
    let block = |model: &str| {
        let head = format!("  {model}:");
        let mut lines = observations.lines().skip_while(|l| *l != head);
        let mut out = format!("{}\n", lines.next().expect("observed"));
        for l in lines.take_while(|l| l.starts_with("   ") || l.is_empty()) {
            out.push_str(l);
            out.push('\n');
        }
        out
    };
    let mut extra = String::new();
    for (from, to, file) in [
        ("churn-predictor", "churn-auto", "churn-predictor"),
        (
            "recommendation-ranker",
            "ranker-auto",
            "recommendation-ranker",
        ),
        ("fraud-detector", "fraud-done", "fraud-detector"),
    ] {
        let model = rename(&repo.read(&format!("models/{file}.yaml")), from, to);
        let model = if to == "fraud-done" {
            model.replace("  policy: default\n", "  policy: canary-done\n")
        } else {
            model
        };
        repo.file(&format!("models/{to}.yaml"), model).file(
            &format!("deployments/{to}.yaml"),
            rename(&repo.read(&format!("deployments/{file}.yaml")), from, to)
                .replace("auto_promote: false", "auto_promote: true"),
        );
        extra.push_str(&block(from).replacen(&format!("  {from}:"), &format!("  {to}:"), 1));
    }
    let mut observations = observations.clone();
    if !observations.ends_with('\n') {
        observations.push('\n');
    }
    repo.file("observations.yaml", observations + &extra);
    for p in PATHS {
        let file = format!("deployments/{}.yaml", p.model);
        let text = repo.read(&file).replace("target: local", "target: gate");
        repo.file(&file, text);
    }

    // Every gate off but the rollback gates.
    let policy = |name: &str, keys: &str| {
        format!(
            "apiVersion: modelops/v1\nkind: Policy\nmetadata: {{name: {name}}}\nspec:\n  staging: &g {{metrics: {{}}, fairness_min: null, fairness_max_regression: null, signature: {{required: false, allow_breaking_changes: true}}, latency_p99_max_ms: null, require_pinned_dependencies: false}}\n  production: *g\n  production_requires: {{rollout_evidence: false, approvals: [], {keys}}}\n"
        )
    };
    repo.file(
        "policies/default.yaml",
        policy("default", condition.policy_keys()),
    )
    .file(
        "policies/canary-done.yaml",
        policy("canary-done", "rollback_ready: true"),
    );

    let up = |on: bool| Arc::new(AtomicBool::new(on));
    let health_of = Health {
        all: up(condition != Condition::Unservable),
        done: up(true),
        recheck: up(true),
    };
    let ok = health(up(true));
    let delay = if condition == Condition::Slow {
        Duration::from_millis(1050)
    } else {
        Duration::ZERO
    };
    let doors = [("1", door("1", delay)), ("2", door("2", delay))];
    let mut listen = Vec::new();
    let mut upstreams = Vec::new();
    for p in PATHS {
        let serving = p.serving.to_string();
        let door = &doors.iter().find(|(v, _)| *v == serving).unwrap().1;
        listen.push(format!("{}: \"{door}\"", p.model));
        let rollback_target = match p.model {
            "fraud-done" => health(health_of.done.clone()),
            "scorer-recheck" => health(health_of.recheck.clone()),
            _ => health(health_of.all.clone()),
        };
        let versions: Vec<String> = (1..=3)
            .map(|v| {
                let address = if v == p.serving {
                    &rollback_target
                } else {
                    &ok
                };
                format!("\"{v}\": \"{address}\"")
            })
            .collect();
        upstreams.push(format!(
            "          {}: {{{}}}\n",
            p.model,
            versions.join(", ")
        ));
    }
    repo.edit(
        "modelops.yaml",
        "  metrics:\n",
        &format!(
            "  serving:\n    targets:\n      gate:\n        type: nginx\n        config_dir: {}\n        test_command: \"true\"\n        reload_command: \"true\"\n        health_path: /healthz\n        listen: {{{}}}\n        upstreams:\n{}  metrics:\n",
            gate_dir.display(),
            listen.join(", "),
            upstreams.concat()
        ),
    );
    repo.git_commit("the paths, on gate");
    (repo, health_of)
}

/// Git asks for `model`'s move into Production.
fn ask(repo: &Repo, model: &str) {
    let file = format!("models/{model}.yaml");
    match model {
        "scorer-restore" => {
            repo.edit(
                &file,
                "    - version: 1\n      stage: Archived",
                "    - version: 1\n      stage: Production",
            )
            .edit(
                &file,
                "    - version: 2\n      stage: Production",
                "    - version: 2\n      stage: Archived",
            );
        }
        "recommendation-ranker" => {
            repo.edit(
                &file,
                "    - version: 1\n      stage: Production",
                "    - version: 1\n      stage: Archived",
            )
            .edit(
                &file,
                "    - version: 2\n      stage: Staging",
                "    - version: 2\n      stage: Production",
            );
        }
        _ => {
            repo.edit(
                &file,
                "    - version: 2\n      stage: Production",
                "    - version: 2\n      stage: Archived",
            )
            .edit(
                &file,
                "    - version: 3\n      stage: Staging",
                "    - version: 3\n      stage: Production",
            );
        }
    }
}

/// A drill of `model` on `gate` at `at`: fast doors pass at once; slow ones
/// pass after their 1.05 s, over the 1s SLA.
fn drill(repo: &Repo, condition: Condition, model: &str, at: &str) {
    let mut args = vec!["rollback", "--drill", model, "--target", "gate"];
    if condition == Condition::Slow {
        args.extend(["--probes", "1", "--timeout", "10s"]);
    }
    repo.at(at)
        .run(&args)
        .code(0)
        .stdout_has(&format!("Rollback drill of {model} on gate: passed."));
}

fn state(repo: &Repo) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(repo.state_file()).expect("state"))
        .expect("state is JSON")
}

/// `model` version `version`: its stage, and why it was rejected, if it was.
fn version(repo: &Repo, model: &str, version: u64) -> (String, Option<String>) {
    let state = state(repo);
    let v = state["state"]["models"][model]["versions"]
        .as_array()
        .unwrap_or_else(|| panic!("{model} is registered"))
        .iter()
        .find(|v| v["version"] == version)
        .unwrap_or_else(|| panic!("{model} version {version} is registered"))
        .clone();
    (
        v["stage"].as_str().unwrap().to_string(),
        v["rejected"]["reason"].as_str().map(str::to_string),
    )
}

/// Whether the completing canary's last stage is due by `hour`: then its
/// condition is put in place before that run.
fn completes_by(repo: &Repo, hour: i64) -> bool {
    let state = state(repo);
    let r = &state["state"]["rollouts"]["fraud-done"];
    let (Some(step), Some(stages)) = (r["step"].as_u64(), r["stages"].as_array()) else {
        return false;
    };
    if r["phase"] != "Progressing" || step as usize + 1 != stages.len() {
        return false;
    }
    let since: Timestamp = r["step_started_at"].as_str().unwrap().parse().unwrap();
    let due = since
        .checked_add(SignedDuration::from_secs(
            stages[step as usize]["duration_secs"].as_i64().unwrap(),
        ))
        .unwrap();
    due <= time(hour, 0).parse::<Timestamp>().unwrap()
}

/// Runs the schedule under `condition`; returns each path's outcome (its
/// version's stage at the end, and the rejection's reason) and what the
/// apply of the saved plan said.
fn run(condition: Condition) -> (Vec<(String, Option<String>)>, String) {
    let gate_dir = tempfile::tempdir().expect("tempdir");
    let (repo, health) = repository(condition, gate_dir.path());
    repo.run(&["apply", "--auto-approve"]).code(0);
    let drilled = condition != Condition::Missing;
    if drilled {
        for p in PATHS {
            drill(&repo, condition, p.model, &time(0, 30));
        }
    }
    let mut completion_set = false;
    let mut recheck_words = None;
    for hour in schedule() {
        for p in PATHS {
            if asks_at(p.model) == Some(hour) && p.model != "scorer-recheck" {
                ask(&repo, p.model);
                repo.git_commit(&format!("promote {}", p.model));
            }
        }
        if !completion_set && completes_by(&repo, hour) {
            // The completing canary meets the condition on the run that
            // would complete it.
            completion_set = true;
            let keys = condition.policy_keys();
            repo.edit(
                "policies/canary-done.yaml",
                "rollback_ready: true}",
                &format!("{keys}}}"),
            )
            .git_commit("the completing canary's condition");
            health
                .done
                .store(condition != Condition::Unservable, Ordering::SeqCst);
        }
        if hour == RECHECK_PLAN {
            // A saved plan made while the drill is fresh and the target
            // healthy, applied an hour later: stale, or unservable, by then.
            if drilled {
                drill(&repo, condition, "scorer-recheck", &time(hour - 1, 45));
            }
            // Left uncommitted, so the plan is applied as saved
            // (--allow-dirty-plan): only the re-check under the lock judges
            // it again, not a derivation from its commit (which refuses a
            // plan whose gates fail now before the lock, see saved_plan.rs).
            ask(&repo, "scorer-recheck");
            // (Under a missing or slow drill the plan already refuses it,
            // and exits 1: the plan has diverged.)
            repo.at(&time(hour, 0)).run(&["plan", "--out", "plan.json"]);
            continue;
        }
        if hour == RECHECK_PLAN + 1 {
            health
                .recheck
                .store(condition != Condition::Unservable, Ordering::SeqCst);
            let applied = repo.at(&time(hour, 0)).run(&[
                "apply",
                "plan.json",
                "--allow-dirty-plan",
                "--auto-approve",
            ]);
            recheck_words = Some(format!("{}{}", applied.stdout(), applied.stderr()));
        }
        repo.at(&time(hour, 0)).run(&["apply", "--auto-approve"]);
    }
    assert!(
        completion_set,
        "{condition:?}: the canary reached its last stage"
    );
    let outcomes = PATHS
        .iter()
        .map(|p| version(&repo, p.model, p.version))
        .collect();
    (outcomes, recheck_words.expect("the saved plan was applied"))
}

#[test]
fn every_path_into_production_needs_a_recent_fast_drill_and_a_servable_rollback_target() {
    for condition in [
        Condition::InOrder,
        Condition::Missing,
        Condition::Stale,
        Condition::Slow,
        Condition::Unservable,
    ] {
        let (outcomes, saved) = run(condition);
        for (p, (stage, words)) in PATHS.iter().zip(outcomes) {
            let row = format!("{condition:?}, {}", p.what);
            eprintln!("{row}: {stage}; {}", words.as_deref().unwrap_or("admitted"));
            match condition.refusal() {
                None => {
                    assert_eq!(stage, "Production", "{row}: admitted");
                    assert_eq!(words, None, "{row}: never rejected");
                }
                Some(named) => {
                    assert_ne!(stage, "Production", "{row}: refused");
                    let words = words.unwrap_or_else(|| panic!("{row}: no refusal recorded"));
                    assert!(words.contains(named), "{row}: {named:?} in {words}");
                }
            }
        }
        // The saved plan: made while it passed, refused by apply's re-check
        // once the drill is stale or the target down; a missing or slow
        // drill was refused by the plan already.
        let refused_now = "Gate re-check: scorer-recheck version 3: the gates for Staging → Production fail now, at apply time: ";
        let said = match condition {
            Condition::InOrder => {
                "done: scorer-recheck: version 3: Staging → Production".to_string()
            }
            Condition::Missing | Condition::Slow => {
                "done: scorer-recheck: version 3: mark Rejected, stays Staging".to_string()
            }
            Condition::Stale => format!("{refused_now}rollback.drilled"),
            Condition::Unservable => format!("{refused_now}rollback.ready"),
        };
        assert!(saved.contains(&said), "{condition:?}: {said:?} in\n{saved}");
        if said.starts_with(refused_now) {
            let stays = "Gate re-check: scorer-recheck: traffic stays as it is, since version 3 was rejected";
            assert!(
                saved.contains(stays),
                "{condition:?}: the routing does not follow the refused version:\n{saved}"
            );
        }
    }
}
