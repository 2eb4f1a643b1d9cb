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
use crate::state::format::human;

/// How long to wait between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

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
    let desired = match load(ctx, None) {
        Ok(Loaded::Valid { desired, .. }) => Some(desired),
        _ => None,
    };
    let config = match &desired {
        Some(d) => d.config.clone(),
        None => ctx.config()?,
    };
    // The policy's drill requirement, to word the result against.
    let sla_secs = desired
        .as_ref()
        .and_then(|d| {
            let model = d.models.get(&req.model)?;
            d.policies[&model.policy]
                .production_requires
                .rollback_drill
                .clone()
        })
        .and_then(|r| r.sla.seconds().ok());
    let deployment = desired
        .as_ref()
        .and_then(|d| d.deployments.get(&req.model))
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
    // Back to the routing before, also when a step failed (a failed switch
    // left it in place, but putting it back costs one reload and is sure).
    if !unchanged && let Err(e) = apply(target.as_mut(), name, deployment, &before) {
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

/// Probes until `version` answered `required` times in a row, or until
/// `timeout` after `started`.
fn confirm(
    target: &dyn ServingTarget,
    model: &str,
    path: &str,
    version: &str,
    required: u32,
    timeout: Duration,
    started: Instant,
) -> Tally {
    let mut tally = Tally::new(required);
    loop {
        let answer = match target.probe(model, path) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err("the target stopped answering probes".to_string()),
            Err(e) => Err(e.to_string()),
        };
        tally.answer(started.elapsed().as_secs_f64(), version, answer);
        if tally.confirmed.is_some() {
            return tally;
        }
        if started.elapsed() >= timeout {
            let last = tally.last.clone().unwrap_or_default();
            return tally.failed(format!(
                "version {version} did not answer {required} probe{} in a row within {}; last: {last}",
                plural(required),
                human(timeout.as_secs() as i64)
            ));
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The probes' answers so far: how many in a row came from the version,
/// when that run began, and when it reached the count. Pure, so the rule
/// is tested without a server.
#[derive(Debug, Clone, PartialEq)]
struct Tally {
    required: u32,
    probes: u32,
    in_a_row: u32,
    /// Seconds (from the switch's start) of the first answer of the run.
    run_started: Option<f64>,
    /// Seconds of the first answer of the run that reached the count.
    first: Option<f64>,
    /// Seconds of the answer that reached it.
    confirmed: Option<f64>,
    /// The last answer that was not the version, in words.
    last: Option<String>,
    reason: String,
}

impl Tally {
    fn new(required: u32) -> Tally {
        Tally {
            required,
            probes: 0,
            in_a_row: 0,
            run_started: None,
            first: None,
            confirmed: None,
            last: None,
            reason: String::new(),
        }
    }

    /// Counts one answer, received `at` seconds after the switch started.
    fn answer(&mut self, at: f64, version: &str, answer: Result<String, String>) {
        self.probes += 1;
        match answer {
            Ok(v) if v == version => {
                if self.in_a_row == 0 {
                    self.run_started = Some(at);
                }
                self.in_a_row += 1;
                if self.in_a_row >= self.required && self.confirmed.is_none() {
                    self.first = self.run_started;
                    self.confirmed = Some(at);
                    self.reason = format!(
                        "version {version} answered {} probe{} in a row ({} sent)",
                        self.required,
                        plural(self.required),
                        self.probes
                    );
                }
            }
            Ok(other) => {
                self.in_a_row = 0;
                self.last = Some(format!("answered by version {other}"));
            }
            Err(e) => {
                self.in_a_row = 0;
                self.last = Some(e);
            }
        }
    }

    /// The tally of a drill that failed, and why.
    fn failed(mut self, reason: String) -> Tally {
        self.reason = reason;
        self.first = None;
        self.confirmed = None;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_that_confirms_starts_after_the_last_other_answer() {
        let ok = |v: &str| Ok(v.to_string());
        let err = || Err("GET http://127.0.0.1:1/ answered 502".to_string());
        // (row, answers 0.1 s apart, required, first, confirmed)
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            &str,
            Vec<Result<String, String>>,
            u32,
            Option<f64>,
            Option<f64>,
        )> = vec![
            (
                "at once",
                vec![ok("2"), ok("2"), ok("2")],
                3,
                Some(0.1),
                Some(0.3),
            ),
            (
                "the old version first, then the new",
                vec![ok("3"), ok("3"), ok("2"), ok("2"), ok("2")],
                3,
                Some(0.3),
                Some(0.5),
            ),
            (
                "an error breaks the run",
                vec![ok("2"), ok("2"), err(), ok("2"), ok("2"), ok("2")],
                3,
                Some(0.4),
                Some(0.6),
            ),
            (
                "never enough",
                vec![ok("2"), ok("3"), ok("2")],
                2,
                None,
                None,
            ),
        ];
        for (row, answers, required, first, confirmed) in rows {
            let mut t = Tally::new(required);
            for (i, a) in answers.into_iter().enumerate() {
                t.answer((i as f64 + 1.0) / 10.0, "2", a);
            }
            let round = |x: Option<f64>| x.map(|x| (x * 10.0).round() / 10.0);
            assert_eq!(
                (round(t.first), round(t.confirmed)),
                (first, confirmed),
                "{row}"
            );
        }
    }

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
