//! High availability end to end, through the real SDK and real Redis clients: a primary killed or frozen under
//! a continuous writer fails over with no API call; the old node comes back as a replica and is fenced from
//! taking writes; `TestFailover` with its errors and its daily limit; a reboot of the primary does not fail
//! over; a group without automatic failover restarts its primary in place from its data.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use redis::AsyncCommands;

async fn create_group(c: &aws_sdk_elasticache::Client, id: &str, nodes: i32, failover: bool) {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("ha")
        .num_cache_clusters(nodes)
        .automatic_failover_enabled(failover)
        .multi_az_enabled(failover)
        .send()
        .await
        .expect("create");
    wait_available(c, id, Duration::from_secs(30)).await;
}

fn primary_of(g: &aws_sdk_elasticache::types::ReplicationGroup) -> Option<(String, String)> {
    members_of(g)
        .into_iter()
        .find(|(_, role, _)| role == "primary")
        .map(|(id, _, url)| (id, url))
}

fn primary_endpoint_url(g: &aws_sdk_elasticache::types::ReplicationGroup) -> String {
    redis_url(
        g.node_groups()[0]
            .primary_endpoint()
            .expect("primary endpoint"),
    )
}

/// Waits until `old` reports itself a replica again, with its replication link up.
async fn wait_rejoined(c: &aws_sdk_elasticache::Client, id: &str, old: &str) -> String {
    let g = wait_group(
        c,
        id,
        Duration::from_secs(20),
        "old primary back as replica",
        |g| {
            members_of(g)
                .iter()
                .any(|(m, role, _)| m == old && role == "replica")
        },
    )
    .await;
    let url = members_of(&g)
        .into_iter()
        .find(|(m, _, _)| m == old)
        .map(|(_, _, u)| u)
        .expect("old member");
    let conn = redis_conn(&url).await;
    eventually(&format!("{old} synced"), Duration::from_secs(20), || {
        let mut conn = conn.clone();
        async move {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            info.contains("master_link_status:up")
                .then_some(())
                .ok_or(info)
        }
    })
    .await;
    url
}

async fn assert_readonly(url: &str) {
    let mut conn = redis_conn(url).await;
    let r: redis::RedisResult<()> = conn.set("fenced", "no").await;
    let e = r.expect_err("a write on the old primary must be refused");
    assert_eq!(
        e.kind(),
        redis::ErrorKind::ReadOnly,
        "refused as a read-only replica: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_primary_fails_over_under_writes_and_rejoins_as_replica() {
    let d = Daemon::start();
    let c = d.client();
    create_group(&c, "ha-kill", 3, true).await;
    let g = describe_group(&c, "ha-kill").await;
    assert_eq!(g.automatic_failover().map(|a| a.as_str()), Some("enabled"));
    assert_eq!(g.multi_az().map(|a| a.as_str()), Some("enabled"));
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
        ["us-east-1a", "us-east-1b", "us-east-1c"],
        "spread over the zones"
    );
    let (old, _) = primary_of(&g).expect("primary");
    let writer = Writer::start(primary_endpoint_url(&g), "counter");
    writer.wait_for_more_acks(50).await;

    let killed_at = Instant::now();
    kill(Pid::from_raw(node_pid(&d, &old) as i32), Signal::SIGKILL).expect("kill");
    // Writes resume through the same endpoint without any API call.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let g = describe_group(&c, "ha-kill").await;
        if primary_of(&g).is_some_and(|(p, _)| p != old) {
            break;
        }
    }
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    let resumed = log
        .first_ack_after(killed_at)
        .expect("writes resumed after the primary was killed");
    eprintln!(
        "failover gap {:?}, {} acknowledged writes, {} errors, {} lost",
        resumed - killed_at,
        log.acks.len(),
        log.errors,
        log.lost()
    );
    assert!(
        log.acks.iter().filter(|(t, _)| *t > resumed).count() > 10,
        "writes keep going on the new primary"
    );
    // Replication is asynchronous, so a failover may lose the last few writes, never most of them (a replica
    // that reported its link up but had not started streaming once lost thousands).
    assert!(
        log.lost() <= 100,
        "{} acknowledged writes lost of {}",
        log.lost(),
        log.acks.len()
    );

    let g = describe_group(&c, "ha-kill").await;
    let (new, new_url) = primary_of(&g).expect("a new primary");
    assert_ne!(new, old, "another member is primary");
    let events = event_messages(&c, "ha-kill").await;
    let message = format!("Failover from primary node {old} to replica node {new} completed");
    assert!(events.contains(&message), "{events:?}");
    // The failed node's recovery follows the failover (the node is started again).
    eventually(
        "the failover, then the recovery, in the failed cluster's events",
        Duration::from_secs(10),
        || async {
            let cluster_events = event_messages(&c, &old).await;
            let at = cluster_events
                .iter()
                .position(|m| *m == message)
                .expect("failover event on the failed cluster");
            if cluster_events[at..]
                .iter()
                .any(|m| m == "Finished recovery for cache nodes 0001")
            {
                Ok(())
            } else {
                Err(cluster_events)
            }
        },
    )
    .await;

    // The old node is back, as a replica of the new primary, holding the same counter.
    let old_url = wait_rejoined(&c, "ha-kill", &old).await;
    assert_readonly(&old_url).await;
    let mut p = redis_conn(&new_url).await;
    let on_primary: i64 = p.get("counter").await.expect("get");
    let r = redis_conn(&old_url).await;
    eventually(
        &format!("the counter {on_primary} on the old primary"),
        Duration::from_secs(10),
        || {
            let mut r = r.clone();
            async move {
                let on_old: Option<i64> = r.get("counter").await.expect("get");
                (on_old == Some(on_primary)).then_some(()).ok_or(on_old)
            }
        },
    )
    .await;
    // Every member is either the primary or one of its replicas.
    let g = wait_group(&c, "ha-kill", Duration::from_secs(10), "roles read", |g| {
        members_of(g).iter().all(|(_, role, _)| !role.is_empty())
    })
    .await;
    let roles: Vec<String> = members_of(&g).into_iter().map(|m| m.1).collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "primary").count(),
        1,
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| *r == "replica").count(),
        2,
        "{roles:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_primary_is_fenced_and_a_busy_script_is_not_a_failure() {
    let d = Daemon::start();
    let c = d.client();
    create_group(&c, "ha-stop", 2, true).await;
    let g = describe_group(&c, "ha-stop").await;
    let (old, old_url) = primary_of(&g).expect("primary");
    let endpoint = primary_endpoint_url(&g);
    let pid_before = node_pid(&d, &old);

    // A customer's script busy for 6 s (past Redis's busy-reply-threshold of 5 s, after which Redis answers
    // -BUSY) must not be taken for a failure: before the fix, the probe's deadline (800 ms) failed the primary
    // over in the middle of it.
    let mut conn = redis_conn(&endpoint).await;
    let _: i64 = redis::cmd("EVAL")
        .arg(
            "local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] \
             while true do local n = redis.call('TIME') \
             if n[1] * 1000000 + n[2] - t0 > 6000000 then break end end return 1",
        )
        .arg(0)
        .query_async(&mut conn)
        .await
        .expect("busy script");
    // A sleep: what is checked is that a busy (not dead) primary is not failed over for a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let g = describe_group(&c, "ha-stop").await;
    assert_eq!(
        primary_of(&g).map(|p| p.0),
        Some(old.clone()),
        "no failover for a busy script"
    );
    assert_eq!(
        node_pid(&d, &old),
        pid_before,
        "the busy primary kept running"
    );
    assert!(!event_messages(&c, "ha-stop")
        .await
        .iter()
        .any(|m| m.starts_with("Failover")));

    let writer = Writer::start(endpoint, "counter");
    writer.wait_for_more_acks(50).await;
    let pid = node_pid(&d, &old);
    let stopped_at = Instant::now();
    kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).expect("stop");
    let g = wait_group(&c, "ha-stop", Duration::from_secs(10), "failover", |g| {
        primary_of(g).is_some_and(|(p, _)| p != old)
    })
    .await;
    writer.wait_for_more_acks(50).await;
    // The frozen process resumes (if it is still there: the fence kills it).
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
    let log = writer.stop().await;
    let resumed = log
        .first_ack_after(stopped_at)
        .expect("writes resumed after the primary froze");
    eprintln!(
        "hung-primary gap {:?}, {} errors, {} lost",
        resumed - stopped_at,
        log.errors,
        log.lost()
    );
    assert!(
        !engine::process::is_redis_alive(pid),
        "the frozen primary was fenced"
    );
    let (new, _) = primary_of(&g).expect("new primary");
    assert!(event_messages(&c, "ha-stop").await.contains(&format!(
        "Failover from primary node {old} to replica node {new} completed"
    )));
    let url = wait_rejoined(&c, "ha-stop", &old).await;
    assert_eq!(url, old_url, "the node keeps its address");
    assert_readonly(&old_url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_failover_errors_reboot_and_daily_limit() {
    let d = Daemon::start();
    let c = d.client();
    create_group(&c, "ha-test", 2, true).await;
    c.create_replication_group()
        .replication_group_id("ha-plain")
        .replication_group_description("no failover")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    wait_available(&c, "ha-plain", Duration::from_secs(30)).await;
    let g = describe_group(&c, "ha-test").await;
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    let _: () = conn.set("kept", "yes").await.expect("set");

    // Errors.
    let e = c
        .test_failover()
        .replication_group_id("ha-test")
        .node_group_id("0002")
        .send()
        .await
        .expect_err("no such node group")
        .into_service_error();
    assert!(e.is_node_group_not_found_fault(), "{e:?}");
    let e = c
        .test_failover()
        .replication_group_id("nope")
        .node_group_id("0001")
        .send()
        .await
        .expect_err("no such group")
        .into_service_error();
    assert!(e.is_replication_group_not_found_fault(), "{e:?}");
    let e = c
        .test_failover()
        .replication_group_id("ha-plain")
        .node_group_id("0001")
        .send()
        .await
        .expect_err("automatic failover disabled")
        .into_service_error();
    assert!(e.is_invalid_replication_group_state_fault(), "{e:?}");
    // The refusal says what to do, and does not call the group both unavailable and available.
    let m = e.meta().message().unwrap_or_default();
    assert!(
        m.contains("Automatic failover is disabled")
            && m.contains("--automatic-failover-enabled")
            && !m.contains("not in the available state"),
        "{m}"
    );
    let e = c
        .test_failover()
        .replication_group_id("ha-test")
        .node_group_id("x1")
        .send()
        .await
        .expect_err("bad id")
        .into_service_error();
    assert_eq!(e.meta().code(), Some("InvalidParameterValue"));
    let e = c
        .decrease_replica_count()
        .replication_group_id("ha-test")
        .new_replica_count(0)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("Multi-AZ keeps one replica")
        .into_service_error();
    assert_eq!(e.meta().code(), Some("InvalidParameterValue"));

    // A reboot of the primary restarts it from its data and does not fail over.
    let (primary, primary_url) = primary_of(&g).expect("primary");
    let pid = node_pid(&d, &primary);
    let out = c
        .reboot_cache_cluster()
        .cache_cluster_id(&primary)
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    assert_eq!(
        out.cache_cluster().and_then(|c| c.cache_cluster_status()),
        Some("rebooting cluster nodes")
    );
    eventually("the reboot finished", Duration::from_secs(20), || async {
        event_messages(&c, &primary)
            .await
            .contains(&"Cache node 0001 restarted".to_string())
    })
    .await;
    assert_ne!(node_pid(&d, &primary), pid, "a new process");
    assert!(!engine::process::is_redis_alive(pid));
    // The restarted node's role is read again right after the restart.
    let g = wait_group(&c, "ha-test", Duration::from_secs(10), "roles read", |g| {
        members_of(g).iter().all(|(_, role, _)| !role.is_empty())
    })
    .await;
    assert_eq!(
        primary_of(&g).map(|p| p.0),
        Some(primary.clone()),
        "no failover on reboot"
    );
    let mut p = redis_conn(&primary_url).await;
    let v: Option<String> = p.get("kept").await.expect("get");
    assert_eq!(v.as_deref(), Some("yes"), "data kept across the reboot");

    // Fifteen real failovers in a row, each flipping the primary.
    let mut current = primary;
    for i in 0..15 {
        let out = loop {
            match c
                .test_failover()
                .replication_group_id("ha-test")
                .node_group_id("0001")
                .send()
                .await
            {
                Ok(out) => break out,
                Err(e) => {
                    let e = e.into_service_error();
                    assert!(
                        e.is_test_failover_not_available_fault(),
                        "only 'a failover is in progress' may delay call {i}: {e:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        assert_eq!(
            out.replication_group().and_then(|g| g.status()),
            Some("available")
        );
        if i == 0 {
            let e = c
                .test_failover()
                .replication_group_id("ha-test")
                .node_group_id("0001")
                .send()
                .await
                .expect_err("the first one is still in progress")
                .into_service_error();
            assert!(e.is_test_failover_not_available_fault(), "{e:?}");
        }
        let old = current.clone();
        let g = wait_group(
            &c,
            "ha-test",
            Duration::from_secs(10),
            "test failover",
            |g| primary_of(g).is_some_and(|(p, _)| p != old),
        )
        .await;
        current = primary_of(&g).expect("primary").0;
        wait_rejoined(&c, "ha-test", &old).await;
    }
    let events = event_messages(&c, "ha-test").await;
    let first = events
        .iter()
        .position(|m| m == "Test Failover API called for node group 0001")
        .expect("API call event");
    assert!(events[first..]
        .iter()
        .any(|m| m.starts_with("Failover from primary node")));
    assert_eq!(
        events
            .iter()
            .filter(|m| *m == "Test Failover API called for node group 0001")
            .count(),
        15
    );
    // The sixteenth within 24 hours is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = loop {
        let e = c
            .test_failover()
            .replication_group_id("ha-test")
            .node_group_id("0001")
            .send()
            .await
            .expect_err("over the daily limit")
            .into_service_error();
        if !e.is_test_failover_not_available_fault() || Instant::now() > deadline {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(e.is_api_call_rate_for_customer_exceeded_fault(), "{e:?}");
    let g = describe_group(&c, "ha-test").await;
    let (_, url) = primary_of(&g).expect("primary");
    let mut p = redis_conn(&url).await;
    let v: Option<String> = p.get("kept").await.expect("get");
    assert_eq!(v.as_deref(), Some("yes"), "data kept across 15 failovers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_automatic_failover_a_killed_primary_restarts_in_place() {
    let d = Daemon::start();
    let c = d.client();
    create_group(&c, "ha-inplace", 2, false).await;
    let g = describe_group(&c, "ha-inplace").await;
    let (primary, primary_url) = primary_of(&g).expect("primary");
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    for i in 0..500 {
        let _: () = conn.set(format!("k{i}"), i).await.expect("set");
    }
    // appendfsync everysec: the writes reach the append-only file within about a second.
    let aof = d.data_dir().join("nodes").join(&primary);
    eventually(
        "the last write in the append-only file",
        Duration::from_secs(10),
        || async { aof_holds(&aof, b"k499") },
    )
    .await;
    assert!(
        std::fs::read_dir(&aof)
            .expect("node dir")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("appendonly")),
        "the node persists under its directory"
    );
    let pid = node_pid(&d, &primary);
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut p = loop {
        if let Ok(mut p) = redis_conn_with_timeout(&primary_url, Duration::from_millis(500)).await {
            if redis::cmd("PING")
                .query_async::<String>(&mut p)
                .await
                .is_ok()
            {
                break p;
            }
        }
        assert!(Instant::now() < deadline, "primary not restarted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let n: i64 = redis::cmd("DBSIZE")
        .query_async(&mut p)
        .await
        .expect("dbsize");
    assert_eq!(n, 500, "the restarted primary has its data");
    assert_ne!(node_pid(&d, &primary), pid);
    wait_available(&c, "ha-inplace", Duration::from_secs(10)).await;
    let g = wait_group(&c, "ha-inplace", Duration::from_secs(10), "roles", |g| {
        members_of(g).iter().all(|(_, role, _)| !role.is_empty())
    })
    .await;
    assert_eq!(
        primary_of(&g).map(|p| p.0),
        Some(primary.clone()),
        "same primary"
    );
    // The recovery event follows the node's restart.
    eventually("the recovery event", Duration::from_secs(10), || async {
        let events = event_messages(&c, &primary).await;
        if events.contains(&"Finished recovery for cache nodes 0001".to_string()) {
            Ok(())
        } else {
            Err(events)
        }
    })
    .await;
    assert!(!event_messages(&c, "ha-inplace")
        .await
        .iter()
        .any(|m| m.starts_with("Failover")));
    // Writes through the primary endpoint work again.
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    let _: () = conn.set("after", "1").await.expect("write after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_az_failover_prefers_a_replica_in_another_zone() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("ha-az")
        .replication_group_description("zones")
        .num_cache_clusters(3)
        .preferred_cache_cluster_azs("us-east-1a")
        .preferred_cache_cluster_azs("us-east-1a")
        .preferred_cache_cluster_azs("us-east-1b")
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "ha-az", Duration::from_secs(30)).await;
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    let _: () = conn.set("k", "v").await.expect("set");
    // Both replicas equally up to date: the zone decides.
    for (_, _, url) in members_of(&g).iter().skip(1) {
        let mut r = redis_conn(url).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while r
            .get::<_, Option<String>>("k")
            .await
            .expect("get")
            .is_none()
        {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    kill(
        Pid::from_raw(node_pid(&d, "ha-az-001") as i32),
        Signal::SIGKILL,
    )
    .expect("kill");
    let g = wait_group(&c, "ha-az", Duration::from_secs(10), "failover", |g| {
        primary_of(g).is_some_and(|(p, _)| p != "ha-az-001")
    })
    .await;
    assert_eq!(
        primary_of(&g).map(|p| p.0).as_deref(),
        Some("ha-az-003"),
        "the replica in us-east-1b, not the one in the failed primary's zone"
    );
}

/// No failover storm: past `--max-automatic-failovers` in the window, a failed primary is restarted in place,
/// with an event that says why, and keeps its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_failovers_are_bounded_per_group() {
    let d = Daemon::start_with_args("info", &["--max-automatic-failovers", "1"]);
    let c = d.client();
    create_group(&c, "ha-storm", 2, true).await;
    let g = describe_group(&c, "ha-storm").await;
    let (first, _) = primary_of(&g).expect("primary");
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    let _: () = conn.set("kept", "yes").await.expect("set");
    let _: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query_async(&mut conn)
        .await
        .expect("wait");
    drop(conn);

    kill(Pid::from_raw(node_pid(&d, &first) as i32), Signal::SIGKILL).expect("kill");
    let g = wait_group(&c, "ha-storm", Duration::from_secs(10), "failover", |g| {
        primary_of(g).is_some_and(|(p, _)| p != first)
    })
    .await;
    let (second, _) = primary_of(&g).expect("new primary");
    wait_rejoined(&c, "ha-storm", &first).await;

    // The budget (1) is spent: the next failure restarts the primary where it is.
    let pid = node_pid(&d, &second);
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
    eventually(
        "the primary restarted in place",
        Duration::from_secs(20),
        || async {
            let now = node_pid(&d, &second);
            now != pid && engine::process::is_redis_alive(now)
        },
    )
    .await;
    // Available, with the roles read again after the restart.
    let g = wait_group(
        &c,
        "ha-storm",
        Duration::from_secs(20),
        "available, roles read",
        |g| {
            g.status() == Some("available")
                && members_of(g).iter().all(|(_, role, _)| !role.is_empty())
        },
    )
    .await;
    assert_eq!(primary_of(&g).map(|p| p.0), Some(second.clone()));
    let events = event_messages(&c, "ha-storm").await;
    assert_eq!(
        events
            .iter()
            .filter(|m| m.starts_with("Failover from"))
            .count(),
        1,
        "{events:?}"
    );
    assert!(
        events.iter().any(|m| m.starts_with(&format!(
            "Automatic failover of primary node {second} held back"
        ))),
        "{events:?}"
    );
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    let v: Option<String> = conn.get("kept").await.expect("get");
    assert_eq!(v.as_deref(), Some("yes"));
}

/// A primary whose pid the daemon does not know (its pid file lost while the daemon was down) is still found
/// and fenced before a replica is promoted: before the fix it was left running beside the new primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_without_a_pid_file_is_fenced_before_promotion() {
    let mut d = Daemon::start();
    let c = d.client();
    create_group(&c, "ha-nopid", 2, true).await;
    let g = describe_group(&c, "ha-nopid").await;
    let (old, old_url) = primary_of(&g).expect("primary");
    let pid = node_pid(&d, &old);
    // Whatever happens, the stopped process does not outlive the test (its pid file is gone, so the harness
    // would not find it).
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if engine::process::is_redis_alive(self.0) {
                let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGKILL);
            }
        }
    }
    let _guard = KillOnDrop(pid);
    d.kill9();
    std::fs::remove_file(d.data_dir().join("nodes").join(&old).join("redis.pid")).expect("rm pid");
    kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).expect("stop");
    d.spawn();
    let c = d.client();
    let g = wait_group(&c, "ha-nopid", Duration::from_secs(20), "failover", |g| {
        primary_of(g).is_some_and(|(p, _)| p != old)
    })
    .await;
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
    assert!(
        !engine::process::is_redis_alive(pid),
        "the old primary was not fenced"
    );
    let url = wait_rejoined(&c, "ha-nopid", &old).await;
    assert_eq!(url, old_url);
    assert_readonly(&old_url).await;
    let mut conn = redis_conn(&primary_endpoint_url(&g)).await;
    let _: () = conn
        .set("after", 1)
        .await
        .expect("writes on the new primary");
}

/// Whether a file of the append-only files under node directory `dir` holds `needle`.
fn aof_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("appendonly"))
        .flat_map(|e| match std::fs::read_dir(e.path()) {
            Ok(inner) => inner.flatten().map(|f| f.path()).collect(),
            Err(_) => vec![e.path()],
        })
        .filter_map(|f| std::fs::read(f).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
}
