//! Sign-offs proven on GitHub: for the owners the trusted configuration
//! maps to a team or user, reads the pull request (`--pr N`, or the merged
//! one that last changed the model's manifest), its reviews and the teams'
//! membership, and
//! returns [`SignOffEvidence`] for the `approval.<who>` gates to judge.
//! GitHub is asked only when a move into Production needs a mapped owner's
//! sign-off; each answer is kept for the rest of the run ([`SignOffs`]), so
//! an apply's re-check asks nothing again.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use super::Context;
use crate::github::client::{GitHub, GitHubError, Settings};
use crate::github::reviews::{self, Pull, Review};
use crate::manifest::VersionId;
use crate::manifest::config::{GitHubIdentity, valid_login};
use crate::manifest::{Desired, Stage};
use crate::reconcile::{GateCandidate, Plan, PlanStep, gated_moves};
use crate::source::last_change;
use crate::state::ActualState;
use crate::state::sign_off::{
    Approval, Override, PullSignOffs, SignOffEvidence, SignOffRecord, short,
};

/// How long one call to GitHub may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Most team-membership lookups in one run: a few per promotion.
const MAX_MEMBERSHIP_CALLS: usize = 30;

/// What the command asked about sign-offs, and what GitHub answered so far
/// in this run (shared by clones: the plan and the apply's re-check).
#[derive(Debug, Clone, Default)]
pub struct SignOffs {
    /// `--pr N`: the pull request whose reviews sign off. Without it, the
    /// merged pull request the planned commit came from.
    pub pr: Option<u64>,
    /// `--approval-override REASON`.
    pub override_reason: Option<String>,
    cache: Rc<RefCell<Cache>>,
}

#[derive(Debug, Default)]
struct Cache {
    /// The pull request and its reviews, by what was asked (`#7`, or a commit).
    pulls: BTreeMap<String, Result<(Pull, Vec<Review>), String>>,
    /// Team membership by (org, slug, login), or why it could not be read.
    members: BTreeMap<(String, String, String), Result<bool, GitHubError>>,
    /// Membership calls made.
    calls: usize,
    /// Per model, the commit whose pull request signs off its promotion.
    promoted_in: BTreeMap<String, Option<String>>,
}

impl SignOffs {
    /// Sign-offs for `--pr` and `--approval-override`.
    pub fn new(pr: Option<u64>, override_reason: Option<String>) -> SignOffs {
        SignOffs {
            pr,
            override_reason: override_reason.filter(|r| !r.trim().is_empty()),
            cache: Rc::default(),
        }
    }

    /// The same, for pull request `pr` when one is given (a saved plan's).
    pub fn for_pr(&self, pr: Option<u64>) -> SignOffs {
        SignOffs {
            pr: pr.or(self.pr),
            ..self.clone()
        }
    }
}

/// For each model whose move into Production needs a sign-off: its
/// manifest file (where its promotion is written), when known, and the
/// owners whose sign-off it needs.
pub type Needed = BTreeMap<String, (Option<String>, BTreeSet<String>)>;

/// What `candidates` (moves into Production) need, under the repository's
/// policies.
pub fn needed_by_candidates(desired: &Desired, candidates: &[GateCandidate]) -> Needed {
    let mut out = Needed::new();
    for c in candidates.iter().filter(|c| c.to == Stage::Production) {
        let Some(model) = desired.models.get(&c.model) else {
            continue;
        };
        if let Some(policy) = desired.policies.get(&model.policy) {
            out.entry(c.model.clone())
                .or_insert_with(|| (Some(model.file.clone()), BTreeSet::new()))
                .1
                .extend(required(
                    &model.owner,
                    &policy.production_requires.approvals,
                ));
        }
    }
    out
}

/// What a plan's gated moves into Production need, under the policies the
/// plan carries (their files are not in the plan: the run's plan found
/// their pull requests, which [`SignOffs`] keeps).
pub fn needed_by_plan(plan: &Plan, actual: &ActualState) -> Needed {
    let mut out = Needed::new();
    for m in gated_moves(plan, actual) {
        if m.to != Stage::Production {
            continue;
        }
        if let Some(policy) = plan.policies.get(&m.policy) {
            out.entry(m.model.clone())
                .or_insert_with(|| (None, BTreeSet::new()))
                .1
                .extend(required(&m.owner, &policy.production_requires.approvals));
        }
    }
    out
}

/// The names an `approvals` list requires, `owner` being the model's owner.
fn required<'a>(owner: &'a str, approvals: &'a [String]) -> impl Iterator<Item = String> + 'a {
    approvals.iter().map(move |who| match who.as_str() {
        "owner" => owner.to_string(),
        other => other.to_string(),
    })
}

/// The evidence for the sign-offs `needed`, of which those of owners in
/// `mapped` (the trusted configuration's) are verified on GitHub: against
/// `--pr`, else, per model, the merged pull request that last changed its
/// manifest on `commit`'s first-parent history (the one that brought its
/// promotion).
pub fn evidence(
    ctx: &Context,
    asked: &SignOffs,
    mapped: BTreeMap<String, GitHubIdentity>,
    needed: &Needed,
    commit: Option<&str>,
) -> SignOffEvidence {
    let overridden = asked.override_reason.as_ref().map(|reason| Override {
        reason: reason.clone(),
        actor: super::actor(&ctx.repo, commit),
    });
    let mut pulls = BTreeMap::new();
    for (model, (file, owners)) in needed {
        let verify: Vec<(&String, &GitHubIdentity)> = mapped
            .iter()
            .filter(|(name, _)| owners.contains(*name))
            .collect();
        if !verify.is_empty() {
            let found = read(ctx, asked, model, file.as_deref(), &verify, commit);
            pulls.insert(model.clone(), found);
        }
    }
    SignOffEvidence {
        mapped,
        pulls,
        overridden,
    }
}

/// The commit whose pull request signs off `model`'s promotion, without
/// `--pr`: the last change to its manifest `file` on `commit`'s
/// first-parent history, else `commit` itself. Kept for the run.
fn promoted_in(
    ctx: &Context,
    cache: &mut Cache,
    model: &str,
    file: Option<&str>,
    commit: Option<&str>,
) -> Option<String> {
    cache
        .promoted_in
        .entry(model.to_string())
        .or_insert_with(|| match (commit, file) {
            (Some(c), Some(f)) if !c.ends_with("-dirty") => {
                Some(last_change(&ctx.repo, c, f).unwrap_or_else(|| c.to_string()))
            }
            (c, _) => c.map(str::to_string),
        })
        .clone()
}

/// The sign-offs of the `verify` owners for `model`, or why none can be read.
fn read(
    ctx: &Context,
    asked: &SignOffs,
    model: &str,
    file: Option<&str>,
    verify: &[(&String, &GitHubIdentity)],
    commit: Option<&str>,
) -> Result<PullSignOffs, String> {
    let names: Vec<&str> = verify.iter().map(|(n, _)| n.as_str()).collect();
    let client = client(ctx, &names.join(", "))?;
    let mut cache = asked.cache.borrow_mut();
    let target = match asked.pr {
        Some(_) => commit.map(str::to_string),
        None => promoted_in(ctx, &mut cache, model, file, commit),
    };
    let key = match (asked.pr, &target) {
        (Some(n), _) => format!("#{n}"),
        (None, Some(c)) => c.clone(),
        (None, None) => String::new(),
    };
    let (pull, list) = cache
        .pulls
        .entry(key)
        .or_insert_with(|| pull_and_reviews(&client, asked.pr, target.as_deref()))
        .clone()?;
    // Reviews of the head sign off the head's files: a plan of any other
    // files (an older commit, uncommitted changes) is not what they approved.
    if asked.pr.is_some() && commit != Some(pull.head.as_str()) {
        let planned = match commit {
            Some(c) if c.ends_with("-dirty") => "uncommitted changes".to_string(),
            Some(c) => format!("commit {}", short(c)),
            None => "files outside git".to_string(),
        };
        return Err(format!(
            "the plan is of {planned}, not of pull request #{}'s head {}, which its reviews \
             approve; plan --rev {}",
            pull.number,
            short(&pull.head),
            pull.head
        ));
    }
    let (approvals, mut not_counted) = reviews::counted(&list, &pull.head, &pull.author);
    let mut by_owner = BTreeMap::new();
    for (name, identity) in verify {
        let found = match identity {
            GitHubIdentity::User(login) => Ok(approvals
                .iter()
                .filter(|a| a.login.eq_ignore_ascii_case(login))
                .cloned()
                .collect()),
            GitHubIdentity::Team { org, slug } => {
                members(&client, &mut cache, org, slug, &approvals, &mut not_counted)
            }
        };
        by_owner.insert(name.to_string(), found);
    }
    not_counted.sort();
    not_counted.dedup();
    Ok(PullSignOffs {
        number: pull.number,
        head: pull.head,
        author: pull.author,
        by_owner,
        not_counted,
    })
}

/// A client from `GITHUB_API_URL`, `GITHUB_REPOSITORY` and `GITHUB_TOKEN`
/// (the environment, never the repository), or why there is none.
fn client(ctx: &Context, owners: &str) -> Result<GitHub, String> {
    let github = &ctx.env.github;
    if github
        .var("GITHUB_TOKEN")
        .is_none_or(|t| t.trim().is_empty())
    {
        return Err(format!(
            "GITHUB_TOKEN is not set, so the sign-off of {owners} cannot be checked against \
             the pull request's reviews (it needs a token that reads pull requests and, for a \
             team, the organisation's members)"
        ));
    }
    let settings = Settings::from_vars(|k| github.var(k))?;
    GitHub::new(settings, TIMEOUT)
}

/// The pull request (`--pr`, or the merged one `commit` came from) and
/// its reviews.
fn pull_and_reviews(
    client: &GitHub,
    pr: Option<u64>,
    commit: Option<&str>,
) -> Result<(Pull, Vec<Review>), String> {
    let pull = match (pr, commit) {
        (Some(n), _) => reviews::pull(client, n)
            .map_err(|e| format!("cannot read pull request #{n}: {}", refused(&e)))?,
        (None, Some(c)) if !c.ends_with("-dirty") => match reviews::merged_pull_of(client, c) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(format!(
                    "commit {} came from no merged pull request, so no review signs off its \
                     promotion",
                    short(c)
                ));
            }
            Err(e) => {
                return Err(format!(
                    "cannot find the pull request of commit {c}: {}",
                    refused(&e)
                ));
            }
        },
        _ => {
            return Err(
                "the files planned are not a commit (uncommitted changes, or outside git), so no \
                 pull request's reviews sign them off; plan a commit, or give --pr N"
                    .to_string(),
            );
        }
    };
    let list = reviews::reviews(client, pull.number).map_err(|e| {
        format!(
            "cannot read the reviews of pull request #{}: {}",
            pull.number,
            refused(&e)
        )
    })?;
    Ok((pull, list))
}

/// Of `approvals`, those by active members of team `org/slug` (each
/// membership asked once per run); the others are added to `not_counted`.
/// When none counts and a lookup failed, why.
fn members(
    client: &GitHub,
    cache: &mut Cache,
    org: &str,
    slug: &str,
    approvals: &[Approval],
    not_counted: &mut Vec<String>,
) -> Result<Vec<Approval>, String> {
    let mut out = Vec::new();
    let mut failed = None;
    for a in approvals {
        if !valid_login(&a.login) {
            not_counted.push(format!("{}: not a GitHub login", a.login));
            continue;
        }
        let key = (
            org.to_string(),
            slug.to_string(),
            a.login.to_ascii_lowercase(),
        );
        if !cache.members.contains_key(&key) {
            if cache.calls >= MAX_MEMBERSHIP_CALLS {
                failed.get_or_insert(format!(
                    "more than {MAX_MEMBERSHIP_CALLS} team-membership lookups in one run; \
                     not asked whether {} is in {org}/{slug}",
                    a.login
                ));
                continue;
            }
            cache.calls += 1;
            let answer = reviews::is_active_member(client, org, slug, &a.login);
            cache.members.insert(key.clone(), answer);
        }
        match &cache.members[&key] {
            Ok(true) => out.push(a.clone()),
            Ok(false) => not_counted.push(format!(
                "{}: not an active member of team {org}/{slug} (GitHub answers 404 also when \
                 the token cannot see the team: it needs the organisation's members:read)",
                a.login
            )),
            Err(e) => {
                failed.get_or_insert(membership_refused(org, slug, &a.login, e));
            }
        }
    }
    match failed {
        Some(why) if out.is_empty() => Err(why),
        _ => Ok(out),
    }
}

/// A failed read of pull requests or reviews, in words: GitHub's own
/// hints speak of writing comments, which these calls do not.
fn refused(e: &GitHubError) -> String {
    match e {
        GitHubError::Api {
            call,
            status,
            message,
        } => {
            let hint = match status {
                401 => "; the token is not valid",
                403 | 404 => {
                    "; the token cannot read this repository's pull requests (it needs pull \
                     requests: read), or the pull request does not exist"
                }
                _ => "",
            };
            format!("GitHub refused {call}: {message} (HTTP {status}){hint}")
        }
        other => other.to_string(),
    }
}

/// Why a membership could not be read, in words that say what to fix.
fn membership_refused(org: &str, slug: &str, login: &str, e: &GitHubError) -> String {
    match e {
        GitHubError::Api {
            status: status @ (401 | 403),
            ..
        } => format!(
            "GitHub refused to say whether {login} is in team {org}/{slug} (HTTP {status}): the \
             token lacks the organisation's members:read permission (a workflow's GITHUB_TOKEN \
             never has it: use a GitHub App's token or a fine-grained token with members:read)"
        ),
        other => format!("cannot read team {org}/{slug}'s membership of {login}: {other}"),
    }
}

/// What an apply records for each move into Production that `plan` makes
/// (after its gates were checked again): the approvals that passed its
/// verified sign-offs, and the override of those that passed by it.
pub fn records(
    plan: &Plan,
    actual: &ActualState,
    evidence: &SignOffEvidence,
) -> BTreeMap<(String, VersionId), SignOffRecord> {
    let mut out = BTreeMap::new();
    for m in gated_moves(plan, actual) {
        if m.to != Stage::Production {
            continue;
        }
        let pull = match evidence.pulls.get(&m.model) {
            Some(Ok(p)) => Some(p),
            _ => None,
        };
        let PlanStep::TransitionStage { gates, .. } =
            &plan.models[m.model_index].steps[m.step_index]
        else {
            continue;
        };
        let mut record = SignOffRecord::default();
        let mut overridden = Vec::new();
        for g in gates.iter().filter(|g| g.check.starts_with("approval.")) {
            let who = &g.check["approval.".len()..];
            let name = if who == "owner" {
                m.owner.as_str()
            } else {
                who
            };
            if !evidence.mapped.contains_key(name) || g.failed() {
                continue;
            }
            let verified = pull
                .and_then(|p| p.by_owner.get(name))
                .and_then(|r| r.as_ref().ok());
            match verified {
                Some(approvals) if !approvals.is_empty() => {
                    record.pr = pull.map(|p| p.number);
                    for a in approvals {
                        if !record.approvals.contains(a) {
                            record.approvals.push(a.clone());
                        }
                    }
                }
                _ => overridden.push(g.check.clone()),
            }
        }
        if let (Some(by), false) = (&evidence.overridden, overridden.is_empty()) {
            record.overridden = Some((by.clone(), overridden));
        }
        if record != SignOffRecord::default() {
            out.insert((m.model.clone(), m.version.clone()), record);
        }
    }
    out
}
