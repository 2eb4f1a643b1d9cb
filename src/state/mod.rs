//! Actual state: what the registry and serving layer hold, as plain data any
//! backend can produce, plus the audit events they record.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::model::Signature;
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{Stage, VersionId};

pub mod chain;
pub mod check;
pub mod drill;
pub mod format;
pub mod gate;
pub mod metrics;
pub mod plan;
mod rollout;
pub mod sign_off;

pub use rollout::{Analysis, AnalysisCheck, RolloutRecord, RolloutStage, Verdict};

/// Everything observed from the backends, the input to planning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActualState {
    /// Registered models by name.
    #[serde(default)]
    pub models: BTreeMap<String, RegisteredModel>,
    /// Traffic routing per model (filled by serving targets).
    #[serde(default)]
    pub serving: BTreeMap<String, TrafficRecord>,
    /// Routes a serving target holds that no deployment owns (its
    /// deployment file was removed): `(model, routing)`. Filled by the
    /// serving targets, never saved.
    #[serde(skip)]
    pub unowned_routes: Vec<(String, TrafficRecord)>,
    /// Rollouts in progress or finished, per model.
    #[serde(default)]
    pub rollouts: BTreeMap<String, RolloutRecord>,
    /// Whether the registry numbers integer versions itself (MLflow does):
    /// then a new integer version in git must be the number it will assign.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub assigns_numbers: bool,
    /// With `assigns_numbers`, the number each registered model's next
    /// version will receive (a model not yet registered starts at 1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub next_numbers: BTreeMap<String, u64>,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Model name.
    pub name: String,
    /// Owner as the registry holds it.
    pub owner: String,
    /// Description as the registry holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Versions in ascending order.
    pub versions: Vec<RegisteredVersion>,
    /// Owner and description as modelops last wrote them; differs from the
    /// live values when someone changed them outside git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedModel>,
}

/// Model fields as last applied by modelops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedModel {
    /// Owner written.
    pub owner: String,
    /// Description written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One registered version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredVersion {
    /// Identity within the model.
    pub version: VersionId,
    /// Current stage.
    pub stage: Stage,
    /// Metadata as the registry holds it.
    pub metadata: VersionMetadata,
    /// Set when validation gates rejected the version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Rejection>,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// Stage and metadata as modelops last wrote them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<AppliedVersion>,
    /// Who signed off its last move into Production on GitHub, as one line
    /// (`alice (1a2b3c4) on PR #7`): the registry's record of it (MLflow's
    /// tag `modelops.approvers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_off_by: Option<String>,
}

/// Version fields as last applied by modelops: the stage, and a digest of the
/// metadata (the plan's update step shows each field against git, so the old
/// values need not be kept twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedVersion {
    /// Stage written.
    pub stage: Stage,
    /// [`VersionMetadata::digest`] of the metadata written.
    pub metadata_digest: String,
}

/// Why a version was rejected: validation gates refused its promotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The failed checks, in words.
    pub reason: String,
    /// When.
    pub at: Timestamp,
    /// The stage it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// [`crate::reconcile::gates::rejection_key`] of what was refused: the
    /// version's metadata, the stage and the policy. The move is not tried
    /// again while the key is the same, that is until the manifest changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The signature a model version's logged model carries in the registry.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedSignature {
    /// The logged model's signature.
    Found(Signature),
    /// Nothing to compare with, and why in words (no MLmodel at the source,
    /// a source the registry does not serve).
    NotLogged(String),
}

/// What a latency benchmark measured against a serving endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyReport {
    /// Requests sent.
    pub requests: u32,
    /// Transport errors, timeouts and non-2xx answers.
    pub failed: u32,
    /// Median latency of the successful requests, nearest rank.
    pub p50_ms: f64,
    /// 95th percentile, nearest rank.
    pub p95_ms: f64,
    /// 99th percentile, nearest rank.
    pub p99_ms: f64,
    /// The first failure in words, credentials removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// A version's registry metadata (everything but identity and stage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionMetadata {
    /// Artifact location; immutable once registered.
    pub source: String,
    /// Training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run_id: Option<String>,
    /// Training data version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_version: Option<String>,
    /// Evaluation metrics.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub metrics: SortedMap<String, f64>,
    /// Per-group fairness scores.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub fairness: SortedMap<String, SortedMap<String, f64>>,
    /// Input/output schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// Pinned inference dependencies.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub dependencies: SortedMap<String, String>,
    /// What changed from the previous version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<String>,
    /// Sign-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub tags: SortedMap<String, String>,
}

/// Traffic split of one model on its serving target: percent per version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficRecord {
    /// Serving target name.
    pub target: String,
    /// Percent of live traffic per version (sums to 100 when serving).
    pub weights: BTreeMap<String, u8>,
    /// Percent of requests mirrored to a shadow version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, u8>,
    /// For an A/B test: the request header or cookie that keeps a user in one arm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<crate::manifest::deployment::StickyKey>,
}

impl TrafficRecord {
    /// All traffic to one version, nothing mirrored.
    pub fn all_to(target: &str, version: &VersionId) -> TrafficRecord {
        TrafficRecord {
            target: target.to_string(),
            weights: BTreeMap::from([(version.to_string(), 100)]),
            mirrors: BTreeMap::new(),
            sticky: None,
        }
    }

    /// `v2 95%, v3 5%` (and mirrors), for messages.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .weights
            .iter()
            .map(|(v, w)| format!("v{v} {w}%"))
            .collect();
        parts.extend(
            self.mirrors
                .iter()
                .map(|(v, w)| format!("v{v} mirrored {w}%")),
        );
        parts.join(", ")
    }
}

/// One audit record: something modelops changed, when, and from which commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When it was applied.
    pub at: Timestamp,
    /// Model concerned.
    pub model: String,
    /// Version concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionId>,
    /// `register_model`, `update_model`, `register_version`, `update_version`, `transition_stage`, `reject_version`.
    pub action: String,
    /// Stage before, for stage changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_stage: Option<Stage>,
    /// Stage after, for stage changes and registrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_stage: Option<Stage>,
    /// One line saying what changed.
    pub summary: String,
    /// Field-level changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Git commit the change came from, when the repository is a git repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Who ran modelops (`$USER`, or the CI actor).
    pub actor: String,
    /// SHA-256 of the event before it as stored ([`chain`]); absent in
    /// events written before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
}

/// One field's before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Field name, dotted for nested fields (`metrics.test_auc`).
    pub field: String,
    /// Value before; absent when the field was not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// Value after; absent when the field is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// SHA-256 of a value's JSON form, streamed (no intermediate buffer).
fn sha256_hex<T: Serialize>(value: &T, bytes: usize) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    serde_json::to_writer(&mut h, value).expect("state serializes");
    h.0.finalize()
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl VersionMetadata {
    /// A short digest of the metadata, to notice changes.
    pub fn digest(&self) -> String {
        sha256_hex(self, 8)
    }
}

impl ActualState {
    /// A digest of what planning reads about these models: two states with
    /// the same fingerprint produce the same plan for them. Only these: in a shared
    /// registry, other teams' models change all the time and must not make
    /// a plan stale.
    pub fn fingerprint_of<'a>(&self, models: impl IntoIterator<Item = &'a str>) -> String {
        let part: Vec<_> = models
            .into_iter()
            .map(|name| {
                // Routing is not part of it: a routing step checks the
                // routing it expects when it runs (the serving target, not
                // the registry, holds it).
                (
                    name,
                    self.models.get(name),
                    self.rollouts.get(name),
                    self.assigns_numbers
                        .then(|| self.next_numbers.get(name).copied().unwrap_or(1)),
                )
            })
            .collect();
        sha256_hex(&part, 32)
    }

    /// The version of a model, if registered.
    pub fn version(&self, model: &str, version: &VersionId) -> Option<&RegisteredVersion> {
        self.models
            .get(model)?
            .versions
            .iter()
            .find(|v| &v.version == version)
    }
}

impl RegisteredModel {
    /// The version currently in Production, if any.
    pub fn production(&self) -> Option<&RegisteredVersion> {
        self.versions.iter().find(|v| v.stage == Stage::Production)
    }

    /// Whether any version has ever served: one is Production or Archived.
    pub fn has_served(&self) -> bool {
        self.versions
            .iter()
            .any(|v| matches!(v.stage, Stage::Production | Stage::Archived))
    }
}

/// Field-level differences between two metadata records, dotted into maps.
pub fn diff_metadata(before: &VersionMetadata, after: &VersionMetadata) -> Vec<FieldChange> {
    let b = serde_json::to_value(before).expect("metadata serializes");
    let a = serde_json::to_value(after).expect("metadata serializes");
    let mut out = Vec::new();
    diff_values("", &b, &a, &mut out);
    out
}

fn diff_values(
    prefix: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
    out: &mut Vec<FieldChange>,
) {
    use serde_json::Value;
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        if before != after {
            out.push(FieldChange {
                field: prefix.to_string(),
                before: (!before.is_null()).then(|| before.clone()),
                after: (!after.is_null()).then(|| after.clone()),
            });
        }
        return;
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let field = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let bv = b.get(key).unwrap_or(&Value::Null);
        let av = a.get(key).unwrap_or(&Value::Null);
        // Maps of scalars (metrics, dependencies, tags) diff per key; the
        // signature and fairness tables read better whole per entry.
        let nested = prefix.is_empty() && key != "signature" && (bv.is_object() || av.is_object());
        if nested {
            let empty = Value::Object(Default::default());
            diff_values(
                &field,
                if bv.is_null() { &empty } else { bv },
                if av.is_null() { &empty } else { av },
                out,
            );
        } else if bv != av {
            out.push(FieldChange {
                field,
                before: (!bv.is_null()).then(|| bv.clone()),
                after: (!av.is_null()).then(|| av.clone()),
            });
        }
    }
}

/// Which version was in Production at `at`, replaying stage events.
pub fn production_at(events: &[Event], at: Timestamp) -> Option<VersionId> {
    let mut current = None;
    for e in events.iter().filter(|e| e.at <= at) {
        match (e.to_stage, &e.version) {
            (Some(Stage::Production), Some(v)) => current = Some(v.clone()),
            (Some(_), Some(v)) if current.as_ref() == Some(v) => current = None,
            _ => {}
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_diff_is_field_level() {
        let before = VersionMetadata {
            source: "s3://a".into(),
            metrics: SortedMap::from([("auc".into(), 0.8), ("acc".into(), 0.9)]),
            ..Default::default()
        };
        let after = VersionMetadata {
            source: "s3://a".into(),
            metrics: SortedMap::from([
                ("auc".into(), 0.85),
                ("f1".into(), 0.7),
                ("acc".into(), 0.9),
            ]),
            changelog: Some("x".into()),
            ..Default::default()
        };
        let changes = diff_metadata(&before, &after);
        let fields: Vec<(&str, Option<String>, Option<String>)> = changes
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.before.as_ref().map(|v| v.to_string()),
                    c.after.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("changelog", None, Some("\"x\"".to_string())),
                (
                    "metrics.auc",
                    Some("0.8".to_string()),
                    Some("0.85".to_string())
                ),
                ("metrics.f1", None, Some("0.7".to_string())),
            ]
        );
        assert!(diff_metadata(&after, &after).is_empty());
    }
}
