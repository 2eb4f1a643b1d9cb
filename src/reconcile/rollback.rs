//! Rollback decisions. The target: the last known-good version, read from
//! the model's history (see [`candidates`]). The hold: after `modelops
//! rollback`, the model is left alone while git still asks for what was
//! rolled back, so a scheduled reconcile never undoes it (the complaint of
//! argo-cd#5351). The hold ends when the model's manifest changes, or with
//! `modelops rollback --release`.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::manifest::{DesiredModel, VersionId};
use crate::state::RolloutRecord;
use crate::state::plan::{PlanStep, RollbackHold};

/// The rollout-record strategy of a rollback.
pub const STRATEGY: &str = "rollback";
/// Phase of a rollback that holds the model.
pub const HELD: &str = "Held";
/// Phase of a rollback whose hold ended.
pub const RELEASED: &str = "Released";

/// A digest of what git declares for a model: its versions, their stages
/// and metadata, and its policy. A rollback holds while it is unchanged.
pub fn model_digest(model: &DesiredModel) -> String {
    let versions: Vec<_> = model.versions.iter().map(|v| &v.spec).collect();
    let text = serde_json::to_vec(&json!({"policy": model.policy, "versions": versions}))
        .expect("manifests serialize");
    Sha256::digest(&text)
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a held rollback still holds `model`: the manifest is what it was
/// when the rollback happened (a rollback made while the repository could
/// not be read holds until it is released).
pub fn still_held(record: &RolloutRecord, model: &DesiredModel) -> bool {
    match record.result.as_ref().and_then(|r| r["manifest"].as_str()) {
        Some(digest) => digest == model_digest(model),
        None => true,
    }
}

/// The hold as a plan reports it (the patch is filled in by the caller,
/// which has the manifest's text).
pub fn hold_of(model: &str, file: &str, r: &RolloutRecord) -> RollbackHold {
    let field = |k: &str| r.result_text(k);
    RollbackHold {
        model: model.to_string(),
        at: r.started_at.unwrap_or(r.step_started_at),
        reason: field("reason"),
        actor: field("actor"),
        from: r.from_version.clone(),
        from_becomes: r
            .result
            .as_ref()
            .and_then(|v| v["from_becomes"].as_str())
            .and_then(|t| t.parse().ok())
            .unwrap_or(crate::manifest::Stage::Archived),
        to: r.version.clone(),
        file: file.to_string(),
        patch: None,
    }
}

/// The step that ends a hold.
pub fn release(model: &str, r: &RolloutRecord, why: &str) -> PlanStep {
    PlanStep::RecordRollout {
        model: model.to_string(),
        record: RolloutRecord {
            phase: RELEASED.to_string(),
            ..r.clone()
        },
        summary: format!("rollback hold released: {why}"),
    }
}

/// The record a rollback leaves: version `to` back in Production in place
/// of `from` (which git should then declare `from_becomes`), held while
/// the manifest digests to `manifest`.
pub fn record(
    to: &VersionId,
    from: Option<&VersionId>,
    from_becomes: crate::manifest::Stage,
    at: jiff::Timestamp,
    reason: &str,
    actor: &str,
    manifest: Option<String>,
) -> RolloutRecord {
    RolloutRecord {
        strategy: STRATEGY.to_string(),
        version: to.clone(),
        from_version: from.cloned(),
        step: 0,
        step_started_at: at,
        phase: HELD.to_string(),
        deployment: String::new(),
        started_at: Some(at),
        stages: Vec::new(),
        consecutive_errors: 0,
        last_analysis: None,
        result: Some(json!({
            "reason": reason,
            "actor": actor,
            "manifest": manifest,
            "from_becomes": from_becomes.as_str(),
        })),
        promoted: false,
    }
}

mod outcome;
mod target;

pub use outcome::{RollbackOutcome, RolledBack};

pub use target::{
    Candidate, Exclusion, ExitCause, candidate_lines, candidates, candidates_after, exit_marker,
    known_good, ready_target, refusal, target_after,
};
