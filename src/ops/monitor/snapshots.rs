//! Reading a deployment's data snapshots, inside the repository, for the
//! drift figures [`crate::reconcile::monitor::judge`] judges.

use crate::ops::Context;
use crate::reconcile::monitor::SnapshotDrift;
use crate::source::confined;

/// What deployment `file`'s data snapshots `s` measure: the prediction KL
/// divergence (when a prediction column is named) and each feature's PSI.
pub(super) fn snapshot_drift(
    ctx: &Context,
    file: &str,
    s: &crate::manifest::deployment::DataSnapshots,
) -> Result<SnapshotDrift, String> {
    // Inside the repository, as every file a manifest names.
    let resolve = |field: &str, rel: &str| {
        confined::resolve(&ctx.repo, rel)
            .and_then(|real| {
                confined::open_regular(&real, crate::drift::SNAPSHOT_CAP)?;
                Ok(real)
            })
            .map_err(|why| format!("{file}: monitoring.data.{field} `{rel}`: {why}"))
    };
    let report = crate::drift::drift_report(
        &resolve("reference", &s.reference)?,
        &resolve("current", &s.current)?,
        &crate::drift::DriftOptions {
            features: s.features.clone(),
            prediction_column: s.prediction_column.clone(),
            categorical: s.categorical.clone(),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let features = report
        .features
        .into_iter()
        .map(|f| (f.feature, f.psi))
        .collect();
    Ok((report.prediction_kl, features))
}
