//! Applying: a saved plan bound to the commit it names, and a plan's steps
//! applied in order under the state lock, onto the state it was computed
//! from, its gates checked again first.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::approvals::{self, SignOffs};
use super::plan::{Planned, Request, compute};
use super::{Context, actor, with_lock};
use crate::apply::{ApplyReport, apply};
use crate::backend::{ApplyContext, Registry};
use crate::manifest::Diagnostic;
use crate::manifest::config::ConfigSpec;
use crate::observe;
use crate::reconcile::{Observations, Plan, gated_moves, observed, recheck_gates};
use crate::state::ActualState;
use crate::state::sign_off::SignOffEvidence;

/// A saved plan checked against its commit.
pub enum Bound {
    /// Checked: the plan the commit derives agrees (its details adopted).
    Checked(Plan),
    /// Made from uncommitted changes or outside git, and applied as saved
    /// (`allow_dirty`): where it was made, in words.
    Unchecked(Plan, String),
    /// Made from uncommitted changes or outside git, so refused: where it
    /// was made, in words.
    Dirty(String),
    /// The commit it names does not validate: its errors and file count.
    Invalid {
        /// The commit.
        commit: String,
        /// Every error, paths as the user sees them.
        diags: Vec<Diagnostic>,
        /// How many files were read.
        files: usize,
    },
    /// The state changed after the plan was made: what changed.
    Stale(Vec<String>),
    /// The commit now derives a different plan.
    Differs {
        /// The commit.
        commit: String,
        /// The first difference, in words.
        difference: String,
    },
}

/// What an apply did.
pub enum Applied {
    /// The state changed while the apply waited for the lock: what changed.
    /// Nothing was applied.
    Stale(Vec<String>),
    /// The steps were applied, up to the first failure if any.
    Done {
        /// The plan as applied (after the gate re-check).
        plan: Box<Plan>,
        /// What each step did, and the failure.
        report: ApplyReport,
        /// What the gate re-check changed, in words.
        gate_notes: Vec<String>,
    },
}

/// Applies `plan` under the state lock: refused as [`Applied::Stale`] when
/// the state it was computed from changed; its gated moves evaluated again
/// immediately before the moves.
///
/// A move into Production whose sign-off was verified on GitHub records
/// its approvers (in its event and the registry's `approvers`); one passed
/// by `--approval-override` records an override event first.
pub fn run(
    ctx: &Context,
    plan: Plan,
    config: &ConfigSpec,
    sign_offs: &SignOffs,
) -> Result<Applied> {
    let mut registry = ctx.registry(config)?;
    with_lock(
        registry.as_mut(),
        ctx.lock_timeout(config),
        "modelops apply",
        |registry| locked(ctx, plan, config, sign_offs, registry),
    )
}

/// The part of an apply that runs under the lock.
fn locked(
    ctx: &Context,
    plan: Plan,
    config: &ConfigSpec,
    sign_offs: &SignOffs,
    registry: &mut dyn Registry,
) -> Result<Applied> {
    let actual = registry
        .observe()
        .with_context(|| format!("cannot read {}", registry.describe()))?;
    let planned: Vec<&str> = plan.models.iter().map(|m| m.model.as_str()).collect();
    let fingerprint = actual.fingerprint_of(planned.iter().copied());
    drop(planned);
    if fingerprint != plan.state_fingerprint {
        return Ok(Applied::Stale(what_changed(&plan, &actual)));
    }
    // The gates again, immediately before the moves: a run's metrics, a
    // benchmark or a rollout record may have changed since the plan.
    // (The plan is moved, not copied: it can be large.)
    let (plan, gate_notes, evidence) = recheck(ctx, plan, config, sign_offs, &actual, registry)?;
    let apply_ctx = ApplyContext {
        now: ctx.now,
        commit: plan.source.commit.clone(),
        actor: actor(&ctx.repo, plan.source.commit.as_deref()),
        sign_offs: approvals::records(&plan, &actual, &evidence),
    };
    let mut targets = ctx.serving_targets(config)?;
    let report = apply(&plan, registry, &mut targets, &apply_ctx);
    Ok(Applied::Done {
        plan: Box::new(plan),
        report,
        gate_notes,
    })
}

/// `plan` with its gated moves evaluated again against `actual`, read under
/// the lock, what changed, and the sign-offs' evidence they were judged on.
fn recheck(
    ctx: &Context,
    mut plan: Plan,
    config: &ConfigSpec,
    sign_offs: &SignOffs,
    actual: &ActualState,
    registry: &mut dyn Registry,
) -> Result<(Plan, Vec<String>, SignOffEvidence)> {
    let moves = gated_moves(&plan, actual);
    if moves.is_empty() {
        return Ok((plan, Vec::new(), SignOffEvidence::default()));
    }
    let runs: Vec<String> = moves
        .iter()
        .filter_map(|m| m.metadata.as_ref()?.training_run_id.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let candidates: Vec<_> = moves.iter().filter_map(|m| m.candidate(&plan)).collect();
    let mut observations = Observations {
        run_metrics: observe::run_metrics(registry, &runs)?,
        gates: observe::gate_observations(registry, &candidates, &ctx.repo, None),
        metrics: Default::default(),
    };
    // The sign-offs (GitHub's answers are kept from the plan of this run).
    let needed = approvals::needed_by_plan(&plan, actual);
    observations.gates.sign_offs = approvals::evidence(
        ctx,
        &sign_offs.for_pr(plan.source.pr),
        config.owner_identities(),
        &needed,
        plan.source.commit.as_deref(),
    );
    // The rollback gates' evidence again: a drill may have gone stale, an
    // upstream down, since the plan.
    let rollback: Vec<_> = moves
        .iter()
        .filter_map(|m| m.rollback_candidate(&plan))
        .collect();
    if !rollback.is_empty() {
        let mut targets = ctx.serving_targets(config)?;
        let routed = observe::routes(&mut targets)?;
        observe::rollback_evidence(
            registry,
            actual,
            &rollback,
            &routed,
            &targets,
            &mut observations.gates,
        );
    }
    let notes = recheck_gates(&mut plan, actual, &observations, ctx.now);
    Ok((plan, notes, observations.gates.sign_offs))
}

/// The saved plan at `path` checked against the plan its commit derives
/// now, at the plan's own time, from the state it names. A plan from
/// uncommitted changes is applied as saved only when `allow_dirty`.
pub fn bind_to_commit(
    ctx: &Context,
    config: &ConfigSpec,
    mut saved: Plan,
    path: &Path,
    allow_dirty: bool,
    sign_offs: &SignOffs,
) -> Result<Bound> {
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
            return Ok(if allow_dirty {
                Bound::Unchecked(saved, what)
            } else {
                Bound::Dirty(what)
            });
        }
    };
    let at_plan_time = Context {
        repo: ctx.repo.clone(),
        state: ctx.state.clone(),
        now: saved.created_at,
        env: ctx.env.clone(),
    };
    let req = Request {
        rev: Some(commit.clone()),
        base: saved.source.base.clone(),
        models: saved.source.models.clone(),
        sign_offs: sign_offs.for_pr(saved.source.pr),
    };
    let derived = match compute(&at_plan_time, &req).with_context(|| {
        format!(
            "cannot derive the plan again from commit {commit}, which {} names",
            path.display()
        )
    })? {
        Planned::Plan(p, _, _) => p,
        Planned::Invalid(diags, files) => {
            return Ok(Bound::Invalid {
                commit,
                diags,
                files,
            });
        }
    };
    if derived.state_fingerprint != saved.state_fingerprint {
        let mut registry = ctx.registry(config)?;
        let actual = registry
            .observe()
            .with_context(|| format!("cannot read {}", registry.describe()))?;
        return Ok(Bound::Stale(what_changed(&saved, &actual)));
    }
    if let Some(m) = crate::reconcile::saved_plan::first_difference(&saved, &derived) {
        return Ok(Bound::Differs {
            commit,
            difference: m.to_string(),
        });
    }
    crate::reconcile::saved_plan::adopt_derived(&mut saved, &derived);
    Ok(Bound::Checked(saved))
}

/// Reads a saved plan: refused when its format's major version is not
/// this modelops's, or when it holds refused changes.
pub fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a modelops plan (JSON)", path.display()))?;
    let version = value
        .get("format_version")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let major = crate::state::plan::FORMAT_VERSION
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
fn what_changed(plan: &Plan, actual: &ActualState) -> Vec<String> {
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
