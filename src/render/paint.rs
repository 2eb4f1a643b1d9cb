//! Colour for a terminal. Renderers mark a span with [`paint`]; the marks
//! become colour codes only where the output is written
//! ([`super::terminal_painted`]), and only when colour is on: `--color
//! always`, or `--color auto` (the default) on a terminal without
//! `NO_COLOR` set. Everywhere else (a pipe, a file, a CI log, JSON,
//! markdown) the marks are dropped and the text is exactly what it was
//! without colour.

use std::sync::atomic::{AtomicBool, Ordering};

/// The first character of a mark: a control character, which [`super::text`]
/// escapes in every value.
pub const MARK: char = '\u{1}';

/// What a span is painted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Added, passed.
    Green,
    /// Failed, rejected, removed, an error.
    Red,
    /// Changed, skipped, a warning.
    Yellow,
    /// A heading or a total.
    Bold,
    /// Detail a reader can skip.
    Dim,
}

impl Paint {
    fn code(self) -> char {
        match self {
            Paint::Green => 'g',
            Paint::Red => 'r',
            Paint::Yellow => 'y',
            Paint::Bold => 'b',
            Paint::Dim => 'd',
        }
    }
}

/// Every colour code a mark can become.
pub const CODES: [&str; 6] = [
    "\u{1b}[32m",
    "\u{1b}[31m",
    "\u{1b}[33m",
    "\u{1b}[1m",
    "\u{1b}[2m",
    "\u{1b}[0m",
];

/// The colour code of a mark's second character, when it is one.
pub fn sgr(code: char) -> Option<&'static str> {
    let i = match code {
        'g' => 0,
        'r' => 1,
        'y' => 2,
        'b' => 3,
        'd' => 4,
        '0' => 5,
        _ => return None,
    };
    Some(CODES[i])
}

/// `span` marked to be shown in `paint`'s colour.
pub fn paint(paint: Paint, span: &str) -> String {
    format!("{MARK}{}{span}{MARK}0", paint.code())
}

static STDOUT: AtomicBool = AtomicBool::new(false);
static STDERR: AtomicBool = AtomicBool::new(false);

/// Whether colour is on for standard output and for standard error, set
/// once when the command line is read.
pub fn set_colour(stdout: bool, stderr: bool) {
    STDOUT.store(stdout, Ordering::Relaxed);
    STDERR.store(stderr, Ordering::Relaxed);
}

/// Whether standard output is coloured.
pub fn stdout_colour() -> bool {
    STDOUT.load(Ordering::Relaxed)
}

/// Whether standard error is coloured.
pub fn stderr_colour() -> bool {
    STDERR.load(Ordering::Relaxed)
}

/// Whether `--color` (`auto`, `always` or `never`) turns colour on for a
/// stream, given whether it is a terminal and the environment: `NO_COLOR`
/// set to anything but the empty string, or `TERM=dumb`, turns `auto` off
/// (no-color.org); an explicit `always` wins over both.
pub fn decide(choice: &str, is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    match choice {
        "always" => true,
        "never" => false,
        _ => is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{terminal, terminal_painted, text};

    #[test]
    fn marks_become_colour_only_when_it_is_on() {
        let out = format!("  {} register\n", paint(Paint::Green, "+"));
        assert_eq!(terminal(&out), "  + register\n");
        assert_eq!(
            terminal_painted(&out, true),
            "  \u{1b}[32m+\u{1b}[0m register\n"
        );
    }

    #[test]
    fn a_value_cannot_carry_a_mark_or_a_raw_escape() {
        let value = "\u{1}g\u{1b}[2J";
        let out = format!("owner {}\n", text(value));
        assert_eq!(terminal_painted(&out, true), "owner \\u{1}g\\u{1b}[2J\n");
    }

    #[test]
    fn marks_do_not_open_a_workflow_command() {
        // Unescaped (the net's case), a mark before `::` or between `##`
        // and `[` must not let the runner read a command once dropped.
        for (raw, want) in [
            ("\u{1}g::error::x\n", "\\u{3a}:error::x\n"),
            ("#\u{1}g#[error]x\n", "##\\u{5b}error]x\n"),
        ] {
            assert_eq!(terminal(raw), want, "{raw:?}");
            assert!(!terminal_painted(raw, true).contains("##["));
        }
    }

    #[test]
    fn no_color_and_dumb_terminals_turn_auto_off_and_always_wins() {
        assert!(decide("auto", true, None, Some("xterm")));
        assert!(decide("auto", true, Some(""), None));
        assert!(!decide("auto", true, Some("1"), None));
        assert!(!decide("auto", true, None, Some("dumb")));
        assert!(!decide("auto", false, None, None));
        assert!(decide("always", false, Some("1"), None));
        assert!(!decide("never", true, None, None));
    }
}
