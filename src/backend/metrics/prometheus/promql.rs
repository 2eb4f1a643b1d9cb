//! The PromQL asked for each signal, as values: the default templates, the
//! `envoy` preset's, their expansion, and the instant query as a URL and
//! its parameters — all without a network.

use std::collections::BTreeMap;

use crate::backend::metrics::{MetricQuery, MetricsError, Signal};
use crate::backend::serving::envoy::{Role, cluster_name, stat_name};
use crate::manifest::config::MetricsPreset;
use jiff::Timestamp;

/// Requests served in the window: every status code.
pub const REQUESTS: &str =
    r#"sum(increase(modelops_requests_total{model="{model}",version="{version}"}[{window}]))"#;

/// Failed requests in the window: 5xx status codes (4xx are the caller's).
pub const ERRORS: &str = r#"sum(increase(modelops_requests_total{model="{model}",version="{version}",code=~"5.."}[{window}]))"#;

/// p99 latency in milliseconds, from the request-duration histogram (seconds).
pub const LATENCY_P99_MS: &str = r#"1000 * histogram_quantile(0.99, sum by (le) (rate(modelops_request_duration_seconds_bucket{model="{model}",version="{version}"}[{window}])))"#;

/// Mean of the accuracy gauge over the window.
pub const ACCURACY: &str =
    r#"avg_over_time(modelops_accuracy{model="{model}",version="{version}"}[{window}])"#;

/// Mean of the prediction KL-divergence gauge over the window.
pub const PREDICTION_KL: &str = r#"avg_over_time(modelops_prediction_kl_divergence{model="{model}",version="{version}"}[{window}])"#;

/// A business rate `R` (such as `conversion_rate`): mean of the gauge
/// `modelops_R` over the window; `{rate}` is `R` in a metric name's charset.
pub const RATE: &str =
    r#"avg_over_time(modelops_{rate}{model="{model}",version="{version}"}[{window}])"#;

/// The `envoy` preset: requests an envoy target's clusters for a version
/// sent upstream in the window, from Envoy's own stats. `{envoy_cluster}`
/// is the version's cluster as Envoy's stats name it; its shadow cluster
/// (`-shadow`) counts the copies a shadow rollout mirrors to it, so a
/// version is measured on what it served and what it was sent as a shadow.
pub const ENVOY_REQUESTS: &str = r#"sum(increase(envoy_cluster_upstream_rq_total{envoy_cluster_name=~"{envoy_cluster}(-shadow)?"}[{window}]))"#;

/// The `envoy` preset's failed requests: 5xx answers from the version's
/// upstream (Envoy's own 503 for a connection that failed included).
/// Envoy exports the 5xx series only after the first one, so while the
/// version served requests an absent series is 0 errors; with no requests
/// either it stays no data.
pub const ENVOY_ERRORS: &str = r#"sum(increase(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"{envoy_cluster}(-shadow)?",envoy_response_code_class="5"}[{window}])) or 0 * sum(increase(envoy_cluster_upstream_rq_total{envoy_cluster_name=~"{envoy_cluster}(-shadow)?"}[{window}]))"#;

/// The `envoy` preset's p99 latency: Envoy's upstream request time
/// histogram is in milliseconds already.
pub const ENVOY_LATENCY_P99_MS: &str = r#"histogram_quantile(0.99, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"{envoy_cluster}(-shadow)?"}[{window}])))"#;

/// The PromQL template for a signal: an override from `queries` (keyed by
/// signal, so `latency_p99` and `latency_p99_ms` are one key), else the
/// preset's, else the default. The `envoy` preset has the request, error
/// and latency signals; accuracy, prediction divergence and business
/// rates are the model server's and keep modelops's defaults.
pub fn template(
    signal: &Signal,
    overrides: &BTreeMap<Signal, String>,
    preset: Option<MetricsPreset>,
) -> String {
    if let Some(t) = overrides.get(signal) {
        return t.clone();
    }
    if preset == Some(MetricsPreset::Envoy) {
        match signal {
            Signal::Requests => return ENVOY_REQUESTS.to_string(),
            Signal::Errors => return ENVOY_ERRORS.to_string(),
            Signal::LatencyP99Ms => return ENVOY_LATENCY_P99_MS.to_string(),
            _ => {}
        }
    }
    match signal {
        Signal::Requests => REQUESTS.to_string(),
        Signal::Errors => ERRORS.to_string(),
        Signal::LatencyP99Ms => LATENCY_P99_MS.to_string(),
        Signal::Accuracy => ACCURACY.to_string(),
        Signal::PredictionKl => PREDICTION_KL.to_string(),
        Signal::Rate(name) => RATE.replace("{rate}", &metric_name_part(name)),
    }
}

/// `name` with every character outside `[A-Za-z0-9_]` replaced by `_`: a
/// metric name cannot hold `-` or `.`, and nothing else may reach the query.
pub fn metric_name_part(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The window of a query as a PromQL duration, `<seconds>s`, rounded up to
/// whole seconds; an empty or reversed window is an error (a caller's bug,
/// but not worth a panic).
pub fn window(q: &MetricQuery) -> Result<String, MetricsError> {
    let d = q.end.duration_since(q.start);
    let secs = d.as_secs() + i64::from(d.subsec_nanos() > 0);
    if secs <= 0 {
        return Err(MetricsError::Malformed(format!(
            "the window {} .. {} is empty",
            q.start, q.end
        )));
    }
    Ok(format!("{secs}s"))
}

/// Replaces `{model}`, `{version}`, `{window}` and `{envoy_cluster}` in one
/// pass, so a value can never be expanded again. Model and version are
/// escaped for a double-quoted PromQL string, where the templates put them;
/// `{envoy_cluster}` is the stats name of the cluster an envoy target
/// serves the version through (letters, digits, `_` and `-`, so it is
/// also a regular expression matching itself); other braces (label
/// matchers) are left alone.
pub fn expand(template: &str, model: &str, version: &str, window: &str) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let value = [
            ("{model}", escape(model)),
            ("{version}", escape(version)),
            ("{window}", window.to_string()),
            (
                "{envoy_cluster}",
                stat_name(&cluster_name(model, version, Role::Serve)),
            ),
        ]
        .into_iter()
        .find(|(key, _)| after.starts_with(key));
        match value {
            Some((key, v)) => {
                out.push_str(&v);
                rest = &after[key.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str(r"\n"),
            c => out.push(c),
        }
    }
    out
}

/// One instant query, ready to send: `GET url?query=…&time=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstantQuery {
    /// `<base>/api/v1/query`; the base never holds credentials.
    pub url: String,
    /// `query` and `time`, not yet URL-encoded.
    pub params: Vec<(&'static str, String)>,
}

/// The query for `promql` evaluated at `time` (Unix seconds, with a fraction
/// only when `time` has one), against a server at `base`, which may have a
/// path prefix (`http://host/prometheus`).
pub fn instant_query(base: &str, promql: String, time: Timestamp) -> InstantQuery {
    let nanos = time.subsec_nanosecond();
    let time = if nanos == 0 {
        time.as_second().to_string()
    } else {
        // Unix seconds with the fraction, for `time` after 1970 (as_second
        // floors, so the fraction is positive).
        let s = format!(
            "{}.{:09}",
            time.as_second(),
            nanos.rem_euclid(1_000_000_000)
        );
        s.trim_end_matches('0').to_string()
    };
    InstantQuery {
        url: format!("{}/api/v1/query", base.trim_end_matches('/')),
        params: vec![("query", promql), ("time", time)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn query(signal: Signal, start: &str, end: &str) -> MetricQuery {
        MetricQuery {
            model: "fraud-detector".into(),
            version: "3".into(),
            signal,
            start: at(start),
            end: at(end),
        }
    }

    #[test]
    fn templates_expand_per_signal() {
        let overrides: BTreeMap<Signal, String> = [
            (
                Signal::from_name("latency_p99"),
                "max(p99_ms{app=\"{model}\",v=\"{version}\"})".to_string(),
            ),
            (
                Signal::Rate("refund_rate".into()),
                "sum(rate(refunds{model=\"{model}\"}[{window}]))".to_string(),
            ),
        ]
        .into();
        let none = BTreeMap::new();
        let m = r#"model="fraud-detector",version="3""#;
        let cases: Vec<(Signal, &BTreeMap<Signal, String>, String)> = vec![
            (
                Signal::Requests,
                &none,
                format!("sum(increase(modelops_requests_total{{{m}}}[3600s]))"),
            ),
            (
                Signal::Errors,
                &none,
                format!("sum(increase(modelops_requests_total{{{m},code=~\"5..\"}}[3600s]))"),
            ),
            (
                Signal::LatencyP99Ms,
                &none,
                format!(
                    "1000 * histogram_quantile(0.99, sum by (le) \
                     (rate(modelops_request_duration_seconds_bucket{{{m}}}[3600s])))"
                ),
            ),
            (
                Signal::Accuracy,
                &none,
                format!("avg_over_time(modelops_accuracy{{{m}}}[3600s])"),
            ),
            (
                Signal::PredictionKl,
                &none,
                format!("avg_over_time(modelops_prediction_kl_divergence{{{m}}}[3600s])"),
            ),
            (
                Signal::Rate("conversion_rate".into()),
                &none,
                format!("avg_over_time(modelops_conversion_rate{{{m}}}[3600s])"),
            ),
            // A rate's name is made a metric name: nothing else reaches the query.
            (
                Signal::Rate("add-to-cart.rate\"}) or vector(1".into()),
                &none,
                format!("avg_over_time(modelops_add_to_cart_rate____or_vector_1{{{m}}}[3600s])"),
            ),
            // Overrides: by alias, and for a named rate; other signals keep defaults.
            (
                Signal::LatencyP99Ms,
                &overrides,
                r#"max(p99_ms{app="fraud-detector",v="3"})"#.to_string(),
            ),
            (
                Signal::Rate("refund_rate".into()),
                &overrides,
                r#"sum(rate(refunds{model="fraud-detector"}[3600s]))"#.to_string(),
            ),
            (
                Signal::Accuracy,
                &overrides,
                format!("avg_over_time(modelops_accuracy{{{m}}}[3600s])"),
            ),
        ];
        for (signal, overrides, want) in cases {
            let q = query(
                signal.clone(),
                "2026-11-25T00:00:00Z",
                "2026-11-25T01:00:00Z",
            );
            let got = expand(
                &template(&signal, overrides, None),
                &q.model,
                &q.version,
                &window(&q).unwrap(),
            );
            assert_eq!(got, want, "{signal:?}");
        }
    }

    #[test]
    fn the_envoy_preset_reads_the_versions_clusters() {
        let overrides: BTreeMap<Signal, String> = [(
            Signal::LatencyP99Ms,
            "max(p99{c=\"{envoy_cluster}\"})".to_string(),
        )]
        .into();
        let none = BTreeMap::new();
        let c = r#"envoy_cluster_name=~"fraud-detector-v1_4_0-rc_1(-shadow)?""#;
        let total = format!("sum(increase(envoy_cluster_upstream_rq_total{{{c}}}[3600s]))");
        let envoy = Some(MetricsPreset::Envoy);
        let cases: Vec<(Signal, &BTreeMap<Signal, String>, String)> = vec![
            (Signal::Requests, &none, total.clone()),
            (
                Signal::Errors,
                &none,
                format!(
                    "sum(increase(envoy_cluster_upstream_rq_xx{{{c},envoy_response_code_class=\"5\"}}[3600s])) \
                     or 0 * {total}"
                ),
            ),
            (
                Signal::LatencyP99Ms,
                &none,
                format!(
                    "histogram_quantile(0.99, sum by (le) \
                     (rate(envoy_cluster_upstream_rq_time_bucket{{{c}}}[3600s])))"
                ),
            ),
            // Signals Envoy does not measure keep modelops's defaults.
            (
                Signal::Accuracy,
                &none,
                r#"avg_over_time(modelops_accuracy{model="fraud-detector",version="1.4.0-rc.1"}[3600s])"#
                    .to_string(),
            ),
            // Explicit queries win over the preset.
            (
                Signal::LatencyP99Ms,
                &overrides,
                r#"max(p99{c="fraud-detector-v1_4_0-rc_1"})"#.to_string(),
            ),
        ];
        for (signal, overrides, want) in cases {
            let got = expand(
                &template(&signal, overrides, envoy),
                "fraud-detector",
                "1.4.0-rc.1",
                "3600s",
            );
            assert_eq!(got, want, "{signal:?}");
        }
    }

    #[test]
    fn expansion_is_one_pass_and_escapes_label_values() {
        let cases = [
            // (template, model, version, expected)
            ("{model}/{version}/{window}", "m", "1", "m/1/60s"),
            ("{model}", "{version}", "1", "{version}"),
            (r#"x{a="{model}"}"#, r#"a"b\c"#, "1", r#"x{a="a\"b\\c"}"#),
            ("{unknown} {model", "m", "1", "{unknown} {model"),
            ("sum(x{l=\"v\"}) {", "m", "1", "sum(x{l=\"v\"}) {"),
            ("", "m", "1", ""),
        ];
        for (template, model, version, want) in cases {
            assert_eq!(expand(template, model, version, "60s"), want, "{template}");
        }
    }

    #[test]
    fn windows_are_whole_seconds() {
        let cases = [
            (
                "2026-11-25T00:00:00Z",
                "2026-11-25T01:00:00Z",
                Some("3600s"),
            ),
            (
                "2026-11-25T00:00:00Z",
                "2026-11-25T00:01:30.2Z",
                Some("91s"),
            ),
            (
                "2026-11-25T00:00:00Z",
                "2026-11-26T00:00:00Z",
                Some("86400s"),
            ),
            ("2026-11-25T00:00:00Z", "2026-11-25T00:00:00Z", None),
            ("2026-11-25T01:00:00Z", "2026-11-25T00:00:00Z", None),
        ];
        for (start, end, want) in cases {
            let got = window(&query(Signal::Requests, start, end)).ok();
            assert_eq!(got.as_deref(), want, "{start} .. {end}");
        }
    }

    #[test]
    fn instant_queries_carry_the_query_and_the_end_as_unix_seconds() {
        let cases = [
            (
                "http://127.0.0.1:9090",
                "2026-11-25T00:00:00Z",
                "http://127.0.0.1:9090/api/v1/query",
                "1795564800",
            ),
            (
                "http://h/prometheus/",
                "2026-11-25T00:00:00.25Z",
                "http://h/prometheus/api/v1/query",
                "1795564800.25",
            ),
            (
                "https://h",
                "1970-01-01T00:00:01.000000001Z",
                "https://h/api/v1/query",
                "1.000000001",
            ),
        ];
        for (base, time, url, secs) in cases {
            let q = instant_query(base, "up".into(), at(time));
            assert_eq!(
                q,
                InstantQuery {
                    url: url.into(),
                    params: vec![("query", "up".into()), ("time", secs.into())],
                },
                "{base} {time}"
            );
        }
    }
}
