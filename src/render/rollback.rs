//! What a rollback did (`modelops rollback`, and monitor's rollback action),
//! in words.

use crate::reconcile::rollback::{RollbackOutcome, RolledBack};

/// The rollback's outcome as lines for a terminal: what switched, where,
/// how long it took, and the hold it leaves.
pub fn rollback_text(outcome: &RollbackOutcome) -> String {
    let r = match outcome {
        RollbackOutcome::Released { model } => {
            return format!(
                "Released the rollback hold on {model}: the next apply follows git again.\n"
            );
        }
        RollbackOutcome::RolledBack(r) => r,
    };
    let RolledBack {
        model: name,
        to: target,
        ..
    } = r;
    let mut text = format!(
        "Rolled back {name}{} to version {target} in {:.3} s (serving {:.3} s, registry {:.3} s).\n",
        r.from
            .as_ref()
            .map(|c| format!(" from version {c}"))
            .unwrap_or_default(),
        r.total_secs,
        r.serving_secs,
        r.registry_secs
    );
    for t in &r.routed_on {
        text.push_str(&format!(
            "  serving: all traffic to version {target} on {t}\n"
        ));
    }
    if r.routed_on.is_empty() {
        text.push_str("  serving: no target routes this model; only the registry changed\n");
    }
    for h in &r.healthy {
        text.push_str(&format!("  health: {h}\n"));
    }
    for f in &r.forced {
        text.push_str(&format!("  forced past: {f}\n"));
    }
    if let Some(s) = &r.stopped {
        text.push_str(&format!("  rollout{s}\n"));
    }
    text.push_str(&format!(
        "  held: later applies leave {name} alone until its manifest changes or `modelops rollback --release {name}`; `modelops plan` shows the change that makes git agree.\n"
    ));
    text
}
