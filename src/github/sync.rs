//! Keeps one plan comment per pull request: finds the parts an earlier run
//! posted by their markers **and** their author (the token's own user, see
//! [`author`]), edits them in place, adds the parts that are missing and
//! deletes the ones no longer needed. Anyone can write a comment that starts
//! with the marker; such a comment is never edited or deleted. Deciding is
//! pure ([`changes`]); [`publish`] lists, decides and sends.

use serde_json::Value;

use super::body::part_of;
use super::client::{GitHub, GitHubError};
use super::request::{self, Request};

/// A comment already on the pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// Its id.
    pub id: u64,
    /// Its author's login.
    pub user: String,
    /// Its text.
    pub body: String,
}

/// One thing to do to the pull request's comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Part `part` is already there with this text.
    Keep {
        /// 1-based.
        part: usize,
        /// The comment.
        id: u64,
    },
    /// Edit comment `id` to be part `part`.
    Update {
        /// 1-based.
        part: usize,
        /// The comment.
        id: u64,
    },
    /// Add part `part`.
    Create {
        /// 1-based.
        part: usize,
    },
    /// Delete a part no longer needed (or a second copy of one).
    Delete {
        /// The part it was.
        part: usize,
        /// The comment.
        id: u64,
    },
}

/// What to do so the comments carry `bodies` (part 1 first), given the
/// comments on the pull request, oldest first, and who modelops posts as.
/// Only `author`'s comments are ours (logins compare without case, as
/// GitHub's do). Each part goes into the oldest of ours that already is
/// that part; parts in the order of `bodies`, then the deletions.
pub fn changes(existing: &[Existing], bodies: &[String], author: &str) -> Vec<Change> {
    let mut ours: Vec<(usize, &Existing)> = existing
        .iter()
        .filter(|c| c.user.eq_ignore_ascii_case(author))
        .filter_map(|c| part_of(&c.body).map(|p| (p, c)))
        .collect();
    let mut out = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let part = i + 1;
        match ours.iter().position(|(p, _)| *p == part) {
            Some(at) => {
                let (_, c) = ours.remove(at);
                out.push(if c.body == *body {
                    Change::Keep { part, id: c.id }
                } else {
                    Change::Update { part, id: c.id }
                });
            }
            None => out.push(Change::Create { part }),
        }
    }
    out.extend(
        ours.into_iter()
            .map(|(part, c)| Change::Delete { part, id: c.id }),
    );
    out
}

/// What was done to one comment, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The change.
    pub change: Change,
    /// The comment's address, when GitHub gave one.
    pub url: Option<String>,
}

/// Most pages of comments read: 100 pages of 100.
const MAX_PAGES: usize = 100;

/// Every comment on pull request `pr`, oldest first, following the `Link`
/// header's next pages.
pub fn list(client: &GitHub, pr: u64) -> Result<Vec<Existing>, GitHubError> {
    let settings = client.settings();
    let mut request = request::list_comments(&settings.repo, pr);
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = client.send(&request)?;
        let Some(items) = response.body.as_array() else {
            return Err(GitHubError::Unexpected {
                call: request.describe(),
                status: 200,
                snippet: "not a list of comments".to_string(),
            });
        };
        out.extend(items.iter().filter_map(|c| {
            Some(Existing {
                id: c.get("id")?.as_u64()?,
                user: c
                    .pointer("/user/login")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                body: c
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
        }));
        match request::next_page(response.link.as_deref(), &settings.api_url) {
            Ok(Some(path)) => request = request::page(path),
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(GitHubError::Unexpected {
                    call: request.describe(),
                    status: 200,
                    snippet: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Who posts what this token posts. The token's user, from `GET /user`;
/// GitHub refuses that call (403, "Resource not accessible by integration")
/// to an installation token, such as a workflow's `GITHUB_TOKEN`, whose
/// comments are then `github-actions[bot]`'s. Any other failure (a token
/// that is not valid, GitHub out of reach) is an error.
pub fn author(client: &GitHub) -> Result<String, GitHubError> {
    match client.send(&request::get_user()) {
        Ok(response) => match response.body.get("login").and_then(Value::as_str) {
            Some(login) if !login.is_empty() => Ok(login.to_string()),
            _ => Err(GitHubError::Unexpected {
                call: request::get_user().describe(),
                status: 200,
                snippet: "no login in the answer".to_string(),
            }),
        },
        Err(GitHubError::Api { status: 403, .. }) => Ok(ACTIONS_BOT.to_string()),
        Err(e) => Err(e),
    }
}

/// The author of comments posted with a workflow's `GITHUB_TOKEN`.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// Makes the pull request's comments carry `bodies`, and says what it did.
/// Which comments are ours is asked of GitHub ([`author`]) unless `poster`
/// names the login, and only when some comment carries a marker. Stops at
/// the first failure; the next run continues from what is there.
pub fn publish(
    client: &GitHub,
    pr: u64,
    bodies: &[String],
    poster: Option<&str>,
) -> Result<Vec<Done>, GitHubError> {
    let existing = list(client, pr)?;
    let me = match poster {
        _ if !existing.iter().any(|c| part_of(&c.body).is_some()) => String::new(),
        Some(login) => login.to_string(),
        None => author(client)?,
    };
    let repo = &client.settings().repo;
    let mut done = Vec::new();
    for change in changes(&existing, bodies, &me) {
        let request: Option<Request> = match &change {
            Change::Keep { .. } => None,
            Change::Update { part, id } => {
                Some(request::update_comment(repo, *id, &bodies[part - 1]))
            }
            Change::Create { part } => Some(request::create_comment(repo, pr, &bodies[part - 1])),
            Change::Delete { id, .. } => Some(request::delete_comment(repo, *id)),
        };
        let url = match request {
            Some(r) => client
                .send(&r)?
                .body
                .get("html_url")
                .and_then(Value::as_str)
                .map(str::to_string),
            None => None,
        };
        done.push(Done { change, url });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::body::marker;

    fn comment(id: u64, body: &str) -> Existing {
        Existing {
            id,
            user: ACTIONS_BOT.to_string(),
            body: body.to_string(),
        }
    }

    fn by(user: &str, id: u64, body: &str) -> Existing {
        Existing {
            id,
            user: user.to_string(),
            body: body.to_string(),
        }
    }

    fn part(n: usize, text: &str) -> String {
        format!("{}\n{text}", marker(n))
    }

    #[test]
    fn decides_what_to_change() {
        use Change::*;
        let others = comment(1, "Looks good to me");
        let quoted = comment(2, "> <!-- modelops-plan -->\n> quoted");
        // (case, comments on the pull request, new bodies, what to do)
        type Case = (&'static str, Vec<Existing>, Vec<String>, Vec<Change>);
        let rows: Vec<Case> = vec![
            (
                "first run: create",
                vec![others.clone()],
                vec![part(1, "a")],
                vec![Create { part: 1 }],
            ),
            (
                "second run: update in place",
                vec![others.clone(), comment(5, &part(1, "a")), quoted.clone()],
                vec![part(1, "b")],
                vec![Update { part: 1, id: 5 }],
            ),
            (
                "the same text: nothing to send",
                vec![comment(5, &part(1, "a"))],
                vec![part(1, "a")],
                vec![Keep { part: 1, id: 5 }],
            ),
            (
                "grows: update and add",
                vec![comment(5, &part(1, "a"))],
                vec![part(1, "b"), part(2, "c"), part(3, "d")],
                vec![
                    Update { part: 1, id: 5 },
                    Create { part: 2 },
                    Create { part: 3 },
                ],
            ),
            (
                "shrinks: update and delete the rest",
                vec![
                    comment(5, &part(1, "a")),
                    others.clone(),
                    comment(6, &part(2, "b")),
                    comment(7, &part(3, "c")),
                ],
                vec![part(1, "x")],
                vec![
                    Update { part: 1, id: 5 },
                    Delete { part: 2, id: 6 },
                    Delete { part: 3, id: 7 },
                ],
            ),
            (
                "a second copy of a part (two runs raced): the oldest stays",
                vec![comment(5, &part(1, "a")), comment(9, &part(1, "a"))],
                vec![part(1, "b")],
                vec![Update { part: 1, id: 5 }, Delete { part: 1, id: 9 }],
            ),
            (
                "part 1 was deleted by hand: recreated, part 2 kept in place",
                vec![comment(6, &part(2, "b"))],
                vec![part(1, "a"), part(2, "b")],
                vec![Create { part: 1 }, Keep { part: 2, id: 6 }],
            ),
            (
                "another user's comment with the marker is not ours: never edited",
                vec![by("mallory", 3, &part(1, "fake"))],
                vec![part(1, "a")],
                vec![Create { part: 1 }],
            ),
            (
                "another user's part markers are never deleted",
                vec![
                    comment(5, &part(1, "a")),
                    by("mallory", 6, &part(2, "x")),
                    by("mallory", 7, &part(1, "x")),
                ],
                vec![part(1, "a")],
                vec![Keep { part: 1, id: 5 }],
            ),
            (
                "the login compares without case",
                vec![by("GitHub-Actions[bot]", 5, &part(1, "a"))],
                vec![part(1, "b")],
                vec![Update { part: 1, id: 5 }],
            ),
        ];
        for (case, existing, bodies, want) in rows {
            assert_eq!(changes(&existing, &bodies, ACTIONS_BOT), want, "{case}");
        }
    }
}
