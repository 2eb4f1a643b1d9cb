//! An honest plan on the example repository: a version a rejection, a failed
//! canary or a rollback keeps at a stage git does not declare is listed as
//! Diverged (why, since when, and the patch that makes git agree), the plan
//! never says that git and the registry match, and `--fail-on-diverged`
//! exits 3 for a scheduled job to alert on.

use crate::common::Repo;
use crate::lifecycle::applied;
use crate::promotion::promote_12;

const FRAUD: &str = "models/fraud-detector.yaml";
const MATCH: &str = "Registry and serving match the repository";

/// Git asks for fraud-detector version 3 in Production (version 2 archived)
/// without its owner's sign-off: the gates refuse it.
fn ask_unsigned_promotion(repo: &Repo) {
    repo.edit(FRAUD, "stage: Production", "stage: Archived")
        .edit(FRAUD, "stage: Staging", "stage: Production");
}

/// Applies the patch the plan's JSON gives for `model` to the working tree.
fn apply_patch(repo: &Repo, model: &str) {
    let plan = repo.run(&["plan", "--format", "json"]).json();
    let patch = plan["diverged"]
        .as_array()
        .expect("a diverged list")
        .iter()
        .find(|d| d["model"] == model)
        .and_then(|d| d["patch"].as_str())
        .expect("a patch")
        .to_string();
    repo.file("fix.patch", patch);
    repo.git(&["apply", "fix.patch"]);
    repo.remove("fix.patch");
}

#[test]
fn a_refused_promotion_is_diverged_until_git_agrees() {
    let repo = applied();
    ask_unsigned_promotion(&repo);
    // The plan that rejects it already says git and the registry will disagree.
    repo.run(&["plan"])
        .code(1)
        .stdout_has("Diverged: git declares a stage these versions do not have, and apply will not move them:\n")
        .stdout_has("  fraud-detector version 3: git declares Production, it is Staging (rejected since 2026-11-26T09:00:00Z): this apply marks it Rejected: its gates refuse Production: approval.owner: (none)\n");
    repo.run(&["apply", "--auto-approve"]).code(1);

    let later = repo
        .run(&["plan"])
        .code(0)
        .stdout_has("  fraud-detector version 2: git declares Archived, it is Production (rejected since 2026-11-26T09:00:00Z): stays in Production: version 3, which git puts in Production, was rejected by its gates\n")
        .stdout_has("  fraud-detector version 3: git declares Production, it is Staging (rejected since 2026-11-26T09:00:00Z): rejected by its gates: approval.owner: (none) (`approved_by` must name risk-ml)\n")
        .stdout_has("  This change to models/fraud-detector.yaml makes git agree:\n")
        .stdout_has("    -      stage: Archived\n    +      stage: Production\n")
        .stdout_has("    -      stage: Production\n    +      stage: Staging\n")
        .stdout_has("No changes to apply, but git and the registry disagree: 2 versions diverged (see Diverged above).\n")
        .stdout_lacks(MATCH);
    assert!(!later.stdout().contains("Plan: "), "{}", later.stdout());
    repo.run(&["plan", "--detailed-exitcode"]).code(2);
    repo.run(&["plan", "--fail-on-diverged"]).code(3);
    repo.run(&["plan", "--detailed-exitcode", "--fail-on-diverged"])
        .code(3);

    let json = repo.run(&["plan", "--format", "json"]).code(0).json();
    let diverged = json["diverged"].as_array().expect("diverged");
    let rows: Vec<(String, String, String, String, String)> = diverged
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].to_string().trim_matches('"').to_string();
            (
                s("version"),
                s("declared"),
                s("actual"),
                s("cause"),
                s("since"),
            )
        })
        .collect();
    let since = "2026-11-26T09:00:00Z".to_string();
    assert_eq!(
        rows,
        [
            (
                "2".into(),
                "Archived".into(),
                "Production".into(),
                "rejected".into(),
                since.clone()
            ),
            (
                "3".into(),
                "Production".into(),
                "Staging".into(),
                "rejected".into(),
                since
            ),
        ]
    );
    assert_eq!(json["format_version"], "1.6");
    repo.run(&["plan", "--format", "markdown"])
        .code(0)
        .stdout_has("#### :warning: Diverged from git (apply will not move these versions)\n")
        .stdout_has("| `fraud-detector` | 3 | Production | Staging | rejected | 2026-11-26T09:00:00Z | rejected by its gates\\: approval.owner\\: \\(none\\) \\(`approved_by` must name risk-ml\\) |\n")
        .stdout_has("The change to `models/fraud-detector.yaml` that makes git agree:\n\n```diff\n")
        .stdout_lacks(MATCH);

    // The printed change is what makes git agree.
    apply_patch(&repo, "fraud-detector");
    repo.run(&["plan", "--detailed-exitcode", "--fail-on-diverged"])
        .code(0)
        .stdout_lacks("Diverged")
        .stdout_has(MATCH);
}

/// A real clock has nanoseconds; what a person reads is to the second.
#[test]
fn times_in_the_plan_are_to_the_second() {
    let repo = applied();
    repo.file(
        "observations.yaml",
        crate::rollouts::observations(&repo, 0.021),
    );
    crate::rollouts::promote(&repo);
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.at("2026-11-26T10:00:00.123456789Z");
    repo.run(&["apply", "--auto-approve"]).code(1);
    repo.run(&["plan"])
        .code(0)
        .stdout_has("(failed rollout since 2026-11-26T10:00:00Z)")
        .stdout_has("rejected at 2026-11-26T10:00:00Z: ")
        .stdout_lacks(".123456789");
}

#[test]
fn a_failed_canary_is_diverged() {
    let repo = applied();
    repo.file(
        "observations.yaml",
        crate::rollouts::observations(&repo, 0.021),
    );
    crate::rollouts::promote(&repo);
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.at(&crate::rollouts::hours(1));
    repo.run(&["plan"])
        .code(1)
        .stdout_has("  fraud-detector version 3: git declares Production, it is Staging (failed rollout since 2026-11-26T10:00:00Z): its canary fails on this apply: canary.error_rate_increase: 2.049pp\n");
    repo.run(&["apply", "--auto-approve"]).code(1);
    repo.at(&crate::rollouts::hours(3));
    let out = repo
        .run(&["plan", "--fail-on-diverged"])
        .code(3)
        .stdout_has("  fraud-detector version 3: git declares Production, it is Staging (failed rollout since 2026-11-26T10:00:00Z): its canary failed: ")
        .stdout_has("  fraud-detector version 2: git declares Archived, it is Production (failed rollout since 2026-11-26T10:00:00Z): stays in Production: version 3, which git puts in Production, failed its rollout\n")
        .stdout_lacks(MATCH);
    assert!(
        out.stdout().contains("error_rate_increase"),
        "{}",
        out.stdout()
    );
    repo.run(&["plan", "--detailed-exitcode"]).code(2);
    apply_patch(&repo, "fraud-detector");
    repo.run(&["plan", "--fail-on-diverged"])
        .code(0)
        .stdout_lacks("Diverged");
}

#[test]
fn a_rollback_hold_is_diverged() {
    let repo = applied();
    promote_12(&repo);
    repo.git_commit("promote fraud-detector 3");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.at("2026-11-27T09:00:00Z");
    repo.run(&["rollback", "fraud-detector", "--reason", "error spike"])
        .code(0);
    repo.run(&["plan", "--fail-on-diverged"])
        .code(3)
        .stdout_has("  fraud-detector version 2: git declares Archived, it is Production (held by a rollback since 2026-11-27T09:00:00Z): put back in Production by a rollback by tester: error spike\n")
        .stdout_has("  fraud-detector version 3: git declares Production, it is Archived (held by a rollback since 2026-11-27T09:00:00Z): taken out of Production by a rollback by tester: error spike\n")
        .stdout_has("No changes. Held by a rollback, so not compared with git: fraud-detector.")
        .stdout_lacks(MATCH);
    let json = repo.run(&["plan", "--format", "json"]).json();
    assert_eq!(json["diverged"][0]["cause"], "rollback");
    assert_eq!(
        json["diverged"][0]["patch"], json["held_by_rollback"][0]["patch"],
        "one change makes git agree with the rollback"
    );
    apply_patch(&repo, "fraud-detector");
    repo.run(&["apply", "--auto-approve"]).code(0);
    repo.run(&["plan", "--detailed-exitcode", "--fail-on-diverged"])
        .code(0)
        .stdout_has(MATCH);
}

#[test]
fn archiving_every_version_of_a_routed_model_is_refused() {
    let repo = applied();
    let routing = repo.read("state/routing.json");
    repo.edit(FRAUD, "stage: Production", "stage: Archived");
    let line = repo
        .read(FRAUD)
        .lines()
        .position(|l| l.starts_with("  versions:"))
        .expect("a versions key")
        + 1;
    let located = format!(
        "[REPO]/{FRAUD}:{line}:3: error: fraud-detector has no Production version, but deployments/fraud-detector.yaml routes its traffic: keep a version in Production, or remove the deployment"
    );
    repo.run(&["validate"]).code(1).stderr_has(&located);
    repo.run(&["plan"])
        .code(1)
        .stderr_has(&located)
        .stdout_empty();
    repo.run(&["apply", "--auto-approve"])
        .code(1)
        .stderr_has(&located);
    assert_eq!(repo.read("state/routing.json"), routing, "nothing applied");
}

/// The actor of `modelops apply` as `history` shows it on its latest event.
fn last_actor(repo: &Repo) -> String {
    let history = repo.run(&["history", "churn-predictor"]).code(0).stdout();
    let line = history
        .lines()
        .rfind(|l| l.contains("(by "))
        .expect("an event with its actor")
        .to_string();
    let by = &line[line.rfind("(by ").expect("by") + 4..];
    by.split([' ', ')']).next().expect("a name").to_string()
}

#[test]
fn the_actor_is_the_ci_actor_else_the_commit_author_else_the_user() {
    let repo = crate::lifecycle::example_in_git();
    repo.git(&[
        "-c",
        "user.name=ada",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "by ada",
    ]);
    let describe = |n: u32| {
        let path = "models/churn-predictor.yaml";
        let text: Vec<String> = repo
            .read(path)
            .lines()
            .map(|l| match l.starts_with("  description:") {
                true => format!("  description: churn, edit {n}"),
                false => l.to_string(),
            })
            .collect();
        repo.file(path, text.join("\n") + "\n");
    };
    // A clean commit: its author, not $USER.
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(last_actor(&repo), "ada");
    // The CI actor comes first.
    describe(0);
    repo.git(&["-c", "user.name=ada", "commit", "-qam", "edit"]);
    repo.run_with(&["apply", "--auto-approve"], &[("GITHUB_ACTOR", "ci-bot")])
        .code(0);
    assert_eq!(last_actor(&repo), "ci-bot");
    // Files that differ from the commit were not written by its author.
    describe(1);
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(last_actor(&repo), "tester");
    // Without $USER, the name the OS gives this process's user.
    describe(2);
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id runs");
    let os_user = String::from_utf8(id.stdout)
        .expect("UTF-8")
        .trim()
        .to_string();
    repo.run_with(&["apply", "--auto-approve"], &[("USER", "")])
        .code(0);
    assert_eq!(last_actor(&repo), os_user);
}
