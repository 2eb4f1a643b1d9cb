//! `modelops history MODEL`: the model's events, and which version served when.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use super::{Context, emit};
use crate::cli::{HistoryArgs, ListFormat};
use crate::state::production_at;

/// Prints the events, oldest first.
pub fn run(ctx: &Context, args: HistoryArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.registry(&config)?;
    let events = store.events(&args.model)?;
    let at: Option<Timestamp> = match &args.at {
        Some(t) => Some(t.parse().with_context(|| {
            format!("--at {t} is not an RFC 3339 time such as 2026-11-20T12:00:00Z")
        })?),
        None => None,
    };
    if args.format == ListFormat::Json {
        let value = serde_json::json!({
            "model": args.model,
            "events": events,
            "production_at": at.map(|t| serde_json::json!({"time": t, "version": production_at(&events, t)})),
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&value)?));
        return Ok(ExitCode::SUCCESS);
    }
    if events.is_empty() {
        emit(&format!(
            "No events for {} in {}.\n",
            args.model,
            store.describe()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for e in &events {
        let commit = e
            .commit
            .as_deref()
            .map(|c| format!(" commit {}", &c[..c.len().min(12)]))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  {}  (by {}{commit})",
            e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            e.summary,
            e.actor
        );
        for c in &e.changes {
            let _ = writeln!(out, "      {}", crate::render::show_change(c));
        }
    }
    if let Some(t) = at {
        let _ = match production_at(&events, t) {
            Some(v) => writeln!(
                out,
                "\nAt {t}, version {v} of {} was in Production.",
                args.model
            ),
            None => writeln!(
                out,
                "\nAt {t}, no version of {} was in Production.",
                args.model
            ),
        };
    }
    emit(&out);
    Ok(ExitCode::SUCCESS)
}
