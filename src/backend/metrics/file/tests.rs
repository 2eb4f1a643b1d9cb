//! The file provider's semantics, its errors, and the example repository's
//! observations.

use std::path::PathBuf;

use super::*;

const FIXTURE: &str = r#"
models:
  m:
    "1":
      requests: [["2026-11-25T01:00:00Z", 100], ["2026-11-25T02:00:00Z", 300], ["2026-11-25T03:00:00Z", 0]]
      errors: [["2026-11-25T02:00:00Z", 2], ["2026-11-25T01:00:00Z", 1]]
      latency_p99: [["2026-11-25T01:00:00Z", 30], ["2026-11-25T03:00:00+01:00", 45.5], ["2026-11-25T03:00:00Z", 20]]
      accuracy: [["2026-11-25T01:00:00Z", 0.9], ["2026-11-25T02:00:00Z", 0.8]]
      conversion_rate: [["2026-11-25T01:00:00Z", 0.04], ["2026-11-25T04:00:00Z", 0.05]]
      prediction_kl_divergence: [["2026-11-25T03:00:00Z", 0.2]]
    2:
      requests: [["2026-11-25T01:00:00Z", 7]]
"#;

/// A file with `text` in a temporary directory (kept alive by the returned guard).
fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn query(model: &str, version: &str, signal: &str, start: &str, end: &str) -> MetricQuery {
    let at = |t: &str| format!("2026-11-25T{t}:00Z").parse().unwrap();
    MetricQuery {
        model: model.into(),
        version: version.into(),
        signal: Signal::from_name(signal),
        start: at(start),
        end: at(end),
    }
}

#[test]
fn queries_aggregate_the_samples_in_the_window() {
    let (_dir, path) = file("observations.yaml", FIXTURE);
    let mut provider = at("obs", &path);
    // (model, version, signal, window start, window end, value)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );
    let cases: [(Case, Option<f64>); 18] = [
        // Counts are summed over (start, end].
        (("m", "1", "requests", "00:00", "03:00"), Some(400.0)),
        (("m", "1", "requests", "01:00", "02:00"), Some(300.0)),
        (("m", "1", "requests", "00:00", "01:00"), Some(100.0)),
        (("m", "1", "errors", "00:00", "03:00"), Some(3.0)),
        // The largest p99; a sample's offset is honoured (03:00+01:00 is 02:00Z).
        (("m", "1", "latency_p99_ms", "00:00", "03:00"), Some(45.5)),
        (("m", "1", "latency_p99_ms", "02:00", "03:00"), Some(20.0)),
        (("m", "1", "latency_p99", "01:30", "02:00"), Some(45.5)),
        // Weighted by requests at the same times: (0.9·100 + 0.8·300) / 400.
        (("m", "1", "accuracy", "00:00", "02:00"), Some(0.825)),
        (("m", "1", "accuracy", "01:00", "02:00"), Some(0.8)),
        // 04:00 has no requests sample: a plain mean.
        (("m", "1", "conversion_rate", "00:00", "05:00"), Some(0.045)),
        (("m", "1", "conversion_rate", "00:00", "02:00"), Some(0.04)),
        // Requests are all zero: a plain mean.
        (
            ("m", "1", "prediction_distribution", "02:00", "03:00"),
            Some(0.2),
        ),
        // An unquoted version key reads as the same version.
        (("m", "2", "requests", "00:00", "03:00"), Some(7.0)),
        // No data: an empty window, or no series.
        (("m", "1", "requests", "03:00", "06:00"), None),
        (("m", "1", "accuracy", "02:00", "03:00"), None),
        (("m", "3", "requests", "00:00", "03:00"), None),
        (("other", "1", "requests", "00:00", "03:00"), None),
        (("m", "1", "add_to_cart_rate", "00:00", "03:00"), None),
    ];
    for ((model, version, signal, start, end), want) in cases {
        let q = query(model, version, signal, start, end);
        let got = provider.query(&q).unwrap();
        let close = match (got, want) {
            (Some(g), Some(w)) => (g - w).abs() < 1e-12,
            (g, w) => g == w,
        };
        assert!(
            close,
            "{model} {version} {signal} ({start}, {end}]: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn json_reads_like_yaml() {
    let json = r#"{"models": {"m": {"1": {
        "requests": [["2026-11-25T01:00:00Z", 100], ["2026-11-25T02:00:00Z", 300]],
        "accuracy": [["2026-11-25T01:00:00Z", 0.9], ["2026-11-25T02:00:00Z", 0.8]]}}}}"#;
    let (_dir, path) = file("observations.json", json);
    let mut provider = at("obs", &path);
    let cases = [("requests", 400.0), ("accuracy", 0.825)];
    for (signal, want) in cases {
        let got = provider
            .query(&query("m", "1", signal, "00:00", "02:00"))
            .unwrap();
        assert!((got.unwrap() - want).abs() < 1e-12, "{signal}: {got:?}");
    }
}

#[test]
fn the_file_is_read_once_on_the_first_query() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.yaml");
    let mut provider = at("obs", &path);
    assert_eq!(
        provider.describe(),
        format!("file provider obs ({})", path.display())
    );
    std::fs::write(&path, FIXTURE).unwrap();
    let q = query("m", "1", "requests", "00:00", "03:00");
    assert_eq!(provider.query(&q).unwrap(), Some(400.0));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        provider.query(&q).unwrap(),
        Some(400.0),
        "kept after the first read"
    );
}

#[test]
fn broken_files_are_errors_naming_the_file_and_the_fault() {
    let series = |s: &str| format!("models:\n  m:\n    \"1\":\n{s}\n");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "o.yaml",
            series(r#"      requests: [["yesterday", 1]]"#),
            r#"models.m."1".requests[0]: time "yesterday" is not RFC 3339"#,
        ),
        (
            "o.yaml",
            series(r#"      errors: [["2026-11-25T01:00:00Z", -1]]"#),
            r#"models.m."1".errors[0]: a count cannot be negative (-1)"#,
        ),
        (
            "o.yaml",
            series(
                r#"      accuracy: [["2026-11-25T01:00:00Z", 0.9], ["2026-11-25T01:00:00Z", 0.8]]"#,
            ),
            r#"models.m."1".accuracy: two samples at 2026-11-25T01:00:00Z"#,
        ),
        (
            "o.yaml",
            series("      latency_p99: []\n      latency_p99_ms: []"),
            r#"models.m."1" has two series for latency_p99_ms"#,
        ),
        (
            "o.yaml",
            series(r#"      accuracy: [["2026-11-25T01:00:00Z", .nan]]"#),
            r#"models.m."1".accuracy[0]: NaN is not a number"#,
        ),
        (
            "o.yaml",
            series(r#"      accuracy: [["2026-11-25T01:00:00Z", "high"]]"#),
            "o.yaml:4:",
        ),
        (
            "o.yaml",
            series(r#"      accuracy: [["2026-11-25T01:00:00Z"]]"#),
            "o.yaml:4:",
        ),
        (
            "o.yaml",
            "model: {}\n".into(),
            "o.yaml:1:1: unknown field `model`",
        ),
        (
            "o.yaml",
            "models: {m: {\"1\": {}, \"1\": {}}}\n".into(),
            "duplicate key `1`",
        ),
        ("o.yaml", "models: [\n".into(), "o.yaml:"),
        (
            "o.json",
            r#"{"models": {"m": 1}}"#.into(),
            "o.json: invalid type: integer `1`, expected a map at line 1 column 18",
        ),
        (
            "o.txt",
            FIXTURE.into(),
            "o.txt: the name must end in .yaml, .yml or .json",
        ),
        ("o.yaml", "\u{0}\u{ff}\u{fe}".into(), "o.yaml:"),
    ];
    for (name, text, want) in cases {
        let (_dir, path) = file(name, &text);
        let mut provider = at("obs", &path);
        let e = provider
            .query(&query("m", "1", "requests", "00:00", "03:00"))
            .unwrap_err();
        assert!(matches!(e, MetricsError::Malformed(_)), "{text}: {e:?}");
        let e = e.to_string();
        assert!(e.starts_with("observations file "), "{e}");
        assert!(e.contains(want), "{text}\n  got: {e}\n want: {want}");
    }

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("observations.yaml");
    let e = at("obs", &missing)
        .query(&query("m", "1", "requests", "00:00", "03:00"))
        .unwrap_err();
    assert!(matches!(e, MetricsError::Unavailable(_)), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "observations file {}: cannot read it",
            missing.display()
        )),
        "{e}"
    );
}

/// The example repository's observations: every serving version measured in
/// every hour of the two weeks, and healthy against the example's own
/// thresholds, so its rollouts succeed as time advances.
#[test]
fn the_example_observations_are_complete_and_healthy() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("example-repo/observations.yaml");
    let mut provider = at("observations", &path);
    let start: Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
    let mut value = |model: &str, version: &str, signal: &str, from: Timestamp, hours: i64| {
        let q = MetricQuery {
            model: model.into(),
            version: version.into(),
            signal: Signal::from_name(signal),
            start: from,
            end: from + jiff::SignedDuration::from_hours(hours),
        };
        provider.query(&q).unwrap()
    };

    // Every hour: (model, baseline, candidate, max error rate, latency SLA ms,
    // max latency increase ms, max accuracy drop, max KL).
    let rollouts = [
        ("churn-predictor", "2", "3", 0.001, 100.0, 20.0, 0.02, 0.1),
        ("fraud-detector", "2", "3", 0.001, 50.0, 20.0, 0.01, 0.1),
        (
            "recommendation-ranker",
            "1",
            "2",
            0.001,
            100.0,
            20.0,
            0.02,
            0.1,
        ),
    ];
    for (model, base, candidate, max_errors, sla, max_slower, max_drop, max_kl) in rollouts {
        // fraud-detector's canary starts with the second hour.
        let first = if model == "fraud-detector" { 1 } else { 0 };
        for h in first..14 * 24 {
            let from = start + jiff::SignedDuration::from_hours(h);
            let at = format!(
                "{model} hour ending {}",
                from + jiff::SignedDuration::from_hours(1)
            );
            let mut get = |version: &str, signal: &str| {
                value(model, version, signal, from, 1)
                    .unwrap_or_else(|| panic!("{at}: no {signal} for version {version}"))
            };
            let (b_req, c_req) = (get(base, "requests"), get(candidate, "requests"));
            assert!(
                c_req >= 1000.0,
                "{at}: {c_req} requests (min_requests 1000)"
            );
            let (b_err, c_err) = (
                get(base, "errors") / b_req,
                get(candidate, "errors") / c_req,
            );
            assert!(
                b_err < max_errors && c_err < max_errors,
                "{at}: error rates {b_err} {c_err}"
            );
            assert!(c_err - b_err < 0.005, "{at}: error rate increase");
            let (b_p99, c_p99) = (
                get(base, "latency_p99_ms"),
                get(candidate, "latency_p99_ms"),
            );
            assert!(b_p99 < sla && c_p99 < sla, "{at}: p99 {b_p99} {c_p99}");
            assert!(c_p99 - b_p99 < max_slower, "{at}: p99 increase");
            let (b_acc, c_acc) = (get(base, "accuracy"), get(candidate, "accuracy"));
            assert!(
                b_acc - c_acc < max_drop,
                "{at}: accuracy {b_acc} -> {c_acc}"
            );
            let kl = get(candidate, "prediction_kl_divergence");
            assert!(
                kl < max_kl && get(base, "prediction_kl_divergence") < max_kl,
                "{at}: KL {kl}"
            );
        }
    }

    // The canary's first hour is 5% of fraud-detector's traffic.
    let (v2, v3) = (
        value("fraud-detector", "2", "requests", start, 1).unwrap(),
        value("fraud-detector", "3", "requests", start, 1).unwrap(),
    );
    assert!((v3 / (v2 + v3) - 0.05).abs() < 0.001, "{v2} {v3}");

    // The A/B test over its 14 days: version 2 converts better, significantly
    // (two-proportion z-test at 95%), with far more than 10000 requests per arm.
    let two_weeks = 14 * 24;
    let n1 = value("recommendation-ranker", "1", "requests", start, two_weeks).unwrap();
    let n2 = value("recommendation-ranker", "2", "requests", start, two_weeks).unwrap();
    let p1 = value(
        "recommendation-ranker",
        "1",
        "conversion_rate",
        start,
        two_weeks,
    )
    .unwrap();
    let p2 = value(
        "recommendation-ranker",
        "2",
        "conversion_rate",
        start,
        two_weeks,
    )
    .unwrap();
    assert!(n1 > 10_000.0 && n2 > 10_000.0, "{n1} {n2}");
    assert!(
        (p1 - 0.041).abs() < 0.001 && (p2 - 0.044).abs() < 0.001,
        "{p1} {p2}"
    );
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p2 - p1) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    assert!(z > 1.96, "z = {z}");
}

/// The provider reading `path`, in the repository that is its folder.
fn at(name: &str, path: &std::path::Path) -> FileProvider {
    let file = path.file_name().unwrap().to_str().unwrap();
    FileProvider::new(name, path.parent().unwrap(), file)
}
