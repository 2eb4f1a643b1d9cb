//! From the repository's files to typed manifests: YAML, then kind, then JSON
//! Schema, then serde. Each file is checked on its own (in parallel); a file
//! that fails a layer is reported and left out of the next.

use serde_json::Value;

use super::config::ConfigManifest;
use super::deployment::DeploymentManifest;
use super::diagnostic::Diagnostic;
use super::model::ModelManifest;
use super::policy::PolicyManifest;
use super::schema::{self, Kind};
use super::schema_errors::schema_errors;
use super::{fastyaml, yaml};

/// One file as a source hands it over: its repository-relative path and
/// either its bytes or why they could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The bytes, or a message saying why the file cannot be read
    /// (too large, a symlink leaving the repository, an I/O error).
    pub content: Result<Vec<u8>, String>,
}

/// A file that passed every per-file layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Manifest {
    /// `models/`
    Model(Box<ModelManifest>),
    /// `deployments/`
    Deployment(Box<DeploymentManifest>),
    /// `policies/`
    Policy(Box<PolicyManifest>),
    /// `modelops.yaml`
    Config(Box<ConfigManifest>),
}

/// The kind a path's folder says its file holds.
pub fn kind_of_path(path: &str) -> Option<Kind> {
    if path == "modelops.yaml" || path == "modelops.yml" {
        return Some(Kind::Config);
    }
    let yaml = path.ends_with(".yaml") || path.ends_with(".yml");
    [Kind::Model, Kind::Deployment, Kind::Policy]
        .into_iter()
        .find(|k| yaml && path.starts_with(k.folder()))
}

/// Checks one file through the per-file layers.
pub fn load_file(file: &SourceFile) -> Result<(String, Manifest), Vec<Diagnostic>> {
    let path = file.path.as_str();
    let bytes = file
        .content
        .as_ref()
        .map_err(|why| vec![Diagnostic::file(path, "file", why.clone())])?;
    let Some(expected) = kind_of_path(path) else {
        return Err(vec![Diagnostic::file(
            path,
            "file",
            "not a manifest location",
        )]);
    };
    let text = yaml::text(path, bytes).map_err(|d| vec![d])?;
    // Fast path: straight into the type, then the schema's extra constraints
    // (ranges, patterns) on the typed value. Only a file that fails either is
    // parsed again as a plain tree, so every error can be located and listed.
    let fast = match expected {
        Kind::Model => fastyaml::parse(text).map(|m| Manifest::Model(Box::new(m))),
        Kind::Deployment => fastyaml::parse(text).map(|m| Manifest::Deployment(Box::new(m))),
        Kind::Policy => fastyaml::parse(text).map(|m| Manifest::Policy(Box::new(m))),
        Kind::Config => fastyaml::parse(text).map(|m| Manifest::Config(Box::new(m))),
    };
    if let Some(m) = fast
        && (expected == Kind::Model || schema::validator(expected).is_valid(&m.to_value()))
    {
        return Ok((path.to_string(), m));
    }
    let typed = match expected {
        Kind::Model => yaml::typed(text).map(|m| Manifest::Model(Box::new(m))),
        Kind::Deployment => yaml::typed(text).map(|m| Manifest::Deployment(Box::new(m))),
        Kind::Policy => yaml::typed(text).map(|m| Manifest::Policy(Box::new(m))),
        Kind::Config => yaml::typed(text).map(|m| Manifest::Config(Box::new(m))),
    };
    let first_error = match typed {
        // A Model's only constraints beyond its types are on version ids,
        // which their deserializer checks (see `model_schema_constrains_only_versions`).
        Ok(m) if expected == Kind::Model || schema::validator(expected).is_valid(&m.to_value()) => {
            return Ok((path.to_string(), m));
        }
        Ok(_) => None,
        Err(e) => Some(e),
    };
    let value = yaml::parse(path, bytes).map_err(|d| vec![d])?;
    check_kind(path, &value, expected).map_err(|d| vec![d])?;
    let errors = schema_errors(path, expected, &value);
    if !errors.is_empty() {
        return Err(errors);
    }
    // The tree passed the schema but the typed parse did not: report the
    // typed parser's own error, which carries its position.
    Err(vec![match first_error {
        Some(e) => yaml::diagnostic(path, "schema", &e),
        None => Diagnostic::file(path, "schema", "the file does not match its schema"),
    }])
}

impl Manifest {
    /// The manifest as a JSON value, as the schema sees it.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Manifest::Model(m) => serde_json::to_value(m),
            Manifest::Deployment(d) => serde_json::to_value(d),
            Manifest::Policy(p) => serde_json::to_value(p),
            Manifest::Config(c) => serde_json::to_value(c),
        };
        v.unwrap_or(Value::Null)
    }
}

fn check_kind(path: &str, value: &Value, expected: Kind) -> Result<(), Diagnostic> {
    match value.get("kind") {
        None => Err(Diagnostic::pointer(
            path,
            "",
            "schema",
            format!(
                "missing `kind`: files in {} are `kind: {}`",
                expected.folder(),
                expected.as_str()
            ),
        )),
        Some(Value::String(k)) if k == expected.as_str() => Ok(()),
        Some(Value::String(k)) => {
            let hint = match Kind::parse(k) {
                Some(other) => format!("; a {} belongs in {}", other.as_str(), other.folder()),
                None => "; the kinds are Model, Deployment, Policy and Config".to_string(),
            };
            Err(Diagnostic::pointer(
                path,
                "/kind",
                "schema",
                format!(
                    "`kind: {k}` in {}, which holds `kind: {}`{hint}",
                    expected.folder(),
                    expected.as_str()
                ),
            ))
        }
        Some(other) => Err(Diagnostic::pointer(
            path,
            "/kind",
            "schema",
            format!("`kind` must be a string, found {}", yaml::json_type(other)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_to_kinds() {
        let cases = [
            ("modelops.yaml", Some(Kind::Config)),
            ("models/a.yaml", Some(Kind::Model)),
            ("models/sub/a.yml", Some(Kind::Model)),
            ("deployments/a.yaml", Some(Kind::Deployment)),
            ("policies/a.yaml", Some(Kind::Policy)),
            ("models/README.md", None),
            ("other/a.yaml", None),
        ];
        for (path, want) in cases {
            assert_eq!(kind_of_path(path), want, "{path}");
        }
    }
}
