//! Access to the target's memory: the [`Memory`] trait the direct reader
//! reads through, its implementation for a live process (remoteprocess for
//! single reads, one vectored `process_vm_readv` for batches), a fake
//! in-memory map ([`FakeMem`], for tests, the property test and the fuzz
//! target), bounds-checked little-endian decoders, and [`hostile`]: the
//! reader run over a fake target built from arbitrary bytes.

use std::cell::Cell;
use std::fmt;

use smallvec::SmallVec;

/// A failed read of the target's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemError(pub String);

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MemError {}

/// Most ranges one batched read asks for (Linux `IOV_MAX` is 1024).
pub const MAX_BATCH: usize = 1024;
/// Iovecs of one batched read built on the stack rather than the heap.
const STACK_IOVECS: usize = 16;

/// The target's memory, read only.
pub trait Memory {
    /// Fill `buf` from `addr`, entirely or fail.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError>;

    /// Fill several buffers, in order, as one operation where the platform
    /// allows (one system call). Returns how many leading requests were read
    /// completely; the rest must be treated as unread.
    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        for (i, (addr, buf)) in reqs.iter_mut().enumerate() {
            if self.read(*addr, buf).is_err() {
                return i;
            }
        }
        reqs.len()
    }

    /// How many read operations (system calls, for a live process) so far.
    fn ops(&self) -> u64 {
        0
    }
}

/// A live process: `read` goes through remoteprocess (`process_vm_readv`,
/// falling back to /proc/PID/mem), `read_batch` is one vectored
/// `process_vm_readv` (remoteprocess has no vectored call).
pub struct ProcessMem {
    process: remoteprocess::Process,
    pid: libc::pid_t,
    ops: Cell<u64>,
}

impl ProcessMem {
    pub fn new(pid: libc::pid_t) -> Result<ProcessMem, MemError> {
        let process = remoteprocess::Process::new(pid).map_err(|e| MemError(e.to_string()))?;
        Ok(ProcessMem {
            process,
            pid,
            ops: Cell::new(0),
        })
    }
}

impl Memory for ProcessMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        use remoteprocess::ProcessMemory;
        self.ops.set(self.ops.get() + 1);
        if buf.is_empty() {
            return Ok(());
        }
        let addr = usize::try_from(addr).map_err(|_| MemError("address too large".into()))?;
        self.process
            .read(addr, buf)
            .map_err(|e| MemError(format!("read {} bytes at {addr:#x}: {e}", buf.len())))
    }

    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        let mut done = 0;
        let count = reqs.len();
        while done < count {
            let part = &mut reqs[done..(done + MAX_BATCH).min(count)];
            // Up to STACK_IOVECS requests (every steady-state sample) build
            // their iovecs on the stack; longer batches use the heap.
            let mut local: SmallVec<[libc::iovec; STACK_IOVECS]> = SmallVec::new();
            let mut remote: SmallVec<[libc::iovec; STACK_IOVECS]> = SmallVec::new();
            let mut total = 0usize;
            for (addr, buf) in part.iter_mut() {
                local.push(libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                });
                remote.push(libc::iovec {
                    iov_base: *addr as usize as *mut libc::c_void,
                    iov_len: buf.len(),
                });
                total += buf.len();
            }
            self.ops.set(self.ops.get() + 1);
            // SAFETY: every local iovec points into a live, exclusively
            // borrowed buffer of the stated length; the remote iovecs are
            // only addresses in the other process, which the kernel checks.
            let n = unsafe {
                libc::process_vm_readv(
                    self.pid,
                    local.as_ptr(),
                    local.len() as libc::c_ulong,
                    remote.as_ptr(),
                    remote.len() as libc::c_ulong,
                    0,
                )
            };
            if n < 0 {
                let errno = std::io::Error::last_os_error().raw_os_error();
                if matches!(errno, Some(libc::EPERM) | Some(libc::ENOSYS)) {
                    // No process_vm_readv here: one read at a time, through
                    // remoteprocess's /proc/PID/mem fallback.
                    let mut ok = 0;
                    for (addr, buf) in part.iter_mut() {
                        if self.read(*addr, buf).is_err() {
                            return done + ok;
                        }
                        ok += 1;
                    }
                    done += ok;
                    continue;
                }
                return done;
            }
            // Partial transfers stop at the first failing range.
            let mut left = n as usize;
            let mut full = 0;
            for (_, buf) in part.iter() {
                if left < buf.len() {
                    break;
                }
                left -= buf.len();
                full += 1;
            }
            done += full;
            if (n as usize) < total {
                return done;
            }
        }
        done
    }

    fn ops(&self) -> u64 {
        self.ops.get()
    }
}

/// Little-endian decoders over a byte slice; `None` when out of bounds.
pub fn rd_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

pub fn rd_i64(b: &[u8], off: usize) -> Option<i64> {
    rd_u64(b, off).map(|v| v as i64)
}

pub fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

pub fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    rd_u32(b, off).map(|v| v as i32)
}

pub fn rd_u8(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// An in-memory target for tests and fuzzing: a set of mapped regions.
/// Reads that are not entirely inside one region fail, like unmapped memory.
#[derive(Default)]
pub struct FakeMem {
    regions: Vec<(u64, Vec<u8>)>,
    ops: Cell<u64>,
    /// Ranges asked for (remote iovecs, for a batched read).
    ranges: Cell<u64>,
}

impl FakeMem {
    pub fn new() -> FakeMem {
        FakeMem::default()
    }

    /// Map `bytes` at `addr` (replacing any region starting there).
    pub fn map(&mut self, addr: u64, bytes: Vec<u8>) {
        self.regions.retain(|(a, _)| *a != addr);
        self.regions.push((addr, bytes));
    }

    /// Write into an already mapped region.
    pub fn poke(&mut self, addr: u64, bytes: &[u8]) {
        for (a, r) in &mut self.regions {
            if addr >= *a && addr + bytes.len() as u64 <= *a + r.len() as u64 {
                let o = (addr - *a) as usize;
                r[o..o + bytes.len()].copy_from_slice(bytes);
                return;
            }
        }
        panic!("poke outside mapped memory at {addr:#x}");
    }

    pub fn poke_u64(&mut self, addr: u64, v: u64) {
        self.poke(addr, &v.to_le_bytes());
    }

    /// Like [`FakeMem::poke`], but bytes that fall outside every region are
    /// dropped instead of panicking. Returns whether all of them landed.
    pub fn poke_lossy(&mut self, addr: u64, bytes: &[u8]) -> bool {
        let mut all = true;
        for (i, &b) in bytes.iter().enumerate() {
            let a = addr.wrapping_add(i as u64);
            let hit = self
                .regions
                .iter_mut()
                .find(|(base, r)| a >= *base && a - *base < r.len() as u64);
            match hit {
                Some((base, r)) => r[(a - *base) as usize] = b,
                None => all = false,
            }
        }
        all
    }

    /// Ranges read so far (a batched read counts each of its ranges).
    pub fn ranges_read(&self) -> u64 {
        self.ranges.get()
    }

    /// Start address and length of every mapped region.
    pub fn regions(&self) -> Vec<(u64, usize)> {
        self.regions.iter().map(|(a, r)| (*a, r.len())).collect()
    }

    fn get(&self, addr: u64, buf: &mut [u8]) -> bool {
        for (a, r) in &self.regions {
            let Some(end) = addr.checked_add(buf.len() as u64) else {
                return false;
            };
            if addr >= *a && end <= a.saturating_add(r.len() as u64) {
                let o = (addr - *a) as usize;
                buf.copy_from_slice(&r[o..o + buf.len()]);
                return true;
            }
        }
        false
    }
}

impl Memory for FakeMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.ops.set(self.ops.get() + 1);
        self.ranges.set(self.ranges.get() + 1);
        if self.get(addr, buf) {
            Ok(())
        } else {
            Err(MemError(format!("unmapped {addr:#x}+{}", buf.len())))
        }
    }

    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        self.ops.set(self.ops.get() + 1);
        self.ranges.set(self.ranges.get() + reqs.len() as u64);
        for (i, (addr, buf)) in reqs.iter_mut().enumerate() {
            if !self.get(*addr, buf) {
                return i;
            }
        }
        reqs.len()
    }

    fn ops(&self) -> u64 {
        self.ops.get()
    }
}

/// The direct reader over hostile memory: a fake target built from
/// arbitrary bytes, for the fuzz target (`fuzz/fuzz_targets/decode_stack.rs`)
/// and the property test (`tests/faults.rs`).
///
/// The bytes drive a generator rather than being the memory itself, so that
/// random input reaches deep into the decoding: a Python version (3.8-3.15,
/// its real layout, on 3.13+ optionally re-read from a fake, corruptible
/// `_Py_DebugOffsets`), then thread states, `_PyCFrame`s, a data-stack chunk,
/// frame chains, code objects, `str`/`bytes` objects (line tables) and
/// module globals dicts, laid out at fixed addresses. Every pointer the
/// generator writes is, by the input's choice, valid or hostile: null,
/// misaligned, into an object of another type, unmapped, near `u64::MAX`,
/// or arbitrary; frame chains get cycles; lengths get huge or negative; names
/// get non-UTF-8 bytes, lone surrogates, non-compact forms. Then the input
/// pokes arbitrary bytes anywhere, and pokes more between samples (a target
/// that changes under the reader: torn reads). Input that runs out reads as
/// zeros, which choose the valid option everywhere: the empty input is a
/// well-formed target.
///
/// [`decode`] must return (no panic, no hang, bounded memory); [`check`]
/// states the bounds its result must meet.
pub mod hostile {
    use super::FakeMem;
    use crate::python::direct::objects::{MAX_STR_CHARS, Types};
    use crate::python::direct::offsets::{self, DEBUG_COOKIE, DictKeys, Layout};
    use crate::python::direct::{DirectReader, MAX_DEPTH, MAX_THREADS, PyThread};
    use crate::sample::{Frame, SampleError};

    const INTERP: u64 = 0x10_0000;
    const TSTATES: u64 = 0x20_0000;
    const CFRAMES: u64 = 0x30_0000;
    const CHUNK: u64 = 0x40_0000;
    const CHUNK_LEN: usize = 0x4000;
    const FRAMES: u64 = 0x50_0000;
    const CODES: u64 = 0x60_0000;
    const STRS: u64 = 0x70_0000;
    const BYTES: u64 = 0x80_0000;
    const DICTS: u64 = 0x90_0000;
    const RUNTIME: u64 = 0xa0_0000;
    /// Fake type object addresses (when the reader is told to check types).
    const TYPE_CODE: u64 = 0xf0_0000;
    const TYPE_STR: u64 = 0xf0_1000;
    const TYPE_BYTES: u64 = 0xf0_2000;
    const TYPE_DICT: u64 = 0xf0_3000;
    const TID: u64 = 4242;
    const PTHREAD: u64 = 0x7f00_0000_0000;

    const N_THREADS: u64 = 3;
    const N_FRAMES: u64 = 24;
    const FRAME_SLOT: u64 = 0x400;
    const N_CODES: u64 = 8;
    const CODE_SLOT: u64 = 0x1000;
    const N_STRS: u64 = 12;
    const STR_SLOT: u64 = 0x8000;
    const N_BYTES: u64 = 4;
    const BYTES_SLOT: u64 = 0x2000;
    const N_DICTS: u64 = 3;
    const DICT_SLOT: u64 = 0x1000;
    /// A layout whose structures are larger than this (a hostile
    /// `_Py_DebugOffsets` can make them up to 1 MiB) gets no objects built:
    /// the reader runs over whatever is mapped.
    const MAX_STRUCT: usize = 4096;

    /// Names the generator gives str objects: the ones the reader and the
    /// detector look for, and ordinary ones.
    const NAMES: [&str; N_STRS as usize] = [
        "_run",
        "/usr/lib/python3.12/asyncio/events.py",
        "__name__",
        "asyncio.events",
        "select",
        "/usr/lib/python3.12/selectors.py",
        "_run_once",
        "/usr/lib/python3.12/asyncio/base_events.py",
        "handler",
        "/srv/app.py",
        "app",
        "Server.handler",
    ];

    /// The input, read front to back; zeros once it runs out.
    struct Input<'a> {
        data: &'a [u8],
        pos: usize,
    }

    impl Input<'_> {
        fn u8(&mut self) -> u8 {
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            b
        }
        fn u16(&mut self) -> u16 {
            u16::from_le_bytes([self.u8(), self.u8()])
        }
        fn u32(&mut self) -> u32 {
            u32::from(self.u16()) | u32::from(self.u16()) << 16
        }
        fn u64(&mut self) -> u64 {
            u64::from(self.u32()) | u64::from(self.u32()) << 32
        }
        fn below(&mut self, n: u64) -> u64 {
            u64::from(self.u8()) % n.max(1)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.u8()).collect()
        }
        /// `valid`, or (about one time in five) a hostile pointer.
        fn ptr(&mut self, valid: u64) -> u64 {
            match self.u8() {
                0..=199 => valid,
                200..=209 => 0,
                210..=219 => valid.wrapping_add(1 + u64::from(self.u8() % 15)),
                220..=229 => {
                    // An object of another kind: type confusion.
                    let bases = [INTERP, TSTATES, CFRAMES, CHUNK, FRAMES, CODES, STRS, BYTES];
                    bases[self.below(bases.len() as u64) as usize] + 8 * u64::from(self.u8())
                }
                230..=239 => 0xdead_0000_0000 + u64::from(self.u16()),
                240..=249 => u64::MAX - u64::from(self.u8()),
                _ => self.u64(),
            }
        }
        /// A length: usually `valid`, else huge, negative or arbitrary.
        fn len(&mut self, valid: u64) -> u64 {
            match self.u8() {
                0..=219 => valid,
                220..=229 => 1 << 40,
                230..=239 => (-1i64 - i64::from(self.u8())) as u64,
                240..=247 => i64::MAX as u64,
                _ => self.u64(),
            }
        }
    }

    fn put(b: &mut [u8], off: u64, v: u64) {
        let Ok(o) = usize::try_from(off) else { return };
        if let Some(s) = o.checked_add(8).and_then(|e| b.get_mut(o..e)) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn put4(b: &mut [u8], off: u64, v: u32) {
        let Ok(o) = usize::try_from(off) else { return };
        if let Some(s) = o.checked_add(4).and_then(|e| b.get_mut(o..e)) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    }

    fn put1(b: &mut [u8], off: u64, v: u8) {
        if let Some(x) = usize::try_from(off).ok().and_then(|o| b.get_mut(o)) {
            *x = v;
        }
    }

    /// What one run decoded.
    #[derive(Debug)]
    pub struct Decoded {
        pub minor: u32,
        /// The thread list, or the error reading it.
        pub threads: Result<Vec<PyThread>, String>,
        /// Every stack read, in order.
        pub stacks: Vec<Result<Vec<Frame>, SampleError>>,
    }

    /// The bounds every result must meet, whatever the memory held.
    pub fn check(d: &Decoded) -> Result<(), String> {
        if let Ok(t) = &d.threads
            && t.len() > MAX_THREADS
        {
            return Err(format!("{} threads listed", t.len()));
        }
        for s in d.stacks.iter().flatten() {
            if s.len() > MAX_DEPTH {
                return Err(format!("stack of {} frames", s.len()));
            }
            for f in s {
                let c = &f.code;
                for text in [&c.name, &c.qualname, &c.file]
                    .into_iter()
                    .chain(c.module.as_ref())
                {
                    if text.chars().count() > MAX_STR_CHARS + 1 {
                        return Err(format!("string of {} chars", text.chars().count()));
                    }
                }
            }
        }
        Ok(())
    }

    /// A valid `_Py_DebugOffsets` for 3.`minor` (the header table's own
    /// values), as the target would hold it.
    fn debug_offsets(minor: u32) -> Option<Vec<u8>> {
        let (_, h) = offsets::table_for(minor)?;
        let mut b = vec![0u8; usize::try_from(h.dbg_size?).ok()?.min(1 << 16)];
        b.get_mut(..8)?.copy_from_slice(DEBUG_COOKIE);
        put(&mut b, h.dbg_version?, h.version_hex);
        put(&mut b, h.dbg_free_threaded?, 0);
        let pairs = [
            (h.dbg_interp_threads_head, Some(h.interp_threads_head)),
            (
                h.dbg_runtime_interpreters_head,
                Some(h.runtime_interpreters_head),
            ),
            (h.dbg_ts_next, Some(h.ts_next)),
            (h.dbg_ts_current_frame, h.ts_current_frame),
            (h.dbg_ts_thread_id, Some(h.ts_thread_id)),
            (h.dbg_ts_native_thread_id, h.ts_native_thread_id),
            (h.dbg_ts_datastack_chunk, h.ts_datastack_chunk),
            (h.dbg_iframe_previous, h.iframe_previous),
            (h.dbg_iframe_executable, h.iframe_code),
            (h.dbg_iframe_instr_ptr, h.iframe_instr),
            (h.dbg_iframe_localsplus, h.iframe_localsplus),
            (h.dbg_iframe_owner, h.iframe_owner),
            (h.dbg_co_filename, Some(h.co_filename)),
            (h.dbg_co_name, Some(h.co_name)),
            (h.dbg_co_qualname, h.co_qualname),
            (h.dbg_co_linetable, Some(h.co_linetable)),
            (h.dbg_co_firstlineno, Some(h.co_firstlineno)),
            (h.dbg_co_argcount, h.co_argcount),
            (h.dbg_co_code_adaptive, h.co_code_adaptive),
            (h.dbg_ob_type, Some(h.ob_type)),
            (h.dbg_dict_ma_keys, Some(h.dict_ma_keys)),
            (h.dbg_dict_ma_values, Some(h.dict_ma_values)),
            (h.dbg_bytes_ob_size, Some(h.var_ob_size)),
            (h.dbg_bytes_ob_sval, Some(h.bytes_ob_sval)),
            (h.dbg_unicode_state, Some(h.unicode_state)),
            (h.dbg_unicode_length, Some(h.unicode_length)),
            (h.dbg_unicode_ascii_size, Some(h.unicode_ascii_size)),
        ];
        for (at, v) in pairs {
            if let (Some(at), Some(v)) = (at, v) {
                put(&mut b, at, v);
            }
        }
        Some(b)
    }

    /// Overwrite `n` words of `b` at input-chosen 8-byte slots.
    fn scribble(inp: &mut Input, b: &mut [u8], n: u8) {
        for _ in 0..n {
            let slots = (b.len() / 8).max(1) as u64;
            let at = 8 * (u64::from(inp.u16()) % slots);
            let v = inp.len(0);
            put(b, at, v);
        }
    }

    /// Builds the fake target from `data` and runs the reader over it:
    /// the thread list, then each thread's stack a few times, with the
    /// memory changing between samples.
    pub fn decode(data: &[u8]) -> Decoded {
        let mut inp = Input { data, pos: 0 };
        let mut mem = FakeMem::new();
        let minor = 8 + u32::from(inp.u8() % 8);
        let mut layout = match offsets::from_table(minor) {
            Ok(l) => l,
            Err(e) => {
                return Decoded {
                    minor,
                    threads: Err(format!("{e:#}")),
                    stacks: Vec::new(),
                };
            }
        };
        if minor >= 13 && inp.u8() < 128 {
            // Read the layout from a (corruptible) _Py_DebugOffsets, as
            // attach does for 3.13+.
            if let Some(mut dbg) = debug_offsets(minor) {
                let n = inp.u8() % 4;
                scribble(&mut inp, &mut dbg, n);
                mem.map(RUNTIME, dbg);
                // A refused _Py_DebugOffsets fails attach: stop here then.
                if let Err(e) = offsets::apply_debug_offsets(&mut layout, &mem, RUNTIME) {
                    return Decoded {
                        minor,
                        threads: Err(format!("{e:#}")),
                        stacks: Vec::new(),
                    };
                }
            }
        }
        let types = if inp.u8() & 1 == 1 {
            Types {
                code: Some(TYPE_CODE),
                str_: Some(TYPE_STR),
                bytes: Some(TYPE_BYTES),
                dict: Some(TYPE_DICT),
            }
        } else {
            Types::default()
        };
        let (ts_lo, ts_hi) = layout.ts_range();
        let small = layout.frame_len() <= MAX_STRUCT
            && layout.code_len() <= MAX_STRUCT
            && ts_hi.saturating_sub(ts_lo) <= MAX_STRUCT as u64
            && ts_hi <= MAX_STRUCT as u64 * 4
            && layout.interp_threads_head <= 1 << 20
            && layout.unicode_compact_size <= MAX_STRUCT as u64
            && layout.unicode_length <= MAX_STRUCT as u64
            && layout.unicode_state <= MAX_STRUCT as u64
            && layout.bytes_ob_sval <= MAX_STRUCT as u64
            && layout.var_ob_size <= MAX_STRUCT as u64
            && layout.ob_type <= MAX_STRUCT as u64;
        if small {
            build(&mut inp, &mut mem, &layout);
        } else {
            // Structures too large to lay out: a few raw pages only.
            let page = inp.bytes(256);
            for base in [INTERP, TSTATES, CHUNK, FRAMES] {
                mem.map(base, page.clone());
            }
        }
        // Arbitrary corruption anywhere.
        let pokes = inp.u8() % 24;
        poke(&mut inp, &mut mem, pokes);

        let mut reader =
            DirectReader::with_memory(mem, layout, format!("3.{minor}.0"), -1, INTERP, types);
        reader.policy.max_fresh_frames = usize::from(inp.u8() % 12);
        reader.policy.revalidate_every = 1 + u64::from(inp.u8() % 4);
        let threads = reader.threads().map_err(|e| format!("{e:#}"));
        let mut targets: Vec<PyThread> = threads.clone().unwrap_or_default();
        targets.truncate(4);
        if targets.is_empty() {
            targets.push(PyThread {
                tid: TID,
                tstate: TSTATES,
                pthread_id: PTHREAD,
            });
        }
        let rounds = 1 + inp.u8() % 4;
        let mut stacks = Vec::new();
        for _ in 0..rounds {
            for t in &targets {
                stacks.push(reader.stack(t));
            }
            // The target moves on between samples.
            let n = inp.u8() % 6;
            poke(&mut inp, &mut reader.mem, n);
        }
        Decoded {
            minor,
            threads,
            stacks,
        }
    }

    /// `n` arbitrary writes into mapped memory.
    fn poke(inp: &mut Input, mem: &mut FakeMem, n: u8) {
        let regions = mem.regions();
        if regions.is_empty() {
            return;
        }
        for _ in 0..n {
            let (base, len) = regions[inp.below(regions.len() as u64) as usize];
            let at = base + u64::from(inp.u16()) % len.max(1) as u64;
            let value = match inp.u8() % 4 {
                0 => inp.bytes(1),
                1 => inp.ptr(FRAMES).to_le_bytes().to_vec(),
                2 => inp.len(0).to_le_bytes().to_vec(),
                _ => {
                    let k = usize::from(inp.u8() % 32);
                    inp.bytes(k)
                }
            };
            mem.poke_lossy(at, &value);
        }
    }

    /// Lays out interpreter, thread states, frames and objects.
    fn build(inp: &mut Input, mem: &mut FakeMem, l: &Layout) {
        // str objects.
        let mut strs = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let addr = STRS + i as u64 * STR_SLOT;
            strs.push(addr);
            let form = inp.u8();
            let (ascii, kind, data, length): (bool, u64, Vec<u8>, u64) = match form {
                0..=159 => (true, 1, name.as_bytes().to_vec(), name.len() as u64),
                160..=179 => {
                    let n = usize::from(inp.u8() % 64);
                    (true, 1, inp.bytes(n), n as u64)
                }
                180..=199 => {
                    let kind = [1u64, 2, 4][inp.below(3) as usize];
                    let n = usize::from(inp.u8() % 32);
                    (false, kind, inp.bytes(n * kind as usize), n as u64)
                }
                _ => {
                    let n = usize::from(inp.u8());
                    let d = inp.bytes(n);
                    (inp.u8() & 1 == 1, inp.below(8), d, inp.len(n as u64))
                }
            };
            let data_off = if ascii {
                l.unicode_ascii_size
            } else {
                l.unicode_compact_size
            };
            let slack = usize::from(inp.u8());
            let mut b = vec![0u8; data_off as usize + data.len() + slack];
            put(&mut b, l.ob_type, TYPE_STR);
            put(&mut b, l.unicode_length, inp.len(length));
            let mut state = (kind << l.unicode_kind_mask.trailing_zeros()) & l.unicode_kind_mask;
            if inp.u8() < 240 {
                state |= l.unicode_compact_mask;
            }
            if ascii {
                state |= l.unicode_ascii_mask;
            }
            if l.unicode_state_size == 1 {
                put1(&mut b, l.unicode_state, state as u8);
            } else {
                put4(&mut b, l.unicode_state, state as u32);
            }
            let d = data_off as usize;
            b[d..d + data.len()].copy_from_slice(&data);
            mem.map(addr, b);
        }
        let pick_str = |inp: &mut Input, want: usize| -> u64 {
            let i = if inp.u8() < 160 {
                want
            } else {
                inp.below(N_STRS) as usize
            };
            inp.ptr(strs[i])
        };

        // bytes objects (line tables).
        let mut tables = Vec::new();
        for i in 0..N_BYTES {
            let addr = BYTES + i * BYTES_SLOT;
            tables.push(addr);
            let n = usize::from(inp.u16() % 1024);
            let data = inp.bytes(n);
            let slack = usize::from(inp.u8());
            let mut b = vec![0u8; l.bytes_ob_sval as usize + n + slack];
            put(&mut b, l.ob_type, TYPE_BYTES);
            put(&mut b, l.var_ob_size, inp.len(n as u64));
            let s = l.bytes_ob_sval as usize;
            b[s..s + n].copy_from_slice(&data);
            mem.map(addr, b);
        }

        // Module globals dicts.
        let mut dicts = Vec::new();
        for i in 0..N_DICTS {
            let addr = DICTS + i * DICT_SLOT;
            dicts.push(addr);
            let keys = addr + 0x100;
            let mut d = vec![0u8; 0x100];
            put(&mut d, l.ob_type, TYPE_DICT);
            put(&mut d, l.dict_ma_keys, inp.ptr(keys));
            if inp.u8() > 240 {
                put(&mut d, l.dict_ma_values, inp.u64());
            }
            let nent = 1 + inp.below(4);
            let name_at = inp.below(nent);
            let mut k = vec![0u8; 0xe00];
            let (entries, esize, koff, voff) = match l.dict_keys {
                DictKeys::Pre311 => {
                    put(&mut k, offsets::PRE311_DK_SIZE, inp.len(8));
                    put(&mut k, offsets::PRE311_DK_NENTRIES, inp.len(nent));
                    (
                        offsets::PRE311_DK_INDICES + 8,
                        offsets::PRE311_ENTRY_SIZE,
                        8,
                        16,
                    )
                }
                DictKeys::Log2 {
                    log2_size,
                    log2_index_bytes,
                    kind,
                    nentries,
                    indices,
                    entry_size,
                    unicode_entry_size,
                    general,
                } => {
                    let lib = if inp.u8() < 230 { 3 } else { inp.u8() };
                    put1(&mut k, log2_size, if inp.u8() < 230 { 3 } else { inp.u8() });
                    put1(&mut k, log2_index_bytes, lib);
                    let gen_kind = inp.u8() < 64;
                    put1(&mut k, kind, if gen_kind { general as u8 } else { 1 });
                    put(&mut k, nentries, inp.len(nent));
                    let entries = indices + (1u64 << (lib % 16));
                    if gen_kind {
                        (entries, entry_size, 8, 16)
                    } else {
                        (entries, unicode_entry_size, 0, 8)
                    }
                }
            };
            for e in 0..nent {
                let base = entries + e * esize;
                let (key, val) = if e == name_at {
                    (pick_str(inp, 2), pick_str(inp, [3, 10, 8][i as usize]))
                } else {
                    (pick_str(inp, 8), pick_str(inp, 9))
                };
                put(&mut k, base + koff, key);
                put(&mut k, base + voff, val);
            }
            mem.map(addr, d);
            mem.map(keys, k);
        }

        // Code objects, bytecode after the header where the layout has it.
        let units: u64 = 32;
        let mut codes = Vec::new();
        for i in 0..N_CODES {
            let addr = CODES + i * CODE_SLOT;
            codes.push(addr);
            let body = l.co_code_adaptive.unwrap_or(l.code_len() as u64);
            let mut b = vec![0u8; (body + 2 * units) as usize];
            put(&mut b, l.ob_type, TYPE_CODE);
            put(&mut b, l.var_ob_size, inp.len(units));
            // By default code 0 (Handle._run) is a plain function and the
            // others coroutines: a thread's outermost frame that is a
            // coroutine's is read as torn (see walk.rs).
            let plain = if i == 0 { 0x03 } else { 0x83 };
            let flags = if inp.u8() < 128 { plain } else { inp.u32() };
            put4(&mut b, l.co_flags, flags);
            put4(&mut b, l.co_firstlineno, u32::from(inp.u16()));
            // Code 0 is asyncio's Handle._run, the others application code.
            let (name, file) = if i == 0 { (0, 1) } else { (8, 9) };
            put(&mut b, l.co_name, pick_str(inp, name));
            put(&mut b, l.co_filename, pick_str(inp, file));
            if let Some(q) = l.co_qualname {
                put(&mut b, q, pick_str(inp, 11));
            }
            let t = tables[inp.below(N_BYTES) as usize];
            put(&mut b, l.co_linetable, inp.ptr(t));
            for u in 0..units {
                put1(&mut b, body + 2 * u, inp.u8());
            }
            mem.map(addr, b);
        }

        // Frames: a chain per thread, in the data-stack chunk (3.11+,
        // outermost first in memory) or at heap slots.
        let flen = l.frame_len() as u64;
        let mut chunk = vec![0u8; CHUNK_LEN];
        put(&mut chunk, l.chunk_size, inp.len(CHUNK_LEN as u64));
        let mut chunk_top = CHUNK + l.chunk_data;
        let stride = (flen + 64 + 15) & !15;
        let mut next_slot = 0u64;
        let threads = 1 + inp.below(N_THREADS);
        let mut heads = Vec::new();
        for _ in 0..threads {
            let depth = 1 + inp.below(20);
            // Addresses, innermost first.
            let mut addrs = Vec::new();
            for _ in 0..depth {
                let in_chunk = l.interp_frames
                    && inp.u8() < 170
                    && chunk_top + stride <= CHUNK + CHUNK_LEN as u64;
                if in_chunk {
                    addrs.push(chunk_top);
                    chunk_top += stride;
                } else {
                    addrs.push(FRAMES + (next_slot % N_FRAMES) * FRAME_SLOT);
                    next_slot += 1;
                }
            }
            let mut fb: Vec<Vec<u8>> = Vec::new();
            for (k, _) in addrs.iter().enumerate() {
                let mut f = vec![0u8; stride as usize];
                let code = codes[inp.below(N_CODES) as usize];
                put(&mut f, l.f_code, inp.ptr(code));
                let prev = match addrs.get(k + 1) {
                    Some(&p) => p,
                    None => 0,
                };
                // Cycles: a frame may link back to any frame of the chain.
                let prev = if inp.u8() > 245 {
                    addrs[inp.below(addrs.len() as u64) as usize]
                } else {
                    inp.ptr(prev)
                };
                put(&mut f, l.f_previous, prev);
                let g = dicts[inp.below(N_DICTS) as usize];
                put(&mut f, l.f_globals, inp.ptr(g));
                let unit = inp.below(units);
                let instr = match l.lasti {
                    offsets::Lasti::Bytes => 2 * unit,
                    offsets::Lasti::Units => unit,
                    _ => {
                        let start = code + l.co_code_adaptive.unwrap_or(0);
                        start + 2 * unit
                    }
                };
                let instr = if inp.u8() < 220 { instr } else { inp.u64() };
                match l.lasti {
                    offsets::Lasti::Bytes | offsets::Lasti::Units => {
                        put4(&mut f, l.f_instr, instr as u32)
                    }
                    _ => put(&mut f, l.f_instr, instr),
                }
                if let Some(o) = l.f_owner {
                    put1(&mut f, o, inp.u8() % 5);
                }
                put(&mut f, l.f_localsplus, inp.ptr(FRAMES));
                fb.push(f);
            }
            for (a, f) in addrs.iter().zip(fb) {
                if (CHUNK..CHUNK + CHUNK_LEN as u64).contains(a) {
                    let o = (a - CHUNK) as usize;
                    chunk[o..o + f.len()].copy_from_slice(&f);
                } else {
                    mem.map(*a, f);
                }
            }
            heads.push(addrs[0]);
        }
        mem.map(CHUNK, chunk);

        // Thread states (a list) and 3.11/3.12 _PyCFrames.
        let ts_len = (l.ts_range().1 + 64).max(512) as usize;
        for (i, &head) in heads.iter().enumerate() {
            let i = i as u64;
            let addr = TSTATES + i * 0x1_0000;
            let mut ts = vec![0u8; ts_len];
            let next = if i + 1 < heads.len() as u64 {
                addr + 0x1_0000
            } else {
                0
            };
            let next = if inp.u8() > 250 { addr } else { inp.ptr(next) };
            put(&mut ts, l.ts_next, next);
            put(&mut ts, l.ts_thread_id, PTHREAD + i * 0x1000);
            if let Some(o) = l.ts_native_thread_id {
                put(&mut ts, o, TID + i);
            }
            let head = inp.ptr(head);
            if let Some(o) = l.ts_frame {
                put(&mut ts, o, head);
            }
            if let Some((cf, cur)) = l.ts_cframe {
                let cframe = CFRAMES + i * 0x1000;
                put(&mut ts, cf, inp.ptr(cframe));
                let mut c = vec![0u8; (cur + 64) as usize];
                put(&mut c, cur, head);
                mem.map(cframe, c);
            }
            if let Some(o) = l.ts_datastack_chunk {
                put(&mut ts, o, inp.ptr(CHUNK));
            }
            if let Some(o) = l.ts_datastack_top {
                let top = chunk_top + l.f_localsplus + 64;
                put(&mut ts, o, inp.len(top));
            }
            mem.map(addr, ts);
        }
        let mut interp = vec![0u8; l.interp_threads_head as usize + 64];
        put(&mut interp, l.interp_threads_head, inp.ptr(TSTATES));
        mem.map(INTERP, interp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_are_bounded() {
        let b = [1u8, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(rd_u64(&b, 0), Some(1));
        assert_eq!(rd_u64(&b, 2), None);
        assert_eq!(rd_u64(&b, usize::MAX - 3), None);
        assert_eq!(rd_u8(&b, 8), Some(9));
        assert_eq!(rd_u32(&b, 6), None);
    }

    #[test]
    fn batch_stops_at_first_unmapped() {
        let mut m = FakeMem::new();
        m.map(0x1000, vec![7; 64]);
        let (mut a, mut b, mut c) = ([0u8; 8], [0u8; 8], [0u8; 8]);
        let mut reqs: Vec<(u64, &mut [u8])> =
            vec![(0x1000, &mut a), (0x9000, &mut b), (0x1008, &mut c)];
        assert_eq!(m.read_batch(&mut reqs), 1);
        assert_eq!(a, [7; 8]);
    }

    #[test]
    fn live_batch_reads_own_memory() {
        let data: Vec<u8> = (0..64).collect();
        let more = [5u8; 16];
        let mem = ProcessMem::new(std::process::id() as i32).unwrap();
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        let mut reqs: Vec<(u64, &mut [u8])> = vec![
            (data.as_ptr() as u64 + 8, &mut a),
            (more.as_ptr() as u64, &mut b),
        ];
        assert_eq!(mem.read_batch(&mut reqs), 2);
        assert_eq!(a[0], 8);
        assert_eq!(b, [5; 16]);
        let mut c = [0u8; 8];
        let mut reqs: Vec<(u64, &mut [u8])> = vec![(8, &mut c)];
        assert_eq!(mem.read_batch(&mut reqs), 0);
        assert_eq!(mem.ops(), 2);
    }
}
