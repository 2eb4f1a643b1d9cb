//! `modelops apply`: a saved plan (refused when stale) or a fresh plan after
//! confirmation; steps in order, under the state lock. Binding a saved plan
//! to its commit, and applying, are [`crate::ops::apply`]'s; planning is
//! [`crate::ops::plan`]'s. This asks for confirmation and says what happened.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};

use super::{emit, warn};
use crate::cli::ApplyArgs;
use crate::ops::Context;
use crate::ops::apply::{Applied, Bound, bind_to_commit, read_plan};
use crate::ops::approvals::SignOffs;
use crate::ops::plan::{Planned, Request, compute};
use crate::reconcile::Plan;
use crate::render::{applied_text, nothing_planned, plan_text, stale_text};

/// Applies and reports.
pub fn run(ctx: &Context, args: ApplyArgs) -> Result<ExitCode> {
    let (plan_file, models) = targets(&args.targets)?;
    if args.allow_dirty_plan && plan_file.is_none() {
        bail!(
            "--allow-dirty-plan applies to a saved plan file: name one (modelops apply plan.json)"
        );
    }
    // Shared by the plan and the re-check under the lock: GitHub is asked once.
    let sign_offs = SignOffs::new(None, args.approval_override.clone());
    let (plan, config) = match &plan_file {
        // A saved plan needs no confirmation, but is applied only if its
        // commit still derives the same steps, and only onto the state it
        // was computed from (checked again under the lock below).
        Some(path) => {
            let config = ctx.config()?;
            let saved = read_plan(path)?;
            match saved_plan(
                bind_to_commit(ctx, &config, saved, path, args.allow_dirty_plan, &sign_offs)?,
                path,
            ) {
                Some(plan) => (plan, config),
                None => return Ok(ExitCode::FAILURE),
            }
        }
        None => {
            let req = Request {
                rev: args.rev.rev.clone(),
                base: None,
                models,
                sign_offs: sign_offs.clone(),
            };
            let (p, config) = match compute(ctx, &req)? {
                // Applying needs only the plan: free the rest first.
                Planned::Plan(p, config, _inputs) => (*p, *config),
                Planned::Invalid(diags, files) => {
                    err(&nothing_planned(&diags, files));
                    return Ok(ExitCode::FAILURE);
                }
            };
            emit(&plan_text(&p, crate::render::Detail::verbose(args.verbose)));
            if !p.errors.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            if !p.has_changes() {
                return Ok(ExitCode::SUCCESS);
            }
            if !args.auto_approve && !confirm()? {
                eprintln!("Apply cancelled; nothing changed.");
                return Ok(ExitCode::FAILURE);
            }
            (p, config)
        }
    };
    if !plan.has_changes() {
        emit("No changes to apply.\n");
        return Ok(ExitCode::SUCCESS);
    }
    let (plan, report, gate_notes) = match crate::ops::apply::run(ctx, plan, &config, &sign_offs)? {
        Applied::Stale(changes) => {
            err(&stale_text(&changes, plan_file.is_some()));
            return Ok(ExitCode::FAILURE);
        }
        Applied::Done {
            plan,
            report,
            gate_notes,
        } => (plan, report, gate_notes),
    };
    for note in gate_notes {
        warn(&format!("Gate re-check: {note}"));
    }
    let words = applied_text(&report, &plan.summary);
    emit(&words.out);
    err(&words.err);
    Ok(if words.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Splits apply's arguments into a saved plan file and model names: an
/// argument holding a `.` or a `/` is a file, as no model name can.
fn targets(args: &[String]) -> Result<(Option<PathBuf>, Vec<String>)> {
    let (files, models): (Vec<&String>, Vec<&String>) =
        args.iter().partition(|a| a.contains(['.', '/']));
    if let Some(file) = models.iter().find(|m| Path::new(m.as_str()).is_file()) {
        bail!(
            "`{file}` is read as a model name; to apply the saved plan file of that name, write ./{file}",
            file = crate::render::terminal(file)
        );
    }
    match (files.as_slice(), models.is_empty()) {
        ([], _) => Ok((None, models.into_iter().cloned().collect())),
        ([file], true) => Ok((Some(PathBuf::from(file)), Vec::new())),
        ([_], false) => bail!(
            "a saved plan is applied whole, and cannot be limited to models: plan them with `modelops plan {} --out FILE`, then apply FILE",
            models
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ),
        _ => bail!("apply takes one saved plan file at a time"),
    }
}

/// The saved plan at `path` to apply, or `None` when binding it to its
/// commit refused it (said why).
fn saved_plan(bound: Bound, path: &Path) -> Option<Plan> {
    let path = path.display();
    match bound {
        Bound::Checked(plan) => return Some(plan),
        Bound::Unchecked(plan, what) => {
            emit(&format!(
                "Applying {path} as saved, unchecked (--allow-dirty-plan): it was made {what}.\n"
            ));
            return Some(plan);
        }
        Bound::Dirty(what) => warn(&format!(
            "{path} was made {what}, so it cannot be checked against a commit; nothing was applied.\n\
             Commit the changes and plan again, or pass --allow-dirty-plan to apply it as saved."
        )),
        Bound::Invalid {
            commit,
            diags,
            files,
        } => {
            err(&nothing_planned(&diags, files));
            warn(&format!(
                "Commit {commit}, which {path} names, does not validate; nothing was applied."
            ));
        }
        Bound::Stale(changes) => err(&stale_text(&changes, true)),
        Bound::Differs { commit, difference } => warn(&format!(
            "{path} does not match the plan commit {} derives; nothing was applied.\n  First difference: {difference}\n\
             Plan again from the commit (modelops plan --out FILE) and apply that file.",
            &commit[..commit.len().min(12)]
        )),
    }
    None
}

/// Writes `text` to stderr through the render boundary: a saved plan, a
/// server's error or a manifest value cannot reach the terminal raw.
fn err(text: &str) {
    eprint!(
        "{}",
        crate::render::terminal_painted(text, crate::render::paint::stderr_colour())
    );
}

fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "apply needs confirmation, and there is no terminal to ask on: pass --auto-approve, or apply a saved plan (modelops plan --out FILE, then modelops apply FILE)"
        );
    }
    eprint!("\nDo you want to apply these changes? Only 'yes' will be accepted: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
