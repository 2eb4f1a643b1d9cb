//! `config_dump` answers, shaped as Envoy 1.40 gives them, read back into
//! routing; every routing that cannot be read is a table row.

use serde_json::json;

use super::*;

/// A listener for `model` taking its routes from the route configuration
/// `route`, with modelops's metadata.
fn listener(model: &str, route: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": model,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 8081}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": model,
                "rds": {"route_config_name": route, "config_source": {"resource_api_version": "V3",
                    "path_config_source": {"path": "/srv/envoy/rds-m.json", "watched_directory": {"path": "/srv/envoy"}}}},
            },
        }]}],
        "metadata": {"filter_metadata": {"modelops": {"model": model, "target": "edge", "revision": "1"}}},
    })
}

/// The route configuration `name` for `model` whose route is `action`, with
/// modelops's metadata, as `config_dump?resource=dynamic_route_configs`
/// lists it.
fn route_config(name: &str, model: &str, revision: &str, action: Value) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump.DynamicRouteConfig",
        "version_info": revision,
        "route_config": {
            "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            "name": name,
            "virtual_hosts": [{"name": model, "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": action}]}],
            "validate_clusters": true,
            "metadata": {"filter_metadata": {"modelops": {"model": model, "target": "edge", "deployment": model, "revision": revision}}},
        },
        "last_updated": "2026-12-03T07:16:53.029Z",
    })
}

/// A listener for `model` whose route is `action`, inline, with modelops's
/// metadata: as modelops wrote them before it used RDS.
fn inline_listener(model: &str, revision: &str, action: Value) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": model,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 8081}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": model,
                "route_config": {"name": model, "virtual_hosts": [{"name": model, "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": action}]}]},
            },
        }]}],
        "metadata": {"filter_metadata": {"modelops": {"model": model, "target": "edge", "revision": revision}}},
    })
}

fn weighted(clusters: &[(&str, u64)]) -> Value {
    let clusters: Vec<Value> = clusters
        .iter()
        .map(|(name, weight)| {
            if *weight == 0 {
                json!({"name": name})
            } else {
                json!({"name": name, "weight": weight})
            }
        })
        .collect();
    json!({"weighted_clusters": {"clusters": clusters}})
}

fn active(listener: Value) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump.DynamicListener",
        "name": listener["name"],
        "active_state": {"version_info": "1", "listener": listener, "last_updated": "2026-12-03T06:13:56.214Z"},
    })
}

fn cluster(name: &str, model: &str, version: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster",
        "version_info": "7",
        "cluster": {
            "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            "name": name,
            "type": "STATIC",
            "metadata": {"filter_metadata": {"modelops": {"model": model, "version": version, "role": "serve"}}},
        },
    })
}

fn clusters_dump() -> BTreeMap<String, ActiveCluster> {
    clusters(&json!({"configs": [
        cluster("m-v1", "m", "1"),
        cluster("m-v2", "m", "2"),
        cluster("m-v2-shadow", "m", "2"),
        cluster("other-v1", "other", "1"),
        // A cluster of someone else's.
        {"version_info": "3", "cluster": {"name": "admin-tools"}},
    ]}))
    .unwrap()
}

fn record(
    weights: &[(&str, u8)],
    mirrors: &[(&str, u8)],
    sticky: Option<StickyKey>,
) -> TrafficRecord {
    let shares = |p: &[(&str, u8)]| p.iter().map(|(v, s)| (v.to_string(), *s)).collect();
    TrafficRecord {
        target: "edge".into(),
        weights: shares(weights),
        mirrors: shares(mirrors),
        sticky,
    }
}

fn route_configs_dump(configs: Vec<Value>) -> BTreeMap<String, ActiveRouteConfig> {
    route_configs(&json!({ "configs": configs })).unwrap()
}

#[test]
fn routing_is_read_from_active_listeners_through_the_clusters_metadata() {
    let mut split = weighted(&[("m-v1", 95), ("m-v2", 5)]);
    split["weighted_clusters"]["use_hash_policy"] = json!(true);
    split["hash_policy"] = json!([{"cookie": {"name": "uid"}}]);
    let mut shadow = weighted(&[("m-v1", 100)]);
    shadow["request_mirror_policies"] = json!([{"cluster": "m-v2-shadow",
        "runtime_fraction": {"default_value": {"numerator": 10}}}]);
    let mut idle = route_config("m", "m", "5", weighted(&[("m-v1", 100)]));
    idle["route_config"]["metadata"]["filter_metadata"]["modelops"]["idle"] = json!(["2"]);
    let mut hash_only = weighted(&[("m-v1", 50), ("m-v2", 50)]);
    hash_only["hash_policy"] = json!([{"header": {"header_name": "x-user"}}]);
    let mut full_mirror = weighted(&[("m-v1", 100)]);
    full_mirror["request_mirror_policies"] = json!([{"cluster": "m-v2-shadow"}]);
    let mut millions = weighted(&[("m-v1", 100)]);
    millions["request_mirror_policies"] = json!([{"cluster": "m-v2-shadow",
        "runtime_fraction": {"default_value": {"numerator": 250000, "denominator": "MILLION"}}}]);
    let cookie = StickyKey {
        header: None,
        cookie: Some("uid".into()),
    };
    let cases: Vec<(&str, Value, TrafficRecord)> = vec![
        (
            "sticky canary",
            route_config("m", "m", "1", split),
            record(&[("1", 95), ("2", 5)], &[], Some(cookie)),
        ),
        (
            "shadow at 10%",
            route_config("m", "m", "2", shadow),
            record(&[("1", 100)], &[("2", 10)], None),
        ),
        (
            "idle version",
            idle,
            record(&[("1", 100), ("2", 0)], &[], None),
        ),
        (
            "a single cluster",
            route_config("m", "m", "6", json!({"cluster": "m-v2"})),
            record(&[("2", 100)], &[], None),
        ),
        (
            "a hash policy without use_hash_policy is not sticky",
            route_config("m", "m", "3", hash_only),
            record(&[("1", 50), ("2", 50)], &[], None),
        ),
        (
            "a mirror without a fraction copies everything",
            route_config("m", "m", "4", full_mirror),
            record(&[("1", 100)], &[("2", 100)], None),
        ),
        (
            "a fraction per million",
            route_config("m", "m", "4", millions),
            record(&[("1", 100)], &[("2", 25)], None),
        ),
        (
            "weights of another total",
            route_config("m", "m", "4", weighted(&[("m-v1", 3), ("m-v2", 1)])),
            record(&[("1", 75), ("2", 25)], &[], None),
        ),
    ];
    for (name, config, want) in cases {
        let dump = json!({"configs": [
            active(listener("m", "m")),
            // Draining: the listener before an update, finishing its requests.
            {"name": "old", "draining_state": {"listener": listener("m", "old")}},
            // Not modelops's.
            active(json!({"name": "admin-tools", "filter_chains": []})),
        ]});
        let routes = route_configs_dump(vec![
            config,
            // Another model's, and someone else's.
            route_config("other", "other", "1", weighted(&[("other-v1", 100)])),
            json!({"route_config": {"name": "admin-tools", "virtual_hosts": []}}),
        ]);
        let got = routing(
            &listeners(&dump).unwrap(),
            &routes,
            &clusters_dump(),
            "edge",
        )
        .unwrap();
        assert_eq!(got, [("m".to_string(), want)].into(), "{name}");
    }
}

/// An Envoy still serving the files modelops wrote before it used RDS: the
/// route inline in the listener, the idle versions in its metadata.
#[test]
fn an_inline_route_reads_back_too() {
    let mut l = inline_listener("m", "1", weighted(&[("m-v1", 100)]));
    l["metadata"]["filter_metadata"]["modelops"]["idle"] = json!(["2"]);
    let dump = json!({"configs": [active(l)]});
    let got = routing(
        &listeners(&dump).unwrap(),
        &BTreeMap::new(),
        &clusters_dump(),
        "edge",
    )
    .unwrap();
    assert_eq!(
        got,
        [("m".to_string(), record(&[("1", 100), ("2", 0)], &[], None))].into()
    );
}

/// Of two route configurations with one name (a listener moved to another
/// file, the old one draining), the one Envoy took last counts.
#[test]
fn of_two_route_configurations_with_one_name_the_last_taken_counts() {
    let mut old = route_config("m", "m", "1", weighted(&[("m-v1", 100)]));
    old["last_updated"] = json!("2026-12-03T07:16:53.029Z");
    let mut new = route_config("m", "m", "2", weighted(&[("m-v2", 100)]));
    new["last_updated"] = json!("2026-12-03T07:17:00.001Z");
    for configs in [vec![old.clone(), new.clone()], vec![new, old]] {
        let got = route_configs_dump(configs);
        assert_eq!(got["m"].revision.as_deref(), Some("2"));
    }
}

#[test]
fn routing_that_cannot_be_read_is_an_error() {
    let mut two_of_a_kind = active(listener("m", "m"));
    two_of_a_kind["name"] = json!("m2");
    two_of_a_kind["active_state"]["listener"]["name"] = json!("m2");
    let mut thirds = weighted(&[("m-v1", 100)]);
    thirds["request_mirror_policies"] = json!([{"cluster": "m-v2-shadow",
        "runtime_fraction": {"default_value": {"numerator": 333, "denominator": "TEN_THOUSAND"}}}]);
    let routes = |action: Value| vec![route_config("m", "m", "1", action)];
    let one = || vec![active(listener("m", "m"))];
    let cases: Vec<(&str, Vec<Value>, Vec<Value>, &str)> = vec![
        (
            "unknown cluster",
            one(),
            routes(weighted(&[("m-v9", 100)])),
            "Envoy routes `m` to cluster `m-v9`, which it does not hold as modelops's: those requests fail",
        ),
        (
            "another model's cluster",
            one(),
            routes(weighted(&[("other-v1", 100)])),
            "Envoy routes `m` to cluster `other-v1`, which serves `other`",
        ),
        (
            "not whole percents",
            one(),
            routes(weighted(&[("m-v1", 2), ("m-v2", 1)])),
            "Envoy gives `m` cluster `m-v1` a weight of 2 of 3: not a whole percent",
        ),
        (
            "a mirror fraction of no whole percent",
            one(),
            routes(thirds),
            "Envoy's route configuration `m` for `m`: a mirror fraction of 333 per 10000: not a whole percent",
        ),
        (
            "a route configuration Envoy does not hold",
            one(),
            vec![],
            "Envoy's listener `m` for `m` takes its routes from route configuration `m`, which Envoy \
             does not hold: it answers 404. Envoy refused or could not read its file; its log says why",
        ),
        (
            "another model's route configuration",
            vec![active(listener("m", "other"))],
            vec![route_config(
                "other",
                "other",
                "1",
                weighted(&[("other-v1", 100)]),
            )],
            "Envoy's listener `m` for `m` takes its routes from route configuration `other`, which is `other`'s",
        ),
        (
            "someone else's route configuration",
            vec![active(listener("m", "admin"))],
            vec![json!({"route_config": {"name": "admin", "virtual_hosts": []}})],
            "Envoy's listener `m` for `m` takes its routes from route configuration `admin`, which is not modelops's",
        ),
        (
            "no route in the route configuration",
            one(),
            vec![json!({"route_config": {"name": "m", "virtual_hosts": [],
                "metadata": {"filter_metadata": {"modelops": {"model": "m"}}}}})],
            "Envoy's route configuration `m` for `m`: no route (modelops writes one)",
        ),
        (
            "no routes at all",
            vec![active(json!({"name": "m", "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {"stat_prefix": "m"}}]}],
                "metadata": {"filter_metadata": {"modelops": {"model": "m"}}}}))],
            vec![],
            "Envoy's listener `m` for `m`: no route configuration, named or inline",
        ),
        (
            "two listeners for one model",
            vec![active(listener("m", "m")), two_of_a_kind],
            routes(weighted(&[("m-v1", 100)])),
            "Envoy's listeners `m` and `m2` both serve `m`: remove one",
        ),
    ];
    for (name, configs, routes, want) in cases {
        let dump = json!({ "configs": configs });
        let routes = route_configs_dump(routes);
        let got = routing(
            &listeners(&dump).unwrap(),
            &routes,
            &clusters_dump(),
            "edge",
        )
        .unwrap_err();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn refusals_carry_envoys_details_and_our_revision() {
    let at = |revision: &str| {
        let mut l = listener("m", "m");
        l["metadata"]["filter_metadata"]["modelops"]["revision"] = json!(revision);
        l
    };
    let refused = at("42");
    let dump = json!({"configs": [
        {
            "name": "m",
            "active_state": {"version_info": "41", "listener": at("41")},
            "error_state": {"failed_configuration": refused, "last_update_attempt": "2026-12-03T06:17:05.915Z",
                "details": "cannot bind '127.0.0.1:18081': Address already in use"},
        },
        {"error_state": {"failed_configuration": refused,
            "details": "cannot bind '127.0.0.1:18081': Address already in use"}},
    ]});
    let got = listeners(&dump).unwrap();
    assert_eq!(got.active.len(), 1);
    assert_eq!(got.active[0].revision.as_deref(), Some("41"));
    assert_eq!(got.active[0].routes, Ok(Routes::Named("m".into())));
    let want = Refusal {
        name: Some("m".into()),
        revision: Some("42".into()),
        details: "cannot bind '127.0.0.1:18081': Address already in use".into(),
    };
    assert_eq!(got.refused, vec![want.clone(), want]);
}

#[test]
fn an_envoy_without_dynamic_resources_serves_nothing() {
    for dump in [json!({}), json!({"configs": []})] {
        let l = listeners(&dump).unwrap();
        assert_eq!(l, Listeners::default());
        assert!(route_configs(&dump).unwrap().is_empty());
        assert!(clusters(&dump).unwrap().is_empty());
        assert!(
            routing(&l, &BTreeMap::new(), &BTreeMap::new(), "edge")
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(
        listeners(&json!({"configs": 3})).unwrap_err(),
        "`configs` is not a list"
    );
}
