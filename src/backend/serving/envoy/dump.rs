//! What a running Envoy holds, read from its admin API's `config_dump`
//! (`?resource=dynamic_listeners` and `?resource=dynamic_active_clusters`),
//! and the routing of each model it serves for modelops. Pure: the JSON
//! comes in as a value.
//!
//! A listener is modelops's when its metadata says so (`filter_metadata`
//! `modelops`: model, target, revision); its clusters name the version
//! they serve the same way. Only active listeners count: a draining one is
//! finishing requests it accepted before an update, and a warming one
//! serves nothing yet. A listener Envoy refused is reported under
//! `error_state`, with the details Envoy gives and, when it was ours, the
//! revision it carried.

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
    /// Versions recorded with a weight of 0.
    pub idle: Vec<String>,
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
            idle: meta
                .get("idle")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            route: route(listener),
        });
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

/// The routing of every model modelops serves on this Envoy, mapped from
/// cluster names to versions through the clusters' metadata. `target` is
/// the serving target's name, for a listener whose metadata lacks one.
///
/// Fails, naming the model, when a listener routes to a cluster Envoy does
/// not hold or that serves another model (its requests fail with 503, or
/// go where modelops did not send them), when its shares are not whole
/// percents, or when two listeners serve one model.
pub fn routing(
    listeners: &Listeners,
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
        let route = l
            .route
            .as_ref()
            .map_err(|why| format!("Envoy's listener `{}` for `{}`: {why}", l.name, l.model))?;
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
        for idle in &l.idle {
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

/// The route of a listener's HTTP connection manager: its first virtual
/// host's first route, as modelops writes it (one route, inline).
fn route(listener: &Value) -> Result<ActiveRoute, String> {
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
    let action = manager
        .pointer("/route_config/virtual_hosts/0/routes/0/route")
        .ok_or("no inline route (modelops writes one route in the listener)")?;
    let mut out = ActiveRoute::default();
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
