//! What `modelops import` reads from an MLflow registry: every registered
//! model and version as `plan` observes them (the same paged searches), the
//! MLflow fields behind them (stage, aliases, tags, run), and per version
//! the training run and the files logged with the model (`MLmodel`,
//! `requirements.txt`). Plain data: deciding what goes into a manifest is
//! the operation's (`ops::import`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use super::cache::ReadCache;
use super::client::Client;
use super::mlmodel::{find_logged_model, signature_of_mlmodel};
use super::registry::{tags_of, text};
use super::{MlflowRegistry, request};
use crate::backend::registry::{BackendError, Registry};
use crate::manifest::Stage;
use crate::manifest::model::Signature;
use crate::state::{RegisteredModel, RegisteredVersion};

/// How many versions' runs and artifacts are read at once.
const READERS: usize = 8;

/// One registered model as MLflow holds it.
#[derive(Debug, Clone)]
pub struct ListedModel {
    /// The model as `plan` observes it: owner, description, versions with
    /// their stages and metadata.
    pub observed: RegisteredModel,
    /// The registered model's own tags (`owner`, `team`, ...).
    pub tags: BTreeMap<String, String>,
    /// Each version, in the order of `observed.versions`.
    pub versions: Vec<ListedVersion>,
}

/// One version: MLflow's fields and what its run and logged model hold.
#[derive(Debug, Clone)]
pub struct ListedVersion {
    /// MLflow's version number.
    pub number: u64,
    /// MLflow's stage (`None` read as Development).
    pub mlflow_stage: Option<Stage>,
    /// The stage aliases (`production`, `staging`) that name it.
    pub aliases: Vec<(Stage, String)>,
    /// Whether modelops has moved it (it carries `modelops.stage`).
    pub managed: bool,
    /// The training run MLflow records (`run_id`).
    pub run_id: String,
    /// The run, `None` without a run id, `Err` when it cannot be read.
    pub run: Option<Result<RunDetails, String>>,
    /// The signature logged with the model: `Ok(None)` when it has none,
    /// `Err` why it cannot be read.
    pub signature: Result<Option<Signature>, String>,
    /// The logged model's `requirements.txt`: `Ok(None)` when it has none,
    /// `Err` why it cannot be read.
    pub requirements: Result<Option<String>, String>,
}

/// What a training run recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunDetails {
    /// Its metrics (each one's latest value).
    pub metrics: BTreeMap<String, f64>,
    /// Its tags (`mlflow.*` ones included).
    pub tags: BTreeMap<String, String>,
    /// The datasets it logged as inputs.
    pub datasets: Vec<DatasetInput>,
    /// Who ran it (`user_id`).
    pub user: String,
}

/// A dataset a run logged as an input (`mlflow.log_input`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInput {
    /// The dataset's name.
    pub name: String,
    /// Its content digest, as MLflow computed it.
    pub digest: String,
    /// The `mlflow.data.context` tag (`training`, `eval`), when given.
    pub context: Option<String>,
}

impl MlflowRegistry {
    /// Every registered model (or only those named in `only`) as
    /// [`ListedModel`]s, in name order. The registry is read as
    /// [`Registry::observe`] reads it, plus the same two searches again for
    /// the fields `observe` does not keep; then each version's run and
    /// logged files, [`READERS`] versions at once. `only` naming a model
    /// MLflow does not have is an error naming it.
    pub fn list_for_import(&mut self, only: &[String]) -> Result<Vec<ListedModel>, BackendError> {
        let actual = self.observe()?;
        if let Some(missing) = only.iter().find(|n| !actual.models.contains_key(*n)) {
            return Err(BackendError::Conflict(format!(
                "{} has no registered model {missing}",
                self.describe()
            )));
        }
        let wanted = |name: &str| only.is_empty() || only.iter().any(|n| n == name);
        let (models, versions) = std::thread::scope(|scope| {
            let models =
                scope.spawn(|| self.pages(request::search_registered_models, "registered_models"));
            let versions = self.pages(|t| request::search_model_versions("", t), "model_versions");
            (
                models
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                versions,
            )
        });
        let (models, versions) = (models?, versions?);
        let raw_models: BTreeMap<&str, &Value> =
            models.iter().map(|m| (text(m, "name"), m)).collect();
        let raw_versions: BTreeMap<(&str, u64), &Value> = versions
            .iter()
            .filter_map(|v| Some(((text(v, "name"), text(v, "version").parse().ok()?), v)))
            .collect();
        let mut out = Vec::new();
        for (name, observed) in actual.models {
            if !wanted(&name) {
                continue;
            }
            let raw = raw_models.get(name.as_str()).copied();
            let aliases = raw.map(aliases_of).unwrap_or_default();
            let listed = observed
                .versions
                .iter()
                .map(|v| {
                    let number = actual_number(&name, v, &raw_versions).unwrap_or(0);
                    let raw = raw_versions.get(&(name.as_str(), number)).copied();
                    self.listed(number, raw, &aliases)
                })
                .collect();
            out.push(ListedModel {
                tags: raw.map(tags_of).unwrap_or_default(),
                observed,
                versions: listed,
            });
        }
        self.read_runs_and_artifacts(&mut out);
        Ok(out)
    }

    fn listed(
        &self,
        number: u64,
        raw: Option<&Value>,
        aliases: &BTreeMap<String, u64>,
    ) -> ListedVersion {
        let raw_tags = raw.map(tags_of).unwrap_or_default();
        ListedVersion {
            number,
            mlflow_stage: raw.and_then(|r| super::mapping::stage_of(text(r, "current_stage"))),
            aliases: self
                .stage_aliases()
                .iter()
                .filter(|(_, alias)| aliases.get(*alias) == Some(&number))
                .map(|(s, a)| (*s, a.clone()))
                .collect(),
            managed: raw_tags.contains_key("modelops.stage"),
            run_id: raw
                .map(|r| text(r, "run_id").to_string())
                .unwrap_or_default(),
            run: None,
            signature: Ok(None),
            requirements: Ok(None),
        }
    }

    /// Fills in each version's run and logged files, reading several
    /// versions at once; each version's failures stay its own.
    fn read_runs_and_artifacts(&self, models: &mut [ListedModel]) {
        let client = self.client();
        let cache = self.reads();
        let jobs: Vec<(usize, usize)> = models
            .iter()
            .enumerate()
            .flat_map(|(m, model)| (0..model.versions.len()).map(move |v| (m, v)))
            .collect();
        let inputs: Vec<(String, Option<String>)> = jobs
            .iter()
            .map(|&(m, v)| {
                let observed = &models[m].observed.versions[v].metadata;
                let run = observed
                    .training_run_id
                    .clone()
                    .or_else(|| Some(models[m].versions[v].run_id.clone()))
                    .filter(|r| !r.is_empty());
                (observed.source.clone(), run)
            })
            .collect();
        let results: Mutex<Vec<Option<VersionReads>>> = Mutex::new(vec![None; jobs.len()]);
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..READERS.min(jobs.len()) {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((source, run)) = inputs.get(i) else {
                            break;
                        };
                        let reads = read_version(client, cache, source, run.as_deref());
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(reads);
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        for (&(m, v), reads) in jobs.iter().zip(results) {
            let Some(reads) = reads else { continue };
            let listed = &mut models[m].versions[v];
            listed.run = reads.run;
            listed.signature = reads.signature;
            listed.requirements = reads.requirements;
        }
    }
}

/// What one version's reads found.
#[derive(Debug, Clone)]
struct VersionReads {
    run: Option<Result<RunDetails, String>>,
    signature: Result<Option<Signature>, String>,
    requirements: Result<Option<String>, String>,
}

/// The run and the logged model's files of the version at `source`.
fn read_version(
    client: &Client,
    cache: &ReadCache,
    source: &str,
    run_id: Option<&str>,
) -> VersionReads {
    let run = run_id.map(|r| read_run(client, cache, r));
    let (signature, requirements) = match find_logged_model(client, cache, source, run_id) {
        Ok(Ok(logged)) => (
            signature_of_mlmodel(&logged.mlmodel)
                .map_err(|e| format!("the MLmodel at {source}: {e}")),
            logged
                .file(client, "requirements.txt")
                .map_err(|e| e.to_string()),
        ),
        Ok(Err(why)) => (Err(why.clone()), Err(why)),
        Err(e) => (Err(e.to_string()), Err(e.to_string())),
    };
    VersionReads {
        run,
        signature,
        requirements,
    }
}

/// `runs/get` (once per command, through `cache`), read into [`RunDetails`].
fn read_run(client: &Client, cache: &ReadCache, run_id: &str) -> Result<RunDetails, String> {
    match cache.run(client, run_id) {
        Ok(Some(run)) => Ok(run_details(&run)),
        Ok(None) => Err(format!("MLflow has no run {run_id}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A `runs/get` answer's `run` as [`RunDetails`].
pub fn run_details(run: &Value) -> RunDetails {
    let metrics = run["data"]["metrics"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| {
                    Some((
                        m.get("key")?.as_str()?.to_string(),
                        m.get("value")?.as_f64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let datasets = run["inputs"]["dataset_inputs"]
        .as_array()
        .map(|inputs| {
            inputs
                .iter()
                .map(|input| DatasetInput {
                    name: text(&input["dataset"], "name").to_string(),
                    digest: text(&input["dataset"], "digest").to_string(),
                    context: tags_of(input).get("mlflow.data.context").cloned(),
                })
                .filter(|d| !d.name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    RunDetails {
        metrics,
        tags: tags_of(&run["data"]),
        datasets,
        user: text(&run["info"], "user_id").to_string(),
    }
}

/// A registered model's aliases: alias → version number.
fn aliases_of(model: &Value) -> BTreeMap<String, u64> {
    model
        .get("aliases")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        text(x, "alias").to_string(),
                        text(x, "version").parse().ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// MLflow's number of an observed version: its id when it is a number,
/// else the number of the version whose `modelops.version` tag names it.
fn actual_number(
    name: &str,
    v: &RegisteredVersion,
    raw: &BTreeMap<(&str, u64), &Value>,
) -> Option<u64> {
    match &v.version {
        crate::manifest::VersionId::Number(n) => Some(*n),
        semantic => raw
            .iter()
            .find(|((model, _), value)| {
                *model == name
                    && tags_of(value).get("modelops.version").map(String::as_str)
                        == Some(semantic.to_string().as_str())
            })
            .map(|((_, number), _)| *number),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_run_reads_its_metrics_tags_datasets_and_user() {
        let run = json!({
            "info": {"run_id": "r1", "user_id": "ada"},
            "data": {
                "metrics": [{"key": "test_auc", "value": 0.9, "timestamp": 1, "step": 0}],
                "tags": [{"key": "dataset_version", "value": "v3"}, {"key": "mlflow.user", "value": "ada"}]
            },
            "inputs": {"dataset_inputs": [
                {"tags": [{"key": "mlflow.data.context", "value": "training"}],
                 "dataset": {"name": "transactions", "digest": "f35378ef", "source_type": "code"}},
                {"dataset": {"name": "", "digest": "x"}}
            ]}
        });
        let details = run_details(&run);
        assert_eq!(
            details.metrics,
            BTreeMap::from([("test_auc".to_string(), 0.9)])
        );
        assert_eq!(
            details.tags.get("dataset_version").map(String::as_str),
            Some("v3")
        );
        assert_eq!(
            details.datasets,
            [DatasetInput {
                name: "transactions".into(),
                digest: "f35378ef".into(),
                context: Some("training".into()),
            }]
        );
        assert_eq!(details.user, "ada");
        assert_eq!(run_details(&json!({})), RunDetails::default());
    }
}
