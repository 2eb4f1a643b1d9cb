//! `modelops status`: what the registry holds.

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{emit, warn};
use crate::cli::{ListFormat, StatusArgs};
use crate::manifest::suggest::did_you_mean;
use crate::ops::Context;
use crate::render::{json_output, status_text, text};

/// Prints every model (or one) with its versions and stages.
pub fn run(ctx: &Context, args: StatusArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.registry(&config)?;
    let mut actual = store.observe()?;
    // Routing as every configured target holds it (a target that cannot be
    // read is reported, not fatal: the registry view still helps).
    match ctx.serving_targets(&config) {
        Ok(mut targets) => {
            for t in targets.values_mut() {
                match t.observe() {
                    Ok(routes) => actual.serving.extend(routes),
                    Err(e) => warn(&format!(
                        "warning: cannot read the routing of {}: {}",
                        t.describe(),
                        text(&e.to_string())
                    )),
                }
            }
        }
        Err(e) => warn(&format!("warning: {}", text(&format!("{e:#}")))),
    }
    let models: Vec<_> = actual
        .models
        .values()
        .filter(|m| args.model.as_ref().is_none_or(|n| &m.name == n))
        .collect();
    if let Some(name) = &args.model
        && models.is_empty()
    {
        let names = actual.models.keys().map(String::as_str);
        bail!(
            "model {} is not registered in {}{}",
            text(name),
            store.describe(),
            text(&did_you_mean(name, names))
        );
    }
    if args.format == ListFormat::Json {
        let mut s = serde_json::to_string_pretty(&models)?;
        s.push('\n');
        emit(&json_output(&s));
        return Ok(ExitCode::SUCCESS);
    }
    if models.is_empty() {
        emit(&format!("No models registered in {}.\n", store.describe()));
        return Ok(ExitCode::SUCCESS);
    }
    emit(&status_text(&models, &actual, ctx.now));
    Ok(ExitCode::SUCCESS)
}
