//! Standalone Redis OSS cache clusters through the SDK: created, used, modified, rebooted, snapshotted, made the
//! primary of a replication group with their data (`PrimaryClusterId`), kept again by `RetainPrimaryCluster`, and
//! deleted with a final snapshot; AWS's refusals for what a one-node cluster cannot do.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{CacheCluster, Tag};
use aws_sdk_elasticache::Client;
use common::*;
use redis::AsyncCommands;

async fn describe_cluster(c: &Client, id: &str) -> CacheCluster {
    c.describe_cache_clusters()
        .cache_cluster_id(id)
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe cluster")
        .cache_clusters()[0]
        .clone()
}

async fn wait_cluster(c: &Client, id: &str, status: &str) -> CacheCluster {
    eventually(
        &format!("{id} {status}"),
        Duration::from_secs(30),
        || async {
            let cc = describe_cluster(c, id).await;
            if cc.cache_cluster_status() == Some(status) {
                Ok(cc)
            } else {
                Err(cc.cache_cluster_status().map(str::to_string))
            }
        },
    )
    .await
}

fn node_url(cc: &CacheCluster) -> String {
    redis_url(cc.cache_nodes()[0].endpoint().expect("a node endpoint"))
}

async fn maxmemory(url: &str) -> u64 {
    let mut n = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut n)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("maxmemory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("maxmemory")
}

async fn wait_snapshot(c: &Client, name: &str) -> aws_sdk_elasticache::types::Snapshot {
    // A final snapshot is recorded when the deletion reaches it.
    eventually(
        &format!("snapshot {name} available"),
        Duration::from_secs(30),
        || async {
            let out = c
                .describe_snapshots()
                .snapshot_name(name)
                .send()
                .await
                .ok()?;
            out.snapshots()
                .first()
                .filter(|s| s.snapshot_status() == Some("available"))
                .cloned()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_cluster_lives_alone_then_leads_a_group() {
    let d = Daemon::start();
    let c = d.client();

    // What a Redis OSS cluster cannot be: refused, nothing created.
    for (nodes, az_mode, code) in [
        (Some(2), None, "InvalidParameterValue"),
        (None, Some("cross-az"), "InvalidParameterValue"),
    ] {
        let mut req = c
            .create_cache_cluster()
            .cache_cluster_id("bad")
            .engine("redis")
            .cache_node_type("cache.t3.micro");
        if let Some(n) = nodes {
            req = req.num_cache_nodes(n);
        }
        if let Some(m) = az_mode {
            req = req.az_mode(m.into());
        }
        let e = req.send().await.expect_err("refused");
        assert_eq!(e.code(), Some(code), "{e:?}");
    }
    // AWS's answer without a node type (outside a replication group).
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("bad")
        .engine("redis")
        .send()
        .await
        .expect_err("no node type");
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
    assert_eq!(
        e.message(),
        Some("The parameter CacheNodeType must be provided and must not be null.")
    );

    let out = c
        .create_cache_cluster()
        .cache_cluster_id("solo")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_nodes(1)
        .preferred_availability_zone("us-east-1b")
        .tags(Tag::builder().key("team").value("cache").build())
        .send()
        .await
        .expect("create");
    let cc = out.cache_cluster().expect("cluster");
    assert_eq!(cc.cache_cluster_status(), Some("creating"));
    assert_eq!(cc.replication_group_id(), None);
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("solo")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect_err("exists");
    assert_eq!(e.code(), Some("CacheClusterAlreadyExists"));
    assert_eq!(e.message(), Some("Cache cluster solo already exists."));
    let cc = wait_cluster(&c, "solo", "available").await;
    assert_eq!(cc.num_cache_nodes(), Some(1));
    assert_eq!(cc.preferred_availability_zone(), Some("us-east-1b"));
    assert_eq!(cc.engine(), Some("redis"));
    assert_eq!(cc.replication_group_id(), None);
    // It is no replication group.
    let groups = c
        .describe_replication_groups()
        .send()
        .await
        .expect("groups");
    assert!(groups.replication_groups().is_empty());
    let e = c
        .describe_replication_groups()
        .replication_group_id("solo")
        .send()
        .await
        .expect_err("not a group");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));
    let e = c
        .modify_replication_group()
        .replication_group_id("solo")
        .cache_node_type("cache.t3.small")
        .send()
        .await
        .expect_err("not a group");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));
    let events = c
        .describe_events()
        .source_type("cache-cluster".into())
        .source_identifier("solo")
        .send()
        .await
        .expect("events");
    assert!(events
        .events()
        .iter()
        .any(|e| e.message() == Some("Cache cluster solo created")));

    // Used through its node's endpoint.
    let url = node_url(&cc);
    let mut n = redis_conn(&url).await;
    let _: () = n.set("kept", "through everything").await.expect("set");

    // ModifyCacheCluster: a node type is a new maxmemory; Memcached-only parameters are refused.
    c.modify_cache_cluster()
        .cache_cluster_id("solo")
        .cache_node_type("cache.t3.small")
        .apply_immediately(true)
        .send()
        .await
        .expect("modify");
    let cc = wait_cluster(&c, "solo", "available").await;
    assert_eq!(cc.cache_node_type(), Some("cache.t3.small"));
    // cache.t3.small less the default reserved-memory-percent (25).
    assert_eq!(maxmemory(&url).await, 1_103_269_724);
    let e = c
        .modify_cache_cluster()
        .cache_cluster_id("solo")
        .num_cache_nodes(2)
        .send()
        .await
        .expect_err("one node");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = c
        .modify_cache_cluster()
        .cache_cluster_id("nope")
        .cache_node_type("cache.t3.small")
        .send()
        .await
        .expect_err("no such cluster");
    assert_eq!(e.code(), Some("CacheClusterNotFound"));

    // Reboot: the node restarts and keeps its data.
    let pid_before = node_pid(&d, "solo");
    c.reboot_cache_cluster()
        .cache_cluster_id("solo")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    eventually("the node restarted", Duration::from_secs(30), || async {
        node_pid(&d, "solo") != pid_before
    })
    .await;
    wait_cluster(&c, "solo", "available").await;
    let mut n = redis_conn(&url).await;
    let v: String = n.get("kept").await.expect("kept after reboot");
    assert_eq!(v, "through everything");

    // A snapshot of the cluster names it, and no replication group.
    c.create_snapshot()
        .cache_cluster_id("solo")
        .snapshot_name("solo-snap")
        .send()
        .await
        .expect("snapshot");
    let s = wait_snapshot(&c, "solo-snap").await;
    assert_eq!(s.cache_cluster_id(), Some("solo"));
    assert_eq!(s.replication_group_id(), None);

    // PrimaryClusterId: the cluster leads a new group with its data; what the group takes from it may not be given.
    let e = c
        .create_replication_group()
        .replication_group_id("led")
        .replication_group_description("led by solo")
        .primary_cluster_id("solo")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect_err("node type comes from the cluster");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    let e = c
        .create_replication_group()
        .replication_group_id("led")
        .replication_group_description("led by nothing")
        .primary_cluster_id("nope")
        .send()
        .await
        .expect_err("no such cluster");
    assert_eq!(e.code(), Some("CacheClusterNotFound"));
    c.create_replication_group()
        .replication_group_id("led")
        .replication_group_description("led by solo")
        .primary_cluster_id("solo")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("create from the cluster");
    let g = wait_available(&c, "led", Duration::from_secs(30)).await;
    assert_eq!(g.cache_node_type(), Some("cache.t3.small"));
    assert_eq!(g.automatic_failover().map(|a| a.as_str()), Some("enabled"));
    let members = members_of(&g);
    assert_eq!(members.len(), 3);
    assert_eq!(
        (members[0].0.as_str(), members[0].1.as_str()),
        ("solo", "primary")
    );
    for (id, role, url) in &members {
        let mut r = redis_conn(url).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v: Option<String> = r.get("kept").await.expect("get");
            if v.as_deref() == Some("through everything") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id} ({role}) has the key"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let cc = describe_cluster(&c, "solo").await;
    assert_eq!(cc.replication_group_id(), Some("led"));
    // Writes through the group's primary endpoint reach the cluster's node.
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("primary"),
    ))
    .await;
    let _: () = p.set("via-group", "yes").await.expect("set via the group");
    let mut n = redis_conn(&url).await;
    let v: Option<String> = n.get("via-group").await.expect("get");
    assert_eq!(v.as_deref(), Some("yes"));

    // CreateCacheCluster with ReplicationGroupId: a read replica named as asked, with the group's settings.
    let e = c
        .create_cache_cluster()
        .cache_cluster_id("extra")
        .replication_group_id("led")
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect_err("the node type is the group's");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    let out = c
        .create_cache_cluster()
        .cache_cluster_id("extra")
        .replication_group_id("led")
        .preferred_availability_zone("us-east-1c")
        .send()
        .await
        .expect("a replica by CreateCacheCluster");
    let cc = out.cache_cluster().expect("cluster");
    assert_eq!(cc.replication_group_id(), Some("led"));
    assert_eq!(cc.cache_cluster_status(), Some("creating"));
    let g = wait_available(&c, "led", Duration::from_secs(30)).await;
    assert!(g.member_clusters().iter().any(|m| m == "extra"));
    let cc = describe_cluster(&c, "extra").await;
    assert_eq!(cc.preferred_availability_zone(), Some("us-east-1c"));
    assert_eq!(cc.cache_node_type(), Some("cache.t3.small"));
    let mut r = redis_conn(&node_url(&cc)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while r
        .get::<_, Option<String>>("via-group")
        .await
        .expect("get")
        .as_deref()
        != Some("yes")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the new replica synced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // RetainPrimaryCluster: the primary is a standalone cluster again, with its data, and it is deleted with a
    // final snapshot.
    c.delete_replication_group()
        .replication_group_id("led")
        .retain_primary_cluster(true)
        .send()
        .await
        .expect("delete keeping the primary");
    wait_deleted(&c, "led", Duration::from_secs(30)).await;
    let cc = wait_cluster(&c, "solo", "available").await;
    assert_eq!(cc.replication_group_id(), None);
    let mut n = redis_conn(&node_url(&cc)).await;
    let v: Option<String> = n.get("via-group").await.expect("get");
    assert_eq!(v.as_deref(), Some("yes"));
    let out = c
        .delete_cache_cluster()
        .cache_cluster_id("solo")
        .final_snapshot_identifier("solo-final")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        out.cache_cluster().and_then(|c| c.cache_cluster_status()),
        Some("deleting")
    );
    let s = wait_snapshot(&c, "solo-final").await;
    assert_eq!(s.cache_cluster_id(), Some("solo"));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match c
            .describe_cache_clusters()
            .cache_cluster_id("solo")
            .send()
            .await
        {
            Err(e) if e.code() == Some("CacheClusterNotFound") => break,
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "the cluster is gone");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        d.node_pids().is_empty(),
        "no node left: {:?}",
        d.node_pids()
    );
}
