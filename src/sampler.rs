//! The sampler thread: reads the loop threads of every target of a session
//! at a fixed rate and sends [`Sample`]s over a channel.
//!
//! One thread samples all targets (`--subprocesses` and `watch` have many).
//! Ticks lie on one clock grid (`epoch + k * interval`), so targets with the
//! same interval are sampled on the same wake-up: on a VM a wake-up costs
//! more CPU than the read itself (docs/performance.md), so N targets cost one
//! wake-up a tick, not N. The thread sleeps to the next tick; a tick overdue
//! by less than an interval is taken at once, one further behind is skipped
//! and counted, never caught up in a burst (a burst of back-to-back samples
//! would skew the detector's 80% rule).
//! Each target's threads are rescanned now and then to find loop threads
//! that appear or go. Attaching (slow) happens elsewhere: ready readers
//! arrive through [`Pool::add`]. Under `--max-cpu` the thread measures
//! aelm's CPU time and lengthens every target's interval by powers of two
//! (which keeps them on the grid), down to three samples a threshold.
//! Shutdown is the closing of the `stop` channel, never a shared flag.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, bounded, unbounded};

use crate::detector::Detector;
use crate::python::attach::is_alive;
use crate::python::{StackSource, ThreadInfo};
use crate::sample::{Sample, SampleError, Spares, ThreadSample};
use crate::wait_note::{self, WaitNotes};

/// How often all threads are rescanned for new or finished loops.
pub const RESCAN: Duration = Duration::from_millis(1000);
/// How often to look for a first loop while there is none: half the
/// threshold, so that a block that began before its loop was found and
/// lasts 1.5x the threshold still shows at least the threshold, within
/// these bounds (a look reads every Python thread's stack, ~0.2 ms).
const WAIT_POLL_MIN: Duration = Duration::from_millis(10);
const WAIT_POLL_MAX: Duration = Duration::from_millis(50);
/// Samples are sent in batches (one wake-up of the detector per batch, not
/// per sample): at most this many, or this old.
const BATCH_MAX: usize = 256;
const BATCH_AGE: Duration = Duration::from_millis(50);
/// The sampler thread's timer slack (how late the kernel may wake it).
const TIMER_SLACK_NS: libc::c_ulong = 5_000;
/// Under a budget, how long to wait before trying a faster rate when
/// somewhat under it, at first and at most.
const PROBE_WAIT: Duration = Duration::from_secs(10);
const PROBE_WAIT_MAX: Duration = Duration::from_secs(320);
/// How often the CPU budget is checked.
const BUDGET_PERIOD: Duration = Duration::from_millis(1000);
/// Longest sleep while no target is being sampled (new targets and the
/// stop signal wake the thread earlier).
const IDLE_WAIT: Duration = Duration::from_millis(1000);

/// Why sampling stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The target exited.
    TargetExited,
    /// The target replaced itself with another program (exec).
    TargetExec,
    /// `--duration` ran out.
    Duration,
    /// SIGINT/SIGTERM, or the output was closed.
    Interrupted,
}

impl EndReason {
    pub fn as_str(&self) -> &str {
        match self {
            EndReason::TargetExited => "target-exited",
            EndReason::TargetExec => "target-exec",
            EndReason::Duration => "duration",
            EndReason::Interrupted => "interrupted",
        }
    }
}

/// Messages from the sampler, in order: `Started`, then `Sample`s and
/// `Threads` updates, then exactly one `Ended`.
#[derive(Debug)]
pub enum Msg {
    Started {
        python: String,
        loop_threads: Vec<ThreadInfo>,
        /// Wall-clock time of `Sample::at == 0`.
        wall_start: SystemTime,
    },
    /// The set of watched loop threads changed.
    Threads(Vec<ThreadInfo>),
    /// Samples in time order.
    Samples(Vec<Sample>),
    Ended {
        reason: EndReason,
        /// Time sampled, for the achieved rate.
        elapsed: Duration,
        missed_ticks: u64,
        /// Memory reads while sampling (after attach), if the reader counts them.
        reads: Option<u64>,
    },
}

/// A message and the target it is about (one channel serves every target
/// of a session: `--subprocesses` watches several).
#[derive(Debug)]
pub struct Envelope {
    pub pid: i32,
    pub msg: Msg,
}

#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub pid: i32,
    pub interval: Duration,
    pub duration: Option<Duration>,
    /// `--thread TID`: watch only this thread.
    pub thread: Option<u64>,
    /// How often to look for a first event loop while there is none, and
    /// whether to say so on stderr (`watch` keeps many such processes in
    /// view, quietly and cheaply).
    pub wait_poll: Duration,
    pub quiet_wait: bool,
    /// What the wait note says of the target's child processes (a server's
    /// master runs no loop: its workers do).
    pub children: ChildNote,
}

/// How a waiting target's child processes figure in what aelm says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildNote {
    /// Not mentioned (targets found by `watch` or `--subprocesses`).
    Off,
    /// `attach`/`run` without `--subprocesses`: name them and suggest it.
    Suggest,
    /// `--subprocesses`: they are watched too; say so, and say nothing more
    /// of the root once it has children.
    Followed,
}

impl SamplerConfig {
    /// A target of `attach`/`run`: look for a loop every half threshold
    /// (10-50 ms), say so.
    pub fn new(
        pid: i32,
        interval: Duration,
        threshold: Duration,
        duration: Option<Duration>,
        thread: Option<u64>,
    ) -> Self {
        SamplerConfig {
            pid,
            interval,
            duration,
            thread,
            wait_poll: (threshold / 2).clamp(WAIT_POLL_MIN, WAIT_POLL_MAX),
            quiet_wait: false,
            children: ChildNote::Off,
        }
    }
}

/// `--max-cpu`: a CPU budget for the sampler thread, shared by every target.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Share of one core, e.g. 0.10.
    pub fraction: f64,
    /// Longest interval allowed: a third of the threshold.
    pub max_interval: Duration,
}

/// A target ready to be sampled: an attached reader and its settings.
pub struct NewTarget {
    pub source: Box<dyn StackSource>,
    pub cfg: SamplerConfig,
}

/// The way to hand targets to the sampler thread. The thread ends once every
/// `Pool` is dropped and its last target has ended.
#[derive(Clone)]
pub struct Pool {
    add: Sender<NewTarget>,
    spent: Sender<Vec<Sample>>,
    live: Arc<AtomicUsize>,
    /// CPU time (ns) spent attaching, which the budget leaves out.
    attach_cpu: Arc<AtomicU64>,
}

impl Pool {
    /// Starts sampling a target; false when the sampler thread is gone.
    pub fn add(&self, source: Box<dyn StackSource>, cfg: SamplerConfig) -> bool {
        self.live.fetch_add(1, Ordering::SeqCst);
        let sent = self.add.send(NewTarget { source, cfg }).is_ok();
        if !sent {
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }

    /// Where the detector gives back the batches it is done with.
    pub fn spent(&self) -> Spent {
        Spent(self.spent.clone())
    }

    /// Targets added and not ended yet.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// The attaching thread's CPU time so far: `--max-cpu` budgets
    /// sampling, and attaching to a new process is a one-off cost (finding
    /// its interpreter) that would otherwise look like a burst of sampling.
    pub fn note_attach_cpu(&self, total: Duration) {
        let ns = u64::try_from(total.as_nanos()).unwrap_or(u64::MAX);
        self.attach_cpu.store(ns, Ordering::Relaxed);
    }
}

/// Batches the detector is done with, on their way back to the sampler
/// thread to be filled again (see [`Spares`]).
pub struct Spent(Sender<Vec<Sample>>);

impl Spent {
    /// Hands a batch back; it is simply freed here when the sampler thread
    /// has enough or is gone.
    pub fn give(&self, batch: Vec<Sample>) {
        let _ = self.0.try_send(batch);
    }
}

/// Batches on their way back at most.
const SPENT_DEPTH: usize = 8;

/// Starts the sampler thread of a session, with its `first` target if it
/// has one (handed over before the thread can see a stop, so that a target
/// stopped at once still gets its `Ended`).
pub fn spawn(
    tx: Sender<Envelope>,
    stop: Receiver<()>,
    budget: Option<Budget>,
    first: Option<NewTarget>,
) -> std::io::Result<(Pool, JoinHandle<()>)> {
    let (add, added) = unbounded::<NewTarget>();
    let (spent, spent_rx) = bounded::<Vec<Sample>>(SPENT_DEPTH);
    let live = Arc::new(AtomicUsize::new(0));
    let attach_cpu = Arc::new(AtomicU64::new(0));
    let pool = Pool {
        add,
        spent,
        live: live.clone(),
        attach_cpu: attach_cpu.clone(),
    };
    if let Some(t) = first {
        pool.add(t.source, t.cfg);
    }
    let handle = std::thread::Builder::new()
        .name("aelm-sampler".into())
        .spawn(move || {
            // Wake-ups come late by the thread's timer slack, 50 us by
            // default: half an interval at 10 kHz. Ask for 5 us.
            // SAFETY: prctl(PR_SET_TIMERSLACK) sets a number on this thread.
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
            }
            // And once awake, the CPU at once, even where the target runs
            // (see `slice`).
            crate::slice::request(crate::slice::SLICE);
            let mut s = Sampler {
                tx,
                stop,
                added,
                live,
                attach_cpu,
                budget,
                over_at_cap: 0,
                probing: false,
                probe_at: Instant::now() + PROBE_WAIT,
                probe_wait: PROBE_WAIT,
                epoch: Instant::now(),
                level: 0,
                targets: Vec::new(),
                spent: spent_rx,
                spares: Spares::default(),
            };
            s.run();
        })?;
    Ok((pool, handle))
}

/// CPU time of the whole aelm process (every thread: the budget is what
/// aelm costs the machine, the detector and the reporter included).
fn process_cpu_time() -> Duration {
    cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread.
pub fn thread_cpu_time() -> Duration {
    cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into `ts`, which we own.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// The first tick of the grid `epoch + k * interval` strictly after `after`.
fn next_tick(epoch: Instant, interval: Duration, after: Instant) -> Instant {
    let step = interval.as_nanos().max(1);
    let k = after.saturating_duration_since(epoch).as_nanos() / step + 1;
    epoch + Duration::from_nanos(u64::try_from(k * step).unwrap_or(u64::MAX / 2))
}

/// The program image a process runs: its executable, and its auxiliary
/// vector (/proc/PID/auxv: addresses that ASLR draws anew at every exec),
/// so that an exec of the same binary (`os.execv(sys.executable, ...)`)
/// shows too.
fn exe_of(pid: i32) -> Option<(PathBuf, Vec<u8>)> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).unwrap_or_default();
    Some((exe, auxv))
}

/// The sampler thread's state: every target, the grid and the budget.
struct Sampler {
    tx: Sender<Envelope>,
    stop: Receiver<()>,
    added: Receiver<NewTarget>,
    live: Arc<AtomicUsize>,
    attach_cpu: Arc<AtomicU64>,
    budget: Option<Budget>,
    /// A faster level is being tried (see `apply_budget`), the earliest
    /// time for the next try, and the wait between tries.
    probing: bool,
    probe_at: Instant,
    probe_wait: Duration,
    /// Budget checks in a row that found the intervals at their longest
    /// and aelm still over the budget.
    over_at_cap: u32,
    /// Origin of the tick grid.
    epoch: Instant,
    /// Under a budget: every interval is `cfg.interval << level`.
    level: u32,
    targets: Vec<Target>,
    /// Batches given back by the detector, and their vectors for reuse.
    spent: Receiver<Vec<Sample>>,
    spares: Spares,
}

/// One target: its reader and where it is in its life.
struct Target {
    source: Box<dyn StackSource>,
    cfg: SamplerConfig,
    /// Watched loop threads by tid.
    threads: BTreeMap<u64, ThreadInfo>,
    exe: Option<(PathBuf, Vec<u8>)>,
    /// When `--duration` runs out for this target.
    end_at: Option<Instant>,
    said_wait: bool,
    said_budget: bool,
    /// While no loop is found: since when, and what the scans saw (said
    /// once after `wait_note::EXPLAIN_AFTER`; `None` once said, once a loop
    /// is found, or when waiting goes unsaid, under `watch`).
    waiting_since: Instant,
    wait_notes: Option<WaitNotes>,
    state: State,
}

enum State {
    /// No event loop yet: look again at `next_poll`.
    Waiting {
        next_poll: Instant,
    },
    Sampling(Run),
}

/// A target being sampled.
struct Run {
    start: Instant,
    /// The next tick on the grid.
    next: Instant,
    next_rescan: Instant,
    /// The next look at whether threads started or ended (`probe_threads`).
    next_probe: Instant,
    /// After threads moved: when the next of the rescans of new threads
    /// that follow is due, and the wait after it, doubling up to `RESCAN`
    /// (a thread starts its loop a moment after it starts).
    settle: Option<(Instant, Duration)>,
    interval: Duration,
    missed: u64,
    tids: Vec<u64>,
    batch: Vec<Sample>,
    batch_start: Instant,
    reads_before: Option<u64>,
}

impl Run {
    /// Sends the batch of samples, a new one from `spares` in its place;
    /// false when nobody listens.
    fn send_batch(&mut self, tx: &Sender<Envelope>, pid: i32, spares: &mut Spares) -> bool {
        let want = (BATCH_AGE.as_nanos() / self.interval.as_nanos().max(1)) as usize + 2;
        let next = spares.batch(want.min(BATCH_MAX));
        send(
            tx,
            pid,
            Msg::Samples(std::mem::replace(&mut self.batch, next)),
        )
    }
}

/// What a step of a target asks of the sampler thread.
enum Step {
    Continue,
    End(EndReason),
    /// The receiver is gone: nobody listens any more.
    Deaf,
}

/// Sends a message about target `pid`; false when nobody listens.
fn send(tx: &Sender<Envelope>, pid: i32, msg: Msg) -> bool {
    tx.send(Envelope { pid, msg }).is_ok()
}

impl Target {
    fn new(t: NewTarget, now: Instant) -> Target {
        let exe = exe_of(t.cfg.pid);
        let wait_notes = (!t.cfg.quiet_wait).then(WaitNotes::default);
        Target {
            end_at: t.cfg.duration.map(|d| now + d),
            source: t.source,
            cfg: t.cfg,
            threads: BTreeMap::new(),
            exe,
            said_wait: false,
            said_budget: false,
            waiting_since: now,
            wait_notes,
            state: State::Waiting { next_poll: now },
        }
    }

    /// When this target next needs the thread.
    fn due(&self) -> Instant {
        let at = match &self.state {
            State::Waiting { next_poll } => *next_poll,
            State::Sampling(run) => run.next,
        };
        self.end_at.map_or(at, |e| e.min(at))
    }

    fn sampling(&self) -> bool {
        matches!(self.state, State::Sampling(_))
    }

    /// Why the target can no longer be sampled, if it cannot.
    fn target_gone(&self) -> Option<EndReason> {
        if !is_alive(self.cfg.pid) {
            return Some(EndReason::TargetExited);
        }
        match (&self.exe, exe_of(self.cfg.pid)) {
            (Some((exe0, aux0)), Some((exe1, aux1)))
                if *exe0 != exe1 || (!aux0.is_empty() && !aux1.is_empty() && *aux0 != aux1) =>
            {
                Some(EndReason::TargetExec)
            }
            _ => None,
        }
    }

    /// Rescans every thread (with `only_new`, reads the stacks only of
    /// threads the last full rescan did not see); returns true when the
    /// watched set changed.
    fn rescan(&mut self, only_new: bool) -> Result<bool, EndReason> {
        // Also when reads still succeed: after an exec of a non-PIE python
        // (static `_PyRuntime`, main thread state inside it) the old
        // addresses hold the new program's interpreter.
        if let Some(r) = self.target_gone() {
            return Err(r);
        }
        let scanned = match if only_new {
            self.source.scan_new()
        } else {
            self.source.scan()
        } {
            Ok(s) => s,
            // A torn scan: keep the current set.
            Err(_) => return self.target_gone().map_or(Ok(false), Err),
        };
        let mut next = BTreeMap::new();
        for t in &scanned {
            let keep = match self.cfg.thread {
                Some(tid) => t.info.tid == tid,
                None => {
                    // Sticky: a loop thread stays watched while it exists.
                    self.threads.contains_key(&t.info.tid)
                        || t.stack
                            .as_ref()
                            .is_ok_and(|f| Detector::is_loop_stack(f, t.running_loop))
                }
            };
            if keep {
                next.insert(t.info.tid, t.info.clone());
            }
        }
        // Loop threads found just now: named now, so that the start line
        // and their first blocks carry their names (scans look names up
        // only now and then).
        let unnamed: Vec<u64> = next
            .iter()
            .filter(|(tid, info)| info.name.is_none() && !self.threads.contains_key(*tid))
            .map(|(tid, _)| *tid)
            .collect();
        if !unnamed.is_empty() {
            for (tid, name) in self.source.name_now(&unnamed) {
                if let Some(info) = next.get_mut(&tid) {
                    info.name = Some(name);
                }
            }
        }
        if next.is_empty()
            && let Some(w) = self.wait_notes.as_mut()
        {
            w.record(&scanned);
        }
        let changed = next != self.threads;
        self.threads = next;
        Ok(changed)
    }

    /// Does what is due at `now`.
    fn step(
        &mut self,
        now: Instant,
        epoch: Instant,
        tx: &Sender<Envelope>,
        spares: &mut Spares,
    ) -> Step {
        if self.end_at.is_some_and(|e| now >= e) {
            return Step::End(EndReason::Duration);
        }
        if let State::Waiting { .. } = self.state {
            match self.rescan(false) {
                Err(r) => return Step::End(r),
                Ok(_) if !self.threads.is_empty() => {
                    if !send(
                        tx,
                        self.cfg.pid,
                        Msg::Started {
                            python: self.source.version(),
                            loop_threads: self.threads.values().cloned().collect(),
                            wall_start: SystemTime::now(),
                        },
                    ) {
                        return Step::Deaf;
                    }
                    self.wait_notes = None;
                    self.state = State::Sampling(Run {
                        start: now,
                        // The grid's last tick: sampled now, and the
                        // following ones fall on the shared grid.
                        next: next_tick(epoch, self.cfg.interval, now) - self.cfg.interval,
                        next_rescan: now + RESCAN,
                        next_probe: now + self.cfg.wait_poll,
                        settle: None,
                        interval: self.cfg.interval,
                        missed: 0,
                        tids: self.threads.keys().copied().collect(),
                        batch: Vec::with_capacity(BATCH_MAX),
                        batch_start: now,
                        reads_before: self.source.reads(),
                    });
                }
                Ok(_) => {
                    self.say_waiting();
                    self.explain_waiting(now);
                    self.state = State::Waiting {
                        next_poll: now + self.cfg.wait_poll,
                    };
                    return Step::Continue;
                }
            }
        }
        self.sample(now, epoch, tx, spares)
    }

    /// After a long wait, says once why each Python thread is not watched.
    fn explain_waiting(&mut self, now: Instant) {
        let waited = now.saturating_duration_since(self.waiting_since);
        if waited < wait_note::EXPLAIN_AFTER {
            return;
        }
        let Some(notes) = self.wait_notes.take() else {
            return;
        };
        let children = match self.cfg.children {
            ChildNote::Off => Vec::new(),
            _ => wait_note::children(self.cfg.pid),
        };
        if self.cfg.children == ChildNote::Followed && !children.is_empty() {
            // Its children are watched: their loops are what the user is after.
            return;
        }
        let hint = self.cfg.children == ChildNote::Suggest;
        if let Some(m) = notes.message(self.cfg.pid, waited, if hint { &children } else { &[] }) {
            eprintln!("{m}");
        }
    }

    fn say_waiting(&mut self) {
        if self.said_wait || self.cfg.quiet_wait {
            return;
        }
        self.said_wait = true;
        match self.cfg.thread {
            Some(tid)
                if !std::path::Path::new(&format!("/proc/{}/task/{tid}", self.cfg.pid))
                    .exists() =>
            {
                // Not a thread of this process now (a typo, or another
                // process's thread id): say which ones it has.
                let mut tids: Vec<String> =
                    std::fs::read_dir(format!("/proc/{}/task", self.cfg.pid))
                        .map(|d| {
                            d.flatten()
                                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default();
                tids.sort_by_key(|t| t.parse::<u64>().unwrap_or(u64::MAX));
                let more = tids.len().saturating_sub(16);
                tids.truncate(16);
                eprintln!(
                    "aelm: pid {} has no thread {tid} (its threads: {}{}); waiting for one with \
                     that id (Ctrl-C to stop). `aelm dump --pid {}` lists its Python threads",
                    self.cfg.pid,
                    tids.join(" "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    },
                    self.cfg.pid
                )
            }
            Some(tid) => eprintln!(
                "aelm: pid {} has no Python thread {tid} yet; waiting for it (Ctrl-C to stop)",
                self.cfg.pid
            ),
            None if self.cfg.children == ChildNote::Followed => eprintln!(
                "aelm: pid {} has no running asyncio event loop yet; watching it and its child \
                 processes for one (Ctrl-C to stop)",
                self.cfg.pid
            ),
            None => eprintln!(
                "aelm: pid {} has no running asyncio event loop yet; waiting for one (Ctrl-C to stop)",
                self.cfg.pid
            ),
        }
    }

    /// Takes one sample of the watched threads.
    fn sample(
        &mut self,
        now: Instant,
        epoch: Instant,
        tx: &Sender<Envelope>,
        spares: &mut Spares,
    ) -> Step {
        let State::Sampling(run) = &mut self.state else {
            return Step::Continue;
        };
        if now >= run.next_probe {
            run.next_probe = now + self.cfg.wait_poll;
            self.source.probe_threads();
        }
        let read = self.source.sample(&run.tids, spares);
        let threads = match read {
            Ok(t) => t,
            Err(_) => {
                if let Some(r) = self.target_gone() {
                    return Step::End(r);
                }
                let State::Sampling(run) = &self.state else {
                    return Step::Continue;
                };
                run.tids
                    .iter()
                    .map(|&tid| ThreadSample {
                        tid,
                        stack: Err(SampleError::Torn),
                        context: 0,
                        running_loop: None,
                        entered: Default::default(),
                    })
                    .collect()
            }
        };
        let State::Sampling(run) = &mut self.state else {
            return Step::Continue;
        };
        let any_gone = threads.iter().any(|t| t.stack == Err(SampleError::Gone));
        if run.batch.is_empty() {
            run.batch_start = now;
        }
        run.batch.push(Sample {
            at: now - run.start,
            interval: run.interval,
            threads,
        });
        if (run.batch.len() >= BATCH_MAX || now - run.batch_start >= BATCH_AGE)
            && !run.send_batch(tx, self.cfg.pid, spares)
        {
            return Step::Deaf;
        }
        // The next tick. A tick less than one interval overdue is taken
        // at once (wake-ups come late by the timer slack, ~50 us); one
        // further behind is skipped and counted, so late samples never
        // come in a burst.
        let late = Instant::now();
        let mut next = run.next + run.interval;
        if next + run.interval <= late {
            let skip_to = next_tick(epoch, run.interval, late);
            let skipped =
                skip_to.saturating_duration_since(next).as_nanos() / run.interval.as_nanos().max(1);
            run.missed += u64::try_from(skipped).unwrap_or(u64::MAX);
            next = skip_to;
        }
        run.next = next;
        // Threads started or ended: look for new loops at once, and again
        // after the wait poll, twice that, ... up to `RESCAN` (a loop thread
        // that lives a moment, such as asgiref's `async_to_sync` running
        // `asyncio.run` on a new thread per call, would otherwise go unseen
        // until the next full second). Only the new threads' stacks are
        // read then: the others were read by the last full rescan (every
        // second, or when a watched thread has gone).
        if self.source.threads_moved() {
            run.settle = Some((now, self.cfg.wait_poll));
        }
        let full = any_gone || now >= run.next_rescan;
        let settle_due = run.settle.is_some_and(|(at, _)| now >= at);
        if full {
            run.next_rescan = now + RESCAN;
        }
        if settle_due && let Some((_, wait)) = run.settle {
            run.settle = (wait < RESCAN).then(|| (now + wait, wait * 2));
        }
        if full || settle_due {
            match self.rescan(!full) {
                Err(r) => return Step::End(r),
                Ok(true) => {
                    let tids = self.threads.keys().copied().collect();
                    if let State::Sampling(run) = &mut self.state {
                        run.tids = tids;
                        // The samples taken so far go first: the detector
                        // ends the blocks of threads no longer listed.
                        if !run.batch.is_empty() && !run.send_batch(tx, self.cfg.pid, spares) {
                            return Step::Deaf;
                        }
                    }
                    if !send(
                        tx,
                        self.cfg.pid,
                        Msg::Threads(self.threads.values().cloned().collect()),
                    ) {
                        return Step::Deaf;
                    }
                }
                Ok(false) => {}
            }
        }
        Step::Continue
    }

    /// Sets the interval (under a budget), back on the grid.
    fn set_interval(&mut self, interval: Duration, epoch: Instant, now: Instant) {
        if let State::Sampling(run) = &mut self.state
            && run.interval != interval
        {
            run.interval = interval;
            run.next = next_tick(epoch, interval, now);
        }
    }

    /// Sends what is left and the `Ended` message; false when nobody listens.
    fn finish(mut self, reason: EndReason, tx: &Sender<Envelope>) -> bool {
        let pid = self.cfg.pid;
        let (elapsed, missed, reads) = match &mut self.state {
            State::Waiting { .. } => (Duration::ZERO, 0, None),
            State::Sampling(run) => {
                if !run.batch.is_empty()
                    && !send(tx, pid, Msg::Samples(std::mem::take(&mut run.batch)))
                {
                    return false;
                }
                let reads = self
                    .source
                    .reads()
                    .zip(run.reads_before)
                    .map(|(a, b)| a.saturating_sub(b));
                (run.start.elapsed(), run.missed, reads)
            }
        };
        send(
            tx,
            pid,
            Msg::Ended {
                reason,
                elapsed,
                missed_ticks: missed,
                reads,
            },
        )
    }
}

impl Sampler {
    fn run(&mut self) {
        let mut open = true;
        let mut budget_check = Instant::now() + BUDGET_PERIOD;
        let mut cpu_before = if self.budget.is_some() {
            self.budgeted_cpu()
        } else {
            Duration::ZERO
        };
        loop {
            if !matches!(self.stop.try_recv(), Err(TryRecvError::Empty)) {
                return self.stop_all();
            }
            loop {
                match self.added.try_recv() {
                    Ok(t) => self.targets.push(Target::new(t, Instant::now())),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            if self.targets.is_empty() && !open {
                return;
            }
            while let Ok(b) = self.spent.try_recv() {
                self.spares.take_back(b);
            }
            // Every target whose tick has come, on one wake-up.
            let mut i = 0;
            while i < self.targets.len() {
                let now = Instant::now();
                let step = if self.targets[i].due() <= now {
                    self.targets[i].step(now, self.epoch, &self.tx, &mut self.spares)
                } else {
                    Step::Continue
                };
                match step {
                    Step::Continue => i += 1,
                    Step::Deaf => return,
                    Step::End(reason) => {
                        let t = self.targets.swap_remove(i);
                        self.live.fetch_sub(1, Ordering::SeqCst);
                        if !t.finish(reason, &self.tx) {
                            return;
                        }
                    }
                }
            }
            let now = Instant::now();
            if self.budget.is_some() && now >= budget_check {
                let cpu = self.budgeted_cpu();
                let used = cpu.saturating_sub(cpu_before).as_secs_f64()
                    / (now - budget_check + BUDGET_PERIOD).as_secs_f64();
                cpu_before = cpu;
                budget_check = now + BUDGET_PERIOD;
                self.apply_budget(used, now);
            }
            let wake = self.targets.iter().map(Target::due).min();
            if self.targets.iter().any(Target::sampling) {
                // The hot path: one sleep, no channel wait (a channel wait
                // spins and yields before it blocks).
                if let Some(w) = wake
                    && w > now
                {
                    std::thread::sleep(w - now);
                }
            } else {
                let mut sel = Select::new();
                sel.recv(&self.stop);
                if open {
                    sel.recv(&self.added);
                }
                let _ =
                    sel.ready_timeout(wake.map_or(IDLE_WAIT, |w| w.saturating_duration_since(now)));
            }
        }
    }

    /// aelm's CPU time, less what attaching took.
    fn budgeted_cpu(&self) -> Duration {
        process_cpu_time().saturating_sub(Duration::from_nanos(
            self.attach_cpu.load(Ordering::Relaxed),
        ))
    }

    /// Under `--max-cpu`: doubles every interval while over the budget and
    /// halves it back while well under, between the asked rate and three
    /// samples a threshold; says which targets it cannot cover.
    fn apply_budget(&mut self, used: f64, now: Instant) {
        let Some(b) = self.budget else { return };
        if !self.targets.iter().any(Target::sampling) {
            return;
        }
        // The level at which `base` doubled reaches the longest interval
        // allowed (there the interval is that longest one: all targets at
        // the cap share it, so they still share a grid).
        let max_level = |base: Duration| -> u32 {
            let mut l = 0;
            while l < 16 && base * (1 << l) < b.max_interval {
                l += 1;
            }
            l
        };
        let interval_at = |base: Duration, level: u32| -> Duration {
            (base * (1 << level)).min(b.max_interval.max(base))
        };
        let cap = self
            .targets
            .iter()
            .map(|t| max_level(t.cfg.interval))
            .max()
            .unwrap_or(0);
        // Faster again when well under (cost roughly halves with the
        // rate), or, when somewhat under, as a probe now and then: part of
        // the cost does not scale with the rate, so only trying tells. A
        // probe that goes over waits twice as long before the next one.
        if used > b.fraction {
            let steps = (used / b.fraction).log2().ceil().max(1.0) as u32;
            self.level = (self.level + steps).min(cap);
            if self.probing {
                self.probe_wait = (self.probe_wait * 2).min(PROBE_WAIT_MAX);
            }
            self.probing = false;
            self.probe_at = now + self.probe_wait;
        } else if self.level > 0
            && (used < b.fraction * 0.4 || (used < b.fraction * 0.8 && now >= self.probe_at))
        {
            self.level -= 1;
            self.probing = used >= b.fraction * 0.4;
            self.probe_at = now + self.probe_wait;
        } else {
            self.probing = false;
        }
        // Said only when a second check in a row finds it so: one second
        // over can be a burst (many new loops at once).
        let all_capped = self.level >= cap;
        self.over_at_cap = if all_capped && used > b.fraction {
            self.over_at_cap + 1
        } else {
            0
        };
        for t in &mut self.targets {
            let level = self.level.min(max_level(t.cfg.interval));
            let interval = interval_at(t.cfg.interval, level);
            t.set_interval(interval, self.epoch, now);
            let at_cap = level == max_level(t.cfg.interval) && level > 0;
            if at_cap && self.over_at_cap >= 2 && t.sampling() && !t.said_budget {
                t.said_budget = true;
                eprintln!(
                    "aelm: pid {}: --max-cpu leaves too little to cover the threshold; sampling at {:.0} Hz, 3 samples a threshold, and blocks near the threshold may be missed",
                    t.cfg.pid,
                    1.0 / interval.as_secs_f64()
                );
            }
        }
    }

    /// The session stops: every target sends what it has and ends.
    fn stop_all(&mut self) {
        let now = Instant::now();
        for t in std::mem::take(&mut self.targets) {
            self.live.fetch_sub(1, Ordering::SeqCst);
            let reason = if t.end_at.is_some_and(|e| now >= e) {
                EndReason::Duration
            } else {
                EndReason::Interrupted
            };
            if !t.finish(reason, &self.tx) {
                return;
            }
        }
        // Targets handed over but never started end too.
        while let Ok(t) = self.added.try_recv() {
            self.live.fetch_sub(1, Ordering::SeqCst);
            if !Target::new(t, now).finish(EndReason::Interrupted, &self.tx) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_lie_on_one_grid() {
        let e = Instant::now();
        let ms = Duration::from_millis(1);
        assert_eq!(next_tick(e, ms, e), e + ms);
        assert_eq!(next_tick(e, ms, e + ms / 2), e + ms);
        assert_eq!(next_tick(e, ms, e + ms), e + ms * 2);
        // A doubled interval keeps a subset of the same ticks.
        let t = next_tick(e, ms * 2, e + ms * 3);
        assert_eq!(t, e + ms * 4);
        assert_eq!(next_tick(e, ms, t - ms / 2), t);
        // Before the epoch: the first tick after it.
        assert_eq!(next_tick(e + ms, ms, e), e + ms * 2);
    }
}
