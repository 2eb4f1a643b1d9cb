//! End to end: the example repository's fraud-detector canary run by the
//! real binary against a real nginx and a real Prometheus, driven only by
//! `modelops apply` and the clock (`MODELOPS_NOW`). Each test starts its own
//! nginx (in front of model servers that answer with their version) and its
//! own Prometheus, backfilled with the traffic the canary's stages would
//! have produced ([`series`]); skipped when either is not installed, unless
//! `MODELOPS_E2E=1`.
//!
//! The repository is the example with only the fraud detector (its churn
//! and recommendation deployments would read the same provider, where no
//! series of theirs exists, and fail on their own). Every figure the
//! analysis reports is checked against the series the test wrote; every
//! routing change is checked by sending requests through nginx.

#[path = "rollout_e2e/series.rs"]
mod series;

use jiff::{SignedDuration, Timestamp};
use modelops::reconcile::gates::num_short;
use modelops::reconcile::rollout::thousands;
use serde_json::Value;

use crate::common::{Repo, snapshot};
use crate::e2e::fraud_detector_only;
use crate::e2e::servers::{Edge, edge_and_prometheus};
use crate::rollouts::promote;
use series::{HEALTHY, Run, Series, Stretch};

/// Run A (healthy) starts here; so does the outage's run.
const T0: &str = "2026-11-26T09:00:00Z";
/// Run B (a regressed error rate) starts here.
const T1: &str = "2026-12-05T09:00:00Z";
/// Requests sent through nginx to check a split.
const SPLIT: usize = 2000;

/// `minutes` after `base`.
fn at(base: &str, minutes: i64) -> Timestamp {
    base.parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

/// A run of traffic from `start` through these `(minutes, canary percent)`.
fn run(start: &str, stretches: &[(i64, u64)], canary_errors: f64) -> Run {
    Run {
        start: at(start, 0),
        stretches: stretches
            .iter()
            .map(|&(minutes, percent)| Stretch { minutes, percent })
            .collect(),
        canary_errors,
    }
}

/// The example with only the fraud detector, served by the `edge` nginx
/// target and judged by the `prom` Prometheus.
fn fraud_repo(edge: &Edge, prometheus: &str) -> Repo {
    let repo = fraud_detector_only();
    repo.file(
        "modelops.yaml",
        format!(
            "apiVersion: modelops/v1\nkind: Config\nspec:\n  registry:\n    type: local\n  serving:\n    targets:\n{}  metrics:\n    prom:\n      type: prometheus\n      url: {prometheus}\n",
            edge.target_yaml()
        ),
    )
    .edit(
        "deployments/fraud-detector.yaml",
        "target: local",
        "target: edge",
    )
    .git_commit("the fraud detector on nginx, judged by Prometheus");
    repo
}

/// The first apply registers the model and routes everything to version 2.
fn first_apply(repo: &Repo, edge: &Edge) {
    edge.apply(repo)
        .code(0)
        .stdout_has("~ route v2 100% on edge (version 2 is Production)")
        .stdout_has("Apply complete: 4 added, 3 changed, 1 archived.");
    edge.assert_canary_share(0, 300);
}

/// The commit that starts the canary: version 3 to Production with its
/// owner's sign-off, version 2 to Archived; then the apply that starts it.
fn start_canary(repo: &Repo, edge: &Edge, now: &str) {
    promote(repo);
    repo.git_commit("fraud-detector: version 3 to Production");
    let due = at(now, 60);
    repo.run(&["plan"])
        .code(0)
        .stdout_has(&format!("  start fraud-detector canary of version 3: 0% → 5% (stage 1 of 4)\n    next decision due at {due}\n"))
        .stdout_has("~ route v2 95%, v3 5% on edge (canary stage 1 of 4)")
        // The registry follows the canary, not the commit.
        .stdout_lacks("Staging → Production");
    edge.apply(repo)
        .code(0)
        .stdout_has("Apply complete: 0 added, 3 changed, 0 archived.");
    edge.assert_canary_share(5, SPLIT);
}

/// The rollout decision `plan` makes now, as JSON; `plan` exits `code` (1
/// when the decision rejects the version).
fn decision(repo: &Repo, code: i32) -> Value {
    let plan = repo.run(&["plan", "--format", "json"]).code(code).json();
    let model = plan["models"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["model"] == "fraud-detector"))
        .unwrap_or_else(|| panic!("no fraud-detector in the plan: {plan:#}"));
    model["rollout"].clone()
}

/// Asserts the requests each version served in a decision's analysis and
/// every check's figure; returns the checks as the plan words them.
fn assert_analysis(decision: &Value, requests: [(&str, u64); 2], checks: &[(&str, f64)]) -> String {
    let a = &decision["analysis"];
    for (version, n) in requests {
        assert_eq!(
            a["requests"][version], n as f64,
            "requests of version {version}: {a:#}"
        );
    }
    let got = a["checks"].as_array().cloned().unwrap_or_default();
    assert_eq!(got.len(), checks.len(), "{a:#}");
    let mut words = Vec::new();
    for (check, (name, want)) in got.iter().zip(checks) {
        let value = check["value"].as_f64().unwrap();
        eprintln!("{name}: measured {value}, worked out {want}");
        assert_eq!(check["name"], *name, "{a:#}");
        assert!((value - want).abs() < 1e-6, "{name}: {value}, want {want}");
        let (unit, threshold) = (check["unit"].as_str().unwrap(), &check["threshold"]);
        let op = if check["passed"] == true { "≤" } else { ">" };
        let threshold = num_short(threshold.as_f64().unwrap());
        words.push(format!(
            "{name} {}{unit} {op} {threshold}{unit}",
            num_short(*want)
        ));
    }
    if words.is_empty() {
        "no conditions to check".to_string()
    } else {
        words.join(", ")
    }
}

/// The status of the rollout: its stage and when the next decision is due.
fn assert_progressing(repo: &Repo, stage: usize, percent: u8, since: Timestamp, next: &str) {
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Staging ")
        .stdout_has(&format!("  rollout: canary of version 3 against version 2: Progressing, stage {stage} of 4 ({percent}%), since {since}\n"))
        .stdout_has(&format!("    next: {next}\n"));
}

#[test]
fn a_healthy_canary_goes_5_25_50_100_and_completes() {
    let stages = [(60, 5), (240, 25), (720, 50), (1440, 100)];
    let series = Series::new(&[run(T0, &stages, HEALTHY)]);
    let Some((edge, prometheus)) = edge_and_prometheus(&series.openmetrics()) else {
        return;
    };
    let repo = fraud_repo(&edge, &prometheus.url);
    repo.at(T0);
    first_apply(&repo, &edge);
    start_canary(&repo, &edge, T0);

    // Half-way through the first stage: the analysis passes, the stage holds.
    repo.at(&at(T0, 30).to_string());
    assert_progressing(
        &repo,
        1,
        5,
        at(T0, 0),
        "advance to 25% if the analysis passes, due at 2026-11-26T10:00:00Z, in 30m",
    );
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("  hold fraud-detector canary at 5% (30m of 1h elapsed): error_rate_increase ");

    // Each stage's end: the plan says what the analysis measured over the
    // stage, apply moves nginx on, and status names the next decision.
    type Checks = fn(&Series, Timestamp, Timestamp) -> Vec<(&'static str, f64)>;
    let first: Checks = |s, a, b| {
        let error = s.error_percent("3", a, b) - s.error_percent("2", a, b);
        let p99 = s.p99_ms("3", a, b) - s.p99_ms("2", a, b);
        vec![
            ("error_rate_increase", error),
            ("latency_p99_increase", p99),
        ]
    };
    let second: Checks = |_, _, _| vec![("accuracy_drop", Series::accuracy_drop_pp())];
    let none: Checks = |_, _, _| Vec::new();
    let ends: [(i64, i64, u8, u8, &str, Checks, &str); 3] = [
        (
            60,
            0,
            5,
            25,
            "1h",
            first,
            "advance to 50% if the analysis passes, due at 2026-11-26T14:00:00Z, in 4h",
        ),
        (
            300,
            60,
            25,
            50,
            "4h",
            second,
            "advance to 100% if the analysis passes, due at 2026-11-27T02:00:00Z, in 12h",
        ),
        (
            1020,
            300,
            50,
            100,
            "12h",
            none,
            "complete: the version becomes Production if the analysis passes, due at 2026-11-28T02:00:00Z, in 1d",
        ),
    ];
    for (stage, (minute, start, from, to, elapsed, checks, next)) in (2..).zip(ends) {
        let (since, now) = (at(T0, start), at(T0, minute));
        repo.at(&now.to_string());
        let requests = [
            ("2", series.requests("2", since, now)),
            ("3", series.requests("3", since, now)),
        ];
        let checks = assert_analysis(&decision(&repo, 0), requests, &checks(&series, since, now));
        let summary = format!(
            "  advance fraud-detector canary {from}% → {to}%: {elapsed} elapsed; {checks} over {} requests\n",
            thousands(requests[1].1 as f64)
        );
        eprintln!("{}", summary.trim());
        repo.run(&["plan"]).code(0).stdout_has(&summary);
        edge.apply(&repo)
            .code(0)
            .stdout_has("Apply complete: 0 added, 2 changed, 0 archived.");
        edge.assert_canary_share(to, SPLIT);
        assert_progressing(&repo, stage, to, now, next);
    }

    // The last stage's end: version 3 is measured over the 100% stage,
    // version 2 over the stages before it, where it served.
    let (since, now) = (at(T0, 1020), at(T0, 2460));
    repo.at(&now.to_string());
    let requests = [
        ("2", series.requests("2", at(T0, 0), since)),
        ("3", series.requests("3", since, now)),
    ];
    assert_analysis(&decision(&repo, 0), requests, &[]);
    repo.run(&["plan"])
        .code(0)
        .stdout_has("  complete fraud-detector canary: version 3 to Production after 4 stages, version 2 archived; no conditions to check over 1,440,000 requests\n")
        .stdout_has("~ version 3: Staging → Production (canary completed 4 stages)")
        .stdout_has("- version 2: Production → Archived (replaced in Production by version 3)");
    edge.apply(&repo)
        .code(0)
        .stdout_has("Apply complete: 0 added, 2 changed, 1 archived.");
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Archived ")
        .stdout_has("  3          Production ")
        .stdout_has("  serving on edge: v3 100%\n")
        .stdout_has(
            "  rollout: canary of version 3 against version 2: Succeeded, stage 4 of 4 (100%)",
        );
    edge.assert_canary_share(100, 500);
    repo.run(&["plan", "--detailed-exitcode"]).code(0);
    drop(prometheus);
}

#[test]
fn a_regressed_error_rate_rolls_back_to_the_stable_version() {
    // Version 3 fails 2% of its requests from the start; version 2, 0.05%.
    let series = Series::new(&[run(T1, &[(30, 5)], 0.02)]);
    let Some((edge, prometheus)) = edge_and_prometheus(&series.openmetrics()) else {
        return;
    };
    let repo = fraud_repo(&edge, &prometheus.url);
    repo.at(T1);
    first_apply(&repo, &edge);
    start_canary(&repo, &edge, T1);

    // The first analysis after half an hour breaches error_rate_increase.
    let (since, now) = (at(T1, 0), at(T1, 30));
    repo.at(&now.to_string());
    let increase = series.error_percent("3", since, now) - series.error_percent("2", since, now);
    let latency = series.p99_ms("3", since, now) - series.p99_ms("2", since, now);
    let requests = [("2", series.requests("2", since, now)), ("3", 1500)];
    let checks = [
        ("error_rate_increase", increase),
        ("latency_p99_increase", latency),
    ];
    let rollback = decision(&repo, 1);
    assert_eq!(rollback["action"], "fail", "{rollback:#}");
    assert_analysis(&rollback, requests, &checks);
    let breach = format!("error_rate_increase {}pp > 0.5pp", num_short(increase));
    let plan = repo
        .run(&["plan"])
        .code(1)
        .stdout_has(&format!("  roll back fraud-detector canary at 5%: {breach} over 1,500 requests; all traffic to version 2; version 3 Rejected\n"));
    snapshot!("rollback_plan", plan.stdout());
    edge.apply(&repo)
        .code(1)
        .stdout_has("~ route v2 100% on edge (rollback of version 3)")
        .stdout_has("Apply complete: 0 added, 2 changed, 0 archived, 1 rejected.")
        .stderr_has("1 version marked Rejected");
    edge.assert_canary_share(0, 500);

    let status = repo
        .run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Staging (Rejected) ")
        .stdout_has("  serving on edge: v2 100%\n")
        .stdout_has("  rollout: canary of version 3 against version 2: Failed, stage 1 of 4 (5%)")
        .stdout_has(&format!(": FAIL — {breach} over 1,500 requests\n"));
    snapshot!("rollback_status", status.stdout());
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has(&format!("{now}  fraud-detector: roll back fraud-detector canary at 5%: {breach} over 1,500 requests"))
        .stdout_has(&format!("{now}  fraud-detector version 3: Rejected for Production: canary.error_rate_increase: {}pp (needs ≤ 0.5pp)", num_short(increase)));

    // Later, nothing is tried again: the rejection holds until the manifest
    // changes, and git and the registry disagree (diverged: exit 2).
    repo.at(&at(T1, 24 * 60).to_string());
    repo.run(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Rejected earlier (failed gates or a failed rollout)")
        .stdout_has("  fraud-detector version 3 (git asks for Production): rejected at ")
        .stdout_lacks("canary of version 3: 0% → 5%");
    edge.assert_canary_share(0, 300);
    drop(prometheus);
}

#[test]
fn an_unreachable_prometheus_fails_the_canary_and_never_promotes() {
    let series = Series::new(&[run(T0, &[(30, 5)], HEALTHY)]);
    let Some((edge, prometheus)) = edge_and_prometheus(&series.openmetrics()) else {
        return;
    };
    let repo = fraud_repo(&edge, &prometheus.url);
    repo.at(T0);
    first_apply(&repo, &edge);
    start_canary(&repo, &edge, T0);
    // With Prometheus up, the canary is healthy so far.
    repo.at(&at(T0, 30).to_string());
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("  hold fraud-detector canary at 5% (30m of 1h elapsed): error_rate_increase ");

    // Prometheus goes away as the first stage ends: two analyses that
    // cannot read it hold the stage, the third fails the rollout.
    prometheus.stop();
    for (minute, error) in [(60, 1), (61, 2)] {
        repo.at(&at(T0, minute).to_string());
        edge.apply(&repo)
            .code(0)
            .stdout_has("  hold fraud-detector canary at 5% (")
            .stdout_has("elapsed): metrics unavailable: prometheus prom at http://127.0.0.1:")
            .stdout_has("connection failed: ")
            .stdout_has("(requests, errors, latency_p99_ms of versions 2 and 3)")
            .stdout_has("connection failed")
            .stdout_has(&format!("(error {error} of 3 allowed)\n"))
            .stdout_lacks("advance");
        repo.run(&["status", "fraud-detector"])
            .code(0)
            .stdout_has("  serving on edge: v2 95%, v3 5%\n")
            .stdout_has("Progressing, stage 1 of 4 (5%)");
    }
    repo.at(&at(T0, 62).to_string());
    edge.apply(&repo)
        .code(1)
        .stdout_has("  fail fraud-detector canary at 5%: metrics unavailable: ")
        .stdout_has("(3 analyses in a row); all traffic to version 2; version 3 Rejected\n")
        .stdout_has("~ route v2 100% on edge (rollback of version 3)")
        .stdout_lacks("version 3: Staging → Production");
    edge.assert_canary_share(0, 500);
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Staging (Rejected) ")
        .stdout_has("  rollout: canary of version 3 against version 2: Failed, stage 1 of 4 (5%)")
        .stdout_has("ERROR — metrics unavailable: ");
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_lacks("version 3: Staging → Production");
}
