//! What a person at a terminal sees: text by default, colour unless
//! NO_COLOR, the culprit's source line, a live status line on stderr that is
//! cleared at exit, and the end-of-run culprit table. Driven through tmux
//! (skipped where tmux is missing).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn text_output_status_line_and_summary_in_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux missing: skipped");
        return;
    }
    let py = pythons()
        .into_iter()
        .find(|p| p.minor() == 11)
        .unwrap_or_else(|| pythons()[0].clone());
    let session = format!("aelm-test-{}", std::process::id());
    let socket = format!("aelm-{}", std::process::id());
    let cmd = format!(
        "AELM_REPEAT=2 {} run --threshold-ms 20 --duration 3 -- {} {}; echo AELM-EXIT=$?; sleep 30",
        aelm_bin().display(),
        py.exe.display(),
        fixture("demo.py").display()
    );
    tmux(&[
        "-L",
        &socket,
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "220",
        "-y",
        "40",
        &cmd,
    ]);
    let mut screen = String::new();
    let mut mid_run = String::new();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        screen = tmux(&["-L", &socket, "capture-pane", "-p", "-e", "-t", &session]);
        // The status line is redrawn every 250 ms and cleared before each
        // block line: keep any capture that shows it.
        if screen.contains("samples/s") && !screen.contains("AELM-EXIT=") {
            mid_run = screen.clone();
        }
        if screen.contains("AELM-EXIT=") {
            break;
        }
    }
    tmux(&["-L", &socket, "kill-server"]);
    assert!(screen.contains("AELM-EXIT=0"), "{screen}");
    // Text, not JSON: one line per block with the source line.
    assert!(screen.contains("blocked"), "{screen}");
    assert!(screen.contains("Service.generate_report"), "{screen}");
    assert!(
        screen.contains("time.sleep(REPORT_S)"),
        "source line missing: {screen}"
    );
    assert!(!screen.contains("\"type\":"), "{screen}");
    // Colour (ANSI escapes kept by capture-pane -e).
    assert!(screen.contains("\u{1b}["), "no colour: {screen}");
    // The culprit table at the end.
    assert!(screen.contains("total ms"), "{screen}");
    // The live status line was there while running and is gone at the end.
    assert!(
        mid_run.contains("samples/s"),
        "no status line mid-run: {mid_run}"
    );
    assert!(
        !screen.contains("samples/s"),
        "status line not cleared: {screen}"
    );
}

#[test]
fn no_color_turns_colour_off() {
    let py = pythons()
        .into_iter()
        .find(|p| p.minor() == 11)
        .unwrap_or_else(|| pythons()[0].clone());
    // Not a terminal: --format text gives plain text, no escapes.
    let out = Command::new(aelm_bin())
        .args(["run", "--threshold-ms", "20", "--format", "text", "--"])
        .arg(&py.exe)
        .arg(fixture("sleep_in_coroutine.py"))
        .env("AELM_EXIT_AFTER_DONE", "1")
        .env("AELM_REPEAT", "1")
        .env("NO_COLOR", "1")
        .output()
        .expect("aelm");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("blocked"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}
