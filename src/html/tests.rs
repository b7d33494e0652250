use super::*;

fn block(pid: i64, tid: i64, time: &str, ms: f64, culprit: &str, state: &str) -> String {
    json!({
        "type": "block", "time": time, "pid": pid, "tid": tid, "thread": "MainThread",
        "duration_ms": ms, "samples": (ms / 2.0) as u64, "state": state,
        "callback": {"qualname": "main", "file": "/app/a.py", "line": 1},
        "culprit": {"name": format!("app.{culprit}"), "function": culprit, "qualname": culprit,
                    "file": "/app/a.py", "line": 7, "coroutine": false},
        "hot": [{"qualname": culprit, "file": "/app/a.py", "line": 7, "samples": 3}],
        "stack": [{"qualname": culprit, "file": "/app/a.py", "line": 7},
                  {"qualname": "main", "file": "/app/a.py", "line": 1}],
    })
    .to_string()
}

fn build(text: &str) -> Builder {
    let mut b = Builder::default();
    b.begin_source("t.jsonl");
    b.read(text.as_bytes()).unwrap();
    b
}

/// The JSON data a page carries.
fn data_of(page: &str) -> Value {
    let a = page
        .find("<script type=\"application/json\" id=\"aelm-data\">")
        .unwrap();
    let a = a + page[a..].find('>').unwrap() + 1;
    let b = a + page[a..].find("</script>").unwrap();
    serde_json::from_str(&page[a..b]).unwrap()
}

#[test]
fn reads_aelm_lines_and_counts_the_rest() {
    let text = [
        r#"{"type":"start","pid":7,"python":"3.12.1","threshold_ms":20.0,"interval_us":2000,"loop_threads":[{"tid":7,"name":"MainThread"}],"cmdline":"python app.py --url http://example.invalid/x"}"#.to_string(),
        block(7, 7, "2026-11-25T12:00:00.000000Z", 50.0, "slow", "ended"),
        "not json at all".to_string(),
        r#"{"level":"info","msg":"someone else's log"}"#.to_string(),
        r#"{"type":"block","pid":7,"tid":7,"duration_ms":5}"#.to_string(),
        format!("2026-11-25T12:00:01Z stdout F {}", block(7, 7, "2026-11-25T12:00:01.000000Z", 30.0, "other", "ended")),
        block(7, 7, "2026-11-25T12:00:02.000000Z", 1000.0, "stuck", "ongoing"),
        block(7, 7, "2026-11-25T12:00:02.000000Z", 1500.0, "stuck", "ended"),
        block(7, 7, "2026-11-25T12:00:05.000000Z", 1000.0, "still", "ongoing"),
        String::new(),
        r#"{"type":"end","pid":7,"reason":"target-exited","samples":5000,"failed_samples":2,"gaps":0,"blocks":3,"blocked_ms":1580.0,"achieved_hz":500.0,"missed_ticks":0}"#.to_string(),
    ]
    .join("\n");
    let b = build(&text);
    assert_eq!(b.lines, 10);
    assert_eq!(b.skipped, 3);
    assert_eq!(
        b.blocks.len(),
        4,
        "ongoing+ended is one block; an ongoing alone is one"
    );
    assert_eq!(b.targets.len(), 1);
    let ongoing: Vec<_> = b
        .blocks
        .iter()
        .filter(|x| x.flags & FLAG_ONGOING != 0)
        .collect();
    assert_eq!(ongoing.len(), 1);
    assert_eq!(b.blocks[2].dur_ms, 1500.0);

    let page = b.page();
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(page.contains("data-skipped=\"3\""));
    assert!(page.contains("data-blocks=\"4\""));
    assert!(page.contains("3.12.1"));
    let d = data_of(&page);
    assert_eq!(d["b"]["lane"].as_array().unwrap().len(), 4);
    // The command line's URL survives in the data, unharmed.
    assert_eq!(
        d["lanes"][0]["cmdline"],
        "python app.py --url http://example.invalid/x"
    );
    let culs = d["culprits"].as_array().unwrap();
    assert_eq!(culs[0]["name"], "app.stuck");
    assert_eq!(culs[0]["code"], "A");
    assert_eq!(culs.len(), 4);
    // 5000 samples at 500 Hz = 10 s of one loop thread.
    assert_eq!(d["observed_ms"], 10_000.0);
    assert_eq!(culs[0]["share"], 0.15);
    // Flame graphs: all, then each culprit.
    assert_eq!(d["flames"].as_array().unwrap().len(), 5);
    assert!(page.contains("Blocked stacks"));
}

#[test]
fn pids_in_different_sources_and_reused_pids_are_different_targets() {
    let mut b = Builder::default();
    b.begin_source("host-a.jsonl");
    b.read(block(1, 1, "2026-11-25T12:00:00.000000Z", 50.0, "f", "ended").as_bytes())
        .unwrap();
    b.begin_source("host-b.jsonl");
    let text = [
        block(1, 1, "2026-11-25T12:00:00.500000Z", 50.0, "f", "ended"),
        r#"{"type":"end","pid":1,"reason":"target-exited","samples":10,"failed_samples":0,"gaps":0,"blocks":1,"blocked_ms":50.0,"achieved_hz":100.0,"missed_ticks":0}"#.to_string(),
        r#"{"type":"start","pid":1,"python":"3.11.7","threshold_ms":20.0,"interval_us":2000,"loop_threads":[{"tid":1,"name":"MainThread"},{"tid":9,"name":"worker"}]}"#.to_string(),
        block(1, 9, "2026-11-25T12:00:01.000000Z", 50.0, "g", "ended")
            .replace("MainThread", "worker"),
    ]
    .join("\n");
    b.read(text.as_bytes()).unwrap();
    assert_eq!(b.skipped, 0);
    assert_eq!(b.targets.len(), 3);
    assert_eq!(b.lanes.len(), 4);
    let page = b.page();
    let d = data_of(&page);
    assert_eq!(d["lanes"][0]["source"], "host-a.jsonl");
    assert_eq!(d["lanes"][3]["label"], "pid 1 · worker (tid 9)");
}

#[test]
fn no_blocks_still_make_a_page() {
    let b = build("garbage\n");
    let page = b.page();
    assert!(page.contains("data-blocks=\"0\""));
    assert!(page.contains("data-skipped=\"1\""));
    assert_eq!(data_of(&page)["flames"].as_array().unwrap().len(), 0);
}

#[test]
fn the_script_cannot_end_early() {
    // A culprit named like markup must not end the data element.
    let text = block(
        1,
        1,
        "2026-11-25T12:00:00.000000Z",
        50.0,
        "</script><!--<script>",
        "ended",
    );
    let page = build(&text).page();
    let d = data_of(&page);
    assert_eq!(d["culprits"][0]["name"], "app.</script><!--<script>");
    for asset in [JS, CSS] {
        assert!(!asset.contains("</script") && !asset.contains("<!--"));
        assert!(!asset.contains("://"));
    }
}

#[test]
fn report_lines_writes_a_file() {
    let lines: Vec<Value> = [
        block(3, 3, "2026-11-25T12:00:00.000000Z", 80.0, "f", "ended"),
        block(3, 3, "2026-11-25T12:00:01.000000Z", 60.0, "f", "ended"),
    ]
    .iter()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let dir = std::env::temp_dir().join(format!("aelm-html-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("r.html");
    let st = report_lines(&lines, 2, &out).unwrap();
    assert_eq!(
        st,
        ReportStats {
            lines: 4,
            blocks: 2,
            skipped: 2,
            bytes: std::fs::metadata(&out).unwrap().len()
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn culprit_codes_and_percentiles() {
    assert_eq!(code(0), "A");
    assert_eq!(code(25), "Z");
    assert_eq!(code(26), "AA");
    assert_eq!(code(27), "AB");
    assert_eq!(code(26 * 27), "AAA");
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 99.0), 4.0);
    assert_eq!(esc("a://b <c>"), "a&#58;//b &lt;c&gt;");
}
