//! `kind: Config` — `modelops.yaml`: which registry, serving targets and
//! metrics providers the repository is reconciled against.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiVersion, DurationSpec};

/// The `kind` of the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConfigKind {
    /// Backends and targets.
    Config,
}

/// `modelops.yaml` at the repository root. Without it every backend is the embedded default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "modelops Config")]
pub struct ConfigManifest {
    /// Always `modelops/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// Always `Config`.
    pub kind: ConfigKind,
    /// Backends and targets.
    #[serde(default)]
    pub spec: ConfigSpec,
}

/// Backends and targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// The model registry.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The embedded state store (used by `local` registry and serving target).
    #[serde(default)]
    pub state: StateConfig,
    /// Serving targets that deployments name.
    #[serde(default)]
    pub serving: ServingConfig,
    /// Metrics providers for rollout analysis and monitoring, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, MetricsProviderConfig>,
}

/// Which registry holds the models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistryType {
    /// The embedded state store under `.modelops/` (no server).
    #[default]
    Local,
    /// An MLflow tracking server's model registry.
    Mlflow,
}

/// The model registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `local` (default) or `mlflow`.
    #[serde(default, rename = "type")]
    pub registry_type: RegistryType,
    /// Tracking server URL for `mlflow`; `MLFLOW_TRACKING_URI` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Registry aliases that mirror stages, such as `{Production: production, Staging: staging}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_aliases: BTreeMap<String, String>,
}

/// The embedded state store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory, relative to the repository root (default `.modelops`); `--state` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// How long an apply waits for another one holding the lock (default `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_timeout: Option<DurationSpec>,
}

/// Serving targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServingConfig {
    /// Targets by name; `local` exists without being declared.
    #[serde(default)]
    pub targets: BTreeMap<String, ServingTargetConfig>,
}

/// Kinds of serving target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServingType {
    /// The embedded routing table in the state store.
    Local,
    /// nginx config fragments, checked with `nginx -t` and reloaded.
    Nginx,
}

/// One serving target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServingTargetConfig {
    /// `local` or `nginx`.
    #[serde(rename = "type")]
    pub target_type: ServingType,
    /// nginx: directory the per-deployment fragments are written to
    /// (relative to the repository, or absolute); nginx's `http` block
    /// includes `<config_dir>/*.conf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<String>,
    /// nginx: command that reloads nginx (default `nginx -s reload`); split
    /// on whitespace and run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_command: Option<String>,
    /// nginx: command that checks the configuration (default `nginx -t`);
    /// split on whitespace and run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// nginx: the address each model's server block listens on, by model
    /// name, such as `{fraud-detector: "127.0.0.1:8081"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listen: BTreeMap<String, String>,
    /// nginx: upstream address per version, with `{model}` and `{version}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_template: Option<String>,
    /// nginx: explicit upstream address per `model` then per version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, BTreeMap<String, String>>,
    /// nginx: the path every upstream answers a health check on, such as
    /// `/healthz`. When set, `modelops rollback` sends a model's traffic to a
    /// version only after its upstream answered `GET <health_path>` with a
    /// 2xx within 2 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

/// Kinds of metrics provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricsType {
    /// Observations from a YAML or JSON file.
    File,
    /// A Prometheus server's HTTP API.
    Prometheus,
}

/// One metrics provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsProviderConfig {
    /// `file` or `prometheus`.
    #[serde(rename = "type")]
    pub provider_type: MetricsType,
    /// `file`: path relative to the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `prometheus`: server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `prometheus`: PromQL per signal (`requests`, `errors`,
    /// `latency_p99_ms`, `accuracy`, `prediction_kl_divergence`, or a
    /// business metric's name), overriding the documented defaults;
    /// `{model}`, `{version}` and `{window}` are replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
}

impl ConfigSpec {
    /// Whether a serving target of this name exists (`local` always does).
    pub fn has_target(&self, name: &str) -> bool {
        name == "local" || self.serving.targets.contains_key(name)
    }
}
