//! AWS's rules for the shape of a new replication group: whether it runs with cluster mode enabled, its node groups
//! (shards), their slots and each node's availability zone. Pure functions of the request.
//!
//! Which requests give cluster mode (AWS leaves part of it implicit; the choices are written here):
//! - `ClusterMode=enabled`, or a `.cluster.on` parameter group, gives cluster mode enabled;
//! - more than one node group (`NumNodeGroups` or `NodeGroupConfiguration`) without a parameter group gives it too
//!   (AWS picks `default.<family>.cluster.on` then), but with an explicit non-cluster parameter group, or with
//!   `ClusterMode=disabled`, it is refused;
//! - one node group and nothing else asking for it is cluster mode disabled, as on AWS;
//! - `ClusterMode=compatible` is a step of `ModifyReplicationGroup` from `disabled` to `enabled`; a new group is
//!   created `enabled` or `disabled` (refused at create: the safer reading of a mode AWS documents only as a
//!   transition).

use crate::model::GroupStatus;
use crate::model::Member;
use crate::model::ReplicationGroup;
use wire::input::{CreateReplicationGroup, NodeGroupConfiguration};

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::ClusterMode;
use crate::rules;
use crate::rules::slots::{self, Ranges};

/// AWS's default quota of node groups in a replication group.
pub const MAX_SHARDS: usize = 90;
/// AWS's largest number of nodes in one cluster-mode-enabled group (the quota raised to its maximum).
pub const MAX_CLUSTER_NODES: usize = 500;
/// Replicas per node group.
pub const MAX_REPLICAS: i32 = 5;

/// One node group of a new group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPlan {
    /// `NodeGroupId`.
    pub id: String,
    /// Empty with cluster mode disabled.
    pub slots: Ranges,
    /// One zone per node: the primary's first.
    pub zones: Vec<String>,
}

/// The mode and node groups of a new group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub mode: ClusterMode,
    pub shards: Vec<ShardPlan>,
}

impl Layout {
    pub fn nodes(&self) -> usize {
        self.shards.iter().map(|s| s.zones.len()).sum()
    }
}

/// The mode a create request asks for, by the rules in this module's documentation. `cluster_group` is the
/// `cluster-enabled` value of the parameter group the request names (`None`: it names none, or none that exists).
pub fn mode_of(input: &CreateReplicationGroup, cluster_group: Option<bool>) -> Result<ClusterMode> {
    let groups = input
        .node_group_configuration
        .as_ref()
        .map_or(0, |c| c.len())
        .max(input.num_node_groups.unwrap_or(1).max(0) as usize);
    let parameter_group = input.cache_parameter_group_name.as_deref();
    match input.cluster_mode.as_deref() {
        Some("compatible") => Err(invalid(
            "ClusterMode compatible is a step of ModifyReplicationGroup from disabled to enabled; create the group \
             with ClusterMode enabled or disabled.",
        )),
        Some("enabled") if cluster_group == Some(false) => Err(combination(format!(
            "ClusterMode enabled needs a parameter group with cluster-enabled yes; {} has cluster-enabled no \
             (use the default .cluster.on group).",
            rules::shown(parameter_group.unwrap_or_default())
        ))),
        Some("enabled") => Ok(ClusterMode::Enabled),
        Some(_) if cluster_group == Some(true) => Err(combination(
            "ClusterMode disabled needs a parameter group with cluster-enabled no; the one given has cluster-enabled yes.",
        )),
        Some(_) if groups > 1 => Err(combination(
            "More than one node group needs cluster mode enabled; this request has ClusterMode disabled.",
        )),
        Some(_) => Ok(ClusterMode::Disabled),
        None if cluster_group == Some(true) => Ok(ClusterMode::Enabled),
        None if groups > 1 && cluster_group == Some(false) => Err(combination(format!(
            "A replication group with more than one node group needs a parameter group with cluster-enabled yes; \
             {} has cluster-enabled no.",
            rules::shown(parameter_group.unwrap_or_default())
        ))),
        None if groups > 1 => Ok(ClusterMode::Enabled),
        None => Ok(ClusterMode::Disabled),
    }
}

/// The node groups of a cluster-mode-enabled group: `NumNodeGroups`, `ReplicasPerNodeGroup` and
/// `NodeGroupConfiguration` by AWS's rules; `zones` are the availability zones of this deployment (nodes without a
/// zone asked for are spread over them).
pub fn cluster_shards(input: &CreateReplicationGroup, zones: &[String]) -> Result<Vec<ShardPlan>> {
    refuse_disabled_mode_inputs(input)?;
    let configs: &[NodeGroupConfiguration] = input
        .node_group_configuration
        .as_deref()
        .unwrap_or_default();
    let count = shard_count(input, configs)?;
    let replicas = replicas_per_node_group(input)?;
    let ids = shard_ids(configs, count)?;
    let slot_ranges = shard_slots(configs, count)?;

    let mut spread = 0usize;
    let mut out = Vec::with_capacity(count);
    for (i, (id, slots)) in ids.into_iter().zip(slot_ranges).enumerate() {
        let c = configs.get(i).cloned().unwrap_or_default();
        let shard_zones = shard_zones(&id, &c, replicas, zones, &mut spread)?;
        out.push(ShardPlan {
            id,
            slots,
            zones: shard_zones,
        });
    }
    check_cluster_nodes(&out)?;
    Ok(out)
}

/// Refuses the settings of cluster mode disabled (`NumCacheClusters`, `PreferredCacheClusterAZs`).
fn refuse_disabled_mode_inputs(input: &CreateReplicationGroup) -> Result<()> {
    if input.num_cache_clusters.is_some() {
        return Err(combination(
            "NumCacheClusters is for cluster mode disabled; with cluster mode enabled give NumNodeGroups and \
             ReplicasPerNodeGroup (or NodeGroupConfiguration).",
        ));
    }
    if input
        .preferred_cache_cluster_azs
        .as_ref()
        .is_some_and(|z| !z.is_empty())
    {
        return Err(combination(
            "PreferredCacheClusterAZs is for cluster mode disabled; with cluster mode enabled give each node \
             group's zones in NodeGroupConfiguration.",
        ));
    }
    Ok(())
}

/// The number of node groups: `NumNodeGroups`, or one per configuration; within AWS's quota and agreeing with
/// `NodeGroupConfiguration`.
fn shard_count(
    input: &CreateReplicationGroup,
    configs: &[NodeGroupConfiguration],
) -> Result<usize> {
    let count = match input.num_node_groups {
        Some(n) if n < 1 => {
            return Err(invalid(format!(
                "Invalid NumNodeGroups {n}: a replication group has at least 1 node group."
            )))
        }
        Some(n) => n as usize,
        None => configs.len().max(1),
    };
    if count > MAX_SHARDS {
        return Err(ControlError::NodeGroupsPerReplicationGroupQuotaExceeded(
            format!(
                "A replication group has at most {MAX_SHARDS} node groups; {count} were asked for."
            ),
        ));
    }
    if !configs.is_empty() && configs.len() != count {
        return Err(combination(format!(
            "NodeGroupConfiguration has {} node groups but NumNodeGroups is {count}: give one configuration per \
             node group.",
            configs.len()
        )));
    }
    Ok(count)
}

/// `ReplicasPerNodeGroup` checked (0 when not given).
fn replicas_per_node_group(input: &CreateReplicationGroup) -> Result<i32> {
    match input.replicas_per_node_group {
        Some(r) if !(0..=MAX_REPLICAS).contains(&r) => Err(invalid(format!(
            "Invalid ReplicasPerNodeGroup {r}: it must be between 0 and {MAX_REPLICAS}."
        ))),
        r => Ok(r.unwrap_or(0)),
    }
}

/// Node group ids: as given (1 to 4 digits, unique), the others the lowest free 4-digit ids.
fn shard_ids(configs: &[NodeGroupConfiguration], count: usize) -> Result<Vec<String>> {
    let mut ids: Vec<Option<String>> = Vec::with_capacity(count);
    for c in configs {
        if let Some(id) = &c.node_group_id {
            rules::node_group_id(id)?;
            if ids.iter().flatten().any(|x| x == id) {
                return Err(invalid(format!(
                    "NodeGroupId {id} is given twice: each node group needs its own."
                )));
            }
        }
        ids.push(c.node_group_id.clone());
    }
    ids.resize(count, None);
    let mut next = 1u32;
    let given: Vec<String> = ids.iter().flatten().cloned().collect();
    Ok(ids
        .into_iter()
        .map(|id| {
            id.unwrap_or_else(|| loop {
                let candidate = format!("{next:04}");
                next += 1;
                if !given.contains(&candidate) {
                    break candidate;
                }
            })
        })
        .collect())
}

/// Slots: all given or none (AWS's equal split then).
fn shard_slots(configs: &[NodeGroupConfiguration], count: usize) -> Result<Vec<Ranges>> {
    let with_slots = configs.iter().filter(|c| c.slots.is_some()).count();
    if with_slots == 0 {
        return Ok(slots::initial_split(count));
    }
    if with_slots != count {
        return Err(combination(
            "Slots is given for some node groups only: give it for every node group, or for none (the slots are \
             then split equally).",
        ));
    }
    let parsed = configs
        .iter()
        .map(|c| slots::parse(c.slots.as_deref().unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    if !slots::covers_all_once(&parsed) {
        return Err(invalid(format!(
            "The node groups' Slots must together cover every slot from 0 to {} exactly once.",
            engine::cluster::SLOTS - 1
        )));
    }
    Ok(parsed)
}

/// Checks that `az` is one of this deployment's `zones`.
fn known_zone(zones: &[String], az: &str) -> Result<()> {
    if zones.iter().any(|z| z == az) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid availability zone '{}': this Cacheplane has {}.",
            rules::shown(az),
            zones.join(", ")
        )))
    }
}

/// The zones of node group `id` (primary first) from its configuration `c`; nodes without a zone asked for take
/// the next of `zones` in turn (`spread` counts the turns over all node groups).
fn shard_zones(
    id: &str,
    c: &NodeGroupConfiguration,
    replicas: i32,
    zones: &[String],
    spread: &mut usize,
) -> Result<Vec<String>> {
    let mut next_zone = || {
        let z = zones[*spread % zones.len()].clone();
        *spread += 1;
        z
    };
    if c.primary_outpost_arn.is_some()
        || c.replica_outpost_arns
            .as_ref()
            .is_some_and(|a| !a.is_empty())
    {
        return Err(invalid(
            "PrimaryOutpostArn/ReplicaOutpostArns: Cacheplane has no AWS Outposts.",
        ));
    }
    let n = match c.replica_count {
        Some(r) if !(0..=MAX_REPLICAS).contains(&r) => {
            return Err(invalid(format!(
                "Invalid ReplicaCount {r} for node group {id}: it must be between 0 and {MAX_REPLICAS}."
            )))
        }
        Some(r) => r,
        None => replicas,
    } as usize;
    let mut shard_zones = Vec::with_capacity(n + 1);
    match &c.primary_availability_zone {
        Some(az) => {
            known_zone(zones, az)?;
            shard_zones.push(az.clone());
        }
        None => shard_zones.push(next_zone()),
    }
    match &c.replica_availability_zones {
        Some(azs) if !azs.is_empty() => {
            if azs.len() != n {
                return Err(combination(format!(
                    "Node group {id} has {} ReplicaAvailabilityZones but {n} replicas: give one zone per replica.",
                    azs.len()
                )));
            }
            for az in azs {
                known_zone(zones, az)?;
            }
            shard_zones.extend(azs.iter().cloned());
        }
        _ => shard_zones.extend((0..n).map(|_| next_zone())),
    }
    Ok(shard_zones)
}

/// Checks the total of nodes against AWS's largest cluster mode enabled group.
fn check_cluster_nodes(out: &[ShardPlan]) -> Result<()> {
    let nodes: usize = out.iter().map(|s| s.zones.len()).sum();
    if nodes > MAX_CLUSTER_NODES {
        return Err(ControlError::NodeQuotaForClusterExceeded(format!(
            "A cluster mode enabled group has at most {MAX_CLUSTER_NODES} nodes; this one would have {nodes}."
        )));
    }
    Ok(())
}

/// The vessel of member `m` of group `g` kept alone (`RetainPrimaryCluster`): the same node, with the group's
/// settings, as a one-node group named after it.
pub fn vessel_of(g: &ReplicationGroup, m: &Member) -> ReplicationGroup {
    let mut v = g.clone();
    v.standalone = true;
    v.id = m.cluster_id.clone();
    v.description = String::new();
    v.status = GroupStatus::Available;
    v.automatic_failover = false;
    v.multi_az = false;
    v.retain_cluster_id = None;
    v.final_snapshot = None;
    v.removing = vec![];
    v.failover_transition = None;
    v.migration = None;
    v.snapshotting = None;
    v.snapshotting_cluster_id = None;
    v.shards.retain(|s| s.member(&m.cluster_id).is_some());
    for s in &mut v.shards {
        s.members.retain(|x| x.cluster_id == m.cluster_id);
        s.primary_cluster_id = m.cluster_id.clone();
        s.failover = None;
        s.switchover_to = None;
        s.adding.clear();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    fn req() -> CreateReplicationGroup {
        CreateReplicationGroup {
            replication_group_id: "rg".into(),
            replication_group_description: "d".into(),
            ..Default::default()
        }
    }

    /// The mode of `r`, its parameter group's `cluster-enabled` read from the default groups' names.
    fn mode(r: &CreateReplicationGroup) -> Result<ClusterMode> {
        let cluster = r
            .cache_parameter_group_name
            .as_deref()
            .map(|n| n.ends_with(".cluster.on"));
        mode_of(r, cluster)
    }

    #[test]
    fn the_request_decides_the_mode() {
        let mut r = req();
        assert_eq!(mode(&r).ok(), Some(ClusterMode::Disabled));
        // One node group with a default group stays cluster mode disabled.
        r.num_node_groups = Some(1);
        assert_eq!(mode(&r).ok(), Some(ClusterMode::Disabled));
        r.num_node_groups = Some(3);
        assert_eq!(mode(&r).ok(), Some(ClusterMode::Enabled));
        r.cache_parameter_group_name = Some("default.redis7".into());
        assert!(matches!(
            mode(&r),
            Err(ControlError::InvalidParameterCombination(_))
        ));
        r.cache_parameter_group_name = Some("default.redis7.cluster.on".into());
        r.num_node_groups = Some(1);
        assert_eq!(mode(&r).ok(), Some(ClusterMode::Enabled));
        r.cluster_mode = Some("disabled".into());
        assert!(mode(&r).is_err());
        r.cache_parameter_group_name = None;
        r.cluster_mode = Some("enabled".into());
        assert_eq!(mode(&r).ok(), Some(ClusterMode::Enabled));
        r.cluster_mode = Some("compatible".into());
        assert!(mode(&r).is_err());
    }

    #[test]
    fn shards_follow_the_request() {
        let mut r = req();
        r.num_node_groups = Some(3);
        r.replicas_per_node_group = Some(1);
        let s = cluster_shards(&r, &zones()).expect("plan");
        let ids: Vec<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["0001", "0002", "0003"]);
        assert_eq!(s[0].slots, vec![(0, 5461)]);
        assert_eq!(s[2].slots, vec![(10923, 16383)]);
        assert!(s.iter().all(|s| s.zones.len() == 2));
        // Zones spread over the deployment's.
        assert_eq!(s[0].zones, ["a", "b"]);
        assert_eq!(s[1].zones, ["c", "a"]);

        // Per-shard configuration as the user guide's example: different slots and replica counts.
        let mut r = req();
        r.node_group_configuration = Some(vec![
            NodeGroupConfiguration {
                slots: Some("0-8999".into()),
                replica_count: Some(1),
                primary_availability_zone: Some("b".into()),
                ..Default::default()
            },
            NodeGroupConfiguration {
                node_group_id: Some("0001".into()),
                slots: Some("9000-16383".into()),
                replica_count: Some(2),
                replica_availability_zones: Some(vec!["a".into(), "c".into()]),
                ..Default::default()
            },
        ]);
        let s = cluster_shards(&r, &zones()).expect("plan");
        assert_eq!(s[0].id, "0002", "the given id is not handed out again");
        assert_eq!(s[1].id, "0001");
        assert_eq!(s[0].zones.len(), 2);
        assert_eq!(s[0].zones[0], "b");
        assert_eq!(s[1].zones, ["b", "a", "c"]);
        assert_eq!(s[1].slots, vec![(9000, 16383)]);
    }

    #[test]
    fn bad_shards_are_refused() {
        let bad = |f: &dyn Fn(&mut CreateReplicationGroup)| {
            let mut r = req();
            r.num_node_groups = Some(2);
            f(&mut r);
            cluster_shards(&r, &zones()).is_err()
        };
        assert!(bad(&|r| r.num_node_groups = Some(91)));
        assert!(bad(&|r| r.num_node_groups = Some(0)));
        assert!(bad(&|r| r.replicas_per_node_group = Some(6)));
        assert!(bad(&|r| r.num_cache_clusters = Some(4)));
        let cfg = |slots: &str, id: Option<&str>| NodeGroupConfiguration {
            slots: Some(slots.into()),
            node_group_id: id.map(Into::into),
            ..Default::default()
        };
        // Overlapping, incomplete, half-given slots; bad or repeated ids; a count that disagrees.
        assert!(bad(&|r| r.node_group_configuration =
            Some(vec![cfg("0-9000", None), cfg("9000-16383", None)])));
        assert!(bad(&|r| r.node_group_configuration =
            Some(vec![cfg("0-8000", None), cfg("9000-16383", None)])));
        assert!(bad(&|r| r.node_group_configuration = Some(vec![
            cfg("0-8191", None),
            NodeGroupConfiguration::default()
        ])));
        assert!(bad(&|r| r.node_group_configuration = Some(vec![
            cfg("0-8191", Some("12345")),
            cfg("8192-16383", None)
        ])));
        assert!(bad(&|r| r.node_group_configuration = Some(vec![
            cfg("0-8191", Some("7")),
            cfg("8192-16383", Some("7"))
        ])));
        assert!(bad(
            &|r| r.node_group_configuration = Some(vec![cfg("0-16383", None)])
        ));
        assert!(bad(&|r| r.node_group_configuration = Some(vec![
            NodeGroupConfiguration {
                replica_count: Some(2),
                replica_availability_zones: Some(vec!["a".into()]),
                ..Default::default()
            },
            NodeGroupConfiguration::default()
        ])));
        assert!(bad(&|r| r.node_group_configuration = Some(vec![
            NodeGroupConfiguration {
                primary_availability_zone: Some("mars".into()),
                ..Default::default()
            },
            NodeGroupConfiguration::default()
        ])));
    }
}
