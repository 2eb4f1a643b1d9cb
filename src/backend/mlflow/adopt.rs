//! Versions modelops did not register: how their own MLflow fields read as
//! modelops' state. `observe` (so `plan`) and `modelops import` read them
//! through these functions, so an imported manifest says what the next plan
//! observes.
//!
//! A version modelops moved carries a `modelops.stage` tag, and its stage is
//! read against it (see the registry's `observe`). One it never moved has
//! only MLflow's own fields: its stage, the aliases that name it, its
//! `run_id`.

use std::collections::BTreeMap;

use crate::manifest::Stage;
use crate::state::VersionMetadata;

/// The stages whose aliases (`stage_aliases`, such as `production` for
/// Production) name version `number`, given the model's aliases.
pub fn alias_stages(
    stage_aliases: &BTreeMap<Stage, String>,
    model_aliases: Option<&BTreeMap<String, u64>>,
    number: u64,
) -> Vec<Stage> {
    stage_aliases
        .iter()
        .filter(|(_, alias)| model_aliases.and_then(|a| a.get(*alias)) == Some(&number))
        .map(|(stage, _)| *stage)
        .collect()
}

/// The stage of a version modelops never moved: the stage an alias naming
/// it implies (Production before Staging when both do), else its MLflow
/// stage. MLflow 3 deprecates stages and serves by alias
/// (`models:/<name>@production`), so a team that moved to aliases leaves
/// the stage at `None`; one that never did has no alias, and its stage
/// stands.
pub fn unmanaged_stage(mlflow_stage: Stage, alias_stages: &[Stage]) -> Stage {
    [Stage::Production, Stage::Staging]
        .into_iter()
        .find(|s| alias_stages.contains(s))
        .unwrap_or(mlflow_stage)
}

/// The metadata of a version modelops never moved, with MLflow's `run_id`
/// as its training run when no `modelops.training_run_id` tag names one:
/// MLflow records the run a version came from, and git must agree with it.
pub fn with_run_id(mut metadata: VersionMetadata, run_id: &str) -> VersionMetadata {
    if metadata.training_run_id.is_none() && !run_id.is_empty() {
        metadata.training_run_id = Some(run_id.to_string());
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_decides_before_the_stage() {
        use Stage::*;
        let cases: [(&str, Stage, &[Stage], Stage); 6] = [
            ("stage only", Staging, &[], Staging),
            (
                "alias only (MLflow 3)",
                Development,
                &[Production],
                Production,
            ),
            ("both agree", Production, &[Production], Production),
            ("alias moved on", Production, &[Staging], Staging),
            ("archived, aliased", Archived, &[Production], Production),
            (
                "both aliases",
                Development,
                &[Staging, Production],
                Production,
            ),
        ];
        for (why, stage, aliases, want) in cases {
            assert_eq!(unmanaged_stage(stage, aliases), want, "{why}");
        }
    }

    #[test]
    fn alias_stages_name_the_version() {
        let stage_aliases = BTreeMap::from([
            (Stage::Production, "production".to_string()),
            (Stage::Staging, "staging".to_string()),
        ]);
        let model = BTreeMap::from([
            ("production".to_string(), 2),
            ("staging".to_string(), 3),
            ("challenger".to_string(), 3),
        ]);
        assert_eq!(
            alias_stages(&stage_aliases, Some(&model), 2),
            [Stage::Production]
        );
        assert_eq!(
            alias_stages(&stage_aliases, Some(&model), 3),
            [Stage::Staging]
        );
        assert!(alias_stages(&stage_aliases, Some(&model), 1).is_empty());
        assert!(alias_stages(&stage_aliases, None, 2).is_empty());
    }

    #[test]
    fn the_run_id_is_the_training_run_unless_a_tag_names_one() {
        let tagged = VersionMetadata {
            training_run_id: Some("tagged".into()),
            ..Default::default()
        };
        assert_eq!(
            with_run_id(tagged, "r1").training_run_id.as_deref(),
            Some("tagged")
        );
        let bare = VersionMetadata::default();
        assert_eq!(
            with_run_id(bare.clone(), "r1").training_run_id.as_deref(),
            Some("r1")
        );
        assert_eq!(with_run_id(bare, "").training_run_id, None);
    }
}
