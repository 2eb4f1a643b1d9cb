//! Signature checks: well formed, compatible with the Production version's,
//! and the same as the signature the registry's logged model carries.

use std::collections::BTreeSet;

use super::{GateResult, GateStatus};
use crate::manifest::VersionId;
use crate::manifest::model::{SIGNATURE_TYPES, Signature, SignatureColumn};
use crate::manifest::policy::SignatureGate;
use crate::state::{LoggedSignature, VersionMetadata};

fn row(
    check: &str,
    status: GateStatus,
    value: String,
    threshold: &str,
    source: &str,
) -> GateResult {
    GateResult {
        check: check.to_string(),
        status,
        value,
        threshold: threshold.to_string(),
        source: source.to_string(),
        reason: None,
    }
}

/// The signature checks of a version: none when the policy does not require
/// a signature and none is declared.
pub fn checks(
    gate: &SignatureGate,
    meta: &VersionMetadata,
    baseline: Option<(&VersionId, &VersionMetadata)>,
    logged: Option<&Result<LoggedSignature, String>>,
) -> Vec<GateResult> {
    let Some(sig) = &meta.signature else {
        if !gate.required {
            return Vec::new();
        }
        let mut r = row(
            "signature.valid",
            GateStatus::Fail,
            "none declared".into(),
            "a well-formed signature",
            "manifest",
        );
        r.reason = Some("declare the model's inputs and outputs under `signature`".into());
        return vec![r];
    };
    let mut out = vec![
        valid(sig),
        compatible(gate.allow_breaking_changes, sig, baseline),
    ];
    if let Some(logged) = logged {
        out.push(matches_logged(sig, logged));
    }
    out
}

fn valid(sig: &Signature) -> GateResult {
    let mut problems = Vec::new();
    if sig.inputs.is_empty() {
        problems.push("no inputs".to_string());
    }
    for (list, columns) in [("input", &sig.inputs), ("output", &sig.outputs)] {
        let mut seen = BTreeSet::new();
        for c in columns {
            if c.name.trim().is_empty() {
                problems.push(format!("an {list} without a name"));
            } else if !seen.insert(c.name.as_str()) {
                problems.push(format!("{list} `{}` twice", c.name));
            }
            if !SIGNATURE_TYPES.contains(&c.column_type.as_str()) {
                problems.push(format!(
                    "{list} `{}` has unknown type `{}`",
                    c.name, c.column_type
                ));
            }
            if let Some(shape) = &c.shape
                && shape.iter().any(|d| *d == 0 || *d < -1)
            {
                problems.push(format!("{list} `{}` has shape {shape:?}", c.name));
            }
        }
    }
    let threshold = "a well-formed signature";
    if problems.is_empty() {
        row(
            "signature.valid",
            GateStatus::Pass,
            format!(
                "{} input{}, {} output{}",
                sig.inputs.len(),
                if sig.inputs.len() == 1 { "" } else { "s" },
                sig.outputs.len(),
                if sig.outputs.len() == 1 { "" } else { "s" }
            ),
            threshold,
            "manifest",
        )
    } else {
        row(
            "signature.valid",
            GateStatus::Fail,
            problems.join("; "),
            threshold,
            "manifest",
        )
    }
}

fn compatible(
    allow_breaking: bool,
    sig: &Signature,
    baseline: Option<(&VersionId, &VersionMetadata)>,
) -> GateResult {
    let check = "signature.compatible";
    let skip = |threshold: String, reason: String| GateResult {
        reason: Some(reason),
        ..row(
            check,
            GateStatus::Skip,
            "not compared".into(),
            &threshold,
            "manifest",
        )
    };
    let Some((bv, bm)) = baseline else {
        return skip(
            "no breaking change from Production".into(),
            "no Production version to compare with (first promotion)".into(),
        );
    };
    let threshold = if allow_breaking {
        format!("breaking changes from version {bv} allowed by the policy")
    } else {
        format!("no breaking change from version {bv}")
    };
    let Some(old) = &bm.signature else {
        return skip(
            threshold,
            format!("the Production version {bv} declares no signature"),
        );
    };
    let (breaking, additive) = compatibility(old, sig);
    let source = format!("manifest vs version {bv}");
    let source = source.as_str();
    if breaking.is_empty() {
        let value = if additive.is_empty() {
            "unchanged".to_string()
        } else {
            format!("compatible: {}", additive.join("; "))
        };
        row(check, GateStatus::Pass, value, &threshold, source)
    } else if allow_breaking {
        row(
            check,
            GateStatus::Pass,
            format!("breaking: {}", breaking.join("; ")),
            &threshold,
            source,
        )
    } else {
        let mut r = row(
            check,
            GateStatus::Fail,
            breaking.join("; "),
            &threshold,
            source,
        );
        r.reason = Some(
            "breaking signature changes are refused; set `signature.allow_breaking_changes` in the policy to allow them"
                .into(),
        );
        r
    }
}

fn optional(c: &SignatureColumn) -> bool {
    c.optional.unwrap_or(false)
}

/// The changes from `old` to `new`: (breaking, compatible). Removing,
/// renaming or retyping an input, adding a required input, and removing or
/// retyping an output break callers; adding an optional input or an output
/// does not. A removed input with an added one of the same type at the same
/// position reads as a rename.
pub fn compatibility(old: &Signature, new: &Signature) -> (Vec<String>, Vec<String>) {
    let mut breaking = Vec::new();
    let mut additive = Vec::new();
    let find = |cols: &'_ [SignatureColumn], name: &str| -> Option<usize> {
        cols.iter().position(|c| c.name == name)
    };
    let mut renamed_to = BTreeSet::new();
    for (i, o) in old.inputs.iter().enumerate() {
        match find(&new.inputs, &o.name) {
            Some(j) => {
                let n = &new.inputs[j];
                if n.column_type != o.column_type {
                    breaking.push(format!(
                        "input `{}` changes type {} → {}",
                        o.name, o.column_type, n.column_type
                    ));
                }
                if n.shape != o.shape {
                    breaking.push(format!("input `{}` changes shape", o.name));
                }
                if optional(o) && !optional(n) {
                    breaking.push(format!("input `{}` becomes required", o.name));
                }
            }
            None => match new.inputs.get(i) {
                Some(n)
                    if find(&old.inputs, &n.name).is_none() && n.column_type == o.column_type =>
                {
                    renamed_to.insert(n.name.as_str());
                    breaking.push(format!("input `{}` renamed to `{}`", o.name, n.name));
                }
                _ => breaking.push(format!("removes input `{}`", o.name)),
            },
        }
    }
    for n in &new.inputs {
        if find(&old.inputs, &n.name).is_some() || renamed_to.contains(n.name.as_str()) {
            continue;
        }
        if optional(n) {
            additive.push(format!("adds optional input `{}`", n.name));
        } else {
            breaking.push(format!("adds required input `{}`", n.name));
        }
    }
    for o in &old.outputs {
        match find(&new.outputs, &o.name) {
            Some(j) if new.outputs[j].column_type != o.column_type => breaking.push(format!(
                "output `{}` changes type {} → {}",
                o.name, o.column_type, new.outputs[j].column_type
            )),
            Some(_) => {}
            None => breaking.push(format!("removes output `{}`", o.name)),
        }
    }
    for n in &new.outputs {
        if find(&old.outputs, &n.name).is_none() {
            additive.push(format!("adds output `{}`", n.name));
        }
    }
    (breaking, additive)
}

/// Column-by-column differences between two signatures, in words.
fn differences(declared: &Signature, logged: &Signature) -> Vec<String> {
    let mut out = Vec::new();
    for (list, d, l) in [
        ("input", &declared.inputs, &logged.inputs),
        ("output", &declared.outputs, &logged.outputs),
    ] {
        for c in d {
            match l.iter().find(|x| x.name == c.name) {
                None => out.push(format!("{list} `{}` is not in the logged model", c.name)),
                Some(x) => {
                    if x.column_type != c.column_type {
                        out.push(format!(
                            "{list} `{}` is {} in git, {} in the logged model",
                            c.name, c.column_type, x.column_type
                        ));
                    }
                    if optional(x) != optional(c) {
                        out.push(format!("{list} `{}` differs in being optional", c.name));
                    }
                    if x.shape != c.shape {
                        out.push(format!("{list} `{}` differs in shape", c.name));
                    }
                }
            }
        }
        for x in l {
            if !d.iter().any(|c| c.name == x.name) {
                out.push(format!(
                    "the logged model has {list} `{}`, git does not",
                    x.name
                ));
            }
        }
    }
    out
}

fn matches_logged(sig: &Signature, logged: &Result<LoggedSignature, String>) -> GateResult {
    let check = "signature.logged";
    let threshold = "the logged model's signature";
    let source = "registry (logged model)";
    match logged {
        Ok(LoggedSignature::Found(l)) => {
            let diffs = differences(sig, l);
            if diffs.is_empty() {
                row(check, GateStatus::Pass, "matches".into(), threshold, source)
            } else {
                row(check, GateStatus::Fail, diffs.join("; "), threshold, source)
            }
        }
        Ok(LoggedSignature::NotLogged(why)) => GateResult {
            reason: Some(why.clone()),
            ..row(
                check,
                GateStatus::Skip,
                "not logged".into(),
                threshold,
                source,
            )
        },
        Err(e) => GateResult {
            reason: Some(format!("cannot read the logged model: {e}")),
            ..row(
                check,
                GateStatus::Fail,
                "unreadable".into(),
                threshold,
                source,
            )
        },
    }
}
