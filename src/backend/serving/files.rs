//! What the file-writing serving targets (nginx, Envoy) share: writing a
//! file atomically, the shares that route traffic, and the characters a
//! name may carry into a target's configuration.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Route, ServingError};
use crate::manifest::rules::valid_name;

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

/// Refuses `value` unless [`is_plain`], naming `what` it is and what would
/// not carry it (`an nginx fragment cannot carry`).
pub fn plain(value: &str, what: &str, carrier: &str) -> Result<(), ServingError> {
    if is_plain(value) {
        Ok(())
    } else {
        Err(ServingError::Config(format!(
            "{what} `{}` holds characters {carrier}",
            value.escape_debug()
        )))
    }
}

/// The names a route pastes into a target's configuration: the target's,
/// the model's and the deployment's (which may also name a file, so it
/// holds no `/`). Validation refuses bad ones already; a renderer refuses
/// them again, so no path (a hand-edited state, a saved plan) can paste
/// text into the configuration.
pub fn check_names(target: &str, route: &Route, carrier: &str) -> Result<(), ServingError> {
    if !valid_name(target) {
        return Err(ServingError::Config(format!(
            "serving target name `{}` holds characters {carrier}",
            target.escape_debug()
        )));
    }
    plain(route.model, "model name", carrier)?;
    plain(route.deployment, "deployment name", carrier)
}
