//! GitHub REST calls for issue comments as values: method, path and body,
//! built and unit-tested without a network; [`super::client`] only sends
//! them. Also reads the `Link` header GitHub paginates lists with.

use serde_json::{Value, json};

pub use crate::http::Method;

/// One call to the REST API.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// HTTP method.
    pub method: Method,
    /// Path and query under the API's base URL, starting with `/`.
    pub path: String,
    /// JSON body, for POST and PATCH.
    pub body: Option<Value>,
}

impl Request {
    /// Whether sending it twice has the effect of sending it once, so a
    /// failed attempt may be tried again. A POST that timed out may have
    /// created its comment; sending it again would add a second one.
    pub fn idempotent(&self) -> bool {
        self.method != Method::Post
    }

    /// `GET` and the path without its query, for messages.
    pub fn describe(&self) -> String {
        let path = self.path.split('?').next().unwrap_or(&self.path);
        format!("{} {path}", self.method.as_str())
    }
}

/// A repository, as `GITHUB_REPOSITORY` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    /// The user or organisation.
    pub owner: String,
    /// The repository.
    pub name: String,
}

impl RepoName {
    /// Parses `owner/name`; both parts non-empty and free of anything that
    /// would change the URL's path.
    pub fn parse(text: &str) -> Option<RepoName> {
        let (owner, name) = text.trim().split_once('/')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        (ok(owner) && ok(name)).then(|| RepoName {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for RepoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Comments per page of a list: GitHub's maximum.
pub const PER_PAGE: u32 = 100;

/// The first page of a pull request's comments (pull requests are issues
/// to this API), oldest first. Later pages come from the `Link` header.
pub fn list_comments(repo: &RepoName, pr: u64) -> Request {
    Request {
        method: Method::Get,
        path: format!("/repos/{repo}/issues/{pr}/comments?per_page={PER_PAGE}"),
        body: None,
    }
}

/// A later page of a list: the path of the `next` link.
pub fn page(path: String) -> Request {
    Request {
        method: Method::Get,
        path,
        body: None,
    }
}

/// The token's own user. An installation token (a workflow's
/// `GITHUB_TOKEN`, a GitHub App's) is refused with 403 "Resource not
/// accessible by integration".
pub fn get_user() -> Request {
    Request {
        method: Method::Get,
        path: "/user".to_string(),
        body: None,
    }
}

/// Adds a comment to a pull request.
pub fn create_comment(repo: &RepoName, pr: u64, body: &str) -> Request {
    Request {
        method: Method::Post,
        path: format!("/repos/{repo}/issues/{pr}/comments"),
        body: Some(json!({ "body": body })),
    }
}

/// Replaces a comment's text.
pub fn update_comment(repo: &RepoName, id: u64, body: &str) -> Request {
    Request {
        method: Method::Patch,
        path: format!("/repos/{repo}/issues/comments/{id}"),
        body: Some(json!({ "body": body })),
    }
}

/// Deletes a comment.
pub fn delete_comment(repo: &RepoName, id: u64) -> Request {
    Request {
        method: Method::Delete,
        path: format!("/repos/{repo}/issues/comments/{id}"),
        body: None,
    }
}

/// Sends the `event_type` event, with `client_payload`, to `repo`'s
/// workflows that listen for `repository_dispatch`.
pub fn repository_dispatch(repo: &RepoName, event_type: &str, client_payload: &Value) -> Request {
    Request {
        method: Method::Post,
        path: format!("/repos/{repo}/dispatches"),
        body: Some(json!({ "event_type": event_type, "client_payload": client_payload })),
    }
}

/// Why a `next` link is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GitHub's next-page link does not point under {base}; it is not followed with the token")]
pub struct ForeignLink {
    /// The API's base URL.
    pub base: String,
}

/// The path (with query) of the `rel="next"` link in a `Link` header, such
/// as `<https://api.github.com/repositories/1/issues/2/comments?page=2>;
/// rel="next", <…>; rel="last"`, relative to `base`. A link elsewhere is
/// refused: the token goes with every request.
pub fn next_page(link: Option<&str>, base: &str) -> Result<Option<String>, ForeignLink> {
    let Some(link) = link else { return Ok(None) };
    for entry in link.split(',') {
        let mut parts = entry.split(';');
        let target = parts.next().unwrap_or("").trim();
        let is_next = parts.any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let Some(url) = target.strip_prefix('<').and_then(|t| t.strip_suffix('>')) else {
            continue;
        };
        if !is_next {
            continue;
        }
        return match url.strip_prefix(base.trim_end_matches('/')) {
            Some(path) if path.starts_with('/') => Ok(Some(path.to_string())),
            _ => Err(ForeignLink {
                base: crate::http::redact::url(base),
            }),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoName {
        RepoName::parse("acme/models").unwrap()
    }

    #[test]
    fn requests() {
        let rows = [
            (
                list_comments(&repo(), 7),
                Method::Get,
                "/repos/acme/models/issues/7/comments?per_page=100",
                None,
            ),
            (
                create_comment(&repo(), 7, "hi"),
                Method::Post,
                "/repos/acme/models/issues/7/comments",
                Some(json!({"body": "hi"})),
            ),
            (
                update_comment(&repo(), 42, "hi"),
                Method::Patch,
                "/repos/acme/models/issues/comments/42",
                Some(json!({"body": "hi"})),
            ),
            (
                delete_comment(&repo(), 42),
                Method::Delete,
                "/repos/acme/models/issues/comments/42",
                None,
            ),
            (
                repository_dispatch(&repo(), "retrain", &json!({"model": "m"})),
                Method::Post,
                "/repos/acme/models/dispatches",
                Some(json!({"event_type": "retrain", "client_payload": {"model": "m"}})),
            ),
        ];
        for (request, method, path, body) in rows {
            assert_eq!(request.method, method);
            assert_eq!(request.path, path);
            assert_eq!(request.body, body);
            assert_eq!(request.idempotent(), method != Method::Post);
        }
        assert_eq!(
            list_comments(&repo(), 7).describe(),
            "GET /repos/acme/models/issues/7/comments"
        );
    }

    #[test]
    fn repository_names() {
        let rows = [
            ("acme/models", Some(("acme", "models"))),
            ("my-org/model.repo_2", Some(("my-org", "model.repo_2"))),
            ("acme", None),
            ("acme/", None),
            ("/models", None),
            ("acme/models/extra", None),
            ("acme/..", None),
            ("acme/a?b", None),
            ("acme/a b", None),
        ];
        for (text, want) in rows {
            let got = RepoName::parse(text);
            assert_eq!(
                got.as_ref().map(|r| (r.owner.as_str(), r.name.as_str())),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn next_links() {
        let base = "https://api.github.com";
        // (Link header, the next page's path or Err for a refused link)
        type Row<'a> = (Option<&'a str>, Result<Option<&'a str>, ()>);
        let rows: [Row; 6] = [
            (None, Ok(None)),
            (
                Some(
                    "<https://api.github.com/repositories/9/issues/7/comments?per_page=100&page=2>; rel=\"next\", <https://api.github.com/repositories/9/issues/7/comments?per_page=100&page=3>; rel=\"last\"",
                ),
                Ok(Some(
                    "/repositories/9/issues/7/comments?per_page=100&page=2",
                )),
            ),
            (
                // The last page: only prev and first.
                Some(
                    "<https://api.github.com/r?page=1>; rel=\"prev\", <https://api.github.com/r?page=1>; rel=\"first\"",
                ),
                Ok(None),
            ),
            (
                Some("<https://api.github.com/r?page=2>; rel=next"),
                Ok(Some("/r?page=2")),
            ),
            (
                Some("<https://evil.example/r?page=2>; rel=\"next\""),
                Err(()),
            ),
            // A host that merely starts like the base.
            (
                Some("<https://api.github.com.evil.example/r?page=2>; rel=\"next\""),
                Err(()),
            ),
        ];
        for (link, want) in rows {
            let got = next_page(link, base);
            assert_eq!(
                got.as_ref().map(|p| p.as_deref()).map_err(|_| ()),
                want,
                "{link:?}"
            );
        }
        // An Enterprise Server base with a path.
        assert_eq!(
            next_page(
                Some("<https://ghe.example/api/v3/r?page=2>; rel=\"next\""),
                "https://ghe.example/api/v3/"
            ),
            Ok(Some("/r?page=2".to_string()))
        );
    }
}
