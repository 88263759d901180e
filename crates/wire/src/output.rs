//! Output shapes of the supported actions and their XML encoding, element names from the model.

use chrono::{DateTime, Utc};

use crate::xml::XmlWriter;

/// Formats a timestamp as smithy's date-time (`2024-01-01T00:00:00.000Z`).
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Wraps a result in `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…` (Result first).
pub fn envelope(action: &str, request_id: &str, result: impl FnOnce(&mut XmlWriter)) -> String {
    let mut w = XmlWriter::new();
    let response = format!("{action}Response");
    let result_name = format!("{action}Result");
    w.open_ns(&response, crate::XML_NAMESPACE);
    w.open(&result_name);
    result(&mut w);
    w.close(&result_name);
    w.open("ResponseMetadata");
    w.text("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&response);
    w.finish()
}

/// The response of an action whose output is empty (`DeleteCacheSubnetGroup`): only `ResponseMetadata`.
pub fn envelope_empty(action: &str, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    let response = format!("{action}Response");
    w.open_ns(&response, crate::XML_NAMESPACE);
    w.open("ResponseMetadata");
    w.text("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&response);
    w.finish()
}

/// A page of a Describe action: `<Marker>` when there is a next page, then the list `<name>` of `items`.
pub fn write_page<T>(
    w: &mut XmlWriter,
    marker: Option<&str>,
    name: &str,
    items: &[T],
    item: impl Fn(&T, &mut XmlWriter),
) {
    w.opt_text("Marker", marker);
    w.open(name);
    for i in items {
        item(i, w);
    }
    w.close(name);
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
}

impl Endpoint {
    fn write(&self, w: &mut XmlWriter, name: &str) {
        w.open(name);
        w.text("Address", &self.address);
        w.int("Port", i64::from(self.port));
        w.close(name);
    }
}

#[derive(Debug, Clone, Default)]
pub struct NodeGroupMember {
    pub cache_cluster_id: String,
    pub cache_node_id: String,
    pub read_endpoint: Option<Endpoint>,
    pub preferred_availability_zone: Option<String>,
    pub current_role: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NodeGroup {
    pub node_group_id: String,
    pub status: String,
    pub primary_endpoint: Option<Endpoint>,
    pub reader_endpoint: Option<Endpoint>,
    /// `Slots`: the hash-slot ranges of a cluster-mode shard, `0-5461,10923-11000`.
    pub slots: Option<String>,
    pub members: Vec<NodeGroupMember>,
}

/// `ReplicationGroupPendingModifiedValues`.
#[derive(Debug, Clone, Default)]
pub struct ReplicationGroupPending {
    pub primary_cluster_id: Option<String>,
    pub automatic_failover_status: Option<String>,
    pub auth_token_status: Option<String>,
    pub transit_encryption_enabled: Option<bool>,
    pub transit_encryption_mode: Option<String>,
    pub cluster_mode: Option<String>,
    /// `Resharding.SlotMigration.ProgressPercentage` while slots move.
    pub resharding_progress: Option<f64>,
    /// `UserGroups`: `(UserGroupIdsToAdd, UserGroupIdsToRemove)` while a change of user groups is applied.
    pub user_groups: Option<(Vec<String>, Vec<String>)>,
    /// `LogDeliveryConfigurations` being enabled, changed or disabled.
    pub log_delivery: Vec<LogDeliveryConfiguration>,
}

/// A `LogDeliveryConfiguration` (and, without its status, a `PendingLogDeliveryConfiguration`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogDeliveryConfiguration {
    pub log_type: String,
    pub destination_type: String,
    /// The log group (`cloudwatch-logs`) or delivery stream (`kinesis-firehose`).
    pub destination: String,
    pub log_format: String,
    pub status: String,
    pub message: Option<String>,
}

impl LogDeliveryConfiguration {
    fn write_as(&self, name: &str, w: &mut XmlWriter, with_status: bool) {
        w.open(name);
        w.text("LogType", &self.log_type);
        w.text("DestinationType", &self.destination_type);
        w.open("DestinationDetails");
        if self.destination_type == "cloudwatch-logs" {
            w.open("CloudWatchLogsDetails");
            w.text("LogGroup", &self.destination);
            w.close("CloudWatchLogsDetails");
        } else {
            w.open("KinesisFirehoseDetails");
            w.text("DeliveryStream", &self.destination);
            w.close("KinesisFirehoseDetails");
        }
        w.close("DestinationDetails");
        w.text("LogFormat", &self.log_format);
        if with_status {
            w.text("Status", &self.status);
            w.opt_text("Message", self.message.as_deref());
        }
        w.close(name);
    }
}

/// `LogDeliveryConfigurations` of a group or cluster.
fn write_log_deliveries(w: &mut XmlWriter, list: &[LogDeliveryConfiguration]) {
    if list.is_empty() {
        w.empty("LogDeliveryConfigurations");
        return;
    }
    w.open("LogDeliveryConfigurations");
    for l in list {
        l.write_as("LogDeliveryConfiguration", w, true);
    }
    w.close("LogDeliveryConfigurations");
}

/// `PendingModifiedValues.LogDeliveryConfigurations`: its members have no element name in AWS's model, so each
/// is a `<member>`. The list shape itself carries a `locationName` (`PendingLogDeliveryConfiguration`) that
/// botocore takes as the list's element name, while the Smithy SDKs read the member's name: both are written, so
/// that boto3 and the SDKs each find the list (a parser skips the element it does not know).
fn write_pending_log_deliveries(w: &mut XmlWriter, list: &[LogDeliveryConfiguration]) {
    if list.is_empty() {
        return;
    }
    for name in [
        "LogDeliveryConfigurations",
        "PendingLogDeliveryConfiguration",
    ] {
        w.open(name);
        for l in list {
            l.write_as("member", w, false);
        }
        w.close(name);
    }
}

/// The `ReplicationGroup` shape.
#[derive(Debug, Clone, Default)]
pub struct ReplicationGroup {
    pub replication_group_id: String,
    pub description: String,
    pub status: String,
    pub pending: ReplicationGroupPending,
    pub log_delivery: Vec<LogDeliveryConfiguration>,
    pub member_clusters: Vec<String>,
    pub node_groups: Vec<NodeGroup>,
    pub snapshotting_cluster_id: Option<String>,
    pub automatic_failover: String,
    pub multi_az: String,
    pub snapshot_retention_limit: i32,
    pub snapshot_window: Option<String>,
    /// A group whose nodes run Redis Cluster: where cluster clients start.
    pub configuration_endpoint: Option<Endpoint>,
    pub cluster_enabled: bool,
    pub cache_node_type: String,
    pub auth_token_enabled: bool,
    pub auth_token_last_modified_date: Option<DateTime<Utc>>,
    pub transit_encryption_enabled: bool,
    pub transit_encryption_mode: Option<String>,
    pub at_rest_encryption_enabled: bool,
    pub arn: String,
    pub user_group_ids: Vec<String>,
    pub create_time: DateTime<Utc>,
    pub data_tiering: String,
    pub auto_minor_version_upgrade: bool,
    pub network_type: String,
    pub ip_discovery: String,
    pub cluster_mode: String,
    pub engine: String,
}

impl ReplicationGroup {
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("ReplicationGroup");
        w.text("ReplicationGroupId", &self.replication_group_id);
        w.text("Description", &self.description);
        w.text("Status", &self.status);
        w.open("PendingModifiedValues");
        let p = &self.pending;
        w.opt_text("PrimaryClusterId", p.primary_cluster_id.as_deref());
        w.opt_text(
            "AutomaticFailoverStatus",
            p.automatic_failover_status.as_deref(),
        );
        w.opt_text("AuthTokenStatus", p.auth_token_status.as_deref());
        w.opt_bool("TransitEncryptionEnabled", p.transit_encryption_enabled);
        w.opt_text(
            "TransitEncryptionMode",
            p.transit_encryption_mode.as_deref(),
        );
        w.opt_text("ClusterMode", p.cluster_mode.as_deref());
        write_pending_log_deliveries(w, &p.log_delivery);
        if let Some((add, remove)) = &p.user_groups {
            w.open("UserGroups");
            w.str_list("UserGroupIdsToAdd", "member", add);
            w.str_list("UserGroupIdsToRemove", "member", remove);
            w.close("UserGroups");
        }
        if let Some(pct) = p.resharding_progress {
            w.open("Resharding");
            w.open("SlotMigration");
            w.text("ProgressPercentage", &format!("{pct:.1}"));
            w.close("SlotMigration");
            w.close("Resharding");
        }
        w.close("PendingModifiedValues");
        w.str_list("MemberClusters", "ClusterId", &self.member_clusters);
        w.open("NodeGroups");
        for ng in &self.node_groups {
            w.open("NodeGroup");
            w.text("NodeGroupId", &ng.node_group_id);
            w.text("Status", &ng.status);
            if let Some(e) = &ng.primary_endpoint {
                e.write(w, "PrimaryEndpoint");
            }
            if let Some(e) = &ng.reader_endpoint {
                e.write(w, "ReaderEndpoint");
            }
            w.opt_text("Slots", ng.slots.as_deref());
            w.open("NodeGroupMembers");
            for m in &ng.members {
                w.open("NodeGroupMember");
                w.text("CacheClusterId", &m.cache_cluster_id);
                w.text("CacheNodeId", &m.cache_node_id);
                if let Some(e) = &m.read_endpoint {
                    e.write(w, "ReadEndpoint");
                }
                w.opt_text(
                    "PreferredAvailabilityZone",
                    m.preferred_availability_zone.as_deref(),
                );
                w.opt_text("CurrentRole", m.current_role.as_deref());
                w.close("NodeGroupMember");
            }
            w.close("NodeGroupMembers");
            w.close("NodeGroup");
        }
        w.close("NodeGroups");
        w.opt_text(
            "SnapshottingClusterId",
            self.snapshotting_cluster_id.as_deref(),
        );
        w.text("AutomaticFailover", &self.automatic_failover);
        w.text("MultiAZ", &self.multi_az);
        if let Some(e) = &self.configuration_endpoint {
            e.write(w, "ConfigurationEndpoint");
        }
        w.int(
            "SnapshotRetentionLimit",
            i64::from(self.snapshot_retention_limit),
        );
        w.opt_text("SnapshotWindow", self.snapshot_window.as_deref());
        w.bool("ClusterEnabled", self.cluster_enabled);
        w.text("CacheNodeType", &self.cache_node_type);
        w.bool("AuthTokenEnabled", self.auth_token_enabled);
        if let Some(t) = &self.auth_token_last_modified_date {
            w.text("AuthTokenLastModifiedDate", &timestamp(t));
        }
        w.bool("TransitEncryptionEnabled", self.transit_encryption_enabled);
        w.bool("AtRestEncryptionEnabled", self.at_rest_encryption_enabled);
        w.text("ARN", &self.arn);
        w.str_list("UserGroupIds", "member", &self.user_group_ids);
        write_log_deliveries(w, &self.log_delivery);
        w.text("ReplicationGroupCreateTime", &timestamp(&self.create_time));
        w.text("DataTiering", &self.data_tiering);
        w.bool("AutoMinorVersionUpgrade", self.auto_minor_version_upgrade);
        w.text("NetworkType", &self.network_type);
        w.text("IpDiscovery", &self.ip_discovery);
        w.opt_text(
            "TransitEncryptionMode",
            self.transit_encryption_mode.as_deref(),
        );
        w.text("ClusterMode", &self.cluster_mode);
        w.text("Engine", &self.engine);
        w.close("ReplicationGroup");
    }
}

#[derive(Debug, Clone, Default)]
pub struct CacheNode {
    pub cache_node_id: String,
    pub status: String,
    pub create_time: Option<DateTime<Utc>>,
    pub endpoint: Option<Endpoint>,
    pub parameter_group_status: String,
    pub customer_availability_zone: Option<String>,
}

/// The `CacheCluster` shape (a member of a replication group).
#[derive(Debug, Clone, Default)]
pub struct CacheCluster {
    pub cache_cluster_id: String,
    /// A Memcached cluster's configuration endpoint (auto discovery).
    pub configuration_endpoint: Option<Endpoint>,
    pub client_download_landing_page: Option<String>,
    /// `PendingModifiedValues.NumCacheNodes` and `.CacheNodeIdsToRemove` (Memcached).
    pub pending_num_cache_nodes: Option<i32>,
    pub pending_cache_node_ids_to_remove: Vec<String>,
    pub cache_node_type: String,
    pub engine: String,
    pub engine_version: String,
    pub status: String,
    pub num_cache_nodes: i32,
    pub preferred_availability_zone: Option<String>,
    pub create_time: Option<DateTime<Utc>>,
    pub preferred_maintenance_window: String,
    pub pending_engine_version: Option<String>,
    pub pending_cache_node_type: Option<String>,
    /// `NotificationConfiguration`: topic ARN and status.
    pub notification: Option<(String, String)>,
    pub cache_parameter_group_name: String,
    /// `CacheParameterGroup.ParameterApplyStatus` (`in-sync`, `applying`, `pending-reboot`); empty: `in-sync`.
    pub parameter_apply_status: String,
    /// `CacheParameterGroup.CacheNodeIdsToReboot`.
    pub cache_node_ids_to_reboot: Vec<String>,
    pub log_delivery: Vec<LogDeliveryConfiguration>,
    /// Log delivery of the member's replication group is on.
    pub replication_group_log_delivery_enabled: bool,
    /// `PendingModifiedValues.LogDeliveryConfigurations`.
    pub pending_log_delivery: Vec<LogDeliveryConfiguration>,
    pub cache_subnet_group_name: Option<String>,
    /// `Some` when `ShowCacheNodeInfo` was asked for.
    pub cache_nodes: Option<Vec<CacheNode>>,
    pub auto_minor_version_upgrade: bool,
    pub security_group_ids: Vec<String>,
    pub replication_group_id: Option<String>,
    pub snapshot_retention_limit: i32,
    pub snapshot_window: Option<String>,
    pub auth_token_enabled: bool,
    pub transit_encryption_enabled: bool,
    pub transit_encryption_mode: Option<String>,
    pub at_rest_encryption_enabled: bool,
    pub arn: String,
    pub network_type: String,
    pub ip_discovery: String,
}

impl CacheCluster {
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("CacheCluster");
        w.text("CacheClusterId", &self.cache_cluster_id);
        if let Some(e) = &self.configuration_endpoint {
            e.write(w, "ConfigurationEndpoint");
        }
        w.opt_text(
            "ClientDownloadLandingPage",
            self.client_download_landing_page.as_deref(),
        );
        w.text("CacheNodeType", &self.cache_node_type);
        w.text("Engine", &self.engine);
        w.text("EngineVersion", &self.engine_version);
        w.text("CacheClusterStatus", &self.status);
        w.int("NumCacheNodes", i64::from(self.num_cache_nodes));
        w.opt_text(
            "PreferredAvailabilityZone",
            self.preferred_availability_zone.as_deref(),
        );
        if let Some(t) = &self.create_time {
            w.text("CacheClusterCreateTime", &timestamp(t));
        }
        w.text(
            "PreferredMaintenanceWindow",
            &self.preferred_maintenance_window,
        );
        w.open("PendingModifiedValues");
        if let Some(n) = self.pending_num_cache_nodes {
            w.int("NumCacheNodes", i64::from(n));
        }
        if !self.pending_cache_node_ids_to_remove.is_empty() {
            w.open("CacheNodeIdsToRemove");
            for id in &self.pending_cache_node_ids_to_remove {
                w.text("CacheNodeId", id);
            }
            w.close("CacheNodeIdsToRemove");
        }
        w.opt_text("EngineVersion", self.pending_engine_version.as_deref());
        w.opt_text("CacheNodeType", self.pending_cache_node_type.as_deref());
        write_pending_log_deliveries(w, &self.pending_log_delivery);
        w.close("PendingModifiedValues");
        if let Some((arn, status)) = &self.notification {
            w.open("NotificationConfiguration");
            w.text("TopicArn", arn);
            w.text("TopicStatus", status);
            w.close("NotificationConfiguration");
        }
        w.empty("CacheSecurityGroups");
        w.open("CacheParameterGroup");
        w.text("CacheParameterGroupName", &self.cache_parameter_group_name);
        w.text(
            "ParameterApplyStatus",
            if self.parameter_apply_status.is_empty() {
                "in-sync"
            } else {
                &self.parameter_apply_status
            },
        );
        w.str_list(
            "CacheNodeIdsToReboot",
            "CacheNodeId",
            &self.cache_node_ids_to_reboot,
        );
        w.close("CacheParameterGroup");
        w.opt_text(
            "CacheSubnetGroupName",
            self.cache_subnet_group_name.as_deref(),
        );
        if let Some(nodes) = &self.cache_nodes {
            w.open("CacheNodes");
            for n in nodes {
                w.open("CacheNode");
                w.text("CacheNodeId", &n.cache_node_id);
                w.text("CacheNodeStatus", &n.status);
                if let Some(t) = &n.create_time {
                    w.text("CacheNodeCreateTime", &timestamp(t));
                }
                if let Some(e) = &n.endpoint {
                    e.write(w, "Endpoint");
                }
                w.text("ParameterGroupStatus", &n.parameter_group_status);
                w.opt_text(
                    "CustomerAvailabilityZone",
                    n.customer_availability_zone.as_deref(),
                );
                w.close("CacheNode");
            }
            w.close("CacheNodes");
        }
        w.bool("AutoMinorVersionUpgrade", self.auto_minor_version_upgrade);
        if self.security_group_ids.is_empty() {
            w.empty("SecurityGroups");
        } else {
            w.open("SecurityGroups");
            for sg in &self.security_group_ids {
                w.open("member");
                w.text("SecurityGroupId", sg);
                w.text("Status", "active");
                w.close("member");
            }
            w.close("SecurityGroups");
        }
        w.opt_text("ReplicationGroupId", self.replication_group_id.as_deref());
        w.int(
            "SnapshotRetentionLimit",
            i64::from(self.snapshot_retention_limit),
        );
        w.opt_text("SnapshotWindow", self.snapshot_window.as_deref());
        w.bool("AuthTokenEnabled", self.auth_token_enabled);
        w.bool("TransitEncryptionEnabled", self.transit_encryption_enabled);
        w.bool("AtRestEncryptionEnabled", self.at_rest_encryption_enabled);
        w.text("ARN", &self.arn);
        w.bool(
            "ReplicationGroupLogDeliveryEnabled",
            self.replication_group_log_delivery_enabled,
        );
        write_log_deliveries(w, &self.log_delivery);
        w.text("NetworkType", &self.network_type);
        w.text("IpDiscovery", &self.ip_discovery);
        w.opt_text(
            "TransitEncryptionMode",
            self.transit_encryption_mode.as_deref(),
        );
        w.close("CacheCluster");
    }
}

/// One `Event`.
#[derive(Debug, Clone)]
pub struct Event {
    pub source_identifier: String,
    pub source_type: String,
    pub message: String,
    pub date: DateTime<Utc>,
}

impl Event {
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("Event");
        w.text("SourceIdentifier", &self.source_identifier);
        w.text("SourceType", &self.source_type);
        w.text("Message", &self.message);
        w.text("Date", &timestamp(&self.date));
        w.close("Event");
    }
}

/// One node's part of a `Snapshot`.
#[derive(Debug, Clone, Default)]
pub struct NodeSnapshot {
    pub cache_cluster_id: String,
    pub node_group_id: String,
    pub cache_size: String,
    pub cache_node_create_time: DateTime<Utc>,
    pub snapshot_create_time: Option<DateTime<Utc>>,
    /// `ShowNodeGroupConfig`: the node group's configuration.
    pub node_group_config: Option<NodeGroupConfig>,
}

/// A snapshot's `NodeGroupConfiguration`.
#[derive(Debug, Clone, Default)]
pub struct NodeGroupConfig {
    pub primary_availability_zone: String,
    pub replica_count: i64,
    /// With cluster mode enabled, the slots the node group served.
    pub slots: Option<String>,
}

/// The `Snapshot` shape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub snapshot_name: String,
    pub replication_group_id: String,
    /// The cluster of a snapshot of a standalone cache cluster (which has no `ReplicationGroupId`).
    pub cache_cluster_id: Option<String>,
    pub replication_group_description: String,
    pub snapshot_status: String,
    pub snapshot_source: String,
    pub cache_node_type: String,
    pub engine: String,
    pub engine_version: String,
    pub preferred_maintenance_window: String,
    pub port: u16,
    pub cache_parameter_group_name: String,
    pub auto_minor_version_upgrade: bool,
    pub snapshot_retention_limit: i32,
    pub snapshot_window: String,
    pub automatic_failover: String,
    pub num_node_groups: i64,
    pub node_snapshots: Vec<NodeSnapshot>,
    pub arn: String,
}

impl Snapshot {
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("Snapshot");
        w.text("SnapshotName", &self.snapshot_name);
        if !self.replication_group_id.is_empty() {
            w.text("ReplicationGroupId", &self.replication_group_id);
            w.text(
                "ReplicationGroupDescription",
                &self.replication_group_description,
            );
        }
        if let Some(c) = &self.cache_cluster_id {
            w.text("CacheClusterId", c);
            w.int("NumCacheNodes", 1);
        }
        w.text("SnapshotStatus", &self.snapshot_status);
        w.text("SnapshotSource", &self.snapshot_source);
        w.text("CacheNodeType", &self.cache_node_type);
        w.text("Engine", &self.engine);
        w.text("EngineVersion", &self.engine_version);
        w.text(
            "PreferredMaintenanceWindow",
            &self.preferred_maintenance_window,
        );
        w.int("Port", i64::from(self.port));
        w.text("CacheParameterGroupName", &self.cache_parameter_group_name);
        w.text("CacheSubnetGroupName", "default");
        w.bool("AutoMinorVersionUpgrade", self.auto_minor_version_upgrade);
        w.int(
            "SnapshotRetentionLimit",
            i64::from(self.snapshot_retention_limit),
        );
        w.text("SnapshotWindow", &self.snapshot_window);
        w.int("NumNodeGroups", self.num_node_groups);
        w.text("AutomaticFailover", &self.automatic_failover);
        w.open("NodeSnapshots");
        for n in &self.node_snapshots {
            w.open("NodeSnapshot");
            w.text("CacheClusterId", &n.cache_cluster_id);
            w.text("NodeGroupId", &n.node_group_id);
            w.text("CacheNodeId", "0001");
            if let Some(c) = &n.node_group_config {
                w.open("NodeGroupConfiguration");
                w.text("NodeGroupId", &n.node_group_id);
                w.opt_text("Slots", c.slots.as_deref());
                w.int("ReplicaCount", c.replica_count);
                w.text("PrimaryAvailabilityZone", &c.primary_availability_zone);
                w.close("NodeGroupConfiguration");
            }
            w.text("CacheSize", &n.cache_size);
            w.text("CacheNodeCreateTime", &timestamp(&n.cache_node_create_time));
            if let Some(t) = &n.snapshot_create_time {
                w.text("SnapshotCreateTime", &timestamp(t));
            }
            w.close("NodeSnapshot");
        }
        w.close("NodeSnapshots");
        w.text("ARN", &self.arn);
        w.text("DataTiering", "disabled");
        w.close("Snapshot");
    }
}

/// The `User` shape.
#[derive(Debug, Clone, Default)]
pub struct User {
    pub user_id: String,
    pub user_name: String,
    pub status: String,
    pub engine: String,
    pub minimum_engine_version: String,
    pub access_string: String,
    pub user_group_ids: Vec<String>,
    /// `password` or `no-password`.
    pub authentication_type: String,
    /// `None` for a user without passwords: AWS leaves `PasswordCount` out then.
    pub password_count: Option<i64>,
    pub arn: String,
}

impl User {
    /// The members, without a wrapper (`CreateUserResult` holds them directly).
    pub fn write_fields(&self, w: &mut XmlWriter) {
        w.text("UserId", &self.user_id);
        w.text("UserName", &self.user_name);
        w.text("Status", &self.status);
        w.text("Engine", &self.engine);
        w.text("MinimumEngineVersion", &self.minimum_engine_version);
        w.text("AccessString", &self.access_string);
        w.str_list("UserGroupIds", "member", &self.user_group_ids);
        w.open("Authentication");
        w.text("Type", &self.authentication_type);
        if let Some(n) = self.password_count {
            w.int("PasswordCount", n);
        }
        w.close("Authentication");
        w.text("ARN", &self.arn);
    }

    /// As an item of a list: `<member>…</member>`.
    pub fn write_member(&self, w: &mut XmlWriter) {
        w.open("member");
        self.write_fields(w);
        w.close("member");
    }
}

/// The `UserGroup` shape.
#[derive(Debug, Clone, Default)]
pub struct UserGroup {
    pub user_group_id: String,
    pub status: String,
    pub engine: String,
    pub user_ids: Vec<String>,
    pub minimum_engine_version: String,
    pub pending_add: Vec<String>,
    pub pending_remove: Vec<String>,
    pub replication_groups: Vec<String>,
    pub arn: String,
}

impl UserGroup {
    /// The members, without a wrapper (`CreateUserGroupResult` holds them directly).
    pub fn write_fields(&self, w: &mut XmlWriter) {
        w.text("UserGroupId", &self.user_group_id);
        w.text("Status", &self.status);
        w.text("Engine", &self.engine);
        w.str_list("UserIds", "member", &self.user_ids);
        w.text("MinimumEngineVersion", &self.minimum_engine_version);
        if !self.pending_add.is_empty() || !self.pending_remove.is_empty() {
            w.open("PendingChanges");
            w.str_list("UserIdsToRemove", "member", &self.pending_remove);
            w.str_list("UserIdsToAdd", "member", &self.pending_add);
            w.close("PendingChanges");
        }
        w.str_list("ReplicationGroups", "member", &self.replication_groups);
        w.empty("ServerlessCaches");
        w.text("ARN", &self.arn);
    }

    /// As an item of a list: `<member>…</member>`.
    pub fn write_member(&self, w: &mut XmlWriter) {
        w.open("member");
        self.write_fields(w);
        w.close("member");
    }
}

/// The `CacheSubnetGroup` shape.
#[derive(Debug, Clone, Default)]
pub struct CacheSubnetGroup {
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    /// `(SubnetIdentifier, SubnetAvailabilityZone.Name)`.
    pub subnets: Vec<(String, String)>,
    pub arn: String,
}

impl CacheSubnetGroup {
    /// The members, without a wrapper (`CreateCacheSubnetGroupResult` holds them under `CacheSubnetGroup`).
    pub fn write_fields(&self, w: &mut XmlWriter) {
        w.text("CacheSubnetGroupName", &self.name);
        w.text("CacheSubnetGroupDescription", &self.description);
        w.text("VpcId", &self.vpc_id);
        w.open("Subnets");
        for (id, zone) in &self.subnets {
            w.open("Subnet");
            w.text("SubnetIdentifier", id);
            w.open("SubnetAvailabilityZone");
            w.text("Name", zone);
            w.close("SubnetAvailabilityZone");
            w.str_list(
                "SupportedNetworkTypes",
                "member",
                &["ipv4".to_string(), "dual_stack".to_string()],
            );
            w.close("Subnet");
        }
        w.close("Subnets");
        w.text("ARN", &self.arn);
        w.str_list(
            "SupportedNetworkTypes",
            "member",
            &["ipv4".to_string(), "dual_stack".to_string()],
        );
    }

    /// Under `name` (`CacheSubnetGroup` in a single result and as a list item).
    pub fn write_as(&self, name: &str, w: &mut XmlWriter) {
        w.open(name);
        self.write_fields(w);
        w.close(name);
    }
}

/// The `CacheParameterGroup` shape.
#[derive(Debug, Clone, Default)]
pub struct CacheParameterGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    pub arn: String,
}

impl CacheParameterGroup {
    /// Under `name` (`CacheParameterGroup` in a single result and as a list item).
    pub fn write_as(&self, name: &str, w: &mut XmlWriter) {
        w.open(name);
        w.text("CacheParameterGroupName", &self.name);
        w.text("CacheParameterGroupFamily", &self.family);
        w.text("Description", &self.description);
        w.bool("IsGlobal", false);
        w.text("ARN", &self.arn);
        w.close(name);
    }
}

/// The `Parameter` shape; with `node_type_values`, a `CacheNodeTypeSpecificParameter`.
#[derive(Debug, Clone, Default)]
pub struct Parameter {
    pub name: String,
    /// `None`: no `ParameterValue` element (a parameter without a value).
    pub value: Option<String>,
    pub description: String,
    pub source: String,
    pub data_type: String,
    pub allowed_values: Option<String>,
    pub is_modifiable: bool,
    pub minimum_engine_version: String,
    pub change_type: String,
    /// `(CacheNodeType, Value)` of a node-type-specific parameter.
    pub node_type_values: Vec<(String, String)>,
}

impl Parameter {
    fn write(&self, w: &mut XmlWriter) {
        let specific = !self.node_type_values.is_empty();
        let name = if specific {
            "CacheNodeTypeSpecificParameter"
        } else {
            "Parameter"
        };
        w.open(name);
        w.text("ParameterName", &self.name);
        w.opt_text("ParameterValue", self.value.as_deref());
        w.text("Description", &self.description);
        w.text("Source", &self.source);
        w.text("DataType", &self.data_type);
        w.opt_text("AllowedValues", self.allowed_values.as_deref());
        w.bool("IsModifiable", self.is_modifiable);
        w.text("MinimumEngineVersion", &self.minimum_engine_version);
        if specific {
            w.open("CacheNodeTypeSpecificValues");
            for (t, v) in &self.node_type_values {
                w.open("CacheNodeTypeSpecificValue");
                w.text("CacheNodeType", t);
                w.text("Value", v);
                w.close("CacheNodeTypeSpecificValue");
            }
            w.close("CacheNodeTypeSpecificValues");
        }
        w.text("ChangeType", &self.change_type);
        w.close(name);
    }
}

/// A page of parameters (`DescribeCacheParameters`, and inside `EngineDefaults`): `Marker`, `Parameters`, then
/// `CacheNodeTypeSpecificParameters`.
pub fn write_parameters(
    w: &mut XmlWriter,
    marker: Option<&str>,
    parameters: &[Parameter],
    node_type_specific: &[Parameter],
) {
    w.opt_text("Marker", marker);
    w.open("Parameters");
    for p in parameters {
        p.write(w);
    }
    w.close("Parameters");
    w.open("CacheNodeTypeSpecificParameters");
    for p in node_type_specific {
        p.write(w);
    }
    w.close("CacheNodeTypeSpecificParameters");
}

/// `TagListMessage` body: `<TagList><Tag><Key/><Value/></Tag>…</TagList>`.
pub fn write_tag_list(w: &mut XmlWriter, tags: &[(String, String)]) {
    if tags.is_empty() {
        w.empty("TagList");
        return;
    }
    w.open("TagList");
    for (k, v) in tags {
        w.open("Tag");
        w.text("Key", k);
        w.text("Value", v);
        w.close("Tag");
    }
    w.close("TagList");
}

/// One `CacheEngineVersion`.
#[derive(Debug, Clone)]
pub struct CacheEngineVersion {
    pub engine: String,
    pub engine_version: String,
    pub parameter_group_family: String,
    pub description: String,
    pub version_description: String,
}

impl CacheEngineVersion {
    pub fn write(&self, w: &mut XmlWriter) {
        w.open("CacheEngineVersion");
        w.text("Engine", &self.engine);
        w.text("EngineVersion", &self.engine_version);
        w.text("CacheParameterGroupFamily", &self.parameter_group_family);
        w.text("CacheEngineDescription", &self.description);
        w.text("CacheEngineVersionDescription", &self.version_description);
        w.close("CacheEngineVersion");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_is_the_first_child() {
        let xml = envelope("DescribeEvents", "rid", |w| w.empty("Events"));
        assert!(xml.starts_with(
            "<DescribeEventsResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><DescribeEventsResult>"
        ));
        assert!(xml.ends_with("<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DescribeEventsResponse>"));
    }
}
