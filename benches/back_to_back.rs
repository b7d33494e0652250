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
//!     cargo bench --bench back_to_back -- PID [SAMPLES] [--reader py-spy]
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
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let kind = if args.iter().any(|a| a == "py-spy") {
        ReaderKind::PySpy
    } else {
        ReaderKind::Direct
    };
    let nums: Vec<&String> = args.iter().filter(|a| a.parse::<u64>().is_ok()).collect();
    let Some(pid) = nums.first().and_then(|p| p.parse::<i32>().ok()) else {
        bail!("usage: cargo bench --bench back_to_back -- PID [SAMPLES] [--reader py-spy]");
    };
    let samples: usize = nums.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);

    let mut source = open(pid, kind, Some(Duration::from_secs(5)))
        .with_context(|| format!("attaching to pid {pid}"))?;
    let tids: Vec<u64> = source
        .scan()?
        .into_iter()
        .filter(|t| matches!(&t.stack, Ok(f) if Detector::is_loop_stack(f)))
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
    };
    w.run(source.as_mut(), &tids, WARM_UP)?;
    let reads_before = source.reads();
    (w.failed, w.blocks) = (0, 0);
    let (cpu0, wall0) = (thread_cpu_time(), Instant::now());
    w.run(source.as_mut(), &tids, samples)?;
    let (cpu, wall) = (thread_cpu_time() - cpu0, wall0.elapsed());
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
            "cpu_us_per_sample": cpu.as_secs_f64() * 1e6 / samples as f64,
            "wall_us_per_sample": wall.as_secs_f64() * 1e6 / samples as f64,
            "reads_per_sample": reads,
            "failed": w.failed,
            "blocks": w.blocks,
        })
    );
    Ok(())
}

/// The sampler's and the detector's per-sample work, minus the clock.
struct Work {
    detector: Detector,
    spares: Spares,
    batch: Vec<Sample>,
    start: Instant,
    failed: usize,
    blocks: usize,
}

impl Work {
    fn run(&mut self, source: &mut dyn StackSource, tids: &[u64], n: usize) -> Result<()> {
        for _ in 0..n {
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
        }
        Ok(())
    }
}
