//! A progress line on stderr for work that can take seconds: the latency
//! benchmark, an apply of many models, a drift computation over a large
//! file. Only on a terminal ([`enable`] is called with whether stderr is
//! one), only once the work has run for half a second, redrawn at most ten
//! times a second, and erased when the work ends, so a log, a pipe or a
//! quick run never sees it. Its label is fixed text, never a value from a
//! manifest or a server.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::state::format::thousands;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// How long work runs before its line appears.
const QUIET: Duration = Duration::from_millis(500);
/// The shortest time between two redraws.
const REDRAW: Duration = Duration::from_millis(100);

/// Turns progress lines on (stderr is a terminal) or off; off by default,
/// so the library and its tests draw nothing.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// One piece of work's progress; shared by reference between threads.
pub struct Progress {
    label: &'static str,
    unit: &'static str,
    total: u64,
    done: AtomicU64,
    started: Instant,
    /// When the line was last drawn, if it was.
    drawn: Mutex<Option<Instant>>,
    on: bool,
}

impl Progress {
    /// Work of `total` `unit`s (such as "requests"), labelled `label`.
    pub fn new(label: &'static str, total: u64, unit: &'static str) -> Progress {
        Progress {
            label,
            unit,
            total,
            done: AtomicU64::new(0),
            started: Instant::now(),
            drawn: Mutex::new(None),
            on: ENABLED.load(Ordering::Relaxed),
        }
    }

    /// `n` more units done.
    pub fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        self.show(done);
    }

    /// `done` units done so far.
    pub fn set(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
        self.show(done);
    }

    fn show(&self, done: u64) {
        if !self.on || self.started.elapsed() < QUIET {
            return;
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|e| e.into_inner());
        if drawn.is_some_and(|at| at.elapsed() < REDRAW) {
            return;
        }
        *drawn = Some(Instant::now());
        let line = line(
            self.label,
            done,
            self.total,
            self.unit,
            self.started.elapsed(),
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\u{1b}[K");
        let _ = err.flush();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let drawn = self.drawn.get_mut().unwrap_or_else(|e| e.into_inner());
        if drawn.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\u{1b}[K");
            let _ = err.flush();
        }
    }
}

/// `latency benchmark: 1,200/5,000 requests (24%), 3s`.
fn line(label: &str, done: u64, total: u64, unit: &str, elapsed: Duration) -> String {
    let done = done.min(total);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    format!(
        "{label}: {}/{} {unit} ({percent}%), {}s",
        thousands(done as f64),
        thousands(total as f64),
        elapsed.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_done_of_total_with_a_percentage() {
        let l = line(
            "latency benchmark",
            1200,
            5000,
            "requests",
            Duration::from_secs(3),
        );
        assert_eq!(l, "latency benchmark: 1,200/5,000 requests (24%), 3s");
        assert_eq!(
            line("applying", 9, 0, "models", Duration::ZERO),
            "applying: 0/0 models (100%), 0s"
        );
    }

    #[test]
    fn nothing_is_drawn_unless_enabled() {
        // Off (the default): no line, and so nothing to erase.
        let p = Progress::new("x", 10, "units");
        p.add(10);
        assert!(p.drawn.lock().unwrap().is_none());
    }
}
