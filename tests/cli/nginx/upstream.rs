//! A model server for one version inside the test, and the client that
//! sends requests through nginx to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                // nginx closing a kept-alive connection is not an error.
                std::thread::spawn(move || serve(stream, version, &log).ok());
            }
        });
        Upstream {
            version,
            port,
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

fn serve(stream: TcpStream, version: &str, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let (mut length, mut host, mut tag) = (0, String::new(), String::new());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let Some((name, value)) = line.trim_end().split_once(':') else {
                break;
            };
            let value = value.trim().to_string();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().expect("a length"),
                "host" => host = value,
                "x-test-tag" => tag = value,
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        log.lock().unwrap().push(Seen {
            request_line: request_line.trim_end().to_string(),
            host,
            tag,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{version}",
            version.len()
        );
        writer.write_all(response.as_bytes())?;
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

/// A loopback port nothing listens on (for nginx to take).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}
