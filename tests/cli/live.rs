//! The live loop: real model servers (`mlflow models serve` on versions
//! trained and registered in the suite's MLflow), real traffic from the
//! bounded load generator, and — with Envoy — rollouts judged on what
//! Prometheus scraped from that traffic.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use modelops::backend::serving::ServingTarget;
use modelops::backend::serving::envoy::EnvoyTarget;
use modelops::manifest::config::EnvoyTargetConfig;

use crate::common::Repo;
use crate::e2e::models::{Kind, Load, ModelServers, Sent, Trained, train};
use crate::e2e::servers::{Envoy, Prometheus, free_port, mlflow_serial, mlflow_url, unique};
use crate::fixtures::{NO_GATES_POLICY, POLICY_FILE};

/// What the loop relies on: a good version answers every request, a bad one
/// answers 500 for about a third of them (and slower), and the load
/// generator stops by itself at its count.
#[test]
fn a_good_and_a_bad_version_answer_as_the_loop_expects() {
    let Some(url) = mlflow_url() else { return };
    let model = unique("live-fixture");
    let trained = train(&url, Some(&model), &[Kind::Good, Kind::Bad]);
    let (good, bad) = (trained[0].version.unwrap(), trained[1].version.unwrap());
    assert_eq!((good, bad), (1, 2), "fresh model, versions in order");
    assert!(trained[0].source.starts_with("models:/m-"), "{trained:?}");
    assert_ne!(trained[0].run, trained[1].run, "a run per model");
    let servers = ModelServers::start(&url, &model, &[good, bad]);
    for (version, kind) in [(good, Kind::Good), (bad, Kind::Bad)] {
        let target = format!("http://127.0.0.1:{}/invocations", servers.port(version));
        let sent = Load::start(&target, 150, 20, 100).finish();
        assert_eq!(sent.len(), 150, "the count bounds the load");
        let failed = sent.iter().filter(|s| s.status != 200).count();
        let five_xx = sent.iter().filter(|s| s.status >= 500).count();
        match kind {
            Kind::Good => assert_eq!(failed, 0, "version {version} (good)"),
            Kind::Bad => {
                assert_eq!(five_xx, failed, "a bad version's failures are 5xx");
                assert!(
                    (25..=80).contains(&five_xx),
                    "about a third fail: {five_xx}"
                );
            }
        }
    }
}

/// The model of the loop test: its four versions and their stages in git.
fn model_yaml(name: &str, trained: &[Trained], stages: [&str; 4]) -> String {
    let versions: String = trained
        .iter()
        .zip(stages)
        .enumerate()
        .map(|(i, (t, stage))| {
            format!(
                "    - {{version: {}, stage: {stage}, source: \"{}\", training_run_id: {}}}\n",
                i + 1,
                t.source,
                t.run
            )
        })
        .collect();
    format!(
        "apiVersion: modelops/v1\nkind: Model\nmetadata: {{name: {name}, owner: ml-platform}}\nspec:\n  versions:\n{versions}"
    )
}

/// A deployment of `name` on the `edge` Envoy, analysed on the `prom`
/// Prometheus with seconds-long stages.
fn deployment(name: &str, strategy: &str) -> String {
    format!(
        "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  model: {name}\n  target: edge\n  analysis: {{provider: prom, warmup: 4s, min_requests: 20, max_consecutive_errors: 5}}\n{strategy}"
    )
}

const CANARY: &str = "  canary:\n    stages:\n      - {traffic_percent: 20, duration: 12s, rollback_if: {error_rate_increase: 5%, latency_p99_increase: 150ms}}\n      - {traffic_percent: 50, duration: 12s, rollback_if: {error_rate_increase: 5%, latency_p99_increase: 150ms}}\n      - {traffic_percent: 100, duration: 6s}\n";

/// The routing Envoy serves for `model`, read from its admin API: percent
/// per version, and `mirror:N` for a version mirrored N percent.
fn envoy_routing(config: &EnvoyTargetConfig, model: &str) -> BTreeMap<String, u8> {
    let mut target = EnvoyTarget::new("edge", config, Path::new("/")).expect("a target");
    let routes = target.observe().expect("Envoy's routing");
    let Some(route) = routes.get(model) else {
        return BTreeMap::new();
    };
    let mut out = route.weights.clone();
    for (version, percent) in &route.mirrors {
        out.insert(format!("mirror:{version}"), *percent);
    }
    out
}

/// Applies every 2 s until `done` holds for an apply's output (or 120 s
/// pass); returns each apply's output and the routing Envoy held after it.
fn apply_until(
    repo: &Repo,
    env: &[(&str, &str)],
    edge: &EnvoyTargetConfig,
    model: &str,
    done: impl Fn(&str) -> bool,
) -> Vec<(String, BTreeMap<String, u8>)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let run = repo.run_with(&["apply", "--auto-approve"], env);
        let out = format!("{}{}", run.stdout(), run.stderr());
        let weights = envoy_routing(edge, model);
        eprintln!(
            "[{:>5.1}s] {weights:?}\n{out}",
            started.elapsed().as_secs_f64()
        );
        let finished = done(&out);
        seen.push((out, weights));
        if finished {
            return seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not done after 120 s of applies:\n{}",
            seen.iter()
                .map(|(o, w)| format!("{w:?}\n{o}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn routing(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The requests sent in `[from, to)` (Unix seconds).
fn between(sent: &[Sent], from: f64, to: f64) -> Vec<&Sent> {
    sent.iter().filter(|s| s.at >= from && s.at < to).collect()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The live loop, end to end with the real clock: versions trained and
/// registered in MLflow, served by `mlflow models serve` behind Envoy,
/// Prometheus scraping Envoy every second, a bounded load running
/// throughout, and `modelops apply` in a loop. A canary of a good version
/// advances stage by stage on those live metrics and completes; a canary of
/// a bad one is rolled back on its error rate, Envoy's routing back on the
/// stable version; a bad version in shadow receives mirrored traffic while
/// every answer comes from the primary.
#[test]
fn a_canary_completes_a_bad_one_rolls_back_and_a_shadow_is_never_served() {
    let Some(url) = mlflow_url() else { return };
    let Some(envoy) = Envoy::start() else { return };
    let Some(prometheus) = Prometheus::scraping(&envoy.admin(), "/stats/prometheus") else {
        return;
    };
    let _serial = mlflow_serial();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let model = format!("live-loop-{}", &unique("k")[2..].replace('-', ""));
    let file = format!("models/{model}.yaml");
    let deployment_file = format!("deployments/{model}.yaml");

    // Four logged models: good, good, bad, bad. modelops registers them.
    let trained = train(&url, None, &[Kind::Good, Kind::Good, Kind::Bad, Kind::Bad]);
    let repo = Repo::new();
    repo.real_clock();
    repo.file(POLICY_FILE, NO_GATES_POLICY);
    repo.file(
        &file,
        model_yaml(
            &model,
            &trained,
            ["Production", "Staging", "Staging", "Staging"],
        ),
    );
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    let servers = ModelServers::start(&url, &model, &[1, 2, 3, 4]);

    // Envoy in front of the four servers, version 1 taking all traffic.
    let listen = free_port();
    let edge = EnvoyTargetConfig {
        config_dir: Some(envoy.config_dir().display().to_string()),
        admin: Some(envoy.admin()),
        listen: [(model.clone(), format!("127.0.0.1:{listen}"))].into(),
        upstream_template: None,
        upstreams: [(
            model.clone(),
            servers
                .address
                .iter()
                .map(|(v, a)| (v.to_string(), a.clone()))
                .collect(),
        )]
        .into(),
        health_path: Some("/ping".into()),
    };
    let upstreams: Vec<String> = servers
        .address
        .iter()
        .map(|(v, a)| format!("\"{v}\": \"{a}\""))
        .collect();
    repo.file(
        "modelops.yaml",
        format!(
            "apiVersion: modelops/v1\nkind: Config\nspec:\n  registry: {{type: mlflow}}\n  serving:\n    targets:\n      edge:\n        type: envoy\n        config_dir: {}\n        admin: \"{}\"\n        listen: {{{model}: \"127.0.0.1:{listen}\"}}\n        upstreams:\n          {model}: {{{}}}\n        health_path: /ping\n  metrics:\n    prom:\n      type: prometheus\n      url: {}\n      preset: envoy\n",
            envoy.config_dir().display(),
            envoy.admin(),
            upstreams.join(", "),
            prometheus.url
        ),
    );
    repo.file(&deployment_file, deployment(&model, "  direct: {}\n"));
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    assert_eq!(envoy_routing(&edge, &model), routing(&[("1", 100)]));

    // Live traffic for the whole test; it stops itself.
    let load = Load::start(
        &format!("http://127.0.0.1:{listen}/invocations"),
        12_000,
        300,
        40,
    );

    // 1. A canary of good version 2 advances stage by stage and completes.
    repo.file(
        &file,
        model_yaml(
            &model,
            &trained,
            ["Archived", "Production", "Staging", "Staging"],
        ),
    );
    repo.file(&deployment_file, deployment(&model, CANARY));
    let good = apply_until(&repo, &env, &edge, &model, |out| {
        out.contains("(canary completed 3 stages)")
    });
    let stages: Vec<&BTreeMap<String, u8>> = good.iter().map(|(_, r)| r).collect();
    for want in [
        routing(&[("1", 80), ("2", 20)]),
        routing(&[("1", 50), ("2", 50)]),
    ] {
        assert!(
            stages.contains(&&want),
            "the canary passed through {want:?}: {stages:?}"
        );
    }
    assert_eq!(envoy_routing(&edge, &model), routing(&[("2", 100)]));
    let all = good.iter().map(|(o, _)| o.as_str()).collect::<String>();
    assert!(all.contains("canary 20% → 50%"), "{all}");
    assert!(all.contains("canary 50% → 100%"), "{all}");
    assert!(!all.contains("roll back"), "{all}");

    // 2. A canary of bad version 3 is rolled back on its live error rate.
    repo.file(
        &file,
        model_yaml(
            &model,
            &trained,
            ["Archived", "Archived", "Production", "Staging"],
        ),
    );
    let bad = apply_until(&repo, &env, &edge, &model, |out| out.contains("Rejected"));
    let rolled_back_at = unix_now();
    std::thread::sleep(Duration::from_secs(5));
    let all = bad.iter().map(|(o, _)| o.as_str()).collect::<String>();
    assert!(
        all.contains(&format!(
            "roll back {model} canary at 20%: error_rate_increase"
        )),
        "rolled back on its error rate: {all}"
    );
    assert!(
        bad.iter()
            .any(|(_, r)| r == &routing(&[("2", 80), ("3", 20)])),
        "version 3 took its 20% first: {bad:?}"
    );
    assert_eq!(
        envoy_routing(&edge, &model),
        routing(&[("2", 100)]),
        "routing back on version 2, read from Envoy"
    );

    // 3. Bad version 4 in shadow: mirrored live traffic, never served.
    repo.file(
        &file,
        model_yaml(
            &model,
            &trained,
            ["Archived", "Production", "Archived", "Staging"],
        ),
    );
    repo.file(
        &deployment_file,
        deployment(
            &model,
            "  shadow:\n    primary: {version: 2, traffic_percent: 100}\n    shadow: {version: 4, traffic_percent: 50}\n    comparison: {metrics: [latency_p99], duration: 1h, auto_promote: false}\n",
        ),
    );
    let shadow = apply_until(&repo, &env, &edge, &model, |_| true);
    assert_eq!(
        shadow.last().map(|(_, r)| r.clone()),
        Some(routing(&[("2", 100), ("mirror:4", 50)])),
        "{shadow:?}"
    );
    let shadow_from = unix_now();
    std::thread::sleep(Duration::from_secs(8));
    let shadow_to = unix_now();
    let mirrored = prometheus_value(
        &prometheus.url,
        &format!(
            "sum(envoy_cluster_upstream_rq_total{{envoy_cluster_name=\"{model}-v4-shadow\"}})"
        ),
    );
    let sent = load.stop();

    assert!(
        mirrored > 20.0,
        "version 4 received mirrored requests: {mirrored}"
    );
    let during_shadow = between(&sent, shadow_from, shadow_to);
    assert!(
        during_shadow.len() > 100,
        "load ran during the shadow: {}",
        during_shadow.len()
    );
    for s in &during_shadow {
        assert_eq!(
            (s.status, s.version.as_deref()),
            (200, Some("2")),
            "every answer from version 2: {s:?}"
        );
    }
    // After the bad canary's rollback, every answer came from version 2.
    let after_rollback = between(&sent, rolled_back_at + 1.0, shadow_from);
    assert!(!after_rollback.is_empty());
    assert!(
        after_rollback
            .iter()
            .all(|s| s.status == 200 && s.version.as_deref() == Some("2")),
        "{:?}",
        after_rollback
            .iter()
            .find(|s| s.status != 200 || s.version.as_deref() != Some("2"))
    );
    // The bad canary's failures were its own: 5xx from version 3 only.
    let failed: Vec<&Sent> = sent.iter().filter(|s| s.status != 200).collect();
    assert!(
        !failed.is_empty(),
        "version 3 failed some requests while it took traffic"
    );
    assert!(
        failed
            .iter()
            .all(|s| s.status >= 500 && s.version.as_deref() == Some("3")),
        "{failed:?}"
    );
}

/// A Prometheus instant query's single value (0 when empty).
fn prometheus_value(url: &str, promql: &str) -> f64 {
    let body: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .and_then(|r| r.json())
        .expect("Prometheus answers");
    body["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
