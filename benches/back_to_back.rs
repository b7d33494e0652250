//! aelm's own work a sample, without the wake-up: the per-sample path of the
//! sampler thread (read the loop threads' stacks, batch the samples, hand
//! spent batches back) and the detector, run back to back on one thread
//! against a live target for a fixed number of samples, timed with the
//! thread's CPU clock.
//!
//! A sampler that sleeps between samples also pays for being woken up (18-25
//! us a tick on the benchmark VM, see docs/performance.md); that cost is
//! shared when one wake-up serves many targets, and it is not aelm's to cut.
//! This is the rest: what each sample adds.
//!
//!     cargo bench --bench back_to_back -- PID [SAMPLES] [--gap-us N] [--reader py-spy]
//!
//! `--gap-us N` sleeps N us between samples and times each sample's work
//! alone (less what reading the clock costs): the same work with the caches
//! as a sampler at a real rate finds them (colder), without the wake-up.
//!
//! Prints one JSON line: samples, CPU us a sample, reads a sample, failed
//! samples, blocks the detector found. `bench/sampler_cost.py` runs it.

use std::time::{Duration, Instant};

use aelm::detector::{Config, Detector};
use aelm::python::StackSource;
use aelm::python::attach::{ReaderKind, open};
use aelm::sample::{Sample, Spares};
use aelm::sampler::thread_cpu_time;
use anyhow::{Context, Result, bail};

/// Samples per batch, as the sampler sends them at 1 kHz (50 ms batches).
const BATCH: usize = 50;
const WARM_UP: usize = 2000;

fn main() -> Result<()> {
    const USAGE: &str =
        "usage: cargo bench --bench back_to_back -- PID [SAMPLES] [--gap-us N] [--reader py-spy]";
    let mut kind = ReaderKind::Direct;
    let mut gap = Duration::ZERO;
    let mut nums = Vec::new();
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reader" | "py-spy" | "direct" => {
                if a == "py-spy" || (a == "--reader" && args.next().as_deref() == Some("py-spy")) {
                    kind = ReaderKind::PySpy;
                }
            }
            "--gap-us" => {
                let n = args.next().and_then(|n| n.parse::<u64>().ok());
                gap = Duration::from_micros(n.context(USAGE)?);
            }
            _ => nums.push(a.parse::<u64>().ok().context(USAGE)?),
        }
    }
    let Some(pid) = nums.first().and_then(|&p| i32::try_from(p).ok()) else {
        bail!(USAGE);
    };
    let samples = nums.get(1).map_or(100_000, |&n| n as usize);

    let mut source = open(pid, kind, Some(Duration::from_secs(5)))
        .with_context(|| format!("attaching to pid {pid}"))?;
    let tids: Vec<u64> = source
        .scan()?
        .into_iter()
        .filter(|t| matches!(&t.stack, Ok(f) if Detector::is_loop_stack(f, t.running_loop)))
        .map(|t| t.info.tid)
        .collect();
    if tids.is_empty() {
        bail!("pid {pid} shows no thread running an asyncio event loop");
    }
    let detector = Detector::new(Config {
        threshold: Duration::from_millis(20),
        ongoing: Duration::from_secs(3600),
        include: Vec::new(),
        exclude: Vec::new(),
        forced_thread: None,
    });
    let mut w = Work {
        detector,
        spares: Spares::default(),
        batch: Vec::new(),
        start: Instant::now(),
        failed: 0,
        blocks: 0,
        timed: Duration::ZERO,
    };
    w.run(source.as_mut(), &tids, WARM_UP, gap)?;
    let reads_before = source.reads();
    (w.failed, w.blocks, w.timed) = (0, 0, Duration::ZERO);
    let (cpu0, wall0) = (thread_cpu_time(), Instant::now());
    w.run(source.as_mut(), &tids, samples, gap)?;
    let (mut cpu, wall) = (thread_cpu_time() - cpu0, wall0.elapsed());
    if !gap.is_zero() {
        // Only the timed sections, less what reading the clock costs.
        cpu = w.timed.saturating_sub(clock_cost(gap) * samples as u32);
    }
    let reads = match (source.reads(), reads_before) {
        (Some(a), Some(b)) => serde_json::json!((a - b) as f64 / samples as f64),
        _ => serde_json::Value::Null,
    };
    println!(
        "{}",
        serde_json::json!({
            "reader": kind.name(),
            "python": source.version(),
            "threads": tids.len(),
            "samples": samples,
            "gap_us": gap.as_micros() as u64,
            "cpu_us_per_sample": cpu.as_secs_f64() * 1e6 / samples as f64,
            "wall_us_per_sample": wall.as_secs_f64() * 1e6 / samples as f64,
            "reads_per_sample": reads,
            "failed": w.failed,
            "blocks": w.blocks,
        })
    );
    Ok(())
}

/// What a timed section costs with nothing in it (two reads of the thread's
/// CPU clock, a system call each), measured with the same gaps.
fn clock_cost(gap: Duration) -> Duration {
    const N: u32 = 2000;
    let mut sum = Duration::ZERO;
    for _ in 0..N {
        let t0 = thread_cpu_time();
        sum += thread_cpu_time() - t0;
        std::thread::sleep(gap);
    }
    sum / N
}

/// The sampler's and the detector's per-sample work, minus the clock.
struct Work {
    detector: Detector,
    spares: Spares,
    batch: Vec<Sample>,
    start: Instant,
    failed: usize,
    blocks: usize,
    /// CPU time inside the timed sections (with gaps between samples).
    timed: Duration,
}

impl Work {
    /// `n` samples; with a `gap`, sleeps that long between samples (so the
    /// work runs with the caches as a sampler at a real rate finds them)
    /// and times each sample's work alone.
    fn run(
        &mut self,
        source: &mut dyn StackSource,
        tids: &[u64],
        n: usize,
        gap: Duration,
    ) -> Result<()> {
        for _ in 0..n {
            let t0 = if gap.is_zero() {
                Duration::ZERO
            } else {
                std::thread::sleep(gap);
                thread_cpu_time()
            };
            self.one(source, tids)?;
            if !gap.is_zero() {
                self.timed += thread_cpu_time() - t0;
            }
        }
        Ok(())
    }

    fn one(&mut self, source: &mut dyn StackSource, tids: &[u64]) -> Result<()> {
        let threads = source.sample(tids, &mut self.spares)?;
        self.failed += threads.iter().filter(|t| t.stack.is_err()).count();
        self.batch.push(Sample {
            at: self.start.elapsed(),
            interval: Duration::from_micros(100),
            threads,
        });
        if self.batch.len() == BATCH {
            for s in &self.batch {
                self.blocks += self.detector.push(s).len();
            }
            let next = self.spares.batch(BATCH);
            self.spares
                .take_back(std::mem::replace(&mut self.batch, next));
        }
        Ok(())
    }
}
