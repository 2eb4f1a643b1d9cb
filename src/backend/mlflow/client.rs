//! Sends [`Request`]s to an MLflow tracking server: credentials, timeouts,
//! retries for idempotent calls, and MLflow's errors in words. Credentials
//! never appear in anything this module prints or returns.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::request::{Method, Request};

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
    /// Base URL without credentials, ending in `/`.
    base: String,
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
    /// From the process environment.
    pub fn from_env() -> Credentials {
        let var = |k| std::env::var(k).ok().filter(|v: &String| !v.is_empty());
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
        let uri = uri.trim();
        let (scheme, rest) = uri
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
            .ok_or_else(|| {
                format!(
                    "tracking URI {} must start with http:// or https://",
                    redact(uri)
                )
            })?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(format!("tracking URI {} has no host", redact(uri)));
        }
        let mut base = format!("{scheme}://{host}/{path}");
        if !base.ends_with('/') {
            base.push('/');
        }
        let from_url = userinfo.map(|u| match u.split_once(':') {
            Some((user, pass)) => Auth::Basic(user.to_string(), pass.to_string()),
            None => Auth::Basic(u.to_string(), String::new()),
        });
        let auth = match (&creds.token, &creds.username, from_url) {
            (Some(t), _, _) => Auth::Bearer(t.clone()),
            (None, Some(user), _) => {
                Auth::Basic(user.clone(), creds.password.clone().unwrap_or_default())
            }
            (None, None, Some(a)) => a,
            (None, None, None) => Auth::None,
        };
        Ok(Endpoint { base, auth })
    }

    /// The base URL as it may be shown: never with credentials.
    pub fn shown(&self) -> &str {
        &self.base
    }
}

/// A URL with any `user:password@` replaced by `user:***@`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// A failed call, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached.
    #[error("cannot reach MLflow at {url}: {message}")]
    Connect {
        /// Base URL (no credentials).
        url: String,
        /// Why.
        message: String,
    },
    /// No answer in time.
    #[error("MLflow at {url} did not answer {path} within {secs} s")]
    Timeout {
        /// Base URL (no credentials).
        url: String,
        /// The call.
        path: String,
        /// The timeout.
        secs: u64,
    },
    /// MLflow answered with an error of its own.
    #[error("MLflow refused {path}: {error_code} ({status}): {message}")]
    Api {
        /// The call.
        path: String,
        /// HTTP status.
        status: u16,
        /// MLflow's `error_code`, such as `RESOURCE_DOES_NOT_EXIST`.
        error_code: String,
        /// MLflow's message.
        message: String,
    },
    /// An answer that is not MLflow's JSON (an HTML error page, a proxy).
    #[error("unexpected answer to {path} ({status}): {snippet}")]
    Unexpected {
        /// The call.
        path: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, as text.
        snippet: String,
    },
}

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
            ClientError::Connect { .. } | ClientError::Timeout { .. } => true,
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                *status >= 500
            }
        }
    }
}

/// How many times a call is tried at most.
pub const MAX_ATTEMPTS: u32 = 4;

/// Whether, and after how long, to try a call again: only idempotent calls,
/// only after a connection failure, a timeout or a 5xx, with exponential
/// backoff (0.2 s, 0.4 s, 0.8 s).
pub fn retry_delay(idempotent: bool, error: &ClientError, attempt: u32) -> Option<Duration> {
    (idempotent && error.transient() && attempt < MAX_ATTEMPTS)
        .then(|| Duration::from_millis(200 << (attempt - 1)))
}

/// MLflow's answer to a failed call, as an error.
pub fn error_of(path: &str, status: u16, body: &str) -> ClientError {
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("error_code").is_some() => ClientError::Api {
            path: path.to_string(),
            status,
            error_code: v["error_code"].as_str().unwrap_or("UNKNOWN").to_string(),
            message: v["message"].as_str().unwrap_or("").to_string(),
        },
        _ => {
            // An HTML page: its title, or its first words, tell most.
            let text = match (body.find("<title>"), body.find("</title>")) {
                (Some(a), Some(b)) if b > a => body[a + 7..b].to_string(),
                _ => body.chars().take(200).collect(),
            };
            ClientError::Unexpected {
                path: path.to_string(),
                status,
                snippet: text.split_whitespace().collect::<Vec<_>>().join(" "),
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
        // MODELOPS_HTTP_KEEPALIVE=1 keeps connections for reuse: only for
        // measuring the difference (bench/mlflow.sh), not for use.
        let keep_alive = std::env::var("MODELOPS_HTTP_KEEPALIVE").as_deref() == Ok("1");
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(if keep_alive { 16 } else { 0 })
            .tcp_nodelay(true)
            .user_agent(concat!("modelops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
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
        self.retrying(request.idempotent, || self.send_once(request))
    }

    /// GETs a file MLflow serves as it is, not as JSON (an artifact), from
    /// `relative_url` under the base URL; `path` names the call in errors.
    /// Retried like any idempotent call; an error answer is read as MLflow's.
    pub fn get_text(&self, relative_url: &str, path: &str) -> Result<String, ClientError> {
        self.retrying(true, || {
            let url = format!("{}{relative_url}", self.endpoint.base);
            let (status, body) = self.exchange(self.http.get(&url), path)?;
            if (200..300).contains(&status) {
                Ok(body)
            } else {
                Err(error_of(path, status, &body))
            }
        })
    }

    fn retrying<T>(
        &self,
        idempotent: bool,
        once: impl Fn() -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut attempt = 1;
        loop {
            match once() {
                Ok(v) => return Ok(v),
                Err(e) => match retry_delay(idempotent, &e, attempt) {
                    Some(wait) => {
                        std::thread::sleep(wait);
                        attempt += 1;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    fn send_once(&self, request: &Request) -> Result<Value, ClientError> {
        let url = format!("{}{}", self.endpoint.base, request.relative_url());
        let mut builder = match request.method {
            Method::Get => self.http.get(&url),
            Method::Post => self.http.post(&url),
            Method::Patch => self.http.patch(&url),
            Method::Delete => self.http.delete(&url),
        };
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let (status, body) = self.exchange(builder, request.path)?;
        if (200..300).contains(&status) {
            if body.trim().is_empty() {
                return Ok(Value::Object(Default::default()));
            }
            serde_json::from_str(&body).map_err(|_| error_of(request.path, status, &body))
        } else {
            Err(error_of(request.path, status, &body))
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
        let response = builder.send().map_err(|e| self.transport_error(path, &e))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .map_err(|e| self.transport_error(path, &e))?;
        Ok((status, body))
    }

    fn transport_error(&self, path: &str, e: &reqwest::Error) -> ClientError {
        if e.is_timeout() {
            return ClientError::Timeout {
                url: self.endpoint.base.clone(),
                path: path.to_string(),
                secs: self.timeout.as_secs(),
            };
        }
        // reqwest's own text can carry the URL; say what failed without it.
        let mut message = String::from(if e.is_connect() {
            "connection failed"
        } else {
            "request failed"
        });
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        ClientError::Connect {
            url: self.endpoint.base.clone(),
            message: redact(&message),
        }
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

        let err = Endpoint::new("ftp://alice:s3cret@h", &none).unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn urls_are_redacted() {
        let cases = [
            ("http://alice:s3cret@h:5000/x", "http://alice:***@h:5000/x"),
            ("http://h:5000/x", "http://h:5000/x"),
            ("https://tok@h", "https://tok:***@h"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want);
        }
    }

    #[test]
    fn only_idempotent_calls_retry_and_only_on_transient_errors() {
        let down = ClientError::Connect {
            url: "u".into(),
            message: "refused".into(),
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
            (true, &busy, MAX_ATTEMPTS, None),
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
        );
        assert_eq!(
            html.to_string(),
            "unexpected answer to nope (404): 404 Not Found"
        );
        assert!(html.code().is_none());
    }
}
