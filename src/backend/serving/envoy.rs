//! The Envoy serving target: one listener per model, its route
//! configuration and one cluster per version, in the files an Envoy started
//! with `scripts/envoy.sh bootstrap` reads in `config_dir`: `lds.json` and
//! `cds.json`, which the bootstrap names, and `rds-MODEL.json`, which the
//! model's listener names (RDS from a file). Envoy reloads a file renamed
//! into place without a restart; modelops never starts or signals Envoy.
//!
//! Routing lives in the route configuration, not in the listener: a new
//! split (a canary stage, a rollback) rewrites the model's route file only,
//! Envoy applies it to the connections already open, and the listener,
//! which Envoy would replace and drain (`--drain-time-s`, 600 s by
//! default) while old connections keep the old routes, stays as it is. The
//! listener changes only when it is added, removed or moved.
//!
//! What Envoy serves is read from its admin API (`config_dump`), never from
//! the files: a file Envoy refused, or an Envoy restarted on other files,
//! shows as what it is.
//!
//! A change is made in up to five writes, each waited for (bounded) in
//! `config_dump`, so nothing ever routes to a cluster Envoy does not hold:
//! the clusters the new route needs are added (the route configuration is
//! refused while a cluster it names is missing: `validate_clusters`), then
//! the route file is written, then the listeners (a listener naming a route
//! file that does not exist is refused), then a route file no listener
//! names is removed, then clusters nothing routes to any more. Every write
//! carries a fresh revision in the model's metadata (a listener keeps its
//! own while it does not change), so what `config_dump` shows, or a
//! refusal it reports (`error_state`, for a listener), is known to be this
//! write's; Envoy reports a route configuration it refused only in its
//! counters ([`admin::route_counters`]). When Envoy refuses a write or
//! does not load it in time, the previous files are written back and the
//! step fails with Envoy's reason.

mod admin;
mod change;
pub mod dump;
mod files;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use admin::{Admin, UPDATE_COUNTERS, route_counters};
pub use files::{CDS, LDS, route_file_name};
pub use render::{Role, cluster_name, stat_name, upstream_address};

use super::{Route, ServingError, ServingTarget, nginx};
use crate::manifest::address;
use crate::manifest::config::EnvoyTargetConfig;
use crate::state::TrafficRecord;
use files::Snapshot;

/// How long Envoy has to load a write before the change is undone. Envoy
/// reloads a renamed file within milliseconds.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How often `config_dump` is read while waiting.
const POLL: Duration = Duration::from_millis(20);

/// An envoy serving target.
#[derive(Debug, Clone)]
pub struct EnvoyTarget {
    name: String,
    config: EnvoyTargetConfig,
    dir: PathBuf,
    admin: Admin,
    load_timeout: Duration,
    writes: u64,
}

impl EnvoyTarget {
    /// The target `name` configured by `config`, with a relative
    /// `config_dir` taken from the repository root `repo`.
    ///
    /// Fails when `config_dir` or `admin` is missing, or `admin` is not on
    /// loopback. Upstreams and listen addresses are checked per route.
    pub fn new(
        name: &str,
        config: &EnvoyTargetConfig,
        repo: &Path,
    ) -> Result<EnvoyTarget, ServingError> {
        let dir = config.config_dir.as_deref().ok_or_else(|| {
            ServingError::Config(format!(
                "envoy target `{name}` needs config_dir, the directory Envoy's bootstrap watches"
            ))
        })?;
        let admin = config.admin.as_deref().ok_or_else(|| {
            ServingError::Config(format!(
                "envoy target `{name}` needs admin, the address of Envoy's admin API"
            ))
        })?;
        let base = address::admin_base(admin).map_err(|why| {
            ServingError::Config(format!(
                "envoy target `{name}`: admin `{}` {why}",
                admin.escape_debug()
            ))
        })?;
        // Listeners name their route files by absolute path: Envoy's
        // working directory is not the repository.
        let dir = std::path::absolute(repo.join(dir)).map_err(|source| ServingError::Io {
            what: "resolve",
            path: repo.join(dir).display().to_string(),
            source,
        })?;
        Ok(EnvoyTarget {
            name: name.to_string(),
            config: config.clone(),
            dir,
            admin: Admin::new(base),
            load_timeout: LOAD_TIMEOUT,
            writes: 0,
        })
    }

    /// The same target, giving Envoy `timeout` to load a write.
    pub fn with_load_timeout(mut self, timeout: Duration) -> EnvoyTarget {
        self.load_timeout = timeout;
        self
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A version for the next write: milliseconds since the epoch, and a
    /// count that keeps two writes in one millisecond apart.
    fn next_version(&mut self) -> String {
        self.writes += 1;
        let now = jiff::Timestamp::now().as_millisecond();
        format!("{now}.{}", self.writes)
    }

    /// The listen address of `model`, as Envoy binds it.
    fn listen(&self, model: &str) -> Result<(std::net::IpAddr, u16), ServingError> {
        let listen = self.config.listen.get(model).ok_or_else(|| {
            ServingError::Config(format!(
                "envoy target `{}` has no listen address for model `{model}`",
                self.name
            ))
        })?;
        address::parse_listen(listen).map_err(|why| {
            ServingError::Config(format!(
                "listen address `{}` for model `{model}`: {why}",
                listen.escape_debug()
            ))
        })
    }
}

impl ServingTarget for EnvoyTarget {
    fn describe(&self) -> String {
        format!(
            "envoy target {} ({}, admin {})",
            self.name,
            self.dir.display(),
            self.admin.base()
        )
    }

    fn observe(&mut self) -> Result<BTreeMap<String, TrafficRecord>, ServingError> {
        let listeners = self.admin.listeners()?;
        let routes = self.admin.route_configs()?;
        let clusters = self.admin.clusters()?;
        dump::routing(&listeners, &routes, &clusters, &self.name).map_err(ServingError::Config)
    }

    fn apply(&mut self, route: &Route) -> Result<(), ServingError> {
        let revision = self.next_version();
        let resources = render::render(&self.name, &self.config, route, &revision, &self.dir)?;
        let before = Snapshot::read(&self.dir)?;
        let after = before.with_model(route.model, resources)?;
        self.change(route.model, &before, &after)
    }

    fn remove(&mut self, model: &str) -> Result<(), ServingError> {
        let before = Snapshot::read(&self.dir)?;
        if !before.serves(model) {
            return Ok(());
        }
        let after = before.without_model(model);
        self.change(model, &before, &after)
    }

    fn check_health(&self, model: &str, version: &str) -> Result<Option<String>, ServingError> {
        let Some(path) = &self.config.health_path else {
            return Ok(None);
        };
        let address = upstream_address(&self.name, &self.config, model, version)?;
        nginx::health::check(&address, path).map(Some).map_err(|e| {
            ServingError::Unhealthy(format!(
                "health check of `{model}` version {version} on {}: {e}",
                self.describe()
            ))
        })
    }

    fn probe(&self, model: &str, path: &str) -> Result<Option<String>, ServingError> {
        let (ip, port) = self.listen(model)?;
        admin::probe(&admin::probe_url(ip, port, path))
            .map(Some)
            .map_err(|e| {
                ServingError::Unhealthy(format!(
                    "probe of `{model}` through {}: {e}",
                    self.describe()
                ))
            })
    }
}
