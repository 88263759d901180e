//! The abuse campaign (issue 29): every listener the daemon opens is attacked as a local process or a neighbour on
//! the network would — more idle connections than its cap, slow headers or lines (slowloris), an endless line
//! (64 MiB, no line end), random bytes — while a valid client arrives, and the daemon's cost is measured:
//!
//! - its RSS before, at its peak and after (`VmRSS` of `/proc/<pid>/status`, sampled every 10 ms), and its peak
//!   of open descriptors (`/proc/<pid>/fd`);
//! - how long the listener's own valid client took (the API: `DescribeReplicationGroups`; an endpoint: `PING`
//!   through it; a Memcached configuration endpoint: `config get cluster`; the metrics listener: a scrape), and
//!   `DescribeReplicationGroups` on the API during the same attack;
//! - failovers the attack caused (a group's primary changed, or a failover event), and whether the daemon lives.
//!
//! Every attack stops by itself (bounded in bytes, connections and time) and only ever reaches 127.0.0.0/8.
//! Shared by the short CI run (`tests/abuse.rs`) and the full one (`benches/abuse.rs`, `scripts/bench.sh`), which
//! prints one row per listener and attack.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_elasticache::Client;
use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// How far the daemon's RSS may rise over the idle daemon's under any attack.
pub const RSS_HEADROOM: u64 = 64 << 20;
/// How long a valid client may take, at most, to be answered during an attack: a liveness bound, not a
/// performance claim.
pub const LIVENESS: Duration = Duration::from_secs(5);
/// How long the groups may take to be available again after an attack.
const RECOVERY: Duration = Duration::from_secs(30);
/// The longest any attack runs, whatever the daemon does.
const ATTACK_LIMIT: Duration = Duration::from_secs(20);

/// What a listener speaks, and so what its valid client and its slow attacker send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The ElastiCache API (and the console and the Logs API on the same listener).
    Api,
    /// The Prometheus metrics listener.
    Metrics,
    /// A node's protocol through an endpoint forwarder (`PING`).
    Redis,
    /// A Memcached configuration endpoint (`config get cluster`).
    MemcachedConfig,
}

/// A listener of the daemon.
#[derive(Debug, Clone)]
pub struct Listener {
    pub name: String,
    pub addr: SocketAddr,
    pub protocol: Protocol,
}

/// An attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Connections that send nothing, more than any listener's cap.
    IdleFlood,
    /// Connections that send a request's start a byte at a time, slowly.
    Slowloris,
    /// One connection sending 64 MiB without a line end.
    EndlessLine,
    /// Connections sending random bytes.
    RandomBytes,
}

impl Attack {
    pub const ALL: [Attack; 4] = [
        Attack::IdleFlood,
        Attack::Slowloris,
        Attack::EndlessLine,
        Attack::RandomBytes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::IdleFlood => "idle flood",
            Attack::Slowloris => "slowloris",
            Attack::EndlessLine => "endless line",
            Attack::RandomBytes => "random bytes",
        }
    }
}

/// How hard the attacks push: the CI run and the benchmark differ only here.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Idle connections of a flood.
    pub flood: usize,
    /// Slow connections of a slowloris.
    pub slow: usize,
    /// How long an attack is held once engaged (the valid client arrives meanwhile).
    pub hold: Duration,
    /// Bytes of the endless line.
    pub line_bytes: usize,
    /// Connections sending random bytes, and bytes each.
    pub random: (usize, usize),
}

impl Scale {
    pub const CI: Scale = Scale {
        flood: 2000,
        slow: 200,
        hold: Duration::from_millis(500),
        line_bytes: 64 << 20,
        random: (8, 256 << 10),
    };
    pub const FULL: Scale = Scale {
        flood: 4000,
        slow: 500,
        hold: Duration::from_secs(3),
        line_bytes: 64 << 20,
        random: (32, 4 << 20),
    };
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub listener: String,
    pub attack: &'static str,
    pub rss_idle: u64,
    pub rss_before: u64,
    pub rss_peak: u64,
    pub rss_after: u64,
    pub fds_before: usize,
    pub fds_peak: usize,
    /// The listener's own valid client: how long it took, or why it failed.
    pub client: Result<Duration, String>,
    /// `DescribeReplicationGroups` on the API during the attack.
    pub api: Result<Duration, String>,
    pub failovers: usize,
    pub alive: bool,
    /// Whether the groups were available before the attack (a row after one that broke them is not this row's
    /// fault), and again within 30 s after it.
    pub healthy_before: bool,
    pub recovered: bool,
    /// What the attacker saw (connections refused or closed, bytes the daemon took).
    pub attacker: String,
}

impl Row {
    /// The goals this row misses, as sentences.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let grown = self.rss_peak.saturating_sub(self.rss_idle);
        if grown >= RSS_HEADROOM {
            f.push(format!(
                "RSS peaked {} MiB over the idle daemon's (at most {} MiB)",
                grown >> 20,
                RSS_HEADROOM >> 20
            ));
        }
        for (who, r) in [("the valid client", &self.client), ("the API", &self.api)] {
            match r {
                Ok(t) if *t <= LIVENESS => {}
                Ok(t) => f.push(format!("{who} took {t:?} (at most {LIVENESS:?})")),
                Err(e) => f.push(format!("{who} failed: {e}")),
            }
        }
        if self.failovers > 0 {
            f.push(format!("{} failovers", self.failovers));
        }
        if !self.alive {
            f.push("the daemon died".into());
        } else if !self.recovered {
            f.push(format!(
                "the groups were not available again within {RECOVERY:?}"
            ));
        }
        if !self.healthy_before {
            f.push(
                "(the groups were not available before this row: an earlier row broke them)".into(),
            );
        }
        f
    }
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1 << 20) as f64)
}

fn latency(r: &Result<Duration, String>) -> String {
    match r {
        Ok(t) => format!("{:.1} ms", t.as_secs_f64() * 1000.0),
        Err(_) => "FAILED".into(),
    }
}

pub fn table(rows: &[Row]) -> String {
    let header = format!(
        "{:<34} {:<13} {:>8} {:>8} {:>8} {:>6} {:>11} {:>11} {:>9} {:>5}  {}\n",
        "listener",
        "attack",
        "RSS MiB",
        "peak",
        "after",
        "fds",
        "client",
        "API",
        "failovers",
        "alive",
        "goals"
    );
    let mut s = header;
    for r in rows {
        let f = r.failures();
        s.push_str(&format!(
            "{:<34} {:<13} {:>8} {:>8} {:>8} {:>6} {:>11} {:>11} {:>9} {:>5}  {}\n",
            r.listener,
            r.attack,
            mib(r.rss_before),
            mib(r.rss_peak),
            mib(r.rss_after),
            r.fds_peak,
            latency(&r.client),
            latency(&r.api),
            r.failovers,
            if r.alive { "yes" } else { "NO" },
            if f.is_empty() {
                "met".to_string()
            } else {
                f.join("; ")
            }
        ));
    }
    let failed = rows.iter().filter(|r| !r.failures().is_empty()).count();
    s.push_str(&format!(
        "{failed} of {} rows miss a goal (RSS peak < {} MiB over the idle daemon's {} MiB, valid clients within {:?}, 0 failovers, the daemon alive)\n",
        rows.len(),
        RSS_HEADROOM >> 20,
        rows.first().map_or("?".into(), |r| mib(r.rss_idle)),
        LIVENESS
    ));
    s
}

/// A process's resident memory, in bytes.
pub fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb << 10)
}

/// A process's open descriptors.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Whether a process lives (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// Samples a process's RSS and descriptors every 10 ms until stopped; returns the peaks.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: std::thread::JoinHandle<(u64, usize)>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let task = std::thread::spawn(move || {
            let (mut rss_peak, mut fds_peak) = (0, 0);
            loop {
                rss_peak = rss_peak.max(rss(pid));
                fds_peak = fds_peak.max(fds(pid));
                if s.load(Ordering::Relaxed) {
                    return (rss_peak, fds_peak);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { stop, task }
    }

    fn stop(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.join().unwrap_or((0, 0))
    }
}

/// Sets this process's soft limit of open files to a stock machine's 1024 (or less, if the hard limit is lower),
/// keeping the hard one, so that the daemon started next inherits them as it would on a stock machine (Debian's
/// soft limit is 1024, its hard one far higher): the daemon must raise its soft limit itself, or a flood takes every
/// descriptor it has. (A hard limit too small for the floods, where customers' share runs out, is
/// `tests/listeners.rs`' `forwarded_connections_leave_descriptors_to_the_control_plane`.) [`raise_nofile`] raises
/// it again for the attacker once the daemon runs.
pub fn stock_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(1024), hard);
    }
}

/// Raises this process's soft limit of open files to its hard one (the floods hold thousands of sockets).
pub fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The deployment under attack: a replication group with a replica, automatic failover and TLS `preferred` (its
/// reader endpoint is a forwarder, its primary endpoint a `preferred` front), and a Memcached cluster (its
/// configuration endpoint); the listeners to attack.
pub struct Deployment {
    pub listeners: Vec<Listener>,
    pub groups: Vec<String>,
}

fn addr_of(e: &aws_sdk_elasticache::types::Endpoint) -> SocketAddr {
    SocketAddr::new(
        e.address().expect("address").parse().expect("ip"),
        e.port().expect("port") as u16,
    )
}

pub async fn deploy(d: &Daemon) -> Deployment {
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("abuse")
        .replication_group_description("under attack")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .transit_encryption_enabled(true)
        .transit_encryption_mode("preferred".into())
        .send()
        .await
        .expect("create the replication group");
    c.create_cache_cluster()
        .cache_cluster_id("abuse-mc")
        .engine("memcached")
        .num_cache_nodes(1)
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect("create the Memcached cluster");
    let g = wait_available(&c, "abuse", Duration::from_secs(60)).await;
    let ng = &g.node_groups()[0];
    let mc = loop {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id("abuse-mc")
            .send()
            .await
            .expect("describe")
            .cache_clusters()[0]
            .clone();
        if cc.cache_cluster_status() == Some("available") {
            break cc;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut listeners = vec![
        Listener {
            name: "API (console, Logs API)".into(),
            addr: d.addr,
            protocol: Protocol::Api,
        },
        Listener {
            name: "reader endpoint (forwarder)".into(),
            addr: addr_of(ng.reader_endpoint().expect("reader endpoint")),
            protocol: Protocol::Redis,
        },
        Listener {
            name: "primary endpoint (TLS preferred)".into(),
            addr: addr_of(ng.primary_endpoint().expect("primary endpoint")),
            protocol: Protocol::Redis,
        },
        Listener {
            name: "Memcached configuration endpoint".into(),
            addr: addr_of(mc.configuration_endpoint().expect("configuration endpoint")),
            protocol: Protocol::MemcachedConfig,
        },
    ];
    if let Some(m) = d.metrics {
        listeners.insert(
            1,
            Listener {
                name: "metrics".into(),
                addr: m,
                protocol: Protocol::Metrics,
            },
        );
    }
    for l in &listeners {
        assert!(
            l.addr.ip().is_loopback(),
            "the campaign attacks loopback addresses only, not {}",
            l.addr
        );
    }
    Deployment {
        listeners,
        groups: vec!["abuse".into()],
    }
}

/// Reads until `want` shows in what was read, or the stream ends.
async fn read_until(s: &mut TcpStream, want: &[u8]) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "closed after {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(80)])
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(want.len()).any(|w| w == want) {
            return Ok(());
        }
        if buf.len() > 1 << 20 {
            return Err("a megabyte without the answer".into());
        }
    }
}

/// The listener's valid client, once; how long it took.
async fn valid_client(l: &Listener, c: &Client) -> Result<Duration, String> {
    let t = Instant::now();
    let work = async {
        match l.protocol {
            Protocol::Api => c
                .describe_replication_groups()
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("DescribeReplicationGroups: {e:?}")),
            Protocol::Metrics => {
                let r = reqwest::Client::new()
                    .get(format!("http://{}/metrics", l.addr))
                    .send()
                    .await
                    .map_err(|e| format!("scrape: {e}"))?;
                if r.status() == 200 {
                    r.bytes()
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("scrape: {e}"))
                } else {
                    Err(format!("scrape answered {}", r.status()))
                }
            }
            Protocol::Redis => {
                let mut s = TcpStream::connect(l.addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                s.write_all(b"*1\r\n$4\r\nPING\r\n")
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                read_until(&mut s, b"+PONG\r\n").await
            }
            Protocol::MemcachedConfig => {
                let mut s = TcpStream::connect(l.addr)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                s.write_all(b"config get cluster\r\n")
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                read_until(&mut s, b"END\r\n").await
            }
        }
    };
    match tokio::time::timeout(LIVENESS * 2, work).await {
        Ok(Ok(())) => Ok(t.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {:?}", LIVENESS * 2)),
    }
}

/// The first bytes of a request in the listener's protocol, sent slowly by a slowloris.
fn request_start(p: Protocol) -> &'static [u8] {
    match p {
        Protocol::Api | Protocol::Metrics => {
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        }
        Protocol::Redis => b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$100\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        Protocol::MemcachedConfig => {
            b"config get clusteraaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        }
    }
}

/// What the attacker saw.
#[derive(Default)]
struct Seen {
    connected: AtomicU64,
    refused: AtomicU64,
    closed_early: AtomicU64,
    bytes_taken: AtomicU64,
}

impl Seen {
    fn summary(&self) -> String {
        format!(
            "{} connected, {} refused, {} closed by the daemon, {} MiB taken",
            self.connected.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.closed_early.load(Ordering::Relaxed),
            mib(self.bytes_taken.load(Ordering::Relaxed))
        )
    }
}

/// Runs an attack on `addr`; says when it is engaged (the valid client goes then) and ends by itself after
/// `scale.hold` more (or [`ATTACK_LIMIT`]).
async fn attack(
    a: Attack,
    addr: SocketAddr,
    protocol: Protocol,
    scale: Scale,
    engaged: tokio::sync::oneshot::Sender<()>,
    seen: Arc<Seen>,
) {
    let started = Instant::now();
    match a {
        Attack::IdleFlood => {
            let mut held = Vec::with_capacity(scale.flood);
            let mut refused_in_a_row = 0;
            for _ in 0..scale.flood {
                match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr))
                    .await
                {
                    Ok(Ok(s)) => {
                        seen.connected.fetch_add(1, Ordering::Relaxed);
                        held.push(s);
                        refused_in_a_row = 0;
                    }
                    _ => {
                        seen.refused.fetch_add(1, Ordering::Relaxed);
                        refused_in_a_row += 1;
                    }
                }
                // A listener that takes no more (its backlog full): the flood is at its height.
                if refused_in_a_row >= 20 || started.elapsed() > ATTACK_LIMIT / 2 {
                    break;
                }
            }
            let _ = engaged.send(());
            tokio::time::sleep(scale.hold).await;
            // Connections the daemon closed meanwhile.
            for s in &held {
                let mut b = [0u8; 1];
                if let Ok(Ok(0)) = tokio::time::timeout(Duration::ZERO, s.peek(&mut b)).await {
                    seen.closed_early.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Attack::Slowloris => {
            let start = request_start(protocol);
            let mut tasks = Vec::new();
            let deadline = started + scale.hold + Duration::from_millis(300);
            for _ in 0..scale.slow {
                let seen = seen.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(Ok(mut s)) =
                        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr))
                            .await
                    else {
                        seen.refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    seen.connected.fetch_add(1, Ordering::Relaxed);
                    for b in start {
                        if Instant::now() >= deadline {
                            return;
                        }
                        if s.write_all(&[*b]).await.is_err() {
                            seen.closed_early.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        seen.bytes_taken.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }));
            }
            let _ = engaged.send(());
            for t in tasks {
                let _ = tokio::time::timeout(ATTACK_LIMIT, t).await;
            }
        }
        Attack::EndlessLine => {
            let Ok(Ok(mut s)) =
                tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
            else {
                seen.refused.fetch_add(1, Ordering::Relaxed);
                let _ = engaged.send(());
                return;
            };
            seen.connected.fetch_add(1, Ordering::Relaxed);
            let start = request_start(protocol);
            let _ = s.write_all(start).await;
            let chunk = vec![b'a'; 64 << 10];
            let mut engaged = Some(engaged);
            let mut sent = 0usize;
            // Until the whole line is sent, the daemon stops reading (a write waits 1 s), or the time is up.
            while sent < scale.line_bytes && started.elapsed() < ATTACK_LIMIT / 2 {
                match tokio::time::timeout(Duration::from_secs(1), s.write_all(&chunk)).await {
                    Ok(Ok(())) => sent += chunk.len(),
                    Ok(Err(_)) => {
                        seen.closed_early.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(_) => break,
                }
                if sent >= 8 << 20 {
                    if let Some(e) = engaged.take() {
                        let _ = e.send(());
                    }
                }
            }
            seen.bytes_taken.fetch_add(sent as u64, Ordering::Relaxed);
            if let Some(e) = engaged.take() {
                let _ = e.send(());
            }
            tokio::time::sleep(scale.hold).await;
        }
        Attack::RandomBytes => {
            let (conns, bytes) = scale.random;
            let mut tasks = Vec::new();
            for _ in 0..conns {
                let seen = seen.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(Ok(mut s)) =
                        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr))
                            .await
                    else {
                        seen.refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    seen.connected.fetch_add(1, Ordering::Relaxed);
                    let mut junk = vec![0u8; 16 << 10];
                    let mut sent = 0;
                    while sent < bytes {
                        rand::thread_rng().fill_bytes(&mut junk);
                        match tokio::time::timeout(Duration::from_secs(1), s.write_all(&junk)).await
                        {
                            Ok(Ok(())) => sent += junk.len(),
                            Ok(Err(_)) => {
                                seen.closed_early.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    seen.bytes_taken.fetch_add(sent as u64, Ordering::Relaxed);
                }));
            }
            let _ = engaged.send(());
            tokio::time::sleep(scale.hold).await;
            for t in tasks {
                let _ = tokio::time::timeout(ATTACK_LIMIT, t).await;
            }
        }
    }
}

/// The groups' primaries, and the failover events so far.
async fn failover_evidence(c: &Client, groups: &[String]) -> (Vec<String>, usize) {
    let mut primaries = Vec::new();
    for g in groups {
        primaries.push(current_primary(&describe_group(c, g).await));
    }
    let mut events = 0;
    for g in groups {
        events += event_messages(c, g)
            .await
            .iter()
            .filter(|m| m.to_lowercase().contains("failover"))
            .count();
    }
    (primaries, events)
}

/// Waits (bounded) until every group is `available` with each node's role known; whether they got there. Before a
/// row, so that each starts from a healthy deployment; after it, so that a failover the attack caused late is
/// counted in its row.
async fn wait_healthy(c: &Client, groups: &[String], bound: Duration) -> bool {
    let t = Instant::now();
    loop {
        let mut healthy = true;
        for g in groups {
            let ok = tokio::time::timeout(
                Duration::from_secs(5),
                c.describe_replication_groups()
                    .replication_group_id(g)
                    .send(),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|out| out.replication_groups().first().cloned())
            .is_some_and(|rg| rg.status() == Some("available") && !current_primary(&rg).is_empty());
            healthy &= ok;
        }
        if healthy {
            return true;
        }
        if t.elapsed() > bound {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until the daemon's descriptors are back near `before`: the attack's connections closed.
async fn settle(pid: u32, before: usize) {
    let t = Instant::now();
    while fds(pid) > before + 8 && t.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One attack on one listener, measured.
pub async fn run(
    d: &Daemon,
    deployment: &Deployment,
    l: &Listener,
    a: Attack,
    scale: Scale,
    rss_idle: u64,
    expect_healthy: bool,
) -> Row {
    let pid = d.child.as_ref().expect("the daemon runs").id();
    let c = d.client();
    // After a row that broke the groups, a short look only: the table says so.
    let bound = if expect_healthy {
        RECOVERY
    } else {
        Duration::from_secs(1)
    };
    let healthy_before = wait_healthy(&c, &deployment.groups, bound).await;
    let (primaries, failover_events) = failover_evidence(&c, &deployment.groups).await;
    let (rss_before, fds_before) = (rss(pid), fds(pid));
    let sampler = Sampler::start(pid);
    let seen = Arc::new(Seen::default());
    let (engaged_tx, engaged_rx) = tokio::sync::oneshot::channel();
    let attacker = tokio::spawn(attack(
        a,
        l.addr,
        l.protocol,
        scale,
        engaged_tx,
        seen.clone(),
    ));
    let _ = tokio::time::timeout(ATTACK_LIMIT, engaged_rx).await;
    // The valid clients arrive while the attack is held.
    let (client, api) = tokio::join!(
        valid_client(l, &c),
        valid_client(&deployment.listeners[0], &c)
    );
    let _ = tokio::time::timeout(ATTACK_LIMIT, attacker).await;
    settle(pid, fds_before).await;
    let bound = if healthy_before {
        RECOVERY
    } else {
        Duration::from_secs(1)
    };
    let recovered = alive(pid) && wait_healthy(&c, &deployment.groups, bound).await;
    let (rss_peak, fds_peak) = sampler.stop();
    let alive = alive(pid);
    let failovers = if alive {
        let (now, events) = failover_evidence(&c, &deployment.groups).await;
        now.iter().zip(&primaries).filter(|(a, b)| a != b).count()
            + events.saturating_sub(failover_events)
    } else {
        0
    };
    Row {
        listener: l.name.clone(),
        attack: a.name(),
        rss_idle,
        rss_before,
        rss_peak,
        rss_after: rss(pid),
        fds_before,
        fds_peak,
        client,
        api,
        failovers,
        alive,
        healthy_before,
        recovered,
        attacker: seen.summary(),
    }
}

/// Runs `attacks` on every listener of a fresh deployment; returns the rows.
pub async fn campaign(d: &Daemon, attacks: &[Attack], scale: Scale) -> Vec<Row> {
    raise_nofile();
    let deployment = deploy(d).await;
    let pid = d.child.as_ref().expect("the daemon runs").id();
    let rss_idle = rss(pid);
    let mut rows = Vec::new();
    let mut healthy = true;
    for l in &deployment.listeners {
        for &a in attacks {
            let row = run(d, &deployment, l, a, scale, rss_idle, healthy).await;
            healthy = row.recovered;
            eprintln!(
                "abuse: {} / {}: {} ({})",
                row.listener,
                row.attack,
                if row.failures().is_empty() {
                    "met".to_string()
                } else {
                    row.failures().join("; ")
                },
                row.attacker
            );
            let dead = !row.alive;
            rows.push(row);
            if dead {
                return rows;
            }
        }
    }
    rows
}
