//! The environment variables that configure backends and clients, read once
//! per command into [`Env`] and passed down: no backend or client reads its
//! settings from the process environment itself, so what a command connects
//! to is decided in one place ([`super::factory`]) from the configuration and
//! this value. (Who is acting, `$GITHUB_ACTOR` or `$USER`, and a lock
//! holder's `$USER` and host name are read where they are recorded: they name
//! the process, they do not configure a backend.)

use std::time::Duration;

use super::metrics::deadline::{DEADLINE_VAR, Deadline};
use super::mlflow::cache::{ReadCache, RunFetch};
use super::mlflow::client::Credentials;

/// What the environment says about backends, read once.
#[derive(Clone)]
pub struct Env {
    /// `MLFLOW_TRACKING_URI`, when set and not blank: the registry is this
    /// MLflow server whatever `registry.type` says.
    pub mlflow_uri: Option<String>,
    /// `MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD`, `MLFLOW_TRACKING_TOKEN`.
    pub mlflow_credentials: Credentials,
    /// `MODELOPS_HTTP_KEEPALIVE=1`: MLflow connections are kept for reuse
    /// (only for measuring the difference, see `bench/mlflow.sh`).
    pub http_keep_alive: bool,
    /// `MODELOPS_METRICS_DEADLINE` as a length, or why it is not one (said
    /// when metrics providers are built).
    pub metrics_deadline: Result<Duration, String>,
    /// What a workflow runner sets for GitHub clients.
    pub github: GitHubEnv,
    /// Not a variable: what this command has read from MLflow that does not
    /// change under it (runs, logged signatures), made empty with the rest
    /// and shared by every registry the factory builds from this value (and
    /// its clones), so a run is read once per command.
    pub mlflow_reads: ReadCache,
}

/// The `GITHUB_*` variables the GitHub clients read (the pull-request
/// comment, `repository_dispatch`), as set.
#[derive(Clone, Default)]
pub struct GitHubEnv {
    /// `GITHUB_API_URL`.
    pub api_url: Option<String>,
    /// `GITHUB_REPOSITORY`.
    pub repository: Option<String>,
    /// `GITHUB_TOKEN`: sent, never shown.
    pub token: Option<String>,
    /// `GITHUB_SERVER_URL`.
    pub server_url: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
}

impl GitHubEnv {
    /// The value of one of the variables above by its name (`None` for any
    /// other name): for the clients' `from_vars` constructors.
    pub fn var(&self, name: &str) -> Option<String> {
        match name {
            "GITHUB_API_URL" => self.api_url.clone(),
            "GITHUB_REPOSITORY" => self.repository.clone(),
            "GITHUB_TOKEN" => self.token.clone(),
            "GITHUB_SERVER_URL" => self.server_url.clone(),
            "GITHUB_RUN_ID" => self.run_id.clone(),
            _ => None,
        }
    }
}

impl Env {
    /// Reads the process environment.
    pub fn read() -> Env {
        Env::from_vars(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `var` (a test passes a table).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Env {
        Env {
            mlflow_uri: var("MLFLOW_TRACKING_URI").filter(|u| !u.trim().is_empty()),
            mlflow_credentials: Credentials::from_vars(&var),
            http_keep_alive: var("MODELOPS_HTTP_KEEPALIVE").as_deref() == Some("1"),
            metrics_deadline: Deadline::limit(var(DEADLINE_VAR).as_deref()),
            github: GitHubEnv {
                api_url: var("GITHUB_API_URL"),
                repository: var("GITHUB_REPOSITORY"),
                token: var("GITHUB_TOKEN"),
                server_url: var("GITHUB_SERVER_URL"),
                run_id: var("GITHUB_RUN_ID"),
            },
            mlflow_reads: ReadCache::new(RunFetch::from_var(
                var("MODELOPS_MLFLOW_RUNS").as_deref(),
            )),
        }
    }

    /// No variable set: every backend as the configuration alone says.
    pub fn empty() -> Env {
        Env::from_vars(|_| None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Env;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_vars(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn variables_are_read_into_their_fields() {
        let e = env(&[
            ("MLFLOW_TRACKING_URI", "http://mlflow:5000"),
            ("MLFLOW_TRACKING_TOKEN", "t0k"),
            ("MLFLOW_TRACKING_USERNAME", ""),
            ("MODELOPS_HTTP_KEEPALIVE", "1"),
            ("MODELOPS_METRICS_DEADLINE", "2.5"),
            ("GITHUB_REPOSITORY", "acme/models"),
        ]);
        assert_eq!(e.mlflow_uri.as_deref(), Some("http://mlflow:5000"));
        assert_eq!(e.mlflow_credentials.token.as_deref(), Some("t0k"));
        assert_eq!(e.mlflow_credentials.username, None, "empty is unset");
        assert!(e.http_keep_alive);
        assert_eq!(e.metrics_deadline, Ok(Duration::from_millis(2500)));
        assert_eq!(
            e.github.var("GITHUB_REPOSITORY").as_deref(),
            Some("acme/models")
        );
        assert_eq!(e.github.var("HOME"), None);
    }

    #[test]
    fn unset_blank_and_malformed_values() {
        // (variables, MLflow URI, keep-alive, deadline in seconds or the error)
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Option<&'a str>,
            bool,
            Result<u64, &'a str>,
        );
        let cases: &[Case] = &[
            (&[], None, false, Ok(30)),
            (
                &[
                    ("MLFLOW_TRACKING_URI", "  "),
                    ("MODELOPS_HTTP_KEEPALIVE", "yes"),
                ],
                None,
                false,
                Ok(30),
            ),
            (
                &[("MODELOPS_METRICS_DEADLINE", "soon")],
                None,
                false,
                Err("MODELOPS_METRICS_DEADLINE=soon is not a positive number of seconds"),
            ),
            (
                &[("MODELOPS_METRICS_DEADLINE", "0")],
                None,
                false,
                Err("MODELOPS_METRICS_DEADLINE=0 is not a positive number of seconds"),
            ),
        ];
        for (vars, uri, keep_alive, deadline) in cases {
            let e = env(vars);
            assert_eq!(e.mlflow_uri.as_deref(), *uri, "{vars:?}");
            assert_eq!(e.http_keep_alive, *keep_alive, "{vars:?}");
            assert_eq!(
                e.metrics_deadline,
                deadline
                    .map(Duration::from_secs)
                    .map_err(str::to_string)
                    .clone(),
                "{vars:?}"
            );
        }
    }
}
