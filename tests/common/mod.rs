//! Shared harness of the integration tests: the provisioned Python
//! interpreters, fixture processes that record their own ground truth, and
//! the real `aelm` binary run against them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// One provisioned interpreter (a line of `pythons.tsv`).
#[derive(Debug, Clone)]
pub struct Python {
    pub version: String,
    pub exe: PathBuf,
    pub pythonpath: String,
    pub packages: Vec<String>,
}

impl Python {
    pub fn minor(&self) -> u32 {
        self.version
            .split('.')
            .nth(1)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
    pub fn has(&self, pkg: &str) -> bool {
        self.packages.iter().any(|p| p == pkg)
    }
}

/// The interpreters to test against: `$AELM_PYTHONS` (a manifest written by
/// scripts/provision-pythons.sh), else `~/.cache/aelm/pythons.tsv`, else
/// the `python3` on PATH. `$AELM_TEST_VERSIONS=3.11,3.14` narrows the list.
pub fn pythons() -> Vec<Python> {
    let manifest = std::env::var_os("AELM_PYTHONS")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let cache = std::env::var_os("AELM_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(&home).join(".cache/aelm"));
            Some(cache.join("pythons.tsv"))
        });
    let mut list = Vec::new();
    if let Some(text) = manifest.and_then(|m| fs::read_to_string(m).ok()) {
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 2 {
                continue;
            }
            list.push(Python {
                version: cols[0].to_string(),
                exe: PathBuf::from(cols[1]),
                pythonpath: cols.get(2).unwrap_or(&"").to_string(),
                packages: cols
                    .get(3)
                    .map(|p| p.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
            });
        }
    }
    if list.is_empty() {
        eprintln!("no pythons.tsv: testing with the python3 on PATH only");
        let out = Command::new("python3")
            .args(["-c", "import platform; print(platform.python_version())"])
            .output()
            .expect("python3 on PATH");
        list.push(Python {
            version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            exe: PathBuf::from("python3"),
            pythonpath: String::new(),
            packages: vec![],
        });
    }
    if let Ok(only) = std::env::var("AELM_TEST_VERSIONS") {
        let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
        list.retain(|p| wanted.iter().any(|w| p.version.starts_with(w)));
    }
    list
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures").join(name)
}

pub fn aelm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aelm"))
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh scratch directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("aelm-test-{}-{tag}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Ground truth a fixture recorded.
#[derive(Debug, Clone)]
pub struct TruthBlock {
    pub tid: u64,
    pub function: String,
    pub file: String,
    pub line: u64,
    pub start: f64,
    pub end: f64,
    pub callee_file: Option<String>,
}

pub fn read_truth(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn truth_blocks(events: &[Value]) -> Vec<TruthBlock> {
    events
        .iter()
        .filter(|e| e["event"] == "block")
        .map(|e| TruthBlock {
            tid: e["tid"].as_u64().unwrap_or(0),
            function: e["function"].as_str().unwrap_or("").to_string(),
            file: e["file"].as_str().unwrap_or("").to_string(),
            line: e["line"].as_u64().unwrap_or(0),
            start: e["start"].as_f64().unwrap_or(0.0),
            end: e["end"].as_f64().unwrap_or(0.0),
            callee_file: e["callee_file"].as_str().map(str::to_string),
        })
        .collect()
}

/// Waits (at most 30 s) for a fixture's `ready` line in its truth file.
pub fn wait_ready(truth: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_truth(truth).iter().any(|e| e["event"] == "ready") {
        assert!(Instant::now() < deadline, "fixture not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running fixture program.
pub struct Fixture {
    pub child: Child,
    pub truth: PathBuf,
    pub go: PathBuf,
    pub dir: PathBuf,
}

/// Exit status of a fixture whose optional package (uvloop, aiohttp) is
/// missing.
pub const FIXTURE_SKIP: i32 = 4;

/// A fixture's command line. Fixtures run niced: on this small shared
/// machine a CPU-bound target must not starve aelm's sampler, or the test
/// measures the scheduler rather than aelm (the detector then splits
/// blocks at the gaps, see `Config::max_gap`).
pub fn fixture_command(py: &Python, script: &str, args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "10"])
        .arg(&py.exe)
        .arg(fixture(script))
        .args(args);
    cmd.env("AELM_TRUTH", dir.join("truth.jsonl"));
    cmd.env("AELM_GO", dir.join("go"));
    cmd.env("PYTHONDONTWRITEBYTECODE", "1");
    if !py.pythonpath.is_empty() {
        cmd.env("PYTHONPATH", &py.pythonpath);
    }
    cmd
}

impl Fixture {
    /// Starts a fixture and waits until it reports `ready`. `None` when
    /// the fixture says it cannot run on this interpreter (status 4).
    pub fn start(py: &Python, script: &str, args: &[&str]) -> Option<Fixture> {
        let dir = scratch(script.trim_end_matches(".py"));
        let child = fixture_command(py, script, args, &dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start fixture");
        let mut f = Fixture {
            child,
            truth: dir.join("truth.jsonl"),
            go: dir.join("go"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if read_truth(&f.truth).iter().any(|e| e["event"] == "ready") {
                return Some(f);
            }
            if let Ok(Some(st)) = f.child.try_wait() {
                if st.code() == Some(FIXTURE_SKIP) {
                    return None;
                }
                panic!("fixture {script} on {} exited early: {st}", py.version);
            }
            assert!(
                Instant::now() < deadline,
                "fixture {script} never got ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn go(&self) {
        fs::write(&self.go, b"go").expect("go file");
    }

    /// Waits for the fixture's `done` line.
    pub fn wait_done(&mut self, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = read_truth(&self.truth);
            if events.iter().any(|e| e["event"] == "done") {
                return events;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("fixture exited before done: {st}");
            }
            assert!(Instant::now() < deadline, "fixture never finished");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A running aelm with its stdout lines collected.
pub struct Aelm {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<Value>,
}

impl Aelm {
    pub fn spawn(args: &[&str]) -> Aelm {
        let mut child = Command::new(aelm_bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aelm");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Aelm {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    pub fn attach(pid: u32, extra: &[&str]) -> Aelm {
        let pid = pid.to_string();
        let mut args = vec!["attach", "--pid", &pid];
        args.extend_from_slice(extra);
        Aelm::spawn(&args)
    }

    /// Reads lines until one has `"type": ty`.
    pub fn wait_for(&mut self, ty: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("aelm printed a non-JSON line {line:?}: {e}"));
                    let hit = v["type"] == ty;
                    self.seen.push(v.clone());
                    if hit {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "no {ty} line from aelm within {timeout:?}; saw {:?}",
                    self.seen
                ),
            }
        }
    }

    /// SIGTERM, then collect everything up to the `end` line and the status.
    pub fn stop(self) -> (Vec<Value>, i32) {
        // SAFETY: kill(2) on a child we started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.finish()
    }

    /// SIGTERM, then every line until aelm's stdout closes (sessions with
    /// several targets write several `end` lines), and the status.
    pub fn stop_all(mut self) -> (Vec<Value>, i32) {
        // SAFETY: kill(2) on a child we started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if let Ok(v) = serde_json::from_str(&line) {
                self.seen.push(v);
            } else {
                panic!("aelm printed a non-JSON line {line:?}");
            }
        }
        let status = self.child.wait().expect("aelm status");
        (self.seen, status.code().unwrap_or(-1))
    }

    /// Waits for aelm to exit on its own; returns all lines and the status.
    pub fn finish(mut self) -> (Vec<Value>, i32) {
        let _ = self.wait_for("end", Duration::from_secs(30));
        let status = self.child.wait().expect("aelm status");
        (self.seen, status.code().unwrap_or(-1))
    }
}

/// aelm's JSON lines from its captured stdout (lines that do not parse are
/// left out; the tests that need every line to parse check that themselves).
/// The sampling interval the `start` line announces, in ms (1 when there
/// is none).
pub fn interval_ms(lines: &[Value]) -> f64 {
    lines
        .iter()
        .find(|l| l["type"] == "start")
        .and_then(|s| s["interval_us"].as_f64())
        .unwrap_or(1000.0)
        / 1000.0
}

pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn blocks(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "block" && l["state"] == "ended")
        .collect()
}

/// Seconds since the epoch of an RFC 3339 time aelm printed.
pub fn epoch(rfc3339: &str) -> f64 {
    let t = humantime::parse_rfc3339(rfc3339).expect("RFC 3339 time");
    t.duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs_f64()
}

/// Tolerance on durations beyond one sampling interval: the machine is
/// small and shared.
pub const DURATION_SLACK_MS: f64 = 15.0;

/// Compares aelm's blocks with a fixture's ground truth: every truth block
/// found (same thread, overlapping in time, culprit function/file/line,
/// duration within one interval plus slack, callee file where expected) and
/// no block invented. Returns a list of problems (empty when all is well).
pub fn compare(events: &[Value], lines: &[Value], interval_ms: f64, minor: u32) -> Vec<String> {
    compare_with(events, lines, interval_ms, minor, false)
}

/// [`compare`], optionally tolerating one reported block that spans several
/// truth blocks back to back. That is the known limit of telling callbacks
/// apart by addresses: when a callback ends and the next one runs the same
/// root code in memory just freed (same frame, and on a loop in C no handle
/// to see, or a handle reallocated at the same address), and no sample lands
/// in the short time between them, they read as one callback. Such truth
/// blocks count as found; their culprit and duration are not checked.
pub fn compare_with(
    events: &[Value],
    lines: &[Value],
    interval_ms: f64,
    minor: u32,
    merged_ok: bool,
) -> Vec<String> {
    let truth = truth_blocks(events);
    // Wall-clock stalls a fixture measured (it was descheduled mid-callback):
    // real blocks of the loop, which aelm may report.
    let stalls: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e["event"] == "stall")
        .map(|e| {
            (
                e["start"].as_f64().unwrap_or(0.0),
                e["end"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let found = blocks(lines);
    let mut problems = Vec::new();
    let mut used: HashMap<usize, usize> = HashMap::new();
    let overlaps = |b: &Value, t: &TruthBlock| {
        let start = epoch(b["time"].as_str().unwrap_or(""));
        let end = start + b["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        b["tid"].as_u64() == Some(t.tid)
            && end.min(t.end) - start.max(t.start) > 0.5 * (t.end - t.start)
    };
    let mut merged_truth: Vec<usize> = Vec::new();
    if merged_ok {
        for (bi, b) in found.iter().enumerate() {
            let covered: Vec<usize> = (0..truth.len())
                .filter(|&ti| overlaps(b, &truth[ti]))
                .collect();
            if covered.len() >= 2 {
                eprintln!("one block spans truth blocks {covered:?} (loop in C): {b}");
                used.insert(bi, covered[0]);
                merged_truth.extend(covered);
            }
        }
    }
    for (ti, t) in truth.iter().enumerate() {
        if merged_truth.contains(&ti) {
            continue;
        }
        let hit = found.iter().enumerate().find(|(bi, b)| {
            let start = epoch(b["time"].as_str().unwrap_or(""));
            let end = start + b["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
            let overlap = end.min(t.end) - start.max(t.start);
            !used.contains_key(bi)
                && b["tid"].as_u64() == Some(t.tid)
                && overlap > 0.5 * (t.end - t.start)
        });
        let Some((bi, b)) = hit else {
            // What aelm said around it, for the one reading the failure.
            let near: Vec<String> = found
                .iter()
                .filter(|b| {
                    let start = epoch(b["time"].as_str().unwrap_or(""));
                    let end = start + b["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
                    end > t.start - 0.5 && start < t.end + 0.5
                })
                .map(|b| {
                    let start = epoch(b["time"].as_str().unwrap_or(""));
                    format!(
                        "{:+.3}s {} ms {} ({} samples)",
                        start - t.start,
                        b["duration_ms"],
                        b["culprit"]["qualname"],
                        b["samples"]
                    )
                })
                .collect();
            let end = lines.iter().rev().find(|l| l["type"] == "end");
            problems.push(format!(
                "truth block {ti} ({} at {}, {:.1} ms) not found; reports within 0.5 s: [{}]; end: failed_samples {}, gaps {}, missed_ticks {}",
                t.function,
                t.line,
                (t.end - t.start) * 1000.0,
                near.join("; "),
                end.map_or(Value::Null, |e| e["failed_samples"].clone()),
                end.map_or(Value::Null, |e| e["gaps"].clone()),
                end.map_or(Value::Null, |e| e["missed_ticks"].clone()),
            ));
            continue;
        };
        used.insert(bi, ti);
        let c = &b["culprit"];
        let qual = c["qualname"].as_str().unwrap_or("");
        // Before 3.11 code objects carry no qualname: only the last part.
        let short = t.function.rsplit('.').next().unwrap_or(&t.function);
        let name_ok = qual == t.function || (minor < 11 && qual == short);
        if !name_ok || c["file"] != t.file.as_str() || c["line"].as_u64() != Some(t.line) {
            problems.push(format!(
                "block {ti}: culprit {qual} {}:{} expected {} {}:{}",
                c["file"], c["line"], t.function, t.file, t.line
            ));
        }
        let want = (t.end - t.start) * 1000.0;
        let got = b["duration_ms"].as_f64().unwrap_or(0.0);
        if (got - want).abs() > interval_ms + DURATION_SLACK_MS {
            problems.push(format!("block {ti}: duration {got} ms, truth {want:.1} ms"));
        }
        if let Some(cf) = &t.callee_file {
            let callee = b["callee"]["file"].as_str().unwrap_or("");
            if !callee.contains(cf.as_str()) {
                problems.push(format!("block {ti}: callee {callee:?} expected in {cf}"));
            }
        }
    }
    let slack = (interval_ms + DURATION_SLACK_MS) / 1000.0;
    for (bi, b) in found.iter().enumerate() {
        if used.contains_key(&bi) {
            continue;
        }
        let start = epoch(b["time"].as_str().unwrap_or(""));
        let end = start + b["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0;
        let excused = stalls
            .iter()
            .any(|&(s, e)| start >= s - slack && end <= e + slack);
        if excused {
            eprintln!("block during a measured stall of the target (not invented): {b}");
        } else {
            problems.push(format!("invented block: {b}"));
        }
    }
    problems
}

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The body of `GET path` on 127.0.0.1:port, HTTP/1.0; `None` on any error.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

/// `aelm run ARGS -- PYTHON FIXTURE`: the fixture records its truth in
/// `dir` and exits once its scripted phase is done. The caller adds its own
/// environment and runs the command.
pub fn aelm_run(py: &Python, script: &str, args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new(aelm_bin());
    cmd.arg("run")
        .args(args)
        .arg("--")
        .arg(&py.exe)
        .arg(fixture(script))
        .env("AELM_TRUTH", dir.join("truth.jsonl"))
        .env("AELM_EXIT_AFTER_DONE", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONPATH", &py.pythonpath);
    cmd
}
