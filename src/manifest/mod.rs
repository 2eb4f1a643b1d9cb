//! Desired state: the manifest types, their JSON Schemas, and validation in
//! three layers (YAML, schema, semantic rules) that turns a repository's files
//! into a resolved [`Desired`] or every error at once. Pure: files come in as
//! bytes, no filesystem, no clock.

pub mod address;
pub mod common;
pub mod config;
pub mod deployment;
pub mod desired;
pub mod diagnostic;
pub mod fastyaml;
pub mod load;
pub mod locate;
pub mod model;
pub mod policy;
pub mod rules;
pub mod schema;
mod schema_errors;
pub mod sorted_map;
pub mod suggest;
pub mod trusted;
pub mod yaml;

pub use common::{Stage, VersionId};
pub use desired::{Desired, DesiredDeployment, DesiredModel, DesiredVersion, Strategy};
pub use diagnostic::Diagnostic;
pub use load::SourceFile;

/// Validates every file and resolves the repository. On failure the
/// diagnostics are complete (every file, every layer it reached), located and
/// sorted by file and line.
pub fn load(files: &[SourceFile]) -> Result<Desired, Vec<Diagnostic>> {
    let results = check_files(files);
    let mut diags = Vec::new();
    let mut manifests = Vec::new();
    let mut broken = rules::Broken::default();
    for (file, r) in files.iter().zip(results) {
        match r {
            Ok(m) => manifests.push(m),
            Err(d) => {
                diags.extend(d);
                broken.note(file);
            }
        }
    }
    match rules::resolve(manifests, &broken) {
        Ok(desired) if diags.is_empty() => Ok(desired),
        Ok(_) => Err(finish(diags, files)),
        Err(more) => {
            diags.extend(more);
            Err(finish(diags, files))
        }
    }
}

/// Locates and sorts diagnostics against the files' text.
pub fn finish(mut diags: Vec<Diagnostic>, files: &[SourceFile]) -> Vec<Diagnostic> {
    locate::resolve(&mut diags, |path| {
        files
            .iter()
            .find(|f| f.path == path)
            .and_then(|f| f.content.as_ref().ok())
            .and_then(|b| std::str::from_utf8(b).ok())
    });
    diagnostic::sort(&mut diags);
    diags
}

type FileResult = Result<(String, load::Manifest), Vec<Diagnostic>>;

/// Runs the per-file layers on all cores; files are independent.
fn check_files(files: &[SourceFile]) -> Vec<FileResult> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || files.len() < 64 {
        return files.iter().map(load::load_file).collect();
    }
    let chunk = files.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(load::load_file).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
