//! URLs as clients take them: credentials out of the URL (sent as basic
//! auth, never shown), and paths joined onto a base without losing the
//! base's query string (some servers take a token there).

use super::redact;

/// A server's URL with its credentials taken out.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// `scheme://host[:port][/path]`, without userinfo, query, fragment or
    /// a trailing `/`.
    pub base: String,
    /// The query string, without `?`, when the URL had one.
    pub query: Option<String>,
    /// User and password from the userinfo, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// Why a URL is not a server's URL. The words never repeat the URL, which
/// may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `http://` or `https://`.
    #[error("must start with http:// or https://{}", found(.0))]
    Scheme(String),
    /// Nothing between `//` and the path.
    #[error("has no host")]
    NoHost,
    /// Does not parse.
    #[error("is not a valid URL ({0})")]
    Invalid(String),
}

fn found(scheme: &str) -> String {
    if scheme.is_empty() {
        String::new()
    } else {
        format!(", not {scheme}://")
    }
}

impl ServerUrl {
    /// Parses an http(s) URL. The userinfo is everything up to the last
    /// `@` before the query, as [`redact::url`] hides it, so a password
    /// with a `/` in it is still a password.
    pub fn parse(url: &str) -> Result<ServerUrl, UrlError> {
        let url = url.trim();
        let (scheme, rest) = match url.split_once("://") {
            Some((s, rest))
                if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") =>
            {
                (s, rest)
            }
            Some((s, _)) => return Err(UrlError::Scheme(s.to_string())),
            None => return Err(UrlError::Scheme(String::new())),
        };
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        let (userinfo, rest) = match rest[..end].rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
            return Err(UrlError::NoHost);
        }
        let mut parsed = reqwest::Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| UrlError::Invalid(e.to_string()))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost);
        }
        let query = parsed.query().map(str::to_string);
        parsed.set_query(None);
        parsed.set_fragment(None);
        let credentials = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            (percent_decode(user), percent_decode(password))
        });
        Ok(ServerUrl {
            base: parsed.as_str().trim_end_matches('/').to_string(),
            query,
            credentials,
        })
    }

    /// `relative` under this server, the query kept (see [`join`]).
    pub fn join(&self, relative: &str) -> String {
        let base = match &self.query {
            Some(q) => format!("{}/?{q}", self.base),
            None => format!("{}/", self.base),
        };
        join(&base, relative)
    }

    /// The URL as it may be shown: the base, and the query's names with
    /// their values hidden.
    pub fn shown(&self) -> String {
        match &self.query {
            Some(q) => redact::url(&format!("{}/?{q}", self.base)),
            None => self.base.clone(),
        }
    }
}

/// `relative` (a path, with or without a leading `/`, maybe with its own
/// query) appended to `base`'s path with one `/` between; the query is
/// `relative`'s parameters, then `base`'s. `base`'s fragment is dropped.
pub fn join(base: &str, relative: &str) -> String {
    let base = base.split('#').next().unwrap_or(base);
    let (base_path, base_query) = match base.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (base, None),
    };
    let (rel_path, rel_query) = match relative.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (relative, None),
    };
    let mut out = format!(
        "{}/{}",
        base_path.trim_end_matches('/'),
        rel_path.trim_start_matches('/')
    );
    let queries: Vec<&str> = [rel_query, base_query]
        .into_iter()
        .flatten()
        .filter(|q| !q.is_empty())
        .collect();
    if !queries.is_empty() {
        out.push('?');
        out.push_str(&queries.join("&"));
    }
    out
}

/// `%XX` escapes decoded (userinfo in a URL is percent-encoded); invalid
/// escapes are kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_urls_keep_the_base_query() {
        let rows = [
            (
                "http://h:5000/",
                "api/2.0/mlflow/x",
                "http://h:5000/api/2.0/mlflow/x",
            ),
            (
                "http://h:5000",
                "api/x?name=a",
                "http://h:5000/api/x?name=a",
            ),
            (
                "https://h/prefix/?token=a%2Fb",
                "api/2.0/mlflow/x?name=a",
                "https://h/prefix/api/2.0/mlflow/x?name=a&token=a%2Fb",
            ),
            (
                "https://h/prefix?token=a/b",
                "api/x",
                "https://h/prefix/api/x?token=a/b",
            ),
            (
                "https://ghe.example/api/v3",
                "/repos/a/b/dispatches",
                "https://ghe.example/api/v3/repos/a/b/dispatches",
            ),
            ("https://h/p/#frag", "x", "https://h/p/x"),
            ("https://h/p?", "x?", "https://h/p/x"),
        ];
        for (base, relative, want) in rows {
            assert_eq!(join(base, relative), want, "{base} + {relative}");
        }
    }

    #[test]
    fn credentials_come_out_of_server_urls() {
        type Want = Result<
            (
                &'static str,
                Option<&'static str>,
                Option<(&'static str, &'static str)>,
            ),
            &'static str,
        >;
        let rows: [(&str, Want); 10] = [
            (
                "http://127.0.0.1:9090/",
                Ok(("http://127.0.0.1:9090", None, None)),
            ),
            (
                "https://alice:p%40ss%3Aw@prom.example:8443/x",
                Ok((
                    "https://prom.example:8443/x",
                    None,
                    Some(("alice", "p@ss:w")),
                )),
            ),
            (
                "http://u:pa/ss@h:5000/prefix?token=t",
                Ok((
                    "http://h:5000/prefix",
                    Some("token=t"),
                    Some(("u", "pa/ss")),
                )),
            ),
            ("https://tok@h", Ok(("https://h", None, Some(("tok", ""))))),
            (
                "u:secret@h:5000",
                Err("must start with http:// or https://"),
            ),
            (
                "ftp://u:pw@h",
                Err("must start with http:// or https://, not ftp://"),
            ),
            ("http://u:pw@", Err("has no host")),
            ("http://u:pw@/x", Err("has no host")),
            ("http://u:pw@[::1", Err("is not a valid URL")),
            ("http://u:pw@h:99999", Err("is not a valid URL")),
        ];
        for (given, want) in rows {
            let got = ServerUrl::parse(given);
            match (&got, want) {
                (Ok(u), Ok((base, query, creds))) => {
                    assert_eq!(u.base, base, "{given}");
                    assert_eq!(u.query.as_deref(), query, "{given}");
                    let c = u
                        .credentials
                        .as_ref()
                        .map(|(a, b)| (a.as_str(), b.as_str()));
                    assert_eq!(c, creds, "{given}");
                    assert!(!format!("{u:?}").contains("pa/ss"));
                }
                (Err(e), Err(want)) => {
                    let e = e.to_string();
                    assert!(e.starts_with(want), "{given}: {e}");
                    assert!(!e.contains("pw") && !e.contains("secret"), "{given}: {e}");
                }
                _ => panic!("{given}: got {got:?}, want {want:?}"),
            }
        }
        let u = ServerUrl::parse("https://u:p@h/mlflow?token=s3cret").unwrap();
        assert_eq!(u.shown(), "https://h/mlflow/?token=***");
        assert_eq!(
            u.join("api/2.0/mlflow/x?name=a"),
            "https://h/mlflow/api/2.0/mlflow/x?name=a&token=s3cret"
        );
    }
}
