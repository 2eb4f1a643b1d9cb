//! `modelops init`: a new repository in an empty directory outside this
//! checkout, which `validate` and `plan` accept as it is and once the
//! README's model is added; its workflows pass actionlint, its schemas are
//! the ones the build generates; and it never writes over a file.

use std::path::Path;
use std::process::{Command, Output};

const README_MODEL: &str = "models/churn-predictor.yaml";

/// The binary run in `dir` with no `--repo` (the current directory) and
/// none of the environment's registry settings.
fn modelops(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelops"))
        .args(args)
        .current_dir(dir)
        .env("MODELOPS_NOW", crate::common::NOW)
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .output()
        .expect("modelops runs")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn code(out: &Output, want: i32) -> String {
    assert_eq!(out.status.code(), Some(want), "{}", show(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first ```yaml block of the README: the model it shows.
fn readme_model(readme: &str) -> String {
    let start = readme.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_string()
}

#[test]
fn init_scaffolds_a_repository_that_validates_and_plans_anywhere() {
    let tmp = tempfile::Builder::new()
        .prefix("modelops-init-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    assert!(
        !tmp.path().starts_with(env!("CARGO_MANIFEST_DIR")),
        "outside this checkout"
    );
    let dir = tmp.path().join("lifecycle");
    let out = modelops(tmp.path(), &["init", "lifecycle"]);
    let stdout = code(&out, 0);
    for file in [
        "modelops.yaml",
        "policies/default.yaml",
        "models/.gitkeep",
        "deployments/.gitkeep",
        ".github/workflows/plan.yml",
        ".github/workflows/reconcile.yml",
        ".gitignore",
        "README.md",
        "schemas/model.schema.json",
        "schemas/deployment.schema.json",
        "schemas/policy.schema.json",
        "schemas/config.schema.json",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
        assert!(
            stdout.contains(&format!("wrote lifecycle/{file}\n")),
            "{stdout}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
        ".modelops/\n"
    );
    let config = std::fs::read_to_string(dir.join("modelops.yaml")).unwrap();
    for block in [
        "    type: local",
        "  #   type: mlflow",
        "  #       type: nginx",
    ] {
        assert!(config.contains(block), "{block} in\n{config}");
    }

    // As it is: valid, and nothing to do.
    let stdout = code(&modelops(&dir, &["validate"]), 0);
    assert!(
        stdout.contains("0 models, 0 deployments, 1 policy"),
        "{stdout}"
    );
    let stdout = code(&modelops(&dir, &["plan", "--detailed-exitcode"]), 0);
    assert!(stdout.contains("No changes"), "{stdout}");
    // The schemas are the build's.
    code(
        &modelops(&dir, &["schema", "--out", "schemas", "--check"]),
        0,
    );

    // The README's model is valid too, and the plan registers it.
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    std::fs::write(dir.join(README_MODEL), readme_model(&readme)).unwrap();
    code(&modelops(&dir, &["validate"]), 0);
    let stdout = code(&modelops(&dir, &["plan", "--detailed-exitcode"]), 2);
    assert!(stdout.contains("+ register version 1"), "{stdout}");
    code(&modelops(&dir, &["apply", "--auto-approve"]), 0);
    code(&modelops(&dir, &["plan", "--detailed-exitcode"]), 0);
    assert!(
        dir.join(".modelops").is_dir(),
        "the state is where .gitignore says"
    );

    // Its workflows pass actionlint.
    let workflows = [
        dir.join(".github/workflows/plan.yml"),
        dir.join(".github/workflows/reconcile.yml"),
    ];
    let args: Vec<&str> = std::iter::once("workflows")
        .chain(workflows.iter().map(|p| p.to_str().unwrap()))
        .collect();
    if let Some(out) = crate::action::lint(&args) {
        assert!(out.status.success(), "{}", crate::action::text(&out));
    }
}

#[test]
fn init_writes_nothing_over_an_existing_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("README.md"), "ours\n").unwrap();
    std::fs::write(tmp.path().join(".gitignore"), "target/\n").unwrap();
    let out = modelops(tmp.path(), &["init"]);
    code(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("these files already exist")
            && stderr.contains("\n  .gitignore\n")
            && stderr.contains("\n  README.md"),
        "{stderr}"
    );
    assert!(
        !tmp.path().join("modelops.yaml").exists(),
        "nothing written"
    );
    assert!(!tmp.path().join("schemas").exists(), "nothing written");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("README.md")).unwrap(),
        "ours\n"
    );
}
