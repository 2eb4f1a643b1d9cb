//! The series Prometheus holds for a rollout test, written as OpenMetrics:
//! the fraud detector's versions 2 (stable) and 3 (canary) sharing 1,000
//! requests a minute in the shares the canary's stages give them, with 5xx
//! codes at each version's error rate, a request-duration histogram and an
//! accuracy gauge. One sample every five minutes: every window a test reads
//! starts and ends on one, so `increase()` needs no extrapolation and the
//! figures modelops prints can be worked out here ([`Series`]).

use jiff::Timestamp;

use crate::e2e::series::{Counter, OpenMetrics, delta, error_percent, p99_ms};

/// Requests a minute to the model, split between the versions.
const PER_MINUTE: u64 = 1000;
/// Seconds between samples.
const STEP: i64 = 300;
/// The stable version's 5xx rate (and a healthy canary's).
pub const HEALTHY: f64 = 0.0005;
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

/// Both versions' samples over every run, counters carried across the gaps
/// between runs (nothing is served there).
pub struct Series {
    /// Versions 2 and 3.
    points: [Vec<Counter>; 2],
}

impl Series {
    /// The samples of `runs`, which must be in time order.
    pub fn new(runs: &[Run]) -> Series {
        let mut points: [Vec<Counter>; 2] = [Vec::new(), Vec::new()];
        // Errors as real numbers; the counters hold their integer part.
        let mut errors = [0.0f64; 2];
        let mut now = [Counter::default(); 2];
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
                        now[i] = Counter {
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

    /// Requests `version` served in `(from, to]`.
    pub fn requests(&self, version: &str, from: Timestamp, to: Timestamp) -> u64 {
        delta(&self.points, version, (from, to)).0
    }

    /// Its 5xx share of them, in percent.
    pub fn error_percent(&self, version: &str, from: Timestamp, to: Timestamp) -> f64 {
        error_percent(&self.points, version, (from, to))
    }

    /// Its p99 latency in milliseconds, as `histogram_quantile` interpolates
    /// it in the buckets' increases.
    pub fn p99_ms(&self, version: &str, from: Timestamp, to: Timestamp) -> f64 {
        p99_ms(&self.points, version, (from, to))
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
        let accuracy = [ACCURACY_V2, ACCURACY_V3];
        let gauges = [0, 1].map(|i| {
            let wobble = |at: i64| 0.001 * ((at / STEP) % 7 - 3) as f64;
            let points = self.points[i].iter();
            points.map(|p| (p.at, accuracy[i] + wobble(p.at))).collect()
        });
        OpenMetrics::requests(&self.points, true)
            .gauge("modelops_accuracy", gauges)
            .end()
    }
}
