//! Benchmarks of issue 3, printed as figures (never asserted):
//! 1. failover gap: `SIGKILL` of the primary → first acknowledged write through `PrimaryEndpoint`, 10 trials,
//!    median and max, and acknowledged writes lost per trial;
//! 2. hung-primary gap with `SIGSTOP`, 10 trials; and whether a 0.5 s legitimate stall triggers a failover;
//! 3. endpoint overhead: `redis-benchmark -t set,get` at `-P 16` and `-P 1` through `PrimaryEndpoint` and
//!    directly to the primary node, alternately, as ratios (and the reader endpoint against a replica);
//! 4. planned switchover (`ModifyReplicationGroup` `PrimaryClusterId`), 10 trials: the longest pause between two
//!    acknowledged writes through `PrimaryEndpoint`, median and max, and acknowledged writes lost;
//! 5. rolling engine upgrade 6.2 → 7.0 of a 3-node group holding 100,000 keys (needs `CACHEPLANE_TEST_REDIS_6`,
//!    which `scripts/bench.sh` sets): total time and the longest write pause;
//! 6. a dual-stack group discovering IPv6: its `::1` primary endpoint (a forwarder) against the primary node.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench failover`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const TRIALS: usize = 10;
const GROUP: &str = "bench-ha";

/// Waits until the group is steady: every member reports a role, exactly one is primary, and every replica's
/// link is up. Returns (primary id, primary node url, a replica's node url).
async fn steady(c: &aws_sdk_elasticache::Client) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g = describe_group(c, GROUP).await;
        let members = members_of(&g);
        let primaries: Vec<_> = members.iter().filter(|m| m.1 == "primary").collect();
        let mut ok = primaries.len() == 1 && members.iter().all(|m| !m.1.is_empty());
        let mut replica_url = String::new();
        for (_, role, url) in members.iter().filter(|m| m.1 == "replica") {
            let _ = role;
            replica_url = url.clone();
            let up = match redis_conn_with_timeout(url, Duration::from_millis(500)).await {
                Ok(mut conn) => redis::cmd("INFO")
                    .arg("replication")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|i| i.contains("master_link_status:up"))
                    .unwrap_or(false),
                Err(_) => false,
            };
            ok &= up;
        }
        if ok {
            let (id, _, url) = primaries[0].clone();
            return (id, url, replica_url);
        }
        assert!(Instant::now() < deadline, "group never became steady");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summary(gaps: &mut [Duration]) -> String {
    gaps.sort();
    format!(
        "median {:.0} ms, max {:.0} ms (all: {})",
        gaps[gaps.len() / 2].as_secs_f64() * 1e3,
        gaps[gaps.len() - 1].as_secs_f64() * 1e3,
        gaps.iter()
            .map(|g| format!("{:.0}", g.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

async fn failovers(c: &aws_sdk_elasticache::Client) -> usize {
    event_messages(c, GROUP)
        .await
        .iter()
        .filter(|m| m.starts_with("Failover from"))
        .count()
}

/// One trial: a writer runs, the primary gets `signal`, the gap and the lost writes are measured.
async fn trial(
    d: &Daemon,
    c: &aws_sdk_elasticache::Client,
    endpoint: &str,
    signal: Signal,
) -> (Duration, i64) {
    let (primary, _, _) = steady(c).await;
    let before = failovers(c).await;
    let writer = Writer::start(endpoint.to_string(), "counter");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = node_pid(d, &primary);
    let t = Instant::now();
    kill(Pid::from_raw(pid as i32), signal).expect("signal");
    let deadline = Instant::now() + Duration::from_secs(20);
    while failovers(c).await == before {
        assert!(Instant::now() < deadline, "no failover");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
    let log = writer.stop().await;
    (log.gap_after(t).expect("writes resumed"), log.lost())
}

fn redis_benchmark(url: &str, tests: &str, pipeline: u32) -> (f64, f64) {
    let hostport = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let out = Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "-t", tests, "-n", "200000", "-q"])
        .args(["-P", &pipeline.to_string()])
        .output()
        .expect("redis-benchmark (package redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let rate = |cmd: &str| {
        text.lines()
            .filter(|l| l.starts_with(cmd) && l.contains("requests per second"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .next_back()
            .unwrap_or(0.0)
    };
    (rate("SET:"), rate("GET:"))
}

/// Section 6: a dual-stack group discovering IPv6: its primary endpoint on `::1` is a forwarder (the single IPv6
/// loopback address cannot float), measured against the primary node on `::1`.
async fn dual_stack(c: &aws_sdk_elasticache::Client) {
    c.create_replication_group()
        .replication_group_id("bench-v6")
        .replication_group_description("dual stack")
        .num_cache_clusters(2)
        .network_type(aws_sdk_elasticache::types::NetworkType::DualStack)
        .ip_discovery(aws_sdk_elasticache::types::IpDiscovery::Ipv6)
        .send()
        .await
        .expect("create dual stack");
    let g = wait_available(c, "bench-v6", Duration::from_secs(60)).await;
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let g = wait_group(c, "bench-v6", Duration::from_secs(10), "roles", |g| {
        members_of(g).iter().any(|(_, r, _)| r == "primary")
    })
    .await;
    let (_, _, node) = members_of(&g)
        .into_iter()
        .find(|(_, r, _)| r == "primary")
        .expect("primary");
    for pipeline in [16, 1] {
        compare_endpoint(
            "dual-stack PrimaryEndpoint on ::1 (forwarder) vs primary node on ::1",
            &endpoint,
            &node,
            pipeline,
        );
    }
}

/// `redis-benchmark` SET and GET through `endpoint` and directly to `node`, alternately, 3 runs each; prints the
/// rates and their ratios.
fn compare_endpoint(what: &str, endpoint: &str, node: &str, pipeline: u32) {
    let (mut ep, mut direct) = ((0.0, 0.0), (0.0, 0.0));
    for _ in 0..3 {
        let a = redis_benchmark(endpoint, "set,get", pipeline);
        let b = redis_benchmark(node, "set,get", pipeline);
        ep = (ep.0 + a.0, ep.1 + a.1);
        direct = (direct.0 + b.0, direct.1 + b.1);
    }
    println!(
        "{what}, -P {pipeline} (3 alternating runs each): SET {:.0} vs {:.0} req/s = {:.2}; GET {:.0} vs {:.0} req/s = {:.2}",
        ep.0 / 3.0,
        direct.0 / 3.0,
        ep.0 / direct.0,
        ep.1 / 3.0,
        direct.1 / 3.0,
        ep.1 / direct.1
    );
}

/// Section 5: a rolling engine upgrade under a writer.
async fn rolling_upgrade() {
    if std::env::var("CACHEPLANE_TEST_REDIS_6").is_err() {
        println!("rolling upgrade skipped: set CACHEPLANE_TEST_REDIS_6 to a redis-server 6.2 (scripts/bench.sh does)");
        return;
    }
    let d = Daemon::start_with_two_engines();
    let c = d.client();
    const ID: &str = "bench-upgrade";
    c.create_replication_group()
        .replication_group_id(ID)
        .replication_group_description("upgrade bench")
        .num_cache_clusters(3)
        .engine_version("6.2")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, ID, Duration::from_secs(60)).await;
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&endpoint).await;
    for chunk in 0..10 {
        let mut pipe = redis::pipe();
        for i in 0..10_000 {
            pipe.set(format!("key:{chunk}:{i}"), format!("value-{i:0>32}"))
                .ignore();
        }
        let _: () = pipe.query_async(&mut p).await.expect("keys");
    }
    steady_group(&c, ID).await;
    let writer = Writer::start(endpoint, "counter");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = Instant::now();
    c.modify_replication_group()
        .replication_group_id(ID)
        .engine_version("7.0")
        .apply_immediately(true)
        .send()
        .await
        .expect("upgrade");
    wait_group(&c, ID, Duration::from_secs(300), "upgrade", |g| {
        g.status() == Some("available")
    })
    .await;
    let total = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = writer.stop().await;
    let longest = log.longest_pause();
    println!(
        "rolling upgrade 6.2 -> 7.0 of 3 nodes with 100,000 keys: {:.2} s to available; longest write pause {:.0} ms; acknowledged writes lost: {}",
        total.as_secs_f64(),
        longest.as_secs_f64() * 1e3,
        log.lost()
    );
}

/// Waits until every replica of group `id` is linked.
async fn steady_group(c: &aws_sdk_elasticache::Client, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g = describe_group(c, id).await;
        let mut ok = true;
        for (_, role, url) in members_of(&g) {
            if role != "replica" {
                continue;
            }
            let mut conn = redis_conn(&url).await;
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            ok &= info.contains("master_link_status:up");
        }
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "group never became steady");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Section 4: planned switchovers on a group without automatic failover.
async fn switchovers(c: &aws_sdk_elasticache::Client) {
    const ID: &str = "bench-switch";
    c.create_replication_group()
        .replication_group_id(ID)
        .replication_group_description("switchover bench")
        .num_cache_clusters(3)
        .send()
        .await
        .expect("create");
    let g = wait_available(c, ID, Duration::from_secs(60)).await;
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut gaps = Vec::new();
    let mut lost = Vec::new();
    let mut errors = Vec::new();
    for i in 0..TRIALS {
        let target = format!("{ID}-{:03}", 2 + i % 2);
        let writer = Writer::start(endpoint.clone(), "counter");
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.modify_replication_group()
            .replication_group_id(ID)
            .primary_cluster_id(&target)
            .apply_immediately(true)
            .send()
            .await
            .expect("switchover");
        wait_group(c, ID, Duration::from_secs(30), "switchover", |g| {
            g.status() == Some("available")
                && members_of(g)
                    .iter()
                    .any(|(id, role, _)| *id == target && role == "primary")
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let log = writer.stop().await;
        let longest = log.longest_pause();
        gaps.push(longest);
        lost.push(log.lost());
        // What the writer saw fail (a READONLY answer, the old primary's connection closed, a refused
        // reconnection while the address moved), each followed by a reconnection.
        errors.push(log.errors);
    }
    println!(
        "planned switchover (PrimaryClusterId), longest pause between acknowledged writes ({TRIALS} trials): {}; acknowledged writes lost per trial: {lost:?}; failed writes (then retried) per trial: {errors:?}",
        summary(&mut gaps)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Twenty failovers of one group in a row are the point here: lift the storm bound (3 in 10 minutes).
    let d = Daemon::start_with_args("warn", &["--max-automatic-failovers", "1000"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id(GROUP)
        .replication_group_description("failover bench")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, GROUP, Duration::from_secs(60)).await;
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let reader = redis_url(g.node_groups()[0].reader_endpoint().expect("reader"));

    // 1. SIGKILL.
    let mut gaps = Vec::new();
    let mut lost = Vec::new();
    for _ in 0..TRIALS {
        let (gap, l) = trial(&d, &c, &endpoint, Signal::SIGKILL).await;
        gaps.push(gap);
        lost.push(l);
    }
    println!(
        "failover gap after SIGKILL of the primary ({TRIALS} trials): {}; acknowledged writes lost per trial: {lost:?}",
        summary(&mut gaps)
    );

    // 2. A legitimate 0.5 s stall, then SIGSTOP.
    steady(&c).await;
    let before = failovers(&c).await;
    for _ in 0..5 {
        let mut conn = redis_conn(&endpoint).await;
        let _: i64 = redis::cmd("EVAL")
            .arg(
                "local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] \
                 while true do local n = redis.call('TIME') \
                 if n[1] * 1000000 + n[2] - t0 > 500000 then break end end return 1",
            )
            .arg(0)
            .query_async(&mut conn)
            .await
            .expect("busy script");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "failovers caused by 5 stalls of 0.5 s (a busy script on the primary): {}",
        failovers(&c).await - before
    );
    let mut gaps = Vec::new();
    let mut lost = Vec::new();
    for _ in 0..TRIALS {
        let (gap, l) = trial(&d, &c, &endpoint, Signal::SIGSTOP).await;
        gaps.push(gap);
        lost.push(l);
    }
    println!(
        "hung-primary gap after SIGSTOP ({TRIALS} trials; detection deadline {} ms): {}; acknowledged writes lost per trial: {lost:?}",
        control::runtime::monitor::FAIL_AFTER.as_millis(),
        summary(&mut gaps)
    );

    // 3. Endpoint overhead, alternating endpoint and direct.
    let (_, primary_node, replica_node) = steady(&c).await;
    for pipeline in [16, 1] {
        compare_endpoint(
            "PrimaryEndpoint vs primary node",
            &endpoint,
            &primary_node,
            pipeline,
        );
    }
    switchovers(&c).await;
    rolling_upgrade().await;
    dual_stack(&c).await;

    let (mut ep, mut direct) = (0.0, 0.0);
    for _ in 0..3 {
        ep += redis_benchmark(&reader, "get", 16).1;
        direct += redis_benchmark(&replica_node, "get", 16).1;
    }
    println!(
        "ReaderEndpoint (forwarder) vs a replica node, GET -P 16: {:.0} vs {:.0} req/s = {:.2} (the reader endpoint spreads connections over replicas; with one replica it is pure forwarding)",
        ep / 3.0,
        direct / 3.0,
        ep / direct
    );
}
