//! The nginx serving target against a real nginx, started per test by
//! `scripts/nginx.sh` in a temporary prefix, in front of small HTTP
//! upstreams inside the test that answer with their version and count what
//! they receive. Without nginx these tests skip; with `MODELOPS_E2E=1` they
//! fail.
//!
//! Shares are checked against a binomial tolerance: of `n` requests routed
//! with probability `p`, the count is within 4.5 standard deviations
//! (`4.5 * sqrt(n p (1 - p))`) of `n p`. A correct split then fails about
//! once in 150,000 checks; a split off by a few points fails every time.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use modelops::backend::serving::nginx::NginxTarget;
use modelops::backend::serving::{Route, ServingError, ServingTarget};
use modelops::manifest::config::{ServingTargetConfig, ServingType};
use modelops::manifest::deployment::StickyKey;
use modelops::state::TrafficRecord;

use crate::common::snapshot;

const MODEL: &str = "fraud-detector";

/// A private nginx in a temporary prefix; stopped when dropped.
struct Nginx {
    dir: tempfile::TempDir,
    test: String,
    reload: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nginx.sh")
}

fn script_output(args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Nginx {
    /// Starts nginx, or `None` (skip) when it is not installed outside
    /// end-to-end runs.
    fn start() -> Option<Nginx> {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = dir.path().to_str().expect("a UTF-8 temp path");
        match script_output(&["start", at]) {
            Ok(_) => {}
            Err(e) if e.contains("not installed") => {
                if std::env::var("MODELOPS_E2E").as_deref() == Ok("1") {
                    panic!("MODELOPS_E2E=1 but nginx is missing: {e}");
                }
                eprintln!("skipped: {e}");
                return None;
            }
            Err(e) => panic!("scripts/nginx.sh start failed: {e}"),
        }
        let test = script_output(&["test", at]).expect("test command");
        let reload = script_output(&["reload", at]).expect("reload command");
        Some(Nginx { dir, test, reload })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The target config a user writes for this nginx.
    fn config(&self, listen: u16, upstreams: &[&Upstream]) -> ServingTargetConfig {
        let versions = upstreams
            .iter()
            .map(|u| (u.version.to_string(), format!("127.0.0.1:{}", u.port)))
            .collect();
        ServingTargetConfig {
            target_type: ServingType::Nginx,
            config_dir: Some("conf.d".into()),
            reload_command: Some(self.reload.clone()),
            test_command: Some(self.test.clone()),
            listen: [(MODEL.to_string(), format!("127.0.0.1:{listen}"))].into(),
            upstream_template: None,
            upstreams: [(MODEL.to_string(), versions)].into(),
        }
    }

    fn target(&self, config: &ServingTargetConfig) -> NginxTarget {
        NginxTarget::new("edge", config, self.path()).expect("a target")
    }

    /// nginx's worker processes: the master's children.
    fn workers(&self) -> BTreeSet<u32> {
        let pid_file = self.path().join("logs/nginx.pid");
        let master = std::fs::read_to_string(pid_file).expect("pid file");
        let master = master.trim();
        let mut workers = BTreeSet::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
            let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
            if after.split_whitespace().nth(1) == Some(master) {
                workers.extend(
                    stat.split_whitespace()
                        .next()
                        .and_then(|p| p.parse::<u32>().ok()),
                );
            }
        }
        workers
    }

    /// Applies `route` and waits until every worker serving requests runs
    /// the new configuration: a reload only signals the master, which then
    /// starts new workers while the old ones finish their requests.
    fn apply(&self, target: &mut NginxTarget, route: &Route) {
        let before = self.workers();
        target.apply(route).expect("apply");
        let started = Instant::now();
        loop {
            let now = self.workers();
            if !now.is_empty() && now.is_disjoint(&before) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "nginx did not reload within 5 s: workers {before:?} -> {now:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = script_output(&["stop", self.path().to_str().unwrap()]);
    }
}

/// What an upstream received in one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    request_line: String,
    host: String,
    tag: String,
    body: String,
}

/// A model server for one version on a free loopback port: HTTP/1.1, a
/// thread per connection, connections kept alive. It answers its version.
struct Upstream {
    version: &'static str,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    fn start(version: &'static str) -> Upstream {
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

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<Seen> {
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
fn send(port: u16, headers: &[(&str, &str)]) -> Result<String, String> {
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
fn send_many(
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

/// Asserts that `count` of `n` is within the binomial tolerance of `p`.
fn assert_share(what: &str, count: usize, n: usize, p: f64) {
    let (n_f, count_f) = (n as f64, count as f64);
    let tolerance = 4.5 * (n_f * p * (1.0 - p)).sqrt();
    eprintln!(
        "{what}: {count}/{n} = {:.2}% (want {:.0}% ± {:.2} points)",
        100.0 * count_f / n_f,
        100.0 * p,
        100.0 * tolerance / n_f
    );
    assert!(
        (count_f - n_f * p).abs() <= tolerance,
        "{what}: {count} of {n}, want {:.0} ± {tolerance:.1}",
        n_f * p
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

fn traffic(weights: &[(&str, u8)], mirrors: &[(&str, u8)]) -> TrafficRecord {
    let shares = |pairs: &[(&str, u8)]| pairs.iter().map(|(v, p)| (v.to_string(), *p)).collect();
    TrafficRecord {
        target: "edge".into(),
        weights: shares(weights),
        mirrors: shares(mirrors),
        ..TrafficRecord::default()
    }
}

fn route<'a>(traffic: &'a TrafficRecord, sticky: Option<&'a StickyKey>) -> Route<'a> {
    Route {
        model: MODEL,
        deployment: MODEL,
        traffic,
        sticky,
    }
}

fn no_headers(_: usize) -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn canary_stages_split_traffic_and_observe_reads_them_back() {
    let Some(nginx) = Nginx::start() else { return };
    let (stable, canary) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = nginx.target(&nginx.config(port, &[&stable, &canary]));
    assert!(target.observe().unwrap().is_empty());

    const N: usize = 2000;
    for percent in [5u8, 25, 50, 100] {
        let record = traffic(&[("11", 100 - percent), ("12", percent)], &[]);
        nginx.apply(&mut target, &route(&record, None));
        assert_eq!(
            target.observe().unwrap(),
            [(MODEL.to_string(), record)].into()
        );
        let counts = send_many(port, N, no_headers);
        let to_canary = counts.get("12").copied().unwrap_or(0);
        assert_eq!(counts.values().sum::<usize>(), N, "{counts:?}");
        assert_share(
            &format!("canary at {percent}%"),
            to_canary,
            N,
            f64::from(percent) / 100.0,
        );
    }
}

#[test]
fn a_shadow_gets_copies_and_clients_see_only_the_primary() {
    let Some(nginx) = Nginx::start() else { return };
    let (primary, shadow) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = nginx.target(&nginx.config(port, &[&primary, &shadow]));

    for (percent, n) in [(100u8, 500usize), (10, 3000)] {
        let record = traffic(&[("11", 100)], &[("12", percent)]);
        nginx.apply(&mut target, &route(&record, None));
        let (before_primary, before_shadow) = (primary.count(), shadow.count());
        let tag = |i: usize| vec![("X-Test-Tag".to_string(), format!("{percent}-{i}"))];
        let counts = send_many(port, n, tag);
        assert_eq!(
            counts,
            [("11".to_string(), n)].into(),
            "clients see the primary"
        );
        assert_eq!(primary.count() - before_primary, n);
        // Copies may land just after the client has its answer.
        let started = Instant::now();
        let mut last = usize::MAX;
        while shadow.count() != last && started.elapsed() < Duration::from_secs(5) {
            last = shadow.count();
            std::thread::sleep(Duration::from_millis(100));
        }
        let copies = shadow.count() - before_shadow;
        if percent == 100 {
            assert_eq!(copies, n, "every request is mirrored");
        } else {
            assert_share("mirrored at 10%", copies, n, 0.1);
        }
    }

    // A copy is the request as the client sent it, as is the original.
    let by_tag = |u: &Upstream| -> BTreeMap<String, Seen> {
        u.seen().into_iter().map(|s| (s.tag.clone(), s)).collect()
    };
    let (originals, copies) = (by_tag(&primary), by_tag(&shadow));
    let copy = copies.get("100-7").expect("request 7 was mirrored");
    assert_eq!(Some(copy), originals.get("100-7"));
    assert_eq!(copy.request_line, "POST /predict?model=fraud HTTP/1.1");
    assert_eq!(copy.host, format!("models.test:{port}"));
    assert_eq!(copy.body, r#"{"inputs": [[1.0, 2.0]]}"#);
}

/// The request header that carries user `n`'s sticky key.
type UserKey = fn(usize) -> (String, String);

fn user_header(user: usize) -> (String, String) {
    ("X-User-Id".into(), format!("user-{user}"))
}

/// The key among other cookies, as browsers send it.
fn user_cookie(user: usize) -> (String, String) {
    (
        "Cookie".into(),
        format!("theme=dark; uid=user-{user}; lang=en"),
    )
}

#[test]
fn ab_arms_stick_to_a_header_and_to_a_cookie() {
    let Some(nginx) = Nginx::start() else { return };
    let (control, treatment) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = nginx.target(&nginx.config(port, &[&control, &treatment]));
    let header = StickyKey {
        header: Some("X-User-Id".into()),
        cookie: None,
    };
    let cookie = StickyKey {
        header: None,
        cookie: Some("uid".into()),
    };
    let keys: [(StickyKey, UserKey); 2] = [(header, user_header), (cookie, user_cookie)];
    const USERS: usize = 400;
    const REPEATS: usize = 3;
    for (sticky, key) in keys {
        let record = traffic(&[("11", 70), ("12", 30)], &[]);
        nginx.apply(&mut target, &route(&record, Some(&sticky)));
        let arms: Vec<BTreeSet<String>> = (0..USERS)
            .map(|u| {
                (0..REPEATS)
                    .map(|_| {
                        let (name, value) = key(u);
                        send(port, &[(&name, &value)]).expect("an answer")
                    })
                    .collect()
            })
            .collect();
        assert!(
            arms.iter().all(|a| a.len() == 1),
            "{sticky:?}: a user changed arms"
        );
        let treated = arms.iter().filter(|a| a.contains("12")).count();
        assert_share(&format!("{sticky:?}: users treated"), treated, USERS, 0.3);

        // Without the key, requests spread over the arms instead of all
        // landing in the arm the empty string hashes to.
        let counts = send_many(port, USERS, no_headers);
        let keyless = counts.get("12").copied().unwrap_or(0);
        assert_share(
            &format!("{sticky:?}: keyless requests treated"),
            keyless,
            USERS,
            0.3,
        );

        // Growing the treatment keeps its users: the split is by ranges of
        // the hash, and the treatment's range only widens.
        let record = traffic(&[("11", 50), ("12", 50)], &[]);
        nginx.apply(&mut target, &route(&record, Some(&sticky)));
        for (u, arm) in arms.iter().enumerate() {
            if arm.contains("12") {
                let (name, value) = key(u);
                assert_eq!(send(port, &[(&name, &value)]).unwrap(), "12", "user {u}");
            }
        }
    }
}

#[test]
fn a_reload_during_traffic_drops_no_request() {
    let Some(nginx) = Nginx::start() else { return };
    let (stable, canary) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = nginx.target(&nginx.config(port, &[&stable, &canary]));
    nginx.apply(&mut target, &route(&traffic(&[("11", 100)], &[]), None));

    let stop = AtomicBool::new(false);
    let (sent, failed) = (AtomicUsize::new(0), Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = send(port, &[]) {
                        failed.lock().unwrap().push(e);
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for percent in [5u8, 25, 50, 100, 0, 5, 25, 50, 100, 0] {
            let record = traffic(&[("11", 100 - percent), ("12", percent)], &[("12", 10)]);
            nginx.apply(&mut target, &route(&record, None));
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (sent, failed) = (sent.into_inner(), failed.into_inner().unwrap());
    eprintln!("10 reloads during {sent} requests: {} failed", failed.len());
    assert!(sent > 500, "only {sent} requests were sent");
    assert!(
        failed.is_empty(),
        "{} of {sent} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
}

#[test]
fn a_config_nginx_rejects_leaves_the_previous_fragment_serving() {
    let Some(nginx) = Nginx::start() else { return };
    let stable = Upstream::start("11");
    let port = free_port();
    let mut config = nginx.config(port, &[&stable]);
    let mut target = nginx.target(&config);
    let record = traffic(&[("11", 100)], &[]);
    nginx.apply(&mut target, &route(&record, None));
    let fragment = nginx.path().join("conf.d/modelops-fraud-detector.conf");
    let before = std::fs::read_to_string(&fragment).unwrap();

    config
        .upstreams
        .get_mut(MODEL)
        .unwrap()
        .insert("12".into(), "127.0.0.1:99999".into());
    let mut target = nginx.target(&config);
    let canary = traffic(&[("11", 95), ("12", 5)], &[]);
    let err = target.apply(&route(&canary, None)).unwrap_err();
    assert!(matches!(err, ServingError::Refused(_)), "{err:?}");
    let bin = nginx.test.split_whitespace().next().unwrap();
    let message = err
        .to_string()
        .replace(nginx.path().to_str().unwrap(), "[DIR]")
        .replace(bin, "[NGINX]");
    snapshot!(message);

    assert_eq!(std::fs::read_to_string(&fragment).unwrap(), before);
    assert_eq!(
        target.observe().unwrap(),
        [(MODEL.to_string(), record)].into()
    );
    let counts = send_many(port, 200, no_headers);
    assert_eq!(counts, [("11".to_string(), 200)].into());
}
