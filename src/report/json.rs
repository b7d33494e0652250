//! JSON-lines reporter (schema v1; the format is documented in
//! [`super`] and `docs/schema.json`). Each line is written whole and flushed.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

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
        self.write_line(serde_json::to_vec(v).map_err(io::Error::other)?)
    }

    fn write_line(&mut self, mut buf: Vec<u8>) -> io::Result<()> {
        // One write per line, so a reader never sees half an object.
        buf.push(b'\n');
        self.out.write_all(&buf)?;
        self.out.flush()
    }
}

fn frame(f: &FrameRef) -> FrameOut<'_> {
    FrameOut {
        qualname: &f.code.qualname,
        file: &f.code.file,
        line: f.line,
        samples: None,
    }
}

/// A frame in a block line (`samples` only in `hot`).
#[derive(Serialize)]
struct FrameOut<'a> {
    qualname: &'a str,
    file: &'a str,
    line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<u32>,
}

#[derive(Serialize)]
struct CulpritOut<'a> {
    name: String,
    function: &'a str,
    qualname: &'a str,
    file: &'a str,
    line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    coroutine: Option<bool>,
}

/// A block line, fields in the schema's order. Serialized straight from
/// borrowed strings: building a `serde_json::Value` first cost ~120k
/// instructions a line (a map and owned strings per frame).
#[derive(Serialize)]
struct BlockOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    time: String,
    pid: i32,
    tid: u64,
    thread: Option<&'a str>,
    duration_ms: f64,
    samples: u32,
    state: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
    callback: FrameOut<'a>,
    culprit: CulpritOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    callee: Option<FrameOut<'a>>,
    hot: Vec<FrameOut<'a>>,
    stack: Vec<FrameOut<'a>>,
}

/// The JSON of a block line, without the newline.
fn block_json(block: &Block, ctx: &BlockContext, modules: &mut ModuleNames) -> io::Result<Vec<u8>> {
    let c = &block.culprit;
    let out = BlockOut {
        kind: "block",
        time: rfc3339(ctx.time),
        pid: ctx.pid,
        tid: block.tid,
        thread: ctx.thread,
        duration_ms: millis(block.duration),
        samples: block.samples,
        state: match block.state {
            BlockState::Ongoing => "ongoing",
            BlockState::Ended => "ended",
        },
        truncated: block.truncated,
        callback: frame(&block.callback),
        culprit: CulpritOut {
            name: modules.dotted(&c.code),
            function: &c.code.name,
            qualname: &c.code.qualname,
            file: &c.code.file,
            line: c.line,
            coroutine: c.code.is_coroutine(),
        },
        callee: block.callee.as_ref().map(frame),
        hot: block
            .hot
            .iter()
            .map(|(f, n)| FrameOut {
                samples: Some(*n),
                ..frame(f)
            })
            .collect(),
        stack: block.stack.iter().map(frame).collect(),
    };
    serde_json::to_vec(&out).map_err(io::Error::other)
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
        let buf = block_json(block, ctx, &mut self.modules)?;
        self.write_line(buf)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{CO_COROUTINE, CodeInfo};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    fn code(name: &str, file: &str, flags: Option<u32>, module: Option<&str>) -> Arc<CodeInfo> {
        Arc::new(CodeInfo {
            id: 1,
            name: name.into(),
            qualname: format!("Q.{name}"),
            file: file.into(),
            first_line: 1,
            module: module.map(Into::into),
            flags,
            roles: Default::default(),
        })
    }

    fn at(code: &Arc<CodeInfo>, line: u32) -> FrameRef {
        FrameRef {
            code: Arc::clone(code),
            line,
        }
    }

    fn line_of(block: &Block, thread: Option<&str>) -> String {
        let mut r = JsonReporter::new(Vec::new());
        let ctx = BlockContext {
            pid: 42,
            thread,
            time: SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_019_800_123_456),
        };
        r.block(block, &ctx).unwrap();
        String::from_utf8(r.out).unwrap()
    }

    #[test]
    fn block_lines_are_exactly_the_schema_order() {
        let handler = code("handler", "/srv/app.py", Some(CO_COROUTINE), Some("app"));
        let work = code("work", "/srv/app.py", Some(0), None);
        let dumps = code("dumps", "/usr/lib/python3.11/json/__init__.py", None, None);
        let mut b = Block {
            tid: 7,
            start: Duration::ZERO,
            duration: Duration::from_micros(52_345),
            samples: 11,
            state: BlockState::Ended,
            truncated: false,
            callback: at(&handler, 10),
            culprit: at(&work, 20),
            callee: Some(at(&dumps, 30)),
            hot: vec![(at(&dumps, 30), 9), (at(&work, 21), 2)],
            stack: vec![at(&dumps, 30), at(&work, 20), at(&handler, 10)],
        };
        assert_eq!(
            line_of(&b, Some("MainThread")),
            concat!(
                r#"{"type":"block","time":"2025-11-24T21:30:00.123456Z","pid":42,"tid":7,"#,
                r#""thread":"MainThread","duration_ms":52.345,"samples":11,"state":"ended","#,
                r#""callback":{"qualname":"Q.handler","file":"/srv/app.py","line":10},"#,
                r#""culprit":{"name":"app.Q.work","function":"work","qualname":"Q.work","#,
                r#""file":"/srv/app.py","line":20,"coroutine":false},"#,
                r#""callee":{"qualname":"Q.dumps","file":"/usr/lib/python3.11/json/__init__.py","line":30},"#,
                r#""hot":[{"qualname":"Q.dumps","file":"/usr/lib/python3.11/json/__init__.py","line":30,"samples":9},"#,
                r#"{"qualname":"Q.work","file":"/srv/app.py","line":21,"samples":2}],"#,
                r#""stack":[{"qualname":"Q.dumps","file":"/usr/lib/python3.11/json/__init__.py","line":30},"#,
                r#"{"qualname":"Q.work","file":"/srv/app.py","line":20},"#,
                r#"{"qualname":"Q.handler","file":"/srv/app.py","line":10}]}"#,
                "\n"
            )
        );
        // No thread name, truncated, ongoing, no callee, flags unknown,
        // a string that needs escaping.
        b.state = BlockState::Ongoing;
        b.truncated = true;
        b.callee = None;
        b.culprit = at(&code("w\"x", "/srv/a\\b.py", None, Some("m")), 5);
        b.hot.clear();
        b.stack.truncate(1);
        assert_eq!(
            line_of(&b, None),
            concat!(
                r#"{"type":"block","time":"2025-11-24T21:30:00.123456Z","pid":42,"tid":7,"#,
                r#""thread":null,"duration_ms":52.345,"samples":11,"state":"ongoing","truncated":true,"#,
                r#""callback":{"qualname":"Q.handler","file":"/srv/app.py","line":10},"#,
                r#""culprit":{"name":"m.Q.w\"x","function":"w\"x","qualname":"Q.w\"x","#,
                r#""file":"/srv/a\\b.py","line":5},"#,
                r#""hot":[],"#,
                r#""stack":[{"qualname":"Q.dumps","file":"/usr/lib/python3.11/json/__init__.py","line":30}]}"#,
                "\n"
            )
        );
    }
}
