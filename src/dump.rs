//! `aelm dump`: print the current Python stack of every thread of a target
//! once, as JSON lines (one per thread), with the loop classification aelm
//! would apply. For checking what aelm sees, like `py-spy dump`.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::detector::{Learned, View, classify};
use crate::python::attach::{self, ReaderKind};

pub fn run(pid: i32, kind: ReaderKind) -> Result<i32> {
    let mut source = attach::open(pid, kind, None)?;
    eprintln!("aelm: pid {pid}: Python {}", source.version());
    for note in source.notes() {
        eprintln!("aelm: {note}");
    }
    let threads = source.scan().context("reading the target's threads")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for t in threads {
        let v = match &t.stack {
            Ok(frames) => {
                let view = match classify(frames, &mut Learned::default(), false, t.running_loop) {
                    View::NotLoop => json!("not-loop"),
                    View::Idle => json!("idle"),
                    View::Machinery => json!("machinery"),
                    View::Callback { root, id } => json!({
                        "callback": frames[root].code.qualname,
                        "code": format!("{:#x}", id.code),
                        "frame": format!("{:#x}", id.frame),
                        "handle": format!("{:#x}", id.handle),
                    }),
                };
                let stack: Vec<Value> = frames
                    .iter()
                    .map(|f| {
                        json!({
                            "qualname": f.code.qualname,
                            "file": f.code.file,
                            "line": f.line,
                            "module": f.code.module,
                            "coroutine": f.code.is_coroutine(),
                            "addr": format!("{:#x}", f.addr),
                            "handle": format!("{:#x}", f.handle),
                            "from_c": f.from_c,
                        })
                    })
                    .collect();
                json!({
                    "tid": t.info.tid,
                    "thread": t.info.name,
                    "loop": view,
                    "running_loop": t.running_loop.map(|a| format!("{a:#x}")),
                    "stack": stack,
                })
            }
            Err(e) => json!({"tid": t.info.tid, "thread": t.info.name, "error": format!("{e:?}")}),
        };
        if writeln!(out, "{v}").is_err() {
            break;
        }
    }
    Ok(0)
}
