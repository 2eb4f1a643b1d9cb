//! Backends at the I/O edge: registries (embedded `local` store, MLflow),
//! serving targets (`local`, nginx) and metrics providers (file, Prometheus).

pub mod benchmark;
pub mod local;
pub mod metrics;
pub mod mlflow;
pub mod registry;
pub mod serving;

pub use local::LocalStore;
pub use mlflow::MlflowRegistry;
pub use registry::{ApplyContext, BackendError, Registry, RegistryOps, StepRecord};
