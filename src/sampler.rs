//! The sampler thread: reads the target's loop threads at a fixed rate and
//! sends each [`Sample`] over a channel.
//!
//! It owns the stack reader and the clock. It sleeps to absolute deadlines
//! (`next += interval`) so the rate holds when a sample is slow, and skips
//! ahead (counting the missed ticks) when far behind. It rescans all Python
//! threads now and then to find loop threads that appear or go. Shutdown is
//! the closing of the `stop` channel (every sampler of a session holds a
//! receiver), never a shared flag.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::detector::Detector;
use crate::python::attach::is_alive;
use crate::python::{StackSource, ThreadInfo};
use crate::sample::{Sample, SampleError, ThreadSample};

/// How often all threads are rescanned for new or finished loops.
pub const RESCAN: Duration = Duration::from_millis(1000);
/// How often to look for a first loop while there is none.
const WAIT_POLL: Duration = Duration::from_millis(50);
/// Samples are sent in batches (one wake-up of the detector per batch, not
/// per sample): at most this many, or this old.
const BATCH_MAX: usize = 64;
const BATCH_AGE: Duration = Duration::from_millis(20);
/// Ticks further behind than this are skipped rather than caught up.
const MAX_LAG_TICKS: u32 = 10;

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
    /// `--max-cpu`: a CPU budget shared by every target of the session.
    pub budget: Option<Arc<Budget>>,
}

/// A CPU budget shared by the samplers of a session (`--max-cpu`).
#[derive(Debug)]
pub struct Budget {
    /// Share of one core, e.g. 0.10.
    pub fraction: f64,
    /// Longest interval allowed: a third of the threshold.
    pub max_interval: Duration,
    /// Samplers running.
    pub targets: AtomicUsize,
}

/// How often a sampler checks its CPU use against the budget.
const BUDGET_PERIOD: Duration = Duration::from_millis(1000);

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into `ts`, which we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

impl SamplerConfig {
    /// A target of `attach`/`run`: look for a loop every 50 ms, say so.
    pub fn new(
        pid: i32,
        interval: Duration,
        duration: Option<Duration>,
        thread: Option<u64>,
    ) -> Self {
        SamplerConfig {
            pid,
            interval,
            duration,
            thread,
            wait_poll: WAIT_POLL,
            quiet_wait: false,
            budget: None,
        }
    }
}

pub fn spawn(
    source: Box<dyn StackSource>,
    cfg: SamplerConfig,
    tx: Sender<Envelope>,
    stop: Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("aelm-sampler".into())
        .spawn(move || {
            let mut s = Sampler {
                source,
                cfg,
                tx,
                stop,
                threads: BTreeMap::new(),
                exe: None,
            };
            let before = s.source.reads();
            let (reason, elapsed, missed) = s.run();
            let reads = s.source.reads().zip(before).map(|(a, b)| a - b);
            let _ = s.send(Msg::Ended {
                reason,
                elapsed,
                missed_ticks: missed,
                reads,
            });
        })
}

struct Sampler {
    source: Box<dyn StackSource>,
    cfg: SamplerConfig,
    tx: Sender<Envelope>,
    stop: Receiver<()>,
    /// Watched loop threads by tid.
    threads: BTreeMap<u64, ThreadInfo>,
    exe: Option<(std::path::PathBuf, Vec<u8>)>,
}

/// The program image a process runs: its executable, and its auxiliary
/// vector (/proc/PID/auxv: addresses that ASLR draws anew at every exec),
/// so that an exec of the same binary (`os.execv(sys.executable, ...)`)
/// shows too.
fn exe_of(pid: i32) -> Option<(std::path::PathBuf, Vec<u8>)> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).unwrap_or_default();
    Some((exe, auxv))
}

impl Sampler {
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

    /// Rescans every thread; returns true when the watched set changed.
    fn rescan(&mut self) -> Result<bool, EndReason> {
        // Also when reads still succeed: after an exec of a non-PIE python
        // (static `_PyRuntime`, main thread state inside it) the old
        // addresses hold the new program's interpreter.
        if let Some(r) = self.target_gone() {
            return Err(r);
        }
        let scanned = match self.source.scan() {
            Ok(s) => s,
            Err(e) => {
                return match self.target_gone() {
                    Some(r) => Err(r),
                    // A torn scan: keep the current set.
                    None => {
                        let _ = e;
                        Ok(false)
                    }
                };
            }
        };
        let mut next = BTreeMap::new();
        for t in scanned {
            let keep = match self.cfg.thread {
                Some(tid) => t.info.tid == tid,
                None => {
                    // Sticky: a loop thread stays watched while it exists.
                    self.threads.contains_key(&t.info.tid)
                        || t.stack.as_ref().is_ok_and(|f| Detector::is_loop_stack(f))
                }
            };
            if keep {
                next.insert(t.info.tid, t.info);
            }
        }
        let changed = next != self.threads;
        self.threads = next;
        Ok(changed)
    }

    /// Sleeps until `deadline` (one `clock_nanosleep`), then checks for a
    /// stop message without blocking: the cheapest wait per tick.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        !matches!(self.stop.try_recv(), Err(TryRecvError::Empty))
    }

    /// Sends the samples in hand; false when the receiver is gone.
    fn flush(&self, batch: &mut Vec<Sample>) -> bool {
        batch.is_empty() || self.send(Msg::Samples(std::mem::take(batch)))
    }

    /// Sends a message about this target; false when nobody listens.
    fn send(&self, msg: Msg) -> bool {
        self.tx
            .send(Envelope {
                pid: self.cfg.pid,
                msg,
            })
            .is_ok()
    }

    fn stopped_within(&self, deadline: Instant) -> bool {
        !matches!(
            self.stop.recv_deadline(deadline),
            Err(RecvTimeoutError::Timeout)
        )
    }

    fn run(&mut self) -> (EndReason, Duration, u64) {
        self.exe = exe_of(self.cfg.pid);
        let begun = Instant::now();
        let limit = self.cfg.duration;
        let out_of_time = move |now: Instant| limit.is_some_and(|d| now - begun >= d);
        // Phase 1: wait for an event loop.
        let mut said = false;
        loop {
            match self.rescan() {
                Err(r) => return (r, Duration::ZERO, 0),
                Ok(_) if !self.threads.is_empty() => break,
                Ok(_) => {}
            }
            if !said && !self.cfg.quiet_wait {
                said = true;
                match self.cfg.thread {
                    Some(tid) => eprintln!(
                        "aelm: pid {} has no Python thread {tid} yet; waiting for it (Ctrl-C to stop)",
                        self.cfg.pid
                    ),
                    None => eprintln!(
                        "aelm: pid {} has no running asyncio event loop yet; waiting for one (Ctrl-C to stop)",
                        self.cfg.pid
                    ),
                }
            }
            if self.stopped_within(Instant::now() + self.cfg.wait_poll) {
                return (EndReason::Interrupted, Duration::ZERO, 0);
            }
            if out_of_time(Instant::now()) {
                return (EndReason::Duration, Duration::ZERO, 0);
            }
        }
        let start = Instant::now();
        let _ = self.send(Msg::Started {
            python: self.source.version(),
            loop_threads: self.threads.values().cloned().collect(),
            wall_start: SystemTime::now(),
        });
        // Phase 2: sample at a fixed rate.
        let mut interval = self.cfg.interval;
        let mut budget_check = start + BUDGET_PERIOD;
        let mut cpu_before = thread_cpu_time();
        let mut said_budget = false;
        if let Some(b) = &self.cfg.budget {
            b.targets.fetch_add(1, Ordering::SeqCst);
        }
        let mut next = start;
        let mut next_rescan = start + RESCAN;
        let mut missed: u64 = 0;
        let mut tids: Vec<u64> = self.threads.keys().copied().collect();
        let mut batch: Vec<Sample> = Vec::with_capacity(BATCH_MAX);
        let mut batch_start = start;
        // Whatever ends the loop, the batch in hand goes out first.
        let (reason, elapsed) = loop {
            let now = Instant::now();
            let at = now - start;
            let threads = match self.source.sample(&tids) {
                Ok(t) => t,
                Err(_) => {
                    if let Some(r) = self.target_gone() {
                        break (r, at);
                    }
                    tids.iter()
                        .map(|&tid| ThreadSample {
                            tid,
                            stack: Err(SampleError::Torn),
                            context: 0,
                        })
                        .collect()
                }
            };
            let any_gone = threads.iter().any(|t| t.stack == Err(SampleError::Gone));
            if batch.is_empty() {
                batch_start = now;
            }
            batch.push(Sample {
                at,
                interval,
                threads,
            });
            if (batch.len() >= BATCH_MAX || now - batch_start >= BATCH_AGE)
                && !self.flush(&mut batch)
            {
                break (EndReason::Interrupted, at);
            }
            if any_gone || now >= next_rescan {
                next_rescan = now + RESCAN;
                match self.rescan() {
                    Err(r) => break (r, at),
                    Ok(true) => {
                        tids = self.threads.keys().copied().collect();
                        let _ = self.send(Msg::Threads(self.threads.values().cloned().collect()));
                    }
                    Ok(false) => {}
                }
            }
            if let Some(b) = &self.cfg.budget
                && now >= budget_check
            {
                // Share the CPU budget between targets: lengthen the interval
                // when over this target's share, shorten it back when well under,
                // never beyond the requested rate nor below 3 samples a threshold.
                let cpu = thread_cpu_time();
                let used = (cpu - cpu_before).as_secs_f64()
                    / (now - budget_check + BUDGET_PERIOD).as_secs_f64();
                cpu_before = cpu;
                budget_check = now + BUDGET_PERIOD;
                let share = b.fraction / b.targets.load(Ordering::SeqCst).max(1) as f64;
                let wanted = if used > share {
                    interval.mul_f64((used / share).min(4.0))
                } else if used < share / 2.0 {
                    interval.mul_f64(0.75)
                } else {
                    interval
                };
                let slowest = b.max_interval.max(self.cfg.interval);
                interval = wanted.clamp(self.cfg.interval, slowest);
                if interval == slowest && used > share && !said_budget {
                    said_budget = true;
                    eprintln!(
                        "aelm: pid {}: --max-cpu leaves too little to cover the threshold; sampling at {:.0} Hz, 3 samples a threshold, and blocks near the threshold may be missed",
                        self.cfg.pid,
                        1.0 / interval.as_secs_f64()
                    );
                }
            }
            next += interval;
            let now = Instant::now();
            if now > next + interval * MAX_LAG_TICKS {
                let behind = ((now - next).as_nanos() / interval.as_nanos().max(1)) as u64;
                missed += behind;
                next += interval.saturating_mul(behind.min(u32::MAX as u64) as u32);
            }
            if out_of_time(next) {
                let end = begun + self.cfg.duration.unwrap_or_default();
                self.flush(&mut batch);
                if self.stopped_within(end) {
                    break (EndReason::Interrupted, Instant::now() - start);
                }
                break (EndReason::Duration, Instant::now() - start);
            }
            if self.sleep_until(next) {
                break (EndReason::Interrupted, Instant::now() - start);
            }
        };
        self.flush(&mut batch);
        if let Some(b) = &self.cfg.budget {
            b.targets.fetch_sub(1, Ordering::SeqCst);
        }
        (reason, elapsed, missed)
    }
}
