//! aelm: parse the command line, run, map errors to an exit status. Nothing else.

use aelm::cli::{self, Cli, Command};
use aelm::session::{self, Target};
use aelm::{dump, html, man, summary};
use clap::{CommandFactory, Parser};

/// Exit status when aelm could not attach or failed.
const EXIT_FAILED: i32 = 1;

fn main() {
    let cli = Cli::parse();
    if let Command::Watch { opts, .. } = &cli.command
        && (opts.thread.is_some() || opts.subprocesses)
    {
        // Hidden from `watch --help`; refused rather than ignored.
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--thread and --subprocesses apply to attach and run: watch already follows \
                 every matching process",
            )
            .exit();
    }
    let result = match cli.command {
        Command::Attach { pid, opts } => session::run(Target::Pid(pid), &opts),
        Command::Run { opts, command } => session::run(Target::Command(command), &opts),
        Command::Dump { pid, reader } => dump::run(pid, reader.kind()),
        Command::Watch {
            opts,
            matcher,
            scan_interval,
            max_targets,
            max_cpu,
        } => session::watch(
            &opts,
            matcher,
            std::time::Duration::from_secs_f64(scan_interval),
            max_targets,
            max_cpu,
        ),
        Command::Summarize { files, format, top } => {
            summary::run(&files, format == cli::SummaryFormat::Json, top)
        }
        Command::Report { files, output } => match html::report_files(&files, &output) {
            Ok(stats) => {
                // Skipped lines were already told, with examples.
                eprintln!(
                    "aelm: wrote {} ({} blocks, {} KiB)",
                    output.display(),
                    stats.blocks,
                    stats.bytes / 1024,
                );
                Ok(0)
            }
            Err(e) => Err(e),
        },
        Command::Completions { shell } => {
            // Into a buffer first: generate() panics on a write error
            // (`aelm completions bash | head`).
            let mut cmd = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "aelm", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout().lock(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(anyhow::Error::from(e).context("writing the completion script"))
                }
                _ => Ok(0),
            }
        }
        Command::Man { command, dir } => man::run(command.as_deref(), dir.as_deref()),
    };
    let status = match result {
        Ok(status) => status,
        Err(e) => {
            eprintln!("aelm: error: {e:#}");
            EXIT_FAILED
        }
    };
    std::process::exit(status);
}
