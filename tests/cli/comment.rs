//! `modelops comment` against a fake GitHub API inside the test
//! ([`server::FakeGitHub`]): one comment per pull request, found again by
//! its marker (across pages) and edited in place; a long plan split into
//! continued comments that later runs update, add to and delete; GitHub's
//! errors shown with their status; the token never shown.

#[path = "comment/server.rs"]
pub(crate) mod server;

use std::path::PathBuf;

use serde_json::Value;

use crate::common::{Repo, Run, snapshot};
use crate::lifecycle::example_in_git;
use server::FakeGitHub;

const TOKEN: &str = "ghs_T0kenThatMustNeverBeShown1234";
const REPO: &str = "acme/model-lifecycle";
const PR: u64 = 7;

/// The example's first plan, saved as `plan --format json` prints it.
fn saved_plan(repo: &Repo) -> PathBuf {
    let run = repo.run(&["plan", "--format", "json"]).code(0);
    let path = repo.path("plan.json");
    std::fs::write(&path, run.raw_stdout()).expect("write plan.json");
    path
}

/// The same plan with a manifest diff of `lines` lines on its first model:
/// about 50 bytes a line.
fn plan_with_long_diff(repo: &Repo, lines: usize) -> PathBuf {
    let mut plan: Value =
        serde_json::from_slice(&std::fs::read(saved_plan(repo)).unwrap()).expect("plan JSON");
    let mut diff = String::from(
        "--- a/models/churn-predictor.yaml\n+++ b/models/churn-predictor.yaml\n@@ -1,3 +1,4000 @@\n",
    );
    for i in 0..lines {
        diff.push_str(&format!(
            "+          - {{name: feature_{i:05}, type: double}}\n"
        ));
    }
    plan["models"][0]["manifest_diff"] = Value::String(diff);
    let path = repo.path("plan-long.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    path
}

/// Runs `modelops comment --pr 7 --plan PLAN` with the server's environment.
fn comment(repo: &Repo, server: &FakeGitHub, plan: &std::path::Path) -> Run {
    run_against(repo, server, plan, &[])
}

/// [`comment`] with some of the environment replaced; checks that the
/// token was printed nowhere.
fn run_against(
    repo: &Repo,
    server: &FakeGitHub,
    plan: &std::path::Path,
    replaced: &[(&'static str, &str)],
) -> Run {
    let mut env = server.env();
    for (k, v) in replaced {
        env.retain(|(n, _)| n != k);
        env.push((k, v.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let pr = server.pr().to_string();
    let run = repo.run_with(
        &["comment", "--pr", &pr, "--plan", plan.to_str().unwrap()],
        &env,
    );
    assert!(
        !run.stdout().contains(TOKEN) && !run.stderr().contains(TOKEN),
        "the token was printed:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
    run
}

fn fences_balanced(body: &str) -> bool {
    body.lines()
        .filter(|l| l.trim_start().starts_with("```"))
        .count()
        % 2
        == 0
}

#[test]
fn the_first_run_posts_and_later_runs_edit_the_same_comment() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    let other = server.seed("alice", "Please check the fraud thresholds.");

    let run = comment(&repo, &server, &plan).code(0);
    let comments = server.comments();
    assert_eq!(comments.len(), 2);
    let ours = &comments[1];
    assert_eq!(
        run.stdout(),
        format!(
            "Posted the plan comment on pull request #7: https://github.com/{REPO}/pull/7#issuecomment-{}\n",
            ours.id
        )
    );
    assert_eq!(
        server.take_calls(),
        [
            "GET /repos/acme/model-lifecycle/issues/7/comments",
            "POST /repos/acme/model-lifecycle/issues/7/comments"
        ]
    );
    // What a person reads: the plan, under its marker, with a footer.
    let body = ours.body.replace(repo.root().to_str().unwrap(), "[REPO]");
    let commit = repo.head();
    snapshot!(
        "first_comment_body",
        body.replace(&commit[..12], "[COMMIT]")
    );

    // The next run, after a new commit, edits that comment: no second one.
    repo.edit(
        "models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Development",
    );
    repo.git_commit("demote");
    let plan = saved_plan(&repo);
    let run = comment(&repo, &server, &plan).code(0);
    assert_eq!(
        server.take_calls(),
        [
            "GET /repos/acme/model-lifecycle/issues/7/comments".to_string(),
            // Whose comment it is: the workflow's token is refused /user,
            // so modelops posts as github-actions[bot].
            "GET /user".to_string(),
            format!(
                "PATCH /repos/acme/model-lifecycle/issues/comments/{}",
                ours.id
            )
        ]
    );
    run.stdout_has("Updated the plan comment on pull request #7");
    let after = server.comments();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].id, other);
    assert_eq!(after[0].body, "Please check the fraud thresholds.");
    assert_eq!(after[1].id, ours.id);
    assert!(after[1].body.contains(&repo.head()[..12]));

    // The same plan again: nothing to send.
    comment(&repo, &server, &plan)
        .code(0)
        .stdout_has("Unchanged: the plan comment on pull request #7.");
    assert_eq!(
        server.take_calls(),
        [
            "GET /repos/acme/model-lifecycle/issues/7/comments",
            "GET /user"
        ]
    );
}

#[test]
fn requests_carry_githubs_headers() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    comment(&repo, &server, &plan).code(0);
    for r in server.received() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert!(r.header("user-agent").unwrap().starts_with("modelops"));
    }
    let post = &server.received()[1];
    let sent: Value = serde_json::from_str(&post.body).unwrap();
    assert!(
        sent["body"]
            .as_str()
            .unwrap()
            .starts_with("<!-- modelops-plan -->\n### modelops plan\n")
    );
}

#[test]
fn the_comment_is_found_on_a_later_page() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    for i in 0..130 {
        server.seed("bob", &format!("comment {i}"));
    }
    // Someone quoting the plan does not make their comment ours.
    server.seed(
        "carol",
        "> <!-- modelops-plan -->\n> ### modelops plan\nWhy?",
    );
    let ours = server.seed("github-actions[bot]", "<!-- modelops-plan -->\nan old plan");
    for i in 0..10 {
        server.seed("bob", &format!("later {i}"));
    }
    comment(&repo, &server, &plan).code(0);
    assert_eq!(
        server.take_calls(),
        [
            "GET /repos/acme/model-lifecycle/issues/7/comments".to_string(),
            "GET /repositories/4242/issues/7/comments".to_string(),
            "GET /user".to_string(),
            format!("PATCH /repos/acme/model-lifecycle/issues/comments/{ours}"),
        ]
    );
    let comments = server.comments();
    assert_eq!(comments.len(), 142);
    let updated = comments.iter().find(|c| c.id == ours).unwrap();
    assert!(updated.body.contains("### modelops plan"));
    assert!(
        comments
            .iter()
            .any(|c| c.user == "carol" && c.body.ends_with("Why?"))
    );
}

#[test]
fn a_long_plan_is_split_and_a_shorter_one_removes_the_extra_parts() {
    let repo = example_in_git();
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    let long = plan_with_long_diff(&repo, 3_000);

    let run = comment(&repo, &server, &long).code(0);
    let parts = server.comments();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    let n = parts.len();
    for (i, c) in parts.iter().enumerate() {
        let part = i + 1;
        assert!(
            c.body.chars().count() <= server::MAX_BODY,
            "part {part}: {}",
            c.body.len()
        );
        assert!(
            fences_balanced(&c.body),
            "part {part} leaves a code block open"
        );
        assert_eq!(
            c.body.matches("<details").count(),
            c.body.matches("</details>").count(),
            "part {part}"
        );
        if part == 1 {
            assert!(
                c.body
                    .starts_with("<!-- modelops-plan -->\n### modelops plan\n")
            );
        } else {
            assert!(c.body.starts_with(&format!(
                "<!-- modelops-plan part {part} -->\n_modelops plan, continued: part {part} of {n}_\n"
            )));
            assert!(
                c.body.contains(
                    "<details><summary>Manifest changes (continued)</summary>\n\n```diff\n"
                )
            );
        }
        if part < n {
            assert!(c.body.contains(&format!(
                "_Continued in the next comment (part {} of {n})._",
                part + 1
            )));
        }
        assert!(
            run.stdout()
                .contains(&format!("Posted part {part} of {n} of the plan comment"))
        );
    }
    // Every line of the diff, once, in order.
    let all: String = parts.iter().map(|c| c.body.as_str()).collect();
    let mut from = 0;
    for i in 0..3_000 {
        let line = format!("+          - {{name: feature_{i:05}, type: double}}\n");
        let at = all[from..]
            .find(&line)
            .unwrap_or_else(|| panic!("line {i} lost or out of order"));
        from += at + line.len();
    }
    assert_eq!(all.matches("feature_01234,").count(), 1);

    // The same long plan again updates the parts in place.
    server.take_calls();
    comment(&repo, &server, &long).code(0);
    let ids: Vec<u64> = server.comments().iter().map(|c| c.id).collect();
    assert_eq!(ids, parts.iter().map(|c| c.id).collect::<Vec<_>>());

    // A shorter plan: part 1 edited, the others deleted.
    server.take_calls();
    let short = saved_plan(&repo);
    let run = comment(&repo, &server, &short).code(0);
    let calls = server.take_calls();
    assert_eq!(calls[1], "GET /user");
    assert_eq!(
        calls[2],
        format!(
            "PATCH /repos/acme/model-lifecycle/issues/comments/{}",
            parts[0].id
        )
    );
    for (i, c) in parts.iter().enumerate().skip(1) {
        assert_eq!(
            calls[i + 2],
            format!(
                "DELETE /repos/acme/model-lifecycle/issues/comments/{}",
                c.id
            )
        );
        assert!(run.stdout().contains(&format!(
            "Deleted part {} of the earlier plan comment (no longer needed).",
            i + 1
        )));
    }
    let left = server.comments();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, parts[0].id);
    assert!(!left[0].body.contains("ontinued"));
}

#[test]
fn github_errors_exit_1_with_githubs_message_and_never_the_token() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);

    // A wrong token: GitHub's 401.
    let server = FakeGitHub::start(REPO, PR, "the-token-github-expects");
    let run = run_against(&repo, &server, &plan, &[("GITHUB_TOKEN", TOKEN)])
        .code(1)
        .stdout_empty()
        .stderr_has("Bad credentials (HTTP 401)");
    snapshot!(
        "bad_credentials",
        run.stderr().replace(&server.url(), "[API]")
    );

    // A repository the token cannot see: 404.
    let server = FakeGitHub::start("acme/other", PR, TOKEN);
    run_against(&repo, &server, &plan, &[("GITHUB_REPOSITORY", REPO)])
        .code(1)
        .stderr_has("GitHub refused GET /repos/acme/model-lifecycle/issues/7/comments: Not Found (HTTP 404)");
    assert!(server.comments().is_empty());

    // No permission to write: GitHub's 403 and what to do about it.
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    server.fail_with(
        403,
        r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/issues/comments#create-an-issue-comment","status":"403"}"#,
    );
    comment(&repo, &server, &plan)
        .code(1)
        .stderr_has("Resource not accessible by integration (HTTP 403)")
        .stderr_has("permissions: pull-requests: write");

    // Even a server that repeats the token back does not get it printed.
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    server.fail_with(
        400,
        &format!(r#"{{"message":"Problems parsing token {TOKEN}"}}"#),
    );
    comment(&repo, &server, &plan)
        .code(1)
        .stderr_has("Problems parsing token *** (HTTP 400)");

    // Not JSON at all (a proxy's page), and a 5xx: the list (a GET) is
    // tried three times, 1 s then 2 s apart, before giving up.
    server.take_calls();
    server.fail_with(502, "<html><title>502 Bad Gateway</title></html>");
    comment(&repo, &server, &plan)
        .code(1)
        .stderr_has("(HTTP 502): <html><title>502 Bad Gateway</title></html>");
    assert_eq!(
        server.take_calls(),
        ["GET /repos/acme/model-lifecycle/issues/7/comments"; 3]
    );
}

#[test]
fn nothing_listens_there() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    repo.run_with(
        &["comment", "--pr", "7", "--plan", plan.to_str().unwrap()],
        &[
            ("GITHUB_API_URL", &url),
            ("GITHUB_REPOSITORY", REPO),
            ("GITHUB_TOKEN", TOKEN),
        ],
    )
    .code(1)
    .stderr_has(&format!("cannot reach GitHub at {url}"))
    .stderr_lacks(TOKEN);
}

#[test]
fn missing_environment_is_named() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    let plan = plan.to_str().unwrap();
    let args = ["comment", "--pr", "7", "--plan", plan];
    repo.run_with(&args, &[("GITHUB_REPOSITORY", REPO), ("GITHUB_TOKEN", "")])
        .code(1)
        .stderr_has("error: GITHUB_TOKEN is not set");
    repo.run_with(&args, &[("GITHUB_REPOSITORY", ""), ("GITHUB_TOKEN", TOKEN)])
        .code(1)
        .stderr_has("error: GITHUB_REPOSITORY is not set")
        .stderr_lacks(TOKEN);
    repo.run_with(
        &args,
        &[("GITHUB_REPOSITORY", "acme"), ("GITHUB_TOKEN", TOKEN)],
    )
    .code(1)
    .stderr_has("error: GITHUB_REPOSITORY=acme is not of the form owner/name");
    repo.run(&["comment", "--plan", plan])
        .code(1)
        .stderr_has("--pr <N>");
}

#[test]
fn plan_files_that_are_not_plans_are_refused() {
    let repo = example_in_git();
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    repo.file(
        "other-major.json",
        r#"{"format_version": "2.0", "models": []}"#,
    );
    comment(&repo, &server, &repo.path("other-major.json"))
        .code(1)
        .stderr_has("other-major.json has plan format \"2.0\"; this modelops reads 1.x");
    repo.file("not.json", "Plan: 1 to add");
    comment(&repo, &server, &repo.path("not.json"))
        .code(1)
        .stderr_has("not.json is not a modelops plan (JSON)");
    comment(&repo, &server, &repo.path("missing.json"))
        .code(1)
        .stderr_has("cannot read plan file");
    assert!(server.received().is_empty());
}

#[test]
fn an_invalid_repository_replaces_the_plan_with_its_errors() {
    let repo = example_in_git();
    let server = FakeGitHub::start(REPO, PR, TOKEN);
    comment(&repo, &server, &saved_plan(&repo)).code(0);
    repo.edit(
        "models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Staged",
    );
    let report = repo.run(&["validate", "--format", "json"]).code(1);
    std::fs::write(repo.path("validation.json"), report.raw_stdout()).unwrap();
    comment(&repo, &server, &repo.path("validation.json"))
        .code(0)
        .stdout_has("Updated the plan comment");
    let comments = server.comments();
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(body.starts_with(
        "<!-- modelops-plan -->\n### modelops plan\n\n**:x: The repository is not valid: 1 error; nothing planned.**"
    ));
    assert!(
        body.contains("/models/fraud-detector.yaml:63:14` `stage` must be one of"),
        "{body}"
    );
    assert!(!body.contains("Gates for version"));
}

#[test]
fn print_shows_the_comment_without_github() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    let long = plan_with_long_diff(&repo, 3_000);
    repo.run(&["comment", "--print", "--plan", plan.to_str().unwrap()])
        .code(0)
        .stdout_has("<!-- modelops-plan -->\n### modelops plan\n")
        .stdout_has("<details><summary>Gates for version")
        .stdout_has("<sub>Planned at 2026-11-26 09:00:00 UTC for commit `[COMMIT]`");
    // Unsplit, for a job summary (1 MiB).
    let run = repo
        .run(&["comment", "--print", "--plan", long.to_str().unwrap()])
        .code(0)
        .stdout_lacks("ontinued");
    assert!(run.raw_stdout().len() > 150_000);
}

/// Comments that start with the marker or a part marker but that someone
/// else wrote are never edited or deleted: modelops asks GitHub who the
/// token is (`GET /user`; 403 for a workflow's token means
/// `github-actions[bot]`) and touches only that user's comments.
#[test]
fn other_users_comments_with_the_marker_are_never_touched() {
    let repo = example_in_git();
    let plan = saved_plan(&repo);
    // (who the token is, or None for a workflow's token)
    for token_user in [None, Some("release-bot")] {
        let server = FakeGitHub::start(REPO, PR, TOKEN);
        if let Some(login) = token_user {
            server.as_user(login);
        }
        let fake = server.seed("mallory", "<!-- modelops-plan -->\nAll clear, merge it.");
        let fake_part = server.seed("mallory", "<!-- modelops-plan part 2 -->\nmore");
        let run = comment(&repo, &server, &plan).code(0);
        run.stdout_has("Posted the plan comment on pull request #7");
        let calls = server.take_calls();
        assert_eq!(calls[1], "GET /user", "{calls:?}");
        for call in &calls {
            assert!(
                !call.ends_with(&format!("/{fake}")) && !call.ends_with(&format!("/{fake_part}")),
                "another user's comment was touched: {call}"
            );
        }
        let comments = server.comments();
        assert_eq!(comments.len(), 3);
        assert_eq!(
            comments[0].body,
            "<!-- modelops-plan -->\nAll clear, merge it."
        );
        assert_eq!(comments[1].body, "<!-- modelops-plan part 2 -->\nmore");
        let poster = token_user.unwrap_or("github-actions[bot]");
        assert_eq!(comments[2].user, poster);

        // The next run edits its own comment, still nobody else's.
        comment(&repo, &server, &saved_plan(&repo)).code(0);
        let calls = server.take_calls();
        assert!(
            calls
                .iter()
                .all(|c| !c.starts_with("PATCH") || c.ends_with(&format!("/{}", comments[2].id))),
            "{calls:?}"
        );
        assert!(calls.iter().all(|c| !c.starts_with("DELETE")), "{calls:?}");
        assert_eq!(
            server.comments()[0].body,
            "<!-- modelops-plan -->\nAll clear, merge it."
        );
    }
}

/// A plan of 2,000 new models would take dozens of comments: past 10 the
/// comment is a summary (counts, the models) that points at the job summary.
#[test]
fn a_plan_past_ten_parts_is_posted_as_a_summary() {
    let repo = example_in_git();
    let mut plan: Value =
        serde_json::from_slice(&std::fs::read(saved_plan(&repo)).unwrap()).expect("plan JSON");
    // A new model's registration steps (no gates: those come with
    // promotions), as 2,000 new models would bring.
    let mut first = plan["models"][0].clone();
    first["steps"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s.get("gates").is_none());
    first.as_object_mut().unwrap().remove("rollout");
    let models: Vec<Value> = (0..2000)
        .map(|i| {
            let mut m = first.clone();
            let name = format!("model-{i:04}");
            m["model"] = Value::String(name.clone());
            for step in m["steps"].as_array_mut().unwrap() {
                step["model"] = Value::String(name.clone());
            }
            m
        })
        .collect();
    plan["models"] = Value::Array(models);
    let path = repo.path("plan-2000.json");
    std::fs::write(&path, serde_json::to_vec(&plan).unwrap()).unwrap();

    let server = FakeGitHub::start(REPO, PR, TOKEN);
    comment(&repo, &server, &path).code(0);
    let comments = server.comments();
    assert!(
        !comments.is_empty() && comments.len() <= 10,
        "{}",
        comments.len()
    );
    let body = &comments[0].body;
    // The whole plan (what the job summary gets) would take more than 10.
    let parts: usize = body
        .split("this would take ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(parts > 10, "{parts}");
    assert!(body.contains("**job summary**"), "{body}");
    assert!(body.contains("| to create | 2000 |"), "{body}");
    assert!(
        body.contains("<details><summary>Models with changes (2000)</summary>"),
        "{body}"
    );
    assert!(body.contains("- `model-0000` — create,"), "{body}");
    assert!(body.contains("- `model-0199` — create,"), "{body}");
    assert!(!body.contains("`model-0200`"), "{body}");
    assert!(body.contains("- … and 1800 more"), "{body}");
}
