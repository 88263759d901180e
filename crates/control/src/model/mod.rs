//! What the store keeps: the spec of each replication group as the user asked for it, plus the addresses and
//! identities we decided for it (they must survive restarts). What the nodes report (roles, liveness) is
//! observed, kept in memory only, see [`crate::runtime::observe`].

pub mod host;
pub mod log_delivery;
pub mod parameter_group;
pub mod slots;
pub mod subnet_group;

pub use host::{AddressRange, Host};
pub use log_delivery::LogDelivery;
pub use parameter_group::ParameterGroup;
pub use subnet_group::SubnetGroup;

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `ReplicationGroup.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupStatus {
    Creating,
    Available,
    Modifying,
    Deleting,
    CreateFailed,
    /// The target of an online migration: its primary follows the source.
    Migrating,
    /// A snapshot is being taken.
    Snapshotting,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Modifying => "modifying",
            Self::Deleting => "deleting",
            Self::CreateFailed => "create-failed",
            Self::Migrating => "migrating",
            Self::Snapshotting => "snapshotting",
        }
    }
}

/// `ClusterMode`: whether the group's nodes run Redis Cluster and which endpoints clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterMode {
    /// One shard of plain replication; primary and reader endpoints.
    #[default]
    Disabled,
    /// One shard whose nodes run Redis Cluster owning every slot: both the primary/reader endpoints and the
    /// configuration endpoint serve, so clients move over at their pace.
    Compatible,
    /// Shards owning hash-slot ranges; the configuration endpoint only.
    Enabled,
}

impl ClusterMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Compatible => "compatible",
            Self::Enabled => "enabled",
        }
    }

    /// The nodes run Redis Cluster (`cluster-enabled yes`).
    pub fn runs_cluster(self) -> bool {
        self != Self::Disabled
    }

    /// The group serves the primary and reader endpoints (every mode but `enabled`).
    pub fn has_primary_endpoint(self) -> bool {
        self != Self::Enabled
    }
}

/// One member cluster (one node) of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// `<rg>-001`.
    pub cluster_id: String,
    /// The node's own loopback address; it listens on the group's port.
    pub address: IpAddr,
    pub availability_zone: String,
    pub create_time: DateTime<Utc>,
    /// Set by `RebootCacheCluster` until the node has been restarted.
    #[serde(default)]
    pub rebooting: bool,
    /// The engine version this node runs when it differs from the group's (during a rolling upgrade).
    #[serde(default)]
    pub engine_version: Option<String>,
    /// The engine this node runs when it differs from the group's (during a rolling move from Redis to Valkey).
    #[serde(default)]
    pub engine: Option<String>,
    /// The node's own port, in a dual-stack group (it listens on its address and on `::1` with this port; the
    /// one IPv6 loopback address cannot give every node the group's port). `None`: the group's port.
    #[serde(default)]
    pub port: Option<u16>,
    /// The node follows its primary and announces itself over IPv6 (`IpDiscovery ipv6` has reached it).
    #[serde(default)]
    pub ipv6: bool,
    /// During a change of cluster mode ([`ReplicationGroup::converting_to`]): this node has been restarted in the
    /// new mode.
    #[serde(default)]
    pub converted: bool,
    /// The host whose agent runs the node (and where the agent answers); `None`: the daemon's own machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<engine::spec::NodeHost>,
}

impl Member {
    /// A new member's node: at `address` in `zone`, created at `t`, on the group's port and engine, over IPv4.
    pub fn new(cluster_id: String, address: IpAddr, zone: String, t: DateTime<Utc>) -> Self {
        Self {
            cluster_id,
            address,
            availability_zone: zone,
            create_time: t,
            rebooting: false,
            engine_version: None,
            engine: None,
            port: None,
            ipv6: false,
            converted: false,
            host: None,
        }
    }
}

/// A replication group: one or more node groups (shards) of one primary and its replicas each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationGroup {
    pub id: String,
    pub description: String,
    pub status: GroupStatus,
    pub engine: String,
    pub engine_version: String,
    pub cache_node_type: String,
    pub port: u16,
    pub automatic_failover: bool,
    pub multi_az: bool,
    pub preferred_maintenance_window: String,
    pub snapshot_retention_limit: i32,
    pub snapshot_window: String,
    pub snapshotting_cluster_id: Option<String>,
    pub security_group_ids: Vec<String>,
    pub auto_minor_version_upgrade: bool,
    pub cache_parameter_group: String,
    pub create_time: DateTime<Utc>,
    pub primary_endpoint: IpAddr,
    pub reader_endpoint: IpAddr,
    /// The node groups (shards), at least one; a group with cluster mode disabled has exactly one, `0001`.
    pub shards: Vec<Shard>,
    /// `ClusterMode`.
    #[serde(default)]
    pub cluster_mode: ClusterMode,
    /// `ModifyReplicationGroupShardConfiguration` under way: the slots still to move (kept so a daemon restart
    /// resumes it).
    #[serde(default)]
    pub resharding: Option<Resharding>,
    /// The configuration endpoint's address (a forwarder over the nodes, which answer cluster clients' topology
    /// questions), once the nodes run Redis Cluster.
    #[serde(default)]
    pub configuration_endpoint: Option<IpAddr>,
    /// A change of `ClusterMode` under way (`disabled` → `compatible` or back): the nodes are restarted in the new
    /// mode one at a time (replicas first, then a handover of the primary's role); `cluster_mode` is the old mode
    /// until every node runs the new one.
    #[serde(default)]
    pub converting_to: Option<ClusterMode>,
    /// Set by `DeleteReplicationGroup` with `RetainPrimaryCluster`: this member is kept as a standalone cluster.
    pub retain_cluster_id: Option<String>,
    /// How many times creation has failed in a row (the reconciler gives up after a few).
    #[serde(default)]
    pub create_attempts: u32,
    /// Members removed by `DecreaseReplicaCount` whose nodes still have to be stopped.
    #[serde(default)]
    pub removing: Vec<Member>,
    /// Changes that wait for the maintenance window (`ApplyImmediately=false`).
    #[serde(default)]
    pub pending: PendingChanges,
    /// `enabling` / `disabling` while a change of automatic failover is being applied.
    #[serde(default)]
    pub failover_transition: Option<String>,
    /// SNS topic the group's events go to, and whether delivery is `active` or `inactive`.
    #[serde(default)]
    pub notification: Option<Notification>,
    /// The engine version a rolling upgrade is moving the group to.
    #[serde(default)]
    pub upgrading_to: Option<String>,
    /// A cache cluster outside any replication group (`CreateCacheCluster`): this group is only its vessel — one
    /// node whose cluster id is the group's id — and the replication group actions do not see it.
    #[serde(default)]
    pub standalone: bool,
    /// What its endpoints' DNS names end with (`<id>.<region-short>.cache.<zone>`, see
    /// [`crate::rules::endpoint_names`]): set at creation when the deployment had a zone (`--dns-zone`) and the
    /// group could be named ([`ReplicationGroup::may_be_named`]); `None`: its endpoints are addresses. Kept for the
    /// group's life, so that its endpoints never change under its clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_suffix: Option<String>,
    /// The cache subnet group its nodes are placed by (`default` for groups from before subnet groups).
    #[serde(default = "default_subnet_group")]
    pub cache_subnet_group: String,
    /// The engine that upgrade moves the group to, when it changes engine (`redis` → `valkey`).
    #[serde(default)]
    pub upgrading_engine: Option<String>,
    /// An online migration asked for or under way.
    #[serde(default)]
    pub migration: Option<Migration>,
    /// `NetworkType dual_stack`: set at creation, never changed.
    #[serde(default)]
    pub dual_stack: Option<DualStack>,
    /// TLS in transit (`TransitEncryptionEnabled`), with its `TransitEncryptionMode`; `None`: off.
    #[serde(default)]
    pub transit_encryption: Option<TransitMode>,
    /// AUTH tokens; `None`: none was ever set.
    #[serde(default)]
    pub auth: Option<AuthTokens>,
    /// The user groups attached (role-based access control); empty: none.
    #[serde(default)]
    pub user_group_ids: Vec<String>,
    /// While a change of TLS in transit reaches the nodes: `(TransitEncryptionEnabled, TransitEncryptionMode)`
    /// it moves to, shown in `PendingModifiedValues` (cleared when the group is `available` again).
    #[serde(default)]
    pub pending_transit: Option<(bool, Option<String>)>,
    /// While a change of user groups reaches the nodes: the ids added and removed (`PendingModifiedValues.UserGroups`).
    #[serde(default)]
    pub pending_user_groups: Option<(Vec<String>, Vec<String>)>,
    /// The snapshot being taken (`CreateSnapshot`), until it is done.
    #[serde(default)]
    pub snapshotting: Option<String>,
    /// The snapshot a new group is restored from (`SnapshotName` at create), until creation is done.
    #[serde(default)]
    pub restore_from: Option<String>,
    /// `FinalSnapshotIdentifier` of `DeleteReplicationGroup`: taken before the nodes are stopped.
    #[serde(default)]
    pub final_snapshot: Option<String>,
    /// The Redis ACL users the nodes hold for the attached user groups, resolved from the users when they or
    /// the attachment change (so that a node's config is a function of its group alone). `None`: no user group.
    #[serde(default)]
    pub acl: Option<Acl>,
    /// The parameter group the group moves to when the running engine upgrade (to a new family) or change of
    /// cluster mode ends; `None`: the default group of the new family or mode (when it uses a default one).
    #[serde(default)]
    pub next_parameter_group: Option<String>,
    /// `LogDeliveryConfigurations`: the slow log and engine log deliveries.
    #[serde(default)]
    pub log_delivery: Vec<log_delivery::LogDelivery>,
}

/// An online resharding: slot moves between node groups, done range by range. A shard's `slots` always say who
/// serves a slot now: a range leaves `moves` and changes hands in `slots` in the same write, once its keys have moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resharding {
    pub moves: Vec<SlotMove>,
    /// Slots to move when it began (the progress is the share moved since).
    pub total_slots: u32,
    /// Node groups removed once they serve no slot.
    pub removing_shards: Vec<String>,
    /// Every slot has moved and the removed node groups have left the group: what is left (their nodes stopped,
    /// the group's other work) ends with the group `available`, when this is cleared. Until then
    /// `ProgressPercentage` stays in `PendingModifiedValues`, at 100.
    #[serde(default)]
    pub finished: bool,
}

impl Resharding {
    /// `SlotMigration.ProgressPercentage`.
    pub fn progress(&self) -> f64 {
        let left: u32 = self.moves.iter().map(|m| slots::count(&m.ranges)).sum();
        if self.total_slots == 0 {
            return 100.0;
        }
        100.0 * f64::from(self.total_slots.saturating_sub(left)) / f64::from(self.total_slots)
    }
}

/// Slots to move from one node group to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotMove {
    pub from: String,
    pub to: String,
    pub ranges: Vec<(u16, u16)>,
}

/// A node group (shard): a primary and its replicas, and with cluster mode the hash slots it owns. Every workflow
/// that concerns a primary and its replicas (failover, switchover, replica changes, links) works on one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// `NodeGroupId`: `0001` and up.
    pub id: String,
    /// The hash-slot ranges the shard owns, inclusive and in order; empty with cluster mode disabled.
    #[serde(default)]
    pub slots: Vec<(u16, u16)>,
    /// The member that should be primary.
    pub primary_cluster_id: String,
    pub members: Vec<Member>,
    /// A failover asked for or under way (kept so a daemon restart resumes it).
    #[serde(default)]
    pub failover: Option<Failover>,
    /// A planned switchover to this member (`PrimaryClusterId`, a rolling upgrade), until it is done.
    #[serde(default)]
    pub switchover_to: Option<String>,
    /// Members added by `IncreaseReplicaCount` that have not yet synced.
    #[serde(default)]
    pub adding: Vec<String>,
}

impl Shard {
    pub fn member(&self, cluster_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.cluster_id == cluster_id)
    }

    pub fn primary(&self) -> Option<&Member> {
        self.member(&self.primary_cluster_id)
    }

    pub fn replicas(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|m| m.cluster_id != self.primary_cluster_id)
    }

    /// `Slots` as AWS shows it: inclusive ranges joined by commas, `0-5461` or `0-324,5462-5692`.
    pub fn slots_text(&self) -> String {
        slots::text(&self.slots)
    }

    /// The members whose roles a switchover in progress is changing: left alone by role corrections.
    pub fn switching(&self) -> Vec<String> {
        match &self.switchover_to {
            Some(t) => vec![self.primary_cluster_id.clone(), t.clone()],
            None => vec![],
        }
    }
}

/// The ACL of a group with user groups: the `default` user's rules and every other user's, by user name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub default_user: String,
    pub users: Vec<(String, String)>,
}

/// A snapshot: an RDB file under `<data dir>/snapshots/` and what it was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Lower-cased, as AWS stores it.
    pub name: String,
    /// `manual` or `automated`.
    pub source: String,
    /// `creating`, `available`, `failed`.
    pub status: String,
    pub replication_group_id: String,
    pub description: String,
    /// The member the data was read from.
    pub cache_cluster_id: String,
    pub cache_cluster_create_time: DateTime<Utc>,
    pub availability_zone: String,
    pub replica_count: i64,
    pub cache_node_type: String,
    /// Taken of a standalone cache cluster (its vessel's id is `replication_group_id`, which is not shown).
    #[serde(default)]
    pub of_cluster: bool,
    /// The engine whose files these are (`redis` for snapshots from before engines were recorded).
    #[serde(default = "redis")]
    pub engine: String,
    pub engine_version: String,
    pub port: u16,
    pub cache_parameter_group: String,
    pub preferred_maintenance_window: String,
    pub snapshot_window: String,
    pub snapshot_retention_limit: i32,
    pub auto_minor_version_upgrade: bool,
    pub automatic_failover: bool,
    /// When the data was read (`SnapshotCreateTime`), once it was.
    pub taken: Option<DateTime<Utc>>,
    /// Size of the RDB file in bytes, and the memory the dataset used on its node.
    pub size: u64,
    pub used_memory: u64,
    /// A snapshot of a group with cluster mode enabled: one RDB per node group (`NodeSnapshots`); empty for one
    /// with it disabled, whose one RDB is the snapshot's file. `size` and `used_memory` are then their sums.
    #[serde(default)]
    pub shards: Vec<ShardSnapshot>,
}

/// The part of a cluster mode enabled snapshot read from one node group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSnapshot {
    pub node_group_id: String,
    /// The member the data was read from.
    pub cache_cluster_id: String,
    pub cache_cluster_create_time: DateTime<Utc>,
    /// The slots the node group served.
    pub slots: Vec<(u16, u16)>,
    pub availability_zone: String,
    pub replica_count: i64,
    pub size: u64,
    pub used_memory: u64,
}

/// A user (`CreateUser`): its passwords as SHA-256 hashes only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub engine: String,
    pub access_string: String,
    /// Hex SHA-256 of each password (at most two); empty with `no_password`.
    pub password_hashes: Vec<String>,
    pub no_password: bool,
    /// `active`, `modifying`, `deleting`.
    pub status: String,
    /// While `deleting`: the user groups it was taken out of, whose replication groups must have dropped it from
    /// every node before it is gone.
    #[serde(default)]
    pub leaving: Vec<String>,
    /// While `deleting`: since when. A deleted user is listed `deleting` for at least
    /// [`crate::actions::users::DELETING_SHOWN`], as on AWS, however fast its nodes drop it.
    #[serde(default)]
    pub deleting_since: Option<DateTime<Utc>>,
}

/// A user group (`CreateUserGroup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroup {
    pub id: String,
    pub engine: String,
    pub user_ids: Vec<String>,
    /// `creating`, `active`, `modifying`, `deleting`.
    pub status: String,
}

/// The AUTH tokens of a group, as SHA-256 hashes only (the form Redis ACL takes: `#<hex>`); a token in clear
/// is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthTokens {
    /// The valid tokens' hashes, oldest first; at most two.
    pub hashes: Vec<String>,
    /// Clients that do not authenticate are still let in: tokens were added with `ROTATE` to a group that had
    /// none, and no `SET` has closed it yet.
    pub open: bool,
    /// `AuthTokenLastModifiedDate`: when the last change was applied.
    pub last_modified: Option<DateTime<Utc>>,
    /// `PendingModifiedValues.AuthTokenStatus` (`ROTATING`, `SETTING`) until the change reaches every node.
    pub status: Option<String>,
}

/// `TransitEncryptionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransitMode {
    /// TLS and plaintext both accepted.
    Preferred,
    /// TLS only.
    Required,
}

impl TransitMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preferred => "preferred",
            Self::Required => "required",
        }
    }

    pub fn engine(self) -> engine::config::TlsMode {
        match self {
            Self::Preferred => engine::config::TlsMode::Preferred,
            Self::Required => engine::config::TlsMode::Required,
        }
    }
}

/// The IPv6 side of a dual-stack group. Its endpoints are in-process forwarders on `::1` (and on their IPv4
/// addresses), since no node can own `::1` on the group's port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DualStack {
    /// The primary endpoint's port on `::1`.
    pub primary_port: u16,
    /// The reader endpoint's port on `::1`.
    pub reader_port: u16,
    /// `IpDiscovery`: true for `ipv6`. Members move to it one at a time (see [`Member::ipv6`]).
    pub ipv6_discovery: bool,
}

/// An online migration from a Redis this daemon does not manage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// The source, `host` and `port` as the user gave them.
    pub host: String,
    pub port: u16,
    pub phase: MigrationPhase,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationPhase {
    /// `TestMigration`: checks run, nothing is copied.
    Testing,
    /// `StartMigration` was called: the checks run (status `modifying`), then the primary starts following.
    Starting { clear: bool },
    /// The primary replicates from the source (status `migrating`).
    Following(Following),
    /// `CompleteMigration` was accepted: the primary stops following the source and is promoted.
    Completing { addr: SocketAddr, force: bool },
}

/// The state of a running migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Following {
    /// The source's address, resolved when the migration started.
    pub addr: SocketAddr,
    pub since: DateTime<Utc>,
    /// The initial sync completed (the link was up once).
    pub synced: bool,
    /// The link's state at the last look (for events on changes).
    pub link_up: bool,
    /// Attempts to start following, and when the current one began.
    pub attempts: u32,
    pub attempt_since: DateTime<Utc>,
}

impl Migration {
    /// The source the primary follows now, if it does.
    pub fn following(&self) -> Option<SocketAddr> {
        match &self.phase {
            MigrationPhase::Following(f) => Some(f.addr),
            MigrationPhase::Completing { addr, .. } => Some(*addr),
            _ => None,
        }
    }

    /// True when the group is a migration target (its primary follows, or is about to follow, the source).
    pub fn is_running(&self) -> bool {
        !matches!(self.phase, MigrationPhase::Testing)
    }
}

/// Changes waiting for the maintenance window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChanges {
    pub cache_node_type: Option<String>,
    pub engine_version: Option<String>,
    /// The engine `engine_version` is of, when it is not the group's (`redis` → `valkey`).
    #[serde(default)]
    pub engine: Option<String>,
}

impl PendingChanges {
    pub fn is_empty(&self) -> bool {
        self.cache_node_type.is_none() && self.engine_version.is_none()
    }
}

/// A notification topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub topic_arn: String,
    pub active: bool,
}

impl Notification {
    pub fn status(&self) -> &'static str {
        if self.active {
            "active"
        } else {
            "inactive"
        }
    }
}

/// The phases of a failover of a group's primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failover {
    /// `TestFailover` was called: the primary is to be failed abruptly.
    Requested,
    /// A replica was promoted; the failed node is being replaced and has not yet rejoined as a replica.
    Recovering { failed: String },
}

/// Whether the nodes of a group with these settings can run on host agents: not those that listen on IPv6 as well
/// (dual stack: `::1` is each machine's own); those run on the daemon's own machine.
pub fn runs_on_hosts(dual_stack: bool) -> bool {
    !dual_stack
}

impl ReplicationGroup {
    /// Whether this group's endpoints can be DNS names: not with dual stack (IPv6 forwarders) or for a standalone
    /// cluster (one node, its address). With TLS, the nodes' certificates name the names. Decided at creation
    /// ([`Self::dns_suffix`]).
    pub fn may_be_named(&self) -> bool {
        self.dual_stack.is_none() && !self.standalone
    }

    /// Whether this group's endpoints are DNS names (ending with [`Self::dns_suffix`]).
    pub fn dns_named(&self) -> bool {
        self.dns_suffix.is_some()
    }

    /// Whether this group's new nodes can run on host agents ([`runs_on_hosts`]).
    pub fn on_hosts(&self) -> bool {
        runs_on_hosts(self.dual_stack.is_some())
    }

    /// Whether a snapshot this group is restored from is loaded into its running primaries (key by key, through
    /// the control plane's connections), rather than started from as the primary's data file: with cluster mode
    /// (each key to its slot's primary), and on hosts (the file is the control plane's, not the host's).
    pub fn loads_restore(&self) -> bool {
        self.cluster_mode.runs_cluster() || self.members().any(|m| m.host.is_some())
    }

    /// The hosts this group's nodes run on.
    pub fn hosts(&self) -> Vec<&str> {
        self.members()
            .filter_map(|m| m.host.as_ref().map(|h| h.name.as_str()))
            .collect()
    }

    /// Every member of every shard.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.shards.iter().flat_map(|s| s.members.iter())
    }

    pub fn members_mut(&mut self) -> impl Iterator<Item = &mut Member> {
        self.shards.iter_mut().flat_map(|s| s.members.iter_mut())
    }

    pub fn member(&self, cluster_id: &str) -> Option<&Member> {
        self.members().find(|m| m.cluster_id == cluster_id)
    }

    pub fn member_mut(&mut self, cluster_id: &str) -> Option<&mut Member> {
        self.members_mut().find(|m| m.cluster_id == cluster_id)
    }

    /// The shard `cluster_id` belongs to.
    pub fn shard_of(&self, cluster_id: &str) -> Option<&Shard> {
        self.shards.iter().find(|s| s.member(cluster_id).is_some())
    }

    pub fn shard(&self, id: &str) -> Option<&Shard> {
        self.shards.iter().find(|s| s.id == id)
    }

    pub fn shard_mut(&mut self, id: &str) -> Option<&mut Shard> {
        self.shards.iter_mut().find(|s| s.id == id)
    }

    /// The first shard: the only one of a group with cluster mode disabled. A group always has one (creation
    /// makes it, the store refuses a group without, and no shard change removes the last).
    /// Whether member `m`'s node runs Redis Cluster: the group's mode, or during a change of mode, the new mode
    /// once the node has been converted.
    pub fn runs_cluster(&self, m: &Member) -> bool {
        match self.converting_to {
            Some(to) if m.converted => to.runs_cluster(),
            _ => self.cluster_mode.runs_cluster(),
        }
    }

    /// Every node runs Redis Cluster: the cluster's formation applies.
    pub fn all_run_cluster(&self) -> bool {
        self.members().all(|m| self.runs_cluster(m))
    }

    /// The configuration endpoint serves: the nodes run Redis Cluster and no change of mode is under way.
    pub fn serves_configuration_endpoint(&self) -> bool {
        self.cluster_mode.runs_cluster() && self.converting_to.is_none()
    }

    pub fn first_shard(&self) -> &Shard {
        &self.shards[0]
    }

    pub fn first_shard_mut(&mut self) -> &mut Shard {
        &mut self.shards[0]
    }

    /// True when `cluster_id` should be the primary of its shard.
    pub fn is_primary(&self, cluster_id: &str) -> bool {
        self.shards
            .iter()
            .any(|s| s.primary_cluster_id == cluster_id)
    }

    /// The primary of each shard.
    pub fn primaries(&self) -> impl Iterator<Item = &Member> {
        self.shards.iter().filter_map(|s| s.primary())
    }

    /// Every replica of every shard.
    pub fn replicas(&self) -> impl Iterator<Item = &Member> {
        self.shards.iter().flat_map(|s| s.replicas())
    }

    /// Members added by `IncreaseReplicaCount` that have not yet synced, in every shard.
    pub fn adding(&self) -> impl Iterator<Item = &String> {
        self.shards.iter().flat_map(|s| s.adding.iter())
    }

    /// The port `m`'s node listens on.
    pub fn node_port(&self, m: &Member) -> u16 {
        m.port.unwrap_or(self.port)
    }

    /// The engine and version `m`'s node runs.
    pub fn release_of<'a>(&'a self, m: &'a Member) -> (&'a str, &'a str) {
        (
            m.engine.as_deref().unwrap_or(&self.engine),
            m.engine_version.as_deref().unwrap_or(&self.engine_version),
        )
    }

    /// The group's engine version as `(major, minor, patch)`.
    pub fn engine_version_triple(&self) -> (u32, u32, u32) {
        engine::binary::parse_version(&self.engine_version).unwrap_or((0, 0, 0))
    }

    /// `m`'s own IPv4 address, which every node listens on.
    pub fn tcp_addr(&self, m: &Member) -> SocketAddr {
        SocketAddr::new(m.address, self.node_port(m))
    }

    /// Where the control plane reaches `m`'s node, whose directory is under `data_dir`.
    pub fn admin_addr(&self, m: &Member, data_dir: &std::path::Path) -> engine::admin::NodeAddr {
        engine::admin::NodeAddr {
            tcp: self.tcp_addr(m),
            socket: engine::config::admin_socket(&node_dir(data_dir, &m.cluster_id)),
            tls: self.transit_encryption.map(|mode| {
                (
                    engine::config::listen_ports(self.node_port(m), Some(mode.engine())).1,
                    engine::tls::bundle_in(&node_ca_dir(data_dir)),
                )
            }),
        }
    }

    /// `m`'s address over IPv6 (`::1`) when `ipv6`, else over IPv4: what a node that discovers addresses of
    /// that family connects to, and what is reported for it.
    pub fn addr_of(&self, m: &Member, ipv6: bool) -> SocketAddr {
        if ipv6 {
            SocketAddr::new(engine::address::IPV6_LOOPBACK, self.node_port(m))
        } else {
            self.tcp_addr(m)
        }
    }

    /// Where a replica reaches `m` when `m` is its primary: `m`'s address, except in TLS `preferred` mode, where
    /// the node's port belongs to the daemon's front and replicas go straight to Redis's own TLS port (so
    /// replication does not depend on the daemon).
    /// The address member `m`'s node is told its primary `primary` has: the one the cluster announces when both run
    /// Redis Cluster (a cluster replica names its primary by it, see `engine::cluster`), else where the replica's
    /// link connects ([`Self::link_addr`]).
    pub fn follow_addr(&self, primary: &Member, m: &Member) -> SocketAddr {
        if self.runs_cluster(m) && self.runs_cluster(primary) {
            self.addr_of(primary, m.ipv6)
        } else {
            self.link_addr(primary, m.ipv6)
        }
    }

    pub fn link_addr(&self, m: &Member, ipv6: bool) -> SocketAddr {
        let a = self.addr_of(m, ipv6);
        match self.transit_encryption {
            Some(TransitMode::Preferred) if self.dual_stack.is_none() => {
                let (_, tls) = engine::config::listen_ports(
                    a.port(),
                    Some(engine::config::TlsMode::Preferred),
                );
                SocketAddr::new(a.ip(), tls)
            }
            _ => a,
        }
    }

    /// True when the group discovers (reports and links over) IPv6 addresses.
    pub fn ipv6_discovery(&self) -> bool {
        self.dual_stack.as_ref().is_some_and(|d| d.ipv6_discovery)
    }

    /// `NetworkType`.
    pub fn network_type(&self) -> &'static str {
        if self.dual_stack.is_some() {
            "dual_stack"
        } else {
            "ipv4"
        }
    }

    /// `IpDiscovery`.
    pub fn ip_discovery(&self) -> &'static str {
        if self.ipv6_discovery() {
            "ipv6"
        } else {
            "ipv4"
        }
    }

    /// The primary endpoint as reported: on `::1` when the group discovers IPv6.
    pub fn primary_endpoint_addr(&self) -> SocketAddr {
        match &self.dual_stack {
            Some(d) if d.ipv6_discovery => {
                SocketAddr::new(engine::address::IPV6_LOOPBACK, d.primary_port)
            }
            _ => SocketAddr::new(self.primary_endpoint, self.port),
        }
    }

    /// The reader endpoint as reported.
    pub fn reader_endpoint_addr(&self) -> SocketAddr {
        match &self.dual_stack {
            Some(d) if d.ipv6_discovery => {
                SocketAddr::new(engine::address::IPV6_LOOPBACK, d.reader_port)
            }
            _ => SocketAddr::new(self.reader_endpoint, self.port),
        }
    }
}

/// A cache cluster that is not in a replication group (a primary kept by `RetainPrimaryCluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandaloneCluster {
    pub member: Member,
    pub engine: String,
    pub engine_version: String,
    pub cache_node_type: String,
    pub port: u16,
    pub preferred_maintenance_window: String,
    pub security_group_ids: Vec<String>,
    pub auto_minor_version_upgrade: bool,
    pub cache_parameter_group: String,
    pub snapshot_window: String,
    /// TLS in transit, kept from the group the cluster was retained from.
    #[serde(default)]
    pub transit_encryption: Option<TransitMode>,
    /// AUTH tokens, kept from the group the cluster was retained from.
    #[serde(default)]
    pub auth: Option<AuthTokens>,
    /// The ACL users of the group's user groups, kept as they were when the cluster was retained.
    #[serde(default)]
    pub acl: Option<Acl>,
    /// The cache subnet group, kept from the group the cluster was retained from.
    #[serde(default = "default_subnet_group")]
    pub cache_subnet_group: String,
    /// `DeleteCacheCluster` was accepted: the worker stops the node, removes its data and forgets the cluster.
    #[serde(default)]
    pub deleting: bool,
}

/// A new event, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub source_type: &'static str,
    pub source_id: String,
    pub message: String,
}

impl NewEvent {
    /// The event as the standalone cache cluster whose vessel group raised it tells it: a cache cluster's, in
    /// a cache cluster's words.
    pub fn of_vessel(&self) -> Self {
        if self.source_type != "replication-group" {
            return self.clone();
        }
        Self {
            source_type: "cache-cluster",
            source_id: self.source_id.clone(),
            message: self
                .message
                .replace("Replication group", "Cache cluster")
                .replace("replication group", "cache cluster"),
        }
    }

    pub fn group(id: &str, message: impl Into<String>) -> Self {
        Self {
            source_type: "replication-group",
            source_id: id.to_string(),
            message: message.into(),
        }
    }
    pub fn cluster(id: &str, message: impl Into<String>) -> Self {
        Self {
            source_type: "cache-cluster",
            source_id: id.to_string(),
            message: message.into(),
        }
    }
    /// A member's node is up: at creation, or when a replica was added.
    pub fn node_added(m: &Member) -> Self {
        Self::cluster(
            &m.cluster_id,
            format!(
                "Added cache node 0001 in availability zone {}",
                m.availability_zone
            ),
        )
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub date: DateTime<Utc>,
    pub source_type: String,
    pub source_id: String,
    pub message: String,
}

/// The directory of the deployment's node CA (the authority that signs the nodes' TLS certificates).
pub fn node_ca_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("tls")
}

/// The directory of the node of member cluster `cluster_id`: config, data, log, pid file and admin socket.
pub fn node_dir(data_dir: &std::path::Path, cluster_id: &str) -> std::path::PathBuf {
    data_dir.join("nodes").join(cluster_id)
}

/// The engine of records written before engines other than Redis existed.
fn redis() -> String {
    engine::binary::REDIS.to_string()
}

fn default_subnet_group() -> String {
    subnet_group::DEFAULT.to_string()
}

/// `CacheClusterStatus` of a Memcached cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum McStatus {
    Creating,
    Available,
    Modifying,
    /// Some of its nodes are being restarted (`RebootCacheCluster`).
    Rebooting,
    Deleting,
}

impl McStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Modifying => "modifying",
            Self::Rebooting => "rebooting cluster nodes",
            Self::Deleting => "deleting",
        }
    }
}

/// Where a Memcached node is in its life (`CacheNodeStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum McNodeState {
    /// Not started yet (a new cluster's, or one `NumCacheNodes` adds).
    Creating,
    Available,
    /// To be restarted (`RebootCacheCluster`): its items are flushed, as on AWS.
    Rebooting,
    /// Named in `CacheNodeIdsToRemove`: leaves the discovery list, then stops.
    Deleting,
}

impl McNodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Rebooting => "rebooting",
            Self::Deleting => "deleting",
        }
    }
}

/// One node of a Memcached cluster: a `memcached` process on its own loopback address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McNode {
    /// `0001`, `0002`, …: never reused within the cluster.
    pub id: String,
    pub zone: String,
    pub address: IpAddr,
    pub created: DateTime<Utc>,
    pub state: McNodeState,
    /// The fingerprint of the options the running process started with (`None`: not known, a node of an older
    /// Cacheplane); differs from the parameter group's until a restart: `pending-reboot`.
    #[serde(default)]
    pub booted: Option<String>,
    /// The item memory (MiB) the running process was last given (`-m`, or `cache_memlimit` live).
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// The host whose agent runs the node; `None`: the daemon's machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<engine::spec::NodeHost>,
    /// The node is being started anew on another host, its own lost (state `Creating` meanwhile).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replacing: bool,
}

/// Node changes of a Memcached cluster that wait for its maintenance window (`ApplyImmediately=false`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct McPending {
    /// The node count asked for.
    pub num_cache_nodes: Option<u32>,
    /// Nodes to remove to reach it.
    pub remove: Vec<String>,
    /// Zones of the nodes to add.
    pub zones: Vec<String>,
    pub cache_node_type: Option<String>,
}

impl McPending {
    pub fn is_empty(&self) -> bool {
        self.num_cache_nodes.is_none() && self.cache_node_type.is_none()
    }
}

/// A Memcached cache cluster: 1–40 nodes and the configuration endpoint that auto discovery reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemcachedCluster {
    pub id: String,
    pub status: McStatus,
    pub created: DateTime<Utc>,
    pub engine_version: String,
    pub cache_node_type: String,
    pub port: u16,
    /// `single-az` or `cross-az`: where new nodes go.
    pub az_mode: String,
    /// The configuration endpoint's address (on the cluster's port).
    pub config_address: IpAddr,
    /// The version auto discovery reports; grows each time the node list changes.
    pub config_version: u64,
    /// The node ids auto discovery listed at `config_version`.
    #[serde(default)]
    pub published: Vec<String>,
    pub nodes: Vec<McNode>,
    /// The number the next node added gets.
    pub next_node: u32,
    pub pending: McPending,
    pub preferred_maintenance_window: String,
    pub notification: Option<Notification>,
    pub security_group_ids: Vec<String>,
    pub cache_subnet_group: String,
    pub cache_parameter_group: String,
    pub auto_minor_version_upgrade: bool,
    /// TLS in transit: nodes accept TLS only, and so does the configuration endpoint.
    #[serde(default)]
    pub transit_encryption: bool,
}

impl MemcachedCluster {
    /// The nodes auto discovery lists: every one not being removed (nodes not started yet are not listed).
    pub fn listed(&self) -> impl Iterator<Item = &McNode> {
        self.nodes
            .iter()
            .filter(|n| !matches!(n.state, McNodeState::Creating | McNodeState::Deleting))
    }

    pub fn node(&self, id: &str) -> Option<&McNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The node id of number `n`: `0001`.
    pub fn node_id(n: u32) -> String {
        format!("{n:04}")
    }

    /// The name of node `n`'s process and directory: `<cluster>-<node id>`.
    pub fn node_name(&self, n: &McNode) -> String {
        format!("{}-{}", self.id, n.id)
    }

    /// The hosts this cluster's nodes run on.
    pub fn hosts(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| n.host.as_ref().map(|h| h.name.as_str()))
            .collect()
    }
}
