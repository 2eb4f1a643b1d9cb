//! `kind: Policy` — the validation gates a version must pass to enter Staging
//! and Production, as data. The built-in `default` carries the guidelines' numbers.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiVersion, DurationSpec};
use super::deployment::NamedMetadata;

/// The name of the policy every repository has, even without a policy file.
pub const DEFAULT_POLICY: &str = "default";

/// The `kind` of a policy manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PolicyKind {
    /// Validation gates for promotions.
    Policy,
}

/// A policy manifest: `policies/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "modelops Policy")]
pub struct PolicyManifest {
    /// Always `modelops/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// Always `Policy`.
    pub kind: PolicyKind,
    /// The policy's name, which models refer to with `spec.policy`.
    pub metadata: NamedMetadata,
    /// The gates for each promotion.
    pub spec: PolicySpec,
}

/// Gates for the two promotions the guidelines gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Gates for Development → Staging.
    #[serde(default = "Gates::guidelines")]
    pub staging: Gates,
    /// Gates for Staging → Production.
    #[serde(default = "Gates::guidelines")]
    pub production: Gates,
    /// What else Staging → Production requires: rollout evidence and sign-off.
    #[serde(default)]
    pub production_requires: ProductionRequirements,
}

/// Which direction of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Higher is better (accuracy, AUC): the threshold is a minimum.
    Higher,
    /// Lower is better (latency, error rate): the threshold is a maximum.
    Lower,
}

/// A gate on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricGate {
    /// Which direction is better; decides whether `threshold` is a minimum or a maximum.
    #[serde(default = "higher")]
    pub better: Better,
    /// The minimum (higher is better) or maximum (lower is better) allowed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// How much worse than the current Production version the metric may be
    /// (for example 0.01 allows `test_accuracy ≥ baseline − 0.01`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub max_regression: Option<f64>,
}

fn higher() -> Better {
    Better::Higher
}

/// The gates of one promotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Gates per metric name; any metric the manifest or run records may be
    /// named. Default: the guidelines' `test_accuracy ≥ 0.85` (regression
    /// ≤ 0.01) and `test_auc ≥ 0.80`; `{}` turns metric gates off.
    #[serde(default = "guideline_metrics")]
    pub metrics: BTreeMap<String, MetricGate>,
    /// Minimum score of every group of every protected attribute (default
    /// 0.80, the guidelines' per-group AUC floor); `null` turns the check off.
    #[serde(default = "guideline_fairness")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub fairness_min: Option<f64>,
    /// How much lower than the Production version's any group's fairness
    /// score may be (default 0.01): the guidelines' "no bias regression",
    /// checked per group of every protected attribute both versions record;
    /// `null` turns the check off.
    #[serde(default = "guideline_fairness_regression")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub fairness_max_regression: Option<f64>,
    /// Signature checks.
    #[serde(default)]
    pub signature: SignatureGate,
    /// Maximum p99 latency in milliseconds (default 100, the guidelines'),
    /// read from a benchmark or the `latency_p99_ms` metric; `null` turns it off.
    #[serde(default = "guideline_latency")]
    #[schemars(range(min = 0.0))]
    pub latency_p99_max_ms: Option<f64>,
    /// A latency benchmark modelops runs itself; without one the declared
    /// `latency_p99_ms` metric is used and labelled as declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark: Option<Benchmark>,
    /// Require every dependency to be pinned to an exact version.
    #[serde(default = "yes")]
    pub require_pinned_dependencies: bool,
}

fn yes() -> bool {
    true
}

fn guideline_metrics() -> BTreeMap<String, MetricGate> {
    Gates::guidelines().metrics
}

fn guideline_fairness() -> Option<f64> {
    Some(0.80)
}

fn guideline_fairness_regression() -> Option<f64> {
    Some(0.01)
}

fn guideline_latency() -> Option<f64> {
    Some(100.0)
}

/// Signature checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureGate {
    /// A well-formed signature must be declared.
    #[serde(default = "yes")]
    pub required: bool,
    /// Allow breaking changes against the Production version's signature
    /// (removing, renaming or retyping an input).
    #[serde(default)]
    pub allow_breaking_changes: bool,
}

impl Default for SignatureGate {
    fn default() -> Self {
        SignatureGate {
            required: true,
            allow_breaking_changes: false,
        }
    }
}

/// A latency benchmark against a serving endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Benchmark {
    /// URL the requests are sent to.
    pub endpoint: String,
    /// File (relative to the repository) holding the request body.
    pub payload_file: String,
    /// Number of requests (default 200).
    #[serde(default = "default_requests")]
    #[schemars(range(min = 1))]
    pub requests: u32,
    /// Requests in flight at once (default 4).
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1))]
    pub concurrency: u32,
}

fn default_requests() -> u32 {
    200
}

fn default_concurrency() -> u32 {
    4
}

/// What Staging → Production requires beyond its gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductionRequirements {
    /// Require a completed shadow comparison, canary or A/B test for the version.
    #[serde(default = "yes")]
    pub rollout_evidence: bool,
    /// Models exempt from the rollout-evidence requirement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_waived_for: Vec<String>,
    /// Who must sign off (`approved_by` on the version): `owner` means the
    /// model's owner (default `[owner]`); `[]` requires no sign-off.
    #[serde(default = "owner_approval")]
    pub approvals: Vec<String>,
    /// Require the version a rollback would return to after the move (the
    /// last known-good one) to be servable: registered with its artifacts
    /// (where the registry can tell) and answering the health check of
    /// every serving target that routes the model (`rollback.ready`).
    /// Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback_ready: bool,
    /// Require a successful `modelops rollback --drill` of the model within
    /// `within` whose switch took less than `sla` (`rollback.drilled`).
    /// Default: no drill required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_drill: Option<DrillRequirement>,
}

/// The rollback drill a move into Production requires: `{within: 7d, sla: 5m}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillRequirement {
    /// How recent the drill must be, such as `7d`.
    pub within: DurationSpec,
    /// How long the drill's switch may take, from its start to the first of
    /// the consecutive answers of the rollback target, such as `5m` (the
    /// guidelines' "typically < 5 minutes").
    pub sla: DurationSpec,
}

fn owner_approval() -> Vec<String> {
    vec!["owner".to_string()]
}

impl Default for ProductionRequirements {
    /// The guidelines: a shadow or A/B test, and the owner's sign-off.
    fn default() -> Self {
        ProductionRequirements {
            rollout_evidence: true,
            evidence_waived_for: Vec::new(),
            approvals: vec!["owner".to_string()],
            rollback_ready: false,
            rollback_drill: None,
        }
    }
}

impl Gates {
    /// The guidelines' pre-deployment checks.
    pub fn guidelines() -> Gates {
        let gate = |threshold, regression| MetricGate {
            better: Better::Higher,
            threshold: Some(threshold),
            max_regression: regression,
        };
        Gates {
            metrics: BTreeMap::from([
                ("test_accuracy".to_string(), gate(0.85, Some(0.01))),
                ("test_auc".to_string(), gate(0.80, None)),
            ]),
            fairness_min: Some(0.80),
            fairness_max_regression: Some(0.01),
            signature: SignatureGate::default(),
            latency_p99_max_ms: Some(100.0),
            benchmark: None,
            require_pinned_dependencies: true,
        }
    }
}

impl PolicySpec {
    /// The built-in `default` policy.
    pub fn guidelines() -> PolicySpec {
        PolicySpec {
            staging: Gates::guidelines(),
            production: Gates::guidelines(),
            production_requires: ProductionRequirements::default(),
        }
    }
}
