//! Real model servers for the live loop: tiny scikit-learn versions trained
//! and registered in the suite's MLflow server, each served by
//! `mlflow models serve` (`scripts/live.sh`), and the bounded load generator
//! (`scripts/live/load.py`) whose per-request log a test reads back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// What a registered version does (`scripts/live/train.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Answers every request.
    Good,
    /// Answers 40 ms slower, and with a 500 for about a third of inputs.
    Bad,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Good => "good",
            Kind::Bad => "bad",
        }
    }
}

fn live_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/live.sh")
}

/// A model logged by `scripts/live/train.py`.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The registered version's number (`None` when only logged).
    pub version: Option<u64>,
    /// The training run.
    pub run: String,
    /// What a manifest's `source:` names (`models:/m-…`).
    pub source: String,
}

/// Logs one model per kind in the MLflow server at `mlflow_url`, in order;
/// with `register`, each is also registered as the next version of that
/// model.
pub fn train(mlflow_url: &str, register: Option<&str>, kinds: &[Kind]) -> Vec<Trained> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("versions.txt");
    let mut command = Command::new(live_sh());
    match register {
        Some(model) => command.args(["register", model]),
        None => command.arg("train"),
    };
    let status = command
        .arg(&out)
        .args(kinds.iter().map(|k| k.word()))
        .env("MLFLOW_TRACKING_URI", mlflow_url)
        .status()
        .expect("live.sh runs");
    assert!(status.success(), "live.sh train failed");
    let text = std::fs::read_to_string(&out).expect("the trained versions");
    text.lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!(words.len(), 4, "VERSION KIND RUN SOURCE: {line}");
            Trained {
                version: words[0].parse().ok(),
                run: words[2].to_string(),
                source: words[3].to_string(),
            }
        })
        .collect()
}

/// Model servers for some versions of one model; stopped when dropped.
pub struct ModelServers {
    dir: tempfile::TempDir,
    /// Each served version's `127.0.0.1:port`.
    pub address: BTreeMap<u64, String>,
}

impl ModelServers {
    /// Starts a server per version (side by side) and waits until each
    /// answers `/ping`.
    pub fn start(mlflow_url: &str, model: &str, versions: &[u64]) -> ModelServers {
        let dir = tempfile::tempdir().expect("tempdir");
        let children: Vec<(u64, std::process::Child)> = versions
            .iter()
            .map(|v| {
                let child = Command::new(live_sh())
                    .arg("serve")
                    .arg(dir.path())
                    .args([model, &v.to_string()])
                    .env("MLFLOW_TRACKING_URI", mlflow_url)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .expect("live.sh runs");
                (*v, child)
            })
            .collect();
        // Built before the checks, so servers that did start are stopped on drop.
        let mut servers = ModelServers {
            dir,
            address: BTreeMap::new(),
        };
        let mut failed = Vec::new();
        for (v, child) in children {
            let out = child.wait_with_output().expect("live.sh serve");
            if out.status.success() {
                let address = String::from_utf8_lossy(&out.stdout).trim().to_string();
                servers.address.insert(v, address);
            } else {
                failed.push(v);
            }
        }
        assert!(
            failed.is_empty(),
            "model servers for {failed:?} did not start"
        );
        servers
    }

    /// The port version `v` is served on.
    pub fn port(&self, v: u64) -> u16 {
        let address = &self.address[&v];
        address.rsplit(':').next().unwrap().parse().expect("a port")
    }
}

impl Drop for ModelServers {
    fn drop(&mut self) {
        let _ = Command::new(live_sh())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// One request the load generator sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Milliseconds after the load started.
    pub t_ms: f64,
    /// When it was sent, in Unix seconds.
    pub at: f64,
    /// The HTTP status, 0 when the connection failed.
    pub status: u16,
    /// The `x-modelops-version` header of the answer.
    pub version: Option<String>,
}

/// The bounded load generator, running in the background until its count
/// or duration is reached (or it is dropped).
pub struct Load {
    child: Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Load {
    /// Sends `requests` prediction requests to `url` at `rate` per second,
    /// stopping after `seconds` at the most.
    pub fn start(url: &str, requests: u32, seconds: u32, rate: u32) -> Load {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("load.jsonl");
        let child = Command::new(live_sh())
            .args(["load", "--url", url])
            .args(["--requests", &requests.to_string()])
            .args(["--duration", &seconds.to_string()])
            .args(["--rate", &rate.to_string()])
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("live.sh load runs");
        Load {
            child,
            out,
            _dir: dir,
        }
    }

    /// Ends the load now (SIGTERM) and returns every request it sent.
    pub fn stop(self) -> Vec<Sent> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.finish()
    }

    /// Waits for the load to end and returns every request it sent.
    pub fn finish(mut self) -> Vec<Sent> {
        let status = self.child.wait().expect("the load generator ends");
        assert!(status.success(), "the load generator failed");
        let text = std::fs::read_to_string(&self.out).expect("the load's log");
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                Sent {
                    t_ms: v["t"].as_f64().unwrap_or(0.0),
                    at: v["at"].as_f64().unwrap_or(0.0),
                    status: v["status"].as_u64().unwrap_or(0) as u16,
                    version: v["version"].as_str().map(str::to_string),
                }
            })
            .collect()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
