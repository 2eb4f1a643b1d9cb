//! Sends [`Request`]s to an MLflow tracking server: credentials, timeouts,
//! retries for idempotent calls, and MLflow's errors in words. Credentials
//! never appear in anything this module prints or returns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::request::Request;
use crate::http::error::write_call_failure;
use crate::http::url::ServerUrl;
use crate::http::{ClientOptions, TransportError, redact, retry};

/// How the client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    None,
    /// `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, or `user:password@` in the URL.
    Basic(String, String),
    /// `MLFLOW_TRACKING_TOKEN`.
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic(user, _) => write!(f, "Basic({user}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Where the tracking server is, and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL without credentials; its query string, if any, is kept and
    /// sent with every call.
    url: ServerUrl,
    auth: Auth,
}

/// Environment variables an endpoint reads (MLflow's own names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `MLFLOW_TRACKING_USERNAME`
    pub username: Option<String>,
    /// `MLFLOW_TRACKING_PASSWORD`
    pub password: Option<String>,
    /// `MLFLOW_TRACKING_TOKEN`
    pub token: Option<String>,
}

impl Credentials {
    /// From environment variables, read through `var`; an empty one is unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Credentials {
        let var = |k| var(k).filter(|v: &String| !v.is_empty());
        Credentials {
            username: var("MLFLOW_TRACKING_USERNAME"),
            password: var("MLFLOW_TRACKING_PASSWORD"),
            token: var("MLFLOW_TRACKING_TOKEN"),
        }
    }
}

impl Endpoint {
    /// Parses a tracking URI. Credentials in the URL (`user:password@`) are
    /// taken out of it; explicit credentials win over them, a token over both.
    pub fn new(uri: &str, creds: &Credentials) -> Result<Endpoint, String> {
        let url = ServerUrl::parse(uri)
            .map_err(|e| format!("tracking URI {} {e}", redact::url(uri.trim())))?;
        let from_url = url
            .credentials
            .clone()
            .map(|(user, pass)| Auth::Basic(user, pass));
        let auth = match (&creds.token, &creds.username, from_url) {
            (Some(t), _, _) => Auth::Bearer(t.clone()),
            (None, Some(user), _) => {
                Auth::Basic(user.clone(), creds.password.clone().unwrap_or_default())
            }
            (None, None, Some(a)) => a,
            (None, None, None) => Auth::None,
        };
        Ok(Endpoint { url, auth })
    }

    /// The base URL as it may be shown, ending in `/`: never with
    /// credentials, query values hidden.
    pub fn shown(&self) -> String {
        match self.url.query {
            Some(_) => self.url.shown(),
            None => format!("{}/", self.url.base),
        }
    }

    /// What must never be shown: the token or the password sent.
    fn secrets(&self) -> Vec<&str> {
        match &self.auth {
            Auth::None => Vec::new(),
            Auth::Basic(_, pass) => vec![pass.as_str()],
            Auth::Bearer(token) => vec![token.as_str()],
        }
    }
}

/// A failed call, in words a user can act on.
#[derive(Debug)]
pub enum ClientError {
    /// No usable answer: the server could not be reached, or did not
    /// answer in time.
    Connect {
        /// Base URL, as shown.
        url: String,
        /// The call.
        path: String,
        /// What happened.
        error: TransportError,
    },
    /// MLflow answered with an error of its own.
    Api {
        /// The call.
        path: String,
        /// HTTP status.
        status: u16,
        /// MLflow's `error_code`, such as `RESOURCE_DOES_NOT_EXIST`.
        error_code: String,
        /// MLflow's message, redacted.
        message: String,
    },
    /// An answer that is not MLflow's JSON (an HTML error page, a proxy),
    /// or a file that cannot be read.
    Unexpected {
        /// The call.
        path: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, as text, redacted.
        snippet: String,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { url, path, error } => {
                write_call_failure(f, "MLflow", url, path, error)
            }
            ClientError::Api {
                path,
                status,
                error_code,
                message,
            } => write!(
                f,
                "MLflow refused {path}: {error_code} ({status}): {message}"
            ),
            ClientError::Unexpected {
                path,
                status,
                snippet,
            } => write!(f, "unexpected answer to {path} ({status}): {snippet}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// MLflow's error code, when MLflow gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { error_code, .. } => Some(error_code),
            _ => None,
        }
    }

    fn transient(&self) -> bool {
        match self {
            ClientError::Connect { error, .. } => error.transient(),
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                retry::transient_status(*status)
            }
        }
    }
}

/// How calls are retried: four attempts, 0.2 s, 0.4 s, 0.8 s apart.
pub const RETRY: retry::Policy = retry::Policy {
    max_attempts: 4,
    first_wait: Duration::from_millis(200),
};

/// How many times a call is tried at most.
pub const MAX_ATTEMPTS: u32 = RETRY.max_attempts;

/// Whether, and after how long, to try a call again: [`RETRY`] for an
/// idempotent call after a failure that may pass.
pub fn retry_delay(idempotent: bool, error: &ClientError, attempt: u32) -> Option<Duration> {
    RETRY.delay(idempotent, error.transient(), attempt)
}

/// MLflow's answer to a failed call, as an error; whatever of the body is
/// shown is redacted, `secrets` (what was sent) included.
pub fn error_of(path: &str, status: u16, body: &str, secrets: &[&str]) -> ClientError {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("error_code").is_some() => ClientError::Api {
            path: path.to_string(),
            status,
            error_code: v["error_code"].as_str().unwrap_or("UNKNOWN").to_string(),
            message: redact::text(v["message"].as_str().unwrap_or(""), secrets),
        },
        _ => {
            // An HTML page: its title, or its first words, tell most.
            let shown = match (body.find("<title>"), body.find("</title>")) {
                (Some(a), Some(b)) if b > a => &body[a + 7..b],
                _ => body,
            };
            ClientError::Unexpected {
                path: path.to_string(),
                status,
                snippet: redact::snippet(shown, secrets),
            }
        }
    }
}

/// A client for one tracking server.
pub struct Client {
    http: reqwest::blocking::Client,
    endpoint: Endpoint,
    timeout: Duration,
    sent: AtomicUsize,
}

impl Client {
    /// A client with a timeout on every call. Connections are not reused:
    /// MLflow answers a reused keep-alive connection about 40 ms slower
    /// (it writes headers and body in two sends, which meets Nagle's
    /// algorithm and delayed ACKs), so a fresh connection is faster.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Result<Client, String> {
        Client::with_keep_alive(endpoint, timeout, false)
    }

    /// [`Client::new`], keeping connections for reuse when `keep_alive`
    /// (`MODELOPS_HTTP_KEEPALIVE=1`): only for measuring the difference
    /// (bench/mlflow.sh), not for use.
    pub fn with_keep_alive(
        endpoint: Endpoint,
        timeout: Duration,
        keep_alive: bool,
    ) -> Result<Client, String> {
        let http = crate::http::client(&ClientOptions {
            keep_alive,
            follow_redirects: true,
            ..ClientOptions::new(timeout)
        })
        .map_err(|e| e.to_string())?;
        Ok(Client {
            http,
            endpoint,
            timeout,
            sent: AtomicUsize::new(0),
        })
    }

    /// The server, for messages.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// HTTP requests sent so far, retries included.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Sends a call, retrying as [`retry_delay`] allows; returns MLflow's JSON answer.
    pub fn send(&self, request: &Request) -> Result<Value, ClientError> {
        RETRY.run(request.idempotent, ClientError::transient, || {
            self.send_once(request)
        })
    }

    /// GETs a file MLflow serves as it is, not as JSON (an artifact), from
    /// `relative_url` under the base URL; `path` names the call in errors.
    /// Retried like any idempotent call; an error answer is read as MLflow's.
    pub fn get_text(&self, relative_url: &str, path: &str) -> Result<String, ClientError> {
        RETRY.run(true, ClientError::transient, || {
            let url = self.endpoint.url.join(relative_url);
            let (status, body) = self.exchange(self.http.get(&url), path)?;
            if (200..300).contains(&status) {
                Ok(body)
            } else {
                Err(error_of(path, status, &body, &self.endpoint.secrets()))
            }
        })
    }

    fn send_once(&self, request: &Request) -> Result<Value, ClientError> {
        let url = self.endpoint.url.join(&request.relative_url());
        let mut builder = request.method.request(&self.http, &url);
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let (status, body) = self.exchange(builder, request.path)?;
        let secrets = self.endpoint.secrets();
        if (200..300).contains(&status) {
            if body.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            serde_json::from_str(&body).map_err(|_| error_of(request.path, status, &body, &secrets))
        } else {
            Err(error_of(request.path, status, &body, &secrets))
        }
    }

    /// Sends with credentials; the status and the body as text.
    fn exchange(
        &self,
        builder: reqwest::blocking::RequestBuilder,
        path: &str,
    ) -> Result<(u16, String), ClientError> {
        let builder = match &self.endpoint.auth {
            Auth::None => builder,
            Auth::Basic(user, pass) => builder.basic_auth(user, Some(pass)),
            Auth::Bearer(token) => builder.bearer_auth(token),
        };
        self.sent.fetch_add(1, Ordering::Relaxed);
        crate::http::exchange(builder, self.timeout).map_err(|error| ClientError::Connect {
            url: self.endpoint.shown(),
            path: path.to_string(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_take_credentials_out_of_urls() {
        let none = Credentials::default();
        let e = Endpoint::new("http://alice:s3cret@127.0.0.1:5000", &none).unwrap();
        assert_eq!(e.shown(), "http://127.0.0.1:5000/");
        assert_eq!(e.auth, Auth::Basic("alice".into(), "s3cret".into()));
        assert!(!format!("{e:?}").contains("s3cret"));

        let creds = Credentials {
            username: Some("bob".into()),
            password: Some("pw".into()),
            token: None,
        };
        assert_eq!(
            Endpoint::new("https://mlflow.example/prefix", &creds)
                .unwrap()
                .auth,
            Auth::Basic("bob".into(), "pw".into())
        );
        assert_eq!(
            Endpoint::new("https://mlflow.example/prefix", &creds)
                .unwrap()
                .shown(),
            "https://mlflow.example/prefix/"
        );

        let token = Credentials {
            token: Some("tok".into()),
            ..creds
        };
        let e = Endpoint::new("http://u:p@h", &token).unwrap();
        assert_eq!(e.auth, Auth::Bearer("tok".into()));
        assert!(!format!("{e:?}").contains("tok\""));

        // A password with `/`, and a token in the query string: kept for
        // sending, never shown.
        let q = Endpoint::new("https://u:pa/ss@h/mlflow?token=t%2Fk", &none).unwrap();
        assert_eq!(q.shown(), "https://h/mlflow/?token=***");
        assert_eq!(q.auth, Auth::Basic("u".into(), "pa/ss".into()));
        assert_eq!(
            q.url
                .join(&crate::backend::mlflow::request::get_run("r").relative_url()),
            "https://h/mlflow/api/2.0/mlflow/runs/get?run_id=r&token=t%2Fk"
        );
        assert!(!format!("{q:?}").contains("pa/ss") && !format!("{q:?}").contains("t%2Fk"));

        let err = Endpoint::new("ftp://alice:s3cret@h", &none).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn only_idempotent_calls_retry_and_only_on_transient_errors() {
        let down = ClientError::Connect {
            url: "u".into(),
            path: "p".into(),
            error: TransportError::Unreachable {
                cause: "connection refused".into(),
            },
        };
        let busy = ClientError::Api {
            path: "p".into(),
            status: 503,
            error_code: "X".into(),
            message: String::new(),
        };
        let refused = ClientError::Api {
            path: "p".into(),
            status: 400,
            error_code: "INVALID_PARAMETER_VALUE".into(),
            message: String::new(),
        };
        let cases = [
            (true, &down, 1, Some(200)),
            (true, &down, 2, Some(400)),
            (true, &busy, 3, Some(800)),
            (true, &busy, RETRY.max_attempts, None),
            (false, &down, 1, None),
            (true, &refused, 1, None),
        ];
        for (idempotent, error, attempt, want) in cases {
            assert_eq!(
                retry_delay(idempotent, error, attempt).map(|d| d.as_millis() as u64),
                want,
                "{error} attempt {attempt}"
            );
        }
    }

    #[test]
    fn mlflow_errors_and_html_pages_are_read() {
        let e = error_of(
            "registered-models/get",
            404,
            r#"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=x not found"}"#,
            &[],
        );
        assert_eq!(e.code(), Some("RESOURCE_DOES_NOT_EXIST"));
        assert_eq!(
            e.to_string(),
            "MLflow refused registered-models/get: RESOURCE_DOES_NOT_EXIST (404): Registered Model with name=x not found"
        );
        let html = error_of(
            "nope",
            404,
            "<!doctype html><html><head><title>404 Not Found</title></head><body>x</body></html>",
            &[],
        );
        assert_eq!(
            html.to_string(),
            "unexpected answer to nope (404): 404 Not Found"
        );
        assert!(html.code().is_none());
        // A proxy that echoes the request's headers, and MLflow quoting the token.
        let echoed = error_of(
            "x",
            401,
            "Unauthorized. Request headers:\nAuthorization: Bearer tok-123\nHost: h",
            &["tok-123"],
        );
        assert!(!echoed.to_string().contains("tok-123"), "{echoed}");
        let quoted = error_of(
            "x",
            400,
            r#"{"error_code": "BAD", "message": "token tok-123 rejected"}"#,
            &["tok-123"],
        );
        assert_eq!(
            quoted.to_string(),
            "MLflow refused x: BAD (400): token *** rejected"
        );
    }
}
