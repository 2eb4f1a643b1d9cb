//! A private nginx for one test: started by `scripts/nginx.sh` in a
//! temporary prefix, stopped when dropped, with the target config a user
//! writes for it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use modelops::backend::serving::nginx::NginxTarget;
use modelops::backend::serving::{Route, ServingTarget};
use modelops::manifest::config::NginxTargetConfig;

use super::MODEL;
use super::upstream::Upstream;

/// A private nginx in a temporary prefix; stopped when dropped.
pub struct Nginx {
    dir: tempfile::TempDir,
    /// The test_command for this nginx.
    pub test: String,
    reload: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nginx.sh")
}

fn script_output(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
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
        match script_output(&["start", at]) {
            Ok(_) => {}
            Err(e) if e.contains("not installed") => {
                if std::env::var("MODELOPS_E2E").as_deref() == Ok("1") {
                    panic!("MODELOPS_E2E=1 but nginx is missing: {e}");
                }
                eprintln!("skipped: {e}");
                return None;
            }
            Err(e) => panic!("scripts/nginx.sh start failed: {e}"),
        }
        let test = script_output(&["test", at]).expect("test command");
        let reload = script_output(&["reload", at]).expect("reload command");
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

    /// Applies `route` and waits until every worker serving requests runs
    /// the new configuration: a reload only signals the master, which then
    /// starts new workers while the old ones finish their requests.
    pub fn apply(&self, target: &mut NginxTarget, route: &Route) {
        let before = self.workers();
        target.apply(route).expect("apply");
        let started = Instant::now();
        loop {
            let now = self.workers();
            if !now.is_empty() && now.is_disjoint(&before) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "nginx did not reload within 5 s: workers {before:?} -> {now:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = script_output(&["stop", self.path().to_str().unwrap()]);
    }
}
