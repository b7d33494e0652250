//! `aelm report` and `--html FILE`: one self-contained HTML page from aelm's
//! JSON lines (schema v1, see [`crate::report`]).
//!
//! The page holds its styles, script and data inline and refers to no other
//! host, so it opens offline and can be attached to a ticket. It shows:
//!
//! 1. a **timeline**, one lane per (process, loop thread), each block a bar
//!    at its start time, as wide as its duration; hover or focus shows the
//!    culprit, duration, samples and stack; zoom by dragging, with buttons or
//!    with a time range. Bars closer than a pixel are drawn as one
//!    aggregated bar (the page says how many), so any number of blocks stays
//!    drawable;
//! 2. the **top culprits** table (count, total, p50/p99/max, share of the
//!    observed loop time), sortable by every column; choosing a culprit
//!    highlights its blocks and shows its flame graph;
//! 3. **flame graphs** of the blocked stacks weighted by blocked time, drawn
//!    by the `inferno` crate: one of all blocks and one for each of the
//!    20 culprits with the most blocked time;
//! 4. the run's **facts**: targets (pid, Python, command line), threshold,
//!    rate, samples, failed samples, time covered.
//!
//! Lines that are not aelm's (not JSON, unknown `type`) or are broken (a
//! `block` without a readable `time`, `pid`, `tid`, `duration_ms` or
//! `culprit.name`) are skipped and counted, on the page and on stderr.
//! A line with a prefix before its JSON object (`kubectl logs
//! --timestamps`, `docker logs -t`) is read from its first `{`.

mod flame;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::io::{self, BufRead};
use std::path::Path;

use crate::summary::{percentile, round3};
use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Culprits (by total blocked time) that get a flame graph of their own,
/// besides the one of all blocks.
const FLAME_TOP: usize = 20;
/// Blocks whose bars the page carries. Beyond this, the shortest blocks are
/// left out of the timeline (and the page says so); the tables and flame
/// graphs still count every block.
const MAX_DRAWN: usize = 250_000;
/// Bytes of stacks (frames and files) the page carries for the timeline's
/// tooltips, heaviest stacks first; blocks beyond it show no stack (the page
/// says so; the flame graphs still have every stack).
const STACK_BUDGET: usize = 6_000_000;
/// Rows of the culprits table the page carries (the rest are summed up).
const MAX_CULPRIT_ROWS: usize = 2_000;
/// Skipped lines named on the page and on stderr as examples.
const SKIP_EXAMPLES: usize = 5;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");
const PAGE: &str = include_str!("page.html");

/// What a report read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportStats {
    /// Non-blank lines read, skipped ones included.
    pub lines: u64,
    /// Blocks on the page: ended blocks, and ongoing ones with no ended line.
    pub blocks: u64,
    /// Lines skipped: not aelm's JSON lines, or broken.
    pub skipped: u64,
    /// Size of the HTML file written.
    pub bytes: u64,
}

/// Reads aelm JSON lines from `inputs` (paths; "-" = stdin) and writes one
/// self-contained HTML file. An empty `inputs` reads stdin. Skipped lines
/// are reported on stderr.
pub fn report_files(inputs: &[String], out: &Path) -> Result<ReportStats> {
    let stdin_only = [String::from("-")];
    let inputs = if inputs.is_empty() {
        &stdin_only[..]
    } else {
        inputs
    };
    let mut b = Builder::default();
    for f in inputs {
        if f == "-" {
            b.begin_source("stdin");
            b.read(io::stdin().lock()).context("reading stdin")?;
        } else {
            b.begin_source(f);
            let file = std::fs::File::open(f).with_context(|| format!("opening {f}"))?;
            b.read(io::BufReader::with_capacity(1 << 16, file))
                .with_context(|| format!("reading {f}"))?;
        }
    }
    b.finish(out)
}

/// Same, from lines already in memory (`--html FILE` at the end of
/// attach/run/watch). `skipped` counts lines the caller could not read; they
/// are added to the page's skipped count.
pub fn report_lines(lines: &[Value], skipped: u64, out: &Path) -> Result<ReportStats> {
    let mut b = Builder::default();
    b.begin_source("this aelm session");
    for v in lines {
        b.lines += 1;
        b.line_no += 1;
        b.add_value(v);
    }
    b.lines += skipped;
    b.skipped += skipped;
    b.finish(out)
}

// ---------------------------------------------------------------------------
// Reading

/// Values interned to dense ids.
#[derive(Debug)]
struct Interner<K> {
    map: HashMap<K, u32>,
    list: Vec<K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            map: HashMap::new(),
            list: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    fn id(&mut self, k: K) -> u32 {
        if let Some(&i) = self.map.get(&k) {
            return i;
        }
        let i = self.list.len() as u32;
        self.map.insert(k.clone(), i);
        self.list.push(k);
        i
    }
}

/// A frame: qualname, file (ids of interned strings), line.
type FrameKey = (u32, u32, i64);

/// A frame as a line has it.
#[derive(Debug, Deserialize)]
struct FrameIn<'a> {
    #[serde(borrow)]
    qualname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    file: Option<Cow<'a, str>>,
    line: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CulpritIn<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    file: Option<Cow<'a, str>>,
    line: Option<i64>,
}

/// What the report takes from a line, `block` lines whole (read without
/// building a `Value`, the common case made fast); fields it does not use
/// are not read.
#[derive(Debug, Deserialize)]
struct LineIn<'a> {
    #[serde(borrow, rename = "type")]
    ty: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    pid: Option<i64>,
    tid: Option<i64>,
    #[serde(borrow)]
    thread: Option<Cow<'a, str>>,
    duration_ms: Option<f64>,
    samples: Option<u64>,
    #[serde(borrow)]
    state: Option<Cow<'a, str>>,
    truncated: Option<bool>,
    #[serde(borrow)]
    culprit: Option<CulpritIn<'a>>,
    #[serde(borrow)]
    callee: Option<FrameIn<'a>>,
    #[serde(borrow, default)]
    stack: Option<Vec<FrameIn<'a>>>,
}

const NONE: u32 = u32::MAX;
const FLAG_ONGOING: u8 = 1;
const FLAG_TRUNCATED: u8 = 2;

#[derive(Debug, Clone)]
struct Blk {
    lane: u32,
    start_us: i64,
    dur_ms: f64,
    culprit: u32,
    line: i64,
    samples: u64,
    stack: u32,
    callee: u32,
    flags: u8,
}

/// One process as one source saw it (a pid reused later is a new target).
#[derive(Debug, Default)]
struct Target {
    source: usize,
    pid: i64,
    start: Option<Value>,
    end: Option<Value>,
    /// Blocks seen: count, first start, last end (µs since the epoch).
    blocks: u64,
    first_us: Option<i64>,
    last_end_us: Option<i64>,
}

#[derive(Debug)]
struct Lane {
    target: usize,
    tid: i64,
    thread: Option<String>,
    /// Position among the target's loop threads at start (for ordering).
    order: usize,
}

#[derive(Debug, Default)]
struct Builder {
    sources: Vec<String>,
    source: usize,
    line_no: u64,
    lines: u64,
    skipped: u64,
    skip_examples: Vec<String>,
    targets: Vec<Target>,
    /// (source, pid) -> current target.
    current: HashMap<(usize, i64), usize>,
    lanes: Vec<Lane>,
    lane_by: HashMap<(usize, i64), u32>,
    strs: Interner<String>,
    frames: Interner<FrameKey>,
    stacks: Interner<Vec<u32>>,
    culprits: Interner<(u32, u32)>,
    blocks: Vec<Blk>,
    /// (lane, start) of ongoing blocks not yet ended -> index in `blocks`.
    ongoing: HashMap<(u32, i64), usize>,
}

impl Builder {
    fn begin_source(&mut self, name: &str) {
        self.sources.push(name.to_string());
        self.source = self.sources.len() - 1;
        self.line_no = 0;
    }

    fn read(&mut self, mut r: impl BufRead) -> io::Result<()> {
        let mut buf = Vec::with_capacity(4096);
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)? == 0 {
                return Ok(());
            }
            self.line_no += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.lines += 1;
            if let Ok(l) = serde_json::from_slice::<LineIn>(&buf)
                && l.ty.as_deref() == Some("block")
            {
                if !self.add_block(&l) {
                    self.skip();
                }
                continue;
            }
            let v = serde_json::from_slice::<Value>(&buf).ok().or_else(|| {
                // A prefix before the object: a log pipeline's timestamp.
                let i = buf.iter().position(|&c| c == b'{')?;
                serde_json::from_slice::<Value>(&buf[i..]).ok()
            });
            match v {
                Some(v) => self.add_value(&v),
                None => self.skip(),
            }
        }
    }

    fn skip(&mut self) {
        self.skipped += 1;
        if self.skip_examples.len() < SKIP_EXAMPLES {
            let src = &self.sources[self.source];
            self.skip_examples
                .push(format!("{src} line {}", self.line_no));
        }
    }

    /// Takes one JSON value; counts it as skipped unless it is one of
    /// aelm's lines.
    fn add_value(&mut self, v: &Value) {
        let ok = match v.get("type").and_then(Value::as_str) {
            Some("start") => self.add_start(v),
            Some("block") => LineIn::deserialize(v).is_ok_and(|l| self.add_block(&l)),
            Some("end") => self.add_end(v),
            _ => false,
        };
        if !ok {
            self.skip();
        }
    }

    fn new_target(&mut self, pid: i64) -> usize {
        self.targets.push(Target {
            source: self.source,
            pid,
            ..Target::default()
        });
        let t = self.targets.len() - 1;
        self.current.insert((self.source, pid), t);
        t
    }

    fn lane(&mut self, target: usize, tid: i64, thread: Option<&str>) -> u32 {
        let next = self.lanes.len() as u32;
        let id = *self.lane_by.entry((target, tid)).or_insert(next);
        if id == next {
            self.lanes.push(Lane {
                target,
                tid,
                thread: None,
                order: usize::MAX,
            });
        }
        if let Some(name) = thread {
            self.lanes[id as usize].thread = Some(name.to_string());
        }
        id
    }

    fn add_start(&mut self, v: &Value) -> bool {
        let Some(pid) = v.get("pid").and_then(Value::as_i64) else {
            return false;
        };
        let t = match self.current.get(&(self.source, pid)) {
            Some(&t)
                if self.targets[t].start.is_none()
                    && self.targets[t].end.is_none()
                    && self.targets[t].blocks == 0 =>
            {
                t
            }
            _ => self.new_target(pid),
        };
        if let Some(threads) = v.get("loop_threads").and_then(Value::as_array) {
            for (i, th) in threads.iter().enumerate() {
                if let Some(tid) = th.get("tid").and_then(Value::as_i64) {
                    let name = th.get("name").and_then(Value::as_str);
                    let l = self.lane(t, tid, name);
                    let lane = &mut self.lanes[l as usize];
                    lane.order = lane.order.min(i);
                }
            }
        }
        self.targets[t].start = Some(v.clone());
        true
    }

    fn add_end(&mut self, v: &Value) -> bool {
        if v.get("reason").is_none() && v.get("samples").is_none() {
            return false;
        }
        let pid = v.get("pid").and_then(Value::as_i64);
        let t = match pid {
            Some(pid) => match self.current.get(&(self.source, pid)) {
                Some(&t) if self.targets[t].end.is_none() => t,
                _ => self.new_target(pid),
            },
            // Older lines have no pid: the last target of this source that
            // has not ended.
            None => match self
                .targets
                .iter()
                .rposition(|t| t.source == self.source && t.end.is_none())
            {
                Some(t) => t,
                None => self.new_target(-1),
            },
        };
        let mut end = v.clone();
        if let Some(m) = end.as_object_mut() {
            m.remove("top");
        }
        self.targets[t].end = Some(end);
        true
    }

    fn str_id(&mut self, s: &str) -> u32 {
        match self.strs.map.get(s) {
            Some(&i) => i,
            None => self.strs.id(s.to_string()),
        }
    }

    fn frame(&mut self, f: &FrameIn) -> Option<u32> {
        let q = self.str_id(f.qualname.as_deref()?);
        let file = self.str_id(f.file.as_deref().unwrap_or(""));
        Some(self.frames.id((q, file, f.line.unwrap_or(0))))
    }

    fn add_block(&mut self, v: &LineIn) -> bool {
        let time = v.time.as_deref().and_then(|s| {
            let t = humantime::parse_rfc3339_weak(s).ok()?;
            let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
            i64::try_from(d.as_micros()).ok()
        });
        // Up to 30 years: anything longer is a broken line.
        let dur = v.duration_ms.filter(|d| (0.0..1e12).contains(d));
        let name = v.culprit.as_ref().and_then(|c| c.name.as_deref());
        let (Some(start_us), Some(pid), Some(tid), Some(dur_ms), Some(name)) =
            (time, v.pid, v.tid, dur, name)
        else {
            return false;
        };
        let c = v.culprit.as_ref().expect("culprit has a name");
        let file = c.file.as_deref().unwrap_or("");
        let line = c.line.unwrap_or(0);
        let ongoing = v.state.as_deref() == Some("ongoing");
        let truncated = v.truncated == Some(true);

        let t = match self.current.get(&(self.source, pid)) {
            Some(&t) if self.targets[t].end.is_none() => t,
            _ => self.new_target(pid),
        };
        let lane = self.lane(t, tid, v.thread.as_deref());
        let culprit = (self.str_id(name), self.str_id(file));
        let culprit = self.culprits.id(culprit);
        let stack: Vec<u32> = v
            .stack
            .iter()
            .flatten()
            .filter_map(|f| self.frame(f))
            .collect();
        let stack = if stack.is_empty() {
            NONE
        } else {
            match self.stacks.map.get(&stack[..]) {
                Some(&i) => i,
                None => self.stacks.id(stack),
            }
        };
        let callee = v
            .callee
            .as_ref()
            .and_then(|f| self.frame(f))
            .unwrap_or(NONE);
        let blk = Blk {
            lane,
            start_us,
            dur_ms,
            culprit,
            line,
            samples: v.samples.unwrap_or(0),
            stack,
            callee,
            flags: if ongoing { FLAG_ONGOING } else { 0 }
                | if truncated { FLAG_TRUNCATED } else { 0 },
        };
        // An ongoing line is followed by an ended line with the same time:
        // one block.
        let key = (lane, start_us);
        let target = &mut self.targets[t];
        match self.ongoing.get(&key).copied() {
            Some(i) => {
                let end_us = start_us + (dur_ms * 1000.0) as i64;
                target.last_end_us = target.last_end_us.max(Some(end_us));
                self.blocks[i] = blk;
                if !ongoing {
                    self.ongoing.remove(&key);
                }
            }
            None => {
                let end_us = start_us + (dur_ms * 1000.0) as i64;
                target.blocks += 1;
                target.first_us = Some(target.first_us.map_or(start_us, |f| f.min(start_us)));
                target.last_end_us = target.last_end_us.max(Some(end_us));
                if ongoing {
                    self.ongoing.insert(key, self.blocks.len());
                }
                self.blocks.push(blk);
            }
        }
        true
    }

    /// A frame's qualname, file and line.
    fn frame_of(&self, f: u32) -> (&str, &str, i64) {
        let (q, file, line) = self.frames.list[f as usize];
        (
            &self.strs.list[q as usize],
            &self.strs.list[file as usize],
            line,
        )
    }

    /// A culprit's name and file.
    fn culprit_of(&self, c: usize) -> (&str, &str) {
        let (name, file) = self.culprits.list[c];
        (
            &self.strs.list[name as usize],
            &self.strs.list[file as usize],
        )
    }

    // -----------------------------------------------------------------------
    // Building the page

    fn finish(self, out: &Path) -> Result<ReportStats> {
        if self.skipped > 0 {
            eprintln!(
                "aelm: report: skipped {} of {} lines that are not aelm's JSON lines or are broken ({}{})",
                self.skipped,
                self.lines,
                self.skip_examples.join(", "),
                if self.skipped > self.skip_examples.len() as u64 {
                    ", ..."
                } else {
                    ""
                }
            );
        }
        let page = self.page();
        std::fs::write(out, page.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
        Ok(ReportStats {
            lines: self.lines,
            blocks: self.blocks.len() as u64,
            skipped: self.skipped,
            bytes: page.len() as u64,
        })
    }

    /// Time each target was watched, in ms, and whether it is only
    /// estimated from its blocks (no `end` line with a rate).
    fn covered_ms(&self, t: &Target) -> (f64, bool) {
        let end = t.end.as_ref();
        let samples = end.and_then(|e| e.get("samples")).and_then(Value::as_f64);
        let hz = end
            .and_then(|e| e.get("achieved_hz"))
            .and_then(Value::as_f64);
        if let (Some(s), Some(hz)) = (samples, hz)
            && hz > 0.0
        {
            return (s / hz * 1000.0, false);
        }
        match (t.first_us, t.last_end_us) {
            (Some(a), Some(b)) => ((b - a) as f64 / 1000.0, true),
            _ => (0.0, true),
        }
    }

    /// Loop threads of a target: those named at start, and any other a
    /// block ran on.
    fn loop_threads(&self, ti: usize) -> usize {
        let at_start = self.targets[ti]
            .start
            .as_ref()
            .and_then(|s| s.get("loop_threads"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let lanes = self.lanes.iter().filter(|l| l.target == ti).count();
        at_start.max(lanes).max(1)
    }

    fn page(&self) -> String {
        // Lanes in target order, then the loop threads' order at start.
        let mut lane_order: Vec<u32> = (0..self.lanes.len() as u32).collect();
        lane_order.sort_by_key(|&l| {
            let lane = &self.lanes[l as usize];
            (lane.target, lane.order, lane.tid)
        });
        let mut lane_pos = vec![0u32; self.lanes.len()];
        for (pos, &l) in lane_order.iter().enumerate() {
            lane_pos[l as usize] = pos as u32;
        }

        // Observed loop time.
        let mut observed_ms = 0.0;
        let mut any_estimate = false;
        for (ti, t) in self.targets.iter().enumerate() {
            let (ms, est) = self.covered_ms(t);
            if ms > 0.0 {
                any_estimate |= est;
                observed_ms += ms * self.loop_threads(ti) as f64;
            }
        }

        // Culprits, ranked by total blocked time.
        let nc = self.culprits.list.len();
        let mut durs: Vec<Vec<f64>> = vec![Vec::new(); nc];
        let mut ongoing_n = vec![0u64; nc];
        let mut lines: Vec<Vec<i64>> = vec![Vec::new(); nc];
        for b in &self.blocks {
            let c = b.culprit as usize;
            durs[c].push(b.dur_ms);
            if b.flags & FLAG_ONGOING != 0 {
                ongoing_n[c] += 1;
            }
            if lines[c].len() < 8 && !lines[c].contains(&b.line) {
                lines[c].push(b.line);
            }
        }
        let totals: Vec<f64> = durs.iter().map(|d| d.iter().sum()).collect();
        let mut rank: Vec<usize> = (0..nc).collect();
        rank.sort_by(|&a, &b| {
            totals[b]
                .total_cmp(&totals[a])
                .then_with(|| self.culprit_of(a).cmp(&self.culprit_of(b)))
        });
        let mut rank_of = vec![0u32; nc];
        for (r, &c) in rank.iter().enumerate() {
            rank_of[c] = r as u32;
        }

        // Flame graphs: all blocks, then the top culprits.
        let mut flames: Vec<Value> = Vec::new();
        let mut flame_of: HashMap<usize, usize> = HashMap::new();
        let all = self.folded(None);
        if let Some(f) = flame::render("Blocked stacks: all culprits", &all) {
            flames.push(json!({"title": "All culprits", "culprit": Value::Null,
                               "svg": f.svg, "height": f.height}));
            for &c in rank.iter().take(FLAME_TOP) {
                let name = self.culprit_of(c).0;
                let folded = self.folded(Some(c as u32));
                if let Some(f) = flame::render(&format!("Blocked stacks: {name}"), &folded) {
                    flame_of.insert(c, flames.len());
                    flames.push(json!({"title": name, "culprit": rank_of[c],
                                       "svg": f.svg, "height": f.height}));
                }
            }
        }

        let mut culprit_rows: Vec<Value> = Vec::new();
        for (r, &c) in rank.iter().enumerate() {
            if r >= MAX_CULPRIT_ROWS {
                break;
            }
            let mut d = std::mem::take(&mut durs[c]);
            d.sort_by(f64::total_cmp);
            let (name, file) = self.culprit_of(c);
            culprit_rows.push(json!({
                "name": name, "file": file, "lines": lines[c],
                "code": code(r), "n": d.len(), "ongoing": ongoing_n[c],
                "total": round3(totals[c]), "p50": round3(percentile(&d, 50.0)),
                "p99": round3(percentile(&d, 99.0)),
                "max": round3(d.last().copied().unwrap_or(0.0)),
                "share": if observed_ms > 0.0 { json!(totals[c] / observed_ms) } else { Value::Null },
                "flame": flame_of.get(&c),
            }));
        }
        let rest: Vec<usize> = rank.iter().skip(MAX_CULPRIT_ROWS).copied().collect();
        let rest_json = if rest.is_empty() {
            Value::Null
        } else {
            let n: usize = rest.iter().map(|&c| durs[c].len()).sum();
            let total: f64 = rest.iter().map(|&c| totals[c]).sum();
            json!({"culprits": rest.len(), "n": n, "total": round3(total)})
        };

        // Blocks drawn: all of them, or the MAX_DRAWN longest.
        let mut order: Vec<usize> = (0..self.blocks.len()).collect();
        let hidden = order.len().saturating_sub(MAX_DRAWN);
        if hidden > 0 {
            order.sort_by(|&a, &b| self.blocks[b].dur_ms.total_cmp(&self.blocks[a].dur_ms));
            order.truncate(MAX_DRAWN);
        }
        order.sort_by_key(|&i| {
            (
                lane_pos[self.blocks[i].lane as usize],
                self.blocks[i].start_us,
            )
        });
        let t0 = self.blocks.iter().map(|b| b.start_us).min().unwrap_or(0);
        let span_ms = self
            .blocks
            .iter()
            .map(|b| (b.start_us - t0) as f64 / 1000.0 + b.dur_ms)
            .fold(0.0, f64::max);
        // Stacks for the tooltips, heaviest first, within STACK_BUDGET
        // bytes; frames and files interned.
        let mut stack_ms: HashMap<u32, f64> = HashMap::new();
        for &i in &order {
            let b = &self.blocks[i];
            if b.stack != NONE {
                *stack_ms.entry(b.stack).or_default() += b.dur_ms;
            }
        }
        let mut by_weight: Vec<(u32, f64)> = stack_ms.into_iter().collect();
        by_weight.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut tables = Tables::new(self, STACK_BUDGET);
        let mut stack_ids: HashMap<u32, i64> = HashMap::new();
        let mut stacks_omitted = 0usize;
        for (st, _) in by_weight {
            match tables.stack(st) {
                Some(id) => stack_ids.insert(st, id as i64),
                None => {
                    stacks_omitted += 1;
                    stack_ids.insert(st, -2)
                }
            };
        }
        let n = order.len();
        let mut cols: [String; 9] = Default::default();
        for c in cols.iter_mut() {
            c.reserve(n * 4);
            c.push('[');
        }
        for (k, &i) in order.iter().enumerate() {
            let b = &self.blocks[i];
            if k > 0 {
                for c in cols.iter_mut() {
                    c.push(',');
                }
            }
            let stack = if b.stack == NONE {
                -1
            } else {
                stack_ids[&b.stack]
            };
            let callee = if b.callee == NONE {
                -1
            } else {
                tables.frame(b.callee).map_or(-1, i64::from)
            };
            let _ = write!(cols[0], "{}", lane_pos[b.lane as usize]);
            let _ = write!(cols[1], "{}", round3((b.start_us - t0) as f64 / 1000.0));
            let _ = write!(cols[2], "{}", round3(b.dur_ms));
            let _ = write!(cols[3], "{}", rank_of[b.culprit as usize]);
            let _ = write!(cols[4], "{}", b.line);
            let _ = write!(cols[5], "{}", b.samples);
            let _ = write!(cols[6], "{stack}");
            let _ = write!(cols[7], "{callee}");
            let _ = write!(cols[8], "{}", b.flags);
        }
        for c in cols.iter_mut() {
            c.push(']');
        }
        let culprits_more: Vec<Value> = rest
            .iter()
            .map(|&c| {
                // The file only where the page has it already.
                let (name, file) = self.culprit_of(c);
                match tables.files.map.get(file) {
                    Some(&f) => json!([name, f]),
                    None => json!([name, -1]),
                }
            })
            .collect();

        let lanes_json: Vec<Value> = lane_order
            .iter()
            .map(|&l| {
                let lane = &self.lanes[l as usize];
                let t = &self.targets[lane.target];
                let thread = lane.thread.as_deref().unwrap_or("thread");
                let mut label = format!("pid {} · {thread}", t.pid);
                if lane.tid != t.pid || lane.thread.is_none() {
                    let _ = write!(label, " (tid {})", lane.tid);
                }
                json!({"label": label, "target": lane.target,
                       "source": if self.sources.len() > 1 { Some(&self.sources[t.source]) } else { None },
                       "cmdline": t.start.as_ref().and_then(|s| s.get("cmdline")).and_then(Value::as_str)})
            })
            .collect();

        let ongoing_only = self
            .blocks
            .iter()
            .filter(|b| b.flags & FLAG_ONGOING != 0)
            .count();
        let truncated = self
            .blocks
            .iter()
            .filter(|b| b.flags & FLAG_TRUNCATED != 0)
            .count();
        let blocked_ms: f64 = totals.iter().sum();

        let mut data = Map::new();
        data.insert("t0_us".into(), json!(t0));
        data.insert("span".into(), json!(round3(span_ms)));
        data.insert("lanes".into(), json!(lanes_json));
        data.insert("culprits".into(), json!(culprit_rows));
        data.insert("culprits_rest".into(), rest_json);
        data.insert("culprits_more".into(), json!(culprits_more));
        data.insert("culprit_count".into(), json!(nc));
        data.insert("hidden".into(), json!(hidden));
        data.insert("blocks".into(), json!(self.blocks.len()));
        data.insert("stacks_omitted".into(), json!(stacks_omitted));
        data.insert("flames".into(), json!(flames));
        data.insert("flame_top".into(), json!(FLAME_TOP));
        data.insert("observed_ms".into(), json!(round3(observed_ms)));
        data.insert("blocked_ms".into(), json!(round3(blocked_ms)));
        let mut data = serde_json::to_string(&Value::Object(data)).expect("JSON of a Value");
        data.pop(); // the closing brace: the big arrays follow, written directly
        let (files, frames, stacks) = tables.into_json();
        let _ = write!(
            data,
            ",\"files\":{files},\"frames\":{frames},\"stacks\":{stacks},\"b\":{{"
        );
        for (k, (name, col)) in [
            "lane", "start", "dur", "cul", "line", "samp", "stack", "callee", "flag",
        ]
        .iter()
        .zip(&cols)
        .enumerate()
        {
            if k > 0 {
                data.push(',');
            }
            let _ = write!(data, "\"{name}\":{col}");
        }
        data.push_str("}}");
        let data = script_json(&data);

        // The static parts: summary and facts.
        let mut summary = String::new();
        let nblocks = self.blocks.len();
        let _ = write!(
            summary,
            "<p class=\"lede\"><strong>{nblocks}</strong> {} on <strong>{}</strong> loop {} in <strong>{}</strong> {}, <strong>{}</strong> blocked in total",
            plural(nblocks, "block", "blocks"),
            self.lanes.len(),
            plural(self.lanes.len(), "thread", "threads"),
            self.targets.len(),
            plural(self.targets.len(), "process", "processes"),
            fmt_ms(blocked_ms),
        );
        if observed_ms > 0.0 {
            let _ = write!(
                summary,
                " ({} of {}{} of observed loop time)",
                fmt_pct(blocked_ms / observed_ms),
                if any_estimate { "≈" } else { "" },
                fmt_ms(observed_ms)
            );
        }
        summary.push('.');
        if ongoing_only > 0 || truncated > 0 {
            let _ = write!(
                summary,
                " {ongoing_only} still going when the last line was written (marked ▶ on the timeline); {truncated} cut short when aelm stopped watching (marked ✂)."
            );
        }
        summary.push_str("</p>\n");
        let files = if self.sources.len() <= 4 {
            self.sources
                .iter()
                .map(|s| format!("<code>{}</code>", esc(s)))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            format!("{} inputs", self.sources.len())
        };
        let _ = writeln!(
            summary,
            "<p id=\"input\" data-lines=\"{}\" data-skipped=\"{}\">Read {} {} from {files}. <span class=\"{}\" id=\"skipped\"><strong>{} {} skipped</strong>{}</span></p>",
            self.lines,
            self.skipped,
            self.lines,
            plural(self.lines as usize, "line", "lines"),
            if self.skipped > 0 { "warn" } else { "ok" },
            self.skipped,
            plural(self.skipped as usize, "line", "lines"),
            if self.skipped > 0 {
                format!(
                    ": not aelm's JSON lines, or broken (e.g. {}).",
                    esc(&self.skip_examples.join(", "))
                )
            } else {
                " (not aelm's JSON lines, or broken).".to_string()
            }
        );

        let facts = self.facts(observed_ms, any_estimate, blocked_ms);

        let title = format!(
            "aelm report: {nblocks} {} in {} {}",
            plural(nblocks, "block", "blocks"),
            self.targets.len(),
            plural(self.targets.len(), "process", "processes")
        );
        fill(
            PAGE,
            &[
                ("VERSION", env!("CARGO_PKG_VERSION")),
                ("TITLE", &esc(&title)),
                ("CSS", CSS),
                ("SUMMARY", &summary),
                ("NBLOCKS", &nblocks.to_string()),
                ("DRAWN", &n.to_string()),
                ("HIDDEN", &hidden.to_string()),
                ("ONGOING", &ongoing_only.to_string()),
                ("NLANES", &self.lanes.len().to_string()),
                ("FLAME_TOP", &FLAME_TOP.to_string()),
                ("FACTS", &facts),
                ("DATA", &data),
                ("JS", JS),
            ],
        )
    }

    /// Folded stacks (outermost first) with their blocked µs, of all blocks
    /// or one culprit's.
    fn folded(&self, culprit: Option<u32>) -> Vec<(String, u64)> {
        let mut by_stack: HashMap<u32, u64> = HashMap::new();
        let mut no_stack: HashMap<u32, u64> = HashMap::new();
        for b in &self.blocks {
            if culprit.is_some_and(|c| c != b.culprit) {
                continue;
            }
            let us = (b.dur_ms * 1000.0).round().max(1.0) as u64;
            if b.stack == NONE {
                *no_stack.entry(b.culprit).or_default() += us;
            } else {
                *by_stack.entry(b.stack).or_default() += us;
            }
        }
        let label = |f: u32| {
            let (q, file, line) = self.frame_of(f);
            flame::label(q, file, line)
        };
        let mut out: Vec<(String, u64)> = by_stack
            .into_iter()
            .map(|(s, us)| {
                let frames = &self.stacks.list[s as usize];
                let folded = frames
                    .iter()
                    .rev()
                    .map(|&f| label(f))
                    .collect::<Vec<_>>()
                    .join(";");
                (folded, us)
            })
            .collect();
        for (c, us) in no_stack {
            let (name, file) = self.culprit_of(c as usize);
            out.push((flame::label(name, file, 0), us));
        }
        out.sort();
        out
    }

    /// The facts section: totals, then one row per target.
    fn facts(&self, observed_ms: f64, any_estimate: bool, blocked_ms: f64) -> String {
        let mut s = String::new();
        let mut samples = 0u64;
        let mut failed = 0u64;
        let mut gaps = 0u64;
        let mut thresholds: Vec<String> = Vec::new();
        let mut rates: Vec<String> = Vec::new();
        let add = |list: &mut Vec<String>, v: String| {
            if !list.contains(&v) {
                list.push(v);
            }
        };
        for t in &self.targets {
            if let Some(e) = &t.end {
                samples += e.get("samples").and_then(Value::as_u64).unwrap_or(0);
                failed += e.get("failed_samples").and_then(Value::as_u64).unwrap_or(0);
                gaps += e.get("gaps").and_then(Value::as_u64).unwrap_or(0);
            }
            if let Some(st) = &t.start {
                if let Some(th) = st.get("threshold_ms").and_then(Value::as_f64) {
                    add(&mut thresholds, format!("{} ms", num(th)));
                }
                if let Some(iv) = st.get("interval_us").and_then(Value::as_f64) {
                    add(&mut rates, rate(iv));
                }
            }
        }
        let first = self.blocks.iter().map(|b| b.start_us).min();
        let last = self
            .blocks
            .iter()
            .map(|b| b.start_us + (b.dur_ms * 1000.0) as i64)
            .max();
        let range = match (first, last) {
            (Some(a), Some(b)) => format!(
                "{} to {} UTC",
                esc(&utc(a)),
                esc(&utc(b)).split('T').nth(1).unwrap_or("")
            ),
            _ => "no blocks".to_string(),
        };
        let none = || "<span class=\"muted\">not known</span>".to_string();
        let list = |l: &Vec<String>| {
            if l.is_empty() {
                none()
            } else {
                esc(&l.join(", "))
            }
        };
        let _ = writeln!(
            s,
            "<dl class=\"facts\" id=\"facts\">\
<dt>Processes</dt><dd>{}</dd>\
<dt>Loop threads</dt><dd>{}</dd>\
<dt>Threshold</dt><dd>{}</dd>\
<dt>Sampling rate</dt><dd>{}</dd>\
<dt>Samples</dt><dd>{samples}</dd>\
<dt>Failed samples</dt><dd>{failed}{}</dd>\
<dt>Gaps</dt><dd>{gaps}</dd>\
<dt>Time covered</dt><dd>{}{} of loop time{}</dd>\
<dt>Blocked</dt><dd>{} in {} {}</dd>\
<dt>Blocks between</dt><dd>{range}</dd>\
</dl>",
            self.targets.len(),
            self.lanes.len(),
            list(&thresholds),
            list(&rates),
            if samples > 0 {
                format!(" ({})", fmt_pct(failed as f64 / samples as f64))
            } else {
                String::new()
            },
            if any_estimate { "≈" } else { "" },
            fmt_ms(observed_ms),
            if any_estimate {
                " (some processes have no end line: estimated from their blocks)"
            } else {
                ""
            },
            fmt_ms(blocked_ms),
            self.blocks.len(),
            plural(self.blocks.len(), "block", "blocks"),
        );
        s.push_str("<div class=\"table-wrap\"><table class=\"data\" id=\"targets\"><caption>Targets</caption><thead><tr>");
        for h in [
            "pid",
            "Python",
            "Command line",
            "Loop threads",
            "Threshold",
            "Rate",
            "Samples",
            "Failed",
            "Gaps",
            "Blocks",
            "Blocked",
            "Covered",
            "End",
        ] {
            let _ = write!(s, "<th scope=\"col\">{h}</th>");
        }
        s.push_str("</tr></thead><tbody>\n");
        const MAX_TARGET_ROWS: usize = 500;
        for (ti, t) in self.targets.iter().enumerate().take(MAX_TARGET_ROWS) {
            let st = t.start.as_ref();
            let en = t.end.as_ref();
            let sv = |k: &str| st.and_then(|v| v.get(k));
            let ev = |k: &str| en.and_then(|v| v.get(k));
            let text = |v: Option<&Value>| match v {
                Some(Value::String(x)) => esc(x),
                Some(Value::Null) | None => none(),
                Some(x) => esc(&x.to_string()),
            };
            let threads = sv("loop_threads")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            format!(
                                "{} ({})",
                                t.get("name").and_then(Value::as_str).unwrap_or("?"),
                                t.get("tid").map(|v| v.to_string()).unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .map(|x| esc(&x))
                .unwrap_or_else(none);
            let mut pid = esc(&t.pid.to_string());
            if self.sources.len() > 1 {
                let _ = write!(
                    pid,
                    "<div class=\"muted\">{}</div>",
                    esc(&self.sources[t.source])
                );
            }
            for (k, label) in [
                ("parent", "parent"),
                ("container", "container"),
                ("pod_uid", "pod"),
            ] {
                if let Some(v) = sv(k).filter(|v| !v.is_null()) {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    let _ = write!(pid, "<div class=\"muted\">{label} {}</div>", esc(&v));
                }
            }
            let python = match sv("python") {
                Some(p) => {
                    let mut x = text(Some(p));
                    if let Some(r) = sv("reader").and_then(Value::as_str) {
                        let _ = write!(x, "<div class=\"muted\">reader {}</div>", esc(r));
                    }
                    x
                }
                None => none(),
            };
            let threshold = sv("threshold_ms")
                .and_then(Value::as_f64)
                .map(|v| format!("{} ms", num(v)))
                .unwrap_or_else(none);
            let mut rate_s = sv("interval_us")
                .and_then(Value::as_f64)
                .map(rate)
                .unwrap_or_else(none);
            if let Some(hz) = ev("achieved_hz").and_then(Value::as_f64) {
                let _ = write!(rate_s, "<div class=\"muted\">achieved {} Hz</div>", num(hz));
            }
            let (covered, est) = self.covered_ms(t);
            let covered = if covered > 0.0 {
                format!(
                    "{}{}{}",
                    if est { "≥" } else { "" },
                    fmt_ms(covered),
                    if self.loop_threads(ti) > 1 {
                        format!(" × {} threads", self.loop_threads(ti))
                    } else {
                        String::new()
                    }
                )
            } else {
                none()
            };
            let mut end = match ev("reason") {
                Some(r) => text(Some(r)),
                None => "<span class=\"muted\">no end line</span>".to_string(),
            };
            if let Some(c) = ev("exit_code") {
                let _ = write!(
                    end,
                    "<div class=\"muted\">exit {}</div>",
                    esc(&c.to_string())
                );
            }
            let t_blocked: f64 = self
                .blocks
                .iter()
                .filter(|b| self.lanes[b.lane as usize].target == ti)
                .map(|b| b.dur_ms)
                .sum();
            let _ = writeln!(
                s,
                "<tr><td>{pid}</td><td>{python}</td><td class=\"cmd\"><code>{}</code></td><td>{threads}</td><td>{threshold}</td><td>{rate_s}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{covered}</td><td>{end}</td></tr>",
                text(sv("cmdline")),
                text(ev("samples")),
                text(ev("failed_samples")),
                text(ev("gaps")),
                t.blocks,
                fmt_ms(t_blocked),
            );
        }
        s.push_str("</tbody></table></div>\n");
        if self.targets.len() > MAX_TARGET_ROWS {
            let _ = writeln!(
                s,
                "<p class=\"note\">{} more processes are not listed.</p>",
                self.targets.len() - MAX_TARGET_ROWS
            );
        }
        s
    }
}

/// Frames and files the page carries, within a byte budget.
struct Tables<'a> {
    b: &'a Builder,
    budget: usize,
    files: Interner<&'a str>,
    frame_ids: HashMap<u32, u32>,
    frames: String,
    n_frames: u32,
    stacks: String,
    n_stacks: u32,
}

impl<'a> Tables<'a> {
    fn new(b: &'a Builder, budget: usize) -> Self {
        Tables {
            b,
            budget,
            files: Interner::default(),
            frame_ids: HashMap::new(),
            frames: String::new(),
            n_frames: 0,
            stacks: String::new(),
            n_stacks: 0,
        }
    }

    /// Bytes a frame would add.
    fn cost(&self, f: u32) -> usize {
        if self.frame_ids.contains_key(&f) {
            return 6;
        }
        let (q, file, _) = self.b.frame_of(f);
        let file_cost = if self.files.map.contains_key(file) {
            0
        } else {
            file.len() + 4
        };
        q.len() + file_cost + 20
    }

    /// The page's id of a frame, if it fits.
    fn frame(&mut self, f: u32) -> Option<u32> {
        if let Some(&id) = self.frame_ids.get(&f) {
            return Some(id);
        }
        let cost = self.cost(f);
        if cost > self.budget {
            return None;
        }
        self.budget -= cost;
        let (q, file, line) = self.b.frame_of(f);
        let file = self.files.id(file);
        if self.n_frames > 0 {
            self.frames.push(',');
        }
        let _ = write!(
            self.frames,
            "[{},{file},{line}]",
            serde_json::to_string(q).expect("JSON string")
        );
        let id = self.n_frames;
        self.n_frames += 1;
        self.frame_ids.insert(f, id);
        Some(id)
    }

    /// The page's id of a stack, if it fits.
    fn stack(&mut self, s: u32) -> Option<u32> {
        let frames = &self.b.stacks.list[s as usize];
        let cost: usize = frames.iter().map(|&f| self.cost(f)).sum::<usize>() + 4;
        if cost > self.budget {
            return None;
        }
        let ids: Vec<String> = frames
            .iter()
            .map(|&f| self.frame(f).expect("within budget").to_string())
            .collect();
        self.budget = self.budget.saturating_sub(4);
        if self.n_stacks > 0 {
            self.stacks.push(',');
        }
        let _ = write!(self.stacks, "[{}]", ids.join(","));
        self.n_stacks += 1;
        Some(self.n_stacks - 1)
    }

    /// `files`, `frames` and `stacks` as JSON arrays.
    fn into_json(self) -> (String, String, String) {
        let files = serde_json::to_string(&self.files.list).expect("JSON strings");
        (
            files,
            format!("[{}]", self.frames),
            format!("[{}]", self.stacks),
        )
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// Fills `{{KEY}}` placeholders of a template in one pass (values are not
/// scanned for placeholders).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let extra: usize = values.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(template.len() + extra);
    let mut rest = template;
    while let Some(a) = rest.find("{{") {
        out.push_str(&rest[..a]);
        let after = &rest[a + 2..];
        match after.find("}}").and_then(|b| {
            let key = &after[..b];
            values.iter().find(|(k, _)| *k == key).map(|(_, v)| (b, *v))
        }) {
            Some((b, v)) => {
                out.push_str(v);
                rest = &after[b + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A culprit's key: A..Z, then AA, AB, ... (spreadsheet columns).
fn code(mut r: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (r % 26) as u8);
        if r < 26 {
            break;
        }
        r = r / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{}", (x * 1000.0).round() / 1000.0)
    }
}

fn rate(interval_us: f64) -> String {
    if interval_us > 0.0 {
        format!(
            "{} Hz (every {} µs)",
            num((1e6 / interval_us * 10.0).round() / 10.0),
            num(interval_us)
        )
    } else {
        format!("every {} µs", num(interval_us))
    }
}

fn fmt_ms(ms: f64) -> String {
    let s = ms / 1000.0;
    if s >= 3600.0 {
        format!(
            "{}h {}m {}s",
            (s / 3600.0).floor(),
            ((s % 3600.0) / 60.0).floor(),
            (s % 60.0).round()
        )
    } else if ms >= 60_000.0 {
        format!("{}m {:.1}s", (s / 60.0).floor(), s % 60.0)
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

fn fmt_pct(x: f64) -> String {
    let p = x * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_string()
    } else {
        format!("{p:.1}%")
    }
}

fn utc(us: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us.max(0) as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

/// HTML-escapes text. A `://` is written `&#58;//` so that the file holds
/// no URL even where the data does (a command line with a URL argument).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out.replace("://", "&#58;//")
}

/// JSON for a `<script type="application/json">` element: no `</` or `<!`
/// that could end or confuse the element, and no `://` (written `:\/\/`, the
/// same JSON string) so that the file holds no URL.
fn script_json(s: &str) -> String {
    s.replace("</", "<\\/")
        .replace("<!", "\\u003c!")
        .replace("://", ":\\/\\/")
}

#[cfg(test)]
mod tests;
