//! `modelops comment`: the plan's pull-request comment (being written).

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::Context;
use crate::cli::CommentArgs;

/// Posts or updates the comment.
pub fn run(_ctx: &Context, args: CommentArgs) -> Result<ExitCode> {
    bail!("modelops comment --pr {} is not available yet", args.pr)
}
