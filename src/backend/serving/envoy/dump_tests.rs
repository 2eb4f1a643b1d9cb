//! `config_dump` answers, shaped as Envoy 1.40 gives them, read back into
//! routing; every routing that cannot be read is a table row.

use serde_json::json;

use super::*;

/// A listener for `model` whose route is `action`, with modelops's metadata.
fn listener(model: &str, revision: &str, action: Value) -> Value {
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

#[test]
fn routing_is_read_from_active_listeners_through_the_clusters_metadata() {
    let mut split = weighted(&[("m-v1", 95), ("m-v2", 5)]);
    split["weighted_clusters"]["use_hash_policy"] = json!(true);
    split["hash_policy"] = json!([{"cookie": {"name": "uid"}}]);
    let mut shadow = weighted(&[("m-v1", 100)]);
    shadow["request_mirror_policies"] = json!([{"cluster": "m-v2-shadow",
        "runtime_fraction": {"default_value": {"numerator": 10}}}]);
    let mut idle = listener("m", "5", weighted(&[("m-v1", 100)]));
    idle["metadata"]["filter_metadata"]["modelops"]["idle"] = json!(["2"]);
    let single = listener("m", "6", json!({"cluster": "m-v2"}));
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
            listener("m", "1", split),
            record(&[("1", 95), ("2", 5)], &[], Some(cookie)),
        ),
        (
            "shadow at 10%",
            listener("m", "2", shadow),
            record(&[("1", 100)], &[("2", 10)], None),
        ),
        (
            "idle version",
            idle,
            record(&[("1", 100), ("2", 0)], &[], None),
        ),
        ("a single cluster", single, record(&[("2", 100)], &[], None)),
        (
            "a hash policy without use_hash_policy is not sticky",
            listener("m", "3", hash_only),
            record(&[("1", 50), ("2", 50)], &[], None),
        ),
        (
            "a mirror without a fraction copies everything",
            listener("m", "4", full_mirror),
            record(&[("1", 100)], &[("2", 100)], None),
        ),
        (
            "a fraction per million",
            listener("m", "4", millions),
            record(&[("1", 100)], &[("2", 25)], None),
        ),
        (
            "weights of another total",
            listener("m", "4", weighted(&[("m-v1", 3), ("m-v2", 1)])),
            record(&[("1", 75), ("2", 25)], &[], None),
        ),
    ];
    for (name, l, want) in cases {
        let dump = json!({"configs": [
            active(l),
            // Draining: the listener before an update, finishing its requests.
            {"name": "old", "draining_state": {"listener": listener("m", "0", weighted(&[("m-v2", 100)]))}},
            // Not modelops's.
            active(json!({"name": "admin-tools", "filter_chains": []})),
        ]});
        let got = routing(&listeners(&dump).unwrap(), &clusters_dump(), "edge").unwrap();
        assert_eq!(got, [("m".to_string(), want)].into(), "{name}");
    }
}

#[test]
fn routing_that_cannot_be_read_is_an_error() {
    let mut two_of_a_kind = active(listener("m", "1", weighted(&[("m-v1", 100)])));
    two_of_a_kind["name"] = json!("m2");
    two_of_a_kind["active_state"]["listener"]["name"] = json!("m2");
    let mut thirds = weighted(&[("m-v1", 100)]);
    thirds["request_mirror_policies"] = json!([{"cluster": "m-v2-shadow",
        "runtime_fraction": {"default_value": {"numerator": 333, "denominator": "TEN_THOUSAND"}}}]);
    let cases: Vec<(&str, Vec<Value>, &str)> = vec![
        (
            "unknown cluster",
            vec![active(listener("m", "1", weighted(&[("m-v9", 100)])))],
            "Envoy routes `m` to cluster `m-v9`, which it does not hold as modelops's: those requests fail",
        ),
        (
            "another model's cluster",
            vec![active(listener("m", "1", weighted(&[("other-v1", 100)])))],
            "Envoy routes `m` to cluster `other-v1`, which serves `other`",
        ),
        (
            "not whole percents",
            vec![active(listener(
                "m",
                "1",
                weighted(&[("m-v1", 2), ("m-v2", 1)]),
            ))],
            "Envoy gives `m` cluster `m-v1` a weight of 2 of 3: not a whole percent",
        ),
        (
            "a mirror fraction of no whole percent",
            vec![active(listener("m", "1", thirds))],
            "Envoy's listener `m` for `m`: a mirror fraction of 333 per 10000: not a whole percent",
        ),
        (
            "no route inline",
            vec![active(json!({"name": "m", "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {"rds": {"route_config_name": "m"}}}]}],
                "metadata": {"filter_metadata": {"modelops": {"model": "m"}}}}))],
            "Envoy's listener `m` for `m`: no inline route (modelops writes one route in the listener)",
        ),
        (
            "two listeners for one model",
            vec![
                active(listener("m", "1", weighted(&[("m-v1", 100)]))),
                two_of_a_kind,
            ],
            "Envoy's listeners `m` and `m2` both serve `m`: remove one",
        ),
    ];
    for (name, configs, want) in cases {
        let dump = json!({ "configs": configs });
        let got = routing(&listeners(&dump).unwrap(), &clusters_dump(), "edge").unwrap_err();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn refusals_carry_envoys_details_and_our_revision() {
    let refused = listener("m", "42", weighted(&[("m-v1", 100)]));
    let dump = json!({"configs": [
        {
            "name": "m",
            "active_state": {"version_info": "41", "listener": listener("m", "41", weighted(&[("m-v1", 100)]))},
            "error_state": {"failed_configuration": refused, "last_update_attempt": "2026-12-03T06:17:05.915Z",
                "details": "cannot bind '127.0.0.1:18081': Address already in use"},
        },
        {"error_state": {"failed_configuration": refused,
            "details": "cannot bind '127.0.0.1:18081': Address already in use"}},
    ]});
    let got = listeners(&dump).unwrap();
    assert_eq!(got.active.len(), 1);
    assert_eq!(got.active[0].revision.as_deref(), Some("41"));
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
        assert!(clusters(&dump).unwrap().is_empty());
        assert!(routing(&l, &BTreeMap::new(), "edge").unwrap().is_empty());
    }
    assert_eq!(
        listeners(&json!({"configs": 3})).unwrap_err(),
        "`configs` is not a list"
    );
}
