//! Benchmarks of issue 6, printed as figures (never asserted):
//! 1. commands that failed for clients using a valid token while `ROTATE` and then `SET` completed: 4 clients
//!    (each reconnecting after an error) running `INCR` over TLS through `PrimaryEndpoint`, 5 trials;
//! 2. throughput through `PrimaryEndpoint` with TLS against without: `redis-benchmark -t set,get` at `-P 16`
//!    and `-P 1`, a TLS `required` group and a plaintext group alternately, 3 runs each, as ratios.
//!
//! Run with `scripts/bench.sh` or `cargo bench --bench security`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_elasticache::types::AuthTokenUpdateStrategyType;
use common::*;

const TRIALS: usize = 5;
const CLIENTS: usize = 4;

fn token(i: usize) -> String {
    format!("bench-token-{i:04}-abcdefgh")
}

/// Writers using `tok` while the group changes its tokens with `strategy` to `next`; returns (commands
/// acknowledged, commands failed).
async fn during(
    c: &aws_sdk_elasticache::Client,
    (addr, port): (&str, u16),
    ca: &Path,
    tok: &str,
    next: &str,
    strategy: AuthTokenUpdateStrategyType,
) -> (usize, usize) {
    let writers: Vec<Writer> = (0..CLIENTS)
        .map(|_| {
            Writer::start_client(
                tls_client_as(&(addr.to_string(), port), ca, None, Some(tok)),
                "bench-counter",
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.modify_replication_group()
        .replication_group_id("bench-auth")
        .auth_token(next)
        .auth_token_update_strategy(strategy)
        .apply_immediately(true)
        .send()
        .await
        .expect("modify");
    wait_available(c, "bench-auth", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut acks = 0;
    let mut errors = 0;
    for w in writers {
        let log = w.stop().await;
        acks += log.acks.len();
        errors += log.errors;
    }
    (acks, errors)
}

fn redis_benchmark(addr: &str, port: u16, tls: Option<&Path>, pipeline: u32) -> (f64, f64) {
    let mut cmd = Command::new("redis-benchmark");
    cmd.args([
        "-h",
        addr,
        "-p",
        &port.to_string(),
        "-t",
        "set,get",
        "-n",
        "200000",
        "-q",
    ])
    .args(["-P", &pipeline.to_string()]);
    if let Some(ca) = tls {
        cmd.arg("--tls").arg("--cacert").arg(ca);
    }
    let out = cmd.output().expect("redis-benchmark (package redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let rate = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains("requests per second"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .next_back()
            .unwrap_or(0.0)
    };
    (rate("SET:"), rate("GET:"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let d = Daemon::start_logging("warn");
    let c = d.client();
    let ca = d.data_dir().join("tls").join("ca.pem");

    // 1. ROTATE and SET under load.
    c.create_replication_group()
        .replication_group_id("bench-auth")
        .replication_group_description("token bench")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .auth_token(token(0))
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "bench-auth", Duration::from_secs(60)).await;
    let ep = g.node_groups()[0].primary_endpoint().expect("endpoint");
    let (addr, port) = (
        ep.address().expect("address").to_string(),
        ep.port().expect("port") as u16,
    );
    let mut rotate = Vec::new();
    let mut set = Vec::new();
    let mut current = token(0);
    for i in 1..=TRIALS {
        let next = token(i);
        rotate.push(
            during(
                &c,
                (&addr, port),
                &ca,
                &current,
                &next,
                AuthTokenUpdateStrategyType::Rotate,
            )
            .await,
        );
        set.push(
            during(
                &c,
                (&addr, port),
                &ca,
                &next,
                &next,
                AuthTokenUpdateStrategyType::Set,
            )
            .await,
        );
        current = next;
    }
    let show = |v: &[(usize, usize)]| {
        let failed: usize = v.iter().map(|(_, e)| e).sum();
        let acked: usize = v.iter().map(|(a, _)| a).sum();
        format!(
            "{failed} failed of {} commands ({acked} acknowledged)",
            acked + failed
        )
    };
    println!(
        "ROTATE with {CLIENTS} clients on the old token ({TRIALS} trials): {}",
        show(&rotate)
    );
    println!(
        "SET with {CLIENTS} clients on the new token ({TRIALS} trials): {}",
        show(&set)
    );

    // 2. TLS against plaintext through PrimaryEndpoint.
    for (id, tls) in [("bench-tls", true), ("bench-plain", false)] {
        c.create_replication_group()
            .replication_group_id(id)
            .replication_group_description("throughput")
            .num_cache_clusters(1)
            .transit_encryption_enabled(tls)
            .send()
            .await
            .expect("create");
    }
    let endpoint = |g: &aws_sdk_elasticache::types::ReplicationGroup| {
        let ep = g.node_groups()[0].primary_endpoint().expect("endpoint");
        (
            ep.address().expect("address").to_string(),
            ep.port().expect("port") as u16,
        )
    };
    let t = endpoint(&wait_available(&c, "bench-tls", Duration::from_secs(60)).await);
    let p = endpoint(&wait_available(&c, "bench-plain", Duration::from_secs(60)).await);
    for pipeline in [16, 1] {
        let (mut ts, mut tg, mut ps, mut pg) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..3 {
            let (s, g) = redis_benchmark(&t.0, t.1, Some(&ca), pipeline);
            ts += s;
            tg += g;
            let (s, g) = redis_benchmark(&p.0, p.1, None, pipeline);
            ps += s;
            pg += g;
        }
        println!(
            "PrimaryEndpoint with TLS vs without, -P {pipeline} (3 alternating runs each): SET {:.0} vs {:.0} req/s = {:.2}; GET {:.0} vs {:.0} req/s = {:.2}",
            ts / 3.0,
            ps / 3.0,
            ts / ps,
            tg / 3.0,
            pg / 3.0,
            tg / pg
        );
    }
    for id in ["bench-auth", "bench-tls", "bench-plain"] {
        let _ = c
            .delete_replication_group()
            .replication_group_id(id)
            .send()
            .await;
        wait_deleted(&c, id, Duration::from_secs(30)).await;
    }
}
