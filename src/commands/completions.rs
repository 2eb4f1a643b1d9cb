//! `modelops completions SHELL`: the shell's completion script, generated
//! from the command line's own definition, so it cannot drift from it.

use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::{Shell as Target, generate};

use crate::cli::{Cli, CompletionsArgs, Shell};

/// Writes the script to stdout.
pub fn run(args: CompletionsArgs) -> Result<ExitCode> {
    let target = match args.shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
    };
    let mut script = Vec::new();
    generate(target, &mut Cli::command(), "modelops", &mut script);
    let mut out = std::io::stdout().lock();
    if let Err(e) = std::io::Write::write_all(&mut out, &script)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        anyhow::bail!("cannot write the completion script: {e}");
    }
    Ok(ExitCode::SUCCESS)
}
