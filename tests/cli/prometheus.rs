//! The Prometheus metrics provider against a real Prometheus, started by the
//! test from `scripts/prometheus.sh` on series it writes as OpenMetrics and
//! backfills: four hours of samples, one a minute, before a fixed time, so
//! every default query has a value worked out by hand. Skipped when
//! Prometheus is not installed, unless `MODELOPS_E2E=1`.

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp};
use modelops::backend::metrics::prometheus::PrometheusProvider;
use modelops::backend::metrics::{MetricQuery, MetricsError, MetricsProvider, Signal};
use modelops::manifest::config::PrometheusConfig;

use crate::e2e::servers::{Prometheus, free_port};
use crate::e2e::{MODEL, series};

/// The time the series end at (`2026-11-25T00:00:00Z`).
const END: i64 = 1_795_564_800;
/// Minutes of samples before `END` (inclusive of both ends).
const MINUTES: i64 = 240;

/// Per-minute increments of one version's series.
struct Traffic {
    version: &'static str,
    /// Requests per minute by status code.
    codes: &'static [(&'static str, u64)],
    /// Requests per minute by latency bucket upper bound (not cumulative).
    latency: &'static [u64],
    /// Base values of the gauges; samples wobble around them.
    accuracy: f64,
    conversion_rate: f64,
    kl: f64,
}

const BUCKETS: [&str; 9] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf",
];

const VERSIONS: [Traffic; 3] = [
    // Version 1 serves nothing: flat counters, an empty histogram.
    Traffic {
        version: "1",
        codes: &[("200", 0)],
        latency: &[0; 9],
        accuracy: 0.95,
        conversion_rate: 0.04,
        kl: 0.0,
    },
    Traffic {
        version: "2",
        codes: &[("200", 1000), ("404", 3), ("500", 1), ("503", 1)],
        latency: &[100, 400, 400, 90, 10, 5, 0, 0, 0],
        accuracy: 0.962,
        conversion_rate: 0.041,
        kl: 0.012,
    },
    Traffic {
        version: "3",
        codes: &[("200", 200), ("404", 1), ("500", 1)],
        latency: &[0, 20, 100, 60, 12, 8, 2, 0, 0],
        accuracy: 0.965,
        conversion_rate: 0.044,
        kl: 0.034,
    },
];

/// A gauge's sample at minute `k`: the base value and a deterministic wobble.
fn gauge(base: f64, k: i64) -> f64 {
    base + 0.001 * ((k % 7) - 3) as f64
}

/// Unix time of minute `k` (0 is `MINUTES` before `END`).
fn minute(k: i64) -> i64 {
    END - 60 * (MINUTES - k)
}

/// One OpenMetrics sample line at minute `k`.
fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display, k: i64) {
    series::sample(out, name, labels, value, minute(k));
}

/// A gauge's base value in a version's traffic.
type Base = fn(&Traffic) -> f64;

/// The series as an OpenMetrics file for `promtool tsdb create-blocks-from
/// openmetrics`: each family's series together, each series in time order.
fn openmetrics() -> String {
    let mut out = String::new();
    let labels = |v: &str| format!(r#"model="{MODEL}",version="{v}""#);
    out.push_str("# TYPE modelops_requests counter\n");
    for t in &VERSIONS {
        for (code, per_minute) in t.codes {
            let l = format!(r#"{},code="{code}""#, labels(t.version));
            for k in 0..=MINUTES {
                sample(
                    &mut out,
                    "modelops_requests_total",
                    &l,
                    per_minute * k as u64,
                    k,
                );
            }
        }
    }
    out.push_str("# TYPE modelops_request_duration_seconds histogram\n");
    for t in &VERSIONS {
        let l = labels(t.version);
        for k in 0..=MINUTES {
            let mut cumulative = 0;
            for (le, count) in BUCKETS.iter().zip(t.latency) {
                cumulative += count * k as u64;
                let bucket = format!(r#"{l},le="{le}""#);
                sample(
                    &mut out,
                    "modelops_request_duration_seconds_bucket",
                    &bucket,
                    cumulative,
                    k,
                );
            }
            sample(
                &mut out,
                "modelops_request_duration_seconds_count",
                &l,
                cumulative,
                k,
            );
            // The sum is not queried; any growing value will do.
            let sum = cumulative as f64 * 0.02;
            sample(
                &mut out,
                "modelops_request_duration_seconds_sum",
                &l,
                sum,
                k,
            );
        }
    }
    let gauges: [(&str, Base); 3] = [
        ("modelops_accuracy", |t| t.accuracy),
        ("modelops_conversion_rate", |t| t.conversion_rate),
        ("modelops_prediction_kl_divergence", |t| t.kl),
    ];
    for (name, base) in gauges {
        writeln!(out, "# TYPE {name} gauge").unwrap();
        for t in &VERSIONS {
            let l = labels(t.version);
            for k in 0..=MINUTES {
                sample(&mut out, name, &l, gauge(base(t), k), k);
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

fn provider(url: &str, queries: &[(&str, &str)]) -> PrometheusProvider {
    let config = PrometheusConfig {
        url: Some(url.to_string()),
        queries: queries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        preset: None,
    };
    PrometheusProvider::new("prom", &config).unwrap()
}

/// A query of `version`'s `signal` over the `minutes` before `end`.
fn query(version: &str, signal: &str, end: Timestamp, minutes: i64) -> MetricQuery {
    MetricQuery {
        model: MODEL.into(),
        version: version.into(),
        signal: Signal::from_name(signal),
        start: end - SignedDuration::from_mins(minutes),
        end,
    }
}

/// Requests a minute with a status code starting with `prefix`.
fn per_minute(t: &Traffic, prefix: &str) -> f64 {
    let codes = t.codes.iter().filter(|(code, _)| code.starts_with(prefix));
    codes.map(|(_, n)| *n as f64).sum()
}

/// `histogram_quantile` by hand: linear interpolation inside the bucket the
/// rank falls in (the lowest bucket starts at 0).
fn quantile(q: f64, per_bucket: &[u64]) -> f64 {
    let bounds: Vec<f64> = BUCKETS.iter().map(|b| b.parse().unwrap()).collect();
    let cumulative: Vec<u64> = per_bucket
        .iter()
        .scan(0, |c, n| {
            *c += n;
            Some(*c)
        })
        .collect();
    let rank = q * *cumulative.last().unwrap() as f64;
    let i = cumulative.iter().position(|&c| c as f64 >= rank).unwrap();
    let (lower, below) = if i == 0 {
        (0.0, 0)
    } else {
        (bounds[i - 1], cumulative[i - 1])
    };
    lower + (bounds[i] - lower) * (rank - below as f64) / (cumulative[i] - below) as f64
}

#[test]
fn default_queries_read_backfilled_series() {
    let Some(server) = Prometheus::backfilled(&openmetrics()) else {
        return;
    };
    // Half a minute after a sample, so the window holds whole minutes of
    // samples whatever the range selector's boundary rules.
    let at = Timestamp::from_second(END - 30).unwrap();
    // The samples a 60-minute window ending at `at` holds: minutes 180..=239.
    let window: Vec<i64> = (MINUTES - 60..MINUTES).collect();
    let mean =
        |base: f64| window.iter().map(|&k| gauge(base, k)).sum::<f64>() / window.len() as f64;
    let v2 = &VERSIONS[1];
    let v3 = &VERSIONS[2];

    // Credentials in the URL go as basic auth, which this server ignores.
    let with_credentials = server.url.replace("http://", "http://alice:s3cret@");
    let mut prom = provider(&with_credentials, &[]);
    assert_eq!(
        prom.describe(),
        format!("prometheus prom at {}", server.url)
    );
    let cases: Vec<(MetricQuery, Option<f64>)> = vec![
        // increase() over an hour of a counter growing a fixed amount a minute: 60 minutes' worth.
        (
            query("2", "requests", at, 60),
            Some(60.0 * per_minute(v2, "")),
        ),
        (
            query("3", "requests", at, 60),
            Some(60.0 * per_minute(v3, "")),
        ),
        (
            query("2", "requests", at, 120),
            Some(120.0 * per_minute(v2, "")),
        ),
        // 5xx only: 404 is the caller's error.
        (
            query("2", "errors", at, 60),
            Some(60.0 * per_minute(v2, "5")),
        ),
        (
            query("3", "errors", at, 60),
            Some(60.0 * per_minute(v3, "5")),
        ),
        (
            query("2", "latency_p99_ms", at, 60),
            Some(1000.0 * quantile(0.99, v2.latency)),
        ),
        (
            query("3", "latency_p99", at, 60),
            Some(1000.0 * quantile(0.99, v3.latency)),
        ),
        (query("2", "accuracy", at, 60), Some(mean(v2.accuracy))),
        (query("3", "accuracy", at, 60), Some(mean(v3.accuracy))),
        (
            query("3", "prediction_kl_divergence", at, 60),
            Some(mean(v3.kl)),
        ),
        (
            query("2", "conversion_rate", at, 60),
            Some(mean(v2.conversion_rate)),
        ),
        (
            query("3", "conversion_rate", at, 60),
            Some(mean(v3.conversion_rate)),
        ),
        // Version 1 served nothing: zero requests, and no p99 (NaN) rather than a number.
        (query("1", "requests", at, 60), Some(0.0)),
        (query("1", "latency_p99_ms", at, 60), None),
        // Windows without samples: before the series begin, and long after they end.
        (
            query("2", "requests", at - SignedDuration::from_hours(5), 60),
            None,
        ),
        (
            query(
                "2",
                "latency_p99_ms",
                at - SignedDuration::from_hours(5),
                60,
            ),
            None,
        ),
        (
            query("2", "accuracy", at + SignedDuration::from_hours(3), 60),
            None,
        ),
        (query("2", "refund_rate", at, 60), None),
        (query("4", "requests", at, 60), None),
    ];
    for (q, want) in cases {
        let got = prom.query(&q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        let close = match (got, want) {
            (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            (g, w) => g == w,
        };
        assert!(
            close,
            "{} of {}: got {got:?}, want {want:?}",
            q.signal.name(),
            q.version
        );
    }
    // By hand, the p99s fall in the buckets (50 ms, 100 ms] and (100 ms, 250 ms].
    let mut p99 = |v: &str| {
        prom.query(&query(v, "latency_p99_ms", at, 60))
            .unwrap()
            .unwrap()
    };
    let (p2, p3) = (p99("2"), p99("3"));
    assert!(
        50.0 < p2 && p2 <= 100.0 && 100.0 < p3 && p3 <= 250.0,
        "{p2} {p3}"
    );

    // Overrides, by signal name: one that counts only successes, one that
    // forgets to aggregate, one that is not PromQL.
    let success = r#"sum(increase(modelops_requests_total{model="{model}",version="{version}",code="200"}[{window}]))"#;
    let per_code =
        r#"increase(modelops_requests_total{model="{model}",version="{version}"}[{window}])"#;
    let mut prom = provider(
        &server.url,
        &[
            ("requests", success),
            ("errors", per_code),
            ("accuracy", "sum("),
        ],
    );
    let got = prom.query(&query("2", "requests", at, 60)).unwrap();
    assert_eq!(got.map(f64::round), Some(60.0 * 1000.0));
    let got = prom.query(&query("2", "latency_p99_ms", at, 60)).unwrap();
    assert!(
        got.is_some(),
        "signals without an override keep their default"
    );
    match prom.query(&query("2", "errors", at, 60)) {
        Err(MetricsError::Malformed(m)) => assert!(
            m.contains("returned 4 series") && m.contains("must aggregate to one series"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match prom.query(&query("2", "accuracy", at, 60)) {
        Err(MetricsError::Unavailable(m)) => {
            assert!(m.contains("bad_data") && m.contains("query: sum("), "{m}")
        }
        other => panic!("{other:?}"),
    }
    drop(server);
}

#[test]
fn an_unreachable_server_is_unavailable_without_credentials() {
    // A port nobody listens on: bound, then released.
    let port = free_port();
    let mut prom = provider(&format!("http://alice:s3cret@127.0.0.1:{port}/"), &[]);
    let at = Timestamp::from_second(END).unwrap();
    let e = prom.query(&query("2", "requests", at, 60)).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, MetricsError::Unavailable(_)), "{e:?}");
    assert!(m.starts_with(&format!("prometheus prom at http://127.0.0.1:{port}: requests of fraud-detector version 2: connection failed")), "{m}");
    assert!(!m.contains("s3cret") && !m.contains("alice"), "{m}");
}
