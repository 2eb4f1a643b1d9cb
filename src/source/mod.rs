//! Where manifests come from: a working tree, or the files of a git revision
//! read through git2 without touching the working tree.

pub mod confined;
mod dir;
mod git;

use std::collections::BTreeMap;

pub use dir::DirSource;
pub use git::{GitSource, commit_author, head_commit, last_change};

use crate::manifest::SourceFile;

/// A failure to read the repository at all (as opposed to one bad file).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The directory is missing or unreadable.
    #[error("cannot read repository {path}: {message}")]
    Repository {
        /// Directory given.
        path: String,
        /// Why.
        message: String,
    },
    /// A git operation failed.
    #[error("git: {0}")]
    Git(String),
}

/// A set of manifest files.
pub trait ManifestSource {
    /// Every manifest file (`modelops.yaml`, `models/`, `deployments/`,
    /// `policies/`), sorted by path, each with its bytes or why they could
    /// not be read.
    fn files(&self) -> Result<Vec<SourceFile>, SourceError>;
    /// The commit the files come from, when known.
    fn commit(&self) -> Option<String>;
}

/// Folders whose YAML files are manifests.
pub const MANIFEST_DIRS: [&str; 3] = ["models", "deployments", "policies"];

/// The size cap of a manifest.
pub const MANIFEST_CAP: confined::Cap = confined::Cap {
    bytes: crate::manifest::yaml::MAX_FILE_BYTES,
    kind: "manifests",
};

/// Whether a file name is a manifest file name.
pub fn is_yaml(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// Paths whose content differs between two file sets, with the text before and after.
pub fn changed_files(
    base: &[SourceFile],
    head: &[SourceFile],
) -> BTreeMap<String, (String, String)> {
    let text = |f: &SourceFile| {
        f.content
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let before: BTreeMap<&str, &SourceFile> = base.iter().map(|f| (f.path.as_str(), f)).collect();
    let after: BTreeMap<&str, &SourceFile> = head.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut out = BTreeMap::new();
    for path in before.keys().chain(after.keys()) {
        let (b, a) = (before.get(path), after.get(path));
        if b.map(|f| &f.content) != a.map(|f| &f.content) {
            out.insert(
                path.to_string(),
                (
                    b.map(|f| text(f)).unwrap_or_default(),
                    a.map(|f| text(f)).unwrap_or_default(),
                ),
            );
        }
    }
    out
}
