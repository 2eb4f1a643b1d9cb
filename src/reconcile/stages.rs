//! The stage graph: one model's registry steps (registrations, updates,
//! gated promotions, archives) from what git declares and what is
//! registered.

use super::evidence::{evidence_changes, immutable_error, restores_applied, same_metadata};
use super::*;

/// Where [`plan_model`] reports besides its steps.
pub(super) struct ModelOutput<'a> {
    pub(super) errors: &'a mut Vec<Diagnostic>,
    pub(super) warnings: &'a mut Vec<String>,
    pub(super) held: &'a mut Vec<HeldRejection>,
}

/// A model's registry steps, and the version whose move into Production
/// its deployment's rollout takes over (with whether it may start).
pub(super) struct ModelSteps {
    pub(super) steps: Vec<PlanStep>,
    pub(super) delegated: Option<(VersionId, bool)>,
}

pub(super) fn plan_model(
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
pub(super) fn ready_versions(
    registered: Option<&RegisteredModel>,
    steps: &[PlanStep],
) -> BTreeSet<VersionId> {
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
pub(super) fn production_after(
    registered: Option<&RegisteredModel>,
    steps: &[PlanStep],
) -> Option<VersionId> {
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

pub(super) fn archive_replaced(
    model: &str,
    old: &RegisteredVersion,
    newer: &VersionId,
) -> PlanStep {
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

pub(super) fn change(field: &str, before: Option<&String>, after: Option<&String>) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        before: before.map(|s| s.clone().into()),
        after: after.map(|s| s.clone().into()),
    }
}
