//! One model's Envoy resources, rendered from its route: a listener on the
//! model's address whose HTTP connection manager takes its routes from the
//! model's route configuration (RDS, from the model's file in
//! `config_dir`), that route configuration, which splits requests over one
//! cluster per version, and a cluster per shadow version that receives the
//! mirrored copies. The listener holds nothing a routing change touches, so
//! a new split changes the route configuration only: Envoy applies it to
//! the connections already open, and drains nothing. Pure: every shape of
//! routing is a snapshot test. Everything is JSON built with `serde_json`,
//! so no name or address from a manifest or config can add a field.
//!
//! Names: the listener and its route configuration are named after the
//! model; a version's cluster is
//! `MODEL-vVERSION`, a shadow's `MODEL-vVERSION-shadow`, so what a shadow
//! was sent is counted apart from what a version served. Envoy's stats name
//! a cluster by its `alt_stat_name`, the cluster's name with every character
//! outside `[A-Za-z0-9_-]` as `_` (Envoy's stats take `.` as a separator),
//! which the metrics preset queries ([`stat_name`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::files::route_file;
use crate::backend::serving::files::{check_names, nonzero, plain};
use crate::backend::serving::{Route, ServingError, VERSION_HEADER};
use crate::manifest::address::{self, Address, Host};
use crate::manifest::config::EnvoyTargetConfig;
use crate::manifest::deployment::StickyKey;
use crate::manifest::rules::{valid_sticky_cookie, valid_sticky_header};

/// The key of modelops's entries in a resource's `metadata.filter_metadata`.
pub const METADATA: &str = "modelops";

/// How long a request may take upstream (Envoy's default is 15 s; nginx's
/// `proxy_read_timeout`, which the nginx target keeps, is 60 s).
const ROUTE_TIMEOUT: &str = "60s";

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: &str = "2s";

/// What a cluster of modelops's is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A version that serves live traffic.
    Serve,
    /// A shadow version that receives mirrored copies.
    Shadow,
}

impl Role {
    /// As written in the cluster's metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Shadow => "shadow",
        }
    }
}

/// One model's resources.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResources {
    /// Its listener, which names the route configuration and its file.
    pub listener: Value,
    /// Its route configuration, named after the model.
    pub route: Value,
    /// A cluster per version it routes or mirrors to, by name.
    pub clusters: BTreeMap<String, Value>,
}

/// What would not carry a name outside the plain characters (messages).
const CARRIER: &str = "modelops does not put in Envoy's configuration";

/// Renders `route`'s resources for the envoy target `target` configured by
/// `config`, whose files are in `dir` (absolute: Envoy reads the route
/// file from the path in the listener). `revision` goes into the metadata
/// of the route configuration and of the listener, so Envoy's
/// `config_dump` shows when a write is live (the caller keeps the
/// listener it has when only the revision differs).
///
/// Fails with [`ServingError::Config`] when the route cannot be served as
/// asked: no listen address for the model or one Envoy cannot bind, no
/// upstream for a version, live weights that do not sum to 100, a mirror
/// above 100%, a sticky key Envoy's configuration cannot carry, names
/// outside the characters manifests allow, or a `dir` that is not text.
pub fn render(
    target: &str,
    config: &EnvoyTargetConfig,
    route: &Route,
    revision: &str,
    dir: &Path,
) -> Result<ModelResources, ServingError> {
    let model = route.model;
    let sticky = route.sticky.or(route.traffic.sticky.as_ref());
    check_names(target, route, CARRIER)?;
    let listen = config.listen.get(model).ok_or_else(|| {
        config_error(format!(
            "envoy target `{target}` has no listen address for model `{model}` \
             (serving.targets.{target}.listen)"
        ))
    })?;
    let (ip, port) = address::parse_listen(listen).map_err(|why| {
        config_error(format!(
            "listen address `{}` for model `{model}`: {why}",
            listen.escape_debug()
        ))
    })?;

    let live: Vec<(&str, u8)> = nonzero(&route.traffic.weights);
    let total: u32 = live.iter().map(|(_, w)| u32::from(*w)).sum();
    if total != 100 {
        return Err(config_error(format!(
            "the live weights for `{model}` sum to {total}%, not 100%"
        )));
    }
    let mirrors: Vec<(&str, u8)> = nonzero(&route.traffic.mirrors);
    if let Some((version, percent)) = mirrors.iter().find(|(_, p)| *p > 100) {
        return Err(config_error(format!(
            "the mirror of `{model}` version {version} is {percent}%, above 100%"
        )));
    }
    // Zero weights route nothing and need no cluster; the route
    // configuration's metadata keeps them, so the routing reads back as it
    // was asked.
    let idle: Vec<&str> = route
        .traffic
        .weights
        .iter()
        .filter(|(_, w)| **w == 0)
        .map(|(v, _)| v.as_str())
        .collect();

    let mut clusters = BTreeMap::new();
    let mut add = |version: &str, role: Role| -> Result<String, ServingError> {
        plain(version, &format!("version of `{model}`"), CARRIER)?;
        let upstream = upstream_address(target, config, model, version)?;
        let name = cluster_name(model, version, role);
        clusters.insert(
            name.clone(),
            cluster(target, model, version, role, &name, &upstream)?,
        );
        Ok(name)
    };
    let mut weighted = Vec::new();
    for (version, weight) in &live {
        let name = add(version, Role::Serve)?;
        weighted.push(json!({
            "name": name,
            "weight": weight,
            "response_headers_to_add": [{
                "header": {"key": VERSION_HEADER, "value": version},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }],
        }));
    }
    let mut mirrored = Vec::new();
    for (version, percent) in &mirrors {
        let name = add(version, Role::Shadow)?;
        mirrored.push(json!({
            "cluster": name,
            "runtime_fraction": {
                "default_value": {"numerator": percent, "denominator": "HUNDRED"},
            },
            // The copy keeps the client's Host, as the original does.
            "disable_shadow_host_suffix_append": true,
        }));
    }

    let mut action = json!({
        "timeout": ROUTE_TIMEOUT,
        "weighted_clusters": {"clusters": weighted},
    });
    if let Some(sticky) = sticky {
        action["hash_policy"] = json!([hash_policy(sticky)?]);
        action["weighted_clusters"]["use_hash_policy"] = json!(true);
    }
    if !mirrored.is_empty() {
        action["request_mirror_policies"] = Value::Array(mirrored);
    }
    let (file, dir) = match (route_file(dir, model).to_str(), dir.to_str()) {
        (Some(file), Some(dir)) => (file.to_string(), dir.to_string()),
        _ => {
            return Err(config_error(format!(
                "config_dir `{}` is not UTF-8 text; Envoy's configuration names it",
                dir.display()
            )));
        }
    };
    let mut meta = json!({
        "model": model,
        "target": target,
        "deployment": route.deployment,
        "revision": revision,
    });
    if !idle.is_empty() {
        meta["idle"] = json!(idle);
    }
    let route_config = json!({
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": model,
        "metadata": {"filter_metadata": {METADATA: meta}},
        // Envoy refuses a route naming a cluster it does not hold (for RDS
        // it would otherwise answer 503), as it does for an inline route.
        "validate_clusters": true,
        "virtual_hosts": [{
            "name": model,
            "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": action}],
        }],
    });
    let listener = json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": model,
        "metadata": {"filter_metadata": {METADATA: {
            "model": model,
            "target": target,
            "revision": revision,
        }}},
        "address": {"socket_address": {"address": ip.to_string(), "port_value": port}},
        "filter_chains": [{
            "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": stat_name(model),
                    "rds": {
                        "route_config_name": model,
                        "config_source": {
                            "resource_api_version": "V3",
                            "path_config_source": {
                                "path": file,
                                "watched_directory": {"path": dir},
                            },
                        },
                    },
                    "http_filters": [{
                        "name": "envoy.filters.http.router",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                        },
                    }],
                },
            }],
        }],
    });
    Ok(ModelResources {
        listener,
        route: route_config,
        clusters,
    })
}

/// One version's cluster: a single endpoint, a static IP (or unix socket)
/// or a DNS name Envoy resolves.
fn cluster(
    target: &str,
    model: &str,
    version: &str,
    role: Role,
    name: &str,
    upstream: &str,
) -> Result<Value, ServingError> {
    let parsed = address::parse(upstream).map_err(|why| {
        config_error(format!(
            "upstream address `{}` for `{model}` version {version}: {why}",
            upstream.escape_debug()
        ))
    })?;
    let (kind, address) = match &parsed {
        Address::Socket { host, port } => {
            let kind = match host {
                Host::Ip(_) => "STATIC",
                Host::Name(_) => "STRICT_DNS",
            };
            let host = match host {
                Host::Ip(ip) => ip.to_string(),
                Host::Name(name) => name.clone(),
            };
            (
                kind,
                json!({"socket_address": {"address": host, "port_value": port}}),
            )
        }
        Address::Unix(path) => ("STATIC", json!({"pipe": {"path": path}})),
    };
    Ok(json!({
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": name,
        "alt_stat_name": stat_name(name),
        "type": kind,
        "connect_timeout": CONNECT_TIMEOUT,
        "metadata": {"filter_metadata": {METADATA: {
            "model": model,
            "version": version,
            "role": role.as_str(),
            "target": target,
        }}},
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }))
}

/// The hash a sticky split picks its arm by: the header's or the cookie's
/// value. A request without it gets no hash, and Envoy picks at random.
fn hash_policy(sticky: &StickyKey) -> Result<Value, ServingError> {
    match (&sticky.header, &sticky.cookie) {
        (Some(header), None) if valid_sticky_header(header) => {
            Ok(json!({"header": {"header_name": header}}))
        }
        (None, Some(cookie)) if valid_sticky_cookie(cookie) => {
            Ok(json!({"cookie": {"name": cookie}}))
        }
        (Some(header), None) => Err(config_error(format!(
            "sticky header `{}`: only letters, digits and dashes",
            header.escape_debug()
        ))),
        (None, Some(cookie)) => Err(config_error(format!(
            "sticky cookie `{}`: only letters, digits and underscores",
            cookie.escape_debug()
        ))),
        _ => Err(config_error(
            "a sticky key needs exactly one of header or cookie".to_string(),
        )),
    }
}

/// A version's address: `upstreams[model][version]`, else the template.
pub fn upstream_address(
    target: &str,
    config: &EnvoyTargetConfig,
    model: &str,
    version: &str,
) -> Result<String, ServingError> {
    match config.upstreams.get(model).and_then(|m| m.get(version)) {
        Some(address) => Ok(address.clone()),
        None => match &config.upstream_template {
            Some(template) => Ok(template
                .replace("{model}", model)
                .replace("{version}", version)),
            None => Err(config_error(format!(
                "envoy target `{target}` has no upstream for `{model}` version {version} \
                 (serving.targets.{target}.upstreams, or upstream_template)"
            ))),
        },
    }
}

/// The cluster a version of a model is served (or mirrored) through.
pub fn cluster_name(model: &str, version: &str, role: Role) -> String {
    match role {
        Role::Serve => format!("{model}-v{version}"),
        Role::Shadow => format!("{model}-v{version}-shadow"),
    }
}

/// The name Envoy's stats give a resource: every character outside
/// `[A-Za-z0-9_-]` as `_`. Not one-to-one: the caller checks for
/// collisions.
pub fn stat_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn config_error(message: String) -> ServingError {
    ServingError::Config(message)
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
