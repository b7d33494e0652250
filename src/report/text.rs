//! Text reporter: one readable line per block, for a terminal.

use std::io::{self, Write};

use super::{BlockContext, EndInfo, ModuleNames, Reporter, StartInfo, millis, rfc3339};
use crate::detector::{Block, BlockState};

pub struct TextReporter<W: Write> {
    out: W,
    modules: ModuleNames,
}

impl<W: Write> TextReporter<W> {
    pub fn new(out: W) -> Self {
        TextReporter {
            out,
            modules: ModuleNames::default(),
        }
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
        let threads: Vec<String> = info
            .loop_threads
            .iter()
            .map(|t| format!("{} ({})", t.tid, t.name.as_deref().unwrap_or("?")))
            .collect();
        writeln!(
            self.out,
            "aelm {}: pid {} Python {}, threshold {} ms, sampling every {} us, loop threads: {}",
            env!("CARGO_PKG_VERSION"),
            info.pid,
            info.python,
            millis(info.threshold),
            (info.interval.as_secs_f64() * 1e6).round(),
            threads.join(", ")
        )?;
        self.out.flush()
    }

    fn block(&mut self, block: &Block, ctx: &BlockContext) -> io::Result<()> {
        let time = rfc3339(ctx.time);
        let clock = time.get(11..23).unwrap_or(&time);
        let c = &block.culprit;
        let state = match (block.state, block.truncated) {
            (BlockState::Ongoing, _) => " (ongoing)",
            (_, true) => " (still running at exit)",
            _ => "",
        };
        let mut line = format!(
            "{clock} blocked {:>8.1} ms{state}  {}  {}",
            millis(block.duration),
            self.modules.dotted(&c.code),
            short(&c.code.file, c.line),
        );
        if let Some(callee) = &block.callee {
            line.push_str(&format!(
                "  -> {} {}",
                callee.code.qualname,
                short(&callee.code.file, callee.line)
            ));
        }
        if ctx.thread.is_some_and(|t| t != "MainThread") {
            line.push_str(&format!("  [{}]", ctx.thread.unwrap_or_default()));
        }
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }

    fn end(&mut self, info: &EndInfo) -> io::Result<()> {
        let t = &info.totals;
        writeln!(
            self.out,
            "aelm: {} after {:.1} s: {} blocks, {:.1} ms blocked, {} samples ({} failed)",
            info.reason,
            info.elapsed.as_secs_f64(),
            t.blocks,
            millis(t.blocked),
            t.samples,
            t.failed_samples
        )?;
        self.out.flush()
    }
}
