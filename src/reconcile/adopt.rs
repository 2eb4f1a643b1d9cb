//! Adoption: models and versions the registry holds that modelops never
//! wrote (registered by hand or by training code, then brought into git,
//! typically by `modelops import`).
//!
//! Such a version carries only the registry's own fields (in MLflow: source,
//! description, tags, stage and aliases, run id). Everything else the
//! guidelines ask for — dataset version, metrics, fairness, signature,
//! dependencies, sign-off — exists only in git, where modelops keeps it in
//! tags once it has written the version. So the registry holding *nothing*
//! for those fields is not a difference from git: it has no record to
//! differ. A field the registry does hold is compared as always, so a
//! change made outside git still shows, and nothing is registered, moved
//! or gated by adopting.
//!
//! The first plan that writes to such a model records what git declares
//! (the owner, and each unrecorded version's metadata) before its other
//! steps: from then on the registry holds the record, and every field is
//! compared with it.

use super::evidence::metadata_of;
use crate::manifest::{Desired, DesiredModel};
use crate::state::plan::PlanStep;
use crate::state::{
    ActualState, FieldChange, RegisteredModel, RegisteredVersion, VersionMetadata, diff_metadata,
};

/// Whether modelops has recorded nothing for this version: no metadata
/// digest of its own, and none of the fields only modelops records.
pub fn unrecorded(v: &RegisteredVersion) -> bool {
    let m = &v.metadata;
    v.applied
        .as_ref()
        .is_none_or(|a| a.metadata_digest.is_empty())
        && m.dataset_version.is_none()
        && m.metrics.is_empty()
        && m.fairness.is_empty()
        && m.signature.is_none()
        && m.dependencies.is_empty()
        && m.approved_by.is_none()
}

/// Whether the registry holds no owner for a model modelops never wrote
/// (MLflow keeps the owner in a `modelops.owner` tag, which such a model
/// lacks). Once modelops has moved one of its versions, an owner missing
/// is a change made outside git, and the plan puts it back.
pub fn owner_unrecorded(r: &RegisteredModel) -> bool {
    r.owner.is_empty() && r.applied.is_none() && r.versions.iter().all(|v| v.applied.is_none())
}

/// An unrecorded version's metadata with git's values where the registry
/// holds nothing: what the version is, as far as anyone can tell.
fn filled(registered: &VersionMetadata, git: &VersionMetadata) -> VersionMetadata {
    VersionMetadata {
        training_run_id: registered
            .training_run_id
            .clone()
            .or_else(|| git.training_run_id.clone()),
        dataset_version: git.dataset_version.clone(),
        metrics: git.metrics.clone(),
        fairness: git.fairness.clone(),
        signature: git.signature.clone(),
        dependencies: git.dependencies.clone(),
        approved_by: git.approved_by.clone(),
        ..registered.clone()
    }
}

/// The registry as planning compares it with git: each unrecorded version
/// of a model git declares with git's values where the registry holds
/// nothing, and each model without a recorded owner with git's owner.
/// `None` when there is nothing to adopt (always, for a registry modelops
/// wrote), so the common case copies nothing.
pub fn view(desired: &Desired, actual: &ActualState) -> Option<ActualState> {
    let adoptable = |name: &String, r: &RegisteredModel| {
        desired.models.contains_key(name)
            && (owner_unrecorded(r) || r.versions.iter().any(unrecorded))
    };
    if !actual.models.iter().any(|(n, r)| adoptable(n, r)) {
        return None;
    }
    let mut view = actual.clone();
    for (name, r) in view.models.iter_mut() {
        let Some(model) = desired.models.get(name) else {
            continue;
        };
        if owner_unrecorded(r) {
            r.owner = model.owner.clone();
        }
        for v in r.versions.iter_mut().filter(|v| unrecorded(v)) {
            if let Some(d) = model.version(&v.version) {
                v.metadata = filled(&v.metadata, &metadata_of(d));
            }
        }
    }
    Some(view)
}

/// Adds to `steps` (which the plan decided from the [`view`]) what
/// records git's declarations for a model the registry holds unrecorded
/// parts of: the owner, then each unrecorded version's metadata, before the
/// other steps; an update the plan already makes of such a version lists
/// every field it writes, against what the registry holds. Nothing when
/// `steps` is empty: adopting alone writes nothing.
pub fn record(model: &DesiredModel, registered: &RegisteredModel, steps: &mut Vec<PlanStep>) {
    if steps.is_empty() {
        return;
    }
    let mut record = Vec::new();
    let writes_model = steps.iter().any(|s| {
        matches!(
            s,
            PlanStep::RegisterModel { .. } | PlanStep::UpdateModel { .. }
        )
    });
    if owner_unrecorded(registered) && !writes_model {
        record.push(PlanStep::UpdateModel {
            model: model.name.clone(),
            owner: model.owner.clone(),
            description: model.description.clone(),
            changes: vec![FieldChange {
                field: "owner".to_string(),
                before: None,
                after: Some(model.owner.clone().into()),
            }],
        });
    }
    for x in registered.versions.iter().filter(|x| unrecorded(x)) {
        let Some(d) = model.version(&x.version) else {
            continue;
        };
        let planned = steps.iter_mut().find_map(|s| match s {
            PlanStep::UpdateVersion {
                version,
                metadata,
                changes,
                ..
            } if *version == x.version => Some((metadata, changes)),
            _ => None,
        });
        if let Some((metadata, changes)) = planned {
            *changes = diff_metadata(&x.metadata, metadata);
            continue;
        }
        let metadata = filled(&x.metadata, &metadata_of(d));
        let changes = diff_metadata(&x.metadata, &metadata);
        if !changes.is_empty() {
            record.push(PlanStep::UpdateVersion {
                model: model.name.clone(),
                version: x.version.clone(),
                metadata,
                changes,
            });
        }
    }
    let at = steps
        .iter()
        .position(|s| {
            !matches!(
                s,
                PlanStep::RegisterModel { .. } | PlanStep::UpdateModel { .. }
            )
        })
        .unwrap_or(steps.len());
    steps.splice(at..at, record);
}

/// The training runs of versions modelops never wrote that `plan` records
/// (an update of one, [`record`]), whose logged metrics `observations`
/// lacks: recording git's metrics makes them the registry's, so they are
/// verified against the run first, as a registration's are. The caller
/// reads them and plans again.
pub fn runs_to_verify(
    plan: &crate::state::plan::Plan,
    actual: &ActualState,
    observations: &super::Observations,
) -> Vec<String> {
    let mut runs: Vec<String> = plan
        .steps()
        .filter_map(|s| match s {
            PlanStep::UpdateVersion {
                model,
                version,
                metadata,
                ..
            } if !metadata.metrics.is_empty()
                && actual.version(model, version).is_some_and(unrecorded) =>
            {
                metadata.training_run_id.clone()
            }
            _ => None,
        })
        .filter(|run| !observations.run_metrics.contains_key(run))
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::manifest::{SourceFile, Stage, VersionId, load};
    use crate::reconcile::{Observations, Plan, Scope, plan};
    use crate::state::AppliedVersion;

    /// A `default` policy that gates nothing: these tests are about what is
    /// compared, not about gates.
    const LENIENT: &str = "apiVersion: modelops/v1\nkind: Policy\nmetadata: {name: default}\nspec:\n  staging: &g {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}\n  production: *g\n  production_requires: {rollout_evidence: false, approvals: []}\n";

    /// Versions 1 (Archived), 2 (Production) and 3 (Staging) as `import`
    /// writes them; `edit` changes the text first.
    fn desired(edit: &dyn Fn(String) -> String) -> Desired {
        let mut text = String::from(
            "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: fraud-detector\n  owner: risk-ml\n  description: Scores transactions.\nspec:\n  versions:\n",
        );
        for (v, stage) in [(1, "Archived"), (2, "Production"), (3, "Staging")] {
            text.push_str(&format!(
                "    - version: {v}\n      stage: {stage}\n      source: models:/m-{v}\n      training_run_id: run{v}\n      dataset_version: v{v}.0\n      metrics: {{test_accuracy: 0.9{v}}}\n      dependencies: {{scikit-learn: \"1.5.2\"}}\n      changelog: Retrained ({v}).\n      tags: {{owner: risk-ml}}\n"
            ));
        }
        let files = vec![
            SourceFile {
                path: "models/fraud-detector.yaml".into(),
                content: Ok(edit(text).into_bytes()),
            },
            SourceFile {
                path: "policies/default.yaml".into(),
                content: Ok(LENIENT.as_bytes().to_vec()),
            },
        ];
        load(&files).unwrap_or_else(|d| panic!("{d:#?}"))
    }

    /// The registry as MLflow holds a model registered outside modelops:
    /// its own fields only, no owner, no applied record.
    fn registry() -> ActualState {
        let versions = [
            (1, Stage::Archived),
            (2, Stage::Production),
            (3, Stage::Staging),
        ]
        .into_iter()
        .map(|(v, stage)| RegisteredVersion {
            version: VersionId::Number(v),
            stage,
            metadata: VersionMetadata {
                source: format!("models:/m-{v}"),
                training_run_id: Some(format!("run{v}")),
                changelog: Some(format!("Retrained ({v}).")),
                tags: [("owner".to_string(), "risk-ml".to_string())].into(),
                ..Default::default()
            },
            rejected: None,
            signed_off_by: None,
            registered_at: Timestamp::UNIX_EPOCH,
            applied: None,
        })
        .collect();
        let mut state = ActualState::default();
        state.models.insert(
            "fraud-detector".into(),
            RegisteredModel {
                name: "fraud-detector".into(),
                owner: String::new(),
                description: Some("Scores transactions.".into()),
                versions,
                applied: None,
            },
        );
        state.assigns_numbers = true;
        state.next_numbers.insert("fraud-detector".into(), 4);
        state
    }

    fn plan_of(d: &Desired, a: &ActualState) -> Plan {
        plan(
            d,
            a,
            &Observations::default(),
            Timestamp::UNIX_EPOCH,
            &Scope::All,
        )
    }

    /// Each step as `kind version: fields`.
    fn steps(p: &Plan) -> Vec<String> {
        p.steps()
            .map(|s| match s {
                PlanStep::UpdateModel { changes, .. } => format!(
                    "update model: {}",
                    changes
                        .iter()
                        .map(|c| c.field.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                PlanStep::UpdateVersion {
                    version, changes, ..
                } => {
                    let mut fields: Vec<&str> = changes
                        .iter()
                        .map(|c| c.field.split('.').next().unwrap_or(""))
                        .collect();
                    fields.dedup();
                    format!("update {version}: {}", fields.join(" "))
                }
                PlanStep::TransitionStage {
                    version, from, to, ..
                } => format!("move {version}: {from} → {to}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn errors(p: &Plan) -> Vec<String> {
        p.errors
            .iter()
            .map(|e| format!("{} {}", e.rule, e.pointer.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn adopting_compares_what_the_registry_holds() {
        type Edit = fn(String) -> String;
        type Registry = fn(&mut ActualState);
        struct Case {
            name: &'static str,
            git: Edit,
            registry: Registry,
            steps: &'static [&'static str],
            errors: &'static [&'static str],
            outside: usize,
        }
        let same: Edit = |t| t;
        let untouched: Registry = |_| {};
        const ALL: [&str; 2] = [
            "update 1: dataset_version dependencies metrics",
            "update 2: dataset_version dependencies metrics",
        ];
        let cases = [
            Case {
                name: "imported as it stands: nothing to do",
                git: same,
                registry: untouched,
                steps: &[],
                errors: &[],
                outside: 0,
            },
            Case {
                name: "a move records the owner and every version's metadata first",
                git: |t| {
                    t.replace("stage: Production", "stage: Archived")
                        .replace("stage: Staging", "stage: Production")
                },
                registry: untouched,
                steps: &[
                    "update model: owner",
                    ALL[0],
                    ALL[1],
                    "update 3: dataset_version dependencies metrics",
                    "move 3: Staging → Production",
                    "move 2: Production → Archived",
                ],
                errors: &[],
                outside: 0,
            },
            Case {
                name: "a changelog edited in git is written with the whole record",
                git: |t| t.replace("Retrained (3).", "Retrained on March data."),
                registry: untouched,
                steps: &[
                    "update model: owner",
                    ALL[0],
                    ALL[1],
                    "update 3: changelog dataset_version dependencies metrics",
                ],
                errors: &[],
                outside: 0,
            },
            Case {
                name: "the source the registry holds cannot change",
                git: |t| t.replace("models:/m-3", "models:/m-9"),
                registry: untouched,
                steps: &[],
                errors: &["immutable-source /spec/versions/2/source"],
                outside: 0,
            },
            Case {
                name: "nor the run MLflow says the version came from",
                git: |t| t.replace("training_run_id: run3", "training_run_id: run9"),
                registry: untouched,
                steps: &[],
                errors: &["immutable-evidence /spec/versions/2/training_run_id"],
                outside: 0,
            },
            Case {
                name: "a stage moved in MLflow after import is planned back",
                git: same,
                registry: |a| {
                    a.models.get_mut("fraud-detector").unwrap().versions[2].stage = Stage::Archived;
                },
                steps: &[
                    "update model: owner",
                    ALL[0],
                    ALL[1],
                    "update 3: dataset_version dependencies metrics",
                    "move 3: Archived → Staging",
                ],
                errors: &[],
                outside: 0,
            },
            Case {
                name: "a version modelops wrote is compared whole",
                git: same,
                registry: |a| {
                    let v = &mut a.models.get_mut("fraud-detector").unwrap().versions[2];
                    v.applied = Some(AppliedVersion {
                        stage: Stage::Staging,
                        metadata_digest: "0123abcd".into(),
                    });
                },
                // Its owner is missing too: put back, with the others' records.
                steps: &["update model: owner", ALL[0], ALL[1]],
                errors: &[
                    "immutable-evidence /spec/versions/2/dataset_version",
                    "immutable-evidence /spec/versions/2/metrics",
                ],
                outside: 1,
            },
            Case {
                name: "a version a rollback moved, with no metadata record, is still adopted",
                git: same,
                registry: |a| {
                    let v = &mut a.models.get_mut("fraud-detector").unwrap().versions[2];
                    v.applied = Some(AppliedVersion {
                        stage: Stage::Staging,
                        metadata_digest: String::new(),
                    });
                },
                // Its owner is put back, and the model's record written.
                steps: &[
                    "update model: owner",
                    ALL[0],
                    ALL[1],
                    "update 3: dataset_version dependencies metrics",
                ],
                errors: &[],
                outside: 0,
            },
        ];
        for c in cases {
            let mut a = registry();
            (c.registry)(&mut a);
            let p = plan_of(&desired(&c.git), &a);
            assert_eq!(steps(&p), c.steps, "{}", c.name);
            assert_eq!(errors(&p), c.errors, "{}", c.name);
            assert_eq!(
                p.outside_changes.len(),
                c.outside,
                "{}: {:?}",
                c.name,
                p.outside_changes
            );
        }
    }

    #[test]
    fn metrics_are_read_from_runs_only_when_the_plan_records_them() {
        use crate::reconcile::runs_to_verify as before_planning;
        let a = registry();
        let as_imported = desired(&|t| t);
        assert!(before_planning(&as_imported, &a, &Scope::All).is_empty());
        assert!(
            runs_to_verify(&plan_of(&as_imported, &a), &a, &Observations::default()).is_empty()
        );

        // A changelog edit records version 3, and with it the model's other
        // versions: their metrics are checked against their runs first.
        let edited = desired(&|t| t.replace("Retrained (3).", "Retrained in March."));
        let p = plan_of(&edited, &a);
        assert_eq!(
            runs_to_verify(&p, &a, &Observations::default()),
            ["run1", "run2", "run3"]
        );
        let mut observations = Observations::default();
        for v in 1..=3 {
            let logged = if v == 1 {
                0.5
            } else {
                0.9 + f64::from(v) / 100.0
            };
            observations.run_metrics.insert(
                format!("run{v}"),
                Some([("test_accuracy".to_string(), logged)].into()),
            );
        }
        let p = plan(
            &edited,
            &a,
            &observations,
            Timestamp::UNIX_EPOCH,
            &Scope::All,
        );
        assert_eq!(
            errors(&p),
            ["verified-metrics /spec/versions/0/metrics/test_accuracy"]
        );
        assert!(runs_to_verify(&p, &a, &observations).is_empty());
    }
}
