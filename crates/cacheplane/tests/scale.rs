//! Data at scale (issue 13): every workflow that waits on a node holds with a dataset of about a gigabyte.
//! One dataset (`SCALE_KEYS` keys, 4,000,000 by default: about 1.1 GB of used memory) is written once, then
//! snapshotted, restored into 3 nodes, switched over, failed over, rebooted, upgraded, given a replica, migrated
//! into a second group from a Redis outside Cacheplane, and deleted with a final snapshot; after each, every node
//! holds every key.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::Client;
use common::dataset::{assert_holds, fill, WAIT};
use common::*;

/// Keys of the dataset (`SCALE_KEYS` overrides).
fn keys() -> u64 {
    std::env::var("SCALE_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000_000)
}

/// Reads through a group's reader endpoint, a new connection for each read (the endpoint picks a replica per
/// connection), and records every read that did not return the key's value.
struct ReaderProbe {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(u64, Vec<String>)>,
}

impl ReaderProbe {
    fn start(g: &aws_sdk_elasticache::types::ReplicationGroup, n: u64) -> Self {
        let url = redis_url(
            g.node_groups()[0]
                .reader_endpoint()
                .expect("reader endpoint"),
        );
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let (mut reads, mut bad) = (0u64, Vec::new());
            let mut i = 0u64;
            while !*stopped.borrow() {
                i = (i + 7919) % n;
                let got: redis::RedisResult<Option<String>> =
                    match redis_conn_with_timeout(&url, Duration::from_secs(5)).await {
                        Ok(mut conn) => {
                            redis::cmd("GET")
                                .arg(format!("key:{i}"))
                                .query_async(&mut conn)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                reads += 1;
                match got {
                    Ok(Some(v)) if v == common::dataset::value_of(i) => {}
                    other => bad.push(format!("key:{i}: {other:?}")),
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stopped.changed() => {}
                }
            }
            (reads, bad)
        });
        Self { stop, task }
    }

    async fn stop(self, what: &str) {
        let _ = self.stop.send(true);
        let (reads, bad) = self.task.await.expect("reader task");
        eprintln!(
            "{what}: {reads} reads through the reader endpoint, {} bad",
            bad.len()
        );
        assert!(reads > 10, "{what}: the reader ran");
        assert!(
            bad.is_empty(),
            "{what}: reads that missed: {:?}",
            &bad[..bad.len().min(5)]
        );
    }
}

/// Waits until group `id` is `available`, then checks that every member holds the dataset.
async fn assert_group_holds(
    c: &Client,
    id: &str,
    n: u64,
    after: &str,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    let g = wait_available(c, id, WAIT).await;
    for (member, _, url) in members_of(&g) {
        assert_holds(&format!("{after}: {member}"), &url, n).await;
    }
    eprintln!("{after}: every member of {id} holds all {n} keys");
    g
}

async fn restore(c: &Client, id: &str, snapshot: &str, nodes: i32, version: &str) {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("restored")
        .num_cache_clusters(nodes)
        .cache_node_type("cache.r6g.large")
        .engine_version(version)
        .snapshot_name(snapshot)
        .send()
        .await
        .expect("restore");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workflow_holds_a_gigabyte() {
    let n = keys();
    let began = Instant::now();
    // Redis 6.2 and 7.0: the group starts on 6.2 so that a rolling upgrade to 7.0 is one of the workflows.
    let d = Daemon::start_with_two_engines();
    let c = d.client();
    let g = create_one_node(&c, "scale-src", "cache.r6g.large", "6.2", WAIT).await;
    let url = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let t = Instant::now();
    fill(&url, n).await;
    eprintln!("filled {n} keys in {:?}", t.elapsed());

    // 1. Snapshot.
    let t = Instant::now();
    c.create_snapshot()
        .replication_group_id("scale-src")
        .snapshot_name("scale-1")
        .send()
        .await
        .expect("snapshot");
    let snap = wait_snapshot_within(&c, "scale-1", WAIT).await;
    eprintln!(
        "snapshot of {n} keys ({} bytes) in {:?}",
        snapshot_file(&d, "scale-1").metadata().expect("file").len(),
        t.elapsed()
    );
    assert_eq!(snap.snapshot_status(), Some("available"));
    c.delete_replication_group()
        .replication_group_id("scale-src")
        .send()
        .await
        .expect("delete source");

    // 2. Restore into 3 nodes; meanwhile `cacheplane status` shows the load's and the full syncs' progress.
    let t = Instant::now();
    restore(&c, "scale", "scale-1", 3, "6.2").await;
    let mut seen = std::collections::BTreeSet::new();
    while describe_group(&c, "scale").await.status() == Some("creating") {
        let out = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
            .args(["status", "--replication-group-id", "scale", "--data-dir"])
            .arg(d.data_dir())
            .output()
            .expect("cacheplane status");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        for what in [
            "loading its data: ",
            "receiving a full sync: ",
            "full sync: waiting",
        ] {
            if let Some(line) = text.lines().find(|l| l.contains(what)) {
                if seen.insert(what) {
                    eprintln!("status during the restore: {}", line.trim());
                }
            }
        }
        assert!(t.elapsed() < WAIT, "restore took too long");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        seen.contains("loading its data: "),
        "status never showed a load in progress: {seen:?}"
    );
    let g = assert_group_holds(&c, "scale", n, "restore into 3 nodes").await;
    eprintln!("restore: {:?}", t.elapsed());

    // 3. Planned switchover to a replica (AWS allows PrimaryClusterId only while automatic failover is off).
    let t = Instant::now();
    let (_, g) = switch_over_to_a_replica(&c, "scale", &g, WAIT).await;
    assert_group_holds(&c, "scale", n, "switchover").await;
    eprintln!("switchover: {:?}", t.elapsed());

    // 4. Failover: with automatic failover on, the primary's process is killed.
    enable_automatic_failover(&c, "scale", WAIT).await;
    let t = Instant::now();
    let (_, g) = kill_primary_until_failed_over(&d, &c, "scale", &g, WAIT).await;
    assert_group_holds(&c, "scale", n, "failover").await;
    eprintln!(
        "failover (the old primary back with every key): {:?}",
        t.elapsed()
    );

    // 5. Reboot of the primary.
    let primary = current_primary(&g);
    assert!(!primary.is_empty(), "no member reports itself primary");
    let t = Instant::now();
    c.reboot_cache_cluster()
        .cache_cluster_id(&primary)
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    // The member shows as rebooting until its node has loaded its data again, and only then is it said restarted.
    let url = members_of(&describe_group(&c, "scale").await)
        .into_iter()
        .find(|(id, _, _)| *id == primary)
        .map(|(_, _, url)| url)
        .expect("primary's address");
    let mut saw_rebooting = false;
    loop {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(&primary)
            .send()
            .await
            .expect("describe cluster");
        let status = cc.cache_clusters()[0]
            .cache_cluster_status()
            .map(str::to_string);
        if status.as_deref() == Some("rebooting cluster nodes") {
            saw_rebooting = true;
        } else if saw_rebooting {
            break;
        }
        assert!(t.elapsed() < WAIT, "reboot: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        event_messages(&c, &primary)
            .await
            .iter()
            .any(|m| m == "Cache node 0001 restarted"),
        "restarted event once loaded"
    );
    let mut conn = redis_conn(&url).await;
    let size: u64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .expect("the node answers once it is no longer rebooting");
    assert_eq!(size, n, "loaded when no longer rebooting");
    let g = assert_group_holds(&c, "scale", n, "reboot of the primary").await;
    assert_eq!(current_primary(&g), primary, "a reboot is no failover");
    eprintln!("reboot: {:?}", t.elapsed());

    // 6. Rolling engine upgrade 6.2 → 7.0; readers through the reader endpoint meanwhile never meet a replica
    // that is loading or still syncing.
    let reader = ReaderProbe::start(&g, n);
    let t = Instant::now();
    c.modify_replication_group()
        .replication_group_id("scale")
        .engine_version("7.0")
        .apply_immediately(true)
        .send()
        .await
        .expect("upgrade");
    let g = wait_group(&c, "scale", WAIT, "upgraded", |g| {
        g.status() == Some("available")
    })
    .await;
    assert_group_holds(&c, "scale", n, "rolling upgrade").await;
    for (id, _, url) in members_of(&g) {
        let mut conn = redis_conn(&url).await;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .expect("info");
        assert!(info.contains("redis_version:7.0"), "{id} runs 7.0");
    }
    eprintln!("rolling upgrade: {:?}", t.elapsed());
    reader.stop("rolling upgrade").await;

    // 7. A replica added (readers never sent to it before it has the data).
    let reader = ReaderProbe::start(&describe_group(&c, "scale").await, n);
    let t = Instant::now();
    c.increase_replica_count()
        .replication_group_id("scale")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("add replica");
    let g = assert_group_holds(&c, "scale", n, "replica added").await;
    assert_eq!(members_of(&g).len(), 4);
    eprintln!("replica add: {:?}", t.elapsed());
    reader.stop("replica add").await;

    // 8. Delete with a final snapshot, restored in turn.
    let t = Instant::now();
    c.delete_replication_group()
        .replication_group_id("scale")
        .final_snapshot_identifier("scale-final")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "scale", WAIT).await;
    wait_snapshot_within(&c, "scale-final", WAIT).await;
    eprintln!("delete with a final snapshot: {:?}", t.elapsed());
    restore(&c, "scale-again", "scale-final", 1, "7.0").await;
    assert_group_holds(&c, "scale-again", n, "final snapshot restored").await;
    c.delete_replication_group()
        .replication_group_id("scale-again")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "scale-again", WAIT).await;

    // 9. Migration from a Redis outside Cacheplane holding the dataset (loaded from the snapshot's file).
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(snapshot_file(&d, "scale-1"), dir.path().join("dump.rdb")).expect("copy");
    let source = PlainRedis::start_in(dir, &[]);
    assert_holds("migration source", &source.url(), n).await;
    c.create_replication_group()
        .replication_group_id("scale-mig")
        .replication_group_description("migration target")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .cache_node_type("cache.r6g.large")
        .send()
        .await
        .expect("create target");
    wait_available(&c, "scale-mig", WAIT).await;
    let t = Instant::now();
    let ep = aws_sdk_elasticache::types::CustomerNodeEndpoint::builder()
        .address("127.0.0.1")
        .port(i32::from(source.port))
        .build();
    c.start_migration()
        .replication_group_id("scale-mig")
        .customer_node_endpoint_list(ep)
        .send()
        .await
        .expect("start migration");
    // In sync once CompleteMigration accepts it (it refuses while the initial sync runs).
    let deadline = Instant::now() + WAIT;
    loop {
        match c
            .complete_migration()
            .replication_group_id("scale-mig")
            .send()
            .await
        {
            Ok(_) => break,
            Err(e) => {
                let code =
                    aws_sdk_elasticache::error::ProvideErrorMetadata::code(&e).map(str::to_string);
                assert!(
                    Instant::now() < deadline,
                    "migration never in sync: {code:?} {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    assert_group_holds(&c, "scale-mig", n, "migration").await;
    eprintln!("migration: {:?}", t.elapsed());
    c.delete_replication_group()
        .replication_group_id("scale-mig")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "scale-mig", WAIT).await;
    eprintln!("every workflow held {n} keys; {:?} in all", began.elapsed());
}

/// A restore or a replica add whose data the machine cannot hold (here: within `--memory-limit`) is refused before
/// a node starts, with AWS's `InsufficientCacheClusterCapacity`, and changes nothing; one that fits goes ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_does_not_fit_is_refused_before_a_node_starts() {
    let n = 400_000; // about 110 MB in memory
    let d = Daemon::start_with_args("info", &["--memory-limit", "450MB"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("fit-src")
        .replication_group_description("the dataset")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "fit-src", WAIT).await;
    let url = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    fill(&url, n).await;
    c.create_snapshot()
        .replication_group_id("fit-src")
        .snapshot_name("fit-1")
        .send()
        .await
        .expect("snapshot");
    wait_snapshot_within(&c, "fit-1", WAIT).await;

    // Four nodes of ~110 MB (+10%) do not fit in what 450 MB leaves beside the source's node.
    let e = c
        .create_replication_group()
        .replication_group_id("fit-4")
        .replication_group_description("too big")
        .num_cache_clusters(4)
        .snapshot_name("fit-1")
        .send()
        .await
        .expect_err("four copies do not fit");
    assert_eq!(e.code(), Some("InsufficientCacheClusterCapacity"));
    let message = e.message().unwrap_or_default().to_string();
    assert!(
        message.contains("cannot hold 4 more nodes") && message.contains("--memory-limit 450.0 MB"),
        "{message}"
    );
    let e = c
        .describe_replication_groups()
        .replication_group_id("fit-4")
        .send()
        .await
        .expect_err("nothing was created");
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));

    // Two fit, and hold every key.
    restore(&c, "fit-2", "fit-1", 2, "7.0").await;
    assert_group_holds(&c, "fit-2", n, "restore that fits").await;

    // Now two more replicas of it do not: refused, and the group is as it was.
    let e = c
        .increase_replica_count()
        .replication_group_id("fit-2")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect_err("two more replicas do not fit");
    assert_eq!(e.code(), Some("InsufficientCacheClusterCapacity"));
    let g = describe_group(&c, "fit-2").await;
    assert_eq!(g.status(), Some("available"));
    assert_eq!(members_of(&g).len(), 2, "no node was added");
}
