//! The example repository reconciled as its own `reconcile.yml` runs it:
//! `apply` every 15 minutes (`cron: "*/15 * * * *"`) over the two weeks its
//! hourly `observations.yaml` covers, time moved only through
//! `MODELOPS_NOW`. Most runs look at a window the hourly source has not
//! filled yet; none of them may count that against a rollout. And with the
//! provider down, the same schedule still fails the rollout after
//! `max_consecutive_errors`.

use jiff::{SignedDuration, Timestamp};

use crate::common::{NOW, Repo};
use crate::lifecycle::applied;
use crate::rollouts::promote;

/// The schedule's `n`th run after `NOW`.
fn tick(n: i64) -> String {
    let t: Timestamp = NOW.parse().unwrap();
    t.checked_add(SignedDuration::from_mins(15 * n))
        .unwrap()
        .to_string()
}

/// 14 days of runs every 15 minutes.
const TICKS: i64 = 14 * 24 * 4;

/// The example applied at `NOW` (the shadow and the A/B test start), then
/// fraud-detector version 3 promoted in git and applied at once, as the
/// merge's push-triggered run would: the canary starts at `NOW`.
fn canary_started() -> Repo {
    let repo = applied();
    promote(&repo);
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("start fraud-detector canary of version 3: 0% → 5% (stage 1 of 4)");
    repo
}

/// Decisions a run printed (not holds): `(time, line)`.
fn decisions(at: &str, stdout: &str) -> Vec<(String, String)> {
    const VERBS: [&str; 8] = [
        "advance ",
        "complete ",
        "record ",
        "promote ",
        "fail ",
        "roll back ",
        "end ",
        "start ",
    ];
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| VERBS.iter().any(|v| l.starts_with(v)))
        .map(|l| (at.to_string(), l.to_string()))
        .collect()
}

#[test]
fn the_example_reconciled_every_15_minutes_for_two_weeks() {
    let repo = canary_started();
    let mut seen = Vec::new();
    let started = std::time::Instant::now();
    for n in 1..=TICKS {
        let at = tick(n);
        repo.at(&at);
        let run = repo.run(&["apply", "--auto-approve"]).code(0);
        assert!(
            !run.stdout().contains("allowed)"),
            "no analysis error at {at}:\n{}",
            run.stdout()
        );
        seen.extend(decisions(&at, &run.stdout()));
    }
    eprintln!(
        "{TICKS} applies in {:?} ({:?} each)",
        started.elapsed(),
        started.elapsed() / TICKS as u32
    );
    let want = [
        (
            "2026-11-26T10:00:00Z",
            "advance fraud-detector canary 5% → 25%: 1h elapsed; ",
        ),
        (
            "2026-11-26T14:00:00Z",
            "advance fraud-detector canary 25% → 50%: 4h elapsed; ",
        ),
        (
            "2026-11-27T02:00:00Z",
            "advance fraud-detector canary 50% → 100%: 12h elapsed; ",
        ),
        (
            "2026-11-28T02:00:00Z",
            "complete fraud-detector canary: version 3 to Production after 4 stages, version 2 archived; ",
        ),
        (
            "2026-12-03T09:00:00Z",
            "record churn-predictor shadow of version 3: comparison passed (",
        ),
        (
            "2026-12-10T09:00:00Z",
            "record recommendation-ranker A/B test of version 2: treatment wins, conversion_rate ",
        ),
    ];
    let got: Vec<(&str, &str)> = seen.iter().map(|(t, l)| (t.as_str(), l.as_str())).collect();
    assert_eq!(got.len(), want.len(), "decisions: {got:#?}");
    for ((t, line), (want_t, want_line)) in got.iter().zip(want) {
        assert_eq!(*t, want_t, "{line}");
        assert!(
            line.starts_with(want_line),
            "at {t}: {line}\nwanted: {want_line}"
        );
    }

    // Nothing was rejected, least of all for lack of data.
    for model in ["fraud-detector", "churn-predictor", "recommendation-ranker"] {
        repo.run(&["status", model])
            .code(0)
            .stdout_lacks("Rejected")
            .stdout_lacks("Failed");
    }
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  3          Production ")
        .stdout_has("  serving on local: v3 100%\n")
        .stdout_has("  rollout: canary of version 3 against version 2: Succeeded");
    repo.run(&["status", "churn-predictor"])
        .code(0)
        .stdout_has("  rollout: shadow of version 3 against version 2: Succeeded");
    repo.run(&["status", "recommendation-ranker"])
        .code(0)
        .stdout_has("\"winner\":\"treatment\"");
    for model in ["fraud-detector", "churn-predictor", "recommendation-ranker"] {
        repo.run(&["history", model])
            .code(0)
            .stdout_lacks("no data")
            .stdout_lacks("analysis error");
    }
}

/// A port on loopback that refuses connections: bound, then released.
fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_provider_that_is_down_still_fails_the_rollout_after_max_consecutive_errors() {
    // (provider, modelops.yaml's metrics block, what the error says)
    let file = "  metrics:\n    observations:\n      type: file\n      path: observations.yaml\n";
    let cases = [
        (
            "a missing observations file",
            file.replace("path: observations.yaml", "path: gone/observations.yaml"),
            "cannot read it",
        ),
        (
            "a Prometheus that refuses connections",
            format!(
                "  metrics:\n    observations:\n      type: prometheus\n      url: http://127.0.0.1:{}\n",
                refused_port()
            ),
            "connection failed",
        ),
    ];
    for (provider, metrics, why) in cases {
        let repo = canary_started();
        let config = repo.read("modelops.yaml");
        assert!(config.contains(file), "the example's metrics block");
        repo.file("modelops.yaml", config.replace(file, &metrics));
        for (n, error) in [(1, 1), (2, 2)] {
            repo.at(&tick(n));
            repo.run(&["apply", "--auto-approve"])
                .code(0)
                .stdout_has("  hold fraud-detector canary at 5% (")
                .stdout_has(why)
                .stdout_has(&format!("(error {error} of 3 allowed)\n"));
        }
        repo.at(&tick(3));
        let run = repo.run(&["apply", "--auto-approve"]).code(1);
        run.stdout_has("  fail fraud-detector canary at 5%: metrics unavailable: ")
            .stdout_has("(3 analyses in a row); all traffic to version 2; version 3 Rejected\n")
            .stdout_has("  fail recommendation-ranker A/B test of version 2: metrics unavailable: ")
            .stdout_lacks("~ version 3: Staging → Production");
        repo.run(&["status", "fraud-detector"])
            .code(0)
            .stdout_has("  2          Production ")
            .stdout_has("  3          Staging (Rejected) ")
            .stdout_has("  serving on local: v2 100%\n");
        eprintln!("{provider}: failed after 3 errors");
    }
}
