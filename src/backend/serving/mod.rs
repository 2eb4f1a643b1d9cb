//! Serving targets: where a model's traffic is split between its versions.
//! `local` keeps the routing table in the state directory; `nginx` renders
//! one config fragment per deployment and reloads nginx; `envoy` writes the
//! listener, route and cluster files an Envoy watches and reads its admin
//! API.

pub mod envoy;
pub mod files;
pub mod local;
pub mod nginx;

use std::collections::BTreeMap;

use crate::manifest::deployment::StickyKey;
use crate::state::TrafficRecord;

/// The serving targets by name: `local` always, and those `modelops.yaml`
/// declares (built by [`crate::backend::factory::serving_targets`]).
pub type Targets = BTreeMap<String, Box<dyn ServingTarget>>;

/// The response header a serving target adds to every answer it proxies,
/// naming the model version that answered (`x-modelops-version: 3`). Clients,
/// rollback drills and the live benchmarks read it to see which version
/// served a request.
pub const VERSION_HEADER: &str = "x-modelops-version";

/// The routing one deployment asks of its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route<'a> {
    /// The model served.
    pub model: &'a str,
    /// The deployment's name (names the nginx fragment).
    pub deployment: &'a str,
    /// Percent of live traffic per version (sums to 100, no zero entries),
    /// and percent of requests mirrored per shadow version.
    pub traffic: &'a TrafficRecord,
    /// For an A/B test: what keeps a user in one arm. Without it the split is
    /// per request.
    pub sticky: Option<&'a StickyKey>,
}

/// A serving target failed to read or change its routing.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// A file of the target could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Which file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The target refused the change (for nginx: `nginx -t` or the reload
    /// failed, with nginx's message); the previous routing was restored.
    #[error("{0}")]
    Refused(String),
    /// The target is not configured to serve this route (no upstream for a
    /// version, no listen address for a model).
    #[error("{0}")]
    Config(String),
    /// A health check failed: the version cannot take traffic.
    #[error("{0}")]
    Unhealthy(String),
    /// The target's control API (Envoy's admin API) did not answer, or
    /// answered in a form modelops cannot read.
    #[error("{0}")]
    Unavailable(String),
}

/// Where traffic is split: the seam between the rollout engine and nginx or
/// the embedded routing table.
pub trait ServingTarget {
    /// The target in words, for messages (`nginx at /etc/nginx/modelops`).
    fn describe(&self) -> String;
    /// The routing of every model this target serves, as it actually is
    /// (read back from what the target holds, never from memory).
    fn observe(&mut self) -> Result<BTreeMap<String, TrafficRecord>, ServingError>;
    /// Makes `route.model`'s routing what `route` says. Atomic: when it
    /// fails, the previous routing is in place.
    fn apply(&mut self, route: &Route) -> Result<(), ServingError>;
    /// Stops routing `model` on this target (no-op when it is not routed).
    /// Atomic like [`ServingTarget::apply`].
    fn remove(&mut self, model: &str) -> Result<(), ServingError>;
    /// Checks that `version` of `model` can take traffic, before all of it
    /// is sent there. `Ok(None)`: this target has no health check;
    /// `Ok(Some(what))`: what answered; [`ServingError::Unhealthy`] names
    /// the failing check.
    fn check_health(&self, _model: &str, _version: &str) -> Result<Option<String>, ServingError> {
        Ok(None)
    }
    /// Sends one `GET <path>` through the front door this target serves
    /// `model` on (its listen address, not an upstream) and returns the
    /// version that answered, read from the [`VERSION_HEADER`] response
    /// header. `Ok(None)`: this target has no front door to probe (the
    /// embedded table); an error names what failed (no answer, a non-2xx
    /// status, no version header).
    fn probe(&self, _model: &str, _path: &str) -> Result<Option<String>, ServingError> {
        Ok(None)
    }
}
