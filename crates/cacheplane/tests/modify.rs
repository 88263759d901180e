//! `ModifyReplicationGroup` through the real SDK, each parameter's effect checked on the nodes (or on what the
//! API reports, for settings that are reports), and its errors.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::Client;
use common::*;
use redis::AsyncCommands;

async fn create(c: &Client, id: &str, nodes: i32, node_type: &str) {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("modify")
        .num_cache_clusters(nodes)
        .cache_node_type(node_type)
        .send()
        .await
        .expect("create");
    wait_available(c, id, Duration::from_secs(30)).await;
}

async fn maxmemory(url: &str) -> u64 {
    let mut c = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut c)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("maxmemory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("maxmemory in INFO")
}

async fn wait_maxmemory(g: &aws_sdk_elasticache::types::ReplicationGroup, want: u64) {
    for (id, _, url) in members_of(g) {
        eventually(
            &format!("{id}: maxmemory {want}"),
            Duration::from_secs(10),
            || async {
                let m = maxmemory(&url).await;
                (m == want).then_some(()).ok_or(m)
            },
        )
        .await;
    }
}

/// `maxmemory` of the node types: their memory less the default `reserved-memory-percent` (25).
const SMALL: u64 = 1_103_269_724;
const MEDIUM: u64 = 2_488_396_677;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_type_sets_maxmemory_and_a_scale_down_must_fit() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mod-type", 2, "cache.t3.small").await;
    let g = describe_group(&c, "mod-type").await;
    wait_maxmemory(&g, SMALL).await;
    // 560 MiB of data: more than a cache.t3.micro holds.
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("endpoint"),
    ))
    .await;
    let value = vec![b'x'; 1 << 20];
    for i in 0..560 {
        let _: () = p.set(format!("big:{i}"), &value).await.expect("set");
    }
    let e = c
        .modify_replication_group()
        .replication_group_id("mod-type")
        .cache_node_type("cache.t3.micro")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("does not fit");
    assert_eq!(code(e), "InvalidParameterCombination");
    let e = c
        .modify_replication_group()
        .replication_group_id("mod-type")
        .cache_node_type("cache.huge")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("no such type");
    assert_eq!(code(e), "InvalidParameterValue");
    let g = describe_group(&c, "mod-type").await;
    assert_eq!(
        g.cache_node_type(),
        Some("cache.t3.small"),
        "nothing changed"
    );
    wait_maxmemory(&g, SMALL).await;

    let out = c
        .modify_replication_group()
        .replication_group_id("mod-type")
        .cache_node_type("cache.t3.medium")
        .apply_immediately(true)
        .send()
        .await
        .expect("scale up");
    let rg = out.replication_group().expect("group");
    assert_eq!(rg.status(), Some("modifying"));
    assert_eq!(rg.cache_node_type(), Some("cache.t3.medium"));
    let g = wait_available(&c, "mod-type", Duration::from_secs(30)).await;
    wait_maxmemory(&g, MEDIUM).await;
    let n: i64 = redis::cmd("DBSIZE")
        .query_async(&mut p)
        .await
        .expect("dbsize");
    assert_eq!(n, 560, "no restart, no data lost");
    let clusters = c
        .describe_cache_clusters()
        .cache_cluster_id("mod-type-002")
        .send()
        .await
        .expect("clusters");
    assert_eq!(
        clusters.cache_clusters()[0].cache_node_type(),
        Some("cache.t3.medium")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_node_type_waits_for_the_maintenance_window() {
    let d = Daemon::start();
    let c = d.client();
    // A window three days away, and a snapshot window that never meets the one set later.
    let now = chrono::Utc::now();
    let far = weekly_window(now + chrono::Duration::days(3));
    c.create_replication_group()
        .replication_group_id("mod-window")
        .replication_group_description("window")
        .num_cache_clusters(2)
        .cache_node_type("cache.t3.micro")
        .preferred_maintenance_window(&far)
        .snapshot_window(snapshot_window_clear_of_now())
        .send()
        .await
        .expect("create");
    wait_available(&c, "mod-window", Duration::from_secs(30)).await;
    let micro = 402_653_184;

    let out = c
        .modify_replication_group()
        .replication_group_id("mod-window")
        .cache_node_type("cache.t3.small")
        .send()
        .await
        .expect("modify");
    assert_eq!(
        out.replication_group().and_then(|g| g.cache_node_type()),
        Some("cache.t3.micro"),
        "not applied yet"
    );
    let g = wait_available(&c, "mod-window", Duration::from_secs(10)).await;
    wait_maxmemory(&g, micro).await;
    for id in ["mod-window-001", "mod-window-002"] {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
            .expect("describe");
        let cc = &cc.cache_clusters()[0];
        assert_eq!(cc.cache_node_type(), Some("cache.t3.micro"));
        assert_eq!(
            cc.pending_modified_values()
                .and_then(|p| p.cache_node_type()),
            Some("cache.t3.small"),
            "{id} shows the pending change"
        );
    }

    // A window around now: the scheduler applies the change.
    let around = weekly_window(now - chrono::Duration::minutes(10));
    c.modify_replication_group()
        .replication_group_id("mod-window")
        .preferred_maintenance_window(&around)
        .send()
        .await
        .expect("window around now");
    let g = wait_group(
        &c,
        "mod-window",
        Duration::from_secs(20),
        "applied in the window",
        |g| g.cache_node_type() == Some("cache.t3.small") && g.status() == Some("available"),
    )
    .await;
    wait_maxmemory(&g, SMALL).await;
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id("mod-window-001")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        cc.cache_clusters()[0]
            .pending_modified_values()
            .and_then(|p| p.cache_node_type()),
        None,
        "nothing pending any more"
    );
    assert!(event_messages(&c, "mod-window")
        .await
        .iter()
        .any(|m| m.contains("in the maintenance window")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_switchover_loses_no_acknowledged_write() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mod-switch", 3, "cache.t3.micro").await;
    let g = describe_group(&c, "mod-switch").await;
    let endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let e = c
        .modify_replication_group()
        .replication_group_id("mod-switch")
        .primary_cluster_id("mod-switch-009")
        .send()
        .await
        .expect_err("no such member");
    assert_eq!(code(e), "InvalidParameterValue");

    let writer = Writer::start(endpoint.clone(), "counter");
    writer.wait_for_more_acks(50).await;
    let out = c
        .modify_replication_group()
        .replication_group_id("mod-switch")
        .primary_cluster_id("mod-switch-003")
        .apply_immediately(true)
        .send()
        .await
        .expect("switchover");
    assert_eq!(
        out.replication_group()
            .and_then(|g| g.pending_modified_values())
            .and_then(|p| p.primary_cluster_id()),
        Some("mod-switch-003")
    );
    let g = wait_group(
        &c,
        "mod-switch",
        Duration::from_secs(20),
        "switchover",
        |g| {
            g.status() == Some("available")
                && members_of(g)
                    .iter()
                    .any(|(id, role, _)| id == "mod-switch-003" && role == "primary")
        },
    )
    .await;
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    assert_eq!(log.lost(), 0, "no acknowledged write lost");
    let max_acked = log.acks.iter().map(|(_, v)| *v).max().expect("acks");
    let mut p = redis_conn(&endpoint).await;
    let now: i64 = p.get("counter").await.expect("get");
    assert!(now >= max_acked, "{now} < {max_acked}");
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut p).await.expect("role");
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
    let old = members_of(&g)
        .into_iter()
        .find(|(id, _, _)| id == "mod-switch-001")
        .expect("old");
    assert_eq!(old.1, "replica");
    assert!(event_messages(&c, "mod-switch").await.contains(
        &"Primary changed from mod-switch-001 to mod-switch-003 (planned switchover)".to_string()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_failover_toggle_is_followed_by_the_monitor() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mod-af", 2, "cache.t3.micro").await;
    create(&c, "mod-single", 1, "cache.t3.micro").await;
    let e = c
        .modify_replication_group()
        .replication_group_id("mod-single")
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect_err("needs a replica");
    assert_eq!(code(e), "InvalidParameterCombination");
    let e = c
        .modify_replication_group()
        .replication_group_id("mod-af")
        .multi_az_enabled(true)
        .send()
        .await
        .expect_err("needs automatic failover");
    assert_eq!(code(e), "InvalidParameterCombination");

    let out = c
        .modify_replication_group()
        .replication_group_id("mod-af")
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("enable");
    let rg = out.replication_group().expect("group");
    assert_eq!(
        rg.automatic_failover().map(|a| a.as_str()),
        Some("enabling")
    );
    // A group that is not available (here: still creating; starting its nodes takes far longer than one API
    // round trip) cannot be modified.
    c.create_replication_group()
        .replication_group_id("mod-busy")
        .replication_group_description("busy")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let e = c
        .modify_replication_group()
        .replication_group_id("mod-busy")
        .replication_group_description("too early")
        .send()
        .await
        .expect_err("creating");
    assert_eq!(code(e), "InvalidReplicationGroupState");
    let g = wait_available(&c, "mod-af", Duration::from_secs(20)).await;
    assert_eq!(g.automatic_failover().map(|a| a.as_str()), Some("enabled"));
    assert_eq!(g.multi_az().map(|a| a.as_str()), Some("enabled"));
    // The monitor follows: a killed primary fails over.
    let pid = node_pid(&d, "mod-af-001");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    wait_group(&c, "mod-af", Duration::from_secs(10), "failover", |g| {
        members_of(g)
            .iter()
            .any(|(id, role, _)| id == "mod-af-002" && role == "primary")
    })
    .await;
    wait_group(&c, "mod-af", Duration::from_secs(10), "old back", |g| {
        members_of(g)
            .iter()
            .any(|(id, role, _)| id == "mod-af-001" && role == "replica")
    })
    .await;

    // Off again: a killed primary is restarted in place.
    c.modify_replication_group()
        .replication_group_id("mod-af")
        .automatic_failover_enabled(false)
        .multi_az_enabled(false)
        .send()
        .await
        .expect("disable");
    let g = wait_available(&c, "mod-af", Duration::from_secs(20)).await;
    assert_eq!(g.automatic_failover().map(|a| a.as_str()), Some("disabled"));
    let failovers = event_messages(&c, "mod-af")
        .await
        .iter()
        .filter(|m| m.starts_with("Failover from"))
        .count();
    let pid = node_pid(&d, "mod-af-002");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    eventually("mod-af-002 restarted", Duration::from_secs(20), || async {
        let now = node_pid(&d, "mod-af-002");
        now != pid && engine::process::is_redis_alive(now)
    })
    .await;
    // A sleep: what is checked is that nothing (no failover) follows the restart for a while.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = event_messages(&c, "mod-af")
        .await
        .iter()
        .filter(|m| m.starts_with("Failover from"))
        .count();
    assert_eq!(after, failovers, "no failover with it disabled");
}

// NodeGroupId is deprecated in the model; it is still a parameter of the seed, so it is tested.
#[allow(deprecated)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_parameter_and_its_errors() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mod-misc", 2, "cache.t3.micro").await;
    let topic = "arn:aws:sns:us-east-1:123456789012:cache-events";
    let out = c
        .modify_replication_group()
        .replication_group_id("mod-misc")
        .replication_group_description("new description")
        .security_group_ids("sg-0123abcd")
        .preferred_maintenance_window("mon:01:00-mon:02:00")
        .snapshot_window("05:00-06:00")
        .snapshotting_cluster_id("mod-misc-002")
        .snapshot_retention_limit(0)
        .auto_minor_version_upgrade(false)
        .notification_topic_arn(topic)
        .notification_topic_status("active")
        .cache_parameter_group_name("default.redis7")
        .node_group_id("0001")
        .durability(aws_sdk_elasticache::types::Durability::from("default"))
        .engine("redis")
        .engine_version("7.0")
        .send()
        .await
        .expect("modify");
    let g = out.replication_group().expect("group");
    assert_eq!(g.description(), Some("new description"));
    assert_eq!(g.snapshot_window(), Some("05:00-06:00"));
    assert_eq!(g.snapshotting_cluster_id(), Some("mod-misc-002"));
    assert_eq!(g.auto_minor_version_upgrade(), Some(false));
    let cc = c
        .describe_cache_clusters()
        .cache_cluster_id("mod-misc-001")
        .send()
        .await
        .expect("clusters");
    let cc = &cc.cache_clusters()[0];
    assert_eq!(
        cc.preferred_maintenance_window(),
        Some("mon:01:00-mon:02:00")
    );
    assert_eq!(
        cc.security_groups()
            .iter()
            .map(|s| s.security_group_id().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["sg-0123abcd"]
    );
    let n = cc.notification_configuration().expect("notification");
    assert_eq!(n.topic_arn(), Some(topic));
    assert_eq!(n.topic_status(), Some("active"));
    // Events of the group reach the topic's sink while it is active.
    c.modify_replication_group()
        .replication_group_id("mod-misc")
        .replication_group_description("announced")
        .send()
        .await
        .expect("modify");
    let sink = d
        .data_dir()
        .join("notifications")
        .join("aws.sns.us-east-1.123456789012.cache-events.jsonl");
    let text = eventually(
        "the notification of the change in the sink",
        Duration::from_secs(10),
        || async {
            let text = std::fs::read_to_string(&sink).unwrap_or_default();
            if text.contains("description changed") {
                Ok(text)
            } else {
                Err(text)
            }
        },
    )
    .await;
    let line: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("line")).expect("json");
    assert_eq!(line["TopicArn"], topic);
    assert_eq!(line["ReplicationGroupId"], "mod-misc");
    c.modify_replication_group()
        .replication_group_id("mod-misc")
        .notification_topic_status("inactive")
        .send()
        .await
        .expect("inactive");
    let before = std::fs::read_to_string(&sink).expect("sink");
    c.modify_replication_group()
        .replication_group_id("mod-misc")
        .replication_group_description("silent")
        .send()
        .await
        .expect("modify");
    // A sleep: what is checked is that nothing reaches the inactive topic's sink for a while.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = std::fs::read_to_string(&sink).expect("sink");
    assert!(!after.contains("silent") && after.len() >= before.len());

    // Errors, each changing nothing.
    let cases: Vec<(aws_sdk_elasticache::operation::modify_replication_group::builders::ModifyReplicationGroupFluentBuilder, &str)> = vec![
        (c.modify_replication_group().replication_group_id("nope").replication_group_description("x"), "ReplicationGroupNotFoundFault"),
        (c.modify_replication_group().replication_group_id("mod-misc").replication_group_description("x".repeat(256)), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").node_group_id("0002"), "NodeGroupNotFoundFault"),
        (c.modify_replication_group().replication_group_id("mod-misc").security_group_ids("nope"), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").cache_security_group_names("default"), "InvalidParameterCombination"),
        (c.modify_replication_group().replication_group_id("mod-misc").preferred_maintenance_window("mon:01:00-mon:01:30"), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").snapshot_window("01:00-02:00"), "InvalidParameterCombination"),
        (c.modify_replication_group().replication_group_id("mod-misc").snapshot_retention_limit(36), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").snapshotting_cluster_id("other-001"), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").notification_topic_arn("arn:aws:sqs:us-east-1:123456789012:q"), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").cache_parameter_group_name("custom"), "CacheParameterGroupNotFound"),
        (c.modify_replication_group().replication_group_id("mod-misc").engine("memcached"), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").engine_version("2.8"), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").durability(aws_sdk_elasticache::types::Durability::from("sync")), "InvalidParameterValue"),
        (c.modify_replication_group().replication_group_id("mod-misc").ip_discovery(aws_sdk_elasticache::types::IpDiscovery::Ipv6), "InvalidParameterCombination"),
        (c.modify_replication_group().replication_group_id("mod-misc").auth_token("abcdefghijklmnopqrstuvwxyz"), "InvalidParameterCombination"),
        (c.modify_replication_group().replication_group_id("mod-misc").transit_encryption_enabled(true), "InvalidParameterCombination"),
    ];
    let before = describe_group(&c, "mod-misc").await;
    for (req, want) in cases {
        let e = req.send().await.expect_err(want);
        assert_eq!(code(e), want);
    }
    let after = describe_group(&c, "mod-misc").await;
    assert_eq!(before, after, "errors change nothing");
}
