//! A rollback drill (`modelops rollback --drill MODEL --target NAME`): on
//! one serving target, switch the model's routing to the version a rollback
//! would go to, probe the target's front door until that version answers
//! several times in a row, measure how long that took, and put the routing
//! back, whatever happened. The drill is recorded as an audit event (the
//! `rollback.drilled` gate reads it); registry stages, rollout records and
//! rollback holds are never touched.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{Context, Loaded, actor, load, with_lock};
use crate::backend::serving::{Route, ServingTarget};
use crate::backend::{ApplyContext, Registry};
use crate::manifest::config::ConfigSpec;
use crate::reconcile::PlanStep;
use crate::reconcile::rollback::{self, Exclusion};
use crate::state::TrafficRecord;
use crate::state::drill::{DrillOutcome, DrillRecord};

mod confirm;

use confirm::{Tally, confirm};

/// What to drill.
#[derive(Debug, Clone)]
pub struct Request {
    /// The model.
    pub model: String,
    /// The serving target, by its name in `modelops.yaml`.
    pub target: String,
    /// The path each probe GETs through the target's front door.
    pub path: String,
    /// Answers of the rollback target needed in a row.
    pub probes: u32,
    /// How long the rollback target has to answer them, from the switch's
    /// start (default: the policy's `rollback_drill.sla`, else 60 s).
    pub timeout: Option<Duration>,
}

/// Runs the drill under the state lock (an apply must not change the
/// routing while the drill holds it) and records it.
pub fn run(ctx: &Context, req: &Request) -> Result<DrillOutcome> {
    if !valid_path(&req.path) {
        bail!(
            "--path {}: a probe path starts with `/` and holds no spaces, control characters or `#`",
            req.path.escape_debug()
        );
    }
    if req.probes == 0 {
        bail!("--probes must be at least 1");
    }
    // Unlike a rollback, a drill is no emergency: it needs the repository
    // valid, for the deployment that names the target's route.
    let desired = match load(ctx, None)? {
        Loaded::Valid { desired, .. } => desired,
        Loaded::Invalid(diags, _) => bail!(
            "the repository does not validate ({} error{}; see `modelops validate`): a drill needs it to find the model's deployment",
            diags.len(),
            if diags.len() == 1 { "" } else { "s" }
        ),
    };
    let config = desired.config.clone();
    // The policy's drill requirement, to word the result against.
    let sla_secs = desired
        .models
        .get(&req.model)
        .and_then(|m| {
            desired.policies[&m.policy]
                .production_requires
                .rollback_drill
                .clone()
        })
        .and_then(|r| r.sla.seconds().ok());
    let deployment = desired
        .deployments
        .get(&req.model)
        .map_or_else(|| req.model.clone(), |d| d.name.clone());
    let timeout = req
        .timeout
        .unwrap_or(Duration::from_secs(sla_secs.unwrap_or(60)));
    let mut registry = ctx.registry(&config)?;
    with_lock(
        registry.as_mut(),
        ctx.lock_timeout(&config),
        "modelops rollback --drill",
        |registry| {
            let drill = locked(ctx, req, &config, &deployment, timeout, registry)?;
            Ok(DrillOutcome {
                model: req.model.clone(),
                drill,
                sla_secs,
            })
        },
    )
}

/// The drill itself, under the lock: choose the version, check the target
/// can be drilled, switch, probe, switch back, record.
fn locked(
    ctx: &Context,
    req: &Request,
    config: &ConfigSpec,
    deployment: &str,
    timeout: Duration,
    registry: &mut dyn Registry,
) -> Result<DrillRecord> {
    let name = &req.model;
    let actual = registry
        .observe()
        .with_context(|| format!("cannot read {}", registry.describe()))?;
    let Some(model) = actual.models.get(name) else {
        bail!("model {name} is not registered in {}", registry.describe());
    };
    let events = registry.events(name)?;
    let rollout = actual.rollouts.get(name);
    // Artifacts are asked after only for versions that served.
    let mut gone = Vec::new();
    let served = match rollback::target_after(model, None, &events, rollout, &[]) {
        Ok(v) => vec![v],
        Err(all) => all
            .into_iter()
            .filter(|c| c.excluded != Some(Exclusion::NeverServed))
            .map(|c| c.version)
            .collect(),
    };
    for v in served {
        if let Some(why) = registry.artifacts_gone(name, &v)? {
            gone.push((v, why));
        }
    }
    let version = match rollback::target_after(model, None, &events, rollout, &gone) {
        Ok(v) => v,
        Err(candidates) => bail!(
            "{name} has no version a rollback could go to, so there is nothing to drill:{}",
            rollback::candidate_lines(&candidates)
        ),
    };
    let mut targets = ctx.serving_targets(config)?;
    let known: Vec<String> = targets.keys().cloned().collect();
    let Some(target) = targets.get_mut(&req.target) else {
        bail!(
            "no serving target `{}` in modelops.yaml (known: {})",
            req.target,
            known.join(", ")
        );
    };
    let before = target
        .observe()
        .with_context(|| format!("cannot read the routing of {}", target.describe()))?
        .remove(name);
    let Some(before) = before else {
        bail!(
            "{name} is not routed on {}: a drill switches a route that serves the model, and there is none",
            target.describe()
        );
    };
    // A target without a front door cannot show which version answers. A
    // front door that fails now is the drill's to find out, and record.
    if let Ok(None) = target.probe(name, &req.path) {
        bail!(
            "{} cannot be drilled: it has no front door to probe, so nothing can show which version answers; drill a target that serves {name}, such as nginx",
            target.describe()
        );
    }
    let drilled = TrafficRecord {
        sticky: None,
        ..TrafficRecord::all_to(&req.target, &version)
    };
    let started = Instant::now();
    // Already all to the version: nothing to switch, and the probes still
    // show that it answers.
    let unchanged = same_routing(&before, &drilled);
    let switch = if unchanged {
        Ok(())
    } else {
        apply(target.as_mut(), name, deployment, &drilled)
    };
    let switched = !unchanged && switch.is_ok();
    let outcome = match switch {
        Ok(()) => confirm(
            target.as_ref(),
            name,
            &req.path,
            &version.to_string(),
            req.probes,
            timeout,
            started,
        ),
        Err(e) => {
            Tally::new(req.probes).failed(format!("the switch to version {version} failed: {e}"))
        }
    };
    let mut drill = DrillRecord {
        at: ctx.now,
        target: req.target.clone(),
        version: version.clone(),
        before: before.describe(),
        passed: outcome.confirmed.is_some(),
        reason: outcome.reason,
        switch_secs: outcome.first,
        confirmed_secs: outcome.confirmed,
        total_secs: 0.0,
        probes: outcome.probes,
        required: req.probes,
        restored: true,
    };
    // Back to the routing before, also when the probes failed. A switch
    // that failed left it in place: a target's apply is atomic.
    if switched && let Err(e) = apply(target.as_mut(), name, deployment, &before) {
        drill.passed = false;
        drill.restored = false;
        drill.reason = format!(
            "{}; switching back to {} FAILED: {e}",
            drill.reason,
            before.describe()
        );
    }
    drill.total_secs = started.elapsed().as_secs_f64();
    let apply_ctx = ApplyContext {
        now: ctx.now,
        commit: None,
        actor: actor(&ctx.repo, None),
        sign_offs: Default::default(),
    };
    registry.apply(
        &PlanStep::RecordDrill {
            model: name.clone(),
            drill: drill.clone(),
        },
        &apply_ctx,
    )?;
    registry.commit()?;
    Ok(drill)
}

/// Sends `traffic` for `model` on `target`, as the route of `deployment`.
fn apply(
    target: &mut dyn ServingTarget,
    model: &str,
    deployment: &str,
    traffic: &TrafficRecord,
) -> Result<(), String> {
    target
        .apply(&Route {
            model,
            deployment,
            traffic,
            sticky: traffic.sticky.as_ref(),
        })
        .map_err(|e| e.to_string())
}

/// Whether two routings send the same shares to the same versions and
/// mirror nothing.
fn same_routing(a: &TrafficRecord, b: &TrafficRecord) -> bool {
    let live = |t: &TrafficRecord| -> Vec<(String, u8)> {
        t.weights
            .iter()
            .filter(|(_, w)| **w > 0)
            .map(|(v, w)| (v.clone(), *w))
            .collect()
    };
    let unmirrored = |t: &TrafficRecord| t.mirrors.values().all(|m| *m == 0);
    live(a) == live(b) && unmirrored(a) && unmirrored(b)
}

/// A probe path: `/` first, no spaces, control characters or `#` (it is
/// pasted into a URL).
fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && !path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_path_is_one_url_path() {
        for (path, ok) in [
            ("/", true),
            ("/healthz", true),
            ("/v1/models/fraud?probe=1", true),
            ("healthz", false),
            ("/a b", false),
            ("/a#b", false),
            ("/a\rHost: x", false),
        ] {
            assert_eq!(valid_path(path), ok, "{path:?}");
        }
    }

    #[test]
    fn routings_are_the_same_when_their_live_shares_are() {
        let t = |w: &[(&str, u8)], m: &[(&str, u8)]| TrafficRecord {
            target: "edge".into(),
            weights: w.iter().map(|(v, p)| (v.to_string(), *p)).collect(),
            mirrors: m.iter().map(|(v, p)| (v.to_string(), *p)).collect(),
            sticky: None,
        };
        let all2 = t(&[("2", 100)], &[]);
        assert!(same_routing(&all2, &t(&[("2", 100), ("3", 0)], &[])));
        assert!(!same_routing(&all2, &t(&[("2", 95), ("3", 5)], &[])));
        assert!(!same_routing(&all2, &t(&[("2", 100)], &[("3", 100)])));
    }
}
