//! The envoy target's routes on a real Envoy, which runs with its default
//! drain settings. The target writes a model's routes in its route file
//! (RDS), so a new split leaves the listener as it is and Envoy applies the
//! new routes to every open connection. Were the listener replaced, Envoy
//! would drain its connections for `--drain-time-s` (600 s by default) on
//! the old routes, and a rollback would not reach a client that keeps its
//! connection. A route file Envoy refuses or cannot read shows in the
//! route configuration's counters only, as the target reads them. Files
//! written before the target used RDS read back, and the next apply moves
//! them to a route file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use modelops::backend::serving::envoy::{
    Admin, CDS, LDS, render::render, route_counters, route_file_name,
};
use modelops::backend::serving::{ServingTarget, VERSION_HEADER};
use serde_json::Value;

use crate::e2e::MODEL;
use crate::e2e::http::Upstream;
use crate::e2e::servers::{Envoy, free_port};
use crate::envoy::{route, target, traffic};
use modelops::state::TrafficRecord;

/// One HTTP/1.1 connection kept open across requests.
struct KeptOpen {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl KeptOpen {
    fn connect(port: u16) -> KeptOpen {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        stream.set_nodelay(true).ok();
        KeptOpen {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    /// One request on this connection: the version that answered (its
    /// header and its body agree). Panics when Envoy closes the connection
    /// or asks to.
    fn ask(&mut self) -> String {
        self.writer
            .write_all(b"GET /predict HTTP/1.1\r\nHost: models.test\r\n\r\n")
            .expect("the connection is open");
        let mut status = String::new();
        self.reader.read_line(&mut status).expect("an answer");
        assert!(status.starts_with("HTTP/1.1 200 "), "answer: {status:?}");
        let (mut length, mut version) = (0, None);
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("a header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header");
            let (name, value) = (name.to_ascii_lowercase(), value.trim());
            match name.as_str() {
                "content-length" => length = value.parse().expect("a length"),
                "connection" => assert_ne!(value, "close", "Envoy closes the connection"),
                _ if name == VERSION_HEADER => version = Some(value.to_string()),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("the body");
        let version = version.expect("a version header");
        assert_eq!(String::from_utf8_lossy(&body), version);
        version
    }
}

/// Envoy's admin API, as JSON.
fn admin(envoy: &Envoy, path: &str) -> Value {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}{path}", envoy.admin_port))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The model's active listener as `config_dump` shows it: the version it
/// came with and when Envoy took it.
fn listener_state(envoy: &Envoy) -> (Value, Value) {
    let dump = admin(envoy, "/config_dump?resource=dynamic_listeners");
    let active = dump["configs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == MODEL)
        .map(|c| c["active_state"].clone())
        .expect("the model's listener");
    (
        active["version_info"].clone(),
        active["last_updated"].clone(),
    )
}

/// Envoy's counts of listeners it added, modified (replaced or updated in
/// place) and removed.
fn listener_counters(envoy: &Envoy) -> Vec<(String, Value)> {
    let stats = admin(
        envoy,
        "/stats?format=json&filter=^listener_manager\\.listener_(added|modified|in_place_updated|removed)$",
    );
    stats["stats"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["value"].clone()))
        .collect()
}

#[test]
fn a_routing_change_reaches_an_open_connection_and_leaves_the_listener() {
    let Some(envoy) = Envoy::start() else { return };
    let (v11, v12) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let mut target = target(&envoy, port, &[&v11, &v12]);
    target
        .apply(&route(&traffic(&[("11", 100)], &[]), None))
        .expect("apply 100% to 11");
    let listener = listener_state(&envoy);
    let counters = listener_counters(&envoy);
    assert_eq!(counters.len(), 4, "{counters:?}");

    // A client keeps one connection and asks on it again and again, while
    // the routing moves to 100% version 12.
    let (tx, answers) = mpsc::channel::<(Instant, String)>();
    let (stop, stopped) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut connection = KeptOpen::connect(port);
        let mut asked = 0;
        while stopped.try_recv().is_err() {
            tx.send((Instant::now(), connection.ask())).unwrap();
            asked += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        asked
    });
    let first = answers
        .recv_timeout(Duration::from_secs(5))
        .expect("an answer");
    assert_eq!(first.1, "11");
    target
        .apply(&route(&traffic(&[("12", 100)], &[]), None))
        .expect("apply 100% to 12");
    let applied = Instant::now();
    let mut seen = vec![first];
    let switched = loop {
        let answer = answers
            .recv_timeout(Duration::from_secs(1))
            .expect("the client keeps asking");
        let is_new = answer.1 == "12";
        let at = answer.0;
        seen.push(answer);
        if is_new {
            break at;
        }
        assert!(
            at < applied + Duration::from_secs(1),
            "still version 11 on the open connection a second after apply"
        );
    };
    // A few more answers on the same connection, all from 12.
    let after: Vec<String> = (0..20)
        .map(|_| answers.recv_timeout(Duration::from_secs(1)).unwrap().1)
        .collect();
    stop.send(()).unwrap();
    let asked = client
        .join()
        .expect("the client saw every answer it wanted");
    assert!(after.iter().all(|v| v == "12"), "{after:?}");
    let versions: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
    assert!(
        versions[..versions.len() - 1].iter().all(|v| *v == "11"),
        "{versions:?}"
    );
    eprintln!(
        "one connection, {asked} requests: version 12 answered {} ms after apply returned",
        switched.saturating_duration_since(applied).as_millis()
    );

    // Envoy did not replace, update or drain the listener.
    assert_eq!(listener_state(&envoy), listener);
    assert_eq!(listener_counters(&envoy), counters);
    assert_eq!(
        admin(
            &envoy,
            "/stats?format=json&filter=^listener_manager\\.total_listeners_draining$"
        )["stats"][0]["value"],
        0
    );
}

/// Envoy reports a route configuration it refused, or a route file it
/// could not read, in the counters [`route_counters`] names, and nowhere in
/// `config_dump`: no `error_state`, the previous routes still active.
#[test]
fn a_route_file_envoy_refuses_shows_in_its_counters_only() {
    let Some(envoy) = Envoy::start() else { return };
    let v11 = Upstream::start("11");
    let port = free_port();
    let mut target = target(&envoy, port, &[&v11]);
    target
        .apply(&route(&traffic(&[("11", 100)], &[]), None))
        .expect("apply");
    let mut admin = Admin::new(format!("http://{}", envoy.admin()));
    let names = route_counters(MODEL);
    let path = envoy.config_dir().join(route_file_name(MODEL));
    let applied = std::fs::read_to_string(&path).unwrap();
    let revision = admin.route_configs().unwrap()[MODEL].revision.clone();
    assert!(revision.is_some());

    // A cluster Envoy does not hold (refused: validate_clusters), then a
    // file that is not JSON.
    let unknown = applied.replace("fraud-detector-v11", "fraud-detector-v99");
    let cases = [
        (&names[0], unknown.as_str()),
        (&names[1], "{\"resources\": ["),
    ];
    for (counter, text) in cases {
        let before = admin.counters(&names).unwrap();
        let temp = envoy.config_dir().join(".route.tmp");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, &path).unwrap();
        let started = Instant::now();
        while admin.counters(&names).unwrap()[counter] == before[counter] {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{counter} did not rise:\n{}",
                envoy.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let configs = admin.route_configs().unwrap();
        assert_eq!(configs[MODEL].revision, revision, "the previous routes");
        let dump = self::admin(&envoy, "/config_dump?resource=dynamic_route_configs");
        assert!(
            !dump.to_string().contains("error_state"),
            "Envoy reports no error state: {dump}"
        );
        let mut open = KeptOpen::connect(port);
        assert_eq!(open.ask(), "11");
    }
    // Envoy's log says why (it may flush it a moment later).
    let started = Instant::now();
    while !envoy
        .log()
        .contains("unknown weighted cluster 'fraud-detector-v99'")
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Files modelops wrote before it used RDS (the route inline in the
/// listener, the idle versions in the listener's metadata) read back as
/// Envoy serves them, and the next apply moves the model to its route file.
#[test]
fn an_inline_route_reads_back_and_the_next_apply_moves_it_to_its_route_file() {
    let Some(envoy) = Envoy::start() else { return };
    let (v11, v12) = (Upstream::start("11"), Upstream::start("12"));
    let port = free_port();
    let config = envoy.config(port, &[("11", v11.port), ("12", v12.port)]);
    let old = traffic(&[("11", 100), ("12", 0)], &[]);
    let r = render("edge", &config, &route(&old, None), "1", envoy.config_dir()).unwrap();
    // The listener as modelops wrote it then.
    let mut listener = r.listener.clone();
    let manager = &mut listener["filter_chains"][0]["filters"][0]["typed_config"];
    manager.as_object_mut().unwrap().remove("rds");
    manager["route_config"] =
        serde_json::json!({"name": MODEL, "virtual_hosts": r.route["virtual_hosts"]});
    listener["metadata"]["filter_metadata"]["modelops"]["deployment"] = MODEL.into();
    listener["metadata"]["filter_metadata"]["modelops"]["idle"] = serde_json::json!(["12"]);
    let write = |file: &str, resources: Vec<&Value>| {
        let text = serde_json::json!({"version_info": "1", "resources": resources}).to_string();
        let temp = envoy.config_dir().join(".old.tmp");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, envoy.config_dir().join(file)).unwrap();
    };
    write(CDS, r.clusters.values().collect());
    std::thread::sleep(Duration::from_millis(200));
    write(LDS, vec![&listener]);

    let mut target = target(&envoy, port, &[&v11, &v12]);
    let started = Instant::now();
    let want = |record: &TrafficRecord| [(MODEL.to_string(), record.clone())].into();
    while target.observe().unwrap() != want(&old) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}",
            envoy.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(KeptOpen::connect(port).ask(), "11");

    let new = traffic(&[("11", 50), ("12", 50)], &[]);
    target.apply(&route(&new, None)).expect("apply");
    assert_eq!(target.observe().unwrap(), want(&new));
    let lds: Value =
        serde_json::from_str(&std::fs::read_to_string(envoy.config_dir().join(LDS)).unwrap())
            .unwrap();
    let manager = &lds["resources"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    assert_eq!(manager["rds"]["route_config_name"], MODEL);
    assert!(manager.get("route_config").is_none());
    assert!(envoy.config_dir().join(route_file_name(MODEL)).exists());
    let mut open = KeptOpen::connect(port);
    let answers: std::collections::BTreeSet<String> = (0..200).map(|_| open.ask()).collect();
    assert_eq!(answers, ["11", "12"].map(String::from).into());
}
