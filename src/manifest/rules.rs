//! Semantic rules: what a schema cannot say — names, uniqueness, references
//! between files, traffic arithmetic, durations, pinned dependencies. Every
//! broken rule becomes a diagnostic; only a clean repository yields a [`Desired`].

use std::collections::{BTreeMap, BTreeSet};

use super::common::{Quantity, Stage, Unit, VersionId, parse_duration};
use super::config::{ConfigSpec, MetricsType, ServingType};
use super::deployment::{DeploymentManifest, Monitoring};
use super::desired::{Desired, DesiredDeployment, DesiredModel, DesiredVersion, Strategy};
use super::diagnostic::{Diagnostic, escape_segment};
use super::load::{Manifest, SourceFile, kind_of_path};
use super::model::{ModelManifest, SIGNATURE_TYPES, SignatureColumn};
use super::policy::{DEFAULT_POLICY, Gates, PolicySpec};
use super::schema::Kind;
use super::yaml;

/// Names declared by files that failed their own checks, so other files are
/// not blamed for referring to them.
#[derive(Debug, Default)]
pub struct Broken {
    names: BTreeSet<(Kind, String)>,
    unnamed: BTreeSet<Kind>,
}

impl Broken {
    /// Records a file that failed: its kind, and its `metadata.name` if the
    /// YAML can be read at all.
    pub fn note(&mut self, file: &SourceFile) {
        let Some(kind) = kind_of_path(&file.path) else {
            return;
        };
        let name = file
            .content
            .as_ref()
            .ok()
            .and_then(|bytes| yaml::parse(&file.path, bytes).ok())
            .and_then(|v| {
                v.pointer("/metadata/name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
            });
        match name {
            Some(n) => {
                self.names.insert((kind, n));
            }
            None => {
                self.unnamed.insert(kind);
            }
        }
    }

    /// Whether a reference to `name` of `kind` may be to a broken file.
    fn may_define(&self, kind: Kind, name: &str) -> bool {
        self.unnamed.contains(&kind) || self.names.contains(&(kind, name.to_string()))
    }
}

/// Checks the rules across all typed manifests. `manifests` are `(path,
/// manifest)`; `broken` names what files that failed would have defined.
pub fn resolve(
    manifests: Vec<(String, Manifest)>,
    broken: &Broken,
) -> Result<Desired, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut models = Vec::new();
    let mut deployments = Vec::new();
    let mut policies = Vec::new();
    let mut configs = Vec::new();
    for (path, m) in manifests {
        match m {
            Manifest::Model(m) => models.push((path, m)),
            Manifest::Deployment(d) => deployments.push((path, d)),
            Manifest::Policy(p) => policies.push((path, p)),
            Manifest::Config(c) => configs.push((path, c)),
        }
    }

    let config = match configs.as_slice() {
        [] => ConfigSpec::default(),
        [(path, c)] => {
            check_config(path, &c.spec, &mut diags);
            c.spec.clone()
        }
        [(first, _), rest @ ..] => {
            for (path, _) in rest {
                diags.push(Diagnostic::file(
                    path,
                    "single-config",
                    format!("a second configuration file: {first} is already the repository's configuration"),
                ));
            }
            configs[0].1.spec.clone()
        }
    };

    let mut policy_map: BTreeMap<String, PolicySpec> =
        BTreeMap::from([(DEFAULT_POLICY.to_string(), PolicySpec::guidelines())]);
    let mut policy_files: BTreeMap<String, String> = BTreeMap::new();
    for (path, p) in &policies {
        let name = &p.metadata.name;
        if let Some(other) = policy_files.get(name) {
            diags.push(Diagnostic::pointer(
                path,
                "/metadata/name",
                "unique-policy",
                format!("policy `{name}` is also defined in {other}"),
            ));
            continue;
        }
        check_gates(path, "/spec/staging", &p.spec.staging, &mut diags);
        check_gates(path, "/spec/production", &p.spec.production, &mut diags);
        policy_files.insert(name.clone(), path.clone());
        policy_map.insert(name.clone(), p.spec.clone());
    }

    let mut model_map: BTreeMap<String, DesiredModel> = BTreeMap::new();
    let mut model_files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, m) in &models {
        model_files
            .entry(m.metadata.name.clone())
            .or_default()
            .push(path.clone());
    }
    for (path, m) in models {
        let name = m.metadata.name.clone();
        let files = &model_files[&name];
        if files.len() > 1 {
            let others: Vec<&str> = files
                .iter()
                .filter(|f| **f != path)
                .map(String::as_str)
                .collect();
            diags.push(Diagnostic::pointer(
                &path,
                "/metadata/name",
                "unique-model",
                format!(
                    "model `{name}` is defined in more than one file: also in {}",
                    others.join(", ")
                ),
            ));
            continue;
        }
        if let Some(model) = check_model(&path, *m, &policy_map, broken, &mut diags) {
            model_map.insert(name, model);
        }
    }

    for (path, p) in &policies {
        for (i, waived) in p
            .spec
            .production_requires
            .evidence_waived_for
            .iter()
            .enumerate()
        {
            if !model_map.contains_key(waived) && !model_files.contains_key(waived) {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("/spec/production_requires/evidence_waived_for/{i}"),
                    "known-model",
                    format!("model `{waived}` is not defined in models/"),
                ));
            }
        }
    }

    let mut deployment_map: BTreeMap<String, DesiredDeployment> = BTreeMap::new();
    let mut deployment_names: BTreeMap<String, String> = BTreeMap::new();
    let mut deployment_by_model: BTreeMap<String, String> = BTreeMap::new();
    for (path, d) in deployments {
        if let Some(other) = deployment_names.get(&d.metadata.name) {
            diags.push(Diagnostic::pointer(
                &path,
                "/metadata/name",
                "unique-deployment",
                format!(
                    "deployment `{}` is also defined in {other}",
                    d.metadata.name
                ),
            ));
            continue;
        }
        deployment_names.insert(d.metadata.name.clone(), path.clone());
        if let Some(other) = deployment_by_model.get(&d.spec.model) {
            diags.push(Diagnostic::pointer(
                &path,
                "/spec/model",
                "unique-deployment",
                format!(
                    "model `{}` already has a deployment in {other}: one deployment per model",
                    d.spec.model
                ),
            ));
            continue;
        }
        deployment_by_model.insert(d.spec.model.clone(), path.clone());
        let model_name = d.spec.model.clone();
        let known_model =
            model_files.contains_key(&model_name) || broken.may_define(Kind::Model, &model_name);
        if let Some(dep) = check_deployment(
            &path,
            *d,
            model_map.get(&model_name),
            known_model,
            &model_files,
            &config,
            &mut diags,
        ) {
            deployment_map.insert(dep.model.clone(), dep);
        }
    }

    if diags.is_empty() {
        Ok(Desired {
            config,
            models: model_map,
            deployments: deployment_map,
            policies: policy_map,
            policy_files,
        })
    } else {
        Err(diags)
    }
}

/// `<domain>-<task>`: at least two lowercase alphanumeric words joined by single hyphens.
pub fn valid_model_name(name: &str) -> bool {
    let words: Vec<&str> = name.split('-').collect();
    words.len() >= 2
        && words.iter().all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && name.as_bytes()[0].is_ascii_lowercase()
        && name.len() <= 63
}

/// A name modelops writes into files, configuration and comments as is:
/// a serving target's or a deployment's. Letters, digits, `.`, `_` and
/// `-`, starting with a letter or digit, at most 63 characters: nothing
/// that could end a line or a comment, quote, or reach outside a file name.
pub fn valid_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// An address pasted into an nginx directive (`listen`, `server`): one
/// word of letters, digits and `.`, `_`, `-`, `:`, `/`, `[`, `]`, such as
/// `127.0.0.1:8081`, `[::1]:9000` or `unix:/run/models/a.sock`. Nothing
/// nginx parses (spaces, quotes, `;`, braces, `#`, `$`) can be in it.
pub fn valid_nginx_address(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= 255
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:/[]".contains(&b))
}

/// A sticky header name as nginx reads request headers: letters, digits
/// and dashes (nginx drops headers with underscores by default).
pub fn valid_sticky_header(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A sticky cookie name as nginx's `$cookie_` variables read it: letters,
/// digits and underscores.
pub fn valid_sticky_cookie(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// An exact pin: `1.5.2` or `==1.5.2`; ranges, wildcards and names such as `latest` are not.
pub fn is_pinned(spec: &str) -> bool {
    let v = spec.trim();
    let v = v.strip_prefix("==").unwrap_or(v).trim();
    !v.is_empty()
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-!".contains(&b))
}

fn check_model(
    path: &str,
    m: ModelManifest,
    policies: &BTreeMap<String, PolicySpec>,
    broken: &Broken,
    diags: &mut Vec<Diagnostic>,
) -> Option<DesiredModel> {
    let before = diags.len();
    let name = &m.metadata.name;
    if !valid_model_name(name) {
        diags.push(Diagnostic::pointer(
            path,
            "/metadata/name",
            "model-name",
            format!("model name `{name}` must follow <domain>-<task>: lowercase words joined by hyphens, such as churn-predictor"),
        ));
    }
    if m.metadata.owner.trim().is_empty() {
        diags.push(Diagnostic::pointer(
            path,
            "/metadata/owner",
            "owner",
            "owner must name a team or a person",
        ));
    }
    let policy = m
        .spec
        .policy
        .clone()
        .unwrap_or_else(|| DEFAULT_POLICY.to_string());
    if !policies.contains_key(&policy) && !broken.may_define(Kind::Policy, &policy) {
        let known: Vec<&str> = policies.keys().map(String::as_str).collect();
        diags.push(Diagnostic::pointer(
            path,
            "/spec/policy",
            "known-policy",
            format!(
                "policy `{policy}` is not defined; known policies: {}",
                known.join(", ")
            ),
        ));
    }
    if m.spec.versions.is_empty() {
        diags.push(Diagnostic::pointer(
            path,
            "/spec/versions",
            "versions",
            "a model needs at least one version",
        ));
    }
    let mut seen: BTreeMap<&VersionId, usize> = BTreeMap::new();
    let mut production: Option<(usize, &VersionId)> = None;
    for (i, v) in m.spec.versions.iter().enumerate() {
        let at = format!("/spec/versions/{i}");
        if let Some(first) = seen.insert(&v.version, i) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/version"),
                "unique-version",
                format!(
                    "version {} is declared twice (entries {} and {})",
                    v.version,
                    first + 1,
                    i + 1
                ),
            ));
        }
        if v.stage == Stage::Production {
            if let Some((_, other)) = production {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/stage"),
                    "single-production",
                    format!("versions {other} and {} are both Production: at most one version of a model serves", v.version),
                ));
            } else {
                production = Some((i, &v.version));
            }
        }
        if v.source.trim().is_empty() {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/source"),
                "source",
                "source must say where the artifact is, such as runs:/<run_id>/model",
            ));
        }
        if let (Some(run), Some(rest)) = (&v.training_run_id, v.source.strip_prefix("runs:/")) {
            let source_run = rest.split('/').next().unwrap_or("");
            if source_run != run {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/source"),
                    "source",
                    format!("source names run `{source_run}` but training_run_id is `{run}`: a runs:/ source must come from the training run"),
                ));
            }
        }
        for (name, value) in &v.metrics {
            if !value.is_finite() {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/metrics/{}", escape_segment(name)),
                    "finite",
                    format!(
                        "metric `{name}` must be a finite number, found {}",
                        yaml_float(*value)
                    ),
                ));
            }
        }
        for (attr, groups) in &v.fairness {
            if groups.is_empty() {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/fairness/{}", escape_segment(attr)),
                    "fairness",
                    format!("protected attribute `{attr}` lists no groups"),
                ));
            }
            for (group, value) in groups {
                if !value.is_finite() {
                    diags.push(Diagnostic::pointer(
                        path,
                        format!(
                            "{at}/fairness/{}/{}",
                            escape_segment(attr),
                            escape_segment(group)
                        ),
                        "finite",
                        format!(
                            "fairness score of `{attr}` group `{group}` must be a finite number, found {}",
                            yaml_float(*value)
                        ),
                    ));
                }
            }
        }
        if let Some(sig) = &v.signature {
            check_columns(path, &format!("{at}/signature/inputs"), &sig.inputs, diags);
            check_columns(
                path,
                &format!("{at}/signature/outputs"),
                &sig.outputs,
                diags,
            );
        }
        for (lib, pin) in &v.dependencies {
            if !is_pinned(pin) {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/dependencies/{}", escape_segment(lib)),
                    "pinned-dependency",
                    format!("dependency `{lib}: {pin}` is not pinned: give the exact version, such as \"1.5.2\""),
                ));
            }
        }
    }
    if diags.len() > before {
        return None;
    }
    let mut versions: Vec<DesiredVersion> = m
        .spec
        .versions
        .into_iter()
        .enumerate()
        .map(|(index, spec)| DesiredVersion { spec, index })
        .collect();
    versions.sort_by(|a, b| a.spec.version.cmp(&b.spec.version));
    Some(DesiredModel {
        name: m.metadata.name,
        owner: m.metadata.owner,
        description: m.metadata.description,
        policy,
        versions,
        file: path.to_string(),
    })
}

/// A float as YAML writes it (`.nan`, `.inf`, `-.inf`).
fn yaml_float(v: f64) -> String {
    if v.is_nan() {
        ".nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        v.to_string()
    }
}

fn check_columns(path: &str, at: &str, columns: &[SignatureColumn], diags: &mut Vec<Diagnostic>) {
    let mut names = BTreeSet::new();
    for (i, c) in columns.iter().enumerate() {
        if c.name.trim().is_empty() {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/{i}/name"),
                "signature",
                "column name is empty",
            ));
        } else if !names.insert(c.name.as_str()) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/{i}/name"),
                "signature",
                format!("column `{}` appears twice", c.name),
            ));
        }
        if !SIGNATURE_TYPES.contains(&c.column_type.as_str()) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/{i}/type"),
                "signature",
                format!(
                    "column type `{}` is not an MLflow type; use one of {}",
                    c.column_type,
                    SIGNATURE_TYPES.join(", ")
                ),
            ));
        }
    }
}

fn check_gates(path: &str, at: &str, gates: &Gates, diags: &mut Vec<Diagnostic>) {
    if let Some(b) = &gates.benchmark {
        let endpoint = b.endpoint.trim();
        let authority = endpoint
            .split_once("://")
            .map_or(endpoint, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/benchmark/endpoint"),
                "benchmark",
                "the benchmark endpoint must be an http:// or https:// URL",
            ));
        } else if authority.contains('@') {
            // Policies live in git and plans carry them: a password here
            // would be published with every plan.
            diags.push(Diagnostic::pointer(
                path,
                format!("{at}/benchmark/endpoint"),
                "benchmark",
                "the benchmark endpoint must not hold credentials (user:password@): policies are committed and copied into every plan",
            ));
        }
    }
    for (name, gate) in &gates.metrics {
        let here = format!("{at}/metrics/{}", escape_segment(name));
        if gate.threshold.is_none() && gate.max_regression.is_none() {
            diags.push(Diagnostic::pointer(
                path,
                here.clone(),
                "policy",
                format!("gate on `{name}` sets neither threshold nor max_regression"),
            ));
        }
        if gate.threshold.is_some_and(|t| !t.is_finite()) {
            diags.push(Diagnostic::pointer(
                path,
                format!("{here}/threshold"),
                "finite",
                "threshold must be a finite number",
            ));
        }
    }
}

fn check_duration(path: &str, at: String, text: &str, diags: &mut Vec<Diagnostic>) {
    if let Err(why) = parse_duration(text) {
        diags.push(Diagnostic::pointer(path, at, "duration", why));
    }
}

fn check_quantity(
    path: &str,
    at: String,
    q: &Option<Quantity>,
    unit: Unit,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(q) = q
        && let Err(why) = q.value(unit)
    {
        diags.push(Diagnostic::pointer(path, at, "quantity", why));
    }
}

fn check_deployment(
    path: &str,
    d: DeploymentManifest,
    model: Option<&DesiredModel>,
    known_model: bool,
    model_files: &BTreeMap<String, Vec<String>>,
    config: &ConfigSpec,
    diags: &mut Vec<Diagnostic>,
) -> Option<DesiredDeployment> {
    let before = diags.len();
    let spec = &d.spec;
    if !valid_name(&d.metadata.name) {
        diags.push(Diagnostic::pointer(
            path,
            "/metadata/name",
            "deployment-name",
            format!(
                "deployment name `{}` must be letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 63 characters",
                d.metadata.name
            ),
        ));
    }
    if !known_model {
        let known: Vec<&str> = model_files.keys().map(String::as_str).take(10).collect();
        diags.push(Diagnostic::pointer(
            path,
            "/spec/model",
            "known-model",
            format!(
                "model `{}` is not defined in models/; known models: {}",
                spec.model,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    if !config.has_target(&spec.target) {
        let mut known: Vec<&str> = vec!["local"];
        known.extend(
            config
                .serving
                .targets
                .keys()
                .map(String::as_str)
                .filter(|k| *k != "local"),
        );
        diags.push(Diagnostic::pointer(
            path,
            "/spec/target",
            "known-target",
            format!(
                "serving target `{}` is not in modelops.yaml serving.targets; known targets: {}",
                spec.target,
                known.join(", ")
            ),
        ));
    }
    if let Some(m) = model
        && !m.versions.iter().any(|v| v.spec.stage == Stage::Production)
    {
        // Archiving every version of a model its deployment still routes
        // would leave the route pointing at Archived versions.
        diags.push(Diagnostic::pointer(
            &m.file,
            "/spec/versions",
            "production-while-routed",
            format!(
                "{} has no Production version, but {path} routes its traffic: keep a version in Production, or remove the deployment",
                m.name
            ),
        ));
    }
    match &spec.analysis.provider {
        Some(p) if !config.metrics.contains_key(p) => diags.push(Diagnostic::pointer(
            path,
            "/spec/analysis/provider",
            "known-provider",
            format!(
                "metrics provider `{p}` is not in modelops.yaml metrics; known providers: {}",
                if config.metrics.is_empty() {
                    "none".to_string()
                } else {
                    config.metrics.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        )),
        None if config.metrics.len() > 1 && spec.direct.is_none() => {
            diags.push(Diagnostic::pointer(
                path,
                "/spec",
                "known-provider",
                format!(
                    "modelops.yaml declares several metrics providers ({}): name the one this deployment's analysis reads in analysis.provider",
                    config.metrics.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ))
        }
        _ => {}
    }
    let given: Vec<&str> = [
        ("shadow", spec.shadow.is_some()),
        ("canary", spec.canary.is_some()),
        ("ab_test", spec.ab_test.is_some()),
        ("direct", spec.direct.is_some()),
    ]
    .into_iter()
    .filter_map(|(n, g)| g.then_some(n))
    .collect();
    if given.len() != 1 {
        diags.push(Diagnostic::pointer(
            path,
            "/spec",
            "one-strategy",
            if given.is_empty() {
                "no strategy: give exactly one of shadow, canary, ab_test or direct".to_string()
            } else {
                format!(
                    "{} strategies ({}): give exactly one of shadow, canary, ab_test or direct",
                    given.len(),
                    given.join(", ")
                )
            },
        ));
    }
    let check_version = |at: String, v: &VersionId, diags: &mut Vec<Diagnostic>| {
        if let Some(m) = model
            && m.version(v).is_none()
        {
            diags.push(Diagnostic::pointer(
                path,
                at,
                "known-version",
                format!("model `{}` has no version {v} in {}", m.name, m.file),
            ));
        }
    };
    if let Some(s) = &spec.shadow {
        if let Some(p) = &s.primary {
            check_version("/spec/shadow/primary/version".into(), &p.version, diags);
        }
        check_version(
            "/spec/shadow/shadow/version".into(),
            &s.shadow.version,
            diags,
        );
        if s.primary
            .as_ref()
            .is_some_and(|p| p.version == s.shadow.version)
        {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/shadow/shadow/version",
                "shadow",
                "the shadow version is the primary version: shadow a different version",
            ));
        }
        if s.comparison.metrics.is_empty() {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/shadow/comparison/metrics",
                "shadow",
                "list at least one metric to compare",
            ));
        }
        check_duration(
            path,
            "/spec/shadow/comparison/duration".into(),
            &s.comparison.duration.0,
            diags,
        );
    }
    if let Some(c) = &spec.canary {
        if let Some(v) = &c.model_version {
            check_version("/spec/canary/model_version".into(), v, diags);
        }
        if c.stages.is_empty() {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/canary/stages",
                "canary",
                "a canary needs at least one stage, the last at 100%",
            ));
        }
        let mut last = 0u8;
        for (i, stage) in c.stages.iter().enumerate() {
            let at = format!("/spec/canary/stages/{i}");
            if stage.traffic_percent <= last {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/traffic_percent"),
                    "canary",
                    format!(
                        "traffic must strictly increase from stage to stage: {}% follows {last}%",
                        stage.traffic_percent
                    ),
                ));
            }
            last = last.max(stage.traffic_percent);
            check_duration(path, format!("{at}/duration"), &stage.duration.0, diags);
            if let Some(r) = &stage.rollback_if {
                check_quantity(
                    path,
                    format!("{at}/rollback_if/error_rate_increase"),
                    &r.error_rate_increase,
                    Unit::Percent,
                    diags,
                );
                check_quantity(
                    path,
                    format!("{at}/rollback_if/latency_p99_increase"),
                    &r.latency_p99_increase,
                    Unit::Millis,
                    diags,
                );
                check_quantity(
                    path,
                    format!("{at}/rollback_if/accuracy_drop"),
                    &r.accuracy_drop,
                    Unit::Percent,
                    diags,
                );
            }
        }
        if let Some(final_stage) = c.stages.last()
            && final_stage.traffic_percent != 100
        {
            diags.push(Diagnostic::pointer(
                path,
                format!("/spec/canary/stages/{}/traffic_percent", c.stages.len() - 1),
                "canary",
                format!(
                    "the last canary stage must send 100% of traffic, not {}%",
                    final_stage.traffic_percent
                ),
            ));
        }
    }
    if let Some(ab) = &spec.ab_test {
        check_version(
            "/spec/ab_test/control/version".into(),
            &ab.control.version,
            diags,
        );
        check_version(
            "/spec/ab_test/treatment/version".into(),
            &ab.treatment.version,
            diags,
        );
        let total = u16::from(ab.control.traffic_percent) + u16::from(ab.treatment.traffic_percent);
        if total != 100 {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/ab_test/treatment/traffic_percent",
                "ab-traffic",
                format!(
                    "control and treatment traffic must sum to 100, not {total} ({} + {})",
                    ab.control.traffic_percent, ab.treatment.traffic_percent
                ),
            ));
        }
        if ab.control.version == ab.treatment.version {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/ab_test/treatment/version",
                "ab-arms",
                "control and treatment are the same version",
            ));
        }
        if let Some(sticky) = &ab.sticky
            && sticky.header.is_some() == sticky.cookie.is_some()
        {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/ab_test/sticky",
                "ab-sticky",
                "sticky takes exactly one of header or cookie",
            ));
        }
        if let Some(header) = ab.sticky.as_ref().and_then(|s| s.header.as_ref())
            && !valid_sticky_header(header)
        {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/ab_test/sticky/header",
                "ab-sticky",
                format!("sticky header `{header}` must be letters, digits and dashes (as nginx reads header names)"),
            ));
        }
        if let Some(cookie) = ab.sticky.as_ref().and_then(|s| s.cookie.as_ref())
            && !valid_sticky_cookie(cookie)
        {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/ab_test/sticky/cookie",
                "ab-sticky",
                format!("sticky cookie `{cookie}` must be letters, digits and underscores (as nginx reads cookie names)"),
            ));
        }
        if !ab.confidence.is_finite() {
            diags.push(Diagnostic::pointer(
                path,
                "/spec/ab_test/confidence",
                "finite",
                "confidence must be a finite number",
            ));
        }
        check_duration(path, "/spec/ab_test/duration".into(), &ab.duration.0, diags);
    }
    check_monitoring(path, &spec.monitoring, diags);
    if let Some(t) = &spec.analysis.no_data_timeout {
        check_duration(path, "/spec/analysis/no_data_timeout".into(), &t.0, diags);
    }
    if diags.len() > before {
        return None;
    }
    let spec = d.spec;
    let strategy = if let Some(s) = spec.shadow.clone() {
        Strategy::Shadow(s)
    } else if let Some(c) = spec.canary.clone() {
        Strategy::Canary(c)
    } else if let Some(a) = spec.ab_test.clone() {
        Strategy::AbTest(a)
    } else {
        Strategy::Direct
    };
    Some(DesiredDeployment::new(
        d.metadata.name,
        path.to_string(),
        spec,
        strategy,
    ))
}

fn check_monitoring(path: &str, m: &Monitoring, diags: &mut Vec<Diagnostic>) {
    let at = "/spec/monitoring";
    if let Some(w) = &m.window {
        check_duration(path, format!("{at}/window"), &w.0, diags);
    }
    check_quantity(
        path,
        format!("{at}/accuracy_drop"),
        &m.accuracy_drop,
        Unit::Percent,
        diags,
    );
    check_quantity(
        path,
        format!("{at}/latency_p99_sla"),
        &m.latency_p99_sla,
        Unit::Millis,
        diags,
    );
    check_quantity(
        path,
        format!("{at}/error_rate"),
        &m.error_rate,
        Unit::Percent,
        diags,
    );
}

/// Whether MLflow accepts `alias`: letters, digits, `_` and `-`, and not
/// one of its reserved names (`latest`, `v<number>`).
pub fn valid_alias(alias: &str) -> bool {
    let reserved = alias.eq_ignore_ascii_case("latest")
        || (alias.len() > 1
            && alias[..1].eq_ignore_ascii_case("v")
            && alias[1..].bytes().all(|b| b.is_ascii_digit()));
    !alias.is_empty()
        && !reserved
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_config(path: &str, c: &ConfigSpec, diags: &mut Vec<Diagnostic>) {
    if let Some(t) = &c.state.lock_timeout {
        check_duration(path, "/spec/state/lock_timeout".into(), &t.0, diags);
    }
    let mut seen_aliases = BTreeSet::new();
    for (stage, alias) in &c.registry.stage_aliases {
        let at = format!("/spec/registry/stage_aliases/{}", escape_segment(stage));
        if stage != "Production" && stage != "Staging" {
            diags.push(Diagnostic::key(
                path,
                at.clone(),
                "stage-alias",
                format!(
                    "`{stage}` has no alias: only Production and Staging are mirrored by aliases"
                ),
            ));
        }
        if !valid_alias(alias) {
            diags.push(Diagnostic::pointer(path, at.clone(), "stage-alias", format!("`{alias}` is not an alias MLflow accepts: letters, digits, `_` and `-`, not `latest` or `v<number>`")));
        } else if !seen_aliases.insert(alias.as_str()) {
            diags.push(Diagnostic::pointer(
                path,
                at,
                "stage-alias",
                format!("alias `{alias}` is given to two stages"),
            ));
        }
    }
    for (name, target) in &c.serving.targets {
        let at = format!("/spec/serving/targets/{}", escape_segment(name));
        if !valid_name(name) {
            diags.push(Diagnostic::key(
                path,
                at.clone(),
                "target-name",
                format!(
                    "serving target name `{name}` must be letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 63 characters"
                ),
            ));
        }
        check_nginx_addresses(path, &at, target, diags);
        if target.target_type == ServingType::Nginx {
            if target.config_dir.is_none() {
                diags.push(Diagnostic::pointer(
                    path,
                    at.clone(),
                    "nginx-target",
                    format!(
                        "nginx target `{name}` needs config_dir, where its fragments are written"
                    ),
                ));
            }
            if target.upstream_template.is_none() && target.upstreams.is_empty() {
                diags.push(Diagnostic::pointer(path, at.clone(), "nginx-target", format!("nginx target `{name}` needs upstream_template or upstreams, to know where each version listens")));
            }
        }
        if let Some(health) = &target.health_path {
            let problem = if target.target_type != ServingType::Nginx {
                Some("is for nginx targets only")
            } else if !health.starts_with('/') {
                Some("must start with `/`")
            } else if health
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '#')
            {
                Some("must hold no spaces, control characters or `#`")
            } else {
                None
            };
            if let Some(problem) = problem {
                diags.push(Diagnostic::pointer(
                    path,
                    format!("{at}/health_path"),
                    "nginx-target",
                    format!("serving target `{name}`: health_path {problem}"),
                ));
            }
        }
    }
    for (name, p) in &c.metrics {
        let at = format!("/spec/metrics/{}", escape_segment(name));
        match p.provider_type {
            MetricsType::File if p.path.is_none() => diags.push(Diagnostic::pointer(
                path,
                at,
                "metrics-provider",
                format!("file provider `{name}` needs path"),
            )),
            MetricsType::Prometheus if p.url.is_none() => diags.push(Diagnostic::pointer(
                path,
                at,
                "metrics-provider",
                format!("prometheus provider `{name}` needs url"),
            )),
            _ => {}
        }
    }
}

/// Every address a serving target pastes into nginx's configuration:
/// listen addresses, upstream addresses, and the upstream template with
/// its placeholders filled.
fn check_nginx_addresses(
    path: &str,
    at: &str,
    target: &crate::manifest::config::ServingTargetConfig,
    diags: &mut Vec<Diagnostic>,
) {
    let mut bad = |pointer: String, what: &str, value: &str| {
        diags.push(Diagnostic::pointer(
            path,
            pointer,
            "nginx-address",
            format!("{what} `{value}` must be one word of letters, digits and `.`, `_`, `-`, `:`, `/`, `[`, `]`"),
        ));
    };
    for (model, address) in &target.listen {
        if !valid_nginx_address(address) {
            bad(
                format!("{at}/listen/{}", escape_segment(model)),
                "listen address",
                address,
            );
        }
    }
    for (model, versions) in &target.upstreams {
        for (version, address) in versions {
            if !valid_nginx_address(address) {
                bad(
                    format!(
                        "{at}/upstreams/{}/{}",
                        escape_segment(model),
                        escape_segment(version)
                    ),
                    "upstream address",
                    address,
                );
            }
        }
    }
    if let Some(template) = &target.upstream_template {
        let filled = template.replace("{model}", "m").replace("{version}", "1");
        if !valid_nginx_address(&filled) {
            bad(
                format!("{at}/upstream_template"),
                "upstream template",
                template,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_nginx_words() {
        // (value, a valid name, a valid nginx address)
        let rows = [
            ("edge", true, true),
            ("nginx-prod_2.eu", true, true),
            ("127.0.0.1:8081", false, true),
            ("[::1]:9000", false, true),
            ("unix:/run/models/a.sock", false, true),
            ("", false, false),
            ("-edge", false, true),
            ("edge\n}\nserver {", false, false),
            ("edge; include /etc/passwd", false, false),
            ("a#b", false, false),
            ("$host", false, false),
            ("a\"b", false, false),
            ("naïve", false, false),
            ("a\u{202e}b", false, false),
        ];
        for (value, name, address) in rows {
            assert_eq!(valid_name(value), name, "name {value:?}");
            assert_eq!(valid_nginx_address(value), address, "address {value:?}");
        }
        assert!(!valid_name(&"a".repeat(64)));
        assert!(valid_sticky_header("X-User-Id") && !valid_sticky_header("X_User"));
        assert!(valid_sticky_cookie("user_id") && !valid_sticky_cookie("user-id"));
    }

    #[test]
    fn model_names() {
        let cases = [
            ("churn-predictor", true),
            ("fraud-detector-v2", true),
            ("churn", false),
            ("Churn-predictor", false),
            ("churn_predictor", false),
            ("churn--predictor", false),
            ("-churn", false),
            ("churn-", false),
            ("1churn-x", false),
        ];
        for (name, want) in cases {
            assert_eq!(valid_model_name(name), want, "{name}");
        }
    }

    #[test]
    fn aliases() {
        let cases = [
            ("production", true),
            ("prod_2-a", true),
            ("latest", false),
            ("v3", false),
            ("v", true),
            ("vx", true),
            ("has space", false),
            ("", false),
        ];
        for (alias, want) in cases {
            assert_eq!(valid_alias(alias), want, "{alias}");
        }
    }

    #[test]
    fn pins() {
        let cases = [
            ("1.5.2", true),
            ("==1.5.2", true),
            ("2.0.0rc1", true),
            (">=1.5", false),
            ("~=1.5", false),
            ("^1.5", false),
            ("1.*", false),
            ("latest", false),
            ("", false),
            ("1.5,<2", false),
        ];
        for (pin, want) in cases {
            assert_eq!(is_pinned(pin), want, "{pin}");
        }
    }
}
