//! `modelops init [DIR]`: the files of a new model-lifecycle repository.
//! The configuration (the embedded registry, with MLflow, nginx and
//! Prometheus blocks commented out), the guidelines' default policy written
//! out, the two GitHub workflows (plan on pull requests, apply after
//! merge), `.gitignore`, the JSON Schemas the files' `$schema` lines name
//! (inside the repository, so they resolve wherever it is cloned), a
//! README, and `models/` and `deployments/` (kept in git by `.gitkeep`).
//!
//! Nothing is overwritten: when any of these files exists, nothing is
//! written and every existing one is named.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::manifest::schema::{Kind, schema_text};

/// A file `init` writes: its path in the repository and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFile {
    /// Path relative to the repository.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// Every file of a new repository, in the order they are written.
pub fn files() -> Vec<InitFile> {
    let file = |path: &str, text: &str| InitFile {
        path: path.to_string(),
        text: text.to_string(),
    };
    let mut out = vec![
        file("modelops.yaml", include_str!("init/modelops.yaml")),
        file("policies/default.yaml", include_str!("init/policy.yaml")),
        file("models/.gitkeep", ""),
        file("deployments/.gitkeep", ""),
        file(".github/workflows/plan.yml", include_str!("init/plan.yml")),
        file(
            ".github/workflows/reconcile.yml",
            include_str!("init/reconcile.yml"),
        ),
        file(".gitignore", ".modelops/\n"),
        file("README.md", include_str!("init/README.md")),
    ];
    for kind in Kind::ALL {
        out.push(InitFile {
            path: format!("schemas/{}", kind.schema_file()),
            text: schema_text(kind),
        });
    }
    out
}

/// Writes [`files`] into `dir` (created when missing) and returns their
/// paths. Refuses, writing nothing, when any of them exists, naming each.
pub fn run(dir: &Path) -> Result<Vec<String>> {
    let files = files();
    let existing: Vec<String> = files
        .iter()
        .filter(|f| dir.join(&f.path).symlink_metadata().is_ok())
        .map(|f| shown(dir, &f.path))
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist{}; init writes nothing over an existing file, so nothing was written:\n  {}",
            if existing.len() == 1 {
                "this file"
            } else {
                "these files"
            },
            if existing.len() == 1 { "s" } else { "" },
            existing.join("\n  ")
        );
    }
    let mut written = Vec::new();
    for f in &files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        write_new(&path, &f.text)?;
        written.push(shown(dir, &f.path));
    }
    Ok(written)
}

fn shown(dir: &Path, rel: &str) -> String {
    if dir == Path::new(".") {
        rel.to_string()
    } else {
        dir.join(rel).display().to_string()
    }
}

fn write_new(path: &PathBuf, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{SourceFile, load};

    #[test]
    fn the_scaffold_validates_and_its_policy_is_the_built_in_default() {
        let files: Vec<SourceFile> = files()
            .into_iter()
            .filter(|f| f.path.ends_with(".yaml") && !f.path.starts_with(".github"))
            .map(|f| SourceFile {
                path: f.path,
                content: Ok(f.text.into_bytes()),
            })
            .collect();
        let desired = load(&files).unwrap_or_else(|d| panic!("{d:#?}"));
        let builtin = load(&[]).expect("an empty repository is valid");
        assert_eq!(desired.policies["default"], builtin.policies["default"]);
    }

    #[test]
    fn every_schema_link_resolves_inside_the_repository() {
        let files = files();
        for f in &files {
            for line in f.text.lines() {
                let Some((_, target)) = line.split_once("$schema=") else {
                    continue;
                };
                // The README's example is a file in models/.
                let dir = match f.path.as_str() {
                    "README.md" => Path::new("models"),
                    path => Path::new(path).parent().unwrap_or(Path::new("")),
                };
                let resolved = normalize(&dir.join(target.trim()));
                assert!(
                    files.iter().any(|g| Path::new(&g.path) == resolved),
                    "{}: $schema={target} resolves to {} which init does not write",
                    f.path,
                    resolved.display()
                );
            }
        }
    }

    fn normalize(p: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }
}
