//! The servers a monitoring test drives: Prometheus on the test's
//! [`Series`], and the rollout tests' nginx in front of a model server per
//! fraud-detector version. Both stop when dropped, also when the test panics.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Run;
use crate::nginx::server::Nginx;
use crate::nginx::upstream::{Upstream, free_port};
use crate::rollout_e2e::servers::{Edge, Prometheus, prometheus_installed, prometheus_script};

use super::series::Series;

/// Prometheus on `series`, or `None` (skip) when it is not installed outside
/// end-to-end runs.
pub fn prometheus(series: &Series) -> Option<Prometheus> {
    if !prometheus_installed() {
        return None;
    }
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
    Some(server)
}

/// nginx in front of a model server per version, and Prometheus on `series`.
pub fn edge_and_prometheus(series: &Series) -> Option<(Edge, Prometheus)> {
    let prometheus = prometheus(series)?;
    let edge = Edge {
        nginx: Nginx::start()?,
        port: free_port(),
        upstreams: ["1", "2", "3"].map(Upstream::start),
    };
    Some((edge, prometheus))
}

/// Runs modelops; when the run rewrote the nginx fragment, waits until
/// nginx's new workers serve it (a reload only signals the master).
pub fn on_edge(edge: &Edge, run: impl FnOnce() -> Run) -> Run {
    let (fragment, workers) = (edge.fragment(), edge.nginx.workers());
    let run = run();
    if edge.fragment() != fragment {
        let started = Instant::now();
        loop {
            let now = edge.nginx.workers();
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
