//! The rules of the repository's configuration (`modelops.yaml`): lock
//! timeout, stage aliases, serving targets and the addresses they write
//! (nginx's words, Envoy's sockets and loopback admin API), metrics
//! providers.

use std::collections::BTreeSet;

use super::{check_duration, valid_alias, valid_name, valid_nginx_address};
use crate::manifest::address;
use crate::manifest::config::{
    ConfigSpec, EnvoyTargetConfig, MetricsProviderConfig, NginxTargetConfig, ServingTargetConfig,
};
use crate::manifest::diagnostic::{Diagnostic, escape_segment};

pub(super) fn check_config(path: &str, c: &ConfigSpec, diags: &mut Vec<Diagnostic>) {
    if let Some(t) = &c.state.lock_timeout {
        check_duration(path, "/spec/state/lock_timeout".into(), &t.0, diags);
    }
    let mut seen_aliases = BTreeSet::new();
    for (stage, alias) in c.registry.stage_aliases() {
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
        match target {
            ServingTargetConfig::Local(_) => {}
            ServingTargetConfig::Nginx(nginx) => check_nginx(path, &at, name, nginx, diags),
            ServingTargetConfig::Envoy(envoy) => check_envoy(path, &at, name, envoy, diags),
        }
    }
    for (owner, o) in &c.owners {
        let at = format!("/spec/owners/{}", escape_segment(owner));
        if let Err((field, why)) = o.identity() {
            let at = if field.is_empty() {
                at
            } else {
                format!("{at}/{field}")
            };
            diags.push(Diagnostic::pointer(
                path,
                at,
                "owner-identity",
                format!("owner `{owner}`: {why}"),
            ));
        }
    }
    for (name, p) in &c.metrics {
        let at = format!("/spec/metrics/{}", escape_segment(name));
        match p {
            MetricsProviderConfig::File(f) if f.path.is_none() => diags.push(Diagnostic::pointer(
                path,
                at,
                "metrics-provider",
                format!("file provider `{name}` needs path"),
            )),
            MetricsProviderConfig::Prometheus(p) if p.url.is_none() => {
                diags.push(Diagnostic::pointer(
                    path,
                    at,
                    "metrics-provider",
                    format!("prometheus provider `{name}` needs url"),
                ))
            }
            _ => {}
        }
    }
}

/// An nginx target: where it writes, where versions listen, its health check
/// and every address it pastes into nginx's configuration.
fn check_nginx(
    path: &str,
    at: &str,
    name: &str,
    target: &NginxTargetConfig,
    diags: &mut Vec<Diagnostic>,
) {
    check_nginx_addresses(path, at, target, diags);
    if target.config_dir.is_none() {
        diags.push(Diagnostic::pointer(
            path,
            at,
            "nginx-target",
            format!("nginx target `{name}` needs config_dir, where its fragments are written"),
        ));
    }
    if target.upstream_template.is_none() && target.upstreams.is_empty() {
        diags.push(Diagnostic::pointer(path, at, "nginx-target", format!("nginx target `{name}` needs upstream_template or upstreams, to know where each version listens")));
    }
    if let Some(health) = &target.health_path {
        check_health_path(path, at, name, health, "nginx-target", diags);
    }
}

/// A health check's path: requested as given, so one path of URL
/// characters.
fn check_health_path(
    path: &str,
    at: &str,
    name: &str,
    health: &str,
    rule: &'static str,
    diags: &mut Vec<Diagnostic>,
) {
    let problem = if !health.starts_with('/') {
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
            rule,
            format!("serving target `{name}`: health_path {problem}"),
        ));
    }
}

/// An envoy target: where it writes, the admin API it reads (loopback
/// only), where models listen and versions are, its health check.
fn check_envoy(
    path: &str,
    at: &str,
    name: &str,
    target: &EnvoyTargetConfig,
    diags: &mut Vec<Diagnostic>,
) {
    let mut problem = |pointer: String, rule: &'static str, message: String| {
        diags.push(Diagnostic::pointer(path, pointer, rule, message));
    };
    if target.config_dir.is_none() {
        problem(
            at.to_string(),
            "envoy-target",
            format!(
                "envoy target `{name}` needs config_dir, the directory Envoy's bootstrap watches for lds.json and cds.json"
            ),
        );
    }
    match &target.admin {
        None => problem(
            at.to_string(),
            "envoy-target",
            format!(
                "envoy target `{name}` needs admin, the address of Envoy's admin API (such as `127.0.0.1:9901`)"
            ),
        ),
        Some(admin) => {
            if let Err(why) = address::admin_base(admin) {
                problem(
                    format!("{at}/admin"),
                    "envoy-admin",
                    format!(
                        "envoy target `{name}`: admin `{}` {why}",
                        admin.escape_debug()
                    ),
                );
            }
        }
    }
    if target.upstream_template.is_none() && target.upstreams.is_empty() {
        problem(
            at.to_string(),
            "envoy-target",
            format!(
                "envoy target `{name}` needs upstream_template or upstreams, to know where each version listens"
            ),
        );
    }
    for (model, listen) in &target.listen {
        if let Err(why) = address::parse_listen(listen) {
            problem(
                format!("{at}/listen/{}", escape_segment(model)),
                "envoy-address",
                format!("listen address `{}`: {why}", listen.escape_debug()),
            );
        }
    }
    for (model, versions) in &target.upstreams {
        for (version, upstream) in versions {
            if let Err(why) = address::parse(upstream) {
                problem(
                    format!(
                        "{at}/upstreams/{}/{}",
                        escape_segment(model),
                        escape_segment(version)
                    ),
                    "envoy-address",
                    format!("upstream address `{}`: {why}", upstream.escape_debug()),
                );
            }
        }
    }
    if let Some(template) = &target.upstream_template {
        let filled = template.replace("{model}", "m").replace("{version}", "1");
        if let Err(why) = address::parse(&filled) {
            problem(
                format!("{at}/upstream_template"),
                "envoy-address",
                format!("upstream template `{}`: {why}", template.escape_debug()),
            );
        }
    }
    if let Some(health) = &target.health_path {
        check_health_path(path, at, name, health, "envoy-target", diags);
    }
}

/// Every address a serving target pastes into nginx's configuration:
/// listen addresses, upstream addresses, and the upstream template with
/// its placeholders filled.
fn check_nginx_addresses(
    path: &str,
    at: &str,
    target: &NginxTargetConfig,
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
