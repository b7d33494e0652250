//! Attaching to a target: the checks that turn "it did not work" into an
//! error a user can act on (no such process, not Python, unsupported
//! version, permission denied), and the choice of stack reader.

use std::fs;
use std::io;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use py_spy::PythonSpy;

use super::StackSource;
use super::direct::DirectReader;
use super::direct_source::DirectSource;
use super::pyspy::{PySpySource, pyspy_config};

/// Oldest and newest CPython minor versions aelm reads.
pub const OLDEST_MINOR: u64 = 8;
pub const NEWEST_MINOR: u64 = 15;

/// Which stack reader to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderKind {
    /// aelm's own reader: about one memory read a sample.
    Direct,
    /// py-spy's `get_stack_traces()`: slower, no frame addresses or flags.
    PySpy,
}

impl ReaderKind {
    pub fn name(self) -> &'static str {
        match self {
            ReaderKind::Direct => "direct",
            ReaderKind::PySpy => "py-spy",
        }
    }
}

/// The process's command name, for messages.
pub fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// Whether the process still exists (and is not a zombie).
pub fn is_alive(pid: i32) -> bool {
    !matches!(
        crate::proc_stat::state(pid).as_deref(),
        Some("Z") | Some("X") | None
    )
}

/// The kernel's ptrace policy, for permission messages.
fn ptrace_scope() -> String {
    match fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        Ok(s) => format!(
            "kernel.yama.ptrace_scope is {}: 0 allows same-user reads, 1 only by a parent \
             process or with CAP_SYS_PTRACE, 2 only with CAP_SYS_PTRACE, 3 never",
            s.trim()
        ),
        Err(_) => "this kernel has no Yama ptrace_scope restriction".to_string(),
    }
}

/// The target's effective user id (from /proc/PID/status).
fn target_euid(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether the target is marked non-dumpable (setuid or setgid, or
/// `prctl(PR_SET_DUMPABLE, 0)`): the kernel then gives its /proc files to
/// root, whoever runs it.
fn non_dumpable(pid: i32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let owner = fs::metadata(format!("/proc/{pid}/mem")).map(|m| m.uid());
    matches!((owner, target_euid(pid)), (Ok(0), Some(uid)) if uid != 0)
}

/// The error for a target whose memory aelm may not read.
pub fn permission_error(pid: i32) -> anyhow::Error {
    if non_dumpable(pid) {
        return anyhow!(
            "permission denied reading the memory of pid {pid} ({}): the process is not \
             dumpable (it is setuid or setgid, or called prctl(PR_SET_DUMPABLE, 0)), so only \
             root or a user with CAP_SYS_PTRACE may read it, even as the same user. \
             See docs/usage.md#permissions",
            comm(pid)
        );
    }
    anyhow!(
        "permission denied reading the memory of pid {pid} ({}): run aelm as the same user as \
         the target with ptrace allowed ({}), or as root or with CAP_SYS_PTRACE (in a container: \
         --cap-add SYS_PTRACE). aelm also reads the target's python binary and libpython \
         to find the interpreter: those files must be readable by aelm's user. \
         See docs/usage.md#permissions",
        comm(pid),
        ptrace_scope()
    )
}

/// Files mapped into the process that look like a CPython interpreter.
fn python_mappings(maps: &str) -> bool {
    maps.lines().any(|line| {
        let Some(path) = line.split_whitespace().nth(5) else {
            return false;
        };
        let base = path.rsplit('/').next().unwrap_or(path);
        // `python`, `python3.12`, and the builds' suffixed names:
        // `python3.14d` (debug), `python3.13t` (free-threaded),
        // `python3.14-dbg`.
        let version = |rest: &str| {
            let rest = rest.strip_suffix("-dbg").unwrap_or(rest);
            let digits = rest.trim_end_matches(['d', 't', 'm', 'u']);
            rest.len() - digits.len() <= 2
                && digits.starts_with(|c: char| c.is_ascii_digit())
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        };
        base.starts_with("libpython")
            || base == "python"
            || base.strip_prefix("python").is_some_and(version)
    })
}

/// Checks that `pid` exists, can be read, and looks like Python.
fn preflight(pid: i32) -> Result<()> {
    if pid <= 0 || fs::metadata(format!("/proc/{pid}")).is_err() {
        bail!("no process with pid {pid}: check the pid (e.g. with `pgrep -af python`)");
    }
    if !is_alive(pid) {
        bail!(
            "process {pid} ({}) has exited: it is a zombie that its parent (pid {}) has not \
             reaped yet, and has no memory left to read",
            comm(pid),
            crate::proc_stat::parent(pid).unwrap_or(0)
        );
    }
    let maps = match fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(permission_error(pid));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("process {pid} exited before aelm could attach")
        }
        Err(e) => return Err(e).with_context(|| format!("reading /proc/{pid}/maps")),
    };
    if !python_mappings(&maps) {
        bail!(
            "process {pid} ({}) is not a Python process: no python binary or libpython is \
             mapped into it",
            comm(pid)
        );
    }
    // Reading memory needs ptrace rights even when /proc/PID/maps is
    // readable: try one small read, the way every sample will read.
    if let Some(addr) = first_readable(&maps) {
        let mut byte = [0u8; 1];
        let local = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: 1,
        };
        // SAFETY: reads one byte of the target into `byte`, which outlives the call.
        let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) {
            return Err(permission_error(pid));
        }
    }
    Ok(())
}

/// Start address of the first readable mapping in /proc/PID/maps.
fn first_readable(maps: &str) -> Option<u64> {
    maps.lines().find_map(|line| {
        let mut cols = line.split_whitespace();
        let range = cols.next()?;
        let perms = cols.next()?;
        if !perms.starts_with('r') {
            return None;
        }
        u64::from_str_radix(range.split('-').next()?, 16).ok()
    })
}

fn open_pyspy(pid: i32) -> Result<PythonSpy> {
    let spy = PythonSpy::new(pid, &pyspy_config()).map_err(|e| {
        let text = format!("{e:#}");
        if text.contains("Permission denied") || text.contains("Operation not permitted") {
            permission_error(pid)
        } else {
            e.context(format!(
                "could not find a CPython interpreter in pid {pid} ({})",
                comm(pid)
            ))
        }
    })?;
    let v = &spy.version;
    if v.major != 3 || !(OLDEST_MINOR..=NEWEST_MINOR).contains(&v.minor) {
        bail!(
            "pid {pid} runs Python {}.{}.{}: aelm reads CPython 3.{OLDEST_MINOR} to 3.{NEWEST_MINOR}",
            v.major,
            v.minor,
            v.patch
        );
    }
    Ok(spy)
}

fn open_direct(pid: i32) -> Result<Box<dyn StackSource>> {
    // py-spy's discovery first: it gives the clearest errors (version,
    // permissions), and the same PythonSpy later names the threads.
    let spy = match open_pyspy(pid) {
        Ok(spy) => spy,
        Err(e) => {
            // py-spy also refuses a process with a thread deeper than 4096
            // frames (it checks its find by walking every stack). aelm's
            // reader finds the interpreter itself then; threads other than
            // the main one go unnamed. Any other failure is py-spy's to tell.
            return match DirectReader::attach(pid) {
                Ok(reader) => Ok(Box::new(DirectSource::new(reader, pid, None))),
                Err(_) => Err(e),
            };
        }
    };
    let reader = DirectReader::attach(pid)
        .with_context(|| format!("attaching aelm's reader to pid {pid} ({})", comm(pid)))?;
    Ok(Box::new(DirectSource::new(reader, pid, Some(spy))))
}

/// Attaches to `pid`. With `wait`, keeps retrying until the deadline while
/// the interpreter is not ready yet (a program just started by `aelm run`).
pub fn open(pid: i32, kind: ReaderKind, wait: Option<Duration>) -> Result<Box<dyn StackSource>> {
    let deadline = wait.map(|w| Instant::now() + w);
    loop {
        let attempt = preflight(pid).and_then(|()| match kind {
            ReaderKind::PySpy => {
                open_pyspy(pid).map(|spy| Box::new(PySpySource::new(spy)) as Box<dyn StackSource>)
            }
            ReaderKind::Direct => open_direct(pid),
        });
        match (attempt, deadline) {
            (Ok(source), _) => return Ok(source),
            (Err(_), Some(d)) if Instant::now() < d && is_alive(pid) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            (Err(e), _) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_python_mappings() {
        let py = "55d0 r-xp 0 08:01 1 /usr/bin/python3.11\n";
        let lib = "7f00 r-xp 0 08:01 1 /usr/lib/libpython3.12.so.1.0\n";
        let venv = "55d0 r-xp 0 08:01 1 /srv/venv/bin/python\n";
        let sleep = "55d0 r-xp 0 08:01 1 /usr/bin/sleep\n7f00 r-xp 0 08:01 1 /usr/lib/libc.so.6\n";
        let tricky = "55d0 r-xp 0 08:01 1 /usr/bin/python-config-helper\n";
        assert!(python_mappings(py));
        assert!(python_mappings(lib));
        assert!(python_mappings(venv));
        assert!(!python_mappings(sleep));
        assert!(!python_mappings(tricky));
        for name in ["python3.14d", "python3.13t", "python3.14-dbg", "python3"] {
            assert!(
                python_mappings(&format!("55d0 r-xp 0 08:01 1 /usr/bin/{name}\n")),
                "{name}"
            );
        }
        for name in ["python3.11-config", "pythonista", "python-3.12x"] {
            assert!(
                !python_mappings(&format!("55d0 r-xp 0 08:01 1 /usr/bin/{name}\n")),
                "{name}"
            );
        }
    }

    #[test]
    fn missing_pid_is_a_clear_error() {
        let err = preflight(i32::MAX - 1).unwrap_err().to_string();
        assert!(err.contains("no process with pid"), "{err}");
    }
}
