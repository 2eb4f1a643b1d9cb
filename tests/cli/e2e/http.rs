//! Small HTTP/1.1 servers inside the test, on free loopback ports: a
//! [`Server`] that answers each request as the test decides, and on it the
//! model servers nginx routes to ([`Upstream`], with the client that sends
//! requests through nginx) and a [`Receiver`] that records what it is sent.
//! They are fakes: enough HTTP for the binary's clients, and what a test
//! needs to see or to inject (a status, a delay), never a real service's
//! behaviour. They live until the test binary exits.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request a [`Server`] read.
pub struct Request {
    /// The request line, without its line end.
    pub line: String,
    /// Header names in lower case, values trimmed.
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the last header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.headers.iter().rev().filter(|(n, _)| n == name);
        found.next().map(|(_, v)| v.as_str())
    }

    /// The request target: the path and query.
    pub fn path(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }
}

/// How a [`Server`] answers one request.
pub struct Response {
    /// The status line after `HTTP/1.1 `, such as `200 OK`.
    pub status: String,
    /// Headers written before `Content-Length`.
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// How long to wait before answering.
    pub delay: Duration,
    /// Whether to say `Connection: close` and close after answering.
    pub close: bool,
}

impl Response {
    /// `200 OK` with `body`, at once, keeping the connection.
    pub fn ok(body: impl Into<String>) -> Response {
        Response {
            status: "200 OK".into(),
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            close: false,
        }
    }
}

/// A server on a free loopback port: HTTP/1.1, a thread per connection,
/// connections kept alive; it answers each request with `answer(request)`.
pub struct Server {
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

type Answer = dyn Fn(Request) -> Response + Send + Sync;

impl Server {
    pub fn start(answer: impl Fn(Request) -> Response + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let answer: Arc<Answer> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                // A client that hung up (nginx closing a kept-alive
                // connection, a client that timed out) is not the server's
                // failure.
                std::thread::spawn(move || serve(stream, &*answer).ok());
            }
        });
        Server { port, connections }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The connections made to it so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let request = Request {
            line: line.trim_end().to_string(),
            headers,
            body: Vec::new(),
        };
        let length = request
            .header("content-length")
            .map_or(0, |n| n.parse().unwrap_or(0));
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let response = answer(Request { body, ..request });
        std::thread::sleep(response.delay);
        let mut out = format!("HTTP/1.1 {}\r\n", response.status);
        for (name, value) in &response.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
        if response.close {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&response.body);
        // One write: headers and body in separate small writes could wait
        // on Nagle's algorithm and the client's delayed ACK (~40 ms).
        writer.write_all(out.as_bytes())?;
        if response.close {
            return Ok(());
        }
    }
}

/// What an upstream received in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub request_line: String,
    pub host: String,
    pub tag: String,
    pub body: String,
}

/// A model server for one version on a free loopback port: HTTP/1.1, a
/// thread per connection, connections kept alive. It answers its version.
pub struct Upstream {
    pub version: &'static str,
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn start(version: &'static str) -> Upstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = Server::start(move |r| {
            let header = |name| r.header(name).unwrap_or("").to_string();
            log.lock().unwrap().push(Seen {
                request_line: r.line.clone(),
                host: header("host"),
                tag: header("x-test-tag"),
                body: String::from_utf8_lossy(&r.body).into_owned(),
            });
            Response::ok(version)
        });
        Upstream {
            version,
            port: server.port,
            seen,
        }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Sends one request on its own connection; `Ok` holds the answering
/// version, `Err` anything but a 200.
pub fn send(port: u16, headers: &[(&str, &str)]) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let body = r#"{"inputs": [[1.0, 2.0]]}"#;
    let mut request = format!(
        "POST /predict?model=fraud HTTP/1.1\r\nHost: models.test:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200 ") => Ok(body.to_string()),
        _ => Err(format!("unexpected answer: {response:?}")),
    }
}

/// Sends `n` requests over 4 connections at a time; `headers(i)` are the
/// `i`th request's. Returns how many each version answered.
pub fn send_many(
    port: u16,
    n: usize,
    headers: impl Fn(usize) -> Vec<(String, String)> + Sync,
) -> BTreeMap<String, usize> {
    let counts = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for lane in 0..4 {
            let (counts, headers) = (&counts, &headers);
            s.spawn(move || {
                for i in (lane..n).step_by(4) {
                    let h = headers(i);
                    let h: Vec<(&str, &str)> =
                        h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let version = send(port, &h).expect("an answer");
                    *counts.lock().unwrap().entry(version).or_insert(0) += 1;
                }
            });
        }
    });
    counts.into_inner().unwrap()
}

/// One request a receiver saw: request line, authorization, body.
pub(crate) type Delivery = (String, Option<String>, String);

/// A local HTTP receiver that records what it is sent and answers `status`
/// (a fake: a webhook, the GitHub API, an MLflow in trouble).
pub(crate) struct Receiver {
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub(crate) fn start(status: &'static str) -> Receiver {
        Receiver::answering(status, |_, _| String::new())
    }

    /// A receiver whose answers carry the body `body(request line,
    /// authorization)` makes.
    pub(crate) fn answering(status: &'static str, body: fn(&str, &str) -> String) -> Receiver {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = Server::start(move |r| {
            let auth = r.header("authorization").map(str::to_string);
            let answer = body(&r.line, auth.as_deref().unwrap_or(""));
            log.lock()
                .unwrap()
                .push((r.line, auth, String::from_utf8_lossy(&r.body).into_owned()));
            Response {
                status: status.into(),
                close: true,
                ..Response::ok(answer)
            }
        });
        Receiver {
            url: server.url(),
            seen,
        }
    }

    pub(crate) fn requests(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }
}
