//! The audit trail only grows: `events.jsonl` is appended to and never cut,
//! every event names the hash of the one before it, `history --verify`
//! finds an edited or cut log, and a log that is not the length
//! `state.json` counts is refused without touching either file.

use crate::common::Repo;
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
