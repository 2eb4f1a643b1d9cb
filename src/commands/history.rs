//! `modelops history MODEL`: the model's events, and which version served when.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use jiff::Timestamp;

use super::emit;
use crate::backend::LocalStore;
use crate::cli::{HistoryArgs, ListFormat};
use crate::manifest::suggest::did_you_mean;
use crate::ops::Context;
use crate::render::count;
use crate::render::{json_output, text};
use crate::state::chain::ChainReport;
use crate::state::production_at;

/// Prints the events, oldest first.
pub fn run(ctx: &Context, args: HistoryArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    if args.verify {
        return verify(ctx, &config, args.model.as_deref());
    }
    let model = args.model.unwrap_or_default();
    let mut store = ctx.registry(&config)?;
    let events = store.events(&model)?;
    if events.is_empty() {
        // No events: a model the registry does not know is a mistake, not
        // an empty history.
        let actual = store.observe()?;
        if !actual.models.contains_key(&model) {
            let names = actual.models.keys().map(String::as_str);
            bail!(
                "model {} is not registered in {}{}",
                text(&model),
                store.describe(),
                text(&did_you_mean(&model, names))
            );
        }
    }
    let at: Option<Timestamp> = match &args.at {
        Some(t) => Some(t.parse().with_context(|| {
            format!("--at {t} is not an RFC 3339 time such as 2026-11-20T12:00:00Z")
        })?),
        None => None,
    };
    if args.format == ListFormat::Json {
        let value = serde_json::json!({
            "model": model,
            "events": events,
            "production_at": at.map(|t| serde_json::json!({"time": t, "version": production_at(&events, t)})),
        });
        emit(&json_output(&format!(
            "{}\n",
            serde_json::to_string_pretty(&value)?
        )));
        return Ok(ExitCode::SUCCESS);
    }
    if events.is_empty() {
        emit(&format!(
            "No events for {} in {}.\n",
            text(&model),
            store.describe()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for e in &events {
        let commit = e
            .commit
            .as_deref()
            .map(|c| format!(" commit {}", text(crate::render::abbrev(c))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}  {}  (by {}{commit})",
            e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            text(&e.summary),
            text(&e.actor)
        );
        // A rejection's or an exit marker's `key` is modelops' own
        // bookkeeping (in --format json); the summary line says what it means.
        for c in e.changes.iter().filter(|c| c.field != "key") {
            let _ = writeln!(out, "      {}", crate::render::show_change(c));
        }
    }
    if let Some(t) = at {
        let _ = match production_at(&events, t) {
            Some(v) => writeln!(out, "\nAt {t}, version {v} of {model} was in Production."),
            None => writeln!(out, "\nAt {t}, no version of {model} was in Production."),
        };
    }
    emit(&out);
    Ok(ExitCode::SUCCESS)
}

/// `history --verify`: checks the hash chain of the audit events.
fn verify(
    ctx: &Context,
    config: &crate::manifest::config::ConfigSpec,
    model: Option<&str>,
) -> Result<ExitCode> {
    // (where, the report) per chain checked.
    let chains: Vec<(String, ChainReport)> = match ctx.mlflow(config)? {
        Some(mut mlflow) => mlflow.verify_events(model)?,
        None => {
            // The local log is one chain for every model.
            let check = LocalStore::new(ctx.state_dir(config)).verify_log()?;
            vec![(check.log, check.report)]
        }
    };
    let mut out = String::new();
    let mut broken = false;
    for (place, r) in &chains {
        match &r.broken {
            Some(b) => {
                broken = true;
                super::warn(&format!(
                    "{place}:{}: event {} {}",
                    b.line, b.line, b.reason
                ));
            }
            None => {
                let _ = write!(
                    out,
                    "{place}: {} intact",
                    count(r.records as usize, "event")
                );
                if r.legacy > 0 {
                    let _ = write!(
                        out,
                        "; the first {} predate the hash chain and cannot be verified",
                        r.legacy
                    );
                }
                out.push_str(".\n");
            }
        }
    }
    if chains.is_empty() {
        out.push_str("No events recorded.\n");
    }
    emit(&out);
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
