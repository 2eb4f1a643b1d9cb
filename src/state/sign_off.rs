//! Sign-offs proven by pull-request reviews: plain data the GitHub edge
//! (`ops::approvals`) gathers and the `approval.<who>` gates judge. Which
//! owners are mapped to GitHub identities comes from the trusted
//! configuration (the base revision's on a pull request).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::manifest::config::GitHubIdentity;

/// One approving review that counts: by whom, on which commit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Approval {
    /// The reviewer's login.
    pub login: String,
    /// The commit the review approved (the pull request's head).
    pub commit: String,
}

impl Approval {
    /// `alice (1a2b3c4)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.login, short(&self.commit))
    }
}

/// A commit's first seven characters, as GitHub shows it.
pub fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// What a pull request's reviews prove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullSignOffs {
    /// The pull request's number.
    pub number: u64,
    /// Its head commit now: only reviews of it count.
    pub head: String,
    /// Who opened it: never counts for it.
    pub author: String,
    /// For each mapped owner a gate asks about: the approvals by its team's
    /// members or its user, or why that could not be told (membership
    /// refused, GitHub out of reach).
    pub by_owner: BTreeMap<String, Result<Vec<Approval>, String>>,
    /// Each reviewer whose latest review does not count, and why
    /// (`bob: the pull request's author`), for the gate's reason.
    pub not_counted: Vec<String>,
}

/// An operator's `--approval-override`: the reason, and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Why, as given.
    pub reason: String,
    /// Who ran modelops.
    pub actor: String,
}

/// Everything the approval gates read besides the manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignOffEvidence {
    /// Owners mapped to GitHub identities (trusted configuration). An owner
    /// not here is judged by `approved_by` alone: declared, not verified.
    pub mapped: BTreeMap<String, GitHubIdentity>,
    /// For each model whose move needs a mapped owner's sign-off: the
    /// reviews of the pull request that brought its promotion (`--pr`, or
    /// the merged one that last changed its manifest), or why they could
    /// not be read. A model not here was not asked about.
    pub pulls: BTreeMap<String, Result<PullSignOffs, String>>,
    /// An operator's override of a failing verified sign-off.
    pub overridden: Option<Override>,
}

/// The sign-off an apply records for a move into Production: the
/// approvals that proved it, and an operator's override of gates that
/// could not be proven.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignOffRecord {
    /// The pull request whose reviews were read.
    pub pr: Option<u64>,
    /// Who approved, on which commit.
    pub approvals: Vec<Approval>,
    /// The override, and the gates it passed (`approval.owner`).
    pub overridden: Option<(Override, Vec<String>)>,
}

impl SignOffRecord {
    /// The approvers as one line: `alice (1a2b3c4), carol (1a2b3c4) on PR #7`.
    pub fn approvers_line(&self) -> Option<String> {
        if self.approvals.is_empty() {
            return None;
        }
        let who: Vec<String> = self.approvals.iter().map(Approval::describe).collect();
        Some(match self.pr {
            Some(pr) => format!("{} on PR #{pr}", who.join(", ")),
            None => who.join(", "),
        })
    }
}
