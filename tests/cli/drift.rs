//! The drift engine (`modelops::drift`) against an independent, deliberately
//! naive implementation in Python (`tests/drift_reference.py`) on the same
//! files: every PSI and the prediction KL agree within 1e-9, and so do each
//! feature's kind, bins and null counts.
//!
//! The fixtures are made here: a reference of 200,001 rows (so the quantile
//! sample takes every 3rd row), an undrifted and a drifted window of 50,000,
//! written as CSV by this file and converted to Parquet by the MLflow
//! virtualenv's pyarrow (required and optional columns, int32/int64/float/
//! double/string/boolean, several row groups and pages, dictionary and plain
//! encodings, snappy, zstd and data page v2). They cover numeric features,
//! nulls (empty cells, tokens, Parquet nulls and NaN), a category absent
//! from the reference, a column forced categorical, a constant column, an
//! all-null column and one with heavy ties.
//!
//! Without `.cache/mlflow-venv` (`scripts/mlflow.sh install`) these tests
//! skip; with `MODELOPS_E2E=1` they fail.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use modelops::drift::{DriftOptions, DriftReport, FeatureKind, drift_report};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const TOLERANCE: f64 = 1e-9;

/// The virtualenv's python, or `None` (a skip) when it is missing.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("MODELOPS_MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join(".cache/mlflow-venv"));
    let python = venv.join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import numpy, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var("MODELOPS_E2E").as_deref() != Ok("1"),
        "MODELOPS_E2E=1 but {} has no numpy and pyarrow (scripts/mlflow.sh install)",
        python.display()
    );
    eprintln!("skipped: no numpy and pyarrow in {}", python.display());
    None
}

/// SplitMix64: the same numbers on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Normal, by Box–Muller.
    fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// One of `choices` by weight.
    fn pick<'a>(&mut self, choices: &[(&'a str, f64)]) -> &'a str {
        let mut u = self.uniform() * choices.iter().map(|c| c.1).sum::<f64>();
        for &(choice, weight) in choices {
            if u < weight {
                return choice;
            }
            u -= weight;
        }
        choices[choices.len() - 1].0
    }
}

const HEADER: &str = "age,income,plan,active,flag,legacy,zip,tenure,score";

/// A window of `rows` rows; `drifted` moves most features.
fn window(seed: u64, rows: usize, drifted: bool) -> String {
    let mut r = Random(seed);
    let mut text = format!("{HEADER}\n");
    for _ in 0..rows {
        let age = r.normal(if drifted { 46.0 } else { 40.0 }, 12.0).max(18.0) as i64;
        let null_share = if drifted { 0.12 } else { 0.05 };
        let income = match r.uniform() {
            u if u < null_share / 2.0 => String::new(),
            u if u < null_share => "NA".to_string(),
            _ => {
                let scale = if drifted { 1.1 } else { 1.0 };
                format!("{:.2}", scale * r.normal(10.5, 0.6).exp())
            }
        };
        let plan = if drifted {
            r.pick(&[
                ("basic", 0.45),
                ("pro", 0.33),
                ("enterprise", 0.1),
                ("trial", 0.1),
                ("null", 0.02),
            ])
        } else {
            r.pick(&[
                ("basic", 0.6),
                ("pro", 0.28),
                ("enterprise", 0.1),
                ("null", 0.02),
            ])
        };
        let active = if r.uniform() < if drifted { 0.6 } else { 0.7 } {
            "true"
        } else {
            "false"
        };
        let flag = if drifted {
            r.pick(&[("1", 0.95), ("0", 0.03), ("2", 0.02)])
        } else {
            "1"
        };
        let legacy = if drifted && r.uniform() < 0.1 {
            format!("{:.3}", r.uniform())
        } else {
            "NA".to_string()
        };
        let zips: &[(&str, f64)] = if drifted {
            &[
                ("10115", 0.3),
                ("20095", 0.3),
                ("80331", 0.2),
                ("50667", 0.2),
            ]
        } else {
            &[("10115", 0.4), ("20095", 0.3), ("80331", 0.3)]
        };
        let zip = r.pick(zips);
        let tenure = if r.uniform() < if drifted { 0.6 } else { 0.7 } {
            "0".to_string()
        } else {
            format!("{:.1}", r.uniform() * 60.0)
        };
        let logit = r.normal(if drifted { 0.4 } else { -0.5 }, 1.0);
        let score = 1.0 / (1.0 + (-logit).exp());
        writeln!(
            text,
            "{age},{income},{plan},{active},{flag},{legacy},{zip},{tenure},{score:.6}"
        )
        .expect("write to a String");
    }
    text
}

/// Writes the Parquet copy of a CSV fixture with pyarrow: explicit types,
/// NaN in place of every 997th income, and the writer's settings given.
const TO_PARQUET: &str = r#"
import csv, math, sys
import pyarrow as pa, pyarrow.parquet as pq
src, dst, settings = sys.argv[1], sys.argv[2], eval(sys.argv[3])
with open(src, newline="") as f:
    rows = list(csv.DictReader(f))
NULL = {"", "na", "n/a", "nan", "null", "none"}
def col(name, convert):
    return [None if r[name].strip().lower() in NULL else convert(r[name]) for r in rows]
income = col("income", float)
income = [math.nan if v is not None and i % 997 == 0 else v for i, v in enumerate(income)]
schema = pa.schema([
    pa.field("age", pa.int64(), nullable=False),
    pa.field("income", pa.float64()),
    pa.field("plan", pa.string()),
    pa.field("active", pa.bool_()),
    pa.field("flag", pa.int32()),
    pa.field("legacy", pa.float64()),
    pa.field("zip", pa.int64()),
    pa.field("tenure", pa.float64()),
    pa.field("score", pa.float32()),
])
table = pa.table({
    "age": col("age", int),
    "income": income,
    "plan": col("plan", str),
    "active": col("active", lambda v: v == "true"),
    "flag": col("flag", int),
    "legacy": col("legacy", float),
    "zip": col("zip", int),
    "tenure": col("tenure", float),
    "score": col("score", float),
}, schema=schema)
pq.write_table(table, dst, **settings)
"#;

/// The fixtures in a temporary directory.
struct Fixtures {
    dir: tempfile::TempDir,
    python: PathBuf,
}

impl Fixtures {
    fn csv(python: PathBuf) -> Fixtures {
        let dir = tempfile::Builder::new()
            .prefix("modelops-drift-")
            .tempdir()
            .expect("tempdir");
        for (name, seed, rows, drifted) in [
            ("reference", 1, 200_001, false),
            ("same", 2, 50_000, false),
            ("drifted", 3, 50_000, true),
        ] {
            std::fs::write(
                dir.path().join(format!("{name}.csv")),
                window(seed, rows, drifted),
            )
            .expect("write CSV");
        }
        Fixtures { dir, python }
    }

    fn with_parquet(self) -> Fixtures {
        for (name, settings) in [
            (
                "reference",
                "dict(row_group_size=65536, data_page_size=16384, compression='snappy')",
            ),
            ("same", "dict(compression='zstd', data_page_version='2.0')"),
            (
                "drifted",
                "dict(compression='snappy', use_dictionary=False)",
            ),
        ] {
            let out = Command::new(&self.python)
                .args(["-c", TO_PARQUET])
                .arg(self.path(&format!("{name}.csv")))
                .arg(self.path(&format!("{name}.parquet")))
                .arg(settings)
                .output()
                .expect("run python");
            assert!(
                out.status.success(),
                "writing {name}.parquet: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The reference implementation's reports, one per current file.
    fn reference_reports(&self, reference: &str, currents: &[&str]) -> Vec<Value> {
        let mut command = Command::new(&self.python);
        command
            .arg(Path::new(ROOT).join("tests/drift_reference.py"))
            .arg("--reference")
            .arg(self.path(reference))
            .args(["--prediction", "score", "--categorical", "zip"]);
        for current in currents {
            command.arg("--current").arg(self.path(current));
        }
        let out = command.output().expect("run drift_reference.py");
        assert!(
            out.status.success(),
            "drift_reference.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(reports.len(), currents.len());
        reports
    }

    fn report(&self, reference: &str, current: &str) -> DriftReport {
        let opts = DriftOptions {
            prediction_column: Some("score".into()),
            categorical: vec!["zip".into()],
            ..DriftOptions::default()
        };
        drift_report(&self.path(reference), &self.path(current), &opts)
            .unwrap_or_else(|e| panic!("{reference} against {current}: {e}"))
    }
}

/// Checks a report against the reference's; returns the largest |difference|
/// among its PSIs and KL.
fn agree(ours: &DriftReport, theirs: &Value, what: &str) -> f64 {
    assert_eq!(ours.reference_rows, theirs["reference_rows"], "{what}");
    assert_eq!(ours.current_rows, theirs["current_rows"], "{what}");
    let features = theirs["features"].as_object().expect("features");
    let names: Vec<&str> = ours.features.iter().map(|f| f.feature.as_str()).collect();
    let expected: Vec<&str> = features.keys().map(String::as_str).collect();
    assert_eq!(names, expected, "{what}: features");
    let mut worst: f64 = 0.0;
    for f in &ours.features {
        let t = &features[&f.feature];
        let what = format!("{what}, {}", f.feature);
        let psi = t["psi"].as_f64().expect("psi");
        let difference = (f.psi - psi).abs();
        assert!(
            difference <= TOLERANCE,
            "{what}: PSI {} here, {psi} in the reference",
            f.psi
        );
        worst = worst.max(difference);
        let kind = match f.kind {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Categorical => "categorical",
        };
        assert_eq!(kind, t["kind"], "{what}: kind");
        assert_eq!(f.bins, t["bins"], "{what}: bins");
        assert_eq!(f.reference_nulls, t["reference_nulls"], "{what}: nulls");
        assert_eq!(f.current_nulls, t["current_nulls"], "{what}: nulls");
    }
    let kl = ours.prediction_kl.expect("a prediction KL");
    let their_kl = theirs["prediction_kl"].as_f64().expect("prediction_kl");
    assert!(
        (kl - their_kl).abs() <= TOLERANCE,
        "{what}: KL {kl} here, {their_kl} in the reference"
    );
    worst.max((kl - their_kl).abs())
}

fn psi_of(report: &DriftReport, feature: &str) -> f64 {
    feature_of(report, feature).psi
}

fn feature_of<'a>(report: &'a DriftReport, feature: &str) -> &'a modelops::drift::FeatureDrift {
    report
        .features
        .iter()
        .find(|f| f.feature == feature)
        .unwrap_or_else(|| panic!("no {feature}"))
}

/// What the fixtures are built to show, whatever the format.
fn check_meaning(same: &DriftReport, drifted: &DriftReport) {
    for f in &same.features {
        if f.feature != "legacy" {
            assert!(f.psi < 0.01, "undrifted {}: PSI {}", f.feature, f.psi);
        }
    }
    assert!(same.prediction_kl.expect("KL") < 0.01);
    for feature in ["age", "plan", "flag", "legacy", "zip"] {
        let psi = psi_of(drifted, feature);
        assert!(psi > 0.2, "drifted {feature}: PSI {psi}");
    }
    assert!(drifted.prediction_kl.expect("KL") > 0.1);
    let note = |r: &DriftReport, f: &str| feature_of(r, f).note.clone().unwrap_or_default();
    assert_eq!(
        note(drifted, "flag"),
        "constant in the reference (1): bins below, at and above it"
    );
    assert_eq!(note(same, "legacy"), "all null in both files");
    assert_eq!(note(drifted, "legacy"), "all null in the reference");
    assert_eq!(
        note(drifted, "plan"),
        "1 category absent from the reference"
    );
    assert_eq!(note(drifted, "zip"), "1 category absent from the reference");
    assert!(
        note(same, "tenure").starts_with("ties in the reference"),
        "{}",
        note(same, "tenure")
    );
    assert_eq!(feature_of(drifted, "zip").kind, FeatureKind::Categorical);
    assert_eq!(feature_of(drifted, "active").kind, FeatureKind::Categorical);
    assert_eq!(feature_of(drifted, "age").kind, FeatureKind::Numeric);
}

#[test]
fn csv_figures_match_the_reference_implementation() {
    let Some(python) = python() else { return };
    let fixtures = Fixtures::csv(python);
    let theirs = fixtures.reference_reports("reference.csv", &["same.csv", "drifted.csv"]);
    let same = fixtures.report("reference.csv", "same.csv");
    let drifted = fixtures.report("reference.csv", "drifted.csv");
    let worst =
        agree(&same, &theirs[0], "CSV, undrifted").max(agree(&drifted, &theirs[1], "CSV, drifted"));
    eprintln!("CSV: largest |PSI or KL difference| from the reference: {worst:e}");
    check_meaning(&same, &drifted);
}

#[test]
fn parquet_figures_match_the_reference_implementation() {
    let Some(python) = python() else { return };
    let fixtures = Fixtures::csv(python).with_parquet();
    let theirs = fixtures.reference_reports(
        "reference.parquet",
        &["same.parquet", "drifted.parquet", "drifted.csv"],
    );
    let same = fixtures.report("reference.parquet", "same.parquet");
    let drifted = fixtures.report("reference.parquet", "drifted.parquet");
    let mixed = fixtures.report("reference.parquet", "drifted.csv");
    let worst = agree(&same, &theirs[0], "Parquet, undrifted")
        .max(agree(&drifted, &theirs[1], "Parquet, drifted"))
        .max(agree(&mixed, &theirs[2], "Parquet against CSV"));
    eprintln!("Parquet: largest |PSI or KL difference| from the reference: {worst:e}");
    check_meaning(&same, &drifted);
    // NaN is null: every 997th income became NaN in the Parquet copy.
    let csv = fixtures.report("reference.csv", "drifted.csv");
    assert!(
        feature_of(&drifted, "income").reference_nulls > feature_of(&csv, "income").reference_nulls
    );
}

/// Writes Parquet files with pyarrow from a Python snippet run in `dir`.
fn write_parquet(python: &Path, dir: &Path, script: &str) {
    let out = Command::new(python)
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyarrow: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn parquet_files_drift_cannot_compare_are_refused_by_name() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    write_parquet(
        &python,
        dir.path(),
        r#"
import pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({"x": pa.array([], pa.float64())}), "empty.parquet")
t = pa.table({
    "x": [1.0, 2.0, 3.0],
    "s": [{"a": 1}, {"a": 2}, None],
    "l": [[1], [2, 3], []],
})
pq.write_table(t, "nested.parquet")
pq.write_table(pa.table({"x": [1.0, 2.0]}), "gzip.parquet", compression="gzip")
"#,
    );
    let path = |name: &str| dir.path().join(name);
    let message = |r: &str, c: &str, opts: &DriftOptions| {
        let error = drift_report(&path(r), &path(c), opts).expect_err("an error");
        error
            .to_string()
            .replace(&format!("{}/", dir.path().display()), "")
    };
    let default = DriftOptions::default();
    assert_eq!(
        message("nested.parquet", "empty.parquet", &default),
        "empty.parquet: no rows, so drift cannot be measured"
    );
    // Left out when not asked for; refused when asked for.
    let report =
        drift_report(&path("nested.parquet"), &path("nested.parquet"), &default).expect("a report");
    let names: Vec<&str> = report.features.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(names, ["x"]);
    let nested = DriftOptions {
        features: Some(vec!["s.a".into()]),
        ..DriftOptions::default()
    };
    assert_eq!(
        message("nested.parquet", "nested.parquet", &nested),
        "nested.parquet: column `s.a` is a nested field, which drift does not compare"
    );
    let gzip = message("gzip.parquet", "nested.parquet", &default);
    assert!(
        gzip.starts_with("gzip.parquet: ")
            && gzip.ends_with("(a compression codec this modelops was built without: it reads uncompressed, snappy and zstd Parquet)"),
        "{gzip}"
    );
}
