//! A rollback on a real nginx with a health check (`health_path`): the
//! target version's upstream must answer before traffic moves. The example's
//! fraud detector is served by a private nginx (`scripts/nginx.sh`); version
//! 3 is promoted, then rolled back to version 2, whose upstream is, per row,
//! nothing at all, a server answering 503, or a live model server. Skipped
//! when nginx is not installed, unless `MODELOPS_E2E=1`.

use crate::common::Repo;
use crate::e2e::http::{Receiver, Upstream, send_many};
use crate::e2e::servers::{Nginx, free_port};
use crate::e2e::{DIRECT_ON_EDGE as DEPLOYMENT, MODEL, fraud_detector_only};

/// What listens at version 2's upstream address.
#[derive(Clone, Copy)]
enum Behind {
    /// A free port nobody listens on.
    Nothing,
    /// A server answering every request with this status line (a fake for
    /// failure injection: a model server in trouble).
    Status(&'static str),
    /// A model server answering 200 with its version.
    ModelServer,
}

/// The servers one row keeps alive while it runs.
#[allow(dead_code)]
enum Keep {
    Upstream(Upstream),
    Receiver(Receiver),
}

/// The fraud detector on `nginx` (listening on `port`), version 3 promoted
/// in Production and served; version 2's upstream is `behind`. Returns the
/// repository, version 2's address, and the servers to keep.
fn promoted(nginx: &Nginx, port: u16, behind: Behind) -> (Repo, String, Vec<Keep>) {
    let v3 = Upstream::start("3");
    let mut keep = Vec::new();
    let v2 = match behind {
        Behind::Nothing => format!("127.0.0.1:{}", free_port()),
        Behind::Status(status) => {
            let r = Receiver::start(status);
            let address = r.url.trim_start_matches("http://").to_string();
            keep.push(Keep::Receiver(r));
            address
        }
        Behind::ModelServer => {
            let u = Upstream::start("2");
            let address = format!("127.0.0.1:{}", u.port);
            keep.push(Keep::Upstream(u));
            address
        }
    };
    let upstreams = [("2", v2.clone()), ("3", format!("127.0.0.1:{}", v3.port))];
    let repo = fraud_detector_only();
    repo.edit(
        "modelops.yaml",
        "  metrics:\n",
        &format!(
            "  serving:\n    targets:\n{}        health_path: /healthz\n  metrics:\n",
            nginx.target_yaml(port, &upstreams)
        ),
    )
    .file("deployments/fraud-detector.yaml", DEPLOYMENT)
    .git_commit("the fraud detector on nginx");
    repo.run(&["apply", "--auto-approve"]).code(0);
    crate::promotion::promote_12(&repo);
    repo.file("deployments/fraud-detector.yaml", DEPLOYMENT)
        .git_commit("promote fraud-detector 3");
    repo.run(&["apply", "--auto-approve"]).code(0);
    assert!(
        fragment(nginx).contains("\"weights\":{\"3\":100}"),
        "{}",
        fragment(nginx)
    );
    repo.at("2026-11-27T09:00:00Z");
    keep.push(Keep::Upstream(v3));
    (repo, v2, keep)
}

fn fragment(nginx: &Nginx) -> String {
    std::fs::read_to_string(nginx.path().join(format!("conf.d/modelops-{MODEL}.conf")))
        .expect("the fragment")
}

#[test]
fn a_rollback_switches_nginx_only_to_an_upstream_that_answers() {
    // (row, version 2's upstream, --force, whether traffic moves, what is said)
    let rows: [(&str, Behind, bool, bool, &str); 4] = [
        (
            "nothing listening",
            Behind::Nothing,
            false,
            false,
            "/healthz: connection failed (nothing listening?)",
        ),
        (
            "an upstream answering 503",
            Behind::Status("503 Service Unavailable"),
            false,
            false,
            "/healthz answered 503",
        ),
        (
            "nothing listening, forced",
            Behind::Nothing,
            true,
            true,
            "/healthz: connection failed (nothing listening?)",
        ),
        (
            "a live model server",
            Behind::ModelServer,
            false,
            true,
            "/healthz answered 200",
        ),
    ];
    for (row, behind, force, moves, said) in rows {
        let Some(nginx) = Nginx::start() else { return };
        let port = free_port();
        let (repo, v2, _keep) = promoted(&nginx, port, behind);
        let check = format!(
            "health check of `{MODEL}` version 2 on nginx target edge ({}): GET http://{v2}{said}",
            nginx.path().join("conf.d").display()
        );
        let (before, state, workers) = (
            fragment(&nginx),
            std::fs::read(repo.state_file()).expect("state"),
            nginx.workers(),
        );
        let mut args = vec!["rollback", MODEL, "--reason", "error spike"];
        if force {
            args.push("--force");
        }
        let run = repo.run(&args);
        if !moves {
            run.code(1)
                .stderr_has(&format!(
                    "{check}\nNothing was switched; pass --force to switch anyway"
                ))
                .stdout_empty();
            assert_eq!(fragment(&nginx), before, "{row}: the fragment is unchanged");
            assert_eq!(
                std::fs::read(repo.state_file()).expect("state"),
                state,
                "{row}: the registry is unchanged"
            );
            continue;
        }
        let run = run
            .code(0)
            .stdout_has("Rolled back fraud-detector from version 3 to version 2");
        if force {
            run.stdout_has(&format!("  forced past: {check}\n"));
            repo.run(&["history", MODEL])
                .code(0)
                .stdout_has(&format!("error spike (forced past: {check})"));
        } else {
            run.stdout_has(&format!("  health: GET http://{v2}{said}\n"))
                .stdout_lacks("forced");
        }
        assert!(
            fragment(&nginx).contains("\"weights\":{\"2\":100}"),
            "{row}: {}",
            fragment(&nginx)
        );
        if matches!(behind, Behind::ModelServer) {
            nginx.wait_for_reload(&workers);
            // A reload is asynchronous, and the workers seen before it may
            // have been an earlier reload's: ask until every request of a
            // round reaches version 2, for 5 s at most.
            let started = std::time::Instant::now();
            let mut counts = send_many(port, 40, |_| Vec::new());
            while counts != [("2".to_string(), 40)].into()
                && started.elapsed() < std::time::Duration::from_secs(5)
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
                counts = send_many(port, 40, |_| Vec::new());
            }
            assert_eq!(
                counts,
                [("2".to_string(), 40)].into(),
                "{row}: every request reaches version 2"
            );
        }
    }
}
