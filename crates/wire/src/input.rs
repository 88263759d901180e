//! One typed input per supported action, declared with its members' wire names ([`crate::input!`]); how each
//! member is read follows from its type ([`crate::decode::Member`]).
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

structure! {
    /// `Tag`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Tag {
        pub key: String = "Key",
        pub value: Option<String> = "Value",
    }
}

structure! {
    /// `NodeGroupConfiguration`: one shard of a cluster-mode-enabled group.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct NodeGroupConfiguration {
        pub node_group_id: Option<String> = "NodeGroupId",
        pub slots: Option<String> = "Slots",
        pub replica_count: Option<i32> = "ReplicaCount",
        pub primary_availability_zone: Option<String> = "PrimaryAvailabilityZone",
        pub replica_availability_zones: Option<Vec<String>> = "ReplicaAvailabilityZones" / "AvailabilityZone",
        pub primary_outpost_arn: Option<String> = "PrimaryOutpostArn",
        pub replica_outpost_arns: Option<Vec<String>> = "ReplicaOutpostArns" / "OutpostArn",
    }
}

structure! {
    /// `CloudWatchLogsDestinationDetails`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct CloudWatchLogsDetails {
        pub log_group: Option<String> = "LogGroup",
    }
}

structure! {
    /// `KinesisFirehoseDestinationDetails`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct KinesisFirehoseDetails {
        pub delivery_stream: Option<String> = "DeliveryStream",
    }
}

structure! {
    /// `DestinationDetails`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct DestinationDetails {
        pub cloud_watch_logs_details: Option<CloudWatchLogsDetails> = "CloudWatchLogsDetails",
        pub kinesis_firehose_details: Option<KinesisFirehoseDetails> = "KinesisFirehoseDetails",
    }
}

structure! {
    /// `LogDeliveryConfigurationRequest`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct LogDeliveryConfigurationRequest {
        pub log_type: Option<String> = "LogType" in ["slow-log", "engine-log"],
        pub destination_type: Option<String> = "DestinationType" in ["cloudwatch-logs", "kinesis-firehose"],
        pub destination_details: Option<DestinationDetails> = "DestinationDetails",
        pub log_format: Option<String> = "LogFormat" in ["text", "json"],
        pub enabled: Option<bool> = "Enabled",
    }
}

input! {
    /// `CreateReplicationGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateReplicationGroup("CreateReplicationGroup") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub replication_group_description: String = "ReplicationGroupDescription",
        pub global_replication_group_id: Option<String> = "GlobalReplicationGroupId",
        pub primary_cluster_id: Option<String> = "PrimaryClusterId",
        pub automatic_failover_enabled: Option<bool> = "AutomaticFailoverEnabled",
        pub multi_az_enabled: Option<bool> = "MultiAZEnabled",
        pub num_cache_clusters: Option<i32> = "NumCacheClusters",
        pub preferred_cache_cluster_azs: Option<Vec<String>> = "PreferredCacheClusterAZs" / "AvailabilityZone",
        pub num_node_groups: Option<i32> = "NumNodeGroups",
        pub replicas_per_node_group: Option<i32> = "ReplicasPerNodeGroup",
        pub node_group_configuration: Option<Vec<NodeGroupConfiguration>> = "NodeGroupConfiguration" / "NodeGroupConfiguration",
        pub cache_node_type: Option<String> = "CacheNodeType",
        pub engine: Option<String> = "Engine",
        pub engine_version: Option<String> = "EngineVersion",
        pub cache_parameter_group_name: Option<String> = "CacheParameterGroupName",
        pub cache_subnet_group_name: Option<String> = "CacheSubnetGroupName",
        pub cache_security_group_names: Option<Vec<String>> = "CacheSecurityGroupNames" / "CacheSecurityGroupName",
        pub security_group_ids: Option<Vec<String>> = "SecurityGroupIds" / "SecurityGroupId",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
        pub snapshot_arns: Option<Vec<String>> = "SnapshotArns" / "SnapshotArn",
        pub snapshot_name: Option<String> = "SnapshotName",
        pub preferred_maintenance_window: Option<String> = "PreferredMaintenanceWindow",
        pub port: Option<i32> = "Port",
        pub notification_topic_arn: Option<String> = "NotificationTopicArn",
        pub auto_minor_version_upgrade: Option<bool> = "AutoMinorVersionUpgrade",
        pub snapshot_retention_limit: Option<i32> = "SnapshotRetentionLimit",
        pub snapshot_window: Option<String> = "SnapshotWindow",
        pub auth_token: Option<Secret> = "AuthToken",
        pub transit_encryption_enabled: Option<bool> = "TransitEncryptionEnabled",
        pub at_rest_encryption_enabled: Option<bool> = "AtRestEncryptionEnabled",
        pub kms_key_id: Option<String> = "KmsKeyId",
        pub user_group_ids: Option<Vec<String>> = "UserGroupIds",
        pub log_delivery_configurations: Option<Vec<LogDeliveryConfigurationRequest>> = "LogDeliveryConfigurations" / "LogDeliveryConfigurationRequest",
        pub data_tiering_enabled: Option<bool> = "DataTieringEnabled",
        pub network_type: Option<String> = "NetworkType" in ["ipv4", "ipv6", "dual_stack"],
        pub ip_discovery: Option<String> = "IpDiscovery" in ["ipv4", "ipv6"],
        pub transit_encryption_mode: Option<String> = "TransitEncryptionMode" in ["preferred", "required"],
        pub cluster_mode: Option<String> = "ClusterMode" in ["enabled", "disabled", "compatible"],
        pub serverless_cache_snapshot_name: Option<String> = "ServerlessCacheSnapshotName",
        pub durability: Option<String> = "Durability" in ["default", "async", "sync", "disabled"],
    }
}

input! {
    /// `DescribeReplicationGroups`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeReplicationGroups("DescribeReplicationGroups") {
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DeleteReplicationGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteReplicationGroup("DeleteReplicationGroup") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub retain_primary_cluster: Option<bool> = "RetainPrimaryCluster",
        pub final_snapshot_identifier: Option<String> = "FinalSnapshotIdentifier",
    }
}

input! {
    /// `DeleteCacheCluster`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteCacheCluster("DeleteCacheCluster") {
        pub cache_cluster_id: String = "CacheClusterId",
        pub final_snapshot_identifier: Option<String> = "FinalSnapshotIdentifier",
    }
}

input! {
    /// `DescribeCacheClusters`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeCacheClusters("DescribeCacheClusters") {
        pub cache_cluster_id: Option<String> = "CacheClusterId",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
        pub show_cache_node_info: Option<bool> = "ShowCacheNodeInfo",
        pub show_cache_clusters_not_in_replication_groups: Option<bool> = "ShowCacheClustersNotInReplicationGroups",
    }
}

input! {
    /// `DescribeEvents`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeEvents("DescribeEvents") {
        pub source_identifier: Option<String> = "SourceIdentifier",
        pub source_type: Option<String> = "SourceType" in [
            "cache-cluster", "cache-parameter-group", "cache-security-group", "cache-subnet-group",
            "replication-group", "serverless-cache", "serverless-cache-snapshot", "user", "user-group",
        ],
        pub start_time: Option<DateTime<Utc>> = "StartTime",
        pub end_time: Option<DateTime<Utc>> = "EndTime",
        pub duration: Option<i32> = "Duration",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `AddTagsToResource`.
    #[derive(Debug, Clone, Default)]
    pub struct AddTagsToResource("AddTagsToResource") {
        pub resource_name: String = "ResourceName",
        pub tags: Vec<Tag> = "Tags" / "Tag",
    }
}

input! {
    /// `RemoveTagsFromResource`.
    #[derive(Debug, Clone, Default)]
    pub struct RemoveTagsFromResource("RemoveTagsFromResource") {
        pub resource_name: String = "ResourceName",
        pub tag_keys: Vec<String> = "TagKeys",
    }
}

input! {
    /// `ListTagsForResource`.
    #[derive(Debug, Clone, Default)]
    pub struct ListTagsForResource("ListTagsForResource") {
        pub resource_name: String = "ResourceName",
    }
}

input! {
    /// `DescribeCacheEngineVersions`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeCacheEngineVersions("DescribeCacheEngineVersions") {
        pub engine: Option<String> = "Engine",
        pub engine_version: Option<String> = "EngineVersion",
        pub cache_parameter_group_family: Option<String> = "CacheParameterGroupFamily",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
        pub default_only: Option<bool> = "DefaultOnly",
    }
}

input! {
    /// `ModifyReplicationGroup`: every member of the model.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyReplicationGroup("ModifyReplicationGroup") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub replication_group_description: Option<String> = "ReplicationGroupDescription",
        pub primary_cluster_id: Option<String> = "PrimaryClusterId",
        pub snapshotting_cluster_id: Option<String> = "SnapshottingClusterId",
        pub automatic_failover_enabled: Option<bool> = "AutomaticFailoverEnabled",
        pub multi_az_enabled: Option<bool> = "MultiAZEnabled",
        pub node_group_id: Option<String> = "NodeGroupId",
        pub cache_security_group_names: Option<Vec<String>> = "CacheSecurityGroupNames" / "CacheSecurityGroupName",
        pub security_group_ids: Option<Vec<String>> = "SecurityGroupIds" / "SecurityGroupId",
        pub preferred_maintenance_window: Option<String> = "PreferredMaintenanceWindow",
        pub notification_topic_arn: Option<String> = "NotificationTopicArn",
        pub cache_parameter_group_name: Option<String> = "CacheParameterGroupName",
        pub notification_topic_status: Option<String> = "NotificationTopicStatus",
        pub apply_immediately: Option<bool> = "ApplyImmediately",
        pub engine: Option<String> = "Engine",
        pub engine_version: Option<String> = "EngineVersion",
        pub auto_minor_version_upgrade: Option<bool> = "AutoMinorVersionUpgrade",
        pub snapshot_retention_limit: Option<i32> = "SnapshotRetentionLimit",
        pub snapshot_window: Option<String> = "SnapshotWindow",
        pub cache_node_type: Option<String> = "CacheNodeType",
        pub auth_token: Option<Secret> = "AuthToken",
        pub auth_token_update_strategy: Option<String> = "AuthTokenUpdateStrategy" in ["SET", "ROTATE", "DELETE"],
        pub user_group_ids_to_add: Option<Vec<String>> = "UserGroupIdsToAdd",
        pub user_group_ids_to_remove: Option<Vec<String>> = "UserGroupIdsToRemove",
        pub remove_user_groups: Option<bool> = "RemoveUserGroups",
        pub log_delivery_configurations: Option<Vec<LogDeliveryConfigurationRequest>> = "LogDeliveryConfigurations" / "LogDeliveryConfigurationRequest",
        pub ip_discovery: Option<String> = "IpDiscovery" in ["ipv4", "ipv6"],
        pub transit_encryption_enabled: Option<bool> = "TransitEncryptionEnabled",
        pub transit_encryption_mode: Option<String> = "TransitEncryptionMode" in ["preferred", "required"],
        pub cluster_mode: Option<String> = "ClusterMode" in ["enabled", "disabled", "compatible"],
        pub durability: Option<String> = "Durability" in ["default", "async", "sync", "disabled"],
    }
}

structure! {
    /// One `CustomerNodeEndpoint`: the source Redis of an online migration.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct CustomerNodeEndpoint {
        pub address: Option<String> = "Address",
        pub port: Option<i32> = "Port",
    }
}

input! {
    /// `TestMigration`.
    #[derive(Debug, Clone, Default)]
    pub struct TestMigration("TestMigration") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub customer_node_endpoint_list: Vec<CustomerNodeEndpoint> = "CustomerNodeEndpointList",
    }
}

input! {
    /// `StartMigration`. Since botocore 1.44 no member is required (`ServerlessCacheName` is an alternative to
    /// `ReplicationGroupId`); one of the two must be there ([`Request::decode`] checks).
    #[derive(Debug, Clone, Default)]
    pub struct StartMigration("StartMigration") {
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub serverless_cache_name: Option<String> = "ServerlessCacheName",
        pub customer_node_endpoint_list: Option<Vec<CustomerNodeEndpoint>> = "CustomerNodeEndpointList",
        pub auto_cutover: Option<bool> = "AutoCutover",
        pub clear_target_cache_data: Option<bool> = "ClearTargetCacheData",
    }
}

input! {
    /// `CompleteMigration` (`ReplicationGroupId` or `ServerlessCacheName`, as [`StartMigration`]).
    #[derive(Debug, Clone, Default)]
    pub struct CompleteMigration("CompleteMigration") {
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub serverless_cache_name: Option<String> = "ServerlessCacheName",
        pub force: Option<bool> = "Force",
    }
}

/// `ReplicationGroupId` unless `ServerlessCacheName` stands in for it.
fn group_or_serverless(rg: &Option<String>, serverless: &Option<String>) -> Result<(), ApiError> {
    if rg.is_none() && serverless.is_none() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter ReplicationGroupId (or ServerlessCacheName).",
        ));
    }
    Ok(())
}

input! {
    /// `TestFailover`.
    #[derive(Debug, Clone, Default)]
    pub struct TestFailover("TestFailover") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub node_group_id: String = "NodeGroupId",
    }
}

structure! {
    /// `ConfigureShard` of `ReplicaConfiguration`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ConfigureShard {
        pub node_group_id: String = "NodeGroupId",
        pub new_replica_count: i32 = "NewReplicaCount",
        pub preferred_availability_zones: Option<Vec<String>> = "PreferredAvailabilityZones" / "PreferredAvailabilityZone",
        pub preferred_outpost_arns: Option<Vec<String>> = "PreferredOutpostArns" / "PreferredOutpostArn",
    }
}

input! {
    /// `IncreaseReplicaCount`.
    #[derive(Debug, Clone, Default)]
    pub struct IncreaseReplicaCount("IncreaseReplicaCount") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub new_replica_count: Option<i32> = "NewReplicaCount",
        pub replica_configuration: Option<Vec<ConfigureShard>> = "ReplicaConfiguration" / "ConfigureShard",
        pub apply_immediately: bool = "ApplyImmediately",
    }
}

input! {
    /// `DecreaseReplicaCount`.
    #[derive(Debug, Clone, Default)]
    pub struct DecreaseReplicaCount("DecreaseReplicaCount") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub new_replica_count: Option<i32> = "NewReplicaCount",
        pub replica_configuration: Option<Vec<ConfigureShard>> = "ReplicaConfiguration" / "ConfigureShard",
        pub replicas_to_remove: Option<Vec<String>> = "ReplicasToRemove",
        pub apply_immediately: bool = "ApplyImmediately",
    }
}

structure! {
    /// `ReshardingConfiguration`: a new node group's id and zones.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ReshardingConfiguration {
        pub node_group_id: Option<String> = "NodeGroupId",
        pub preferred_availability_zones: Option<Vec<String>> = "PreferredAvailabilityZones" / "AvailabilityZone",
    }
}

input! {
    /// `ModifyReplicationGroupShardConfiguration`.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyReplicationGroupShardConfiguration("ModifyReplicationGroupShardConfiguration") {
        pub replication_group_id: String = "ReplicationGroupId",
        pub node_group_count: i32 = "NodeGroupCount",
        pub apply_immediately: bool = "ApplyImmediately",
        pub resharding_configuration: Option<Vec<ReshardingConfiguration>> = "ReshardingConfiguration" / "ReshardingConfiguration",
        pub node_groups_to_remove: Option<crate::decode::EitherItems> = "NodeGroupsToRemove" / "NodeGroupToRemove",
        pub node_groups_to_retain: Option<crate::decode::EitherItems> = "NodeGroupsToRetain" / "NodeGroupToRetain",
    }
}

/// `IncreaseReplicaCount` and `DecreaseReplicaCount` as the domain takes them (only the latter has
/// `ReplicasToRemove`).
#[derive(Debug, Clone, Default)]
pub struct ChangeReplicaCount {
    pub replication_group_id: String,
    pub new_replica_count: Option<i32>,
    pub replica_configuration: Option<Vec<ConfigureShard>>,
    pub replicas_to_remove: Option<Vec<String>>,
    pub apply_immediately: bool,
}

impl From<IncreaseReplicaCount> for ChangeReplicaCount {
    fn from(i: IncreaseReplicaCount) -> Self {
        Self {
            replication_group_id: i.replication_group_id,
            new_replica_count: i.new_replica_count,
            replica_configuration: i.replica_configuration,
            replicas_to_remove: None,
            apply_immediately: i.apply_immediately,
        }
    }
}

impl From<DecreaseReplicaCount> for ChangeReplicaCount {
    fn from(d: DecreaseReplicaCount) -> Self {
        Self {
            replication_group_id: d.replication_group_id,
            new_replica_count: d.new_replica_count,
            replica_configuration: d.replica_configuration,
            replicas_to_remove: d.replicas_to_remove,
            apply_immediately: d.apply_immediately,
        }
    }
}

input! {
    /// `RebootCacheCluster`.
    #[derive(Debug, Clone, Default)]
    pub struct RebootCacheCluster("RebootCacheCluster") {
        pub cache_cluster_id: String = "CacheClusterId",
        pub cache_node_ids_to_reboot: Vec<String> = "CacheNodeIdsToReboot" / "CacheNodeId",
    }
}

structure! {
    /// `AuthenticationMode` of `CreateUser` / `ModifyUser`.
    #[derive(Debug, Clone, Default)]
    pub struct AuthenticationMode {
        /// `password`, `no-password-required` or `iam` (checked by `control`, which words the refusal as AWS does).
        pub kind: Option<String> = "Type",
        pub passwords: Option<Vec<Secret>> = "Passwords",
    }
}

input! {
    /// `CreateUser`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateUser("CreateUser") {
        pub user_id: String = "UserId",
        pub user_name: String = "UserName",
        pub engine: String = "Engine",
        pub passwords: Option<Vec<Secret>> = "Passwords",
        pub access_string: String = "AccessString",
        pub no_password_required: Option<bool> = "NoPasswordRequired",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
        pub authentication_mode: Option<AuthenticationMode> = "AuthenticationMode",
    }
}

input! {
    /// `ModifyUser`.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyUser("ModifyUser") {
        pub user_id: String = "UserId",
        pub access_string: Option<String> = "AccessString",
        pub append_access_string: Option<String> = "AppendAccessString",
        pub passwords: Option<Vec<Secret>> = "Passwords",
        pub no_password_required: Option<bool> = "NoPasswordRequired",
        pub authentication_mode: Option<AuthenticationMode> = "AuthenticationMode",
        pub engine: Option<String> = "Engine",
    }
}

input! {
    /// `DeleteUser`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteUser("DeleteUser") {
        pub user_id: String = "UserId",
    }
}

structure! {
    /// A `Filters` item of `DescribeUsers`.
    #[derive(Debug, Clone, Default)]
    pub struct Filter {
        pub name: String = "Name",
        pub values: Vec<String> = "Values",
    }
}

input! {
    /// `DescribeUsers`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeUsers("DescribeUsers") {
        pub engine: Option<String> = "Engine",
        pub user_id: Option<String> = "UserId",
        pub filters: Option<Vec<Filter>> = "Filters",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `CreateUserGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateUserGroup("CreateUserGroup") {
        pub user_group_id: String = "UserGroupId",
        pub engine: String = "Engine",
        pub user_ids: Option<Vec<String>> = "UserIds",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
    }
}

input! {
    /// `ModifyUserGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyUserGroup("ModifyUserGroup") {
        pub user_group_id: String = "UserGroupId",
        pub user_ids_to_add: Option<Vec<String>> = "UserIdsToAdd",
        pub user_ids_to_remove: Option<Vec<String>> = "UserIdsToRemove",
        pub engine: Option<String> = "Engine",
    }
}

input! {
    /// `DeleteUserGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteUserGroup("DeleteUserGroup") {
        pub user_group_id: String = "UserGroupId",
    }
}

input! {
    /// `DescribeUserGroups`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeUserGroups("DescribeUserGroups") {
        pub user_group_id: Option<String> = "UserGroupId",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `CreateSnapshot`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateSnapshot("CreateSnapshot") {
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub cache_cluster_id: Option<String> = "CacheClusterId",
        pub snapshot_name: String = "SnapshotName",
        pub kms_key_id: Option<String> = "KmsKeyId",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
    }
}

input! {
    /// `DescribeSnapshots`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeSnapshots("DescribeSnapshots") {
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub cache_cluster_id: Option<String> = "CacheClusterId",
        pub snapshot_name: Option<String> = "SnapshotName",
        pub snapshot_source: Option<String> = "SnapshotSource",
        pub marker: Option<String> = "Marker",
        pub max_records: Option<i32> = "MaxRecords",
        pub show_node_group_config: Option<bool> = "ShowNodeGroupConfig",
    }
}

input! {
    /// `CopySnapshot`.
    #[derive(Debug, Clone, Default)]
    pub struct CopySnapshot("CopySnapshot") {
        pub source_snapshot_name: String = "SourceSnapshotName",
        pub target_snapshot_name: String = "TargetSnapshotName",
        pub target_bucket: Option<String> = "TargetBucket",
        pub kms_key_id: Option<String> = "KmsKeyId",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
    }
}

input! {
    /// `DeleteSnapshot`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteSnapshot("DeleteSnapshot") {
        pub snapshot_name: String = "SnapshotName",
    }
}

input! {
    /// `CreateCacheSubnetGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateCacheSubnetGroup("CreateCacheSubnetGroup") {
        pub cache_subnet_group_name: String = "CacheSubnetGroupName",
        pub cache_subnet_group_description: String = "CacheSubnetGroupDescription",
        pub subnet_ids: Vec<String> = "SubnetIds" / "SubnetIdentifier",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
    }
}

input! {
    /// `ModifyCacheSubnetGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyCacheSubnetGroup("ModifyCacheSubnetGroup") {
        pub cache_subnet_group_name: String = "CacheSubnetGroupName",
        pub cache_subnet_group_description: Option<String> = "CacheSubnetGroupDescription",
        pub subnet_ids: Option<Vec<String>> = "SubnetIds" / "SubnetIdentifier",
    }
}

input! {
    /// `DeleteCacheSubnetGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteCacheSubnetGroup("DeleteCacheSubnetGroup") {
        pub cache_subnet_group_name: String = "CacheSubnetGroupName",
    }
}

input! {
    /// `DescribeCacheSubnetGroups`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeCacheSubnetGroups("DescribeCacheSubnetGroups") {
        pub cache_subnet_group_name: Option<String> = "CacheSubnetGroupName",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

structure! {
    /// `ParameterNameValue`: one parameter of `ModifyCacheParameterGroup` or `ResetCacheParameterGroup`.
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ParameterNameValue {
        pub parameter_name: Option<String> = "ParameterName",
        pub parameter_value: Option<String> = "ParameterValue",
    }
}

input! {
    /// `CreateCacheParameterGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateCacheParameterGroup("CreateCacheParameterGroup") {
        pub cache_parameter_group_name: String = "CacheParameterGroupName",
        pub cache_parameter_group_family: String = "CacheParameterGroupFamily",
        pub description: String = "Description",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
    }
}

input! {
    /// `ModifyCacheParameterGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyCacheParameterGroup("ModifyCacheParameterGroup") {
        pub cache_parameter_group_name: String = "CacheParameterGroupName",
        pub parameter_name_values: Vec<ParameterNameValue> = "ParameterNameValues" / "ParameterNameValue",
    }
}

input! {
    /// `ResetCacheParameterGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct ResetCacheParameterGroup("ResetCacheParameterGroup") {
        pub cache_parameter_group_name: String = "CacheParameterGroupName",
        pub reset_all_parameters: Option<bool> = "ResetAllParameters",
        pub parameter_name_values: Option<Vec<ParameterNameValue>> = "ParameterNameValues" / "ParameterNameValue",
    }
}

input! {
    /// `DeleteCacheParameterGroup`.
    #[derive(Debug, Clone, Default)]
    pub struct DeleteCacheParameterGroup("DeleteCacheParameterGroup") {
        pub cache_parameter_group_name: String = "CacheParameterGroupName",
    }
}

input! {
    /// `DescribeCacheParameterGroups`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeCacheParameterGroups("DescribeCacheParameterGroups") {
        pub cache_parameter_group_name: Option<String> = "CacheParameterGroupName",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DescribeCacheParameters`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeCacheParameters("DescribeCacheParameters") {
        pub cache_parameter_group_name: String = "CacheParameterGroupName",
        pub source: Option<String> = "Source" in ["user", "system", "engine-default"],
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DescribeEngineDefaultParameters`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeEngineDefaultParameters("DescribeEngineDefaultParameters") {
        pub cache_parameter_group_family: String = "CacheParameterGroupFamily",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `ListAllowedNodeTypeModifications`.
    #[derive(Debug, Clone, Default)]
    pub struct ListAllowedNodeTypeModifications("ListAllowedNodeTypeModifications") {
        pub cache_cluster_id: Option<String> = "CacheClusterId",
        pub replication_group_id: Option<String> = "ReplicationGroupId",
    }
}

input! {
    /// `DescribeReservedCacheNodes`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeReservedCacheNodes("DescribeReservedCacheNodes") {
        pub reserved_cache_node_id: Option<String> = "ReservedCacheNodeId",
        pub reserved_cache_nodes_offering_id: Option<String> = "ReservedCacheNodesOfferingId",
        pub cache_node_type: Option<String> = "CacheNodeType",
        pub duration: Option<String> = "Duration",
        pub product_description: Option<String> = "ProductDescription",
        pub offering_type: Option<String> = "OfferingType",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DescribeReservedCacheNodesOfferings`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeReservedCacheNodesOfferings("DescribeReservedCacheNodesOfferings") {
        pub reserved_cache_nodes_offering_id: Option<String> = "ReservedCacheNodesOfferingId",
        pub cache_node_type: Option<String> = "CacheNodeType",
        pub duration: Option<String> = "Duration",
        pub product_description: Option<String> = "ProductDescription",
        pub offering_type: Option<String> = "OfferingType",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DescribeServiceUpdates`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeServiceUpdates("DescribeServiceUpdates") {
        pub service_update_name: Option<String> = "ServiceUpdateName",
        pub service_update_status: Option<Vec<String>> = "ServiceUpdateStatus",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DescribeUpdateActions`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeUpdateActions("DescribeUpdateActions") {
        pub service_update_name: Option<String> = "ServiceUpdateName",
        pub replication_group_ids: Option<Vec<String>> = "ReplicationGroupIds",
        pub cache_cluster_ids: Option<Vec<String>> = "CacheClusterIds",
        pub engine: Option<String> = "Engine",
        pub service_update_status: Option<Vec<String>> = "ServiceUpdateStatus",
        pub service_update_time_range_start: Option<DateTime<Utc>> = "ServiceUpdateTimeRange.StartTime",
        pub service_update_time_range_end: Option<DateTime<Utc>> = "ServiceUpdateTimeRange.EndTime",
        pub update_action_status: Option<Vec<String>> = "UpdateActionStatus",
        pub show_node_level_update_status: Option<bool> = "ShowNodeLevelUpdateStatus",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

input! {
    /// `DescribeCacheSecurityGroups`.
    #[derive(Debug, Clone, Default)]
    pub struct DescribeCacheSecurityGroups("DescribeCacheSecurityGroups") {
        pub cache_security_group_name: Option<String> = "CacheSecurityGroupName",
        pub max_records: Option<i32> = "MaxRecords",
        pub marker: Option<String> = "Marker",
    }
}

structure! {
    /// `ScaleConfig` of `ModifyCacheCluster` (Memcached vertical scaling).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct ScaleConfig {
        pub scale_percentage: Option<i32> = "ScalePercentage",
        pub scale_interval_minutes: Option<i32> = "ScaleIntervalMinutes",
    }
}

input! {
    /// `CreateCacheCluster`.
    #[derive(Debug, Clone, Default)]
    pub struct CreateCacheCluster("CreateCacheCluster") {
        pub cache_cluster_id: String = "CacheClusterId",
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub az_mode: Option<String> = "AZMode" in ["single-az", "cross-az"],
        pub preferred_availability_zone: Option<String> = "PreferredAvailabilityZone",
        pub preferred_availability_zones: Option<Vec<String>> = "PreferredAvailabilityZones" / "PreferredAvailabilityZone",
        pub num_cache_nodes: Option<i32> = "NumCacheNodes",
        pub cache_node_type: Option<String> = "CacheNodeType",
        pub engine: Option<String> = "Engine",
        pub engine_version: Option<String> = "EngineVersion",
        pub cache_parameter_group_name: Option<String> = "CacheParameterGroupName",
        pub cache_subnet_group_name: Option<String> = "CacheSubnetGroupName",
        pub cache_security_group_names: Option<Vec<String>> = "CacheSecurityGroupNames" / "CacheSecurityGroupName",
        pub security_group_ids: Option<Vec<String>> = "SecurityGroupIds" / "SecurityGroupId",
        pub tags: Option<Vec<Tag>> = "Tags" / "Tag",
        pub snapshot_arns: Option<Vec<String>> = "SnapshotArns" / "SnapshotArn",
        pub snapshot_name: Option<String> = "SnapshotName",
        pub preferred_maintenance_window: Option<String> = "PreferredMaintenanceWindow",
        pub port: Option<i32> = "Port",
        pub notification_topic_arn: Option<String> = "NotificationTopicArn",
        pub auto_minor_version_upgrade: Option<bool> = "AutoMinorVersionUpgrade",
        pub snapshot_retention_limit: Option<i32> = "SnapshotRetentionLimit",
        pub snapshot_window: Option<String> = "SnapshotWindow",
        pub auth_token: Option<Secret> = "AuthToken",
        pub outpost_mode: Option<String> = "OutpostMode" in ["single-outpost", "cross-outpost"],
        pub preferred_outpost_arn: Option<String> = "PreferredOutpostArn",
        pub preferred_outpost_arns: Option<Vec<String>> = "PreferredOutpostArns" / "PreferredOutpostArn",
        pub log_delivery_configurations: Option<Vec<LogDeliveryConfigurationRequest>> = "LogDeliveryConfigurations" / "LogDeliveryConfigurationRequest",
        pub transit_encryption_enabled: Option<bool> = "TransitEncryptionEnabled",
        pub network_type: Option<String> = "NetworkType" in ["ipv4", "ipv6", "dual_stack"],
        pub ip_discovery: Option<String> = "IpDiscovery" in ["ipv4", "ipv6"],
    }
}

input! {
    /// `ModifyCacheCluster`.
    #[derive(Debug, Clone, Default)]
    pub struct ModifyCacheCluster("ModifyCacheCluster") {
        pub cache_cluster_id: String = "CacheClusterId",
        pub num_cache_nodes: Option<i32> = "NumCacheNodes",
        pub cache_node_ids_to_remove: Option<Vec<String>> = "CacheNodeIdsToRemove" / "CacheNodeId",
        pub az_mode: Option<String> = "AZMode" in ["single-az", "cross-az"],
        pub new_availability_zones: Option<Vec<String>> = "NewAvailabilityZones" / "PreferredAvailabilityZone",
        pub cache_security_group_names: Option<Vec<String>> = "CacheSecurityGroupNames" / "CacheSecurityGroupName",
        pub security_group_ids: Option<Vec<String>> = "SecurityGroupIds" / "SecurityGroupId",
        pub preferred_maintenance_window: Option<String> = "PreferredMaintenanceWindow",
        pub notification_topic_arn: Option<String> = "NotificationTopicArn",
        pub cache_parameter_group_name: Option<String> = "CacheParameterGroupName",
        pub notification_topic_status: Option<String> = "NotificationTopicStatus",
        pub apply_immediately: Option<bool> = "ApplyImmediately",
        pub engine: Option<String> = "Engine",
        pub engine_version: Option<String> = "EngineVersion",
        pub auto_minor_version_upgrade: Option<bool> = "AutoMinorVersionUpgrade",
        pub snapshot_retention_limit: Option<i32> = "SnapshotRetentionLimit",
        pub snapshot_window: Option<String> = "SnapshotWindow",
        pub cache_node_type: Option<String> = "CacheNodeType",
        pub auth_token: Option<Secret> = "AuthToken",
        pub auth_token_update_strategy: Option<String> = "AuthTokenUpdateStrategy" in ["SET", "ROTATE", "DELETE"],
        pub log_delivery_configurations: Option<Vec<LogDeliveryConfigurationRequest>> = "LogDeliveryConfigurations" / "LogDeliveryConfigurationRequest",
        pub ip_discovery: Option<String> = "IpDiscovery" in ["ipv4", "ipv6"],
        pub scale_config: Option<ScaleConfig> = "ScaleConfig",
    }
}

/// An action: its input (the struct named after it, decoded from the form) and its output (the members of its
/// `<ActionResult>`).
pub trait Action {
    const NAME: &'static str;
    type Output: crate::output::Body;
}

/// The one list of actions: every implemented action, `Input => Output` (`#[boxed]` for the large inputs), then
/// every other action of the ElastiCache API (2015-02-02), refused. Everything that depends on the list is made
/// from it by `$callback`: here [`Request`], the [`Action`] impls and [`ALL_ACTIONS`]; in the daemon, the
/// dispatch to each action's handler. Adding an action is one line here and its handler.
/// (`tests/compat/api_coverage.py` reads this list for docs/api-coverage.md.)
#[macro_export]
macro_rules! with_actions {
    ($callback:ident) => {
        $callback! {
            implemented {
                #[boxed] CreateReplicationGroup => ReplicationGroupResult,
                DescribeReplicationGroups => ReplicationGroupMessage,
                DeleteReplicationGroup => ReplicationGroupResult,
                DescribeCacheClusters => CacheClusterMessage,
                DeleteCacheCluster => CacheClusterResult,
                DescribeEvents => EventsMessage,
                AddTagsToResource => TagListMessage,
                RemoveTagsFromResource => TagListMessage,
                ListTagsForResource => TagListMessage,
                DescribeCacheEngineVersions => CacheEngineVersionMessage,
                #[boxed] ModifyReplicationGroup => ReplicationGroupResult,
                TestMigration => ReplicationGroupResult,
                StartMigration => ReplicationGroupResult,
                CompleteMigration => ReplicationGroupResult,
                TestFailover => ReplicationGroupResult,
                IncreaseReplicaCount => ReplicationGroupResult,
                DecreaseReplicaCount => ReplicationGroupResult,
                ModifyReplicationGroupShardConfiguration => ReplicationGroupResult,
                RebootCacheCluster => CacheClusterResult,
                CreateUser => User,
                ModifyUser => User,
                DeleteUser => User,
                DescribeUsers => DescribeUsersResult,
                CreateUserGroup => UserGroup,
                ModifyUserGroup => UserGroup,
                DeleteUserGroup => UserGroup,
                DescribeUserGroups => DescribeUserGroupsResult,
                CreateSnapshot => SnapshotResult,
                DescribeSnapshots => DescribeSnapshotsListMessage,
                CopySnapshot => SnapshotResult,
                DeleteSnapshot => SnapshotResult,
                CreateCacheSubnetGroup => CacheSubnetGroupResult,
                ModifyCacheSubnetGroup => CacheSubnetGroupResult,
                DeleteCacheSubnetGroup => Empty,
                DescribeCacheSubnetGroups => CacheSubnetGroupMessage,
                ListAllowedNodeTypeModifications => AllowedNodeTypeModificationsMessage,
                DescribeReservedCacheNodes => ReservedCacheNodeMessage,
                DescribeReservedCacheNodesOfferings => ReservedCacheNodesOfferingMessage,
                DescribeServiceUpdates => ServiceUpdatesMessage,
                DescribeUpdateActions => UpdateActionsMessage,
                DescribeCacheSecurityGroups => CacheSecurityGroupMessage,
                #[boxed] CreateCacheCluster => CacheClusterResult,
                #[boxed] ModifyCacheCluster => CacheClusterResult,
                CreateCacheParameterGroup => CacheParameterGroupResult,
                ModifyCacheParameterGroup => CacheParameterGroupNameMessage,
                ResetCacheParameterGroup => CacheParameterGroupNameMessage,
                DeleteCacheParameterGroup => Empty,
                DescribeCacheParameterGroups => CacheParameterGroupsMessage,
                DescribeCacheParameters => CacheParameterGroupDetails,
                DescribeEngineDefaultParameters => EngineDefaultsResult,
            }
            refused {
                AuthorizeCacheSecurityGroupIngress,
                BatchApplyUpdateAction,
                BatchStopUpdateAction,
                CopyServerlessCacheSnapshot,
                CreateCacheSecurityGroup,
                CreateGlobalReplicationGroup,
                CreateServerlessCache,
                CreateServerlessCacheSnapshot,
                DecreaseNodeGroupsInGlobalReplicationGroup,
                DeleteCacheSecurityGroup,
                DeleteGlobalReplicationGroup,
                DeleteServerlessCache,
                DeleteServerlessCacheSnapshot,
                DescribeGlobalReplicationGroups,
                DescribeServerlessCacheSnapshots,
                DescribeServerlessCaches,
                DisassociateGlobalReplicationGroup,
                ExportServerlessCacheSnapshot,
                FailoverGlobalReplicationGroup,
                IncreaseNodeGroupsInGlobalReplicationGroup,
                ModifyGlobalReplicationGroup,
                ModifyServerlessCache,
                PrepareMigration,
                PurchaseReservedCacheNodesOffering,
                RebalanceSlotsInGlobalReplicationGroup,
                RevokeCacheSecurityGroupIngress,
                StopMigration,
            }
        }
    };
}

/// Declares [`Request`] (one variant per implemented action, named after its input), its decoding by `Action`,
/// the [`Action`] impls and [`ALL_ACTIONS`], from [`with_actions!`]'s list.
macro_rules! requests {
    (@payload boxed $name:ident) => { Box<$name> };
    (@payload $name:ident) => { $name };
    (
        implemented { $( $(#[$boxed:ident])? $name:ident => $output:ident ),* $(,)? }
        refused { $( $refused:ident ),* $(,)? }
    ) => {
        /// A decoded request of a supported action.
        #[derive(Debug, Clone)]
        pub enum Request {
            $( $name(requests!(@payload $($boxed)? $name)), )*
        }

        $(
            impl Action for $name {
                const NAME: &'static str = $name::ACTION;
                type Output = $crate::output::$output;
            }
        )*

        /// Every action of the ElastiCache API (2015-02-02), for telling "not built yet" from "no such action".
        pub const ALL_ACTIONS: &[&str] = &[$( $name::ACTION, )* $( stringify!($refused), )*];

        impl Request {
            /// The action's name as sent in `Action`.
            pub fn action(&self) -> &'static str {
                match self {
                    $( Self::$name(_) => $name::ACTION, )*
                }
            }

            /// The input of `action`, decoded from `f`; `None` for an action this version does not implement.
            fn decode_action(action: &str, f: Form) -> Option<Result<Self, ApiError>> {
                Some(match action {
                    $( $name::ACTION => $name::decode(f).map(|r| Self::$name(r.into())), )*
                    _ => return None,
                })
            }
        }
    };
}

with_actions!(requests);

impl Request {
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
        let Some(req) = Self::decode_action(&action, f) else {
            if ALL_ACTIONS.contains(&action.as_str()) {
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    format!("The action {action} is an ElastiCache action that this Cacheplane version does not implement yet."),
                ));
            }
            let shown: String = action.chars().take(64).collect();
            return Err(ApiError::new(
                ErrorCode::InvalidAction,
                format!("The action {shown} is not valid for this web service."),
            ));
        };
        let req = req?;
        match &req {
            Self::StartMigration(s) => {
                group_or_serverless(&s.replication_group_id, &s.serverless_cache_name)?
            }
            Self::CompleteMigration(c) => {
                group_or_serverless(&c.replication_group_id, &c.serverless_cache_name)?
            }
            _ => {}
        }
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
    fn node_groups_to_remove_under_either_item_name() {
        let base = "Action=ModifyReplicationGroupShardConfiguration&Version=2015-02-02&ReplicationGroupId=rg\
                    &NodeGroupCount=2&ApplyImmediately=true";
        for list in [
            "NodeGroupsToRemove.NodeGroupToRemove.1=0002&NodeGroupsToRemove.NodeGroupToRemove.2=0003",
            "NodeGroupsToRemove.member.1=0002&NodeGroupsToRemove.member.2=0003",
        ] {
            let Ok(Request::ModifyReplicationGroupShardConfiguration(m)) =
                decode(&format!("{base}&{list}"))
            else {
                panic!("{list} does not decode")
            };
            assert_eq!(
                m.node_groups_to_remove.map(|l| l.0),
                Some(vec!["0002".to_string(), "0003".to_string()])
            );
        }
        let Ok(Request::ModifyReplicationGroupShardConfiguration(m)) = decode(&format!(
            "{base}&ReshardingConfiguration.ReshardingConfiguration.1.NodeGroupId=0004\
             &ReshardingConfiguration.ReshardingConfiguration.1.PreferredAvailabilityZones.AvailabilityZone.1=us-east-1a"
        )) else {
            panic!("resharding configuration does not decode")
        };
        let r = m.resharding_configuration.expect("configuration");
        assert_eq!(r[0].node_group_id.as_deref(), Some("0004"));
        // Both item names at once: the second list is a member the action does not have.
        assert!(decode(&format!(
            "{base}&NodeGroupsToRemove.member.1=0002&NodeGroupsToRemove.NodeGroupToRemove.1=0003"
        ))
        .is_err());
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
                .and_then(|l| l[0].destination_details.clone())
                .and_then(|d| d.cloud_watch_logs_details)
                .and_then(|c| c.log_group),
            Some("g".into())
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
    fn every_action_is_listed_once() {
        let mut all = ALL_ACTIONS.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), ALL_ACTIONS.len());
        assert_eq!(
            ALL_ACTIONS.len(),
            77,
            "botocore's ElastiCache model has 77 operations"
        );
        assert_eq!(
            <CreateReplicationGroup as Action>::NAME,
            "CreateReplicationGroup"
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
