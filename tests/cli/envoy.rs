//! The envoy serving target against a real Envoy (`scripts/envoy.sh`),
//! started per test on free loopback ports with a temporary bootstrap, in
//! front of small HTTP upstreams inside the test that answer with their
//! version and count what they receive. What the target reports is what
//! Envoy's admin API holds. Without Envoy these tests skip; with
//! `MODELOPS_E2E=1` they fail. Also: the envoy target's configuration
//! rules, and the `envoy` metrics preset on a Prometheus scraping Envoy.
//!
//! Shares are checked with the nginx tests' binomial tolerance
//! ([`crate::nginx::assert_share`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use modelops::backend::metrics::prometheus::PrometheusProvider;
use modelops::backend::metrics::{MetricQuery, MetricsProvider, Signal};
use modelops::backend::serving::envoy::{Admin, CDS, EnvoyTarget, LDS, route_file_name};
use modelops::backend::serving::{Route, ServingError, ServingTarget, VERSION_HEADER};
use modelops::manifest::config::{MetricsPreset, PrometheusConfig};
use modelops::manifest::deployment::StickyKey;
use modelops::state::TrafficRecord;

use crate::common::Repo;
use crate::e2e::MODEL;
use crate::e2e::http::{Response, Server, Upstream, send, send_many};
use crate::e2e::servers::{Envoy, Prometheus, free_port};
use crate::fixtures::{CANARY, CHURN, CHURN_FILE, DEPLOY_FILE};
use crate::nginx::assert_share;

pub(crate) fn traffic(weights: &[(&str, u8)], mirrors: &[(&str, u8)]) -> TrafficRecord {
    let shares = |pairs: &[(&str, u8)]| pairs.iter().map(|(v, p)| (v.to_string(), *p)).collect();
    TrafficRecord {
        target: "edge".into(),
        weights: shares(weights),
        mirrors: shares(mirrors),
        ..TrafficRecord::default()
    }
}

pub(crate) fn route<'a>(traffic: &'a TrafficRecord, sticky: Option<&'a StickyKey>) -> Route<'a> {
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

/// The target `edge` on `envoy`, the fraud detector listening on `listen`.
pub(crate) fn target(envoy: &Envoy, listen: u16, upstreams: &[&Upstream]) -> EnvoyTarget {
    let versions: Vec<(&str, u16)> = upstreams.iter().map(|u| (u.version, u.port)).collect();
    envoy.target(&envoy.config(listen, &versions))
}

/// One request through the listener on `port`: the body (the upstream's
/// version) and the version header Envoy added.
fn ask(port: u16, headers: &[(&str, &str)]) -> (String, Option<String>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut request =
        String::from("GET /predict HTTP/1.1\r\nHost: models.test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let header = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case(VERSION_HEADER)
            .then(|| value.trim().to_string())
    });
    (body.to_string(), header)
}

/// Every answer names the version that gave it in the version header.
fn assert_version_headers(port: u16, n: usize) {
    for _ in 0..n {
        let (body, header) = ask(port, &[]);
        assert_eq!(header.as_deref(), Some(body.as_str()), "{VERSION_HEADER}");
    }
}

/// The names of the clusters Envoy holds, from its admin API.
fn envoy_clusters(envoy: &Envoy) -> BTreeSet<String> {
    let url = format!(
        "http://127.0.0.1:{}/config_dump?resource=dynamic_active_clusters",
        envoy.admin_port
    );
    let dump: serde_json::Value = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap()
        .json()
        .unwrap();
    dump["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["cluster"]["name"].as_str().map(str::to_string))
        .collect()
}

fn file(envoy: &Envoy, name: &str) -> String {
    std::fs::read_to_string(envoy.config_dir().join(name)).unwrap_or_default()
}

#[test]
fn canary_stages_are_applied_and_read_back_from_envoy() {
    let Some(envoy) = Envoy::start() else { return };
    let (stable, canary) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = target(&envoy, port, &[&stable, &canary]);
    assert!(target.observe().unwrap().is_empty());
    // Nothing listens yet.
    let e = target.probe(MODEL, "/").unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "probe of `{MODEL}` through {}: GET http://127.0.0.1:{port}/: connection failed",
            target.describe()
        )),
        "{e}"
    );

    const N: usize = 2000;
    for percent in [5u8, 50, 100] {
        let record = traffic(&[("11", 100 - percent), ("12", percent)], &[]);
        let record = TrafficRecord {
            weights: record.weights.into_iter().filter(|(_, w)| *w > 0).collect(),
            ..record
        };
        target.apply(&route(&record, None)).expect("apply");
        assert_eq!(
            target.observe().unwrap(),
            [(MODEL.to_string(), record)].into()
        );
        let counts = send_many(port, N, no_headers);
        assert_eq!(counts.values().sum::<usize>(), N, "{counts:?}");
        let to_canary = counts.get("12").copied().unwrap_or(0);
        if percent == 100 {
            assert_eq!(to_canary, N, "{counts:?}");
        } else {
            assert_share(
                &format!("canary at {percent}%"),
                to_canary,
                N,
                f64::from(percent) / 100.0,
            );
        }
        assert_version_headers(port, 20);
        let probed = target.probe(MODEL, "/").unwrap().expect("a version");
        assert!(probed == "11" || probed == "12", "{probed}");
    }
    // At 100% the stable version's cluster is gone, from the file and from Envoy.
    assert_eq!(
        envoy_clusters(&envoy),
        ["fraud-detector-v12".to_string()].into()
    );
    assert!(!file(&envoy, CDS).contains("fraud-detector-v11"));

    target.remove(MODEL).expect("remove");
    assert!(target.observe().unwrap().is_empty());
    assert!(envoy_clusters(&envoy).is_empty());
    assert!(
        !envoy.config_dir().join(route_file_name(MODEL)).exists(),
        "no route file without its listener"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on the model's address any more"
    );
    // Removing what is not routed changes nothing.
    let lds = file(&envoy, LDS);
    target.remove(MODEL).expect("a second remove");
    assert_eq!(file(&envoy, LDS), lds);
}

#[test]
fn a_shadow_gets_copies_through_its_own_cluster() {
    let Some(envoy) = Envoy::start() else { return };
    let (primary, shadow) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = target(&envoy, port, &[&primary, &shadow]);

    for (percent, n) in [(100u8, 500usize), (10, 3000)] {
        let record = traffic(&[("11", 100)], &[("12", percent)]);
        target.apply(&route(&record, None)).expect("apply");
        assert_eq!(
            target.observe().unwrap(),
            [(MODEL.to_string(), record)].into()
        );
        assert_eq!(
            envoy_clusters(&envoy),
            ["fraud-detector-v11", "fraud-detector-v12-shadow"]
                .map(str::to_string)
                .into()
        );
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
    assert_version_headers(port, 20);
    // A copy keeps the client's Host (Envoy would append `-shadow`).
    let copy = shadow
        .seen()
        .into_iter()
        .find(|s| s.tag == "100-7")
        .expect("request 7 was mirrored");
    assert_eq!(copy.host, format!("models.test:{port}"));
    assert_eq!(copy.request_line, "POST /predict?model=fraud HTTP/1.1");
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
    let Some(envoy) = Envoy::start() else { return };
    let (control, treatment) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = target(&envoy, port, &[&control, &treatment]);
    let header = StickyKey {
        header: Some("X-User-Id".into()),
        cookie: None,
    };
    let cookie = StickyKey {
        header: None,
        cookie: Some("uid".into()),
    };
    let keys: [(StickyKey, UserKey); 2] = [(header, user_header), (cookie, user_cookie)];
    const USERS: usize = 600;
    const REPEATS: usize = 2;
    for (sticky, key) in keys {
        let record = traffic(&[("11", 70), ("12", 30)], &[]);
        target.apply(&route(&record, Some(&sticky))).expect("apply");
        let want = TrafficRecord {
            sticky: Some(sticky.clone()),
            ..record
        };
        assert_eq!(
            target.observe().unwrap(),
            [(MODEL.to_string(), want)].into()
        );
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
        // Without the key, Envoy picks at random per request.
        let counts = send_many(port, USERS, no_headers);
        let keyless = counts.get("12").copied().unwrap_or(0);
        assert_share(
            &format!("{sticky:?}: keyless requests treated"),
            keyless,
            USERS,
            0.3,
        );
    }
}

#[test]
fn a_config_envoy_refuses_keeps_the_previous_routing_and_says_why() {
    let Some(envoy) = Envoy::start() else { return };
    let (stable, canary) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let before = traffic(&[("11", 100)], &[]);

    // A directory Envoy does not watch: the write is never loaded, and
    // what was written is taken back.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut config = envoy.config(port, &[("11", stable.port)]);
    config.config_dir = Some(elsewhere.path().display().to_string());
    let mut unwatched = envoy
        .target(&config)
        .with_load_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let e = unwatched.apply(&route(&before, None)).unwrap_err();
    // Bounded by the 500 ms load timeout, not Envoy's default; generous
    // for a loaded CI machine.
    assert!(started.elapsed() < Duration::from_secs(15));
    let message = e.to_string();
    assert!(
        message.starts_with(&format!(
            "Envoy did not take the routing of `{MODEL}`: Envoy at http://127.0.0.1:{} did not load cds.json (version ",
            envoy.admin_port
        )) && message.contains(&format!(
            "within 0.5 s; is it running with the bootstrap for {} (scripts/envoy.sh bootstrap)?",
            elsewhere.path().display()
        )),
        "{message}"
    );
    let left: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(elsewhere.path().join(CDS)).unwrap())
            .unwrap();
    assert_eq!(
        left["resources"],
        serde_json::json!([]),
        "put back: nothing"
    );

    let mut target = target(&envoy, port, &[&stable, &canary]);
    target.apply(&route(&before, None)).expect("apply");
    let (lds, rds, cds) = (
        file(&envoy, LDS),
        file(&envoy, &route_file_name(MODEL)),
        file(&envoy, CDS),
    );

    // The model moves to an address another process holds: Envoy cannot
    // bind it and says so in config_dump.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let moved = envoy.config(taken_port, &[("11", stable.port), ("12", canary.port)]);
    let mut refused = envoy.target(&moved);
    let e = refused
        .apply(&route(&traffic(&[("11", 50), ("12", 50)], &[]), None))
        .unwrap_err();
    assert!(matches!(e, ServingError::Refused(_)), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with(&format!(
            "Envoy did not take the routing of `{MODEL}`: cannot bind '127.0.0.1:{taken_port}': Address already in use\n"
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "the previous lds.json, rds-{MODEL}.json and cds.json in {} are back",
            envoy.config_dir().display()
        )),
        "{message}"
    );
    assert_eq!(
        target.observe().unwrap(),
        [(MODEL.to_string(), before.clone())].into()
    );
    assert_eq!(
        envoy_clusters(&envoy),
        ["fraud-detector-v11".to_string()].into(),
        "the cluster added for the change is gone again"
    );
    let counts = send_many(port, 100, no_headers);
    assert_eq!(counts, [("11".to_string(), 100)].into());
    // The files hold the previous resources (under new versions).
    let resources = |text: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(text).unwrap()["resources"].clone()
    };
    assert_eq!(resources(&file(&envoy, LDS)), resources(&lds));
    assert_eq!(
        resources(&file(&envoy, &route_file_name(MODEL))),
        resources(&rds)
    );
    assert_eq!(resources(&file(&envoy, CDS)), resources(&cds));
    drop(taken);
}

#[test]
fn an_admin_api_that_does_not_answer_is_an_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let admin_port = free_port();
    let config = modelops::manifest::config::EnvoyTargetConfig {
        config_dir: Some(dir.path().display().to_string()),
        admin: Some(format!("127.0.0.1:{admin_port}")),
        listen: [(MODEL.to_string(), "127.0.0.1:8081".to_string())].into(),
        upstream_template: Some("127.0.0.1:9{version}".into()),
        ..Default::default()
    };
    let mut target = EnvoyTarget::new("edge", &config, dir.path()).unwrap();
    let e = target.observe().unwrap_err();
    assert!(matches!(e, ServingError::Unavailable(_)), "{e:?}");
    assert_eq!(
        e.to_string().split(": connection failed").next(),
        Some(
            format!(
                "Envoy's admin API at http://127.0.0.1:{admin_port} did not give its listeners"
            )
            .as_str()
        )
    );
    assert!(
        e.to_string()
            .ends_with("(is Envoy running, with its admin API on this address?)")
    );
    let e = target
        .apply(&route(&traffic(&[("11", 100)], &[]), None))
        .unwrap_err();
    assert!(matches!(e, ServingError::Unavailable(_)), "{e:?}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );

    // The admin API must be on loopback, whatever reaches the target.
    let far = modelops::manifest::config::EnvoyTargetConfig {
        admin: Some("10.1.2.3:9901".into()),
        ..config
    };
    let e = EnvoyTarget::new("edge", &far, dir.path()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("envoy target `edge`: admin `10.1.2.3:9901` must be on loopback"),
        "{e}"
    );
}

#[test]
fn observe_reads_envoy_not_the_files_after_a_restart_on_other_files() {
    let Some(mut envoy) = Envoy::start() else {
        return;
    };
    let Some(mut other) = Envoy::start() else {
        return;
    };
    let (v11, v12) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = target(&envoy, port, &[&v11, &v12]);
    let ours = traffic(&[("11", 95), ("12", 5)], &[]);
    target.apply(&route(&ours, None)).expect("apply");

    // Another deployment of the same model, written to the other Envoy's files.
    let other_port = free_port();
    let mut elsewhere = self::target(&other, other_port, &[&v11, &v12]);
    let sticky = StickyKey {
        header: Some("X-User-Id".into()),
        cookie: None,
    };
    let theirs = traffic(&[("11", 50), ("12", 50)], &[]);
    elsewhere
        .apply(&route(&theirs, Some(&sticky)))
        .expect("apply");
    other.stop();

    // Our Envoy restarts on those files: the target reports what it serves.
    let other_dir = other.config_dir().to_path_buf();
    envoy.restart_on(&other_dir);
    let want = TrafficRecord {
        sticky: Some(sticky),
        ..theirs
    };
    assert_eq!(
        target.observe().unwrap(),
        [(MODEL.to_string(), want)].into()
    );
    assert!(file(&envoy, &route_file_name(MODEL)).contains("\"weight\": 50"));
    assert!(ask(other_port, &[("X-User-Id", "u1")]).1.is_some());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn health_checks_ask_the_versions_upstream() {
    let Some(envoy) = Envoy::start() else { return };
    let v11 = Upstream::start("11");
    let closed = free_port();
    let mut config = envoy.config(free_port(), &[("11", v11.port), ("12", closed)]);
    config.health_path = Some("/healthz".into());
    let target = envoy.target(&config);
    let ok = target.check_health(MODEL, "11").unwrap().expect("a check");
    assert_eq!(
        ok,
        format!("GET http://127.0.0.1:{}/healthz answered 200", v11.port)
    );
    let e = target.check_health(MODEL, "12").unwrap_err();
    assert!(matches!(e, ServingError::Unhealthy(_)), "{e:?}");
    assert!(
        e.to_string().ends_with(&format!(
            "GET http://127.0.0.1:{closed}/healthz: connection failed (nothing listening?)"
        )),
        "{e}"
    );
}

/// The envoy target's configuration rules, each at its file:line:col.
#[test]
fn envoy_targets_need_a_directory_and_a_loopback_admin_api() {
    let repo = Repo::new();
    repo.file(CHURN_FILE, CHURN).file(DEPLOY_FILE, CANARY).file(
        "modelops.yaml",
        "apiVersion: modelops/v1\nkind: Config\nspec:\n  serving:\n    targets:\n      mesh:\n        type: envoy\n        upstream_template: \"127.0.0.1:90{version}\"\n      far:\n        type: envoy\n        config_dir: envoy\n        admin: \"http://10.0.0.5:9901\"\n        listen: {churn-predictor: \"localhost:8081\"}\n        upstreams:\n          churn-predictor: {2: \"models-v2:http\"}\n",
    );
    let err = repo.rejects(
        "[REPO]/modelops.yaml:6:7: error: envoy target `mesh` needs config_dir, the directory Envoy's bootstrap watches for lds.json and cds.json",
    );
    for want in [
        "[REPO]/modelops.yaml:6:7: error: envoy target `mesh` needs admin, the address of Envoy's admin API (such as `127.0.0.1:9901`)",
        "[REPO]/modelops.yaml:12:16: error: envoy target `far`: admin `http://10.0.0.5:9901` must be on loopback (127.0.0.1, ::1 or localhost): Envoy's admin API has no authentication, and Envoy runs where modelops writes its files",
        "[REPO]/modelops.yaml:13:35: error: listen address `localhost:8081`: Envoy listens on an IP address and a port, such as `127.0.0.1:8081`",
        "[REPO]/modelops.yaml:15:32: error: upstream address `models-v2:http`: the port must be a number from 1 to 65535",
    ] {
        assert!(err.contains(want), "{want}\nnot in:\n{err}");
    }
}

/// The `envoy` preset against a Prometheus scraping Envoy's own stats:
/// requests and 5xx counted by the clusters the target gives each version,
/// no 5xx series at all read as 0 errors while requests exist, and a
/// version Envoy never served as no data.
#[test]
fn the_envoy_preset_reads_envoys_stats_through_prometheus() {
    let Some(envoy) = Envoy::start() else { return };
    let admin = envoy.admin();
    let Some(prometheus) = Prometheus::scraping(&admin, "/stats/prometheus") else {
        return;
    };
    // Version 12 fails every fourth request.
    let v11 = Upstream::start("11");
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    let v12 = Server::start(move |_| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        if n % 4 == 3 {
            Response {
                status: "500 Internal Server Error".into(),
                ..Response::ok("12")
            }
        } else {
            Response::ok("12")
        }
    });
    let port = free_port();
    let mut target = envoy.target(&envoy.config(port, &[("11", v11.port), ("12", v12.port)]));
    target
        .apply(&route(&traffic(&[("11", 50), ("12", 50)], &[]), None))
        .expect("apply");

    let config = PrometheusConfig {
        url: Some(prometheus.url.clone()),
        queries: BTreeMap::new(),
        preset: Some(MetricsPreset::Envoy),
    };
    let mut provider = PrometheusProvider::new("prom", &config).unwrap();
    // The raw API: one series' value and the time of its sample.
    let sample = |promql: &str| -> Option<(f64, f64)> {
        let get = |q: String| -> Vec<f64> {
            let answer: serde_json::Value = reqwest::blocking::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("{}/api/v1/query", prometheus.url))
                .query(&[("query", q)])
                .send()
                .unwrap()
                .json()
                .unwrap();
            answer["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
                .collect()
        };
        match (
            get(promql.to_string()).as_slice(),
            get(format!("timestamp({promql})")).as_slice(),
        ) {
            ([value], [at]) => Some((*value, *at)),
            _ => None,
        }
    };
    let wait_for = |what: &str, promql: &str, want: f64| -> f64 {
        let started = Instant::now();
        loop {
            let got = sample(promql);
            if let Some((value, at)) = got
                && value == want
            {
                return at;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what}: Prometheus has {got:?}, want {want}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let series = |name: &str, cluster: &str| {
        format!("{name}{{envoy_cluster_name=\"{cluster}\",job=\"target\"}}")
    };
    let total = |cluster: &str| series("envoy_cluster_upstream_rq_total", cluster);
    // A first sample of 0 for both clusters, before any request: the
    // window's increase starts from zero.
    let start = wait_for("v11 at 0", &total("fraud-detector-v11"), 0.0);
    wait_for("v12 at 0", &total("fraud-detector-v12"), 0.0);

    let counts = send_many_allowing_errors(port, 400);
    let (n11, n12) = (v11.count(), answered.load(Ordering::SeqCst));
    assert_eq!(n11 + n12, 400, "{counts:?}");
    let failed = n12 / 4;
    assert_eq!(
        counts.get("HTTP/1.1 500 Internal Server Error").copied(),
        Some(failed),
        "{counts:?}"
    );
    // The samples holding every request: the window ends at the later.
    let at11 = wait_for("v11 counted", &total("fraud-detector-v11"), n11 as f64);
    let at12 = wait_for("v12 counted", &total("fraud-detector-v12"), n12 as f64);
    let fives = series("envoy_cluster_upstream_rq_xx", "fraud-detector-v12")
        .replace("}", ",envoy_response_code_class=\"5\"}");
    wait_for("v12's 5xx counted", &fives, failed as f64);
    let end = at11.max(at12);

    let mut measure = |version: &str, signal: Signal, end: f64| {
        let time = |t: f64| jiff::Timestamp::from_millisecond((t * 1000.0) as i64).unwrap();
        provider
            .query(&MetricQuery {
                model: MODEL.into(),
                version: version.into(),
                signal,
                start: time(start - 30.0),
                end: time(end),
            })
            .unwrap()
    };
    assert_eq!(measure("11", Signal::Requests, end), Some(n11 as f64));
    assert_eq!(measure("12", Signal::Requests, end), Some(n12 as f64));
    // Envoy has no 5xx series for version 11: zero errors, not no data.
    assert_eq!(
        sample(
            &series("envoy_cluster_upstream_rq_xx", "fraud-detector-v11")
                .replace("}", ",envoy_response_code_class=\"5\"}")
        ),
        None
    );
    assert_eq!(measure("11", Signal::Errors, end), Some(0.0));
    // Envoy creates the 5xx series at the first 5xx, so Prometheus's first
    // sample of it already counts some: `increase` starts from there.
    let first = sample(&format!("min_over_time({fives}[5m])"))
        .expect("the 5xx series")
        .0;
    assert!(first >= 1.0);
    assert_eq!(
        measure("12", Signal::Errors, end),
        Some(failed as f64 - first)
    );
    // A version Envoy never served has no data, for errors too.
    assert_eq!(measure("13", Signal::Requests, end), None);
    assert_eq!(measure("13", Signal::Errors, end), None);

    // Envoy exports a histogram once a stats flush (every 5 s) has data
    // for it, so the window's first sample of the latency buckets already
    // holds the first requests: a p99 needs requests after it.
    let count = series("envoy_cluster_upstream_rq_time_count", "fraud-detector-v11");
    wait_for("v11's latency histogram", &count, n11 as f64);
    send_many_allowing_errors(port, 100);
    let n11 = v11.count();
    let end = wait_for("v11's later latencies", &count, n11 as f64);
    let p99 = measure("11", Signal::LatencyP99Ms, end).expect("a p99");
    assert!(
        p99 > 0.0 && p99 < 1000.0,
        "p99 of a local upstream in ms: {p99}"
    );
}
/// Sends `n` requests through the listener on `port`; counts answers by
/// status line.
fn send_many_allowing_errors(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: models.test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.lines().next().unwrap_or_default().to_string();
        *counts.entry(status).or_insert(0) += 1;
    }
    counts
}

/// Through the binary: `modelops apply` routes the fraud detector's
/// Production version on Envoy, `status` reads the routing back from
/// Envoy, and an Envoy that is down is named by its admin API (a warning
/// for `status`, an error for `plan`).
#[test]
fn apply_and_status_through_the_binary() {
    let Some(mut envoy) = Envoy::start() else {
        return;
    };
    let v2 = Upstream::start("2");
    let port = free_port();
    let repo = crate::e2e::fraud_detector_only();
    repo.edit(
        "modelops.yaml",
        "  metrics:\n",
        &format!(
            "  serving:\n    targets:\n{}  metrics:\n",
            envoy.target_yaml(port, &[("2", format!("127.0.0.1:{}", v2.port))])
        ),
    )
    .file(
        "deployments/fraud-detector.yaml",
        crate::e2e::DIRECT_ON_EDGE,
    )
    .git_commit("the fraud detector on Envoy");
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert_eq!(ask(port, &[]), ("2".to_string(), Some("2".to_string())));
    repo.run(&["status", MODEL])
        .code(0)
        .stdout_has("  serving on edge: v2 100%\n");
    repo.run(&["apply", "--auto-approve"])
        .code(0)
        .stdout_has("No changes");

    envoy.stop();
    let down = format!(
        "Envoy's admin API at http://127.0.0.1:{} did not give its listeners: connection failed",
        envoy.admin_port
    );
    repo.run(&["status", MODEL]).code(0).stderr_has(&down);
    repo.run(&["plan"]).code(1).stderr_has(&down);
}

/// A file Envoy cannot parse leaves nothing in `config_dump`: only its
/// update counters show it, and the target reads them as Envoy spells them.
#[test]
fn a_file_envoy_cannot_read_shows_in_its_update_counters() {
    let Some(envoy) = Envoy::start() else { return };
    let mut admin = Admin::new(format!("http://{}", envoy.admin()));
    let before = admin.counters(&[]).unwrap();
    assert_eq!(
        before.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "cluster_manager.cds.update_failure",
            "cluster_manager.cds.update_rejected",
            "listener_manager.lds.update_failure",
            "listener_manager.lds.update_rejected",
        ]
    );
    assert!(before.values().all(|v| *v == 0), "{before:?}");
    let broken = envoy.config_dir().join(".broken");
    std::fs::write(&broken, "{\"version_info\": \"2\", \"resources\": [{").unwrap();
    std::fs::rename(&broken, envoy.config_dir().join(LDS)).unwrap();
    let started = Instant::now();
    while admin.counters(&[]).unwrap()["listener_manager.lds.update_failure"] == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "not counted");
        std::thread::sleep(Duration::from_millis(20));
    }
}
