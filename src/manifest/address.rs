//! The addresses an envoy target binds, connects to and asks, parsed once
//! for validation and again by the target itself, so a value that reached
//! the target another way (a hand-edited state) meets the same rule.
//!
//! - a listen address is an IP and a port (`127.0.0.1:8081`, `[::1]:8081`):
//!   Envoy binds sockets, not names;
//! - an upstream is an IP or a DNS name and a port, or `unix:/path`;
//! - the admin API is `host:port` or `http://host:port` on loopback.

use std::net::IpAddr;

/// Where a version's upstream (or a listener) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A host and a TCP port.
    Socket {
        /// The host.
        host: Host,
        /// The port, 1 or more.
        port: u16,
    },
    /// A unix socket's absolute path (`unix:/run/m.sock`).
    Unix(String),
}

/// A socket's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS name (letters, digits, `-` and `.`).
    Name(String),
}

impl Host {
    /// Whether the host is this machine only: `127.0.0.0/8`, `::1` or
    /// `localhost`.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Ip(ip) => ip.is_loopback(),
            Host::Name(name) => name.eq_ignore_ascii_case("localhost"),
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// `host:port` (an IPv6 host in brackets) or `unix:/path`.
pub fn parse(text: &str) -> Result<Address, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        let ok = path.starts_with('/')
            && path.len() <= 107
            && !path.chars().any(|c| c.is_control() || c.is_whitespace());
        return if ok {
            Ok(Address::Unix(path.to_string()))
        } else {
            Err(
                "a unix socket needs an absolute path of at most 107 characters without spaces"
                    .into(),
            )
        };
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or("an IPv6 address needs its port after the bracket: `[::1]:8080`")?;
        let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| "not an IPv6 address")?;
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = text.rsplit_once(':').ok_or("needs a port: `host:port`")?;
        let host = match host.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Host::Ip(IpAddr::V4(ip)),
            Err(_) if valid_dns_name(host) => Host::Name(host.to_string()),
            Err(_) => return Err("the host is neither an IP address nor a DNS name".into()),
        };
        (host, port)
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0 && !port.starts_with('+'))
        .ok_or("the port must be a number from 1 to 65535")?;
    Ok(Address::Socket { host, port })
}

/// A listen address: an IP and a port.
pub fn parse_listen(text: &str) -> Result<(IpAddr, u16), String> {
    match parse(text)? {
        Address::Socket {
            host: Host::Ip(ip),
            port,
        } => Ok((ip, port)),
        _ => Err("Envoy listens on an IP address and a port, such as `127.0.0.1:8081`".into()),
    }
}

/// The admin API's base URL (`http://127.0.0.1:9901`) from `host:port` or
/// `http://host:port`, refused unless the host is loopback.
pub fn admin_base(text: &str) -> Result<String, String> {
    let rest = match text.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "the admin API is plain HTTP on loopback, not {scheme}://"
            ));
        }
        None => text,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    match parse(rest)? {
        Address::Socket { host, port } if host.is_loopback() => Ok(format!("http://{host}:{port}")),
        Address::Socket { .. } => Err(
            "must be on loopback (127.0.0.1, ::1 or localhost): Envoy's admin API has no authentication, and Envoy runs where modelops writes its files"
                .into(),
        ),
        Address::Unix(_) => Err("must be `host:port` on loopback, not a unix socket".into()),
    }
}

/// A DNS name: labels of letters, digits and `-`, joined by `.`.
fn valid_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let ip = |s: &str| Host::Ip(s.parse().unwrap());
        let name = |s: &str| Host::Name(s.into());
        let cases: Vec<(&str, Result<Address, &str>)> = vec![
            (
                "127.0.0.1:8081",
                Ok(Address::Socket {
                    host: ip("127.0.0.1"),
                    port: 8081,
                }),
            ),
            (
                "[::1]:9000",
                Ok(Address::Socket {
                    host: ip("::1"),
                    port: 9000,
                }),
            ),
            (
                "models-v3.svc.cluster.local:8080",
                Ok(Address::Socket {
                    host: name("models-v3.svc.cluster.local"),
                    port: 8080,
                }),
            ),
            ("unix:/run/m.sock", Ok(Address::Unix("/run/m.sock".into()))),
            (
                "unix:run/m.sock",
                Err("a unix socket needs an absolute path"),
            ),
            ("127.0.0.1", Err("needs a port")),
            (
                "127.0.0.1:0",
                Err("the port must be a number from 1 to 65535"),
            ),
            ("127.0.0.1:65536", Err("the port must be a number")),
            ("127.0.0.1:+80", Err("the port must be a number")),
            ("::1:80", Err("the host is neither")),
            ("[::1]80", Err("an IPv6 address needs its port")),
            ("[nope]:80", Err("not an IPv6 address")),
            ("a b:80", Err("the host is neither")),
            ("-a:80", Err("the host is neither")),
            ("a..b:80", Err("the host is neither")),
            ("\"}:80", Err("the host is neither")),
        ];
        for (text, want) in cases {
            match (parse(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn listen_addresses_are_ips() {
        assert_eq!(
            parse_listen("0.0.0.0:80"),
            Ok(("0.0.0.0".parse().unwrap(), 80))
        );
        assert!(parse_listen("localhost:80").is_err());
        assert!(parse_listen("unix:/a").is_err());
    }

    #[test]
    fn the_admin_api_is_on_loopback() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("127.0.0.1:9901", Ok("http://127.0.0.1:9901")),
            ("http://127.0.0.1:9901/", Ok("http://127.0.0.1:9901")),
            ("127.1.2.3:9901", Ok("http://127.1.2.3:9901")),
            ("[::1]:9901", Ok("http://[::1]:9901")),
            ("localhost:9901", Ok("http://localhost:9901")),
            ("LOCALHOST:9901", Ok("http://LOCALHOST:9901")),
            ("10.0.0.5:9901", Err("must be on loopback")),
            ("http://envoy.internal:9901", Err("must be on loopback")),
            ("0.0.0.0:9901", Err("must be on loopback")),
            ("https://127.0.0.1:9901", Err("the admin API is plain HTTP")),
            ("127.0.0.1", Err("needs a port")),
            ("http://127.0.0.1:9901/path", Err("the port must be")),
            ("http://user@127.0.0.1:9901", Err("the host is neither")),
            (
                "unix:/run/admin.sock",
                Err("must be `host:port` on loopback"),
            ),
        ];
        for (text, want) in cases {
            match (admin_base(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{text}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}
