//! The documentation against the binary: every `modelops …` command in a
//! code block of README.md and docs/*.md is one the command line accepts
//! (parsed by the CLI's own definition, not run), and every relative link
//! between the pages reaches a file and, with a `#fragment`, a heading.

use std::path::{Path, PathBuf};

use clap::Parser;
use modelops::cli::Cli;

use crate::example_readme::words;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The lines of a page's shell code blocks (```sh, ```bash, ```console,
/// ```shell), with their line numbers: other blocks show output or files.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<bool> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(matches!(info.trim(), "sh" | "bash" | "console" | "shell")),
            };
        } else if fence == Some(true) {
            out.push((i + 1, line));
        }
    }
    out
}

/// A placeholder a reader fills in (`FILE`, `N`, `<name>`, `...`).
fn placeholder(word: &str) -> bool {
    word.contains('<')
        || word.contains("...")
        || word.contains('…')
        || (word.len() > 1 && word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

#[test]
fn every_documented_command_is_accepted_by_the_command_line() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("a page");
        for (n, line) in code_lines(&text) {
            let line = line.trim_start().trim_start_matches("$ ");
            // `VAR=value modelops …`, or `modelops …` at the start of a line.
            let words = words(line);
            let Some(at) = words.iter().position(|w| w == "modelops") else {
                continue;
            };
            if !words[..at].iter().all(|w| w.contains('=')) {
                continue;
            }
            let args = &words[at..];
            if args.iter().any(|w| placeholder(w) || w.contains('$')) {
                continue;
            }
            checked += 1;
            if let Err(e) = Cli::try_parse_from(args) {
                let first = e.to_string().lines().next().unwrap_or("").to_string();
                wrong.push(format!(
                    "{}:{n}: {line}\n    {first}",
                    page.strip_prefix(ROOT).unwrap_or(&page).display()
                ));
            }
        }
    }
    assert!(
        checked > 25,
        "only {checked} commands found: is the parser right?"
    );
    assert!(
        wrong.is_empty(),
        "commands the CLI refuses:\n{}",
        wrong.join("\n")
    );
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces
/// as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_between_pages_reaches_its_file_and_heading() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("a page");
        let dir = page.parent().expect("a directory");
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = &after[..end];
            rest = &after[end..];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            let shown = page
                .strip_prefix(ROOT)
                .unwrap_or(&page)
                .display()
                .to_string();
            if !path.exists() {
                broken.push(format!("{shown}: {target}: no such file"));
                continue;
            }
            if fragment.is_empty() || path.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let headings: Vec<String> = std::fs::read_to_string(&path)
                .expect("the target")
                .lines()
                .filter(|l| l.starts_with('#'))
                .map(|l| anchor(l.trim_start_matches('#')))
                .collect();
            if !headings.iter().any(|h| h == fragment) {
                broken.push(format!("{shown}: {target}: no heading `#{fragment}`"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
