//! Measuring one deployment's signals over its monitoring window: metrics
//! from its provider, drift from its data snapshots, traffic against the
//! same window on earlier days. Judging them is [`crate::reconcile::monitor`].

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::backend::metrics::{MetricQuery, Signal};
use crate::manifest::{Desired, DesiredDeployment};
use crate::ops::Context;
use crate::reconcile::gates::num_short;
use crate::reconcile::monitor::{
    ModelReport, SignalResult, SignalStatus, Thresholds, at_most, sigma_distance, unmeasured,
};
use crate::source::confined;
use crate::state::{ActualState, RegisteredModel};

fn ago(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_sub(SignedDuration::from_secs(secs)).unwrap_or(t)
}

/// Every metrics answer of one monitor run, by question; a question with no
/// entry had no provider to ask.
pub(super) type Answers = BTreeMap<MetricQuery, Result<Option<f64>, String>>;

/// Deployment `d`'s monitoring window in seconds, and its start and end.
fn window_of(ctx: &Context, d: &DesiredDeployment) -> (i64, Timestamp, Timestamp) {
    let secs = d
        .monitoring
        .window
        .as_ref()
        .and_then(|w| w.seconds().ok())
        .unwrap_or(3600) as i64;
    (secs, ago(ctx.now, secs), ctx.now)
}

/// The metrics provider deployment `d` is measured with: its analysis
/// provider, else the only one declared.
pub(super) fn provider_of(desired: &Desired, d: &DesiredDeployment) -> Option<String> {
    d.analysis.provider.clone().or_else(|| {
        (desired.config.metrics.len() == 1)
            .then(|| desired.config.metrics.keys().next().cloned())?
    })
}

/// One question about `version` of `d`'s model.
fn question(
    d: &DesiredDeployment,
    version: &str,
    signal: Signal,
    start: Timestamp,
    end: Timestamp,
) -> MetricQuery {
    MetricQuery {
        model: d.model.clone(),
        version: version.to_string(),
        signal,
        start,
        end,
    }
}

/// Every question [`measure`] asks about deployment `d`'s Production
/// version, so that a run can put all of them to each provider at once
/// (asked concurrently, under the command's one deadline).
pub(super) fn questions(
    ctx: &Context,
    d: &DesiredDeployment,
    actual: &ActualState,
) -> Vec<MetricQuery> {
    let Some(version) = actual
        .models
        .get(&d.model)
        .and_then(RegisteredModel::production)
        .map(|p| p.version.to_string())
    else {
        return Vec::new();
    };
    let (_, start, end) = window_of(ctx, d);
    let now = |signal| question(d, &version, signal, start, end);
    let mut asked = vec![
        now(Signal::PredictionKl),
        now(Signal::Accuracy),
        now(Signal::LatencyP99Ms),
        now(Signal::Requests),
        now(Signal::Errors),
    ];
    asked.extend((1..=baseline_days(d)).map(|i| {
        let (from, to) = (ago(start, i * 86_400), ago(end, i * 86_400));
        question(d, &version, Signal::Requests, from, to)
    }));
    asked
}

/// The earlier days whose same window is the traffic baseline.
fn baseline_days(d: &DesiredDeployment) -> i64 {
    let secs = d
        .monitoring
        .traffic_baseline
        .as_ref()
        .and_then(|b| b.seconds().ok())
        .unwrap_or(7 * 86_400);
    (secs / 86_400) as i64
}

/// The report of deployment `d`'s Production version, its actions empty,
/// from the run's metrics `answers` (see [`questions`]).
pub(super) fn measure(
    ctx: &Context,
    d: &DesiredDeployment,
    actual: &ActualState,
    answers: &Answers,
) -> ModelReport {
    let m = &d.monitoring;
    let t = Thresholds::of(m);
    let (secs, start, end) = window_of(ctx, d);
    let window = crate::reconcile::rollout::human(secs);
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
    let named = version.to_string();
    // Prediction distribution and feature drift.
    let snapshots = m.data.as_ref();
    let drift = snapshots.map(|s| snapshot_drift(ctx, &d.file, s));
    // `empty`: the value of an answer with no data in the window, if it has
    // one (zero errors beside measured requests); else it is unmeasured.
    let ask = |signal: Signal, from: Timestamp, to: Timestamp, empty: Option<f64>| {
        let q = question(d, &named, signal, from, to);
        match answers.get(&q) {
            None => Err("no metrics provider (modelops.yaml metrics, or the deployment's analysis.provider)".to_string()),
            Some(Ok(Some(v))) => Ok(*v),
            Some(Ok(None)) => empty.ok_or_else(|| format!("no {} data in the window", q.signal.name())),
            Some(Err(e)) => Err(e.clone()),
        }
    };
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
    let days = baseline_days(d);
    let history: Vec<f64> = (1..=days)
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
