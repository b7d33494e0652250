//! A [`StackSource`] backed by aelm's direct reader ([`super::direct`]):
//! about one `process_vm_readv` a sample in steady state.
//!
//! Thread names are not something the direct reader decodes (they live in
//! `threading._active`): they come from py-spy's `get_stack_traces()`. That
//! call reads every thread's whole stack (about 0.5 ms a thread), and it runs
//! on the sampler thread, which samples every target of the session: a
//! target that starts threads all the time must not stall the others'
//! samples (one lookup over 400 threads stalls them tens of milliseconds,
//! enough to split their blocks). So scans look names up at most every
//! [`NAME_LOOKUP_EVERY`], and otherwise only the sampler asks, for a loop
//! thread it has just found ([`StackSource::name_now`]): rare, and the lines
//! about that thread need its name. A thread whose name a lookup did not
//! find (one not in `threading._active` yet) is asked again, up to
//! [`NAME_TRIES`] lookups.

use crate::addr_map::AddrMap;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use py_spy::PythonSpy;

use super::direct::{DirectReader, PyThread};
use super::pyspy::pyspy_config;
use super::{ScannedThread, StackSource, ThreadInfo};
use crate::sample::{SampleError, Spares, ThreadSample};

pub struct DirectSource {
    reader: DirectReader,
    pid: i32,
    /// Python threads of the last scan, by native tid as aelm's PID
    /// namespace sees it.
    threads: AddrMap<u64, PyThread>,
    /// Thread names by thread (`None`: given up).
    names: HashMap<ThreadKey, Option<String>>,
    /// Lookups that did not find a thread's name yet, by thread.
    tries: HashMap<ThreadKey, u8>,
    /// py-spy, for thread names; `None` if it could not attach.
    spy: Option<PythonSpy>,
    /// The threads the last full scan read.
    scanned: HashSet<ThreadKey>,
    /// When names were last looked up.
    named_at: Option<Instant>,
}

/// A thread, as long as it lives: its `PyThreadState` address and its
/// native id. The address alone is not enough: a thread that exits frees
/// its thread state, and the next one started often gets the same address
/// (a thread per call, asgiref's `async_to_sync`), which named every such
/// thread after the first.
type ThreadKey = (u64, u64);

fn key(t: &PyThread) -> ThreadKey {
    (t.tstate, t.tid)
}

/// Least time between two thread-name lookups of one target's scans.
pub const NAME_LOOKUP_EVERY: Duration = Duration::from_secs(5);
/// Lookups that may miss a thread's name before it is left unnamed.
pub const NAME_TRIES: u8 = 3;

/// Thread ids as the target's PID namespace sees them, mapped to the ids
/// aelm's namespace sees (from the `NSpid:` lines of
/// /proc/PID/task/*/status). Empty when both namespaces are the same.
fn namespace_tids(pid: i32) -> HashMap<u64, u64> {
    let same_ns = std::fs::read_link("/proc/self/ns/pid").ok()
        == std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let mut map = HashMap::new();
    if same_ns {
        return map;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return map;
    };
    for task in tasks.flatten().take(super::direct::MAX_THREADS) {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(line) = status.lines().find(|l| l.starts_with("NSpid:")) {
            let ids: Vec<u64> = line[6..]
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let (Some(&ours), Some(&theirs)) = (ids.first(), ids.last()) {
                map.insert(theirs, ours);
            }
        }
    }
    map
}

impl DirectSource {
    /// `spy`: py-spy attached to the same process, if the caller has one
    /// (finding the interpreter is the costly part of attaching); without
    /// one, each name lookup tries to attach it.
    pub fn new(reader: DirectReader, pid: i32, spy: Option<PythonSpy>) -> DirectSource {
        DirectSource {
            reader,
            pid,
            threads: AddrMap::default(),
            names: HashMap::new(),
            tries: HashMap::new(),
            scanned: HashSet::new(),
            spy,
            named_at: None,
        }
    }

    /// Names of `threads` by pthread id, through py-spy.
    fn lookup_names(&mut self, threads: &[PyThread]) {
        self.named_at = Some(Instant::now());
        if self.spy.is_none() {
            // py-spy could not attach (a thread deeper than its 4096-frame
            // limit): try again, at most once a lookup.
            self.spy = PythonSpy::new(self.pid, &pyspy_config()).ok();
        }
        let mut by_pthread: HashMap<u64, Option<String>> = HashMap::new();
        if let Some(spy) = self.spy.as_mut() {
            // py-spy keeps names by `pthread_t`, which glibc hands to the
            // next thread started once one has ended: without this, every
            // thread of a thread-per-call program was named after the first.
            spy.python_thread_names.clear();
            spy.python_thread_ids.clear();
        }
        if let Some(spy) = self.spy.as_mut()
            && let Ok(traces) = spy.get_stack_traces()
        {
            for t in traces {
                by_pthread.insert(t.thread_id, t.thread_name);
            }
        }
        for t in threads {
            let name = by_pthread
                .get(&t.pthread_id)
                .cloned()
                .flatten()
                .or_else(|| {
                    // The main thread's tid is the pid.
                    (t.tid == self.pid as u64).then(|| "MainThread".to_string())
                });
            match name {
                Some(n) => {
                    self.tries.remove(&key(t));
                    self.names.insert(key(t), Some(n));
                }
                None => {
                    let tries = self.tries.entry(key(t)).or_insert(0);
                    *tries += 1;
                    if *tries >= NAME_TRIES {
                        self.tries.remove(&key(t));
                        self.names.insert(key(t), None);
                    }
                }
            }
        }
    }
}

impl DirectSource {
    /// [`StackSource::scan`], or with `only_new` [`StackSource::scan_new`].
    fn scan_some(&mut self, only_new: bool) -> Result<Vec<ScannedThread>> {
        let threads = self.reader.threads()?;
        // A target in another PID namespace (a container) reports its own
        // thread ids: report them as aelm's namespace sees them.
        let ns = namespace_tids(self.pid);
        let ours = |t: &PyThread| ns.get(&t.tid).copied().unwrap_or(t.tid);
        let unnamed: Vec<PyThread> = threads
            .iter()
            .filter(|t| !self.names.contains_key(&key(t)))
            .copied()
            .collect();
        // Threads not named yet go unnamed until the next lookup is due
        // (their `ThreadInfo` changes then, and the sampler passes it on).
        if !unnamed.is_empty()
            && self
                .named_at
                .is_none_or(|at| at.elapsed() >= NAME_LOOKUP_EVERY)
        {
            self.lookup_names(&unnamed);
        }
        let live: HashSet<ThreadKey> = threads.iter().map(key).collect();
        self.names.retain(|k, _| live.contains(k));
        self.tries.retain(|k, _| live.contains(k));
        self.threads = threads.iter().map(|t| (ours(t), *t)).collect();
        let mut out = Vec::with_capacity(threads.len());
        for t in &threads {
            let (stack, running_loop) = if only_new && self.scanned.contains(&key(t)) {
                (Err(SampleError::Gone), None)
            } else {
                (
                    self.reader.stack_for_scan(t),
                    self.reader.last_running_loop(),
                )
            };
            out.push(ScannedThread {
                info: ThreadInfo {
                    tid: ours(t),
                    name: self.names.get(&key(t)).cloned().flatten(),
                },
                stack,
                running_loop,
            });
        }
        if !only_new {
            self.scanned = live;
        }
        Ok(out)
    }
}

impl StackSource for DirectSource {
    fn version(&self) -> String {
        self.reader.version()
    }

    fn scan(&mut self) -> Result<Vec<ScannedThread>> {
        self.scan_some(false)
    }

    fn scan_new(&mut self) -> Result<Vec<ScannedThread>> {
        self.scan_some(true)
    }

    fn name_now(&mut self, tids: &[u64]) -> Vec<(u64, String)> {
        let unnamed: Vec<PyThread> = tids
            .iter()
            .filter_map(|tid| self.threads.get(tid).copied())
            .filter(|t| !self.names.contains_key(&key(t)))
            .collect();
        if !unnamed.is_empty() {
            self.lookup_names(&unnamed);
        }
        tids.iter()
            .filter_map(|&tid| {
                let t = self.threads.get(&tid)?;
                Some((tid, self.names.get(&key(t))?.clone()?))
            })
            .collect()
    }

    fn probe_threads(&mut self) {
        self.reader.probe_threads();
    }

    fn threads_moved(&mut self) -> bool {
        self.reader.threads_moved()
    }

    fn reads(&self) -> Option<u64> {
        Some(self.reader.read_ops())
    }

    fn notes(&self) -> Vec<String> {
        self.reader.layout_notes().to_vec()
    }

    fn sample(&mut self, tids: &[u64], spares: &mut Spares) -> Result<Vec<ThreadSample>> {
        let mut out = spares.threads();
        for &tid in tids {
            let stack = match self.threads.get(&tid) {
                Some(t) => self.reader.stack_into(t, spares.frames()),
                None => Err(SampleError::Gone),
            };
            out.push(ThreadSample {
                tid,
                stack,
                context: self.reader.last_context_ver(),
                running_loop: self.reader.last_running_loop(),
                entered: self.reader.last_entered(),
            });
        }
        self.reader.probe_now();
        Ok(out)
    }
}
