//! Benchmark of issue 17's metrics, printed as figures (never asserted):
//! 1. with 50 replication groups of 3 nodes (150 nodes), 10 scrapes that each collect (`--metrics-interval 1`,
//!    scrapes 1.2 s apart): the scrape's duration as Prometheus sees it (HTTP round trip), the collection's own
//!    duration, the page's size, and the daemon's CPU time per scrape;
//! 2. a node's throughput (`redis-benchmark -t set,get -P 16`) while a scraper reads the metrics every 5 s (the
//!    daemon's default interval) against no scraper: pairs of rounds in alternating order, node and benchmark pinned
//!    to a CPU each; the median of the pairs' ratios.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench metrics`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const GROUPS: usize = 50;
const PAIRS: usize = 9;

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Part 1: scrapes that each collect from 150 nodes.
    let d = Daemon::start_with_args("warn", &["--metrics-interval", "1"]);
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
        median(took.clone()),
        took.iter().cloned().fold(0.0, f64::max),
        median(collected),
        size / 1024,
        median(cpu)
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
    drop(d);

    // Part 2: a node's throughput with a scraper every 5 s against none.
    let d = Daemon::start_with_args("warn", &["--metrics-interval", "5"]);
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
    let (mut on, mut off, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..PAIRS {
        let mut pair = [0.0, 0.0];
        for scrape_first in [round % 2 == 0, round % 2 == 1] {
            scraping.store(scrape_first, Ordering::SeqCst);
            let u = url.clone();
            let rate = tokio::task::spawn_blocking(move || pinned_redis_benchmark(&u, pinned))
                .await
                .expect("benchmark");
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
        median(on),
        median(off),
        ratios,
        median(ratios.clone())
    );
}
