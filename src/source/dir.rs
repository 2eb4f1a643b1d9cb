//! Manifests from a directory (the working tree).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::confined::{self, inside};
use super::{MANIFEST_CAP, MANIFEST_DIRS, ManifestSource, SourceError, is_yaml};
use crate::manifest::SourceFile;

/// A repository's working tree.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// Reads the repository at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DirSource {
        DirSource { root: root.into() }
    }
}

impl ManifestSource for DirSource {
    fn files(&self) -> Result<Vec<SourceFile>, SourceError> {
        let shown = self.root.display().to_string();
        let root = fs::canonicalize(&self.root).map_err(|e| SourceError::Repository {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        if !root.join("models").is_dir() {
            return Err(SourceError::Repository {
                path: shown,
                message: "no models/ directory: is --repo pointing at a modelops repository?"
                    .to_string(),
            });
        }
        let mut found = Found::default();
        for name in ["modelops.yaml", "modelops.yml"] {
            let path = root.join(name);
            if path.symlink_metadata().is_ok() {
                found.files.push((path, name.to_string(), true));
            }
        }
        let mut visited = BTreeSet::new();
        for dir in MANIFEST_DIRS {
            let path = root.join(dir);
            if path.symlink_metadata().is_ok() {
                walk(&root, &path, dir, &mut visited, &mut found);
            }
        }
        let mut out = found.problems;
        out.extend(read_all(&root, found.files));
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn commit(&self) -> Option<String> {
        super::head_commit(&self.root)
    }
}

/// Files to read (path, shown path) and directories that could not be walked.
#[derive(Default)]
struct Found {
    files: Vec<(PathBuf, String, bool)>,
    problems: Vec<SourceFile>,
}

/// Reads the files on every core: opening 10,000 small files is a good part
/// of validating them.
fn read_all(root: &Path, files: Vec<(PathBuf, String, bool)>) -> Vec<SourceFile> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || files.len() < 256 {
        return files
            .into_iter()
            .map(|(p, r, link)| read_file(root, &p, r, link))
            .collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(p, r, link)| read_file(root, p, r.clone(), *link))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Collects YAML files under `dir`, following symlinks that stay inside the
/// repository and reporting those that leave it.
fn walk(root: &Path, dir: &Path, rel: &str, visited: &mut BTreeSet<PathBuf>, out: &mut Found) {
    let real = match inside(root, dir) {
        Ok(real) => real,
        Err(why) => {
            out.problems.push(SourceFile {
                path: rel.to_string(),
                content: Err(why),
            });
            return;
        }
    };
    if !visited.insert(real.clone()) {
        return;
    }
    let entries = match fs::read_dir(&real) {
        Ok(e) => e,
        Err(e) => {
            out.problems.push(SourceFile {
                path: rel.to_string(),
                content: Err(format!("cannot read directory: {e}")),
            });
            return;
        }
    };
    let mut names: Vec<(String, PathBuf, bool)> = entries
        .filter_map(Result::ok)
        .map(|e| {
            let link = e.file_type().map(|t| t.is_symlink()).unwrap_or(true);
            (e.file_name().to_string_lossy().into_owned(), e.path(), link)
        })
        .collect();
    names.sort();
    for (name, path, link) in names {
        let child = format!("{rel}/{name}");
        let is_dir = fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false);
        if is_dir {
            if !name.starts_with('.') {
                walk(root, &path, &child, visited, out);
            }
        } else if is_yaml(&name) {
            // `real` is inside the repository, so only a symlink can lead out.
            out.files.push((path, child, link));
        }
    }
}

/// Reads one file; `link` says it may be a symlink, whose target must be
/// inside the repository.
fn read_file(root: &Path, path: &Path, rel: String, link: bool) -> SourceFile {
    let real = if link {
        inside(root, path)
    } else {
        Ok(path.to_path_buf())
    };
    let content = real.and_then(|real| {
        let (file, size) = confined::open_regular(&real, MANIFEST_CAP)?;
        confined::read_to_end(file, size, MANIFEST_CAP)
    });
    SourceFile { path: rel, content }
}
