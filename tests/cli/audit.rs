//! The audit trail only grows: `events.jsonl` is appended to and never cut,
//! every event names the hash of the one before it, `history --verify`
//! finds an edited or cut log, and a log that is not the length
//! `state.json` counts is refused without touching either file.

use crate::common::Repo;
use crate::e2e::servers::{mlflow, mlflow_serial, unique};
use crate::lifecycle::applied;
use crate::promotion::promote_12;

/// The example applied, then fraud-detector 3 promoted and applied: two
/// applies, so the log spans two commits.
fn two_applies() -> Repo {
    let repo = applied();
    repo.at("2026-11-27T09:00:00Z");
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo
}

fn log(repo: &Repo) -> Vec<u8> {
    std::fs::read(repo.state().join("events.jsonl")).expect("events.jsonl")
}

fn lines(repo: &Repo) -> Vec<String> {
    String::from_utf8(log(repo))
        .expect("UTF-8")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_event_names_the_hash_of_the_line_before() {
    let repo = two_applies();
    let lines = lines(&repo);
    assert!(lines.len() > 20, "{} events", lines.len());
    let mut prev = sha256(b"");
    for (i, line) in lines.iter().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line).expect("event JSON");
        assert_eq!(event["seq"], i as u64);
        assert_eq!(event["prev_hash"], prev.as_str(), "line {}", i + 1);
        prev = sha256(line.as_bytes());
    }
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.state_file()).expect("state")).expect("JSON");
    assert_eq!(state["last_event_hash"], prev.as_str());
    repo.run(&["history", "--verify"])
        .code(0)
        .stdout_has(&format!("events.jsonl: {} events intact.", lines.len()));
}

/// SHA-256 in hex, through `sha256sum` so the test does not share the
/// binary's code.
fn sha256(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    String::from_utf8(out.stdout).expect("hex")[..64].to_string()
}

#[test]
fn verify_names_the_first_line_that_was_changed_removed_or_cut() {
    type Damage = fn(&mut Vec<String>);
    // (case, what is done to the log's lines, the line and words reported)
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "an event's summary edited",
            |l| l[2] = l[2].replace("registered", "REGISTERED"),
            ":3: event 3 does not match the hash that record 4 names",
        ),
        (
            "an event's actor edited in the last apply",
            |l| {
                let n = l.len() - 2;
                l[n] = l[n].replace("\"actor\":\"tester\"", "\"actor\":\"someone\"");
            },
            "does not match the hash that record",
        ),
        (
            "an event removed",
            |l| {
                l.remove(4);
            },
            ":5: event 5 has seq 5 where 4 was expected",
        ),
        (
            "the last event edited, same length",
            |l| {
                let n = l.len() - 1;
                l[n] = l[n].replace("tester", "hacker");
            },
            "does not match the hash the state keeps of the last event",
        ),
        (
            "the last event edited, longer",
            |l| {
                let n = l.len() - 1;
                l[n] = l[n].replace("tester", "someone");
            },
            "does not end where the state's count does",
        ),
        (
            "the log cut after 10 lines",
            |l| l.truncate(10),
            ":11: event 11 is missing: state.json counts ",
        ),
    ];
    for (name, damage, wanted) in cases {
        let repo = two_applies();
        let mut l = lines(&repo);
        damage(&mut l);
        std::fs::write(
            repo.state().join("events.jsonl"),
            l.iter().map(|x| format!("{x}\n")).collect::<String>(),
        )
        .expect("write");
        let out = repo.run(&["history", "--verify"]).code(1);
        assert!(out.stderr().contains(wanted), "{name}: {}", out.stderr());
    }
}

#[test]
fn a_log_that_does_not_match_the_state_is_refused_untouched() {
    type Damage = fn(&Repo, &[u8]);
    // (case, damage given the state.json saved after the first apply, words)
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "state.json restored from a backup",
            |repo, backup| std::fs::write(repo.state_file(), backup).expect("restore"),
            "The log is longer than the state counts",
        ),
        (
            "state.json lost",
            |repo, _| std::fs::remove_file(repo.state_file()).expect("remove"),
            "The log is longer than the state counts",
        ),
        (
            "the log shorter than state.json counts",
            |repo, _| {
                let log = log(repo);
                std::fs::write(repo.state().join("events.jsonl"), &log[..log.len() / 2])
                    .expect("cut")
            },
            "The log is shorter than the state says",
        ),
    ];
    for (name, damage, wanted) in cases {
        let repo = applied();
        let backup = std::fs::read(repo.state_file()).expect("state");
        repo.at("2026-11-27T09:00:00Z");
        promote_12(&repo);
        repo.git_commit("promote fraud-detector 3");
        repo.run(&["apply", "--auto-approve"]).code(0);
        damage(&repo, &backup);
        let before = log(&repo);
        let state_before = std::fs::read(repo.state_file()).ok();
        // Something to apply whatever the state says.
        repo.edit(
            "models/fraud-detector.yaml",
            "description: Real-time fraud score",
            "description: Fraud score",
        );
        repo.git_commit("describe");
        let out = repo.run(&["apply", "--auto-approve"]).code(1);
        for w in [
            "state.json counts ",
            "bytes of events in ",
            "nothing was written to either file",
            wanted,
        ] {
            assert!(
                out.stderr().contains(w),
                "{name}: lacks {w:?}\n{}",
                out.stderr()
            );
        }
        assert_eq!(log(&repo), before, "{name}: the log was touched");
        assert_eq!(
            std::fs::read(repo.state_file()).ok(),
            state_before,
            "{name}: state.json was touched"
        );
        repo.run(&["history", "--verify"]).code(1);
    }
}

#[test]
fn unlock_force_refuses_while_the_holder_runs_on_this_host() {
    let repo = applied();
    let lock = repo.state().join("lock");
    // A holder naming a live process on this host, which holds the OS lock
    // (--no-fork: the pid holding it is the one spawned).
    let mut flock = std::process::Command::new("flock")
        .args(["--no-fork"])
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .expect("flock runs");
    let pid = flock.id();
    let started = std::time::Instant::now();
    while modelops::backend::LocalStore::lock_holder(&repo.state()).is_none() {
        assert!(
            started.elapsed().as_secs() < 10,
            "flock did not take the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let force = repo.run(&["unlock", "--force"]);
    let still_held = modelops::backend::LocalStore::lock_holder(&repo.state()).is_some();
    let lock_file_kept = lock.exists();
    flock.kill().expect("stop flock");
    flock.wait().expect("reap flock");
    force
        .code(1)
        .stderr_has(&format!("and process {pid} is running on this host ("))
        .stderr_has("--force does not remove a live holder's lock")
        .stdout_empty();
    assert!(
        still_held && lock_file_kept,
        "a live holder's lock was removed"
    );
    // Once it has ended, nothing holds the lock.
    repo.run(&["unlock", "--force"])
        .code(0)
        .stdout_has("No lock is held");
}

#[test]
fn unlock_force_on_mlflow_checks_a_holder_on_this_host() {
    use modelops::backend::mlflow::request;
    let Some(client) = mlflow() else {
        return;
    };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").expect("url");
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let live = child.id();
    // (case, holder text, exit, words)
    let cases = [
        (
            "a live process on this host",
            format!("pid {live} (ci@{here}, `modelops apply`) since 2026-11-26T09:00:00Z"),
            1,
            format!("and process {live} is running on this host"),
        ),
        (
            "a process that has ended",
            format!(
                "pid {} (ci@{here}, `modelops apply`) since 2026-11-26T09:00:00Z",
                u32::MAX - 7
            ),
            0,
            format!("Process {} no longer runs on this host", u32::MAX - 7),
        ),
        (
            "another host",
            format!(
                "pid {live} (ci@elsewhere-{here}, `modelops apply`) since 2026-11-26T09:00:00Z"
            ),
            0,
            format!("It was taken on another host (elsewhere-{here})"),
        ),
    ];
    let repo = Repo::new();
    for (name, holder, code, words) in cases {
        let expires = "2999-01-01T00:00:00Z".to_string();
        client
            .send(&request::create_registered_model(
                "modelops-lock",
                Some(&holder),
                &[
                    ("modelops.lock.holder".into(), holder.clone()),
                    ("modelops.lock.expires".into(), expires),
                ],
            ))
            .expect("lock model");
        let out = repo.run_with(&["unlock", "--force"], &env).code(code);
        let text = if code == 0 {
            out.stdout()
        } else {
            out.stderr()
        };
        assert!(text.contains(&words), "{name}: {text}");
        let held = client
            .send(&request::get_registered_model("modelops-lock"))
            .is_ok();
        assert_eq!(held, code == 1, "{name}: lock kept only for a live holder");
        if held {
            client
                .send(&request::delete_registered_model("modelops-lock"))
                .expect("clean up");
        }
    }
    child.kill().expect("stop sleep");
    child.wait().expect("reap");
}

#[test]
fn a_rollout_record_out_of_bounds_is_an_error_never_a_promotion() {
    // (case, the hand edit to fraud-detector's rollout record, words)
    type Edit = fn(&mut serde_json::Value);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "step 99",
            |r| r["step"] = 99.into(),
            "rollouts.fraud-detector.step: 99 is outside its 4 stages (0 to 3)",
        ),
        (
            "a weight over 100",
            |r| r["stages"][0]["traffic_percent"] = 250.into(),
            "rollouts.fraud-detector.stages.0.traffic_percent: 250 is over 100",
        ),
        (
            "a version never registered",
            |r| r["version"] = 99.into(),
            "rollouts.fraud-detector.version: version 99 is not registered",
        ),
    ];
    for (name, edit, words) in cases {
        let repo = applied();
        // Git promotes version 3; the canary starts: a real record, at
        // stage 1 of 4.
        crate::rollouts::promote(&repo);
        repo.run(&["apply", "--auto-approve"]).code(0);
        let mut state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo.state_file()).expect("state"))
                .expect("JSON");
        let record = &mut state["state"]["rollouts"]["fraud-detector"];
        assert_eq!(record["step"], 0, "{name}: the canary's first stage");
        edit(record);
        std::fs::write(repo.state_file(), serde_json::to_vec(&state).expect("JSON"))
            .expect("write");
        let log_before = log(&repo);
        // Long after every stage's duration: a valid last stage would promote.
        repo.at("2026-12-10T09:00:00Z");
        for args in [&["plan"][..], &["apply", "--auto-approve"], &["status"]] {
            let out = repo.run(args).code(1);
            assert!(
                out.stderr()
                    .contains("state/state.json holds an invalid record: ")
                    && out.stderr().contains(words),
                "{name}: {args:?}: {}",
                out.stderr()
            );
        }
        assert_eq!(log(&repo), log_before, "{name}: nothing may be recorded");
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repo.state_file()).expect("state"))
                .expect("JSON");
        let versions = state["state"]["models"]["fraud-detector"]["versions"]
            .as_array()
            .expect("versions");
        let production: Vec<&serde_json::Value> = versions
            .iter()
            .filter(|v| v["stage"] == "Production")
            .map(|v| &v["version"])
            .collect();
        assert_eq!(
            production,
            [&serde_json::json!(2)],
            "{name}: a promotion happened"
        );
    }
}

#[test]
fn mlflow_event_tags_carry_the_chain_and_verify_finds_an_edit() {
    use modelops::backend::mlflow::request;
    let Some(client) = mlflow() else {
        return;
    };
    let _serial = mlflow_serial();
    let url = std::env::var("MODELOPS_MLFLOW_URL").expect("url");
    let env = [("MLFLOW_TRACKING_URI", url.as_str())];
    let name = format!("audit-{}", &unique("x")[2..].replace('-', ""));
    let repo = Repo::new();
    repo.file(
        crate::fixtures::POLICY_FILE,
        crate::fixtures::NO_GATES_POLICY,
    );
    repo.file(
        &format!("models/{name}.yaml"),
        crate::mlflow::manifest(&name),
    );
    repo.git_commit("e2e");
    repo.run_with(&["apply", "--auto-approve"], &env).code(0);

    // Every event tag names the hash of the one before; the model's head
    // tag names the last.
    let versions = client
        .send(&request::search_model_versions(
            &format!("name='{name}'"),
            None,
        ))
        .expect("versions");
    let mut events: Vec<(u64, String, u64, String)> = Vec::new();
    for v in versions["model_versions"].as_array().expect("versions") {
        let number: u64 = v["version"]
            .as_str()
            .expect("number")
            .parse()
            .expect("number");
        for t in v["tags"].as_array().into_iter().flatten() {
            let key = t["key"].as_str().expect("key");
            if key.starts_with("modelops.event.") {
                let n = key.rsplit('.').next().unwrap().parse().expect("n");
                events.push((
                    n,
                    key.to_string(),
                    number,
                    t["value"].as_str().unwrap().into(),
                ));
            }
        }
    }
    events.sort();
    assert!(events.len() >= 4, "{events:?}");
    let mut prev = sha256(b"");
    for (i, (n, _, _, value)) in events.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1);
        let e: serde_json::Value = serde_json::from_str(value).expect("JSON");
        assert_eq!(e["prev_hash"], prev.as_str(), "event {n}");
        prev = sha256(value.as_bytes());
    }
    let model = client
        .send(&request::get_registered_model(&name))
        .expect("model");
    let head = model["registered_model"]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .find(|t| t["key"] == "modelops.events.head")
        .expect("head tag")["value"]
        .as_str()
        .expect("value")
        .to_string();
    let head: serde_json::Value = serde_json::from_str(&head).expect("JSON");
    assert_eq!(head["hash"], prev.as_str());
    assert_eq!(head["seq"], events.len() as u64);
    repo.run_with(&["history", "--verify", &name], &env)
        .code(0)
        .stdout_has(&format!("model {name}: {} events intact.", events.len()));

    // Someone rewrites who made the second change.
    let (_, key, number, value) = &events[1];
    client
        .send(&request::set_model_version_tag(
            &name,
            *number,
            key,
            &value.replace("\"actor\":\"tester\"", "\"actor\":\"someone\""),
        ))
        .expect("edit tag");
    repo.run_with(&["history", "--verify", &name], &env)
        .code(1)
        .stderr_has(&format!(
            "model {name}:2: event 2 (tag {key} on version {number}) does not match the hash that record 3 names"
        ));
}
