//! A drill's confirmation: probes through the target's front door until the
//! rollback target answers the number asked for in a row, or the time runs
//! out; and the tally of those answers, pure, so its rule is tested without
//! a server.

use std::time::{Duration, Instant};

use crate::backend::serving::ServingTarget;
use crate::state::format::human;

/// How long to wait between two probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// Probes until `version` answered `required` times in a row, or until
/// `timeout` after `started`.
pub(super) fn confirm(
    target: &dyn ServingTarget,
    model: &str,
    path: &str,
    version: &str,
    required: u32,
    timeout: Duration,
    started: Instant,
) -> Tally {
    let mut tally = Tally::new(required);
    loop {
        let answer = match target.probe(model, path) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err("the target stopped answering probes".to_string()),
            Err(e) => Err(e.to_string()),
        };
        tally.answer(started.elapsed().as_secs_f64(), version, answer);
        if tally.confirmed.is_some() {
            return tally;
        }
        if started.elapsed() >= timeout {
            let last = tally.last.clone().unwrap_or_default();
            return tally.failed(format!(
                "version {version} did not answer {required} probe{} in a row within {}; last: {last}",
                plural(required),
                human(timeout.as_secs() as i64)
            ));
        }
        std::thread::sleep(PROBE_INTERVAL);
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The probes' answers so far: how many in a row came from the version,
/// when that run began, and when it reached the count. Pure, so the rule
/// is tested without a server.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tally {
    required: u32,
    pub(super) probes: u32,
    in_a_row: u32,
    /// Seconds (from the switch's start) of the first answer of the run.
    run_started: Option<f64>,
    /// Seconds of the first answer of the run that reached the count.
    pub(super) first: Option<f64>,
    /// Seconds of the answer that reached it.
    pub(super) confirmed: Option<f64>,
    /// The last answer that was not the version, in words.
    last: Option<String>,
    /// What confirmed it, or why it failed.
    pub(super) reason: String,
}

impl Tally {
    pub(super) fn new(required: u32) -> Tally {
        Tally {
            required,
            probes: 0,
            in_a_row: 0,
            run_started: None,
            first: None,
            confirmed: None,
            last: None,
            reason: String::new(),
        }
    }

    /// Counts one answer, received `at` seconds after the switch started.
    fn answer(&mut self, at: f64, version: &str, answer: Result<String, String>) {
        self.probes += 1;
        match answer {
            Ok(v) if v == version => {
                if self.in_a_row == 0 {
                    self.run_started = Some(at);
                }
                self.in_a_row += 1;
                if self.in_a_row >= self.required && self.confirmed.is_none() {
                    self.first = self.run_started;
                    self.confirmed = Some(at);
                    self.reason = format!(
                        "version {version} answered {} probe{} in a row ({} sent)",
                        self.required,
                        plural(self.required),
                        self.probes
                    );
                }
            }
            Ok(other) => {
                self.in_a_row = 0;
                self.last = Some(format!("answered by version {other}"));
            }
            Err(e) => {
                self.in_a_row = 0;
                self.last = Some(e);
            }
        }
    }

    /// The tally of a drill that failed, and why.
    pub(super) fn failed(mut self, reason: String) -> Tally {
        self.reason = reason;
        self.first = None;
        self.confirmed = None;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_that_confirms_starts_after_the_last_other_answer() {
        let ok = |v: &str| Ok(v.to_string());
        let err = || Err("GET http://127.0.0.1:1/ answered 502".to_string());
        // (row, answers 0.1 s apart, required, first, confirmed)
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            &str,
            Vec<Result<String, String>>,
            u32,
            Option<f64>,
            Option<f64>,
        )> = vec![
            (
                "at once",
                vec![ok("2"), ok("2"), ok("2")],
                3,
                Some(0.1),
                Some(0.3),
            ),
            (
                "the old version first, then the new",
                vec![ok("3"), ok("3"), ok("2"), ok("2"), ok("2")],
                3,
                Some(0.3),
                Some(0.5),
            ),
            (
                "an error breaks the run",
                vec![ok("2"), ok("2"), err(), ok("2"), ok("2"), ok("2")],
                3,
                Some(0.4),
                Some(0.6),
            ),
            (
                "never enough",
                vec![ok("2"), ok("3"), ok("2")],
                2,
                None,
                None,
            ),
        ];
        for (row, answers, required, first, confirmed) in rows {
            let mut t = Tally::new(required);
            for (i, a) in answers.into_iter().enumerate() {
                t.answer((i as f64 + 1.0) / 10.0, "2", a);
            }
            let round = |x: Option<f64>| x.map(|x| (x * 10.0).round() / 10.0);
            assert_eq!(
                (round(t.first), round(t.confirmed)),
                (first, confirmed),
                "{row}"
            );
        }
    }
}
