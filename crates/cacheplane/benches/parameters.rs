//! Benchmark of issue 16, printed as figures (never asserted): a change to a cache parameter group used by 20
//! replication groups of 3 nodes (60 nodes), timed from the `ModifyCacheParameterGroup` answer until every member
//! cluster reports `ParameterApplyStatus` `in-sync` (one `DescribeCacheClusters` of all of them, polled), and until
//! every node shows the new `maxmemory-policy` in `INFO memory` (what a client sees). Five changes, alternating
//! the policy; median and worst. Run with `scripts/bench.sh` or `cargo bench --bench parameters`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use aws_sdk_elasticache::types::ParameterNameValue;
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let d = Daemon::start_logging("warn");
    let c = d.client();
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
        median(to_sync.clone()).as_secs_f64() * 1e3,
        to_sync.iter().max().expect("runs").as_secs_f64() * 1e3,
        median(to_nodes.clone()).as_secs_f64() * 1e3,
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
