//! Backends at the I/O edge: registries (embedded `local` store, MLflow),
//! serving targets (`local`, nginx) and metrics providers (file, Prometheus),
//! built in one place ([`factory`]) from the configuration and the
//! environment read once ([`env::Env`]).

pub mod benchmark;
pub mod env;
pub mod factory;
pub mod local;
pub mod metrics;
pub mod mlflow;
pub mod registry;
pub mod serving;

pub use env::Env;
pub use local::LocalStore;
pub use mlflow::MlflowRegistry;
pub use registry::{ApplyContext, BackendError, Registry, RegistryOps, StepRecord};
