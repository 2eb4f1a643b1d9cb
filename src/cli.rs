//! Command-line arguments: the contract users and CI scripts rely on.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative GitOps for a model lifecycle: validate the repository's model
/// manifests, plan what the registry must change, apply it, and keep an audit
/// trail of every change and the commit that asked for it.
#[derive(Debug, Parser)]
#[command(name = "modelops", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success (plan --detailed-exitcode: no changes), 1 error, 2 changes (only with --detailed-exitcode).\nEnvironment: MODELOPS_NOW (RFC 3339) overrides the clock; NO_COLOR turns colour off (see --color)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Shared options.
    #[command(flatten)]
    pub global: Global,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The model-lifecycle repository (holds models/, and optionally
    /// deployments/, policies/, modelops.yaml).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Where the embedded state lives (default: .modelops/ under --repo, or
    /// state.dir in modelops.yaml).
    #[arg(long, global = true, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Colour the output: `auto` colours a terminal unless NO_COLOR is set,
    /// `always` colours pipes too, `never` never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set or TERM is dumb.
    Auto,
    /// Always, even into a pipe or a file.
    Always,
    /// Never.
    Never,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every manifest: YAML, JSON Schema, and semantic rules. Reports all errors at once.
    Validate(ValidateArgs),
    /// Show what apply would change, drift first; nothing is changed.
    Plan(PlanArgs),
    /// Apply a plan: a saved plan file, or a fresh plan after confirmation.
    Apply(ApplyArgs),
    /// Show what the registry holds.
    Status(StatusArgs),
    /// Show a model's change history: what, when, by whom, from which commit.
    History(HistoryArgs),
    /// Take a model out of Production now: serving first, then the registry;
    /// the rollback holds against later applies until git agrees.
    Rollback(RollbackArgs),
    /// Judge each deployed model's monitoring signals against their
    /// thresholds, and act on breaches (alert, rollback, retrain).
    Monitor(MonitorArgs),
    /// Post (or update in place) the plan's pull-request comment on GitHub.
    Comment(CommentArgs),
    /// Show or remove the state lock.
    Unlock(UnlockArgs),
    /// Write the JSON Schemas of the four manifest kinds.
    Schema(SchemaArgs),
    /// Scaffold a new repository: modelops.yaml, models/, deployments/, the
    /// default policy, GitHub workflows, JSON Schemas and a README.
    Init(InitArgs),
    /// Write a manifest for each model an existing MLflow registry holds, so
    /// the repository adopts them as they stand (plan then has nothing to do).
    Import(ImportArgs),
    /// Print a shell completion script for bash, zsh or fish.
    Completions(CompletionsArgs),
}

/// `completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Install:\n  bash:  modelops completions bash > ~/.local/share/bash-completion/completions/modelops\n  zsh:   modelops completions zsh > ~/.zfunc/_modelops   # with fpath+=(~/.zfunc) before compinit\n  fish:  modelops completions fish > ~/.config/fish/completions/modelops.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// A shell `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Format of validation output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// `path:line:col: error: message`
    Text,
    /// A JSON document with every error.
    Json,
    /// GitHub Actions `::error` annotations.
    Github,
}

/// Format of plan output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// For a terminal.
    Text,
    /// The plan's documented JSON shape.
    Json,
    /// For a pull-request comment or job summary.
    Markdown,
}

/// Format of status and history output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// For a terminal.
    Text,
    /// JSON.
    Json,
}

/// Which files to read.
#[derive(Debug, Args)]
pub struct RevArgs {
    /// Read the files of this git revision (commit, branch, tag) instead of the
    /// working tree; the working tree is not touched.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

/// `validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Which files.
    #[command(flatten)]
    pub rev: RevArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
}

/// `plan`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modelops plan                                  # every model\n  modelops plan fraud-detector churn-predictor   # only these two\n  modelops plan -v                               # every gate row, passing ones too\n  modelops plan --out plan.json                  # save it for `modelops apply plan.json`\n  modelops plan --base origin/main --format markdown   # a pull request's plan"
)]
pub struct PlanArgs {
    /// Plan only these models (default: every model). A name the
    /// repository does not declare is an error.
    #[arg(value_name = "MODEL")]
    pub models: Vec<String>,
    /// Which files.
    #[command(flatten)]
    pub rev: RevArgs,
    /// Plan only the models whose files changed since this git revision, and
    /// show each changed manifest's diff.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Save the plan (JSON) for `modelops apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// List every gate row, passing ones too (by default a table shows
    /// failing and skipped rows, and counts the rest).
    #[arg(short, long)]
    pub verbose: bool,
    /// Exit 0 when there are no changes, 1 on error, 2 when there are
    /// changes or a version diverged from git.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Exit 3 when a version diverged from git (a rejection, a rollback or a
    /// failed rollout keeps it at a stage git does not declare), for a
    /// scheduled job to alert on; errors still exit 1.
    #[arg(long)]
    pub fail_on_diverged: bool,
    /// The pull request whose reviews sign off its moves into Production:
    /// an owner mapped to a GitHub team or user in modelops.yaml (`owners`)
    /// signs off with an approving review of its head commit, read with
    /// GITHUB_TOKEN from GITHUB_REPOSITORY at GITHUB_API_URL. Without it,
    /// the merged pull request that last changed each model's manifest.
    /// Give it with --base: the owners' mapping is then the base's.
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// Pass the sign-offs GitHub cannot prove (no token, GitHub down, a
    /// local plan), saying why; the plan shows the override.
    #[arg(long, value_name = "REASON")]
    pub approval_override: Option<String>,
}

/// `apply`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modelops apply                          # plan every model, ask, apply\n  modelops apply fraud-detector           # only this model\n  modelops plan --out plan.json && modelops apply plan.json\n  modelops apply --auto-approve           # a scheduled job: no question asked\n\nAn argument holding a `.` or a `/` is a saved plan file (model names never do); any other is a model name."
)]
pub struct ApplyArgs {
    /// Which files (ignored when a plan file is given).
    #[command(flatten)]
    pub rev: RevArgs,
    /// Model names to plan and apply (default: every model), or one plan
    /// saved with `plan --out`. A saved plan is derived again from the
    /// commit it names and refused unless its steps are the same, or if the
    /// state changed since.
    #[arg(value_name = "MODEL|PLAN_FILE")]
    pub targets: Vec<String>,
    /// Apply a saved plan made from uncommitted changes (or outside git) as
    /// saved: it cannot be checked against a commit.
    #[arg(long)]
    pub allow_dirty_plan: bool,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// List every gate row of the plan shown before applying.
    #[arg(short, long)]
    pub verbose: bool,
    /// Pass the sign-offs of owners mapped to GitHub identities that GitHub
    /// cannot prove (no token, GitHub down, a local apply), saying why. The
    /// audit log records an `approval_override` event with the reason and
    /// who ran modelops; use it to proceed in an emergency, not as a habit.
    #[arg(long, value_name = "REASON")]
    pub approval_override: Option<String>,
}

/// `status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this model.
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// `history`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The model (optional with --verify: then every model's events).
    #[arg(value_name = "MODEL", required_unless_present = "verify")]
    pub model: Option<String>,
    /// Check the audit log's hash chain instead of printing it: exit 0 when
    /// intact, 1 naming the first event that was changed, removed or cut off.
    #[arg(long, conflicts_with_all = ["at", "format"])]
    pub verify: bool,
    /// Also say which version was in Production at this time (RFC 3339, e.g. 2026-11-20T12:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// `unlock`
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove the lock file even while a process holds it.
    #[arg(long)]
    pub force: bool,
}

/// `schema`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  modelops schema model > model.schema.json   # one kind, to stdout\n  modelops schema --out schemas                # all four files\n  modelops schema --out schemas --check        # CI: exit 1 when they are stale"
)]
pub struct SchemaArgs {
    /// Print only this kind's schema (model, deployment, policy or config);
    /// without it and without --out, all four print as one JSON object keyed
    /// by kind.
    #[arg(value_name = "KIND", conflicts_with = "out")]
    pub kind: Option<SchemaKind>,
    /// Directory to write `<kind>.schema.json` files to, instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not write; exit 1 if the files in --out differ from what this build generates.
    #[arg(long, requires = "out")]
    pub check: bool,
}

/// A manifest kind, for `schema KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// `models/*.yaml`
    Model,
    /// `deployments/*.yaml`
    Deployment,
    /// `policies/*.yaml`
    Policy,
    /// `modelops.yaml`
    Config,
}

/// `rollback`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  modelops rollback fraud-detector --reason \"error spike after v3\"
      Serving first, then the registry; later applies leave the model alone
      until its manifest changes or the hold is released.
  modelops rollback --release fraud-detector
  modelops rollback --drill fraud-detector --target staging --path /healthz
      A drill rehearses the rollback on one serving target (a staging one):
      that target's routing of the model switches to the version a rollback
      would go to (the one serving in Production now, unless it is excluded),
      probes through the target's front door must see that version answer
      --probes times in a row within --timeout, and the routing before is put
      back, also when a step fails. The time to switch and the result are
      recorded in the audit log, where a policy's rollback_drill reads them
      (docs/rollback.md). Stages and holds are never touched. Exit 1 when the
      drill fails. The embedded `local` target cannot be drilled: it has no
      front door to probe.")]
pub struct RollbackArgs {
    /// The model to roll back (or, with --release, to release; with
    /// --drill, to drill).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// The version to put back in Production (default: the last version that
    /// was in Production before the current one).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Why, recorded in the event log (required for a rollback).
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["release", "drill"])]
    pub reason: Option<String>,
    /// Roll back to a version that was never in Production.
    #[arg(long)]
    pub force: bool,
    /// End the hold of an earlier rollback: the next apply follows git again.
    #[arg(long, conflicts_with_all = ["to", "force"])]
    pub release: bool,
    /// Rehearse a rollback on --target instead of rolling back: switch,
    /// probe, switch back, record. Nothing in the registry changes.
    #[arg(long, requires = "target", conflicts_with_all = ["to", "force", "release", "reason"])]
    pub drill: bool,
    /// The serving target a drill runs on, by its name in modelops.yaml.
    #[arg(long, value_name = "NAME", requires = "drill")]
    pub target: Option<String>,
    /// The path each drill probe GETs through the target's front door.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub path: String,
    /// How many answers in a row from the rollback target confirm a drill.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub probes: u32,
    /// How long the rollback target has to answer them, from the switch
    /// (such as 30s or 5m; default: the policy's rollback_drill.sla, else 60s).
    #[arg(long, value_name = "DURATION", requires = "drill")]
    pub timeout: Option<String>,
    /// Output format of a drill.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// `comment`.
#[derive(Debug, Args)]
#[command(
    after_help = "Environment: GITHUB_TOKEN (may write pull-request comments), GITHUB_REPOSITORY (owner/name), GITHUB_API_URL (default https://api.github.com)."
)]
pub struct CommentArgs {
    /// The pull request number.
    #[arg(long, value_name = "N", required_unless_present = "print")]
    pub pr: Option<u64>,
    /// The plan, as `modelops plan --out FILE` or `plan --format json` wrote
    /// it (or, for a repository that did not validate, `validate --format json`).
    #[arg(long, value_name = "PLAN_JSON")]
    pub plan: PathBuf,
    /// Print the comment's markdown, unsplit, instead of posting it (for a
    /// job summary or a preview); needs neither GitHub nor --pr.
    #[arg(long, conflicts_with = "pr")]
    pub print: bool,
}

/// `monitor`.
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// Only this model (default: every model with a deployment).
    #[arg(value_name = "MODEL")]
    pub model: Option<String>,
    /// Output format; `markdown` suits a job summary.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Report only: take no action on breaches.
    #[arg(long)]
    pub dry_run: bool,
}

/// Where `import` reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportSource {
    /// The MLflow registry at MLFLOW_TRACKING_URI (or registry.uri in DIR/modelops.yaml).
    Mlflow,
}

/// `import`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each version gets its number, stage (from the MLflow stage and the production/staging aliases), source, training run and changelog (the version description) as MLflow holds them, the run's metrics, the dataset (version tag, run tag or the run's dataset input), the signature from the logged MLmodel and the exact pins of its requirements.txt; the model its description and owner (tag `owner`, else who ran the training). Comments in each file say where every value came from.\n\n\
Adopting changes nothing: right after, `modelops validate` passes and `modelops plan --detailed-exitcode` exits 0. What the policy's gates will miss when a version is next promoted (fairness scores, sign-off, rollout evidence) is printed as to-dos with file:line and marked in the files as TODO comments.\n\n\
Import never overwrites a file: a model DIR already declares is left as it is, so running it again adds only the models registered since. It writes DIR/modelops.yaml naming the registry when DIR has none.\n\n\
Example:\n  MLFLOW_TRACKING_URI=http://mlflow:5000 modelops import --from mlflow --out models-repo\n  modelops plan --repo models-repo --detailed-exitcode\n\nSee docs/import.md."
)]
pub struct ImportArgs {
    /// The registry to read.
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub from: ImportSource,
    /// The repository to write into (created when missing): models/<name>.yaml per model.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Only this registered model (repeat for several; default: every model).
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
}

/// `init`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes modelops.yaml (the embedded registry, with MLflow, nginx and Prometheus blocks to uncomment), models/ and deployments/, policies/default.yaml (the guidelines' gates, written out), .github/workflows/plan.yml and reconcile.yml, .gitignore (.modelops/), schemas/ (the JSON Schemas every file's $schema line names) and a README.\n\nNothing is overwritten: if any of these files exists, init writes nothing and names them.\n\nThen:\n  modelops validate --repo DIR\n  modelops plan --repo DIR\nor bring in an existing MLflow registry: modelops import --from mlflow --out DIR"
)]
pub struct InitArgs {
    /// The directory to scaffold (created when missing).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}
