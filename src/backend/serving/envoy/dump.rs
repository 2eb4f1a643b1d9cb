//! What a running Envoy holds, read from its admin API's `config_dump`
//! (`?resource=dynamic_listeners`, `?resource=dynamic_route_configs` and
//! `?resource=dynamic_active_clusters`), and the routing of each model it
//! serves for modelops. Pure: the JSON comes in as a value.
//!
//! A listener is modelops's when its metadata says so (`filter_metadata`
//! `modelops`: model, target, revision); its route configuration (model,
//! deployment, revision, idle versions) and its clusters (the version they
//! serve) say so the same way. Only active listeners count: a draining one
//! is finishing requests it accepted before an update, and a warming one
//! serves nothing yet. A listener's routes come from the route
//! configuration its connection manager names (RDS); a route inline in the
//! listener, as modelops wrote them before it used RDS, is read too, so an
//! Envoy still serving those files reads back as it serves. A listener
//! Envoy refused is reported under `error_state`, with the details Envoy
//! gives and, when it was ours, the revision it carried. Envoy reports no
//! such state for a route configuration it refused: that shows only in its
//! counters ([`super::admin`]).

use std::collections::BTreeMap;

use serde_json::Value;

use super::render::METADATA;
use crate::manifest::deployment::StickyKey;
use crate::state::TrafficRecord;

/// Envoy's dynamic listeners.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listeners {
    /// The active ones that carry modelops's metadata.
    pub active: Vec<ActiveListener>,
    /// Every update Envoy refused and still reports.
    pub refused: Vec<Refusal>,
}

/// An active listener of modelops's.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveListener {
    /// Its name.
    pub name: String,
    /// The model its metadata names.
    pub model: String,
    /// The serving target its metadata names.
    pub target: Option<String>,
    /// The revision modelops wrote it with.
    pub revision: Option<String>,
    /// Where its routes come from, or why that cannot be read.
    pub routes: Result<Routes, String>,
}

/// Where a listener's routes come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Routes {
    /// The route configuration of this name (RDS).
    Named(String),
    /// Its own connection manager (an inline route, from before modelops
    /// used RDS), with the listener's idle versions.
    Inline(ActiveRoute),
}

/// An active route configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveRouteConfig {
    /// The model its metadata names, when it is modelops's.
    pub model: Option<String>,
    /// The revision modelops wrote it with.
    pub revision: Option<String>,
    /// When Envoy last took it.
    pub last_updated: Option<String>,
    /// Its route, or why it cannot be read.
    pub route: Result<ActiveRoute, String>,
}

/// A listener update Envoy refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The listener's name, when Envoy gives it.
    pub name: Option<String>,
    /// The revision in the refused configuration's metadata.
    pub revision: Option<String>,
    /// Envoy's reason.
    pub details: String,
}

/// The route of a model's listener: cluster names with their shares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActiveRoute {
    /// Live traffic: cluster and weight (of the total weight).
    pub weighted: Vec<(String, u64)>,
    /// Mirrors: cluster and percent of requests.
    pub mirrors: Vec<(String, u8)>,
    /// What the split hashes, when it is sticky.
    pub sticky: Option<StickyKey>,
    /// Versions recorded with a weight of 0 (in the metadata).
    pub idle: Vec<String>,
}

/// An active cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveCluster {
    /// The `version_info` of the update that last changed it.
    pub version_info: Option<String>,
    /// The model and version its metadata names, when it is modelops's.
    pub serves: Option<(String, String)>,
    /// The cluster as Envoy holds it.
    pub config: Option<Value>,
}

/// Reads `config_dump?resource=dynamic_listeners`.
pub fn listeners(dump: &Value) -> Result<Listeners, String> {
    let mut out = Listeners::default();
    for entry in configs(dump)? {
        if let Some(error) = entry.get("error_state") {
            let failed = error.get("failed_configuration");
            out.refused.push(Refusal {
                name: failed
                    .and_then(|f| f.get("name"))
                    .or_else(|| entry.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                revision: failed
                    .and_then(ours)
                    .and_then(|m| text(m, "revision"))
                    .map(str::to_string),
                details: text(error, "details")
                    .unwrap_or("(Envoy gave no details)")
                    .to_string(),
            });
        }
        let Some(listener) = entry.pointer("/active_state/listener") else {
            continue;
        };
        let Some(meta) = ours(listener) else {
            continue;
        };
        let Some(model) = text(meta, "model") else {
            continue;
        };
        out.active.push(ActiveListener {
            name: text(listener, "name").unwrap_or_default().to_string(),
            model: model.to_string(),
            target: text(meta, "target").map(str::to_string),
            revision: text(meta, "revision").map(str::to_string),
            routes: routes_of(listener, meta),
        });
    }
    Ok(out)
}

/// Reads `config_dump?resource=dynamic_route_configs`, by name. Of two
/// with one name (a listener that moved to another file, the old one
/// draining), the one Envoy took last.
pub fn route_configs(dump: &Value) -> Result<BTreeMap<String, ActiveRouteConfig>, String> {
    let mut out: BTreeMap<String, ActiveRouteConfig> = BTreeMap::new();
    for entry in configs(dump)? {
        let Some(config) = entry.get("route_config") else {
            continue;
        };
        let Some(name) = text(config, "name") else {
            continue;
        };
        let meta = ours(config);
        let found = ActiveRouteConfig {
            model: meta.and_then(|m| text(m, "model")).map(str::to_string),
            revision: meta.and_then(|m| text(m, "revision")).map(str::to_string),
            last_updated: text(entry, "last_updated").map(str::to_string),
            route: route(config, meta),
        };
        match out.get(name) {
            Some(seen) if seen.last_updated >= found.last_updated => {}
            _ => {
                out.insert(name.to_string(), found);
            }
        }
    }
    Ok(out)
}

/// Reads `config_dump?resource=dynamic_active_clusters`, by cluster name.
pub fn clusters(dump: &Value) -> Result<BTreeMap<String, ActiveCluster>, String> {
    let mut out = BTreeMap::new();
    for entry in configs(dump)? {
        let Some(cluster) = entry.get("cluster") else {
            continue;
        };
        let Some(name) = text(cluster, "name") else {
            continue;
        };
        let serves = ours(cluster).and_then(|m| {
            Some((
                text(m, "model")?.to_string(),
                text(m, "version")?.to_string(),
            ))
        });
        out.insert(
            name.to_string(),
            ActiveCluster {
                version_info: text(entry, "version_info").map(str::to_string),
                serves,
                config: Some(cluster.clone()),
            },
        );
    }
    Ok(out)
}

/// The routing of every model modelops serves on this Envoy: each active
/// listener's routes, mapped from cluster names to versions through the
/// clusters' metadata. `target` is the serving target's name, for a
/// listener whose metadata lacks one.
///
/// Fails, naming the model, when a listener's route configuration is
/// missing (Envoy refused or could not read its file: requests get 404) or
/// is another model's, when it routes to a cluster Envoy does not hold or
/// that serves another model (its requests fail with 503, or go where
/// modelops did not send them), when its shares are not whole percents, or
/// when two listeners serve one model.
pub fn routing(
    listeners: &Listeners,
    route_configs: &BTreeMap<String, ActiveRouteConfig>,
    clusters: &BTreeMap<String, ActiveCluster>,
    target: &str,
) -> Result<BTreeMap<String, TrafficRecord>, String> {
    let mut out = BTreeMap::new();
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for l in &listeners.active {
        if let Some(other) = names.insert(&l.model, &l.name) {
            return Err(format!(
                "Envoy's listeners `{other}` and `{}` both serve `{}`: remove one",
                l.name, l.model
            ));
        }
        let routes = l
            .routes
            .as_ref()
            .map_err(|why| format!("Envoy's listener `{}` for `{}`: {why}", l.name, l.model))?;
        let route = match routes {
            Routes::Inline(route) => route,
            Routes::Named(name) => {
                let config = route_configs.get(name).ok_or_else(|| {
                    format!(
                        "Envoy's listener `{}` for `{}` takes its routes from route configuration \
                         `{name}`, which Envoy does not hold: it answers 404. Envoy refused or \
                         could not read its file; its log says why",
                        l.name, l.model
                    )
                })?;
                match &config.model {
                    Some(model) if *model == l.model => {}
                    other => {
                        return Err(format!(
                            "Envoy's listener `{}` for `{}` takes its routes from route configuration \
                             `{name}`, which is {}",
                            l.name,
                            l.model,
                            other
                                .as_ref()
                                .map_or("not modelops's".to_string(), |m| format!("`{m}`'s"))
                        ));
                    }
                }
                config.route.as_ref().map_err(|why| {
                    format!(
                        "Envoy's route configuration `{name}` for `{}`: {why}",
                        l.model
                    )
                })?
            }
        };
        let version = |cluster: &str| -> Result<String, String> {
            match clusters.get(cluster).and_then(|c| c.serves.as_ref()) {
                Some((model, version)) if *model == l.model => Ok(version.clone()),
                Some((model, _)) => Err(format!(
                    "Envoy routes `{}` to cluster `{cluster}`, which serves `{model}`",
                    l.model
                )),
                None => Err(format!(
                    "Envoy routes `{}` to cluster `{cluster}`, which it does not hold as modelops's: \
                     those requests fail",
                    l.model
                )),
            }
        };
        let total: u64 = route.weighted.iter().map(|(_, w)| w).sum();
        let mut weights = BTreeMap::new();
        for (cluster, weight) in &route.weighted {
            if *weight == 0 {
                continue;
            }
            let percent = (weight * 100)
                .checked_div(total)
                .filter(|p| p * total == weight * 100)
                .ok_or_else(|| {
                    format!(
                        "Envoy gives `{}` cluster `{cluster}` a weight of {weight} of {total}: not a whole percent",
                        l.model
                    )
                })?;
            weights.insert(version(cluster)?, percent as u8);
        }
        for idle in &route.idle {
            weights.entry(idle.clone()).or_insert(0);
        }
        let mut mirrors = BTreeMap::new();
        for (cluster, percent) in &route.mirrors {
            mirrors.insert(version(cluster)?, *percent);
        }
        out.insert(
            l.model.clone(),
            TrafficRecord {
                target: l.target.clone().unwrap_or_else(|| target.to_string()),
                weights,
                mirrors,
                sticky: route.sticky.clone(),
            },
        );
    }
    Ok(out)
}

/// Where the routes of a listener's HTTP connection manager come from: the
/// route configuration it names (RDS), or its inline one, whose idle
/// versions are in the listener's metadata `meta`.
fn routes_of(listener: &Value, meta: &Value) -> Result<Routes, String> {
    let manager = listener
        .get("filter_chains")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|chain| chain.get("filters").and_then(Value::as_array))
        .flatten()
        .find(|f| text(f, "name") == Some("envoy.filters.network.http_connection_manager"))
        .and_then(|f| f.get("typed_config"))
        .ok_or("no HTTP connection manager")?;
    if let Some(name) = manager.pointer("/rds/route_config_name") {
        return name
            .as_str()
            .map(|n| Routes::Named(n.to_string()))
            .ok_or_else(|| "a route configuration name that is not text".to_string());
    }
    let config = manager
        .get("route_config")
        .ok_or("no route configuration, named or inline")?;
    route(config, Some(meta)).map(Routes::Inline)
}

/// The route of a route configuration: its first virtual host's first
/// route, as modelops writes it (one route), with the idle versions in the
/// metadata `meta`.
fn route(config: &Value, meta: Option<&Value>) -> Result<ActiveRoute, String> {
    let action = config
        .pointer("/virtual_hosts/0/routes/0/route")
        .ok_or("no route (modelops writes one)")?;
    let mut out = ActiveRoute {
        idle: meta
            .and_then(|m| m.get("idle"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        ..ActiveRoute::default()
    };
    if let Some(cluster) = text(action, "cluster") {
        out.weighted.push((cluster.to_string(), 100));
    } else if let Some(weighted) = action.get("weighted_clusters") {
        for c in weighted
            .get("clusters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = text(c, "name").ok_or("a weighted cluster without a name")?;
            // Proto3 JSON leaves out a zero.
            let weight = c.get("weight").map_or(Some(0), Value::as_u64);
            let weight = weight.ok_or("a weight that is not a number")?;
            out.weighted.push((name.to_string(), weight));
        }
        if weighted.get("use_hash_policy").and_then(Value::as_bool) == Some(true) {
            out.sticky = sticky(action);
        }
    } else {
        return Err("a route to neither a cluster nor weighted clusters".into());
    }
    for m in action
        .get("request_mirror_policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cluster = text(m, "cluster").ok_or("a mirror without a cluster")?;
        let percent = match m.pointer("/runtime_fraction/default_value") {
            None => 100,
            Some(fraction) => percent(fraction)?,
        };
        if percent > 0 {
            out.mirrors.push((cluster.to_string(), percent));
        }
    }
    Ok(out)
}

/// A `FractionalPercent` as a whole percent.
fn percent(fraction: &Value) -> Result<u8, String> {
    let numerator = fraction.get("numerator").map_or(Some(0), Value::as_u64);
    let numerator = numerator.ok_or("a mirror fraction that is not a number")?;
    let per = match text(fraction, "denominator").unwrap_or("HUNDRED") {
        "HUNDRED" => 1,
        "TEN_THOUSAND" => 100,
        "MILLION" => 10_000,
        other => return Err(format!("a mirror fraction per `{other}`")),
    };
    if numerator % per != 0 || numerator / per > 100 {
        return Err(format!(
            "a mirror fraction of {numerator} per {}: not a whole percent",
            per * 100
        ));
    }
    Ok((numerator / per) as u8)
}

/// The sticky key a route hashes: its first hash policy, a header or a
/// cookie.
fn sticky(action: &Value) -> Option<StickyKey> {
    let policy = action.pointer("/hash_policy/0")?;
    if let Some(header) = policy
        .pointer("/header/header_name")
        .and_then(Value::as_str)
    {
        return Some(StickyKey {
            header: Some(header.to_string()),
            cookie: None,
        });
    }
    let cookie = policy.pointer("/cookie/name").and_then(Value::as_str)?;
    Some(StickyKey {
        header: None,
        cookie: Some(cookie.to_string()),
    })
}

/// A resource's modelops metadata.
fn ours(resource: &Value) -> Option<&Value> {
    resource
        .get("metadata")?
        .get("filter_metadata")?
        .get(METADATA)
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn configs(dump: &Value) -> Result<&[Value], String> {
    match dump.get("configs") {
        // Envoy leaves out an empty list.
        None => Ok(&[]),
        Some(Value::Array(configs)) => Ok(configs),
        Some(_) => Err("`configs` is not a list".into()),
    }
}

#[cfg(test)]
#[path = "dump_tests.rs"]
mod tests;
