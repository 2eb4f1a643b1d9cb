//! Text from manifests and servers made safe to print. A pull request
//! controls every byte of its manifests, and a registry or a webhook every
//! byte of its answers; printed raw, such text could rewrite a reviewer's
//! terminal (ANSI escapes), reorder what a reviewer reads (Unicode bidi
//! overrides), fake lines of a plan (newlines), or run a GitHub Actions
//! workflow command in a CI log (`::add-mask::…`, `##[error]…`).
//!
//! Two functions, one for each side of the render boundary:
//! - [`text`] for one value placed on a line: every hidden character is
//!   escaped, newlines included, so a value is always one line.
//! - [`terminal`] for a whole output as it is written to stdout or stderr:
//!   hidden characters other than the newline are escaped, and no line can
//!   be a workflow command. It is the net under every printed byte, so a
//!   value a renderer did not pass through [`text`] still cannot reach the
//!   terminal or the runner raw.
//!
//! Escapes read as Rust writes them: `\n`, `\r`, `\t`, `\u{1b}`.
//!
//! Markdown (a pull-request comment, a job summary) has its own three:
//! [`inline`] for a value in running text or a table cell, [`code`] for a
//! value in a code span, [`fence`] for a block of lines in a code block.
//! Each leaves nothing a value could start markup with: no mention,
//! reference, link, image, autolink, heading, HTML, emphasis, table cell or
//! closing fence.

use std::fmt::{self, Write as _};

/// Whether `c` is shown escaped: C0 and C1 control characters and DEL
/// (terminal escapes, carriage returns, backspaces), the Unicode
/// bidirectional overrides, embeddings, isolates and marks (U+202A–U+202E,
/// U+2066–U+2069, U+200E, U+200F, U+061C), and the Unicode line and
/// paragraph separators.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

fn escape_char(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// One value on a line of text, shown with every hidden character escaped
/// (see [`is_hidden`]); `format!("owner {}", text(owner))`.
pub fn text(value: &str) -> Text<'_> {
    Text(value)
}

/// A value displayed escaped; made by [`text`].
#[derive(Debug, Clone, Copy)]
pub struct Text<'a>(&'a str);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_hidden) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().expect("a character at a match");
            escape_char(f, c)?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A whole text output, as it is written: hidden characters other than the
/// newline escaped, and nothing GitHub Actions' runner reads as a workflow
/// command. The runner takes a line as a command when it starts with `::`
/// after leading whitespace, or when it holds `##[` anywhere (the older
/// form); the first `:` of such a line is written `\u{3a}` and the `[` of
/// `##[` is written `\u{5b}`. modelops' own text never has either, so only
/// text that came from outside is changed.
pub fn terminal(output: &str) -> String {
    terminal_painted(output, false)
}

/// [`terminal`], with the colour marks of [`super::paint`] written as the
/// terminal's colour codes when `colour` is on, and dropped when it is off.
/// Only the few codes of that module can come out: a mark is two
/// characters, the first a control character that [`text`] escapes in any
/// value, so a value can at most change a colour, never move the cursor,
/// hide text or rewrite a line.
pub fn terminal_painted(output: &str, colour: bool) -> String {
    let mut out = String::with_capacity(output.len());
    for line in output.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        // Still in the line's leading whitespace, as written (marks are
        // not written, so they do not end it).
        let mut indent = true;
        let line_start = out.len();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            if c == super::paint::MARK
                && let Some(code) = chars.peek().and_then(|k| super::paint::sgr(*k))
            {
                chars.next();
                if colour {
                    out.push_str(code);
                }
                continue;
            }
            let written = &out[line_start..];
            if c != '\n' && is_hidden(c) {
                let _ = escape_char(&mut out, c);
            } else if c == ':' && indent && chars.peek() == Some(&':') {
                out.push_str("\\u{3a}");
            } else if c == '[' && strip_colour(written).ends_with("##") {
                out.push_str("\\u{5b}");
            } else {
                out.push(c);
            }
            indent = indent && c.is_whitespace();
        }
        out.push_str(newline);
    }
    out
}

/// `text` without the colour codes [`terminal_painted`] wrote into it.
fn strip_colour(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\u{1b}') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut plain = text.to_string();
    for code in super::paint::CODES {
        plain = plain.replace(code, "");
    }
    std::borrow::Cow::Owned(plain)
}

/// JSON output, as it is written. JSON escapes C0 controls already; the
/// other hidden characters (C1, bidi) and the `[` of `##[` are written as
/// `\uXXXX` escapes, which only occur inside strings and decode to the
/// same value. No line of pretty JSON starts with `::`.
pub fn json(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    for (i, c) in output.char_indices() {
        if is_hidden(c) && c != '\n' {
            // Only outside C0 (which JSON already escapes) can this happen.
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else if c == '[' && output[..i].ends_with("##") {
            out.push_str("\\u005b");
        } else {
            out.push(c);
        }
    }
    out
}

/// One value in markdown's running text or a table cell, shown as
/// itself and nothing more: hidden characters escaped as [`text`] does;
/// backslash-escaped, every character that starts markup anywhere in a
/// line (`\\`, `` ` ``, `*`, `_`, `{`, `}`, `[`, `]`, `(`, `)`, `!`, `|`, `<`,
/// `>`, `~`, `&`, `:`, `$`: emphasis, code, links, images, tables, HTML,
/// entities, emoji codes and `http:` autolinks, math) and the few that do
/// only at its start (`-`, `+`, `=`, `1.`: lists and headings, were the
/// value to begin a line) or after `www` (autolinks); and `@` and `#`
/// followed by an empty HTML comment, which GitHub renders as nothing but
/// which keeps `@name` from mentioning and `#12` from referencing (GitHub
/// finds those in the rendered text, after escapes are gone).
pub fn inline(value: &str) -> Inline<'_> {
    Inline(value)
}

/// A value displayed as inert markdown; made by [`inline`].
#[derive(Debug, Clone, Copy)]
pub struct Inline<'a>(&'a str);

impl fmt::Display for Inline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        // `12.` or `12)` at the start, followed by a space or the end: an
        // ordered list's marker.
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let ordered = digits > 0
            && s[digits..].starts_with(['.', ')'])
            && s[digits + 1..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace);
        for (i, c) in s.char_indices() {
            let escape = match c {
                '@' | '#' => {
                    write!(f, "{c}<!-- -->")?;
                    continue;
                }
                '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '!' | '|' | '<'
                | '>' | '~' | '&' | ':' | '$' => true,
                '-' | '+' | '=' => i == 0,
                '.' => (ordered && i == digits) || s[..i].to_ascii_lowercase().ends_with("www"),
                _ => false,
            };
            if escape {
                write!(f, "\\{c}")?;
            } else if is_hidden(c) {
                escape_char(f, c)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// A message in markdown: [`inline`], except that text between a pair of
/// backticks (how modelops quotes a name in its messages) becomes a code
/// span through [`code`]. Either way nothing in it is markup; with an odd
/// number of backticks the whole message is [`inline`].
pub fn prose(message: &str) -> String {
    let parts: Vec<&str> = message.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return inline(message).to_string();
    }
    let mut out = String::with_capacity(message.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            out.push_str(&code(part));
        } else {
            let _ = write!(out, "{}", inline(part));
        }
    }
    out
}

/// A value as a markdown code span: delimited by one backtick more than
/// the longest run of backticks in it, so it cannot close the span early;
/// hidden characters escaped as [`text`] does, and `|` written `\|`, which
/// a table cell needs (GitHub shows it as `|`). Mentions, links and HTML
/// mean nothing in a code span.
pub fn code(value: &str) -> String {
    let shown = text(value).to_string().replace('|', "\\|");
    let ticks = "`".repeat(longest_run(&shown, '`') + 1);
    // A space inside each delimiter keeps a leading or trailing backtick
    // from joining it; markdown strips one space from each side.
    let pad = if shown.starts_with('`') || shown.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{shown}{pad}{ticks}")
}

/// Lines as a fenced code block with `info` (such as `diff`): the fence is
/// one backtick longer than the longest run of backticks in the lines, and
/// at least three, so no line can close it; hidden characters other than
/// the newline escaped. Ends with a newline.
pub fn fence(info: &str, lines: &str) -> String {
    let ticks = "`".repeat((longest_run(lines, '`') + 1).max(3));
    let mut out = format!("{ticks}{info}\n");
    for line in lines.lines() {
        let _ = writeln!(out, "{}", text(line));
    }
    let _ = writeln!(out, "{ticks}");
    out
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == ch { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_one_line_with_hidden_characters_escaped() {
        let rows = [
            ("team-a", "team-a"),
            ("a\nb", "a\\nb"),
            ("\u{1b}[31mred\u{1b}[0m", "\\u{1b}[31mred\\u{1b}[0m"),
            ("cr\rtab\t", "cr\\rtab\\t"),
            ("bell\u{7}del\u{7f}", "bell\\u{7}del\\u{7f}"),
            ("c1 \u{9b}2J", "c1 \\u{9b}2J"),
            (
                "rtl \u{202e}cod\u{2066}x\u{2069}",
                "rtl \\u{202e}cod\\u{2066}x\\u{2069}",
            ),
            ("sep\u{2028}x", "sep\\u{2028}x"),
            ("naïve café ✓", "naïve café ✓"),
            ("", ""),
        ];
        for (value, want) in rows {
            assert_eq!(text(value).to_string(), want, "{value:?}");
        }
    }

    #[test]
    fn outputs_keep_their_lines_and_lose_workflow_commands() {
        let rows = [
            ("plan\n  ok\n", "plan\n  ok\n"),
            ("a\u{1b}]0;title\u{7}\n", "a\\u{1b}]0;title\\u{7}\n"),
            ("::error::owned\n", "\\u{3a}:error::owned\n"),
            ("    ::add-mask::x", "    \\u{3a}:add-mask::x"),
            ("\t::warning::x\n", "\\t\\u{3a}:warning::x\n"),
            ("owner ::error::x\n", "owner ::error::x\n"),
            ("x ##[error]y ##[z\n", "x ##\\u{5b}error]y ##\\u{5b}z\n"),
            ("# heading [a]\n", "# heading [a]\n"),
            ("a\r\nb", "a\\r\nb"),
        ];
        for (output, want) in rows {
            assert_eq!(terminal(output), want, "{output:?}");
        }
    }

    #[test]
    fn json_stays_json() {
        let value = serde_json::json!({"owner": "a\u{1b}\u{9b}\u{202e}##[error]x\n::error::y"});
        let printed = json(&serde_json::to_string_pretty(&value).unwrap());
        assert!(!printed.chars().any(|c| is_hidden(c) && c != '\n'));
        assert!(!printed.contains("##["));
        assert!(!printed.lines().any(|l| l.trim_start().starts_with("::")));
        let back: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn markdown_values_are_inert() {
        let rows = [
            ("team-a 0.84 ≥ 0.85", "team-a 0.84 ≥ 0.85"),
            ("@octocat", "@<!-- -->octocat"),
            ("a@b.io", "a@<!-- -->b.io"),
            ("fixes #12", "fixes #<!-- -->12"),
            (
                "![img](http://x/a.png)",
                "\\!\\[img\\]\\(http\\://x/a.png\\)",
            ),
            ("[link](x)", "\\[link\\]\\(x\\)"),
            ("<http://x>", "\\<http\\://x\\>"),
            ("# h", "#<!-- --> h"),
            ("<img src=x onerror=y>", "\\<img src=x onerror=y\\>"),
            ("a | b", "a \\| b"),
            ("www.x.io WWW.y", "www\\.x.io WWW\\.y"),
            ("**b** _i_ ~s~ `c`", "\\*\\*b\\*\\* \\_i\\_ \\~s\\~ \\`c\\`"),
            ("&amp; $x$ :x:", "\\&amp; \\$x\\$ \\:x\\:"),
            ("- item", "\\- item"),
            ("+ item", "\\+ item"),
            ("=== ", "\\=== "),
            ("12. item", "12\\. item"),
            ("3) item", "3\\) item"),
            ("1.5", "1.5"),
            ("line\nbreak\u{1b}", "line\\nbreak\\u{1b}"),
        ];
        for (value, want) in rows {
            assert_eq!(inline(value).to_string(), want, "{value:?}");
        }
    }

    #[test]
    fn code_spans_and_fences_cannot_be_closed_from_inside() {
        let rows = [
            ("churn-predictor", "`churn-predictor`"),
            ("a`b", "``a`b``"),
            ("`x``", "``` `x`` ```"),
            ("a|b\n", "`a\\|b\\n`"),
        ];
        for (value, want) in rows {
            assert_eq!(code(value), want, "{value:?}");
        }
        assert_eq!(fence("diff", "+ a\n- b\n"), "```diff\n+ a\n- b\n```\n");
        assert_eq!(
            prose("input `a_b` (new): `x``"),
            "input \\`a\\_b\\` \\(new\\)\\: \\`x\\`\\`"
        );
        assert_eq!(
            prose("input `a_b` (new) of `@x|y`"),
            "input `a_b` \\(new\\) of `@x\\|y`"
        );
        assert_eq!(
            fence("", "x\n```\n~~~\n````y\u{1b}"),
            "`````\nx\n```\n~~~\n````y\\u{1b}\n`````\n"
        );
    }
}
