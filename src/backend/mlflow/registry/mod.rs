//! The MLflow registry: the [`Registry`] over MLflow's REST API. Reading
//! the registry is in `observe`, the writes in `write`, the apply lock in
//! `lock`, and the reads gates and history need in `reads`.

mod lock;
mod observe;
mod reads;
mod write;

use write::Writer;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cache::ReadCache;
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
/// How many models are written at once, unless `registry.writers` says.
pub const WRITERS: usize = 8;
/// How many reads (runs, `MLmodel` files) are sent at once, unless
/// `registry.readers` says.
pub const READERS: usize = 16;
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
    /// Models whose head tag is behind their last recorded event.
    unwritten_heads: Mutex<std::collections::BTreeSet<String>>,
    locked: bool,
    /// Runs and signatures read by this command (shared with the other
    /// registries it builds).
    reads: ReadCache,
    writers: usize,
    readers: usize,
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
            unwritten_heads: Mutex::default(),
            locked: false,
            reads: ReadCache::default(),
            writers: WRITERS,
            readers: READERS,
        }
    }

    /// This registry reading runs and signatures through `reads`, the
    /// command's cache, so that what another registry of the same command
    /// read is not sent for again.
    pub fn with_reads(mut self, reads: ReadCache) -> MlflowRegistry {
        self.reads = reads;
        self
    }

    /// This registry writing `writers` models at once and sending up to
    /// `readers` reads at once (each at least 1).
    pub fn with_concurrency(mut self, writers: usize, readers: usize) -> MlflowRegistry {
        self.writers = writers.max(1);
        self.readers = readers.max(1);
        self
    }

    /// The command's cache of runs and signatures this registry reads through.
    pub fn reads(&self) -> &ReadCache {
        &self.reads
    }

    /// The client it reads and writes through (for `modelops import`'s
    /// reads of runs and artifacts).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The alias mirroring each stage.
    pub fn stage_aliases(&self) -> &BTreeMap<Stage, String> {
        &self.aliases
    }

    fn send(&self, r: &request::Request) -> Result<Value, BackendError> {
        self.client.send(r).map_err(backend)
    }

    /// Every page of a search, concatenated under `field`.
    pub(in crate::backend::mlflow) fn pages(
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

    /// The tag recording an audit event of `model`, `modelops.event.<unix
    /// ms>.<n>`, chained to the model's last event, and the head it makes:
    /// `(key, value, (n, hash))`.
    fn event_tag(
        &self,
        model: &str,
        ctx: &ApplyContext,
        step: &str,
    ) -> Result<(String, String, (u64, String)), BackendError> {
        let (last, prev) = self.head_of(model)?;
        let n = last + 1;
        let value = json!({"step": step, "at": ctx.now.to_string(), "commit": ctx.commit, "actor": ctx.actor, "prev_hash": prev})
            .to_string();
        let hash = crate::state::chain::hash(value.as_bytes());
        let key = format!("{EVENT_TAG}{}.{n}", ctx.now.as_millisecond());
        Ok((key, value, (n, hash)))
    }

    /// Records an audit event as a tag on the version ([`Self::event_tag`]).
    /// The model's head tag follows once per model, at
    /// [`RegistryOps::end_model`]. A model's steps are applied one after
    /// another, so its head is never written concurrently.
    fn record(
        &self,
        model: &str,
        number: u64,
        ctx: &ApplyContext,
        step: &str,
    ) -> Result<(), BackendError> {
        let (key, value, head) = self.event_tag(model, ctx, step)?;
        self.send(&request::set_model_version_tag(model, number, &key, &value))?;
        self.moved_head(model, head);
        Ok(())
    }

    /// `model`'s last event is now `head`: its head tag is written at the
    /// end of the model's steps.
    fn moved_head(&self, model: &str, head: (u64, String)) {
        lock(&self.heads).insert(model.to_string(), head);
        lock(&self.unwritten_heads).insert(model.to_string());
    }

    /// Writes `model`'s head tag when events were recorded since it was
    /// last written. Until it is, the head tag names an earlier event: the
    /// chain's events are all on the versions, `history --verify` reports
    /// the head as behind, and the next apply reads the head from the
    /// events themselves ([`Self::observe_state`]) and writes it.
    fn write_head(&self, model: &str) -> Result<(), BackendError> {
        if !lock(&self.unwritten_heads).remove(model) {
            return Ok(());
        }
        let Some((n, hash)) = lock(&self.heads).get(model).cloned() else {
            return Ok(());
        };
        let written = self.send(&request::set_registered_model_tag(
            model,
            EVENTS_HEAD_TAG,
            &json!({"seq": n, "hash": hash}).to_string(),
        ));
        if written.is_err() {
            lock(&self.unwritten_heads).insert(model.to_string());
        }
        written.map(|_| ())
    }

    /// The model's last chained event (number, hash): as observed (its head
    /// tag, or its last event when that is further on), else read once
    /// from its head tag; `(0, genesis)` for a model without one.
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

    /// Moves version `number` to `to`: its MLflow stage, then the stage
    /// aliases (off the version when `from`'s alias names it, onto it for
    /// `to`), then, with `stage_tag`, the tag saying modelops moved it (a
    /// new version carries that tag from its creation).
    fn transition(
        &self,
        model: &str,
        number: u64,
        from: Stage,
        to: Stage,
        stage_tag: bool,
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
        if stage_tag {
            self.send(&request::set_model_version_tag(
                model,
                number,
                STAGE_TAG,
                to.as_str(),
            ))?;
        }
        Ok(())
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

pub(in crate::backend::mlflow) fn tags_of(v: &Value) -> BTreeMap<String, String> {
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

pub(in crate::backend::mlflow) fn text<'v>(v: &'v Value, field: &str) -> &'v str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

impl Registry for MlflowRegistry {
    fn describe(&self) -> String {
        format!("MLflow at {}", self.client.endpoint().shown())
    }

    fn observe(&mut self) -> Result<ActualState, BackendError> {
        self.observe_state()
    }

    fn writers(&self, models: usize) -> Vec<Box<dyn RegistryOps + Send + '_>> {
        // Models are independent: up to `writers` of them are written at once.
        (0..self.writers.min(models))
            .map(|_| Box::new(Writer(self)) as Box<dyn RegistryOps + Send>)
            .collect()
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        // Every step is durable in MLflow as soon as it is sent. Head tags
        // still behind their model's last event (a model this run did not
        // write, after an earlier apply was cut short) are brought up to it;
        // one that cannot be written now is left for the next apply, which
        // reads the head from the events themselves.
        let behind: Vec<String> = lock(&self.unwritten_heads).iter().cloned().collect();
        crate::http::bounded::map(&behind, self.writers, |model| self.write_head(model));
        Ok(())
    }

    fn lock(&mut self, timeout: std::time::Duration, command: &str) -> Result<(), BackendError> {
        self.take_lock(timeout, command)
    }

    fn run_metrics(
        &mut self,
        runs: &[String],
    ) -> Result<BTreeMap<String, Option<SortedMap<String, f64>>>, BackendError> {
        self.read_run_metrics(runs)
    }

    fn artifacts_gone(
        &mut self,
        model: &str,
        version: &VersionId,
    ) -> Result<Option<String>, BackendError> {
        self.read_artifacts_gone(model, version)
    }

    fn logged_signature(
        &mut self,
        source: &str,
        run_id: Option<&str>,
    ) -> Option<Result<LoggedSignature, BackendError>> {
        self.read_logged_signature(source, run_id)
    }

    fn read_signatures_ahead(&mut self, sources: &[(String, Option<String>)]) {
        self.prefetch_signatures(sources)
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        self.release_lock()
    }

    fn events(&mut self, model: &str) -> Result<Vec<Event>, BackendError> {
        self.read_events(model)
    }
}
