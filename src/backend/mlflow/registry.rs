//! The MLflow registry: observes registered models and versions in pages, and
//! performs the registry writes ([`RegistryOps`]) as REST calls, following
//! [`super::mapping`]; several models at once through `Writer`s.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::client::{Client, ClientError};
use super::mapping::{self, PREFIX, mlflow_stage, stage_of, tag_changes, version_tags};
use super::request;
use crate::backend::registry::{ApplyContext, BackendError, Registry, RegistryOps, StepRecord};
use crate::manifest::sorted_map::SortedMap;
use crate::manifest::{Stage, VersionId};
use crate::state::{
    ActualState, AppliedVersion, Event, LoggedSignature, RegisteredModel, RegisteredVersion,
    Rejection, RolloutRecord, VersionMetadata,
};

/// Tag holding the stage modelops last set (a change outside git is a difference from it).
const STAGE_TAG: &str = "modelops.stage";
/// Tag holding the digest of the metadata modelops last wrote.
const DIGEST_TAG: &str = "modelops.digest";
/// Tag on a registered model holding its rollout's progress: a JSON
/// [`crate::state::RolloutRecord`].
const ROLLOUT_TAG: &str = "modelops.rollout";
/// Tag marking a version Rejected by validation gates: a JSON [`Rejection`].
const REJECTED_TAG: &str = "modelops.rejected";
/// Prefix of the audit-event tags on a version: `modelops.event.<unix ms>.<n>`,
/// `n` counting the model's chained events from 1.
const EVENT_TAG: &str = "modelops.event.";
/// Tag on a registered model naming its last event: `{"seq": n, "hash": ...}`,
/// the SHA-256 of that event's tag value. Each event's value names the hash
/// of the one before (`prev_hash`, [`crate::state::chain`]).
const EVENTS_HEAD_TAG: &str = "modelops.events.head";
/// How many models are written at once.
const WRITERS: usize = 8;
/// The registered model whose existence is the apply lock: creating a model
/// is atomic in MLflow, so RESOURCE_ALREADY_EXISTS means someone holds it.
pub const LOCK_MODEL: &str = "modelops-lock";
/// How long a lock is good for; after that another apply may take it over.
const LOCK_LEASE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// A head tag's `(seq, hash)`.
fn parse_head(tag: Option<&String>) -> Option<(u64, String)> {
    let v: Value = serde_json::from_str(tag?).ok()?;
    Some((v["seq"].as_u64()?, v["hash"].as_str()?.to_string()))
}

/// One version as MLflow holds it, with what applying needs.
#[derive(Debug, Clone)]
struct Observed {
    number: u64,
    tags: BTreeMap<String, String>,
}

/// An MLflow tracking server's model registry.
pub struct MlflowRegistry {
    client: Client,
    aliases: BTreeMap<Stage, String>,
    // Caches filled by `observe` and kept current by writes; behind locks so
    // that models are written concurrently (never held across a request).
    versions: Mutex<BTreeMap<(String, VersionId), Observed>>,
    next_number: Mutex<BTreeMap<String, u64>>,
    model_aliases: Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
    /// Per model: the number and hash of its last chained event.
    heads: Mutex<BTreeMap<String, (u64, String)>>,
    locked: bool,
}

impl MlflowRegistry {
    /// A registry behind `client`; `aliases` names the alias mirroring each
    /// stage (defaults `production` and `staging`).
    pub fn new(client: Client, aliases: &BTreeMap<String, String>) -> MlflowRegistry {
        let mut map = BTreeMap::from([
            (Stage::Production, "production".to_string()),
            (Stage::Staging, "staging".to_string()),
        ]);
        for (stage, alias) in aliases {
            match stage.as_str() {
                "Production" => map.insert(Stage::Production, alias.clone()),
                "Staging" => map.insert(Stage::Staging, alias.clone()),
                _ => None,
            };
        }
        MlflowRegistry {
            client,
            aliases: map,
            versions: Mutex::default(),
            next_number: Mutex::default(),
            model_aliases: Mutex::default(),
            heads: Mutex::default(),
            locked: false,
        }
    }

    fn send(&self, r: &request::Request) -> Result<Value, BackendError> {
        self.client.send(r).map_err(backend)
    }

    /// Every page of a search, concatenated under `field`.
    fn pages(
        &self,
        make: impl Fn(Option<&str>) -> request::Request,
        field: &str,
    ) -> Result<Vec<Value>, BackendError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.send(&make(token.as_deref()))?;
            if let Some(items) = page.get(field).and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            match page.get("next_page_token").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    fn number(&self, model: &str, version: &VersionId) -> Result<u64, BackendError> {
        lock(&self.versions)
            .get(&(model.to_string(), version.clone()))
            .map(|o| o.number)
            .ok_or_else(|| {
                BackendError::Conflict(format!(
                    "{model} version {version} is not registered in MLflow"
                ))
            })
    }

    /// Records an audit event as a tag on the version,
    /// `modelops.event.<unix ms>.<n>`, chained to the model's last event,
    /// then moves the model's head tag to it. A model's steps are applied
    /// one after another, so its head is never written concurrently.
    fn record(
        &self,
        model: &str,
        number: u64,
        ctx: &ApplyContext,
        step: &str,
    ) -> Result<(), BackendError> {
        let (last, prev) = self.head_of(model)?;
        let n = last + 1;
        let value = json!({"step": step, "at": ctx.now.to_string(), "commit": ctx.commit, "actor": ctx.actor, "prev_hash": prev})
            .to_string();
        self.send(&request::set_model_version_tag(
            model,
            number,
            &format!("{EVENT_TAG}{}.{n}", ctx.now.as_millisecond()),
            &value,
        ))?;
        let hash = crate::state::chain::hash(value.as_bytes());
        self.send(&request::set_registered_model_tag(
            model,
            EVENTS_HEAD_TAG,
            &json!({"seq": n, "hash": hash}).to_string(),
        ))?;
        lock(&self.heads).insert(model.to_string(), (n, hash));
        Ok(())
    }

    /// The model's last chained event (number, hash), read once from its
    /// head tag; `(0, genesis)` for a model without one.
    fn head_of(&self, model: &str) -> Result<(u64, String), BackendError> {
        if let Some(h) = lock(&self.heads).get(model) {
            return Ok(h.clone());
        }
        let tags = match self.client.send(&request::get_registered_model(model)) {
            Ok(v) => tags_of(&v["registered_model"]),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => BTreeMap::new(),
            Err(e) => return Err(backend(e)),
        };
        let head = parse_head(tags.get(EVENTS_HEAD_TAG))
            .unwrap_or_else(|| (0, crate::state::chain::genesis()));
        lock(&self.heads).insert(model.to_string(), head.clone());
        Ok(head)
    }

    /// Checks the event chain of `model`, or of every model: per model, its
    /// events without `prev_hash` first (a legacy prefix), then the chained
    /// ones by number, each naming the hash of the one before, the last
    /// matching the model's head tag.
    pub fn verify_events(
        &mut self,
        model: Option<&str>,
    ) -> Result<Vec<(String, crate::state::chain::ChainReport)>, BackendError> {
        let names: Vec<String> = match model {
            Some(m) => vec![m.to_string()],
            None => self
                .pages(request::search_registered_models, "registered_models")?
                .iter()
                .map(|m| text(m, "name").to_string())
                .filter(|n| n != LOCK_MODEL)
                .collect(),
        };
        let mut out = Vec::new();
        for name in names {
            let head = match self.client.send(&request::get_registered_model(&name)) {
                Ok(v) => parse_head(tags_of(&v["registered_model"]).get(EVENTS_HEAD_TAG)),
                Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => None,
                Err(e) => return Err(backend(e)),
            };
            let filter = format!("name='{}'", name.replace('\'', "\\'"));
            let versions = self.pages(
                |t| request::search_model_versions(&filter, t),
                "model_versions",
            )?;
            // (legacy?, number, key, version, value)
            let mut events: Vec<(bool, u64, String, String, String)> = Vec::new();
            for v in &versions {
                for (key, value) in tags_of(v)
                    .into_iter()
                    .filter(|(k, _)| k.starts_with(EVENT_TAG))
                {
                    let chained = serde_json::from_str::<Value>(&value)
                        .ok()
                        .is_some_and(|e| e.get("prev_hash").is_some());
                    let n = key
                        .rsplit('.')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    events.push((!chained, n, key, text(v, "version").to_string(), value));
                }
            }
            if events.is_empty() && head.is_none() {
                continue;
            }
            // Legacy first (true sorts after false, hence the negation).
            events.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let mut check = crate::state::chain::ChainCheck::new(false);
            for e in &events {
                check.push(e.4.as_bytes());
            }
            let mut report = check.finish(head.as_ref().map(|h| h.1.as_str()));
            if let Some(b) = &mut report.broken
                && let Some(e) = events.get(b.line as usize - 1)
            {
                b.reason = format!("(tag {} on version {}) {}", e.2, e.3, b.reason);
            }
            out.push((format!("{} model {name}", self.describe()), report));
        }
        Ok(out)
    }

    fn transition(
        &self,
        model: &str,
        number: u64,
        from: Stage,
        to: Stage,
    ) -> Result<(), BackendError> {
        self.send(&request::transition_stage(model, number, mlflow_stage(to)))?;
        let current = lock(&self.model_aliases)
            .get(model)
            .cloned()
            .unwrap_or_default();
        if let Some(alias) = self.aliases.get(&from)
            && current.get(alias) == Some(&number)
        {
            self.send(&request::delete_alias(model, alias))?;
            lock(&self.model_aliases)
                .entry(model.to_string())
                .or_default()
                .remove(alias);
        }
        if let Some(alias) = self.aliases.get(&to) {
            self.send(&request::set_alias(model, alias, number))?;
            lock(&self.model_aliases)
                .entry(model.to_string())
                .or_default()
                .insert(alias.clone(), number);
        }
        self.send(&request::set_model_version_tag(
            model,
            number,
            STAGE_TAG,
            to.as_str(),
        ))?;
        Ok(())
    }
}

/// Writes through a shared reference, so that several models are written at
/// once ([`Registry::writers`]); the caches are behind locks.
struct Writer<'r>(&'r MlflowRegistry);

impl RegistryOps for Writer<'_> {
    fn register_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let tags = vec![(format!("{PREFIX}owner"), owner.to_string())];
        match this
            .client
            .send(&request::create_registered_model(model, description, &tags))
        {
            Ok(_) => {}
            // Done by an earlier, interrupted apply: converge.
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {
                this.send(&request::set_registered_model_tag(
                    model,
                    &format!("{PREFIX}owner"),
                    owner,
                ))?;
            }
            Err(e) => return Err(backend(e)),
        }
        lock(&this.next_number)
            .entry(model.to_string())
            .or_insert(1);
        Ok(())
    }

    fn update_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        let this = self.0;
        this.send(&request::update_registered_model(
            model,
            description.unwrap_or(""),
        ))?;
        this.send(&request::set_registered_model_tag(
            model,
            &format!("{PREFIX}owner"),
            owner,
        ))?;
        Ok(())
    }

    fn register_version(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        _at: Timestamp,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let next = lock(&this.next_number).get(model).copied().unwrap_or(1);
        if let VersionId::Number(n) = version
            && *n != next
        {
            return Err(BackendError::Conflict(format!(
                "MLflow numbers versions itself: the next version of {model} is {next}, but git declares {n}; \
                 versions are never renumbered, so declare {next} (or register the missing ones) in git"
            )));
        }
        let mut tags = version_tags(&version.to_string(), metadata);
        tags.push((STAGE_TAG.to_string(), stage.as_str().to_string()));
        tags.push((DIGEST_TAG.to_string(), metadata.digest()));
        let run_id = metadata
            .source
            .strip_prefix("runs:/")
            .and_then(|r| r.split('/').next())
            .map(str::to_string);
        let created = this.send(&request::create_model_version(
            model,
            &metadata.source,
            run_id.as_deref(),
            metadata.changelog.as_deref(),
            &tags,
        ))?;
        let number: u64 = text(&created["model_version"], "version")
            .parse()
            .unwrap_or(0);
        lock(&this.next_number).insert(model.to_string(), number + 1);
        lock(&this.versions).insert(
            (model.to_string(), version.clone()),
            Observed {
                number,
                tags: tags.into_iter().collect(),
            },
        );
        if let VersionId::Number(n) = version
            && *n != number
        {
            return Err(BackendError::Conflict(format!(
                "MLflow registered {model} as version {number}, not {n} as git declares: another client registered a version meanwhile; \
                 it is left as it is (versions are never deleted)"
            )));
        }
        if stage != Stage::Development {
            this.transition(model, number, Stage::Development, stage)?;
        }
        Ok(())
    }

    fn update_version(
        &mut self,
        model: &str,
        version: &VersionId,
        metadata: &VersionMetadata,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        let current = lock(&this.versions)
            .get(&(model.to_string(), version.clone()))
            .map(|o| o.tags.clone())
            .unwrap_or_default();
        let mut wanted = version_tags(&version.to_string(), metadata);
        wanted.push((DIGEST_TAG.to_string(), metadata.digest()));
        if let Some(stage) = current.get(STAGE_TAG) {
            wanted.push((STAGE_TAG.to_string(), stage.clone()));
        }
        let (set, delete) = tag_changes(&current, &wanted);
        this.send(&request::update_model_version(
            model,
            number,
            metadata.changelog.as_deref().unwrap_or(""),
        ))?;
        for (k, v) in &set {
            this.send(&request::set_model_version_tag(model, number, k, v))?;
        }
        for k in &delete {
            this.send(&request::delete_model_version_tag(model, number, k))?;
        }
        Ok(())
    }

    fn set_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        from: Stage,
        to: Stage,
    ) -> Result<(), BackendError> {
        let number = self.0.number(model, version)?;
        self.0.transition(model, number, from, to)
    }

    fn set_rejection(
        &mut self,
        model: &str,
        version: &VersionId,
        rejection: &Rejection,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        let value = serde_json::to_string(rejection).expect("rejections serialize");
        this.send(&request::set_model_version_tag(
            model,
            number,
            REJECTED_TAG,
            &value,
        ))?;
        if let Some(o) = lock(&this.versions).get_mut(&(model.to_string(), version.clone())) {
            o.tags.insert(REJECTED_TAG.to_string(), value);
        }
        Ok(())
    }

    fn clear_rejection(&mut self, model: &str, version: &VersionId) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        let key = (model.to_string(), version.clone());
        let rejected = lock(&this.versions)
            .get(&key)
            .is_some_and(|o| o.tags.contains_key(REJECTED_TAG));
        if rejected {
            this.send(&request::delete_model_version_tag(
                model,
                number,
                REJECTED_TAG,
            ))?;
            if let Some(o) = lock(&this.versions).get_mut(&key) {
                o.tags.remove(REJECTED_TAG);
            }
        }
        Ok(())
    }

    fn record_rollout(&mut self, model: &str, record: &RolloutRecord) -> Result<(), BackendError> {
        let value = serde_json::to_string(record).expect("rollout records serialize");
        self.0.send(&request::set_registered_model_tag(
            model,
            ROLLOUT_TAG,
            &value,
        ))?;
        Ok(())
    }

    fn record_event(&mut self, record: StepRecord, ctx: &ApplyContext) -> Result<(), BackendError> {
        let event = &record.event;
        // Events are tags on a version: a model's own steps have no place,
        // and a rollout's progress is its model's rollout tag.
        let Some(version) = &event.version else {
            return Ok(());
        };
        if event.action == "record_rollout" {
            return Ok(());
        }
        let number = self.0.number(&event.model, version)?;
        self.0.record(&event.model, number, ctx, &record.line)
    }
}

/// Each write through a `Writer` on this registry.
impl RegistryOps for MlflowRegistry {
    fn register_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        Writer(self).register_model(model, owner, description)
    }
    fn update_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        Writer(self).update_model(model, owner, description)
    }
    fn register_version(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        at: Timestamp,
    ) -> Result<(), BackendError> {
        Writer(self).register_version(model, version, stage, metadata, at)
    }
    fn update_version(
        &mut self,
        model: &str,
        version: &VersionId,
        metadata: &VersionMetadata,
    ) -> Result<(), BackendError> {
        Writer(self).update_version(model, version, metadata)
    }
    fn set_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        from: Stage,
        to: Stage,
    ) -> Result<(), BackendError> {
        Writer(self).set_stage(model, version, from, to)
    }
    fn set_rejection(
        &mut self,
        model: &str,
        version: &VersionId,
        rejection: &Rejection,
    ) -> Result<(), BackendError> {
        Writer(self).set_rejection(model, version, rejection)
    }
    fn clear_rejection(&mut self, model: &str, version: &VersionId) -> Result<(), BackendError> {
        Writer(self).clear_rejection(model, version)
    }
    fn record_rollout(&mut self, model: &str, record: &RolloutRecord) -> Result<(), BackendError> {
        Writer(self).record_rollout(model, record)
    }
    fn record_event(&mut self, record: StepRecord, ctx: &ApplyContext) -> Result<(), BackendError> {
        Writer(self).record_event(record, ctx)
    }
}

impl MlflowRegistry {
    /// Who holds the lock and whether their lease has run out, or `None`
    /// when nobody holds it.
    pub fn lock_holder(&self) -> Result<Option<(String, bool)>, BackendError> {
        match self.client.send(&request::get_registered_model(LOCK_MODEL)) {
            Ok(v) => {
                let tags = tags_of(&v["registered_model"]);
                let holder = tags
                    .get(&format!("{PREFIX}lock.holder"))
                    .cloned()
                    .unwrap_or_else(|| "another apply".into());
                let expired = tags
                    .get(&format!("{PREFIX}lock.expires"))
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .is_some_and(|t| t < Timestamp::now());
                Ok(Some((holder, expired)))
            }
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Removes the lock whoever holds it (`modelops unlock --force`).
    pub fn remove_lock(&self) -> Result<bool, BackendError> {
        match self
            .client
            .send(&request::delete_registered_model(LOCK_MODEL))
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }
}

/// A cache's lock; a panic elsewhere cannot leave it half-written, so a
/// poisoned one is used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn backend(e: ClientError) -> BackendError {
    BackendError::Conflict(e.to_string())
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(|t| {
                    Some((
                        t.get("key")?.as_str()?.to_string(),
                        t.get("value")?.as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn text<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

impl Registry for MlflowRegistry {
    fn describe(&self) -> String {
        format!("MLflow at {}", self.client.endpoint().shown())
    }

    fn observe(&mut self) -> Result<ActualState, BackendError> {
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
            // Development: either way the plan puts both back.
            let aliased = self
                .aliases
                .iter()
                .find(|(_, alias)| {
                    all_aliases.get(&name).and_then(|a| a.get(*alias)) == Some(&number)
                })
                .map(|(s, _)| *s);
            let observed_stage = match (applied.as_ref().map(|a| a.stage), aliased) {
                (Some(applied_stage), Some(alias_stage))
                    if stage == applied_stage && alias_stage != stage =>
                {
                    alias_stage
                }
                (Some(applied_stage), None)
                    if stage == applied_stage && self.aliases.contains_key(&stage) =>
                {
                    Stage::Development
                }
                _ => stage,
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
            });
        }
        for m in state.models.values_mut() {
            m.versions.sort_by(|a, b| a.version.cmp(&b.version));
        }
        *lock(&self.versions) = known_versions;
        *lock(&self.model_aliases) = all_aliases;
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

    fn writers(&self, models: usize) -> Vec<Box<dyn RegistryOps + Send + '_>> {
        // Models are independent: up to WRITERS of them are written at once.
        (0..WRITERS.min(models))
            .map(|_| Box::new(Writer(self)) as Box<dyn RegistryOps + Send>)
            .collect()
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        // Every step is durable in MLflow as soon as it is sent.
        Ok(())
    }

    fn lock(&mut self, timeout: std::time::Duration, command: &str) -> Result<(), BackendError> {
        let started = std::time::Instant::now();
        loop {
            let now = Timestamp::now();
            let expires = now + jiff::SignedDuration::try_from(LOCK_LEASE).unwrap_or_default();
            let holder = format!(
                "pid {} ({}@{}, `{command}`) since {}",
                std::process::id(),
                crate::backend::local::whoami(),
                crate::backend::local::hostname(),
                now.strftime("%Y-%m-%dT%H:%M:%SZ")
            );
            let tags = vec![
                (format!("{PREFIX}lock.holder"), holder.clone()),
                (format!("{PREFIX}lock.expires"), expires.to_string()),
            ];
            match self.client.send(&request::create_registered_model(
                LOCK_MODEL,
                Some(&holder),
                &tags,
            )) {
                Ok(_) => {
                    self.locked = true;
                    return Ok(());
                }
                Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {
                    let (holder, expired) = self
                        .lock_holder()?
                        .unwrap_or(("another apply".into(), false));
                    if expired {
                        // The holder's lease ran out (a cancelled job): take it over.
                        self.send(&request::delete_registered_model(LOCK_MODEL))?;
                        continue;
                    }
                    if started.elapsed() >= timeout {
                        return Err(BackendError::Locked {
                            path: self.describe(),
                            holder,
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    fn run_metrics(
        &mut self,
        runs: &[String],
    ) -> Result<BTreeMap<String, Option<SortedMap<String, f64>>>, BackendError> {
        let mut out = BTreeMap::new();
        for run in runs {
            let metrics = match self.client.send(&request::get_run(run)) {
                Ok(v) => Some(
                    v["run"]["data"]["metrics"]
                        .as_array()
                        .map(|ms| {
                            ms.iter()
                                .filter_map(|m| {
                                    Some((
                                        m.get("key")?.as_str()?.to_string(),
                                        m.get("value")?.as_f64()?,
                                    ))
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => None,
                Err(e) => return Err(backend(e)),
            };
            out.insert(run.clone(), metrics);
        }
        Ok(out)
    }

    fn artifacts_gone(
        &mut self,
        model: &str,
        version: &VersionId,
    ) -> Result<Option<String>, BackendError> {
        let Ok(number) = self.number(model, version) else {
            return Ok(Some(format!(
                "MLflow has no version {version} of {model} (deleted)"
            )));
        };
        match self.client.send(&request::get_model_version(model, number)) {
            Ok(v) => {
                let status = text(&v["model_version"], "status");
                Ok((!status.is_empty() && status != "READY").then(|| {
                    format!("MLflow version {number} of {model} has status {status}, not READY")
                }))
            }
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(Some(format!(
                "MLflow has no version {number} of {model} (deleted)"
            ))),
            Err(e) => Err(backend(e)),
        }
    }

    fn logged_signature(
        &mut self,
        source: &str,
        run_id: Option<&str>,
    ) -> Option<Result<LoggedSignature, BackendError>> {
        Some(super::mlmodel::logged_signature(&self.client, source, run_id).map_err(backend))
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        if self.locked {
            self.send(&request::delete_registered_model(LOCK_MODEL))?;
            self.locked = false;
        }
        Ok(())
    }

    fn events(&mut self, model: &str) -> Result<Vec<Event>, BackendError> {
        let filter = format!("name='{}'", model.replace('\'', "\\'"));
        let versions = self.pages(
            |t| request::search_model_versions(&filter, t),
            "model_versions",
        )?;
        let mut events = Vec::new();
        for v in &versions {
            let tags = tags_of(v);
            let number: u64 = text(v, "version").parse().unwrap_or(0);
            let id = match tags
                .get(&format!("{PREFIX}version"))
                .and_then(|t| t.parse::<VersionId>().ok())
            {
                Some(VersionId::Semantic(s)) => VersionId::Semantic(s),
                _ => VersionId::Number(number),
            };
            for (key, value) in tags.iter().filter(|(k, _)| k.starts_with(EVENT_TAG)) {
                let Ok(e) = serde_json::from_str::<Value>(value) else {
                    continue;
                };
                let step = text(&e, "step").to_string();
                // A rejection names the stage refused, not one entered.
                let to_stage = if step.starts_with("reject_version")
                    || step.starts_with("monitor_action")
                    || step.starts_with(crate::state::drill::DRILL_ACTION)
                {
                    None
                } else {
                    step.rsplit(' ').next().and_then(|s| s.parse().ok())
                };
                events.push(Event {
                    seq: key[EVENT_TAG.len()..]
                        .rsplit('.')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    at: text(&e, "at").parse().unwrap_or(Timestamp::UNIX_EPOCH),
                    model: model.to_string(),
                    version: Some(id.clone()),
                    action: step.split(' ').next().unwrap_or("").to_string(),
                    from_stage: None,
                    to_stage,
                    summary: format!("{model} version {id}: {step}"),
                    changes: Vec::new(),
                    commit: e.get("commit").and_then(Value::as_str).map(str::to_string),
                    actor: text(&e, "actor").to_string(),
                    prev_hash: e
                        .get("prev_hash")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            }
        }
        events.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
        Ok(events)
    }
}
