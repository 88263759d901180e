//! Cluster mode helpers: a sharded group, the `redis` crate's cluster client on its configuration endpoint, `Slots`
//! strings, each member's node endpoint.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_elasticache::types::ReplicationGroup;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use super::*;

pub async fn create_sharded(
    c: &aws_sdk_elasticache::Client,
    id: &str,
    shards: i32,
    replicas: i32,
) -> ReplicationGroup {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("sharded")
        .num_node_groups(shards)
        .replicas_per_node_group(replicas)
        .send()
        .await
        .expect("create");
    wait_available(c, id, Duration::from_secs(60)).await
}

pub fn config_url(g: &ReplicationGroup) -> String {
    redis_url(
        g.configuration_endpoint()
            .expect("a configuration endpoint"),
    )
}

pub async fn cluster_conn(url: &str) -> ClusterConnection {
    let client = ClusterClient::builder(vec![url.to_string()])
        .retries(30)
        .min_retry_wait(5)
        .max_retry_wait(100)
        .connection_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(500))
        .build()
        .expect("cluster client");
    // The endpoint may hand the first connection to a node that is going away: try again for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), client.get_async_connection()).await {
            Ok(Ok(c)) => return c,
            Ok(Err(e)) => assert!(
                std::time::Instant::now() < deadline,
                "cluster connect to {url}: {e}"
            ),
            Err(_) => assert!(
                std::time::Instant::now() < deadline,
                "cluster connect to {url}: timed out"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Parses a `Slots` string (`0-5461` or `0-324,5462-5692`) into inclusive ranges.
pub fn slot_ranges(text: &str) -> Vec<(u16, u16)> {
    text.split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => (a.parse().expect("slot"), b.parse().expect("slot")),
            None => {
                let s = r.parse().expect("slot");
                (s, s)
            }
        })
        .collect()
}

/// Each member cluster's node endpoint, from `DescribeCacheClusters` (one call per member, as AWS's tools do).
pub async fn node_urls(
    c: &aws_sdk_elasticache::Client,
    g: &ReplicationGroup,
) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for id in g.member_clusters() {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .show_cache_node_info(true)
            .send()
            .await
            .expect("describe cache cluster");
        let cluster = &cc.cache_clusters()[0];
        assert_eq!(cluster.replication_group_id(), g.replication_group_id());
        assert_eq!(cluster.num_cache_nodes(), Some(1));
        let node = &cluster.cache_nodes()[0];
        out.insert(
            id.clone(),
            redis_url(node.endpoint().expect("node endpoint")),
        );
    }
    out
}

/// A key whose slot is in `ranges`.
pub fn key_in(ranges: &[(u16, u16)], prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| {
            let s = redis::cluster_routing::get_slot(k.as_bytes());
            ranges.iter().any(|(a, b)| (*a..=*b).contains(&s))
        })
        .expect("a key")
}

/// Sets every key of `keys` to its own name through the cluster client, 2,000 at a time.
pub async fn set_all(cc: &ClusterConnection, keys: &[String]) {
    use redis::AsyncCommands;
    for chunk in keys.chunks(2000) {
        let mut set = tokio::task::JoinSet::new();
        for k in chunk {
            let (mut conn, k) = (cc.clone(), k.clone());
            set.spawn(async move { conn.set::<_, _, ()>(&k, &k).await });
        }
        while let Some(r) = set.join_next().await {
            r.expect("task").expect("set through the cluster client");
        }
    }
}

/// Every key of `keys` reads back as its own name through the cluster client.
pub async fn assert_all(cc: &ClusterConnection, keys: &[String]) {
    use redis::AsyncCommands;
    for chunk in keys.chunks(2000) {
        let mut set = tokio::task::JoinSet::new();
        for k in chunk {
            let (mut conn, k) = (cc.clone(), k.clone());
            set.spawn(async move { (conn.get::<_, Option<String>>(&k).await, k) });
        }
        while let Some(r) = set.join_next().await {
            let (v, k) = r.expect("task");
            assert_eq!(
                v.expect("get").as_deref(),
                Some(k.as_str()),
                "key {k} read back"
            );
        }
    }
}

/// A cluster client over TLS (trusting only `ca`) with AUTH `password`, started from `url`'s host and port.
pub async fn tls_cluster_conn(
    g: &ReplicationGroup,
    ca: &std::path::Path,
    password: &str,
) -> ClusterConnection {
    let ep = g
        .configuration_endpoint()
        .expect("a configuration endpoint");
    let url = format!(
        "rediss://:{password}@{}:{}/",
        ep.address().expect("address"),
        ep.port().expect("port")
    );
    let client = ClusterClient::builder(vec![url])
        .certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(ca).expect("CA bundle")),
        })
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_secs(2))
        .build()
        .expect("tls cluster client");
    tokio::time::timeout(Duration::from_secs(10), client.get_async_connection())
        .await
        .expect("tls cluster connect in time")
        .expect("tls cluster connect")
}

/// Sets `key:<i>` to `i` for every `i` below `n` through the cluster client, 2,000 at a time.
pub async fn fill_numbered(cc: &ClusterConnection, n: u64) {
    use redis::AsyncCommands;
    for chunk in (0..n).collect::<Vec<_>>().chunks(2000) {
        let mut set = tokio::task::JoinSet::new();
        for i in chunk {
            let (mut conn, i) = (cc.clone(), *i);
            set.spawn(async move { conn.set::<_, _, ()>(format!("key:{i}"), i).await });
        }
        while let Some(r) = set.join_next().await {
            r.expect("task").expect("set");
        }
    }
}
