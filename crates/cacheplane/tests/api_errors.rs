//! Authentication and bad input: every refusal is a well-formed `ErrorResponse` with the AWS code and status,
//! and changes nothing. A generated test sends thousands of mutated bodies and checks the daemon lives.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CREATE: &str = "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=viaraw&ReplicationGroupDescription=d";

async fn group_count(d: &Daemon) -> usize {
    d.client()
        .describe_replication_groups()
        .send()
        .await
        .expect("describe")
        .replication_groups()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures() {
    let d = Daemon::start();
    let ep = d.endpoint();

    // Wrong secret, through the real SDK.
    let bad = client_for(&ep, ACCESS_KEY_ID, "not-the-secret");
    let e = bad
        .describe_replication_groups()
        .send()
        .await
        .expect_err("wrong secret");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("SignatureDoesNotMatch")
    );

    // Unknown key.
    let unknown = client_for(&ep, "AKIDUNKNOWN", SECRET);
    let e = unknown
        .create_replication_group()
        .replication_group_id("nope")
        .replication_group_description("d")
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("InvalidClientTokenId")
    );

    // Unsigned.
    let resp = reqwest::Client::new()
        .post(format!("{ep}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(CREATE)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(
        error_code(&resp.text().await.expect("body")),
        "MissingAuthenticationToken"
    );

    // Signed correctly but twenty minutes ago.
    let old = (chrono::Utc::now() - chrono::Duration::minutes(20))
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let (status, body) = raw_post(&ep, CREATE.as_bytes(), SECRET, Some(old)).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "RequestExpired")
    );

    // Wrong secret on a raw create.
    let (status, body) = raw_post(&ep, CREATE.as_bytes(), "wrong", None).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "SignatureDoesNotMatch")
    );

    // Nothing was created by any of them.
    assert_eq!(group_count(&d).await, 0);
    // And a correctly signed raw request works.
    let (status, body) = raw_post(&ep, CREATE.as_bytes(), SECRET, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("<CreateReplicationGroupResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><CreateReplicationGroupResult><ReplicationGroup>"));
    wait_available(&d.client(), "viaraw", Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_aws_codes_and_changes_nothing() {
    let d = Daemon::start();
    let ep = d.endpoint();
    let base = "Version=2015-02-02&ReplicationGroupDescription=d";
    let cases: Vec<(String, u16, &str)> = vec![
        ("Action=LaunchRockets&Version=2015-02-02".into(), 400, "InvalidAction"),
        ("Version=2015-02-02".into(), 400, "MissingAction"),
        (format!("Action=CreateReplicationGroup&{base}"), 400, "MissingParameter"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&NumCacheClusters=three"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&SecurityGroupIds.SecurityGroupId.0=sg-01234567"), 400, "InvalidQueryParameter"),
        (
            format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&SecurityGroupIds.SecurityGroupId.1=sg-01234567&SecurityGroupIds.SecurityGroupId.3=sg-01234568"),
            400,
            "InvalidQueryParameter",
        ),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=1-bad--id"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&ReplicasPerNodeGroup=6"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&NumCacheClusters=7"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&AutomaticFailoverEnabled=true&NumCacheClusters=1"), 400, "InvalidParameterCombination"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&MultiAZEnabled=true&NumCacheClusters=2"), 400, "InvalidParameterCombination"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&TransitEncryptionMode=required"), 400, "InvalidParameterCombination"),
        ("Action=TestFailover&Version=2015-02-02&ReplicationGroupId=none&NodeGroupId=0001".into(), 404, "ReplicationGroupNotFoundFault"),
        ("Action=TestFailover&Version=2015-02-02&ReplicationGroupId=none&NodeGroupId=00001".into(), 400, "InvalidParameterValue"),
        ("Action=TestFailover&Version=2015-02-02&ReplicationGroupId=none".into(), 400, "MissingParameter"),
        ("Action=IncreaseReplicaCount&Version=2015-02-02&ReplicationGroupId=none&NewReplicaCount=2&ApplyImmediately=true".into(), 404, "ReplicationGroupNotFoundFault"),
        ("Action=IncreaseReplicaCount&Version=2015-02-02&ReplicationGroupId=none&NewReplicaCount=2".into(), 400, "MissingParameter"),
        ("Action=DecreaseReplicaCount&Version=2015-02-02&ReplicationGroupId=none&ReplicasToRemove.member.1=x&ApplyImmediately=true".into(), 404, "ReplicationGroupNotFoundFault"),
        ("Action=RebootCacheCluster&Version=2015-02-02&CacheClusterId=none-001&CacheNodeIdsToReboot.CacheNodeId.1=0001".into(), 404, "CacheClusterNotFound"),
        ("Action=RebootCacheCluster&Version=2015-02-02&CacheClusterId=none-001".into(), 400, "MissingParameter"),
        ("Action=TestMigration&Version=2015-02-02&ReplicationGroupId=none".into(), 400, "MissingParameter"),
        ("Action=TestMigration&Version=2015-02-02&ReplicationGroupId=none&CustomerNodeEndpointList.member.1.Address=127.0.0.1&CustomerNodeEndpointList.member.1.Port=6379".into(), 404, "ReplicationGroupNotFoundFault"),
        ("Action=TestMigration&Version=2015-02-02&ReplicationGroupId=none&CustomerNodeEndpointList.member.1.Address=127.0.0.1&CustomerNodeEndpointList.member.1.Port=70000".into(), 400, "InvalidParameterValue"),
        ("Action=TestMigration&Version=2015-02-02&ReplicationGroupId=none&CustomerNodeEndpointList.member.1.Address=127.0.0.1&CustomerNodeEndpointList.member.1.Bogus=1".into(), 400, "InvalidQueryParameter"),
        ("Action=DeleteCacheCluster&Version=2015-02-02&CacheClusterId=none-001".into(), 404, "CacheClusterNotFound"),
        ("Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=a&ReplicationGroupDescription=%00%EF%BF%BF".into(), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&AuthToken=abcdefghijklmnopqrstu"), 400, "InvalidParameterCombination"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&NumNodeGroups=3&CacheParameterGroupName=default.redis7"), 400, "InvalidParameterCombination"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&PreferredMaintenanceWindow=sun:05:00-sun:05:30"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&SnapshotWindow=05:00-05:10"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&SnapshotRetentionLimit=36"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&CacheNodeType=cache.huge"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&Engine=memcached"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&EngineVersion=2.8"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&SecurityGroupIds.SecurityGroupId.1=nope"), 400, "InvalidParameterValue"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&CacheParameterGroupName=custom"), 404, "CacheParameterGroupNotFound"),
        (format!("Action=CreateReplicationGroup&{base}&ReplicationGroupId=a&Unknown=1"), 400, "InvalidQueryParameter"),
        ("Action=DescribeReplicationGroups&Version=2015-02-02&ReplicationGroupId=none".into(), 404, "ReplicationGroupNotFoundFault"),
        ("Action=DescribeReplicationGroups&Version=2015-02-02&MaxRecords=5".into(), 400, "InvalidParameterValue"),
        ("Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId=none".into(), 404, "ReplicationGroupNotFoundFault"),
        ("Action=ListTagsForResource&Version=2015-02-02&ResourceName=arn:nope".into(), 400, "InvalidARN"),
        ("Action=DescribeEvents&Version=2015-02-02&StartTime=yesterday".into(), 400, "InvalidParameterValue"),
    ];
    for (body, status, code) in &cases {
        let (s, xml) = raw_post(&ep, body.as_bytes(), SECRET, None).await;
        assert_eq!(
            (s, error_code(&xml).as_str()),
            (*status, *code),
            "{body}\n{xml}"
        );
    }
    // A 2 MB body.
    let big = format!(
        "Action=DescribeEvents&Version=2015-02-02&Marker={}",
        "x".repeat(2 << 20)
    );
    let (s, xml) = raw_post(&ep, big.as_bytes(), SECRET, None).await;
    assert_eq!(
        (s, error_code(&xml).as_str()),
        (413, "RequestEntityTooLarge")
    );
    // Six replicas through the SDK.
    let e = d
        .client()
        .create_replication_group()
        .replication_group_id("six")
        .replication_group_description("d")
        .replicas_per_node_group(6)
        .send()
        .await
        .expect_err("6 replicas");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("InvalidParameterValue")
    );
    assert_eq!(group_count(&d).await, 0, "nothing was created");
}

/// Mutations of valid bodies: bytes flipped, parameters dropped or duplicated, values replaced by junk.
fn mutated_body() -> impl Strategy<Value = Vec<u8>> {
    let seeds = vec![
        "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=fz&ReplicationGroupDescription=d&NumCacheClusters=1&Tags.Tag.1.Key=k&Tags.Tag.1.Value=v&SecurityGroupIds.SecurityGroupId.1=sg-01234567&PreferredMaintenanceWindow=sun:05:00-sun:06:00&CacheNodeType=cache.t3.micro&Port=6390",
        "Action=DescribeReplicationGroups&Version=2015-02-02&MaxRecords=20&Marker=a",
        "Action=DescribeEvents&Version=2015-02-02&SourceType=replication-group&Duration=60&StartTime=2024-01-01T00:00:00Z",
        "Action=AddTagsToResource&Version=2015-02-02&ResourceName=arn:aws:elasticache:us-east-1:000000000000:replicationgroup:x&Tags.Tag.1.Key=a",
        "Action=DeleteReplicationGroup&Version=2015-02-02&ReplicationGroupId=x&RetainPrimaryCluster=true",
        "Action=DescribeCacheClusters&Version=2015-02-02&ShowCacheNodeInfo=true&CacheClusterId=x-001",
    ];
    let junk = prop_oneof![
        Just("".to_string()),
        Just("%".to_string()),
        Just("%ZZ".to_string()),
        Just("-1".to_string()),
        Just("99999999999".to_string()),
        Just("true".to_string()),
        Just("&&&===".to_string()),
        Just("\u{0}\u{ffff}".to_string()),
        "[ -~]{0,40}",
    ];
    (
        proptest::sample::select(seeds),
        proptest::collection::vec((0usize..64, 0u8..5, junk, any::<u8>()), 1..6),
    )
        .prop_map(|(seed, muts)| {
            let mut pairs: Vec<String> = seed.split('&').map(str::to_string).collect();
            for (i, kind, junk, byte) in muts {
                let n = pairs.len().max(1);
                let idx = i % n;
                match kind {
                    0 if !pairs.is_empty() => {
                        pairs.remove(idx);
                    }
                    1 if !pairs.is_empty() => {
                        let p = pairs[idx].clone();
                        pairs.push(p);
                    }
                    2 if !pairs.is_empty() => {
                        let key = pairs[idx].split('=').next().unwrap_or("").to_string();
                        pairs[idx] = format!("{key}={junk}");
                    }
                    3 => pairs.push(format!("{junk}={junk}")),
                    _ if !pairs.is_empty() => {
                        let mut b = pairs[idx].clone().into_bytes();
                        if !b.is_empty() {
                            let j = (byte as usize) % b.len();
                            b[j] = byte;
                        }
                        pairs[idx] = String::from_utf8_lossy(&b).to_string();
                    }
                    _ => {}
                }
            }
            pairs.join("&").into_bytes()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_bodies_never_hurt_the_daemon() {
    let d = Daemon::start();
    let ep = d.endpoint();
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let mut bodies = Vec::new();
    for _ in 0..3000 {
        let tree = mutated_body().new_tree(&mut runner).expect("tree");
        bodies.push(proptest::strategy::ValueTree::current(&tree));
    }
    let mut ok = 0;
    for body in &bodies {
        let (status, xml) = raw_post(&ep, body, SECRET, None).await;
        if status == 200 {
            ok += 1;
            assert!(
                xml.contains(
                    "Response xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"
                ),
                "{xml}"
            );
            continue;
        }
        assert!(
            (400..500).contains(&status),
            "status {status} for {:?}: {xml}",
            String::from_utf8_lossy(body)
        );
        let _ = error_code(&xml);
    }
    assert!(ok > 0, "some mutations stay valid");
    // The daemon is alive and every group the mutations created is described in XML the real SDK parses.
    let n = group_count(&d).await;
    assert!(n < bodies.len(), "{n} groups");
}
