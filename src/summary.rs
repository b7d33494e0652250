//! The top-culprits summary: blocks grouped by culprit, ranked by total
//! blocked time, with count and p50/p99/max durations. Built live from a
//! session's blocks (the `end` line's `top`) or from JSON lines written
//! earlier (`aelm summarize`).

use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use serde_json::{Value, json};

/// Culprits listed by default.
pub const DEFAULT_TOP: usize = 10;
/// Distinct culprits remembered (the rest are counted under "other").
const MAX_CULPRITS: usize = 10_000;

#[derive(Debug, Clone, Default)]
struct Stats {
    file: String,
    line: u64,
    durations_ms: Vec<f64>,
    total_ms: f64,
}

/// One row of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub culprit: String,
    pub file: String,
    pub line: u64,
    pub blocks: usize,
    pub total_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Default)]
pub struct Summary {
    by: HashMap<String, Stats>,
    pub blocks: usize,
    pub blocked_ms: f64,
}

/// Nearest-rank percentile of sorted values (the HTML report uses it too).
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Rounded to three decimals (milliseconds to microseconds).
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Summary {
    /// Counts one ended block.
    pub fn add(&mut self, culprit: &str, file: &str, line: u64, duration_ms: f64) {
        self.blocks += 1;
        self.blocked_ms += duration_ms;
        let key = if self.by.len() >= MAX_CULPRITS && !self.by.contains_key(culprit) {
            "other"
        } else {
            culprit
        };
        let s = self.by.entry(key.to_string()).or_insert_with(|| Stats {
            file: file.to_string(),
            line,
            ..Stats::default()
        });
        s.durations_ms.push(duration_ms);
        s.total_ms += duration_ms;
    }

    /// Counts a `block` JSON line of schema v1 if it is an ended block;
    /// returns whether it was one.
    pub fn add_line(&mut self, v: &Value) -> bool {
        if v["type"] != "block" || v["state"] != "ended" {
            return false;
        }
        let c = &v["culprit"];
        let (Some(name), Some(ms)) = (c["name"].as_str(), v["duration_ms"].as_f64()) else {
            return false;
        };
        self.add(
            name,
            c["file"].as_str().unwrap_or(""),
            c["line"].as_u64().unwrap_or(0),
            ms,
        );
        true
    }

    /// The `n` culprits with the most blocked time.
    pub fn top(&self, n: usize) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .by
            .iter()
            .map(|(name, s)| {
                let mut d = s.durations_ms.clone();
                d.sort_by(f64::total_cmp);
                Row {
                    culprit: name.clone(),
                    file: s.file.clone(),
                    line: s.line,
                    blocks: d.len(),
                    total_ms: round3(s.total_ms),
                    p50_ms: round3(percentile(&d, 50.0)),
                    p99_ms: round3(percentile(&d, 99.0)),
                    max_ms: round3(d.last().copied().unwrap_or(0.0)),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.total_ms
                .total_cmp(&a.total_ms)
                .then_with(|| a.culprit.cmp(&b.culprit))
        });
        rows.truncate(n);
        rows
    }

    /// The `top` array of JSON objects.
    pub fn top_json(&self, n: usize) -> Value {
        self.top(n)
            .into_iter()
            .map(|r| {
                json!({"culprit": r.culprit, "file": r.file, "line": r.line, "blocks": r.blocks,
                       "total_ms": r.total_ms, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                       "max_ms": r.max_ms})
            })
            .collect::<Vec<_>>()
            .into()
    }

    /// A plain-text table of the top culprits.
    pub fn table(&self, n: usize) -> String {
        let rows = self.top(n);
        if rows.is_empty() {
            return "no blocks\n".to_string();
        }
        let mut out = format!(
            "{:>6} {:>10} {:>8} {:>8} {:>8}  culprit\n",
            "blocks", "total ms", "p50", "p99", "max"
        );
        for r in rows {
            let place = if r.file.is_empty() {
                String::new()
            } else {
                format!("  ({}:{})", r.file, r.line)
            };
            out.push_str(&format!(
                "{:>6} {:>10.1} {:>8.1} {:>8.1} {:>8.1}  {}{place}\n",
                r.blocks, r.total_ms, r.p50_ms, r.p99_ms, r.max_ms, r.culprit
            ));
        }
        out
    }
}

/// What `aelm summarize` read.
#[derive(Debug, Default)]
pub struct Input {
    pub summary: Summary,
    pub lines: u64,
    /// Lines that are not aelm's (not JSON, or JSON without an aelm `type`).
    pub skipped: u64,
    pub pids: std::collections::BTreeSet<i64>,
}

impl Input {
    pub fn read(&mut self, r: impl BufRead) -> io::Result<()> {
        for line in r.split(b'\n') {
            let line = line?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.lines += 1;
            let Ok(v) = serde_json::from_slice::<Value>(&line) else {
                self.skipped += 1;
                continue;
            };
            match v["type"].as_str() {
                Some("block") => {
                    if let Some(p) = v["pid"].as_i64() {
                        self.pids.insert(p);
                    }
                    self.summary.add_line(&v);
                }
                Some("start") | Some("end") => {}
                _ => self.skipped += 1,
            }
        }
        Ok(())
    }
}

/// `aelm summarize`: reads files (or stdin for `-`), prints the summary.
pub fn run(files: &[String], json_out: bool, top: usize) -> anyhow::Result<i32> {
    use anyhow::Context;
    let mut input = Input::default();
    let stdin_only = [String::from("-")];
    let files = if files.is_empty() {
        &stdin_only[..]
    } else {
        files
    };
    for f in files {
        if f == "-" {
            input.read(io::stdin().lock()).context("reading stdin")?;
        } else {
            let file = std::fs::File::open(f).with_context(|| format!("opening {f}"))?;
            input
                .read(io::BufReader::new(file))
                .with_context(|| format!("reading {f}"))?;
        }
    }
    if input.lines > 0 && input.skipped == input.lines {
        anyhow::bail!(
            "none of the {} lines read is one of aelm's JSON lines: summarize reads what aelm \
             writes with --format json (the default when its output is not a terminal, e.g. \
             `aelm attach --pid PID -o blocks.jsonl`); --format text output cannot be summarized",
            input.lines
        );
    }
    if input.skipped > 0 {
        eprintln!(
            "aelm: skipped {} of {} lines that are not aelm's JSON lines",
            input.skipped, input.lines
        );
    }
    let s = &input.summary;
    let mut out = io::stdout().lock();
    let text = if json_out {
        json!({
            "type": "summary", "lines": input.lines, "skipped": input.skipped,
            "pids": input.pids.len(), "blocks": s.blocks,
            "blocked_ms": round3(s.blocked_ms), "top": s.top_json(top),
        })
        .to_string()
            + "\n"
    } else {
        format!(
            "{} blocks, {:.1} ms blocked, {} processes\n{}",
            s.blocks,
            s.blocked_ms,
            input.pids.len(),
            s.table(top)
        )
    };
    match out.write_all(text.as_bytes()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        r => r.map(|()| 0).context("writing the summary"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_total_and_computes_percentiles() {
        let mut s = Summary::default();
        for ms in [10.0, 20.0, 30.0, 40.0] {
            s.add("app.slow", "/app.py", 3, ms);
        }
        s.add("app.once", "/app.py", 9, 500.0);
        let rows = s.top(10);
        assert_eq!(rows[0].culprit, "app.once");
        assert_eq!(rows[1].blocks, 4);
        assert_eq!(rows[1].total_ms, 100.0);
        assert_eq!(rows[1].p50_ms, 20.0);
        assert_eq!(rows[1].p99_ms, 40.0);
        assert_eq!(rows[1].max_ms, 40.0);
        assert_eq!(s.blocks, 5);
        assert!(s.table(1).contains("app.once"));
        assert!(!s.table(1).contains("app.slow"));
    }

    #[test]
    fn reads_aelm_lines_and_skips_the_rest() {
        let text = concat!(
            "{\"type\":\"start\",\"pid\":1}\n",
            "garbage that is not json\n",
            "{\"type\":\"block\",\"pid\":1,\"state\":\"ended\",\"duration_ms\":50.0,",
            "\"culprit\":{\"name\":\"m.f\",\"file\":\"/m.py\",\"line\":4}}\n",
            "{\"type\":\"block\",\"pid\":2,\"state\":\"ongoing\",\"duration_ms\":1000.0,",
            "\"culprit\":{\"name\":\"m.g\",\"file\":\"/m.py\",\"line\":8}}\n",
            "{\"level\":\"info\",\"msg\":\"someone else's log\"}\n",
            "\n",
        );
        let mut input = Input::default();
        input.read(text.as_bytes()).unwrap();
        assert_eq!(input.lines, 5);
        assert_eq!(input.skipped, 2);
        assert_eq!(input.summary.blocks, 1);
        assert_eq!(input.pids.len(), 2);
    }
}
