//! A pull request is hostile input. These tests play the attacker: a PR
//! (`plan --base`) that points a benchmark, a metrics provider or the
//! registry at a host it controls, and manifests that name files outside
//! the repository, FIFOs, devices and huge files. Each must fail safely:
//! nothing connects to the PR's host, nothing outside the repository is
//! read, nothing hangs, memory stays bounded.

use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::Repo;
use crate::e2e::http::{Response, Server};
use crate::lifecycle::{applied, example_in_git};

/// A port that counts the connections made to it and answers each with an
/// empty `200 OK` (a fake: the tests need to know whether anything was
/// sent at all, not what a real server would answer).
fn listener() -> Server {
    Server::start(|_| Response::ok("{}"))
}

/// The example's staging gate line the benchmark replaces.
const LATENCY_LINE: &str =
    "    latency_p99_max_ms: 100     # checked against the declared latency_p99_ms metric\n";

fn benchmark(port: u16, payload_file: &str) -> String {
    format!(
        "    latency_p99_max_ms: 100\n    benchmark:\n      endpoint: http://127.0.0.1:{port}/{{model}}/{{version}}/invocations\n      payload_file: {payload_file}\n      requests: 3\n      concurrency: 1\n"
    )
}

/// The example in git with a staging benchmark against `port`, committed:
/// the base branch.
fn base_with_benchmark(port: u16) -> Repo {
    let repo = example_in_git();
    repo.file("bench/payload.json", r#"{"inputs": [[1, 2, 3]]}"#);
    repo.edit(
        "policies/default.yaml",
        LATENCY_LINE,
        &benchmark(port, "bench/payload.json"),
    );
    repo.git_commit("a latency benchmark");
    repo
}

#[test]
fn a_pull_request_cannot_send_a_file_to_a_host_it_chooses() {
    let trusted = listener();
    let attacker = listener();
    let repo = base_with_benchmark(trusted.port);
    // The base branch's own plan runs its benchmark.
    repo.run(&["plan", "-v"])
        .code(0)
        .stdout_has("latency.p99               PASS");
    let before = trusted.connections();
    assert!(before > 0, "the base's benchmark ran");

    // The pull request: the environment, to the attacker's port.
    repo.edit(
        "policies/default.yaml",
        &format!("127.0.0.1:{}/", trusted.port),
        &format!("127.0.0.1:{}/", attacker.port),
    );
    repo.edit(
        "policies/default.yaml",
        "      payload_file: bench/payload.json\n",
        "      payload_file: /proc/self/environ\n",
    );
    let plan = repo
        .run(&["plan", "-v", "--base", "HEAD"])
        .code(1)
        .stdout_has("latency.p99               FAIL    not measured")
        .stdout_has("↳ not run: this pull request changes the benchmark (endpoint, payload file or load) that HEAD declares; the change takes effect after merge, and the benchmark runs before then only unchanged")
        .stdout_has("Takes effect after merge: this pull request changes settings that open connections, run commands or read files; this plan used those of HEAD:\n")
        .stdout_has(&format!(
            "  ~ policies/default.yaml staging.benchmark.endpoint: \"http://127.0.0.1:{}/{{model}}/{{version}}/invocations\" → \"http://127.0.0.1:{}/{{model}}/{{version}}/invocations\"\n",
            trusted.port, attacker.port
        ))
        .stdout_has("  ~ policies/default.yaml staging.benchmark.payload_file: \"bench/payload.json\" → \"/proc/self/environ\"\n")
        .stdout_lacks("benchmark (3 requests)");
    assert!(!plan.stdout().contains("HOME="), "{}", plan.stdout());
    repo.run(&["plan", "--base", "HEAD", "--format", "markdown"])
        .code(1)
        .stdout_has("#### Takes effect after merge\n");
    let json = repo
        .run(&["plan", "--base", "HEAD", "--format", "json"])
        .code(1)
        .json();
    let settings: Vec<&str> = json["after_merge"]
        .as_array()
        .expect("after_merge")
        .iter()
        .map(|c| c["setting"].as_str().unwrap())
        .collect();
    assert_eq!(
        settings,
        [
            "staging.benchmark.endpoint",
            "staging.benchmark.payload_file"
        ]
    );
    assert_eq!(attacker.connections(), 0, "nothing reached the PR's host");
    assert_eq!(
        trusted.connections(),
        before,
        "a changed benchmark is not run at all"
    );

    // Only the payload changed: still not run, still no pass.
    repo.edit(
        "policies/default.yaml",
        &format!("127.0.0.1:{}/", attacker.port),
        &format!("127.0.0.1:{}/", trusted.port),
    );
    repo.run(&["plan", "--base", "HEAD"])
        .code(1)
        .stdout_has("↳ not run: this pull request changes the benchmark")
        .stdout_lacks("staging.benchmark.endpoint");
    // A benchmark the pull request adds, in a new policy, is not run either.
    let fresh = example_in_git();
    fresh.edit(
        "policies/default.yaml",
        LATENCY_LINE,
        &benchmark(attacker.port, "models/fraud-detector.yaml"),
    );
    fresh
        .run(&["plan", "--base", "HEAD"])
        .code(1)
        .stdout_has("↳ not run: HEAD declares no such benchmark; a benchmark this pull request adds runs after merge");
    assert_eq!(attacker.connections(), 0);
    assert_eq!(trusted.connections(), before);
}

#[test]
fn a_pull_request_cannot_move_the_registry_or_a_metrics_provider() {
    let attacker = listener();
    let repo = applied();
    // A canary in progress, an hour in, so the plan asks the metrics provider.
    crate::rollouts::promote(&repo);
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.git_commit("canary of fraud-detector 3");
    repo.at("2026-11-26T10:00:00Z");
    repo.edit(
        "modelops.yaml",
        "  registry:\n    type: local\n",
        &format!(
            "  registry:\n    type: mlflow\n    uri: http://u:secret@127.0.0.1:{}\n",
            attacker.port
        ),
    );
    repo.edit(
        "modelops.yaml",
        "      type: file\n      path: observations.yaml\n",
        &format!(
            "      type: prometheus\n      url: http://127.0.0.1:{}\n",
            attacker.port
        ),
    );
    repo.run(&["plan", "--base", "HEAD"])
        .code(0)
        // The base's file provider judged the canary.
        .stdout_has("  advance fraud-detector canary 5% → 25%: ")
        .stdout_has("Takes effect after merge")
        .stdout_has(&format!(
            "  ~ modelops.yaml registry.uri: (none) → \"http://***@127.0.0.1:{}\"\n",
            attacker.port
        ))
        .stdout_has("  ~ modelops.yaml registry.type: \"local\" → \"mlflow\"\n")
        .stdout_has(&format!(
            "  ~ modelops.yaml metrics.observations.url: (none) → \"http://127.0.0.1:{}\"\n",
            attacker.port
        ))
        .stdout_has("  ~ modelops.yaml metrics.observations.path: \"observations.yaml\" → (none)\n")
        .stdout_lacks("secret");
    assert_eq!(attacker.connections(), 0, "nothing reached the PR's host");
    // Without --base (the branch itself, after merge) the settings are used
    // (what the fake answers decides the exit code, not this test).
    repo.run(&["plan"]);
    assert!(attacker.connections() > 0);
}

/// A file a manifest may name that must not be read, and what the error says.
struct Escape {
    what: &'static str,
    /// The path written in the manifest; set up by `make` if needed.
    path: &'static str,
    make: fn(&Repo),
    says: &'static str,
}

fn fifo(repo: &Repo) {
    std::fs::create_dir_all(repo.path("data")).unwrap();
    let ok = Command::new("mkfifo")
        .arg(repo.path("data/pipe.csv"))
        .status()
        .expect("mkfifo runs");
    assert!(ok.success());
}

fn symlink_out(repo: &Repo) {
    std::fs::create_dir_all(repo.path("data")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.path("data/link.csv")).unwrap();
}

/// A character device inside the repository (`/dev/zero`'s numbers), when
/// this user may make one (root, as in the test container); else a symlink
/// to `/dev/zero`, which the rule refuses as leading out.
fn device(repo: &Repo) {
    std::fs::create_dir_all(repo.path("data")).unwrap();
    let made = Command::new("mknod")
        .args([repo.path("data/zero.csv").to_str().unwrap(), "c", "1", "5"])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        std::os::unix::fs::symlink("/dev/zero", repo.path("data/zero.csv")).unwrap();
    }
}

fn nothing(_: &Repo) {}

const ESCAPES: [Escape; 5] = [
    Escape {
        what: "absolute",
        path: "/etc/passwd",
        make: nothing,
        says: "an absolute path; modelops only reads files inside the repository",
    },
    Escape {
        what: "dot-dot",
        path: "../../../../etc/passwd",
        make: nothing,
        says: "`..` leads outside the repository",
    },
    Escape {
        what: "symlink out",
        path: "data/link.csv",
        make: symlink_out,
        says: "symlink leads outside the repository (to /etc/passwd)",
    },
    Escape {
        what: "fifo",
        path: "data/pipe.csv",
        make: fifo,
        says: "not a regular file (a device, socket or pipe?)",
    },
    Escape {
        what: "device",
        path: "data/zero.csv",
        make: device,
        says: "",
    },
];

/// The device row's message: a device inside the repository is not a
/// regular file; a symlink to one leads out.
fn says(e: &Escape, repo: &Repo) -> &'static str {
    match (e.says, repo.path(e.path).is_symlink()) {
        ("", true) => "symlink leads outside the repository (to /dev/zero)",
        ("", false) => "not a regular file (a device, socket or pipe?)",
        (s, _) => s,
    }
}

const HANG: Duration = Duration::from_secs(20);

#[test]
fn a_benchmark_payload_outside_the_repository_is_never_read_or_sent() {
    for e in &ESCAPES {
        let port = listener();
        let repo = example_in_git();
        (e.make)(&repo);
        repo.edit(
            "policies/default.yaml",
            LATENCY_LINE,
            &benchmark(port.port, e.path),
        );
        // The repository's own plan (no --base): the rule still holds.
        repo.run(&["plan", "-v"])
            .within(HANG)
            .code(1)
            .stdout_has("latency.p99               FAIL    not measured")
            .stdout_has(&format!(
                "↳ not run: policies/default.yaml: benchmark.payload_file `{}`: {}",
                e.path,
                says(e, &repo)
            ));
        assert_eq!(port.connections(), 0, "{}: nothing sent", e.what);
    }
}

#[test]
fn data_snapshots_outside_the_repository_are_refused_by_monitor() {
    for e in &ESCAPES {
        let repo = applied();
        (e.make)(&repo);
        repo.edit(
            "deployments/fraud-detector.yaml",
            "current: data/fraud-detector/current.csv",
            &format!("current: {}", e.path),
        );
        let json = repo
            .run(&["monitor", "fraud-detector", "--format", "json"])
            .within(HANG)
            .code(1)
            .json();
        let signals = json["models"][0]["signals"].as_array().unwrap();
        let drift = signals
            .iter()
            .find(|s| s["signal"] == "feature_drift")
            .expect("feature_drift");
        assert_eq!(drift["status"], "unmeasured", "{}: {drift}", e.what);
        let reason = drift.to_string();
        let want = format!(
            "deployments/fraud-detector.yaml: monitoring.data.current `{}`: {}",
            e.path,
            says(e, &repo)
        );
        assert!(reason.contains(&want), "{}: {reason}\nwant: {want}", e.what);
    }
}

#[test]
fn an_observations_file_outside_the_repository_is_refused() {
    for e in &ESCAPES {
        let repo = applied();
        (e.make)(&repo);
        repo.edit(
            "modelops.yaml",
            "path: observations.yaml",
            &format!("path: {}", e.path),
        );
        let out = repo
            .run(&["monitor", "fraud-detector"])
            .within(HANG)
            .code(1);
        let want = format!(
            "cannot read it (modelops.yaml, metrics.observations.path): {}",
            says(e, &repo)
        );
        assert!(
            out.stdout().contains(&want),
            "{}: {}\nwant: {want}",
            e.what,
            out.stdout()
        );
    }
}

#[test]
fn a_datasets_file_outside_the_repository_is_refused() {
    let repo = applied();
    repo.edit(
        "deployments/fraud-detector.yaml",
        "  monitoring:\n",
        "  monitoring:\n    dataset: {name: txn, file: /etc/passwd}\n    on_breach: {retrain: {webhook: \"http://127.0.0.1:9/retrain\"}}\n",
    );
    repo.run(&["monitor", "fraud-detector"])
        .within(HANG)
        .code(1)
        .stdout_has("  action: FAILED: dataset watch: deployments/fraud-detector.yaml: monitoring.dataset.file `/etc/passwd`: an absolute path");
}

/// The largest resident memory, in KiB, of `modelops args` run in `repo`:
/// measured by a Python parent (getrusage of its only child), so other
/// tests' children do not count.
fn max_rss_kib(repo: &Repo, args: &[&str]) -> (u64, Duration, String) {
    let cmd = repo.command(args);
    let mut argv = vec![cmd.get_program().to_str().unwrap().to_string()];
    argv.extend(cmd.get_args().map(|a| a.to_str().unwrap().to_string()));
    let script = "import resource, subprocess, sys\n\
                  p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n\
                  print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  print(p.stdout)";
    let started = Instant::now();
    let mut python = Command::new("python3");
    python.arg("-c").arg(script).args(&argv);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => python.env(k, v),
            None => python.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        python.current_dir(dir);
    }
    let out = python.output().expect("python3 runs");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rss, rest) = text.split_once('\n').expect("two parts");
    (rss.trim().parse().expect("KiB"), elapsed, rest.to_string())
}

#[test]
fn a_two_gigabyte_snapshot_without_line_ends_is_refused_in_bounded_memory() {
    let repo = applied();
    let path = repo.path("data/fraud-detector/current.csv");
    // The header line, then 2 GB of NUL bytes (sparse: no disk is used).
    std::fs::write(&path, "transaction_amount,merchant_category,card_present,account_age_days,distance_from_home_km,fraud_score\n").unwrap();
    let ok = Command::new("truncate")
        .args(["-s", "2G"])
        .arg(&path)
        .status()
        .expect("truncate runs");
    assert!(ok.success());
    let (rss, elapsed, stdout) = max_rss_kib(&repo, &["monitor", "fraud-detector"]);
    assert!(
        stdout
            .contains("a record longer than 1 MiB (no line end); CSV records are limited to that"),
        "{stdout}"
    );
    assert!(rss < 200 * 1024, "max RSS {rss} KiB");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

/// A port that accepts connections and never answers (a fake: a Prometheus
/// that hangs).
fn silent_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_hanging_metrics_provider_costs_at_most_the_deadline() {
    let port = silent_port();
    let repo = applied();
    repo.edit(
        "modelops.yaml",
        "      type: file\n      path: observations.yaml\n",
        &format!("      type: prometheus\n      url: http://127.0.0.1:{port}\n"),
    );
    let deadline = [("MODELOPS_METRICS_DEADLINE", "2")];
    // Every deployment (three models, six signals each, a week of traffic
    // windows) asks the same hanging server: one deadline for all.
    let started = Instant::now();
    let monitor = repo.run_with(&["monitor"], &deadline).code(1);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "monitor took {elapsed:?}");
    let stdout = monitor.stdout();
    for model in ["churn-predictor", "fraud-detector", "recommendation-ranker"] {
        assert!(stdout.contains(&format!("{model} version")), "{stdout}");
    }
    assert!(
        stdout.contains(&format!(
            "prometheus observations at http://127.0.0.1:{port}: no answer within the 2 s deadline for metrics questions (MODELOPS_METRICS_DEADLINE)"
        )),
        "{stdout}"
    );

    // A plan's rollout analysis: the canary's questions, under the same bound.
    crate::rollouts::promote(&repo);
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.at("2026-11-26T10:00:00Z");
    let started = Instant::now();
    repo.run_with(&["plan"], &deadline)
        .stdout_has("no answer within the 2 s deadline for metrics questions");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "plan took {elapsed:?}");
    // A deadline that is not a number is an error, not the default.
    repo.run_with(&["monitor"], &[("MODELOPS_METRICS_DEADLINE", "soon")])
        .code(1)
        .stderr_has("MODELOPS_METRICS_DEADLINE=soon is not a positive number of seconds");
}

/// A port whose server answers every Prometheus query after `delay` with an
/// empty vector (a fake: a slow Prometheus, for timing), counting the most
/// questions it held at once.
fn slow_prometheus(delay: Duration) -> (u16, Arc<AtomicUsize>) {
    let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = most.clone();
    let server = Server::start(move |_| {
        let now = open.fetch_add(1, Ordering::SeqCst) + 1;
        most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(delay);
        open.fetch_sub(1, Ordering::SeqCst);
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        Response {
            headers: vec![("Content-Type", "application/json".into())],
            ..Response::ok(body)
        }
    });
    (server.port, seen)
}

#[test]
fn monitor_asks_every_deployments_questions_concurrently() {
    // Three deployments ask 12 questions each. At 400 ms an answer, asked
    // one at a time they would take 14.4 s and outlive the 8 s deadline.
    let (port, most) = slow_prometheus(Duration::from_millis(400));
    let repo = applied();
    repo.edit(
        "modelops.yaml",
        "      type: file\n      path: observations.yaml\n",
        &format!("      type: prometheus\n      url: http://127.0.0.1:{port}\n"),
    );
    let monitor = repo
        .run_with(
            &["monitor", "--dry-run"],
            &[("MODELOPS_METRICS_DEADLINE", "8")],
        )
        .code(1);
    let stdout = monitor.stdout();
    assert!(!stdout.contains("no answer within"), "{stdout}");
    assert!(
        stdout.contains("no latency_p99_ms data in the window"),
        "{stdout}"
    );
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "the provider held at most one question at a time"
    );
}
