//! The series Prometheus holds for a monitoring test, as OpenMetrics: the
//! fraud detector's version 2 serving for an hour, version 3 from eight days
//! before the monitoring time T up to T, and a chosen version for two hours
//! after it. 1,000 requests a minute, scaled by a factor for each day back
//! from T, so the traffic norm (the same hour on each earlier day) has a
//! spread; 5xx codes at the serving version's rate; a request-duration
//! histogram; accuracy and prediction-KL gauges. Version 3's incident starts
//! at T − 1h and lasts while it serves.
//!
//! Counters are sampled every five minutes on the clock, both versions'
//! (flat while idle), so every window `monitor` reads starts and ends on a
//! sample and `increase()` needs no extrapolation. Gauges are sampled
//! half-way between, only while their version serves, so no window boundary
//! falls on one. Every figure `monitor` prints can thus be worked out here
//! ([`Series`]).
//!
//! Samples are kept only from an hour before to 65 minutes after T and the
//! same time on each of the seven days before, where the windows lie; in
//! between the counters go on as if scraped. promtool writes a block per two
//! hours of samples: eight whole days took Prometheus 11 s to start, these
//! sixteen hours under 3 s.

use jiff::Timestamp;

use crate::e2e::series::{Counter, OpenMetrics, delta, error_percent, index, p99_ms};

/// Seconds between counter samples.
const STEP: i64 = 300;
/// Requests in one step at a factor of 1: 1,000 a minute.
const PER_STEP: f64 = 5000.0;
/// Samples are kept from this long before T (and the same time on earlier days)…
const KEPT_BEFORE: i64 = 3600;
/// …to this long after.
const KEPT_AFTER: i64 = 3900;
/// Traffic factor of day `d` back from T (`d` = 0 ends at T), by `d mod 9`.
const DAY_FACTORS: [f64; 9] = [1.02, 0.97, 1.05, 0.92, 1.03, 0.99, 1.08, 0.95, 1.01];
/// A healthy 5xx rate.
pub const HEALTHY_ERRORS: f64 = 0.0005;
/// Healthy gauge levels: accuracy near the versions' recorded
/// `test_accuracy` (0.962 and 0.965), KL near zero.
const ACCURACY: [f64; 2] = [0.961, 0.963];
pub const KL: [f64; 2] = [0.012, 0.015];
pub const V3_ACCURACY: f64 = ACCURACY[1];

/// What version 3 does from T − 1h.
#[derive(Clone, Copy)]
pub struct Incident {
    /// 5xx rate, a fraction.
    pub errors: f64,
    /// Accuracy gauge level.
    pub accuracy: f64,
    /// Prediction KL gauge level.
    pub kl: f64,
}

#[derive(Debug, Clone, Copy)]
struct Gauge {
    at: i64,
    accuracy: f64,
    kl: f64,
}

/// Both versions' samples.
pub struct Series {
    /// Versions 2 and 3.
    counters: [Vec<Counter>; 2],
    gauges: [Vec<Gauge>; 2],
    /// Whether any request failed: without, there is no 5xx series at all,
    /// as for a real service that never answered one.
    any_5xx: bool,
}

impl Series {
    /// The story around T: version 2 serves (T − 8d − 1h, T − 8d], version 3
    /// (T − 8d, T] with `incident` in its last hour, then `after` serves
    /// (T, T + 2h] (version 3 still in its incident).
    pub fn new(t: Timestamp, incident: Incident, after: &str) -> Series {
        let t = t.as_second();
        let (start, switch, end) = (t - 8 * 86_400 - 3600, t - 8 * 86_400, t + 7200);
        let mut series = Series {
            counters: [Vec::new(), Vec::new()],
            gauges: [Vec::new(), Vec::new()],
            any_5xx: true,
        };
        // Errors as real numbers; the counters hold their integer part.
        let mut errors = [0.0f64; 2];
        let mut now = [Counter {
            at: start,
            ..Counter::default()
        }; 2];
        let mut at = start;
        while at < end {
            at += STEP;
            let serving = index(if at <= switch {
                "2"
            } else if at <= t {
                "3"
            } else {
                after
            });
            let in_incident = serving == 1 && at > t - 3600;
            let day = (t - at).div_euclid(86_400).rem_euclid(9) as usize;
            let n = (PER_STEP * DAY_FACTORS[day]).round() as u64;
            let rate = if in_incident {
                incident.errors
            } else {
                HEALTHY_ERRORS
            };
            errors[serving] += n as f64 * rate;
            now[serving].requests += n;
            now[serving].errors = errors[serving].floor() as u64;
            for c in &mut now {
                c.at = at;
            }
            let kept = (0..8).any(|d| {
                let day = t - d * 86_400;
                (day - KEPT_BEFORE..=day + KEPT_AFTER).contains(&at)
            });
            if !kept {
                continue;
            }
            for (i, c) in now.iter().enumerate() {
                series.counters[i].push(*c);
            }
            let k = at / STEP;
            let (accuracy, kl) = if in_incident {
                (incident.accuracy, incident.kl)
            } else {
                (ACCURACY[serving], KL[serving])
            };
            series.gauges[serving].push(Gauge {
                at: at - STEP / 2,
                accuracy: accuracy + 0.001 * ((k % 7) - 3) as f64,
                kl: kl + 0.001 * ((k % 5) - 2) as f64,
            });
        }
        series
    }

    /// The same story with no request ever failing: no `code="500"` series.
    pub fn without_5xx(mut self) -> Series {
        for c in self.counters.iter_mut().flatten() {
            c.errors = 0;
        }
        self.any_5xx = false;
        self
    }

    /// Requests `version` served in the window.
    pub fn requests(&self, version: &str, window: (Timestamp, Timestamp)) -> u64 {
        delta(&self.counters, version, window).0
    }

    /// `monitor`'s error rate: 100 · errors / requests over the window.
    pub fn error_percent(&self, version: &str, window: (Timestamp, Timestamp)) -> f64 {
        error_percent(&self.counters, version, window)
    }

    /// The p99 latency in milliseconds, as `histogram_quantile` interpolates
    /// it in the buckets' increases.
    pub fn p99_ms(&self, version: &str, window: (Timestamp, Timestamp)) -> f64 {
        p99_ms(&self.counters, version, window)
    }

    fn gauge_mean(
        &self,
        version: &str,
        (from, to): (Timestamp, Timestamp),
        f: fn(&Gauge) -> f64,
    ) -> f64 {
        let inside: Vec<f64> = self.gauges[index(version)]
            .iter()
            .filter(|g| from.as_second() < g.at && g.at < to.as_second())
            .map(f)
            .collect();
        assert!(
            !inside.is_empty(),
            "no gauge of version {version} in the window"
        );
        inside.iter().sum::<f64>() / inside.len() as f64
    }

    /// The accuracy gauge's mean over the window (`avg_over_time`).
    pub fn accuracy(&self, version: &str, window: (Timestamp, Timestamp)) -> f64 {
        self.gauge_mean(version, window, |g| g.accuracy)
    }

    /// The prediction KL gauge's mean over the window.
    pub fn kl(&self, version: &str, window: (Timestamp, Timestamp)) -> f64 {
        self.gauge_mean(version, window, |g| g.kl)
    }

    /// How many (sample) standard deviations the window's requests lie from
    /// those of the same window on each of the `days` earlier days.
    pub fn traffic_sigma(
        &self,
        version: &str,
        (from, to): (Timestamp, Timestamp),
        days: i64,
    ) -> f64 {
        let back = |d: i64| jiff::SignedDuration::from_hours(24 * d);
        let history: Vec<f64> = (1..=days)
            .map(|d| self.requests(version, (from - back(d), to - back(d))) as f64)
            .collect();
        let n = history.len() as f64;
        let mean = history.iter().sum::<f64>() / n;
        let sd = (history.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        (self.requests(version, (from, to)) as f64 - mean) / sd
    }

    /// The series as an OpenMetrics file for `promtool tsdb
    /// create-blocks-from openmetrics`: families one after the other, each
    /// series' samples in time order.
    pub fn openmetrics(&self) -> String {
        let gauge = |f: fn(&Gauge) -> f64| {
            (self.gauges.each_ref()).map(|g| g.iter().map(|g| (g.at, f(g))).collect())
        };
        OpenMetrics::requests(&self.counters, self.any_5xx)
            .gauge("modelops_accuracy", gauge(|g| g.accuracy))
            .gauge("modelops_prediction_kl_divergence", gauge(|g| g.kl))
            .end()
    }
}
