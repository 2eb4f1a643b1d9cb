//! How modelops' desired state is written into MLflow and read back: the
//! `modelops.` tag scheme, stage names, and chunking of long tag values.
//!
//! | modelops | MLflow |
//! |---|---|
//! | model `description` | registered model description |
//! | model `owner` | registered-model tag `modelops.owner` |
//! | version `source` | model version source (and `run_id` for `runs:/`) |
//! | version `changelog` | model version description |
//! | `version` (as written in git) | tag `modelops.version` |
//! | `training_run_id`, `dataset_version`, `approved_by` | tags `modelops.<field>` |
//! | `metrics`, `fairness`, `dependencies`, `signature` | tags `modelops.<field>`, compact JSON |
//! | `tags` | tags under their own keys |
//! | who signed off a move into Production on GitHub (an apply's) | tag `modelops.approvers` |
//!
//! A value longer than [`TAG_LIMIT`] characters is split over
//! `modelops.<field>.0`, `.1`, … (MLflow limits tag values to 5,000
//! characters on some databases; a wide signature exceeds that).

use std::collections::BTreeMap;

use crate::manifest::Stage;
use crate::manifest::sorted_map::SortedMap;
use crate::state::VersionMetadata;

/// Prefix of every tag modelops owns.
pub const PREFIX: &str = "modelops.";
/// The version tag holding who signed off its last move into Production
/// on GitHub (`alice (1a2b3c4) on PR #7`): written by an apply, never by
/// the manifest, so a metadata update keeps it.
pub const APPROVERS_TAG: &str = "modelops.approvers";
/// Longest tag value written in one piece.
pub const TAG_LIMIT: usize = 4_000;

/// MLflow's name for a stage (`Development` is MLflow's `None`).
pub fn mlflow_stage(stage: Stage) -> &'static str {
    match stage {
        Stage::Development => "None",
        Stage::Staging => "Staging",
        Stage::Production => "Production",
        Stage::Archived => "Archived",
    }
}

/// The stage of an MLflow `current_stage`, or `None` for an unknown one.
pub fn stage_of(mlflow: &str) -> Option<Stage> {
    match mlflow {
        "None" | "" => Some(Stage::Development),
        "Staging" => Some(Stage::Staging),
        "Production" => Some(Stage::Production),
        "Archived" => Some(Stage::Archived),
        _ => None,
    }
}

/// Writes `value` under `key`, split into chunks when long.
fn put(out: &mut Vec<(String, String)>, key: &str, value: String) {
    let key = format!("{PREFIX}{key}");
    if value.chars().count() <= TAG_LIMIT {
        out.push((key, value));
        return;
    }
    let chars: Vec<char> = value.chars().collect();
    for (i, chunk) in chars.chunks(TAG_LIMIT).enumerate() {
        out.push((format!("{key}.{i}"), chunk.iter().collect()));
    }
}

/// Reads `key`, joining chunks when it was split.
fn get(tags: &BTreeMap<String, String>, key: &str) -> Option<String> {
    let key = format!("{PREFIX}{key}");
    if let Some(v) = tags.get(&key) {
        return Some(v.clone());
    }
    let mut joined = String::new();
    let mut i = 0;
    while let Some(part) = tags.get(&format!("{key}.{i}")) {
        joined.push_str(part);
        i += 1;
    }
    (i > 0).then_some(joined)
}

fn put_json<T: serde::Serialize>(
    out: &mut Vec<(String, String)>,
    key: &str,
    value: &T,
    empty: bool,
) {
    if !empty {
        put(
            out,
            key,
            serde_json::to_string(value).expect("metadata serializes"),
        );
    }
}

/// The tags that carry a version's metadata (not its source or changelog,
/// which have their own MLflow fields), plus the version as written in git.
pub fn version_tags(version: &str, m: &VersionMetadata) -> Vec<(String, String)> {
    let mut out = Vec::new();
    put(&mut out, "version", version.to_string());
    for (key, value) in [
        ("training_run_id", &m.training_run_id),
        ("dataset_version", &m.dataset_version),
        ("approved_by", &m.approved_by),
    ] {
        if let Some(v) = value {
            put(&mut out, key, v.clone());
        }
    }
    put_json(&mut out, "metrics", &m.metrics, m.metrics.is_empty());
    put_json(&mut out, "fairness", &m.fairness, m.fairness.is_empty());
    put_json(
        &mut out,
        "dependencies",
        &m.dependencies,
        m.dependencies.is_empty(),
    );
    if let Some(sig) = &m.signature {
        put(
            &mut out,
            "signature",
            serde_json::to_string(sig).expect("signatures serialize"),
        );
    }
    for (k, v) in &m.tags {
        out.push((k.clone(), v.clone()));
    }
    out
}

/// A version's metadata read back from MLflow's fields and tags. A tag
/// modelops wrote that no longer parses is reported, never guessed at.
pub fn version_metadata(
    source: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<VersionMetadata, String> {
    fn json<T: serde::de::DeserializeOwned + Default>(
        tags: &BTreeMap<String, String>,
        key: &str,
    ) -> Result<T, String> {
        match get(tags, key) {
            None => Ok(T::default()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| format!("tag {PREFIX}{key} is not what modelops wrote: {e}")),
        }
    }
    let signature = match get(tags, "signature") {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| format!("tag {PREFIX}signature is not what modelops wrote: {e}"))?,
        ),
    };
    let user_tags: SortedMap<String, String> = tags
        .iter()
        .filter(|(k, _)| !k.starts_with(PREFIX) && !k.starts_with("mlflow."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(VersionMetadata {
        source: source.to_string(),
        training_run_id: get(tags, "training_run_id"),
        dataset_version: get(tags, "dataset_version"),
        metrics: json(tags, "metrics")?,
        fairness: json(tags, "fairness")?,
        signature,
        dependencies: json(tags, "dependencies")?,
        changelog: (!description.is_empty()).then(|| description.to_string()),
        approved_by: get(tags, "approved_by"),
        tags: user_tags,
    })
}

/// The tags to set and the keys to delete to turn `current` tags into `wanted`.
pub fn tag_changes(
    current: &BTreeMap<String, String>,
    wanted: &[(String, String)],
) -> (Vec<(String, String)>, Vec<String>) {
    let wanted_map: BTreeMap<&str, &str> = wanted
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let set = wanted
        .iter()
        .filter(|(k, v)| current.get(k) != Some(v))
        .cloned()
        .collect();
    let delete = current
        .keys()
        .filter(|k| {
            !k.starts_with("mlflow.")
                && !k.starts_with(&format!("{PREFIX}event."))
                && !wanted_map.contains_key(k.as_str())
        })
        .filter(|k| *k != &format!("{PREFIX}rejected") && *k != APPROVERS_TAG)
        .cloned()
        .collect();
    (set, delete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::model::{Signature, SignatureColumn};

    fn metadata(columns: usize) -> VersionMetadata {
        VersionMetadata {
            source: "runs:/r1/model".into(),
            training_run_id: Some("r1".into()),
            dataset_version: Some("v3.1".into()),
            metrics: [
                ("test_auc".to_string(), 0.85),
                ("test_accuracy".to_string(), 0.88),
            ]
            .into(),
            fairness: [("gender".to_string(), [("female".to_string(), 0.84)].into())].into(),
            signature: Some(Signature {
                inputs: (0..columns)
                    .map(|i| SignatureColumn {
                        name: format!("feature_{i:04}"),
                        column_type: "double".into(),
                        shape: None,
                        optional: None,
                    })
                    .collect(),
                outputs: vec![SignatureColumn {
                    name: "p".into(),
                    column_type: "double".into(),
                    shape: None,
                    optional: None,
                }],
            }),
            dependencies: [("scikit-learn".to_string(), "1.5.2".to_string())].into(),
            changelog: Some("Retrained.".into()),
            approved_by: Some("ml-platform".into()),
            tags: [("team".to_string(), "growth".to_string())].into(),
        }
    }

    fn round_trip(m: &VersionMetadata) -> (VersionMetadata, Vec<(String, String)>) {
        let tags = version_tags("6", m);
        let map: BTreeMap<String, String> = tags.iter().cloned().collect();
        let back = version_metadata(&m.source, m.changelog.as_deref().unwrap_or(""), &map).unwrap();
        (back, tags)
    }

    #[test]
    fn metadata_survives_the_round_trip() {
        let m = metadata(3);
        let (back, tags) = round_trip(&m);
        assert_eq!(back, m);
        assert!(tags.iter().all(|(_, v)| v.chars().count() <= TAG_LIMIT));
        assert!(tags.contains(&("modelops.version".to_string(), "6".to_string())));
        assert!(tags.contains(&("team".to_string(), "growth".to_string())));
    }

    #[test]
    fn a_large_signature_is_split_and_joined() {
        let m = metadata(800);
        let (back, tags) = round_trip(&m);
        assert_eq!(back, m);
        let parts: Vec<&String> = tags
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("modelops.signature."))
            .collect();
        assert!(parts.len() >= 3, "{parts:?}");
        assert!(tags.iter().all(|(_, v)| v.chars().count() <= TAG_LIMIT));
    }

    #[test]
    fn a_tag_edited_by_hand_is_an_error_not_a_guess() {
        let mut map: BTreeMap<String, String> =
            version_tags("6", &metadata(1)).into_iter().collect();
        map.insert("modelops.metrics".into(), "{not json".into());
        let err = version_metadata("runs:/r1/model", "", &map).unwrap_err();
        assert!(err.contains("modelops.metrics"), "{err}");
    }

    #[test]
    fn tag_changes_set_what_differs_and_delete_what_git_dropped() {
        let current: BTreeMap<String, String> = [
            ("modelops.version", "6"),
            ("modelops.dataset_version", "v3.0"),
            ("old", "x"),
            ("mlflow.source.type", "LOCAL"),
            ("modelops.event.0", "{}"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let wanted = vec![
            ("modelops.version".to_string(), "6".to_string()),
            ("modelops.dataset_version".to_string(), "v3.1".to_string()),
        ];
        let (set, delete) = tag_changes(&current, &wanted);
        assert_eq!(
            set,
            [("modelops.dataset_version".to_string(), "v3.1".to_string())]
        );
        assert_eq!(delete, ["old".to_string()]);
    }

    #[test]
    fn stages_map_both_ways() {
        for stage in [
            Stage::Development,
            Stage::Staging,
            Stage::Production,
            Stage::Archived,
        ] {
            assert_eq!(stage_of(mlflow_stage(stage)), Some(stage));
        }
        assert_eq!(stage_of("Retired"), None);
    }
}
