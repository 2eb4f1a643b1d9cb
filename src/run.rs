//! The binary's body, callable from tests: parse, dispatch, print errors once.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

/// Runs modelops with these arguments (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1: 2 means "plan has changes".
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match crate::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let label = crate::render::paint(crate::render::Paint::Red, "error:");
            crate::commands::warn(&format!("{label} {e:#}"));
            ExitCode::FAILURE
        }
    }
}
