//! Issue 15 item 7: AWS's exact answers, table-driven — each request (form-encoded, SigV4-signed, as any SDK sends
//! it) against AWS's error code, HTTP status and message.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::Tag;
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

/// `CreateUser` checks authentication first, in AWS's order and with AWS's texts; a consistent mix is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_checks_authentication_first_as_aws_does() {
    let d = Daemon::start();
    let ep = d.endpoint();
    const GOOD: &str = "a-long-enough-password-1";
    let base = "Action=CreateUser&Version=2015-02-02&Engine=redis&AccessString=on+~*+%2B%40all";
    // (rest of the request, code, status, message)
    let table: Vec<(String, &str, u16, &str)> = vec![
        (
            format!("UserId=u1&UserName=u1&Passwords.member.1={GOOD}&AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1={GOOD}"),
            "InvalidParameterCombination",
            400,
            "Passwords provided via multiple arguments. Use only one argument",
        ),
        (
            "UserId=u1&UserName=u1&Passwords.member.1=short".into(),
            "InvalidParameterValue",
            400,
            "Passwords length must be between 16-128 characters.",
        ),
        (
            "UserId=u1&UserName=u1".into(),
            "InvalidParameterValue",
            400,
            "Input Authentication type: null is not in the allowed list: [password,no-password-required,iam]",
        ),
        (
            "UserId=u1&UserName=u1&AuthenticationMode.Type=ldap".into(),
            "InvalidParameterValue",
            400,
            "Input Authentication type: ldap is not in the allowed list: [password,no-password-required,iam]",
        ),
        (
            format!("UserId=u1&UserName=u1&NoPasswordRequired=true&AuthenticationMode.Type=password&AuthenticationMode.Passwords.member.1={GOOD}"),
            "InvalidParameterCombination",
            400,
            "No password required flag is true but provided authentication type is password",
        ),
        (
            format!("UserId=u1&UserName=u1&AuthenticationMode.Type=no-password-required&Passwords.member.1={GOOD}"),
            "InvalidParameterCombination",
            400,
            "Password field is not allowed with authentication type: no-password-required",
        ),
        (
            "UserId=u1&UserName=u1&AuthenticationMode.Type=password".into(),
            "InvalidParameterCombination",
            400,
            "A user with Authentication Mode: password, must have at least one password",
        ),
        // Authentication before the id and before the access string.
        (
            "UserId=1-bad-id&UserName=u1&Passwords.member.1=short".into(),
            "InvalidParameterValue",
            400,
            "Passwords length must be between 16-128 characters.",
        ),
    ];
    for (rest, code, status, text) in &table {
        let request = format!("{base}&{rest}");
        let (got, body) = raw_post(&ep, request.as_bytes(), SECRET, None).await;
        assert_eq!(error_code(&body), *code, "{request}: {body}");
        assert_eq!(got, *status, "{request}: {body}");
        assert_eq!(message(&body), *text, "{request}: {body}");
    }
    let bad_access = "Action=CreateUser&Version=2015-02-02&Engine=redis&AccessString=on+~*+%2Bnosuchcommand&UserId=u1&UserName=u1&Passwords.member.1=short";
    let (_, body) = raw_post(&ep, bad_access.as_bytes(), SECRET, None).await;
    assert_eq!(
        message(&body),
        "Passwords length must be between 16-128 characters."
    );

    // A consistent mix is accepted; a user without passwords shows `Type no-password` and no `PasswordCount`.
    let ok = format!("{base}&UserId=np&UserName=np&NoPasswordRequired=true&AuthenticationMode.Type=no-password-required");
    let (got, body) = raw_post(&ep, ok.as_bytes(), SECRET, None).await;
    assert_eq!(got, 200, "{body}");
    assert!(
        body.contains("<Authentication><Type>no-password</Type></Authentication>"),
        "{body}"
    );
    let (_, body) = raw_post(
        &ep,
        b"Action=DescribeUsers&Version=2015-02-02&UserId=np",
        SECRET,
        None,
    )
    .await;
    assert!(
        body.contains("<Authentication><Type>no-password</Type></Authentication>"),
        "{body}"
    );
    let pw = format!("{base}&UserId=pw&UserName=pw&Passwords.member.1={GOOD}");
    let (_, body) = raw_post(&ep, pw.as_bytes(), SECRET, None).await;
    assert!(
        body.contains("<Authentication><Type>password</Type><PasswordCount>1</PasswordCount></Authentication>"),
        "{body}"
    );
}

/// `DeleteUser` takes the user out of its user groups and off every node, listed `deleting` until then;
/// `PendingModifiedValues` shows a user group change and a TLS change while they are applied;
/// `SnapshottingClusterId` is named once retention is on; tags keep their order and reach member clusters; a
/// `Marker` no page produced is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_pending_values_tags_and_markers_as_aws_shows_them() {
    let d = Daemon::start();
    let c = d.client();
    let ep = d.endpoint();
    let ca = d.data_dir().join("tls").join("ca.pem");
    const PW: &str = "leaver-password-0123456789";

    c.create_user()
        .user_id("leaver")
        .user_name("leaver")
        .engine("redis")
        .access_string("on ~* +@all")
        .passwords(PW)
        .send()
        .await
        .expect("user");
    c.create_user_group()
        .user_group_id("ugx")
        .engine("redis")
        .user_ids("default")
        .user_ids("leaver")
        .send()
        .await
        .expect("user group");
    wait_user_group_active(&c, "ugx").await;
    c.create_replication_group()
        .replication_group_id("pv")
        .replication_group_description("pending values")
        .num_cache_clusters(2)
        .transit_encryption_enabled(true)
        .snapshot_retention_limit(1)
        .snapshot_window(snapshot_window_clear_of_now())
        .send()
        .await
        .expect("create pv");
    let g = wait_available(&c, "pv", Duration::from_secs(30)).await;
    assert_eq!(g.snapshotting_cluster_id(), Some("pv-002"), "a replica");
    c.create_replication_group()
        .replication_group_id("single")
        .replication_group_description("one node")
        .num_cache_clusters(1)
        .snapshot_retention_limit(1)
        .snapshot_window(snapshot_window_clear_of_now())
        .send()
        .await
        .expect("create single");
    let s = wait_available(&c, "single", Duration::from_secs(30)).await;
    assert_eq!(s.snapshotting_cluster_id(), Some("single-001"), "the node");

    // A user group change shows in PendingModifiedValues.UserGroups until it is applied.
    let out = c
        .modify_replication_group()
        .replication_group_id("pv")
        .user_group_ids_to_add("ugx")
        .apply_immediately(true)
        .send()
        .await
        .expect("attach ugx");
    let pending = out
        .replication_group()
        .and_then(|g| g.pending_modified_values())
        .and_then(|p| p.user_groups())
        .expect("PendingModifiedValues.UserGroups");
    assert_eq!(pending.user_group_ids_to_add(), ["ugx"]);
    let g = wait_available(&c, "pv", Duration::from_secs(30)).await;
    assert!(g
        .pending_modified_values()
        .and_then(|p| p.user_groups())
        .is_none());
    let at = primary_addr(&g);
    let as_leaver = tls_client_as(&at, &ca, Some("leaver"), Some(PW));
    let mut conn = client_conn_with_timeout(&as_leaver, Duration::from_secs(2))
        .await
        .expect("leaver authenticates");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut conn)
        .await
        .expect("leaver writes");

    // DeleteUser: `deleting`, out of its user group at once, then gone from the nodes and from the API.
    let out = c
        .delete_user()
        .user_id("leaver")
        .send()
        .await
        .expect("delete user");
    assert_eq!(out.status(), Some("deleting"));
    let ug = c
        .describe_user_groups()
        .user_group_id("ugx")
        .send()
        .await
        .expect("ugx");
    assert_eq!(ug.user_groups()[0].user_ids(), ["default"]);
    eventually("the user is gone", Duration::from_secs(30), || async {
        match c.describe_users().user_id("leaver").send().await {
            Err(e) if e.code() == Some("UserNotFound") => true,
            Ok(u) => {
                assert_eq!(u.users()[0].status(), Some("deleting"));
                false
            }
            Err(e) => panic!("describe users: {e:?}"),
        }
    })
    .await;
    // A user in no user group has no node to leave, yet AWS lists it `deleting` for a moment too.
    c.create_user()
        .user_id("brief")
        .user_name("brief")
        .engine("redis")
        .access_string("on ~* +get")
        .no_password_required(true)
        .send()
        .await
        .expect("create brief");
    c.delete_user()
        .user_id("brief")
        .send()
        .await
        .expect("delete brief");
    let u = c
        .describe_users()
        .user_id("brief")
        .send()
        .await
        .expect("still listed right after the delete");
    assert_eq!(u.users()[0].status(), Some("deleting"));
    eventually("brief gone", Duration::from_secs(30), || async {
        c.describe_users().user_id("brief").send().await.is_err()
    })
    .await;
    assert!(
        client_conn_with_timeout(&as_leaver, Duration::from_secs(2))
            .await
            .is_err(),
        "the deleted user can no longer authenticate"
    );

    // A TLS change shows TransitEncryptionEnabled/Mode in PendingModifiedValues until applied.
    let out = c
        .modify_replication_group()
        .replication_group_id("single")
        .transit_encryption_enabled(true)
        .transit_encryption_mode("preferred".into())
        .apply_immediately(true)
        .send()
        .await
        .expect("TLS on");
    let p = out
        .replication_group()
        .and_then(|g| g.pending_modified_values())
        .expect("pending");
    assert_eq!(p.transit_encryption_enabled(), Some(true));
    assert_eq!(
        p.transit_encryption_mode().map(|m| m.as_str()),
        Some("preferred")
    );
    let s = wait_available(&c, "single", Duration::from_secs(30)).await;
    assert_eq!(
        s.pending_modified_values()
            .and_then(|p| p.transit_encryption_mode()),
        None
    );

    // Tags in the order added (a new value keeps its place), and on the member clusters' ARNs too.
    let arn = g.arn().expect("arn").to_string();
    for (k, v) in [("zeta", "1"), ("alpha", "2"), ("mid", "3"), ("zeta", "4")] {
        c.add_tags_to_resource()
            .resource_name(&arn)
            .tags(Tag::builder().key(k).value(v).build())
            .send()
            .await
            .expect("tag");
    }
    let pairs = |tags: &[Tag]| -> Vec<(String, String)> {
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let want: Vec<(String, String)> = [("zeta", "4"), ("alpha", "2"), ("mid", "3")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(pairs(&list_tags(&c, &arn).await), want);
    let member_arn = arn.replace(":replicationgroup:pv", ":cluster:pv-001");
    assert_eq!(pairs(&list_tags(&c, &member_arn).await), want);

    // Markers: only one a page produced.
    let (status, body) = raw_post(
        &ep,
        b"Action=DescribeReplicationGroups&Version=2015-02-02&Marker=pv",
        SECRET,
        None,
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "InvalidParameterValue")
    );
    let first = c
        .describe_cache_clusters()
        .max_records(20)
        .send()
        .await
        .expect("page");
    assert_eq!(first.cache_clusters().len(), 3);
    assert_eq!(first.marker(), None);
    let (status, body) = raw_post(
        &ep,
        b"Action=DescribeCacheClusters&Version=2015-02-02&Marker=pv-001",
        SECRET,
        None,
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "InvalidParameterValue")
    );
}

/// The read-only actions tools call answer with the true state: node types a group can move to (down only to
/// types that hold its data), no reserved nodes or offerings, no service updates or update actions, cache security
/// groups refused as for an account in a VPC; an action still unimplemented says so by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_actions_tell_the_true_state() {
    let d = Daemon::start();
    let c = d.client();
    let ep = d.endpoint();
    c.create_replication_group()
        .replication_group_id("ro")
        .replication_group_description("read only")
        .num_cache_clusters(2)
        .cache_node_type("cache.t3.small")
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "ro", Duration::from_secs(30)).await;
    // 200 MB of data: more than a cache.t1.micro (136 MiB) holds, less than a cache.t3.micro (512 MiB).
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("primary"),
    ))
    .await;
    let value = "x".repeat(100_000);
    for chunk in 0..20 {
        let mut pipe = redis::pipe();
        for i in 0..100 {
            pipe.cmd("SET")
                .arg(format!("big:{chunk}:{i}"))
                .arg(&value)
                .ignore();
        }
        let _: () = pipe.query_async(&mut p).await.expect("fill");
    }
    for (by_group, by_cluster) in [(true, false), (false, true)] {
        let mut req = c.list_allowed_node_type_modifications();
        if by_group {
            req = req.replication_group_id("ro");
        }
        if by_cluster {
            req = req.cache_cluster_id("ro-002");
        }
        let out = req.send().await.expect("list");
        let up = out.scale_up_modifications();
        let down = out.scale_down_modifications();
        assert!(up.iter().any(|t| t == "cache.r6g.large"), "{up:?}");
        assert!(up.iter().all(|t| !t.starts_with("cache.r6gd.")), "{up:?}");
        assert!(!up
            .iter()
            .any(|t| t == "cache.t3.small" || t == "cache.t3.micro"));
        assert!(down.iter().any(|t| t == "cache.t3.micro"), "{down:?}");
        assert!(
            !down.iter().any(|t| t == "cache.t1.micro"),
            "too small for the data: {down:?}"
        );
    }
    let e = c
        .list_allowed_node_type_modifications()
        .replication_group_id("ro")
        .cache_cluster_id("ro-001")
        .send()
        .await
        .expect_err("both");
    assert_eq!(e.code(), Some("InvalidParameterCombination"));

    let reserved = c
        .describe_reserved_cache_nodes()
        .send()
        .await
        .expect("reserved");
    assert!(reserved.reserved_cache_nodes().is_empty());
    let offerings = c
        .describe_reserved_cache_nodes_offerings()
        .send()
        .await
        .expect("offerings");
    assert!(offerings.reserved_cache_nodes_offerings().is_empty());
    let updates = c.describe_service_updates().send().await.expect("updates");
    assert!(updates.service_updates().is_empty());
    let actions = c
        .describe_update_actions()
        .replication_group_ids("ro")
        .send()
        .await
        .expect("actions");
    assert!(actions.update_actions().is_empty());

    let table: &[(&str, &str, u16, &str)] = &[
        (
            "Action=DescribeReservedCacheNodes&Version=2015-02-02&ReservedCacheNodeId=r1",
            "ReservedCacheNodeNotFound",
            404,
            "ReservedCacheNode r1 not found",
        ),
        (
            "Action=DescribeReservedCacheNodesOfferings&Version=2015-02-02&ReservedCacheNodesOfferingId=o1",
            "ReservedCacheNodesOfferingNotFound",
            404,
            "ReservedCacheNodesOffering o1 not found",
        ),
        (
            "Action=DescribeServiceUpdates&Version=2015-02-02&ServiceUpdateName=elasticache-20260101-001",
            "ServiceUpdateNotFoundFault",
            404,
            "ServiceUpdate elasticache-20260101-001 not found",
        ),
        (
            "Action=DescribeUpdateActions&Version=2015-02-02&ReplicationGroupIds.member.1=nope",
            "ReplicationGroupNotFoundFault",
            404,
            "ReplicationGroup not found: nope",
        ),
        (
            "Action=DescribeCacheSecurityGroups&Version=2015-02-02",
            "InvalidParameterValue",
            400,
            "Use of cache security groups is not permitted in this API version for your account.",
        ),
        (
            "Action=DescribeServiceUpdates&Version=2015-02-02&Marker=abc",
            "InvalidParameterValue",
            400,
            "Invalid Marker",
        ),
        (
            "Action=CreateGlobalReplicationGroup&Version=2015-02-02&GlobalReplicationGroupIdSuffix=x&PrimaryReplicationGroupId=ro",
            "InvalidAction",
            400,
            "CreateGlobalReplicationGroup",
        ),
    ];
    for (request, code, status, text) in table {
        let (got, body) = raw_post(&ep, request.as_bytes(), SECRET, None).await;
        assert_eq!(error_code(&body), *code, "{request}: {body}");
        assert_eq!(got, *status, "{request}: {body}");
        assert!(message(&body).contains(text), "{request}: {body}");
    }
}
