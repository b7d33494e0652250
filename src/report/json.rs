//! JSON-lines reporter (schema v1; the format is documented in
//! [`super`] and `docs/schema.json`). Each line is written whole and flushed.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::{BlockContext, EndInfo, ModuleNames, Reporter, StartInfo, millis, rfc3339};
use crate::detector::{Block, BlockState, FrameRef};

pub struct JsonReporter<W: Write> {
    out: W,
    modules: ModuleNames,
}

impl<W: Write> JsonReporter<W> {
    pub fn new(out: W) -> Self {
        JsonReporter {
            out,
            modules: ModuleNames::default(),
        }
    }

    fn line(&mut self, v: &Value) -> io::Result<()> {
        // One write per line, so a reader never sees half an object.
        let mut buf = serde_json::to_vec(v).map_err(io::Error::other)?;
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        self.out.flush()
    }
}

fn frame(f: &FrameRef) -> Value {
    json!({"qualname": f.code.qualname, "file": f.code.file, "line": f.line})
}

/// The JSON object of a block line.
pub fn block_value(block: &Block, ctx: &BlockContext, modules: &mut ModuleNames) -> Value {
    let mut v = Map::new();
    v.insert("type".into(), "block".into());
    v.insert("time".into(), rfc3339(ctx.time).into());
    v.insert("pid".into(), ctx.pid.into());
    v.insert("tid".into(), block.tid.into());
    v.insert(
        "thread".into(),
        ctx.thread.map(Value::from).unwrap_or(Value::Null),
    );
    v.insert("duration_ms".into(), millis(block.duration).into());
    v.insert("samples".into(), block.samples.into());
    let state = match block.state {
        BlockState::Ongoing => "ongoing",
        BlockState::Ended => "ended",
    };
    v.insert("state".into(), state.into());
    if block.truncated {
        v.insert("truncated".into(), true.into());
    }
    v.insert("callback".into(), frame(&block.callback));
    let c = &block.culprit;
    let mut culprit = Map::new();
    culprit.insert("name".into(), modules.dotted(&c.code).into());
    culprit.insert("function".into(), c.code.name.clone().into());
    culprit.insert("qualname".into(), c.code.qualname.clone().into());
    culprit.insert("file".into(), c.code.file.clone().into());
    culprit.insert("line".into(), c.line.into());
    if let Some(co) = c.code.is_coroutine() {
        culprit.insert("coroutine".into(), co.into());
    }
    v.insert("culprit".into(), culprit.into());
    if let Some(callee) = &block.callee {
        v.insert("callee".into(), frame(callee));
    }
    let hot: Vec<Value> = block
        .hot
        .iter()
        .map(|(f, n)| {
            let mut h = frame(f);
            h["samples"] = (*n).into();
            h
        })
        .collect();
    v.insert("hot".into(), hot.into());
    v.insert(
        "stack".into(),
        block.stack.iter().map(frame).collect::<Vec<_>>().into(),
    );
    v.into()
}

impl<W: Write> Reporter for JsonReporter<W> {
    fn start(&mut self, info: &StartInfo) -> io::Result<()> {
        let threads: Vec<Value> = info
            .loop_threads
            .iter()
            .map(|t| json!({"tid": t.tid, "name": t.name}))
            .collect();
        let mut v = json!({
            "type": "start",
            "aelm": env!("CARGO_PKG_VERSION"),
            "pid": info.pid,
            "python": info.python,
            "threshold_ms": millis(info.threshold),
            "interval_us": (info.interval.as_secs_f64() * 1e6).round() as u64,
            "loop_threads": threads,
            "reader": info.reader,
            "cmdline": info.cmdline,
        });
        if let Some(p) = info.parent {
            v["parent"] = p.into();
        }
        if let Some(c) = &info.container {
            v["container"] = c.clone().into();
        }
        if let Some(p) = &info.pod_uid {
            v["pod_uid"] = p.clone().into();
        }
        self.line(&v)
    }

    fn block(&mut self, block: &Block, ctx: &BlockContext) -> io::Result<()> {
        let v = block_value(block, ctx, &mut self.modules);
        self.line(&v)
    }

    fn end(&mut self, info: &EndInfo) -> io::Result<()> {
        let t = &info.totals;
        let secs = info.elapsed.as_secs_f64();
        let hz = if secs > 0.0 {
            (t.samples as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        };
        let mut v = json!({
            "type": "end",
            "pid": info.pid,
            "reason": info.reason,
            "samples": t.samples,
            "failed_samples": t.failed_samples,
            "gaps": t.gaps,
            "blocks": t.blocks,
            "blocked_ms": millis(t.blocked),
            "achieved_hz": hz,
            "missed_ticks": info.missed_ticks,
        });
        v["top"] = info
            .top
            .iter()
            .map(|r| {
                json!({"culprit": r.culprit, "file": r.file, "line": r.line, "blocks": r.blocks,
                       "total_ms": r.total_ms, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                       "max_ms": r.max_ms})
            })
            .collect::<Vec<_>>()
            .into();
        if let Some(r) = info.reads {
            v["reads"] = r.into();
        }
        if let Some(e) = &info.error {
            v["error"] = e.clone().into();
        }
        if let Some(c) = info.exit_code {
            v["exit_code"] = c.into();
        }
        self.line(&v)
    }
}
