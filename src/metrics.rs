//! Prometheus metrics (`--metrics-addr HOST:PORT`): `/metrics` in the
//! OpenMetrics text format, written by the `prometheus-client` crate and
//! served by `tiny_http` (neither hand-written).
//!
//! Series: `aelm_blocks_total{pid,culprit}`, `aelm_blocked_seconds_total{pid,culprit}`,
//! `aelm_block_duration_seconds{pid}` (histogram), `aelm_samples_total{pid}`,
//! `aelm_sample_errors_total{pid}`, `aelm_sample_rate_hz{pid}`, `aelm_targets`. Label cardinality is
//! bounded: at most `--metrics-max-culprits` culprit values per pid (the
//! rest count under `culprit="other"`), and the series of a process that
//! exited are dropped after a grace period (so a last scrape still sees
//! its final counts).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
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

pub struct Metrics {
    blocks: Family<PidCulprit, Counter>,
    blocked: Family<PidCulprit, Counter<f64, AtomicU64>>,
    durations: Family<PidLabel, Histogram, fn() -> Histogram>,
    samples: Family<PidLabel, Counter>,
    errors: Family<PidLabel, Counter>,
    targets: Gauge,
    rate: Family<PidLabel, Gauge<f64, AtomicU64>>,
    /// Per pid: when the rate was last computed, and the samples since.
    rate_window: HashMap<i32, (Instant, u64)>,
    max_culprits: usize,
    culprits: HashMap<i32, HashSet<String>>,
    /// Exited pids and when their series go.
    leaving: Vec<(Instant, i32)>,
}

impl Metrics {
    /// Registers the metrics and serves them on `addr` from a thread.
    pub fn serve(addr: &str, max_culprits: usize) -> Result<Metrics> {
        let mut registry = Registry::default();
        let m = Metrics {
            blocks: Family::default(),
            blocked: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            samples: Family::default(),
            errors: Family::default(),
            targets: Gauge::default(),
            rate: Family::default(),
            rate_window: HashMap::new(),
            max_culprits,
            culprits: HashMap::new(),
            leaving: Vec::new(),
        };
        registry.register("aelm_blocks", "Event-loop blocks seen", m.blocks.clone());
        registry.register(
            "aelm_blocked_seconds",
            "Time event loops spent blocked",
            m.blocked.clone(),
        );
        registry.register(
            "aelm_block_duration_seconds",
            "Durations of event-loop blocks",
            m.durations.clone(),
        );
        registry.register("aelm_samples", "Samples taken", m.samples.clone());
        registry.register(
            "aelm_sample_errors",
            "Samples that could not be read",
            m.errors.clone(),
        );
        registry.register("aelm_targets", "Processes being watched", m.targets.clone());
        registry.register(
            "aelm_sample_rate_hz",
            "Achieved sampling rate per process (adapts under --max-cpu)",
            m.rate.clone(),
        );
        let server = tiny_http::Server::http(addr).map_err(|e| {
            anyhow!("could not serve metrics on {addr}: {e} (is the port already in use? choose another with --metrics-addr)")
        })?;
        let registry = Arc::new(registry);
        std::thread::Builder::new()
            .name("aelm-metrics".into())
            .spawn(move || {
                for request in server.incoming_requests() {
                    let response = if request.url().split('?').next() == Some("/metrics") {
                        let mut body = String::new();
                        if prometheus_client::encoding::text::encode(&mut body, &registry).is_err()
                        {
                            body.clear();
                        }
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

    pub fn target_started(&mut self) {
        self.targets.inc();
    }

    pub fn target_ended(&mut self, pid: i32) {
        self.targets.dec();
        self.leaving.push((Instant::now() + GRACE, pid));
    }

    pub fn block(&mut self, pid: i32, culprit: &str, seconds: f64) {
        self.expire();
        let seen = self.culprits.entry(pid).or_default();
        let culprit = if seen.contains(culprit) || seen.len() < self.max_culprits {
            seen.insert(culprit.to_string());
            culprit
        } else {
            "other"
        };
        let labels = PidCulprit {
            pid: pid.to_string(),
            culprit: culprit.to_string(),
        };
        self.blocks.get_or_create(&labels).inc();
        self.blocked.get_or_create(&labels).inc_by(seconds);
        self.durations
            .get_or_create(&PidLabel {
                pid: pid.to_string(),
            })
            .observe(seconds);
    }

    pub fn samples(&mut self, pid: i32, samples: u64, errors: u64) {
        let label = PidLabel {
            pid: pid.to_string(),
        };
        self.samples.get_or_create(&label).inc_by(samples);
        if errors > 0 {
            self.errors.get_or_create(&label).inc_by(errors);
        }
        let now = Instant::now();
        let w = self.rate_window.entry(pid).or_insert((now, 0));
        w.1 += samples;
        let dt = now - w.0;
        if dt >= Duration::from_secs(1) {
            self.rate
                .get_or_create(&label)
                .set(w.1 as f64 / dt.as_secs_f64());
            *w = (now, 0);
        }
    }

    /// Drops the series of processes that left more than [`GRACE`] ago.
    fn expire(&mut self) {
        let now = Instant::now();
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
            self.rate_window.remove(&pid);
        }
    }

    /// Periodic housekeeping (called as samples arrive).
    pub fn tick(&mut self) {
        if !self.leaving.is_empty() {
            self.expire();
        }
    }
}
