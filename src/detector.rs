//! The detector: turns consecutive busy samples of an event-loop thread into
//! blocks, and names each block's culprit.
//!
//! Pure: samples in, blocks out. No I/O and no clock of its own (times come
//! from the samples). It owns the spec's detection rules: which thread runs a
//! loop, idle versus busy, which callback a busy sample is in, the dominant
//! path (frames on the stack in >= 80% of a block's samples), the culprit and
//! the callee. It does not know how stacks were read, nor how blocks are
//! printed.

use crate::addr_map::AddrMap;
use std::sync::Arc;
use std::time::Duration;

use crate::sample::{CodeInfo, Entered, Frame, Sample};

/// A frame is on the dominant path when it is on the stack in at least this
/// share of a block's samples.
pub const DOMINANT_SHARE: f64 = 0.8;
/// Number of hottest leaf frames carried by a block.
pub const HOT_FRAMES: usize = 5;
/// Bounds on what one block keeps, whatever the target's stacks look like.
const MAX_PATH_DEPTH: usize = 1024;
const MAX_TRIE_NODES: usize = 200_000;
const MAX_LEAVES: usize = 10_000;

/// What the detector needs from the command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub threshold: Duration,
    pub ongoing: Duration,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `--thread TID`: treat this thread as a loop thread even when no runner
    /// frame is recognised (its outermost frame is then the runner).
    pub forced_thread: Option<u64>,
}

/// A frame as reported: code and the line chosen for the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRef {
    pub code: Arc<CodeInfo>,
    pub line: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    /// Still going after `--ongoing-ms`; reported again when it ends.
    Ongoing,
    Ended,
}

/// One block of the event loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub tid: u64,
    /// Time of the first busy sample.
    pub start: Duration,
    /// last - first + one interval.
    pub duration: Duration,
    pub samples: u32,
    pub state: BlockState,
    /// Ended only because aelm stopped watching (shutdown, target exit).
    pub truncated: bool,
    /// The callback root: the frame just above the loop machinery.
    pub callback: FrameRef,
    pub culprit: FrameRef,
    /// Deepest frame of the dominant path, when below the culprit.
    pub callee: Option<FrameRef>,
    /// Hottest leaf frames with their sample counts, hottest first.
    pub hot: Vec<(FrameRef, u32)>,
    /// The dominant path, innermost first, down to the callback root.
    pub stack: Vec<FrameRef>,
}

/// Totals over a whole run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub samples: u64,
    /// Times a thread went unobserved for longer than [`Config::max_gap`]
    /// (aelm was starved of CPU, or reads kept failing).
    pub gaps: u64,
    pub failed_samples: u64,
    pub blocks: u64,
    pub blocked: Duration,
}

/// How one stack reads, for the detector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// No event loop on this stack.
    NotLoop,
    /// The loop waits for I/O.
    Idle,
    /// Busy in the loop's own machinery, between callbacks.
    Machinery,
    /// Busy in a callback whose root is `frames[root]`.
    Callback { root: usize, id: RootId },
}

/// Identity of a callback: the root's code, and where the reader sees them,
/// the root frame's address and the handle asyncio is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootId {
    pub code: u64,
    pub frame: u64,
    pub handle: u64,
    /// The thread's context version (`PyThreadState.context_ver`): asyncio
    /// and uvloop run every callback through `Context.run`, which bumps it.
    pub context: u64,
}

/// Where in `asyncio/` a file is, if it is asyncio's own.
fn asyncio_module(file: &str) -> Option<&str> {
    if file.contains("/site-packages/") || file.contains("/dist-packages/") {
        // A third-party package's own `asyncio/` subpackage.
        return None;
    }
    // A relative path is a frozen application's (PyInstaller names its
    // modules `asyncio/base_events.py`).
    let rest = match file.rfind("/asyncio/") {
        Some(idx) => &file[idx + "/asyncio/".len()..],
        None => file.strip_prefix("asyncio/")?,
    };
    (!rest.contains('/')).then_some(rest)
}

/// Code a program made at run time with `exec`/`compile`, with no file
/// behind it: `<string>` (a dataclass's `__init__`, a namedtuple's
/// `__new__`), `<sqlalchemy generated ...>`, `<attrs generated ...>`.
/// Mostly a library's, and never a line a user can open: not the
/// application's code, so the culprit is the real function that called
/// it. Code typed in (`<stdin>`) and IPython's cells (`<ipython-input-...>`)
/// are the user's own.
fn generated(file: &str) -> bool {
    file.starts_with('<')
        && !file.starts_with("<stdin>")
        && !file.starts_with("<ipython-input-")
        && !file.starts_with("<frozen ")
}

/// Whether `file` is `name` (a relative path: a frozen application's) or
/// ends with `/name`.
fn is_path(file: &str, name: &str) -> bool {
    file.strip_suffix(name)
        .is_some_and(|head| head.is_empty() || head.ends_with('/'))
}

fn last_name(code: &CodeInfo) -> &str {
    code.name.rsplit('.').next().unwrap_or(&code.name)
}

/// Bits of [`CodeInfo::roles`].
const ROLE_STDLIB_LOOP: u16 = 1;
const ROLE_SELECTOR_WAIT: u16 = 2;
const ROLE_DISPATCH: u16 = 4;
const ROLE_NAMED_RUNNER: u16 = 8;
const ROLE_LOOP_INTERNAL: u16 = 16;
const ROLE_HANDLE_RUN: u16 = 32;
const ROLE_PROCESS_START: u16 = 64;

/// What a code object is to the detector, computed once per code object
/// (string matching on every frame of every sample costs more than
/// reading the sample).
fn roles(code: &CodeInfo) -> u16 {
    *code.roles.get_or_init(|| {
        let mut r = 0;
        if stdlib_loop_frame(code) {
            r |= ROLE_STDLIB_LOOP;
        }
        if selector_wait(code) {
            r |= ROLE_SELECTOR_WAIT;
        }
        if dispatch_machinery(code) {
            r |= ROLE_DISPATCH;
        }
        if named_runner(code) {
            r |= ROLE_NAMED_RUNNER;
        }
        if loop_internal(code) {
            r |= ROLE_LOOP_INTERNAL;
        }
        if handle_run(code) {
            r |= ROLE_HANDLE_RUN;
        }
        if process_start(code) {
            r |= ROLE_PROCESS_START;
        }
        r
    })
}

fn is_selector_wait(code: &CodeInfo) -> bool {
    roles(code) & ROLE_SELECTOR_WAIT != 0
}
fn is_dispatch_machinery(code: &CodeInfo) -> bool {
    roles(code) & ROLE_DISPATCH != 0
}
fn is_named_runner(code: &CodeInfo) -> bool {
    roles(code) & ROLE_NAMED_RUNNER != 0
}
fn is_loop_internal(code: &CodeInfo) -> bool {
    roles(code) & ROLE_LOOP_INTERNAL != 0
}

/// Stdlib loop frames: `run_forever`, `run_until_complete`, `_run_once` of
/// `asyncio/base_events.py` (matched on `co_name`).
fn stdlib_loop_frame(code: &CodeInfo) -> bool {
    asyncio_module(&code.file) == Some("base_events.py")
        && matches!(
            last_name(code),
            "run_forever" | "run_until_complete" | "_run_once"
        )
}

/// The selector's wait: the leaf of an idle stdlib loop.
fn selector_wait(code: &CodeInfo) -> bool {
    is_path(&code.file, "selectors.py") && matches!(last_name(code), "select" | "poll")
}

/// asyncio's machinery that sits between a loop and a callback: the handle
/// runner (`Handle._run`, events.py) and the pure-Python task steps
/// (tasks.py: `__step`, `__step_run_and_handle_result`, `__wakeup`); and
/// the coroutine `uvloop.run` wraps the program's own in (`run.<locals>.wrapper`
/// in uvloop/__init__.py, which only awaits it), so that the callback of a
/// block in the program's main coroutine is that coroutine, as under
/// `asyncio.run`.
fn dispatch_machinery(code: &CodeInfo) -> bool {
    match asyncio_module(&code.file) {
        Some("events.py") => handle_run(code),
        Some("tasks.py") => {
            let n = last_name(code);
            n.contains("step") || n.contains("wakeup")
        }
        _ => is_path(&code.file, "uvloop/__init__.py") && last_name(code) == "wrapper",
    }
}

/// Python frames known to call into a loop written in C: `asyncio.run`
/// (`run`/`Runner.run` in asyncio/runners.py), `uvloop.run`, aiohttp's
/// `web.run_app`.
fn named_runner(code: &CodeInfo) -> bool {
    let n = last_name(code);
    let uvloop_run = is_path(&code.file, "uvloop/__init__.py");
    asyncio_runner(code)
        || (uvloop_run && n == "run")
        || (is_path(&code.file, "aiohttp/web.py") && n == "run_app")
}

/// `run` in asyncio's `runners.py`: `asyncio.run`, and `Runner.run` on 3.11+.
fn asyncio_runner(code: &CodeInfo) -> bool {
    asyncio_module(&code.file) == Some("runners.py") && last_name(code) == "run"
}

/// `Handle._run` (asyncio/events.py): what every loop written in Python
/// calls to run a callback.
fn handle_run(code: &CodeInfo) -> bool {
    asyncio_module(&code.file) == Some("events.py") && last_name(code) == "_run"
}

/// Where a `multiprocessing` process starts its own life:
/// `BaseProcess._bootstrap` (multiprocessing/process.py). A process forked
/// from inside a callback (`ProcessPoolExecutor` or `Process` with the fork
/// start method) has its parent's stack below it, loop and callback
/// included, which never runs again in this process.
fn process_start(code: &CodeInfo) -> bool {
    last_name(code) == "_bootstrap"
        && is_path(&code.file, "multiprocessing/process.py")
        && !code.file.contains("/site-packages/")
}

/// asyncio's loop-internal code (all of `asyncio/` but `runners.py`): a
/// coroutine it calls is not evidence of a loop in C.
fn loop_internal(code: &CodeInfo) -> bool {
    matches!(asyncio_module(&code.file), Some(m) if m != "runners.py")
}

/// Python code known to drive coroutines itself, with no event loop: IPython
/// runs a terminal cell's coroutine with `coro.send(None)` in
/// `_pseudo_sync_runner` (IPython/core/async_helpers.py) when no loop is
/// needed. Its caller is no runner of a loop in C.
fn drives_coroutines_without_a_loop(code: &CodeInfo) -> bool {
    last_name(code) == "_pseudo_sync_runner" && is_path(&code.file, "IPython/core/async_helpers.py")
}

/// Per-thread knowledge learned from earlier samples.
#[derive(Debug, Default, Clone)]
pub struct Learned {
    /// Call sites (code, line) seen acting as the runner of a loop in C: the
    /// line too, since the same function goes on after the loop returns
    /// (`loop.run_until_complete(main())` and then synchronous work), and
    /// that work runs in no loop.
    runners: Vec<(u64, u32)>,
    /// Codes seen acting as a loop written in Python outside asyncio.
    loops: Vec<u64>,
    /// The loop that the thread state says runs on the thread (3.13+), as
    /// last seen, and what is known of it: found by a stdlib loop frame or
    /// a named runner (`c_ruled`: those rules are enough), or the frames
    /// (address, code), outermost first, that the thread's stacks have
    /// agreed on since, down to its runner (see [`c_loop_runner`]).
    c_loop: u64,
    c_ruled: bool,
    c_base: Vec<(u64, u64)>,
    /// `c_base` was built by [`c_loop_runner`] from a stack of its own
    /// choosing: a rule that finds the runner later replaces it.
    c_guessed: bool,
}

impl Learned {
    /// A loop the thread state names, first seen now (or none): what was
    /// known of the one before goes.
    fn c_start(&mut self, running_loop: u64) {
        self.c_loop = running_loop;
        self.c_ruled = false;
        self.c_base.clear();
        self.c_guessed = false;
    }

    /// The loop runs under a runner or loop frame that a rule found at
    /// `outer` (an index from the innermost): noted the first time, so that
    /// [`c_loop_runner`] knows the frames outward of it. A stdlib loop or a
    /// named runner (`ruled`) needs nothing more.
    fn c_found(&mut self, frames: &[Frame], outer: usize, running_loop: u64, ruled: bool) {
        if running_loop == 0 || (self.c_loop == running_loop && !self.c_guessed) {
            return;
        }
        self.c_start(running_loop);
        self.c_ruled = ruled;
        if !ruled {
            let base = frames[outer..].iter().rev().take(MAX_C_BASE);
            self.c_base.extend(base.map(|f| (f.addr, f.code.id)));
        }
    }
}

/// Most codes [`Learned`] keeps of each kind.
const MAX_LEARNED: usize = 64;

/// The innermost loop frame: a stdlib loop frame, or a frame of a loop
/// written in Python outside `asyncio/base_events.py` (asyncio's loop
/// methods patched by `nest_asyncio`, also while a stdlib loop already runs
/// as in a notebook; a GUI loop's timer handler that runs asyncio's
/// handles): a frame not of asyncio's own code that calls `Handle._run`, or
/// a frame named `_run_once` (asyncio's loop protocol) that waits in the
/// selector. Such a frame's code is learned, so later samples where it is
/// between callbacks (neither evidence on the stack) read the same. One
/// pass, one role lookup a frame.
fn loop_frame(frames: &[Frame], learned: &mut Learned) -> Option<usize> {
    let known = !learned.loops.is_empty();
    let mut inner = 0u16;
    for (k, f) in frames.iter().enumerate() {
        let r = roles(&f.code);
        if r & ROLE_STDLIB_LOOP != 0 {
            return Some(k);
        }
        // Evidence is rare: the frame inward was `Handle._run` or a select.
        if inner & (ROLE_HANDLE_RUN | ROLE_SELECTOR_WAIT) != 0
            && r & ROLE_LOOP_INTERNAL == 0
            && (inner & ROLE_HANDLE_RUN != 0 || last_name(&f.code) == "_run_once")
        {
            if learned.loops.len() < MAX_LEARNED && !learned.loops.contains(&f.code.id) {
                learned.loops.push(f.code.id);
            }
            return Some(k);
        }
        if known && learned.loops.contains(&f.code.id) {
            return Some(k);
        }
        inner = r;
    }
    None
}

/// Reads one stack (innermost first). `learned` remembers runners of loops
/// in C found through code flags, so that later samples where a plain
/// function sits on the runner are read right.
///
/// `running_loop` is the address of the loop the thread state says runs on
/// the thread (3.13+), `Some(0)` when none does, `None` when the reader
/// cannot tell.
pub fn classify(
    frames: &[Frame],
    learned: &mut Learned,
    forced: bool,
    running_loop: Option<u64>,
) -> View {
    let no_loop = running_loop == Some(0);
    let running_loop = running_loop.unwrap_or(0);
    if running_loop == 0 && learned.c_loop != 0 {
        learned.c_start(0);
    }
    // A process forked by `multiprocessing` from inside a callback: only
    // the frames from its start inwards are its own.
    let frames = match frames
        .iter()
        .position(|f| roles(&f.code) & ROLE_PROCESS_START != 0)
    {
        Some(b) => &frames[..=b],
        None => frames,
    };
    if frames.is_empty() {
        return View::NotLoop;
    }
    // Stdlib loop, or a loop written in Python elsewhere: the innermost
    // loop frame.
    if let Some(l) = loop_frame(frames, learned) {
        learned.c_found(frames, l, running_loop, true);
        // Idle: the selector's wait, called from the loop's `_run_once`,
        // directly or through a wrapper of the selector's (a subclass that
        // times `select`); a `select` a callback makes itself (in
        // `subprocess`, say) is busy: `Handle._run` lies between.
        if l >= 1
            && is_selector_wait(&frames[0].code)
            && frames[1..l]
                .iter()
                .all(|f| roles(&f.code) & ROLE_HANDLE_RUN == 0)
        {
            return View::Idle;
        }
        return callback_inward_of(frames, l);
    }
    // Loop in C: a runner frame, by name, learned, or through code flags.
    // A learned call site is the runner only while a loop can be running
    // there: not when the thread state says none runs (3.13+), and not when
    // the frame it calls was called from Python rather than from C (3.12+:
    // the same helper that ran `loop.run_until_complete(...)` runs other
    // work next, in no loop).
    let learned_runner = |k: usize, f: &Frame| {
        !no_loop
            && learned.runners.contains(&(f.code.id, f.line))
            && (k == 0 || frames[k - 1].from_c != Some(false))
    };
    let runner = frames
        .iter()
        .enumerate()
        .position(|(k, f)| is_named_runner(&f.code) || learned_runner(k, f));
    if let Some(r) = runner {
        learned.c_found(frames, r, running_loop, is_named_runner(&frames[r].code));
    }
    let runner = runner.or_else(|| {
        // Outermost coroutine frame whose caller is neither a coroutine nor
        // asyncio's loop-internal code: that caller is the runner.
        (0..frames.len().saturating_sub(1)).rev().find_map(|k| {
            let caller = &frames[k + 1];
            (frames[k].code.is_coroutine() == Some(true)
                && caller.code.is_coroutine() == Some(false)
                && !is_loop_internal(&caller.code)
                && !drives_coroutines_without_a_loop(&caller.code))
            .then(|| {
                let site = (caller.code.id, caller.line);
                if learned.runners.len() < MAX_LEARNED && !learned.runners.contains(&site) {
                    learned.runners.push(site);
                }
                learned.c_found(frames, k + 1, running_loop, false);
                k + 1
            })
        })
    });
    let runner = runner.or_else(|| {
        (running_loop != 0)
            .then(|| c_loop_runner(frames, learned, running_loop))
            .flatten()
    });
    let runner = match runner {
        Some(r) => r,
        None if forced => frames.len() - 1,
        None => return View::NotLoop,
    };
    if runner == 0 {
        return View::Idle;
    }
    callback_inward_of(frames, runner)
}

/// Most frames [`Learned::c_base`] holds.
const MAX_C_BASE: usize = 1024;

/// The runner of a loop in C that the thread state says runs, found by no
/// other rule in this stack: an application's `loop.run_forever()` on
/// uvloop whose callbacks are plain functions (a protocol's
/// `data_received`, `call_later`), where no coroutine, or none at this call
/// site, shows where the loop is. Every stack of the thread holds the
/// runner while the loop runs; while the loop waits the runner is the
/// leaf, and the loop calls each callback from C. So, among the frames
/// every stack has agreed on since the loop was first seen running (or
/// since a rule found its runner): a stack no deeper than them is the loop
/// waiting (its leaf is the runner); in a deeper one, the runner is the
/// innermost of them that calls a frame called from C. When none does,
/// they are stale (the same loop object run again from deeper down between
/// two samples) and this stack starts them again. Frames are only ever
/// started from a stack that begins where a thread begins (module code,
/// `Thread._bootstrap`, runpy's `_run_module_as_main`): not from a
/// greenlet's or a torn read's. `None` for a loop the rules find by its
/// frames (a stdlib loop, a named runner: a stack without them is not the
/// loop's), and for a stack that shares not even its outermost frame with
/// them (another stack).
fn c_loop_runner(frames: &[Frame], learned: &mut Learned, running_loop: u64) -> Option<usize> {
    let n = frames.len();
    let outward = || frames.iter().rev().map(|f| (f.addr, f.code.id));
    // The runner when the `common` outermost frames are the shared ones, as
    // an index from the innermost (the shared frames are then the `n - k`
    // outermost).
    let pick = |common: usize| {
        if common == n {
            return Some(0);
        }
        ((n - common).max(1)..n).find(|&k| frames[k - 1].from_c == Some(true))
    };
    if learned.c_loop == running_loop {
        if learned.c_ruled {
            return None;
        }
        if !learned.c_base.is_empty() {
            let common = learned
                .c_base
                .iter()
                .zip(outward())
                .take_while(|(b, f)| **b == *f)
                .count();
            if common == 0 {
                return None;
            }
            if let Some(k) = pick(common) {
                learned.c_base.truncate(n - k);
                return Some(k);
            }
        }
    }
    if !frames.last().is_some_and(|f| thread_bottom(&f.code)) {
        return None;
    }
    learned.c_start(running_loop);
    learned.c_guessed = true;
    learned.c_base.extend(outward().take(MAX_C_BASE));
    Some(0)
}

/// Code a thread's stack begins with: module code (the main thread's
/// script, `python -c`), `Thread._bootstrap` (threading.py), runpy's
/// `_run_module_as_main` (`python -m`). A greenlet's stack begins with a
/// function of the application's or a library's.
fn thread_bottom(code: &CodeInfo) -> bool {
    let n = last_name(code);
    !code.is_function()
        || (n == "_bootstrap" && is_path(&code.file, "threading.py"))
        || (n == "_run_module_as_main"
            && (is_path(&code.file, "runpy.py") || code.file == "<frozen runpy>"))
}

/// The callback whose root is the first frame inward of `outer` that is not
/// asyncio's dispatch machinery. With none, and `Handle._run` the innermost
/// frame, the callback is code without a Python frame (a builtin, a C
/// extension's or Cython's function that the loop calls directly:
/// `loop.call_soon(time.sleep, 1)`): `Handle._run` is then the root.
fn callback_inward_of(frames: &[Frame], outer: usize) -> View {
    let mut handle = 0;
    for j in (0..outer).rev() {
        let f = &frames[j];
        if is_dispatch_machinery(&f.code) {
            if f.handle != 0 {
                handle = f.handle;
            }
            continue;
        }
        return View::Callback {
            root: j,
            id: RootId {
                code: f.code.id,
                frame: f.addr,
                handle,
                context: 0,
            },
        };
    }
    match frames.first() {
        Some(f) if outer > 0 && roles(&f.code) & ROLE_HANDLE_RUN != 0 => View::Callback {
            root: 0,
            id: RootId {
                code: f.code.id,
                frame: f.addr,
                handle,
                context: 0,
            },
        },
        _ => View::Machinery,
    }
}

/// One node of a block's prefix tree of stacks, from the callback root in.
#[derive(Debug)]
struct Node {
    code: Arc<CodeInfo>,
    count: u32,
    lines: Vec<(u32, u32)>,
    children: Vec<u32>,
    /// The node this one hangs under (the root's is itself).
    parent: u32,
}

/// A block being built.
#[derive(Debug)]
struct Run {
    id: RootId,
    /// The run began on another stack (its root is that stack's outermost
    /// frame, the loop's own frames were not seen).
    foreign_root: bool,
    /// The context version of this run's last samples on another stack,
    /// while they are the latest.
    foreign_context: Option<u64>,
    /// The contexts entered at this run's last sample on the loop's stack.
    entered: Entered,
    first: Duration,
    last: Duration,
    samples: u32,
    /// Interval of the last sample (the bound added to last - first).
    interval: Duration,
    nodes: Vec<Node>,
    leaves: AddrMap<(u64, u32), (Arc<CodeInfo>, u32)>,
    ongoing_reported: bool,
    /// The trie node of the last sample on the loop's stack's innermost
    /// frame. A sample on another stack (a greenlet) hangs under that
    /// path's innermost coroutine: the coroutine that switched to that
    /// stack (SQLAlchemy's `greenlet_spawn`, awaited by the application's
    /// coroutine) is still there, suspended.
    last_leaf: u32,
}

/// Whether the context the loop entered to run a callback (`prev.outer`)
/// stayed entered between two samples of it (same root code, frame and
/// handle) at context versions `prev_ver` and `cur_ver`, though the version
/// moved: the callback entered or left contexts of its own in between.
///
/// Every enter and every exit bumps the version by one (so does a greenlet
/// switch, which only adds to the count). To leave the outermost context
/// from `prev.depth` entered ones takes `prev.depth` exits, and to be
/// `cur.depth` deep again as many entries: a version that moved by less
/// than their sum cannot have seen the outermost context left. Anything
/// else is a new callback: nested runs shorter than the interval (two
/// samples in steps that are not adjacent) look exactly like the next step
/// of the same task entering its context again, the same handle address
/// included (a freed handle's memory is reused: aiohttp's keep-alive
/// connection task, two requests 1 ms apart, was one 132 ms block when the
/// handle counted), so they cut the block.
pub(crate) fn still_entered(prev: Entered, prev_ver: u64, cur: Entered, cur_ver: u64) -> bool {
    let moved = cur_ver.wrapping_sub(prev_ver);
    prev.outer != 0
        && prev.outer == cur.outer
        && prev.depth > 0
        && cur.depth > 0
        && moved > 0
        && moved < u64::from(prev.depth) + u64::from(cur.depth)
}

fn bump_line(lines: &mut Vec<(u32, u32)>, line: u32) {
    if let Some((_, c)) = lines.iter_mut().find(|(l, _)| *l == line) {
        *c += 1;
    } else if lines.len() < 256 {
        lines.push((line, 1));
    }
}

fn top_line(lines: &[(u32, u32)]) -> u32 {
    // Most frequent line; ties go to the earliest seen.
    let mut best = (0, 0);
    for &(l, c) in lines {
        if c > best.1 {
            best = (l, c);
        }
    }
    best.0
}

impl Run {
    fn new(id: RootId, at: Duration, root: &Frame) -> Run {
        Run {
            id,
            foreign_root: false,
            foreign_context: None,
            entered: Entered::default(),
            first: at,
            last: at,
            samples: 0,
            interval: Duration::ZERO,
            nodes: vec![Node {
                code: root.code.clone(),
                count: 0,
                lines: Vec::new(),
                children: Vec::new(),
                parent: 0,
            }],
            leaves: AddrMap::default(),
            ongoing_reported: false,
            last_leaf: 0,
        }
    }

    /// Adds one busy sample: `path` is the stack from the root inwards.
    fn add<'a>(&mut self, at: Duration, interval: Duration, path: impl Iterator<Item = &'a Frame>) {
        self.add_from(at, interval, path, false);
    }

    /// Adds one busy sample taken on another stack (a greenlet): `path`,
    /// that stack from its outermost frame inwards, hangs under the last
    /// sample's path on the loop's stack up to its innermost coroutine
    /// (under the root when there is none).
    fn add_switched<'a>(
        &mut self,
        at: Duration,
        interval: Duration,
        path: impl Iterator<Item = &'a Frame>,
    ) {
        self.add_from(at, interval, path, true);
    }

    /// The trie nodes from the root to the innermost coroutine of the last
    /// sample on the loop's stack (the root alone when it shows none).
    fn switched_from(&self) -> smallvec::SmallVec<[usize; 32]> {
        let mut chain: smallvec::SmallVec<[usize; 32]> = smallvec::SmallVec::new();
        let mut n = self.last_leaf as usize;
        while n != 0 && chain.len() < MAX_PATH_DEPTH {
            chain.push(n);
            n = self.nodes[n].parent as usize;
        }
        chain.push(0);
        chain.reverse();
        let inner = chain
            .iter()
            .rposition(|&n| self.nodes[n].code.is_coroutine() == Some(true))
            .unwrap_or(0);
        chain.truncate(inner + 1);
        chain
    }

    fn add_from<'a>(
        &mut self,
        at: Duration,
        interval: Duration,
        path: impl Iterator<Item = &'a Frame>,
        switched: bool,
    ) {
        self.last = at;
        self.interval = interval;
        self.samples += 1;
        let mut node = 0usize;
        let mut leaf: Option<&Frame> = None;
        // Depth 0 of `path` goes under the last node of `switched_from`,
        // whose nodes count this sample at their most frequent line.
        let base = if switched {
            let chain = self.switched_from();
            for &i in &chain {
                let n = &mut self.nodes[i];
                n.count += 1;
                let line = top_line(&n.lines);
                bump_line(&mut n.lines, line);
            }
            node = chain.last().copied().unwrap_or(0);
            chain.len()
        } else {
            0
        };
        for (i, f) in path.enumerate() {
            let depth = base + i;
            leaf = Some(f);
            if depth > 0 {
                if depth >= MAX_PATH_DEPTH {
                    break;
                }
                let found = self.nodes[node]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| self.nodes[c as usize].code.id == f.code.id);
                node = match found {
                    Some(c) => c as usize,
                    None if self.nodes.len() < MAX_TRIE_NODES => {
                        let idx = self.nodes.len();
                        self.nodes.push(Node {
                            code: f.code.clone(),
                            count: 0,
                            lines: Vec::new(),
                            children: Vec::new(),
                            parent: node as u32,
                        });
                        self.nodes[node].children.push(idx as u32);
                        idx
                    }
                    None => break,
                };
            }
            let n = &mut self.nodes[node];
            n.count += 1;
            bump_line(&mut n.lines, f.line);
        }
        if !switched {
            self.last_leaf = node as u32;
        }
        if let Some(f) = leaf {
            let key = (f.code.id, f.line);
            if let Some(e) = self.leaves.get_mut(&key) {
                e.1 += 1;
            } else if self.leaves.len() < MAX_LEAVES {
                self.leaves.insert(key, (f.code.clone(), 1));
            }
        }
    }

    fn duration(&self) -> Duration {
        self.last - self.first + self.interval
    }
}

/// Tells the application's own code from the standard library and
/// installed packages.
#[derive(Debug, Clone, Default)]
struct Ownership {
    include: Vec<String>,
    exclude: Vec<String>,
    /// The directory that holds the target's `asyncio/`, once seen.
    stdlib: Option<String>,
}

impl Ownership {
    /// Learn the standard library's directory from a frame of asyncio's
    /// loop machinery: a loop frame of `base_events.py`, `Handle._run` of
    /// `events.py` or `run` of `runners.py`. Not from any file in a
    /// directory named `asyncio/`: an application's own `asyncio/`
    /// subpackage, or a library's installed outside `site-packages`
    /// (`pip --target`, a vendored copy: websockets, redis and hypercorn
    /// ship one), would make the real standard library the application's,
    /// for good (a trial named `json.encoder` for a handler's `json.dumps`).
    fn learn(&mut self, frames: &[Frame]) {
        if self.stdlib.is_some() {
            return;
        }
        for f in frames {
            let c = &f.code;
            let machinery = stdlib_loop_frame(c) || handle_run(c) || asyncio_runner(c);
            if machinery && let Some(idx) = c.file.rfind("/asyncio/") {
                self.stdlib = Some(f.code.file[..=idx].to_string());
                return;
            }
        }
    }

    /// Whether `file` is the standard library's. Once its directory is
    /// known, only what lies under it: an application's own `asyncio/`
    /// subpackage is the application's.
    fn is_stdlib(&self, file: &str) -> bool {
        if file.starts_with("<frozen ") {
            return true;
        }
        match &self.stdlib {
            Some(dir) => file.starts_with(dir.as_str()),
            None => asyncio_module(file).is_some() || file.contains("/lib/python3."),
        }
    }

    fn is_app(&self, file: &str) -> bool {
        if self.exclude.iter().any(|s| file.contains(s.as_str())) {
            return false;
        }
        if self.include.iter().any(|s| file.contains(s.as_str())) {
            return true;
        }
        if generated(file) {
            return false;
        }
        !(file.contains("/site-packages/")
            || file.contains("/dist-packages/")
            || self.is_stdlib(file))
    }
}

#[derive(Debug, Default)]
struct Track {
    learned: Learned,
    run: Option<Run>,
    /// Time of this thread's last readable sample.
    last_ok: Option<Duration>,
    /// Address of the outermost frame of the last sample that showed the
    /// loop (0: none yet, or a reader without addresses).
    base: u64,
    /// The last readable sample showed the loop, or ran on another stack
    /// from inside it (so the loop has not returned since).
    loop_running: bool,
    /// Samples in a row, while the loop runs, that show neither it nor
    /// another stack nor the thread's own start, or another stack without
    /// a stack switch.
    odd: u8,
}

/// Odd samples in a row (see `Track::odd`) that are believed: fewer are
/// torn reads, failed samples. Code whose frames flip many times a
/// microsecond (a generator over a callable iterator driven from C) tears
/// about one read in 30 on 3.12, two in a row often enough to split one
/// block in twenty at two; a loop that really returned only has its last
/// block closed a few samples later (its end is its last busy sample).
const ODD_IN_A_ROW: u8 = 4;

impl Track {
    /// Counts one odd sample; true while it is taken as a torn read (a
    /// failed sample, counted in `failed`), false once `ODD_IN_A_ROW` in a
    /// row are believed.
    fn torn(&mut self, failed: &mut u64) -> bool {
        self.odd += 1;
        if self.odd < ODD_IN_A_ROW {
            *failed += 1;
            return true;
        }
        false
    }
}

/// The streaming detector. Feed it samples in time order with [`push`];
/// [`finish`] flushes blocks still in progress.
///
/// [`push`]: Detector::push
/// [`finish`]: Detector::finish
#[derive(Debug)]
pub struct Detector {
    cfg: Config,
    own: Ownership,
    tracks: AddrMap<u64, Track>,
    totals: Totals,
}

impl Config {
    /// The longest a thread may go unobserved inside one block: four
    /// intervals, half the threshold, or a quarter of the block so far,
    /// whichever is longest. Two busy samples of the same callback further
    /// apart than this are not evidence that the loop stayed in it (memory
    /// is reused: a later callback can show the same code, frame and handle
    /// addresses), so the block ends at its last sample and a new one
    /// starts, unless the thread's context version says it is the same
    /// callback still (see `Detector::push`). A long block tolerates
    /// proportionally longer holes: a sampler starved for 30 ms must not cut
    /// a stuck loop of minutes into pieces, and a hole of a quarter of what
    /// was seen can change the reported duration by at most that much.
    pub fn max_gap(&self, interval: Duration, block_so_far: Duration) -> Duration {
        (interval * 4).max(self.threshold / 2).max(block_so_far / 4)
    }
}

impl Detector {
    pub fn new(cfg: Config) -> Detector {
        let own = Ownership {
            include: cfg.include.clone(),
            exclude: cfg.exclude.clone(),
            stdlib: None,
        };
        Detector {
            cfg,
            own,
            tracks: AddrMap::default(),
            totals: Totals::default(),
        }
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// How long the longest block still going on has lasted so far, if one
    /// has reached the threshold.
    pub fn in_progress(&self) -> Option<Duration> {
        self.tracks
            .values()
            .filter_map(|t| t.run.as_ref().map(Run::duration))
            .filter(|d| *d >= self.cfg.threshold)
            .max()
    }

    /// Tells whether a stack shows an event loop (used by the sampler to
    /// pick the threads worth sampling).
    /// `running_loop`: as [`ThreadSample::running_loop`](crate::sample::ThreadSample).
    pub fn is_loop_stack(frames: &[Frame], running_loop: Option<u64>) -> bool {
        classify(frames, &mut Learned::default(), false, running_loop) != View::NotLoop
    }

    /// Consumes one sample; returns the blocks it completes or reports as
    /// ongoing.
    pub fn push(&mut self, sample: &Sample) -> Vec<Block> {
        let mut out = Vec::new();
        self.totals.samples += 1;
        for ts in &sample.threads {
            let frames = match &ts.stack {
                Ok(frames) => frames,
                Err(_) => {
                    // Neither starts nor ends a block.
                    self.totals.failed_samples += 1;
                    continue;
                }
            };
            self.own.learn(frames);
            let forced = self.cfg.forced_thread == Some(ts.tid);
            let track = self.tracks.entry(ts.tid).or_default();
            let so_far = track
                .run
                .as_ref()
                .map_or(Duration::ZERO, |r| r.last - r.first);
            let max_gap = self.cfg.max_gap(sample.interval, so_far);
            let gap = track
                .last_ok
                .is_some_and(|t| sample.at.saturating_sub(t) > max_gap);
            track.last_ok = Some(sample.at);
            if gap {
                self.totals.gaps += 1;
                // A block whose callback is known by its context version
                // (the direct reader) is kept: it goes on if this sample
                // shows the same callback at the same version (below).
                // `Context.run` bumps the version as each callback starts
                // and ends, so the loop cannot have run another callback,
                // or gone idle, in between: it stayed in this one.
                if let Some(run) = track.run.take_if(|r| r.id.context == 0) {
                    out.extend(self.close(ts.tid, run, false));
                }
            }
            let track = self.tracks.entry(ts.tid).or_default();
            let view = classify(frames, &mut track.learned, forced, ts.running_loop);
            let bottom = frames.last().map_or(0, |f| f.addr);
            if view != View::NotLoop {
                track.base = bottom;
                track.loop_running = true;
                track.odd = 0;
            } else if track.loop_running && bottom != track.base {
                // What another stack (a greenlet) starts with: a function of
                // the application's or a library's, not module code, not the
                // standard library's (`threading._shutdown` joining threads
                // at exit, called from C after the loop returned).
                if track.base != 0
                    && bottom != 0
                    && frames
                        .last()
                        .is_some_and(|f| f.code.is_function() && !self.own.is_stdlib(&f.code.file))
                {
                    out.extend(self.push_foreign(ts, frames, sample));
                    continue;
                }
                // Neither the loop nor the thread's own start: a torn read
                // (seen: a lone `_set_result_unless_cancelled`, its caller's
                // link caught mid-update) neither starts nor ends a block;
                // `ODD_IN_A_ROW` in a row are the loop gone (code run from C
                // at exit).
                if track.torn(&mut self.totals.failed_samples) {
                    continue;
                }
                track.loop_running = false;
            } else {
                track.loop_running = false;
            }
            let track = self.tracks.entry(ts.tid).or_default();
            let (root, id) = match view {
                View::Callback { root, id } => (
                    root,
                    RootId {
                        context: ts.context,
                        ..id
                    },
                ),
                _ => {
                    if let Some(run) = track.run.take() {
                        out.extend(self.close(ts.tid, run, false));
                    }
                    continue;
                }
            };
            if let Some(r) = track.run.as_mut()
                && let Some(c) = r.foreign_context.take()
                && (r.id.code, r.id.frame, r.id.handle) == (id.code, id.frame, id.handle)
                && c.wrapping_add(1) == id.context
            {
                // Back from another stack (a greenlet switched back to the
                // callback: one switch, one context version), nothing else
                // run in between: the same callback.
                r.id.context = id.context;
            }
            if let Some(r) = track.run.as_mut()
                && r.id != id
                && (r.id.code, r.id.frame, r.id.handle) == (id.code, id.frame, id.handle)
                && still_entered(r.entered, r.id.context, ts.entered, id.context)
            {
                // The callback entered or left contexts of its own
                // (`Context.run`, an eager task's first step): the context
                // version moved, the one the loop entered for it did not.
                r.id.context = id.context;
            }
            if let Some(run) = track.run.take_if(|r| r.id != id) {
                out.extend(self.close(ts.tid, run, false));
            }
            let track = self.tracks.entry(ts.tid).or_default();
            let run = track
                .run
                .get_or_insert_with(|| Run::new(id, sample.at, &frames[root]));
            run.entered = ts.entered;
            run.add(sample.at, sample.interval, frames[..=root].iter().rev());
            out.extend(ongoing(ts.tid, run, &self.cfg, &self.own));
        }
        out
    }

    /// A sample of a loop thread that shows no loop and does not start
    /// where the thread's loop samples start (but with a function, not of
    /// the standard library, and the loop not seen to return since): the
    /// thread runs Python code
    /// on another stack, switched to from inside a callback (a greenlet:
    /// SQLAlchemy's asyncio layer runs the ORM's synchronous code in one;
    /// gevent, eventlet). The loop is still inside that callback. Right
    /// after the callback's own samples (one stack switch since: the
    /// context version is one more), the block goes on, this stack under
    /// the callback's root; otherwise a block starts whose root is this
    /// stack's outermost frame, and goes on while that frame and the
    /// context stay the same.
    fn push_foreign(
        &mut self,
        ts: &crate::sample::ThreadSample,
        frames: &[Frame],
        sample: &Sample,
    ) -> Vec<Block> {
        let mut out = Vec::new();
        let Some(bottom) = frames.last() else {
            return out;
        };
        let id = RootId {
            code: bottom.code.id,
            frame: bottom.addr,
            handle: 0,
            context: ts.context,
        };
        let track = self.tracks.entry(ts.tid).or_default();
        let goes_on = track.run.as_ref().is_some_and(|r| {
            if r.foreign_root {
                r.id == id
            } else {
                match r.foreign_context {
                    Some(c) => c == ts.context,
                    None => r.id.context.wrapping_add(1) == ts.context,
                }
            }
        });
        // Greenlet bumps the context version at every switch: another stack
        // at the same version as the block in progress is no switch, but a
        // torn read (a lone frame whose caller's link was caught mid-update),
        // which neither ends nor splits the block, unless it goes on.
        let switched = track
            .run
            .as_ref()
            .is_none_or(|r| r.foreign_context.unwrap_or(r.id.context) != ts.context);
        if !goes_on && !switched && track.torn(&mut self.totals.failed_samples) {
            return out;
        }
        track.odd = 0;
        if !goes_on && let Some(run) = track.run.take() {
            out.extend(self.close(ts.tid, run, false));
        }
        let track = self.tracks.entry(ts.tid).or_default();
        let run = track.run.get_or_insert_with(|| {
            let mut r = Run::new(id, sample.at, bottom);
            r.foreign_root = true;
            r
        });
        if run.foreign_root {
            run.add(sample.at, sample.interval, frames.iter().rev());
        } else {
            run.foreign_context = Some(ts.context);
            run.add_switched(sample.at, sample.interval, frames.iter().rev());
        }
        out.extend(ongoing(ts.tid, run, &self.cfg, &self.own));
        out
    }

    /// Ends the blocks of threads not in `live` (they ended, or are no
    /// longer watched) and forgets them.
    pub fn threads_ended(&mut self, live: &[u64]) -> Vec<Block> {
        let out = self.close_runs(|tid| !live.contains(&tid), false);
        self.tracks.retain(|tid, _| live.contains(tid));
        out
    }

    /// Flushes every block in progress (aelm is stopping).
    pub fn finish(&mut self) -> Vec<Block> {
        self.close_runs(|_| true, true)
    }

    /// Closes the blocks in progress of the threads `which` picks, in
    /// thread id order.
    fn close_runs(&mut self, which: impl Fn(u64) -> bool, truncated: bool) -> Vec<Block> {
        let mut tids: Vec<u64> = self.tracks.keys().copied().filter(|&t| which(t)).collect();
        tids.sort_unstable();
        let mut out = Vec::new();
        for tid in tids {
            if let Some(run) = self.tracks.get_mut(&tid).and_then(|t| t.run.take()) {
                out.extend(self.close(tid, run, truncated));
            }
        }
        out
    }

    fn close(&mut self, tid: u64, run: Run, truncated: bool) -> Option<Block> {
        let duration = run.duration();
        if duration < self.cfg.threshold {
            return None;
        }
        self.totals.blocks += 1;
        self.totals.blocked += duration;
        Some(summarize(
            tid,
            &run,
            BlockState::Ended,
            truncated,
            &self.own,
        ))
    }
}

/// Dominant path, culprit, callee and hot frames of a run.
/// The block in progress, reported once as ongoing when it has lasted
/// `--ongoing-ms` (and the threshold).
fn ongoing(tid: u64, run: &mut Run, cfg: &Config, own: &Ownership) -> Option<Block> {
    let so_far = run.duration();
    if run.ongoing_reported || so_far < cfg.ongoing || so_far < cfg.threshold {
        return None;
    }
    run.ongoing_reported = true;
    Some(summarize(tid, run, BlockState::Ongoing, false, own))
}

fn summarize(tid: u64, run: &Run, state: BlockState, truncated: bool, own: &Ownership) -> Block {
    let total = run.samples.max(1) as f64;
    let need = (DOMINANT_SHARE * total).ceil() as u32;
    let mut path = vec![0usize];
    loop {
        let cur = path[path.len() - 1];
        let next = run.nodes[cur]
            .children
            .iter()
            .map(|&c| c as usize)
            .find(|&c| run.nodes[c].count >= need);
        match next {
            Some(c) => path.push(c),
            None => break,
        }
    }
    let refs: Vec<FrameRef> = path
        .iter()
        .map(|&i| FrameRef {
            code: run.nodes[i].code.clone(),
            line: top_line(&run.nodes[i].lines),
        })
        .collect();
    let culprit_idx = refs
        .iter()
        .rposition(|f| own.is_app(&f.code.file))
        .unwrap_or(refs.len() - 1);
    let callee = (culprit_idx + 1 < refs.len()).then(|| refs[refs.len() - 1].clone());
    let mut hot: Vec<(FrameRef, u32)> = run
        .leaves
        .iter()
        .map(|(&(_, line), (code, n))| {
            (
                FrameRef {
                    code: code.clone(),
                    line,
                },
                *n,
            )
        })
        .collect();
    hot.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.code.qualname.cmp(&b.0.code.qualname))
            .then_with(|| a.0.line.cmp(&b.0.line))
    });
    hot.truncate(HOT_FRAMES);
    Block {
        tid,
        start: run.first,
        duration: run.duration(),
        samples: run.samples,
        state,
        truncated,
        callback: refs[0].clone(),
        culprit: refs[culprit_idx].clone(),
        callee,
        hot,
        stack: refs.into_iter().rev().collect(),
    }
}

/// The whole detector as a pure function: every block of a sample sequence,
/// including those still in progress at its end.
#[cfg(test)]
pub fn detect(cfg: Config, samples: &[Sample]) -> (Vec<Block>, Totals) {
    let mut d = Detector::new(cfg);
    let mut blocks = Vec::new();
    for s in samples {
        blocks.extend(d.push(s));
    }
    blocks.extend(d.finish());
    (blocks, d.totals)
}

#[cfg(test)]
#[path = "detector_tests.rs"]
mod tests;
