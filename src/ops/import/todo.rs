//! What an imported version lacks for its next promotion: the model's
//! policy evaluated, as `plan` will evaluate it, for the move out of the
//! stage the version has now (Development → Staging, Staging →
//! Production), on the manifest import wrote and what MLflow holds (the
//! run's metrics, the logged signature). Each failing gate is a to-do.
//! Nothing here moves anything: these are the gates that will fail, naming
//! the same evidence, when someone moves the version in git.

use std::collections::BTreeMap;

use crate::backend::mlflow::import::ListedModel;
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{Desired, Stage, VersionId};
use crate::reconcile::gates::{
    self, Candidate, Evidence, GateInputs, GateObservations, GateResult, GateStatus,
};
use crate::reconcile::metadata_of;
use crate::state::{ActualState, LoggedSignature};

use super::yaml::Todos;

/// The stage a version's next promotion enters, if it has one.
pub fn next_stage(stage: Stage) -> Option<Stage> {
    match stage {
        Stage::Development => Some(Stage::Staging),
        Stage::Staging => Some(Stage::Production),
        Stage::Production | Stage::Archived => None,
    }
}

/// The to-dos of each version of `listed` that has a next promotion, by
/// version; the model must be in `desired` (as import wrote it).
pub fn todos(
    desired: &Desired,
    listed: &ListedModel,
    now: jiff::Timestamp,
) -> BTreeMap<VersionId, Todos> {
    let name = &listed.observed.name;
    let Some(model) = desired.models.get(name) else {
        return BTreeMap::new();
    };
    let policy = &desired.policies[&model.policy];
    let run_metrics: BTreeMap<String, Option<SortedMap<String, f64>>> = listed
        .versions
        .iter()
        .zip(&listed.observed.versions)
        .filter_map(|(l, v)| {
            let run = v.metadata.training_run_id.clone()?;
            let metrics = match &l.run {
                Some(Ok(details)) => Some(
                    details
                        .metrics
                        .iter()
                        .map(|(k, v)| (k.clone(), *v))
                        .collect(),
                ),
                _ => None,
            };
            Some((run, metrics))
        })
        .collect();
    let mut observed = GateObservations::default();
    for (l, v) in listed.versions.iter().zip(&listed.observed.versions) {
        let logged = match &l.signature {
            Ok(Some(sig)) => Ok(LoggedSignature::Found(sig.clone())),
            Ok(None) => Ok(LoggedSignature::NotLogged(
                "the logged model has no signature".into(),
            )),
            Err(e) => Ok(LoggedSignature::NotLogged(e.clone())),
        };
        observed
            .logged_signatures
            .insert((name.clone(), v.version.clone()), logged);
    }
    let production = model
        .versions
        .iter()
        .find(|v| v.spec.stage == Stage::Production)
        .map(|v| (&v.spec.version, metadata_of(v)));
    let actual = ActualState::default();
    let strategy = desired.deployments.get(name).map(|d| d.strategy.name());
    let mut out = BTreeMap::new();
    for v in &model.versions {
        let Some(next) = next_stage(v.spec.stage) else {
            continue;
        };
        let metadata = metadata_of(v);
        let evidence = match strategy {
            Some(s) if next == Stage::Production => Evidence::Starts(s),
            _ => Evidence::Recorded,
        };
        let results = gates::evaluate(&GateInputs {
            policy,
            candidate: Candidate {
                model: name,
                owner: &model.owner,
                version: &v.spec.version,
                metadata: &metadata,
                from: v.spec.stage,
                to: next,
            },
            baseline: production.as_ref().map(|(id, m)| (*id, m)),
            actual: &actual,
            run_metrics: &run_metrics,
            observed: &observed,
            evidence,
            now,
        });
        let benchmarked = gates::gates_for(policy, next).is_some_and(|g| g.benchmark.is_some());
        let items: Vec<String> = results
            .iter()
            .filter(|r| r.status == GateStatus::Fail)
            // A benchmark is measured when the version moves, not before.
            .filter(|r| !(benchmarked && r.check.starts_with("latency")))
            .map(item)
            .collect();
        if !items.is_empty() {
            out.insert(
                v.spec.version.clone(),
                Todos {
                    next,
                    policy: model.policy.clone(),
                    items,
                },
            );
        }
    }
    out
}

/// A failing gate in words: the check, and why (or what it found against
/// what it needs).
fn item(r: &GateResult) -> String {
    match &r.reason {
        Some(reason) => format!("{}: {reason}", r.check),
        None => format!("{}: {}, needs {}", r.check, r.value, r.threshold),
    }
}
