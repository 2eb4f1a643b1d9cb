//! Latency of a serving endpoint, for validation gates: one JSON payload
//! POSTed many times over a few threads, the failures counted, and
//! nearest-rank percentiles of the successful requests' wall times.
//!
//! Credentials in the endpoint URL (`user:password@`) are sent as basic
//! auth but never appear in a report or an error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::CONTENT_TYPE;

use crate::http::{ClientOptions, TransportError, redact};

pub use crate::state::LatencyReport;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchmarkSpec<'a> {
    /// An `http://` or `https://` URL; `user:password@` in it becomes basic auth.
    pub endpoint: &'a str,
    /// The request body, sent as `Content-Type: application/json`.
    pub payload: &'a [u8],
    /// How many requests to send in all; at least 1.
    pub requests: u32,
    /// How many are in flight at once; at least 1.
    pub concurrency: u32,
    /// Limit on each request, from connecting to the end of the body.
    pub timeout: Duration,
}

/// Why nothing could be measured. Each reads as a reason in a plan:
/// `benchmark of <endpoint>: <what went wrong>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BenchmarkError {
    /// The endpoint is not a usable http(s) URL.
    #[error("benchmark of {url}: invalid endpoint URL: {reason}")]
    InvalidUrl {
        /// The endpoint, without credentials.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Zero requests or zero concurrency.
    #[error(
        "benchmark of {url}: nothing to measure: requests and concurrency must be at least 1 \
         (got {requests} and {concurrency})"
    )]
    NothingToSend {
        /// The endpoint, without credentials.
        url: String,
        /// Requests asked for.
        requests: u32,
        /// Concurrency asked for.
        concurrency: u32,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("benchmark of {url}: cannot set up the HTTP client: {message}")]
    Client {
        /// The endpoint, without credentials.
        url: String,
        /// Why.
        message: String,
    },
    /// Every request failed, so there is no latency to report.
    #[error("benchmark of {url}: all {failed} requests failed; first: {first}")]
    AllFailed {
        /// The endpoint, without credentials.
        url: String,
        /// How many requests failed (all that were sent).
        failed: u32,
        /// The lowest-numbered request's failure, as in [`LatencyReport::first_error`].
        first: String,
    },
}

/// Sends `requests` POSTs of `payload` (Content-Type: application/json) to
/// `endpoint`, `concurrency` at a time (threads sharing a counter), measuring
/// each request's wall time from send to full body read.
///
/// The threads share one client, so connections are kept alive and reused as
/// a serving client would; each thread's first request includes connecting.
/// Redirects are not followed: a 3xx is a failure that names its status,
/// rather than a measurement of some other URL.
pub fn run(spec: &BenchmarkSpec) -> Result<LatencyReport, BenchmarkError> {
    let shown = redact::url(spec.endpoint);
    let url = parse_endpoint(spec.endpoint).map_err(|reason| BenchmarkError::InvalidUrl {
        url: shown.clone(),
        reason,
    })?;
    if spec.requests == 0 || spec.concurrency == 0 {
        return Err(BenchmarkError::NothingToSend {
            url: shown,
            requests: spec.requests,
            concurrency: spec.concurrency,
        });
    }
    let client = crate::http::client(&ClientOptions {
        connect_timeout: spec.timeout,
        ..ClientOptions::new(spec.timeout)
    })
    .map_err(|e| BenchmarkError::Client {
        url: shown.clone(),
        message: e.to_string(),
    })?;

    let next = AtomicU64::new(0);
    let progress =
        crate::progress::Progress::new("latency benchmark", u64::from(spec.requests), "requests");
    let threads = spec.concurrency.min(spec.requests);
    let outcomes: Vec<(u64, Result<f64, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= u64::from(spec.requests) {
                            return mine;
                        }
                        mine.push((index, send_one(&client, &url, spec)));
                        progress.add(1);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });

    let mut latencies = Vec::with_capacity(outcomes.len());
    let mut first_error: Option<(u64, String)> = None;
    for (index, outcome) in outcomes {
        match outcome {
            Ok(ms) => latencies.push(ms),
            Err(e) if first_error.as_ref().is_none_or(|(i, _)| index < *i) => {
                first_error = Some((index, e));
            }
            Err(_) => {}
        }
    }
    let failed = spec.requests - latencies.len() as u32;
    let first_error = first_error.map(|(_, e)| e);
    if latencies.is_empty() {
        return Err(BenchmarkError::AllFailed {
            url: shown,
            failed,
            first: first_error.unwrap_or_default(),
        });
    }
    latencies.sort_by(f64::total_cmp);
    Ok(LatencyReport {
        requests: spec.requests,
        failed,
        p50_ms: percentile(&latencies, 0.50),
        p95_ms: percentile(&latencies, 0.95),
        p99_ms: percentile(&latencies, 0.99),
        first_error,
    })
}

/// The nearest-rank `q`-quantile (0 < q <= 1) of ascending `sorted`:
/// `sorted[ceil(q * n) - 1]`, always one of the measured values. Ranks
/// outside `1..=n` are clamped; an empty slice gives NaN.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let exact = q * sorted.len() as f64;
    // 0.07 * 100 is 7.000000000000001 in floating point; its rank is 7, not 8.
    // That error is near n * 1e-16; a real fraction, with q given to a few
    // decimals, is far above this tolerance.
    let tolerance = 1e-12 * sorted.len().max(1000) as f64;
    let rank = if (exact - exact.round()).abs() < tolerance {
        exact.round()
    } else {
        exact.ceil()
    };
    let rank = (rank as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The endpoint as reqwest takes it, or why it is not usable.
fn parse_endpoint(endpoint: &str) -> Result<reqwest::Url, String> {
    // Checked before parsing: for `host:port/path` the parser says "relative
    // URL without a base", or takes the host for a scheme.
    let endpoint = endpoint.trim();
    let lower = endpoint.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err("it must start with http:// or https://".to_string());
    }
    reqwest::Url::parse(endpoint).map_err(|e| e.to_string())
}

/// One request: its wall time in milliseconds, or its failure in words.
fn send_one(client: &Client, url: &reqwest::Url, spec: &BenchmarkSpec) -> Result<f64, String> {
    let started = Instant::now();
    let response = client
        .post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(spec.payload.to_vec())
        .send()
        .map_err(|e| TransportError::of(&e, spec.timeout).to_string())?;
    let status = response.status();
    // The body is read to the end (a request is measured until then), and dropped.
    response
        .bytes()
        .map_err(|e| TransportError::of(&e, spec.timeout).to_string())?;
    let elapsed = started.elapsed();
    if status.is_success() {
        Ok(elapsed.as_secs_f64() * 1000.0)
    } else {
        Err(status_failure(status))
    }
}

/// A non-2xx answer in words: its status and a fixed reason,
/// `HTTP 500 Internal Server Error`. The body is never shown: it is the
/// server's text, and a plan (and its pull-request comment) must not carry
/// what an endpoint answers back.
fn status_failure(status: reqwest::StatusCode) -> String {
    TransportError::Refused {
        status: status.as_u16(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_the_nearest_rank() {
        // Values equal their rank, so each row names the rank it expects.
        let ranks = |n: usize| (1..=n).map(|r| r as f64).collect::<Vec<_>>();
        let cases = [
            (1, 0.50, 1.0),
            (1, 0.95, 1.0),
            (1, 0.99, 1.0),
            (2, 0.50, 1.0),
            (2, 0.99, 2.0),
            (100, 0.50, 50.0),
            (100, 0.95, 95.0),
            (100, 0.99, 99.0),
            (100, 0.07, 7.0),
            (100, 0.071, 8.0),
            (100, 1.0, 100.0),
            (100, 0.0, 1.0),
            (200, 0.50, 100.0),
            (200, 0.95, 190.0),
            (200, 0.99, 198.0),
            (200, 0.999, 200.0),
            (1000, 0.999, 999.0),
            (1000, 0.9991, 1000.0),
            (100_000, 0.99, 99_000.0),
            (100_000, 0.99001, 99_001.0),
            (199, 0.99, 198.0),
            (201, 0.99, 199.0),
        ];
        for (n, q, want) in cases {
            assert_eq!(percentile(&ranks(n), q), want, "n={n} q={q}");
        }
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn nothing_is_sent_for_an_unusable_spec() {
        let cases = [
            (
                "ftp://alice:s3cret@h/x",
                1,
                1,
                "benchmark of ftp://***@h/x: invalid endpoint URL: \
                 it must start with http:// or https://",
            ),
            (
                "alice:s3cret@h/x",
                1,
                1,
                "benchmark of ***@h/x: invalid endpoint URL: \
                 it must start with http:// or https://",
            ),
            (
                "127.0.0.1:8080/predict",
                1,
                1,
                "benchmark of 127.0.0.1:8080/predict: invalid endpoint URL: \
                 it must start with http:// or https://",
            ),
            (
                "http://127.0.0.1:99999/predict",
                1,
                1,
                "benchmark of http://127.0.0.1:99999/predict: invalid endpoint URL: invalid port number",
            ),
            (
                "http://u:p@127.0.0.1:9/predict",
                0,
                4,
                "benchmark of http://***@127.0.0.1:9/predict: nothing to measure: \
                 requests and concurrency must be at least 1 (got 0 and 4)",
            ),
            (
                "http://127.0.0.1:9/predict",
                10,
                0,
                "benchmark of http://127.0.0.1:9/predict: nothing to measure: \
                 requests and concurrency must be at least 1 (got 10 and 0)",
            ),
        ];
        for (endpoint, requests, concurrency, want) in cases {
            let spec = BenchmarkSpec {
                endpoint,
                payload: b"{}",
                requests,
                concurrency,
                timeout: Duration::from_secs(1),
            };
            let err = run(&spec).expect_err(endpoint);
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn failed_answers_are_named_by_status_only() {
        let cases = [
            (500, "HTTP 500 Internal Server Error"),
            (503, "HTTP 503 Service Unavailable"),
            (599, "HTTP 599"),
            (404, "HTTP 404 Not Found"),
        ];
        for (status, want) in cases {
            let status = reqwest::StatusCode::from_u16(status).unwrap();
            assert_eq!(status_failure(status), want);
        }
    }
}
