//! Reads for gates and history: runs' metrics, whether a version's artifacts
//! are servable, logged signatures, and the audit events kept in tags.

use super::*;
use crate::http::bounded;

impl MlflowRegistry {
    /// Each run's metrics, `None` for a run MLflow does not have. Runs not
    /// yet read by this command are sent for `readers` at once; each is
    /// read once per command (the signature check and the re-check under
    /// the lock reuse it).
    pub(super) fn read_run_metrics(
        &mut self,
        runs: &[String],
    ) -> Result<BTreeMap<String, Option<SortedMap<String, f64>>>, BackendError> {
        let read = self
            .reads
            .runs(&self.client, runs, self.readers)
            .map_err(backend)?;
        Ok(read
            .into_iter()
            .map(|(id, run)| {
                let metrics = run.map(|run| {
                    run["data"]["metrics"]
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
                        .unwrap_or_default()
                });
                (id, metrics)
            })
            .collect())
    }

    /// Reads the signatures logged at these `(source, run_id)`s, `readers`
    /// at once, into the command's cache, where
    /// [`Self::read_logged_signature`] finds them. A failure is not kept:
    /// the one-by-one read says it.
    pub(super) fn prefetch_signatures(&mut self, sources: &[(String, Option<String>)]) {
        let mut wanted: Vec<&(String, Option<String>)> = sources
            .iter()
            .filter(|(s, r)| self.reads.signature(s, r.as_deref()).is_none())
            .collect();
        wanted.sort();
        wanted.dedup();
        // Their runs first, all at once: a missing run ends the search for
        // its MLmodel without another request.
        let runs: Vec<String> = wanted
            .iter()
            .filter_map(|(s, r)| match super::super::mlmodel::location_of(s) {
                super::super::mlmodel::ModelLocation::Run { run_id, .. } => {
                    Some(run_id.to_string())
                }
                _ => r.clone(),
            })
            .collect();
        let _ = self.reads.runs(&self.client, &runs, self.readers);
        let (client, reads) = (&self.client, &self.reads);
        bounded::map(&wanted, self.readers, |(source, run_id)| {
            super::super::mlmodel::logged_signature(client, reads, source, run_id.as_deref())
        });
    }

    /// Why `version`'s artifacts cannot be served, or `None` when they can.
    pub(super) fn read_artifacts_gone(
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

    /// The signature logged with the model at `source`.
    pub(super) fn read_logged_signature(
        &mut self,
        source: &str,
        run_id: Option<&str>,
    ) -> Option<Result<LoggedSignature, BackendError>> {
        Some(
            super::super::mlmodel::logged_signature(&self.client, &self.reads, source, run_id)
                .map_err(backend),
        )
    }

    /// `model`'s audit events, read back from its versions' event tags.
    pub(super) fn read_events(&mut self, model: &str) -> Result<Vec<Event>, BackendError> {
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
