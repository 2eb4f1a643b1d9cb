//! CLI habits: `plan` and `apply` take model names, the text plan counts
//! passing gates (`-v` lists them), and colour follows `--color` and
//! `NO_COLOR`.

use crate::common::Repo;
use crate::lifecycle::example_in_git;

/// The models a plan's JSON names.
fn planned(repo: &Repo, args: &[&str]) -> Vec<String> {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    repo.run(&all).code(0).json()["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["model"].as_str().expect("a name").to_string())
        .collect()
}

#[test]
fn plan_takes_model_names_and_plans_only_those() {
    let repo = example_in_git();
    assert_eq!(
        planned(&repo, &[]),
        ["churn-predictor", "fraud-detector", "recommendation-ranker"]
    );
    assert_eq!(planned(&repo, &["fraud-detector"]), ["fraud-detector"]);
    assert_eq!(
        planned(&repo, &["recommendation-ranker", "churn-predictor"]),
        ["churn-predictor", "recommendation-ranker"]
    );
    repo.run(&["plan", "fraud-detector"])
        .code(0)
        .stdout_has("# fraud-detector will be created")
        .stdout_lacks("churn-predictor");
}

#[test]
fn unknown_model_names_are_refused_all_at_once_with_the_closest_name() {
    let repo = example_in_git();
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let mut args = command.to_vec();
        args.extend(["fraud-detectr", "nosuch"]);
        repo.run(&args)
            .code(1)
            .stdout_empty()
            .stderr_has("no model named `fraud-detectr` in models/; did you mean `fraud-detector`?")
            .stderr_has("no model named `nosuch` in models/\n")
            .stderr_has("The models this repository declares: churn-predictor, fraud-detector, recommendation-ranker.");
    }
    assert!(!repo.has_state_dir(), "nothing was applied");
}

#[test]
fn apply_takes_model_names_and_leaves_the_others_alone() {
    let repo = example_in_git();
    repo.run(&["apply", "--auto-approve", "fraud-detector"])
        .code(0);
    repo.run(&["plan", "fraud-detector", "--detailed-exitcode"])
        .code(0);
    repo.run(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("# churn-predictor will be created")
        .stdout_has("# recommendation-ranker will be created")
        .stdout_lacks("# fraud-detector");
}

#[test]
fn a_saved_plan_of_named_models_applies_only_them_and_cannot_be_narrowed_again() {
    let repo = example_in_git();
    repo.run(&["plan", "churn-predictor", "--out", "plan.json"])
        .code(0);
    let saved: serde_json::Value =
        serde_json::from_str(&repo.read("plan.json")).expect("a saved plan");
    assert_eq!(
        saved["source"]["models"],
        serde_json::json!(["churn-predictor"])
    );
    repo.run(&["apply", "plan.json", "fraud-detector"])
        .code(1)
        .stderr_has("a saved plan is applied whole, and cannot be limited to models: plan them with `modelops plan fraud-detector --out FILE`, then apply FILE");
    // Derived again from its commit with the same names: it matches.
    repo.run(&["apply", "plan.json"]).code(0);
    repo.run(&["plan", "churn-predictor", "--detailed-exitcode"])
        .code(0);
    repo.run(&["plan", "fraud-detector", "--detailed-exitcode"])
        .code(2);
}

#[test]
fn a_file_named_like_a_model_is_not_taken_for_one() {
    let repo = example_in_git();
    repo.run(&["plan", "--out", "plan"]).code(0);
    repo.run(&["apply", "plan"]).code(1).stderr_has(
        "`plan` is read as a model name; to apply the saved plan file of that name, write ./plan",
    );
    repo.run(&["apply", "--allow-dirty-plan"])
        .code(1)
        .stderr_has("--allow-dirty-plan applies to a saved plan file");
}

#[test]
fn the_text_plan_counts_passing_gates_and_v_lists_them() {
    let repo = example_in_git();
    let compact = repo
        .run(&["plan", "fraud-detector"])
        .code(0)
        .stdout_has("  ~ version 3: Development → Staging (promoted after validation)\n      all 11 gates passed\n")
        .stdout_has("      evidence.rollout          SKIP    not required")
        // The sign-off is always listed: who approved is what a reviewer reads.
        .stdout_has("      approval.owner            PASS    risk-ml")
        .stdout_has("      7 gates passed\n")
        .stdout_has("Passing gates are counted, not listed: `-v` lists every row.")
        .stdout_lacks("metric.test_accuracy");
    let full = repo
        .run(&["plan", "-v", "fraud-detector"])
        .code(0)
        .stdout_has("      metric.test_accuracy      PASS    0.965")
        .stdout_has("      approval.owner            PASS    risk-ml")
        .stdout_lacks("gates passed")
        .stdout_lacks("-v` lists");
    assert!(full.stdout().lines().count() > compact.stdout().lines().count() + 15);
}

#[test]
fn colour_follows_the_color_flag_and_no_color() {
    let repo = example_in_git();
    let green_plus = "  \u{1b}[32m+\u{1b}[0m register model fraud-detector";
    // Piped, `auto` (the default) never colours.
    let plain = repo.run(&["plan", "fraud-detector"]).code(0);
    assert!(
        !plain.raw_stdout().contains('\u{1b}'),
        "{}",
        plain.raw_stdout()
    );
    for (args, env, coloured) in [
        (&["--color", "always"][..], &[][..], true),
        (&["--color", "always"], &[("NO_COLOR", "1")], true),
        (&["--color", "never"], &[], false),
        (&["--color", "auto"], &[("NO_COLOR", "1")], false),
    ] {
        let mut all = vec!["plan", "fraud-detector"];
        all.extend_from_slice(args);
        let run = repo.run_with(&all, env).code(0);
        let out = run.raw_stdout();
        assert_eq!(
            out.contains(green_plus),
            coloured,
            "{args:?} {env:?}:\n{out}"
        );
        assert_eq!(out.contains('\u{1b}'), coloured, "{args:?} {env:?}");
    }
    // The JSON and markdown plans never carry colour.
    for format in ["json", "markdown"] {
        let run = repo
            .run(&["plan", "--color", "always", "--format", format])
            .code(0);
        assert!(!run.raw_stdout().contains('\u{1b}'), "{format}");
    }
}

#[test]
fn completions_complete_subcommands_and_options_in_bash() {
    let repo = Repo::new();
    let script = repo.run(&["completions", "bash"]).code(0).stdout();
    repo.file("modelops.bash", &script);
    // Bash itself completes `modelops pl` and `modelops plan --det`.
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source modelops.bash; COMP_WORDS=({}); COMP_CWORD={}; _modelops modelops '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &program])
            .current_dir(repo.root())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(complete("modelops pl").trim(), "plan");
    assert!(complete("modelops plan --det").contains("--detailed-exitcode"));
    assert!(complete("modelops completions ").contains("fish"));
    for shell in ["zsh", "fish"] {
        repo.run(&["completions", shell])
            .code(0)
            .stdout_has("import")
            .stdout_has("rollback")
            .stdout_has("auto-approve");
    }
    repo.run(&["completions", "powershell"])
        .code(1)
        .stderr_has("[possible values: bash, zsh, fish]");
}
