//! The one redaction policy, for every URL and every error or body text
//! that modelops shows (stdout, stderr, plans, comments, logs):
//!
//! - **URLs** ([`url`]): the userinfo goes, all of it, because a user name
//!   alone is often a token. So does everything up to the last `@` before
//!   the query: a password holding a `/` (`http://u:pa/ss@host`) or a URL
//!   without a scheme (`u:secret@host`) is hidden too. Every query value
//!   goes, whatever its name (`token`, `sig`, `api_key`, ...), and so does
//!   the fragment.
//! - **Text** ([`text`]): the secrets a client sent (its token, its
//!   password) wherever they appear; every URL in it as above, and words
//!   of the form `user:secret@host`; the value after a credential-like name
//!   (`Authorization:`, `"password": "…"`, `token=…`, …); the word after
//!   `Bearer` or `Basic`. A server that echoes a request's `Authorization`
//!   header, in a header dump or in JSON, shows `***`.
//!
//! What is hidden reads `***`.

/// What a hidden part reads as.
pub const HIDDEN: &str = "***";

/// The shortest secret replaced wherever it appears: shorter ones would
/// hide ordinary words. (A client's secrets are also caught by the rules
/// for names and URLs, whatever their length.)
const MIN_SECRET: usize = 4;

/// Names whose value is a credential, as a header, a JSON key or a query
/// parameter, matched case-insensitively at the end of a name
/// (`MLFLOW_TRACKING_TOKEN=` and `"x-api-key":` count).
const NAMES: [&str; 14] = [
    "authorization",
    "cookie",
    "token",
    "api_key",
    "api-key",
    "apikey",
    "password",
    "passwd",
    "secret",
    "sig",
    "signature",
    "credential",
    "credentials",
    "session",
];

/// Names whose value runs to the end of the line (or a quote): a header's
/// value such as `Bearer abc` holds spaces.
const HEADER_NAMES: [&str; 2] = ["authorization", "cookie"];

/// `url` as it may be shown (see the module's rules).
pub fn url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (head, tail) = rest.split_at(end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match head.rfind('@') {
        Some(at) => {
            out.push_str(HIDDEN);
            out.push_str(&head[at..]);
        }
        None => out.push_str(head),
    }
    let (query, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    if let Some(query) = query.strip_prefix('?') {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) => format!("{name}={HIDDEN}"),
                None if pair.is_empty() => String::new(),
                None => HIDDEN.to_string(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if fragment.len() > 1 {
        out.push('#');
        out.push_str(HIDDEN);
    }
    out
}

/// `text` as it may be shown: `secrets` (what the client sent) and every
/// credential the module's rules recognise replaced by `***`.
pub fn text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= MIN_SECRET {
            out = out.replace(s, HIDDEN);
        }
    }
    let out = words(&out);
    let out = hide(&out, named_value_at);
    hide(&out, scheme_token_at)
}

/// The start of a body as it may be shown in a message: its first 200
/// characters, white space folded, then [`text`].
pub fn snippet(body: &str, secrets: &[&str]) -> String {
    let folded = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = match folded.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &folded[..i]),
        None => folded,
    };
    text(&cut, secrets)
}

/// Whether `c` ends a URL or a word in running text.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')
}

/// Every URL and `user:secret@host` word through [`url`].
fn words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| !ends_word(c)) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(ends_word).unwrap_or(rest.len());
        // Punctuation after a URL in prose is not part of it.
        let word = rest[..end].trim_end_matches([')', ']', '.', ',', ';', ':']);
        let before_query = &word[..word.find(['?', '#']).unwrap_or(word.len())];
        let is_url = word.contains("://");
        let userinfo = before_query
            .rfind('@')
            .is_some_and(|at| before_query[..at].contains(':'));
        if is_url || userinfo {
            // A URL in prose may start after a `(` or a `=`.
            let from = if is_url {
                let scheme_at = word.find("://").expect("checked");
                word[..scheme_at]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                    .map_or(0, |i| i + 1)
            } else {
                word[..before_query.rfind('@').expect("checked")]
                    .rfind(['(', '=', ',', ';'])
                    .map_or(0, |i| i + 1)
            };
            out.push_str(&word[..from]);
            out.push_str(&url(&word[from..]));
        } else {
            out.push_str(word);
        }
        out.push_str(&rest[word.len()..end]);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with every span `value_at` finds hidden. Scanning from each
/// byte `i`, `value_at(lower, i)` gives the span of a credential that a
/// match at `i` introduces, or `None`; `lower` is `text` in ASCII lower
/// case (same byte positions).
fn hide(text: &str, value_at: impl Fn(&[u8], usize) -> Option<(usize, usize)>) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i < text.len() {
        match value_at(lower.as_bytes(), i) {
            Some((start, end)) if end > start && !text[start..end].starts_with(HIDDEN) => {
                out.push_str(&text[copied..start]);
                out.push_str(HIDDEN);
                copied = end;
                i = end;
            }
            Some((_, end)) => i = end.max(i + 1),
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn skip_spaces(b: &[u8], mut j: usize) -> usize {
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    j
}

/// The value after a credential-like name (see [`NAMES`]) at `i`:
/// `name: value`, `name=value`, `"name": "value"`.
fn named_value_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    // The name must end there (`tokens` is not `token`).
    let name = NAMES.iter().find(|n| {
        b[i..].starts_with(n.as_bytes())
            && !b
                .get(i + n.len())
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    })?;
    let mut j = i + name.len();
    if matches!(b.get(j), Some(b'"' | b'\'')) {
        j += 1;
    }
    j = skip_spaces(b, j);
    if !matches!(b.get(j), Some(b':' | b'=')) {
        return None;
    }
    j = skip_spaces(b, j + 1);
    let quote = match b.get(j) {
        Some(q @ (b'"' | b'\'')) => {
            j += 1;
            Some(*q)
        }
        _ => None,
    };
    let header = HEADER_NAMES.contains(name);
    let end = (j..b.len())
        .find(|&k| match (quote, b[k]) {
            (Some(q), c) => c == q || c == b'\n',
            (None, c) if header => matches!(c, b'\r' | b'\n' | b'"' | b'\'' | b'<' | b','),
            (None, c) => {
                c.is_ascii_whitespace()
                    || matches!(c, b'&' | b',' | b';' | b')' | b'}' | b']' | b'<' | b'"')
            }
        })
        .unwrap_or(b.len());
    Some((j, end))
}

/// The word after `Bearer ` or `Basic ` at `i`: a header value echoed
/// without its name. `Basic auth failed` is prose; a basic credential is
/// long and unbroken.
fn scheme_token_at(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i > 0 && b[i - 1].is_ascii_alphanumeric() {
        return None;
    }
    let scheme = ["bearer ", "basic "]
        .into_iter()
        .find(|s| b[i..].starts_with(s.as_bytes()))?;
    let start = i + scheme.len();
    let end = (start..b.len())
        .find(|&k| !(b[k].is_ascii_alphanumeric() || b"-._~+/=".contains(&b[k])))
        .unwrap_or(b.len());
    let long_enough = match scheme {
        "basic " => end - start >= 8,
        _ => end > start,
    };
    long_enough.then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_query_values_and_fragments() {
        let rows = [
            ("http://h:5000/x", "http://h:5000/x"),
            ("http://alice:s3cret@h:5000/x", "http://***@h:5000/x"),
            ("https://tok@h", "https://***@h"),
            // No scheme.
            ("alice:s3cret@h/x", "***@h/x"),
            (
                "user:secret@mlflow.internal:5000",
                "***@mlflow.internal:5000",
            ),
            // A password with `/` (and `@`) in it.
            ("http://u:pa/ss@h/x", "http://***@h/x"),
            ("https://u:p@ss/w@h:1/api", "https://***@h:1/api"),
            // Query values, whatever their names; `@` in a query is not userinfo.
            ("http://h/x?user=a@b", "http://h/x?user=***"),
            (
                "https://h/mlflow?token=abc%2Fdef&x=1",
                "https://h/mlflow?token=***&x=***",
            ),
            (
                "https://h/p?sig=s1&api_key=k&password=p",
                "https://h/p?sig=***&api_key=***&password=***",
            ),
            ("https://h/p?bare&", "https://h/p?***&"),
            ("https://h/cb#access_token=x", "https://h/cb#***"),
            ("https://u:p@h/p?key=v#f", "https://***@h/p?key=***#***"),
            ("not a url", "not a url"),
            ("", ""),
        ];
        for (given, want) in rows {
            assert_eq!(url(given), want, "{given}");
        }
    }

    #[test]
    fn text_loses_every_credential_it_holds() {
        let rows: [(&str, &[&str], &str); 16] = [
            ("plain words", &[], "plain words"),
            (
                "token ghp_abc123 is odd",
                &["ghp_abc123"],
                "token *** is odd",
            ),
            ("pw", &["pw"], "pw"),
            (
                "Authorization: Bearer s3cr3t-t0k\nHost: x",
                &[],
                "Authorization: ***\nHost: x",
            ),
            (
                r#"{"headers": {"Authorization": "Bearer abc.def", "Accept": "*/*"}}"#,
                &[],
                r#"{"headers": {"Authorization": "***", "Accept": "*/*"}}"#,
            ),
            (
                r#"{"authorization":"Basic YWxpY2U6czNjcmV0"}"#,
                &[],
                r#"{"authorization":"***"}"#,
            ),
            ("echo: bearer abc123", &[], "echo: bearer ***"),
            ("got Basic YWxpY2U6czNjcmV0 back", &[], "got Basic *** back"),
            ("Basic auth failed", &[], "Basic auth failed"),
            (
                "cannot reach http://alice:s3cret@h:5000/x?token=t: refused",
                &[],
                "cannot reach http://***@h:5000/x?token=***: refused",
            ),
            (
                "see (https://h/p?api_key=k)",
                &[],
                "see (https://h/p?api_key=***)",
            ),
            ("at user:secret@host:5000 now", &[], "at ***@host:5000 now"),
            ("mail a@b.io", &[], "mail a@b.io"),
            (
                "password=hunter2&next=1 MLFLOW_TRACKING_TOKEN=abc",
                &[],
                "password=***&next=1 MLFLOW_TRACKING_TOKEN=***",
            ),
            (
                r#"{"x-api-key": "k1", "tokens": 3, "client_secret" : 'z'}"#,
                &[],
                r#"{"x-api-key": "***", "tokens": 3, "client_secret" : '***'}"#,
            ),
            ("Cookie: session=abc; theme=dark", &[], "Cookie: ***"),
        ];
        for (given, secrets, want) in rows {
            assert_eq!(text(given, secrets), want, "{given}");
        }
    }

    #[test]
    fn snippets_are_short_folded_and_redacted() {
        // The body as it is (a client that knows its server's HTML pages,
        // like MLflow's, picks the title itself).
        assert_eq!(
            snippet(
                "<html><head><title>404 Not Found</title></head></html>",
                &[]
            ),
            "<html><head><title>404 Not Found</title></head></html>"
        );
        assert_eq!(
            snippet("<html><body>Bad   gateway</body></html>", &[]),
            "<html><body>Bad gateway</body></html>"
        );
        let long = "x".repeat(300);
        assert_eq!(snippet(&long, &[]).chars().count(), 201);
        assert_eq!(
            snippet("denied for Authorization: Bearer tok123", &[]),
            "denied for Authorization: ***"
        );
    }
}
