//! The individual checks: metric thresholds and regressions, per-group
//! fairness, latency, pinned dependencies, rollout evidence and approvals.

use std::collections::BTreeMap;

use super::{Candidate, GateResult, GateStatus, num};
use crate::manifest::Stage;
use crate::manifest::VersionId;
use crate::manifest::policy::{Better, MetricGate, ProductionRequirements};
use crate::manifest::rules::is_pinned;
use crate::manifest::sorted_map::SortedMap;
use crate::state::{LatencyReport, RolloutRecord, VersionMetadata};

/// Logged metrics by run id, as [`super::GateInputs::run_metrics`].
type RunMetrics = BTreeMap<String, Option<SortedMap<String, f64>>>;

/// The metric the name the guidelines give declared latency.
pub const LATENCY_METRIC: &str = "latency_p99_ms";

fn result(
    check: String,
    status: GateStatus,
    value: String,
    threshold: String,
    source: String,
) -> GateResult {
    GateResult {
        check,
        status,
        value,
        threshold,
        source,
        reason: None,
    }
}

fn with_reason(mut r: GateResult, reason: impl Into<String>) -> GateResult {
    r.reason = Some(reason.into());
    r
}

/// Whether `value` is on the good side of `bound`. Exactly at the bound
/// passes; a tolerance of 1e-9 (relative above 1) absorbs the rounding of
/// `baseline − allowance`, so 0.95 passes `≥ 0.96 − 0.01`.
pub fn holds(value: f64, bound: f64, better: Better) -> bool {
    let eps = 1e-9 * bound.abs().max(1.0);
    match better {
        Better::Higher => value >= bound - eps,
        Better::Lower => value <= bound + eps,
    }
}

fn symbol(better: Better) -> &'static str {
    match better {
        Better::Higher => "≥",
        Better::Lower => "≤",
    }
}

/// A metric's value and where it came from: the training run's logged
/// value when the tracking server returned it, else the manifest's.
pub fn metric_value(
    name: &str,
    meta: &VersionMetadata,
    runs: &RunMetrics,
) -> (Option<f64>, String) {
    if let Some(run) = &meta.training_run_id {
        match runs.get(run) {
            Some(Some(logged)) => {
                if let Some(v) = logged.get(name) {
                    return (Some(*v), format!("run {run}"));
                }
            }
            Some(None) => {
                return (
                    meta.metrics.get(name).copied(),
                    format!("manifest (run {run} is not in the tracking server)"),
                );
            }
            None => {}
        }
    }
    (meta.metrics.get(name).copied(), "manifest".to_string())
}

/// Compares one measured value with its bound; missing and NaN values fail.
fn compare(
    check: String,
    metric: &str,
    value: Option<f64>,
    bound: f64,
    better: Better,
    threshold: String,
    source: String,
) -> GateResult {
    match value {
        None => with_reason(
            result(
                check,
                GateStatus::Fail,
                "missing".into(),
                threshold,
                source.clone(),
            ),
            format!("no `{metric}` recorded ({source})"),
        ),
        Some(v) if v.is_nan() => with_reason(
            result(check, GateStatus::Fail, "NaN".into(), threshold, source),
            "not a number",
        ),
        Some(v) => {
            let status = if holds(v, bound, better) {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            };
            result(check, status, num(v), threshold, source)
        }
    }
}

/// The threshold and regression checks of one metric.
pub fn metric(
    name: &str,
    gate: &MetricGate,
    meta: &VersionMetadata,
    baseline: Option<(&VersionId, &VersionMetadata)>,
    runs: &RunMetrics,
) -> Vec<GateResult> {
    let mut out = Vec::new();
    let (value, source) = metric_value(name, meta, runs);
    let sym = symbol(gate.better);
    if let Some(t) = gate.threshold {
        out.push(compare(
            format!("metric.{name}"),
            name,
            value,
            t,
            gate.better,
            format!("{sym} {}", num(t)),
            source.clone(),
        ));
    }
    if let Some(allowance) = gate.max_regression {
        let check = format!("regression.{name}");
        let (sign, op) = match gate.better {
            Better::Higher => (-1.0, '−'),
            Better::Lower => (1.0, '+'),
        };
        let shown = value.map_or("missing".to_string(), num);
        match baseline {
            None => out.push(with_reason(
                result(
                    check,
                    GateStatus::Skip,
                    shown,
                    format!("{sym} Production {op} {}", num(allowance)),
                    source,
                ),
                "no Production version to compare with (first promotion)",
            )),
            Some((bv, bm)) => match bm.metrics.get(name) {
                None => out.push(with_reason(
                    result(
                        check,
                        GateStatus::Fail,
                        shown,
                        format!("{sym} version {bv} {op} {}", num(allowance)),
                        source,
                    ),
                    format!("the Production version {bv} records no `{name}` to compare with"),
                )),
                Some(b) => {
                    let bound = b + sign * allowance;
                    out.push(compare(
                        check,
                        name,
                        value,
                        bound,
                        gate.better,
                        format!(
                            "{sym} {} (version {bv}: {} {op} {})",
                            num(bound),
                            num(*b),
                            num(allowance)
                        ),
                        source,
                    ));
                }
            },
        }
    }
    out
}

/// One check per protected attribute: every group at or above `min`. A
/// failing check names the groups below the floor.
pub fn fairness(min: f64, meta: &VersionMetadata) -> Vec<GateResult> {
    let threshold = format!("≥ {} for every group", num(min));
    if meta.fairness.is_empty() {
        return vec![with_reason(
            result(
                "fairness".into(),
                GateStatus::Fail,
                "no per-group scores".into(),
                threshold,
                "manifest".into(),
            ),
            "declare `fairness` scores for each protected attribute and group",
        )];
    }
    let mut out = Vec::new();
    for (attribute, groups) in meta.fairness.iter() {
        let check = format!("fairness.{attribute}");
        if groups.is_empty() {
            out.push(with_reason(
                result(
                    check,
                    GateStatus::Fail,
                    "no groups".into(),
                    threshold.clone(),
                    "manifest".into(),
                ),
                format!("`{attribute}` lists no groups"),
            ));
            continue;
        }
        let below: Vec<String> = groups
            .iter()
            .filter(|(_, v)| !holds(**v, min, Better::Higher))
            .map(|(g, v)| format!("{g} {}", num(*v)))
            .collect();
        if below.is_empty() {
            let (group, lowest) = groups
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .expect("groups is not empty");
            out.push(result(
                check,
                GateStatus::Pass,
                format!("lowest {group} {}", num(*lowest)),
                threshold.clone(),
                "manifest".into(),
            ));
        } else {
            out.push(with_reason(
                result(
                    check,
                    GateStatus::Fail,
                    below.join(", "),
                    threshold.clone(),
                    "manifest".into(),
                ),
                format!("below the floor in `{attribute}`: {}", below.join(", ")),
            ));
        }
    }
    out
}

/// No bias regression: one check per protected attribute the candidate
/// records, every group at or above the Production version's score for it
/// minus `allowance`. A group the baseline scores and the candidate does not
/// fails (a regression cannot be ruled out); no baseline, or a baseline that
/// records nothing for the attribute, skips with the reason.
pub fn bias_regression(
    allowance: f64,
    meta: &VersionMetadata,
    baseline: Option<(&VersionId, &VersionMetadata)>,
) -> Vec<GateResult> {
    let threshold_of = |bv: Option<&VersionId>| match bv {
        Some(bv) => format!("≥ version {bv} − {} per group", num(allowance)),
        None => format!("≥ Production − {} per group", num(allowance)),
    };
    let Some((bv, bm)) = baseline else {
        if meta.fairness.is_empty() {
            return Vec::new();
        }
        return vec![with_reason(
            result(
                "bias_regression".into(),
                GateStatus::Skip,
                "no baseline".into(),
                threshold_of(None),
                "manifest".into(),
            ),
            "no Production version to compare with (first promotion)",
        )];
    };
    let threshold = threshold_of(Some(bv));
    let mut out = Vec::new();
    for (attribute, before) in bm.fairness.iter() {
        let check = format!("bias_regression.{attribute}");
        let Some(after) = meta.fairness.get(attribute) else {
            out.push(with_reason(
                result(
                    check,
                    GateStatus::Fail,
                    "not recorded".into(),
                    threshold.clone(),
                    "manifest".into(),
                ),
                format!(
                    "version {bv} records `{attribute}` scores; declare them for this version too"
                ),
            ));
            continue;
        };
        let mut worst: Option<(&str, f64)> = None;
        let mut regressed = Vec::new();
        let mut missing = Vec::new();
        for (group, b) in before.iter() {
            match after.get(group) {
                None => missing.push(group.as_str()),
                Some(a) => {
                    let change = a - b;
                    if worst.is_none_or(|(_, w)| change < w) {
                        worst = Some((group, change));
                    }
                    if !holds(*a, b - allowance, Better::Higher) {
                        regressed.push(format!("{group} {} → {}", num(*b), num(*a)));
                    }
                }
            }
        }
        let value = match worst {
            Some((g, w)) => format!("worst {g} {}{}", if w >= 0.0 { "+" } else { "" }, num(w)),
            None => "no common groups".into(),
        };
        let source = format!("manifest (version {bv})");
        if regressed.is_empty() && missing.is_empty() {
            out.push(result(
                check,
                GateStatus::Pass,
                value,
                threshold.clone(),
                source,
            ));
            continue;
        }
        let mut why = Vec::new();
        if !regressed.is_empty() {
            why.push(format!("regressed: {}", regressed.join(", ")));
        }
        if !missing.is_empty() {
            why.push(format!("not scored: {}", missing.join(", ")));
        }
        out.push(with_reason(
            result(check, GateStatus::Fail, value, threshold.clone(), source),
            why.join("; "),
        ));
    }
    if out.is_empty() && !meta.fairness.is_empty() {
        out.push(with_reason(
            result(
                "bias_regression".into(),
                GateStatus::Skip,
                "no baseline scores".into(),
                threshold,
                "manifest".into(),
            ),
            format!("version {bv} records no fairness scores to compare with"),
        ));
    }
    out
}

/// p99 latency: measured by the policy's benchmark when it names one,
/// otherwise the declared `latency_p99_ms`, labelled as declared.
pub fn latency(
    max: f64,
    benchmarked: bool,
    measured: Option<&Result<LatencyReport, String>>,
    meta: &VersionMetadata,
    runs: &RunMetrics,
) -> GateResult {
    let check = "latency.p99".to_string();
    let threshold = format!("p99 ≤ {} ms", num(max));
    if benchmarked {
        let source = "benchmark".to_string();
        return match measured {
            None => with_reason(
                result(
                    check,
                    GateStatus::Fail,
                    "not measured".into(),
                    threshold,
                    source,
                ),
                "the benchmark did not run",
            ),
            Some(Err(e)) => with_reason(
                result(
                    check,
                    GateStatus::Fail,
                    "not measured".into(),
                    threshold,
                    source,
                ),
                e.clone(),
            ),
            Some(Ok(r)) => {
                let value = format!(
                    "p99 {} ms (p50 {}, p95 {}; {} of {} requests failed)",
                    num(r.p99_ms),
                    num(r.p50_ms),
                    num(r.p95_ms),
                    r.failed,
                    r.requests
                );
                let source = format!("benchmark ({} requests)", r.requests);
                if r.failed > 0 {
                    let first = r.first_error.as_deref().unwrap_or("no detail");
                    with_reason(
                        result(check, GateStatus::Fail, value, threshold, source),
                        format!(
                            "{} of {} requests failed; first: {first}",
                            r.failed, r.requests
                        ),
                    )
                } else if holds(r.p99_ms, max, Better::Lower) {
                    result(check, GateStatus::Pass, value, threshold, source)
                } else {
                    result(check, GateStatus::Fail, value, threshold, source)
                }
            }
        };
    }
    let (value, source) = metric_value(LATENCY_METRIC, meta, runs);
    let source = format!("declared, not measured ({source})");
    match value {
        None => with_reason(
            result(check, GateStatus::Fail, "missing".into(), threshold, source),
            format!("no `{LATENCY_METRIC}` declared, and the policy names no benchmark"),
        ),
        Some(v) if v.is_nan() => with_reason(
            result(check, GateStatus::Fail, "NaN".into(), threshold, source),
            "not a number",
        ),
        Some(v) => {
            let status = if holds(v, max, Better::Lower) {
                GateStatus::Pass
            } else {
                GateStatus::Fail
            };
            result(
                check,
                status,
                format!("p99 {} ms", num(v)),
                threshold,
                source,
            )
        }
    }
}

/// Every inference dependency pinned to an exact version.
pub fn pinned(meta: &VersionMetadata) -> GateResult {
    let check = "dependencies.pinned".to_string();
    let threshold = "exact versions".to_string();
    if meta.dependencies.is_empty() {
        return with_reason(
            result(
                check,
                GateStatus::Fail,
                "none declared".into(),
                threshold,
                "manifest".into(),
            ),
            "declare the inference libraries with exact versions under `dependencies`",
        );
    }
    let loose: Vec<String> = meta
        .dependencies
        .iter()
        .filter(|(_, v)| !is_pinned(v))
        .map(|(lib, v)| format!("{lib} {v}"))
        .collect();
    if loose.is_empty() {
        result(
            check,
            GateStatus::Pass,
            format!("{} pinned", meta.dependencies.len()),
            threshold,
            "manifest".into(),
        )
    } else {
        result(
            check,
            GateStatus::Fail,
            format!("not pinned: {}", loose.join(", ")),
            threshold,
            "manifest".into(),
        )
    }
}

/// A completed shadow comparison, canary or A/B test of this version, for
/// Staging → Production.
pub fn evidence(
    requires: &ProductionRequirements,
    c: &Candidate,
    rollout: Option<&RolloutRecord>,
    evidence: super::Evidence,
) -> GateResult {
    let check = "evidence.rollout".to_string();
    let threshold = "a completed shadow, canary or A/B test".to_string();
    let source = "rollout record".to_string();
    let skip = |reason: String| {
        with_reason(
            result(
                check.clone(),
                GateStatus::Skip,
                "not required".into(),
                threshold.clone(),
                source.clone(),
            ),
            reason,
        )
    };
    if requires.evidence_waived_for.iter().any(|m| m == c.model) {
        return skip(format!(
            "the policy waives rollout evidence for {}",
            c.model
        ));
    }
    match evidence {
        super::Evidence::Starts(strategy) => {
            return skip(format!(
                "the {strategy} this move starts is the evidence: the version reaches Production only if it passes"
            ));
        }
        super::Evidence::Passes(strategy) => {
            return result(
                check,
                GateStatus::Pass,
                format!("{strategy} passed"),
                threshold,
                format!("{strategy} analysis (this apply)"),
            );
        }
        super::Evidence::Recorded => {}
    }
    match c.from {
        Stage::Development => {
            return skip("first Production version of the model: nothing to compare with".into());
        }
        Stage::Archived => return skip("restored from the archive".into()),
        Stage::Staging | Stage::Production => {}
    }
    match rollout.filter(|r| &r.version == c.version) {
        Some(r) if r.phase == "Succeeded" && r.strategy != "direct" => result(
            check,
            GateStatus::Pass,
            format!("{} succeeded", r.strategy),
            threshold,
            source,
        ),
        Some(r) => with_reason(
            result(
                check,
                GateStatus::Fail,
                format!("{} {}", r.strategy, r.phase),
                threshold,
                source,
            ),
            "the rollout has not completed successfully",
        ),
        None => with_reason(
            result(
                check,
                GateStatus::Fail,
                "none recorded".into(),
                threshold,
                source,
            ),
            format!(
                "no completed shadow, canary or A/B test of version {} is recorded; \
                 roll it out with a deployment first, or waive it with `evidence_waived_for`",
                c.version
            ),
        ),
    }
}

/// One required sign-off as the manifest declares it: `approved_by` (a
/// comma-separated list) must name `who`, where `owner` stands for the
/// model's owner. (An owner mapped to a GitHub identity is judged by
/// [`super::approval`] instead.)
pub fn approval(who: &str, c: &Candidate) -> GateResult {
    let required = if who == "owner" { c.owner } else { who };
    let approvers: Vec<&str> = c
        .metadata
        .approved_by
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let value = if approvers.is_empty() {
        "(none)".to_string()
    } else {
        approvers.join(", ")
    };
    let threshold = if who == "owner" {
        format!("signed off by the owner, {required}")
    } else {
        format!("signed off by {required}")
    };
    let check = format!("approval.{who}");
    if approvers.contains(&required) {
        result(check, GateStatus::Pass, value, threshold, "manifest".into())
    } else {
        with_reason(
            result(check, GateStatus::Fail, value, threshold, "manifest".into()),
            format!("`approved_by` must name {required}"),
        )
    }
}
