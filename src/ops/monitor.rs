//! Monitoring: each deployed model's Production version, its signals over
//! the monitoring window against their thresholds, and the deployment's
//! action on a breach: alert, rollback (as [`super::rollback`]), or retrain
//! (a webhook or a GitHub `repository_dispatch`). Every action is recorded
//! and not repeated for the same (model, version, signal, window).

mod retrain;
mod snapshots;

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use jiff::Timestamp;
use serde_json::json;

use super::{Context, actor, rollback, with_lock};
use crate::backend::metrics::MetricQuery;
use crate::backend::{ApplyContext, Registry};
use crate::manifest::deployment::BreachAction;
use crate::manifest::{Desired, DesiredDeployment, VersionId};
use crate::reconcile::PlanStep;
use crate::reconcile::monitor::{self, ModelReport, SignalStatus, action_for};
use crate::reconcile::rollback::RollbackOutcome;
use crate::source::confined::{self, Cap};
use crate::state::{ActualState, Event};
use retrain::{fire, trigger_kind};

/// What to monitor.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Only this model (default: every model with a deployment).
    pub model: Option<String>,
    /// Report only: take no action on breaches.
    pub dry_run: bool,
}

/// What monitoring found and did.
pub struct Monitored {
    /// One report per deployed model, its actions filled in.
    pub reports: Vec<ModelReport>,
    /// What each rollback action did.
    pub rollbacks: Vec<RollbackOutcome>,
    /// Whether acting failed; the reports stand either way (a failed action
    /// is also in its report).
    pub acted: Result<()>,
}

/// Measures every deployed model (or `req.model`) and, unless a dry run,
/// acts on breaches.
pub fn run(ctx: &Context, desired: &Desired, req: &Request) -> Result<Monitored> {
    if let Some(m) = &req.model
        && !desired.deployments.contains_key(m)
    {
        bail!("{m} has no deployment in deployments/: nothing serves it to monitor");
    }
    let mut registry = ctx.registry(&desired.config)?;
    let actual = registry
        .observe()
        .with_context(|| format!("cannot read {}", registry.describe()))?;
    let mut providers = ctx.metrics_providers(&desired.config)?;
    let deployments: Vec<&DesiredDeployment> = desired
        .deployments
        .iter()
        .filter(|(name, _)| req.model.as_ref().is_none_or(|m| m == *name))
        .map(|(_, d)| d)
        .collect();
    // Every deployment's questions go to their provider together, so that
    // it asks them concurrently under the command's one deadline.
    let mut asked: BTreeMap<String, Vec<MetricQuery>> = BTreeMap::new();
    for d in &deployments {
        if let Some(p) = monitor::provider_of(desired, d) {
            asked
                .entry(p)
                .or_default()
                .extend(monitor::questions(ctx.now, d, &actual));
        }
    }
    let mut answers = monitor::Answers::new();
    for (name, questions) in asked {
        if let Some(p) = providers.get_mut(&name) {
            let got = p.query_all(&questions);
            answers.extend(
                questions
                    .into_iter()
                    .zip(got)
                    .map(|(q, a)| (q, a.map_err(|e| e.to_string()))),
            );
        }
    }
    let mut reports: Vec<ModelReport> = deployments
        .iter()
        .map(|d| {
            let drift = d
                .monitoring
                .data
                .as_ref()
                .map(|s| snapshots::snapshot_drift(ctx, &d.file, s));
            monitor::judge(ctx.now, d, &actual, &answers, drift)
        })
        .collect();
    let mut rollbacks = Vec::new();
    let acted = if req.dry_run {
        Ok(())
    } else {
        act(
            ctx,
            desired,
            &actual,
            registry.as_mut(),
            &mut reports,
            &mut rollbacks,
        )
    };
    Ok(Monitored {
        reports,
        rollbacks,
        acted,
    })
}

/// Acts on every breach whose deployment asks for more than an alert, and on
/// scheduled retraining, once per (model, version, signal, window).
fn act(
    ctx: &Context,
    desired: &Desired,
    actual: &ActualState,
    registry: &mut dyn Registry,
    reports: &mut [ModelReport],
    rollbacks: &mut Vec<RollbackOutcome>,
) -> Result<()> {
    for report in reports.iter_mut() {
        let Some(version) = report.version.clone() else {
            continue;
        };
        let d = &desired.deployments[&report.model];
        let m = &d.monitoring;
        let window = m
            .window
            .as_ref()
            .and_then(|w| w.seconds().ok())
            .unwrap_or(3600)
            .max(1) as i64;
        let bucket = |period: i64| {
            let t = ctx.now.as_second();
            Timestamp::from_second(t - t.rem_euclid(period)).unwrap_or(ctx.now)
        };
        let mut todo: Vec<Action> = report
            .signals
            .iter()
            .filter(|s| s.status == SignalStatus::Breached)
            .map(|s| {
                (
                    s.signal.clone(),
                    action_for(m, &s.signal),
                    s.shown.clone(),
                    s.value,
                    s.threshold.clone(),
                )
            })
            .filter(|(_, a, ..)| *a != BreachAction::Alert)
            .map(|(sig, a, shown, v, th)| {
                let key = format!("{}|{version}|{sig}|{}", report.model, bucket(window));
                (sig, a, format!("{shown} breaches {th}"), v, key)
            })
            .collect();
        if let Some(every) = m.retrain_every.as_ref().and_then(|e| e.seconds().ok()) {
            let key = format!(
                "{}|{version}|schedule|{}",
                report.model,
                bucket(every as i64)
            );
            todo.push((
                "schedule".into(),
                BreachAction::Retrain,
                format!(
                    "scheduled every {}",
                    crate::reconcile::rollout::human(every as i64)
                ),
                None,
                key,
            ));
        }
        if let Some(watch) = &m.dataset {
            match published(ctx, &d.file, watch) {
                Ok(latest) => {
                    let trained = actual
                        .version(&report.model, &version)
                        .and_then(|v| v.metadata.dataset_version.clone());
                    if trained.as_deref() != Some(latest.as_str()) {
                        let key = format!("{}|{version}|dataset|{latest}", report.model);
                        let why = format!(
                            "dataset {} published {latest}; version {version} was trained on {}",
                            watch.name,
                            trained
                                .as_deref()
                                .unwrap_or("an unrecorded dataset version")
                        );
                        todo.push(("dataset".into(), BreachAction::Retrain, why, None, key));
                    }
                }
                Err(e) => report.actions.push(format!("FAILED: dataset watch: {e}")),
            }
        }
        if todo.is_empty() {
            continue;
        }
        with_lock(
            registry,
            ctx.lock_timeout(&desired.config),
            "modelops monitor",
            |registry| {
                let todo = Todo {
                    version: &version,
                    deployment: d,
                    actions: todo,
                };
                act_locked(ctx, desired, registry, report, todo, rollbacks)
            },
        )?;
    }
    Ok(())
}

/// One action to take: (signal, action, why, the signal's value, the key
/// that makes it happen once).
type Action = (String, BreachAction, String, Option<f64>, String);

/// A model's actions, against its Production version and deployment.
struct Todo<'a> {
    version: &'a VersionId,
    deployment: &'a DesiredDeployment,
    actions: Vec<Action>,
}

/// Takes `todo`'s actions under the lock, skipping those already recorded;
/// what each rollback did goes to `rollbacks`.
fn act_locked(
    ctx: &Context,
    desired: &Desired,
    registry: &mut dyn Registry,
    report: &mut ModelReport,
    todo: Todo,
    rollbacks: &mut Vec<RollbackOutcome>,
) -> Result<()> {
    let (version, d) = (todo.version, todo.deployment);
    let name = report.model.clone();
    // Reads the registry first: the MLflow backend records against what it observed.
    registry.observe()?;
    let events = registry.events(&name)?;
    let done = |key: &str, events: &[Event]| {
        events.iter().any(|e| {
            e.action.starts_with("monitor_action")
                && (e.summary.contains(&format!("[{key}]"))
                    || e.changes
                        .iter()
                        .any(|c| c.after.as_ref().and_then(|v| v.as_str()) == Some(key)))
        })
    };
    let apply_ctx = ApplyContext {
        now: ctx.now,
        commit: None,
        actor: actor(&ctx.repo, None),
        sign_offs: Default::default(),
    };
    let mut rolled_back = false;
    for (signal, action, why, value, key) in todo.actions {
        if done(&key, &events) {
            report.actions.push(format!(
                "{signal}: {} already done for this window",
                label(action)
            ));
            continue;
        }
        let summary = match action {
            BreachAction::Alert => continue,
            BreachAction::Rollback if rolled_back => continue,
            BreachAction::Rollback => {
                let req = rollback::Request {
                    model: name.clone(),
                    reason: Some(format!("monitor: {signal} {why}")),
                    ..Default::default()
                };
                match rollback::locked(
                    ctx,
                    &req,
                    Some(desired),
                    &desired.config,
                    registry,
                    crate::reconcile::rollback::ExitCause::MonitorBreach,
                    std::time::Instant::now(),
                ) {
                    Ok(outcome) => {
                        rolled_back = true;
                        registry.observe()?;
                        rollbacks.push(outcome);
                        format!("rolled back for {signal}: {why}")
                    }
                    Err(e) => {
                        report
                            .actions
                            .push(format!("FAILED: rollback for {signal}: {e:#}"));
                        continue;
                    }
                }
            }
            BreachAction::Retrain => {
                let Some(trigger) = d
                    .monitoring
                    .on_breach
                    .as_ref()
                    .and_then(|o| o.retrain.as_ref())
                else {
                    report.actions.push(format!(
                        "{signal}: retrain asked, but on_breach.retrain names no webhook or repository_dispatch"
                    ));
                    continue;
                };
                let payload = json!({
                    "model": name,
                    "version": version.to_string(),
                    "signal": signal,
                    "trigger": trigger_kind(&signal),
                    "value": value,
                    "reason": why,
                    "window": report.window,
                    "at": ctx.now,
                });
                if let Err(e) = fire(trigger, &payload, &ctx.env.github) {
                    // Recorded as failed, not as done: the next run tries again.
                    report
                        .actions
                        .push(format!("FAILED: retrain trigger for {signal}: {e:#}"));
                    continue;
                }
                format!(
                    "retrain triggered ({}) for {signal}: {why}",
                    trigger_kind(&signal)
                )
            }
        };
        registry.apply(
            &PlanStep::RecordAction {
                model: name.clone(),
                version: version.clone(),
                key: key.clone(),
                summary: summary.clone(),
            },
            &apply_ctx,
        )?;
        registry.commit()?;
        report.actions.push(summary);
    }
    Ok(())
}

fn label(a: BreachAction) -> &'static str {
    match a {
        BreachAction::Alert => "alert",
        BreachAction::Rollback => "rollback",
        BreachAction::Retrain => "retrain",
    }
}

/// The largest datasets file read (8 MiB): a list of dataset versions.
const DATASETS_CAP: Cap = Cap {
    bytes: 8 * 1024 * 1024,
    kind: "datasets files",
};

/// The latest published version of a watched dataset.
fn published(
    ctx: &Context,
    file: &str,
    watch: &crate::manifest::deployment::DatasetWatch,
) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct File {
        datasets: BTreeMap<String, Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        latest: String,
    }
    let rel = watch.file.as_deref().unwrap_or("datasets.yaml");
    let bytes = confined::read(&ctx.repo, rel, DATASETS_CAP)
        .map_err(|why| anyhow::anyhow!("{file}: monitoring.dataset.file `{rel}`: {why}"))?;
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{rel} is not UTF-8"))?;
    let file: File =
        crate::manifest::yaml::typed(text).map_err(|e| anyhow::anyhow!("{rel}: {e}"))?;
    file.datasets
        .get(&watch.name)
        .map(|e| e.latest.clone())
        .with_context(|| format!("{rel} lists no dataset {}", watch.name))
}
