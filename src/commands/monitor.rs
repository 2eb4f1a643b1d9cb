//! `modelops monitor [MODEL]`: each deployed model's Production version,
//! its signals over the monitoring window against their thresholds, and the
//! deployment's action on a breach: alert (exit 1), rollback (as `modelops
//! rollback`), or retrain (a webhook or a GitHub `repository_dispatch`).
//! Every action is recorded and not repeated for the same (model, version,
//! signal, window).

use crate::source::confined::{self, Cap};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{Context, Loaded, actor, emit, load};
use crate::backend::metrics::{MetricQuery, MetricsProvider, Signal};
use crate::backend::{ApplyContext, Registry};
use crate::cli::{MonitorArgs, PlanFormat, RollbackArgs};
use crate::github::{
    self,
    client::{GitHub, GitHubError},
    request::RepoName,
};
use crate::http::{ClientOptions, TransportError, redact};
use crate::manifest::deployment::{BreachAction, RetrainTrigger};
use crate::manifest::{Desired, DesiredDeployment, VersionId};
use crate::observe;
use crate::reconcile::PlanStep;
use crate::reconcile::gates::num_short;
use crate::reconcile::monitor::{
    SignalResult, SignalStatus, Thresholds, action_for, at_most, sigma_distance, unmeasured,
};
use crate::render::{code, inline, prose, text};
use crate::state::{ActualState, Event, RegisteredModel};

/// One model's report.
#[derive(Debug, serde::Serialize)]
struct ModelReport {
    model: String,
    version: Option<VersionId>,
    window: String,
    signals: Vec<SignalResult>,
    actions: Vec<String>,
}

/// Measures, reports, acts.
pub fn run(ctx: &Context, args: MonitorArgs) -> Result<ExitCode> {
    let desired = match load(ctx, None)? {
        Loaded::Valid { desired, .. } => desired,
        Loaded::Invalid(diags, _) => {
            eprint!("{}", crate::render::diagnostics_text(&diags));
            bail!("the repository is invalid; fix it before monitoring");
        }
    };
    if let Some(m) = &args.model
        && !desired.deployments.contains_key(m)
    {
        bail!("{m} has no deployment in deployments/: nothing serves it to monitor");
    }
    let mut registry = ctx.registry(&desired.config)?;
    let actual = registry
        .observe()
        .with_context(|| format!("cannot read {}", registry.describe()))?;
    let mut providers = observe::metrics_providers(&desired.config, &ctx.repo)?;
    let mut reports = Vec::new();
    for (name, d) in &desired.deployments {
        if args.model.as_ref().is_some_and(|m| m != name) {
            continue;
        }
        reports.push(measure(ctx, &desired, d, &actual, &mut providers));
    }
    // The report is printed whatever the actions did; their failures are
    // in it, and end the run with an error.
    let acted = if args.dry_run {
        Ok(())
    } else {
        act(ctx, &desired, &actual, registry.as_mut(), &mut reports)
    };
    emit(&match args.format {
        PlanFormat::Text => text_report(&reports),
        PlanFormat::Markdown => markdown(&reports),
        PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(&json!({"at": ctx.now, "models": reports}))?;
            s.push('\n');
            s
        }
    });
    acted?;
    let healthy = reports
        .iter()
        .flat_map(|r| &r.signals)
        .all(|s| s.status == SignalStatus::Healthy)
        && !reports
            .iter()
            .flat_map(|r| &r.actions)
            .any(|a| a.starts_with("FAILED"));
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn ago(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_sub(SignedDuration::from_secs(secs)).unwrap_or(t)
}

fn measure(
    ctx: &Context,
    desired: &Desired,
    d: &DesiredDeployment,
    actual: &ActualState,
    providers: &mut BTreeMap<String, Box<dyn MetricsProvider>>,
) -> ModelReport {
    let m = &d.monitoring;
    let t = Thresholds::of(m);
    let secs = m
        .window
        .as_ref()
        .and_then(|w| w.seconds().ok())
        .unwrap_or(3600) as i64;
    let window = crate::reconcile::rollout::human(secs);
    let (start, end) = (ago(ctx.now, secs), ctx.now);
    let registered = actual.models.get(&d.model);
    let version = registered
        .and_then(RegisteredModel::production)
        .map(|p| p.version.clone());
    let mut report = ModelReport {
        model: d.model.clone(),
        version: version.clone(),
        window: format!("{window} to {end}"),
        signals: Vec::new(),
        actions: Vec::new(),
    };
    let Some(version) = version else {
        report.signals.push(unmeasured(
            "serving",
            "a Production version".into(),
            &window,
            "the model has no Production version".into(),
        ));
        return report;
    };
    let provider_name = d.analysis.provider.clone().or_else(|| {
        (desired.config.metrics.len() == 1)
            .then(|| desired.config.metrics.keys().next().cloned())?
    });
    // `empty`: the value of an answer with no data in the window, if it has
    // one (zero errors beside measured requests); else it is unmeasured.
    let mut ask = |signal: Signal, from: Timestamp, to: Timestamp, empty: Option<f64>| {
        let Some(p) = provider_name.as_ref().and_then(|n| providers.get_mut(n)) else {
            return Err("no metrics provider (modelops.yaml metrics, or the deployment's analysis.provider)".to_string());
        };
        let q = MetricQuery {
            model: d.model.clone(),
            version: version.to_string(),
            signal,
            start: from,
            end: to,
        };
        match p.query(&q) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => empty.ok_or_else(|| format!("no {} data in the window", q.signal.name())),
            Err(e) => Err(e.to_string()),
        }
    };
    // Prediction distribution and feature drift.
    let snapshots = m.data.as_ref();
    let drift = snapshots.map(|s| snapshot_drift(ctx, &d.file, s));
    let kl = match &drift {
        Some(Ok((Some(kl), _))) => Ok(*kl),
        _ => ask(Signal::PredictionKl, start, end, None),
    };
    report.signals.push(at_most(
        "prediction_distribution",
        kl,
        t.kl,
        |v| format!("KL {}", num_short(v)),
        format!("KL ≤ {}", num_short(t.kl)),
        &window,
    ));
    let worst = match &drift {
        None => Err(
            "no data snapshots: set monitoring.data (reference and current) in the deployment"
                .to_string(),
        ),
        Some(Err(e)) => Err(e.clone()),
        Some(Ok((_, features))) => features
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .cloned()
            .ok_or_else(|| "the snapshots share no feature".to_string()),
    };
    let feature = worst.as_ref().map(|(f, _)| f.clone()).unwrap_or_default();
    report.signals.push(at_most(
        "feature_drift",
        worst.map(|(_, v)| v),
        t.psi,
        |v| format!("PSI {} on {feature}", num_short(v)),
        format!("PSI ≤ {} on every feature", num_short(t.psi)),
        &window,
    ));
    // Accuracy against the version's own recorded accuracy.
    let baseline = registered
        .and_then(|r| r.versions.iter().find(|v| v.version == version))
        .and_then(|v| {
            v.metadata
                .metrics
                .get("accuracy")
                .or_else(|| v.metadata.metrics.get("test_accuracy"))
                .copied()
        });
    let drop = match (baseline, ask(Signal::Accuracy, start, end, None)) {
        (None, _) => Err(format!(
            "version {version} records no accuracy or test_accuracy to compare with"
        )),
        (Some(b), Ok(a)) => Ok(100.0 * (b - a)),
        (_, Err(e)) => Err(e),
    };
    report.signals.push(at_most(
        "accuracy",
        drop,
        t.accuracy_drop_pp,
        |v| format!("drop {}pp", num_short(v)),
        format!("drop ≤ {}pp", num_short(t.accuracy_drop_pp)),
        &window,
    ));
    report.signals.push(at_most(
        "latency",
        ask(Signal::LatencyP99Ms, start, end, None),
        t.latency_ms,
        |v| format!("p99 {} ms", num_short(v)),
        format!("p99 ≤ {} ms", num_short(t.latency_ms)),
        &window,
    ));
    let requests = ask(Signal::Requests, start, end, None);
    // Zero is data: a service that never answered 5xx has no 5xx series, and
    // `sum` over none is empty. Beside measured requests that is 0 errors.
    let errors = ask(Signal::Errors, start, end, requests.is_ok().then_some(0.0));
    let rate = match (&requests, errors) {
        (Ok(r), _) if *r <= 0.0 => Err("no requests in the window".to_string()),
        (Ok(r), Ok(e)) => Ok(100.0 * e / r),
        (Err(e), _) => Err(e.clone()),
        (_, Err(e)) => Err(e),
    };
    report.signals.push(at_most(
        "error_rate",
        rate,
        t.error_rate_pct,
        |v| format!("{}%", num_short(v)),
        format!("≤ {}%", num_short(t.error_rate_pct)),
        &window,
    ));
    // Traffic volume: the same window on each earlier day of the baseline period.
    let days = m
        .traffic_baseline
        .as_ref()
        .and_then(|b| b.seconds().ok())
        .unwrap_or(7 * 86_400)
        / 86_400;
    let history: Vec<f64> = (1..=days as i64)
        .filter_map(|i| {
            ask(
                Signal::Requests,
                ago(start, i * 86_400),
                ago(end, i * 86_400),
                None,
            )
            .ok()
        })
        .collect();
    let traffic = requests
        .clone()
        .and_then(|r| sigma_distance(r, &history).map(|(z, mean, sd)| (z, r, mean, sd)));
    let sigma = t.traffic_sigma;
    report.signals.push(match traffic {
        // No variation in the norm and a different count: infinitely far.
        Ok((z, r, mean, _)) if !z.is_finite() => SignalResult {
            signal: "traffic_volume".into(),
            value: None,
            shown: format!(
                "{} requests where the same window had {} on every earlier day",
                crate::reconcile::rollout::thousands(r),
                crate::reconcile::rollout::thousands(mean)
            ),
            threshold: format!(
                "within {}σ of the same window on the last {days} days",
                num_short(sigma)
            ),
            window: window.clone(),
            status: SignalStatus::Breached,
            detail: None,
        },
        Ok((z, r, mean, sd)) => {
            let mut s = at_most(
                "traffic_volume",
                Ok(z.abs()),
                sigma,
                |_| {
                    format!(
                        "{} requests, {}σ from {} ± {}",
                        crate::reconcile::rollout::thousands(r),
                        num_short(z),
                        crate::reconcile::rollout::thousands(mean),
                        crate::reconcile::rollout::thousands(sd)
                    )
                },
                format!(
                    "within {}σ of the same window on the last {days} days",
                    num_short(sigma)
                ),
                &window,
            );
            s.value = Some(z);
            s
        }
        Err(e) => unmeasured(
            "traffic_volume",
            format!(
                "within {}σ of the same window on the last {days} days",
                num_short(sigma)
            ),
            &window,
            e,
        ),
    });
    report
}

/// The prediction KL divergence (when a prediction column is named) and each
/// feature's PSI, from the deployment's data snapshots.
type SnapshotDrift = (Option<f64>, Vec<(String, f64)>);

fn snapshot_drift(
    ctx: &Context,
    file: &str,
    s: &crate::manifest::deployment::DataSnapshots,
) -> Result<SnapshotDrift, String> {
    // Inside the repository, as every file a manifest names.
    let resolve = |field: &str, rel: &str| {
        confined::resolve(&ctx.repo, rel)
            .and_then(|real| {
                confined::open_regular(&real, crate::drift::SNAPSHOT_CAP)?;
                Ok(real)
            })
            .map_err(|why| format!("{file}: monitoring.data.{field} `{rel}`: {why}"))
    };
    let report = crate::drift::drift_report(
        &resolve("reference", &s.reference)?,
        &resolve("current", &s.current)?,
        &crate::drift::DriftOptions {
            features: s.features.clone(),
            prediction_column: s.prediction_column.clone(),
            categorical: s.categorical.clone(),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let features = report
        .features
        .into_iter()
        .map(|f| (f.feature, f.psi))
        .collect();
    Ok((report.prediction_kl, features))
}

/// The kind of retraining trigger a signal stands for.
fn trigger_kind(signal: &str) -> &'static str {
    match signal {
        "feature_drift" | "prediction_distribution" => "drift",
        "schedule" => "scheduled",
        "dataset" => "data",
        _ => "performance",
    }
}

/// Acts on every breach whose deployment asks for more than an alert, and on
/// scheduled retraining, once per (model, version, signal, window).
fn act(
    ctx: &Context,
    desired: &Desired,
    actual: &ActualState,
    registry: &mut dyn Registry,
    reports: &mut [ModelReport],
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
        let mut todo: Vec<(String, BreachAction, String, Option<f64>, String)> = report
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
        registry
            .lock(ctx.lock_timeout(&desired.config), "modelops monitor")
            .context("cannot take the state lock")?;
        let outcome = act_locked(ctx, desired, registry, report, &version, d, todo);
        if let Err(e) = registry.unlock() {
            eprintln!(
                "warning: cannot release the lock on {}: {e}",
                registry.describe()
            );
        }
        outcome?;
    }
    Ok(())
}

type Todo = (String, BreachAction, String, Option<f64>, String);

fn act_locked(
    ctx: &Context,
    desired: &Desired,
    registry: &mut dyn Registry,
    report: &mut ModelReport,
    version: &VersionId,
    d: &DesiredDeployment,
    todo: Vec<Todo>,
) -> Result<()> {
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
    };
    let mut rolled_back = false;
    for (signal, action, why, value, key) in todo {
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
                let args = RollbackArgs {
                    model: name.clone(),
                    to: None,
                    reason: Some(format!("monitor: {signal} {why}")),
                    force: false,
                    release: false,
                };
                match super::rollback::locked(
                    ctx,
                    &args,
                    Some(desired),
                    &desired.config,
                    registry,
                    crate::reconcile::rollback::ExitCause::MonitorBreach,
                    std::time::Instant::now(),
                ) {
                    Ok(text) => {
                        rolled_back = true;
                        registry.observe()?;
                        // On stderr: stdout carries the report (JSON with --format json).
                        eprint!("{text}");
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
                if let Err(e) = fire(trigger, &payload) {
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

/// Sends a retraining trigger through the HTTP layer: a webhook POST, or
/// a GitHub `repository_dispatch` (through the GitHub client) with the
/// payload as `client_payload`. A server's answer is never quoted but
/// GitHub's own message, redacted.
fn fire(trigger: &RetrainTrigger, payload: &serde_json::Value) -> Result<()> {
    const TIMEOUT: Duration = Duration::from_secs(10);
    if let Some(url) = &trigger.webhook {
        let shown = redact::url(url);
        let client = crate::http::client(&ClientOptions::new(TIMEOUT))?;
        match crate::http::exchange(client.post(url).json(payload), TIMEOUT) {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((status, _)) => bail!("webhook {shown}: {}", TransportError::Refused { status }),
            Err(e) => bail!("webhook {shown}: {e}"),
        }
    }
    if let Some(repo) = &trigger.repository_dispatch {
        let (api_url, token) =
            github::client::api_from_vars(|k| std::env::var(k).ok(), "repository_dispatch")
                .map_err(anyhow::Error::msg)?;
        let name = RepoName::parse(repo).with_context(|| {
            format!("repository_dispatch to {repo}: not of the form owner/name")
        })?;
        let event_type = trigger.event_type.as_deref().unwrap_or("retrain");
        let request = github::request::repository_dispatch(&name, event_type, payload);
        let settings = github::client::Settings {
            api_url,
            repo: name,
            token,
        };
        let client = GitHub::new(settings, TIMEOUT).map_err(anyhow::Error::msg)?;
        match client.send(&request) {
            Ok(_) => {}
            Err(
                GitHubError::Api {
                    status, message, ..
                }
                | GitHubError::Unexpected {
                    status,
                    snippet: message,
                    ..
                },
            ) => {
                let status = reqwest::StatusCode::from_u16(status)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|_| status.to_string());
                bail!("repository_dispatch to {repo}: GitHub answered {status}: {message}")
            }
            Err(e) => bail!("repository_dispatch to {repo}: {e}"),
        }
    }
    Ok(())
}

fn text_report(reports: &[ModelReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let version = r
            .version
            .as_ref()
            .map(|v| format!(" version {}", text(&v.to_string())))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}{version} — window {}",
            text(&r.model),
            text(&r.window)
        );
        let rows: Vec<[String; 4]> = r
            .signals
            .iter()
            .map(|s| {
                [
                    text(&s.signal).to_string(),
                    text(&s.shown).to_string(),
                    text(&s.threshold).to_string(),
                    s.status.label().to_string(),
                ]
            })
            .collect();
        let header = [
            "signal".to_string(),
            "value".into(),
            "threshold".into(),
            "status".into(),
        ];
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: &[String; 4]| {
            let mut l = String::from("  ");
            for (i, (c, w)) in row.iter().zip(widths).enumerate() {
                l.push_str(c);
                if i < 3 {
                    l.push_str(&" ".repeat(w - c.chars().count() + 2));
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&header));
        for (row, s) in rows.iter().zip(&r.signals) {
            let _ = writeln!(out, "{}", line(row));
            if let Some(d) = &s.detail {
                let _ = writeln!(out, "    ↳ {}", text(d));
            }
        }
        for a in &r.actions {
            let _ = writeln!(out, "  action: {}", text(a));
        }
        out.push('\n');
    }
    let breached = reports
        .iter()
        .flat_map(|r| &r.signals)
        .filter(|s| s.status == SignalStatus::Breached)
        .count();
    let unmeasured = reports
        .iter()
        .flat_map(|r| &r.signals)
        .filter(|s| s.status == SignalStatus::Unmeasured)
        .count();
    let _ = writeln!(
        out,
        "{}",
        if breached + unmeasured == 0 {
            "All signals healthy.".to_string()
        } else {
            format!("{breached} breached, {unmeasured} unmeasured.")
        }
    );
    out
}

fn markdown(reports: &[ModelReport]) -> String {
    let mut out = String::from("### modelops monitor\n\n");
    for r in reports {
        let version = r
            .version
            .as_ref()
            .map(|v| format!(" version {}", inline(&v.to_string())))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "#### {}{version}\n\nWindow: {}\n\n| signal | value | threshold | status |\n|---|---|---|---|",
            code(&r.model),
            inline(&r.window)
        );
        for s in &r.signals {
            let status = match s.status {
                SignalStatus::Healthy => "ok".to_string(),
                SignalStatus::Breached => "**BREACH**".to_string(),
                SignalStatus::Unmeasured => "**UNMEASURED**".to_string(),
            };
            let value = match &s.detail {
                Some(d) => format!("{}<br>_{}_", inline(&s.shown), prose(d)),
                None => inline(&s.shown).to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {value} | {} | {status} |",
                code(&s.signal),
                inline(&s.threshold)
            );
        }
        for a in &r.actions {
            let _ = writeln!(out, "\n- action: {}", prose(a));
        }
        out.push('\n');
    }
    out
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
