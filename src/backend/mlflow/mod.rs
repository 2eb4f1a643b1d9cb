//! The MLflow registry backend (in progress): REST calls as values and the
//! mapping of modelops' state onto MLflow's models, versions, stages, aliases
//! and tags. Not yet selectable in `modelops.yaml`.

pub mod client;
pub mod mapping;
pub mod request;
