//! Every listener customers (or anyone on the network) reach is bounded, attacked over raw TCP: a Memcached
//! configuration endpoint's lines, connections and silent clients; the descriptors customers' connections may hold
//! beside the API and the control plane's own; the metrics listener's connections, headers and token.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// The resident memory of process `pid`, in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn daemon_pid(d: &Daemon) -> u32 {
    d.child.as_ref().expect("running").id()
}

/// A one-node Memcached cluster; returns its configuration endpoint.
async fn memcached_cluster(c: &aws_sdk_elasticache::Client, id: &str) -> SocketAddr {
    assert!(
        engine::memcached::find_binary().is_some(),
        "memcached is not installed (scripts/test.sh installs it)"
    );
    c.create_cache_cluster()
        .cache_cluster_id(id)
        .engine("memcached")
        .num_cache_nodes(1)
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect("create");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
            .expect("describe")
            .cache_clusters()[0]
            .clone();
        if cc.cache_cluster_status() == Some("available") {
            let e = cc.configuration_endpoint().expect("configuration endpoint");
            return SocketAddr::new(
                e.address().expect("address").parse().expect("ip"),
                e.port().expect("port") as u16,
            );
        }
        assert!(Instant::now() < deadline, "{id} never available");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `config get cluster` on a new connection: the answer, or `None` when the connection is closed without one.
fn discovery(cfg: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(cfg).ok()?;
    s.write_all(b"config get cluster\r\n").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"END\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&got).into())
}

/// 64 MiB without a line end to a configuration endpoint: the daemon reads no more than memcached's line limit,
/// closes the connection, and its memory does not grow (it grew by 66 MB when the line was read whole).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_endpoint_reads_bounded_lines() {
    let d = Daemon::start();
    let c = d.client();
    let cfg = memcached_cluster(&c, "ln-line").await;
    assert!(discovery(cfg).is_some_and(|a| a.starts_with("CONFIG cluster 0 ")));
    let pid = daemon_pid(&d);
    let before = rss_kib(pid);
    let mut s = TcpStream::connect(cfg).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0;
    for _ in 0..64 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += 1;
    }
    let (_, closed) = read_until_closed(&mut s, Duration::from_secs(3));
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(
        grown < 8 << 10,
        "the daemon grew by {grown} KiB reading one line"
    );
    assert!(
        closed,
        "an endless line kept its connection ({sent} MiB sent)"
    );
    assert!(sent < 64, "the daemon read all 64 MiB of one line");
    // Valid clients are still answered.
    assert!(discovery(cfg).is_some(), "discovery after the attack");
}

/// More connections than a configuration endpoint holds, none saying anything: a discovery client arriving is
/// answered at once, the connection idle longest closed to make room for it (before, the discovery client's
/// connection was closed at once); the silent ones are closed once their first line is late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_endpoint_full_of_idle_connections_answers_discovery() {
    // This test's own process holds the connections.
    engine::limits::raise_file_limit();
    let d = Daemon::start();
    let c = d.client();
    let cfg = memcached_cluster(&c, "ln-conns").await;
    let mut idle: Vec<TcpStream> = (0..engine::memcached::CONFIG_ENDPOINT_CONNECTIONS + 8)
        .map(|_| TcpStream::connect(cfg).expect("connect"))
        .collect();
    let answer = discovery(cfg)
        .expect("a discovery client was closed: the endpoint is full of idle connections");
    assert!(answer.starts_with("CONFIG cluster 0 "), "{answer}");
    // The endpoint holds no more than its cap: the oldest idle connections made room for newer ones.
    let (_, closed) = read_until_closed(&mut idle[0], Duration::from_secs(2));
    assert!(
        closed,
        "the connection idle longest was kept past the endpoint's cap"
    );
    // The newest are closed once their first line is late.
    for s in idle.iter_mut().rev().take(3) {
        let (_, closed) = read_until_closed(
            s,
            engine::memcached::FIRST_LINE_TIMEOUT + Duration::from_secs(5),
        );
        assert!(closed, "a silent client kept its connection");
    }
    assert!(discovery(cfg).is_some(), "discovery after the attack");
}

/// Under a small open-file limit (256, soft and hard), customers' connections through a reader endpoint are
/// refused once they hold their share of the descriptors, and the API and the control plane still work: the group
/// is described, and a `TestFailover` (new connections to nodes, a node started) completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_connections_leave_descriptors_to_the_control_plane() {
    let mut d = Daemon::start();
    d.kill9();
    d.spawn_wrapped(&["sh", "-c", "ulimit -n 256 && exec \"$@\"", "sh"]);
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", daemon_pid(&d))).expect("limits");
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.split_whitespace().nth(3) == Some("256")),
        "{limits}"
    );
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("ln-fds")
        .replication_group_description("descriptors")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "ln-fds", Duration::from_secs(60)).await;
    let reader = g.node_groups()[0].reader_endpoint().expect("reader");
    let reader = SocketAddr::new(
        reader.address().expect("address").parse().expect("ip"),
        reader.port().expect("port") as u16,
    );
    let mut held = Vec::new();
    let mut refused = false;
    for _ in 0..256 {
        let mut s = TcpStream::connect(reader).expect("connect");
        s.write_all(b"PING\r\n").expect("write");
        let (got, closed) = read_until_closed_or(&mut s, "+PONG\r\n", Duration::from_secs(3));
        if got == "+PONG\r\n" {
            held.push(s);
        } else {
            assert!(
                closed,
                "a connection neither served nor closed after {} held (the daemon out of descriptors?): {got:?}",
                held.len()
            );
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "{} connections forwarded, none refused",
        held.len()
    );
    assert!(held.len() >= 16, "only {} forwarded", held.len());
    // The API answers while they are held...
    c.describe_replication_groups()
        .replication_group_id("ln-fds")
        .send()
        .await
        .expect("DescribeReplicationGroups while customers hold their descriptors");
    // ...and the control plane changes nodes.
    let old = current_primary(&g);
    c.test_failover()
        .replication_group_id("ln-fds")
        .node_group_id("0001")
        .send()
        .await
        .expect("TestFailover");
    wait_group(&c, "ln-fds", Duration::from_secs(90), "the failover", |g| {
        g.status() == Some("available") && current_primary(g) != old
    })
    .await;
    // The old primary comes back as a replica of the new one: a node restarted, its admin connections opened.
    wait_group(
        &c,
        "ln-fds",
        Duration::from_secs(90),
        "the old primary back as a replica",
        |g| {
            members_of(g)
                .iter()
                .any(|(id, role, _)| *id == old && role == "replica")
        },
    )
    .await;
    drop(held);
}

/// Reads until `want` has arrived, the peer closes, or `max` passes.
fn read_until_closed_or(s: &mut TcpStream, want: &str, max: Duration) -> (String, bool) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while start.elapsed() < max && !got.ends_with(want.as_bytes()) {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (String::from_utf8_lossy(&got).into(), true),
        }
    }
    (String::from_utf8_lossy(&got).into(), false)
}

/// What the metrics listener holds at once (`server::MAX_METRICS_CONNECTIONS`).
const METRICS_CONNECTIONS: usize = 16;

/// The metrics listener holds a few connections: each new one takes the place of the connection idle longest
/// (the unfinished headers first), and headers that do not arrive are cut; a scrape is answered afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_is_bounded() {
    let d = Daemon::start();
    let m = d.metrics.expect("metrics listener");
    let mut slow = TcpStream::connect(m).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .expect("partial headers");
    let mut held: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(m).expect("connect"))
        .collect();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(2));
    assert!(
        closed,
        "unfinished headers, idle longest, kept their connection"
    );
    let kept: Vec<usize> = held
        .iter_mut()
        .enumerate()
        .filter_map(|(i, s)| (!read_until_closed(s, Duration::from_millis(300)).1).then_some(i))
        .collect();
    assert!(
        kept.len() <= METRICS_CONNECTIONS,
        "more than {METRICS_CONNECTIONS} connections held by the metrics listener: {kept:?}"
    );
    // The newest send nothing: they are closed once their headers are late (5 s).
    let (_, closed) = read_until_closed(held.last_mut().expect("one"), Duration::from_secs(15));
    assert!(closed, "a connection without headers kept open");
    drop(held);
    let r = reqwest::get(format!("http://{m}/metrics"))
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
}

/// A metrics listener held full by idle connections (more than it holds) still answers a scrape at once: the
/// connection idle longest is closed for it (before, the scrape's connection was closed at once, until the idle
/// ones' headers were late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_metrics_listener_still_answers_a_scrape() {
    let d = Daemon::start();
    let m = d.metrics.expect("metrics listener");
    let mut held: Vec<TcpStream> = (0..METRICS_CONNECTIONS * 4)
        .map(|_| TcpStream::connect(m).expect("connect"))
        .collect();
    let r = tokio::time::timeout(
        Duration::from_secs(3),
        reqwest::get(format!("http://{m}/metrics")),
    )
    .await
    .expect("a scrape answered within 3 s")
    .expect("a scrape while the listener is full of idle connections");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("# EOF"));
    let (_, closed) = read_until_closed(&mut held[0], Duration::from_secs(2));
    assert!(closed, "the connection idle longest was kept");
}

/// The API at its cap (256) closes the connection idle longest for a new one, never one with a request in
/// progress: a signed request whose body is half sent (the daemon reading it: it asked for the rest with
/// `100 Continue`) survives 300 idle connections arriving after it and is answered; a valid client arriving
/// then is answered too, and the oldest idle connection was closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_progress_is_never_closed_for_a_new_connection() {
    let d = Daemon::start();
    let c = d.client();
    let host = d.addr.to_string();
    let body = b"Action=DescribeReplicationGroups&Version=2015-02-02";
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let headers = wire::sigv4::signed_form_post(&host, body, &date, ACCESS_KEY_ID, SECRET, REGION);
    let mut busy = TcpStream::connect(d.addr).expect("connect");
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n",
        body.len()
    );
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    busy.write_all(head.as_bytes()).expect("headers");
    let (got, closed) = read_until_closed_or(&mut busy, "\r\n\r\n", Duration::from_secs(5));
    assert!(
        !closed && got.starts_with("HTTP/1.1 100"),
        "the request is not being read: {got:?}"
    );
    busy.write_all(&body[..10]).expect("half the body");
    let mut held: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(d.addr).expect("connect"))
        .collect();
    tokio::time::timeout(
        Duration::from_secs(5),
        c.describe_replication_groups().send(),
    )
    .await
    .expect("a valid client answered within 5 s")
    .expect("DescribeReplicationGroups while the API is full of idle connections");
    let (_, closed) = read_until_closed(&mut held[0], Duration::from_secs(2));
    assert!(
        closed,
        "the connection idle longest was kept past the API's cap"
    );
    busy.write_all(&body[10..])
        .expect("the rest of the body: the connection was kept");
    let (got, _) = read_until_closed_or(
        &mut busy,
        "</DescribeReplicationGroupsResponse>",
        Duration::from_secs(5),
    );
    assert!(
        got.starts_with("HTTP/1.1 200") && got.contains("<DescribeReplicationGroupsResult>"),
        "the request in progress was not answered: {got:?}"
    );
}

/// With `--metrics-token-file`, a scrape without the bearer token (or with another) is 401; with it, 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_bearer_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metrics-token");
    let token = "0123456789abcdef0123456789abcdef";
    std::fs::write(&file, format!("{token}\n")).expect("token file");
    let d = Daemon::start_with_args(
        "info",
        &["--metrics-token-file", file.to_str().expect("path")],
    );
    let url = format!("http://{}/metrics", d.metrics.expect("metrics listener"));
    let http = reqwest::Client::new();
    let r = http.get(&url).send().await.expect("scrape");
    assert_eq!(r.status(), 401);
    assert!(r
        .headers()
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("Bearer")));
    let r = http
        .get(&url)
        .bearer_auth("0123456789abcdef0123456789abcdee")
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 401);
    let r = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("cacheplane_"));
}
