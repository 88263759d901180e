//! One typed input struct per supported action, read from a [`Form`] by the model's wire names.
//!
//! Decoding checks only what the protocol says: presence of required members, scalar types, enum values and
//! list numbering. The AWS rules (ranges, combinations, state) are the domain's and live in `control`.

use chrono::{DateTime, Utc};

use crate::error::{ApiError, ErrorCode};
use crate::form::Form;

/// A value that must never be printed: an AUTH token or a password. `Debug` shows only that one was given.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Every action of the ElastiCache API (2015-02-02), for telling "not built yet" from "no such action".
pub const ALL_ACTIONS: &[&str] = &[
    "AddTagsToResource",
    "AuthorizeCacheSecurityGroupIngress",
    "BatchApplyUpdateAction",
    "BatchStopUpdateAction",
    "CompleteMigration",
    "CopyServerlessCacheSnapshot",
    "CopySnapshot",
    "CreateCacheCluster",
    "CreateCacheParameterGroup",
    "CreateCacheSecurityGroup",
    "CreateCacheSubnetGroup",
    "CreateGlobalReplicationGroup",
    "CreateReplicationGroup",
    "CreateServerlessCache",
    "CreateServerlessCacheSnapshot",
    "CreateSnapshot",
    "CreateUser",
    "CreateUserGroup",
    "DecreaseNodeGroupsInGlobalReplicationGroup",
    "DecreaseReplicaCount",
    "DeleteCacheCluster",
    "DeleteCacheParameterGroup",
    "DeleteCacheSecurityGroup",
    "DeleteCacheSubnetGroup",
    "DeleteGlobalReplicationGroup",
    "DeleteReplicationGroup",
    "DeleteServerlessCache",
    "DeleteServerlessCacheSnapshot",
    "DeleteSnapshot",
    "DeleteUser",
    "DeleteUserGroup",
    "DescribeCacheClusters",
    "DescribeCacheEngineVersions",
    "DescribeCacheParameterGroups",
    "DescribeCacheParameters",
    "DescribeCacheSecurityGroups",
    "DescribeCacheSubnetGroups",
    "DescribeEngineDefaultParameters",
    "DescribeEvents",
    "DescribeGlobalReplicationGroups",
    "DescribeReplicationGroups",
    "DescribeReservedCacheNodes",
    "DescribeReservedCacheNodesOfferings",
    "DescribeServerlessCacheSnapshots",
    "DescribeServerlessCaches",
    "DescribeServiceUpdates",
    "DescribeSnapshots",
    "DescribeUpdateActions",
    "DescribeUserGroups",
    "DescribeUsers",
    "DisassociateGlobalReplicationGroup",
    "ExportServerlessCacheSnapshot",
    "FailoverGlobalReplicationGroup",
    "IncreaseNodeGroupsInGlobalReplicationGroup",
    "IncreaseReplicaCount",
    "ListAllowedNodeTypeModifications",
    "ListTagsForResource",
    "ModifyCacheCluster",
    "ModifyCacheParameterGroup",
    "ModifyCacheSubnetGroup",
    "ModifyGlobalReplicationGroup",
    "ModifyReplicationGroup",
    "ModifyReplicationGroupShardConfiguration",
    "ModifyServerlessCache",
    "ModifyUser",
    "ModifyUserGroup",
    "PrepareMigration",
    "PurchaseReservedCacheNodesOffering",
    "RebalanceSlotsInGlobalReplicationGroup",
    "RebootCacheCluster",
    "RemoveTagsFromResource",
    "ResetCacheParameterGroup",
    "RevokeCacheSecurityGroupIngress",
    "StartMigration",
    "StopMigration",
    "TestFailover",
    "TestMigration",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: Option<String>,
}

fn tags(form: &mut Form, prefix: &str, action: &str) -> Result<Option<Vec<Tag>>, ApiError> {
    let Some(items) = form.struct_list(prefix, "Tag")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for mut item in items {
        let key = item.required("Key")?;
        let value = item.string("Value");
        item.finish(action)?;
        out.push(Tag { key, value });
    }
    Ok(Some(out))
}

/// `NodeGroupConfiguration` (cluster mode enabled; decoded so that it can be refused by name).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeGroupConfiguration {
    pub node_group_id: Option<String>,
    pub slots: Option<String>,
    pub replica_count: Option<i32>,
    pub primary_availability_zone: Option<String>,
    pub replica_availability_zones: Option<Vec<String>>,
    pub primary_outpost_arn: Option<String>,
    pub replica_outpost_arns: Option<Vec<String>>,
}

/// `LogDeliveryConfigurationRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogDeliveryConfigurationRequest {
    pub log_type: Option<String>,
    pub destination_type: Option<String>,
    pub cloud_watch_log_group: Option<String>,
    pub kinesis_firehose_delivery_stream: Option<String>,
    pub log_format: Option<String>,
    pub enabled: Option<bool>,
}

fn log_delivery(
    form: &mut Form,
    action: &str,
) -> Result<Option<Vec<LogDeliveryConfigurationRequest>>, ApiError> {
    let Some(items) = form.struct_list(
        "LogDeliveryConfigurations",
        "LogDeliveryConfigurationRequest",
    )?
    else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for mut f in items {
        let mut c = LogDeliveryConfigurationRequest {
            log_type: f.enumeration("LogType", &["slow-log", "engine-log"])?,
            destination_type: f
                .enumeration("DestinationType", &["cloudwatch-logs", "kinesis-firehose"])?,
            log_format: f.enumeration("LogFormat", &["text", "json"])?,
            enabled: f.boolean("Enabled")?,
            ..Default::default()
        };
        if let Some(mut d) = f.structure("DestinationDetails") {
            if let Some(mut cw) = d.structure("CloudWatchLogsDetails") {
                c.cloud_watch_log_group = cw.string("LogGroup");
                cw.finish(action)?;
            }
            if let Some(mut k) = d.structure("KinesisFirehoseDetails") {
                c.kinesis_firehose_delivery_stream = k.string("DeliveryStream");
                k.finish(action)?;
            }
            d.finish(action)?;
        }
        f.finish(action)?;
        out.push(c);
    }
    Ok(Some(out))
}

/// `CreateReplicationGroup`.
#[derive(Debug, Clone, Default)]
pub struct CreateReplicationGroup {
    pub replication_group_id: String,
    pub replication_group_description: String,
    pub global_replication_group_id: Option<String>,
    pub primary_cluster_id: Option<String>,
    pub automatic_failover_enabled: Option<bool>,
    pub multi_az_enabled: Option<bool>,
    pub num_cache_clusters: Option<i32>,
    pub preferred_cache_cluster_azs: Option<Vec<String>>,
    pub num_node_groups: Option<i32>,
    pub replicas_per_node_group: Option<i32>,
    pub node_group_configuration: Option<Vec<NodeGroupConfiguration>>,
    pub cache_node_type: Option<String>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub cache_parameter_group_name: Option<String>,
    pub cache_subnet_group_name: Option<String>,
    pub cache_security_group_names: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
    pub tags: Option<Vec<Tag>>,
    pub snapshot_arns: Option<Vec<String>>,
    pub snapshot_name: Option<String>,
    pub preferred_maintenance_window: Option<String>,
    pub port: Option<i32>,
    pub notification_topic_arn: Option<String>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub snapshot_retention_limit: Option<i32>,
    pub snapshot_window: Option<String>,
    pub auth_token: Option<Secret>,
    pub transit_encryption_enabled: Option<bool>,
    pub at_rest_encryption_enabled: Option<bool>,
    pub kms_key_id: Option<String>,
    pub user_group_ids: Option<Vec<String>>,
    pub log_delivery_configurations: Option<Vec<LogDeliveryConfigurationRequest>>,
    pub data_tiering_enabled: Option<bool>,
    pub network_type: Option<String>,
    pub ip_discovery: Option<String>,
    pub transit_encryption_mode: Option<String>,
    pub cluster_mode: Option<String>,
    pub serverless_cache_snapshot_name: Option<String>,
    pub durability: Option<String>,
}

impl CreateReplicationGroup {
    const ACTION: &'static str = "CreateReplicationGroup";

    pub fn decode(mut f: Form) -> Result<Self, ApiError> {
        let node_group_configuration = match f
            .struct_list("NodeGroupConfiguration", "NodeGroupConfiguration")?
        {
            None => None,
            Some(items) => {
                let mut out = Vec::new();
                for mut n in items {
                    out.push(NodeGroupConfiguration {
                        node_group_id: n.string("NodeGroupId"),
                        slots: n.string("Slots"),
                        replica_count: n.integer("ReplicaCount")?,
                        primary_availability_zone: n.string("PrimaryAvailabilityZone"),
                        replica_availability_zones: n
                            .string_list("ReplicaAvailabilityZones", "AvailabilityZone")?,
                        primary_outpost_arn: n.string("PrimaryOutpostArn"),
                        replica_outpost_arns: n.string_list("ReplicaOutpostArns", "OutpostArn")?,
                    });
                    n.finish(Self::ACTION)?;
                }
                Some(out)
            }
        };
        let input = Self {
            replication_group_id: f.required("ReplicationGroupId")?,
            replication_group_description: f.required("ReplicationGroupDescription")?,
            global_replication_group_id: f.string("GlobalReplicationGroupId"),
            primary_cluster_id: f.string("PrimaryClusterId"),
            automatic_failover_enabled: f.boolean("AutomaticFailoverEnabled")?,
            multi_az_enabled: f.boolean("MultiAZEnabled")?,
            num_cache_clusters: f.integer("NumCacheClusters")?,
            preferred_cache_cluster_azs: f
                .string_list("PreferredCacheClusterAZs", "AvailabilityZone")?,
            num_node_groups: f.integer("NumNodeGroups")?,
            replicas_per_node_group: f.integer("ReplicasPerNodeGroup")?,
            node_group_configuration,
            cache_node_type: f.string("CacheNodeType"),
            engine: f.string("Engine"),
            engine_version: f.string("EngineVersion"),
            cache_parameter_group_name: f.string("CacheParameterGroupName"),
            cache_subnet_group_name: f.string("CacheSubnetGroupName"),
            cache_security_group_names: f
                .string_list("CacheSecurityGroupNames", "CacheSecurityGroupName")?,
            security_group_ids: f.string_list("SecurityGroupIds", "SecurityGroupId")?,
            tags: tags(&mut f, "Tags", Self::ACTION)?,
            snapshot_arns: f.string_list("SnapshotArns", "SnapshotArn")?,
            snapshot_name: f.string("SnapshotName"),
            preferred_maintenance_window: f.string("PreferredMaintenanceWindow"),
            port: f.integer("Port")?,
            notification_topic_arn: f.string("NotificationTopicArn"),
            auto_minor_version_upgrade: f.boolean("AutoMinorVersionUpgrade")?,
            snapshot_retention_limit: f.integer("SnapshotRetentionLimit")?,
            snapshot_window: f.string("SnapshotWindow"),
            auth_token: f.string("AuthToken").map(Secret),
            transit_encryption_enabled: f.boolean("TransitEncryptionEnabled")?,
            at_rest_encryption_enabled: f.boolean("AtRestEncryptionEnabled")?,
            kms_key_id: f.string("KmsKeyId"),
            user_group_ids: f.string_list("UserGroupIds", "member")?,
            log_delivery_configurations: log_delivery(&mut f, Self::ACTION)?,
            data_tiering_enabled: f.boolean("DataTieringEnabled")?,
            network_type: f.enumeration("NetworkType", &["ipv4", "ipv6", "dual_stack"])?,
            ip_discovery: f.enumeration("IpDiscovery", &["ipv4", "ipv6"])?,
            transit_encryption_mode: f
                .enumeration("TransitEncryptionMode", &["preferred", "required"])?,
            cluster_mode: f.enumeration("ClusterMode", &["enabled", "disabled", "compatible"])?,
            serverless_cache_snapshot_name: f.string("ServerlessCacheSnapshotName"),
            durability: f.enumeration("Durability", &["default", "async", "sync", "disabled"])?,
        };
        f.finish(Self::ACTION)?;
        Ok(input)
    }
}

/// `DescribeReplicationGroups`.
#[derive(Debug, Clone, Default)]
pub struct DescribeReplicationGroups {
    pub replication_group_id: Option<String>,
    pub max_records: Option<i32>,
    pub marker: Option<String>,
}

/// `DeleteReplicationGroup`.
#[derive(Debug, Clone, Default)]
pub struct DeleteReplicationGroup {
    pub replication_group_id: String,
    pub retain_primary_cluster: Option<bool>,
    pub final_snapshot_identifier: Option<String>,
}

/// `DeleteCacheCluster`.
#[derive(Debug, Clone, Default)]
pub struct DeleteCacheCluster {
    pub cache_cluster_id: String,
    pub final_snapshot_identifier: Option<String>,
}

/// `DescribeCacheClusters`.
#[derive(Debug, Clone, Default)]
pub struct DescribeCacheClusters {
    pub cache_cluster_id: Option<String>,
    pub max_records: Option<i32>,
    pub marker: Option<String>,
    pub show_cache_node_info: Option<bool>,
    pub show_cache_clusters_not_in_replication_groups: Option<bool>,
}

/// `DescribeEvents`.
#[derive(Debug, Clone, Default)]
pub struct DescribeEvents {
    pub source_identifier: Option<String>,
    pub source_type: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub duration: Option<i32>,
    pub max_records: Option<i32>,
    pub marker: Option<String>,
}

/// `AddTagsToResource`.
#[derive(Debug, Clone, Default)]
pub struct AddTagsToResource {
    pub resource_name: String,
    pub tags: Vec<Tag>,
}

/// `RemoveTagsFromResource`.
#[derive(Debug, Clone, Default)]
pub struct RemoveTagsFromResource {
    pub resource_name: String,
    pub tag_keys: Vec<String>,
}

/// `ListTagsForResource`.
#[derive(Debug, Clone, Default)]
pub struct ListTagsForResource {
    pub resource_name: String,
}

/// `DescribeCacheEngineVersions`.
#[derive(Debug, Clone, Default)]
pub struct DescribeCacheEngineVersions {
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub cache_parameter_group_family: Option<String>,
    pub max_records: Option<i32>,
    pub marker: Option<String>,
    pub default_only: Option<bool>,
}

/// `ModifyReplicationGroup`: every member of the model.
#[derive(Debug, Clone, Default)]
pub struct ModifyReplicationGroup {
    pub replication_group_id: String,
    pub replication_group_description: Option<String>,
    pub primary_cluster_id: Option<String>,
    pub snapshotting_cluster_id: Option<String>,
    pub automatic_failover_enabled: Option<bool>,
    pub multi_az_enabled: Option<bool>,
    pub node_group_id: Option<String>,
    pub cache_security_group_names: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
    pub preferred_maintenance_window: Option<String>,
    pub notification_topic_arn: Option<String>,
    pub cache_parameter_group_name: Option<String>,
    pub notification_topic_status: Option<String>,
    pub apply_immediately: Option<bool>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub snapshot_retention_limit: Option<i32>,
    pub snapshot_window: Option<String>,
    pub cache_node_type: Option<String>,
    pub auth_token: Option<Secret>,
    pub auth_token_update_strategy: Option<String>,
    pub user_group_ids_to_add: Option<Vec<String>>,
    pub user_group_ids_to_remove: Option<Vec<String>>,
    pub remove_user_groups: Option<bool>,
    pub log_delivery_configurations: Option<Vec<LogDeliveryConfigurationRequest>>,
    pub ip_discovery: Option<String>,
    pub transit_encryption_enabled: Option<bool>,
    pub transit_encryption_mode: Option<String>,
    pub cluster_mode: Option<String>,
    pub durability: Option<String>,
}

impl ModifyReplicationGroup {
    const ACTION: &'static str = "ModifyReplicationGroup";

    pub fn decode(mut f: Form) -> Result<Self, ApiError> {
        let input = Self {
            replication_group_id: f.required("ReplicationGroupId")?,
            replication_group_description: f.string("ReplicationGroupDescription"),
            primary_cluster_id: f.string("PrimaryClusterId"),
            snapshotting_cluster_id: f.string("SnapshottingClusterId"),
            automatic_failover_enabled: f.boolean("AutomaticFailoverEnabled")?,
            multi_az_enabled: f.boolean("MultiAZEnabled")?,
            node_group_id: f.string("NodeGroupId"),
            cache_security_group_names: f
                .string_list("CacheSecurityGroupNames", "CacheSecurityGroupName")?,
            security_group_ids: f.string_list("SecurityGroupIds", "SecurityGroupId")?,
            preferred_maintenance_window: f.string("PreferredMaintenanceWindow"),
            notification_topic_arn: f.string("NotificationTopicArn"),
            cache_parameter_group_name: f.string("CacheParameterGroupName"),
            notification_topic_status: f.string("NotificationTopicStatus"),
            apply_immediately: f.boolean("ApplyImmediately")?,
            engine: f.string("Engine"),
            engine_version: f.string("EngineVersion"),
            auto_minor_version_upgrade: f.boolean("AutoMinorVersionUpgrade")?,
            snapshot_retention_limit: f.integer("SnapshotRetentionLimit")?,
            snapshot_window: f.string("SnapshotWindow"),
            cache_node_type: f.string("CacheNodeType"),
            auth_token: f.string("AuthToken").map(Secret),
            auth_token_update_strategy: f
                .enumeration("AuthTokenUpdateStrategy", &["SET", "ROTATE", "DELETE"])?,
            user_group_ids_to_add: f.string_list("UserGroupIdsToAdd", "member")?,
            user_group_ids_to_remove: f.string_list("UserGroupIdsToRemove", "member")?,
            remove_user_groups: f.boolean("RemoveUserGroups")?,
            log_delivery_configurations: log_delivery(&mut f, Self::ACTION)?,
            ip_discovery: f.enumeration("IpDiscovery", &["ipv4", "ipv6"])?,
            transit_encryption_enabled: f.boolean("TransitEncryptionEnabled")?,
            transit_encryption_mode: f
                .enumeration("TransitEncryptionMode", &["preferred", "required"])?,
            cluster_mode: f.enumeration("ClusterMode", &["enabled", "disabled", "compatible"])?,
            durability: f.enumeration("Durability", &["default", "async", "sync", "disabled"])?,
        };
        f.finish(Self::ACTION)?;
        Ok(input)
    }
}

/// One `CustomerNodeEndpoint`: the source Redis of an online migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerNodeEndpoint {
    pub address: Option<String>,
    pub port: Option<i32>,
}

/// `TestMigration`.
#[derive(Debug, Clone, Default)]
pub struct TestMigration {
    pub replication_group_id: String,
    pub customer_node_endpoint_list: Vec<CustomerNodeEndpoint>,
}

/// `StartMigration`. Since botocore 1.44 no member is required (`ServerlessCacheName` is an alternative to
/// `ReplicationGroupId`); one of the two must be there.
#[derive(Debug, Clone, Default)]
pub struct StartMigration {
    pub replication_group_id: Option<String>,
    pub serverless_cache_name: Option<String>,
    pub customer_node_endpoint_list: Vec<CustomerNodeEndpoint>,
    pub auto_cutover: Option<bool>,
    pub clear_target_cache_data: Option<bool>,
}

/// `CompleteMigration`.
#[derive(Debug, Clone, Default)]
pub struct CompleteMigration {
    pub replication_group_id: Option<String>,
    pub serverless_cache_name: Option<String>,
    pub force: Option<bool>,
}

/// `ReplicationGroupId` unless `ServerlessCacheName` stands in for it.
fn group_or_serverless(f: &mut Form) -> Result<(Option<String>, Option<String>), ApiError> {
    let rg = f.string("ReplicationGroupId");
    let serverless = f.string("ServerlessCacheName");
    if rg.is_none() && serverless.is_none() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter ReplicationGroupId (or ServerlessCacheName).",
        ));
    }
    Ok((rg, serverless))
}

fn customer_endpoints(
    f: &mut Form,
    action: &str,
) -> Result<Option<Vec<CustomerNodeEndpoint>>, ApiError> {
    let Some(items) = f.struct_list("CustomerNodeEndpointList", "member")? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(items.len());
    for mut e in items {
        let ep = CustomerNodeEndpoint {
            address: e.string("Address"),
            port: e.integer("Port")?,
        };
        e.finish(action)?;
        out.push(ep);
    }
    Ok(Some(out))
}

/// `TestFailover`.
#[derive(Debug, Clone, Default)]
pub struct TestFailover {
    pub replication_group_id: String,
    pub node_group_id: String,
}

/// `ConfigureShard` of `ReplicaConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigureShard {
    pub node_group_id: String,
    pub new_replica_count: i32,
    pub preferred_availability_zones: Option<Vec<String>>,
    pub preferred_outpost_arns: Option<Vec<String>>,
}

/// `IncreaseReplicaCount` and `DecreaseReplicaCount` (only the latter has `ReplicasToRemove`).
#[derive(Debug, Clone, Default)]
pub struct ChangeReplicaCount {
    pub replication_group_id: String,
    pub new_replica_count: Option<i32>,
    pub replica_configuration: Option<Vec<ConfigureShard>>,
    pub replicas_to_remove: Option<Vec<String>>,
    pub apply_immediately: bool,
}

impl ChangeReplicaCount {
    fn decode(f: &mut Form, action: &str, decrease: bool) -> Result<Self, ApiError> {
        let replication_group_id = f.required("ReplicationGroupId")?;
        let new_replica_count = f.integer("NewReplicaCount")?;
        let replica_configuration = match f.struct_list("ReplicaConfiguration", "ConfigureShard")? {
            None => None,
            Some(items) => {
                let mut out = Vec::with_capacity(items.len());
                for mut c in items {
                    let shard = ConfigureShard {
                        node_group_id: c.required("NodeGroupId")?,
                        new_replica_count: c.integer("NewReplicaCount")?.ok_or_else(|| {
                            ApiError::new(
                                ErrorCode::MissingParameter,
                                "ConfigureShard must contain the parameter NewReplicaCount.",
                            )
                        })?,
                        preferred_availability_zones: c.string_list(
                            "PreferredAvailabilityZones",
                            "PreferredAvailabilityZone",
                        )?,
                        preferred_outpost_arns: c
                            .string_list("PreferredOutpostArns", "PreferredOutpostArn")?,
                    };
                    c.finish(action)?;
                    out.push(shard);
                }
                Some(out)
            }
        };
        let replicas_to_remove = if decrease {
            f.string_list("ReplicasToRemove", "member")?
        } else {
            None
        };
        let apply_immediately = f.boolean("ApplyImmediately")?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingParameter,
                "The request must contain the parameter ApplyImmediately.",
            )
        })?;
        Ok(Self {
            replication_group_id,
            new_replica_count,
            replica_configuration,
            replicas_to_remove,
            apply_immediately,
        })
    }
}

/// `RebootCacheCluster`.
#[derive(Debug, Clone, Default)]
pub struct RebootCacheCluster {
    pub cache_cluster_id: String,
    pub cache_node_ids_to_reboot: Vec<String>,
}

/// `AuthenticationMode` of `CreateUser` / `ModifyUser`.
#[derive(Debug, Clone, Default)]
pub struct AuthenticationMode {
    /// `password`, `no-password-required` or `iam`.
    pub kind: Option<String>,
    pub passwords: Option<Vec<Secret>>,
}

/// `CreateUser`.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub user_id: String,
    pub user_name: String,
    pub engine: String,
    pub passwords: Option<Vec<Secret>>,
    pub access_string: String,
    pub no_password_required: Option<bool>,
    pub tags: Option<Vec<Tag>>,
    pub authentication_mode: Option<AuthenticationMode>,
}

/// `ModifyUser`.
#[derive(Debug, Clone, Default)]
pub struct ModifyUser {
    pub user_id: String,
    pub access_string: Option<String>,
    pub append_access_string: Option<String>,
    pub passwords: Option<Vec<Secret>>,
    pub no_password_required: Option<bool>,
    pub authentication_mode: Option<AuthenticationMode>,
    pub engine: Option<String>,
}

/// A `Filters` item of `DescribeUsers`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// `DescribeUsers`.
#[derive(Debug, Clone, Default)]
pub struct DescribeUsers {
    pub engine: Option<String>,
    pub user_id: Option<String>,
    pub filters: Option<Vec<Filter>>,
    pub max_records: Option<i32>,
    pub marker: Option<String>,
}

/// `CreateUserGroup`.
#[derive(Debug, Clone, Default)]
pub struct CreateUserGroup {
    pub user_group_id: String,
    pub engine: String,
    pub user_ids: Option<Vec<String>>,
    pub tags: Option<Vec<Tag>>,
}

/// `ModifyUserGroup`.
#[derive(Debug, Clone, Default)]
pub struct ModifyUserGroup {
    pub user_group_id: String,
    pub user_ids_to_add: Option<Vec<String>>,
    pub user_ids_to_remove: Option<Vec<String>>,
    pub engine: Option<String>,
}

/// `DescribeUserGroups`.
#[derive(Debug, Clone, Default)]
pub struct DescribeUserGroups {
    pub user_group_id: Option<String>,
    pub max_records: Option<i32>,
    pub marker: Option<String>,
}

fn secrets(list: Option<Vec<String>>) -> Option<Vec<Secret>> {
    list.map(|l| l.into_iter().map(Secret).collect())
}

fn authentication_mode(f: &mut Form, action: &str) -> Result<Option<AuthenticationMode>, ApiError> {
    let Some(mut m) = f.structure("AuthenticationMode") else {
        return Ok(None);
    };
    let mode = AuthenticationMode {
        kind: m.enumeration("Type", &["password", "no-password-required", "iam"])?,
        passwords: secrets(m.string_list("Passwords", "member")?),
    };
    m.finish(action)?;
    Ok(Some(mode))
}

/// `CreateSnapshot`.
#[derive(Debug, Clone, Default)]
pub struct CreateSnapshot {
    pub replication_group_id: Option<String>,
    pub cache_cluster_id: Option<String>,
    pub snapshot_name: String,
    pub kms_key_id: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

/// `DescribeSnapshots`.
#[derive(Debug, Clone, Default)]
pub struct DescribeSnapshots {
    pub replication_group_id: Option<String>,
    pub cache_cluster_id: Option<String>,
    pub snapshot_name: Option<String>,
    pub snapshot_source: Option<String>,
    pub marker: Option<String>,
    pub max_records: Option<i32>,
    pub show_node_group_config: Option<bool>,
}

/// `CopySnapshot`.
#[derive(Debug, Clone, Default)]
pub struct CopySnapshot {
    pub source_snapshot_name: String,
    pub target_snapshot_name: String,
    pub target_bucket: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

/// A decoded request of a supported action.
#[derive(Debug, Clone)]
pub enum Request {
    CreateReplicationGroup(Box<CreateReplicationGroup>),
    DescribeReplicationGroups(DescribeReplicationGroups),
    DeleteReplicationGroup(DeleteReplicationGroup),
    DescribeCacheClusters(DescribeCacheClusters),
    DeleteCacheCluster(DeleteCacheCluster),
    DescribeEvents(DescribeEvents),
    AddTagsToResource(AddTagsToResource),
    RemoveTagsFromResource(RemoveTagsFromResource),
    ListTagsForResource(ListTagsForResource),
    DescribeCacheEngineVersions(DescribeCacheEngineVersions),
    ModifyReplicationGroup(Box<ModifyReplicationGroup>),
    TestMigration(TestMigration),
    StartMigration(StartMigration),
    CompleteMigration(CompleteMigration),
    TestFailover(TestFailover),
    IncreaseReplicaCount(ChangeReplicaCount),
    DecreaseReplicaCount(ChangeReplicaCount),
    RebootCacheCluster(RebootCacheCluster),
    CreateUser(CreateUser),
    ModifyUser(ModifyUser),
    DeleteUser(String),
    DescribeUsers(DescribeUsers),
    CreateUserGroup(CreateUserGroup),
    ModifyUserGroup(ModifyUserGroup),
    DeleteUserGroup(String),
    DescribeUserGroups(DescribeUserGroups),
    CreateSnapshot(CreateSnapshot),
    DescribeSnapshots(DescribeSnapshots),
    CopySnapshot(CopySnapshot),
    DeleteSnapshot(String),
}

const SOURCE_TYPES: &[&str] = &[
    "cache-cluster",
    "cache-parameter-group",
    "cache-security-group",
    "cache-subnet-group",
    "replication-group",
    "serverless-cache",
    "serverless-cache-snapshot",
    "user",
    "user-group",
];

impl Request {
    /// The action's name as sent in `Action`.
    pub fn action(&self) -> &'static str {
        match self {
            Self::CreateReplicationGroup(_) => "CreateReplicationGroup",
            Self::DescribeReplicationGroups(_) => "DescribeReplicationGroups",
            Self::DeleteReplicationGroup(_) => "DeleteReplicationGroup",
            Self::DescribeCacheClusters(_) => "DescribeCacheClusters",
            Self::DeleteCacheCluster(_) => "DeleteCacheCluster",
            Self::DescribeEvents(_) => "DescribeEvents",
            Self::AddTagsToResource(_) => "AddTagsToResource",
            Self::RemoveTagsFromResource(_) => "RemoveTagsFromResource",
            Self::ListTagsForResource(_) => "ListTagsForResource",
            Self::DescribeCacheEngineVersions(_) => "DescribeCacheEngineVersions",
            Self::ModifyReplicationGroup(_) => "ModifyReplicationGroup",
            Self::TestMigration(_) => "TestMigration",
            Self::StartMigration(_) => "StartMigration",
            Self::CompleteMigration(_) => "CompleteMigration",
            Self::TestFailover(_) => "TestFailover",
            Self::IncreaseReplicaCount(_) => "IncreaseReplicaCount",
            Self::DecreaseReplicaCount(_) => "DecreaseReplicaCount",
            Self::RebootCacheCluster(_) => "RebootCacheCluster",
            Self::CreateUser(_) => "CreateUser",
            Self::ModifyUser(_) => "ModifyUser",
            Self::DeleteUser(_) => "DeleteUser",
            Self::DescribeUsers(_) => "DescribeUsers",
            Self::CreateUserGroup(_) => "CreateUserGroup",
            Self::ModifyUserGroup(_) => "ModifyUserGroup",
            Self::DeleteUserGroup(_) => "DeleteUserGroup",
            Self::DescribeUserGroups(_) => "DescribeUserGroups",
            Self::CreateSnapshot(_) => "CreateSnapshot",
            Self::DescribeSnapshots(_) => "DescribeSnapshots",
            Self::CopySnapshot(_) => "CopySnapshot",
            Self::DeleteSnapshot(_) => "DeleteSnapshot",
        }
    }

    /// Reads `Action` and `Version`, then the action's members. Every member left over is refused.
    pub fn decode(mut f: Form) -> Result<Self, ApiError> {
        let action = f.string("Action").ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingAction,
                "The request must contain the parameter Action.",
            )
        })?;
        match f.string("Version") {
            Some(v) if v == crate::API_VERSION => {}
            Some(v) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "Version '{v}' is not supported; ElastiCache speaks version {}.",
                        crate::API_VERSION
                    ),
                ))
            }
            None => {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    format!(
                        "The request must contain the parameter Version (use {}).",
                        crate::API_VERSION
                    ),
                ))
            }
        }
        let a = action.as_str();
        let req = match a {
            "CreateReplicationGroup" => Self::CreateReplicationGroup(Box::new(CreateReplicationGroup::decode(f)?)),
            "DescribeReplicationGroups" => {
                let r = DescribeReplicationGroups {
                    replication_group_id: f.string("ReplicationGroupId"),
                    max_records: f.integer("MaxRecords")?,
                    marker: f.string("Marker"),
                };
                f.finish(a)?;
                Self::DescribeReplicationGroups(r)
            }
            "DeleteReplicationGroup" => {
                let r = DeleteReplicationGroup {
                    replication_group_id: f.required("ReplicationGroupId")?,
                    retain_primary_cluster: f.boolean("RetainPrimaryCluster")?,
                    final_snapshot_identifier: f.string("FinalSnapshotIdentifier"),
                };
                f.finish(a)?;
                Self::DeleteReplicationGroup(r)
            }
            "DescribeCacheClusters" => {
                let r = DescribeCacheClusters {
                    cache_cluster_id: f.string("CacheClusterId"),
                    max_records: f.integer("MaxRecords")?,
                    marker: f.string("Marker"),
                    show_cache_node_info: f.boolean("ShowCacheNodeInfo")?,
                    show_cache_clusters_not_in_replication_groups: f
                        .boolean("ShowCacheClustersNotInReplicationGroups")?,
                };
                f.finish(a)?;
                Self::DescribeCacheClusters(r)
            }
            "DeleteCacheCluster" => {
                let r = DeleteCacheCluster {
                    cache_cluster_id: f.required("CacheClusterId")?,
                    final_snapshot_identifier: f.string("FinalSnapshotIdentifier"),
                };
                f.finish(a)?;
                Self::DeleteCacheCluster(r)
            }
            "DescribeEvents" => {
                let r = DescribeEvents {
                    source_identifier: f.string("SourceIdentifier"),
                    source_type: f.enumeration("SourceType", SOURCE_TYPES)?,
                    start_time: f.timestamp("StartTime")?,
                    end_time: f.timestamp("EndTime")?,
                    duration: f.integer("Duration")?,
                    max_records: f.integer("MaxRecords")?,
                    marker: f.string("Marker"),
                };
                f.finish(a)?;
                Self::DescribeEvents(r)
            }
            "AddTagsToResource" => {
                let r = AddTagsToResource {
                    resource_name: f.required("ResourceName")?,
                    tags: tags(&mut f, "Tags", a)?.ok_or_else(|| {
                        ApiError::new(ErrorCode::MissingParameter, "The request must contain the parameter Tags.")
                    })?,
                };
                f.finish(a)?;
                Self::AddTagsToResource(r)
            }
            "RemoveTagsFromResource" => {
                let r = RemoveTagsFromResource {
                    resource_name: f.required("ResourceName")?,
                    tag_keys: f.string_list("TagKeys", "member")?.ok_or_else(|| {
                        ApiError::new(ErrorCode::MissingParameter, "The request must contain the parameter TagKeys.")
                    })?,
                };
                f.finish(a)?;
                Self::RemoveTagsFromResource(r)
            }
            "ListTagsForResource" => {
                let r = ListTagsForResource { resource_name: f.required("ResourceName")? };
                f.finish(a)?;
                Self::ListTagsForResource(r)
            }
            "DescribeCacheEngineVersions" => {
                let r = DescribeCacheEngineVersions {
                    engine: f.string("Engine"),
                    engine_version: f.string("EngineVersion"),
                    cache_parameter_group_family: f.string("CacheParameterGroupFamily"),
                    max_records: f.integer("MaxRecords")?,
                    marker: f.string("Marker"),
                    default_only: f.boolean("DefaultOnly")?,
                };
                f.finish(a)?;
                Self::DescribeCacheEngineVersions(r)
            }
            "ModifyReplicationGroup" => {
                Self::ModifyReplicationGroup(Box::new(ModifyReplicationGroup::decode(f)?))
            }
            "TestMigration" => {
                let r = TestMigration {
                    replication_group_id: f.required("ReplicationGroupId")?,
                    customer_node_endpoint_list: customer_endpoints(&mut f, a)?.ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::MissingParameter,
                            "The request must contain the parameter CustomerNodeEndpointList.",
                        )
                    })?,
                };
                f.finish(a)?;
                Self::TestMigration(r)
            }
            "StartMigration" => {
                let (replication_group_id, serverless_cache_name) = group_or_serverless(&mut f)?;
                let r = StartMigration {
                    replication_group_id,
                    serverless_cache_name,
                    customer_node_endpoint_list: customer_endpoints(&mut f, a)?
                        .unwrap_or_default(),
                    auto_cutover: f.boolean("AutoCutover")?,
                    clear_target_cache_data: f.boolean("ClearTargetCacheData")?,
                };
                f.finish(a)?;
                Self::StartMigration(r)
            }
            "CompleteMigration" => {
                let (replication_group_id, serverless_cache_name) = group_or_serverless(&mut f)?;
                let r = CompleteMigration {
                    replication_group_id,
                    serverless_cache_name,
                    force: f.boolean("Force")?,
                };
                f.finish(a)?;
                Self::CompleteMigration(r)
            }
            "TestFailover" => {
                let r = TestFailover {
                    replication_group_id: f.required("ReplicationGroupId")?,
                    node_group_id: f.required("NodeGroupId")?,
                };
                f.finish(a)?;
                Self::TestFailover(r)
            }
            "IncreaseReplicaCount" => {
                let r = ChangeReplicaCount::decode(&mut f, a, false)?;
                f.finish(a)?;
                Self::IncreaseReplicaCount(r)
            }
            "DecreaseReplicaCount" => {
                let r = ChangeReplicaCount::decode(&mut f, a, true)?;
                f.finish(a)?;
                Self::DecreaseReplicaCount(r)
            }
            "RebootCacheCluster" => {
                let r = RebootCacheCluster {
                    cache_cluster_id: f.required("CacheClusterId")?,
                    cache_node_ids_to_reboot: f
                        .string_list("CacheNodeIdsToReboot", "CacheNodeId")?
                        .ok_or_else(|| {
                            ApiError::new(
                                ErrorCode::MissingParameter,
                                "The request must contain the parameter CacheNodeIdsToReboot.",
                            )
                        })?,
                };
                f.finish(a)?;
                Self::RebootCacheCluster(r)
            }
            "CreateUser" => {
                let r = CreateUser {
                    user_id: f.required("UserId")?,
                    user_name: f.required("UserName")?,
                    engine: f.required("Engine")?,
                    passwords: secrets(f.string_list("Passwords", "member")?),
                    access_string: f.required("AccessString")?,
                    no_password_required: f.boolean("NoPasswordRequired")?,
                    tags: tags(&mut f, "Tags", a)?,
                    authentication_mode: authentication_mode(&mut f, a)?,
                };
                f.finish(a)?;
                Self::CreateUser(r)
            }
            "ModifyUser" => {
                let r = ModifyUser {
                    user_id: f.required("UserId")?,
                    access_string: f.string("AccessString"),
                    append_access_string: f.string("AppendAccessString"),
                    passwords: secrets(f.string_list("Passwords", "member")?),
                    no_password_required: f.boolean("NoPasswordRequired")?,
                    authentication_mode: authentication_mode(&mut f, a)?,
                    engine: f.string("Engine"),
                };
                f.finish(a)?;
                Self::ModifyUser(r)
            }
            "DeleteUser" => {
                let id = f.required("UserId")?;
                f.finish(a)?;
                Self::DeleteUser(id)
            }
            "DescribeUsers" => {
                let filters = match f.struct_list("Filters", "member")? {
                    None => None,
                    Some(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for mut item in items {
                            let name = item.required("Name")?;
                            let values = item.string_list("Values", "member")?.unwrap_or_default();
                            item.finish(a)?;
                            out.push(Filter { name, values });
                        }
                        Some(out)
                    }
                };
                let r = DescribeUsers {
                    engine: f.string("Engine"),
                    user_id: f.string("UserId"),
                    filters,
                    max_records: f.integer("MaxRecords")?,
                    marker: f.string("Marker"),
                };
                f.finish(a)?;
                Self::DescribeUsers(r)
            }
            "CreateUserGroup" => {
                let r = CreateUserGroup {
                    user_group_id: f.required("UserGroupId")?,
                    engine: f.required("Engine")?,
                    user_ids: f.string_list("UserIds", "member")?,
                    tags: tags(&mut f, "Tags", a)?,
                };
                f.finish(a)?;
                Self::CreateUserGroup(r)
            }
            "ModifyUserGroup" => {
                let r = ModifyUserGroup {
                    user_group_id: f.required("UserGroupId")?,
                    user_ids_to_add: f.string_list("UserIdsToAdd", "member")?,
                    user_ids_to_remove: f.string_list("UserIdsToRemove", "member")?,
                    engine: f.string("Engine"),
                };
                f.finish(a)?;
                Self::ModifyUserGroup(r)
            }
            "DeleteUserGroup" => {
                let id = f.required("UserGroupId")?;
                f.finish(a)?;
                Self::DeleteUserGroup(id)
            }
            "DescribeUserGroups" => {
                let r = DescribeUserGroups {
                    user_group_id: f.string("UserGroupId"),
                    max_records: f.integer("MaxRecords")?,
                    marker: f.string("Marker"),
                };
                f.finish(a)?;
                Self::DescribeUserGroups(r)
            }
            "CreateSnapshot" => {
                let r = CreateSnapshot {
                    replication_group_id: f.string("ReplicationGroupId"),
                    cache_cluster_id: f.string("CacheClusterId"),
                    snapshot_name: f.required("SnapshotName")?,
                    kms_key_id: f.string("KmsKeyId"),
                    tags: tags(&mut f, "Tags", a)?,
                };
                f.finish(a)?;
                Self::CreateSnapshot(r)
            }
            "DescribeSnapshots" => {
                let r = DescribeSnapshots {
                    replication_group_id: f.string("ReplicationGroupId"),
                    cache_cluster_id: f.string("CacheClusterId"),
                    snapshot_name: f.string("SnapshotName"),
                    snapshot_source: f.string("SnapshotSource"),
                    marker: f.string("Marker"),
                    max_records: f.integer("MaxRecords")?,
                    show_node_group_config: f.boolean("ShowNodeGroupConfig")?,
                };
                f.finish(a)?;
                Self::DescribeSnapshots(r)
            }
            "CopySnapshot" => {
                let r = CopySnapshot {
                    source_snapshot_name: f.required("SourceSnapshotName")?,
                    target_snapshot_name: f.required("TargetSnapshotName")?,
                    target_bucket: f.string("TargetBucket"),
                    kms_key_id: f.string("KmsKeyId"),
                    tags: tags(&mut f, "Tags", a)?,
                };
                f.finish(a)?;
                Self::CopySnapshot(r)
            }
            "DeleteSnapshot" => {
                let name = f.required("SnapshotName")?;
                f.finish(a)?;
                Self::DeleteSnapshot(name)
            }
            known if ALL_ACTIONS.contains(&known) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    format!("The action {known} is an ElastiCache action that this Cacheplane version does not implement yet."),
                ))
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    format!("The action {shown} is not valid for this web service."),
                ));
            }
        };
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> Result<Request, ApiError> {
        Request::decode(Form::parse(s.as_bytes())?)
    }

    #[test]
    fn action_and_version() {
        assert_eq!(
            decode("Version=2015-02-02").expect_err("x").code,
            ErrorCode::MissingAction
        );
        assert_eq!(
            decode("Action=Nope&Version=2015-02-02")
                .expect_err("x")
                .code,
            ErrorCode::InvalidAction
        );
        assert_eq!(
            decode("Action=DescribeEvents").expect_err("x").code,
            ErrorCode::MissingParameter
        );
        assert_eq!(
            decode("Action=DescribeEvents&Version=2014-01-01")
                .expect_err("x")
                .code,
            ErrorCode::InvalidParameterValue
        );
        assert!(matches!(
            decode("Action=DescribeEvents&Version=2015-02-02"),
            Ok(Request::DescribeEvents(_))
        ));
    }

    #[test]
    fn create_reads_every_member() {
        let r = decode(
            "Action=CreateReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&ReplicationGroupDescription=d\
             &NumCacheClusters=3&SecurityGroupIds.SecurityGroupId.1=sg-1&Tags.Tag.1.Key=k&Tags.Tag.1.Value=v\
             &AuthToken=secret-token-123456&PreferredCacheClusterAZs.AvailabilityZone.1=us-east-1a\
             &LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.LogType=slow-log\
             &LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.DestinationDetails.CloudWatchLogsDetails.LogGroup=g",
        )
        .expect("decodes");
        let Request::CreateReplicationGroup(c) = r else {
            panic!("wrong action")
        };
        assert_eq!(c.num_cache_clusters, Some(3));
        assert_eq!(c.security_group_ids, Some(vec!["sg-1".to_string()]));
        assert_eq!(c.tags.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            c.log_delivery_configurations
                .as_ref()
                .map(|l| l[0].cloud_watch_log_group.clone()),
            Some(Some("g".into()))
        );
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn modify_reads_every_member_of_the_seed() {
        let r = decode(
            "Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&ReplicationGroupDescription=d\
             &PrimaryClusterId=rg-002&SnapshottingClusterId=rg-002&AutomaticFailoverEnabled=true&MultiAZEnabled=false\
             &NodeGroupId=0001&CacheSecurityGroupNames.CacheSecurityGroupName.1=c&SecurityGroupIds.SecurityGroupId.1=sg-1\
             &PreferredMaintenanceWindow=sun:05:00-sun:06:00&NotificationTopicArn=arn:aws:sns:us-east-1:1:t\
             &CacheParameterGroupName=default.redis7&NotificationTopicStatus=active&ApplyImmediately=true\
             &Engine=redis&EngineVersion=7.0&AutoMinorVersionUpgrade=false&SnapshotRetentionLimit=1\
             &SnapshotWindow=01:00-02:00&CacheNodeType=cache.t3.small&AuthToken=tok&AuthTokenUpdateStrategy=ROTATE\
             &UserGroupIdsToAdd.member.1=u1&UserGroupIdsToRemove.member.1=u2&RemoveUserGroups=false\
             &LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1.LogType=slow-log&IpDiscovery=ipv6\
             &TransitEncryptionEnabled=true&TransitEncryptionMode=preferred&ClusterMode=disabled&Durability=default",
        )
        .expect("decodes");
        let Request::ModifyReplicationGroup(m) = r else {
            panic!("wrong action")
        };
        assert_eq!(m.primary_cluster_id.as_deref(), Some("rg-002"));
        assert_eq!(m.cache_security_group_names, Some(vec!["c".to_string()]));
        assert_eq!(m.snapshot_retention_limit, Some(1));
        assert_eq!(m.auth_token_update_strategy.as_deref(), Some("ROTATE"));
        assert_eq!(m.user_group_ids_to_remove, Some(vec!["u2".to_string()]));
        assert_eq!(m.durability.as_deref(), Some("default"));
        assert!(!format!("{m:?}").contains("tok\""));
        assert_eq!(
            decode("Action=ModifyReplicationGroup&Version=2015-02-02&ReplicationGroupId=rg&AuthTokenUpdateStrategy=rotate")
                .expect_err("enum")
                .code,
            ErrorCode::InvalidParameterValue
        );
    }

    #[test]
    fn replica_count_members() {
        let r = decode(
            "Action=DecreaseReplicaCount&Version=2015-02-02&ReplicationGroupId=rg&ApplyImmediately=true\
             &ReplicasToRemove.member.1=rg-003&ReplicaConfiguration.ConfigureShard.1.NodeGroupId=0001\
             &ReplicaConfiguration.ConfigureShard.1.NewReplicaCount=1\
             &ReplicaConfiguration.ConfigureShard.1.PreferredAvailabilityZones.PreferredAvailabilityZone.1=z",
        )
        .expect("decodes");
        let Request::DecreaseReplicaCount(c) = r else {
            panic!("wrong action")
        };
        assert_eq!(c.replicas_to_remove, Some(vec!["rg-003".to_string()]));
        assert!(c.apply_immediately);
        let shard = &c.replica_configuration.expect("config")[0];
        assert_eq!(shard.new_replica_count, 1);
        assert_eq!(
            shard.preferred_availability_zones,
            Some(vec!["z".to_string()])
        );
        // IncreaseReplicaCount has no ReplicasToRemove, and ApplyImmediately is required.
        assert_eq!(
            decode("Action=IncreaseReplicaCount&Version=2015-02-02&ReplicationGroupId=rg&ApplyImmediately=true&ReplicasToRemove.member.1=x")
                .expect_err("x")
                .code,
            ErrorCode::InvalidQueryParameter
        );
        assert_eq!(
            decode("Action=IncreaseReplicaCount&Version=2015-02-02&ReplicationGroupId=rg&NewReplicaCount=2")
                .expect_err("x")
                .code,
            ErrorCode::MissingParameter
        );
    }

    #[test]
    fn unknown_member_is_refused() {
        let e =
            decode("Action=DescribeReplicationGroups&Version=2015-02-02&Bogus=1").expect_err("x");
        assert_eq!(e.code, ErrorCode::InvalidQueryParameter);
        assert!(e.message.contains("Bogus"));
    }

    #[test]
    fn bad_enum_is_invalid_parameter_value() {
        let e =
            decode("Action=DescribeEvents&Version=2015-02-02&SourceType=planet").expect_err("x");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue);
    }
}
