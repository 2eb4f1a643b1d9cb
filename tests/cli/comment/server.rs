//! A fake GitHub REST API for one pull request's comments, on a free
//! loopback port, answering as GitHub does: JSON bodies, `Link` pagination
//! (next pages under `/repositories/{id}/…`, as GitHub writes them), 401
//! for a wrong token, 404 for another repository, 422 for a body over
//! 65,536 characters. It records every request it receives. `GET /user`
//! answers as GitHub does for the token: an installation token (the
//! default, as a workflow's `GITHUB_TOKEN`) gets 403 "Resource not
//! accessible by integration" and posts as `github-actions[bot]`; a user's
//! token ([`FakeGitHub::as_user`]) gets its login and posts as that user.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// GitHub's limit on a comment's body, in characters.
pub const MAX_BODY: usize = 65_536;

/// A comment on the pull request.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Who wrote it.
    pub user: String,
    /// Its text.
    pub body: String,
}

/// One request as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD /path` without the query.
    pub fn call(&self) -> String {
        format!(
            "{} {}",
            self.method,
            self.path.split('?').next().unwrap_or("")
        )
    }
}

#[derive(Default)]
struct State {
    comments: Vec<Comment>,
    received: Vec<Received>,
    next_id: u64,
    /// Answer every request with this status and body.
    fail: Option<(u16, String)>,
    /// The token's user, when it is a user's token.
    user: Option<String>,
}

/// The fake API, serving until the test binary exits.
pub struct FakeGitHub {
    port: u16,
    repo: String,
    pr: u64,
    token: String,
    state: Arc<Mutex<State>>,
}

/// The id GitHub's `Link` URLs use for the repository.
const REPO_ID: u64 = 4242;

impl FakeGitHub {
    /// Serves pull request `pr` of `repo` (`owner/name`) to callers with `token`.
    pub fn start(repo: &str, pr: u64, token: &str) -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..State::default()
        }));
        let server = FakeGitHub {
            port,
            repo: repo.to_string(),
            pr,
            token: token.to_string(),
            state: state.clone(),
        };
        let (repo, token) = (repo.to_string(), token.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, repo, token) = (state.clone(), repo.clone(), token.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &state, &repo, pr, &token, port);
                });
            }
        });
        server
    }

    /// Its base URL (what `GITHUB_API_URL` holds).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a runner gives `modelops comment`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_API_URL", self.url()),
            ("GITHUB_REPOSITORY", self.repo.clone()),
            ("GITHUB_TOKEN", self.token.clone()),
        ]
    }

    /// The pull request.
    pub fn pr(&self) -> u64 {
        self.pr
    }

    /// Adds a comment, as if `user` had written it; returns its id.
    pub fn seed(&self, user: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push(Comment {
            id,
            user: user.to_string(),
            body: body.to_string(),
        });
        id
    }

    /// The comments now, oldest first.
    pub fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// `METHOD /path` of each request received so far, and forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        let mut s = self.state.lock().unwrap();
        let calls = s.received.iter().map(Received::call).collect();
        s.received.clear();
        calls
    }

    /// From now on the token is `login`'s own (a personal access token).
    pub fn as_user(&self, login: &str) {
        self.state.lock().unwrap().user = Some(login.to_string());
    }

    /// From now on answers every request with `status` and `body`.
    pub fn fail_with(&self, status: u16, body: &str) {
        self.state.lock().unwrap().fail = Some((status, body.to_string()));
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Received> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn serve(
    mut stream: TcpStream,
    state: &Mutex<State>,
    repo: &str,
    pr: u64,
    token: &str,
    port: u16,
) -> std::io::Result<()> {
    let request = read_request(&stream)?;
    let (status, body, link) = answer(&request, state, repo, pr, token, port);
    state.lock().unwrap().received.push(request);
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
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

fn error(status: u16, message: &str) -> (u16, String, Option<String>) {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string(),
    });
    (status, body.to_string(), None)
}

fn comment_json(c: &Comment, repo: &str, pr: u64) -> Value {
    json!({
        "id": c.id,
        "html_url": format!("https://github.com/{repo}/pull/{pr}#issuecomment-{}", c.id),
        "body": c.body,
        "user": {"login": c.user, "type": if c.user.ends_with("[bot]") { "Bot" } else { "User" }},
        "created_at": "2026-11-26T09:00:00Z",
    })
}

fn query(path: &str, key: &str) -> Option<usize> {
    let (_, q) = path.split_once('?')?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn answer(
    request: &Received,
    state: &Mutex<State>,
    repo: &str,
    pr: u64,
    token: &str,
    port: u16,
) -> (u16, String, Option<String>) {
    let mut s = state.lock().unwrap();
    if let Some((status, body)) = &s.fail {
        return (*status, body.clone(), None);
    }
    if request.header("authorization") != Some(&format!("Bearer {token}")) {
        return error(401, "Bad credentials");
    }
    let route = request.path.split('?').next().unwrap_or("");
    let list_paths = [
        format!("/repos/{repo}/issues/{pr}/comments"),
        format!("/repositories/{REPO_ID}/issues/{pr}/comments"),
    ];
    let item_prefix = format!("/repos/{repo}/issues/comments/");
    let new_body = || {
        serde_json::from_str::<Value>(&request.body)
            .ok()
            .and_then(|v| v.get("body").and_then(Value::as_str).map(str::to_string))
    };
    let poster = s
        .user
        .clone()
        .unwrap_or_else(|| "github-actions[bot]".to_string());
    match request.method.as_str() {
        "GET" if route == "/user" => match &s.user {
            Some(login) => (
                200,
                json!({"login": login, "id": 1, "type": "User"}).to_string(),
                None,
            ),
            None => {
                let body = json!({
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                    "status": "403",
                });
                (403, body.to_string(), None)
            }
        },
        "GET" if list_paths.iter().any(|p| p == route) => {
            let per_page = query(&request.path, "per_page").unwrap_or(30).min(100);
            let page = query(&request.path, "page").unwrap_or(1).max(1);
            let items: Vec<Value> = s
                .comments
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|c| comment_json(c, repo, pr))
                .collect();
            let pages = s.comments.len().div_ceil(per_page).max(1);
            let at = |p: usize| {
                format!(
                    "<http://127.0.0.1:{port}/repositories/{REPO_ID}/issues/{pr}/comments?per_page={per_page}&page={p}>"
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
        "POST" if route == list_paths[0] => {
            let Some(body) = new_body() else {
                return error(422, "Invalid request.");
            };
            if body.chars().count() > MAX_BODY {
                let v = json!({
                    "message": "Validation Failed",
                    "errors": [{"resource": "IssueComment", "code": "unprocessable", "field": "data",
                                "message": "Body is too long (maximum is 65536 characters)"}],
                    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                    "status": "422"
                });
                return (422, v.to_string(), None);
            }
            s.next_id += 1;
            let c = Comment {
                id: s.next_id,
                user: poster,
                body,
            };
            s.comments.push(c.clone());
            (201, comment_json(&c, repo, pr).to_string(), None)
        }
        "PATCH" | "DELETE" if route.starts_with(&item_prefix) => {
            let id: u64 = route[item_prefix.len()..].parse().unwrap_or(0);
            let Some(at) = s.comments.iter().position(|c| c.id == id) else {
                return error(404, "Not Found");
            };
            // As GitHub, which lets anyone with write access edit and
            // delete others' comments: nothing stops modelops but itself.
            if request.method == "DELETE" {
                s.comments.remove(at);
                return (204, String::new(), None);
            }
            let Some(body) = new_body() else {
                return error(422, "Invalid request.");
            };
            if body.chars().count() > MAX_BODY {
                return error(422, "Validation Failed");
            }
            s.comments[at].body = body;
            (
                200,
                comment_json(&s.comments[at], repo, pr).to_string(),
                None,
            )
        }
        _ => error(404, "Not Found"),
    }
}
