//! A rollback drill's record: `modelops rollback --drill` switched a serving
//! target's routing of a model to the version a rollback would go to,
//! probed its front door until that version answered, and switched back.
//! Written to the audit log as a `rollback_drill` event and read back by the
//! `rollback.drilled` gate. Plain data: the operation that runs a drill
//! (`ops::drill`) and the gate that judges it (`reconcile::gates`) share it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Event, FieldChange};
use crate::manifest::VersionId;

/// The event action of a drill.
pub const DRILL_ACTION: &str = "rollback_drill";

/// The prefix of the field changes a drill event carries (one per field).
const FIELD_PREFIX: &str = "drill.";

/// One drill: what was switched, what answered, and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    /// When it started (the event's time when read back).
    pub at: Timestamp,
    /// The serving target drilled, by its name in `modelops.yaml`.
    pub target: String,
    /// The version traffic was switched to: the rollback target.
    pub version: VersionId,
    /// The routing before the drill, in words (`v3 100%`), put back after it.
    pub before: String,
    /// Whether the rollback target answered the probes it needed in time and
    /// the routing before was put back.
    pub passed: bool,
    /// Whether the routing before the drill was put back (`false` only when
    /// switching back failed: the target needs a hand).
    pub restored: bool,
    /// What confirmed it, or why it failed.
    pub reason: String,
    /// Seconds from the start of the switch to the first of the consecutive
    /// answers of `version`; absent when it never answered enough of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_secs: Option<f64>,
    /// Seconds from the start of the switch to the last confirming answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_secs: Option<f64>,
    /// Seconds the whole drill took, switching back included.
    pub total_secs: f64,
    /// Probes sent.
    pub probes: u32,
    /// Consecutive answers of `version` required.
    pub required: u32,
}

impl DrillRecord {
    /// The event's summary, after `<model> version <v>: `.
    pub fn summary(&self) -> String {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let switch = self
            .switch_secs
            .map(|s| format!("switch {s:.3} s, "))
            .unwrap_or_default();
        format!(
            "rollback drill on {} {verdict}: {} ({switch}drill {:.3} s)",
            self.target, self.reason, self.total_secs
        )
    }

    /// The record as field changes, one per field (`drill.target`, ...),
    /// the form the embedded registry keeps and `history` shows.
    pub fn changes(&self) -> Vec<FieldChange> {
        let Value::Object(fields) = serde_json::to_value(self).expect("drills serialize") else {
            return Vec::new();
        };
        fields
            .into_iter()
            .map(|(k, v)| FieldChange {
                field: format!("{FIELD_PREFIX}{k}"),
                before: None,
                after: Some(v),
            })
            .collect()
    }

    /// The record in one line, `rollback_drill {json}`: the form a registry
    /// keeping events as tags (MLflow) stores and reads back.
    pub fn line(&self) -> String {
        format!(
            "{DRILL_ACTION} {}",
            serde_json::to_string(self).expect("drills serialize")
        )
    }

    /// The drill an event records, from its field changes or its one-line
    /// form; `None` for any other event. The event's time is the drill's.
    pub fn from_event(e: &Event) -> Option<DrillRecord> {
        if e.action != DRILL_ACTION {
            return None;
        }
        let fields: Map<String, Value> = e
            .changes
            .iter()
            .filter_map(|c| {
                Some((
                    c.field.strip_prefix(FIELD_PREFIX)?.to_string(),
                    c.after.clone()?,
                ))
            })
            .collect();
        let value = if fields.is_empty() {
            let json = e.summary.split_once(&format!("{DRILL_ACTION} "))?.1;
            serde_json::from_str(json).ok()?
        } else {
            Value::Object(fields)
        };
        let mut drill: DrillRecord = serde_json::from_value(value).ok()?;
        drill.at = e.at;
        Some(drill)
    }
}

/// What `modelops rollback --drill` did: the drill, and the SLA the
/// model's policy holds drills to, if it names one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillOutcome {
    /// The model.
    pub model: String,
    /// The drill, as recorded.
    pub drill: DrillRecord,
    /// The model's policy's `rollback_drill.sla`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla_secs: Option<u64>,
}

/// The drills in a model's events, oldest first.
pub fn drills(events: &[Event]) -> Vec<DrillRecord> {
    let mut out: Vec<DrillRecord> = events.iter().filter_map(DrillRecord::from_event).collect();
    out.sort_by_key(|d| d.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill() -> DrillRecord {
        DrillRecord {
            at: "2026-11-26T09:00:00Z".parse().unwrap(),
            target: "staging".into(),
            version: VersionId::Number(2),
            before: "v3 100%".into(),
            passed: true,
            restored: true,
            reason: "version 2 answered 5 probes in a row".into(),
            switch_secs: Some(0.042),
            confirmed_secs: Some(0.2),
            total_secs: 0.31,
            probes: 7,
            required: 5,
        }
    }

    fn event(action: &str, summary: String, changes: Vec<FieldChange>) -> Event {
        Event {
            seq: 3,
            at: "2026-11-27T10:00:00Z".parse().unwrap(),
            model: "fraud-detector".into(),
            version: Some(VersionId::Number(2)),
            action: action.into(),
            from_stage: None,
            to_stage: None,
            summary,
            changes,
            commit: None,
            actor: "ada".into(),
            prev_hash: None,
        }
    }

    #[test]
    fn a_drill_reads_back_from_either_form_of_its_event() {
        let d = drill();
        let want = DrillRecord {
            at: "2026-11-27T10:00:00Z".parse().unwrap(),
            ..d.clone()
        };
        // (form, event)
        let cases = [
            (
                "field changes (local)",
                event(DRILL_ACTION, d.summary(), d.changes()),
            ),
            (
                "one line (MLflow's tag)",
                event(
                    DRILL_ACTION,
                    format!("fraud-detector version 2: {}", d.line()),
                    Vec::new(),
                ),
            ),
        ];
        for (form, e) in cases {
            assert_eq!(DrillRecord::from_event(&e), Some(want.clone()), "{form}");
        }
        let other = event("monitor_action", d.line(), d.changes());
        assert_eq!(DrillRecord::from_event(&other), None, "another action");
        let garbled = event(DRILL_ACTION, "rollback_drill {".into(), Vec::new());
        assert_eq!(DrillRecord::from_event(&garbled), None, "unreadable");
    }

    #[test]
    fn the_summary_says_the_verdict_and_the_times() {
        assert_eq!(
            drill().summary(),
            "rollback drill on staging passed: version 2 answered 5 probes in a row (switch 0.042 s, drill 0.310 s)"
        );
        let failed = DrillRecord {
            passed: false,
            reason: "version 2 did not answer 5 probes in a row within 3 s".into(),
            switch_secs: None,
            ..drill()
        };
        assert_eq!(
            failed.summary(),
            "rollback drill on staging FAILED: version 2 did not answer 5 probes in a row within 3 s (drill 0.310 s)"
        );
    }
}
