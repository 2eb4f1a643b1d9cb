//! Where a tracking server serves a model version's `MLmodel` file and the
//! files beside it (`requirements.txt`), as request values, and the fetch
//! that follows a version's `source` to them.
//!
//! Observed on MLflow 3.17.2: the file of a run's artifact comes from
//! `GET /get-artifact?path=…&run_uuid=…`, the file of an MLflow 3 logged
//! model (`models:/m-…`) from `GET /ajax-api/2.0/mlflow/logged-models/<id>/
//! artifacts/files?artifact_file_path=…`; neither route exists under
//! `/api/2.0/mlflow/`. Both answer the file as it is (`text/plain`) and a
//! missing file as JSON `RESOURCE_DOES_NOT_EXIST` (404).

use serde_json::json;

use super::signature_of_mlmodel;
use crate::backend::mlflow::cache::ReadCache;
use crate::backend::mlflow::client::{Client, ClientError};
use crate::backend::mlflow::request::{self, Method, Request};
use crate::state::LoggedSignature;

/// Where a version's `source` says its model lies, as far as the tracking
/// server can serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelLocation<'a> {
    /// `runs:/<run_id>/<path>`: in the run's artifacts at `path` (empty for
    /// the root), or in the MLflow 3 logged model the run logged under the
    /// name `path` starts with.
    Run {
        /// The run.
        run_id: &'a str,
        /// Artifact path within the run, without surrounding slashes.
        path: &'a str,
    },
    /// `models:/m-<id>`: an MLflow 3 logged model, whose root holds `MLmodel`.
    LoggedModel {
        /// The logged model's id, `m-…`.
        model_id: &'a str,
    },
    /// Anything else: `s3://`, `gs://`, a path, a registered model's
    /// `models:/<name>/<version>`. Served only when under the artifacts of
    /// the version's run.
    Elsewhere,
}

/// Reads a version's `source` as MLflow's clients write it.
pub fn location_of(source: &str) -> ModelLocation<'_> {
    if let Some(rest) = source.strip_prefix("runs:/") {
        let rest = rest.trim_matches('/');
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !run_id.is_empty() {
            return ModelLocation::Run {
                run_id,
                path: path.trim_matches('/'),
            };
        }
    }
    if let Some(model_id) = source.strip_prefix("models:/") {
        // `models:/<name>/<version>` and `models:/<name>@<alias>` name
        // registered versions; a logged model's id is one segment, `m-…`.
        let model_id = model_id.trim_end_matches('/');
        if model_id.starts_with("m-") && !model_id.contains(['/', '@']) {
            return ModelLocation::LoggedModel { model_id };
        }
    }
    ModelLocation::Elsewhere
}

/// A GET of one artifact file, which MLflow serves as it is rather than as
/// JSON, outside `/api/2.0/mlflow/` (so not a [`Request`]). Idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    /// The call, for messages.
    pub path: &'static str,
    /// The URL relative to the tracking server's base URL, query encoded.
    pub url: String,
}

/// `get-artifact`: the file at `path` in a run's artifacts.
pub fn run_file(run_id: &str, path: &str) -> FileRequest {
    FileRequest {
        path: "get-artifact",
        url: format!(
            "get-artifact?path={}&run_uuid={}",
            request::encode(path),
            request::encode(run_id)
        ),
    }
}

/// `logged-models/<id>/artifacts/files`: the file at `path` in an MLflow 3
/// logged model's artifacts.
pub fn logged_model_file(model_id: &str, path: &str) -> FileRequest {
    FileRequest {
        path: "logged-models/artifacts/files",
        url: format!(
            "ajax-api/2.0/mlflow/logged-models/{}/artifacts/files?artifact_file_path={}",
            request::encode(model_id),
            request::encode(path)
        ),
    }
}

/// `logged-models/search`: the logged model named `name` that `run_id`
/// logged in `experiment_id` (the first, as MLflow's client takes it).
/// `None` when `name` holds both kinds of quote, which MLflow's filter
/// language cannot write.
pub fn search_logged_model(experiment_id: &str, run_id: &str, name: &str) -> Option<Request> {
    let quote = |s: &str| {
        if !s.contains('\'') {
            Some(format!("'{s}'"))
        } else if !s.contains('"') {
            Some(format!("\"{s}\""))
        } else {
            None
        }
    };
    let filter = format!(
        "name = {} AND source_run_id = {}",
        quote(name)?,
        quote(run_id)?
    );
    Some(Request {
        method: Method::Post,
        path: "logged-models/search",
        query: Vec::new(),
        body: Some(json!({"experiment_ids": [experiment_id], "filter": filter, "max_results": 1})),
        idempotent: true,
    })
}

/// The signature logged with the model at a version's `source` (registered
/// from `run_id`, when it was), read from its `MLmodel` on the tracking
/// server, found as [`find_logged_model`] finds it.
///
/// [`LoggedSignature::NotLogged`] when MLflow has no such run, logged model
/// or file (`RESOURCE_DOES_NOT_EXIST`), the file has no signature, or the
/// source is not one MLflow serves. An `MLmodel` that cannot be read is an
/// [`ClientError::Unexpected`] saying what is wrong with it; any other
/// failure is MLflow's error. Runs come through `cache`, and the answer is
/// kept there: asked again in the same command, nothing is sent.
pub fn logged_signature(
    client: &Client,
    cache: &ReadCache,
    source: &str,
    run_id: Option<&str>,
) -> Result<LoggedSignature, ClientError> {
    if let Some(known) = cache.signature(source, run_id) {
        return Ok(known);
    }
    let found = match find_logged_model(client, cache, source, run_id)? {
        Ok(found) => found,
        Err(why) => {
            let answer = LoggedSignature::NotLogged(why);
            cache.keep_signature(source, run_id, &answer);
            return Ok(answer);
        }
    };
    let answer = match signature_of_mlmodel(&found.mlmodel) {
        Ok(Some(signature)) => LoggedSignature::Found(signature),
        Ok(None) => LoggedSignature::NotLogged(format!("the MLmodel at {source} has no signature")),
        Err(e) => {
            return Err(ClientError::Unexpected {
                path: found.mlmodel_path(),
                status: 200,
                snippet: format!("the MLmodel at {source}: {e}"),
            });
        }
    };
    cache.keep_signature(source, run_id, &answer);
    Ok(answer)
}

/// Where a logged model's files are served: a directory of a run's
/// artifacts, or of an MLflow 3 logged model's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModelDir {
    /// `path` (empty for the root) in the run's artifacts.
    Run { run_id: String, path: String },
    /// `path` (empty for the root) in the logged model's artifacts.
    LoggedModel { model_id: String, path: String },
}

impl ModelDir {
    fn file(&self, name: &str) -> FileRequest {
        match self {
            ModelDir::Run { run_id, path } => run_file(run_id, &in_dir(path, name)),
            ModelDir::LoggedModel { model_id, path } => {
                logged_model_file(model_id, &in_dir(path, name))
            }
        }
    }
}

/// The model logged at a version's `source`: its `MLmodel` text, and where
/// the files beside it (`requirements.txt`, `conda.yaml`) are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedModel {
    /// The `MLmodel` file as MLflow serves it.
    pub mlmodel: String,
    dir: ModelDir,
}

impl LoggedModel {
    /// The file `name` beside `MLmodel`; `None` when MLflow has none.
    pub fn file(&self, client: &Client, name: &str) -> Result<Option<String>, ClientError> {
        let request = self.dir.file(name);
        match client.get_text(&request.url, request.path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn mlmodel_path(&self) -> String {
        self.dir.file("MLmodel").path.to_string()
    }
}

/// Finds the model logged at a version's `source` by its `MLmodel`:
///
/// - `runs:/<run>/<path>`: `<path>/MLmodel` in the run's artifacts (MLflow
///   2's layout); failing that, in the logged model named after `<path>`'s
///   first segment that the run logged (MLflow 3's layout, which MLflow's
///   own `runs:/` resolution also falls back to).
/// - `models:/m-<id>`: `MLmodel` in that logged model, where MLflow 3's
///   clients register versions from.
/// - any other source under the artifact root of `run_id` (what
///   `register_model(f"{run.info.artifact_uri}/model")` records): through
///   the run's artifacts.
///
/// `Ok(Err(why))` when MLflow has no such run, logged model or file, or
/// the source is not one MLflow serves; `Err` is MLflow's error. Runs are
/// read through `cache` (once per command).
pub fn find_logged_model(
    client: &Client,
    cache: &ReadCache,
    source: &str,
    run_id: Option<&str>,
) -> Result<Result<LoggedModel, String>, ClientError> {
    let found = match (location_of(source), run_id) {
        (ModelLocation::LoggedModel { model_id }, _) => fetch(
            client,
            ModelDir::LoggedModel {
                model_id: model_id.to_string(),
                path: String::new(),
            },
        )?
        .map(Ok),
        (ModelLocation::Run { run_id, path }, _) => in_run(client, cache, source, run_id, path)?,
        (ModelLocation::Elsewhere, Some(run_id)) => under_run(client, cache, source, run_id)?,
        (ModelLocation::Elsewhere, None) => Some(Err(unserved(source))),
    };
    Ok(found.unwrap_or_else(|| Err(format!("no MLmodel at {source}"))))
}

fn unserved(source: &str) -> String {
    format!("the registry does not serve artifacts of {source}")
}

/// `runs:/<run_id>/<path>`: the run (read once per command, and the gates
/// read it anyway: a run MLflow does not have costs no artifact read), then
/// the run's artifacts, then the logged model the run logged under
/// `path`'s first segment. Checking the run's artifacts first costs one
/// call for MLflow 2's layout; MLflow's client prefers the logged model
/// when both hold the file, which MLflow 3's clients never write.
fn in_run(
    client: &Client,
    cache: &ReadCache,
    source: &str,
    run_id: &str,
    path: &str,
) -> Result<Option<Result<LoggedModel, String>>, ClientError> {
    let Some(run) = cache.run(client, run_id)? else {
        return Ok(Some(Err(format!(
            "no MLmodel at {source}: run {run_id} does not exist"
        ))));
    };
    let dir = ModelDir::Run {
        run_id: run_id.to_string(),
        path: path.to_string(),
    };
    if let Some(found) = fetch(client, dir)? {
        return Ok(Some(Ok(found)));
    }
    let (name, rest) = path.split_once('/').unwrap_or((path, ""));
    let experiment = run["info"]["experiment_id"].as_str().unwrap_or_default();
    let search = match search_logged_model(experiment, run_id, name) {
        Some(search) if !name.is_empty() => search,
        _ => return Ok(None),
    };
    let found = client.send(&search)?;
    match found["models"][0]["info"]["model_id"].as_str() {
        Some(model_id) => Ok(fetch(
            client,
            ModelDir::LoggedModel {
                model_id: model_id.to_string(),
                path: rest.to_string(),
            },
        )?
        .map(Ok)),
        None => Ok(None),
    }
}

/// Any other source: served through the run's artifacts when it lies
/// under the artifact root of the run it was registered from.
fn under_run(
    client: &Client,
    cache: &ReadCache,
    source: &str,
    run_id: &str,
) -> Result<Option<Result<LoggedModel, String>>, ClientError> {
    let Some(run) = cache.run(client, run_id)? else {
        return Ok(Some(Err(unserved(source))));
    };
    let root = run["info"]["artifact_uri"].as_str().unwrap_or_default();
    let root = root.trim_end_matches('/');
    match source.strip_prefix(root) {
        Some(path) if !root.is_empty() && (path.is_empty() || path.starts_with('/')) => {
            let dir = ModelDir::Run {
                run_id: run_id.to_string(),
                path: path.trim_matches('/').to_string(),
            };
            Ok(fetch(client, dir)?.map(Ok))
        }
        _ => Ok(Some(Err(unserved(source)))),
    }
}

/// `name` in the artifact directory `path` (empty for the root).
fn in_dir(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// The logged model whose `MLmodel` lies in `dir`; `None` when MLflow has
/// no such file (or run, or logged model).
fn fetch(client: &Client, dir: ModelDir) -> Result<Option<LoggedModel>, ClientError> {
    let file = dir.file("MLmodel");
    match client.get_text(&file.url, file.path) {
        Ok(mlmodel) => Ok(Some(LoggedModel { mlmodel, dir })),
        Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn sources_locate_their_model() {
        use ModelLocation::*;
        let cases = [
            (
                "runs:/abc/model",
                Run {
                    run_id: "abc",
                    path: "model",
                },
            ),
            (
                "runs:/abc/nested/model/",
                Run {
                    run_id: "abc",
                    path: "nested/model",
                },
            ),
            (
                "runs:/abc",
                Run {
                    run_id: "abc",
                    path: "",
                },
            ),
            (
                "runs:///abc/model",
                Run {
                    run_id: "abc",
                    path: "model",
                },
            ),
            ("runs:/", Elsewhere),
            (
                "models:/m-391d492e66164697a3f39ea6ce6e2918",
                LoggedModel {
                    model_id: "m-391d492e66164697a3f39ea6ce6e2918",
                },
            ),
            ("models:/m-churn/1", Elsewhere),
            ("models:/m-churn@production", Elsewhere),
            ("models:/churn/1", Elsewhere),
            ("s3://bucket/churn/1", Elsewhere),
            ("gs://bucket/churn/1", Elsewhere),
            ("/srv/mlflow/artifacts/1/abc/artifacts/model", Elsewhere),
        ];
        for (source, want) in cases {
            assert_eq!(location_of(source), want, "{source}");
        }
    }

    #[test]
    fn artifact_calls_are_values() {
        let cases = [
            (
                run_file("4ce42fcc", "model/MLmodel"),
                "get-artifact",
                "get-artifact?path=model%2FMLmodel&run_uuid=4ce42fcc",
            ),
            (
                run_file("r", "my model/MLmodel"),
                "get-artifact",
                "get-artifact?path=my%20model%2FMLmodel&run_uuid=r",
            ),
            (
                logged_model_file("m-391d492e", "MLmodel"),
                "logged-models/artifacts/files",
                "ajax-api/2.0/mlflow/logged-models/m-391d492e/artifacts/files?artifact_file_path=MLmodel",
            ),
        ];
        for (file, path, url) in cases {
            assert_eq!(file.path, path, "{url}");
            assert_eq!(file.url, url);
        }
    }

    #[test]
    fn logged_models_are_searched_by_name_and_run() {
        let cases = [
            ("model", Some("name = 'model' AND source_run_id = 'r1'")),
            ("it's", Some("name = \"it's\" AND source_run_id = 'r1'")),
            ("both'\"", None),
        ];
        for (name, want) in cases {
            let got = search_logged_model("7", "r1", name);
            assert_eq!(
                got.as_ref()
                    .and_then(|r| r.body.as_ref())
                    .map(|b| b["filter"].clone()),
                want.map(Value::from),
                "{name}"
            );
            if let Some(r) = got {
                assert_eq!(r.method, Method::Post);
                assert_eq!(r.relative_url(), "api/2.0/mlflow/logged-models/search");
                assert_eq!(r.body.unwrap()["experiment_ids"], json!(["7"]));
                assert!(r.idempotent);
            }
        }
    }
}
