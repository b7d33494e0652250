//! Prometheus metrics (`--metrics-addr HOST:PORT`): `/metrics` in the
//! OpenMetrics text format, written by the `prometheus-client` crate and
//! served by `tiny_http` (neither hand-written).
//!
//! Series: `aelm_blocks_total{pid,culprit}`, `aelm_blocked_seconds_total{pid,culprit}`,
//! `aelm_block_duration_seconds{pid}` (histogram), `aelm_samples_total{pid}`,
//! `aelm_sample_errors_total{pid}`, `aelm_sample_rate_hz{pid}`,
//! `aelm_block_in_progress_seconds{pid}` (a block still going on: a loop
//! stuck for good shows here, while the counters wait for it to end),
//! `aelm_targets`. Label cardinality is
//! bounded: at most `--metrics-max-culprits` culprit values per pid (the
//! rest count under `culprit="other"`), and the series of a process that
//! exited are dropped after a grace period (so a last scrape still sees
//! its final counts): checked as samples arrive and at every scrape, so a
//! quiet session drops them too.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How long the series of an exited process stay before they are dropped.
pub const GRACE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PidCulprit {
    pid: String,
    culprit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PidLabel {
    pid: String,
}

fn duration_histogram() -> Histogram {
    // 5 ms .. ~20 s
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// The families and the bookkeeping that bounds them. Shared by the
/// session (which records) and the HTTP thread (which expires and renders).
struct State {
    registry: Registry,
    blocks: Family<PidCulprit, Counter>,
    blocked: Family<PidCulprit, Counter<f64, AtomicU64>>,
    durations: Family<PidLabel, Histogram, fn() -> Histogram>,
    samples: Family<PidLabel, Counter>,
    errors: Family<PidLabel, Counter>,
    targets: Gauge,
    rate: Family<PidLabel, Gauge<f64, AtomicU64>>,
    in_progress: Family<PidLabel, Gauge<f64, AtomicU64>>,
    /// Per pid: when the rate was last computed, and the samples since.
    rate_window: HashMap<i32, (Instant, u64)>,
    max_culprits: usize,
    culprits: HashMap<i32, HashSet<String>>,
    /// Exited pids and when their series go.
    leaving: Vec<(Instant, i32)>,
}

/// The session's handle on the metrics; `/metrics` is served from a thread
/// of its own (see [`Metrics::serve`]).
pub struct Metrics {
    state: Arc<Mutex<State>>,
}

impl Metrics {
    /// Registers the metrics, without serving them.
    pub fn new(max_culprits: usize) -> Metrics {
        let mut registry = Registry::default();
        let blocks = Family::<PidCulprit, Counter>::default();
        let blocked = Family::<PidCulprit, Counter<f64, AtomicU64>>::default();
        let durations: Family<PidLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        let samples = Family::<PidLabel, Counter>::default();
        let errors = Family::<PidLabel, Counter>::default();
        let targets = Gauge::default();
        let rate = Family::<PidLabel, Gauge<f64, AtomicU64>>::default();
        let in_progress = Family::<PidLabel, Gauge<f64, AtomicU64>>::default();
        registry.register("aelm_blocks", "Event-loop blocks seen", blocks.clone());
        registry.register(
            "aelm_blocked_seconds",
            "Time event loops spent blocked",
            blocked.clone(),
        );
        registry.register(
            "aelm_block_duration_seconds",
            "Durations of event-loop blocks",
            durations.clone(),
        );
        registry.register("aelm_samples", "Samples taken", samples.clone());
        registry.register(
            "aelm_sample_errors",
            "Samples that could not be read",
            errors.clone(),
        );
        registry.register("aelm_targets", "Processes being watched", targets.clone());
        registry.register(
            "aelm_sample_rate_hz",
            "Achieved sampling rate per process (adapts under --max-cpu)",
            rate.clone(),
        );
        registry.register(
            "aelm_block_in_progress_seconds",
            "How long the longest block still going on has lasted so far (0: none at least the threshold long)",
            in_progress.clone(),
        );
        Metrics {
            state: Arc::new(Mutex::new(State {
                registry,
                blocks,
                blocked,
                durations,
                samples,
                errors,
                targets,
                rate,
                in_progress,
                rate_window: HashMap::new(),
                max_culprits,
                culprits: HashMap::new(),
                leaving: Vec::new(),
            })),
        }
    }

    /// Registers the metrics and serves them on `addr` from a thread.
    pub fn serve(addr: &str, max_culprits: usize) -> Result<Metrics> {
        let m = Metrics::new(max_culprits);
        let server = tiny_http::Server::http(addr).map_err(|e| {
            anyhow!("could not serve metrics on {addr}: {e} (is the port already in use? choose another with --metrics-addr)")
        })?;
        if addr.ends_with(":0")
            && let tiny_http::ListenAddr::IP(bound) = server.server_addr()
        {
            // Port 0 asks for any free port: say which one it is.
            eprintln!("aelm: serving metrics at http://{bound}/metrics");
        }
        let state = Arc::clone(&m.state);
        std::thread::Builder::new()
            .name("aelm-metrics".into())
            .spawn(move || {
                for request in server.incoming_requests() {
                    let response = if request.url().split('?').next() == Some("/metrics") {
                        let body = lock(&state).render(Instant::now());
                        let ct = tiny_http::Header::from_bytes(
                            &b"Content-Type"[..],
                            &b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..],
                        )
                        .expect("a valid header");
                        tiny_http::Response::from_string(body).with_header(ct)
                    } else {
                        tiny_http::Response::from_string("aelm: metrics are at /metrics\n")
                            .with_status_code(404)
                    };
                    let _ = request.respond(response);
                }
            })
            .context("starting the metrics thread")?;
        Ok(m)
    }

    pub fn target_started(&self, pid: i32) {
        let mut s = lock(&self.state);
        s.targets.inc();
        // A reused pid: the series now belong to the new process, which an
        // old expiry must not remove.
        s.leaving.retain(|&(_, p)| p != pid);
    }

    pub fn target_ended(&self, pid: i32) {
        let mut s = lock(&self.state);
        s.targets.dec();
        // Its last block was flushed as it ended.
        if let Some(g) = s.in_progress.get(&PidLabel {
            pid: pid.to_string(),
        }) {
            g.set(0.0);
        }
        s.leaving.push((Instant::now() + GRACE, pid));
    }

    pub fn block(&self, pid: i32, culprit: &str, seconds: f64) {
        let mut s = lock(&self.state);
        s.expire(Instant::now());
        let max = s.max_culprits;
        let seen = s.culprits.entry(pid).or_default();
        let culprit = if seen.contains(culprit) || seen.len() < max {
            seen.insert(culprit.to_string());
            culprit
        } else {
            "other"
        };
        let labels = PidCulprit {
            pid: pid.to_string(),
            culprit: culprit.to_string(),
        };
        s.blocks.get_or_create(&labels).inc();
        s.blocked.get_or_create(&labels).inc_by(seconds);
        s.durations
            .get_or_create(&PidLabel {
                pid: pid.to_string(),
            })
            .observe(seconds);
    }

    pub fn samples(&self, pid: i32, samples: u64, errors: u64) {
        let mut s = lock(&self.state);
        let label = PidLabel {
            pid: pid.to_string(),
        };
        s.samples.get_or_create(&label).inc_by(samples);
        if errors > 0 {
            s.errors.get_or_create(&label).inc_by(errors);
        }
        let now = Instant::now();
        let w = s.rate_window.entry(pid).or_insert((now, 0));
        w.1 += samples;
        let dt = now - w.0;
        if dt >= Duration::from_secs(1) {
            let hz = w.1 as f64 / dt.as_secs_f64();
            *w = (now, 0);
            s.rate.get_or_create(&label).set(hz);
        }
    }

    /// The block still going on in `pid`, in seconds (0: none).
    pub fn in_progress(&self, pid: i32, seconds: f64) {
        let s = lock(&self.state);
        s.in_progress
            .get_or_create(&PidLabel {
                pid: pid.to_string(),
            })
            .set(seconds);
    }

    /// Periodic housekeeping (called as samples arrive; a scrape does the
    /// same, so a quiet session still drops the series of exited pids).
    pub fn tick(&self) {
        let mut s = lock(&self.state);
        if !s.leaving.is_empty() {
            s.expire(Instant::now());
        }
    }

    /// The text a scrape at `now` would get.
    #[cfg(test)]
    fn render_at(&self, now: Instant) -> String {
        lock(&self.state).render(now)
    }
}

/// The state, even if a thread panicked while holding it (the counters
/// stay consistent enough to serve).
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Drops the series of processes that left more than [`GRACE`] before `now`.
    fn expire(&mut self, now: Instant) {
        let (gone, keep): (Vec<_>, Vec<_>) = self.leaving.drain(..).partition(|(t, _)| *t <= now);
        self.leaving = keep;
        for (_, pid) in gone {
            let p = pid.to_string();
            for culprit in self
                .culprits
                .remove(&pid)
                .unwrap_or_default()
                .into_iter()
                .chain(["other".to_string()])
            {
                let labels = PidCulprit {
                    pid: p.clone(),
                    culprit,
                };
                self.blocks.remove(&labels);
                self.blocked.remove(&labels);
            }
            let label = PidLabel { pid: p };
            self.durations.remove(&label);
            self.samples.remove(&label);
            self.errors.remove(&label);
            self.rate.remove(&label);
            self.in_progress.remove(&label);
            self.rate_window.remove(&pid);
        }
    }

    /// Expires what is due at `now`, then encodes every series.
    fn render(&mut self, now: Instant) -> String {
        self.expire(now);
        let mut body = String::new();
        if prometheus_client::encoding::text::encode(&mut body, &self.registry).is_err() {
            body.clear();
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_pid(text: &str, pid: i32) -> bool {
        text.contains(&format!("pid=\"{pid}\""))
    }

    #[test]
    fn a_block_in_progress_shows_until_its_process_ends() {
        let m = Metrics::new(4);
        m.target_started(4242);
        m.in_progress(4242, 2.5);
        let text = m.render_at(Instant::now());
        assert!(
            text.contains("aelm_block_in_progress_seconds{pid=\"4242\"} 2.5"),
            "{text}"
        );
        m.target_ended(4242);
        let text = m.render_at(Instant::now());
        assert!(
            text.contains("aelm_block_in_progress_seconds{pid=\"4242\"} 0.0"),
            "{text}"
        );
        assert!(!has_pid(&m.render_at(Instant::now() + GRACE), 4242));
    }

    #[test]
    fn series_of_an_exited_pid_go_after_the_grace_period_and_not_before() {
        let m = Metrics::new(1);
        for pid in [4242, 777] {
            m.target_started(pid);
            m.block(pid, "app.handler", 0.120);
            m.block(pid, "app.other_culprit", 0.050); // over the limit: "other"
            m.samples(pid, 500, 3);
        }
        let text = m.render_at(Instant::now());
        assert!(text.contains("aelm_blocks_total{pid=\"4242\",culprit=\"app.handler\"} 1"));
        assert!(text.contains("aelm_blocks_total{pid=\"4242\",culprit=\"other\"} 1"));
        assert!(text.contains("aelm_sample_errors_total{pid=\"4242\"} 3"));
        assert!(text.contains("aelm_targets 2"), "{text}");

        let before = Instant::now();
        m.target_ended(4242);
        let after = Instant::now();
        // Still there through the grace period: a last scrape sees the final counts.
        let text = m.render_at(before + GRACE - Duration::from_millis(1));
        assert!(has_pid(&text, 4242), "{text}");
        assert!(text.contains("aelm_targets 1"), "{text}");
        // Gone after it, with no other sample or block arriving in between.
        let text = m.render_at(after + GRACE);
        assert!(!has_pid(&text, 4242), "{text}");
        // The pid still watched keeps every series.
        for series in [
            "aelm_blocks_total{pid=\"777\",culprit=\"app.handler\"}",
            "aelm_blocks_total{pid=\"777\",culprit=\"other\"}",
            "aelm_blocked_seconds_total{pid=\"777\",culprit=\"app.handler\"}",
            "aelm_block_duration_seconds_count{pid=\"777\"}",
            "aelm_samples_total{pid=\"777\"}",
            "aelm_sample_errors_total{pid=\"777\"}",
        ] {
            assert!(text.contains(series), "{series} missing from {text}");
        }
        // Expired once: a later scrape does not bring anything back.
        assert!(!has_pid(&m.render_at(after + GRACE * 2), 4242));
    }

    #[test]
    fn a_reused_pid_keeps_the_new_process_series() {
        let m = Metrics::new(5);
        m.target_started(4242);
        m.block(4242, "app.old", 0.1);
        let before = Instant::now();
        m.target_ended(4242);
        // A new process gets the same pid within the grace period.
        m.target_started(4242);
        m.block(4242, "app.new", 0.1);
        let text = m.render_at(before + GRACE * 2);
        assert!(
            text.contains("aelm_blocks_total{pid=\"4242\",culprit=\"app.new\"} 1"),
            "{text}"
        );
    }
}
