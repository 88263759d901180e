//! The ElastiCache API through the real `aws-sdk-elasticache` (and signed hand-made requests): clients, waits on
//! groups, snapshots and user groups, the group operations tests share, error codes.

use std::process::Command;
use std::time::Duration;

use aws_sdk_elasticache::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_elasticache::Client;

use super::*;

pub fn client_for(endpoint: &str, id: &str, secret: &str) -> Client {
    let conf = aws_sdk_elasticache::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

/// Polls `DescribeReplicationGroups` until the group is `available` (the `ReplicationGroupAvailable` waiter's
/// rule, polled every 20 ms rather than every 15 s).
pub async fn wait_available(
    c: &Client,
    id: &str,
    max: Duration,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    eventually(&format!("group {id} available"), max, || async {
        let g = describe_group(c, id).await;
        match g.status() {
            Some("available") => Ok(g),
            Some("create-failed") | Some("deleted") => panic!("group {id} is {:?}", g.status()),
            other => Err(other.map(str::to_string)),
        }
    })
    .await
}

/// Polls until `DescribeReplicationGroups` answers `ReplicationGroupNotFoundFault`.
pub async fn wait_deleted(c: &Client, id: &str, max: Duration) {
    eventually(&format!("group {id} deleted"), max, || async {
        match c
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
        {
            Err(e) => {
                let se = e.into_service_error();
                assert!(
                    se.is_replication_group_not_found_fault(),
                    "unexpected error {se:?}"
                );
                Ok(())
            }
            Ok(out) => {
                let st = out.replication_groups()[0].status().map(str::to_string);
                assert_ne!(
                    st.as_deref(),
                    Some("available"),
                    "a deleting group must never show available"
                );
                Err(st)
            }
        }
    })
    .await
}

/// The member that reports itself primary, and the group as described.
pub async fn describe_group(c: &Client, id: &str) -> aws_sdk_elasticache::types::ReplicationGroup {
    c.describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .expect("describe")
        .replication_groups()[0]
        .clone()
}

/// `(cluster id, CurrentRole, node address)` of each member.
pub fn members_of(
    g: &aws_sdk_elasticache::types::ReplicationGroup,
) -> Vec<(String, String, String)> {
    g.node_groups()[0]
        .node_group_members()
        .iter()
        .map(|m| {
            (
                m.cache_cluster_id().unwrap_or_default().to_string(),
                m.current_role().unwrap_or_default().to_string(),
                redis_url(m.read_endpoint().expect("read endpoint")),
            )
        })
        .collect()
}

/// The member that reports itself primary ("" while none does: roles are being read again after a change).
pub fn current_primary(g: &aws_sdk_elasticache::types::ReplicationGroup) -> String {
    members_of(g)
        .into_iter()
        .find(|(_, role, _)| role == "primary")
        .map(|(id, _, _)| id)
        .unwrap_or_default()
}

/// Polls until `pred` holds for the described group.
pub async fn wait_group(
    c: &Client,
    id: &str,
    max: Duration,
    what: &str,
    pred: impl Fn(&aws_sdk_elasticache::types::ReplicationGroup) -> bool,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    let pred = &pred;
    eventually(&format!("group {id}: {what}"), max, || async move {
        let g = describe_group(c, id).await;
        if pred(&g) {
            Ok(g)
        } else {
            Err(g)
        }
    })
    .await
}

/// The messages of the events of `source` (oldest first).
pub async fn event_messages(c: &Client, source: &str) -> Vec<String> {
    c.describe_events()
        .source_identifier(source)
        .send()
        .await
        .expect("events")
        .events()
        .iter()
        .map(|e| e.message().unwrap_or_default().to_string())
        .collect()
}

/// Waits until user group `id` is `active`.
pub async fn wait_user_group_active(c: &Client, id: &str) {
    eventually(
        &format!("user group {id} active"),
        Duration::from_secs(20),
        || async {
            let out = c
                .describe_user_groups()
                .user_group_id(id)
                .send()
                .await
                .expect("describe user group");
            let status = out.user_groups()[0].status().map(str::to_string);
            (status.as_deref() == Some("active"))
                .then_some(())
                .ok_or(status)
        },
    )
    .await
}

/// Waits (up to 60 s) until snapshot `name` is `available`; it must not be anything but `creating` meanwhile.
pub async fn wait_snapshot(c: &Client, name: &str) -> aws_sdk_elasticache::types::Snapshot {
    wait_snapshot_within(c, name, Duration::from_secs(60)).await
}

/// Waits up to `max` until snapshot `name` is `available`; it must not be anything but `creating` meanwhile.
pub async fn wait_snapshot_within(
    c: &Client,
    name: &str,
    max: Duration,
) -> aws_sdk_elasticache::types::Snapshot {
    eventually(&format!("snapshot {name} available"), max, || async {
        let out = c
            .describe_snapshots()
            .snapshot_name(name)
            .send()
            .await
            .expect("describe snapshot");
        let s = out.snapshots()[0].clone();
        match s.snapshot_status() {
            Some("available") => Ok(s),
            Some("creating") => Err("creating"),
            other => panic!("snapshot {name} is {other:?}"),
        }
    })
    .await
}

/// Creates group `id` of one node of `node_type` on engine `version`, until it is `available`.
pub async fn create_one_node(
    c: &Client,
    id: &str,
    node_type: &str,
    version: &str,
    max: Duration,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("the dataset")
        .num_cache_clusters(1)
        .cache_node_type(node_type)
        .engine_version(version)
        .send()
        .await
        .expect("create");
    wait_available(c, id, max).await
}

/// A planned switchover of group `id` (described as `g`) to one of its replicas, until it reports that replica
/// primary and `available`. Returns the new primary and the group as then described.
pub async fn switch_over_to_a_replica(
    c: &Client,
    id: &str,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    max: Duration,
) -> (String, aws_sdk_elasticache::types::ReplicationGroup) {
    let old = current_primary(g);
    assert!(!old.is_empty(), "no member reports itself primary");
    let target = members_of(g)
        .into_iter()
        .map(|(id, _, _)| id)
        .find(|id| *id != old)
        .expect("a replica");
    c.modify_replication_group()
        .replication_group_id(id)
        .primary_cluster_id(&target)
        .apply_immediately(true)
        .send()
        .await
        .expect("switchover");
    let g = wait_group(c, id, max, "switched over", |g| {
        g.status() == Some("available") && current_primary(g) == target
    })
    .await;
    (target, g)
}

/// Turns automatic failover and Multi-AZ on for group `id`, until it is `available` again.
pub async fn enable_automatic_failover(c: &Client, id: &str, max: Duration) {
    c.modify_replication_group()
        .replication_group_id(id)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .apply_immediately(true)
        .send()
        .await
        .expect("automatic failover on");
    wait_available(c, id, max).await;
}

/// Kills the primary of group `id` (described as `g`) with SIGKILL, until another member reports itself primary
/// and the group is `available`. Returns the killed member and the group as then described.
pub async fn kill_primary_until_failed_over(
    d: &Daemon,
    c: &Client,
    id: &str,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    max: Duration,
) -> (String, aws_sdk_elasticache::types::ReplicationGroup) {
    let old = current_primary(g);
    assert!(!old.is_empty(), "no member reports itself primary");
    let pid = node_pid(d, &old);
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    let g = wait_group(c, id, max, "failed over", |g| {
        g.status() == Some("available")
            && !current_primary(g).is_empty()
            && current_primary(g) != old
    })
    .await;
    (old, g)
}

/// Signs and sends a raw Query request (what no SDK would send), returning status and body.
pub async fn raw_post(
    endpoint: &str,
    body: &[u8],
    secret: &str,
    amz_date: Option<String>,
) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let date = amz_date.unwrap_or_else(|| chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
    let mut request = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .body(body.to_vec());
    for (k, v) in wire::sigv4::signed_form_post(host, body, &date, ACCESS_KEY_ID, secret, REGION) {
        request = request.header(k, v);
    }
    let resp = request.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// The `<Code>` of an `ErrorResponse`, checking the document's shape on the way.
pub fn error_code(xml: &str) -> String {
    assert!(
        xml.starts_with("<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><Error><Type>"),
        "not an ErrorResponse: {xml}"
    );
    assert!(
        xml.contains("<Message>") && xml.contains("<RequestId>"),
        "{xml}"
    );
    let start = xml.find("<Code>").expect("code") + 6;
    let end = xml[start..].find("</Code>").expect("end") + start;
    xml[start..end].to_string()
}

/// The AWS error code of a call's result (`ok` when it succeeded).
pub fn result_code<T, E: aws_sdk_elasticache::error::ProvideErrorMetadata>(
    r: Result<T, E>,
) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

/// A `ParameterNameValue` of a parameter group change.
pub fn pair(name: &str, value: &str) -> aws_sdk_elasticache::types::ParameterNameValue {
    aws_sdk_elasticache::types::ParameterNameValue::builder()
        .parameter_name(name)
        .parameter_value(value)
        .build()
}

/// The AWS error code of a failed SDK call.
pub fn code<E: aws_sdk_elasticache::error::ProvideErrorMetadata, R>(
    e: aws_sdk_elasticache::error::SdkError<E, R>,
) -> String {
    use aws_sdk_elasticache::error::ProvideErrorMetadata;
    e.code().unwrap_or("?").to_string()
}

/// Tags `arn` with `team=cache` and lists its tags back.
pub async fn tag_and_list(c: &Client, arn: &str) -> Vec<aws_sdk_elasticache::types::Tag> {
    c.add_tags_to_resource()
        .resource_name(arn)
        .tags(
            aws_sdk_elasticache::types::Tag::builder()
                .key("team")
                .value("cache")
                .build(),
        )
        .send()
        .await
        .expect("tag the resource");
    list_tags(c, arn).await
}

/// The tags of `arn`.
pub async fn list_tags(c: &Client, arn: &str) -> Vec<aws_sdk_elasticache::types::Tag> {
    c.list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .expect("list tags")
        .tag_list()
        .to_vec()
}

/// A signed request to the Logs API; `(status, JSON body)`.
pub async fn logs_call(
    endpoint: &str,
    action: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    logs_call_signed(endpoint, Signed::All, action, action, body).await
}

/// Which headers a Logs API request signs.
pub enum Signed<'a> {
    /// Every header it sends, as the AWS CLI and boto3 do.
    All,
    /// `host`, `x-amz-date` and these.
    Only(&'a [&'a str]),
}

/// A Logs API request signed with `signed` headers for target `signed_action`, then sent with target
/// `sent_action` (the same for an honest client; another one is a request whose `X-Amz-Target` was changed after
/// signing).
pub async fn logs_call_signed(
    endpoint: &str,
    signed: Signed<'_>,
    signed_action: &str,
    sent_action: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let host = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let target = format!("Logs_20140328.{signed_action}");
    let all = [
        ("host", host),
        ("x-amz-date", date.as_str()),
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let headers: Vec<(&str, &str)> = all
        .iter()
        .copied()
        .filter(|(k, _)| match &signed {
            Signed::All => true,
            Signed::Only(list) => *k == "host" || *k == "x-amz-date" || list.contains(k),
        })
        .collect();
    let parts = wire::sigv4::RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let auth = wire::sigv4::sign(&parts, ACCESS_KEY_ID, SECRET, REGION, "logs");
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("x-amz-date", &date)
        .header("x-amz-target", format!("Logs_20140328.{sent_action}"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A daily snapshot window three hours after now: it never meets a maintenance window set around now.
pub fn snapshot_window_clear_of_now() -> String {
    use chrono::Timelike;
    // At least 3 hours from now (clear of a maintenance window a test sets around now), and outside us-east-1's
    // 03:00-11:00 block, where default maintenance windows fall (a test run after midnight met one).
    let now = chrono::Utc::now().hour();
    let h = (3..24)
        .map(|o| (now + o) % 24)
        .find(|h| !(3..11).contains(h))
        .unwrap_or(0);
    format!("{:02}:00-{:02}:00", h, (h + 1) % 24)
}

/// The 70-minute weekly window that starts at `start`.
pub fn weekly_window(start: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let end = start + chrono::Duration::minutes(70);
    let day = |t: chrono::DateTime<chrono::Utc>| {
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            [t.weekday().num_days_from_sunday() as usize]
    };
    format!(
        "{}:{:02}:{:02}-{}:{:02}:{:02}",
        day(start),
        start.hour(),
        start.minute(),
        day(end),
        end.hour(),
        end.minute()
    )
}
