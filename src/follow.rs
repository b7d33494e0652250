//! Finding more targets while a session runs:
//!
//! * `--subprocesses`: the root target's descendants (the workers of
//!   gunicorn or `uvicorn --workers N`, including workers started or
//!   restarted later);
//! * `aelm watch`: every process on the host (or the PID namespace aelm
//!   sees) whose command line matches `--match`, new ones too.
//!
//! Each Python process found gets a sampler of its own; its messages go on
//! the session's one channel tagged with its pid. Processes that are not
//! Python, or that aelm may not trace, are ignored silently; Python
//! processes with no event loop yet are kept in view (their sampler waits,
//! quietly, for a loop). Owns only discovery.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use regex::Regex;

use crate::cli::WatchOpts;
use crate::python::attach::{self, ReaderKind};
use crate::sampler::{Pool, SamplerConfig};

/// How often the process tree is rescanned for `--subprocesses`.
pub const SCAN: Duration = Duration::from_millis(500);
/// Most processes followed at once for `--subprocesses`.
pub const MAX_TARGETS: usize = 64;
/// How long a new process may take to become attachable (its interpreter
/// initialising).
const ATTACH_WAIT: Duration = Duration::from_secs(5);
/// How often a watched Python process without a loop is looked at again.
const WATCH_WAIT_POLL: Duration = Duration::from_millis(1000);

/// Which processes to follow.
pub enum Selection {
    /// Descendants of this pid.
    Descendants(i32),
    /// Every process whose command line matches (all when `None`).
    Matching(Option<Regex>),
}

pub struct Follower {
    pub selection: Selection,
    pub scan: Duration,
    pub max_targets: usize,
    pub opts: WatchOpts,
    pub kind: ReaderKind,
    /// The session's sampler thread, which takes the attached targets.
    pub pool: Pool,
    pub stop: Receiver<()>,
}

/// Every pid in /proc.
fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Parent pid of every process (from /proc/PID/stat).
fn parents() -> HashMap<i32, i32> {
    all_pids()
        .into_iter()
        .filter_map(|pid| Some((pid, crate::proc_stat::parent(pid)?)))
        .collect()
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

/// A process's start time: with the pid, it names one process even when
/// pids are reused.
fn start_time(pid: i32) -> u64 {
    crate::proc_stat::start_time(pid).unwrap_or(0)
}

/// A process's command line, NUL separators as spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let parts: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .take(256)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

impl Follower {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("aelm-follow".into())
            .spawn(move || self.run())
    }

    fn candidates(&self) -> Vec<i32> {
        match &self.selection {
            Selection::Descendants(root) => descendants(*root),
            Selection::Matching(re) => {
                let me = std::process::id() as i32;
                let mut pids: Vec<i32> = all_pids()
                    .into_iter()
                    .filter(|&p| p != me)
                    .filter(|&p| match re {
                        Some(re) => cmdline(p).is_some_and(|c| re.is_match(&c)),
                        // Kernel threads have no command line.
                        None => cmdline(p).is_some(),
                    })
                    .collect();
                pids.sort_unstable();
                pids
            }
        }
    }

    fn run(self) {
        let begun = Instant::now();
        let watch = matches!(self.selection, Selection::Matching(_));
        // Processes are known by (pid, start time), so a reused pid is a new
        // process; one that was not Python is looked at again after an exec.
        let mut seen: HashSet<(i32, u64)> = HashSet::new();
        let mut not_python: HashMap<(i32, u64), Option<std::path::PathBuf>> = HashMap::new();
        let mut warned = false;
        loop {
            for pid in self.candidates() {
                let key = (pid, start_time(pid));
                if seen.contains(&key) {
                    continue;
                }
                let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
                if not_python.get(&key).is_some_and(|e| *e == exe) {
                    continue;
                }
                if self.pool.live() >= self.max_targets {
                    if !warned {
                        warned = true;
                        eprintln!(
                            "aelm: following at most {} processes; pid {pid} and later ones are not watched",
                            self.max_targets
                        );
                    }
                    continue;
                }
                // Not Python, gone, or not ours to trace: ignored silently
                // (and looked at again if it execs).
                let wait = (!watch).then_some(ATTACH_WAIT);
                let attached = attach::open(pid, self.kind, wait);
                self.pool.note_attach_cpu(crate::sampler::thread_cpu_time());
                let Ok(source) = attached else {
                    not_python.insert(key, exe);
                    continue;
                };
                seen.insert(key);
                let duration = self
                    .opts
                    .duration()
                    .map(|d| d.saturating_sub(begun.elapsed()));
                let mut cfg = SamplerConfig::new(
                    pid,
                    self.opts.interval(),
                    self.opts.threshold(),
                    duration,
                    None,
                );
                // Quiet: many found processes never run a loop.
                cfg.quiet_wait = true;
                if watch {
                    cfg.wait_poll = WATCH_WAIT_POLL;
                }
                if !self.pool.add(source, cfg) {
                    // The sampler thread is gone: the session is ending.
                    break;
                }
            }
            if not_python.len() > 100_000 {
                not_python.clear();
            }
            match self.stop.recv_timeout(self.scan) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => break,
            }
            if self.opts.duration().is_some_and(|d| begun.elapsed() >= d) {
                break;
            }
        }
    }
}

/// Where a process runs, from its /proc/PID/cgroup: the container id (64
/// hex digits, as containerd, CRI-O and Docker name their cgroups) and the
/// Kubernetes pod UID (`pod<uid>`, with `_` for `-` under the systemd cgroup
/// driver), when the paths hold them. cgroup v1 and v2 layouts alike, e.g.
///   `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c..._5e6f.slice/cri-containerd-<id>.scope`
///   `12:pids:/kubepods/besteffort/pod1b2c...-5e6f/<id>`
///   `0::/system.slice/docker-<id>.scope`
pub fn container_of(cgroup: &str) -> (Option<String>, Option<String>) {
    static CONTAINER: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    static POD: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let container = CONTAINER.get_or_init(|| {
        Regex::new(r"(?:^|[/\-:])([0-9a-f]{64})(?:\.scope)?(?:/|$)").expect("valid regex")
    });
    let pod = POD.get_or_init(|| {
        Regex::new(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
            .expect("valid regex")
    });
    let mut found = (None, None);
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        if found.0.is_none() {
            found.0 = container.captures(path).map(|c| c[1].to_string());
        }
        if found.1.is_none() {
            found.1 = pod.captures(path).map(|c| c[1].replace('_', "-"));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";

    #[test]
    fn containerd_systemd_driver_v2() {
        let cg = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_aaaa_bbbb_cccc_0123456789ab.slice/cri-containerd-{ID}.scope\n"
        );
        let (c, p) = container_of(&cg);
        assert_eq!(c.as_deref(), Some(ID));
        assert_eq!(p.as_deref(), Some("1b2c3d4e-aaaa-bbbb-cccc-0123456789ab"));
    }

    #[test]
    fn cgroupfs_driver_v1_and_crio_and_docker() {
        let v1 = format!(
            "12:pids:/kubepods/besteffort/pod1b2c3d4e-aaaa-bbbb-cccc-0123456789ab/{ID}\n11:memory:/kubepods/besteffort/pod1b2c3d4e-aaaa-bbbb-cccc-0123456789ab/{ID}\n"
        );
        assert_eq!(
            container_of(&v1),
            (
                Some(ID.to_string()),
                Some("1b2c3d4e-aaaa-bbbb-cccc-0123456789ab".to_string())
            )
        );
        let crio = format!(
            "0::/kubepods.slice/kubepods-pod1b2c3d4e_aaaa_bbbb_cccc_0123456789ab.slice/crio-{ID}.scope\n"
        );
        assert_eq!(container_of(&crio).0.as_deref(), Some(ID));
        let docker = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(container_of(&docker), (Some(ID.to_string()), None));
    }

    #[test]
    fn plain_host_process_has_neither() {
        assert_eq!(
            container_of("0::/user.slice/user-0.slice/session-1.scope\n"),
            (None, None)
        );
    }
}
