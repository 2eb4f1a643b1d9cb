//! The monitoring report (`modelops monitor`) as text for a terminal and as
//! markdown for a job summary.

use std::fmt::Write;

use super::{code, inline, prose, text};
use crate::reconcile::monitor::{ModelReport, SignalStatus};

/// The report as aligned tables, one per model, and a last line counting
/// breached and unmeasured signals.
pub fn monitor_text(reports: &[ModelReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let version = r
            .version
            .as_ref()
            .map(|v| format!(" version {}", text(&v.to_string())))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}{version} — window {}",
            text(&r.model),
            text(&r.window)
        );
        let rows: Vec<[String; 4]> = r
            .signals
            .iter()
            .map(|s| {
                [
                    text(&s.signal).to_string(),
                    text(&s.shown).to_string(),
                    text(&s.threshold).to_string(),
                    s.status.label().to_string(),
                ]
            })
            .collect();
        let header = [
            "signal".to_string(),
            "value".into(),
            "threshold".into(),
            "status".into(),
        ];
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: &[String; 4]| {
            let mut l = String::from("  ");
            for (i, (c, w)) in row.iter().zip(widths).enumerate() {
                l.push_str(c);
                if i < 3 {
                    l.push_str(&" ".repeat(w - c.chars().count() + 2));
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&header));
        for (row, s) in rows.iter().zip(&r.signals) {
            let _ = writeln!(out, "{}", line(row));
            if let Some(d) = &s.detail {
                let _ = writeln!(out, "    ↳ {}", text(d));
            }
        }
        for a in &r.actions {
            let _ = writeln!(out, "  action: {}", text(a));
        }
        out.push('\n');
    }
    let breached = reports
        .iter()
        .flat_map(|r| &r.signals)
        .filter(|s| s.status == SignalStatus::Breached)
        .count();
    let unmeasured = reports
        .iter()
        .flat_map(|r| &r.signals)
        .filter(|s| s.status == SignalStatus::Unmeasured)
        .count();
    let _ = writeln!(
        out,
        "{}",
        if breached + unmeasured == 0 {
            "All signals healthy.".to_string()
        } else {
            format!("{breached} breached, {unmeasured} unmeasured.")
        }
    );
    out
}

/// The report as markdown tables, one per model, for a job summary.
pub fn monitor_markdown(reports: &[ModelReport]) -> String {
    let mut out = String::from("### modelops monitor\n\n");
    for r in reports {
        let version = r
            .version
            .as_ref()
            .map(|v| format!(" version {}", inline(&v.to_string())))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "#### {}{version}\n\nWindow: {}\n\n| signal | value | threshold | status |\n|---|---|---|---|",
            code(&r.model),
            inline(&r.window)
        );
        for s in &r.signals {
            let status = match s.status {
                SignalStatus::Healthy => "ok".to_string(),
                SignalStatus::Breached => "**BREACH**".to_string(),
                SignalStatus::Unmeasured => "**UNMEASURED**".to_string(),
            };
            let value = match &s.detail {
                Some(d) => format!("{}<br>_{}_", inline(&s.shown), prose(d)),
                None => inline(&s.shown).to_string(),
            };
            let _ = writeln!(
                out,
                "| {} | {value} | {} | {status} |",
                code(&s.signal),
                inline(&s.threshold)
            );
        }
        for a in &r.actions {
            let _ = writeln!(out, "\n- action: {}", prose(a));
        }
        out.push('\n');
    }
    out
}
