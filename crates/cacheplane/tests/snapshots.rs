//! Snapshots through the real SDK, with the data checked on the nodes: a snapshot of 100,000 keys of mixed types
//! and TTLs taken while a writer runs, restored into a new group whose every node holds every key; the
//! `DescribeSnapshots` fields and filters; copy and delete; the final snapshot of a deleted group restored in
//! turn; and the errors of every action.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::types::Snapshot;
use aws_sdk_elasticache::Client;
use common::*;

const COUNTER: &str = "snap-counter";

/// Every key of every node of group `id`, compared with `want`.
async fn assert_group_holds(
    c: &Client,
    id: &str,
    want: &std::collections::BTreeMap<String, KeyState>,
) {
    let g = wait_available(c, id, Duration::from_secs(60)).await;
    for (member, _, url) in members_of(&g) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut conn = redis_conn(&url).await;
            let mut have = read_dataset(&mut conn).await;
            have.remove(COUNTER);
            if have.len() == want.len() {
                assert_same_dataset(&format!("{id}/{member}"), want, &have);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{member} holds {} keys, not {}",
                have.len(),
                want.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_under_writes_restore_copy_delete_and_final_snapshot() {
    let d = Daemon::start_with_args("info", &["--snapshot-quota", "3"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("snap-src")
        .replication_group_description("source of snapshots")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "snap-src", Duration::from_secs(30)).await;
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint"));
    let mut p = redis_conn(&primary).await;
    fill_mixed(&mut p, "k", 100_000).await;
    let mut want = read_dataset(&mut p).await;
    assert_eq!(want.len(), 100_000);

    // A manual snapshot of the group while a writer runs: taken from a replica, the group `snapshotting`.
    let writer = Writer::start(primary.clone(), COUNTER);
    writer.wait_for_more_acks(50).await;
    let out = c
        .create_snapshot()
        .replication_group_id("snap-src")
        .snapshot_name("Snap-One")
        .send()
        .await
        .expect("create snapshot");
    let s = out.snapshot().expect("snapshot");
    assert_eq!(s.snapshot_name(), Some("snap-one"), "names are lower-cased");
    assert_eq!(s.snapshot_status(), Some("creating"));
    assert_eq!(s.snapshot_source(), Some("manual"));
    let g = describe_group(&c, "snap-src").await;
    assert!(
        matches!(g.status(), Some("snapshotting") | Some("available")),
        "{:?}",
        g.status()
    );
    let s = wait_snapshot(&c, "snap-one").await;
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    assert_eq!(log.errors, 0, "writes went on while the snapshot was taken");
    assert_eq!(log.lost(), 0);
    println!(
        "longest write pause while snapshotting 100,000 keys: {:?}",
        log.longest_pause()
    );
    assert_eq!(
        wait_available(&c, "snap-src", Duration::from_secs(10))
            .await
            .status(),
        Some("available")
    );
    let events = event_messages(&c, "snap-src").await;
    assert!(events
        .iter()
        .any(|m| m == "Snapshot succeeded for snapshot with ID 'snap-one' of replication group with ID 'snap-src'"));
    assert_eq!(s.replication_group_id(), Some("snap-src"));
    assert_eq!(s.cache_node_type(), Some("cache.t3.micro"));
    assert_eq!(s.engine(), Some("redis"));
    assert!(s.arn().is_some_and(|a| a.ends_with(":snapshot:snap-one")));
    let node = &s.node_snapshots()[0];
    assert_eq!(
        node.cache_cluster_id(),
        Some("snap-src-002"),
        "taken from the replica"
    );
    assert!(node.snapshot_create_time().is_some());
    assert!(node.cache_size().is_some_and(|z| z.ends_with(" MB")));
    assert!(node.node_group_configuration().is_none());
    // The file on disk is a real RDB.
    let file = d.data_dir().join("snapshots").join("snap-one.rdb");
    let bytes = std::fs::read(&file).expect("snapshot file");
    assert!(bytes.starts_with(b"REDIS"), "an RDB file");

    // Tags on the snapshot's ARN.
    let arn = s.arn().expect("arn").to_string();
    let tags = tag_and_list(&c, &arn).await;
    assert_eq!(tags[0].key(), Some("team"));

    // Filters.
    let by_group = c
        .describe_snapshots()
        .replication_group_id("snap-src")
        .send()
        .await
        .expect("by group");
    assert_eq!(by_group.snapshots().len(), 1);
    let by_node = c
        .describe_snapshots()
        .cache_cluster_id("snap-src-002")
        .send()
        .await
        .expect("by node");
    assert_eq!(by_node.snapshots().len(), 1);
    let automated = c
        .describe_snapshots()
        .snapshot_source("automated")
        .send()
        .await
        .expect("automated");
    assert!(automated.snapshots().is_empty());
    let cfg = c
        .describe_snapshots()
        .snapshot_name("snap-one")
        .show_node_group_config(true)
        .send()
        .await
        .expect("config");
    let ngc = cfg.snapshots()[0].node_snapshots()[0]
        .node_group_configuration()
        .expect("node group configuration");
    assert_eq!(ngc.replica_count(), Some(1));

    // Errors of CreateSnapshot and DescribeSnapshots.
    assert_eq!(
        result_code(
            c.create_snapshot()
                .replication_group_id("snap-src")
                .snapshot_name("snap-one")
                .send()
                .await
        ),
        "SnapshotAlreadyExistsFault"
    );
    assert_eq!(
        result_code(
            c.create_snapshot()
                .replication_group_id("nope")
                .snapshot_name("x1")
                .send()
                .await
        ),
        "ReplicationGroupNotFoundFault"
    );
    assert_eq!(
        result_code(
            c.create_snapshot()
                .cache_cluster_id("nope-001")
                .snapshot_name("x1")
                .send()
                .await
        ),
        "CacheClusterNotFound"
    );
    assert_eq!(
        result_code(
            c.create_snapshot()
                .replication_group_id("snap-src")
                .snapshot_name("bad--name")
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        result_code(c.create_snapshot().snapshot_name("x1").send().await),
        "InvalidParameterCombination"
    );
    assert_eq!(
        result_code(c.describe_snapshots().snapshot_name("nope").send().await),
        "SnapshotNotFoundFault"
    );
    assert_eq!(
        result_code(
            c.describe_snapshots()
                .cache_cluster_id("nope-001")
                .send()
                .await
        ),
        "CacheClusterNotFound"
    );
    assert_eq!(
        result_code(c.describe_snapshots().max_records(10).send().await),
        "InvalidParameterValue"
    );

    // A snapshot still being taken can be neither deleted, copied nor restored (reading 100,000 keys takes far
    // longer than the next request).
    c.create_snapshot()
        .replication_group_id("snap-src")
        .snapshot_name("snap-race")
        .send()
        .await
        .expect("another snapshot");
    assert_eq!(
        result_code(c.delete_snapshot().snapshot_name("snap-race").send().await),
        "InvalidSnapshotState"
    );
    assert_eq!(
        result_code(
            c.copy_snapshot()
                .source_snapshot_name("snap-race")
                .target_snapshot_name("snap-x")
                .send()
                .await
        ),
        "InvalidSnapshotState"
    );
    assert_eq!(
        result_code(
            c.create_replication_group()
                .replication_group_id("snap-x")
                .replication_group_description("x")
                .snapshot_name("snap-race")
                .send()
                .await
        ),
        "InvalidSnapshotState"
    );
    assert_eq!(
        result_code(
            c.create_snapshot()
                .replication_group_id("snap-src")
                .snapshot_name("snap-x")
                .send()
                .await
        ),
        "InvalidReplicationGroupState",
        "one snapshot at a time"
    );
    wait_snapshot(&c, "snap-race").await;
    c.delete_snapshot()
        .snapshot_name("snap-race")
        .send()
        .await
        .expect("delete when available");
    wait_available(&c, "snap-src", Duration::from_secs(30)).await;

    // Restore into a new group: every node holds every key, TTLs included.
    want.remove(COUNTER);
    c.create_replication_group()
        .replication_group_id("snap-restored")
        .replication_group_description("from snap-one")
        .num_cache_clusters(2)
        .cache_node_type("cache.t3.small")
        .snapshot_name("snap-one")
        .send()
        .await
        .expect("restore");
    assert_group_holds(&c, "snap-restored", &want).await;
    let events = event_messages(&c, "snap-restored").await;
    assert!(events
        .iter()
        .any(|m| m == "Restored replication group snap-restored from snapshot snap-one"));
    assert_eq!(
        result_code(
            c.create_replication_group()
                .replication_group_id("snap-x")
                .replication_group_description("x")
                .snapshot_name("nope")
                .send()
                .await
        ),
        "SnapshotNotFoundFault"
    );

    // A damaged snapshot file is refused for a restore.
    let copy_file = d.data_dir().join("snapshots").join("snap-damaged.rdb");
    c.copy_snapshot()
        .source_snapshot_name("snap-one")
        .target_snapshot_name("snap-damaged")
        .send()
        .await
        .expect("copy to damage");
    let len = std::fs::metadata(&copy_file).expect("file").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy_file)
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    assert_eq!(
        result_code(
            c.create_replication_group()
                .replication_group_id("snap-x")
                .replication_group_description("x")
                .snapshot_name("snap-damaged")
                .send()
                .await
        ),
        "InvalidSnapshotState"
    );
    c.delete_snapshot()
        .snapshot_name("snap-damaged")
        .send()
        .await
        .expect("delete damaged");

    // Copy, quota, delete.
    let copy = c
        .copy_snapshot()
        .source_snapshot_name("snap-one")
        .target_snapshot_name("snap-copy")
        .send()
        .await
        .expect("copy");
    assert_eq!(
        copy.snapshot().and_then(|s| s.snapshot_status()),
        Some("available")
    );
    assert_eq!(
        result_code(
            c.copy_snapshot()
                .source_snapshot_name("snap-one")
                .target_snapshot_name("snap-copy")
                .send()
                .await
        ),
        "SnapshotAlreadyExistsFault"
    );
    assert_eq!(
        result_code(
            c.copy_snapshot()
                .source_snapshot_name("nope")
                .target_snapshot_name("snap-x")
                .send()
                .await
        ),
        "SnapshotNotFoundFault"
    );
    assert_eq!(
        result_code(
            c.copy_snapshot()
                .source_snapshot_name("snap-one")
                .target_snapshot_name("snap-s3")
                .target_bucket("bucket")
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    c.create_snapshot()
        .cache_cluster_id("snap-src-001")
        .snapshot_name("snap-three")
        .send()
        .await
        .expect("a third, from the primary by CacheClusterId");
    let third = wait_snapshot(&c, "snap-three").await;
    assert_eq!(
        third.node_snapshots()[0].cache_cluster_id(),
        Some("snap-src-001")
    );
    assert_eq!(
        result_code(
            c.create_snapshot()
                .replication_group_id("snap-src")
                .snapshot_name("snap-four")
                .send()
                .await
        ),
        "SnapshotQuotaExceededFault"
    );
    let del = c
        .delete_snapshot()
        .snapshot_name("snap-copy")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        del.snapshot().and_then(|s| s.snapshot_status()),
        Some("deleting")
    );
    assert!(!d
        .data_dir()
        .join("snapshots")
        .join("snap-copy.rdb")
        .exists());
    assert_eq!(
        result_code(c.delete_snapshot().snapshot_name("snap-copy").send().await),
        "SnapshotNotFoundFault"
    );
    c.delete_snapshot()
        .snapshot_name("snap-three")
        .send()
        .await
        .expect("delete third");

    // Final snapshot of a deleted group, then a restore from it; the group's manual snapshots stay.
    assert_eq!(
        result_code(
            c.delete_replication_group()
                .replication_group_id("snap-restored")
                .final_snapshot_identifier("snap-one")
                .send()
                .await
        ),
        "SnapshotAlreadyExistsFault"
    );
    c.delete_replication_group()
        .replication_group_id("snap-restored")
        .final_snapshot_identifier("snap-final")
        .send()
        .await
        .expect("delete with a final snapshot");
    wait_deleted(&c, "snap-restored", Duration::from_secs(60)).await;
    let fin = wait_snapshot(&c, "snap-final").await;
    assert_eq!(
        fin.node_snapshots()[0].cache_cluster_id(),
        Some("snap-restored-001"),
        "from the primary"
    );
    c.create_replication_group()
        .replication_group_id("snap-again")
        .replication_group_description("from the final snapshot")
        .num_cache_clusters(2)
        .snapshot_name("snap-final")
        .send()
        .await
        .expect("restore the final snapshot");
    assert_group_holds(&c, "snap-again", &want).await;
    c.delete_replication_group()
        .replication_group_id("snap-src")
        .send()
        .await
        .expect("delete source");
    wait_deleted(&c, "snap-src", Duration::from_secs(60)).await;
    let left = c.describe_snapshots().send().await.expect("all");
    let mut names: Vec<&str> = left
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["snap-final", "snap-one"],
        "manual snapshots outlive their group"
    );
}

/// A daily window `hh:mm-hh:mm` of 70 minutes that began 10 minutes ago.
fn daily_window_around_now() -> String {
    let start = chrono::Utc::now() - chrono::Duration::minutes(10);
    let end = start + chrono::Duration::minutes(70);
    format!("{}-{}", start.format("%H:%M"), end.format("%H:%M"))
}

async fn automated(c: &Client, group: &str) -> Vec<Snapshot> {
    c.describe_snapshots()
        .replication_group_id(group)
        .snapshot_source("automated")
        .send()
        .await
        .expect("describe automated")
        .snapshots()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_snapshots_in_the_window_kept_for_the_retention_limit() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("auto")
        .replication_group_description("automatic snapshots")
        .num_cache_clusters(2)
        .snapshot_retention_limit(1)
        .snapshot_window(daily_window_around_now())
        .preferred_maintenance_window(weekly_window(
            chrono::Utc::now() + chrono::Duration::hours(12),
        ))
        .send()
        .await
        .expect("create with automatic snapshots");
    let g = wait_available(&c, "auto", Duration::from_secs(30)).await;
    assert_eq!(g.snapshot_retention_limit(), Some(1));
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("ep"),
    ))
    .await;
    fill_mixed(&mut p, "a", 1_000).await;

    // One automatic snapshot in the window, named as AWS names them.
    let first = eventually("an automatic snapshot", Duration::from_secs(30), || async {
        automated(&c, "auto")
            .await
            .into_iter()
            .find(|s| s.snapshot_status() == Some("available"))
    })
    .await;
    let name = first.snapshot_name().expect("name").to_string();
    assert!(name.starts_with("automatic.auto-"), "{name}");
    assert_eq!(first.snapshot_source(), Some("automated"));
    // Not a second one the same day (the worker runs every 250 ms). A sleep: what is checked is that nothing
    // more is taken for several of the worker's rounds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(automated(&c, "auto").await.len(), 1, "one a day");

    // A snapshot older than the retention limit is deleted: make the one taken look three days old (its
    // time, and its name and file, which carry the time).
    d.kill9();
    let three_days_ago = chrono::Utc::now() - chrono::Duration::days(3);
    let old_name = format!("automatic.auto-{}", three_days_ago.format("%Y-%m-%d-%H-%M"));
    {
        let db =
            rusqlite::Connection::open(d.data_dir().join("cacheplane.sqlite3")).expect("store");
        let doc: String = db
            .query_row("SELECT doc FROM snapshots WHERE name = ?1", [&name], |r| {
                r.get(0)
            })
            .expect("snapshot row");
        let mut v: serde_json::Value = serde_json::from_str(&doc).expect("json");
        v["taken"] = serde_json::Value::String(three_days_ago.to_rfc3339());
        v["name"] = serde_json::Value::String(old_name.clone());
        let n = db
            .execute(
                "UPDATE snapshots SET name = ?1, doc = ?2 WHERE name = ?3",
                [old_name.clone(), v.to_string(), name.clone()],
            )
            .expect("update");
        assert_eq!(n, 1, "one snapshot made old");
        let dir = d.data_dir().join("snapshots");
        std::fs::rename(
            dir.join(format!("{name}.rdb")),
            dir.join(format!("{old_name}.rdb")),
        )
        .expect("rename file");
    }
    let name = old_name;
    d.spawn();
    let c = d.client();
    eventually(
        &format!("{name} pruned, another available"),
        Duration::from_secs(30),
        || async {
            let a = automated(&c, "auto").await;
            let names: Vec<String> = a
                .iter()
                .filter_map(|s| s.snapshot_name())
                .map(str::to_string)
                .collect();
            let pruned = !names.contains(&name)
                && a.iter().any(|s| s.snapshot_status() == Some("available"));
            pruned.then_some(()).ok_or(names)
        },
    )
    .await;
    assert!(!d
        .data_dir()
        .join("snapshots")
        .join(format!("{name}.rdb"))
        .exists());
    let events = event_messages(&c, "auto").await;
    assert!(events
        .iter()
        .any(|m| m.starts_with(&format!("Automatic snapshot {name} deleted"))));

    // Retention 0 stops them; deleting the group removes its automatic snapshots and keeps a manual one.
    c.modify_replication_group()
        .replication_group_id("auto")
        .snapshot_retention_limit(0)
        .send()
        .await
        .expect("retention 0");
    c.create_snapshot()
        .replication_group_id("auto")
        .snapshot_name("auto-manual")
        .send()
        .await
        .expect("manual");
    wait_snapshot(&c, "auto-manual").await;
    wait_available(&c, "auto", Duration::from_secs(30)).await;
    c.delete_replication_group()
        .replication_group_id("auto")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "auto", Duration::from_secs(60)).await;
    let left = c.describe_snapshots().send().await.expect("all");
    let names: Vec<&str> = left
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_name())
        .collect();
    assert_eq!(names, ["auto-manual"]);
}
