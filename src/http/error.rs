//! What happened to an HTTP exchange, as a type: decided from `reqwest`'s
//! error kinds (`is_timeout`, `is_connect`) and the status, never by
//! searching an error's text. Its words never hold a URL (reqwest's own
//! text does; only its causes are used) and pass through
//! [`super::redact::text`].

use std::time::Duration;

/// Why an exchange gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the time allowed.
    #[error("no answer within {}", duration(*after))]
    Timeout {
        /// The limit that passed.
        after: Duration,
    },
    /// No connection: nothing listening, no route, a name that does not
    /// resolve, a TLS handshake that failed.
    #[error("connection failed{}", with(cause))]
    Unreachable {
        /// What the system said, such as `connection refused`.
        cause: String,
    },
    /// Connected, but the exchange broke off (a reset, a body cut short).
    #[error("request failed{}", with(cause))]
    Interrupted {
        /// What broke.
        cause: String,
    },
    /// The server answered with an error status. The body is not kept: what
    /// a server answers may be shown only through a client that knows its
    /// format (MLflow's and GitHub's JSON errors), redacted.
    #[error("HTTP {status}{}", reason(*status))]
    Refused {
        /// The status.
        status: u16,
    },
    /// The server answered, but not in the form the client reads.
    #[error("malformed answer (HTTP {status}): {why}")]
    Malformed {
        /// The status.
        status: u16,
        /// What is wrong with it, redacted.
        why: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client{}", with(cause))]
    Setup {
        /// Why.
        cause: String,
    },
}

impl TransportError {
    /// The kind of `e`, from reqwest's own classification; `timeout` is the
    /// limit the client was built with, for the message.
    pub fn of(e: &reqwest::Error, timeout: Duration) -> TransportError {
        if e.is_timeout() {
            TransportError::Timeout { after: timeout }
        } else if e.is_connect() {
            TransportError::Unreachable { cause: cause(e) }
        } else if let Some(status) = e.status() {
            TransportError::Refused {
                status: status.as_u16(),
            }
        } else if e.is_builder() {
            TransportError::Malformed {
                status: 0,
                why: "the request could not be built (not a valid URL?)".to_string(),
            }
        } else {
            TransportError::Interrupted { cause: cause(e) }
        }
    }

    /// Whether trying again may help: no answer at all, or a 5xx.
    pub fn transient(&self) -> bool {
        match self {
            TransportError::Timeout { .. }
            | TransportError::Unreachable { .. }
            | TransportError::Interrupted { .. } => true,
            TransportError::Refused { status } | TransportError::Malformed { status, .. } => {
                super::retry::transient_status(*status)
            }
            TransportError::Setup { .. } => false,
        }
    }

    /// Whether nothing answered: the server is down or too slow, so a
    /// caller need not ask it again in this run.
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Timeout { .. } | TransportError::Unreachable { .. }
        )
    }
}

/// A call to a named server that got no usable answer, in words:
/// `{server} at {url} did not answer {call} within {limit}` for a timeout,
/// else `cannot reach {server} at {url} ({call}): {error}`.
pub fn write_call_failure(
    f: &mut std::fmt::Formatter<'_>,
    server: &str,
    url: &str,
    call: &str,
    error: &TransportError,
) -> std::fmt::Result {
    match error {
        TransportError::Timeout { after } => write!(
            f,
            "{server} at {url} did not answer {call} within {}",
            duration(*after)
        ),
        error => write!(f, "cannot reach {server} at {url} ({call}): {error}"),
    }
}

/// What failed beneath `e`, in words: its innermost cause, an OS error by
/// its kind (`connection refused`, the same on every platform). reqwest's
/// own text names the URL, so it is not used.
pub fn cause(e: &reqwest::Error) -> String {
    let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        innermost = Some(s);
        source = s.source();
    }
    let text = match innermost {
        Some(s) => match s.downcast_ref::<std::io::Error>() {
            Some(io) if io.raw_os_error().is_some() => io.kind().to_string(),
            _ => s.to_string(),
        },
        None => String::new(),
    };
    super::redact::text(&text, &[])
}

/// `200 ms`, `2 s`, `1.5 s`.
pub fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64())
    }
}

/// ` Internal Server Error` for 500, nothing for a status without a name.
fn reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn with(cause: &str) -> String {
    if cause.is_empty() {
        String::new()
    } else {
        format!(": {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_in_words() {
        let rows = [
            (
                TransportError::Timeout {
                    after: Duration::from_millis(200),
                },
                "no answer within 200 ms",
            ),
            (
                TransportError::Timeout {
                    after: Duration::from_secs(10),
                },
                "no answer within 10 s",
            ),
            (
                TransportError::Unreachable {
                    cause: "connection refused".into(),
                },
                "connection failed: connection refused",
            ),
            (
                TransportError::Unreachable {
                    cause: String::new(),
                },
                "connection failed",
            ),
            (
                TransportError::Refused { status: 503 },
                "HTTP 503 Service Unavailable",
            ),
            (TransportError::Refused { status: 599 }, "HTTP 599"),
        ];
        for (e, want) in rows {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn a_refused_connection_is_unreachable_and_named_by_its_kind() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let http = super::super::client(&super::super::ClientOptions::new(Duration::from_secs(5)))
            .unwrap();
        let e = http
            .get(format!("http://u:s3cret@127.0.0.1:{port}/x?token=t0k"))
            .send()
            .unwrap_err();
        let e = TransportError::of(&e, Duration::from_secs(5));
        assert_eq!(
            e,
            TransportError::Unreachable {
                cause: "connection refused".into()
            }
        );
        assert!(e.unreachable() && e.transient());
    }
}
