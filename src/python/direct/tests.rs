//! Tests of the direct reader: a fake 3.12 target in memory (decoding,
//! steady-state read count, hostile bytes: cycles, huge lengths, bad
//! pointers, non-UTF-8), and live CPython 3.8-3.15 targets when installed
//! (pyenv, or `${AELM_CACHE:-~/.cache/aelm}/pythons.tsv`).

use super::memory::FakeMem;
use super::objects::{Types, read_str};
use super::offsets::{Layout, from_table};
use super::*;
use crate::sample::SampleError;

// ---------------------------------------------------------------- fake target

const TSTATE: u64 = 0x10_0000;
const CFRAME: u64 = 0x11_0000;
const CHUNK: u64 = 0x20_0000;
const HEAP: u64 = 0x30_0000;
const OBJS: u64 = 0x40_0000;
const TID: u64 = 4242;

struct Fake {
    mem: FakeMem,
    l: Layout,
    next_obj: u64,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            mem: FakeMem::new(),
            l: from_table(12).unwrap(),
            next_obj: OBJS,
        }
    }

    fn alloc(&mut self, bytes: Vec<u8>) -> u64 {
        let a = self.next_obj;
        self.next_obj += (bytes.len() as u64 + 0x100) & !0xf;
        self.mem.map(a, bytes);
        a
    }

    fn put(b: &mut [u8], off: u64, v: u64) {
        b[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn str_bytes(&self, s: &[u8], length: i64) -> Vec<u8> {
        let l = &self.l;
        let mut b = vec![0u8; l.unicode_ascii_size as usize + s.len() + 1];
        Fake::put(&mut b, l.unicode_length, length as u64);
        let kind1 = 1u64 << l.unicode_kind_mask.trailing_zeros();
        let state = kind1 | l.unicode_compact_mask | l.unicode_ascii_mask;
        b[l.unicode_state as usize..l.unicode_state as usize + 4]
            .copy_from_slice(&(state as u32).to_le_bytes());
        let d = l.unicode_ascii_size as usize;
        b[d..d + s.len()].copy_from_slice(s);
        b
    }

    fn string(&mut self, s: &str) -> u64 {
        let b = self.str_bytes(s.as_bytes(), s.len() as i64);
        self.alloc(b)
    }

    fn bytes_obj(&mut self, data: &[u8]) -> u64 {
        let l = &self.l;
        let mut b = vec![0u8; l.bytes_ob_sval as usize + data.len() + 1];
        Fake::put(&mut b, l.var_ob_size, data.len() as u64);
        b[l.bytes_ob_sval as usize..l.bytes_ob_sval as usize + data.len()].copy_from_slice(data);
        self.alloc(b)
    }

    /// A code object whose unit k is on line first + k (16 units).
    fn code(&mut self, name: &str, qual: &str, file: &str, first: i32, flags: u32) -> u64 {
        let (n, q, f) = (self.string(name), self.string(qual), self.string(file));
        let mut table = Vec::new();
        for k in 0..16 {
            table.push(0x80 | (13 << 3));
            table.push(if k == 0 { 0 } else { 2 });
        }
        let t = self.bytes_obj(&table);
        let l = &self.l;
        let start = l.co_code_adaptive.unwrap();
        let mut b = vec![0u8; start as usize + 32];
        Fake::put(&mut b, l.var_ob_size, 16);
        b[l.co_flags as usize..l.co_flags as usize + 4].copy_from_slice(&flags.to_le_bytes());
        b[l.co_firstlineno as usize..l.co_firstlineno as usize + 4]
            .copy_from_slice(&first.to_le_bytes());
        Fake::put(&mut b, l.co_name, n);
        Fake::put(&mut b, l.co_qualname.unwrap(), q);
        Fake::put(&mut b, l.co_filename, f);
        Fake::put(&mut b, l.co_linetable, t);
        self.alloc(b)
    }

    /// A module globals dict with `__name__` = name (3.11+ unicode keys).
    fn globals(&mut self, name: &str) -> u64 {
        let (k, v) = (self.string("__name__"), self.string(name));
        let DictKeysLayout {
            log2_size,
            log2_index_bytes,
            kind,
            nentries,
            indices,
        } = dict_layout(&self.l);
        let mut keys = vec![0u8; indices as usize + 8 + 16 * 8];
        keys[log2_size as usize] = 3;
        keys[log2_index_bytes as usize] = 3;
        keys[kind as usize] = 1;
        Fake::put(&mut keys, nentries, 1);
        Fake::put(&mut keys, indices + 8, k);
        Fake::put(&mut keys, indices + 16, v);
        let keys = self.alloc(keys);
        let mut d = vec![0u8; 64];
        Fake::put(&mut d, self.l.dict_ma_keys, keys);
        self.alloc(d)
    }

    fn frame_bytes(&self, f: &FakeFrame) -> Vec<u8> {
        let l = &self.l;
        let mut b = vec![0u8; l.frame_len()];
        Fake::put(&mut b, l.f_code, f.code);
        Fake::put(&mut b, l.f_previous, f.previous);
        Fake::put(&mut b, l.f_globals, f.globals);
        let start = f.code + l.co_code_adaptive.unwrap();
        Fake::put(&mut b, l.f_instr, start + 2 * f.unit);
        b[l.f_owner.unwrap() as usize] = f.owner;
        Fake::put(&mut b, l.f_localsplus, f.local0);
        b
    }

    /// Lay out a thread: `region` frames in the data-stack chunk (outermost
    /// first in memory), others mapped at their own addresses.
    fn thread(&mut self, frames: &[FakeFrame], current: u64) {
        let l = self.l.clone();
        let mut chunk = vec![0u8; 16384];
        Fake::put(&mut chunk, l.chunk_size, 16384);
        let mut top = CHUNK + l.chunk_data;
        for f in frames {
            let b = self.frame_bytes(f);
            if (CHUNK..CHUNK + 16384).contains(&f.addr) {
                let o = (f.addr - CHUNK) as usize;
                chunk[o..o + b.len()].copy_from_slice(&b);
                top = top.max(f.addr + l.f_localsplus + 64);
            } else {
                self.mem.map(f.addr, b);
            }
        }
        self.mem.map(CHUNK, chunk);
        let mut ts = vec![0u8; 1024];
        let (cf, cur) = l.ts_cframe.unwrap();
        Fake::put(&mut ts, cf, CFRAME);
        Fake::put(&mut ts, l.ts_datastack_chunk.unwrap(), CHUNK);
        Fake::put(&mut ts, l.ts_datastack_top.unwrap(), top);
        Fake::put(&mut ts, l.ts_native_thread_id.unwrap(), TID);
        self.mem.map(TSTATE, ts);
        let mut c = vec![0u8; 64];
        Fake::put(&mut c, cur, current);
        self.mem.map(CFRAME, c);
    }

    fn reader(self) -> DirectReader<FakeMem> {
        DirectReader::with_memory(self.mem, self.l, "3.12.1".into(), 1, 0, Types::default())
    }
}

struct DictKeysLayout {
    log2_size: u64,
    log2_index_bytes: u64,
    kind: u64,
    nentries: u64,
    indices: u64,
}

fn dict_layout(l: &Layout) -> DictKeysLayout {
    match l.dict_keys {
        offsets::DictKeys::Log2 {
            log2_size,
            log2_index_bytes,
            kind,
            nentries,
            indices,
            ..
        } => DictKeysLayout {
            log2_size,
            log2_index_bytes,
            kind,
            nentries,
            indices,
        },
        offsets::DictKeys::Pre311 => unreachable!(),
    }
}

#[derive(Clone, Copy)]
struct FakeFrame {
    addr: u64,
    code: u64,
    previous: u64,
    globals: u64,
    unit: u64,
    owner: u8,
    local0: u64,
}

impl FakeFrame {
    /// A frame at its first instruction unit with no first local.
    fn plain(addr: u64, code: u64, previous: u64, globals: u64, owner: u8) -> FakeFrame {
        FakeFrame {
            addr,
            code,
            previous,
            globals,
            unit: 1,
            owner,
            local0: 0,
        }
    }
}

const THREAD: PyThread = PyThread {
    tid: TID,
    tstate: TSTATE,
    pthread_id: 0,
};

/// leaf (chunk) -> coro (heap, generator-owned) -> Handle._run (chunk)
/// -> root (chunk).
struct Scene {
    fake: Fake,
    frames: Vec<FakeFrame>,
}

fn scene() -> Scene {
    let mut fake = Fake::new();
    let g = fake.globals("app.mod");
    let ga = fake.globals("asyncio.events");
    let leaf = fake.code("work", "work", "/srv/app.py", 10, 0x3);
    let coro = fake.code("handler", "Server.handler", "/srv/app.py", 30, 0x83);
    let run = fake.code("_run", "Handle._run", "/py/asyncio/events.py", 80, 0x3);
    let root = fake.code("<module>", "<module>", "/srv/main.py", 1, 0);
    let d = CHUNK + fake.l.chunk_data;
    let f = |addr, code, previous, globals, unit, owner, local0| FakeFrame {
        addr,
        code,
        previous,
        globals,
        unit,
        owner,
        local0,
    };
    let frames = vec![
        f(d + 0x200, leaf, HEAP, g, 3, 0, 0x1111),
        f(HEAP, coro, d + 0x100, g, 5, 1, 0x2222),
        f(d + 0x100, run, d, ga, 2, 0, 0xfeed_0000),
        f(d, root, 0, g, 1, 0, 0),
    ];
    fake.thread(&frames, frames[0].addr);
    Scene { fake, frames }
}

#[test]
fn fake_decodes_stack() {
    let s = scene();
    let mut r = s.fake.reader();
    let st = r.stack(&THREAD).unwrap();
    let got: Vec<(&str, u32, u64)> = st
        .iter()
        .map(|f| (f.code.qualname.as_str(), f.line, f.handle))
        .collect();
    assert_eq!(
        got,
        vec![
            ("work", 13, 0),
            ("Server.handler", 35, 0),
            ("Handle._run", 82, 0xfeed_0000),
            ("<module>", 2, 0)
        ]
    );
    assert_eq!(st[0].code.module.as_deref(), Some("app.mod"));
    assert_eq!(st[2].code.module.as_deref(), Some("asyncio.events"));
    assert_eq!(st[1].code.is_coroutine(), Some(true));
    assert_eq!(st[0].code.is_coroutine(), Some(false));
    assert_eq!(st[1].addr, HEAP);
    assert_eq!(st[3].addr, s.frames[3].addr);
}

#[test]
fn fake_steady_state_is_one_read() {
    let s = scene();
    let mut r = s.fake.reader();
    let first = r.stack(&THREAD).unwrap();
    for _ in 0..5 {
        let before = r.read_ops();
        assert_eq!(r.stack(&THREAD).unwrap(), first);
        assert_eq!(r.read_ops() - before, 1);
    }
}

/// The scene with its innermost frame (a leaf) outside the data stack, like a
/// 3.8-3.10 frame object; the reader, the leaf's address, and a function
/// that makes a frame the thread's current one.
fn leaf_scene() -> (
    DirectReader<FakeMem>,
    u64,
    impl Fn(&mut DirectReader<FakeMem>, u64),
) {
    let mut s = scene();
    let leaf_addr = HEAP + 0x2000;
    s.frames[0].addr = leaf_addr;
    // Outside the data stack a frame runs in its generator's object.
    s.frames[0].owner = 1;
    s.fake.thread(&s.frames, leaf_addr);
    let cur = s.fake.l.ts_cframe.unwrap().1;
    let set_current =
        move |r: &mut DirectReader<FakeMem>, a: u64| r.mem.poke(CFRAME + cur, &a.to_le_bytes());
    (s.fake.reader(), leaf_addr, set_current)
}

#[test]
fn fake_innermost_frame_coming_and_going_is_read_speculatively() {
    // A leaf that a loop calls over and over: it comes and goes at the same
    // address. Once seen, it is in the speculative read: one read a sample
    // whether the leaf is there or not.
    let (mut r, leaf_addr, set_current) = leaf_scene();
    let mut reads = Vec::new();
    for i in 0..8 {
        set_current(&mut r, if i % 2 == 0 { leaf_addr } else { HEAP });
        let before = r.read_ops();
        let st = r.stack(&THREAD).unwrap();
        assert_eq!(st.len(), if i % 2 == 0 { 4 } else { 3 });
        reads.push(r.read_ops() - before);
    }
    // The first sample reads the code objects; from the third on, one read.
    assert_eq!(reads[2..], [1; 6], "reads per sample: {reads:?}");
}

#[test]
fn an_innermost_frame_gone_for_a_while_is_no_longer_read() {
    // The same leaf as above; once it has not been the innermost frame for
    // a while, its range leaves the speculative read (each range costs the
    // read system call more than its bytes do). If it comes back, that
    // sample reads it separately, and it is speculated on again.
    let (mut r, leaf_addr, set_current) = leaf_scene();
    let sample = |r: &mut DirectReader<FakeMem>, a: u64| {
        set_current(r, a);
        let (ops, ranges) = (r.read_ops(), r.mem.ranges_read());
        r.stack(&THREAD).unwrap();
        (r.read_ops() - ops, r.mem.ranges_read() - ranges)
    };
    for i in 0..4 {
        sample(&mut r, if i % 2 == 0 { leaf_addr } else { HEAP });
    }
    let (_, with_leaf) = sample(&mut r, HEAP);
    for _ in 0..20 {
        sample(&mut r, HEAP);
    }
    let (ops, without) = sample(&mut r, HEAP);
    assert_eq!(ops, 1);
    assert_eq!(without, with_leaf - 1, "ranges a sample");
    assert_eq!(
        sample(&mut r, leaf_addr).0,
        2,
        "a leaf back after long is read apart"
    );
    assert_eq!(
        sample(&mut r, HEAP),
        (1, with_leaf),
        "and speculated on again"
    );
}

/// The scene's reader, and the coroutine frame's bytes with its `previous`
/// set to `previous`, and as they were.
fn coroutine_relinked(previous: u64) -> (DirectReader<FakeMem>, Vec<u8>, Vec<u8>) {
    let s = scene();
    let mut coro = s.frames[1];
    coro.previous = previous;
    let relinked = s.fake.frame_bytes(&coro);
    let whole = s.fake.frame_bytes(&s.frames[1]);
    (s.fake.reader(), relinked, whole)
}

#[test]
fn fake_walk_ending_on_a_coroutine_is_read_again() {
    // The coroutine's frame now links to nothing, as a suspended one does,
    // while the leaf still links to it: a walk that ends there went through
    // a stale link (after a task switch, say), or read the frame after its
    // generator yielded. It is read again from scratch, a few times; a
    // stack that keeps ending there is a failed (torn) sample, not a stack
    // without a loop, until every read of GEN_ROOT_SEEN samples in a row
    // ended there: then the thread's stack is taken to start there.
    let (mut r, suspended, whole) = coroutine_relinked(0);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 4);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 4);
    assert_eq!(r.stats.redone, 0);
    r.mem.map(HEAP, suspended);
    for _ in 0..super::walk::GEN_ROOT_SEEN {
        assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    }
    assert!(r.stats.redone >= 4, "read again: {}", r.stats.redone);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 2);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 2);
    // Back to a whole stack: the check is armed again.
    r.mem.map(HEAP, whole);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 4);
    r.mem.map(HEAP, coroutine_relinked(0).1);
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
}

#[test]
fn a_dead_frame_named_current_outside_the_data_stack_is_a_torn_sample() {
    // 3.11/3.12 take the current frame from the `_PyCFrame` on the C stack;
    // read after that C frame returned, the slot can name any frame, long
    // dead: here a frame outside the data stack that no generator owns.
    // That is a failed sample, not a stack.
    let mut s = scene();
    let dead = HEAP + 0x4000;
    let mut f = s.frames[0];
    f.addr = dead;
    // A frame object's copy (FRAME_OWNED_BY_FRAME_OBJECT), linking to a
    // live frame as its stale `previous` may.
    f.owner = 2;
    f.previous = s.frames[1].addr;
    let b = s.fake.frame_bytes(&f);
    s.fake.mem.map(dead, b);
    let cur = s.fake.l.ts_cframe.unwrap().1;
    let mut r = s.fake.reader();
    assert_eq!(r.stack(&THREAD).unwrap().len(), 4);
    r.mem.poke(CFRAME + cur, &dead.to_le_bytes());
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
}

#[test]
fn fake_sees_changes_of_fresh_frames() {
    let s = scene();
    let mut frames = s.frames.clone();
    let b = {
        frames[1].unit = 7;
        s.fake.frame_bytes(&frames[1])
    };
    let mut r = s.fake.reader();
    assert_eq!(r.stack(&THREAD).unwrap()[1].line, 35);
    // The coroutine (outside the chunk, re-read each sample) moves on.
    r.mem.map(HEAP, b);
    assert_eq!(r.stack(&THREAD).unwrap()[1].line, 37);
}

#[test]
fn fake_reuse_needs_an_identical_child() {
    let s = scene();
    let mut frames = s.frames.clone();
    frames[0].unit = 4;
    frames[1].unit = 7;
    let (leaf, coro) = (
        s.fake.frame_bytes(&frames[0]),
        s.fake.frame_bytes(&frames[1]),
    );
    let mut r = s.fake.reader();
    r.policy.max_fresh_frames = 0;
    let first = r.stack(&THREAD).unwrap();
    let reused = r.stats.frames_reused;
    let before = r.read_ops();
    assert_eq!(r.stack(&THREAD).unwrap(), first);
    // The coroutine frame, behind an identical leaf, was reused unread.
    assert_eq!(r.stats.frames_reused - reused, 1);
    assert_eq!(r.read_ops() - before, 1);
    // The leaf moved and the coroutine too: the coroutine is read again.
    let leaf_addr = frames[0].addr;
    r.mem.poke(leaf_addr, &leaf);
    r.mem.map(HEAP, coro);
    let st = r.stack(&THREAD).unwrap();
    assert_eq!((st[0].line, st[1].line), (14, 37));
}

#[test]
fn fake_cycle_terminates() {
    let mut fake = Fake::new();
    let g = fake.globals("m");
    let c = fake.code("f", "f", "/x.py", 1, 0);
    let a = HEAP;
    let b = HEAP + 0x1000;
    let frames = [
        FakeFrame {
            addr: a,
            code: c,
            previous: b,
            globals: g,
            unit: 1,
            owner: 1,
            local0: 0,
        },
        FakeFrame {
            addr: b,
            code: c,
            previous: a,
            globals: g,
            unit: 1,
            owner: 1,
            local0: 0,
        },
    ];
    fake.thread(&frames, a);
    let mut r = fake.reader();
    let t = std::time::Instant::now();
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn fake_bad_pointers_fail_the_sample_only() {
    let s = scene();
    let mut fake = s.fake;
    let mut frames = s.frames;
    frames[1].previous = 0xdead_beef_0000; // coroutine's caller unmapped
    let b = fake.frame_bytes(&frames[1]);
    fake.mem.map(HEAP, b);
    let mut r = fake.reader();
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    // Thread state gone.
    let gone = PyThread {
        tstate: 0x7777_0000,
        ..THREAD
    };
    assert_eq!(r.stack(&gone), Err(SampleError::Gone));
    // Another thread id in the thread state: the thread was replaced.
    let other = PyThread { tid: 1, ..THREAD };
    assert_eq!(r.stack(&other), Err(SampleError::Gone));
}

#[test]
fn fake_warm_walk_that_fails_is_read_again_and_forgotten() {
    // After a good sample, the coroutine's frame links into unmapped memory
    // (as a link reused from another task can lead into freed memory): the
    // failed warm walk is read again from scratch, not kept for the next
    // sample; once the memory is whole again, the next sample reads it.
    let (mut r, broken, whole) = coroutine_relinked(0xdead_beef_0000);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 4);
    r.mem.map(HEAP, broken);
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    // Read again from scratch, and that torn read tried twice more.
    assert_eq!(r.stats.redone, 3);
    // Cold now (the failed chain was dropped): the cold read counts as the
    // first from scratch, tried twice more... once here, as the memory stays
    // broken: TORN_RETRIES reads in all after the first.
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    assert_eq!(r.stats.redone, 4);
    r.mem.map(HEAP, whole);
    assert_eq!(r.stack(&THREAD).unwrap().len(), 4);
}

#[test]
fn a_frame_met_twice_is_a_wrong_join() {
    let f = |addr| walk::RawFrame {
        addr,
        ..Default::default()
    };
    let mut scratch = Vec::new();
    assert!(!walk::has_duplicate(&[f(1), f(2), f(3)], &mut scratch));
    assert!(walk::has_duplicate(&[f(3), f(1), f(2), f(3)], &mut scratch));
    assert!(!walk::has_duplicate(&[], &mut scratch));
    // Deep chains take the sorting path.
    let deep: Vec<_> = (1..=500u64).map(|a| f(a * 0x40)).collect();
    assert!(!walk::has_duplicate(&deep, &mut scratch));
    let mut twice = deep.clone();
    twice.push(f(0x40 * 250));
    assert!(walk::has_duplicate(&twice, &mut scratch));
    // Addresses that collide in the table are told apart.
    let close: Vec<_> = (1..=100u64).map(|a| f(a << 56)).collect();
    assert!(!walk::has_duplicate(&close, &mut scratch));
    // Every table size, full to its bound, with and without a repeat.
    for n in [1usize, 31, 32, 33, 64, 65, 128, 129] {
        let chain: Vec<_> = (1..=n as u64).map(|a| f(a * 0x50)).collect();
        assert!(!walk::has_duplicate(&chain, &mut scratch), "{n} frames");
        let mut again = chain.clone();
        again[n - 1] = f(0x50);
        assert_eq!(
            walk::has_duplicate(&again, &mut scratch),
            n > 1,
            "{n} frames"
        );
    }
}

#[test]
fn fake_depth_is_bounded() {
    let mut fake = Fake::new();
    let g = fake.globals("m");
    let c = fake.code("f", "f", "/x.py", 1, 0);
    let n = MAX_DEPTH as u64 + 10;
    // Far above the other fake objects: the chain is MAX_DEPTH * 256 bytes.
    const DEEP: u64 = 0x1000_0000;
    let frames: Vec<FakeFrame> = (0..n)
        .map(|i| FakeFrame {
            addr: DEEP + i * 0x100,
            code: c,
            previous: DEEP + (i + 1) * 0x100,
            globals: g,
            unit: 1,
            owner: 1,
            local0: 0,
        })
        .collect();
    fake.thread(&frames, DEEP);
    let mut r = fake.reader();
    assert_eq!(r.stack(&THREAD), Err(SampleError::Torn));
    // One frame less than the bound is a stack (5000-deep recursion is real).
    let mut fake = Fake::new();
    let g = fake.globals("m");
    let c = fake.code("f", "f", "/x.py", 1, 0);
    let mut frames: Vec<FakeFrame> = (0..MAX_DEPTH as u64)
        .map(|i| FakeFrame {
            addr: DEEP + i * 0x100,
            code: c,
            previous: DEEP + (i + 1) * 0x100,
            globals: g,
            unit: 1,
            owner: 1,
            local0: 0,
        })
        .collect();
    if let Some(last) = frames.last_mut() {
        last.previous = 0;
    }
    fake.thread(&frames, DEEP);
    let mut r = fake.reader();
    assert_eq!(r.stack(&THREAD).map(|s| s.len()), Ok(MAX_DEPTH));
}

#[test]
fn fake_reused_code_address_is_noticed() {
    let s = scene();
    let mut fake = s.fake;
    let new_name = fake.string("other");
    let mut r = fake.reader();
    r.policy.revalidate_every = 1;
    assert_eq!(r.stack(&THREAD).unwrap()[0].code.name, "work");
    // The leaf's code object is freed and another one is built there.
    let code = s.frames[0].code;
    let off = r.layout.co_name;
    r.mem.poke_u64(code + off, new_name);
    let mut names = Vec::new();
    for _ in 0..3 {
        names.push(r.stack(&THREAD).unwrap()[0].code.name.clone());
    }
    assert_eq!(names.last().map(String::as_str), Some("other"));
}

#[test]
fn a_code_object_unused_for_a_while_is_checked_on_its_next_use() {
    // Found on 3.11: a code object seen at start-up (`<module>` of
    // `<string>`) was freed and a generator expression's code object built
    // at its address, its bytecode inside the old one's bounds. Until the
    // periodic check, every sample named the old code. Two rebuilds: the
    // new code's name is a new string; or (3.12+) everything it points to
    // was rebuilt at the same addresses too, and only `co_version` differs.
    for same_addresses in [false, true] {
        let mut s = scene();
        let other = s.fake.string("wonk");
        let leaf = s.frames[0];
        let cur = s.fake.l.ts_cframe.unwrap().1;
        let mut r = s.fake.reader();
        r.policy.revalidate_every = 1 << 40;
        let set_current = |r: &mut DirectReader<FakeMem>, a: u64| {
            r.mem.poke(CFRAME + cur, &a.to_le_bytes());
        };
        assert_eq!(r.stack(&THREAD).unwrap()[0].code.name, "work");
        // The leaf returns; its code object is freed and another one is
        // built at its address while the loop runs without it.
        set_current(&mut r, HEAP);
        for _ in 0..40 {
            assert_eq!(r.stack(&THREAD).unwrap().len(), 3);
        }
        let l = Arc::clone(&r.layout);
        if same_addresses {
            let mut name = [0u8; 8];
            r.mem.read(leaf.code + l.co_name, &mut name).unwrap();
            let name = u64::from_le_bytes(name);
            r.mem.poke(name + l.unicode_ascii_size, b"wonk");
            let version = l.co_version.expect("the fake layout is 3.12's");
            r.mem.poke(leaf.code + version, &7u32.to_le_bytes());
        } else {
            r.mem.poke_u64(leaf.code + l.co_name, other);
        }
        set_current(&mut r, leaf.addr);
        assert_eq!(
            r.stack(&THREAD).unwrap()[0].code.name,
            "wonk",
            "same addresses: {same_addresses}"
        );
    }
}

#[test]
fn run_once_code_is_checked_on_its_next_use_after_a_sample_without_it() {
    // Seen on 3.12 (2 runs in 29 under `aelm run`): a module's code object
    // (`<module>` of traceback.py, run once at import, then freed) and a
    // code object of selectors.py built at its address a few samples later:
    // the idle loop's `select` read as traceback's module code, a 985 ms
    // block of an idle loop. Within `RECHECK_IDLE` samples, so only a check
    // of run-once code on its next use catches it.
    let mut s = scene();
    let other = s.fake.string("wonk");
    let leaf = s.frames[0];
    let cur = s.fake.l.ts_cframe.unwrap().1;
    let mut r = s.fake.reader();
    r.policy.revalidate_every = 1 << 40;
    let l = Arc::clone(&r.layout);
    // The leaf's code is module code: no CO_NEWLOCALS.
    r.mem.poke(leaf.code + l.co_flags, &0u32.to_le_bytes());
    assert_eq!(r.stack(&THREAD).unwrap()[0].code.name, "work");
    r.mem.poke(CFRAME + cur, &HEAP.to_le_bytes());
    for _ in 0..3 {
        assert_eq!(r.stack(&THREAD).unwrap().len(), 3);
    }
    r.mem.poke_u64(leaf.code + l.co_name, other);
    r.mem.poke(CFRAME + cur, &leaf.addr.to_le_bytes());
    assert_eq!(r.stack(&THREAD).unwrap()[0].code.name, "wonk");
}

#[test]
fn identical_frames_take_what_they_decoded_to_and_still_see_a_new_code() {
    let s = scene();
    let mut fake = s.fake;
    let new_name = fake.string("other");
    let mut r = fake.reader();
    r.policy.revalidate_every = 8;
    let first = r.stack(&THREAD).unwrap();
    for _ in 0..3 {
        assert_eq!(r.stack(&THREAD).unwrap(), first);
    }
    // Every frame of those samples but the ones of a full decode was
    // taken as decoded before.
    assert!(r.stats.frames_memo >= 4, "{:?}", r.stats);
    // The coroutine's code object (an outer, unchanged frame) is freed and
    // another one built at its address: the periodic full decode queues
    // its check, the check evicts it, and the memo does not hide it.
    let code = s.frames[1].code;
    let off = r.layout.co_name;
    r.mem.poke_u64(code + off, new_name);
    let mut names = Vec::new();
    for _ in 0..12 {
        names.push(r.stack(&THREAD).unwrap()[1].code.name.clone());
    }
    assert_eq!(names.last().map(String::as_str), Some("other"), "{names:?}");
    // And once seen, it stays.
    assert_eq!(r.stack(&THREAD).unwrap()[1].code.name, "other");
}

#[test]
fn a_code_reloaded_during_a_walk_is_seen_by_the_frames_after_it() {
    let mut s = scene();
    // The outermost frame runs the same code as the innermost one.
    s.frames[3].code = s.frames[0].code;
    s.fake.thread(&s.frames, s.frames[0].addr);
    let new_name = s.fake.string("other");
    let mut r = s.fake.reader();
    // No periodic full decode in this test: the memo is in use throughout.
    r.policy.revalidate_every = 1 << 40;
    for _ in 0..3 {
        assert_eq!(r.stack(&THREAD).unwrap()[3].code.name, "work");
    }
    // The code object is rebuilt at its address, longer and renamed, and
    // the innermost frame runs past the cached bytecode's end: the reader
    // reloads the code there, and the outer frame, identical to the
    // previous sample's, must not keep the old one.
    let code = s.frames[0].code;
    let l = Arc::clone(&r.layout);
    r.mem.poke_u64(code + l.co_name, new_name);
    r.mem.poke_u64(code + l.var_ob_size, 32);
    let start = code + l.co_code_adaptive.unwrap();
    r.mem.poke_u64(s.frames[0].addr + l.f_instr, start + 2 * 20);
    let st = r.stack(&THREAD).unwrap();
    assert_eq!(st[0].code.name, "other");
    assert_eq!(st[3].code.name, "other");
}

#[test]
fn huge_string_length_does_not_allocate() {
    let mut fake = Fake::new();
    let b = fake.str_bytes(b"abc", 1 << 40);
    let short = fake.alloc(b);
    let l = fake.l.clone();
    // Only the header and 3 bytes are mapped: reading 4096 chars fails.
    assert!(read_str(&fake.mem, &l, &Types::default(), short).is_err());
    // Mapped far enough: cut at MAX_STR_CHARS.
    let mut big = fake.str_bytes(&[b'x'; 5000], 1 << 40);
    big.resize(big.len() + 100, 0);
    let a = fake.alloc(big);
    let s = read_str(&fake.mem, &l, &Types::default(), a).unwrap();
    assert_eq!(s.chars().count(), objects::MAX_STR_CHARS + 1);
    let neg = fake.str_bytes(b"abc", -5);
    let neg = fake.alloc(neg);
    assert!(read_str(&fake.mem, &l, &Types::default(), neg).is_err());
}

#[test]
fn non_utf8_strings_are_replaced() {
    let mut fake = Fake::new();
    let b = fake.str_bytes(&[b'a', 0xff, 0xfe, b'z'], 4);
    let a = fake.alloc(b);
    let l = fake.l.clone();
    assert_eq!(
        read_str(&fake.mem, &l, &Types::default(), a).unwrap(),
        "a\u{fffd}\u{fffd}z"
    );
    // A UCS-2 string holding a lone surrogate.
    let mut b = vec![0u8; l.unicode_compact_size as usize + 8];
    Fake::put(&mut b, l.unicode_length, 2);
    let kind2 = 2u64 << l.unicode_kind_mask.trailing_zeros();
    let state = (kind2 | l.unicode_compact_mask) as u32;
    b[l.unicode_state as usize..l.unicode_state as usize + 4].copy_from_slice(&state.to_le_bytes());
    let d = l.unicode_compact_size as usize;
    b[d..d + 4].copy_from_slice(&[0x41, 0, 0x00, 0xd8]);
    let a = fake.alloc(b);
    assert_eq!(
        read_str(&fake.mem, &l, &Types::default(), a).unwrap(),
        "A\u{fffd}"
    );
}

#[test]
fn hostile_dict_is_bounded() {
    let mut fake = Fake::new();
    let g = fake.globals("m");
    let l = fake.l.clone();
    let DictKeysLayout { nentries, .. } = dict_layout(&l);
    let mut r = fake.reader();
    let keys = {
        let mut b = [0u8; 8];
        r.mem.read(g + r.layout.dict_ma_keys, &mut b).unwrap();
        u64::from_le_bytes(b)
    };
    r.mem.poke_u64(keys + nentries, 1 << 40);
    let mut k = None;
    assert!(objects::module_name(&r.mem, &l, &Types::default(), g, &mut k).is_err());
}

// ---------------------------------------------------------------- live targets

/// The asyncio program of the live tests: a task 30 coroutines deep
/// (main + 29 x level) calling a sync function that blocks in time.sleep
/// (line 7).
const PROGRAM: &str = "import asyncio, sys, time

def busy():
    print('ready', flush=True)
    sys.stdout.close()
    while True:
        time.sleep(0.5)

async def level(n):
    if n == 0:
        busy()
    await level(n - 1)

async def main():
    await level(28)

asyncio.run(main())
";

/// An interpreter for 3.`minor`: the provisioning manifest, then pyenv.
fn find_python(minor: u32) -> Option<(String, Option<String>)> {
    let home = std::env::var("HOME").unwrap_or_default();
    let cache = std::env::var("AELM_CACHE").unwrap_or(format!("{home}/.cache/aelm"));
    if let Ok(tsv) = std::fs::read_to_string(format!("{cache}/pythons.tsv")) {
        for line in tsv.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() >= 2 && cols[0].starts_with(&format!("3.{minor}.")) {
                return Some((cols[1].to_string(), None));
            }
        }
    }
    let dir = std::fs::read_dir(format!("{home}/.pyenv/versions")).ok()?;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with(&format!("3.{minor}.")) {
            let exe = format!("{home}/.pyenv/versions/{name}/bin/python3.{minor}");
            if std::path::Path::new(&exe).exists() {
                return Some((exe, None));
            }
        }
    }
    None
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(exe: &str, program: &str) -> Child {
    use std::io::Read;
    let mut c = std::process::Command::new(exe)
        .args(["-c", program])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = c.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    out.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // Let the loop thread reach time.sleep.
    std::thread::sleep(std::time::Duration::from_millis(100));
    Child(c)
}

fn live(minor: u32) {
    let Some((exe, _)) = find_python(minor) else {
        eprintln!("live 3.{minor}: no interpreter found, skipped");
        return;
    };
    let child = start(&exe, PROGRAM);
    let pid = child.0.id() as i32;
    let mut r = DirectReader::attach(pid).unwrap();
    assert!(r.version().starts_with(&format!("3.{minor}.")));
    let threads = r.threads().unwrap();
    let main = threads
        .iter()
        .find(|t| t.tid == pid as u64)
        .copied()
        .unwrap_or_else(|| panic!("3.{minor}: no thread with tid {pid}: {threads:?}"));
    let st = r.stack(&main).unwrap();
    let names: Vec<&str> = st.iter().map(|f| f.code.name.as_str()).collect();
    let want_top: Vec<&str> = std::iter::once("busy")
        .chain(std::iter::repeat_n("level", 29))
        .chain([
            "main",
            "_run",
            "_run_once",
            "run_forever",
            "run_until_complete",
        ])
        .collect();
    assert_eq!(
        &names[..want_top.len()],
        &want_top[..],
        "3.{minor}: {names:?}"
    );
    assert_eq!(names.last(), Some(&"<module>"));
    assert_eq!(st[0].line, 7);
    assert_eq!(st[1].line, 11);
    assert!(st[2..30].iter().all(|f| f.line == 12));
    assert_eq!(st[30].line, 15);
    for f in &st[..31] {
        assert_eq!(f.code.file, "<string>");
        assert_eq!(f.code.module.as_deref(), Some("__main__"));
    }
    assert_eq!(st[0].code.is_coroutine(), Some(false));
    assert!(
        st[1..31]
            .iter()
            .all(|f| f.code.is_coroutine() == Some(true))
    );
    let run = &st[31];
    assert!(run.code.file.ends_with("asyncio/events.py"));
    assert_eq!(run.code.module.as_deref(), Some("asyncio.events"));
    assert_ne!(run.handle, 0);
    let q = if minor >= 11 { "Handle._run" } else { "_run" };
    assert_eq!(run.code.qualname, q);
    if minor >= 11 {
        assert_eq!(st[1].code.qualname, "level");
        assert_eq!(st[32].code.qualname, "BaseEventLoop._run_once");
    }
    assert!(st.iter().all(|f| f.handle == 0 || f.code.name == "_run"));
    let mut addrs: Vec<u64> = st.iter().map(|f| f.addr).collect();
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), st.len());
    // Steady state: same stack, at most 2 reads (1 expected) a sample.
    let before = r.read_ops();
    for _ in 0..500 {
        assert_eq!(r.stack(&main).unwrap(), st);
    }
    let per = (r.read_ops() - before) as f64 / 500.0;
    assert!(per <= 2.0, "3.{minor}: {per} reads a sample");
    eprintln!(
        "live 3.{minor} ({}): {} frames ok, {per:.3} reads a sample",
        r.version(),
        st.len()
    );
}

#[test]
fn live_3_8() {
    live(8);
}
#[test]
fn live_3_9() {
    live(9);
}
#[test]
fn live_3_10() {
    live(10);
}
#[test]
fn live_3_11() {
    live(11);
}
#[test]
fn live_3_12() {
    live(12);
}
#[test]
fn live_3_13() {
    live(13);
}
#[test]
fn live_3_14() {
    live(14);
}
#[test]
fn live_3_15() {
    live(15);
}

#[test]
fn a_frame_called_from_c_is_marked() {
    // leaf <- entry shim (owned by the C stack: a C function called it)
    // <- caller <- root: the leaf is called from C, the others are not.
    let mut fake = Fake::new();
    let g = fake.globals("app.mod");
    let leaf = fake.code(
        "data_received",
        "Handler.data_received",
        "/srv/app.py",
        10,
        0x3,
    );
    let caller = fake.code("serve", "serve", "/srv/app.py", 30, 0x3);
    let root = fake.code("<module>", "<module>", "/srv/main.py", 1, 0);
    let cstack = fake.l.skip_owners.trailing_zeros() as u8;
    assert!(fake.l.skips_owner(u64::from(cstack)));
    let d = CHUNK + fake.l.chunk_data;
    let f = |addr, code, previous, owner| FakeFrame::plain(addr, code, previous, g, owner);
    let frames = vec![
        f(d + 0x300, leaf, HEAP, 0),
        f(HEAP, 0, d + 0x100, cstack),
        f(d + 0x100, caller, d, 0),
        f(d, root, 0, 0),
    ];
    fake.thread(&frames, frames[0].addr);
    let mut r = fake.reader();
    for _ in 0..3 {
        // The second and third samples reuse what the first decoded.
        let st = r.stack(&THREAD).unwrap();
        let got: Vec<(&str, Option<bool>)> = st
            .iter()
            .map(|f| (f.code.qualname.as_str(), f.from_c))
            .collect();
        assert_eq!(
            got,
            [
                ("Handler.data_received", Some(true)),
                ("serve", Some(false)),
                ("<module>", Some(false))
            ]
        );
    }
}

#[test]
fn the_running_loop_is_read_with_the_thread_state() {
    // 3.13+ keep the running loop past the public thread state. Where it
    // lies in the thread state's page it is read every sample, in the same
    // range; a page away, in a range of its own every few samples, the
    // last value standing in between. One read a sample either way.
    const LOOP: u64 = 0x7f00_1234_5000;
    for (off, every) in [(304u64, 1u64), (4096 + 304, super::walk::LOOP_READ_EVERY)] {
        let mut s = scene();
        s.fake.l.ts_running_loop = Some(off);
        s.fake.thread(&s.frames, s.frames[0].addr);
        let mut ts = vec![0u8; 1024];
        Memory::read(&s.fake.mem, TSTATE, &mut ts).unwrap();
        ts.resize(8192, 0);
        s.fake.mem.map(TSTATE, ts);
        let mut r = s.fake.reader();
        // A thread's first sample reads it, wherever it lies (a scan takes
        // one sample of each thread and must see its loop).
        r.mem.poke_u64(TSTATE + off, LOOP - 1);
        r.stack(&THREAD).unwrap();
        assert_eq!(r.last_running_loop(), Some(LOOP - 1), "offset {off}");
        r.mem.poke_u64(TSTATE + off, LOOP);
        let mut seen_after = None;
        for i in 1..=2 * every {
            let before = r.read_ops();
            r.stack(&THREAD).unwrap();
            assert_eq!(r.read_ops() - before, 1, "offset {off}, sample {i}");
            if r.last_running_loop() == Some(LOOP) && seen_after.is_none() {
                seen_after = Some(i);
            }
        }
        let seen = seen_after.unwrap_or_else(|| panic!("offset {off}: loop never read"));
        assert!(seen <= every, "offset {off}: read after {seen} samples");
        r.mem.poke_u64(TSTATE + off, 0);
        for _ in 0..every {
            r.stack(&THREAD).unwrap();
        }
        assert_eq!(
            r.last_running_loop(),
            Some(0),
            "offset {off}: a stopped loop stays"
        );
    }
}

/// A thread whose stack has three frames called from C (through C-stack
/// entry shims): the thread's first, the callback, and a nested one, so
/// that the contexts entered are read, not inferred.
fn nested_fake() -> Fake {
    let mut fake = Fake::new();
    let g = fake.globals("app.mod");
    let leaf = fake.code("step", "step", "/srv/app.py", 10, 0x3);
    let cb = fake.code("handler", "handler", "/srv/app.py", 30, 0x3);
    let run = fake.code("_run", "Handle._run", "/py/asyncio/events.py", 80, 0x3);
    let root = fake.code("<module>", "<module>", "/srv/main.py", 1, 0);
    let cstack = fake.l.skip_owners.trailing_zeros() as u8;
    let d = CHUNK + fake.l.chunk_data;
    let f = |addr, code, previous, owner| FakeFrame::plain(addr, code, previous, g, owner);
    let frames = vec![
        f(d + 0x600, leaf, d + 0x500, 0),
        f(d + 0x500, 0, d + 0x400, cstack),
        f(d + 0x400, cb, d + 0x300, 0),
        f(d + 0x300, 0, d + 0x200, cstack),
        f(d + 0x200, run, d + 0x100, 0),
        f(d + 0x100, 0, d, cstack),
        f(d, root, 0, 0),
    ];
    fake.thread(&frames, frames[0].addr);
    fake
}

/// A `PyContext`'s bytes: `ctx_prev` and `ctx_entered`.
fn context_bytes(l: &Layout, prev: u64, entered: i32) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    Fake::put(&mut b, l.ctx_prev, prev);
    let e = l.ctx_entered as usize;
    b[e..e + 4].copy_from_slice(&entered.to_le_bytes());
    b
}

const CTX_T: u64 = 0x5100_0000;
const CTX_BASE: u64 = 0x5100_1000;
const CTX_C1: u64 = 0x5100_2000;
const CTX_T2: u64 = 0x5100_3000;

/// Sets the thread state's context and version, samples, and returns what
/// the reader says was entered and how many reads the sample took.
fn sample_entered<M: Memory>(
    r: &mut DirectReader<M>,
    poke: impl Fn(&mut M, u64, u64),
    ctx: u64,
    ver: u64,
) -> (Result<Entered, SampleError>, u64) {
    let l = Arc::clone(&r.layout);
    poke(&mut r.mem, TSTATE + l.ts_context.unwrap(), ctx);
    poke(&mut r.mem, TSTATE + l.ts_context_ver.unwrap(), ver);
    let before = r.read_ops();
    let got = r.stack(&THREAD).map(|_| r.last_entered());
    (got, r.read_ops() - before)
}

#[test]
fn the_contexts_entered_are_read_when_the_version_moves() {
    // PyThreadState.context -> PyContext.ctx_prev -> ... down to the
    // thread's base context (not entered). Read only when the thread's
    // context version moved, in one more read: the innermost context with,
    // speculatively, the outermost one and the base seen last, and the
    // thread state's version again.
    let fake = nested_fake();
    let l = fake.l.clone();
    let mut r = fake.reader();
    r.mem.map(CTX_BASE, context_bytes(&l, 0, 0));
    r.mem.map(CTX_T, context_bytes(&l, CTX_BASE, 1));
    r.mem.map(CTX_C1, context_bytes(&l, CTX_T, 1));
    // A first sample reads the stack whole; the ones below read it in one.
    r.stack(&THREAD).unwrap();
    let poke = |m: &mut FakeMem, a, v| m.poke_u64(a, v);
    let mut sample = |ctx, ver| sample_entered(&mut r, poke, ctx, ver);
    let t = |depth| {
        Ok(Entered {
            outer: CTX_T,
            depth,
        })
    };
    // The loop entered T for a callback (nothing known yet to read along:
    // T, then the base context it links to, then the version again).
    assert_eq!(sample(CTX_T, 5), (t(1), 4));
    // Same version: nothing entered or left, nothing more read.
    assert_eq!(sample(CTX_T, 5), (t(1), 1));
    // The callback entered C1: both contexts in the one extra read.
    assert_eq!(sample(CTX_C1, 6), (t(2), 2));
    assert_eq!(sample(CTX_C1, 6), (t(2), 1));
    // Back in the loop: the base context is not entered.
    assert_eq!(sample(CTX_BASE, 8), (Ok(Entered::default()), 2));
    // The next callback's context, entered from the same base: one read.
    r.mem.map(CTX_T2, context_bytes(&l, CTX_BASE, 1));
    let t2 = || {
        Ok(Entered {
            outer: CTX_T2,
            depth: 1,
        })
    };
    let mut sample = |ctx, ver| sample_entered(&mut r, poke, ctx, ver);
    assert_eq!(sample(CTX_T2, 11), (t2(), 2));
    // Not a context (ctx_entered neither 0 nor 1): not known.
    r.mem.map(CTX_T, context_bytes(&l, CTX_BASE, 0x4142));
    let mut sample = |ctx, ver| sample_entered(&mut r, poke, ctx, ver);
    assert_eq!(sample(CTX_T, 13).0, Ok(Entered::default()));
    // A chain that loops on itself is bounded.
    r.mem.map(CTX_T, context_bytes(&l, CTX_C1, 1));
    let mut sample = |ctx, ver| sample_entered(&mut r, poke, ctx, ver);
    assert_eq!(sample(CTX_C1, 14).0, Ok(Entered::default()));

    // Two frames called from C at most (the thread's first and the
    // callback's): nothing nested, the innermost context is the outermost,
    // and nothing more is read.
    let mut r = scene().fake.reader();
    r.stack(&THREAD).unwrap();
    assert_eq!(sample_entered(&mut r, poke, CTX_T2, 21), (t2(), 1));
}

/// A target whose thread state's context version moves right after the
/// next batched read (the stack's), before the contexts are read.
struct Moving {
    mem: std::cell::RefCell<FakeMem>,
    version_at: u64,
    moves: std::cell::Cell<Option<u64>>,
}

impl Memory for Moving {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), super::memory::MemError> {
        self.mem.borrow().read(addr, buf)
    }

    fn read_batch(&self, reqs: &mut [(u64, &mut [u8])]) -> usize {
        let n = self.mem.borrow().read_batch(reqs);
        if let Some(v) = self.moves.take() {
            self.mem.borrow_mut().poke_u64(self.version_at, v);
        }
        n
    }

    fn ops(&self) -> u64 {
        self.mem.borrow().ops()
    }
}

#[test]
fn a_context_entered_between_the_stack_and_its_contexts_tears_the_sample() {
    // The chain is read after the stack: a nested run that ends (or a
    // callback that starts) in between would pair this stack with another
    // moment's contexts. The version is read again with the chain; moved,
    // the sample is torn rather than split a block.
    let fake = nested_fake();
    let l = fake.l.clone();
    let ver_at = TSTATE + l.ts_context_ver.unwrap();
    let mut mem = fake.mem;
    mem.map(CTX_BASE, context_bytes(&l, 0, 0));
    mem.map(CTX_T, context_bytes(&l, CTX_BASE, 1));
    mem.map(CTX_C1, context_bytes(&l, CTX_T, 1));
    let moving = Moving {
        mem: std::cell::RefCell::new(mem),
        version_at: ver_at,
        moves: std::cell::Cell::new(None),
    };
    let mut r = DirectReader::with_memory(moving, l, "3.12.1".into(), 1, 0, Types::default());
    r.stack(&THREAD).unwrap();
    let poke = |m: &mut Moving, a, v| m.mem.borrow_mut().poke_u64(a, v);
    assert_eq!(
        sample_entered(&mut r, poke, CTX_C1, 6).0,
        Ok(Entered {
            outer: CTX_T,
            depth: 2
        })
    );
    r.mem.moves.set(Some(8));
    assert_eq!(
        sample_entered(&mut r, poke, CTX_C1, 7).0,
        Err(SampleError::Torn)
    );
    // Read again with nothing moving: whole.
    assert_eq!(
        sample_entered(&mut r, poke, CTX_C1, 9).0,
        Ok(Entered {
            outer: CTX_T,
            depth: 2
        })
    );
    // Not nested (the callback's own context only), then a move between
    // the two reads: most likely between two short callbacks. The sample
    // keeps its stack, with the context named with it as the outermost.
    assert_eq!(
        sample_entered(&mut r, poke, CTX_T, 11).0,
        Ok(Entered {
            outer: CTX_T,
            depth: 1
        })
    );
    r.mem.moves.set(Some(14));
    assert_eq!(
        sample_entered(&mut r, poke, CTX_C1, 13).0,
        Ok(Entered {
            outer: CTX_C1,
            depth: 1
        })
    );
}
