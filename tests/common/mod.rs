//! The fluent helper every test uses: a temporary repository, the real
//! binary run against it, and checks on what came out.
//!
//! ```ignore
//! Repo::new()
//!     .file("models/a.yaml", TEXT)
//!     .git_commit("first")
//!     .run(&["plan"])
//!     .code(0)
//!     .stdout_has("Plan: 2 to add");
//! ```
//!
//! Every run gets `--repo <tempdir>` and `--state <tempdir>/state`, a fixed
//! clock (`MODELOPS_NOW`), `USER=tester` (commits are authored by
//! `tester` too) and no CI actor, so output is
//! deterministic once the temporary path and commit ids are redacted.
//! Snapshots (see [`snapshot!`]) live in `tests/snapshots/`.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `insta::assert_snapshot!`, keeping every snapshot in `tests/snapshots/`
/// (the path is relative to the test file, in `tests/cli/`).
macro_rules! snapshot {
    ($value:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!($value);
        })
    };
    ($name:expr, $value:expr) => {
        insta::with_settings!({ snapshot_path => "../snapshots" }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}
pub(crate) use snapshot;

/// The clock every run sees unless a test moves it.
pub const NOW: &str = "2026-11-26T09:00:00Z";

/// A run that takes longer than this is a hang, and fails the test.
const HANG: Duration = Duration::from_secs(30);

/// A temporary model-lifecycle repository.
pub struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    commits: RefCell<Vec<String>>,
    now: RefCell<String>,
    repo_dir: RefCell<String>,
    state_flag: Cell<bool>,
}

impl Repo {
    /// An empty repository: only `models/`.
    pub fn new() -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("modelops-test-")
            .tempdir()
            .expect("tempdir");
        // Canonical, so paths in messages (which are resolved) match it.
        let root = dir.path().canonicalize().expect("canonical tempdir");
        std::fs::create_dir_all(root.join("models")).expect("models/");
        Repo {
            _dir: dir,
            root,
            commits: RefCell::new(Vec::new()),
            now: RefCell::new(NOW.to_string()),
            repo_dir: RefCell::new(String::new()),
            state_flag: Cell::new(true),
        }
    }

    /// A copy of `example-repo/`.
    pub fn example() -> Repo {
        let repo = Repo::new();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo"),
            &repo.root,
        );
        repo
    }

    /// The repository's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the repository.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The state directory every run is given (`--state`).
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// `state/state.json`.
    pub fn state_file(&self) -> PathBuf {
        self.state().join("state.json")
    }

    /// Whether any state directory exists (the one given, or the default).
    pub fn has_state_dir(&self) -> bool {
        self.state().exists() || self.path(".modelops").exists()
    }

    /// Writes a file (creating its folders).
    pub fn file(&self, rel: &str, text: impl AsRef<[u8]>) -> &Repo {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        self
    }

    /// The text of a file.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    /// Records in the embedded state that a rollout of `model` `version`
    /// finished in `phase` (`Succeeded`, `Failed`, ...): the evidence the
    /// Staging → Production gate looks for, as the rollout engine leaves it.
    pub fn record_rollout(&self, model: &str, version: u64, strategy: &str, phase: &str) -> &Repo {
        let path = self.state_file();
        let mut file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("state.json")).expect("JSON");
        file["state"]["rollouts"][model] = serde_json::json!({
            "strategy": strategy,
            "version": version,
            "step": 0,
            "step_started_at": "2026-11-26T09:00:00Z",
            "phase": phase,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&file).expect("JSON")).expect("write");
        self
    }

    /// Replaces `from` (which must occur exactly once) with `to` in a file.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &Repo {
        let text = self.read(rel);
        assert_eq!(
            text.matches(from).count(),
            1,
            "{rel} must contain {from:?} exactly once"
        );
        self.file(rel, text.replacen(from, to, 1))
    }

    /// Removes a file.
    pub fn remove(&self, rel: &str) -> &Repo {
        std::fs::remove_file(self.path(rel)).expect("remove");
        self
    }

    /// Makes `rel` a symlink to `target` (taken as written).
    pub fn symlink(&self, rel: &str, target: impl AsRef<Path>) -> &Repo {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, &path).expect("symlink");
        self
    }

    /// Sets the clock of later runs.
    pub fn at(&self, now: &str) -> &Repo {
        *self.now.borrow_mut() = now.to_string();
        self
    }

    /// Later runs read the real clock (no `MODELOPS_NOW`), as the live loop
    /// needs: its metrics are scraped as they happen.
    pub fn real_clock(&self) -> &Repo {
        self.now.borrow_mut().clear();
        self
    }

    /// Later runs get `--repo <root>/<rel>`: the modelops repository is a
    /// subdirectory of the git repository.
    pub fn repo_dir(&self, rel: &str) -> &Repo {
        *self.repo_dir.borrow_mut() = rel.to_string();
        self
    }

    /// Later runs get no `--state`: the state goes where `modelops.yaml` or
    /// the default says.
    pub fn default_state(&self) -> &Repo {
        self.state_flag.set(false);
        self
    }

    /// Runs git in the repository, hermetically; returns its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=tester",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
            .args(args)
            .current_dir(&self.root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("git output is UTF-8")
    }

    /// Commits everything (initialising the repository on first use); the
    /// state directory is ignored.
    pub fn git_commit(&self, message: &str) -> &Repo {
        if !self.path(".git").exists() {
            self.git(&["init", "-q"]);
            let ignore = self.path(".gitignore");
            let mut text = std::fs::read_to_string(&ignore).unwrap_or_default();
            text.push_str("state/\n.modelops/\n");
            std::fs::write(ignore, text).expect("write .gitignore");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.commits.borrow_mut().push(self.head());
        self
    }

    /// The commit HEAD points at.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// The binary with the repository, state, clock and user set up.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelops"));
        let dir = self.repo_dir.borrow();
        let repo = if dir.is_empty() {
            self.root.clone()
        } else {
            self.root.join(&*dir)
        };
        cmd.args(args).arg("--repo").arg(repo);
        if self.state_flag.get() {
            cmd.arg("--state").arg(self.state());
        }
        match &*self.now.borrow() {
            now if now.is_empty() => cmd.env_remove("MODELOPS_NOW"),
            now => cmd.env("MODELOPS_NOW", now),
        };
        cmd.current_dir(&self.root)
            .env("USER", "tester")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GITHUB_ACTOR")
            .env_remove("LOGNAME")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .env_remove("MLFLOW_TRACKING_USERNAME")
            .env_remove("MLFLOW_TRACKING_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs the binary and collects what it printed. Fails the test if it
    /// hangs.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// [`Repo::run`] with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let started = Instant::now();
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        let child = command.spawn().expect("modelops starts");
        let (status, stdout, stderr) = wait(child);
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            status,
            stdout,
            stderr,
            elapsed: started.elapsed(),
            root: self.root.display().to_string(),
            commits: self.commits.borrow().clone(),
        }
    }
}

/// Waits for a child with a deadline, reading both pipes.
fn wait(mut child: Child) -> (ExitStatus, String, String) {
    fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }
    let out = drain(child.stdout.take().expect("stdout piped"));
    let err = drain(child.stderr.take().expect("stderr piped"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("modelops did not finish within {HANG:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (
        status,
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    )
}

/// What one run of the binary did.
pub struct Run {
    args: Vec<String>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    root: String,
    commits: Vec<String>,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "modelops {}\n--- exit: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args.join(" "),
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, want: i32) -> Run {
        assert_eq!(
            self.status.code(),
            Some(want),
            "wrong exit code\n{}",
            self.context()
        );
        self
    }

    /// Asserts stdout contains `text` (after redaction).
    #[track_caller]
    pub fn stdout_has(self, text: &str) -> Run {
        assert!(
            self.stdout().contains(text),
            "stdout lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts stdout does not contain `text` (after redaction).
    #[track_caller]
    pub fn stdout_lacks(self, text: &str) -> Run {
        assert!(
            !self.stdout().contains(text),
            "stdout has {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts stderr contains `text` (after redaction).
    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Run {
        assert!(
            self.stderr().contains(text),
            "stderr lacks {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts stderr does not contain `text` (after redaction).
    #[track_caller]
    pub fn stderr_lacks(self, text: &str) -> Run {
        assert!(
            !self.stderr().contains(text),
            "stderr has {text:?}\n{}",
            self.context()
        );
        self
    }

    /// Asserts stdout is empty.
    #[track_caller]
    pub fn stdout_empty(self) -> Run {
        assert!(
            self.stdout.is_empty(),
            "stdout is not empty\n{}",
            self.context()
        );
        self
    }

    /// Asserts the run took less than `limit`.
    #[track_caller]
    pub fn within(self, limit: Duration) -> Run {
        assert!(
            self.elapsed < limit,
            "took {:?}, more than {limit:?}\n{}",
            self.elapsed,
            self.context()
        );
        self
    }

    /// How long the run took.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Stdout with the repository path and commit ids redacted.
    pub fn stdout(&self) -> String {
        self.redact(&self.stdout)
    }

    /// Stderr with the repository path and commit ids redacted.
    pub fn stderr(&self) -> String {
        self.redact(&self.stderr)
    }

    /// Stdout as printed, nothing redacted.
    pub fn raw_stdout(&self) -> &str {
        &self.stdout
    }

    /// Stdout as JSON, with the repository path, commit ids and the state
    /// fingerprint redacted.
    pub fn json(&self) -> serde_json::Value {
        let mut value: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.context()));
        self.redact_json(&mut value);
        value
    }

    fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "state_fingerprint" && v.is_string() {
                        *v = Value::String("[FINGERPRINT]".into());
                    } else {
                        self.redact_json(v);
                    }
                }
            }
            _ => {}
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut text = text.replace(&self.root, "[REPO]");
        for c in &self.commits {
            text = text
                .replace(c.as_str(), "[COMMIT]")
                .replace(&c[..12], "[COMMIT]");
        }
        text
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

impl Repo {
    /// Asserts that the repository is refused as invalid input, at `located`
    /// (`[REPO]/path:line:col: error: message`, or a prefix of it): `validate`
    /// and `plan` exit 1 promptly, name it, and leave no state behind; `apply`
    /// applies nothing. Returns validate's stderr for a snapshot.
    #[track_caller]
    pub fn rejects(&self, located: &str) -> String {
        let prompt = Duration::from_secs(10);
        let validate = self
            .run(&["validate"])
            .code(1)
            .stdout_empty()
            .stderr_has(located)
            .within(prompt);
        self.run(&["plan"])
            .code(1)
            .stdout_empty()
            .stderr_has(located)
            .stderr_has("nothing planned")
            .within(prompt);
        assert!(
            !self.has_state_dir(),
            "plan on invalid input left a state directory"
        );
        self.run(&["apply", "--auto-approve"])
            .code(1)
            .stderr_has(located)
            .within(prompt);
        assert!(
            !self.state_file().exists(),
            "apply on invalid input wrote state"
        );
        validate.stderr()
    }
}
