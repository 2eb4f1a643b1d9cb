//! `modelops validate`: every file through every layer, every error at once.

use std::process::ExitCode;

use anyhow::Result;

use super::{emit, emit_commands, release_at_exit};
use crate::cli::{ValidateArgs, ValidateFormat};
use crate::ops::{Context, Loaded, load};
use crate::render::count;
use crate::render::{diagnostics_github, diagnostics_json};

/// Validates and prints the result.
pub fn run(ctx: &Context, args: ValidateArgs) -> Result<ExitCode> {
    let loaded = load(ctx, args.rev.rev.as_deref())?;
    let (diags, files) = match &loaded {
        Loaded::Valid { files, desired, .. } => {
            let summary = format!(
                "{} valid: {}, {}, {}.\n",
                count(files.len(), "file"),
                count(desired.models.len(), "model"),
                count(desired.deployments.len(), "deployment"),
                match desired.policies.len() {
                    1 => "1 policy".to_string(),
                    n => format!("{n} policies"),
                }
            );
            if args.format == ValidateFormat::Text {
                emit(&summary);
                release_at_exit(loaded);
                return Ok(ExitCode::SUCCESS);
            }
            (Vec::new(), files.len())
        }
        Loaded::Invalid(diags, files) => (diags.clone(), *files),
    };
    release_at_exit(loaded);
    match args.format {
        ValidateFormat::Json => emit(&diagnostics_json(&diags, files)),
        ValidateFormat::Github => emit_commands(&diagnostics_github(&diags)),
        ValidateFormat::Text => {
            eprint!(
                "{}",
                crate::render::terminal_painted(
                    &crate::render::diagnostics_painted(&diags),
                    crate::render::paint::stderr_colour()
                )
            );
            eprintln!(
                "{} in {}.",
                count(diags.len(), "error"),
                count(files, "file")
            );
        }
    }
    Ok(if diags.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
