//! `approval.<who>`: a sign-off. For an owner the trusted configuration maps
//! to a GitHub team or user, it is proven by an approving pull-request
//! review of the head commit ([`SignOffEvidence`], gathered at the GitHub
//! edge); for any other owner it is what `approved_by` declares, and the row
//! says it is not verified.

use super::checks;
use super::{Candidate, GateResult, GateStatus};
use crate::state::sign_off::{Approval, GitHubIdentity, SignOffEvidence, short};

/// The source of an unmapped owner's row: the manifest's word alone.
pub const DECLARED: &str = "manifest (declared, not verified)";

/// How the threshold of a mapped owner's row starts: its verdict comes
/// from GitHub, and can change without an edit in git.
const VERIFIED: &str = "approved on GitHub by";

/// Whether `g` is a sign-off judged on GitHub's evidence (not the manifest's).
pub fn verified_on_github(g: &GateResult) -> bool {
    g.check.starts_with("approval.") && g.threshold.starts_with(VERIFIED)
}

/// How to proceed when GitHub cannot prove a sign-off.
const OVERRIDE_HINT: &str =
    "an operator may proceed with --approval-override REASON, which the audit log records";

/// The sign-off `who` (`owner`: the model's owner) for `c`'s move.
pub fn approval(who: &str, c: &Candidate, evidence: &SignOffEvidence) -> GateResult {
    let required = if who == "owner" { c.owner } else { who };
    let Some(identity) = evidence.mapped.get(required) else {
        let mut row = checks::approval(who, c);
        row.source = DECLARED.to_string();
        return row;
    };
    let row = verified(who, required, identity, c, evidence);
    match (&evidence.overridden, row.status) {
        (Some(o), GateStatus::Fail) => GateResult {
            status: GateStatus::Pass,
            value: "overridden".to_string(),
            source: format!("override by {}", o.actor),
            reason: Some(format!(
                "--approval-override by {}: {} (not verified: {})",
                o.actor,
                o.reason,
                row.reason.as_deref().unwrap_or(&row.value)
            )),
            ..row
        },
        _ => row,
    }
}

fn verified(
    who: &str,
    required: &str,
    identity: &GitHubIdentity,
    c: &Candidate,
    evidence: &SignOffEvidence,
) -> GateResult {
    let check = format!("approval.{who}");
    let threshold = match who {
        "owner" => format!("{VERIFIED} the owner, {required} ({identity})"),
        _ => format!("{VERIFIED} {required} ({identity})"),
    };
    let fail = |value: &str, source: String, reason: String| GateResult {
        check: check.clone(),
        status: GateStatus::Fail,
        value: value.to_string(),
        threshold: threshold.clone(),
        source,
        reason: Some(reason),
    };
    let pull = match evidence.pulls.get(c.model) {
        None => {
            return fail(
                "(not verified)",
                "GitHub".to_string(),
                format!(
                    "no pull request to check the review against: plan --pr N, or apply a merged \
                     commit with GITHUB_TOKEN and GITHUB_REPOSITORY set; {OVERRIDE_HINT}"
                ),
            );
        }
        Some(Err(why)) => {
            return fail(
                "(not verified)",
                "GitHub".to_string(),
                format!("{why}; {OVERRIDE_HINT}"),
            );
        }
        Some(Ok(p)) => p,
    };
    let source = format!("PR #{} reviews", pull.number);
    match pull.by_owner.get(required) {
        Some(Ok(approvals)) if !approvals.is_empty() => GateResult {
            check,
            status: GateStatus::Pass,
            value: approvals
                .iter()
                .map(Approval::describe)
                .collect::<Vec<_>>()
                .join(", "),
            threshold,
            source,
            reason: None,
        },
        Some(Err(why)) => fail("(unknown)", source, why.clone()),
        _ => {
            let mut why = format!(
                "no approving review of the head commit {} by {identity}",
                short(&pull.head)
            );
            if !pull.not_counted.is_empty() {
                why.push_str(&format!("; not counted: {}", pull.not_counted.join("; ")));
            }
            fail("(none)", source, why)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::{Stage, VersionId};
    use crate::state::VersionMetadata;
    use crate::state::sign_off::{Override, PullSignOffs};

    fn team() -> GitHubIdentity {
        GitHubIdentity::Team {
            org: "acme".into(),
            slug: "risk-ml".into(),
        }
    }

    fn alice() -> Approval {
        Approval {
            login: "alice".into(),
            commit: "abcdef0123456789".into(),
        }
    }

    fn pull(owner: Result<Vec<Approval>, String>) -> PullSignOffs {
        PullSignOffs {
            number: 7,
            head: "abcdef0123456789".into(),
            author: "mallory".into(),
            by_owner: BTreeMap::from([("risk-ml".to_string(), owner)]),
            not_counted: vec!["mallory: the pull request's author".into()],
        }
    }

    #[test]
    fn a_mapped_owner_needs_a_review_and_an_unmapped_one_is_declared() {
        let version = VersionId::Number(3);
        let metadata = VersionMetadata {
            approved_by: Some("risk-ml".into()),
            ..VersionMetadata::default()
        };
        let c = Candidate {
            model: "fraud",
            owner: "risk-ml",
            version: &version,
            metadata: &metadata,
            from: Stage::Staging,
            to: Stage::Production,
        };
        let mapped = BTreeMap::from([("risk-ml".to_string(), team())]);
        let by = Override {
            reason: "GitHub is down, INC-12".into(),
            actor: "ops".into(),
        };
        // (case, mapped, pull, override, status, value, part of the reason or source)
        type Row<'a> = (
            &'a str,
            bool,
            Option<Result<PullSignOffs, String>>,
            Option<Override>,
            GateStatus,
            &'a str,
            &'a str,
        );
        let rows: Vec<Row> = vec![
            (
                "unmapped: approved_by",
                false,
                None,
                None,
                GateStatus::Pass,
                "risk-ml",
                DECLARED,
            ),
            (
                "mapped, a member approved the head",
                true,
                Some(Ok(pull(Ok(vec![alice()])))),
                None,
                GateStatus::Pass,
                "alice (abcdef0)",
                "PR #7 reviews",
            ),
            (
                "mapped, nobody counted",
                true,
                Some(Ok(pull(Ok(vec![])))),
                None,
                GateStatus::Fail,
                "(none)",
                "not counted: mallory: the pull request's author",
            ),
            (
                "mapped, membership refused",
                true,
                Some(Ok(pull(Err("members:read".into())))),
                None,
                GateStatus::Fail,
                "(unknown)",
                "members:read",
            ),
            (
                "mapped, GitHub out of reach",
                true,
                Some(Err("GitHub cannot be reached".into())),
                None,
                GateStatus::Fail,
                "(not verified)",
                "--approval-override",
            ),
            (
                "mapped, no pull request",
                true,
                None,
                None,
                GateStatus::Fail,
                "(not verified)",
                "no pull request",
            ),
            (
                "mapped, overridden",
                true,
                None,
                Some(by.clone()),
                GateStatus::Pass,
                "overridden",
                "INC-12",
            ),
            (
                "an override does not change a pass",
                true,
                Some(Ok(pull(Ok(vec![alice()])))),
                Some(by),
                GateStatus::Pass,
                "alice (abcdef0)",
                "PR #7",
            ),
        ];
        for (case, is_mapped, pull, overridden, status, value, part) in rows {
            let evidence = SignOffEvidence {
                mapped: if is_mapped {
                    mapped.clone()
                } else {
                    BTreeMap::new()
                },
                pulls: pull.map(|p| ("fraud".to_string(), p)).into_iter().collect(),
                overridden,
            };
            let g = approval("owner", &c, &evidence);
            assert_eq!(g.check, "approval.owner", "{case}");
            assert_eq!(g.status, status, "{case}: {g:?}");
            assert_eq!(g.value, value, "{case}");
            let said = format!("{} {}", g.source, g.reason.as_deref().unwrap_or(""));
            assert!(said.contains(part), "{case}: {said}");
        }
    }
}
