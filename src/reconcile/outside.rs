//! Changes made outside git: what the registry holds now against what
//! modelops last applied (shown to users as "drift", and put back; in the code "drift" is data drift, `crate::drift`).

use super::*;

/// Stage and metadata digest (`"<Stage> <digest>"`) of every registered
/// version of these models.
pub fn observed(
    actual: &ActualState,
    models: &[&str],
) -> BTreeMap<String, BTreeMap<String, String>> {
    models
        .iter()
        .filter_map(|name| actual.models.get(*name).map(|m| (*name, m)))
        .map(|(name, m)| {
            let versions = m
                .versions
                .iter()
                .map(|v| {
                    (
                        v.version.to_string(),
                        format!("{} {}", v.stage, v.metadata.digest()),
                    )
                })
                .collect();
            (name.to_string(), versions)
        })
        .collect()
}

/// What changed outside git in one model; `observed` is its entry of [`observed`].
pub(super) fn changes_outside_git(
    r: &RegisteredModel,
    observed: &BTreeMap<String, String>,
) -> Vec<OutsideChange> {
    let mut out = Vec::new();
    if let Some(applied) = &r.applied {
        let pairs = [
            ("owner", Some(applied.owner.clone()), Some(r.owner.clone())),
            (
                "description",
                applied.description.clone(),
                r.description.clone(),
            ),
        ];
        for (field, before, after) in pairs {
            if before != after {
                out.push(OutsideChange {
                    model: r.name.clone(),
                    version: None,
                    change: FieldChange {
                        field: field.to_string(),
                        before: before.map(Into::into),
                        after: after.map(Into::into),
                    },
                });
            }
        }
    }
    for v in &r.versions {
        let Some(applied) = &v.applied else { continue };
        if applied.stage != v.stage {
            out.push(OutsideChange {
                model: r.name.clone(),
                version: Some(v.version.clone()),
                change: FieldChange {
                    field: "stage".to_string(),
                    before: Some(applied.stage.as_str().into()),
                    after: Some(v.stage.as_str().into()),
                },
            });
        }
        let digest = observed
            .get(&v.version.to_string())
            .and_then(|o| o.split_once(' '))
            .map_or("", |(_, d)| d);
        // A version modelops moved (a rollback does) but never wrote
        // metadata to has no digest to differ from.
        if applied.metadata_digest != digest && !super::adopt::unrecorded(v) {
            out.push(OutsideChange {
                model: r.name.clone(),
                version: Some(v.version.clone()),
                change: FieldChange {
                    field: "metadata".to_string(),
                    before: Some(applied.metadata_digest.clone().into()),
                    after: Some(digest.into()),
                },
            });
        }
    }
    out
}
