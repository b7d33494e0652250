//! Unit tests of the detector with hand-built sample sequences.

use super::*;
use crate::sample::{CO_COROUTINE, SampleError, ThreadSample};

const LIB: &str = "/usr/lib/python3.11";
const APP: &str = "/srv/app/server.py";

fn code(id: u64, qualname: &str, file: &str, coroutine: bool) -> Arc<CodeInfo> {
    Arc::new(CodeInfo {
        id,
        name: qualname.rsplit('.').next().unwrap().to_string(),
        qualname: qualname.to_string(),
        file: file.to_string(),
        first_line: 1,
        module: None,
        flags: Some(if coroutine { CO_COROUTINE } else { 0 }),
        roles: Default::default(),
    })
}

fn fr(code: &Arc<CodeInfo>, line: u32) -> Frame {
    Frame {
        code: code.clone(),
        line,
        addr: 0,
        handle: 0,
        from_c: None,
    }
}

/// Frames of asyncio's stdlib loop, innermost first, below a callback.
struct Loop {
    handle_run: Arc<CodeInfo>,
    outer: Vec<Frame>,
    select: Frame,
}

fn stdlib_loop() -> Loop {
    let f = |id, q: &str, m: &str| code(id, q, &format!("{LIB}/{m}"), false);
    let outer = vec![
        fr(
            &f(3, "BaseEventLoop._run_once", "asyncio/base_events.py"),
            1922,
        ),
        fr(
            &f(4, "BaseEventLoop.run_forever", "asyncio/base_events.py"),
            608,
        ),
        fr(
            &f(
                5,
                "BaseEventLoop.run_until_complete",
                "asyncio/base_events.py",
            ),
            641,
        ),
        fr(&f(6, "Runner.run", "asyncio/runners.py"), 118),
        fr(&f(7, "run", "asyncio/runners.py"), 190),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    Loop {
        handle_run: f(2, "Handle._run", "asyncio/events.py"),
        outer,
        select: fr(&f(1, "DefaultSelector.select", "selectors.py"), 468),
    }
}

impl Loop {
    fn idle(&self) -> Vec<Frame> {
        let mut v = vec![self.select.clone()];
        v.extend(self.outer.iter().cloned());
        v
    }
    /// `inner` innermost first, run by handle `h`.
    fn busy(&self, inner: &[Frame], h: u64) -> Vec<Frame> {
        let mut v = inner.to_vec();
        let mut run = fr(&self.handle_run, 84);
        run.handle = h;
        v.push(run);
        v.extend(self.outer.iter().cloned());
        v
    }
    fn machinery(&self) -> Vec<Frame> {
        self.outer.clone()
    }
}

fn cfg() -> Config {
    Config {
        threshold: Duration::from_millis(10),
        ongoing: Duration::from_millis(1000),
        include: vec![],
        exclude: vec![],
        forced_thread: None,
    }
}

fn seq(stacks: Vec<Vec<Frame>>) -> Vec<Sample> {
    stacks
        .into_iter()
        .enumerate()
        .map(|(i, s)| Sample {
            interval: Duration::from_millis(5),
            at: Duration::from_millis(5 * i as u64),
            threads: vec![ThreadSample {
                tid: 7,
                stack: Ok(s),
                context: 0,
                running_loop: None,
                entered: Default::default(),
            }],
        })
        .collect()
}

#[test]
fn a_block_in_progress_is_known_before_it_ends() {
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let mut d = Detector::new(cfg());
    let samples = seq(vec![l.busy(&[fr(&h, 5)], 1); 21]);
    d.push(&samples[0]);
    assert_eq!(d.in_progress(), None, "5 ms: under the threshold");
    for s in &samples[1..] {
        d.push(s);
    }
    assert_eq!(d.in_progress(), Some(Duration::from_millis(105)));
    let idle = Sample {
        at: Duration::from_millis(105),
        ..seq(vec![l.idle()]).remove(0)
    };
    d.push(&idle);
    assert_eq!(d.in_progress(), None);
}

#[test]
fn idle_loop_yields_nothing() {
    let l = stdlib_loop();
    let (blocks, totals) = detect(cfg(), &seq(vec![l.idle(); 50]));
    assert!(blocks.is_empty());
    assert_eq!(totals.samples, 50);
}

#[test]
fn three_sample_block_is_reported_with_its_duration() {
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let busy = l.busy(&[fr(&h, 42)], 0x1000);
    let (blocks, totals) = detect(
        cfg(),
        &seq(vec![l.idle(), busy.clone(), busy.clone(), busy, l.idle()]),
    );
    assert_eq!(blocks.len(), 1);
    let b = &blocks[0];
    assert_eq!(b.samples, 3);
    assert_eq!(b.start, Duration::from_millis(5));
    // last - first + one interval
    assert_eq!(b.duration, Duration::from_millis(15));
    assert_eq!(b.culprit.code.qualname, "handler");
    assert_eq!(b.culprit.line, 42);
    assert_eq!(b.callback.code.qualname, "handler");
    assert!(b.callee.is_none());
    assert_eq!(b.state, BlockState::Ended);
    assert!(!b.truncated);
    assert_eq!(totals.blocks, 1);
}

#[test]
fn short_busy_runs_are_not_blocks() {
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    // One busy sample: 5 ms < 10 ms threshold.
    let (blocks, _) = detect(
        cfg(),
        &seq(vec![l.idle(), l.busy(&[fr(&h, 1)], 1), l.idle()]),
    );
    assert!(blocks.is_empty());
}

#[test]
fn callback_change_mid_run_starts_a_new_block() {
    let l = stdlib_loop();
    let a = code(10, "a", APP, true);
    let b = code(11, "b", APP, true);
    let mut stacks = vec![l.idle()];
    stacks.extend(std::iter::repeat_n(l.busy(&[fr(&a, 3)], 1), 4));
    stacks.extend(std::iter::repeat_n(l.busy(&[fr(&b, 9)], 2), 4));
    stacks.push(l.idle());
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].culprit.code.qualname, "a");
    assert_eq!(blocks[1].culprit.code.qualname, "b");
    assert_eq!(blocks[0].samples, 4);
    assert_eq!(blocks[1].samples, 4);
}

#[test]
fn same_code_different_handle_is_two_blocks() {
    let l = stdlib_loop();
    let a = code(10, "step", APP, true);
    let mut stacks = vec![l.idle()];
    stacks.extend(std::iter::repeat_n(l.busy(&[fr(&a, 3)], 0x100), 4));
    stacks.extend(std::iter::repeat_n(l.busy(&[fr(&a, 3)], 0x200), 4));
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 2);
}

#[test]
fn machinery_between_callbacks_ends_a_block() {
    let l = stdlib_loop();
    let a = code(10, "a", APP, true);
    let busy = l.busy(&[fr(&a, 3)], 1);
    let stacks = vec![
        busy.clone(),
        busy.clone(),
        l.machinery(),
        busy.clone(),
        busy,
    ];
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 2);
}

#[test]
fn stray_sample_in_other_code_keeps_the_culprit() {
    let l = stdlib_loop();
    let h = code(10, "Server.handler", APP, true);
    let work = code(11, "crunch", APP, false);
    let step = code(12, "small_step", APP, false);
    let framework = code(
        13,
        "StreamResponse.write",
        "/venv/lib/python3.11/site-packages/aiohttp/web_response.py",
        true,
    );
    let mut stacks = Vec::new();
    for i in 0..19 {
        // CPU work through many small calls: the leaf changes all the time.
        if i % 2 == 0 {
            stacks.push(l.busy(&[fr(&step, 100), fr(&work, 20), fr(&h, 42)], 1));
        } else {
            stacks.push(l.busy(&[fr(&work, 21), fr(&h, 42)], 1));
        }
    }
    // One stray sample in the framework after the handler's work.
    stacks.push(l.busy(&[fr(&framework, 700), fr(&h, 43)], 1));
    stacks.push(l.idle());
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 1);
    let b = &blocks[0];
    assert_eq!(b.samples, 20);
    assert_eq!(b.culprit.code.qualname, "crunch");
    assert_eq!(b.callback.code.qualname, "Server.handler");
    assert_eq!(b.callback.line, 42);
    // small_step is only in half the samples: not on the dominant path.
    assert!(b.callee.is_none());
    assert_eq!(b.stack.len(), 2);
    assert_eq!(b.stack[0].code.qualname, "crunch");
    assert_eq!(b.hot[0].0.code.qualname, "small_step");
    assert_eq!(b.hot[0].1, 10);
}

#[test]
fn an_asyncio_package_of_the_application_is_not_the_standard_library() {
    // The first busy sample's innermost file in a directory named
    // `asyncio/` is the application's own (`myapp/asyncio/`, or a library
    // installed outside site-packages such as `websockets/asyncio/`). The
    // standard library's directory is learned from the loop's machinery,
    // so `json` stays the standard library and the culprit is the
    // application's function that called it.
    let l = stdlib_loop();
    let main = code(10, "main", APP, true);
    let every = code(11, "every", "/srv/app/myapp/asyncio/__init__.py", true);
    let report = code(12, "report", APP, false);
    let dumps = code(13, "dumps", &format!("{LIB}/json/__init__.py"), false);
    let enc = code(
        14,
        "JSONEncoder.iterencode",
        &format!("{LIB}/json/encoder.py"),
        false,
    );
    let inner = [
        fr(&enc, 258),
        fr(&dumps, 231),
        fr(&report, 7),
        fr(&every, 5),
        fr(&main, 20),
    ];
    let mut stacks = vec![l.busy(&inner, 1); 20];
    stacks.push(l.idle());
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].culprit.code.qualname, "report");
    assert_eq!(
        blocks[0].callee.as_ref().map(|c| c.code.qualname.as_str()),
        Some("JSONEncoder.iterencode")
    );
}

#[test]
fn code_in_an_asyncio_package_of_the_application_can_be_the_culprit() {
    // The blocking function lives in the application's own `asyncio/`
    // subpackage: once the standard library's directory is known, that is
    // the application's code, not asyncio's.
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let crunch = code(11, "crunch", "/srv/app/myapp/asyncio/work.py", false);
    let b = one_busy_callback(&l, &[fr(&crunch, 9), fr(&h, 20)]);
    assert_eq!(b.culprit.code.qualname, "crunch");
}

/// The one block of an idle loop, then 20 samples of one callback's
/// `inner` frames (innermost first), then idle again.
fn one_busy_callback(l: &Loop, inner: &[Frame]) -> Block {
    let mut stacks = vec![l.idle()];
    stacks.extend(vec![l.busy(inner, 1); 20]);
    stacks.push(l.idle());
    let (mut blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    blocks.remove(0)
}

#[test]
fn generated_code_is_not_the_culprit() {
    // A library dataclass's `__init__` (made with `exec`: `<string>`) and
    // SQLAlchemy's generated wrappers have no file: the culprit is the
    // application's function that called them.
    let l = stdlib_loop();
    let h = code(10, "main", APP, true);
    let make = code(11, "make_config", APP, true);
    let init = code(12, "__create_fn__.<locals>.__init__", "<string>", false);
    let wrap = code(
        13,
        "warned",
        "<sqlalchemy generated warned() wrapper>",
        false,
    );
    for inner in [&init, &wrap] {
        let b = one_busy_callback(&l, &[fr(inner, 4), fr(&make, 9), fr(&h, 20)]);
        assert_eq!(b.culprit.code.qualname, "make_config");
    }
}

#[test]
fn library_call_under_app_function_gives_culprit_and_callee() {
    let l = stdlib_loop();
    let h = code(10, "fetch", APP, true);
    let get = code(
        11,
        "get",
        "/venv/lib/python3.11/site-packages/requests/api.py",
        false,
    );
    let readinto = code(12, "SocketIO.readinto", &format!("{LIB}/socket.py"), false);
    let busy = l.busy(&[fr(&readinto, 706), fr(&get, 73), fr(&h, 42)], 1);
    let (blocks, _) = detect(cfg(), &seq(vec![busy.clone(); 6]));
    let b = &blocks[0];
    assert_eq!(b.culprit.code.qualname, "fetch");
    assert_eq!(
        b.callee.as_ref().unwrap().code.qualname,
        "SocketIO.readinto"
    );
    assert_eq!(b.callee.as_ref().unwrap().line, 706);
    assert_eq!(b.stack.len(), 3);
    assert!(b.truncated, "still running when the samples ended");
}

#[test]
fn include_and_exclude_move_the_culprit() {
    let l = stdlib_loop();
    let h = code(10, "fetch", APP, true);
    let get = code(
        11,
        "get",
        "/venv/lib/python3.11/site-packages/requests/api.py",
        false,
    );
    let busy = l.busy(&[fr(&get, 73), fr(&h, 42)], 1);
    let mut c = cfg();
    c.include = vec!["site-packages/requests".into()];
    let (blocks, _) = detect(c, &seq(vec![busy.clone(); 4]));
    assert_eq!(blocks[0].culprit.code.qualname, "get");
    let mut c = cfg();
    c.exclude = vec!["/srv/app/".into()];
    let (blocks, _) = detect(c, &seq(vec![busy; 4]));
    // Nothing qualifies: the deepest frame of the path.
    assert_eq!(blocks[0].culprit.code.qualname, "get");
}

#[test]
fn torn_sample_neither_starts_nor_ends_a_block() {
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let busy = l.busy(&[fr(&h, 42)], 1);
    let mut samples = seq(vec![
        l.idle(),
        busy.clone(),
        busy.clone(),
        busy.clone(),
        busy,
        l.idle(),
    ]);
    samples[2].threads[0].stack = Err(SampleError::Torn);
    let (blocks, totals) = detect(cfg(), &samples);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].samples, 3);
    assert_eq!(blocks[0].duration, Duration::from_millis(20));
    assert_eq!(totals.failed_samples, 1);
    // A torn sample alone starts nothing.
    let mut samples = seq(vec![l.idle(), l.idle(), l.idle()]);
    samples[1].threads[0].stack = Err(SampleError::Gone);
    assert!(detect(cfg(), &samples).0.is_empty());
}

#[test]
fn long_block_is_reported_ongoing_then_ended() {
    let l = stdlib_loop();
    let h = code(10, "stuck", APP, true);
    let mut c = cfg();
    c.ongoing = Duration::from_millis(50);
    let mut stacks = vec![l.busy(&[fr(&h, 5)], 1); 20];
    stacks.push(l.idle());
    let (blocks, _) = detect(c, &seq(stacks));
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].state, BlockState::Ongoing);
    assert_eq!(blocks[0].duration, Duration::from_millis(50));
    assert_eq!(blocks[1].state, BlockState::Ended);
    assert_eq!(blocks[1].duration, Duration::from_millis(100));
}

#[test]
fn block_running_at_shutdown_is_flushed_as_truncated() {
    let l = stdlib_loop();
    let h = code(10, "stuck", APP, true);
    let mut d = Detector::new(cfg());
    for s in seq(vec![l.busy(&[fr(&h, 5)], 1); 5]) {
        assert!(d.push(&s).is_empty());
    }
    let flushed = d.finish();
    assert_eq!(flushed.len(), 1);
    assert!(flushed[0].truncated);
    assert_eq!(flushed[0].samples, 5);
}

/// uvloop under `asyncio.run`: no Python loop frames; the callback sits on
/// the runner.
#[test]
fn loop_in_c_found_by_named_runner_and_idle_when_runner_is_leaf() {
    let f = |id, q: &str, m: &str| code(id, q, &format!("{LIB}/{m}"), false);
    let runner = vec![
        fr(&f(6, "Runner.run", "asyncio/runners.py"), 118),
        fr(&f(7, "run", "asyncio/runners.py"), 190),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    let h = code(10, "handler", APP, true);
    let helper = code(11, "helper", APP, false);
    let mut busy = vec![fr(&helper, 9), fr(&h, 42)];
    busy.extend(runner.iter().cloned());
    let stacks = vec![runner.clone(), busy.clone(), busy.clone(), busy, runner];
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].culprit.code.qualname, "helper");
    assert_eq!(blocks[0].callback.code.qualname, "handler");
}

/// `uvloop.run(main())` runs `main` under a coroutine of its own
/// (`run.<locals>.wrapper`): a block in `main`'s own step has `main` as its
/// callback, as under `asyncio.run`.
#[test]
fn uvloops_wrapper_coroutine_is_not_the_callback() {
    let site = "/srv/venv/lib/python3.12/site-packages/uvloop/__init__.py";
    let runner = vec![
        fr(
            &code(6, "Runner.run", &format!("{LIB}/asyncio/runners.py"), false),
            118,
        ),
        fr(&code(7, "run", site, false), 109),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    let wrapper = code(9, "run.<locals>.wrapper", site, true);
    let main = code(10, "main", APP, true);
    let mut busy = vec![fr(&main, 12), fr(&wrapper, 61)];
    busy.extend(runner.iter().cloned());
    let stacks = vec![runner.clone(), busy.clone(), busy.clone(), busy, runner];
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].callback.code.qualname, "main");
    assert_eq!(blocks[0].culprit.code.qualname, "main");
}

/// The general rule: a coroutine whose caller is neither a coroutine nor
/// asyncio's machinery is driven by a loop in C; later plain callbacks on
/// that runner are callbacks too.
#[test]
fn loop_in_c_found_through_code_flags() {
    let main = code(20, "main_sync", APP, false);
    let module = code(21, "<module>", APP, false);
    let coro = code(22, "serve", APP, true);
    let cb = code(23, "on_timer", APP, false);
    let idle = vec![fr(&main, 30), fr(&module, 40)];
    let busy_coro = vec![fr(&coro, 12), fr(&main, 30), fr(&module, 40)];
    let busy_cb = vec![fr(&cb, 17), fr(&main, 30), fr(&module, 40)];
    let stacks = vec![
        busy_coro.clone(),
        busy_coro.clone(),
        busy_coro,
        idle.clone(),
        busy_cb.clone(),
        busy_cb.clone(),
        busy_cb,
        idle,
    ];
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].culprit.code.qualname, "serve");
    assert_eq!(blocks[1].culprit.code.qualname, "on_timer");
}

/// A runner learned through code flags is a call site: once the loop has
/// returned, the same function's later work (`loop.run_until_complete(main())`
/// on a uvloop loop, then synchronous code) runs in no loop.
#[test]
fn work_after_a_loop_in_c_returned_is_not_a_block() {
    let module = code(21, "<module>", APP, false);
    let coro = code(22, "main", APP, true);
    let work = code(24, "write_report", APP, false);
    let busy_coro = vec![fr(&coro, 12), fr(&module, 40)];
    let after = vec![fr(&work, 7), fr(&module, 43)];
    let mut learned = Learned::default();
    assert!(matches!(
        classify(&busy_coro, &mut learned, false, None),
        View::Callback { .. }
    ));
    assert_eq!(classify(&after, &mut learned, false, None), View::NotLoop);
    let mut stacks = vec![busy_coro; 3];
    stacks.extend(vec![vec![fr(&module, 40)]; 2]);
    stacks.extend(vec![after; 10]);
    let (blocks, _) = detect(cfg(), &seq(stacks));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].culprit.code.qualname, "main");
}

/// IPython's terminal runs a cell's coroutine by hand when no loop is
/// needed (`_pseudo_sync_runner`): not a loop in C, so a slow cell there is
/// no block.
#[test]
fn a_helper_that_ran_a_loop_in_c_and_then_runs_work_is_no_runner_then() {
    // `timed(fn, *args)` calls `fn(*args)` on one line: first
    // `loop.run_until_complete(main())` (uvloop), then `write_report()`.
    // The call site learned as a runner calls `write_report` from Python,
    // not from C (3.12+ sees it), and no loop runs then (3.13+ sees it).
    let module = code(21, "<module>", APP, false);
    let timed = code(25, "timed", APP, false);
    let coro = code(22, "main", APP, true);
    let work = code(24, "write_report", APP, false);
    let called = |c: &Arc<CodeInfo>, line, from_c| Frame {
        from_c,
        ..fr(c, line)
    };
    for (from_c, running, want_block) in [
        (Some(false), None, false),
        (None, Some(0), false),
        (None, None, true),
    ] {
        let busy = vec![
            called(&coro, 12, Some(true)),
            fr(&timed, 176),
            fr(&module, 40),
        ];
        let after = vec![called(&work, 7, from_c), fr(&timed, 176), fr(&module, 41)];
        let mut learned = Learned::default();
        assert!(matches!(
            classify(&busy, &mut learned, false, running.map(|_| 0x7f00)),
            View::Callback { .. }
        ));
        let got = classify(&after, &mut learned, false, running);
        assert_eq!(
            got != View::NotLoop,
            want_block,
            "from_c {from_c:?}, running loop {running:?}: {got:?}"
        );
    }
}

#[test]
fn a_process_forked_from_inside_a_callback_runs_no_loop_of_its_parent() {
    // `ProcessPoolExecutor` with the fork start method, submitted from a
    // coroutine: the worker process inherits the parent's stack (loop,
    // `Handle._run`, the coroutine) below its own start, and never returns
    // into it. Its own work is no block; a loop it runs itself is its own.
    let l = stdlib_loop();
    let mp = |id, q: &str, m: &str| code(id, q, &format!("{LIB}/multiprocessing/{m}"), false);
    let submit = code(30, "handler", APP, true);
    let launch = fr(&mp(31, "Popen._launch", "popen_fork.py"), 71);
    let start = fr(&mp(32, "BaseProcess._bootstrap", "process.py"), 314);
    let worker = fr(
        &code(
            33,
            "_process_worker",
            &format!("{LIB}/concurrent/futures/process.py"),
            false,
        ),
        240,
    );
    let work = fr(&code(34, "crunch", APP, false), 9);
    let inherited = l.busy(&[launch, fr(&submit, 20)], 0x40);
    let in_child = |inner: &[Frame]| {
        let mut v = inner.to_vec();
        v.push(worker.clone());
        v.push(start.clone());
        v.extend(inherited.iter().cloned());
        v
    };
    let mut learned = Learned::default();
    assert_eq!(
        classify(
            &in_child(std::slice::from_ref(&work)),
            &mut learned,
            false,
            None
        ),
        View::NotLoop
    );
    assert!(!Detector::is_loop_stack(&in_child(&[work]), None));
    // The child's own `asyncio.run`, waiting: its loop, idle.
    let own = in_child(&l.idle());
    assert_eq!(
        classify(&own, &mut Learned::default(), false, None),
        View::Idle
    );
}

#[test]
fn ipythons_pseudo_sync_runner_is_no_loop() {
    let site = "/srv/venv/lib/python3.12/site-packages/IPython/core";
    let cell = code(50, "<module>", "<ipython-input-3-b36>", false);
    let run_cell = code(
        51,
        "InteractiveShell.run_cell_async",
        &format!("{site}/interactiveshell.py"),
        true,
    );
    let runner = code(
        52,
        "_pseudo_sync_runner",
        &format!("{site}/async_helpers.py"),
        false,
    );
    let outer = code(
        53,
        "InteractiveShell._run_cell",
        &format!("{site}/interactiveshell.py"),
        false,
    );
    let stack = vec![
        fr(&cell, 1),
        fr(&run_cell, 3518),
        fr(&runner, 140),
        fr(&outer, 3300),
    ];
    assert_eq!(
        classify(&stack, &mut Learned::default(), false, None),
        View::NotLoop
    );
    let (blocks, _) = detect(cfg(), &seq(vec![stack; 20]));
    assert!(blocks.is_empty(), "{blocks:?}");
}

/// asyncio's loop methods replaced by Python code outside asyncio
/// (`nest_asyncio.apply()` patches `run_forever`, `run_until_complete`,
/// `_run_once` and `asyncio.run`): no frame of base_events.py and no
/// runner of runners.py is on the stack.
fn patched_loop() -> (Vec<Frame>, Arc<CodeInfo>, Frame) {
    let site = "/srv/venv/lib/python3.12/site-packages/nest_asyncio.py";
    let outer = vec![
        fr(
            &code(40, "_patch_loop.<locals>._run_once", site, false),
            120,
        ),
        fr(
            &code(41, "_patch_loop.<locals>.run_forever", site, false),
            80,
        ),
        fr(
            &code(42, "_patch_loop.<locals>.run_until_complete", site, false),
            90,
        ),
        fr(&code(43, "_patch_asyncio.<locals>.run", site, false), 30),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    let f = |id, q: &str, m: &str| code(id, q, &format!("{LIB}/{m}"), false);
    let select = fr(&f(1, "DefaultSelector.select", "selectors.py"), 468);
    (outer, f(2, "Handle._run", "asyncio/events.py"), select)
}

#[test]
fn a_loop_written_in_python_outside_asyncio_is_a_loop() {
    let (outer, handle_run, select) = patched_loop();
    let idle: Vec<Frame> = std::iter::once(select)
        .chain(outer.iter().cloned())
        .collect();
    assert!(Detector::is_loop_stack(&idle, None));
    assert_eq!(
        classify(&idle, &mut Learned::default(), false, None),
        View::Idle
    );
    let h = code(10, "handler", APP, true);
    let work = code(11, "work_sync", APP, false);
    let inner = code(12, "inner", APP, true);
    let busy = |frames: &[Frame]| -> Vec<Frame> {
        let mut v = frames.to_vec();
        v.push(fr(&handle_run, 84));
        v.extend(outer.iter().cloned());
        v
    };
    let busy_h = busy(&[fr(&work, 4), fr(&h, 7)]);
    // A loop run again from inside a callback (what nest_asyncio is for):
    // the callback of the innermost loop is the one that blocks.
    let nested = {
        let mut v = busy(&[fr(&inner, 10)]);
        let tail = busy(&[fr(&h, 9)]);
        v.truncate(v.len() - 2); // the inner loop was entered from `h`
        v.extend(tail);
        v
    };
    // Between callbacks in the patched `_run_once`: neither a select nor
    // `Handle._run` on the stack; its code was learned as a loop frame.
    let between: Vec<Frame> = outer.clone();
    let stacks = vec![
        idle.clone(),
        busy_h.clone(),
        busy_h.clone(),
        busy_h,
        between,
        nested.clone(),
        nested.clone(),
        nested,
        idle,
    ];
    let (blocks, _) = detect(cfg(), &seq(stacks));
    let got: Vec<(&str, &str)> = blocks
        .iter()
        .map(|b| {
            (
                b.callback.code.qualname.as_str(),
                b.culprit.code.qualname.as_str(),
            )
        })
        .collect();
    assert_eq!(got, [("handler", "work_sync"), ("inner", "inner")]);
}

#[test]
fn a_loop_patched_while_it_runs_is_read_by_its_patched_frames() {
    // `nest_asyncio.apply()` in a notebook: the kernel's stdlib loop is
    // already in `run_forever`, which now calls the patched `_run_once`.
    // Idle in the patched `_run_once` is idle, not a callback of the stdlib
    // loop named `_run_once`.
    let (patched, handle_run, select) = patched_loop();
    let l = stdlib_loop();
    let mut outer = vec![patched[0].clone()];
    outer.extend(l.outer[1..].iter().cloned()); // stdlib run_forever and out
    let idle: Vec<Frame> = std::iter::once(select)
        .chain(outer.iter().cloned())
        .collect();
    assert_eq!(
        classify(&idle, &mut Learned::default(), false, None),
        View::Idle
    );
    let h = code(10, "cell", APP, true);
    let mut busy = vec![fr(&h, 3), fr(&handle_run, 84)];
    busy.extend(outer.iter().cloned());
    let stacks = vec![
        idle.clone(),
        idle.clone(),
        outer.clone(), // between callbacks
        idle.clone(),
        busy.clone(),
        busy.clone(),
        busy,
        idle.clone(),
        idle,
    ];
    let (blocks, _) = detect(cfg(), &seq(stacks));
    let got: Vec<&str> = blocks
        .iter()
        .map(|b| b.callback.code.qualname.as_str())
        .collect();
    assert_eq!(got, ["cell"]);
}

#[test]
fn a_function_named_like_a_loop_is_not_one_without_evidence() {
    // `_run_once` in an application's own scheduler thread that neither
    // waits in the selector nor runs asyncio handles.
    let job = code(50, "job", APP, false);
    let run_once = code(51, "Scheduler._run_once", APP, false);
    let stack = vec![
        fr(&job, 3),
        fr(&run_once, 20),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    assert!(!Detector::is_loop_stack(&stack, None));
    let (blocks, _) = detect(cfg(), &seq(vec![stack; 6]));
    assert!(blocks.is_empty());
}

#[test]
fn threads_without_a_loop_are_ignored_and_loops_per_thread_are_separate() {
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let worker = code(30, "worker", APP, false);
    let busy = l.busy(&[fr(&h, 42)], 1);
    let samples: Vec<Sample> = (0..6)
        .map(|i| Sample {
            interval: Duration::from_millis(5),
            at: Duration::from_millis(5 * i),
            threads: vec![
                ThreadSample {
                    tid: 1,
                    stack: Ok(busy.clone()),
                    context: 0,
                    running_loop: None,
                    entered: Default::default(),
                },
                ThreadSample {
                    tid: 2,
                    stack: Ok(vec![fr(&worker, 1)]),
                    context: 0,
                    running_loop: None,
                    entered: Default::default(),
                },
                ThreadSample {
                    tid: 3,
                    stack: Ok(busy.clone()),
                    context: 0,
                    running_loop: None,
                    entered: Default::default(),
                },
            ],
        })
        .collect();
    let (blocks, _) = detect(cfg(), &samples);
    let tids: Vec<u64> = blocks.iter().map(|b| b.tid).collect();
    assert_eq!(tids, vec![1, 3]);
}

/// `busy` sampled every 5 ms from 0 to 20 ms at context version `before`,
/// then nothing until 100 ms (aelm starved), then to 120 ms at `after`.
fn hole_at_100ms(busy: &[Frame], before: u64, after: u64) -> Vec<Sample> {
    let mut samples = seq(vec![busy.to_vec(); 5]);
    for s in &mut samples {
        s.threads[0].context = before;
    }
    for i in 0..5u64 {
        samples.push(Sample {
            interval: Duration::from_millis(5),
            at: Duration::from_millis(100 + 5 * i),
            threads: vec![ThreadSample {
                tid: 7,
                stack: Ok(busy.to_vec()),
                context: after,
                running_loop: None,
                entered: Default::default(),
            }],
        });
    }
    samples
}

#[test]
fn a_gap_in_observation_ends_the_block() {
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let busy = l.busy(&[fr(&h, 42)], 1);
    // No context versions (the py-spy reader): no telling it is one call.
    let (blocks, totals) = detect(cfg(), &hole_at_100ms(&busy, 0, 0));
    assert_eq!(totals.gaps, 1);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(blocks[0].duration, Duration::from_millis(25));
    assert_eq!(blocks[1].duration, Duration::from_millis(25));
}

#[test]
fn a_wrapped_selector_waiting_is_idle() {
    // A selector subclass that times `select` (or a `select` patched on
    // the loop's selector): an application frame between `_run_once` and
    // the selector's wait. Still the loop waiting.
    let l = stdlib_loop();
    let wrapper = fr(&code(50, "TimedSelector.select", APP, false), 12);
    let mut idle = l.idle();
    idle.insert(1, wrapper);
    let (blocks, _) = detect(cfg(), &seq(vec![idle.clone(); 40]));
    assert!(blocks.is_empty(), "{blocks:?}");
    assert_eq!(
        classify(&idle, &mut Learned::default(), false, None),
        View::Idle
    );
}

#[test]
fn a_select_made_by_a_callback_is_busy() {
    let l = stdlib_loop();
    let h = code(10, "run_tool", APP, true);
    let communicate = code(
        11,
        "Popen._communicate",
        &format!("{LIB}/subprocess.py"),
        false,
    );
    // subprocess waits in selectors.py's select, called from the callback.
    let busy = l.busy(&[l.select.clone(), fr(&communicate, 2100), fr(&h, 7)], 1);
    let (blocks, _) = detect(cfg(), &seq(vec![busy; 6]));
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].culprit.code.qualname, "run_tool");
}

#[test]
fn ongoing_is_never_reported_below_the_threshold() {
    let l = stdlib_loop();
    let h = code(10, "short", APP, true);
    let mut c = cfg();
    c.threshold = Duration::from_millis(100);
    c.ongoing = Duration::from_millis(10);
    let mut stacks = vec![l.busy(&[fr(&h, 5)], 1); 4];
    stacks.push(l.idle());
    let (blocks, _) = detect(c, &seq(stacks));
    assert!(blocks.is_empty(), "{blocks:?}");
}

#[test]
fn third_party_asyncio_subpackages_are_not_asyncio() {
    let f = code(
        1,
        "run",
        "/venv/lib/python3.11/site-packages/x/asyncio/runners.py",
        false,
    );
    assert!(!is_named_runner(&f));
}

#[test]
fn a_gap_inside_one_callback_at_one_context_version_is_bridged() {
    // The direct reader sees the thread's context version, which every
    // `Context.run` bumps: the same callback at the same version after a
    // hole (aelm starved for 75 ms) is the same call, still running. At
    // another version it is another call of the same code.
    let l = stdlib_loop();
    let h = code(10, "handler", APP, true);
    let busy = l.busy(&[fr(&h, 42)], 1);
    for (after, want) in [(40u64, vec![125u64]), (42, vec![25, 25])] {
        let (blocks, totals) = detect(cfg(), &hole_at_100ms(&busy, 40, after));
        assert_eq!(totals.gaps, 1);
        let got: Vec<u64> = blocks
            .iter()
            .map(|b| b.duration.as_millis() as u64)
            .collect();
        assert_eq!(got, want, "context {after}: {blocks:?}");
    }
}

#[test]
fn a_long_block_survives_a_short_hole_in_observation() {
    let l = stdlib_loop();
    let h = code(10, "stuck", APP, true);
    let busy = l.busy(&[fr(&h, 5)], 1);
    // 500 ms of samples, a 40 ms hole (aelm starved), 200 ms more.
    let mut samples = seq(vec![busy.clone(); 100]);
    for i in 0..40u64 {
        samples.push(Sample {
            interval: Duration::from_millis(5),
            at: Duration::from_millis(535 + 5 * i),
            threads: vec![ThreadSample {
                tid: 7,
                stack: Ok(busy.clone()),
                context: 0,
                running_loop: None,
                entered: Default::default(),
            }],
        });
    }
    let (blocks, totals) = detect(cfg(), &samples);
    assert_eq!(totals.gaps, 0);
    let ended: Vec<_> = blocks
        .iter()
        .filter(|b| b.state == BlockState::Ended)
        .collect();
    assert_eq!(ended.len(), 1, "{blocks:?}");
    assert_eq!(ended[0].duration, Duration::from_millis(735));
}

#[test]
fn a_new_context_version_is_a_new_callback() {
    // A loop in C (no handle to see); the next request's coroutine reuses the
    // same memory, but Context.run bumped the thread's context version.
    let f = |id, q: &str, m: &str| code(id, q, &format!("{LIB}/{m}"), false);
    let runner = [
        fr(&f(6, "Runner.run", "asyncio/runners.py"), 118),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    let h = code(10, "handler", APP, true);
    let mut busy = vec![fr(&h, 42)];
    busy.extend(runner.iter().cloned());
    let mut samples = seq(vec![busy; 8]);
    for (i, s) in samples.iter_mut().enumerate() {
        s.threads[0].context = if i < 4 { 100 } else { 102 };
    }
    let (blocks, _) = detect(cfg(), &samples);
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(blocks[0].samples, 4);
}

/// A loop thread running a greenlet switched to from inside a callback
/// (SQLAlchemy's asyncio layer): the stdlib loop's stacks start at
/// `<module>` (at `BASE`), the greenlet's at its own outermost frame and
/// show no loop. Samples come with context versions.
/// Seen on 3.12 and 3.14: CPU work in a generator expression over a
/// callable iterator (`sum(1 for _ in iter(lambda: ..., False))`) gave, in
/// about one read in 70, a lone `<lambda>` frame (its link to the C-stack
/// entry frame caught mid-update). Taken for a greenlet's stack, it ended
/// the block and the rest became another block. Another stack without a
/// stack switch (the same context version) is a torn read; two in a row
/// are believed.
#[test]
fn a_lone_frame_without_a_stack_switch_does_not_split_a_block() {
    use greenlets::*;
    let g = scene();
    let mut lone = fr(
        &as_function(&code(61, "spin.<locals>.<lambda>", APP, false)),
        7,
    );
    lone.addr = 0x9c00;
    let mut s = times(3, (g.idle(), 1));
    s.extend(times(20, (g.in_task(), 3)));
    s.push((vec![lone.clone()], 3));
    s.extend(times(20, (g.in_task(), 3)));
    // The same inside a block on a greenlet's stack.
    s.extend(times(3, (g.idle(), 3)));
    s.extend(times(20, (g.on_greenlet(), 4)));
    s.push((vec![lone], 4));
    s.extend(times(20, (g.on_greenlet(), 4)));
    s.extend(times(3, (g.idle(), 5)));
    // The same where the thread state names the running loop (3.13+): the
    // stdlib loop's frames say all, the lone frame is no loop of its own.
    for running_loop in [None, Some(0x7f00_0000)] {
        let (blocks, totals) = detect(cfg(), &with_loop(with_contexts(s.clone()), running_loop));
        let sizes: Vec<u32> = blocks.iter().map(|b| b.samples).collect();
        assert_eq!(sizes, vec![40, 40], "{blocks:?}");
        assert_eq!(totals.failed_samples, 2);
    }
}

/// `samples` with every thread's running loop set to `running_loop`.
fn with_loop(mut samples: Vec<Sample>, running_loop: Option<u64>) -> Vec<Sample> {
    for t in samples.iter_mut().flat_map(|s| s.threads.iter_mut()) {
        t.running_loop = running_loop;
    }
    samples
}

mod greenlets {
    use super::*;

    const BASE: u64 = 0x100;

    pub struct Scene {
        pub l: Loop,
        pub task: Frame,
        pub spawn: Frame,
        pub work: Frame,
        pub bottom: Frame,
    }

    pub fn scene() -> Scene {
        let mut l = stdlib_loop();
        if let Some(m) = l.outer.last_mut() {
            m.addr = BASE;
        }
        let lib = |id, q: &str| code(id, q, "/srv/site-packages/sqlalchemy/util.py", false);
        // A function's code: CO_OPTIMIZED | CO_NEWLOCALS.
        let mut bottom = fr(&as_function(&lib(40, "Session.execute")), 2300);
        bottom.addr = 0x9000;
        Scene {
            task: fr(&code(30, "load_all", APP, true), 20),
            spawn: fr(&lib(31, "greenlet_spawn"), 190),
            work: fr(&code(41, "slow_sync", APP, false), 15),
            bottom,
            l,
        }
    }

    impl Scene {
        pub fn idle(&self) -> Vec<Frame> {
            self.l.idle()
        }
        pub fn in_task(&self) -> Vec<Frame> {
            self.l.busy(&[self.spawn.clone(), self.task.clone()], 0x77)
        }
        pub fn on_greenlet(&self) -> Vec<Frame> {
            vec![self.work.clone(), self.bottom.clone()]
        }
    }

    /// The same code with a function's flags (`code` gives plain functions
    /// no flags).
    pub fn as_function(c: &Arc<CodeInfo>) -> Arc<CodeInfo> {
        Arc::new(CodeInfo {
            flags: Some(0x3),
            ..(**c).clone()
        })
    }

    pub fn with_contexts(stacks: Vec<(Vec<Frame>, u64)>) -> Vec<Sample> {
        let contexts: Vec<u64> = stacks.iter().map(|s| s.1).collect();
        let mut samples = seq(stacks.into_iter().map(|s| s.0).collect());
        for (s, c) in samples.iter_mut().zip(contexts) {
            s.threads[0].context = c;
        }
        samples
    }

    pub fn times<T: Clone>(n: usize, x: T) -> Vec<T> {
        vec![x; n]
    }
}

#[test]
fn a_callback_that_switches_to_a_greenlet_stays_one_block() {
    use greenlets::*;
    let g = scene();
    let mut s = times(3, (g.idle(), 1));
    s.extend(times(2, (g.in_task(), 5)));
    // Switched into the greenlet: one more context version.
    s.extend(times(20, (g.on_greenlet(), 6)));
    // And back to the callback: one more.
    s.extend(times(2, (g.in_task(), 7)));
    s.extend(times(3, (g.idle(), 9)));
    // Also with the running loop named by the thread state (3.13+): the
    // greenlet's stack is still another stack, not the loop's.
    for running_loop in [None, Some(0x7f00_0000)] {
        let (blocks, _) = detect(cfg(), &with_loop(with_contexts(s.clone()), running_loop));
        assert_eq!(blocks.len(), 1, "{blocks:?}");
        let b = &blocks[0];
        assert_eq!(b.samples, 24);
        assert_eq!(b.duration, Duration::from_millis(120));
        assert_eq!(b.callback.code.qualname, "load_all");
        assert_eq!(b.culprit.code.qualname, "slow_sync");
        assert_eq!(b.culprit.line, 15);
    }
}

#[test]
fn greenlet_samples_hang_under_the_coroutine_that_switched() {
    // App CPU in a nested coroutine, then SQLAlchemy's `greenlet_spawn`
    // (a coroutine) into library code on a greenlet, in one callback:
    // neither half is 80 % of the block, and the greenlet's frames belong
    // under `save_items`, which awaits `greenlet_spawn`, not under the task's
    // root. Before, they hung under the root and the culprit was `main`.
    use greenlets::*;
    let g = scene();
    let lib = "/srv/site-packages/sqlalchemy/orm/session.py";
    let main = fr(&code(30, "main", APP, true), 20);
    let save = fr(&code(32, "save_items", APP, true), 13);
    let build = fr(&code(33, "build", APP, false), 7);
    let spawn = fr(&code(31, "greenlet_spawn", lib, true), 190);
    let flush = fr(&code(42, "Session._flush", lib, false), 4400);
    let in_task = |inner: &[Frame]| g.l.busy(inner, 0x77);
    let mut s = times(3, (g.idle(), 1));
    s.extend(times(
        12,
        (in_task(&[build.clone(), save.clone(), main.clone()]), 5),
    ));
    s.extend(times(
        2,
        (in_task(&[spawn.clone(), save.clone(), main.clone()]), 5),
    ));
    s.extend(times(10, (vec![flush.clone(), g.bottom.clone()], 6)));
    s.extend(times(3, (g.idle(), 9)));
    let (blocks, _) = detect(cfg(), &with_contexts(s));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].samples, 24);
    assert_eq!(blocks[0].culprit.code.qualname, "save_items");
}

#[test]
fn a_block_that_starts_on_a_greenlet_is_rooted_at_its_outermost_frame() {
    // The callback switched to the greenlet before any sample saw it.
    use greenlets::*;
    let g = scene();
    let mut s = times(3, (g.idle(), 1));
    s.extend(times(20, (g.on_greenlet(), 4)));
    s.extend(times(3, (g.idle(), 7)));
    let (blocks, _) = detect(cfg(), &with_contexts(s));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].samples, 20);
    assert_eq!(blocks[0].callback.code.qualname, "Session.execute");
    assert_eq!(blocks[0].culprit.code.qualname, "slow_sync");
}

#[test]
fn greenlet_samples_of_another_callback_are_another_block() {
    use greenlets::*;
    let g = scene();
    let mut s = times(3, (g.idle(), 1));
    s.extend(times(10, (g.on_greenlet(), 4)));
    // Switched out and in again between two samples (the loop ran).
    s.extend(times(10, (g.on_greenlet(), 8)));
    // Back in the task, but not straight from the greenlet: another step.
    s.extend(times(10, (g.in_task(), 13)));
    s.extend(times(3, (g.idle(), 15)));
    let (blocks, _) = detect(cfg(), &with_contexts(s));
    let sizes: Vec<u32> = blocks.iter().map(|b| b.samples).collect();
    assert_eq!(sizes, vec![10, 10, 10], "{blocks:?}");
}

#[test]
fn a_stack_without_a_loop_is_a_greenlet_only_on_a_thread_seen_in_its_loop() {
    use greenlets::*;
    let g = scene();
    // Never seen in its loop: nothing to go by.
    let (blocks, _) = detect(cfg(), &with_contexts(times(20, (g.on_greenlet(), 4))));
    assert!(blocks.is_empty(), "{blocks:?}");
    // The loop's own outermost frame with no loop (asyncio.run returned):
    // not a block either.
    let mut s = times(3, (g.idle(), 1));
    let module = g.l.outer.last().cloned().into_iter().collect::<Vec<_>>();
    s.extend(times(20, (module, 4)));
    let (blocks, _) = detect(cfg(), &with_contexts(s));
    assert!(blocks.is_empty(), "{blocks:?}");
}

#[test]
fn a_frozen_application_with_relative_paths_is_read_like_any() {
    // PyInstaller names the modules it bundles by relative path
    // (`asyncio/base_events.py`, `selectors.py`): before, its loop was not
    // recognised, idle or busy (found only through code flags, late).
    let f = |id, q: &str, file: &str| code(id, q, file, false);
    let outer = [
        fr(
            &f(3, "BaseEventLoop._run_once", "asyncio/base_events.py"),
            1933,
        ),
        fr(
            &f(4, "BaseEventLoop.run_forever", "asyncio/base_events.py"),
            638,
        ),
        fr(&f(6, "Runner.run", "asyncio/runners.py"), 118),
        fr(&f(8, "<module>", "frozen_app.py"), 16),
    ];
    let mut idle = vec![fr(&f(1, "EpollSelector.select", "selectors.py"), 468)];
    idle.extend(outer.iter().cloned());
    let mut busy = vec![
        fr(&f(10, "helper", "frozen_app.py"), 4),
        fr(&code(11, "handler", "frozen_app.py", true), 8),
        fr(&f(2, "Handle._run", "asyncio/events.py"), 84),
    ];
    busy.extend(outer.iter().cloned());
    let mut learned = Learned::default();
    assert_eq!(classify(&idle, &mut learned, false, None), View::Idle);
    assert!(matches!(
        classify(&busy, &mut learned, false, None),
        View::Callback { root: 1, .. }
    ));
    // A `selectors.py` of some package is not the stdlib's.
    let mut other = idle.clone();
    other[0] = fr(&f(12, "select", "vendor/myselectors.py"), 3);
    assert!(matches!(
        classify(&other, &mut learned, false, None),
        View::Callback { .. }
    ));
    let mut s = vec![idle.clone(); 3];
    s.extend(vec![busy; 10]);
    s.extend(vec![idle; 3]);
    let (blocks, _) = detect(cfg(), &seq(s));
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!(blocks[0].callback.code.qualname, "handler");
    assert_eq!(blocks[0].culprit.code.qualname, "helper");
}

#[test]
fn code_run_from_c_after_the_loop_returned_is_not_a_greenlet() {
    // At exit CPython calls `threading._shutdown` (joining threads) and
    // atexit handlers from C, on stacks of their own, after the loop is gone.
    use greenlets::*;
    let g = scene();
    let module = g.l.outer.last().cloned().into_iter().collect::<Vec<_>>();
    let threading = format!("{LIB}/threading.py");
    let mut shutdown = fr(
        &as_function(&code(50, "_shutdown", &threading, false)),
        1590,
    );
    shutdown.addr = 0x9900;
    let mut module_code = fr(&code(51, "<module>", APP, false), 3);
    module_code.code = Arc::new(CodeInfo {
        flags: Some(0),
        ..(*module_code.code).clone()
    });
    module_code.addr = 0x9a00;
    let mut atexit = g.on_greenlet();
    atexit[1].code = as_function(&code(52, "flush_all", APP, false));
    for (name, after_loop, later) in [
        ("a stdlib function", g.idle(), vec![shutdown]),
        ("module code", g.idle(), vec![module_code]),
        ("an app function once the loop returned", module, atexit),
    ] {
        let mut s = times(3, (g.idle(), 1));
        s.push((after_loop, 2));
        s.extend(times(20, (later, 3)));
        let (blocks, _) = detect(cfg(), &with_contexts(s));
        assert!(blocks.is_empty(), "{name}: {blocks:?}");
    }
}

#[test]
fn a_callback_without_a_python_frame_is_rooted_at_handle_run() {
    // `loop.call_soon(time.sleep, 0.1)`: `Handle._run` innermost. Two such
    // callbacks back to back are told apart by their handles; the loop's
    // own code between callbacks (no `Handle._run`) is still no block.
    let l = stdlib_loop();
    let mut s = vec![l.idle(); 3];
    s.extend(vec![l.busy(&[], 0x10); 10]);
    s.extend(vec![l.busy(&[], 0x20); 10]);
    s.extend(vec![l.machinery(); 10]);
    s.extend(vec![l.idle(); 3]);
    let (blocks, _) = detect(cfg(), &seq(s));
    let got: Vec<(&str, u32, u32)> = blocks
        .iter()
        .map(|b| (b.callback.code.qualname.as_str(), b.culprit.line, b.samples))
        .collect();
    assert_eq!(
        got,
        vec![("Handle._run", 84, 10), ("Handle._run", 84, 10)],
        "{blocks:?}"
    );
}

#[test]
fn a_torn_sample_before_a_greenlet_does_not_hide_it() {
    // Seen on 3.13 (1 run in ~30): between the loop's samples and the
    // greenlet's, one read showed a lone `_set_result_unless_cancelled`
    // (its caller's link caught mid-update); it took the loop for gone, and
    // the greenlet's 100 ms went unreported.
    use greenlets::*;
    let g = scene();
    let futures = format!("{LIB}/asyncio/futures.py");
    let mut torn = fr(
        &as_function(&code(60, "_set_result_unless_cancelled", &futures, false)),
        5,
    );
    torn.addr = 0x9b00;
    let mut s = times(3, (g.idle(), 1));
    s.push((vec![torn.clone()], 2));
    s.extend(times(20, (g.on_greenlet(), 4)));
    // And inside a block, a torn sample neither ends nor splits it.
    s.push((vec![torn], 4));
    s.extend(times(20, (g.on_greenlet(), 4)));
    s.extend(times(3, (g.idle(), 7)));
    let (blocks, totals) = detect(cfg(), &with_contexts(s));
    let sizes: Vec<u32> = blocks.iter().map(|b| b.samples).collect();
    assert_eq!(sizes, vec![40], "{blocks:?}");
    assert_eq!(totals.failed_samples, 2);
}

/// A loop in C the application runs itself (`serve` calls uvloop's
/// `run_forever` from `<module>`), with plain callbacks only: frames with
/// addresses. The idle stack (the runner is the leaf).
fn app_run_c_loop() -> Vec<Frame> {
    let module = code(1, "<module>", APP, false);
    let serve = code(2, "serve", APP, false);
    vec![at(&serve, 115, 0x2000), at(&module, 126, 0x1000)]
}

/// `c` as a function's code (CO_NEWLOCALS).
fn as_fn(c: &Arc<CodeInfo>) -> Arc<CodeInfo> {
    greenlets::as_function(c)
}

fn at(c: &Arc<CodeInfo>, line: u32, addr: u64) -> Frame {
    Frame {
        addr,
        ..fr(c, line)
    }
}

/// Callback `cb` (its frame at `addr`) called from C on the runner of `idle`.
fn called_from_c(idle: &[Frame], cb: &Arc<CodeInfo>, addr: u64, line: u32) -> Vec<Frame> {
    let mut v = vec![Frame {
        from_c: Some(true),
        ..at(cb, line, addr)
    }];
    v.extend(idle.iter().cloned());
    v
}

fn vec_of<T: Clone>(n: usize, x: T) -> Vec<T> {
    vec![x; n]
}

fn with_running_loop(stacks: Vec<(Vec<Frame>, u64)>) -> Vec<Sample> {
    let loops: Vec<u64> = stacks.iter().map(|s| s.1).collect();
    let mut samples = seq(stacks.into_iter().map(|s| s.0).collect());
    for (s, l) in samples.iter_mut().zip(loops) {
        s.threads[0].running_loop = Some(l);
    }
    samples
}

#[test]
fn plain_callbacks_of_a_loop_in_c_the_thread_state_names_are_blocks() {
    let idle = app_run_c_loop();
    let busy = |cb: &Arc<CodeInfo>, addr, line| called_from_c(&idle, cb, addr, line);
    let tick = code(10, "tick", APP, false);
    let data = code(11, "Handler.data_received", APP, false);
    const L: u64 = 0x7f00_0000;
    let mut s = vec_of(4, (idle.clone(), L));
    s.extend(vec_of(6, (busy(&tick, 0x3000, 43), L)));
    s.extend(vec_of(4, (idle.clone(), L)));
    s.extend(vec_of(5, (busy(&data, 0x3000, 77), L)));
    s.extend(vec_of(4, (idle.clone(), L)));
    let (blocks, _) = detect(cfg(), &with_running_loop(s.clone()));
    let got: Vec<(&str, u32)> = blocks
        .iter()
        .map(|b| (b.culprit.code.qualname.as_str(), b.samples))
        .collect();
    assert_eq!(got, [("tick", 6), ("Handler.data_received", 5)]);

    // Without the thread state's word (before 3.13), no loop is seen.
    let (blocks, _) = detect(cfg(), &seq(s.into_iter().map(|x| x.0).collect()));
    assert!(blocks.is_empty());
    assert!(Detector::is_loop_stack(&idle, Some(L)));
    assert!(!Detector::is_loop_stack(&idle, None));
}

#[test]
fn a_loop_in_c_under_frames_called_from_c_waits_at_its_runner() {
    // `python -m app` (runpy calls `<module>` from C), a thread on 3.14+
    // (`Thread.run` through `Context.run`): frames outward of the runner
    // called from C. Waiting, the stack is no deeper than the frames every
    // stack shares: idle, whatever lies below.
    let module = Frame {
        from_c: Some(true),
        ..at(&code(1, "<module>", APP, false), 126, 0x1000)
    };
    let runpy = "<frozen runpy>";
    let idle = vec![
        at(&code(2, "serve", APP, false), 115, 0x2000),
        module,
        at(&as_fn(&code(3, "_run_code", runpy, false)), 88, 0x800),
        at(
            &as_fn(&code(4, "_run_module_as_main", runpy, false)),
            198,
            0x400,
        ),
    ];
    let tick = code(10, "tick", APP, false);
    const L: u64 = 0x7f00_0000;
    let mut s = vec_of(8, (idle.clone(), L));
    s.extend(vec_of(6, (called_from_c(&idle, &tick, 0x3000, 43), L)));
    s.extend(vec_of(8, (idle, L)));
    let (blocks, _) = detect(cfg(), &with_running_loop(s));
    let got: Vec<(&str, &str, u32)> = blocks
        .iter()
        .map(|b| {
            (
                b.callback.code.qualname.as_str(),
                b.culprit.code.qualname.as_str(),
                b.samples,
            )
        })
        .collect();
    assert_eq!(got, [("tick", "tick", 6)]);
}

#[test]
fn a_greenlet_under_a_plain_callback_of_a_loop_in_c_stays_in_its_block() {
    // A plain callback switches to a greenlet (its stack begins with a
    // function, not where a thread begins) for 60 samples: that stack is
    // never taken for the loop's, and the block is the callback's, whole.
    let idle = app_run_c_loop();
    let cb = code(10, "cb", APP, false);
    let green = vec![
        at(&as_fn(&code(40, "slow_sync", APP, false)), 15, 0x9100),
        at(&as_fn(&code(41, "in_greenlet", APP, false)), 30, 0x9000),
    ];
    const L: u64 = 0x7f00_0000;
    let busy = called_from_c(&idle, &cb, 0x3000, 20);
    let mut s: Vec<(Vec<Frame>, u64, u64)> = vec_of(4, (idle.clone(), L, 1));
    s.extend(vec_of(2, (busy.clone(), L, 3)));
    s.extend(vec_of(60, (green, L, 4)));
    s.extend(vec_of(2, (busy, L, 5)));
    s.extend(vec_of(4, (idle, L, 7)));
    let mut samples = with_running_loop(s.iter().map(|x| (x.0.clone(), x.1)).collect());
    for (smp, x) in samples.iter_mut().zip(&s) {
        smp.threads[0].context = x.2;
    }
    let (blocks, _) = detect(cfg(), &samples);
    let got: Vec<(&str, u32)> = blocks
        .iter()
        .map(|b| (b.callback.code.qualname.as_str(), b.samples))
        .collect();
    assert_eq!(got, [("cb", 64)]);
}

#[test]
fn a_loop_in_c_run_again_from_deeper_down_is_read_from_its_new_runner() {
    // The same loop object run again (same address, its stop and restart
    // between two samples) from a function `setup` called by `<module>`: the
    // frames learned for the first run are too shallow. A stack whose frame
    // inward of them was not called from C shows it: no invented block.
    let idle = app_run_c_loop();
    let module = idle[1].clone();
    let setup = Frame {
        addr: 0x2800,
        ..fr(&code(3, "setup", APP, false), 20)
    };
    let tick = code(10, "tick", APP, false);
    const L: u64 = 0x7f00_0000;
    let mut s = Vec::new();
    s.extend(vec_of(4, (vec![module.clone()], L)));
    let deeper_idle = vec![setup.clone(), module.clone()];
    let mut deeper_busy = vec![Frame {
        from_c: Some(true),
        addr: 0x3000,
        ..fr(&tick, 43)
    }];
    deeper_busy.extend(deeper_idle.iter().cloned());
    s.extend(vec_of(6, (deeper_idle.clone(), L)));
    s.extend(vec_of(5, (deeper_busy, L)));
    s.extend(vec_of(6, (deeper_idle, L)));
    let (blocks, _) = detect(cfg(), &with_running_loop(s));
    let got: Vec<(&str, u32)> = blocks
        .iter()
        .map(|b| (b.culprit.code.qualname.as_str(), b.samples))
        .collect();
    assert_eq!(got, [("tick", 5)]);
}

#[test]
fn a_loop_in_c_that_stops_leaves_no_runner_behind() {
    // The loop stops (the thread state's word cleared) and the runner's
    // function goes on with synchronous work in no loop: not a block; nor
    // is another stack (a torn read, a greenlet's) taken for the loop.
    let idle = app_run_c_loop();
    let tick = code(10, "tick", APP, false);
    let report = code(12, "write_report", APP, false);
    const L: u64 = 0x7f00_0000;
    let mut after = vec![fr(&report, 9)];
    after.extend(idle.iter().cloned());
    let lone = vec![Frame {
        addr: 0x9000,
        ..fr(&report, 9)
    }];
    let mut s = Vec::new();
    s.extend(vec_of(3, (idle.clone(), L)));
    s.push((lone.clone(), L));
    s.extend(vec_of(3, (idle.clone(), L)));
    s.extend(vec_of(5, (called_from_c(&idle, &tick, 0x3000, 43), L)));
    s.extend(vec_of(8, (after.clone(), 0)));
    let samples = with_running_loop(s);
    let (blocks, _) = detect(cfg(), &samples);
    let got: Vec<&str> = blocks
        .iter()
        .map(|b| b.culprit.code.qualname.as_str())
        .collect();
    assert_eq!(got, ["tick"]);
    let mut learned = Learned::default();
    assert_eq!(classify(&idle, &mut learned, false, Some(L)), View::Idle);
    assert_eq!(classify(&lone, &mut learned, false, Some(L)), View::NotLoop);
    assert_eq!(classify(&idle, &mut learned, false, Some(L)), View::Idle);
    assert_eq!(classify(&after, &mut learned, false, None), View::NotLoop);
}

/// Samples of one callback that enters contexts of its own: each sample
/// `(stack, context version, entered)`.
fn with_entered(stacks: Vec<(Vec<Frame>, u64, Entered)>) -> Vec<Sample> {
    let tags: Vec<(u64, Entered)> = stacks.iter().map(|s| (s.1, s.2)).collect();
    let mut samples = seq(stacks.into_iter().map(|s| s.0).collect());
    for (s, (c, e)) in samples.iter_mut().zip(tags) {
        s.threads[0].context = c;
        s.threads[0].entered = e;
    }
    samples
}

const OUTER: u64 = 0x7f00_0000_1000;

fn entered(outer: u64, depth: u8) -> Entered {
    Entered { outer, depth }
}

#[test]
fn the_outermost_context_left_takes_as_many_bumps_as_depths() {
    let t = |d| entered(OUTER, d);
    // Into a nested run and back: one bump each, the callback's context
    // stayed entered.
    assert!(still_entered(t(1), 10, t(2), 11));
    assert!(still_entered(t(2), 11, t(1), 12));
    // From one nested run to the next: two bumps, fewer than 2 + 2.
    assert!(still_entered(t(2), 11, t(2), 13));
    // Four bumps between two nested samples: the callback's context may have
    // been left and entered again (the next step of the same task).
    assert!(!still_entered(t(2), 11, t(2), 15));
    // Nothing nested in either sample: a moved version is a new callback.
    assert!(!still_entered(t(1), 10, t(1), 12));
    // Another outermost context, or none known, or no move at all.
    assert!(!still_entered(t(2), 11, entered(OUTER + 0x100, 2), 12));
    assert!(!still_entered(
        Entered::default(),
        11,
        Entered::default(),
        12
    ));
    assert!(!still_entered(t(2), 11, t(2), 11));
}

#[test]
fn a_callback_that_enters_contexts_of_its_own_stays_one_block() {
    // `for x in items: copy_context().run(step, x)` inside one callback:
    // every step enters a context and leaves it, bumping the version twice.
    // Before, each version was another callback: a 120 ms block came out
    // as 24 pieces of 5 ms, under the threshold (eager tasks likewise).
    let l = stdlib_loop();
    let h = code(10, "handler", APP, false);
    let step = code(11, "step", APP, false);
    let nested = l.busy(&[fr(&step, 3), fr(&h, 42)], 0x1000);
    let own = l.busy(&[fr(&h, 41)], 0x1000);
    let mut s = vec![(l.idle(), 99, Entered::default()); 3];
    s.push((own.clone(), 100, entered(OUTER, 1)));
    for i in 0..22u64 {
        // Samples in step after step, 2 bumps apart.
        s.push((nested.clone(), 101 + 2 * i, entered(OUTER, 2)));
    }
    s.push((own, 144, entered(OUTER, 1)));
    s.extend(vec![(l.idle(), 201, Entered::default()); 3]);
    let (blocks, _) = detect(cfg(), &with_entered(s.clone()));
    let sizes: Vec<u32> = blocks.iter().map(|b| b.samples).collect();
    assert_eq!(sizes, vec![24], "{blocks:?}");

    // On a loop in C too (no handle to see): steps two bumps apart stay one
    // block, a sample four bumps on (a whole step unseen) may be the next
    // step of the same task, and starts a new block.
    let f = |id, q: &str, m: &str| code(id, q, &format!("{LIB}/{m}"), false);
    let runner = [
        fr(&f(6, "Runner.run", "asyncio/runners.py"), 118),
        fr(&code(8, "<module>", APP, false), 50),
    ];
    let coro = code(12, "handler", APP, true);
    let mut busy = vec![fr(&step, 3), fr(&coro, 42)];
    busy.extend(runner.iter().cloned());
    let mut s: Vec<(Vec<Frame>, u64, Entered)> = Vec::new();
    for v in [101, 103, 105, 107, 111, 113, 115] {
        s.push((busy.clone(), v, entered(OUTER, 2)));
    }
    let (blocks, _) = detect(cfg(), &with_entered(s));
    let sizes: Vec<u32> = blocks.iter().map(|b| b.samples).collect();
    assert_eq!(sizes, vec![4, 3], "{blocks:?}");
}
