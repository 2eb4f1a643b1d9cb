//! `kind: Model` — one registered model and every version of it, field for
//! field the guidelines' metadata table.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiVersion, Stage, VersionId};
use super::sorted_map::SortedMap;

/// The `kind` of a model manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ModelKind {
    /// A registered model with its versions.
    Model,
}

/// A model manifest: `models/<name>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "modelops Model")]
pub struct ModelManifest {
    /// Always `modelops/v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: ApiVersion,
    /// Always `Model`.
    pub kind: ModelKind,
    /// Who the model is and who answers for it.
    pub metadata: ModelMetadata,
    /// The versions and the policy that gates their promotion.
    pub spec: ModelSpec,
}

/// Identity and ownership of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadata {
    /// Unique model name following `<domain>-<task>`: lowercase words joined by
    /// hyphens, such as `churn-predictor` or `fraud-detector`.
    pub name: String,
    /// Team or individual responsible for the model.
    pub owner: String,
    /// What the model predicts, for whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The desired versions of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name of the validation policy that gates promotions (`policies/<name>.yaml`);
    /// the built-in `default` carries the guidelines' thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Every version of the model that git knows. Removing a version from this
    /// list never deletes it from the registry.
    pub versions: Vec<ModelVersionSpec>,
}

/// One version of a model and everything the guidelines require to register it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelVersionSpec {
    /// Auto-incremented integer (as MLflow assigns them) or a semantic version string.
    pub version: VersionId,
    /// Desired lifecycle stage. At most one version per model is `Production`.
    pub stage: Stage,
    /// Where the model artifact lives, such as `runs:/<run_id>/model` or `s3://bucket/path`.
    pub source: String,
    /// The experiment-tracking run that trained this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run_id: Option<String>,
    /// Version of the training data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_version: Option<String>,
    /// Performance scores on evaluation data sets, by metric name (finite numbers).
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub metrics: SortedMap<String, f64>,
    /// Per-group scores (for example AUC) for each protected attribute:
    /// `{gender: {female: 0.84, male: 0.86}}`.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub fairness: SortedMap<String, SortedMap<String, f64>>,
    /// Input and output schema of the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// Library versions required for inference, pinned exactly: `{scikit-learn: "1.5.2"}`.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub dependencies: SortedMap<String, String>,
    /// What changed from the previous version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<String>,
    /// Who signed off this version (checked by a policy's approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Free-form registry tags to set on the version.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub tags: SortedMap<String, String>,
}

/// A model's input and output schema, in MLflow's column-based form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// Input columns, in order.
    pub inputs: Vec<SignatureColumn>,
    /// Output columns, in order.
    #[serde(default)]
    pub outputs: Vec<SignatureColumn>,
}

/// One column of a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureColumn {
    /// Column name, unique within its list.
    pub name: String,
    /// MLflow column type: boolean, integer, long, float, double, string, binary or datetime.
    #[serde(rename = "type")]
    pub column_type: String,
    /// Tensor shape, when the column is an array; `-1` marks a variable dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<i64>>,
    /// Whether the column may be absent (MLflow's `required: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// MLflow's column types, the only ones a signature may use.
pub const SIGNATURE_TYPES: &[&str] = &[
    "boolean", "integer", "long", "float", "double", "string", "binary", "datetime",
];
