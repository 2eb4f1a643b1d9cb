//! The `prometheus` metrics provider: one instant query per signal against a
//! Prometheus server's HTTP API, `GET <url>/api/v1/query?query=…&time=<end>`.
//!
//! Each signal has a default PromQL template, which `queries` in
//! `modelops.yaml` overrides by signal name (see [`promql`] for the
//! constants). `{model}` and `{version}` are replaced by the version's labels
//! (escaped for a double-quoted string), `{window}` by the window's length as
//! `<seconds>s`; the query is evaluated at the window's end.
//!
//! | signal | default PromQL |
//! |---|---|
//! | `requests` | `sum(increase(modelops_requests_total{model="{model}",version="{version}"}[{window}]))` |
//! | `errors` | `sum(increase(modelops_requests_total{model="{model}",version="{version}",code=~"5.."}[{window}]))` |
//! | `latency_p99_ms` | `1000 * histogram_quantile(0.99, sum by (le) (rate(modelops_request_duration_seconds_bucket{model="{model}",version="{version}"}[{window}])))` |
//! | `accuracy` | `avg_over_time(modelops_accuracy{model="{model}",version="{version}"}[{window}])` |
//! | `prediction_kl_divergence` | `avg_over_time(modelops_prediction_kl_divergence{model="{model}",version="{version}"}[{window}])` |
//! | a rate `R` | `avg_over_time(modelops_R{model="{model}",version="{version}"}[{window}])`, `R` with characters outside `[A-Za-z0-9_]` as `_` |
//!
//! `preset: envoy` replaces the `requests`, `errors` and `latency_p99_ms`
//! defaults with queries over Envoy's own cluster stats
//! (`envoy_cluster_upstream_rq_total`, `envoy_cluster_upstream_rq_xx`,
//! `envoy_cluster_upstream_rq_time_bucket`), by the cluster an envoy target
//! gives the version (`{envoy_cluster}`, see [`promql::ENVOY_REQUESTS`]);
//! `queries` still override them.
//!
//! A query must come down to one number: an empty vector is no data
//! (`Ok(None)`), as is NaN (`histogram_quantile` over a window without
//! requests); more than one series is an error, never a guess. Credentials in
//! the URL (`https://user:password@host`) are sent as basic auth and appear in
//! no message.

pub mod answer;
pub mod promql;

use std::collections::BTreeMap;
use std::time::Duration;

use super::{MetricQuery, MetricsError, MetricsProvider, Signal, Unanswered, Unavailable};
use crate::http::url::ServerUrl;
use crate::http::{ClientOptions, TransportError, redact};
use crate::manifest::config::{MetricsPreset, PrometheusConfig};
use promql::InstantQuery;

/// How long one query may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A Prometheus server answering queries for rollout analysis.
pub struct PrometheusProvider {
    name: String,
    /// URL without credentials or trailing `/`: safe to print.
    base: String,
    /// Basic-auth user and password taken out of the URL.
    auth: Option<(String, String)>,
    /// `queries` from the configuration, by the signal they name.
    overrides: BTreeMap<Signal, String>,
    /// The defaults `preset` names instead of modelops's own.
    preset: Option<MetricsPreset>,
    /// Built on the first query: a plan that reads no metrics starts no
    /// HTTP client.
    http: Option<reqwest::blocking::Client>,
}

impl std::fmt::Debug for PrometheusProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusProvider")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("auth", &self.auth.as_ref().map(|(user, _)| (user, "***")))
            .field("overrides", &self.overrides)
            .field("preset", &self.preset)
            .finish()
    }
}

impl PrometheusProvider {
    /// The provider `name` as configured: `url` is required and must be
    /// http(s); `queries` are keyed by signal names (aliases such as
    /// `latency_p99` count as their signal).
    pub fn new(name: &str, config: &PrometheusConfig) -> Result<PrometheusProvider, MetricsError> {
        let url = config.url.as_deref().ok_or_else(|| {
            MetricsError::unavailable(format!(
                "metrics provider {name}: type prometheus needs a url"
            ))
        })?;
        let (base, auth) = split_credentials(url)
            .map_err(|why| MetricsError::unavailable(format!("metrics provider {name}: {why}")))?;
        let overrides = config
            .queries
            .iter()
            .map(|(signal, template)| (Signal::from_name(signal), template.clone()))
            .collect();
        Ok(PrometheusProvider {
            name: name.to_string(),
            base,
            auth,
            overrides,
            preset: config.preset,
            http: None,
        })
    }

    /// The request a query sends, built without a network.
    pub fn request(&self, q: &MetricQuery) -> Result<InstantQuery, MetricsError> {
        let window = promql::window(q)?;
        let template = promql::template(&q.signal, &self.overrides, self.preset);
        let query = promql::expand(&template, &q.model, &q.version, &window);
        Ok(promql::instant_query(&self.base, query, q.end))
    }

    fn client(&mut self) -> Result<&reqwest::blocking::Client, MetricsError> {
        if self.http.is_none() {
            let http = crate::http::client(&ClientOptions {
                follow_redirects: true,
                ..ClientOptions::new(TIMEOUT)
            })
            .map_err(|e| MetricsError::unavailable(e.to_string()))?;
            self.http = Some(http);
        }
        Ok(self.http.as_ref().expect("just built"))
    }

    /// Sends a request; the HTTP status and the body.
    fn send(&mut self, request: &InstantQuery) -> Result<(u16, String), MetricsError> {
        // A clone shares the connection pool; it frees `self` for `prepare`.
        let http = self.client()?.clone();
        crate::http::exchange(self.prepare(&http, request), TIMEOUT).map_err(transport_error)
    }

    /// The HTTP request for a query: URL-encoded parameters, basic auth.
    fn prepare(
        &self,
        http: &reqwest::blocking::Client,
        request: &InstantQuery,
    ) -> reqwest::blocking::RequestBuilder {
        let builder = http.get(&request.url).query(&request.params);
        match &self.auth {
            Some((user, password)) => builder.basic_auth(user, Some(password)),
            None => builder,
        }
    }

    /// `e` with the server and the question before it, and redacted.
    fn context(&self, q: &MetricQuery, e: MetricsError) -> MetricsError {
        let at = format!(
            "prometheus {} at {}: {} of {} version {}",
            self.name,
            self.base,
            q.signal.name(),
            q.model,
            q.version
        );
        let secrets: Vec<&str> = self.auth.iter().map(|(_, p)| p.as_str()).collect();
        e.at(&at, |m| redact::text(m, &secrets))
    }
}

impl MetricsProvider for PrometheusProvider {
    fn describe(&self) -> String {
        format!("prometheus {} at {}", self.name, self.base)
    }

    fn query(&mut self, q: &MetricQuery) -> Result<Option<f64>, MetricsError> {
        let request = self.request(q).map_err(|e| self.context(q, e))?;
        let answer = self
            .send(&request)
            .and_then(|(status, body)| answer::read_answer(status, &body));
        answer.map_err(|e| {
            let query = &request.params[0].1;
            let e = match e {
                MetricsError::Malformed(m) => {
                    MetricsError::Malformed(format!("{m} (query: {query})"))
                }
                MetricsError::Unavailable(u) if u.kind() == Unanswered::Query => {
                    MetricsError::Unavailable(Unavailable::new(
                        Unanswered::Query,
                        format!("{u} (query: {query})"),
                    ))
                }
                other => other,
            };
            self.context(q, e)
        })
    }
}

/// The URL without credentials, query or trailing `/`, and the
/// basic-auth user and password that were in it. Errors never repeat the
/// URL, which may hold a password.
pub fn split_credentials(url: &str) -> Result<(String, Option<(String, String)>), String> {
    let url = ServerUrl::parse(url).map_err(|e| format!("url {e}"))?;
    Ok((url.base, url.credentials))
}

/// A failed exchange as a metrics error: a server that did not answer is
/// unreachable (the caller need not ask it again), any other failure is
/// the answer's.
fn transport_error(e: TransportError) -> MetricsError {
    if e.unreachable() {
        MetricsError::Unavailable(Unavailable::unreachable("", &e.to_string()))
    } else {
        MetricsError::unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: Option<&str>, queries: &[(&str, &str)]) -> PrometheusConfig {
        PrometheusConfig {
            url: url.map(str::to_string),
            queries: queries
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            preset: None,
        }
    }

    fn query(signal: Signal) -> MetricQuery {
        MetricQuery {
            model: "churn-predictor".into(),
            version: "3".into(),
            signal,
            start: "2026-11-25T00:00:00Z".parse().unwrap(),
            end: "2026-11-25T06:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn credentials_come_out_of_the_url() {
        type Auth = Option<(&'static str, &'static str)>;
        type Want = Result<(&'static str, Auth), &'static str>;
        let cases: [(&str, Want); 9] = [
            ("http://127.0.0.1:9090", Ok(("http://127.0.0.1:9090", None))),
            (
                "http://127.0.0.1:9090/",
                Ok(("http://127.0.0.1:9090", None)),
            ),
            (
                " https://prom.example/api/prom/ ",
                Ok(("https://prom.example/api/prom", None)),
            ),
            (
                "https://alice:s3cret@prom.example",
                Ok(("https://prom.example", Some(("alice", "s3cret")))),
            ),
            (
                "https://alice:p%40ss%3Aw@prom.example:8443/x",
                Ok(("https://prom.example:8443/x", Some(("alice", "p@ss:w")))),
            ),
            (
                "https://token@prom.example?x=1#f",
                Ok(("https://prom.example", Some(("token", "")))),
            ),
            (
                "prom.example:9090",
                Err("must start with http:// or https://"),
            ),
            (
                "ftp://u:pw@prom.example",
                Err("must start with http:// or https://, not ftp://"),
            ),
            ("http://u:pw@[::1", Err("not a valid URL")),
        ];
        for (url, want) in cases {
            let got = split_credentials(url);
            match (&got, want) {
                (Ok((base, auth)), Ok((want_base, want_auth))) => {
                    assert_eq!(base, want_base, "{url}");
                    let auth = auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
                    assert_eq!(auth, want_auth, "{url}");
                }
                (Err(e), Err(want)) => {
                    assert!(e.contains(want), "{url}: {e}");
                    assert!(
                        !e.contains("pw"),
                        "{url}: the message repeats the password: {e}"
                    );
                }
                _ => panic!("{url}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn configuration_errors_name_the_provider() {
        let cases = [
            (
                config(None, &[]),
                "metrics provider prom: type prometheus needs a url",
            ),
            (
                config(Some("localhost:9090"), &[]),
                "metrics provider prom: url must start with http",
            ),
        ];
        for (config, want) in cases {
            let e = PrometheusProvider::new("prom", &config).unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn requests_are_values_without_credentials() {
        let p = PrometheusProvider::new(
            "prom",
            &config(
                Some("https://alice:s3cret@prom.example/prometheus/"),
                &[("latency_p99", "max(p99{model=\"{model}\"})")],
            ),
        )
        .unwrap();
        assert_eq!(
            p.describe(),
            "prometheus prom at https://prom.example/prometheus"
        );
        assert!(!format!("{p:?}").contains("s3cret"), "{p:?}");

        let cases = [
            (
                Signal::Requests,
                promql::REQUESTS.replace("{window}", "21600s"),
            ),
            (
                Signal::LatencyP99Ms,
                "max(p99{model=\"churn-predictor\"})".to_string(),
            ),
        ];
        for (signal, want) in cases {
            let r = p.request(&query(signal)).unwrap();
            let want = want
                .replace("{model}", "churn-predictor")
                .replace("{version}", "3");
            assert_eq!(r.url, "https://prom.example/prometheus/api/v1/query");
            assert_eq!(
                r.params,
                vec![("query", want), ("time", "1795586400".to_string())]
            );
        }
    }

    #[test]
    fn the_request_sent_is_encoded_with_basic_auth() {
        let p = PrometheusProvider::new(
            "prom",
            &config(Some("http://alice:s3cret@127.0.0.1:9/"), &[]),
        )
        .unwrap();
        let r = p.request(&query(Signal::Errors)).unwrap();
        let built = p
            .prepare(&reqwest::blocking::Client::new(), &r)
            .build()
            .unwrap();
        let url = built.url().as_str();
        assert!(
            url.starts_with("http://127.0.0.1:9/api/v1/query?query=sum%28increase%28"),
            "{url}"
        );
        assert!(url.contains("code%3D%7E%225..%22"), "{url}");
        assert!(url.ends_with("&time=1795586400"), "{url}");
        assert!(!url.contains("s3cret"), "{url}");
        let header = built.headers()["authorization"].to_str().unwrap();
        assert_eq!(header, "Basic YWxpY2U6czNjcmV0");
    }
}
