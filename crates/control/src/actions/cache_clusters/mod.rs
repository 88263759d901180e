//! Standalone cache clusters (Redis OSS and Valkey): `CreateCacheCluster`, `ModifyCacheCluster`,
//! `DeleteCacheCluster`, and a cluster becoming a replication group's primary (`PrimaryClusterId`).
//!
//! A Redis or Valkey cache cluster is one node. Cacheplane runs it as the *vessel* of a one-node group
//! ([`ReplicationGroup::standalone`]): the group's id is the cluster's, its one member is the cluster, and
//! everything a group's node has — snapshots, windows, engine upgrades, AUTH tokens, TLS, node types,
//! notifications, reboots, the daemon restarting — a cluster has by the same code. The replication group actions do
//! not see vessels; the cache cluster actions and views show them as clusters (no `ReplicationGroupId`, events of
//! source type `cache-cluster`). A cluster kept by `DeleteReplicationGroup(RetainPrimaryCluster)` becomes such a
//! vessel too, and a vessel becomes a replication group when `CreateReplicationGroup` names it as
//! `PrimaryClusterId`.

mod memcached;

use wire::input::{
    CreateCacheCluster, CreateReplicationGroup, ModifyCacheCluster, ModifyReplicationGroup,
};
use wire::input::{DeleteCacheCluster, DescribeCacheClusters, RebootCacheCluster};
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{GroupStatus, Member, NewEvent, ReplicationGroup};
use crate::{now, rules, Control};

impl Control {
    /// The cache cluster view of a vessel.
    fn view_vessel(&self, g: &ReplicationGroup, show_nodes: bool) -> Result<output::CacheCluster> {
        let m = g
            .members()
            .next()
            .ok_or_else(|| ControlError::Internal(format!("cache cluster {} has no node", g.id)))?;
        Ok(self.view_member(g, m, show_nodes))
    }

    /// `CreateCacheCluster` of a Redis OSS or Valkey cluster: one node, with every setting a replication group's
    /// node takes, checked and applied by the same code.
    pub fn create_cache_cluster(&self, input: CreateCacheCluster) -> Result<output::CacheCluster> {
        let id = rules::identifier("cache cluster id", &input.cache_cluster_id, 40)?;
        let engine = self.inner.settings.engine_named(input.engine.as_deref())?;
        // A cluster of its own needs a node type (a replication group's member takes the group's).
        if input.replication_group_id.is_none() && input.cache_node_type.is_none() {
            return Err(invalid(
                "The parameter CacheNodeType must be provided and must not be null.",
            ));
        }
        if engine == "memcached" {
            return self.create_memcached(id, input);
        }
        if let Some(rg) = input.replication_group_id.clone() {
            return self.add_to_group(input, &rg);
        }
        // AWS: a Redis OSS (or Valkey) cluster has one node and lives in one zone.
        if input.num_cache_nodes.is_some_and(|n| n != 1) {
            return Err(invalid(format!(
                "Invalid NumCacheNodes {}: a {engine} cache cluster has exactly one node (for replicas, create a replication group).",
                input.num_cache_nodes.unwrap_or_default()
            )));
        }
        if input.az_mode.as_deref() == Some("cross-az") {
            return Err(invalid(
                "AZMode cross-az is for Memcached clusters; a Redis OSS or Valkey cluster has one node in one zone.",
            ));
        }
        if input.outpost_mode.is_some()
            || input.preferred_outpost_arn.is_some()
            || input
                .preferred_outpost_arns
                .as_ref()
                .is_some_and(|a| !a.is_empty())
        {
            return Err(not_yet("OutpostMode/PreferredOutpostArn", "AWS Outposts"));
        }
        let zones = input
            .preferred_availability_zones
            .clone()
            .unwrap_or_default();
        if zones.len() > 1 {
            return Err(invalid(
                "PreferredAvailabilityZones names one zone per node; a Redis OSS or Valkey cluster has one node.",
            ));
        }
        let zone = match (&input.preferred_availability_zone, zones.first()) {
            (Some(a), Some(b)) if a != b => return Err(combination(
                "PreferredAvailabilityZone and PreferredAvailabilityZones name different zones.",
            )),
            (a, b) => a.clone().or_else(|| b.cloned()),
        };
        let plan = self.plan_create(CreateReplicationGroup {
            replication_group_id: id,
            replication_group_description: String::new(),
            num_cache_clusters: Some(1),
            preferred_cache_cluster_azs: zone.map(|z| vec![z]),
            automatic_failover_enabled: Some(false),
            cache_node_type: input.cache_node_type,
            engine: Some(engine),
            engine_version: input.engine_version,
            cache_parameter_group_name: input.cache_parameter_group_name,
            cache_subnet_group_name: input.cache_subnet_group_name,
            cache_security_group_names: input.cache_security_group_names,
            security_group_ids: input.security_group_ids,
            tags: input.tags,
            snapshot_arns: input.snapshot_arns,
            snapshot_name: input.snapshot_name,
            preferred_maintenance_window: input.preferred_maintenance_window,
            port: input.port,
            notification_topic_arn: input.notification_topic_arn,
            auto_minor_version_upgrade: input.auto_minor_version_upgrade,
            snapshot_retention_limit: input.snapshot_retention_limit,
            snapshot_window: input.snapshot_window,
            auth_token: input.auth_token,
            transit_encryption_enabled: input.transit_encryption_enabled,
            log_delivery_configurations: input.log_delivery_configurations,
            network_type: input.network_type,
            ip_discovery: input.ip_discovery,
            ..Default::default()
        })?;
        let g = self.create_group(plan, true)?;
        self.view_vessel(&g, false)
    }

    /// `ModifyCacheCluster` of a Redis OSS or Valkey cluster: the changes a replication group's node takes, by the
    /// same code (`ApplyImmediately` and the maintenance window included); AWS's refusals for what a one-node
    /// cluster cannot do.
    pub async fn modify_cache_cluster(
        &self,
        input: ModifyCacheCluster,
    ) -> Result<output::CacheCluster> {
        let key = input.cache_cluster_id.to_ascii_lowercase();
        if self.state().memcached.contains_key(&key) {
            return self.modify_memcached(input);
        }
        {
            let st = self.state();
            if let Some(g) = st
                .groups
                .values()
                .find(|g| !g.standalone && g.member(&key).is_some())
            {
                return Err(ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {key} is a member of replication group {}: modify the replication group instead.",
                    g.id
                )));
            }
            if st.standalone.contains_key(&key) {
                return Err(not_yet(
                    "ModifyCacheCluster",
                    "changes to clusters retained by an earlier version",
                ));
            }
            if !st.groups.get(&key).is_some_and(|g| g.standalone) {
                return Err(ControlError::CacheClusterNotFound(rules::shown(
                    &input.cache_cluster_id,
                )));
            }
        }
        if input.num_cache_nodes.is_some_and(|n| n != 1)
            || input
                .cache_node_ids_to_remove
                .as_ref()
                .is_some_and(|c| !c.is_empty())
            || input
                .new_availability_zones
                .as_ref()
                .is_some_and(|z| !z.is_empty())
            || input.az_mode.as_deref() == Some("cross-az")
        {
            return Err(invalid(
                "NumCacheNodes, CacheNodeIdsToRemove, NewAvailabilityZones and AZMode cross-az are for Memcached; a Redis OSS or Valkey cluster has one node (for replicas, make it a replication group's primary with CreateReplicationGroup PrimaryClusterId).",
            ));
        }
        if input.scale_config.is_some() {
            return Err(invalid("ScaleConfig is for Memcached clusters."));
        }
        // AWS: a single-node cluster moves to Valkey once it is a replication group's primary.
        if input.engine.as_deref().is_some_and(|e| {
            let cur = self.state().groups.get(&key).map(|g| g.engine.clone());
            cur.is_some_and(|c| !c.eq_ignore_ascii_case(e))
        }) {
            return Err(combination(
                "To move a single-node cluster to another engine, first make it a replication group's primary (CreateReplicationGroup with PrimaryClusterId), then modify the replication group.",
            ));
        }
        self.modify_group(
            ModifyReplicationGroup {
                replication_group_id: key.clone(),
                cache_security_group_names: input.cache_security_group_names,
                security_group_ids: input.security_group_ids,
                preferred_maintenance_window: input.preferred_maintenance_window,
                notification_topic_arn: input.notification_topic_arn,
                cache_parameter_group_name: input.cache_parameter_group_name,
                notification_topic_status: input.notification_topic_status,
                apply_immediately: input.apply_immediately,
                engine_version: input.engine_version,
                auto_minor_version_upgrade: input.auto_minor_version_upgrade,
                snapshot_retention_limit: input.snapshot_retention_limit,
                snapshot_window: input.snapshot_window,
                cache_node_type: input.cache_node_type,
                auth_token: input.auth_token,
                auth_token_update_strategy: input.auth_token_update_strategy,
                log_delivery_configurations: input.log_delivery_configurations,
                ip_discovery: input.ip_discovery,
                ..Default::default()
            },
            true,
        )
        .await?;
        let g = self
            .state()
            .groups
            .get(&key)
            .cloned()
            .ok_or_else(|| ControlError::CacheClusterNotFound(rules::shown(&key)))?;
        self.view_vessel(&g, false)
    }

    /// `DeleteCacheCluster` of a standalone Redis OSS or Valkey cluster, with `FinalSnapshotIdentifier`: the same
    /// path as a group's deletion (the final snapshot first, then the node).
    pub(crate) fn delete_vessel(
        &self,
        key: &str,
        final_snapshot: Option<String>,
    ) -> Result<output::CacheCluster> {
        self.delete_group(
            wire::input::DeleteReplicationGroup {
                replication_group_id: key.to_string(),
                retain_primary_cluster: None,
                final_snapshot_identifier: final_snapshot,
            },
            true,
        )
        // A cluster's deletion answers in the words of a cluster (`DeleteCacheCluster` has no replication group
        // errors in AWS's model).
        .map_err(|e| match e {
            ControlError::InvalidReplicationGroupState { status, .. } => {
                ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {key} is not in the available state (it is {status}): delete it once it is \
                     available."
                ))
            }
            ControlError::GroupStateMessage(m) => ControlError::InvalidCacheClusterState(m),
            e => e,
        })?;
        let g = self
            .state()
            .groups
            .get(key)
            .cloned()
            .ok_or_else(|| ControlError::CacheClusterNotFound(rules::shown(key)))?;
        let mut view = self.view_vessel(&g, false)?;
        view.status = "deleting".into();
        Ok(view)
    }

    /// `CreateCacheCluster` with `ReplicationGroupId`: a new read replica of a cluster mode disabled group, named
    /// as asked, with the group's settings (giving others is refused), synced from its primary.
    fn add_to_group(&self, input: CreateCacheCluster, rg: &str) -> Result<output::CacheCluster> {
        let id = rules::identifier("cache cluster id", &input.cache_cluster_id, 40)?;
        refuse_group_settings(&input, rg)?;
        let wanted_zone = wanted_zone(&input)?;
        let tags = crate::rules::tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let t = now();
        let g = self.commit(|st| {
            let Some(mut g) = st.replication_group(rg).cloned() else {
                return Err(ControlError::ReplicationGroupNotFound(rules::shown(rg)));
            };
            check_group_takes_replica(&g, input.engine.as_deref())?;
            if st.groups.contains_key(&id)
                || st.standalone.contains_key(&id)
                || st.groups.values().any(|o| o.member(&id).is_some())
            {
                return Err(ControlError::CacheClusterAlreadyExists(format!(
                    "Cache cluster {id} already exists."
                )));
            }
            crate::state::check_node_quota(st, 1)?;
            let allowed = st.subnet_group_zones(&self.inner.settings, &g.cache_subnet_group)?;
            let zone = replica_zone(&g, wanted_zone, &allowed)?;
            add_replica(st, &mut g, &id, zone.clone(), t)?;
            g.status = GroupStatus::Modifying;
            let events = vec![
                NewEvent::cluster(
                    &id,
                    format!("Adding cache node 0001 in availability zone {zone}"),
                ),
                NewEvent::group(
                    &g.id,
                    format!("Adding cache cluster {id} to replication group {}", g.id),
                ),
            ];
            st.save_group(&g, t, &events)?;
            if !tags.is_empty() {
                st.store
                    .put_tags(&self.inner.settings.arn("cluster", &id), &tags)?;
            }
            st.wake();
            Ok(g)
        })?;
        let m = g
            .member(&id)
            .ok_or_else(|| ControlError::Internal(format!("{id} was not added")))?;
        let mut view = self.view_member(&g, m, false);
        view.status = "creating".into();
        Ok(view)
    }
}

/// Refuses the settings a new member of replication group `rg` takes from the group.
fn refuse_group_settings(input: &CreateCacheCluster, rg: &str) -> Result<()> {
    let conflicting = [
        (
            "NumCacheNodes",
            input.num_cache_nodes.is_some_and(|n| n != 1),
        ),
        ("CacheNodeType", input.cache_node_type.is_some()),
        ("EngineVersion", input.engine_version.is_some()),
        (
            "CacheParameterGroupName",
            input.cache_parameter_group_name.is_some(),
        ),
        (
            "CacheSubnetGroupName",
            input.cache_subnet_group_name.is_some(),
        ),
        (
            "SecurityGroupIds",
            input
                .security_group_ids
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
        ),
        ("SnapshotName", input.snapshot_name.is_some()),
        (
            "SnapshotArns",
            input.snapshot_arns.as_ref().is_some_and(|a| !a.is_empty()),
        ),
        (
            "SnapshotRetentionLimit",
            input.snapshot_retention_limit.is_some(),
        ),
        ("SnapshotWindow", input.snapshot_window.is_some()),
        (
            "PreferredMaintenanceWindow",
            input.preferred_maintenance_window.is_some(),
        ),
        ("Port", input.port.is_some()),
        ("AuthToken", input.auth_token.is_some()),
        (
            "TransitEncryptionEnabled",
            input.transit_encryption_enabled.is_some(),
        ),
        ("NetworkType", input.network_type.is_some()),
        ("IpDiscovery", input.ip_discovery.is_some()),
        (
            "NotificationTopicArn",
            input.notification_topic_arn.is_some(),
        ),
        (
            "AutoMinorVersionUpgrade",
            input.auto_minor_version_upgrade.is_some(),
        ),
        (
            "LogDeliveryConfigurations",
            input
                .log_delivery_configurations
                .as_ref()
                .is_some_and(|l| !l.is_empty()),
        ),
    ];
    if let Some((name, _)) = conflicting.iter().find(|(_, given)| *given) {
        return Err(combination(format!(
            "{name} cannot be given with ReplicationGroupId: the new cache cluster takes it from replication group {rg}."
        )));
    }
    Ok(())
}

/// The zone a new read replica asks for (`PreferredAvailabilityZone`, or the one of `PreferredAvailabilityZones`).
fn wanted_zone(input: &CreateCacheCluster) -> Result<Option<String>> {
    let zones = input
        .preferred_availability_zones
        .clone()
        .unwrap_or_default();
    if zones.len() > 1 {
        return Err(invalid(
            "PreferredAvailabilityZones names one zone per node; a read replica is one node.",
        ));
    }
    Ok(input
        .preferred_availability_zone
        .clone()
        .or_else(|| zones.first().cloned()))
}

/// Checks that group `g` can take a new read replica: of its `engine` (if named), available, cluster mode
/// disabled, with room for one more replica.
fn check_group_takes_replica(g: &ReplicationGroup, engine: Option<&str>) -> Result<()> {
    if let Some(e) = engine {
        if !e.eq_ignore_ascii_case(&g.engine) {
            return Err(combination(format!(
                "Engine {} does not match replication group {}, which runs {}.",
                rules::shown(e),
                g.id,
                g.engine
            )));
        }
    }
    if g.status != GroupStatus::Available {
        return Err(ControlError::InvalidReplicationGroupState {
            id: g.id.clone(),
            status: g.status.as_str().into(),
        });
    }
    if g.cluster_mode.runs_cluster() {
        return Err(combination(format!(
            "Replication group {} runs in cluster mode: add replicas with IncreaseReplicaCount.",
            g.id
        )));
    }
    if g.first_shard().replicas().count() >= crate::rules::layout::MAX_REPLICAS as usize {
        return Err(ControlError::NodeQuotaForClusterExceeded(format!(
            "Replication group {} already has {} replicas, the most a node group holds.",
            g.id,
            crate::rules::layout::MAX_REPLICAS
        )));
    }
    Ok(())
}

/// The new replica's zone: the one asked for (one of the `allowed` zones of the group's subnet group), or where
/// the group's nodes are fewest.
fn replica_zone(
    g: &ReplicationGroup,
    wanted_zone: Option<String>,
    allowed: &[String],
) -> Result<String> {
    Ok(match wanted_zone {
        Some(z) if allowed.contains(&z) => z,
        Some(z) => {
            return Err(invalid(format!(
                "Invalid availability zone '{}': the group's cache subnet group has subnets in {}.",
                rules::shown(&z),
                allowed.join(", ")
            )))
        }
        None => crate::rules::placement::spread(g, allowed, 1)
            .pop()
            .ok_or_else(|| ControlError::Internal("no zone".into()))?,
    })
}

/// Adds member `id` in `zone` to `g`'s node group, on an address (and port) not taken in `st`.
fn add_replica(
    st: &crate::state::State,
    g: &mut ReplicationGroup,
    id: &str,
    zone: String,
    t: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let mut taken = crate::state::taken_addresses(st);
    let (address, host) =
        crate::state::place_node(st, &zone, &g.hosts(), g.on_hosts(), g.port, &mut taken)?;
    let port = match g.dual_stack {
        Some(_) => Some(engine::address::allocate_port(
            &[address, engine::address::IPV6_LOOPBACK],
            &crate::state::taken_ports(st),
        )?),
        None => None,
    };
    let ipv6 = g.ipv6_discovery();
    let shard = g
        .shards
        .first_mut()
        .ok_or_else(|| ControlError::Internal(format!("{} has no node group", g.id)))?;
    shard.adding.push(id.to_string());
    shard.members.push(Member {
        port,
        ipv6,
        host,
        ..Member::new(id.to_string(), address, zone, t)
    });
    Ok(())
}

impl Control {
    /// `DeleteCacheCluster`, for a cluster outside any replication group (one kept by `RetainPrimaryCluster`):
    /// it is `deleting` until its worker has stopped its node and removed its data. A member of a group is refused:
    /// the group's own actions remove members.
    pub async fn delete_cache_cluster(
        &self,
        input: DeleteCacheCluster,
    ) -> Result<output::CacheCluster> {
        let key = input.cache_cluster_id.to_ascii_lowercase();
        if self.state().groups.get(&key).is_some_and(|g| g.standalone) {
            return self.delete_vessel(&key, input.final_snapshot_identifier);
        }
        if self.state().memcached.contains_key(&key) {
            return self.delete_memcached(&key, input.final_snapshot_identifier.as_deref());
        }
        if input.final_snapshot_identifier.is_some() {
            return Err(not_yet(
                "FinalSnapshotIdentifier",
                "final snapshots of clusters retained by an earlier version",
            ));
        }
        self.commit(|st| {
            if let Some(g) = st.groups.values().find(|g| g.member(&key).is_some()) {
                return Err(ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {key} is a member of replication group {}: delete the replication group instead.",
                    g.id
                )));
            }
            let mut s = st.standalone.get(&key).cloned().ok_or_else(|| {
                ControlError::CacheClusterNotFound(rules::shown(&input.cache_cluster_id))
            })?;
            if !s.deleting {
                s.deleting = true;
                st.store.put_standalone(
                    &s,
                    now(),
                    &[NewEvent::cluster(&key, "Cache cluster deletion requested")],
                )?;
                st.standalone.insert(key.clone(), s.clone());
                st.wake();
            }
            Ok(self.view_standalone(&s, false))
        })
    }

    /// `DescribeCacheClusters`: the member clusters of every group and the standalone clusters, by id.
    pub fn describe_cache_clusters(
        &self,
        input: DescribeCacheClusters,
    ) -> Result<(Vec<output::CacheCluster>, Option<String>)> {
        let limit = rules::max_records(input.max_records)?;
        let show_nodes = input.show_cache_node_info.unwrap_or(false);
        let only_standalone = input
            .show_cache_clusters_not_in_replication_groups
            .unwrap_or(false);
        let st = self.state();
        let mut all: Vec<output::CacheCluster> = Vec::new();
        if !only_standalone {
            for g in st.groups.values() {
                for m in g.members() {
                    all.push(self.view_member(g, m, show_nodes));
                }
            }
        }
        for s in st.standalone.values() {
            all.push(self.view_standalone(s, show_nodes));
        }
        for c in st.memcached.values() {
            all.push(self.view_memcached(c, show_nodes));
        }
        drop(st);
        all.sort_by(|a, b| a.cache_cluster_id.cmp(&b.cache_cluster_id));
        if let Some(id) = input.cache_cluster_id {
            let key = id.to_ascii_lowercase();
            let found = all
                .into_iter()
                .find(|c| c.cache_cluster_id == key)
                .ok_or(ControlError::CacheClusterNotFound(rules::shown(&id)))?;
            return Ok((vec![found], None));
        }
        let start = rules::read_page_marker(input.marker.as_deref())?.unwrap_or_default();
        let mut page: Vec<output::CacheCluster> = all
            .into_iter()
            .filter(|c| c.cache_cluster_id > start)
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let marker = if more {
            page.last().map(|c| rules::page_marker(&c.cache_cluster_id))
        } else {
            None
        };
        Ok((page, marker))
    }
}

impl Control {
    /// `RebootCacheCluster`: restarts the node from its data (a reboot of a primary does not fail over).
    pub fn reboot_cache_cluster(&self, input: RebootCacheCluster) -> Result<output::CacheCluster> {
        let key = input.cache_cluster_id.to_ascii_lowercase();
        if self.state().memcached.contains_key(&key) {
            return self.reboot_memcached(&key, &input.cache_node_ids_to_reboot);
        }
        if input.cache_node_ids_to_reboot.is_empty() {
            return Err(invalid(
                "CacheNodeIdsToReboot must name at least one node (0001).",
            ));
        }
        if let Some(bad) = input
            .cache_node_ids_to_reboot
            .iter()
            .find(|n| n.as_str() != "0001")
        {
            return Err(invalid(format!(
                "Cache node {} not found in cache cluster {key}: its one node is 0001.",
                rules::shown(bad)
            )));
        }
        let t = now();
        self.commit(|st| {
            let event = NewEvent::cluster(&key, "Cache cluster reboot requested for node 0001");
            if let Some(mut g) = st
                .groups
                .values()
                .find(|g| g.member(&key).is_some())
                .cloned()
            {
                // AWS: "Rebooting is not supported on ... (cluster mode enabled) clusters" (its error code is not
                // documented; InvalidParameterCombination is our choice).
                if g.cluster_mode == crate::model::ClusterMode::Enabled {
                    return Err(crate::error::combination(format!(
                        "Rebooting is not supported on cluster mode enabled clusters: {key} belongs to replication group {}.",
                        g.id
                    )));
                }
                // A rebooted node is still rebooting until it has loaded its data again.
                let loading = self.still_rebooting(&key);
                let status = g.status;
                let m = g.member_mut(&key);
                let Some(m) = m else {
                    return Err(ControlError::CacheClusterNotFound(key));
                };
                if status != GroupStatus::Available || m.rebooting || loading {
                    return Err(ControlError::InvalidCacheClusterState(format!(
                        "Cache cluster {key} is not available (its replication group is {}{}).",
                        status.as_str(),
                        if m.rebooting || loading {
                            ", and it is rebooting"
                        } else {
                            ""
                        }
                    )));
                }
                m.rebooting = true;
                st.save_group(&g, t, &[event])?;
                st.poke(&g.id);
                let m = g
                    .member(&key)
                    .cloned()
                    .ok_or(ControlError::CacheClusterNotFound(key))?;
                return Ok(self.view_member(&g, &m, false));
            }
            let mut s = st.standalone.get(&key).cloned().ok_or_else(|| {
                ControlError::CacheClusterNotFound(rules::shown(&input.cache_cluster_id))
        })?;
        if s.member.rebooting || s.deleting {
            return Err(ControlError::InvalidCacheClusterState(format!(
                "Cache cluster {key} is {}.",
                if s.deleting { "being deleted" } else { "already rebooting" }
            )));
        }
        s.member.rebooting = true;
        st.store.put_standalone(&s, t, &[event])?;
        st.standalone.insert(key, s.clone());
        st.wake();
        Ok(self.view_standalone(&s, false))
        })
    }
}
