//! Schema violations in words: each error the validator finds becomes a
//! diagnostic at the pointer of the value (or the unknown key) at fault,
//! with the known fields as hints; a tagged union's value (a backend's
//! `type` and its fields) is judged by the branch its `type` names.

use serde_json::Value;

use super::diagnostic::{Diagnostic, escape_segment};
use super::schema::{self, Kind};
use super::yaml;

/// Every schema violation of one document, each at the pointer of the value
/// (or the unknown key) at fault.
pub(super) fn schema_errors(path: &str, kind: Kind, value: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for error in schema::validator(kind).iter_errors(value) {
        push_schema_error(path, kind, value, &error, &mut out);
    }
    out
}

/// One violation as diagnostics. A value that fits no branch of a tagged
/// union (a serving target, registry or metrics provider: `oneOf` branches
/// told apart by `type`) is reported by the branch its `type` names, as if
/// that branch were the only schema; or as a missing or unknown `type`.
fn push_schema_error(
    path: &str,
    kind: Kind,
    value: &Value,
    error: &jsonschema::ValidationError<'_>,
    out: &mut Vec<Diagnostic>,
) {
    use jsonschema::error::ValidationErrorKind as K;
    let pointer = error.instance_path().as_str().to_string();
    match error.kind() {
        K::AdditionalProperties { unexpected } => {
            let known = known_fields(kind, value, &pointer);
            for key in unexpected {
                let hint = suggestion(key, &known)
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!("; expected one of: {}", known.join(", "))
                        }
                    });
                out.push(Diagnostic::key(
                    path,
                    format!("{pointer}/{}", escape_segment(key)),
                    "schema",
                    format!("unknown field `{key}`{hint}"),
                ));
            }
        }
        K::OneOfNotValid { context } => match tagged_branch(&pointer, error.instance(), context) {
            Some(Ok(errors)) => {
                for e in errors {
                    push_schema_error(path, kind, value, e, out);
                }
            }
            Some(Err((at, message))) => out.push(Diagnostic::pointer(path, at, "schema", message)),
            None => out.push(Diagnostic::pointer(
                path,
                pointer.clone(),
                "schema",
                schema_message(&pointer, error),
            )),
        },
        _ => out.push(Diagnostic::pointer(
            path,
            pointer.clone(),
            "schema",
            schema_message(&pointer, error),
        )),
    }
}

/// The errors of the one `oneOf` branch whose `type` tag fits `instance`
/// (each branch's errors are in `context`), or where and why `type` is
/// missing or unknown; `None` when the branches are not told apart by `type`.
fn tagged_branch<'a>(
    pointer: &str,
    instance: &Value,
    context: &'a [Vec<jsonschema::ValidationError<'static>>],
) -> Option<Result<&'a [jsonschema::ValidationError<'static>], (String, String)>> {
    use jsonschema::error::ValidationErrorKind as K;
    let tag_at = format!("{pointer}/type");
    let names: Vec<String> = context
        .iter()
        .flatten()
        .filter(|e| e.instance_path().as_str() == tag_at)
        .filter_map(|e| match e.kind() {
            K::Constant { expected_value } => expected_value.as_str().map(str::to_string),
            _ => None,
        })
        .collect();
    let misses_tag = |e: &jsonschema::ValidationError<'_>| match e.kind() {
        K::Constant { .. } => e.instance_path().as_str() == tag_at,
        K::Required { property } => {
            e.instance_path().as_str() == pointer && property.as_str() == Some("type")
        }
        _ => false,
    };
    if names.is_empty() && !context.iter().flatten().any(misses_tag) {
        return None;
    }
    let fitting: Vec<&Vec<_>> = context
        .iter()
        .filter(|errors| !errors.iter().any(misses_tag))
        .collect();
    if let [one] = fitting.as_slice() {
        return Some(Ok(one.as_slice()));
    }
    Some(Err(match instance.get("type") {
        None => (
            pointer.to_string(),
            "missing required field `type`".to_string(),
        ),
        Some(found) => (
            tag_at,
            format!(
                "`type` must be one of {}, found {}",
                names.join(", "),
                short(found)
            ),
        ),
    }))
}

fn schema_message(pointer: &str, error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    let field = pointer.rsplit('/').next().unwrap_or("");
    let place = if field.is_empty() || field.chars().all(|c| c.is_ascii_digit()) {
        String::new()
    } else {
        format!("`{field}` ")
    };
    let instance = error.instance();
    match error.kind() {
        K::Required { property } => {
            format!(
                "missing required field `{}`",
                property.as_str().unwrap_or_default()
            )
        }
        K::Type { kind } => {
            let wanted = match kind {
                TypeKind::Single(t) => format!("{t:?}").to_lowercase(),
                TypeKind::Multiple(ts) => ts
                    .into_iter()
                    .map(|t| format!("{t:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            if let Value::String(s) = instance.as_ref()
                && matches!(
                    s.as_str(),
                    ".nan"
                        | ".NaN"
                        | ".NAN"
                        | ".inf"
                        | ".Inf"
                        | ".INF"
                        | "-.inf"
                        | "-.Inf"
                        | "-.INF"
                        | "+.inf"
                )
            {
                return format!("{place}must be a finite number, found {s}");
            }
            let wanted = wanted
                .replace("object", "mapping")
                .replace("array", "sequence");
            if wanted == "string" && instance.is_number() {
                return format!(
                    "{place}must be text, found the number {instance}; quote it (\"{instance}\") so YAML keeps it as written"
                );
            }
            format!(
                "{place}must be {}, found {}",
                article(&wanted),
                yaml::json_type(instance)
            )
        }
        K::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| o.as_str().map_or(o.to_string(), str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{place}must be one of {}, found {}",
                options.join(", "),
                short(instance)
            )
        }
        K::Constant { expected_value } => {
            format!(
                "{place}must be {}, found {}",
                short(expected_value),
                short(instance)
            )
        }
        K::AnyOf { .. } | K::OneOfNotValid { .. }
            if field == "version" || field == "model_version" =>
        {
            format!(
                "{place}must be an integer of 1 or more or a semantic version such as 1.4.0, found {}",
                short(instance)
            )
        }
        K::AnyOf { .. } | K::OneOfNotValid { .. } => {
            format!("{place}has the wrong form: {}", short(instance))
        }
        _ => {
            let text = error.to_string();
            format!("{place}{text}")
        }
    }
}

fn article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

/// A value shown in a message, shortened.
fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// The field names the schema allows for the object at `pointer` in `value`
/// (for a tagged union, those of the branch its `type` names).
fn known_fields(kind: Kind, value: &Value, pointer: &str) -> Vec<String> {
    let root = schema::cached(kind);
    let resolve = |mut s: &Value| -> Value {
        for _ in 0..8 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => match r
                    .strip_prefix("#/$defs/")
                    .and_then(|n| root["$defs"].get(n))
                {
                    Some(next) => s = next,
                    None => break,
                },
                None => break,
            }
        }
        s.clone()
    };
    // The branch of a tagged union that `instance` is: the one whose `type`
    // const it holds, or whose `type` may be left out when it has none.
    let branch = |node: &Value, instance: Option<&Value>| -> Option<Value> {
        let branches = node.get("oneOf").and_then(Value::as_array)?;
        let tag = instance.and_then(|i| i.get("type"));
        branches.iter().map(&resolve).find(|b| match tag {
            Some(t) => b.pointer("/properties/type/const") == Some(t),
            None => !b
                .get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|f| f == "type")),
        })
    };
    let mut node = resolve(root);
    let mut instance = Some(value);
    for segment in pointer.split('/').skip(1) {
        if let Some(b) = branch(&node, instance) {
            node = b;
        }
        let key = segment.replace("~1", "/").replace("~0", "~");
        instance = instance.and_then(|i| match i {
            Value::Array(items) => key.parse::<usize>().ok().and_then(|n| items.get(n)),
            other => other.get(&key),
        });
        let next = if let Some(p) = node.get("properties").and_then(|p| p.get(segment)) {
            p.clone()
        } else if let Some(items) = node.get("items") {
            items.clone()
        } else if let Some(ap) = node.get("additionalProperties").filter(|a| a.is_object()) {
            ap.clone()
        } else if let Some(any) = node.get("anyOf").and_then(Value::as_array) {
            match any
                .iter()
                .map(&resolve)
                .find(|s| s.get("properties").is_some())
            {
                Some(s) => s
                    .get("properties")
                    .and_then(|p| p.get(segment))
                    .cloned()
                    .unwrap_or(Value::Null),
                None => Value::Null,
            }
        } else {
            Value::Null
        };
        node = resolve(&next);
        if let Some(any) = node.get("anyOf").and_then(Value::as_array)
            && let Some(obj) = any
                .iter()
                .map(&resolve)
                .find(|s| s.get("properties").is_some())
        {
            node = obj;
        }
    }
    if let Some(b) = branch(&node, instance) {
        node = b;
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The known field closest to a misspelt one, when it is close enough.
fn suggestion<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    super::suggest::closest(key, known.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known: Vec<String> = ["stage", "source", "version", "metrics"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(suggestion("stge", &known), Some("stage"));
        assert_eq!(suggestion("metric", &known), Some("metrics"));
        assert_eq!(suggestion("colour", &known), None);
    }

    /// A backend's value is judged by the branch its `type` names.
    #[test]
    fn tagged_values_are_judged_by_their_type() {
        let config = |spec: Value| serde_json::json!({"apiVersion": "modelops/v1", "kind": "Config", "spec": spec});
        // (why, spec, every (pointer, message) reported)
        type Case = (&'static str, Value, &'static [(&'static str, &'static str)]);
        let cases: [Case; 6] = [
            (
                "a valid target of each type",
                serde_json::json!({"serving": {"targets": {
                    "a": {"type": "local"},
                    "b": {"type": "nginx", "config_dir": "x", "upstreams": {"m": {"2": "h:1"}}}}}}),
                &[],
            ),
            (
                "another type's field",
                serde_json::json!({"serving": {"targets": {"a": {"type": "local", "health_path": "/h"}}}}),
                &[(
                    "/spec/serving/targets/a/health_path",
                    "unknown field `health_path`; expected one of: type",
                )],
            ),
            (
                "a misspelt field of its type",
                serde_json::json!({"metrics": {"p": {"type": "prometheus", "ulr": "http://p"}}}),
                &[(
                    "/spec/metrics/p/ulr",
                    "unknown field `ulr`; did you mean `url`?",
                )],
            ),
            (
                "a wrong value inside the branch",
                serde_json::json!({"metrics": {"f": {"type": "file", "path": 3}}}),
                &[(
                    "/spec/metrics/f/path",
                    "`path` must be a null or string, found a number",
                )],
            ),
            (
                "an unknown type",
                serde_json::json!({"registry": {"type": "vertex"}}),
                &[(
                    "/spec/registry/type",
                    "`type` must be one of local, mlflow, found vertex",
                )],
            ),
            (
                "a registry's type may be left out, a target's may not",
                serde_json::json!({"registry": {"stage_aliases": {"Production": "prod"}},
                                   "serving": {"targets": {"a": {}}}}),
                &[("/spec/serving/targets/a", "missing required field `type`")],
            ),
        ];
        for (why, spec, want) in cases {
            let got: Vec<(String, String)> =
                schema_errors("modelops.yaml", Kind::Config, &config(spec))
                    .into_iter()
                    .map(|d| (d.pointer.unwrap_or_default(), d.message))
                    .collect();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(p, m)| (p.to_string(), m.to_string()))
                .collect();
            assert_eq!(got, want, "{why}");
        }
    }
}
