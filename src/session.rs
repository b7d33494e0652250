//! One monitoring session: attach to (or start) the target, run the sampler
//! thread, pump its samples through the detector to the reporter, and
//! decide the exit status.
//!
//! Owns the wiring and shutdown: signals and `--duration` stop the sampler
//! by message; the reporter's output closing (`| head -1`) stops it too,
//! quietly.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, Sender, bounded};

use crate::cli::{Format, WatchOpts};
use crate::detector::{Block, BlockState};
use crate::detector::{Config as DetectorConfig, Detector};
use crate::python::attach;
use crate::report::json::JsonReporter;
use crate::report::text::TextReporter;
use crate::report::{BlockContext, EndInfo, ModuleNames, Reporter, StartInfo, millis};
use crate::sampler::{self, EndReason, Msg, SamplerConfig};
use crate::summary::Summary;

/// Exit statuses (spec: 0 done, 1 failed, 2 usage, 3 blocks with --fail-on-block).
pub const EXIT_OK: i32 = 0;
pub const EXIT_BLOCKS: i32 = 3;

/// How long `aelm run` waits for the new program's interpreter to come up.
const RUN_ATTACH_WAIT: Duration = Duration::from_secs(10);
/// Samples buffered between sampler and detector.
const CHANNEL_DEPTH: usize = 4096;

/// What is being watched.
pub enum Target {
    Pid(i32),
    Command(Vec<String>),
}

fn open_output(opts: &WatchOpts) -> Result<Box<dyn Write + Send>> {
    Ok(match &opts.output {
        Some(path) => Box::new(File::create(path).with_context(|| {
            format!("could not open {} for writing (--output)", path.display())
        })?),
        None => Box::new(io::stdout()),
    })
}

fn reporter(opts: &WatchOpts, out: Box<dyn Write + Send>) -> Box<dyn Reporter> {
    use std::io::IsTerminal;
    // A person at a terminal reads text; a pipe or a file gets JSON lines.
    let tty = opts.output.is_none() && io::stdout().is_terminal();
    match opts
        .format
        .unwrap_or(if tty { Format::Text } else { Format::Json })
    {
        Format::Json => Box::new(JsonReporter::new(out)),
        Format::Text => {
            let colour = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            Box::new(TextReporter::new(out, colour))
        }
    }
}

/// Starts the program of `aelm run`, its stdout sent to aelm's stderr.
fn spawn_child(command: &[String]) -> Result<Child> {
    let (prog, args) = command
        .split_first()
        .context("aelm run needs a command after `--`")?;
    let stderr = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stderr for the program's output")?;
    Command::new(prog)
        .args(args)
        .stdout(Stdio::from(stderr))
        .spawn()
        .with_context(|| format!("could not start `{prog}`"))
}

/// Forwards SIGINT/SIGTERM as a stop message (and to the child of `run`).
fn watch_signals(stop: Sender<()>, child_pid: Option<i32>) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    std::thread::Builder::new()
        .name("aelm-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if let Some(pid) = child_pid {
                    // SAFETY: kill(2) with a pid we started; no memory is touched.
                    unsafe {
                        libc::kill(pid, sig);
                    }
                }
                let _ = stop.try_send(());
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

/// The exit status of `aelm run`'s program, once it has exited on its own.
type ChildStatus = Arc<Mutex<Option<std::process::ExitStatus>>>;

fn reap_child(mut child: Child) -> ChildStatus {
    let status: ChildStatus = Arc::new(Mutex::new(None));
    let slot = status.clone();
    let spawned = std::thread::Builder::new()
        .name("aelm-child".into())
        .spawn(move || {
            if let Ok(st) = child.wait()
                && let Ok(mut s) = slot.lock()
            {
                *s = Some(st);
            }
        });
    if spawned.is_err() {
        eprintln!("aelm: could not start a thread to wait for the program");
    }
    status
}

/// Runs a session to its end; returns the exit status.
pub fn run(target: Target, opts: &WatchOpts) -> Result<i32> {
    let out = open_output(opts)?;
    let (stop_tx, stop_rx) = bounded::<()>(1);
    let (pid, child_status) = match &target {
        Target::Pid(pid) => (*pid, None),
        Target::Command(cmd) => {
            let child = spawn_child(cmd)?;
            let pid = child.id() as i32;
            (pid, Some(reap_child(child)))
        }
    };
    watch_signals(stop_tx.clone(), child_status.as_ref().map(|_| pid))?;
    let wait = child_status.as_ref().map(|_| RUN_ATTACH_WAIT);
    let kind = opts.reader.kind();
    let source = match attach::open(pid, kind, wait) {
        Ok(s) => s,
        Err(e) => {
            if let Some(st) = child_status
                .as_ref()
                .and_then(|s| s.lock().ok().and_then(|g| *g))
            {
                // The program ended before aelm could attach: nothing to watch.
                eprintln!("aelm: the program exited ({st}) before aelm could attach");
                let mut rep = reporter(opts, out);
                let end = EndInfo {
                    reason: EndReason::TargetExited.as_str().to_string(),
                    totals: Default::default(),
                    elapsed: Duration::ZERO,
                    missed_ticks: 0,
                    reads: None,
                    error: None,
                    exit_code: st.code(),
                    top: Vec::new(),
                };
                let _ = rep.end(&end);
                return Ok(st.code().filter(|&c| c != 0).unwrap_or(EXIT_OK));
            }
            if child_status.is_some() {
                // SAFETY: kill(2) on the child we started.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            return Err(e);
        }
    };
    let reader = kind.name();
    let (tx, rx) = bounded::<Msg>(CHANNEL_DEPTH);
    let scfg = SamplerConfig {
        pid,
        interval: opts.interval(),
        duration: opts.duration(),
        thread: opts.thread,
    };
    let handle =
        sampler::spawn(source, scfg, tx, stop_rx).context("starting the sampler thread")?;
    let status = pump(
        pid,
        opts,
        reporter(opts, out),
        rx,
        &stop_tx,
        reader,
        &child_status,
    );
    let _ = handle.join();
    if let Some(cs) = &child_status {
        let exited = cs.lock().ok().and_then(|g| *g);
        if exited.is_none() {
            // aelm stops first (duration, Ctrl-C, output closed): stop the program too.
            // SAFETY: kill(2) on the child we started.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    status
}

/// Counts an ended block in the run's summary.
fn note(summary: &mut Summary, modules: &mut ModuleNames, b: &Block) {
    if b.state == BlockState::Ended {
        let c = &b.culprit;
        summary.add(
            &modules.dotted(&c.code),
            &c.code.file,
            u64::from(c.line),
            millis(b.duration),
        );
    }
}

/// Moves messages from the sampler through the detector to the reporter.
fn pump(
    pid: i32,
    opts: &WatchOpts,
    mut rep: Box<dyn Reporter>,
    rx: Receiver<Msg>,
    stop: &Sender<()>,
    reader: &'static str,
    child_status: &Option<ChildStatus>,
) -> Result<i32> {
    let dcfg = DetectorConfig {
        threshold: opts.threshold(),
        interval: opts.interval(),
        ongoing: opts.ongoing(),
        include: opts.include.clone(),
        exclude: opts.exclude.clone(),
        forced_thread: opts.thread,
    };
    let mut detector = Detector::new(dcfg);
    let mut names: HashMap<u64, Option<String>> = HashMap::new();
    let mut wall_start = std::time::SystemTime::now();
    let mut reported = 0u64;
    let mut summary = Summary::default();
    let mut modules = ModuleNames::default();
    let mut status = crate::status::StatusLine::new();
    // Set when the output is gone: keep draining, write nothing more.
    let mut output_closed = false;
    let mut write_error: Option<io::Error> = None;

    let mut emit = |rep: &mut Box<dyn Reporter>,
                    f: &mut dyn FnMut(&mut Box<dyn Reporter>) -> io::Result<()>,
                    closed: &mut bool| {
        if *closed {
            return;
        }
        if let Err(e) = f(rep) {
            *closed = true;
            let _ = stop.try_send(());
            if e.kind() != io::ErrorKind::BrokenPipe {
                write_error = Some(e);
            }
        }
    };

    for msg in rx.iter() {
        match msg {
            Msg::Started {
                python,
                loop_threads,
                wall_start: ws,
            } => {
                wall_start = ws;
                for t in &loop_threads {
                    names.insert(t.tid, t.name.clone());
                }
                let info = StartInfo {
                    pid,
                    python,
                    threshold: opts.threshold(),
                    interval: opts.interval(),
                    loop_threads,
                    reader,
                };
                emit(&mut rep, &mut |r| r.start(&info), &mut output_closed);
            }
            Msg::Threads(list) => {
                for t in list {
                    names.insert(t.tid, t.name);
                }
            }
            Msg::Samples(samples) => {
                for b in samples.iter().flat_map(|s| detector.push(s)) {
                    reported += 1;
                    note(&mut summary, &mut modules, &b);
                    status.block(millis(b.duration), &modules.dotted(&b.culprit.code));
                    let ctx = BlockContext {
                        pid,
                        thread: names.get(&b.tid).and_then(|n| n.as_deref()),
                        time: wall_start + b.start,
                    };
                    status.clear();
                    emit(&mut rep, &mut |r| r.block(&b, &ctx), &mut output_closed);
                }
                status.tick(detector.totals().samples, names.len(), reported);
            }
            Msg::Ended {
                reason,
                elapsed,
                missed_ticks,
                reads,
            } => {
                status.clear();
                for b in detector.finish() {
                    reported += 1;
                    note(&mut summary, &mut modules, &b);
                    let ctx = BlockContext {
                        pid,
                        thread: names.get(&b.tid).and_then(|n| n.as_deref()),
                        time: wall_start + b.start,
                    };
                    emit(&mut rep, &mut |r| r.block(&b, &ctx), &mut output_closed);
                }
                // Give the reaper a moment to record the program's status.
                let mut exit_code = None;
                if let Some(cs) = child_status {
                    for _ in 0..50 {
                        if let Some(st) = cs.lock().ok().and_then(|g| *g) {
                            // Killed by a signal: the shell's convention, 128 + signal.
                            exit_code = st.code().or_else(|| {
                                use std::os::unix::process::ExitStatusExt;
                                st.signal().map(|s| 128 + s)
                            });
                            break;
                        }
                        if reason != EndReason::TargetExited {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                let error = None;
                let end = EndInfo {
                    reason: reason.as_str().to_string(),
                    totals: detector.totals().clone(),
                    elapsed,
                    missed_ticks,
                    reads,
                    error,
                    top: summary.top(crate::summary::DEFAULT_TOP),
                    exit_code,
                };
                emit(&mut rep, &mut |r| r.end(&end), &mut output_closed);
                if let Some(e) = write_error.take() {
                    return Err(anyhow::Error::new(e).context("writing the output"));
                }
                if let Some(code) = exit_code.filter(|&c| c != 0) {
                    // `aelm run`: a program that failed makes aelm fail the same way.
                    return Ok(code);
                }
                if opts.fail_on_block && reported > 0 {
                    return Ok(EXIT_BLOCKS);
                }
                return Ok(EXIT_OK);
            }
        }
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context("writing the output"));
    }
    Ok(EXIT_OK)
}
