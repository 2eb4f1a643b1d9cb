//! Files that must be refused safely: with the file (and line:col where there
//! is one) named, exit 1, promptly, no state written — never a panic, a hang
//! or unbounded memory.

use insta::assert_snapshot;

use crate::common::{Repo, snapshot};
use crate::fixtures::CHURN;

/// Nine levels of nine aliases each: 387 million strings if expanded.
const BILLION_LAUGHS: &str = r#"a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"#;

#[test]
fn duplicate_key_in_a_mapping() {
    let repo = Repo::new();
    repo.file(
        "models/a.yaml",
        CHURN.replace(
            "      stage: Production\n",
            "      stage: Staging\n      stage: Production\n",
        ),
    );
    let err = repo.rejects("[REPO]/models/a.yaml:10:7: error: duplicate key `stage`");
    assert_snapshot!(err, @r"
    [REPO]/models/a.yaml:10:7: error: duplicate key `stage`: each key may appear once in a mapping
    1 error in 1 file.
    ");
}

#[test]
fn duplicate_key_in_a_flow_mapping() {
    let repo = Repo::new();
    repo.file(
        "models/a.yaml",
        CHURN.replace(
            "  owner: ml-platform\n",
            "  owner: ml-platform\n  labels: {team: a, team: b}\n",
        ),
    );
    repo.rejects("[REPO]/models/a.yaml:6:21: error: duplicate key `team`");
}

#[test]
fn alias_bomb() {
    let repo = Repo::new();
    repo.file("models/a.yaml", BILLION_LAUGHS);
    let err = repo.rejects("[REPO]/models/a.yaml:6:8: error: aliases expand to too many nodes");
    snapshot!(err);
}

#[test]
fn deep_nesting() {
    let repo = Repo::new();
    let deep = format!("a: {}{}\n", "[".repeat(200), "]".repeat(200));
    repo.file("models/a.yaml", deep);
    // The top-level mapping is level 1, so the 32nd `[` (column 35) opens level 33.
    let err = repo.rejects("[REPO]/models/a.yaml:1:35: error: nesting is deeper than 32 levels");
    snapshot!(err);
}

#[test]
fn oversized_file() {
    let repo = Repo::new();
    let line = format!("#{}\n", "x".repeat(1023));
    repo.file("models/a.yaml", line.repeat(9 * 1024));
    let err = repo
        .rejects("[REPO]/models/a.yaml: error: file is 9.0 MiB; manifests are limited to 8 MiB");
    snapshot!(err);
}

#[test]
fn oversized_long_scalar() {
    let repo = Repo::new();
    let text = format!(
        "apiVersion: modelops/v1\nkind: Model\ndescription: {}\n",
        "y".repeat(9 * 1024 * 1024)
    );
    repo.file("models/a.yaml", text);
    repo.rejects("[REPO]/models/a.yaml: error: file is 9.0 MiB");
}

#[test]
fn oversized_file_committed_in_git() {
    let repo = Repo::new();
    let line = format!("#{}\n", "x".repeat(1023));
    repo.file("models/a.yaml", line.repeat(9 * 1024))
        .git_commit("big");
    repo.file("models/a.yaml", CHURN);
    repo.run(&["validate"]).code(0);
    repo.run(&["validate", "--rev", "HEAD"])
        .code(1)
        .stderr_has("[REPO]/models/a.yaml: error: file is 9.0 MiB; manifests are limited to 8 MiB");
    repo.run(&["plan", "--rev", "HEAD"])
        .code(1)
        .stderr_has("nothing planned");
    assert!(!repo.has_state_dir());
}

#[test]
fn invalid_utf8() {
    let repo = Repo::new();
    repo.file(
        "models/a.yaml",
        b"apiVersion: modelops/v1\nkind: Mo\xffdel\n",
    );
    let err = repo.rejects("[REPO]/models/a.yaml:2:9: error: file is not valid UTF-8");
    snapshot!(err);
}

#[test]
fn empty_file() {
    let repo = Repo::new();
    repo.file("models/a.yaml", "");
    let err = repo.rejects("[REPO]/models/a.yaml: error: file is empty");
    snapshot!(err);
}

#[test]
fn comment_only_file() {
    let repo = Repo::new();
    repo.file(
        "models/a.yaml",
        "# yaml-language-server: $schema=../schemas/model.schema.json\n# nothing yet\n\n",
    );
    repo.rejects("[REPO]/models/a.yaml: error: file is empty");
}

#[test]
fn sequence_document() {
    let repo = Repo::new();
    repo.file(
        "models/a.yaml",
        "- apiVersion: modelops/v1\n- kind: Model\n",
    );
    let err = repo.rejects("[REPO]/models/a.yaml:1:1: error: expected a mapping");
    snapshot!(err);
}

#[test]
fn scalar_document() {
    let repo = Repo::new();
    repo.file("models/a.yaml", "churn-predictor\n");
    repo.rejects("[REPO]/models/a.yaml:1:1: error: expected a mapping with `apiVersion`, `kind`, ... at the top of the file, found a string");
}

#[test]
fn two_documents_in_one_file() {
    let repo = Repo::new();
    repo.file("models/a.yaml", format!("{CHURN}---\n{CHURN}"));
    let err = repo
        .rejects("[REPO]/models/a.yaml:16:1: error: the file holds more than one YAML document");
    snapshot!(err);
}

#[test]
fn symlink_to_a_file_outside_the_repository() {
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside
        .path()
        .canonicalize()
        .expect("canonical")
        .join("model.yaml");
    std::fs::write(&target, CHURN).expect("write");
    let repo = Repo::new();
    repo.symlink("models/a.yaml", &target);
    let located = format!(
        "[REPO]/models/a.yaml: error: symlink leads outside the repository (to {}); modelops only reads files inside it",
        target.display()
    );
    repo.rejects(&located);
}

#[test]
fn symlink_to_a_system_file() {
    let repo = Repo::new();
    repo.symlink("models/a.yaml", "/etc/passwd");
    repo.rejects(
        "[REPO]/models/a.yaml: error: symlink leads outside the repository (to /etc/passwd)",
    );
}

#[test]
fn symlink_to_a_directory_outside_the_repository() {
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::write(outside.path().join("model.yaml"), CHURN).expect("write");
    let repo = Repo::new();
    repo.symlink("models/elsewhere", outside.path());
    repo.rejects("[REPO]/models/elsewhere: error: symlink leads outside the repository");
}

#[test]
fn symlink_inside_the_repository_is_followed() {
    let repo = Repo::new();
    repo.file("shared/churn.yaml", CHURN)
        .symlink("models/churn-predictor.yaml", "../shared/churn.yaml");
    repo.run(&["validate"])
        .code(0)
        .stdout_has("1 file valid: 1 model");
}

#[test]
fn symlinks_committed_in_git_pointing_outside() {
    let repo = Repo::new();
    repo.file("models/churn-predictor.yaml", CHURN)
        .symlink("models/absolute.yaml", "/etc/passwd")
        .symlink("models/climbing.yaml", "../../outside.yaml")
        .git_commit("symlinks");
    // The working tree still has the symlinks: remove them so only the
    // committed revision holds them.
    repo.remove("models/absolute.yaml")
        .remove("models/climbing.yaml");
    repo.run(&["validate"]).code(0);
    let err = repo
        .run(&["validate", "--rev", "HEAD"])
        .code(1)
        .stderr_has("[REPO]/models/absolute.yaml: error: symlink leads outside the repository (to /etc/passwd)")
        .stderr_has("[REPO]/models/climbing.yaml: error: symlink leads outside the repository (to ../../outside.yaml)")
        .stderr();
    snapshot!(err);
    repo.run(&["plan", "--rev", "HEAD"])
        .code(1)
        .stderr_has("nothing planned");
    assert!(!repo.has_state_dir());
    repo.run(&["apply", "--rev", "HEAD", "--auto-approve"])
        .code(1)
        .stderr_has("models/absolute.yaml");
    assert!(!repo.state_file().exists());
}

#[test]
fn symlink_committed_in_git_inside_the_repository_is_followed() {
    let repo = Repo::new();
    repo.file("shared/churn.yaml", CHURN)
        .symlink("models/churn-predictor.yaml", "../shared/churn.yaml")
        .git_commit("symlink");
    repo.run(&["validate", "--rev", "HEAD"])
        .code(0)
        .stdout_has("1 file valid: 1 model");
}

#[test]
fn fifo_is_not_read() {
    let repo = Repo::new();
    let fifo = repo.path("models/a.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    repo.rejects("[REPO]/models/a.yaml: error: not a regular file");
}

#[test]
fn default_state_directory_is_not_created_either() {
    let repo = Repo::new();
    repo.file("models/a.yaml", "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelops"))
        .args(["plan", "--repo"])
        .arg(repo.root())
        .env("MODELOPS_NOW", crate::common::NOW)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(!repo.path(".modelops").exists());
}

#[test]
fn every_bad_file_is_reported_in_one_run() {
    let repo = Repo::new();
    repo.file("models/a.yaml", "")
        .file("models/b.yaml", BILLION_LAUGHS)
        .file("models/c.yaml", b"kind: \xff\n")
        .file("models/d.yaml", "- 1\n")
        .file("models/e.yaml", CHURN);
    let err = repo
        .run(&["validate"])
        .code(1)
        .stderr_has("4 errors in 5 files.")
        .stderr();
    snapshot!(err);
}
