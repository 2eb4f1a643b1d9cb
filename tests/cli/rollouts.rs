//! Rollouts through the binary on the example repository, with the embedded
//! routing table and the example's `file` observations: time advances only
//! through `MODELOPS_NOW`, never by sleeping. A canary goes stage by stage to
//! Production; a regressed error rate rolls it back; the shadow and the A/B
//! test record their results.

use crate::common::{NOW, Repo};
use crate::lifecycle::applied;

const FRAUD: &str = "models/fraud-detector.yaml";

/// `NOW` plus some hours.
pub(crate) fn hours(h: i64) -> String {
    let t: jiff::Timestamp = NOW.parse().unwrap();
    t.checked_add(jiff::SignedDuration::from_hours(h))
        .unwrap()
        .to_string()
}

/// Git promotes fraud-detector version 3 (signed off by its owner) and
/// archives version 2: the deployment's canary takes it there.
pub(crate) fn promote(repo: &Repo) {
    repo.edit(FRAUD, "stage: Production", "stage: Archived")
        .edit(FRAUD, "stage: Staging", "stage: Production")
        .edit(
            FRAUD,
            "adds optional device_fingerprint_seen_before.\n",
            "adds optional device_fingerprint_seen_before.\n      approved_by: risk-ml\n",
        );
}

/// The embedded routing of fraud-detector.
fn routing(repo: &Repo) -> serde_json::Value {
    let text = std::fs::read_to_string(repo.state().join("routing.json")).expect("routing.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v["routes"]["fraud-detector"]["weights"].clone()
}

#[test]
fn a_canary_goes_stage_by_stage_to_production_as_time_advances() {
    let repo = applied();
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    promote(&repo);
    repo.run(&["plan"])
        .code(0)
        .stdout_has("  start fraud-detector canary of version 3: 0% → 5% (stage 1 of 4)\n")
        .stdout_has("  ~ route v2 95%, v3 5% on local (canary stage 1 of 4)\n")
        .stdout_lacks("version 3: Staging → Production");
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(routing(&repo), serde_json::json!({"2": 95, "3": 5}));
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  3          Staging ")
        .stdout_has("  rollout: canary of version 3 against version 2: Progressing, stage 1 of 4 (5%), since 2026-11-26T09:00:00Z\n")
        .stdout_has("    next: advance to 25% if the analysis passes, due at 2026-11-26T10:00:00Z, in 1h\n");

    // Half an hour in: no sample yet in the hourly observations. No data
    // yet is inconclusive, not an error: the stage holds, with the reason,
    // nothing is counted or promoted, and the plan has no change to make.
    repo.at(&hours(0).replace("09:00:00", "09:30:00"));
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("hold fraud-detector canary at 5% (30m of 1h elapsed): no data in the window (requests, errors, latency_p99_ms of versions 2 and 3)\n")
        .stdout_lacks("allowed")
        .stdout_lacks("route v2");

    let stages = [
        (1, "5% → 25%", serde_json::json!({"2": 75, "3": 25})),
        (5, "25% → 50%", serde_json::json!({"2": 50, "3": 50})),
        (17, "50% → 100%", serde_json::json!({"3": 100})),
    ];
    for (h, step, want) in stages {
        repo.at(&hours(h));
        repo.run(&["plan"])
            .code(0)
            .stdout_has(&format!("  advance fraud-detector canary {step}: "));
        repo.run(&["apply", "--auto-approve"]).code(0);
        assert_eq!(routing(&repo), want, "after {h}h");
        repo.run(&["status", "fraud-detector"])
            .code(0)
            .stdout_has("  3          Staging ")
            .stdout_has("    last analysis at ");
    }
    // The last stage lasts 24h; then the registry follows the traffic.
    repo.at(&hours(41));
    repo.run(&["plan"])
        .code(0)
        .stdout_has("  complete fraud-detector canary: version 3 to Production after 4 stages, version 2 archived")
        .stdout_has("  ~ version 3: Staging → Production (canary completed 4 stages)\n")
        .stdout_has("  - version 2: Production → Archived (replaced in Production by version 3)\n");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Archived ")
        .stdout_has("  3          Production ")
        .stdout_has("  serving on local: v3 100%\n")
        .stdout_has("  rollout: canary of version 3 against version 2: Succeeded");
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has("fraud-detector: canary of version 3 started at 5%")
        .stdout_has("fraud-detector: canary 50% → 100%")
        .stdout_has("fraud-detector version 3: Staging → Production (canary completed 4 stages)");
    repo.at(&hours(42));
    repo.run(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_lacks("fraud-detector canary");
}

/// The example's observations with fraud-detector's replaced: hourly from
/// `NOW`, 95,000 and 5,000 requests an hour, the canary's error rate
/// `errors` (a fraction).
pub(crate) fn observations(repo: &Repo, errors: f64) -> String {
    let example = repo.read("observations.yaml");
    let start = example.find("  fraud-detector:\n").expect("fraud-detector");
    let end = example
        .find("  recommendation-ranker:\n")
        .expect("recommendation-ranker");
    let mut out = String::from("  fraud-detector:\n");
    for (version, requests, rate) in [("2", 95_000.0, 0.0005), ("3", 5_000.0, errors)] {
        out.push_str(&format!("    \"{version}\":\n"));
        let series = |f: &dyn Fn(i64) -> f64| {
            (1..=6)
                .map(|h| format!("[\"{}\", {}]", hours(h), f(h)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("      requests: [{}]\n", series(&|_| requests)));
        out.push_str(&format!(
            "      errors: [{}]\n",
            series(&|_| (requests * rate).round())
        ));
        out.push_str(&format!("      latency_p99_ms: [{}]\n", series(&|_| 25.0)));
        out.push_str(&format!("      accuracy: [{}]\n", series(&|_| 0.96)));
    }
    format!("{}{out}{}", &example[..start], &example[end..])
}

#[test]
fn a_regressed_error_rate_rolls_the_canary_back_and_rejects_the_version() {
    let repo = applied();
    repo.file("observations.yaml", observations(&repo, 0.021));
    promote(&repo);
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(routing(&repo), serde_json::json!({"2": 95, "3": 5}));
    repo.at(&hours(1));
    repo.run(&["plan", "-v"])
        .code(1)
        .stdout_has("  roll back fraud-detector canary at 5%: error_rate_increase 2.049pp > 0.5pp over 5,000 requests; all traffic to version 2; version 3 Rejected")
        .stdout_has("  ~ route v2 100% on local (rollback of version 3)\n")
        .stdout_has("  ! version 3: mark Rejected, stays Staging (its canary failed: Staging → Production refused)\n")
        .stdout_has("canary.error_rate_increase   FAIL    2.049pp");
    repo.run(&["apply", "--auto-approve"])
        .code(1)
        .stderr_has("1 version marked Rejected");
    assert_eq!(routing(&repo), serde_json::json!({"2": 100}));
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  3          Staging (Rejected) ")
        .stdout_has("  rollout: canary of version 3 against version 2: Failed")
        .stdout_has("last analysis at 2026-11-26T10:00:00Z: FAIL — error_rate_increase 2.049pp > 0.5pp over 5,000 requests");
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has("fraud-detector: roll back fraud-detector canary at 5%: error_rate_increase 2.049pp > 0.5pp")
        .stdout_has("fraud-detector version 3: Rejected for Production");
    // Not retried until the manifest changes; git and the registry
    // disagree, so not exit 0.
    repo.at(&hours(3));
    repo.run(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has(
            "fraud-detector version 3 (git asks for Production): rejected at 2026-11-26T10:00:00Z",
        );
}

#[test]
fn the_shadow_and_the_ab_test_record_their_results_for_a_person() {
    let repo = applied();
    // A week on, the churn shadow's comparison is due.
    repo.at(&hours(7 * 24));
    repo.run(&["plan"])
        .code(0)
        .stdout_has("  record churn-predictor shadow of version 3: comparison passed (")
        .stdout_has("promote it by setting its stage to Production in models/churn-predictor.yaml");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["status", "churn-predictor"])
        .code(0)
        .stdout_has("  serving on local: v2 100%\n")
        .stdout_has("  rollout: shadow of version 3 against version 2: Succeeded");
    // Two weeks on, the A/B test decides with a two-proportion z-test.
    repo.at(&hours(14 * 24));
    repo.run(&["plan"]).code(0).stdout_has(
        "  record recommendation-ranker A/B test of version 2: treatment wins, conversion_rate ",
    );
    repo.run(&["apply", "--auto-approve"]).code(0);
    let status = repo.run(&["status", "recommendation-ranker"]).code(0);
    status
        .stdout_has("  serving on local: v1 100%\n")
        .stdout_has("\"winner\":\"treatment\"");
    // A person promotes the shadowed churn version: the shadow was its
    // evidence, so it moves at once.
    repo.edit(
        "models/churn-predictor.yaml",
        "    - version: 2\n      stage: Production",
        "    - version: 2\n      stage: Archived",
    )
    .edit(
        "models/churn-predictor.yaml",
        "    - version: 3\n      stage: Staging",
        "    - version: 3\n      approved_by: ml-platform\n      stage: Production",
    );
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("churn-predictor: version 3: Staging → Production (promoted after its shadow comparison passed)");
    repo.run(&["status", "churn-predictor"])
        .code(0)
        .stdout_has("  3          Production ")
        .stdout_has("  serving on local: v3 100%\n");
}
