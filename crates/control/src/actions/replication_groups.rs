//! `CreateReplicationGroup`, `DescribeReplicationGroups`, `DeleteReplicationGroup` and `DescribeCacheClusters`
//! (cluster mode disabled).

use crate::error::not_yet;
use crate::rules::tag_pairs;
use crate::rules::versions::default_parameter_group;
use crate::state::check_node_quota;
use crate::state::taken_addresses;
use crate::state::taken_ports;
use crate::state::State;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

use wire::input::{CreateReplicationGroup, DeleteReplicationGroup, DescribeReplicationGroups};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{
    Acl, ClusterMode, DualStack, GroupStatus, Member, NewEvent, ReplicationGroup, Shard,
};
use crate::rules::layout::ShardPlan;
use crate::rules::node_types;
use crate::rules::{self, DailyWindow, WeeklyWindow};
use crate::{now, Control, Settings};

/// Everything `CreateReplicationGroup` decides before touching state.
pub(crate) struct CreatePlan {
    id: String,
    description: String,
    mode: ClusterMode,
    shards: Vec<crate::rules::layout::ShardPlan>,
    subnet_group: String,
    engine: String,
    engine_version: String,
    cache_node_type: String,
    port: u16,
    automatic_failover: bool,
    multi_az: bool,
    maintenance: WeeklyWindow,
    snapshot_window: DailyWindow,
    snapshot_retention_limit: i32,
    security_group_ids: Vec<String>,
    auto_minor_version_upgrade: bool,
    parameter_group: String,
    tags: Vec<(String, String)>,
    /// `NetworkType dual_stack`, and whether `IpDiscovery` is `ipv6`.
    dual_stack: bool,
    ipv6_discovery: bool,
    transit: Option<crate::model::TransitMode>,
    auth: Option<crate::model::AuthTokens>,
    user_group_ids: Vec<String>,
    restore_from: Option<String>,
    log_delivery: Vec<crate::model::LogDelivery>,
}

/// `NetworkType` and `IpDiscovery` of a new group, by AWS's rules: `ipv4` (the default) discovers IPv4
/// addresses only; `dual_stack` listens on both and discovers either (`ipv4` by default). An IPv6-only network
/// is refused: the control plane reaches its nodes over their IPv4 loopback addresses.
fn network(network_type: Option<&str>, ip_discovery: Option<&str>) -> Result<(bool, bool)> {
    let ipv6_discovery = ip_discovery == Some("ipv6");
    match network_type {
        None | Some("ipv4") if ipv6_discovery => Err(combination(
            "IpDiscovery ipv6 needs NetworkType dual_stack (or ipv6); this request's NetworkType is ipv4.",
        )),
        None | Some("ipv4") => Ok((false, false)),
        Some("dual_stack") => {
            if !engine::address::ipv6_available() {
                return Err(invalid(
                    "NetworkType dual_stack needs IPv6 on this machine's loopback interface (::1), which is disabled.",
                ));
            }
            Ok((true, ipv6_discovery))
        }
        Some(_) => Err(not_yet(
            "NetworkType ipv6",
            "IPv6-only networks (use dual_stack with IpDiscovery ipv6)",
        )),
    }
}

/// The one node group of a group with cluster mode disabled: its node count from `NumCacheClusters`, or
/// `ReplicasPerNodeGroup` + 1, or the zone list's length (or one `NodeGroupConfiguration`'s `ReplicaCount`, without
/// `Slots`), and each node's zone.
fn single_shard(input: &CreateReplicationGroup, zones: &[String]) -> Result<ShardPlan> {
    if let Some(config) = input
        .node_group_configuration
        .as_ref()
        .filter(|c| !c.is_empty())
    {
        if config.iter().any(|c| c.slots.is_some()) {
            return Err(combination(
                "Slots is for cluster mode enabled: a group with cluster mode disabled serves every key from its one \
                 node group.",
            ));
        }
        if input.num_cache_clusters.is_some() || input.preferred_cache_cluster_azs.is_some() {
            return Err(combination(
                "Give NumCacheClusters/PreferredCacheClusterAZs or NodeGroupConfiguration, not both.",
            ));
        }
        let mut shards = crate::rules::layout::cluster_shards(input, zones)?;
        let mut shard = shards.remove(0);
        shard.id = "0001".into();
        shard.slots.clear();
        return Ok(shard);
    }
    let from_clusters = input.num_cache_clusters;
    let from_replicas = input.replicas_per_node_group.map(|r| {
        if (0..=crate::rules::layout::MAX_REPLICAS).contains(&r) {
            Ok(r + 1)
        } else {
            Err(invalid(format!(
                "Invalid ReplicasPerNodeGroup {r}: it must be between 0 and 5."
            )))
        }
    });
    let from_replicas = from_replicas.transpose()?;
    if let Some(n) = from_clusters {
        if !(1..=6).contains(&n) {
            return Err(invalid(format!(
                "Invalid NumCacheClusters {n}: it must be between 1 and 6."
            )));
        }
    }
    let num = match (from_clusters, from_replicas) {
        (Some(a), Some(b)) if a != b => {
            return Err(combination(format!(
                "NumCacheClusters ({a}) and ReplicasPerNodeGroup ({}) disagree: give one of them.",
                b - 1
            )))
        }
        (Some(a), _) => a as usize,
        (None, Some(b)) => b as usize,
        (None, None) => input
            .preferred_cache_cluster_azs
            .as_ref()
            .map_or(1, |z| z.len().max(1)),
    };
    let zones = match &input.preferred_cache_cluster_azs {
        Some(z) if !z.is_empty() => {
            if z.len() != num {
                return Err(combination(format!(
                    "PreferredCacheClusterAZs has {} zones but the group has {num} cache clusters: give one zone per cluster.",
                    z.len()
                )));
            }
            for az in z {
                if !zones.contains(az) {
                    return Err(invalid(format!(
                        "Invalid availability zone '{}': the group's cache subnet group has subnets in {}.",
                        rules::shown(az),
                        zones.join(", ")
                    )));
                }
            }
            z.clone()
        }
        _ => (0..num).map(|i| zones[i % zones.len()].clone()).collect(),
    };
    Ok(ShardPlan {
        id: "0001".into(),
        slots: vec![],
        zones,
    })
}

/// The new group's id, after the id and `ReplicationGroupDescription` are checked.
fn check_id_and_description(input: &CreateReplicationGroup) -> Result<String> {
    let id = rules::identifier("replication group id", &input.replication_group_id, 40)?;
    rules::text(
        "ReplicationGroupDescription",
        &input.replication_group_description,
    )?;
    if input.replication_group_description.chars().count() > 255 {
        return Err(invalid(
            "ReplicationGroupDescription must be at most 255 characters long.",
        ));
    }
    // Features of later versions: refused by name, never accepted and ignored.
    if input.global_replication_group_id.is_some() {
        return Err(not_yet("GlobalReplicationGroupId", "global datastores"));
    }
    Ok(id)
}

/// Refuses the features Cacheplane does not have, and checks the network; returns the network as [`network`]
/// does (dual stack, IPv6 discovery).
fn check_features(input: &CreateReplicationGroup) -> Result<(bool, bool)> {
    if input.at_rest_encryption_enabled == Some(true) || input.kms_key_id.is_some() {
        return Err(not_yet(
            "AtRestEncryptionEnabled/KmsKeyId",
            "encryption at rest",
        ));
    }
    if input.snapshot_arns.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(invalid(
            "SnapshotArns: restoring from RDB files in Amazon S3 is not available in Cacheplane; restore from a snapshot of this Cacheplane with SnapshotName.",
        ));
    }
    if input.serverless_cache_snapshot_name.is_some() {
        return Err(not_yet("ServerlessCacheSnapshotName", "serverless caches"));
    }
    if input.notification_topic_arn.is_some() {
        return Err(not_yet("NotificationTopicArn", "SNS notifications"));
    }
    if input.data_tiering_enabled == Some(true) {
        return Err(not_yet("DataTieringEnabled", "data tiering"));
    }
    let (dual_stack, ipv6_discovery) =
        network(input.network_type.as_deref(), input.ip_discovery.as_deref())?;
    if matches!(input.durability.as_deref(), Some("sync") | Some("disabled")) {
        return Err(not_yet(
            "Durability",
            "synchronous or disabled durability (replication is asynchronous)",
        ));
    }
    if input
        .cache_security_group_names
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        return Err(combination(
            "CacheSecurityGroupNames are for EC2-Classic clusters; Cacheplane groups run as in a VPC: use SecurityGroupIds.",
        ));
    }
    Ok((dual_stack, ipv6_discovery))
}

/// Engine and version, matched against the registered binaries.
fn engine_of(s: &Settings, input: &CreateReplicationGroup) -> Result<(String, String)> {
    let engine = s.engine_named(input.engine.as_deref())?;
    if engine == "memcached" {
        return Err(invalid(
            "Replication groups are for redis and valkey; memcached runs as a cache cluster (CreateCacheCluster).",
        ));
    }
    let engine_version = match input.engine_version.as_deref() {
        None => s.newest(&engine)?.version.clone(),
        Some(v) => s.resolve_version(&engine, v)?.version.clone(),
    };
    Ok((engine, engine_version))
}

/// `CacheNodeType` (`cache.t3.micro` by default): a known type, not one that needs data tiering.
fn node_type_of(input: &CreateReplicationGroup) -> Result<String> {
    let cache_node_type = input
        .cache_node_type
        .clone()
        .unwrap_or_else(|| "cache.t3.micro".to_string());
    if node_types::maxmemory(&cache_node_type).is_none() {
        return Err(invalid(format!(
            "Invalid CacheNodeType '{}': no such cache node type.",
            rules::shown(&cache_node_type)
        )));
    }
    if cache_node_type.starts_with("cache.r6gd.") {
        return Err(not_yet(
            "CacheNodeType (r6gd)",
            "data tiering, which r6gd node types require",
        ));
    }
    Ok(cache_node_type)
}

/// Automatic failover and Multi-AZ of a group of `shards` in `mode`, by AWS's rules.
fn failover_of(
    input: &CreateReplicationGroup,
    mode: ClusterMode,
    shards: &[ShardPlan],
    cache_node_type: &str,
) -> Result<(bool, bool)> {
    let num = shards.iter().map(|s| s.zones.len()).sum::<usize>();
    if mode.runs_cluster() {
        // AWS: automatic failover "must be enabled for cluster mode enabled replication groups".
        if input.automatic_failover_enabled == Some(false) {
            return Err(combination(
                "Automatic failover must be enabled for a replication group with cluster mode enabled.",
            ));
        }
        if input.multi_az_enabled == Some(true) && shards.iter().any(|s| s.zones.len() < 2) {
            return Err(combination(
                "Multi-AZ needs at least one replica in every node group.",
            ));
        }
    }
    let automatic_failover = input
        .automatic_failover_enabled
        .unwrap_or(mode.runs_cluster());
    let multi_az = input.multi_az_enabled.unwrap_or(false);
    if automatic_failover && num < 2 && !mode.runs_cluster() {
        return Err(combination(
            "When using automatic failover, there must be at least 2 cache clusters in the replication group.",
        ));
    }
    if multi_az {
        if !automatic_failover {
            return Err(combination(
                "Multi-AZ requires automatic failover: set AutomaticFailoverEnabled to true.",
            ));
        }
        if cache_node_type.starts_with("cache.t1.") {
            return Err(invalid("Multi-AZ is not supported on T1 node types."));
        }
    }
    Ok((automatic_failover, multi_az))
}

/// `Port` (6379 by default); with cluster mode, room for the cluster bus and no dual stack.
fn port_of(input: &CreateReplicationGroup, mode: ClusterMode, dual_stack: bool) -> Result<u16> {
    let port = match input.port {
        None => 6379,
        Some(p) if (1..=65535).contains(&p) => p as u16,
        Some(p) => {
            return Err(invalid(format!(
                "Invalid Port {p}: it must be between 1 and 65535."
            )))
        }
    };
    if mode.runs_cluster() {
        if engine::cluster::bus_port(port).is_none() {
            return Err(invalid(format!(
                "Invalid Port {port} for cluster mode enabled: the cluster bus uses port + 10000, so the port \
                 must be at most 55535."
            )));
        }
        if dual_stack {
            return Err(not_yet(
                "NetworkType dual_stack",
                "dual-stack networks for cluster mode enabled groups",
            ));
        }
    }
    Ok(port)
}

/// The maintenance window (a default one clear of the snapshot window when not given), the snapshot window (a
/// default one after the maintenance window when not given) and the snapshot retention limit.
fn windows_of(
    s: &Settings,
    input: &CreateReplicationGroup,
) -> Result<(WeeklyWindow, DailyWindow, i32)> {
    let asked_snapshot_window = input
        .snapshot_window
        .as_deref()
        .map(DailyWindow::parse)
        .transpose()?;
    let maintenance = match input.preferred_maintenance_window.as_deref() {
        Some(w) => WeeklyWindow::parse(w)?,
        None => rules::default_maintenance_window_clear_of(
            &s.region,
            rand::random::<u32>(),
            asked_snapshot_window.as_ref(),
        ),
    };
    let snapshot_retention_limit = input.snapshot_retention_limit.unwrap_or(0);
    if !(0..=35).contains(&snapshot_retention_limit) {
        return Err(invalid(format!(
            "Invalid SnapshotRetentionLimit {snapshot_retention_limit}: it must be between 0 and 35 days."
        )));
    }
    let snapshot_window = match asked_snapshot_window {
        Some(d) => {
            if maintenance.overlaps_daily(&d) {
                return Err(combination(
                    "The snapshot window and maintenance window must not overlap.",
                ));
            }
            d
        }
        None => rules::default_snapshot_window(&s.region, &maintenance),
    };
    Ok((maintenance, snapshot_window, snapshot_retention_limit))
}

/// The engine, version and node type a new group is planned with.
struct PlannedEngine<'a> {
    engine: &'a str,
    engine_version: &'a str,
    cache_node_type: &'a str,
}

impl Control {
    /// Checks a `CreateReplicationGroup` request by AWS's rules, in the order that decides which error a bad
    /// request gets, and returns what the new group will be.
    pub(crate) fn plan_create(&self, input: CreateReplicationGroup) -> Result<CreatePlan> {
        let s = &self.inner.settings;
        let id = check_id_and_description(&input)?;
        let cluster_group = input
            .cache_parameter_group_name
            .as_deref()
            .and_then(|n| self.parameter_group(n))
            .map(|g| g.cluster_enabled());
        let mode = crate::rules::layout::mode_of(&input, cluster_group)?;
        let (dual_stack, ipv6_discovery) = check_features(&input)?;
        // The subnet group decides the zones the nodes may be placed in.
        let subnet_group = input
            .cache_subnet_group_name
            .as_deref()
            .unwrap_or(crate::model::subnet_group::DEFAULT)
            .to_ascii_lowercase();
        let zones = self.state().subnet_group_zones(s, &subnet_group)?;
        let (engine, engine_version) = engine_of(s, &input)?;
        let cache_node_type = node_type_of(&input)?;
        let shards = match mode {
            ClusterMode::Disabled => vec![single_shard(&input, &zones)?],
            _ => crate::rules::layout::cluster_shards(&input, &zones)?,
        };
        let (automatic_failover, multi_az) = failover_of(&input, mode, &shards, &cache_node_type)?;
        let port = port_of(&input, mode, dual_stack)?;
        let transit = crate::rules::security::transit_at_create(
            input.transit_encryption_enabled,
            input.transit_encryption_mode.as_deref(),
        )?;
        if transit.is_some() {
            crate::rules::security::tls_possible(
                &s.binaries,
                &engine,
                &engine_version,
                port,
                dual_stack,
            )?;
        }
        let auth = crate::rules::security::auth_at_create(
            input.auth_token.as_ref().map(|t| t.0.as_str()),
            transit.is_some(),
            crate::now(),
        )?;
        let planned = PlannedEngine {
            engine: &engine,
            engine_version: &engine_version,
            cache_node_type: &cache_node_type,
        };
        let on_hosts = crate::model::runs_on_hosts(dual_stack);
        let restore_from = self.restore_of(&input, &planned, mode, &shards, on_hosts)?;
        let user_group_ids = input.user_group_ids.clone().unwrap_or_default();
        if auth.is_some() && !user_group_ids.is_empty() {
            return Err(combination(
                "AuthToken and UserGroupIds cannot be used together: choose AUTH tokens or user groups.",
            ));
        }
        let (maintenance, snapshot_window, snapshot_retention_limit) = windows_of(s, &input)?;
        let security_group_ids = input.security_group_ids.clone().unwrap_or_default();
        for sg in &security_group_ids {
            rules::security_group_id(sg)?;
        }
        let parameter_group = self.parameter_group_of(&input, &planned, mode)?;
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let log_delivery = crate::rules::log_delivery::apply(
            &[],
            input
                .log_delivery_configurations
                .as_deref()
                .unwrap_or_default(),
            &engine,
            &engine_version,
        )?;
        Ok(CreatePlan {
            log_delivery,
            id,
            description: input.replication_group_description,
            mode,
            shards,
            subnet_group,
            engine,
            engine_version,
            cache_node_type,
            port,
            automatic_failover,
            multi_az,
            maintenance,
            snapshot_window,
            snapshot_retention_limit,
            security_group_ids,
            auto_minor_version_upgrade: input.auto_minor_version_upgrade.unwrap_or(true),
            parameter_group,
            tags,
            dual_stack,
            ipv6_discovery,
            transit,
            auth,
            user_group_ids,
            restore_from,
        })
    }

    /// `SnapshotName`: the snapshot to restore, when it fits the planned group (`planned`, `shards` in `mode`) and
    /// the host has room for its data.
    fn restore_of(
        &self,
        input: &CreateReplicationGroup,
        planned: &PlannedEngine,
        mode: ClusterMode,
        shards: &[ShardPlan],
        on_hosts: bool,
    ) -> Result<Option<String>> {
        let Some(name) = input.snapshot_name.as_deref() else {
            return Ok(None);
        };
        let num = shards.iter().map(|s| s.zones.len()).sum::<usize>();
        let s = self.check_restore(
            name,
            planned.cache_node_type,
            planned.engine,
            planned.engine_version,
            shards.len(),
        )?;
        if !s.shards.is_empty() && !mode.runs_cluster() {
            return Err(combination(format!(
                "Snapshot {} holds {} node groups of a cluster mode enabled group: restore it into a group \
                 with cluster mode enabled (any number of node groups; keys go to the node group of their \
                 slot).",
                s.name,
                s.shards.len()
            )));
        }
        // Every node of the new group holds its node group's share of the snapshot's data.
        self.check_capacity(
            &self.state(),
            on_hosts,
            num,
            s.used_memory / shards.len().max(1) as u64,
        )?;
        Ok(Some(s.name))
    }

    /// `CacheParameterGroupName`: usable by the planned engine and version, and of the group's cluster mode; the
    /// default group of both when not given.
    fn parameter_group_of(
        &self,
        input: &CreateReplicationGroup,
        planned: &PlannedEngine,
        mode: ClusterMode,
    ) -> Result<String> {
        let (engine, engine_version) = (planned.engine, planned.engine_version);
        let default_group = default_parameter_group(engine, engine_version, mode.runs_cluster());
        Ok(match input.cache_parameter_group_name.as_deref() {
            None => default_group,
            Some(p) => {
                let pg = self.usable_parameter_group(p, engine, engine_version)?;
                if pg.cluster_enabled() != mode.runs_cluster() {
                    return Err(combination(format!(
                        "Parameter group {} has cluster-enabled {}, which a group with cluster mode {} cannot use.",
                        pg.name,
                        if pg.cluster_enabled() { "yes" } else { "no" },
                        mode.as_str()
                    )));
                }
                pg.name
            }
        })
    }

    /// `CreateReplicationGroup`: validates, records the group as `creating` and wakes the reconciler.
    pub fn create_replication_group(
        &self,
        input: CreateReplicationGroup,
    ) -> Result<output::ReplicationGroup> {
        if input.primary_cluster_id.is_some() {
            return self.create_from_cluster(input);
        }
        let plan = self.plan_create(input)?;
        self.create_group(plan, false).map(|g| self.view_group(&g))
    }

    /// Records a new group (or, `vessel`, the one-node vessel of a standalone cache cluster named by the plan's id)
    /// as `creating` and wakes the reconciler.
    pub(crate) fn create_group(
        &self,
        mut plan: CreatePlan,
        vessel: bool,
    ) -> Result<ReplicationGroup> {
        let t = now();
        self.commit(|st| {
            check_name_free(st, &plan, vessel)?;
            self.check_user_groups_for(
                st,
                &plan.user_group_ids,
                plan.transit,
                &plan.engine_version,
            )?;
            let acl = st.acl_of(&plan.user_group_ids);
            let member_ids = member_ids(&plan, vessel);
            if let Some(clash) = member_ids.iter().flatten().find(|m| {
                st.standalone.contains_key(*m)
                    || st.groups.values().any(|g| g.member(m).is_some())
                    || (!vessel && st.groups.contains_key(*m))
        }) {
            return Err(combination(format!("A cache cluster named {clash} already exists; choose another replication group id.")));
        }
        let num_nodes: usize = plan.shards.iter().map(|s| s.zones.len()).sum();
        check_node_quota(st, num_nodes)?;
        let layout = allocate(st, &plan, &member_ids, t)?;
        let tags = std::mem::take(&mut plan.tags);
        let mut g = new_group(plan, vessel, t, acl, layout);
        g.dns_suffix = self.names_suffix().filter(|_| g.may_be_named());
        let arn = if vessel {
            self.inner.settings.arn("cluster", &g.id)
        } else {
            self.inner.settings.arn("replicationgroup", &g.id)
        };
        st.store.put_group(
            &g,
            t,
            &[NewEvent::group(
                &g.id,
                format!("Creating replication group {}", g.id),
            )],
        )?;
        if !tags.is_empty() {
            st.store.put_tags(&arn, &tags)?;
        }
        st.groups.insert(g.id.clone(), g.clone());
        st.wake();
        Ok(g)
        })
    }

    /// `DescribeReplicationGroups`: one group, or a page of all of them (`Marker` is the last id of the page
    /// before).
    pub fn describe_replication_groups(
        &self,
        input: DescribeReplicationGroups,
    ) -> Result<(Vec<output::ReplicationGroup>, Option<String>)> {
        let limit = rules::max_records(input.max_records)?;
        let st = self.state();
        if let Some(id) = input.replication_group_id {
            let g = st
                .replication_group(&id)
                .ok_or(ControlError::ReplicationGroupNotFound(rules::shown(&id)))?;
            return Ok((vec![self.view_group(g)], None));
        }
        let start = rules::read_page_marker(input.marker.as_deref())?.unwrap_or_default();
        let page: Vec<&ReplicationGroup> = st
            .groups
            .range::<String, _>((std::ops::Bound::Excluded(start), std::ops::Bound::Unbounded))
            .map(|(_, g)| g)
            .filter(|g| !g.standalone)
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        let page = &page[..page.len().min(limit)];
        let marker = if more {
            page.last().map(|g| rules::page_marker(&g.id))
        } else {
            None
        };
        Ok((page.iter().map(|g| self.view_group(g)).collect(), marker))
    }

    /// `DeleteReplicationGroup`: marks the group `deleting`; the reconciler stops and removes its nodes.
    pub fn delete_replication_group(
        &self,
        input: DeleteReplicationGroup,
    ) -> Result<output::ReplicationGroup> {
        self.delete_group(input, false)
    }

    /// Deletes a replication group, or (`vessel`) the vessel of a standalone cache cluster.
    pub(crate) fn delete_group(
        &self,
        input: DeleteReplicationGroup,
        vessel: bool,
    ) -> Result<output::ReplicationGroup> {
        let final_snapshot = match input.final_snapshot_identifier.as_deref() {
            Some(n) => Some(crate::rules::snapshots::check_name(
                "FinalSnapshotIdentifier",
                n,
            )?),
            None => None,
        };
        let key = input.replication_group_id.to_ascii_lowercase();
        let t = now();
        let g = self.commit(|st| {
            if let Some(n) = &final_snapshot {
                if st.snapshots.contains_key(n) {
                    return Err(ControlError::SnapshotAlreadyExists(format!(
                        "Snapshot {n} already exists."
                    )));
                }
            }
            let mut g = st.group_of_kind(&input.replication_group_id, vessel)?;
            if !matches!(g.status, GroupStatus::Available | GroupStatus::CreateFailed) {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: g.id.clone(),
                    status: g.status.as_str().into(),
                });
            }
            if g.cluster_mode == ClusterMode::Enabled && input.retain_primary_cluster == Some(true) {
                return Err(combination(
                    "RetainPrimaryCluster is not supported for a replication group with cluster mode enabled.",
                ));
            }
            if input.retain_primary_cluster == Some(true) {
                if g.status != GroupStatus::Available {
                    return Err(combination(
                        "RetainPrimaryCluster needs a group that is available.",
                    ));
                }
                g.retain_cluster_id = Some(g.first_shard().primary_cluster_id.clone());
            }
            if final_snapshot.is_some() && g.status != GroupStatus::Available {
                return Err(combination(
                    "FinalSnapshotIdentifier needs a group that is available (its nodes hold the data to keep).",
                ));
            }
            g.final_snapshot = final_snapshot;
            g.status = GroupStatus::Deleting;
            st.store.put_group(
                &g,
                t,
                &[NewEvent::group(
                    &g.id,
                    format!("Deleting replication group {}", g.id),
                )],
            )?;
            st.groups.insert(key, g.clone());
            st.wake();
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }
}

/// One namespace for groups and their vessels: a cache cluster and a replication group cannot share a name
/// here (AWS keeps them apart; Cacheplane refuses the second, naming the first).
fn check_name_free(st: &State, plan: &CreatePlan, vessel: bool) -> Result<()> {
    if st.memcached.contains_key(&plan.id) {
        return Err(ControlError::CacheClusterAlreadyExists(format!(
            "Cache cluster {} already exists.",
            plan.id
        )));
    }
    if let Some(g) = st.groups.get(&plan.id) {
        return Err(if g.standalone || vessel {
            ControlError::CacheClusterAlreadyExists(if g.standalone {
                format!("Cache cluster {} already exists.", plan.id)
            } else {
                format!("A replication group named {} already exists.", plan.id)
            })
        } else {
            ControlError::ReplicationGroupAlreadyExists(plan.id.clone())
        });
    }
    Ok(())
}

/// Member ids, per shard: `<rg>-001` with cluster mode disabled, `<rg>-<node group>-001` with it enabled (a
/// vessel's one member is named as the vessel).
fn member_ids(plan: &CreatePlan, vessel: bool) -> Vec<Vec<String>> {
    plan.shards
        .iter()
        .map(|s| {
            (1..=s.zones.len())
                .map(|i| match plan.mode {
                    _ if vessel => plan.id.clone(),
                    ClusterMode::Disabled => format!("{}-{i:03}", plan.id),
                    _ => format!("{}-{}-{i:03}", plan.id, s.id),
                })
                .collect()
        })
        .collect()
}

/// The addresses and ports of a new group: its endpoints, and its shards with their members.
struct Layout {
    primary_endpoint: IpAddr,
    reader_endpoint: IpAddr,
    configuration_endpoint: Option<IpAddr>,
    dual_stack: Option<DualStack>,
    shards: Vec<Shard>,
}

/// Allocates the new group's addresses and ports (endpoints first, then the members in order) and builds its
/// shards, their members named by `member_ids`.
fn allocate(
    st: &State,
    plan: &CreatePlan,
    member_ids: &[Vec<String>],
    t: DateTime<Utc>,
) -> Result<Layout> {
    let mut taken = taken_addresses(st);
    let mut alloc = || -> Result<IpAddr> {
        let ip = engine::address::allocate(plan.port, &taken)?;
        taken.push(ip);
        Ok(ip)
    };
    let primary_endpoint = alloc()?;
    let reader_endpoint = alloc()?;
    let configuration_endpoint = if plan.mode.runs_cluster() {
        Some(alloc()?)
    } else {
        None
    };
    let mut ports = taken_ports(st);
    let mut port_for = |on: &[IpAddr]| -> Result<u16> {
        let p = engine::address::allocate_port(on, &ports)?;
        ports.push(p);
        Ok(p)
    };
    let v6 = [engine::address::IPV6_LOOPBACK];
    let dual_stack = if plan.dual_stack {
        Some(DualStack {
            primary_port: port_for(&v6)?,
            reader_port: port_for(&v6)?,
            ipv6_discovery: plan.ipv6_discovery,
        })
    } else {
        None
    };
    let on_hosts = crate::model::runs_on_hosts(plan.dual_stack);
    let mut group_hosts: Vec<String> = Vec::new();
    let mut shards = Vec::with_capacity(plan.shards.len());
    for (sp, ids) in plan.shards.iter().zip(member_ids) {
        let mut members = Vec::with_capacity(ids.len());
        for (cid, zone) in ids.iter().zip(&sp.zones) {
            let placed: Vec<&str> = group_hosts.iter().map(String::as_str).collect();
            let (address, host) =
                crate::state::place_node(st, zone, &placed, on_hosts, plan.port, &mut taken)?;
            group_hosts.extend(host.as_ref().map(|h| h.name.clone()));
            let port = if plan.dual_stack {
                Some(port_for(&[address, v6[0]])?)
            } else {
                None
            };
            members.push(Member {
                port,
                ipv6: plan.ipv6_discovery,
                host,
                ..Member::new(cid.clone(), address, zone.clone(), t)
            });
        }
        shards.push(Shard {
            id: sp.id.clone(),
            slots: sp.slots.clone(),
            primary_cluster_id: ids[0].clone(),
            members,
            failover: None,
            switchover_to: None,
            adding: vec![],
        });
    }
    Ok(Layout {
        primary_endpoint,
        reader_endpoint,
        configuration_endpoint,
        dual_stack,
        shards,
    })
}

/// The new group, `creating`, as the plan and its layout say.
fn new_group(
    plan: CreatePlan,
    vessel: bool,
    t: DateTime<Utc>,
    acl: Option<Acl>,
    layout: Layout,
) -> ReplicationGroup {
    ReplicationGroup {
        standalone: vessel,
        dns_suffix: None,
        id: plan.id.clone(),
        description: plan.description,
        status: GroupStatus::Creating,
        engine: plan.engine,
        engine_version: plan.engine_version,
        cache_subnet_group: plan.subnet_group,
        cache_node_type: plan.cache_node_type,
        port: plan.port,
        automatic_failover: plan.automatic_failover,
        multi_az: plan.multi_az,
        preferred_maintenance_window: plan.maintenance.format(),
        snapshot_retention_limit: plan.snapshot_retention_limit,
        snapshot_window: plan.snapshot_window.format(),
        snapshotting_cluster_id: None,
        security_group_ids: plan.security_group_ids,
        auto_minor_version_upgrade: plan.auto_minor_version_upgrade,
        cache_parameter_group: plan.parameter_group,
        create_time: t,
        primary_endpoint: layout.primary_endpoint,
        reader_endpoint: layout.reader_endpoint,
        shards: layout.shards,
        cluster_mode: plan.mode,
        resharding: None,
        configuration_endpoint: layout.configuration_endpoint,
        converting_to: None,
        retain_cluster_id: None,
        create_attempts: 0,
        removing: vec![],
        pending: Default::default(),
        failover_transition: None,
        notification: None,
        upgrading_to: None,
        upgrading_engine: None,
        pending_transit: None,
        pending_user_groups: None,
        migration: None,
        dual_stack: layout.dual_stack,
        transit_encryption: plan.transit,
        auth: plan.auth,
        user_group_ids: plan.user_group_ids,
        acl,
        snapshotting: None,
        restore_from: plan.restore_from,
        final_snapshot: None,
        next_parameter_group: None,
        log_delivery: plan.log_delivery,
    }
}

impl Control {
    /// `CreateReplicationGroup` with `PrimaryClusterId`: the standalone cluster becomes the new group's primary,
    /// its data and node as they are; the group takes its engine, version, node type, port and security settings
    /// from it (AWS's rule: giving others is refused), and `NumCacheClusters - 1` replicas are added and synced
    /// from it. The cluster must be `available` and in no replication group.
    pub(crate) fn create_from_cluster(
        &self,
        input: CreateReplicationGroup,
    ) -> Result<output::ReplicationGroup> {
        let id = rules::identifier("replication group id", &input.replication_group_id, 40)?;
        rules::text(
            "ReplicationGroupDescription",
            &input.replication_group_description,
        )?;
        let cc = input
            .primary_cluster_id
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        check_taken_from_cluster(&input, &cc)?;
        let n = input.num_cache_clusters.unwrap_or(1);
        if !(1..=6).contains(&n) {
            return Err(invalid(format!(
                "Invalid NumCacheClusters {n}: it must be between 1 and 6."
            )));
        }
        let automatic_failover = input.automatic_failover_enabled.unwrap_or(false);
        let multi_az = input.multi_az_enabled.unwrap_or(false);
        if automatic_failover && n < 2 {
            return Err(combination(
                "Automatic failover needs at least one replica: give NumCacheClusters of 2 or more.",
            ));
        }
        if multi_az && !automatic_failover {
            return Err(combination("Multi-AZ needs automatic failover enabled."));
        }
        let tags = crate::rules::tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let t = now();
        let g = self.commit(|st| {
            let v = primary_cluster(st, &id, &cc)?;
            let mut g = v.clone();
            g.standalone = false;
            // A cluster with TLS keeps addresses: its running node's certificate names no name.
            g.dns_suffix = self
                .names_suffix()
                .filter(|_| g.may_be_named() && g.transit_encryption.is_none());
            g.id = id.clone();
            g.description = input.replication_group_description.clone();
            g.automatic_failover = automatic_failover;
            g.multi_az = multi_az;
            if let Some(sg) = input.security_group_ids.clone() {
                g.security_group_ids = sg;
            }
            let zones = self.replica_zones(st, &input, &g, n)?;
            let events = add_replicas(st, &mut g, &cc, zones, t)?;
            g.status = GroupStatus::Modifying;
            let arn = self.inner.settings.arn("replicationgroup", &id);
            st.store.remove_group(&cc, &[], Some(&g), t, &events)?;
            if !tags.is_empty() {
                st.store.put_tags(&arn, &tags)?;
            }
            st.groups.remove(&cc);
            st.groups.insert(id.clone(), g.clone());
            st.wake();
            Ok(g)
        })?;
        // The vessel's own forwarders go; the group's worker sets up the group's.
        self.drop_group_endpoints(&cc);
        Ok(self.view_group(&g))
    }

    /// The zones of the new replicas of `g` (`n` cache clusters in all), placed as asked (the first zone listed is
    /// the primary's) or spread over the subnet group's zones; checks the node quota first.
    fn replica_zones(
        &self,
        st: &State,
        input: &CreateReplicationGroup,
        g: &ReplicationGroup,
        n: i32,
    ) -> Result<Vec<String>> {
        let more = (n - 1) as usize;
        crate::state::check_node_quota(st, more)?;
        let allowed = st.subnet_group_zones(&self.inner.settings, &g.cache_subnet_group)?;
        Ok(match input.preferred_cache_cluster_azs.as_deref() {
            Some(z) if !z.is_empty() => {
                if z.len() != n as usize {
                    return Err(invalid(format!(
                        "PreferredCacheClusterAZs has {} zones but the group has {n} cache clusters: give one zone per cluster.",
                        z.len()
                    )));
                }
                if let Some(bad) = z.iter().find(|az| !allowed.contains(az)) {
                    return Err(invalid(format!(
                        "Invalid availability zone '{}': the group's cache subnet group has subnets in {}.",
                        rules::shown(bad),
                        allowed.join(", ")
                    )));
                }
                z[1..].to_vec()
            }
            _ => crate::rules::placement::spread(g, &allowed, more),
        })
    }
}

/// Refuses what a group made from cluster `cc` would take from anywhere else than its primary cluster.
fn check_taken_from_cluster(input: &CreateReplicationGroup, cc: &str) -> Result<()> {
    let conflicting = [
        ("NumNodeGroups", input.num_node_groups.is_some()),
        (
            "ReplicasPerNodeGroup",
            input.replicas_per_node_group.is_some(),
        ),
        (
            "NodeGroupConfiguration",
            input
                .node_group_configuration
                .as_ref()
                .is_some_and(|c| !c.is_empty()),
        ),
        (
            "ClusterMode",
            input
                .cluster_mode
                .as_deref()
                .is_some_and(|m| m != "disabled"),
        ),
        ("SnapshotName", input.snapshot_name.is_some()),
        (
            "SnapshotArns",
            input.snapshot_arns.as_ref().is_some_and(|a| !a.is_empty()),
        ),
        ("Engine", input.engine.is_some()),
        ("EngineVersion", input.engine_version.is_some()),
        ("CacheNodeType", input.cache_node_type.is_some()),
        ("Port", input.port.is_some()),
        (
            "CacheParameterGroupName",
            input.cache_parameter_group_name.is_some(),
        ),
        (
            "CacheSubnetGroupName",
            input.cache_subnet_group_name.is_some(),
        ),
        (
            "TransitEncryptionEnabled",
            input.transit_encryption_enabled.is_some(),
        ),
        (
            "TransitEncryptionMode",
            input.transit_encryption_mode.is_some(),
        ),
        ("AuthToken", input.auth_token.is_some()),
        (
            "UserGroupIds",
            input.user_group_ids.as_ref().is_some_and(|u| !u.is_empty()),
        ),
        ("NetworkType", input.network_type.is_some()),
        (
            "GlobalReplicationGroupId",
            input.global_replication_group_id.is_some(),
        ),
    ];
    if let Some((name, _)) = conflicting.iter().find(|(_, given)| *given) {
        return Err(combination(format!(
            "{name} cannot be given with PrimaryClusterId: the replication group takes it from its primary cluster {cc}."
        )));
    }
    Ok(())
}

/// The standalone cluster `cc` that becomes the primary of the new group `id`: neither name may be a group's, and
/// the cluster must be `available` and in no replication group.
fn primary_cluster(st: &State, id: &str, cc: &str) -> Result<ReplicationGroup> {
    if st.groups.contains_key(id) {
        return Err(ControlError::ReplicationGroupAlreadyExists(id.to_string()));
    }
    if let Some(g) = st
        .groups
        .values()
        .find(|g| !g.standalone && g.member(cc).is_some())
    {
        return Err(ControlError::InvalidCacheClusterState(format!(
            "Cache cluster {cc} is already a member of replication group {}.",
            g.id
        )));
    }
    let Some(v) = st.groups.get(cc).filter(|g| g.standalone).cloned() else {
        return Err(ControlError::CacheClusterNotFound(rules::shown(cc)));
    };
    if v.status != GroupStatus::Available {
        return Err(ControlError::InvalidCacheClusterState(format!(
            "Cache cluster {cc} is {}; it can become a replication group's primary once it is available.",
            v.status.as_str()
        )));
    }
    Ok(v)
}

/// Adds a new replica to `g`'s node group in each of `zones` (made from cluster `cc`, being added); returns the
/// events of the group's creation.
fn add_replicas(
    st: &State,
    g: &mut ReplicationGroup,
    cc: &str,
    zones: Vec<String>,
    t: DateTime<Utc>,
) -> Result<Vec<NewEvent>> {
    let id = g.id.clone();
    let mut taken = crate::state::taken_addresses(st);
    let mut events = vec![NewEvent::group(
        &g.id,
        format!("Creating replication group {id} with cache cluster {cc} as its primary"),
    )];
    for zone in zones {
        let member_id = crate::state::next_member_id(st, g, "0001");
        let (address, host) =
            crate::state::place_node(st, &zone, &g.hosts(), g.on_hosts(), g.port, &mut taken)?;
        events.push(NewEvent::cluster(
            &member_id,
            format!("Adding cache cluster {member_id} to {id}"),
        ));
        let shard = g
            .shards
            .first_mut()
            .ok_or_else(|| ControlError::Internal(format!("{cc} has no node group")))?;
        shard.members.push(Member {
            host,
            ..Member::new(member_id.clone(), address, zone, t)
        });
        shard.adding.push(member_id);
    }
    Ok(events)
}
