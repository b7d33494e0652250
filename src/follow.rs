//! `--subprocesses`: finds the root target's descendant processes (the
//! workers of gunicorn or `uvicorn --workers N`, including workers started
//! or restarted later) and starts a sampler for each Python one. Processes
//! that are not Python are ignored silently.
//!
//! Owns only discovery: each new target gets the same sampler, and its
//! messages go on the session's one channel tagged with its pid.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::cli::WatchOpts;
use crate::python::attach::{self, ReaderKind};
use crate::sampler::{self, Envelope, SamplerConfig};

/// How often the process tree is rescanned.
pub const SCAN: Duration = Duration::from_millis(500);
/// Most processes followed at once.
pub const MAX_TARGETS: usize = 64;
/// How long a new process may take to become attachable (its interpreter
/// initialising).
const ATTACH_WAIT: Duration = Duration::from_secs(5);

pub struct Follower {
    pub root: i32,
    pub opts: WatchOpts,
    pub kind: ReaderKind,
    pub tx: Sender<Envelope>,
    pub stop: Receiver<()>,
}

/// Parent pid of every process (from /proc/PID/stat).
fn parents() -> HashMap<i32, i32> {
    let mut map = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return map;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state, ppid, ...
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            map.insert(pid, ppid);
        }
    }
    map
}

/// Every descendant of `root` (children, grandchildren, ...).
pub fn descendants(root: i32) -> Vec<i32> {
    let parents = parents();
    let mut out: Vec<i32> = parents
        .keys()
        .copied()
        .filter(|&p| {
            let mut cur = p;
            for _ in 0..64 {
                match parents.get(&cur) {
                    Some(&pp) if pp == root => return true,
                    Some(&pp) if pp > 1 && pp != cur => cur = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect();
    out.sort_unstable();
    out
}

impl Follower {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("aelm-follow".into())
            .spawn(move || self.run())
    }

    fn run(self) {
        let begun = Instant::now();
        let mut seen: HashSet<i32> = HashSet::new();
        let mut samplers: Vec<JoinHandle<()>> = Vec::new();
        let mut warned = false;
        loop {
            for pid in descendants(self.root) {
                if !seen.insert(pid) {
                    continue;
                }
                samplers.retain(|h| !h.is_finished());
                if samplers.len() >= MAX_TARGETS {
                    if !warned {
                        warned = true;
                        eprintln!(
                            "aelm: following at most {MAX_TARGETS} processes; pid {pid} and later ones are not watched"
                        );
                    }
                    continue;
                }
                // Not Python (a shell, a helper binary): ignored silently.
                let Ok(source) = attach::open(pid, self.kind, Some(ATTACH_WAIT)) else {
                    continue;
                };
                let cfg = SamplerConfig {
                    pid,
                    interval: self.opts.interval(),
                    duration: self
                        .opts
                        .duration()
                        .map(|d| d.saturating_sub(begun.elapsed())),
                    thread: None,
                };
                match sampler::spawn(source, cfg, self.tx.clone(), self.stop.clone()) {
                    Ok(h) => samplers.push(h),
                    Err(e) => eprintln!("aelm: could not start a sampler for pid {pid}: {e}"),
                }
            }
            match self.stop.recv_timeout(SCAN) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => break,
            }
        }
        for h in samplers {
            let _ = h.join();
        }
    }
}
