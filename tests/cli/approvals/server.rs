//! A fake GitHub REST API for sign-offs, on a free loopback port, answering
//! as GitHub documents: `GET /repos/{o}/{r}/pulls/{n}` (head.sha,
//! user.login, merge_commit_sha, merged_at), `GET
//! /repos/{o}/{r}/pulls/{n}/reviews` (user.login, state, commit_id,
//! submitted_at; `Link` pages under `/repositories/{id}/…`, as GitHub
//! writes them), `GET /orgs/{org}/teams/{slug}/memberships/{user}` (state
//! `active` or `pending`, 404 for a non-member, or 403 as for a token
//! without members:read), and `GET /repos/{o}/{r}/commits/{sha}/pulls`.
//! 401 for a wrong token. It records every call.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The id GitHub's `Link` URLs use for the repository.
const REPO_ID: u64 = 4242;

/// A pull request.
#[derive(Debug, Clone)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// Its head commit.
    pub head: String,
    /// Who opened it.
    pub author: String,
    /// The commit its merge made, once merged.
    pub merge_commit: Option<String>,
}

/// One review.
#[derive(Debug, Clone)]
pub struct Review {
    /// The reviewer.
    pub login: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`.
    pub state: String,
    /// The commit reviewed.
    pub commit: String,
    /// When (RFC 3339).
    pub submitted_at: String,
}

#[derive(Default)]
struct State {
    pulls: Vec<Pull>,
    reviews: BTreeMap<u64, Vec<Review>>,
    /// (org, slug) → login → `active` | `pending`.
    teams: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// Answer membership calls with 403, as for a token without members:read.
    membership_refused: bool,
    /// Reviews per page at most (GitHub's `per_page`, capped).
    page_size: usize,
    calls: Vec<String>,
}

/// The fake API, serving until the test binary exits.
pub struct FakeGitHub {
    port: u16,
    repo: String,
    token: String,
    state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    /// Serves `repo` (`owner/name`) to callers with `token`.
    pub fn start(repo: &str, token: &str) -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State {
            page_size: 100,
            ..State::default()
        }));
        let server = FakeGitHub {
            port,
            repo: repo.to_string(),
            token: token.to_string(),
            state: state.clone(),
        };
        let (repo, token) = (repo.to_string(), token.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, repo, token) = (state.clone(), repo.clone(), token.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &state, &repo, &token, port);
                });
            }
        });
        server
    }

    /// The environment a runner gives modelops.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_API_URL", format!("http://127.0.0.1:{}", self.port)),
            ("GITHUB_REPOSITORY", self.repo.clone()),
            ("GITHUB_TOKEN", self.token.clone()),
        ]
    }

    /// Adds a pull request.
    pub fn pull(&self, pull: Pull) -> &FakeGitHub {
        self.state.lock().unwrap().pulls.push(pull);
        self
    }

    /// Adds a review of pull request `pr`.
    pub fn review(&self, pr: u64, login: &str, state: &str, commit: &str, at: &str) -> &FakeGitHub {
        self.state
            .lock()
            .unwrap()
            .reviews
            .entry(pr)
            .or_default()
            .push(Review {
                login: login.into(),
                state: state.into(),
                commit: commit.into(),
                submitted_at: at.into(),
            });
        self
    }

    /// Makes `login` a member of `org/slug` (`active` or `pending`).
    pub fn member(&self, org: &str, slug: &str, login: &str, state: &str) -> &FakeGitHub {
        self.state
            .lock()
            .unwrap()
            .teams
            .entry((org.into(), slug.into()))
            .or_default()
            .insert(login.into(), state.into());
        self
    }

    /// From now on membership calls answer 403, as for a workflow's token.
    pub fn refuse_membership(&self) -> &FakeGitHub {
        self.state.lock().unwrap().membership_refused = true;
        self
    }

    /// Pages of at most `n` reviews.
    pub fn page_size(&self, n: usize) -> &FakeGitHub {
        self.state.lock().unwrap().page_size = n;
        self
    }

    /// `METHOD /path` of each call so far.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let (mut authorization, mut length) = (None, 0usize);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(value.trim().to_string()),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        path,
        authorization,
    })
}

fn serve(
    mut stream: TcpStream,
    state: &Mutex<State>,
    repo: &str,
    token: &str,
    port: u16,
) -> std::io::Result<()> {
    let request = read_request(&stream)?;
    let (status, body, link) = answer(&request, state, repo, token, port);
    let route = request.path.split('?').next().unwrap_or("").to_string();
    state
        .lock()
        .unwrap()
        .calls
        .push(format!("{} {route}", request.method));
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(link) = link {
        head.push_str(&format!("Link: {link}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

type Answer = (u16, String, Option<String>);

fn error(status: u16, message: &str) -> Answer {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    });
    (status, body.to_string(), None)
}

fn pull_json(p: &Pull) -> Value {
    json!({
        "number": p.number,
        "state": if p.merge_commit.is_some() { "closed" } else { "open" },
        "user": {"login": p.author, "type": "User"},
        "head": {"sha": p.head, "ref": "promote"},
        "base": {"ref": "main"},
        "merge_commit_sha": p.merge_commit,
        "merged_at": p.merge_commit.as_ref().map(|_| "2026-11-27T08:00:00Z"),
    })
}

fn query(path: &str, key: &str) -> Option<usize> {
    let (_, q) = path.split_once('?')?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn answer(request: &Request, state: &Mutex<State>, repo: &str, token: &str, port: u16) -> Answer {
    let s = state.lock().unwrap();
    if request.authorization.as_deref() != Some(&format!("Bearer {token}")) {
        return error(401, "Bad credentials");
    }
    if request.method != "GET" {
        return error(404, "Not Found");
    }
    let route = request.path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let (owner, name) = repo.split_once('/').unwrap();
    let id = REPO_ID.to_string();
    match parts.as_slice() {
        ["repos", o, n, "pulls", number] if (*o, *n) == (owner, name) => {
            match s.pulls.iter().find(|p| number.parse() == Ok(p.number)) {
                Some(p) => (200, pull_json(p).to_string(), None),
                None => error(404, "Not Found"),
            }
        }
        ["repos", o, n, "pulls", number, "reviews"] if (*o, *n) == (owner, name) => {
            reviews_page(&s, request, number, port)
        }
        ["repositories", rid, "pulls", number, "reviews"] if *rid == id => {
            reviews_page(&s, request, number, port)
        }
        ["repos", o, n, "commits", sha, "pulls"] if (*o, *n) == (owner, name) => {
            let pulls: Vec<Value> = s
                .pulls
                .iter()
                .filter(|p| p.merge_commit.as_deref() == Some(*sha) || p.head == *sha)
                .map(pull_json)
                .collect();
            (200, Value::Array(pulls).to_string(), None)
        }
        ["orgs", org, "teams", slug, "memberships", login] => {
            if s.membership_refused {
                return error(403, "Resource not accessible by integration");
            }
            let team = s.teams.get(&(org.to_string(), slug.to_string()));
            match team.and_then(|t| t.get(*login)) {
                Some(state) => (
                    200,
                    json!({"url": format!("https://api.github.com/teams/1/memberships/{login}"),
                           "role": "member", "state": state})
                    .to_string(),
                    None,
                ),
                None => error(404, "Not Found"),
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn reviews_page(s: &State, request: &Request, number: &str, port: u16) -> Answer {
    let Ok(number) = number.parse::<u64>() else {
        return error(404, "Not Found");
    };
    if !s.pulls.iter().any(|p| p.number == number) {
        return error(404, "Not Found");
    }
    let all = s.reviews.get(&number).cloned().unwrap_or_default();
    let per_page = query(&request.path, "per_page")
        .unwrap_or(30)
        .min(100)
        .min(s.page_size);
    let page = query(&request.path, "page").unwrap_or(1).max(1);
    let items: Vec<Value> = all
        .iter()
        .enumerate()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(i, r)| {
            json!({
                "id": 80 + i,
                "user": {"login": r.login, "type": "User"},
                "body": "",
                "state": r.state,
                "commit_id": r.commit,
                "submitted_at": r.submitted_at,
                "author_association": "MEMBER",
            })
        })
        .collect();
    let pages = all.len().div_ceil(per_page).max(1);
    let at = |p: usize| {
        format!(
            "<http://127.0.0.1:{port}/repositories/{REPO_ID}/pulls/{number}/reviews?per_page={per_page}&page={p}>"
        )
    };
    let link = (page < pages).then(|| {
        format!(
            "{}; rel=\"next\", {}; rel=\"last\"",
            at(page + 1),
            at(pages)
        )
    });
    (200, Value::Array(items).to_string(), link)
}
