//! The commands that check and reload nginx: split on whitespace and run
//! without a shell, so no manifest or config text is ever interpreted.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `nginx -t` or a reload may take before it counts as failed. A
/// reload only signals the master, and a test reads the configuration: both
/// take milliseconds, so a command still running is stuck (say, `sudo`
/// waiting for a password) and must not hold the apply lock forever.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A command line from the target's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxCommand {
    argv: Vec<String>,
}

impl NginxCommand {
    /// Splits `line` on whitespace; `None` when it holds no word.
    pub fn parse(line: &str) -> Option<NginxCommand> {
        let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (!argv.is_empty()).then_some(NginxCommand { argv })
    }

    /// Runs the command with no input. `Err` holds what a person needs to
    /// see: the command, how it ended and what it printed (nginx writes its
    /// verdict to stderr).
    pub fn run(&self) -> Result<(), String> {
        let mut child = Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not run `{self}`: {e}"))?;
        // Read both pipes on their own threads so a chatty command cannot
        // fill one and block while we wait for it.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if started.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "`{self}` did not finish within {}s",
                        TIMEOUT.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => break Err(format!("could not wait for `{self}`: {e}")),
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        let status = status?;
        if status.success() {
            return Ok(());
        }
        let said = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        let ended = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_string(),
        };
        if said.is_empty() {
            Err(format!("`{self}` {ended}"))
        } else {
            Err(format!("`{self}` {ended}: {said}"))
        }
    }
}

impl std::fmt::Display for NginxCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.argv.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_on_whitespace() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("nginx -t", Some(&["nginx", "-t"])),
            (
                "  sudo  nginx\t-s reload \n",
                Some(&["sudo", "nginx", "-s", "reload"]),
            ),
            (
                "'quoted words' stay split",
                Some(&["'quoted", "words'", "stay", "split"]),
            ),
            ("", None),
            ("   ", None),
        ];
        for (line, want) in cases {
            let got = NginxCommand::parse(line).map(|c| c.argv);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{line:?}");
        }
    }

    #[test]
    fn run_reports_how_a_command_failed() {
        // Err holds the start of the message: the tools' own words may vary.
        let cases: &[(&str, Result<(), &str>)] = &[
            ("true", Ok(())),
            ("false", Err("`false` exited with status 1")),
            (
                "cat /modelops-no-such-file",
                Err(
                    "`cat /modelops-no-such-file` exited with status 1: cat: /modelops-no-such-file:",
                ),
            ),
            (
                "/modelops-no-such-binary -t",
                Err("could not run `/modelops-no-such-binary -t`: No such file or directory"),
            ),
        ];
        for (line, want) in cases {
            match (NginxCommand::parse(line).unwrap().run(), want) {
                (Ok(()), Ok(())) => {}
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{line}: {got}"),
                (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
            }
        }
    }
}
