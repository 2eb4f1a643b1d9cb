//! A data snapshot on disk, CSV or Parquet by its extension, read as a
//! stream of cells per column: the only part of drift that does I/O.

use crate::source::confined::{self, Cap};
use std::path::{Path, PathBuf};

use super::error::DriftError;
use super::{csv_file, parquet_file};

/// One value as the histograms see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// Missing: a Parquet null, NaN, or a CSV null token.
    Null,
    /// A Parquet number (never NaN).
    Number(f64),
    /// A CSV cell (trimmed), a Parquet string or boolean (`true`/`false`).
    Text(&'a [u8]),
}

/// What a column holds, as far as binning is concerned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColumnType {
    /// Numbers (CSV: every non-null cell reads as one).
    Number,
    /// Anything else that compares by value.
    Text,
    /// Not comparable, with why (`a nested field`).
    Unsupported(String),
}

/// What the first pass learns: rows, and each asked column's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Survey {
    pub rows: u64,
    pub types: Vec<ColumnType>,
}

/// An opened snapshot: its columns are known; rows are read by passes.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub path: PathBuf,
    /// Column names, in file order.
    pub columns: Vec<String>,
    /// True when there is not a single data row.
    pub empty: bool,
    format: Format,
}

#[derive(Debug)]
enum Format {
    Csv,
    Parquet(parquet_file::Footer),
}

impl Snapshot {
    /// Opens `path` and reads its header (CSV) or footer (Parquet).
    pub fn open(path: &Path) -> Result<Snapshot, DriftError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let (columns, empty, format) = match extension.as_deref() {
            Some("csv") => {
                let header = csv_file::header(path)?;
                (header.columns, header.empty, Format::Csv)
            }
            Some("parquet") => {
                let footer = parquet_file::Footer::read(path)?;
                (footer.columns(), footer.rows == 0, Format::Parquet(footer))
            }
            _ => {
                return Err(DriftError::Format {
                    path: path.to_path_buf(),
                });
            }
        };
        if let Some(column) = duplicate(&columns) {
            return Err(DriftError::DuplicateColumn {
                path: path.to_path_buf(),
                column: column.to_string(),
            });
        }
        Ok(Snapshot {
            path: path.to_path_buf(),
            columns,
            empty,
            format,
        })
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Rows, and the type of each of `columns` (a pass over a CSV file; the
    /// footer of a Parquet one).
    pub fn survey(&self, columns: &[usize]) -> Result<Survey, DriftError> {
        match &self.format {
            Format::Csv => csv_file::survey(&self.path, columns),
            Format::Parquet(footer) => Ok(footer.survey(columns)),
        }
    }

    /// False for a column the footer types as something drift does not
    /// compare (Parquet: nested, INT96, fixed-length bytes).
    pub fn comparable(&self, column: usize) -> bool {
        match &self.format {
            Format::Csv => true,
            Format::Parquet(footer) => !matches!(
                footer.survey(&[column]).types[..],
                [ColumnType::Unsupported(_)]
            ),
        }
    }

    /// Calls `visit(slot, row, cell)` for every row (from 0) of each
    /// `columns[slot]`, in row order within a column (CSV goes row by row,
    /// Parquet column chunk by column chunk). Returns the number of rows.
    pub fn scan(
        &self,
        columns: &[usize],
        visit: impl FnMut(usize, u64, Cell<'_>) -> Result<(), DriftError>,
    ) -> Result<u64, DriftError> {
        match &self.format {
            Format::Csv => csv_file::scan(&self.path, columns, visit),
            Format::Parquet(footer) => footer.scan(&self.path, columns, visit),
        }
    }
}

fn duplicate(columns: &[String]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    columns
        .iter()
        .find(|c| !seen.insert(c.as_str()))
        .map(String::as_str)
}

/// A number from text as Rust's `f64::from_str` reads it (`nan` too: the
/// caller makes NaN null).
pub(crate) fn parse_number(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A number as a cell: NaN is null.
pub(crate) fn number(value: f64) -> Cell<'static> {
    if value.is_nan() {
        Cell::Null
    } else {
        Cell::Number(value)
    }
}

/// The largest snapshot read (16 GiB): drift streams a file in passes, so
/// this bounds the time a run takes, not its memory.
pub const SNAPSHOT_CAP: Cap = Cap {
    bytes: 16 * 1024 * 1024 * 1024,
    kind: "data snapshots",
};

/// Opens a snapshot under the rule for every file a manifest names: a
/// regular file (a FIFO or device is refused before it is opened, so
/// nothing blocks) within [`SNAPSHOT_CAP`].
pub(crate) fn open_file(path: &Path) -> Result<std::fs::File, DriftError> {
    confined::open_regular(path, SNAPSHOT_CAP)
        .map(|(file, _)| file)
        .map_err(|reason| DriftError::Refused {
            path: path.to_path_buf(),
            reason,
        })
}
