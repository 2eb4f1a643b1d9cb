//! Envoy's admin API, read-only: what `config_dump` holds, the counters
//! that say Envoy refused or could not read an update (of its listeners,
//! its clusters, or a model's route configuration), and a request through a
//! model's listener. Requests are values ([`AdminRequest`]); the
//! exchange goes through the project's HTTP layer (`crate::http`: timeouts,
//! typed transport errors), without a proxy, since the admin API is on
//! loopback.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::dump::{self, ActiveCluster, ActiveRouteConfig, Listeners};
use super::render::stat_name;
use crate::backend::serving::{ServingError, VERSION_HEADER};
use crate::http::{ClientOptions, TransportError};

/// How long one admin call (or a probe) may take.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The counters that say whether Envoy took an update from its files:
/// `update_rejected` counts a file Envoy read and refused (some of it),
/// `update_failure` one it could not read at all (a parse error, which
/// puts nothing in `config_dump`).
pub const UPDATE_COUNTERS: [&str; 4] = [
    "listener_manager.lds.update_rejected",
    "listener_manager.lds.update_failure",
    "cluster_manager.cds.update_rejected",
    "cluster_manager.cds.update_failure",
];

/// The counters of `model`'s route configuration, like the
/// [`UPDATE_COUNTERS`] (`update_rejected`, then `update_failure`). Envoy
/// names them after the connection manager's `stat_prefix` (the model's
/// [`stat_name`]) and the route configuration's name (the model's), as they
/// are; they exist once a listener names the route configuration, and
/// Envoy reports no `error_state` for a route configuration it refused.
pub fn route_counters(model: &str) -> [String; 2] {
    let scope = format!("http.{}.rds.{model}", stat_name(model));
    [
        format!("{scope}.update_rejected"),
        format!("{scope}.update_failure"),
    ]
}

/// One admin call, as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRequest {
    /// The whole URL.
    pub url: String,
    /// What it asks, for messages.
    pub what: &'static str,
}

/// The admin API of one Envoy.
#[derive(Debug, Clone)]
pub struct Admin {
    base: String,
    http: Option<reqwest::blocking::Client>,
}

impl Admin {
    /// The admin API at `base` (`http://127.0.0.1:9901`, checked to be on
    /// loopback by the caller). The HTTP client is built on the first call.
    pub fn new(base: String) -> Admin {
        Admin { base, http: None }
    }

    /// The base URL, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /config_dump?resource=dynamic_listeners`.
    pub fn listeners_request(&self) -> AdminRequest {
        AdminRequest {
            url: format!("{}/config_dump?resource=dynamic_listeners", self.base),
            what: "its listeners",
        }
    }

    /// `GET /config_dump?resource=dynamic_route_configs`.
    pub fn route_configs_request(&self) -> AdminRequest {
        AdminRequest {
            url: format!("{}/config_dump?resource=dynamic_route_configs", self.base),
            what: "its route configurations",
        }
    }

    /// `GET /config_dump?resource=dynamic_active_clusters`.
    pub fn clusters_request(&self) -> AdminRequest {
        AdminRequest {
            url: format!("{}/config_dump?resource=dynamic_active_clusters", self.base),
            what: "its clusters",
        }
    }

    /// `GET /stats?format=json&filter=…`, the [`UPDATE_COUNTERS`] and
    /// `more` (names of the characters model names may hold).
    pub fn counters_request(&self, more: &[String]) -> AdminRequest {
        let names: Vec<String> = UPDATE_COUNTERS
            .iter()
            .copied()
            .chain(more.iter().map(String::as_str))
            .map(|n| n.replace('.', "\\.").replace('+', "\\+"))
            .collect();
        AdminRequest {
            url: format!(
                "{}/stats?format=json&usedonly&filter=^({})$",
                self.base,
                names.join("|")
            ),
            what: "its update counters",
        }
    }

    /// The active listeners of modelops's and the updates Envoy refused.
    pub fn listeners(&mut self) -> Result<Listeners, ServingError> {
        let request = self.listeners_request();
        let dump = self.get_json(&request)?;
        dump::listeners(&dump).map_err(|why| self.unreadable(&request, &why))
    }

    /// The active route configurations, by name. Envoy answers 404 until
    /// it has made its first HTTP connection manager (it keeps no list of
    /// route configurations before): none.
    pub fn route_configs(&mut self) -> Result<BTreeMap<String, ActiveRouteConfig>, ServingError> {
        let request = self.route_configs_request();
        let Some(dump) = self.get_json_unless(&request, 404)? else {
            return Ok(BTreeMap::new());
        };
        dump::route_configs(&dump).map_err(|why| self.unreadable(&request, &why))
    }

    /// The active clusters, by name.
    pub fn clusters(&mut self) -> Result<BTreeMap<String, ActiveCluster>, ServingError> {
        let request = self.clusters_request();
        let dump = self.get_json(&request)?;
        dump::clusters(&dump).map_err(|why| self.unreadable(&request, &why))
    }

    /// The [`UPDATE_COUNTERS`] and the counters named in `more` (such as
    /// [`route_counters`]); a counter Envoy has not used, or does not have
    /// yet, is 0.
    pub fn counters(&mut self, more: &[String]) -> Result<BTreeMap<String, u64>, ServingError> {
        let request = self.counters_request(more);
        let answer = self.get_json(&request)?;
        let mut out: BTreeMap<String, u64> = UPDATE_COUNTERS
            .iter()
            .copied()
            .chain(more.iter().map(String::as_str))
            .map(|n| (n.to_string(), 0))
            .collect();
        let stats = answer
            .get("stats")
            .and_then(Value::as_array)
            .ok_or_else(|| self.unreadable(&request, "no `stats` list"))?;
        for stat in stats {
            let (Some(name), Some(value)) = (
                stat.get("name").and_then(Value::as_str),
                stat.get("value").and_then(Value::as_u64),
            ) else {
                continue;
            };
            if let Some(slot) = out.get_mut(name) {
                *slot = value;
            }
        }
        Ok(out)
    }

    fn client(&mut self) -> Result<reqwest::blocking::Client, ServingError> {
        if self.http.is_none() {
            let http = client().map_err(|e| {
                ServingError::Unavailable(format!("Envoy's admin API at {}: {e}", self.base))
            })?;
            self.http = Some(http);
        }
        Ok(self.http.clone().expect("just built"))
    }

    fn get_json(&mut self, request: &AdminRequest) -> Result<Value, ServingError> {
        self.get_json_unless(request, 0)
            .map(|v| v.expect("no status is 0"))
    }

    /// The JSON `request` answers, or `None` when it answers `absent`.
    fn get_json_unless(
        &mut self,
        request: &AdminRequest,
        absent: u16,
    ) -> Result<Option<Value>, ServingError> {
        let http = self.client()?;
        let failed = |e: TransportError| {
            let hint = if e.unreachable() {
                " (is Envoy running, with its admin API on this address?)"
            } else {
                ""
            };
            ServingError::Unavailable(format!(
                "Envoy's admin API at {} did not give {}: {e}{hint}",
                self.base, request.what
            ))
        };
        let (status, body) =
            crate::http::exchange(http.get(&request.url), TIMEOUT).map_err(failed)?;
        if status == absent {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(failed(TransportError::Refused { status }));
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| self.unreadable(request, &e.to_string()))
    }

    fn unreadable(&self, request: &AdminRequest, why: &str) -> ServingError {
        ServingError::Unavailable(format!(
            "Envoy's admin API at {} gave {} in a form modelops cannot read: {why}",
            self.base, request.what
        ))
    }
}

/// A client for loopback: no proxy, the admin timeout.
fn client() -> Result<reqwest::blocking::Client, TransportError> {
    crate::http::client(&ClientOptions {
        proxy: false,
        ..ClientOptions::new(TIMEOUT)
    })
}

/// The URL a probe of `listen` (`ip:port`) on `path` requests: a wildcard
/// address is reached on loopback.
pub fn probe_url(ip: std::net::IpAddr, port: u16, path: &str) -> String {
    let host = match ip {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        std::net::IpAddr::V4(v4) => v4.to_string(),
    };
    format!("http://{host}:{port}{path}")
}

/// One `GET url` through a listener: the [`VERSION_HEADER`] of a 2xx
/// answer. Errors say which check failed (no answer, a status, no header),
/// never quoting the body.
pub fn probe(url: &str) -> Result<String, String> {
    let http = client().map_err(|e| format!("GET {url}: {e}"))?;
    let answer = http
        .get(url)
        .send()
        .map_err(|e| format!("GET {url}: {}", TransportError::of(&e, TIMEOUT)))?;
    let status = answer.status().as_u16();
    if !answer.status().is_success() {
        return Err(format!("GET {url} answered {status}"));
    }
    match answer
        .headers()
        .get(VERSION_HEADER)
        .map(|v| v.to_str().map(str::to_string))
    {
        Some(Ok(version)) => Ok(version),
        Some(Err(_)) => Err(format!(
            "GET {url} answered {status} with a {VERSION_HEADER} header that is not text"
        )),
        None => Err(format!(
            "GET {url} answered {status} without a {VERSION_HEADER} header"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_values() {
        let admin = Admin::new("http://127.0.0.1:9901".into());
        assert_eq!(
            admin.listeners_request().url,
            "http://127.0.0.1:9901/config_dump?resource=dynamic_listeners"
        );
        assert_eq!(
            admin.route_configs_request().url,
            "http://127.0.0.1:9901/config_dump?resource=dynamic_route_configs"
        );
        assert_eq!(
            admin.clusters_request().url,
            "http://127.0.0.1:9901/config_dump?resource=dynamic_active_clusters"
        );
        assert_eq!(
            admin.counters_request(&[]).url,
            "http://127.0.0.1:9901/stats?format=json&usedonly&filter=^(\
             listener_manager\\.lds\\.update_rejected|listener_manager\\.lds\\.update_failure|\
             cluster_manager\\.cds\\.update_rejected|cluster_manager\\.cds\\.update_failure)$"
        );
        assert_eq!(
            route_counters("churn.model+x"),
            [
                "http.churn_model_x.rds.churn.model+x.update_rejected",
                "http.churn_model_x.rds.churn.model+x.update_failure"
            ]
        );
        assert!(
            admin
                .counters_request(&route_counters("churn.model+x"))
                .url
                .ends_with(
                    "|http\\.churn_model_x\\.rds\\.churn\\.model\\+x\\.update_rejected\
                     |http\\.churn_model_x\\.rds\\.churn\\.model\\+x\\.update_failure)$"
                )
        );
    }

    #[test]
    fn probes_reach_a_wildcard_listener_on_loopback() {
        let cases = [
            ("127.0.0.1", "http://127.0.0.1:8081/healthz"),
            ("0.0.0.0", "http://127.0.0.1:8081/healthz"),
            ("::", "http://[::1]:8081/healthz"),
            ("::1", "http://[::1]:8081/healthz"),
            ("10.1.2.3", "http://10.1.2.3:8081/healthz"),
        ];
        for (ip, want) in cases {
            assert_eq!(
                probe_url(ip.parse().unwrap(), 8081, "/healthz"),
                want,
                "{ip}"
            );
        }
    }
}
