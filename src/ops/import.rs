//! `modelops import --from mlflow`: writes a manifest for each model an
//! MLflow registry holds, so that the repository adopts the registry as it
//! stands. Right after, `validate` passes and `plan` has nothing to do:
//! each value is what the registry holds (see `reconcile::adopt` for how
//! plan compares versions modelops never wrote), and what the model's
//! policy will miss at each version's next promotion is listed as to-dos.
//!
//! Import never overwrites a file: a model the repository already declares
//! is left as it is, so it can run again to pick up models registered
//! since, without losing anyone's edits.

pub mod draft;
mod todo;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::Context;
use crate::backend::Registry as _;
use crate::backend::mlflow::import::ListedModel;
use crate::manifest::{Diagnostic, SourceFile};
use draft::{Draft, Refusal, draft};
use yaml::{Header, Rendered, model_yaml};

pub use yaml::TodoLine;

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Only these registered models (default: every one).
    pub models: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The registry read, as `MLflow at <url>` (no credentials).
    pub registry: String,
    /// Files written, relative to the repository.
    pub written: Vec<String>,
    /// Models the repository already declares, with the file declaring
    /// them: left as they are.
    pub kept: Vec<(String, String)>,
    /// Models that cannot be adopted as they stand, and why.
    pub refused: Vec<Refusal>,
    /// What each written model's next promotions will miss: file and line.
    pub todos: Vec<(String, TodoLine)>,
    /// Things worth knowing (a configuration that will not read MLflow).
    pub notes: Vec<String>,
    /// When the repository does not validate with the files written: every
    /// error (none is expected; the files are written anyway, for a person
    /// to look at).
    pub invalid: Vec<Diagnostic>,
}

/// Imports into the repository at `ctx.repo` (created when missing).
pub fn run(ctx: &Context, req: &Request) -> Result<Imported> {
    let root = &ctx.repo;
    std::fs::create_dir_all(root.join("models"))
        .with_context(|| format!("cannot create {}", root.join("models").display()))?;
    let config = ctx.config()?;
    let Some(mut registry) = ctx.mlflow(&config)? else {
        bail!(
            "import reads an MLflow registry: set MLFLOW_TRACKING_URI (or registry.type: mlflow and registry.uri in {})",
            ctx.shown("modelops.yaml")
        );
    };
    let described = registry.describe();
    let uri = registry.client().endpoint().shown();
    let (existing, _) = ctx.read_files(None)?;
    let declared = match crate::manifest::load(&existing) {
        Ok(d) => d
            .models
            .iter()
            .map(|(n, m)| (n.clone(), m.file.clone()))
            .collect::<BTreeMap<_, _>>(),
        Err(diags) => bail!(
            "the repository at {} does not validate; fix it before importing into it:\n{}",
            root.display(),
            crate::render::diagnostics_text(&ctx.display_paths(diags)).trim_end()
        ),
    };
    let listed = registry
        .list_for_import(&req.models)
        .with_context(|| format!("cannot read {described}"))?;

    let mut out = Imported {
        registry: described.clone(),
        ..Default::default()
    };
    let mut drafts: Vec<(&ListedModel, Draft)> = Vec::new();
    for l in &listed {
        if let Some(file) = declared.get(&l.observed.name) {
            out.kept.push((l.observed.name.clone(), ctx.shown(file)));
            continue;
        }
        match draft(l) {
            Ok(d) => drafts.push((l, d)),
            Err(r) => out.refused.push(r),
        }
    }
    let has_config = ["modelops.yaml", "modelops.yml"]
        .iter()
        .any(|f| root.join(f).exists());
    let config_text = (!has_config && !drafts.is_empty()).then(|| yaml::config_yaml(&uri));
    if has_config
        && !matches!(
            config.registry,
            crate::manifest::config::RegistryConfig::Mlflow(_)
        )
    {
        out.notes.push(format!(
            "{} names the local registry: plan and apply read MLflow only while MLFLOW_TRACKING_URI is set (or set registry.type: mlflow and registry.uri there)",
            ctx.shown("modelops.yaml")
        ));
    }
    let schema = root
        .join("schemas/model.schema.json")
        .is_file()
        .then_some("../schemas/model.schema.json");
    let header = Header {
        schema,
        registry: &described,
    };

    // Written once without to-dos to evaluate the gates on exactly these
    // manifests, then again with them.
    let first: Vec<(String, Rendered)> = drafts
        .iter()
        .map(|(_, d)| (path_of(&d.name), model_yaml(d, &header, &|_| None)))
        .collect();
    let mut files = existing;
    files.extend(first.iter().map(|(path, r)| source(path, &r.text)));
    if let Some(text) = &config_text {
        files.push(source("modelops.yaml", text));
    }
    let desired = match crate::manifest::load(&files) {
        Ok(d) => Some(d),
        Err(diags) => {
            out.invalid = ctx.display_paths(diags);
            None
        }
    };
    let mut written: Vec<(String, String)> = Vec::new();
    for (l, d) in &drafts {
        let todos = desired
            .as_ref()
            .map(|desired| todo::todos(desired, l, ctx.now))
            .unwrap_or_default();
        let rendered = model_yaml(d, &header, &|v| todos.get(&v.version).cloned());
        let path = path_of(&d.name);
        out.todos
            .extend(rendered.todos.into_iter().map(|t| (ctx.shown(&path), t)));
        written.push((path, rendered.text));
    }
    if let Some(text) = config_text {
        written.push(("modelops.yaml".to_string(), text));
    }
    for (path, text) in &written {
        write_new(root, path, text)?;
        out.written.push(ctx.shown(path));
    }
    Ok(out)
}

/// Where a model's manifest goes.
fn path_of(model: &str) -> String {
    format!("models/{model}.yaml")
}

fn source(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: path.to_string(),
        content: Ok(text.as_bytes().to_vec()),
    }
}

/// Writes `text` to `root/path`, which must not exist (a file appearing
/// since import looked is left alone: that is an error, not an overwrite).
fn write_new(root: &Path, path: &str, text: &str) -> Result<()> {
    use std::io::Write as _;
    let full: PathBuf = root.join(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&full)
        .with_context(|| {
            format!(
                "cannot create {} (import never overwrites a file)",
                full.display()
            )
        })?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", full.display()))
}
