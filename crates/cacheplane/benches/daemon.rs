//! Benchmarks of issue 2, printed as figures (never asserted):
//! 1. time from `CreateReplicationGroup` (1 primary + 2 replicas, empty) to `available`, 10 runs;
//! 2. daemon RSS with 50 groups of 3 nodes;
//! 3. `DescribeReplicationGroups` over those 50 groups: requests/s and p99 from a machine-local load run, and the
//!    same request against `moto_server` (set `MOTO_SERVER` to its path) in the same run, as a ratio.
//!
//! Run with `scripts/bench.sh` (installs moto into .venv) or `cargo bench --bench daemon`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    free_port, load, percentile, send, sign, Daemon, ACCESS_KEY_ID as KEY, CONCURRENCY,
    LOAD_SECONDS, REGION,
};

const GROUPS: usize = 50;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_of(xml: &str) -> Option<&str> {
    let s = xml.find("<Status>")? + 8;
    Some(&xml[s..s + xml[s..].find("</Status>")?])
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn create_body(id: &str) -> String {
    format!("Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId={id}&ReplicationGroupDescription=bench&NumCacheClusters=3&CacheNodeType=cache.t3.micro&Engine=redis")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The harness's daemon: its API on a port of its own choosing; on drop it is stopped with every node it
    // started, even when the bench panics.
    let daemon = Daemon::start_logging("warn");
    let endpoint = daemon.endpoint();
    let daemon_pid = daemon.child.as_ref().expect("daemon").id();
    let client = reqwest::Client::new();

    // 1. Create → available, 10 runs.
    let mut times = Vec::new();
    for i in 0..10 {
        let id = format!("t{i}");
        let t = Instant::now();
        let (st, xml) = send(&client, &sign(&endpoint, &create_body(&id))).await;
        assert_eq!(st, 200, "{xml}");
        let describe = sign(
            &endpoint,
            &format!("Action=DescribeReplicationGroups&Version=2015-02-02&ReplicationGroupId={id}"),
        );
        loop {
            let (_, xml) = send(&client, &describe).await;
            if status_of(&xml) == Some("available") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(t.elapsed());
        send(
            &client,
            &sign(
                &endpoint,
                &format!(
                    "Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId={id}"
                ),
            ),
        )
        .await;
    }
    times.sort();
    println!(
        "create-to-available (1 primary + 2 replicas, 10 runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );

    // 2. 50 groups of 3 nodes.
    for i in 0..GROUPS {
        let (st, xml) = send(&client, &sign(&endpoint, &create_body(&format!("g{i:02}")))).await;
        assert_eq!(st, 200, "{xml}");
    }
    let all = sign(
        &endpoint,
        "Action=DescribeReplicationGroups&Version=2015-02-02",
    );
    let t = Instant::now();
    loop {
        let (_, xml) = send(&client, &all).await;
        let n = xml.matches("<Status>available</Status>").count();
        if n == 2 * GROUPS
            && !xml.contains("<Status>creating</Status>")
            && !xml.contains("<Status>deleting</Status>")
        {
            break;
        }
        if t.elapsed() > Duration::from_secs(120) {
            let statuses: Vec<&str> = xml
                .split("<ReplicationGroup><ReplicationGroupId>")
                .skip(1)
                .map(|g| &g[..g.find("</Description>").unwrap_or(0).min(60)])
                .collect();
            panic!(
                "groups not available after 120 s: {} available; {statuses:?}",
                n
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "{GROUPS} groups of 3 nodes available {:.2} s after their creates",
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "daemon RSS with {GROUPS} groups of 3 nodes: {:.1} MB",
        rss_kib(daemon_pid) as f64 / 1024.0
    );

    // 3. Describe load, Cacheplane then moto.
    let (rps, p50, p99, errors) = load(&all).await;
    println!(
        "cacheplane DescribeReplicationGroups ({GROUPS} groups, {CONCURRENCY} connections, {LOAD_SECONDS} s): {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "daemon RSS after the load: {:.1} MB",
        rss_kib(daemon_pid) as f64 / 1024.0
    );

    match std::env::var("MOTO_SERVER") {
        Ok(moto) => {
            let mport = free_port();
            let m = Proc(
                Command::new(moto)
                    .args(["-p", &mport.to_string(), "-H", "127.0.0.1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start moto_server"),
            );
            let mep = format!("http://127.0.0.1:{mport}");
            let t = Instant::now();
            while reqwest::get(format!("{mep}/moto-api/")).await.is_err() {
                assert!(t.elapsed() < Duration::from_secs(30), "moto_server did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for i in 0..GROUPS {
                let (st, xml) = send(&client, &sign(&mep, &create_body(&format!("g{i:02}")))).await;
                assert_eq!(st, 200, "moto create: {xml}");
            }
            let mall = sign(&mep, "Action=DescribeReplicationGroups&Version=2015-02-02");
            let (_, xml) = send(&client, &mall).await;
            let n = xml.matches("<ReplicationGroupId>").count();
            let (mrps, mp50, mp99, merr) = load(&mall).await;
            println!(
                "moto_server DescribeReplicationGroups ({n} groups, same load): {mrps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {merr} errors",
                mp50.as_secs_f64() * 1e3,
                mp99.as_secs_f64() * 1e3
            );
            println!("throughput ratio cacheplane/moto: {:.1}x", rps / mrps);
            drop(m);
        }
        Err(_) => println!("moto comparison skipped: set MOTO_SERVER to the path of moto_server (scripts/bench.sh does)"),
    }

    // 4. Abuse before authentication: 200 connections each announcing a 1 MiB body and sending it slowly (64 KiB
    // every 100 ms), signed with the known key id (so the header checks pass and only the signature, which needs
    // the body, is wrong); then 200 unsigned ones. The daemon's RSS before, at its peak, and after.
    let before = rss_kib(daemon_pid);
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                peak.fetch_max(rss_kib(daemon_pid), std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let t = Instant::now();
    let mut conns = Vec::new();
    for i in 0..400 {
        let addr = daemon.addr.to_string();
        conns.push(tokio::spawn(async move { slow_body(&addr, i < 200).await }));
    }
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for c in conns {
        *answers
            .entry(c.await.unwrap_or_else(|_| "task failed".into()))
            .or_default() += 1;
    }
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let _ = sampler.await;
    println!(
        "400 slow 1 MiB bodies (200 with the known key id, 200 unsigned): daemon RSS {:.1} MB before, {:.1} MB at \
         the peak, {:.1} MB after; all answered in {:.1} s: {answers:?}",
        before as f64 / 1024.0,
        peak.load(std::sync::atomic::Ordering::SeqCst) as f64 / 1024.0,
        rss_kib(daemon_pid) as f64 / 1024.0,
        t.elapsed().as_secs_f64()
    );

    // Clean up: the daemon and every node it started.
    drop(daemon);
}

/// One abusive request: headers announcing 1 MiB (with a well-formed Authorization of the known key id when
/// `signed`), then the body 64 KiB every 100 ms. Returns the status line the daemon answered (or how it ended).
async fn slow_body(addr: &str, signed: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return "connect refused".into();
    };
    let now = chrono::Utc::now();
    let auth = if signed {
        format!(
            "X-Amz-Date: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={KEY}/{}/{REGION}/elasticache/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00\r\n",
            now.format("%Y%m%dT%H%M%SZ"),
            now.format("%Y%m%d")
        )
    } else {
        String::new()
    };
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        1 << 20
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return "closed at headers".into();
    }
    let chunk = vec![b'a'; 64 << 10];
    let mut buf = [0u8; 64];
    for _ in 0..16 {
        // An answer may come before the body is sent (refused from the headers).
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await
        {
            return status_line(&buf[..n]);
        }
        if s.write_all(&chunk).await.is_err() {
            break;
        }
    }
    match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
        Ok(Ok(n)) => status_line(&buf[..n]),
        _ => "no answer".into(),
    }
}

fn status_line(b: &[u8]) -> String {
    let t = String::from_utf8_lossy(b);
    match t.lines().next() {
        Some(l) if !l.is_empty() => l.trim_start_matches("HTTP/1.1 ").to_string(),
        _ => "closed".into(),
    }
}
