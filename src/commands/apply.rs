//! `modelops apply`: a saved plan (refused when stale) or a fresh plan after
//! confirmation; steps in order, under the state lock.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use super::emit;
use super::plan::{Planned, compute};
use crate::apply::apply;
use crate::backend::ApplyContext;
use crate::cli::ApplyArgs;
use crate::observe;
use crate::ops::{Context, actor};
use crate::reconcile::{Observations, Plan, gated_moves, observed, recheck_gates};
use crate::render::plan_text;

/// Applies and reports.
pub fn run(ctx: &Context, args: ApplyArgs) -> Result<ExitCode> {
    let (plan, config) = match &args.plan_file {
        // A saved plan needs no confirmation, but is applied only if its
        // commit still derives the same steps, and only onto the state it
        // was computed from (checked again under the lock below).
        Some(path) => {
            let config = ctx.config()?;
            match bind_to_commit(ctx, &args, &config, read_plan(path)?, path)? {
                Some(plan) => (plan, config),
                None => return Ok(ExitCode::FAILURE),
            }
        }
        None => {
            let (p, config) = match compute(ctx, args.rev.rev.as_deref(), None)? {
                // Applying needs only the plan: free the rest first.
                Planned::Plan(p, config, _inputs) => (*p, *config),
                Planned::Invalid => return Ok(ExitCode::FAILURE),
            };
            emit(&plan_text(&p));
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
    let mut registry = ctx.registry(&config)?;
    registry
        .lock(ctx.lock_timeout(&config), "modelops apply")
        .context("cannot take the state lock")?;
    let outcome = apply_locked(ctx, &args, plan, &config, registry.as_mut());
    // Released whatever happened; a failure to release is reported, and the
    // lease (or the process ending, for the local store) frees it anyway.
    if let Err(e) = registry.unlock() {
        eprintln!(
            "warning: cannot release the lock on {}: {e}",
            registry.describe()
        );
    }
    outcome
}

/// The part of an apply that runs under the lock.
fn apply_locked(
    ctx: &Context,
    args: &ApplyArgs,
    plan: Plan,
    config: &crate::manifest::config::ConfigSpec,
    registry: &mut dyn crate::backend::Registry,
) -> Result<ExitCode> {
    let actual = registry
        .observe()
        .with_context(|| format!("cannot read {}", registry.describe()))?;
    let planned: Vec<&str> = plan.models.iter().map(|m| m.model.as_str()).collect();
    let fingerprint = actual.fingerprint_of(planned.iter().copied());
    drop(planned);
    if fingerprint != plan.state_fingerprint {
        stale(&plan, &actual, args.plan_file.is_some());
        return Ok(ExitCode::FAILURE);
    }
    // The gates again, immediately before the moves: a run's metrics, a
    // benchmark or a rollout record may have changed since the plan.
    // (The plan is moved, not copied: it can be large.)
    let plan = &recheck(ctx, plan, &actual, registry)?;
    let apply_ctx = ApplyContext {
        now: ctx.now,
        commit: plan.source.commit.clone(),
        actor: actor(&ctx.repo, plan.source.commit.as_deref()),
    };
    let mut targets = observe::serving_targets(config, &ctx.repo, &ctx.state_dir(config))?;
    let report = apply(plan, registry, &mut targets, &apply_ctx);
    let mut text = String::new();
    for line in &report.applied {
        text.push_str(&format!("  done: {line}\n"));
    }
    emit(&text);
    match report.failed {
        None if report.rejected > 0 => {
            let s = plan.summary;
            emit(&format!(
                "\nApply complete: {} added, {} changed, {} archived, {} rejected.\n",
                s.add, s.change, s.archive, s.reject
            ));
            eprintln!(
                "{} marked Rejected (failed validation gates or a failed rollout); the refused moves were not applied. \
                 A rejected move is not tried again until the version's manifest entry (or its policy) changes.",
                crate::commands::count(report.rejected, "version")
            );
            Ok(ExitCode::FAILURE)
        }
        None => {
            let s = plan.summary;
            emit(&format!(
                "\nApply complete: {} added, {} changed, {} archived.\n",
                s.add, s.change, s.archive
            ));
            Ok(ExitCode::SUCCESS)
        }
        Some((step, e)) => {
            eprintln!(
                "\nApply stopped after {} of {} steps.\nFailed: {step}\n  {e}\nThe steps above are applied and recorded. Run `modelops plan` to see what remains; the next apply continues from there.",
                report.applied.len(),
                report.total
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `plan` with its gated moves evaluated again against `actual`, read under
/// the lock; says what changed.
fn recheck(
    ctx: &Context,
    mut plan: Plan,
    actual: &crate::state::ActualState,
    registry: &mut dyn crate::backend::Registry,
) -> Result<Plan> {
    let moves = gated_moves(&plan, actual);
    if moves.is_empty() {
        return Ok(plan);
    }
    let runs: Vec<String> = moves
        .iter()
        .filter_map(|m| m.metadata.as_ref()?.training_run_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let candidates: Vec<_> = moves.iter().filter_map(|m| m.candidate(&plan)).collect();
    let observations = Observations {
        run_metrics: observe::run_metrics(registry, &runs)?,
        gates: observe::gate_observations(registry, &candidates, &ctx.repo, None),
        metrics: Default::default(),
    };
    for note in recheck_gates(&mut plan, actual, &observations) {
        eprintln!("Gate re-check: {note}");
    }
    Ok(plan)
}

/// The saved plan checked against the plan its commit derives now, at the
/// plan's own time, from the state it names; `None` when refused (said why).
/// A plan from uncommitted changes is applied as saved only with
/// `--allow-dirty-plan`.
fn bind_to_commit(
    ctx: &Context,
    args: &ApplyArgs,
    config: &crate::manifest::config::ConfigSpec,
    mut saved: Plan,
    path: &std::path::Path,
) -> Result<Option<Plan>> {
    let commit = match saved.source.commit.as_deref() {
        Some(c) if !c.ends_with("-dirty") => c.to_string(),
        dirty => {
            let what = match dirty {
                Some(c) => format!(
                    "from uncommitted changes on top of commit {}",
                    &c[..c.len().min(12)]
                ),
                None => "outside git (no commit)".to_string(),
            };
            if !args.allow_dirty_plan {
                eprintln!(
                    "{} was made {what}, so it cannot be checked against a commit; nothing was applied.\n\
                     Commit the changes and plan again, or pass --allow-dirty-plan to apply it as saved.",
                    path.display()
                );
                return Ok(None);
            }
            emit(&format!(
                "Applying {} as saved, unchecked (--allow-dirty-plan): it was made {what}.\n",
                path.display()
            ));
            return Ok(Some(saved));
        }
    };
    let at_plan_time = Context {
        repo: ctx.repo.clone(),
        state: ctx.state.clone(),
        now: saved.created_at,
    };
    let derived = match compute(&at_plan_time, Some(&commit), saved.source.base.as_deref())
        .with_context(|| {
            format!(
                "cannot derive the plan again from commit {commit}, which {} names",
                path.display()
            )
        })? {
        Planned::Plan(p, _, _) => p,
        Planned::Invalid => {
            eprintln!(
                "Commit {commit}, which {} names, does not validate; nothing was applied.",
                path.display()
            );
            return Ok(None);
        }
    };
    if derived.state_fingerprint != saved.state_fingerprint {
        let mut registry = ctx.registry(config)?;
        let actual = registry
            .observe()
            .with_context(|| format!("cannot read {}", registry.describe()))?;
        stale(&saved, &actual, true);
        return Ok(None);
    }
    if let Some(m) = crate::reconcile::saved_plan::first_difference(&saved, &derived) {
        eprintln!(
            "{} does not match the plan commit {} derives; nothing was applied.\n  First difference: {m}\n\
             Plan again from the commit (modelops plan --out FILE) and apply that file.",
            path.display(),
            &commit[..commit.len().min(12)]
        );
        return Ok(None);
    }
    crate::reconcile::saved_plan::adopt_derived(&mut saved, &derived);
    Ok(Some(saved))
}

/// Says that the state changed since `plan` and what changed.
fn stale(plan: &Plan, actual: &crate::state::ActualState, saved: bool) {
    if saved {
        eprintln!(
            "Saved plan is stale: the state changed after the plan was made, so it can no longer be applied."
        );
    } else {
        eprintln!("The state changed while this apply waited for the lock; nothing was applied.");
    }
    for line in what_changed(plan, actual) {
        eprintln!("  {line}");
    }
    eprintln!("Run `modelops plan` again.");
}

fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a modelops plan (JSON)", path.display()))?;
    let version = value
        .get("format_version")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let major = crate::reconcile::plan::FORMAT_VERSION
        .split('.')
        .next()
        .unwrap_or("1");
    if version.split('.').next() != Some(major) {
        bail!(
            "{} has plan format {version:?}; this modelops reads {major}.x",
            path.display()
        );
    }
    let plan: Plan = serde_json::from_value(value)
        .with_context(|| format!("{} is not a modelops plan", path.display()))?;
    if !plan.errors.is_empty() {
        bail!(
            "{} holds refused changes; fix them and plan again",
            path.display()
        );
    }
    Ok(plan)
}

/// The differences between the state a plan saw and the state now.
fn what_changed(plan: &Plan, actual: &crate::state::ActualState) -> Vec<String> {
    let planned: Vec<&str> = plan.models.iter().map(|m| m.model.as_str()).collect();
    let now = observed(actual, &planned);
    let mut out = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        plan.observed.keys().chain(now.keys()).collect();
    for name in names {
        let (before, after) = (plan.observed.get(name), now.get(name));
        match (before, after) {
            (None, Some(_)) => out.push(format!("model {name} was registered")),
            (Some(_), None) => out.push(format!("model {name} is gone")),
            (Some(b), Some(a)) => {
                let versions: std::collections::BTreeSet<&String> =
                    b.keys().chain(a.keys()).collect();
                for v in versions {
                    match (b.get(v), a.get(v)) {
                        (None, Some(s)) => out.push(format!(
                            "{name} version {v} was registered ({})",
                            stage_of(s)
                        )),
                        (Some(x), Some(y)) if x != y => {
                            if stage_of(x) != stage_of(y) {
                                out.push(format!(
                                    "{name} version {v}: stage {} → {}",
                                    stage_of(x),
                                    stage_of(y)
                                ));
                            } else {
                                out.push(format!("{name} version {v}: metadata changed"));
                            }
                        }
                        (Some(_), None) => out.push(format!("{name} version {v} is gone")),
                        _ => {}
                    }
                }
            }
            (None, None) => {}
        }
    }
    if out.is_empty() {
        out.push("serving or rollout records changed".to_string());
    }
    out
}

fn stage_of(observed: &str) -> &str {
    observed.split(' ').next().unwrap_or(observed)
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
