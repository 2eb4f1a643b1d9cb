//! `modelops monitor` on the example repository with its `file`
//! observations: each signal against its threshold, an unmeasured signal
//! never healthy, and the actions on a breach — a retrain webhook and a
//! GitHub `repository_dispatch` fired once per window, and a rollback that
//! really switches serving and the registry.

use crate::common::Repo;
use crate::e2e::http::Receiver;
use crate::lifecycle::applied;

/// Four days after the first apply: a week of traffic history is not yet
/// there, three earlier days are.
const LATER: &str = "2026-11-30T09:00:00Z";

/// The example's observations with fraud-detector's replaced: hourly for
/// two weeks from the first apply, 90,000 requests an hour on version 2 and
/// 10,000 on version 3, version `v`'s error rate `rate` (a fraction), the
/// other's 0.05%.
pub(crate) fn errors_from(repo: &Repo, v: &str, rate: f64) {
    let text = repo.read("observations.yaml");
    let start = text.find("  fraud-detector:\n").expect("fraud-detector");
    let end = text
        .find("  recommendation-ranker:\n")
        .expect("recommendation-ranker");
    let t0: jiff::Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
    let hours: Vec<String> = (1..=14 * 24)
        .map(|h| {
            t0.checked_add(jiff::SignedDuration::from_hours(h))
                .unwrap()
                .to_string()
        })
        .collect();
    let series = |f: &dyn Fn() -> f64| {
        hours
            .iter()
            .map(|t| format!("[\"{t}\", {}]", f()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut block = String::from("  fraud-detector:\n");
    for (version, requests) in [("2", 90_000.0), ("3", 10_000.0)] {
        let r = if version == v { rate } else { 0.0005 };
        block.push_str(&format!("    \"{version}\":\n"));
        block.push_str(&format!("      requests: [{}]\n", series(&|| requests)));
        block.push_str(&format!(
            "      errors: [{}]\n",
            series(&|| (requests * r).round())
        ));
        block.push_str(&format!("      latency_p99_ms: [{}]\n", series(&|| 25.0)));
        block.push_str(&format!("      accuracy: [{}]\n", series(&|| 0.96)));
        block.push_str(&format!(
            "      prediction_kl_divergence: [{}]\n",
            series(&|| 0.01)
        ));
    }
    repo.file(
        "observations.yaml",
        format!("{}{block}{}", &text[..start], &text[end..]),
    );
}

fn on_breach(repo: &Repo, block: &str) {
    repo.edit(
        "deployments/fraud-detector.yaml",
        "  monitoring:\n    latency_p99_sla: 50ms\n",
        &format!("  monitoring:\n    latency_p99_sla: 50ms\n{block}"),
    );
}

#[test]
fn each_signal_is_reported_and_an_unmeasured_one_is_not_healthy() {
    let repo = applied();
    repo.at(LATER);
    // The fraud detector's deployment has data snapshots: every signal is
    // measured, and healthy.
    let out = repo
        .run(&["monitor", "fraud-detector"])
        .code(0)
        .stdout_has("fraud-detector version 2 — window 1h to 2026-11-30T09:00:00Z\n")
        .stdout_has("  prediction_distribution  KL ")
        .stdout_has("  feature_drift            PSI 0.")
        .stdout_has("  latency                  p99 ")
        .stdout_has("p99 ≤ 50 ms")
        .stdout_has("  error_rate               0.")
        .stdout_has("within 3σ of the same window on the last 7 days")
        .stdout_has("All signals healthy.");
    assert!(
        out.stdout().contains("  accuracy                 drop "),
        "{}",
        out.stdout()
    );
    // The churn predictor's has none: feature drift is unmeasured, not healthy.
    repo.run(&["monitor", "churn-predictor"])
        .code(1)
        .stdout_has("  feature_drift            unmeasured")
        .stdout_has("0 breached, 1 unmeasured.");
    let json = repo.run(&["monitor", "--format", "json"]).code(1).json();
    assert_eq!(json["models"][0]["model"], "churn-predictor");
    let signals = json["models"][0]["signals"].as_array().unwrap();
    assert_eq!(signals.len(), 6);
    assert_eq!(signals[1]["status"], "unmeasured");
    repo.run(&["monitor", "--format", "markdown"])
        .code(1)
        .stdout_has("| `feature_drift` | unmeasured<br>_no data snapshots")
        .stdout_has("| `feature_drift` | PSI 0.");
    repo.run(&["monitor", "nobody"])
        .code(1)
        .stderr_has("nobody has no deployment in deployments/");
}

#[test]
fn a_breach_fires_one_retrain_webhook_per_window() {
    let hook = Receiver::start("200 OK");
    let repo = applied();
    errors_from(&repo, "2", 0.004);
    on_breach(
        &repo,
        &format!(
            "    on_breach:\n      action: alert\n      signals: {{error_rate: retrain}}\n      retrain: {{webhook: \"{}/retrain\"}}\n",
            hook.url
        ),
    );
    repo.at(LATER);
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stdout_has("BREACH")
        .stdout_has("  action: retrain triggered (performance) for error_rate: 0.4");
    let seen = hook.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "POST /retrain HTTP/1.1");
    let payload: serde_json::Value = serde_json::from_str(&seen[0].2).expect("JSON payload");
    assert_eq!(payload["model"], "fraud-detector");
    assert_eq!(payload["version"], "2");
    assert_eq!(payload["signal"], "error_rate");
    assert_eq!(payload["trigger"], "performance");
    assert!(payload["value"].as_f64().unwrap() > 0.1);
    assert!(
        payload["window"]
            .as_str()
            .unwrap()
            .contains("2026-11-30T09:00:00Z")
    );
    // The same breach in the same window: not fired again.
    repo.at("2026-11-30T09:20:00Z");
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stdout_has("  action: error_rate: retrain already done for this window");
    assert_eq!(hook.requests().len(), 1);
    // The next window: fired again.
    repo.at("2026-11-30T10:05:00Z");
    repo.run(&["monitor", "fraud-detector"]).code(1);
    assert_eq!(hook.requests().len(), 2);
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has("fraud-detector version 2: retrain triggered (performance) for error_rate");
    // --dry-run reports and does nothing.
    repo.at("2026-11-30T11:05:00Z");
    repo.run(&["monitor", "--dry-run"])
        .code(1)
        .stdout_lacks("action:");
    assert_eq!(hook.requests().len(), 2);
}

#[test]
fn retraining_through_repository_dispatch_and_on_a_schedule() {
    let github = Receiver::start("204 No Content");
    let repo = applied();
    on_breach(
        &repo,
        "    retrain_every: 7d\n    on_breach:\n      retrain: {repository_dispatch: acme/models, event_type: retrain-model}\n",
    );
    repo.at(LATER);
    let env = [
        ("GITHUB_TOKEN", "ghp_secret"),
        ("GITHUB_API_URL", github.url.as_str()),
    ];
    let out = repo
        .run_with(&["monitor", "fraud-detector"], &env)
        .code(0)
        .stdout_has("  action: retrain triggered (scheduled) for schedule: scheduled every 7d");
    assert!(!out.stdout().contains("ghp_secret") && !out.stderr().contains("ghp_secret"));
    let seen = github.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, "POST /repos/acme/models/dispatches HTTP/1.1");
    assert_eq!(seen[0].1.as_deref(), Some("Bearer ghp_secret"));
    let body: serde_json::Value = serde_json::from_str(&seen[0].2).unwrap();
    assert_eq!(body["event_type"], "retrain-model");
    assert_eq!(body["client_payload"]["trigger"], "scheduled");
    // Once per period.
    repo.at("2026-12-01T09:00:00Z");
    repo.run_with(&["monitor", "fraud-detector"], &env).code(0);
    assert_eq!(github.requests().len(), 1);
    // Without a token: a clear error, nothing sent.
    repo.at("2026-12-10T09:00:00Z");
    repo.run(&["monitor", "fraud-detector"]).code(1).stdout_has(
        "  action: FAILED: retrain trigger for schedule: repository_dispatch needs GITHUB_TOKEN",
    );
}

#[test]
fn a_breach_with_rollback_switches_serving_and_the_registry() {
    let repo = applied();
    crate::promotion::promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    repo.run(&["apply", "--auto-approve"]).code(0);
    errors_from(&repo, "3", 0.01);
    repo.file(
        "deployments/fraud-detector.yaml",
        "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: fraud-detector}\nspec:\n  model: fraud-detector\n  direct: {}\n  monitoring:\n    latency_p99_sla: 50ms\n    on_breach: {signals: {error_rate: rollback}}\n",
    );
    repo.at(LATER);
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stderr_has("Rolled back fraud-detector from version 3 to version 2")
        .stdout_has("  action: rolled back for error_rate: 1");
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Archived ")
        .stdout_has("  serving on local: v2 100%\n")
        .stdout_has("rollback at 2026-11-30T09:00:00Z by tester (version 3 → version 2): monitor: error_rate 1");
    // Monitoring now watches version 2; the rollback is not repeated.
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stdout_has("fraud-detector version 2 — ")
        .stdout_lacks("Rolled back");
}

#[test]
fn a_drifted_snapshot_fires_exactly_one_retrain_webhook() {
    let hook = Receiver::start("200 OK");
    let repo = applied();
    // The current window drifts: amounts up, a different merchant mix.
    let out = std::process::Command::new("python3")
        .arg(repo.path("data/gen_snapshots.py"))
        .args(["--drift", "--out"])
        .arg(repo.path("data/fraud-detector"))
        .output()
        .expect("python3 runs the example's snapshot generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    on_breach(
        &repo,
        &format!(
            "    on_breach:\n      signals: {{feature_drift: retrain}}\n      retrain: {{webhook: \"{}/retrain\"}}\n",
            hook.url
        ),
    );
    repo.at(LATER);
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stdout_has("  feature_drift            PSI ")
        .stdout_has("BREACH")
        .stdout_has("  action: retrain triggered (drift) for feature_drift: PSI ");
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stdout_has("  action: feature_drift: retrain already done for this window");
    let seen = hook.requests();
    assert_eq!(seen.len(), 1, "exactly one webhook: {seen:?}");
    let payload: serde_json::Value = serde_json::from_str(&seen[0].2).unwrap();
    assert_eq!(
        (payload["signal"].as_str(), payload["trigger"].as_str()),
        (Some("feature_drift"), Some("drift"))
    );
    assert!(payload["value"].as_f64().unwrap() > 0.2, "{payload}");
}

#[test]
fn a_new_dataset_version_triggers_retraining_once() {
    let hook = Receiver::start("200 OK");
    let repo = applied();
    repo.file("datasets.yaml", "datasets:\n  txn: {latest: txn-2024-09}\n");
    on_breach(
        &repo,
        &format!(
            "    dataset: {{name: txn}}\n    on_breach:\n      retrain: {{webhook: \"{}/retrain\"}}\n",
            hook.url
        ),
    );
    repo.at(LATER);
    // Version 2 was trained on txn-2024-09: nothing new.
    repo.run(&["monitor", "fraud-detector"])
        .code(0)
        .stdout_lacks("action:");
    assert!(hook.requests().is_empty());
    // txn-2025-01 is published: one trigger, then none for the same version.
    repo.file("datasets.yaml", "datasets:\n  txn: {latest: txn-2025-01}\n");
    repo.run(&["monitor", "fraud-detector"])
        .code(0)
        .stdout_has("  action: retrain triggered (data) for dataset: dataset txn published txn-2025-01; version 2 was trained on txn-2024-09");
    repo.at("2026-12-01T09:00:00Z");
    repo.run(&["monitor", "fraud-detector"])
        .code(0)
        .stdout_has("  action: dataset: retrain already done for this window");
    let seen = hook.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let payload: serde_json::Value = serde_json::from_str(&seen[0].2).unwrap();
    assert_eq!(payload["trigger"], "data");
    // A datasets file that does not list the dataset is reported.
    repo.file("datasets.yaml", "datasets: {}\n");
    repo.run(&["monitor", "fraud-detector"])
        .code(1)
        .stdout_has("  action: FAILED: dataset watch: datasets.yaml lists no dataset txn");
}
