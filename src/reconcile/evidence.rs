//! A version's metadata as the manifest declares it, and the rule that a
//! registered version's evidence (what its gates were judged on) never
//! changes in git.

use super::*;

/// The version metadata a manifest entry asks for.
pub fn metadata_of(v: &DesiredVersion) -> VersionMetadata {
    let s = &v.spec;
    VersionMetadata {
        source: s.source.clone(),
        training_run_id: s.training_run_id.clone(),
        dataset_version: s.dataset_version.clone(),
        metrics: s.metrics.clone(),
        fairness: s.fairness.clone(),
        signature: s.signature.clone(),
        dependencies: s.dependencies.clone(),
        changelog: s.changelog.clone(),
        approved_by: s.approved_by.clone(),
        tags: s.tags.clone(),
    }
}

/// Whether a registered version's metadata is what the manifest declares
/// (without building the declared record: most versions are unchanged).
pub(super) fn same_metadata(v: &DesiredVersion, m: &VersionMetadata) -> bool {
    let s = &v.spec;
    s.source == m.source
        && s.training_run_id == m.training_run_id
        && s.dataset_version == m.dataset_version
        && s.metrics == m.metrics
        && s.fairness == m.fairness
        && s.signature == m.signature
        && s.dependencies == m.dependencies
        && s.changelog == m.changelog
        && s.approved_by == m.approved_by
        && s.tags == m.tags
}

/// The evidence fields of a registered version, which never change once it
/// is registered: what its gates were judged on. Descriptive fields
/// (changelog, tags, dependencies, approvals) may.
pub(super) const EVIDENCE_FIELDS: [&str; 6] = [
    "source",
    "training_run_id",
    "dataset_version",
    "metrics",
    "fairness",
    "signature",
];

/// The evidence fields git declares differently from the registry.
pub(super) fn evidence_changes(v: &DesiredVersion, m: &VersionMetadata) -> Vec<&'static str> {
    let s = &v.spec;
    let differs = [
        s.source != m.source,
        s.training_run_id != m.training_run_id,
        s.dataset_version != m.dataset_version,
        s.metrics != m.metrics,
        s.fairness != m.fairness,
        s.signature != m.signature,
    ];
    EVIDENCE_FIELDS
        .iter()
        .zip(differs)
        .filter(|(_, d)| *d)
        .map(|(f, _)| *f)
        .collect()
}

/// Whether git declares exactly what modelops last wrote for this version
/// while the registry holds something else: putting back a change made
/// outside git, not a change of evidence in git.
pub(super) fn restores_applied(v: &DesiredVersion, x: &RegisteredVersion) -> bool {
    x.applied
        .as_ref()
        .is_some_and(|a| a.metadata_digest == metadata_of(v).digest())
}

/// A registered version's evidence changed in git: a plan error at the field.
pub(super) fn immutable_error(
    model: &DesiredModel,
    v: &DesiredVersion,
    x: &RegisteredVersion,
    field: &str,
) -> Diagnostic {
    let (rule, held) = match field {
        "source" => (
            "immutable-source",
            format!("source is {} in the registry", x.metadata.source),
        ),
        _ => (
            "immutable-evidence",
            format!("`{field}` differs from what the registry holds"),
        ),
    };
    Diagnostic::pointer(
        &model.file,
        format!("{}/{field}", v.pointer()),
        rule,
        format!(
            "{} version {}: {held}, and a registered version's evidence cannot change \
             (its gates were judged on it); register a new version instead",
            model.name, v.spec.version
        ),
    )
}
