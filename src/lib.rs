//! modelops: a declarative GitOps reconciler for a model-lifecycle repository.
//!
//! Data flows one way:
//!
//! ```text
//! source (working tree | git revision)      backend (registry: local store)
//!        │ files as bytes                          │ observe (read-only)
//!        ▼                                         ▼
//! manifest: YAML → schema → rules ─▶ Desired   ActualState (state)
//!                                      └──────┬──────┘
//!                         reconcile::plan(desired, actual, observations, now)
//!                                             │ Plan
//!                        render (text | markdown | json)   apply ─▶ backend + event log
//! ```
//!
//! - [`manifest`] — desired state: types, JSON Schemas, validation (pure).
//! - [`source`] — reads manifest files from a directory or a git revision.
//! - [`state`] — actual state and audit events, as plain data.
//! - [`observe`] — what gates read besides the registry: run metrics, logged
//!   signatures, latency benchmarks.
//! - [`reconcile`] — the pure planner, validation gates, and their re-check at apply.
//! - [`render`] — plans and diagnostics as text, markdown, JSON, GitHub annotations.
//! - [`drift`] — PSI per feature and the KL divergence of predictions between
//!   a reference data set and a current window (CSV or Parquet, streamed).
//! - [`apply`] — runs a plan's steps against a registry.
//! - [`backend`] — registries at the I/O edge (the embedded `local` store).
//! - [`github`] — the plan's pull-request comment through GitHub's REST API
//!   (found by a hidden marker, edited in place, split when too long).
//! - [`commands`] — one file per subcommand; [`run`] is the binary's body.

// Diagnostics are returned by value on the cold error path of per-file
// checks; boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod drift;
pub mod github;
pub mod manifest;
pub mod observe;
pub mod reconcile;
pub mod render;
pub mod run;
pub mod source;
pub mod state;
