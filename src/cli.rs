//! Command-line definitions (clap derive) and their validation.
//!
//! Owns the option names, defaults and help text; the defaults come from the
//! spec (threshold 50 ms, ten samples per threshold clamped to 100..20000 Hz,
//! ongoing reports after 1000 ms). Does not run anything.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Lowest and highest sampling rates aelm accepts, in Hz.
pub const MIN_RATE_HZ: f64 = 100.0;
pub const MAX_RATE_HZ: f64 = 20_000.0;

#[derive(Debug, Parser)]
#[command(
    name = "aelm",
    version,
    about = "Find the synchronous code that blocks a running Python asyncio event loop, from outside the process.",
    long_about = "aelm samples the event-loop thread(s) of a running CPython 3.8-3.15 process \
from outside (it only reads the process's memory), detects when the loop stays busy in one \
callback for at least the threshold, names the culprit frame, and prints one JSON line per block.",
    after_help = "Examples:\n  aelm attach --pid 1234 --threshold-ms 10 | jq .\n  aelm run --threshold-ms 20 -- python app.py\n  aelm run --fail-on-block -- python -m pytest tests/"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach to a running Python process and report event-loop blocks.
    #[command(after_help = "Example:\n  aelm attach --pid 1234 --threshold-ms 10 | jq .")]
    Attach {
        /// Process id of the running Python program.
        #[arg(long, short = 'p', value_name = "PID")]
        pid: i32,
        #[command(flatten)]
        opts: WatchOpts,
    },
    /// Start a Python program and report event-loop blocks from its start.
    ///
    /// The program's stdout goes to aelm's stderr, so stdout carries only JSON lines.
    #[command(after_help = "Example:\n  aelm run --threshold-ms 20 -- python app.py")]
    Run {
        #[command(flatten)]
        opts: WatchOpts,
        /// The command to run, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Watch every asyncio process on this host (or the PID namespace aelm sees),
    /// new ones too, until Ctrl-C or --duration.
    ///
    /// Python processes are attached as they appear (rescanned every --scan-interval);
    /// those with no event loop yet are kept in view and watched once a loop appears;
    /// other processes are ignored. Each process gets its own start and end line.
    #[command(
        after_help = "Examples:\n  aelm watch --match 'uvicorn|gunicorn' --threshold-ms 20\n  aelm watch --metrics-addr 127.0.0.1:9464 --output /var/log/aelm.jsonl"
    )]
    Watch {
        #[command(flatten)]
        opts: WatchOpts,
        /// Only processes whose command line matches this regular expression.
        #[arg(long = "match", value_name = "REGEX")]
        matcher: Option<regex::Regex>,
        /// Seconds between scans for new processes.
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = positive_f64)]
        scan_interval: f64,
        /// Most processes watched at once.
        #[arg(long, default_value_t = 64, value_name = "N")]
        max_targets: usize,
        /// CPU budget for sampling, in percent of one core, shared by all targets: the
        /// rate per target adapts to stay inside it, never below 3 samples per threshold.
        #[arg(long, default_value_t = 10.0, value_name = "PERCENT", value_parser = positive_f64)]
        max_cpu: f64,
    },
    /// Summarize JSON lines aelm wrote earlier: top culprits by total blocked time.
    ///
    /// Reads files, or stdin for `-` (the default). Lines that are not aelm's (other
    /// programs' logs in a shipped stream) are skipped and counted on stderr.
    #[command(
        after_help = "Examples:\n  aelm summarize blocks.jsonl\n  kubectl logs -l app=api | aelm summarize --format json -"
    )]
    Summarize {
        /// Files of JSON lines (`-` for stdin).
        #[arg(value_name = "FILE")]
        files: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// How many culprits to list.
        #[arg(long, default_value_t = crate::summary::DEFAULT_TOP, value_name = "N")]
        top: usize,
    },
    /// Write one self-contained HTML page (timeline, top culprits, flame graph) from JSON
    /// lines aelm wrote earlier: one run, or many files from many processes and hosts.
    #[command(
        after_help = "Examples:\n  aelm report blocks.jsonl -o report.html\n  cat node-*.jsonl | aelm report - -o fleet.html"
    )]
    Report {
        /// Files of JSON lines (`-` for stdin).
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        /// The HTML file to write.
        #[arg(long, short = 'o', value_name = "HTML")]
        output: PathBuf,
    },
    /// Print a shell completion script, e.g. `aelm completions bash > /etc/bash_completion.d/aelm`.
    Completions {
        /// Shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print aelm's man page (roff), e.g. `aelm man | man -l -`.
    Man,
    /// Print every Python thread's current stack once (JSON, one line per thread),
    /// with what aelm makes of it: loop or not, idle or busy, which callback.
    #[command(after_help = "Example:\n  aelm dump --pid 1234 | jq .loop")]
    Dump {
        /// Process id of the running Python program.
        #[arg(long, short = 'p', value_name = "PID")]
        pid: i32,
        /// Stack reader.
        #[arg(long, value_enum, default_value_t = Reader::Direct)]
        reader: Reader,
    },
}

/// Output format of block lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line (schema v1, see docs/schema.md).
    Json,
    /// One readable line per block, for a terminal.
    Text,
}

/// Stack reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reader {
    Direct,
    #[value(name = "py-spy")]
    PySpy,
}

impl Reader {
    pub fn kind(self) -> crate::python::attach::ReaderKind {
        match self {
            Reader::Direct => crate::python::attach::ReaderKind::Direct,
            Reader::PySpy => crate::python::attach::ReaderKind::PySpy,
        }
    }
}

/// Options shared by `attach` and `run`.
#[derive(Debug, Clone, Args)]
pub struct WatchOpts {
    /// Report blocks of at least this many milliseconds.
    #[arg(long, default_value_t = 50.0, value_name = "MS", value_parser = positive_f64)]
    pub threshold_ms: f64,

    /// Samples per second [default: ten per threshold, clamped to 100..20000].
    #[arg(long, value_name = "HZ", value_parser = rate_hz)]
    pub rate: Option<f64>,

    /// Stop after this many seconds (fractions allowed), e.g. --duration 2.5.
    #[arg(long, value_name = "SECONDS", value_parser = positive_f64)]
    pub duration: Option<f64>,

    /// Write the JSON lines to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format [default: text when stdout is a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Frames whose file path contains this substring count as your code (repeatable),
    /// e.g. --include site-packages/mylib.
    #[arg(long, value_name = "SUBSTRING")]
    pub include: Vec<String>,

    /// Frames whose file path contains this substring never count as your code
    /// (repeatable; wins over --include), e.g. --exclude /app/vendor/.
    #[arg(long, value_name = "SUBSTRING")]
    pub exclude: Vec<String>,

    /// Watch only this thread (native thread id, as in `ps -L`), even if aelm does not
    /// recognise an event loop on it.
    #[arg(long, value_name = "TID")]
    pub thread: Option<u64>,

    /// Report a block that is still going after this many milliseconds once as
    /// "ongoing", and again when it ends.
    #[arg(long, default_value_t = 1000.0, value_name = "MS", value_parser = positive_f64)]
    pub ongoing_ms: f64,

    /// How to read the target's stacks: aelm's own reader (about one memory read a
    /// sample), or py-spy's (slower, cannot tell apart back-to-back callbacks of the same
    /// code, no coroutine flags; kept for comparison).
    #[arg(long, value_enum, default_value_t = Reader::Direct)]
    pub reader: Reader,

    /// Also watch the target's descendant processes (the workers of gunicorn or
    /// `uvicorn --workers N`), including ones started later; every line carries its pid.
    #[arg(long)]
    pub subprocesses: bool,

    /// Serve Prometheus metrics on HOST:PORT at /metrics, e.g. --metrics-addr 127.0.0.1:9464.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// At most this many culprit label values per pid in the metrics; the rest
    /// count under culprit="other".
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub metrics_max_culprits: usize,

    /// Also write the HTML report of this run to FILE when it ends (see `aelm report`).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Exit with status 3 if any block was reported (for CI).
    #[arg(long)]
    pub fail_on_block: bool,
}

impl WatchOpts {
    pub fn threshold(&self) -> Duration {
        Duration::from_secs_f64(self.threshold_ms / 1000.0)
    }

    /// The sampling rate: `--rate`, or ten samples per threshold, clamped.
    pub fn rate_hz(&self) -> f64 {
        self.rate
            .unwrap_or_else(|| (10_000.0 / self.threshold_ms).clamp(MIN_RATE_HZ, MAX_RATE_HZ))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate_hz())
    }

    pub fn duration(&self) -> Option<Duration> {
        self.duration.map(Duration::from_secs_f64)
    }

    pub fn ongoing(&self) -> Duration {
        Duration::from_secs_f64(self.ongoing_ms / 1000.0)
    }
}

fn positive_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be a positive number"))
    }
}

fn rate_hz(s: &str) -> Result<f64, String> {
    let v = positive_f64(s)?;
    if (MIN_RATE_HZ..=MAX_RATE_HZ).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "rate {v} Hz is out of range: use {MIN_RATE_HZ}..{MAX_RATE_HZ}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    #[test]
    fn default_rate_is_ten_per_threshold_clamped() {
        let Command::Attach { opts, .. } =
            parse(&["aelm", "attach", "--pid", "1"]).unwrap().command
        else {
            panic!("attach expected")
        };
        assert_eq!(opts.threshold_ms, 50.0);
        assert_eq!(opts.rate_hz(), 200.0);
        let Command::Attach { opts, .. } =
            parse(&["aelm", "attach", "--pid", "1", "--threshold-ms", "10"])
                .unwrap()
                .command
        else {
            panic!("attach expected")
        };
        assert_eq!(opts.rate_hz(), 1000.0);
        let Command::Attach { opts, .. } =
            parse(&["aelm", "attach", "--pid", "1", "--threshold-ms", "0.1"])
                .unwrap()
                .command
        else {
            panic!("attach expected")
        };
        assert_eq!(opts.rate_hz(), MAX_RATE_HZ);
    }

    #[test]
    fn run_takes_command_after_dashes() {
        let Command::Run { command, .. } = parse(&[
            "aelm",
            "run",
            "--threshold-ms",
            "20",
            "--",
            "python",
            "-c",
            "pass",
        ])
        .unwrap()
        .command
        else {
            panic!("run expected")
        };
        assert_eq!(command, vec!["python", "-c", "pass"]);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            vec!["aelm", "attach", "--pid", "1", "--threshold-ms", "-3"],
            vec!["aelm", "attach", "--pid", "1", "--rate", "5"],
            vec!["aelm", "attach", "--pid", "x"],
            vec!["aelm", "run"],
        ] {
            let err = parse(&bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }
}
