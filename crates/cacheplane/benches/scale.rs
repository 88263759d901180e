//! Benchmark of issue 13, printed as figures (never asserted): every long workflow at about 1 GB and 4 GB of data
//! (`SCALE_BENCH_GB`, default `1,4`; 3,600,000 keys of 200 bytes a GB), time to `available`, against the raw engine
//! doing the same work in the same run, and how each time grows with the data.
//!
//! The raw engine is `redis-server` of the same build, configured as Cacheplane's nodes are where it matters
//! (disk-based full sync, no RDB saves; a replica persists with an append-only file, fsync every second, so it
//! rewrites that file after a full sync as Cacheplane's nodes do): its start loading the RDB until it answers
//! `PING`, a clean stop (`SIGTERM` until exit), a `REPLICAOF` full sync until the link is up, a `BGSAVE` until
//! written. Each workflow is compared with what it does:
//!
//! | workflow | raw counterpart |
//! |---|---|
//! | snapshot, final snapshot on delete | `BGSAVE` |
//! | restore into 3 nodes | load + 2 replicas' full syncs at once |
//! | failover (until the old primary is back with every key) | load + full sync |
//! | reboot of the primary | stop + load |
//! | rolling upgrade 6.2 → 7.0 of 3 nodes | 3 × (stop + load + full sync) on 7.0 |
//! | replica add | full sync |
//! | migration into 2 nodes (until `CompleteMigration` is accepted and the group `available`) | a chain: source → replica → its replica |
//!
//! Each workflow starts on a quiet group: no node still writing an append-only file or an RDB left from the one
//! before (Redis delays a full sync's `BGSAVE` behind a rewrite in progress).
//!
//! Needs `CACHEPLANE_TEST_REDIS_6` (a Redis 6.2, as `scripts/bench.sh` sets it). At 4 GB the run holds up to
//! about 18 GB of data at once; it takes some 25 minutes on a 2-core machine.
//! Run with `scripts/bench.sh` or `cargo bench --bench scale`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::Client;
use common::dataset::{assert_holds, fill};
use common::*;

const KEYS_PER_GB: u64 = 3_600_000;
const LONG: Duration = Duration::from_secs(3600);

/// A `redis-server` outside Cacheplane.
struct Raw(PlainRedis);

impl std::ops::Deref for Raw {
    type Target = PlainRedis;
    fn deref(&self) -> &PlainRedis {
        &self.0
    }
}

impl Raw {
    /// Starts `binary` in a new directory holding `rdb` (if any) as `dump.rdb`; returns once it accepts
    /// connections (it may still be loading).
    /// `aof`: persist as Cacheplane's nodes do (an append-only file, fsync every second), as a replica does here.
    fn start(binary: &Path, rdb: Option<&Path>, aof: bool) -> Raw {
        let dir = tempfile::tempdir().expect("dir");
        if let Some(rdb) = rdb {
            std::fs::copy(rdb, dir.path().join("dump.rdb")).expect("copy rdb");
        }
        Raw(PlainRedis::launch(
            binary,
            free_port(),
            dir,
            &[
                "--repl-diskless-sync",
                "no",
                "--appendfsync",
                "everysec",
                "--appendonly",
                if aof { "yes" } else { "no" },
            ],
        ))
    }

    /// Waits until it answers `PING` (no longer `-LOADING`).
    async fn wait_loaded(&self) {
        let deadline = Instant::now() + LONG;
        loop {
            if let Ok(mut c) = redis_conn_with_timeout(&self.url(), Duration::from_secs(5)).await {
                let r: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
                if r.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "raw redis never loaded");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn info(&self, section: &str) -> String {
        let mut c = redis_conn_with_timeout(&self.url(), Duration::from_secs(60))
            .await
            .expect("connect");
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut c)
            .await
            .unwrap_or_default()
    }
}

/// What the raw engine takes for each kind of work on one dataset.
#[derive(Debug, Clone, Copy)]
struct RawTimes {
    load: Duration,
    shutdown: Duration,
    sync: Duration,
    sync_two: Duration,
    /// A chain: the loaded node → a replica (which rewrites its append-only file after the sync) → its replica.
    chain: Duration,
    bgsave: Duration,
}

/// Times the raw `binary` loading `rdb`, one full sync, two full syncs at once, and a `BGSAVE`.
async fn raw_times(binary: &Path, rdb: &Path) -> RawTimes {
    let t = Instant::now();
    let primary = Raw::start(binary, Some(rdb), false);
    primary.wait_loaded().await;
    let load = t.elapsed();
    let sync_into = |n: usize| {
        let primary_port = primary.port;
        async move {
            let replicas: Vec<Raw> = (0..n).map(|_| Raw::start(binary, None, true)).collect();
            let t = Instant::now();
            for r in &replicas {
                let mut c = redis_conn(&r.url()).await;
                let _: String = redis::cmd("REPLICAOF")
                    .arg("127.0.0.1")
                    .arg(primary_port)
                    .query_async(&mut c)
                    .await
                    .expect("replicaof");
            }
            for r in &replicas {
                let deadline = Instant::now() + LONG;
                while !r
                    .info("replication")
                    .await
                    .contains("master_link_status:up")
                {
                    assert!(Instant::now() < deadline, "raw sync never finished");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            t.elapsed()
        }
    };
    let sync = sync_into(1).await;
    let sync_two = sync_into(2).await;
    let chain = {
        let first = Raw::start(binary, None, true);
        let second = Raw::start(binary, None, true);
        let replicaof = |r: &Raw, port: u16| {
            let url = r.url();
            async move {
                let mut c = redis_conn(&url).await;
                let _: String = redis::cmd("REPLICAOF")
                    .arg("127.0.0.1")
                    .arg(port)
                    .query_async(&mut c)
                    .await
                    .expect("replicaof");
            }
        };
        replicaof(&second, first.port).await;
        let t = Instant::now();
        replicaof(&first, primary.port).await;
        let deadline = Instant::now() + LONG;
        loop {
            let first_up = first
                .info("replication")
                .await
                .contains("master_link_status:up");
            let second_up = second
                .info("replication")
                .await
                .contains("master_link_status:up");
            if first_up && second_up {
                let keys = second.info("keyspace").await;
                if keys.contains("db0:keys=") {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "raw chain never synced");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        t.elapsed()
    };
    let t = Instant::now();
    let mut c = redis_conn(&primary.url()).await;
    let _: String = redis::cmd("BGSAVE")
        .query_async(&mut c)
        .await
        .expect("bgsave");
    tokio::time::sleep(Duration::from_millis(2)).await;
    while primary
        .info("persistence")
        .await
        .contains("rdb_bgsave_in_progress:1")
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let bgsave = t.elapsed();
    // A clean stop of the loaded node (SIGTERM until it has exited).
    let mut primary = primary;
    let t = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &primary.child.id().to_string()])
        .status();
    let _ = primary.0.child.wait();
    let shutdown = t.elapsed();
    RawTimes {
        load,
        shutdown,
        sync,
        sync_two,
        chain,
        bgsave,
    }
}

/// Waits until group `id` is `available` and every member holds the `n` keys; returns when that was.
async fn settled(c: &Client, id: &str, n: u64) -> aws_sdk_elasticache::types::ReplicationGroup {
    let g = wait_available(c, id, LONG).await;
    for (member, _, url) in members_of(&g) {
        assert_holds(&format!("{id}: {member}"), &url, n).await;
    }
    g
}

/// Waits until no node of group `id` is writing an append-only file or an RDB file (work a previous workflow
/// left running in the background).
async fn quiet(d: &Daemon, c: &Client, id: &str) {
    let g = describe_group(c, id).await;
    for (member, _, _) in members_of(&g) {
        let admin = node_admin(d, &member);
        let deadline = Instant::now() + LONG;
        loop {
            let mut conn = client_conn_with_timeout(&admin, Duration::from_secs(60))
                .await
                .expect("admin");
            let info: String = redis::cmd("INFO")
                .arg("persistence")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("rdb_bgsave_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                break;
            }
            assert!(Instant::now() < deadline, "{member} never quiet");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One row of the results: a workflow's time and its raw counterpart's.
struct Row {
    workflow: &'static str,
    ours: Duration,
    raw: Option<(Duration, &'static str)>,
}

async fn run(gb: f64, binary6: &Path, binary7: &Path) -> Vec<Row> {
    let n = (gb * KEYS_PER_GB as f64) as u64;
    let mut rows = Vec::new();
    let d = Daemon::start_with_args(
        "warn",
        &[
            "--engine-binary",
            &binary7.display().to_string(),
            "--engine-binary",
            &binary6.display().to_string(),
        ],
    );
    let c = d.client();
    let g = create_one_node(&c, "src", "cache.r6g.xlarge", "6.2", LONG).await;
    let url = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let t = Instant::now();
    fill(&url, n).await;
    let mut conn = redis_conn(&url).await;
    let mem: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .expect("info");
    let used = mem
        .lines()
        .find_map(|l| l.trim().strip_prefix("used_memory_human:"))
        .unwrap_or("?")
        .to_string();
    println!(
        "\n== {gb} GB: {n} keys of 200 bytes, {used} in memory (written in {:.1} s)",
        t.elapsed().as_secs_f64()
    );

    // Snapshot (6.2), once the node has finished rewriting the append-only file the writes above grew.
    quiet(&d, &c, "src").await;
    let t = Instant::now();
    c.create_snapshot()
        .replication_group_id("src")
        .snapshot_name("snap")
        .send()
        .await
        .expect("snapshot");
    wait_snapshot_within(&c, "snap", LONG).await;
    let snapshot = t.elapsed();
    c.delete_replication_group()
        .replication_group_id("src")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "src", LONG).await;
    let rdb = snapshot_file(&d, "snap");
    let raw6 = raw_times(binary6, &rdb).await;
    let raw7 = raw_times(binary7, &rdb).await;
    println!("raw 6.2: {raw6:?}\nraw 7.0: {raw7:?}");
    rows.push(Row {
        workflow: "snapshot",
        ours: snapshot,
        raw: Some((raw6.bgsave, "BGSAVE")),
    });

    // Restore into 3 nodes (6.2).
    let t = Instant::now();
    c.create_replication_group()
        .replication_group_id("big")
        .replication_group_description("restored")
        .num_cache_clusters(3)
        .cache_node_type("cache.r6g.xlarge")
        .engine_version("6.2")
        .snapshot_name("snap")
        .send()
        .await
        .expect("restore");
    let g = settled(&c, "big", n).await;
    rows.push(Row {
        workflow: "restore into 3 nodes",
        ours: t.elapsed(),
        raw: Some((raw6.load + raw6.sync_two, "load + 2 syncs")),
    });

    // Planned switchover.
    quiet(&d, &c, "big").await;
    let t = Instant::now();
    switch_over_to_a_replica(&c, "big", &g, LONG).await;
    let g = settled(&c, "big", n).await;
    rows.push(Row {
        workflow: "planned switchover",
        ours: t.elapsed(),
        raw: None,
    });

    // Failover after SIGKILL, until the old primary is back with every key.
    enable_automatic_failover(&c, "big", LONG).await;
    quiet(&d, &c, "big").await;
    let t = Instant::now();
    kill_primary_until_failed_over(&d, &c, "big", &g, LONG).await;
    let promoted = t.elapsed();
    let g = settled(&c, "big", n).await;
    println!(
        "failover: a replica promoted after {} ms",
        promoted.as_millis()
    );
    rows.push(Row {
        workflow: "failover, old primary back",
        ours: t.elapsed(),
        raw: Some((raw6.load + raw6.sync, "load + sync")),
    });

    // Reboot of the primary, until it is no longer rebooting and answers with every key.
    quiet(&d, &c, "big").await;
    let primary = current_primary(&g);
    assert!(!primary.is_empty(), "no member reports itself primary");
    let t = Instant::now();
    c.reboot_cache_cluster()
        .cache_cluster_id(&primary)
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    let mut seen = false;
    loop {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(&primary)
            .send()
            .await
            .expect("describe");
        let rebooting =
            cc.cache_clusters()[0].cache_cluster_status() == Some("rebooting cluster nodes");
        if rebooting {
            seen = true;
        } else if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rebooted = t.elapsed();
    settled(&c, "big", n).await;
    rows.push(Row {
        workflow: "reboot of the primary",
        ours: rebooted,
        raw: Some((raw6.shutdown + raw6.load, "stop + load")),
    });

    // Rolling upgrade 6.2 → 7.0.
    quiet(&d, &c, "big").await;
    let t = Instant::now();
    c.modify_replication_group()
        .replication_group_id("big")
        .engine_version("7.0")
        .apply_immediately(true)
        .send()
        .await
        .expect("upgrade");
    wait_group(&c, "big", LONG, "upgraded", |g| {
        g.status() == Some("available")
    })
    .await;
    settled(&c, "big", n).await;
    rows.push(Row {
        workflow: "rolling upgrade, 3 nodes",
        ours: t.elapsed(),
        raw: Some((
            3 * (raw7.shutdown + raw7.load + raw7.sync),
            "3 × (stop + load + sync)",
        )),
    });

    // A replica added.
    quiet(&d, &c, "big").await;
    let t = Instant::now();
    c.increase_replica_count()
        .replication_group_id("big")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("add");
    settled(&c, "big", n).await;
    rows.push(Row {
        workflow: "replica add",
        ours: t.elapsed(),
        raw: Some((raw7.sync, "sync")),
    });

    // Delete with a final snapshot.
    quiet(&d, &c, "big").await;
    let t = Instant::now();
    c.delete_replication_group()
        .replication_group_id("big")
        .final_snapshot_identifier("final")
        .send()
        .await
        .expect("delete");
    // The final snapshot appears once the delete's first step has begun taking it.
    while c
        .describe_snapshots()
        .snapshot_name("final")
        .send()
        .await
        .is_err()
    {
        assert!(t.elapsed() < LONG, "no final snapshot");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_snapshot_within(&c, "final", LONG).await;
    rows.push(Row {
        workflow: "final snapshot on delete",
        ours: t.elapsed(),
        raw: Some((raw7.bgsave, "BGSAVE")),
    });
    wait_deleted(&c, "big", LONG).await;

    // Migration from a Redis outside Cacheplane into 2 nodes.
    let source = Raw::start(binary7, Some(&rdb), false);
    source.wait_loaded().await;
    c.create_replication_group()
        .replication_group_id("mig")
        .replication_group_description("target")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .cache_node_type("cache.r6g.xlarge")
        .send()
        .await
        .expect("target");
    wait_available(&c, "mig", LONG).await;
    quiet(&d, &c, "mig").await;
    let t = Instant::now();
    c.start_migration()
        .replication_group_id("mig")
        .customer_node_endpoint_list(
            aws_sdk_elasticache::types::CustomerNodeEndpoint::builder()
                .address("127.0.0.1")
                .port(i32::from(source.port))
                .build(),
        )
        .send()
        .await
        .expect("start migration");
    loop {
        match c
            .complete_migration()
            .replication_group_id("mig")
            .send()
            .await
        {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    t.elapsed() < LONG,
                    "never in sync: {:?}",
                    e.code().map(str::to_string)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    settled(&c, "mig", n).await;
    rows.push(Row {
        workflow: "migration into 2 nodes",
        ours: t.elapsed(),
        raw: Some((raw7.chain, "chained syncs")),
    });
    let _ = c
        .delete_replication_group()
        .replication_group_id("mig")
        .send()
        .await;
    wait_deleted(&c, "mig", LONG).await;
    drop(source);
    for s in ["snap", "final"] {
        let _ = c.delete_snapshot().snapshot_name(s).send().await;
    }
    print_rows(gb, &rows);
    rows
}

fn print_rows(gb: f64, rows: &[Row]) {
    println!(
        "{:<30} {:>10} {:>10}  {:>6}  raw counterpart",
        "workflow", "Cacheplane", "raw", "ratio"
    );
    for r in rows {
        match r.raw {
            Some((raw, what)) => println!(
                "{:<30} {:>9.2}s {:>9.2}s  {:>5.2}×  {what} ({gb} GB)",
                r.workflow,
                r.ours.as_secs_f64(),
                raw.as_secs_f64(),
                r.ours.as_secs_f64() / raw.as_secs_f64()
            ),
            None => println!(
                "{:<30} {:>9.2}s {:>10}  {:>6}  none (no data moves)",
                r.workflow,
                r.ours.as_secs_f64(),
                "-",
                "-"
            ),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let binary6 = PathBuf::from(std::env::var("CACHEPLANE_TEST_REDIS_6").expect(
        "CACHEPLANE_TEST_REDIS_6 must name a redis-server 6.2: run scripts/bench.sh, which installs it",
    ));
    let binary7 = engine::binary::find_on_path().expect("redis-server on PATH");
    let sizes: Vec<f64> = std::env::var("SCALE_BENCH_GB")
        .unwrap_or_else(|_| "1,4".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut all = Vec::new();
    for gb in &sizes {
        all.push((*gb, run(*gb, &binary6, &binary7).await));
    }
    if let [(small, a), .., (large, b)] = all.as_slice() {
        let data = large / small;
        println!(
            "\ngrowth from {small} GB to {large} GB (the data grew {data:.1}×), Cacheplane's against the raw engine's doing the same:"
        );
        for (x, y) in a.iter().zip(b) {
            let ours = y.ours.as_secs_f64() / x.ours.as_secs_f64();
            match (x.raw, y.raw) {
                (Some((rx, _)), Some((ry, _))) => {
                    let raw = ry.as_secs_f64() / rx.as_secs_f64();
                    println!(
                        "{:<30} {:>6.2}× (raw engine {:>5.2}×): {}",
                        x.workflow,
                        ours,
                        raw,
                        if ours <= (data.max(raw)) * 1.1 {
                            "grows no faster than the data or the raw engine"
                        } else {
                            "GROWS FASTER than the data and the raw engine"
                        }
                    );
                }
                _ => println!("{:<30} {:>6.2}×", x.workflow, ours),
            }
        }
    }
}
