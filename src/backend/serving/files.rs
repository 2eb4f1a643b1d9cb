//! What the file-writing serving targets (nginx, Envoy) share: writing a
//! file atomically, the shares that route traffic, and the characters a
//! name may carry into a target's configuration.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ServingError;

/// Replaces `path` with `text`: a temp file in the same directory (its name
/// starts with `.`), synced, renamed over `path`, and the directory synced
/// so the rename survives a crash.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ServingError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let io = |what: &'static str, at: &Path| {
        let path = at.display().to_string();
        move |source| ServingError::Io { what, path, source }
    };
    let written = (|| {
        let mut file = fs::File::create(&temp).map_err(io("create", &temp))?;
        file.write_all(text.as_bytes())
            .map_err(io("write", &temp))?;
        file.sync_all().map_err(io("sync", &temp))?;
        fs::rename(&temp, path).map_err(io("rename into place", path))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}

/// The versions with a share above zero, in order (zero routes nothing).
pub fn nonzero(shares: &BTreeMap<String, u8>) -> Vec<(&str, u8)> {
    shares
        .iter()
        .filter(|(_, p)| **p > 0)
        .map(|(v, p)| (v.as_str(), *p))
        .collect()
}

/// Whether `value` keeps to the characters manifests allow in names and
/// versions (ASCII letters and digits, `.`, `_`, `+`, `-`), so it can end no
/// comment, string or statement of a target's configuration.
pub fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
}
