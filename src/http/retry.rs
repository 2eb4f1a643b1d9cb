//! The one retry rule: only an idempotent call, only after a failure that
//! may pass (no answer, or a 5xx), a bounded number of times, waiting twice
//! as long each time. Each client names its [`Policy`]; the loop is here.

use std::time::Duration;

/// How often, and after how long, a client tries a call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles.
    pub first_wait: Duration,
}

impl Policy {
    /// The wait before attempt `attempt + 1`, after attempt `attempt` (from
    /// 1) failed; `None` when the call is not tried again.
    pub fn delay(&self, idempotent: bool, transient: bool, attempt: u32) -> Option<Duration> {
        (idempotent && transient && attempt >= 1 && attempt < self.max_attempts)
            .then(|| self.first_wait * (1 << (attempt - 1).min(16)))
    }

    /// Runs `once` until it succeeds or [`Policy::delay`] says stop;
    /// `transient` tells which errors may pass.
    pub fn run<T, E>(
        &self,
        idempotent: bool,
        transient: impl Fn(&E) -> bool,
        mut once: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 1;
        loop {
            match once() {
                Ok(v) => return Ok(v),
                Err(e) => match self.delay(idempotent, transient(&e), attempt) {
                    Some(wait) => {
                        std::thread::sleep(wait);
                        attempt += 1;
                    }
                    None => return Err(e),
                },
            }
        }
    }
}

/// Whether an answer with `status` may be worth asking again: a server
/// error (5xx). A 4xx says the request itself is wrong.
pub fn transient_status(status: u16) -> bool {
    status >= 500
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_transient_failures_are_retried_with_backoff() {
        let p = Policy {
            max_attempts: 4,
            first_wait: Duration::from_millis(200),
        };
        // (idempotent, transient, attempt, wait in ms)
        let rows = [
            (true, true, 1, Some(200)),
            (true, true, 2, Some(400)),
            (true, true, 3, Some(800)),
            (true, true, 4, None),
            (false, true, 1, None),
            (true, false, 1, None),
            (true, true, 0, None),
        ];
        for (idempotent, transient, attempt, want) in rows {
            assert_eq!(
                p.delay(idempotent, transient, attempt)
                    .map(|d| d.as_millis() as u64),
                want,
                "{idempotent} {transient} {attempt}"
            );
        }
        let statuses = [
            (500, true),
            (503, true),
            (429, false),
            (404, false),
            (200, false),
        ];
        for (status, want) in statuses {
            assert_eq!(transient_status(status), want, "{status}");
        }
    }

    #[test]
    fn the_loop_stops_at_success_or_the_limit() {
        let p = Policy {
            max_attempts: 3,
            first_wait: Duration::ZERO,
        };
        let mut calls = 0;
        let r: Result<(), &str> = p.run(
            true,
            |_| true,
            || {
                calls += 1;
                Err("down")
            },
        );
        assert_eq!((r, calls), (Err("down"), 3));
        let mut calls = 0;
        let r: Result<u32, &str> = p.run(
            true,
            |_| true,
            || {
                calls += 1;
                if calls < 2 { Err("down") } else { Ok(calls) }
            },
        );
        assert_eq!(r, Ok(2));
        let mut calls = 0;
        let _: Result<(), &str> = p.run(
            false,
            |_| true,
            || {
                calls += 1;
                Err("down")
            },
        );
        assert_eq!(calls, 1);
    }
}
