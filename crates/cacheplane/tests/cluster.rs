//! Cluster mode enabled through the real SDK and a real cluster client (the `redis` crate's, given only the
//! configuration endpoint): shards of real Redis Cluster nodes owning AWS's slot ranges, AWS's response shapes and
//! rules, and failover of one shard while the others keep serving.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_elasticache::types::{NodeGroupConfiguration, ReplicationGroup};
use common::cluster::*;
use common::*;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_serve_every_key_through_the_configuration_endpoint() {
    let d = Daemon::start();
    let c = d.client();
    let g = create_sharded(&c, "shards", 3, 1).await;

    // AWS's shapes: cluster enabled, a configuration endpoint, AWS's initial split, member ids per shard, and no
    // primary/reader endpoints on node groups nor read endpoints and roles on members.
    assert_eq!(g.cluster_enabled(), Some(true));
    assert_eq!(g.cluster_mode().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(g.automatic_failover().map(|a| a.as_str()), Some("enabled"));
    let slots: Vec<&str> = g
        .node_groups()
        .iter()
        .map(|n| n.slots().unwrap_or_default())
        .collect();
    assert_eq!(slots, ["0-5461", "5462-10922", "10923-16383"]);
    assert_eq!(
        g.member_clusters(),
        [
            "shards-0001-001",
            "shards-0001-002",
            "shards-0002-001",
            "shards-0002-002",
            "shards-0003-001",
            "shards-0003-002"
        ]
    );
    for ng in g.node_groups() {
        assert!(
            ng.primary_endpoint().is_none() && ng.reader_endpoint().is_none(),
            "{ng:?}"
        );
        for m in ng.node_group_members() {
            assert!(
                m.read_endpoint().is_none() && m.current_role().is_none(),
                "{m:?}"
            );
        }
    }

    // A cluster client given only the configuration endpoint finds the shards and serves every key.
    let cc = cluster_conn(&config_url(&g)).await;
    const N: usize = 100_000;
    let keys: Vec<String> = (0..N).map(|i| format!("key:{i}")).collect();
    set_all(&cc, &keys).await;
    assert_all(&cc, &keys).await;

    // Each shard's nodes hold exactly the keys whose slot the shard owns: its replica too (replication is
    // asynchronous: wait for it to catch up).
    let urls = node_urls(&c, &g).await;
    for ng in g.node_groups() {
        let ranges = slot_ranges(ng.slots().expect("slots"));
        let expected = keys
            .iter()
            .filter(|k| {
                let s = redis::cluster_routing::get_slot(k.as_bytes());
                ranges.iter().any(|(a, b)| (*a..=*b).contains(&s))
            })
            .count() as i64;
        assert!(expected > 30_000, "an even split: {expected}");
        for m in ng.node_group_members() {
            let url = &urls[m.cache_cluster_id().expect("id")];
            let mut conn = redis_conn(url).await;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let n: i64 = redis::cmd("DBSIZE")
                    .query_async(&mut conn)
                    .await
                    .expect("dbsize");
                // `after` is one more key in one of the shards.
                let after: i64 = redis::cmd("EXISTS")
                    .arg("after")
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(0);
                if n - after == expected {
                    break;
                }
                assert!(Instant::now() < deadline, "{url}: {n} keys, not {expected}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A cluster client that `INCR`s one key until stopped: the values acknowledged, and the errors it saw (a cluster
/// client retries `MOVED`, `ASK` and lost connections itself; an error here is one it could not handle).
struct ShardWriter {
    key: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Writes acknowledged so far.
    acked: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<Written>,
}

/// What a [`ShardWriter`] saw: the values acknowledged (when), and the errors.
type Written = (Vec<(Instant, i64)>, Vec<String>);

impl ShardWriter {
    async fn start(url: &str, key: String) -> Self {
        let mut conn = cluster_conn(url).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let k = key.clone();
        let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = acked.clone();
        let task = tokio::spawn(async move {
            let (mut acks, mut errors) = (Vec::new(), Vec::new());
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                match conn.incr::<_, _, i64>(&k, 1).await {
                    Ok(v) => {
                        acks.push((Instant::now(), v));
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(e) => {
                        errors.push(e.to_string());
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            (acks, errors)
        });
        Self {
            key,
            stop,
            acked,
            task,
        }
    }

    /// Until `n` more writes than now are acknowledged (within 20 s).
    async fn wait_for_more_acks(&self, n: usize) {
        let acked = || self.acked.load(std::sync::atomic::Ordering::SeqCst);
        let goal = acked() + n;
        eventually(
            &format!("{goal} acknowledged writes of {}", self.key),
            Duration::from_secs(20),
            || async { (acked() >= goal).then_some(()).ok_or(acked()) },
        )
        .await
    }

    async fn stop(self) -> (String, Vec<(Instant, i64)>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (acks, errors) = self.task.await.expect("writer");
        (self.key, acks, errors)
    }
}

/// Polls `CLUSTER NODES` through the configuration endpoint until the cluster is whole again: one node per member,
/// none failing, and each shard's slots served by the node at `primaries[shard]`'s address.
/// (The configuration endpoint hands the connection to any node: each must see this.)
async fn wait_cluster_whole(url: &str, g: &ReplicationGroup, primaries: &[(String, String)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // The endpoint may hand this connection to a node that is going away (a cluster client would try again):
        // a failed look is looked at again.
        let read = async {
            let mut conn = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async::<String>(&mut conn)
                .await
        };
        let text = read.await.unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let whole = lines.len() == g.member_clusters().len()
            && lines.iter().all(|l| {
                let flags = l.split_whitespace().nth(2).unwrap_or_default();
                flags
                    .split(',')
                    .all(|f| !matches!(f, "fail" | "fail?" | "handshake" | "noaddr"))
            })
            && primaries.iter().all(|(slots, addr)| {
                let host = addr.trim_start_matches("redis://").trim_end_matches('/');
                lines.iter().any(|l| {
                    l.contains("master") && l.contains(host) && l.ends_with(slots.as_str())
                })
            });
        if whole {
            return;
        }
        let last = text;
        assert!(
            Instant::now() < deadline,
            "the cluster is not whole again (want {primaries:?}):\n{last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_fails_over_its_shard_alone() {
    let d = Daemon::start();
    let c = d.client();
    let g = create_sharded(&c, "fo", 3, 1).await;
    let url = config_url(&g);
    let urls = node_urls(&c, &g).await;
    let mut writers = Vec::new();
    for ng in g.node_groups() {
        let key = key_in(
            &slot_ranges(ng.slots().expect("slots")),
            ng.node_group_id().expect("id"),
        );
        writers.push(ShardWriter::start(&url, key).await);
    }
    for w in &writers {
        w.wait_for_more_acks(50).await;
    }
    let victim = node_pid(&d, "fo-0002-001");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let killed = Instant::now();
    // Until the victim's shard takes writes again, and a little more.
    let deadline = killed + Duration::from_secs(20);
    let mut probe = cluster_conn(&url).await;
    let shard2_key = writers[1].key.clone();
    while probe.incr::<_, _, i64>(&shard2_key, 0).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "shard 0002 takes no writes after its primary was killed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Failover may take a few milliseconds only: "after the kill" is after shard 0002 took writes again.
    let resumed = Instant::now();
    for w in &writers {
        w.wait_for_more_acks(50).await;
    }
    let mut results = Vec::new();
    for w in writers {
        results.push(w.stop().await);
    }
    let mut check = cluster_conn(&url).await;
    for (i, (key, acks, errors)) in results.iter().enumerate() {
        let last = acks.last().map(|(_, v)| *v).unwrap_or(0);
        let stored: i64 = check.get(key).await.expect("get");
        assert!(
            acks.iter().any(|(t, _)| *t > resumed),
            "shard {} writes resumed after the kill",
            i + 1
        );
        if i != 1 {
            // The other shards never noticed: no error, nothing lost.
            assert!(errors.is_empty(), "shard {}: {errors:?}", i + 1);
            assert_eq!(
                stored,
                last,
                "shard {}: every acknowledged write kept",
                i + 1
            );
        }
    }
    let events = event_messages(&c, "fo").await;
    assert!(
        events
            .iter()
            .any(|e| e
                == "Failover from primary node fo-0002-001 to replica node fo-0002-002 completed"),
        "{events:?}"
    );
    // The failed node comes back as a new node replicating its successor; the cluster is whole again.
    let slots: Vec<String> = g
        .node_groups()
        .iter()
        .map(|n| n.slots().expect("slots").to_string())
        .collect();
    let primaries = vec![
        (slots[0].clone(), urls["fo-0001-001"].clone()),
        (slots[1].clone(), urls["fo-0002-002"].clone()),
        (slots[2].clone(), urls["fo-0003-001"].clone()),
    ];
    wait_cluster_whole(&url, &g, &primaries).await;

    // TestFailover of another node group, by its NodeGroupId: refused (as on AWS) until the first node
    // replacement has completed.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c
            .test_failover()
            .replication_group_id("fo")
            .node_group_id("0001")
            .send()
            .await
        {
            Ok(_) => break,
            Err(e) => {
                let se = e.into_service_error();
                assert!(se.is_test_failover_not_available_fault(), "{se:?}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "the node replacement never completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let primaries = vec![
        (slots[0].clone(), urls["fo-0001-002"].clone()),
        (slots[1].clone(), urls["fo-0002-002"].clone()),
        (slots[2].clone(), urls["fo-0003-001"].clone()),
    ];
    wait_cluster_whole(&url, &g, &primaries).await;
    let events = event_messages(&c, "fo").await;
    assert!(
        events
            .iter()
            .any(|e| e == "Test Failover API called for node group 0001"),
        "{events:?}"
    );
    let mut conn = cluster_conn(&url).await;
    for (key, _, _) in &results {
        let _: i64 = conn.incr(key, 1).await.expect("every shard takes writes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_rules_at_create_and_after() {
    let d = Daemon::start();
    let c = d.client();
    let create = || {
        c.create_replication_group()
            .replication_group_id("bad")
            .replication_group_description("rules")
    };
    // More than one node group with a parameter group of cluster mode disabled.
    let r = create()
        .num_node_groups(2)
        .cache_parameter_group_name("default.redis7")
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterCombination");
    let r = create()
        .num_node_groups(2)
        .cluster_mode(aws_sdk_elasticache::types::ClusterMode::Disabled)
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterCombination");
    let r = create()
        .cluster_mode(aws_sdk_elasticache::types::ClusterMode::Compatible)
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterValue");
    let r = create().num_node_groups(91).send().await;
    assert_eq!(result_code(r), "NodeGroupsPerReplicationGroupQuotaExceeded");
    let r = create()
        .num_node_groups(2)
        .replicas_per_node_group(6)
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterValue");
    let r = create()
        .num_node_groups(2)
        .automatic_failover_enabled(false)
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterCombination");
    let shard = |slots: &str| NodeGroupConfiguration::builder().slots(slots).build();
    let r = create()
        .node_group_configuration(shard("0-9000"))
        .node_group_configuration(shard("9000-16383"))
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterValue", "overlapping slots");
    let r = create()
        .node_group_configuration(shard("0-8000"))
        .node_group_configuration(shard("8001-16000"))
        .send()
        .await;
    assert_eq!(
        result_code(r),
        "InvalidParameterValue",
        "slots not all covered"
    );
    assert!(c
        .describe_replication_groups()
        .send()
        .await
        .expect("describe")
        .replication_groups()
        .is_empty());

    // One node group with the default parameter group: cluster mode disabled, as on AWS.
    let one = c
        .create_replication_group()
        .replication_group_id("one")
        .replication_group_description("one shard")
        .num_node_groups(1)
        .send()
        .await
        .expect("create");
    assert_eq!(
        one.replication_group().and_then(|g| g.cluster_enabled()),
        Some(false)
    );

    // Per-shard configuration: the user guide's example of uneven slots and replica counts, one id given.
    c.create_replication_group()
        .replication_group_id("uneven")
        .replication_group_description("uneven shards")
        .cache_parameter_group_name("default.redis7.cluster.on")
        .node_group_configuration(
            NodeGroupConfiguration::builder()
                .slots("0-8999")
                .replica_count(0)
                .primary_availability_zone("us-east-1b")
                .build(),
        )
        .node_group_configuration(
            NodeGroupConfiguration::builder()
                .node_group_id("7")
                .slots("9000-16383")
                .replica_count(1)
                .build(),
        )
        .send()
        .await
        .expect("create uneven");
    let g = wait_available(&c, "uneven", Duration::from_secs(60)).await;
    assert_eq!(
        g.member_clusters(),
        ["uneven-0001-001", "uneven-7-001", "uneven-7-002"]
    );
    let layout: Vec<(&str, &str, usize)> = g
        .node_groups()
        .iter()
        .map(|n| {
            (
                n.node_group_id().unwrap_or_default(),
                n.slots().unwrap_or_default(),
                n.node_group_members().len(),
            )
        })
        .collect();
    assert_eq!(layout, [("0001", "0-8999", 1), ("7", "9000-16383", 2)]);
    assert_eq!(
        g.node_groups()[0].node_group_members()[0].preferred_availability_zone(),
        Some("us-east-1b")
    );
    let mut cc = cluster_conn(&config_url(&g)).await;
    for i in 0..100 {
        let _: () = cc.set(format!("k{i}"), i).await.expect("set");
    }

    // What cluster mode forbids, with AWS's errors.
    let modify = || {
        c.modify_replication_group()
            .replication_group_id("uneven")
            .apply_immediately(true)
    };
    assert_eq!(
        result_code(modify().automatic_failover_enabled(false).send().await),
        "InvalidParameterCombination"
    );
    assert_eq!(
        result_code(
            modify()
                .snapshotting_cluster_id("uneven-7-001")
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
    assert_eq!(
        result_code(
            modify()
                .cache_parameter_group_name("default.redis7")
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
    assert_eq!(
        result_code(
            modify()
                .cluster_mode(aws_sdk_elasticache::types::ClusterMode::Disabled)
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
    let r = c
        .reboot_cache_cluster()
        .cache_cluster_id("uneven-7-001")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterCombination");
    let r = c
        .test_failover()
        .replication_group_id("uneven")
        .node_group_id("0009")
        .send()
        .await;
    assert_eq!(result_code(r), "NodeGroupNotFoundFault");
    // A node group without a replica cannot fail over.
    let r = c
        .test_failover()
        .replication_group_id("uneven")
        .node_group_id("0001")
        .send()
        .await;
    assert_eq!(result_code(r), "TestFailoverNotAvailableFault");
    // A description change is fine.
    modify()
        .replication_group_description("still uneven")
        .send()
        .await
        .expect("modify");
    let g = wait_available(&c, "uneven", Duration::from_secs(30)).await;
    assert_eq!(g.description(), Some("still uneven"));

    // Deleting stops every node of every shard.
    c.delete_replication_group()
        .replication_group_id("uneven")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "uneven", Duration::from_secs(30)).await;
}

/// How many nodes `CLUSTER NODES` lists through the configuration endpoint, once it is stable (none failing, none
/// in a handshake) — polled until it is `n`.
async fn wait_cluster_size(url: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let read = async {
            let mut conn = redis::Client::open(url)?
                .get_multiplexed_async_connection()
                .await?;
            redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async::<String>(&mut conn)
                .await
        };
        let text = read.await.unwrap_or_default();
        if text.lines().count() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster does not have {n} nodes:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_counts_change_per_node_group() {
    use aws_sdk_elasticache::types::ConfigureShard;
    let d = Daemon::start();
    let c = d.client();
    let g = create_sharded(&c, "rc", 2, 1).await;
    let url = config_url(&g);
    let mut cc = cluster_conn(&url).await;
    for i in 0..2000 {
        let _: () = cc.set(format!("k{i}"), i).await.expect("set");
    }
    let shard2 = slot_ranges(g.node_groups()[1].slots().expect("slots"));
    let in_shard2 = (0..2000)
        .filter(|i| {
            let s = redis::cluster_routing::get_slot(format!("k{i}").as_bytes());
            shard2.iter().any(|(a, b)| (*a..=*b).contains(&s))
        })
        .count() as i64;

    // One node group gets two more replicas; the other is left alone.
    c.increase_replica_count()
        .replication_group_id("rc")
        .apply_immediately(true)
        .replica_configuration(
            ConfigureShard::builder()
                .node_group_id("0002")
                .new_replica_count(3)
                .build(),
        )
        .send()
        .await
        .expect("increase");
    let g = wait_available(&c, "rc", Duration::from_secs(60)).await;
    let sizes: Vec<usize> = g
        .node_groups()
        .iter()
        .map(|n| n.node_group_members().len())
        .collect();
    assert_eq!(sizes, [2, 4]);
    assert!(
        g.member_clusters().iter().any(|m| m == "rc-0002-004"),
        "{:?}",
        g.member_clusters()
    );
    wait_cluster_size(&url, 6).await;
    let urls = node_urls(&c, &g).await;
    for id in ["rc-0002-003", "rc-0002-004"] {
        let mut conn = redis_conn(&urls[id]).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n: i64 = redis::cmd("DBSIZE")
                .query_async(&mut conn)
                .await
                .expect("dbsize");
            if n == in_shard2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id} holds {n} keys, not {in_shard2}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Counts that do not increase, and unknown node groups, are refused.
    let r = c
        .increase_replica_count()
        .replication_group_id("rc")
        .apply_immediately(true)
        .new_replica_count(2)
        .send()
        .await;
    assert_eq!(
        result_code(r),
        "InvalidParameterValue",
        "0002 has 3 replicas already"
    );
    let r = c
        .increase_replica_count()
        .replication_group_id("rc")
        .apply_immediately(true)
        .replica_configuration(
            ConfigureShard::builder()
                .node_group_id("0003")
                .new_replica_count(2)
                .build(),
        )
        .send()
        .await;
    assert_eq!(result_code(r), "NodeGroupNotFoundFault");

    // Every node group down to no replica (allowed with cluster mode enabled): the removed nodes leave the cluster.
    c.decrease_replica_count()
        .replication_group_id("rc")
        .apply_immediately(true)
        .new_replica_count(0)
        .send()
        .await
        .expect("decrease");
    let g = wait_available(&c, "rc", Duration::from_secs(60)).await;
    assert_eq!(g.member_clusters(), ["rc-0001-001", "rc-0002-001"]);
    wait_cluster_size(&url, 2).await;
    let mut cc = cluster_conn(&url).await;
    for i in 0..2000 {
        let v: i64 = cc.get(format!("k{i}")).await.expect("get");
        assert_eq!(v, i);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_adopts_its_shards() {
    let mut d = Daemon::start();
    let c = d.client();
    let g = create_sharded(&c, "keep", 2, 1).await;
    let url = config_url(&g);
    let mut cc = cluster_conn(&url).await;
    for i in 0..1000 {
        let _: () = cc.set(format!("k{i}"), i).await.expect("set");
    }
    let before = d.node_pids();
    d.kill9();
    // A replica dies while the daemon is down: it comes back from its data, with its cluster identity.
    let (dead, pid) = before
        .iter()
        .find(|(n, _)| n == "keep-0002-002")
        .cloned()
        .expect("replica");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    d.spawn();
    let c = d.client();
    let g2 = wait_available(&c, "keep", Duration::from_secs(30)).await;
    assert_eq!(g2.configuration_endpoint(), g.configuration_endpoint());
    let after = d.node_pids();
    for (name, pid) in &before {
        if *name != dead {
            assert!(
                after.contains(&(name.clone(), *pid)),
                "{name} adopted, not restarted"
            );
        }
    }
    wait_cluster_size(&url, 4).await;
    let urls = node_urls(&c, &g2).await;
    let primaries = vec![
        (
            g.node_groups()[0].slots().expect("slots").to_string(),
            urls["keep-0001-001"].clone(),
        ),
        (
            g.node_groups()[1].slots().expect("slots").to_string(),
            urls["keep-0002-001"].clone(),
        ),
    ];
    wait_cluster_whole(&url, &g2, &primaries).await;
    let mut cc = cluster_conn(&url).await;
    for i in 0..1000 {
        let v: i64 = cc.get(format!("k{i}")).await.expect("get");
        assert_eq!(v, i);
    }
}

/// A cluster client that writes new keys and reads old ones until stopped; what it acknowledged and the errors it
/// could not handle itself. Each command has 5 s: the `redis` crate's cluster client (0.27) can leave a request
/// waiting forever after nodes it knew are gone (seen under load, after a scale-in); such a stall is counted apart,
/// the connection opened again and the command sent again (a `SET` of the same value: its outcome is not in doubt).
struct Traffic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(u64, Vec<String>, u32)>,
}

impl Traffic {
    async fn start(url: &str, existing: u64) -> Self {
        let url = url.to_string();
        let mut conn = cluster_conn(&url).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let (mut written, mut errors, mut stalls) = (0u64, Vec::new(), 0u32);
            let limit = Duration::from_secs(5);
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                let i = written;
                match tokio::time::timeout(limit, conn.set::<_, _, ()>(format!("w:{i}"), i)).await {
                    Ok(Ok(())) => written += 1,
                    Ok(Err(e)) => errors.push(format!("set w:{i}: {e}")),
                    Err(_) => {
                        stalls += 1;
                        conn = cluster_conn(&url).await;
                        continue;
                    }
                }
                let k = (i * 7919) % existing;
                match tokio::time::timeout(limit, conn.get::<_, Option<u64>>(format!("key:{k}")))
                    .await
                {
                    Ok(Ok(Some(v))) if v == k => {}
                    Ok(other) => errors.push(format!("get key:{k}: {other:?}")),
                    Err(_) => {
                        stalls += 1;
                        conn = cluster_conn(&url).await;
                    }
                }
            }
            (written, errors, stalls)
        });
        Self { stop, task }
    }

    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (written, errors, stalls) = self.task.await.expect("traffic");
        if stalls > 0 {
            eprintln!("the cluster client stalled {stalls} times (opened again)");
        }
        (written, errors)
    }
}

async fn reshard(
    c: &aws_sdk_elasticache::Client,
    id: &str,
    count: i32,
    retain: &[&str],
) -> ReplicationGroup {
    let mut r = c
        .modify_replication_group_shard_configuration()
        .replication_group_id(id)
        .node_group_count(count)
        .apply_immediately(true);
    for k in retain {
        r = r.node_groups_to_retain(*k);
    }
    let out = r.send().await.expect("reshard");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("modifying")
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = 0.0;
    loop {
        let g = describe_group(c, id).await;
        let pct = g
            .pending_modified_values()
            .and_then(|p| p.resharding())
            .and_then(|r| r.slot_migration())
            .and_then(|s| s.progress_percentage());
        if g.status() == Some("available") {
            assert!(g
                .pending_modified_values()
                .and_then(|p| p.resharding())
                .is_none());
            return g;
        }
        assert_eq!(g.status(), Some("modifying"));
        // Present, never going back, until the group is available (at 100 while the last steps run).
        let pct = pct.unwrap_or_else(|| panic!("no ProgressPercentage while modifying: {g:?}"));
        assert!(pct >= last && pct <= 100.0, "{last} then {pct}");
        last = pct;
        assert!(Instant::now() < deadline, "resharding of {id} never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each node group's slot count, from its `Slots` string.
fn slot_counts(g: &ReplicationGroup) -> Vec<u32> {
    g.node_groups()
        .iter()
        .map(|n| {
            slot_ranges(n.slots().expect("slots"))
                .iter()
                .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
                .sum()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resharding_online_keeps_every_key() {
    let d = Daemon::start();
    let c = d.client();
    let g = create_sharded(&c, "resh", 3, 1).await;
    let url = config_url(&g);
    let cc = cluster_conn(&url).await;
    const N: u64 = 20_000;
    fill_numbered(&cc, N).await;
    let traffic = Traffic::start(&url, N).await;

    // Scale out 3 → 5: the new node groups are as large as the others and take slots evenly from all.
    let g = reshard(&c, "resh", 5, &[]).await;
    assert_eq!(g.node_groups().len(), 5);
    assert!(g
        .node_groups()
        .iter()
        .all(|n| n.node_group_members().len() == 2));
    for n in slot_counts(&g) {
        assert!((3276..=3277).contains(&n), "{:?}", slot_counts(&g));
    }
    assert!(
        g.node_groups()
            .iter()
            .any(|n| n.slots().unwrap_or_default().contains(',')),
        "slots taken from every node group leave multi-range Slots strings"
    );
    // Scale in 5 → 2, keeping two node groups: the others' slots go to them and their nodes are stopped.
    let g = reshard(&c, "resh", 2, &["0001", "0003"]).await;
    let ids: Vec<&str> = g
        .node_groups()
        .iter()
        .filter_map(|n| n.node_group_id())
        .collect();
    assert_eq!(ids, ["0001", "0003"]);
    assert_eq!(slot_counts(&g), [8192, 8192]);
    assert_eq!(g.member_clusters().len(), 4);
    wait_cluster_size(&url, 4).await;
    // Even already: AWS's answer.
    let r = c
        .modify_replication_group_shard_configuration()
        .replication_group_id("resh")
        .node_group_count(2)
        .apply_immediately(true)
        .send()
        .await;
    let e = r.expect_err("nothing to do").into_service_error();
    assert!(e.is_invalid_replication_group_state_fault(), "{e:?}");
    assert!(
        format!("{e:?}")
            .contains("Slots in the replication group are uniformly distributed. Nothing to do."),
        "{e:?}"
    );

    let (written, errors) = traffic.stop().await;
    assert!(
        errors.is_empty(),
        "{} errors, first {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(written > 100, "the client kept writing: {written}");
    let mut cc = cluster_conn(&url).await;
    for i in 0..N {
        let v: Option<u64> = cc.get(format!("key:{i}")).await.expect("get");
        assert_eq!(v, Some(i), "key:{i}");
    }
    for i in 0..written {
        let v: Option<u64> = cc.get(format!("w:{i}")).await.expect("get");
        assert_eq!(v, Some(i), "acknowledged write w:{i}");
    }
    let events = event_messages(&c, "resh").await;
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("Resharding of replication group resh completed")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalance_and_resharding_rules() {
    let d = Daemon::start();
    let c = d.client();
    // Uneven slots from the start: a rebalance spreads them evenly.
    c.create_replication_group()
        .replication_group_id("lopsided")
        .replication_group_description("uneven")
        .cache_parameter_group_name("default.redis7.cluster.on")
        .node_group_configuration(NodeGroupConfiguration::builder().slots("0-999").build())
        .node_group_configuration(
            NodeGroupConfiguration::builder()
                .slots("1000-16383")
                .build(),
        )
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "lopsided", Duration::from_secs(60)).await;
    let mut cc = cluster_conn(&config_url(&g)).await;
    for i in 0..3000 {
        let _: () = cc.set(format!("k{i}"), i).await.expect("set");
    }
    let g = reshard(&c, "lopsided", 2, &[]).await;
    assert_eq!(slot_counts(&g), [8192, 8192]);
    let mut cc = cluster_conn(&config_url(&g)).await;
    for i in 0..3000 {
        let v: i64 = cc.get(format!("k{i}")).await.expect("get");
        assert_eq!(v, i);
    }

    let modify = || {
        c.modify_replication_group_shard_configuration()
            .replication_group_id("lopsided")
            .apply_immediately(true)
    };
    let r = modify()
        .node_group_count(1)
        .node_groups_to_remove("0010")
        .send()
        .await;
    let e = r.expect_err("unknown id").into_service_error();
    assert!(
        format!("{e:?}").contains("The following node group ids are invalid: [0010]"),
        "{e:?}"
    );
    let r = modify().node_group_count(1).send().await;
    assert_eq!(
        result_code(r),
        "InvalidParameterCombination",
        "neither remove nor retain"
    );
    let r = modify()
        .node_group_count(3)
        .node_groups_to_remove("0001")
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterCombination");
    let r = c
        .modify_replication_group_shard_configuration()
        .replication_group_id("lopsided")
        .node_group_count(3)
        .apply_immediately(false)
        .send()
        .await;
    assert_eq!(result_code(r), "InvalidParameterValue");
    let r = modify().node_group_count(91).send().await;
    assert_eq!(result_code(r), "NodeGroupsPerReplicationGroupQuotaExceeded");
    // A group with cluster mode disabled has nothing to reshard.
    c.create_replication_group()
        .replication_group_id("plain")
        .replication_group_description("cmd")
        .send()
        .await
        .expect("create");
    let r = c
        .modify_replication_group_shard_configuration()
        .replication_group_id("plain")
        .node_group_count(2)
        .apply_immediately(true)
        .send()
        .await;
    let e = r.expect_err("cmd").into_service_error();
    assert!(
        format!("{e:?}")
            .contains("Operation is only applicable for cluster mode enabled replication groups."),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_resharding_resumes_it() {
    let mut d = Daemon::start();
    let c = d.client();
    let g = create_sharded(&c, "mid", 3, 0).await;
    let url = config_url(&g);
    let cc = cluster_conn(&url).await;
    const N: u64 = 100_000;
    for chunk in (0..N).collect::<Vec<_>>().chunks(5000) {
        let mut set = tokio::task::JoinSet::new();
        for part in chunk.chunks(500) {
            let (mut conn, part) = (cc.clone(), part.to_vec());
            set.spawn(async move {
                for i in part {
                    conn.set::<_, _, ()>(format!("key:{i}"), i).await?;
                }
                Ok::<_, redis::RedisError>(())
            });
        }
        while let Some(r) = set.join_next().await {
            r.expect("task").expect("set");
        }
    }
    c.modify_replication_group_shard_configuration()
        .replication_group_id("mid")
        .node_group_count(4)
        .apply_immediately(true)
        .send()
        .await
        .expect("reshard");
    // Kill the daemon once some slots have moved and some have not.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let g = describe_group(&c, "mid").await;
        let pct = g
            .pending_modified_values()
            .and_then(|p| p.resharding())
            .and_then(|r| r.slot_migration())
            .and_then(|s| s.progress_percentage())
            .unwrap_or(0.0);
        if pct > 0.0 && pct < 100.0 {
            break;
        }
        assert!(
            g.status() == Some("modifying"),
            "resharding ended before the kill: {g:?}"
        );
        assert!(Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    d.kill9();
    d.spawn();
    let c = d.client();
    let deadline = Instant::now() + Duration::from_secs(120);
    let g = loop {
        let g = describe_group(&c, "mid").await;
        if g.status() == Some("available") {
            break g;
        }
        assert!(
            Instant::now() < deadline,
            "the resharding never resumed to its end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(slot_counts(&g), [4096, 4096, 4096, 4096]);
    let mut cc = cluster_conn(&url).await;
    for i in 0..N {
        let v: Option<u64> = cc.get(format!("key:{i}")).await.expect("get");
        assert_eq!(v, Some(i), "key:{i}");
    }
}

/// `ModifyReplicationGroup ClusterMode`, the seed's path: `disabled` → `compatible` (and back, and again) →
/// `enabled`, under a writer on the primary endpoint: no acknowledged write lost, every key kept, a cluster client
/// working on the configuration endpoint from `compatible` on; AWS's preconditions and refusals on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_moves_from_disabled_through_compatible_to_enabled() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("modes")
        .replication_group_description("cluster mode change")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "modes", Duration::from_secs(60)).await;
    let primary = redis_url(
        g.node_groups()[0]
            .primary_endpoint()
            .expect("primary endpoint"),
    );
    dataset::fill(&primary, 10_000).await;
    let modify = |mode: &str| {
        c.modify_replication_group()
            .replication_group_id("modes")
            .cluster_mode(mode.into())
            .apply_immediately(true)
    };

    // AWS's path and preconditions: not straight to enabled, nothing else in the request, keys in database 0 only.
    let code = result_code(modify("enabled").send().await);
    assert_eq!(code, "InvalidParameterCombination");
    let code = result_code(
        modify("compatible")
            .cache_node_type("cache.m5.large")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterCombination");
    let code = result_code(
        modify("compatible")
            .cache_parameter_group_name("default.redis7")
            .send()
            .await,
    );
    assert_eq!(code, "InvalidParameterCombination");
    let mut conn = redis_conn(&primary).await;
    let _: () = redis::pipe()
        .cmd("SELECT")
        .arg(1)
        .cmd("SET")
        .arg("elsewhere")
        .arg(1)
        .cmd("SELECT")
        .arg(0)
        .query_async(&mut conn)
        .await
        .expect("a key in db 1");
    let e = modify("compatible")
        .send()
        .await
        .expect_err("db 1 has a key");
    assert_eq!(
        aws_sdk_elasticache::error::ProvideErrorMetadata::code(&e),
        Some("InvalidReplicationGroupState")
    );
    let _: () = redis::pipe()
        .cmd("SELECT")
        .arg(1)
        .cmd("FLUSHDB")
        .cmd("SELECT")
        .arg(0)
        .query_async(&mut conn)
        .await
        .expect("db 1 emptied");
    assert_eq!(
        describe_group(&c, "modes").await.status(),
        Some("available"),
        "refusals change nothing"
    );

    let writer = Writer::start(primary.clone(), "counter");
    writer.wait_for_more_acks(50).await;
    let g = to_compatible(&c, "disabled to compatible").await;
    // Both kinds of client: the plain one on the primary endpoint (the writer), a cluster client on the
    // configuration endpoint, which sees every key.
    let mut cluster = cluster_conn(&config_url(&g)).await;
    let v: String = cluster.get("key:9999").await.expect("cluster read");
    assert_eq!(v, dataset::value_of(9999));
    let _: () = cluster
        .set("{user}:1", "cluster")
        .await
        .expect("cluster write");
    let v: String = redis_conn(&primary)
        .await
        .get("{user}:1")
        .await
        .expect("plain read");
    assert_eq!(v, "cluster");
    let messages = event_messages(&c, "modes").await;
    assert!(
        messages.iter().any(|m| m.contains("(cluster mode change)")),
        "{messages:?}"
    );

    // Back to disabled (allowed from compatible), and forward again: the nodes run without Redis Cluster and
    // with it, the writer never losing a write.
    let out = modify("disabled").send().await.expect("disabled");
    assert_eq!(
        out.replication_group().and_then(|g| g.status()),
        Some("modifying")
    );
    let g = wait_available(&c, "modes", Duration::from_secs(120)).await;
    assert_eq!(g.cluster_mode().map(|m| m.as_str()), Some("disabled"));
    assert_eq!(g.cluster_enabled(), Some(false));
    assert!(g.configuration_endpoint().is_none());
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut redis_conn(&primary).await)
        .await
        .expect("info");
    assert!(info.contains("cluster_enabled:0"), "{info}");
    to_compatible(&c, "compatible again").await;

    let out = modify("enabled").send().await.expect("enabled");
    assert!(out.replication_group().is_some());
    let g = wait_available(&c, "modes", Duration::from_secs(60)).await;
    let log = writer.stop().await;
    assert_eq!(log.lost(), 0, "acknowledged writes lost");
    assert!(log.acks.len() > 100, "the writer wrote: {}", log.acks.len());
    assert_eq!(g.cluster_mode().map(|m| m.as_str()), Some("enabled"));
    assert!(g.node_groups()[0].primary_endpoint().is_none());
    assert!(g.node_groups()[0].reader_endpoint().is_none());
    // Every key and the writer's last value, through the configuration endpoint only.
    let mut cluster = cluster_conn(&config_url(&g)).await;
    let last = log.acks.last().map(|a| a.1).expect("acks");
    let counter: i64 = cluster.get("counter").await.expect("counter");
    assert!(
        counter >= last,
        "counter {counter} < last acknowledged {last}"
    );
    for i in [0, 1234, 5000, 9999] {
        let v: String = cluster.get(format!("key:{i}")).await.expect("key");
        assert_eq!(v, dataset::value_of(i));
    }
    assert_eq!(
        result_code(modify("disabled").send().await),
        "InvalidParameterCombination",
        "enabled is final"
    );
}

/// Sets group `modes` to `compatible` (with the parameter group that may accompany it) and waits until it is.
async fn to_compatible(c: &aws_sdk_elasticache::Client, note: &str) -> ReplicationGroup {
    let out = c
        .modify_replication_group()
        .replication_group_id("modes")
        .cluster_mode("compatible".into())
        .cache_parameter_group_name("default.redis7.cluster.on")
        .apply_immediately(true)
        .send()
        .await
        .expect("compatible");
    let g = out.replication_group().expect("group");
    assert_eq!(g.status(), Some("modifying"), "{note}");
    assert_eq!(
        g.pending_modified_values()
            .and_then(|p| p.cluster_mode())
            .map(|m| m.as_str()),
        Some("compatible")
    );
    let g = wait_available(c, "modes", Duration::from_secs(120)).await;
    assert_eq!(g.cluster_mode().map(|m| m.as_str()), Some("compatible"));
    assert_eq!(g.cluster_enabled(), Some(true));
    assert_eq!(g.node_groups()[0].slots(), Some("0-16383"));
    assert!(g.node_groups()[0].primary_endpoint().is_some(), "{note}");
    g
}

/// Snapshots with cluster mode enabled: one RDB per node group (manual, automatic, final), restored into a different
/// number of node groups with every key present once (placed by its slot), copied and deleted with all their files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_per_node_group_restore_into_another_count() {
    let d = Daemon::start();
    let c = d.client();
    let now = chrono::Utc::now();
    let window = format!(
        "{}-{}",
        (now - chrono::Duration::minutes(10)).format("%H:%M"),
        (now + chrono::Duration::minutes(60)).format("%H:%M")
    );
    c.create_replication_group()
        .replication_group_id("three")
        .replication_group_description("snapshots of shards")
        .num_node_groups(3)
        .replicas_per_node_group(1)
        .snapshot_retention_limit(1)
        .snapshot_window(window)
        .preferred_maintenance_window(weekly_window(now + chrono::Duration::hours(3)))
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "three", Duration::from_secs(60)).await;
    let cc = cluster_conn(&config_url(&g)).await;
    let keys: Vec<String> = (0..20_000).map(|i| format!("key:{i}")).collect();
    set_all(&cc, &keys).await;

    // The automatic snapshot of the window: every node group's data.
    let deadline = Instant::now() + Duration::from_secs(60);
    let automatic = loop {
        let out = c
            .describe_snapshots()
            .replication_group_id("three")
            .snapshot_source("automated")
            .send()
            .await
            .expect("automated");
        if let Some(s) = out.snapshots().first() {
            if s.snapshot_status() == Some("available") {
                break s.clone();
            }
        }
        assert!(Instant::now() < deadline, "no automatic snapshot: {out:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(automatic.num_node_groups(), Some(3));
    wait_available(&c, "three", Duration::from_secs(60)).await;

    // A manual one, after writing the keys: one RDB per node group, AWS's shape.
    assert_eq!(
        result_code(
            c.create_snapshot()
                .cache_cluster_id("three-0001-001")
                .snapshot_name("one-node")
                .send()
                .await
        ),
        "InvalidParameterCombination",
        "a cluster mode enabled snapshot is of the whole group"
    );
    c.create_snapshot()
        .replication_group_id("three")
        .snapshot_name("three-shards")
        .send()
        .await
        .expect("create snapshot");
    let snap = loop {
        let s = c
            .describe_snapshots()
            .snapshot_name("three-shards")
            .show_node_group_config(true)
            .send()
            .await
            .expect("describe snapshot")
            .snapshots()[0]
            .clone();
        if s.snapshot_status() != Some("creating") {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(snap.snapshot_status(), Some("available"));
    assert_eq!(snap.num_node_groups(), Some(3));
    let parts: Vec<(String, String)> = snap
        .node_snapshots()
        .iter()
        .map(|n| {
            let cfg = n
                .node_group_configuration()
                .expect("node group configuration");
            (
                n.node_group_id().unwrap_or_default().to_string(),
                cfg.slots().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("0001".to_string(), "0-5461".to_string()),
            ("0002".into(), "5462-10922".into()),
            ("0003".into(), "10923-16383".into())
        ]
    );
    for ng in ["0001", "0002", "0003"] {
        let f = d
            .data_dir()
            .join("snapshots")
            .join(format!("three-shards.{ng}.rdb"));
        assert!(std::fs::read(&f)
            .expect("a file per node group")
            .starts_with(b"REDIS"));
    }

    // Restored into four node groups: every key present once, each in the node group serving its slot.
    assert_eq!(
        result_code(
            c.create_replication_group()
                .replication_group_id("flat")
                .replication_group_description("no")
                .num_cache_clusters(1)
                .snapshot_name("three-shards")
                .send()
                .await
        ),
        "InvalidParameterCombination",
        "node groups into a group with cluster mode disabled"
    );
    c.create_replication_group()
        .replication_group_id("four")
        .replication_group_description("restored")
        .num_node_groups(4)
        .replicas_per_node_group(1)
        .snapshot_name("three-shards")
        .send()
        .await
        .expect("restore");
    let g4 = wait_available(&c, "four", Duration::from_secs(120)).await;
    assert_eq!(g4.node_groups().len(), 4);
    let cc4 = cluster_conn(&config_url(&g4)).await;
    assert_all(&cc4, &keys).await;
    let urls = node_urls(&c, &g4).await;
    let mut held = 0;
    for ng in g4.node_groups() {
        let primary = &ng.node_group_members()[0];
        let mut conn = redis_conn(&urls[primary.cache_cluster_id().expect("id")]).await;
        let n: i64 = redis::cmd("DBSIZE")
            .query_async(&mut conn)
            .await
            .expect("dbsize");
        held += n;
    }
    assert_eq!(held, keys.len() as i64, "every key once");

    // A final snapshot when the four-shard group is deleted; copies and deletes take every file.
    c.delete_replication_group()
        .replication_group_id("four")
        .final_snapshot_identifier("four-final")
        .send()
        .await
        .expect("delete with a final snapshot");
    wait_deleted(&c, "four", Duration::from_secs(60)).await;
    let fin = c
        .describe_snapshots()
        .snapshot_name("four-final")
        .send()
        .await
        .expect("final")
        .snapshots()[0]
        .clone();
    assert_eq!(fin.snapshot_status(), Some("available"));
    assert_eq!(fin.num_node_groups(), Some(4));
    c.copy_snapshot()
        .source_snapshot_name("four-final")
        .target_snapshot_name("four-copy")
        .send()
        .await
        .expect("copy");
    let dir = d.data_dir().join("snapshots");
    let count = |prefix: &str| {
        std::fs::read_dir(&dir)
            .expect("snapshots dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
            .count()
    };
    assert_eq!(count("four-copy."), 4);
    c.delete_snapshot()
        .snapshot_name("four-final")
        .send()
        .await
        .expect("delete snapshot");
    assert_eq!(count("four-final."), 0);
}

/// Cluster mode enabled groups change engine version and node type like the others, node group by node group:
/// replicas first, then Redis's own planned switchover (`CLUSTER FAILOVER`) per node group, while a cluster client
/// keeps writing and reading (nothing lost, no error it does not handle itself); the new node type's memory is what
/// every node reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_upgrade_and_node_type_roll_through_every_node_group() {
    let d = Daemon::start_with_two_engines();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("roll")
        .replication_group_description("rolling in cluster mode")
        .num_node_groups(2)
        .replicas_per_node_group(1)
        .engine_version("6.2")
        .send()
        .await
        .expect("create on 6.2");
    let g = wait_available(&c, "roll", Duration::from_secs(60)).await;
    let url = config_url(&g);
    let cc = cluster_conn(&url).await;
    const N: u64 = 5_000;
    fill_numbered(&cc, N).await;
    let traffic = Traffic::start(&url, N).await;
    let target = "7.0";
    c.modify_replication_group()
        .replication_group_id("roll")
        .engine_version(target)
        .apply_immediately(true)
        .send()
        .await
        .expect("upgrade");
    let g = wait_group(&c, "roll", Duration::from_secs(180), "upgraded", |g| {
        g.status() == Some("available")
    })
    .await;
    let (written, errors) = traffic.stop().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(written > 50, "the client wrote throughout: {written}");
    let messages = event_messages(&c, "roll").await;
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.contains("(planned switchover)"))
            .count(),
        2,
        "one switchover per node group: {messages:?}"
    );
    let urls = node_urls(&c, &g).await;
    for (id, url) in &urls {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut redis_conn(url).await)
            .await
            .expect("info");
        assert!(info.contains("redis_version:7.0"), "{id}: {info}");
    }
    let cc = cluster_conn(&url).await;
    for i in (0..N).step_by(97) {
        let v: u64 = cc.clone().get(format!("key:{i}")).await.expect("key");
        assert_eq!(v, i);
    }
    for i in (0..written).step_by(13) {
        let v: Option<u64> = cc.clone().get(format!("w:{i}")).await.expect("w");
        assert_eq!(v, Some(i), "acknowledged write w:{i}");
    }

    // A node type of more memory: every node's limit follows.
    c.modify_replication_group()
        .replication_group_id("roll")
        .cache_node_type("cache.t3.small")
        .apply_immediately(true)
        .send()
        .await
        .expect("node type");
    let g = wait_available(&c, "roll", Duration::from_secs(60)).await;
    assert_eq!(g.cache_node_type(), Some("cache.t3.small"));
    for (id, url) in &node_urls(&c, &g).await {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut redis_conn(url).await)
            .await
            .expect("info");
        assert!(info.contains("maxmemory:1103269724"), "{id}: {info}");
    }
}

/// In-transit encryption and AUTH with cluster mode enabled: TLS between clients and nodes and on the cluster bus,
/// the token required, a cluster client over TLS through the configuration endpoint, a failover over the TLS bus,
/// and a snapshot restored into more node groups of a TLS group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_auth_tokens_with_cluster_mode_enabled() {
    let d = Daemon::start();
    let c = d.client();
    let token = "a-token-of-sixteen-chars-or-more";
    c.create_replication_group()
        .replication_group_id("secure")
        .replication_group_description("tls cluster")
        .num_node_groups(2)
        .replicas_per_node_group(1)
        .transit_encryption_enabled(true)
        .auth_token(token)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "secure", Duration::from_secs(60)).await;
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(g.auth_token_enabled(), Some(true));
    let ca = d.data_dir().join("tls").join("ca.pem");
    let cc = tls_cluster_conn(&g, &ca, token).await;
    let keys: Vec<String> = (0..3_000).map(|i| format!("key:{i}")).collect();
    set_all(&cc, &keys).await;
    assert_all(&cc, &keys).await;

    // Without TLS nothing answers; over TLS without the token, nothing is served.
    let ep = g.configuration_endpoint().expect("endpoint");
    let (host, port) = (
        ep.address().expect("a").to_string(),
        ep.port().expect("p") as u16,
    );
    let plain =
        redis_conn_with_timeout(&format!("redis://{host}:{port}/"), Duration::from_secs(2)).await;
    let refused = match plain {
        Err(_) => true,
        Ok(mut conn) => redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_err(),
    };
    assert!(refused, "plaintext is refused");
    let mut anonymous = tls_client(&host, port, &ca)
        .get_multiplexed_async_connection()
        .await
        .expect("tls connect");
    let e = redis::cmd("GET")
        .arg("key:1")
        .query_async::<Option<String>>(&mut anonymous)
        .await
        .expect_err("no token");
    assert!(e.to_string().contains("NOAUTH"), "{e}");

    // A failover over the TLS bus: the node group's replica takes over, every key still served.
    c.test_failover()
        .replication_group_id("secure")
        .node_group_id("0001")
        .send()
        .await
        .expect("test failover");
    let before = g.node_groups()[0].node_group_members()[0]
        .cache_cluster_id()
        .map(str::to_string);
    let messages = loop {
        let m = event_messages(&c, "secure").await;
        if m.iter()
            .any(|x| x.starts_with("Failover from primary node"))
        {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        messages
            .iter()
            .any(|m| m.contains(before.as_deref().unwrap_or("?"))),
        "{messages:?}"
    );
    wait_available(&c, "secure", Duration::from_secs(60)).await;
    let cc = tls_cluster_conn(&g, &ca, token).await;
    assert_all(&cc, &keys).await;

    // ROTATE: the old and the new token both open every node group, through cluster clients of each.
    let rotated = "another-token-of-sixteen-chars";
    c.modify_replication_group()
        .replication_group_id("secure")
        .auth_token(rotated)
        .auth_token_update_strategy(aws_sdk_elasticache::types::AuthTokenUpdateStrategyType::Rotate)
        .apply_immediately(true)
        .send()
        .await
        .expect("rotate");
    wait_available(&c, "secure", Duration::from_secs(60)).await;
    for t in [token, rotated] {
        let cc = tls_cluster_conn(&g, &ca, t).await;
        assert_all(&cc, &keys).await;
    }

    // TLS and the token carry over to a group restored from its snapshot into three node groups.
    c.create_snapshot()
        .replication_group_id("secure")
        .snapshot_name("secure-snap")
        .send()
        .await
        .expect("snapshot");
    loop {
        let s = c
            .describe_snapshots()
            .snapshot_name("secure-snap")
            .send()
            .await
            .expect("d");
        if s.snapshots()[0].snapshot_status() == Some("available") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.create_replication_group()
        .replication_group_id("secure3")
        .replication_group_description("restored with tls")
        .num_node_groups(3)
        .replicas_per_node_group(0)
        .transit_encryption_enabled(true)
        .auth_token(token)
        .snapshot_name("secure-snap")
        .send()
        .await
        .expect("restore");
    let g3 = wait_available(&c, "secure3", Duration::from_secs(60)).await;
    let cc3 = tls_cluster_conn(&g3, &ca, token).await;
    assert_all(&cc3, &keys).await;

    // Turning TLS on or off on a live cluster mode enabled group is refused by name (not built yet).
    assert_eq!(
        result_code(
            c.modify_replication_group()
                .replication_group_id("secure")
                .transit_encryption_mode("preferred".into())
                .apply_immediately(true)
                .send()
                .await
        ),
        "InvalidParameterCombination"
    );
}

/// A daemon killed again and again while `disabled` → `compatible` runs (`SIGKILL`, at a different point of the work
/// each time) resumes it to its end: every acknowledged write kept, every key there, the nodes in cluster mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_during_a_cluster_mode_change_resumes_it() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("kills")
        .replication_group_description("killed mid-change")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "kills", Duration::from_secs(60)).await;
    let primary = redis_url(
        g.node_groups()[0]
            .primary_endpoint()
            .expect("primary endpoint"),
    );
    dataset::fill(&primary, 20_000).await;
    let writer = Writer::start(primary.clone(), "counter");
    c.modify_replication_group()
        .replication_group_id("kills")
        .cluster_mode("compatible".into())
        .apply_immediately(true)
        .send()
        .await
        .expect("compatible");
    // Kills 100 ms, 200 ms, … after each start: in the first replica's restart, in the others', around the
    // handover (the whole change takes about 1.5 s here).
    for (i, after) in (1..=10u64).map(|k| k * 100).enumerate() {
        tokio::time::sleep(Duration::from_millis(after)).await;
        let status = describe_group(&d.client(), "kills").await;
        if status.status() == Some("available") {
            eprintln!("the change ended before kill {i}");
            break;
        }
        d.kill9();
        d.spawn();
    }
    let c = d.client();
    let g = wait_group(
        &c,
        "kills",
        Duration::from_secs(120),
        "the change resumed",
        |g| g.status() == Some("available"),
    )
    .await;
    writer.wait_for_more_acks(50).await;
    let log = writer.stop().await;
    assert_eq!(g.cluster_mode().map(|m| m.as_str()), Some("compatible"));
    assert_eq!(log.lost(), 0, "acknowledged writes lost");
    // (Multi-key commands across slots are refused now: every key is checked on its own.)
    let mut conn = redis_conn(&primary).await;
    let size: u64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .expect("dbsize");
    assert_eq!(size, 20_001, "every key and the counter");
    let mut cc = cluster_conn(&config_url(&g)).await;
    for i in (0..20_000).step_by(199).chain([19_999]) {
        let v: String = cc.get(format!("key:{i}")).await.expect("cluster read");
        assert_eq!(v, dataset::value_of(i), "key:{i}");
    }
    for (id, url) in &node_urls(&c, &g).await {
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut redis_conn(url).await)
            .await
            .expect("info");
        assert!(info.contains("cluster_enabled:1"), "{id}: {info}");
    }
}
