//! Benchmarks of issue 15, printed as figures (never asserted):
//! 1. rolling `redis` → `valkey` (`ModifyReplicationGroup` `Engine`/`EngineVersion`) of a 3-node group holding
//!    1,000,000 keys, under an `INCR` writer on the primary endpoint: total time to `available`, the longest pause
//!    between two acknowledged writes, and acknowledged writes lost (goal as the Redis-to-Redis rolling upgrade:
//!    pause < 50 ms, 0 lost).
//!
//! Needs `CACHEPLANE_VALKEY_9_1` (set by `scripts/bench.sh`). Run with `scripts/bench.sh` or
//! `cargo bench --bench engines`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;

const ID: &str = "bench-valkey";
const KEYS: usize = 1_000_000;

/// Waits until every replica of the group reports its link up (`master_link_status:up`).
async fn replicas_linked(c: &aws_sdk_elasticache::Client) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let g = describe_group(c, ID).await;
        let mut linked = true;
        for (_, role, url) in members_of(&g) {
            if role != "replica" {
                continue;
            }
            let mut n = redis_conn(&url).await;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut n)
                .await
                .expect("info");
            linked &= info.contains("master_link_status:up");
        }
        if linked {
            return;
        }
        assert!(Instant::now() < deadline, "replicas never linked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    if std::env::var("CACHEPLANE_VALKEY_9_1").is_err() {
        println!("redis -> valkey skipped: set CACHEPLANE_VALKEY_9_1 (scripts/bench.sh does)");
        return;
    }
    let d = Daemon::start_with_engines(&["CACHEPLANE_VALKEY_9_1"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id(ID)
        .replication_group_description("redis to valkey bench")
        .num_cache_clusters(3)
        .cache_node_type("cache.m5.large")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, ID, Duration::from_secs(60)).await;
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&endpoint).await;
    for chunk in 0..KEYS / 10_000 {
        let mut pipe = redis::pipe();
        for i in 0..10_000 {
            pipe.set(format!("key:{chunk}:{i}"), format!("value-{i:0>32}"))
                .ignore();
        }
        let _: () = pipe.query_async(&mut p).await.expect("keys");
    }
    replicas_linked(&c).await;
    let writer = Writer::start(endpoint.clone(), "counter");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    c.modify_replication_group()
        .replication_group_id(ID)
        .engine("valkey")
        .engine_version("9.1")
        .apply_immediately(true)
        .send()
        .await
        .expect("move to valkey");
    let g = wait_group(&c, ID, Duration::from_secs(600), "moved", |g| {
        g.status() == Some("available")
    })
    .await;
    let total = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = writer.stop().await;
    let mut p = redis_conn(&endpoint).await;
    let size: i64 = redis::cmd("DBSIZE")
        .query_async(&mut p)
        .await
        .expect("dbsize");
    println!(
        "redis 7.0 -> valkey 9.1, 3 nodes with {KEYS} keys: {:.2} s to available (engine now {}); longest write pause {:.0} ms; acknowledged writes lost: {}; keys after: {}",
        total.as_secs_f64(),
        g.engine().unwrap_or_default(),
        log.longest_pause().as_secs_f64() * 1e3,
        log.lost(),
        size - 1
    );
}
