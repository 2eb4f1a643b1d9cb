//! `modelops rollback`: take a model out of Production now. Serving switches
//! first (instant on `local` and nginx), then the registry; the event log
//! records who, why, from and to; and the model is held against later
//! applies until git agrees or the hold is released.

use std::process::ExitCode;

use anyhow::Result;

use super::emit;
use crate::cli::RollbackArgs;
use crate::ops::Context;
use crate::ops::rollback::Request;
use crate::render::rollback_text;

/// Rolls back, or releases a hold.
pub fn run(ctx: &Context, args: RollbackArgs) -> Result<ExitCode> {
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
