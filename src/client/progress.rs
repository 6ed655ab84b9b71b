//! A job's steps as a person watches them: on a terminal, one line per step
//! redrawn in place with a spinner and its time; elsewhere (a pipe, a log), one
//! plain line each time a step changes.

use std::io::Write;
use std::time::Instant;

use serde_json::Value;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub struct Progress<W: Write> {
    out: W,
    terminal: bool,
    /// Lines drawn last time (terminal), to move back over.
    drawn: usize,
    /// What was printed per step (plain), so each change is printed once.
    printed: Vec<(String, String)>,
    /// When each running step was first seen, for its time on a terminal.
    seen_running: Vec<(String, Instant)>,
    tick: usize,
}

/// The text a server sent, cut to a line without control characters: a step's
/// message carries a customer server's words.
fn clean(text: &str, max: usize) -> String {
    let mut t: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        t.push('…');
    }
    t
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

impl<W: Write> Progress<W> {
    pub fn new(out: W, terminal: bool) -> Progress<W> {
        Progress {
            out,
            terminal,
            drawn: 0,
            printed: Vec::new(),
            seen_running: Vec::new(),
            tick: 0,
        }
    }

    /// Shows the job as it stands now; on a terminal, also called on a timer so
    /// the spinner turns.
    pub fn show(&mut self, job: &Value) -> std::io::Result<()> {
        let steps = job["steps"].as_array().cloned().unwrap_or_default();
        if self.terminal {
            self.tick += 1;
            let mut lines = Vec::new();
            for step in &steps {
                lines.push(self.terminal_line(step));
            }
            if self.drawn > 0 {
                write!(self.out, "\x1b[{}A", self.drawn)?;
            }
            for line in &lines {
                write!(self.out, "\r\x1b[2K{line}\n")?;
            }
            self.drawn = lines.len();
        } else {
            for step in &steps {
                let name = step["name"].as_str().unwrap_or("?").to_string();
                let status = step["status"].as_str().unwrap_or("?").to_string();
                if status == "pending" {
                    continue;
                }
                let shown = (name.clone(), status.clone());
                if self.printed.contains(&shown) {
                    continue;
                }
                self.printed.push(shown);
                let mut line = format!("{name} {status}");
                if let Some(ms) = step["durationMs"].as_u64() {
                    line.push_str(&format!(" {}", duration(ms)));
                }
                if let Some(m) = step["message"].as_str() {
                    line.push_str(&format!(": {}", clean(m, 300)));
                }
                writeln!(self.out, "{line}")?;
            }
        }
        self.out.flush()
    }

    fn terminal_line(&mut self, step: &Value) -> String {
        let name = step["name"].as_str().unwrap_or("?");
        let status = step["status"].as_str().unwrap_or("?");
        let (mark, colour) = match status {
            "passed" => ("✓", "32"),
            "warning" => ("!", "33"),
            "failed" => ("✗", "31"),
            "skipped" => ("-", "2"),
            "running" => (SPINNER[self.tick % SPINNER.len()], "36"),
            _ => ("·", "2"),
        };
        let time = match step["durationMs"].as_u64() {
            Some(ms) => duration(ms),
            None if status == "running" => {
                let since = match self.seen_running.iter().find(|(n, _)| n == name) {
                    Some((_, at)) => *at,
                    None => {
                        self.seen_running.push((name.to_string(), Instant::now()));
                        Instant::now()
                    }
                };
                duration(since.elapsed().as_millis() as u64)
            }
            None => String::new(),
        };
        let progress = match (
            step["progress"]["relationsDone"].as_u64(),
            step["progress"]["relationsTotal"].as_u64(),
        ) {
            (Some(done), Some(total)) => format!(" {done}/{total} relations"),
            _ => String::new(),
        };
        let message = step["message"]
            .as_str()
            .filter(|_| status != "running")
            .map(|m| format!("  {}", clean(m, 100)))
            .unwrap_or_default();
        format!("\x1b[{colour}m{mark}\x1b[0m {name:<9} {time:>8}{progress}{message}")
    }

    /// The last words: what was found, or why it failed and what to do.
    pub fn finish(&mut self, job: &Value) -> std::io::Result<()> {
        self.show(job)?;
        match job["status"].as_str() {
            Some("succeeded") => {
                let s = &job["schema"];
                writeln!(
                    self.out,
                    "succeeded: {} tables, {} columns in {} schemas",
                    s["tables"].as_u64().unwrap_or(0),
                    s["columns"].as_u64().unwrap_or(0),
                    s["schemas"].as_u64().unwrap_or(0)
                )?;
            }
            _ => {
                let e = &job["error"];
                writeln!(
                    self.out,
                    "failed: {} {}",
                    e["code"].as_str().unwrap_or("?"),
                    clean(e["message"].as_str().unwrap_or(""), 500)
                )?;
                if let Some(hint) = e["hint"].as_str() {
                    writeln!(self.out, "hint: {}", clean(hint, 500))?;
                }
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(connect: &str) -> Value {
        json!({"status": "running", "steps": [
            {"name": "validate", "status": "passed", "durationMs": 3, "message": "ok"},
            {"name": "connect", "status": connect, "durationMs": null, "message": null},
            {"name": "discover", "status": "pending", "durationMs": null, "message": null}]})
    }

    #[test]
    fn plain_output_prints_each_change_once_without_escapes() {
        let mut out = Vec::new();
        let mut p = Progress::new(&mut out, false);
        p.show(&job("running")).unwrap();
        p.show(&job("running")).unwrap();
        let mut done = job("failed");
        done["status"] = json!("failed");
        done["steps"][1]["message"] = json!("connect: refused\u{1b}[2J");
        done["error"] = json!({"code": "CREDENTIAL_TEST_FAILED", "message": "connect: refused", "hint": "check the port"});
        p.finish(&done).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "validate passed 3 ms: ok\nconnect running\nconnect failed: connect: refused [2J\n\
             failed: CREDENTIAL_TEST_FAILED connect: refused\nhint: check the port\n"
        );
    }

    #[test]
    fn a_terminal_redraws_the_steps_in_place() {
        let mut out = Vec::new();
        let mut p = Progress::new(&mut out, true);
        p.show(&job("running")).unwrap();
        p.show(&job("running")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("\x1b[3A").count(), 1, "{text:?}");
        assert!(text.contains("✓"), "{text:?}");
        assert!(
            text.contains(SPINNER[1]) && text.contains(SPINNER[2]),
            "{text:?}"
        );
    }
}
