//! The nginx serving target: one config fragment per deployment in a
//! directory nginx's `http` block includes, checked with `nginx -t` and
//! made live by a graceful reload, which finishes in-flight requests on the
//! old workers while new ones take the listening sockets.
//!
//! The fragments are the only record of what nginx serves: each begins with
//! a header carrying its routing as JSON, and `observe` reads that back.
//!
//! `nginx -s reload` only signals the master and returns: new workers take
//! over a few milliseconds after `apply` returns, and a change `nginx -t`
//! accepts but the master cannot carry out (say, a listen address another
//! process holds) leaves the old routing serving, logged in nginx's error
//! log rather than reported here.

mod command;
mod header;
pub mod health;
mod render;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub use command::NginxCommand;
pub use header::RouteHeader;
pub use render::{render, upstream_address};

use super::files::write_atomic;
use super::{Route, ServingError, ServingTarget};
use crate::manifest::config::NginxTargetConfig;
use crate::state::TrafficRecord;

/// An nginx serving target: fragments in `dir`, and the commands that check
/// and reload the nginx including them.
#[derive(Debug, Clone)]
pub struct NginxTarget {
    name: String,
    config: NginxTargetConfig,
    dir: PathBuf,
    test: NginxCommand,
    reload: NginxCommand,
}

impl NginxTarget {
    /// The target `name` configured by `config`, with a relative
    /// `config_dir` taken from the repository root `repo`.
    ///
    /// Fails when `config_dir` is missing or a command is empty. Upstreams
    /// and listen addresses are checked per route, at apply.
    pub fn new(
        name: &str,
        config: &NginxTargetConfig,
        repo: &Path,
    ) -> Result<NginxTarget, ServingError> {
        let dir = config.config_dir.as_deref().ok_or_else(|| {
            ServingError::Config(format!(
                "nginx target `{name}` needs config_dir, where its fragments are written"
            ))
        })?;
        let command = |given: &Option<String>, default: &str, field: &str| {
            let line = given.as_deref().unwrap_or(default);
            NginxCommand::parse(line).ok_or_else(|| {
                ServingError::Config(format!("nginx target `{name}`: {field} is empty"))
            })
        };
        Ok(NginxTarget {
            name: name.to_string(),
            config: config.clone(),
            dir: repo.join(dir),
            test: command(&config.test_command, "nginx -t", "test_command")?,
            reload: command(&config.reload_command, "nginx -s reload", "reload_command")?,
        })
    }

    /// The fragment serving `deployment`.
    pub fn fragment_path(&self, deployment: &str) -> PathBuf {
        self.dir.join(format!("modelops-{deployment}.conf"))
    }

    /// Every fragment of ours in the directory: the routing it holds, and
    /// its path, per model.
    fn fragments(&self) -> Result<BTreeMap<String, (TrafficRecord, PathBuf)>, ServingError> {
        let io = |what: &'static str, path: &Path| {
            let path = path.display().to_string();
            move |source| ServingError::Io { what, path, source }
        };
        let mut paths = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io("read directory", &self.dir))? {
            let path = entry.map_err(io("read directory", &self.dir))?.path();
            let ours = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("modelops-") && n.ends_with(".conf"));
            if ours && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut routes: BTreeMap<String, (TrafficRecord, PathBuf)> = BTreeMap::new();
        for path in paths {
            let text = fs::read_to_string(&path).map_err(io("read", &path))?;
            let Some(header) = RouteHeader::parse(&text)
                .map_err(|e| ServingError::Config(format!("{}: {e}", path.display())))?
            else {
                continue;
            };
            let model = header.model.clone();
            if let Some((_, other)) = routes.get(&model) {
                return Err(ServingError::Config(format!(
                    "{} and {} both route `{model}`: nginx cannot serve both; remove one",
                    other.display(),
                    path.display(),
                )));
            }
            routes.insert(model, (header.traffic(), path));
        }
        Ok(routes)
    }

    /// Runs the test, then the reload; on either failure puts `previous`
    /// back in `path` (or removes `path` when there was none).
    fn check_and_reload(
        &self,
        model: &str,
        path: &Path,
        previous: Option<&str>,
    ) -> Result<(), ServingError> {
        let failed = match self.test.run() {
            Ok(()) => match self.reload.run() {
                Ok(()) => return Ok(()),
                Err(e) => format!("nginx did not reload the routing of `{model}`: {e}"),
            },
            Err(e) => format!("nginx refused the routing of `{model}`: {e}"),
        };
        let restored = match previous {
            Some(text) => write_atomic(path, text),
            None => fs::remove_file(path).map_err(|source| ServingError::Io {
                what: "remove",
                path: path.display().to_string(),
                source,
            }),
        };
        Err(ServingError::Refused(match restored {
            Ok(()) if previous.is_some() => {
                format!("{failed}\nthe previous fragment {} is back", path.display())
            }
            Ok(()) => format!("{failed}\nthe new fragment {} was removed", path.display()),
            Err(e) => format!("{failed}\nputting the previous fragment back failed too: {e}"),
        }))
    }
}

impl ServingTarget for NginxTarget {
    fn describe(&self) -> String {
        format!("nginx target {} ({})", self.name, self.dir.display())
    }

    fn observe(&mut self) -> Result<BTreeMap<String, TrafficRecord>, ServingError> {
        Ok(self
            .fragments()?
            .into_iter()
            .map(|(m, (r, _))| (m, r))
            .collect())
    }

    fn remove(&mut self, model: &str) -> Result<(), ServingError> {
        let Some((_, path)) = self.fragments()?.remove(model) else {
            return Ok(());
        };
        let previous = fs::read_to_string(&path).map_err(|source| ServingError::Io {
            what: "read",
            path: path.display().to_string(),
            source,
        })?;
        fs::remove_file(&path).map_err(|source| ServingError::Io {
            what: "remove",
            path: path.display().to_string(),
            source,
        })?;
        self.check_and_reload(model, &path, Some(&previous))
    }

    fn apply(&mut self, route: &Route) -> Result<(), ServingError> {
        let text = render(&self.name, &self.config, route)?;
        let path = self.fragment_path(route.deployment);
        let previous = match fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(ServingError::Io {
                    what: "read",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        write_atomic(&path, &text)?;
        self.check_and_reload(route.model, &path, previous.as_deref())
    }

    fn check_health(&self, model: &str, version: &str) -> Result<Option<String>, ServingError> {
        let Some(path) = &self.config.health_path else {
            return Ok(None);
        };
        let address = upstream_address(&self.name, &self.config, model, version)?;
        health::check(&address, path).map(Some).map_err(|e| {
            ServingError::Unhealthy(format!(
                "health check of `{model}` version {version} on {}: {e}",
                self.describe()
            ))
        })
    }

    fn probe(&self, model: &str, path: &str) -> Result<Option<String>, ServingError> {
        let listen = self.config.listen.get(model).ok_or_else(|| {
            ServingError::Config(format!(
                "nginx target `{}` has no listen address for model `{model}` \
                 (serving.targets.{}.listen)",
                self.name, self.name
            ))
        })?;
        health::probe(listen, path).map(Some).map_err(|e| {
            ServingError::Unhealthy(format!("probe of `{model}` on {}: {e}", self.describe()))
        })
    }
}

#[cfg(test)]
#[path = "nginx/target_tests.rs"]
mod tests;
