//! Figures for benchmarks: medians, a process's CPU time, `redis-benchmark` throughput, signed API requests under
//! load.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// The median of `v` (sorted in place): durations, rates.
pub fn median<T: PartialOrd + Copy>(v: &mut [T]) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// A process's CPU time (user and system), in seconds, from `/proc` (10 ms ticks).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// SET and GET throughput (`redis-benchmark -P 16`, 1,500,000 requests each) of the node at `url`, the mean of
/// the two; on CPU 1 when `pin`.
pub fn pinned_redis_benchmark(url: &str, pin: bool) -> f64 {
    let hostport = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "redis-benchmark"]);
        c
    } else {
        Command::new("redis-benchmark")
    };
    let out = cmd
        .args([
            "-h", host, "-p", port, "-t", "set,get", "-n", "1500000", "-P", "16", "-q",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    text.lines()
        .filter(|l| l.contains("requests per second"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum::<f64>()
        / 2.0
}

/// Pins the node of member cluster `prefix…` to CPU 0 (for benchmarks that run redis-benchmark on CPU 1); false when
/// `taskset` could not.
pub fn pin_node_to_cpu0(d: &Daemon, prefix: &str) -> bool {
    let node_pid = d
        .node_pids()
        .into_iter()
        .find(|(n, _)| n.starts_with(prefix))
        .expect("the node's pid")
        .1;
    Command::new("taskset")
        .args(["-p", "-c", "0", &node_pid.to_string()])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// How long a load run lasts, and from how many connections.
pub const LOAD_SECONDS: u64 = 5;
pub const CONCURRENCY: usize = 8;

/// A signed POST, ready to send many times (the signature stays valid for 15 minutes).
#[derive(Clone)]
pub struct SignedPost {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn sign(endpoint: &str, body: &str) -> SignedPost {
    let host = endpoint.trim_start_matches("http://");
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    SignedPost {
        url: format!("{endpoint}/"),
        headers: wire::sigv4::signed_form_post(
            host,
            body.as_bytes(),
            &date,
            ACCESS_KEY_ID,
            SECRET,
            REGION,
        )
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        body: body.as_bytes().to_vec(),
    }
}

pub async fn send(client: &reqwest::Client, s: &SignedPost) -> (u16, String) {
    let mut rb = client.post(&s.url).body(s.body.clone());
    for (k, v) in &s.headers {
        rb = rb.header(k, v);
    }
    let r = rb.send().await.expect("send");
    let st = r.status().as_u16();
    (st, r.text().await.expect("text"))
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Fires `req` from `CONCURRENCY` tasks for `LOAD_SECONDS`; returns (requests/s, p50, p99, errors).
pub async fn load(req: &SignedPost) -> (f64, Duration, Duration, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(LOAD_SECONDS);
    let req = Arc::new(req.clone());
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, req) = (client.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let (st, _) = send(&client, &req).await;
                lat.push(t.elapsed());
                if st != 200 {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        all.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    (
        all.len() as f64 / secs,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        errors,
    )
}
