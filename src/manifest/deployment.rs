//! `kind: Deployment` — how a model is served and how a new Production version
//! reaches its traffic: shadow, canary, A/B test, or a direct switch.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiVersion, DurationSpec, Quantity, VersionId};

/// The `kind` of a deployment manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentKind {
    /// How a model is served and rolled out.
    Deployment,
}

/// A deployment manifest: `deployments/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "modelops Deployment")]
pub struct DeploymentManifest {
    /// Always `modelops/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// Always `Deployment`.
    pub kind: DeploymentKind,
    /// The deployment's name.
    pub metadata: NamedMetadata,
    /// What is served where, and the rollout strategy.
    pub spec: DeploymentSpec,
}

/// A name, for kinds whose metadata is only a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedMetadata {
    /// Unique name among the files of this kind.
    pub name: String,
    /// What this is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The serving side of one model. Exactly one strategy block
/// (`shadow`, `canary`, `ab_test` or `direct`) must be given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Name of the model (its `metadata.name`) this deployment serves.
    pub model: String,
    /// Serving target named in `modelops.yaml` under `serving.targets`;
    /// `local` (the embedded routing table) always exists.
    #[serde(default = "default_target")]
    pub target: String,
    /// Shadow deployment: the candidate receives mirrored traffic, only the
    /// Production version's answers are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowStrategy>,
    /// Canary deployment: traffic shifts to the new version stage by stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// A/B test: control and treatment split traffic until the primary metric decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ab_test: Option<AbTestStrategy>,
    /// Switch all traffic to the new Production version at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<DirectStrategy>,
    /// How rollouts of this deployment read and judge metrics.
    #[serde(default)]
    pub analysis: AnalysisSpec,
    /// Signals watched while the model serves; thresholds default to the guidelines'.
    #[serde(default)]
    pub monitoring: Monitoring,
}

/// [`AnalysisSpec::no_data_timeout`] by default: an hour, the longest an
/// hourly source (the example's observations) takes to report a window.
pub const NO_DATA_TIMEOUT_SECS: u64 = 3600;

/// [`AnalysisSpec::warmup`] by default: a minute.
pub const WARMUP_SECS: u64 = 60;

/// How a rollout's analysis reads and judges metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// Metrics provider named in `modelops.yaml` under `metrics`; defaults to
    /// the only one declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Requests each version must have served in the window before the
    /// analysis judges (default 1000); below it the rollout is inconclusive
    /// and holds, never rolling back on noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_requests: Option<u64>,
    /// Consecutive analyses whose metrics provider fails (unreachable, a
    /// query error, a malformed answer) before the rollout fails (default 3).
    /// An empty window is no data, not an error: it holds the stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_consecutive_errors: Option<u32>,
    /// How long after a stage's duration has elapsed the analysis may still
    /// find no data before the rollout fails (default `1h`): slack for a
    /// source that reports late, not a second stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_timeout: Option<DurationSpec>,
    /// How long a stage (or an A/B test) runs before its first analysis
    /// (default `1m`): right after a start there is nothing to measure. Lower
    /// it for a source that scrapes every few seconds and stages that last
    /// seconds; it never exceeds the stage's duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<DurationSpec>,
}

impl AnalysisSpec {
    /// [`AnalysisSpec::min_requests`] with its default.
    pub fn min_requests(&self) -> u64 {
        self.min_requests.unwrap_or(1000)
    }

    /// [`AnalysisSpec::max_consecutive_errors`] with its default.
    pub fn max_consecutive_errors(&self) -> u32 {
        self.max_consecutive_errors.unwrap_or(3)
    }

    /// [`AnalysisSpec::warmup`] in seconds, with its default
    /// ([`WARMUP_SECS`]).
    pub fn warmup_secs(&self) -> u64 {
        self.warmup
            .as_ref()
            .and_then(|d| d.seconds().ok())
            .unwrap_or(WARMUP_SECS)
    }

    /// [`AnalysisSpec::no_data_timeout`] in seconds, with its default.
    pub fn no_data_timeout_secs(&self) -> u64 {
        self.no_data_timeout
            .as_ref()
            .and_then(|d| d.seconds().ok())
            .unwrap_or(NO_DATA_TIMEOUT_SECS)
    }
}

fn default_target() -> String {
    "local".to_string()
}

/// Shadow strategy, as in the guidelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowStrategy {
    /// The version serving every response; defaults to the current Production version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<ShadowArm>,
    /// The candidate receiving mirrored requests; its answers are logged, not served.
    pub shadow: ShadowArm,
    /// How the shadow is judged against the primary.
    pub comparison: ShadowComparison,
}

/// One side of a shadow deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowArm {
    /// The model version on this side.
    pub version: VersionId,
    /// Share of requests this side receives, 1 to 100 (default 100).
    #[serde(default = "hundred")]
    #[schemars(range(min = 1, max = 100))]
    pub traffic_percent: u8,
}

fn hundred() -> u8 {
    100
}

/// The shadow comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowComparison {
    /// Signals compared between primary and shadow:
    /// `accuracy`, `latency_p99`, `prediction_distribution`.
    pub metrics: Vec<ComparisonMetric>,
    /// How long the shadow runs before the comparison is judged, such as `7d`.
    pub duration: DurationSpec,
    /// Promote the shadow to Production when the comparison passes; when false
    /// a person promotes it by editing git.
    #[serde(default)]
    pub auto_promote: bool,
}

/// A signal a shadow comparison can judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComparisonMetric {
    /// Accuracy on labelled requests.
    Accuracy,
    /// 99th-percentile latency.
    LatencyP99,
    /// Distribution of predictions (KL divergence).
    PredictionDistribution,
}

/// Canary strategy, as in the guidelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryStrategy {
    /// The version being rolled out; defaults to the model's desired Production version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<VersionId>,
    /// Stages in order; traffic strictly increases and the last stage is 100.
    pub stages: Vec<CanaryStage>,
}

/// One canary stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryStage {
    /// Share of traffic sent to the new version during this stage, 1 to 100.
    #[schemars(range(min = 1, max = 100))]
    pub traffic_percent: u8,
    /// How long the stage is observed before the next one, such as `1h`.
    pub duration: DurationSpec,
    /// Conditions that roll the canary back during this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_if: Option<RollbackConditions>,
}

/// Rollback conditions, compared against the current Production version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackConditions {
    /// Roll back when the error rate rises by more than this, in percentage points (`0.5%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_increase: Option<Quantity>,
    /// Roll back when p99 latency rises by more than this (`20ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_increase: Option<Quantity>,
    /// Roll back when accuracy drops by more than this, in percentage points (`1%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_drop: Option<Quantity>,
}

/// A/B test strategy, as in the guidelines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbTestStrategy {
    /// The current version, as the baseline.
    pub control: AbArm,
    /// The candidate version.
    pub treatment: AbArm,
    /// The business metric that decides the test, such as `conversion_rate`.
    pub primary_metric: String,
    /// Metrics that must not degrade while the test runs, such as `latency_p99`, `error_rate`.
    #[serde(default)]
    pub guardrail_metrics: Vec<String>,
    /// Minimum running time, such as `14d`.
    pub duration: DurationSpec,
    /// Minimum number of observations in each arm before the test can decide.
    #[schemars(range(min = 1))]
    pub min_sample_size: u64,
    /// Confidence level of the significance test, between 0.5 and 0.999 (default 0.95).
    #[serde(default = "default_confidence")]
    #[schemars(range(min = 0.5, max = 0.999))]
    pub confidence: f64,
    /// Request header or cookie whose hash keeps a user in one arm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<StickyKey>,
    /// Promote the treatment when it wins; when false a person promotes it in git.
    #[serde(default)]
    pub auto_promote: bool,
}

fn default_confidence() -> f64 {
    0.95
}

/// One arm of an A/B test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbArm {
    /// The model version in this arm.
    pub version: VersionId,
    /// Share of traffic, 1 to 99; the two arms sum to 100.
    #[schemars(range(min = 1, max = 99))]
    pub traffic_percent: u8,
}

/// What keeps a user in the same arm across requests: exactly one of
/// `header` or `cookie`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StickyKey {
    /// Hash this request header, such as `X-User-Id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Hash this cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// Direct strategy: no options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectStrategy {}

/// Monitoring thresholds. Every field defaults to the guidelines' "What to Monitor" table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Window each signal is computed over (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DurationSpec>,
    /// Alert when the KL divergence of predictions from the baseline exceeds this (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub prediction_kl_divergence: Option<f64>,
    /// Alert when the PSI of any feature exceeds this (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub feature_psi: Option<f64>,
    /// Alert when accuracy drops by more than this from the baseline (default `2%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_drop: Option<Quantity>,
    /// The p99 latency SLA; alert above it (default `100ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_sla: Option<Quantity>,
    /// Alert when the error rate exceeds this (default `0.1%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<Quantity>,
    /// Alert when traffic volume is more than this many standard deviations from its norm (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub traffic_volume_stddev: Option<f64>,
    /// Extra labels attached to monitoring queries and alerts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// How far back the traffic-volume norm looks (default `7d`): the same
    /// window on each earlier day of this period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_baseline: Option<DurationSpec>,
    /// Data snapshots for feature drift (PSI) and the prediction
    /// distribution (KL): a reference set and the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSnapshots>,
    /// What `modelops monitor` does when a signal is breached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_breach: Option<OnBreach>,
    /// Scheduled retraining: fire the retrain trigger once per this period
    /// (such as `30d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain_every: Option<DurationSpec>,
    /// Data-triggered retraining: fire the retrain trigger once when the
    /// datasets file publishes a version of this dataset newer than the one
    /// the Production version was trained on (`dataset_version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetWatch>,
}

/// A dataset whose new versions trigger retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetWatch {
    /// The dataset's name in the datasets file.
    pub name: String,
    /// The datasets file, relative to the repository (default `datasets.yaml`):
    /// `datasets: {<name>: {latest: <dataset_version>}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Data snapshots compared for drift, CSV or Parquet (by extension), paths
/// relative to the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSnapshots {
    /// The reference: the training or validation data.
    pub reference: String,
    /// The current window of production inputs (and predictions).
    pub current: String,
    /// The column holding the model's predictions (its distribution is
    /// compared with KL divergence; it is not a feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_column: Option<String>,
    /// Features compared (default: every column both files share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Numeric-looking columns to treat as categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<String>,
}

/// An action on a breach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    /// Report it and exit 1.
    #[default]
    Alert,
    /// Roll back to the previous Production version, as `modelops rollback`.
    Rollback,
    /// Fire the retraining trigger.
    Retrain,
}

/// What to do when signals are breached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnBreach {
    /// The action for any breached signal (default `alert`).
    #[serde(default)]
    pub action: BreachAction,
    /// Actions per signal (`prediction_distribution`, `feature_drift`,
    /// `accuracy`, `latency`, `error_rate`, `traffic_volume`), overriding `action`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signals: BTreeMap<String, BreachAction>,
    /// Where a `retrain` action (and the schedule) sends its trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain: Option<RetrainTrigger>,
}

/// A retraining trigger: a webhook, or a GitHub `repository_dispatch` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrainTrigger {
    /// URL the JSON payload is POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// `owner/repo` that receives a `repository_dispatch` event (token from
    /// `GITHUB_TOKEN`, API from `GITHUB_API_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_dispatch: Option<String>,
    /// The dispatch's `event_type` (default `retrain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
}
