//! Rendered resources as snapshots, one per shape of routing, and every
//! refusal as a table row.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::state::TrafficRecord;

fn config() -> EnvoyTargetConfig {
    EnvoyTargetConfig {
        config_dir: Some("envoy".into()),
        admin: Some("127.0.0.1:9901".into()),
        listen: [("fraud-detector".to_string(), "127.0.0.1:8081".to_string())].into(),
        upstream_template: Some("unix:/run/models/{model}-{version}.sock".into()),
        upstreams: [(
            "fraud-detector".to_string(),
            [
                ("11".to_string(), "127.0.0.1:9011".to_string()),
                ("12".to_string(), "models-v12.internal:9012".to_string()),
            ]
            .into(),
        )]
        .into(),
        health_path: None,
    }
}

fn shares(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
    pairs.iter().map(|(v, p)| (v.to_string(), *p)).collect()
}

fn traffic(weights: &[(&str, u8)], mirrors: &[(&str, u8)]) -> TrafficRecord {
    TrafficRecord {
        target: "edge".into(),
        weights: shares(weights),
        mirrors: shares(mirrors),
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

/// The directory the target writes to.
const DIR: &str = "/srv/modelops/envoy";

/// The listener, the route configuration and the clusters, as the files
/// hold them.
fn resources(traffic: &TrafficRecord, sticky: Option<&StickyKey>) -> String {
    let r = render(
        "edge",
        &config(),
        &route(traffic, sticky),
        "1700000000000.1",
        Path::new(DIR),
    )
    .expect("renders");
    let clusters: Vec<&Value> = r.clusters.values().collect();
    serde_json::to_string_pretty(
        &serde_json::json!({"listener": r.listener, "route": r.route, "clusters": clusters}),
    )
    .unwrap()
}

#[test]
fn canary_95_5() {
    insta::assert_snapshot!(resources(&traffic(&[("11", 95), ("12", 5)], &[]), None));
}

#[test]
fn shadow_mirrors_ten_percent() {
    insta::assert_snapshot!(resources(&traffic(&[("11", 100)], &[("12", 10)]), None));
}

#[test]
fn ab_sticky_on_a_cookie() {
    let cookie = StickyKey {
        header: None,
        cookie: Some("uid".into()),
    };
    insta::assert_snapshot!(resources(
        &traffic(&[("11", 70), ("12", 30)], &[]),
        Some(&cookie)
    ));
}

#[test]
fn shapes_of_routing() {
    let header = StickyKey {
        header: Some("X-User-Id".into()),
        cookie: None,
    };
    let sticky_record = TrafficRecord {
        sticky: Some(header.clone()),
        ..traffic(&[("11", 50), ("12", 50)], &[])
    };
    // What the route action says, for each shape.
    let cases: Vec<(&str, TrafficRecord, Option<&StickyKey>, Value)> = vec![
        (
            "one version: one weighted cluster",
            traffic(&[("11", 100)], &[]),
            None,
            json!({"timeout": "60s", "weighted_clusters": {"clusters": [
                {"name": "fraud-detector-v11", "weight": 100, "response_headers_to_add": [
                    {"header": {"key": "x-modelops-version", "value": "11"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}]}}),
        ),
        (
            "a zero weight gets no cluster",
            traffic(&[("11", 100), ("12", 0)], &[]),
            None,
            json!({"timeout": "60s", "weighted_clusters": {"clusters": [
                {"name": "fraud-detector-v11", "weight": 100, "response_headers_to_add": [
                    {"header": {"key": "x-modelops-version", "value": "11"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}]}}),
        ),
        (
            "sticky on a header, from the record",
            sticky_record,
            None,
            json!({"timeout": "60s", "weighted_clusters": {"clusters": [
                {"name": "fraud-detector-v11", "weight": 50, "response_headers_to_add": [
                    {"header": {"key": "x-modelops-version", "value": "11"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]},
                {"name": "fraud-detector-v12", "weight": 50, "response_headers_to_add": [
                    {"header": {"key": "x-modelops-version", "value": "12"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}],
                "use_hash_policy": true},
                "hash_policy": [{"header": {"header_name": "X-User-Id"}}]}),
        ),
        (
            "a full mirror",
            traffic(&[("11", 100)], &[("12", 100)]),
            Some(&header),
            json!({"timeout": "60s", "weighted_clusters": {"clusters": [
                {"name": "fraud-detector-v11", "weight": 100, "response_headers_to_add": [
                    {"header": {"key": "x-modelops-version", "value": "11"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}],
                "use_hash_policy": true},
                "hash_policy": [{"header": {"header_name": "X-User-Id"}}],
                "request_mirror_policies": [{"cluster": "fraud-detector-v12-shadow",
                    "runtime_fraction": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
                    "disable_shadow_host_suffix_append": true}]}),
        ),
    ];
    for (name, traffic, sticky, want) in cases {
        let r = render(
            "edge",
            &config(),
            &route(&traffic, sticky),
            "1",
            Path::new(DIR),
        )
        .expect(name);
        let action = r.route.pointer("/virtual_hosts/0/routes/0/route").unwrap();
        assert_eq!(action, &want, "{name}");
    }
}

#[test]
fn idle_versions_are_kept_in_the_route_configurations_metadata() {
    let r = render(
        "edge",
        &config(),
        &route(&traffic(&[("11", 100), ("12", 0)], &[]), None),
        "1",
        Path::new(DIR),
    )
    .unwrap();
    assert_eq!(
        r.route["metadata"],
        json!({"filter_metadata": {"modelops": {
            "model": "fraud-detector", "target": "edge", "deployment": "fraud-detector",
            "revision": "1", "idle": ["12"]}}})
    );
    assert_eq!(
        r.listener["metadata"],
        json!({"filter_metadata": {"modelops": {
            "model": "fraud-detector", "target": "edge", "revision": "1"}}})
    );
    assert_eq!(
        r.clusters.keys().collect::<Vec<_>>(),
        ["fraud-detector-v11"]
    );
}

/// Every routing renders the same listener: a routing change rewrites the
/// route file only, and Envoy drains no connection.
#[test]
fn the_listener_holds_no_routing() {
    let header = StickyKey {
        header: Some("X-User-Id".into()),
        cookie: None,
    };
    let routings: Vec<(TrafficRecord, Option<&StickyKey>)> = vec![
        (traffic(&[("11", 100)], &[]), None),
        (traffic(&[("11", 95), ("12", 5)], &[]), None),
        (traffic(&[("11", 100), ("12", 0)], &[("12", 10)]), None),
        (traffic(&[("11", 50), ("12", 50)], &[]), Some(&header)),
        (traffic(&[("12", 100)], &[]), None),
    ];
    let listeners: Vec<Value> = routings
        .iter()
        .map(|(traffic, sticky)| {
            render(
                "edge",
                &config(),
                &route(traffic, *sticky),
                "1",
                Path::new(DIR),
            )
            .unwrap()
            .listener
        })
        .collect();
    assert!(listeners.iter().all(|l| *l == listeners[0]));
    assert_eq!(
        listeners[0].pointer("/filter_chains/0/filters/0/typed_config/rds"),
        Some(
            &json!({"route_config_name": "fraud-detector", "config_source": {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": "/srv/modelops/envoy/rds-fraud-detector.json",
                "watched_directory": {"path": "/srv/modelops/envoy"}}}})
        )
    );
}

#[cfg(unix)]
#[test]
fn a_directory_envoy_cannot_be_given_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = Path::new(std::ffi::OsStr::from_bytes(b"/srv/\xff"));
    let got = render(
        "edge",
        &config(),
        &route(&traffic(&[("11", 100)], &[]), None),
        "1",
        dir,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        got,
        "config_dir `/srv/\u{fffd}` is not UTF-8 text; Envoy's configuration names it"
    );
}

#[test]
fn names_and_stats_names() {
    let cases = [
        (
            "fraud-detector",
            "3",
            Role::Serve,
            "fraud-detector-v3",
            "fraud-detector-v3",
        ),
        (
            "fraud-detector",
            "3",
            Role::Shadow,
            "fraud-detector-v3-shadow",
            "fraud-detector-v3-shadow",
        ),
        (
            "churn.model",
            "1.4.0-rc.1+b7",
            Role::Serve,
            "churn.model-v1.4.0-rc.1+b7",
            "churn_model-v1_4_0-rc_1_b7",
        ),
    ];
    for (model, version, role, name, stats) in cases {
        assert_eq!(cluster_name(model, version, role), name);
        assert_eq!(stat_name(name), stats);
    }
}

/// Target name, model, config, routing, sticky key, and the refusal.
type Refusal<'a> = (
    &'a str,
    &'a str,
    EnvoyTargetConfig,
    TrafficRecord,
    Option<&'a StickyKey>,
    &'a str,
);

#[test]
fn routes_that_cannot_be_served_are_refused() {
    let ok = traffic(&[("11", 100)], &[]);
    let no_listen = EnvoyTargetConfig {
        listen: BTreeMap::new(),
        ..config()
    };
    let named_listen = EnvoyTargetConfig {
        listen: [("fraud-detector".to_string(), "localhost:8081".to_string())].into(),
        ..config()
    };
    let no_upstream = EnvoyTargetConfig {
        upstream_template: None,
        ..config()
    };
    let bad_upstream = EnvoyTargetConfig {
        upstream_template: Some("{model}-{version}.internal:http".into()),
        ..config()
    };
    let bad_header = StickyKey {
        header: Some("X User".into()),
        cookie: None,
    };
    let both = StickyKey {
        header: Some("a".into()),
        cookie: Some("b".into()),
    };
    let cases: Vec<Refusal> = vec![
        (
            "edge",
            "fraud-detector",
            no_listen,
            ok.clone(),
            None,
            "envoy target `edge` has no listen address for model `fraud-detector` (serving.targets.edge.listen)",
        ),
        (
            "edge",
            "fraud-detector",
            named_listen,
            ok.clone(),
            None,
            "listen address `localhost:8081` for model `fraud-detector`: Envoy listens on an IP address and a port, such as `127.0.0.1:8081`",
        ),
        (
            "edge",
            "fraud-detector",
            no_upstream,
            traffic(&[("13", 100)], &[]),
            None,
            "envoy target `edge` has no upstream for `fraud-detector` version 13 (serving.targets.edge.upstreams, or upstream_template)",
        ),
        (
            "edge",
            "fraud-detector",
            bad_upstream,
            traffic(&[("13", 100)], &[]),
            None,
            "upstream address `fraud-detector-13.internal:http` for `fraud-detector` version 13: the port must be a number from 1 to 65535",
        ),
        (
            "edge",
            "fraud-detector",
            config(),
            traffic(&[("11", 60), ("12", 30)], &[]),
            None,
            "the live weights for `fraud-detector` sum to 90%, not 100%",
        ),
        (
            "edge",
            "fraud-detector",
            config(),
            traffic(&[("11", 100)], &[("12", 120)]),
            None,
            "the mirror of `fraud-detector` version 12 is 120%, above 100%",
        ),
        (
            "edge",
            "fraud-detector",
            config(),
            traffic(&[("11", 50), ("12", 50)], &[]),
            Some(&bad_header),
            "sticky header `X User`: only letters, digits and dashes",
        ),
        (
            "edge",
            "fraud-detector",
            config(),
            ok.clone(),
            Some(&both),
            "a sticky key needs exactly one of header or cookie",
        ),
        (
            "edge",
            "fraud\"detector",
            config(),
            ok.clone(),
            None,
            "model name `fraud\\\"detector` holds characters modelops does not put in Envoy's configuration",
        ),
        (
            "ed\nge",
            "fraud-detector",
            config(),
            ok.clone(),
            None,
            "serving target name `ed\\nge` holds characters modelops does not put in Envoy's configuration",
        ),
    ];
    for (target, model, config, traffic, sticky, want) in cases {
        let route = Route {
            model,
            deployment: "fraud-detector",
            traffic: &traffic,
            sticky,
        };
        let got = render(target, &config, &route, "1", Path::new(DIR))
            .unwrap_err()
            .to_string();
        assert_eq!(got, want);
    }
}
