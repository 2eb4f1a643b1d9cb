//! `modelops unlock`: shows who holds the state lock, and removes it with `--force`.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::emit;
use crate::backend::local::{HolderState, holder_process, holder_state, hostname, running_here};
use crate::backend::{LocalStore, Registry};
use crate::ops::Context;

/// Reports or removes the lock.
pub fn run(ctx: &Context, args: crate::cli::UnlockArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    if let Some(mlflow) = ctx.mlflow(&config)? {
        return Ok(match mlflow.lock_holder()? {
            None => {
                emit(&format!("No lock is held on {}.\n", mlflow.describe()));
                ExitCode::SUCCESS
            }
            Some((holder, expired)) if expired || args.force => {
                // The lease is the MLflow lock's only liveness signal; a
                // holder on this host can be checked directly.
                let state = match holder_process(&holder) {
                    Some((_, host)) if host != hostname() => HolderState::OtherHost(host),
                    Some((pid, _)) if running_here(pid) => HolderState::Running(pid),
                    Some((pid, _)) => HolderState::Stopped(pid),
                    None => HolderState::Unknown,
                };
                if let (false, HolderState::Running(pid)) = (expired, &state) {
                    refuse_live(&mlflow.describe(), &holder, *pid);
                    return Ok(ExitCode::FAILURE);
                }
                mlflow.remove_lock()?;
                let note = if expired {
                    " (its lease had run out).".to_string()
                } else {
                    format!(".\n{}", forced_note(&state))
                };
                emit(&format!(
                    "Removed the lock on {} held by {holder}{note}\n",
                    mlflow.describe()
                ));
                ExitCode::SUCCESS
            }
            Some((holder, _)) => {
                eprintln!(
                    "{} is locked by {holder}.\nIts lease runs out 15 minutes after it was taken. To remove it now: modelops unlock --force",
                    mlflow.describe()
                );
                ExitCode::FAILURE
            }
        });
    }
    let dir = ctx.state_dir(&config);
    match LocalStore::lock_holder(&dir) {
        None => {
            // The lock is an OS lock released when its process dies, so an
            // unheld lock file is harmless; remove it for tidiness.
            LocalStore::remove_lock(&dir)
                .with_context(|| format!("cannot remove the lock in {}", dir.display()))?;
            emit(&format!("No lock is held on {}.\n", dir.display()));
            Ok(ExitCode::SUCCESS)
        }
        Some(holder) if args.force => {
            let state = holder_state(&dir, &holder);
            if let HolderState::Running(pid) = state {
                refuse_live(&dir.display().to_string(), &holder, pid);
                return Ok(ExitCode::FAILURE);
            }
            LocalStore::remove_lock(&dir)
                .with_context(|| format!("cannot remove the lock in {}", dir.display()))?;
            emit(&format!(
                "Removed the lock on {} held by {holder}.\n{}\n",
                dir.display(),
                forced_note(&state)
            ));
            Ok(ExitCode::SUCCESS)
        }
        Some(holder) => {
            eprintln!(
                "The state at {} is locked by {holder}.\nIt is released when that process ends. To remove it anyway: modelops unlock --force",
                dir.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `unlock --force` never breaks the lock of a process running here: its
/// writes would interleave with the next holder's and events would be lost.
fn refuse_live(place: &str, holder: &str, pid: u32) {
    eprintln!(
        "The lock on {place} is held by {holder}, and process {pid} is running on this host ({}); \
         --force does not remove a live holder's lock.\nStop that process (or wait for it to finish), then run modelops unlock again.",
        hostname()
    );
}

/// Why removing the lock was allowed, and what to check.
fn forced_note(state: &HolderState) -> String {
    match state {
        HolderState::Stopped(pid) => {
            format!("Process {pid} no longer runs on this host, so nothing is writing.")
        }
        HolderState::OtherHost(host) => format!(
            "It was taken on another host ({host}), which cannot be checked from here: make sure that process is stopped."
        ),
        HolderState::Running(_) | HolderState::Unknown => {
            "No process on this host holds it; the holder cannot be identified: make sure it is stopped.".to_string()
        }
    }
}
