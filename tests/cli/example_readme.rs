//! `example-repo/README.md` run as written: every ```sh block's commands on a
//! fresh copy of the example, in page order, with the ```diff blocks applied
//! where they appear. Each command must exit as its line says (`# exit N`,
//! else 0), and each line of a ```text block must appear in what the command
//! above it printed (`…` stands for text that varies). So the page cannot
//! drift from the binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::Repo;

/// One fenced block of the page that the test acts on.
#[derive(Debug, PartialEq)]
enum Block {
    /// A ```sh block: one command per line, comments and blank lines skipped.
    Commands(Vec<String>),
    /// A ```text block: what the command before it printed, in part.
    Output(Vec<String>),
    /// A ```diff block: an edit, applied with `git apply`.
    Diff(String),
}

/// The ```sh, ```text and ```diff blocks of a markdown page, in order.
fn blocks(page: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in page.lines() {
        match open.take() {
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some((info.trim().to_string(), Vec::new()));
                }
            }
            Some((info, body)) if line.trim_end() == "```" => match info.as_str() {
                "sh" => blocks.push(Block::Commands(
                    body.iter()
                        .map(|l| l.trim())
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(str::to_string)
                        .collect(),
                )),
                "text" => blocks.push(Block::Output(
                    body.iter()
                        .map(|l| l.trim_end().to_string())
                        .filter(|l| !l.is_empty())
                        .collect(),
                )),
                "diff" => blocks.push(Block::Diff(body.join("\n") + "\n")),
                _ => {}
            },
            Some((info, mut body)) => {
                body.push(line);
                open = Some((info, body));
            }
        }
    }
    assert!(open.is_none(), "the page ends inside a fenced block");
    blocks
}

/// A command line without its trailing comment, and the exit code that
/// comment promises (`# exit N`; 0 without one).
fn expected_exit(line: &str) -> (&str, i32) {
    match line.find(" #") {
        None => (line, 0),
        Some(at) => {
            let comment = line[at + 2..].trim();
            let code = comment
                .strip_prefix("exit ")
                .map(|n| n.trim().parse().expect("`# exit N` names a number"))
                .unwrap_or(0);
            (line[..at].trim_end(), code)
        }
    }
}

/// Splits a command line into words as a POSIX shell would for the quoting
/// the pages use: single and double quotes, no expansions; an unquoted
/// comment, pipe, `;`, `&` or redirection ends the command.
pub fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#' | '|' | ';' | '>' | '&') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quote in {line:?}");
    if in_word {
        words.push(word);
    }
    words
}

/// Whether some line of `printed` holds the pieces of `want` between its
/// `…`s, in order.
fn shows(printed: &str, want: &str) -> bool {
    printed.lines().any(|line| {
        let mut rest = line;
        want.split('…').all(|piece| match rest.find(piece) {
            Some(at) => {
                rest = &rest[at + piece.len()..];
                true
            }
            None => false,
        })
    })
}

/// Runs a command other than modelops (git, perl) through `sh` in the copy,
/// with git configured hermetically as the harness does.
fn shell(root: &Path, line: &str, want: i32) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "tester")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "tester")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .expect("sh runs");
    assert_eq!(
        out.status.code(),
        Some(want),
        "`{line}` exited {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Applies a ```diff block of the page to the copy.
fn apply_diff(root: &Path, diff: &str) {
    let mut child = Command::new("git")
        .args(["apply", "-"])
        .current_dir(root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git apply runs");
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(diff.as_bytes())
        .expect("diff written");
    let out = child.wait_with_output().expect("git apply finishes");
    assert!(
        out.status.success(),
        "the page's diff does not apply:\n{diff}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `$schema=` line of the copy's manifests names a file that exists,
/// relative to the manifest.
fn schema_links_resolve(root: &Path) {
    let dirs = ["", "models", "deployments", "policies"];
    let mut checked = 0;
    for dir in dirs {
        for entry in std::fs::read_dir(root.join(dir)).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("manifest");
            let Some(link) = text
                .lines()
                .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
            else {
                continue;
            };
            let target = path.parent().expect("parent").join(link.trim());
            assert!(
                target.is_file(),
                "{}: $schema={link} does not resolve in the copy",
                path.display()
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked, 8,
        "every manifest and modelops.yaml has a $schema line"
    );
}

#[test]
fn the_example_readme_runs_as_written() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("example-repo/README.md"),
    )
    .expect("example-repo/README.md");
    let repo = Repo::example();
    // The page keeps the state where a user's copy would: .modelops/.
    repo.default_state();
    let root = repo.root().to_path_buf();

    let mut printed: Option<(String, String)> = None;
    let (mut commands, mut outputs, mut diffs) = (0, 0, 0);
    for block in blocks(&page) {
        match block {
            Block::Diff(diff) => {
                apply_diff(&root, &diff);
                diffs += 1;
            }
            Block::Output(lines) => {
                let (line, out) = printed
                    .as_ref()
                    .expect("an output block follows a modelops command");
                for want in &lines {
                    assert!(
                        shows(out, want),
                        "the page says `{line}` prints\n  {want}\nbut it printed:\n{out}"
                    );
                }
                outputs += 1;
            }
            Block::Commands(lines) => {
                for line in &lines {
                    let (command, want) = expected_exit(line);
                    commands += 1;
                    if command.starts_with("cp -R example-repo ") || command.starts_with("cd ") {
                        // The copy is the harness's (Repo::example()).
                        continue;
                    }
                    if let Some(now) = command.strip_prefix("export MODELOPS_NOW=") {
                        repo.at(now);
                        continue;
                    }
                    let mut args = words(command);
                    let mut env = Vec::new();
                    while let Some((key, value)) = args.first().and_then(|w| w.split_once('=')) {
                        env.push((key.to_string(), value.to_string()));
                        args.remove(0);
                    }
                    if args.first().map(String::as_str) != Some("modelops") {
                        assert!(env.is_empty(), "`{command}`: only modelops takes a clock");
                        shell(&root, command, want);
                        printed = None;
                        continue;
                    }
                    let args: Vec<&str> = args[1..].iter().map(String::as_str).collect();
                    let env: Vec<(&str, &str)> =
                        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let run = repo.run_with(&args, &env).code(want);
                    printed = Some((
                        command.to_string(),
                        format!("{}{}", run.stdout(), run.stderr()),
                    ));
                }
            }
        }
    }
    assert!(commands >= 20, "the page runs {commands} commands");
    assert!(
        outputs >= 10 && diffs >= 2,
        "{outputs} outputs, {diffs} diffs"
    );
    // The copy gave itself schemas and repointed every link at them.
    schema_links_resolve(&root);
    // The walkthrough ends with version 2 back in Production after the
    // rollback, held there.
    repo.run(&["status", "fraud-detector"])
        .code(0)
        .stdout_has("  2          Production ")
        .stdout_has("held");
}

#[test]
fn the_page_is_parsed_as_commands_outputs_and_diffs() {
    let page = "text\n```sh\n# a comment\nmodelops plan  # exit 1\n\ngit add .\n```\n```text\n  a line  \n```\n```yaml\nkey: 1\n```\n```diff\n-a\n+b\n```\n";
    assert_eq!(
        blocks(page),
        vec![
            Block::Commands(vec!["modelops plan  # exit 1".into(), "git add .".into()]),
            Block::Output(vec!["  a line".into()]),
            Block::Diff("-a\n+b\n".into()),
        ]
    );
    assert_eq!(
        expected_exit("modelops plan  # exit 1"),
        ("modelops plan", 1)
    );
    assert_eq!(expected_exit("modelops plan"), ("modelops plan", 0));
    assert_eq!(
        words(r#"MODELOPS_NOW=x modelops rollback m --reason "error spike" 'a b'"#),
        [
            "MODELOPS_NOW=x",
            "modelops",
            "rollback",
            "m",
            "--reason",
            "error spike",
            "a b"
        ]
    );
    assert!(shows("  by alice: done\n", "  by …: done"));
    assert!(!shows("by alice\ndone\n", "by …done"));
}
