//! The files Envoy reads in the target's `config_dir`: `lds.json` (every
//! model's listener) and `cds.json` (every version's cluster), which the
//! bootstrap names, and `rds-MODEL.json` (a model's route configuration),
//! which the model's listener names. Each is a discovery response
//! `{"version_info", "resources"}`; a route file holds exactly one
//! resource, since Envoy's RDS takes one route configuration per
//! subscription (it refuses a file with two: "Unexpected RDS resource
//! length"). modelops composes a change from these files (they hold the
//! other models' resources), never reads the routing back from them: that
//! comes from Envoy ([`super::dump`]).
//!
//! A file is replaced whole: a temp file in the same directory, synced and
//! renamed over it, so Envoy, which reloads on the rename, never reads half
//! a file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::render::{METADATA, ModelResources, stat_name};
use crate::backend::serving::ServingError;
pub use crate::backend::serving::files::write_atomic;

/// Listeners' file name.
pub const LDS: &str = "lds.json";
/// Clusters' file name.
pub const CDS: &str = "cds.json";

/// The route files' names: `rds-MODEL.json`.
const ROUTES: (&str, &str) = ("rds-", ".json");

/// The name of the file holding the route configuration `name` (a model's
/// name: no `/`).
pub fn route_file_name(name: &str) -> String {
    format!("{}{name}{}", ROUTES.0, ROUTES.1)
}

/// The file in `dir` holding the route configuration `name`.
pub fn route_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(route_file_name(name))
}

/// The resources of the files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Listeners by name.
    pub listeners: BTreeMap<String, Value>,
    /// Route configurations by name, each from its own file.
    pub routes: BTreeMap<String, Value>,
    /// Clusters by name.
    pub clusters: BTreeMap<String, Value>,
}

impl Snapshot {
    /// Reads the files in `dir`; a missing file holds nothing.
    pub fn read(dir: &Path) -> Result<Snapshot, ServingError> {
        Ok(Snapshot {
            listeners: read_resources(&dir.join(LDS))?,
            routes: read_routes(dir)?,
            clusters: read_resources(&dir.join(CDS))?,
        })
    }

    /// Whether `model` has a listener, a route configuration or a cluster
    /// here.
    pub fn serves(&self, model: &str) -> bool {
        [&self.listeners, &self.routes, &self.clusters]
            .iter()
            .any(|resources| resources.values().any(|r| model_of(r) == Some(model)))
    }

    /// This snapshot with `model`'s resources replaced by `new`. The
    /// model's listener stays as it is when the new one differs only in its
    /// revision: a listener Envoy replaces drains its open connections.
    ///
    /// Fails when the new listener or route configuration has the name of
    /// another model's, or one of the new clusters has the name, or the
    /// stats name, of another model's cluster: Envoy's cluster names are
    /// global, and two versions counted as one could not be told apart.
    pub fn with_model(&self, model: &str, new: ModelResources) -> Result<Snapshot, ServingError> {
        let mut out = self.without_model(model);
        let name = new.listener["name"].as_str().unwrap_or(model).to_string();
        if let Some(other) = out.listeners.get(&name) {
            return Err(ServingError::Config(format!(
                "Envoy's listener `{name}` is in {LDS} for {}; it is not `{model}`'s to replace",
                model_of(other).map_or("another purpose".to_string(), |m| format!("`{m}`"))
            )));
        }
        let route = new.route["name"].as_str().unwrap_or(model).to_string();
        if let Some(other) = out.routes.get(&route) {
            return Err(ServingError::Config(format!(
                "Envoy's route configuration `{route}` is in {} for {}; it is not `{model}`'s to replace",
                route_file_name(&route),
                model_of(other).map_or("another purpose".to_string(), |m| format!("`{m}`"))
            )));
        }
        let listener = match self.listeners.get(&name) {
            Some(old) if same_but_revision(old, &new.listener) => old.clone(),
            _ => new.listener,
        };
        out.listeners.insert(name, listener);
        out.routes.insert(route, new.route);
        let mut stats: BTreeMap<String, &str> = out
            .clusters
            .keys()
            .map(|n| (stat_name(n), n.as_str()))
            .collect();
        for name in new.clusters.keys() {
            let clash = out
                .clusters
                .get(name)
                .map(|_| name.as_str())
                .or_else(|| stats.insert(stat_name(name), name).filter(|o| o != name));
            if let Some(other) = clash {
                return Err(ServingError::Config(format!(
                    "`{model}`'s cluster `{name}` would share its name or stats name with cluster `{other}` in {CDS}"
                )));
            }
        }
        out.clusters.extend(new.clusters);
        Ok(out)
    }

    /// This snapshot without `model`'s listener, route configuration and
    /// clusters.
    pub fn without_model(&self, model: &str) -> Snapshot {
        let keep = |resources: &BTreeMap<String, Value>| {
            resources
                .iter()
                .filter(|(_, r)| model_of(r) != Some(model))
                .map(|(n, r)| (n.clone(), r.clone()))
                .collect()
        };
        Snapshot {
            listeners: keep(&self.listeners),
            routes: keep(&self.routes),
            clusters: keep(&self.clusters),
        }
    }

    /// The clusters of `self` and `other` (`other`'s where both have a
    /// name): what Envoy must hold while its listeners move from one to the
    /// other.
    pub fn clusters_with(&self, other: &Snapshot) -> BTreeMap<String, Value> {
        let mut out = self.clusters.clone();
        out.extend(other.clusters.clone());
        out
    }
}

/// Whether two listeners differ at most in the revision in their metadata.
fn same_but_revision(a: &Value, b: &Value) -> bool {
    let strip = |listener: &Value| {
        let mut listener = listener.clone();
        if let Some(meta) = listener
            .pointer_mut(&format!("/metadata/filter_metadata/{METADATA}"))
            .and_then(Value::as_object_mut)
        {
            meta.remove("revision");
        }
        listener
    };
    strip(a) == strip(b)
}

/// The model a resource's metadata names.
pub fn model_of(resource: &Value) -> Option<&str> {
    resource
        .pointer(&format!("/metadata/filter_metadata/{METADATA}/model"))
        .and_then(Value::as_str)
}

/// The text of a discovery file holding `resources` at `version`.
pub fn discovery_file<'a>(version: &str, resources: impl Iterator<Item = &'a Value>) -> String {
    let resources: Vec<&Value> = resources.collect();
    let mut text = serde_json::to_string_pretty(&json!({
        "version_info": version,
        "resources": resources,
    }))
    .expect("JSON values serialize");
    text.push('\n');
    text
}

/// The route configurations in `dir`'s route files (`rds-*.json`), by
/// name. Fails when a file does not hold exactly one, named as the file.
fn read_routes(dir: &Path) -> Result<BTreeMap<String, Value>, ServingError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(ServingError::Io {
                what: "list",
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut out = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|source| ServingError::Io {
            what: "list",
            path: dir.display().to_string(),
            source,
        })?;
        let file = entry.file_name();
        let Some(name) = file
            .to_str()
            .and_then(|f| f.strip_prefix(ROUTES.0))
            .and_then(|f| f.strip_suffix(ROUTES.1))
        else {
            continue;
        };
        let path = entry.path();
        let mut resources = read_resources(&path)?.into_iter();
        match (resources.next(), resources.next()) {
            (Some((found, route)), None) if found == name => {
                out.insert(found, route);
            }
            _ => {
                return Err(ServingError::Config(format!(
                    "{}: modelops writes one route configuration, `{name}`, in this file",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

fn read_resources(path: &Path) -> Result<BTreeMap<String, Value>, ServingError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(ServingError::Io {
                what: "read",
                path: path.display().to_string(),
                source,
            });
        }
    };
    let unreadable = |why: &str| {
        ServingError::Config(format!(
            "{}: {why}; modelops writes this file as JSON (`version_info`, `resources`)",
            path.display()
        ))
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| unreadable(&e.to_string()))?;
    let mut out = BTreeMap::new();
    for resource in value
        .get("resources")
        .and_then(Value::as_array)
        .ok_or_else(|| unreadable("no `resources` list"))?
    {
        let name = resource
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| unreadable("a resource without a name"))?;
        if out.insert(name.to_string(), resource.clone()).is_some() {
            return Err(unreadable(&format!("two resources named `{name}`")));
        }
    }
    Ok(out)
}

/// Removes `path` (a route file no listener names any more), and syncs its
/// directory; a missing file is already removed.
pub fn remove(path: &Path) -> Result<(), ServingError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(ServingError::Io {
                what: "remove",
                path: path.display().to_string(),
                source: e,
            });
        }
        _ => {}
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ServingError::Io {
            what: "sync directory",
            path: dir.display().to_string(),
            source,
        })
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
