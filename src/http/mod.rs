//! The one HTTP layer every client uses (MLflow, GitHub, Prometheus, the
//! retraining webhook, the latency benchmark, nginx's health check): a
//! client builder with timeouts, one retry rule, one typed transport error,
//! one redaction policy, and URL handling that keeps credentials out of
//! sight and query strings intact.
//!
//! - [`client`] builds a `reqwest` client from [`ClientOptions`].
//! - [`error::TransportError`] says what happened to an exchange
//!   (timeout, unreachable, refused with a status, malformed answer),
//!   decided from `reqwest`'s typed error, never from its text.
//! - [`retry`] decides whether and when a failed call is tried again.
//! - [`redact`] is the redaction policy for every URL, error and body shown.
//! - [`url`] takes credentials out of a URL and joins paths onto a base.
//! - [`bounded`] sends independent calls side by side, a bounded number at once.

pub mod bounded;
pub mod error;
pub mod redact;
pub mod retry;
pub mod url;

use std::time::Duration;

pub use error::TransportError;

/// HTTP method of a call a client builds as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST with a body.
    Post,
    /// PATCH with a body.
    Patch,
    /// DELETE (MLflow reads a body with it).
    Delete,
}

impl Method {
    /// As written in HTTP.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// A request builder for `url` with this method.
    pub fn request(
        self,
        http: &reqwest::blocking::Client,
        url: &str,
    ) -> reqwest::blocking::RequestBuilder {
        match self {
            Method::Get => http.get(url),
            Method::Post => http.post(url),
            Method::Patch => http.patch(url),
            Method::Delete => http.delete(url),
        }
    }
}

/// How a client is built. [`ClientOptions::new`] gives the defaults every
/// client starts from: redirects not followed (a redirect to another host
/// would carry credentials there, or measure another URL), connections
/// reused, the system proxy used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Limit on a whole exchange, from connecting to the end of the body.
    pub timeout: Duration,
    /// Limit on connecting: the timeout, at most 10 s.
    pub connect_timeout: Duration,
    /// Whether idle connections are kept for reuse.
    pub keep_alive: bool,
    /// Whether redirects are followed (up to reqwest's limit of 10).
    pub follow_redirects: bool,
    /// Whether the system's proxy settings apply.
    pub proxy: bool,
}

impl ClientOptions {
    /// The defaults, with `timeout`.
    pub fn new(timeout: Duration) -> ClientOptions {
        ClientOptions {
            timeout,
            connect_timeout: timeout.min(Duration::from_secs(10)),
            keep_alive: true,
            follow_redirects: false,
            proxy: true,
        }
    }
}

/// A blocking client as `options` say, with modelops' user agent and
/// `TCP_NODELAY`.
pub fn client(options: &ClientOptions) -> Result<reqwest::blocking::Client, TransportError> {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .user_agent(concat!("modelops/", env!("CARGO_PKG_VERSION")))
        .redirect(if options.follow_redirects {
            reqwest::redirect::Policy::default()
        } else {
            reqwest::redirect::Policy::none()
        });
    if !options.keep_alive {
        builder = builder.pool_max_idle_per_host(0);
    }
    if !options.proxy {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| TransportError::Setup {
        cause: error::cause(&e),
    })
}

/// Sends `builder` and reads the whole answer: its status and body as text.
/// Any status is an answer; what it means is the caller's to say.
pub fn exchange(
    builder: reqwest::blocking::RequestBuilder,
    timeout: Duration,
) -> Result<(u16, String), TransportError> {
    let response = builder
        .send()
        .map_err(|e| TransportError::of(&e, timeout))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .map_err(|e| TransportError::of(&e, timeout))?;
    Ok((status, body))
}
