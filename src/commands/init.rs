//! `modelops init [DIR]`: scaffolds a repository ([`crate::ops::init`]) and
//! says what to run next.

use std::process::ExitCode;

use anyhow::Result;

use super::emit;
use crate::cli::InitArgs;

/// Writes the scaffold, or refuses naming the files that exist.
pub fn run(args: InitArgs) -> Result<ExitCode> {
    let written = crate::ops::init::run(&args.dir)?;
    let mut out = String::new();
    for path in &written {
        out.push_str(&format!("wrote {path}\n"));
    }
    let dir = args.dir.display();
    out.push_str(&format!(
        "\nA repository with no models yet, on the embedded registry. Next:\n  \
         modelops validate --repo {dir}\n  \
         modelops plan --repo {dir}\n\
         Add a model under models/ (the README shows one), or bring in an existing MLflow registry:\n  \
         MLFLOW_TRACKING_URI=http://… modelops import --from mlflow --out {dir}\n"
    ));
    emit(&out);
    Ok(ExitCode::SUCCESS)
}
