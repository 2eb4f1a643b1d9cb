//! The hash chain that makes the audit log tamper-evident: every event names
//! the SHA-256 of the event before it (`prev_hash`), so editing, removing or
//! cutting off an event breaks a link that [`ChainCheck`] finds.
//!
//! - In `events.jsonl` the hash is of the previous line's bytes (without its
//!   newline); the first line names the hash of nothing ([`genesis`]).
//! - Events written before the chain existed have no `prev_hash`: they are a
//!   legacy prefix, counted and reported but not verifiable. A line without
//!   `prev_hash` after a chained one is a break.

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the first event of a chain names as its predecessor: the hash of nothing.
pub fn genesis() -> String {
    hash(b"")
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// 1-based position of the bad record (a line of the log, or an event's
    /// place among a model's events).
    pub line: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// The result of checking a whole chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Records read.
    pub records: u64,
    /// Records at the start written before the chain existed (not verifiable).
    pub legacy: u64,
    /// The first break, if any.
    pub broken: Option<BrokenLink>,
}

/// Checks records one at a time, in order, keeping only the last hash.
#[derive(Debug)]
pub struct ChainCheck {
    /// Whether each record's `seq` must be its 0-based position.
    sequential: bool,
    prev: Option<String>,
    report: ChainReport,
}

impl ChainCheck {
    /// A check; `sequential` when `seq` must count records from 0 (the local log).
    pub fn new(sequential: bool) -> ChainCheck {
        ChainCheck {
            sequential,
            prev: None,
            report: ChainReport::default(),
        }
    }

    /// Reads the next record's exact bytes. After the first break the rest
    /// are only counted.
    pub fn push(&mut self, record: &[u8]) {
        let n = self.report.records + 1;
        self.report.records = n;
        if self.report.broken.is_some() {
            return;
        }
        let this = hash(record);
        let expected_prev = self.prev.replace(this).unwrap_or_else(genesis);
        let value: serde_json::Value = match serde_json::from_slice(record) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => return self.break_at(n, "is not a JSON event".to_string()),
        };
        if self.sequential && value.get("seq").and_then(|s| s.as_u64()) != Some(n - 1) {
            return self.break_at(
                n,
                format!(
                    "has seq {} where {} was expected: an event before it was removed or reordered",
                    value.get("seq").map_or("(none)".into(), |s| s.to_string()),
                    n - 1
                ),
            );
        }
        match value.get("prev_hash").and_then(|p| p.as_str()) {
            None if self.report.legacy + 1 == n => self.report.legacy = n,
            None => self.break_at(
                n,
                "has no prev_hash although the events before it are chained".to_string(),
            ),
            Some(p) if p == expected_prev => {}
            Some(_) if n == 1 => self.break_at(
                1,
                "names a predecessor, but it is the first: the events before it were removed"
                    .to_string(),
            ),
            Some(_) => self.break_at(
                n - 1,
                format!(
                    "does not match the hash that record {n} names: it was changed, or a record after it was removed"
                ),
            ),
        }
    }

    /// The report, checking the last record against `head`, the hash the
    /// state keeps of it (when it keeps one).
    pub fn finish(mut self, head: Option<&str>) -> ChainReport {
        if self.report.broken.is_none()
            && let Some(head) = head
            && self.prev.as_deref() != Some(head)
        {
            let n = self.report.records;
            self.break_at(
                n.max(1),
                "does not match the hash the state keeps of the last event: it was changed, or events after it were removed".to_string(),
            );
        }
        self.report
    }

    fn break_at(&mut self, line: u64, reason: String) {
        self.report.broken = Some(BrokenLink { line, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` chained lines as the local log writes them.
    fn log(n: u64) -> Vec<String> {
        let mut prev = genesis();
        (0..n)
            .map(|seq| {
                let line = format!(r#"{{"seq":{seq},"summary":"e{seq}","prev_hash":"{prev}"}}"#);
                prev = hash(line.as_bytes());
                line
            })
            .collect()
    }

    fn check(lines: &[String], head: Option<&str>) -> ChainReport {
        let mut c = ChainCheck::new(true);
        for l in lines {
            c.push(l.as_bytes());
        }
        c.finish(head)
    }

    #[test]
    fn a_chain_holds_until_a_record_is_touched() {
        let good = log(4);
        let head = hash(good[3].as_bytes());
        let edited = {
            let mut l = good.clone();
            l[1] = l[1].replace("e1", "e9");
            l
        };
        let removed = {
            let mut l = good.clone();
            l.remove(2);
            l
        };
        let last_edited = {
            let mut l = good.clone();
            l[3] = l[3].replace("e3", "e9");
            l
        };
        let legacy = {
            let mut l = vec![r#"{"seq":0}"#.to_string(), r#"{"seq":1}"#.to_string()];
            let line = format!(r#"{{"seq":2,"prev_hash":"{}"}}"#, hash(l[1].as_bytes()));
            l.push(line);
            l
        };
        let unchained_after = {
            let mut l = good.clone();
            l.push(r#"{"seq":4}"#.to_string());
            l
        };
        // (case, lines, the state's hash of the last, the bad line, legacy lines)
        type Case<'a> = (&'a str, &'a [String], Option<&'a str>, Option<u64>, u64);
        let cases: Vec<Case> = vec![
            ("intact", &good, Some(&head), None, 0),
            ("edited line 2", &edited, Some(&head), Some(2), 0),
            ("line 3 removed", &removed, Some(&head), Some(3), 0),
            ("last line edited", &last_edited, Some(&head), Some(4), 0),
            ("cut after line 2", &good[..2], Some(&head), Some(2), 0),
            ("first line removed", &good[1..], None, Some(1), 0),
            ("legacy prefix", &legacy, None, None, 2),
            ("no hash after chain", &unchained_after, None, Some(5), 0),
        ];
        for (name, lines, head, bad, legacy) in cases {
            let r = check(lines, head);
            assert_eq!(r.broken.as_ref().map(|b| b.line), bad, "{name}: {r:?}");
            assert_eq!(r.legacy, legacy, "{name}");
            assert_eq!(r.records, lines.len() as u64, "{name}");
        }
    }
}
