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

/// The commands that have a man page of their own (`aelm man COMMAND`);
/// a test checks it against the command tree.
pub const MAN_PAGES: [&str; 8] = [
    "attach",
    "run",
    "watch",
    "summarize",
    "report",
    "completions",
    "man",
    "dump",
];

#[derive(Debug, Parser)]
#[command(
    name = "aelm",
    version,
    propagate_version = true,
    about = "Find the synchronous code that blocks a running Python asyncio event loop, from outside the process.",
    long_about = "aelm samples the event-loop thread(s) of a running CPython 3.8-3.15 process \
from outside (it only reads the process's memory), detects when the loop stays busy in one \
callback for at least the threshold, names the culprit frame, and reports each block: one JSON \
line per block (the default when stdout is not a terminal), or one readable line (--format text, \
the default on a terminal).",
    after_help = "Examples:\n  aelm attach --pid 1234 --threshold-ms 10 | jq .\n  aelm run --threshold-ms 20 -- python app.py\n  aelm run --fail-on-block -- python -m pytest tests/"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach to a running Python process and report event-loop blocks.
    #[command(after_help = concat!(
        "Example:\n  aelm attach --pid 1234 --threshold-ms 10 | jq .\n\n",
        "Exit status: 0 done (the target exited or exec'd, --duration, Ctrl-C); 1 could not\n",
        "attach, or failed; 2 usage error; 3 blocks seen, with --fail-on-block."
    ))]
    Attach {
        /// Process id of the running Python program.
        ///
        /// With `--subprocesses`, the pid of a gunicorn or uvicorn master.
        ///
        /// Example: aelm attach --pid "$(pgrep -of 'uvicorn app:app')"
        #[arg(long, short = 'p', value_name = "PID")]
        pid: i32,
        #[command(flatten)]
        opts: WatchOpts,
    },
    /// Start a Python program and report event-loop blocks from its start.
    ///
    /// The program's stdout goes to aelm's stderr, so stdout carries only aelm's lines.
    /// aelm exits with the program's exit status (or 3 with --fail-on-block).
    #[command(after_help = concat!(
        "Example:\n  aelm run --threshold-ms 20 -- python app.py\n\n",
        "Exit status: the program's own when it fails (128 + N when signal N killed it);\n",
        "otherwise 0 done; 1 could not attach, or failed; 2 usage error; 3 blocks seen,\n",
        "with --fail-on-block."
    ))]
    Run {
        #[command(flatten)]
        opts: WatchOpts,
        /// The program and its arguments, after `--`.
        ///
        /// It must become the Python process itself (python, a venv's bin/python, or a
        /// launcher that execs Python), not a shell that starts Python as a child.
        ///
        /// Example: aelm run -- python -m uvicorn app:app --port 8000
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Watch every asyncio process on this host, new ones too.
    ///
    /// Watches the processes of the PID namespace aelm sees until Ctrl-C or --duration.
    /// Python processes are attached as they appear (rescanned every --scan-interval);
    /// those with no event loop yet are kept in view and watched once a loop appears;
    /// other processes are ignored. Each process gets its own start and end line.
    #[command(
        after_help = "Examples:\n  aelm watch --match 'uvicorn|gunicorn' --threshold-ms 20\n  aelm watch --metrics-addr 127.0.0.1:9464 --output /var/log/aelm.jsonl",
        // One thread of one process, and a process's children, mean nothing
        // to `watch`, which already follows every matching process.
        mut_arg("thread", |a| a.hide(true)),
        mut_arg("subprocesses", |a| a.hide(true))
    )]
    Watch {
        #[command(flatten)]
        opts: WatchOpts,
        /// Only processes whose command line matches this regular expression.
        ///
        /// The command line is the arguments joined by spaces; the expression may match
        /// anywhere in it. Default: every process.
        ///
        /// Example: --match 'uvicorn|gunicorn'
        #[arg(long = "match", value_name = "REGEX")]
        matcher: Option<regex::Regex>,
        /// Seconds between scans for new processes.
        ///
        /// Example: --scan-interval 0.5
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = scan_seconds, allow_negative_numbers = true)]
        scan_interval: f64,
        /// Most processes watched at once.
        ///
        /// aelm says once on stderr when it leaves a process out.
        ///
        /// Example: --max-targets 200
        #[arg(long, default_value_t = 64, value_name = "N", value_parser = at_least_one)]
        max_targets: usize,
        /// CPU budget for sampling, in percent of one core, shared by all targets.
        ///
        /// The rate per target adapts to stay inside it, never below 3 samples per
        /// threshold.
        ///
        /// Example: --max-cpu 25
        #[arg(long, default_value_t = 10.0, value_name = "PERCENT", value_parser = positive_f64, allow_negative_numbers = true)]
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
        /// Files of JSON lines (`-` for stdin, the default).
        ///
        /// Example: aelm summarize pod-a.log pod-b.log
        #[arg(value_name = "FILE")]
        files: Vec<String>,
        /// Print the summary as a table or as one JSON object.
        ///
        /// Example: --format json | jq '.top[0]'
        #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
        format: SummaryFormat,
        /// How many culprits to list.
        ///
        /// Example: --top 3
        #[arg(long, default_value_t = crate::summary::DEFAULT_TOP, value_name = "N", value_parser = at_least_one)]
        top: usize,
    },
    /// Write a self-contained HTML report (timeline, top culprits, flame graph).
    ///
    /// Reads JSON lines aelm wrote earlier: one run, or many files from many processes
    /// and hosts. The page needs no network to open.
    #[command(
        after_help = "Examples:\n  aelm report blocks.jsonl -o report.html\n  cat node-*.jsonl | aelm report - -o fleet.html"
    )]
    Report {
        /// Files of JSON lines (`-` for stdin).
        ///
        /// Example: aelm report node-a.jsonl node-b.jsonl -o fleet.html
        #[arg(value_name = "FILE", required = true)]
        files: Vec<String>,
        /// The HTML file to write.
        ///
        /// Example: -o report.html
        #[arg(long, short = 'o', value_name = "HTML")]
        output: PathBuf,
    },
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  source <(aelm completions bash)")]
    Completions {
        /// Shell to complete for.
        ///
        /// Example: aelm completions bash > /etc/bash_completion.d/aelm
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print aelm's man pages (roff), or write them all to a directory.
    ///
    /// `aelm man` prints aelm(1), `aelm man COMMAND` prints aelm-COMMAND(1), and
    /// `aelm man --dir DIR` writes aelm.1 and one aelm-COMMAND.1 per command into DIR.
    #[command(
        after_help = "Examples:\n  aelm man attach | man -l -\n  aelm man --dir /usr/local/share/man/man1"
    )]
    Man {
        /// Print this command's page (aelm-COMMAND(1)) instead of aelm(1).
        ///
        /// Example: aelm man attach | man -l -
        #[arg(value_name = "COMMAND", conflicts_with = "dir", value_parser = clap::builder::PossibleValuesParser::new(MAN_PAGES))]
        command: Option<String>,
        /// Write aelm.1 and aelm-COMMAND.1 for every command into DIR (created if absent).
        ///
        /// Example: --dir /usr/local/share/man/man1
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print every Python thread's stack once, with what aelm makes of it.
    ///
    /// One JSON line per thread: its stack, and whether it runs an event loop that is
    /// idle, busy in its own machinery, or busy in a callback (and which).
    #[command(after_help = "Example:\n  aelm dump --pid 1234 | jq .loop")]
    Dump {
        /// Process id of the running Python program.
        ///
        /// Example: aelm dump --pid 1234
        #[arg(long, short = 'p', value_name = "PID")]
        pid: i32,
        /// How to read the target's stacks.
        ///
        /// Example: --reader py-spy
        #[arg(long, value_enum, default_value_t = Reader::Direct)]
        reader: Reader,
    },
}

/// Output format of `attach`, `run` and `watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line (schema v1, see docs/schema.md).
    Json,
    /// One readable line per block, for a terminal, and a table of culprits at the end.
    Text,
}

/// Output format of `aelm summarize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// One JSON object: lines read and skipped, processes, blocks, and the top culprits.
    Json,
    /// A line of totals, then a table of the top culprits.
    Text,
}

/// Stack reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reader {
    /// aelm's own reader: about one memory read a sample.
    Direct,
    /// py-spy's reader, kept for comparison: slower, merges back-to-back callbacks of
    /// the same code, no coroutine flags.
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

/// Options shared by `attach`, `run` and `watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchOpts {
    /// Report blocks of at least this many milliseconds.
    ///
    /// Fractions allowed. The default rate is ten samples per threshold.
    ///
    /// Example: --threshold-ms 20
    #[arg(long, default_value_t = 50.0, value_name = "MS", value_parser = milliseconds, allow_negative_numbers = true)]
    pub threshold_ms: f64,

    /// Samples per second [default: ten per threshold, clamped to 100..20000].
    ///
    /// A block's duration is accurate to about one interval (1/HZ).
    ///
    /// Example: --rate 1000
    #[arg(long, short = 'r', value_name = "HZ", value_parser = rate_hz, allow_negative_numbers = true)]
    pub rate: Option<f64>,

    /// Stop after this many seconds.
    ///
    /// Fractions allowed. Without it, aelm runs until the target exits or it gets Ctrl-C.
    ///
    /// Example: --duration 2.5
    #[arg(long, short = 'd', value_name = "SECONDS", value_parser = seconds, allow_negative_numbers = true)]
    pub duration: Option<f64>,

    /// Write the lines to FILE instead of stdout.
    ///
    /// The file is created, or emptied if it exists. JSON unless --format text.
    ///
    /// Example: --output /var/log/aelm/blocks.jsonl
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format [default: text when stdout is a terminal, json otherwise].
    ///
    /// Example: --format text -o blocks.txt
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Frames whose file path contains this substring count as your code (repeatable).
    ///
    /// By default a frame is your code unless it is in the standard library or under
    /// site-packages or dist-packages. The culprit is the deepest frame of your code.
    ///
    /// Example: --include site-packages/mycompany_lib
    #[arg(long, value_name = "SUBSTRING")]
    pub include: Vec<String>,

    /// Frames whose file path contains this substring never count as your code
    /// (repeatable; wins over --include).
    ///
    /// Example: --exclude /app/vendor/
    #[arg(long, value_name = "SUBSTRING")]
    pub exclude: Vec<String>,

    /// Watch only this thread (native thread id, as in `ps -L`).
    ///
    /// Watched even if aelm does not recognise an event loop on it. Applies to the
    /// process given to `attach` or `run`, not to those found by --subprocesses or
    /// `aelm watch`.
    ///
    /// Example: --thread 28395
    #[arg(long, value_name = "TID")]
    pub thread: Option<u64>,

    /// Report a block still going after this many milliseconds once as "ongoing",
    /// and again when it ends.
    ///
    /// Example: --ongoing-ms 5000
    #[arg(long, default_value_t = 1000.0, value_name = "MS", value_parser = milliseconds, allow_negative_numbers = true)]
    pub ongoing_ms: f64,

    /// How to read the target's stacks.
    ///
    /// Example: --reader py-spy
    #[arg(long, value_enum, default_value_t = Reader::Direct)]
    pub reader: Reader,

    /// Also watch the target's descendant processes (gunicorn or uvicorn workers).
    ///
    /// Workers started later are watched too; every line carries its pid. No effect
    /// under `aelm watch`, which already follows every matching process.
    ///
    /// Example: aelm attach --pid 1234 --subprocesses   (1234: the master's pid)
    #[arg(long)]
    pub subprocesses: bool,

    /// Serve Prometheus metrics on HOST:PORT at /metrics.
    ///
    /// Example: --metrics-addr 127.0.0.1:9464
    #[arg(long, value_name = "HOST:PORT", value_parser = host_port)]
    pub metrics_addr: Option<String>,

    /// At most this many culprit label values per pid in the metrics.
    ///
    /// The rest count under culprit="other".
    ///
    /// Example: --metrics-max-culprits 20
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = at_least_one)]
    pub metrics_max_culprits: usize,

    /// Also write the HTML report of this run to FILE when it ends.
    ///
    /// The same page as `aelm report` makes from the run's JSON lines.
    ///
    /// Example: --html report.html
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Exit with status 3 if any block was reported (for CI).
    ///
    /// Example: aelm run --fail-on-block -- python -m pytest tests/
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

    /// A warning when the threshold is shorter than three sample intervals:
    /// a block is measured to about one interval, so blocks that short are
    /// found or missed by chance.
    pub fn threshold_warning(&self) -> Option<String> {
        let interval = self.interval();
        (self.threshold() < interval * 3).then(|| {
            format!(
                "aelm: warning: --threshold-ms {} is less than three sample intervals ({} us at \
                 {} Hz): durations are accurate to about one interval, so blocks this short are \
                 found or missed by chance",
                self.threshold_ms,
                interval.as_micros(),
                self.rate_hz()
            )
        })
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

/// The largest threshold and `--ongoing-ms` taken (an hour): larger ones
/// are typing mistakes, and a duration must stay representable.
const MAX_MS: f64 = 3_600_000.0;
/// The longest `--duration` taken (about 31 years).
const MAX_SECONDS: f64 = 1e9;
/// The longest `--scan-interval` taken (an hour).
const MAX_SCAN_SECONDS: f64 = 3600.0;

/// A positive number of at most `max`.
fn at_most(s: &str, max: f64, unit: &str) -> Result<f64, String> {
    let v = positive_f64(s)?;
    if v <= max {
        Ok(v)
    } else {
        Err(format!("`{s}` is too large: use at most {max} {unit}"))
    }
}

fn milliseconds(s: &str) -> Result<f64, String> {
    at_most(s, MAX_MS, "(ms, one hour)")
}

fn seconds(s: &str) -> Result<f64, String> {
    at_most(s, MAX_SECONDS, "(seconds)")
}

fn scan_seconds(s: &str) -> Result<f64, String> {
    at_most(s, MAX_SCAN_SECONDS, "(seconds, one hour)")
}

/// HOST:PORT that resolves to a socket address (port 0: any free port).
fn host_port(s: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    match s.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => Ok(s.to_string()),
        _ => Err(format!(
            "`{s}` is not HOST:PORT (for example 127.0.0.1:9464)"
        )),
    }
}

/// A count of at least one.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err(format!("`{s}` must be at least 1")),
        Err(_) => Err(format!("`{s}` is not a whole number")),
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
    use clap::CommandFactory;

    /// Every argument of `cmd` and its commands (clap's own help, version and
    /// `help` command aside), as (command path, argument).
    fn all_args(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            if !matches!(arg.get_id().as_str(), "help" | "version") {
                out.push((path.to_string(), arg.clone()));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            all_args(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    /// The arguments whose long help (`--help`, the man pages) has no
    /// `Example:` line that uses them: an option's example must name the
    /// option (`--threshold-ms 20`), a positional's must be a whole command
    /// line of its command (`aelm summarize a.jsonl b.jsonl`).
    fn missing_examples(cmd: clap::Command) -> Vec<String> {
        let mut cmd = cmd;
        cmd.build();
        let mut args = Vec::new();
        all_args(&cmd, cmd.get_name(), &mut args);
        let mut missing = Vec::new();
        for (path, arg) in args {
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(long), _) => format!("--{long}"),
                (None, Some(short)) => format!("-{short}"),
                (None, None) => format!("<{}>", arg.get_id()),
            };
            let help = arg
                .get_long_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let examples: Vec<&str> = help
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Example: "))
                .collect();
            let ok = examples.iter().any(|ex| {
                if arg.is_positional() {
                    ex.starts_with(&format!("{path} "))
                } else {
                    ex.split_whitespace().any(|tok| {
                        arg.get_long().is_some_and(|l| {
                            tok == format!("--{l}") || tok.starts_with(&format!("--{l}="))
                        }) || arg.get_short().is_some_and(|s| tok == format!("-{s}"))
                    })
                }
            });
            let short = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if !ok || short.is_empty() || short.contains('\n') || short.contains("Example") {
                missing.push(format!("{path} {name}"));
            }
        }
        missing
    }

    #[test]
    fn every_argument_has_an_example_in_its_long_help() {
        let mut cmd = Cli::command();
        cmd.build();
        let mut args = Vec::new();
        all_args(&cmd, "aelm", &mut args);
        let seen: Vec<String> = args
            .iter()
            .map(|(path, a)| format!("{path} {}", a.get_id()))
            .collect();
        for want in [
            "aelm attach pid",
            "aelm watch threshold_ms",
            "aelm run command",
            "aelm man dir",
        ] {
            assert!(
                seen.iter().any(|s| s == want),
                "{want} not walked: {seen:?}"
            );
        }
        let missing = missing_examples(Cli::command());
        assert!(
            missing.is_empty(),
            "arguments without an `Example:` line using them in their long help \
             (or without a one-line short help): {missing:?}"
        );
    }

    #[test]
    fn the_example_check_finds_an_argument_without_one() {
        let cmd = clap::Command::new("aelm").subcommand(
            clap::Command::new("probe")
                .arg(
                    clap::Arg::new("good")
                        .long("good")
                        .help("Has one")
                        .long_help("Has one.\n\nExample: --good 3"),
                )
                .arg(
                    clap::Arg::new("elsewhere")
                        .long("elsewhere")
                        .help("Its example uses another option")
                        .long_help("Its example uses another option.\n\nExample: --good 3"),
                )
                .arg(clap::Arg::new("bare").long("bare").help("No long help"))
                .arg(
                    clap::Arg::new("file")
                        .help("A positional")
                        .long_help("A positional.\n\nExample: --file x"),
                ),
        );
        assert_eq!(
            missing_examples(cmd),
            vec![
                "aelm probe --elsewhere",
                "aelm probe --bare",
                "aelm probe <file>"
            ]
        );
    }

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
        assert_eq!(opts.threshold_warning(), None);
        for (args, warned) in [
            (&["--threshold-ms", "0.5"][..], false),
            (&["--threshold-ms", "0.001"][..], true),
            (&["--threshold-ms", "2", "--rate", "1000"][..], true),
            (&["--threshold-ms", "3", "--rate", "1000"][..], false),
        ] {
            let mut argv = vec!["aelm", "attach", "--pid", "1"];
            argv.extend_from_slice(args);
            let Command::Attach { opts, .. } = parse(&argv).unwrap().command else {
                panic!("attach expected")
            };
            assert_eq!(opts.threshold_warning().is_some(), warned, "{args:?}");
        }
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

    #[test]
    fn every_subcommand_takes_the_version_flag() {
        for sub in ["attach", "run", "watch", "dump", "summarize", "report"] {
            for flag in ["-V", "--version"] {
                let err = Cli::try_parse_from(["aelm", sub, flag]).unwrap_err();
                assert_eq!(
                    err.kind(),
                    clap::error::ErrorKind::DisplayVersion,
                    "{sub} {flag}"
                );
            }
        }
    }
}
