//! Cache parameter groups through the real SDK: the actions and their errors, Terraform's read pattern, and each
//! class of parameter proven by what a Redis client sees on the nodes.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_elasticache::types::{CacheCluster, ParameterNameValue};
use aws_sdk_elasticache::Client;
use common::*;
use redis::AsyncCommands;

async fn create_group(c: &Client, name: &str, family: &str) {
    c.create_cache_parameter_group()
        .cache_parameter_group_name(name)
        .cache_parameter_group_family(family)
        .description("test parameters")
        .send()
        .await
        .expect("create parameter group");
}

async fn modify(c: &Client, name: &str, pairs: &[(&str, &str)]) {
    let mut req = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name(name);
    for (n, v) in pairs {
        req = req.parameter_name_values(pair(n, v));
    }
    req.send().await.expect("modify parameter group");
}

/// The `Source=user` page, as Terraform reads it: `(name, value)`.
async fn user_values(c: &Client, name: &str) -> Vec<(String, String)> {
    c.describe_cache_parameters()
        .cache_parameter_group_name(name)
        .source("user")
        .send()
        .await
        .expect("describe parameters")
        .parameters()
        .iter()
        .map(|p| {
            (
                p.parameter_name().unwrap_or_default().to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn member(c: &Client, id: &str) -> CacheCluster {
    c.describe_cache_clusters()
        .cache_cluster_id(id)
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe cache cluster")
        .cache_clusters()[0]
        .clone()
}

/// Waits until member `id` reports `status` as its `ParameterApplyStatus`.
async fn wait_apply_status(c: &Client, id: &str, status: &str) -> CacheCluster {
    eventually(
        &format!("{id}: parameter apply status {status}"),
        Duration::from_secs(20),
        || async {
            let m = member(c, id).await;
            let now = m
                .cache_parameter_group()
                .expect("parameter group")
                .parameter_apply_status()
                .map(str::to_string);
            if now.as_deref() == Some(status) {
                Ok(m)
            } else {
                Err(now)
            }
        },
    )
    .await
}

async fn info_value(url: &str, section: &str, field: &str) -> String {
    let mut c = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut c)
        .await
        .expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Waits until `INFO memory` of the node at `url` shows `maxmemory` `want`.
async fn wait_maxmemory(url: &str, want: u64) {
    eventually(
        &format!("{url}: maxmemory {want}"),
        Duration::from_secs(20),
        || async {
            let m = info_value(url, "memory", "maxmemory").await;
            (m == want.to_string()).then_some(()).ok_or(m)
        },
    )
    .await
}

/// Subscribes to key `key`'s keyspace channel on the node at `url`, then writes the key through `writer`; true
/// when the subscriber received the event within a second.
async fn keyspace_event_seen(url: &str, writer: &str, key: &str) -> bool {
    let url = url.to_string();
    let channel = format!("__keyspace@0__:{key}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let listener = tokio::task::spawn_blocking(move || {
        let client = redis::Client::open(url).expect("url");
        let mut con = client.get_connection().expect("connect");
        let mut sub = con.as_pubsub();
        sub.subscribe(&channel).expect("subscribe");
        sub.set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        ready_tx.send(()).expect("ready");
        match sub.get_message() {
            Ok(m) => m.get_payload::<String>().ok(),
            Err(_) => None,
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("subscribed");
    let mut w = redis_conn(writer).await;
    let _: () = w.set(key, "v").await.expect("set");
    listener.await.expect("listener").as_deref() == Some("set")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_group_actions_and_terraforms_read_pattern() {
    let d = Daemon::start();
    let c = d.client();
    // The default groups of the engine here, read-only.
    let groups = c
        .describe_cache_parameter_groups()
        .send()
        .await
        .expect("describe groups");
    let names: Vec<&str> = groups
        .cache_parameter_groups()
        .iter()
        .filter_map(|g| g.cache_parameter_group_name())
        .collect();
    assert!(
        names.contains(&"default.redis7") && names.contains(&"default.redis7.cluster.on"),
        "{names:?}"
    );
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("default.redis7")
        .parameter_name_values(pair("timeout", "300"))
        .send()
        .await
        .expect_err("default groups are read-only");
    assert_eq!(code(e), "InvalidParameterValue");
    let e = c
        .delete_cache_parameter_group()
        .cache_parameter_group_name("default.redis7")
        .send()
        .await
        .expect_err("default groups stay");
    assert_eq!(code(e), "InvalidCacheParameterGroupState");

    // Create, with tags on its ARN; the name is stored lower-cased.
    let out = c
        .create_cache_parameter_group()
        .cache_parameter_group_name("TF-Params")
        .cache_parameter_group_family("redis7")
        .description("terraform's")
        .tags(
            aws_sdk_elasticache::types::Tag::builder()
                .key("team")
                .value("cache")
                .build(),
        )
        .send()
        .await
        .expect("create");
    let g = out.cache_parameter_group().expect("group");
    assert_eq!(g.cache_parameter_group_name(), Some("tf-params"));
    assert_eq!(g.cache_parameter_group_family(), Some("redis7"));
    assert_eq!(g.is_global(), Some(false));
    let arn = g.arn().expect("arn").to_string();
    assert!(arn.ends_with(":parametergroup:tf-params"), "{arn}");
    let tags = list_tags(&c, &arn).await;
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0].key(), Some("team"));
    for (family, want) in [
        ("redis7", "CacheParameterGroupAlreadyExists"),
        ("redis9.9", "InvalidParameterValue"),
    ] {
        let e = c
            .create_cache_parameter_group()
            .cache_parameter_group_name(if want.starts_with("Cache") {
                "tf-params"
            } else {
                "other"
            })
            .cache_parameter_group_family(family)
            .description("x")
            .send()
            .await
            .expect_err("refused");
        assert_eq!(code(e), want, "{family}");
    }

    // A new group is a copy of the defaults: nothing is the user's yet.
    assert!(user_values(&c, "tf-params").await.is_empty());
    // Terraform's read pattern: Modify, then one page of Source=user holds exactly what it set.
    modify(
        &c,
        "tf-params",
        &[
            ("maxmemory-policy", "allkeys-lru"),
            ("timeout", "300"),
            ("notify-keyspace-events", "KEA"),
        ],
    )
    .await;
    let mut got = user_values(&c, "tf-params").await;
    got.sort();
    assert_eq!(
        got,
        vec![
            ("maxmemory-policy".to_string(), "allkeys-lru".to_string()),
            ("notify-keyspace-events".to_string(), "KEA".to_string()),
            ("timeout".to_string(), "300".to_string()),
        ]
    );
    // Every parameter, page by page (the smallest page is 20), matches the family's defaults except those three.
    let defaults = {
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = c
                .describe_engine_default_parameters()
                .cache_parameter_group_family("redis7")
                .max_records(20)
                .set_marker(marker.clone())
                .send()
                .await
                .expect("engine defaults");
            let ed = out.engine_defaults().expect("engine defaults");
            assert_eq!(ed.cache_parameter_group_family(), Some("redis7"));
            all.extend(ed.parameters().iter().cloned());
            marker = ed.marker().map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        all
    };
    assert!(defaults.len() > 40, "{}", defaults.len());
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .describe_cache_parameters()
            .cache_parameter_group_name("tf-params")
            .max_records(20)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("describe parameters");
        if pages == 0 {
            let specific = out.cache_node_type_specific_parameters();
            assert_eq!(specific[0].parameter_name(), Some("maxmemory"));
            assert!(specific[0]
                .cache_node_type_specific_values()
                .iter()
                .any(|v| v.cache_node_type() == Some("cache.t3.micro")
                    && v.value() == Some("536870912")));
        }
        pages += 1;
        all.extend(out.parameters().iter().cloned());
        marker = out.marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert!(pages >= 3);
    assert_eq!(all.len(), defaults.len());
    for (p, d) in all.iter().zip(&defaults) {
        assert_eq!(p.parameter_name(), d.parameter_name());
        let changed = ["maxmemory-policy", "timeout", "notify-keyspace-events"]
            .contains(&p.parameter_name().unwrap_or_default());
        assert_eq!(p.source(), Some(if changed { "user" } else { "system" }));
        if !changed {
            assert_eq!(
                p.parameter_value(),
                d.parameter_value(),
                "{:?}",
                p.parameter_name()
            );
        }
    }
    let nke = defaults
        .iter()
        .find(|p| p.parameter_name() == Some("notify-keyspace-events"))
        .expect("notify-keyspace-events");
    assert_eq!(nke.parameter_value(), None, "AWS sends no value for it");
    let timeout = defaults
        .iter()
        .find(|p| p.parameter_name() == Some("timeout"))
        .expect("timeout");
    assert_eq!(timeout.allowed_values(), Some("0,20-"));
    assert_eq!(timeout.data_type(), Some("integer"));
    assert_eq!(timeout.change_type().map(|t| t.as_str()), Some("immediate"));

    // Refusals, each changing nothing.
    let too_many: Vec<ParameterNameValue> = (0..21).map(|_| pair("timeout", "300")).collect();
    let cases = [
        (too_many, "InvalidParameterValue"),
        (
            vec![pair("no-such-parameter", "1")],
            "InvalidParameterValue",
        ),
        (vec![pair("maxclients", "10")], "InvalidParameterValue"),
        (vec![pair("timeout", "5")], "InvalidParameterValue"),
        (
            vec![pair("maxmemory-policy", "sometimes")],
            "InvalidParameterValue",
        ),
        (vec![pair("databases", "many")], "InvalidParameterValue"),
        // Free-form, but the engine builds accept only their own flag characters.
        (
            vec![pair("notify-keyspace-events", "XYZ")],
            "InvalidParameterValue",
        ),
    ];
    for (list, want) in cases {
        let e = c
            .modify_cache_parameter_group()
            .cache_parameter_group_name("tf-params")
            .set_parameter_name_values(Some(list.clone()))
            .send()
            .await
            .expect_err("refused");
        assert_eq!(code(e), want, "{list:?}");
    }
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("nope")
        .parameter_name_values(pair("timeout", "300"))
        .send()
        .await
        .expect_err("no such group");
    assert_eq!(code(e), "CacheParameterGroupNotFound");
    assert_eq!(
        user_values(&c, "tf-params").await.len(),
        3,
        "nothing changed"
    );
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("tf-params")
        .parameter_name_values(pair("notify-keyspace-events", "KEX"))
        .send()
        .await
        .expect_err("X is no keyspace event flag")
        .into_service_error();
    let m = e.meta().message().unwrap_or_default().to_string();
    assert!(
        m.contains("notify-keyspace-events") && m.contains("'X'"),
        "the refusal names the parameter and the character: {m}"
    );
    assert!(
        user_values(&c, "tf-params")
            .await
            .contains(&("notify-keyspace-events".to_string(), "KEA".to_string())),
        "the value before stays"
    );

    // Reset: by name, then everything.
    c.reset_cache_parameter_group()
        .cache_parameter_group_name("tf-params")
        .parameter_name_values(pair("timeout", ""))
        .send()
        .await
        .expect("reset one");
    assert_eq!(user_values(&c, "tf-params").await.len(), 2);
    let e = c
        .reset_cache_parameter_group()
        .cache_parameter_group_name("tf-params")
        .reset_all_parameters(true)
        .parameter_name_values(pair("timeout", ""))
        .send()
        .await
        .expect_err("both");
    assert_eq!(code(e), "InvalidParameterCombination");
    c.reset_cache_parameter_group()
        .cache_parameter_group_name("tf-params")
        .reset_all_parameters(true)
        .send()
        .await
        .expect("reset all");
    assert!(user_values(&c, "tf-params").await.is_empty());

    // Delete: gone, with its tags.
    c.delete_cache_parameter_group()
        .cache_parameter_group_name("tf-params")
        .send()
        .await
        .expect("delete");
    let e = c
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("tf-params")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(e), "CacheParameterGroupNotFound");
    // And after a daemon restart, a created group is still there with its values.
    create_group(&c, "kept", "redis7").await;
    modify(&c, "kept", &[("timeout", "120")]).await;
    let mut d = d;
    d.kill9();
    d.spawn();
    let c = d.client();
    assert_eq!(
        user_values(&c, "kept").await,
        vec![("timeout".to_string(), "120".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_class_of_parameter_takes_effect_on_the_nodes() {
    let d = Daemon::start();
    let c = d.client();
    create_group(&c, "live", "redis7").await;
    // A group of another family, and one with cluster-enabled yes, are refused for this group.
    create_group(&c, "clustered", "redis7").await;
    modify(&c, "clustered", &[("cluster-enabled", "yes")]).await;
    let e = c
        .create_replication_group()
        .replication_group_id("pe-bad")
        .replication_group_description("x")
        .num_cache_clusters(2)
        .cluster_mode(aws_sdk_elasticache::types::ClusterMode::Disabled)
        .cache_parameter_group_name("clustered")
        .send()
        .await
        .expect_err("cluster-enabled yes with cluster mode disabled");
    assert_eq!(code(e), "InvalidParameterCombination");

    c.create_replication_group()
        .replication_group_id("pe")
        .replication_group_description("parameters")
        .num_cache_clusters(2)
        .cache_node_type("cache.t3.micro")
        .cache_parameter_group_name("live")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "pe", Duration::from_secs(30)).await;
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("primary"));
    let nodes: Vec<String> = members_of(&g).into_iter().map(|(_, _, u)| u).collect();
    let m = member(&c, "pe-001").await;
    assert_eq!(
        m.cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name()),
        Some("live")
    );
    // The family default reserved-memory-percent (25) keeps a quarter of the node type's memory out of maxmemory.
    for n in &nodes {
        wait_maxmemory(n, 536_870_912 / 4 * 3).await;
    }

    // Immediate: notify-keyspace-events — a subscriber receives keyspace events once the group changes.
    assert!(
        !keyspace_event_seen(&primary, &primary, "k1").await,
        "no events by default"
    );
    modify(&c, "live", &[("notify-keyspace-events", "KA")]).await;
    wait_apply_status(&c, "pe-001", "in-sync").await;
    wait_apply_status(&c, "pe-002", "in-sync").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !keyspace_event_seen(&primary, &primary, "k2").await {
        assert!(
            Instant::now() < deadline,
            "no keyspace event after the change"
        );
    }
    assert!(event_messages(&c, "pe-001")
        .await
        .iter()
        .any(|m| m.contains("Cache parameter group live modified")));

    // Translated: reserved-memory-percent lowers maxmemory; then maxmemory-policy decides what a full node does.
    modify(&c, "live", &[("reserved-memory-percent", "99")]).await;
    let small = 536_870_912 / 100;
    for n in &nodes {
        wait_maxmemory(n, small).await;
    }
    let mut p = redis_conn(&primary).await;
    let value = vec![b'x'; 64 * 1024];
    let mut refused = false;
    for i in 0..200 {
        let r: redis::RedisResult<()> = p.set(format!("fill:{i}"), &value).await;
        if let Err(e) = r {
            assert!(e.to_string().contains("OOM"), "{e}");
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "volatile-lru with no expiring keys refuses writes past maxmemory"
    );
    modify(&c, "live", &[("maxmemory-policy", "allkeys-lru")]).await;
    wait_apply_status(&c, "pe-001", "in-sync").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r: redis::RedisResult<()> = p.set("probe", &value).await;
        if r.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "allkeys-lru not in effect: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..200 {
        let _: () = p
            .set(format!("more:{i}"), &value)
            .await
            .expect("allkeys-lru evicts instead of refusing");
    }
    let evicted: u64 = info_value(&primary, "stats", "evicted_keys")
        .await
        .parse()
        .expect("evicted_keys");
    assert!(evicted > 100, "evicted {evicted}");
    modify(&c, "live", &[("reserved-memory-percent", "25")]).await;

    // Immediate: timeout — an idle client is closed by the node.
    modify(&c, "live", &[("timeout", "20")]).await;
    wait_apply_status(&c, "pe-001", "in-sync").await;
    let mut idle = redis_conn(&primary).await;
    let _: String = redis::cmd("PING")
        .query_async(&mut idle)
        .await
        .expect("ping");
    // A sleep: what is checked is the node's idle timeout itself (20 s, and a margin).
    tokio::time::sleep(Duration::from_secs(23)).await;
    let r: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut idle).await;
    assert!(r.is_err(), "an idle client is closed after 20 s: {r:?}");

    // Requires reboot: databases — pending-reboot on every member until its node restarts.
    let mut one = redis_conn(&nodes[0]).await;
    let r: redis::RedisResult<String> = redis::cmd("SELECT").arg(20).query_async(&mut one).await;
    assert!(r.is_err(), "16 databases by default");
    modify(&c, "live", &[("databases", "32")]).await;
    for id in ["pe-001", "pe-002"] {
        let m = wait_apply_status(&c, id, "pending-reboot").await;
        let pg = m.cache_parameter_group().expect("pg");
        assert_eq!(pg.cache_node_ids_to_reboot(), ["0001"]);
        assert_eq!(
            m.cache_nodes()[0].parameter_group_status(),
            Some("pending-reboot")
        );
    }
    c.reboot_cache_cluster()
        .cache_cluster_id("pe-002")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    // Rebooted: the member is available again, its node answers, and it runs 32 databases.
    eventually("pe-002 back", Duration::from_secs(30), || async {
        let m = member(&c, "pe-002").await;
        let synced = m
            .cache_parameter_group()
            .and_then(|p| p.parameter_apply_status())
            == Some("in-sync");
        if synced && m.cache_cluster_status() == Some("available") {
            Ok(())
        } else {
            Err(m)
        }
    })
    .await;
    let replica = redis_url(
        member(&c, "pe-002").await.cache_nodes()[0]
            .endpoint()
            .expect("endpoint"),
    );
    let ok = eventually(
        "32 databases after the reboot",
        Duration::from_secs(10),
        || async {
            let mut two = redis::Client::open(replica.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            redis::cmd("SELECT")
                .arg(20)
                .query_async::<String>(&mut two)
                .await
        },
    )
    .await;
    assert_eq!(ok, "OK");
    assert_eq!(
        member(&c, "pe-001")
            .await
            .cache_parameter_group()
            .and_then(|p| p.parameter_apply_status()),
        Some("pending-reboot"),
        "the member not rebooted still waits"
    );

    // In use: not deleted, cluster-enabled not changed.
    let e = c
        .delete_cache_parameter_group()
        .cache_parameter_group_name("live")
        .send()
        .await
        .expect_err("in use");
    assert_eq!(code(e), "InvalidCacheParameterGroupState");
    let e = c
        .modify_cache_parameter_group()
        .cache_parameter_group_name("live")
        .parameter_name_values(pair("cluster-enabled", "yes"))
        .send()
        .await
        .expect_err("in use");
    assert_eq!(code(e), "InvalidParameterValue");

    // The seed's CacheParameterGroupName: a group with another cluster-enabled is refused; the default group
    // applies the difference (no events any more).
    let e = c
        .modify_replication_group()
        .replication_group_id("pe")
        .cache_parameter_group_name("clustered")
        .apply_immediately(true)
        .send()
        .await
        .expect_err("cluster-enabled differs");
    assert_eq!(code(e), "InvalidParameterCombination");
    c.modify_replication_group()
        .replication_group_id("pe")
        .cache_parameter_group_name("default.redis7")
        .apply_immediately(true)
        .send()
        .await
        .expect("switch to the default group");
    // pe-001 runs 16 databases, the default group's number: in sync again; pe-002, rebooted with 32, now waits.
    wait_apply_status(&c, "pe-001", "in-sync").await;
    wait_apply_status(&c, "pe-002", "pending-reboot").await;
    assert!(
        !keyspace_event_seen(&primary, &primary, "k3").await,
        "events off with the default group"
    );
    c.delete_cache_parameter_group()
        .cache_parameter_group_name("live")
        .send()
        .await
        .expect("no longer in use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_mode_enabled_group_runs_its_parameter_group_on_every_shard() {
    let d = Daemon::start();
    let c = d.client();
    create_group(&c, "sharded", "redis7").await;
    // Cluster mode enabled needs cluster-enabled yes.
    let e = c
        .create_replication_group()
        .replication_group_id("cme-bad")
        .replication_group_description("x")
        .num_node_groups(2)
        .cache_parameter_group_name("sharded")
        .send()
        .await
        .expect_err("cluster-enabled no");
    assert_eq!(code(e), "InvalidParameterCombination");
    modify(
        &c,
        "sharded",
        &[
            ("cluster-enabled", "yes"),
            ("reserved-memory-percent", "50"),
        ],
    )
    .await;
    c.create_replication_group()
        .replication_group_id("cme")
        .replication_group_description("parameters")
        .num_node_groups(2)
        .replicas_per_node_group(1)
        .cache_node_type("cache.t3.micro")
        .cache_parameter_group_name("sharded")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "cme", Duration::from_secs(60)).await;
    assert_eq!(g.cluster_enabled(), Some(true));
    let urls = common::cluster::node_urls(&c, &g).await;
    assert_eq!(urls.len(), 4);
    for url in urls.values() {
        wait_maxmemory(url, 536_870_912 / 2).await;
    }
    modify(&c, "sharded", &[("notify-keyspace-events", "KA")]).await;
    for id in urls.keys() {
        wait_apply_status(&c, id, "in-sync").await;
    }
    // Every shard's primary now publishes keyspace events for the keys it owns.
    for ng in g.node_groups() {
        let slots = common::cluster::slot_ranges(ng.slots().expect("slots"));
        let key = common::cluster::key_in(&slots, "ev");
        let primary = ng
            .node_group_members()
            .iter()
            .find(|m| {
                let url = &urls[m.cache_cluster_id().unwrap_or_default()];
                role_of(url) == "master"
            })
            .map(|m| urls[m.cache_cluster_id().unwrap_or_default()].clone())
            .expect("a primary");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !keyspace_event_seen(&primary, &primary, &key).await {
            assert!(Instant::now() < deadline, "no event from {primary}");
        }
    }
}

/// The role a node reports (`master` or `slave`), read with a blocking client.
fn role_of(url: &str) -> String {
    let client = redis::Client::open(url).expect("url");
    let mut con = client.get_connection().expect("connect");
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut con).expect("role");
    match role.first() {
        Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).to_string(),
        other => format!("{other:?}"),
    }
}
