//! Memcached clusters through the SDK and real memcached connections: nodes serving on their own addresses, the
//! configuration endpoint's auto discovery following nodes added and removed, the node type's memory changed live,
//! chosen nodes rebooted (and flushed), a killed node recovered, the daemon restarted, AWS's refusals.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_elasticache::types::CacheCluster;
use aws_sdk_elasticache::Client;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn describe(c: &Client, id: &str) -> CacheCluster {
    c.describe_cache_clusters()
        .cache_cluster_id(id)
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe")
        .cache_clusters()[0]
        .clone()
}

async fn wait_available(c: &Client, id: &str) -> CacheCluster {
    eventually(
        &format!("{id} available"),
        Duration::from_secs(30),
        || async {
            let cc = describe(c, id).await;
            if cc.cache_cluster_status() == Some("available") {
                Ok(cc)
            } else {
                Err(cc.cache_cluster_status().map(str::to_string))
            }
        },
    )
    .await
}

fn addr_of(e: &aws_sdk_elasticache::types::Endpoint) -> SocketAddr {
    SocketAddr::new(
        e.address().expect("address").parse().expect("ip"),
        e.port().expect("port") as u16,
    )
}

/// The node endpoints of a cluster, by node id.
fn nodes(cc: &CacheCluster) -> Vec<(String, SocketAddr)> {
    cc.cache_nodes()
        .iter()
        .map(|n| {
            (
                n.cache_node_id().expect("id").to_string(),
                addr_of(n.endpoint().expect("endpoint")),
            )
        })
        .collect()
}

/// Sends `req` on a new connection and reads until the answer ends with one of `ends`.
async fn ask(addr: SocketAddr, req: &str, ends: &[&str]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut got = String::new();
    let mut buf = vec![0u8; 64 << 10];
    while !ends.iter().any(|e| got.ends_with(e)) {
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed after {got:?}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    got
}

async fn set(addr: SocketAddr, key: &str, value: &str) {
    let r = ask(
        addr,
        &format!("set {key} 0 0 {}\r\n{value}\r\n", value.len()),
        &["\r\n"],
    )
    .await;
    assert_eq!(r, "STORED\r\n", "set {key} on {addr}");
}

async fn get(addr: SocketAddr, key: &str) -> Option<String> {
    let r = ask(addr, &format!("get {key}\r\n"), &["END\r\n"]).await;
    r.lines()
        .nth(1)
        .filter(|_| r.starts_with("VALUE"))
        .map(str::to_string)
}

/// Auto discovery through the configuration endpoint: its version and the nodes' addresses.
async fn discover(cfg: SocketAddr) -> (u64, Vec<SocketAddr>) {
    let r = ask(cfg, "config get cluster\r\n", &["END\r\n"]).await;
    let mut lines = r.split('\n');
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("CONFIG cluster 0 "),
        "{r}"
    );
    let version = lines
        .next()
        .expect("version")
        .trim()
        .parse()
        .expect("a number");
    let nodes = lines
        .next()
        .expect("nodes")
        .split_whitespace()
        .map(|n| {
            let parts: Vec<&str> = n.split('|').collect();
            SocketAddr::new(
                parts[1].parse().expect("ip"),
                parts[2].parse().expect("port"),
            )
        })
        .collect();
    (version, nodes)
}

async fn limit_maxbytes(addr: SocketAddr) -> u64 {
    let r = ask(addr, "stats\r\n", &["END\r\n"]).await;
    r.lines()
        .find_map(|l| l.strip_prefix("STAT limit_maxbytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("limit_maxbytes")
}

async fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

#[tokio::test]
async fn memcached_cluster_nodes_discovery_and_changes() {
    assert!(
        engine::memcached::find_binary().is_some(),
        "memcached is not installed (scripts/test.sh installs it)"
    );
    let mut d = Daemon::start();
    let c = d.client();
    let created = c
        .create_cache_cluster()
        .cache_cluster_id("mc")
        .engine("memcached")
        .num_cache_nodes(2)
        .az_mode(aws_sdk_elasticache::types::AzMode::CrossAz)
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect("create")
        .cache_cluster()
        .cloned()
        .expect("cluster");
    assert_eq!(created.cache_cluster_status(), Some("creating"));
    assert_eq!(created.engine(), Some("memcached"));
    let cc = wait_available(&c, "mc").await;
    assert_eq!(cc.num_cache_nodes(), Some(2));
    assert_eq!(cc.preferred_availability_zone(), Some("Multiple"));
    assert_eq!(
        cc.cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name()),
        Some("default.memcached1.6")
    );
    let zones: Vec<&str> = cc
        .cache_nodes()
        .iter()
        .filter_map(|n| n.customer_availability_zone())
        .collect();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"], "cross-az spreads them");
    let cfg = addr_of(cc.configuration_endpoint().expect("configuration endpoint"));
    let two = nodes(&cc);
    assert_eq!(two.len(), 2);
    assert_ne!(two[0].1, two[1].1, "each node on its own address");

    // Each node is a real memcached: set and get on each, nothing shared between them.
    for (id, a) in &two {
        set(*a, &format!("key-{id}"), &format!("value of {id}")).await;
        assert_eq!(
            get(*a, &format!("key-{id}")).await.as_deref(),
            Some(format!("value of {id}").as_str())
        );
        // The node type decides the memory: cache.t3.micro has 512 MB, less the default group's 100 MB of
        // memcached_connections_overhead.
        assert_eq!(limit_maxbytes(*a).await, (512 - 100) << 20, "{id}");
    }
    assert_eq!(
        get(two[1].1, "key-0001").await,
        None,
        "nodes are separate caches"
    );

    // Auto discovery lists both nodes.
    let (v1, listed) = discover(cfg).await;
    assert_eq!(listed, vec![two[0].1, two[1].1]);
    // A plain client of the configuration endpoint reaches a node.
    assert_eq!(get(cfg, "key-0001").await.as_deref(), Some("value of 0001"));

    // A third node: added, serving, and seen by discovery under a new version.
    let m = c
        .modify_cache_cluster()
        .cache_cluster_id("mc")
        .num_cache_nodes(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("add a node")
        .cache_cluster()
        .cloned()
        .expect("cluster");
    assert_eq!(m.cache_cluster_status(), Some("modifying"));
    assert_eq!(
        m.pending_modified_values()
            .and_then(|p| p.num_cache_nodes()),
        Some(3)
    );
    let cc = wait_available(&c, "mc").await;
    let three = nodes(&cc);
    assert_eq!(three.len(), 3);
    assert_eq!(three[2].0, "0003");
    assert_eq!(
        cc.cache_nodes()[2].customer_availability_zone(),
        Some("us-east-1c"),
        "cross-az: the zone with fewest nodes"
    );
    set(three[2].1, "new", "on the third").await;
    assert_eq!(
        get(three[2].1, "new").await.as_deref(),
        Some("on the third")
    );
    let (v2, listed) = discover(cfg).await;
    assert!(v2 > v1, "the version grows: {v1} → {v2}");
    assert_eq!(listed, three.iter().map(|n| n.1).collect::<Vec<_>>());
    assert!(event_messages(&c, "mc")
        .await
        .iter()
        .any(|e| e == "Added cache node 0003 in availability zone us-east-1c"));

    // Removing needs the nodes named, as many as the count drops.
    let e = c
        .modify_cache_cluster()
        .cache_cluster_id("mc")
        .num_cache_nodes(2)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("no node named");
    assert_eq!(result_code(Err::<(), _>(e)), "InvalidParameterValue");
    let e = c
        .modify_cache_cluster()
        .cache_cluster_id("mc")
        .num_cache_nodes(4)
        .cache_node_ids_to_remove("0001")
        .apply_immediately(true)
        .send()
        .await;
    assert_eq!(result_code(e), "InvalidParameterCombination");
    let e = c
        .modify_cache_cluster()
        .cache_cluster_id("mc")
        .num_cache_nodes(41)
        .apply_immediately(true)
        .send()
        .await;
    assert_eq!(result_code(e), "NodeQuotaForClusterExceeded");
    assert_eq!(
        describe(&c, "mc").await.num_cache_nodes(),
        Some(3),
        "nothing changed"
    );

    // One removed: gone from discovery (new version), its process stopped.
    c.modify_cache_cluster()
        .cache_cluster_id("mc")
        .num_cache_nodes(2)
        .cache_node_ids_to_remove("0001")
        .apply_immediately(true)
        .send()
        .await
        .expect("remove 0001");
    let cc = wait_available(&c, "mc").await;
    let left = nodes(&cc);
    assert_eq!(
        left.iter().map(|n| n.0.as_str()).collect::<Vec<_>>(),
        ["0002", "0003"]
    );
    let (v3, listed) = discover(cfg).await;
    assert!(v3 > v2);
    assert_eq!(listed, vec![three[1].1, three[2].1]);
    assert!(refused(three[0].1).await, "0001 stopped");
    assert_eq!(
        get(three[1].1, "key-0002").await.as_deref(),
        Some("value of 0002")
    );

    let allowed = c
        .list_allowed_node_type_modifications()
        .cache_cluster_id("mc")
        .send()
        .await
        .expect("allowed node types");
    assert!(allowed
        .scale_up_modifications()
        .iter()
        .any(|t| t == "cache.t3.small"));
    assert!(
        !allowed.scale_down_modifications().is_empty(),
        "a cache may shrink"
    );
    // A larger node type: the memory limit grows on the live nodes, their items kept.
    c.modify_cache_cluster()
        .cache_cluster_id("mc")
        .cache_node_type("cache.t3.small")
        .apply_immediately(true)
        .send()
        .await
        .expect("node type");
    let cc = wait_available(&c, "mc").await;
    assert_eq!(cc.cache_node_type(), Some("cache.t3.small"));
    let small = aws_small_bytes();
    for (id, a) in &left {
        assert_eq!(limit_maxbytes(*a).await, small, "{id}");
    }
    assert_eq!(
        get(left[0].1, "key-0002").await.as_deref(),
        Some("value of 0002")
    );

    // Reboot of one chosen node: it comes back empty (as on AWS); the other keeps its items.
    c.reboot_cache_cluster()
        .cache_cluster_id("mc")
        .cache_node_ids_to_reboot("0002")
        .send()
        .await
        .expect("reboot");
    wait_available(&c, "mc").await;
    assert_eq!(get(left[0].1, "key-0002").await, None, "0002 flushed");
    assert_eq!(get(left[1].1, "new").await.as_deref(), Some("on the third"));
    let e = c
        .reboot_cache_cluster()
        .cache_cluster_id("mc")
        .cache_node_ids_to_reboot("0009")
        .send()
        .await;
    assert_eq!(result_code(e), "InvalidParameterValue");

    // A node that dies is started again at the same address.
    let pid: u32 = std::fs::read_to_string(d.data_dir().join("nodes/mc-0003/memcached.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    eventually("0003 recovered", Duration::from_secs(20), || async {
        engine::memcached::node_version(left[1].1).await.is_ok()
            && event_messages(&c, "mc")
                .await
                .iter()
                .any(|e| e.starts_with("Finished recovery for cache nodes 0003"))
    })
    .await;
    assert_eq!(
        get(left[1].1, "new").await,
        None,
        "a recovered node starts empty"
    );
    set(left[1].1, "kept", "through the daemon's restart").await;

    // Memcached has no snapshots, no AUTH token, no replication group.
    let e = c
        .create_snapshot()
        .cache_cluster_id("mc")
        .snapshot_name("nope")
        .send()
        .await;
    assert_eq!(result_code(e), "SnapshotFeatureNotSupportedFault");
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("mc-auth")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .auth_token("a-token-of-enough-length")
        .send()
        .await;
    assert_eq!(result_code(e), "InvalidParameterCombination");
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("mc")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .send()
        .await;
    assert_eq!(result_code(e), "CacheClusterAlreadyExists");
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("mc-zones")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(2)
        .preferred_availability_zones("us-east-1a")
        .send()
        .await;
    assert_eq!(result_code(e), "InvalidParameterValue");

    // The daemon restarts: nodes and the configuration endpoint answer as before, the version unchanged.
    let before = discover(cfg).await;
    d.kill9();
    d.spawn();
    let c = d.client();
    wait_available(&c, "mc").await;
    eventually("the endpoint back", Duration::from_secs(10), || async {
        TcpStream::connect(cfg).await.map(drop)
    })
    .await;
    assert_eq!(discover(cfg).await, before);
    assert_eq!(
        get(left[1].1, "kept").await.as_deref(),
        Some("through the daemon's restart"),
        "nodes run on while the daemon restarts"
    );

    // Deleted: gone, every node stopped.
    let e = c
        .delete_cache_cluster()
        .cache_cluster_id("mc")
        .final_snapshot_identifier("final")
        .send()
        .await;
    assert_eq!(result_code(e), "SnapshotFeatureNotSupportedFault");
    let del = c
        .delete_cache_cluster()
        .cache_cluster_id("mc")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        del.cache_cluster().and_then(|c| c.cache_cluster_status()),
        Some("deleting")
    );
    eventually("mc deleted", Duration::from_secs(20), || async {
        let r = c
            .describe_cache_clusters()
            .cache_cluster_id("mc")
            .send()
            .await;
        let code = result_code(r);
        (code == "CacheClusterNotFound").then_some(()).ok_or(code)
    })
    .await;
    for (id, a) in &left {
        assert!(refused(*a).await, "{id} stopped");
    }
    assert!(refused(cfg).await, "configuration endpoint closed");
    assert!(d
        .memcached_pids()
        .iter()
        .all(|p| !engine::memcached::is_memcached_alive(*p)));
}

/// cache.t3.small's memory for items (1.37 GiB less the default 100 MB of connections overhead), in whole MiB as
/// memcached takes it.
fn aws_small_bytes() -> u64 {
    ((control::rules::node_types::maxmemory("cache.t3.small").expect("t3.small") >> 20) - 100) << 20
}

/// TLS in transit (Debian's memcached has it): nodes and the configuration endpoint speak TLS only, with
/// certificates of the deployment's CA naming their addresses.
#[tokio::test]
async fn memcached_cluster_with_tls_in_transit() {
    use engine::memcached::{connect, Tls};
    let d = Daemon::start();
    let c = d.client();
    c.create_cache_cluster()
        .cache_cluster_id("mc-tls")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(2)
        .transit_encryption_enabled(true)
        .send()
        .await
        .expect("create with TLS");
    let cc = wait_available(&c, "mc-tls").await;
    assert_eq!(cc.transit_encryption_enabled(), Some(true));
    let cfg = addr_of(cc.configuration_endpoint().expect("configuration endpoint"));
    let tls = Tls::new(&d.data_dir().join("tls/ca.pem"), None).expect("trust the CA");
    let ask_tls = |addr: SocketAddr, req: &'static str, end: &'static str| {
        let tls = tls.clone();
        async move {
            let mut s = connect(addr, Some(&tls)).await.expect("TLS");
            s.write_all(req.as_bytes()).await.expect("write");
            s.flush().await.expect("flush");
            let mut got = String::new();
            let mut buf = vec![0u8; 4096];
            while !got.ends_with(end) {
                let n = s.read(&mut buf).await.expect("read");
                assert!(n > 0, "closed after {got:?}");
                got.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            got
        }
    };
    let r = ask_tls(cfg, "config get cluster\r\n", "END\r\n").await;
    for (id, a) in nodes(&cc) {
        assert!(
            r.contains(&format!("{}|{}|{}", a.ip(), a.ip(), a.port())),
            "{id}: {r}"
        );
        let got = ask_tls(a, "set t 0 0 2\r\nok\r\nget t\r\n", "END\r\n").await;
        assert_eq!(got, "STORED\r\nVALUE t 0 2\r\nok\r\nEND\r\n", "{id}");
        // In the clear, the node answers nothing.
        assert!(
            engine::memcached::node_version(a).await.is_err(),
            "{id} in the clear"
        );
    }
    c.delete_cache_cluster()
        .cache_cluster_id("mc-tls")
        .send()
        .await
        .expect("delete");
}

/// `CacheParameterGroup.ParameterApplyStatus` and `CacheNodeIdsToReboot` of a cluster.
fn apply_status(cc: &CacheCluster) -> (String, Vec<String>) {
    let p = cc.cache_parameter_group().expect("parameter group");
    (
        p.parameter_apply_status().unwrap_or_default().to_string(),
        p.cache_node_ids_to_reboot().to_vec(),
    )
}

async fn wait_apply_status(c: &Client, id: &str, want: &str) -> CacheCluster {
    eventually(
        &format!("{id}: parameters {want}"),
        Duration::from_secs(20),
        || async {
            let cc = describe(c, id).await;
            if apply_status(&cc).0 == want {
                Ok(cc)
            } else {
                Err(apply_status(&cc))
            }
        },
    )
    .await
}

/// Stores `value` under `key` and returns memcached's answer line.
async fn store(addr: SocketAddr, key: &str, value: &[u8]) -> String {
    let mut req = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(value);
    req.extend_from_slice(b"\r\n");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&req).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).trim_end().to_string()
}

/// A Memcached parameter group's values reach the nodes: start-time options at creation and after a reboot
/// (`pending-reboot` with the nodes to reboot until then), the item memory live; values memcached could not start
/// with are refused; a cluster switched back to the default group takes its memory at once.
#[tokio::test]
async fn memcached_parameter_groups_have_their_effect() {
    let d = Daemon::start();
    let c = d.client();
    // The family's catalogue, with the node-type-specific memory and threads.
    let defaults = c
        .describe_engine_default_parameters()
        .cache_parameter_group_family("memcached1.6")
        .send()
        .await
        .expect("engine defaults");
    let e = defaults.engine_defaults().expect("defaults");
    let item = e
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("max_item_size"))
        .expect("max_item_size");
    assert_eq!(item.parameter_value(), Some("1048576"));
    assert_eq!(
        item.change_type(),
        Some(&aws_sdk_elasticache::types::ChangeType::RequiresReboot)
    );
    let specific: Vec<&str> = e
        .cache_node_type_specific_parameters()
        .iter()
        .filter_map(|p| p.parameter_name())
        .collect();
    assert_eq!(specific, ["max_cache_memory", "num_threads"]);

    c.create_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .cache_parameter_group_family("memcached1.6")
        .description("bigger items, no flush_all")
        .send()
        .await
        .expect("create group");
    c.modify_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .parameter_name_values(pair("max_item_size", "2097152"))
        .parameter_name_values(pair("disable_flush_all", "1"))
        .send()
        .await
        .expect("modify");
    c.create_cache_cluster()
        .cache_cluster_id("mcp")
        .engine("memcached")
        .num_cache_nodes(2)
        .cache_node_type("cache.t3.micro")
        .cache_parameter_group_name("mc-params")
        .send()
        .await
        .expect("create cluster");
    let cc = wait_available(&c, "mcp").await;
    assert_eq!(apply_status(&cc), ("in-sync".to_string(), vec![]));
    let two = nodes(&cc);
    let big = vec![b'x'; 1_500_000];
    for (id, a) in &two {
        // Larger than memcached's default 1 MB item limit, within the group's 2 MB.
        assert_eq!(store(*a, "big", &big).await, "STORED", "{id}");
        assert!(
            ask(*a, "flush_all\r\n", &["\r\n"])
                .await
                .starts_with("CLIENT_ERROR"),
            "{id}: flush_all is refused"
        );
        assert_eq!(limit_maxbytes(*a).await, (512 - 100) << 20, "{id}");
    }

    // An immediate parameter: the item memory, live on every node.
    c.modify_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .parameter_name_values(pair("cache_memlimit", "16"))
        .send()
        .await
        .expect("cache_memlimit");
    let cc = wait_apply_status(&c, "mcp", "in-sync").await;
    for (id, a) in &nodes(&cc) {
        assert_eq!(limit_maxbytes(*a).await, 16 << 20, "{id}");
        assert_eq!(
            get(*a, "big").await.map(|v| v.len()),
            Some(1_500_000),
            "{id} kept its item"
        );
    }

    // A start-time parameter: pending until each node restarts.
    c.modify_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .parameter_name_values(pair("error_on_memory_exhausted", "1"))
        .send()
        .await
        .expect("error_on_memory_exhausted");
    let cc = describe(&c, "mcp").await;
    assert_eq!(
        apply_status(&cc),
        (
            "pending-reboot".to_string(),
            vec!["0001".to_string(), "0002".to_string()]
        )
    );
    assert!(cc
        .cache_nodes()
        .iter()
        .all(|n| n.parameter_group_status() == Some("pending-reboot")));
    c.reboot_cache_cluster()
        .cache_cluster_id("mcp")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    let cc = wait_available(&c, "mcp").await;
    assert_eq!(
        apply_status(&cc),
        ("pending-reboot".to_string(), vec!["0002".to_string()])
    );
    let (n1, n2) = (two[0].1, two[1].1);
    // Writing past the 16 MB: the rebooted node refuses, the other evicts.
    let chunk = vec![b'v'; 100_000];
    let mut answers = (Vec::new(), Vec::new());
    for i in 0..300 {
        answers.0.push(store(n1, &format!("k{i}"), &chunk).await);
        answers.1.push(store(n2, &format!("k{i}"), &chunk).await);
    }
    assert!(
        answers
            .0
            .iter()
            .any(|a| a.to_ascii_lowercase().contains("out of memory")),
        "0001 fails writes when full: {:?}",
        answers.0.last()
    );
    assert!(
        answers.1.iter().all(|a| a == "STORED"),
        "0002 (not rebooted) still evicts: {:?}",
        answers.1.iter().find(|a| *a != "STORED")
    );

    // Values memcached could not start with are refused, and change nothing.
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .parameter_name_values(pair("max_item_size", "16777216"))
        .send()
        .await
        .expect_err("items larger than half the memory");
    assert_eq!(code(e), "InvalidParameterCombination");
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .parameter_name_values(pair("slab_chunk_max", "3000"))
        .send()
        .await
        .expect_err("not a multiple of 1024");
    assert_eq!(code(e), "InvalidParameterCombination");
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .parameter_name_values(pair("inline_ascii_resp", "1"))
        .send()
        .await
        .expect_err("memcached 1.6 has no inline_ascii_resp");
    assert_eq!(code(e), "InvalidParameterValue");
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("mcr")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .cache_parameter_group_name("mc-params")
        .send()
        .await
        .expect_err("a Memcached group for Redis");
    assert_eq!(code(e), "InvalidParameterCombination");
    let user: Vec<String> = c
        .describe_cache_parameters()
        .cache_parameter_group_name("mc-params")
        .source("user")
        .send()
        .await
        .expect("user parameters")
        .parameters()
        .iter()
        .filter_map(|p| p.parameter_name().map(str::to_string))
        .collect();
    assert_eq!(
        user,
        [
            "cache_memlimit",
            "disable_flush_all",
            "error_on_memory_exhausted",
            "max_item_size"
        ]
    );
    let e = c
        .delete_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .send()
        .await
        .expect_err("in use");
    assert_eq!(code(e), "InvalidCacheParameterGroupState");

    // Back to the default group: the memory at once, the start-time options at the next restart.
    c.modify_cache_cluster()
        .cache_cluster_id("mcp")
        .cache_parameter_group_name("default.memcached1.6")
        .apply_immediately(true)
        .send()
        .await
        .expect("switch to the default group");
    let cc = wait_apply_status(&c, "mcp", "pending-reboot").await;
    assert_eq!(apply_status(&cc).1, ["0001", "0002"]);
    for (id, a) in &nodes(&cc) {
        assert_eq!(limit_maxbytes(*a).await, (512 - 100) << 20, "{id}");
    }
    c.reboot_cache_cluster()
        .cache_cluster_id("mcp")
        .cache_node_ids_to_reboot("0001")
        .cache_node_ids_to_reboot("0002")
        .send()
        .await
        .expect("reboot both");
    let cc = wait_available(&c, "mcp").await;
    assert_eq!(apply_status(&cc), ("in-sync".to_string(), vec![]));
    assert_eq!(
        store(n1, "big", &big).await,
        "SERVER_ERROR object too large for cache",
        "the default 1 MB item limit again"
    );
    c.delete_cache_parameter_group()
        .cache_parameter_group_name("mc-params")
        .send()
        .await
        .expect("delete once unused");
}

/// The agent whose host runs node `name`.
fn agent_of<'a>(agents: &'a [Agent], name: &str) -> &'a Agent {
    agents
        .iter()
        .find(|a| a.node_pids().iter().any(|(n, _)| n == name))
        .unwrap_or_else(|| panic!("{name} runs under no agent"))
}

/// The pid of node `name` on any host (none while it is being started again).
fn pid_of(agents: &[Agent], name: &str) -> Option<u32> {
    agents
        .iter()
        .flat_map(|a| a.node_pids())
        .find(|(n, _)| n == name)
        .map(|(_, p)| p)
}

/// With hosts joined, a Memcached cluster's nodes run under the hosts' agents, one per host in its zone: started,
/// found dead and started again, removed and deleted through the agents, started anew elsewhere when their host is
/// lost; with TLS, each with a private key the leader sent. The configuration endpoint stays the daemon's and lists
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_nodes_run_on_the_hosts() {
    use engine::memcached::{connect, Tls};
    let d = Daemon::start();
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let mut agents: Vec<Agent> = zones
        .iter()
        .zip([76u8, 77, 78])
        .map(|(z, octet)| Agent::join(&[&d], z, octet, &join_token(&d, None)))
        .collect();
    let c = d.client();
    c.create_cache_cluster()
        .cache_cluster_id("mc-hosted")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(3)
        .az_mode(aws_sdk_elasticache::types::AzMode::CrossAz)
        .set_preferred_availability_zones(Some(zones.iter().map(|z| z.to_string()).collect()))
        .send()
        .await
        .expect("create");
    let cc = wait_available(&c, "mc-hosted").await;
    for n in cc.cache_nodes() {
        let name = format!("mc-hosted-{}", n.cache_node_id().expect("id"));
        let agent = agent_of(&agents, &name);
        assert_eq!(n.customer_availability_zone(), Some(agent.zone.as_str()));
        let octet = agent.addresses.split('.').nth(1).expect("octet");
        let at = addr_of(n.endpoint().expect("endpoint"));
        assert!(
            at.ip().to_string().starts_with(&format!("127.{octet}.")),
            "{name} at {at}"
        );
        assert!(!d.data_dir().join("nodes").join(&name).exists());
    }
    let cfg = addr_of(cc.configuration_endpoint().expect("configuration endpoint"));
    let (_, listed) = discover(cfg).await;
    let mut want: Vec<SocketAddr> = nodes(&cc).into_iter().map(|(_, a)| a).collect();
    let mut got = listed.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "discovery lists the hosts' nodes");
    let (first_id, first) = nodes(&cc)[0].clone();
    set(first, "k", "on a host").await;
    assert_eq!(get(first, "k").await.as_deref(), Some("on a host"));

    // Killed on its host: started again through the agent (empty, as a recovered Memcached node is).
    let name = format!("mc-hosted-{first_id}");
    let pid = pid_of(&agents, &name).expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    eventually(
        "the node started again",
        Duration::from_secs(30),
        || async {
            match pid_of(&agents, &name) {
                Some(p) if p != pid && engine::memcached::is_memcached_alive(p) => Ok(()),
                other => Err(other),
            }
        },
    )
    .await;
    eventually("it serves again", Duration::from_secs(10), || async {
        engine::memcached::node_version(first)
            .await
            .map_err(|e| e.to_string())
    })
    .await;

    // One node fewer: its process stops and its directory goes, on its host.
    c.modify_cache_cluster()
        .cache_cluster_id("mc-hosted")
        .num_cache_nodes(2)
        .cache_node_ids_to_remove("0003")
        .apply_immediately(true)
        .send()
        .await
        .expect("remove a node");
    let cc = wait_available(&c, "mc-hosted").await;
    assert_eq!(cc.cache_nodes().len(), 2);
    assert!(agents
        .iter()
        .all(|a| !a.data_dir().join("nodes").join("mc-hosted-0003").exists()));

    // A host lost with its node: the node starts anew, empty, on a host that is left, and discovery follows.
    let (lost_id, lost_at) = nodes(&cc)
        .into_iter()
        .find(|(id, _)| id != &first_id)
        .expect("another node");
    let lost_name = format!("mc-hosted-{lost_id}");
    let lost_host = agents
        .iter()
        .position(|a| a.node_pids().iter().any(|(n, _)| *n == lost_name))
        .expect("its host");
    let (version_before, _) = discover(cfg).await;
    agents[lost_host].lose();
    let moved = eventually(
        "the node replaced elsewhere",
        Duration::from_secs(30),
        || async {
            let cc = describe(&c, "mc-hosted").await;
            let at = nodes(&cc)
                .into_iter()
                .find(|(id, _)| *id == lost_id)
                .map(|(_, a)| a);
            match (cc.cache_cluster_status(), at) {
                (Some("available"), Some(a)) if a != lost_at => Ok(a),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    // Listed once it serves, with a new version; the lost address no more.
    let (version_after, listed) = eventually(
        "discovery lists the new node",
        Duration::from_secs(20),
        || async {
            let (v, listed) = discover(cfg).await;
            listed
                .contains(&moved)
                .then_some((v, listed.clone()))
                .ok_or(listed)
        },
    )
    .await;
    assert!(version_after > version_before, "a new discovery version");
    assert!(!listed.contains(&lost_at), "{listed:?}");
    set(moved, "k2", "replaced").await;
    assert_eq!(get(moved, "k2").await.as_deref(), Some("replaced"));
    let events = event_messages(&c, "mc-hosted").await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with(&format!("Cache node {lost_id} replaced"))),
        "{events:?}"
    );

    // With TLS: the node serves TLS only, with the certificate the leader sent; the daemon's endpoint lists it.
    c.create_cache_cluster()
        .cache_cluster_id("mc-hosted-tls")
        .engine("memcached")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(1)
        .transit_encryption_enabled(true)
        .send()
        .await
        .expect("create with TLS");
    let tc = wait_available(&c, "mc-hosted-tls").await;
    let (_, node) = nodes(&tc)[0].clone();
    let agent = agent_of(&agents, "mc-hosted-tls-0001");
    {
        use std::os::unix::fs::PermissionsExt;
        let key = agent.data_dir().join("nodes/mc-hosted-tls-0001/tls.key");
        let mode = std::fs::metadata(&key)
            .expect("the key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private");
    }
    let tls = Tls::new(&d.data_dir().join("tls/ca.pem"), None).expect("trust the CA");
    let mut s = connect(node, Some(&tls)).await.expect("TLS to the node");
    s.write_all(b"set t 0 0 2\r\nok\r\nget t\r\n")
        .await
        .expect("write");
    s.flush().await.expect("flush");
    let mut got = String::new();
    let mut buf = vec![0u8; 4096];
    while !got.ends_with("END\r\n") {
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed after {got:?}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(got, "STORED\r\nVALUE t 0 2\r\nok\r\nEND\r\n");
    assert!(
        engine::memcached::node_version(node).await.is_err(),
        "no plaintext"
    );

    for id in ["mc-hosted", "mc-hosted-tls"] {
        c.delete_cache_cluster()
            .cache_cluster_id(id)
            .send()
            .await
            .expect("delete");
    }
    eventually(
        "every node gone from the hosts",
        Duration::from_secs(30),
        || async {
            // The lost host's files stay with it (its processes were killed with it).
            let left: Vec<(String, u32)> = agents
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != lost_host)
                .flat_map(|(_, a)| a.node_pids())
                .collect();
            let clusters: Vec<(String, String)> = c
                .describe_cache_clusters()
                .send()
                .await
                .map(|o| {
                    o.cache_clusters()
                        .iter()
                        .map(|cc| {
                            (
                                cc.cache_cluster_id().unwrap_or_default().to_string(),
                                cc.cache_cluster_status().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            left.is_empty().then_some(()).ok_or((left, clusters))
        },
    )
    .await;
}
