//! `modelops schema --out DIR`: writes the JSON Schemas of the four kinds.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::emit;
use crate::cli::SchemaArgs;
use crate::manifest::schema::{Kind, schema_text};

/// Writes (or with `--check`, compares) every schema file.
pub fn run(args: SchemaArgs) -> Result<ExitCode> {
    let mut stale = Vec::new();
    if !args.check {
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
    }
    for kind in Kind::ALL {
        let path = args.out.join(kind.schema_file());
        let text = schema_text(kind);
        if args.check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            emit(&format!("wrote {}\n", path.display()));
        }
    }
    if stale.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "out of date (run `modelops schema --out {}`):",
            args.out.display()
        );
        for s in stale {
            eprintln!("  {s}");
        }
        Ok(ExitCode::FAILURE)
    }
}
