//! What a rollback did, as plain data: the operation (`ops::rollback`)
//! returns it, the renderer words it.

use crate::manifest::VersionId;

/// The end of a rollback, or of a hold's release.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackOutcome {
    /// The hold on the model was released: the next apply follows git again.
    Released {
        /// The model.
        model: String,
    },
    /// The model was rolled back, and is held.
    RolledBack(RolledBack),
}

/// A rollback done: serving switched, then the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledBack {
    /// The model.
    pub model: String,
    /// The version taken out of service, when there was one.
    pub from: Option<VersionId>,
    /// The version now in Production.
    pub to: VersionId,
    /// Seconds from the start of the command to the registry's commit.
    pub total_secs: f64,
    /// Seconds spent switching serving.
    pub serving_secs: f64,
    /// Seconds spent writing the registry.
    pub registry_secs: f64,
    /// The serving targets switched (described), deployment's target first.
    pub routed_on: Vec<String>,
    /// What answered each target's health check of `to`.
    pub healthy: Vec<String>,
    /// What `--force` overrode.
    pub forced: Vec<String>,
    /// The rollout in flight that was stopped, as `; its <strategy> of
    /// version <v> is stopped`.
    pub stopped: Option<String>,
}
