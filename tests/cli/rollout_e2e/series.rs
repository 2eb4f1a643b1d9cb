//! The series Prometheus holds for a rollout test, written as OpenMetrics:
//! the fraud detector's versions 2 (stable) and 3 (canary) sharing 1,000
//! requests a minute in the shares the canary's stages give them, with 5xx
//! codes at each version's error rate, a request-duration histogram and an
//! accuracy gauge. One sample every five minutes: every window a test reads
//! starts and ends on one, so `increase()` needs no extrapolation and the
//! figures modelops prints can be worked out here ([`Series`]).

use std::fmt::Write as _;

use jiff::Timestamp;

pub const MODEL: &str = "fraud-detector";
/// Requests a minute to the model, split between the versions.
const PER_MINUTE: u64 = 1000;
/// Seconds between samples.
const STEP: i64 = 300;
/// The stable version's 5xx rate (and a healthy canary's).
pub const HEALTHY: f64 = 0.0005;
/// Latency bucket bounds in seconds, and the share of each version's
/// requests at or below each (cumulative; the last is `+Inf`).
const BOUNDS: [f64; 6] = [0.005, 0.01, 0.025, 0.05, 0.1, f64::INFINITY];
const LATENCY_V2: [f64; 6] = [0.20, 0.60, 0.95, 0.995, 1.0, 1.0];
const LATENCY_V3: [f64; 6] = [0.15, 0.55, 0.94, 0.993, 1.0, 1.0];
const ACCURACY_V2: f64 = 0.962;
const ACCURACY_V3: f64 = 0.965;

/// A stretch of a run: `minutes` long (a multiple of 5), the canary taking
/// `percent` of the requests.
#[derive(Clone, Copy)]
pub struct Stretch {
    pub minutes: i64,
    pub percent: u64,
}

/// A run: traffic from `start`, stretch after stretch, the canary failing
/// `canary_errors` of its requests with a 5xx.
pub struct Run {
    pub start: Timestamp,
    pub stretches: Vec<Stretch>,
    pub canary_errors: f64,
}

/// One version's counters at one sample.
#[derive(Debug, Clone, Copy, Default)]
struct Point {
    at: i64,
    requests: u64,
    errors: u64,
}

/// Both versions' samples over every run, counters carried across the gaps
/// between runs (nothing is served there).
pub struct Series {
    /// Versions 2 and 3.
    points: [Vec<Point>; 2],
}

impl Series {
    /// The samples of `runs`, which must be in time order.
    pub fn new(runs: &[Run]) -> Series {
        let mut points: [Vec<Point>; 2] = [Vec::new(), Vec::new()];
        // Errors as real numbers; the counters hold their integer part.
        let mut errors = [0.0f64; 2];
        let mut now = [Point::default(); 2];
        for run in runs {
            let mut at = run.start.as_second();
            for (i, p) in now.iter_mut().enumerate() {
                p.at = at;
                points[i].push(*p);
            }
            for s in &run.stretches {
                for _ in 0..s.minutes * 60 / STEP {
                    at += STEP;
                    let per_step = PER_MINUTE * STEP as u64 / 60;
                    let canary = per_step * s.percent / 100;
                    let shares = [(per_step - canary, HEALTHY), (canary, run.canary_errors)];
                    for (i, (n, rate)) in shares.into_iter().enumerate() {
                        errors[i] += n as f64 * rate;
                        now[i] = Point {
                            at,
                            requests: now[i].requests + n,
                            errors: errors[i].floor() as u64,
                        };
                        points[i].push(now[i]);
                    }
                }
            }
        }
        Series { points }
    }

    fn version(&self, version: &str) -> &[Point] {
        match version {
            "2" => &self.points[0],
            "3" => &self.points[1],
            _ => panic!("no series for version {version}"),
        }
    }

    /// The counters' increase over `(from, to]`, both sample times.
    fn delta(&self, version: &str, from: Timestamp, to: Timestamp) -> (u64, u64) {
        let at = |t: Timestamp| {
            let p = self.version(version);
            *p.iter()
                .find(|p| p.at == t.as_second())
                .unwrap_or_else(|| panic!("no sample of version {version} at {t}"))
        };
        let (a, b) = (at(from), at(to));
        (b.requests - a.requests, b.errors - a.errors)
    }

    /// Requests `version` served in `(from, to]`.
    pub fn requests(&self, version: &str, from: Timestamp, to: Timestamp) -> u64 {
        self.delta(version, from, to).0
    }

    /// Its 5xx share of them, in percent.
    pub fn error_percent(&self, version: &str, from: Timestamp, to: Timestamp) -> f64 {
        let (requests, errors) = self.delta(version, from, to);
        100.0 * errors as f64 / requests as f64
    }

    /// Its p99 latency in milliseconds, as `histogram_quantile` interpolates
    /// it in the buckets' increases.
    pub fn p99_ms(&self, version: &str, from: Timestamp, to: Timestamp) -> f64 {
        let (a, b) = (
            self.bucket_counts(version, from),
            self.bucket_counts(version, to),
        );
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

    fn bucket_counts(&self, version: &str, t: Timestamp) -> Vec<u64> {
        let p = self
            .version(version)
            .iter()
            .find(|p| p.at == t.as_second())
            .expect("a sample");
        buckets(version, p.requests).to_vec()
    }

    /// Stable accuracy minus canary accuracy over any window, in percentage
    /// points: both gauges wobble alike, so it is the bases' difference.
    pub fn accuracy_drop_pp() -> f64 {
        100.0 * (ACCURACY_V2 - ACCURACY_V3)
    }

    /// The series as an OpenMetrics file for `promtool tsdb
    /// create-blocks-from openmetrics`: families one after the other, each
    /// series' samples in time order.
    pub fn openmetrics(&self) -> String {
        let mut out = String::new();
        let labels = |v: &str| format!(r#"model="{MODEL}",version="{v}""#);
        out.push_str("# TYPE modelops_requests counter\n");
        for v in ["2", "3"] {
            for code in ["200", "500"] {
                for p in self.version(v) {
                    let n = if code == "500" {
                        p.errors
                    } else {
                        p.requests - p.errors
                    };
                    let l = format!(r#"{},code="{code}""#, labels(v));
                    sample(&mut out, "modelops_requests_total", &l, n, p.at);
                }
            }
        }
        out.push_str("# TYPE modelops_request_duration_seconds histogram\n");
        for v in ["2", "3"] {
            for (i, bound) in BOUNDS.iter().enumerate() {
                let le = if bound.is_infinite() {
                    "+Inf".to_string()
                } else {
                    bound.to_string()
                };
                let l = format!(r#"{},le="{le}""#, labels(v));
                for p in self.version(v) {
                    let n = buckets(v, p.requests)[i];
                    sample(
                        &mut out,
                        "modelops_request_duration_seconds_bucket",
                        &l,
                        n,
                        p.at,
                    );
                }
            }
            for p in self.version(v) {
                let (l, n) = (labels(v), p.requests);
                sample(
                    &mut out,
                    "modelops_request_duration_seconds_count",
                    &l,
                    n,
                    p.at,
                );
                // Not queried; any value growing with the count will do.
                let sum = n as f64 * 0.012;
                sample(
                    &mut out,
                    "modelops_request_duration_seconds_sum",
                    &l,
                    sum,
                    p.at,
                );
            }
        }
        out.push_str("# TYPE modelops_accuracy gauge\n");
        for (v, base) in [("2", ACCURACY_V2), ("3", ACCURACY_V3)] {
            for p in self.version(v) {
                let wobble = 0.001 * ((p.at / STEP) % 7 - 3) as f64;
                sample(
                    &mut out,
                    "modelops_accuracy",
                    &labels(v),
                    base + wobble,
                    p.at,
                );
            }
        }
        out.push_str("# EOF\n");
        out
    }
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

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display, at: i64) {
    writeln!(out, "{name}{{{labels}}} {value} {at}").unwrap();
}
