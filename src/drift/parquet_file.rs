//! Parquet snapshots, read with the `parquet` crate's column readers (no
//! Arrow): one column chunk at a time, in batches of levels and values, so
//! memory follows a page, not the file.

use std::fs::File;
use std::path::Path;

use parquet::basic::Type as PhysicalType;
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::DataType;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::SchemaDescPtr;

use super::error::DriftError;
use super::snapshot::{Cell, ColumnType, Survey, number};

/// Records asked of a column reader at a time.
const BATCH: usize = 8192;

/// What the footer says: rows and schema.
#[derive(Debug)]
pub(crate) struct Footer {
    pub rows: u64,
    schema: SchemaDescPtr,
}

impl Footer {
    pub fn read(path: &Path) -> Result<Footer, DriftError> {
        let reader = open(path)?;
        let metadata = reader.metadata().file_metadata();
        Ok(Footer {
            rows: u64::try_from(metadata.num_rows()).unwrap_or(0),
            schema: metadata.schema_descr_ptr(),
        })
    }

    /// Leaf column names (dotted paths for nested fields), in file order.
    pub fn columns(&self) -> Vec<String> {
        self.schema
            .columns()
            .iter()
            .map(|c| c.path().string())
            .collect()
    }

    /// Rows and types from the footer alone.
    pub fn survey(&self, columns: &[usize]) -> Survey {
        let types = columns.iter().map(|&c| self.column_type(c)).collect();
        Survey {
            rows: self.rows,
            types,
        }
    }

    fn column_type(&self, column: usize) -> ColumnType {
        let descr = self.schema.column(column);
        if descr.max_rep_level() > 0 || descr.path().parts().len() > 1 {
            return ColumnType::Unsupported("a nested field".into());
        }
        match descr.physical_type() {
            PhysicalType::INT32
            | PhysicalType::INT64
            | PhysicalType::FLOAT
            | PhysicalType::DOUBLE => ColumnType::Number,
            PhysicalType::BOOLEAN | PhysicalType::BYTE_ARRAY => ColumnType::Text,
            PhysicalType::INT96 => ColumnType::Unsupported("INT96 (a legacy timestamp)".into()),
            PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                ColumnType::Unsupported("fixed-length bytes (a decimal or UUID)".into())
            }
        }
    }

    /// See [`Snapshot::scan`](super::snapshot::Snapshot::scan): row group by
    /// row group, each column's chunk in turn.
    pub fn scan(
        &self,
        path: &Path,
        columns: &[usize],
        mut visit: impl FnMut(usize, u64, Cell<'_>) -> Result<(), DriftError>,
    ) -> Result<u64, DriftError> {
        let reader = open(path)?;
        let failed = |e: parquet::errors::ParquetError| parquet_error(path, e);
        let mut first_row = 0u64;
        let progress = crate::progress::Progress::new(
            "reading the data set",
            reader.num_row_groups() as u64,
            "row groups",
        );
        for group in 0..reader.num_row_groups() {
            progress.set(group as u64);
            let group = reader.get_row_group(group).map_err(failed)?;
            for (slot, &column) in columns.iter().enumerate() {
                let mut visit = |row, cell: Cell<'_>| visit(slot, row, cell);
                let max_def = self.schema.column(column).max_def_level();
                let mut chunk = Chunk {
                    max_def,
                    first_row,
                    path,
                };
                match group.get_column_reader(column).map_err(failed)? {
                    ColumnReader::BoolColumnReader(r) => chunk.read(r, &mut visit, |v| {
                        Cell::Text(if *v { b"true" } else { b"false" })
                    }),
                    ColumnReader::Int32ColumnReader(r) => {
                        chunk.read(r, &mut visit, |v| Cell::Number(f64::from(*v)))
                    }
                    ColumnReader::Int64ColumnReader(r) => {
                        chunk.read(r, &mut visit, |v| Cell::Number(*v as f64))
                    }
                    ColumnReader::FloatColumnReader(r) => {
                        chunk.read(r, &mut visit, |v| number(f64::from(*v)))
                    }
                    ColumnReader::DoubleColumnReader(r) => {
                        chunk.read(r, &mut visit, |v| number(*v))
                    }
                    ColumnReader::ByteArrayColumnReader(r) => {
                        chunk.read(r, &mut visit, |v| Cell::Text(v.data()))
                    }
                    ColumnReader::Int96ColumnReader(_)
                    | ColumnReader::FixedLenByteArrayColumnReader(_) => {
                        // Refused when the columns were chosen.
                        unreachable!("unsupported Parquet column {column} scanned")
                    }
                }?;
            }
            first_row += u64::try_from(group.metadata().num_rows()).unwrap_or(0);
        }
        Ok(first_row)
    }
}

/// One column chunk being read.
struct Chunk<'p> {
    max_def: i16,
    first_row: u64,
    path: &'p Path,
}

impl Chunk<'_> {
    /// Reads the chunk to its end: a value where the definition level is the
    /// column's maximum, a null elsewhere (flat columns only: no
    /// repetition).
    fn read<T: DataType>(
        &mut self,
        mut reader: ColumnReaderImpl<T>,
        visit: &mut impl FnMut(u64, Cell<'_>) -> Result<(), DriftError>,
        cell: impl Fn(&T::T) -> Cell<'_>,
    ) -> Result<(), DriftError> {
        let mut values = Vec::with_capacity(BATCH);
        let mut levels = Vec::with_capacity(BATCH);
        let mut row = self.first_row;
        loop {
            values.clear();
            levels.clear();
            let (records, _, _) = reader
                .read_records(BATCH, Some(&mut levels), None, &mut values)
                .map_err(|e| parquet_error(self.path, e))?;
            if records == 0 {
                return Ok(());
            }
            if self.max_def == 0 {
                for value in &values {
                    visit(row, cell(value))?;
                    row += 1;
                }
            } else {
                let mut next = values.iter();
                for &level in &levels {
                    let this = if level < self.max_def {
                        Cell::Null
                    } else if let Some(value) = next.next() {
                        cell(value)
                    } else {
                        return Err(DriftError::Parquet {
                            path: self.path.to_path_buf(),
                            message: format!("row {}: a value is missing", row + 1),
                        });
                    };
                    visit(row, this)?;
                    row += 1;
                }
            }
        }
    }
}

fn open(path: &Path) -> Result<SerializedFileReader<File>, DriftError> {
    let file = super::snapshot::open_file(path)?;
    let reader = SerializedFileReader::new(file).map_err(|e| parquet_error(path, e))?;
    // The footer's sizes say what reading a column chunk allocates; a file
    // that claims more than it could hold is refused before any is read.
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let declared = column.uncompressed_size().max(column.compressed_size());
            if u64::try_from(declared).map_or(true, |d| d > MAX_CHUNK_BYTES) {
                return Err(DriftError::Parquet {
                    path: path.to_path_buf(),
                    message: format!(
                        "column chunk `{}` declares {declared} bytes; column chunks are limited to {} MiB",
                        column.column_path().string(),
                        MAX_CHUNK_BYTES / (1024 * 1024)
                    ),
                });
            }
        }
    }
    Ok(reader)
}

/// The largest column chunk read, compressed or not (1 GiB).
const MAX_CHUNK_BYTES: u64 = 1024 * 1024 * 1024;

fn parquet_error(path: &Path, error: parquet::errors::ParquetError) -> DriftError {
    let mut message = error.to_string();
    if message.contains("Disabled feature") {
        // The parquet crate names its cargo feature (`flate2`, `brotli`).
        message.push_str(" (a compression codec this modelops was built without: it reads uncompressed, snappy and zstd Parquet)");
    }
    DriftError::Parquet {
        path: path.to_path_buf(),
        message,
    }
}
