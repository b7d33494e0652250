//! One thread's stack per sample: what is read, in how many system calls,
//! and what is cached or reused between samples.
//!
//! Each sample starts with ONE batched read (one vectored
//! `process_vm_readv`) of, speculatively, everything the previous sample
//! found: the thread state's few frame fields; on 3.11/3.12 the `_PyCFrame`
//! the thread state pointed to; from 3.11 the live region of the thread's
//! data-stack chunk (`[chunk, datastack_top)` plus slack); and the
//! innermost `Policy::max_fresh_frames` frames that lay outside that region
//! (coroutine/generator frames living in their objects, C-stack entry
//! frames, 3.8-3.10 frame objects), and the last few innermost frames seen
//! outside it lately (a function called in a loop gets its frame object
//! from the same few addresses); frames in the same or the next page are
//! merged into one range (the call costs by ranges and pages, not bytes). If
//! the thread state says the cframe or chunk moved, or the stack grew past
//! the slack, one more read fetches it. Frames in the region or the batch
//! are decoded fresh.
//!
//! A frame outside everything read this sample is REUSED from the previous
//! sample only when all of this holds: (1) its child (the frame whose
//! `previous` points at it) was decoded fresh, or itself reused, and is
//! identical to the previous sample's frame at the same chain position —
//! same address, code pointer, instruction pointer, `previous`, globals,
//! first local and owner; (2) the previous sample's chain continued from
//! that child to this same address. Why this is sound enough: a suspended
//! caller does not change while its callee runs (its instruction pointer
//! stays on the CALL/SEND), and the callee's identical frame, still linking
//! to the same address, is evidence the call is the same one. It can be
//! wrong only if, between two samples, the callee returned and a new callee
//! frame was created at the same address, with the same code, reaching the
//! same instruction, while the caller moved to another call site; the
//! innermost frames, where that churn happens, are re-read rather than
//! reused (`max_fresh_frames`), so a reused frame is at least that many
//! levels out. Anything else not held is read: the chain predicted by the
//! frame→previous links seen before, in one batched read, and then
//! frame by frame.
//!
//! Reuse can go wrong when the loop switched tasks between two samples and
//! the new task's frames sit, freed and allocated again, at the old task's
//! addresses (seen on FastAPI under load): an old link can lead to a
//! suspended coroutine (it links to nothing, so the walk ends on a
//! generator's frame, which a thread's outermost frame never is), into
//! freed memory (the walk fails), or back into the previous chain at the
//! wrong place (a frame is met twice). A warm walk that ends on a
//! generator's frame, meets a frame twice or fails is read again from
//! scratch, without speculation or reuse, and the previous chain is
//! dropped. A stack read from scratch that still ends on a generator's
//! frame is taken as it is but not kept for reuse: the next sample reads
//! it whole.
//!
//! Code objects are read once per address (name, qualname, file, first
//! line, flags, line table <= 64 KiB, bytecode bounds) and reused: each use
//! checks that the frame's instruction lies inside that code's bytecode
//! (3.11+), and every `Policy::revalidate_every` samples an entry in use is
//! re-read in one batched read and dropped if its fingerprint changed
//! (3.12+ including `co_version`). An entry unused for more than
//! `RECHECK_IDLE` samples is re-read the same way on its next use: a code
//! object lives while a frame runs it, so it can only have been freed, and
//! another built at its address, while no sample saw it. Code that runs
//! once (module and class bodies: no `CO_NEWLOCALS`) is freed as soon as it
//! returns, so its entry is re-read on any use after a sample without it.
//! Lines are cached per (code, instruction offset); module names per
//! globals dict. A frame identical to the previous sample's frame at the
//! same chain position (the same `RawFrame`) takes the `Frame` it decoded
//! to then, skipping the code and line lookups, unless a code object left
//! the cache since (`codes_epoch`); every `revalidate_every / 2` samples a
//! walk decodes every frame, which queues the fingerprint checks.

use std::sync::Arc;

use smallvec::SmallVec;

use super::linetable::line_for;
use super::memory::{Memory, rd_i32, rd_u8, rd_u64};
use super::objects::{MAX_LINETABLE, module_name, read_bytes, read_str};
use super::offsets::Lasti;
use super::{CodeEntry, Decoded, DirectReader, MAX_DEPTH, PyThread, ThreadCache};
use crate::sample::{CO_NO_MONITORING_EVENTS, CodeInfo, Entered, Frame, SampleError};

/// Bytes read past `datastack_top`, so a stack that grew a little between
/// two samples is still inside the speculative read.
const REGION_SLACK: usize = 1024;
/// Longest data-stack region read at once; frames below are read one by one.
const MAX_REGION: u64 = 256 * 1024;
/// Page size assumed when merging ranges (x86-64 and arm64 base pages).
const PAGE: u64 = 4096;
/// Samples between two reads of the running loop's word when it costs a
/// range of its own (see `sample`).
pub(super) const LOOP_READ_EVERY: u64 = 8;
/// Longest merged range of outside frames.
const MAX_MERGED: u64 = 16 * 1024;
/// Frames predicted from earlier links read in one go on a miss.
const MAX_PREDICT: usize = 64;
/// Bounds of the caches (cleared when exceeded; they refill).
const MAX_LINKS: usize = 100_000;
const MAX_LINES: usize = 200_000;
const MAX_CODES: usize = 50_000;
/// Samples an innermost frame address stays among those read speculatively
/// after it was last the innermost frame.
const RECENT_TOP_AGE: u64 = 16;
/// Reads from scratch tried again when a stack ends on a generator's frame.
const GEN_ROOT_RETRIES: u32 = 3;
/// Reads from scratch tried again after a torn one (a link or a frame caught
/// mid-update). Code that calls back and forth between C and Python tears
/// often on 3.11/3.12 (`traceback.format_exc` in a loop: 4 reads in 10 on
/// 3.12, whose current frame comes from a `_PyCFrame` on the C stack); the
/// read a few microseconds later is most often whole. Costs reads only when
/// a sample tears.
const TORN_RETRIES: u32 = 2;
/// Samples in a row ending on a generator's frame, every read, after which
/// a thread's stack is taken to really start there.
pub(super) const GEN_ROOT_SEEN: u32 = 16;
/// Bound of `DirectReader::gen_rooted` (cleared when exceeded).
const MAX_GEN_ROOTED: usize = 4096;
/// Samples a cached code object may go unused before its next use checks
/// that it is still the same code (see `frame`).
const RECHECK_IDLE: u64 = 32;
/// Searches of the previous chain for a join point, per sample.
const MAX_JOIN_SEARCHES: usize = 16;

/// A frame as read: raw fields only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct RawFrame {
    pub addr: u64,
    pub code: u64,
    pub previous: u64,
    pub instr: u64,
    pub globals: u64,
    pub local0: u64,
    /// The owner byte (3.11+), widened: a struct of whole words is copied
    /// and compared in whole words.
    pub owner: u64,
}

/// One batched read: requests laid out back to back in one buffer.
#[derive(Default)]
pub(super) struct Batch {
    buf: Vec<u8>,
    parts: Vec<Part>,
    used: usize,
    /// The part the last `find` hit: consecutive frames mostly lie in the
    /// same part (the data-stack region, a merged range), so it is tried
    /// first.
    hint: std::cell::Cell<usize>,
}

/// Requests of a batched read kept on the stack (no allocation a sample);
/// longer batches (misses) use a `Vec`.
const STACK_PARTS: usize = 16;

#[derive(Clone, Copy)]
struct Part {
    addr: u64,
    off: usize,
    len: usize,
    ok: bool,
    /// Frames here are data-stack frames (always fresh, not "outside").
    region: bool,
}

impl Batch {
    fn clear(&mut self) {
        self.parts.clear();
        self.used = 0;
        self.hint.set(0);
    }

    fn add(&mut self, addr: u64, len: usize, region: bool) -> usize {
        let off = self.used;
        self.used += len;
        if self.buf.len() < self.used {
            self.buf.resize(self.used, 0);
        }
        self.parts.push(Part {
            addr,
            off,
            len,
            ok: false,
            region,
        });
        self.parts.len() - 1
    }

    /// Read parts `from..` in one batched operation.
    fn run<M: Memory + ?Sized>(&mut self, mem: &M, from: usize) {
        if from >= self.parts.len() {
            return;
        }
        let start = self.parts[from].off;
        let mut rest: &mut [u8] = &mut self.buf[start..self.used];
        let mut reqs: SmallVec<[(u64, &mut [u8]); STACK_PARTS]> = SmallVec::new();
        for p in &self.parts[from..] {
            let (a, b) = std::mem::take(&mut rest).split_at_mut(p.len);
            reqs.push((p.addr, a));
            rest = b;
        }
        let n = mem.read_batch(&mut reqs);
        for (i, p) in self.parts[from..].iter_mut().enumerate() {
            p.ok = i < n;
        }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        let p = self.parts.get(i)?;
        p.ok.then(|| &self.buf[p.off..p.off + p.len])
    }

    /// The bytes `[addr, addr + len)` if some part read them, and whether
    /// that part is the data-stack region.
    #[inline]
    fn find(&self, addr: u64, len: usize) -> Option<(&[u8], bool)> {
        // `addr - p.addr <= p.len - len`, wrapping: one comparison a part.
        let holds =
            |p: &Part| p.ok && p.len >= len && addr.wrapping_sub(p.addr) <= (p.len - len) as u64;
        let h = self.hint.get();
        let i = match self.parts.get(h) {
            Some(p) if holds(p) => h,
            _ => {
                let i = self.parts.iter().position(holds)?;
                self.hint.set(i);
                i
            }
        };
        let p = &self.parts[i];
        let o = p.off + (addr - p.addr) as usize;
        Some((&self.buf[o..o + len], p.region))
    }

    fn shrink(&mut self, i: usize, len: usize) {
        if let Some(p) = self.parts.get_mut(i) {
            p.len = p.len.min(len);
        }
    }
}

impl<M: Memory> DirectReader<M> {
    /// The stack of one thread, innermost frame first.
    pub fn stack(&mut self, thread: &PyThread) -> Result<Vec<Frame>, SampleError> {
        self.stack_into(thread, Vec::new())
    }

    /// The stack of one thread, for a scan: as [`stack`](Self::stack), but
    /// without the contexts it entered. A scan only asks whether a thread
    /// runs a loop; pairing the stack with its contexts can tear a sample
    /// (the thread entered or left one between the two reads), which in a
    /// loop running many short callbacks is most samples (3.8-3.11 read the
    /// chain at every move of the version): such a loop was never found.
    pub fn stack_for_scan(&mut self, thread: &PyThread) -> Result<Vec<Frame>, SampleError> {
        self.read_stack(thread, Vec::new(), false)
    }

    /// [`stack`](Self::stack), filling `out` (an emptied vector, kept
    /// for its capacity).
    pub fn stack_into(
        &mut self,
        thread: &PyThread,
        out: Vec<Frame>,
    ) -> Result<Vec<Frame>, SampleError> {
        self.read_stack(thread, out, true)
    }

    /// The stack of one thread, with the contexts it entered or not.
    fn read_stack(
        &mut self,
        thread: &PyThread,
        out: Vec<Frame>,
        contexts: bool,
    ) -> Result<Vec<Frame>, SampleError> {
        // Nothing of another thread's read carries over to this one's.
        self.context_ver = 0;
        self.context_ptr = 0;
        self.running_loop = None;
        self.entered = Entered::default();
        let mut tc = self.threads.remove(&thread.tstate).unwrap_or_default();
        // Whether this walk could follow what the previous sample found.
        let warm = !tc.chain.is_empty();
        self.stats.samples += 1;
        // A thread whose stack has kept ending on a generator's frame (C code
        // running a generator on a thread with no Python caller) is taken as
        // it is; otherwise such a stack is a torn read (below).
        let gen_root_ok = !self.gen_rooted.is_empty()
            && self
                .gen_rooted
                .get(&thread.tstate)
                .is_some_and(|&n| n >= GEN_ROOT_SEEN);
        let mut torn = 0;
        match self.sample(thread, &mut tc, out, gen_root_ok) {
            Ok(v) => {
                let r = self.with_contexts(thread.tstate, &mut tc, v, contexts);
                self.threads.insert(thread.tstate, tc);
                return r.map_err(|_| SampleError::Torn);
            }
            Err(Fail(SampleError::Gone)) => return Err(SampleError::Gone),
            // Read from scratch already: the first of the torn tries below.
            Err(Fail(_)) if !warm => torn = 1,
            // A cached code object was stale (it is evicted); or the walk
            // ended on a stale link or a generator's frame, or failed after
            // following what the previous sample found (a link reused from
            // another task can lead into freed memory, and keeping that chain
            // would fail every sample after): read again, from scratch.
            Err(_) => self.stats.redone += 1,
        }
        // From scratch. A stack that ends on a generator's frame is most
        // often torn: the thread state named a generator's frame as the
        // current one, and by the time the frame itself was read the
        // generator had yielded (its `previous` cleared). A generator driven
        // from C in a tight loop (`sum(x for x in ...)`) toggles every few
        // tens of nanoseconds, so reads are tried again a few times; taking
        // such a stack as it is would end the block the thread is in.
        let mut tries = 0;
        loop {
            let mut tc = ThreadCache::default();
            let r = self.sample(thread, &mut tc, Vec::new(), gen_root_ok);
            if matches!(r, Err(Fail(SampleError::Torn)) | Err(Redo)) && torn < TORN_RETRIES {
                torn += 1;
                self.stats.redone += 1;
                continue;
            }
            if matches!(r, Err(GenRoot)) {
                tries += 1;
                if tries <= GEN_ROOT_RETRIES {
                    self.stats.redone += 1;
                    continue;
                }
                if self.gen_rooted.len() >= MAX_GEN_ROOTED {
                    self.gen_rooted.clear();
                }
                *self.gen_rooted.entry(thread.tstate).or_insert(0) += 1;
                return Err(SampleError::Torn);
            }
            let r = r.and_then(|v| self.with_contexts(thread.tstate, &mut tc, v, contexts));
            if !matches!(r, Err(Fail(SampleError::Gone))) {
                self.threads.insert(thread.tstate, tc);
            }
            return r.map_err(|e| match e {
                Redo | GenRoot => SampleError::Torn,
                Fail(e) => e,
            });
        }
    }

    /// A stack read whole, paired with the contexts entered when it was
    /// read (`contexts.rs`; unless `contexts` is false: a scan's read);
    /// torn when the thread entered or left a context between the two
    /// reads.
    fn with_contexts(
        &mut self,
        tstate: u64,
        tc: &mut ThreadCache,
        stack: Vec<Frame>,
        contexts: bool,
    ) -> Result<Vec<Frame>, Outcome> {
        self.note_root(tstate, &stack);
        if !contexts {
            self.entered = Entered::default();
            return Ok(stack);
        }
        let (ptr, ver) = (self.context_ptr, self.context_ver);
        let entered = self
            .read_entered(tc, tstate, ptr, ver, &stack)
            .ok_or(Fail(SampleError::Torn))?;
        self.entered = entered;
        Ok(stack)
    }

    /// A stack that does not end on a generator's frame: the thread's
    /// count of generator-rooted samples starts again.
    fn note_root(&mut self, tstate: u64, stack: &[Frame]) {
        if !self.gen_rooted.is_empty() && !stack.last().is_some_and(|f| f.code.runs_generator()) {
            self.gen_rooted.remove(&tstate);
        }
    }

    fn sample(
        &mut self,
        thread: &PyThread,
        tc: &mut ThreadCache,
        mut out: Vec<Frame>,
        gen_root_ok: bool,
    ) -> Result<Vec<Frame>, Outcome> {
        // Whether frames of the previous sample may be reused: then a walk
        // that ends on a generator's frame or meets a frame twice is read
        // again (see the end).
        let warm = !tc.chain.is_empty();
        let l = Arc::clone(&self.layout);
        let frame_len = l.frame_len();
        let (ts_lo, mut ts_hi) = l.ts_range();
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();

        // 1. The speculative batch.
        // The running loop's word (3.13+) lies past the public thread state
        // (up to 1 KiB in): read with the rest when that adds no page to the
        // range (a page costs about as much as a range), otherwise in a range
        // of its own every `LOOP_READ_EVERY` samples, the last value standing
        // in between (a loop stopped a moment ago reads as idle, not busy).
        let mut loop_part = None;
        let mut loop_in_ts = false;
        if let Some(o) = l.ts_running_loop {
            let at = |off: u64| thread.tstate.wrapping_add(off);
            let pages = |hi: u64| (at(hi) - 1) / PAGE - at(ts_lo) / PAGE;
            if o >= ts_lo && pages(o + 8) <= pages(ts_hi) {
                ts_hi = ts_hi.max(o + 8);
                loop_in_ts = true;
            } else if tc
                .loop_read_at
                .is_none_or(|at| self.stats.samples.saturating_sub(at) >= LOOP_READ_EVERY)
            {
                loop_part = Some(batch.add(at(o), 8, false));
            }
        }
        let ts_part = batch.add(
            thread.tstate.wrapping_add(ts_lo),
            (ts_hi - ts_lo) as usize,
            false,
        );
        // The thread list's head, when a probe is due (`probe_threads`).
        let probe_part = std::mem::take(&mut self.probe_due)
            .then(|| batch.add(self.threads_head_at(), 8, false));
        let cf_part = match l.ts_cframe {
            Some((_, cur)) if tc.cframe != 0 => {
                Some(batch.add(tc.cframe.wrapping_add(cur), 8, false))
            }
            _ => None,
        };
        let region_part = (l.interp_frames && tc.chunk != 0 && tc.region_len > 0)
            .then(|| batch.add(tc.chunk, tc.region_len, true));
        let mut fresh = std::mem::take(&mut self.scratch);
        fresh.clear();
        fresh.extend(tc.heap.iter().copied().take(self.policy.max_fresh_frames));
        let samples = self.stats.samples;
        for &(a, seen) in &tc.recent_tops {
            if a != 0 && samples.saturating_sub(seen) <= RECENT_TOP_AGE && !fresh.contains(&a) {
                fresh.push(a);
            }
        }
        add_merged(&mut batch, &mut fresh, frame_len);
        self.scratch = fresh;
        batch.run(&self.mem, 0);
        if let Some(i) = probe_part {
            self.probed_head = batch.get(i).and_then(|b| rd_u64(b, 0));
        }

        // 2. Thread state.
        let ts = batch.get(ts_part).ok_or(Fail(SampleError::Gone))?;
        let f = |o: u64| rd_u64(ts, (o - ts_lo) as usize).unwrap_or(0);
        if let Some(o) = l.ts_native_thread_id {
            if thread.tid != 0 && f(o) != thread.tid {
                self.batch = batch;
                return Err(Fail(SampleError::Gone));
            }
        } else if thread.pthread_id != 0 && f(l.ts_thread_id) != thread.pthread_id {
            self.batch = batch;
            return Err(Fail(SampleError::Gone));
        }
        self.context_ver = l.ts_context_ver.map_or(0, f);
        self.context_ptr = l.ts_context.map_or(0, f);
        if loop_in_ts || loop_part.is_some() {
            let word = match loop_part {
                Some(i) => batch.get(i).and_then(|b| rd_u64(b, 0)),
                None => l.ts_running_loop.map(f),
            };
            if let Some(w) = word {
                tc.running_loop = w;
                tc.loop_read_at = Some(self.stats.samples);
            }
        }
        self.running_loop = l.ts_running_loop.map(|_| tc.running_loop);
        let chunk = l.ts_datastack_chunk.map_or(0, f);
        let top = l.ts_datastack_top.map_or(0, f);
        let mut current = l.ts_frame.map_or(0, f);
        if let Some((cf_off, cur_off)) = l.ts_cframe {
            let cf = f(cf_off);
            let spec = cf_part
                .filter(|_| cf == tc.cframe)
                .and_then(|i| batch.get(i))
                .and_then(|b| rd_u64(b, 0));
            current = match spec {
                Some(c) => c,
                None if cf == 0 => 0,
                None => {
                    let mut b = [0u8; 8];
                    self.mem
                        .read(cf.wrapping_add(cur_off), &mut b)
                        .map_err(|_| Fail(SampleError::Torn))?;
                    u64::from_le_bytes(b)
                }
            };
            tc.cframe = cf;
        }

        // 3. The data-stack region [chunk, top).
        // (top, end of the chunk) when the region was read.
        let mut region: Option<(u64, u64)> = None;
        if l.interp_frames && chunk != 0 && top > chunk && top - chunk <= MAX_REGION {
            let mut live = (top - chunk) as usize;
            let have = region_part.filter(|_| tc.chunk == chunk && tc.region_len >= live);
            // On 3.11/3.12 the current frame comes from the `_PyCFrame`,
            // read just after the thread state in the same call: a frame
            // pushed in between (a call made a moment later) lies at or
            // above the `top` read first. The speculative read goes past
            // `top` by the slack: when it covers that frame, take it in
            // rather than read it again.
            if have.is_some()
                && l.ts_cframe.is_some()
                && current >= top
                && current - chunk + frame_len as u64 <= tc.region_len as u64
            {
                live = (current - chunk) as usize + frame_len;
            }
            let part = match have.filter(|&i| batch.get(i).is_some()) {
                Some(i) => Some(i),
                None => {
                    let i = batch.add(chunk, live, true);
                    batch.run(&self.mem, i);
                    batch.get(i).is_some().then_some(i)
                }
            };
            if let Some(i) = part {
                // Frames above top are dead: never decode them.
                batch.shrink(i, live);
                let chunk_size = batch
                    .get(i)
                    .and_then(|b| rd_u64(b, l.chunk_size as usize))
                    .unwrap_or(0);
                region = Some((top, chunk.saturating_add(chunk_size)));
                let want = live + REGION_SLACK;
                tc.region_len = if chunk_size >= live as u64 {
                    want.min(chunk_size as usize)
                } else {
                    live
                };
                tc.chunk = chunk;
            }
        }
        if region.is_none() {
            tc.chunk = 0;
            tc.region_len = 0;
        }

        // 4. Walk.
        out.clear();
        // This sample's chain and outside frames go into last time's spare
        // vectors (no allocation a sample); the previous ones become spares.
        let mut chain = std::mem::take(&mut tc.spare_chain);
        chain.clear();
        let mut heap = std::mem::take(&mut tc.spare_heap);
        heap.clear();
        let mut decoded = std::mem::take(&mut tc.spare_decoded);
        decoded.clear();
        // Frames identical to the previous sample's take what they decoded
        // to then, unless a code object was evicted since, or it is time
        // for a walk that decodes everything (it queues the periodic
        // fingerprint checks of the code objects in use).
        let epoch = self.codes_epoch;
        let full = samples.saturating_sub(tc.full_at) >= self.policy.revalidate_every / 2;
        if full {
            tc.full_at = samples;
        }
        let memo_ok = warm && !full && tc.decoded_epoch == epoch;
        let mut to_validate: Vec<u64> = Vec::new();
        // Index in tc.chain of the frame just processed, when identical.
        let mut matched: Option<usize> = None;
        let mut searches = 0usize;
        let mut addr = current;
        while addr != 0 {
            if chain.len() >= MAX_DEPTH {
                self.batch = batch;
                return Err(Fail(SampleError::Torn));
            }
            let (raw, in_region, reused) = match batch.find(addr, frame_len) {
                Some((b, reg)) => (parse(&l, addr, b), reg, false),
                None => {
                    let next = matched.map_or(usize::MAX, |j| j.saturating_add(1));
                    match tc.chain.get(next).filter(|r| r.addr == addr) {
                        Some(r) => (*r, false, true),
                        None => {
                            self.stats.misses += 1;
                            let from = batch.parts.len();
                            let mut want = vec![addr];
                            let mut a = addr;
                            while want.len() < MAX_PREDICT {
                                match self.links.get(&a) {
                                    Some(&p)
                                        if p != 0
                                            && batch.find(p, frame_len).is_none()
                                            && !want.contains(&p) =>
                                    {
                                        want.push(p);
                                        a = p;
                                    }
                                    _ => break,
                                }
                            }
                            add_merged(&mut batch, &mut want, frame_len);
                            batch.run(&self.mem, from);
                            if batch.find(addr, frame_len).is_none() && want.len() > 1 {
                                // A merged range crossed unmapped memory.
                                let i = batch.add(addr, frame_len, false);
                                batch.run(&self.mem, i);
                            }
                            match batch.find(addr, frame_len) {
                                Some((b, reg)) => (parse(&l, addr, b), reg, false),
                                None => {
                                    self.batch = batch;
                                    return Err(Fail(SampleError::Torn));
                                }
                            }
                        }
                    }
                }
            };
            // Chain position bookkeeping for the reuse rule.
            let pos = chain.len();
            matched = if reused {
                self.stats.frames_reused += 1;
                matched.map(|j| j + 1)
            } else {
                let next = matched.map_or(usize::MAX, |j| j.saturating_add(1));
                if tc.chain.get(next) == Some(&raw) {
                    Some(next)
                } else if tc.chain.get(pos) == Some(&raw) {
                    Some(pos)
                } else if searches < MAX_JOIN_SEARCHES
                    && raw.previous != 0
                    && batch.find(raw.previous, frame_len).is_none()
                {
                    searches += 1;
                    tc.chain.iter().position(|r| *r == raw)
                } else {
                    None
                }
            };
            if chain.is_empty()
                && let Some((top, end)) = region
                && addr >= top
                && addr < end
                && !pushed_after(raw.previous, top, end)
            {
                // The current frame lies in the data-stack chunk above the
                // top read a moment before: on 3.11/3.12 it comes from the
                // `_PyCFrame` on the C stack, and a frame pushed since would
                // link to a live caller. This one does not: the `_PyCFrame`
                // was read after it died (a generator's evaluation returns
                // with every yield), and the pointer names a dead frame.
                self.batch = batch;
                return Err(Fail(SampleError::Torn));
            }
            if chain.is_empty() && !in_region {
                // An innermost frame outside the data stack (3.8-3.10 frame
                // objects): remembered among the last few, since a function
                // called over and over gets its frame from the same few
                // addresses (the code's zombie frame, the free list). Only
                // those seen lately are read (each costs an iovec).
                match tc.recent_tops.iter_mut().find(|t| t.0 == addr) {
                    Some(t) => t.1 = samples,
                    None => {
                        tc.recent_tops.rotate_right(1);
                        tc.recent_tops[0] = (addr, samples);
                    }
                }
            }
            chain.push(raw);
            if !in_region {
                heap.push(addr);
                // An identical frame's link is known from an earlier sample.
                if matched.is_none() {
                    if self.links.len() >= MAX_LINKS {
                        self.links.clear();
                    }
                    self.links.insert(addr, raw.previous);
                }
            }
            addr = raw.previous;

            // A code object evicted earlier in this walk (a frame ran past
            // its cached bytecode) may be named by what was kept.
            let memo = match matched {
                Some(j) if memo_ok && self.codes_epoch == epoch => {
                    tc.decoded.get_mut(j).map(std::mem::take)
                }
                _ => None,
            };
            let memo = match memo {
                Some(Decoded::Unknown) | None => {
                    match self.decode(&l, &raw, samples, &mut to_validate) {
                        Ok(d) => d,
                        Err(e) => {
                            self.batch = batch;
                            return Err(e);
                        }
                    }
                }
                Some(known) => {
                    self.stats.frames_memo += 1;
                    if let Decoded::Frame(f) = &known
                        && !f.code.is_function()
                        && let Some(e) = self.codes.get_mut(&f.code.id)
                    {
                        // Run-once code is checked on a use after a sample
                        // without it (see `frame`): one that stays on the
                        // stack (a script's `<module>`) is in use.
                        e.used_at = samples;
                    }
                    known
                }
            };
            if chain.len() == 1
                && region.is_some_and(|(_, end)| !(chunk..end).contains(&raw.addr))
                && l.gen_owner.is_some_and(|g| raw.owner != g)
                && matches!(&memo, Decoded::Frame(_))
            {
                // The current frame lies outside the data stack, where only
                // generators' and coroutines' frames run, and it is not
                // owned by a generator (a frame object's copy, say): on
                // 3.11/3.12 the `_PyCFrame` it came from was read after it
                // died (its C stack slot then names any frame, long dead).
                self.batch = batch;
                return Err(Fail(SampleError::Torn));
            }
            // A frame whose caller in the chain is an entry shim (3.12+) was
            // called from C.
            if let Some(Decoded::Frame(inner)) = decoded.last_mut() {
                inner.from_c = (l.skip_owners != 0).then(|| l.skips_owner(raw.owner));
            }
            decoded.push(memo);
        }
        // The outermost frame has no caller: not called from C either.
        if l.skip_owners != 0
            && let Some(Decoded::Frame(outer)) = decoded.last_mut()
        {
            outer.from_c = Some(false);
        }
        // The sample's frames, in one pass after the walk (pushed one by
        // one inside it, each went through a stack temporary).
        out.extend(decoded.iter().filter_map(|d| match d {
            Decoded::Frame(f) => Some(f.clone()),
            _ => None,
        }));

        // 5. Periodic fingerprint checks, batched.
        if !to_validate.is_empty() {
            let stale = self.validate(&mut batch, &to_validate);
            if stale {
                self.batch = batch;
                return Err(Redo);
            }
        }
        self.batch = batch;
        // A thread's outermost frame is not a generator's or a coroutine's:
        // something called it, and a suspended one links to nothing. A walk
        // that ends on one went through a stale link: frames reused from
        // the previous sample when the loop switched tasks in between and
        // the new task's frames sit at the old one's addresses (freed and
        // reallocated), looking the same. Read the stack again from
        // scratch, without reuse.
        let outer_generator = out.last().is_some_and(|f| f.code.runs_generator());
        if warm && outer_generator {
            return Err(Redo);
        }
        // A real stack holds each frame once. A frame twice means the walk
        // joined the previous chain at the wrong place (through frames
        // reallocated at old addresses) and replayed part of it: seen on
        // FastAPI as its middleware frames repeated 16 times.
        if warm && has_duplicate(&chain, &mut self.scratch) {
            return Err(Redo);
        }
        if outer_generator && !gen_root_ok {
            // Read from scratch and still ending on a generator's frame: most
            // often torn (see `stack_into`), read again.
            return Err(GenRoot);
        }
        if outer_generator {
            // A thread whose stack keeps ending on a generator's frame: taken
            // as it is, but not kept for the next sample to reuse (a chain cut
            // short by a torn read would otherwise be replayed for as long as
            // the inner frames stay the same, and no loop would ever be seen
            // under it). The next sample reads the whole stack again.
            chain.clear();
            heap.clear();
            decoded.clear();
        }
        tc.spare_chain = std::mem::replace(&mut tc.chain, chain);
        tc.spare_heap = std::mem::replace(&mut tc.heap, heap);
        tc.spare_decoded = std::mem::replace(&mut tc.decoded, decoded);
        // The epoch this walk started at: a code object evicted during it
        // (frames decoded before may name it) has already moved
        // `codes_epoch` on, so none of them is reused.
        tc.decoded_epoch = epoch;
        Ok(out)
    }

    /// What one raw frame decodes to: skipped (a shim or C-stack entry,
    /// or no code) or a `Frame`.
    fn decode(
        &mut self,
        l: &super::Layout,
        raw: &RawFrame,
        samples: u64,
        to_validate: &mut Vec<u64>,
    ) -> Result<Decoded, Outcome> {
        if l.f_owner.is_some() && l.skips_owner(raw.owner) {
            return Ok(Decoded::Skipped);
        }
        let code = raw.code & l.ref_mask;
        if code == 0 {
            return Ok(Decoded::Skipped);
        }
        Ok(match self.frame(code, raw, samples, to_validate)? {
            Some(f) => Decoded::Frame(f),
            None => Decoded::Skipped,
        })
    }

    /// The `Frame` for one raw frame; `None` for a frame that is not Python
    /// code (its executable is not a code object).
    fn frame(
        &mut self,
        code: u64,
        raw: &RawFrame,
        samples: u64,
        to_validate: &mut Vec<u64>,
    ) -> Result<Option<Frame>, Outcome> {
        let l = Arc::clone(&self.layout);
        let addrq = |e: &CodeEntry| -> Option<i64> {
            match l.lasti {
                Lasti::Bytes => Some(i64::from(raw.instr as i32)),
                Lasti::Units => {
                    let v = i64::from(raw.instr as i32);
                    Some(if v < 0 { -1 } else { v * 2 })
                }
                Lasti::PrevInstr | Lasti::InstrPtr => {
                    // A new 3.11/3.12 frame has prev_instr one unit before.
                    let lo = e.code_start.wrapping_sub(2);
                    if raw.instr < lo
                        || (e.code_bytes != 0
                            && raw.instr > e.code_start.saturating_add(e.code_bytes))
                    {
                        None
                    } else {
                        Some((raw.instr as i64).wrapping_sub(e.code_start as i64))
                    }
                }
            }
        };
        let mut q = match self.codes.get(&code) {
            Some(e) => addrq(e),
            None => None,
        };
        if q.is_none() {
            // Unknown code, or the instruction is outside the cached code's
            // bytecode (address reused?): (re)load it.
            if self.codes.remove(&code).is_some() {
                self.codes_epoch += 1;
            }
            match self.load_code(code, raw.globals, samples) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(_) => return Err(Fail(SampleError::Torn)),
            }
            q = self.codes.get(&code).and_then(addrq);
        }
        let Some(q) = q else {
            return Err(Fail(SampleError::Torn));
        };
        let Some(e) = self.codes.get_mut(&code) else {
            return Err(Fail(SampleError::Torn));
        };
        // A code object is alive while a frame runs it, so a cached entry
        // can only have gone stale (freed, and another code object made at
        // its address) while no sample saw it: one unused for a while is
        // checked again now, as is every entry now and then.
        // Code that runs once (a module's or a class body's, `exec`'d code:
        // no `CO_NEWLOCALS`) is freed as soon as it is done, and its
        // address soon reused: unless it was on the previous sample's stack,
        // it is checked at once.
        let unused = samples.saturating_sub(e.used_at);
        let idle = unused > RECHECK_IDLE || (unused > 1 && !e.info.is_function());
        e.used_at = samples;
        if (idle || samples.saturating_sub(e.validated_at) >= self.policy.revalidate_every)
            && !to_validate.contains(&code)
        {
            to_validate.push(code);
        }
        let e = &*e;
        if e.info
            .flags
            .is_some_and(|f| f & CO_NO_MONITORING_EVENTS != 0)
        {
            // CPython's own helper code (3.13+: the `__init__` clean-up frame
            // between a caller and the `__init__` it calls), not a frame of
            // the program.
            return Ok(None);
        }
        let line = match self.lines.get(&(code, q)) {
            Some(&n) => n,
            None => {
                let n = line_for(
                    self.layout.line_table,
                    &e.linetable,
                    i64::from(e.info.first_line),
                    q,
                );
                if self.lines.len() >= MAX_LINES {
                    self.lines.clear();
                }
                self.lines.insert((code, q), n);
                n
            }
        };
        let handle = if e.handle_run {
            raw.local0 & self.layout.ref_mask
        } else {
            0
        };
        Ok(Some(Frame {
            code: Arc::clone(&e.info),
            line,
            addr: raw.addr,
            handle,
            from_c: None,
        }))
    }

    /// Read a code object into the cache. `Ok(false)`: not a code object.
    fn load_code(&mut self, code: u64, globals: u64, samples: u64) -> Result<bool, ()> {
        let l = &self.layout;
        let mut hdr = vec![0u8; l.code_len()];
        self.mem.read(code, &mut hdr).map_err(|_| ())?;
        self.stats.code_loads += 1;
        if let Some(t) = self.types.code
            && rd_u64(&hdr, l.ob_type as usize) != Some(t)
        {
            return Ok(false);
        }
        let fp = fingerprint(l, &hdr).ok_or(())?;
        let flags = rd_i32(&hdr, l.co_flags as usize).ok_or(())? as u32;
        let first_line = rd_i32(&hdr, l.co_firstlineno as usize).ok_or(())?;
        let name = read_str(&self.mem, l, &self.types, fp[0]).map_err(|_| ())?;
        let file = read_str(&self.mem, l, &self.types, fp[1]).map_err(|_| ())?;
        let qualname = match l.co_qualname {
            Some(_) => read_str(&self.mem, l, &self.types, fp[2]).map_err(|_| ())?,
            None => name.clone(),
        };
        let linetable =
            read_bytes(&self.mem, l, &self.types, fp[3], MAX_LINETABLE).unwrap_or_default();
        let (code_start, code_bytes) = match l.co_code_adaptive {
            Some(o) => {
                let units = rd_u64(&hdr, l.var_ob_size as usize).unwrap_or(0);
                (
                    code.wrapping_add(o),
                    if units < (1 << 24) { units * 2 } else { 0 },
                )
            }
            None => (0, 0),
        };
        let module = match self.modules.get(&globals) {
            Some(m) => m.clone(),
            None => {
                let m = module_name(&self.mem, l, &self.types, globals, &mut self.name_key).ok();
                if self.modules.len() >= MAX_CODES {
                    self.modules.clear();
                }
                self.modules.insert(globals, m.clone());
                m
            }
        };
        let handle_run = name == "_run"
            && (file.ends_with("asyncio/events.py") || file.ends_with("asyncio\\events.py"));
        if self.codes.len() >= MAX_CODES {
            self.codes.clear();
            self.codes_epoch += 1;
        }
        self.codes.insert(
            code,
            CodeEntry {
                info: Arc::new(CodeInfo {
                    id: code,
                    name,
                    qualname,
                    file,
                    first_line: u32::try_from(first_line).unwrap_or(0),
                    module,
                    flags: Some(flags),
                    roles: Default::default(),
                }),
                fingerprint: fp,
                code_start,
                code_bytes,
                linetable: linetable.into_boxed_slice(),
                handle_run,
                validated_at: samples,
                used_at: samples,
            },
        );
        Ok(true)
    }

    /// Re-read the given code objects' headers in one batched read; evict
    /// the ones whose fingerprint changed. True if any did.
    fn validate(&mut self, batch: &mut Batch, codes: &[u64]) -> bool {
        let l = &self.layout;
        let len = l.code_len();
        let from = batch.parts.len();
        for &c in codes {
            batch.add(c, len, false);
        }
        batch.run(&self.mem, from);
        let samples = self.stats.samples;
        let mut stale = false;
        for (i, &c) in codes.iter().enumerate() {
            let fresh = batch.get(from + i).and_then(|b| fingerprint(l, b));
            let same = match (self.codes.get(&c), fresh) {
                (Some(e), Some(fp)) => e.fingerprint == fp,
                _ => false,
            };
            if same {
                if let Some(e) = self.codes.get_mut(&c) {
                    e.validated_at = samples;
                }
            } else {
                self.codes.remove(&c);
                self.codes_epoch += 1;
                self.lines.retain(|(k, _), _| *k != c);
                stale = true;
            }
        }
        stale
    }
}

/// Why a sample attempt failed: for good, or "evicted a stale code object,
/// try once more".
enum Outcome {
    Fail(SampleError),
    Redo,
    /// Read from scratch, the stack ended on a generator's frame.
    GenRoot,
}
use Outcome::{Fail, GenRoot, Redo};

/// Whether a frame above the data stack's `top` could have been pushed
/// since `top` was read: it has a caller (`previous`), and not one in the
/// dead part of the chunk, `[top, end)` (a live frame below `top`, or a
/// generator's frame outside the chunk).
fn pushed_after(previous: u64, top: u64, end: u64) -> bool {
    previous != 0 && !(top..end).contains(&previous)
}

/// Whether two frames of `chain` have the same address. Runs after most
/// warm walks, so it is cheap for usual depths: a small open-addressing
/// table on the stack; deeper chains are sorted in `scratch`.
pub(super) fn has_duplicate(chain: &[RawFrame], scratch: &mut Vec<u64>) -> bool {
    match chain.len() {
        0..=32 => no_repeat_table::<64>(chain),
        33..=64 => no_repeat_table::<128>(chain),
        65..=128 => no_repeat_table::<256>(chain),
        _ => {
            scratch.clear();
            scratch.extend(chain.iter().map(|r| r.addr));
            scratch.sort_unstable();
            scratch.windows(2).any(|w| w[0] == w[1])
        }
    }
}

/// `has_duplicate` for a chain of at most `N / 2` frames: an
/// open-addressing table of `N` slots (a power of two) on the stack.
fn no_repeat_table<const N: usize>(chain: &[RawFrame]) -> bool {
    let mut table = [0u64; N];
    let shift = 64 - N.trailing_zeros();
    for r in chain {
        if r.addr == 0 {
            continue;
        }
        // Fibonacci hashing: the top log2(N) bits of the product.
        let mut i = (r.addr.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize;
        loop {
            match table[i] {
                0 => {
                    table[i] = r.addr;
                    break;
                }
                a if a == r.addr => return true,
                _ => i = (i + 1) & (N - 1),
            }
        }
    }
    false
}

fn parse(l: &super::Layout, addr: u64, b: &[u8]) -> RawFrame {
    let g = |o: u64| rd_u64(b, o as usize).unwrap_or(0);
    RawFrame {
        addr,
        code: g(l.f_code),
        previous: g(l.f_previous),
        instr: match l.lasti {
            Lasti::Bytes | Lasti::Units => {
                i64::from(rd_i32(b, l.f_instr as usize).unwrap_or(-1)) as u64
            }
            _ => g(l.f_instr),
        },
        globals: g(l.f_globals),
        local0: g(l.f_localsplus),
        owner: l
            .f_owner
            .and_then(|o| rd_u8(b, o as usize))
            .map_or(0, u64::from),
    }
}

fn fingerprint(l: &super::Layout, hdr: &[u8]) -> Option<[u64; 6]> {
    let name = rd_u64(hdr, l.co_name as usize)?;
    let file = rd_u64(hdr, l.co_filename as usize)?;
    let qual = match l.co_qualname {
        Some(o) => rd_u64(hdr, o as usize)?,
        None => 0,
    };
    let table = rd_u64(hdr, l.co_linetable as usize)?;
    let first = rd_i32(hdr, l.co_firstlineno as usize)? as u32;
    let flags = rd_i32(hdr, l.co_flags as usize)? as u32;
    let version = match l.co_version {
        Some(o) => rd_i32(hdr, o as usize)? as u32,
        None => 0,
    };
    Some([
        name,
        file,
        qual,
        table,
        u64::from(first) | (u64::from(flags) << 32),
        u64::from(version),
    ])
}

/// Add frame-sized ranges at `addrs` to the batch, merging neighbours.
///
/// What a `process_vm_readv` costs here goes by remote iovecs and pages,
/// hardly by bytes: about 1.1 us a call, 0.35 us an iovec, 0.3 us a page
/// past an iovec's first (docs/performance.md, "What a read costs").
fn add_merged(batch: &mut Batch, addrs: &mut [u64], frame_len: usize) {
    addrs.sort_unstable();
    let page = |a: u64| a / PAGE;
    let mut i = 0;
    while i < addrs.len() {
        let start = addrs[i];
        let mut end = start.saturating_add(frame_len as u64);
        let mut j = i + 1;
        // Merged while the next frame starts in the page the range ends in
        // or the one after: the merged range touches no page the separate
        // reads would not (and so none that is not mapped), and saves a
        // remote iovec.
        while j < addrs.len()
            && page(addrs[j]) <= page(end.saturating_sub(1)) + 1
            && addrs[j].saturating_add(frame_len as u64) - start <= MAX_MERGED
        {
            end = end.max(addrs[j].saturating_add(frame_len as u64));
            j += 1;
        }
        batch.add(start, (end - start) as usize, false);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::{Batch, MAX_MERGED, PAGE, add_merged};

    fn ranges(addrs: &[u64], frame_len: usize) -> Vec<(u64, usize)> {
        let mut b = Batch::default();
        add_merged(&mut b, &mut addrs.to_vec(), frame_len);
        b.parts.iter().map(|p| (p.addr, p.len)).collect()
    }

    #[test]
    fn frames_in_one_page_or_the_next_are_read_in_one_range() {
        let base = 0x7f00_0000_0000;
        // Same page, far apart within it: one range.
        assert_eq!(
            ranges(&[base + 3000, base + 100], 80),
            vec![(base + 100, 2980)]
        );
        // The next frame starts in the page after the one the range ends in.
        assert_eq!(
            ranges(&[base + 4000, base + PAGE + 3000], 360),
            vec![(base + 4000, (PAGE - 1000 + 360) as usize)]
        );
        // A page in between that neither frame touches: two ranges, so no
        // page is read that might not be mapped.
        assert_eq!(
            ranges(&[base + 100, base + 2 * PAGE + 100], 360),
            vec![(base + 100, 360), (base + 2 * PAGE + 100, 360)]
        );
    }

    #[test]
    fn a_merged_range_stays_bounded() {
        let base = 0x7f00_0000_0000;
        let addrs: Vec<u64> = (0..64).map(|i| base + i * 1024).collect();
        let r = ranges(&addrs, 512);
        assert!(r.iter().all(|&(_, len)| len as u64 <= MAX_MERGED), "{r:?}");
        assert_eq!(
            r.iter().map(|&(_, len)| len).sum::<usize>(),
            63 * 1024 + 512 - (r.len() - 1) * 512
        );
    }
}
