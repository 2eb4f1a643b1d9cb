//! Rollback: take a model out of Production now. Serving switches first
//! (instant on `local` and nginx), then the registry; the event log records
//! who, why, from and to; and the model is held against later applies until
//! git agrees or the hold is released. Used by `modelops rollback` and by
//! monitor's rollback action.

use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use super::{Context, Loaded, actor, load, with_lock};
use crate::backend::serving::Route;
use crate::backend::{ApplyContext, Registry};
use crate::manifest::{Stage, VersionId};
use crate::reconcile::PlanStep;
use crate::reconcile::rollback::{
    self, Exclusion, ExitCause, RollbackOutcome, RolledBack, model_digest,
};
use crate::reconcile::rollout::PROGRESSING;
use crate::state::TrafficRecord;

/// What to roll back, or whose hold to release.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The model.
    pub model: String,
    /// The version to put back in Production (default: the last known-good one).
    pub to: Option<String>,
    /// Why, recorded in the event log (required unless releasing).
    pub reason: Option<String>,
    /// Past the checks that refuse a target: never served, not known-good,
    /// artifacts gone, a failed health check.
    pub force: bool,
    /// End the hold of an earlier rollback instead.
    pub release: bool,
}

/// Rolls back (or releases a hold) under the state lock: `modelops
/// rollback`. The repository is read when it can be: it gives the
/// deployment's target and the manifest the hold is tied to. An emergency
/// rollback must not wait for a valid repository, so without it the rollback
/// still happens (held until released).
pub fn run(ctx: &Context, req: &Request) -> Result<RollbackOutcome> {
    let started = Instant::now();
    let desired = match load(ctx, None) {
        Ok(Loaded::Valid { desired, .. }) => Some(desired),
        _ => None,
    };
    let config = match &desired {
        Some(d) => d.config.clone(),
        None => ctx.config()?,
    };
    let mut registry = ctx.registry(&config)?;
    with_lock(
        registry.as_mut(),
        ctx.lock_timeout(&config),
        "modelops rollback",
        |registry| {
            locked(
                ctx,
                req,
                desired.as_deref(),
                &config,
                registry,
                ExitCause::Rollback,
                started,
            )
        },
    )
}

/// The rollback itself, under the caller's lock (also `monitor`'s rollback
/// action): what was done.
pub fn locked(
    ctx: &Context,
    req: &Request,
    desired: Option<&crate::manifest::Desired>,
    config: &crate::manifest::config::ConfigSpec,
    registry: &mut dyn Registry,
    cause: ExitCause,
    started: Instant,
) -> Result<RollbackOutcome> {
    let name = &req.model;
    let actual = registry
        .observe()
        .with_context(|| format!("cannot read {}", registry.describe()))?;
    let Some(model) = actual.models.get(name) else {
        bail!("model {name} is not registered in {}", registry.describe());
    };
    let apply_ctx = ApplyContext {
        now: ctx.now,
        commit: None,
        actor: actor(&ctx.repo, None),
        sign_offs: Default::default(),
    };
    if req.release {
        let Some(r) = actual
            .rollouts
            .get(name)
            .filter(|r| r.strategy == rollback::STRATEGY && r.phase == rollback::HELD)
        else {
            bail!("{name} is not held by a rollback; nothing to release");
        };
        registry.apply(&rollback::release(name, r, "released by hand"), &apply_ctx)?;
        registry.commit()?;
        return Ok(RollbackOutcome::Released {
            model: name.clone(),
        });
    }
    let reason = req.reason.as_deref().unwrap_or_default().trim();
    if reason.is_empty() {
        bail!("--reason must say why: it is recorded with the rollback");
    }
    let current = model.production().map(|p| p.version.clone());
    let in_flight = actual
        .rollouts
        .get(name)
        .filter(|r| r.phase == PROGRESSING && r.strategy != rollback::STRATEGY);
    let named: Option<VersionId> = match &req.to {
        Some(t) => Some(t.parse().map_err(|e| anyhow::anyhow!("--to {t}: {e}"))?),
        None => None,
    };
    let events = registry.events(name)?;
    let rollout = actual.rollouts.get(name);
    // Artifacts are asked after only for versions that could be a target:
    // those that served, and the one named.
    let mut gone = Vec::new();
    for c in rollback::candidates(model, &events, rollout, &[]) {
        let could_be_target =
            c.excluded != Some(Exclusion::NeverServed) || named.as_ref() == Some(&c.version);
        if could_be_target && let Some(why) = registry.artifacts_gone(name, &c.version)? {
            gone.push((c.version, why));
        }
    }
    let candidates = rollback::candidates(model, &events, rollout, &gone);
    // What --force overrides, recorded with the rollback.
    let mut forced = Vec::new();
    let target = match named {
        Some(t) => {
            if !model.versions.iter().any(|v| v.version == t) {
                bail!("{name} has no version {t} in {}", registry.describe());
            }
            match candidates
                .iter()
                .find(|c| c.version == t)
                .and_then(|c| c.excluded.as_ref())
            {
                Some(Exclusion::NeverServed) if !req.force => bail!(
                    "{name} version {t} was never in Production; pass --force to put it there anyway"
                ),
                Some(e) if !req.force => bail!(
                    "{name} version {t} is not known-good: {e}; pass --force to roll back to it anyway"
                ),
                Some(e) => forced.push(format!("version {t}: {e}")),
                None => {}
            }
            t
        }
        // A rollout in flight is what goes wrong: back to the version the
        // registry still has in Production.
        None if in_flight.is_some() && current.is_some() => current.clone().expect("checked"),
        None => match rollback::known_good(&candidates) {
            Some(c) => c.version.clone(),
            None => bail!("{}", rollback::refusal(name, &candidates)),
        },
    };
    let stops_rollout_only = current.as_ref() == Some(&target);
    if stops_rollout_only && in_flight.is_none() {
        bail!("{name} version {target} is already in Production, and no rollout is in flight");
    }
    // The target must be able to serve: its artifacts are there (on MLflow,
    // the version exists and is not deleted) and, where a target has a
    // health check, its upstream answers. Otherwise nothing is switched.
    if !stops_rollout_only && let Some((_, why)) = gone.iter().find(|(v, _)| v == &target) {
        let check = format!("registry check of {name} version {target}: {why}");
        if !req.force {
            bail!("{check}\nNothing was switched; pass --force to roll back to it anyway");
        }
        forced.push(check);
    }
    // 1. Serving: at once, wherever the model is routed.
    let serving_started = Instant::now();
    let (routed_on, healthy) =
        route_all(ctx, config, desired, name, &target, req.force, &mut forced)?;
    let serving_secs = serving_started.elapsed().as_secs_f64();
    // 2. The registry: the current version Archived, the target Production.
    let registry_started = Instant::now();
    let why = format!("rollback: {reason}");
    // The target enters Production before the current version leaves it:
    // the registry (and its `production` alias) never has no Production
    // version, even for the moment between two requests.
    let from_stage = model
        .versions
        .iter()
        .find(|v| v.version == target)
        .map_or(Stage::Archived, |v| v.stage);
    let mut steps = Vec::new();
    if !stops_rollout_only {
        steps.push(PlanStep::TransitionStage {
            model: name.clone(),
            version: target.clone(),
            from: from_stage,
            to: Stage::Production,
            reason: why.clone(),
            gates: Vec::new(),
            policy: None,
        });
        if let Some(c) = &current {
            steps.push(PlanStep::TransitionStage {
                model: name.clone(),
                version: c.clone(),
                from: Stage::Production,
                to: Stage::Archived,
                reason: why.clone(),
                gates: Vec::new(),
                policy: None,
            });
        }
    }
    // What is taken out of service: the Production version, or the version
    // a rollout in flight was sending traffic to.
    let taken_out = if stops_rollout_only {
        in_flight.map(|r| r.version.clone())
    } else {
        current.clone()
    };
    let stopped =
        in_flight.map(|r| format!("; its {} of version {} is stopped", r.strategy, r.version));
    let digest = desired.and_then(|d| d.models.get(name)).map(model_digest);
    let from_becomes = if stops_rollout_only {
        Stage::Staging
    } else {
        Stage::Archived
    };
    if let Some(out) = &taken_out {
        let cause = if stops_rollout_only {
            ExitCause::FailedRollout
        } else {
            cause
        };
        steps.push(rollback::exit_marker(name, out, cause, reason));
    }
    let mut record = rollback::record(
        &target,
        taken_out.as_ref(),
        from_becomes,
        ctx.now,
        reason,
        &apply_ctx.actor,
        digest,
    );
    if !forced.is_empty()
        && let Some(result) = record.result.as_mut()
    {
        result["forced"] = serde_json::json!(forced);
    }
    steps.push(PlanStep::RecordRollout {
        model: name.clone(),
        record,
        summary: format!(
            "rolled back{} to version {target} by {}: {reason}{}",
            taken_out
                .as_ref()
                .map(|c| format!(" from version {c}"))
                .unwrap_or_default(),
            apply_ctx.actor,
            stopped.clone().unwrap_or_default()
        ) + &forced_note(&forced),
    });
    for step in &steps {
        registry.apply(step, &apply_ctx).with_context(|| {
            format!(
                "the rollback stopped at: {}{}",
                crate::render::describe_step(step),
                if routed_on.is_empty() {
                    ""
                } else {
                    " (serving already switched)"
                }
            )
        })?;
    }
    registry.commit()?;
    let registry_secs = registry_started.elapsed().as_secs_f64();
    Ok(RollbackOutcome::RolledBack(RolledBack {
        model: name.clone(),
        from: taken_out,
        to: target,
        total_secs: started.elapsed().as_secs_f64(),
        serving_secs,
        registry_secs,
        routed_on,
        healthy,
        forced,
        stopped,
    }))
}

/// `(forced past: ...)` for the event log, when --force overrode anything.
fn forced_note(forced: &[String]) -> String {
    if forced.is_empty() {
        String::new()
    } else {
        format!(" (forced past: {})", forced.join("; "))
    }
}

/// Sends all of `model`'s traffic to `version` on every target routing it
/// (the deployment's target first), after each one's health check of
/// `version` passed; returns the targets switched and what answered their
/// health checks. When a check fails nothing is switched, unless `force`:
/// then the failure is added to `forced` and traffic switches anyway.
fn route_all(
    ctx: &Context,
    config: &crate::manifest::config::ConfigSpec,
    desired: Option<&crate::manifest::Desired>,
    model: &str,
    version: &VersionId,
    force: bool,
    forced: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let mut targets = ctx.serving_targets(config)?;
    let deployment = desired.and_then(|d| d.deployments.get(model));
    let all_to = |target: &str| TrafficRecord {
        sticky: None,
        ..TrafficRecord::all_to(target, version)
    };
    // Which targets route the model, and whether they already send it all
    // to `version`.
    let mut routing = Vec::new();
    for (name, target) in targets.iter_mut() {
        let routes = match target.observe() {
            Ok(r) => r,
            Err(e) if deployment.is_some_and(|d| &d.target == name) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("cannot read the routing of {}", target.describe())));
            }
            Err(_) => continue,
        };
        if let Some(now) = routes.get(model) {
            routing.push((name.clone(), now == &all_to(name)));
        }
    }
    let mut healthy = Vec::new();
    let mut failed = Vec::new();
    for (name, _) in &routing {
        match targets[name].check_health(model, &version.to_string()) {
            Ok(Some(what)) => healthy.push(what),
            Ok(None) => {}
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !failed.is_empty() {
        if !force {
            bail!(
                "{}\nNothing was switched; pass --force to switch anyway",
                failed.join("\n")
            );
        }
        forced.append(&mut failed);
    }
    let mut switched = Vec::new();
    for (name, done) in routing {
        let target = targets.get_mut(&name).expect("observed above");
        if !done {
            let want = all_to(&name);
            let deployment_name = deployment.map_or(model, |d| d.name.as_str());
            target
                .apply(&Route {
                    model,
                    deployment: deployment_name,
                    traffic: &want,
                    sticky: None,
                })
                .with_context(|| format!("cannot switch {model} on {}", target.describe()))?;
        }
        switched.push(target.describe());
    }
    Ok((switched, healthy))
}
