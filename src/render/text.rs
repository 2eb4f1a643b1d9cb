//! The plan as terminal text, in the manner of Terraform.

use std::fmt::Write;

use super::paint::{Paint, paint};
use super::safe::text;
use super::{after_merge_heading, show_change, show_outside_change, show_setting_change};
use crate::reconcile::gates::{GateResult, GateStatus};
use crate::reconcile::{ModelAction, Plan, PlanStep};
use crate::state::plan::{DivergedCause, StepKind};

/// The closing summary line.
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary;
    let rejected = if s.reject > 0 {
        format!(", {} to reject (failed gates)", s.reject)
    } else {
        String::new()
    };
    if !plan.errors.is_empty() {
        format!(
            "Plan refused: {} to add, {} to change, {} to archive{rejected}, none of it applied until the errors are fixed.",
            s.add, s.change, s.archive
        )
    } else if plan.has_changes() {
        format!(
            "Plan: {} to add, {} to change, {} to archive{rejected}.",
            s.add, s.change, s.archive
        )
    } else if !plan.held_by_rollback.is_empty()
        && plan
            .diverged
            .iter()
            .all(|d| d.cause == DivergedCause::Rollback)
    {
        let held: Vec<String> = plan
            .held_by_rollback
            .iter()
            .map(|h| text(&h.model).to_string())
            .collect();
        format!(
            "No changes. Held by a rollback, so not compared with git: {}.",
            held.join(", ")
        )
    } else if plan.is_diverged() {
        format!(
            "No changes to apply, but git and the registry disagree: {} version{} diverged (see Diverged above).",
            plan.diverged.len(),
            if plan.diverged.len() == 1 { "" } else { "s" }
        )
    } else {
        "No changes. Registry and serving match the repository.".to_string()
    }
}

/// One step in one line, without the model name; every value from a
/// manifest or a server escaped (see [`text`]), so it is one line.
pub fn describe_step(step: &PlanStep) -> String {
    match step {
        PlanStep::RegisterModel { model, owner, .. } => {
            format!("register model {} (owner {})", text(model), text(owner))
        }
        PlanStep::UpdateModel { .. } => "update model".to_string(),
        PlanStep::RegisterVersion { version, stage, .. } => {
            format!("register version {version} as {stage}")
        }
        PlanStep::UpdateVersion {
            version, changes, ..
        } => {
            format!(
                "update version {version} ({} field{})",
                changes.len(),
                if changes.len() == 1 { "" } else { "s" }
            )
        }
        PlanStep::TransitionStage {
            version,
            from,
            to,
            reason,
            ..
        } => {
            format!("version {version}: {from} → {to} ({})", text(reason))
        }
        PlanStep::SetTraffic {
            traffic, reason, ..
        } => format!(
            "route {} on {} ({})",
            traffic.describe(),
            text(&traffic.target),
            text(reason)
        ),
        PlanStep::RemoveRoute { before, reason, .. } => format!(
            "remove route {} on {} ({})",
            before.describe(),
            text(&before.target),
            text(reason)
        ),
        PlanStep::RecordRollout { summary, .. } => format!("record rollout: {}", text(summary)),
        PlanStep::RecordAction { summary, .. } => {
            format!("record monitor action: {}", text(summary))
        }
        PlanStep::RecordDrill { drill, .. } => {
            format!("record rollback drill: {}", text(&drill.summary()))
        }
        PlanStep::RejectVersion {
            version,
            from,
            to,
            gates,
            ..
        } => {
            // A rollout's analysis records its checks as `<strategy>.<check>`.
            let rollout = gates
                .iter()
                .find_map(|g| g.source.strip_suffix(" analysis"));
            match rollout {
                Some(strategy) => format!(
                    "version {version}: mark Rejected, stays {from} (its {strategy} failed: {from} → {to} refused)"
                ),
                None => format!(
                    "version {version}: mark Rejected, stays {from} (gates refuse {from} → {to})"
                ),
            }
        }
    }
}

fn symbol(step: &PlanStep) -> char {
    match step.kind() {
        StepKind::Add => '+',
        StepKind::Change => '~',
        StepKind::Archive => '-',
        StepKind::Reject => '!',
    }
}

/// How much of each gate table a text plan shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Failing and skipped rows, and a count of the passing ones.
    Compact,
    /// Every row (`-v`).
    Full,
}

impl Detail {
    /// Every row with `-v`, else compact.
    pub fn verbose(verbose: bool) -> Detail {
        if verbose {
            Detail::Full
        } else {
            Detail::Compact
        }
    }
}

/// The whole plan for a terminal.
pub fn plan_text(plan: &Plan, detail: Detail) -> String {
    let mut folded = false;
    let mut out = String::new();
    if !plan.outside_changes.is_empty() {
        out.push_str("Note: objects changed outside git since modelops last applied them\n\n");
        for d in &plan.outside_changes {
            let what = match &d.version {
                Some(v) => format!("{} version {v}", text(&d.model)),
                None => text(&d.model).to_string(),
            };
            let _ = writeln!(out, "  ~ {what}: {}", show_outside_change(&d.change));
        }
        out.push_str("\nThe plan below puts them back as git declares them.\n\n");
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "{} {}", paint(Paint::Yellow, "Warning:"), text(w));
    }
    if !plan.warnings.is_empty() {
        out.push('\n');
    }
    if !plan.after_merge.is_empty() {
        let _ = writeln!(out, "{}:", after_merge_heading(plan));
        for c in &plan.after_merge {
            let _ = writeln!(out, "  ~ {}", text(&show_setting_change(c)));
        }
        out.push('\n');
    }
    let notes: Vec<_> = plan
        .models
        .iter()
        .filter_map(|m| Some((&m.model, m.rollout.as_ref()?)))
        .collect();
    if !notes.is_empty() {
        out.push_str("Rollouts:\n");
        for (_, n) in &notes {
            let _ = writeln!(out, "  {}", text(&n.summary));
            if let Some(next) = n.next_at {
                let _ = writeln!(
                    out,
                    "    next decision due at {}",
                    crate::state::format::at(next)
                );
            }
        }
        out.push('\n');
    }
    for h in &plan.held_by_rollback {
        let from = h
            .from
            .as_ref()
            .map(|f| format!("version {f} → "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Held by rollback at {} ({from}version {}, by {}): {}\n  {} is left alone until its manifest changes or `modelops rollback --release {}`.",
            crate::state::format::at(h.at),
            h.to,
            text(&h.actor),
            text(&h.reason),
            text(&h.model),
            text(&h.model)
        );
        out.push('\n');
    }
    out.push_str(&super::diverged::diverged_text(plan));
    if !plan.rejected.is_empty() {
        out.push_str(
            "Rejected earlier (failed gates or a failed rollout), not tried again until the manifest entry or policy changes:\n",
        );
        for r in &plan.rejected {
            let _ = writeln!(
                out,
                "  {} version {} (git asks for {}): rejected at {}: {}",
                text(&r.model),
                r.version,
                r.wanted,
                crate::state::format::at(r.at),
                text(&r.reason)
            );
        }
        out.push('\n');
    }
    if !plan.unmanaged.is_empty() {
        out.push_str("Not in git (left as they are):\n");
        for u in &plan.unmanaged {
            let _ = writeln!(out, "  {}", text(u));
        }
        out.push('\n');
    }
    let changed: Vec<_> = plan.models.iter().filter(|m| !m.steps.is_empty()).collect();
    if !changed.is_empty() {
        out.push_str(if plan.summary.reject > 0 {
            "modelops will perform these actions (+ register, ~ change, - archive, ! reject):\n"
        } else {
            "modelops will perform these actions (+ register, ~ change, - archive):\n"
        });
        for m in changed {
            let verb = match m.action {
                ModelAction::Create => "will be created",
                _ => "will be updated",
            };
            let _ = writeln!(out, "\n  # {} {verb}", text(&m.model));
            for step in &m.steps {
                let mark = symbol(step);
                let colour = match mark {
                    '+' => Paint::Green,
                    '~' => Paint::Yellow,
                    _ => Paint::Red,
                };
                let _ = writeln!(
                    out,
                    "  {} {}",
                    paint(colour, &mark.to_string()),
                    describe_step(step)
                );
                let changes = match step {
                    PlanStep::UpdateModel { changes, .. }
                    | PlanStep::UpdateVersion { changes, .. } => changes.as_slice(),
                    _ => &[],
                };
                for c in changes {
                    let _ = writeln!(out, "      {}", show_change(c));
                }
                if let PlanStep::TransitionStage { gates, .. }
                | PlanStep::RejectVersion { gates, .. } = step
                {
                    let shown = shown_gates(gates, detail);
                    folded |= shown.len() < gates.len();
                    for line in gate_table(&shown) {
                        let _ = writeln!(out, "      {line}");
                    }
                    if let Some(line) = passed_line(gates, shown.len()) {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
            if let Some(diff) = &m.manifest_diff {
                out.push_str("\n    manifest changes:\n");
                for line in diff.lines() {
                    let _ = writeln!(out, "    {}", text(line));
                }
            }
        }
        out.push('\n');
    }
    let unchanged = plan.models.iter().filter(|m| m.steps.is_empty()).count();
    if unchanged > 0 && plan.has_changes() {
        let _ = writeln!(
            out,
            "{unchanged} model{} unchanged.",
            if unchanged == 1 { "" } else { "s" }
        );
    }
    if !plan.errors.is_empty() {
        out.push('\n');
        out.push_str(&paint(Paint::Red, "Error:"));
        out.push_str(
            " git asks for changes that break the stage graph; nothing will be applied:\n\n",
        );
        for e in &plan.errors {
            let _ = writeln!(
                out,
                "  {}:{}:{}: {}",
                text(&e.file),
                e.line.unwrap_or(0),
                e.column.unwrap_or(0),
                text(&e.message)
            );
        }
        out.push('\n');
    }
    if folded {
        out.push_str(&paint(
            Paint::Dim,
            "Passing gates are counted, not listed: `-v` lists every row.",
        ));
        out.push('\n');
    }
    out.push_str(&paint(Paint::Bold, &summary_line(plan)));
    out.push('\n');
    out
}

/// The rows a table shows: all of them, or (compact) those that failed or
/// were skipped, passing ones that carry a note, and the sign-offs (who
/// approved, and whether GitHub proved it, is what a reviewer looks for).
fn shown_gates(gates: &[GateResult], detail: Detail) -> Vec<GateResult> {
    gates
        .iter()
        .filter(|g| {
            detail == Detail::Full
                || g.status != GateStatus::Pass
                || g.reason.is_some()
                || g.check.starts_with("approval.")
        })
        .cloned()
        .collect()
}

/// "9 gates passed" under a table whose passing rows were folded.
fn passed_line(gates: &[GateResult], shown: usize) -> Option<String> {
    let folded = gates.len() - shown;
    if folded == 0 {
        return None;
    }
    let all = if shown == 0 { "all " } else { "" };
    let s = if folded == 1 { "" } else { "s" };
    Some(paint(
        Paint::Green,
        &format!("{all}{folded} gate{s} passed"),
    ))
}

/// The colour of a gate verdict.
fn status_paint(status: GateStatus) -> Paint {
    match status {
        GateStatus::Pass => Paint::Green,
        GateStatus::Fail => Paint::Red,
        GateStatus::Skip => Paint::Yellow,
    }
}

/// Gate results as an aligned table, with each failure's or skip's reason
/// on a line below it.
pub fn gate_table(gates: &[GateResult]) -> Vec<String> {
    if gates.is_empty() {
        return Vec::new();
    }
    let header = ["gate", "result", "value", "threshold", "source"];
    let rows: Vec<[String; 5]> = gates
        .iter()
        .map(|g| {
            [
                text(&g.check).to_string(),
                g.status.label().to_string(),
                text(&g.value).to_string(),
                text(&g.threshold).to_string(),
                text(&g.source).to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str; 5]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            l.push_str(cell);
            if i < 4 {
                l.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        l.trim_end().to_string()
    };
    let mut out = vec![line(&header)];
    for (g, r) in gates.iter().zip(&rows) {
        let label = g.status.label();
        let row = line(&r.each_ref().map(String::as_str));
        // The label is the second cell, after the padded first: painted in
        // place, so the columns stay aligned.
        let at = r[0].len() + widths[0] - r[0].chars().count() + 2;
        let painted = paint(status_paint(g.status), label);
        out.push(format!(
            "{}{painted}{}",
            &row[..at],
            &row[at + label.len()..]
        ));
        if let Some(reason) = &g.reason {
            out.push(format!("  ↳ {}", text(reason)));
        }
    }
    out
}
