//! What the end-to-end suites' series share: the fraud detector's versions
//! 2 and 3 as request counters sampled on the clock ([`Counter`]), a
//! request-duration histogram derived from each version's fixed latency
//! shares, the figures `monitor` and the rollout analysis read from them,
//! and the OpenMetrics file `scripts/prometheus.sh start` backfills with
//! `promtool tsdb create-blocks-from openmetrics` ([`OpenMetrics`]).

use std::fmt::Write as _;

use jiff::Timestamp;

use super::MODEL;

/// Latency bucket bounds in seconds, and the share of each version's
/// requests at or below each (cumulative; the last is `+Inf`).
const BOUNDS: [f64; 6] = [0.005, 0.01, 0.025, 0.05, 0.1, f64::INFINITY];
const LATENCY_V2: [f64; 6] = [0.20, 0.60, 0.95, 0.995, 1.0, 1.0];
const LATENCY_V3: [f64; 6] = [0.15, 0.55, 0.94, 0.993, 1.0, 1.0];

/// The versions the series hold, in the order they are written.
const VERSIONS: [&str; 2] = ["2", "3"];

/// One version's counters at one sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter {
    pub at: i64,
    pub requests: u64,
    pub errors: u64,
}

/// The index of `version`'s samples (versions 2 and 3).
pub fn index(version: &str) -> usize {
    VERSIONS
        .iter()
        .position(|v| *v == version)
        .unwrap_or_else(|| panic!("no series for version {version}"))
}

/// `version`'s sample at `t`, from both versions' `counters`.
pub fn sample_at(counters: &[Vec<Counter>; 2], version: &str, t: Timestamp) -> Counter {
    *counters[index(version)]
        .iter()
        .find(|c| c.at == t.as_second())
        .unwrap_or_else(|| panic!("no sample of version {version} at {t}"))
}

/// Requests and 5xx answers of `version` in `(from, to]`, both sample times.
pub fn delta(
    counters: &[Vec<Counter>; 2],
    version: &str,
    (from, to): (Timestamp, Timestamp),
) -> (u64, u64) {
    let (a, b) = (
        sample_at(counters, version, from),
        sample_at(counters, version, to),
    );
    (b.requests - a.requests, b.errors - a.errors)
}

/// The error rate: 100 · errors / requests over the window.
pub fn error_percent(
    counters: &[Vec<Counter>; 2],
    version: &str,
    window: (Timestamp, Timestamp),
) -> f64 {
    let (requests, errors) = delta(counters, version, window);
    100.0 * errors as f64 / requests as f64
}

/// The p99 latency in milliseconds over the window, as
/// `histogram_quantile` interpolates it in the buckets' increases.
pub fn p99_ms(
    counters: &[Vec<Counter>; 2],
    version: &str,
    (from, to): (Timestamp, Timestamp),
) -> f64 {
    let buckets = |t| buckets(version, sample_at(counters, version, t).requests);
    let (a, b) = (buckets(from), buckets(to));
    let counts: Vec<f64> = a.iter().zip(&b).map(|(a, b)| (b - a) as f64).collect();
    let rank = 0.99 * counts[counts.len() - 1];
    let i = counts.iter().position(|&c| c >= rank).expect("a bucket");
    let (lower, below) = if i == 0 {
        (0.0, 0.0)
    } else {
        (BOUNDS[i - 1], counts[i - 1])
    };
    1000.0 * (lower + (BOUNDS[i] - lower) * (rank - below) / (counts[i] - below))
}

/// The cumulative bucket counts of `requests` requests of `version`.
fn buckets(version: &str, requests: u64) -> [u64; 6] {
    let shares = if version == "2" {
        LATENCY_V2
    } else {
        LATENCY_V3
    };
    shares.map(|s| (requests as f64 * s).floor() as u64)
}

/// One OpenMetrics sample line.
pub fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display, at: i64) {
    writeln!(out, "{name}{{{labels}}} {value} {at}").unwrap();
}

fn labels(version: &str) -> String {
    format!(r#"model="{MODEL}",version="{version}""#)
}

/// An OpenMetrics file for `promtool tsdb create-blocks-from openmetrics`,
/// written family after family, each series' samples in time order.
pub struct OpenMetrics(String);

impl OpenMetrics {
    /// The request counters by status code (`200`, and `500` when
    /// `with_5xx`; without, there is no 5xx series at all, as for a real
    /// service that never answered one) and the request-duration histogram
    /// of versions 2 and 3.
    pub fn requests(counters: &[Vec<Counter>; 2], with_5xx: bool) -> OpenMetrics {
        let mut out = String::new();
        out.push_str("# TYPE modelops_requests counter\n");
        for v in VERSIONS {
            let codes: &[&str] = if with_5xx { &["200", "500"] } else { &["200"] };
            for code in codes {
                let l = format!(r#"{},code="{code}""#, labels(v));
                for c in &counters[index(v)] {
                    let n = if *code == "500" {
                        c.errors
                    } else {
                        c.requests - c.errors
                    };
                    sample(&mut out, "modelops_requests_total", &l, n, c.at);
                }
            }
        }
        out.push_str("# TYPE modelops_request_duration_seconds histogram\n");
        for v in VERSIONS {
            let counters = &counters[index(v)];
            for (i, bound) in BOUNDS.iter().enumerate() {
                let le = if bound.is_infinite() {
                    "+Inf".to_string()
                } else {
                    bound.to_string()
                };
                let l = format!(r#"{},le="{le}""#, labels(v));
                for c in counters {
                    let n = buckets(v, c.requests)[i];
                    sample(
                        &mut out,
                        "modelops_request_duration_seconds_bucket",
                        &l,
                        n,
                        c.at,
                    );
                }
            }
            for c in counters {
                let l = labels(v);
                sample(
                    &mut out,
                    "modelops_request_duration_seconds_count",
                    &l,
                    c.requests,
                    c.at,
                );
                // Not queried; any value growing with the count will do.
                let sum = c.requests as f64 * 0.012;
                sample(
                    &mut out,
                    "modelops_request_duration_seconds_sum",
                    &l,
                    sum,
                    c.at,
                );
            }
        }
        OpenMetrics(out)
    }

    /// A gauge family: versions 2 and 3's `(time, value)` samples.
    pub fn gauge(mut self, family: &str, samples: [Vec<(i64, f64)>; 2]) -> OpenMetrics {
        writeln!(self.0, "# TYPE {family} gauge").unwrap();
        for (v, samples) in VERSIONS.iter().zip(samples) {
            for (at, value) in samples {
                sample(&mut self.0, family, &labels(v), value, at);
            }
        }
        self
    }

    /// The file's text, with its `# EOF`.
    pub fn end(mut self) -> String {
        self.0.push_str("# EOF\n");
        self.0
    }
}
