//! `modelops monitor [MODEL]`: each deployed model's Production version,
//! its signals over the monitoring window against their thresholds, and the
//! deployment's action on a breach: alert (exit 1), rollback (as `modelops
//! rollback`), or retrain (a webhook or a GitHub `repository_dispatch`).
//! Every action is recorded and not repeated for the same (model, version,
//! signal, window).

use std::process::ExitCode;

use anyhow::{Result, bail};
use serde_json::json;

use super::{emit, warn};
use crate::cli::{MonitorArgs, PlanFormat};
use crate::ops::monitor::{Monitored, Request};
use crate::ops::{Context, Loaded, load};
use crate::reconcile::monitor::ModelReport;
use crate::render::{monitor_markdown, monitor_text, rollback_text};

/// Measures, reports, acts.
pub fn run(ctx: &Context, args: MonitorArgs) -> Result<ExitCode> {
    let desired = match load(ctx, None)? {
        Loaded::Valid { desired, .. } => desired,
        Loaded::Invalid(diags, _) => {
            warn(crate::render::diagnostics_painted(&diags).trim_end());
            bail!("the repository is invalid; fix it before monitoring");
        }
    };
    let req = Request {
        model: args.model,
        dry_run: args.dry_run,
    };
    let Monitored {
        reports,
        rollbacks,
        acted,
    } = crate::ops::monitor::run(ctx, &desired, &req)?;
    // On stderr: stdout carries the report (JSON with --format json).
    for outcome in &rollbacks {
        warn(rollback_text(outcome).trim_end_matches('\n'));
    }
    // The report is printed whatever the actions did; their failures are
    // in it, and end the run with an error.
    emit(&match args.format {
        PlanFormat::Text => monitor_text(&reports),
        PlanFormat::Markdown => monitor_markdown(&reports),
        PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(&json!({"at": ctx.now, "models": reports}))?;
            s.push('\n');
            s
        }
    });
    acted?;
    Ok(if ModelReport::healthy(&reports) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
