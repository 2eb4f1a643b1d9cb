//! Validation gates through the binary: a failed gate is shown with its value
//! and threshold, exits 1, and applying marks the version Rejected instead of
//! moving it; the rejection holds until the manifest changes. Gates are
//! evaluated again at apply time (a benchmark against a local endpoint
//! whose latency the test controls).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{Repo, snapshot};
use crate::e2e::http::{Response, Server};
use crate::lifecycle::{applied, example_in_git};

const CHURN: &str = "models/churn-predictor.yaml";

/// The churn predictor's version 3 (Staging in git) edited one way, on a
/// registry that has nothing yet: each edit must make its gate fail, naming
/// what failed, and nothing else.
#[test]
fn each_failed_gate_names_what_failed() {
    struct Case {
        what: &'static str,
        from: &'static str,
        to: &'static str,
        shown: &'static [&'static str],
        /// The failing rows: a value below a floor is usually also a
        /// regression against Production.
        fails: &'static [&'static str],
    }
    let cases = [
        Case {
            what: "accuracy below the threshold",
            from: "test_accuracy: 0.883",
            to: "test_accuracy: 0.84",
            shown: &["metric.test_accuracy      FAIL    0.84 ", "≥ 0.85 "],
            fails: &["metric.test_accuracy", "regression.test_accuracy"],
        },
        Case {
            what: "a fairness group below the floor",
            from: "gender: {female: 0.86",
            to: "gender: {female: 0.79",
            shown: &[
                "fairness.gender           FAIL    female 0.79 ",
                "↳ below the floor in `gender`: female 0.79",
                "bias_regression.gender    FAIL    worst female ",
            ],
            fails: &["fairness.gender", "bias_regression.gender"],
        },
        Case {
            what: "a regression of 0.02 against Production",
            from: "test_accuracy: 0.883",
            to: "test_accuracy: 0.854",
            shown: &[
                "metric.test_accuracy      PASS    0.854 ",
                "regression.test_accuracy  FAIL    0.854 ",
                "≥ 0.864 (version 2: 0.874 − 0.01)",
            ],
            fails: &["regression.test_accuracy"],
        },
        Case {
            what: "an input feature removed",
            from: "          - {name: last_login_at, type: datetime}\n          # New in 3",
            to: "          # New in 3",
            shown: &[
                "signature.compatible      FAIL    removes input `last_login_at`",
                "no breaking change from version 2",
            ],
            fails: &["signature.compatible"],
        },
    ];
    for case in cases {
        let repo = example_in_git();
        repo.edit(CHURN, case.from, case.to);
        let mut plan = repo
            .run(&["plan", "-v"])
            .code(1)
            .stdout_has("  ! version 3: mark Rejected, stays Development (gates refuse Development → Staging)\n")
            .stdout_has("Plan: 11 to add, 9 to change, 2 to archive, 1 to reject (failed gates).");
        for s in case.shown {
            plan = plan.stdout_has(s);
        }
        let json = repo.run(&["plan", "-v", "--format", "json"]).code(1).json();
        let churn = &json["models"][0];
        let reject = churn["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["action"] == "reject_version")
            .unwrap_or_else(|| panic!("{}: a reject_version step", case.what));
        let failed: Vec<&str> = reject["gates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["status"] == "fail")
            .map(|g| g["check"].as_str().unwrap())
            .collect();
        assert_eq!(failed, case.fails, "{}", case.what);
    }
}

#[test]
fn a_rejected_version_stays_unpromoted_until_its_manifest_changes() {
    let repo = example_in_git();
    repo.edit(CHURN, "test_accuracy: 0.883", "test_accuracy: 0.84");
    repo.git_commit("churn-predictor 3 retrained");
    let plan = repo.run(&["plan", "-v"]).code(1);
    snapshot!(plan.stdout());
    let markdown = repo
        .run(&["plan", "-v", "--format", "markdown"])
        .code(1)
        .stdout_has("**Gates for version 3, Development → Staging: :x: rejected**")
        .stdout_has("| `metric.test_accuracy` | **FAIL** | 0.84 | ≥ 0.85 | manifest |");
    snapshot!("rejection_as_markdown", markdown.stdout());

    // Apply does everything else, marks version 3 Rejected, and exits 1.
    repo.run(&["apply", "--auto-approve"])
        .code(1)
        .stdout_has("  done: churn-predictor: version 3: mark Rejected, stays Development (gates refuse Development → Staging)")
        .stdout_has("Apply complete: 11 added, 9 changed, 2 archived, 1 rejected.")
        .stderr_has("1 version marked Rejected (failed validation gates or a failed rollout); the refused moves were not applied.");
    repo.run(&["status", "churn-predictor"])
        .code(0)
        .stdout_has("  3          Development (Rejected) ")
        .stdout_has("rejected for Staging at 2026-11-26T09:00:00Z: metric.test_accuracy: 0.84 (needs ≥ 0.85); regression.test_accuracy: 0.84 (needs ≥ 0.864 (version 2: 0.874 − 0.01))");
    repo.run(&["history", "churn-predictor"])
        .code(0)
        .stdout_has("churn-predictor version 3: Rejected for Staging: metric.test_accuracy: 0.84");

    // Not tried again while the manifest is the same: no step, and the plan
    // says why git and the registry still differ (diverged: exit 2).
    repo.run(&["plan", "-v", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Rejected earlier (failed gates or a failed rollout), not tried again until the manifest entry or policy changes:\n  churn-predictor version 3 (git asks for Staging): rejected at 2026-11-26T09:00:00Z: metric.test_accuracy: 0.84")
        .stdout_has("No changes to apply, but git and the registry disagree");
    repo.run(&["apply", "--auto-approve"]).code(0);

    // Its evidence cannot be edited in place (a retrained model is a new
    // version), but a policy change evaluates it again.
    repo.edit(CHURN, "test_accuracy: 0.84", "test_accuracy: 0.886");
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("churn-predictor version 3: `metrics` differs from what the registry holds, and a registered version's evidence cannot change");
    repo.edit(CHURN, "test_accuracy: 0.886", "test_accuracy: 0.84");
    repo.edit(
        "policies/default.yaml",
        "  staging:\n    metrics:\n      test_accuracy: {better: higher, threshold: 0.85, max_regression: 0.01}",
        "  staging:\n    metrics:\n      test_accuracy: {better: higher, threshold: 0.80, max_regression: 0.05}",
    );
    repo.run(&["plan", "-v"])
        .code(0)
        .stdout_has("  ~ version 3: Development → Staging (promoted after validation)\n")
        .stdout_lacks("Rejected earlier");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["status", "churn-predictor"])
        .code(0)
        .stdout_has("  3          Staging ")
        .stdout_lacks("Rejected");
}

#[test]
fn a_production_promotion_without_evidence_keeps_the_serving_version() {
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
    );
    // With its canary deployment, the canary is the evidence to come; the
    // owner's sign-off is still missing.
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("evidence.rollout          SKIP    not required")
        .stdout_has("↳ the canary this move starts is the evidence")
        .stdout_has("approval.owner            FAIL    (none)");
    // Without a progressive deployment, nothing is evidence.
    repo.remove("deployments/fraud-detector.yaml");
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("Warning: fraud-detector version 2 stays in Production: version 3, which git puts in Production, was rejected by its gates")
        .stdout_has("evidence.rollout          FAIL    none recorded")
        .stdout_has("approval.owner            FAIL    (none)")
        .stdout_lacks("Production → Archived");
    repo.run(&["apply", "--auto-approve"]).code(1);
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("  3          Staging (Rejected) ");
}

/// A model endpoint on a free loopback port whose answers take
/// `delay_ms` (changeable while it runs); it records the paths asked for.
struct Endpoint {
    port: u16,
    delay_ms: Arc<AtomicU64>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Endpoint {
    fn start(delay_ms: u64) -> Endpoint {
        let delay = Arc::new(AtomicU64::new(delay_ms));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (d, p) = (delay.clone(), paths.clone());
        let server = Server::start(move |r| {
            p.lock().unwrap().push(r.path().to_string());
            Response {
                delay: Duration::from_millis(d.load(Ordering::SeqCst)),
                ..Response::ok("{}")
            }
        });
        Endpoint {
            port: server.port,
            delay_ms: delay,
            paths,
        }
    }
}

/// The example whose default policy benchmarks `endpoint` with 20
/// requests, `concurrency` at a time.
fn benchmarked(endpoint: &Endpoint, concurrency: u32) -> Repo {
    let repo = example_in_git();
    repo.file("bench/payload.json", r#"{"inputs": [[1, 2, 3]]}"#);
    repo.edit(
        "policies/default.yaml",
        "    latency_p99_max_ms: 100     # checked against the declared latency_p99_ms metric\n",
        &format!(
            "    latency_p99_max_ms: 100\n    benchmark:\n      endpoint: http://127.0.0.1:{}/{{model}}/{{version}}/invocations\n      payload_file: bench/payload.json\n      requests: 20\n      concurrency: {concurrency}\n",
            endpoint.port
        ),
    );
    repo
}

#[test]
fn a_benchmark_measures_latency_and_is_run_again_at_apply_time() {
    let endpoint = Endpoint::start(2);
    let repo = benchmarked(&endpoint, 4);
    repo.git_commit("benchmark latency");
    let plan = repo
        .run(&["plan", "-v", "--out", "plan.json"])
        .code(0)
        .stdout_has("latency.p99               PASS    p99 ");
    for model in ["churn-predictor", "fraud-detector", "recommendation-ranker"] {
        assert!(
            endpoint
                .paths
                .lock()
                .unwrap()
                .iter()
                .any(|p| p == &format!("/{model}/3/invocations")
                    || p == &format!("/{model}/2/invocations")),
            "{model} was benchmarked"
        );
    }
    plan.stdout_has("0 of 20 requests failed)")
        .stdout_has("benchmark (20 requests)");

    // The endpoint slows down between plan and apply: the commit no longer
    // derives the saved plan (its gates fail now), so nothing is applied.
    endpoint.delay_ms.store(150, Ordering::SeqCst);
    repo.run(&["apply", "plan.json"])
        .code(1)
        .stderr_has("(churn-predictor version 3), action: saved \"transition_stage\", derived \"reject_version\"; its gates fail now: latency.p99: p99 ")
        .stderr_has("nothing was applied");
    assert!(!repo.state_file().exists(), "nothing may be applied");
    // An unreachable endpoint is a failure with the reason, never a pass.
    let repo = example_in_git();
    repo.file("bench/payload.json", "{}");
    repo.edit(
        "policies/default.yaml",
        "    latency_p99_max_ms: 100     # checked against the declared latency_p99_ms metric\n",
        "    latency_p99_max_ms: 100\n    benchmark: {endpoint: \"http://127.0.0.1:9/predict\", payload_file: bench/payload.json, requests: 3}\n",
    );
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("latency.p99               FAIL    not measured")
        .stdout_has("↳ benchmark of http://127.0.0.1:9/predict: all 3 requests failed; first: ");
}

#[test]
fn a_policy_that_turns_checks_off_does_not_evaluate_them() {
    let repo = Repo::example();
    repo.file(
        "policies/default.yaml",
        "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  staging: &none {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}\n  production: *none\n  production_requires: {rollout_evidence: false, approvals: []}\n",
    );
    repo.edit(CHURN, "test_accuracy: 0.883", "test_accuracy: 0.5");
    repo.run(&["plan", "-v"])
        .code(0)
        .stdout_has("  ~ version 3: Development → Staging (promoted after validation)\n")
        .stdout_lacks("metric.")
        .stdout_lacks("fairness")
        .stdout_lacks("latency.p99")
        .stdout_lacks("FAIL");
}

#[test]
fn a_long_benchmark_shows_progress_on_a_terminal_only() {
    // 20 requests one at a time, 60 ms each: over a second per version.
    let endpoint = Endpoint::start(60);
    let repo = benchmarked(&endpoint, 1);
    repo.git_commit("benchmark latency");
    // Piped: no progress line.
    repo.run(&["plan", "fraud-detector"])
        .code(0)
        .stderr_lacks("latency benchmark");
    // On a terminal (a pseudo-terminal from `script`): drawn, then erased.
    let line = format!(
        "{} plan fraud-detector --repo {}",
        env!("CARGO_BIN_EXE_modelops"),
        repo.root().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .output()
        .expect("script runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("\rlatency benchmark: ") && shown.contains(" requests ("),
        "no progress line on a terminal:\n{shown:?}"
    );
    assert!(
        shown.contains("\r\u{1b}[K"),
        "the line is erased: {shown:?}"
    );
}
