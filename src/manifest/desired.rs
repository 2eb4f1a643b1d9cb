//! The resolved desired state: what validation hands to the rest of the
//! program, with every cross-reference checked, so later code never re-checks.

use std::collections::BTreeMap;

use super::common::VersionId;
use super::config::ConfigSpec;
use super::deployment::{
    AbTestStrategy, AnalysisSpec, CanaryStrategy, DeploymentSpec, Monitoring, ShadowStrategy,
};
use super::model::ModelVersionSpec;
use super::policy::PolicySpec;

/// Everything the repository asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `modelops.yaml`, or the defaults when there is none.
    pub config: ConfigSpec,
    /// Models by name.
    pub models: BTreeMap<String, DesiredModel>,
    /// Deployments by the model they serve (at most one per model).
    pub deployments: BTreeMap<String, DesiredDeployment>,
    /// Policies by name, the built-in `default` included.
    pub policies: BTreeMap<String, PolicySpec>,
    /// The file each policy comes from (not the built-in `default`).
    pub policy_files: BTreeMap<String, String>,
}

/// One model as the repository declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredModel {
    /// `<domain>-<task>` name.
    pub name: String,
    /// Responsible team or person.
    pub owner: String,
    /// What the model predicts.
    pub description: Option<String>,
    /// The policy gating its promotions (exists in [`Desired::policies`]).
    pub policy: String,
    /// Versions in ascending version order; identities are unique and at most one is Production.
    pub versions: Vec<DesiredVersion>,
    /// The manifest file, relative to the repository root.
    pub file: String,
}

/// One version as the repository declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredVersion {
    /// The declared fields.
    pub spec: ModelVersionSpec,
    /// Position in the manifest's `spec.versions`, for pointing errors at it.
    pub index: usize,
}

impl DesiredVersion {
    /// JSON pointer to this version's entry in its manifest.
    pub fn pointer(&self) -> String {
        format!("/spec/versions/{}", self.index)
    }
}

impl DesiredModel {
    /// The declared version with this identity.
    pub fn version(&self, id: &VersionId) -> Option<&DesiredVersion> {
        self.versions.iter().find(|v| &v.spec.version == id)
    }
}

/// The rollout strategy of a deployment, exactly one.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Mirror traffic to a candidate and compare.
    Shadow(ShadowStrategy),
    /// Shift traffic stage by stage.
    Canary(CanaryStrategy),
    /// Split traffic between control and treatment.
    AbTest(AbTestStrategy),
    /// Switch at once.
    Direct,
}

impl Strategy {
    /// The strategy's name as written in manifests.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Shadow(_) => "shadow",
            Strategy::Canary(_) => "canary",
            Strategy::AbTest(_) => "ab_test",
            Strategy::Direct => "direct",
        }
    }
}

/// One deployment as the repository declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredDeployment {
    /// The deployment's name.
    pub name: String,
    /// The model it serves (exists in [`Desired::models`]).
    pub model: String,
    /// The serving target (exists in the config).
    pub target: String,
    /// The single strategy.
    pub strategy: Strategy,
    /// How rollouts read and judge metrics.
    pub analysis: AnalysisSpec,
    /// Monitoring thresholds as written.
    pub monitoring: Monitoring,
    /// The manifest file.
    pub file: String,
}

impl DesiredDeployment {
    /// Builds the resolved form from a checked spec whose strategy is `strategy`.
    pub fn new(name: String, file: String, spec: DeploymentSpec, strategy: Strategy) -> Self {
        DesiredDeployment {
            name,
            model: spec.model,
            target: spec.target,
            strategy,
            analysis: spec.analysis,
            monitoring: spec.monitoring,
            file,
        }
    }
}
