//! A route no deployment owns any more: its deployment file was removed (and
//! perhaps its versions archived, or its model file removed too). The plan
//! shows it and apply removes it, on the embedded routing table and on a
//! real nginx (`scripts/nginx.sh`; skipped when nginx is not installed,
//! unless `MODELOPS_E2E=1`). It is never left sending traffic while the
//! plan reports a match.

use crate::common::Repo;
use crate::e2e::http::{Upstream, send};
use crate::e2e::servers::{Nginx, free_port};
use crate::e2e::{DIRECT_ON_EDGE, fraud_detector_only};
use crate::lifecycle::applied;

const CHURN: &str = "models/churn-predictor.yaml";

fn routes(repo: &Repo) -> serde_json::Value {
    let text = std::fs::read_to_string(repo.state().join("routing.json")).expect("routing.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    v["routes"].clone()
}

#[test]
fn a_route_whose_deployment_was_removed_is_removed_on_local() {
    // (row, what git changes besides removing the deployment, the reason shown)
    type Change = fn(&Repo);
    let rows: [(&str, Change, &str); 3] = [
        (
            "the deployment removed",
            |_| {},
            "no deployment routes this model any more",
        ),
        (
            "and every version archived",
            |repo| {
                repo.edit(
                    CHURN,
                    "- version: 2\n      stage: Production",
                    "- version: 2\n      stage: Archived",
                )
                .edit(
                    CHURN,
                    "- version: 3\n      stage: Staging",
                    "- version: 3\n      stage: Archived",
                );
            },
            "no deployment routes this model any more",
        ),
        (
            "and the model file removed",
            |repo| {
                repo.remove(CHURN);
            },
            "the model is not in models/ and no deployment routes it",
        ),
    ];
    for (row, change, reason) in rows {
        let repo = applied();
        assert_eq!(
            routes(&repo)["churn-predictor"]["weights"],
            serde_json::json!({"2": 100}),
            "{row}: the shadow routes version 2"
        );
        repo.remove("deployments/churn-predictor.yaml");
        change(&repo);
        let json = repo.run(&["plan", "--format", "json"]).code(0).json();
        let step = json["models"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["model"] == "churn-predictor")
            .flat_map(|m| m["steps"].as_array().unwrap().clone())
            .find(|s| s["action"] == "remove_route")
            .unwrap_or_else(|| panic!("{row}: a remove_route step in {json:#}"));
        assert_eq!(step["before"]["weights"], serde_json::json!({"2": 100}));
        assert_eq!(step["reason"], reason, "{row}");
        repo.run(&["plan", "--detailed-exitcode"])
            .code(2)
            .stdout_has(&format!(
                "  ~ remove route v2 100%, v3 mirrored 100% on local ({reason})\n"
            ))
            .stdout_lacks("No changes");
        repo.run(&["apply", "--auto-approve"])
            .code(0)
            .stdout_has("  done: churn-predictor: remove route v2 100%");
        let after = routes(&repo);
        assert!(after.get("churn-predictor").is_none(), "{row}: {after:#}");
        assert!(
            after.get("fraud-detector").is_some(),
            "{row}: other routes stay"
        );
        repo.run(&["plan", "--detailed-exitcode"])
            .code(0)
            .stdout_lacks("remove route");
    }
}

/// The fraud detector served by a real nginx through a `direct`
/// deployment; removing the deployment removes its fragment, nginx reloads,
/// and the model's address stops answering.
#[test]
fn a_route_whose_deployment_was_removed_is_removed_on_nginx() {
    let Some(nginx) = Nginx::start() else { return };
    let v2 = Upstream::start("2");
    let port = free_port();
    let upstreams = [
        ("2", format!("127.0.0.1:{}", v2.port)),
        ("3", format!("127.0.0.1:{}", free_port())),
    ];
    let repo = fraud_detector_only();
    repo.edit(
        "modelops.yaml",
        "  metrics:\n",
        &format!(
            "  serving:\n    targets:\n{}  metrics:\n",
            nginx.target_yaml(port, &upstreams)
        ),
    )
    .file("deployments/fraud-detector.yaml", DIRECT_ON_EDGE)
    .git_commit("the fraud detector on nginx");
    repo.run(&["apply", "--auto-approve"]).code(0);
    let fragment = nginx.path().join("conf.d/modelops-fraud-detector.conf");
    assert!(fragment.exists(), "the fragment is written");
    let answered = (0..200).find_map(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        send(port, &[]).ok()
    });
    assert!(
        answered.is_some_and(|body| body.contains('2')),
        "version 2 answers through nginx"
    );

    repo.remove("deployments/fraud-detector.yaml")
        .git_commit("stop serving the fraud detector");
    repo.run(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has(
            "  ~ remove route v2 100% on edge (no deployment routes this model any more)\n",
        );
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert!(!fragment.exists(), "the fragment is removed");
    let gone = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        send(port, &[]).is_err()
    });
    assert!(
        gone,
        "nginx stops listening for the fraud detector after the reload"
    );
    repo.run(&["plan", "--detailed-exitcode"]).code(0);
}
