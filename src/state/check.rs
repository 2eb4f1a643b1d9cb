//! State read back is input: a rollout record from `state.json` or an
//! MLflow tag is checked against the bounds the planner relies on before any
//! decision reads it. A record out of bounds is an error, never a decision
//! (a hand-set `step: 99` must not jump a canary to its last stage).

use super::ActualState;

/// Every rule a rollout record (and a routing record) breaks, each naming
/// the model and the field: `rollouts.fraud-detector.step: 99 is outside its 4 stages`.
pub fn problems(state: &ActualState) -> Vec<String> {
    let mut out = Vec::new();
    for (model, r) in &state.rollouts {
        let at = |field: &str| format!("rollouts.{model}.{field}");
        let n = r.stages.len();
        if n == 0 && r.step != 0 {
            out.push(format!(
                "{}: {} with no stages recorded",
                at("step"),
                r.step
            ));
        } else if n > 0 && r.step >= n {
            out.push(format!(
                "{}: {} is outside its {n} stages (0 to {})",
                at("step"),
                r.step,
                n - 1
            ));
        }
        for (i, s) in r.stages.iter().enumerate() {
            if s.traffic_percent > 100 {
                out.push(format!(
                    "{}: {} is over 100",
                    at(&format!("stages.{i}.traffic_percent")),
                    s.traffic_percent
                ));
            }
        }
        for (field, version) in [
            ("version", Some(&r.version)),
            ("from_version", r.from_version.as_ref()),
        ] {
            if let Some(v) = version
                && state.version(model, v).is_none()
            {
                out.push(format!("{}: version {v} is not registered", at(field)));
            }
        }
        if let Some(started) = r.started_at
            && started > r.step_started_at
        {
            out.push(format!(
                "{}: {} is before the rollout started ({started})",
                at("step_started_at"),
                r.step_started_at
            ));
        }
        if let Some(a) = &r.last_analysis
            && a.since > a.at
        {
            out.push(format!(
                "{}: {} is after its end ({})",
                at("last_analysis.since"),
                a.since,
                a.at
            ));
        }
    }
    for (model, t) in &state.serving {
        for (v, w) in t.weights.iter().chain(&t.mirrors) {
            if *w > 100 {
                out.push(format!(
                    "serving.{model}: version {v} weight {w} is over 100"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Stage, VersionId};
    use crate::state::{RegisteredModel, RegisteredVersion, RolloutRecord, RolloutStage};

    fn state(record: RolloutRecord) -> ActualState {
        let t: jiff::Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
        let version = |n| RegisteredVersion {
            version: VersionId::Number(n),
            stage: Stage::Staging,
            metadata: Default::default(),
            rejected: None,
            signed_off_by: None,
            registered_at: t,
            applied: None,
        };
        let mut s = ActualState::default();
        s.models.insert(
            "m".into(),
            RegisteredModel {
                name: "m".into(),
                owner: "o".into(),
                description: None,
                versions: vec![version(2), version(3)],
                applied: None,
            },
        );
        s.rollouts.insert("m".into(), record);
        s
    }

    fn canary() -> RolloutRecord {
        let t: jiff::Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
        RolloutRecord {
            strategy: "canary".into(),
            version: VersionId::Number(3),
            from_version: Some(VersionId::Number(2)),
            step: 1,
            step_started_at: t,
            phase: "Progressing".into(),
            deployment: "m".into(),
            started_at: Some(t),
            stages: vec![
                RolloutStage {
                    traffic_percent: 5,
                    duration_secs: 60,
                },
                RolloutStage {
                    traffic_percent: 100,
                    duration_secs: 60,
                },
            ],
            consecutive_errors: 0,
            last_analysis: None,
            result: None,
            promoted: false,
        }
    }

    #[test]
    fn out_of_bounds_records_are_named() {
        type Edit = fn(&mut RolloutRecord);
        let cases: Vec<(&str, Edit, Option<&str>)> = vec![
            ("valid", |_| {}, None),
            (
                "step 99",
                |r| r.step = 99,
                Some("rollouts.m.step: 99 is outside its 2 stages (0 to 1)"),
            ),
            (
                "step with no stages",
                |r| {
                    r.stages.clear();
                    r.step = 1
                },
                Some("rollouts.m.step: 1 with no stages"),
            ),
            (
                "no stages at step 0",
                |r| {
                    r.stages.clear();
                    r.step = 0
                },
                None,
            ),
            (
                "weight 150",
                |r| r.stages[0].traffic_percent = 150,
                Some("rollouts.m.stages.0.traffic_percent: 150 is over 100"),
            ),
            (
                "unknown version",
                |r| r.version = VersionId::Number(99),
                Some("rollouts.m.version: version 99 is not registered"),
            ),
            (
                "unknown stable",
                |r| r.from_version = Some(VersionId::Number(7)),
                Some("rollouts.m.from_version: version 7 is not registered"),
            ),
            (
                "stage before start",
                |r| r.step_started_at = "2020-01-01T00:00:00Z".parse().unwrap(),
                Some(
                    "rollouts.m.step_started_at: 2020-01-01T00:00:00Z is before the rollout started",
                ),
            ),
        ];
        for (name, edit, want) in cases {
            let mut r = canary();
            edit(&mut r);
            let got = problems(&state(r));
            match want {
                None => assert!(got.is_empty(), "{name}: {got:?}"),
                Some(w) => assert!(got.len() == 1 && got[0].starts_with(w), "{name}: {got:?}"),
            }
        }
    }
}
