//! Helpers shared by the end-to-end suites, which start real servers or
//! stand in for them:
//!
//! - [`servers`] — real servers on loopback: Prometheus backfilled with a
//!   test's series, a private nginx (with [`Edge`](servers::Edge), nginx in
//!   front of a model server per version), the MLflow tracking server the
//!   suite runs against, and free ports. Each is skipped when it is not
//!   installed, except with `MODELOPS_E2E=1`, where that is a failure.
//! - [`models`] — real model servers: tiny scikit-learn versions registered
//!   in the suite's MLflow and served by `mlflow models serve`, and the
//!   bounded load generator (`scripts/live.sh`).
//! - [`series`] — OpenMetrics written from counters and gauges, in the
//!   format `promtool tsdb create-blocks-from openmetrics` backfills.
//! - [`http`] — small HTTP/1.1 servers inside the test: fakes that record
//!   what they are sent and answer as a test decides (failure injection,
//!   timing), and the model servers nginx routes to.

#[path = "e2e/http.rs"]
pub(crate) mod http;
#[path = "e2e/models.rs"]
pub(crate) mod models;
#[path = "e2e/series.rs"]
pub(crate) mod series;
#[path = "e2e/servers.rs"]
pub(crate) mod servers;

/// The model the end-to-end suites serve and measure.
pub(crate) const MODEL: &str = "fraud-detector";

/// Whether this is an end-to-end run (`MODELOPS_E2E=1`), where a server
/// that is not installed or not running fails the test instead of skipping
/// it.
pub(crate) fn required() -> bool {
    std::env::var("MODELOPS_E2E").as_deref() == Ok("1")
}

/// The example repository with only the fraud detector: the churn and
/// recommendation models and deployments removed (nothing committed yet).
pub(crate) fn fraud_detector_only() -> crate::common::Repo {
    let repo = crate::common::Repo::example();
    for model in ["churn-predictor", "recommendation-ranker"] {
        repo.remove(&format!("models/{model}.yaml"))
            .remove(&format!("deployments/{model}.yaml"));
    }
    repo
}

/// The fraud detector's deployment: served directly (promotion is
/// immediate) by the `edge` target.
pub(crate) const DIRECT_ON_EDGE: &str = "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: fraud-detector}\nspec:\n  model: fraud-detector\n  target: edge\n  direct: {}\n";
