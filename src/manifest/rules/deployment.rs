//! The rules of a deployment file: its name, the model, target and metrics
//! provider it names, exactly one strategy with its versions, traffic and
//! durations, and its monitoring thresholds.

use std::collections::BTreeMap;

use super::{check_duration, check_quantity, valid_name, valid_sticky_cookie, valid_sticky_header};
use crate::manifest::common::{Stage, Unit, VersionId};
use crate::manifest::config::ConfigSpec;
use crate::manifest::deployment::{DeploymentManifest, Monitoring};
use crate::manifest::desired::{DesiredDeployment, DesiredModel, Strategy};
use crate::manifest::diagnostic::Diagnostic;

pub(super) fn check_deployment(
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
