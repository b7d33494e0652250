//! A [`StackSource`] backed by py-spy's `PythonSpy::get_stack_traces()`.
//!
//! Slow (it rereads every thread, frame and string each call) but
//! independent of aelm's own reader: kept for `--reader py-spy`, for thread
//! names, and as a baseline in benchmarks. py-spy exposes no code flags or
//! frame addresses, so samples from it carry neither.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use anyhow::Result;
use py_spy::config::LockingStrategy;
use py_spy::{Config, PythonSpy, StackTrace};

use super::{ScannedThread, StackSource, ThreadInfo};
use crate::sample::{CodeInfo, Frame, SampleError, Spares, ThreadSample};

/// Bound on distinct code objects remembered.
const MAX_CODES: usize = 100_000;

pub struct PySpySource {
    spy: PythonSpy,
    codes: HashMap<(String, String), Arc<CodeInfo>>,
}

/// py-spy's configuration for aelm: never pause the target, no native
/// frames, no locals.
pub fn pyspy_config() -> Config {
    Config {
        blocking: LockingStrategy::NonBlocking,
        native: false,
        collect_thread_names: true,
        dump_locals: 0,
        ..Config::default()
    }
}

impl PySpySource {
    pub fn new(spy: PythonSpy) -> PySpySource {
        PySpySource {
            spy,
            codes: HashMap::new(),
        }
    }

    fn code(&mut self, name: &str, file: &str) -> Arc<CodeInfo> {
        let key = (name.to_string(), file.to_string());
        if let Some(c) = self.codes.get(&key) {
            return c.clone();
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let code = Arc::new(CodeInfo {
            id: h.finish(),
            name: name.rsplit('.').next().unwrap_or(name).to_string(),
            qualname: name.to_string(),
            file: file.to_string(),
            first_line: 0,
            module: None,
            flags: None,
            roles: Default::default(),
        });
        if self.codes.len() < MAX_CODES {
            self.codes.insert(key, code.clone());
        }
        code
    }

    fn frames(&mut self, trace: &StackTrace) -> Vec<Frame> {
        trace
            .frames
            .iter()
            // CPython's own `__init__` helper frame (3.13+, see
            // `CO_NO_MONITORING_EVENTS`): py-spy shows no flags, but the
            // helper's "file" is its name, which no module's path is.
            .filter(|f| !(f.name == "__init__" && f.filename == "__init__"))
            .map(|f| Frame {
                code: self.code(&f.name, &f.filename),
                line: f.line.max(0) as u32,
                addr: 0,
                handle: 0,
                from_c: None,
            })
            .collect()
    }
}

fn tid_of(trace: &StackTrace) -> u64 {
    trace.os_thread_id.unwrap_or(trace.thread_id)
}

impl StackSource for PySpySource {
    fn version(&self) -> String {
        let v = &self.spy.version;
        format!("{}.{}.{}{}", v.major, v.minor, v.patch, v.release_flags)
    }

    fn scan(&mut self) -> Result<Vec<ScannedThread>> {
        let traces = self.spy.get_stack_traces()?;
        Ok(traces
            .iter()
            .map(|t| ScannedThread {
                info: ThreadInfo {
                    tid: tid_of(t),
                    name: t.thread_name.clone(),
                },
                stack: Ok(self.frames(t)),
                running_loop: None,
            })
            .collect())
    }

    fn sample(&mut self, tids: &[u64], _spares: &mut Spares) -> Result<Vec<ThreadSample>> {
        let traces = self.spy.get_stack_traces()?;
        Ok(tids
            .iter()
            .map(|&tid| {
                let stack = match traces.iter().find(|t| tid_of(t) == tid) {
                    Some(t) => Ok(self.frames(t)),
                    None => Err(SampleError::Gone),
                };
                ThreadSample {
                    tid,
                    stack,
                    context: 0,
                    running_loop: None,
                    entered: Default::default(),
                }
            })
            .collect())
    }
}
