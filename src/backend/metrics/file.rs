//! The `file` metrics provider: observations written down in a YAML or JSON
//! file, for the example repository, tests and what-if plans without a
//! metrics server.
//!
//! The file (`.yaml`/`.yml` read as YAML, `.json` as JSON) holds, per model
//! and per version, a series of `[time, value]` samples per signal:
//!
//! ```yaml
//! models:
//!   fraud-detector:
//!     "3":
//!       requests:       [["2026-11-26T10:00:00Z", 5021], ["2026-11-26T11:00:00Z", 24870]]
//!       errors:         [["2026-11-26T10:00:00Z", 2], ["2026-11-26T11:00:00Z", 13]]
//!       latency_p99_ms: [["2026-11-26T10:00:00Z", 26.8], ["2026-11-26T11:00:00Z", 27.4]]
//!       accuracy:       [["2026-11-26T10:00:00Z", 0.965], ["2026-11-26T11:00:00Z", 0.963]]
//! ```
//!
//! Times are RFC 3339; signal names are those of [`Signal::name`] (aliases
//! such as `latency_p99` count as their signal; any other name is a business
//! rate such as `conversion_rate`). A sample stands for the period that ends
//! at its time. A query over `(start, end]` takes the samples with
//! `start < time <= end`, and:
//!
//! - `requests` and `errors` (counts) are summed;
//! - `latency_p99_ms` is the maximum of the samples: no true p99 can be
//!   rebuilt from per-period p99s, and the maximum never understates it;
//! - `accuracy`, `prediction_kl_divergence` and rates are averaged, weighted
//!   by the version's `requests` samples at the same times when every sample
//!   has one (and they are not all zero), else a plain mean.
//!
//! No samples in the window (or no series at all) is `Ok(None)`: no data. The
//! file is read on the first query and kept; a file that cannot be read or is
//! malformed (bad time, negative count, two samples at one time, unknown
//! key) is an error naming the file and what is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;

use super::{MetricQuery, MetricsError, MetricsProvider, Signal};
use crate::manifest::yaml;
use crate::source::confined::{self, Cap};

/// Largest observations file read, in bytes (64 MiB): a year of hourly
/// samples for a few dozen series is a few MiB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

const CAP: Cap = Cap {
    bytes: MAX_FILE_BYTES,
    kind: "observations files",
};

/// Observations from one file, as configured under `metrics` in `modelops.yaml`.
#[derive(Debug)]
pub struct FileProvider {
    name: String,
    /// The repository the file must be inside.
    repo: PathBuf,
    /// The file, relative to the repository, as configured.
    rel: String,
    /// Read on the first query.
    observations: Option<Observations>,
}

/// One sample: a value for the period ending at `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at: Timestamp,
    value: f64,
}

/// Series by model, version and signal; each sorted by time, one sample per time.
#[derive(Debug, Default)]
struct Observations {
    models: BTreeMap<String, BTreeMap<String, BTreeMap<Signal, Vec<Sample>>>>,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    models: BTreeMap<String, BTreeMap<String, RawVersion>>,
}

/// A version's series by signal name, each `[time, value]` pairs as written.
type RawVersion = BTreeMap<String, Vec<(String, f64)>>;

impl FileProvider {
    /// The provider `name` reading `rel`, a path inside the repository
    /// `repo` (read under [`confined`]'s rule: no absolute path, no `..` or
    /// symlink out, a regular file). Nothing is read until the first query.
    pub fn new(name: &str, repo: &Path, rel: &str) -> FileProvider {
        FileProvider {
            name: name.to_string(),
            repo: repo.to_path_buf(),
            rel: rel.to_string(),
            observations: None,
        }
    }

    fn shown(&self) -> PathBuf {
        self.repo.join(&self.rel)
    }

    fn observations(&mut self) -> Result<&Observations, MetricsError> {
        if self.observations.is_none() {
            self.observations = Some(load(&self.name, &self.repo, &self.rel)?);
        }
        Ok(self.observations.as_ref().expect("just read"))
    }
}

impl MetricsProvider for FileProvider {
    fn describe(&self) -> String {
        format!("file provider {} ({})", self.name, self.shown().display())
    }

    fn query(&mut self, q: &MetricQuery) -> Result<Option<f64>, MetricsError> {
        Ok(self.observations()?.value(q))
    }
}

impl Observations {
    fn series(&self, model: &str, version: &str, signal: &Signal) -> &[Sample] {
        self.models
            .get(model)
            .and_then(|versions| versions.get(version))
            .and_then(|signals| signals.get(signal))
            .map_or(&[], Vec::as_slice)
    }

    /// The value of a query, as the module documentation says.
    fn value(&self, q: &MetricQuery) -> Option<f64> {
        let samples: Vec<Sample> = self
            .series(&q.model, &q.version, &q.signal)
            .iter()
            .filter(|s| q.start < s.at && s.at <= q.end)
            .copied()
            .collect();
        if samples.is_empty() {
            return None;
        }
        let values = samples.iter().map(|s| s.value);
        Some(match q.signal {
            Signal::Requests | Signal::Errors => values.sum(),
            Signal::LatencyP99Ms => values.fold(f64::NEG_INFINITY, f64::max),
            _ => {
                let requests = self.series(&q.model, &q.version, &Signal::Requests);
                weighted_mean(&samples, requests)
            }
        })
    }
}

/// The mean of `samples` weighted by the request counts at their times, or
/// the plain mean when a sample has no count beside it or all counts are zero.
fn weighted_mean(samples: &[Sample], requests: &[Sample]) -> f64 {
    let weights: Option<Vec<f64>> = samples
        .iter()
        .map(|s| {
            requests
                .binary_search_by(|r| r.at.cmp(&s.at))
                .ok()
                .map(|i| requests[i].value)
        })
        .collect();
    match weights {
        Some(w) if w.iter().sum::<f64>() > 0.0 => {
            let total: f64 = w.iter().sum();
            samples
                .iter()
                .zip(&w)
                .map(|(s, w)| s.value * w)
                .sum::<f64>()
                / total
        }
        _ => samples.iter().map(|s| s.value).sum::<f64>() / samples.len() as f64,
    }
}

/// Reads and checks a file.
fn load(name: &str, repo: &Path, rel: &str) -> Result<Observations, MetricsError> {
    let path = repo.join(rel);
    let shown = path.display();
    let unreadable =
        |what: String| MetricsError::unavailable(format!("observations file {shown}: {what}"));
    // Inside the repository before anything else, as every file a manifest names.
    let bytes = confined::read(repo, rel, CAP).map_err(|e| {
        unreadable(format!(
            "cannot read it (modelops.yaml, metrics.{name}.path): {e}"
        ))
    })?;
    let malformed =
        |what: String| MetricsError::Malformed(format!("observations file {shown}: {what}"));
    let json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("yaml" | "yml") => false,
        _ => {
            return Err(malformed(
                "the name must end in .yaml, .yml or .json (which says how to read it)".to_string(),
            ));
        }
    };
    let raw: RawFile = if json {
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?
    } else {
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| malformed(format!("not UTF-8 text (byte {})", e.valid_up_to())))?;
        serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
            let d = yaml::diagnostic(&shown.to_string(), "yaml", &e);
            let at = match (d.line, d.column) {
                (Some(l), Some(c)) => format!("{}:{l}:{c}", d.file),
                _ => d.file,
            };
            MetricsError::Malformed(format!("observations file {at}: {}", d.message))
        })?
    };
    checked(raw).map_err(malformed)
}

/// The same defences as manifests (no alias bombs, one document, bounded
/// nesting), sized for data: an observations file has many more nodes.
fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_FILE_BYTES as usize);
    budget.max_depth = 16;
    budget.max_events = 20_000_000;
    budget.max_nodes = 10_000_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES as usize;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::AsString;
    options.strict_booleans = true;
    options
}

/// The file's series parsed and checked: RFC 3339 times, finite values,
/// counts not negative, one sample per time, one series per signal.
fn checked(raw: RawFile) -> Result<Observations, String> {
    let mut observations = Observations::default();
    for (model, versions) in raw.models {
        for (version, signals) in versions {
            let mut by_signal = BTreeMap::new();
            for (name, raw_series) in signals {
                let at = format!("models.{model}.\"{version}\".{name}");
                let signal = Signal::from_name(&name);
                let series = checked_series(&signal, raw_series).map_err(|e| format!("{at}{e}"))?;
                if by_signal.insert(signal.clone(), series).is_some() {
                    return Err(format!(
                        "models.{model}.\"{version}\" has two series for {}: keep one",
                        signal.name()
                    ));
                }
            }
            observations
                .models
                .entry(model.clone())
                .or_default()
                .insert(version, by_signal);
        }
    }
    Ok(observations)
}

fn checked_series(signal: &Signal, raw: Vec<(String, f64)>) -> Result<Vec<Sample>, String> {
    let count = matches!(signal, Signal::Requests | Signal::Errors);
    let mut series = Vec::with_capacity(raw.len());
    for (i, (time, value)) in raw.into_iter().enumerate() {
        let at: Timestamp = time
            .parse()
            .map_err(|e| format!("[{i}]: time {time:?} is not RFC 3339 ({e})"))?;
        if !value.is_finite() {
            return Err(format!("[{i}]: {value} is not a number"));
        }
        if count && value < 0.0 {
            return Err(format!("[{i}]: a count cannot be negative ({value})"));
        }
        series.push(Sample { at, value });
    }
    series.sort_by_key(|s| s.at);
    if let Some(pair) = series.windows(2).find(|p| p[0].at == p[1].at) {
        return Err(format!(
            ": two samples at {}: a series has one sample per time",
            pair[0].at
        ));
    }
    Ok(series)
}

#[cfg(test)]
mod tests;
