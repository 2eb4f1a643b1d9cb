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

/// How runs not yet read are asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunFetch {
    /// `runs/search` by id (`attributes.run_id IN (…)`, [`RUN_SEARCH_CHUNK`]
    /// ids a request) in every experiment: one request answers many runs.
    /// Measured faster than concurrent `runs/get` (docs/mlflow.md), so the
    /// default. Falls back to `runs/get` when the search is refused.
    #[default]
    Search,
    /// One `runs/get` per run, `readers` at once.
    Get,
}

impl RunFetch {
    /// `MODELOPS_MLFLOW_RUNS=get` chooses [`RunFetch::Get`] (for measuring
    /// the difference, bench/mlflow.sh); anything else the default.
    pub fn from_var(value: Option<&str>) -> RunFetch {
        match value {
            Some("get") => RunFetch::Get,
            _ => RunFetch::Search,
        }
    }
}

/// Run ids per `runs/search`.
pub const RUN_SEARCH_CHUNK: usize = 100;

/// The reads of one command; cloning shares it.
#[derive(Clone, Default)]
pub struct ReadCache(Arc<Inner>);

#[derive(Default)]
struct Inner {
    fetch: RunFetch,
    runs: Mutex<BTreeMap<String, RunAnswer>>,
    signatures: Mutex<BTreeMap<(String, Option<String>), LoggedSignature>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ReadCache {
    /// A new, empty cache (one per command), asking for runs as `fetch` says.
    pub fn new(fetch: RunFetch) -> ReadCache {
        ReadCache(Arc::new(Inner {
            fetch,
            ..Inner::default()
        }))
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

    /// Every run of `run_ids`, those not yet read asked for as the cache's
    /// [`RunFetch`] says, `readers` requests at once. The first failure is
    /// returned.
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
        if self.0.fetch == RunFetch::Search && missing.len() > 1 {
            // What the search could not answer is asked for one by one below.
            let _ = self.search(client, &missing, readers);
        }
        let missing: Vec<&String> = {
            let known = lock(&self.0.runs);
            missing
                .into_iter()
                .filter(|r| !known.contains_key(*r))
                .collect()
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

    /// Asks `runs/search` for `run_ids` in every experiment, chunks of
    /// [`RUN_SEARCH_CHUNK`] ids `readers` at once, and keeps each answer: a
    /// run found, or `None` for an id a search answered without it.
    fn search(
        &self,
        client: &Client,
        run_ids: &[&String],
        readers: usize,
    ) -> Result<(), ClientError> {
        let mut experiments = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client.send(&request::search_experiments(token.as_deref()))?;
            for e in page["experiments"].as_array().into_iter().flatten() {
                if let Some(id) = e["experiment_id"].as_str() {
                    experiments.push(id.to_string());
                }
            }
            match page["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        let chunks: Vec<&[&String]> = run_ids.chunks(RUN_SEARCH_CHUNK).collect();
        let answers = bounded::map(&chunks, readers, |chunk| {
            let ids: Vec<&str> = chunk.iter().map(|r| r.as_str()).collect();
            match request::search_runs_by_id(&experiments, &ids) {
                Some(r) => client.send(&r).map(Some),
                None => Ok(None),
            }
        });
        for (chunk, answer) in chunks.iter().zip(answers) {
            let Some(mut answer) = answer? else { continue };
            let mut found: BTreeMap<String, RunAnswer> =
                chunk.iter().map(|r| (r.to_string(), None)).collect();
            if let Some(runs) = answer["runs"].as_array_mut() {
                for run in runs.drain(..) {
                    if let Some(id) = run["info"]["run_id"].as_str()
                        && let Some(slot) = found.get_mut(id)
                    {
                        *slot = Some(Arc::new(run));
                    }
                }
            }
            lock(&self.0.runs).extend(found);
        }
        Ok(())
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
