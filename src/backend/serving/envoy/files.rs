//! The two files Envoy's bootstrap watches in the target's `config_dir`:
//! `lds.json` (every model's listener) and `cds.json` (every version's
//! cluster), each a discovery response `{"version_info", "resources"}`.
//! modelops composes a change from these files (they hold the other
//! models' resources), never reads the routing back from them: that comes
//! from Envoy ([`super::dump`]).
//!
//! A file is replaced whole: a temp file in the same directory, synced and
//! renamed over it, so Envoy, which reloads on the rename, never reads half
//! a file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::render::{METADATA, ModelResources, stat_name};
use crate::backend::serving::ServingError;

/// Listeners' file name.
pub const LDS: &str = "lds.json";
/// Clusters' file name.
pub const CDS: &str = "cds.json";

/// The resources of both files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Listeners by name.
    pub listeners: BTreeMap<String, Value>,
    /// Clusters by name.
    pub clusters: BTreeMap<String, Value>,
}

impl Snapshot {
    /// Reads both files in `dir`; a missing file holds nothing.
    pub fn read(dir: &Path) -> Result<Snapshot, ServingError> {
        Ok(Snapshot {
            listeners: read_resources(&dir.join(LDS))?,
            clusters: read_resources(&dir.join(CDS))?,
        })
    }

    /// Whether `model` has a listener or a cluster here.
    pub fn serves(&self, model: &str) -> bool {
        self.listeners.values().any(|l| model_of(l) == Some(model))
            || self.clusters.values().any(|c| model_of(c) == Some(model))
    }

    /// This snapshot with `model`'s resources replaced by `new`.
    ///
    /// Fails when one of the new clusters has the name, or the stats name,
    /// of another model's cluster: Envoy's cluster names are global, and
    /// two versions counted as one could not be told apart.
    pub fn with_model(&self, model: &str, new: ModelResources) -> Result<Snapshot, ServingError> {
        let mut out = self.without_model(model);
        let name = new.listener["name"].as_str().unwrap_or(model).to_string();
        if let Some(other) = out.listeners.get(&name) {
            return Err(ServingError::Config(format!(
                "Envoy's listener `{name}` is in {LDS} for {}; it is not `{model}`'s to replace",
                model_of(other).map_or("another purpose".to_string(), |m| format!("`{m}`"))
            )));
        }
        out.listeners.insert(name, new.listener);
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

    /// This snapshot without `model`'s listener and clusters.
    pub fn without_model(&self, model: &str) -> Snapshot {
        let keep = |r: &Value| model_of(r) != Some(model);
        Snapshot {
            listeners: self
                .listeners
                .iter()
                .filter(|(_, l)| keep(l))
                .map(|(n, l)| (n.clone(), l.clone()))
                .collect(),
            clusters: self
                .clusters
                .iter()
                .filter(|(_, c)| keep(c))
                .map(|(n, c)| (n.clone(), c.clone()))
                .collect(),
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

/// Replaces `path` with `text`: a temp file in the same directory (its name
/// starts with `.`), synced, renamed over `path`, and the directory synced
/// so the rename survives a crash.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ServingError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |what: &'static str, at: &Path| {
        let path = at.display().to_string();
        move |source| ServingError::Io { what, path, source }
    };
    let written = (|| {
        let mut file = fs::File::create(&temp).map_err(io("create", &temp))?;
        file.write_all(text.as_bytes())
            .map_err(io("write", &temp))?;
        file.sync_all().map_err(io("sync", &temp))?;
        fs::rename(&temp, path).map_err(io("rename into place", path))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(name: &str, model: &str) -> Value {
        json!({"name": name, "metadata": {"filter_metadata": {"modelops": {"model": model}}}})
    }

    fn snapshot(listeners: &[(&str, &str)], clusters: &[(&str, &str)]) -> Snapshot {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, m)| (n.to_string(), resource(n, m)))
                .collect()
        };
        Snapshot {
            listeners: map(listeners),
            clusters: map(clusters),
        }
    }

    fn model(listener: &str, clusters: &[&str]) -> ModelResources {
        ModelResources {
            listener: resource(listener, "a"),
            clusters: clusters
                .iter()
                .map(|n| (n.to_string(), resource(n, "a")))
                .collect(),
        }
    }

    #[test]
    fn a_model_is_replaced_and_others_are_kept() {
        let before = snapshot(
            &[("a", "a"), ("b", "b")],
            &[("a-v1", "a"), ("a-v2", "a"), ("b-v1", "b")],
        );
        let after = before
            .with_model("a", model("a", &["a-v2", "a-v3"]))
            .unwrap();
        assert_eq!(
            after,
            snapshot(
                &[("a", "a"), ("b", "b")],
                &[("a-v2", "a"), ("a-v3", "a"), ("b-v1", "b")]
            )
        );
        assert_eq!(
            before.clusters_with(&after).keys().collect::<Vec<_>>(),
            ["a-v1", "a-v2", "a-v3", "b-v1"]
        );
        assert_eq!(
            before.without_model("a"),
            snapshot(&[("b", "b")], &[("b-v1", "b")])
        );
        assert!(before.serves("a") && !before.serves("c"));
    }

    #[test]
    fn names_another_model_holds_are_refused() {
        let cases: &[(Snapshot, ModelResources, &str)] = &[
            (
                snapshot(&[("a", "b")], &[]),
                model("a", &[]),
                "Envoy's listener `a` is in lds.json for `b`; it is not `a`'s to replace",
            ),
            (
                snapshot(&[], &[("a-v1", "b")]),
                model("a", &["a-v1"]),
                "`a`'s cluster `a-v1` would share its name or stats name with cluster `a-v1` in cds.json",
            ),
            (
                snapshot(&[], &[("a-v1_0", "b")]),
                model("a", &["a-v1.0"]),
                "`a`'s cluster `a-v1.0` would share its name or stats name with cluster `a-v1_0` in cds.json",
            ),
            (
                snapshot(&[], &[]),
                model("a", &["a-v1.0.0-x+y", "a-v1.0.0-x.y"]),
                "`a`'s cluster `a-v1.0.0-x.y` would share its name or stats name with cluster `a-v1.0.0-x+y` in cds.json",
            ),
        ];
        for (before, new, want) in cases {
            let got = before.with_model("a", new.clone()).unwrap_err().to_string();
            assert_eq!(&got, want);
        }
    }

    #[test]
    fn files_round_trip_and_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Snapshot::read(dir.path()).unwrap(), Snapshot::default());
        let s = snapshot(&[("a", "a")], &[("a-v1", "a")]);
        write_atomic(
            &dir.path().join(LDS),
            &discovery_file("7", s.listeners.values()),
        )
        .unwrap();
        write_atomic(
            &dir.path().join(CDS),
            &discovery_file("7", s.clusters.values()),
        )
        .unwrap();
        assert_eq!(Snapshot::read(dir.path()).unwrap(), s);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temp file is left: {names:?}");

        fs::write(dir.path().join(CDS), "{\"resources\": 3}").unwrap();
        let e = Snapshot::read(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("cds.json: no `resources` list; modelops writes this file as JSON (`version_info`, `resources`)"), "{e}");
    }
}
