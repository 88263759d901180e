//! Benchmarks of issue 16, printed as figures (never asserted):
//! 1. a change to a cache parameter group used by 20 replication groups of 3 nodes (60 nodes), timed from the
//!    `ModifyCacheParameterGroup` answer until every member cluster reports `ParameterApplyStatus` `in-sync` (one
//!    `DescribeCacheClusters` of all of them, polled), and until every node shows the new `maxmemory-policy` in
//!    `INFO memory` (what a client sees). Five changes, alternating the policy; median and worst.
//! 2. slow log delivery to CloudWatch Logs (`slowlog-log-slower-than` 0): under a load of 1,000 slow log entries a
//!    second, the latency from a probe command's reply until its record is readable through the Logs API
//!    (`FilterLogEvents` on the probe's client name, polled every 5 ms), p50 and p99 of 200 probes; and the node's
//!    throughput (`redis-benchmark -t set,get -P 16`) with delivery on against off: 21 pairs of rounds, each pair in
//!    the other order than the last, node and benchmark pinned to a CPU each; the median of the pairs' ratios.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench parameters`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use aws_sdk_elasticache::types::{
    CloudWatchLogsDestinationDetails, DestinationDetails, DestinationType,
    LogDeliveryConfigurationRequest, LogFormat, LogType, ParameterNameValue,
};
use common::*;

const GROUPS: usize = 20;
const NODES: i32 = 3;
const CHANGES: usize = 5;

async fn all_in_sync(c: &aws_sdk_elasticache::Client) -> bool {
    let out = c
        .describe_cache_clusters()
        .send()
        .await
        .expect("describe cache clusters");
    let clusters = out.cache_clusters();
    clusters.len() == GROUPS * NODES as usize
        && clusters.iter().all(|cc| {
            cc.cache_parameter_group()
                .and_then(|p| p.parameter_apply_status())
                == Some("in-sync")
        })
}

async fn policy(url: &str) -> String {
    let mut n = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut n)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("maxmemory_policy:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let d = Daemon::start_logging("warn");
    let c = d.client();
    // `cargo bench --bench parameters -- log-delivery`: part 2 only.
    if !std::env::args().any(|a| a == "log-delivery") {
        parameter_change(&c).await;
    }
    log_delivery(&d, &c).await;
}

/// Part 1: a parameter change reaching 60 nodes.
async fn parameter_change(c: &aws_sdk_elasticache::Client) {
    let c = c.clone();
    c.create_cache_parameter_group()
        .cache_parameter_group_name("bench")
        .cache_parameter_group_family("redis7")
        .description("benchmark")
        .send()
        .await
        .expect("create parameter group");
    let started = Instant::now();
    for i in 0..GROUPS {
        c.create_replication_group()
            .replication_group_id(format!("pb-{i:02}"))
            .replication_group_description("parameter benchmark")
            .num_cache_clusters(NODES)
            .cache_parameter_group_name("bench")
            .send()
            .await
            .expect("create");
    }
    let mut nodes = Vec::new();
    for i in 0..GROUPS {
        let g = wait_available(&c, &format!("pb-{i:02}"), Duration::from_secs(600)).await;
        nodes.extend(members_of(&g).into_iter().map(|(_, _, url)| url));
    }
    println!(
        "parameters: {GROUPS} groups of {NODES} nodes available in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !all_in_sync(&c).await {
        assert!(
            Instant::now() < deadline,
            "never in sync before the first change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut to_sync, mut to_nodes) = (Vec::new(), Vec::new());
    for n in 0..CHANGES {
        let want = if n % 2 == 0 {
            "allkeys-lru"
        } else {
            "volatile-lfu"
        };
        let t = Instant::now();
        c.modify_cache_parameter_group()
            .cache_parameter_group_name("bench")
            .parameter_name_values(
                ParameterNameValue::builder()
                    .parameter_name("maxmemory-policy")
                    .parameter_value(want)
                    .build(),
            )
            .send()
            .await
            .expect("modify");
        let answered = t.elapsed();
        // Until every member says in-sync.
        while !all_in_sync(&c).await {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "not in sync in 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let synced = t.elapsed();
        // Until every node runs it (checked after the report, so this also proves the report true).
        for url in &nodes {
            while policy(url).await != want {
                assert!(
                    t.elapsed() < Duration::from_secs(120),
                    "{url} never took {want}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let applied = t.elapsed();
        println!(
            "parameters: change {} ({want}): answered in {:.1} ms, every member in-sync after {:.0} ms, every node \
             verified after {:.0} ms",
            n + 1,
            answered.as_secs_f64() * 1e3,
            synced.as_secs_f64() * 1e3,
            applied.as_secs_f64() * 1e3
        );
        to_sync.push(synced);
        to_nodes.push(applied);
    }
    println!(
        "parameters: a change to the parameter group of {GROUPS} groups x {NODES} nodes: every member in-sync after \
         median {:.0} ms (worst {:.0} ms); every node verified by INFO after median {:.0} ms (worst {:.0} ms)",
        median(&mut to_sync.clone()).as_secs_f64() * 1e3,
        to_sync.iter().max().expect("runs").as_secs_f64() * 1e3,
        median(&mut to_nodes.clone()).as_secs_f64() * 1e3,
        to_nodes.iter().max().expect("runs").as_secs_f64() * 1e3,
    );
    for i in 0..GROUPS {
        c.delete_replication_group()
            .replication_group_id(format!("pb-{i:02}"))
            .send()
            .await
            .expect("delete");
    }
    for i in 0..GROUPS {
        wait_deleted(&c, &format!("pb-{i:02}"), Duration::from_secs(120)).await;
    }
}

/// A signed `FilterLogEvents` for the events whose message holds `term`; how many there are.
async fn count_matching(endpoint: &str, group: &str, term: &str) -> usize {
    let body = serde_json::json!({"logGroupName": group, "filterPattern": term,
        "startTime": chrono::Utc::now().timestamp_millis() - 5_000});
    let (_, v) = logs_call(endpoint, "FilterLogEvents", body).await;
    v["events"].as_array().map_or(0, |a| a.len())
}

/// The node's CPU seconds (user and system) and the commands it has processed, from `INFO`.
async fn node_cpu(conn: &mut redis::aio::MultiplexedConnection) -> (f64, f64) {
    let info: String = redis::cmd("INFO")
        .arg("everything")
        .query_async(conn)
        .await
        .expect("INFO");
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (
        field("used_cpu_user") + field("used_cpu_sys"),
        field("total_commands_processed"),
    )
}

/// Throughput pairs (delivery on, off) the benchmark runs.
const PAIRS: usize = 21;

fn slow_log_to(group: &str) -> LogDeliveryConfigurationRequest {
    LogDeliveryConfigurationRequest::builder()
        .log_type(LogType::SlowLog)
        .destination_type(DestinationType::CloudWatchLogs)
        .destination_details(
            DestinationDetails::builder()
                .cloud_watch_logs_details(
                    CloudWatchLogsDestinationDetails::builder()
                        .log_group(group)
                        .build(),
                )
                .build(),
        )
        .log_format(LogFormat::Json)
        .build()
}

async fn set_delivery(c: &aws_sdk_elasticache::Client, on: bool) {
    let req = if on {
        slow_log_to("/bench/slow")
    } else {
        LogDeliveryConfigurationRequest::builder()
            .log_type(LogType::SlowLog)
            .enabled(false)
            .build()
    };
    c.modify_replication_group()
        .replication_group_id("lb")
        .apply_immediately(true)
        .log_delivery_configurations(req)
        .send()
        .await
        .expect("modify delivery");
    wait_group(c, "lb", Duration::from_secs(30), "delivery settled", |g| {
        let l = g.log_delivery_configurations();
        if on {
            l.len() == 1 && l[0].status().map(|s| s.as_str()) == Some("active")
        } else {
            l.is_empty()
        }
    })
    .await;
}

async fn log_delivery(d: &Daemon, c: &aws_sdk_elasticache::Client) {
    c.create_cache_parameter_group()
        .cache_parameter_group_name("bench-slow")
        .cache_parameter_group_family("redis7")
        .description("every command in the slow log")
        .send()
        .await
        .expect("parameter group");
    c.modify_cache_parameter_group()
        .cache_parameter_group_name("bench-slow")
        .parameter_name_values(
            ParameterNameValue::builder()
                .parameter_name("slowlog-log-slower-than")
                .parameter_value("0")
                .build(),
        )
        .send()
        .await
        .expect("modify");
    c.create_replication_group()
        .replication_group_id("lb")
        .replication_group_description("log delivery benchmark")
        .num_cache_clusters(1)
        .cache_parameter_group_name("bench-slow")
        .log_delivery_configurations(slow_log_to("/bench/slow"))
        .send()
        .await
        .expect("create");
    let g = wait_available(c, "lb", Duration::from_secs(60)).await;
    set_delivery(c, true).await;
    let url = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    // Background load: 1,000 SETs a second, in batches of 10 every 10 ms.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (url, stop) = (url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut conn = redis_conn(&url).await;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..10 {
                    let _: () = redis::cmd("SET")
                        .arg(format!("load:{}", n % 1000))
                        .arg(n)
                        .query_async(&mut conn)
                        .await
                        .expect("load");
                    n += 1;
                }
            }
            n
        })
    };
    let endpoint = d.endpoint();
    let mut probe = redis_conn(&url).await;
    let mut latencies = Vec::new();
    for i in 0..200 {
        let name = format!("probe-{i}");
        let _: () = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&name)
            .query_async(&mut probe)
            .await
            .expect("setname");
        let _: () = redis::cmd("SET")
            .arg("probe")
            .arg(i)
            .query_async(&mut probe)
            .await
            .expect("probe");
        let t = Instant::now();
        while count_matching(&endpoint, "/bench/slow", &format!("{name}\"")).await == 0 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{name} never delivered"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(t.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = load.await.expect("load");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "log delivery: slow log to CloudWatch Logs under {sent} background SETs (about 1,000 a second): command \
         reply to record readable via FilterLogEvents p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (200 probes)",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    // Throughput with delivery on against off, alternating; and the daemon's CPU time during each.
    let daemon_pid = d.child.as_ref().expect("daemon").id();
    let cpu = || process_cpu_seconds(daemon_pid);
    // The node on CPU 0 and redis-benchmark on CPU 1, so that the rounds differ by what the daemon does, not by
    // where the scheduler put the two; the daemon runs wherever it is let.
    let pinned = pin_node_to_cpu0(d, "lb-");
    // The node's own CPU time and commands (INFO), to price a command in CPU: a figure that this shared machine's
    // scheduling noise does not move, unlike wall-clock throughput.
    let mut probe = redis_conn(&url).await;
    // Steal time of this (virtual) machine, in ticks: how much the hypervisor took away during the runs.
    let steal = || -> u64 {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().next()?.split_whitespace().nth(8)?.parse().ok())
            .unwrap_or(0)
    };
    let steal0 = steal();
    let (mut node_on, mut node_off) = ((0.0, 0.0), (0.0, 0.0));
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_on, mut cpu_off, mut wall_on, mut wall_off) = (0.0, 0.0, 0.0, 0.0);
    // Pairs of short rounds, each pair in the other order than the last, so neither side gains from going first.
    for round in 0..PAIRS {
        let mut pair = [0.0, 0.0];
        for on_first in [round % 2 == 0, round % 2 == 1] {
            set_delivery(c, on_first).await;
            // Past the change's own work (the modify, the worker taking the configuration up).
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (c0, t0) = (cpu(), Instant::now());
            let (n0, k0) = node_cpu(&mut probe).await;
            let rate = pinned_redis_benchmark(&url, pinned);
            let (n1, k1) = node_cpu(&mut probe).await;
            let (cpu_used, wall) = (cpu() - c0, t0.elapsed().as_secs_f64());
            let node = if on_first {
                &mut node_on
            } else {
                &mut node_off
            };
            node.0 += n1 - n0;
            node.1 += k1 - k0;
            if on_first {
                on.push(rate);
                pair[0] = rate;
                cpu_on += cpu_used;
                wall_on += wall;
            } else {
                off.push(rate);
                pair[1] = rate;
                cpu_off += cpu_used;
                wall_off += wall;
            }
        }
        ratios.push(pair[0] / pair[1]);
    }
    let wall = wall_on + wall_off;
    println!(
        "log delivery: the daemon's CPU during the runs: {:.1}% of a core with delivery on, {:.1}% off; the \
         machine's steal time {:.1}% of the runs' wall time (2 CPUs)",
        cpu_on / wall_on * 100.0,
        cpu_off / wall_off * 100.0,
        (steal() - steal0) as f64 / 100.0 / (wall * 2.0) * 100.0
    );
    let (per_on, per_off) = (node_on.0 / node_on.1 * 1e6, node_off.0 / node_off.1 * 1e6);
    println!(
        "log delivery: the node's CPU per million commands {per_on:.3} s with delivery on, {per_off:.3} s off: a \
         CPU-bound node serves {:.3} as many commands with delivery on",
        per_off / per_on
    );
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (m_on, m_off) = (med(on.clone()), med(off.clone()));
    println!(
        "log delivery: node throughput (redis-benchmark SET+GET -P 16, slowlog-log-slower-than 0{}) with slow log \
         delivery {:.0} req/s vs without {:.0} req/s (medians of {PAIRS} rounds each); ratio of each pair \
         {:.3?}: median {:.3}",
        if pinned { ", node and benchmark on a CPU each" } else { "" },
        m_on,
        m_off,
        ratios,
        med(ratios.clone())
    );
}
