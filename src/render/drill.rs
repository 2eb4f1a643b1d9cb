//! What a rollback drill did (`modelops rollback --drill`), in words and as
//! JSON.

use super::safe::{json, text};
use crate::state::drill::DrillOutcome;
use crate::state::format::human;

/// The drill as lines for a terminal: the verdict, the switch and what
/// answered, the times, the policy's SLA, and the routing put back.
pub fn drill_text(outcome: &DrillOutcome) -> String {
    let d = &outcome.drill;
    let model = text(&outcome.model);
    let verdict = if d.passed { "passed" } else { "FAILED" };
    let mut out = format!(
        "Rollback drill of {model} on {}: {verdict}.\n",
        text(&d.target)
    );
    out.push_str(&format!(
        "  switched: {} → version {} (all traffic)\n",
        text(&d.before),
        d.version
    ));
    let label = if d.passed { "answered" } else { "why" };
    out.push_str(&format!("  {label}: {}\n", text(&d.reason)));
    let mut times = Vec::new();
    if let Some(s) = d.switch_secs {
        times.push(format!(
            "switch {s:.3} s (to the first of the answers in a row)"
        ));
    }
    if let Some(s) = d.confirmed_secs {
        times.push(format!("confirmed after {s:.3} s"));
    }
    times.push(format!(
        "drill {:.3} s with switching back ({} probe{} sent)",
        d.total_secs,
        d.probes,
        if d.probes == 1 { "" } else { "s" }
    ));
    out.push_str(&format!("  time: {}\n", times.join("; ")));
    if let (Some(sla), Some(s)) = (outcome.sla_secs, d.switch_secs) {
        let sla_text = human(sla as i64);
        if s < sla as f64 {
            out.push_str(&format!(
                "  SLA: {s:.3} s is within the policy's {sla_text} (rollback_drill.sla)\n"
            ));
        } else {
            out.push_str(&format!(
                "  SLA: {s:.3} s is over the policy's {sla_text} (rollback_drill.sla): the rollback.drilled gate does not count this drill\n"
            ));
        }
    }
    if d.restored {
        out.push_str(&format!("  switched back: {}\n", text(&d.before)));
    } else {
        out.push_str(&format!(
            "  NOT switched back: {} is not serving {}; put it back by hand (or run `modelops apply`)\n",
            text(&d.target),
            text(&d.before)
        ));
    }
    out.push_str(&format!(
        "  recorded in the audit log: `modelops history {model}`\n"
    ));
    out
}

/// The drill as pretty JSON (`--format json`), safe to print.
pub fn drill_json(outcome: &DrillOutcome) -> String {
    let mut s = serde_json::to_string_pretty(outcome).expect("drills serialize");
    s.push('\n');
    json(&s)
}
