//! The plan's pull-request comment as text: a hidden marker by which later
//! runs find it, the markdown, and a footer; split into continued comments
//! when it is longer than GitHub allows one comment to be (Atlantis splits
//! the same way). A split never leaves a code block, a folded section or a
//! table open: each is closed at the end of a part and opened again at the
//! start of the next, and whole sections move to the next part when they
//! fit there.

use std::fmt::Write;

use jiff::Timestamp;

/// First line of the comment (of its first part, when split).
pub const MARKER: &str = "<!-- modelops-plan -->";

/// GitHub's limit on a comment's body, in characters. Parts are measured in
/// UTF-8 bytes, which are never fewer than characters (nor than UTF-16
/// units), so a part within it in bytes is within it however GitHub counts.
pub const MAX_COMMENT: usize = 65_536;

/// The marker of part `part` (1-based): [`MARKER`] for the first.
pub fn marker(part: usize) -> String {
    if part <= 1 {
        MARKER.to_string()
    } else {
        format!("<!-- modelops-plan part {part} -->")
    }
}

/// Which part of modelops' comment a comment's body is, read from its first
/// line; `None` for any other comment (including one that quotes the
/// marker further down).
pub fn part_of(body: &str) -> Option<usize> {
    let first = body.lines().next()?.trim();
    if first == MARKER {
        return Some(1);
    }
    let n = first
        .strip_prefix("<!-- modelops-plan part ")?
        .strip_suffix(" -->")?;
    n.parse().ok().filter(|&n| n >= 2)
}

/// What the footer of every part says: where the plan came from and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footer {
    /// The commit planned.
    pub commit: Option<String>,
    /// When the plan was made.
    pub at: Option<Timestamp>,
    /// The workflow run that posted it.
    pub run_url: Option<String>,
}

impl Footer {
    /// The footer's text, starting with a blank line.
    pub fn render(&self) -> String {
        let mut items = Vec::new();
        let at = self
            .at
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string());
        match (&at, &self.commit) {
            (Some(at), Some(c)) => items.push(format!(
                "Planned at {at} for commit `{}`",
                &c[..c.len().min(12)]
            )),
            (Some(at), None) => items.push(format!("Planned at {at}")),
            (None, Some(c)) => items.push(format!("Commit `{}`", &c[..c.len().min(12)])),
            (None, None) => {}
        }
        if let Some(url) = &self.run_url {
            items.push(format!("[workflow run]({url})"));
        }
        items.push(format!("modelops {}", env!("CARGO_PKG_VERSION")));
        format!("\n<sub>{}</sub>\n", items.join(" · "))
    }
}

fn header(part: usize, total: usize) -> String {
    if part <= 1 {
        String::new()
    } else {
        format!("_modelops plan, continued: part {part} of {total}_\n\n")
    }
}

fn continued(part: usize, total: usize) -> String {
    if part >= total {
        String::new()
    } else {
        format!(
            "\n_Continued in the next comment (part {} of {total})._\n",
            part + 1
        )
    }
}

/// The comment's bodies: the marker, `markdown` (in order, split at line
/// boundaries), and the footer; each at most `limit` bytes. One body when
/// it fits. `limit` should be a few kilobytes at least; the markdown is
/// never lost, but a part may pass a limit smaller than its fixed text.
pub fn bodies(markdown: &str, footer: &Footer, limit: usize) -> Vec<String> {
    let footer = footer.render();
    // The fixed text of a part is longest for a large part number.
    let big = 99_999;
    let fixed = marker(big).len() + 1 + header(big, big).len() + continued(big - 1, big).len();
    let budget = limit.saturating_sub(fixed + footer.len() + 1).max(256);
    let chunks = split(markdown, budget);
    let total = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let part = i + 1;
            let mut body = format!("{}\n{}{chunk}", marker(part), header(part, total));
            if part < total && !body.ends_with('\n') {
                body.push('\n');
            }
            body.push_str(&continued(part, total));
            body.push_str(&footer);
            body
        })
        .collect()
}

/// What is open at a point of the markdown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Open {
    /// The line that opened the code block we are in (```` ```diff ````).
    fence: Option<String>,
    /// The lines that opened the `<details>` we are in, outermost first.
    details: Vec<String>,
    /// The header and separator lines of the table we are in.
    table: Option<String>,
    /// The previous line, when it could be a table's header.
    row: Option<String>,
}

fn fence_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let ch = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let run = t.len() - t.trim_start_matches(ch).len();
    (run >= 3).then(|| &t[..run])
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('|') && t.contains('-') && t.chars().all(|c| "|-: ".contains(c))
}

impl Open {
    /// Nothing open: a good place to end a part.
    fn is_top(&self) -> bool {
        self.fence.is_none() && self.details.is_empty() && self.table.is_none()
    }

    /// What is open after `line` (which ends with `\n`, or is the last).
    fn after(&self, line: &str) -> Open {
        let mut next = self.clone();
        let text = line.trim_end_matches(['\n', '\r']);
        if let Some(open) = &self.fence {
            let closes = fence_of(text).is_some_and(|f| {
                f.starts_with(fence_of(open).unwrap_or("```")) && text.trim() == f
            });
            if closes {
                next.fence = None;
            }
            return next;
        }
        if fence_of(text).is_some() {
            next.fence = Some(text.trim_start().to_string());
            next.table = None;
            next.row = None;
            return next;
        }
        let t = text.trim();
        if t.starts_with("<details") {
            next.details.push(t.to_string());
        }
        if t.contains("</details>") {
            next.details.pop();
        }
        if t.starts_with('|') {
            if self.table.is_none()
                && let Some(header) = &self.row
                && is_separator(t)
            {
                next.table = Some(format!("{header}\n{text}\n"));
            }
            next.row = Some(text.to_string());
        } else {
            next.table = None;
            next.row = None;
        }
        next
    }

    /// What ends a part here, closing whatever is open.
    fn closers(&self) -> String {
        let mut out = String::new();
        if let Some(open) = &self.fence {
            let _ = writeln!(out, "{}", fence_of(open).unwrap_or("```"));
        }
        for _ in &self.details {
            out.push_str("\n</details>\n");
        }
        out
    }

    /// What starts the next part, opening again what the last one closed;
    /// a table's header only when `next` is another of its rows.
    fn reopeners(&self, next: &str) -> String {
        let mut out = String::new();
        for d in &self.details {
            let d = match d.find("</summary>") {
                Some(i) => format!("{} (continued){}", &d[..i], &d[i..]),
                None => d.clone(),
            };
            let _ = write!(out, "{d}\n\n");
        }
        if let Some(open) = &self.fence {
            let _ = writeln!(out, "{open}");
        } else if let Some(header) = &self.table
            && next.trim_start().starts_with('|')
        {
            out.push_str(header);
        }
        out
    }
}

/// Lines (each with its `\n`) grouped into sections: a new one starts at
/// each heading or `<details>` that is not inside anything else.
fn sections(markdown: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut open = Open::default();
    for line in markdown.split_inclusive('\n') {
        let t = line.trim_start();
        let starts = open.is_top()
            && (t.starts_with("### ") || t.starts_with("#### ") || t.starts_with("<details"));
        if starts || out.is_empty() {
            out.push(Vec::new());
        }
        out.last_mut().expect("a section").push(line);
        open = open.after(line);
    }
    out
}

/// Packs the lines of `markdown` into chunks of at most `budget` bytes.
fn split(markdown: &str, budget: usize) -> Vec<String> {
    let mut packer = Packer {
        budget,
        done: Vec::new(),
        current: String::new(),
        fresh: true,
        open: Open::default(),
    };
    for section in sections(markdown) {
        let size: usize = section.iter().map(|l| l.len()).sum();
        // A whole section moves to the next part when it fits there and
        // not here.
        if !packer.fresh
            && packer.open.is_top()
            && packer.current.len() + size > budget
            && size <= budget
        {
            packer.flush("");
        }
        for line in section {
            packer.push(line);
        }
    }
    packer.done.push(packer.current);
    packer.done
}

struct Packer {
    budget: usize,
    done: Vec<String>,
    current: String,
    /// Whether `current` holds only what a new part reopens.
    fresh: bool,
    open: Open,
}

impl Packer {
    /// Ends the current part, closing what is open, and starts the next,
    /// opening it again; `next` is the line that will come first.
    fn flush(&mut self, next: &str) {
        let mut ended = std::mem::take(&mut self.current);
        ended.push_str(&self.open.closers());
        self.done.push(ended);
        self.current = self.open.reopeners(next);
        self.fresh = true;
    }

    fn push(&mut self, line: &str) {
        let mut line = line;
        loop {
            let after = self.open.after(line);
            if self.current.len() + line.len() + after.closers().len() <= self.budget {
                self.current.push_str(line);
                self.open = after;
                self.fresh = false;
                return;
            }
            if !self.fresh {
                self.flush(line);
                continue;
            }
            // One line longer than a whole part: cut it at a character
            // boundary, breaking the line there.
            let room = self
                .budget
                .saturating_sub(self.current.len() + after.closers().len() + 1)
                .max(1);
            let mut cut = room.min(line.len());
            while cut > 0 && !line.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                cut = line.chars().next().map_or(line.len(), char::len_utf8);
            }
            let (head, rest) = line.split_at(cut);
            self.current.push_str(head);
            if !rest.is_empty() {
                self.current.push('\n');
            }
            self.open = self.open.after(head);
            self.fresh = false;
            if rest.is_empty() {
                return;
            }
            line = rest;
            self.flush(line);
        }
    }
}

#[cfg(test)]
mod tests;
