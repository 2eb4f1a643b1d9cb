//! How the envoy target changes what Envoy serves: the writes of one
//! change, in the order that never routes to a cluster or a route file
//! Envoy does not hold, each waited for in `config_dump` (bounded), and the
//! writes that put the previous files back when Envoy refuses one or does
//! not load it in time.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use super::admin::route_counters;
use super::files::{
    self, CDS, LDS, Snapshot, discovery_file, model_of, route_file, route_file_name, write_atomic,
};
use super::{EnvoyTarget, POLL, UPDATE_COUNTERS, render};
use crate::backend::serving::ServingError;

/// Which file a write replaces, and what Envoy must show afterwards.
enum Write<'a> {
    /// `cds.json` with these clusters; those `changed` since the previous
    /// write must show this write's version (or the same content).
    Clusters {
        clusters: &'a BTreeMap<String, Value>,
        previous: &'a BTreeMap<String, Value>,
    },
    /// `model`'s route file with `route`, which must be active at its
    /// revision when a listener Envoy was given names it (`watched`);
    /// otherwise the listener's write checks it.
    Route {
        model: &'a str,
        route: &'a Value,
        watched: bool,
    },
    /// `lds.json` with these listeners; `model`'s must be active at
    /// `revision` (or gone, for `None`), and its route configuration at
    /// `route` when it names one.
    Listeners {
        listeners: &'a BTreeMap<String, Value>,
        model: &'a str,
        revision: Option<String>,
        route: Option<String>,
    },
}

/// How far a change got before it stopped, so undoing it knows what to
/// write back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    Clusters,
    Route,
    Listeners,
    Unroute,
    Cleanup,
}

impl EnvoyTarget {
    /// Moves Envoy from `from` to `to` for `model`: clusters added, the
    /// route, the listeners, a route no listener names removed, clusters
    /// removed, each write waited for.
    fn switch(
        &mut self,
        model: &str,
        from: &Snapshot,
        to: &Snapshot,
        reached: &mut Option<Reached>,
    ) -> Result<(), ServingError> {
        let both = from.clusters_with(to);
        if both != from.clusters {
            *reached = Some(Reached::Clusters);
            self.write(&Write::Clusters {
                clusters: &both,
                previous: &from.clusters,
            })?;
        }
        let (old_route, new_route) = (from.routes.get(model), to.routes.get(model));
        if let Some(route) = new_route.filter(|_| new_route != old_route) {
            *reached = Some(Reached::Route);
            self.write(&Write::Route {
                model,
                route,
                watched: names_route(&from.listeners, model),
            })?;
        }
        if to.listeners != from.listeners {
            *reached = Some(Reached::Listeners);
            self.write(&Write::Listeners {
                listeners: &to.listeners,
                model,
                revision: revision_of(&to.listeners, model),
                route: route_revision(to, model),
            })?;
        }
        if new_route.is_none() && old_route.is_some() {
            *reached = Some(Reached::Unroute);
            files::remove(&route_file(&self.dir, model))?;
        }
        if to.clusters != both {
            *reached = Some(Reached::Cleanup);
            self.write(&Write::Clusters {
                clusters: &to.clusters,
                previous: &both,
            })?;
        }
        Ok(())
    }

    /// Puts `before` back after a change towards `after` stopped at
    /// `reached`: every cluster either routing names, the previous route,
    /// the previous listeners, no route file the previous listeners do not
    /// name, then the previous clusters. `Err` says what could not be put
    /// back.
    fn undo(
        &mut self,
        model: &str,
        before: &Snapshot,
        after: &Snapshot,
        reached: Reached,
    ) -> Result<(), ServingError> {
        let both = after.clusters_with(before);
        if reached == Reached::Cleanup {
            self.write(&Write::Clusters {
                clusters: &both,
                previous: &after.clusters,
            })?;
        }
        let (old_route, new_route) = (before.routes.get(model), after.routes.get(model));
        let route_changed = reached >= Reached::Route && old_route != new_route;
        if let Some(route) = old_route.filter(|_| route_changed) {
            let given = if reached >= Reached::Listeners {
                &after.listeners
            } else {
                &before.listeners
            };
            self.write(&Write::Route {
                model,
                route,
                watched: names_route(given, model),
            })?;
        }
        if reached >= Reached::Listeners {
            self.write(&Write::Listeners {
                listeners: &before.listeners,
                model,
                revision: revision_of(&before.listeners, model),
                route: route_revision(before, model),
            })?;
        }
        if old_route.is_none() && route_changed {
            files::remove(&route_file(&self.dir, model))?;
        }
        self.write(&Write::Clusters {
            clusters: &before.clusters,
            previous: &both,
        })
    }

    /// Changes Envoy from `before` to `after`; when Envoy refuses or does
    /// not load a write, puts `before` back and fails with Envoy's reason.
    pub(super) fn change(
        &mut self,
        model: &str,
        before: &Snapshot,
        after: &Snapshot,
    ) -> Result<(), ServingError> {
        // Nothing is written when the admin API does not answer: the change
        // could not be confirmed.
        self.admin.counters(&[])?;
        let mut reached = None;
        let Err(e) = self.switch(model, before, after, &mut reached) else {
            return Ok(());
        };
        let Some(reached) = reached else {
            return Err(e);
        };
        let files = format!("{LDS}, {} and {CDS}", route_file_name(model));
        let undone = match self.undo(model, before, after, reached) {
            Ok(()) => format!("the previous {files} in {} are back", self.dir.display()),
            Err(undo) => format!("putting the previous {files} back failed too: {undo}"),
        };
        Err(match e {
            ServingError::Refused(why) => ServingError::Refused(format!(
                "Envoy did not take the routing of `{model}`: {why}\n{undone}"
            )),
            ServingError::Unavailable(why) => ServingError::Unavailable(format!("{why}\n{undone}")),
            other => ServingError::Refused(format!(
                "the routing of `{model}` was not changed: {other}\n{undone}"
            )),
        })
    }

    /// Writes one file and waits until Envoy shows it loaded, or refused.
    fn write(&mut self, write: &Write) -> Result<(), ServingError> {
        let version = match write {
            Write::Listeners {
                revision: Some(r), ..
            } => r.clone(),
            Write::Route { route, .. } => revision(route).unwrap_or_default().to_string(),
            _ => self.next_version(),
        };
        let (file, text) = match write {
            Write::Clusters { clusters, .. } => {
                (CDS.to_string(), discovery_file(&version, clusters.values()))
            }
            Write::Route { model, route, .. } => (
                route_file_name(model),
                discovery_file(&version, std::iter::once(*route)),
            ),
            Write::Listeners { listeners, .. } => (
                LDS.to_string(),
                discovery_file(&version, listeners.values()),
            ),
        };
        let more = match write {
            Write::Clusters { .. } => Vec::new(),
            Write::Route { model, .. } | Write::Listeners { model, .. } => {
                route_counters(model).to_vec()
            }
        };
        let counters = self.admin.counters(&more)?;
        write_atomic(&self.dir.join(&file), &text)?;
        let deadline = Instant::now() + self.load_timeout;
        loop {
            match self.loaded(write, &version, &counters)? {
                Some(Ok(())) => return Ok(()),
                Some(Err(why)) => return Err(ServingError::Refused(why)),
                None if Instant::now() >= deadline => {
                    return Err(ServingError::Refused(format!(
                        "Envoy at {} did not load {} (version {version}) within {} s; is it running \
                         with the bootstrap for {} (scripts/envoy.sh bootstrap)?",
                        self.admin.base(),
                        file,
                        self.load_timeout.as_secs_f64(),
                        self.dir.display()
                    )));
                }
                None => std::thread::sleep(POLL),
            }
        }
    }

    /// Whether Envoy shows `write` (at `version`) loaded: `None` not yet,
    /// `Some(Err)` refused, with Envoy's reason. `counters` were read before
    /// the write.
    fn loaded(
        &mut self,
        write: &Write,
        version: &str,
        counters: &BTreeMap<String, u64>,
    ) -> Result<Option<Result<(), String>>, ServingError> {
        let rose = |now: &BTreeMap<String, u64>, name: &str| {
            let (was, is) = (counters.get(name), now.get(name));
            (is > was).then(|| {
                format!(
                    "{name} rose from {} to {}",
                    was.copied().unwrap_or(0),
                    is.copied().unwrap_or(0)
                )
            })
        };
        // A route configuration Envoy refused shows in its counters only.
        let route_refused = |now: &BTreeMap<String, u64>, model: &str| {
            let [rejected, failed] = route_counters(model);
            let file = route_file_name(model);
            rose(now, &rejected)
                .map(|rose| {
                    format!("Envoy refused the route configuration in {file} ({rose}); Envoy's log says why")
                })
                .or_else(|| {
                    rose(now, &failed).map(|rose| {
                        format!("Envoy could not read {file} ({rose}); Envoy's log says why")
                    })
                })
        };
        match write {
            Write::Route { watched: false, .. } => Ok(Some(Ok(()))),
            Write::Route { model, .. } => {
                let configs = self.admin.route_configs()?;
                if configs.get(*model).and_then(|c| c.revision.as_deref()) == Some(version) {
                    return Ok(Some(Ok(())));
                }
                let now = self.admin.counters(&route_counters(model))?;
                Ok(route_refused(&now, model).map(Err))
            }
            Write::Listeners {
                model,
                revision,
                route,
                ..
            } => {
                let listeners = self.admin.listeners()?;
                if let Some(r) = revision {
                    let refused = listeners
                        .refused
                        .iter()
                        .find(|f| f.revision.as_deref() == Some(r));
                    if let Some(f) = refused {
                        return Ok(Some(Err(f.details.clone())));
                    }
                }
                let active = listeners.active.iter().find(|l| l.model == *model);
                let listener_done = match (revision, active) {
                    (None, None) => true,
                    (Some(r), Some(l)) => l.revision.as_deref() == Some(r),
                    _ => false,
                };
                let route_done = match route {
                    None => true,
                    Some(r) => {
                        let configs = self.admin.route_configs()?;
                        configs.get(*model).and_then(|c| c.revision.as_ref()) == Some(r)
                    }
                };
                if listener_done && route_done {
                    return Ok(Some(Ok(())));
                }
                let now = self.admin.counters(&route_counters(model))?;
                if let Some(rose) = rose(&now, UPDATE_COUNTERS[1]) {
                    return Ok(Some(Err(format!(
                        "Envoy could not read {LDS} ({rose}); Envoy's log says why"
                    ))));
                }
                if route.is_some()
                    && let Some(why) = route_refused(&now, model)
                {
                    return Ok(Some(Err(why)));
                }
                Ok(None)
            }
            Write::Clusters { clusters, previous } => {
                let active = self.admin.clusters()?;
                let present = clusters.iter().all(|(name, wanted)| {
                    active.get(name).is_some_and(|c| {
                        previous.get(name) == Some(wanted)
                            || c.version_info.as_deref() == Some(version)
                            || c.config.as_ref() == Some(wanted)
                    })
                });
                let gone = previous
                    .keys()
                    .filter(|name| !clusters.contains_key(*name))
                    .all(|name| !active.contains_key(name));
                let done = present && gone;
                if done {
                    return Ok(Some(Ok(())));
                }
                let now = self.admin.counters(&[])?;
                if let Some(rose) = rose(&now, UPDATE_COUNTERS[2]) {
                    return Ok(Some(Err(format!(
                        "Envoy refused a cluster in {CDS} ({rose}); Envoy's log names it and says why"
                    ))));
                }
                if let Some(rose) = rose(&now, UPDATE_COUNTERS[3]) {
                    return Ok(Some(Err(format!(
                        "Envoy could not read {CDS} ({rose}); Envoy's log says why"
                    ))));
                }
                Ok(None)
            }
        }
    }
}

/// The revision in a resource's metadata.
fn revision(resource: &Value) -> Option<&str> {
    resource
        .pointer(&format!(
            "/metadata/filter_metadata/{}/revision",
            render::METADATA
        ))
        .and_then(Value::as_str)
}

/// The revision of `model`'s listener in `listeners`, if it has one.
fn revision_of(listeners: &BTreeMap<String, Value>, model: &str) -> Option<String> {
    listeners
        .values()
        .find(|l| model_of(l) == Some(model))
        .and_then(revision)
        .map(str::to_string)
}

/// Whether `model`'s listener in `listeners` takes its routes from a route
/// configuration (a listener modelops wrote before it used RDS holds its
/// route inline).
fn names_route(listeners: &BTreeMap<String, Value>, model: &str) -> bool {
    listeners
        .values()
        .find(|l| model_of(l) == Some(model))
        .and_then(|l| l.pointer("/filter_chains/0/filters/0/typed_config/rds"))
        .is_some()
}

/// The revision `model`'s route configuration must be active at once the
/// listeners of `snapshot` are: when its listener names it.
fn route_revision(snapshot: &Snapshot, model: &str) -> Option<String> {
    let route = snapshot.routes.get(model)?;
    names_route(&snapshot.listeners, model)
        .then(|| revision(route).map(str::to_string))
        .flatten()
}
