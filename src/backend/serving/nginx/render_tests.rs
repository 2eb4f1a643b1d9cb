//! Rendered fragments as snapshots, one per shape of routing, and every
//! refusal as a table row.

use std::collections::BTreeMap;

use super::*;
use crate::state::TrafficRecord;

fn config() -> NginxTargetConfig {
    NginxTargetConfig {
        config_dir: Some("nginx/conf.d".into()),
        reload_command: None,
        test_command: None,
        listen: [("fraud-detector".to_string(), "127.0.0.1:8081".to_string())].into(),
        upstream_template: Some("unix:/run/models/{model}-{version}.sock".into()),
        upstreams: [(
            "fraud-detector".to_string(),
            [
                ("11".to_string(), "127.0.0.1:9011".to_string()),
                ("12".to_string(), "127.0.0.1:9012".to_string()),
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

fn fragment(traffic: &TrafficRecord, sticky: Option<&StickyKey>) -> String {
    let route = Route {
        model: "fraud-detector",
        deployment: "fraud-detector",
        traffic,
        sticky,
    };
    render("edge", &config(), &route).expect("renders")
}

fn header(name: &str) -> StickyKey {
    StickyKey {
        header: Some(name.into()),
        cookie: None,
    }
}

fn cookie(name: &str) -> StickyKey {
    StickyKey {
        header: None,
        cookie: Some(name.into()),
    }
}

#[test]
fn canary_95_5() {
    insta::assert_snapshot!(fragment(&traffic(&[("11", 95), ("12", 5)], &[]), None));
}

#[test]
fn one_version_takes_all_traffic() {
    // A zero weight is recorded in the header but gets no upstream.
    insta::assert_snapshot!(fragment(&traffic(&[("11", 100), ("12", 0)], &[]), None));
}

#[test]
fn shadow_mirrors_every_request() {
    insta::assert_snapshot!(fragment(&traffic(&[("11", 100)], &[("12", 100)]), None));
}

#[test]
fn shadow_mirrors_ten_percent() {
    insta::assert_snapshot!(fragment(&traffic(&[("11", 100)], &[("12", 10)]), None));
}

#[test]
fn ab_sticky_on_a_header() {
    let sticky = header("X-User-Id");
    insta::assert_snapshot!(fragment(
        &traffic(&[("11", 50), ("12", 50)], &[]),
        Some(&sticky)
    ));
}

#[test]
fn ab_sticky_on_a_cookie() {
    let sticky = cookie("uid");
    insta::assert_snapshot!(fragment(
        &traffic(&[("11", 70), ("12", 30)], &[]),
        Some(&sticky)
    ));
}

#[test]
fn upstream_template_fills_model_and_version() {
    let text = fragment(&traffic(&[("7", 100)], &[]), None);
    assert!(
        text.contains("upstream modelops_fraud_detector_v7 {\n    server unix:/run/models/fraud-detector-7.sock;\n"),
        "{text}"
    );
}

/// Name, model, config, traffic, sticky key, and the error message.
type Refusal<'a> = (
    &'a str,
    &'a str,
    NginxTargetConfig,
    TrafficRecord,
    Option<StickyKey>,
    &'a str,
);

#[test]
fn refusals() {
    let both = StickyKey {
        header: Some("X-User-Id".into()),
        cookie: Some("uid".into()),
    };
    let no_template = NginxTargetConfig {
        upstream_template: None,
        ..config()
    };
    let mut two_names = config();
    two_names
        .upstreams
        .get_mut("fraud-detector")
        .unwrap()
        .extend([
            ("1.2".to_string(), "127.0.0.1:1".to_string()),
            ("1-2".to_string(), "127.0.0.1:2".to_string()),
        ]);
    let mut spaced = config();
    spaced
        .upstreams
        .get_mut("fraud-detector")
        .unwrap()
        .insert("11".into(), "127.0.0.1:9011; include /etc/passwd".into());
    #[rustfmt::skip]
    let cases: Vec<Refusal> = vec![
        ("no listen address", "churn-predictor", config(), traffic(&[("11", 100)], &[]), None,
         "nginx target `edge` has no listen address for model `churn-predictor` (serving.targets.edge.listen)"),
        ("no upstream and no template", "fraud-detector", no_template, traffic(&[("13", 100)], &[]), None,
         "nginx target `edge` has no upstream for `fraud-detector` version 13 (serving.targets.edge.upstreams, or upstream_template)"),
        ("weights short of 100", "fraud-detector", config(), traffic(&[("11", 90), ("12", 5)], &[]), None,
         "the live weights for `fraud-detector` sum to 95%, not 100%"),
        ("no live traffic", "fraud-detector", config(), traffic(&[("11", 0)], &[("12", 100)]), None,
         "the live weights for `fraud-detector` sum to 0%, not 100%"),
        ("mirror above 100", "fraud-detector", config(), traffic(&[("11", 100)], &[("12", 150)]), None,
         "the mirror of `fraud-detector` version 12 is 150%, above 100%"),
        ("two versions, one nginx name", "fraud-detector", two_names, traffic(&[("1.2", 50), ("1-2", 50)], &[]), None,
         "versions 1-2 and 1.2 of `fraud-detector` both make the nginx name `modelops_fraud_detector_v1_2`"),
        ("address that is not one word", "fraud-detector", spaced, traffic(&[("11", 100)], &[]), None,
         "upstream address for `fraud-detector` version 11 `127.0.0.1:9011; include /etc/passwd` is not one nginx word (letters, digits and `.`, `_`, `-`, `:`, `/`, `[`, `]`)"),
        ("version with a newline", "fraud-detector", config(), traffic(&[("1\nserver {", 100)], &[]), None,
         "version of `fraud-detector` `1\\nserver {` holds characters an nginx fragment cannot carry"),
        ("header with an underscore", "fraud-detector", config(), traffic(&[("11", 50), ("12", 50)], &[]), Some(header("X_User")),
         "sticky header `X_User`: nginx reads only header names of letters, digits and dashes"),
        ("cookie with a dash", "fraud-detector", config(), traffic(&[("11", 50), ("12", 50)], &[]), Some(cookie("user-id")),
         "sticky cookie `user-id`: nginx reads only cookie names of letters, digits and underscores"),
        ("header and cookie", "fraud-detector", config(), traffic(&[("11", 50), ("12", 50)], &[]), Some(both),
         "a sticky key needs exactly one of header or cookie"),
    ];
    for (name, model, config, traffic, sticky, want) in cases {
        let route = Route {
            model,
            deployment: model,
            traffic: &traffic,
            sticky: sticky.as_ref(),
        };
        match render("edge", &config, &route) {
            Err(ServingError::Config(got)) => assert_eq!(got, want, "{name}"),
            other => panic!("{name}: expected a config error, got {other:?}"),
        }
    }
}

#[test]
fn names() {
    let cases = [
        ("fraud-detector", "fraud_detector"),
        ("churn-predictor", "churn_predictor"),
        ("1.2.0-rc.1+b5", "1_2_0_rc_1_b5"),
        ("v3", "v3"),
    ];
    for (name, want) in cases {
        assert_eq!(ident(name), want, "{name}");
    }
    assert_eq!(
        upstream_name("fraud_detector", "1.2.0"),
        "modelops_fraud_detector_v1_2_0"
    );
}

#[test]
fn the_header_reads_back_what_was_rendered() {
    let sticky = cookie("uid");
    let traffic = traffic(&[("11", 70), ("12", 30)], &[("13", 0)]);
    let text = fragment(&traffic, Some(&sticky));
    let header = RouteHeader::parse(&text).unwrap().expect("a header");
    assert_eq!(
        (header.model.as_str(), header.target.as_str()),
        ("fraud-detector", "edge")
    );
    assert_eq!(
        (header.weights, header.mirrors, header.sticky),
        (traffic.weights, traffic.mirrors, Some(sticky))
    );
}

/// The renderer refuses what validation refuses, so a target name, an
/// address or a deployment name that reached it another way (a hand-edited
/// state or saved plan) still cannot paste text into nginx's configuration.
#[test]
fn refuses_text_that_could_leave_its_place() {
    let with_listen = |address: &str| {
        let mut c = config();
        c.listen.insert("fraud-detector".into(), address.into());
        c
    };
    let with_template = |template: &str| {
        let mut c = config();
        c.upstreams.clear();
        c.upstream_template = Some(template.into());
        c
    };
    let all = traffic(&[("11", 100)], &[]);
    // (case, target name, deployment, config, error)
    let rows = [
        (
            "target name with a newline",
            "edge\n}\nserver { listen 9; root /etc; autoindex on; }\n#",
            "fraud-detector",
            config(),
            "serving target name `edge\\n}\\nserver { listen 9; root /etc; autoindex on; }\\n#` holds characters an nginx fragment cannot carry",
        ),
        (
            "target name with a bidi override",
            "edge\u{202e}",
            "fraud-detector",
            config(),
            "serving target name `edge\\u{202e}` holds characters an nginx fragment cannot carry",
        ),
        (
            "deployment name with a newline",
            "edge",
            "fd\nroot /",
            config(),
            "deployment name `fd\\nroot /` holds characters an nginx fragment cannot carry",
        ),
        (
            "listen address with a directive",
            "edge",
            "fraud-detector",
            with_listen("8081 ssl; root /"),
            "listen address for model `fraud-detector` `8081 ssl; root /` is not one nginx word (letters, digits and `.`, `_`, `-`, `:`, `/`, `[`, `]`)",
        ),
        (
            "template with a non-ASCII letter",
            "edge",
            "fraud-detector",
            with_template("unix:/run/ｍ/{model}.sock"),
            "upstream address for `fraud-detector` version 11 `unix:/run/ｍ/fraud-detector.sock` is not one nginx word (letters, digits and `.`, `_`, `-`, `:`, `/`, `[`, `]`)",
        ),
    ];
    for (case, target, deployment, config, want) in rows {
        let route = Route {
            model: "fraud-detector",
            deployment,
            traffic: &all,
            sticky: None,
        };
        match render(target, &config, &route) {
            Err(ServingError::Config(got)) => assert_eq!(got, want, "{case}"),
            other => panic!("{case}: expected a config error, got {other:?}"),
        }
    }
}
