//! modelops: a declarative GitOps reconciler for a model-lifecycle repository.
pub mod backend;
pub mod manifest;
pub mod reconcile;
pub mod state;
