//! Benchmark of issue 17's metrics, printed as figures (never asserted):
//! 1. with 50 replication groups of 3 nodes (150 nodes), 10 scrapes that each collect (`--metrics-interval 1`,
//!    scrapes 1.2 s apart): the scrape's duration as Prometheus sees it (HTTP round trip), the collection's own
//!    duration, the page's size, and the daemon's CPU time per scrape;
//! 2. a node's throughput (`redis-benchmark -t set,get -P 16`) while a scraper reads the metrics every 5 s (the
//!    daemon's default interval) against no scraper: pairs of rounds in alternating order, node and benchmark pinned
//!    to a CPU each; the median of the pairs' ratios. Beside it, the cost that ratio cannot resolve on a noisy VM,
//!    measured directly: the node's CPU time per `INFO` (20,000 of them) against its CPU time per second of full
//!    load, which gives the share of the node that one `INFO` every 5 s takes;
//! 3. the web console's page-load time in headless Chromium for the list of 50 groups and for a group's page
//!    (`scripts/console_load.py`, run with the `.venv` Python of `scripts/setup.sh`).
//!
//! Parts 1 and 2 run the daemon with `--no-console`: without the console's collector, only the scrapes read the
//! nodes. Run with `scripts/bench.sh` or `cargo bench --bench metrics` (`-- console` for part 3 only).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const GROUPS: usize = 50;
const PAIRS: usize = 15;

async fn scrape(client: &reqwest::Client, d: &Daemon) -> String {
    client
        .get(format!("http://{}/metrics", d.metrics.expect("metrics")))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only_console = std::env::args().any(|a| a == "console");
    if !only_console {
        scrapes().await;
        throughput().await;
    }
    console().await;
}

/// Part 1: scrapes that each collect from 150 nodes.
async fn scrapes() {
    let d = Daemon::start_with_args("warn", &["--metrics-interval", "1", "--no-console"]);
    let c = d.client();
    for i in 0..GROUPS {
        c.create_replication_group()
            .replication_group_id(format!("mb-{i:02}"))
            .replication_group_description("metrics benchmark")
            .num_cache_clusters(3)
            .send()
            .await
            .expect("create");
    }
    for i in 0..GROUPS {
        wait_available(&c, &format!("mb-{i:02}"), Duration::from_secs(600)).await;
    }
    let http = reqwest::Client::new();
    let pid = d.child.as_ref().expect("daemon").id();
    let (mut took, mut cpu, mut collected) = (Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (c0, t0) = (process_cpu_seconds(pid), Instant::now());
        let page = scrape(&http, &d).await;
        took.push(t0.elapsed().as_secs_f64() * 1e3);
        cpu.push((process_cpu_seconds(pid) - c0) * 1e3);
        size = page.len();
        let nodes = page
            .lines()
            .filter(|l| l.starts_with("cacheplane_node_up{") && l.ends_with(" 1"))
            .count();
        assert_eq!(nodes, GROUPS * 3, "every node up in the page");
        collected.push(
            page.lines()
                .find_map(|l| l.strip_prefix("cacheplane_metrics_collection_duration_seconds "))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                * 1e3,
        );
    }
    println!(
        "metrics: {GROUPS} groups x 3 nodes, 10 scrapes each reading every node: scrape {:.1} ms median ({:.1} max), \
         collection {:.1} ms median, page {} KB; daemon CPU {:.1} ms per scrape (median; CPU time is counted in \
         10 ms ticks)",
        median(&mut took.clone()),
        took.iter().cloned().fold(0.0, f64::max),
        median(&mut collected),
        size / 1024,
        median(&mut cpu)
    );
    for i in 0..GROUPS {
        c.delete_replication_group()
            .replication_group_id(format!("mb-{i:02}"))
            .send()
            .await
            .expect("delete");
    }
    for i in 0..GROUPS {
        wait_deleted(&c, &format!("mb-{i:02}"), Duration::from_secs(300)).await;
    }
}

/// Part 2: a node's throughput with a scraper every 5 s against none, and the node's CPU per `INFO`.
async fn throughput() {
    let d = Daemon::start_with_args("warn", &["--metrics-interval", "5", "--no-console"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("mt")
        .replication_group_description("metrics throughput")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "mt", Duration::from_secs(60)).await;
    let url = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let pinned = pin_node_to_cpu0(&d, "mt-");
    let scraping = Arc::new(AtomicBool::new(false));
    let scraper = {
        let scraping = scraping.clone();
        let addr = d.metrics.expect("metrics");
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                if scraping.load(Ordering::SeqCst) {
                    let _ = http.get(format!("http://{addr}/metrics")).send().await;
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };
    let node_pid = d
        .node_pids()
        .into_iter()
        .find(|(n, _)| n.starts_with("mt-"))
        .expect("the node's pid")
        .1;
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut busy_cpu, mut busy_secs) = (0.0, 0.0);
    for round in 0..PAIRS {
        let mut pair = [0.0, 0.0];
        for scrape_first in [round % 2 == 0, round % 2 == 1] {
            scraping.store(scrape_first, Ordering::SeqCst);
            let u = url.clone();
            let (c0, t0) = (process_cpu_seconds(node_pid), Instant::now());
            let rate = tokio::task::spawn_blocking(move || pinned_redis_benchmark(&u, pinned))
                .await
                .expect("benchmark");
            busy_cpu += process_cpu_seconds(node_pid) - c0;
            busy_secs += t0.elapsed().as_secs_f64();
            if scrape_first {
                on.push(rate);
                pair[0] = rate;
            } else {
                off.push(rate);
                pair[1] = rate;
            }
        }
        ratios.push(pair[0] / pair[1]);
    }
    scraper.abort();
    println!(
        "metrics: node throughput (redis-benchmark SET+GET -P 16{}) with a scrape every 5 s {:.0} req/s vs none \
         {:.0} req/s (medians of {PAIRS} rounds each); ratio of each pair {:.3?}: median {:.3}",
        if pinned { ", node and benchmark on a CPU each" } else { "" },
        median(&mut on.clone()),
        median(&mut off.clone()),
        ratios,
        median(&mut ratios.clone())
    );
    // What one INFO costs the node, from many of them over one connection (as the collector sends them).
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    const INFOS: usize = 20_000;
    let c0 = process_cpu_seconds(node_pid);
    for _ in 0..INFOS {
        let _: String = redis::cmd("INFO")
            .arg("default")
            .query_async(&mut conn)
            .await
            .expect("INFO");
    }
    let per_info = (process_cpu_seconds(node_pid) - c0) / INFOS as f64;
    let busy = busy_cpu / busy_secs;
    let share = per_info / 5.0 / busy;
    println!(
        "metrics: one INFO costs the node {:.1} us of CPU ({INFOS} INFOs); under the benchmark the node used {:.2} \
         CPU-seconds a second: one INFO every 5 s takes {:.5}% of it, a throughput ratio of {:.5} at most",
        per_info * 1e6,
        busy,
        share * 100.0,
        1.0 - share
    );
}

/// Part 3: the console's page-load time, 50 groups in the list.
async fn console() {
    let d = Daemon::start_with_args("warn", &[]);
    let c = d.client();
    for i in 0..GROUPS {
        c.create_replication_group()
            .replication_group_id(format!("cb-{i:02}"))
            .replication_group_description("console benchmark")
            .num_cache_clusters(if i == 0 { 3 } else { 1 })
            .send()
            .await
            .expect("create");
    }
    for i in 0..GROUPS {
        wait_available(&c, &format!("cb-{i:02}"), Duration::from_secs(600)).await;
    }
    // A little history for the group page's charts.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = std::process::Command::new(format!("{root}/.venv/bin/python"))
        .arg(format!("{root}/scripts/console_load.py"))
        .args([&d.endpoint(), ACCESS_KEY_ID, SECRET, "cb-00", "20"])
        .output()
        .expect("run scripts/console_load.py (scripts/setup.sh's ensure_python and ensure_browser install what it needs)");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        panic!("scripts/console_load.py failed");
    }
    for i in 0..GROUPS {
        c.delete_replication_group()
            .replication_group_id(format!("cb-{i:02}"))
            .send()
            .await
            .expect("delete");
    }
    for i in 0..GROUPS {
        wait_deleted(&c, &format!("cb-{i:02}"), Duration::from_secs(300)).await;
    }
}
