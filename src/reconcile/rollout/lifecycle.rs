//! What the progressive strategies share over a rollout's life: default
//! limits, the first minute's hold, an analysis that does not pass (hold,
//! count an error, give up), and a finished comparison's promotion.

use jiff::{SignedDuration, Timestamp};

use super::analysis::lacks_data;
use super::{PROGRESSING, RolloutInputs, RolloutOutcome, SUCCEEDED, fail, human, note, promote};
use crate::manifest::VersionId;
use crate::state::plan::PlanStep;
use crate::state::{Analysis, RolloutRecord, Verdict};

/// Default limits where the guidelines' shapes give none (shadow comparisons
/// and A/B guardrails): the guidelines' canary thresholds.
pub(super) const ERROR_RATE_INCREASE_PP: f64 = 0.5;
pub(super) const LATENCY_P99_INCREASE_MS: f64 = 20.0;
pub(super) const ACCURACY_DROP_PP: f64 = 1.0;
pub(super) const PREDICTION_KL_MAX: f64 = 0.1;

/// Whether a stage that started at `since` is still in its warmup (the
/// deployment's `analysis.warmup`, at most the stage's `duration_secs`):
/// right after a start there is nothing to measure, which is not an error.
pub(super) fn warming_up(inputs: &RolloutInputs, since: Timestamp, duration_secs: u64) -> bool {
    elapsed(since, inputs.now) < warmup_secs(inputs, duration_secs) as i64
}

fn warmup_secs(inputs: &RolloutInputs, duration_secs: u64) -> u64 {
    let warmup = inputs.deployment.analysis.warmup_secs();
    if duration_secs > 0 {
        warmup.min(duration_secs)
    } else {
        warmup
    }
}

/// A rollout starting now: its `steps` (routing, the record), in words
/// `summary`, with its first decision due `due_secs` from now.
pub(super) fn begin(
    inputs: &RolloutInputs,
    steps: Vec<PlanStep>,
    summary: String,
    due_secs: u64,
) -> RolloutOutcome {
    RolloutOutcome {
        steps,
        note: Some(note(
            inputs,
            "start",
            summary,
            None,
            Some(at(inputs.now, due_secs)),
        )),
    }
}

/// A stage still in its warmup ([`warming_up`]): hold, no analysis.
pub(super) fn just_started(
    inputs: &RolloutInputs,
    headline: &str,
    due: Timestamp,
    duration_secs: u64,
) -> RolloutOutcome {
    let warmup = human(warmup_secs(inputs, duration_secs) as i64);
    RolloutOutcome {
        steps: Vec::new(),
        note: Some(note(
            inputs,
            "hold",
            format!("hold {headline}: just started; the first analysis runs after {warmup}"),
            None,
            Some(due),
        )),
    }
}

pub(super) fn at(t: Timestamp, secs: u64) -> Timestamp {
    t.saturating_add(SignedDuration::from_secs(secs as i64))
        .unwrap_or(t)
}

pub(super) fn elapsed(since: Timestamp, now: Timestamp) -> i64 {
    now.as_second() - since.as_second()
}

/// What an analysis that is not a pass does: a failed one fails the
/// rollout; an error (the provider failed) counts towards the limit and
/// fails the rollout there; an inconclusive one holds, without counting —
/// unless it found no data and the stage ended (`due`) more than
/// `analysis.no_data_timeout` ago, which fails the rollout.
pub(super) fn not_passed(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    stable: &VersionId,
    analysis: Analysis,
    headline: &str,
    holding: String,
    due: Timestamp,
) -> RolloutOutcome {
    let limit = inputs.deployment.analysis.max_consecutive_errors();
    let next_at = (inputs.now < due).then_some(due);
    match analysis.verdict {
        Verdict::Fail => fail(
            inputs,
            record.clone(),
            stable,
            analysis,
            format!("roll back {headline}"),
        ),
        Verdict::Error => {
            let errors = record.consecutive_errors + 1;
            if errors >= limit {
                let why = format!("({errors} analyses in a row)");
                return give_up(inputs, record, stable, analysis, &why, headline);
            }
            let summary = format!(
                "hold {headline} {holding}: {} (error {errors} of {limit} allowed)",
                analysis.message
            );
            RolloutOutcome {
                steps: vec![super::PlanStep::RecordRollout {
                    model: inputs.model.name.clone(),
                    record: RolloutRecord {
                        consecutive_errors: errors,
                        last_analysis: Some(analysis.clone()),
                        ..record.clone()
                    },
                    summary: format!("analysis error {errors} of {limit}: {}", analysis.message),
                }],
                note: Some(note(inputs, "hold", summary, Some(analysis), next_at)),
            }
        }
        Verdict::Inconclusive if lacks_data(&analysis) && inputs.now >= due => {
            let timeout = inputs.deployment.analysis.no_data_timeout_secs();
            let deadline = at(due, timeout);
            let late = human(elapsed(due, inputs.now));
            if inputs.now >= deadline {
                let why = format!(
                    "{late} after the stage's duration ended (analysis.no_data_timeout {})",
                    human(timeout as i64)
                );
                return give_up(inputs, record, stable, analysis, &why, headline);
            }
            let summary = format!(
                "hold {headline} {holding}: {}; the stage's duration is over: the rollout fails at {deadline} if there is still no data (analysis.no_data_timeout {})",
                analysis.message,
                human(timeout as i64)
            );
            hold(inputs, record, summary, analysis, Some(deadline))
        }
        Verdict::Inconclusive | Verdict::Pass => {
            let summary = format!("hold {headline} {holding}: {}", analysis.message);
            hold(inputs, record, summary, analysis, next_at)
        }
    }
}

/// Fails a rollout whose analysis never came to a verdict, saying `why`.
fn give_up(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    stable: &VersionId,
    mut analysis: Analysis,
    why: &str,
    headline: &str,
) -> RolloutOutcome {
    analysis.message = format!("{} {why}", analysis.message);
    fail(
        inputs,
        record.clone(),
        stable,
        analysis,
        format!("fail {headline}"),
    )
}

/// Holds the stage; writes only to clear an error count.
pub(super) fn hold(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    summary: String,
    analysis: Analysis,
    next_at: Option<Timestamp>,
) -> RolloutOutcome {
    let mut steps = Vec::new();
    if record.consecutive_errors > 0 {
        steps.push(super::PlanStep::RecordRollout {
            model: inputs.model.name.clone(),
            record: RolloutRecord {
                consecutive_errors: 0,
                last_analysis: Some(analysis.clone()),
                ..record.clone()
            },
            summary: "metrics readable again".to_string(),
        });
    }
    RolloutOutcome {
        steps,
        note: Some(note(inputs, "hold", summary, Some(analysis), next_at)),
    }
}

/// A shadow comparison or A/B test that already ended: a passed one
/// promotes when git asks for it or auto-promotion is on (once), else waits
/// for a person; `None` while it runs; a failed or stopped one does nothing.
pub(super) fn finished(
    inputs: &RolloutInputs,
    record: &RolloutRecord,
    wanted: bool,
    auto_promote: bool,
    stable: &VersionId,
    reason: &str,
    outcome: &str,
) -> Option<RolloutOutcome> {
    let name = &inputs.model.name;
    let candidate = &record.version;
    match record.phase.as_str() {
        PROGRESSING => None,
        SUCCEEDED if wanted || (auto_promote && !record.promoted) => {
            let mut r = record.clone();
            r.promoted = !wanted;
            let steps = match promote(inputs, r, stable, reason) {
                Ok(steps) => steps,
                Err(refused) => return Some(refused),
            };
            let summary =
                format!("promote {name} version {candidate}: {outcome}; version {stable} archived");
            Some(RolloutOutcome {
                steps,
                note: Some(note(
                    inputs,
                    "promote",
                    summary,
                    record.last_analysis.clone(),
                    None,
                )),
            })
        }
        SUCCEEDED => {
            let summary = format!(
                "{name}: {outcome}; promote it by setting its stage to Production in {}",
                inputs.model.file
            );
            Some(RolloutOutcome {
                steps: Vec::new(),
                note: Some(note(
                    inputs,
                    "done",
                    summary,
                    record.last_analysis.clone(),
                    None,
                )),
            })
        }
        _ => Some(RolloutOutcome::default()),
    }
}
