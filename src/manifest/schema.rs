//! JSON Schemas (draft 2020-12) generated from the manifest types, one per
//! kind, and the compiled validators that check every file against them.

use std::sync::OnceLock;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::config::ConfigManifest;
use super::deployment::DeploymentManifest;
use super::model::ModelManifest;
use super::policy::PolicyManifest;

/// The four kinds of file a repository holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `models/*.yaml`
    Model,
    /// `deployments/*.yaml`
    Deployment,
    /// `policies/*.yaml`
    Policy,
    /// `modelops.yaml`
    Config,
}

impl Kind {
    /// Every kind, in schema-file order.
    pub const ALL: [Kind; 4] = [Kind::Model, Kind::Deployment, Kind::Policy, Kind::Config];

    /// The `kind:` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Model => "Model",
            Kind::Deployment => "Deployment",
            Kind::Policy => "Policy",
            Kind::Config => "Config",
        }
    }

    /// Parses a `kind:` value.
    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The schema's file name in `schemas/`.
    pub fn schema_file(self) -> &'static str {
        match self {
            Kind::Model => "model.schema.json",
            Kind::Deployment => "deployment.schema.json",
            Kind::Policy => "policy.schema.json",
            Kind::Config => "config.schema.json",
        }
    }

    /// Where files of this kind live.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Model => "models/",
            Kind::Deployment => "deployments/",
            Kind::Policy => "policies/",
            Kind::Config => "modelops.yaml",
        }
    }
}

/// The JSON Schema of one kind.
pub fn schema_for(kind: Kind) -> Value {
    fn generate<T: JsonSchema>() -> Value {
        let schema = SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<T>();
        schema.to_value()
    }
    let mut schema = match kind {
        Kind::Model => generate::<ModelManifest>(),
        Kind::Deployment => generate::<DeploymentManifest>(),
        Kind::Policy => generate::<PolicyManifest>(),
        Kind::Config => generate::<ConfigManifest>(),
    };
    consts_to_enums(&mut schema);
    optional_refs_to_refs(&mut schema);
    describe_tags(&mut schema);
    if let Value::Object(map) = &mut schema {
        map.insert(
            "$id".to_string(),
            Value::String(format!(
                "https://modelops.dev/schemas/{}",
                kind.schema_file()
            )),
        );
    }
    schema
}

/// Rewrites `oneOf: [{const: A, description}, ...]` (how schemars writes a
/// documented enum) as `enum: [A, ...]`, keeping the descriptions in the
/// parent's description, so a wrong value is reported with the allowed list.
fn consts_to_enums(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let all_consts = map
                .get("oneOf")
                .and_then(Value::as_array)
                .is_some_and(|alts| {
                    !alts.is_empty() && alts.iter().all(|a| a.get("const").is_some())
                });
            if all_consts {
                let alts = map
                    .remove("oneOf")
                    .and_then(|a| a.as_array().cloned())
                    .unwrap_or_default();
                let mut values = Vec::new();
                let mut lines = Vec::new();
                for a in alts {
                    let c = a["const"].clone();
                    if let Some(d) = a.get("description").and_then(Value::as_str) {
                        lines.push(format!("`{}`: {d}", c.as_str().unwrap_or_default()));
                    }
                    values.push(c);
                }
                if let Some(t) = values
                    .first()
                    .map(|c| if c.is_string() { "string" } else { "number" })
                {
                    map.insert("type".into(), Value::String(t.into()));
                }
                map.insert("enum".into(), Value::Array(values));
                if !lines.is_empty() {
                    let base = map
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let text = if base.is_empty() {
                        lines.join("\n")
                    } else {
                        format!("{base}\n{}", lines.join("\n"))
                    };
                    map.insert("description".into(), Value::String(text));
                }
            }
            for child in map.values_mut() {
                consts_to_enums(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(consts_to_enums),
        _ => {}
    }
}

/// Rewrites `anyOf: [{$ref: X}, {type: null}]` (how schemars writes an
/// optional block) as `$ref: X`. An optional block is absent, never null, and
/// with a single branch the validator reports errors inside the block at
/// their own place instead of "does not match anyOf" at the block's key.
fn optional_refs_to_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let target =
                map.get("anyOf")
                    .and_then(Value::as_array)
                    .and_then(|alts| match alts.as_slice() {
                        [a, b] if b.get("type") == Some(&Value::String("null".into())) => {
                            a.get("$ref").cloned()
                        }
                        [a, b] if a.get("type") == Some(&Value::String("null".into())) => {
                            b.get("$ref").cloned()
                        }
                        _ => None,
                    });
            if let Some(r) = target {
                map.remove("anyOf");
                map.insert("$ref".into(), r);
            }
            for child in map.values_mut() {
                optional_refs_to_refs(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(optional_refs_to_refs),
        _ => {}
    }
}

/// Describes the `type` tag of every branch of a tagged union (how schemars
/// writes a `#[serde(tag = "type")]` enum: `oneOf` objects whose `type` is a
/// `const`), so an editor shows what each type is, and drops an empty
/// `required` (a branch whose tag may be left out).
fn describe_tags(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(branches)) = map.get_mut("oneOf") {
                for branch in branches.iter_mut() {
                    let what = branch
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let optional = branch
                        .get("required")
                        .and_then(Value::as_array)
                        .is_some_and(|r| !r.iter().any(|f| f == "type"));
                    if let Some(Value::Object(tag)) = branch.pointer_mut("/properties/type")
                        && let Some(name) = tag.get("const").and_then(Value::as_str)
                    {
                        let name = name.to_string();
                        let text = if optional {
                            format!("`{name}` (the default when `type` is left out): {what}")
                        } else {
                            format!("`{name}`: {what}")
                        };
                        tag.insert("description".into(), Value::String(text));
                        if optional {
                            tag.insert("default".into(), Value::String(name));
                        }
                    }
                    if let Value::Object(b) = branch
                        && b.get("required")
                            .and_then(Value::as_array)
                            .is_some_and(Vec::is_empty)
                    {
                        b.remove("required");
                    }
                }
            }
            for child in map.values_mut() {
                describe_tags(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(describe_tags),
        _ => {}
    }
}

/// The schema of one kind, generated once per process.
pub fn cached(kind: Kind) -> &'static Value {
    static SCHEMAS: OnceLock<Vec<Value>> = OnceLock::new();
    &SCHEMAS.get_or_init(|| Kind::ALL.iter().map(|k| schema_for(*k)).collect())[kind as usize]
}

/// The committed text of a kind's schema file: pretty JSON and a final newline.
pub fn schema_text(kind: Kind) -> String {
    let mut text =
        serde_json::to_string_pretty(&schema_for(kind)).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// The compiled validator of one kind, built once per process.
pub fn validator(kind: Kind) -> &'static jsonschema::Validator {
    static VALIDATORS: OnceLock<Vec<jsonschema::Validator>> = OnceLock::new();
    let all = VALIDATORS.get_or_init(|| {
        Kind::ALL
            .iter()
            .map(|k| {
                jsonschema::draft202012::new(cached(*k))
                    .expect("generated schemas are valid draft 2020-12")
            })
            .collect()
    });
    &all[kind as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every property of every schema carries a description, and every object
    /// refuses unknown fields.
    #[test]
    fn every_field_is_described_and_closed() {
        fn walk(v: &Value, path: &str, problems: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::Object(props)) = map.get("properties") {
                        if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                            problems.push(format!("{path}: additionalProperties is not false"));
                        }
                        for (name, prop) in props {
                            let described = prop.get("description").is_some()
                                || prop.get("$ref").is_some() && prop.get("description").is_some();
                            if !described {
                                problems.push(format!("{path}/properties/{name}: no description"));
                            }
                        }
                    }
                    for (k, child) in map {
                        walk(child, &format!("{path}/{k}"), problems);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, &format!("{path}/{i}"), problems);
                    }
                }
                _ => {}
            }
        }
        for kind in Kind::ALL {
            let mut problems = Vec::new();
            walk(&schema_for(kind), kind.as_str(), &mut problems);
            assert!(problems.is_empty(), "{problems:#?}");
        }
    }

    /// The loader's fast path skips schema validation of typed Model files, so
    /// the Model schema may constrain nothing but what deserializing checks:
    /// this fails when a range or pattern is added elsewhere.
    #[test]
    fn model_schema_constrains_only_versions() {
        fn walk(v: &Value, path: &str, found: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    for (k, child) in map {
                        let constraint = matches!(
                            k.as_str(),
                            "minimum"
                                | "maximum"
                                | "exclusiveMinimum"
                                | "exclusiveMaximum"
                                | "pattern"
                                | "minLength"
                                | "maxLength"
                                | "minItems"
                                | "maxItems"
                        );
                        // `format` is only an annotation in draft 2020-12.
                        if constraint && !path.starts_with("/$defs/VersionId") {
                            found.push(format!("{path}/{k}"));
                        }
                        walk(child, &format!("{path}/{k}"), found);
                    }
                }
                Value::Array(items) => {
                    for (i, child) in items.iter().enumerate() {
                        walk(child, &format!("{path}/{i}"), found);
                    }
                }
                _ => {}
            }
        }
        let mut found = Vec::new();
        walk(&schema_for(Kind::Model), "", &mut found);
        assert!(
            found.is_empty(),
            "constraints the typed fast path does not check: {found:?}"
        );
    }

    #[test]
    fn schemas_compile() {
        for kind in Kind::ALL {
            let _ = validator(kind);
            assert_eq!(
                schema_for(kind)["$schema"],
                "https://json-schema.org/draft/2020-12/schema"
            );
        }
    }
}
