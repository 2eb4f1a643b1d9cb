//! Verification against the tracking server: the training runs whose logged
//! metrics a plan compares with the manifest, and the versions whose gates
//! need measurements (runs, benchmarks) before planning.

use super::*;

/// Training runs whose logged metrics must be read: those of versions about
/// to be registered or whose metrics change (to verify them), and of
/// versions about to enter Staging or Production (their gates read them).
/// Registered, unchanged versions were verified when they were registered;
/// a version modelops never wrote, when the plan records it
/// ([`super::adopt::runs_to_verify`]).
pub fn runs_to_verify(desired: &Desired, actual: &ActualState, scope: &Scope) -> Vec<String> {
    let mut runs = BTreeSet::new();
    for (name, model) in desired.models.iter().filter(|(n, _)| scope.includes(n)) {
        for v in &model.versions {
            let Some(run) = &v.spec.training_run_id else {
                continue;
            };
            let registered = actual.version(name, &v.spec.version);
            let unchanged = registered.is_some_and(|r| {
                r.metadata.metrics == v.spec.metrics || super::adopt::unrecorded(r)
            });
            let gated = matches!(v.spec.stage, Stage::Staging | Stage::Production)
                && registered.is_none_or(|r| r.stage != v.spec.stage);
            if !unchanged || gated {
                runs.insert(run.as_str());
            }
        }
    }
    runs.into_iter().map(str::to_string).collect()
}

/// A version whose move into Staging or Production will be gated, with what
/// the commands need to observe for it.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCandidate {
    /// Model.
    pub model: String,
    /// Version.
    pub version: VersionId,
    /// The stage it moves to.
    pub to: Stage,
    /// Its artifact source (for the logged signature).
    pub source: String,
    /// Its training run.
    pub run_id: Option<String>,
    /// The latency benchmark its policy names for that stage.
    pub benchmark: Option<Benchmark>,
    /// Whether it declares a signature: only then do its gates compare the
    /// one logged with the model, so only then is it read.
    pub signature: bool,
}

/// Versions git moves into Staging or Production, in scope: the ones whose
/// gates read logged signatures and benchmarks. A version held by an
/// earlier rejection may be listed; reading for it is harmless.
pub fn gate_candidates(
    desired: &Desired,
    actual: &ActualState,
    scope: &Scope,
) -> Vec<GateCandidate> {
    let mut out = Vec::new();
    for (name, model) in desired.models.iter().filter(|(n, _)| scope.includes(n)) {
        let policy = &desired.policies[&model.policy];
        for v in &model.versions {
            let Some(gates) = gates::gates_for(policy, v.spec.stage) else {
                continue;
            };
            if actual
                .version(name, &v.spec.version)
                .is_some_and(|r| r.stage == v.spec.stage)
            {
                continue;
            }
            out.push(GateCandidate {
                model: name.clone(),
                version: v.spec.version.clone(),
                to: v.spec.stage,
                source: v.spec.source.clone(),
                run_id: v.spec.training_run_id.clone(),
                benchmark: gates.benchmark.clone(),
                signature: v.spec.signature.is_some(),
            });
        }
    }
    out
}

/// A version whose move into Production its policy's rollback gates judge,
/// and which evidence they read: what the commands gather before planning
/// (or before the apply-time re-check).
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackCandidate {
    /// Model.
    pub model: String,
    /// The version that may enter Production.
    pub version: VersionId,
    /// `rollback_ready`: whether the version a rollback would then go to
    /// can serve.
    pub ready: bool,
    /// `rollback_drill`: the model's drills, from the audit log.
    pub drills: bool,
}

impl RollbackCandidate {
    /// The candidate for `version` of `model` under `policy`, or `None` when
    /// the policy asks for no rollback gate.
    pub fn under(
        policy: &crate::manifest::policy::PolicySpec,
        model: &str,
        version: &VersionId,
    ) -> Option<RollbackCandidate> {
        let requires = &policy.production_requires;
        let (ready, drills) = (requires.rollback_ready, requires.rollback_drill.is_some());
        (ready || drills).then(|| RollbackCandidate {
            model: model.to_string(),
            version: version.clone(),
            ready,
            drills,
        })
    }
}

/// The versions that may enter Production in this plan under a policy with
/// rollback gates: each one git declares Production that the registry does
/// not hold there (a direct move, a restore, a canary), and each shadow's
/// or A/B test's candidate, which `auto_promote` may promote without git
/// asking.
pub fn rollback_candidates(
    desired: &Desired,
    actual: &ActualState,
    scope: &Scope,
) -> Vec<RollbackCandidate> {
    let mut out: Vec<RollbackCandidate> = Vec::new();
    for (name, model) in desired.models.iter().filter(|(n, _)| scope.includes(n)) {
        let policy = &desired.policies[&model.policy];
        let mut versions: Vec<&VersionId> = model
            .versions
            .iter()
            .filter(|v| v.spec.stage == Stage::Production)
            .map(|v| &v.spec.version)
            .collect();
        match desired.deployments.get(name).map(|d| &d.strategy) {
            Some(Strategy::Shadow(s)) => versions.push(&s.shadow.version),
            Some(Strategy::AbTest(a)) => versions.push(&a.treatment.version),
            _ => {}
        }
        for v in versions {
            let serving = actual
                .version(name, v)
                .is_some_and(|r| r.stage == Stage::Production);
            let listed = out.iter().any(|c| &c.model == name && &c.version == v);
            if !serving
                && !listed
                && let Some(c) = RollbackCandidate::under(policy, name, v)
            {
                out.push(c);
            }
        }
    }
    out
}

/// Declared metrics that differ from what their training run logged. A run
/// the tracking server does not know cannot be compared: that is a warning.
pub(super) fn verify_metrics(
    model: &DesiredModel,
    observations: &Observations,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<String>,
) {
    for v in &model.versions {
        let Some(run) = &v.spec.training_run_id else {
            continue;
        };
        let Some(logged) = observations.run_metrics.get(run) else {
            continue;
        };
        let Some(logged) = logged else {
            warnings.push(format!(
                "{} version {}: training run {run} is not in the tracking server, so its metrics are not verified",
                model.name, v.spec.version
            ));
            continue;
        };
        for (metric, declared) in &v.spec.metrics {
            let problem = match logged.get(metric) {
                None => format!("run {run} logged no `{metric}`"),
                Some(value) if (value - declared).abs() > 1e-9 * value.abs().max(1.0) => {
                    format!("declared {declared}, but run {run} logged {value}")
                }
                Some(_) => continue,
            };
            errors.push(Diagnostic::pointer(
                &model.file,
                format!("{}/metrics/{}", v.pointer(), crate::manifest::diagnostic::escape_segment(metric)),
                "verified-metrics",
                format!("{} version {}: metric `{metric}`: {problem}; declared metrics must be the measured ones", model.name, v.spec.version),
            ));
        }
    }
}
