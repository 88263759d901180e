//! `IncreaseReplicaCount` and `DecreaseReplicaCount` through the real SDK: new replicas are real nodes that
//! sync the data, removed ones are stopped and their data removed; AWS's limits are errors.

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;

/// Waits (replication is asynchronous) until the node at `url` holds `n` keys; says so when it had to wait.
async fn assert_holds(url: &str, n: i64, what: &str) {
    let mut c = redis_conn(url).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut first = true;
    loop {
        let size: i64 = redis::cmd("DBSIZE")
            .query_async(&mut c)
            .await
            .expect("dbsize");
        if size == n {
            return;
        }
        if first {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut c)
                .await
                .expect("info");
            eprintln!("{what}: {size} keys, waiting; {info}");
            first = false;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {size} keys, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increase_to_three_replicas_then_decrease_back() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("rc")
        .replication_group_description("replica count")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "rc", Duration::from_secs(30)).await;
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("endpoint"),
    ))
    .await;
    for i in 0..1000 {
        let _: () = p.set(format!("key:{i}"), i).await.expect("set");
    }

    // Errors first: nothing changes.
    for (count, apply) in [(6, true), (1, true), (3, false)] {
        let e = c
            .increase_replica_count()
            .replication_group_id("rc")
            .new_replica_count(count)
            .apply_immediately(apply)
            .send()
            .await
            .expect_err("refused")
            .into_service_error();
        assert_eq!(
            e.meta().code(),
            Some("InvalidParameterValue"),
            "{count} {apply}"
        );
    }
    let e = c
        .increase_replica_count()
        .replication_group_id("nope")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("no group")
        .into_service_error();
    assert!(e.is_replication_group_not_found_fault());
    assert_eq!(describe_group(&c, "rc").await.member_clusters().len(), 2);

    let out = c
        .increase_replica_count()
        .replication_group_id("rc")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("increase");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("modifying")
    );
    let e = c
        .increase_replica_count()
        .replication_group_id("rc")
        .new_replica_count(4)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("busy")
        .into_service_error();
    assert!(e.is_invalid_replication_group_state_fault(), "{e:?}");
    let g = wait_available(&c, "rc", Duration::from_secs(30)).await;
    assert_eq!(
        g.member_clusters(),
        ["rc-001", "rc-002", "rc-003", "rc-004"]
    );
    let members = members_of(&g);
    for (id, role, url) in &members {
        assert!(!role.is_empty(), "{id} has a role");
        assert_holds(url, 1000, id).await;
    }
    let zones: Vec<_> = g.node_groups()[0]
        .node_group_members()
        .iter()
        .map(|m| {
            m.preferred_availability_zone()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        zones,
        ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a"]
    );
    let events = event_messages(&c, "rc-004").await;
    assert!(events
        .iter()
        .any(|m| m.starts_with("Added cache node 0001")));
    // A brand-new replica is no recovery: alerts keyed on these events must not fire.
    assert!(
        !events
            .iter()
            .any(|m| m.starts_with("Recovering cache nodes") || m.starts_with("Finished recovery")),
        "{events:?}"
    );

    // Remove a named replica, then down to one by count.
    let e = c
        .decrease_replica_count()
        .replication_group_id("rc")
        .replicas_to_remove("rc-001")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("the primary cannot be removed")
        .into_service_error();
    assert_eq!(e.meta().code(), Some("InvalidParameterValue"));
    let pid_002 = node_pid(&d, "rc-002");
    c.decrease_replica_count()
        .replication_group_id("rc")
        .replicas_to_remove("rc-002")
        .apply_immediately(true)
        .send()
        .await
        .expect("decrease by name");
    let g = wait_available(&c, "rc", Duration::from_secs(30)).await;
    assert_eq!(g.member_clusters(), ["rc-001", "rc-003", "rc-004"]);
    assert!(!engine::process::is_redis_alive(pid_002), "node stopped");
    assert!(
        !d.data_dir().join("nodes").join("rc-002").exists(),
        "its data removed"
    );
    let pid_004 = node_pid(&d, "rc-004");
    c.decrease_replica_count()
        .replication_group_id("rc")
        .new_replica_count(1)
        .apply_immediately(true)
        .send()
        .await
        .expect("decrease by count");
    let g = wait_available(&c, "rc", Duration::from_secs(30)).await;
    assert_eq!(g.member_clusters(), ["rc-001", "rc-003"]);
    assert!(!engine::process::is_redis_alive(pid_004));
    for (id, _, url) in members_of(&g) {
        assert_holds(&url, 1000, &id).await;
    }
    // The reader endpoint reaches the remaining replica.
    let mut r = redis_conn(&redis_url(
        g.node_groups()[0].reader_endpoint().expect("reader"),
    ))
    .await;
    let v: i64 = r.get("key:999").await.expect("get");
    assert_eq!(v, 999);
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut r).await.expect("role");
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"slave".to_vec())),
        "the reader endpoint reaches a replica"
    );
}
