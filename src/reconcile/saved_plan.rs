//! A saved plan checked against the plan its commit derives again: what is
//! applied must be what git at that commit asks for, whatever the file says.
//!
//! Steps are compared whole, field by field, except the gate evidence of a
//! gated move (measured again at apply time in any case). A move whose gates
//! fail now, when they passed at plan time, is a difference like any other:
//! the plan is refused, and the mismatch says the gates fail now.

use serde_json::Value;

use crate::state::plan::{Plan, PlanStep, Summary};

/// The first step where a saved plan and the derived one differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMismatch {
    /// 1-based position among all the plan's steps, in plan order.
    pub index: usize,
    /// The model of the step (saved, else derived).
    pub model: String,
    /// The version of the step, when it has one.
    pub version: Option<String>,
    /// The dotted field that differs (`metadata.source`), `action` when the
    /// steps are of different kinds, `step` when one side has none.
    pub field: String,
    /// The saved value, as JSON (or `(none)`).
    pub saved: String,
    /// The derived value, as JSON (or `(none)`).
    pub derived: String,
    /// Why, when known: the gates that fail now for a promotion the saved
    /// plan makes.
    pub note: Option<String>,
}

impl std::fmt::Display for StepMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {} ({}", self.index, self.model)?;
        if let Some(v) = &self.version {
            write!(f, " version {v}")?;
        }
        write!(
            f,
            "), {}: saved {}, derived {}",
            self.field, self.saved, self.derived
        )?;
        match &self.note {
            Some(n) => write!(f, "; {n}"),
            None => Ok(()),
        }
    }
}

/// The first difference between the steps of `saved` and `derived`, if any.
pub fn first_difference(saved: &Plan, derived: &Plan) -> Option<StepMismatch> {
    let a: Vec<&PlanStep> = saved.models.iter().flat_map(|m| &m.steps).collect();
    let b: Vec<&PlanStep> = derived.models.iter().flat_map(|m| &m.steps).collect();
    for i in 0..a.len().max(b.len()) {
        let (sa, sb) = (a.get(i).copied(), b.get(i).copied());
        let (va, vb) = (sa.map(comparable), sb.map(comparable));
        let base = |field: String, saved: String, derived: String| {
            let step = sa.or(sb).expect("one side has a step");
            let value = comparable(step);
            StepMismatch {
                index: i + 1,
                model: step.model().to_string(),
                version: value.get("version").map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
                field,
                saved,
                derived,
                note: match (sa, sb) {
                    (
                        Some(PlanStep::TransitionStage { .. }),
                        Some(PlanStep::RejectVersion { gates, .. }),
                    ) => Some(format!(
                        "its gates fail now: {}",
                        no_controls(&super::gates::failure_summary(gates))
                    )),
                    _ => None,
                },
            }
        };
        match (&va, &vb) {
            (Some(x), Some(y)) => {
                if let Some((field, x, y)) = first_field(x, y, "") {
                    return Some(base(field, short(&x), short(&y)));
                }
            }
            (Some(x), None) => return Some(base("step".into(), short(x), "(none)".into())),
            (None, Some(y)) => return Some(base("step".into(), "(none)".into(), short(y))),
            (None, None) => {}
        }
    }
    None
}

/// Makes a saved plan whose steps match `derived` carry what git and the
/// state say rather than what the file says: the policies the gates are
/// evaluated with, the gate evidence, and the counts.
pub fn adopt_derived(saved: &mut Plan, derived: &Plan) {
    saved.policies = derived.policies.clone();
    let theirs: Vec<&PlanStep> = derived.models.iter().flat_map(|m| &m.steps).collect();
    let mine = saved.models.iter_mut().flat_map(|m| &mut m.steps);
    for (s, d) in mine.zip(theirs) {
        if let (Some(g), Some(dg)) = (gates_mut(s), gates_of(d)) {
            *g = dg.to_vec();
        }
    }
    saved.summary = Summary::of(&saved.models);
}

fn gates_mut(step: &mut PlanStep) -> Option<&mut Vec<super::gates::GateResult>> {
    match step {
        PlanStep::TransitionStage { gates, .. } | PlanStep::RejectVersion { gates, .. } => {
            Some(gates)
        }
        _ => None,
    }
}

fn gates_of(step: &PlanStep) -> Option<&[super::gates::GateResult]> {
    match step {
        PlanStep::TransitionStage { gates, .. } | PlanStep::RejectVersion { gates, .. } => {
            Some(gates)
        }
        _ => None,
    }
}

/// A step as compared: its JSON form without gate evidence.
fn comparable(step: &PlanStep) -> Value {
    let mut v = serde_json::to_value(step).expect("plan steps serialize");
    if let Some(o) = v.as_object_mut() {
        o.remove("gates");
    }
    v
}

/// The first field (dotted path) where `a` and `b` differ, with both values.
fn first_field(a: &Value, b: &Value, path: &str) -> Option<(String, Value, Value)> {
    if a == b {
        return None;
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.get("action") != y.get("action") && path.is_empty() {
                return Some(("action".into(), x["action"].clone(), y["action"].clone()));
            }
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                first_field(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &join(k),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_field(p, q, &join(&i.to_string()))),
        _ => Some((path.to_string(), a.clone(), b.clone())),
    }
}

/// `text` with control characters shown as `\u{..}` escapes: gate
/// evidence can quote a server.
fn no_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A value as JSON (control characters escaped), cut to a readable length.
fn short(v: &Value) -> String {
    if v.is_null() {
        return "(none)".into();
    }
    let text = v.to_string();
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Stage, VersionId};
    use crate::state::VersionMetadata;
    use crate::state::plan::ModelPlan;

    fn register(version: u64, source: &str) -> PlanStep {
        PlanStep::RegisterVersion {
            model: "m".into(),
            version: VersionId::Number(version),
            stage: Stage::Development,
            metadata: VersionMetadata {
                source: source.into(),
                ..Default::default()
            },
        }
    }

    fn promote() -> PlanStep {
        PlanStep::TransitionStage {
            model: "m".into(),
            version: VersionId::Number(1),
            from: Stage::Development,
            to: Stage::Staging,
            reason: "promoted".into(),
            gates: Vec::new(),
            policy: Some("default".into()),
        }
    }

    fn plan(steps: Vec<PlanStep>) -> Plan {
        let mut p: Plan = serde_json::from_value(serde_json::json!({
            "format_version": "1.3", "created_at": "2026-11-26T09:00:00Z",
            "source": {"repo": "."}, "state_fingerprint": "", "observed": {},
            "drift": [], "unmanaged": [], "models": [], "errors": [],
            "summary": {"add": 0, "change": 0, "archive": 0, "reject": 0},
        }))
        .expect("a plan");
        p.models = vec![
            serde_json::from_value::<ModelPlan>(serde_json::json!({
                "model": "m", "action": "update", "steps": []
            }))
            .expect("a model plan"),
        ];
        p.models[0].steps = steps;
        p
    }

    #[test]
    fn the_first_differing_step_is_named() {
        let derived = plan(vec![register(1, "s3://good"), promote()]);
        let rejected = PlanStep::RejectVersion {
            model: "m".into(),
            version: VersionId::Number(1),
            from: Stage::Development,
            to: Stage::Staging,
            policy: "default".into(),
            gates: Vec::new(),
            key: "k".into(),
        };
        // (case, saved steps, derived steps, expected "index field saved derived")
        let cases: Vec<(&str, Vec<PlanStep>, &Plan, Option<&str>)> = vec![
            (
                "same",
                vec![register(1, "s3://good"), promote()],
                &derived,
                None,
            ),
            (
                "source edited",
                vec![register(1, "s3://attacker"), promote()],
                &derived,
                Some("1 metadata.source \"s3://attacker\" \"s3://good\""),
            ),
            (
                "extra version",
                vec![register(1, "s3://good"), promote(), register(99, "s3://x")],
                &derived,
                Some("3 step"),
            ),
            (
                "step dropped",
                vec![register(1, "s3://good")],
                &derived,
                Some("2 step (none)"),
            ),
            (
                "kind changed",
                vec![register(1, "s3://good"), rejected.clone()],
                &derived,
                Some("2 action \"reject_version\" \"transition_stage\""),
            ),
        ];
        for (name, steps, derived, want) in cases {
            let got = first_difference(&plan(steps), derived)
                .map(|m| format!("{} {} {} {}", m.index, m.field, m.saved, m.derived));
            match want {
                None => assert_eq!(got, None, "{name}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.starts_with(w)),
                    "{name}: {got:?}"
                ),
            }
        }
        // A promotion whose gates fail now says so.
        let refused_now = plan(vec![register(1, "s3://good"), rejected]);
        let m = first_difference(&derived, &refused_now).expect("a difference");
        assert_eq!(m.note.as_deref(), Some("its gates fail now: "));
    }
}
