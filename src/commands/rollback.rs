//! `modelops rollback`: take a model out of Production now (being written).

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::Context;
use crate::cli::RollbackArgs;

/// Rolls back or releases.
pub fn run(_ctx: &Context, args: RollbackArgs) -> Result<ExitCode> {
    bail!("modelops rollback {} is not available yet", args.model)
}
