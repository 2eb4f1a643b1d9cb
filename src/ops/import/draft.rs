//! What each imported field holds and where it came from: a registered
//! model as MLflow lists it, turned into the values of its manifest, each
//! with its provenance, and what could not be carried over.
//!
//! The values a version modelops never wrote is compared on (source,
//! changelog, tags, training run, stage) are exactly what `plan` observes;
//! the rest (dataset, metrics, signature, dependencies) are read from the
//! run and the logged model, since the registry keeps no record of them.

use std::collections::BTreeMap;

use crate::backend::mlflow::import::{ListedModel, ListedVersion, RunDetails};
use crate::manifest::model::Signature;
use crate::manifest::rules::{is_pinned, valid_model_name};
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{Stage, VersionId};
use crate::reconcile::adopt::unrecorded;
use crate::state::{RegisteredVersion, VersionMetadata};

/// A model's manifest, field by field, with where each value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The registered model's name.
    pub name: String,
    /// Owner, and where it came from.
    pub owner: (String, String),
    /// Description, and where it came from.
    pub description: Option<(String, String)>,
    /// Every version, in MLflow's order.
    pub versions: Vec<VersionDraft>,
}

/// One version's entry.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionDraft {
    /// The version as git declares it.
    pub version: VersionId,
    /// MLflow's number.
    pub number: u64,
    /// Its stage.
    pub stage: Stage,
    /// The metadata to declare.
    pub metadata: VersionMetadata,
    /// Where each field came from, by field name (`stage`, `metrics`, ...).
    pub from: BTreeMap<&'static str, String>,
    /// What could not be carried over, by field name.
    pub notes: Vec<(&'static str, String)>,
}

/// Why a registered model cannot be adopted as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The model.
    pub model: String,
    /// Why, and what would make it adoptable.
    pub reason: String,
}

/// The draft of one listed model, or why it cannot be adopted as it stands
/// (a manifest modelops would refuse, or one that moves something).
pub fn draft(listed: &ListedModel) -> Result<Draft, Refusal> {
    let observed = &listed.observed;
    let refuse = |reason: String| Refusal {
        model: observed.name.clone(),
        reason,
    };
    if !valid_model_name(&observed.name) {
        return Err(refuse(format!(
            "`{}` does not follow <domain>-<task> (lowercase words joined by hyphens), which modelops requires of a model name",
            observed.name
        )));
    }
    if observed.versions.is_empty() {
        return Err(refuse("it has no versions".to_string()));
    }
    let production: Vec<String> = observed
        .versions
        .iter()
        .filter(|v| v.stage == Stage::Production)
        .map(|v| v.version.to_string())
        .collect();
    if production.len() > 1 {
        return Err(refuse(format!(
            "versions {} are all in Production (by stage or alias), and modelops allows one; move all but one out of Production in MLflow, then import it",
            production.join(", ")
        )));
    }
    let versions = observed
        .versions
        .iter()
        .zip(&listed.versions)
        .map(|(v, l)| version_draft(v, l))
        .collect();
    Ok(Draft {
        name: observed.name.clone(),
        owner: owner(listed),
        description: observed
            .description
            .clone()
            .map(|d| (d, "registered-model description".to_string())),
        versions,
    })
}

/// The owner: modelops' own record, else the registered model's `owner`
/// tag, else the newest version's (as the guidelines register versions),
/// else who ran the first version's training run, else `unknown`.
fn owner(listed: &ListedModel) -> (String, String) {
    let observed = &listed.observed;
    if !observed.owner.is_empty() {
        return (observed.owner.clone(), "tag modelops.owner".into());
    }
    if let Some(o) = listed.tags.get("owner").filter(|o| !o.trim().is_empty()) {
        return (o.clone(), "registered-model tag `owner`".into());
    }
    if let Some((v, o)) = observed.versions.iter().rev().find_map(|v| {
        v.metadata
            .tags
            .get("owner")
            .filter(|o| !o.trim().is_empty())
            .map(|o| (&v.version, o))
    }) {
        return (o.clone(), format!("version {v}'s tag `owner`"));
    }
    let creator = listed.versions.iter().find_map(|l| match &l.run {
        Some(Ok(run)) if !run.user.trim().is_empty() => Some((run.user.clone(), l.number)),
        _ => None,
    });
    match creator {
        Some((user, n)) => (
            user,
            format!("who ran version {n}'s training run (no `owner` tag)"),
        ),
        None => (
            "unknown".into(),
            "MLflow records no owner: name the team".into(),
        ),
    }
}

fn version_draft(v: &RegisteredVersion, l: &ListedVersion) -> VersionDraft {
    let mut d = VersionDraft {
        version: v.version.clone(),
        number: l.number,
        stage: v.stage,
        metadata: v.metadata.clone(),
        from: BTreeMap::new(),
        notes: Vec::new(),
    };
    d.from.insert("stage", stage_from(v.stage, l));
    d.from.insert("source", "MLflow version source".into());
    if !unrecorded(v) {
        // modelops wrote it: its tags are the record, taken as they are.
        for field in [
            "training_run_id",
            "dataset_version",
            "metrics",
            "fairness",
            "signature",
            "dependencies",
            "approved_by",
        ] {
            d.from.insert(field, format!("tag modelops.{field}"));
        }
    } else {
        if v.metadata.training_run_id.is_some() {
            d.from
                .insert("training_run_id", "MLflow version run_id".into());
        }
        from_run(&mut d, l);
        from_logged_model(&mut d, l);
    }
    d.from
        .insert("changelog", "MLflow version description".into());
    d.from.insert(
        "tags",
        "MLflow version tags, kept as they are (modelops compares them)".into(),
    );
    d
}

/// Where the stage was read: the version's MLflow stage and its aliases.
fn stage_from(stage: Stage, l: &ListedVersion) -> String {
    if l.managed {
        return "as modelops last set it (tag modelops.stage)".into();
    }
    let mlflow = match l.mlflow_stage {
        Some(Stage::Development) | None => "None".to_string(),
        Some(s) => s.to_string(),
    };
    let alias = l
        .aliases
        .iter()
        .find(|(s, _)| *s == stage)
        .map(|(_, a)| a.as_str());
    match alias {
        Some(a) if l.mlflow_stage == Some(stage) => {
            format!("MLflow stage {mlflow} and alias `{a}`")
        }
        Some(a) => format!("alias `{a}` (MLflow stage {mlflow})"),
        None => format!("MLflow stage {mlflow}"),
    }
}

/// Metrics and the dataset, from the training run (and the version's tags).
fn from_run(d: &mut VersionDraft, l: &ListedVersion) {
    let run = match &l.run {
        Some(Ok(run)) => Some(run),
        Some(Err(e)) => {
            d.notes.push((
                "metrics",
                format!("the training run could not be read: {e}"),
            ));
            None
        }
        None => {
            d.notes.push((
                "metrics",
                "MLflow records no training run for this version".into(),
            ));
            None
        }
    };
    let run_id = d.metadata.training_run_id.clone().unwrap_or_default();
    if let Some(run) = run {
        let (finite, skipped): (Vec<_>, Vec<_>) =
            run.metrics.iter().partition(|(_, v)| v.is_finite());
        d.metadata.metrics = finite
            .into_iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect::<SortedMap<_, _>>();
        if !d.metadata.metrics.is_empty() {
            d.from
                .insert("metrics", format!("run {run_id}'s logged metrics"));
        }
        for (k, v) in skipped {
            d.notes.push((
                "metrics",
                format!("`{k}` is {v} in run {run_id}, not a finite number: left out"),
            ));
        }
    }
    if let Some((value, from)) = dataset(&d.metadata.tags, run, &run_id) {
        d.metadata.dataset_version = Some(value);
        d.from.insert("dataset_version", from);
    }
}

/// The dataset version: the version's `dataset_version` tag (as the
/// guidelines register versions), else the run's, else the dataset the run
/// logged for training (or its only input), as `name@digest`.
fn dataset(
    tags: &SortedMap<String, String>,
    run: Option<&RunDetails>,
    run_id: &str,
) -> Option<(String, String)> {
    if let Some(v) = tags.get("dataset_version") {
        return Some((v.clone(), "version tag `dataset_version`".into()));
    }
    let run = run?;
    if let Some(v) = run.tags.get("dataset_version") {
        return Some((v.clone(), format!("run {run_id}'s tag `dataset_version`")));
    }
    let training: Vec<_> = run
        .datasets
        .iter()
        .filter(|d| d.context.as_deref() == Some("training"))
        .collect();
    let input = match (training.as_slice(), run.datasets.as_slice()) {
        ([one], _) => *one,
        ([], [one]) => one,
        _ => return None,
    };
    let value = if input.digest.is_empty() {
        input.name.clone()
    } else {
        format!("{}@{}", input.name, input.digest)
    };
    Some((
        value,
        format!(
            "run {run_id}'s {} dataset input `{}` (name@digest)",
            input.context.as_deref().unwrap_or("only"),
            input.name
        ),
    ))
}

/// The signature and the pinned dependencies, from the logged model.
fn from_logged_model(d: &mut VersionDraft, l: &ListedVersion) {
    match &l.signature {
        Ok(Some(sig)) => match declarable(sig) {
            Ok(sig) => {
                d.metadata.signature = Some(sig);
                d.from
                    .insert("signature", "the MLmodel logged with the model".into());
            }
            Err((sig, why)) => {
                d.notes.push(("signature", why));
                if !sig.inputs.is_empty() {
                    d.metadata.signature = Some(sig);
                    d.from.insert(
                        "signature",
                        "the MLmodel logged with the model, named columns only".into(),
                    );
                }
            }
        },
        Ok(None) => d.notes.push((
            "signature",
            "the logged model has no signature (log it with `signature=`)".into(),
        )),
        Err(e) => d
            .notes
            .push(("signature", format!("no signature read: {e}"))),
    }
    match &l.requirements {
        Ok(Some(text)) => {
            let (pins, unpinned) = pins(text);
            d.metadata.dependencies = pins;
            if !d.metadata.dependencies.is_empty() {
                d.from
                    .insert("dependencies", "the logged model's requirements.txt".into());
            }
            for line in unpinned {
                d.notes.push((
                    "dependencies",
                    format!("requirements.txt has `{line}`, not an exact pin: left out"),
                ));
            }
        }
        Ok(None) => d.notes.push((
            "dependencies",
            "the logged model has no requirements.txt".into(),
        )),
        Err(e) => d
            .notes
            .push(("dependencies", format!("no requirements.txt read: {e}"))),
    }
}

/// A logged signature as a manifest can declare it: a column MLflow logged
/// without a name (a bare array output) cannot be, and is left out with
/// the reason (`Err` with what remains).
fn declarable(sig: &Signature) -> Result<Signature, (Signature, String)> {
    let unnamed: Vec<String> = [("input", &sig.inputs), ("output", &sig.outputs)]
        .iter()
        .flat_map(|(list, cols)| {
            cols.iter()
                .filter(|c| c.name.trim().is_empty())
                .map(move |c| format!("an unnamed {list} of type {}", c.column_type))
        })
        .collect();
    if unnamed.is_empty() {
        return Ok(sig.clone());
    }
    let named = Signature {
        inputs: sig
            .inputs
            .iter()
            .filter(|c| !c.name.trim().is_empty())
            .cloned()
            .collect(),
        outputs: sig
            .outputs
            .iter()
            .filter(|c| !c.name.trim().is_empty())
            .cloned()
            .collect(),
    };
    Err((
        named,
        format!(
            "the logged signature has {}, which a modelops signature cannot declare (every column is named), so the `signature.logged` gate fails until the model is logged with named columns",
            unnamed.join(" and ")
        ),
    ))
}

/// The exact pins of a `requirements.txt` (`name==version`, extras and
/// environment markers dropped), and the lines that are not exact pins.
fn pins(text: &str) -> (SortedMap<String, String>, Vec<String>) {
    let mut pins = SortedMap::default();
    let mut unpinned = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let spec = line.split(';').next().unwrap_or("").trim();
        match spec.split_once("==") {
            Some((name, version))
                if !name.trim().is_empty() && !version.starts_with('=') && is_pinned(version) =>
            {
                let name = name.split('[').next().unwrap_or(name).trim();
                pins.insert(name.to_string(), version.trim().to_string());
            }
            _ => unpinned.push(line.to_string()),
        }
    }
    (pins, unpinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_give_exact_pins_only() {
        let (pins, unpinned) = pins(
            "mlflow==3.17.2\n# a comment\nscikit-learn == 1.5.2\npandas[performance]==2.2.3 ; python_version >= \"3.9\"\nnumpy>=1.26\n-r other.txt\ngit+https://x/y.git\n\ncloudpickle===3.1.1\n",
        );
        assert_eq!(
            pins.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            ["mlflow=3.17.2", "pandas=2.2.3", "scikit-learn=1.5.2"]
        );
        assert_eq!(
            unpinned,
            [
                "numpy>=1.26",
                "-r other.txt",
                "git+https://x/y.git",
                "cloudpickle===3.1.1"
            ]
        );
    }
}
