//! `kind: Config` — `modelops.yaml`: which registry, serving targets and
//! metrics providers the repository is reconciled against.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

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
    #[serde(default, deserialize_with = "registry_default_type")]
    pub registry: RegistryConfig,
    /// The embedded state store (used by `local` registry and serving target).
    #[serde(default)]
    pub state: StateConfig,
    /// Serving targets that deployments name.
    #[serde(default)]
    pub serving: ServingConfig,
    /// Metrics providers for rollout analysis and monitoring, by name.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "through_json"
    )]
    pub metrics: BTreeMap<String, MetricsProviderConfig>,
    /// The GitHub identity of each owner (a model's `owner`, or a name in a
    /// policy's `approvals`), such as `{risk-ml: {github_team:
    /// acme/risk-ml}}`: its `approval.<who>` gate then passes only on an
    /// approving pull-request review by that team's members or that user.
    /// On a pull request the base revision's mapping is used.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, OwnerIdentity>,
}

/// Who signs off for an owner on GitHub: exactly one of `github_team` and
/// `github_user`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerIdentity {
    /// A team, as `org/team-slug`: an approving review by any active
    /// member counts (reading membership needs a token with the
    /// organisation's members:read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_team: Option<String>,
    /// A GitHub user's login: an approving review by that user counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_user: Option<String>,
}

/// The model registry, by `type` (`local` when `type` is left out). Each
/// type has its own fields; a field of another type is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schemars(transform = type_optional_in_local)]
pub enum RegistryConfig {
    /// The embedded state store under `.modelops/` (no server).
    Local(LocalRegistryConfig),
    /// An MLflow tracking server's model registry.
    Mlflow(MlflowRegistryConfig),
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::Local(LocalRegistryConfig::default())
    }
}

impl RegistryConfig {
    /// The `type:` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            RegistryConfig::Local(_) => "local",
            RegistryConfig::Mlflow(_) => "mlflow",
        }
    }

    /// Registry aliases that mirror stages (an MLflow registry's, or a
    /// `local` one's that `MLFLOW_TRACKING_URI` turns into MLflow).
    pub fn stage_aliases(&self) -> &BTreeMap<String, String> {
        match self {
            RegistryConfig::Local(l) => &l.stage_aliases,
            RegistryConfig::Mlflow(m) => &m.stage_aliases,
        }
    }
}

/// `type: local`: the embedded state store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalRegistryConfig {
    /// Aliases for when `MLFLOW_TRACKING_URI` makes the registry MLflow's
    /// after all, such as `{Production: production, Staging: staging}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_aliases: BTreeMap<String, String>,
}

/// `type: mlflow`: an MLflow tracking server's model registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MlflowRegistryConfig {
    /// Tracking server URL; `MLFLOW_TRACKING_URI` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Registry aliases that mirror stages, such as `{Production: production, Staging: staging}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_aliases: BTreeMap<String, String>,
    /// How many models apply writes at once (default 8). Each writer has one
    /// request in flight; size it to the server's workers times
    /// (1 + round trip / server time per request), see docs/mlflow.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub writers: Option<u32>,
    /// How many reads (runs, `MLmodel` files) plan and apply send at once
    /// (default 16); sized like `writers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub readers: Option<u32>,
}

/// A registry without `type` is `local`: the schema's `local` branch does not
/// require the tag, and [`registry_default_type`] supplies it to serde.
fn type_optional_in_local(schema: &mut schemars::Schema) {
    let Some(branches) = schema.get_mut("oneOf").and_then(|b| b.as_array_mut()) else {
        return;
    };
    for branch in branches {
        let local = branch.pointer("/properties/type/const") == Some(&"local".into());
        if let (true, Some(required)) = (
            local,
            branch.get_mut("required").and_then(|r| r.as_array_mut()),
        ) {
            required.retain(|r| r != "type");
        }
    }
}

/// Deserializes a registry, taking a missing `type` as `local` (through the
/// JSON tree, as [`through_json`] says why).
fn registry_default_type<'de, D: Deserializer<'de>>(d: D) -> Result<RegistryConfig, D::Error> {
    let mut fields = serde_json::Map::deserialize(d)?;
    if !fields.contains_key("type") {
        fields.insert("type".into(), "local".into());
    }
    RegistryConfig::deserialize(serde_json::Value::Object(fields)).map_err(D::Error::custom)
}

/// Deserializes what holds `#[serde(tag = "type")]` enums from the JSON tree
/// of its YAML (the tree the schema checks) rather than from the parser
/// directly. serde buffers a tagged value before it knows the variant, and
/// that buffer keeps YAML's scalar types: a version written as a key `2:`
/// would be an integer where a string is expected. In the tree, as for the
/// schema, every key is a string.
fn through_json<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    let tree = serde_json::Value::deserialize(d)?;
    T::deserialize(tree).map_err(D::Error::custom)
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
    #[serde(default, deserialize_with = "through_json")]
    pub targets: BTreeMap<String, ServingTargetConfig>,
}

/// One serving target, by `type`. Each type has its own fields; a field of
/// another type is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServingTargetConfig {
    /// The embedded routing table in the state store.
    Local(LocalTargetConfig),
    /// nginx config fragments, checked with `nginx -t` and reloaded.
    Nginx(NginxTargetConfig),
    /// Envoy's listeners and clusters, as files Envoy watches, read back
    /// from its admin API.
    Envoy(EnvoyTargetConfig),
}

impl ServingTargetConfig {
    /// The `type:` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServingTargetConfig::Local(_) => "local",
            ServingTargetConfig::Nginx(_) => "nginx",
            ServingTargetConfig::Envoy(_) => "envoy",
        }
    }
}

/// `type: local`: the embedded routing table; it has no settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalTargetConfig {}

/// `type: nginx`: one config fragment per deployment, checked and reloaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NginxTargetConfig {
    /// Directory the per-deployment fragments are written to (relative to
    /// the repository, or absolute); nginx's `http` block includes
    /// `<config_dir>/*.conf`. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<String>,
    /// Command that reloads nginx (default `nginx -s reload`); split on
    /// whitespace and run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_command: Option<String>,
    /// Command that checks the configuration (default `nginx -t`); split on
    /// whitespace and run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_command: Option<String>,
    /// The address each model's server block listens on, by model name,
    /// such as `{fraud-detector: "127.0.0.1:8081"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listen: BTreeMap<String, String>,
    /// Upstream address per version, with `{model}` and `{version}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_template: Option<String>,
    /// Explicit upstream address per `model` then per version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, BTreeMap<String, String>>,
    /// The path every upstream answers a health check on, such as
    /// `/healthz`. When set, `modelops rollback` sends a model's traffic to a
    /// version only after its upstream answered `GET <health_path>` with a
    /// 2xx within 2 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

/// `type: envoy`: one listener and one route configuration per model and
/// one cluster per version, in the files an Envoy started with
/// `scripts/envoy.sh bootstrap` watches; what Envoy serves is read from its
/// admin API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvoyTargetConfig {
    /// Directory holding `lds.json` (listeners) and `cds.json` (clusters),
    /// which Envoy's bootstrap watches, and a `rds-<model>.json` (routes)
    /// per model, which its listener names (relative to the repository, or
    /// absolute). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dir: Option<String>,
    /// Envoy's admin API, `host:port` or `http://host:port`, on loopback
    /// (`127.0.0.1:9901`): the admin API has no authentication, and Envoy
    /// reads the files modelops writes on this machine. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
    /// The address each model's listener binds, by model name, an IP and a
    /// port such as `{fraud-detector: "127.0.0.1:8081"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listen: BTreeMap<String, String>,
    /// Upstream address per version (`host:port` or `unix:/path`), with
    /// `{model}` and `{version}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_template: Option<String>,
    /// Explicit upstream address per `model` then per version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, BTreeMap<String, String>>,
    /// The path every upstream answers a health check on, such as
    /// `/healthz`. When set, `modelops rollback` sends a model's traffic to a
    /// version only after its upstream answered `GET <health_path>` with a
    /// 2xx within 2 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

/// One metrics provider, by `type`. Each type has its own fields; a field of
/// another type is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetricsProviderConfig {
    /// Observations from a YAML or JSON file.
    File(FileMetricsConfig),
    /// A Prometheus server's HTTP API.
    Prometheus(PrometheusConfig),
}

impl MetricsProviderConfig {
    /// The `type:` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            MetricsProviderConfig::File(_) => "file",
            MetricsProviderConfig::Prometheus(_) => "prometheus",
        }
    }
}

/// `type: file`: observations from a YAML or JSON file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileMetricsConfig {
    /// Path relative to the repository. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `type: prometheus`: a Prometheus server's HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Server URL. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PromQL per signal (`requests`, `errors`, `latency_p99_ms`,
    /// `accuracy`, `prediction_kl_divergence`, or a business metric's
    /// name), overriding the documented defaults and the preset's;
    /// `{model}`, `{version}`, `{window}` and `{envoy_cluster}` are
    /// replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, String>,
    /// Default queries for a known exporter instead of modelops's own
    /// metric names: `envoy` reads the request, 5xx and latency signals
    /// from the stats of an envoy target's clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<MetricsPreset>,
}

/// A set of default queries for a known exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricsPreset {
    /// Envoy's own stats, scraped from `/stats/prometheus`:
    /// `envoy_cluster_upstream_rq_total`, `envoy_cluster_upstream_rq_xx`
    /// and `envoy_cluster_upstream_rq_time_bucket`, by the cluster an envoy
    /// target gives a model version.
    Envoy,
}

impl MetricsPreset {
    /// The `preset:` value.
    pub fn name(self) -> &'static str {
        match self {
            MetricsPreset::Envoy => "envoy",
        }
    }
}

impl ConfigSpec {
    /// Whether a serving target of this name exists (`local` always does).
    pub fn has_target(&self, name: &str) -> bool {
        name == "local" || self.serving.targets.contains_key(name)
    }
}

/// An owner's GitHub identity, checked: what an approving review is
/// checked against.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GitHubIdentity {
    /// Active members of a team.
    Team {
        /// The organisation's login.
        org: String,
        /// The team's slug.
        slug: String,
    },
    /// One user, by login.
    User(String),
}

impl std::fmt::Display for GitHubIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubIdentity::Team { org, slug } => write!(f, "team {org}/{slug}"),
            GitHubIdentity::User(login) => write!(f, "user {login}"),
        }
    }
}

/// A GitHub login (user or organisation): letters, digits and single
/// hyphens, not at either end, at most 39 characters. Nothing in it can
/// change a URL's path.
pub fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A team's slug: letters, digits, `-`, `_` and `.` (not only dots), at
/// most 100 characters.
fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug.bytes().any(|b| b != b'.')
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl OwnerIdentity {
    /// The identity it names, or what is wrong with it (the field and why).
    pub fn identity(&self) -> Result<GitHubIdentity, (&'static str, String)> {
        match (&self.github_team, &self.github_user) {
            (Some(_), Some(_)) => {
                Err(("", "give github_team or github_user, not both".to_string()))
            }
            (None, None) => Err((
                "",
                "give github_team (org/team-slug) or github_user".to_string(),
            )),
            (Some(team), None) => {
                let parsed = team
                    .split_once('/')
                    .filter(|(org, slug)| valid_login(org) && valid_slug(slug));
                match parsed {
                    Some((org, slug)) => Ok(GitHubIdentity::Team {
                        org: org.to_string(),
                        slug: slug.to_string(),
                    }),
                    None => Err((
                        "github_team",
                        format!("`{team}` is not a team as org/team-slug (such as acme/risk-ml)"),
                    )),
                }
            }
            (None, Some(user)) if valid_login(user) => Ok(GitHubIdentity::User(user.clone())),
            (None, Some(user)) => Err((
                "github_user",
                format!(
                    "`{user}` is not a GitHub login: letters, digits and single hyphens, at most 39 characters"
                ),
            )),
        }
    }
}

impl ConfigSpec {
    /// Each owner's GitHub identity, for the owners whose mapping is valid
    /// (validation reports the others).
    pub fn owner_identities(&self) -> BTreeMap<String, GitHubIdentity> {
        self.owners
            .iter()
            .filter_map(|(name, o)| Some((name.clone(), o.identity().ok()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_names_one_team_or_one_user() {
        let team = |t: &str| OwnerIdentity {
            github_team: Some(t.into()),
            github_user: None,
        };
        let user = |u: &str| OwnerIdentity {
            github_team: None,
            github_user: Some(u.into()),
        };
        // (identity, what it is, or the field at fault)
        let rows: Vec<(OwnerIdentity, Result<&str, &str>)> = vec![
            (team("acme/risk-ml"), Ok("team acme/risk-ml")),
            (
                team("my-org/ml_platform.v2"),
                Ok("team my-org/ml_platform.v2"),
            ),
            (user("alice"), Ok("user alice")),
            (user("a-b-c"), Ok("user a-b-c")),
            (team("acme"), Err("github_team")),
            (team("acme/"), Err("github_team")),
            (team("acme/../../user"), Err("github_team")),
            (team("-acme/x"), Err("github_team")),
            (team("acme/x?y=1"), Err("github_team")),
            (user("-alice"), Err("github_user")),
            (user("al--ice"), Err("github_user")),
            (user("alice/../x"), Err("github_user")),
            (user(&"a".repeat(40)), Err("github_user")),
            (OwnerIdentity::default(), Err("")),
            (
                OwnerIdentity {
                    github_team: Some("acme/x".into()),
                    github_user: Some("alice".into()),
                },
                Err(""),
            ),
        ];
        for (owner, want) in rows {
            let got = owner.identity();
            match want {
                Ok(shown) => assert_eq!(got.map(|i| i.to_string()).as_deref(), Ok(shown)),
                Err(field) => assert_eq!(got.map_err(|(f, _)| f), Err(field), "{owner:?}"),
            }
        }
    }
}
