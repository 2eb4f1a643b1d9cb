//! Splitting: every part within the limit, nothing left open across
//! parts, every line kept in order; markers and footers.

use super::*;

fn fenced_balanced(text: &str) -> bool {
    text.lines().filter(|l| fence_of(l).is_some()).count() % 2 == 0
}

fn details_balanced(text: &str) -> bool {
    text.matches("<details").count() == text.matches("</details>").count()
}

/// The markdown again from the parts, without what the split added.
fn rejoin(parts: &[String]) -> String {
    parts.concat()
}

#[test]
fn markers_are_read_from_the_first_line_only() {
    let rows = [
        ("<!-- modelops-plan -->\n### modelops plan", Some(1)),
        ("<!-- modelops-plan -->", Some(1)),
        ("  <!-- modelops-plan -->  \r\nx", Some(1)),
        ("<!-- modelops-plan part 2 -->\n_continued_", Some(2)),
        ("<!-- modelops-plan part 12 -->\n", Some(12)),
        ("<!-- modelops-plan part 1 -->\n", None),
        ("<!-- modelops-plan part x -->\n", None),
        ("> <!-- modelops-plan -->\nquoted", None),
        ("LGTM\n<!-- modelops-plan -->", None),
        ("", None),
    ];
    for (body, want) in rows {
        assert_eq!(part_of(body), want, "{body:?}");
    }
    for part in [1, 2, 40] {
        assert_eq!(part_of(&format!("{}\n", marker(part))), Some(part));
    }
}

#[test]
fn footers() {
    let at: Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let rows = [
        (
            Footer {
                commit: Some("0123456789abcdef0123".into()),
                at: Some(at),
                run_url: Some("https://github.com/a/b/actions/runs/9".into()),
            },
            format!(
                "\n<sub>Planned at 2026-11-26 09:00:00 UTC for commit `0123456789ab` · [workflow run](https://github.com/a/b/actions/runs/9) · modelops {version}</sub>\n"
            ),
        ),
        (
            Footer {
                at: Some(at),
                ..Footer::default()
            },
            format!("\n<sub>Planned at 2026-11-26 09:00:00 UTC · modelops {version}</sub>\n"),
        ),
        (
            Footer::default(),
            format!("\n<sub>modelops {version}</sub>\n"),
        ),
    ];
    for (footer, want) in rows {
        assert_eq!(footer.render(), want);
    }
}

#[test]
fn a_short_comment_is_one_body() {
    let parts = bodies(
        "### modelops plan\n\nNo changes.\n",
        &Footer::default(),
        MAX_COMMENT,
    );
    assert_eq!(parts.len(), 1);
    assert!(parts[0].starts_with("<!-- modelops-plan -->\n### modelops plan\n"));
    assert!(!parts[0].contains("ontinued"));
    assert!(parts[0].ends_with(&Footer::default().render()));
}

/// Markdown shaped like a plan: sections, folded gate tables, a long
/// manifest diff in a folded code block.
fn plan_like(diff_lines: usize) -> String {
    let mut md = String::from("### modelops plan\n\n**Plan: 3 to add.**\n\n");
    for m in 0..3 {
        let _ = write!(
            md,
            "#### `model-{m}` — create\n\n```diff\n+ register model model-{m}\n```\n\n"
        );
        md.push_str(
            "<details><summary>Gates for version 2</summary>\n\n| gate | result |\n|---|---|\n",
        );
        for g in 0..40 {
            let _ = writeln!(md, "| `metric.m{g}` | PASS |");
        }
        md.push_str("\n</details>\n\n");
        md.push_str("<details><summary>Manifest changes</summary>\n\n```diff\n");
        for l in 0..diff_lines {
            let _ = writeln!(md, "+      - {{name: feature_{m}_{l}, type: double}}");
        }
        md.push_str("```\n\n</details>\n\n");
    }
    md.push_str("<details><summary>Unchanged models (1)</summary>\n\n- `other`\n\n</details>\n");
    md
}

#[test]
fn every_part_is_within_the_limit_and_balanced() {
    for (diff_lines, limit) in [
        (10, 4096),
        (300, 4096),
        (2_000, 20_000),
        (5_000, MAX_COMMENT),
    ] {
        let md = plan_like(diff_lines);
        let footer = Footer {
            commit: Some("abc".into()),
            ..Footer::default()
        };
        let parts = bodies(&md, &footer, limit);
        for (i, body) in parts.iter().enumerate() {
            let part = i + 1;
            assert!(body.len() <= limit, "part {part} is {} bytes", body.len());
            assert_eq!(part_of(body), Some(part));
            assert!(fenced_balanced(body), "part {part}:\n{body}");
            assert!(details_balanced(body), "part {part}:\n{body}");
            if part > 1 {
                assert!(body.contains(&format!("continued: part {part} of {}", parts.len())));
            }
            if part < parts.len() {
                assert!(body.contains(&format!(
                    "Continued in the next comment (part {} of",
                    part + 1
                )));
            }
        }
        // Every line of the markdown is there, in order.
        let all = rejoin(&parts);
        let mut from = 0;
        for line in md
            .lines()
            .filter(|l| l.starts_with('+') || l.starts_with("| `"))
        {
            let at = all[from..]
                .find(line)
                .unwrap_or_else(|| panic!("{line} lost or out of order"));
            from += at + line.len();
        }
    }
}

#[test]
fn a_split_inside_a_code_block_closes_and_reopens_it() {
    let mut md = String::from("<details><summary>Manifest changes</summary>\n\n```diff\n");
    for l in 0..200 {
        let _ = writeln!(md, "+ line {l:04} of the diff");
    }
    md.push_str("```\n\n</details>\n");
    let chunks = split(&md, 1024);
    assert!(chunks.len() > 3);
    for (i, c) in chunks.iter().enumerate() {
        assert!(c.len() <= 1024);
        if i > 0 {
            assert!(
                c.starts_with(
                    "<details><summary>Manifest changes (continued)</summary>\n\n```diff\n+ line"
                ),
                "{c}"
            );
        }
        if i + 1 < chunks.len() {
            assert!(c.ends_with("```\n\n</details>\n"), "{c}");
        }
    }
}

#[test]
fn a_split_inside_a_table_repeats_its_header() {
    let mut md = String::from("| gate | result |\n|---|---|\n");
    for g in 0..100 {
        let _ = writeln!(md, "| `metric.m{g:03}` | PASS |");
    }
    md.push_str("\nafter the table\n");
    let chunks = split(&md, 512);
    assert!(chunks.len() > 2);
    for c in &chunks[1..] {
        if c.starts_with('|') {
            assert!(
                c.starts_with("| gate | result |\n|---|---|\n| `metric"),
                "{c}"
            );
        }
    }
    assert!(chunks.last().unwrap().contains("after the table"));
}

#[test]
fn a_section_that_fits_the_next_part_is_not_cut() {
    let a = format!("#### a\n\n```diff\n{}```\n\n", "+ a line\n".repeat(60));
    let b = format!("#### b\n\n```diff\n{}```\n\n", "+ b line\n".repeat(60));
    let md = format!("{a}{b}");
    let chunks = split(&md, a.len() + 100);
    assert_eq!(chunks, vec![a, b]);
}

#[test]
fn a_line_longer_than_a_part_is_cut() {
    let long = "é".repeat(3000); // 6,000 bytes
    let md = format!("```\n{long}\n```\n");
    let chunks = split(&md, 1000);
    for c in &chunks {
        assert!(c.len() <= 1000, "{}", c.len());
        assert!(fenced_balanced(c));
    }
    let text: String = chunks.concat().chars().filter(|c| *c == 'é').collect();
    assert_eq!(text, long);
}

#[test]
fn empty_markdown_is_one_part() {
    assert_eq!(bodies("", &Footer::default(), MAX_COMMENT).len(), 1);
}
