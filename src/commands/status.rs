//! `modelops status`: what the registry holds.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{emit, warn};
use crate::cli::{ListFormat, StatusArgs};
use crate::ops::Context;
use crate::render::{json_output, text};

/// Prints every model (or one) with its versions and stages.
pub fn run(ctx: &Context, args: StatusArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.registry(&config)?;
    let mut actual = store.observe()?;
    // Routing as every configured target holds it (a target that cannot be
    // read is reported, not fatal: the registry view still helps).
    match ctx.serving_targets(&config) {
        Ok(mut targets) => {
            for t in targets.values_mut() {
                match t.observe() {
                    Ok(routes) => actual.serving.extend(routes),
                    Err(e) => warn(&format!(
                        "warning: cannot read the routing of {}: {}",
                        t.describe(),
                        text(&e.to_string())
                    )),
                }
            }
        }
        Err(e) => warn(&format!("warning: {}", text(&format!("{e:#}")))),
    }
    let models: Vec<_> = actual
        .models
        .values()
        .filter(|m| args.model.as_ref().is_none_or(|n| &m.name == n))
        .collect();
    if let Some(name) = &args.model
        && models.is_empty()
    {
        bail!(
            "model {} is not registered in {}",
            text(name),
            store.describe()
        );
    }
    if args.format == ListFormat::Json {
        let mut s = serde_json::to_string_pretty(&models)?;
        s.push('\n');
        emit(&json_output(&s));
        return Ok(ExitCode::SUCCESS);
    }
    if models.is_empty() {
        emit(&format!("No models registered in {}.\n", store.describe()));
        return Ok(ExitCode::SUCCESS);
    }
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
                    r.at,
                    text(&r.reason)
                );
            }
        }
        if let Some(t) = actual.serving.get(&m.name) {
            let _ = writeln!(out, "  serving on {}: {}", text(&t.target), t.describe());
        }
        if let Some(r) = actual.rollouts.get(&m.name) {
            out.push_str(&rollout_lines(r, ctx.now));
        }
        out.push('\n');
    }
    emit(&out);
    Ok(ExitCode::SUCCESS)
}

/// A rollout as `status` shows it: strategy, stage n of m, since when, the
/// next decision and when it is due, and the last analysis.
fn rollout_lines(r: &crate::state::RolloutRecord, now: jiff::Timestamp) -> String {
    use crate::reconcile::rollout::{PROGRESSING, human};
    let mut out = String::new();
    if r.strategy == crate::reconcile::rollback::STRATEGY {
        let field = |k: &str| {
            r.result
                .as_ref()
                .and_then(|v| v[k].as_str())
                .unwrap_or("")
                .to_string()
        };
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
            r.started_at.unwrap_or(r.step_started_at),
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
        r.step_started_at
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
            a.at,
            a.verdict.label(),
            text(&a.message)
        );
    }
    if let Some(result) = &r.result {
        let _ = writeln!(out, "    result: {}", text(&result.to_string()));
    }
    out
}
