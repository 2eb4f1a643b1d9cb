//! Integration tests: the real `modelops` binary on temporary repositories
//! (directories and git repositories), checking exit codes, stdout, stderr
//! and the state it leaves. Output a person reads is snapshotted with insta.
//!
//! - `action` — the GitHub Action: its metadata against GitHub's schema, the example workflows through actionlint, its script run as a runner would.
//! - `approvals` — sign-offs proven by pull-request reviews against a fake GitHub API: the author, an outdated head, a dismissed review, a non-member never count; a team member's approval of the head does, and apply after merge records it (event log, registry); an override is recorded; no token, GitHub down or membership refused fail the gate saying why.
//! - `bad_input` — files that must be refused safely (YAML bombs, symlinks, ...).
//! - `rules` — one case per schema and semantic rule, with its location.
//! - `credentials` — passwords and tokens in the MLflow URL, its query string, `GITHUB_API_URL`, and echoed back by a server, never printed.
//! - `comment` — the pull-request comment against a fake GitHub API: one comment edited in place, split when long, errors without the token.
//! - `diverged` — the plan's Diverged section: a refused promotion, a failed canary, a rollback hold; `--fail-on-diverged`.
//! - `drill` — `modelops rollback --drill` on a real nginx: switch to the rollback target, probes, switch back (also when the target does not answer), the audit event the gates read; `local` refused.
//! - `drift` — the drift engine's PSI and KL on CSV and Parquet fixtures against a naive Python reference (`tests/drift_reference.py`), within 1e-9.
//! - `envoy` — the envoy serving target against a real Envoy: splits, mirrors, sticky arms, refusals read from its admin API, a restart on other files; its config rules; the `envoy` metrics preset through a Prometheus scraping Envoy.
//! - `envoy_routes` — the envoy target's routes (RDS) on a real Envoy with its default drain settings: a routing change reaches a connection a client keeps open and leaves the listener; a route file Envoy refuses shows in its counters only; files with the route inline (before RDS) read back and move to a route file at the next apply.
//! - `example_readme` — `example-repo/README.md` run as written on a fresh copy of the example: every command exits as the page says, prints what it shows, and the copy's `$schema` links resolve.
//! - `e2e` — helpers the end-to-end suites share: real Prometheus, nginx and MLflow servers on loopback (skipped when missing, failed with `MODELOPS_E2E=1`), OpenMetrics series, small HTTP fakes.
//! - `formats` — validation output as JSON and GitHub annotations.
//! - `layers` — the layer rules: a walk over `src/` names every import that points up (docs/architecture.md).
//! - `live` — the live loop: real model servers (`mlflow models serve`) on trained versions, real traffic from a bounded load generator, Envoy routing and a Prometheus scraping it.
//! - `lifecycle` — plan, apply, status and history on the example repository.
//! - `promotion` — stage moves after the first apply, refusals, saved plans, drift.
//! - `gates` — validation gates: failures shown, versions Rejected and held, re-checked at apply.
//! - `git` — `--rev` and `--base`.
//! - `init` — `modelops init` in an empty directory outside this checkout: validate and plan accept it, its workflows pass actionlint; it never overwrites a file.
//! - `import` — `modelops import --from mlflow` on a real MLflow holding models registered the way teams do: adopting plans nothing, a promotion meets gates naming what is missing.
//! - `latency` — the serving-latency benchmark against a server inside the test.
//! - `monitor` — `modelops monitor`: signals, unmeasured, retrain webhook/dispatch once per window, rollback.
//! - `monitor_e2e` — `modelops monitor` on a real Prometheus and nginx: figures from backfilled series, a rollback that switches nginx and the registry, retrain calls once per window.
//! - `habits` — `plan`/`apply` of named models, the compact gate tables and `-v`, `--color` and `NO_COLOR`.
//! - `readme` — README's quick start, every `sh` block run in one shell on a fresh copy of the example.
//! - `docs` — every `modelops` command in README and docs/ parses, every link between pages resolves.
//! - `saved_plan` — `apply FILE` derives the plan again from its commit: edited steps and uncommitted plans are refused.
//! - `audit` — the append-only, hash-chained event log: `history --verify`, state/log mismatches, `unlock --force`, state validated on read.
//! - `rollback` — `modelops rollback`: serving and registry switch, the hold and its release, the last known-good target (also monitor's).
//! - `rollback_gates` — `rollback.ready` and `rollback.drilled` on every path into Production (direct, restore, canary start and completion, shadow and A/B by auto_promote and by git, apply's re-check): refused when the drill is missing, stale or too slow, or the rollback target cannot serve.
//! - `rollback_mlflow` — the known-good rule on a real MLflow: exit markers as event tags, deleted versions skipped.
//! - `rollback_nginx` — a rollback on a real nginx switches only to an upstream that answers its health check (or with --force).
//! - `rollouts` — canary, shadow and A/B rollouts on the example, time through `MODELOPS_NOW`.
//! - `schedule` — the example applied every 15 minutes for two weeks, as its `reconcile.yml` runs it; a provider that is down.
//! - `robustness` — the state lock, committed schemas, a closed stdout.
//! - `mlflow` — the MLflow REST client against a real tracking server.
//! - `mlflow_gates` — gates reading real MLflow runs and logged models; rejections as tags.
//! - `mlflow_signature` — reading the signature MLflow logged with a model.
//! - `nginx` — the nginx serving target against a real nginx: splits, mirrors, sticky arms, reloads.
//! - `pr_trust` — a pull request as an attacker: benchmarks, providers and the registry from the base revision, files outside the repository, FIFOs, devices, huge snapshots, a hanging provider.
//! - `output_injection` — hostile manifest text (ANSI escapes, workflow commands, markdown, nginx syntax) printed inert or refused.
//! - `prometheus` — the Prometheus metrics provider against a real Prometheus on backfilled series.
//! - `rollout_e2e` — the example's canary through the binary on a real nginx and Prometheus: promotion, rollback, outage.

#[path = "common/mod.rs"]
mod common;

#[path = "cli/action.rs"]
mod action;
#[path = "cli/approvals.rs"]
mod approvals;
#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/comment.rs"]
mod comment;
#[path = "cli/credentials.rs"]
mod credentials;
#[path = "cli/diverged.rs"]
mod diverged;
#[path = "cli/docs.rs"]
mod docs;
#[path = "cli/drift.rs"]
mod drift;
#[path = "cli/drill.rs"]
mod drill;
#[path = "cli/e2e.rs"]
mod e2e;
#[path = "cli/envoy.rs"]
mod envoy;
#[path = "cli/envoy_routes.rs"]
mod envoy_routes;
#[path = "cli/example_readme.rs"]
mod example_readme;
#[path = "cli/fixtures.rs"]
mod fixtures;
#[path = "cli/formats.rs"]
mod formats;
#[path = "cli/gates.rs"]
mod gates;
#[path = "cli/git.rs"]
mod git;
#[path = "cli/habits.rs"]
mod habits;
#[path = "cli/import.rs"]
mod import;
#[path = "cli/init.rs"]
mod init;
#[path = "cli/latency.rs"]
mod latency;
#[path = "cli/layers.rs"]
mod layers;
#[path = "cli/lifecycle.rs"]
mod lifecycle;
#[path = "cli/live.rs"]
mod live;
#[path = "cli/mlflow.rs"]
mod mlflow;
#[path = "cli/mlflow_gates.rs"]
mod mlflow_gates;
#[path = "cli/mlflow_requests.rs"]
mod mlflow_requests;
#[path = "cli/mlflow_signature.rs"]
mod mlflow_signature;
#[path = "cli/monitor.rs"]
mod monitor;
#[path = "cli/monitor_e2e.rs"]
mod monitor_e2e;
#[path = "cli/nginx.rs"]
mod nginx;
#[path = "cli/orphan_routes.rs"]
mod orphan_routes;
#[path = "cli/output_injection.rs"]
mod output_injection;
#[path = "cli/pr_trust.rs"]
mod pr_trust;
#[path = "cli/prometheus.rs"]
mod prometheus;
#[path = "cli/promotion.rs"]
mod promotion;
#[path = "cli/promotion_paths.rs"]
mod promotion_paths;
#[path = "cli/readme.rs"]
mod readme;
#[path = "cli/robustness.rs"]
mod robustness;
#[path = "cli/rollback.rs"]
mod rollback;
#[path = "cli/rollback_gates.rs"]
mod rollback_gates;
#[path = "cli/rollback_mlflow.rs"]
mod rollback_mlflow;
#[path = "cli/rollback_nginx.rs"]
mod rollback_nginx;
#[path = "cli/rollout_e2e.rs"]
mod rollout_e2e;
#[path = "cli/rollouts.rs"]
mod rollouts;
#[path = "cli/rules.rs"]
mod rules;
#[path = "cli/saved_plan.rs"]
mod saved_plan;
#[path = "cli/schedule.rs"]
mod schedule;
