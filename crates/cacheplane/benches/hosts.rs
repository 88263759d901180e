//! A host lost under many groups (issue 31), printed as figures (never asserted): one daemon and three host agents
//! of this machine (zones a, b and c, each with its own address range); `GROUPS` Multi-AZ groups of three nodes, one on
//! each host, every primary on the host of zone a (the first zone of each group). Then the host of zone a is lost
//! (its agent and every node it runs killed at once), and for each group:
//! - the time until its primary endpoint takes a write again (p50, p99, max over the groups), the endpoint being a DNS
//!   name (`--dns-zone`) resolved afresh through the daemon's DNS server at every attempt;
//! - the time until it is whole again: its lost node replaced on another host, started and synced, the group
//!   `available` (p50, p99, max, and when the last one was).
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench hosts`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use redis::AsyncCommands;

/// 300 nodes: the daemon's node quota.
const GROUPS: usize = 100;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (d, dns) = daemon_with_names("warn", "bench.internal");
    let mut agents: Vec<Agent> = [("us-east-1a", 81u8), ("us-east-1b", 82), ("us-east-1c", 83)]
        .into_iter()
        .map(|(z, octet)| Agent::join_logging(&[&d], z, octet, &join_token(&d, None), "warn"))
        .collect();
    let c = d.client();
    let started = Instant::now();
    for i in 0..GROUPS {
        c.create_replication_group()
            .replication_group_id(format!("h{i:03}"))
            .replication_group_description("bench")
            .num_cache_clusters(3)
            .automatic_failover_enabled(true)
            .multi_az_enabled(true)
            .send()
            .await
            .expect("create");
    }
    let mut primaries = Vec::new();
    for i in 0..GROUPS {
        let g = wait_available(&c, &format!("h{i:03}"), Duration::from_secs(600)).await;
        primaries.push(
            g.node_groups()[0]
                .primary_endpoint()
                .expect("primary")
                .clone(),
        );
    }
    println!(
        "hosts: {GROUPS} groups of 3 nodes on 3 hosts created and available in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for ep in &primaries {
        let url = named_url(dns, ep).await.expect("the primary name");
        let mut p = redis_conn(&url).await;
        let _: () = p.set("k", "v").await.expect("set");
    }

    let lost_at = Instant::now();
    agents[0].lose();
    // Each group watched on its own: writable again, then whole again.
    let mut tasks = Vec::new();
    for (i, ep) in primaries.into_iter().enumerate() {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let writable = loop {
                if let Ok(url) = named_url(dns, &ep).await {
                    if let Ok(mut p) =
                        redis_conn_with_timeout(&url, Duration::from_millis(300)).await
                    {
                        let r: redis::RedisResult<()> = p.set("after", "loss").await;
                        if r.is_ok() {
                            break lost_at.elapsed();
                        }
                    }
                }
                assert!(
                    lost_at.elapsed() < Duration::from_secs(300),
                    "h{i:03} never writable"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let id = format!("h{i:03}");
            let whole = loop {
                let g = describe_group(&c, &id).await;
                let events = event_messages(&c, &format!("{id}-001")).await;
                let replaced = events.iter().any(|e| e.contains("replaced"))
                    && events.iter().any(|e| e.contains("Finished recovery"));
                if g.status() == Some("available") && replaced {
                    break lost_at.elapsed();
                }
                assert!(
                    lost_at.elapsed() < Duration::from_secs(600),
                    "{id} never whole"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            (writable, whole)
        }));
    }
    let (mut writable, mut whole) = (Vec::new(), Vec::new());
    for t in tasks {
        let (w, h) = t.await.expect("task");
        writable.push(w);
        whole.push(h);
    }
    writable.sort();
    whole.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "hosts: the host of every primary lost ({GROUPS} groups): writable again p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; \
         whole again (the lost node replaced on another host and synced) p50 {:.1} s, p99 {:.1} s, max {:.1} s",
        ms(percentile(&writable, 0.5)),
        ms(percentile(&writable, 0.99)),
        ms(writable[writable.len() - 1]),
        percentile(&whole, 0.5).as_secs_f64(),
        percentile(&whole, 0.99).as_secs_f64(),
        whole[whole.len() - 1].as_secs_f64(),
    );
    for i in 0..GROUPS {
        let _ = c
            .delete_replication_group()
            .replication_group_id(format!("h{i:03}"))
            .send()
            .await;
    }
    for i in 0..GROUPS {
        wait_deleted(&c, &format!("h{i:03}"), Duration::from_secs(300)).await;
    }
    drop(agents);
}
