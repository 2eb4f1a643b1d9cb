//! `modelops comment`: the plan's pull-request comment, posted once and
//! edited in place on every later run (split into continued comments when
//! too long for one, up to [`MAX_PARTS`]; a longer plan is summarised), or
//! printed for a job summary with `--print`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};

use super::emit;
use crate::cli::CommentArgs;
use crate::github::{self, Change, Document, Footer, GitHub, MAX_COMMENT, Settings};
use crate::ops::Context;

/// How long one call to GitHub may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Most comments one plan takes. A plan that needs more is posted as a
/// summary that points at the job summary and the saved plan.
pub const MAX_PARTS: usize = 10;

/// Posts, updates or prints the comment.
pub fn run(ctx: &Context, args: CommentArgs) -> Result<ExitCode> {
    let path = &args.plan;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let document = Document::parse(&text).map_err(|e| anyhow!("{} {e}", path.display()))?;
    let footer = Footer {
        commit: document.commit().map(str::to_string),
        at: document.created_at(),
        run_url: run_url(|k| ctx.env.github.var(k)),
    };
    let markdown = document.markdown();
    let Some(pr) = args.pr.filter(|_| !args.print) else {
        // One body, however long: a job summary takes up to 1 MiB.
        let body = github::bodies(&markdown, &footer, usize::MAX).remove(0);
        emit(&body);
        return Ok(ExitCode::SUCCESS);
    };
    let settings = Settings::from_vars(|k| ctx.env.github.var(k)).map_err(anyhow::Error::msg)?;
    let repo = settings.repo.clone();
    let client = GitHub::new(settings, TIMEOUT).map_err(anyhow::Error::msg)?;
    let mut bodies = github::bodies(&markdown, &footer, MAX_COMMENT);
    if bodies.len() > MAX_PARTS {
        bodies = github::bodies(
            &document.summary(bodies.len(), MAX_PARTS),
            &footer,
            MAX_COMMENT,
        );
    }
    // Whose comments are ours: the token's user, or the login the workflow
    // names (a GitHub App's `<app>[bot]`); never anyone else's, whatever
    // their comment starts with.
    let poster = std::env::var("MODELOPS_COMMENT_AUTHOR")
        .ok()
        .map(|login| login.trim().to_string())
        .filter(|login| !login.is_empty());
    let done = github::publish(&client, pr, &bodies, poster.as_deref())
        .with_context(|| format!("cannot post the plan on pull request #{pr} of {repo}"))?;
    emit(&report(pr, bodies.len(), &done));
    Ok(ExitCode::SUCCESS)
}

/// The workflow run's page, from what a runner sets.
fn run_url(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let server = var("GITHUB_SERVER_URL")?;
    let repo = var("GITHUB_REPOSITORY")?;
    let run = var("GITHUB_RUN_ID")?;
    (!server.is_empty() && !repo.is_empty() && run.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{}/{repo}/actions/runs/{run}", server.trim_end_matches('/')))
}

/// One line per comment touched.
fn report(pr: u64, total: usize, done: &[github::Done]) -> String {
    let what = |part: usize| {
        if total == 1 {
            format!("the plan comment on pull request #{pr}")
        } else {
            format!("part {part} of {total} of the plan comment on pull request #{pr}")
        }
    };
    let at = |url: &Option<String>| url.as_deref().map(|u| format!(": {u}")).unwrap_or_default();
    let mut out = String::new();
    for d in done {
        let line = match &d.change {
            Change::Keep { part, .. } => format!("Unchanged: {}.", what(*part)),
            Change::Update { part, .. } => format!("Updated {}{}", what(*part), at(&d.url)),
            Change::Create { part } => format!("Posted {}{}", what(*part), at(&d.url)),
            Change::Delete { part, .. } if *part > total => {
                format!("Deleted part {part} of the earlier plan comment (no longer needed).")
            }
            Change::Delete { part, .. } => {
                format!("Deleted a second copy of part {part} of the plan comment.")
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_urls() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            run_url(env(&[
                ("GITHUB_SERVER_URL", "https://github.com/"),
                ("GITHUB_REPOSITORY", "acme/models"),
                ("GITHUB_RUN_ID", "123"),
            ])),
            Some("https://github.com/acme/models/actions/runs/123".to_string())
        );
        assert_eq!(
            run_url(env(&[
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_REPOSITORY", "acme/models"),
            ])),
            None
        );
    }
}
