//! MLflow registry REST calls as values: method, path, query and body, built
//! and unit-tested without a network. The client only sends them.

use serde_json::{Value, json};

pub use crate::http::Method;

/// One call to MLflow's REST API under `/api/2.0/mlflow/`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Path under `/api/2.0/mlflow/`, such as `registered-models/create`.
    pub path: &'static str,
    /// Query parameters, in order.
    pub query: Vec<(&'static str, String)>,
    /// JSON body, for POST, PATCH and DELETE.
    pub body: Option<Value>,
    /// Whether sending it twice has the effect of sending it once, so a
    /// failed attempt may be retried.
    pub idempotent: bool,
}

/// MLflow's page-size ceiling for `registered-models/search`.
pub const MODELS_PAGE: u32 = 1_000;
/// Page size used for `model-versions/search` (MLflow allows far more).
pub const VERSIONS_PAGE: u32 = 10_000;

impl Request {
    fn get(path: &'static str, query: Vec<(&'static str, String)>) -> Request {
        Request {
            method: Method::Get,
            path,
            query,
            body: None,
            idempotent: true,
        }
    }

    fn with_body(method: Method, path: &'static str, body: Value, idempotent: bool) -> Request {
        Request {
            method,
            path,
            query: Vec::new(),
            body: Some(body),
            idempotent,
        }
    }

    /// The URL relative to the tracking server's base URL, query encoded.
    pub fn relative_url(&self) -> String {
        let mut url = format!("api/2.0/mlflow/{}", self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode(v));
        }
        url
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn tags(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

fn page(query: &mut Vec<(&'static str, String)>, token: Option<&str>) {
    if let Some(t) = token {
        query.push(("page_token", t.to_string()));
    }
}

/// `registered-models/create`. Not idempotent: a repeat answers
/// RESOURCE_ALREADY_EXISTS, which the caller treats as done.
pub fn create_registered_model(
    name: &str,
    description: Option<&str>,
    tag_list: &[(String, String)],
) -> Request {
    Request::with_body(
        Method::Post,
        "registered-models/create",
        json!({"name": name, "description": description.unwrap_or(""), "tags": tags(tag_list)}),
        false,
    )
}

/// `registered-models/delete`. Used only for modelops' lock model, which has
/// no versions: modelops never deletes a model or a version it manages.
pub fn delete_registered_model(name: &str) -> Request {
    Request::with_body(
        Method::Delete,
        "registered-models/delete",
        json!({"name": name}),
        true,
    )
}

/// `registered-models/get`.
pub fn get_registered_model(name: &str) -> Request {
    Request::get("registered-models/get", vec![("name", name.to_string())])
}

/// `registered-models/search`, one page of up to [`MODELS_PAGE`], by name.
pub fn search_registered_models(token: Option<&str>) -> Request {
    let mut query = vec![
        ("max_results", MODELS_PAGE.to_string()),
        ("order_by", "name ASC".to_string()),
    ];
    page(&mut query, token);
    Request::get("registered-models/search", query)
}

/// `registered-models/update` (description).
pub fn update_registered_model(name: &str, description: &str) -> Request {
    Request::with_body(
        Method::Patch,
        "registered-models/update",
        json!({"name": name, "description": description}),
        true,
    )
}

/// `registered-models/set-tag`.
pub fn set_registered_model_tag(name: &str, key: &str, value: &str) -> Request {
    Request::with_body(
        Method::Post,
        "registered-models/set-tag",
        json!({"name": name, "key": key, "value": value}),
        true,
    )
}

/// `registered-models/delete-tag`.
pub fn delete_registered_model_tag(name: &str, key: &str) -> Request {
    Request::with_body(
        Method::Delete,
        "registered-models/delete-tag",
        json!({"name": name, "key": key}),
        true,
    )
}

/// `model-versions/create`. Never retried: a repeat would register a second version.
pub fn create_model_version(
    name: &str,
    source: &str,
    run_id: Option<&str>,
    description: Option<&str>,
    tag_list: &[(String, String)],
) -> Request {
    let mut body = json!({"name": name, "source": source, "tags": tags(tag_list)});
    if let Some(r) = run_id {
        body["run_id"] = json!(r);
    }
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    // MLflow 3 registers a logged model (`models:/m-…`, what `log_model`
    // returns) only with its id beside the source.
    if let Some(id) = logged_model_id(source) {
        body["model_id"] = json!(id);
    }
    Request::with_body(Method::Post, "model-versions/create", body, false)
}

/// The logged model a `models:/m-<id>` source names (not a registered
/// model's `models:/<name>/<version>`).
fn logged_model_id(source: &str) -> Option<&str> {
    let id = source.strip_prefix("models:/")?;
    (id.starts_with("m-") && !id.contains('/')).then_some(id)
}

/// `model-versions/get`.
pub fn get_model_version(name: &str, version: u64) -> Request {
    Request::get(
        "model-versions/get",
        vec![("name", name.to_string()), ("version", version.to_string())],
    )
}

/// `model-versions/search`, one page, ordered by name then version number so
/// paging is stable. `filter` is MLflow's filter string (empty for all).
pub fn search_model_versions(filter: &str, token: Option<&str>) -> Request {
    let mut query = vec![
        ("max_results", VERSIONS_PAGE.to_string()),
        ("order_by", "name ASC".to_string()),
        ("order_by", "version_number ASC".to_string()),
    ];
    if !filter.is_empty() {
        query.push(("filter", filter.to_string()));
    }
    page(&mut query, token);
    Request::get("model-versions/search", query)
}

/// `model-versions/update` (description).
pub fn update_model_version(name: &str, version: u64, description: &str) -> Request {
    Request::with_body(
        Method::Patch,
        "model-versions/update",
        json!({"name": name, "version": version.to_string(), "description": description}),
        true,
    )
}

/// `model-versions/set-tag`.
pub fn set_model_version_tag(name: &str, version: u64, key: &str, value: &str) -> Request {
    Request::with_body(
        Method::Post,
        "model-versions/set-tag",
        json!({"name": name, "version": version.to_string(), "key": key, "value": value}),
        true,
    )
}

/// `model-versions/delete-tag`.
pub fn delete_model_version_tag(name: &str, version: u64, key: &str) -> Request {
    Request::with_body(
        Method::Delete,
        "model-versions/delete-tag",
        json!({"name": name, "version": version.to_string(), "key": key}),
        true,
    )
}

/// `model-versions/transition-stage` (`None`, `Staging`, `Production`,
/// `Archived`). modelops archives the previous version itself, as its own
/// recorded step, so `archive_existing_versions` is always false.
pub fn transition_stage(name: &str, version: u64, stage: &str) -> Request {
    Request::with_body(
        Method::Post,
        "model-versions/transition-stage",
        json!({"name": name, "version": version.to_string(), "stage": stage, "archive_existing_versions": false}),
        true,
    )
}

/// `registered-models/alias` (POST): point `alias` at `version`.
pub fn set_alias(name: &str, alias: &str, version: u64) -> Request {
    Request::with_body(
        Method::Post,
        "registered-models/alias",
        json!({"name": name, "alias": alias, "version": version.to_string()}),
        true,
    )
}

/// `registered-models/alias` (DELETE).
pub fn delete_alias(name: &str, alias: &str) -> Request {
    Request::with_body(
        Method::Delete,
        "registered-models/alias",
        json!({"name": name, "alias": alias}),
        true,
    )
}

/// `registered-models/alias` (GET).
pub fn get_alias(name: &str, alias: &str) -> Request {
    Request::get(
        "registered-models/alias",
        vec![("name", name.to_string()), ("alias", alias.to_string())],
    )
}

/// `runs/get`, for a run's logged metrics.
pub fn get_run(run_id: &str) -> Request {
    Request::get("runs/get", vec![("run_id", run_id.to_string())])
}

/// `experiments/search`, one page of every experiment (deleted ones too:
/// `runs/get` answers for their runs, so a search by id must see them).
pub fn search_experiments(token: Option<&str>) -> Request {
    let mut query = vec![
        ("max_results", "1000".to_string()),
        ("view_type", "ALL".to_string()),
    ];
    page(&mut query, token);
    Request::get("experiments/search", query)
}

/// `runs/search` for the runs `run_ids` in `experiment_ids`, deleted ones
/// too, in one page (`max_results` is the number of ids). `None` when an
/// id holds a quote, which the filter cannot write.
pub fn search_runs_by_id(experiment_ids: &[String], run_ids: &[&str]) -> Option<Request> {
    if run_ids.iter().any(|r| r.contains(['\'', '"', '\\'])) {
        return None;
    }
    let ids: Vec<String> = run_ids.iter().map(|r| format!("'{r}'")).collect();
    Some(Request::with_body(
        Method::Post,
        "runs/search",
        json!({
            "experiment_ids": experiment_ids,
            "filter": format!("attributes.run_id IN ({})", ids.join(", ")),
            "run_view_type": "ALL",
            "max_results": run_ids.len(),
        }),
        true,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_values() {
        struct Case {
            request: Request,
            method: Method,
            url: &'static str,
            body: Option<Value>,
            idempotent: bool,
        }
        let cases = [
            Case {
                request: get_registered_model("churn-predictor"),
                method: Method::Get,
                url: "api/2.0/mlflow/registered-models/get?name=churn-predictor",
                body: None,
                idempotent: true,
            },
            Case {
                request: search_registered_models(Some("tok/+=")),
                method: Method::Get,
                url: "api/2.0/mlflow/registered-models/search?max_results=1000&order_by=name%20ASC&page_token=tok%2F%2B%3D",
                body: None,
                idempotent: true,
            },
            Case {
                request: search_model_versions("name='a b'", None),
                method: Method::Get,
                url: "api/2.0/mlflow/model-versions/search?max_results=10000&order_by=name%20ASC&order_by=version_number%20ASC&filter=name%3D%27a%20b%27",
                body: None,
                idempotent: true,
            },
            Case {
                request: create_model_version(
                    "m-x",
                    "runs:/r1/model",
                    Some("r1"),
                    None,
                    &[("k".into(), "v".into())],
                ),
                method: Method::Post,
                url: "api/2.0/mlflow/model-versions/create",
                body: Some(
                    json!({"name": "m-x", "source": "runs:/r1/model", "run_id": "r1", "tags": [{"key": "k", "value": "v"}]}),
                ),
                idempotent: false,
            },
            Case {
                // An MLflow 3 logged model: its id goes beside the source.
                request: create_model_version("live", "models:/m-0a1b", None, None, &[]),
                method: Method::Post,
                url: "api/2.0/mlflow/model-versions/create",
                body: Some(
                    json!({"name": "live", "source": "models:/m-0a1b", "tags": [], "model_id": "m-0a1b"}),
                ),
                idempotent: false,
            },
            Case {
                request: transition_stage("m-x", 3, "Production"),
                method: Method::Post,
                url: "api/2.0/mlflow/model-versions/transition-stage",
                body: Some(
                    json!({"name": "m-x", "version": "3", "stage": "Production", "archive_existing_versions": false}),
                ),
                idempotent: true,
            },
            Case {
                request: set_alias("m-x", "production", 3),
                method: Method::Post,
                url: "api/2.0/mlflow/registered-models/alias",
                body: Some(json!({"name": "m-x", "alias": "production", "version": "3"})),
                idempotent: true,
            },
            Case {
                request: delete_alias("m-x", "staging"),
                method: Method::Delete,
                url: "api/2.0/mlflow/registered-models/alias",
                body: Some(json!({"name": "m-x", "alias": "staging"})),
                idempotent: true,
            },
            Case {
                request: delete_model_version_tag("m-x", 3, "modelops.rejected"),
                method: Method::Delete,
                url: "api/2.0/mlflow/model-versions/delete-tag",
                body: Some(json!({"name": "m-x", "version": "3", "key": "modelops.rejected"})),
                idempotent: true,
            },
            Case {
                request: update_registered_model("m-x", "d"),
                method: Method::Patch,
                url: "api/2.0/mlflow/registered-models/update",
                body: Some(json!({"name": "m-x", "description": "d"})),
                idempotent: true,
            },
            Case {
                request: get_run("abc"),
                method: Method::Get,
                url: "api/2.0/mlflow/runs/get?run_id=abc",
                body: None,
                idempotent: true,
            },
        ];
        for c in cases {
            assert_eq!(c.request.method, c.method, "{}", c.url);
            assert_eq!(c.request.relative_url(), c.url);
            assert_eq!(c.request.body, c.body, "{}", c.url);
            assert_eq!(c.request.idempotent, c.idempotent, "{}", c.url);
        }
    }

    #[test]
    fn runs_are_searched_by_id_in_every_experiment() {
        let r = search_runs_by_id(&["0".into(), "7".into()], &["a1", "b2"]).unwrap();
        assert_eq!(r.relative_url(), "api/2.0/mlflow/runs/search");
        assert!(r.idempotent);
        assert_eq!(
            r.body.unwrap(),
            json!({"experiment_ids": ["0", "7"], "filter": "attributes.run_id IN ('a1', 'b2')", "run_view_type": "ALL", "max_results": 2})
        );
        assert!(search_runs_by_id(&["0".into()], &["a'1"]).is_none());
        assert_eq!(
            search_experiments(None).relative_url(),
            "api/2.0/mlflow/experiments/search?max_results=1000&view_type=ALL"
        );
    }

    #[test]
    fn creating_is_never_idempotent() {
        assert!(!create_registered_model("m-x", None, &[]).idempotent);
        assert!(!create_model_version("m-x", "s3://b/k", None, None, &[]).idempotent);
    }
}
