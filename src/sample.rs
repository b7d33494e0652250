//! The sample: what the sampler hands the detector, independent of how the
//! stacks were read (py-spy's `get_stack_traces()` or aelm's direct reader).
//!
//! Owns only plain data. No I/O, no knowledge of CPython's layout.

use std::sync::Arc;
use std::time::Duration;

/// Code-object flag bits, from CPython's `Include/cpython/code.h`
/// (`CO_GENERATOR` 0x0020, `CO_COROUTINE` 0x0080, `CO_ITERABLE_COROUTINE` 0x0100,
/// `CO_ASYNC_GENERATOR` 0x0200; unchanged from 3.5 to 3.15).
pub const CO_GENERATOR: u32 = 0x0020;
pub const CO_COROUTINE: u32 = 0x0080;
pub const CO_ITERABLE_COROUTINE: u32 = 0x0100;
pub const CO_ASYNC_GENERATOR: u32 = 0x0200;
/// The bits that make code a coroutine in the wide sense aelm uses.
const COROUTINE_FLAGS: u32 = CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR;

/// What aelm knows about one code object of the target. Shared between the
/// frames of all samples that run that code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// Identity of the code object: its address in the target when the reader
    /// sees addresses, otherwise a hash of (qualname, file, first line).
    pub id: u64,
    /// `co_name`.
    pub name: String,
    /// `co_qualname` (3.11+); `co_name` on older versions.
    pub qualname: String,
    /// `co_filename`, as the target sees it.
    pub file: String,
    /// `co_firstlineno`.
    pub first_line: u32,
    /// The frame's `__name__` global, when the reader could read it.
    pub module: Option<String>,
    /// `co_flags`, when the reader can see them. `None` means unknown: never
    /// guess coroutine-ness from names.
    pub flags: Option<u32>,
    /// The detector's reading of this code (loop frame, asyncio machinery,
    /// runner...), computed once per code object rather than once per
    /// sample: a cache, filled by the detector.
    pub roles: std::sync::OnceLock<u16>,
}

impl CodeInfo {
    /// `Some(true)` for coroutine, iterable-coroutine and async-generator
    /// code; `None` when flags are not visible.
    pub fn is_coroutine(&self) -> Option<bool> {
        self.flags.map(|f| f & COROUTINE_FLAGS != 0)
    }

    /// Code whose frames are suspended and resumed: a generator, or a
    /// coroutine as [`is_coroutine`](Self::is_coroutine) has it. `false`
    /// when flags are not visible.
    pub fn runs_generator(&self) -> bool {
        self.flags
            .is_some_and(|f| f & (CO_GENERATOR | COROUTINE_FLAGS) != 0)
    }
}

/// One Python frame of a sampled stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub code: Arc<CodeInfo>,
    /// Line being executed (1-based; 0 when unknown).
    pub line: u32,
    /// Address of the frame in the target (0 when the reader cannot see it).
    pub addr: u64,
    /// For asyncio's `Handle._run` frames: the address of the handle being
    /// run (`self`), to tell callbacks apart. 0 otherwise.
    pub handle: u64,
}

/// Why one thread's stack could not be read in one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleError {
    /// Inconsistent or unreadable memory (the target changed under us).
    Torn,
    /// The thread disappeared.
    Gone,
}

/// One thread's stack in one sample. Frames are innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSample {
    /// Native (kernel) thread id.
    pub tid: u64,
    pub stack: Result<Vec<Frame>, SampleError>,
    /// The thread's `PyThreadState.context_ver` when the reader sees it (0
    /// otherwise): bumped by every `Context.run`, so it differs between two
    /// asyncio callbacks even when their frames and handles reuse memory.
    pub context: u64,
}

/// One tick of the sampler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Monotonic time since the session started.
    pub at: Duration,
    /// The sampling interval in effect (it adapts under a CPU budget): a
    /// sample stands for this much time.
    pub interval: Duration,
    pub threads: Vec<ThreadSample>,
}
