//! How many requests an apply sends to a real MLflow tracking server, by
//! call, counted by a proxy in front of it: a new model with three versions
//! costs at most 12 (docs/mlflow.md says why each is needed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::e2e::servers::{mlflow, mlflow_post, mlflow_serial, unique};

/// A TCP proxy in front of the test server that records each request's
/// method and path (query left out). A fake in the style of
/// `e2e/http.rs`: it reads the request line and forwards the bytes as they
/// are, one request per connection (modelops does not reuse connections).
struct CountingProxy {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl CountingProxy {
    fn new(target: &str) -> CountingProxy {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (target, log) = (target.clone(), log.clone());
                std::thread::spawn(move || forward(client, &target, &log));
            }
        });
        CountingProxy { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests so far, `METHOD path` each, in order.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn forward(client: TcpStream, target: &str, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
    log.lock().unwrap().push(format!(
        "{method} {}",
        path.trim_start_matches("/api/2.0/mlflow/")
    ));
    let Ok(mut server) = TcpStream::connect(target) else {
        return;
    };
    // What the reader buffered beyond the line goes first.
    let buffered = reader.buffer().to_vec();
    if server.write_all(line.as_bytes()).is_err() || server.write_all(&buffered).is_err() {
        return;
    }
    let (mut c2, mut s2) = (client, server.try_clone().unwrap());
    let mut rest = reader.into_inner();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut rest, &mut server);
        let _ = server.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut s2, &mut c2);
    let _ = c2.shutdown(std::net::Shutdown::Both);
}

/// Requests by call.
fn by_call(seen: &[String]) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for s in seen {
        *out.entry(s.as_str()).or_default() += 1;
    }
    out
}

#[test]
fn a_new_model_with_three_versions_costs_at_most_twelve_requests() {
    let Some(client) = mlflow() else { return };
    let _serial = mlflow_serial();
    let proxy = CountingProxy::new(&std::env::var("MODELOPS_MLFLOW_URL").unwrap());
    let url = proxy.url();
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    // Three training runs with the metrics the manifest declares.
    let experiment = mlflow_post(
        &client,
        "experiments/create",
        serde_json::json!({"name": unique("e2e-requests")}),
    );
    let runs: Vec<String> = (0..3)
        .map(|i| {
            let run = mlflow_post(
                &client,
                "runs/create",
                serde_json::json!({"experiment_id": experiment["experiment_id"], "start_time": 0}),
            );
            let id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
            mlflow_post(
                &client,
                "runs/log-metric",
                serde_json::json!({"run_id": id, "key": "test_accuracy", "value": 0.8 + f64::from(i) / 100.0, "timestamp": 0, "step": 0}),
            );
            id
        })
        .collect();
    let name = format!("req-count-{}", &unique("r")[2..].replace('-', ""));
    let version = |n: usize, stage: &str| {
        format!(
            "    - version: {}\n      stage: {stage}\n      source: runs:/{run}/model\n      training_run_id: {run}\n      metrics: {{test_accuracy: {acc}}}\n",
            n + 1,
            run = runs[n],
            acc = 0.8 + n as f64 / 100.0,
        )
    };
    let manifest = format!(
        "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: {name}\n  owner: ml-platform\nspec:\n  versions:\n{}{}{}",
        version(0, "Archived"),
        version(1, "Production"),
        version(2, "Staging"),
    );
    let repo = crate::common::Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    repo.file(&format!("models/{name}.yaml"), manifest);

    repo.run_with(&["apply", "--auto-approve"], &env).code(0);
    let seen = proxy.seen();
    let calls = by_call(&seen);
    let want = BTreeMap::from([
        // The lock: taken and released, once per apply.
        ("POST registered-models/create", 2),
        ("DELETE registered-models/delete", 1),
        // The registry read at plan and again under the lock, once per apply.
        ("GET registered-models/search", 2),
        ("GET model-versions/search", 2),
        // The three runs, read once (plan; the re-check reuses them).
        ("GET experiments/search", 1),
        ("POST runs/search", 1),
        // The model's writes.
        ("POST model-versions/create", 3),
        ("POST model-versions/transition-stage", 3),
        ("POST registered-models/alias", 2),
        ("POST registered-models/set-tag", 1),
    ]);
    assert_eq!(calls, want, "{seen:#?}");
    // Per model: everything but the lock and the two registry reads.
    let per_apply = 2 + 4;
    assert!(seen.len() - per_apply <= 12, "{seen:#?}");

    // Converged, and the audit chain is whole.
    repo.run_with(&["plan", "--detailed-exitcode"], &env)
        .code(0)
        .stdout_has("No changes.");
    repo.run_with(&["history", "--verify", &name], &env)
        .code(0)
        .stdout_has("events intact");
}
