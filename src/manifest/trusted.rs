//! Trusted settings: everything in the repository that makes modelops open
//! a connection, run a command, or read or write outside the repository —
//! the registry, the state directory, serving targets, metrics providers,
//! benchmarks and retrain triggers — and who counts as an owner on GitHub
//! (`owners`), which decides whose pull-request review is a sign-off.
//!
//! On a pull request (`plan --base B`) the repository is hostile input, so
//! these settings come from the base revision B, never from the pull
//! request: [`TrustedSettings::from_base`] reads them from B's files, and
//! [`setting_changes`] lists what the pull request changes, which takes
//! effect only after merge. A setting the base does not have (a new
//! provider, a new benchmark) is not used at all.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Stage;
use super::config::{ConfigSpec, MetricsProviderConfig, RegistryConfig, ServingTargetConfig};
use super::deployment::Monitoring;
use super::desired::Desired;
use super::load::{Manifest, SourceFile, load_file};
use super::policy::{Benchmark, DEFAULT_POLICY, PolicySpec};

/// The settings I/O is built from: the repository's own, or on a pull
/// request the base revision's.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedSettings {
    /// Registry, state directory, serving targets and metrics providers.
    pub config: ConfigSpec,
    /// Policies by name (their benchmarks).
    pub policies: BTreeMap<String, PolicySpec>,
    /// The file each policy comes from.
    pub policy_files: BTreeMap<String, String>,
    /// The base revision they come from, when not the repository's own.
    pub base: Option<String>,
}

/// A pull request's change to a trusted setting: shown in the plan, used
/// only once merged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SettingChange {
    /// The file that declares it.
    pub file: String,
    /// The setting, as a dotted path (`metrics.prom.url`).
    pub setting: String,
    /// Its value on the base revision (`None`: not set there).
    pub base: Option<String>,
    /// Its value in the pull request (`None`: removed).
    pub head: Option<String>,
}

impl TrustedSettings {
    /// The repository's own settings (no `--base`: the repository is the
    /// trusted branch itself).
    pub fn own(desired: &Desired) -> TrustedSettings {
        TrustedSettings {
            config: desired.config.clone(),
            policies: desired.policies.clone(),
            policy_files: desired.policy_files.clone(),
            base: None,
        }
    }

    /// The settings of the base revision `rev`, from its files. A file the
    /// base cannot parse is an error: nothing falls back to the pull request.
    pub fn from_base(rev: &str, files: &[SourceFile]) -> Result<TrustedSettings, String> {
        let mut out = TrustedSettings {
            config: ConfigSpec::default(),
            policies: BTreeMap::from([(DEFAULT_POLICY.to_string(), PolicySpec::guidelines())]),
            policy_files: BTreeMap::new(),
            base: Some(rev.to_string()),
        };
        for file in files {
            let is_config = file.path == "modelops.yaml" || file.path == "modelops.yml";
            if !is_config && !file.path.starts_with("policies/") {
                continue;
            }
            let unreadable = |_| format!("{rev}:{} cannot be read or is invalid", file.path);
            match load_file(file).map_err(unreadable)? {
                (_, Manifest::Config(c)) => out.config = c.spec,
                (_, Manifest::Policy(p)) => {
                    let name = p.metadata.name.clone();
                    out.policies.insert(name.clone(), p.spec);
                    out.policy_files.insert(name, file.path.clone());
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The benchmark to run for a version moving to `stage` under `policy`,
    /// which the repository asks for as `asked`: the trusted one when it is
    /// the same, else why it is not run.
    pub fn benchmark(&self, policy: &str, stage: Stage, asked: &Benchmark) -> Result<(), String> {
        let trusted = self.policies.get(policy).and_then(|p| match stage {
            Stage::Staging => p.staging.benchmark.as_ref(),
            Stage::Production => p.production.benchmark.as_ref(),
            _ => None,
        });
        let base = self.base.as_deref().unwrap_or("the base revision");
        match trusted {
            Some(b) if b == asked => Ok(()),
            Some(_) => Err(format!(
                "not run: this pull request changes the benchmark (endpoint, payload file or load) \
                 that {base} declares; the change takes effect after merge, and the benchmark runs \
                 before then only unchanged"
            )),
            None => Err(format!(
                "not run: {base} declares no such benchmark; a benchmark this pull request adds \
                 runs after merge"
            )),
        }
    }

    /// The file a policy comes from, or its name for the built-in one.
    pub fn policy_file(&self, policy: &str) -> String {
        self.policy_files
            .get(policy)
            .cloned()
            .unwrap_or_else(|| format!("policy {policy}"))
    }
}

/// The trusted settings the pull request changes: those of `modelops.yaml`,
/// `policies/` and `deployments/` files that differ between `base` and
/// `head`, setting by setting. A file that does not parse on one side
/// counts as setting nothing there. URLs are shown through `show_url`
/// (which takes credentials out).
pub fn setting_changes(
    base: &[SourceFile],
    head: &[SourceFile],
    show_url: fn(&str) -> String,
) -> Vec<SettingChange> {
    fn index(files: &[SourceFile]) -> BTreeMap<&str, &SourceFile> {
        files
            .iter()
            .filter(|f| !f.path.starts_with("models/"))
            .map(|f| (f.path.as_str(), f))
            .collect()
    }
    let (before, after) = (index(base), index(head));
    let mut out = Vec::new();
    for path in before.keys().chain(after.keys()) {
        let (b, h) = (before.get(path).copied(), after.get(path).copied());
        if b.map(|f| &f.content) == h.map(|f| &f.content) {
            continue;
        }
        let settings =
            |f: Option<&SourceFile>| f.map(|f| settings_of(f, show_url)).unwrap_or_default();
        let (b, h) = (settings(b), settings(h));
        for key in b.keys().chain(h.keys()) {
            let (bv, hv) = (b.get(key), h.get(key));
            if bv != hv {
                out.push(SettingChange {
                    file: path.to_string(),
                    setting: key.clone(),
                    base: bv.cloned(),
                    head: hv.cloned(),
                });
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The trusted settings one file declares, by dotted path.
fn settings_of(file: &SourceFile, show_url: fn(&str) -> String) -> BTreeMap<String, String> {
    let redact = show_url;
    let mut out = BTreeMap::new();
    match load_file(file) {
        Ok((_, Manifest::Config(c))) => config_settings(&c.spec, show_url, &mut out),
        Ok((_, Manifest::Policy(p))) => {
            for (stage, gates) in [
                ("staging", &p.spec.staging),
                ("production", &p.spec.production),
            ] {
                if let Some(b) = &gates.benchmark {
                    let at = format!("{stage}.benchmark");
                    out.insert(format!("{at}.endpoint"), redact(&b.endpoint));
                    out.insert(format!("{at}.payload_file"), b.payload_file.clone());
                    out.insert(format!("{at}.requests"), b.requests.to_string());
                    out.insert(format!("{at}.concurrency"), b.concurrency.to_string());
                }
            }
        }
        Ok((_, Manifest::Deployment(d))) => {
            monitoring_settings(&d.spec.monitoring, show_url, &mut out)
        }
        _ => {}
    }
    out
}

fn config_settings(c: &ConfigSpec, redact: fn(&str) -> String, out: &mut BTreeMap<String, String>) {
    let mut set = |key: String, value: Option<&String>| {
        if let Some(v) = value {
            out.insert(key, v.clone());
        }
    };
    set(
        "registry.type".into(),
        Some(&c.registry.type_name().to_string()),
    );
    if let RegistryConfig::Mlflow(m) = &c.registry {
        set(
            "registry.uri".into(),
            m.uri.as_ref().map(|u| redact(u)).as_ref(),
        );
    }
    set("state.dir".into(), c.state.dir.as_ref());
    for (name, t) in &c.serving.targets {
        let at = format!("serving.targets.{name}");
        set(format!("{at}.type"), Some(&t.type_name().to_string()));
        match t {
            ServingTargetConfig::Local(_) => {}
            ServingTargetConfig::Nginx(n) => {
                set(format!("{at}.config_dir"), n.config_dir.as_ref());
                set(format!("{at}.test_command"), n.test_command.as_ref());
                set(format!("{at}.reload_command"), n.reload_command.as_ref());
            }
            ServingTargetConfig::Envoy(e) => {
                set(format!("{at}.config_dir"), e.config_dir.as_ref());
                set(format!("{at}.admin"), e.admin.as_ref());
            }
        }
    }
    // Who signs off: a pull request that maps an owner to its author's
    // account must not approve itself with that mapping.
    for (name, o) in &c.owners {
        set(format!("owners.{name}.github_team"), o.github_team.as_ref());
        set(format!("owners.{name}.github_user"), o.github_user.as_ref());
    }
    for (name, p) in &c.metrics {
        let at = format!("metrics.{name}");
        set(format!("{at}.type"), Some(&p.type_name().to_string()));
        match p {
            MetricsProviderConfig::File(f) => set(format!("{at}.path"), f.path.as_ref()),
            MetricsProviderConfig::Prometheus(prom) => {
                set(
                    format!("{at}.url"),
                    prom.url.as_ref().map(|u| redact(u)).as_ref(),
                );
                for (signal, q) in &prom.queries {
                    set(format!("{at}.queries.{signal}"), Some(q));
                }
                let preset = prom.preset.map(|p| p.name().to_string());
                set(format!("{at}.preset"), preset.as_ref());
            }
        }
    }
}

fn monitoring_settings(
    m: &Monitoring,
    redact: fn(&str) -> String,
    out: &mut BTreeMap<String, String>,
) {
    if let Some(r) = m.on_breach.as_ref().and_then(|b| b.retrain.as_ref()) {
        let at = "monitoring.on_breach.retrain";
        if let Some(w) = &r.webhook {
            out.insert(format!("{at}.webhook"), redact(w));
        }
        if let Some(d) = &r.repository_dispatch {
            out.insert(format!("{at}.repository_dispatch"), d.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.to_string(),
            content: Ok(text.as_bytes().to_vec()),
        }
    }

    /// Each setting change as (setting, base value, head value), URLs as
    /// written.
    fn shown_changes(
        base: &[SourceFile],
        head: &[SourceFile],
    ) -> Vec<(String, Option<String>, Option<String>)> {
        setting_changes(base, head, |u| u.to_string())
            .into_iter()
            .map(|c| (c.setting, c.base, c.head))
            .collect()
    }

    const CONFIG: &str = "apiVersion: modelops/v1\nkind: Config\nspec:\n  registry: {type: mlflow, uri: 'http://u:pw@mlflow:5000'}\n  metrics:\n    prom: {type: prometheus, url: 'http://prom:9090'}\n";

    fn policy(endpoint: &str) -> String {
        format!(
            "apiVersion: modelops/v1\nkind: Policy\nmetadata: {{name: strict}}\nspec:\n  production:\n    benchmark: {{endpoint: '{endpoint}', payload_file: p.json}}\n"
        )
    }

    #[test]
    fn every_changed_trusted_setting_is_listed_with_both_values() {
        let base = [
            file("modelops.yaml", CONFIG),
            file("policies/strict.yaml", &policy("http://serve/predict")),
        ];
        let head = [
            file(
                "modelops.yaml",
                &CONFIG
                    .replace("mlflow:5000", "evil:5000")
                    .replace("prom:9090", "evil:9090"),
            ),
            file("policies/strict.yaml", &policy("http://evil/x")),
        ];
        // Userinfo goes, as the plan shows URLs.
        let hide = |u: &str| u.replace("u:pw@", "***@");
        let changes = setting_changes(&base, &head, hide);
        let shown: Vec<(String, String, Option<String>, Option<String>)> = changes
            .into_iter()
            .map(|c| (c.file, c.setting, c.base, c.head))
            .collect();
        let row = |f: &str, s: &str, b: &str, h: &str| {
            (f.into(), s.into(), Some(b.into()), Some(h.into()))
        };
        assert_eq!(
            shown,
            vec![
                row(
                    "modelops.yaml",
                    "metrics.prom.url",
                    "http://prom:9090",
                    "http://evil:9090"
                ),
                row(
                    "modelops.yaml",
                    "registry.uri",
                    "http://***@mlflow:5000",
                    "http://***@evil:5000"
                ),
                row(
                    "policies/strict.yaml",
                    "production.benchmark.endpoint",
                    "http://serve/predict",
                    "http://evil/x"
                ),
            ]
        );
    }

    #[test]
    fn an_envoy_targets_directory_and_admin_api_and_a_preset_are_trusted() {
        let config = |admin: &str, dir: &str, preset: &str| {
            format!(
                "apiVersion: modelops/v1\nkind: Config\nspec:\n  serving:\n    targets:\n      mesh: {{type: envoy, config_dir: {dir}, admin: '{admin}', upstream_template: '127.0.0.1:90{{version}}'}}\n  metrics:\n    prom: {{type: prometheus, url: 'http://prom:9090'{preset}}}\n"
            )
        };
        let base = [file(
            "modelops.yaml",
            &config("127.0.0.1:9901", "/srv/envoy", ""),
        )];
        let head = [file(
            "modelops.yaml",
            &config("127.0.0.1:9902", "/tmp/elsewhere", ", preset: envoy"),
        )];
        let shown = shown_changes(&base, &head);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            shown,
            vec![
                ("metrics.prom.preset".into(), None, some("envoy")),
                (
                    "serving.targets.mesh.admin".into(),
                    some("127.0.0.1:9901"),
                    some("127.0.0.1:9902")
                ),
                (
                    "serving.targets.mesh.config_dir".into(),
                    some("/srv/envoy"),
                    some("/tmp/elsewhere")
                ),
            ]
        );
    }

    #[test]
    fn who_counts_as_an_owner_is_a_trusted_setting() {
        let config = |owners: &str| {
            format!("apiVersion: modelops/v1\nkind: Config\nspec:\n  owners:\n{owners}")
        };
        let base = [file(
            "modelops.yaml",
            &config("    risk-ml: {github_team: acme/risk-ml}\n"),
        )];
        let head = [file(
            "modelops.yaml",
            &config("    risk-ml: {github_user: mallory}\n    growth: {github_user: bob}\n"),
        )];
        let shown = shown_changes(&base, &head);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            shown,
            vec![
                ("owners.growth.github_user".into(), None, some("bob")),
                (
                    "owners.risk-ml.github_team".into(),
                    some("acme/risk-ml"),
                    None
                ),
                ("owners.risk-ml.github_user".into(), None, some("mallory")),
            ]
        );
        let trusted = TrustedSettings::from_base("main", &base).unwrap();
        assert_eq!(
            trusted.config.owner_identities()["risk-ml"].to_string(),
            "team acme/risk-ml"
        );
    }

    #[test]
    fn a_benchmark_runs_only_as_the_base_declares_it() {
        let trusted = TrustedSettings::from_base(
            "main",
            &[file(
                "policies/strict.yaml",
                &policy("http://serve/predict"),
            )],
        )
        .unwrap();
        let same = trusted.policies["strict"]
            .production
            .benchmark
            .clone()
            .unwrap();
        let mut moved = same.clone();
        moved.endpoint = "http://evil/x".into();
        let mut other_payload = same.clone();
        other_payload.payload_file = "/proc/self/environ".into();
        let cases = [
            ("strict", Stage::Production, &same, None),
            (
                "strict",
                Stage::Production,
                &moved,
                Some("changes the benchmark"),
            ),
            (
                "strict",
                Stage::Production,
                &other_payload,
                Some("changes the benchmark"),
            ),
            (
                "strict",
                Stage::Staging,
                &same,
                Some("declares no such benchmark"),
            ),
            (
                "new",
                Stage::Production,
                &same,
                Some("declares no such benchmark"),
            ),
        ];
        for (policy, stage, asked, want) in cases {
            let got = trusted.benchmark(policy, stage, asked);
            match want {
                None => assert_eq!(got, Ok(()), "{policy} {stage:?}"),
                Some(part) => {
                    let err = got.expect_err(policy);
                    assert!(err.starts_with("not run: ") && err.contains(part), "{err}");
                }
            }
        }
    }
}
