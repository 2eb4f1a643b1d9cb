//! The embedded registry: the state store under `.modelops/`.
//!
//! - `state.json` holds the actual state and the number of committed events;
//!   it is replaced atomically (write to a temporary file, fsync, rename).
//! - `events.jsonl` is the append-only event log: opened only to append,
//!   never truncated, never written at an offset. `state.json` records how
//!   many of its bytes are committed and the hash of its last line; each
//!   line names the hash of the line before it ([`crate::state::chain`]).
//!   A log whose length is not what `state.json` counts (a state restored
//!   from a backup, a log cut short, an apply interrupted between the two
//!   writes) is refused before anything is written: [`BackendError::LogMismatch`].
//! - `lock` is held (an OS file lock, released if the process dies) by
//!   whoever writes; it names its holder for anyone who has to wait.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::registry::{ApplyContext, BackendError, Registry, RegistryOps, StepRecord};
use crate::manifest::{Stage, VersionId};
use crate::state::chain::{ChainCheck, ChainReport};
use crate::state::{
    ActualState, AppliedModel, AppliedVersion, Event, RegisteredModel, RegisteredVersion,
    Rejection, RolloutRecord, VersionMetadata,
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
    /// SHA-256 of the last committed line of the log; absent before the
    /// chain existed (or with no events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_event_hash: Option<String>,
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
        // Under the lock no commit is half done: a mismatch now is real.
        self.check_log()
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

    /// Refuses a log that is not the length `state.json` counts (see
    /// [`BackendError::LogMismatch`]); reads only the log's length.
    fn check_log(&mut self) -> Result<(), BackendError> {
        let counted = self.load()?.events_bytes;
        let path = self.dir.join(EVENTS_FILE);
        let found = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(self.io("cannot read", &path, e)),
        };
        if found == counted {
            return Ok(());
        }
        Err(BackendError::LogMismatch {
            state: self.dir.join(STATE_FILE).display().to_string(),
            log: path.display().to_string(),
            counted,
            found,
        })
    }

    /// The hash the next event names: of the last committed line, from
    /// `state.json`, or read from the log when it predates the chain.
    fn last_event_hash(&mut self) -> Result<String, BackendError> {
        let file = self.load()?;
        if let Some(h) = &file.last_event_hash {
            return Ok(h.clone());
        }
        let committed = file.events_bytes;
        if committed == 0 {
            return Ok(crate::state::chain::genesis());
        }
        let path = self.dir.join(EVENTS_FILE);
        let read = || -> std::io::Result<String> {
            let mut last = Vec::new();
            let mut reader = BufReader::new(File::open(&path)?.take(committed));
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line)? > 0 {
                std::mem::swap(&mut last, &mut line);
                line.clear();
            }
            Ok(crate::state::chain::hash(strip_newline(&last)))
        };
        read().map_err(|e| self.io("cannot read", &path, e))
    }

    /// Checks the whole log: its chain, its length against `state.json`,
    /// and its last line against the hash `state.json` keeps.
    pub fn verify_log(&mut self) -> Result<LogCheck, BackendError> {
        let file = self.load()?;
        let (counted, head) = (file.events_bytes, file.last_event_hash.clone());
        let path = self.dir.join(EVENTS_FILE);
        let mut check = ChainCheck::new(true);
        let mut read_bytes = 0u64;
        // 1-based line holding byte `counted` (the first line the state
        // does not count whole), and how many lines there are.
        let mut boundary_line = None;
        let mut lines = 0u64;
        let mut read = || -> std::io::Result<()> {
            let f = match File::open(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                f => f?,
            };
            let mut reader = BufReader::new(f);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line)? > 0 {
                lines += 1;
                check.push(strip_newline(&line));
                read_bytes += line.len() as u64;
                if read_bytes > counted && boundary_line.is_none() {
                    boundary_line = Some((lines, read_bytes - line.len() as u64 == counted));
                }
                line.clear();
            }
            Ok(())
        };
        read().map_err(|e| self.io("cannot read", &path, e))?;
        // The whole log is chained, so an edit anywhere is named first; the
        // state's hash of the last line is compared when the lengths agree.
        let mut report = check.finish(head.as_deref().filter(|_| read_bytes == counted));
        let bytes =
            format!("state.json counts {counted} bytes of events, the log has {read_bytes}");
        let length_problem = match boundary_line {
            _ if read_bytes == counted => None,
            None => Some((lines + 1, format!("is missing: {bytes} (it was cut short)"))),
            Some((line, true)) => Some((
                line,
                format!(
                    "and the {} line(s) after it are not counted: {bytes}; the state was restored from a backup or lost, or an apply was interrupted",
                    lines - line
                ),
            )),
            Some((line, false)) => Some((
                line,
                format!(
                    "does not end where the state's count does ({bytes}): it was changed, or the state was restored from a backup"
                ),
            )),
        };
        if report.broken.is_none()
            && let Some((line, reason)) = length_problem
        {
            report.broken = Some(crate::state::chain::BrokenLink { line, reason });
        }
        Ok(LogCheck {
            log: path.display().to_string(),
            report,
        })
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
                    let problems = crate::state::check::problems(&parsed.state);
                    if !problems.is_empty() {
                        return Err(BackendError::InvalidState {
                            source_name: path.display().to_string(),
                            problems,
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

/// The result of [`LocalStore::verify_log`].
#[derive(Debug)]
pub struct LogCheck {
    /// The log's path.
    pub log: String,
    /// What the chain check found.
    pub report: ChainReport,
}

/// A line without its `\n`.
fn strip_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn holder_of(path: &Path) -> String {
    fs::read_to_string(path)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "another process".to_string())
}

/// What this host can tell about a lock's holder, before `unlock --force`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderState {
    /// A process on this host that is running: its lock must not be broken.
    Running(u32),
    /// The holder named a process on this host that no longer runs.
    Stopped(u32),
    /// The holder was on another host, which cannot be checked from here.
    OtherHost(String),
    /// Nothing identifies the holder.
    Unknown,
}

/// The pid and host a holder text (`pid N (user@host, ...`) names.
pub fn holder_process(holder: &str) -> Option<(u32, String)> {
    let rest = holder.strip_prefix("pid ")?;
    let (pid, rest) = rest.split_once(' ')?;
    let who = rest.strip_prefix('(')?.split([',', ')']).next()?;
    let host = who.rsplit_once('@').map_or(who, |(_, h)| h);
    Some((pid.parse().ok()?, host.to_string()))
}

/// Whether process `pid` runs on this host.
pub fn running_here(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// The state of a holder named by `holder`, preferring what the kernel says
/// about the lock file in `dir` (`/proc/locks`: which local process holds
/// its OS lock) over what the file's text claims.
pub fn holder_state(dir: &Path, holder: &str) -> HolderState {
    if let Some(pid) = local_locker(&dir.join(LOCK_FILE)).filter(|p| running_here(*p)) {
        return HolderState::Running(pid);
    }
    match holder_process(holder) {
        Some((_, host)) if host != hostname() => HolderState::OtherHost(host),
        Some((pid, _)) if running_here(pid) => HolderState::Running(pid),
        Some((pid, _)) => HolderState::Stopped(pid),
        None => HolderState::Unknown,
    }
}

/// The pid of a process on this host holding an OS lock on `path`, from
/// `/proc/locks` (`N: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> ...`).
fn local_locker(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // A waiter's line has `->` after the index; only holders count.
        if fields.get(1) == Some(&"->") || fields.get(5) != Some(&id.as_str()) {
            return None;
        }
        fields.get(4)?.parse().ok()
    })
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

/// A conflict: the state does not allow the write.
fn conflict(message: String) -> Result<(), BackendError> {
    Err(BackendError::Conflict(message))
}

impl RegistryOps for LocalStore {
    fn register_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        let state = &mut self.load()?.state;
        if state.models.contains_key(model) {
            return conflict(format!("model {model} is already registered"));
        }
        let (owner, description) = (owner.to_string(), description.map(str::to_string));
        state.models.insert(
            model.to_string(),
            RegisteredModel {
                name: model.to_string(),
                owner: owner.clone(),
                description: description.clone(),
                versions: Vec::new(),
                applied: Some(AppliedModel { owner, description }),
            },
        );
        Ok(())
    }

    fn update_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        let Some(m) = self.load()?.state.models.get_mut(model) else {
            return conflict(format!("model {model} is not registered"));
        };
        m.owner = owner.to_string();
        m.description = description.map(str::to_string);
        m.applied = Some(AppliedModel {
            owner: m.owner.clone(),
            description: m.description.clone(),
        });
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
        let Some(m) = self.load()?.state.models.get_mut(model) else {
            return conflict(format!("model {model} is not registered"));
        };
        if m.versions.iter().any(|v| &v.version == version) {
            return conflict(format!("{model} version {version} is already registered"));
        }
        m.versions.push(RegisteredVersion {
            version: version.clone(),
            stage,
            metadata: metadata.clone(),
            rejected: None,
            registered_at: at,
            applied: Some(AppliedVersion {
                stage,
                metadata_digest: metadata.digest(),
            }),
            signed_off_by: None,
        });
        m.versions.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(())
    }

    fn update_version(
        &mut self,
        model: &str,
        version: &VersionId,
        metadata: &VersionMetadata,
    ) -> Result<(), BackendError> {
        let v = registered_version(&mut self.load()?.state, model, version)?;
        v.metadata = metadata.clone();
        v.applied = Some(AppliedVersion {
            stage: v.stage,
            metadata_digest: metadata.digest(),
        });
        Ok(())
    }

    fn expect_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
    ) -> Result<(), BackendError> {
        let v = registered_version(&mut self.load()?.state, model, version)?;
        if v.stage != stage {
            return conflict(format!(
                "{model} version {version} is {}, not {stage} as planned",
                v.stage
            ));
        }
        Ok(())
    }

    fn set_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        _from: Stage,
        to: Stage,
    ) -> Result<(), BackendError> {
        let v = registered_version(&mut self.load()?.state, model, version)?;
        v.stage = to;
        v.applied = Some(AppliedVersion {
            stage: to,
            metadata_digest: v.metadata.digest(),
        });
        Ok(())
    }

    fn set_rejection(
        &mut self,
        model: &str,
        version: &VersionId,
        rejection: &Rejection,
    ) -> Result<(), BackendError> {
        registered_version(&mut self.load()?.state, model, version)?.rejected =
            Some(rejection.clone());
        Ok(())
    }

    fn clear_rejection(&mut self, model: &str, version: &VersionId) -> Result<(), BackendError> {
        registered_version(&mut self.load()?.state, model, version)?.rejected = None;
        Ok(())
    }

    fn record_rollout(&mut self, model: &str, record: &RolloutRecord) -> Result<(), BackendError> {
        let state = &mut self.load()?.state;
        state.rollouts.insert(model.to_string(), record.clone());
        Ok(())
    }

    fn record_event(&mut self, record: StepRecord, ctx: &ApplyContext) -> Result<(), BackendError> {
        self.record(ctx, record.event)
    }

    fn record_sign_off(
        &mut self,
        model: &str,
        version: &VersionId,
        approvers: &str,
    ) -> Result<(), BackendError> {
        registered_version(&mut self.load()?.state, model, version)?.signed_off_by =
            Some(approvers.to_string());
        Ok(())
    }
}

impl Registry for LocalStore {
    fn describe(&self) -> String {
        format!("local state in {}", self.dir.display())
    }

    fn observe(&mut self) -> Result<ActualState, BackendError> {
        Ok(self.load()?.state.clone())
    }

    fn commit(&mut self) -> Result<(), BackendError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|e| self.io("cannot create", &self.dir, e))?;
        self.check_log()?;
        let events_path = self.dir.join(EVENTS_FILE);
        let mut prev = self.last_event_hash()?;
        let mut bytes = Vec::new();
        for e in &mut self.pending {
            e.prev_hash = Some(prev);
            let start = bytes.len();
            serde_json::to_writer(&mut bytes, e).expect("events serialize");
            prev = crate::state::chain::hash(&bytes[start..]);
            bytes.push(b'\n');
        }
        // O_APPEND: every write lands at the end, whatever else happens.
        let append = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&events_path)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        append().map_err(|e| self.io("cannot append to", &events_path, e))?;
        let count = self.pending.len() as u64;
        let file = self.load()?;
        file.next_event_seq += count;
        file.events_bytes += bytes.len() as u64;
        file.last_event_hash = Some(prev);
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
            sign_offs: Default::default(),
        }
    }

    /// A stored event, as the applier words it.
    fn record(model: &str, action: &str, version: Option<u64>, to: Option<Stage>) -> StepRecord {
        StepRecord {
            event: Event {
                seq: 0,
                at: jiff::Timestamp::UNIX_EPOCH,
                model: model.to_string(),
                version: version.map(VersionId::Number),
                action: action.to_string(),
                from_stage: None,
                to_stage: to,
                summary: action.to_string(),
                changes: Vec::new(),
                commit: None,
                actor: String::new(),
                prev_hash: None,
            },
            line: action.to_string(),
        }
    }

    /// A step's writes on the store: what the applier does for a plan's
    /// register-model, register-version and Development → Production steps.
    type Step = fn(&mut LocalStore, &ApplyContext) -> Result<(), BackendError>;

    fn steps() -> Vec<Step> {
        vec![
            |store, ctx| {
                store.register_model("fraud-detector", "risk", None)?;
                store.record_event(record("fraud-detector", "register_model", None, None), ctx)
            },
            |store, ctx| {
                let metadata = VersionMetadata {
                    source: "s3://a".into(),
                    ..Default::default()
                };
                let one = VersionId::Number(1);
                store.register_version(
                    "fraud-detector",
                    &one,
                    Stage::Development,
                    &metadata,
                    ctx.now,
                )?;
                let to = Some(Stage::Development);
                store.record_event(
                    record("fraud-detector", "register_version", Some(1), to),
                    ctx,
                )
            },
            |store, ctx| {
                let one = VersionId::Number(1);
                store.expect_stage("fraud-detector", &one, Stage::Development)?;
                store.set_stage(
                    "fraud-detector",
                    &one,
                    Stage::Development,
                    Stage::Production,
                )?;
                store.clear_rejection("fraud-detector", &one)?;
                let to = Some(Stage::Production);
                store.record_event(
                    record("fraud-detector", "transition_stage", Some(1), to),
                    ctx,
                )
            },
        ]
    }

    #[test]
    fn state_and_events_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::new(dir.path());
        store.take_lock(Duration::from_secs(1), "test").unwrap();
        for (i, step) in steps().iter().enumerate() {
            step(&mut store, &ctx(i as i64 * 60)).unwrap();
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
    fn a_log_longer_or_shorter_than_counted_is_refused_untouched() {
        type Damage = fn(&Path);
        // (name, how the log is changed after one commit)
        let cases: Vec<(&str, Damage)> = vec![
            ("torn tail", |log| {
                let mut f = OpenOptions::new().append(true).open(log).unwrap();
                f.write_all(b"{\"seq\":1,\"torn").unwrap();
            }),
            ("cut short", |log| {
                let text = fs::read(log).unwrap();
                fs::write(log, &text[..text.len() - 5]).unwrap();
            }),
            ("removed", |log| fs::remove_file(log).unwrap()),
        ];
        for (name, damage) in cases {
            let dir = tempfile::tempdir().unwrap();
            let mut store = LocalStore::new(dir.path());
            steps()[0](&mut store, &ctx(0)).unwrap();
            store.commit().unwrap();
            let log = dir.path().join(EVENTS_FILE);
            damage(&log);
            let before = (
                fs::read(&log).ok(),
                fs::read(dir.path().join(STATE_FILE)).unwrap(),
            );
            let mut reopened = LocalStore::new(dir.path());
            let err = reopened
                .take_lock(Duration::from_secs(1), "test")
                .unwrap_err();
            assert!(
                matches!(err, BackendError::LogMismatch { .. }),
                "{name}: {err}"
            );
            steps()[1](&mut reopened, &ctx(1)).unwrap();
            let err = reopened.commit().unwrap_err();
            assert!(
                matches!(err, BackendError::LogMismatch { .. }),
                "{name}: {err}"
            );
            let after = (
                fs::read(&log).ok(),
                fs::read(dir.path().join(STATE_FILE)).unwrap(),
            );
            assert_eq!(before, after, "{name}: files touched");
            assert!(
                reopened.verify_log().unwrap().report.broken.is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn every_commit_extends_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        for (i, step) in steps().iter().enumerate() {
            let mut store = LocalStore::new(dir.path());
            step(&mut store, &ctx(i as i64)).unwrap();
            store.commit().unwrap();
        }
        let check = LocalStore::new(dir.path()).verify_log().unwrap();
        assert_eq!((check.report.records, check.report.broken), (3, None));
    }

    #[test]
    fn a_step_that_does_not_fit_the_state_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = LocalStore::new(dir.path());
        let err = steps()[2](&mut store, &ctx(0)).unwrap_err();
        assert!(err.to_string().contains("is not registered"), "{err}");
        steps()[0](&mut store, &ctx(0)).unwrap();
        let err = steps()[0](&mut store, &ctx(0)).unwrap_err();
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
    fn a_holder_text_names_its_process_and_host() {
        let here = hostname();
        let cases = [
            (
                "pid 42 (ann@build-7, `modelops apply`) since 2026-11-26T09:00:00Z",
                Some((42, "build-7")),
            ),
            ("pid 7 (ann@a@b, `x`) since t", Some((7, "b"))),
            ("another process", None),
            ("pid x (ann@h, `x`)", None),
        ];
        for (text, want) in cases {
            let got = holder_process(text);
            assert_eq!(got.as_ref().map(|(p, h)| (*p, h.as_str())), want, "{text}");
        }
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let cases = [
            (
                format!("pid {me} (t@{here}, `x`) since t"),
                HolderState::Running(me),
            ),
            (
                format!("pid {} (t@{here}, `x`) since t", u32::MAX - 1),
                HolderState::Stopped(u32::MAX - 1),
            ),
            (
                format!("pid {me} (t@elsewhere-{here}, `x`) since t"),
                HolderState::OtherHost(format!("elsewhere-{here}")),
            ),
            ("another process".to_string(), HolderState::Unknown),
        ];
        for (text, want) in cases {
            assert_eq!(holder_state(dir.path(), &text), want, "{text}");
        }
        // The kernel's word beats the text: a lock this process holds.
        let mut store = LocalStore::new(dir.path());
        store.take_lock(Duration::from_secs(1), "test").unwrap();
        assert_eq!(
            holder_state(dir.path(), "another process"),
            HolderState::Running(me)
        );
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
