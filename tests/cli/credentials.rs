//! Credentials never reach output: a password in the MLflow URL (one with
//! a `/` in it), a token in its query string, `MLFLOW_TRACKING_TOKEN`, a
//! password in `GITHUB_API_URL` and `GITHUB_TOKEN`, against servers that
//! echo the request's `Authorization` header back in their error bodies.
//!
//! The servers here are fakes for failure injection: `monitor`'s receiver,
//! a few lines of TCP on loopback, answering every request with one canned
//! error built from what was sent. No real MLflow or GitHub answers like that, but a proxy
//! or a debugging endpoint in front of one can.

use crate::common::{Repo, Run};
use crate::e2e::http::Receiver;
use crate::lifecycle::example_in_git;

/// A proxy's debugging page: the request line and every credential sent.
fn headers_page(line: &str, auth: &str) -> String {
    format!("Forbidden.\nRequest: {line}\nAuthorization: {auth}\n")
}

/// MLflow's JSON error, quoting the header it was sent.
fn mlflow_error(_: &str, auth: &str) -> String {
    format!(
        r#"{{"error_code": "PERMISSION_DENIED", "message": "denied {{\"Authorization\": \"{auth}\"}} ({auth})"}}"#
    )
}

/// Neither output stream holds any of `secrets`.
#[track_caller]
fn lacks(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.raw_stdout().contains(s) && !run.stderr().contains(s),
            "{s} was printed\n--- stdout:\n{}\n--- stderr:\n{}",
            run.raw_stdout(),
            run.stderr()
        );
    }
}

/// `user:password` as basic auth sends it.
fn basic(user_password: &str) -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = user_password.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn an_mlflow_url_password_and_query_token_are_sent_but_never_shown() {
    let password = "pa/ss-Secret1";
    let query_token = "QueryTok%2FSecret2";
    for (status, body) in [
        ("403 Forbidden", headers_page as fn(&str, &str) -> String),
        ("403 Forbidden", mlflow_error),
        ("500 Internal Server Error", headers_page),
    ] {
        let server = Receiver::answering(status, body);
        let host = server.url.trim_start_matches("http://");
        let uri = format!("http://alice:{password}@{host}/mlflow?token={query_token}");
        let repo = Repo::example();
        let run = repo
            .run_with(&["status"], &[("MLFLOW_TRACKING_URI", &uri)])
            .code(1);
        let sent = basic(&format!("alice:{password}"));
        lacks(&run, &[password, "Secret1", query_token, "Secret2", &sent]);
        // The server's answer is shown, with what it echoed hidden.
        assert!(run.stderr().contains("***"), "{}", run.stderr());
        // What was sent: basic auth with the whole password, and the query
        // string intact after the API path.
        let seen = server.requests();
        assert!(!seen.is_empty());
        for (line, auth, _) in &seen {
            assert_eq!(auth.as_deref(), Some(format!("Basic {sent}").as_str()));
            assert!(line.starts_with("GET /mlflow/api/2.0/mlflow/"), "{line}");
            assert!(line.contains(&format!("&token={query_token} ")), "{line}");
        }
    }
}

#[test]
fn an_mlflow_token_reflected_by_the_server_is_never_shown() {
    let token = "mlflow-Tok3n-Secret3";
    let server = Receiver::answering("401 Unauthorized", mlflow_error);
    let repo = Repo::example();
    let run = repo
        .run_with(
            &["plan"],
            &[
                ("MLFLOW_TRACKING_URI", server.url.as_str()),
                ("MLFLOW_TRACKING_TOKEN", token),
            ],
        )
        .code(1);
    lacks(&run, &[token, "Secret3"]);
    assert!(
        run.stderr().contains("PERMISSION_DENIED"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        server.requests()[0].1.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
}

#[test]
fn a_github_api_url_password_and_the_token_are_never_shown() {
    let token = "ghs_Tok3nSecret4";
    let password = "gh/Secret5";
    let repo = example_in_git();
    let run = repo.run(&["plan", "--format", "json"]).code(0);
    let plan = repo.path("plan.json");
    std::fs::write(&plan, run.raw_stdout()).unwrap();
    let comment = |api: &str| {
        repo.run_with(
            &["comment", "--pr", "7", "--plan", plan.to_str().unwrap()],
            &[
                ("GITHUB_API_URL", api),
                ("GITHUB_REPOSITORY", "acme/model-lifecycle"),
                ("GITHUB_TOKEN", token),
            ],
        )
    };
    // A server that echoes the token in its JSON message and its headers.
    let server = Receiver::answering("400 Bad Request", |_, auth| {
        format!(r#"{{"message": "bad request with Authorization: {auth}"}}"#)
    });
    let host = server.url.trim_start_matches("http://");
    let run = comment(&format!("http://bot:{password}@{host}")).code(1);
    lacks(&run, &[token, "Secret4", password, "Secret5"]);
    // Nothing listening: the URL is named, without its password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = comment(&format!("http://bot:{password}@127.0.0.1:{port}")).code(1);
    lacks(&run, &[token, "Secret4", password, "Secret5"]);
    assert!(
        run.stderr().contains(&format!(
            "cannot reach GitHub at http://***@127.0.0.1:{port}"
        )),
        "{}",
        run.stderr()
    );
}
