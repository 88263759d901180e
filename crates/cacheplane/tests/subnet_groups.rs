//! Cache subnet groups end to end: the `default` group, create/modify/describe/delete with AWS's errors and
//! statuses, tags on their ARNs, and their effect: a group's nodes are placed only in the zones of its subnet group's
//! subnets, and a subnet group in use cannot be deleted nor lose the zone a node is in.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::Tag;
use common::*;
use redis::AsyncCommands;

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subnet_groups_place_nodes_and_guard_their_use() {
    let d = Daemon::start();
    let c = d.client();
    let ep = d.endpoint();

    // The default group: one subnet per zone, in one VPC.
    let out = c
        .describe_cache_subnet_groups()
        .send()
        .await
        .expect("describe");
    let default = &out.cache_subnet_groups()[0];
    assert_eq!(default.cache_subnet_group_name(), Some("default"));
    assert_eq!(
        default.cache_subnet_group_description(),
        Some("Default CacheSubnetGroup")
    );
    let vpc = default.vpc_id().expect("vpc").to_string();
    assert!(vpc.starts_with("vpc-"), "{vpc}");
    let zones: BTreeSet<&str> = default
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_availability_zone().and_then(|z| z.name()))
        .collect();
    assert_eq!(
        zones,
        BTreeSet::from(["us-east-1a", "us-east-1b", "us-east-1c"])
    );

    // Bad input: AWS's codes and statuses (CacheSubnetGroupNotFoundFault is a 400), nothing created.
    let table: &[(&str, &str, u16)] = &[
        (
            "Action=CreateCacheSubnetGroup&Version=2015-02-02&CacheSubnetGroupName=x&CacheSubnetGroupDescription=d&SubnetIds.SubnetIdentifier.1=subnet-xyz",
            "InvalidSubnet",
            400,
        ),
        (
            "Action=CreateCacheSubnetGroup&Version=2015-02-02&CacheSubnetGroupName=x&CacheSubnetGroupDescription=d",
            "MissingParameter",
            400,
        ),
        (
            "Action=CreateCacheSubnetGroup&Version=2015-02-02&CacheSubnetGroupName=bad_name&CacheSubnetGroupDescription=d&SubnetIds.SubnetIdentifier.1=subnet-0123abcd",
            "InvalidParameterValue",
            400,
        ),
        (
            "Action=DescribeCacheSubnetGroups&Version=2015-02-02&CacheSubnetGroupName=nope",
            "CacheSubnetGroupNotFoundFault",
            400,
        ),
        (
            "Action=ModifyCacheSubnetGroup&Version=2015-02-02&CacheSubnetGroupName=nope&CacheSubnetGroupDescription=d",
            "CacheSubnetGroupNotFoundFault",
            400,
        ),
        (
            "Action=DeleteCacheSubnetGroup&Version=2015-02-02&CacheSubnetGroupName=nope",
            "CacheSubnetGroupNotFoundFault",
            400,
        ),
        (
            "Action=DeleteCacheSubnetGroup&Version=2015-02-02&CacheSubnetGroupName=default",
            "CacheSubnetGroupInUse",
            400,
        ),
        (
            "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&ReplicationGroupDescription=d&CacheSubnetGroupName=nope",
            "CacheSubnetGroupNotFoundFault",
            400,
        ),
    ];
    for (request, code, status) in table {
        let (got, body) = raw_post(&ep, request.as_bytes(), SECRET, None).await;
        assert_eq!(error_code(&body), *code, "{request}: {body}");
        assert_eq!(got, *status, "{request}: {body}");
    }
    let twenty_one: Vec<String> = (0..21).map(|i| format!("subnet-{i:08x}")).collect();
    let e = c
        .create_cache_subnet_group()
        .cache_subnet_group_name("too-many")
        .cache_subnet_group_description("d")
        .set_subnet_ids(Some(twenty_one))
        .send()
        .await
        .expect_err("21 subnets");
    assert_eq!(e.code(), Some("CacheSubnetQuotaExceededFault"));
    assert_eq!(
        c.describe_cache_subnet_groups()
            .send()
            .await
            .expect("describe")
            .cache_subnet_groups()
            .len(),
        1,
        "nothing was created"
    );

    // A group of one subnet: its one zone is where every node goes. Names are stored lower-cased.
    let many: Vec<String> = (0..12)
        .map(|i| format!("subnet-{:08x}", 0xabc0 + i))
        .collect();
    let wide = c
        .create_cache_subnet_group()
        .cache_subnet_group_name("Wide")
        .cache_subnet_group_description("many subnets")
        .set_subnet_ids(Some(many.clone()))
        .tags(tag("team", "cache"))
        .tags(tag("env", "test"))
        .send()
        .await
        .expect("create wide");
    let wide = wide.cache_subnet_group().expect("group");
    assert_eq!(wide.cache_subnet_group_name(), Some("wide"));
    assert_eq!(wide.vpc_id(), Some(vpc.as_str()));
    let zone_of = |id: &str| -> String {
        wide.subnets()
            .iter()
            .find(|s| s.subnet_identifier() == Some(id))
            .and_then(|s| s.subnet_availability_zone())
            .and_then(|z| z.name())
            .expect("zone")
            .to_string()
    };
    let one = many[0].clone();
    let one_zone = zone_of(&one);
    // Another subnet in another zone, for the modification below.
    let other = many
        .iter()
        .find(|s| zone_of(s) != one_zone)
        .expect("12 subnets span more than one zone")
        .clone();
    let e = c
        .create_cache_subnet_group()
        .cache_subnet_group_name("wide")
        .cache_subnet_group_description("again")
        .subnet_ids(&one)
        .send()
        .await
        .expect_err("exists");
    assert_eq!(e.code(), Some("CacheSubnetGroupAlreadyExists"));
    c.create_cache_subnet_group()
        .cache_subnet_group_name("narrow")
        .cache_subnet_group_description("one subnet")
        .subnet_ids(&one)
        .send()
        .await
        .expect("create narrow");

    // Tags on the subnet group's ARN, listed in the order they were added; the default group takes none.
    let arn = wide.arn().expect("arn").to_string();
    assert_eq!(
        arn,
        format!("arn:aws:elasticache:us-east-1:000000000000:subnetgroup:wide")
    );
    let tags = c
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .expect("tags");
    let keys: Vec<&str> = tags.tag_list().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["team", "env"]);
    let e = c
        .add_tags_to_resource()
        .resource_name("arn:aws:elasticache:us-east-1:000000000000:subnetgroup:default")
        .tags(tag("k", "v"))
        .send()
        .await
        .expect_err("default takes no tags");
    assert_eq!(e.code(), Some("InvalidARN"));

    // A zone outside the subnet group is refused; without zones, all three nodes go to its one zone.
    let e = c
        .create_replication_group()
        .replication_group_id("placed")
        .replication_group_description("in narrow")
        .cache_subnet_group_name("narrow")
        .num_cache_clusters(2)
        .preferred_cache_cluster_azs(&one_zone)
        .preferred_cache_cluster_azs(
            ["us-east-1a", "us-east-1b", "us-east-1c"]
                .into_iter()
                .find(|z| *z != one_zone)
                .expect("another zone"),
        )
        .send()
        .await
        .expect_err("a zone without a subnet");
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    c.create_replication_group()
        .replication_group_id("placed")
        .replication_group_description("in narrow")
        .cache_subnet_group_name("NARROW")
        .num_cache_clusters(3)
        .send()
        .await
        .expect("create in narrow");
    let g = wait_available(&c, "placed", Duration::from_secs(30)).await;
    let members = g.node_groups()[0].node_group_members();
    assert_eq!(members.len(), 3);
    for m in members {
        assert_eq!(m.preferred_availability_zone(), Some(one_zone.as_str()));
    }
    for id in g.member_clusters() {
        let cc = c
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
            .expect("cluster");
        let cc = &cc.cache_clusters()[0];
        assert_eq!(cc.cache_subnet_group_name(), Some("narrow"));
        assert_eq!(cc.preferred_availability_zone(), Some(one_zone.as_str()));
    }
    // The group works: a key written through the primary is read from a replica.
    let ng = &g.node_groups()[0];
    let mut p = redis_conn(&redis_url(ng.primary_endpoint().expect("primary"))).await;
    let _: () = p.set("placed", "yes").await.expect("set");
    let r = redis_conn(&redis_url(ng.reader_endpoint().expect("reader"))).await;
    eventually("the replica has the key", Duration::from_secs(10), || {
        let mut r = r.clone();
        async move {
            let v: Option<String> = r.get("placed").await.expect("get");
            (v.as_deref() == Some("yes")).then_some(()).ok_or(v)
        }
    })
    .await;
    // A new replica lands in the subnet group's zone too.
    c.increase_replica_count()
        .replication_group_id("placed")
        .new_replica_count(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("increase");
    let g = wait_available(&c, "placed", Duration::from_secs(30)).await;
    assert_eq!(g.node_groups()[0].node_group_members().len(), 4);
    assert!(g.node_groups()[0]
        .node_group_members()
        .iter()
        .all(|m| m.preferred_availability_zone() == Some(one_zone.as_str())));

    // In use: not deleted, and the subnet of the nodes' zone cannot go; the description can change.
    let e = c
        .delete_cache_subnet_group()
        .cache_subnet_group_name("narrow")
        .send()
        .await
        .expect_err("in use");
    assert_eq!(e.code(), Some("CacheSubnetGroupInUse"));
    let e = c
        .modify_cache_subnet_group()
        .cache_subnet_group_name("narrow")
        .subnet_ids(&other)
        .send()
        .await
        .expect_err("its zone holds nodes");
    assert_eq!(e.code(), Some("SubnetInUse"));
    let m = c
        .modify_cache_subnet_group()
        .cache_subnet_group_name("narrow")
        .cache_subnet_group_description("one subnet, then two")
        .subnet_ids(&one)
        .subnet_ids(&other)
        .send()
        .await
        .expect("modify");
    let m = m.cache_subnet_group().expect("group");
    assert_eq!(m.subnets().len(), 2);
    assert_eq!(
        m.cache_subnet_group_description(),
        Some("one subnet, then two")
    );

    // Paging: MaxRecords 20 over default and two groups gives one page; the Marker of an unknown page is refused.
    let page = c
        .describe_cache_subnet_groups()
        .max_records(20)
        .send()
        .await
        .expect("page");
    let names: Vec<&str> = page
        .cache_subnet_groups()
        .iter()
        .filter_map(|g| g.cache_subnet_group_name())
        .collect();
    assert_eq!(names, ["default", "narrow", "wide"]);
    assert_eq!(page.marker(), None);

    // Once the group is gone, so may the subnet group be (with its tags).
    c.delete_replication_group()
        .replication_group_id("placed")
        .send()
        .await
        .expect("delete group");
    wait_deleted(&c, "placed", Duration::from_secs(30)).await;
    c.delete_cache_subnet_group()
        .cache_subnet_group_name("narrow")
        .send()
        .await
        .expect("delete narrow");
    c.delete_cache_subnet_group()
        .cache_subnet_group_name("wide")
        .send()
        .await
        .expect("delete wide");
    let e = c
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("wide")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(e.code(), Some("CacheSubnetGroupNotFoundFault"));
    // It survives a daemon restart while it exists: recreate, restart, describe.
    c.create_cache_subnet_group()
        .cache_subnet_group_name("kept")
        .cache_subnet_group_description("across a restart")
        .subnet_ids(&one)
        .send()
        .await
        .expect("create kept");
    drop(c);
    let mut d = d;
    d.kill9();
    d.spawn();
    let c = d.client();
    let kept = c
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("kept")
        .send()
        .await
        .expect("kept");
    assert_eq!(
        kept.cache_subnet_groups()[0].subnets()[0].subnet_identifier(),
        Some(one.as_str())
    );
}
