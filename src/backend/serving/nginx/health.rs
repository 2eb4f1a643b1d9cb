//! nginx's health check: before a rollback sends all of a model's traffic
//! to one version, that version's upstream must answer `GET <health_path>`
//! with a 2xx within [`TIMEOUT`]. The address comes from the target's
//! config (the base revision's, on a pull request), never from a manifest.

use std::time::Duration;

use crate::http::{ClientOptions, TransportError};

/// How long an upstream has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Checks `address` (`host:port`, as in the target's upstreams) on `path`:
/// `Ok` says what answered, `Err` which check failed and how (no response
/// body is ever quoted).
pub fn check(address: &str, path: &str) -> Result<String, String> {
    if address.starts_with("unix:") {
        return Err(format!(
            "upstream {address}: a unix socket cannot be health-checked over HTTP"
        ));
    }
    let url = format!("http://{address}{path}");
    let client = crate::http::client(&ClientOptions {
        connect_timeout: TIMEOUT,
        // The upstream is where nginx sends traffic, not via a proxy.
        proxy: false,
        ..ClientOptions::new(TIMEOUT)
    })
    .map_err(|_| format!("GET {url}: no HTTP client"))?;
    let answer = client
        .get(&url)
        .send()
        .map_err(|e| TransportError::of(&e, TIMEOUT));
    match answer {
        Ok(answer) if answer.status().is_success() => {
            Ok(format!("GET {url} answered {}", answer.status().as_u16()))
        }
        Ok(answer) => Err(format!("GET {url} answered {}", answer.status().as_u16())),
        Err(e @ TransportError::Timeout { .. }) => Err(format!("GET {url}: {e}")),
        Err(TransportError::Unreachable { .. }) => {
            Err(format!("GET {url}: connection failed (nothing listening?)"))
        }
        Err(TransportError::Malformed { .. }) => Err(format!("GET {url}: not a valid URL")),
        Err(_) => Err(format!("GET {url}: the request failed")),
    }
}
