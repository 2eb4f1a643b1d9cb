//! nginx's health check: before a rollback sends all of a model's traffic
//! to one version, that version's upstream must answer `GET <health_path>`
//! with a 2xx within [`TIMEOUT`]. The address comes from the target's
//! config (the base revision's, on a pull request), never from a manifest.

use std::time::Duration;

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
    let client = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // The upstream is where nginx sends traffic, not via a proxy.
        .no_proxy()
        .build()
        .map_err(|_| format!("GET {url}: no HTTP client"))?;
    match client.get(&url).send() {
        Ok(answer) if answer.status().is_success() => {
            Ok(format!("GET {url} answered {}", answer.status().as_u16()))
        }
        Ok(answer) => Err(format!("GET {url} answered {}", answer.status().as_u16())),
        Err(e) if e.is_timeout() => Err(format!(
            "GET {url}: no answer within {} s",
            TIMEOUT.as_secs()
        )),
        Err(e) if e.is_connect() => {
            Err(format!("GET {url}: connection failed (nothing listening?)"))
        }
        Err(e) if e.is_builder() => Err(format!("GET {url}: not a valid URL")),
        Err(_) => Err(format!("GET {url}: the request failed")),
    }
}
