//! `modelops unlock`: shows who holds the state lock, and removes it with `--force`.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::{Context, emit};
use crate::backend::{LocalStore, Registry};

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
                mlflow.remove_lock()?;
                let note = if expired {
                    " (its lease had run out)"
                } else {
                    ""
                };
                emit(&format!(
                    "Removed the lock on {} held by {holder}{note}.\n",
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
            LocalStore::remove_lock(&dir)
                .with_context(|| format!("cannot remove the lock in {}", dir.display()))?;
            emit(&format!(
                "Removed the lock on {} held by {holder}.\nThat process may still write; make sure it is stopped.\n",
                dir.display()
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
