//! Planning: validate the repository, observe the registry, serving and
//! metrics, and plan (`modelops plan`, and `modelops apply` without a saved
//! plan). On a pull request (`base`), only the changed models are planned,
//! with the base's trusted settings.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context as _, Result};

use super::approvals::{self, SignOffs};
use super::{Context, Loaded, load};
use crate::http::redact;
use crate::manifest::config::ConfigSpec;
use crate::manifest::trusted::{TrustedSettings, setting_changes};
use crate::manifest::{Desired, Diagnostic, SourceFile};
use crate::observe;
use crate::reconcile::{
    Observations, Plan, PlanSource, Scope, gate_candidates, plan, rollback_candidates,
    runs_to_verify,
};
use crate::source::changed_files;
use crate::state::ActualState;

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The git revision whose files are planned (default: the working tree).
    pub rev: Option<String>,
    /// The pull request's base revision: plan only what changed since, with
    /// its trusted settings.
    pub base: Option<String>,
    /// Plan only these models (empty: every model the other options
    /// leave). A name the repository does not declare is an error.
    pub models: Vec<String>,
    /// The pull request whose reviews sign off (`--pr`), an operator's
    /// override, and GitHub's answers so far.
    pub sign_offs: SignOffs,
}

/// A plan computed from the repository and the state, or the validation errors.
pub enum Planned {
    /// The plan, the configuration of the files it was computed from, and
    /// the inputs, which the caller frees or lets go at exit.
    Plan(Box<Plan>, Box<ConfigSpec>, Inputs),
    /// The repository is invalid: every error (paths as the user sees
    /// them), and how many files were read.
    Invalid(Vec<Diagnostic>, usize),
}

/// The desired and actual state a plan was computed from, held (never read)
/// so the caller chooses when they are freed.
pub struct Inputs(
    #[allow(dead_code)] Box<Desired>,
    #[allow(dead_code)] ActualState,
);

/// Validates, observes, and plans.
pub fn compute(ctx: &Context, req: &Request) -> Result<Planned> {
    let (rev, base) = (req.rev.as_deref(), req.base.as_deref());
    let (desired, files, commit) = match load(ctx, rev)? {
        Loaded::Valid {
            desired,
            files,
            commit,
        } => (desired, files, commit),
        Loaded::Invalid(diags, files) => return Ok(Planned::Invalid(diags, files)),
    };
    check_names(&desired, &req.models)?;
    // On a pull request every setting that reaches outside (registry,
    // state, serving targets, providers, benchmarks) is the base's.
    let (scope, diffs, trusted, after_merge) = match base {
        None => (
            Scope::All,
            BTreeMap::new(),
            TrustedSettings::own(&desired),
            Vec::new(),
        ),
        Some(b) => {
            let (base_files, _) = ctx
                .read_files(Some(b))
                .with_context(|| format!("cannot read --base {b}"))?;
            let trusted = TrustedSettings::from_base(b, &base_files).map_err(anyhow::Error::msg)?;
            let changes = setting_changes(&base_files, &files, redact::url);
            let (scope, diffs) = changed_scope(&desired, &base_files, &files);
            (scope, diffs, trusted, changes)
        }
    };
    let scope = narrow(scope, &req.models);
    let config = &trusted.config;
    // The files' text is needed again only to locate refused changes, which
    // are rare: free it before the state is read, and re-read if needed.
    drop(files);
    let mut store = ctx.registry(config)?;
    let actual = store
        .observe()
        .with_context(|| format!("cannot read {}", store.describe()))?;
    let mut actual = actual;
    // Every target is read, deployed or not: a route whose deployment was
    // removed is still there, and the plan removes it.
    let mut targets = ctx.serving_targets(config)?;
    let serving = observe::observe_serving(&desired, &mut targets)?;
    let routed = observe::routed_on(&serving);
    actual.serving = serving.owned;
    actual.unowned_routes = serving.unowned;
    let runs = runs_to_verify(&desired, &actual, &scope);
    let candidates = gate_candidates(&desired, &actual, &scope);
    let mut observations = Observations {
        run_metrics: observe::run_metrics(store.as_mut(), &runs)?,
        gates: observe::gate_observations(
            store.as_mut(),
            &candidates,
            &ctx.repo,
            Some((&desired, &trusted)),
        ),
        metrics: Default::default(),
    };
    // Sign-offs of owners mapped to GitHub identities, by the trusted
    // (base) configuration: a pull request cannot choose who approves it.
    let needed = approvals::needed_by_candidates(&desired, &candidates);
    observations.gates.sign_offs = approvals::evidence(
        ctx,
        &req.sign_offs,
        trusted.config.owner_identities(),
        &needed,
        commit.as_deref(),
    );
    let rollback = rollback_candidates(&desired, &actual, &scope);
    if !rollback.is_empty() {
        observe::rollback_evidence(
            store.as_mut(),
            &actual,
            &rollback,
            &routed,
            &targets,
            &mut observations.gates,
        );
    }
    if !desired.deployments.is_empty() {
        let mut providers = ctx.metrics_providers(config)?;
        observe::rollout_metrics(
            &desired,
            &actual,
            &mut observations,
            ctx.now,
            &scope,
            &mut providers,
        );
    }
    let mut p = plan(&desired, &actual, &observations, ctx.now, &scope);
    // Adopting a version records git's metrics: verified against its run
    // first, which only this plan could tell.
    let adopted = crate::reconcile::adopt::runs_to_verify(&p, &actual, &observations);
    if !adopted.is_empty() {
        let read = observe::run_metrics(store.as_mut(), &adopted)?;
        observations.run_metrics.extend(read);
        p = plan(&desired, &actual, &observations, ctx.now, &scope);
    }
    p.source = PlanSource {
        repo: ctx.repo.display().to_string(),
        revision: rev.map(str::to_string),
        commit,
        base: base.map(str::to_string),
        models: req.models.clone(),
        pr: req.sign_offs.pr,
    };
    p.after_merge = after_merge;
    for m in &mut p.models {
        m.manifest_diff = diffs.get(&m.model).cloned();
    }
    if !p.held_by_rollback.is_empty() || !p.diverged.is_empty() {
        let (files, _) = ctx.read_files(rev)?;
        fill_patches(&mut p, &desired, &files);
    }
    if !p.errors.is_empty() {
        let (files, _) = ctx.read_files(rev)?;
        p.errors = ctx.display_paths(crate::manifest::finish(
            std::mem::take(&mut p.errors),
            &files,
        ));
    }
    let config = Box::new(desired.config.clone());
    Ok(Planned::Plan(Box::new(p), config, Inputs(desired, actual)))
}

/// Refuses model names the repository does not declare, all of them at
/// once, each with the closest declared name when one is near.
fn check_names(desired: &Desired, names: &[String]) -> Result<()> {
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| !desired.models.contains_key(n.as_str()))
        .map(|n| {
            let hint = crate::manifest::suggest::did_you_mean(
                n,
                desired.models.keys().map(String::as_str),
            );
            format!("no model named `{n}` in models/{hint}")
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{}
The models this repository declares: {}.",
        unknown.join("\n"),
        desired
            .models
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `scope` limited to `models`, when any are named.
fn narrow(scope: Scope, models: &[String]) -> Scope {
    if models.is_empty() {
        return scope;
    }
    let named = models.iter().cloned();
    match scope {
        Scope::All => Scope::Only(named.collect()),
        Scope::Only(set) => Scope::Only(named.filter(|m| set.contains(m)).collect()),
    }
}

/// The models whose manifests (or the policy or config they depend on)
/// differ between `base` and `head`, and each one's unified diff.
fn changed_scope(
    desired: &Desired,
    base: &[SourceFile],
    head: &[SourceFile],
) -> (Scope, BTreeMap<String, String>) {
    let changed = changed_files(base, head);
    let mut models = BTreeSet::new();
    let mut diffs: BTreeMap<String, String> = BTreeMap::new();
    let config_changed = changed
        .keys()
        .any(|p| p == "modelops.yaml" || p == "modelops.yml");
    let changed_policies: BTreeSet<&str> = desired
        .policy_files
        .iter()
        .filter(|(_, file)| changed.contains_key(*file))
        .map(|(name, _)| name.as_str())
        .collect();
    for (name, model) in &desired.models {
        let deployment_file = desired.deployments.get(name).map(|d| d.file.as_str());
        let files = [Some(model.file.as_str()), deployment_file];
        let mut diff = String::new();
        for path in files.into_iter().flatten() {
            if let Some((before, after)) = changed.get(path) {
                models.insert(name.clone());
                diff.push_str(&unified(path, before, after));
            }
        }
        if !diff.is_empty() {
            diffs.insert(name.clone(), diff);
        }
        if config_changed || changed_policies.contains(model.policy.as_str()) {
            models.insert(name.clone());
        }
    }
    (Scope::Only(models), diffs)
}

/// The change to a model's manifest that puts each listed version at the
/// given stage (versions already there are left alone): what makes git
/// agree with a rollback, a rejection or a failed rollout.
fn stage_patch(
    files: &[SourceFile],
    model: &crate::manifest::DesiredModel,
    wanted: &[(&crate::manifest::VersionId, crate::manifest::Stage)],
) -> Option<String> {
    use crate::manifest::Diagnostic;
    let file = files.iter().find(|f| f.path == model.file)?;
    let text = std::str::from_utf8(file.content.as_ref().ok()?).ok()?;
    let mut edits = Vec::new();
    for (id, stage) in wanted {
        let v = model.version(id)?;
        if v.spec.stage != *stage {
            edits.push((v, *stage));
        }
    }
    let diags: Vec<Diagnostic> = edits
        .iter()
        .map(|(v, _)| {
            Diagnostic::pointer(&model.file, format!("{}/stage", v.pointer()), "patch", "")
        })
        .collect();
    let located = crate::manifest::finish(diags, std::slice::from_ref(file));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for d in &located {
        let (Some(line), Some(col)) = (d.line, d.column) else {
            return None;
        };
        let (v, stage) = edits
            .iter()
            .find(|(v, _)| d.pointer.as_deref() == Some(&format!("{}/stage", v.pointer())))?;
        let current = v.spec.stage.as_str();
        let l = lines.get_mut(line - 1)?;
        let start = l.char_indices().nth(col - 1).map(|(i, _)| i)?;
        if !l[start..].starts_with(current) {
            return None;
        }
        l.replace_range(start..start + current.len(), stage.as_str());
    }
    let mut after = lines.join("\n");
    if text.ends_with('\n') {
        after.push('\n');
    }
    Some(unified(&model.file, text, &after))
}

/// Fills in the patches of rollback holds and diverged versions: each
/// model's manifest with every diverged version at the stage it has.
fn fill_patches(p: &mut Plan, desired: &Desired, files: &[SourceFile]) {
    use crate::manifest::Stage;
    for h in &mut p.held_by_rollback {
        if let Some(model) = desired.models.get(&h.model) {
            let mut wanted = vec![(&h.to, Stage::Production)];
            wanted.extend(h.from.as_ref().map(|f| (f, h.from_becomes)));
            h.patch = stage_patch(files, model, &wanted);
        }
    }
    let mut by_model: BTreeMap<&str, Vec<(&crate::manifest::VersionId, Stage)>> = BTreeMap::new();
    for d in &p.diverged {
        by_model
            .entry(d.model.as_str())
            .or_default()
            .push((&d.version, d.actual));
    }
    let patches: BTreeMap<String, Option<String>> = by_model
        .into_iter()
        .filter_map(|(name, wanted)| {
            let model = desired.models.get(name)?;
            Some((name.to_string(), stage_patch(files, model, &wanted)))
        })
        .collect();
    for d in &mut p.diverged {
        d.patch = patches.get(&d.model).cloned().flatten();
    }
}

fn unified(path: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
