//! The last known-good version: where a rollback goes by default. It is the
//! version that most recently served as Production and left it by normal
//! succession (replaced, or archived by git). A version that left Production
//! by a rollback, by monitor's rollback on a breach, or whose rollout failed,
//! a Rejected version, and a version whose artifacts are gone are not
//! known-good; [`candidates`] says why for each.
//!
//! How a version left Production is read from the model's event log: a
//! rollback records an exit marker (a `record_action` event keyed
//! `left-production:<cause>`, see [`exit_marker`]) on the version it takes
//! out of service, on every registry backend. The model's last rollout
//! record covers rollbacks made before markers existed, and failed rollouts.

use std::fmt;

use jiff::Timestamp;

use super::STRATEGY;
use crate::manifest::{Stage, VersionId};
use crate::reconcile::rollout::FAILED;
use crate::state::plan::PlanStep;
use crate::state::{Event, RegisteredModel, RolloutRecord};

/// How a version was taken out of service other than by normal succession.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCause {
    /// `modelops rollback`.
    Rollback,
    /// `modelops monitor`'s rollback action, on a breach.
    MonitorBreach,
    /// Its rollout failed, or a rollback stopped it.
    FailedRollout,
}

const MARKER_PREFIX: &str = "left-production:";

impl ExitCause {
    const ALL: [ExitCause; 3] = [
        ExitCause::Rollback,
        ExitCause::MonitorBreach,
        ExitCause::FailedRollout,
    ];

    fn slug(self) -> &'static str {
        match self {
            ExitCause::Rollback => "rollback",
            ExitCause::MonitorBreach => "monitor-breach",
            ExitCause::FailedRollout => "failed-rollout",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            ExitCause::Rollback => "taken out of Production by a rollback",
            ExitCause::MonitorBreach => "taken out of Production by monitor's rollback",
            ExitCause::FailedRollout => "its rollout failed",
        }
    }
}

/// The event a rollback records on `version`, the version it takes out of
/// service, so later rollbacks never return to it by default.
pub fn exit_marker(model: &str, version: &VersionId, cause: ExitCause, reason: &str) -> PlanStep {
    PlanStep::RecordAction {
        model: model.to_string(),
        version: version.clone(),
        key: format!("{MARKER_PREFIX}{}", cause.slug()),
        summary: format!("{}: {reason}", cause.describe()),
    }
}

/// Why a version is not a rollback's default target.
#[derive(Debug, Clone, PartialEq)]
pub enum Exclusion {
    /// It left Production (or service) by `cause` at `at`; `why` in words.
    Left {
        /// How.
        cause: ExitCause,
        /// When.
        at: Timestamp,
        /// What was recorded, with the reason given.
        why: String,
    },
    /// Its gates refused it.
    Rejected {
        /// The gates' reason.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// Its artifacts are gone (deleted from the registry, or missing).
    ArtifactsGone(String),
    /// It never served as Production.
    NeverServed,
}

impl fmt::Display for Exclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::Left { at, why, .. } => write!(f, "{why} (at {at})"),
            Exclusion::Rejected { reason, at } => write!(f, "Rejected at {at}: {reason}"),
            Exclusion::ArtifactsGone(why) => write!(f, "artifacts gone: {why}"),
            Exclusion::NeverServed => f.write_str("never in Production"),
        }
    }
}

/// One version a rollback could go to, and why not, if it cannot by default.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The version.
    pub version: VersionId,
    /// When it last entered Production; `None` when it never did.
    pub served_from: Option<Timestamp>,
    /// Why it is not known-good; `None` when it is.
    pub excluded: Option<Exclusion>,
}

/// Every version of `model` but its Production version: those that served
/// as Production, most recent first, then the others in registry order,
/// each with why it is excluded, if it is.
///
/// `events` is the model's event log, oldest first; `rollout` its last
/// rollout record; `gone` names versions whose artifacts the caller found
/// gone, and why. A version in the log but no longer registered is gone.
pub fn candidates(
    model: &RegisteredModel,
    events: &[Event],
    rollout: Option<&RolloutRecord>,
    gone: &[(VersionId, String)],
) -> Vec<Candidate> {
    let current = model.production().map(|v| &v.version);
    // Per version: when it last entered Production (position in the log and
    // time), and the exit markers recorded after that.
    let mut served: Vec<(VersionId, usize, Timestamp)> = Vec::new();
    let mut markers: Vec<(usize, VersionId, ExitCause, Timestamp, String)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Some(v) = &e.version else { continue };
        if let Some((cause, why)) = marker(e) {
            markers.push((i, v.clone(), cause, e.at, why));
        } else if e.to_stage == Some(Stage::Production) && e.action == "transition_stage" {
            served.retain(|(x, ..)| x != v);
            served.push((v.clone(), i, e.at));
        }
    }
    let mut out = Vec::new();
    for (v, entered, at) in served.iter().rev() {
        if Some(v) == current {
            continue;
        }
        let registered = model.versions.iter().find(|x| &x.version == v);
        let excluded = if let Some((_, why)) = gone.iter().find(|(g, _)| g == v) {
            Some(Exclusion::ArtifactsGone(why.clone()))
        } else if registered.is_none() {
            Some(Exclusion::ArtifactsGone(
                "no longer in the registry (deleted)".to_string(),
            ))
        } else if let Some(r) = registered.and_then(|r| r.rejected.as_ref()) {
            Some(Exclusion::Rejected {
                reason: r.reason.clone(),
                at: r.at,
            })
        } else if let Some((_, _, cause, at, why)) = markers
            .iter()
            .rev()
            .find(|(i, m, ..)| m == v && i > entered)
        {
            Some(Exclusion::Left {
                cause: *cause,
                at: *at,
                why: why.clone(),
            })
        } else {
            rollout.and_then(|r| from_record(r, v, *at))
        };
        out.push(Candidate {
            version: v.clone(),
            served_from: Some(*at),
            excluded,
        });
    }
    for v in &model.versions {
        if Some(&v.version) != current && !served.iter().any(|(x, ..)| x == &v.version) {
            out.push(Candidate {
                version: v.version.clone(),
                served_from: None,
                excluded: Some(Exclusion::NeverServed),
            });
        }
    }
    out
}

/// Every candidate once `entering` is in Production (`None`: once any
/// other version is), as [`candidates`] lists them on the model as it will
/// be: the version serving now archived by normal succession, so it comes
/// first.
pub fn candidates_after(
    model: &RegisteredModel,
    entering: Option<&VersionId>,
    events: &[Event],
    rollout: Option<&RolloutRecord>,
    gone: &[(VersionId, String)],
) -> Vec<Candidate> {
    let mut after = model.clone();
    for v in &mut after.versions {
        if Some(&v.version) == entering {
            v.stage = Stage::Production;
        } else if v.stage == Stage::Production {
            v.stage = Stage::Archived;
        }
    }
    candidates(&after, events, rollout, gone)
}

/// The version a rollback would go to once `entering` is in Production
/// (`None`: once any other version is): [`known_good`] of
/// [`candidates_after`]. That is the version serving now unless it is
/// excluded (rejected, its artifacts gone); then the last known-good
/// version before it. What a drill rehearses. `Err` holds every candidate
/// and why it is excluded (none: nothing else was ever registered).
pub fn target_after(
    model: &RegisteredModel,
    entering: Option<&VersionId>,
    events: &[Event],
    rollout: Option<&RolloutRecord>,
    gone: &[(VersionId, String)],
) -> Result<VersionId, Vec<Candidate>> {
    let candidates = candidates_after(model, entering, events, rollout, gone);
    match known_good(&candidates) {
        Some(c) => Ok(c.version.clone()),
        None => Err(candidates),
    }
}

/// The version `rollback.ready` holds to account: the first candidate its
/// history does not exclude (it left Production by normal succession and
/// is not Rejected). Its artifacts being gone (or the version deleted) is
/// what the gate reports, not a reason to count on an older version: the
/// guidelines ask that the previous version's serving infrastructure still
/// be there. `None`: no candidate qualifies.
pub fn ready_target(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .iter()
        .find(|c| matches!(c.excluded, None | Some(Exclusion::ArtifactsGone(_))))
}

/// The default target: the first candidate nothing excludes.
pub fn known_good(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates.iter().find(|c| c.excluded.is_none())
}

/// The refusal when no candidate is known-good: each candidate and why.
pub fn refusal(model: &str, candidates: &[Candidate]) -> String {
    let mut text = format!("{model} has no known-good version to roll back to:");
    text.push_str(&candidate_lines(candidates));
    text.push_str(
        "\nName a version with --to; --force overrides its exclusion and the serving check.",
    );
    text
}

/// Each candidate and why it is excluded, one indented line each, every
/// line after a line break.
pub fn candidate_lines(candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        return "\n  (no other version is registered)".to_string();
    }
    let mut text = String::new();
    for c in candidates {
        let why = c
            .excluded
            .as_ref()
            .map_or_else(|| "known-good".to_string(), Exclusion::to_string);
        text.push_str(&format!("\n  version {}: {why}", c.version));
    }
    text
}

/// The exclusion the model's last rollout record gives `version`, which
/// last entered Production at `entered`: taken out by a rollback (a
/// rollback recorded before exit markers), or its rollout failed.
fn from_record(r: &RolloutRecord, version: &VersionId, entered: Timestamp) -> Option<Exclusion> {
    let at = r.started_at.unwrap_or(r.step_started_at);
    if at < entered {
        return None;
    }
    let reason = r
        .result
        .as_ref()
        .and_then(|v| v["reason"].as_str())
        .unwrap_or("");
    let cause = if r.strategy == STRATEGY && r.from_version.as_ref() == Some(version) {
        ExitCause::Rollback
    } else if r.strategy != STRATEGY && r.phase == FAILED && &r.version == version {
        ExitCause::FailedRollout
    } else {
        return None;
    };
    let why = if reason.is_empty() {
        format!("{} ({})", cause.describe(), r.strategy)
    } else {
        format!("{}: {reason}", cause.describe())
    };
    Some(Exclusion::Left { cause, at, why })
}

/// The exit cause and recorded words of an exit marker event. The local
/// registry keeps the key as a field change; MLflow's event tag keeps it in
/// the step text, `monitor_action [<key>] <summary>`.
fn marker(e: &Event) -> Option<(ExitCause, String)> {
    if !e.action.starts_with("monitor_action") {
        return None;
    }
    // Both backends prefix the summary with `<model> version <v>: `.
    let text = e.summary.split_once(": ").map_or("", |(_, t)| t);
    let (key, text) = match text.strip_prefix("monitor_action [") {
        Some(rest) => rest.split_once("] ")?,
        None => (
            e.changes
                .iter()
                .find(|c| c.field == "key")
                .and_then(|c| c.after.as_ref()?.as_str())?,
            text,
        ),
    };
    let slug = key.strip_prefix(MARKER_PREFIX)?;
    let cause = ExitCause::ALL.into_iter().find(|c| c.slug() == slug)?;
    Some((cause, text.to_string()))
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
