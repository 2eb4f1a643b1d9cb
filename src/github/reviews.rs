//! What a pull request's reviews prove: the pull request (its head commit
//! and author), its reviews (every page), the pull request a merged commit
//! came from, and team membership, read through [`GitHub`]; and which
//! reviews count ([`counted`], pure): each reviewer's latest review, an
//! approval of the current head, not by the author, not dismissed.

use serde_json::Value;

use super::client::{GitHub, GitHubError};
use super::request::{self, Method, RepoName, Request};
use crate::state::sign_off::{Approval, short};

/// Most pages of reviews read: 10 pages of 100.
const MAX_PAGES: usize = 10;

/// A pull request, as much as a sign-off needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// Its head commit.
    pub head: String,
    /// Who opened it.
    pub author: String,
    /// The commit its merge made, once merged.
    pub merge_commit: Option<String>,
    /// Whether it was merged.
    pub merged: bool,
}

/// One review, as GitHub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The reviewer's login.
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    /// The commit the review was given on.
    pub commit: String,
    /// When it was submitted (RFC 3339), when it was.
    pub submitted_at: Option<String>,
}

/// `GET /repos/{repo}/pulls/{n}`.
pub fn get_pull(repo: &RepoName, number: u64) -> Request {
    get(format!("/repos/{repo}/pulls/{number}"))
}

/// The first page of `GET /repos/{repo}/pulls/{n}/reviews`, oldest first.
pub fn list_reviews(repo: &RepoName, number: u64) -> Request {
    get(format!(
        "/repos/{repo}/pulls/{number}/reviews?per_page={}",
        request::PER_PAGE
    ))
}

/// `GET /repos/{repo}/commits/{sha}/pulls`: the pull requests a commit
/// belongs to (for a merge commit on the default branch, the one merged).
pub fn commit_pulls(repo: &RepoName, sha: &str) -> Request {
    get(format!("/repos/{repo}/commits/{sha}/pulls"))
}

/// `GET /orgs/{org}/teams/{slug}/memberships/{login}`.
pub fn team_membership(org: &str, slug: &str, login: &str) -> Request {
    get(format!("/orgs/{org}/teams/{slug}/memberships/{login}"))
}

fn get(path: String) -> Request {
    Request {
        method: Method::Get,
        path,
        body: None,
    }
}

fn unexpected(request: &Request, what: &str) -> GitHubError {
    GitHubError::Unexpected {
        call: request.describe(),
        status: 200,
        snippet: what.to_string(),
    }
}

fn pull_of(v: &Value) -> Option<Pull> {
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    Some(Pull {
        number: v.get("number")?.as_u64()?,
        head: text("/head/sha")?,
        author: text("/user/login")?,
        merge_commit: text("/merge_commit_sha"),
        merged: v.get("merged_at").is_some_and(|m| !m.is_null())
            || v.get("merged").and_then(Value::as_bool) == Some(true),
    })
}

/// Pull request `number`.
pub fn pull(client: &GitHub, number: u64) -> Result<Pull, GitHubError> {
    let request = get_pull(&client.settings().repo, number);
    let response = client.send(&request)?;
    pull_of(&response.body).ok_or_else(|| unexpected(&request, "no head.sha or user.login"))
}

/// The merged pull request that commit `sha` came from: the one whose
/// merge made it, else one merged that holds it; `None` when none was
/// merged (a commit pushed without a pull request).
pub fn merged_pull_of(client: &GitHub, sha: &str) -> Result<Option<Pull>, GitHubError> {
    let request = commit_pulls(&client.settings().repo, sha);
    let response = client.send(&request)?;
    let Some(items) = response.body.as_array() else {
        return Err(unexpected(&request, "not a list of pull requests"));
    };
    let pulls: Vec<Pull> = items.iter().filter_map(pull_of).collect();
    let by_merge = pulls
        .iter()
        .find(|p| p.merge_commit.as_deref() == Some(sha))
        .filter(|p| p.merged);
    Ok(by_merge
        .or_else(|| pulls.iter().find(|p| p.merged))
        .cloned())
}

/// Every review of pull request `number`, following the `Link` header's
/// next pages (at most [`MAX_PAGES`]).
pub fn reviews(client: &GitHub, number: u64) -> Result<Vec<Review>, GitHubError> {
    let settings = client.settings();
    let mut request = list_reviews(&settings.repo, number);
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = client.send(&request)?;
        let Some(items) = response.body.as_array() else {
            return Err(unexpected(&request, "not a list of reviews"));
        };
        out.extend(items.iter().filter_map(|r| {
            let text = |p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
            Some(Review {
                login: text("/user/login")?,
                state: text("/state")?,
                commit: text("/commit_id").unwrap_or_default(),
                submitted_at: text("/submitted_at"),
            })
        }));
        match request::next_page(response.link.as_deref(), &settings.api_url) {
            Ok(Some(path)) => request = request::page(path),
            Ok(None) => return Ok(out),
            Err(e) => return Err(unexpected(&request, &e.to_string())),
        }
    }
    Err(unexpected(
        &request,
        &format!("more than {MAX_PAGES} pages of reviews; not read further"),
    ))
}

/// Whether `login` is an active member of team `org/slug`: `Ok(false)` for
/// a pending membership or GitHub's 404 (not a member, or a team the token
/// cannot see).
pub fn is_active_member(
    client: &GitHub,
    org: &str,
    slug: &str,
    login: &str,
) -> Result<bool, GitHubError> {
    match client.send(&team_membership(org, slug, login)) {
        Ok(r) => Ok(r.body.get("state").and_then(Value::as_str) == Some("active")),
        Err(GitHubError::Api { status: 404, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Of a pull request's reviews, the approvals that count, and each
/// reviewer whose latest review does not, with why. A reviewer's latest
/// review that approves or requests changes (or was dismissed) is theirs;
/// a comment changes nothing, as on GitHub. It counts only when it
/// approves the head commit `head` and its author is not the pull
/// request's `author`.
pub fn counted(reviews: &[Review], head: &str, author: &str) -> (Vec<Approval>, Vec<String>) {
    let mut ordered: Vec<&Review> = reviews
        .iter()
        .filter(|r| {
            matches!(
                r.state.as_str(),
                "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
            )
        })
        .collect();
    // Oldest first; GitHub lists them so, and the sort is stable for ties.
    ordered.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at));
    let mut latest: Vec<&Review> = Vec::new();
    for r in ordered {
        match latest
            .iter_mut()
            .find(|l| l.login.eq_ignore_ascii_case(&r.login))
        {
            Some(l) => *l = r,
            None => latest.push(r),
        }
    }
    let (mut approvals, mut not_counted) = (Vec::new(), Vec::new());
    for r in latest {
        let why = if r.login.eq_ignore_ascii_case(author) {
            Some("the pull request's author".to_string())
        } else if r.state == "DISMISSED" {
            Some("review dismissed".to_string())
        } else if r.state != "APPROVED" {
            Some("latest review requests changes".to_string())
        } else if r.commit != head {
            Some(format!(
                "approved {}, not the head {}",
                short(&r.commit),
                short(head)
            ))
        } else {
            None
        };
        match why {
            Some(why) => not_counted.push(format!("{}: {why}", r.login)),
            None => approvals.push(Approval {
                login: r.login.clone(),
                commit: r.commit.clone(),
            }),
        }
    }
    (approvals, not_counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "1111111aaaaaaa";
    const OLD: &str = "2222222bbbbbbb";

    fn review(login: &str, state: &str, commit: &str, at: &str) -> Review {
        Review {
            login: login.into(),
            state: state.into(),
            commit: commit.into(),
            submitted_at: Some(format!("2026-12-01T{at}:00Z")),
        }
    }

    #[test]
    fn which_reviews_count() {
        // (case, reviews, counted logins, part of what is said of the others)
        type Row<'a> = (&'a str, Vec<Review>, Vec<&'a str>, Vec<&'a str>);
        let rows: Vec<Row> = vec![
            (
                "an approval of the head",
                vec![review("alice", "APPROVED", HEAD, "10:00")],
                vec!["alice"],
                vec![],
            ),
            (
                "the author approving their own pull request",
                vec![review("Mallory", "APPROVED", HEAD, "10:00")],
                vec![],
                vec!["Mallory: the pull request's author"],
            ),
            (
                "an approval of an older head",
                vec![review("alice", "APPROVED", OLD, "10:00")],
                vec![],
                vec!["alice: approved 2222222, not the head 1111111"],
            ),
            (
                "a dismissed review",
                vec![review("alice", "DISMISSED", HEAD, "10:00")],
                vec![],
                vec!["alice: review dismissed"],
            ),
            (
                "changes requested after the approval",
                vec![
                    review("alice", "APPROVED", HEAD, "10:00"),
                    review("alice", "CHANGES_REQUESTED", HEAD, "11:00"),
                ],
                vec![],
                vec!["alice: latest review requests changes"],
            ),
            (
                "an approval after changes were requested, listed out of order",
                vec![
                    review("alice", "APPROVED", HEAD, "12:00"),
                    review("alice", "CHANGES_REQUESTED", OLD, "11:00"),
                ],
                vec!["alice"],
                vec![],
            ),
            (
                "a comment after an approval changes nothing",
                vec![
                    review("alice", "APPROVED", HEAD, "10:00"),
                    review("alice", "COMMENTED", HEAD, "11:00"),
                ],
                vec!["alice"],
                vec![],
            ),
        ];
        for (case, reviews, want, said) in rows {
            let (approvals, not_counted) = counted(&reviews, HEAD, "mallory");
            let logins: Vec<&str> = approvals.iter().map(|a| a.login.as_str()).collect();
            assert_eq!(logins, want, "{case}");
            assert_eq!(not_counted, said, "{case}");
        }
    }

    #[test]
    fn requests() {
        let repo = RepoName::parse("acme/models").unwrap();
        let rows = [
            (get_pull(&repo, 7), "/repos/acme/models/pulls/7"),
            (
                list_reviews(&repo, 7),
                "/repos/acme/models/pulls/7/reviews?per_page=100",
            ),
            (
                commit_pulls(&repo, "abc"),
                "/repos/acme/models/commits/abc/pulls",
            ),
            (
                team_membership("acme", "risk-ml", "alice"),
                "/orgs/acme/teams/risk-ml/memberships/alice",
            ),
        ];
        for (request, path) in rows {
            assert_eq!(request.method, Method::Get);
            assert_eq!(request.path, path);
        }
    }
}
