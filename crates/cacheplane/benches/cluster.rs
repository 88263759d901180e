//! Benchmark of issue 14 (cluster mode enabled), printed as figures (never asserted):
//! 1. create time of 3 node groups × 2 replicas, until `available`, 5 trials;
//! 2. failover gap per node group: `SIGKILL` of one node group's primary under a cluster client's writes to every
//!    node group, until that node group takes writes again, and the longest pause of the others, 10 trials;
//! 3. resharding throughput: 1,000,000 keys of 100 bytes, 3 → 4 node groups (1 replica each), keys moved per second,
//!    against `redis-cli --cluster rebalance --cluster-use-empty-masters --cluster-pipeline 1000` on an identical
//!    cluster (the same `redis-server`, the same persistence: append-only file, fsync every second; 1 replica per
//!    primary) in the same run, as a ratio; with the latency of a concurrent cluster client's commands during each;
//! 4. a snapshot of the resharded group (4 node groups, 1,000,000 keys) restored into 3 node groups: keys placed by
//!    slot per second, from the request to `available`;
//! 5. `ClusterMode` disabled → compatible → enabled of 3 nodes holding 100,000 keys under a writer on the primary
//!    endpoint: the time of each step, the writer's longest pause and its lost writes.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench cluster`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::*;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redis::AsyncCommands;

const KEYS: u64 = 1_000_000;
const VALUE: usize = 100;

/// Writes `KEYS` keys of `VALUE` bytes through the cluster client, many in flight.
async fn load(url: &str) {
    let cc = cluster_conn(url).await;
    let value = "v".repeat(VALUE);
    let all: Vec<u64> = (0..KEYS).collect();
    for chunk in all.chunks(50_000) {
        let mut set = tokio::task::JoinSet::new();
        for part in chunk.chunks(500) {
            let (mut conn, part, value) = (cc.clone(), part.to_vec(), value.clone());
            set.spawn(async move {
                for i in part {
                    conn.set::<_, _, ()>(format!("key:{i}"), &value).await?;
                }
                Ok::<_, redis::RedisError>(())
            });
        }
        while let Some(r) = set.join_next().await {
            r.expect("task").expect("set");
        }
    }
}

/// A cluster client's commands (a `SET` then a `GET`) until stopped: their latencies.
struct Probe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(Vec<Duration>, usize)>,
}

impl Probe {
    async fn start(url: &str) -> Self {
        let mut conn = cluster_conn(url).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            let mut i = 0u64;
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                let r: redis::RedisResult<()> = conn.set(format!("probe:{}", i % 10_000), i).await;
                let g: redis::RedisResult<Option<String>> =
                    conn.get(format!("key:{}", (i * 7919) % KEYS)).await;
                if r.is_err() || g.is_err() {
                    errors += 1;
                }
                lat.push(t.elapsed());
                i += 1;
            }
            (lat, errors)
        });
        Self { stop, task }
    }

    async fn stop(self) -> String {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (mut lat, errors) = self.task.await.expect("probe");
        lat.sort();
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        format!(
            "{} commands, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {errors} errors",
            lat.len() * 2,
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

async fn create_time(c: &aws_sdk_elasticache::Client) {
    let mut times = Vec::new();
    for i in 0..5 {
        let id = format!("create-{i}");
        let t = Instant::now();
        c.create_replication_group()
            .replication_group_id(&id)
            .replication_group_description("bench")
            .num_node_groups(3)
            .replicas_per_node_group(2)
            .send()
            .await
            .expect("create");
        wait_available(c, &id, Duration::from_secs(60)).await;
        times.push(t.elapsed());
        c.delete_replication_group()
            .replication_group_id(&id)
            .send()
            .await
            .expect("delete");
        wait_deleted(c, &id, Duration::from_secs(60)).await;
    }
    let each: Vec<String> = times.iter().map(|t| ms(*t)).collect();
    println!(
        "create 3 node groups x 2 replicas (9 nodes) until available: median {} (each: {})",
        ms(median(&mut times.clone())),
        each.join(", ")
    );
    println!(
        "  (a new Redis Cluster primary refuses commands for its first 2 s, Redis's CLUSTER_WRITABLE_DELAY; the \
         group is available once every node serves)"
    );
}

async fn failover_gaps(d: &Daemon, c: &aws_sdk_elasticache::Client) {
    let g = create_sharded(c, "fo", 3, 1).await;
    let url = config_url(&g);
    let mut gaps = Vec::new();
    let mut promoted = Vec::new();
    let mut others_worst = Duration::ZERO;
    for trial in 0..10 {
        // The node group's current primary: the member its slots' node answers as.
        let g = describe_group(c, "fo").await;
        let urls = node_urls(c, &g).await;
        let keys: Vec<String> = g
            .node_groups()
            .iter()
            .map(|n| key_in(&slot_ranges(n.slots().expect("slots")), "fo"))
            .collect();
        let mut probe = cluster_conn(&url).await;
        let victim = g.node_groups()[1]
            .node_group_members()
            .iter()
            .filter_map(|m| m.cache_cluster_id())
            .find(|id| {
                let u = &urls[*id];
                std::process::Command::new("redis-cli")
                    .args(["-u", u, "ROLE"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).starts_with("master"))
                    .unwrap_or(false)
            })
            .expect("a primary")
            .to_string();
        let successor = g.node_groups()[1]
            .node_group_members()
            .iter()
            .filter_map(|m| m.cache_cluster_id())
            .find(|id| *id != victim)
            .map(|id| urls[id].clone())
            .expect("a replica");
        let mut succ = redis_conn(&successor).await;
        let mut writers = Vec::new();
        for k in &keys {
            let mut conn = cluster_conn(&url).await;
            let k = k.clone();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = stop.clone();
            writers.push((
                stop,
                tokio::spawn(async move {
                    let mut acks = Vec::new();
                    while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                        if conn.incr::<_, _, i64>(&k, 1).await.is_ok() {
                            acks.push(Instant::now());
                        }
                    }
                    acks
                }),
            ));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pid = node_pid(d, &victim);
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
        let killed = Instant::now();
        // The control plane's part: until the replica reports itself primary.
        loop {
            let role: Vec<redis::Value> = redis::cmd("ROLE")
                .query_async(&mut succ)
                .await
                .expect("role");
            if matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        promoted.push(killed.elapsed());
        while probe.incr::<_, _, i64>(&keys[1], 0).await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut logs = Vec::new();
        for (stop, h) in writers {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            logs.push(h.await.expect("writer"));
        }
        // The longest pause between two acknowledged writes to the node group from the kill on (a reply already on
        // its way when the primary was killed may arrive after it).
        let gap = logs[1]
            .windows(2)
            .filter(|w| w[1] > killed)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        gaps.push(gap);
        for (i, acks) in logs.iter().enumerate() {
            if i == 1 {
                continue;
            }
            let worst = acks
                .windows(2)
                .filter(|w| w[1] > killed)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or_default();
            others_worst = others_worst.max(worst);
        }
        eprintln!("failover trial {trial}: {} (killed {victim})", ms(gap));
        // The replaced node must have rejoined before the next trial (TestFailover's rule; here the cluster's).
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let each: Vec<String> = gaps.iter().map(|t| ms(*t)).collect();
    println!(
        "failover of one node group (SIGKILL of its primary: the longest pause of a cluster client's writes to it): \
         median {}, max {} (each: {}); the other node groups' longest pause meanwhile: {}",
        ms(median(&mut gaps.clone())),
        ms(*gaps.iter().max().expect("trials")),
        each.join(", "),
        ms(others_worst)
    );
    println!(
        "  of which the control plane's part (SIGKILL → the replica reports itself primary): median {}, max {}",
        ms(median(&mut promoted.clone())),
        ms(*promoted.iter().max().expect("trials"))
    );
}

/// Moves `KEYS` keys' worth of slots 3 → 4 node groups through the API. Returns (keys moved, seconds).
async fn cacheplane_reshard(d: &Daemon, c: &aws_sdk_elasticache::Client) -> (u64, f64) {
    let _ = d;
    let g = create_sharded(c, "rs", 3, 1).await;
    let url = config_url(&g);
    load(&url).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = Probe::start(&url).await;
    let t = Instant::now();
    c.modify_replication_group_shard_configuration()
        .replication_group_id("rs")
        .node_group_count(4)
        .apply_immediately(true)
        .send()
        .await
        .expect("reshard");
    let mut moving_since = None;
    let g = loop {
        let g = describe_group(c, "rs").await;
        let pct = g
            .pending_modified_values()
            .and_then(|p| p.resharding())
            .and_then(|r| r.slot_migration())
            .and_then(|s| s.progress_percentage())
            .unwrap_or(0.0);
        if pct > 0.0 && moving_since.is_none() {
            moving_since = Some(Instant::now());
        }
        if g.status() == Some("available") {
            break g;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let total = t.elapsed();
    let lat = probe.stop().await;
    let urls = node_urls(c, &g).await;
    let new_primary = &urls["rs-0004-001"];
    let mut conn = redis_conn(new_primary).await;
    let moved: u64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .expect("dbsize");
    let moving = moving_since.map(|s| s.elapsed()).unwrap_or(total);
    println!(
        "cacheplane 3 → 4 node groups: {moved} keys moved; {:.1} s from the request to available \
         ({:.0} keys/s), of which {:.1} s moving slots (first progress to available; before: the new node group \
         started and joined): {:.0} keys/s",
        total.as_secs_f64(),
        moved as f64 / total.as_secs_f64(),
        moving.as_secs_f64(),
        moved as f64 / moving.as_secs_f64()
    );
    println!("  a concurrent cluster client meanwhile: {lat}");
    (moved, moving.as_secs_f64())
}

/// Snapshot of group `rs` (after its resharding: 4 node groups), restored into 3 node groups.
async fn restore_by_slot(c: &aws_sdk_elasticache::Client) {
    c.create_snapshot()
        .replication_group_id("rs")
        .snapshot_name("rs-snap")
        .send()
        .await
        .expect("snapshot");
    let t = Instant::now();
    loop {
        let out = c
            .describe_snapshots()
            .snapshot_name("rs-snap")
            .send()
            .await
            .expect("d");
        if out.snapshots()[0].snapshot_status() == Some("available") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let taken = t.elapsed();
    let t = Instant::now();
    c.create_replication_group()
        .replication_group_id("rs3")
        .replication_group_description("restored")
        .num_node_groups(3)
        .replicas_per_node_group(0)
        .snapshot_name("rs-snap")
        .send()
        .await
        .expect("restore");
    let g = wait_available(c, "rs3", Duration::from_secs(600)).await;
    let took = t.elapsed();
    let mut keys = 0u64;
    for url in node_urls(c, &g).await.values() {
        let n: u64 = redis::cmd("DBSIZE")
            .query_async(&mut redis_conn(url).await)
            .await
            .expect("dbsize");
        keys += n;
    }
    println!(
        "snapshot of 4 node groups ({keys} keys) taken in {:.1} s; restored into 3 node groups in {:.1} s from the \
         request to available: {:.0} keys/s placed by slot",
        taken.as_secs_f64(),
        took.as_secs_f64(),
        keys as f64 / took.as_secs_f64()
    );
}

/// `ClusterMode` disabled → compatible → enabled of 3 nodes holding 100,000 keys under a writer.
async fn mode_change(c: &aws_sdk_elasticache::Client) {
    c.create_replication_group()
        .replication_group_id("modes")
        .replication_group_description("mode change")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(c, "modes", Duration::from_secs(60)).await;
    let primary = redis_url(
        g.node_groups()[0]
            .primary_endpoint()
            .expect("primary endpoint"),
    );
    dataset::fill(&primary, 100_000).await;
    let writer = Writer::start(primary, "counter");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut steps = Vec::new();
    for mode in ["compatible", "enabled"] {
        let t = Instant::now();
        c.modify_replication_group()
            .replication_group_id("modes")
            .cluster_mode(mode.into())
            .apply_immediately(true)
            .send()
            .await
            .expect("cluster mode");
        wait_available(c, "modes", Duration::from_secs(300)).await;
        steps.push(format!("to {mode} {:.1} s", t.elapsed().as_secs_f64()));
        if mode == "compatible" {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let log = writer.stop().await;
    println!(
        "ClusterMode of 3 nodes with 100,000 keys under a writer on the primary endpoint: {}; the writer's longest \
         pause during compatible {} ({} writes acknowledged, {} lost; it loses the primary endpoint with enabled)",
        steps.join(", "),
        ms(log.longest_pause()),
        log.acks.len(),
        log.lost()
    );
}

/// A Redis Cluster node outside Cacheplane, configured as Cacheplane's nodes are where it matters here.
fn raw_node(binary: &str, port: u16) -> PlainRedis {
    PlainRedis::launch(
        std::path::Path::new(binary),
        port,
        tempfile::tempdir().expect("dir"),
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
            "--cluster-require-full-coverage",
            "no",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--repl-diskless-sync",
            "no",
            "--protected-mode",
            "no",
        ],
    )
}

/// Free ports whose cluster bus port (+10000) is free too.
fn free_ports(n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    let mut p = 21000u16;
    while out.len() < n {
        p += 1;
        let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        if free(p) && free(p + 10000) {
            out.push(p);
        }
    }
    out
}

fn cli(args: &[&str]) -> String {
    // `--cluster` commands refuse while the nodes do not yet agree about the cluster: try again for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("redis-cli")
            .args(args)
            .output()
            .expect("redis-cli");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).to_string();
        }
        assert!(
            Instant::now() < deadline,
            "redis-cli {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The same move by `redis-cli --cluster rebalance` on an identical cluster. Returns (keys moved, seconds).
async fn redis_cli_rebalance() -> (u64, f64) {
    let binary = std::env::var("CACHEPLANE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
    let ports = free_ports(8);
    let nodes: Vec<PlainRedis> = ports.iter().map(|p| raw_node(&binary, *p)).collect();
    let addr = |i: usize| format!("127.0.0.1:{}", nodes[i].port);
    let mut create = vec!["--cluster".to_string(), "create".to_string()];
    create.extend((0..6).map(addr));
    create.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
    cli(&create.iter().map(String::as_str).collect::<Vec<_>>());
    // The fourth primary and its replica join empty, as Cacheplane's new node group does.
    cli(&["--cluster", "add-node", &addr(6), &addr(0)]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let new_id = loop {
        let id = cli(&["-p", &nodes[6].port.to_string(), "CLUSTER", "MYID"])
            .trim()
            .to_string();
        let known = cli(&["-p", &nodes[0].port.to_string(), "CLUSTER", "NODES"]);
        if known.contains(&id)
            && cli(&["-p", &nodes[6].port.to_string(), "CLUSTER", "INFO"])
                .contains("cluster_known_nodes:7")
        {
            break id;
        }
        assert!(Instant::now() < deadline, "the new node never joined");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Its replica joins by the cluster's own commands (`--cluster add-node --cluster-slave` proved flaky here).
    let (p7, p0) = (nodes[7].port.to_string(), nodes[0].port.to_string());
    cli(&["-p", &p7, "CLUSTER", "MEET", "127.0.0.1", &p0]);
    cli(&["-p", &p7, "CLUSTER", "REPLICATE", &new_id]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let url = format!("redis://{}/", addr(0));
    load(&url).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe = Probe::start(&url).await;
    let t = Instant::now();
    cli(&[
        "--cluster",
        "rebalance",
        &addr(0),
        "--cluster-use-empty-masters",
        "--cluster-pipeline",
        "1000",
    ]);
    let took = t.elapsed();
    let lat = probe.stop().await;
    let mut conn = redis_conn(&format!("redis://{}/", addr(6))).await;
    let moved: u64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .expect("dbsize");
    println!(
        "redis-cli --cluster rebalance (pipeline 1000), identical cluster: {moved} keys moved in {:.1} s: {:.0} keys/s",
        took.as_secs_f64(),
        moved as f64 / took.as_secs_f64()
    );
    println!("  a concurrent cluster client meanwhile: {lat}");
    drop(nodes);
    (moved, took.as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Failover trials one after another: past the default budget of automatic failovers (3 per 10 minutes).
    let d = Daemon::start_with_args("warn", &["--max-automatic-failovers", "1000"]);
    let c = d.client();
    // CLUSTER_BENCH=reshard runs the resharding comparison alone.
    let only_reshard = std::env::var("CLUSTER_BENCH").is_ok_and(|v| v == "reshard");
    if !only_reshard {
        create_time(&c).await;
        failover_gaps(&d, &c).await;
    }
    let (ours, our_s) = cacheplane_reshard(&d, &c).await;
    if !only_reshard {
        restore_by_slot(&c).await;
        mode_change(&c).await;
    }
    drop(c);
    drop(d);
    let (theirs, their_s) = redis_cli_rebalance().await;
    let ratio = (ours as f64 / our_s) / (theirs as f64 / their_s);
    println!(
        "resharding throughput, Cacheplane against redis-cli --cluster rebalance: {ratio:.2}x"
    );
}
