//! `LogDeliveryConfigurations` through the real SDK, with the records read back through the daemon's CloudWatch Logs
//! API (signed JSON requests, as the AWS CLI and boto3 send them) and from the Firehose sink file.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{
    CloudWatchLogsDestinationDetails, DestinationDetails, DestinationType,
    KinesisFirehoseDestinationDetails, LogDeliveryConfigurationRequest, LogFormat, LogType,
    ParameterNameValue,
};
use aws_sdk_elasticache::Client;
use common::*;

/// The messages of a stream, oldest first (empty while the stream does not exist).
async fn messages(endpoint: &str, group: &str, stream: &str) -> Vec<String> {
    let (status, body) = logs_call(
        endpoint,
        "GetLogEvents",
        serde_json::json!({"logGroupName": group, "logStreamName": stream, "startFromHead": true}),
    )
    .await;
    if status != 200 {
        return vec![];
    }
    body["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until a message of the stream satisfies `pred`; returns it and how long it took.
async fn wait_message(
    endpoint: &str,
    group: &str,
    stream: &str,
    pred: impl Fn(&str) -> bool,
) -> (String, Duration) {
    let t = Instant::now();
    loop {
        if let Some(m) = messages(endpoint, group, stream)
            .await
            .into_iter()
            .find(|m| pred(m))
        {
            return (m, t.elapsed());
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no matching record in {group} {stream}: {:?}",
            messages(endpoint, group, stream).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn cloudwatch(
    log_type: LogType,
    group: &str,
    format: LogFormat,
) -> LogDeliveryConfigurationRequest {
    LogDeliveryConfigurationRequest::builder()
        .log_type(log_type)
        .destination_type(DestinationType::CloudWatchLogs)
        .destination_details(
            DestinationDetails::builder()
                .cloud_watch_logs_details(
                    CloudWatchLogsDestinationDetails::builder()
                        .log_group(group)
                        .build(),
                )
                .build(),
        )
        .log_format(format)
        .enabled(true)
        .build()
}

/// Waits until every configuration of the group is `active` and `count` of them exist.
async fn wait_active(c: &Client, id: &str, count: usize) {
    wait_group(c, id, Duration::from_secs(20), "log delivery active", |g| {
        g.log_delivery_configurations().len() == count
            && g.log_delivery_configurations()
                .iter()
                .all(|l| l.status().map(|s| s.as_str()) == Some("active"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_engine_logs_reach_cloudwatch_logs_and_firehose() {
    let mut d = Daemon::start();
    let c = d.client();
    let endpoint = d.endpoint();
    c.create_cache_parameter_group()
        .cache_parameter_group_name("every-command")
        .cache_parameter_group_family("redis7")
        .description("slow log of every command")
        .send()
        .await
        .expect("parameter group");
    c.modify_cache_parameter_group()
        .cache_parameter_group_name("every-command")
        .parameter_name_values(
            ParameterNameValue::builder()
                .parameter_name("slowlog-log-slower-than")
                .parameter_value("0")
                .build(),
        )
        .send()
        .await
        .expect("modify");
    // AWS's refusals on create.
    let e = c
        .create_replication_group()
        .replication_group_id("ld-bad")
        .replication_group_description("x")
        .log_delivery_configurations(cloudwatch(LogType::SlowLog, "/a", LogFormat::Json))
        .log_delivery_configurations(cloudwatch(LogType::SlowLog, "/b", LogFormat::Json))
        .send()
        .await
        .expect_err("one configuration per log type");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));

    let out = c
        .create_replication_group()
        .replication_group_id("ld")
        .replication_group_description("log delivery")
        .num_cache_clusters(2)
        .cache_parameter_group_name("every-command")
        .log_delivery_configurations(cloudwatch(LogType::SlowLog, "/cp/slow", LogFormat::Json))
        .log_delivery_configurations(cloudwatch(
            LogType::EngineLog,
            "/cp/engine",
            LogFormat::Text,
        ))
        .send()
        .await
        .expect("create");
    let rg = out.replication_group().expect("group");
    assert!(rg
        .log_delivery_configurations()
        .iter()
        .all(|l| l.status().map(|s| s.as_str()) == Some("enabling")));
    assert_eq!(
        rg.pending_modified_values()
            .map(|p| p.log_delivery_configurations().len()),
        Some(2)
    );
    let g = wait_available(&c, "ld", Duration::from_secs(30)).await;
    wait_active(&c, "ld", 2).await;
    let primary = redis_url(g.node_groups()[0].primary_endpoint().expect("primary"));

    // A command through the primary endpoint is in the slow log stream, in AWS's JSON, within a second or so.
    let mut p = redis_conn(&primary).await;
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query_async(&mut p)
        .await
        .expect("setname");
    let _: () = redis::cmd("SET")
        .arg("first-key")
        .arg("v")
        .query_async(&mut p)
        .await
        .expect("set");
    let slow_stream = "elasticache/redis/ld-001/0001/slow-log";
    let (record, took) = wait_message(&endpoint, "/cp/slow", slow_stream, |m| {
        m.contains("\"ClientName\":\"tester\"") && m.contains("SET")
    })
    .await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    let j: serde_json::Value = serde_json::from_str(&record).expect("json record");
    let mut keys: Vec<&str> = j
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "CacheClusterId",
            "CacheNodeId",
            "ClientAddress",
            "ClientName",
            "Command",
            "Duration (us)",
            "Id",
            "Timestamp"
        ]
    );
    assert_eq!(j["CacheClusterId"], "ld-001");
    assert_eq!(j["CacheNodeId"], "0001");
    assert_eq!(
        j["Command"], "SET ... (2 more arguments)",
        "values never leave the node"
    );
    assert!(!record.contains("first-key"));
    // Counted in the metrics (once the delivery worker has had the store's answer: the record may be read a moment
    // before).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (samples, _) = metrics_samples(&d).await;
        let delivered = samples
            .iter()
            .find(|(k, _)| {
                k.starts_with("cacheplane_log_delivery_records_total{")
                    && k.contains("replication_group=\"ld\"")
                    && k.contains("log_type=\"slow-log\"")
            })
            .map(|(_, v)| *v);
        if delivered.is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{delivered:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The text format, after a change (ApplyImmediately is AWS's requirement).
    let e = c
        .modify_replication_group()
        .replication_group_id("ld")
        .log_delivery_configurations(cloudwatch(LogType::SlowLog, "/cp/slow", LogFormat::Text))
        .send()
        .await
        .expect_err("apply immediately");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let out = c
        .modify_replication_group()
        .replication_group_id("ld")
        .apply_immediately(true)
        .log_delivery_configurations(cloudwatch(LogType::SlowLog, "/cp/slow", LogFormat::Text))
        .send()
        .await
        .expect("modify");
    let slow = out
        .replication_group()
        .expect("group")
        .log_delivery_configurations()[0]
        .clone();
    assert_eq!(slow.status().map(|s| s.as_str()), Some("modifying"));
    wait_active(&c, "ld", 2).await;
    let _: Option<String> = redis::cmd("GET")
        .arg("first-key")
        .query_async(&mut p)
        .await
        .expect("get");
    let (line, _) = wait_message(&endpoint, "/cp/slow", slow_stream, |m| {
        m.contains("GET ... (1 more arguments)") && m.ends_with(",tester")
    })
    .await;
    let fields: Vec<&str> = line.split(',').collect();
    assert_eq!(
        fields.len(),
        7,
        "cluster, node, time, duration, command, address, name: {line}"
    );
    assert_eq!(&fields[..2], ["ld-001", "0001"]);

    // The engine log: a replica's restart shows in its stream, in AWS's text format.
    c.reboot_cache_cluster()
        .cache_cluster_id("ld-002")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    let (line, _) = wait_message(
        &endpoint,
        "/cp/engine",
        "elasticache/redis/ld-002/0001/engine-log",
        |m| m.contains("Ready to accept connections"),
    )
    .await;
    assert!(line.starts_with("ld-002/0001:"), "{line}");
    assert!(line.contains(" UTC * "), "{line}");

    // A daemon restart: delivery goes on where it was, without repeating what was delivered.
    wait_available(&c, "ld", Duration::from_secs(30)).await;
    d.kill9();
    d.spawn();
    let c = d.client();
    let mut p = redis_conn(&primary).await;
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("after-restart")
        .query_async(&mut p)
        .await
        .expect("setname");
    let (_, _) = wait_message(&endpoint, "/cp/slow", slow_stream, |m| {
        m.ends_with(",after-restart")
    })
    .await;
    let all = messages(&endpoint, "/cp/slow", slow_stream).await;
    let mut ids: Vec<(String, String)> = all
        .iter()
        .filter_map(|m| {
            let j: serde_json::Value = serde_json::from_str(m).ok()?;
            Some((j["Id"].to_string(), j["Timestamp"].to_string()))
        })
        .collect();
    let before = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), before, "a JSON record delivered twice");

    // Firehose: the engine log moves to a delivery stream, a local sink file.
    let firehose = LogDeliveryConfigurationRequest::builder()
        .log_type(LogType::EngineLog)
        .destination_type(DestinationType::KinesisFirehose)
        .destination_details(
            DestinationDetails::builder()
                .kinesis_firehose_details(
                    KinesisFirehoseDestinationDetails::builder()
                        .delivery_stream("engine-stream")
                        .build(),
                )
                .build(),
        )
        .log_format(LogFormat::Json)
        .build();
    c.modify_replication_group()
        .replication_group_id("ld")
        .apply_immediately(true)
        .log_delivery_configurations(firehose)
        .send()
        .await
        .expect("to firehose");
    wait_active(&c, "ld", 2).await;
    c.reboot_cache_cluster()
        .cache_cluster_id("ld-002")
        .cache_node_ids_to_reboot("0001")
        .send()
        .await
        .expect("reboot");
    let sink = d.data_dir().join("firehose").join("engine-stream.log");
    let record = eventually(
        &format!("a record in {}", sink.display()),
        Duration::from_secs(15),
        || async {
            let text = std::fs::read_to_string(&sink).unwrap_or_default();
            text.lines()
                .find(|l| l.contains("Ready to accept connections"))
                .map(str::to_string)
                .ok_or(text)
        },
    )
    .await;
    let j: serde_json::Value = serde_json::from_str(&record).expect("json");
    assert_eq!(j["CacheClusterId"], "ld-002");
    assert_eq!(j["LogLevel"], "NOTICE");
    assert!(
        j["Time"].as_str().is_some_and(|t| t.ends_with(" UTC")),
        "{j}"
    );

    // Disabled: the configuration goes, and nothing more is delivered.
    let off = LogDeliveryConfigurationRequest::builder()
        .log_type(LogType::SlowLog)
        .enabled(false)
        .build();
    c.modify_replication_group()
        .replication_group_id("ld")
        .apply_immediately(true)
        .log_delivery_configurations(off)
        .send()
        .await
        .expect("disable");
    wait_active(&c, "ld", 1).await;
    let count = messages(&endpoint, "/cp/slow", slow_stream).await.len();
    let _: () = redis::cmd("SET")
        .arg("late")
        .arg("v")
        .query_async(&mut p)
        .await
        .expect("set");
    // A sleep: what is checked is that nothing is delivered for a while once delivery is off.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        messages(&endpoint, "/cp/slow", slow_stream).await.len(),
        count,
        "delivery stopped"
    );
    // The Logs API lists what was delivered.
    let (status, body) = logs_call(
        &endpoint,
        "DescribeLogStreams",
        serde_json::json!({"logGroupName": "/cp/slow"}),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["logStreams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter_map(|s| s["logStreamName"].as_str())
        .collect();
    assert!(names.contains(&slow_stream), "{names:?}");
    let (status, body) = logs_call(
        &endpoint,
        "DescribeLogGroups",
        serde_json::json!({"logGroupName": "x"}),
    )
    .await;
    assert_eq!(status, 400, "an unknown member is refused");
    assert_eq!(body["__type"], "SerializationException");
}

/// Whether the Logs API lists a log group of this name.
async fn log_group_listed(endpoint: &str, name: &str) -> bool {
    let (status, body) = logs_call(
        endpoint,
        "DescribeLogGroups",
        serde_json::json!({"logGroupNamePrefix": name}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["logGroups"]
        .as_array()
        .is_some_and(|a| a.iter().any(|g| g["logGroupName"] == name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logs_request_must_sign_its_target() {
    let d = Daemon::start();
    let endpoint = d.endpoint();
    let (status, body) = logs_call(
        &endpoint,
        "CreateLogGroup",
        serde_json::json!({"logGroupName": "/keep"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let group = serde_json::json!({"logGroupName": "/keep"});

    // Signed without X-Amz-Target: a replay could change the action (here, a describe made a delete).
    let (status, body) = logs_call_signed(
        &endpoint,
        Signed::Only(&["content-type"]),
        "DescribeLogGroups",
        "DeleteLogGroup",
        group.clone(),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("'X-Amz-Target' must be a 'SignedHeader'")),
        "{body}"
    );
    assert!(log_group_listed(&endpoint, "/keep").await, "not deleted");

    // Signed with it, then changed: the signature no longer matches.
    let (status, body) = logs_call_signed(
        &endpoint,
        Signed::Only(&["content-type", "x-amz-target"]),
        "DescribeLogGroups",
        "DeleteLogGroup",
        group.clone(),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["__type"], "SignatureDoesNotMatch", "{body}");
    assert!(log_group_listed(&endpoint, "/keep").await, "not deleted");

    // Signed with it and unchanged: answered.
    let (status, body) = logs_call_signed(
        &endpoint,
        Signed::Only(&["x-amz-target"]),
        "DeleteLogGroup",
        "DeleteLogGroup",
        group,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!log_group_listed(&endpoint, "/keep").await, "deleted");
}

/// Events written straight into the daemon's log store (stopped), as many as a long delivery would leave.
fn fill_log_store(data_dir: &std::path::Path, group: &str, events: usize) {
    let mut db = rusqlite::Connection::open(data_dir.join("logs.sqlite3")).expect("log store");
    let tx = db.transaction().expect("transaction");
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO log_events (log_group, stream, ts_ms, ingest_ms, message) VALUES (?1, ?2, ?3, ?3, ?4)",
            )
            .expect("insert");
        let filler = "x".repeat(150);
        for i in 0..events {
            ins.execute(rusqlite::params![
                group,
                format!("stream-{}", i % 4),
                1_700_000_000_000_i64 + i as i64,
                format!("event {i} {filler}")
            ])
            .expect("row");
        }
        for s in 0..4 {
            tx.execute(
                "INSERT OR IGNORE INTO log_streams (log_group, name, created_ms) VALUES (?1, ?2, 0)",
                rusqlite::params![group, format!("stream-{s}")],
            )
            .expect("stream");
        }
    }
    tx.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_while_large_log_filters_run() {
    let mut d = Daemon::start();
    let endpoint = d.endpoint();
    let (status, body) = logs_call(
        &endpoint,
        "CreateLogGroup",
        serde_json::json!({"logGroupName": "/big"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    d.kill9();
    fill_log_store(d.data_dir(), "/big", 600_000);
    d.spawn();
    let c = d.client();

    // Clients filtering the whole group for a term no event holds, for a few seconds (they stop by themselves).
    let window = Duration::from_secs(8);
    let started = Instant::now();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let filters: Vec<_> = (0..8)
        .map(|_| {
            let (endpoint, calls) = (endpoint.clone(), calls.clone());
            tokio::spawn(async move {
                while started.elapsed() < window {
                    let (status, body) = logs_call(
                        &endpoint,
                        "FilterLogEvents",
                        serde_json::json!({"logGroupName": "/big", "filterPattern": "absent-term"}),
                    )
                    .await;
                    assert_eq!(status, 200, "{body}");
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Meanwhile the ElastiCache API answers, each call well within a generous liveness deadline.
    let deadline = Duration::from_secs(2);
    let mut worst = Duration::ZERO;
    let mut answered = 0;
    while started.elapsed() < window {
        let t = Instant::now();
        tokio::time::timeout(
            Duration::from_secs(30),
            c.describe_replication_groups().send(),
        )
        .await
        .expect("DescribeReplicationGroups answered at all")
        .expect("DescribeReplicationGroups");
        worst = worst.max(t.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for f in filters {
        f.await.expect("filter client");
    }
    let calls = calls.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "DescribeReplicationGroups: {answered} calls, slowest {worst:?}, during {calls} FilterLogEvents calls"
    );
    assert!(calls > 0, "no filter answered");
    assert!(
        worst < deadline,
        "DescribeReplicationGroups waited {worst:?} behind the log store"
    );
}
