//! Issue 15 item 7: AWS's exact answers, table-driven — each request (form-encoded, SigV4-signed, as any SDK sends
//! it) against AWS's error code, HTTP status and message.

mod common;

use std::time::Duration;

use common::*;

/// The `<Message>` of an `ErrorResponse`.
fn message(xml: &str) -> String {
    let start = xml.find("<Message>").expect("message") + "<Message>".len();
    let end = xml[start..].find("</Message>").expect("end") + start;
    xml[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_as_aws_words_them() {
    let d = Daemon::start();
    let ep = d.endpoint();
    // (request, code, HTTP status, the message or a part of it)
    let table: &[(&str, &str, u16, &str)] = &[
        (
            "Action=DescribeReplicationGroups&Version=2015-02-02&ReplicationGroupId=nope",
            "ReplicationGroupNotFoundFault",
            404,
            "ReplicationGroup not found: nope",
        ),
        (
            "Action=DescribeCacheClusters&Version=2015-02-02&CacheClusterId=nope",
            "CacheClusterNotFound",
            404,
            "CacheCluster not found: nope",
        ),
        (
            "Action=DescribeSnapshots&Version=2015-02-02&ReplicationGroupId=a&CacheClusterId=a-001",
            "InvalidParameterCombination",
            400,
            "Cannot specify both ReplicationGroupId and CacheClusterId",
        ),
    ];
    for (request, code, status, text) in table {
        let (got_status, body) = raw_post(&ep, request.as_bytes(), SECRET, None).await;
        assert_eq!(error_code(&body), *code, "{request}: {body}");
        assert_eq!(got_status, *status, "{request}: {body}");
        assert!(message(&body).contains(text), "{request}: {body}");
    }
}

/// A `SnapshotWindow` with no `PreferredMaintenanceWindow` never fails for the default maintenance window Cacheplane
/// picks itself (one create in seven did with `06:00-07:00` in us-east-1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_window_alone_never_meets_the_default_maintenance_window() {
    let d = Daemon::start();
    let c = d.client();
    for i in 0..12 {
        let id = format!("win-{i}");
        c.create_replication_group()
            .replication_group_id(&id)
            .replication_group_description("window")
            .num_cache_clusters(1)
            .snapshot_window("06:00-07:00")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {id}: {e:?}"));
    }
    for i in 0..12 {
        wait_available(&c, &format!("win-{i}"), Duration::from_secs(60)).await;
    }
}
