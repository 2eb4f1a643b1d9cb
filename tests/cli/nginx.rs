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
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use modelops::backend::serving::{Route, ServingError, ServingTarget};
use modelops::manifest::deployment::StickyKey;
use modelops::state::TrafficRecord;

use crate::common::snapshot;
use crate::e2e::MODEL;
use crate::e2e::http::{Seen, Upstream, send, send_many};
use crate::e2e::servers::{Nginx, free_port};

/// Asserts that `count` of `n` is within the binomial tolerance of `p`.
pub(crate) fn assert_share(what: &str, count: usize, n: usize, p: f64) {
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
    const USERS: usize = 1000;
    const REPEATS: usize = 2;
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
