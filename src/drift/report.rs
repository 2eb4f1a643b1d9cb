//! The drift report: which columns to compare, the passes over both files,
//! and the figures with their notes.

use std::path::Path;

use super::binning::Binning;
use super::error::DriftError;
use super::histogram::{Histogram, NotNumeric, align};
use super::snapshot::{Cell, ColumnType, Snapshot, parse_number};
use super::{
    DriftOptions, DriftReport, FeatureDrift, FeatureKind, SAMPLE_ROWS, kl_divergence, psi,
};

/// A column compared: a feature, or the prediction column (last).
#[derive(Debug, Clone)]
struct Column {
    name: String,
    reference: usize,
    current: usize,
    kind: FeatureKind,
}

/// Compares `current` with `reference` (each a `.csv` or `.parquet` file):
/// PSI per feature and, with a prediction column, the KL divergence of its
/// histograms, by the rules of the [module doc](super).
///
/// Reads the reference three times (twice for Parquet, whose footer counts
/// the rows) and the current window once, beside the reference's last pass;
/// a CSV column found to hold text only in that last pass is counted again
/// as categorical in both files.
pub fn drift_report(
    reference: &Path,
    current: &Path,
    opts: &DriftOptions,
) -> Result<DriftReport, DriftError> {
    check(opts)?;
    let reference = Snapshot::open(reference)?;
    let current = Snapshot::open(current)?;
    for snapshot in [&reference, &current] {
        if snapshot.empty {
            return Err(DriftError::NoRows {
                path: snapshot.path.clone(),
            });
        }
    }
    let mut columns = choose(&reference, &current, opts)?;
    // Pass 1: rows; Parquet's footer also types the columns.
    let rows = survey(&reference, &mut columns)?;
    // Pass 2: every k-th row of each numeric column, for the edges.
    let blank = sample(&reference, &mut columns, rows, opts.bins)?;
    // Pass 3, and the current window beside it.
    let (reference_pass, current_pass) = count_both(&reference, &current, &columns, blank)?;
    let (reference_pass, current_pass) = settle_types(
        (&reference, &current),
        &mut columns,
        reference_pass,
        current_pass,
    )?;
    // Refused at open already, unless a file changed under us.
    for (snapshot, pass) in [(&reference, &reference_pass), (&current, &current_pass)] {
        if pass.rows == 0 {
            return Err(DriftError::NoRows {
                path: snapshot.path.clone(),
            });
        }
    }
    Ok(figures(&columns, &reference_pass, &current_pass, opts))
}

/// Counts the reference's rows and types its columns where the format says
/// (Parquet); CSV columns stay numeric until a cell says otherwise.
fn survey(reference: &Snapshot, columns: &mut [Column]) -> Result<u64, DriftError> {
    let indexes: Vec<usize> = columns.iter().map(|c| c.reference).collect();
    let survey = reference.survey(&indexes)?;
    for (column, kind) in columns.iter_mut().zip(survey.types) {
        match kind {
            ColumnType::Number => {}
            ColumnType::Text => column.kind = FeatureKind::Categorical,
            ColumnType::Unsupported(detail) => {
                return Err(DriftError::UnsupportedColumn {
                    path: reference.path.clone(),
                    column: column.name.clone(),
                    detail,
                });
            }
        }
    }
    if survey.rows == 0 {
        return Err(DriftError::NoRows {
            path: reference.path.clone(),
        });
    }
    Ok(survey.rows)
}

/// After pass 3: a reference column with text that the sample missed is
/// categorical, and is counted again so in both files; text in the current
/// window where the reference is numeric is an error.
fn settle_types(
    (reference, current): (&Snapshot, &Snapshot),
    columns: &mut [Column],
    mut reference_pass: Counted,
    mut current_pass: Counted,
) -> Result<(Counted, Counted), DriftError> {
    let demoted: Vec<usize> = (0..columns.len())
        .filter(|&i| reference_pass.non_numbers[i].is_some())
        .collect();
    let stray = current_pass
        .non_numbers
        .iter()
        .enumerate()
        .find_map(|(i, n)| {
            n.as_ref()
                .filter(|_| !demoted.contains(&i))
                .map(|(row, text)| (i, *row, text))
        });
    if let Some((i, row, text)) = stray {
        return Err(not_numeric(current, &columns[i].name, row, text));
    }
    if demoted.is_empty() {
        return Ok((reference_pass, current_pass));
    }
    for &i in &demoted {
        columns[i].kind = FeatureKind::Categorical;
    }
    let again: Vec<Column> = demoted.iter().map(|&i| columns[i].clone()).collect();
    let blank = vec![Histogram::categorical(); again.len()];
    let (r, c) = count_both(reference, current, &again, blank)?;
    for ((&i, r), c) in demoted.iter().zip(r.histograms).zip(c.histograms) {
        reference_pass.histograms[i] = r;
        current_pass.histograms[i] = c;
    }
    Ok((reference_pass, current_pass))
}

/// PSI per feature and the prediction column's KL (the last column when
/// there is one).
fn figures(
    columns: &[Column],
    reference: &Counted,
    current: &Counted,
    opts: &DriftOptions,
) -> DriftReport {
    let (reference_rows, current_rows) = (reference.rows, current.rows);
    let mut report = DriftReport {
        features: Vec::new(),
        prediction_kl: None,
        reference_rows,
        current_rows,
    };
    let prediction = opts.prediction_column.as_ref().map(|_| columns.len() - 1);
    for (i, column) in columns.iter().enumerate() {
        let (e, a) = (&reference.histograms[i], &current.histograms[i]);
        let aligned = align(e, reference_rows, a, current_rows);
        if Some(i) == prediction {
            let kl = kl_divergence(&aligned.actual, &aligned.expected, opts.epsilon);
            report.prediction_kl = Some(kl);
            continue;
        }
        let notes = notes(
            e,
            a,
            (reference_rows, current_rows),
            aligned.absent_from_reference,
            opts.bins,
        );
        report.features.push(FeatureDrift {
            feature: column.name.clone(),
            kind: column.kind,
            psi: psi(&aligned.expected, &aligned.actual, opts.epsilon),
            bins: aligned.bins,
            reference_rows,
            current_rows,
            reference_nulls: e.nulls(),
            current_nulls: a.nulls(),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        });
    }
    report
}

fn check(opts: &DriftOptions) -> Result<(), DriftError> {
    if opts.bins == 0 {
        return Err(DriftError::Options("bins must be at least 1".into()));
    }
    if !(opts.epsilon > 0.0 && opts.epsilon < 1.0) {
        return Err(DriftError::Options(format!(
            "epsilon must be between 0 and 1 (exclusive), not {}",
            opts.epsilon
        )));
    }
    Ok(())
}

/// The features to compare, then the prediction column, each found in both
/// files; kinds are numeric until the types say otherwise.
fn choose(
    reference: &Snapshot,
    current: &Snapshot,
    opts: &DriftOptions,
) -> Result<Vec<Column>, DriftError> {
    let find = |snapshot: &Snapshot, name: &str| {
        snapshot
            .column(name)
            .ok_or_else(|| DriftError::MissingColumn {
                path: snapshot.path.clone(),
                column: name.to_string(),
            })
    };
    for name in &opts.categorical {
        find(reference, name)?;
    }
    let names: Vec<&str> = match &opts.features {
        Some(features) => features.iter().map(String::as_str).collect(),
        None => reference
            .columns
            .iter()
            .map(String::as_str)
            .filter(|name| current.column(name).is_some())
            .filter(|name| Some(*name) != opts.prediction_column.as_deref())
            .filter(|name| {
                // Implicitly chosen columns of a type drift cannot compare
                // are left out rather than failing the whole report.
                reference
                    .column(name)
                    .is_some_and(|i| reference.comparable(i))
            })
            .collect(),
    };
    names
        .into_iter()
        .chain(opts.prediction_column.as_deref())
        .map(|name| {
            let forced = opts.categorical.iter().any(|c| c == name);
            Ok(Column {
                name: name.to_string(),
                reference: find(reference, name)?,
                current: find(current, name)?,
                kind: if forced {
                    FeatureKind::Categorical
                } else {
                    FeatureKind::Numeric
                },
            })
        })
        .collect()
}

/// Empty histograms for every column: numeric ones binned by the edges of
/// a systematic sample (rows 0, k, 2k … with k = ceil(rows / SAMPLE_ROWS))
/// of the reference. A sampled cell that is not a number makes its column
/// categorical.
fn sample(
    reference: &Snapshot,
    columns: &mut [Column],
    rows: u64,
    bins: usize,
) -> Result<Vec<Histogram>, DriftError> {
    let step = rows.div_ceil(SAMPLE_ROWS);
    let numeric: Vec<usize> = (0..columns.len())
        .filter(|&i| columns[i].kind == FeatureKind::Numeric)
        .collect();
    let indexes: Vec<usize> = numeric.iter().map(|&i| columns[i].reference).collect();
    let capacity = usize::try_from(rows.div_ceil(step)).unwrap_or(0);
    let mut samples = vec![Vec::with_capacity(capacity); numeric.len()];
    let mut text = vec![false; numeric.len()];
    reference.scan(&indexes, |slot, row, cell| {
        if row % step != 0 || text[slot] {
            return Ok(());
        }
        let value = match cell {
            Cell::Null => return Ok(()),
            Cell::Number(value) => value,
            Cell::Text(t) => match parse_number(t) {
                Some(value) => value,
                None => {
                    text[slot] = true;
                    return Ok(());
                }
            },
        };
        if !value.is_nan() {
            samples[slot].push(value);
        }
        Ok(())
    })?;
    let mut sampled: Vec<Option<Vec<f64>>> = vec![None; columns.len()];
    for ((&i, sample), text) in numeric.iter().zip(samples).zip(text) {
        if text {
            columns[i].kind = FeatureKind::Categorical;
        } else {
            sampled[i] = Some(sample);
        }
    }
    Ok(sampled
        .into_iter()
        .map(|sample| match sample {
            Some(sample) => Histogram::numeric(Binning::from_sample(sample, bins)),
            None => Histogram::categorical(),
        })
        .collect())
}

/// One file's counts: its rows, a histogram per column, and per numeric
/// column the first cell (row from 0, text) that was not a number.
struct Counted {
    rows: u64,
    histograms: Vec<Histogram>,
    non_numbers: Vec<Option<(u64, Vec<u8>)>>,
}

/// Counts the reference and the current window into copies of `blank`, on
/// two threads.
fn count_both(
    reference: &Snapshot,
    current: &Snapshot,
    columns: &[Column],
    blank: Vec<Histogram>,
) -> Result<(Counted, Counted), DriftError> {
    let (reference_pass, current_pass) = std::thread::scope(|scope| {
        let copy = blank.clone();
        let current_pass = scope.spawn(move || count(current, columns, copy, false));
        let reference_pass = count(reference, columns, blank, true);
        let current_pass = current_pass
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (reference_pass, current_pass)
    });
    Ok((reference_pass?, current_pass?))
}

/// Counts every row of `snapshot` into `histograms` (one per column).
fn count(
    snapshot: &Snapshot,
    columns: &[Column],
    mut histograms: Vec<Histogram>,
    reference: bool,
) -> Result<Counted, DriftError> {
    let indexes: Vec<usize> = columns
        .iter()
        .map(|c| if reference { c.reference } else { c.current })
        .collect();
    let mut non_numbers = vec![None; columns.len()];
    let rows = snapshot.scan(&indexes, |slot, row, cell| {
        if let (Err(NotNumeric), Cell::Text(text)) = (histograms[slot].add(cell), cell)
            && non_numbers[slot].is_none()
        {
            non_numbers[slot] = Some((row, text.to_vec()));
        }
        Ok(())
    })?;
    Ok(Counted {
        rows,
        histograms,
        non_numbers,
    })
}

fn not_numeric(snapshot: &Snapshot, column: &str, row: u64, text: &[u8]) -> DriftError {
    let mut value = String::from_utf8_lossy(text).into_owned();
    if value.chars().count() > 40 {
        value = value.chars().take(39).chain(['…']).collect();
    }
    DriftError::NotNumeric {
        path: snapshot.path.clone(),
        column: column.to_string(),
        row: row + 1,
        value,
    }
}

/// What changes how to read a feature's PSI.
fn notes(
    reference: &Histogram,
    current: &Histogram,
    (reference_rows, current_rows): (u64, u64),
    absent: usize,
    bins: usize,
) -> Vec<String> {
    let mut notes = Vec::new();
    let reference_null = reference.nulls() == reference_rows;
    let current_null = current.nulls() == current_rows;
    match (reference_null, current_null) {
        (true, true) => notes.push("all null in both files".to_string()),
        (true, false) => notes.push("all null in the reference".to_string()),
        (false, true) => notes.push("all null in the current window".to_string()),
        (false, false) => {}
    }
    if let Histogram::Numeric { binning, .. } = reference {
        if let Some(c) = binning.constant {
            notes.push(format!(
                "constant in the reference ({c}): bins below, at and above it"
            ));
        } else if !reference_null && binning.bins() < bins {
            if binning.edges.is_empty() && bins > 1 {
                notes.push("no value among the sampled reference rows: one bin".to_string());
            } else {
                notes.push(format!(
                    "ties in the reference: {} bins, not {bins}",
                    binning.bins()
                ));
            }
        }
    }
    match absent {
        0 => {}
        1 => notes.push("1 category absent from the reference".to_string()),
        n => notes.push(format!("{n} categories absent from the reference")),
    }
    notes
}
