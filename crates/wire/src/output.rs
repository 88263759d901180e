//! Output shapes of the supported actions, declared with their members' wire names (element names from the model)
//! as [`crate::encode`] describes, and the outputs of the actions: the members of their `<ActionResult>`.

use chrono::{DateTime, Utc};

use crate::encode::{nonempty_list, open_list, open_list_if_any};
pub use crate::encode::{respond, timestamp, At, Body, Element, Empty};
use crate::xml::XmlWriter;

/// An empty list, for members always empty here.
pub const EMPTY: &[&str] = &[];
/// `SupportedNetworkTypes` of every subnet group and subnet.
const NETWORK_TYPES: &[&str] = &["ipv4", "dual_stack"];

output! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Endpoint {
        pub address: String = "Address",
        pub port: u16 = "Port",
    }
}

output! {
    #[derive(Debug, Clone, Default)]
    pub struct NodeGroupMember {
        pub cache_cluster_id: String = "CacheClusterId",
        pub cache_node_id: String = "CacheNodeId",
        pub read_endpoint: Option<Endpoint> = "ReadEndpoint",
        pub preferred_availability_zone: Option<String> = "PreferredAvailabilityZone",
        pub current_role: Option<String> = "CurrentRole",
    }
}

output! {
    #[derive(Debug, Clone, Default)]
    pub struct NodeGroup {
        pub node_group_id: String = "NodeGroupId",
        pub status: String = "Status",
        pub primary_endpoint: Option<Endpoint> = "PrimaryEndpoint",
        pub reader_endpoint: Option<Endpoint> = "ReaderEndpoint",
        /// `Slots`: the hash-slot ranges of a cluster-mode shard, `0-5461,10923-11000`.
        pub slots: Option<String> = "Slots",
        pub members: Vec<NodeGroupMember> = "NodeGroupMembers" / "NodeGroupMember" with open_list,
    }
}

output! {
    /// `ReplicationGroupPendingModifiedValues`.
    #[derive(Debug, Clone, Default)]
    pub struct ReplicationGroupPending {
        pub primary_cluster_id: Option<String> = "PrimaryClusterId",
        pub automatic_failover_status: Option<String> = "AutomaticFailoverStatus",
        pub auth_token_status: Option<String> = "AuthTokenStatus",
        pub transit_encryption_enabled: Option<bool> = "TransitEncryptionEnabled",
        pub transit_encryption_mode: Option<String> = "TransitEncryptionMode",
        pub cluster_mode: Option<String> = "ClusterMode",
        /// `LogDeliveryConfigurations` being enabled, changed or disabled.
        pub log_delivery: Vec<LogDeliveryConfiguration> = "LogDeliveryConfigurations" with pending_log_deliveries,
        /// `UserGroups`: `(UserGroupIdsToAdd, UserGroupIdsToRemove)` while a change of user groups is applied.
        pub user_groups: Option<(Vec<String>, Vec<String>)> = "UserGroups" with user_groups_change,
        /// `Resharding.SlotMigration.ProgressPercentage` while slots move.
        pub resharding_progress: Option<f64> = "Resharding" with slot_migration,
    }
}

fn user_groups_change(change: &Option<(Vec<String>, Vec<String>)>, w: &mut XmlWriter, at: At<'_>) {
    if let Some((add, remove)) = change {
        w.open(at.name);
        add.write(w, At::new("UserGroupIdsToAdd"));
        remove.write(w, At::new("UserGroupIdsToRemove"));
        w.close(at.name);
    }
}

fn slot_migration(progress: &Option<f64>, w: &mut XmlWriter, at: At<'_>) {
    if let Some(pct) = progress {
        w.open(at.name);
        w.open("SlotMigration");
        w.text("ProgressPercentage", &format!("{pct:.1}"));
        w.close("SlotMigration");
        w.close(at.name);
    }
}

output! {
    /// A `LogDeliveryConfiguration` (and, without its status, a `PendingLogDeliveryConfiguration`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct LogDeliveryConfiguration {
        pub log_type: String = "LogType",
        pub destination_type: String = "DestinationType",
        /// The log group (`cloudwatch-logs`) or delivery stream (`kinesis-firehose`).
        pub destination: String = "DestinationDetails" by destination_details,
        pub log_format: String = "LogFormat",
        pub status: String = "Status",
        pub message: Option<String> = "Message",
    }
}

impl LogDeliveryConfiguration {
    fn destination_details(&self, w: &mut XmlWriter, at: At<'_>) {
        w.open(at.name);
        let (kind, name) = if self.destination_type == "cloudwatch-logs" {
            ("CloudWatchLogsDetails", "LogGroup")
        } else {
            ("KinesisFirehoseDetails", "DeliveryStream")
        };
        w.open(kind);
        w.text(name, &self.destination);
        w.close(kind);
        w.close(at.name);
    }
}

/// `PendingModifiedValues.LogDeliveryConfigurations`: its members have no element name in AWS's model, so each
/// is a `<member>`, without status. The list shape itself carries a `locationName`
/// (`PendingLogDeliveryConfiguration`) that botocore takes as the list's element name, while the Smithy SDKs read
/// the member's name: both are written, so that boto3 and the SDKs each find the list (a parser skips the element
/// it does not know). Left out when empty.
fn pending_log_deliveries(list: &[LogDeliveryConfiguration], w: &mut XmlWriter, at: At<'_>) {
    if list.is_empty() {
        return;
    }
    for name in [at.name, "PendingLogDeliveryConfiguration"] {
        w.open(name);
        for l in list {
            w.open("member");
            l.log_type.write(w, At::new("LogType"));
            l.destination_type.write(w, At::new("DestinationType"));
            l.destination_details(w, At::new("DestinationDetails"));
            l.log_format.write(w, At::new("LogFormat"));
            w.close("member");
        }
        w.close(name);
    }
}

output! {
    /// The `ReplicationGroup` shape.
    #[derive(Debug, Clone, Default)]
    pub struct ReplicationGroup {
        pub replication_group_id: String = "ReplicationGroupId",
        pub description: String = "Description",
        pub status: String = "Status",
        pub pending: ReplicationGroupPending = "PendingModifiedValues",
        pub member_clusters: Vec<String> = "MemberClusters" / "ClusterId",
        pub node_groups: Vec<NodeGroup> = "NodeGroups" / "NodeGroup" with open_list,
        pub snapshotting_cluster_id: Option<String> = "SnapshottingClusterId",
        pub automatic_failover: String = "AutomaticFailover",
        pub multi_az: String = "MultiAZ",
        /// A group whose nodes run Redis Cluster: where cluster clients start.
        pub configuration_endpoint: Option<Endpoint> = "ConfigurationEndpoint",
        pub snapshot_retention_limit: i32 = "SnapshotRetentionLimit",
        pub snapshot_window: Option<String> = "SnapshotWindow",
        pub cluster_enabled: bool = "ClusterEnabled",
        pub cache_node_type: String = "CacheNodeType",
        pub auth_token_enabled: bool = "AuthTokenEnabled",
        pub auth_token_last_modified_date: Option<DateTime<Utc>> = "AuthTokenLastModifiedDate",
        pub transit_encryption_enabled: bool = "TransitEncryptionEnabled",
        pub at_rest_encryption_enabled: bool = "AtRestEncryptionEnabled",
        pub arn: String = "ARN",
        pub user_group_ids: Vec<String> = "UserGroupIds",
        pub log_delivery: Vec<LogDeliveryConfiguration> = "LogDeliveryConfigurations" / "LogDeliveryConfiguration",
        pub create_time: DateTime<Utc> = "ReplicationGroupCreateTime",
        pub data_tiering: String = "DataTiering",
        pub auto_minor_version_upgrade: bool = "AutoMinorVersionUpgrade",
        pub network_type: String = "NetworkType",
        pub ip_discovery: String = "IpDiscovery",
        pub transit_encryption_mode: Option<String> = "TransitEncryptionMode",
        pub cluster_mode: String = "ClusterMode",
        pub engine: String = "Engine",
    }
}

output! {
    #[derive(Debug, Clone, Default)]
    pub struct CacheNode {
        pub cache_node_id: String = "CacheNodeId",
        pub status: String = "CacheNodeStatus",
        pub create_time: Option<DateTime<Utc>> = "CacheNodeCreateTime",
        pub endpoint: Option<Endpoint> = "Endpoint",
        pub parameter_group_status: String = "ParameterGroupStatus",
        pub customer_availability_zone: Option<String> = "CustomerAvailabilityZone",
    }
}

output! {
    /// The `CacheCluster` shape (a member of a replication group, or a standalone cluster).
    #[derive(Debug, Clone, Default)]
    pub struct CacheCluster {
        pub cache_cluster_id: String = "CacheClusterId",
        /// A Memcached cluster's configuration endpoint (auto discovery).
        pub configuration_endpoint: Option<Endpoint> = "ConfigurationEndpoint",
        pub client_download_landing_page: Option<String> = "ClientDownloadLandingPage",
        pub cache_node_type: String = "CacheNodeType",
        pub engine: String = "Engine",
        pub engine_version: String = "EngineVersion",
        pub status: String = "CacheClusterStatus",
        pub num_cache_nodes: i32 = "NumCacheNodes",
        pub preferred_availability_zone: Option<String> = "PreferredAvailabilityZone",
        pub create_time: Option<DateTime<Utc>> = "CacheClusterCreateTime",
        pub preferred_maintenance_window: String = "PreferredMaintenanceWindow",
        /// `PendingModifiedValues.NumCacheNodes` and `.CacheNodeIdsToRemove` (Memcached).
        pub pending_num_cache_nodes: Option<i32> = "PendingModifiedValues" by pending_modified_values,
        pub pending_cache_node_ids_to_remove: Vec<String>,
        pub pending_engine_version: Option<String>,
        pub pending_cache_node_type: Option<String>,
        /// `PendingModifiedValues.LogDeliveryConfigurations`.
        pub pending_log_delivery: Vec<LogDeliveryConfiguration>,
        /// `NotificationConfiguration`: topic ARN and status.
        pub notification: Option<(String, String)> = "NotificationConfiguration" with notification,
        const "CacheSecurityGroups" = EMPTY,
        pub cache_parameter_group_name: String = "CacheParameterGroup" by cache_parameter_group,
        /// `CacheParameterGroup.ParameterApplyStatus` (`in-sync`, `applying`, `pending-reboot`); empty: `in-sync`.
        pub parameter_apply_status: String,
        /// `CacheParameterGroup.CacheNodeIdsToReboot`.
        pub cache_node_ids_to_reboot: Vec<String>,
        pub cache_subnet_group_name: Option<String> = "CacheSubnetGroupName",
        /// `Some` when `ShowCacheNodeInfo` was asked for.
        pub cache_nodes: Option<Vec<CacheNode>> = "CacheNodes" / "CacheNode" with open_list_if_any,
        pub auto_minor_version_upgrade: bool = "AutoMinorVersionUpgrade",
        pub security_group_ids: Vec<String> = "SecurityGroups" with security_group_memberships,
        pub replication_group_id: Option<String> = "ReplicationGroupId",
        pub snapshot_retention_limit: i32 = "SnapshotRetentionLimit",
        pub snapshot_window: Option<String> = "SnapshotWindow",
        pub auth_token_enabled: bool = "AuthTokenEnabled",
        pub transit_encryption_enabled: bool = "TransitEncryptionEnabled",
        pub at_rest_encryption_enabled: bool = "AtRestEncryptionEnabled",
        pub arn: String = "ARN",
        /// Log delivery of the member's replication group is on.
        pub replication_group_log_delivery_enabled: bool = "ReplicationGroupLogDeliveryEnabled",
        pub log_delivery: Vec<LogDeliveryConfiguration> = "LogDeliveryConfigurations" / "LogDeliveryConfiguration",
        pub network_type: String = "NetworkType",
        pub ip_discovery: String = "IpDiscovery",
        pub transit_encryption_mode: Option<String> = "TransitEncryptionMode",
    }
}

impl CacheCluster {
    fn pending_modified_values(&self, w: &mut XmlWriter, at: At<'_>) {
        w.open(at.name);
        self.pending_num_cache_nodes
            .write(w, At::new("NumCacheNodes"));
        nonempty_list(
            &self.pending_cache_node_ids_to_remove,
            w,
            At {
                name: "CacheNodeIdsToRemove",
                item: "CacheNodeId",
            },
        );
        self.pending_engine_version
            .write(w, At::new("EngineVersion"));
        self.pending_cache_node_type
            .write(w, At::new("CacheNodeType"));
        pending_log_deliveries(
            &self.pending_log_delivery,
            w,
            At::new("LogDeliveryConfigurations"),
        );
        w.close(at.name);
    }

    fn cache_parameter_group(&self, w: &mut XmlWriter, at: At<'_>) {
        w.open(at.name);
        self.cache_parameter_group_name
            .write(w, At::new("CacheParameterGroupName"));
        let status = match self.parameter_apply_status.as_str() {
            "" => "in-sync",
            s => s,
        };
        status.write(w, At::new("ParameterApplyStatus"));
        self.cache_node_ids_to_reboot.write(
            w,
            At {
                name: "CacheNodeIdsToReboot",
                item: "CacheNodeId",
            },
        );
        w.close(at.name);
    }
}

fn notification(n: &Option<(String, String)>, w: &mut XmlWriter, at: At<'_>) {
    if let Some((arn, status)) = n {
        w.open(at.name);
        arn.write(w, At::new("TopicArn"));
        status.write(w, At::new("TopicStatus"));
        w.close(at.name);
    }
}

/// `SecurityGroups`: each `SecurityGroupMembership` active.
fn security_group_memberships(ids: &[String], w: &mut XmlWriter, at: At<'_>) {
    if ids.is_empty() {
        w.empty(at.name);
        return;
    }
    w.open(at.name);
    for sg in ids {
        w.open("member");
        sg.write(w, At::new("SecurityGroupId"));
        "active".write(w, At::new("Status"));
        w.close("member");
    }
    w.close(at.name);
}

output! {
    /// One `Event`.
    #[derive(Debug, Clone)]
    pub struct Event {
        pub source_identifier: String = "SourceIdentifier",
        pub source_type: String = "SourceType",
        pub message: String = "Message",
        pub date: DateTime<Utc> = "Date",
    }
}

output! {
    /// One node's part of a `Snapshot`.
    #[derive(Debug, Clone, Default)]
    pub struct NodeSnapshot {
        pub cache_cluster_id: String = "CacheClusterId",
        pub node_group_id: String = "NodeGroupId",
        const "CacheNodeId" = "0001",
        /// `ShowNodeGroupConfig`: the node group's configuration.
        pub node_group_config: Option<NodeGroupConfig> = "NodeGroupConfiguration" by node_group_configuration,
        pub cache_size: String = "CacheSize",
        pub cache_node_create_time: DateTime<Utc> = "CacheNodeCreateTime",
        pub snapshot_create_time: Option<DateTime<Utc>> = "SnapshotCreateTime",
    }
}

impl NodeSnapshot {
    /// The node group's configuration, with the node group's id first.
    fn node_group_configuration(&self, w: &mut XmlWriter, at: At<'_>) {
        if let Some(c) = &self.node_group_config {
            w.open(at.name);
            self.node_group_id.write(w, At::new("NodeGroupId"));
            c.members(w);
            w.close(at.name);
        }
    }
}

output! {
    /// A snapshot's `NodeGroupConfiguration` (after its `NodeGroupId`, which is the node snapshot's).
    #[derive(Debug, Clone, Default)]
    pub struct NodeGroupConfig {
        /// With cluster mode enabled, the slots the node group served.
        pub slots: Option<String> = "Slots",
        pub replica_count: i64 = "ReplicaCount",
        pub primary_availability_zone: String = "PrimaryAvailabilityZone",
    }
}

output! {
    /// The `Snapshot` shape.
    #[derive(Debug, Clone, Default)]
    pub struct Snapshot {
        pub snapshot_name: String = "SnapshotName",
        pub replication_group_id: String = "ReplicationGroupId" if of_group,
        pub replication_group_description: String = "ReplicationGroupDescription" if of_group,
        /// The cluster of a snapshot of a standalone cache cluster (which has no `ReplicationGroupId`).
        pub cache_cluster_id: Option<String> = "CacheClusterId",
        const "NumCacheNodes" = 1 if of_cluster,
        pub snapshot_status: String = "SnapshotStatus",
        pub snapshot_source: String = "SnapshotSource",
        pub cache_node_type: String = "CacheNodeType",
        pub engine: String = "Engine",
        pub engine_version: String = "EngineVersion",
        pub preferred_maintenance_window: String = "PreferredMaintenanceWindow",
        pub port: u16 = "Port",
        pub cache_parameter_group_name: String = "CacheParameterGroupName",
        const "CacheSubnetGroupName" = "default",
        pub auto_minor_version_upgrade: bool = "AutoMinorVersionUpgrade",
        pub snapshot_retention_limit: i32 = "SnapshotRetentionLimit",
        pub snapshot_window: String = "SnapshotWindow",
        pub num_node_groups: i64 = "NumNodeGroups",
        pub automatic_failover: String = "AutomaticFailover",
        pub node_snapshots: Vec<NodeSnapshot> = "NodeSnapshots" / "NodeSnapshot" with open_list,
        pub arn: String = "ARN",
        const "DataTiering" = "disabled",
    }
}

impl Snapshot {
    fn of_group(&self) -> bool {
        !self.replication_group_id.is_empty()
    }

    fn of_cluster(&self) -> bool {
        self.cache_cluster_id.is_some()
    }
}

output! {
    /// The `User` shape.
    #[derive(Debug, Clone, Default)]
    pub struct User {
        pub user_id: String = "UserId",
        pub user_name: String = "UserName",
        pub status: String = "Status",
        pub engine: String = "Engine",
        pub minimum_engine_version: String = "MinimumEngineVersion",
        pub access_string: String = "AccessString",
        pub user_group_ids: Vec<String> = "UserGroupIds",
        /// `password` or `no-password`.
        pub authentication_type: String = "Authentication" by authentication,
        /// `None` for a user without passwords: AWS leaves `PasswordCount` out then.
        pub password_count: Option<i64>,
        pub arn: String = "ARN",
    }
}

impl User {
    fn authentication(&self, w: &mut XmlWriter, at: At<'_>) {
        w.open(at.name);
        self.authentication_type.write(w, At::new("Type"));
        self.password_count.write(w, At::new("PasswordCount"));
        w.close(at.name);
    }
}

output! {
    /// The `UserGroup` shape.
    #[derive(Debug, Clone, Default)]
    pub struct UserGroup {
        pub user_group_id: String = "UserGroupId",
        pub status: String = "Status",
        pub engine: String = "Engine",
        pub user_ids: Vec<String> = "UserIds",
        pub minimum_engine_version: String = "MinimumEngineVersion",
        pub pending_add: Vec<String> = "PendingChanges" by pending_changes,
        pub pending_remove: Vec<String>,
        pub replication_groups: Vec<String> = "ReplicationGroups",
        const "ServerlessCaches" = EMPTY,
        pub arn: String = "ARN",
    }
}

impl UserGroup {
    fn pending_changes(&self, w: &mut XmlWriter, at: At<'_>) {
        if self.pending_add.is_empty() && self.pending_remove.is_empty() {
            return;
        }
        w.open(at.name);
        self.pending_remove.write(w, At::new("UserIdsToRemove"));
        self.pending_add.write(w, At::new("UserIdsToAdd"));
        w.close(at.name);
    }
}

output! {
    /// The `CacheSubnetGroup` shape.
    #[derive(Debug, Clone, Default)]
    pub struct CacheSubnetGroup {
        pub name: String = "CacheSubnetGroupName",
        pub description: String = "CacheSubnetGroupDescription",
        pub vpc_id: String = "VpcId",
        /// `(SubnetIdentifier, SubnetAvailabilityZone.Name)`.
        pub subnets: Vec<(String, String)> = "Subnets" with subnets,
        pub arn: String = "ARN",
        const "SupportedNetworkTypes" = NETWORK_TYPES,
    }
}

fn subnets(subnets: &[(String, String)], w: &mut XmlWriter, at: At<'_>) {
    w.open(at.name);
    for (id, zone) in subnets {
        w.open("Subnet");
        id.write(w, At::new("SubnetIdentifier"));
        w.open("SubnetAvailabilityZone");
        zone.write(w, At::new("Name"));
        w.close("SubnetAvailabilityZone");
        NETWORK_TYPES.write(w, At::new("SupportedNetworkTypes"));
        w.close("Subnet");
    }
    w.close(at.name);
}

output! {
    /// The `CacheParameterGroup` shape.
    #[derive(Debug, Clone, Default)]
    pub struct CacheParameterGroup {
        pub name: String = "CacheParameterGroupName",
        pub family: String = "CacheParameterGroupFamily",
        pub description: String = "Description",
        const "IsGlobal" = false,
        pub arn: String = "ARN",
    }
}

output! {
    /// The `Parameter` shape; with `node_type_values`, a `CacheNodeTypeSpecificParameter`.
    #[derive(Debug, Clone, Default)]
    pub struct Parameter {
        pub name: String = "ParameterName",
        /// `None`: no `ParameterValue` element (a parameter without a value).
        pub value: Option<String> = "ParameterValue",
        pub description: String = "Description",
        pub source: String = "Source",
        pub data_type: String = "DataType",
        pub allowed_values: Option<String> = "AllowedValues",
        pub is_modifiable: bool = "IsModifiable",
        pub minimum_engine_version: String = "MinimumEngineVersion",
        /// `(CacheNodeType, Value)` of a node-type-specific parameter.
        pub node_type_values: Vec<(String, String)> = "CacheNodeTypeSpecificValues" with node_type_values,
        pub change_type: String = "ChangeType",
    }
}

fn node_type_values(values: &[(String, String)], w: &mut XmlWriter, at: At<'_>) {
    if values.is_empty() {
        return;
    }
    w.open(at.name);
    for (t, v) in values {
        w.open("CacheNodeTypeSpecificValue");
        t.write(w, At::new("CacheNodeType"));
        v.write(w, At::new("Value"));
        w.close("CacheNodeTypeSpecificValue");
    }
    w.close(at.name);
}

output! {
    /// One `CacheEngineVersion`.
    #[derive(Debug, Clone)]
    pub struct CacheEngineVersion {
        pub engine: String = "Engine",
        pub engine_version: String = "EngineVersion",
        pub parameter_group_family: String = "CacheParameterGroupFamily",
        pub description: String = "CacheEngineDescription",
        pub version_description: String = "CacheEngineVersionDescription",
    }
}

output! {
    /// A `Tag`.
    #[derive(Debug, Clone, Default)]
    pub struct Tag {
        pub key: String = "Key",
        pub value: String = "Value",
    }
}

// The outputs of the actions: the members of their `<ActionResult>`.

/// The outputs holding one shape, and their making from it.
macro_rules! results {
    ($( $(#[$meta:meta])* $result:ident { $field:ident: $shape:ident = $wire:literal } )*) => {
        $(
            output! {
                $(#[$meta])*
                #[derive(Debug, Clone)]
                pub struct $result {
                    pub $field: $shape = $wire,
                }
            }

            impl From<$shape> for $result {
                fn from($field: $shape) -> Self {
                    Self { $field }
                }
            }
        )*
    };
}

results! {
    /// `CreateReplicationGroupResult` and the others answering a replication group.
    ReplicationGroupResult { replication_group: ReplicationGroup = "ReplicationGroup" }
    /// `CreateCacheClusterResult` and the others answering a cache cluster.
    CacheClusterResult { cache_cluster: CacheCluster = "CacheCluster" }
    /// `CreateSnapshotResult` and the others answering a snapshot.
    SnapshotResult { snapshot: Snapshot = "Snapshot" }
    /// `CreateCacheSubnetGroupResult`, `ModifyCacheSubnetGroupResult`.
    CacheSubnetGroupResult { cache_subnet_group: CacheSubnetGroup = "CacheSubnetGroup" }
    /// `CreateCacheParameterGroupResult`.
    CacheParameterGroupResult { cache_parameter_group: CacheParameterGroup = "CacheParameterGroup" }
    /// `CacheParameterGroupNameMessage` (`ModifyCacheParameterGroup`, `ResetCacheParameterGroup`).
    CacheParameterGroupNameMessage { cache_parameter_group_name: String = "CacheParameterGroupName" }
}

/// The pages of the Describe actions (`Marker` when there is a next page, then the list), and their making from
/// `(items, marker)`.
macro_rules! pages {
    ($( $(#[$meta:meta])* $page:ident { $field:ident: $shape:ident = $wire:literal / $item:literal } )*) => {
        $(
            output! {
                $(#[$meta])*
                #[derive(Debug, Clone)]
                pub struct $page {
                    pub marker: Option<String> = "Marker",
                    pub $field: Vec<$shape> = $wire / $item with open_list,
                }
            }

            impl From<(Vec<$shape>, Option<String>)> for $page {
                fn from(($field, marker): (Vec<$shape>, Option<String>)) -> Self {
                    Self { marker, $field }
                }
            }
        )*
    };
}

pages! {
    /// `ReplicationGroupMessage`.
    ReplicationGroupMessage { replication_groups: ReplicationGroup = "ReplicationGroups" / "ReplicationGroup" }
    /// `CacheClusterMessage`.
    CacheClusterMessage { cache_clusters: CacheCluster = "CacheClusters" / "CacheCluster" }
    /// `EventsMessage`.
    EventsMessage { events: Event = "Events" / "Event" }
    /// `CacheEngineVersionMessage`.
    CacheEngineVersionMessage { cache_engine_versions: CacheEngineVersion = "CacheEngineVersions" / "CacheEngineVersion" }
    /// `DescribeSnapshotsListMessage`.
    DescribeSnapshotsListMessage { snapshots: Snapshot = "Snapshots" / "Snapshot" }
    /// `DescribeUsersResult`.
    DescribeUsersResult { users: User = "Users" / "member" }
    /// `DescribeUserGroupsResult`.
    DescribeUserGroupsResult { user_groups: UserGroup = "UserGroups" / "member" }
    /// `CacheSubnetGroupMessage`.
    CacheSubnetGroupMessage { cache_subnet_groups: CacheSubnetGroup = "CacheSubnetGroups" / "CacheSubnetGroup" }
    /// `CacheParameterGroupsMessage`.
    CacheParameterGroupsMessage { cache_parameter_groups: CacheParameterGroup = "CacheParameterGroups" / "CacheParameterGroup" }
}

/// The answers of the Describe actions whose list is always empty (nothing of their kind exists here).
macro_rules! empty_pages {
    ($( $(#[$meta:meta])* $page:ident = $wire:literal )*) => {
        $(
            output! {
                $(#[$meta])*
                #[derive(Debug, Clone, Default)]
                pub struct $page {
                    const $wire = EMPTY,
                }
            }

            impl From<()> for $page {
                fn from((): ()) -> Self {
                    Self {}
                }
            }
        )*
    };
}

empty_pages! {
    /// `ReservedCacheNodeMessage`.
    ReservedCacheNodeMessage = "ReservedCacheNodes"
    /// `ReservedCacheNodesOfferingMessage`.
    ReservedCacheNodesOfferingMessage = "ReservedCacheNodesOfferings"
    /// `ServiceUpdatesMessage`.
    ServiceUpdatesMessage = "ServiceUpdates"
    /// `UpdateActionsMessage`.
    UpdateActionsMessage = "UpdateActions"
    /// `CacheSecurityGroupMessage`.
    CacheSecurityGroupMessage = "CacheSecurityGroups"
}

output! {
    /// `TagListMessage`.
    #[derive(Debug, Clone, Default)]
    pub struct TagListMessage {
        pub tag_list: Vec<Tag> = "TagList" / "Tag",
    }
}

impl From<Vec<(String, String)>> for TagListMessage {
    fn from(tags: Vec<(String, String)>) -> Self {
        Self {
            tag_list: tags
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect(),
        }
    }
}

output! {
    /// `AllowedNodeTypeModificationsMessage`.
    #[derive(Debug, Clone, Default)]
    pub struct AllowedNodeTypeModificationsMessage {
        pub scale_up_modifications: Vec<String> = "ScaleUpModifications",
        pub scale_down_modifications: Vec<String> = "ScaleDownModifications",
    }
}

impl From<(Vec<String>, Vec<String>)> for AllowedNodeTypeModificationsMessage {
    fn from((up, down): (Vec<String>, Vec<String>)) -> Self {
        Self {
            scale_up_modifications: up,
            scale_down_modifications: down,
        }
    }
}

output! {
    /// `CacheParameterGroupDetails` (`DescribeCacheParameters`), and the members of `EngineDefaults` after its
    /// family.
    #[derive(Debug, Clone, Default)]
    pub struct CacheParameterGroupDetails {
        pub marker: Option<String> = "Marker",
        pub parameters: Vec<Parameter> = "Parameters" / "Parameter" with open_list,
        pub cache_node_type_specific_parameters: Vec<Parameter> = "CacheNodeTypeSpecificParameters" / "CacheNodeTypeSpecificParameter" with open_list,
    }
}

output! {
    /// `EngineDefaults`.
    #[derive(Debug, Clone, Default)]
    pub struct EngineDefaults {
        pub cache_parameter_group_family: String = "CacheParameterGroupFamily" by family_and_details,
        pub details: CacheParameterGroupDetails,
    }
}

impl EngineDefaults {
    fn family_and_details(&self, w: &mut XmlWriter, at: At<'_>) {
        self.cache_parameter_group_family.write(w, at);
        self.details.members(w);
    }
}

output! {
    /// `DescribeEngineDefaultParametersResult`.
    #[derive(Debug, Clone, Default)]
    pub struct EngineDefaultsResult {
        pub engine_defaults: EngineDefaults = "EngineDefaults",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_is_the_first_child() {
        let xml = respond(
            "DescribeEvents",
            "rid",
            &EventsMessage::from((vec![], None)),
        );
        assert!(xml.starts_with(
            "<DescribeEventsResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><DescribeEventsResult>"
        ));
        assert!(xml.ends_with("<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DescribeEventsResponse>"));
    }

    #[test]
    fn an_empty_output_has_no_result() {
        assert_eq!(
            respond("DeleteCacheSubnetGroup", "rid", &()),
            "<DeleteCacheSubnetGroupResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">\
             <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteCacheSubnetGroupResponse>"
        );
    }
}
