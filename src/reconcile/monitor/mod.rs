//! Monitoring signals judged against the guidelines' "What to Monitor"
//! thresholds (or a deployment's own), and the traffic-volume norm. Pure:
//! [`questions`] lists what to measure, `ops::monitor` measures, [`judge`]
//! decides. A signal that cannot be measured is
//! reported as such and never called healthy.

use serde::{Deserialize, Serialize};

mod judge;

pub use judge::{Answers, SnapshotDrift, judge, provider_of, questions};

use crate::manifest::VersionId;
use crate::manifest::common::Unit;
use crate::manifest::deployment::{BreachAction, Monitoring};

/// The guidelines' defaults.
pub const KL_MAX: f64 = 0.1;
/// PSI above which a feature has drifted.
pub const PSI_MAX: f64 = 0.2;
/// Accuracy drop from the baseline, in percentage points.
pub const ACCURACY_DROP_PP: f64 = 2.0;
/// p99 latency SLA, in milliseconds.
pub const LATENCY_SLA_MS: f64 = 100.0;
/// Error rate, in percent.
pub const ERROR_RATE_PCT: f64 = 0.1;
/// Standard deviations from the traffic norm.
pub const TRAFFIC_SIGMA: f64 = 3.0;

/// A signal's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalStatus {
    /// Within its threshold.
    Healthy,
    /// Over its threshold.
    Breached,
    /// Could not be measured (no data, no source, an error): not healthy.
    Unmeasured,
}

impl SignalStatus {
    /// As tables show it.
    pub fn label(self) -> &'static str {
        match self {
            SignalStatus::Healthy => "ok",
            SignalStatus::Breached => "BREACH",
            SignalStatus::Unmeasured => "UNMEASURED",
        }
    }
}

/// One signal of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalResult {
    /// `prediction_distribution`, `feature_drift`, `accuracy`, `latency`,
    /// `error_rate` or `traffic_volume`.
    pub signal: String,
    /// The measured value, in the threshold's unit.
    pub value: Option<f64>,
    /// The value in words (`PSI 0.31 on tenure_months`).
    pub shown: String,
    /// The threshold in words.
    pub threshold: String,
    /// The window measured.
    pub window: String,
    /// The verdict.
    pub status: SignalStatus,
    /// Why unmeasured, or what breached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One model's monitoring report: its Production version, each signal over
/// the window, and what was done about breaches (an action that failed
/// starts with `FAILED`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelReport {
    /// The model.
    pub model: String,
    /// Its Production version, when it has one.
    pub version: Option<VersionId>,
    /// The window measured, in words.
    pub window: String,
    /// Every signal, measured or not.
    pub signals: Vec<SignalResult>,
    /// The actions taken, in words.
    pub actions: Vec<String>,
}

impl ModelReport {
    /// Whether every signal is healthy and no action failed.
    pub fn healthy(reports: &[ModelReport]) -> bool {
        reports
            .iter()
            .flat_map(|r| &r.signals)
            .all(|s| s.status == SignalStatus::Healthy)
            && !reports
                .iter()
                .flat_map(|r| &r.actions)
                .any(|a| a.starts_with("FAILED"))
    }
}

/// The thresholds of a deployment's monitoring block, defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Prediction KL divergence.
    pub kl: f64,
    /// Feature PSI.
    pub psi: f64,
    /// Accuracy drop, percentage points.
    pub accuracy_drop_pp: f64,
    /// p99 SLA, milliseconds.
    pub latency_ms: f64,
    /// Error rate, percent.
    pub error_rate_pct: f64,
    /// Traffic standard deviations.
    pub traffic_sigma: f64,
}

impl Thresholds {
    /// From a monitoring block (validated: its quantities parse).
    pub fn of(m: &Monitoring) -> Thresholds {
        Thresholds {
            kl: m.prediction_kl_divergence.unwrap_or(KL_MAX),
            psi: m.feature_psi.unwrap_or(PSI_MAX),
            accuracy_drop_pp: m
                .accuracy_drop
                .as_ref()
                .and_then(|q| q.value(Unit::Percent).ok())
                .unwrap_or(ACCURACY_DROP_PP),
            latency_ms: m
                .latency_p99_sla
                .as_ref()
                .and_then(|q| q.value(Unit::Millis).ok())
                .unwrap_or(LATENCY_SLA_MS),
            error_rate_pct: m
                .error_rate
                .as_ref()
                .and_then(|q| q.value(Unit::Percent).ok())
                .unwrap_or(ERROR_RATE_PCT),
            traffic_sigma: m.traffic_volume_stddev.unwrap_or(TRAFFIC_SIGMA),
        }
    }
}

/// A value against an upper limit; `None` is unmeasured with `why`.
pub fn at_most(
    signal: &str,
    value: Result<f64, String>,
    limit: f64,
    shown: impl Fn(f64) -> String,
    threshold: String,
    window: &str,
) -> SignalResult {
    match value {
        Ok(v) if v.is_finite() => SignalResult {
            signal: signal.to_string(),
            value: Some(v),
            shown: shown(v),
            threshold,
            window: window.to_string(),
            status: if v > limit + 1e-12 {
                SignalStatus::Breached
            } else {
                SignalStatus::Healthy
            },
            detail: None,
        },
        Ok(v) => unmeasured(signal, threshold, window, format!("not a number ({v})")),
        Err(why) => unmeasured(signal, threshold, window, why),
    }
}

/// An unmeasured signal.
pub fn unmeasured(signal: &str, threshold: String, window: &str, why: String) -> SignalResult {
    SignalResult {
        signal: signal.to_string(),
        value: None,
        shown: "unmeasured".to_string(),
        threshold,
        window: window.to_string(),
        status: SignalStatus::Unmeasured,
        detail: Some(why),
    }
}

/// How many standard deviations `current` lies from the mean of `history`
/// (the same window on earlier days). `Err` when the norm cannot be formed:
/// fewer than two earlier windows, or no variation in them and a different
/// current value is then infinitely far (reported as such).
pub fn sigma_distance(current: f64, history: &[f64]) -> Result<(f64, f64, f64), String> {
    if history.len() < 2 {
        return Err(format!(
            "the norm needs at least 2 earlier windows, {} had data",
            history.len()
        ));
    }
    let n = history.len() as f64;
    let mean = history.iter().sum::<f64>() / n;
    let var = history.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    let z = if sd == 0.0 {
        if current == mean { 0.0 } else { f64::INFINITY }
    } else {
        (current - mean) / sd
    };
    Ok((z, mean, sd))
}

/// The action for a breached `signal`.
pub fn action_for(m: &Monitoring, signal: &str) -> BreachAction {
    m.on_breach
        .as_ref()
        .map(|o| o.signals.get(signal).copied().unwrap_or(o.action))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_sigma_against_the_same_window_on_earlier_days() {
        let history = [1000.0, 1100.0, 900.0, 1000.0, 1050.0, 950.0, 1000.0];
        let (z, mean, sd) = sigma_distance(1000.0, &history).unwrap();
        assert_eq!((z, mean), (0.0, 1000.0));
        assert!((sd - 64.549_722).abs() < 1e-5, "{sd}");
        let (z, ..) = sigma_distance(1000.0 + 3.0 * sd + 1.0, &history).unwrap();
        assert!(z > 3.0);
        let (z, ..) = sigma_distance(1000.0 - 3.0 * sd, &history).unwrap();
        assert!((z + 3.0).abs() < 1e-9, "exactly 3σ below: {z}");
        // No variation: the same value is normal, any other is not.
        assert_eq!(sigma_distance(5.0, &[5.0, 5.0, 5.0]).unwrap().0, 0.0);
        assert!(
            sigma_distance(6.0, &[5.0, 5.0, 5.0])
                .unwrap()
                .0
                .is_infinite()
        );
        // Too little history is unmeasured, never healthy.
        assert!(sigma_distance(5.0, &[5.0]).is_err());
        assert!(sigma_distance(5.0, &[]).is_err());
    }

    #[test]
    fn limits_at_just_below_and_above_and_unmeasured() {
        let r = |v: Result<f64, String>| {
            at_most("x", v, 0.1, |v| v.to_string(), "≤ 0.1".into(), "1h").status
        };
        assert_eq!(r(Ok(0.1)), SignalStatus::Healthy);
        assert_eq!(r(Ok(0.099)), SignalStatus::Healthy);
        assert_eq!(r(Ok(0.101)), SignalStatus::Breached);
        assert_eq!(r(Ok(f64::NAN)), SignalStatus::Unmeasured);
        assert_eq!(r(Err("no data".into())), SignalStatus::Unmeasured);
    }
}
