//! `TestMigration` through the real SDK against plain `redis-server` sources this test starts itself: a good
//! source passes and nothing is copied; each broken prerequisite fails with an event naming it; AWS's errors.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::CustomerNodeEndpoint;
use aws_sdk_elasticache::Client;
use common::*;

/// A source: a plain `redis-server` outside Cacheplane.
type Source = PlainRedis;

trait AsEndpoint {
    fn endpoint(&self) -> CustomerNodeEndpoint;
}

impl AsEndpoint for Source {
    fn endpoint(&self) -> CustomerNodeEndpoint {
        endpoint(self.port)
    }
}

fn endpoint(port: u16) -> CustomerNodeEndpoint {
    CustomerNodeEndpoint::builder()
        .address("127.0.0.1")
        .port(i32::from(port))
        .build()
}

async fn create(c: &Client, id: &str, multi_az: bool) {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("migration target")
        .num_cache_clusters(2)
        .automatic_failover_enabled(multi_az)
        .multi_az_enabled(multi_az)
        .send()
        .await
        .expect("create");
    wait_available(c, id, Duration::from_secs(30)).await;
}

/// Runs `TestMigration` and waits for its outcome event; returns it.
async fn test_migration(c: &Client, id: &str, ep: CustomerNodeEndpoint) -> String {
    let before = event_messages(c, id).await.len();
    let out = c
        .test_migration()
        .replication_group_id(id)
        .customer_node_endpoint_list(ep)
        .send()
        .await
        .expect("test migration");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("available")
    );
    eventually(
        "the test migration's outcome",
        Duration::from_secs(20),
        || async {
            let events = event_messages(c, id).await;
            events[before..]
                .iter()
                .find(|m| {
                    m.starts_with("Test migration succeeded")
                        || m.starts_with("Test migration failed")
                })
                .cloned()
                .ok_or(events)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_migration_checks_source_and_target_and_copies_nothing() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mig", true).await;
    create(&c, "mig-single-az", false).await;

    let good = Source::start(&[]);
    let mut s = redis_conn(&format!("redis://127.0.0.1:{}/", good.port)).await;
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.set(format!("k{i}"), i).ignore();
    }
    let _: () = pipe.query_async(&mut s).await.expect("fill source");

    let outcome = test_migration(&c, "mig", good.endpoint()).await;
    assert!(
        outcome.starts_with("Test migration succeeded for mig"),
        "{outcome}"
    );
    assert!(outcome.contains("1000 keys"), "{outcome}");
    let g = describe_group(&c, "mig").await;
    assert_eq!(g.status(), Some("available"));
    for (id, _, url) in members_of(&g) {
        let mut n = redis_conn(&url).await;
        let size: i64 = redis::cmd("DBSIZE")
            .query_async(&mut n)
            .await
            .expect("dbsize");
        assert_eq!(size, 0, "{id}: a test copies nothing");
    }

    // Each broken prerequisite, named in the failure event.
    let closed = free_port(); // nothing listens there
    let outcome = test_migration(&c, "mig", endpoint(closed)).await;
    assert!(outcome.contains("cannot be reached"), "{outcome}");
    let auth = Source::start(&["--requirepass", "s3cret-pass"]);
    let outcome = test_migration(&c, "mig", auth.endpoint()).await;
    assert!(outcome.contains("requires AUTH"), "{outcome}");
    let dbs = Source::start(&["--databases", "8"]);
    let outcome = test_migration(&c, "mig", dbs.endpoint()).await;
    assert!(outcome.contains("databases check"), "{outcome}");
    let cluster_dir = tempfile::tempdir().expect("dir");
    let nodes_conf = cluster_dir.path().join("nodes.conf");
    let cluster = Source::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        nodes_conf.to_str().expect("path"),
    ]);
    let outcome = test_migration(&c, "mig", cluster.endpoint()).await;
    assert!(outcome.contains("cluster mode check"), "{outcome}");
    let outcome = test_migration(&c, "mig-single-az", good.endpoint()).await;
    assert!(outcome.contains("Multi-AZ check"), "{outcome}");
    // A source holding more than the target's node type (cache.t3.micro: 512 MiB) can fit.
    let big = Source::start(&[]);
    let mut b = redis_conn(&format!("redis://127.0.0.1:{}/", big.port)).await;
    let value = vec![b'x'; 1 << 20];
    for i in 0..560 {
        let _: () = redis::cmd("SET")
            .arg(format!("big:{i}"))
            .arg(&value)
            .query_async(&mut b)
            .await
            .expect("set");
    }
    let outcome = test_migration(&c, "mig", big.endpoint()).await;
    assert!(outcome.contains("memory check"), "{outcome}");
    // The source is untouched.
    let size: i64 = redis::cmd("DBSIZE")
        .query_async(&mut s)
        .await
        .expect("dbsize");
    assert_eq!(size, 1000);
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut s).await.expect("role");
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_migration_errors() {
    let d = Daemon::start();
    let c = d.client();
    create(&c, "mig-err", true).await;
    let e = c
        .test_migration()
        .replication_group_id("nope")
        .customer_node_endpoint_list(endpoint(6379))
        .send()
        .await
        .expect_err("no group");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));
    let e = c
        .test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(endpoint(6379))
        .customer_node_endpoint_list(endpoint(6380))
        .send()
        .await
        .expect_err("two endpoints");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = c
        .test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(endpoint(0))
        .send()
        .await
        .expect_err("bad port");
    assert_eq!(e.code(), Some("InvalidParameterValue"));

    // A source that accepts the connection and never answers keeps a test running for its timeout: a second
    // test meanwhile is refused.
    let frozen = Source::start(&[]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(frozen.child.id() as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("stop");
    c.test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(frozen.endpoint())
        .send()
        .await
        .expect("first test");
    let e = c
        .test_migration()
        .replication_group_id("mig-err")
        .customer_node_endpoint_list(frozen.endpoint())
        .send()
        .await
        .expect_err("already testing");
    assert_eq!(e.code(), Some("ReplicationGroupAlreadyUnderMigrationFault"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = event_messages(&c, "mig-err").await;
        if let Some(m) = events
            .iter()
            .find(|m| m.starts_with("Test migration failed"))
        {
            assert!(m.contains("mig-err"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(frozen.child.id() as i32),
        nix::sys::signal::Signal::SIGCONT,
    );
}

/// Waits until the group's events include one that starts with `prefix`; returns it.
async fn wait_event(c: &Client, id: &str, prefix: &str, max: Duration) -> String {
    eventually(&format!("a '{prefix}' event"), max, || async {
        let events = event_messages(c, id).await;
        events
            .iter()
            .find(|m| m.starts_with(prefix))
            .cloned()
            .ok_or(events)
    })
    .await
}

async fn dbsize(url: &str) -> i64 {
    let mut n = redis_conn(url).await;
    redis::cmd("DBSIZE")
        .query_async(&mut n)
        .await
        .expect("dbsize")
}

/// Waits until the node at `url` holds `want` keys (a node restarting or loading a sync answers errors
/// meanwhile).
async fn wait_dbsize(url: &str, want: i64, max: Duration) {
    eventually(&format!("{url}: {want} keys"), max, || async {
        let n: redis::RedisResult<i64> =
            match redis_conn_with_timeout(url, Duration::from_secs(1)).await {
                Ok(mut c) => redis::cmd("DBSIZE").query_async(&mut c).await,
                Err(e) => Err(e),
            };
        (n.as_ref().ok() == Some(&want)).then_some(()).ok_or(n)
    })
    .await
}

async fn start(
    c: &Client,
    id: &str,
    ep: CustomerNodeEndpoint,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    c.start_migration()
        .replication_group_id(id)
        .customer_node_endpoint_list(ep)
        .send()
        .await
        .expect("start migration")
        .replication_group()
        .expect("group")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_moves_every_key_and_survives_a_daemon_restart() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("mig-h")
        .replication_group_description("migration target")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "mig-h", Duration::from_secs(30)).await;
    let primary_endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));

    let source = Source::start(&[]);
    let source_url = format!("redis://127.0.0.1:{}/", source.port);
    let mut s = redis_conn(&source_url).await;
    fill_mixed(&mut s, "k", 100_000).await;

    // TestMigration passes and copies nothing.
    let outcome = test_migration(&c, "mig-h", source.endpoint()).await;
    assert!(
        outcome.starts_with("Test migration succeeded for mig-h"),
        "{outcome}"
    );
    for (id, _, url) in members_of(&g) {
        assert_eq!(dbsize(&url).await, 0, "{id}: a test copies nothing");
    }

    // StartMigration: modifying, then migrating once the primary follows the source.
    let out = start(&c, "mig-h", source.endpoint()).await;
    assert_eq!(out.status(), Some("modifying"));
    wait_event(
        &c,
        "mig-h",
        "Migration of mig-h: initial sync from",
        Duration::from_secs(30),
    )
    .await;
    let g = describe_group(&c, "mig-h").await;
    assert_eq!(g.status(), Some("migrating"));
    // A second start or test is refused, and so is every change of a migrating group.
    let e = c
        .start_migration()
        .replication_group_id("mig-h")
        .customer_node_endpoint_list(source.endpoint())
        .send()
        .await
        .expect_err("already migrating");
    assert_eq!(e.code(), Some("ReplicationGroupAlreadyUnderMigrationFault"));
    let e = c
        .test_migration()
        .replication_group_id("mig-h")
        .customer_node_endpoint_list(source.endpoint())
        .send()
        .await
        .expect_err("already migrating");
    assert_eq!(e.code(), Some("ReplicationGroupAlreadyUnderMigrationFault"));
    let e = c
        .modify_replication_group()
        .replication_group_id("mig-h")
        .replication_group_description("changed")
        .send()
        .await
        .expect_err("modify while migrating");
    assert_eq!(e.code(), Some("InvalidReplicationGroupState"));
    let e = c
        .delete_replication_group()
        .replication_group_id("mig-h")
        .send()
        .await
        .expect_err("delete while migrating");
    assert_eq!(e.code(), Some("InvalidReplicationGroupState"));
    let e = c
        .test_failover()
        .replication_group_id("mig-h")
        .node_group_id("0001")
        .send()
        .await
        .expect_err("failover while migrating");
    assert_eq!(e.code(), Some("InvalidReplicationGroupState"));

    // The target serves reads and refuses customers' writes.
    let mut p = redis_conn(&primary_endpoint).await;
    let v: Option<String> = redis::cmd("GET")
        .arg("k:0")
        .query_async(&mut p)
        .await
        .expect("read");
    assert_eq!(v.as_deref(), Some("value-0"));
    let e = redis::cmd("SET")
        .arg("customer")
        .arg("write")
        .query_async::<()>(&mut p)
        .await
        .expect_err("a write to a migrating target");
    assert_eq!(e.kind(), redis::ErrorKind::ReadOnly, "{e}");

    // Writes to the source during the migration arrive, on every node of the target.
    fill_mixed(&mut s, "during", 600).await;
    let _: () = redis::cmd("DEL")
        .arg("k:1")
        .query_async(&mut s)
        .await
        .expect("del");
    let _: () = redis::cmd("SET")
        .arg("k:0")
        .arg("changed")
        .query_async(&mut s)
        .await
        .expect("set");
    for (id, _, url) in members_of(&g) {
        wait_dbsize(&url, 100_599, Duration::from_secs(20)).await;
        let mut n = redis_conn(&url).await;
        let v: Option<String> = redis::cmd("GET")
            .arg("k:0")
            .query_async(&mut n)
            .await
            .expect("get");
        assert_eq!(v.as_deref(), Some("changed"), "{id}");
    }

    // A daemon restart in the middle: the target still follows the source, the migration goes on.
    d.kill9();
    d.spawn();
    let _: () = redis::cmd("SET")
        .arg("after-restart")
        .arg("1")
        .query_async(&mut s)
        .await
        .expect("set");
    for (_, _, url) in members_of(&g) {
        wait_dbsize(&url, 100_600, Duration::from_secs(20)).await;
    }
    let g = describe_group(&c, "mig-h").await;
    assert_eq!(g.status(), Some("migrating"));

    // The target's primary dies: a migrating group is not failed over; the node is restarted in place and
    // follows the source again, and its replicas follow it.
    let primary_pid = node_pid(&d, "mig-h-001");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(primary_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the target primary");
    eventually("the primary restarted", Duration::from_secs(20), || async {
        node_pid(&d, "mig-h-001") != primary_pid
    })
    .await;
    let _: () = redis::cmd("SET")
        .arg("after-kill")
        .arg("1")
        .query_async(&mut s)
        .await
        .expect("set");
    for (_, _, url) in members_of(&g) {
        wait_dbsize(&url, 100_601, Duration::from_secs(20)).await;
    }
    let events = event_messages(&c, "mig-h").await;
    assert!(
        !events
            .iter()
            .any(|m| m.starts_with("Failover from primary node")),
        "{events:?}"
    );
    let g = describe_group(&c, "mig-h").await;
    assert_eq!(g.status(), Some("migrating"));
    let roles: Vec<(String, String)> = members_of(&g)
        .into_iter()
        .map(|(id, role, _)| (id, role))
        .collect();
    assert!(
        roles.contains(&("mig-h-001".to_string(), "primary".to_string())),
        "{roles:?}"
    );

    // The CLI's status view shows the link from the source and how far behind the target is.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
            .args(["status", "--replication-group-id", "mig-h", "--data-dir"])
            .arg(d.data_dir())
            .output()
            .expect("cacheplane status");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}");
        assert!(text.starts_with("mig-h  migrating"), "{text}");
        let want = format!("migration from 127.0.0.1:{}: link up", source.port);
        if text.contains(&want) && text.contains("(in sync)") {
            assert!(text.contains("mig-h-002"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // CompleteMigration: in sync, so the primary is promoted and the group takes writes again.
    let out = c
        .complete_migration()
        .replication_group_id("mig-h")
        .send()
        .await
        .expect("complete");
    assert!(out.replication_group().is_some());
    let g = wait_available(&c, "mig-h", Duration::from_secs(10)).await;
    wait_event(
        &c,
        "mig-h",
        "Complete Migration successful for mig-h",
        Duration::from_secs(5),
    )
    .await;

    // Every key, type, value and TTL equal on the primary and every replica.
    let want = read_dataset(&mut s).await;
    assert_eq!(want.len(), 100_601);
    for (id, _, url) in members_of(&g) {
        wait_dbsize(&url, 100_601, Duration::from_secs(10)).await;
        let mut n = redis_conn(&url).await;
        let have = read_dataset(&mut n).await;
        assert_same_dataset(&id, &want, &have);
    }
    let mut p = redis_conn(&primary_endpoint).await;
    let _: () = redis::cmd("SET")
        .arg("customer")
        .arg("write")
        .query_async(&mut p)
        .await
        .expect("writes again");
    // The source is untouched: still a primary, without the target's new write.
    let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut s).await.expect("role");
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
    let v: Option<String> = redis::cmd("GET")
        .arg("customer")
        .query_async(&mut s)
        .await
        .expect("get");
    assert_eq!(v, None);
    assert_eq!(dbsize(&source_url).await, 100_601);
    let e = c
        .complete_migration()
        .replication_group_id("mig-h")
        .send()
        .await
        .expect_err("nothing to complete");
    assert_eq!(e.code(), Some("ReplicationGroupNotUnderMigrationFault"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_errors_force_and_a_source_that_cannot_be_followed() {
    let d = Daemon::start_with_args("info", &["--migration-attempt-timeout", "1"]);
    let c = d.client();
    create(&c, "mig-f", true).await;
    let source = Source::start(&[]);
    let mut s = redis_conn(&format!("redis://127.0.0.1:{}/", source.port)).await;
    fill_mixed(&mut s, "k", 1200).await;

    let e = c
        .start_migration()
        .replication_group_id("nope")
        .customer_node_endpoint_list(source.endpoint())
        .send()
        .await
        .expect_err("no group");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));
    let e = c
        .start_migration()
        .replication_group_id("mig-f")
        .customer_node_endpoint_list(source.endpoint())
        .customer_node_endpoint_list(endpoint(6380))
        .send()
        .await
        .expect_err("two endpoints");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = c
        .complete_migration()
        .replication_group_id("mig-f")
        .send()
        .await
        .expect_err("not migrating");
    assert_eq!(e.code(), Some("ReplicationGroupNotUnderMigrationFault"));
    let e = c
        .complete_migration()
        .replication_group_id("nope")
        .send()
        .await
        .expect_err("no group");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));

    // A target holding data: refused unless ClearTargetCacheData, which empties it first.
    let g = describe_group(&c, "mig-f").await;
    let primary_endpoint = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&primary_endpoint).await;
    let _: () = redis::cmd("SET")
        .arg("target-only")
        .arg("1")
        .query_async(&mut p)
        .await
        .expect("set");
    let e = c
        .start_migration()
        .replication_group_id("mig-f")
        .customer_node_endpoint_list(source.endpoint())
        .send()
        .await
        .expect_err("target not empty");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    assert_eq!(
        describe_group(&c, "mig-f").await.status(),
        Some("available")
    );
    c.start_migration()
        .replication_group_id("mig-f")
        .customer_node_endpoint_list(source.endpoint())
        .clear_target_cache_data(true)
        .send()
        .await
        .expect("start, clearing the target");
    wait_event(
        &c,
        "mig-f",
        "Migration of mig-f: initial sync from",
        Duration::from_secs(30),
    )
    .await;
    wait_event(
        &c,
        "mig-f",
        "Target cache data of mig-f cleared",
        Duration::from_secs(1),
    )
    .await;
    for (_, _, url) in members_of(&g) {
        wait_dbsize(&url, 1200, Duration::from_secs(10)).await;
    }

    // The source goes away: the link is reported down, CompleteMigration is refused (the group keeps
    // migrating), and Force completes it.
    drop(s);
    drop(source);
    wait_event(
        &c,
        "mig-f",
        "Migration of mig-f: replication link from",
        Duration::from_secs(10),
    )
    .await;
    let e = c
        .complete_migration()
        .replication_group_id("mig-f")
        .send()
        .await
        .expect_err("not in sync");
    assert_eq!(e.code(), Some("MigrationHealthFault"));
    assert_eq!(
        describe_group(&c, "mig-f").await.status(),
        Some("migrating")
    );
    wait_event(
        &c,
        "mig-f",
        "Complete Migration failed for mig-f",
        Duration::from_secs(1),
    )
    .await;
    c.complete_migration()
        .replication_group_id("mig-f")
        .force(true)
        .send()
        .await
        .expect("forced");
    wait_available(&c, "mig-f", Duration::from_secs(10)).await;
    wait_event(
        &c,
        "mig-f",
        "Complete Migration successful for mig-f",
        Duration::from_secs(1),
    )
    .await;
    let mut p = redis_conn(&primary_endpoint).await;
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("force")
        .query_async(&mut p)
        .await
        .expect("writes again");
    assert_eq!(dbsize(&primary_endpoint).await, 1201);

    // A source that passes the checks but cannot be followed — a replica whose own primary is gone (AWS allows
    // pointing a migration at a replica), which refuses every sync (`NOMASTERLINK`): the start is retried, then
    // abandoned, and the group is available with its data.
    let gone = free_port(); // nothing listens there
    let slow = Source::start(&["--replicaof", "127.0.0.1", &gone.to_string()]);
    c.start_migration()
        .replication_group_id("mig-f")
        .customer_node_endpoint_list(slow.endpoint())
        .clear_target_cache_data(false)
        .send()
        .await
        .expect_err("the target holds data");
    c.start_migration()
        .replication_group_id("mig-f")
        .customer_node_endpoint_list(slow.endpoint())
        .clear_target_cache_data(true)
        .send()
        .await
        .expect("start against a slow source");
    let failed = wait_event(
        &c,
        "mig-f",
        "Migration failed for mig-f",
        Duration::from_secs(20),
    )
    .await;
    assert!(failed.contains("after 3 attempts"), "{failed}");
    let events = event_messages(&c, "mig-f").await;
    assert!(
        events
            .iter()
            .any(|m| m.contains("(attempt 1 of 3); retrying")),
        "{events:?}"
    );
    let g = wait_available(&c, "mig-f", Duration::from_secs(5)).await;
    let roles: Vec<String> = members_of(&g).into_iter().map(|(_, r, _)| r).collect();
    assert!(roles.contains(&"primary".to_string()), "{roles:?}");
    let mut p = redis_conn(&primary_endpoint).await;
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("abandon")
        .query_async(&mut p)
        .await
        .expect("writable again");
}
