//! Figures for benchmarks: medians, a process's CPU time, `redis-benchmark` throughput.

use std::process::Command;

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
