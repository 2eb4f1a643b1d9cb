//! Sends [`Request`]s to the GitHub REST API: where (from the environment a
//! workflow runner sets), with which token, with a timeout, retrying only
//! what is safe to retry, and GitHub's errors in words. The token never
//! appears in anything this module prints or returns.

use std::time::Duration;

use serde_json::Value;

use super::request::{RepoName, Request};
use crate::http::error::write_call_failure;
use crate::http::{ClientOptions, TransportError, redact, retry};

/// The token, which is sent and never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    /// `text` with every occurrence of the token replaced by `***`: for
    /// anything that came from outside (a server's message) and is shown.
    /// ([`redact::text`] with the token as the secret.)
    pub fn scrub(&self, text: &str) -> String {
        redact::text(text, &[&self.0])
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Where the API is, which repository, and the token: what a workflow
/// runner puts in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `GITHUB_API_URL`, without a trailing `/` (default
    /// `https://api.github.com`). Shown only through [`Settings::shown_api_url`].
    pub api_url: String,
    /// `GITHUB_REPOSITORY`.
    pub repo: RepoName,
    /// `GITHUB_TOKEN`.
    pub token: Token,
}

/// The API GitHub.com serves.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

impl Settings {
    /// From environment variables, read through `var`; a missing or
    /// malformed one is named in the error.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let api_url = api_url(var("GITHUB_API_URL"))?;
        let repo_text = var("GITHUB_REPOSITORY").ok_or(
            "GITHUB_REPOSITORY is not set: it names the repository as owner/name (a workflow runner sets it)",
        )?;
        let repo = RepoName::parse(&repo_text).ok_or_else(|| {
            format!("GITHUB_REPOSITORY={repo_text} is not of the form owner/name")
        })?;
        let token = var("GITHUB_TOKEN").ok_or(
            "GITHUB_TOKEN is not set: modelops comment needs a token that may write pull-request comments \
             (in a workflow: env GITHUB_TOKEN: ${{ github.token }} with permissions pull-requests: write)",
        )?;
        Ok(Settings {
            api_url,
            repo,
            token: Token::new(token.trim()),
        })
    }

    /// The API's URL as it may be shown: no userinfo, no query values.
    pub fn shown_api_url(&self) -> String {
        redact::url(&self.api_url)
    }
}

/// `GITHUB_API_URL`'s value, or GitHub.com's API, without a trailing `/`.
fn api_url(given: Option<String>) -> Result<String, String> {
    let api_url = given
        .unwrap_or_else(|| DEFAULT_API_URL.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(format!(
            "GITHUB_API_URL={} is not an http(s) URL",
            redact::url(&api_url)
        ));
    }
    Ok(api_url)
}

/// The API's URL and the token alone, for a call to a repository the
/// environment does not name (a `repository_dispatch` to the repository a
/// manifest names): `GITHUB_API_URL` and `GITHUB_TOKEN`; `needed_by` names
/// the caller when the token is missing.
pub fn api_from_vars(
    var: impl Fn(&str) -> Option<String>,
    needed_by: &str,
) -> Result<(String, Token), String> {
    let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
    let token = var("GITHUB_TOKEN").ok_or(format!("{needed_by} needs GITHUB_TOKEN"))?;
    Ok((api_url(var("GITHUB_API_URL"))?, Token::new(token.trim())))
}

/// A failed call, in words a user can act on; never with the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubError {
    /// No usable answer: the server could not be reached, the exchange
    /// broke off, or no answer came in time.
    Transport {
        /// Base URL, as shown.
        url: String,
        /// `METHOD /path`.
        call: String,
        /// What happened.
        error: TransportError,
    },
    /// GitHub answered with an error.
    Api {
        /// `METHOD /path`.
        call: String,
        /// HTTP status.
        status: u16,
        /// GitHub's `message`, with the `message` of each of its `errors`,
        /// redacted.
        message: String,
    },
    /// An answer that is not GitHub's JSON (a proxy's page), or a link the
    /// client will not follow.
    Unexpected {
        /// `METHOD /path`.
        call: String,
        /// HTTP status.
        status: u16,
        /// What it was, briefly, redacted.
        snippet: String,
    },
}

impl std::fmt::Display for GitHubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubError::Transport { url, call, error } => {
                write_call_failure(f, "GitHub", url, call, error)
            }
            GitHubError::Api {
                call,
                status,
                message,
            } => write!(
                f,
                "GitHub refused {call}: {message} (HTTP {status}){}",
                hint(*status)
            ),
            GitHubError::Unexpected {
                call,
                status,
                snippet,
            } => write!(f, "unexpected answer to {call} (HTTP {status}): {snippet}"),
        }
    }
}

impl std::error::Error for GitHubError {}

/// What to do about a status, when GitHub's message alone does not say.
fn hint(status: u16) -> &'static str {
    match status {
        401 => "; the token is not valid (GITHUB_TOKEN)",
        403 => {
            "; the token may not write pull-request comments: give the job `permissions: pull-requests: write` \
             (a pull request from a fork gets a read-only token)"
        }
        404 => "; the repository or pull request does not exist, or the token cannot see it",
        _ => "",
    }
}

impl GitHubError {
    fn transient(&self) -> bool {
        match self {
            GitHubError::Transport { error, .. } => error.transient(),
            GitHubError::Api { status, .. } | GitHubError::Unexpected { status, .. } => {
                retry::transient_status(*status)
            }
        }
    }
}

/// How calls are retried: three attempts, 1 s and 2 s apart.
pub const RETRY: retry::Policy = retry::Policy {
    max_attempts: 3,
    first_wait: Duration::from_secs(1),
};

/// Whether, and after how long, to try a call again: [`RETRY`] for an
/// idempotent call (not a POST) after a failure that may pass.
pub fn retry_delay(request: &Request, error: &GitHubError, attempt: u32) -> Option<Duration> {
    RETRY.delay(request.idempotent(), error.transient(), attempt)
}

/// GitHub's answer to a failed call, as an error: its JSON `message`
/// (`{"message": "Validation Failed", "errors": [{"message": "…"}]}`), or
/// the start of whatever else it was.
pub fn error_of(call: &str, status: u16, body: &str, token: &Token) -> GitHubError {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("message").and_then(Value::as_str).is_some() => {
            let mut message = v["message"].as_str().unwrap_or("").to_string();
            let details: Vec<&str> = v
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("message").and_then(Value::as_str).or(e.as_str()))
                .collect();
            if !details.is_empty() {
                message = format!("{message}: {}", details.join("; "));
            }
            GitHubError::Api {
                call: call.to_string(),
                status,
                message: token.scrub(&message),
            }
        }
        _ => GitHubError::Unexpected {
            call: call.to_string(),
            status,
            snippet: redact::snippet(body, &[&token.0]),
        },
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The JSON body (`null` when there was none, as for a DELETE).
    pub body: Value,
    /// The `Link` header, when the answer is a page of a list.
    pub link: Option<String>,
}

/// A client for one repository.
pub struct GitHub {
    http: reqwest::blocking::Client,
    settings: Settings,
    timeout: Duration,
}

impl GitHub {
    /// A client with a timeout on every call.
    pub fn new(settings: Settings, timeout: Duration) -> Result<GitHub, String> {
        // Redirects are not followed: one to another host would carry the token there.
        let http = crate::http::client(&ClientOptions::new(timeout)).map_err(|e| e.to_string())?;
        Ok(GitHub {
            http,
            settings,
            timeout,
        })
    }

    /// Which repository, and where.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Sends a call, retrying as [`retry_delay`] allows.
    pub fn send(&self, request: &Request) -> Result<Response, GitHubError> {
        RETRY.run(request.idempotent(), GitHubError::transient, || {
            self.send_once(request)
        })
    }

    fn send_once(&self, request: &Request) -> Result<Response, GitHubError> {
        let url = crate::http::url::join(&self.settings.api_url, &request.path);
        let mut builder = request
            .method
            .request(&self.http, &url)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .bearer_auth(&self.settings.token.0);
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let call = request.describe();
        let transport = |error| GitHubError::Transport {
            url: self.settings.shown_api_url(),
            call: call.clone(),
            error,
        };
        let response = builder
            .send()
            .map_err(|e| transport(TransportError::of(&e, self.timeout)))?;
        let status = response.status().as_u16();
        let link = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response
            .text()
            .map_err(|e| transport(TransportError::of(&e, self.timeout)))?;
        if !(200..300).contains(&status) {
            return Err(error_of(&call, status, &text, &self.settings.token));
        }
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|_| error_of(&call, status, &text, &self.settings.token))?
        };
        Ok(Response { body, link })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::request::{create_comment, update_comment};

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn settings_from_the_environment() {
        let s = Settings::from_vars(vars(&[
            ("GITHUB_REPOSITORY", "acme/models"),
            ("GITHUB_TOKEN", "ghs_secret"),
        ]))
        .unwrap();
        assert_eq!(s.api_url, "https://api.github.com");
        assert_eq!(s.repo.to_string(), "acme/models");
        assert!(!format!("{s:?}").contains("ghs_secret"));

        let s = Settings::from_vars(vars(&[
            ("GITHUB_API_URL", "https://ghe.example/api/v3/"),
            ("GITHUB_REPOSITORY", "acme/models"),
            ("GITHUB_TOKEN", "t"),
        ]))
        .unwrap();
        assert_eq!(s.api_url, "https://ghe.example/api/v3");

        let rows: [(&[(&str, &str)], &str); 5] = [
            (&[("GITHUB_TOKEN", "t")], "GITHUB_REPOSITORY is not set"),
            (
                &[("GITHUB_REPOSITORY", "acme/models"), ("GITHUB_TOKEN", " ")],
                "GITHUB_TOKEN is not set",
            ),
            (
                &[("GITHUB_REPOSITORY", "acme/models")],
                "GITHUB_TOKEN is not set",
            ),
            (
                &[("GITHUB_REPOSITORY", "acme"), ("GITHUB_TOKEN", "t")],
                "GITHUB_REPOSITORY=acme is not of the form owner/name",
            ),
            (
                &[
                    ("GITHUB_API_URL", "ftp://u:pw@x"),
                    ("GITHUB_REPOSITORY", "a/b"),
                    ("GITHUB_TOKEN", "t"),
                ],
                "GITHUB_API_URL=ftp://u:pw@x is not",
            ),
        ];
        for (env, want) in rows {
            let err = Settings::from_vars(vars(env)).unwrap_err();
            // An API URL with credentials in it is one exception to quoting
            // as given: its password is not shown.
            assert!(
                err.starts_with(want)
                    || (want.starts_with("GITHUB_API_URL") && !err.contains("pw")),
                "{err}"
            );
        }
    }

    #[test]
    fn github_errors_in_words() {
        let token = Token::new("ghp_abc123");
        let rows = [
            (
                401,
                r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
                "GitHub refused POST /x: Bad credentials (HTTP 401); the token is not valid (GITHUB_TOKEN)",
            ),
            (
                422,
                r#"{"message":"Validation Failed","errors":[{"resource":"IssueComment","code":"custom","field":"body","message":"body is too long (maximum is 65536 characters)"}]}"#,
                "GitHub refused POST /x: Validation Failed: body is too long (maximum is 65536 characters) (HTTP 422)",
            ),
            (
                404,
                r#"{"message":"Not Found"}"#,
                "GitHub refused POST /x: Not Found (HTTP 404); the repository or pull request does not exist, or the token cannot see it",
            ),
            (
                502,
                "<html><body>Bad   gateway</body></html>",
                "unexpected answer to POST /x (HTTP 502): <html><body>Bad gateway</body></html>",
            ),
            (
                400,
                r#"{"message":"token ghp_abc123 is odd"}"#,
                "GitHub refused POST /x: token *** is odd (HTTP 400)",
            ),
        ];
        for (status, body, want) in rows {
            assert_eq!(error_of("POST /x", status, body, &token).to_string(), want);
        }
        assert!(
            error_of(
                "POST /x",
                403,
                r#"{"message":"Resource not accessible by integration"}"#,
                &token
            )
            .to_string()
            .contains("pull-requests: write")
        );
    }

    #[test]
    fn only_idempotent_calls_are_retried_and_only_when_transient() {
        let repo = RepoName::parse("a/b").unwrap();
        let post = create_comment(&repo, 1, "x");
        let patch = update_comment(&repo, 1, "x");
        let api = |status| GitHubError::Api {
            call: "c".into(),
            status,
            message: "m".into(),
        };
        let timeout = GitHubError::Transport {
            url: "u".into(),
            call: "c".into(),
            error: TransportError::Timeout {
                after: Duration::from_secs(30),
            },
        };
        let rows = [
            (&patch, api(502), 1, Some(1)),
            (&patch, api(502), 2, Some(2)),
            (&patch, api(502), 3, None),
            (&patch, timeout.clone(), 1, Some(1)),
            (&patch, api(404), 1, None),
            (&patch, api(422), 1, None),
            (&post, api(502), 1, None),
            (&post, timeout, 1, None),
        ];
        for (request, error, attempt, want) in rows {
            assert_eq!(
                retry_delay(request, &error, attempt),
                want.map(Duration::from_secs),
                "{} {error} attempt {attempt}",
                request.describe()
            );
        }
    }

    #[test]
    fn the_token_is_scrubbed() {
        let t = Token::new("s3cr3t");
        assert_eq!(t.scrub("a s3cr3t b s3cr3t"), "a *** b ***");
        assert_eq!(Token::new("").scrub("abc"), "abc");
        assert_eq!(format!("{t:?}"), "Token(***)");
    }
}
