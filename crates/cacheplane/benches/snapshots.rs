//! Benchmarks of issue 7, printed as figures (never asserted):
//! 1. a snapshot of 1,000,000 keys (100-byte values) of a 2-node group: time from `CreateSnapshot` to
//!    `available`, and the longest pause between acknowledged writes of a client writing meanwhile;
//! 2. a restore of that snapshot into a new 3-node group: time from `CreateReplicationGroup` to `available`
//!    (every replica linked and synced), 3 trials.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench snapshots`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;

const KEYS: usize = 1_000_000;
const TRIALS: usize = 3;

async fn fill(url: &str) {
    let mut conn = redis_conn(url).await;
    let value = "v".repeat(100);
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(2000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET").arg(format!("key:{i}")).arg(&value).ignore();
        }
        let _: () = pipe.query_async(&mut conn).await.expect("fill");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let d = Daemon::start_with_args("warn", &["--snapshot-quota", "100"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("bench-snap")
        .replication_group_description("snapshot bench")
        .num_cache_clusters(2)
        .cache_node_type("cache.m5.large")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "bench-snap", Duration::from_secs(60)).await;
    let url = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    fill(&url).await;

    let mut taken = Vec::new();
    let mut pauses = Vec::new();
    for trial in 0..TRIALS {
        let writer = Writer::start(url.clone(), "bench-counter");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let name = format!("bench-snap-{trial}");
        let t = Instant::now();
        c.create_snapshot()
            .replication_group_id("bench-snap")
            .snapshot_name(&name)
            .send()
            .await
            .expect("create snapshot");
        wait_snapshot(&c, &name).await;
        taken.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = writer.stop().await;
        pauses.push(log.longest_pause());
        wait_available(&c, "bench-snap", Duration::from_secs(60)).await;
    }
    println!(
        "snapshot of {KEYS} keys (100-byte values), CreateSnapshot to available ({TRIALS} trials): median {} ms (all: {:?}); longest pause between acknowledged writes meanwhile: median {} ms (all: {:?})",
        median(&mut taken.clone()).as_millis(),
        taken.iter().map(|d| d.as_millis()).collect::<Vec<_>>(),
        median(&mut pauses.clone()).as_millis(),
        pauses.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );

    let mut restores = Vec::new();
    for trial in 0..TRIALS {
        let id = format!("bench-restore-{trial}");
        let t = Instant::now();
        c.create_replication_group()
            .replication_group_id(&id)
            .replication_group_description("restore bench")
            .num_cache_clusters(3)
            .cache_node_type("cache.m5.large")
            .snapshot_name("bench-snap-0")
            .send()
            .await
            .expect("restore");
        let g = wait_available(&c, &id, Duration::from_secs(300)).await;
        restores.push(t.elapsed());
        // Every node holds the data (the figure above already waited for the replicas' links).
        for (_, _, node) in members_of(&g) {
            let mut conn = redis_conn(&node).await;
            let n: usize = redis::cmd("DBSIZE")
                .query_async(&mut conn)
                .await
                .expect("dbsize");
            assert!(n >= KEYS, "{id}: {n} keys");
        }
        c.delete_replication_group()
            .replication_group_id(&id)
            .send()
            .await
            .expect("delete");
        wait_deleted(&c, &id, Duration::from_secs(60)).await;
    }
    println!(
        "restore of that snapshot into a 3-node group, CreateReplicationGroup to available ({TRIALS} trials): median {} ms (all: {:?})",
        median(&mut restores.clone()).as_millis(),
        restores.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
    );
    let _ = c
        .delete_replication_group()
        .replication_group_id("bench-snap")
        .send()
        .await;
    wait_deleted(&c, "bench-snap", Duration::from_secs(60)).await;
}
