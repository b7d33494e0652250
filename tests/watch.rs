//! `aelm watch` over several real processes (blocking, idle, no loop, not
//! Python, started later, killed mid-run), with its Prometheus metrics
//! scraped by a real Prometheus server on loopback.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fixture tagged so that only this test's `--match` selects it.
fn tagged_fixture(py: &Python, tag: &str, script: &str, dir: &std::path::Path) -> Proc {
    std::fs::create_dir_all(dir).expect("dir");
    let child = Command::new(&py.exe)
        .args(["-X", &format!("aelm_tag={tag}")])
        .arg(fixture(script))
        .env("AELM_TRUTH", dir.join("truth.jsonl"))
        .env("AELM_GO", dir.join("go"))
        .env("PYTHONPATH", &py.pythonpath)
        .stdout(Stdio::null())
        .spawn()
        .expect("fixture");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_truth(&dir.join("truth.jsonl"))
        .iter()
        .any(|e| e["event"] == "ready")
    {
        assert!(Instant::now() < deadline, "{script} not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

/// Starts Prometheus scraping `target` every second; `None` if it is not installed.
fn prometheus(target: u16, dir: &std::path::Path) -> Option<(Proc, u16)> {
    let bin = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: aelm\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .expect("config");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((Proc(child), port))
}

/// Value of a Prometheus instant query's first result.
fn query(port: u16, q: &str) -> Option<f64> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(port, &format!("/api/v1/query?query={enc}"))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    let results = v["data"]["result"].as_array()?;
    results.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn watch_finds_asyncio_processes_and_prometheus_sees_their_blocks() {
    let py = pythons()
        .into_iter()
        .find(|p| p.minor() == 11)
        .unwrap_or_else(|| pythons()[0].clone());
    let tag = format!("watch{}", std::process::id());
    let dir = scratch("watch");
    let idle = tagged_fixture(&py, &tag, "sleep_in_coroutine.py", &dir.join("idle"));
    let blocking = tagged_fixture(&py, &tag, "sleep_in_coroutine.py", &dir.join("b"));
    let doomed = tagged_fixture(&py, &tag, "sleep_in_helper.py", &dir.join("c"));
    let _no_loop = Proc(
        Command::new(&py.exe)
            .args([
                "-X",
                &format!("aelm_tag={tag}"),
                "-c",
                "import time; time.sleep(60)",
            ])
            .spawn()
            .expect("python without a loop"),
    );
    let _not_python = Proc(
        Command::new("bash")
            .args(["-c", &format!("exec -a {tag} sleep 60")])
            .spawn()
            .expect("sleep"),
    );
    let metrics_port = free_port();
    let mut aelm = Aelm::spawn(&[
        "watch",
        "--match",
        &tag,
        "--scan-interval",
        "0.5",
        "--threshold-ms",
        "20",
        "--metrics-addr",
        &format!("127.0.0.1:{metrics_port}"),
    ]);
    let prom = prometheus(metrics_port, &dir);
    let mut starts = Vec::new();
    while starts.len() < 3 {
        let s = aelm.wait_for("start", Duration::from_secs(30));
        starts.push(s["pid"].as_u64().unwrap_or(0));
    }
    let pids = |p: &Proc| u64::from(p.0.id());
    starts.sort_unstable();
    let mut want = vec![pids(&idle), pids(&blocking), pids(&doomed)];
    want.sort_unstable();
    assert_eq!(starts, want, "exactly the three asyncio processes");
    std::fs::write(dir.join("b/go"), "go").expect("go");
    std::fs::write(dir.join("c/go"), "go").expect("go");
    // One that starts after `watch` began.
    std::fs::create_dir_all(dir.join("late")).expect("dir");
    std::fs::write(dir.join("late/go"), "go").expect("go");
    let late = tagged_fixture(&py, &tag, "sleep_in_helper.py", &dir.join("late"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read_truth(&dir.join("c/truth.jsonl"))
        .iter()
        .any(|e| e["event"] == "done")
    {
        assert!(Instant::now() < deadline, "doomed fixture did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(doomed); // killed mid-run
    while !read_truth(&dir.join("late/truth.jsonl"))
        .iter()
        .any(|e| e["event"] == "done")
        || !read_truth(&dir.join("b/truth.jsonl"))
            .iter()
            .any(|e| e["event"] == "done")
    {
        assert!(Instant::now() < deadline, "fixtures did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Prometheus, for real: scrape, then ask it.
    let mut prom_checked = false;
    if let Some((_prom, port)) = &prom {
        let q_blocking = format!(
            "aelm_blocks_total{{pid=\"{}\",culprit=\"__main__.handle_request\"}}",
            pids(&blocking)
        );
        let q_idle = format!("sum(aelm_blocks_total{{pid=\"{}\"}})", pids(&idle));
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if query(*port, &q_blocking).is_some_and(|v| v > 0.0) {
                break;
            }
            assert!(Instant::now() < until, "Prometheus never saw the blocks");
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(
            query(*port, &q_idle),
            None,
            "the idle process has no block series"
        );
        assert!(query(*port, "aelm_targets").is_some_and(|v| v >= 3.0));
        prom_checked = true;
    } else {
        eprintln!("prometheus not installed: metrics checked by scraping /metrics directly");
        let body = http_get(metrics_port, "/metrics").expect("metrics");
        assert!(
            body.contains(&format!("aelm_blocks_total{{pid=\"{}\"", pids(&blocking))),
            "{body}"
        );
    }
    let (lines, status) = aelm.stop_all();
    assert_eq!(status, 0);
    let block_pids: Vec<u64> = blocks(&lines)
        .iter()
        .filter_map(|b| b["pid"].as_u64())
        .collect();
    assert!(block_pids.contains(&pids(&blocking)));
    assert!(
        block_pids.contains(&pids(&late)),
        "the late process was picked up"
    );
    assert!(
        !block_pids.contains(&pids(&idle)),
        "the idle process never blocked"
    );
    for b in blocks(&lines) {
        let f = b["culprit"]["function"].as_str().unwrap_or("");
        assert!(f == "handle_request" || f == "load_sync", "{b}");
    }
    let end_of = |pid: u64| {
        lines
            .iter()
            .find(|l| l["type"] == "end" && l["pid"] == pid)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(end_of(pids(&late))["reason"], "interrupted");
    let doomed_pid = want
        .iter()
        .copied()
        .find(|&p| p != pids(&idle) && p != pids(&blocking))
        .expect("doomed pid");
    assert_eq!(end_of(doomed_pid)["reason"], "target-exited");
    // Never attached: no line mentions the loop-less Python or `sleep`.
    let seen: Vec<u64> = lines.iter().filter_map(|l| l["pid"].as_u64()).collect();
    assert!(seen.iter().all(|p| starts.contains(p) || *p == pids(&late)));
    eprintln!("prometheus checked: {prom_checked}");
}
