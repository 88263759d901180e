//! Benchmark of issue 5, printed as figures (never asserted): online migration of 1,000,000 keys (≈100-byte
//! values, `DEBUG POPULATE`) from a plain `redis-server`:
//! 1. time from `StartMigration` to in-sync (the target's primary linked to the source and at its replication
//!    offset), against a plain `REPLICAOF` of a `redis-server` configured as Cacheplane's nodes are (AOF on) from
//!    the same source, alternating, 3 trials each, medians and their ratio; also when every node of the target
//!    holds the data;
//! 2. time from `CompleteMigration` to `available`.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench migration`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_elasticache::types::CustomerNodeEndpoint;
use common::*;

const KEYS: u64 = 1_000_000;
const TRIALS: usize = 3;

async fn info(url: &str) -> HashMap<String, String> {
    let mut c = redis_conn(url).await;
    let text: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut c)
        .await
        .expect("info");
    text.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Polls `replica` until its link is up and it has applied `goal` bytes of the stream.
async fn wait_in_sync(replica: &str, goal: i64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(mut c) = redis_conn_with_timeout(replica, Duration::from_secs(1)).await {
            let text: redis::RedisResult<String> = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut c)
                .await;
            if let Ok(text) = text {
                let up = text.contains("master_link_status:up");
                let offset = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("slave_repl_offset:"))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(-1);
                if up && offset >= goal {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "{replica} never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_keys(url: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(mut c) = redis_conn_with_timeout(url, Duration::from_secs(1)).await {
            let n: redis::RedisResult<u64> = redis::cmd("DBSIZE").query_async(&mut c).await;
            if n.ok() == Some(want) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never held {want} keys");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    // The source: diskless sync without the default 5 s wait for more replicas, so the figures measure the
    // transfer rather than the wait.
    let source = PlainRedis::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let mut s = redis_conn(&source.url()).await;
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(KEYS)
        .arg("key")
        .arg(100)
        .query_async(&mut s)
        .await
        .expect("populate");
    let goal: i64 = info(&source.url()).await["master_repl_offset"]
        .parse()
        .expect("offset");

    let d = Daemon::start_logging("warn");
    let c = d.client();
    let ep = CustomerNodeEndpoint::builder()
        .address("127.0.0.1")
        .port(i32::from(source.port))
        .build();

    let (mut plain, mut migration, mut all_nodes, mut complete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        // Plain replication: a fresh redis-server with the nodes' persistence settings.
        let baseline = PlainRedis::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
        let mut b = redis_conn(&baseline.url()).await;
        let t = Instant::now();
        let _: () = redis::cmd("REPLICAOF")
            .arg("127.0.0.1")
            .arg(source.port)
            .query_async(&mut b)
            .await
            .expect("replicaof");
        wait_in_sync(&baseline.url(), goal).await;
        plain.push(t.elapsed());
        drop(baseline);

        // The same through Cacheplane, into a new (empty) 2-node target, as the baseline is new and empty.
        let id = format!("bench-mig-{trial}");
        c.create_replication_group()
            .replication_group_id(&id)
            .replication_group_description("migration bench")
            .num_cache_clusters(2)
            .cache_node_type("cache.m5.large")
            .automatic_failover_enabled(true)
            .multi_az_enabled(true)
            .send()
            .await
            .expect("create");
        let g = wait_available(&c, &id, Duration::from_secs(60)).await;
        let members = members_of(&g);
        let (primary, replica) = (members[0].2.clone(), members[1].2.clone());
        let t = Instant::now();
        c.start_migration()
            .replication_group_id(&id)
            .customer_node_endpoint_list(ep.clone())
            .send()
            .await
            .expect("start migration");
        wait_in_sync(&primary, goal).await;
        migration.push(t.elapsed());
        wait_keys(&replica, KEYS).await;
        all_nodes.push(t.elapsed());

        let t = Instant::now();
        c.complete_migration()
            .replication_group_id(&id)
            .send()
            .await
            .expect("complete migration");
        wait_available(&c, &id, Duration::from_secs(60)).await;
        complete.push(t.elapsed());
        c.delete_replication_group()
            .replication_group_id(&id)
            .send()
            .await
            .expect("delete");
        wait_deleted(&c, &id, Duration::from_secs(60)).await;
    }
    let (p, m) = (median(&mut plain), median(&mut migration));
    println!(
        "migration of {KEYS} keys (100-byte values): StartMigration to in-sync median {} (all: {}) vs plain REPLICAOF median {} (all: {}) = {:.2}x; every target node holding the data: median {}",
        ms(m),
        migration.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", "),
        ms(p),
        plain.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", "),
        m.as_secs_f64() / p.as_secs_f64(),
        ms(median(&mut all_nodes)),
    );
    println!(
        "CompleteMigration to available: median {} (all: {})",
        ms(median(&mut complete)),
        complete
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
