//! Real servers on loopback for one test: Prometheus holding the test's
//! series or scraping a server (`scripts/prometheus.sh`), a private nginx in
//! a temporary prefix (`scripts/nginx.sh`), [`Edge`] (that nginx in front of
//! a model server per fraud-detector version), a private [`Envoy`] watching
//! a temporary directory (`scripts/envoy.sh`), and a client for the MLflow
//! tracking server `scripts/test.sh` starts. Servers a test starts stop when dropped, also
//! when the test panics. A server that is not installed (or, for MLflow,
//! not running) skips the test, except with `MODELOPS_E2E=1`, where it
//! fails it ([`super::required`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use modelops::backend::mlflow::client::{Client, Credentials, Endpoint};
use modelops::backend::mlflow::request::{Method, Request};
use modelops::backend::serving::envoy::EnvoyTarget;
use modelops::backend::serving::nginx::NginxTarget;
use modelops::backend::serving::{Route, ServingTarget};
use modelops::manifest::config::{EnvoyTargetConfig, NginxTargetConfig};

use super::MODEL;
use super::http::{Upstream, send_many};
use crate::common::{Repo, Run};

/// A loopback port nothing listens on: bound, then released (for nginx to
/// take, or for a client to find closed).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// Whether Prometheus is installed; outside end-to-end runs its absence is a
/// skip, inside them a failure.
fn prometheus_installed() -> bool {
    let installed = Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed && super::required() {
        panic!("MODELOPS_E2E=1 but prometheus is not installed: run scripts/prometheus.sh install");
    }
    if !installed {
        eprintln!("skipped: prometheus is not installed (scripts/prometheus.sh install)");
    }
    installed
}

/// A Prometheus server holding one test's series; stopped when dropped.
pub struct Prometheus {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Prometheus {
    /// A server holding `openmetrics` (backfilled with promtool by
    /// `scripts/prometheus.sh start`), or `None` (skip) when Prometheus is
    /// not installed outside end-to-end runs.
    pub fn backfilled(openmetrics: &str) -> Option<Prometheus> {
        prometheus_installed().then(|| Prometheus::start(openmetrics))
    }

    fn start(openmetrics: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("series.om.txt");
        eprintln!("backfilling {} KB of OpenMetrics", openmetrics.len() / 1024);
        std::fs::write(&file, openmetrics).expect("write the series");
        let out = Command::new(script("prometheus.sh"))
            .arg("start")
            .arg(dir.path().join("server"))
            .arg(&file)
            .output()
            .expect("prometheus.sh runs");
        // Built before the check, so a server that did start is stopped on drop.
        let server = Prometheus {
            dir,
            url: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        };
        assert!(
            out.status.success(),
            "prometheus.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    /// A server scraping `http://{target}{path}` every second, or `None`
    /// (skip) when Prometheus is not installed outside end-to-end runs.
    pub fn scraping(target: &str, path: &str) -> Option<Prometheus> {
        if !prometheus_installed() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(script("prometheus.sh"))
            .arg("scrape")
            .arg(dir.path().join("server"))
            .args([target, path])
            .output()
            .expect("prometheus.sh runs");
        let server = Prometheus {
            dir,
            url: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        };
        assert!(
            out.status.success(),
            "prometheus.sh scrape failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(server)
    }

    /// Stops the server (as an outage would); dropping it later is harmless.
    pub fn stop(&self) {
        let _ = Command::new(script("prometheus.sh"))
            .arg("stop")
            .arg(self.dir.path().join("server"))
            .status();
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private nginx in a temporary prefix; stopped when dropped.
pub struct Nginx {
    dir: tempfile::TempDir,
    /// The test_command for this nginx.
    pub test: String,
    reload: String,
}

fn nginx_script(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script("nginx.sh"))
        .args(args)
        .output()
        .expect("bash runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Nginx {
    /// Starts nginx, or `None` (skip) when it is not installed outside
    /// end-to-end runs.
    pub fn start() -> Option<Nginx> {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().to_str().expect("a UTF-8 temp path");
        match nginx_script(&["start", at]) {
            Ok(_) => {}
            Err(e) if e.contains("not installed") => {
                if super::required() {
                    panic!("MODELOPS_E2E=1 but nginx is missing: {e}");
                }
                eprintln!("skipped: {e}");
                return None;
            }
            Err(e) => panic!("scripts/nginx.sh start failed: {e}"),
        }
        let test = nginx_script(&["test", at]).expect("test command");
        let reload = nginx_script(&["reload", at]).expect("reload command");
        Some(Nginx { dir, test, reload })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The target config a user writes for this nginx.
    pub fn config(&self, listen: u16, upstreams: &[&Upstream]) -> NginxTargetConfig {
        let versions = upstreams
            .iter()
            .map(|u| (u.version.to_string(), format!("127.0.0.1:{}", u.port)))
            .collect();
        NginxTargetConfig {
            config_dir: Some("conf.d".into()),
            reload_command: Some(self.reload.clone()),
            test_command: Some(self.test.clone()),
            listen: [(MODEL.to_string(), format!("127.0.0.1:{listen}"))].into(),
            upstream_template: None,
            upstreams: [(MODEL.to_string(), versions)].into(),
            health_path: None,
        }
    }

    /// The `edge` target's entry under `serving.targets` in `modelops.yaml`:
    /// the fraud detector listening on `port`, each version at its address
    /// (`host:port`), its fragments in this nginx's `conf.d`.
    pub fn target_yaml(&self, port: u16, upstreams: &[(&str, String)]) -> String {
        let upstreams: Vec<String> = upstreams
            .iter()
            .map(|(version, address)| format!("\"{version}\": \"{address}\""))
            .collect();
        format!(
            "      edge:\n        type: nginx\n        config_dir: {}\n        test_command: {}\n        reload_command: {}\n        listen: {{{MODEL}: \"127.0.0.1:{port}\"}}\n        upstreams:\n          {MODEL}: {{{}}}\n",
            self.path().join("conf.d").display(),
            self.test,
            self.reload,
            upstreams.join(", ")
        )
    }

    pub fn target(&self, config: &NginxTargetConfig) -> NginxTarget {
        NginxTarget::new("edge", config, self.path()).expect("a target")
    }

    /// nginx's worker processes: the master's children.
    pub(crate) fn workers(&self) -> BTreeSet<u32> {
        let pid_file = self.path().join("logs/nginx.pid");
        let master = std::fs::read_to_string(pid_file).expect("pid file");
        let master = master.trim();
        let mut workers = BTreeSet::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
            if after.split_whitespace().nth(1) == Some(master) {
                workers.extend(
                    stat.split_whitespace()
                        .next()
                        .and_then(|p| p.parse::<u32>().ok()),
                );
            }
        }
        workers
    }

    /// Waits until every worker serving requests is new since `before`
    /// (taken before a reload): a reload only signals the master, which
    /// then starts new workers while the old ones finish their requests.
    pub fn wait_for_reload(&self, before: &BTreeSet<u32>) {
        let started = Instant::now();
        loop {
            let now = self.workers();
            if !now.is_empty() && now.is_disjoint(before) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "nginx did not reload within 5 s: workers {before:?} -> {now:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Applies `route` and waits until nginx's workers run the new
    /// configuration.
    pub fn apply(&self, target: &mut NginxTarget, route: &Route) {
        let before = self.workers();
        target.apply(route).expect("apply");
        self.wait_for_reload(&before);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = nginx_script(&["stop", self.path().to_str().unwrap()]);
    }
}

/// A private Envoy on loopback: its bootstrap from `scripts/envoy.sh
/// bootstrap` (admin API on a free port, listeners and clusters from the
/// files in [`Envoy::config_dir`]), run with `--disable-hot-restart` so
/// several can run at once; killed when dropped. Its drain settings are
/// Envoy's defaults (`--drain-time-s 600`), as a user's would be: no test
/// relies on a replaced listener letting go of its connections quickly.
pub struct Envoy {
    dir: tempfile::TempDir,
    config_dir: PathBuf,
    /// The admin API's port.
    pub admin_port: u16,
    child: Option<std::process::Child>,
}

impl Envoy {
    /// The binary `scripts/envoy.sh install` put in `.cache/envoy-venv`, or
    /// `None` (skip) when it is missing outside end-to-end runs.
    pub fn binary() -> Option<PathBuf> {
        let out = Command::new("bash")
            .arg(script("envoy.sh"))
            .arg("bin")
            .output()
            .expect("bash runs");
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let works = Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if works {
            return Some(bin);
        }
        let why = format!(
            "Envoy is not installed at {} (scripts/envoy.sh install)",
            bin.display()
        );
        if super::required() {
            panic!("MODELOPS_E2E=1 but {why}");
        }
        eprintln!("skipped: {why}");
        None
    }

    /// Starts Envoy on its own temporary config directory, or `None` (skip)
    /// when it is not installed outside end-to-end runs.
    pub fn start() -> Option<Envoy> {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_dir = dir.path().join("config");
        Envoy::start_on(dir, config_dir, free_port())
    }

    /// Starts Envoy reading `config_dir`, its admin API on `admin_port`.
    fn start_on(dir: tempfile::TempDir, config_dir: PathBuf, admin_port: u16) -> Option<Envoy> {
        let bin = Envoy::binary()?;
        let mut envoy = Envoy {
            dir,
            config_dir,
            admin_port,
            child: None,
        };
        envoy.run(&bin);
        Some(envoy)
    }

    fn run(&mut self, bin: &Path) {
        let out = Command::new("bash")
            .arg(script("envoy.sh"))
            .arg("bootstrap")
            .arg(&self.config_dir)
            .arg(self.admin_port.to_string())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "envoy.sh bootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bootstrap = self.dir.path().join("bootstrap.yaml");
        std::fs::write(&bootstrap, &out.stdout).expect("write the bootstrap");
        let log = self.dir.path().join("envoy.log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&bootstrap)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "-l",
                "warning",
            ])
            .arg("--log-path")
            .arg(&log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("envoy starts");
        self.child = Some(child);
        let ready = format!("http://127.0.0.1:{}/ready", self.admin_port);
        let started = Instant::now();
        loop {
            let answered = reqwest::blocking::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap()
                .get(&ready)
                .send()
                .is_ok_and(|r| r.status().is_success());
            if answered {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "Envoy exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Envoy's admin API was not ready within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops Envoy and starts it again reading `config_dir` instead, its
    /// admin API on the same port.
    pub fn restart_on(&mut self, config_dir: &Path) {
        self.stop();
        self.config_dir = config_dir.to_path_buf();
        let bin = Envoy::binary().expect("Envoy was installed");
        self.run(&bin);
    }

    /// Kills Envoy; dropping it later is harmless.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The directory Envoy watches (the target's `config_dir`).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The admin API's address, as a target's `admin` names it.
    pub fn admin(&self) -> String {
        format!("127.0.0.1:{}", self.admin_port)
    }

    /// What Envoy logged (warnings and errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }

    /// The target config a user writes for this Envoy: the fraud detector
    /// listening on `listen`, each upstream at its port.
    pub fn config(&self, listen: u16, upstreams: &[(&str, u16)]) -> EnvoyTargetConfig {
        let versions = upstreams
            .iter()
            .map(|(version, port)| (version.to_string(), format!("127.0.0.1:{port}")))
            .collect();
        EnvoyTargetConfig {
            config_dir: Some(self.config_dir.display().to_string()),
            admin: Some(self.admin()),
            listen: [(MODEL.to_string(), format!("127.0.0.1:{listen}"))].into(),
            upstream_template: None,
            upstreams: [(MODEL.to_string(), versions)].into(),
            health_path: None,
        }
    }

    /// The `edge` target's entry under `serving.targets` in `modelops.yaml`:
    /// the fraud detector listening on `port`, each version at its address
    /// (`host:port`).
    pub fn target_yaml(&self, port: u16, upstreams: &[(&str, String)]) -> String {
        let upstreams: Vec<String> = upstreams
            .iter()
            .map(|(version, address)| format!("\"{version}\": \"{address}\""))
            .collect();
        format!(
            "      edge:\n        type: envoy\n        config_dir: {}\n        admin: \"{}\"\n        listen: {{{MODEL}: \"127.0.0.1:{port}\"}}\n        upstreams:\n          {MODEL}: {{{}}}\n",
            self.config_dir.display(),
            self.admin(),
            upstreams.join(", ")
        )
    }

    /// The target `edge` configured by `config`.
    pub fn target(&self, config: &EnvoyTargetConfig) -> EnvoyTarget {
        EnvoyTarget::new("edge", config, Path::new("/")).expect("a target")
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// nginx in front of one model server per fraud-detector version, listening
/// on `port`.
pub struct Edge {
    pub nginx: Nginx,
    pub port: u16,
    upstreams: [Upstream; 3],
}

impl Edge {
    /// The `edge` target's entry in `modelops.yaml`, its fragments in nginx's
    /// `conf.d`.
    pub fn target_yaml(&self) -> String {
        let upstreams: Vec<(&str, String)> = self
            .upstreams
            .iter()
            .map(|u| (u.version, format!("127.0.0.1:{}", u.port)))
            .collect();
        self.nginx.target_yaml(self.port, &upstreams)
    }

    fn fragment(&self) -> Option<String> {
        let path = self
            .nginx
            .path()
            .join(format!("conf.d/modelops-{MODEL}.conf"));
        std::fs::read_to_string(path).ok()
    }

    /// `modelops apply --auto-approve`, waiting for nginx as [`on_edge`] does.
    pub fn apply(&self, repo: &Repo) -> Run {
        on_edge(self, || repo.run(&["apply", "--auto-approve"]))
    }

    /// Sends `n` requests through nginx; how many each version answered.
    pub fn send(&self, n: usize) -> BTreeMap<String, usize> {
        let counts = send_many(self.port, n, |_| Vec::new());
        assert_eq!(counts.values().sum::<usize>(), n, "{counts:?}");
        counts
    }

    /// Asserts that the canary, version 3, gets `percent`% of `n` requests
    /// (within the nginx tests' binomial tolerance) and version 2 the rest.
    pub fn assert_canary_share(&self, percent: u8, n: usize) {
        let counts = self.send(n);
        let to = |v: &str| counts.get(v).copied().unwrap_or(0);
        assert_eq!(
            to("2") + to("3"),
            n,
            "only versions 2 and 3 answer: {counts:?}"
        );
        if percent == 0 || percent == 100 {
            let all = if percent == 0 { "2" } else { "3" };
            eprintln!("canary at {percent}%: {counts:?}");
            assert_eq!(to(all), n, "all {n} requests to version {all}: {counts:?}");
        } else {
            crate::nginx::assert_share(
                &format!("canary at {percent}%"),
                to("3"),
                n,
                f64::from(percent) / 100.0,
            );
        }
    }
}

/// Runs modelops; when the run rewrote the nginx fragment, waits until
/// nginx's new workers serve it (a reload only signals the master).
pub fn on_edge(edge: &Edge, run: impl FnOnce() -> Run) -> Run {
    let (fragment, workers) = (edge.fragment(), edge.nginx.workers());
    let run = run();
    if edge.fragment() != fragment {
        edge.nginx.wait_for_reload(&workers);
    }
    run
}

/// nginx in front of a model server for each of versions 1 to 3, and
/// Prometheus holding `openmetrics`; `None` (skip) when either is not
/// installed outside end-to-end runs.
pub fn edge_and_prometheus(openmetrics: &str) -> Option<(Edge, Prometheus)> {
    if !prometheus_installed() {
        return None;
    }
    let edge = Edge {
        nginx: Nginx::start()?,
        port: free_port(),
        upstreams: ["1", "2", "3"].map(Upstream::start),
    };
    Some((edge, Prometheus::start(openmetrics)))
}

/// A client for the MLflow tracking server `scripts/test.sh` started (its
/// URL in `MODELOPS_MLFLOW_URL`), or `None` (skip) outside end-to-end runs.
pub fn mlflow() -> Option<Client> {
    match std::env::var("MODELOPS_MLFLOW_URL") {
        Ok(url) if !url.is_empty() => {
            let endpoint = Endpoint::new(&url, &Credentials::default()).expect("valid URL");
            Some(Client::new(endpoint, Duration::from_secs(20)).expect("client"))
        }
        _ if super::required() => {
            panic!("MODELOPS_E2E=1 but no MLflow server: run the suite through scripts/test.sh")
        }
        _ => {
            eprintln!(
                "skipped: no MLflow server (MODELOPS_MLFLOW_URL unset; scripts/test.sh starts one)"
            );
            None
        }
    }
}

/// The URL of the MLflow tracking server `scripts/test.sh` started, or
/// `None` (skip) outside end-to-end runs, like [`mlflow`].
pub fn mlflow_url() -> Option<String> {
    mlflow().map(|_| std::env::var("MODELOPS_MLFLOW_URL").unwrap_or_default())
}

/// Tests that apply take the one apply lock in the shared MLflow server
/// (and one of them breaks it on purpose): they run one at a time.
pub fn mlflow_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A model name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// POSTs `body` to the MLflow REST API's `path` (such as `runs/create`), a
/// request modelops itself never sends; panics on an error.
pub fn mlflow_post(
    client: &Client,
    path: &'static str,
    body: serde_json::Value,
) -> serde_json::Value {
    let request = Request {
        method: Method::Post,
        path,
        query: Vec::new(),
        body: Some(body),
        idempotent: false,
    };
    client
        .send(&request)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}
