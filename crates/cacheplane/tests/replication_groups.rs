//! End to end through the real `aws-sdk-elasticache` client and a real Redis client: create a group of one
//! primary and two replicas, prove replication through every endpoint, check what Describe says, delete, and
//! prove every node process is gone.

mod common;

use std::time::Duration;

use aws_sdk_elasticache::types::Tag;
use common::*;
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_replicate_describe_delete() {
    let d = Daemon::start();
    let c = d.client();
    let created = c
        .create_replication_group()
        .replication_group_id("E2e-Group")
        .replication_group_description("end to end")
        .num_cache_clusters(3)
        .cache_node_type("cache.t3.small")
        .security_group_ids("sg-0123abcd")
        .tags(Tag::builder().key("team").value("cache").build())
        .send()
        .await
        .expect("create");
    let rg = created.replication_group().expect("group");
    assert_eq!(
        rg.replication_group_id(),
        Some("e2e-group"),
        "ids are stored lower-cased"
    );
    assert_eq!(rg.status(), Some("creating"));

    let g = wait_available(&c, "e2e-group", Duration::from_secs(30)).await;
    assert_eq!(
        g.member_clusters(),
        ["e2e-group-001", "e2e-group-002", "e2e-group-003"]
    );
    assert_eq!(g.cache_node_type(), Some("cache.t3.small"));
    assert_eq!(g.cluster_enabled(), Some(false));
    assert_eq!(
        g.arn(),
        Some("arn:aws:elasticache:us-east-1:000000000000:replicationgroup:e2e-group")
    );
    assert!(g.replication_group_create_time().is_some());
    assert_eq!(g.engine(), Some("redis"));
    let ng = &g.node_groups()[0];
    assert_eq!(ng.node_group_id(), Some("0001"));
    let members = ng.node_group_members();
    assert_eq!(members.len(), 3);
    let roles: Vec<_> = members
        .iter()
        .map(|m| m.current_role().unwrap_or("?"))
        .collect();
    assert_eq!(
        roles,
        ["primary", "replica", "replica"],
        "roles as the nodes report them"
    );
    let zones: Vec<_> = members
        .iter()
        .map(|m| m.preferred_availability_zone().unwrap_or("?"))
        .collect();
    assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);

    // 1,000 keys through the primary endpoint, read back from each replica node and through the reader endpoint.
    let mut primary =
        redis_conn(&redis_url(ng.primary_endpoint().expect("primary endpoint"))).await;
    for i in 0..1000 {
        let _: () = primary
            .set(format!("key:{i}"), format!("value:{i}"))
            .await
            .expect("set");
    }
    let _: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query_async(&mut primary)
        .await
        .expect("wait");
    let mut urls: Vec<String> = members
        .iter()
        .filter(|m| m.current_role() == Some("replica"))
        .map(|m| redis_url(m.read_endpoint().expect("ep")))
        .collect();
    urls.push(redis_url(ng.reader_endpoint().expect("reader endpoint")));
    for url in &urls {
        let mut r = redis_conn(url).await;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut r).await.expect("role");
        assert_eq!(
            role.first(),
            Some(&redis::Value::BulkString(b"slave".to_vec())),
            "{url} is a replica"
        );
        for i in 0..1000 {
            let v: Option<String> = r.get(format!("key:{i}")).await.expect("get");
            assert_eq!(
                v.as_deref(),
                Some(format!("value:{i}").as_str()),
                "{url} key:{i}"
            );
        }
        // A replica refuses writes.
        let e = r.set::<_, _, ()>("x", "y").await.expect_err("read-only");
        assert_eq!(e.kind(), redis::ErrorKind::ReadOnly, "{e}");
    }

    // Member clusters as Terraform reads them.
    let cc = c
        .describe_cache_clusters()
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe clusters");
    let clusters = cc.cache_clusters();
    assert_eq!(clusters.len(), 3);
    for cl in clusters {
        assert_eq!(cl.replication_group_id(), Some("e2e-group"));
        assert_eq!(cl.cache_cluster_status(), Some("available"));
        assert_eq!(
            cl.cache_parameter_group()
                .and_then(|p| p.cache_parameter_group_name()),
            Some("default.redis7")
        );
        assert_eq!(
            cl.security_groups()[0].security_group_id(),
            Some("sg-0123abcd")
        );
        let node = &cl.cache_nodes()[0];
        assert_eq!(node.cache_node_status(), Some("available"));
        assert!(node.cache_node_create_time().is_some());
        assert_eq!(node.parameter_group_status(), Some("in-sync"));
        assert!(node.endpoint().and_then(|e| e.address()).is_some());
    }
    let one = c
        .describe_cache_clusters()
        .cache_cluster_id("e2e-group-002")
        .send()
        .await
        .expect("one");
    assert!(
        one.cache_clusters()[0].cache_nodes().is_empty(),
        "no node info unless asked"
    );
    let missing = c
        .describe_cache_clusters()
        .cache_cluster_id("nope-001")
        .send()
        .await
        .expect_err("missing");
    assert!(missing
        .into_service_error()
        .is_cache_cluster_not_found_fault());

    // Tags, given at create and changed afterwards.
    let arn = g.arn().expect("arn").to_string();
    let tags = c
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .expect("list tags");
    assert_eq!(tags.tag_list().len(), 1);
    c.add_tags_to_resource()
        .resource_name(&arn)
        .tags(Tag::builder().key("env").value("test").build())
        .send()
        .await
        .expect("add");
    let after = c
        .remove_tags_from_resource()
        .resource_name(&arn)
        .tag_keys("team")
        .send()
        .await
        .expect("remove");
    let keys: Vec<_> = after.tag_list().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["env"]);
    let nf = c
        .remove_tags_from_resource()
        .resource_name(&arn)
        .tag_keys("absent")
        .send()
        .await
        .expect_err("absent");
    assert_eq!(nf.into_service_error().meta().code(), Some("TagNotFound"));

    // Events of the creation.
    let ev = c
        .describe_events()
        .source_type(aws_sdk_elasticache::types::SourceType::ReplicationGroup)
        .send()
        .await
        .expect("events");
    let msgs: Vec<_> = ev.events().iter().filter_map(|e| e.message()).collect();
    assert!(
        msgs.contains(&"Replication group e2e-group created"),
        "{msgs:?}"
    );

    // A second create with the same id is refused and changes nothing.
    let dup = c
        .create_replication_group()
        .replication_group_id("e2e-group")
        .replication_group_description("again")
        .send()
        .await
        .expect_err("duplicate");
    assert!(dup
        .into_service_error()
        .is_replication_group_already_exists_fault());

    // Delete: deleting, then gone, with every node process stopped and its data removed.
    let pids = d.node_pids();
    assert_eq!(pids.len(), 3);
    let del = c
        .delete_replication_group()
        .replication_group_id("E2E-GROUP")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        del.replication_group().and_then(|g| g.status()),
        Some("deleting")
    );
    wait_deleted(&c, "e2e-group", Duration::from_secs(30)).await;
    for (name, pid) in pids {
        assert!(
            !engine::process::is_redis_alive(pid),
            "{name} (pid {pid}) still runs"
        );
    }
    assert!(d.node_pids().is_empty(), "node directories removed");
    let err = c
        .describe_replication_groups()
        .replication_group_id("e2e-group")
        .send()
        .await
        .expect_err("gone");
    let raw = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw, Some(404));
    assert!(err
        .into_service_error()
        .is_replication_group_not_found_fault());
    let ev = c
        .describe_events()
        .source_identifier("e2e-group")
        .send()
        .await
        .expect("events");
    assert!(ev
        .events()
        .iter()
        .any(|e| e.message() == Some("Replication group e2e-group deleted")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_cannot_run_admin_commands_on_nodes() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("acl")
        .replication_group_description("acl")
        .replicas_per_node_group(1)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "acl", Duration::from_secs(30)).await;
    let ng = &g.node_groups()[0];
    let node = ng.node_group_members()[0]
        .read_endpoint()
        .expect("ep")
        .clone();
    for url in [
        redis_url(&node),
        redis_url(ng.primary_endpoint().expect("ep")),
    ] {
        let mut r = redis_conn(&url).await;
        for cmd in [
            vec!["REPLICAOF", "NO", "ONE"],
            vec!["CONFIG", "SET", "maxmemory", "1"],
            vec!["SHUTDOWN", "NOSAVE"],
            vec!["ACL", "SETUSER", "intruder", "on", "+@all"],
            vec!["BGSAVE"],
            vec!["FAILOVER"],
        ] {
            let mut q = redis::cmd(cmd[0]);
            for a in &cmd[1..] {
                q.arg(*a);
            }
            let res: redis::RedisResult<redis::Value> = q.query_async(&mut r).await;
            let e = res.expect_err(&format!("{cmd:?} must be refused"));
            assert!(e.to_string().contains("NOPERM"), "{cmd:?}: {e}");
        }
        let pong: String = redis::cmd("PING")
            .query_async(&mut r)
            .await
            .expect("ping still works");
        assert_eq!(pong, "PONG");
    }
    // The nodes are still what the control plane made them.
    let g = wait_available(&c, "acl", Duration::from_secs(5)).await;
    let roles: Vec<_> = g.node_groups()[0]
        .node_group_members()
        .iter()
        .map(|m| m.current_role().unwrap_or("?"))
        .collect();
    assert_eq!(roles, ["primary", "replica"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_primary_cluster_keeps_the_primary_with_its_data() {
    let d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("retain")
        .replication_group_description("retain")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    let g = wait_available(&c, "retain", Duration::from_secs(30)).await;
    let members = g.node_groups()[0].node_group_members().to_vec();
    let mut p = redis_conn(&redis_url(
        g.node_groups()[0].primary_endpoint().expect("ep"),
    ))
    .await;
    let _: () = p.set("kept", "yes").await.expect("set");
    drop(p);
    let pids = d.node_pids();
    c.delete_replication_group()
        .replication_group_id("retain")
        .retain_primary_cluster(true)
        .send()
        .await
        .expect("delete");
    wait_deleted(&c, "retain", Duration::from_secs(30)).await;

    // The primary is now a standalone cluster, still serving its data on its own address; the replica is gone.
    let cc = c
        .describe_cache_clusters()
        .show_cache_node_info(true)
        .send()
        .await
        .expect("describe");
    let ids: Vec<_> = cc
        .cache_clusters()
        .iter()
        .filter_map(|c| c.cache_cluster_id())
        .collect();
    assert_eq!(ids, ["retain-001"]);
    assert_eq!(cc.cache_clusters()[0].replication_group_id(), None);
    let (_, replica_pid) = pids
        .iter()
        .find(|(n, _)| n == "retain-002")
        .expect("replica pid");
    assert!(
        !engine::process::is_redis_alive(*replica_pid),
        "replica stopped"
    );
    let mut node = redis_conn(&redis_url(members[0].read_endpoint().expect("ep"))).await;
    let v: String = node.get("kept").await.expect("get");
    assert_eq!(v, "yes");
    let _: () = node
        .set("still", "writable")
        .await
        .expect("a primary takes writes");

    // A member of a group cannot be deleted on its own; the standalone cluster can.
    c.create_replication_group()
        .replication_group_id("other")
        .replication_group_description("o")
        .send()
        .await
        .expect("create");
    wait_available(&c, "other", Duration::from_secs(30)).await;
    let e = c
        .delete_cache_cluster()
        .cache_cluster_id("other-001")
        .send()
        .await
        .expect_err("member");
    assert_eq!(
        e.into_service_error().meta().code(),
        Some("InvalidCacheClusterState")
    );
    let (_, primary_pid) = pids.iter().find(|(n, _)| n == "retain-001").expect("pid");
    let out = c
        .delete_cache_cluster()
        .cache_cluster_id("retain-001")
        .send()
        .await
        .expect("delete cluster");
    assert_eq!(
        out.cache_cluster().and_then(|c| c.cache_cluster_status()),
        Some("deleting")
    );
    // As on AWS, the cluster is `deleting` until its node is stopped and its data removed.
    eventually("the cluster is gone", Duration::from_secs(30), || async {
        c.describe_cache_clusters()
            .cache_cluster_id("retain-001")
            .send()
            .await
            .is_err_and(|e| {
                e.as_service_error()
                    .is_some_and(|s| s.is_cache_cluster_not_found_fault())
            })
    })
    .await;
    assert!(
        !engine::process::is_redis_alive(*primary_pid),
        "node stopped"
    );
}
