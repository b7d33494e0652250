//! The spec's "bad input" list and lifecycle: every error gets a clear
//! message and the right exit status; exits, signals and a closed output
//! end the run cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn py() -> Python {
    // Lifecycle tests need one interpreter: prefer 3.11 (the machine's own).
    let all = pythons();
    all.iter()
        .find(|p| p.minor() == 11)
        .cloned()
        .unwrap_or_else(|| all[0].clone())
}

fn run_aelm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(aelm_bin()).args(args).output().expect("aelm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_such_pid() {
    let (code, stdout, stderr) = run_aelm(&["attach", "--pid", "999999999"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("no process with pid 999999999"), "{stderr}");
}

#[test]
fn not_a_python_process() {
    let mut sleep = Command::new("sleep").arg("30").spawn().expect("sleep");
    let (code, _, stderr) = run_aelm(&["attach", "--pid", &sleep.id().to_string()]);
    let _ = sleep.kill();
    let _ = sleep.wait();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not a Python process"), "{stderr}");
}

#[test]
fn a_zombie_is_said_to_have_exited() {
    // A child that exited and that its parent (`sleep`, exec'd by the shell
    // without waiting) never reaps. Before: "is not a Python process".
    let mut parent = Command::new("sh")
        .args(["-c", "sh -c 'exit 0' & exec sleep 30"])
        .spawn()
        .expect("sh");
    let children = format!("/proc/{0}/task/{0}/children", parent.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    let zombie = loop {
        let kids = std::fs::read_to_string(&children).unwrap_or_default();
        let z = kids.split_whitespace().find(|k| {
            std::fs::read_to_string(format!("/proc/{k}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        });
        if let Some(z) = z {
            break z.to_string();
        }
        assert!(Instant::now() < deadline, "no zombie child appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (code, _, stderr) = run_aelm(&["attach", "--pid", &zombie]);
    let _ = parent.kill();
    let _ = parent.wait();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("has exited: it is a zombie"), "{stderr}");
}

/// A non-dumpable target (`prctl(PR_SET_DUMPABLE, 0)`), aelm run by the same
/// (unprivileged) user: the message says why being the same user is not
/// enough. Needs root, `runuser` and the `nobody` user; skipped otherwise.
#[test]
fn a_non_dumpable_target_is_named_as_such() {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 || Command::new("runuser").arg("--help").output().is_err() {
        eprintln!("not root, or no runuser: skipped");
        return;
    }
    // An interpreter `nobody` may run (the provisioned ones live under /root).
    let system_python = std::path::Path::new("/usr/bin/python3");
    if !system_python.exists() {
        eprintln!("no /usr/bin/python3: skipped");
        return;
    }
    // aelm's binary where `nobody` may run it.
    let dir = std::env::temp_dir().join(format!("aelm-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bin = dir.join("aelm");
    std::fs::copy(aelm_bin(), &bin).expect("copy aelm");
    use std::os::unix::fs::PermissionsExt;
    for p in [&dir, &bin] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut target = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(system_python)
        .args([
            "-c",
            "import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); print('ready', flush=True); time.sleep(30)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("runuser");
    let mut first = String::new();
    let _ = BufReader::new(target.stdout.take().expect("stdout")).read_line(&mut first);
    // runuser's child is the python.
    let pid = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", target.id()))
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("0")
        .to_string();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&bin)
        .args(["attach", "--pid", &pid, "--duration", "1"])
        .output()
        .expect("aelm as nobody");
    let _ = target.kill();
    let _ = target.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if first.trim() != "ready" {
        eprintln!("the target did not start as nobody ({first:?}): skipped");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the process is not dumpable"), "{stderr}");
}

/// `--thread` with an id that is no thread of the process (a typo, another
/// process's thread): aelm says so and lists the process's threads, rather
/// than only "no Python thread yet".
#[test]
fn thread_that_is_not_the_processs_is_named_as_such() {
    let py = py();
    let mut target = Command::new(&py.exe)
        .args(["-c", "import time; time.sleep(30)"])
        .spawn()
        .expect("python");
    let pid = target.id().to_string();
    // Past the interpreter's start-up.
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, stderr) =
        run_aelm(&["attach", "--pid", &pid, "--thread", "1", "--duration", "1"]);
    let _ = target.kill();
    let _ = target.wait();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!("has no thread 1 (its threads: {pid}")),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["attach"],
        vec!["attach", "--pid", "1", "--threshold-ms", "0"],
        vec!["attach", "--pid", "1", "--rate", "1"],
        vec!["run"],
        vec!["frobnicate"],
    ] {
        let (code, stdout, _) = run_aelm(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stdout.is_empty());
    }
}

/// Values too large to mean anything, negative ones, and a metrics address
/// that is not HOST:PORT are usage errors with a message, before attaching
/// to anything. Before, a huge value panicked converting to a duration
/// (exit 101; under `run`, after the program had started, which then ran
/// on alone), `-1` read as an unknown option, and a bad address was found
/// only after attaching (exit 1, "is the port already in use?").
#[test]
fn out_of_range_values_are_usage_errors() {
    let cases: [(&[&str], &str); 10] = [
        (
            &["attach", "--pid", "1", "--threshold-ms", "1e300"],
            "too large",
        ),
        (
            &["attach", "--pid", "1", "--ongoing-ms", "1e300"],
            "too large",
        ),
        (&["attach", "--pid", "1", "--duration", "1e20"], "too large"),
        (
            &["attach", "--pid", "1", "--threshold-ms", "-1"],
            "must be a positive number",
        ),
        (
            &["attach", "--pid", "1", "--duration", "-1"],
            "must be a positive number",
        ),
        (
            &["attach", "--pid", "1", "--metrics-addr", "nonsense"],
            "is not HOST:PORT",
        ),
        (&["watch", "--scan-interval", "1e300"], "too large"),
        (&["watch", "--max-targets", "0"], "at least 1"),
        (&["summarize", "--top", "0", "-"], "at least 1"),
        (&["watch", "--subprocesses"], "apply to attach and run"),
    ];
    for (args, says) in cases {
        let (code, stdout, stderr) = run_aelm(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // `run` must fail before it starts the program.
    let marker = scratch("huge-values").join("started");
    let (code, _, stderr) = run_aelm(&[
        "run",
        "--threshold-ms",
        "1e300",
        "--",
        "touch",
        marker.to_str().unwrap_or("/nonexistent/x"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!marker.exists(), "the program was started");
}

#[test]
fn permission_denied_explains_what_is_needed() {
    if !Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("setpriv missing: skipped");
        return;
    }
    let py = py();
    let Some(fx) = Fixture::start(&py, "sleep_in_coroutine.py", &[]) else {
        return;
    };
    // aelm as an unprivileged user against a root-owned target.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(aelm_bin())
        .args(["attach", "--pid", &fx.pid().to_string()])
        .output()
        .expect("setpriv aelm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(stderr.contains("CAP_SYS_PTRACE"), "{stderr}");
}

#[test]
fn target_exit_mid_run_ends_cleanly() {
    let py = py();
    let dir = scratch("exit");
    let mut cmd = fixture_command(&py, "sleep_in_coroutine.py", &[], &dir);
    cmd.env("AELM_EXIT_AFTER_DONE", "1").stdout(Stdio::null());
    let mut fx = cmd.spawn().expect("fixture");
    let truth = dir.join("truth.jsonl");
    wait_ready(&truth);
    let mut aelm = Aelm::attach(fx.id(), &["--threshold-ms", "20"]);
    aelm.wait_for("start", Duration::from_secs(30));
    std::fs::write(dir.join("go"), "go").expect("go");
    let (lines, status) = aelm.finish();
    let _ = fx.wait();
    assert_eq!(status, 0);
    let end = lines.last().expect("lines");
    assert_eq!(end["type"], "end");
    assert_eq!(end["reason"], "target-exited");
    assert_eq!(
        blocks(&lines).len(),
        truth_blocks(&read_truth(&truth)).len()
    );
}

#[test]
fn sigint_and_sigterm_flush_the_block_in_progress() {
    let py = py();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let dir = scratch("sig");
        let mut cmd = fixture_command(&py, "sleep_in_coroutine.py", &[], &dir);
        cmd.env("AELM_BLOCK_MS", "5000").stdout(Stdio::null());
        let mut fx = cmd.spawn().expect("fixture");
        let truth = dir.join("truth.jsonl");
        wait_ready(&truth);
        let mut aelm = Aelm::attach(fx.id(), &["--threshold-ms", "20"]);
        aelm.wait_for("start", Duration::from_secs(30));
        std::fs::write(dir.join("go"), "go").expect("go");
        // Well inside the 5 s block.
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(aelm.child.id() as i32, sig);
        }
        let (lines, status) = aelm.finish();
        let _ = fx.kill();
        let _ = fx.wait();
        assert_eq!(status, 0);
        let ongoing: Vec<_> = lines.iter().filter(|l| l["state"] == "ongoing").collect();
        assert_eq!(ongoing.len(), 1, "the block passed --ongoing-ms: {lines:?}");
        let flushed = blocks(&lines);
        assert_eq!(flushed.len(), 1, "{lines:?}");
        assert_eq!(flushed[0]["truncated"], true);
        assert!(flushed[0]["duration_ms"].as_f64().unwrap_or(0.0) > 1000.0);
        assert_eq!(flushed[0]["culprit"]["function"], "handle_request");
        let end = lines.last().expect("lines");
        assert_eq!(end["reason"], "interrupted");
    }
}

#[test]
fn closed_output_exits_quietly() {
    let py = py();
    let Some(fx) = Fixture::start(&py, "sleep_in_coroutine.py", &[]) else {
        return;
    };
    let mut aelm = Command::new(aelm_bin())
        .args([
            "attach",
            "--pid",
            &fx.pid().to_string(),
            "--threshold-ms",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aelm");
    // Like `| head -1`: read the start line, then close the pipe.
    let stdout = aelm.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    assert!(first.contains("\"type\":\"start\""), "{first}");
    fx.go();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = aelm.try_wait().expect("wait") {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "aelm did not stop after its output closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = aelm.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn run_mode_watches_from_the_start_and_fail_on_block_exits_3() {
    let py = py();
    let dir = scratch("run");
    let truth = dir.join("truth.jsonl");
    let out = Command::new(aelm_bin())
        .args(["run", "--threshold-ms", "20", "--fail-on-block", "--"])
        .arg(&py.exe)
        .arg(fixture("sleep_in_coroutine.py"))
        .env("AELM_TRUTH", &truth)
        .env("AELM_EXIT_AFTER_DONE", "1")
        .env("PYTHONPATH", &py.pythonpath)
        .output()
        .expect("aelm run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("stdout holds only JSON lines"))
        .collect();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines[0]["type"], "start");
    let end = lines.last().expect("end");
    assert_eq!(end["reason"], "target-exited");
    assert_eq!(end["exit_code"], 0);
    let interval = lines[0]["interval_us"].as_f64().unwrap_or(0.0) / 1000.0;
    let problems = compare(&read_truth(&truth), &lines, interval, py.minor());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn run_mode_passes_on_a_failing_program_status() {
    let py = py();
    let out = Command::new(aelm_bin())
        .args(["run", "--"])
        .arg(&py.exe)
        .args([
            "-c",
            "import asyncio, sys\nasyncio.run(asyncio.sleep(0.3))\nsys.exit(7)",
        ])
        .output()
        .expect("aelm run");
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn target_in_another_pid_namespace_reports_ids_as_we_see_them() {
    let py = py();
    let dir = scratch("ns");
    let truth = dir.join("truth.jsonl");
    // Like a container: the target is pid 1 of its own PID namespace.
    let spawned = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--"])
        .arg(&py.exe)
        .arg(fixture("sleep_in_coroutine.py"))
        .env("AELM_TRUTH", &truth)
        .env("AELM_GO", dir.join("go"))
        .env("PYTHONPATH", &py.pythonpath)
        .stdout(Stdio::null())
        .spawn();
    let Ok(mut unshare) = spawned else {
        eprintln!("unshare unavailable: skipped");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if let Some(r) = read_truth(&truth)
            .into_iter()
            .find(|e| e["event"] == "ready")
        {
            break r;
        }
        if let Ok(Some(_)) = unshare.try_wait() {
            eprintln!("unshare --pid not permitted here: skipped");
            return;
        }
        assert!(Instant::now() < deadline, "fixture not ready");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        ready["pid"], 1,
        "the fixture runs as pid 1 of its namespace"
    );
    // Its pid as we see it: the child of `unshare`.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
        .expect("children of unshare");
    let pid: u32 = children
        .split_whitespace()
        .next()
        .expect("child")
        .parse()
        .expect("pid");
    let mut aelm = Aelm::attach(pid, &["--threshold-ms", "20"]);
    let start = aelm.wait_for("start", Duration::from_secs(30));
    std::fs::write(dir.join("go"), "go").expect("go");
    let b = aelm.wait_for("block", Duration::from_secs(30));
    let (_lines, status) = aelm.stop();
    let _ = unshare.kill();
    // SAFETY: kill(2) on the namespaced fixture we started.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    let _ = unshare.wait();
    assert_eq!(status, 0);
    assert_eq!(start["loop_threads"][0]["tid"], pid);
    assert_eq!(b["tid"], pid);
    assert_eq!(b["culprit"]["function"], "handle_request");
}

/// `aelm run` of a fixture with extra aelm options (see `common::aelm_run`:
/// the fixture exits once its scripted phase is done); returns stdout lines,
/// the truth events and the exit status.
fn run_with(
    extra: &[&str],
    script: &str,
    env: &[(&str, &str)],
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>, i32) {
    let py = py();
    let dir = scratch("opts");
    let truth = dir.join("truth.jsonl");
    let mut cmd = aelm_run(&py, script, extra, &dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("aelm run");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (lines, read_truth(&truth), out.status.code().unwrap_or(-1))
}

#[test]
fn output_file_gets_the_lines_and_stdout_stays_empty() {
    let py = py();
    let dir = scratch("out");
    let file = dir.join("blocks.jsonl");
    let out = Command::new(aelm_bin())
        .args(["run", "--threshold-ms", "20", "--output"])
        .arg(&file)
        .arg("--")
        .arg(&py.exe)
        .arg(fixture("sleep_in_coroutine.py"))
        .env("AELM_EXIT_AFTER_DONE", "1")
        .env("AELM_REPEAT", "1")
        .output()
        .expect("aelm run");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&file).expect("output file");
    let types: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")["type"].to_string())
        .collect();
    assert_eq!(types, vec!["\"start\"", "\"block\"", "\"end\""]);
}

#[test]
fn duration_ends_the_run_and_stops_the_program() {
    let (lines, _, status) = run_with(
        &["--threshold-ms", "20", "--duration", "1.5"],
        "sleep_in_coroutine.py",
        &[("AELM_REPEAT", "100")],
    );
    assert_eq!(status, 0);
    let end = lines.last().expect("end");
    assert_eq!(end["reason"], "duration");
    assert!(!blocks(&lines).is_empty());
}

#[test]
fn include_makes_library_code_the_culprit() {
    let (lines, _, _) = run_with(
        &["--threshold-ms", "20", "--include", "/socket.py"],
        "lib_urlopen.py",
        &[("AELM_REPEAT", "1")],
    );
    // The fixture's one recorded block is the longest: on a loaded machine
    // another, short block can show up too (once seen here while other
    // programs loaded both cores); whether aelm invents blocks on this
    // fixture is `fixtures_attach::library_call_urlopen`'s business.
    let b = blocks(&lines);
    let longest = b
        .iter()
        .max_by(|x, y| {
            let d = |v: &serde_json::Value| v["duration_ms"].as_f64().unwrap_or(0.0);
            d(x).total_cmp(&d(y))
        })
        .unwrap_or_else(|| panic!("no block: {lines:?}"));
    assert!(
        longest["culprit"]["file"]
            .as_str()
            .unwrap_or("")
            .ends_with("/socket.py"),
        "{longest}"
    );
    assert!(longest.get("callee").is_none());
}

#[test]
fn thread_option_watches_only_that_thread() {
    let py = py();
    let Some(mut fx) = Fixture::start(&py, "two_loops.py", &[]) else {
        return;
    };
    let ready = read_truth(&fx.truth)
        .into_iter()
        .find(|e| e["event"] == "ready")
        .expect("ready");
    let tid = ready["loop_tids"][1].as_u64().expect("loop-b tid");
    let tid_s = tid.to_string();
    let mut aelm = Aelm::attach(fx.pid(), &["--threshold-ms", "20", "--thread", &tid_s]);
    let start = aelm.wait_for("start", Duration::from_secs(30));
    fx.go();
    fx.wait_done(Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    let (lines, _) = aelm.stop();
    assert_eq!(start["loop_threads"].as_array().map(Vec::len), Some(1));
    let b = blocks(&lines);
    assert!(!b.is_empty());
    assert!(b.iter().all(|b| b["tid"] == tid), "{b:?}");
}

#[test]
fn ci_recipe_fails_a_pytest_run_whose_tests_block_the_loop() {
    let Some(py) = pythons()
        .into_iter()
        .find(|p| p.has("pytest") && p.has("pytest_asyncio") && p.minor() >= 9)
    else {
        eprintln!("no interpreter with pytest-asyncio: skipped");
        return;
    };
    let out = Command::new(aelm_bin())
        .args(["run", "--fail-on-block", "--threshold-ms", "20", "--"])
        .arg(&py.exe)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(repo().join("fixtures/pytest_suite"))
        .env("PYTHONPATH", &py.pythonpath)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("aelm run pytest");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("4 passed"),
        "pytest's output goes to stderr: {stderr}"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let b = blocks(&lines);
    let on_stack = |b: &serde_json::Value, f: &str| {
        b["stack"]
            .as_array()
            .is_some_and(|s| s.iter().any(|fr| fr["qualname"] == f))
    };
    assert_eq!(b.len(), 2, "{lines:?}");
    assert!(
        b.iter()
            .any(|b| b["culprit"]["function"] == "test_blocks_with_sleep")
    );
    assert!(
        b.iter()
            .any(|b| b["culprit"]["function"] == "load_config_sync"
                && on_stack(b, "test_blocks_in_a_helper"))
    );
    let end = lines.last().expect("end");
    assert_eq!(end["exit_code"], 0);
}

#[test]
fn summarize_completions_and_man_from_the_binary() {
    let dir = scratch("summ");
    let log = dir.join("mixed.log");
    std::fs::write(
        &log,
        concat!(
            "{\"type\":\"block\",\"pid\":7,\"state\":\"ended\",\"duration_ms\":120.0,",
            "\"culprit\":{\"name\":\"app.slow\",\"file\":\"/app.py\",\"line\":3}}\n",
            "an unrelated log line\n",
            "{\"type\":\"block\",\"pid\":8,\"state\":\"ended\",\"duration_ms\":30.0,",
            "\"culprit\":{\"name\":\"app.slow\",\"file\":\"/app.py\",\"line\":3}}\n",
            "{\"type\":\"block\",\"pid\":8,\"state\":\"ended\",\"duration_ms\":400.0,",
            "\"culprit\":{\"name\":\"app.once\",\"file\":\"/app.py\",\"line\":9}}\n",
        ),
    )
    .expect("log");
    let out = Command::new(aelm_bin())
        .args(["summarize", "--format", "json"])
        .arg(&log)
        .output()
        .expect("summarize");
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(v["blocks"], 3);
    assert_eq!(v["skipped"], 1);
    assert_eq!(v["pids"], 2);
    assert_eq!(v["top"][0]["culprit"], "app.once");
    assert_eq!(v["top"][1]["blocks"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1"));
    let text = Command::new(aelm_bin())
        .arg("summarize")
        .arg(&log)
        .output()
        .expect("summarize text");
    assert!(String::from_utf8_lossy(&text.stdout).contains("app.slow"));
    let bash = Command::new(aelm_bin())
        .args(["completions", "bash"])
        .output()
        .expect("completions");
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("_aelm()") && bash.contains("--threshold-ms"));
    let man = Command::new(aelm_bin()).arg("man").output().expect("man");
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH aelm"));
    // Text output (`--format text`) has no JSON line: an error, not an
    // empty summary with exit 0.
    let text_log = dir.join("text.log");
    std::fs::write(
        &text_log,
        "12:00:01 block 120.0 ms  app.slow (app.py:3)\n12:00:02 end\n",
    )
    .expect("text log");
    let out = Command::new(aelm_bin())
        .arg("summarize")
        .arg(&text_log)
        .output()
        .expect("summarize text log");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("none of the 2 lines read is one of aelm's JSON lines"),
        "{stderr}"
    );
}

/// The man page text with roff's escaped hyphens (`\-`) made plain.
fn unroff(text: &str) -> String {
    text.replace("\\-", "-")
}

/// The `.TH` line of a page: the first line after the quote-string
/// definitions (`.ie`/`.el`) that clap_mangen puts first.
fn title_line(text: &str) -> Option<&str> {
    text.lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
}

#[test]
fn man_writes_a_page_per_command_into_a_directory() {
    let dir = scratch("man").join("man1");
    let (code, stdout, stderr) = run_aelm(&["man", "--dir", &dir.to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let mut want = vec!["aelm.1".to_string()];
    want.extend(
        [
            "attach",
            "run",
            "watch",
            "summarize",
            "report",
            "completions",
            "man",
            "dump",
        ]
        .map(|c| format!("aelm-{c}.1")),
    );
    want.sort();
    let mut got: Vec<String> = std::fs::read_dir(&dir)
        .expect("man dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert!(
        stderr.contains(&format!("wrote 9 man pages to {}", dir.display())),
        "{stderr}"
    );
    let groff = Command::new("groff")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    for name in &got {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).expect("page");
        let stem = name.trim_end_matches(".1");
        let th = title_line(&text).unwrap_or("");
        assert!(
            th.starts_with(&format!(".TH {stem} 1 ")),
            "{name}: first macro {th:?}"
        );
        assert!(
            th.contains(concat!("aelm ", env!("CARGO_PKG_VERSION"))),
            "{th}"
        );
        for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION"] {
            assert!(text.contains(section), "{name} lacks {section}");
        }
        if groff {
            // groff reads it as a man page, without a warning.
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .output()
                .expect("groff");
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    if !groff {
        eprintln!("groff missing: pages checked without it");
    }
    // aelm(1) refers to each command's page.
    let top = unroff(&std::fs::read_to_string(dir.join("aelm.1")).expect("aelm.1"));
    assert!(top.contains("aelm-attach(1)") && top.contains("aelm-dump(1)"));
    assert!(!top.contains("aelm-help(1)"));
}

#[test]
fn man_prints_one_command_page() {
    let (code, stdout, stderr) = run_aelm(&["man", "attach"]);
    assert_eq!(code, 0, "{stderr}");
    let text = unroff(&stdout);
    assert!(title_line(&text).is_some_and(|l| l.starts_with(".TH aelm-attach 1 ")));
    assert!(text.contains("--threshold-ms"), "{text}");
    assert!(text.contains("Example: --threshold-ms 20"), "{text}");
    let (code, stdout, _) = run_aelm(&["man", "summarize"]);
    assert_eq!(code, 0);
    let text = unroff(&stdout);
    assert!(text.contains("--top") && !text.contains("--threshold-ms"));
    // No command: aelm(1), as before.
    let (code, stdout, _) = run_aelm(&["man"]);
    assert_eq!(code, 0);
    assert!(title_line(&stdout).is_some_and(|l| l.starts_with(".TH aelm 1 ")));
}

#[test]
fn man_errors_name_the_command_or_the_path() {
    // An unknown command is a usage error (exit 2), and clap lists the
    // commands that have a page.
    let (code, stdout, stderr) = run_aelm(&["man", "atach"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("'atach'"), "{stderr}");
    assert!(
        stderr.contains("attach, run, watch, summarize, report, completions, man, dump"),
        "{stderr}"
    );
    // A directory that cannot be made: its parent is a file.
    let file = scratch("man-err").join("not-a-dir");
    std::fs::write(&file, "x").expect("file");
    let bad = file.join("man1");
    let (code, _, stderr) = run_aelm(&["man", "--dir", &bad.to_string_lossy()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    // A page that cannot be written: a directory is in its place.
    let dir = scratch("man-err");
    let blocker = dir.join("aelm-run.1");
    std::fs::create_dir_all(&blocker).expect("blocker");
    let (code, _, stderr) = run_aelm(&["man", "--dir", &dir.to_string_lossy()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write {}", blocker.display())),
        "{stderr}"
    );
    // A command page and --dir together: a usage error.
    let (code, _, _) = run_aelm(&["man", "attach", "--dir", &bad.to_string_lossy()]);
    assert_eq!(code, 2);
}

/// Interpreters whose file names carry a build suffix (`python3.14d` for a
/// debug build, `python3.13t` free-threaded, `python3.14-dbg`) are Python:
/// aelm used to refuse them as "not a Python process". A copy of the
/// 3.14 interpreter named `python3.14d` (its standard library found through
/// PYTHONHOME) is attached to and its blocks reported.
#[test]
fn an_interpreter_with_a_build_suffix_in_its_name_is_python() {
    let Some(mut py) = pythons().into_iter().find(|p| p.minor() >= 14) else {
        eprintln!("no 3.14+: skipped");
        return;
    };
    let Some(prefix) = py
        .exe
        .parent()
        .and_then(|b| b.parent())
        .map(|p| p.to_path_buf())
    else {
        panic!("no prefix for {}", py.exe.display());
    };
    let dir = scratch("suffixed-name");
    let exe = dir.join(format!("python3.{}d", py.minor()));
    std::fs::copy(&py.exe, &exe).expect("copy the interpreter");
    py.exe = exe;
    let out = aelm_run(
        &py,
        "sleep_in_coroutine.py",
        &["--threshold-ms", "20"],
        &dir,
    )
    .env("PYTHONHOME", &prefix)
    .output()
    .expect("aelm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines = json_lines(&out.stdout);
    assert_eq!(blocks(&lines).len(), 3, "{stderr}\n{lines:?}");
}

/// `aelm run` on a program that daemonizes (forks twice, the parents exit):
/// the program exits at once and the loop runs in the daemon. Before, the
/// run ended with an empty `end` line and nothing said where the program
/// went; aelm is now the program's subreaper, and names the daemon.
#[test]
fn a_program_that_daemonizes_is_named_at_the_end_of_a_run() {
    let py = py();
    let dir = scratch("daemonizes");
    let pidfile = dir.join("daemon.pid");
    let script = dir.join("daemon.py");
    std::fs::write(
        &script,
        "import asyncio, os, sys\n\
         if os.fork() > 0:\n    os._exit(0)\n\
         os.setsid()\n\
         if os.fork() > 0:\n    os._exit(0)\n\
         os.closerange(0, 3)\n\
         open(sys.argv[1], 'w').write(str(os.getpid()))\n\
         asyncio.run(asyncio.sleep(5))\n",
    )
    .expect("write the script");
    let out = Command::new(aelm_bin())
        .args(["run", "--threshold-ms", "20", "--"])
        .arg(&py.exe)
        .arg(&script)
        .arg(&pidfile)
        .output()
        .expect("aelm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let daemon = std::fs::read_to_string(&pidfile).unwrap_or_default();
    if let Ok(pid) = daemon.trim().parse::<i32>() {
        // SAFETY: kill(2) on the daemon the test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !daemon.trim().is_empty(),
        "the daemon did not start: {stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "left a process running in the background: {} (",
            daemon.trim()
        )) && stderr.contains(&format!("aelm attach --pid {}", daemon.trim())),
        "{stderr}"
    );
}
