//! One deployment's signals over its monitoring window, as a question and
//! answer loop: [`questions`] lists the metrics it needs, the caller asks
//! the providers and reads the data snapshots, and [`judge`] turns the
//! answers into a report. Pure: no I/O, time is a parameter.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::{
    ModelReport, SignalResult, SignalStatus, Thresholds, at_most, sigma_distance, unmeasured,
};
use crate::manifest::{Desired, DesiredDeployment};
use crate::reconcile::gates::num_short;
use crate::state::metrics::{MetricQuery, Signal};
use crate::state::{ActualState, RegisteredModel};

fn ago(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_sub(SignedDuration::from_secs(secs)).unwrap_or(t)
}

/// Every metrics answer of one monitor run, by question; a question with no
/// entry had no provider to ask.
pub type Answers = BTreeMap<MetricQuery, Result<Option<f64>, String>>;

/// Deployment `d`'s monitoring window in seconds, and its start and end.
fn window_of(now: Timestamp, d: &DesiredDeployment) -> (i64, Timestamp, Timestamp) {
    let secs = d
        .monitoring
        .window
        .as_ref()
        .and_then(|w| w.seconds().ok())
        .unwrap_or(3600) as i64;
    (secs, ago(now, secs), now)
}

/// The metrics provider deployment `d` is measured with: its analysis
/// provider, else the only one declared.
pub fn provider_of(desired: &Desired, d: &DesiredDeployment) -> Option<String> {
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
pub fn questions(now: Timestamp, d: &DesiredDeployment, actual: &ActualState) -> Vec<MetricQuery> {
    let Some(version) = actual
        .models
        .get(&d.model)
        .and_then(RegisteredModel::production)
        .map(|p| p.version.to_string())
    else {
        return Vec::new();
    };
    let (_, start, end) = window_of(now, d);
    let at = |signal| question(d, &version, signal, start, end);
    let mut asked = vec![
        at(Signal::PredictionKl),
        at(Signal::Accuracy),
        at(Signal::LatencyP99Ms),
        at(Signal::Requests),
        at(Signal::Errors),
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

/// The prediction KL divergence (when a prediction column is named) and each
/// feature's PSI, from a deployment's data snapshots.
pub type SnapshotDrift = (Option<f64>, Vec<(String, f64)>);

/// The report of deployment `d`'s Production version at `now`, its actions
/// empty, from the run's metrics `answers` (see [`questions`]) and what its
/// data snapshots measured (`None`: it names none).
pub fn judge(
    now: Timestamp,
    d: &DesiredDeployment,
    actual: &ActualState,
    answers: &Answers,
    drift: Option<Result<SnapshotDrift, String>>,
) -> ModelReport {
    let m = &d.monitoring;
    let t = Thresholds::of(m);
    let (secs, start, end) = window_of(now, d);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, Stage, VersionId, load};
    use crate::reconcile::metadata_of;
    use crate::state::RegisteredVersion;

    const DEPLOYMENT: &str = "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: churn-predictor}\nspec:\n  model: churn-predictor\n  direct: {}\n  monitoring: {window: 1h, traffic_baseline: 2d}\n";

    /// Git and the registry agree: version 1 of `churn-predictor` is in Production,
    /// with a recorded accuracy of 0.9.
    fn world() -> (Desired, ActualState) {
        let model = "apiVersion: modelops/v1\nkind: Model\nmetadata: {name: churn-predictor, owner: ml}\nspec:\n  versions:\n    - {version: 1, stage: Production, source: s3://m/1, metrics: {accuracy: 0.9}}\n";
        let files = [
            ("models/churn-predictor.yaml", model),
            ("deployments/churn-predictor.yaml", DEPLOYMENT),
        ]
        .map(|(p, t)| SourceFile {
            path: p.into(),
            content: Ok(t.as_bytes().to_vec()),
        });
        let desired = load(&files).unwrap_or_else(|d| panic!("{d:#?}"));
        let v = desired.models["churn-predictor"]
            .version(&VersionId::Number(1))
            .unwrap();
        let mut actual = ActualState::default();
        actual.models.insert(
            "churn-predictor".into(),
            RegisteredModel {
                name: "churn-predictor".into(),
                owner: "ml".into(),
                description: None,
                versions: vec![RegisteredVersion {
                    version: VersionId::Number(1),
                    stage: Stage::Production,
                    metadata: metadata_of(v),
                    rejected: None,
                    signed_off_by: None,
                    registered_at: Timestamp::UNIX_EPOCH,
                    applied: None,
                }],
                applied: None,
            },
        );
        (desired, actual)
    }

    #[test]
    fn the_core_lists_its_questions_and_judges_only_the_answers() {
        let (desired, actual) = world();
        let d = &desired.deployments["churn-predictor"];
        let now: Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
        let asked = questions(now, d, &actual);
        // Five signals over the window, and requests on each of 2 earlier days.
        let names: Vec<&str> = asked.iter().map(|q| q.signal.name()).collect();
        assert_eq!(
            names,
            [
                "prediction_kl_divergence",
                "accuracy",
                "latency_p99_ms",
                "requests",
                "errors",
                "requests",
                "requests"
            ]
        );
        assert!(asked.iter().all(|q| q.version == "1" && q.end <= now));
        // Answers: 1,000 requests, no errors series at all (zero is data),
        // accuracy 0.85 (a 5pp drop), p99 40 ms; no snapshots.
        let mut answers = Answers::new();
        for q in &asked {
            let a = match (&q.signal, q.end == now) {
                (Signal::Requests, _) => Some(1000.0),
                (Signal::Accuracy, _) => Some(0.85),
                (Signal::LatencyP99Ms, _) => Some(40.0),
                _ => None,
            };
            answers.insert(q.clone(), Ok(a));
        }
        let report = judge(now, d, &actual, &answers, None);
        let status = |s: &str| {
            report
                .signals
                .iter()
                .find(|r| r.signal == s)
                .map(|r| r.status)
                .unwrap_or_else(|| panic!("no {s} in {report:#?}"))
        };
        assert_eq!(status("error_rate"), SignalStatus::Healthy);
        assert_eq!(status("latency"), SignalStatus::Healthy);
        assert_eq!(status("accuracy"), SignalStatus::Breached);
        assert_eq!(status("prediction_distribution"), SignalStatus::Unmeasured);
        assert_eq!(status("feature_drift"), SignalStatus::Unmeasured);
        // A question nobody answered (no provider) is unmeasured, never healthy.
        let report = judge(now, d, &actual, &Answers::new(), None);
        assert!(
            report
                .signals
                .iter()
                .all(|s| s.status == SignalStatus::Unmeasured),
            "{report:#?}"
        );
    }
}
