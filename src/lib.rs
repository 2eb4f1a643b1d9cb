//! modelops: a declarative GitOps reconciler for a model-lifecycle repository.
//!
//! Data flows one way:
//!
//! ```text
//! source (working tree | git revision)      backend (registry, serving, metrics)
//!        │ files as bytes                          │ observe (read-only)
//!        ▼                                         ▼
//! manifest: YAML → schema → rules ─▶ Desired   ActualState (state)
//!                                      └──────┬──────┘
//!                         reconcile::plan(desired, actual, observations, now)
//!                                             │ Plan
//!                        render (text | markdown | json)   apply ─▶ registry, serving + event log
//! ```
//!
//! - [`manifest`] — desired state: types, JSON Schemas, validation (pure).
//! - [`source`] — reads manifest files from a directory or a git revision.
//! - [`state`] — actual state and audit events, as plain data; number and
//!   duration formatting ([`state::format`]).
//! - [`observe`] — what planning reads besides the registry: run metrics,
//!   logged signatures, latency benchmarks, routing, rollout metrics.
//! - [`reconcile`] — the pure planner: validation gates (and their re-check at
//!   apply), rollout decisions, rollback holds, monitoring verdicts.
//! - [`render`] — plans and diagnostics as text, markdown, JSON, GitHub annotations.
//! - [`drift`] — PSI per feature and the KL divergence of predictions between
//!   a reference data set and a current window (CSV or Parquet, streamed).
//! - [`apply`] — runs a plan's steps against the registry and serving targets;
//!   [`apply::step`] says once what each step means as registry writes.
//! - [`backend`] — the I/O edge: registries (embedded `local` store, MLflow),
//!   serving targets (`local`, nginx, Envoy), metrics providers (file, Prometheus),
//!   the latency benchmark; all built in [`backend::factory`] from the
//!   configuration and the environment read once ([`backend::Env`]).
//! - [`http`] — the one HTTP layer under every client: client builder and
//!   timeouts, the retry rule, the typed transport error, the redaction
//!   policy for URLs and server text.
//! - [`github`] — the plan's pull-request comment through GitHub's REST API
//!   (found by a hidden marker, edited in place, split when too long).
//! - [`progress`] — the progress line on stderr (a terminal only) for work
//!   that takes seconds: the benchmark, a large apply, drift over a big file.
//! - [`ops`] — the operations behind the subcommands (plan, apply, rollback,
//!   monitor): plain requests in, plain results out, no printing of results.
//! - [`commands`] — one file per subcommand: arguments in, one [`ops`] call,
//!   rendering out; [`run`] is the binary's body.
//!
//! Dependencies point down; `tests/cli/layers.rs` checks it and
//! `docs/architecture.md` states the rules.

// Diagnostics are returned by value on the cold error path of per-file
// checks; boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod drift;
pub mod github;
pub mod http;
pub mod manifest;
pub mod observe;
pub mod ops;
pub mod progress;
pub mod reconcile;
pub mod render;
pub mod run;
pub mod source;
pub mod state;
