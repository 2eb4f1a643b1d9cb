//! One file per subcommand: each turns arguments into a request, calls one
//! operation of [`crate::ops`], and renders its result. Shared here, and
//! only about the command line and its output: the [`Context`] built from
//! `--repo`, `--state`, `MODELOPS_NOW` and the backends' environment (read
//! once, [`Env::read`]), and writing to stdout and stderr.

mod apply;
mod comment;
mod completions;
mod history;
mod import;
mod init;
mod monitor;
mod plan;
mod rollback;
mod schema;
mod status;
mod unlock;
mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use jiff::Timestamp;

use crate::backend::Env;
use crate::cli::{Cli, ColorChoice, Command};
use crate::ops::Context;
use crate::render::paint;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    set_colour(cli.global.color);
    let ctx = context(cli.global.repo, cli.global.state)?;
    match cli.command {
        Command::Validate(a) => validate::run(&ctx, a),
        Command::Plan(a) => plan::run(&ctx, a),
        Command::Apply(a) => apply::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::History(a) => history::run(&ctx, a),
        Command::Rollback(a) => rollback::run(&ctx, a),
        Command::Monitor(a) => monitor::run(&ctx, a),
        Command::Comment(a) => comment::run(&ctx, a),
        Command::Unlock(a) => unlock::run(&ctx, a),
        Command::Schema(a) => schema::run(a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Init(a) => init::run(a),
        Command::Completions(a) => completions::run(a),
    }
}

/// Decides, once, whether stdout and stderr are coloured.
fn set_colour(choice: ColorChoice) {
    use std::io::IsTerminal;
    let choice = match choice {
        ColorChoice::Auto => "auto",
        ColorChoice::Always => "always",
        ColorChoice::Never => "never",
    };
    let (no_color, term) = (std::env::var("NO_COLOR").ok(), std::env::var("TERM").ok());
    let on = |tty: bool| paint::decide(choice, tty, no_color.as_deref(), term.as_deref());
    paint::set_colour(
        on(std::io::stdout().is_terminal()),
        on(std::io::stderr().is_terminal()),
    );
    crate::progress::enable(std::io::stderr().is_terminal() && term.as_deref() != Some("dumb"));
}

/// The context of `--repo` and `--state`, at `MODELOPS_NOW` or the clock,
/// with the environment backends are built from.
fn context(repo: PathBuf, state: Option<PathBuf>) -> Result<Context> {
    let now = match std::env::var("MODELOPS_NOW") {
        Ok(text) => text.parse::<Timestamp>().with_context(|| {
            format!("MODELOPS_NOW={text} is not an RFC 3339 time such as 2026-11-26T09:00:00Z")
        })?,
        Err(_) => Timestamp::now(),
    };
    Ok(Context {
        repo,
        state,
        now,
        env: Env::read(),
    })
}

/// Writes an output to stdout through the render boundary's net
/// ([`crate::render::terminal`]): whatever a value held, no hidden character
/// and no workflow command reaches a terminal or a CI log. JSON passes
/// unchanged once [`crate::render::json_output`] made it safe. A closed pipe
/// (`modelops plan | head`) ends output quietly.
pub fn emit(text: &str) {
    emit_commands(&crate::render::terminal_painted(
        text,
        paint::stdout_colour(),
    ));
}

/// Writes GitHub workflow commands (`validate --format github`) as they
/// are: each is built from escaped parts, and they must stay commands.
pub fn emit_commands(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write output: {e}");
    }
}

/// Writes a message to stderr through the same net as [`emit`], with a
/// newline.
pub fn warn(text: &str) {
    eprintln!(
        "{}",
        crate::render::terminal_painted(text, paint::stderr_colour())
    );
}

/// Lets a large value go without freeing it, because the process is about
/// to exit: freeing the parsed manifests of 10,000 files one allocation at a
/// time takes about a quarter of a second that the OS does at once.
pub fn release_at_exit<T>(value: T) {
    std::mem::forget(value);
}
