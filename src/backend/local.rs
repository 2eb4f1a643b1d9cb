//! The embedded registry: the state store under `.modelops/`.
//!
//! - `state.json` holds the actual state and the number of committed events;
//!   it is replaced atomically (write to a temporary file, fsync, rename).
//! - `events.jsonl` is the append-only event log. `state.json` records how
//!   many of its bytes are committed. Events are appended before the state
//!   that counts them is renamed into place, so a crash between the two
//!   leaves an uncounted tail, which readers ignore and the next writer cuts.
//! - `lock` is held (an OS file lock, released if the process dies) by
//!   whoever writes; it names its holder for anyone who has to wait.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::registry::{ApplyContext, BackendError, Registry};
use crate::manifest::VersionId;
use crate::reconcile::PlanStep;
use crate::state::{
    ActualState, AppliedModel, AppliedVersion, Event, RegisteredModel, RegisteredVersion, Rejection,
};

const STATE_FILE: &str = "state.json";
const EVENTS_FILE: &str = "events.jsonl";
const LOCK_FILE: &str = "lock";
const STATE_FORMAT: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    format: u32,
    next_event_seq: u64,
    #[serde(default)]
    events_bytes: u64,
    state: ActualState,
}

/// The embedded state store.
#[derive(Debug)]
pub struct LocalStore {
    dir: PathBuf,
    file: Option<StateFile>,
    pending: Vec<Event>,
    lock: Option<File>,
}

impl LocalStore {
    /// A store in `dir`; nothing is read or created until used.
    pub fn new(dir: impl Into<PathBuf>) -> LocalStore {
        LocalStore {
            dir: dir.into(),
            file: None,
            pending: Vec::new(),
            lock: None,
        }
    }

    /// Takes the write lock, waiting up to `timeout` for another holder.
    /// Creates the state directory.
    pub fn take_lock(&mut self, timeout: Duration, command: &str) -> Result<(), BackendError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.io("cannot create", &self.dir, e))?;
        let path = self.dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.io("cannot open", &path, e))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(BackendError::Locked {
                        path: self.dir.display().to_string(),
                        holder: holder_of(&path),
                        waited_secs: started.elapsed().as_secs(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(self.io("cannot lock", &path, e)),
            }
        }
        let holder = format!(
            "pid {} ({}@{}, `{command}`) since {}",
            std::process::id(),
            whoami(),
            hostname(),
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        );
        file.set_len(0)
            .map_err(|e| self.io("cannot write", &path, e))?;
        file.write_all(holder.as_bytes())
            .map_err(|e| self.io("cannot write", &path, e))?;
        file.sync_all()
            .map_err(|e| self.io("cannot write", &path, e))?;
        self.lock = Some(file);
        Ok(())
    }

    /// Who holds the lock now, or `None` when nobody does.
    pub fn lock_holder(dir: &Path) -> Option<String> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new().read(true).write(true).open(&path).ok()?;
        match file.try_lock() {
            Ok(()) => None,
            Err(_) => Some(holder_of(&path)),
        }
    }

    /// Removes the lock file, so a holder that cannot be waited out (a hung
    /// process on another machine sharing the directory) no longer blocks.
    pub fn remove_lock(dir: &Path) -> std::io::Result<bool> {
        match fs::remove_file(dir.join(LOCK_FILE)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn io(&self, what: &'static str, path: &Path, source: std::io::Error) -> BackendError {
        BackendError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }

    fn load(&mut self) -> Result<&mut StateFile, BackendError> {
        if self.file.is_none() {
            let path = self.dir.join(STATE_FILE);
            let loaded = match File::open(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile {
                    format: STATE_FORMAT,
                    ..StateFile::default()
                },
                Err(e) => return Err(self.io("cannot read", &path, e)),
                Ok(mut f) => {
                    let mut text = String::new();
                    f.read_to_string(&mut text)
                        .map_err(|e| self.io("cannot read", &path, e))?;
                    let parsed: StateFile =
                        serde_json::from_str(&text).map_err(|e| BackendError::Corrupt {
                            path: path.display().to_string(),
                            message: e.to_string(),
                        })?;
                    if parsed.format != STATE_FORMAT {
                        return Err(BackendError::Corrupt {
                            path: path.display().to_string(),
                            message: format!(
                                "state format {} is not {STATE_FORMAT}; use the modelops release that wrote it",
                                parsed.format
                            ),
                        });
                    }
                    parsed
                }
            };
            self.file = Some(loaded);
        }
        Ok(self.file.as_mut().expect("just loaded"))
    }

    fn record(&mut self, ctx: &ApplyContext, mut event: Event) -> Result<(), BackendError> {
        let next = self.load()?.next_event_seq;
        event.seq = next + self.pending.len() as u64;
        event.at = ctx.now;
        event.commit = ctx.commit.clone();
        event.actor = ctx.actor.clone();
        self.pending.push(event);
        Ok(())
    }

    /// Writes `name` atomically, streaming `value` as JSON (no second copy
    /// of a large state in memory).
    fn write_atomic<T: Serialize>(&self, name: &str, value: &T) -> Result<(), BackendError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(File::create(&tmp)?);
            serde_json::to_writer(&mut f, value)?;
            let f = f.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| self.io("cannot write", &path, e))
    }
}

fn holder_of(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "another process".to_string())
}

/// The operator's name: `$USER`, else `unknown`.
pub fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

/// This machine's name.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string())
}

/// A registered version to change, or a conflict naming it.
fn registered_version<'s>(
    state: &'s mut ActualState,
    model: &str,
    version: &VersionId,
) -> Result<&'s mut RegisteredVersion, BackendError> {
    state
        .models
        .get_mut(model)
        .and_then(|m| m.versions.iter_mut().find(|v| &v.version == version))
        .ok_or_else(|| {
            BackendError::Conflict(format!("{model} version {version} is not registered"))
        })
}

fn event(model: &str, action: &str, summary: String) -> Event {
    Event {
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
    }
}

impl Registry for LocalStore {
    fn describe(&self) -> String {
        format!("local state in {}", self.dir.display())
    }

    fn observe(&mut self) -> Result<ActualState, BackendError> {
        Ok(self.load()?.state.clone())
    }

    fn apply(&mut self, step: &PlanStep, ctx: &ApplyContext) -> Result<(), BackendError> {
        let state = &mut self.load()?.state;
        let conflict = |m: String| Err(BackendError::Conflict(m));
        let ev = match step {
            PlanStep::RegisterModel {
                model,
                owner,
                description,
            } => {
                if state.models.contains_key(model) {
                    return conflict(format!("model {model} is already registered"));
                }
                state.models.insert(
                    model.clone(),
                    RegisteredModel {
                        name: model.clone(),
                        owner: owner.clone(),
                        description: description.clone(),
                        versions: Vec::new(),
                        applied: Some(AppliedModel {
                            owner: owner.clone(),
                            description: description.clone(),
                        }),
                    },
                );
                event(
                    model,
                    "register_model",
                    format!("registered model {model} (owner {owner})"),
                )
            }
            PlanStep::UpdateModel {
                model,
                owner,
                description,
                changes,
            } => {
                let Some(m) = state.models.get_mut(model) else {
                    return conflict(format!("model {model} is not registered"));
                };
                m.owner = owner.clone();
                m.description = description.clone();
                m.applied = Some(AppliedModel {
                    owner: owner.clone(),
                    description: description.clone(),
                });
                let mut e = event(model, "update_model", format!("updated model {model}"));
                e.changes = changes.clone();
                e
            }
            PlanStep::RegisterVersion {
                model,
                version,
                stage,
                metadata,
            } => {
                let Some(m) = state.models.get_mut(model) else {
                    return conflict(format!("model {model} is not registered"));
                };
                if m.versions.iter().any(|v| &v.version == version) {
                    return conflict(format!("{model} version {version} is already registered"));
                }
                m.versions.push(RegisteredVersion {
                    version: version.clone(),
                    stage: *stage,
                    metadata: metadata.clone(),
                    rejected: None,
                    registered_at: ctx.now,
                    applied: Some(AppliedVersion {
                        stage: *stage,
                        metadata_digest: metadata.digest(),
                    }),
                });
                m.versions.sort_by(|a, b| a.version.cmp(&b.version));
                let mut e = event(
                    model,
                    "register_version",
                    format!("registered {model} version {version} as {stage}"),
                );
                e.version = Some(version.clone());
                e.to_stage = Some(*stage);
                e
            }
            PlanStep::UpdateVersion {
                model,
                version,
                metadata,
                changes,
            } => {
                let v = registered_version(state, model, version)?;
                v.metadata = metadata.clone();
                let stage = v.stage;
                v.applied = Some(AppliedVersion {
                    stage,
                    metadata_digest: metadata.digest(),
                });
                let mut e = event(
                    model,
                    "update_version",
                    format!("updated {model} version {version} metadata"),
                );
                e.version = Some(version.clone());
                e.changes = changes.clone();
                e
            }
            PlanStep::TransitionStage {
                model,
                version,
                from,
                to,
                reason,
                ..
            } => {
                let v = registered_version(state, model, version)?;
                if v.stage != *from {
                    return conflict(format!(
                        "{model} version {version} is {}, not {from} as planned",
                        v.stage
                    ));
                }
                v.stage = *to;
                // The gates passed: an earlier rejection no longer stands.
                v.rejected = None;
                let metadata_digest = v.metadata.digest();
                v.applied = Some(AppliedVersion {
                    stage: *to,
                    metadata_digest,
                });
                let mut e = event(
                    model,
                    "transition_stage",
                    format!("{model} version {version}: {from} → {to} ({reason})"),
                );
                e.version = Some(version.clone());
                e.from_stage = Some(*from);
                e.to_stage = Some(*to);
                e
            }
            PlanStep::RecordRollout {
                model,
                record,
                summary,
            } => {
                state.rollouts.insert(model.clone(), record.clone());
                let mut e = event(model, "record_rollout", format!("{model}: {summary}"));
                e.version = Some(record.version.clone());
                e
            }
            PlanStep::RecordAction {
                model,
                version,
                key,
                summary,
            } => {
                let mut e = event(
                    model,
                    "monitor_action",
                    format!("{model} version {version}: {summary}"),
                );
                e.version = Some(version.clone());
                e.changes = vec![crate::state::FieldChange {
                    field: "key".into(),
                    before: None,
                    after: Some(key.clone().into()),
                }];
                e
            }
            PlanStep::SetTraffic { model, .. } => {
                return conflict(format!(
                    "{model}: routing is applied by the serving target, not the registry"
                ));
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
                let v = registered_version(state, model, version)?;
                if v.stage != *from {
                    return conflict(format!(
                        "{model} version {version} is {}, not {from} as planned",
                        v.stage
                    ));
                }
                let reason = crate::reconcile::gates::failure_summary(gates);
                v.rejected = Some(Rejection {
                    reason: reason.clone(),
                    at: ctx.now,
                    stage: Some(*to),
                    key: Some(key.clone()),
                });
                let mut e = event(
                    model,
                    "reject_version",
                    format!("{model} version {version}: Rejected for {to}: {reason}"),
                );
                e.version = Some(version.clone());
                e.from_stage = Some(*from);
                e
            }
        };
        self.record(ctx, ev)
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|e| self.io("cannot create", &self.dir, e))?;
        let events_path = self.dir.join(EVENTS_FILE);
        let committed = self.load()?.events_bytes;
        let pending = &self.pending;
        let append = || -> std::io::Result<u64> {
            let mut f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&events_path)?;
            f.set_len(committed)?;
            f.seek(SeekFrom::End(0))?;
            let mut out = std::io::BufWriter::new(f);
            for e in pending {
                serde_json::to_writer(&mut out, e)?;
                out.write_all(b"\n")?;
            }
            let f = out.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            Ok(f.metadata()?.len() - committed)
        };
        let written = append().map_err(|e| self.io("cannot append to", &events_path, e))?;
        let count = self.pending.len() as u64;
        let file = self.load()?;
        file.next_event_seq += count;
        file.events_bytes += written;
        let file = self.file.as_ref().expect("loaded above");
        self.write_atomic(STATE_FILE, file)?;
        self.pending.clear();
        Ok(())
    }

    fn lock(&mut self, timeout: Duration, command: &str) -> Result<(), BackendError> {
        self.take_lock(timeout, command)
    }

    fn unlock(&mut self) -> Result<(), BackendError> {
        // Closing the file releases the OS lock; the file stays, naming the
        // last holder, and is harmless.
        self.lock = None;
        Ok(())
    }

    fn events(&mut self, model: &str) -> Result<Vec<Event>, BackendError> {
        let committed = self.load()?.events_bytes;
        let path = self.dir.join(EVENTS_FILE);
        let file = match File::open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("cannot read", &path, e)),
            Ok(f) => f,
        };
        let mut out = Vec::new();
        for (i, line) in BufReader::new(file.take(committed)).lines().enumerate() {
            let line = line.map_err(|e| self.io("cannot read", &path, e))?;
            let e: Event = serde_json::from_str(&line).map_err(|e| BackendError::Corrupt {
                path: format!("{}:{}", path.display(), i + 1),
                message: e.to_string(),
            })?;
            if e.model == model {
                out.push(e);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Stage;
    use crate::state::{VersionMetadata, production_at};

    fn ctx(secs: i64) -> ApplyContext {
        ApplyContext {
            now: jiff::Timestamp::from_second(secs).unwrap(),
            commit: Some("abc".into()),
            actor: "t".into(),
        }
    }

    fn steps() -> Vec<PlanStep> {
        vec![
            PlanStep::RegisterModel {
                model: "fraud-detector".into(),
                owner: "risk".into(),
                description: None,
            },
            PlanStep::RegisterVersion {
                model: "fraud-detector".into(),
                version: VersionId::Number(1),
                stage: Stage::Development,
                metadata: VersionMetadata {
                    source: "s3://a".into(),
                    ..Default::default()
                },
            },
            PlanStep::TransitionStage {
                model: "fraud-detector".into(),
                version: VersionId::Number(1),
                from: Stage::Development,
                to: Stage::Production,
                reason: "first".into(),
                gates: Vec::new(),
                policy: None,
            },
        ]
    }

    #[test]
    fn state_and_events_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::new(dir.path());
        store.take_lock(Duration::from_secs(1), "test").unwrap();
        for (i, s) in steps().iter().enumerate() {
            store.apply(s, &ctx(i as i64 * 60)).unwrap();
        }
        store.commit().unwrap();
        drop(store);
        let mut again = LocalStore::new(dir.path());
        let state = again.observe().unwrap();
        assert_eq!(
            state.models["fraud-detector"].versions[0].stage,
            Stage::Production
        );
        let events = again.events("fraud-detector").unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            production_at(&events, jiff::Timestamp::from_second(60).unwrap()),
            None
        );
        assert_eq!(
            production_at(&events, jiff::Timestamp::from_second(120).unwrap()),
            Some(VersionId::Number(1))
        );
    }

    #[test]
    fn an_uncommitted_tail_of_the_event_log_is_ignored_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::new(dir.path());
        store.apply(&steps()[0], &ctx(0)).unwrap();
        store.commit().unwrap();
        // A crash after appending events but before the state rename.
        let mut log = OpenOptions::new()
            .append(true)
            .open(dir.path().join(EVENTS_FILE))
            .unwrap();
        log.write_all(b"{\"seq\":1,\"torn").unwrap();
        let mut reopened = LocalStore::new(dir.path());
        assert_eq!(reopened.events("fraud-detector").unwrap().len(), 1);
        reopened.apply(&steps()[1], &ctx(1)).unwrap();
        reopened.commit().unwrap();
        let events = LocalStore::new(dir.path())
            .events("fraud-detector")
            .unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn a_step_that_does_not_fit_the_state_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::new(dir.path());
        let err = store.apply(&steps()[2], &ctx(0)).unwrap_err();
        assert!(err.to_string().contains("is not registered"), "{err}");
        store.apply(&steps()[0], &ctx(0)).unwrap();
        let err = store.apply(&steps()[0], &ctx(0)).unwrap_err();
        assert!(err.to_string().contains("already registered"), "{err}");
    }

    #[test]
    fn a_second_writer_waits_then_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = LocalStore::new(dir.path());
        first
            .take_lock(Duration::from_secs(1), "modelops apply")
            .unwrap();
        let mut second = LocalStore::new(dir.path());
        let started = Instant::now();
        let err = second
            .take_lock(Duration::from_millis(300), "modelops apply")
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("since"), "{text}");
        assert!(LocalStore::lock_holder(dir.path()).is_some());
        drop(first);
        assert!(LocalStore::lock_holder(dir.path()).is_none());
        second
            .take_lock(Duration::from_millis(300), "modelops apply")
            .unwrap();
    }

    #[test]
    fn a_state_file_from_elsewhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE), "{\"hello\": 1}").unwrap();
        let err = LocalStore::new(dir.path()).observe().unwrap_err();
        assert!(
            err.to_string().contains("is not a modelops state file"),
            "{err}"
        );
    }
}
