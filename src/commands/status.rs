//! `modelops status`: what the registry holds.

use std::fmt::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{Context, emit};
use crate::cli::{ListFormat, StatusArgs};

/// Prints every model (or one) with its versions and stages.
pub fn run(ctx: &Context, args: StatusArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.registry(&config)?;
    let actual = store.observe()?;
    let models: Vec<_> = actual
        .models
        .values()
        .filter(|m| args.model.as_ref().is_none_or(|n| &m.name == n))
        .collect();
    if let Some(name) = &args.model
        && models.is_empty()
    {
        bail!("model {name} is not registered in {}", store.describe());
    }
    if args.format == ListFormat::Json {
        let mut s = serde_json::to_string_pretty(&models)?;
        s.push('\n');
        emit(&s);
        return Ok(ExitCode::SUCCESS);
    }
    if models.is_empty() {
        emit(&format!("No models registered in {}.\n", store.describe()));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for m in models {
        let _ = writeln!(out, "{} (owner {})", m.name, m.owner);
        let _ = writeln!(
            out,
            "  {:<10} {:<12} {:<21} source",
            "version", "stage", "registered"
        );
        for v in &m.versions {
            let stage = if v.rejected.is_some() {
                format!("{} (Rejected)", v.stage)
            } else {
                v.stage.to_string()
            };
            let _ = writeln!(
                out,
                "  {:<10} {:<12} {:<21} {}",
                v.version.to_string(),
                stage,
                v.registered_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                v.metadata.source
            );
            if let Some(r) = &v.rejected {
                let stage = r.stage.map(|s| format!(" for {s}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "             rejected{stage} at {}: {}",
                    r.at, r.reason
                );
            }
        }
        if let Some(t) = actual.serving.get(&m.name) {
            let weights: Vec<String> = t
                .weights
                .iter()
                .map(|(v, w)| format!("v{v} {w}%"))
                .collect();
            let _ = writeln!(out, "  serving on {}: {}", t.target, weights.join(", "));
        }
        out.push('\n');
    }
    emit(&out);
    Ok(ExitCode::SUCCESS)
}
