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
use crate::manifest::VersionId;
use crate::manifest::policy::Benchmark;
use crate::manifest::trusted::TrustedSettings;
use crate::reconcile::gates::GateObservations;
use crate::reconcile::gates::rollback::{Readiness, ServingCheck};
use crate::reconcile::rollback::{self, Exclusion};
use crate::reconcile::{GateCandidate, RollbackCandidate};
use crate::reconcile::{Observations, Scope, metric_queries};
use crate::source::confined::{self, Cap};
use crate::state::Event;
use crate::state::LatencyReport;
use crate::state::drill::drills;
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
    let sources: Vec<(String, Option<String>)> = candidates
        .iter()
        .filter(|c| c.signature)
        .map(|c| (c.source.clone(), c.run_id.clone()))
        .collect();
    registry.read_signatures_ahead(&sources);
    for c in candidates {
        let key = (c.model.clone(), c.version.clone());
        if out.logged_signatures.contains_key(&key) || out.benchmarks.contains_key(&key) {
            continue;
        }
        // A version without a declared signature has nothing to compare.
        let read = match c.signature {
            true => registry.logged_signature(&c.source, c.run_id.as_deref()),
            false => None,
        };
        if let Some(read) = read {
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

/// Gathers what the rollback gates of `candidates` read, into `out`: for
/// `rollback_ready`, the version a rollback would go to after the move
/// ([`rollback::ready_target`]), whether the registry still has it (and its
/// artifacts, where it can tell), and its health check on every serving
/// target that routes the model (`routed`: model → target names); for
/// `rollback_drill`, the model's drills from its event log. What cannot be
/// read is recorded as such, and the gate fails saying so.
pub fn rollback_evidence(
    registry: &mut dyn Registry,
    actual: &ActualState,
    candidates: &[RollbackCandidate],
    routed: &BTreeMap<String, Vec<String>>,
    targets: &Targets,
    out: &mut GateObservations,
) {
    let mut events: BTreeMap<&str, Result<Vec<Event>, String>> = BTreeMap::new();
    let mut gone = Gone::new();
    for c in candidates {
        let model = actual.models.get(&c.model);
        let log = events
            .entry(c.model.as_str())
            .or_insert_with(|| match model {
                Some(_) => registry
                    .events(&c.model)
                    .map_err(|e| format!("cannot read the event log of {}: {e}", c.model)),
                None => Ok(Vec::new()),
            });
        if c.drills {
            out.drills
                .insert(c.model.clone(), log.clone().map(|e| drills(&e)));
        }
        let key = (c.model.clone(), c.version.clone());
        let rollout = actual.rollouts.get(&c.model);
        let after = match (model, &*log) {
            (Some(m), Ok(log)) => {
                rollback::candidates_after(m, Some(&c.version), log, rollout, &[])
            }
            _ => Vec::new(),
        };
        // Nothing but versions that never served (or nothing at all): the
        // move makes the model's first Production version.
        let first = after
            .iter()
            .all(|x| x.excluded == Some(Exclusion::NeverServed));
        if first && log.is_ok() {
            out.first_production.insert(key.clone());
        }
        if !c.ready {
            continue;
        }
        let found = match (model, &*log) {
            (_, Err(why)) => Readiness::Unknown(why.clone()),
            (None, Ok(_)) => Readiness::FirstProduction,
            (Some(_), Ok(_)) => match rollback::ready_target(&after) {
                None if first => Readiness::FirstProduction,
                None => Readiness::NoKnownGood(rollback::candidate_lines(&after)),
                Some(t) => {
                    let v = t.version.clone();
                    let registry_check = servable(registry, &mut gone, &c.model, t);
                    let serving = if registry_check.is_ok() {
                        health(targets, routed.get(&c.model), &c.model, &v)
                    } else {
                        Vec::new()
                    };
                    Readiness::Target {
                        version: v,
                        registry: registry_check,
                        serving,
                    }
                }
            },
        };
        out.rollback_ready.insert(key, found);
    }
}

/// Artifacts asked after, per version: whether they are gone, or why the
/// registry could not say.
type Gone = BTreeMap<(String, VersionId), Result<Option<String>, String>>;

/// The registry's word on the rollback target `t` of `model`: deleted (its
/// exclusion says so), its artifacts gone (asked once per version), or
/// registered.
fn servable(
    registry: &mut dyn Registry,
    gone: &mut Gone,
    model: &str,
    t: &rollback::Candidate,
) -> Result<String, String> {
    let v = &t.version;
    if let Some(e) = &t.excluded {
        return Err(format!("version {v}: {e}"));
    }
    let asked = gone
        .entry((model.to_string(), v.clone()))
        .or_insert_with(|| {
            registry
                .artifacts_gone(model, v)
                .map_err(|e| format!("cannot ask {} about version {v}: {e}", registry.describe()))
        });
    match asked {
        Err(why) => Err(why.clone()),
        Ok(Some(why)) => Err(format!("version {v}: artifacts gone: {why}")),
        Ok(None) => Ok(format!("version {v} is registered")),
    }
}

/// `version`'s health check on each of `names` (the targets routing the model).
fn health(
    targets: &Targets,
    names: Option<&Vec<String>>,
    model: &str,
    version: &VersionId,
) -> Vec<ServingCheck> {
    names
        .into_iter()
        .flatten()
        .filter_map(|name| targets.get(name))
        .map(|t| ServingCheck {
            target: t.describe(),
            health: t
                .check_health(model, &version.to_string())
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// Which targets route each model, as [`Serving`] read them: model →
/// target names.
pub fn routed_on(serving: &Serving) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (model, route) in serving
        .owned
        .iter()
        .chain(serving.unowned.iter().map(|(m, r)| (m, r)))
    {
        out.entry(model.clone())
            .or_default()
            .push(route.target.clone());
    }
    out
}

/// Which targets route each model, read from every target: model → target
/// names.
pub fn routes(targets: &mut Targets) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, target) in targets.iter_mut() {
        let routes = target
            .observe()
            .with_context(|| format!("cannot read the routing of {}", target.describe()))?;
        for model in routes.into_keys() {
            out.entry(model).or_default().push(name.clone());
        }
    }
    Ok(out)
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
