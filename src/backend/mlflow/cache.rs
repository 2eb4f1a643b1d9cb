//! What one command has read from MLflow that does not change under it: each
//! training run (`runs/get`) and each logged model's signature. Plan, the gates
//! and the re-check under the apply lock ask for the same runs; each distinct
//! run is sent for once per command and the answer reused. Shared by every
//! registry the command builds (the [`crate::backend::Env`] carries it; clones
//! share one cache), and safe to use from several threads.
//!
//! Only answers are kept: a run MLflow has, or `None` for one it does not.
//! A failed call is not kept, so the next asker sends it again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::client::{Client, ClientError};
use super::request;
use crate::http::bounded;
use crate::state::LoggedSignature;

/// A run as `runs/get` answered it (`run`), or `None` when MLflow has no such run.
pub type RunAnswer = Option<Arc<Value>>;

/// The reads of one command; cloning shares it.
#[derive(Clone, Default)]
pub struct ReadCache(Arc<Inner>);

#[derive(Default)]
struct Inner {
    runs: Mutex<BTreeMap<String, RunAnswer>>,
    signatures: Mutex<BTreeMap<(String, Option<String>), LoggedSignature>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReadCache {
    /// A new, empty cache (one per command).
    pub fn new() -> ReadCache {
        ReadCache::default()
    }

    /// The run `run_id`, sent for only when this command has not read it.
    pub fn run(&self, client: &Client, run_id: &str) -> Result<RunAnswer, ClientError> {
        if let Some(known) = lock(&self.0.runs).get(run_id) {
            return Ok(known.clone());
        }
        let answer = match client.send(&request::get_run(run_id)) {
            Ok(mut v) => Some(Arc::new(v["run"].take())),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => None,
            Err(e) => return Err(e),
        };
        lock(&self.0.runs).insert(run_id.to_string(), answer.clone());
        Ok(answer)
    }

    /// Every run of `run_ids`, those not yet read sent for `readers` at once
    /// (`runs/get` each: measured faster than `runs/search` by id, see
    /// docs/mlflow.md). The first failure is returned.
    pub fn runs(
        &self,
        client: &Client,
        run_ids: &[String],
        readers: usize,
    ) -> Result<BTreeMap<String, RunAnswer>, ClientError> {
        let missing: Vec<&String> = {
            let known = lock(&self.0.runs);
            let mut m: Vec<&String> = run_ids.iter().filter(|r| !known.contains_key(*r)).collect();
            m.sort();
            m.dedup();
            m
        };
        for answer in bounded::map(&missing, readers, |r| self.run(client, r)) {
            answer?;
        }
        let known = lock(&self.0.runs);
        Ok(run_ids
            .iter()
            .filter_map(|r| Some((r.clone(), known.get(r)?.clone())))
            .collect())
    }

    /// The signature read for `(source, run_id)` earlier in this command.
    pub fn signature(&self, source: &str, run_id: Option<&str>) -> Option<LoggedSignature> {
        lock(&self.0.signatures)
            .get(&(source.to_string(), run_id.map(str::to_string)))
            .cloned()
    }

    /// Keeps the signature read for `(source, run_id)`.
    pub fn keep_signature(&self, source: &str, run_id: Option<&str>, found: &LoggedSignature) {
        lock(&self.0.signatures).insert(
            (source.to_string(), run_id.map(str::to_string)),
            found.clone(),
        );
    }
}
