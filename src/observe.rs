//! Observing what planning reads beyond the registry's state: the training
//! runs' logged metrics, the registry's logged-model signatures, latency
//! benchmarks against serving endpoints, the serving targets' routing, and
//! the metrics rollouts are judged by. The I/O half of gates and rollouts;
//! [`crate::reconcile`] is the pure half.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use crate::backend::Registry;
use crate::backend::benchmark::{self, BenchmarkSpec};
use crate::backend::metrics::{MetricQuery, MetricsError, MetricsProvider, Unanswered};
use crate::backend::serving::Targets;
use crate::manifest::Desired;
use crate::manifest::policy::Benchmark;
use crate::manifest::trusted::TrustedSettings;
use crate::reconcile::GateCandidate;
use crate::reconcile::gates::GateObservations;
use crate::reconcile::{Observations, Scope, metric_queries};
use crate::source::confined::{self, Cap};
use crate::state::LatencyReport;
use crate::state::{ActualState, TrafficRecord};

/// How long one benchmark request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the logged signature of every candidate (registries that keep
/// model artifacts) and runs the benchmark its policy names. A failure
/// is recorded against the candidate, where its gate fails with the reason.
///
/// With `trust` (a pull request's plan: its desired state and the base
/// revision's settings) a benchmark runs only as the base declares it; one
/// the pull request changed or added is not run, and its gate fails saying so.
pub fn gate_observations(
    registry: &mut dyn Registry,
    candidates: &[GateCandidate],
    repo: &Path,
    trust: Option<(&Desired, &TrustedSettings)>,
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
        let Some(b) = &c.benchmark else {
            continue;
        };
        let policy = trust.and_then(|(d, t)| Some((d.models.get(&c.model)?.policy.as_str(), t)));
        let declared_in = match policy {
            Some((name, t)) => t.policy_file(name),
            None => "its policy".to_string(),
        };
        let allowed = match policy {
            Some((name, t)) => t.benchmark(name, c.to, b),
            None if trust.is_some() => Err("not run: the model is unknown".to_string()),
            None => Ok(()),
        };
        let result = allowed.and_then(|()| run_benchmark(b, c, repo, &declared_in));
        out.benchmarks.insert(key, result);
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

/// Largest benchmark payload read (16 MiB): one request's body.
const PAYLOAD_CAP: Cap = Cap {
    bytes: 16 * 1024 * 1024,
    kind: "benchmark payloads",
};

fn run_benchmark(
    b: &Benchmark,
    c: &GateCandidate,
    repo: &Path,
    declared_in: &str,
) -> Result<LatencyReport, String> {
    let payload = confined::read(repo, &b.payload_file, PAYLOAD_CAP).map_err(|why| {
        format!(
            "not run: {declared_in}: benchmark.payload_file `{}`: {why}",
            b.payload_file
        )
    })?;
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

/// What the serving targets route, read back from every configured target:
/// the routing of each deployed model on the target its deployment names,
/// and every other route a target holds (`unowned`: no deployment routes
/// that model there any more, so the plan removes it).
#[derive(Debug, Default)]
pub struct Serving {
    /// Routing per deployed model.
    pub owned: BTreeMap<String, TrafficRecord>,
    /// `(model, routing)` of routes no deployment owns.
    pub unowned: Vec<(String, TrafficRecord)>,
}

/// Reads [`Serving`] from every target.
pub fn observe_serving(desired: &Desired, targets: &mut Targets) -> Result<Serving> {
    let mut out = Serving::default();
    for (name, target) in targets.iter_mut() {
        let routes = target
            .observe()
            .with_context(|| format!("cannot read the routing of {}", target.describe()))?;
        for (model, traffic) in routes {
            let ours = desired
                .deployments
                .get(&model)
                .is_some_and(|d| &d.target == name);
            if ours {
                out.owned.insert(model, traffic);
            } else {
                out.unowned.push((model, traffic));
            }
        }
    }
    Ok(out)
}

/// Asks the providers every question the plan's rollout decisions need,
/// re-planning until no new question comes. An answer that cannot be had
/// is recorded as an error: the analysis treats it as one, never as a pass.
pub fn rollout_metrics(
    desired: &Desired,
    actual: &ActualState,
    observations: &mut Observations,
    now: Timestamp,
    scope: &Scope,
    providers: &mut BTreeMap<String, Box<dyn MetricsProvider>>,
) {
    // A provider that cannot be reached is not asked again in this run: a
    // host that drops packets would otherwise cost a timeout per question.
    let mut down: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..4 {
        let queries = metric_queries(desired, actual, observations, now, scope);
        if queries.is_empty() {
            return;
        }
        // Each provider's questions of this round go to it together, so it
        // can ask them concurrently.
        let mut asked: BTreeMap<String, Vec<MetricQuery>> = BTreeMap::new();
        for q in queries {
            let named = desired
                .deployments
                .get(&q.model)
                .and_then(|d| d.analysis.provider.clone());
            let chosen = match named {
                Some(n) => Some(n),
                None if providers.len() == 1 => providers.keys().next().cloned(),
                None => None,
            };
            match chosen {
                Some(n) if providers.contains_key(&n) => asked.entry(n).or_default().push(q),
                Some(n) => {
                    let why = format!(
                        "metrics provider {n} is not declared in modelops.yaml (on a pull \
                         request, the base revision's: a provider it adds is used after merge)"
                    );
                    observations.metrics.insert(q, Err(why));
                }
                None if providers.is_empty() => {
                    let why = "no metrics provider: declare one in modelops.yaml under metrics";
                    observations.metrics.insert(q, Err(why.to_string()));
                }
                None => {
                    let known: Vec<&str> = providers.keys().map(String::as_str).collect();
                    let why = format!(
                        "no metrics provider chosen: name one in the deployment's analysis.provider ({})",
                        known.join(", ")
                    );
                    observations.metrics.insert(q, Err(why));
                }
            }
        }
        for (name, questions) in asked {
            if let Some(why) = down.get(&name) {
                for q in questions {
                    observations.metrics.insert(q, Err(why.clone()));
                }
                continue;
            }
            let p = providers
                .get_mut(&name)
                .expect("grouped by known providers");
            let answers = p.query_all(&questions);
            for (q, answer) in questions.into_iter().zip(answers) {
                // Provider errors name the provider and what was asked.
                let answer = match answer {
                    Ok(v) => Ok(v),
                    // An unreachable server is said once, without the
                    // question, and not asked again this run.
                    Err(MetricsError::Unavailable(u)) if u.kind() == Unanswered::Unreachable => {
                        let why = format!("{}: {}", p.describe(), u.cause());
                        down.insert(name.clone(), why.clone());
                        Err(why)
                    }
                    Err(e) => Err(e.to_string()),
                };
                observations.metrics.insert(q, answer);
            }
        }
    }
}
