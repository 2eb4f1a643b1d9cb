//! The latency benchmark against a small HTTP/1.1 server inside the test,
//! whose answer to each request (delay, status) is fixed by the order the
//! requests arrive in, so the percentiles it must report are known.
//!
//! The server's delays are real sleeps: wall-clock latency is what the
//! benchmark measures, so there is no clock to inject. Assertions take the
//! delays as exact lower bounds and allow tens of milliseconds above them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelops::backend::benchmark::{self, BenchmarkError, BenchmarkSpec, LatencyReport};

use crate::e2e::http::{self, Response};
use crate::e2e::servers::free_port;

/// How the server answers one request.
struct Answer {
    delay_ms: u64,
    status: u16,
    body: &'static str,
}

/// What the server received in one request.
#[derive(Debug, Clone, PartialEq)]
struct Received {
    request_line: String,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// A server on a free loopback port; it lives until the test binary exits.
struct Server {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    /// Answers the `n`th request to arrive (from 0) with `answer(n)`, one
    /// thread per connection, keeping connections alive.
    fn start(answer: fn(usize) -> Answer) -> Server {
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let arrivals = AtomicUsize::new(0);
        let server = http::Server::start(move |r| {
            let header = |name| r.header(name).map(str::to_string);
            seen.lock().unwrap().push(Received {
                request_line: r.line.clone(),
                content_type: header("content-type"),
                authorization: header("authorization"),
                body: r.body.clone(),
            });
            let answer = answer(arrivals.fetch_add(1, Ordering::SeqCst));
            Response {
                status: format!(
                    "{} {}",
                    answer.status,
                    if answer.status == 200 { "OK" } else { "Error" }
                ),
                headers: vec![("Content-Type", "text/plain".into())],
                delay: Duration::from_millis(answer.delay_ms),
                ..Response::ok(answer.body)
            }
        });
        Server {
            port: server.port,
            received,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/predict", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn spec<'a>(endpoint: &'a str, requests: u32, concurrency: u32) -> BenchmarkSpec<'a> {
    BenchmarkSpec {
        endpoint,
        payload: br#"{"inputs": [[1.0, 2.0]]}"#,
        requests,
        concurrency,
        timeout: Duration::from_secs(5),
    }
}

fn ok_after(delay_ms: u64) -> Answer {
    Answer {
        delay_ms,
        status: 200,
        body: r#"{"predictions": [0.5]}"#,
    }
}

/// Asserts `low <= value < high`.
fn assert_between(what: &str, value: f64, (low, high): (f64, f64), report: &LatencyReport) {
    assert!(
        (low..high).contains(&value),
        "{what} = {value:.1} ms, want [{low}, {high}) ms: {report:?}"
    );
}

/// Of 200 requests the `n`th gets the delay of rank `slot(n)` (37 is prime
/// to 200, so every rank once, slow ones spread over the run). The ranks are
/// chosen so that an off-by-one rank lands on another delay: nearest rank
/// puts p50 at rank 100, p95 at 190 and p99 at 198 (ceil(0.99 * 200)). A
/// percentile is then right if it lies between its delay and the next one.
fn tiered(n: usize) -> Answer {
    let rank = (n * 37) % 200 + 1;
    ok_after(match rank {
        1..=100 => 10,
        101..=190 => 100,
        191..=197 => 200,
        198 => 400,
        _ => 800,
    })
}

#[test]
fn percentiles_fall_on_the_nearest_ranks() {
    let server = Server::start(tiered);
    let url = server.url();
    let started = Instant::now();
    let report = benchmark::run(&spec(&url, 200, 8)).expect("a report");
    eprintln!(
        "200 requests, 8 at a time, in {:?}: {report:?}",
        started.elapsed()
    );

    assert_eq!((report.requests, report.failed), (200, 0), "{report:?}");
    assert_eq!(report.first_error, None);
    // The gaps between delays leave room for a loaded 2-core machine (the
    // suite runs nginx, Prometheus and MLflow tests beside this one).
    assert_between("p50", report.p50_ms, (10.0, 100.0), &report);
    assert_between("p95", report.p95_ms, (100.0, 200.0), &report);
    assert_between("p99", report.p99_ms, (400.0, 800.0), &report);
    assert_eq!(server.received().len(), 200);
}

/// 12 of 20 requests are refused at once, the rest answered after 30 ms.
fn mostly_refused(n: usize) -> Answer {
    if n % 5 < 3 {
        Answer {
            delay_ms: 0,
            status: 500,
            body: "model not\n loaded",
        }
    } else {
        ok_after(30)
    }
}

#[test]
fn failed_answers_are_counted_and_left_out_of_the_percentiles() {
    let server = Server::start(mostly_refused);
    let url = server.url();
    let report = benchmark::run(&spec(&url, 20, 4)).expect("a report");
    eprintln!("{report:?}");

    assert_eq!((report.requests, report.failed), (20, 12), "{report:?}");
    // The status, never the server's body ("model not loaded").
    assert_eq!(
        report.first_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    // Were the instant failures counted, p50 (rank 10 of 20) would be one.
    assert_between("p50", report.p50_ms, (30.0, 70.0), &report);
    assert_between("p99", report.p99_ms, (30.0, 70.0), &report);
}

/// The first two requests to arrive get no answer in time.
fn two_stalled(n: usize) -> Answer {
    ok_after(if n < 2 { 1_000 } else { 0 })
}

#[test]
fn a_request_without_an_answer_in_time_is_a_failure() {
    let server = Server::start(two_stalled);
    let url = server.url();
    let spec = BenchmarkSpec {
        timeout: Duration::from_millis(200),
        ..spec(&url, 4, 4)
    };
    let report = benchmark::run(&spec).expect("a report");
    eprintln!("{report:?}");

    assert_eq!((report.requests, report.failed), (4, 2), "{report:?}");
    assert_eq!(
        report.first_error.as_deref(),
        Some("no answer within 200 ms")
    );
    assert_between("p99", report.p99_ms, (0.0, 40.0), &report);
}

#[test]
fn a_closed_port_is_an_error_that_names_the_url_without_credentials() {
    // A port that was just free: nothing listens there.
    let port = free_port();
    let url = format!("http://alice:s3cret@127.0.0.1:{port}/predict");
    let err = benchmark::run(&spec(&url, 5, 2)).expect_err("nothing listens");

    assert!(
        matches!(err, BenchmarkError::AllFailed { failed: 5, .. }),
        "{err:?}"
    );
    let text = err.to_string().replace(&port.to_string(), "PORT");
    insta::assert_snapshot!(
        text,
        @"benchmark of http://***@127.0.0.1:PORT/predict: all 5 requests failed; first: connection failed: connection refused"
    );
}

#[test]
fn the_server_receives_the_payload_exactly_with_the_url_credentials() {
    let server = Server::start(|_| ok_after(0));
    let url = format!("http://alice:s3cret@127.0.0.1:{}/predict?v=1", server.port);
    let payload = "{\"inputs\": [[1.5, -2e-3]], \"note\": \"naïve ✓\"}\n".as_bytes();
    let spec = BenchmarkSpec {
        payload,
        ..spec(&url, 3, 2)
    };
    let report = benchmark::run(&spec).expect("a report");
    assert_eq!((report.requests, report.failed), (3, 0), "{report:?}");

    let want = Received {
        request_line: "POST /predict?v=1 HTTP/1.1".into(),
        content_type: Some("application/json".into()),
        // base64("alice:s3cret")
        authorization: Some("Basic YWxpY2U6czNjcmV0".into()),
        body: payload.to_vec(),
    };
    assert_eq!(server.received(), vec![want.clone(), want.clone(), want]);
}
