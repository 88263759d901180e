//! Benchmarks of issue 15, printed as figures (never asserted):
//! 1. rolling `redis` → `valkey` (`ModifyReplicationGroup` `Engine`/`EngineVersion`) of a 3-node group holding
//!    1,000,000 keys, under an `INCR` writer on the primary endpoint: total time to `available`, the longest pause
//!    between two acknowledged writes, and acknowledged writes lost (goal as the Redis-to-Redis rolling upgrade:
//!    pause < 50 ms, 0 lost).
//!
//! 2. Memcached: the throughput of a cluster's node (through its node address, as clients use it after auto
//!    discovery) against a plain `memcached` started by hand on the same machine with the same binary and memory,
//!    under the same load (a small load tool: connections pipelining `set`/`get` of 32-byte values), in alternating
//!    rounds; the ratio (goal ≥ 0.95). The configuration endpoint's own path (discovery answered, other requests
//!    piped to a node) is measured the same way, for information.
//!
//! Part 1 needs `CACHEPLANE_VALKEY_9_1` (set by `scripts/bench.sh`), part 2 `memcached` on PATH. Run with
//! `scripts/bench.sh` or `cargo bench --bench engines`.

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
    } else {
        redis_to_valkey().await;
    }
    memcached_throughput().await;
}

async fn redis_to_valkey() {
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

/// Connections of the load tool, and the requests each keeps in flight.
const CONNECTIONS: usize = 2;
const PIPELINE: usize = 16;
/// One round of load on one target.
const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 9;

/// Runs the load on `addr` for [`ROUND`]: each connection writes `PIPELINE` requests (alternately `set` and `get`
/// of its keys) and reads their answers, again and again. Returns requests answered per second.
async fn load(addr: std::net::SocketAddr) -> f64 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let until = Instant::now() + ROUND;
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).expect("nodelay");
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            let value = "v".repeat(32);
            let mut done = 0u64;
            let mut line = String::new();
            let mut i = 0u64;
            while Instant::now() < until {
                let mut batch = String::new();
                for k in 0..PIPELINE {
                    let key = format!("c{c}:k{}", (i + k as u64) % 1000);
                    if k % 2 == 0 {
                        batch.push_str(&format!("set {key} 0 0 32\r\n{value}\r\n"));
                    } else {
                        batch.push_str(&format!("get {key}\r\n"));
                    }
                }
                i += PIPELINE as u64;
                w.write_all(batch.as_bytes()).await.expect("write");
                for k in 0..PIPELINE {
                    if k % 2 == 0 {
                        line.clear();
                        r.read_line(&mut line).await.expect("read");
                        assert_eq!(line, "STORED\r\n");
                    } else {
                        // VALUE line, data, END (or END alone on a miss).
                        loop {
                            line.clear();
                            r.read_line(&mut line).await.expect("read");
                            if line == "END\r\n" {
                                break;
                            }
                        }
                    }
                }
                done += PIPELINE as u64;
            }
            done
        }));
    }
    let start = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("load task");
    }
    total as f64 / start.elapsed().as_secs_f64().max(ROUND.as_secs_f64())
}

async fn memcached_throughput() {
    let Some(binary) = engine::memcached::find_binary() else {
        println!("memcached skipped: no memcached on PATH (scripts/setup.sh ensure_memcached installs it)");
        return;
    };
    let d = Daemon::start();
    let c = d.client();
    c.create_cache_cluster()
        .cache_cluster_id("bench-mc")
        .engine("memcached")
        .num_cache_nodes(1)
        .cache_node_type("cache.t3.small")
        .send()
        .await
        .expect("create memcached cluster");
    let deadline = Instant::now() + Duration::from_secs(60);
    let cc = loop {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id("bench-mc")
            .show_cache_node_info(true)
            .send()
            .await
            .expect("describe")
            .cache_clusters()[0]
            .clone();
        if cc.cache_cluster_status() == Some("available") {
            break cc;
        }
        assert!(Instant::now() < deadline, "memcached cluster not available");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at = |e: &aws_sdk_elasticache::types::Endpoint| {
        std::net::SocketAddr::new(
            e.address().expect("address").parse().expect("ip"),
            e.port().expect("port") as u16,
        )
    };
    let node = at(cc.cache_nodes()[0].endpoint().expect("node endpoint"));
    let config = at(cc.configuration_endpoint().expect("configuration endpoint"));
    // The plain memcached: same binary, same memory, its own loopback address.
    let dir = tempfile::tempdir().expect("tempdir");
    let ip = engine::address::allocate(11211, &[node.ip(), config.ip()]).expect("address");
    // The options of the default parameter group, as the node has them.
    let defaults = control::rules::parameters::memcached_defaults("cache.t3.small");
    let plain = engine::memcached::MemcachedNode {
        name: "plain".into(),
        dir: dir.path().join("plain"),
        binary,
        addr: std::net::SocketAddr::new(ip, 11211),
        memory_mib: defaults.memory_mib,
        options: defaults.options,
        extended: defaults.extended,
        tls: None,
        version: String::new(),
        host: None,
    };
    plain.start().await.expect("plain memcached");
    // Rounds alternating which target goes first, so neither gains from the order; the node against the plain
    // memcached first, then (a separate comparison) the configuration endpoint against it.
    let compare = |target: std::net::SocketAddr| {
        let plain = plain.addr;
        async move {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                if round % 2 == 0 {
                    a.push(load(target).await);
                    b.push(load(plain).await);
                } else {
                    b.push(load(plain).await);
                    a.push(load(target).await);
                }
            }
            (median(&mut a), median(&mut b))
        }
    };
    let (n, p) = compare(node).await;
    let (cfg, p2) = compare(config).await;
    plain.stop().await;
    println!(
        "memcached ({CONNECTIONS} connections x {PIPELINE} pipelined set/get of 32 B, {ROUNDS} alternating rounds of {} s, medians): cluster node {n:.0} req/s, plain memcached {p:.0} req/s, ratio {:.3} (goal >= 0.95); through the configuration endpoint {cfg:.0} req/s against plain {p2:.0} ({:.3})",
        ROUND.as_secs(),
        n / p,
        cfg / p2
    );
}
