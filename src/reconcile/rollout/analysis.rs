//! Analysis: a candidate version's metrics against the stable version's over
//! a window, judged by thresholds relative to the stable version. An empty
//! window (no data yet) and too few requests are inconclusive; a provider
//! that fails (unreachable, a query error, a malformed answer) is an error —
//! neither is ever a pass. Zero is data: when a version's `requests` has
//! data, an empty `errors` answer is 0 errors (Prometheus has no 5xx series
//! for a service that never answered one, and `sum` over none is empty).

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::manifest::VersionId;
use crate::state::metrics::{MetricQuery, Signal};
use crate::state::{Analysis, AnalysisCheck, Verdict};

/// Answers of the metrics providers, by question. A question without an
/// answer was not asked (the commands ask what [`Lookup`] recorded).
pub type Metrics = BTreeMap<MetricQuery, Result<Option<f64>, String>>;

/// Reads answers and records every question asked, so the commands can ask
/// the providers exactly what a decision needs before the (pure) decision.
pub struct Lookup<'a> {
    metrics: &'a Metrics,
    /// Every question asked, in order.
    pub asked: Vec<MetricQuery>,
}

impl<'a> Lookup<'a> {
    /// A lookup over these answers.
    pub fn new(metrics: &'a Metrics) -> Lookup<'a> {
        Lookup {
            metrics,
            asked: Vec::new(),
        }
    }

    /// The value of `signal` for `model` `version` over `(start, end]`, or
    /// what is missing and why, kept apart so that one cause behind many
    /// questions is said once.
    pub fn try_get(
        &mut self,
        model: &str,
        version: &VersionId,
        signal: Signal,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<f64, Missing> {
        let q = MetricQuery {
            model: model.to_string(),
            version: version.to_string(),
            signal,
            start,
            end,
        };
        let answer = self.metrics.get(&q).cloned();
        let missing = |cause: String, no_data: bool| Missing {
            signal: q.signal.name().to_string(),
            version: version.to_string(),
            cause,
            no_data,
        };
        let out = match answer {
            None => Err(missing("not measured".into(), false)),
            Some(Err(e)) => Err(missing(e, false)),
            Some(Ok(None)) => Err(missing(NO_DATA.into(), true)),
            Some(Ok(Some(v))) if v.is_nan() => Err(missing(NO_DATA.into(), true)),
            Some(Ok(Some(v))) => Ok(v),
        };
        self.asked.push(q);
        out
    }
}

/// A signal that could not be had, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    /// The signal's name.
    pub signal: String,
    /// The version.
    pub version: String,
    /// Why, in words.
    pub cause: String,
    /// The provider answered, with nothing in the window: inconclusive, not
    /// an error.
    pub no_data: bool,
}

/// The cause of an empty answer.
const NO_DATA: &str = "no data in the window";

/// Missing signals said once per cause: `connection refused (requests,
/// errors of versions 2 and 3)`.
pub fn describe_missing(missing: &[Missing]) -> String {
    let mut causes: Vec<(&str, Vec<&Missing>)> = Vec::new();
    for m in missing {
        match causes.iter_mut().find(|(c, _)| *c == m.cause) {
            Some((_, list)) => list.push(m),
            None => causes.push((&m.cause, vec![m])),
        }
    }
    causes
        .into_iter()
        .map(|(cause, list)| {
            let mut signals: Vec<&str> = Vec::new();
            let mut versions: Vec<&str> = Vec::new();
            for m in &list {
                if !signals.contains(&m.signal.as_str()) {
                    signals.push(&m.signal);
                }
                if !versions.contains(&m.version.as_str()) {
                    versions.push(&m.version);
                }
            }
            let what = if signals.len() * versions.len() == list.len() {
                let v = match versions.as_slice() {
                    [one] => format!("version {one}"),
                    many => format!("versions {}", many.join(" and ")),
                };
                format!("{} of {v}", signals.join(", "))
            } else {
                list.iter()
                    .map(|m| format!("{} of version {}", m.signal, m.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("{cause} ({what})")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Limits relative to the stable version; `None` is not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Conditions {
    /// Candidate error rate minus stable error rate, in percentage points.
    pub error_rate_increase_pp: Option<f64>,
    /// Candidate p99 minus stable p99, in milliseconds.
    pub latency_p99_increase_ms: Option<f64>,
    /// Stable accuracy minus candidate accuracy, in percentage points.
    pub accuracy_drop_pp: Option<f64>,
    /// KL divergence of the candidate's predictions from the stable's.
    pub prediction_kl_max: Option<f64>,
}

/// What one analysis compares.
pub struct Subject<'a> {
    /// Model.
    pub model: &'a str,
    /// The version judged against.
    pub stable: &'a VersionId,
    /// The version judged.
    pub candidate: &'a VersionId,
    /// Window start.
    pub since: Timestamp,
    /// Window end: now.
    pub now: Timestamp,
    /// The stable version's window when it differs from the candidate's: at
    /// a 100% stage the stable version serves nothing, so it is measured over
    /// the rollout's earlier stages instead.
    pub stable_window: Option<(Timestamp, Timestamp)>,
    /// Requests each version needs in the window before judging.
    pub min_requests: u64,
}

/// Judges the candidate against the stable version.
pub fn analyse(s: &Subject, conditions: &Conditions, lookup: &mut Lookup) -> Analysis {
    let mut ask = |version: &VersionId, signal: Signal| -> Result<f64, Missing> {
        let (start, end) = match s.stable_window {
            Some(w) if version == s.stable => w,
            _ => (s.since, s.now),
        };
        lookup.try_get(s.model, version, signal, start, end)
    };
    let req_s = ask(s.stable, Signal::Requests);
    let req_c = ask(s.candidate, Signal::Requests);
    let err = conditions.error_rate_increase_pp.map(|_| {
        (
            zero_if_served(ask(s.stable, Signal::Errors), &req_s),
            zero_if_served(ask(s.candidate, Signal::Errors), &req_c),
        )
    });
    let lat = conditions.latency_p99_increase_ms.map(|_| {
        (
            ask(s.stable, Signal::LatencyP99Ms),
            ask(s.candidate, Signal::LatencyP99Ms),
        )
    });
    let acc = conditions.accuracy_drop_pp.map(|_| {
        (
            ask(s.stable, Signal::Accuracy),
            ask(s.candidate, Signal::Accuracy),
        )
    });
    let kl = conditions
        .prediction_kl_max
        .map(|_| ask(s.candidate, Signal::PredictionKl));
    let mut missing: Vec<Missing> = Vec::new();
    {
        let mut note = |r: &Result<f64, Missing>| {
            if let Err(m) = r {
                missing.push(m.clone());
            }
        };
        note(&req_s);
        note(&req_c);
        for (a, b) in [err.as_ref(), lat.as_ref(), acc.as_ref()]
            .into_iter()
            .flatten()
        {
            note(a);
            note(b);
        }
        if let Some(k) = &kl {
            note(k);
        }
    }
    let (req_s, req_c) = (req_s.ok(), req_c.ok());
    let both =
        |p: Option<(Result<f64, Missing>, Result<f64, Missing>)>| p.map(|(a, b)| (a.ok(), b.ok()));
    let (err, lat, acc, kl) = (both(err), both(lat), both(acc), kl.map(Result::ok));
    let mut requests = BTreeMap::new();
    if let Some(r) = req_s {
        requests.insert(s.stable.to_string(), r);
    }
    if let Some(r) = req_c {
        requests.insert(s.candidate.to_string(), r);
    }
    let mut analysis = Analysis {
        at: s.now,
        since: s.since,
        verdict: Verdict::Error,
        requests,
        checks: Vec::new(),
        message: String::new(),
        no_data: missing
            .iter()
            .filter(|m| m.no_data)
            .map(|m| format!("{} of version {}", m.signal, m.version))
            .collect(),
    };
    if missing.iter().any(|m| !m.no_data) {
        analysis.message = format!("metrics unavailable: {}", describe_missing(&missing));
        return analysis;
    }
    if !missing.is_empty() {
        analysis.verdict = Verdict::Inconclusive;
        analysis.message = describe_missing(&missing);
        return analysis;
    }
    let (req_s, req_c) = (req_s.unwrap_or(0.0), req_c.unwrap_or(0.0));
    let short: Vec<String> = [(s.stable, req_s), (s.candidate, req_c)]
        .iter()
        .filter(|(_, n)| *n < s.min_requests as f64)
        .map(|(v, n)| format!("version {v} served {} requests", thousands(*n)))
        .collect();
    if !short.is_empty() {
        analysis.verdict = Verdict::Inconclusive;
        analysis.message = format!(
            "{}, below the {} needed to judge",
            short.join(" and "),
            thousands(s.min_requests as f64)
        );
        return analysis;
    }
    let mut check = |name: &str, value: f64, threshold: f64, unit: &str| {
        analysis.checks.push(AnalysisCheck {
            name: name.to_string(),
            value,
            threshold,
            unit: unit.to_string(),
            passed: value <= threshold + 1e-12,
        });
    };
    if let (Some(limit), Some((Some(e_s), Some(e_c)))) = (conditions.error_rate_increase_pp, err) {
        let increase = 100.0 * (e_c / req_c - e_s / req_s);
        check("error_rate_increase", increase, limit, "pp");
    }
    if let (Some(limit), Some((Some(l_s), Some(l_c)))) = (conditions.latency_p99_increase_ms, lat) {
        check("latency_p99_increase", l_c - l_s, limit, "ms");
    }
    if let (Some(limit), Some((Some(a_s), Some(a_c)))) = (conditions.accuracy_drop_pp, acc) {
        check("accuracy_drop", 100.0 * (a_s - a_c), limit, "pp");
    }
    if let (Some(limit), Some(Some(k))) = (conditions.prediction_kl_max, kl) {
        check("prediction_kl_divergence", k, limit, "");
    }
    let failed: Vec<String> = analysis
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(AnalysisCheck::describe)
        .collect();
    let over = format!("over {} requests", thousands(req_c));
    if failed.is_empty() {
        analysis.verdict = Verdict::Pass;
        let passed: Vec<String> = analysis
            .checks
            .iter()
            .map(AnalysisCheck::describe)
            .collect();
        analysis.message = if passed.is_empty() {
            format!("no conditions to check {over}")
        } else {
            format!("{} {over}", passed.join(", "))
        };
    } else {
        analysis.verdict = Verdict::Fail;
        analysis.message = format!("{} {over}", failed.join(", "));
    }
    analysis
}

/// An `errors` answer read beside the version's `requests`: empty while
/// `requests` has data is zero errors.
fn zero_if_served(
    errors: Result<f64, Missing>,
    requests: &Result<f64, Missing>,
) -> Result<f64, Missing> {
    match errors {
        Err(m) if m.no_data && requests.is_ok() => Ok(0.0),
        other => other,
    }
}

/// Whether an analysis is inconclusive for want of data (rather than for
/// too few requests): the stage's `no_data_timeout` applies to it.
pub fn lacks_data(analysis: &Analysis) -> bool {
    analysis.verdict == Verdict::Inconclusive && !analysis.no_data.is_empty()
}

pub use crate::state::format::thousands;
