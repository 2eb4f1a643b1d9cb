//! The plan as GitHub-flavoured markdown, for a pull-request comment or a
//! job summary. Every value from a manifest or a server goes through
//! [`inline`], [`code`] or [`fence`], so none can mention anyone, link,
//! embed, add HTML or a heading, break a table, or close a code block.

use std::fmt::Write;

use super::safe::{code, fence, inline, prose};
use super::{
    abbrev, after_merge_heading, describe_step, show_change, show_outside_change,
    show_setting_change, summary_line,
};
use crate::reconcile::gates::{GateResult, GateStatus};
use crate::reconcile::{ModelAction, Plan, PlanStep};
use crate::state::plan::StepKind;

/// The whole plan as markdown.
pub fn plan_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("### modelops plan\n\n");
    let commit = plan
        .source
        .commit
        .as_deref()
        .map(|c| format!(" at {}", code(abbrev(c))))
        .unwrap_or_default();
    let base = plan
        .source
        .base
        .as_deref()
        .map(|b| format!(", models changed since {}", code(b)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Repository {}{commit}{base}.\n",
        code(&plan.source.repo)
    );
    let _ = writeln!(out, "**{}**\n", prose(&summary_line(plan)));
    if !plan.errors.is_empty() {
        out.push_str("#### :x: Refused changes (nothing will be applied)\n\n");
        for e in &plan.errors {
            let _ = writeln!(
                out,
                "- {} {}",
                code(&format!("{}:{}", e.file, e.line.unwrap_or(0))),
                prose(&e.message)
            );
        }
        out.push('\n');
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "> :warning: {}\n", prose(w));
    }
    if !plan.after_merge.is_empty() {
        let heading = after_merge_heading(plan);
        let (title, rest) = heading.split_once(": ").unwrap_or((&heading, ""));
        let _ = writeln!(out, "#### {title}\n\n{}.\n", escape(rest));
        for c in &plan.after_merge {
            let _ = writeln!(out, "- {}", escape(&show_setting_change(c)));
        }
        out.push('\n');
    }
    let notes: Vec<_> = plan
        .models
        .iter()
        .filter_map(|m| m.rollout.as_ref())
        .collect();
    if !notes.is_empty() {
        out.push_str("#### Rollouts\n\n");
        for n in notes {
            let next = n
                .next_at
                .map(|t| {
                    format!(
                        " _(next decision due at {})_",
                        inline(&crate::state::format::at(t))
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- **{}** — {}{next}",
                inline(&n.action.to_string()),
                prose(&n.summary)
            );
        }
        out.push('\n');
    }
    for h in &plan.held_by_rollback {
        let _ = writeln!(
            out,
            "#### :rewind: {} held by rollback\n\nRolled back to version {} at {} by {}: {}. Left alone until its manifest changes or {}.\n",
            code(&h.model),
            inline(&h.to.to_string()),
            inline(&crate::state::format::at(h.at)),
            inline(&h.actor),
            prose(&h.reason),
            code(&format!("modelops rollback --release {}", h.model))
        );
    }
    out.push_str(&super::diverged::diverged_markdown(plan, escape));
    if !plan.rejected.is_empty() {
        out.push_str("#### Rejected earlier (not tried again until the manifest entry or policy changes)\n\n| model | version | wants | rejected at | failed checks |\n|---|---|---|---|---|\n");
        for r in &plan.rejected {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&r.model),
                inline(&r.version.to_string()),
                inline(&r.wanted.to_string()),
                inline(&r.at.to_string()),
                prose(&r.reason)
            );
        }
        out.push('\n');
    }
    if !plan.outside_changes.is_empty() {
        out.push_str("#### Changed outside git\n\n| model | version | change |\n|---|---|---|\n");
        for d in &plan.outside_changes {
            let v = d
                .version
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                code(&d.model),
                inline(&v),
                prose(&show_outside_change(&d.change))
            );
        }
        out.push('\n');
    }
    for m in plan.models.iter().filter(|m| !m.steps.is_empty()) {
        let action = if m.action == ModelAction::Create {
            "create"
        } else {
            "update"
        };
        let _ = writeln!(out, "#### {} — {action}\n", code(&m.model));
        let mut lines = String::new();
        for step in &m.steps {
            let sign = match step.kind() {
                StepKind::Add => '+',
                StepKind::Change => '!',
                StepKind::Archive => '-',
                StepKind::Reject => '!',
            };
            let _ = writeln!(lines, "{sign} {}", describe_step(step));
            if let PlanStep::UpdateModel { changes, .. } | PlanStep::UpdateVersion { changes, .. } =
                step
            {
                for c in changes {
                    let _ = writeln!(lines, "#     {}", show_change(c));
                }
            }
        }
        out.push_str(&fence("diff", &lines));
        out.push('\n');
        for step in &m.steps {
            if let PlanStep::TransitionStage { gates, .. } | PlanStep::RejectVersion { gates, .. } =
                step
                && !gates.is_empty()
            {
                out.push_str(&gate_table_markdown(step, gates));
            }
        }
        if let Some(diff) = &m.manifest_diff {
            out.push_str("<details><summary>Manifest changes</summary>\n\n");
            out.push_str(&fence("diff", diff));
            out.push_str("\n</details>\n\n");
        }
    }
    let unchanged: Vec<&str> = plan
        .models
        .iter()
        .filter(|m| m.steps.is_empty())
        .map(|m| m.model.as_str())
        .collect();
    if !unchanged.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Unchanged models ({})</summary>\n",
            unchanged.len()
        );
        for m in unchanged {
            let _ = writeln!(out, "- {}", code(m));
        }
        out.push_str("\n</details>\n");
    }
    if !plan.unmanaged.is_empty() {
        out.push_str(
            "\n<details><summary>In the registry, not in git (left as they are)</summary>\n\n",
        );
        for u in &plan.unmanaged {
            let _ = writeln!(out, "- {}", inline(u));
        }
        out.push_str("\n</details>\n");
    }
    out
}

/// A message for the sections that take an escaping function.
fn escape(s: &str) -> String {
    prose(s)
}

/// One move's gates as a markdown table under a heading with the verdict.
fn gate_table_markdown(step: &PlanStep, gates: &[GateResult]) -> String {
    let (version, from, to, rejected) = match step {
        PlanStep::TransitionStage {
            version, from, to, ..
        } => (version, from, to, false),
        PlanStep::RejectVersion {
            version, from, to, ..
        } => (version, from, to, true),
        _ => return String::new(),
    };
    let passed = gates
        .iter()
        .filter(|g| g.status == GateStatus::Pass)
        .count();
    let skipped = gates
        .iter()
        .filter(|g| g.status == GateStatus::Skip)
        .count();
    // Passed gates fold away; a rejection is shown open.
    let mut out = if rejected {
        format!(
            "**Gates for version {version}, {from} → {to}: :x: rejected** — the move is not applied and the version is marked Rejected.\n\n"
        )
    } else {
        format!(
            "<details><summary>Gates for version {version}, {from} → {to}: :white_check_mark: {passed} passed, {skipped} skipped</summary>\n\n"
        )
    };
    out.push_str("| gate | result | value | threshold | source |\n|---|---|---|---|---|\n");
    for g in gates {
        let value = match &g.reason {
            Some(r) => format!("{}<br>_{}_", prose(&g.value), prose(r)),
            None => prose(&g.value),
        };
        let result = match g.status {
            GateStatus::Pass => "PASS",
            GateStatus::Fail => "**FAIL**",
            GateStatus::Skip => "SKIP",
        };
        let _ = writeln!(
            out,
            "| {} | {result} | {value} | {} | {} |",
            code(&g.check),
            prose(&g.threshold),
            prose(&g.source)
        );
    }
    out.push('\n');
    if !rejected {
        out.push_str("</details>\n\n");
    }
    out
}
