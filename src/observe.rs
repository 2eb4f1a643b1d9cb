//! Observing what validation gates read beyond the registry's state: the
//! training runs' logged metrics, the registry's logged-model signatures,
//! and latency benchmarks against serving endpoints. The I/O half of the
//! gates; [`crate::reconcile::gates`] is the pure half.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::backend::Registry;
use crate::backend::benchmark::{self, BenchmarkSpec};
use crate::manifest::policy::Benchmark;
use crate::reconcile::GateCandidate;
use crate::reconcile::gates::GateObservations;
use crate::state::LatencyReport;

/// How long one benchmark request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the logged signature of every candidate (registries that keep
/// model artifacts) and runs the benchmark its policy names. A failure
/// is recorded against the candidate, where its gate fails with the reason.
pub fn gate_observations(
    registry: &mut dyn Registry,
    candidates: &[GateCandidate],
    repo: &Path,
) -> GateObservations {
    let mut out = GateObservations::default();
    for c in candidates {
        let key = (c.model.clone(), c.version.clone());
        if out.logged_signatures.contains_key(&key) || out.benchmarks.contains_key(&key) {
            continue;
        }
        if let Some(read) = registry.logged_signature(&c.source, c.run_id.as_deref()) {
            out.logged_signatures
                .insert(key.clone(), read.map_err(|e| e.to_string()));
        }
        if let Some(b) = &c.benchmark {
            out.benchmarks.insert(key, run_benchmark(b, c, repo));
        }
    }
    out
}

/// The endpoint of a benchmark for one version: `{model}` and `{version}`
/// in the policy's URL are replaced.
pub fn endpoint_for(b: &Benchmark, model: &str, version: &str) -> String {
    b.endpoint
        .replace("{model}", model)
        .replace("{version}", version)
}

fn run_benchmark(b: &Benchmark, c: &GateCandidate, repo: &Path) -> Result<LatencyReport, String> {
    let path = repo.join(&b.payload_file);
    let payload = std::fs::read(&path)
        .map_err(|e| format!("cannot read the benchmark payload {}: {e}", b.payload_file))?;
    let endpoint = endpoint_for(b, &c.model, &c.version.to_string());
    benchmark::run(&BenchmarkSpec {
        endpoint: &endpoint,
        payload: &payload,
        requests: b.requests,
        concurrency: b.concurrency,
        timeout: REQUEST_TIMEOUT,
    })
    .map_err(|e| e.to_string())
}

/// Logged metrics of these training runs, for verification and gates.
pub fn run_metrics(
    registry: &mut dyn Registry,
    runs: &[String],
) -> Result<
    std::collections::BTreeMap<String, Option<crate::manifest::sorted_map::SortedMap<String, f64>>>,
> {
    registry
        .run_metrics(runs)
        .with_context(|| format!("cannot read training runs from {}", registry.describe()))
}
