//! What aelm tells the user when it has waited a while for an event loop
//! and found none: for each Python thread of the target, why it is not
//! watched (its stack shows no asyncio loop, and where it is; or its stack
//! could not be read, and how often). Fed by the sampler's scans while a
//! target waits; said once, on stderr.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::python::ScannedThread;
use crate::sample::{Frame, SampleError};

/// How long a target waits for a loop before aelm says why.
pub const EXPLAIN_AFTER: Duration = Duration::from_secs(5);
/// Most threads listed in the note.
const MAX_LISTED: usize = 8;
/// Most child processes named in the note, and the longest command shown.
const MAX_CHILDREN: usize = 4;
const MAX_COMMAND: usize = 60;

/// The target's child processes (children, grandchildren): pid and command
/// line, for the note's hint that a server's workers run the loops.
pub fn children(pid: i32) -> Vec<(i32, String)> {
    crate::follow::descendants(pid)
        .into_iter()
        .map(|c| (c, crate::follow::cmdline(c).unwrap_or_default()))
        .collect()
}

/// What the scans saw of one thread while the target waited.
#[derive(Debug, Default)]
struct Seen {
    name: Option<String>,
    read: u32,
    torn: u32,
    gone: u32,
    /// The last stack read: innermost and (when another) outermost frame.
    innermost: Option<Frame>,
    outermost: Option<Frame>,
}

/// Per-thread record of the scans of a waiting target.
#[derive(Debug, Default)]
pub struct WaitNotes {
    threads: BTreeMap<u64, Seen>,
    scans: u32,
}

/// "qualname (file:line)", the file without its directory.
fn place(f: &Frame) -> String {
    let file = f.code.file.rsplit('/').next().unwrap_or(&f.code.file);
    format!("{} ({}:{})", f.code.qualname, file, f.line)
}

/// "It has N child processes: ... `--subprocesses` watches them too."
fn child_hint(m: &mut String, children: &[(i32, String)]) {
    if children.is_empty() {
        return;
    }
    let n = children.len();
    let _ = write!(
        m,
        "\n  It has {n} child process{}:",
        if n == 1 { "" } else { "es" }
    );
    for (pid, cmd) in children.iter().take(MAX_CHILDREN) {
        let short: String = cmd.chars().take(MAX_COMMAND).collect();
        let more = if cmd.chars().count() > MAX_COMMAND {
            "..."
        } else {
            ""
        };
        let _ = write!(m, "\n    {pid}: {short}{more}");
    }
    if n > MAX_CHILDREN {
        let _ = write!(m, "\n    and {} more", n - MAX_CHILDREN);
    }
    m.push_str(
        "\n  If they are a server's workers (gunicorn, uvicorn --workers), their loops are \
         where requests run: add --subprocesses to watch them too.",
    );
}

impl WaitNotes {
    /// Records one scan in which no thread was taken as a loop thread.
    pub fn record(&mut self, scanned: &[ScannedThread]) {
        self.scans += 1;
        for t in scanned {
            let s = self.threads.entry(t.info.tid).or_default();
            if t.info.name.is_some() {
                s.name.clone_from(&t.info.name);
            }
            match &t.stack {
                Ok(frames) => {
                    s.read += 1;
                    s.innermost = frames.first().cloned();
                    s.outermost = frames.last().filter(|_| frames.len() > 1).cloned();
                }
                Err(SampleError::Torn) => s.torn += 1,
                Err(SampleError::Gone) => s.gone += 1,
            }
        }
    }

    /// The note, or `None` when no scan was recorded. `children`: the
    /// target's child processes, to suggest `--subprocesses` (empty: no hint).
    pub fn message(
        &self,
        pid: i32,
        waited: Duration,
        children: &[(i32, String)],
    ) -> Option<String> {
        if self.scans == 0 {
            return None;
        }
        let mut m = format!(
            "aelm: after {} s, still no running asyncio event loop in pid {pid} ({} scans).",
            waited.as_secs(),
            self.scans
        );
        if self.threads.is_empty() {
            m.push_str(" It has no Python thread state yet.");
            child_hint(&mut m, children);
            return Some(m);
        }
        m.push_str(" Its Python threads:");
        for (tid, s) in self.threads.iter().take(MAX_LISTED) {
            let _ = write!(m, "\n  thread {tid}");
            if let Some(n) = &s.name {
                let _ = write!(m, " ({n})");
            }
            match (&s.innermost, &s.outermost) {
                (Some(inner), outer) if s.read > 0 => {
                    let _ = write!(
                        m,
                        ": no asyncio loop on its stack; it runs {}",
                        place(inner)
                    );
                    if let Some(outer) = outer {
                        let _ = write!(m, ", called from {}", place(outer));
                    }
                }
                (None, _) if s.read > 0 => {
                    let _ = write!(m, ": no Python frame on its stack");
                }
                _ => {
                    let _ = write!(m, ": its stack could not be read");
                }
            }
            if s.torn > 0 {
                let _ = write!(
                    m,
                    "; {} of {} reads failed because the stack changed while it was read",
                    s.torn,
                    s.read + s.torn + s.gone
                );
            }
            if s.gone > 0 {
                let _ = write!(m, "; it exited or moved in {} scans", s.gone);
            }
        }
        if self.threads.len() > MAX_LISTED {
            let _ = write!(m, "\n  and {} more", self.threads.len() - MAX_LISTED);
        }
        child_hint(&mut m, children);
        m.push_str(
            "\naelm keeps waiting. `aelm dump --pid PID` prints every thread's stack; \
             `--thread TID` watches one thread whatever it runs.",
        );
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::ThreadInfo;
    use crate::sample::{CodeInfo, Frame};
    use std::sync::Arc;

    fn frame(qualname: &str, file: &str, line: u32) -> Frame {
        Frame {
            code: Arc::new(CodeInfo {
                id: 1,
                name: qualname.into(),
                qualname: qualname.into(),
                file: file.into(),
                first_line: 1,
                module: None,
                flags: Some(0),
                roles: Default::default(),
            }),
            line,
            addr: 0,
            handle: 0,
            from_c: None,
        }
    }

    fn scanned(tid: u64, stack: Result<Vec<Frame>, SampleError>) -> ScannedThread {
        ScannedThread {
            info: ThreadInfo {
                tid,
                name: Some("MainThread".into()),
            },
            stack,
            running_loop: None,
        }
    }

    #[test]
    fn says_where_each_thread_is_and_what_failed() {
        let mut w = WaitNotes::default();
        assert_eq!(w.message(7, EXPLAIN_AFTER, &[]), None);
        let stack = vec![
            frame("sleep_forever", "/srv/app.py", 12),
            frame("<module>", "/srv/main.py", 3),
        ];
        w.record(&[
            scanned(7, Ok(stack.clone())),
            scanned(8, Err(SampleError::Torn)),
        ]);
        w.record(&[scanned(7, Ok(stack)), scanned(8, Err(SampleError::Torn))]);
        let m = w.message(7, EXPLAIN_AFTER, &[]).unwrap();
        assert!(m.contains("pid 7 (2 scans)"), "{m}");
        assert!(
            m.contains("thread 7 (MainThread): no asyncio loop on its stack; it runs sleep_forever (app.py:12), called from <module> (main.py:3)"),
            "{m}"
        );
        assert!(
            m.contains("thread 8 (MainThread): its stack could not be read; 2 of 2 reads failed because the stack changed"),
            "{m}"
        );
        assert!(m.contains("aelm dump --pid"), "{m}");
    }

    #[test]
    fn no_thread_state_yet() {
        let mut w = WaitNotes::default();
        w.record(&[]);
        let m = w.message(9, EXPLAIN_AFTER, &[]).unwrap();
        assert!(m.ends_with("It has no Python thread state yet."), "{m}");
    }

    #[test]
    fn names_child_processes_and_suggests_subprocesses() {
        let mut w = WaitNotes::default();
        w.record(&[scanned(
            7,
            Ok(vec![frame("Condition.wait", "/usr/lib/threading.py", 359)]),
        )]);
        let long = format!(
            "python3 -c from multiprocessing.spawn import spawn_main{}",
            " x".repeat(50)
        );
        let kids: Vec<(i32, String)> = (10..16).map(|p| (p, long.clone())).collect();
        let m = w.message(7, EXPLAIN_AFTER, &kids).unwrap();
        assert!(
            m.contains("It has 6 child processes:\n    10: python3 -c from multiprocessing.spawn"),
            "{m}"
        );
        assert!(m.contains("...\n    13: "), "{m}");
        assert!(!m.contains("    14: "), "{m}");
        assert!(m.contains("and 2 more"), "{m}");
        assert!(m.contains("add --subprocesses"), "{m}");
        let none = w.message(7, EXPLAIN_AFTER, &[]).unwrap();
        assert!(!none.contains("--subprocesses"), "{none}");
    }
}
