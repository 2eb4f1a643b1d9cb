//! `modelops plan`: what apply would do, drift first. The plan is
//! [`crate::ops::plan`]'s; this prints it, saves it when asked, and picks
//! the exit code.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::{emit, release_at_exit, warn};
use crate::cli::{PlanArgs, PlanFormat};
use crate::ops::Context;
use crate::ops::approvals::SignOffs;
use crate::ops::plan::{Planned, Request, compute};
use crate::render::{nothing_planned, plan_json, plan_markdown, plan_text};

/// Prints the plan, saves it when asked, and picks the exit code.
pub fn run(ctx: &Context, args: PlanArgs) -> Result<ExitCode> {
    let req = Request {
        rev: args.rev.rev,
        base: args.base,
        models: args.models,
        sign_offs: SignOffs::new(args.pr, args.approval_override),
    };
    let p = match compute(ctx, &req)? {
        Planned::Plan(p, _, inputs) => {
            release_at_exit(inputs);
            p
        }
        Planned::Invalid(diags, files) => {
            warn(nothing_planned(&diags, files).trim_end_matches('\n'));
            return Ok(ExitCode::FAILURE);
        }
    };
    emit(&match args.format {
        PlanFormat::Text => plan_text(&p, crate::render::Detail::verbose(args.verbose)),
        PlanFormat::Json => plan_json(&p),
        PlanFormat::Markdown => plan_markdown(&p),
    });
    if !p.errors.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    if let Some(out) = &args.out {
        std::fs::write(out, plan_json(&p))
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!(
            "Saved the plan to {}. Apply it with: modelops apply {}",
            out.display(),
            out.display()
        );
    }
    if p.summary.reject > 0 {
        // A failed gate is an error (DESIGN.md), even though the plan can be
        // applied: applying marks the versions Rejected.
        return Ok(ExitCode::FAILURE);
    }
    Ok(if args.fail_on_diverged && p.is_diverged() {
        ExitCode::from(3)
    } else if args.detailed_exitcode && (p.has_changes() || p.is_diverged()) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
