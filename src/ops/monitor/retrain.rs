//! Retraining triggers: a webhook POST or a GitHub `repository_dispatch`.

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::backend::env::GitHubEnv;
use crate::github::{
    self,
    client::{GitHub, GitHubError},
    request::RepoName,
};
use crate::http::{ClientOptions, TransportError, redact};
use crate::manifest::deployment::RetrainTrigger;

/// The kind of retraining trigger a signal stands for.
pub(super) fn trigger_kind(signal: &str) -> &'static str {
    match signal {
        "feature_drift" | "prediction_distribution" => "drift",
        "schedule" => "scheduled",
        "dataset" => "data",
        _ => "performance",
    }
}

/// Sends a retraining trigger through the HTTP layer: a webhook POST, or
/// a GitHub `repository_dispatch` (through the GitHub client, to the API and
/// with the token `github` gives) with the payload as `client_payload`. A
/// server's answer is never quoted but GitHub's own message, redacted.
pub(super) fn fire(
    trigger: &RetrainTrigger,
    payload: &serde_json::Value,
    github: &GitHubEnv,
) -> Result<()> {
    const TIMEOUT: Duration = Duration::from_secs(10);
    if let Some(url) = &trigger.webhook {
        let shown = redact::url(url);
        let client = crate::http::client(&ClientOptions::new(TIMEOUT))?;
        match crate::http::exchange(client.post(url).json(payload), TIMEOUT) {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((status, _)) => bail!("webhook {shown}: {}", TransportError::Refused { status }),
            Err(e) => bail!("webhook {shown}: {e}"),
        }
    }
    if let Some(repo) = &trigger.repository_dispatch {
        let (api_url, token) =
            github::client::api_from_vars(|k| github.var(k), "repository_dispatch")
                .map_err(anyhow::Error::msg)?;
        let name = RepoName::parse(repo).with_context(|| {
            format!("repository_dispatch to {repo}: not of the form owner/name")
        })?;
        let event_type = trigger.event_type.as_deref().unwrap_or("retrain");
        let request = github::request::repository_dispatch(&name, event_type, payload);
        let settings = github::client::Settings {
            api_url,
            repo: name,
            token,
        };
        let client = GitHub::new(settings, TIMEOUT).map_err(anyhow::Error::msg)?;
        match client.send(&request) {
            Ok(_) => {}
            Err(
                GitHubError::Api {
                    status, message, ..
                }
                | GitHubError::Unexpected {
                    status,
                    snippet: message,
                    ..
                },
            ) => {
                let status = reqwest::StatusCode::from_u16(status)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|_| status.to_string());
                bail!("repository_dispatch to {repo}: GitHub answered {status}: {message}")
            }
            Err(e) => bail!("repository_dispatch to {repo}: {e}"),
        }
    }
    Ok(())
}
