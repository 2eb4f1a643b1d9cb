//! What the registry holds (`modelops status`), in words: each model's
//! versions and stages, its routing, and its rollout or rollback.

use std::fmt::Write;

use jiff::Timestamp;

use super::text;
use crate::reconcile::rollout::{PROGRESSING, human};
use crate::state::{ActualState, RegisteredModel, RolloutRecord};

/// `models` as lines for a terminal, with the routing and rollouts `actual`
/// holds for them; `now` words when the next rollout decision is due.
pub fn status_text(models: &[&RegisteredModel], actual: &ActualState, now: Timestamp) -> String {
    let mut out = String::new();
    for m in models {
        let _ = writeln!(out, "{} (owner {})", text(&m.name), text(&m.owner));
        let _ = writeln!(
            out,
            "  {:<10} {:<22} {:<21} source",
            "version", "stage", "registered"
        );
        for v in &m.versions {
            let stage = if v.rejected.is_some() {
                format!("{} (Rejected)", v.stage)
            } else {
                v.stage.to_string()
            };
            let _ = writeln!(
                out,
                "  {:<10} {:<22} {:<21} {}",
                v.version.to_string(),
                stage,
                v.registered_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                text(&v.metadata.source)
            );
            if let Some(r) = &v.rejected {
                let stage = r.stage.map(|s| format!(" for {s}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "             rejected{stage} at {}: {}",
                    crate::state::format::at(r.at),
                    text(&r.reason)
                );
            }
        }
        if let Some(t) = actual.serving.get(&m.name) {
            let _ = writeln!(out, "  serving on {}: {}", text(&t.target), t.describe());
        }
        if let Some(r) = actual.rollouts.get(&m.name) {
            out.push_str(&rollout_lines(r, now));
        }
        out.push('\n');
    }
    out
}

/// A rollout as `status` shows it: strategy, stage n of m, since when, the
/// next decision and when it is due, and the last analysis.
fn rollout_lines(r: &RolloutRecord, now: Timestamp) -> String {
    let mut out = String::new();
    if r.strategy == crate::reconcile::rollback::STRATEGY {
        let field = |k: &str| r.result_text(k);
        let from = r
            .from_version
            .as_ref()
            .map(|f| format!("version {f} → "))
            .unwrap_or_default();
        let state = if r.phase == crate::reconcile::rollback::HELD {
            "held: later applies leave the model alone until its manifest changes"
        } else {
            "released"
        };
        let _ = writeln!(
            out,
            "  rollback at {} by {} ({from}version {}): {}; {state}",
            crate::state::format::at(r.started_at.unwrap_or(r.step_started_at)),
            text(&field("actor")),
            r.version,
            text(&field("reason"))
        );
        return out;
    }
    let from = r
        .from_version
        .as_ref()
        .map(|v| format!(" against version {v}"))
        .unwrap_or_default();
    let stage = r.stages.get(r.step);
    let position = match (r.strategy.as_str(), stage) {
        ("canary", Some(s)) => format!(
            ", stage {} of {} ({}%)",
            r.step + 1,
            r.stages.len(),
            s.traffic_percent
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  rollout: {} of version {}{from}: {}{position}, since {}",
        text(&r.strategy),
        r.version,
        text(&r.phase),
        crate::state::format::at(r.step_started_at)
    );
    if r.phase == PROGRESSING
        && let Some(s) = stage
    {
        let since = if r.strategy == "canary" {
            r.step_started_at
        } else {
            r.started_at.unwrap_or(r.step_started_at)
        };
        let due = since
            .saturating_add(jiff::SignedDuration::from_secs(s.duration_secs as i64))
            .unwrap_or(since);
        let next = match r.strategy.as_str() {
            "canary" if r.step + 1 < r.stages.len() => {
                format!(
                    "advance to {}% if the analysis passes",
                    r.stages[r.step + 1].traffic_percent
                )
            }
            "canary" => {
                "complete: the version becomes Production if the analysis passes".to_string()
            }
            "shadow" => "compare the shadow with the primary".to_string(),
            _ => "decide the test".to_string(),
        };
        let when = if due <= now {
            "due now".to_string()
        } else {
            format!(
                "due at {due}, in {}",
                human(due.as_second() - now.as_second())
            )
        };
        let _ = writeln!(out, "    next: {next}, {when}");
    }
    if let Some(a) = &r.last_analysis {
        let _ = writeln!(
            out,
            "    last analysis at {}: {} — {}",
            crate::state::format::at(a.at),
            a.verdict.label(),
            text(&a.message)
        );
    }
    if let Some(result) = &r.result {
        let _ = writeln!(out, "    result: {}", text(&result.to_string()));
    }
    out
}
