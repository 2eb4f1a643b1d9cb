//! Whole reports on small CSV files, with figures worked out by hand, and
//! the errors.

use std::path::{Path, PathBuf};

use super::{EPS, close, ln};
use crate::drift::*;

/// Two CSV files in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

fn report(reference: &str, current: &str, opts: &DriftOptions) -> DriftReport {
    let files = Files::new();
    let (r, c) = (
        files.write("reference.csv", reference),
        files.write("current.csv", current),
    );
    drift_report(&r, &c, opts).unwrap_or_else(|e| panic!("drift_report: {e}"))
}

fn feature<'a>(report: &'a DriftReport, name: &str) -> &'a FeatureDrift {
    report
        .features
        .iter()
        .find(|f| f.feature == name)
        .unwrap_or_else(|| panic!("no feature {name} in {report:#?}"))
}

#[test]
fn reports_on_hand_computed_files() {
    struct Case {
        name: &'static str,
        reference: &'static str,
        current: &'static str,
        bins: usize,
        feature: &'static str,
        kind: FeatureKind,
        psi: f64,
        value_bins: usize,
        nulls: (u64, u64),
        note: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "identical files",
            reference: "x,c\n1,a\n1,b\n1,a\n2,b\n,a\n",
            current: "x,c\n1,a\n1,b\n1,a\n2,b\n,a\n",
            bins: 10,
            feature: "x",
            kind: FeatureKind::Numeric,
            psi: 0.0,
            // Deciles of 1, 1, 1, 2: 1 (six times), 1.1, 1.4, 1.7.
            value_bins: 5,
            nulls: (1, 1),
            note: Some("ties in the reference: 5 bins, not 10"),
        },
        Case {
            name: "a shift across the median",
            reference: "x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n",
            current: "x\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n",
            bins: 2,
            feature: "x",
            kind: FeatureKind::Numeric,
            // Edge 5.5: reference ½ | ½, current 2/10 | 8/10.
            psi: (0.2 - 0.5) * ln(0.4) + (0.8 - 0.5) * ln(1.6),
            value_bins: 2,
            nulls: (0, 0),
            note: None,
        },
        Case {
            name: "more nulls is drift",
            reference: "x\n0\n1\n2\n\"\"\n",
            current: "x\n0\nNA\nnull\n NaN \n",
            bins: 2,
            feature: "x",
            kind: FeatureKind::Numeric,
            // Edge 1: reference ½ | ¼ | null ¼; current ¼ | 0 | null ¾.
            psi: (0.25 - 0.5) * ln(0.5) + (EPS - 0.25) * ln(EPS / 0.25) + 0.5 * ln(3.0),
            value_bins: 2,
            nulls: (1, 3),
            note: None,
        },
        Case {
            name: "a constant feature",
            reference: "x\n5\n5\n5\n5\n",
            current: "x\n4\n5\n6\n5\n",
            bins: 10,
            feature: "x",
            kind: FeatureKind::Numeric,
            // Bins below, at, above 5: reference 0 | 1 | 0; current ¼ | ½ | ¼.
            psi: 2.0 * (0.25 - EPS) * ln(0.25 / EPS) + (0.5 - 1.0) * ln(0.5),
            value_bins: 3,
            nulls: (0, 0),
            note: Some("constant in the reference (5): bins below, at and above it"),
        },
        Case {
            name: "a constant feature that stays constant",
            reference: "x\n5\n5\n5\n5\n",
            current: "x\n5\n5\n",
            bins: 10,
            feature: "x",
            kind: FeatureKind::Numeric,
            psi: 0.0,
            value_bins: 3,
            nulls: (0, 0),
            note: Some("constant in the reference (5): bins below, at and above it"),
        },
        Case {
            name: "an all-null reference column",
            reference: "x\nNA\nNA\nNA\n\"\"\n",
            current: "x\n1\n\"\"\n2\nnone\n",
            bins: 10,
            feature: "x",
            kind: FeatureKind::Numeric,
            // One value bin and the null bin: reference 0 | 1, current ½ | ½.
            psi: (0.5 - EPS) * ln(0.5 / EPS) + (0.5 - 1.0) * ln(0.5),
            value_bins: 1,
            nulls: (4, 2),
            note: Some("all null in the reference"),
        },
        Case {
            name: "a column null in both",
            reference: "x,y\n,1\n,2\n",
            current: "x,y\n,1\n,2\n",
            bins: 10,
            feature: "x",
            kind: FeatureKind::Numeric,
            psi: 0.0,
            value_bins: 1,
            nulls: (2, 2),
            note: Some("all null in both files"),
        },
        Case {
            name: "a category absent from the reference",
            reference: "c\na\na\nb\nb\n",
            current: "c\na\nb\nc\nc\n",
            bins: 10,
            feature: "c",
            kind: FeatureKind::Categorical,
            // a, b, c: reference ½ ½ 0; current ¼ ¼ ½.
            psi: 2.0 * (0.25 - 0.5) * ln(0.5) + (0.5 - EPS) * ln(0.5 / EPS),
            value_bins: 3,
            nulls: (0, 0),
            note: Some("1 category absent from the reference"),
        },
        Case {
            name: "a category gone from the current window",
            reference: "c\na\nb\nc\nd\n",
            current: "c\na\na\nb\nb\n",
            bins: 10,
            feature: "c",
            kind: FeatureKind::Categorical,
            psi: 2.0 * 0.25 * ln(2.0) + 2.0 * (EPS - 0.25) * ln(EPS / 0.25),
            value_bins: 4,
            nulls: (0, 0),
            note: None,
        },
    ];
    for case in cases {
        let opts = DriftOptions {
            bins: case.bins,
            ..DriftOptions::default()
        };
        let report = report(case.reference, case.current, &opts);
        let f = feature(&report, case.feature);
        let name = case.name;
        assert!(
            close(f.psi, case.psi),
            "{name}: psi {}, want {}",
            f.psi,
            case.psi
        );
        assert_eq!(f.kind, case.kind, "{name}");
        assert_eq!(f.bins, case.value_bins, "{name}");
        assert_eq!((f.reference_nulls, f.current_nulls), case.nulls, "{name}");
        assert_eq!(f.note.as_deref(), case.note, "{name}");
        assert_eq!(
            (f.reference_rows, f.current_rows),
            (report.reference_rows, report.current_rows),
            "{name}"
        );
    }
}

#[test]
fn identical_files_have_no_drift() {
    let text = "age,plan,score\n31,basic,0.2\n45,pro,0.9\n27,basic,0.4\n,pro,0.7\n52,,0.1\n";
    let opts = DriftOptions {
        prediction_column: Some("score".into()),
        ..DriftOptions::default()
    };
    let report = report(text, text, &opts);
    let names: Vec<&str> = report.features.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(names, ["age", "plan"], "the prediction is not a feature");
    assert!(report.features.iter().all(|f| f.psi == 0.0), "{report:#?}");
    assert_eq!(report.prediction_kl, Some(0.0));
    assert_eq!((report.reference_rows, report.current_rows), (5, 5));
}

#[test]
fn kl_is_the_current_against_the_reference() {
    let opts = DriftOptions {
        bins: 2,
        prediction_column: Some("p".into()),
        ..DriftOptions::default()
    };
    // Edge 0.5: reference ½ | ½; current ¼ | ¾.
    let report = report("p\n0\n0\n1\n1\n", "p\n0\n1\n1\n1\n", &opts);
    let want = 0.25 * ln(0.5) + 0.75 * ln(1.5);
    let got = report.prediction_kl.expect("a KL");
    assert!(close(got, want), "kl {got}, want {want}");
    assert!(report.features.is_empty());
}

#[test]
fn columns_forced_categorical_compare_by_text() {
    let opts = DriftOptions {
        categorical: vec!["zip".into()],
        ..DriftOptions::default()
    };
    let report = report("zip\n10115\n10115\n", "zip\n10115\n20095\n", &opts);
    let f = feature(&report, "zip");
    assert_eq!(f.kind, FeatureKind::Categorical);
    let want = -0.5 * ln(0.5) + (0.5 - EPS) * ln(0.5 / EPS);
    assert!(close(f.psi, want), "psi {}, want {want}", f.psi);
}

#[test]
fn only_shared_columns_in_the_given_order() {
    let all = report(
        "a,b,only_ref\n1,2,3\n",
        "b,a,only_cur\n2,1,4\n",
        &DriftOptions::default(),
    );
    let names: Vec<&str> = all.features.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let opts = DriftOptions {
        features: Some(vec!["b".into(), "a".into()]),
        ..DriftOptions::default()
    };
    let chosen = report("a,b\n1,2\n", "b,a\n2,1\n", &opts);
    let names: Vec<&str> = chosen.features.iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
}

fn failure(reference: &str, current: &str, opts: &DriftOptions) -> (DriftError, PathBuf) {
    let files = Files::new();
    let (r, c) = (
        files.write("reference.csv", reference),
        files.write("current.csv", current),
    );
    let error = drift_report(&r, &c, opts).expect_err("an error");
    (error, files.dir.path().to_path_buf())
}

#[test]
fn errors_name_the_file_and_what_is_wrong() {
    let bins_0 = DriftOptions {
        bins: 0,
        ..DriftOptions::default()
    };
    let epsilon_0 = DriftOptions {
        epsilon: 0.0,
        ..DriftOptions::default()
    };
    let missing = DriftOptions {
        features: Some(vec!["nope".into()]),
        ..DriftOptions::default()
    };
    let no_prediction = DriftOptions {
        prediction_column: Some("p".into()),
        ..DriftOptions::default()
    };
    let default = DriftOptions::default();
    let cases: &[(&str, &str, &str, &DriftOptions, &str)] = &[
        (
            "an empty window",
            "x\n1\n",
            "x\n",
            &default,
            "current.csv: no rows, so drift cannot be measured",
        ),
        (
            "an empty reference",
            "x\n",
            "x\n1\n",
            &default,
            "reference.csv: no rows, so drift cannot be measured",
        ),
        (
            "text in a numeric column",
            "x\n1\n2\n",
            "x\n1\nabc\n",
            &default,
            "current.csv: row 2, column `x`: `abc` is not a number, and the column is numeric in the reference (name it in `categorical` to compare it by category)",
        ),
        (
            "a ragged row",
            "x,y\n1,2\n3\n",
            "x,y\n1,2\n",
            &default,
            "reference.csv: CSV error: record 2 (line: 3, byte: 8): found record with 1 fields, but the previous record has 2 fields",
        ),
        (
            "a duplicate column",
            "x,x\n1,2\n",
            "x\n1\n",
            &default,
            "reference.csv: two columns are named `x`",
        ),
        (
            "no bins",
            "x\n1\n",
            "x\n1\n",
            &bins_0,
            "drift options: bins must be at least 1",
        ),
        (
            "no epsilon",
            "x\n1\n",
            "x\n1\n",
            &epsilon_0,
            "drift options: epsilon must be between 0 and 1 (exclusive), not 0",
        ),
        (
            "a missing feature",
            "x\n1\n",
            "x\n1\n",
            &missing,
            "reference.csv: no column `nope`",
        ),
        (
            "a missing prediction column",
            "x,p\n1,0\n",
            "x\n1\n",
            &no_prediction,
            "current.csv: no column `p`",
        ),
    ];
    for &(name, reference, current, opts, want) in cases {
        let (error, dir) = failure(reference, current, opts);
        let message = error
            .to_string()
            .replace(&format!("{}/", dir.display()), "");
        assert_eq!(message, want, "{name}");
    }
}

#[test]
fn snapshots_are_csv_or_parquet_by_name() {
    let error = drift_report(
        Path::new("data/reference.json"),
        Path::new("current.csv"),
        &DriftOptions::default(),
    )
    .expect_err("not a snapshot");
    assert_eq!(
        error.to_string(),
        "data/reference.json: not a snapshot: the file name must end in .csv or .parquet"
    );
}

#[test]
fn the_sample_is_every_kth_row() {
    // 200,001 rows: k = 3, so rows 0, 3, 6 … are sampled. Every third row
    // is 0 and the rest 1, so the sample is constant (0) while the file is
    // not: the edges say so, and the ones fall above them.
    let mut text = String::from("x\n");
    for row in 0..200_001 {
        text.push_str(if row % 3 == 0 { "0\n" } else { "1\n" });
    }
    let report = report(&text, &text, &DriftOptions::default());
    let f = feature(&report, "x");
    assert_eq!(
        f.note.as_deref(),
        Some("constant in the reference (0): bins below, at and above it")
    );
    assert_eq!(f.psi, 0.0);
}

#[test]
fn text_anywhere_in_the_reference_makes_a_csv_column_categorical() {
    // k = 3: row 1, the only text, is not sampled; counting finds it, and
    // the column is counted again by category in both files.
    let mut text = String::from("x,y\n");
    for row in 0..200_001 {
        let x = match row {
            1 => "abc",
            r if r % 2 == 0 => "1",
            _ => "2",
        };
        text.push_str(&format!("{x},{}\n", row % 7));
    }
    let report = report(&text, "x,y\n1,0\nabc,1\n", &DriftOptions::default());
    let x = feature(&report, "x");
    assert_eq!(x.kind, FeatureKind::Categorical);
    assert_eq!(x.bins, 3);
    let rows = 200_001.0;
    let want = psi(
        &[100_001.0 / rows, 99_999.0 / rows, 1.0 / rows, 0.0],
        &[0.5, 0.0, 0.5, 0.0],
        EPS,
    );
    assert_eq!(x.psi, want);
    assert_eq!(feature(&report, "y").kind, FeatureKind::Numeric);
}
