//! nginx's health check and probe. The health check: before a rollback
//! sends all of a model's traffic to one version, that version's upstream
//! must answer `GET <health_path>` with a 2xx within [`TIMEOUT`]. The probe:
//! one `GET` through the model's front door (its listen address), whose
//! answer names the version that gave it in the `x-modelops-version` header
//! the fragment adds. Addresses come from the target's config (the base
//! revision's, on a pull request), never from a manifest.

use std::time::Duration;

use crate::backend::serving::VERSION_HEADER;
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
    let answer = get(&url)?;
    let status = answer.status().as_u16();
    if answer.status().is_success() {
        Ok(format!("GET {url} answered {status}"))
    } else {
        Err(format!("GET {url} answered {status}"))
    }
}

/// Sends one `GET <path>` to the front door nginx serves a model on
/// (`listen`, as configured) and returns the version named by the answer's
/// `x-modelops-version` header; `Err` says what failed: no answer, a status
/// other than 2xx (nginx adds the header to its own errors too), no header.
pub fn probe(listen: &str, path: &str) -> Result<String, String> {
    let address = front_door(listen)?;
    let url = format!("http://{address}{path}");
    let answer = get(&url)?;
    let status = answer.status().as_u16();
    if !answer.status().is_success() {
        return Err(format!("GET {url} answered {status}"));
    }
    let version = answer
        .headers()
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match version {
        Some(v) => Ok(v.to_string()),
        None => Err(format!(
            "GET {url} answered {status} without a {VERSION_HEADER} header"
        )),
    }
}

/// Where to connect for a `listen` address: a bare port or a wildcard host
/// (`8080`, `*:8080`, `0.0.0.0:8080`, `[::]:8080`) is this host's loopback.
pub fn front_door(listen: &str) -> Result<String, String> {
    if listen.starts_with("unix:") {
        return Err(format!(
            "listen address {listen}: a unix socket cannot be probed over HTTP"
        ));
    }
    if !listen.is_empty() && listen.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("127.0.0.1:{listen}"));
    }
    for (wildcard, loopback) in [
        ("*:", "127.0.0.1:"),
        ("0.0.0.0:", "127.0.0.1:"),
        ("[::]:", "[::1]:"),
    ] {
        if let Some(port) = listen.strip_prefix(wildcard) {
            return Ok(format!("{loopback}{port}"));
        }
    }
    Ok(listen.to_string())
}

/// One GET without a proxy, within [`TIMEOUT`]; `Err` says how it failed
/// (no response body is ever quoted).
fn get(url: &str) -> Result<reqwest::blocking::Response, String> {
    let client = crate::http::client(&ClientOptions {
        connect_timeout: TIMEOUT,
        // The upstream is where nginx sends traffic, not via a proxy.
        proxy: false,
        ..ClientOptions::new(TIMEOUT)
    })
    .map_err(|_| format!("GET {url}: no HTTP client"))?;
    let answer = client
        .get(url)
        .send()
        .map_err(|e| TransportError::of(&e, TIMEOUT));
    match answer {
        Ok(answer) => Ok(answer),
        Err(e @ TransportError::Timeout { .. }) => Err(format!("GET {url}: {e}")),
        Err(TransportError::Unreachable { .. }) => {
            Err(format!("GET {url}: connection failed (nothing listening?)"))
        }
        Err(TransportError::Malformed { .. }) => Err(format!("GET {url}: not a valid URL")),
        Err(_) => Err(format!("GET {url}: the request failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::front_door;

    #[test]
    fn a_listen_address_becomes_where_to_connect() {
        // (listen, where a probe connects)
        let cases = [
            ("8081", Ok("127.0.0.1:8081")),
            ("127.0.0.1:8081", Ok("127.0.0.1:8081")),
            ("*:8081", Ok("127.0.0.1:8081")),
            ("0.0.0.0:8081", Ok("127.0.0.1:8081")),
            ("[::]:8081", Ok("[::1]:8081")),
            ("[::1]:8081", Ok("[::1]:8081")),
            ("models.internal:80", Ok("models.internal:80")),
            (
                "unix:/run/nginx.sock",
                Err(
                    "listen address unix:/run/nginx.sock: a unix socket cannot be probed over HTTP",
                ),
            ),
        ];
        for (listen, want) in cases {
            assert_eq!(
                front_door(listen),
                want.map(str::to_string).map_err(str::to_string),
                "{listen}"
            );
        }
    }
}
