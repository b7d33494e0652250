//! The reporter: turns session events and [`Block`]s into output lines.
//! This module is the output schema's one home.
//!
//! # Wire format (schema v1, JSON lines)
//!
//! stdout (or `--output FILE`) carries only JSON objects, one per line; every
//! object has a `"type"`. Stacks list frames innermost first. Times are RFC
//! 3339 UTC with microseconds. Field names are stable once released; new
//! fields and new types may be added over time, so consumers should ignore
//! what they do not know. The JSON Schema is `docs/schema.json`.
//!
//! * `start` — once, when aelm has found the target's event loop(s):
//!   `aelm` (version), `pid`, `python` (target version), `threshold_ms`,
//!   `interval_us`, `loop_threads` (`[{tid, name}]`), `reader`, `cmdline`,
//!   `parent` for a process followed with `--subprocesses`, and `container`
//!   / `pod_uid` when the target's cgroup names them. With
//!   `--subprocesses` each process has its own `start` and `end` line.
//! * `block` — one per block of the loop (and one more, earlier, with
//!   `state: "ongoing"` for blocks that last longer than `--ongoing-ms`):
//!   `time` (first busy sample), `pid`, `tid`, `thread`, `duration_ms`,
//!   `samples`, `state` (`ongoing` | `ended`), `truncated` (only when true:
//!   aelm stopped watching before the block ended), `callback`
//!   (`{qualname, file, line}`: the callback's root), `culprit`
//!   (`{name, function, qualname, file, line, coroutine?}`; `name` is
//!   `module.qualname`; `coroutine` comes from code flags and is absent when
//!   the reader cannot see them), `callee` (absent when the culprit is the
//!   deepest frame of the dominant path), `hot` (`[{qualname, file, line,
//!   samples}]`, hottest leaf frames), `stack` (the dominant path,
//!   innermost first, down to the callback).
//! * `end` — once per process, last: `pid`, `reason` (`target-exited` | `target-exec` |
//!   `duration` | `interrupted` | `error`), `samples`, `failed_samples`,
//!   `gaps` (times a thread went unobserved too long to vouch for a block),
//!   `blocks`, `blocked_ms`, `achieved_hz`, `missed_ticks`, `reads` (memory
//!   reads of the reader while sampling, where it counts them), `top` (the
//!   culprits with the most blocked time: `[{culprit, file, line, blocks,
//!   total_ms, p50_ms, p99_ms, max_ms}]`), and `error` / `exit_code` where
//!   they apply.

pub mod json;
pub mod text;

use std::collections::HashMap;
use std::io;
use std::time::{Duration, SystemTime};

use crate::detector::{Block, Totals};
use crate::python::ThreadInfo;
use crate::sample::CodeInfo;

/// What the `start` line says.
#[derive(Debug, Clone)]
pub struct StartInfo {
    pub pid: i32,
    pub python: String,
    pub threshold: Duration,
    pub interval: Duration,
    pub loop_threads: Vec<ThreadInfo>,
    pub reader: &'static str,
    /// The target's command line.
    pub cmdline: Option<String>,
    /// With `--subprocesses`: the pid of the process whose descendant this is.
    pub parent: Option<i32>,
    /// Container id and Kubernetes pod UID, from the target's cgroup.
    pub container: Option<String>,
    pub pod_uid: Option<String>,
}

/// What the `end` line says.
#[derive(Debug, Clone)]
pub struct EndInfo {
    pub pid: i32,
    pub reason: String,
    pub totals: Totals,
    pub elapsed: Duration,
    pub missed_ticks: u64,
    /// Memory reads (system calls) of the reader while sampling.
    pub reads: Option<u64>,
    pub error: Option<String>,
    pub exit_code: Option<i32>,
    /// Top culprits of the run's ended blocks.
    pub top: Vec<crate::summary::Row>,
}

/// Where a block happened: what the block itself does not carry.
#[derive(Debug, Clone)]
pub struct BlockContext<'a> {
    pub pid: i32,
    pub thread: Option<&'a str>,
    /// Wall-clock time of the block's first sample.
    pub time: SystemTime,
}

/// One output format.
pub trait Reporter {
    fn start(&mut self, info: &StartInfo) -> io::Result<()>;
    fn block(&mut self, block: &Block, ctx: &BlockContext) -> io::Result<()>;
    fn end(&mut self, info: &EndInfo) -> io::Result<()>;
}

/// Milliseconds with microsecond precision.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// RFC 3339 UTC with microseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Module names derived from file paths, when the reader could not read the
/// frame's `__name__`.
#[derive(Debug, Default)]
pub struct ModuleNames {
    cache: HashMap<String, String>,
}

impl ModuleNames {
    /// `module.qualname` for a culprit.
    pub fn dotted(&mut self, code: &CodeInfo) -> String {
        let module = match &code.module {
            Some(m) => m.clone(),
            None => self
                .cache
                .entry(code.file.clone())
                .or_insert_with(|| module_from_path(&code.file))
                .clone(),
        };
        if module.is_empty() {
            code.qualname.clone()
        } else {
            format!("{module}.{}", code.qualname)
        }
    }
}

/// A module name from a path: the part after `site-packages/`,
/// `dist-packages/` or `lib/pythonX.Y/` as a dotted name, else the file's
/// stem (its directory for `__init__.py`).
pub fn module_from_path(file: &str) -> String {
    if file.starts_with('<') {
        return String::new();
    }
    let mut rel = file;
    for marker in ["/site-packages/", "/dist-packages/"] {
        if let Some(i) = file.rfind(marker) {
            rel = &file[i + marker.len()..];
        }
    }
    if rel == file
        && let Some(i) = file.find("/lib/python3.")
    {
        let after = &file[i + "/lib/".len()..];
        if let Some(j) = after.find('/') {
            rel = &after[j + 1..];
        }
    }
    if rel == file {
        rel = file.rsplit('/').next().unwrap_or(file);
        if rel == "__init__.py" {
            let dir = file.rsplit('/').nth(1).unwrap_or("");
            return dir.to_string();
        }
    }
    let rel = rel.strip_suffix(".py").unwrap_or(rel);
    let rel = rel.strip_suffix("/__init__").unwrap_or(rel);
    rel.replace('/', ".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_from_paths() {
        assert_eq!(
            module_from_path("/venv/lib/python3.11/site-packages/aiohttp/web_protocol.py"),
            "aiohttp.web_protocol"
        );
        assert_eq!(
            module_from_path("/usr/lib/python3.11/asyncio/base_events.py"),
            "asyncio.base_events"
        );
        assert_eq!(module_from_path("/srv/app/server.py"), "server");
        assert_eq!(module_from_path("/srv/app/pkg/__init__.py"), "pkg");
        assert_eq!(
            module_from_path("/venv/lib/python3.11/site-packages/pkg/__init__.py"),
            "pkg"
        );
        assert_eq!(module_from_path("<string>"), "");
    }

    #[test]
    fn times_are_rfc3339_micros() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_019_800_123_456);
        assert_eq!(rfc3339(t), "2025-11-24T21:30:00.123456Z");
        assert_eq!(millis(Duration::from_micros(52_345)), 52.345);
    }
}
