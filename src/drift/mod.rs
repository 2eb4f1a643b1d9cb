//! Drift statistics: PSI per feature and the KL divergence of predictions,
//! between a reference data set and a current window, read from CSV or
//! Parquet files in a few streaming passes. Pure apart from reading the two
//! files; `monitor` judges the figures against thresholds.
//!
//! # The formulas
//!
//! Both work on proportions (a bin's rows over the file's rows, nulls
//! included) after **smoothing**: a proportion of exactly 0 becomes
//! `epsilon` (1e-4 by default); nothing else changes and nothing is
//! renormalised, so a smoothed vector can sum to a little more than 1.
//!
//! - PSI = Σᵢ (aᵢ − eᵢ) · ln(aᵢ / eᵢ), `e` the reference (expected) and `a`
//!   the current (actual) proportions. Each term is ≥ 0, so PSI ≥ 0, and 0
//!   exactly when both histograms are equal.
//! - KL = D(current ‖ reference) = Σᵢ cᵢ · ln(cᵢ / rᵢ), in nats, on the
//!   prediction column: how surprising the current predictions are to a
//!   model of the reference ones.
//!
//! # The bins
//!
//! Every feature (and the prediction column) has a **null bin** in both
//! distributions, so a change in the share of nulls is drift. Nulls are
//! Parquet nulls, NaN, and CSV cells that are empty or read `NA`, `N/A`,
//! `NaN`, `null` or `None` in any case, after trimming ASCII whitespace
//! (Parquet strings are values, whatever they say). Blank lines in a CSV
//! file are skipped, as the `csv` crate and pandas do: in a one-column file
//! write a null as `NA` or `""`.
//!
//! - **Numeric** features: the edges are the reference's quantiles at
//!   1/bins, 2/bins … (bins−1)/bins (10 bins by default), numpy's default
//!   definition (`np.quantile(sample, q)`, linear interpolation between the
//!   order statistics at (n−1)·q, with numpy's rounding), NaN edges dropped,
//!   sorted and deduplicated: ties collapse bins. Bins are closed on the
//!   right and the outer ones open: (−∞, e₁], (e₁, e₂] … (eₘ, +∞); a value's
//!   bin is the number of edges below it (`np.searchsorted(edges, x,
//!   side="left")`).
//! - A reference whose sampled values are all one value `c` (and bins ≥ 2)
//!   gets the edges [c⁻, c] (c⁻ the next float below c), so bins below, at
//!   and above c: the reference fills one bin (PSI 0 against itself) and a
//!   current window that leaves c, either way, is drift. A note says so.
//! - An all-null reference has no edges: one bin for every value, beside the
//!   null bin (noted).
//! - **Categorical** features (text columns, booleans, and the columns named
//!   in [`DriftOptions::categorical`]): one bin per distinct value seen in
//!   either file, compared as text (a number's text is its shortest
//!   round-trip decimal form). A category absent from the reference has an
//!   expected share of 0, hence epsilon (noted).
//! - CSV columns are numeric when every non-null reference cell reads as an
//!   `f64`; a current cell that does not, in a numeric column, is an error
//!   (name the column in `categorical` to compare it as text).
//!
//! # Bounded memory
//!
//! Files are read in passes, never whole. The reference: (1) count rows (a
//! CSV pass; Parquet's footer has the count and the types), (2) a
//! systematic sample per numeric feature: rows 0, k, 2k … with k =
//! ceil(rows / 100,000) (`column[::k]` in numpy; nulls among them
//! dropped) gives the edges, (3) the reference binned; the current window is
//! binned in one pass, beside (3) on a second thread. A CSV column is typed
//! as it is read: text in a sampled row makes it categorical before (3);
//! text that only (3) meets has the column counted again, by category, in
//! both files. Memory is at most 100,000 sampled values per numeric
//! feature, the counts, and one entry per distinct category of categorical
//! features, whatever the file size.
//!
//! An empty file (a header and no rows) is an error
//! ([`DriftError::NoRows`]): drift over an empty window cannot be measured,
//! and smoothing would otherwise turn it into a large, meaningless PSI.
//!
//! `docs/drift.md` has the same rules with worked examples, the comparison
//! with Evidently, and the reasons for each choice.

mod binning;
mod csv_file;
mod error;
mod histogram;
mod kl;
mod parquet_file;
mod psi;
mod report;
mod snapshot;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use error::DriftError;
pub use kl::kl_divergence;
pub use psi::psi;
pub use report::drift_report;
pub use snapshot::SNAPSHOT_CAP;

/// Rows sampled per numeric feature, at most, to find the reference's
/// quantile edges.
pub const SAMPLE_ROWS: u64 = 100_000;

/// How to compare two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftOptions {
    /// Quantile bins per numeric feature (before ties collapse them); ≥ 1.
    pub bins: usize,
    /// The proportion that replaces an empty bin's 0; in (0, 1).
    pub epsilon: f64,
    /// The features to compare; `None`: every column both files have, in the
    /// reference's order, except [`Self::prediction_column`].
    pub features: Option<Vec<String>>,
    /// The column whose histograms give [`DriftReport::prediction_kl`].
    pub prediction_column: Option<String>,
    /// Columns compared by category even if they hold numbers (text columns
    /// always are). Each must exist in the reference.
    pub categorical: Vec<String>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            bins: 10,
            epsilon: 1e-4,
            features: None,
            prediction_column: None,
            categorical: Vec::new(),
        }
    }
}

/// How a feature is binned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// Quantile bins from the reference.
    Numeric,
    /// One bin per category.
    Categorical,
}

/// One feature's drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    /// The column name.
    pub feature: String,
    /// How it was binned.
    pub kind: FeatureKind,
    /// PSI of the current window against the reference; ≥ 0.
    pub psi: f64,
    /// Value bins compared (after ties collapsed them, or categories in
    /// either file); the null bin comes on top.
    pub bins: usize,
    /// Rows in the reference file.
    pub reference_rows: u64,
    /// Rows in the current file.
    pub current_rows: u64,
    /// Nulls in this column of the reference.
    pub reference_nulls: u64,
    /// Nulls in this column of the current window.
    pub current_nulls: u64,
    /// Anything that changes how to read the figure (`constant in the
    /// reference…`, `all null in the reference`, `2 categories absent from
    /// the reference`), joined by `; `.
    pub note: Option<String>,
}

/// The drift between a reference and a current window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// One entry per compared feature, in [`DriftOptions::features`]' order
    /// (or the reference's column order).
    pub features: Vec<FeatureDrift>,
    /// D(current ‖ reference) of the prediction column's histograms, when
    /// [`DriftOptions::prediction_column`] names one.
    pub prediction_kl: Option<f64>,
    /// Rows in the reference file.
    pub reference_rows: u64,
    /// Rows in the current file.
    pub current_rows: u64,
}
