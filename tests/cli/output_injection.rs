//! Text from a pull request's manifests printed as data, never as markup or
//! commands: ANSI escapes, bidi overrides and workflow commands (`::error::`,
//! `##[…]`) in an owner, an `approved_by`, a metric name or a file name come
//! out escaped in plan, apply, status, history and validation output; a
//! markdown-injection corpus renders inert; a serving-target name that could
//! paste text into nginx's configuration is a validation error.

use crate::common::{Repo, Run, snapshot};

const CHURN: &str = "models/churn-predictor.yaml";

/// An owner that would clear a terminal, colour it, fake a workflow error
/// on its own line, start an old-style command mid-line, reverse the text
/// after it, and ring the bell.
const HOSTILE: &str =
    r#""\e[2J\e[31mowned\e[0m\n::error file=x::pwned ##[warning]old\u202Ereversed\a\x9b""#;

/// What every byte a run printed must not hold: a terminal escape or any
/// other control character but the newline, a C1 control, a bidi override
/// or isolate, a line GitHub's runner would read as a workflow command.
fn assert_inert(run: &Run) {
    for (stream, text) in [("stdout", run.raw_stdout()), ("stderr", &run.stderr())] {
        let bad = text.chars().find(|c| {
            (c.is_control() && *c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        });
        assert_eq!(bad, None, "{stream} holds a hidden character:\n{text}");
        for line in text.lines() {
            assert!(
                !line.trim_start().starts_with("::"),
                "{stream} has a workflow command line: {line:?}"
            );
            assert!(!line.contains("##["), "{stream} has `##[`: {line:?}");
        }
    }
}

/// The example with [`HOSTILE`] as churn-predictor's owner and every
/// version's `approved_by` (so the owner's sign-off still passes).
fn hostile_example() -> Repo {
    let repo = Repo::example();
    repo.edit(CHURN, "owner: ml-platform", &format!("owner: {HOSTILE}"));
    let text = repo.read(CHURN).replace(
        "approved_by: ml-platform",
        &format!("approved_by: {HOSTILE}"),
    );
    repo.file(CHURN, text);
    repo
}

/// The escaped owner as text output shows it: one line.
const SHOWN: &str = r"\u{1b}[2J\u{1b}[31mowned\u{1b}[0m\n::error file=x::pwned ##\u{5b}warning]old\u{202e}reversed\u{7}\u{9b}";

#[test]
fn hostile_owner_and_approver_print_escaped_in_every_text_output() {
    let repo = hostile_example();
    let plan = repo.run(&["plan"]).code(0);
    assert_inert(&plan);
    // The value's `##[` is caught by the output's net, the rest by the value's
    // own escaping: one line, readable, nothing hidden.
    plan.stdout_has(&format!("+ register model churn-predictor (owner {SHOWN})"));

    let apply = repo.run(&["apply", "--auto-approve"]).code(0);
    assert_inert(&apply);

    let status = repo.run(&["status"]).code(0);
    assert_inert(&status);
    status.stdout_has(&format!("churn-predictor (owner {SHOWN})"));

    let history = repo.run(&["history", "churn-predictor"]).code(0);
    assert_inert(&history);
    assert!(
        history.raw_stdout().contains(r"\u{1b}[2J"),
        "{}",
        history.raw_stdout()
    );

    // JSON keeps the value exactly, escaped as JSON escapes.
    let json = repo.run(&["status", "--format", "json"]).code(0);
    assert_inert(&json);
    let owner = json.json()[0]["owner"].as_str().unwrap().to_string();
    assert!(owner.starts_with("\u{1b}[2J") && owner.contains("##[warning]"));
}

#[test]
fn hostile_metric_names_and_file_names_print_escaped() {
    // A gate on a metric whose name carries a command on its own line: the
    // version lacks it, so the gate fails and names it.
    let repo = Repo::example();
    repo.edit(
        "policies/default.yaml",
        "      test_auc: {better: higher, threshold: 0.80}\n    fairness_min: 0.80\n    fairness_max_regression: 0.01\n    signature:",
        "      test_auc: {better: higher, threshold: 0.80}\n      \"auc\\e[8m\\n::add-mask::x\": {better: higher, threshold: 0.5}\n    fairness_min: 0.80\n    fairness_max_regression: 0.01\n    signature:",
    );
    for args in [
        &["plan"][..],
        &["plan", "--format", "markdown"],
        &["apply", "--auto-approve"],
    ] {
        let run = repo.run(args);
        assert_inert(&run);
    }
    let status = repo.run(&["status"]);
    assert_inert(&status);

    // A file name with an escape and a command line, and bad YAML in it.
    let repo = Repo::new();
    repo.file("models/evil\u{1b}[31m\n::error::x.yaml", "a: [");
    for format in ["text", "json"] {
        let run = repo.run(&["validate", "--format", format]).code(1);
        assert_inert(&run);
    }
    // Annotations are workflow commands by design: one per error, the
    // file name's newline and colons percent-encoded, nothing else.
    let github = repo.run(&["validate", "--format", "github"]).code(1);
    let lines: Vec<&str> = github.raw_stdout().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(r"/models/evil\u{1b}[31m%0A\u{3a}%3Aerror%3A%3Ax.yaml,line=1"),
        "{lines:?}"
    );
    assert!(!github.raw_stdout().contains('\u{1b}'));
    repo.run(&["validate"])
        .code(1)
        .stderr_has(r"evil\u{1b}[31m\n::error::x.yaml:");
    repo.run(&["plan"])
        .code(1)
        .stderr_has(r"evil\u{1b}[31m\n::error::x.yaml:");
}

/// A markdown-injection corpus: a mention, an image, a link, an autolink,
/// a heading, HTML, a closing fence, a table cell, emphasis and an issue
/// reference, each on its own line.
const CORPUS: &str = r#""@octocat ![img](http://x/i.png) [link](http://x) <http://x> http://x www.x.io\n# heading\n<img src=x onerror=alert(1)>\n```\n~~~\n| a | b |\n**bold** _em_ #12 :x:""#;

#[test]
fn a_markdown_injection_corpus_renders_inert() {
    let repo = Repo::example();
    repo.edit(CHURN, "owner: ml-platform", &format!("owner: {CORPUS}"));
    let text = repo.read(CHURN).replace(
        "approved_by: ml-platform",
        &format!("approved_by: {CORPUS}"),
    );
    repo.file(CHURN, text);
    let markdown = repo.run(&["plan", "--format", "markdown"]).code(0);
    assert_inert(&markdown);
    let out = markdown.stdout();
    // In a table cell (the owner's sign-off): every markup character
    // escaped, the mention and the reference broken by an empty comment.
    let cell = concat!(
        r"@<!-- -->octocat \!\[img\]\(http\://x/i.png\) \[link\]\(http\://x\) \<http\://x\> http\://x www\.x.io\n#<!-- --> heading\n",
        r"\<img src=x onerror=alert\(1\)\>\n\`\`\`\n\~\~\~\n\| a \| b \|\n\*\*bold\*\* \_em\_ #<!-- -->12 \:x\:",
    );
    assert!(
        out.contains(&format!("| `approval.owner` | PASS | {cell} |")),
        "{out}"
    );
    // In a code block (the register step): a fence longer than the value's
    // backtick run, so the value's ``` cannot close it.
    assert!(out.contains("#### `churn-predictor` — create\n\n````diff\n+ register model churn-predictor (owner @octocat"), "{out}");
    // Nothing outside code is raw markup from the corpus.
    for raw in [
        "@octocat",
        "![img]",
        "[link](",
        "<img",
        "<http://x>",
        "\n# heading",
        "#12",
    ] {
        let outside_code: String = code_free(&out);
        assert!(!outside_code.contains(raw), "{raw} outside code:\n{out}");
    }
    snapshot!("markdown_injection_corpus", out);
}

/// `markdown` without its fenced code blocks, code spans and backslash
/// escapes (an escaped character is text, not markup).
fn code_free(markdown: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<String> = None;
    for line in markdown.lines() {
        let t = line.trim_start();
        let ticks: String = t.chars().take_while(|c| *c == '`').collect();
        match &fence {
            Some(f) if t.trim_end() == f.as_str() => fence = None,
            Some(_) => {}
            None if ticks.len() >= 3 => fence = Some(ticks),
            None => {
                // Drop code spans: text between matching backtick runs.
                let mut rest = line;
                while let Some(at) = rest.find('`') {
                    out.push_str(&rest[..at]);
                    let run = rest[at..].chars().take_while(|c| *c == '`').count();
                    let delim = "`".repeat(run);
                    match rest[at + run..].find(&delim) {
                        Some(end) => rest = &rest[at + run + end + run..],
                        None => {
                            rest = &rest[at + run..];
                        }
                    }
                }
                out.push_str(rest);
                out.push('\n');
            }
        }
    }
    let mut plain = String::with_capacity(out.len());
    let mut chars = out.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            chars.next();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn a_target_name_that_could_inject_nginx_configuration_is_a_validation_error() {
    // A target whose name carries a server block onto its own lines, and a
    // listen address that carries a directive.
    let repo = Repo::example();
    let config = repo.read("modelops.yaml");
    repo.file(
        "modelops.yaml",
        format!(
            "{config}  serving:\n    targets:\n      \"edge\\n}} server {{ listen 9; root /etc; autoindex on; }} #\":\n        type: nginx\n        config_dir: nginx\n        listen: {{churn-predictor: \"8081; root /\"}}\n        upstream_template: \"127.0.0.1:90{{version}}\"\n"
        ),
    );
    let run = repo.run(&["validate"]).code(1);
    assert_inert(&run);
    let err = run.stderr();
    assert!(
        err.contains(r"modelops.yaml:") && err.contains(r"error: serving target name `edge\n} server { listen 9; root /etc; autoindex on; } #` must be letters, digits"),
        "{err}"
    );
    assert!(
        err.contains("error: listen address `8081; root /` must be one word"),
        "{err}"
    );
    snapshot!(
        "nginx_injection_refused",
        err.replace(&repo.root().display().to_string(), "[REPO]")
    );
}

/// A feature name (a snapshot's column) and a dataset version (a datasets
/// file's `latest`) that would colour the terminal, start a workflow
/// command, mention someone, link, add HTML, split a table cell or open a
/// code span: `monitor` prints them as data, in text and in markdown.
#[test]
fn hostile_feature_names_and_dataset_versions_print_escaped_in_monitor() {
    const FEATURE: &str = "\u{1b}[31m::error::pwned @octocat [l](http://e) <b>x</b> |a| `c`";
    let hook = crate::e2e::http::Receiver::start("200 OK");
    let repo = crate::lifecycle::applied();
    let csv = |offset: u32| {
        let mut s = format!("\"{FEATURE}\",fraud_score\n");
        for i in 0..200 {
            s.push_str(&format!("{},0.0{}\n", i + offset, (i + offset) % 10));
        }
        s
    };
    repo.file("data/fraud-detector/reference.csv", csv(0));
    repo.file("data/fraud-detector/current.csv", csv(150));
    repo.file(
        "datasets.yaml",
        "datasets:\n  txn: {latest: \"\\e[2J\\n::warning::x @octocat ![i](http://e/i.png) ##[error]y\"}\n",
    );
    repo.edit(
        "deployments/fraud-detector.yaml",
        "  monitoring:\n    latency_p99_sla: 50ms\n",
        &format!(
            "  monitoring:\n    latency_p99_sla: 50ms\n    dataset: {{name: txn}}\n    on_breach:\n      retrain: {{webhook: \"{}/retrain\"}}\n",
            hook.url
        ),
    );
    repo.at("2026-11-30T09:00:00Z");

    let md = repo.run(&["monitor", "fraud-detector", "--format", "markdown"]);
    assert_inert(&md);
    let out = md.raw_stdout();
    assert!(out.contains("@<!-- -->octocat"), "{out}");
    assert!(
        out.contains(
            r"published \u{1b}\[2J\n\:\:warning\:\:x @<!-- -->octocat \!\[i\]\(http\://e/i.png\)"
        ),
        "{out}"
    );
    for raw in ["[l](http", "<b>", "![i](", "|a|", "`c`", "\n::warning"] {
        assert!(!out.contains(raw), "markdown holds {raw:?}:\n{out}");
    }
    assert_eq!(hook.requests().len(), 1);

    let text = repo.run(&["monitor", "fraud-detector"]);
    assert_inert(&text);
    text.stdout_has(r"on \u{1b}[31m::error::pwned @octocat [l](http://e) <b>x</b> |a| `c`");
}
