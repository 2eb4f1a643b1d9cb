//! Semantic rules: what a schema cannot say — names, uniqueness, references
//! between files, traffic arithmetic, durations, pinned dependencies. Every
//! broken rule becomes a diagnostic; only a clean repository yields a [`Desired`].
//!
//! Here: the entry point (`resolve`), the checks across files, policy gates,
//! the name and word checks other layers share, and the duration and quantity
//! checks the kinds share. Each kind's own rules: `model`, `deployment`,
//! `config`.

mod config;
mod deployment;
mod model;

use std::collections::{BTreeMap, BTreeSet};

use self::config::check_config;
use self::deployment::check_deployment;
use self::model::check_model;
use super::common::{Quantity, Unit, parse_duration};
use super::config::ConfigSpec;
use super::desired::{Desired, DesiredDeployment, DesiredModel};
use super::diagnostic::{Diagnostic, escape_segment};
use super::load::{Manifest, SourceFile, kind_of_path};
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
        if let Some(drill) = &p.spec.production_requires.rollback_drill {
            let at = "/spec/production_requires/rollback_drill";
            check_duration(path, format!("{at}/within"), &drill.within.0, &mut diags);
            check_duration(path, format!("{at}/sla"), &drill.sla.0, &mut diags);
        }
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
