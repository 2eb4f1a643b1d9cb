//! End to end: `modelops monitor` on the example's fraud detector against a
//! real Prometheus holding backfilled series of the eight days before
//! ([`series`]), a real nginx serving the model
//! ([`Edge`](crate::e2e::servers::Edge)), and a local HTTP receiver that
//! records the retrain webhook and `repository_dispatch` calls
//! ([`Receiver`](crate::e2e::http::Receiver)). Version 3 goes to Production
//! eight days before the monitoring time T, so its traffic norm has seven
//! earlier days; in the hour before T it fails. Every figure `monitor`
//! reports is checked against the series; the rollback by sending requests
//! through nginx and by reading the registry. Skipped when Prometheus or
//! nginx is not installed, unless `MODELOPS_E2E=1`.

#[path = "monitor_e2e/series.rs"]
mod series;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use modelops::reconcile::gates::num_short;
use serde_json::Value;

use crate::common::Repo;
use crate::e2e::fraud_detector_only;
use crate::e2e::http::Receiver;
use crate::e2e::servers::{Prometheus, edge_and_prometheus, on_edge};
use crate::rollouts::promote;
use series::{HEALTHY_ERRORS, Incident, KL, Series, V3_ACCURACY};

/// The monitoring time.
const T: &str = "2026-12-07T09:00:00Z";
/// Version 3's recorded `test_accuracy`, the accuracy signal's baseline.
const V3_TEST_ACCURACY: f64 = 0.965;
const DAY: i64 = 24 * 60;

/// `minutes` after T.
fn at(minutes: i64) -> Timestamp {
    T.parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

/// The window `(to − 1h, to]`.
fn hour_to(to: Timestamp) -> (Timestamp, Timestamp) {
    (to - SignedDuration::from_hours(1), to)
}

/// The example with only the fraud detector, deployed directly (promotion
/// is immediate) on `target` and judged by the `prom` Prometheus with this
/// `on_breach` block; its rollout evidence waived, so a commit promotes.
fn fraud_repo(serving: &str, target: &str, prometheus: &str, on_breach: &str) -> Repo {
    let repo = fraud_detector_only();
    repo.file(
        "modelops.yaml",
        format!(
            "apiVersion: modelops/v1\nkind: Config\nspec:\n  registry:\n    type: local\n{serving}  metrics:\n    prom:\n      type: prometheus\n      url: {prometheus}\n"
        ),
    )
    .file(
        "deployments/fraud-detector.yaml",
        format!(
            "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {{name: fraud-detector}}\nspec:\n  model: fraud-detector\n  target: {target}\n  direct: {{}}\n  monitoring:\n    latency_p99_sla: 50ms\n    on_breach:\n{on_breach}"
        ),
    )
    .edit(
        "policies/default.yaml",
        "# evidence_waived_for: [some-model]",
        "evidence_waived_for: [fraud-detector]",
    )
    .git_commit("the fraud detector deployed directly, monitored through Prometheus");
    repo
}

/// The commit that promotes version 3 with its owner's sign-off and
/// archives version 2.
fn promote_3(repo: &Repo) {
    promote(repo);
    repo.git_commit("fraud-detector: version 3 to Production");
}

/// [`fraud_repo`] on `local`: version 2 applied an hour before version 3
/// is promoted, eight days before T.
fn serving_3_since_8_days(prometheus: &str, on_breach: &str) -> Repo {
    let repo = fraud_repo("", "local", prometheus, on_breach);
    repo.at(&at(-8 * DAY - 60).to_string());
    repo.run(&["apply", "--auto-approve"]).code(0);
    promote_3(&repo);
    repo.at(&at(-8 * DAY).to_string());
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("~ version 3: Staging → Production");
    repo
}

/// The report's signals by name.
fn signals(report: &Value) -> BTreeMap<String, Value> {
    report["models"][0]["signals"]
        .as_array()
        .unwrap_or_else(|| panic!("no signals: {report:#}"))
        .iter()
        .map(|s| (s["signal"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

/// Asserts each signal's status and, where given, that its value is the
/// one worked out from the series.
fn assert_signals(report: &Value, want: &[(&str, &str, Option<f64>)]) {
    let got = signals(report);
    assert_eq!(got.len(), want.len(), "{report:#}");
    for (name, status, value) in want {
        let s = &got[*name];
        assert_eq!(s["status"], *status, "{name}: {s:#}");
        if let Some(want) = value {
            let v = s["value"]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {s:#}"));
            eprintln!("{name}: measured {v}, worked out {want}");
            assert!((v - want).abs() < 1e-6, "{name}: {v}, want {want}");
        }
    }
}

/// The monitor_action events in the model's history.
fn monitor_actions(repo: &Repo) -> Vec<Value> {
    let history = repo
        .run(&["history", "fraud-detector", "--format", "json"])
        .code(0)
        .json();
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "monitor_action")
        .cloned()
        .collect()
}

#[test]
fn an_error_rate_breach_rolls_back_nginx_and_the_registry_and_retrains_once() {
    // Version 3 fails 2.13% of its requests in the hour before T, and its
    // accuracy falls to 0.935 (3pp under its recorded 0.965); after T,
    // version 2 serves again.
    let incident = Incident {
        errors: 0.0213,
        accuracy: 0.935,
        kl: KL[1],
    };
    let series = Series::new(at(0), incident, "2");
    let Some((edge, prometheus)) = edge_and_prometheus(&series.openmetrics()) else {
        return;
    };
    let hook = Receiver::start("200 OK");
    let repo = fraud_repo(
        &format!("  serving:\n    targets:\n{}", edge.target_yaml()),
        "edge",
        &prometheus.url,
        &format!(
            "      signals: {{error_rate: rollback, accuracy: retrain}}\n      retrain: {{webhook: \"{}/retrain\"}}\n",
            hook.url
        ),
    );

    // Eight days before T: version 2 serves, then version 3 is promoted.
    repo.at(&at(-8 * DAY - 60).to_string());
    on_edge(&edge, || repo.run(&["apply", "--auto-approve"]))
        .code(0)
        .stdout_has("~ route v2 100% on edge (version 2 is Production)");
    edge.assert_canary_share(0, 300);
    promote_3(&repo);
    repo.at(&at(-8 * DAY).to_string());
    on_edge(&edge, || repo.run(&["apply", "--auto-approve"]))
        .code(0)
        .stdout_has("~ version 3: Staging → Production")
        .stdout_has("~ route v3 100% on edge");
    edge.assert_canary_share(100, 300);
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Archived ")
        .stdout_has("  3          Production ")
        .stdout_has("  serving on edge: v3 100%\n");

    // At T, a dry run: every figure from Prometheus, nothing done.
    repo.at(T);
    let hour = hour_to(at(0));
    let error = series.error_percent("3", hour);
    let accuracy_drop = 100.0 * (V3_TEST_ACCURACY - series.accuracy("3", hour));
    let report = repo
        .run(&["monitor", "fraud-detector", "--dry-run", "--format", "json"])
        .code(1)
        .json();
    assert_eq!(report["models"][0]["version"], 3, "{report:#}");
    assert_signals(
        &report,
        &[
            (
                "prediction_distribution",
                "healthy",
                Some(series.kl("3", hour)),
            ),
            ("feature_drift", "unmeasured", None),
            ("accuracy", "breached", Some(accuracy_drop)),
            ("latency", "healthy", Some(series.p99_ms("3", hour))),
            ("error_rate", "breached", Some(error)),
            (
                "traffic_volume",
                "healthy",
                Some(series.traffic_sigma("3", hour, 7)),
            ),
        ],
    );
    assert!(hook.requests().is_empty(), "{:?}", hook.requests());
    edge.assert_canary_share(100, 200);

    // The real run: the retrain webhook for accuracy, the rollback for the
    // error rate.
    let (error_shown, drop_shown) = (num_short(error), num_short(accuracy_drop));
    eprintln!("error rate {error_shown}%, accuracy drop {drop_shown}pp");
    on_edge(&edge, || repo.run(&["monitor", "fraud-detector"]))
        .code(1)
        .stdout_has("fraud-detector version 3 — window 1h to 2026-12-07T09:00:00Z\n")
        .stdout_has(&format!("{error_shown}%"))
        .stderr_has("Rolled back fraud-detector from version 3 to version 2 in ")
        .stdout_has(&format!("  action: retrain triggered (performance) for accuracy: drop {drop_shown}pp breaches drop ≤ 2pp\n"))
        .stdout_has(&format!("  action: rolled back for error_rate: {error_shown}% breaches ≤ 0.1%\n"))
        .stdout_has("2 breached, 1 unmeasured.");
    edge.assert_canary_share(0, 500);
    let reason = format!("monitor: error_rate {error_shown}% breaches ≤ 0.1%");
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Archived ")
        .stdout_has("  serving on edge: v2 100%\n")
        .stdout_has(&format!(
            "rollback at 2026-12-07T09:00:00Z by tester (version 3 → version 2): {reason}"
        ));
    repo.run(&["history", "fraud-detector"]).code(0).stdout_has(&format!(
        "2026-12-07T09:00:00Z  fraud-detector version 3: rolled back for error_rate: {error_shown}% breaches ≤ 0.1%"
    ));
    let keys: Vec<Value> = monitor_actions(&repo)
        .iter()
        .map(|e| e["changes"][0]["after"].clone())
        .collect();
    assert_eq!(
        keys,
        [
            "fraud-detector|3|accuracy|2026-12-07T09:00:00Z",
            // The rollback's exit marker on the version it took out.
            "left-production:monitor-breach",
            "fraud-detector|3|error_rate|2026-12-07T09:00:00Z"
        ]
    );
    let seen = hook.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "POST /retrain HTTP/1.1");
    let payload: Value = serde_json::from_str(&seen[0].2).expect("a JSON payload");
    assert_eq!(payload["model"], "fraud-detector");
    assert_eq!(payload["version"], "3");
    assert_eq!(payload["signal"], "accuracy");
    assert_eq!(payload["trigger"], "performance");
    assert_eq!(payload["window"], "1h to 2026-12-07T09:00:00Z");
    assert_eq!(payload["at"], T);
    let value = payload["value"].as_f64().unwrap();
    assert!(
        (value - accuracy_drop).abs() < 1e-6,
        "payload value {value}, want {accuracy_drop}"
    );

    // Twenty minutes later, the same hour: version 2 is watched (healthy
    // where measured), nothing fires or rolls back again.
    let now = at(20);
    repo.at(&now.to_string());
    let window = hour_to(now);
    let report = repo
        .run(&["monitor", "fraud-detector", "--format", "json"])
        .code(1)
        .json();
    assert_eq!(report["models"][0]["version"], 2, "{report:#}");
    assert_eq!(report["models"][0]["actions"], serde_json::json!([]));
    assert_signals(
        &report,
        &[
            (
                "prediction_distribution",
                "healthy",
                Some(series.kl("2", window)),
            ),
            ("feature_drift", "unmeasured", None),
            (
                "accuracy",
                "healthy",
                Some(100.0 * (0.962 - series.accuracy("2", window))),
            ),
            ("latency", "healthy", Some(series.p99_ms("2", window))),
            (
                "error_rate",
                "healthy",
                Some(series.error_percent("2", window)),
            ),
            // Version 2 served nothing in this hour on earlier days: any
            // traffic now is infinitely far from that norm.
            ("traffic_volume", "breached", None),
        ],
    );
    on_edge(&edge, || repo.run(&["monitor", "fraud-detector"]))
        .code(1)
        .stdout_has("fraud-detector version 2 — window 1h to 2026-12-07T09:20:00Z\n")
        .stdout_lacks("Rolled back")
        .stdout_lacks("action:");
    assert_eq!(hook.requests().len(), 1);
    assert_eq!(monitor_actions(&repo).len(), 3);
    edge.assert_canary_share(0, 300);

    // A scheduled apply keeps the rollback: git still asks for version 3.
    on_edge(&edge, || repo.run(&["apply", "--auto-approve"]))
        .code(0)
        .stdout_has(&format!(
            "Held by rollback at 2026-12-07T09:00:00Z (version 3 → version 2, by tester): {reason}"
        ));
    edge.assert_canary_share(0, 300);
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Archived ");
    drop(prometheus);
}

#[test]
fn a_drift_breach_sends_one_repository_dispatch_per_window_and_never_shows_the_token() {
    // Version 3's predictions drift (KL 0.3) from T − 1h on; it keeps serving.
    let incident = Incident {
        errors: HEALTHY_ERRORS,
        accuracy: V3_ACCURACY,
        kl: 0.3,
    };
    let series = Series::new(at(0), incident, "3");
    let Some(prometheus) = Prometheus::backfilled(&series.openmetrics()) else {
        return;
    };
    let github = Receiver::start("204 No Content");
    let repo = serving_3_since_8_days(
        &prometheus.url,
        "      signals: {prediction_distribution: retrain}\n      retrain: {repository_dispatch: acme/fraud-training, event_type: retrain-fraud}\n",
    );

    let token = "ghp_e2eSecret0123456789";
    let env = [
        ("GITHUB_TOKEN", token),
        ("GITHUB_API_URL", github.url.as_str()),
    ];
    let monitor = |now: Timestamp| {
        repo.at(&now.to_string());
        let run = repo.run_with(&["monitor", "fraud-detector"], &env).code(1);
        assert!(
            !run.raw_stdout().contains(token) && !run.stderr().contains(token),
            "the token is shown:\n{}\n{}",
            run.raw_stdout(),
            run.stderr()
        );
        run
    };
    // Each window's first run fires; the KL in the payload is Prometheus's.
    let fired = |n: usize, now: Timestamp| {
        let seen = github.requests();
        assert_eq!(seen.len(), n, "{seen:?}");
        let (line, auth, body) = &seen[n - 1];
        assert_eq!(line, "POST /repos/acme/fraud-training/dispatches HTTP/1.1");
        assert_eq!(auth.as_deref(), Some(format!("Bearer {token}").as_str()));
        let body: Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(body["event_type"], "retrain-fraud");
        let p = &body["client_payload"];
        assert_eq!(p["model"], "fraud-detector");
        assert_eq!(p["version"], "3");
        assert_eq!(p["signal"], "prediction_distribution");
        assert_eq!(p["trigger"], "drift");
        assert_eq!(p["window"], format!("1h to {now}"));
        let (value, want) = (p["value"].as_f64().unwrap(), series.kl("3", hour_to(now)));
        eprintln!("dispatched KL {value}, worked out {want}");
        assert!((value - want).abs() < 1e-6, "{value}, want {want}");
        want
    };

    let kl = series.kl("3", hour_to(at(0)));
    monitor(at(0))
        .stdout_has(&format!(
            "  action: retrain triggered (drift) for prediction_distribution: KL {} breaches KL ≤ 0.1\n",
            num_short(kl)
        ))
        .stdout_has("1 breached, 1 unmeasured.");
    fired(1, at(0));
    // The same hour: recorded, not sent again.
    monitor(at(20))
        .stdout_has("  action: prediction_distribution: retrain already done for this window\n");
    assert_eq!(github.requests().len(), 1);
    // The next hour GitHub first refuses: the run fails saying so, without
    // the token, and records nothing, so the next run sends it again.
    let refusing = Receiver::start("401 Unauthorized");
    let refused_env = [
        ("GITHUB_TOKEN", token),
        ("GITHUB_API_URL", refusing.url.as_str()),
    ];
    repo.at(&at(65).to_string());
    let refused = repo
        .run_with(&["monitor", "fraud-detector"], &refused_env)
        .code(1);
    let printed = format!("{}{}", refused.raw_stdout(), refused.stderr());
    assert!(
        printed.contains(
            "repository_dispatch to acme/fraud-training: GitHub answered 401 Unauthorized"
        ) && !printed.contains(token),
        "{printed}"
    );
    assert_eq!(refusing.requests().len(), 1);
    assert_eq!(monitor_actions(&repo).len(), 1);
    // Then it accepts: sent again, with that window's KL.
    monitor(at(65)).stdout_has("  action: retrain triggered (drift) for prediction_distribution");
    fired(2, at(65));
    // Retraining never moves the registry.
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  3          Production ");
    assert_eq!(monitor_actions(&repo).len(), 2);
    drop(prometheus);
}

#[test]
fn a_service_that_never_answered_5xx_has_an_error_rate_of_zero() {
    // Version 3 serves healthily for eight days and never fails a request:
    // Prometheus holds no `code="500"` series for it, so the default errors
    // query (`sum(increase(…{code=~"5.."}[…]))`) is an empty vector. Beside
    // measured requests, that is zero errors, not "no data".
    let healthy = Incident {
        errors: 0.0,
        accuracy: V3_ACCURACY,
        kl: KL[1],
    };
    let series = Series::new(at(0), healthy, "3").without_5xx();
    assert!(!series.openmetrics().contains("code=\"5"));
    let Some(prometheus) = Prometheus::backfilled(&series.openmetrics()) else {
        return;
    };
    let repo = serving_3_since_8_days(&prometheus.url, "      signals: {error_rate: rollback}\n");

    repo.at(T);
    let hour = hour_to(at(0));
    assert!(series.requests("3", hour) > 0);
    let report = repo
        .run(&["monitor", "fraud-detector", "--dry-run", "--format", "json"])
        .code(1)
        .json();
    assert_signals(
        &report,
        &[
            (
                "prediction_distribution",
                "healthy",
                Some(series.kl("3", hour)),
            ),
            // No data snapshots in this deployment: the only unmeasured signal.
            ("feature_drift", "unmeasured", None),
            ("accuracy", "healthy", None),
            ("latency", "healthy", Some(series.p99_ms("3", hour))),
            ("error_rate", "healthy", Some(0.0)),
            (
                "traffic_volume",
                "healthy",
                Some(series.traffic_sigma("3", hour, 7)),
            ),
        ],
    );
    repo.run(&["monitor", "fraud-detector", "--dry-run"])
        .code(1)
        .stdout_has("  error_rate ")
        .stdout_has("1 unmeasured.");
}
