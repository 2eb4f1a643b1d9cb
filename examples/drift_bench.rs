//! Runs the drift engine once on two snapshots and prints the report as
//! JSON with the time it took: what `bench/drift.sh` times against numpy,
//! and how `docs/drift.md`'s Evidently comparison got modelops' figures.
//!
//! ```text
//! cargo run --release --example drift_bench -- REFERENCE CURRENT \
//!     [--bins N] [--epsilon E] [--prediction COLUMN] [--categorical A,B] [--features A,B]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use modelops::drift::{DriftOptions, drift_report};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("drift_bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut opts = DriftOptions::default();
    let list = |v: String| v.split(',').map(str::to_string).collect::<Vec<_>>();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--bins" => opts.bins = value()?.parse().map_err(|e| format!("--bins: {e}"))?,
            "--epsilon" => {
                opts.epsilon = value()?.parse().map_err(|e| format!("--epsilon: {e}"))?
            }
            "--prediction" => opts.prediction_column = Some(value()?),
            "--categorical" => opts.categorical = list(value()?),
            "--features" => opts.features = Some(list(value()?)),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let [reference, current] = files.as_slice() else {
        return Err("usage: drift_bench REFERENCE CURRENT [--bins N] [--epsilon E] [--prediction COLUMN] [--categorical A,B] [--features A,B]".into());
    };
    let started = Instant::now();
    let report = drift_report(reference, current, &opts).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    let json = serde_json::json!({ "elapsed_s": elapsed, "report": report });
    println!("{json:#}");
    Ok(())
}
