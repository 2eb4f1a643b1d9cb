//! Numbers and durations as a person reads them, shared by every layer that
//! words a figure (gates, rollout analyses, monitoring, renderers).

/// A number as a person reads it: at most six decimals, no trailing zeros.
pub fn num(x: f64) -> String {
    trimmed(x, 6)
}

/// A measured figure in a one-line message: three significant decimals at
/// most (`0.104`, `12.5`, `0`).
pub fn num_short(x: f64) -> String {
    trimmed(x, 3)
}

/// `x` with at most `decimals` decimals, without trailing zeros; `-0` is `0`.
fn trimmed(x: f64, decimals: usize) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    let s = format!("{x:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A time as a person reads it: to the second, in UTC
/// (`2026-12-03T07:27:24Z`, never nanoseconds).
pub fn at(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `12,400`: a count as a person reads it.
pub fn thousands(n: f64) -> String {
    let n = n.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `1h`, `45m`, `2d 3h`: an elapsed time as a person reads it.
pub fn human(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_keep_three_decimals_at_most() {
        // (value, shown)
        let cases = [
            (0.1044, "0.104"),
            (12.5, "12.5"),
            (0.0, "0"),
            (-0.0001, "0"),
            (f64::NAN, "NaN"),
        ];
        for (x, shown) in cases {
            assert_eq!(num_short(x), shown, "{x}");
        }
    }

    #[test]
    fn durations_show_their_two_largest_units() {
        // (seconds, shown)
        let cases = [
            (-5, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3600, "1h"),
            (3660, "1h 1m"),
            (86_400, "1d"),
            (90_000, "1d 1h"),
        ];
        for (secs, shown) in cases {
            assert_eq!(human(secs), shown, "{secs}");
        }
    }

    #[test]
    fn times_show_to_the_second() {
        let t: jiff::Timestamp = "2026-12-03T07:27:24.068230021Z".parse().unwrap();
        assert_eq!(at(t), "2026-12-03T07:27:24Z");
        let t: jiff::Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
        assert_eq!(at(t), "2026-11-26T09:00:00Z");
    }
}
