//! `modelops import --from mlflow --out DIR`: manifests for the models an
//! MLflow registry holds ([`crate::ops::import`]), then what was written,
//! what was left as it was, and the to-dos with their `file:line`.

use std::process::ExitCode;

use anyhow::Result;

use super::{emit, warn};
use crate::cli::ImportArgs;
use crate::ops::Context;
use crate::ops::import::{Imported, Request, run as import};
use crate::render::{count, diagnostics_text};

/// Imports into `--out` and says what it did; exit 1 when a model could not
/// be adopted or the result does not validate.
pub fn run(ctx: &Context, args: ImportArgs) -> Result<ExitCode> {
    let ctx = Context {
        repo: args.out.clone(),
        state: ctx.state.clone(),
        now: ctx.now,
        env: ctx.env.clone(),
    };
    let imported = import(
        &ctx,
        &Request {
            models: args.models,
        },
    )?;
    emit(&text(&imported, &args.out.display().to_string()));
    for r in &imported.refused {
        warn(&format!("not imported: {}: {}", r.model, r.reason));
    }
    if !imported.invalid.is_empty() {
        warn(&format!(
            "error: the repository does not validate with the files written (a bug in import, or a file it did not expect):\n{}",
            diagnostics_text(&imported.invalid).trim_end()
        ));
    }
    Ok(
        if imported.refused.is_empty() && imported.invalid.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

fn text(i: &Imported, dir: &str) -> String {
    let mut out = String::new();
    for path in &i.written {
        out.push_str(&format!("wrote {path}\n"));
    }
    for (model, file) in &i.kept {
        out.push_str(&format!(
            "kept {file}: it declares {model} (import never overwrites a file)\n"
        ));
    }
    let models = i.written.iter().filter(|p| p.contains("models/")).count();
    out.push_str(&format!(
        "Imported {} from {}; {} already declared, {} not imported.\n",
        count(models, "model"),
        i.registry,
        i.kept.len(),
        i.refused.len()
    ));
    for note in &i.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    if !i.todos.is_empty() {
        out.push_str(
            "\nTo do before these versions' next promotions (their gates will fail, naming the same evidence, until it is there):\n",
        );
        for (file, t) in &i.todos {
            out.push_str(&format!(
                "  {file}:{}: version {} → {}: {}\n",
                t.line, t.version, t.next, t.text
            ));
        }
    }
    if models > 0 {
        out.push_str(&format!(
            "\nAdopting changes nothing: `modelops validate --repo {dir}` passes, and `modelops plan --repo {dir} --detailed-exitcode` exits 0.\n"
        ));
    }
    out
}
