//! The rules of a model file: its name and owner, a known policy, and each
//! version's stage, source, metrics, fairness scores, signature and pins.

use std::collections::{BTreeMap, BTreeSet};

use super::{Broken, is_pinned, valid_model_name};
use crate::manifest::common::{Stage, VersionId};
use crate::manifest::desired::{DesiredModel, DesiredVersion};
use crate::manifest::diagnostic::{Diagnostic, escape_segment};
use crate::manifest::model::{ModelManifest, SIGNATURE_TYPES, SignatureColumn};
use crate::manifest::policy::{DEFAULT_POLICY, PolicySpec};
use crate::manifest::schema::Kind;

pub(super) fn check_model(
    path: &str,
    m: ModelManifest,
    policies: &BTreeMap<String, PolicySpec>,
    broken: &Broken,
    diags: &mut Vec<Diagnostic>,
) -> Option<DesiredModel> {
    let before = diags.len();
    let name = &m.metadata.name;
    if !valid_model_name(name) {
        diags.push(Diagnostic::pointer(
            path,
            "/metadata/name",
            "model-name",
            format!("model name `{name}` must follow <domain>-<task>: lowercase words joined by hyphens, such as churn-predictor"),
        ));
    }
    if m.metadata.owner.trim().is_empty() {
        diags.push(Diagnostic::pointer(
            path,
            "/metadata/owner",
            "owner",
            "owner must name a team or a person",
        ));
    }
    let policy = m
        .spec
        .policy
        .clone()
        .unwrap_or_else(|| DEFAULT_POLICY.to_string());
    if !policies.contains_key(&policy) && !broken.may_define(Kind::Policy, &policy) {
        let known: Vec<&str> = policies.keys().map(String::as_str).collect();
        diags.push(Diagnostic::pointer(
            path,
            "/spec/policy",
            "known-policy",
            format!(
                "policy `{policy}` is not defined; known policies: {}",
                known.join(", ")
            ),
        ));
    }
    if m.spec.versions.is_empty() {
        diags.push(Diagnostic::pointer(
            path,
            "/spec/versions",
            "versions",
            "a model needs at least one version",
        ));
    }
    let mut seen: BTreeMap<&VersionId, usize> = BTreeMap::new();
    let mut production: Option<(usize, &VersionId)> = None;
    for (i, v) in m.spec.versions.iter().enumerate() {
        let at = format!("/spec/versions/{i}");
        if let Some(first) = seen.insert(&v.version, i) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/version"),
                "unique-version",
                format!(
                    "version {} is declared twice (entries {} and {})",
                    v.version,
                    first + 1,
                    i + 1
                ),
            ));
        }
        if v.stage == Stage::Production {
            if let Some((_, other)) = production {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/stage"),
                    "single-production",
                    format!("versions {other} and {} are both Production: at most one version of a model serves", v.version),
                ));
            } else {
                production = Some((i, &v.version));
            }
        }
        if v.source.trim().is_empty() {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/source"),
                "source",
                "source must say where the artifact is, such as runs:/<run_id>/model",
            ));
        }
        if let (Some(run), Some(rest)) = (&v.training_run_id, v.source.strip_prefix("runs:/")) {
            let source_run = rest.split('/').next().unwrap_or("");
            if source_run != run {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/source"),
                    "source",
                    format!("source names run `{source_run}` but training_run_id is `{run}`: a runs:/ source must come from the training run"),
                ));
            }
        }
        for (name, value) in &v.metrics {
            if !value.is_finite() {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/metrics/{}", escape_segment(name)),
                    "finite",
                    format!(
                        "metric `{name}` must be a finite number, found {}",
                        yaml_float(*value)
                    ),
                ));
            }
        }
        for (attr, groups) in &v.fairness {
            if groups.is_empty() {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/fairness/{}", escape_segment(attr)),
                    "fairness",
                    format!("protected attribute `{attr}` lists no groups"),
                ));
            }
            for (group, value) in groups {
                if !value.is_finite() {
                    diags.push(Diagnostic::pointer(
                        path,
                        format!(
                            "{at}/fairness/{}/{}",
                            escape_segment(attr),
                            escape_segment(group)
                        ),
                        "finite",
                        format!(
                            "fairness score of `{attr}` group `{group}` must be a finite number, found {}",
                            yaml_float(*value)
                        ),
                    ));
                }
            }
        }
        if let Some(sig) = &v.signature {
            check_columns(path, &format!("{at}/signature/inputs"), &sig.inputs, diags);
            check_columns(
                path,
                &format!("{at}/signature/outputs"),
                &sig.outputs,
                diags,
            );
        }
        for (lib, pin) in &v.dependencies {
            if !is_pinned(pin) {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/dependencies/{}", escape_segment(lib)),
                    "pinned-dependency",
                    format!("dependency `{lib}: {pin}` is not pinned: give the exact version, such as \"1.5.2\""),
                ));
            }
        }
    }
    if diags.len() > before {
        return None;
    }
    let mut versions: Vec<DesiredVersion> = m
        .spec
        .versions
        .into_iter()
        .enumerate()
        .map(|(index, spec)| DesiredVersion { spec, index })
        .collect();
    versions.sort_by(|a, b| a.spec.version.cmp(&b.spec.version));
    Some(DesiredModel {
        name: m.metadata.name,
        owner: m.metadata.owner,
        description: m.metadata.description,
        policy,
        versions,
        file: path.to_string(),
    })
}

/// A float as YAML writes it (`.nan`, `.inf`, `-.inf`).
fn yaml_float(v: f64) -> String {
    if v.is_nan() {
        ".nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        v.to_string()
    }
}

fn check_columns(path: &str, at: &str, columns: &[SignatureColumn], diags: &mut Vec<Diagnostic>) {
    let mut names = BTreeSet::new();
    for (i, c) in columns.iter().enumerate() {
        if c.name.trim().is_empty() {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/{i}/name"),
                "signature",
                "column name is empty",
            ));
        } else if !names.insert(c.name.as_str()) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/{i}/name"),
                "signature",
                format!("column `{}` appears twice", c.name),
            ));
        }
        if !SIGNATURE_TYPES.contains(&c.column_type.as_str()) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/{i}/type"),
                "signature",
                format!(
                    "column type `{}` is not an MLflow type; use one of {}",
                    c.column_type,
                    SIGNATURE_TYPES.join(", ")
                ),
            ));
        }
    }
}
