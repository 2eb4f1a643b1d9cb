//! README's quick start, run as a user runs it: every `sh` block of the
//! section, in order, in one shell, on a fresh copy of the example
//! repository, with `modelops` on the PATH. The page cannot drift from the
//! binary without this failing.

use std::path::Path;
use std::process::Command;

use crate::common::{Repo, copy_dir};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The `sh` blocks of the README section headed `heading`, in order.
fn blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has no section `{heading}`"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed block");
        out.push(body[..close].to_string());
        rest = &body[close + 4..];
    }
    out
}

#[test]
fn the_quick_start_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let blocks = blocks(&readme, "Quick start");
    assert!(
        blocks.len() >= 3,
        "the quick start has its blocks: {blocks:?}"
    );
    let dir = Repo::new();
    copy_dir(
        &Path::new(ROOT).join("example-repo"),
        &dir.path("example-repo"),
    );
    let bin = Path::new(env!("CARGO_BIN_EXE_modelops"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut transcript = String::new();
    let script = blocks.join("\n");
    let out = Command::new("bash")
        .args(["--norc", "-euo", "pipefail", "-c", &script])
        .current_dir(dir.root())
        .env("PATH", path)
        .env("GIT_AUTHOR_NAME", "Quick Start")
        .env("GIT_AUTHOR_EMAIL", "quick@example.com")
        .env("GIT_COMMITTER_NAME", "Quick Start")
        .env("GIT_COMMITTER_EMAIL", "quick@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("USER", "quickstart")
        .env_remove("MODELOPS_NOW")
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .expect("bash runs");
    transcript.push_str(&String::from_utf8_lossy(&out.stdout));
    transcript.push_str(&String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the quick start failed ({:?}):\n{transcript}",
        out.status
    );
    // What the page promises each step shows.
    for promised in [
        "8 files valid: 3 models, 3 deployments, 1 policy.",
        "Apply complete: 11 added, 11 changed, 2 archived.",
        "No changes. Registry and serving match the repository.",
        "start fraud-detector canary of version 3: 0% → 5%",
        "advance fraud-detector canary 5% → 25%",
        "advance fraud-detector canary 25% → 50%",
        "version 3: Staging → Production (canary completed 4 stages)",
        "rollout: canary of version 3 against version 2: Succeeded",
        "Rolled back fraud-detector from version 3 to version 2",
        "fraud-detector version 2: Archived → Production (rollback: error spike after v3)",
    ] {
        assert!(
            transcript.contains(promised),
            "the quick start no longer shows {promised:?}:\n{transcript}"
        );
    }
    // Bookkeeping keys stay out of the text history.
    assert!(
        !transcript.contains("left-production"),
        "history shows an internal key:\n{transcript}"
    );
}
