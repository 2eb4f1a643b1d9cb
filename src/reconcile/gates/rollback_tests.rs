//! The rollback gates as tables: each kind of evidence, and the rejection
//! key that lets a refused move be tried again when that evidence changes.

use jiff::Timestamp;

use super::*;
use crate::manifest::common::DurationSpec;
use crate::state::drill::DrillRecord;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

const NOW: &str = "2026-12-01T12:00:00Z";

fn check(target: &str, health: Result<Option<&str>, &str>) -> ServingCheck {
    ServingCheck {
        target: target.into(),
        health: health
            .map(|h| h.map(str::to_string))
            .map_err(str::to_string),
    }
}

fn target(registry: Result<&str, &str>, serving: Vec<ServingCheck>) -> Readiness {
    Readiness::Target {
        version: VersionId::Number(2),
        registry: registry.map(str::to_string).map_err(str::to_string),
        serving,
    }
}

#[test]
fn ready_judges_the_rollback_target() {
    const EDGE: &str = "nginx target edge (/etc/nginx/modelops)";
    const LOCAL: &str = "local target local (.modelops/routing.json)";
    // (row, found, status, value, source, reason)
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        &str,
        Option<Readiness>,
        GateStatus,
        &str,
        &str,
        Option<&str>,
    )> = vec![
        (
            "nothing looked for",
            None,
            GateStatus::Fail,
            "not checked",
            "registry, serving",
            Some("the rollback target was not looked for"),
        ),
        (
            "the event log could not be read",
            Some(Readiness::Unknown("cannot read events.jsonl".into())),
            GateStatus::Fail,
            "unknown",
            "registry",
            Some("cannot read events.jsonl"),
        ),
        (
            "a first Production version",
            Some(Readiness::FirstProduction),
            GateStatus::Skip,
            "no rollback target",
            "event log",
            Some(
                "no other version has served in Production: this is the model's first Production version, so a rollback would have nowhere to go",
            ),
        ),
        (
            "every version that served is excluded",
            Some(Readiness::NoKnownGood(
                "\n  version 1: artifacts gone: deleted".into(),
            )),
            GateStatus::Fail,
            "no rollback target",
            "event log",
            Some("no known-good version to roll back to: \n  version 1: artifacts gone: deleted"),
        ),
        (
            "the registry says it cannot serve",
            Some(target(
                Err("version 2 is not READY (FAILED_REGISTRATION)"),
                vec![],
            )),
            GateStatus::Fail,
            "version 2",
            "registry",
            Some("version 2 is not READY (FAILED_REGISTRATION)"),
        ),
        (
            "its upstream does not answer",
            Some(target(
                Ok("registered"),
                vec![check(
                    EDGE,
                    Err("GET http://127.0.0.1:9/healthz: connection failed (nothing listening?)"),
                )],
            )),
            GateStatus::Fail,
            "version 2",
            "health check",
            Some("GET http://127.0.0.1:9/healthz: connection failed (nothing listening?)"),
        ),
        (
            "its upstream answers",
            Some(target(
                Ok("registered"),
                vec![check(
                    EDGE,
                    Ok(Some("GET http://127.0.0.1:9/healthz answered 200")),
                )],
            )),
            GateStatus::Pass,
            "version 2",
            "registry, health check on nginx target edge (/etc/nginx/modelops)",
            None,
        ),
        (
            "a target without a health check: the registry alone, and said",
            Some(target(Ok("registered"), vec![check(LOCAL, Ok(None))])),
            GateStatus::Pass,
            "version 2",
            "registry only",
            Some(
                "no health check on local target local (.modelops/routing.json): servable on the registry's evidence alone",
            ),
        ),
        (
            "one target checked, one without a check",
            Some(target(
                Ok("registered"),
                vec![
                    check(EDGE, Ok(Some("answered 200"))),
                    check(LOCAL, Ok(None)),
                ],
            )),
            GateStatus::Pass,
            "version 2",
            "registry, health check on nginx target edge (/etc/nginx/modelops)",
            Some(
                "no health check on local target local (.modelops/routing.json): servable on the registry's evidence there",
            ),
        ),
        (
            "no target routes the model",
            Some(target(Ok("registered"), vec![])),
            GateStatus::Pass,
            "version 2",
            "registry only",
            Some("no serving target routes the model: servable on the registry's evidence alone"),
        ),
    ];
    for (row, found, status, value, source, reason) in rows {
        let g = ready(found.as_ref());
        assert_eq!(
            (
                g.status,
                g.value.as_str(),
                g.source.as_str(),
                g.reason.as_deref()
            ),
            (status, value, source, reason),
            "{row}"
        );
        assert_eq!(g.check, "rollback.ready");
    }
}

fn drill(when: &str, passed: bool, switch: Option<f64>) -> DrillRecord {
    DrillRecord {
        at: at(when),
        target: "staging".into(),
        version: VersionId::Number(2),
        before: "v3 100%".into(),
        passed,
        restored: true,
        reason: if passed {
            "version 2 answered 5 probes in a row (5 sent)".into()
        } else {
            "version 2 did not answer 5 probes in a row within 1m; last: answered 502".into()
        },
        switch_secs: switch,
        confirmed_secs: switch.map(|s| s + 0.2),
        total_secs: 1.0,
        probes: 5,
        required: 5,
    }
}

#[test]
fn drilled_counts_a_passed_drill_within_the_window_and_under_the_sla() {
    let required = DrillRequirement {
        within: DurationSpec("7d".into()),
        sla: DurationSpec("5m".into()),
    };
    // (row, drills, status, value)
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        &str,
        Option<Result<Vec<DrillRecord>, String>>,
        GateStatus,
        &str,
        Option<&str>,
    )> = vec![
        (
            "the audit log was not read",
            None,
            GateStatus::Fail,
            "not checked",
            Some("the audit log was not read"),
        ),
        (
            "it could not be read",
            Some(Err("cannot read events.jsonl".into())),
            GateStatus::Fail,
            "unknown",
            Some("cannot read events.jsonl"),
        ),
        (
            "no drill",
            Some(Ok(vec![])),
            GateStatus::Fail,
            "no drill recorded",
            Some(
                "no rollback drill of fraud-detector is recorded; run `modelops rollback --drill fraud-detector --target NAME` on a staging target",
            ),
        ),
        (
            "a passed drill a day ago",
            Some(Ok(vec![drill("2026-11-30T12:00:00Z", true, Some(0.042))])),
            GateStatus::Pass,
            "passed 1d ago, switch 0.042 s",
            None,
        ),
        (
            "exactly at the window's edge",
            Some(Ok(vec![drill("2026-11-24T12:00:00Z", true, Some(0.042))])),
            GateStatus::Pass,
            "passed 7d ago, switch 0.042 s",
            None,
        ),
        (
            "stale",
            Some(Ok(vec![drill("2026-11-24T11:00:00Z", true, Some(0.042))])),
            GateStatus::Fail,
            "last passed 7d 1h ago, switch 0.042 s",
            Some("the last drill does not count: it is 7d 1h old, more than 7d"),
        ),
        (
            "too slow",
            Some(Ok(vec![drill("2026-11-30T12:00:00Z", true, Some(301.0))])),
            GateStatus::Fail,
            "last passed 1d ago, switch 301.000 s",
            Some("the last drill does not count: its switch is not under the SLA of 5m"),
        ),
        (
            "failed",
            Some(Ok(vec![drill("2026-11-30T12:00:00Z", false, None)])),
            GateStatus::Fail,
            "last failed 1d ago, no switch confirmed",
            Some(
                "the last drill does not count: it failed: version 2 did not answer 5 probes in a row within 1m; last: answered 502",
            ),
        ),
        (
            "a later failure does not undo a passed drill within the window",
            Some(Ok(vec![
                drill("2026-11-29T12:00:00Z", true, Some(0.5)),
                drill("2026-11-30T12:00:00Z", false, None),
            ])),
            GateStatus::Pass,
            "passed 2d ago, switch 0.500 s",
            None,
        ),
        (
            "a drill after now (a plan derived at its own time) does not count yet",
            Some(Ok(vec![drill("2026-12-01T13:00:00Z", true, Some(0.042))])),
            GateStatus::Fail,
            "no drill recorded",
            Some(
                "no rollback drill of fraud-detector is recorded; run `modelops rollback --drill fraud-detector --target NAME` on a staging target",
            ),
        ),
    ];
    for (row, drills, status, value, reason) in rows {
        let g = drilled("fraud-detector", &required, drills.as_ref(), false, at(NOW));
        assert_eq!(
            (g.status, g.value.as_str(), g.reason.as_deref()),
            (status, value, reason),
            "{row}"
        );
        assert_eq!(
            g.threshold, "a passed drill within 7d, switch under 5m",
            "{row}"
        );
    }
    let first = drilled(
        "fraud-detector",
        &required,
        Some(&Ok(vec![])),
        true,
        at(NOW),
    );
    assert_eq!(
        (first.status, first.value.as_str()),
        (GateStatus::Skip, "no rollback target"),
        "a first Production version has no rollback to drill"
    );
}

#[test]
fn a_rejection_key_follows_the_rollback_gates_verdicts_only() {
    let gate = |check: &str, status, value: &str| GateResult {
        check: check.into(),
        status,
        value: value.into(),
        threshold: String::new(),
        source: String::new(),
        reason: None,
    };
    let others = vec![gate("approval.owner", GateStatus::Fail, "(none)")];
    assert_eq!(
        with_rollback_evidence("k".into(), &others),
        "k",
        "no rollback gates"
    );
    let stale = vec![
        gate("approval.owner", GateStatus::Fail, "(none)"),
        gate("rollback.drilled", GateStatus::Fail, "last passed 8d ago"),
    ];
    let staler = vec![
        gate("approval.owner", GateStatus::Fail, "(none)"),
        gate("rollback.drilled", GateStatus::Fail, "last passed 9d ago"),
    ];
    let fresh = vec![
        gate("approval.owner", GateStatus::Fail, "(none)"),
        gate("rollback.drilled", GateStatus::Pass, "passed 1h ago"),
    ];
    let key = |r: &[GateResult]| with_rollback_evidence("k".into(), r);
    assert!(key(&stale).starts_with("k-"));
    assert_eq!(key(&stale), key(&staler), "the same verdicts: the same key");
    assert_ne!(
        key(&stale),
        key(&fresh),
        "a drill passed since: another key"
    );
}
