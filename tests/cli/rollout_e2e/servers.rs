//! The servers a rollout test drives: a private nginx in front of model
//! servers for versions 1 to 3 (from the nginx tests), and a Prometheus
//! holding the test's series (`scripts/prometheus.sh`). Both stop when
//! dropped, also when the test panics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Repo, Run};
use crate::nginx::server::Nginx;
use crate::nginx::upstream::{Upstream, free_port, send_many};

use super::series::{MODEL, Series};

/// Whether Prometheus is installed; outside end-to-end runs its absence is a
/// skip, inside them a failure.
pub(crate) fn prometheus_installed() -> bool {
    let installed = Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed && std::env::var("MODELOPS_E2E").as_deref() == Ok("1") {
        panic!("MODELOPS_E2E=1 but prometheus is not installed: run scripts/prometheus.sh install");
    }
    if !installed {
        eprintln!("skipped: prometheus is not installed (scripts/prometheus.sh install)");
    }
    installed
}

/// A Prometheus server holding one [`Series`].
pub struct Prometheus {
    pub(crate) dir: tempfile::TempDir,
    pub url: String,
}

pub(crate) fn prometheus_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/prometheus.sh")
}

impl Prometheus {
    fn start(series: &Series) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("series.om.txt");
        let text = series.openmetrics();
        eprintln!("backfilling {} KB of OpenMetrics", text.len() / 1024);
        std::fs::write(&file, text).expect("write the series");
        let out = Command::new(prometheus_script())
            .arg("start")
            .arg(dir.path().join("server"))
            .arg(&file)
            .output()
            .expect("prometheus.sh runs");
        let mut server = Prometheus {
            dir,
            url: String::new(),
        };
        assert!(
            out.status.success(),
            "prometheus.sh start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        server.url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        server
    }

    /// Stops the server (as an outage would); dropping it later is harmless.
    pub fn stop(&self) {
        let _ = Command::new(prometheus_script())
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

/// nginx in front of one model server per fraud-detector version, listening
/// on `port`.
pub struct Edge {
    pub nginx: Nginx,
    pub port: u16,
    pub(crate) upstreams: [Upstream; 3],
}

impl Edge {
    /// The `edge` target's entry in `modelops.yaml`, its fragments in nginx's
    /// `conf.d`.
    pub fn target_yaml(&self) -> String {
        let config = self.nginx.config(self.port, &[]);
        let upstreams: Vec<String> = self
            .upstreams
            .iter()
            .map(|u| format!("\"{}\": 127.0.0.1:{}", u.version, u.port))
            .collect();
        format!(
            "      edge:\n        type: nginx\n        config_dir: {}\n        test_command: {}\n        reload_command: {}\n        listen: {{{MODEL}: \"127.0.0.1:{}\"}}\n        upstreams:\n          {MODEL}: {{{}}}\n",
            self.nginx.path().join("conf.d").display(),
            config.test_command.expect("a test command"),
            config.reload_command.expect("a reload command"),
            self.port,
            upstreams.join(", ")
        )
    }

    pub(crate) fn fragment(&self) -> Option<String> {
        let path = self
            .nginx
            .path()
            .join(format!("conf.d/modelops-{MODEL}.conf"));
        std::fs::read_to_string(path).ok()
    }

    /// `modelops apply --auto-approve`; when it rewrote the fragment, waits
    /// until nginx's new workers serve it (a reload only signals the master).
    pub fn apply(&self, repo: &Repo) -> Run {
        let (fragment, workers) = (self.fragment(), self.nginx.workers());
        let run = repo.run(&["apply", "--auto-approve"]);
        if self.fragment() != fragment {
            let started = Instant::now();
            loop {
                let now = self.nginx.workers();
                if !now.is_empty() && now.is_disjoint(&workers) {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "nginx did not reload within 5 s: workers {workers:?} -> {now:?}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        run
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

/// nginx with its model servers, and Prometheus on `series`; `None` (skip)
/// when either is not installed outside end-to-end runs.
pub fn start(series: &Series) -> Option<(Edge, Prometheus)> {
    if !prometheus_installed() {
        return None;
    }
    let nginx = Nginx::start()?;
    let upstreams = ["1", "2", "3"].map(Upstream::start);
    let edge = Edge {
        nginx,
        port: free_port(),
        upstreams,
    };
    Some((edge, Prometheus::start(series)))
}
