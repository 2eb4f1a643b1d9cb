//! Manifests from a git revision, read from the object database: the working
//! tree is never touched, so CI plans exactly the commit it names.

use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};

use super::confined::too_large;
use super::{MANIFEST_CAP, MANIFEST_DIRS, ManifestSource, SourceError, is_yaml};
use crate::manifest::SourceFile;

const SYMLINK_MODE: i32 = 0o120000;
const MAX_SYMLINK_HOPS: usize = 8;

/// The files of one revision of the repository containing `dir`.
#[derive(Debug, Clone)]
pub struct GitSource {
    dir: PathBuf,
    rev: String,
}

impl GitSource {
    /// Reads revision `rev` (anything `git rev-parse` accepts) of the git
    /// repository containing `dir`; `dir` may be a subdirectory of it.
    pub fn new(dir: impl Into<PathBuf>, rev: impl Into<String>) -> GitSource {
        GitSource {
            dir: dir.into(),
            rev: rev.into(),
        }
    }

    fn open(&self) -> Result<(Repository, PathBuf), SourceError> {
        let repo = Repository::discover(&self.dir).map_err(|e| {
            SourceError::Git(format!(
                "{} is not inside a git repository ({})",
                self.dir.display(),
                e.message()
            ))
        })?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| SourceError::Git("bare repositories are not supported".into()))?;
        let workdir =
            std::fs::canonicalize(workdir).map_err(|e| SourceError::Git(e.to_string()))?;
        let dir = std::fs::canonicalize(&self.dir).map_err(|e| SourceError::Repository {
            path: self.dir.display().to_string(),
            message: e.to_string(),
        })?;
        let prefix = dir
            .strip_prefix(&workdir)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok((repo, prefix))
    }

    fn commit_id(&self, repo: &Repository) -> Result<Oid, SourceError> {
        let object = repo.revparse_single(&self.rev).map_err(|e| {
            SourceError::Git(format!("unknown revision `{}`: {}", self.rev, e.message()))
        })?;
        let commit = object.peel_to_commit().map_err(|e| {
            SourceError::Git(format!("`{}` is not a commit: {}", self.rev, e.message()))
        })?;
        Ok(commit.id())
    }
}

/// The author's name of `commit` in the repository containing `dir`; `None`
/// for a commit with `-dirty` appended (see [`head_commit`]): what was
/// applied is not what its author committed.
pub fn commit_author(dir: &Path, commit: &str) -> Option<String> {
    let oid = Oid::from_str(commit).ok()?;
    let repo = Repository::discover(dir).ok()?;
    let commit = repo.find_commit(oid).ok()?;
    let author = commit.author();
    let name = String::from_utf8_lossy(author.name_bytes())
        .trim()
        .to_string();
    (!name.is_empty()).then_some(name)
}

/// The commit on `commit`'s first-parent history that last changed `path`
/// (relative to `dir`): on a main branch, the merge (or squash) commit that
/// brought the change in. At the start of the history (or of a shallow
/// clone) the commit reached; `None` when it cannot be told (not a commit
/// here, or more than [`WALK_LIMIT`] commits back).
pub fn last_change(dir: &Path, commit: &str, path: &str) -> Option<String> {
    let oid = Oid::from_str(commit).ok()?;
    let repo = Repository::discover(dir).ok()?;
    let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
    let rel = std::fs::canonicalize(dir)
        .ok()?
        .strip_prefix(&workdir)
        .ok()?
        .join(path);
    let blob = |c: &git2::Commit| c.tree().ok()?.get_path(&rel).ok().map(|e| e.id());
    let mut at = repo.find_commit(oid).ok()?;
    for _ in 0..WALK_LIMIT {
        let Ok(parent) = at.parent(0) else {
            return Some(at.id().to_string());
        };
        if blob(&parent) != blob(&at) {
            return Some(at.id().to_string());
        }
        at = parent;
    }
    None
}

/// Most commits [`last_change`] walks back.
pub const WALK_LIMIT: usize = 10_000;

/// The commit HEAD points at in the repository containing `dir`, if any,
/// with `-dirty` appended (as `git describe --dirty` does) when a manifest
/// under `dir` differs from it, so an event never claims a commit that does
/// not hold what was applied.
pub fn head_commit(dir: &Path) -> Option<String> {
    let repo = Repository::discover(dir).ok()?;
    let commit = repo.head().ok()?.peel_to_commit().ok()?;
    let id = commit.id().to_string();
    let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
    let prefix = std::fs::canonicalize(dir)
        .ok()?
        .strip_prefix(&workdir)
        .ok()?
        .to_path_buf();
    let mut options = git2::StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    for spec in [
        "modelops.yaml",
        "modelops.yml",
        "models",
        "deployments",
        "policies",
    ] {
        options.pathspec(prefix.join(spec));
    }
    let dirty = repo
        .statuses(Some(&mut options))
        .map(|s| !s.is_empty())
        .unwrap_or(true);
    Some(if dirty { format!("{id}-dirty") } else { id })
}

struct Walker<'r> {
    repo: &'r Repository,
    root: Tree<'r>,
    prefix: PathBuf,
    out: Vec<SourceFile>,
}

impl ManifestSource for GitSource {
    fn files(&self) -> Result<Vec<SourceFile>, SourceError> {
        let (repo, prefix) = self.open()?;
        let oid = self.commit_id(&repo)?;
        let root = repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| SourceError::Git(e.message().to_string()))?;
        let mut w = Walker {
            repo: &repo,
            root,
            prefix: prefix.clone(),
            out: Vec::new(),
        };
        let models = prefix.join("models");
        if w.root.get_path(&models).is_err() {
            return Err(SourceError::Repository {
                path: format!("{}:{}", self.rev, prefix.display()),
                message: "no models/ directory in this revision".to_string(),
            });
        }
        for name in ["modelops.yaml", "modelops.yml"] {
            if w.root.get_path(&prefix.join(name)).is_ok() {
                w.file(&prefix.join(name), name.to_string(), 0);
            }
        }
        for dir in MANIFEST_DIRS {
            if w.root.get_path(&prefix.join(dir)).is_ok() {
                w.dir(&prefix.join(dir), dir.to_string(), 0);
            }
        }
        let mut out = w.out;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn commit(&self) -> Option<String> {
        let (repo, _) = self.open().ok()?;
        self.commit_id(&repo).ok().map(|o| o.to_string())
    }
}

impl Walker<'_> {
    /// Walks the directory at `path` (relative to the git root), shown as `rel`.
    fn dir(&mut self, path: &Path, rel: String, hops: usize) {
        let tree = match self.resolve(path, hops) {
            Ok((p, ObjectType::Tree)) => match self
                .root
                .get_path(&p)
                .and_then(|e| e.to_object(self.repo))
                .and_then(|o| o.peel_to_tree())
            {
                Ok(t) => t,
                Err(e) => return self.fail(rel, e.message().to_string()),
            },
            Ok(_) => return,
            Err(why) => return self.fail(rel, why),
        };
        let base = path.to_path_buf();
        let mut entries: Vec<(String, i32, Option<ObjectType>)> = tree
            .iter()
            .filter_map(|e| Some((e.name().ok()?.to_string(), e.filemode(), e.kind())))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, mode, kind) in entries {
            let child = base.join(&name);
            let shown = format!("{rel}/{name}");
            if kind == Some(ObjectType::Tree) {
                if !name.starts_with('.') {
                    self.dir(&child, shown, hops);
                }
            } else if mode == SYMLINK_MODE {
                match self.resolve(&child, hops) {
                    Ok((_, ObjectType::Tree)) if !name.starts_with('.') => {
                        self.dir(&child, shown, hops + 1)
                    }
                    Ok(_) if is_yaml(&name) => self.file(&child, shown, hops),
                    Ok(_) => {}
                    Err(why) if is_yaml(&name) => self.fail(shown, why),
                    Err(_) => {}
                }
            } else if kind == Some(ObjectType::Blob) && is_yaml(&name) {
                self.file(&child, shown, hops);
            }
        }
    }

    fn file(&mut self, path: &Path, rel: String, hops: usize) {
        let content = self.resolve(path, hops).and_then(|(real, kind)| {
            if kind != ObjectType::Blob {
                return Err("not a file".to_string());
            }
            let entry = self
                .root
                .get_path(&real)
                .map_err(|e| e.message().to_string())?;
            let odb = self.repo.odb().map_err(|e| e.message().to_string())?;
            let (size, _) = odb
                .read_header(entry.id())
                .map_err(|e| e.message().to_string())?;
            if size as u64 > MANIFEST_CAP.bytes {
                return Err(too_large(size as u64, MANIFEST_CAP));
            }
            let blob = self
                .repo
                .find_blob(entry.id())
                .map_err(|e| e.message().to_string())?;
            Ok(blob.content().to_vec())
        });
        self.out.push(SourceFile { path: rel, content });
    }

    fn fail(&mut self, rel: String, why: String) {
        self.out.push(SourceFile {
            path: rel,
            content: Err(why),
        });
    }

    /// Follows symlinks from `path` to a real entry inside the repository
    /// directory, returning its path and kind.
    fn resolve(&self, path: &Path, hops: usize) -> Result<(PathBuf, ObjectType), String> {
        let mut current = path.to_path_buf();
        for _ in hops..=MAX_SYMLINK_HOPS {
            let entry = self
                .root
                .get_path(&current)
                .map_err(|_| format!("{} does not exist in this revision", current.display()))?;
            if entry.filemode() != SYMLINK_MODE {
                return entry
                    .kind()
                    .map(|k| (current, k))
                    .ok_or_else(|| "unknown object".to_string());
            }
            let blob = self
                .repo
                .find_blob(entry.id())
                .map_err(|e| e.message().to_string())?;
            let target = String::from_utf8_lossy(blob.content()).into_owned();
            let joined = current.parent().unwrap_or(Path::new("")).join(&target);
            let normal = normalize(&joined)
                .filter(|p| p.starts_with(&self.prefix) && !Path::new(&target).is_absolute())
                .ok_or_else(|| format!("symlink leads outside the repository (to {target}); modelops only reads files inside it"))?;
            current = normal;
        }
        Err(format!("more than {MAX_SYMLINK_HOPS} symlinks in a row"))
    }
}

/// Resolves `.` and `..` without touching the filesystem; `None` when the
/// path climbs above its root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}
