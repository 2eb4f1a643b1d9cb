//! One overall deadline for every metrics question a command asks, and
//! questions asked concurrently: a provider that hangs costs a command at
//! most the deadline, however many models and signals it asks about, and
//! is not asked again once it has outlived it.
//!
//! [`Bounded`] wraps a provider's instances (each its own connection pool):
//! questions go to worker threads, one per instance, and the caller waits
//! only until the deadline. A worker still waiting then is left behind; its
//! answer is never read.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{MetricQuery, MetricsError, MetricsProvider, Unavailable};

/// The variable that sets the deadline, in seconds.
pub const DEADLINE_VAR: &str = "MODELOPS_METRICS_DEADLINE";

/// The deadline when the variable is not set.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The end of a command's time for metrics questions.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// When it passes.
    pub at: Instant,
    /// Its length, for messages.
    pub limit: Duration,
}

impl Deadline {
    /// The deadline's length from [`DEADLINE_VAR`]'s value (a positive
    /// number of seconds), else [`DEFAULT_DEADLINE`] when it is not set.
    pub fn limit(var: Option<&str>) -> Result<Duration, String> {
        match var {
            None => Ok(DEFAULT_DEADLINE),
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    format!("{DEADLINE_VAR}={text} is not a positive number of seconds")
                }),
        }
    }

    /// The deadline `limit` from now.
    pub fn after(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }
}

type Instance = Arc<Mutex<Box<dyn MetricsProvider + Send>>>;

/// A provider whose questions share one [`Deadline`], asked on up to one
/// worker per instance at a time.
pub struct Bounded {
    described: String,
    instances: Vec<Instance>,
    deadline: Deadline,
    /// Why it is not asked again: a question outlived the deadline.
    stuck: Option<Unavailable>,
}

impl Bounded {
    /// `instances` (at least one) of the same provider, under `deadline`.
    pub fn new(instances: Vec<Box<dyn MetricsProvider + Send>>, deadline: Deadline) -> Bounded {
        assert!(!instances.is_empty(), "a provider has an instance");
        Bounded {
            described: instances[0].describe(),
            instances: instances
                .into_iter()
                .map(|i| Arc::new(Mutex::new(i)))
                .collect(),
            deadline,
            stuck: None,
        }
    }

    fn expired(&self) -> Unavailable {
        Unavailable::unreachable(
            &self.described,
            &format!(
                "no answer within the {} s deadline for metrics questions ({DEADLINE_VAR})",
                secs(self.deadline.limit)
            ),
        )
    }
}

impl MetricsProvider for Bounded {
    fn describe(&self) -> String {
        self.described.clone()
    }

    fn query(&mut self, q: &MetricQuery) -> Result<Option<f64>, MetricsError> {
        self.query_all(std::slice::from_ref(q))
            .pop()
            .expect("one answer per question")
    }

    fn query_all(&mut self, questions: &[MetricQuery]) -> Vec<Result<Option<f64>, MetricsError>> {
        let mut answers: Vec<Option<Result<Option<f64>, MetricsError>>> =
            (0..questions.len()).map(|_| None).collect();
        if self.stuck.is_none() && !questions.is_empty() {
            let queue: Arc<Mutex<VecDeque<(usize, MetricQuery)>>> =
                Arc::new(Mutex::new(questions.iter().cloned().enumerate().collect()));
            let (send, receive) = mpsc::channel();
            for instance in self.instances.iter().take(questions.len()) {
                let (instance, queue, send) = (instance.clone(), queue.clone(), send.clone());
                std::thread::spawn(move || {
                    let Ok(mut provider) = instance.lock() else {
                        return;
                    };
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                        let Some((index, q)) = next else {
                            return;
                        };
                        if send.send((index, provider.query(&q))).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(send);
            let mut left = questions.len();
            while left > 0 {
                let wait = self.deadline.at.saturating_duration_since(Instant::now());
                match receive.recv_timeout(wait) {
                    Ok((index, answer)) => {
                        answers[index] = Some(answer);
                        left -= 1;
                    }
                    Err(_) => break,
                }
            }
            if left > 0 {
                self.stuck = Some(self.expired());
            }
        }
        let stuck = self.stuck.clone().unwrap_or_else(|| self.expired());
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(MetricsError::Unavailable(stuck.clone()))))
            .collect()
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::metrics::Signal;

    /// A provider that answers its question's hour after `delay` (a fake:
    /// the deadline is about time, not about a server).
    struct Slow(Duration);

    impl MetricsProvider for Slow {
        fn describe(&self) -> String {
            "slow".into()
        }
        fn query(&mut self, q: &MetricQuery) -> Result<Option<f64>, MetricsError> {
            std::thread::sleep(self.0);
            Ok(Some(q.version.parse().unwrap()))
        }
    }

    fn question(version: usize) -> MetricQuery {
        let t: jiff::Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
        MetricQuery {
            model: "m".into(),
            version: version.to_string(),
            signal: Signal::Requests,
            start: t,
            end: t,
        }
    }

    fn bounded(delay_ms: u64, instances: usize, limit_ms: u64) -> Bounded {
        let limit = Duration::from_millis(limit_ms);
        let slow: Vec<Box<dyn MetricsProvider + Send>> = (0..instances)
            .map(|_| Box::new(Slow(Duration::from_millis(delay_ms))) as _)
            .collect();
        Bounded::new(
            slow,
            Deadline {
                at: Instant::now() + limit,
                limit,
            },
        )
    }

    #[test]
    fn questions_are_asked_concurrently_and_answered_in_order() {
        let mut p = bounded(100, 4, 5_000);
        let questions: Vec<_> = (0..8).map(question).collect();
        let started = Instant::now();
        let answers = p.query_all(&questions);
        // Eight 100 ms questions on four workers: two rounds, not eight.
        assert!(
            started.elapsed() < Duration::from_millis(600),
            "{:?}",
            started.elapsed()
        );
        let values: Vec<f64> = answers.into_iter().map(|a| a.unwrap().unwrap()).collect();
        assert_eq!(values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn a_provider_that_outlives_the_deadline_is_not_asked_again() {
        let mut p = bounded(10_000, 2, 200);
        let started = Instant::now();
        let answers = p.query_all(&(0..5).map(question).collect::<Vec<_>>());
        assert!(started.elapsed() < Duration::from_secs(2));
        for a in answers {
            let e = a.unwrap_err().to_string();
            assert_eq!(
                e,
                "slow: no answer within the 0.2 s deadline for metrics questions (MODELOPS_METRICS_DEADLINE)"
            );
        }
        let again = Instant::now();
        assert!(p.query(&question(1)).is_err());
        assert!(again.elapsed() < Duration::from_millis(50));
    }
}
