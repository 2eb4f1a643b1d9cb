//! The one rule for every file modelops reads because the repository names
//! it (manifests, benchmark payloads, data snapshots, observations, dataset
//! lists): a relative path that stays inside the repository, no symlink
//! leading out of it, a regular file (never a FIFO, socket or device, which
//! could block or never end), and a size cap checked before reading and
//! enforced while reading.
//!
//! A pull request controls every byte and every name in the repository, so
//! none of these may reach a file of the machine it runs on.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The size cap of one kind of file.
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    /// Largest size read, in bytes.
    pub bytes: u64,
    /// The kind, plural, for the message (`manifests`, `benchmark payloads`).
    pub kind: &'static str,
}

/// Resolves `rel` (as written in a manifest) against the repository `root`:
/// its real path, with every symlink followed, when that is inside the
/// repository. Absolute paths and `..` that climbs out are refused without
/// touching the filesystem.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let path = Path::new(rel);
    if rel.is_empty() {
        return Err("the path is empty".to_string());
    }
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => {
                return Err(
                    "an absolute path; modelops only reads files inside the repository, \
                     named relative to it"
                        .to_string(),
                );
            }
            Component::ParentDir if depth == 0 => {
                return Err(
                    "`..` leads outside the repository; modelops only reads files inside it"
                        .to_string(),
                );
            }
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    let root = fs::canonicalize(root).map_err(|e| format!("cannot resolve the repository: {e}"))?;
    inside(&root, &root.join(path))
}

/// The real path of `path` when it is inside `root` (already canonical),
/// else why not.
pub fn inside(root: &Path, path: &Path) -> Result<PathBuf, String> {
    match fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => Ok(real),
        Ok(real) => Err(format!(
            "symlink leads outside the repository (to {}); modelops only reads files inside it",
            real.display()
        )),
        Err(e) => Err(format!("cannot resolve path: {e}")),
    }
}

/// Opens `real` (a resolved path) for reading when it is a regular file of
/// at most `limit` bytes; returns the file and its size. A FIFO or device is
/// refused before it is opened, and the open itself never blocks.
pub fn open_regular(real: &Path, cap: Cap) -> Result<(File, u64), String> {
    let meta = fs::metadata(real).map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let file = open_nonblocking(real).map_err(|e| format!("cannot read file: {e}"))?;
    // Checked again on what was opened: the name may now be something else.
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > cap.bytes {
        return Err(too_large(meta.len(), cap));
    }
    Ok((file, meta.len()))
}

/// Reads the whole of an opened file, never more than `limit` bytes (a file
/// that grows while it is read is refused, not read on).
pub fn read_to_end(file: File, size: u64, cap: Cap) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(size.min(cap.bytes) as usize);
    file.take(cap.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() as u64 > cap.bytes {
        return Err(too_large(bytes.len() as u64, cap));
    }
    Ok(bytes)
}

/// Resolves, opens and reads `rel` under the rule above.
pub fn read(root: &Path, rel: &str, cap: Cap) -> Result<Vec<u8>, String> {
    let real = resolve(root, rel)?;
    let (file, size) = open_regular(&real, cap)?;
    read_to_end(file, size, cap)
}

/// The message for a file over its cap.
pub fn too_large(size: u64, cap: Cap) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    format!(
        "file is {:.1} MiB; {} are limited to {} MiB",
        size as f64 / MIB,
        cap.kind,
        (cap.bytes as f64 / MIB).round()
    )
}

fn not_regular() -> String {
    "not a regular file (a device, socket or pipe?); modelops only reads plain files".to_string()
}

#[cfg(target_os = "linux")]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO that replaced the file since it was
    // checked returns at once instead of waiting for a writer.
    const O_NONBLOCK: i32 = 0o4000;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
}

#[cfg(not(target_os = "linux"))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Cap = Cap {
        bytes: 1024,
        kind: "test files",
    };

    #[test]
    fn paths_that_leave_the_repository_are_refused_before_any_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("data")).unwrap();
        fs::write(root.join("data/a.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("data/out.json")).unwrap();
        std::os::unix::fs::symlink("a.json", root.join("data/in.json")).unwrap();
        let cases: [(&str, Result<&str, &str>); 9] = [
            ("data/a.json", Ok("{}")),
            ("./data/../data/a.json", Ok("{}")),
            ("data/in.json", Ok("{}")),
            ("/proc/self/environ", Err("an absolute path")),
            ("../../etc/passwd", Err("`..` leads outside")),
            ("data/../../x", Err("`..` leads outside")),
            ("data/out.json", Err("symlink leads outside the repository")),
            ("data", Err("not a regular file")),
            ("", Err("the path is empty")),
        ];
        for (rel, want) in cases {
            let got = read(root, rel, SMALL).map(|b| String::from_utf8(b).unwrap());
            match want {
                Ok(text) => assert_eq!(got.as_deref(), Ok(text), "{rel}"),
                Err(part) => {
                    let err = got.expect_err(rel);
                    assert!(err.contains(part), "{rel}: {err}");
                }
            }
        }
    }

    #[test]
    fn a_file_over_the_cap_is_refused_from_its_size() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("big"), vec![b'x'; 3 * 1024 * 1024]).unwrap();
        let cap = Cap {
            bytes: 1024 * 1024,
            kind: "test files",
        };
        let err = read(dir.path(), "big", cap).unwrap_err();
        assert_eq!(err, "file is 3.0 MiB; test files are limited to 1 MiB");
    }
}
