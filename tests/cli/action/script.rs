//! `scripts/action.sh` run as a runner runs it: an event file, a
//! `GITHUB_OUTPUT` and a job summary in a temporary directory, the fake GitHub
//! API of `comment.rs`, on a git repository made from example-repo in `ml/`
//! (as `working-directory: ml` would have it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ROOT, missing};
use crate::comment::server::FakeGitHub;
use crate::common::{NOW, Repo, copy_dir};

const TOKEN: &str = "ghs_ActionTokenNeverShown987";
const GH_REPO: &str = "acme/model-lifecycle";

/// A runner's environment for `scripts/action.sh` around one git repository.
struct Runner {
    repo: Repo,
    temp: tempfile::TempDir,
    server: FakeGitHub,
}

/// What one run of the script left.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    outputs: Vec<(String, String)>,
    summary: String,
}

impl Ran {
    fn output(&self, name: &str) -> &str {
        self.outputs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no output {name}: {:?}\n{}", self.outputs, self.context()))
    }

    fn context(&self) -> String {
        format!(
            "exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n--- summary:\n{}",
            self.code, self.stdout, self.stderr, self.summary
        )
    }

    #[track_caller]
    fn code(self, want: i32) -> Ran {
        assert_eq!(self.code, Some(want), "{}", self.context());
        assert!(
            !self.stdout.contains(TOKEN)
                && !self.stderr.contains(TOKEN)
                && !self.summary.contains(TOKEN),
            "the token was printed\n{}",
            self.context()
        );
        self
    }
}

impl Runner {
    /// example-repo in `ml/` of a git repository, committed as the base.
    fn new() -> Option<Runner> {
        if Command::new("python3").arg("--version").output().is_err() {
            missing("python3");
            return None;
        }
        let repo = Repo::new();
        copy_dir(&Path::new(ROOT).join("example-repo"), &repo.path("ml"));
        repo.git_commit("base");
        Some(Runner {
            repo,
            temp: tempfile::tempdir().unwrap(),
            server: FakeGitHub::start(GH_REPO, 7, TOKEN),
        })
    }

    fn event(&self, head: &str, base: &str, fork: bool) -> PathBuf {
        let head_repo = if fork {
            "someone/model-lifecycle"
        } else {
            GH_REPO
        };
        let event = json!({
            "action": "synchronize",
            "number": 7,
            "pull_request": {
                "number": 7,
                "head": {"sha": head, "ref": "feature", "repo": {"full_name": head_repo}},
                "base": {"sha": base, "ref": "main", "repo": {"full_name": GH_REPO}},
            },
        });
        let path = self.temp.path().join("event.json");
        std::fs::write(&path, event.to_string()).unwrap();
        path
    }

    /// Runs the script with `inputs` and the event, fresh output files.
    fn run(&self, event_name: &str, event: Option<&Path>, inputs: &[(&str, &str)]) -> Ran {
        let output = self.temp.path().join("github_output");
        let summary = self.temp.path().join("step_summary");
        std::fs::write(&output, "").unwrap();
        std::fs::write(&summary, "").unwrap();
        let runner_temp = self.temp.path().join("runner_temp");
        std::fs::create_dir_all(&runner_temp).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(ROOT).join("scripts/action.sh"))
            .current_dir(self.repo.root())
            .env("MODELOPS_BIN", env!("CARGO_BIN_EXE_modelops"))
            .env("INPUT_WORKING_DIRECTORY", "ml")
            .env("INPUT_COMMENT", "true")
            .env("INPUT_ARGS", "")
            .env("INPUT_GITHUB_TOKEN", TOKEN)
            .env("GITHUB_EVENT_NAME", event_name)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_REPOSITORY", GH_REPO)
            .env("GITHUB_API_URL", self.server.url())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "31337")
            .env("GITHUB_WORKSPACE", self.repo.root())
            .env("RUNNER_TEMP", &runner_temp)
            .env("MODELOPS_NOW", NOW)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_ACTOR")
            .env_remove("GITHUB_EVENT_PATH")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_TRACKING_TOKEN")
            .stdin(Stdio::null());
        if let Some(e) = event {
            cmd.env("GITHUB_EVENT_PATH", e);
        }
        for (k, v) in inputs {
            cmd.env(k, v);
        }
        let out = run_with_deadline(cmd, Duration::from_secs(60));
        let outputs = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs,
            summary: std::fs::read_to_string(&summary).unwrap(),
        }
    }
}

fn run_with_deadline(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash starts");
    let id = child.id();
    let started = Instant::now();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait"));
    while !waiter.is_finished() {
        if started.elapsed() > limit {
            // The script's own process only; its children end with their pipes.
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("scripts/action.sh did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().expect("waiter")
}

#[test]
fn a_pull_request_is_planned_summarised_and_commented_once() {
    let Some(r) = Runner::new() else { return };
    let base = r.repo.head();
    r.repo.edit(
        "ml/models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Development",
    );
    r.repo
        .git_commit("fraud-detector: version 3 back to Development");
    let head = r.repo.head();
    // The working tree is not what is planned: the head commit is.
    r.repo.file("ml/models/fraud-detector.yaml", "not: [yaml");
    let event = r.event(&head, &base, false);

    let ran = r
        .run("pull_request", Some(&event), &[("INPUT_COMMAND", "plan")])
        .code(0);
    assert_eq!(ran.output("has-changes"), "true");
    assert_eq!(ran.output("exitcode"), "2");
    let plan_path = ran.output("plan-json").to_string();
    assert!(plan_path.ends_with("runner_temp/modelops/plan.json"));
    let plan: Value = serde_json::from_slice(&std::fs::read(&plan_path).unwrap()).unwrap();
    assert!(plan["format_version"].as_str().unwrap().starts_with("1."));
    assert_eq!(plan["source"]["revision"], head.as_str());
    assert_eq!(plan["source"]["base"], base.as_str());
    // Only the changed model is planned, with its manifest's diff.
    let models: Vec<&str> = plan["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["fraud-detector"]);

    // The job summary holds the markdown plan.
    assert!(
        ran.summary.contains("### modelops plan"),
        "{}",
        ran.context()
    );
    assert!(ran.summary.contains("#### `fraud-detector` — create"));
    assert!(
        ran.summary
            .contains("<details><summary>Manifest changes</summary>")
    );
    assert!(
        ran.summary
            .contains("-      stage: Staging\n+      stage: Development")
    );
    assert!(
        ran.summary
            .contains("[workflow run](https://github.com/acme/model-lifecycle/actions/runs/31337)")
    );

    // One comment, posted with the token the action was given.
    let comments = r.server.comments();
    assert_eq!(comments.len(), 1, "{}", ran.context());
    assert!(
        comments[0]
            .body
            .starts_with("<!-- modelops-plan -->\n### modelops plan\n")
    );
    assert!(comments[0].body.contains("#### `fraud-detector` — create"));
    assert!(
        ran.stdout
            .contains("Posted the plan comment on pull request #7")
    );
    assert_eq!(
        r.server.take_calls(),
        [
            "GET /repos/acme/model-lifecycle/issues/7/comments",
            "POST /repos/acme/model-lifecycle/issues/7/comments"
        ]
    );

    // The next push: the same comment, updated.
    r.repo.remove("ml/models/fraud-detector.yaml");
    r.repo
        .git(&["checkout", "--", "ml/models/fraud-detector.yaml"]);
    r.repo.edit(
        "ml/models/churn-predictor.yaml",
        "stage: Staging",
        "stage: Development",
    );
    r.repo.git_commit("churn-predictor too");
    let head = r.repo.head();
    let event = r.event(&head, &base, false);
    let ran = r
        .run("pull_request", Some(&event), &[("INPUT_COMMAND", "plan")])
        .code(0);
    assert_eq!(ran.output("has-changes"), "true");
    let comments_after = r.server.comments();
    assert_eq!(comments_after.len(), 1);
    assert_eq!(comments_after[0].id, comments[0].id);
    assert!(
        comments_after[0]
            .body
            .contains("#### `churn-predictor` — create")
    );
    assert!(comments_after[0].body.contains(&head[..12]));
    assert_eq!(
        r.server.take_calls(),
        [
            "GET /repos/acme/model-lifecycle/issues/7/comments".to_string(),
            "GET /user".to_string(),
            format!(
                "PATCH /repos/acme/model-lifecycle/issues/comments/{}",
                comments[0].id
            )
        ]
    );
    // Only the comment got the token: the request carried it.
    assert!(
        r.server
            .received()
            .iter()
            .all(|q| q.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );

    // comment: false leaves the pull request alone.
    r.run(
        "pull_request",
        Some(&event),
        &[("INPUT_COMMAND", "plan"), ("INPUT_COMMENT", "false")],
    )
    .code(0);
    assert!(r.server.take_calls().is_empty());
}

#[test]
fn validation_errors_are_annotated_and_replace_the_plan() {
    let Some(r) = Runner::new() else { return };
    let base = r.repo.head();
    let event = r.event(&base, &base, false);
    let ran = r
        .run("pull_request", Some(&event), &[("INPUT_COMMAND", "plan")])
        .code(0);
    // Nothing changed between base and head.
    assert_eq!(ran.output("has-changes"), "false");
    assert_eq!(ran.output("exitcode"), "0");
    assert_eq!(r.server.comments().len(), 1);

    r.repo.edit(
        "ml/models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Staged",
    );
    r.repo.git_commit("a typo");
    let event = r.event(&r.repo.head(), &base, false);
    let ran = r
        .run("pull_request", Some(&event), &[("INPUT_COMMAND", "plan")])
        .code(1);
    assert!(
        ran.stdout.contains(
            "::error file=ml/models/fraud-detector.yaml,line=63,col=14,title=modelops%3A schema::`stage` must be one of"
        ),
        "{}",
        ran.context()
    );
    assert_eq!(ran.output("exitcode"), "1");
    assert_eq!(ran.output("has-changes"), "false");
    assert_eq!(ran.output("plan-json"), "");
    assert!(
        ran.summary
            .contains("The repository is not valid: 1 error; nothing planned.")
    );
    assert!(
        ran.summary
            .contains("- `ml/models/fraud-detector.yaml:63:14` `stage` must be one of")
    );
    // The comment no longer shows the earlier plan.
    let comments = r.server.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("The repository is not valid"));
    assert!(!comments[0].body.contains("Gates for version"));

    // validate on its own: the same annotations, exit 1.
    let ran = r
        .run(
            "pull_request",
            Some(&event),
            &[("INPUT_COMMAND", "validate")],
        )
        .code(1);
    assert!(
        ran.stdout
            .contains("::error file=ml/models/fraud-detector.yaml,line=63,col=14,")
    );
}

#[test]
fn a_pull_request_from_a_fork_is_not_commented() {
    let Some(r) = Runner::new() else { return };
    let base = r.repo.head();
    r.repo.edit(
        "ml/models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Development",
    );
    r.repo.git_commit("from a fork");
    let event = r.event(&r.repo.head(), &base, true);
    let ran = r
        .run("pull_request", Some(&event), &[("INPUT_COMMAND", "plan")])
        .code(0);
    assert!(
        ran.stdout
            .contains("::notice title=modelops::A pull request from a fork")
    );
    assert!(ran.summary.contains("#### `fraud-detector` — create"));
    assert!(r.server.received().is_empty());
}

#[test]
fn on_main_apply_then_plan_has_nothing_left() {
    let Some(r) = Runner::new() else { return };
    let ran = r.run("push", None, &[("INPUT_COMMAND", "plan")]).code(0);
    assert_eq!(ran.output("has-changes"), "true");
    assert_eq!(ran.output("exitcode"), "2");

    let ran = r
        .run(
            "push",
            None,
            &[("INPUT_COMMAND", "apply"), ("INPUT_ARGS", "--auto-approve")],
        )
        .code(0);
    assert_eq!(ran.output("exitcode"), "0");
    assert!(
        ran.summary.starts_with("### modelops apply\n\n```text\n"),
        "{}",
        ran.context()
    );
    assert!(ran.summary.contains("Apply complete: 11 added"));

    let ran = r.run("push", None, &[("INPUT_COMMAND", "plan")]).code(0);
    assert_eq!(ran.output("has-changes"), "false", "{}", ran.context());
    assert_eq!(ran.output("exitcode"), "0");
    // No pull request, no comment.
    assert!(r.server.received().is_empty());

    // apply without --auto-approve has no one to ask: it fails, and says so.
    r.repo.edit(
        "ml/models/fraud-detector.yaml",
        "stage: Staging",
        "stage: Development",
    );
    let ran = r.run("push", None, &[("INPUT_COMMAND", "apply")]).code(1);
    assert_eq!(ran.output("exitcode"), "1");
}

#[test]
fn bad_inputs_are_refused_with_an_annotation() {
    let Some(r) = Runner::new() else { return };
    let rows = [
        (
            vec![("INPUT_COMMAND", "destroy")],
            "input command must be validate, plan or apply",
        ),
        (
            vec![
                ("INPUT_COMMAND", "plan"),
                ("INPUT_WORKING_DIRECTORY", "nowhere"),
            ],
            "working-directory 'nowhere' is not a directory",
        ),
        (
            vec![("INPUT_COMMAND", "plan"), ("INPUT_COMMENT", "yes")],
            "input comment must be true or false",
        ),
        (
            vec![
                ("INPUT_COMMAND", "plan"),
                ("MODELOPS_BIN", "/nonexistent/modelops"),
            ],
            "MODELOPS_BIN=/nonexistent/modelops is not an executable modelops",
        ),
    ];
    for (inputs, message) in rows {
        let ran = r.run("push", None, &inputs).code(1);
        assert!(
            ran.stdout
                .contains(&format!("::error title=modelops action::{message}")),
            "{}",
            ran.context()
        );
    }
    // A pull_request event without its file.
    let ran = r
        .run("pull_request", None, &[("INPUT_COMMAND", "plan")])
        .code(1);
    assert!(
        ran.stdout
            .contains("GITHUB_EVENT_PATH does not name the event's JSON file")
    );
}
