//! Text reporter: one readable line per block, for a terminal. Shows the
//! culprit's source line, read from the target's own file system
//! (`/proc/PID/root`, so a container's files are found), and colour when
//! asked (a terminal without `NO_COLOR`).

use std::collections::HashMap;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::{BlockContext, EndInfo, ModuleNames, Reporter, StartInfo, millis, rfc3339};
use crate::detector::{Block, BlockState};

/// Source files larger than this are not read for source lines.
const MAX_SOURCE_BYTES: u64 = 8 << 20;
/// Source files remembered.
const MAX_SOURCES: usize = 256;

pub struct TextReporter<W: Write> {
    out: W,
    modules: ModuleNames,
    colour: bool,
    /// Source files by path (None: unreadable).
    sources: HashMap<String, Option<Vec<String>>>,
    /// Processes announced: with more than one, lines name their pid.
    pids: std::collections::HashSet<i32>,
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();
const DURATION: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
    .bold();
const CULPRIT: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));

impl<W: Write> TextReporter<W> {
    pub fn new(out: W, colour: bool) -> Self {
        TextReporter {
            out,
            modules: ModuleNames::default(),
            colour,
            sources: HashMap::new(),
            pids: std::collections::HashSet::new(),
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// Line `line` of `file` as the target sees it, trimmed.
    fn source_line(&mut self, pid: i32, file: &str, line: u32) -> Option<String> {
        if !file.starts_with('/') || line == 0 {
            return None;
        }
        if !self.sources.contains_key(file) {
            if self.sources.len() >= MAX_SOURCES {
                self.sources.clear();
            }
            let path = format!("/proc/{pid}/root{file}");
            let text = std::fs::metadata(&path)
                .ok()
                .filter(|m| m.len() <= MAX_SOURCE_BYTES)
                .and_then(|_| std::fs::read(&path).ok())
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .lines()
                        .map(str::to_string)
                        .collect()
                });
            self.sources.insert(file.to_string(), text);
        }
        let lines = self.sources.get(file)?.as_ref()?;
        let text = lines.get(line as usize - 1)?.trim();
        (!text.is_empty()).then(|| text.chars().take(120).collect())
    }
}

/// `file:line`, shortened to the last two path components.
fn short(file: &str, line: u32) -> String {
    let parts: Vec<&str> = file.rsplit('/').take(2).collect();
    let tail: Vec<&str> = parts.into_iter().rev().collect();
    format!("{}:{line}", tail.join("/"))
}

impl<W: Write> Reporter for TextReporter<W> {
    fn start(&mut self, info: &StartInfo) -> io::Result<()> {
        self.pids.insert(info.pid);
        let threads: Vec<String> = info
            .loop_threads
            .iter()
            .map(|t| format!("{} ({})", t.tid, t.name.as_deref().unwrap_or("?")))
            .collect();
        let head = format!(
            "aelm {}: pid {} Python {}, threshold {} ms, sampling every {} us, loop threads: {}",
            env!("CARGO_PKG_VERSION"),
            info.pid,
            info.python,
            millis(info.threshold),
            (info.interval.as_secs_f64() * 1e6).round(),
            threads.join(", ")
        );
        let head = self.paint(DIM, &head);
        writeln!(self.out, "{head}")?;
        self.out.flush()
    }

    fn block(&mut self, block: &Block, ctx: &BlockContext) -> io::Result<()> {
        let time = rfc3339(ctx.time);
        let clock = time.get(11..23).unwrap_or(&time).to_string();
        let c = &block.culprit;
        let state = match (block.state, block.truncated) {
            (BlockState::Ongoing, _) => " (ongoing)",
            (_, true) => " (still running at exit)",
            _ => "",
        };
        let duration = self.paint(
            DURATION,
            &format!("{:>8.1} ms{state}", millis(block.duration)),
        );
        let name = self.modules.dotted(&c.code);
        let name = self.paint(CULPRIT, &name);
        let place = self.paint(BOLD, &short(&c.code.file, c.line));
        let mut line = format!("{clock} blocked {duration}  {name}  {place}");
        if self.pids.len() > 1 {
            line = format!(
                "{clock} pid {} blocked {duration}  {name}  {place}",
                ctx.pid
            );
        }
        if let Some(src) = self.source_line(ctx.pid, &c.code.file, c.line) {
            line.push_str(&format!("  {}", self.paint(DIM, &format!("`{src}`"))));
        }
        if let Some(callee) = &block.callee {
            line.push_str(&format!(
                "  -> {} {}",
                callee.code.qualname,
                short(&callee.code.file, callee.line)
            ));
        }
        if let Some(t) = ctx.thread.filter(|t| *t != "MainThread") {
            line.push_str(&format!("  [{t}]"));
        }
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    fn end(&mut self, info: &EndInfo) -> io::Result<()> {
        let t = &info.totals;
        // `aelm run`: how the program ended, as its exit status will say.
        let reason = match info.exit_code {
            Some(c) => format!("{} (exit status {c})", info.reason),
            None => info.reason.clone(),
        };
        let head = format!(
            "aelm: {reason} after {:.1} s: {} blocks, {:.1} ms blocked, {} samples ({} failed)",
            info.elapsed.as_secs_f64(),
            t.blocks,
            millis(t.blocked),
            t.samples,
            t.failed_samples
        );
        let head = self.paint(DIM, &head);
        writeln!(self.out, "{head}")?;
        if !info.top.is_empty() {
            writeln!(
                self.out,
                "{:>6} {:>10} {:>8} {:>8} {:>8}  culprit",
                "blocks", "total ms", "p50", "p99", "max"
            )?;
            for r in &info.top {
                writeln!(
                    self.out,
                    "{:>6} {:>10.1} {:>8.1} {:>8.1} {:>8.1}  {}  ({})",
                    r.blocks,
                    r.total_ms,
                    r.p50_ms,
                    r.p99_ms,
                    r.max_ms,
                    r.culprit,
                    short(&r.file, r.line as u32)
                )?;
            }
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::Totals;
    use std::time::Duration;

    fn end_line(exit_code: Option<i32>) -> String {
        let mut out = Vec::new();
        let info = EndInfo {
            pid: 1,
            reason: "target-exited".into(),
            totals: Totals::default(),
            elapsed: Duration::from_millis(1500),
            missed_ticks: 0,
            reads: None,
            error: None,
            exit_code,
            top: Vec::new(),
        };
        TextReporter::new(&mut out, false).end(&info).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_end_line_says_how_the_program_exited() {
        assert!(
            end_line(Some(3))
                .starts_with("aelm: target-exited (exit status 3) after 1.5 s: 0 blocks"),
            "{}",
            end_line(Some(3))
        );
        assert!(end_line(None).starts_with("aelm: target-exited after 1.5 s"));
    }
}
