//! Sign-offs proven by pull-request reviews, against a fake GitHub API
//! ([`server::FakeGitHub`]): the fraud detector's owner `risk-ml` is mapped
//! to the team `acme/risk-ml` on the base branch, and a pull request
//! promotes version 3 with `approved_by: risk-ml` typed in. Only an
//! approving review of the head by a team member who is not the author
//! signs it off; apply after merge finds the pull request from the merge
//! that last changed the model's manifest, and records the approvers; an override is recorded; without
//! GitHub the gate fails saying why.

#[path = "approvals/server.rs"]
mod server;

use crate::common::Repo;
use crate::lifecycle::applied;
use crate::promotion::promote_12;
use server::{FakeGitHub, Pull};

const TOKEN: &str = "ghs_ApprovalsT0kenNeverShown987";
const REPO: &str = "acme/model-lifecycle";
const PR: u64 = 7;
const LATER: &str = "2026-11-27T09:00:00Z";
const OLD_HEAD: &str = "0ld0000000000000000000000000000000000000";

/// `owners:` mapping risk-ml to the team acme/risk-ml, in modelops.yaml.
fn map_owner(repo: &Repo, identity: &str) {
    let config = repo.read("modelops.yaml");
    repo.file(
        "modelops.yaml",
        format!("{config}  owners:\n    risk-ml: {identity}\n"),
    );
}

/// The example applied, the owner mapped on the base branch, and a pull
/// request's commit promoting fraud-detector 3: (repo, base, head).
fn pull_request() -> (Repo, String, String) {
    let repo = applied();
    repo.at(LATER);
    map_owner(&repo, "{github_team: acme/risk-ml}");
    repo.git_commit("map risk-ml to its team");
    let base = repo.head();
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    let head = repo.head();
    (repo, base, head)
}

/// A fake GitHub with pull request 7 (head `head`, opened by mallory) and
/// the team acme/risk-ml (alice active, carol pending).
fn github(head: &str, merge_commit: Option<&str>) -> FakeGitHub {
    let gh = FakeGitHub::start(REPO, TOKEN);
    gh.pull(Pull {
        number: PR,
        head: head.to_string(),
        author: "mallory".into(),
        merge_commit: merge_commit.map(str::to_string),
    });
    gh.member("acme", "risk-ml", "alice", "active")
        .member("acme", "risk-ml", "mallory", "active")
        .member("acme", "risk-ml", "carol", "pending");
    gh
}

fn env(gh: &FakeGitHub) -> Vec<(&'static str, String)> {
    gh.env()
}

fn run(repo: &Repo, args: &[&str], env: &[(&'static str, String)]) -> crate::common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = repo.run_with(args, &env);
    assert!(
        !run.stdout().contains(TOKEN) && !run.stderr().contains(TOKEN),
        "the token was printed"
    );
    run
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The approval row of the plan, with its reason line.
fn approval_rows(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("approval.owner"))
        .unwrap_or_else(|| panic!("no approval.owner row:\n{stdout}"));
    let mut out = lines[at].trim().to_string();
    if let Some(next) = lines
        .get(at + 1)
        .filter(|l| l.trim_start().starts_with('↳'))
    {
        out.push('\n');
        out.push_str(next.trim());
    }
    out
}

#[test]
fn only_a_team_members_approval_of_the_head_signs_off_a_pull_request() {
    // (case, reviews (login, state, on the head?, minute), passes, what the row says)
    type Row<'a> = (
        &'a str,
        Vec<(&'a str, &'a str, bool, u32)>,
        bool,
        Vec<&'a str>,
    );
    let rows: Vec<Row> = vec![
        (
            "the author approving their own pull request",
            vec![("mallory", "APPROVED", true, 1)],
            false,
            vec!["FAIL", "mallory: the pull request's author"],
        ),
        (
            "an approval of an outdated head",
            vec![("alice", "APPROVED", false, 1)],
            false,
            vec!["FAIL", "alice: approved 0ld0000, not the head"],
        ),
        (
            "a dismissed review",
            vec![("alice", "DISMISSED", true, 1)],
            false,
            vec!["FAIL", "alice: review dismissed"],
        ),
        (
            "changes requested after the approval",
            vec![
                ("alice", "APPROVED", true, 1),
                ("alice", "CHANGES_REQUESTED", true, 2),
            ],
            false,
            vec!["FAIL", "alice: latest review requests changes"],
        ),
        (
            "someone outside the team, and a pending member",
            vec![("bob", "APPROVED", true, 1), ("carol", "APPROVED", true, 2)],
            false,
            vec![
                "FAIL",
                "bob: not an active member of team acme/risk-ml",
                "carol: not an active member",
            ],
        ),
        (
            "a team member's approval of the head, on the second page",
            vec![
                ("bob", "COMMENTED", true, 1),
                ("alice", "APPROVED", true, 2),
            ],
            true,
            vec!["PASS", "alice (", "PR #7 reviews"],
        ),
    ];
    let (repo, base, head) = pull_request();
    for (case, reviews, passes, said) in rows {
        let gh = github(&head, None);
        gh.page_size(1);
        for (login, state, on_head, minute) in &reviews {
            let commit = if *on_head { head.as_str() } else { OLD_HEAD };
            gh.review(
                PR,
                login,
                state,
                commit,
                &format!("2026-11-27T08:{minute:02}:00Z"),
            );
        }
        let out = run(
            &repo,
            &["plan", "--rev", &head, "--base", &base, "--pr", "7"],
            &env(&gh),
        );
        let row = approval_rows(&out.stdout());
        for part in &said {
            assert!(row.contains(part), "{case}: {part:?} not in\n{row}");
        }
        assert!(
            row.contains("approved on GitHub by the owner, risk-ml (team acme/risk-ml)"),
            "{case}: {row}"
        );
        if passes {
            assert!(
                row.contains(&format!("alice ({})", short(&head))),
                "{case}: {row}"
            );
            out.stdout_has("~ version 3: Staging → Production");
        } else {
            out.stdout_has(
                "! version 3: mark Rejected, stays Staging (gates refuse Staging → Production)",
            );
        }
        // Bounded: the pull request, its review pages, one lookup per approver.
        let calls = gh.calls();
        assert!(calls.len() <= 6, "{case}: {calls:?}");
    }
}

#[test]
fn a_pull_request_cannot_remap_its_owner_to_its_author() {
    let (repo, base, _) = pull_request();
    // The pull request maps risk-ml to its own author, who approves.
    let config = repo
        .read("modelops.yaml")
        .replace("{github_team: acme/risk-ml}", "{github_user: mallory}");
    repo.file("modelops.yaml", config);
    repo.git_commit("risk-ml is mallory now");
    let head = repo.head();
    let gh = github(&head, None);
    gh.review(PR, "mallory", "APPROVED", &head, "2026-11-27T08:01:00Z");
    let out = run(
        &repo,
        &["plan", "--rev", &head, "--base", &base, "--pr", "7"],
        &env(&gh),
    );
    let row = approval_rows(&out.stdout());
    assert!(
        row.contains("FAIL") && row.contains("team acme/risk-ml"),
        "{row}"
    );
    out.stdout_has("owners.risk-ml.github_user");
}

#[test]
fn an_unmapped_owner_is_declared_not_verified() {
    let repo = applied();
    repo.at(LATER);
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    let out = repo.run(&["plan"]).code(0);
    let row = approval_rows(&out.stdout());
    assert!(
        row.contains("PASS") && row.contains("manifest (declared, not verified)"),
        "{row}"
    );
}

#[test]
fn apply_after_merge_finds_the_pull_request_and_records_its_approvers() {
    let repo = applied();
    repo.at(LATER);
    map_owner(&repo, "{github_team: acme/risk-ml}");
    repo.git_commit("map risk-ml to its team");
    // The pull request's branch, merged into main...
    repo.git(&["checkout", "-q", "-b", "promote"]);
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    let head = repo.head();
    repo.git(&["checkout", "-q", "main"]);
    repo.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #7 from acme/promote",
        "promote",
    ]);
    let merge = repo.head();
    // ...and another pull request merged after it, before the reconcile job
    // runs: the promotion is still signed off by #7's reviews.
    repo.file("NOTES.md", "unrelated\n");
    repo.git_commit("notes (#8)");
    let gh = github(&head, Some(&merge));
    gh.review(PR, "alice", "APPROVED", &head, "2026-11-27T08:01:00Z");
    let out = run(&repo, &["apply", "--auto-approve"], &env(&gh))
        .code(0)
        .stdout_has("Apply complete");
    let approver = format!("alice ({}) on PR #7", short(&head));
    assert!(
        out.stdout().contains(&format!("alice ({})", short(&head))),
        "the plan names the approver:\n{}",
        out.stdout()
    );
    // The pull request of the merge that last changed the model's manifest,
    // its reviews, alice's membership: asked once for the plan and the
    // re-check under the lock.
    assert_eq!(
        gh.calls(),
        vec![
            format!("GET /repos/{REPO}/commits/{merge}/pulls"),
            format!("GET /repos/{REPO}/pulls/7/reviews"),
            "GET /orgs/acme/teams/risk-ml/memberships/alice".to_string(),
        ]
    );
    // The event log...
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has(&format!(
            "fraud-detector version 3: Staging → Production (promoted to serve); signed off by {approver}"
        ));
    let json = repo
        .run(&["history", "fraud-detector", "--format", "json"])
        .code(0)
        .json();
    let change = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["changes"].as_array().cloned().unwrap_or_default())
        .find(|c| c["field"] == "signed_off_by")
        .expect("a signed_off_by change");
    assert_eq!(change["after"], approver.as_str());
    // ...and the registry.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.state_file()).unwrap()).unwrap();
    let versions = state["state"]["models"]["fraud-detector"]["versions"]
        .as_array()
        .unwrap();
    let v3 = versions.iter().find(|v| v["version"] == 3).unwrap();
    assert_eq!(v3["stage"], "Production");
    assert_eq!(v3["signed_off_by"], approver.as_str());
}

#[test]
fn without_github_the_gate_fails_and_says_why() {
    // (case, environment, what the reason says)
    let (repo, _, head) = pull_request();
    repo.git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "Merge pull request #7",
    ]);
    let merge = repo.head();
    let gh = github(&head, Some(&merge));
    gh.review(PR, "alice", "APPROVED", &head, "2026-11-27T08:01:00Z");
    let refused = github(&head, Some(&merge));
    refused
        .review(PR, "alice", "APPROVED", &head, "2026-11-27T08:01:00Z")
        .refuse_membership();
    let mut no_token = env(&gh);
    no_token.retain(|(k, _)| *k != "GITHUB_TOKEN");
    no_token.push(("GITHUB_TOKEN", String::new()));
    let mut down = env(&gh);
    down.retain(|(k, _)| *k != "GITHUB_API_URL");
    down.push(("GITHUB_API_URL", "http://127.0.0.1:9".into()));
    type Vars = Vec<(&'static str, String)>;
    let rows: Vec<(&str, Vars, &str)> = vec![
        ("no token", no_token, "GITHUB_TOKEN is not set"),
        (
            "GitHub out of reach",
            down,
            "cannot find the pull request of commit",
        ),
        (
            "membership refused (a workflow's GITHUB_TOKEN)",
            env(&refused),
            "the token lacks the organisation's members:read permission",
        ),
    ];
    for (case, env, why) in rows {
        // A plan refusing a move exits 1.
        let out = run(&repo, &["plan"], &env).code(1);
        let row = approval_rows(&out.stdout());
        assert!(row.contains("FAIL") && row.contains(why), "{case}: {row}");
        let _ = out.stdout_has(
            "! version 3: mark Rejected, stays Staging (gates refuse Staging → Production)",
        );
    }
}

#[test]
fn an_override_is_recorded_with_its_reason_and_who_gave_it() {
    let (repo, _, _) = pull_request();
    // Without GitHub the move is refused, and the version marked Rejected...
    let _ = repo
        .run_with(&["apply", "--auto-approve"], &[("GITHUB_TOKEN", "")])
        .code(1)
        .stdout_has("GITHUB_TOKEN is not set");
    // ...which an override lifts: its verdict is not the one refused.
    let out = repo
        .run_with(
            &[
                "apply",
                "--auto-approve",
                "--approval-override",
                "GitHub outage INC-42",
            ],
            &[("GITHUB_TOKEN", "")],
        )
        .code(0)
        .stdout_has("Apply complete");
    let row = approval_rows(&out.stdout());
    assert!(
        row.contains("PASS") && row.contains("override by tester"),
        "{row}"
    );
    repo.run(&["history", "fraud-detector"])
        .code(0)
        .stdout_has(
            "fraud-detector version 3: approval.owner overridden by tester: GitHub outage INC-42",
        )
        .stdout_has("fraud-detector version 3: Staging → Production (promoted to serve)");
    let json = repo
        .run(&["history", "fraud-detector", "--format", "json"])
        .code(0)
        .json();
    let events = json["events"].as_array().unwrap();
    let o = events
        .iter()
        .find(|e| e["action"] == "approval_override")
        .expect("an approval_override event");
    assert_eq!(o["actor"], "tester");
    assert_eq!(o["changes"][0]["after"], "GitHub outage INC-42");
}

#[test]
fn an_owner_mapping_is_checked_where_it_is_written() {
    let repo = Repo::example();
    map_owner(&repo, "{github_team: acme}");
    repo.run(&["validate"])
        .code(1)
        .stderr_has("owner `risk-ml`: `acme` is not a team as org/team-slug");
    let repo = Repo::example();
    map_owner(&repo, "{github_team: acme/risk-ml, github_user: alice}");
    repo.run(&["validate"])
        .code(1)
        .stderr_has("give github_team or github_user, not both");
}
