//! The known-good rule, one row per way a version leaves Production.

use jiff::Timestamp;

use super::*;
use crate::state::{FieldChange, RegisteredVersion, Rejection, VersionMetadata};

const MODEL: &str = "m";

fn at(hour: i64) -> Timestamp {
    Timestamp::from_second(hour * 3600).unwrap()
}

fn v(n: u64) -> VersionId {
    VersionId::Number(n)
}

fn event(hour: i64, version: u64, action: &str, to: Option<Stage>, summary: &str) -> Event {
    Event {
        seq: 0,
        at: at(hour),
        model: MODEL.into(),
        version: Some(v(version)),
        action: action.into(),
        from_stage: None,
        to_stage: to,
        summary: format!("{MODEL} version {version}: {summary}"),
        changes: Vec::new(),
        commit: None,
        actor: "t".into(),
        prev_hash: None,
    }
}

/// One line of history: `P3` version 3 enters Production, `A3` it is
/// archived, `R3`/`B3`/`F3` a rollback / monitor breach / failed-rollout
/// marker on it as the local registry records it, `r3` a rollback marker
/// as MLflow's event tags give it back.
fn history(lines: &[&str]) -> Vec<Event> {
    lines
        .iter()
        .enumerate()
        .map(|(h, line)| {
            let (kind, n) = line.split_at(1);
            let n: u64 = n.parse().unwrap();
            let h = h as i64;
            let local_marker = |cause| {
                let PlanStep::RecordAction { key, summary, .. } =
                    exit_marker(MODEL, &v(n), cause, "error spike")
                else {
                    unreachable!()
                };
                let mut e = event(h, n, "monitor_action", None, &summary);
                e.changes = vec![FieldChange {
                    field: "key".into(),
                    before: None,
                    after: Some(key.into()),
                }];
                e
            };
            match kind {
                "P" => event(
                    h,
                    n,
                    "transition_stage",
                    Some(Stage::Production),
                    "Staging → Production",
                ),
                "A" => event(
                    h,
                    n,
                    "transition_stage",
                    Some(Stage::Archived),
                    "Production → Archived",
                ),
                "R" => local_marker(ExitCause::Rollback),
                "B" => local_marker(ExitCause::MonitorBreach),
                "F" => local_marker(ExitCause::FailedRollout),
                "r" => event(
                    h,
                    n,
                    "monitor_action",
                    None,
                    "monitor_action [left-production:rollback] taken out of Production by a rollback: error spike",
                ),
                _ => panic!("unknown history line {line}"),
            }
        })
        .collect()
}

/// Versions 1..=`count`, `production` in Production, the rest Archived;
/// `rejected` marked Rejected.
fn registry(count: u64, production: u64, rejected: &[u64], deleted: &[u64]) -> RegisteredModel {
    RegisteredModel {
        name: MODEL.into(),
        owner: "o".into(),
        description: None,
        versions: (1..=count)
            .filter(|n| !deleted.contains(n))
            .map(|n| RegisteredVersion {
                version: v(n),
                stage: if n == production {
                    Stage::Production
                } else {
                    Stage::Archived
                },
                metadata: VersionMetadata::default(),
                rejected: rejected.contains(&n).then(|| Rejection {
                    reason: "test_accuracy 0.5 < 0.9".into(),
                    at: at(100),
                    stage: Some(Stage::Production),
                    key: None,
                }),
                signed_off_by: None,
                registered_at: at(0),
                applied: None,
            })
            .collect(),
        applied: None,
    }
}

fn record(
    strategy: &str,
    version: u64,
    from: Option<u64>,
    phase: &str,
    hour: i64,
) -> RolloutRecord {
    let mut r = super::super::record(
        &v(version),
        from.map(v).as_ref(),
        Stage::Archived,
        at(hour),
        "old rollback",
        "t",
        None,
    );
    r.strategy = strategy.into();
    r.phase = phase.into();
    r
}

/// What a row expects of a version: `Some(prefix)` of its exclusion, or
/// `None` when it is known-good.
type Want = &'static [(u64, Option<&'static str>)];

#[test]
fn the_default_target_is_the_last_version_that_left_production_normally() {
    #[allow(clippy::type_complexity)]
    let rows: &[(
        &str,
        &[&str],
        RegisteredModel,
        Option<RolloutRecord>,
        &[u64],
        Option<u64>,
        Want,
    )] = &[
        (
            "normal succession: the version replaced",
            &["P1", "P2", "A1"],
            registry(2, 2, &[], &[]),
            None,
            &[],
            Some(1),
            &[(1, None)],
        ),
        (
            "the most recent of several",
            &["P1", "P2", "A1", "P3", "A2"],
            registry(3, 3, &[], &[]),
            None,
            &[],
            Some(2),
            &[(2, None), (1, None)],
        ),
        (
            "issue 12: v3 rolled back to v2; v3 is not a target",
            &["P2", "P3", "A2", "P2", "A3", "R3"],
            registry(3, 2, &[], &[]),
            None,
            &[],
            None,
            &[
                (
                    3,
                    Some("taken out of Production by a rollback: error spike (at "),
                ),
                (1, Some("never in Production")),
            ],
        ),
        (
            "an older known-good version is chosen past a rolled-back one",
            &["P1", "P2", "A1", "P3", "A2", "P2", "A3", "R3"],
            registry(3, 2, &[], &[]),
            None,
            &[],
            Some(1),
            &[
                (3, Some("taken out of Production by a rollback")),
                (1, None),
            ],
        ),
        (
            "the marker as MLflow's event tags record it",
            &["P2", "P3", "A2", "P2", "A3", "r3"],
            registry(3, 2, &[], &[]),
            None,
            &[],
            None,
            &[
                (
                    3,
                    Some("taken out of Production by a rollback: error spike"),
                ),
                (1, Some("never in Production")),
            ],
        ),
        (
            "monitor breach",
            &["P1", "P2", "A1", "P1", "A2", "B2"],
            registry(2, 1, &[], &[]),
            None,
            &[],
            None,
            &[(
                2,
                Some("taken out of Production by monitor's rollback: error spike"),
            )],
        ),
        (
            "failed rollout, by marker",
            &["P1", "P2", "A1", "P1", "A2", "F2"],
            registry(2, 1, &[], &[]),
            None,
            &[],
            None,
            &[(2, Some("its rollout failed: error spike"))],
        ),
        (
            "failed rollout, by the rollout record: a restore by canary failed",
            &["P1", "A1", "P2"],
            registry(2, 2, &[], &[]),
            Some(record("canary", 1, Some(2), FAILED, 5)),
            &[],
            None,
            &[(1, Some("its rollout failed: old rollback"))],
        ),
        (
            "a failed rollout before the version last served does not count",
            &["P1", "A1", "P2", "P1", "A2", "P2", "A1"],
            registry(2, 2, &[], &[]),
            Some(record("canary", 1, Some(2), FAILED, 2)),
            &[],
            Some(1),
            &[(1, None)],
        ),
        (
            "a rollback recorded before exit markers existed",
            &["P2", "P3", "A2", "P2", "A3"],
            registry(3, 2, &[], &[]),
            Some(record(STRATEGY, 2, Some(3), "Released", 3)),
            &[],
            None,
            &[
                (
                    3,
                    Some("taken out of Production by a rollback: old rollback"),
                ),
                (1, Some("never in Production")),
            ],
        ),
        (
            "Rejected",
            &["P1", "P2", "A1"],
            registry(2, 2, &[1], &[]),
            None,
            &[],
            None,
            &[(1, Some("Rejected at "))],
        ),
        (
            "artifacts gone, as the caller found",
            &["P1", "P2", "A1"],
            registry(2, 2, &[], &[]),
            None,
            &[1],
            None,
            &[(1, Some("artifacts gone: source missing"))],
        ),
        (
            "artifacts gone: deleted from the registry",
            &["P1", "P2", "A1", "P3", "A2"],
            registry(3, 3, &[], &[2]),
            None,
            &[],
            Some(1),
            &[
                (2, Some("artifacts gone: no longer in the registry")),
                (1, None),
            ],
        ),
        (
            "promoted again after a rollback: the old exit no longer counts",
            &["P1", "P2", "A1", "P1", "A2", "R2", "P2", "A1", "P3", "A2"],
            registry(3, 3, &[], &[]),
            None,
            &[],
            Some(2),
            &[(2, None), (1, None)],
        ),
        (
            "nothing ever served before the Production version",
            &["P1"],
            registry(2, 1, &[], &[]),
            None,
            &[],
            None,
            &[(2, Some("never in Production"))],
        ),
    ];
    for (name, lines, model, rollout, gone, want_target, want) in rows {
        let gone: Vec<_> = gone
            .iter()
            .map(|n| (v(*n), "source missing".to_string()))
            .collect();
        let got = candidates(model, &history(lines), rollout.as_ref(), &gone);
        assert_eq!(
            known_good(&got).map(|c| c.version.clone()),
            want_target.map(v),
            "{name}: {got:#?}"
        );
        assert_eq!(
            got.iter().map(|c| c.version.clone()).collect::<Vec<_>>(),
            want.iter().map(|(n, _)| v(*n)).collect::<Vec<_>>(),
            "{name}: candidates in order"
        );
        for (c, (n, prefix)) in got.iter().zip(want.iter()) {
            match (prefix, &c.excluded) {
                (None, None) => {}
                (Some(p), Some(e)) => {
                    assert!(e.to_string().starts_with(p), "{name}: version {n}: {e}")
                }
                _ => panic!("{name}: version {n}: got {:?}", c.excluded),
            }
        }
    }
}

#[test]
fn the_refusal_lists_every_candidate_and_why() {
    let model = registry(3, 2, &[], &[]);
    let got = candidates(
        &model,
        &history(&["P2", "P3", "A2", "P2", "A3", "R3"]),
        None,
        &[],
    );
    assert_eq!(
        refusal("m", &got),
        "m has no known-good version to roll back to:\n  \
         version 3: taken out of Production by a rollback: error spike (at 1970-01-01T05:00:00Z)\n  \
         version 1: never in Production\n\
         Name a version with --to; --force overrides its exclusion and the serving check."
    );
}

#[test]
fn after_a_move_the_target_is_the_version_serving_now_unless_excluded() {
    // (row, history, model (versions, production, rejected), gone, entering, target or
    // the candidates' versions when there is none)
    #[allow(clippy::type_complexity)]
    let rows: &[(
        &str,
        &[&str],
        (u64, u64, &[u64]),
        &[u64],
        Option<u64>,
        Result<u64, &[u64]>,
    )] = &[
        (
            "a promotion: the version serving now",
            &["P1", "P2", "A1"],
            (3, 2, &[]),
            &[],
            Some(3),
            Ok(2),
        ),
        (
            "any promotion (a drill): the same",
            &["P1", "P2", "A1"],
            (3, 2, &[]),
            &[],
            None,
            Ok(2),
        ),
        (
            "the serving version's artifacts are gone: the one before it",
            &["P1", "P2", "A1"],
            (3, 2, &[]),
            &[2],
            Some(3),
            Ok(1),
        ),
        (
            "the serving version is Rejected (for a later move): the one before it",
            &["P1", "P2", "A1"],
            (3, 2, &[2]),
            &[],
            Some(3),
            Ok(1),
        ),
        (
            "a restore of the last known-good version: the version serving now",
            &["P1", "P2", "A1"],
            (2, 2, &[]),
            &[],
            Some(1),
            Ok(2),
        ),
        (
            "a first Production version: nothing served before it",
            &[],
            (2, 0, &[]),
            &[],
            Some(2),
            Err(&[1]),
        ),
        (
            "the only version that served is gone",
            &["P1"],
            (2, 1, &[]),
            &[1],
            Some(2),
            Err(&[1]),
        ),
    ];
    for (row, lines, (count, production, rejected), gone, entering, want) in rows {
        let model = registry(*count, *production, rejected, &[]);
        let gone: Vec<_> = gone
            .iter()
            .map(|n| (v(*n), "source missing".to_string()))
            .collect();
        let got = target_after(
            &model,
            entering.map(v).as_ref(),
            &history(lines),
            None,
            &gone,
        )
        .map_err(|c| c.into_iter().map(|c| c.version).collect::<Vec<_>>());
        let want = want
            .map(v)
            .map_err(|ns| ns.iter().map(|n| v(*n)).collect::<Vec<_>>());
        assert_eq!(got, want, "{row}");
    }
}
