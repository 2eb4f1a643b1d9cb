//! Validation gates: the seam where promotion checks plug into planning.
//! This release evaluates none; the policy issue fills [`evaluate`] in.

use serde::{Deserialize, Serialize};

use crate::manifest::{Desired, Stage, VersionId};
use crate::state::ActualState;

/// One check of one promotion: its verdict, what was measured, against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// Check name, such as `accuracy_threshold`.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// Measured value, in words.
    pub value: String,
    /// The threshold, in words.
    pub threshold: String,
    /// Where the value came from: `manifest`, `registry run` or `benchmark`.
    pub source: String,
}

/// The gates for moving `version` of `model` to `to`. A failed result blocks
/// the move; an empty list means no gate applies.
pub fn evaluate(
    _desired: &Desired,
    _actual: &ActualState,
    _model: &str,
    _version: &VersionId,
    _to: Stage,
) -> Vec<GateResult> {
    Vec::new()
}
