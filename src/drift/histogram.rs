//! Counting a column into bins, and lining up a reference histogram with a
//! current one as two proportion vectors over the same bins.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::binning::Binning;
use super::snapshot::{Cell, parse_number};

/// One column's counts in one file. The null bin is `nulls`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Histogram {
    Numeric {
        binning: Binning,
        counts: Vec<u64>,
        nulls: u64,
    },
    Categorical {
        counts: HashMap<Vec<u8>, u64>,
        nulls: u64,
        /// Reused to spell a number as a category.
        scratch: String,
    },
}

/// A text cell in a numeric column that does not read as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotNumeric;

impl Histogram {
    /// Empty numeric counts over `binning`'s bins.
    pub fn numeric(binning: Binning) -> Histogram {
        let counts = vec![0; binning.bins()];
        Histogram::Numeric {
            binning,
            counts,
            nulls: 0,
        }
    }

    /// Empty category counts.
    pub fn categorical() -> Histogram {
        Histogram::Categorical {
            counts: HashMap::new(),
            nulls: 0,
            scratch: String::new(),
        }
    }

    /// Counts one cell.
    pub fn add(&mut self, cell: Cell<'_>) -> Result<(), NotNumeric> {
        match self {
            Histogram::Numeric {
                binning,
                counts,
                nulls,
            } => {
                let value = match cell {
                    Cell::Null => None,
                    Cell::Number(value) => Some(value),
                    Cell::Text(text) => Some(parse_number(text).ok_or(NotNumeric)?),
                };
                match value {
                    Some(value) if !value.is_nan() => counts[binning.bin(value)] += 1,
                    _ => *nulls += 1,
                }
            }
            Histogram::Categorical {
                counts,
                nulls,
                scratch,
            } => {
                let key = match cell {
                    Cell::Null => {
                        *nulls += 1;
                        return Ok(());
                    }
                    Cell::Text(text) => text,
                    Cell::Number(value) => {
                        scratch.clear();
                        let _ = write!(scratch, "{value}");
                        scratch.as_bytes()
                    }
                };
                match counts.get_mut(key) {
                    Some(count) => *count += 1,
                    None => {
                        counts.insert(key.to_vec(), 1);
                    }
                }
            }
        }
        Ok(())
    }

    /// Nulls counted.
    pub fn nulls(&self) -> u64 {
        match self {
            Histogram::Numeric { nulls, .. } | Histogram::Categorical { nulls, .. } => *nulls,
        }
    }
}

/// A reference and a current histogram over the same bins, as proportions
/// of their files' rows; the null bin last.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Aligned {
    pub expected: Vec<f64>,
    pub actual: Vec<f64>,
    /// Value bins (without the null bin).
    pub bins: usize,
    /// Categories in the current window only.
    pub absent_from_reference: usize,
}

/// Lines up `reference` (of `reference_rows` rows) with `current`: numeric
/// bins in order; categories sorted by their bytes.
///
/// # Panics
///
/// If the two are not the same kind over the same binning, or a file has
/// no rows (callers refuse empty files first).
pub(crate) fn align(
    reference: &Histogram,
    reference_rows: u64,
    current: &Histogram,
    current_rows: u64,
) -> Aligned {
    assert!(
        reference_rows > 0 && current_rows > 0,
        "align: an empty file"
    );
    let share = |count: u64, rows: u64| count as f64 / rows as f64;
    let (mut expected, mut actual, absent): (Vec<f64>, Vec<f64>, usize) = match (reference, current)
    {
        (
            Histogram::Numeric {
                binning, counts: e, ..
            },
            Histogram::Numeric {
                binning: other,
                counts: a,
                ..
            },
        ) => {
            assert_eq!(binning, other, "align: different bins");
            (
                e.iter().map(|&c| share(c, reference_rows)).collect(),
                a.iter().map(|&c| share(c, current_rows)).collect(),
                0,
            )
        }
        (Histogram::Categorical { counts: e, .. }, Histogram::Categorical { counts: a, .. }) => {
            let mut categories: Vec<&[u8]> = e.keys().chain(a.keys()).map(Vec::as_slice).collect();
            categories.sort_unstable();
            categories.dedup();
            let count =
                |counts: &HashMap<Vec<u8>, u64>, key: &[u8]| counts.get(key).copied().unwrap_or(0);
            (
                categories
                    .iter()
                    .map(|k| share(count(e, k), reference_rows))
                    .collect(),
                categories
                    .iter()
                    .map(|k| share(count(a, k), current_rows))
                    .collect(),
                a.keys().filter(|k| !e.contains_key(*k)).count(),
            )
        }
        _ => panic!("align: a numeric and a categorical histogram"),
    };
    let bins = expected.len();
    expected.push(share(reference.nulls(), reference_rows));
    actual.push(share(current.nulls(), current_rows));
    Aligned {
        expected,
        actual,
        bins,
        absent_from_reference: absent,
    }
}
