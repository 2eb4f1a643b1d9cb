//! `modelops rollback`: take a model out of Production now. Serving switches
//! first (instant on `local` and nginx), then the registry; the event log
//! records who, why, from and to; and the model is held against later
//! applies until git agrees or the hold is released. With `--drill`, a
//! rehearsal on one serving target instead, recorded in the audit log.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::emit;
use crate::cli::{ListFormat, RollbackArgs};
use crate::manifest::common::parse_duration;
use crate::ops::Context;
use crate::ops::rollback::Request;
use crate::render::{drill_json, drill_text, rollback_text};

/// Rolls back, releases a hold, or drills.
pub fn run(ctx: &Context, args: RollbackArgs) -> Result<ExitCode> {
    if args.drill {
        return drill(ctx, args);
    }
    let req = Request {
        model: args.model,
        to: args.to,
        reason: args.reason,
        force: args.force,
        release: args.release,
    };
    let outcome = crate::ops::rollback::run(ctx, &req)?;
    emit(&rollback_text(&outcome));
    Ok(ExitCode::SUCCESS)
}

/// `--drill`: exit 0 when the rollback target answered in time and the
/// routing was put back, 1 otherwise (the drill is recorded either way).
fn drill(ctx: &Context, args: RollbackArgs) -> Result<ExitCode> {
    let timeout = match &args.timeout {
        Some(t) => Some(Duration::from_secs(
            parse_duration(t)
                .map_err(anyhow::Error::msg)
                .context("--timeout")?,
        )),
        None => None,
    };
    let req = crate::ops::drill::Request {
        model: args.model,
        target: args.target.unwrap_or_default(),
        path: args.path,
        probes: args.probes,
        timeout,
    };
    let outcome = crate::ops::drill::run(ctx, &req)?;
    match args.format {
        ListFormat::Json => emit(&drill_json(&outcome)),
        ListFormat::Text => emit(&drill_text(&outcome)),
    }
    Ok(if outcome.drill.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
