//! Reading the registry: every model and version in pages, mapped back to
//! [`ActualState`] (stages, metadata, rejections, rollouts).

use super::*;
use crate::backend::mlflow::adopt;

impl MlflowRegistry {
    /// Every registered model and version, as [`Registry::observe`] returns them.
    pub(super) fn observe_state(&mut self) -> Result<ActualState, BackendError> {
        // The two searches are independent: run them side by side.
        let (models, versions) = std::thread::scope(|scope| {
            let models =
                scope.spawn(|| self.pages(request::search_registered_models, "registered_models"));
            let versions = self.pages(|t| request::search_model_versions("", t), "model_versions");
            (
                models
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                versions,
            )
        });
        let (models, versions) = (models?, versions?);
        let mut state = ActualState::default();
        let mut known_versions = BTreeMap::new();
        let mut next_numbers: BTreeMap<String, u64> = BTreeMap::new();
        let mut all_aliases = BTreeMap::new();
        // Each model's last chained event: its head tag, or the last event
        // on its versions when that is further on (an apply cut short
        // before it wrote the head).
        let mut heads: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut behind: std::collections::BTreeSet<String> = Default::default();
        for m in &models {
            let name = text(m, "name").to_string();
            if name.starts_with("modelops-lock") {
                continue;
            }
            let tags = tags_of(m);
            let aliases: BTreeMap<String, u64> = m
                .get("aliases")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            Some((
                                text(x, "alias").to_string(),
                                text(x, "version").parse().ok()?,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            all_aliases.insert(name.clone(), aliases);
            heads.insert(
                name.clone(),
                parse_head(tags.get(EVENTS_HEAD_TAG))
                    .unwrap_or_else(|| (0, crate::state::chain::genesis())),
            );
            if let Some(record) = tags.get(ROLLOUT_TAG) {
                let record = serde_json::from_str(record).map_err(|e| BackendError::Corrupt {
                    path: format!("{name} in MLflow"),
                    message: format!("tag {ROLLOUT_TAG} is not what modelops wrote: {e}"),
                })?;
                state.rollouts.insert(name.clone(), record);
            }
            let description = text(m, "description");
            state.models.insert(
                name.clone(),
                RegisteredModel {
                    owner: tags
                        .get(&format!("{PREFIX}owner"))
                        .cloned()
                        .unwrap_or_default(),
                    description: (!description.is_empty()).then(|| description.to_string()),
                    name,
                    versions: Vec::new(),
                    applied: None,
                },
            );
        }
        // Each version's MLflow stage, for the alias rule below.
        let stages: BTreeMap<(String, u64), String> = versions
            .iter()
            .filter_map(|v| {
                let number = text(v, "version").parse().ok()?;
                Some((
                    (text(v, "name").to_string(), number),
                    text(v, "current_stage").to_string(),
                ))
            })
            .collect();
        for v in &versions {
            let name = text(v, "name").to_string();
            let Some(model) = state.models.get_mut(&name) else {
                continue;
            };
            let number: u64 = text(v, "version")
                .parse()
                .map_err(|_| BackendError::Corrupt {
                    path: format!("{name} in MLflow"),
                    message: format!("version {:?} is not a number", v.get("version")),
                })?;
            let next = next_numbers.entry(name.clone()).or_insert(1);
            *next = (*next).max(number + 1);
            let tags = tags_of(v);
            if let Some(head) = heads.get_mut(&name)
                && let Some(last) = last_event(&tags)
                && last.0 > head.0
            {
                *head = last;
                behind.insert(name.clone());
            }
            let id = match tags
                .get(&format!("{PREFIX}version"))
                .and_then(|t| t.parse::<VersionId>().ok())
            {
                Some(VersionId::Semantic(s)) => VersionId::Semantic(s),
                _ => VersionId::Number(number),
            };
            let stage =
                stage_of(text(v, "current_stage")).ok_or_else(|| BackendError::Corrupt {
                    path: format!("{name} version {number} in MLflow"),
                    message: format!("unknown stage {}", text(v, "current_stage")),
                })?;
            let metadata =
                mapping::version_metadata(text(v, "source"), text(v, "description"), &tags)
                    .map_err(|message| BackendError::Corrupt {
                        path: format!("{name} version {number} in MLflow"),
                        message,
                    })?;
            let applied = tags
                .get(STAGE_TAG)
                .and_then(|s| s.parse().ok())
                .map(|applied_stage| AppliedVersion {
                    stage: applied_stage,
                    metadata_digest: tags.get(DIGEST_TAG).cloned().unwrap_or_default(),
                });
            // Stage and alias are both read back. An alias moved outside git
            // shows as the stage it implies on the version it now names, and
            // a stage alias gone from its version shows that version as
            // Development: either way the plan puts both back. An alias names
            // one version, and a stage may hold several (versions in Staging
            // side by side): a version without it is only moved when the
            // alias is not on another version in that stage.
            let aliased = self
                .aliases
                .iter()
                .find(|(_, alias)| {
                    all_aliases.get(&name).and_then(|a| a.get(*alias)) == Some(&number)
                })
                .map(|(s, _)| *s);
            let observed_stage = match (applied.as_ref().map(|a| a.stage), aliased) {
                // A version modelops never moved: MLflow's own fields decide.
                (None, _) => adopt::unmanaged_stage(
                    stage,
                    &adopt::alias_stages(&self.aliases, all_aliases.get(&name), number),
                ),
                (Some(applied_stage), Some(alias_stage))
                    if stage == applied_stage && alias_stage != stage =>
                {
                    alias_stage
                }
                (Some(applied_stage), None)
                    if stage == applied_stage
                        && self.aliases.get(&stage).is_some_and(|alias| {
                            let holder = all_aliases.get(&name).and_then(|a| a.get(alias));
                            holder.and_then(|n| stages.get(&(name.clone(), *n)))
                                != Some(&mlflow_stage(stage).to_string())
                        }) =>
                {
                    Stage::Development
                }
                _ => stage,
            };
            let metadata = match applied {
                None => adopt::with_run_id(metadata, text(v, "run_id")),
                Some(_) => metadata,
            };
            let registered_at = v
                .get("creation_timestamp")
                .and_then(Value::as_i64)
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .unwrap_or(Timestamp::UNIX_EPOCH);
            known_versions.insert(
                (name.clone(), id.clone()),
                Observed {
                    number,
                    tags: tags.clone(),
                },
            );
            model.versions.push(RegisteredVersion {
                version: id,
                stage: observed_stage,
                metadata,
                rejected: tags.get(REJECTED_TAG).map(|r| {
                    // Written by modelops as JSON; a hand-written tag is kept
                    // as its reason, and (having no key) never holds a move.
                    serde_json::from_str(r).unwrap_or_else(|_| Rejection {
                        reason: r.clone(),
                        at: registered_at,
                        stage: None,
                        key: None,
                    })
                }),
                registered_at,
                applied,
                signed_off_by: tags.get(super::super::mapping::APPROVERS_TAG).cloned(),
            });
        }
        for m in state.models.values_mut() {
            m.versions.sort_by(|a, b| a.version.cmp(&b.version));
        }
        *lock(&self.versions) = known_versions;
        *lock(&self.model_aliases) = all_aliases;
        *lock(&self.heads) = heads;
        *lock(&self.unwritten_heads) = behind;
        state.assigns_numbers = true;
        state.next_numbers = state
            .models
            .keys()
            .map(|name| (name.clone(), next_numbers.get(name).copied().unwrap_or(1)))
            .collect();
        *lock(&self.next_number) = next_numbers;
        // Rollout records come from tags anyone with write access can set.
        let problems = crate::state::check::problems(&state);
        if !problems.is_empty() {
            return Err(BackendError::InvalidState {
                source_name: format!("{} (tag {ROLLOUT_TAG})", self.describe()),
                problems,
            });
        }
        Ok(state)
    }
}

/// The chained event with the highest number among a version's tags, as a
/// head: `(n, hash of its value)`.
fn last_event(tags: &BTreeMap<String, String>) -> Option<(u64, String)> {
    tags.iter()
        .filter(|(k, _)| k.starts_with(EVENT_TAG))
        .filter(|(_, v)| v.contains("\"prev_hash\""))
        .filter_map(|(k, v)| Some((k.rsplit('.').next()?.parse::<u64>().ok()?, v)))
        .max_by_key(|(n, _)| *n)
        .map(|(n, v)| (n, crate::state::chain::hash(v.as_bytes())))
}
