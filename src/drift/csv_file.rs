//! CSV snapshots: a header row, then one row per record, read with the
//! `csv` crate record by record (one reused buffer, never the whole file).

use std::path::Path;

use super::error::DriftError;
use super::snapshot::{Cell, ColumnType, Survey};

/// Cells that mean "no value", compared after trimming ASCII whitespace
/// and ignoring ASCII case (the empty cell is one too).
pub(crate) const NULL_TOKENS: [&str; 5] = ["na", "n/a", "nan", "null", "none"];

/// The header's column names, and whether any row follows.
pub(crate) struct Header {
    pub columns: Vec<String>,
    pub empty: bool,
}

pub(crate) fn header(path: &Path) -> Result<Header, DriftError> {
    let mut reader = open(path)?;
    let columns = reader
        .byte_headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(|name| String::from_utf8_lossy(name.trim_ascii()).into_owned())
        .collect();
    let mut record = csv::ByteRecord::new();
    let empty = !reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?;
    Ok(Header { columns, empty })
}

/// Counts rows. Every column is taken for numeric: a cell that is not a
/// number, met when the rows are sampled or counted, says otherwise.
pub(crate) fn survey(path: &Path, columns: &[usize]) -> Result<Survey, DriftError> {
    let rows = scan(path, &[], |_, _, _| Ok(()))?;
    Ok(Survey {
        rows,
        types: vec![ColumnType::Number; columns.len()],
    })
}

/// See [`Snapshot::scan`](super::snapshot::Snapshot::scan): row by row.
pub(crate) fn scan(
    path: &Path,
    columns: &[usize],
    mut visit: impl FnMut(usize, u64, Cell<'_>) -> Result<(), DriftError>,
) -> Result<u64, DriftError> {
    let mut reader = open(path)?;
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let progress = crate::progress::Progress::new("reading the data set", size, "bytes");
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        if row.is_multiple_of(65_536) {
            progress.set(reader.position().byte());
        }
        for (slot, &column) in columns.iter().enumerate() {
            // The csv reader checks every record has the header's width.
            visit(slot, row, cell(&record[column]))?;
        }
        row += 1;
    }
    Ok(row)
}

/// A CSV field as a cell: trimmed, null tokens null, the rest text.
pub(crate) fn cell(field: &[u8]) -> Cell<'_> {
    let text = field.trim_ascii();
    if text.is_empty()
        || NULL_TOKENS
            .iter()
            .any(|token| text.eq_ignore_ascii_case(token.as_bytes()))
    {
        Cell::Null
    } else {
        Cell::Text(text)
    }
}

/// The longest CSV record read, in bytes (1 MiB): the `csv` crate holds a
/// whole record in memory, so a file without line ends would otherwise be
/// read into memory whole.
pub(crate) const MAX_RECORD_BYTES: u64 = 1024 * 1024;

fn open(path: &Path) -> Result<csv::Reader<RecordCap<std::fs::File>>, DriftError> {
    let file = super::snapshot::open_file(path)?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 16)
        .from_reader(RecordCap {
            inner: file,
            quoted: false,
            run: 0,
        }))
}

/// A reader that fails once a record (a run of bytes without a line end
/// outside quotes) exceeds [`MAX_RECORD_BYTES`], so the `csv` reader's
/// record buffer stays bounded whatever the file holds.
pub(crate) struct RecordCap<R> {
    inner: R,
    /// Inside a quoted field (a doubled quote toggles twice).
    quoted: bool,
    /// Bytes since the last line end outside quotes.
    run: u64,
}

impl<R: std::io::Read> std::io::Read for RecordCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                b'"' => self.quoted = !self.quoted,
                b'\n' | b'\r' if !self.quoted => {
                    self.run = 0;
                    continue;
                }
                _ => {}
            }
            self.run += 1;
        }
        if self.run > MAX_RECORD_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a record longer than {} MiB (no line end); CSV records are limited to that",
                    MAX_RECORD_BYTES / (1024 * 1024)
                ),
            ));
        }
        Ok(n)
    }
}

/// A read or parse failure; the message has the line (and the I/O error).
fn csv_error(path: &Path, error: csv::Error) -> DriftError {
    DriftError::Csv {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}
