//! The live status line on stderr while attached (only when stderr is a
//! terminal): samples per second, loop threads, blocks so far and the worst
//! one. Redrawn at most a few times a second and cleared on exit.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(250);

pub struct StatusLine {
    enabled: bool,
    last_draw: Instant,
    last_samples: u64,
    drawn: bool,
    worst: Option<(f64, String)>,
}

impl Default for StatusLine {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusLine {
    pub fn new() -> StatusLine {
        StatusLine {
            enabled: std::io::stderr().is_terminal(),
            last_draw: Instant::now(),
            last_samples: 0,
            drawn: false,
            worst: None,
        }
    }

    /// Remembers a block for "worst so far".
    pub fn block(&mut self, ms: f64, culprit: &str) {
        if self.worst.as_ref().is_none_or(|(w, _)| ms > *w) {
            self.worst = Some((ms, culprit.to_string()));
        }
    }

    /// Redraws if it is time.
    pub fn tick(&mut self, samples: u64, threads: usize, blocks: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let dt = now - self.last_draw;
        if dt < REDRAW {
            return;
        }
        let rate = (samples - self.last_samples.min(samples)) as f64 / dt.as_secs_f64();
        self.last_draw = now;
        self.last_samples = samples;
        let worst = match &self.worst {
            Some((ms, c)) => format!(", worst {ms:.1} ms in {c}"),
            None => String::new(),
        };
        let line = format!(
            "aelm: {rate:.0} samples/s, {threads} loop thread{}, {blocks} block{}{worst}",
            if threads == 1 { "" } else { "s" },
            if blocks == 1 { "" } else { "s" },
        );
        let line: String = line.chars().take(160).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line (before other output on stderr, and at exit).
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
