//! `aelm report` (and `--html`): one self-contained HTML page, opened in a
//! real browser (Debian's headless Chromium, which the test command
//! installs).

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The Chromium binary, if installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Runs headless Chromium on a local file with a fresh profile; kills it
/// after two minutes.
fn browser(exe: &str, html: &Path, extra: &[&str]) -> Output {
    let dir = scratch("chromium");
    let url = format!(
        "file://{}",
        html.canonicalize().expect("report path").display()
    );
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stdout.read_to_end(&mut b);
        b
    });
    let err_thread = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = stderr.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().expect("chromium status") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = std::fs::remove_dir_all(&dir);
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

/// The rendered DOM of a page.
fn dump_dom(exe: &str, html: &Path) -> String {
    let out = browser(exe, html, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        dom.contains("</html>"),
        "chromium printed no DOM (status {}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// A screenshot's distinct colours and share of non-white pixels.
fn screenshot_stats(exe: &str, html: &Path, png_path: &Path) -> (usize, f64) {
    let arg = format!("--screenshot={}", png_path.display());
    let out = browser(exe, html, &[&arg]);
    assert!(
        png_path.exists(),
        "no screenshot (status {}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "unexpected PNG colour type {:?}",
        info.color_type
    );
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    let pixels = buf[..info.buffer_size()].chunks(channels);
    let n = pixels.len();
    for p in pixels {
        let rgb = (p[0], p[1], p[2]);
        colours.insert(rgb);
        if rgb.0 < 240 || rgb.1 < 240 || rgb.2 < 240 {
            non_white += 1;
        }
    }
    (colours.len(), non_white as f64 / n.max(1) as f64)
}

/// `aelm run` on a fixture that exits after its scripted phase; returns
/// its JSON lines (also written to `out`).
fn run_fixture(py: &Python, script: &str, out: &Path, extra: &[&str]) -> Vec<Value> {
    let dir = scratch("report-run");
    let out_arg = out.to_string_lossy();
    let mut args = vec!["--threshold-ms", "20", "-o", &out_arg];
    args.extend_from_slice(extra);
    let o = aelm_run(py, script, &args, &dir)
        .output()
        .expect("aelm run");
    assert_eq!(
        o.status.code(),
        Some(0),
        "aelm run {script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out)
        .expect("aelm's output file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect()
}

fn attr(page: &str, name: &str) -> Option<u64> {
    let key = format!("{name}=\"");
    let i = page.find(&key)? + key.len();
    page[i..i + page[i..].find('"')?].parse().ok()
}

fn assert_no_urls(page: &str) {
    for scheme in ["http://", "https://"] {
        if let Some(i) = page.find(scheme) {
            let bytes = &page.as_bytes()[i.saturating_sub(80)..(i + 80).min(page.len())];
            panic!(
                "the report holds {scheme}: ...{}...",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[test]
fn report_of_two_fixtures_in_a_real_browser() {
    let pys = pythons();
    let py = pys
        .iter()
        .find(|p| p.minor() >= 11)
        .unwrap_or(&pys[0])
        .clone();
    let dir = scratch("report");
    let a = dir.join("a.jsonl");
    let b = dir.join("b.jsonl");
    let b_html = dir.join("b.html");
    let a_lines = run_fixture(&py, "sleep_in_coroutine.py", &a, &[]);
    // The second run also writes its own page with --html.
    let b_html_arg = b_html.display().to_string();
    let b_lines = run_fixture(&py, "sleep_in_helper.py", &b, &["--html", &b_html_arg]);

    let ended = |lines: &[Value]| -> Vec<String> {
        blocks(lines)
            .iter()
            .map(|b| b["culprit"]["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let (a_names, b_names) = (ended(&a_lines), ended(&b_lines));
    assert!(
        !a_names.is_empty() && !b_names.is_empty(),
        "no blocks: {a_lines:?} {b_lines:?}"
    );
    let (a_name, b_name) = (a_names[0].clone(), b_names[0].clone());
    assert!(a_name.ends_with("handle_request"), "{a_name}");
    assert!(b_name.ends_with("load_sync"), "{b_name}");
    let total = a_names.len() + b_names.len();

    // aelm report a.jsonl - (b.jsonl and a line that is not aelm's on stdin).
    let out = dir.join("report.html");
    let mut child = Command::new(aelm_bin())
        .arg("report")
        .arg(&a)
        .arg("-")
        .arg("-o")
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("aelm report");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(&std::fs::read(&b).expect("b.jsonl"))
            .expect("feed stdin");
        stdin
            .write_all(b"INFO this line is not aelm's\n")
            .expect("feed stdin");
    }
    let o = child.wait_with_output().expect("aelm report");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("skipped 1 "), "{stderr}");
    let page = std::fs::read_to_string(&out).expect("the report");
    assert_no_urls(&page);
    assert_eq!(attr(&page, "data-blocks"), Some(total as u64));
    assert_eq!(attr(&page, "data-skipped"), Some(1));
    assert!(page.contains("<style>") && page.contains("<script>"));
    assert!(
        !page.contains(" src=") && !page.contains("<link"),
        "refers to other files"
    );

    // --html wrote the second run's own page.
    let b_page = std::fs::read_to_string(&b_html).expect("the --html report");
    assert_no_urls(&b_page);
    assert_eq!(attr(&b_page, "data-blocks"), Some(b_names.len() as u64));

    let Some(exe) = chromium() else {
        eprintln!(
            "SKIPPED the browser half of this test: chromium is not installed (apt-get install chromium)"
        );
        return;
    };
    let dom = dump_dom(exe, &out);
    // The script ran: the table holds both culprits as buttons, and the
    // timeline drew every block.
    for name in [&a_name, &b_name] {
        assert!(
            dom.contains(&format!(">{name}</button>")),
            "no culprit button for {name} in the rendered page"
        );
    }
    assert_eq!(attr(&dom, "data-blocks"), Some(total as u64));
    assert_eq!(
        attr(&dom, "data-in-view"),
        Some(total as u64),
        "the timeline did not draw every block"
    );
    let bars = dom.matches("class=\"bar ").count();
    assert_eq!(bars, total, "one bar per block at full view");
    assert!(
        dom.contains("1 line skipped"),
        "the skipped line is not shown"
    );
    // Facts: pids and the Python version.
    let pid = a_lines[0]["pid"].as_i64().expect("pid").to_string();
    assert!(dom.contains(&pid));
    assert!(dom.contains(a_lines[0]["python"].as_str().expect("python")));
    // The flame graph was drawn by inferno into the frame.
    assert!(
        dom.contains("id=\"flame\"") && dom.contains("srcdoc="),
        "no flame graph"
    );

    let (colours, ink) = screenshot_stats(exe, &out, &dir.join("shot.png"));
    eprintln!(
        "screenshot: {colours} distinct colours, {:.1}% non-white",
        ink * 100.0
    );
    assert!(
        colours > 64,
        "a blank-looking screenshot: {colours} colours"
    );
    assert!(
        ink > 0.03,
        "a blank-looking screenshot: {:.2}% ink",
        ink * 100.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small deterministic generator (no rand dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn large_input_is_reported_quickly_within_the_size_bound() {
    const BLOCKS: usize = 100_000;
    let dir = scratch("report-large");
    let path = dir.join("big.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("big.jsonl"));
    let mut rng = Lcg(42);
    let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_764_072_000);
    for pid in [100, 200] {
        let start = json!({"type": "start", "aelm": "0.1.0", "pid": pid, "python": "3.12.3",
            "threshold_ms": 10.0, "interval_us": 1000, "reader": "direct",
            "cmdline": format!("python app{pid}.py"),
            "loop_threads": [{"tid": pid, "name": "MainThread"}, {"tid": pid + 1, "name": "worker"}]});
        writeln!(f, "{start}").unwrap();
    }
    let mut garbage = 0u64;
    let mut t_us = 0u64;
    for n in 0..BLOCKS {
        t_us += 5_000 + rng.below(60_000);
        let pid = if rng.below(2) == 0 { 100 } else { 200 };
        let tid = pid + rng.below(2);
        let c = rng.below(40);
        let ms = 10.0 + rng.below(80_000) as f64 / 1000.0;
        let depth = 3 + rng.below(8);
        let stack: Vec<Value> = (0..depth)
            .map(|k| {
                json!({"qualname": format!("handler{c}_frame{k}"),
                            "file": format!("/srv/app/mod{}.py", c % 7), "line": 10 + k + c})
            })
            .collect();
        let time = humantime::format_rfc3339_micros(t0 + Duration::from_micros(t_us)).to_string();
        let block = json!({"type": "block", "time": time, "pid": pid, "tid": tid,
            "thread": if tid == pid { "MainThread" } else { "worker" },
            "duration_ms": ms, "samples": ms as u64, "state": "ended",
            "callback": stack[stack.len() - 1],
            "culprit": {"name": format!("app.mod{}.handler{c}", c % 7), "function": format!("handler{c}"),
                        "qualname": format!("handler{c}"), "file": format!("/srv/app/mod{}.py", c % 7),
                        "line": 10 + c, "coroutine": true},
            "hot": [{"qualname": format!("handler{c}_frame0"), "file": format!("/srv/app/mod{}.py", c % 7),
                     "line": 10 + c, "samples": ms as u64}],
            "stack": stack});
        writeln!(f, "{block}").unwrap();
        if n % 1000 == 0 {
            // Lines that are not aelm's, or are broken.
            writeln!(f, "Traceback (most recent call last):").unwrap();
            writeln!(f, "{{\"level\":\"info\",\"msg\":\"someone else's log\"}}").unwrap();
            writeln!(
                f,
                "{{\"type\":\"block\",\"pid\":1,\"tid\":1,\"duration_ms\":50}}"
            )
            .unwrap();
            writeln!(f, "{{\"type\":\"block\",\"time\":\"yesterday\"").unwrap();
            garbage += 4;
        }
    }
    for pid in [100, 200] {
        let end = json!({"type": "end", "pid": pid, "reason": "interrupted", "samples": 3_600_000,
            "failed_samples": 7, "gaps": 0, "blocks": BLOCKS / 2, "blocked_ms": 1.0,
            "achieved_hz": 999.0, "missed_ticks": 0});
        writeln!(f, "{end}").unwrap();
    }
    f.flush().unwrap();
    drop(f);

    let out = dir.join("big.html");
    let started = Instant::now();
    let o = Command::new(aelm_bin())
        .arg("report")
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("aelm report");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let size = std::fs::metadata(&out).expect("the report").len();
    eprintln!(
        "report of {BLOCKS} blocks + {garbage} garbage lines: {took:?}, {:.1} MB",
        size as f64 / 1e6
    );
    // The bound is 10 s; the margin is for a shared, busy test machine.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(size < 20_000_000, "{size} bytes");
    assert!(stderr.contains(&format!("skipped {garbage} ")), "{stderr}");
    let page = std::fs::read_to_string(&out).expect("the report");
    assert_eq!(attr(&page, "data-blocks"), Some(BLOCKS as u64));
    assert_eq!(attr(&page, "data-skipped"), Some(garbage));
    assert!(page.contains(&format!("{garbage} lines skipped")));
    assert_no_urls(&page);

    let Some(exe) = chromium() else {
        eprintln!("SKIPPED opening the large report: chromium is not installed");
        return;
    };
    let started = Instant::now();
    let dom = dump_dom(exe, &out);
    eprintln!("chromium rendered it in {:?}", started.elapsed());
    assert_eq!(attr(&dom, "data-in-view"), Some(BLOCKS as u64));
    // Aggregated, and the page says so.
    assert!(dom.contains("merged into"), "no word of the merged bars");
    assert!(
        dom.matches("class=\"bar ").count() < 5_000,
        "too many bars for a screen"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
