//! The rollback gates of a move into Production, each opt-in per policy
//! (`production_requires`):
//!
//! - `rollback.ready` (`rollback_ready: true`): the version a rollback would
//!   go to after the move ([`crate::reconcile::rollback::target_after`]) can
//!   still serve: the registry has it (and, where it can tell, its
//!   artifacts), and every serving target that routes the model and has a
//!   health check sees its upstream answer.
//! - `rollback.drilled` (`rollback_drill: {within, sla}`): a rollback drill
//!   of the model passed within `within`, its switch faster than `sla`.
//!
//! Both judge evidence gathered by the commands ([`Readiness`], the drills
//! read from the audit log); the time is a parameter.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::{GateResult, GateStatus};
use crate::manifest::VersionId;
use crate::manifest::policy::DrillRequirement;
use crate::state::drill::DrillRecord;
use crate::state::format::human;

/// What was found about the version a rollback would go to after a move
/// into Production.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// No other version has served in Production: the move makes the model's
    /// first Production version, and a rollback would have nowhere to go.
    FirstProduction,
    /// Versions served before, but none of them is known-good: each one and
    /// why, one per line.
    NoKnownGood(String),
    /// The rollback target and what was checked.
    Target {
        /// The version a rollback would go to.
        version: VersionId,
        /// The registry's answer: what it holds, or why the version cannot
        /// serve (deleted, artifacts gone).
        registry: Result<String, String>,
        /// The health check on each serving target that routes the model.
        serving: Vec<ServingCheck>,
    },
    /// The evidence could not be read (the event log, the registry), and why.
    Unknown(String),
}

/// One serving target's health check of the rollback target.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingCheck {
    /// The target, described (`nginx target edge (...)`).
    pub target: String,
    /// `Ok(Some(what answered))`; `Ok(None)`: the target has no health check;
    /// `Err(why)`: the check failed.
    pub health: Result<Option<String>, String>,
}

fn row(
    check: &str,
    status: GateStatus,
    value: String,
    threshold: &str,
    source: String,
) -> GateResult {
    GateResult {
        check: check.to_string(),
        status,
        value,
        threshold: threshold.to_string(),
        source,
        reason: None,
    }
}

fn because(mut g: GateResult, reason: String) -> GateResult {
    g.reason = Some(reason);
    g
}

/// `rollback.ready`, judged on what was found (`None`: nothing was).
///
/// A first Production version is a SKIP: there is nothing to roll back to,
/// which no check can change. A target that passes the registry check on a
/// serving target without a health check (`local`) passes on the registry's
/// evidence alone, and says so: no health probe was made.
pub fn ready(found: Option<&Readiness>) -> GateResult {
    const CHECK: &str = "rollback.ready";
    const THRESHOLD: &str = "the rollback target can serve";
    let fail = |value: &str, source: &str, reason: String| {
        because(
            row(
                CHECK,
                GateStatus::Fail,
                value.into(),
                THRESHOLD,
                source.into(),
            ),
            reason,
        )
    };
    let Some(found) = found else {
        return fail(
            "not checked",
            "registry, serving",
            "the rollback target was not looked for".into(),
        );
    };
    match found {
        Readiness::Unknown(why) => fail("unknown", "registry", why.clone()),
        Readiness::FirstProduction => because(
            row(
                CHECK,
                GateStatus::Skip,
                "no rollback target".into(),
                THRESHOLD,
                "event log".into(),
            ),
            "no other version has served in Production: this is the model's first Production version, so a rollback would have nowhere to go".into(),
        ),
        Readiness::NoKnownGood(lines) => fail(
            "no rollback target",
            "event log",
            format!("no known-good version to roll back to: {lines}"),
        ),
        Readiness::Target {
            version,
            registry,
            serving,
        } => {
            let value = format!("version {version}");
            if let Err(why) = registry {
                return fail(&value, "registry", why.clone());
            }
            let failed: Vec<&str> = serving
                .iter()
                .filter_map(|s| s.health.as_ref().err().map(String::as_str))
                .collect();
            if !failed.is_empty() {
                return fail(&value, "health check", failed.join("; "));
            }
            let probed: Vec<&str> = serving
                .iter()
                .filter(|s| matches!(s.health, Ok(Some(_))))
                .map(|s| s.target.as_str())
                .collect();
            let unchecked: Vec<String> = serving
                .iter()
                .filter(|s| matches!(s.health, Ok(None)))
                .map(|s| format!("no health check on {}", s.target))
                .collect();
            let source = if probed.is_empty() {
                "registry only".to_string()
            } else {
                format!("registry, health check on {}", probed.join(", "))
            };
            let mut g = row(CHECK, GateStatus::Pass, value, THRESHOLD, source);
            if serving.is_empty() {
                g.reason = Some(
                    "no serving target routes the model: servable on the registry's evidence alone"
                        .into(),
                );
            } else if !unchecked.is_empty() {
                g.reason = Some(format!(
                    "{}: servable on the registry's evidence{}",
                    unchecked.join("; "),
                    if probed.is_empty() { " alone" } else { " there" }
                ));
            }
            g
        }
    }
}

/// `rollback.drilled`: a drill that passed at most `within` before `now`
/// (drills after `now`, as a plan derived again at its own time sees them,
/// do not count yet), its switch faster than `sla`. `None`: the audit log
/// was not read. A move that makes the model's `first` Production version
/// is a SKIP: there is nothing to roll back to, so nothing to drill.
pub fn drilled(
    model: &str,
    required: &DrillRequirement,
    drills: Option<&Result<Vec<DrillRecord>, String>>,
    first: bool,
    now: Timestamp,
) -> GateResult {
    const CHECK: &str = "rollback.drilled";
    let (within, sla) = match (required.within.seconds(), required.sla.seconds()) {
        (Ok(w), Ok(s)) => (w, s),
        // Validation refuses these; a saved plan's policy is not validated.
        (Err(e), _) | (_, Err(e)) => {
            return because(
                row(
                    CHECK,
                    GateStatus::Fail,
                    "unknown".into(),
                    "a valid rollback_drill",
                    "policy".into(),
                ),
                e,
            );
        }
    };
    let threshold = format!(
        "a passed drill within {}, switch under {}",
        human(within as i64),
        human(sla as i64)
    );
    let fail = |value: String, source: &str, reason: String| {
        because(
            row(CHECK, GateStatus::Fail, value, &threshold, source.into()),
            reason,
        )
    };
    if first {
        return because(
            row(
                CHECK,
                GateStatus::Skip,
                "no rollback target".into(),
                &threshold,
                "event log".into(),
            ),
            "no other version has served in Production: this is the model's first Production version, so there is no rollback to drill".into(),
        );
    }
    let drills = match drills {
        None => {
            return fail(
                "not checked".into(),
                "audit log",
                "the audit log was not read".into(),
            );
        }
        Some(Err(why)) => return fail("unknown".into(), "audit log", why.clone()),
        Some(Ok(d)) => d,
    };
    let past: Vec<&DrillRecord> = drills.iter().filter(|d| d.at <= now).collect();
    let age = |d: &DrillRecord| now.as_second() - d.at.as_second();
    let counts = |d: &DrillRecord| {
        d.passed && age(d) <= within as i64 && d.switch_secs.is_some_and(|s| s < sla as f64)
    };
    if let Some(d) = past.iter().rev().find(|d| counts(d)) {
        return row(
            CHECK,
            GateStatus::Pass,
            format!(
                "passed {} ago, switch {:.3} s",
                human(age(d)),
                d.switch_secs.unwrap_or_default()
            ),
            &threshold,
            format!("drill on {} at {} (audit log)", d.target, d.at),
        );
    }
    let Some(last) = past.last() else {
        return fail(
            "no drill recorded".into(),
            "audit log",
            format!(
                "no rollback drill of {model} is recorded; run `modelops rollback --drill {model} --target NAME` on a staging target"
            ),
        );
    };
    let switch = last.switch_secs.map_or_else(
        || "no switch confirmed".to_string(),
        |s| format!("switch {s:.3} s"),
    );
    let verdict = if last.passed { "passed" } else { "failed" };
    let why = if !last.passed {
        format!("it failed: {}", last.reason)
    } else if age(last) > within as i64 {
        format!(
            "it is {} old, more than {}",
            human(age(last)),
            human(within as i64)
        )
    } else {
        format!("its switch is not under the SLA of {}", human(sla as i64))
    };
    fail(
        format!("last {verdict} {} ago, {switch}", human(age(last))),
        &format!("drill on {} at {} (audit log)", last.target, last.at),
        format!("the last drill does not count: {why}"),
    )
}

/// A rejection's key under a policy with rollback gates: the base key
/// ([`super::rejection_key`]) and which way each rollback gate (and each
/// sign-off verified on GitHub) went. Their
/// evidence changes without any edit (a drill is run, an upstream comes
/// back), so a rejection holds only while they answer as they did; under a
/// policy without them the key is the base key, as before.
pub fn with_rollback_evidence(base: String, results: &[GateResult]) -> String {
    // A verified sign-off changes without an edit too (a review is
    // given, GitHub answers again); a declared one is the manifest's.
    let rows: Vec<String> = results
        .iter()
        .filter(|g| g.check.starts_with("rollback.") || super::verified_on_github(g))
        .map(|g| format!("{}={}", g.check, g.status.label()))
        .collect();
    if rows.is_empty() {
        return base;
    }
    let digest = Sha256::digest(rows.join(";").as_bytes());
    let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{base}-{short}")
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
