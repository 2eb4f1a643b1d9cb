//! One deployment's nginx fragment, rendered from its route. Pure: every
//! shape of routing is a snapshot test, and nothing unchecked from a
//! manifest or config reaches nginx's syntax.
//!
//! A fragment holds, for one model: an `upstream` per version it sends
//! requests to, a `split_clients` for a weighted split (and a `map` from its
//! choice back to the version, for the `x-modelops-version` header every
//! answer carries), one per partial mirror, a `map` for a sticky key, and a
//! `server` listening on the model's address. nginx's `http` block includes
//! it, so every name it defines is global: each carries `modelops_` and the
//! model's name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::header::RouteHeader;
use crate::backend::serving::files::{check_names, nonzero, plain};
use crate::backend::serving::{Route, ServingError, VERSION_HEADER};
use crate::manifest::config::NginxTargetConfig;
use crate::manifest::deployment::StickyKey;
use crate::manifest::rules::{valid_nginx_address, valid_sticky_cookie, valid_sticky_header};

/// What would not carry a name outside the plain characters (messages).
const CARRIER: &str = "an nginx fragment cannot carry";

/// Renders `route`'s fragment for the nginx target `target` configured by
/// `config`.
///
/// Fails with [`ServingError::Config`] when the route cannot be served as
/// asked: no listen address for the model, no upstream for a version, live
/// weights that do not sum to 100, a mirror above 100%, or a name nginx
/// (or, for the deployment, a file name) cannot hold.
pub fn render(
    target: &str,
    config: &NginxTargetConfig,
    route: &Route,
) -> Result<String, ServingError> {
    let model = route.model;
    // As in the `local` target: the route's key, else the record's.
    let sticky = route.sticky.or(route.traffic.sticky.as_ref());
    check_names(target, route, CARRIER)?;
    let model_id = ident(model);
    let listen = config.listen.get(model).ok_or_else(|| {
        config_error(format!(
            "nginx target `{target}` has no listen address for model `{model}` \
             (serving.targets.{target}.listen)"
        ))
    })?;
    word(listen, &format!("listen address for model `{model}`"))?;

    // nginx's split_clients rejects `0%`, and a version with no traffic
    // needs no upstream: zero entries stay in the header only.
    let live: Vec<(&str, u8)> = nonzero(&route.traffic.weights);
    let total: u32 = live.iter().map(|(_, w)| u32::from(*w)).sum();
    if total != 100 {
        return Err(config_error(format!(
            "the live weights for `{model}` sum to {total}%, not 100%"
        )));
    }
    let mirrors: Vec<(&str, u8)> = nonzero(&route.traffic.mirrors);
    if let Some((version, percent)) = mirrors.iter().find(|(_, p)| *p > 100) {
        return Err(config_error(format!(
            "the mirror of `{model}` version {version} is {percent}%, above 100%"
        )));
    }

    let versions: BTreeSet<&str> = live.iter().chain(&mirrors).map(|(v, _)| *v).collect();
    let mut upstreams: BTreeMap<String, (&str, String)> = BTreeMap::new();
    for version in versions {
        plain(version, &format!("version of `{model}`"), CARRIER)?;
        let name = upstream_name(&model_id, version);
        let address = upstream_address(target, config, model, version)?;
        if let Some((other, _)) = upstreams.insert(name.clone(), (version, address)) {
            return Err(config_error(format!(
                "versions {other} and {version} of `{model}` both make the nginx name `{name}`"
            )));
        }
    }
    let name_of = |version: &str| upstream_name(&model_id, version);

    let mut out = String::new();
    let w = &mut out;
    let header = RouteHeader {
        model: model.to_string(),
        target: target.to_string(),
        weights: route.traffic.weights.clone(),
        mirrors: route.traffic.mirrors.clone(),
        sticky: sticky.cloned(),
    };
    line(w, &header.line());
    line(
        w,
        &format!(
            "# Managed by modelops: deployment `{}` on nginx target `{target}`. \
             Edits are overwritten.",
            route.deployment
        ),
    );

    for (name, (version, address)) in &upstreams {
        line(w, "");
        line(w, &format!("# {model} version {version}"));
        line(w, &format!("upstream {name} {{"));
        line(w, &format!("    server {address};"));
        line(w, "    keepalive 16;");
        line(w, "}");
    }

    // Every answer names the version that gave it (`x-modelops-version`):
    // the upstream's name, mapped back to its version where the split
    // picks one per request.
    let (pass, answered_by) = if let [(version, _)] = live.as_slice() {
        (format!("http://{}", name_of(version)), version.to_string())
    } else {
        let key = split_key(w, &model_id, sticky)?;
        let var = format!("$modelops_{model_id}_upstream");
        line(w, "");
        let shares: Vec<String> = live
            .iter()
            .map(|(v, p)| format!("{p}% to version {v}"))
            .collect();
        line(w, &format!("# Live traffic: {}.", shares.join(", ")));
        line(w, &format!("split_clients \"{key}\" {var} {{"));
        for (i, (version, percent)) in live.iter().enumerate() {
            let share = if i + 1 == live.len() {
                "*".to_string()
            } else {
                format!("{percent}%")
            };
            line(w, &format!("    {share:<4} {};", name_of(version)));
        }
        line(w, "}");
        let version_var = format!("$modelops_{model_id}_version");
        line(w, "");
        line(
            w,
            &format!("# The version that answers, for the {VERSION_HEADER} header."),
        );
        line(w, &format!("map {var} {version_var} {{"));
        for (version, _) in &live {
            line(w, &format!("    {} {version};", name_of(version)));
        }
        line(w, "}");
        (format!("http://{var}"), version_var)
    };

    for (version, percent) in mirrors.iter().filter(|(_, p)| *p < 100) {
        line(w, "");
        line(
            w,
            &format!("# Shadow: {percent}% of requests are copied to version {version}."),
        );
        // A salt of its own keeps the mirrored share independent of the
        // live split, which hashes the same request id.
        line(
            w,
            &format!(
                "split_clients \"${{request_id}}mirror_{}\" {} {{",
                ident(version),
                mirror_var(&model_id, version)
            ),
        );
        line(w, &format!("    {:<4} 1;", format!("{percent}%")));
        line(w, "    *    \"\";");
        line(w, "}");
    }

    line(w, "");
    line(w, "server {");
    line(w, &format!("    listen {listen};"));
    line(w, "");
    line(w, "    location / {");
    for (version, _) in &mirrors {
        line(w, &format!("        mirror {};", mirror_uri(version)));
    }
    if !mirrors.is_empty() {
        line(w, "        mirror_request_body on;");
    }
    proxy(w, &pass);
    // The upstream's own header is dropped, so only nginx names the
    // version; `always` adds it to errors too, so a probe reads the status
    // before the header.
    line(w, &format!("        proxy_hide_header {VERSION_HEADER};"));
    line(
        w,
        &format!("        add_header {VERSION_HEADER} {answered_by} always;"),
    );
    line(w, "    }");
    for (version, percent) in &mirrors {
        line(w, "");
        line(
            w,
            &format!("    # Copies for version {version}: nginx discards its answers."),
        );
        line(w, &format!("    location = {} {{", mirror_uri(version)));
        line(w, "        internal;");
        if *percent < 100 {
            // Requests outside the share are answered here and go no further.
            line(
                w,
                &format!(
                    "        if ({} = \"\") {{ return 204; }}",
                    mirror_var(&model_id, version)
                ),
            );
        }
        // The subrequest's own URI is the mirror location: pass the client's.
        proxy(w, &format!("http://{}$request_uri", name_of(version)));
        line(w, "    }");
    }
    line(w, "}");
    Ok(out)
}

/// Writes the `map` that picks what a sticky split hashes, and returns the
/// `split_clients` key. Without a sticky key each request is split on its
/// own random id.
///
/// A request without the header or cookie would hash the empty string, and
/// every such request would land in one arm; the `map` sends them to the
/// request id instead, so they spread over the arms like an unsticky split.
/// The model's name salts the key, so one user's arms in two models' tests
/// are independent.
fn split_key(
    w: &mut String,
    model_id: &str,
    sticky: Option<&StickyKey>,
) -> Result<String, ServingError> {
    let Some(sticky) = sticky else {
        return Ok("${request_id}".to_string());
    };
    let (source, what) = sticky_variable(sticky)?;
    let var = format!("$modelops_{model_id}_key");
    line(w, "");
    line(
        w,
        &format!(
            "# Sticky: requests with the same {what} go to the same arm; \
             requests without one split at random."
        ),
    );
    line(w, &format!("map {source} {var} {{"));
    line(w, "    \"\"      $request_id;");
    line(w, &format!("    default {source};"));
    line(w, "}");
    Ok(format!("${{modelops_{model_id}_key}}:{model_id}"))
}

/// The nginx variable holding a sticky key's value, and the key in words.
fn sticky_variable(sticky: &StickyKey) -> Result<(String, String), ServingError> {
    match (&sticky.header, &sticky.cookie) {
        (Some(header), None) => {
            // nginx drops request headers with underscores by default, and
            // names its variables in lowercase with dashes as underscores.
            if !valid_sticky_header(header) {
                return Err(config_error(format!(
                    "sticky header `{}`: nginx reads only header names of letters, digits and dashes",
                    header.escape_debug()
                )));
            }
            let var = header.to_ascii_lowercase().replace('-', "_");
            Ok((format!("$http_{var}"), format!("{header} header")))
        }
        (None, Some(cookie)) => {
            if !valid_sticky_cookie(cookie) {
                return Err(config_error(format!(
                    "sticky cookie `{}`: nginx reads only cookie names of letters, digits and underscores",
                    cookie.escape_debug()
                )));
            }
            Ok((format!("$cookie_{cookie}"), format!("{cookie} cookie")))
        }
        _ => Err(config_error(
            "a sticky key needs exactly one of header or cookie".to_string(),
        )),
    }
}

/// Proxies a location, passing the request on as the client sent it (URI,
/// method, headers including Host, body), over kept-alive connections.
fn proxy(w: &mut String, pass: &str) {
    line(w, "        proxy_http_version 1.1;");
    line(w, "        proxy_set_header Connection \"\";");
    line(w, "        proxy_set_header Host $http_host;");
    line(w, &format!("        proxy_pass {pass};"));
}

/// A version's address: `upstreams[model][version]`, else the template.
pub fn upstream_address(
    target: &str,
    config: &NginxTargetConfig,
    model: &str,
    version: &str,
) -> Result<String, ServingError> {
    let address = match config.upstreams.get(model).and_then(|m| m.get(version)) {
        Some(address) => address.clone(),
        None => match &config.upstream_template {
            Some(template) => template
                .replace("{model}", model)
                .replace("{version}", version),
            None => {
                return Err(config_error(format!(
                    "nginx target `{target}` has no upstream for `{model}` version {version} \
                     (serving.targets.{target}.upstreams, or upstream_template)"
                )));
            }
        },
    };
    word(
        &address,
        &format!("upstream address for `{model}` version {version}"),
    )?;
    Ok(address)
}

/// The `upstream` block's name for one version of a model.
pub fn upstream_name(model_id: &str, version: &str) -> String {
    format!("modelops_{model_id}_v{}", ident(version))
}

fn mirror_var(model_id: &str, version: &str) -> String {
    format!("$modelops_{model_id}_mirror_v{}", ident(version))
}

fn mirror_uri(version: &str) -> String {
    format!("/_modelops_mirror_v{}", ident(version))
}

/// A name nginx accepts in variables and upstreams: `fraud-detector` →
/// `fraud_detector`. Not one-to-one, so callers check for collisions.
pub fn ident(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Addresses are pasted into directives: one word of the characters
/// [`valid_nginx_address`] allows, nothing nginx parses.
fn word(value: &str, what: &str) -> Result<(), ServingError> {
    if !valid_nginx_address(value) {
        return Err(config_error(format!(
            "{what} `{}` is not one nginx word (letters, digits and `.`, `_`, `-`, `:`, `/`, `[`, `]`)",
            value.escape_debug()
        )));
    }
    Ok(())
}

fn line(w: &mut String, text: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(w, "{text}");
}

fn config_error(message: String) -> ServingError {
    ServingError::Config(message)
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
