//! Reconciliation: `plan = f(desired, actual, observations, now)`, a pure
//! function from what git asks for and what the backends hold to the ordered
//! steps that make them agree. No I/O, no clock: time is a parameter.

pub mod admit;
pub mod diverged;
pub mod gates;
pub mod monitor;
pub mod plan;
mod recheck;
pub mod rollback;
pub mod rollout;
pub mod saved_plan;

pub use recheck::{GatedMove, gated_moves, recheck_gates};

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::manifest::policy::Benchmark;
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{
    Desired, DesiredModel, DesiredVersion, Diagnostic, Stage, Strategy, VersionId,
};

use crate::state::{
    ActualState, FieldChange, RegisteredModel, RegisteredVersion, VersionMetadata, diff_metadata,
};
use gates::GateObservations;

pub use plan::{
    DriftItem, HeldRejection, ModelAction, ModelPlan, Plan, PlanSource, PlanStep, Summary,
};

/// What planning reads besides the registry's state: the metrics logged by
/// training runs (to verify declared metrics and feed gates), what gates
/// read from the registry and benchmarks, and later rollout analysis and
/// monitoring measurements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations {
    /// Logged metrics by run id, for the runs [`runs_to_verify`] names;
    /// `None` for a run the registry does not know.
    pub run_metrics: BTreeMap<String, Option<SortedMap<String, f64>>>,
    /// Logged signatures and latency benchmarks of [`gate_candidates`].
    pub gates: GateObservations,
    /// Answers of the metrics providers to [`metric_queries`].
    pub metrics: rollout::Metrics,
}

/// Training runs whose logged metrics must be read: those of versions about
/// to be registered or whose metrics change (to verify them), and of
/// versions about to enter Staging or Production (their gates read them).
/// Registered, unchanged versions were verified when they were registered.
pub fn runs_to_verify(desired: &Desired, actual: &ActualState, scope: &Scope) -> Vec<String> {
    let mut runs = BTreeSet::new();
    for (name, model) in desired.models.iter().filter(|(n, _)| scope.includes(n)) {
        for v in &model.versions {
            let Some(run) = &v.spec.training_run_id else {
                continue;
            };
            let registered = actual.version(name, &v.spec.version);
            let unchanged = registered.is_some_and(|r| r.metadata.metrics == v.spec.metrics);
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
            });
        }
    }
    out
}

/// Declared metrics that differ from what their training run logged. A run
/// the tracking server does not know cannot be compared: that is a warning.
fn verify_metrics(
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

/// Which models to plan: all, or only those named (`plan --base`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scope {
    /// Every model.
    #[default]
    All,
    /// Only these models.
    Only(BTreeSet<String>),
}

impl Scope {
    fn includes(&self, model: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(set) => set.contains(model),
        }
    }
}

/// Computes the plan. Deterministic: the same inputs give the same plan.
pub fn plan(
    desired: &Desired,
    actual: &ActualState,
    observations: &Observations,
    now: Timestamp,
    scope: &Scope,
) -> Plan {
    let mut lookup = rollout::Lookup::new(&observations.metrics);
    plan_with(desired, actual, observations, now, scope, &mut lookup)
}

/// The metric questions the plan's rollout decisions ask, given the answers
/// already in `observations`: the commands ask the providers these, and
/// plan again, until no new question comes (an answer can lead a decision
/// further, to a question it did not ask before).
pub fn metric_queries(
    desired: &Desired,
    actual: &ActualState,
    observations: &Observations,
    now: Timestamp,
    scope: &Scope,
) -> Vec<crate::state::metrics::MetricQuery> {
    if desired.deployments.is_empty() {
        return Vec::new();
    }
    let mut lookup = rollout::Lookup::new(&observations.metrics);
    plan_with(desired, actual, observations, now, scope, &mut lookup);
    let mut asked = lookup.asked;
    asked.sort();
    asked.dedup();
    asked.retain(|q| !observations.metrics.contains_key(q));
    asked
}

fn plan_with(
    desired: &Desired,
    actual: &ActualState,
    observations: &Observations,
    now: Timestamp,
    scope: &Scope,
    lookup: &mut rollout::Lookup,
) -> Plan {
    let mut models = Vec::new();
    let mut drift = Vec::new();
    let mut errors = Vec::new();
    let mut unmanaged = Vec::new();
    let mut warnings = Vec::new();
    let mut held = Vec::new();
    let mut rollback_holds = Vec::new();
    let in_scope: Vec<&str> = desired
        .models
        .keys()
        .filter(|n| scope.includes(n))
        .map(String::as_str)
        .collect();
    let observed = observed(actual, &in_scope);
    for (name, model) in &desired.models {
        if !scope.includes(name) {
            continue;
        }
        let registered = actual.models.get(name);
        if let Some(r) = registered {
            drift.extend(model_drift(r, &observed[name.as_str()]));
            for v in &r.versions {
                if model.version(&v.version).is_none() {
                    unmanaged.push(format!(
                        "{name} version {} ({}) is in the registry but not in {}; versions are never deleted",
                        v.version, v.stage, model.file
                    ));
                }
            }
        }
        verify_metrics(model, observations, &mut errors, &mut warnings);
        let mut out = ModelOutput {
            errors: &mut errors,
            warnings: &mut warnings,
            held: &mut held,
        };
        // A manual rollback holds the model while git still asks for what
        // was rolled back: nothing is planned for it.
        let record = actual.rollouts.get(name);
        let holding =
            record.filter(|r| r.strategy == rollback::STRATEGY && r.phase == rollback::HELD);
        let mut released = None;
        if let Some(r) = holding {
            if rollback::still_held(r, model) {
                rollback_holds.push(rollback::hold_of(name, &model.file, r));
                models.push(ModelPlan {
                    model: name.clone(),
                    action: ModelAction::NoOp,
                    steps: Vec::new(),
                    manifest_diff: None,
                    rollout: None,
                });
                continue;
            }
            released = Some(rollback::release(name, r, "the model's manifest changed"));
        }
        let declared_production = model
            .versions
            .iter()
            .find(|v| v.spec.stage == Stage::Production)
            .map(|v| (&v.spec.version, metadata_of(v)));
        let admitter = admit::Admitter {
            model,
            policy_name: &model.policy,
            policy: &desired.policies[&model.policy],
            baseline: gates::baseline_of(
                actual,
                name,
                declared_production.as_ref().map(|(v, m)| (*v, m)),
            ),
            actual,
            observations,
        };
        let ModelSteps {
            mut steps,
            delegated,
        } = plan_model(desired, actual, &admitter, model, registered, &mut out);
        if let Some(step) = released {
            steps.insert(0, step);
        }
        let mut rollout_note = None;
        if let (Some(d), Some((candidate, _))) = (desired.deployments.get(name), &delegated)
            && let Strategy::Canary(c) = &d.strategy
            && let Some(declared) = &c.model_version
            && declared != candidate
        {
            errors.push(Diagnostic::pointer(
                &d.file,
                "/spec/canary/model_version",
                "canary-version",
                format!(
                    "{name}: the canary rolls out version {declared}, but {} puts version {candidate} in Production; make them agree",
                    model.file
                ),
            ));
        }
        if let Some(d) = desired.deployments.get(name) {
            let inputs = rollout::RolloutInputs {
                deployment: d,
                model,
                policy: (&model.policy, &desired.policies[&model.policy]),
                registered,
                serving: actual.serving.get(name),
                record: actual.rollouts.get(name),
                production_after: production_after(registered, &steps),
                candidate: delegated.as_ref().map(|(v, _)| v),
                ready: ready_versions(registered, &steps),
                may_start: delegated.as_ref().is_some_and(|(_, ok)| *ok),
                admit: &admitter,
                now,
            };
            let outcome = rollout::decide(&inputs, lookup);
            steps.extend(outcome.steps);
            rollout_note = outcome.note;
        }
        let action = match (registered, steps.is_empty()) {
            (None, _) => ModelAction::Create,
            (Some(_), true) => ModelAction::NoOp,
            (Some(_), false) => ModelAction::Update,
        };
        models.push(ModelPlan {
            model: name.clone(),
            action,
            steps,
            manifest_diff: None,
            rollout: rollout_note,
        });
    }
    for (name, route) in &actual.unowned_routes {
        if scope.includes(name) {
            add_step(&mut models, name, unowned_route(desired, name, route));
        }
    }
    for name in actual.models.keys() {
        if !desired.models.contains_key(name) && scope.includes(name) {
            unmanaged.push(format!(
                "model {name} is in the registry but not in models/; it is left as it is"
            ));
        }
    }
    let summary = Summary::of(&models);
    let policies = models
        .iter()
        .flat_map(|m| &m.steps)
        .filter_map(|s| match s {
            PlanStep::TransitionStage {
                policy: Some(p), ..
            }
            | PlanStep::RejectVersion { policy: p, .. } => Some(p),
            _ => None,
        })
        .map(|p| (p.clone(), desired.policies[p].clone()))
        .collect();
    // A removed route can plan a model git no longer declares: the state
    // the plan saw covers every model it plans.
    let planned: Vec<&str> = models.iter().map(|m| m.model.as_str()).collect();
    let (observed, state_fingerprint) = if planned.len() == in_scope.len() {
        (observed, actual.fingerprint_of(in_scope.iter().copied()))
    } else {
        (
            self::observed(actual, &planned),
            actual.fingerprint_of(planned.iter().copied()),
        )
    };
    let mut p = Plan {
        format_version: plan::FORMAT_VERSION.to_string(),
        created_at: now,
        source: PlanSource::default(),
        state_fingerprint,
        observed,
        drift,
        unmanaged,
        warnings,
        rejected: held,
        held_by_rollback: rollback_holds,
        diverged: Vec::new(),
        policies,
        after_merge: Vec::new(),
        models,
        errors,
        summary,
    };
    p.diverged = diverged::find(desired, actual, &p);
    p
}

/// The removal of a route no deployment owns: its deployment file was
/// removed (or now names another target), or its model left git. Removing
/// is the rule, never re-pointing: the plan shows it, and a reviewer who
/// wants the model served keeps (or restores) its deployment.
fn unowned_route(desired: &Desired, name: &str, route: &crate::state::TrafficRecord) -> PlanStep {
    let reason = match desired.deployments.get(name) {
        Some(d) => format!("its deployment {} routes it on {} now", d.file, d.target),
        None if desired.models.contains_key(name) => {
            "no deployment routes this model any more".to_string()
        }
        None => "the model is not in models/ and no deployment routes it".to_string(),
    };
    PlanStep::RemoveRoute {
        model: name.to_string(),
        before: route.clone(),
        reason,
    }
}

/// Adds `step` to `name`'s plan (a plan that had nothing to do now updates).
fn add_step(models: &mut Vec<ModelPlan>, name: &str, step: PlanStep) {
    match models.iter_mut().find(|m| m.model == name) {
        Some(m) => {
            m.steps.push(step);
            if m.action == ModelAction::NoOp {
                m.action = ModelAction::Update;
            }
        }
        None => models.push(ModelPlan {
            model: name.to_string(),
            action: ModelAction::Update,
            steps: vec![step],
            manifest_diff: None,
            rollout: None,
        }),
    }
}

/// Stage and metadata digest (`"<Stage> <digest>"`) of every registered
/// version of these models.
pub fn observed(
    actual: &ActualState,
    models: &[&str],
) -> BTreeMap<String, BTreeMap<String, String>> {
    models
        .iter()
        .filter_map(|name| actual.models.get(*name).map(|m| (*name, m)))
        .map(|(name, m)| {
            let versions = m
                .versions
                .iter()
                .map(|v| {
                    (
                        v.version.to_string(),
                        format!("{} {}", v.stage, v.metadata.digest()),
                    )
                })
                .collect();
            (name.to_string(), versions)
        })
        .collect()
}

/// The version metadata a manifest entry asks for.
pub fn metadata_of(v: &DesiredVersion) -> VersionMetadata {
    let s = &v.spec;
    VersionMetadata {
        source: s.source.clone(),
        training_run_id: s.training_run_id.clone(),
        dataset_version: s.dataset_version.clone(),
        metrics: s.metrics.clone(),
        fairness: s.fairness.clone(),
        signature: s.signature.clone(),
        dependencies: s.dependencies.clone(),
        changelog: s.changelog.clone(),
        approved_by: s.approved_by.clone(),
        tags: s.tags.clone(),
    }
}

/// Whether a registered version's metadata is what the manifest declares
/// (without building the declared record: most versions are unchanged).
fn same_metadata(v: &DesiredVersion, m: &VersionMetadata) -> bool {
    let s = &v.spec;
    s.source == m.source
        && s.training_run_id == m.training_run_id
        && s.dataset_version == m.dataset_version
        && s.metrics == m.metrics
        && s.fairness == m.fairness
        && s.signature == m.signature
        && s.dependencies == m.dependencies
        && s.changelog == m.changelog
        && s.approved_by == m.approved_by
        && s.tags == m.tags
}

/// The evidence fields of a registered version, which never change once it
/// is registered: what its gates were judged on. Descriptive fields
/// (changelog, tags, dependencies, approvals) may.
const EVIDENCE_FIELDS: [&str; 6] = [
    "source",
    "training_run_id",
    "dataset_version",
    "metrics",
    "fairness",
    "signature",
];

/// The evidence fields git declares differently from the registry.
fn evidence_changes(v: &DesiredVersion, m: &VersionMetadata) -> Vec<&'static str> {
    let s = &v.spec;
    let differs = [
        s.source != m.source,
        s.training_run_id != m.training_run_id,
        s.dataset_version != m.dataset_version,
        s.metrics != m.metrics,
        s.fairness != m.fairness,
        s.signature != m.signature,
    ];
    EVIDENCE_FIELDS
        .iter()
        .zip(differs)
        .filter(|(_, d)| *d)
        .map(|(f, _)| *f)
        .collect()
}

/// Whether git declares exactly what modelops last wrote for this version
/// while the registry holds something else: putting back a change made
/// outside git, not a change of evidence in git.
fn restores_applied(v: &DesiredVersion, x: &RegisteredVersion) -> bool {
    x.applied
        .as_ref()
        .is_some_and(|a| a.metadata_digest == metadata_of(v).digest())
}

/// A registered version's evidence changed in git: a plan error at the field.
fn immutable_error(
    model: &DesiredModel,
    v: &DesiredVersion,
    x: &RegisteredVersion,
    field: &str,
) -> Diagnostic {
    let (rule, held) = match field {
        "source" => (
            "immutable-source",
            format!("source is {} in the registry", x.metadata.source),
        ),
        _ => (
            "immutable-evidence",
            format!("`{field}` differs from what the registry holds"),
        ),
    };
    Diagnostic::pointer(
        &model.file,
        format!("{}/{field}", v.pointer()),
        rule,
        format!(
            "{} version {}: {held}, and a registered version's evidence cannot change \
             (its gates were judged on it); register a new version instead",
            model.name, v.spec.version
        ),
    )
}

/// Drift of one model; `observed` is its entry of [`observed`].
fn model_drift(r: &RegisteredModel, observed: &BTreeMap<String, String>) -> Vec<DriftItem> {
    let mut out = Vec::new();
    if let Some(applied) = &r.applied {
        let pairs = [
            ("owner", Some(applied.owner.clone()), Some(r.owner.clone())),
            (
                "description",
                applied.description.clone(),
                r.description.clone(),
            ),
        ];
        for (field, before, after) in pairs {
            if before != after {
                out.push(DriftItem {
                    model: r.name.clone(),
                    version: None,
                    change: FieldChange {
                        field: field.to_string(),
                        before: before.map(Into::into),
                        after: after.map(Into::into),
                    },
                });
            }
        }
    }
    for v in &r.versions {
        let Some(applied) = &v.applied else { continue };
        if applied.stage != v.stage {
            out.push(DriftItem {
                model: r.name.clone(),
                version: Some(v.version.clone()),
                change: FieldChange {
                    field: "stage".to_string(),
                    before: Some(applied.stage.as_str().into()),
                    after: Some(v.stage.as_str().into()),
                },
            });
        }
        let digest = observed
            .get(&v.version.to_string())
            .and_then(|o| o.split_once(' '))
            .map_or("", |(_, d)| d);
        if applied.metadata_digest != digest {
            out.push(DriftItem {
                model: r.name.clone(),
                version: Some(v.version.clone()),
                change: FieldChange {
                    field: "metadata".to_string(),
                    before: Some(applied.metadata_digest.clone().into()),
                    after: Some(digest.into()),
                },
            });
        }
    }
    out
}

/// Where [`plan_model`] reports besides its steps.
struct ModelOutput<'a> {
    errors: &'a mut Vec<Diagnostic>,
    warnings: &'a mut Vec<String>,
    held: &'a mut Vec<HeldRejection>,
}

/// A model's registry steps, and the version whose move into Production
/// its deployment's rollout takes over (with whether it may start).
struct ModelSteps {
    steps: Vec<PlanStep>,
    delegated: Option<(VersionId, bool)>,
}

fn plan_model(
    desired: &Desired,
    actual: &ActualState,
    admitter: &admit::Admitter,
    model: &DesiredModel,
    registered: Option<&RegisteredModel>,
    out: &mut ModelOutput,
) -> ModelSteps {
    let errors = &mut *out.errors;
    let policy = admitter.policy;
    let name = &model.name;
    let mut steps = Vec::new();
    match registered {
        None => steps.push(PlanStep::RegisterModel {
            model: name.clone(),
            owner: model.owner.clone(),
            description: model.description.clone(),
        }),
        Some(r) if r.owner != model.owner || r.description != model.description => {
            let mut changes = Vec::new();
            if r.owner != model.owner {
                changes.push(change("owner", Some(&r.owner), Some(&model.owner)));
            }
            if r.description != model.description {
                changes.push(change(
                    "description",
                    r.description.as_ref(),
                    model.description.as_ref(),
                ));
            }
            steps.push(PlanStep::UpdateModel {
                model: name.clone(),
                owner: model.owner.clone(),
                description: model.description.clone(),
                changes,
            });
        }
        Some(_) => {}
    }

    // A model that has never served may take its first Production version
    // straight from registration (like a first Argo rollout); afterwards every
    // promotion follows the stage graph.
    let first_deploy = registered.is_none_or(|r| !r.has_served());
    // A registry that numbers versions itself gives the next new integer
    // version the next number; git must declare exactly that.
    let mut next_number = actual
        .assigns_numbers
        .then(|| actual.next_numbers.get(name).copied().unwrap_or(1));
    let mut promotions: Vec<PlanStep> = Vec::new();
    let mut archives: Vec<PlanStep> = Vec::new();
    let mut new_production: Option<&VersionId> = None;
    // A Production promotion the gates refuse leaves the serving version in
    // Production: archiving it would leave the model with nothing serving.
    let mut production_refused: Option<&VersionId> = None;
    let deployment = desired.deployments.get(name);
    let serving = registered
        .and_then(RegisteredModel::production)
        .map(|p| &p.version);
    let record = actual.rollouts.get(name);
    // A rollout that promoted its version itself (auto_promote), ahead of git.
    let auto_promoted = record
        .filter(|r| r.promoted && r.phase == rollout::SUCCEEDED && serving == Some(&r.version));
    let mut delegated: Option<(VersionId, bool)> = None;

    for v in &model.versions {
        let want = v.spec.stage;
        let existing =
            registered.and_then(|r| r.versions.iter().find(|x| x.version == v.spec.version));
        let current = match existing {
            None => {
                if let (Some(next), VersionId::Number(n)) = (next_number.as_mut(), &v.spec.version)
                {
                    if *n != *next {
                        errors.push(Diagnostic::pointer(
                            &model.file,
                            format!("{}/version", v.pointer()),
                            "version-number",
                            format!(
                                "{name}: the registry numbers versions itself and will number the next one {next}, not {n}; \
                                 declare {next} (modelops never renumbers versions)"
                            ),
                        ));
                    }
                    *next += 1;
                }
                // Every version is registered in Development and moved on
                // from there, history included (archived last): an apply cut
                // short then leaves a state the next plan continues from,
                // and a model's first deploy stays a first deploy.
                let initial = Stage::Development;
                steps.push(PlanStep::RegisterVersion {
                    model: name.clone(),
                    version: v.spec.version.clone(),
                    stage: initial,
                    metadata: metadata_of(v),
                });
                initial
            }
            Some(x) => {
                let mut changed = evidence_changes(v, &x.metadata);
                if restores_applied(v, x) {
                    // A registry cannot be told another source: that stays an error.
                    changed.retain(|f| *f == "source");
                }
                if !changed.is_empty() {
                    for field in changed {
                        errors.push(immutable_error(model, v, x, field));
                    }
                } else if !same_metadata(v, &x.metadata) {
                    let meta = metadata_of(v);
                    steps.push(PlanStep::UpdateVersion {
                        model: name.clone(),
                        version: v.spec.version.clone(),
                        changes: diff_metadata(&x.metadata, &meta),
                        metadata: meta,
                    });
                }
                x.stage
            }
        };
        if current == want {
            continue;
        }
        if let Some(r) = auto_promoted
            && (v.spec.version == r.version || r.from_version.as_ref() == Some(&v.spec.version))
        {
            let (to, from) = (&r.version, r.from_version.as_ref());
            out.warnings.push(format!(
                "{name} version {}: its {} promoted version {to} to Production (auto_promote); git still declares version {} {want}: \
                 set version {to} to Production{} in {} so git agrees",
                v.spec.version,
                r.strategy,
                v.spec.version,
                from.map(|f| format!(" and version {f} to Archived")).unwrap_or_default(),
                model.file
            ));
            continue;
        }
        // Putting back a stage someone changed outside git is a revert, not a
        // move through the stage graph.
        let reverting = existing
            .and_then(|x| x.applied.as_ref())
            .is_some_and(|a| a.stage == want);
        let allowed = if reverting {
            Ok("reverting a change made outside git")
        } else if existing.is_none() && want == Stage::Archived {
            Ok("registered as history")
        } else {
            check_move(current, want, first_deploy)
        };
        match allowed {
            Err(why) => errors.push(Diagnostic::pointer(
                &model.file,
                format!("{}/stage", v.pointer()),
                "stage-graph",
                format!("{name} version {}: {why}", v.spec.version),
            )),
            Ok(reason) => {
                // A deployment whose rollout takes this version to Production.
                let rollout_strategy = deployment
                    .filter(|d| {
                        want == Stage::Production
                            && !reverting
                            && rollout::takes_over(d, serving, &v.spec.version)
                    })
                    .map(|d| d.strategy.name());
                let phase = rollout_strategy
                    .and(record.filter(|r| r.version == v.spec.version))
                    .map(|r| r.phase.as_str());
                if gates::gates_for(policy, want).is_none() {
                    let step = PlanStep::TransitionStage {
                        model: name.clone(),
                        version: v.spec.version.clone(),
                        from: current,
                        to: want,
                        reason: reason.to_string(),
                        gates: Vec::new(),
                        policy: None,
                    };
                    if want == Stage::Archived {
                        archives.push(step);
                    } else {
                        promotions.push(step);
                    }
                    continue;
                }
                // Every gated move goes through the one admission: a direct
                // move, a rollout starting or running, a restore, a revert.
                let evidence = match (rollout_strategy, phase) {
                    (Some(_), Some(rollout::SUCCEEDED)) | (None, _) => gates::Evidence::Recorded,
                    (Some(strategy), _) => gates::Evidence::Starts(strategy),
                };
                let decision = admitter.decide(&admit::Move {
                    version: &v.spec.version,
                    from: current,
                    to: want,
                    reason,
                    evidence,
                });
                match decision {
                    admit::Decision::Held(h) => {
                        out.held.push(h);
                        if want == Stage::Production {
                            production_refused = Some(&v.spec.version);
                        }
                    }
                    // A passed rollout promotes through the same admission
                    // when it runs (rollout::promote), its pass as evidence.
                    _ if phase == Some(rollout::SUCCEEDED) => {
                        delegated = Some((v.spec.version.clone(), true));
                    }
                    admit::Decision::Refused(step) => {
                        if want == Stage::Production {
                            production_refused = Some(&v.spec.version);
                        }
                        if rollout_strategy.is_some() {
                            // A canary whose gates fail does not start, and
                            // one running stops.
                            delegated = Some((v.spec.version.clone(), false));
                        }
                        promotions.push(step);
                    }
                    admit::Decision::Admitted(_) if rollout_strategy.is_some() => {
                        delegated = Some((v.spec.version.clone(), true));
                    }
                    admit::Decision::Admitted(step) => {
                        if want == Stage::Production {
                            new_production = Some(&v.spec.version);
                        }
                        promotions.push(step);
                    }
                }
            }
        }
    }

    // The previous Production version is archived when a newer one reaches
    // Production, even when git no longer lists it.
    if let (Some(newer), Some(old)) = (
        new_production,
        registered.and_then(RegisteredModel::production),
    ) && model.version(&old.version).is_none()
    {
        archives.push(archive_replaced(name, old, newer));
    }

    if let (Some(refused), Some(serving)) = (
        production_refused,
        registered.and_then(RegisteredModel::production),
    ) {
        let before = archives.len();
        archives.retain(|s| {
            !matches!(
                s,
                PlanStep::TransitionStage {
                    from: Stage::Production,
                    ..
                }
            )
        });
        if archives.len() != before {
            out.warnings.push(format!(
                "{name} version {} stays in Production: version {refused}, which git puts in Production, was rejected by its gates",
                serving.version
            ));
        }
    }
    if delegated.is_some() || auto_promoted.is_some() {
        // The rollout archives the serving version when it completes.
        archives.retain(|s| {
            !matches!(
                s,
                PlanStep::TransitionStage {
                    from: Stage::Production,
                    ..
                }
            )
        });
    }
    promotions.sort_by_key(|s| match s {
        PlanStep::TransitionStage { to, .. } | PlanStep::RejectVersion { to, .. } => *to,
        _ => Stage::Development,
    });
    steps.extend(promotions);
    steps.extend(archives);
    ModelSteps { steps, delegated }
}

/// Versions that will be in Staging, and not Rejected, once `steps` have
/// run: the ones a shadow or an A/B test may put in front of traffic.
fn ready_versions(registered: Option<&RegisteredModel>, steps: &[PlanStep]) -> BTreeSet<VersionId> {
    let mut stage: BTreeMap<&VersionId, (Stage, bool)> = registered
        .map(|r| {
            r.versions
                .iter()
                .map(|v| (&v.version, (v.stage, v.rejected.is_some())))
                .collect()
        })
        .unwrap_or_default();
    for s in steps {
        match s {
            PlanStep::RegisterVersion {
                version, stage: st, ..
            } => {
                stage.insert(version, (*st, false));
            }
            PlanStep::TransitionStage { version, to, .. } => {
                stage.insert(version, (*to, false));
            }
            PlanStep::RejectVersion { version, from, .. } => {
                stage.insert(version, (*from, true));
            }
            _ => {}
        }
    }
    stage
        .into_iter()
        .filter(|(_, (st, rejected))| *st == Stage::Staging && !rejected)
        .map(|(v, _)| v.clone())
        .collect()
}

/// The registry's Production version once `steps` have run.
fn production_after(registered: Option<&RegisteredModel>, steps: &[PlanStep]) -> Option<VersionId> {
    let mut prod = registered
        .and_then(RegisteredModel::production)
        .map(|p| p.version.clone());
    for s in steps {
        if let PlanStep::TransitionStage {
            version, from, to, ..
        } = s
        {
            if *to == Stage::Production {
                prod = Some(version.clone());
            } else if *from == Stage::Production && prod.as_ref() == Some(version) {
                prod = None;
            }
        }
    }
    prod
}

fn archive_replaced(model: &str, old: &RegisteredVersion, newer: &VersionId) -> PlanStep {
    PlanStep::TransitionStage {
        model: model.to_string(),
        version: old.version.clone(),
        from: Stage::Production,
        to: Stage::Archived,
        reason: format!("replaced in Production by version {newer}"),
        gates: Vec::new(),
        policy: None,
    }
}

/// Whether the stage graph allows `from → to`, and why in words.
pub fn check_move(from: Stage, to: Stage, first_deploy: bool) -> Result<&'static str, String> {
    use Stage::*;
    match (from, to) {
        (Development, Staging) => Ok("promoted after validation"),
        (Staging, Production) => Ok("promoted to serve"),
        (Development, Production) if first_deploy => {
            Ok("first Production version of the model: nothing to compare with")
        }
        (Development, Production) => Err(
            "cannot move Development → Production: promote it to Staging first (the guidelines' stage graph)".to_string(),
        ),
        (Archived, Production) => Ok("restored to Production from the archive"),
        (Archived, Staging) => Ok("restored to Staging from the archive"),
        (_, Archived) => Ok("archived"),
        (Production, Staging) => Err(
            "cannot move Production → Staging: a Production version is Archived when it stops serving".to_string(),
        ),
        (f, Development) => Err(format!("cannot move {f} → Development: stages only move forward")),
        (f, t) => Err(format!("cannot move {f} → {t}")),
    }
}

fn change(field: &str, before: Option<&String>, after: Option<&String>) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before: before.map(|s| s.clone().into()),
        after: after.map(|s| s.clone().into()),
    }
}

#[cfg(test)]
mod tests;
