//! Memcached cache clusters: `CreateCacheCluster`, `ModifyCacheCluster`, `RebootCacheCluster` and
//! `DeleteCacheCluster` with `Engine=memcached`, and their view. AWS's rules live here; the nodes and the
//! configuration endpoint are run by the reconciler (`reconciler::memcached`) through `engine::memcached`.
//!
//! A Memcached cluster has 1–40 nodes, each a `memcached` process on its own loopback address, and a configuration
//! endpoint on an address of its own that answers ElastiCache's auto discovery with the node list and a version that
//! grows each time the list changes. Memcached has no replication, no persistence and no AUTH token: snapshots,
//! replication groups and tokens are refused with AWS's errors.

use wire::input::{CreateCacheCluster, ModifyCacheCluster};
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{McNode, McNodeState, McPending, McStatus, MemcachedCluster, NewEvent};
use crate::rules::node_types;
use crate::rules::{self, WeeklyWindow};
use crate::state::State;
use crate::{now, Control, Settings};

/// AWS's limit of nodes in one Memcached cluster (without a quota increase).
pub(crate) const MAX_NODES: u32 = 40;
/// Memcached's port, ElastiCache's default for Memcached clusters.
pub(crate) const DEFAULT_PORT: u16 = 11211;
/// What `ClientDownloadLandingPage` names on AWS: where its auto discovery clients are offered.
const CLIENT_DOWNLOAD_PAGE: &str =
    "https://console.aws.amazon.com/elasticache/home#client-download:";

/// The default parameter group of a Memcached version: `default.memcached1.6`.
fn default_parameter_group(version: &str) -> String {
    format!(
        "default.{}",
        crate::rules::versions::parameter_group_family("memcached", version)
    )
}

/// True when `id` names a cache cluster of any kind, or a replication group (one namespace here).
pub(crate) fn cluster_id_taken(st: &State, id: &str) -> bool {
    st.groups.contains_key(id)
        || st.groups.values().any(|g| g.member(id).is_some())
        || st.standalone.contains_key(id)
        || st.memcached.contains_key(id)
}

/// Zones for `n` new nodes: `cross-az` spreads them over the allowed zones, fewest nodes first (the cluster's
/// `existing` ones counted); `single-az` puts them with the existing nodes, or in the first allowed zone.
fn zones_for(n: usize, cross_az: bool, allowed: &[String], existing: &[String]) -> Vec<String> {
    if !cross_az {
        let z = existing
            .first()
            .cloned()
            .or_else(|| allowed.first().cloned())
            .unwrap_or_default();
        return vec![z; n];
    }
    let existing: Vec<&str> = existing.iter().map(String::as_str).collect();
    crate::rules::placement::spread_over(allowed, &existing, n)
}

/// True when version `a` is older than `b`.
fn modify_version_lt(a: &str, b: &str) -> bool {
    crate::rules::versions::version_cmp(a, b) == std::cmp::Ordering::Less
}

/// Refusals common to create and modify: what Memcached does not have.
fn refuse_redis_only(
    snapshot_retention_limit: Option<i32>,
    snapshot_window: Option<&str>,
    auth_token: bool,
    log_delivery: bool,
    cache_security_groups: bool,
) -> Result<()> {
    if snapshot_retention_limit.is_some_and(|n| n != 0) || snapshot_window.is_some() {
        return Err(combination(
            "SnapshotRetentionLimit and SnapshotWindow are only valid for the redis and valkey engines: Memcached keeps no data to back up.",
        ));
    }
    if auth_token {
        return Err(combination(
            "AuthToken is only valid for the redis and valkey engines, not for memcached.",
        ));
    }
    if log_delivery {
        return Err(combination(
            "LogDeliveryConfigurations are only valid for the redis and valkey engines, not for memcached.",
        ));
    }
    if cache_security_groups {
        return Err(combination(
            "CacheSecurityGroupNames are for EC2-Classic clusters; Cacheplane clusters run as in a VPC: use SecurityGroupIds.",
        ));
    }
    Ok(())
}

/// Checks a node count for a Memcached cluster.
fn node_count(n: i32) -> Result<u32> {
    if n < 1 {
        return Err(invalid(format!(
            "Invalid NumCacheNodes {n}: a Memcached cluster has between 1 and {MAX_NODES} nodes."
        )));
    }
    if n as u32 > MAX_NODES {
        return Err(ControlError::NodeQuotaForClusterExceeded(format!(
            "NumCacheNodes {n} is more than the {MAX_NODES} nodes a Memcached cluster may have."
        )));
    }
    Ok(n as u32)
}

/// Refusals of a create request: what a Memcached cluster cannot have (a replication group, a snapshot, the
/// redis-only settings), and what Cacheplane does not have yet (Outposts, IPv6).
fn refuse_for_create(input: &CreateCacheCluster) -> Result<()> {
    if input.replication_group_id.is_some() {
        return Err(combination(
            "Replication groups are for the redis and valkey engines: a memcached cluster cannot join one.",
        ));
    }
    if input.snapshot_name.is_some() || input.snapshot_arns.as_ref().is_some_and(|a| !a.is_empty())
    {
        return Err(ControlError::SnapshotFeatureNotSupported(
            "Memcached clusters cannot be created from a snapshot: snapshots are only for the redis and valkey engines."
                .into(),
        ));
    }
    refuse_redis_only(
        input.snapshot_retention_limit,
        input.snapshot_window.as_deref(),
        input.auth_token.is_some(),
        input
            .log_delivery_configurations
            .as_ref()
            .is_some_and(|l| !l.is_empty()),
        input
            .cache_security_group_names
            .as_ref()
            .is_some_and(|c| !c.is_empty()),
    )?;
    if input.outpost_mode.is_some()
        || input.preferred_outpost_arn.is_some()
        || input
            .preferred_outpost_arns
            .as_ref()
            .is_some_and(|a| !a.is_empty())
    {
        return Err(not_yet("OutpostMode/PreferredOutpostArn", "AWS Outposts"));
    }
    if input.network_type.as_deref().is_some_and(|n| n != "ipv4")
        || input.ip_discovery.as_deref().is_some_and(|n| n != "ipv4")
    {
        return Err(not_yet(
            "NetworkType/IpDiscovery other than ipv4 for memcached",
            "IPv6 for Memcached clusters",
        ));
    }
    Ok(())
}

/// Checks that a cache node type exists.
fn check_node_type(t: &str) -> Result<()> {
    if node_types::maxmemory(t).is_none() {
        return Err(invalid(format!(
            "Invalid CacheNodeType '{}': no such cache node type.",
            rules::shown(t)
        )));
    }
    Ok(())
}

/// Checks that in-transit encryption is possible for Memcached `engine_version` here.
fn check_transit_encryption(s: &Settings, engine_version: &str) -> Result<()> {
    // AWS: in-transit encryption for Memcached from 1.6.12.
    if modify_version_lt(engine_version, "1.6.12") {
        return Err(invalid(format!(
            "In-transit encryption for memcached needs engine version 1.6.12 or later (asked: {engine_version})."
        )));
    }
    if !s
        .binary_for("memcached", engine_version)
        .is_some_and(|b| b.tls)
    {
        return Err(invalid(format!(
            "In-transit encryption needs a memcached built with TLS; the memcached {engine_version} here has none."
        )));
    }
    Ok(())
}

/// The cluster's port: `Port` checked, or Memcached's default.
fn port_of(port: Option<i32>) -> Result<u16> {
    match port {
        None => Ok(DEFAULT_PORT),
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Some(p) => Err(invalid(format!(
            "Invalid Port {p}: it must be between 1 and 65535."
        ))),
    }
}

/// The zones of a new cluster's `n` nodes by AWS's rules for `AZMode`, `PreferredAvailabilityZone(s)`, each one of
/// the `allowed` zones of its cache subnet group.
fn zones_asked(
    input: &CreateCacheCluster,
    n: usize,
    allowed: &[String],
    subnet_group: &str,
) -> Result<Vec<String>> {
    let listed = input
        .preferred_availability_zones
        .clone()
        .unwrap_or_default();
    if let (Some(one), false) = (&input.preferred_availability_zone, listed.is_empty()) {
        if listed.iter().any(|z| z != one) {
            return Err(combination(
                "PreferredAvailabilityZone and PreferredAvailabilityZones name different zones.",
            ));
        }
    }
    if !listed.is_empty() && listed.len() != n {
        return Err(invalid(format!(
            "PreferredAvailabilityZones lists {} zones for {n} nodes: list one zone per node (a zone may repeat).",
            listed.len()
        )));
    }
    let zones: Vec<String> = if !listed.is_empty() {
        listed
    } else if let Some(z) = &input.preferred_availability_zone {
        vec![z.clone(); n]
    } else {
        zones_for(
            n,
            input.az_mode.as_deref() == Some("cross-az"),
            allowed,
            &[],
        )
    };
    for z in &zones {
        if !allowed.contains(z) {
            return Err(invalid(format!(
                "Invalid availability zone '{}': cache subnet group {subnet_group} has subnets in {}.",
                rules::shown(z),
                allowed.join(", ")
            )));
        }
    }
    Ok(zones)
}

/// A new cluster's `AZMode`: as asked (checked against its nodes' `zones` and the subnet group's `allowed` ones),
/// or `cross-az` when its nodes are in more than one zone.
fn az_mode_of(
    asked: Option<&str>,
    zones: &[String],
    allowed: &[String],
    subnet_group: &str,
) -> Result<String> {
    let distinct = {
        let mut d = zones.to_vec();
        d.sort();
        d.dedup();
        d.len()
    };
    Ok(match asked {
        Some("single-az") if distinct > 1 => {
            return Err(combination(
                "AZMode single-az, but the preferred availability zones name more than one zone.",
            ))
        }
        Some("cross-az") if allowed.len() < 2 => {
            return Err(combination(format!(
                "AZMode cross-az needs a cache subnet group with subnets in more than one availability zone; {subnet_group} has only {}.",
                allowed.join(", ")
            )))
        }
        Some(m) => m.to_string(),
        None if distinct > 1 => "cross-az".to_string(),
        None => "single-az".to_string(),
    })
}

/// A new cluster's configuration endpoint address and its nodes in `zones`, on addresses not taken in `st`.
fn new_nodes(
    st: &State,
    port: u16,
    zones: Vec<String>,
    t: chrono::DateTime<chrono::Utc>,
) -> Result<(std::net::IpAddr, Vec<McNode>)> {
    let mut taken = crate::state::taken_addresses(st);
    let config_address = engine::address::allocate(port, &taken)?;
    taken.push(config_address);
    let mut nodes: Vec<McNode> = Vec::with_capacity(zones.len());
    for (i, zone) in zones.into_iter().enumerate() {
        // On hosts when any have joined, a node on each host as far as the zone's hosts go.
        let placed: Vec<&str> = nodes
            .iter()
            .filter_map(|n| n.host.as_ref().map(|h| h.name.as_str()))
            .collect();
        let (address, host) = crate::state::place_node(st, &zone, &placed, true, port, &mut taken)?;
        nodes.push(McNode {
            id: MemcachedCluster::node_id(i as u32 + 1),
            zone,
            address,
            created: t,
            state: McNodeState::Creating,
            booted: None,
            memory_mib: None,
            host,
            replacing: false,
        });
    }
    Ok((config_address, nodes))
}

/// Refusals of a modify request: the redis-only settings, another engine, and what Cacheplane does not have yet
/// (stepwise scaling, IPv6).
fn refuse_for_modify(input: &ModifyCacheCluster) -> Result<()> {
    refuse_redis_only(
        input.snapshot_retention_limit,
        input.snapshot_window.as_deref(),
        input.auth_token.is_some() || input.auth_token_update_strategy.is_some(),
        input
            .log_delivery_configurations
            .as_ref()
            .is_some_and(|l| !l.is_empty()),
        input
            .cache_security_group_names
            .as_ref()
            .is_some_and(|c| !c.is_empty()),
    )?;
    if input
        .engine
        .as_deref()
        .is_some_and(|e| !e.eq_ignore_ascii_case("memcached"))
    {
        return Err(combination(
            "A memcached cluster cannot move to another engine: create a redis or valkey cluster and move the data.",
        ));
    }
    if input.scale_config.is_some() {
        return Err(not_yet(
            "ScaleConfig",
            "stepwise vertical scaling of Memcached clusters",
        ));
    }
    if input.ip_discovery.as_deref().is_some_and(|i| i != "ipv4") {
        return Err(not_yet(
            "IpDiscovery ipv6 for memcached",
            "IPv6 for Memcached clusters",
        ));
    }
    Ok(())
}

/// Checks a change of `AZMode` to `mode` against cluster `c`'s nodes and its subnet group's `allowed` zones.
fn check_az_mode_change(
    c: &MemcachedCluster,
    key: &str,
    mode: &str,
    allowed: &[String],
) -> Result<()> {
    let mut d: Vec<String> = c.nodes.iter().map(|n| n.zone.clone()).collect();
    d.sort();
    d.dedup();
    if mode == "single-az" && d.len() > 1 {
        return Err(combination(format!(
            "AZMode single-az: cache cluster {key} already has nodes in more than one availability zone ({}).",
            d.join(", ")
        )));
    }
    if mode == "cross-az" && allowed.len() < 2 {
        return Err(combination(format!(
            "AZMode cross-az needs a cache subnet group with subnets in more than one availability zone; {} has only {}.",
            c.cache_subnet_group,
            allowed.join(", ")
        )));
    }
    Ok(())
}

/// The zones of the nodes a growth of `c` to `n` nodes adds: `NewAvailabilityZones` checked, or spread as its
/// `AZMode` says.
fn nodes_to_add(
    c: &MemcachedCluster,
    n: usize,
    to_remove: &[String],
    new_zones: &[String],
    cross_az: bool,
    allowed: &[String],
) -> Result<Vec<String>> {
    let current = c.nodes.len();
    let existing: Vec<String> = c.nodes.iter().map(|n| n.zone.clone()).collect();
    if !to_remove.is_empty() {
        return Err(combination(format!(
            "CacheNodeIdsToRemove is only valid when NumCacheNodes ({n}) is less than the cluster's {current} nodes."
        )));
    }
    if !new_zones.is_empty() && new_zones.len() != n - current {
        return Err(invalid(format!(
            "NewAvailabilityZones lists {} zones for the {} nodes being added: list one zone per new node.",
            new_zones.len(),
            n - current
        )));
    }
    for z in new_zones {
        if !allowed.contains(z) {
            return Err(invalid(format!(
                "Invalid availability zone '{}': cache subnet group {} has subnets in {}.",
                rules::shown(z),
                c.cache_subnet_group,
                allowed.join(", ")
            )));
        }
    }
    let zones = if new_zones.is_empty() {
        zones_for(n - current, cross_az, allowed, &existing)
    } else {
        new_zones.to_vec()
    };
    if !cross_az {
        let mut all = existing.clone();
        all.extend(zones.iter().cloned());
        all.sort();
        all.dedup();
        if all.len() > 1 {
            return Err(combination(
                "The cluster is single-az: new nodes go to its nodes' zone (use AZMode cross-az to spread them).",
            ));
        }
    }
    Ok(zones)
}

/// The nodes a shrink of `c` to `n` nodes removes: `CacheNodeIdsToRemove`, checked to name exactly that many of
/// its nodes.
fn nodes_to_remove(
    c: &MemcachedCluster,
    key: &str,
    n: usize,
    to_remove: &[String],
    new_zones: &[String],
) -> Result<Vec<String>> {
    let current = c.nodes.len();
    if !new_zones.is_empty() {
        return Err(combination(
            "NewAvailabilityZones is only valid when NumCacheNodes adds nodes.",
        ));
    }
    let mut ids = to_remove.to_vec();
    ids.sort();
    ids.dedup();
    if ids.len() != to_remove.len() {
        return Err(invalid("CacheNodeIdsToRemove names a node twice."));
    }
    if ids.len() != current - n {
        return Err(invalid(format!(
            "Going from {current} to {n} nodes removes {} nodes: CacheNodeIdsToRemove must name exactly that many ({} given).",
            current - n,
            ids.len()
        )));
    }
    check_node_ids(c, key, &ids)?;
    Ok(ids)
}

/// Node type: memcached's memory limit, changed live on every node (at once with `ApplyImmediately`, else
/// pending).
fn modify_node_type(c: &mut MemcachedCluster, t: &str, immediately: bool) -> Result<()> {
    check_node_type(t)?;
    if *t != c.cache_node_type {
        if immediately {
            c.cache_node_type = t.to_string();
            c.pending.cache_node_type = None;
            c.status = McStatus::Modifying;
        } else {
            c.pending.cache_node_type = Some(t.to_string());
        }
    }
    Ok(())
}

/// Refuses a node id that is not one of the cluster's, naming its nodes.
fn check_node_ids(c: &MemcachedCluster, key: &str, ids: &[String]) -> Result<()> {
    if let Some(bad) = ids.iter().find(|id| c.node(id).is_none()) {
        return Err(invalid(format!(
            "Cache node {} not found in cache cluster {key}: its nodes are {}.",
            rules::shown(bad),
            c.nodes
                .iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

impl Control {
    /// `CreateCacheCluster` with `Engine=memcached`.
    pub(crate) fn create_memcached(
        &self,
        id: String,
        input: CreateCacheCluster,
    ) -> Result<output::CacheCluster> {
        let s = &self.inner.settings;
        refuse_for_create(&input)?;
        let n = node_count(input.num_cache_nodes.unwrap_or(1))? as usize;
        let engine_version = match input.engine_version.as_deref() {
            None => s.newest("memcached")?.version.clone(),
            Some(v) => s.resolve_version("memcached", v)?.version.clone(),
        };
        let cache_node_type = input
            .cache_node_type
            .clone()
            .unwrap_or_else(|| "cache.t3.micro".to_string());
        check_node_type(&cache_node_type)?;
        let transit_encryption = input.transit_encryption_enabled.unwrap_or(false);
        if transit_encryption {
            check_transit_encryption(s, &engine_version)?;
        }
        let port = port_of(input.port)?;
        let pg = self.usable_parameter_group(
            input
                .cache_parameter_group_name
                .as_deref()
                .unwrap_or(&default_parameter_group(&engine_version)),
            "memcached",
            &engine_version,
        )?;
        self.memcached_params_of(&pg, &cache_node_type)?;
        let cache_parameter_group = pg.name;
        let maintenance = match input.preferred_maintenance_window.as_deref() {
            Some(w) => WeeklyWindow::parse(w)?,
            None => rules::default_maintenance_window(&s.region, rand::random::<u32>()),
        };
        let notification = rules::notification_after(
            None,
            input.notification_topic_arn.as_deref(),
            None,
            "cluster",
        )?;
        let security_group_ids = input.security_group_ids.clone().unwrap_or_default();
        for sg in &security_group_ids {
            rules::security_group_id(sg)?;
        }
        let tags = crate::rules::tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let subnet_group = input
            .cache_subnet_group_name
            .as_deref()
            .unwrap_or(crate::model::subnet_group::DEFAULT)
            .to_ascii_lowercase();
        let allowed = self.state().subnet_group_zones(s, &subnet_group)?;
        let zones = zones_asked(&input, n, &allowed, &subnet_group)?;
        let az_mode = az_mode_of(input.az_mode.as_deref(), &zones, &allowed, &subnet_group)?;
        self.check_capacity(&self.state(), true, n, 0)?;

        let t = now();
        let c = self.commit(|st| {
            if cluster_id_taken(st, &id) {
                return Err(ControlError::CacheClusterAlreadyExists(format!(
                    "Cache cluster {id} already exists."
                )));
            }
            let (config_address, nodes) = new_nodes(st, port, zones, t)?;
            let c = MemcachedCluster {
                id: id.clone(),
                status: McStatus::Creating,
                created: t,
                engine_version,
                cache_node_type,
                port,
                az_mode,
                config_address,
                config_version: 0,
                published: vec![],
                nodes,
                next_node: n as u32 + 1,
                pending: McPending::default(),
                preferred_maintenance_window: maintenance.format(),
                notification,
                security_group_ids,
                cache_subnet_group: subnet_group,
                cache_parameter_group,
                auto_minor_version_upgrade: input.auto_minor_version_upgrade.unwrap_or(true),
                transit_encryption,
            };
            st.store.put_memcached(&c, t, &[])?;
            if !tags.is_empty() {
                st.store.put_tags(&s.arn("cluster", &id), &tags)?;
            }
            st.memcached.insert(id, c.clone());
            st.wake();
            Ok(c)
        })?;
        Ok(self.view_memcached(&c, false))
    }

    /// `ModifyCacheCluster` of a Memcached cluster.
    pub(crate) fn modify_memcached(
        &self,
        input: ModifyCacheCluster,
    ) -> Result<output::CacheCluster> {
        let s = &self.inner.settings;
        let key = input.cache_cluster_id.to_ascii_lowercase();
        refuse_for_modify(&input)?;
        let immediately = input.apply_immediately.unwrap_or(false);
        let t = now();
        let c = self.commit(|st| {
            let Some(mut c) = st.memcached.get(&key).cloned() else {
                return Err(ControlError::CacheClusterNotFound(rules::shown(
                    &input.cache_cluster_id,
                )));
            };
            if c.status != McStatus::Available {
                return Err(ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {key} is not available (it is {}).",
                    c.status.as_str()
                )));
            }
            let allowed = st.subnet_group_zones(s, &c.cache_subnet_group)?;
            let mut events = Vec::new();
            self.modify_nodes(st, &mut c, &key, &input, &allowed, t)?;
            if let Some(t) = &input.cache_node_type {
                modify_node_type(&mut c, t, immediately)?;
            }
            if let Some(v) = &input.engine_version {
                let b = s.resolve_version("memcached", v)?;
                if b.version != c.engine_version {
                    return Err(combination(format!(
                        "Engine version {} is the only memcached version here (asked: {}); no other version to move to.",
                        c.engine_version,
                        rules::shown(v)
                    )));
                }
            }
            self.modify_parameter_group(
                &mut c,
                &key,
                input.cache_parameter_group_name.as_deref(),
                &mut events,
            )?;
            if let Some(w) = &input.preferred_maintenance_window {
                c.preferred_maintenance_window = WeeklyWindow::parse(w)?.format();
            }
            c.notification = rules::notification_after(
                c.notification.as_ref(),
                input.notification_topic_arn.as_deref(),
                input.notification_topic_status.as_deref(),
                "cluster",
            )?;
            if let Some(ids) = &input.security_group_ids {
                for sg in ids {
                    rules::security_group_id(sg)?;
                }
                c.security_group_ids = ids.clone();
            }
            if let Some(a) = input.auto_minor_version_upgrade {
                c.auto_minor_version_upgrade = a;
            }
            if c.status == McStatus::Available
                && c.nodes.iter().any(|n| n.state != McNodeState::Available)
            {
                c.status = McStatus::Modifying;
            }
            if c.status == McStatus::Modifying {
                events.push(NewEvent::cluster(
                    &key,
                    format!("Cache cluster {key} modified"),
                ));
            }
            st.store.put_memcached(&c, t, &events)?;
            st.memcached.insert(key, c.clone());
            st.wake();
            Ok(c)
        })?;
        Ok(self.view_memcached(&c, false))
    }

    /// Nodes: AWS's rules for NumCacheNodes, CacheNodeIdsToRemove, NewAvailabilityZones and AZMode, applied to `c`
    /// (at once with `ApplyImmediately`, else as its pending change).
    fn modify_nodes(
        &self,
        st: &State,
        c: &mut MemcachedCluster,
        key: &str,
        input: &ModifyCacheCluster,
        allowed: &[String],
        t: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let immediately = input.apply_immediately.unwrap_or(false);
        let to_remove = input.cache_node_ids_to_remove.clone().unwrap_or_default();
        let new_zones = input.new_availability_zones.clone().unwrap_or_default();
        if let Some(mode) = input.az_mode.as_deref() {
            check_az_mode_change(c, key, mode, allowed)?;
        }
        let cross_az = input.az_mode.as_deref().unwrap_or(&c.az_mode) == "cross-az";
        match input.num_cache_nodes {
            None => {
                if !to_remove.is_empty() || !new_zones.is_empty() {
                    return Err(combination(
                        "CacheNodeIdsToRemove and NewAvailabilityZones go with NumCacheNodes.",
                    ));
                }
            }
            Some(n) => {
                let n = node_count(n)? as usize;
                let current = c.nodes.len();
                let (adds, removes) = if n > current {
                    let adds = nodes_to_add(c, n, &to_remove, &new_zones, cross_az, allowed)?;
                    (adds, vec![])
                } else if n < current {
                    (vec![], nodes_to_remove(c, key, n, &to_remove, &new_zones)?)
                } else {
                    if !to_remove.is_empty() || !new_zones.is_empty() {
                        return Err(combination(format!(
                            "NumCacheNodes {n} is the cluster's current count: nothing to add or remove (a pending change of the count is cancelled)."
                        )));
                    }
                    (vec![], vec![])
                };
                if adds.is_empty() && removes.is_empty() {
                    // AWS: the same count cancels a pending change of it.
                    c.pending.num_cache_nodes = None;
                    c.pending.remove.clear();
                    c.pending.zones.clear();
                } else if immediately {
                    c.pending.num_cache_nodes = None;
                    c.pending.remove.clear();
                    c.pending.zones.clear();
                    self.apply_node_changes(st, c, &adds, &removes, t)?;
                } else {
                    // The latest request replaces an earlier pending one (AWS: not queued).
                    c.pending.num_cache_nodes = Some(n as u32);
                    c.pending.remove = removes;
                    c.pending.zones = adds;
                }
            }
        }
        if let Some(mode) = &input.az_mode {
            c.az_mode = mode.clone();
        }
        Ok(())
    }

    /// The group the nodes will run with (`name`, or the cluster's) must fit every node type they will have; a new
    /// one replaces the cluster's, with its event.
    fn modify_parameter_group(
        &self,
        c: &mut MemcachedCluster,
        key: &str,
        name: Option<&str>,
        events: &mut Vec<NewEvent>,
    ) -> Result<()> {
        let pg = self.usable_parameter_group(
            name.unwrap_or(&c.cache_parameter_group),
            "memcached",
            &c.engine_version,
        )?;
        for t in std::iter::once(&c.cache_node_type).chain(c.pending.cache_node_type.as_ref()) {
            self.memcached_params_of(&pg, t)?;
        }
        if pg.name != c.cache_parameter_group {
            events.push(NewEvent::cluster(
                key,
                format!(
                    "Cache parameter group of cache cluster {key} changed to {}",
                    pg.name
                ),
            ));
            c.cache_parameter_group = pg.name;
        }
        Ok(())
    }

    /// `RebootCacheCluster` of a Memcached cluster: the nodes named restart (empty, as on AWS).
    pub(crate) fn reboot_memcached(
        &self,
        key: &str,
        ids: &[String],
    ) -> Result<output::CacheCluster> {
        let t = now();
        let c = self.commit(|st| {
            let Some(mut c) = st.memcached.get(key).cloned() else {
                return Err(ControlError::CacheClusterNotFound(rules::shown(key)));
            };
            if c.status != McStatus::Available {
                return Err(ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {key} is not available (it is {}).",
                    c.status.as_str()
                )));
            }
            if ids.is_empty() {
                return Err(invalid("CacheNodeIdsToReboot must name at least one node."));
            }
            check_node_ids(&c, key, ids)?;
            for n in c.nodes.iter_mut().filter(|n| ids.contains(&n.id)) {
                n.state = McNodeState::Rebooting;
            }
            c.status = McStatus::Rebooting;
            let mut named: Vec<&str> = ids.iter().map(String::as_str).collect();
            named.sort();
            named.dedup();
            let event = NewEvent::cluster(
                key,
                format!(
                    "Cache cluster reboot requested for nodes {}",
                    named.join(", ")
                ),
            );
            st.store.put_memcached(&c, t, &[event])?;
            st.memcached.insert(key.to_string(), c.clone());
            st.wake();
            Ok(c)
        })?;
        Ok(self.view_memcached(&c, false))
    }

    /// `DeleteCacheCluster` of a Memcached cluster: its nodes stop and it is gone (no final snapshot: Memcached
    /// keeps nothing to back up).
    pub(crate) fn delete_memcached(
        &self,
        key: &str,
        final_snapshot: Option<&str>,
    ) -> Result<output::CacheCluster> {
        if final_snapshot.is_some() {
            return Err(ControlError::SnapshotFeatureNotSupported(
                "FinalSnapshotIdentifier is not supported for memcached clusters: snapshots are only for the redis and valkey engines."
                    .into(),
            ));
        }
        let t = now();
        let c = self.commit(|st| {
            let Some(mut c) = st.memcached.get(key).cloned() else {
                return Err(ControlError::CacheClusterNotFound(rules::shown(key)));
            };
            if c.status == McStatus::Deleting {
                return Err(ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {key} is already being deleted."
                )));
            }
            c.status = McStatus::Deleting;
            st.store.put_memcached(&c, t, &[])?;
            st.memcached.insert(key.to_string(), c.clone());
            st.wake();
            Ok(c)
        })?;
        Ok(self.view_memcached(&c, false))
    }

    /// The `CacheCluster` view of a Memcached cluster.
    pub(crate) fn view_memcached(
        &self,
        c: &MemcachedCluster,
        show_nodes: bool,
    ) -> output::CacheCluster {
        let mut zones: Vec<&str> = c.nodes.iter().map(|n| n.zone.as_str()).collect();
        zones.sort();
        zones.dedup();
        // AWS counts the nodes the cluster has; the ones being added show as pending until they are.
        let current = c
            .nodes
            .iter()
            .filter(|n| n.state != McNodeState::Creating || c.status == McStatus::Creating)
            .count() as i32;
        let adding = c.nodes.len() as i32
            - c.nodes
                .iter()
                .filter(|n| n.state == McNodeState::Deleting)
                .count() as i32;
        let removing: Vec<String> = c
            .nodes
            .iter()
            .filter(|n| n.state == McNodeState::Deleting)
            .map(|n| n.id.clone())
            .collect();
        // Where the nodes stand against their parameter group: options a running node has not started with wait for
        // its reboot; a memory limit not yet given is being applied.
        let params = self.memcached_cluster_params(c).ok();
        let fingerprint = params.as_ref().map(|p| p.boot_fingerprint());
        let to_reboot: Vec<String> = c
            .nodes
            .iter()
            .filter(|n| n.state == McNodeState::Available)
            .filter(|n| fingerprint.is_some() && n.booted != fingerprint)
            .map(|n| n.id.clone())
            .collect();
        let applying = c.nodes.iter().any(|n| {
            n.state == McNodeState::Available
                && params
                    .as_ref()
                    .is_some_and(|p| n.memory_mib != Some(p.memory_mib))
        });
        let apply_status = if applying {
            "applying"
        } else if !to_reboot.is_empty() {
            "pending-reboot"
        } else {
            "in-sync"
        };
        let (pending_num, pending_remove) = match c.pending.num_cache_nodes {
            Some(n) => (Some(n as i32), c.pending.remove.clone()),
            None if adding != current || !removing.is_empty() => (Some(adding), removing),
            None => (None, vec![]),
        };
        output::CacheCluster {
            cache_cluster_id: c.id.clone(),
            configuration_endpoint: Some(crate::views::endpoint(std::net::SocketAddr::new(
                c.config_address,
                c.port,
            ))),
            client_download_landing_page: Some(CLIENT_DOWNLOAD_PAGE.into()),
            pending_num_cache_nodes: pending_num,
            pending_cache_node_ids_to_remove: pending_remove,
            cache_node_type: c.cache_node_type.clone(),
            engine: "memcached".into(),
            engine_version: c.engine_version.clone(),
            status: c.status.as_str().into(),
            num_cache_nodes: current,
            preferred_availability_zone: Some(match zones.as_slice() {
                [one] => one.to_string(),
                _ => "Multiple".to_string(),
            }),
            create_time: Some(c.created),
            preferred_maintenance_window: c.preferred_maintenance_window.clone(),
            pending_cache_node_type: c.pending.cache_node_type.clone(),
            notification: c
                .notification
                .as_ref()
                .map(|n| (n.topic_arn.clone(), n.status().to_string())),
            cache_parameter_group_name: c.cache_parameter_group.clone(),
            parameter_apply_status: apply_status.into(),
            cache_node_ids_to_reboot: to_reboot.clone(),
            cache_subnet_group_name: Some(c.cache_subnet_group.clone()),
            cache_nodes: show_nodes.then(|| {
                c.nodes
                    .iter()
                    .map(|n| output::CacheNode {
                        cache_node_id: n.id.clone(),
                        status: n.state.as_str().into(),
                        create_time: Some(n.created),
                        endpoint: Some(crate::views::endpoint(std::net::SocketAddr::new(
                            n.address, c.port,
                        ))),
                        parameter_group_status: if to_reboot.contains(&n.id) {
                            "pending-reboot".into()
                        } else {
                            "in-sync".into()
                        },
                        customer_availability_zone: Some(n.zone.clone()),
                    })
                    .collect()
            }),
            auto_minor_version_upgrade: c.auto_minor_version_upgrade,
            security_group_ids: c.security_group_ids.clone(),
            arn: self.inner.settings.arn("cluster", &c.id),
            network_type: "ipv4".into(),
            ip_discovery: "ipv4".into(),
            transit_encryption_enabled: c.transit_encryption,
            transit_encryption_mode: c.transit_encryption.then(|| "required".to_string()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_spread_and_stay() {
        let allowed: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(zones_for(4, true, &allowed, &[]), ["a", "b", "c", "a"]);
        assert_eq!(
            zones_for(2, true, &allowed, &["a".into(), "b".into()]),
            ["c", "a"]
        );
        assert_eq!(zones_for(2, false, &allowed, &["b".into()]), ["b", "b"]);
        assert_eq!(zones_for(1, false, &allowed, &[]), ["a"]);
    }

    #[test]
    fn node_counts_and_memory() {
        assert!(node_count(0).is_err());
        assert!(matches!(
            node_count(41),
            Err(ControlError::NodeQuotaForClusterExceeded(_))
        ));
        assert_eq!(node_count(40).expect("40"), 40);
        assert_eq!(
            crate::rules::parameters::max_cache_memory_mib("cache.t3.micro"),
            512
        );
        assert_eq!(node_id_of(3), "0003");
    }

    fn node_id_of(n: u32) -> String {
        MemcachedCluster::node_id(n)
    }
}
