//! The Prometheus metrics listener, scraped as Prometheus would: after a group is created, after a write load,
//! after a failover; and the API's and the reconciler's own series.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use redis::AsyncCommands;

/// The samples of `name` whose labels include every one of `labels`.
fn select<'a>(
    samples: &'a HashMap<String, f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<(&'a String, f64)> {
    samples
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(s, v)| (s, *v))
        .collect()
}

fn one(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = select(samples, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].1
}

/// The member cluster the metrics call primary.
fn primary_of(samples: &HashMap<String, f64>) -> String {
    let primaries: Vec<&String> = select(
        samples,
        "cacheplane_node_primary",
        &[("replication_group", "mx")],
    )
    .into_iter()
    .filter(|(_, v)| *v == 1.0)
    .map(|(s, _)| s)
    .collect();
    assert_eq!(primaries.len(), 1, "one primary: {primaries:?}");
    let s = primaries[0];
    let at = s.find("cache_cluster=\"").expect("label") + "cache_cluster=\"".len();
    s[at..].split('"').next().expect("value").to_string()
}

#[tokio::test]
async fn metrics_follow_creation_load_and_failover() {
    let d = Daemon::start_with_args("info", &["--metrics-interval", "1"]);
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("mx")
        .replication_group_description("metrics")
        .num_cache_clusters(3)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "mx", Duration::from_secs(60)).await;
    // A refused request, counted by its error code.
    let _ = c
        .describe_replication_groups()
        .replication_group_id("nope")
        .send()
        .await
        .expect_err("not found");

    // The console's collector reads the nodes once a second too: a scrape within a second of its last collection
    // is answered from it, which may be from before the nodes answered.
    let deadline = Instant::now() + Duration::from_secs(10);
    let s = loop {
        let (s, _) = metrics_samples(&d).await;
        let up = select(&s, "cacheplane_node_up", &[("replication_group", "mx")]);
        if up.len() == 3 && up.iter().all(|(_, v)| *v == 1.0) || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        one(
            &s,
            "cacheplane_replication_group_status",
            &[("replication_group", "mx"), ("status", "available")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &s,
            "cacheplane_replication_group_nodes",
            &[("replication_group", "mx")]
        ),
        3.0
    );
    assert_eq!(
        one(
            &s,
            "cacheplane_replication_group_shards",
            &[("replication_group", "mx")]
        ),
        1.0
    );
    let up = select(&s, "cacheplane_node_up", &[("replication_group", "mx")]);
    assert_eq!(up.len(), 3, "{up:?}");
    assert!(up.iter().all(|(_, v)| *v == 1.0), "{up:?}");
    let first = primary_of(&s);
    assert_eq!(first, "mx-001");
    assert_eq!(
        one(
            &s,
            "cacheplane_node_memory_max_bytes",
            &[("cache_cluster", "mx-001")]
        ),
        402_653_184.0,
        "a cache.t3.micro's maxmemory"
    );
    assert_eq!(
        one(
            &s,
            "cacheplane_api_requests_total",
            &[("action", "CreateReplicationGroup"), ("code", "OK")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &s,
            "cacheplane_api_requests_total",
            &[
                ("action", "DescribeReplicationGroups"),
                ("code", "ReplicationGroupNotFoundFault")
            ]
        ),
        1.0
    );
    assert!(
        one(
            &s,
            "cacheplane_api_request_duration_seconds_count",
            &[("action", "CreateReplicationGroup")]
        ) >= 1.0
    );
    assert!(
        one(
            &s,
            "cacheplane_reconciler_steps_total",
            &[("kind", "replication_group")]
        ) >= 1.0
    );
    let commands_before = one(
        &s,
        "cacheplane_node_commands_processed_total",
        &[("cache_cluster", "mx-001")],
    );
    let offset_before = one(
        &s,
        "cacheplane_node_replication_offset_bytes",
        &[("cache_cluster", "mx-001")],
    );

    // A write load through the primary endpoint, and reads that hit and miss.
    let mut conn = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("primary"),
    ))
    .await;
    for i in 0..1000 {
        let _: () = conn
            .set(format!("k{i}"), "v".repeat(100))
            .await
            .expect("set");
    }
    for i in 0..10 {
        let _: Option<String> = conn.get(format!("k{i}")).await.expect("get");
        let _: Option<String> = conn.get(format!("missing{i}")).await.expect("get");
    }
    // The next collection (at most one a second here) shows it; replicas catch up.
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, _) = metrics_samples(&d).await;
        let caught_up = select(
            &s,
            "cacheplane_node_replication_lag_bytes",
            &[("replication_group", "mx")],
        )
        .iter()
        .all(|(_, v)| *v == 0.0);
        if one(
            &s,
            "cacheplane_node_keyspace_misses_total",
            &[("cache_cluster", "mx-001")],
        ) >= 10.0
            && caught_up
        {
            break s;
        }
        assert!(Instant::now() < deadline, "the load never showed: {s:?}");
    };
    assert!(
        one(
            &s,
            "cacheplane_node_commands_processed_total",
            &[("cache_cluster", "mx-001")]
        ) >= commands_before + 1020.0
    );
    assert!(
        one(
            &s,
            "cacheplane_node_keyspace_hits_total",
            &[("cache_cluster", "mx-001")]
        ) >= 10.0
    );
    let offset = one(
        &s,
        "cacheplane_node_replication_offset_bytes",
        &[("cache_cluster", "mx-001")],
    );
    assert!(
        offset >= offset_before + 100_000.0,
        "{offset_before} → {offset}"
    );
    for replica in ["mx-002", "mx-003"] {
        assert_eq!(
            one(
                &s,
                "cacheplane_node_replication_offset_bytes",
                &[("cache_cluster", replica)]
            ),
            offset,
            "{replica} has what the primary wrote"
        );
    }
    assert!(
        one(
            &s,
            "cacheplane_node_memory_used_bytes",
            &[("cache_cluster", "mx-001")]
        ) > 100_000.0
    );

    // A failover: another node is primary, counted with its gap.
    c.test_failover()
        .replication_group_id("mx")
        .node_group_id("0001")
        .send()
        .await
        .expect("test failover");
    wait_available(&c, "mx", Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, _) = metrics_samples(&d).await;
        let ups = select(&s, "cacheplane_node_up", &[("replication_group", "mx")]);
        if ups.len() == 3 && ups.iter().all(|(_, v)| *v == 1.0) && primary_of(&s) != first {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no new primary in the metrics: {s:?}"
        );
    };
    assert_eq!(
        one(
            &s,
            "cacheplane_replication_group_failovers_total",
            &[("replication_group", "mx"), ("kind", "test")]
        ),
        1.0
    );
    assert_eq!(
        one(
            &s,
            "cacheplane_replication_group_failover_gap_seconds_count",
            &[("replication_group", "mx")]
        ),
        1.0
    );
    let gap = one(
        &s,
        "cacheplane_replication_group_failover_gap_seconds_sum",
        &[("replication_group", "mx")],
    );
    assert!(gap > 0.0 && gap < 30.0, "{gap}");
    // The old primary is a replica now.
    assert_eq!(
        one(
            &s,
            "cacheplane_node_primary",
            &[("cache_cluster", first.as_str())]
        ),
        0.0
    );

    // A Memcached cluster's node, read with `stats`.
    c.create_cache_cluster()
        .cache_cluster_id("mxm")
        .engine("memcached")
        .num_cache_nodes(1)
        .cache_node_type("cache.t3.micro")
        .send()
        .await
        .expect("memcached");
    let deadline = Instant::now() + Duration::from_secs(20);
    let s = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, _) = metrics_samples(&d).await;
        if select(&s, "cacheplane_node_up", &[("cache_cluster", "mxm")])
            .first()
            .is_some_and(|(_, v)| *v == 1.0)
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no memcached node in the metrics"
        );
    };
    assert_eq!(
        one(
            &s,
            "cacheplane_node_memory_max_bytes",
            &[("cache_cluster", "mxm"), ("node", "0001")]
        ),
        ((512 - 100) << 20) as f64
    );
    assert!(select(&s, "cacheplane_node_primary", &[("cache_cluster", "mxm")]).is_empty());
    assert!(one(&s, "cacheplane_notification_backlog_events", &[]) >= 0.0);

    // Deleted: its series go.
    c.delete_replication_group()
        .replication_group_id("mx")
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "mx", Duration::from_secs(60)).await;
    let (s, _) = metrics_samples(&d).await;
    assert!(select(&s, "cacheplane_node_up", &[("replication_group", "mx")]).is_empty());
}

/// `--log-format json`: every line the daemon logs is one JSON object with its time, level, target and message.
#[test]
fn json_logs_are_one_object_a_line() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--metrics-listen",
            "off",
            "--listen",
        ])
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path())
        .env("CACHEPLANE_ACCESS_KEY_ID", "AKIDJSON")
        .env("CACHEPLANE_SECRET_ACCESS_KEY", "json-secret")
        .env("CACHEPLANE_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = out.next().expect("a line").expect("readable");
    assert!(first.contains("API listening"), "{first}");
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the daemon logged nothing");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"engine binary\"") && l.contains("\"version\"")),
        "the engine binaries are logged with their fields: {err}"
    );
}

/// `cacheplane status --output json`, once and with `--watch`: a document a refresh, the group's nodes with their
/// roles, and a creation shown as an operation with its progress while the group is `creating`.
#[tokio::test]
async fn status_json_and_watch() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("st")
        .replication_group_description("status")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let status = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cacheplane"))
            .args(["status", "--output", "json", "--data-dir"])
            .arg(d.data_dir())
            .args(args)
            .output()
            .expect("cacheplane status");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let watched = status(&["--watch", "1", "--count", "2"]);
    let docs: Vec<serde_json::Value> = watched
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document a line"))
        .collect();
    assert_eq!(docs.len(), 2, "{watched}");
    for doc in &docs {
        let g = &doc["replication_groups"][0];
        assert_eq!(g["id"], "st");
        if g["status"] == "creating" {
            let create = g["operations"]
                .as_array()
                .expect("operations")
                .iter()
                .find(|o| o["kind"] == "create")
                .unwrap_or_else(|| panic!("a creating group shows its creation: {g}"));
            let pct = create["percent"].as_f64().expect("percent");
            assert!((0.0..=100.0).contains(&pct), "{create}");
        }
    }
    wait_available(&c, "st", Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let doc: serde_json::Value = serde_json::from_str(&status(&[])).expect("json");
        let nodes = doc["replication_groups"][0]["shards"][0]["nodes"]
            .as_array()
            .expect("nodes")
            .clone();
        let roles: Vec<(String, String)> = nodes
            .iter()
            .map(|n| {
                (
                    n["cache_cluster_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    n["role"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let synced = nodes.iter().any(|n| n["behind_bytes"] == 0);
        if roles
            == [
                ("st-001".to_string(), "primary".to_string()),
                ("st-002".to_string(), "replica".to_string()),
            ]
            && synced
        {
            assert!(doc["replication_groups"][0]["operations"]
                .as_array()
                .is_some_and(Vec::is_empty));
            break;
        }
        assert!(Instant::now() < deadline, "{doc}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
