//! End-to-end: the real `aelm attach` against the fixture programs, on every
//! provisioned CPython, compared with the ground truth each fixture records.

mod common;

use serde_json::Value;
use std::time::Duration;

use common::*;

const THRESHOLD_MS: &str = "20";

/// Attaches to one fixture on one interpreter; returns problems found.
fn check_one(
    py: &Python,
    script: &str,
    args: &[&str],
    merged_ok: bool,
) -> Result<(Vec<String>, Vec<Value>), String> {
    let Some(mut fx) = Fixture::start(py, script, args) else {
        return Err(format!(
            "{script} skipped on {} (optional package missing)",
            py.version
        ));
    };
    let mut aelm = Aelm::attach(fx.pid(), &["--threshold-ms", THRESHOLD_MS]);
    let start = aelm.wait_for("start", Duration::from_secs(30));
    let interval_ms = start["interval_us"].as_f64().unwrap_or(0.0) / 1000.0;
    fx.go();
    let events = fx.wait_done(Duration::from_secs(60));
    // Let aelm see the loop go idle after the last block.
    std::thread::sleep(Duration::from_millis(300));
    let (lines, status) = aelm.stop();
    let mut problems = Vec::new();
    if status != 0 {
        problems.push(format!("aelm exit status {status}"));
    }
    let truth = truth_blocks(&events);
    let declared = events
        .iter()
        .find(|e| e["event"] == "done")
        .and_then(|e| e["blocks"].as_u64())
        .unwrap_or(0);
    if declared as usize != truth.len() {
        problems.push(format!(
            "fixture declared {declared} blocks, recorded {}",
            truth.len()
        ));
    }
    problems.extend(compare_with(
        &events,
        &lines,
        interval_ms,
        py.minor(),
        merged_ok,
    ));
    // Threads the fixture named in its truth: their blocks carry the name.
    for th in events.iter().filter(|e| e["event"] == "thread") {
        for b in blocks(&lines).iter().filter(|b| b["tid"] == th["tid"]) {
            if b["thread"] != th["name"] {
                problems.push(format!(
                    "block of thread {} is named {}, not {}",
                    th["tid"], b["thread"], th["name"]
                ));
            }
        }
    }
    let end = lines.last().cloned().unwrap_or_default();
    if end["type"] != "end" {
        problems.push(format!("last line is not `end`: {end}"));
    }
    let problems = problems
        .into_iter()
        .map(|p| format!("{script} {args:?} on {}: {p}", py.version))
        .collect();
    Ok((problems, events))
}

/// Runs a fixture on every interpreter; fails with every problem at once.
fn check(script: &str, args: &[&str]) {
    check_matrix(script, args, false);
}

/// Like [`check`], for loops in C under back-to-back load: see
/// `compare_with`.
fn check_matrix(script: &str, args: &[&str], merged_ok: bool) {
    let (problems, _) = run_matrix(script, args, merged_ok);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Runs a fixture on every interpreter: every problem, and the versions it
/// ran on (skipped where an optional package is missing) with the truth
/// each run recorded.
fn run_matrix(
    script: &str,
    args: &[&str],
    merged_ok: bool,
) -> (Vec<String>, Vec<(String, Vec<Value>)>) {
    run_matrix_from(0, script, args, merged_ok)
}

/// [`run_matrix`] on the interpreters from 3.`minor` on.
fn run_matrix_from(
    minor: u32,
    script: &str,
    args: &[&str],
    merged_ok: bool,
) -> (Vec<String>, Vec<(String, Vec<Value>)>) {
    let mut problems = Vec::new();
    let mut ran = Vec::new();
    for py in pythons() {
        if py.minor() < minor {
            eprintln!("{script} skipped on {}: needs 3.{minor}+", py.version);
            continue;
        }
        match check_one(&py, script, args, merged_ok) {
            Ok((p, events)) => {
                ran.push((py.version.clone(), events));
                problems.extend(p);
            }
            Err(skip) => eprintln!("{skip}"),
        }
    }
    let versions: Vec<&str> = ran.iter().map(|(v, _)| v.as_str()).collect();
    eprintln!("{script} {args:?}: ran on {}", versions.join(" "));
    (problems, ran)
}

#[test]
fn sleep_in_coroutine() {
    check("sleep_in_coroutine.py", &[]);
}

#[test]
fn sleep_in_helper() {
    check("sleep_in_helper.py", &[]);
}

#[test]
fn cpu_through_many_small_calls() {
    check("cpu_many_calls.py", &[]);
}

#[test]
fn cpu_through_a_generator_driven_from_c() {
    // sum() over a generator expression: the current frame flips between
    // the generator's and the coroutine's every few tens of nanoseconds, and
    // torn reads of it must fail samples, not split the block. The culprit
    // may be the generator expression itself (same line) where it is on the
    // stack in >= 80 % of the samples. On 3.11 the generator expression's
    // code object was built where a start-up code object had been
    // (`<module>` of `<string>`), which the reader kept naming until it
    // checked unused code objects again on their next use.
    check_generator_cpu(&[]);
}

/// `generator_cpu.py` on every interpreter, a culprit that is the generator
/// expression on the expected line counting as right.
fn check_generator_cpu(args: &[&str]) {
    let (problems, _) = run_matrix("generator_cpu.py", args, false);
    let problems: Vec<String> = problems
        .into_iter()
        .filter(|p| !genexpr_culprit_on_its_line(p))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn cpu_through_a_callable_iterator_driven_from_c() {
    // `sum(1 for _ in iter(lambda: ..., False))`: the generator calls the
    // lambda from C. Some reads show a lone `<lambda>` (its link to the
    // C-stack entry frame caught mid-update); before, that was taken for a
    // greenlet's stack and split the block (3.12, 3.14: about every other
    // block), and two torn reads in a row, common here, split it too.
    check_generator_cpu(&["--shape", "callable-iter"]);
}

#[test]
fn a_callback_that_enters_contexts_of_its_own() {
    // `copy_context().run(step, ...)` 10 times in one callback, 10 ms a
    // step: the thread's context version moves at every step. Before, the
    // direct reader took every version for another callback, and a 100 ms
    // block came out as pieces (with 1 ms steps, none reported at all).
    // Steps longer than the interval: samples fall in the same or adjacent
    // steps (shorter ones cut the block, see how-it-works.md).
    check(
        "nested_contexts.py",
        &["--shape", "ctx-run", "--step-ms", "10"],
    );
    check(
        "nested_contexts.py",
        &["--shape", "ctx-run", "--loop", "uvloop", "--step-ms", "10"],
    );
}

#[test]
fn eager_task_steps_inside_a_callback() {
    // A TaskGroup under `asyncio.eager_task_factory` (3.12+): each
    // `create_task` runs the new task's first step at once, in its own
    // context, inside the callback (10 ms steps). uvloop's `create_task`
    // does not work with the eager factory of 3.13+ (`eager_start`), so the
    // stdlib loop only.
    check_from(
        12,
        "nested_contexts.py",
        &["--shape", "eager", "--step-ms", "10"],
    );
}

#[test]
fn code_object_built_where_a_freed_one_was() {
    // Each round compiles a new handler and frees it; the next round's code
    // object lands at the freed one's address (the fixture records them).
    // Every block must be named after its own round's function: a cached
    // code object unused for a while is checked again on its next use
    // (before, every round was named `handler_0` on 3.11).
    let (problems, ran) = run_matrix("code_reuse.py", &[], false);
    let reused_on: Vec<&str> = ran
        .iter()
        .filter(|(_, events)| {
            let addrs: Vec<u64> = events
                .iter()
                .filter(|e| e["event"] == "code")
                .filter_map(|e| e["addr"].as_u64())
                .collect();
            addrs.windows(2).any(|w| w[0] == w[1])
        })
        .map(|(v, _)| v.as_str())
        .collect();
    eprintln!(
        "code_reuse.py: a code address reused on {}",
        reused_on.join(" ")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        !reused_on.is_empty(),
        "no interpreter built a code object at a freed one's address: nothing was tested"
    );
}

#[test]
fn threads_started_after_aelm_are_named() {
    // `aelm run` attaches before the program starts its loop threads. Before,
    // names were looked up at most every 5 s and a miss was kept: the start
    // line and the first seconds of blocks said `"thread": null`.
    let all = pythons();
    for py in [all.first(), all.last()].into_iter().flatten() {
        let dir = scratch("thread-names");
        let out = aelm_run(py, "two_loops.py", &["--threshold-ms", "20"], &dir)
            .output()
            .expect("running aelm run");
        let lines = json_lines(&out.stdout);
        let start = lines
            .iter()
            .find(|l| l["type"] == "start")
            .expect("start line");
        let names: Vec<&Value> = start["loop_threads"]
            .as_array()
            .map(|a| a.iter().map(|t| &t["name"]).collect())
            .unwrap_or_default();
        assert!(!names.is_empty(), "{start}");
        for n in names {
            assert!(
                n == "loop-a" || n == "loop-b",
                "{} start line: {start}",
                py.version
            );
        }
        let found = blocks(&lines);
        assert!(!found.is_empty(), "{}: no block", py.version);
        for b in found {
            assert!(
                b["thread"] == "loop-a" || b["thread"] == "loop-b",
                "{}: {b}",
                py.version
            );
        }
    }
}

#[test]
fn a_block_at_the_loops_start_under_run() {
    // `aelm run` looks for the loop every half threshold (10 ms at 20 ms):
    // a 40 ms block that starts with the loop shows at least 30 ms of it.
    // (Looking every 50 ms, as before, the loop was found 0-43 ms into such
    // a block.) Five runs on the newest interpreter.
    let Some(py) = pythons().into_iter().last() else {
        eprintln!("no interpreter provisioned");
        return;
    };
    let mut problems = Vec::new();
    for round in 0..5 {
        let dir = scratch(&format!("blocks-at-start-{round}"));
        let out = aelm_run(&py, "blocks_at_start.py", &["--threshold-ms", "20"], &dir)
            .env("AELM_BLOCK_MS", "40")
            .output()
            .expect("running aelm run");
        let lines = json_lines(&out.stdout);
        let events = read_truth(&dir.join("truth.jsonl"));
        assert_eq!(
            truth_blocks(&events).len(),
            1,
            "run {round}: the fixture recorded no block: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        problems.extend(
            compare(&events, &lines, 2.0, py.minor())
                .into_iter()
                .map(|p| format!("run {round}: {p}")),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn callback_written_in_c() {
    // `loop.call_soon(time.sleep, ...)`: no Python frame of the callback's
    // own, `Handle._run` innermost. Before, that read as the loop's own
    // machinery between callbacks: no block.
    check("c_callback.py", &[]);
}

#[test]
fn constructor_of_a_library_class() {
    // From 3.13 a specialised call to a class puts CPython's own `__init__`
    // helper frame (file `__init__`, line 0) between the call site and
    // `__init__`. Before, from the second call on, that frame was named as
    // the culprit in place of the application's line.
    check("init_in_library.py", &[]);
}

#[test]
fn work_after_a_loop_in_c_returned() {
    // `loop.run_until_complete(main())` on uvloop, then synchronous work in
    // the same module code. Before, `<module>` stayed a learned runner and
    // that work was reported as blocks of a loop that no longer ran.
    check("after_the_loop.py", &[]);
}

#[test]
fn plain_callbacks_of_an_application_run_loop_in_c() {
    // `loop.run_forever()` on uvloop called by the application, every
    // callback a plain function called from C (`call_later`, a protocol
    // server's `data_received`): no coroutine frame shows where the loop
    // is. From 3.13 the thread state names the loop running on the thread
    // (`asyncio_running_loop`); before, the loop is not found (documented).
    for shape in ["call-later", "protocol"] {
        check_from(13, "c_loop_callbacks.py", &["--shape", shape]);
    }
}

#[test]
fn work_through_the_helper_that_ran_a_loop_in_c() {
    // `timed(loop.run_until_complete, main())`, then `timed(write_report)`:
    // the call site learned as the runner calls the work itself. From 3.12
    // the reader sees that the loop calls its callbacks from C and this call
    // comes from Python; before, the work is reported (documented).
    check_from(12, "after_the_loop.py", &["--shape", "helper"]);
}

#[test]
fn the_main_interpreter_beside_a_subinterpreter() {
    // CPython lists the newest interpreter first: with a subinterpreter
    // made (3.14 `concurrent.interpreters`), attach watched its threads and
    // never found the main loop. The main interpreter is
    // `_PyRuntime.interpreters.main`.
    check_from(14, "subinterpreter.py", &[]);
}

/// [`check`] on the interpreters from 3.`minor` on; fails when none ran.
fn check_from(minor: u32, script: &str, args: &[&str]) {
    let (problems, ran) = run_matrix_from(minor, script, args, false);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        !ran.is_empty(),
        "{script} {args:?}: no interpreter 3.{minor}+ with its packages (scripts/provision-pythons.sh)"
    );
}

#[test]
fn an_interpreter_linked_to_a_shared_libpython() {
    // Built with `--enable-shared`, as the official Docker images are: the
    // executable is a small launcher, and `_PyRuntime`, the main thread's
    // state and the code live in `libpython3.X.so`, mapped at its own
    // address. `python3.X-shared` is 3.14/3.15 from sid's libpython3.X
    // (scripts/provision-pythons.sh); the stdlib loop and uvloop.
    let mut problems = Vec::new();
    let mut ran = Vec::new();
    for mut py in pythons().into_iter().filter(|p| p.minor() >= 14) {
        let shared = py
            .exe
            .with_file_name(format!("python3.{}-shared", py.minor()));
        assert!(
            shared.exists(),
            "{} is missing: scripts/provision-pythons.sh builds it",
            shared.display()
        );
        let out = std::process::Command::new(&shared)
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_config_var('Py_ENABLE_SHARED'))",
            ])
            .output()
            .expect("run the shared interpreter");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "{} is not a shared-libpython build",
            shared.display()
        );
        py.exe = shared;
        for (script, args) in [
            ("sleep_in_coroutine.py", &[][..]),
            ("uvloop_blocks.py", &["--runner", "uvloop-run"][..]),
        ] {
            match check_one(&py, script, args, false) {
                Ok((p, _)) => {
                    ran.push(format!("{script} on {}", py.version));
                    problems.extend(p);
                }
                Err(skip) => eprintln!("{skip}"),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("shared libpython: ran {}", ran.join(", "));
}

#[test]
fn a_new_loop_thread_for_each_call() {
    // asgiref's `async_to_sync` (Django), a sync SDK that calls
    // `asyncio.run`: each call runs a loop on a new thread that lives
    // about 150 ms. Before, aelm looked for new loop threads once a second
    // (3 to 5 blocks of 8 missed in a trial), and named every such thread
    // after the first (py-spy keeps names by `pthread_t`, which the next
    // thread gets again). Now a look at the thread list's head rides on
    // the samples' reads.
    check("thread_per_call.py", &[]);
}

#[test]
fn a_loop_busy_with_tiny_callbacks_from_its_start() {
    // Found by a trial (SQLAlchemy with concurrent sessions, 3.9): the loop
    // switches callbacks every few microseconds from the start, and every
    // scan's read was torn on 3.8-3.11, so the loop was never found.
    check("busy_from_the_start.py", &[]);
}

#[test]
fn sync_code_in_a_greenlet() {
    // SQLAlchemy's asyncio pattern: the blocking code runs on a greenlet's
    // own stack, whose frames do not link to the loop's. Before, those
    // blocks went unreported (the thread read as having no loop).
    let (problems, ran) = run_matrix("greenlet_sync.py", &[], false);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        !ran.is_empty(),
        "greenlet is not installed for any interpreter (scripts/provision-pythons.sh)"
    );
}

/// A culprit mismatch where aelm named the generator expression, or the
/// lambda it calls, on the expected file and line (the expected function's
/// own code there). With `iter(lambda: time.monotonic() < end, False)` the
/// lambda is the innermost frame in about 55 % of the samples (3.10: 26-30
/// of 50 a block), so a block sampled sparsely (ticks missed under load) can
/// have it on >= 80 % of its samples: seen once on 3.10 in CI.
fn genexpr_culprit_on_its_line(problem: &str) -> bool {
    let Some((got, want)) = problem.split_once(" expected ") else {
        return false;
    };
    let Some(got) = got.split(": culprit ").nth(1) else {
        return false;
    };
    // got: `QUAL "FILE":LINE`, want: `FUNC FILE:LINE`.
    let (qual, at) = got.split_once(' ').unwrap_or((got, ""));
    let want_at = want.split_once(' ').map_or("", |w| w.1);
    (qual.ends_with("<genexpr>") || qual.ends_with("<lambda>")) && at.replace('"', "") == want_at
}

#[test]
fn long_c_call() {
    check("c_call.py", &[]);
}

#[test]
fn library_call_urlopen() {
    check("lib_urlopen.py", &[]);
}

#[test]
fn library_call_sqlite() {
    check("lib_sqlite.py", &[]);
}

#[test]
fn many_short_callbacks_are_not_blocks() {
    check("many_short_callbacks.py", &[]);
}

#[test]
fn executor_thread_is_not_the_loop() {
    check("executor_offload.py", &[]);
}

#[test]
fn two_loops_in_two_threads() {
    check("two_loops.py", &[]);
}

/// Tasks that block one after another with no idle moment between, their
/// coroutine frames reallocated at the same addresses (partly: every other
/// task takes another path halfway down): one block each, none merged.
#[test]
fn back_to_back_tasks() {
    check("back_to_back_tasks.py", &[]);
}

#[test]
fn back_to_back_tasks_on_uvloop() {
    check("back_to_back_tasks.py", &["--loop", "uvloop"]);
}

#[test]
fn uvloop_under_asyncio_run() {
    check("uvloop_blocks.py", &["--runner", "asyncio-run"]);
}

#[test]
fn uvloop_run() {
    check("uvloop_blocks.py", &["--runner", "uvloop-run"]);
}

#[test]
fn loop_patched_by_nest_asyncio() {
    // No frame of base_events.py or runners.py: the loop is found by what
    // its Python code calls (Handle._run, the selector's wait).
    check("patched_loop.py", &["--apply", "start"]);
}

#[test]
fn loop_patched_by_nest_asyncio_while_it_runs() {
    // A notebook: the stdlib loop's run_forever is on the stack and calls
    // the patched _run_once; its idle waits are not blocks.
    check("patched_loop.py", &["--apply", "running"]);
}

#[test]
fn aiohttp_server_stdlib_loop() {
    // Back-to-back requests on one keep-alive connection: see `compare_with`.
    check_matrix("aiohttp_server.py", &["--loop", "asyncio"], true);
}

#[test]
fn aiohttp_server_uvloop() {
    check_matrix("aiohttp_server.py", &["--loop", "uvloop"], true);
}
