//! What each plan step means, decided once: the registry writes
//! ([`RegistryOps`]) it makes, in order, and the event it records. A registry
//! implements the writes and never sees a [`PlanStep`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::backend::{ApplyContext, BackendError, Registry, RegistryOps, StepRecord};
use crate::manifest::{Stage, VersionId};
use crate::reconcile::PlanStep;
use crate::reconcile::gates::failure_summary;
use crate::state::drill::DRILL_ACTION;
use crate::state::sign_off::Override;
use crate::state::{Event, FieldChange, Rejection};

/// What happened to one model's steps in [`apply_models`].
#[derive(Debug, Default)]
pub struct ModelOutcome {
    /// How many of its steps were applied, from the first.
    pub applied: usize,
    /// Steps after those that were applied ahead of their turn (a move
    /// made with its version's registration), by index.
    pub ahead: Vec<usize>,
    /// The error of the step after those, if one failed.
    pub failed: Option<BackendError>,
}

/// Applies one step through `registry`'s writes and records its event.
/// Routing is not a registry's: a [`PlanStep::SetTraffic`] or
/// [`PlanStep::RemoveRoute`] is refused.
pub fn apply_step<R: RegistryOps + ?Sized>(
    registry: &mut R,
    step: &PlanStep,
    ctx: &ApplyContext,
) -> Result<(), BackendError> {
    let record = match step {
        PlanStep::RegisterModel {
            model,
            owner,
            description,
        } => {
            registry.register_model(model, owner, description.as_deref())?;
            let summary = format!("registered model {model} (owner {owner})");
            Record::new(model, "register_model", summary).done()
        }
        PlanStep::UpdateModel {
            model,
            owner,
            description,
            changes,
        } => {
            registry.update_model(model, owner, description.as_deref())?;
            Record::new(model, "update_model", format!("updated model {model}"))
                .changes(changes.clone())
                .done()
        }
        PlanStep::RegisterVersion {
            model,
            version,
            stage,
            metadata,
        } => {
            let record = registration_record(model, version, *stage);
            // The event may ride on the registration (one write in MLflow).
            return registry.register_version_recorded(
                model,
                version,
                *stage,
                metadata,
                None,
                vec![record],
                ctx,
            );
        }
        PlanStep::UpdateVersion {
            model,
            version,
            metadata,
            changes,
        } => {
            registry.update_version(model, version, metadata)?;
            let summary = format!("updated {model} version {version} metadata");
            Record::new(model, "update_version", summary)
                .version(version)
                .changes(changes.clone())
                .done()
        }
        PlanStep::TransitionStage {
            model,
            version,
            from,
            to,
            reason,
            ..
        } => {
            registry.expect_stage(model, version, *from)?;
            registry.set_stage(model, version, *from, *to)?;
            // The gates passed: an earlier rejection no longer stands.
            registry.clear_rejection(model, version)?;
            let mut record = move_record(model, version, *from, *to, reason);
            let signed = ctx.sign_offs.get(&(model.clone(), version.clone()));
            if let Some((by, gates)) = signed.and_then(|s| s.overridden.as_ref()) {
                registry.record_event(override_record(model, version, by, gates), ctx)?;
            }
            if let Some(line) = signed.and_then(|s| s.approvers_line()) {
                registry.record_sign_off(model, version, &line)?;
                record
                    .event
                    .summary
                    .push_str(&format!("; signed off by {line}"));
                record.event.changes.push(FieldChange {
                    field: "signed_off_by".into(),
                    before: None,
                    after: Some(line.into()),
                });
            }
            record
        }
        PlanStep::RecordRollout {
            model,
            record,
            summary,
        } => {
            registry.record_rollout(model, record)?;
            Record::new(model, "record_rollout", format!("{model}: {summary}"))
                .version(&record.version)
                .done()
        }
        PlanStep::RecordAction {
            model,
            version,
            key,
            summary,
        } => {
            let line = format!("monitor_action [{key}] {summary}");
            Record::new(
                model,
                "monitor_action",
                format!("{model} version {version}: {summary}"),
            )
            .version(version)
            .changes(vec![FieldChange {
                field: "key".into(),
                before: None,
                after: Some(key.clone().into()),
            }])
            .line(line)
        }
        PlanStep::RecordDrill { model, drill } => Record::new(
            model,
            DRILL_ACTION,
            format!("{model} version {}: {}", drill.version, drill.summary()),
        )
        .version(&drill.version)
        .changes(drill.changes())
        .line(drill.line()),
        PlanStep::SetTraffic { model, .. } | PlanStep::RemoveRoute { model, .. } => {
            return Err(BackendError::Conflict(format!(
                "{model}: routing is applied by the serving target, not the registry"
            )));
        }
        PlanStep::RejectVersion {
            model,
            version,
            from,
            to,
            gates,
            key,
            ..
        } => {
            registry.expect_stage(model, version, *from)?;
            let (rejection, record) = rejection_of(model, version, *from, *to, gates, key, ctx);
            registry.set_rejection(model, version, &rejection)?;
            record
        }
    };
    registry.record_event(record, ctx)
}

/// The audit event of an operator's `--approval-override`: which gates it
/// passed, why, and who gave it.
fn override_record(
    model: &str,
    version: &VersionId,
    by: &Override,
    gates: &[String],
) -> StepRecord {
    let summary = format!(
        "{model} version {version}: {} overridden by {}: {}",
        gates.join(", "),
        by.actor,
        by.reason
    );
    Record::new(model, APPROVAL_OVERRIDE, summary)
        .version(version)
        .changes(vec![
            FieldChange {
                field: "override.reason".into(),
                before: None,
                after: Some(by.reason.clone().into()),
            },
            FieldChange {
                field: "override.gates".into(),
                before: None,
                after: Some(gates.join(", ").into()),
            },
        ])
        // Registries that keep the one-line form (MLflow) read a stage from
        // its last word: this one never ends in a stage's name.
        .line(format!(
            "{APPROVAL_OVERRIDE} {} by {}: {} (override)",
            gates.join(","),
            by.actor,
            by.reason.replace(['\n', '\r'], " ")
        ))
}

/// The action of an override's event.
pub const APPROVAL_OVERRIDE: &str = "approval_override";

/// One step, for callers holding a registry: `registry.apply(step, ctx)`.
impl dyn Registry + '_ {
    /// Applies one step and records its event ([`apply_step`]), then ends
    /// its model's writes ([`RegistryOps::end_model`]).
    pub fn apply(&mut self, step: &PlanStep, ctx: &ApplyContext) -> Result<(), BackendError> {
        let applied = apply_step(self, step, ctx);
        let ended = self.end_model(step.model());
        applied.and(ended)
    }
}

/// Applies the steps of several models, each model's in order, and says per
/// model how far it got. Models are independent: with the registry's
/// [`Registry::writers`], several are written at once. After a failure no new
/// model starts; steps already applied stay applied.
pub fn apply_models(
    registry: &mut dyn Registry,
    models: &[&[PlanStep]],
    ctx: &ApplyContext,
) -> Vec<ModelOutcome> {
    let writers = registry.writers(models.len());
    let progress = crate::progress::Progress::new("applying", models.len() as u64, "models");
    if writers.is_empty() {
        drop(writers);
        let mut stopped = false;
        return models
            .iter()
            .map(|steps| {
                if stopped {
                    return ModelOutcome::default();
                }
                let outcome = apply_all(registry, steps, ctx);
                progress.add(1);
                stopped = outcome.failed.is_some();
                outcome
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let outcomes: Vec<Mutex<ModelOutcome>> = models.iter().map(|_| Mutex::default()).collect();
    std::thread::scope(|scope| {
        for mut writer in writers {
            let (next, failed, outcomes, progress) = (&next, &failed, &outcomes, &progress);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= models.len() || failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let outcome = apply_all(writer.as_mut(), models[i], ctx);
                    progress.add(1);
                    if outcome.failed.is_some() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    *outcomes[i].lock().unwrap_or_else(|e| e.into_inner()) = outcome;
                }
            });
        }
    });
    outcomes
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// The event of registering `version` at `stage`.
fn registration_record(model: &str, version: &VersionId, stage: Stage) -> StepRecord {
    let summary = format!("registered {model} version {version} as {stage}");
    Record::new(model, "register_version", summary)
        .version(version)
        .to(stage)
        .line(format!("register_version as {stage}"))
}

/// The event of moving `version` from `from` to `to`.
fn move_record(
    model: &str,
    version: &VersionId,
    from: Stage,
    to: Stage,
    reason: &str,
) -> StepRecord {
    let summary = format!("{model} version {version}: {from} → {to} ({reason})");
    Record::new(model, "transition_stage", summary)
        .version(version)
        .from(from)
        .to(to)
        .line(format!("transition_stage {from} -> {to}"))
}

/// The rejection a [`PlanStep::RejectVersion`] sets, and its event.
fn rejection_of(
    model: &str,
    version: &VersionId,
    from: Stage,
    to: Stage,
    gates: &[crate::reconcile::gates::GateResult],
    key: &str,
    ctx: &ApplyContext,
) -> (Rejection, StepRecord) {
    let reason = failure_summary(gates);
    let summary = format!("{model} version {version}: Rejected for {to}: {reason}");
    let rejection = Rejection {
        reason,
        at: ctx.now,
        stage: Some(to),
        key: Some(key.to_string()),
    };
    let record = Record::new(model, "reject_version", summary)
        .version(version)
        .from(from)
        .line(format!("reject_version for {to}"));
    (rejection, record)
}

/// The step after `i` that moves the version step `i` registers at
/// Development out of Development, or rejects it there, when the steps
/// between touch other versions' registration, stage or rejection only:
/// registering the version at that stage (or with that rejection) directly
/// has the same outcome, and both steps' events say what happened.
fn moved_later(steps: &[PlanStep], i: usize) -> Option<usize> {
    let PlanStep::RegisterVersion {
        version,
        stage: Stage::Development,
        ..
    } = &steps[i]
    else {
        return None;
    };
    for (j, step) in steps.iter().enumerate().skip(i + 1) {
        match step {
            PlanStep::TransitionStage {
                version: v,
                from: Stage::Development,
                ..
            }
            | PlanStep::RejectVersion {
                version: v,
                from: Stage::Development,
                ..
            } if v == version => return Some(j),
            PlanStep::TransitionStage { version: v, .. }
            | PlanStep::RegisterVersion { version: v, .. }
            | PlanStep::RejectVersion { version: v, .. }
                if v != version => {}
            _ => return None,
        }
    }
    None
}

/// One model's steps in order, stopping at the first failure, then the
/// end of its writes ([`RegistryOps::end_model`]); a failure there, after
/// every step applied, is the model's failure. Where the registry
/// [`RegistryOps::registers_where_moved`], a new version's registration
/// and its move out of Development are made together, where the
/// registration stands.
fn apply_all<R: RegistryOps + ?Sized>(
    registry: &mut R,
    steps: &[PlanStep],
    ctx: &ApplyContext,
) -> ModelOutcome {
    let mut outcome = ModelOutcome::default();
    let fuse = registry.registers_where_moved();
    for (i, step) in steps.iter().enumerate() {
        if outcome.ahead.contains(&i) {
            outcome.applied += 1;
            continue;
        }
        // A move with a sign-off to record (or an override) is applied as
        // its own step, where the sign-off is written.
        let later = if fuse { moved_later(steps, i) } else { None }.filter(|&j| {
            !matches!(&steps[j], PlanStep::TransitionStage { model, version, .. }
                if ctx.sign_offs.contains_key(&(model.clone(), version.clone())))
        });
        let result = match (step, later.map(|j| &steps[j])) {
            (
                PlanStep::RegisterVersion {
                    model,
                    version,
                    metadata,
                    ..
                },
                Some(PlanStep::TransitionStage { to, reason, .. }),
            ) => registry.register_version_recorded(
                model,
                version,
                *to,
                metadata,
                None,
                vec![
                    registration_record(model, version, Stage::Development),
                    move_record(model, version, Stage::Development, *to, reason),
                ],
                ctx,
            ),
            (
                PlanStep::RegisterVersion {
                    model,
                    version,
                    metadata,
                    ..
                },
                Some(PlanStep::RejectVersion { to, gates, key, .. }),
            ) => {
                let dev = Stage::Development;
                let (rejection, rejected) = rejection_of(model, version, dev, *to, gates, key, ctx);
                registry.register_version_recorded(
                    model,
                    version,
                    dev,
                    metadata,
                    Some(&rejection),
                    vec![registration_record(model, version, dev), rejected],
                    ctx,
                )
            }
            _ => apply_step(registry, step, ctx),
        };
        match result {
            Ok(()) => {
                outcome.applied += 1;
                outcome.ahead.extend(later);
            }
            Err(e) => {
                outcome.failed = Some(e);
                break;
            }
        }
    }
    end_model(registry, steps, &mut outcome);
    outcome
}

/// [`RegistryOps::end_model`] for the model of `steps`; its failure counts
/// when no step failed before it.
pub fn end_model<R: RegistryOps + ?Sized>(
    registry: &mut R,
    steps: &[PlanStep],
    outcome: &mut ModelOutcome,
) {
    let Some(first) = steps.first() else { return };
    if let Err(e) = registry.end_model(first.model())
        && outcome.failed.is_none()
    {
        outcome.failed = Some(e);
    }
}

/// Builds a step's [`StepRecord`]; the registry stamps sequence, time,
/// commit and actor.
struct Record(Event);

impl Record {
    fn new(model: &str, action: &str, summary: String) -> Record {
        Record(Event {
            seq: 0,
            at: jiff::Timestamp::UNIX_EPOCH,
            model: model.to_string(),
            version: None,
            action: action.to_string(),
            from_stage: None,
            to_stage: None,
            summary,
            changes: Vec::new(),
            commit: None,
            actor: String::new(),
            prev_hash: None,
        })
    }

    fn version(mut self, version: &VersionId) -> Record {
        self.0.version = Some(version.clone());
        self
    }

    fn from(mut self, stage: Stage) -> Record {
        self.0.from_stage = Some(stage);
        self
    }

    fn to(mut self, stage: Stage) -> Record {
        self.0.to_stage = Some(stage);
        self
    }

    fn changes(mut self, changes: Vec<FieldChange>) -> Record {
        self.0.changes = changes;
        self
    }

    /// The record, its one-line form being the action alone.
    fn done(self) -> StepRecord {
        let line = self.0.action.clone();
        self.line(line)
    }

    /// The record with its one-line form.
    fn line(self, line: String) -> StepRecord {
        StepRecord {
            event: self.0,
            line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::gates::{GateResult, GateStatus};
    use crate::state::{RolloutRecord, TrafficRecord, VersionMetadata};

    /// Writes as lines, for comparing what each step does.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl RegistryOps for Recorder {
        fn register_model(
            &mut self,
            model: &str,
            owner: &str,
            description: Option<&str>,
        ) -> Result<(), BackendError> {
            self.0
                .push(format!("register_model {model} {owner} {description:?}"));
            Ok(())
        }
        fn update_model(
            &mut self,
            model: &str,
            owner: &str,
            description: Option<&str>,
        ) -> Result<(), BackendError> {
            self.0
                .push(format!("update_model {model} {owner} {description:?}"));
            Ok(())
        }
        fn register_version(
            &mut self,
            model: &str,
            version: &VersionId,
            stage: Stage,
            metadata: &VersionMetadata,
            at: jiff::Timestamp,
        ) -> Result<(), BackendError> {
            self.0.push(format!(
                "register_version {model} {version} {stage} {} {at}",
                metadata.source
            ));
            Ok(())
        }
        fn update_version(
            &mut self,
            model: &str,
            version: &VersionId,
            metadata: &VersionMetadata,
        ) -> Result<(), BackendError> {
            self.0.push(format!(
                "update_version {model} {version} {}",
                metadata.source
            ));
            Ok(())
        }
        fn expect_stage(
            &mut self,
            model: &str,
            version: &VersionId,
            stage: Stage,
        ) -> Result<(), BackendError> {
            self.0
                .push(format!("expect_stage {model} {version} {stage}"));
            Ok(())
        }
        fn set_stage(
            &mut self,
            model: &str,
            version: &VersionId,
            from: Stage,
            to: Stage,
        ) -> Result<(), BackendError> {
            self.0
                .push(format!("set_stage {model} {version} {from} {to}"));
            Ok(())
        }
        fn set_rejection(
            &mut self,
            model: &str,
            version: &VersionId,
            r: &Rejection,
        ) -> Result<(), BackendError> {
            self.0.push(format!(
                "set_rejection {model} {version} {:?} {:?} {:?} {}",
                r.reason, r.stage, r.key, r.at
            ));
            Ok(())
        }
        fn clear_rejection(
            &mut self,
            model: &str,
            version: &VersionId,
        ) -> Result<(), BackendError> {
            self.0.push(format!("clear_rejection {model} {version}"));
            Ok(())
        }
        fn record_rollout(
            &mut self,
            model: &str,
            record: &RolloutRecord,
        ) -> Result<(), BackendError> {
            self.0
                .push(format!("record_rollout {model} {}", record.version));
            Ok(())
        }
        fn record_sign_off(
            &mut self,
            model: &str,
            version: &VersionId,
            approvers: &str,
        ) -> Result<(), BackendError> {
            self.0
                .push(format!("record_sign_off {model} {version} {approvers}"));
            Ok(())
        }
        fn record_event(&mut self, r: StepRecord, _: &ApplyContext) -> Result<(), BackendError> {
            let e = &r.event;
            let version = e.version.as_ref().map(|v| v.to_string());
            let changes: Vec<&str> = e.changes.iter().map(|c| c.field.as_str()).collect();
            self.0.push(format!(
                "event {} {:?} {:?}->{:?} {:?} {changes:?} | {}",
                e.action, version, e.from_stage, e.to_stage, e.summary, r.line
            ));
            Ok(())
        }
    }

    fn rollout() -> RolloutRecord {
        serde_json::from_value(serde_json::json!({
            "strategy": "canary", "version": 2, "step": 0,
            "step_started_at": "2026-01-01T00:00:00Z", "phase": "Progressing"
        }))
        .unwrap()
    }

    fn gate(status: GateStatus) -> GateResult {
        GateResult {
            check: "metrics.accuracy".into(),
            status,
            value: "0.8".into(),
            threshold: "≥ 0.9".into(),
            source: "git".into(),
            reason: None,
        }
    }

    #[test]
    fn each_step_makes_its_writes_and_records_its_event() {
        let (m, v) = ("fraud-detector".to_string(), VersionId::Number(2));
        let metadata = VersionMetadata {
            source: "s3://b".into(),
            ..Default::default()
        };
        let change = FieldChange {
            field: "owner".into(),
            before: None,
            after: None,
        };
        // (step, the writes and the event it makes, in order)
        let cases: Vec<(PlanStep, Vec<&str>)> = vec![
            (
                PlanStep::RegisterModel {
                    model: m.clone(),
                    owner: "risk".into(),
                    description: Some("d".into()),
                },
                vec![
                    r#"register_model fraud-detector risk Some("d")"#,
                    r#"event register_model None None->None "registered model fraud-detector (owner risk)" [] | register_model"#,
                ],
            ),
            (
                PlanStep::UpdateModel {
                    model: m.clone(),
                    owner: "ops".into(),
                    description: None,
                    changes: vec![change.clone()],
                },
                vec![
                    "update_model fraud-detector ops None",
                    r#"event update_model None None->None "updated model fraud-detector" ["owner"] | update_model"#,
                ],
            ),
            (
                PlanStep::RegisterVersion {
                    model: m.clone(),
                    version: v.clone(),
                    stage: Stage::Staging,
                    metadata: metadata.clone(),
                },
                vec![
                    "register_version fraud-detector 2 Staging s3://b 1970-01-01T00:01:00Z",
                    r#"event register_version Some("2") None->Some(Staging) "registered fraud-detector version 2 as Staging" [] | register_version as Staging"#,
                ],
            ),
            (
                PlanStep::UpdateVersion {
                    model: m.clone(),
                    version: v.clone(),
                    metadata: metadata.clone(),
                    changes: vec![change],
                },
                vec![
                    "update_version fraud-detector 2 s3://b",
                    r#"event update_version Some("2") None->None "updated fraud-detector version 2 metadata" ["owner"] | update_version"#,
                ],
            ),
            (
                PlanStep::TransitionStage {
                    model: m.clone(),
                    version: v.clone(),
                    from: Stage::Staging,
                    to: Stage::Production,
                    reason: "gates passed".into(),
                    gates: vec![gate(GateStatus::Pass)],
                    policy: None,
                },
                vec![
                    "expect_stage fraud-detector 2 Staging",
                    "set_stage fraud-detector 2 Staging Production",
                    "clear_rejection fraud-detector 2",
                    r#"event transition_stage Some("2") Some(Staging)->Some(Production) "fraud-detector version 2: Staging → Production (gates passed)" [] | transition_stage Staging -> Production"#,
                ],
            ),
            (
                PlanStep::RejectVersion {
                    model: m.clone(),
                    version: v.clone(),
                    from: Stage::Staging,
                    to: Stage::Production,
                    policy: "default".into(),
                    gates: vec![gate(GateStatus::Pass), gate(GateStatus::Fail)],
                    key: "k1".into(),
                },
                vec![
                    "expect_stage fraud-detector 2 Staging",
                    r#"set_rejection fraud-detector 2 "metrics.accuracy: 0.8 (needs ≥ 0.9)" Some(Production) Some("k1") 1970-01-01T00:01:00Z"#,
                    r#"event reject_version Some("2") Some(Staging)->None "fraud-detector version 2: Rejected for Production: metrics.accuracy: 0.8 (needs ≥ 0.9)" [] | reject_version for Production"#,
                ],
            ),
            (
                PlanStep::RecordRollout {
                    model: m.clone(),
                    record: rollout(),
                    summary: "canary at 10%".into(),
                },
                vec![
                    "record_rollout fraud-detector 2",
                    r#"event record_rollout Some("2") None->None "fraud-detector: canary at 10%" [] | record_rollout"#,
                ],
            ),
            (
                PlanStep::RecordAction {
                    model: m.clone(),
                    version: v.clone(),
                    key: "k2".into(),
                    summary: "alerted".into(),
                },
                vec![
                    r#"event monitor_action Some("2") None->None "fraud-detector version 2: alerted" ["key"] | monitor_action [k2] alerted"#,
                ],
            ),
        ];
        let ctx = ApplyContext {
            now: jiff::Timestamp::from_second(60).unwrap(),
            commit: None,
            actor: "t".into(),
            sign_offs: Default::default(),
        };
        for (step, want) in cases {
            let mut registry = Recorder::default();
            apply_step(&mut registry, &step, &ctx).unwrap();
            assert_eq!(registry.0, want, "{step:?}");
        }
    }

    #[test]
    fn a_move_into_production_records_its_sign_off() {
        use crate::state::sign_off::{Approval, SignOffRecord};
        let (m, v) = ("fraud-detector".to_string(), VersionId::Number(3));
        let step = PlanStep::TransitionStage {
            model: m.clone(),
            version: v.clone(),
            from: Stage::Staging,
            to: Stage::Production,
            reason: "promoted to serve".into(),
            gates: vec![],
            policy: Some("default".into()),
        };
        let verified = SignOffRecord {
            pr: Some(7),
            approvals: vec![Approval {
                login: "alice".into(),
                commit: "3f2a9c1e".into(),
            }],
            overridden: None,
        };
        let overridden = SignOffRecord {
            overridden: Some((
                Override {
                    reason: "GitHub down,\nINC-7".into(),
                    actor: "ops".into(),
                },
                vec!["approval.owner".into()],
            )),
            ..SignOffRecord::default()
        };
        let moved = [
            "expect_stage fraud-detector 3 Staging",
            "set_stage fraud-detector 3 Staging Production",
            "clear_rejection fraud-detector 3",
        ];
        // (the sign-off, the writes and events after the move's own writes)
        let cases: Vec<(Option<SignOffRecord>, Vec<&str>)> = vec![
            (
                None,
                vec![
                    r#"event transition_stage Some("3") Some(Staging)->Some(Production) "fraud-detector version 3: Staging → Production (promoted to serve)" [] | transition_stage Staging -> Production"#,
                ],
            ),
            (
                Some(verified),
                vec![
                    "record_sign_off fraud-detector 3 alice (3f2a9c1) on PR #7",
                    r#"event transition_stage Some("3") Some(Staging)->Some(Production) "fraud-detector version 3: Staging → Production (promoted to serve); signed off by alice (3f2a9c1) on PR #7" ["signed_off_by"] | transition_stage Staging -> Production"#,
                ],
            ),
            (
                Some(overridden),
                vec![
                    "event approval_override Some(\"3\") None->None \"fraud-detector version 3: approval.owner overridden by ops: GitHub down,\\nINC-7\" [\"override.reason\", \"override.gates\"] | approval_override approval.owner by ops: GitHub down, INC-7 (override)",
                    r#"event transition_stage Some("3") Some(Staging)->Some(Production) "fraud-detector version 3: Staging → Production (promoted to serve)" [] | transition_stage Staging -> Production"#,
                ],
            ),
        ];
        for (signed, after) in cases {
            let ctx = ApplyContext {
                now: jiff::Timestamp::UNIX_EPOCH,
                commit: None,
                actor: "ops".into(),
                sign_offs: signed
                    .clone()
                    .map(|r| ((m.clone(), v.clone()), r))
                    .into_iter()
                    .collect(),
            };
            let mut registry = Recorder::default();
            apply_step(&mut registry, &step, &ctx).unwrap();
            let mut want: Vec<&str> = moved.to_vec();
            want.extend(after);
            assert_eq!(registry.0, want, "{signed:?}");
        }
    }

    #[test]
    fn a_new_versions_move_or_rejection_joins_its_registration_only_past_other_versions() {
        let m = "fraud-detector".to_string();
        let register = |n: u64, stage: Stage| PlanStep::RegisterVersion {
            model: m.clone(),
            version: VersionId::Number(n),
            stage,
            metadata: VersionMetadata::default(),
        };
        let transition = |n: u64, from: Stage, to: Stage| PlanStep::TransitionStage {
            model: m.clone(),
            version: VersionId::Number(n),
            from,
            to,
            reason: "r".into(),
            gates: Vec::new(),
            policy: None,
        };
        let reject = |n: u64| PlanStep::RejectVersion {
            model: m.clone(),
            version: VersionId::Number(n),
            from: Stage::Development,
            to: Stage::Staging,
            policy: "default".into(),
            gates: vec![gate(GateStatus::Fail)],
            key: "k".into(),
        };
        let rollout = PlanStep::RecordRollout {
            model: m.clone(),
            record: rollout(),
            summary: "s".into(),
        };
        use Stage::*;
        // (steps, index of a registration, the move it joins)
        let cases: Vec<(Vec<PlanStep>, usize, Option<usize>)> = vec![
            (
                vec![
                    register(1, Development),
                    register(2, Development),
                    transition(2, Development, Production),
                    transition(1, Development, Archived),
                ],
                0,
                Some(3),
            ),
            (
                vec![
                    register(1, Development),
                    transition(1, Development, Staging),
                ],
                0,
                Some(1),
            ),
            // Rejected where it was registered: the rejection joins it.
            (
                vec![
                    register(1, Development),
                    register(2, Development),
                    reject(2),
                    transition(1, Development, Production),
                ],
                1,
                Some(2),
            ),
            // Registered at its stage already: nothing to join.
            (
                vec![register(1, Staging), transition(1, Staging, Production)],
                0,
                None,
            ),
            // No move out of Development.
            (
                vec![register(1, Development), register(2, Staging)],
                0,
                None,
            ),
            // A step between that is not another version's registration,
            // move or rejection.
            (
                vec![
                    register(2, Development),
                    rollout,
                    transition(2, Development, Production),
                ],
                0,
                None,
            ),
        ];
        for (steps, i, want) in cases {
            assert_eq!(moved_later(&steps, i), want, "{steps:?}");
        }
    }

    #[test]
    fn a_routing_step_is_refused_without_a_write() {
        let step = PlanStep::SetTraffic {
            model: "fraud-detector".into(),
            deployment: "fraud-detector-prod".into(),
            before: None,
            traffic: TrafficRecord::all_to("nginx", &VersionId::Number(1)),
            reason: "promote".into(),
        };
        let ctx = ApplyContext {
            now: jiff::Timestamp::UNIX_EPOCH,
            commit: None,
            actor: "t".into(),
            sign_offs: Default::default(),
        };
        let mut registry = Recorder::default();
        let err = apply_step(&mut registry, &step, &ctx).unwrap_err();
        assert_eq!(
            err.to_string(),
            "fraud-detector: routing is applied by the serving target, not the registry"
        );
        assert!(registry.0.is_empty());
    }
}
