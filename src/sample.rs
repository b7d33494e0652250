//! The sample: what the sampler hands the detector, independent of how the
//! stacks were read (py-spy's `get_stack_traces()` or aelm's direct reader).
//!
//! Owns only plain data. No I/O, no knowledge of CPython's layout.

use std::sync::Arc;
use std::time::Duration;

/// Code-object flag bits, from CPython's `Include/cpython/code.h`
/// (`CO_NEWLOCALS` 0x0002, `CO_GENERATOR` 0x0020, `CO_COROUTINE` 0x0080,
/// `CO_ITERABLE_COROUTINE` 0x0100, `CO_ASYNC_GENERATOR` 0x0200; unchanged
/// from 3.5 to 3.15).
pub const CO_NEWLOCALS: u32 = 0x0002;
pub const CO_GENERATOR: u32 = 0x0020;
pub const CO_COROUTINE: u32 = 0x0080;
pub const CO_ITERABLE_COROUTINE: u32 = 0x0100;
pub const CO_ASYNC_GENERATOR: u32 = 0x0200;
/// Set on code objects CPython makes for itself and hides from monitoring
/// (3.13+ `Include/cpython/code.h`: `_Py_InitCleanup`, the frame that
/// `CALL_ALLOC_AND_ENTER_INIT` puts between a call site and `__init__`,
/// named `__init__` in a file `__init__`). Unused by compiled code before.
pub const CO_NO_MONITORING_EVENTS: u32 = 0x0200_0000;
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

    /// A function's code (a new namespace for its locals), not a module's
    /// or class body's; `true` when flags are not visible.
    pub fn is_function(&self) -> bool {
        self.flags.is_none_or(|f| f & CO_NEWLOCALS != 0)
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
    /// Called from C code: outward of it, the interpreter's chain holds the
    /// entry frame a C caller pushes. `None` where the reader cannot see
    /// entry frames (before 3.12, the py-spy reader).
    pub from_c: Option<bool>,
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
    /// Address of the event loop running on the thread, as the thread state
    /// records it for `asyncio.get_running_loop()` (stdlib loops and uvloop
    /// alike), 0 when none runs; `None` where the reader cannot see it
    /// (before 3.13, the py-spy reader).
    pub running_loop: Option<u64>,
    /// The contexts entered on the thread when the reader sees them.
    pub entered: Entered,
}

/// The contexts entered on a thread (`Context.run`, asyncio's way to run a
/// callback; a callback may enter more, through `Context.run` of its own or
/// an eager task's first step), as the direct reader sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entered {
    /// Address of the outermost entered context: the one the loop entered
    /// to run the callback (0: none, or not known).
    pub outer: u64,
    /// How many contexts are entered, the outermost included (0: none, or
    /// not known).
    pub depth: u8,
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

/// Emptied vectors of samples the detector is done with, handed back to the
/// sampler thread and filled again there. A sample's vectors are allocated
/// on the sampler thread and were freed on the detector's: glibc's malloc
/// pays for that hand-over on both sides (~1.5k instructions a sample,
/// callgrind); a vector taken from here costs a few.
#[derive(Default)]
pub struct Spares {
    frames: Vec<Vec<Frame>>,
    threads: Vec<Vec<ThreadSample>>,
    batches: Vec<Vec<Sample>>,
    /// Bytes of capacity held in `frames`.
    frame_bytes: usize,
}

/// Most bytes of frame vectors kept (a 50 ms batch at 10 kHz of 40-frame
/// stacks is ~650 KB); a vector bigger than `MAX_SPARE_FRAMES` frames (a
/// deep recursion) is freed rather than kept.
const MAX_SPARE_BYTES: usize = 1 << 20;
const MAX_SPARE_FRAMES: usize = 512;
const MAX_SPARE_THREADS: usize = 4096;
const MAX_SPARE_BATCHES: usize = 4;

impl Spares {
    /// An empty frame vector.
    pub fn frames(&mut self) -> Vec<Frame> {
        match self.frames.pop() {
            Some(v) => {
                self.frame_bytes -= v.capacity() * std::mem::size_of::<Frame>();
                v
            }
            None => Vec::new(),
        }
    }

    /// An empty thread-sample vector.
    pub fn threads(&mut self) -> Vec<ThreadSample> {
        self.threads.pop().unwrap_or_default()
    }

    /// An empty batch, `want` long at least.
    pub fn batch(&mut self, want: usize) -> Vec<Sample> {
        let mut b = self.batches.pop().unwrap_or_default();
        b.reserve(want);
        b
    }

    /// Takes a spent batch apart into its (emptied) vectors, up to the
    /// bounds; the rest is freed.
    pub fn take_back(&mut self, mut batch: Vec<Sample>) {
        for s in batch.drain(..) {
            let mut threads = s.threads;
            for t in threads.drain(..) {
                let Ok(mut f) = t.stack else { continue };
                let bytes = f.capacity() * std::mem::size_of::<Frame>();
                if f.capacity() <= MAX_SPARE_FRAMES && self.frame_bytes + bytes <= MAX_SPARE_BYTES {
                    f.clear();
                    self.frame_bytes += bytes;
                    self.frames.push(f);
                }
            }
            if self.threads.len() < MAX_SPARE_THREADS {
                self.threads.push(threads);
            }
        }
        if self.batches.len() < MAX_SPARE_BATCHES {
            self.batches.push(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            code: Arc::new(CodeInfo {
                id: 1,
                name: "f".into(),
                qualname: "f".into(),
                file: "f.py".into(),
                first_line: 1,
                module: None,
                flags: None,
                roles: Default::default(),
            }),
            line: 1,
            addr: 0,
            handle: 0,
            from_c: None,
        }
    }

    fn batch(stacks: &[usize]) -> Vec<Sample> {
        stacks
            .iter()
            .map(|&n| Sample {
                at: Duration::ZERO,
                interval: Duration::from_millis(1),
                threads: vec![
                    ThreadSample {
                        tid: 1,
                        stack: Ok(vec![frame(); n]),
                        context: 0,
                        running_loop: None,
                        entered: Default::default(),
                    },
                    ThreadSample {
                        tid: 2,
                        stack: Err(SampleError::Torn),
                        context: 0,
                        running_loop: None,
                        entered: Default::default(),
                    },
                ],
            })
            .collect()
    }

    #[test]
    fn spent_vectors_come_back_empty_and_bounded() {
        let mut s = Spares::default();
        assert!(s.frames().is_empty() && s.threads().is_empty());
        s.take_back(batch(&[3, 4, MAX_SPARE_FRAMES + 1]));
        // Two frame vectors kept (the deep one freed), three thread vectors.
        let (a, b) = (s.frames(), s.frames());
        assert!(a.is_empty() && a.capacity() >= 3 && b.capacity() >= 3);
        assert_eq!(s.frames().capacity(), 0);
        assert_eq!(s.frame_bytes, 0);
        for _ in 0..3 {
            let t = s.threads();
            assert!(t.is_empty() && t.capacity() >= 2);
        }
        assert_eq!(s.threads().capacity(), 0);
        let b = s.batch(10);
        assert!(b.is_empty() && b.capacity() >= 10);
        // The byte bound holds however many come back.
        let per = 500 * std::mem::size_of::<Frame>();
        s.take_back(batch(&[500; 1000]));
        assert!(s.frame_bytes <= MAX_SPARE_BYTES && s.frames.len() == MAX_SPARE_BYTES / per);
    }
}
