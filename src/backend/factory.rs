//! The one place backends are built: the registry, the serving targets and
//! the metrics providers, from the repository's configuration (already
//! validated) and the environment read once ([`Env`]). A new serving target,
//! registry or metrics provider is one arm here beside its config variant
//! (ripgrep builds its searchers from `HiArgs` the same way).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::env::Env;
use super::metrics::MetricsProvider;
use super::metrics::deadline::{Bounded, Deadline};
use super::metrics::file::FileProvider;
use super::metrics::prometheus::PrometheusProvider;
use super::mlflow::MlflowRegistry;
use super::mlflow::client::{Client, Endpoint};
use super::serving::local::LocalRouting;
use super::serving::nginx::NginxTarget;
use super::serving::{ServingTarget, Targets};
use super::{LocalStore, Registry};
use crate::manifest::config::{
    ConfigSpec, MetricsProviderConfig, RegistryConfig, ServingTargetConfig,
};

/// How long one MLflow call may take.
const MLFLOW_TIMEOUT: Duration = Duration::from_secs(30);

/// Concurrent questions per Prometheus provider.
const PROMETHEUS_WORKERS: usize = 4;

/// The registry: MLflow (see [`mlflow`]), else the embedded store in
/// `state_dir`.
pub fn registry(config: &ConfigSpec, env: &Env, state_dir: &Path) -> Result<Box<dyn Registry>> {
    Ok(match mlflow(config, env)? {
        Some(m) => Box::new(m),
        None => Box::new(LocalStore::new(state_dir)),
    })
}

/// The MLflow registry when `MLFLOW_TRACKING_URI` is set or `registry.type`
/// is `mlflow` (the variable overrides `registry.uri`); `None` for the
/// embedded store.
pub fn mlflow(config: &ConfigSpec, env: &Env) -> Result<Option<MlflowRegistry>> {
    let uri = match (&env.mlflow_uri, &config.registry) {
        (Some(u), _) => u.clone(),
        (None, RegistryConfig::Mlflow(m)) => match &m.uri {
            Some(u) => u.clone(),
            None => bail!(
                "registry.type is mlflow but neither registry.uri nor MLFLOW_TRACKING_URI gives the server"
            ),
        },
        (None, RegistryConfig::Local(_)) => return Ok(None),
    };
    let endpoint = Endpoint::new(&uri, &env.mlflow_credentials).map_err(anyhow::Error::msg)?;
    let client = Client::with_keep_alive(endpoint, MLFLOW_TIMEOUT, env.http_keep_alive)
        .map_err(anyhow::Error::msg)?;
    Ok(Some(MlflowRegistry::new(
        client,
        config.registry.stage_aliases(),
    )))
}

/// The serving targets: `local` always, and those `modelops.yaml` declares.
/// nginx targets write under `repo` (or an absolute `config_dir`), `local`
/// ones in `state_dir`.
pub fn serving_targets(config: &ConfigSpec, repo: &Path, state_dir: &Path) -> Result<Targets> {
    let mut targets: Targets = BTreeMap::new();
    targets.insert(
        "local".into(),
        Box::new(LocalRouting::new("local", state_dir)),
    );
    for (name, t) in &config.serving.targets {
        let target: Box<dyn ServingTarget> = match t {
            ServingTargetConfig::Local(_) => Box::new(LocalRouting::new(name, state_dir)),
            ServingTargetConfig::Nginx(n) => Box::new(
                NginxTarget::new(name, n, repo)
                    .with_context(|| format!("serving target {name}"))?,
            ),
        };
        targets.insert(name.clone(), target);
    }
    Ok(targets)
}

/// The metrics providers by name, as `modelops.yaml` declares them. Every
/// Prometheus question of the command shares one deadline
/// (`MODELOPS_METRICS_DEADLINE`, counted from now) and up to
/// [`PROMETHEUS_WORKERS`] are asked at once; an observations file is read
/// under the rule for every file a manifest names, so it cannot hang.
pub fn metrics_providers(
    config: &ConfigSpec,
    env: &Env,
    repo: &Path,
) -> Result<BTreeMap<String, Box<dyn MetricsProvider>>> {
    let limit = env.metrics_deadline.clone().map_err(anyhow::Error::msg)?;
    let deadline = Deadline::after(limit);
    let mut out: BTreeMap<String, Box<dyn MetricsProvider>> = BTreeMap::new();
    for (name, p) in &config.metrics {
        let provider: Box<dyn MetricsProvider> = match p {
            MetricsProviderConfig::File(f) => {
                let path = f.path.as_deref().unwrap_or("observations.yaml");
                Box::new(FileProvider::new(name, repo, path))
            }
            // Its errors already name the provider.
            MetricsProviderConfig::Prometheus(prom) => {
                let mut instances: Vec<Box<dyn MetricsProvider + Send>> = Vec::new();
                for _ in 0..PROMETHEUS_WORKERS {
                    instances.push(Box::new(PrometheusProvider::new(name, prom)?));
                }
                Box::new(Bounded::new(instances, deadline))
            }
        };
        out.insert(name.clone(), provider);
    }
    Ok(out)
}
