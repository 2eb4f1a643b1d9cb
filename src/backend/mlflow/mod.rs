//! The MLflow registry backend: REST calls as values, the client that sends
//! them, the mapping of modelops' state onto MLflow's models, versions,
//! stages, aliases and tags, the [`Registry`](crate::backend::Registry)
//! built on them, and the signature MLflow logged with a model ([`mlmodel`]).

pub mod adopt;
pub mod cache;
pub mod client;
pub mod import;
pub mod mapping;
pub mod mlmodel;
pub mod registry;
pub mod request;

pub use registry::MlflowRegistry;
