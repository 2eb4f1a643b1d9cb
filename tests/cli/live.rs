//! The live loop: real model servers (`mlflow models serve` on versions
//! trained and registered in the suite's MLflow), real traffic from the
//! bounded load generator, and — with Envoy — rollouts judged on what
//! Prometheus scraped from that traffic.

use crate::e2e::models::{Kind, Load, ModelServers, train};
use crate::e2e::servers::{mlflow_url, unique};

/// What the loop relies on: a good version answers every request, a bad one
/// answers 500 for about a third of them (and slower), and the load
/// generator stops by itself at its count.
#[test]
fn a_good_and_a_bad_version_answer_as_the_loop_expects() {
    let Some(url) = mlflow_url() else { return };
    let model = unique("live-fixture");
    let trained = train(&url, Some(&model), &[Kind::Good, Kind::Bad]);
    let (good, bad) = (trained[0].version.unwrap(), trained[1].version.unwrap());
    assert_eq!((good, bad), (1, 2), "fresh model, versions in order");
    assert!(trained[0].source.starts_with("models:/m-"), "{trained:?}");
    assert_ne!(trained[0].run, trained[1].run, "a run per model");
    let servers = ModelServers::start(&url, &model, &[good, bad]);
    for (version, kind) in [(good, Kind::Good), (bad, Kind::Bad)] {
        let target = format!("http://127.0.0.1:{}/invocations", servers.port(version));
        let sent = Load::start(&target, 150, 20, 100).finish();
        assert_eq!(sent.len(), 150, "the count bounds the load");
        let failed = sent.iter().filter(|s| s.status != 200).count();
        let five_xx = sent.iter().filter(|s| s.status >= 500).count();
        match kind {
            Kind::Good => assert_eq!(failed, 0, "version {version} (good)"),
            Kind::Bad => {
                assert_eq!(five_xx, failed, "a bad version's failures are 5xx");
                assert!(
                    (25..=80).contains(&five_xx),
                    "about a third fail: {five_xx}"
                );
            }
        }
    }
}
