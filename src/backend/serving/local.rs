//! The embedded serving target: the routing table lives in the state
//! directory (`routing.json`), so plans and applies work with no server. A
//! router in front of the models reads it; modelops only keeps it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Route, ServingError, ServingTarget};
use crate::state::TrafficRecord;

/// The file, inside the state directory.
pub const ROUTING_FILE: &str = "routing.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct RoutingFile {
    format: u32,
    /// Routing per model.
    routes: BTreeMap<String, TrafficRecord>,
}

/// The routing table of one `local` target.
#[derive(Debug)]
pub struct LocalRouting {
    name: String,
    dir: PathBuf,
}

impl LocalRouting {
    /// The target `name`, keeping its table in the state directory `dir`.
    pub fn new(name: &str, dir: impl Into<PathBuf>) -> LocalRouting {
        LocalRouting {
            name: name.to_string(),
            dir: dir.into(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(ROUTING_FILE)
    }

    fn read(&self) -> Result<RoutingFile, ServingError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ServingError::Refused(format!(
                    "{} is not a modelops routing table: {e}",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RoutingFile {
                format: 1,
                routes: BTreeMap::new(),
            }),
            Err(source) => Err(ServingError::Io {
                what: "cannot read",
                path: path.display().to_string(),
                source,
            }),
        }
    }

    fn write(&self, file: &RoutingFile) -> Result<(), ServingError> {
        let path = self.path();
        let io = |what, source| ServingError::Io {
            what,
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| io("cannot create the directory of", e))?;
        let tmp = self.dir.join(format!(".{ROUTING_FILE}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("cannot write", e))?;
        f.write_all(&serde_json::to_vec_pretty(file).expect("routing serializes"))
            .and_then(|()| f.sync_all())
            .map_err(|e| io("cannot write", e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io("cannot replace", e))
    }
}

impl ServingTarget for LocalRouting {
    fn describe(&self) -> String {
        format!("local target {} ({})", self.name, self.path().display())
    }

    fn observe(&mut self) -> Result<BTreeMap<String, TrafficRecord>, ServingError> {
        Ok(self
            .read()?
            .routes
            .into_iter()
            .filter(|(_, r)| r.target == self.name)
            .collect())
    }

    fn apply(&mut self, route: &Route) -> Result<(), ServingError> {
        let mut file = self.read()?;
        file.format = 1;
        let mut traffic = route.traffic.clone();
        traffic.sticky = route.sticky.cloned().or(traffic.sticky);
        file.routes.insert(route.model.to_string(), traffic);
        self.write(&file)
    }

    fn remove(&mut self, model: &str) -> Result<(), ServingError> {
        let mut file = self.read()?;
        if file.routes.get(model).is_none_or(|r| r.target != self.name) {
            return Ok(());
        }
        file.routes.remove(model);
        self.write(&file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_survive_a_reopen_and_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = LocalRouting::new("local", dir.path());
        assert!(t.observe().unwrap().is_empty());
        let canary = TrafficRecord {
            target: "local".into(),
            weights: [("2".to_string(), 95), ("3".to_string(), 5)].into(),
            ..Default::default()
        };
        t.apply(&Route {
            model: "fraud-detector",
            deployment: "fraud-detector",
            traffic: &canary,
            sticky: None,
        })
        .unwrap();
        let mut again = LocalRouting::new("local", dir.path());
        assert_eq!(again.observe().unwrap()["fraud-detector"], canary);
        let all = TrafficRecord::all_to("local", &crate::manifest::VersionId::Number(3));
        again
            .apply(&Route {
                model: "fraud-detector",
                deployment: "fraud-detector",
                traffic: &all,
                sticky: None,
            })
            .unwrap();
        assert_eq!(t.observe().unwrap()["fraud-detector"], all);
        // Another target's route is not this target's to remove.
        LocalRouting::new("other", dir.path())
            .remove("fraud-detector")
            .unwrap();
        assert_eq!(t.observe().unwrap()["fraud-detector"], all);
        t.remove("fraud-detector").unwrap();
        assert!(
            LocalRouting::new("local", dir.path())
                .observe()
                .unwrap()
                .is_empty()
        );
        t.remove("fraud-detector").unwrap();
    }
}
