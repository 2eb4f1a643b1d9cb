//! The state lock, the committed JSON Schemas, and a closed stdout.

use std::process::Stdio;
use std::time::{Duration, Instant};

use modelops::backend::LocalStore;

use crate::common::Repo;
use crate::lifecycle::{applied, example_in_git};

/// The example repository with a one-second lock timeout.
fn impatient() -> Repo {
    let repo = example_in_git();
    repo.edit("modelops.yaml", "lock_timeout: 30s", "lock_timeout: 1s");
    repo
}

#[test]
fn apply_gives_up_on_a_held_lock_and_names_the_holder() {
    let repo = impatient();
    let mut holder = LocalStore::new(repo.state());
    holder
        .take_lock(Duration::from_secs(1), "integration test holder")
        .expect("take the lock");
    let out = repo
        .run(&["apply", "--auto-approve"])
        .code(1)
        .stderr_has(
            "error: cannot take the state lock: the state at [REPO]/state is locked by pid ",
        )
        .stderr_has("`integration test holder`) since ")
        .stderr_has("waited 1 s. If that process is gone, run `modelops unlock`")
        .within(Duration::from_secs(10));
    assert!(
        out.elapsed() >= Duration::from_secs(1),
        "it should wait the timeout first"
    );
    assert!(
        !repo.state_file().exists(),
        "nothing may be applied without the lock"
    );

    repo.run(&["unlock"])
        .code(1)
        .stderr_has("The state at [REPO]/state is locked by pid ")
        .stderr_has("`integration test holder`")
        .stderr_has("To remove it anyway: modelops unlock --force");

    drop(holder);
    repo.run(&["unlock"])
        .code(0)
        .stdout_has("No lock is held on [REPO]/state.");
    repo.run(&["apply", "--auto-approve"]).code(0);
}

#[test]
fn a_lock_held_by_another_process_blocks_apply() {
    let repo = impatient();
    std::fs::create_dir_all(repo.state()).expect("state dir");
    let lock = repo.state().join("lock");
    // --no-fork: the pid we kill is the one holding the lock.
    let mut flock = std::process::Command::new("flock")
        .args(["--no-fork"])
        .arg(&lock)
        .args(["sleep", "20"])
        .spawn()
        .expect("flock runs");
    let started = Instant::now();
    while LocalStore::lock_holder(&repo.state()).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "flock did not take the lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let apply = repo.run(&["apply", "--auto-approve"]);
    let unlock = repo.run(&["unlock"]);
    let force = repo.run(&["unlock", "--force"]);
    flock.kill().expect("stop flock");
    flock.wait().expect("reap flock");
    apply
        .code(1)
        .stderr_has("the state at [REPO]/state is locked by another process; waited 1 s")
        .within(Duration::from_secs(10));
    unlock
        .code(1)
        .stderr_has("The state at [REPO]/state is locked by another process.");
    // flock runs on this host: its lock is not broken, even with --force.
    force
        .code(1)
        .stderr_has("The lock on [REPO]/state is held by another process, and process ")
        .stderr_has("--force does not remove a live holder's lock");
    assert!(!repo.state_file().exists());
}

#[test]
fn unlock_without_a_lock() {
    let repo = applied();
    repo.run(&["unlock"])
        .code(0)
        .stdout_has("No lock is held on [REPO]/state.");
    repo.run(&["unlock", "--force"])
        .code(0)
        .stdout_has("No lock is held");
}

#[test]

fn committed_schemas_match_the_types() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let out = tempfile::tempdir().expect("tempdir");
    let repo = Repo::new();
    repo.run(&["schema", "--out", &out.path().display().to_string()])
        .code(0);
    let names = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&committed),
        names(out.path()),
        "schemas/ must hold exactly the generated files"
    );
    for name in names(out.path()) {
        let want = std::fs::read(out.path().join(&name)).expect("generated");
        let have = std::fs::read(committed.join(&name)).expect("committed");
        assert!(
            want == have,
            "schemas/{name} is out of date: run `cargo run -- schema --out schemas` and commit the result"
        );
    }
    repo.run(&[
        "schema",
        "--out",
        &committed.display().to_string(),
        "--check",
    ])
    .code(0);
}

#[test]
fn schema_prints_to_stdout_without_out() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let repo = Repo::new();
    let model = repo.run(&["schema", "model"]).code(0);
    let want = std::fs::read_to_string(committed.join("model.schema.json")).expect("committed");
    assert_eq!(model.raw_stdout(), want);
    let all: serde_json::Value =
        serde_json::from_str(repo.run(&["schema"]).code(0).raw_stdout()).expect("one JSON value");
    let kinds: Vec<&String> = all.as_object().expect("an object").keys().collect();
    assert_eq!(kinds, ["model", "deployment", "policy", "config"]);
    repo.run(&["schema", "--check"])
        .code(1)
        .stderr_has("--out <DIR>");
}

#[test]
fn schema_check_names_stale_files() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().display().to_string();
    let repo = Repo::new();
    repo.run(&["schema", "--out", &dir])
        .code(0)
        .stdout_has("model.schema.json");
    std::fs::write(out.path().join("model.schema.json"), "{}").expect("write");
    repo.run(&["schema", "--out", &dir, "--check"])
        .code(1)
        .stderr_has("out of date")
        .stderr_has("model.schema.json")
        .stderr_lacks("deployment.schema.json");
}

/// Runs a command with its stdout closed before it writes anything.
fn with_closed_stdout(repo: &Repo, args: &[&str]) -> (Option<i32>, String) {
    let mut child = repo
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn closed_stdout_is_not_a_crash() {
    let repo = example_in_git();
    for args in [
        &["plan"][..],
        &["plan", "--format", "json"],
        &["plan", "--format", "markdown"],
        &["validate"],
        &["validate", "--format", "json"],
        &["status"],
    ] {
        let (code, stderr) = with_closed_stdout(&repo, args);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    let (code, stderr) = with_closed_stdout(&repo, &["apply", "--auto-approve"]);
    assert!(!stderr.contains("panicked"), "apply panicked: {stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = with_closed_stdout(&repo, &["history", "fraud-detector"]);
    assert!(!stderr.contains("panicked"), "history panicked: {stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}
