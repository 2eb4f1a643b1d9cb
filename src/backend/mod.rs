//! Backends at the I/O edge: the registry (embedded `local` store today), and
//! later serving targets and metrics providers.

pub mod benchmark;
pub mod local;
pub mod mlflow;
pub mod registry;

pub use local::LocalStore;
pub use mlflow::MlflowRegistry;
pub use registry::{ApplyContext, BackendError, ModelOutcome, Registry};
