//! Why a drift report could not be made.

use std::path::PathBuf;

/// A drift report failed: every variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// The options are out of range (`bins` 0, `epsilon` not in (0, 1)).
    #[error("drift options: {0}")]
    Options(String),
    /// Neither `.csv` nor `.parquet`.
    #[error("{}: not a snapshot: the file name must end in .csv or .parquet", path.display())]
    Format { path: PathBuf },
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a regular file, or over the size cap.
    #[error("{}: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
    /// Malformed CSV (the message has the line).
    #[error("{}: {message}", path.display())]
    Csv { path: PathBuf, message: String },
    /// Malformed or unreadable Parquet (a codec not built in, a corrupt page).
    #[error("{}: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
    /// A column the options name is not in the file.
    #[error("{}: no column `{column}`", path.display())]
    MissingColumn { path: PathBuf, column: String },
    /// Two columns share a name.
    #[error("{}: two columns are named `{column}`", path.display())]
    DuplicateColumn { path: PathBuf, column: String },
    /// A column of a type drift does not compare (nested, INT96, fixed-length
    /// bytes) named in the options.
    #[error("{}: column `{column}` is {detail}, which drift does not compare", path.display())]
    UnsupportedColumn {
        path: PathBuf,
        column: String,
        detail: String,
    },
    /// A cell that is not a number in a column that is numeric in the
    /// reference. `row` counts data rows from 1.
    #[error(
        "{}: row {row}, column `{column}`: `{value}` is not a number, and the column is numeric in the reference (name it in `categorical` to compare it by category)",
        path.display()
    )]
    NotNumeric {
        path: PathBuf,
        column: String,
        row: u64,
        value: String,
    },
    /// A header and no rows: drift cannot be measured on it.
    #[error("{}: no rows, so drift cannot be measured", path.display())]
    NoRows { path: PathBuf },
}
