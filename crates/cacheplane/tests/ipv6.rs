//! `NetworkType dual_stack` and `IpDiscovery`: the nodes of a dual-stack group listen on `::1` as well as on
//! their IPv4 addresses; `IpDiscovery ipv6` moves the replication links and the reported endpoints to IPv6, a
//! node at a time, while a writer keeps writing; clients connect over IPv6.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{IpDiscovery, NetworkType};
use aws_sdk_elasticache::Client;
use common::*;
use redis::AsyncCommands;

async fn info_replication(url: &str) -> HashMap<String, String> {
    let mut c = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut c)
        .await
        .expect("info");
    info.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits until every replica follows the primary over `family_host` (`::1` or an IPv4 address prefix) with
/// its link up.
async fn wait_links(g: &aws_sdk_elasticache::types::ReplicationGroup, ipv6: bool) {
    for (id, role, url) in members_of(g) {
        if role != "replica" {
            continue;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let i = info_replication(&url).await;
            let host = i.get("master_host").cloned().unwrap_or_default();
            let ok = i.get("master_link_status").map(String::as_str) == Some("up")
                && (host == "::1") == ipv6
                && (ipv6 || host.starts_with("127."));
            if ok {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} does not follow its primary over {}: {i:?}",
                if ipv6 { "IPv6" } else { "IPv4" }
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn get_eventually(url: &str, key: &str, want: &str) {
    let mut c = redis_conn(url).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let v: Option<String> = c.get(key).await.expect("get");
        if v.as_deref() == Some(want) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url}: {key} is {v:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn primary_url(g: &aws_sdk_elasticache::types::ReplicationGroup) -> String {
    redis_url(
        g.node_groups()[0]
            .primary_endpoint()
            .expect("primary endpoint"),
    )
}

fn reader_url(g: &aws_sdk_elasticache::types::ReplicationGroup) -> String {
    redis_url(
        g.node_groups()[0]
            .reader_endpoint()
            .expect("reader endpoint"),
    )
}

async fn modify_discovery(c: &Client, id: &str, d: IpDiscovery) {
    let r = c
        .modify_replication_group()
        .replication_group_id(id)
        .ip_discovery(d.clone())
        .apply_immediately(true)
        .send()
        .await
        .expect("modify");
    let g = r.replication_group().expect("group");
    assert_eq!(g.status(), Some("modifying"));
    assert_eq!(g.ip_discovery(), Some(&d));
    wait_available(c, id, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_discovery_moves_a_dual_stack_group_to_ipv6_and_back() {
    let mut d = Daemon::start();
    let c = d.client();

    // AWS's rules: IPv6 discovery needs a dual-stack network.
    let e = c
        .create_replication_group()
        .replication_group_id("v4only")
        .replication_group_description("x")
        .ip_discovery(IpDiscovery::Ipv6)
        .send()
        .await
        .expect_err("ipv6 discovery on ipv4");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    assert!(c
        .describe_replication_groups()
        .replication_group_id("v4only")
        .send()
        .await
        .is_err());

    c.create_replication_group()
        .replication_group_id("v6")
        .replication_group_description("dual stack")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .network_type(NetworkType::DualStack)
        .send()
        .await
        .expect("create dual stack");
    wait_available(&c, "v6", Duration::from_secs(30)).await;
    let g = describe_group(&c, "v6").await;
    assert_eq!(g.network_type(), Some(&NetworkType::DualStack));
    assert_eq!(g.ip_discovery(), Some(&IpDiscovery::Ipv4));
    let v4_primary = primary_url(&g);
    assert!(v4_primary.starts_with("redis://127."), "{v4_primary}");
    let members = members_of(&g);
    let mut ports: Vec<&str> = members
        .iter()
        .map(|(_, _, u)| u.rsplit(':').next().expect("port"))
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(
        ports.len(),
        3,
        "each node has a port of its own: {members:?}"
    );
    wait_links(&g, false).await;
    // Every node already listens on ::1 too (dual stack), at its own port.
    for (id, _, url) in &members {
        let port = url.trim_end_matches('/').rsplit(':').next().expect("port");
        let mut n = redis_conn(&format!("redis://[::1]:{port}/")).await;
        let pong: String = redis::cmd("PING").query_async(&mut n).await.expect("ping");
        assert_eq!(pong, "PONG", "{id} over ::1");
    }
    let mut p4 = redis_conn(&v4_primary).await;
    let _: () = p4.set("before", "v4").await.expect("set");

    // Move to IPv6 with a writer running through the IPv4 primary endpoint: nothing it sees changes.
    let writer = Writer::start(v4_primary.clone(), "w");
    writer.wait_for_more_acks(50).await;
    modify_discovery(&c, "v6", IpDiscovery::Ipv6).await;
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    assert_eq!(log.lost(), 0);
    assert_eq!(
        log.errors, 0,
        "the writer saw errors: {:?}",
        log.error_times
    );
    assert!(log.acks.len() > 100, "the writer wrote: {}", log.acks.len());

    let g = describe_group(&c, "v6").await;
    assert_eq!(g.ip_discovery(), Some(&IpDiscovery::Ipv6));
    assert_eq!(g.network_type(), Some(&NetworkType::DualStack));
    let p6 = primary_url(&g);
    let r6 = reader_url(&g);
    assert!(p6.starts_with("redis://[::1]:"), "{p6}");
    assert!(r6.starts_with("redis://[::1]:"), "{r6}");
    let members = members_of(&g);
    for (id, _, url) in &members {
        assert!(url.starts_with("redis://[::1]:"), "{id}: {url}");
    }
    // The links really run over IPv6: each replica follows ::1, the primary lists its replicas at ::1.
    wait_links(&g, true).await;
    let primary_node = members
        .iter()
        .find(|(_, role, _)| role == "primary")
        .map(|(_, _, u)| u.clone())
        .expect("a primary");
    let i = info_replication(&primary_node).await;
    let at_v6 = i
        .iter()
        .filter(|(k, v)| k.starts_with("slave") && v.starts_with("ip=::1,"))
        .count();
    assert_eq!(at_v6, 2, "replicas announced at ::1: {i:?}");

    // A client over IPv6, through the primary endpoint; the node sees the connection arrive on ::1.
    let mut p = redis_conn(&p6).await;
    let _: () = p.set("k6", "over-ipv6").await.expect("set over ipv6");
    let me: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut p)
        .await
        .expect("client info");
    assert!(me.contains("laddr=[::1]:"), "{me}");
    for (_, role, url) in &members {
        if role == "replica" {
            get_eventually(url, "k6", "over-ipv6").await;
            get_eventually(url, "before", "v4").await;
        }
    }
    get_eventually(&r6, "k6", "over-ipv6").await;
    let events = event_messages(&c, "v6").await;
    assert!(
        events
            .iter()
            .any(|m| m == "IP discovery of replication group v6 changed to ipv6"),
        "{events:?}"
    );
    let clusters = c
        .describe_cache_clusters()
        .cache_cluster_id("v6-002")
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe cluster");
    let cc = &clusters.cache_clusters()[0];
    assert_eq!(cc.ip_discovery(), Some(&IpDiscovery::Ipv6));
    assert_eq!(cc.network_type(), Some(&NetworkType::DualStack));
    let node_ep = cc.cache_nodes()[0].endpoint().expect("node endpoint");
    assert_eq!(node_ep.address(), Some("::1"));

    // A failover moves the IPv6 primary endpoint too.
    let old_primary = members
        .iter()
        .find(|(_, role, _)| role == "primary")
        .map(|(id, _, _)| id.clone())
        .expect("primary");
    c.test_failover()
        .replication_group_id("v6")
        .node_group_id("0001")
        .send()
        .await
        .expect("test failover");
    let g = wait_group(&c, "v6", Duration::from_secs(20), "a new primary", |g| {
        members_of(g)
            .iter()
            .any(|(id, role, _)| role == "primary" && *id != old_primary)
    })
    .await;
    wait_available(&c, "v6", Duration::from_secs(20)).await;
    let mut p = redis_conn_with_timeout(&p6, Duration::from_secs(2))
        .await
        .expect("connect to the IPv6 primary endpoint after the failover");
    let _: () = p
        .set("after", "failover")
        .await
        .expect("write after failover");
    let (_, _, new_primary) = members_of(&g)
        .into_iter()
        .find(|(_, role, _)| role == "primary")
        .expect("primary");
    get_eventually(&new_primary, "after", "failover").await;

    // The forwarding endpoints are the daemon's: after a kill -9 and a restart they serve again, from the
    // stored ports.
    d.kill9();
    d.spawn();
    let mut p = redis_conn_with_timeout(&p6, Duration::from_secs(2))
        .await
        .expect("connect to the IPv6 primary endpoint after a daemon restart");
    let _: () = p
        .set("restarted", "yes")
        .await
        .expect("write after restart");
    get_eventually(&new_primary, "restarted", "yes").await;

    // And back to IPv4.
    let g = wait_group(
        &c,
        "v6",
        Duration::from_secs(20),
        "all replicas linked",
        |g| {
            members_of(g)
                .iter()
                .filter(|(_, role, _)| role == "replica")
                .count()
                == 2
        },
    )
    .await;
    wait_links(&g, true).await;
    modify_discovery(&c, "v6", IpDiscovery::Ipv4).await;
    let g = describe_group(&c, "v6").await;
    assert_eq!(g.ip_discovery(), Some(&IpDiscovery::Ipv4));
    assert!(primary_url(&g).starts_with("redis://127."));
    wait_links(&g, false).await;
    get_eventually(&reader_url(&g), "after", "failover").await;

    // An IPv4 group cannot discover IPv6 addresses; nothing changes.
    c.create_replication_group()
        .replication_group_id("plain")
        .replication_group_description("ipv4")
        .send()
        .await
        .expect("create");
    wait_available(&c, "plain", Duration::from_secs(30)).await;
    let e = c
        .modify_replication_group()
        .replication_group_id("plain")
        .ip_discovery(IpDiscovery::Ipv6)
        .send()
        .await
        .expect_err("ipv6 on ipv4");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    let g = describe_group(&c, "plain").await;
    assert_eq!(g.status(), Some("available"));
    assert_eq!(g.ip_discovery(), Some(&IpDiscovery::Ipv4));
    assert_eq!(g.network_type(), Some(&NetworkType::Ipv4));
}
