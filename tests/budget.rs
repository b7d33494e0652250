//! `aelm watch --max-cpu`: over three busy blocking fixtures, the rate per
//! target drops from the one asked to what the budget allows, never below
//! three samples a threshold, and aelm's own CPU drops with it; a budget
//! too small to cover the threshold is said on stderr.
//!
//! The baseline is measured in the same test: the same watch with a budget
//! too large to bind. The machine is small and shared, so every bound is
//! a wide ratio, not a speed.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The rate asked for, and the threshold whose third is the slowest allowed.
const RATE_HZ: f64 = 5000.0;
const THRESHOLD_MS: f64 = 30.0;
/// Three samples a threshold, less a margin for a loaded machine.
const FLOOR_HZ: f64 = 3000.0 / THRESHOLD_MS * 0.8;

struct Run {
    ends: Vec<Value>,
    stderr: String,
    /// user + system CPU seconds of the whole run (wait4's rusage).
    cpu_s: f64,
    /// `aelm_sample_rate_hz` per pid, scraped near the end (when asked).
    steady_hz: Vec<(u64, f64)>,
}

/// Runs `aelm watch` with `args` to its `--duration` and reaps it with
/// wait4 for its CPU time. With `scrape_at`, also reads its metrics then.
fn watch(dir: &Path, name: &str, args: &[&str], scrape_at: Option<(Duration, u16)>) -> Run {
    let out = dir.join(format!("{name}.jsonl"));
    let err = dir.join(format!("{name}.err"));
    // Reaped below with wait4 (not Child::wait), which also gives its rusage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(aelm_bin())
        .arg("watch")
        .args(args)
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .stdin(Stdio::null())
        .spawn()
        .expect("start aelm");
    let pid = child.id() as i32;
    let started = Instant::now();
    let mut scrape = scrape_at;
    let mut steady_hz = Vec::new();
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on a child of ours, into variables we own.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4 failed");
        if r == pid {
            break;
        }
        if let Some((at, port)) = scrape
            && started.elapsed() >= at
        {
            scrape = None;
            steady_hz = sample_rates(&http_get(port, "/metrics").unwrap_or_default());
        }
        if started.elapsed() > Duration::from_secs(60) {
            // SAFETY: kill(2) on a child of ours that has not been reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("aelm watch {args:?} did not stop at its --duration");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "aelm watch {args:?} failed ({status}): {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let ends = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "end")
        .collect();
    Run {
        ends,
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        cpu_s: secs(usage.ru_utime) + secs(usage.ru_stime),
        steady_hz,
    }
}

/// `aelm_sample_rate_hz{pid="N"} V` lines of a scrape.
fn sample_rates(text: &str) -> Vec<(u64, f64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("aelm_sample_rate_hz{pid=\""))
        .filter_map(|l| {
            let (pid, rest) = l.split_once("\"} ")?;
            Some((pid.parse().ok()?, rest.trim().parse().ok()?))
        })
        .collect()
}

fn samples(run: &Run) -> f64 {
    run.ends.iter().filter_map(|e| e["samples"].as_f64()).sum()
}

#[test]
fn max_cpu_lowers_the_rate_and_the_cost_but_not_below_three_samples_a_threshold() {
    let py = pythons()
        .into_iter()
        .find(|p| p.minor() == 11)
        .unwrap_or_else(|| pythons()[0].clone());
    let tag = format!("budget{}", std::process::id());
    let dir = scratch("budget");
    // Three loops that block for 60 ms every ~210 ms, for much longer than
    // the test (they start their blocks 1 s after `ready`, unprompted). The
    // tag on their command line is what `--match` selects.
    let fixtures: Vec<Fixture> = (0..3)
        .map(|i| {
            let d = dir.join(format!("f{i}"));
            std::fs::create_dir_all(&d).expect("dir");
            let child = fixture_command(&py, "cpu_many_calls.py", &[&tag], &d)
                .env_remove("AELM_GO")
                .env("AELM_BLOCK_MS", "60")
                .env("AELM_GAP_MS", "150")
                .env("AELM_REPEAT", "1000")
                .stdout(Stdio::null())
                .spawn()
                .expect("fixture");
            Fixture {
                child,
                truth: d.join("truth.jsonl"),
                go: d.join("go"),
                dir: d,
            }
        })
        .collect();
    for f in &fixtures {
        wait_ready(&f.truth);
    }
    let mut pids: Vec<u64> = fixtures.iter().map(|f| u64::from(f.pid())).collect();
    pids.sort_unstable();
    let rate = RATE_HZ.to_string();
    let threshold = THRESHOLD_MS.to_string();
    let common = [
        "--match",
        &tag,
        "--rate",
        &rate,
        "--threshold-ms",
        &threshold,
    ];
    let ended = |run: &Run| {
        let mut p: Vec<u64> = run.ends.iter().filter_map(|e| e["pid"].as_u64()).collect();
        p.sort_unstable();
        p
    };

    // Baseline: a budget that cannot bind (10 cores for 3 targets).
    let base = watch(
        &dir,
        "unbudgeted",
        &[&common[..], &["--max-cpu", "1000", "--duration", "4"]].concat(),
        None,
    );
    assert_eq!(ended(&base), pids, "{:?}", base.ends);
    let per_sample = base.cpu_s / samples(&base).max(1.0);
    eprintln!(
        "unbudgeted: {:.2} s CPU for {} samples ({:.1} us a sample), rates {:?}",
        base.cpu_s,
        samples(&base),
        per_sample * 1e6,
        base.ends
            .iter()
            .map(|e| e["achieved_hz"].as_f64().unwrap_or(0.0))
            .collect::<Vec<_>>()
    );

    // Budgeted: 2% of a core shared by three targets asking for 5 kHz each.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let duration = 8.0;
    let budgeted = watch(
        &dir,
        "budgeted",
        &[
            &common[..],
            &["--max-cpu", "2", "--duration", "8", "--metrics-addr", &addr],
        ]
        .concat(),
        Some((Duration::from_millis(7000), port)),
    );
    assert_eq!(ended(&budgeted), pids, "{:?}", budgeted.ends);
    let would_use = per_sample * RATE_HZ * pids.len() as f64 * duration;
    eprintln!(
        "--max-cpu 2: {:.2} s CPU (at the asked rate: ~{would_use:.2} s); steady rates {:?}; end lines {:?}; stderr {:?}",
        budgeted.cpu_s,
        budgeted.steady_hz,
        budgeted
            .ends
            .iter()
            .map(|e| e["achieved_hz"].as_f64().unwrap_or(0.0))
            .collect::<Vec<_>>(),
        budgeted.stderr
    );
    // The rate over the whole run includes the first second or two at the
    // asked rate, before the budget catches up.
    for e in &budgeted.ends {
        let hz = e["achieved_hz"].as_f64().unwrap_or(0.0);
        assert!(hz < RATE_HZ / 2.0, "rate not lowered by the budget: {e}");
        assert!(hz >= FLOOR_HZ, "below 3 samples a threshold: {e}");
        // 60 ms blocks at 30 ms: still found at the lowered rate.
        assert!(e["blocks"].as_u64().unwrap_or(0) > 0, "no block found: {e}");
    }
    // Once settled (scraped 7 s in): far below, still covering the threshold.
    assert_eq!(
        budgeted.steady_hz.len(),
        pids.len(),
        "a rate per target in the metrics: {:?}",
        budgeted.steady_hz
    );
    for &(pid, hz) in &budgeted.steady_hz {
        assert!(
            hz < RATE_HZ / 4.0,
            "pid {pid}: {hz} Hz once settled, asked {RATE_HZ}"
        );
        assert!(hz >= FLOOR_HZ, "pid {pid}: {hz} Hz once settled");
    }
    assert!(
        budgeted.cpu_s < would_use / 2.0,
        "aelm used {:.2} s of CPU under --max-cpu 2; unbudgeted it would use ~{would_use:.2} s",
        budgeted.cpu_s
    );

    // A budget too small for three samples a threshold: said on stderr, per
    // target, and the rate stays at three samples a threshold.
    let tiny = watch(
        &dir,
        "tiny",
        &[
            "--match",
            &tag,
            "--threshold-ms",
            &threshold,
            "--max-cpu",
            "0.1",
            "--duration",
            "3",
        ],
        None,
    );
    assert_eq!(ended(&tiny), pids, "{:?}", tiny.ends);
    for pid in &pids {
        assert!(
            tiny.stderr.contains(&format!(
                "aelm: pid {pid}: --max-cpu leaves too little to cover the threshold"
            )),
            "no word on pid {pid}: {}",
            tiny.stderr
        );
    }
    for e in &tiny.ends {
        let hz = e["achieved_hz"].as_f64().unwrap_or(0.0);
        assert!(hz >= FLOOR_HZ, "below 3 samples a threshold: {e}");
    }
    // The fixtures blocked all along (so the samples were of busy loops).
    for f in &fixtures {
        assert!(
            !truth_blocks(&read_truth(&f.truth)).is_empty(),
            "a fixture never blocked"
        );
    }
}
