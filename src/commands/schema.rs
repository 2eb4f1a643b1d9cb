//! `modelops schema [KIND] [--out DIR]`: prints the JSON Schemas of the four
//! kinds, or writes them to files.

use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::emit;
use crate::cli::{SchemaArgs, SchemaKind};
use crate::manifest::schema::{Kind, schema_text};

/// Prints one schema or all; with `--out`, writes (or with `--check`,
/// compares) every schema file.
pub fn run(args: SchemaArgs) -> Result<ExitCode> {
    let Some(out) = &args.out else {
        emit(&match args.kind {
            Some(kind) => schema_text(kind_of(kind)),
            None => {
                let all: serde_json::Map<String, serde_json::Value> = Kind::ALL
                    .into_iter()
                    .map(|k| {
                        let schema = serde_json::from_str(&schema_text(k)).unwrap_or_default();
                        (k.as_str().to_lowercase(), schema)
                    })
                    .collect();
                format!("{}\n", serde_json::to_string_pretty(&all)?)
            }
        });
        return Ok(ExitCode::SUCCESS);
    };
    let mut stale = Vec::new();
    if !args.check {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    for kind in Kind::ALL {
        let path = out.join(kind.schema_file());
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
            out.display()
        );
        for s in stale {
            eprintln!("  {s}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn kind_of(kind: SchemaKind) -> Kind {
    match kind {
        SchemaKind::Model => Kind::Model,
        SchemaKind::Deployment => Kind::Deployment,
        SchemaKind::Policy => Kind::Policy,
        SchemaKind::Config => Kind::Config,
    }
}
