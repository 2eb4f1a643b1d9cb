//! `modelops rollback`: take a model out of Production now. Serving switches
//! first (instant on `local` and nginx), then the registry; the event log
//! records who, why, from and to; and the model is held against later
//! applies until git agrees or the hold is released.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;

use super::emit;
use crate::cli::RollbackArgs;
use crate::ops::rollback::{Request, locked};
use crate::ops::{Context, Loaded, load, with_lock};
use crate::reconcile::rollback::ExitCause;

/// Rolls back, or releases a hold.
pub fn run(ctx: &Context, args: RollbackArgs) -> Result<ExitCode> {
    let started = Instant::now();
    // The repository is read when it can be: it gives the deployment's
    // target and the manifest the hold is tied to. An emergency rollback
    // must not wait for a valid repository, so without it the rollback still
    // happens (held until released).
    let desired = match load(ctx, None) {
        Ok(Loaded::Valid { desired, .. }) => Some(desired),
        _ => None,
    };
    let config = match &desired {
        Some(d) => d.config.clone(),
        None => ctx.config()?,
    };
    let req = Request {
        model: args.model,
        to: args.to,
        reason: args.reason,
        force: args.force,
        release: args.release,
    };
    let mut registry = ctx.registry(&config)?;
    let text = with_lock(
        registry.as_mut(),
        ctx.lock_timeout(&config),
        "modelops rollback",
        |registry| {
            locked(
                ctx,
                &req,
                desired.as_deref(),
                &config,
                registry,
                ExitCause::Rollback,
                started,
            )
        },
    )?;
    emit(&text);
    Ok(ExitCode::SUCCESS)
}
