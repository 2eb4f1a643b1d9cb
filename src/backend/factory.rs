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
use super::mlflow::registry as mlflow;
use super::serving::envoy::EnvoyTarget;
use super::serving::local::LocalRouting;
use super::serving::nginx::NginxTarget;
use super::serving::{ServingTarget, Targets};
use super::{LocalStore, Registry};
use crate::manifest::config::{
    ConfigSpec, MetricsProviderConfig, MlflowRegistryConfig, RegistryConfig, ServingTargetConfig,
};

/// How long one MLflow call may take.
const MLFLOW_TIMEOUT: Duration = Duration::from_secs(30);

/// Concurrent questions per Prometheus provider.
const PROMETHEUS_WORKERS: usize = 4;

/// The registry `registry.type` names, its state under `state_dir` for the
/// embedded store; `MLFLOW_TRACKING_URI` makes it MLflow whatever the type.
pub fn registry(config: &ConfigSpec, env: &Env, state_dir: &Path) -> Result<Box<dyn Registry>> {
    if let Some(m) = mlflow_from_env(config, env)? {
        return Ok(Box::new(m));
    }
    Ok(match &config.registry {
        RegistryConfig::Local(_) => Box::new(LocalStore::new(state_dir)),
        RegistryConfig::Mlflow(m) => Box::new(mlflow_at(configured_uri(m)?, config, env)?),
    })
}

/// The MLflow registry when `MLFLOW_TRACKING_URI` is set or `registry.type`
/// is `mlflow` (the variable overrides `registry.uri`); `None` for any other
/// registry. For what only MLflow has (its lock's lease, its tags' history).
pub fn mlflow(config: &ConfigSpec, env: &Env) -> Result<Option<MlflowRegistry>> {
    if let Some(m) = mlflow_from_env(config, env)? {
        return Ok(Some(m));
    }
    match &config.registry {
        RegistryConfig::Mlflow(m) => mlflow_at(configured_uri(m)?, config, env).map(Some),
        _ => Ok(None),
    }
}

/// MLflow at `MLFLOW_TRACKING_URI`, with the configuration's stage aliases,
/// when the variable is set.
fn mlflow_from_env(config: &ConfigSpec, env: &Env) -> Result<Option<MlflowRegistry>> {
    match &env.mlflow_uri {
        Some(uri) => mlflow_at(uri, config, env).map(Some),
        None => Ok(None),
    }
}

/// `registry.uri`, which `type: mlflow` needs when the variable is not set.
fn configured_uri(m: &MlflowRegistryConfig) -> Result<&str> {
    match &m.uri {
        Some(uri) => Ok(uri),
        None => bail!(
            "registry.type is mlflow but neither registry.uri nor MLFLOW_TRACKING_URI gives the server"
        ),
    }
}

/// The MLflow registry at `uri`, with the environment's credentials, the
/// configuration's stage aliases and concurrency (`registry.writers`,
/// `registry.readers` of a `type: mlflow` registry; the defaults otherwise),
/// reading through the command's cache.
fn mlflow_at(uri: &str, config: &ConfigSpec, env: &Env) -> Result<MlflowRegistry> {
    let endpoint = Endpoint::new(uri, &env.mlflow_credentials).map_err(anyhow::Error::msg)?;
    let client = Client::with_keep_alive(endpoint, MLFLOW_TIMEOUT, env.http_keep_alive)
        .map_err(anyhow::Error::msg)?;
    let (writers, readers) = match &config.registry {
        RegistryConfig::Mlflow(m) => (
            m.writers.map_or(mlflow::WRITERS, |w| w as usize),
            m.readers.map_or(mlflow::READERS, |r| r as usize),
        ),
        RegistryConfig::Local(_) => (mlflow::WRITERS, mlflow::READERS),
    };
    Ok(MlflowRegistry::new(client, config.registry.stage_aliases())
        .with_reads(env.mlflow_reads.clone())
        .with_concurrency(writers, readers))
}

/// The serving targets: `local` always, and those `modelops.yaml` declares.
/// nginx and envoy targets write under `repo` (or an absolute `config_dir`),
/// `local` ones in `state_dir`.
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
            ServingTargetConfig::Envoy(e) => Box::new(
                EnvoyTarget::new(name, e, repo)
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::config::{
        EnvoyTargetConfig, FileMetricsConfig, LocalRegistryConfig, LocalTargetConfig,
        NginxTargetConfig, PrometheusConfig,
    };

    fn env(mlflow_uri: Option<&str>, deadline: Option<&str>) -> Env {
        Env::from_vars(|k| match k {
            "MLFLOW_TRACKING_URI" => mlflow_uri.map(str::to_string),
            "MODELOPS_METRICS_DEADLINE" => deadline.map(str::to_string),
            _ => None,
        })
    }

    fn with_registry(registry: RegistryConfig) -> ConfigSpec {
        ConfigSpec {
            registry,
            ..ConfigSpec::default()
        }
    }

    #[test]
    fn the_registry_is_the_configured_type_unless_the_environment_names_mlflow() {
        let mlflow = |uri: Option<&str>| {
            RegistryConfig::Mlflow(MlflowRegistryConfig {
                uri: uri.map(str::to_string),
                ..Default::default()
            })
        };
        let local = RegistryConfig::Local(LocalRegistryConfig::default());
        // (why, registry, MLFLOW_TRACKING_URI, the registry built or the error)
        type Case = (
            &'static str,
            RegistryConfig,
            Option<&'static str>,
            Result<&'static str, &'static str>,
        );
        let cases: [Case; 5] = [
            ("default", local.clone(), None, Ok("local state in /state")),
            (
                "the variable wins over local",
                local,
                Some("http://env:5000"),
                Ok("MLflow at http://env:5000/"),
            ),
            (
                "configured uri",
                mlflow(Some("http://u:pw@cfg:5000")),
                None,
                Ok("MLflow at http://cfg:5000/"),
            ),
            (
                "the variable wins over registry.uri",
                mlflow(Some("http://cfg:5000")),
                Some("http://env:5000"),
                Ok("MLflow at http://env:5000/"),
            ),
            (
                "mlflow needs a server",
                mlflow(None),
                None,
                Err(
                    "registry.type is mlflow but neither registry.uri nor MLFLOW_TRACKING_URI gives the server",
                ),
            ),
        ];
        for (why, registry, uri, want) in cases {
            let config = with_registry(registry);
            let got = super::registry(&config, &env(uri, None), Path::new("/state"))
                .map(|r| r.describe())
                .map_err(|e| e.to_string());
            assert_eq!(
                got.as_deref(),
                want.map_err(str::to_string).as_deref(),
                "{why}"
            );
            let only_mlflow = super::mlflow(&config, &env(uri, None))
                .map(|m| m.is_some())
                .map_err(|e| e.to_string());
            let want_mlflow = want
                .map(|w| w.starts_with("MLflow"))
                .map_err(str::to_string);
            assert_eq!(only_mlflow, want_mlflow, "{why}: mlflow()");
        }
    }

    #[test]
    fn every_declared_target_and_provider_is_built_by_its_type() {
        let mut config = ConfigSpec::default();
        config.serving.targets.insert(
            "edge".into(),
            ServingTargetConfig::Nginx(NginxTargetConfig {
                config_dir: Some("nginx".into()),
                upstream_template: Some("127.0.0.1:90{version}".into()),
                ..Default::default()
            }),
        );
        config.serving.targets.insert(
            "table".into(),
            ServingTargetConfig::Local(LocalTargetConfig {}),
        );
        config.serving.targets.insert(
            "mesh".into(),
            ServingTargetConfig::Envoy(EnvoyTargetConfig {
                config_dir: Some("/srv/envoy".into()),
                admin: Some("127.0.0.1:9901".into()),
                upstream_template: Some("127.0.0.1:90{version}".into()),
                ..Default::default()
            }),
        );
        config.metrics.insert(
            "obs".into(),
            MetricsProviderConfig::File(FileMetricsConfig {
                path: Some("observations.yaml".into()),
            }),
        );
        config.metrics.insert(
            "prom".into(),
            MetricsProviderConfig::Prometheus(PrometheusConfig {
                url: Some("http://127.0.0.1:9090".into()),
                ..Default::default()
            }),
        );
        let targets = serving_targets(&config, Path::new("/repo"), Path::new("/state")).unwrap();
        let described: Vec<String> = targets.values().map(|t| t.describe()).collect();
        assert_eq!(
            described,
            [
                "nginx target edge (/repo/nginx)",
                "local target local (/state/routing.json)",
                "envoy target mesh (/srv/envoy, admin http://127.0.0.1:9901)",
                "local target table (/state/routing.json)",
            ]
        );
        let providers = metrics_providers(&config, &env(None, None), Path::new("/repo")).unwrap();
        assert_eq!(
            providers.keys().collect::<Vec<_>>(),
            ["obs", "prom"],
            "every provider, by name"
        );
        let err = metrics_providers(&config, &env(None, Some("soon")), Path::new("/repo"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("MODELOPS_METRICS_DEADLINE=soon is not a positive number of seconds")
        );
    }

    #[test]
    fn an_mlflow_registry_writes_as_many_models_at_once_as_configured() {
        let configured = |writers: Option<u32>| {
            with_registry(RegistryConfig::Mlflow(MlflowRegistryConfig {
                uri: Some("http://mlflow:5000".into()),
                writers,
                ..Default::default()
            }))
        };
        // (writers configured, models to write, writers used)
        let cases = [(None, 100, 8), (Some(3), 100, 3), (Some(16), 5, 5)];
        for (writers, models, want) in cases {
            let r = registry(&configured(writers), &env(None, None), Path::new("/state")).unwrap();
            assert_eq!(r.writers(models).len(), want, "{writers:?} {models}");
        }
    }
}
