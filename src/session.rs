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
use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};

use crate::cli::{Format, WatchOpts};
use crate::detector::{Block, BlockState};
use crate::detector::{Config as DetectorConfig, Detector};
use crate::python::attach;
use crate::report::json::JsonReporter;
use crate::report::text::TextReporter;
use crate::report::{BlockContext, EndInfo, ModuleNames, Reporter, StartInfo, millis};
use crate::sampler::{self, EndReason, Envelope, Msg, SamplerConfig};
use crate::summary::Summary;

/// Exit statuses (spec: 0 done, 1 failed, 2 usage, 3 blocks with --fail-on-block).
pub const EXIT_OK: i32 = 0;
pub const EXIT_BLOCKS: i32 = 3;

/// How long `aelm run` waits for the new program's interpreter to come up.
const RUN_ATTACH_WAIT: Duration = Duration::from_secs(10);
/// Samples buffered between sampler and detector.
const CHANNEL_DEPTH: usize = 4096;
/// How often the detector looks for new batches. It polls rather than
/// blocks: a blocking receive spins, yields and parks on a futex for every
/// batch (about 6 system calls), the sender then has to wake it (one more),
/// where one sleep per poll is one call; batches come every 50 ms anyway.
const PUMP_POLL: Duration = Duration::from_millis(50);

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

/// The JSON lines of a run kept in memory for `--html`.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<u8>>>);

impl Write for Kept {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes every line to both reporters (the user's output, and JSON kept
/// for the HTML report).
struct Tee {
    main: Box<dyn Reporter>,
    kept: JsonReporter<Kept>,
}

impl Reporter for Tee {
    fn start(&mut self, info: &StartInfo) -> io::Result<()> {
        let _ = self.kept.start(info);
        self.main.start(info)
    }
    fn block(&mut self, block: &Block, ctx: &BlockContext) -> io::Result<()> {
        let _ = self.kept.block(block, ctx);
        self.main.block(block, ctx)
    }
    fn end(&mut self, info: &EndInfo) -> io::Result<()> {
        let _ = self.kept.end(info);
        self.main.end(info)
    }
}

/// The reporter, and where the lines for `--html` are kept.
fn reporter_for(opts: &WatchOpts, out: Box<dyn Write + Send>) -> (Box<dyn Reporter>, Option<Kept>) {
    let main = reporter(opts, out);
    match opts.html {
        Some(_) => {
            let kept = Kept::default();
            let tee = Tee {
                main,
                kept: JsonReporter::new(kept.clone()),
            };
            (Box::new(tee), Some(kept))
        }
        None => (main, None),
    }
}

/// Writes the `--html` report from the kept lines.
fn write_html(opts: &WatchOpts, kept: Option<Kept>) -> Result<()> {
    let (Some(path), Some(kept)) = (&opts.html, kept) else {
        return Ok(());
    };
    let bytes = kept.0.lock().map(|b| b.clone()).unwrap_or_default();
    let lines: Vec<serde_json::Value> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    let stats = crate::html::report_lines(&lines, 0, path)
        .with_context(|| format!("writing the HTML report {}", path.display()))?;
    eprintln!("aelm: wrote {} ({} blocks)", path.display(), stats.blocks);
    Ok(())
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
    // Become the program's subreaper: a program that daemonizes (forks
    // twice and lets the middle process exit) leaves its daemon as aelm's
    // child, so the end can say where it went (see `left_behind`).
    // SAFETY: prctl(2) with integer arguments only.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    Command::new(prog)
        .args(args)
        .stdout(Stdio::from(stderr))
        .spawn()
        .with_context(|| format!("could not start `{prog}`"))
}

/// `aelm run`'s program exited without running a loop: if it left
/// processes behind (a daemon: adopted by aelm, its subreaper), says so and
/// how to watch them.
fn left_behind() {
    let adopted = || -> Vec<(i32, String)> {
        crate::wait_note::children(std::process::id() as i32)
            .into_iter()
            .filter(|(_, cmd)| !cmd.is_empty())
            .collect()
    };
    // A daemon's middle process (the first fork) may still be on its way
    // out: wait until the set stays the same for 100 ms (at most 0.5 s).
    let mut left = adopted();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        let now = adopted();
        if now == left {
            break;
        }
        left = now;
    }
    let Some((first, _)) = left.first() else {
        return;
    };
    let list: Vec<String> = left
        .iter()
        .take(4)
        .map(|(p, cmd)| format!("{p} ({})", cmd.chars().take(60).collect::<String>()))
        .collect();
    eprintln!(
        "aelm: the program exited without running an asyncio event loop, but left {} running \
         in the background: {}{}. If it daemonized, watch it with `aelm attach --pid {first}`",
        if left.len() == 1 {
            "a process"
        } else {
            "processes"
        },
        list.join(", "),
        if left.len() > 4 { ", ..." } else { "" },
    );
}

/// Stops every sampler of a session at once: they all hold a receiver of
/// one channel whose only sender this holds; stopping drops it.
#[derive(Clone)]
pub struct Stopper(Arc<Mutex<Option<Sender<()>>>>);

impl Stopper {
    pub fn new() -> (Stopper, Receiver<()>) {
        let (tx, rx) = bounded::<()>(1);
        (Stopper(Arc::new(Mutex::new(Some(tx)))), rx)
    }

    pub fn stop(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.take();
        }
    }
}

/// Forwards SIGINT/SIGTERM as a stop (and to the child of `run`).
fn watch_signals(stop: Stopper, child_pid: Option<i32>) -> Result<()> {
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
                stop.stop();
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
    if let Some(w) = opts.threshold_warning() {
        eprintln!("{w}");
    }
    let out = open_output(opts)?;
    let (stopper, stop_rx) = Stopper::new();
    let (pid, child_status) = match &target {
        Target::Pid(pid) => (*pid, None),
        Target::Command(cmd) => {
            let child = spawn_child(cmd)?;
            let pid = child.id() as i32;
            (pid, Some(reap_child(child)))
        }
    };
    watch_signals(stopper.clone(), child_status.as_ref().map(|_| pid))?;
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
                    pid,
                    reason: EndReason::TargetExited.as_str().to_string(),
                    totals: Default::default(),
                    elapsed: Duration::ZERO,
                    missed_ticks: 0,
                    reads: None,
                    error: None,
                    exit_code: Some(status_code(st)),
                    top: Vec::new(),
                };
                let _ = rep.end(&end);
                return Ok(status_code(st));
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
    let (tx, rx) = bounded::<Envelope>(CHANNEL_DEPTH);
    let mut scfg = SamplerConfig::new(
        pid,
        opts.interval(),
        opts.threshold(),
        opts.duration(),
        opts.thread,
    );
    scfg.children = if opts.subprocesses {
        sampler::ChildNote::Followed
    } else {
        sampler::ChildNote::Suggest
    };
    let first = sampler::NewTarget { source, cfg: scfg };
    let (pool, sampler) = sampler::spawn(tx.clone(), stop_rx.clone(), None, Some(first))
        .context("starting the sampler thread")?;
    let mut handles = vec![sampler];
    if opts.subprocesses {
        let follow = crate::follow::Follower {
            selection: crate::follow::Selection::Descendants(pid),
            scan: crate::follow::SCAN,
            max_targets: crate::follow::MAX_TARGETS,
            opts: opts.clone(),
            kind,
            pool: pool.clone(),
            stop: stop_rx.clone(),
        };
        handles.push(follow.spawn().context("starting the subprocess follower")?);
    }
    let spent = pool.spent();
    drop(pool);
    // The session ends when every sampler (and the follower) has let go.
    drop(tx);
    drop(stop_rx);
    let (rep, kept) = reporter_for(opts, out);
    let status = pump(
        Some(pid),
        opts,
        rep,
        Inbox { rx, spent },
        &stopper,
        kind.name(),
        &child_status,
    );
    stopper.stop();
    for h in handles {
        let _ = h.join();
    }
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
    write_html(opts, kept)?;
    status
}

/// `aelm watch`: every matching asyncio process on the host, new ones too,
/// until a signal or `--duration`.
pub fn watch(
    opts: &WatchOpts,
    matcher: Option<regex::Regex>,
    scan: Duration,
    max_targets: usize,
    max_cpu_percent: f64,
) -> Result<i32> {
    let out = open_output(opts)?;
    let (stopper, stop_rx) = Stopper::new();
    watch_signals(stopper.clone(), None)?;
    let (tx, rx) = bounded::<Envelope>(CHANNEL_DEPTH);
    let kind = opts.reader.kind();
    let budget = sampler::Budget {
        fraction: max_cpu_percent / 100.0,
        max_interval: opts.threshold() / 3,
    };
    let (pool, sampler) = sampler::spawn(tx, stop_rx.clone(), Some(budget), None)
        .context("starting the sampler thread")?;
    let spent = pool.spent();
    let follow = crate::follow::Follower {
        selection: crate::follow::Selection::Matching(matcher),
        scan,
        max_targets,
        opts: opts.clone(),
        kind,
        pool,
        stop: stop_rx,
    };
    let handle = follow.spawn().context("starting the process scanner")?;
    let status = pump(
        None,
        opts,
        reporter(opts, out),
        Inbox { rx, spent },
        &stopper,
        kind.name(),
        &None,
    );
    stopper.stop();
    let _ = handle.join();
    let _ = sampler.join();
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

/// What the session knows about one target.
struct TargetState {
    detector: Detector,
    names: HashMap<u64, Option<String>>,
    wall_start: std::time::SystemTime,
    summary: Summary,
    /// Its `start` line was written (a watched process may never run a loop).
    started: bool,
}

/// Where blocks go: the reporter, the metrics, the status line, and the
/// run's counts. One `block` call does all of it, for blocks as they come
/// and for those flushed when a target ends.
struct Out<'a> {
    rep: Box<dyn Reporter>,
    metrics: Option<crate::metrics::Metrics>,
    status: crate::status::StatusLine,
    modules: ModuleNames,
    /// Blocks reported so far (ongoing ones included).
    reported: u64,
    /// Set when the output is gone: keep draining, write nothing more.
    closed: bool,
    write_error: Option<io::Error>,
    stopper: &'a Stopper,
}

impl Out<'_> {
    /// Writes one line; on an error, stops the session and writes no more.
    fn emit(&mut self, f: impl FnOnce(&mut dyn Reporter) -> io::Result<()>) {
        if self.closed {
            return;
        }
        self.status.clear();
        if let Err(e) = f(self.rep.as_mut()) {
            self.closed = true;
            self.stopper.stop();
            if e.kind() != io::ErrorKind::BrokenPipe {
                self.write_error = Some(e);
            }
        }
    }

    /// A block of target `pid`: counted, noted in the target's summary and
    /// (once ended) in the metrics, shown on the status line, written.
    fn block(&mut self, pid: i32, t: &mut TargetState, b: &Block) {
        self.reported += 1;
        note(&mut t.summary, &mut self.modules, b);
        let culprit = self.modules.dotted(&b.culprit.code);
        if let Some(m) = self.metrics.as_mut()
            && b.state == BlockState::Ended
        {
            m.block(pid, &culprit, b.duration.as_secs_f64());
        }
        self.status.block(millis(b.duration), &culprit);
        let ctx = BlockContext {
            pid,
            thread: t.names.get(&b.tid).and_then(|n| n.as_deref()),
            time: t.wall_start + b.start,
        };
        self.emit(|r| r.block(b, &ctx));
    }
}

/// What the sampler thread sends, and the way spent batches go back to it.
struct Inbox {
    rx: Receiver<Envelope>,
    spent: sampler::Spent,
}

/// Moves messages from the samplers through each target's detector to the
/// reporter. Returns the exit status when the root target's sampler ends.
fn pump(
    root: Option<i32>,
    opts: &WatchOpts,
    rep: Box<dyn Reporter>,
    inbox: Inbox,
    stopper: &Stopper,
    reader: &'static str,
    child_status: &Option<ChildStatus>,
) -> Result<i32> {
    let dcfg = DetectorConfig {
        threshold: opts.threshold(),
        ongoing: opts.ongoing(),
        include: opts.include.clone(),
        exclude: opts.exclude.clone(),
        forced_thread: opts.thread,
    };
    let mut targets: HashMap<i32, TargetState> = HashMap::new();
    let metrics = match &opts.metrics_addr {
        Some(addr) => Some(crate::metrics::Metrics::serve(
            addr,
            opts.metrics_max_culprits,
        )?),
        None => None,
    };
    let mut out = Out {
        rep,
        metrics,
        status: crate::status::StatusLine::new(),
        modules: ModuleNames::default(),
        reported: 0,
        closed: false,
        write_error: None,
        stopper,
    };
    let mut root_exit: Option<i32> = None;

    let next = || loop {
        match inbox.rx.try_recv() {
            Ok(e) => return Some(e),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::thread::sleep(PUMP_POLL),
        }
    };
    while let Some(Envelope { pid, msg }) = next() {
        let t = targets.entry(pid).or_insert_with(|| TargetState {
            detector: Detector::new(dcfg.clone()),
            names: HashMap::new(),
            wall_start: std::time::SystemTime::now(),
            summary: Summary::default(),
            started: false,
        });
        match msg {
            Msg::Started {
                python,
                loop_threads,
                wall_start,
            } => {
                t.wall_start = wall_start;
                t.started = true;
                if let Some(m) = out.metrics.as_mut() {
                    m.target_started(pid);
                }
                let cgroup =
                    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                let container = crate::follow::container_of(&cgroup);
                for th in &loop_threads {
                    t.names.insert(th.tid, th.name.clone());
                }
                let info = StartInfo {
                    pid,
                    python,
                    threshold: opts.threshold(),
                    interval: opts.interval(),
                    loop_threads,
                    reader,
                    cmdline: crate::follow::cmdline(pid),
                    parent: root.filter(|&r| r != pid && opts.subprocesses),
                    container: container.0,
                    pod_uid: container.1,
                };
                out.emit(|r| r.start(&info));
            }
            Msg::Threads(list) => {
                let live: Vec<u64> = list.iter().map(|th| th.tid).collect();
                for th in list {
                    t.names.insert(th.tid, th.name);
                }
                // A loop thread that ended ends its block (a thread per
                // call often exits right after its one busy callback).
                for b in t.detector.threads_ended(&live) {
                    out.block(pid, t, &b);
                }
            }
            Msg::Samples(samples) => {
                let before = t.detector.totals().clone();
                for s in &samples {
                    for b in t.detector.push(s) {
                        out.block(pid, t, &b);
                    }
                }
                inbox.spent.give(samples);
                if let Some(m) = out.metrics.as_mut() {
                    let after = t.detector.totals();
                    m.samples(
                        pid,
                        after.samples - before.samples,
                        after.failed_samples - before.failed_samples,
                    );
                    m.in_progress(
                        pid,
                        t.detector.in_progress().map_or(0.0, |d| d.as_secs_f64()),
                    );
                    m.tick();
                }
                let samples: u64 = targets.values().map(|t| t.detector.totals().samples).sum();
                let threads: usize = targets.values().map(|t| t.names.len()).sum();
                out.status.tick(samples, threads, out.reported);
            }
            Msg::Ended {
                reason,
                elapsed,
                missed_ticks,
                reads,
            } => {
                out.status.clear();
                for b in t.detector.finish() {
                    out.block(pid, t, &b);
                }
                let mut exit_code = None;
                if root == Some(pid)
                    && reason == EndReason::TargetExec
                    && let Some(cs) = child_status
                {
                    // `aelm run`'s program became another program: aelm stops
                    // watching, but the program is the user's and goes on;
                    // the run ends when it does (Ctrl-C is passed on to it).
                    eprintln!(
                        "aelm: pid {pid} ran exec() and is now another program; aelm stops \
                         watching it and waits for it to exit (Ctrl-C stops it)"
                    );
                    while cs.lock().ok().is_some_and(|g| g.is_none()) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                if root == Some(pid)
                    && let Some(cs) = child_status
                {
                    // Give the reaper a moment to record the program's status.
                    for _ in 0..50 {
                        if let Some(st) = cs.lock().ok().and_then(|g| *g) {
                            exit_code = Some(status_code(st));
                            break;
                        }
                        if reason != EndReason::TargetExited {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                if root == Some(pid)
                    && child_status.is_some()
                    && reason == EndReason::TargetExited
                    && !t.started
                {
                    left_behind();
                }
                let end = EndInfo {
                    pid,
                    reason: reason.as_str().to_string(),
                    totals: t.detector.totals().clone(),
                    elapsed,
                    missed_ticks,
                    reads,
                    error: None,
                    exit_code,
                    top: t.summary.top(crate::summary::DEFAULT_TOP),
                };
                // A process found by `watch` or `--subprocesses` that never ran
                // a loop was never announced: no `end` line for it either.
                if t.started || root == Some(pid) {
                    out.emit(|r| r.end(&end));
                }
                if t.started
                    && let Some(m) = out.metrics.as_mut()
                {
                    m.target_ended(pid);
                }
                if root == Some(pid) {
                    // The root is gone (or aelm stops): so are its workers.
                    root_exit = Some(exit_code.unwrap_or(0));
                    stopper.stop();
                }
            }
        }
    }
    if let Some(e) = out.write_error {
        return Err(anyhow::Error::new(e).context("writing the output"));
    }
    if let Some(code) = root_exit.filter(|&c| c != 0) {
        // `aelm run`: a program that failed makes aelm fail the same way.
        return Ok(code);
    }
    if opts.fail_on_block && out.reported > 0 {
        return Ok(EXIT_BLOCKS);
    }
    Ok(EXIT_OK)
}

/// A program's exit status as a shell reports it: its code, or 128 + the
/// signal that killed it.
fn status_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
