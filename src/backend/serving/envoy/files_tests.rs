//! The files as a snapshot: a model replaced, kept or refused, and files
//! written, read back and removed.

use super::*;

fn resource(name: &str, model: &str) -> Value {
    json!({"name": name, "metadata": {"filter_metadata": {"modelops": {"model": model}}}})
}

type Names<'a> = &'a [(&'a str, &'a str)];

/// Listeners, route configurations and clusters: (name, model) each.
fn snapshot(listeners: Names, routes: Names, clusters: Names) -> Snapshot {
    let map = |pairs: Names| {
        pairs
            .iter()
            .map(|(n, m)| (n.to_string(), resource(n, m)))
            .collect()
    };
    Snapshot {
        listeners: map(listeners),
        routes: map(routes),
        clusters: map(clusters),
    }
}

fn model(name: &str, clusters: &[&str]) -> ModelResources {
    ModelResources {
        listener: resource(name, "a"),
        route: resource(name, "a"),
        clusters: clusters
            .iter()
            .map(|n| (n.to_string(), resource(n, "a")))
            .collect(),
    }
}

#[test]
fn a_model_is_replaced_and_others_are_kept() {
    let before = snapshot(
        &[("a", "a"), ("b", "b")],
        &[("a", "a"), ("b", "b")],
        &[("a-v1", "a"), ("a-v2", "a"), ("b-v1", "b")],
    );
    let after = before
        .with_model("a", model("a", &["a-v2", "a-v3"]))
        .unwrap();
    assert_eq!(
        after,
        snapshot(
            &[("a", "a"), ("b", "b")],
            &[("a", "a"), ("b", "b")],
            &[("a-v2", "a"), ("a-v3", "a"), ("b-v1", "b")]
        )
    );
    assert_eq!(
        before.clusters_with(&after).keys().collect::<Vec<_>>(),
        ["a-v1", "a-v2", "a-v3", "b-v1"]
    );
    assert_eq!(
        before.without_model("a"),
        snapshot(&[("b", "b")], &[("b", "b")], &[("b-v1", "b")])
    );
    assert!(before.serves("a") && !before.serves("c"));
    assert!(snapshot(&[], &[("c", "c")], &[]).serves("c"));
}

#[test]
fn a_listener_that_differs_only_in_its_revision_is_kept() {
    let listener = |revision: &str, port: u16| {
        json!({"name": "a", "port": port,
            "metadata": {"filter_metadata": {"modelops": {"model": "a", "revision": revision}}}})
    };
    let route = |revision: &str| {
        json!({"name": "a", "weights": revision,
            "metadata": {"filter_metadata": {"modelops": {"model": "a", "revision": revision}}}})
    };
    let before = Snapshot {
        listeners: [("a".to_string(), listener("1", 8081))].into(),
        routes: [("a".to_string(), route("1"))].into(),
        clusters: BTreeMap::new(),
    };
    let new = |port: u16| ModelResources {
        listener: listener("2", port),
        route: route("2"),
        clusters: BTreeMap::new(),
    };
    let same = before.with_model("a", new(8081)).unwrap();
    assert_eq!(same.listeners["a"], listener("1", 8081), "kept");
    assert_eq!(same.routes["a"], route("2"), "the route is always new");
    let moved = before.with_model("a", new(8082)).unwrap();
    assert_eq!(moved.listeners["a"], listener("2", 8082), "replaced");
}

#[test]
fn names_another_model_holds_are_refused() {
    let cases: &[(Snapshot, ModelResources, &str)] = &[
        (
            snapshot(&[("a", "b")], &[], &[]),
            model("a", &[]),
            "Envoy's listener `a` is in lds.json for `b`; it is not `a`'s to replace",
        ),
        (
            snapshot(&[], &[("a", "b")], &[]),
            model("a", &[]),
            "Envoy's route configuration `a` is in rds-a.json for `b`; it is not `a`'s to replace",
        ),
        (
            snapshot(&[], &[], &[("a-v1", "b")]),
            model("a", &["a-v1"]),
            "`a`'s cluster `a-v1` would share its name or stats name with cluster `a-v1` in cds.json",
        ),
        (
            snapshot(&[], &[], &[("a-v1_0", "b")]),
            model("a", &["a-v1.0"]),
            "`a`'s cluster `a-v1.0` would share its name or stats name with cluster `a-v1_0` in cds.json",
        ),
        (
            snapshot(&[], &[], &[]),
            model("a", &["a-v1.0.0-x+y", "a-v1.0.0-x.y"]),
            "`a`'s cluster `a-v1.0.0-x.y` would share its name or stats name with cluster `a-v1.0.0-x+y` in cds.json",
        ),
    ];
    for (before, new, want) in cases {
        let got = before.with_model("a", new.clone()).unwrap_err().to_string();
        assert_eq!(&got, want);
    }
}

#[test]
fn files_round_trip_and_are_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Snapshot::read(dir.path()).unwrap(), Snapshot::default());
    let s = snapshot(
        &[("a", "a")],
        &[("a", "a"), ("b.c+d", "b.c+d")],
        &[("a-v1", "a")],
    );
    let write = |file: &str, resources: &mut dyn Iterator<Item = &Value>| {
        write_atomic(&dir.path().join(file), &discovery_file("7", resources)).unwrap()
    };
    write(LDS, &mut s.listeners.values());
    write(CDS, &mut s.clusters.values());
    for (name, route) in &s.routes {
        write(&route_file_name(name), &mut std::iter::once(route));
    }
    // Not modelops's.
    fs::write(dir.path().join("rds.txt"), "").unwrap();
    assert_eq!(Snapshot::read(dir.path()).unwrap(), s);
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cds.json",
            "lds.json",
            "rds-a.json",
            "rds-b.c+d.json",
            "rds.txt"
        ],
        "no temp file is left"
    );
    remove(&route_file(dir.path(), "b.c+d")).unwrap();
    remove(&route_file(dir.path(), "b.c+d")).unwrap();
    assert_eq!(
        Snapshot::read(dir.path())
            .unwrap()
            .routes
            .keys()
            .collect::<Vec<_>>(),
        ["a"]
    );

    let cases = [
        (
            CDS,
            "{\"resources\": 3}",
            "cds.json: no `resources` list; modelops writes this file as JSON (`version_info`, `resources`)",
        ),
        (
            "rds-a.json",
            "{\"resources\": [{\"name\": \"b\"}]}",
            "rds-a.json: modelops writes one route configuration, `a`, in this file",
        ),
        (
            "rds-a.json",
            "{\"resources\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}",
            "rds-a.json: modelops writes one route configuration, `a`, in this file",
        ),
    ];
    for (file, text, want) in cases {
        let path = dir.path().join(file);
        let was = fs::read_to_string(&path).unwrap();
        fs::write(&path, text).unwrap();
        let e = Snapshot::read(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with(want), "{e}");
        fs::write(&path, was).unwrap();
    }
}
