//! The operations behind the subcommands, as library calls: each takes a
//! plain request and returns plain results, for `commands/` to render
//! (cargo's `ops/` under its `commands/`). Shared here: the [`Context`] every
//! operation runs in (the repository, the state, the time, the environment
//! read once, and the backends [`crate::backend::factory`] builds from the
//! configuration and that environment), reading the repository, the state
//! lock, and who is acting.

pub mod apply;
pub mod approvals;
pub mod drill;
pub mod import;
pub mod init;
pub mod monitor;
pub mod plan;
pub mod rollback;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use jiff::Timestamp;

use crate::backend::metrics::MetricsProvider;
use crate::backend::mlflow::MlflowRegistry;
use crate::backend::serving::Targets;
use crate::backend::{Env, Registry, factory};
use crate::manifest::config::ConfigSpec;
use crate::manifest::load::{Manifest, load_file};
use crate::manifest::{Desired, Diagnostic, SourceFile};
use crate::render::diagnostics_text;
use crate::source::{DirSource, GitSource, ManifestSource, SourceError};

/// What every operation knows: where the repository and state are, the
/// time, and the environment backends are built with.
pub struct Context {
    /// `--repo` as given.
    pub repo: PathBuf,
    /// `--state` as given.
    pub state: Option<PathBuf>,
    /// `MODELOPS_NOW`, or the clock.
    pub now: Timestamp,
    /// The environment variables that configure backends, read once.
    pub env: Env,
}

impl Context {
    /// The state directory: `--state`, else `state.dir` of the config
    /// (relative to the repository), else `.modelops/` in the repository.
    pub fn state_dir(&self, config: &ConfigSpec) -> PathBuf {
        if let Some(s) = &self.state {
            return s.clone();
        }
        match &config.state.dir {
            Some(d) => self.repo.join(d),
            None => self.repo.join(".modelops"),
        }
    }

    /// How long a writer waits for the lock.
    pub fn lock_timeout(&self, config: &ConfigSpec) -> Duration {
        let secs = config
            .state
            .lock_timeout
            .as_ref()
            .and_then(|d| d.seconds().ok())
            .unwrap_or(30);
        Duration::from_secs(secs)
    }

    /// A path inside the repository as the user should see it.
    pub fn shown(&self, rel: &str) -> String {
        if self.repo == Path::new(".") {
            rel.to_string()
        } else {
            self.repo.join(rel).display().to_string()
        }
    }

    /// Reads the manifest files of the working tree or of `rev`.
    pub fn read_files(
        &self,
        rev: Option<&str>,
    ) -> Result<(Vec<SourceFile>, Option<String>), SourceError> {
        let source: Box<dyn ManifestSource> = match rev {
            Some(r) => Box::new(GitSource::new(&self.repo, r)),
            None => Box::new(DirSource::new(&self.repo)),
        };
        Ok((source.files()?, source.commit()))
    }

    /// Reads only `modelops.yaml`, for commands that need the state location
    /// but not the models.
    pub fn config(&self) -> Result<ConfigSpec> {
        for name in ["modelops.yaml", "modelops.yml"] {
            let path = self.repo.join(name);
            if !path.exists() {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let file = SourceFile {
                path: name.to_string(),
                content: Ok(bytes),
            };
            return match load_file(&file) {
                Ok((_, Manifest::Config(c))) => Ok(c.spec),
                Ok(_) => bail!("{} is not a Config", path.display()),
                Err(diags) => {
                    let diags = self.display_paths(crate::manifest::finish(diags, &[file]));
                    bail!(
                        "invalid configuration:\n{}",
                        diagnostics_text(&diags).trim_end()
                    )
                }
            };
        }
        Ok(ConfigSpec::default())
    }

    /// Diagnostics with paths as the user should see them.
    pub fn display_paths(&self, mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
        for d in &mut diags {
            d.file = self.shown(&d.file);
        }
        diags
    }

    /// The MLflow registry when `MLFLOW_TRACKING_URI` is set or
    /// `registry.type` is `mlflow` ([`factory::mlflow`]).
    pub fn mlflow(&self, config: &ConfigSpec) -> Result<Option<MlflowRegistry>> {
        factory::mlflow(config, &self.env)
    }

    /// The registry: MLflow (see [`Context::mlflow`]), else the embedded store.
    pub fn registry(&self, config: &ConfigSpec) -> Result<Box<dyn Registry>> {
        factory::registry(config, &self.env, &self.state_dir(config))
    }

    /// The serving targets ([`factory::serving_targets`]).
    pub fn serving_targets(&self, config: &ConfigSpec) -> Result<Targets> {
        factory::serving_targets(config, &self.repo, &self.state_dir(config))
    }

    /// The metrics providers ([`factory::metrics_providers`]).
    pub fn metrics_providers(
        &self,
        config: &ConfigSpec,
    ) -> Result<BTreeMap<String, Box<dyn MetricsProvider>>> {
        factory::metrics_providers(config, &self.env, &self.repo)
    }
}

/// The repository resolved, or why not.
pub enum Loaded {
    /// Valid.
    Valid {
        /// The desired state.
        desired: Box<Desired>,
        /// The files it came from.
        files: Vec<SourceFile>,
        /// Their commit, when known.
        commit: Option<String>,
    },
    /// Invalid: every error, located and sorted, paths as the user sees them.
    Invalid(Vec<Diagnostic>, usize),
}

/// Reads and validates the repository.
pub fn load(ctx: &Context, rev: Option<&str>) -> Result<Loaded> {
    let (files, commit) = ctx.read_files(rev)?;
    Ok(match crate::manifest::load(&files) {
        Ok(desired) => Loaded::Valid {
            desired: Box::new(desired),
            files,
            commit,
        },
        Err(diags) => Loaded::Invalid(ctx.display_paths(diags), files.len()),
    })
}

/// Runs `f` under the state lock of `registry`, taken for `who` (waiting up
/// to `timeout`), and releases it whatever happened; a failure to release is
/// a warning on stderr (the lease, or the process ending for the local
/// store, frees it anyway).
pub fn with_lock<T>(
    registry: &mut dyn Registry,
    timeout: Duration,
    who: &str,
    f: impl FnOnce(&mut dyn Registry) -> Result<T>,
) -> Result<T> {
    registry
        .lock(timeout, who)
        .context("cannot take the state lock")?;
    let outcome = f(registry);
    if let Err(e) = registry.unlock() {
        eprintln!(
            "warning: cannot release the lock on {}: {e}",
            registry.describe()
        );
    }
    outcome
}

/// Who is running, as events record it: `$GITHUB_ACTOR`, else the author
/// of `commit` (the commit being applied, when there is one and the files
/// are exactly that commit's), else `$USER`, else the OS user name;
/// `unknown` only when all of these fail.
pub fn actor(repo: &Path, commit: Option<&str>) -> String {
    let env = |name: &str| std::env::var(name).ok();
    pick_actor(&[
        &|| env("GITHUB_ACTOR"),
        &|| commit.and_then(|c| crate::source::commit_author(repo, c)),
        &|| env("USER"),
        &os_user_name,
    ])
}

/// The first non-blank answer, in order (later sources are not asked).
fn pick_actor(sources: &[&dyn Fn() -> Option<String>]) -> String {
    sources
        .iter()
        .find_map(|source| source().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of the user this process runs as, from `/etc/passwd` by the
/// uid that owns `/proc/self` (no command is run).
fn os_user_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd_name(&passwd, uid)
}

/// The name `passwd` (in `/etc/passwd`'s format) gives `uid`.
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::{passwd_name, pick_actor};

    #[test]
    fn the_actor_is_the_first_source_that_answers() {
        let cases: [(&str, [Option<&str>; 4], &str); 6] = [
            (
                "CI actor first",
                [Some("ci"), Some("author"), Some("user"), Some("os")],
                "ci",
            ),
            (
                "then the commit's author",
                [None, Some("author"), Some("user"), Some("os")],
                "author",
            ),
            ("then $USER", [None, None, Some("user"), Some("os")], "user"),
            ("then the OS user", [None, None, None, Some("os")], "os"),
            (
                "blank counts as absent",
                [Some(" "), Some(""), None, Some("os")],
                "os",
            ),
            ("unknown when all fail", [None, None, None, None], "unknown"),
        ];
        for (why, answers, want) in cases {
            let sources: Vec<Box<dyn Fn() -> Option<String>>> = answers
                .iter()
                .map(|a| {
                    let a = a.map(str::to_string);
                    Box::new(move || a.clone()) as Box<dyn Fn() -> Option<String>>
                })
                .collect();
            let refs: Vec<&dyn Fn() -> Option<String>> =
                sources.iter().map(|s| s.as_ref()).collect();
            assert_eq!(pick_actor(&refs), want, "{why}");
        }
    }

    #[test]
    fn a_passwd_line_names_its_uid() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# comment\nada:x:1000:1000:Ada:/home/ada:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("ada"));
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 7), None);
    }
}
