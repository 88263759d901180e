//! The XML of every output shape, byte for byte, against fixtures captured from the hand-written writers this crate
//! had before outputs were declared (`output!`): element order, lists' item names, empty lists (`<X/>` or
//! `<X></X>`), timestamps, booleans, numbers, escaping, left-out optional members. Each shape is rendered fully populated (every optional member
//! given, every list with items) and bare (every optional member absent, every list empty), inside its envelope.
//! `CACHEPLANE_BLESS=1 cargo test -p wire --test xml_fixtures` rewrites the fixtures.

use chrono::{TimeZone, Utc};
use wire::output::*;

fn t(s: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 123_000_000)
        .single()
        .expect("time")
}

fn ep(a: &str, p: u16) -> Endpoint {
    Endpoint {
        address: a.into(),
        port: p,
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn deliveries() -> Vec<LogDeliveryConfiguration> {
    vec![
        LogDeliveryConfiguration {
            log_type: s("slow-log"),
            destination_type: s("cloudwatch-logs"),
            destination: s("/aws/elasticache/<slow>&"),
            log_format: s("json"),
            status: s("active"),
            message: Some(s("delivering")),
        },
        LogDeliveryConfiguration {
            log_type: s("engine-log"),
            destination_type: s("kinesis-firehose"),
            destination: s("stream-1"),
            log_format: s("text"),
            status: s("enabling"),
            message: None,
        },
    ]
}

pub fn replication_group_full() -> ReplicationGroup {
    ReplicationGroup {
        replication_group_id: s("rg-1"),
        description: s("a \"group\" <one>"),
        status: s("modifying"),
        pending: ReplicationGroupPending {
            primary_cluster_id: Some(s("rg-1-002")),
            automatic_failover_status: Some(s("enabled")),
            auth_token_status: Some(s("ROTATING")),
            transit_encryption_enabled: Some(true),
            transit_encryption_mode: Some(s("preferred")),
            cluster_mode: Some(s("compatible")),
            resharding_progress: Some(42.25),
            user_groups: Some((sv(&["ug-a", "ug-b"]), sv(&["ug-c"]))),
            log_delivery: deliveries(),
        },
        log_delivery: deliveries(),
        member_clusters: sv(&["rg-1-001", "rg-1-002"]),
        node_groups: vec![
            NodeGroup {
                node_group_id: s("0001"),
                status: s("available"),
                primary_endpoint: Some(ep("primary.example", 6379)),
                reader_endpoint: Some(ep("reader.example", 6380)),
                slots: Some(s("0-5461,10923-11000")),
                members: vec![
                    NodeGroupMember {
                        cache_cluster_id: s("rg-1-001"),
                        cache_node_id: s("0001"),
                        read_endpoint: Some(ep("n1.example", 6379)),
                        preferred_availability_zone: Some(s("us-east-1a")),
                        current_role: Some(s("primary")),
                    },
                    NodeGroupMember {
                        cache_cluster_id: s("rg-1-002"),
                        cache_node_id: s("0001"),
                        read_endpoint: None,
                        preferred_availability_zone: None,
                        current_role: None,
                    },
                ],
            },
            NodeGroup {
                node_group_id: s("0002"),
                status: s("creating"),
                primary_endpoint: None,
                reader_endpoint: None,
                slots: None,
                members: vec![],
            },
        ],
        snapshotting_cluster_id: Some(s("rg-1-002")),
        automatic_failover: s("enabled"),
        multi_az: s("enabled"),
        snapshot_retention_limit: 5,
        snapshot_window: Some(s("05:00-06:00")),
        configuration_endpoint: Some(ep("config.example", 6379)),
        cluster_enabled: true,
        cache_node_type: s("cache.t3.micro"),
        auth_token_enabled: true,
        auth_token_last_modified_date: Some(t(5)),
        transit_encryption_enabled: true,
        transit_encryption_mode: Some(s("required")),
        at_rest_encryption_enabled: true,
        arn: s("arn:aws:elasticache:us-east-1:000000000000:replicationgroup:rg-1"),
        user_group_ids: sv(&["ug-a"]),
        create_time: t(0),
        data_tiering: s("disabled"),
        auto_minor_version_upgrade: true,
        network_type: s("ipv4"),
        ip_discovery: s("ipv4"),
        cluster_mode: s("enabled"),
        engine: s("redis"),
    }
}

pub fn cache_cluster_full() -> CacheCluster {
    CacheCluster {
        cache_cluster_id: s("cc-1"),
        configuration_endpoint: Some(ep("cfg.cc-1.example", 11211)),
        client_download_landing_page: Some(s("https://example/download")),
        pending_num_cache_nodes: Some(3),
        pending_cache_node_ids_to_remove: sv(&["0002", "0003"]),
        cache_node_type: s("cache.m5.large"),
        engine: s("memcached"),
        engine_version: s("1.6.22"),
        status: s("modifying"),
        num_cache_nodes: 2,
        preferred_availability_zone: Some(s("us-east-1b")),
        create_time: Some(t(10)),
        preferred_maintenance_window: s("sun:05:00-sun:06:00"),
        pending_engine_version: Some(s("1.6.23")),
        pending_cache_node_type: Some(s("cache.m5.xlarge")),
        notification: Some((s("arn:aws:sns:us-east-1:000000000000:t"), s("active"))),
        cache_parameter_group_name: s("default.memcached1.6"),
        parameter_apply_status: s("pending-reboot"),
        cache_node_ids_to_reboot: sv(&["0001"]),
        log_delivery: deliveries(),
        replication_group_log_delivery_enabled: true,
        pending_log_delivery: deliveries(),
        cache_subnet_group_name: Some(s("default")),
        cache_nodes: Some(vec![
            CacheNode {
                cache_node_id: s("0001"),
                status: s("available"),
                create_time: Some(t(11)),
                endpoint: Some(ep("n1.cc-1.example", 11211)),
                parameter_group_status: s("in-sync"),
                customer_availability_zone: Some(s("us-east-1b")),
            },
            CacheNode {
                cache_node_id: s("0002"),
                status: s("creating"),
                create_time: None,
                endpoint: None,
                parameter_group_status: s("in-sync"),
                customer_availability_zone: None,
            },
        ]),
        auto_minor_version_upgrade: true,
        security_group_ids: sv(&["sg-1", "sg-2"]),
        replication_group_id: Some(s("rg-1")),
        snapshot_retention_limit: 1,
        snapshot_window: Some(s("03:00-04:00")),
        auth_token_enabled: true,
        transit_encryption_enabled: true,
        transit_encryption_mode: Some(s("preferred")),
        at_rest_encryption_enabled: true,
        arn: s("arn:aws:elasticache:us-east-1:000000000000:cluster:cc-1"),
        network_type: s("ipv4"),
        ip_discovery: s("ipv4"),
    }
}

pub fn snapshot_full() -> Snapshot {
    Snapshot {
        snapshot_name: s("snap-1"),
        replication_group_id: s("rg-1"),
        cache_cluster_id: Some(s("cc-1")),
        replication_group_description: s("the group"),
        snapshot_status: s("available"),
        snapshot_source: s("manual"),
        cache_node_type: s("cache.t3.micro"),
        engine: s("redis"),
        engine_version: s("7.1.0"),
        preferred_maintenance_window: s("sun:05:00-sun:06:00"),
        port: 6379,
        cache_parameter_group_name: s("default.redis7"),
        auto_minor_version_upgrade: true,
        snapshot_retention_limit: 0,
        snapshot_window: s("05:00-06:00"),
        automatic_failover: s("disabled"),
        num_node_groups: 2,
        node_snapshots: vec![
            NodeSnapshot {
                cache_cluster_id: s("rg-1-0001-001"),
                node_group_id: s("0001"),
                cache_size: s("5 MB"),
                cache_node_create_time: t(1),
                snapshot_create_time: Some(t(2)),
                node_group_config: Some(NodeGroupConfig {
                    primary_availability_zone: s("us-east-1a"),
                    replica_count: 2,
                    slots: Some(s("0-8191")),
                }),
            },
            NodeSnapshot {
                cache_cluster_id: s("rg-1-0002-001"),
                node_group_id: s("0002"),
                cache_size: s("0 MB"),
                cache_node_create_time: t(3),
                snapshot_create_time: None,
                node_group_config: Some(NodeGroupConfig {
                    primary_availability_zone: s("us-east-1b"),
                    replica_count: 0,
                    slots: None,
                }),
            },
        ],
        arn: s("arn:aws:elasticache:us-east-1:000000000000:snapshot:snap-1"),
    }
}

pub fn user_full() -> User {
    User {
        user_id: s("u-1"),
        user_name: s("alice"),
        status: s("active"),
        engine: s("redis"),
        minimum_engine_version: s("6.0"),
        access_string: s("on ~* +@all"),
        user_group_ids: sv(&["ug-a", "ug-b"]),
        authentication_type: s("password"),
        password_count: Some(2),
        arn: s("arn:aws:elasticache:us-east-1:000000000000:user:u-1"),
    }
}

pub fn user_group_full() -> UserGroup {
    UserGroup {
        user_group_id: s("ug-a"),
        status: s("modifying"),
        engine: s("redis"),
        user_ids: sv(&["default", "u-1"]),
        minimum_engine_version: s("6.0"),
        pending_add: sv(&["u-2"]),
        pending_remove: sv(&["u-3"]),
        replication_groups: sv(&["rg-1"]),
        arn: s("arn:aws:elasticache:us-east-1:000000000000:usergroup:ug-a"),
    }
}

pub fn event() -> Event {
    Event {
        source_identifier: s("rg-1"),
        source_type: s("replication-group"),
        message: s("Replication group rg-1 created & <ready>"),
        date: t(20),
    }
}

pub fn subnet_group_full() -> CacheSubnetGroup {
    CacheSubnetGroup {
        name: s("sn-1"),
        description: s("subnets"),
        vpc_id: s("vpc-1"),
        subnets: vec![
            (s("subnet-1"), s("us-east-1a")),
            (s("subnet-2"), s("us-east-1b")),
        ],
        arn: s("arn:aws:elasticache:us-east-1:000000000000:subnetgroup:sn-1"),
    }
}

pub fn parameter_group() -> CacheParameterGroup {
    CacheParameterGroup {
        name: s("pg-1"),
        family: s("redis7"),
        description: s("mine"),
        arn: s("arn:aws:elasticache:us-east-1:000000000000:parametergroup:pg-1"),
    }
}

pub fn parameters() -> (Vec<Parameter>, Vec<Parameter>) {
    let plain = vec![
        Parameter {
            name: s("maxmemory-policy"),
            value: Some(s("volatile-lru")),
            description: s("eviction"),
            source: s("user"),
            data_type: s("string"),
            allowed_values: Some(s("volatile-lru,allkeys-lru")),
            is_modifiable: true,
            minimum_engine_version: s("7.0.0"),
            change_type: s("immediate"),
            node_type_values: vec![],
        },
        Parameter {
            name: s("notify-keyspace-events"),
            value: None,
            description: s("events"),
            source: s("system"),
            data_type: s("string"),
            allowed_values: None,
            is_modifiable: false,
            minimum_engine_version: s("7.0.0"),
            change_type: s("requires-reboot"),
            node_type_values: vec![],
        },
    ];
    let specific = vec![Parameter {
        name: s("maxmemory"),
        value: None,
        description: s("memory"),
        source: s("system"),
        data_type: s("integer"),
        allowed_values: None,
        is_modifiable: false,
        minimum_engine_version: s("7.0.0"),
        change_type: s("immediate"),
        node_type_values: vec![
            (s("cache.t3.micro"), s("536870912")),
            (s("cache.t3.small"), s("1073741824")),
        ],
    }];
    (plain, specific)
}

pub fn engine_version() -> CacheEngineVersion {
    CacheEngineVersion {
        engine: s("redis"),
        engine_version: s("7.1.0"),
        parameter_group_family: s("redis7"),
        description: s("Redis"),
        version_description: s("Redis 7.1.0"),
    }
}

/// Every shape, by fixture name: the response document the API answers with it.
fn documents() -> Vec<(&'static str, String)> {
    let rid = "req-1";
    let rg = replication_group_full();
    let rg_bare = ReplicationGroup::default();
    let cc = cache_cluster_full();
    let cc_bare = CacheCluster::default();
    let cc_no_nodes = CacheCluster {
        cache_nodes: Some(vec![]),
        ..Default::default()
    };
    let snap = snapshot_full();
    let snap_bare = Snapshot {
        node_snapshots: vec![NodeSnapshot::default()],
        ..Default::default()
    };
    let user = user_full();
    let user_bare = User::default();
    let ug = user_group_full();
    let ug_bare = UserGroup::default();
    let ug_add_only = UserGroup {
        pending_add: sv(&["u-9"]),
        ..Default::default()
    };
    let ev = event();
    let sng = subnet_group_full();
    let sng_bare = CacheSubnetGroup::default();
    let pg = parameter_group();
    let (plain, specific) = parameters();
    let ver = engine_version();
    let tags = vec![(s("k1"), s("v1")), (s("k2"), s(""))];
    documents_now(
        rid,
        &rg,
        &rg_bare,
        &cc,
        &cc_bare,
        &cc_no_nodes,
        &snap,
        &snap_bare,
        &user,
        &user_bare,
        &ug,
        &ug_bare,
        &ug_add_only,
        &ev,
        &sng,
        &sng_bare,
        &pg,
        &plain,
        &specific,
        &ver,
        &tags,
    )
}

#[allow(clippy::too_many_arguments)]
fn documents_now(
    rid: &str,
    rg: &ReplicationGroup,
    rg_bare: &ReplicationGroup,
    cc: &CacheCluster,
    cc_bare: &CacheCluster,
    cc_no_nodes: &CacheCluster,
    snap: &Snapshot,
    snap_bare: &Snapshot,
    user: &User,
    user_bare: &User,
    ug: &UserGroup,
    ug_bare: &UserGroup,
    ug_add_only: &UserGroup,
    ev: &Event,
    sng: &CacheSubnetGroup,
    sng_bare: &CacheSubnetGroup,
    pg: &CacheParameterGroup,
    plain: &[Parameter],
    specific: &[Parameter],
    ver: &CacheEngineVersion,
    tags: &[(String, String)],
) -> Vec<(&'static str, String)> {
    let marker = || Some(s("marker-2"));
    let tag_list = || TagListMessage::from(tags.to_vec());
    let details = |marker: Option<String>, plain: &[Parameter], specific: &[Parameter]| {
        CacheParameterGroupDetails {
            marker,
            parameters: plain.to_vec(),
            cache_node_type_specific_parameters: specific.to_vec(),
        }
    };
    vec![
        (
            "replication_group",
            respond(
                "CreateReplicationGroup",
                rid,
                &ReplicationGroupResult::from(rg.clone()),
            ),
        ),
        (
            "replication_group_bare",
            respond(
                "DeleteReplicationGroup",
                rid,
                &ReplicationGroupResult::from(rg_bare.clone()),
            ),
        ),
        (
            "replication_groups_page",
            respond(
                "DescribeReplicationGroups",
                rid,
                &ReplicationGroupMessage::from((vec![rg.clone(), rg_bare.clone()], marker())),
            ),
        ),
        (
            "replication_groups_empty_page",
            respond(
                "DescribeReplicationGroups",
                rid,
                &ReplicationGroupMessage::from((vec![], None)),
            ),
        ),
        (
            "cache_cluster",
            respond(
                "ModifyCacheCluster",
                rid,
                &CacheClusterResult::from(cc.clone()),
            ),
        ),
        (
            "cache_cluster_bare",
            respond(
                "CreateCacheCluster",
                rid,
                &CacheClusterResult::from(cc_bare.clone()),
            ),
        ),
        (
            "cache_clusters_page",
            respond(
                "DescribeCacheClusters",
                rid,
                &CacheClusterMessage::from((vec![cc.clone(), cc_no_nodes.clone()], marker())),
            ),
        ),
        (
            "snapshot",
            respond("CreateSnapshot", rid, &SnapshotResult::from(snap.clone())),
        ),
        (
            "snapshot_bare",
            respond(
                "DeleteSnapshot",
                rid,
                &SnapshotResult::from(snap_bare.clone()),
            ),
        ),
        (
            "snapshots_page",
            respond(
                "DescribeSnapshots",
                rid,
                &DescribeSnapshotsListMessage::from((vec![snap.clone()], marker())),
            ),
        ),
        ("user", respond("CreateUser", rid, user)),
        ("user_bare", respond("DeleteUser", rid, user_bare)),
        (
            "users_page",
            respond(
                "DescribeUsers",
                rid,
                &DescribeUsersResult::from((vec![user.clone(), user_bare.clone()], marker())),
            ),
        ),
        ("user_group", respond("ModifyUserGroup", rid, ug)),
        ("user_group_bare", respond("CreateUserGroup", rid, ug_bare)),
        (
            "user_groups_page",
            respond(
                "DescribeUserGroups",
                rid,
                &DescribeUserGroupsResult::from((vec![ug.clone(), ug_add_only.clone()], marker())),
            ),
        ),
        (
            "events_page",
            respond(
                "DescribeEvents",
                rid,
                &EventsMessage::from((vec![ev.clone(), ev.clone()], marker())),
            ),
        ),
        (
            "events_empty_page",
            respond("DescribeEvents", rid, &EventsMessage::from((vec![], None))),
        ),
        (
            "subnet_group",
            respond(
                "CreateCacheSubnetGroup",
                rid,
                &CacheSubnetGroupResult::from(sng.clone()),
            ),
        ),
        (
            "subnet_groups_page",
            respond(
                "DescribeCacheSubnetGroups",
                rid,
                &CacheSubnetGroupMessage::from((vec![sng.clone(), sng_bare.clone()], marker())),
            ),
        ),
        (
            "subnet_group_deleted",
            respond("DeleteCacheSubnetGroup", rid, &()),
        ),
        (
            "parameter_group",
            respond(
                "CreateCacheParameterGroup",
                rid,
                &CacheParameterGroupResult::from(pg.clone()),
            ),
        ),
        (
            "parameter_groups_page",
            respond(
                "DescribeCacheParameterGroups",
                rid,
                &CacheParameterGroupsMessage::from((vec![pg.clone()], marker())),
            ),
        ),
        (
            "parameter_group_name",
            respond(
                "ModifyCacheParameterGroup",
                rid,
                &CacheParameterGroupNameMessage::from(s("pg-1")),
            ),
        ),
        (
            "parameters_page",
            respond(
                "DescribeCacheParameters",
                rid,
                &details(marker(), plain, specific),
            ),
        ),
        (
            "parameters_empty",
            respond("DescribeCacheParameters", rid, &details(None, &[], &[])),
        ),
        (
            "engine_defaults",
            respond(
                "DescribeEngineDefaultParameters",
                rid,
                &EngineDefaultsResult {
                    engine_defaults: EngineDefaults {
                        cache_parameter_group_family: s("redis7"),
                        details: details(marker(), plain, specific),
                    },
                },
            ),
        ),
        (
            "engine_versions_page",
            respond(
                "DescribeCacheEngineVersions",
                rid,
                &CacheEngineVersionMessage::from((vec![ver.clone()], marker())),
            ),
        ),
        ("tags", respond("ListTagsForResource", rid, &tag_list())),
        (
            "tags_empty",
            respond("RemoveTagsFromResource", rid, &TagListMessage::from(vec![])),
        ),
        (
            "node_type_modifications",
            respond(
                "ListAllowedNodeTypeModifications",
                rid,
                &AllowedNodeTypeModificationsMessage::from((
                    sv(&["cache.m5.large", "cache.m5.xlarge"]),
                    vec![],
                )),
            ),
        ),
        (
            "reserved_nodes_empty",
            respond(
                "DescribeReservedCacheNodes",
                rid,
                &ReservedCacheNodeMessage::from(()),
            ),
        ),
    ]
}

#[test]
fn every_shape_writes_the_bytes_of_the_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let bless = std::env::var_os("CACHEPLANE_BLESS").is_some();
    let mut differ = Vec::new();
    for (name, xml) in documents() {
        let path = dir.join(format!("{name}.xml"));
        if bless {
            std::fs::write(&path, &xml).expect("write fixture");
            continue;
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if want != xml {
            differ.push(format!("{name}:\n  want {want}\n  got  {xml}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
