//! The target's file handling with stand-in commands (`true`, `false`,
//! `grep`) instead of nginx: atomic writes, restores, what observe reads.
//! tests/cli/nginx.rs runs it against a real nginx.

use std::collections::BTreeMap;

use super::*;
use crate::manifest::deployment::StickyKey;

fn config(dir: &Path, test: &str, reload: &str) -> NginxTargetConfig {
    NginxTargetConfig {
        config_dir: Some(dir.display().to_string()),
        reload_command: Some(reload.into()),
        test_command: Some(test.into()),
        listen: [("fraud-detector".to_string(), "127.0.0.1:8081".to_string())].into(),
        upstream_template: Some("127.0.0.1:90{version}".into()),
        upstreams: BTreeMap::new(),
        health_path: None,
    }
}

fn target(dir: &Path, test: &str, reload: &str) -> NginxTarget {
    NginxTarget::new("edge", &config(dir, test, reload), Path::new("/repo")).unwrap()
}

fn traffic(weights: &[(&str, u8)]) -> TrafficRecord {
    TrafficRecord {
        target: "edge".into(),
        weights: weights.iter().map(|(v, p)| (v.to_string(), *p)).collect(),
        mirrors: BTreeMap::new(),
        ..TrafficRecord::default()
    }
}

fn route<'a>(traffic: &'a TrafficRecord, sticky: Option<&'a StickyKey>) -> Route<'a> {
    Route {
        model: "fraud-detector",
        deployment: "fraud-detector",
        traffic,
        sticky,
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn new_resolves_the_directory_and_commands() {
    let mut given = config(Path::new("nginx/conf.d"), "nginx -t", "nginx -s reload");
    let t = NginxTarget::new("edge", &given, Path::new("/srv/repo")).unwrap();
    assert_eq!(t.describe(), "nginx target edge (/srv/repo/nginx/conf.d)");
    assert_eq!(
        t.fragment_path("fraud-detector"),
        Path::new("/srv/repo/nginx/conf.d/modelops-fraud-detector.conf")
    );

    given.config_dir = Some("/etc/nginx/modelops".into());
    (given.test_command, given.reload_command) = (None, None);
    let t = NginxTarget::new("edge", &given, Path::new("/srv/repo")).unwrap();
    assert_eq!(t.describe(), "nginx target edge (/etc/nginx/modelops)");
    assert_eq!(
        (t.test.to_string(), t.reload.to_string()),
        ("nginx -t".to_string(), "nginx -s reload".to_string())
    );

    let refused = [
        (
            NginxTargetConfig {
                config_dir: None,
                ..given.clone()
            },
            "nginx target `edge` needs config_dir, where its fragments are written",
        ),
        (
            NginxTargetConfig {
                reload_command: Some(" ".into()),
                ..given.clone()
            },
            "nginx target `edge`: reload_command is empty",
        ),
    ];
    for (config, want) in refused {
        match NginxTarget::new("edge", &config, Path::new("/srv/repo")) {
            Err(ServingError::Config(got)) => assert_eq!(got, want),
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
}

#[test]
fn apply_writes_the_fragment_before_the_test_and_observe_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("modelops-fraud-detector.conf");
    // The test command sees the new fragment in place.
    let test = format!("grep -q modelops_fraud_detector_v12 {}", path.display());
    let mut t = target(dir.path(), &test, "true");
    let canary = traffic(&[("11", 95), ("12", 5)]);
    t.apply(&route(&canary, None)).unwrap();
    assert_eq!(files(dir.path()), ["modelops-fraud-detector.conf"]);
    assert_eq!(
        t.observe().unwrap(),
        [("fraud-detector".to_string(), canary)].into()
    );
}

#[test]
fn observe_reads_back_the_sticky_key_of_the_route_or_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(dir.path(), "true", "true");
    let key = |header: &str| StickyKey {
        header: Some(header.into()),
        cookie: None,
    };
    let ab = traffic(&[("11", 50), ("12", 50)]);
    let recorded = TrafficRecord {
        sticky: Some(key("X-Record")),
        ..ab.clone()
    };
    let cases = [
        (
            "route only",
            &ab,
            Some(key("X-Route")),
            Some(key("X-Route")),
        ),
        ("record only", &recorded, None, Some(key("X-Record"))),
        (
            "route wins",
            &recorded,
            Some(key("X-Route")),
            Some(key("X-Route")),
        ),
        ("neither", &ab, None, None),
    ];
    for (name, traffic, sticky, want) in cases {
        t.apply(&route(traffic, sticky.as_ref())).unwrap();
        let observed = t.observe().unwrap().remove("fraud-detector").unwrap();
        assert_eq!(observed.sticky, want, "{name}");
        assert_eq!(observed.weights, traffic.weights, "{name}");
    }
}

#[test]
fn a_refused_change_puts_the_previous_fragment_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("modelops-fraud-detector.conf");
    let stable = traffic(&[("11", 100)]);
    target(dir.path(), "true", "true")
        .apply(&route(&stable, None))
        .unwrap();
    let before = fs::read_to_string(&path).unwrap();

    let canary = traffic(&[("11", 95), ("12", 5)]);
    for (test, reload, want) in [
        (
            "false",
            "true",
            "nginx refused the routing of `fraud-detector`: `false` exited with status 1",
        ),
        (
            "true",
            "false",
            "nginx did not reload the routing of `fraud-detector`: `false` exited with status 1",
        ),
    ] {
        let err = target(dir.path(), test, reload)
            .apply(&route(&canary, None))
            .unwrap_err();
        let want = format!("{want}\nthe previous fragment {} is back", path.display());
        assert!(
            matches!(&err, ServingError::Refused(m) if *m == want),
            "{err}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
        assert_eq!(files(dir.path()), ["modelops-fraud-detector.conf"]);
    }
}

#[test]
fn a_refused_first_fragment_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let canary = traffic(&[("11", 95), ("12", 5)]);
    let err = target(dir.path(), "false", "true")
        .apply(&route(&canary, None))
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("modelops-fraud-detector.conf was removed"),
        "{err}"
    );
    assert!(files(dir.path()).is_empty());
}

#[test]
fn observe_reads_only_modelops_fragments() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(dir.path(), "true", "true");
    let stable = traffic(&[("11", 100)]);
    t.apply(&route(&stable, None)).unwrap();
    for (name, text) in [
        ("default.conf", "# modelops-route: {not json}\nserver {}\n"),
        (
            "modelops-hand-written.conf",
            "# written by a person\nserver {}\n",
        ),
        ("modelops-notes.txt", "# modelops-route: {not json}\n"),
    ] {
        fs::write(dir.path().join(name), text).unwrap();
    }
    assert_eq!(
        t.observe().unwrap(),
        [("fraud-detector".to_string(), stable.clone())].into()
    );

    let broken = dir.path().join("modelops-broken.conf");
    fs::write(&broken, "# modelops-route: {\"model\":1}\n").unwrap();
    let err = t.observe().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: unreadable modelops-route header:",
            broken.display()
        )),
        "{err}"
    );

    fs::copy(t.fragment_path("fraud-detector"), &broken).unwrap();
    let err = t.observe().unwrap_err().to_string();
    assert!(err.contains("both route `fraud-detector`"), "{err}");
}

#[test]
fn observe_of_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = target(&dir.path().join("absent"), "true", "true");
    let err = t.observe().unwrap_err().to_string();
    assert!(err.starts_with("read directory "), "{err}");
}

#[test]
fn a_deployment_name_that_is_no_file_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stable = traffic(&[("11", 100)]);
    let r = Route {
        deployment: "../escape",
        ..route(&stable, None)
    };
    let err = target(dir.path(), "true", "true").apply(&r).unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment name `../escape` holds characters an nginx fragment cannot carry"
    );
    assert!(files(dir.path()).is_empty());
}

/// A server on a free loopback port answering every request with
/// `response` (status line and headers, no body), until the test ends.
fn answering(response: &'static str) -> u16 {
    use std::io::{BufRead, BufReader, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = stream;
            let _ = stream.write_all(
                format!("HTTP/1.1 {response}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    port
}

#[test]
fn a_probe_reads_the_version_header_of_a_2xx_answer() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // (front door, what the probe returns)
    let cases = [
        (answering("200 OK\r\nx-modelops-version: 2"), Ok("2".to_string())),
        (
            answering("502 Bad Gateway\r\nx-modelops-version: 2"),
            Err("GET http://127.0.0.1:PORT/healthz answered 502".to_string()),
        ),
        (
            answering("200 OK"),
            Err("GET http://127.0.0.1:PORT/healthz answered 200 without a x-modelops-version header".to_string()),
        ),
        (
            free,
            Err("GET http://127.0.0.1:PORT/healthz: connection failed (nothing listening?)".to_string()),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (port, want) in cases {
        let mut given = config(dir.path(), "true", "true");
        given.listen = [("fraud-detector".to_string(), port.to_string())].into();
        let t = NginxTarget::new("edge", &given, Path::new("/repo")).unwrap();
        let got = t
            .probe("fraud-detector", "/healthz")
            .map(|v| v.expect("nginx has a front door"))
            .map_err(|e| e.to_string());
        let prefix = format!("probe of `fraud-detector` on {}: ", t.describe());
        let want = want.map_err(|e| prefix + &e.replace("PORT", &port.to_string()));
        assert_eq!(got, want, "port {port}");
    }
    let t = target(dir.path(), "true", "true");
    assert_eq!(
        t.probe("churn-predictor", "/").unwrap_err().to_string(),
        "nginx target `edge` has no listen address for model `churn-predictor` (serving.targets.edge.listen)"
    );
}
