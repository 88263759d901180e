//! `ModifyReplicationGroupShardConfiguration`: online resharding of a cluster-mode-enabled group. AWS's rules are
//! checked here and the slot moves planned ([`crate::rules::slots::rebalance`]); the reconciler's `reshard` workflow moves
//! the slots, batch by batch, while clients keep reading and writing.
//!
//! - scale out: the new node groups have as many nodes as the smallest existing one, and take slots evenly from all;
//! - scale in (`NodeGroupsToRemove` or `NodeGroupsToRetain`): refused before anything moves when the data would not
//!   fit in the node groups kept; their slots are spread evenly over those kept, then their nodes stopped;
//! - rebalance (the same count): AWS's "uniformly distributed. Nothing to do." when already even.

use wire::input::{ModifyReplicationGroupShardConfiguration, ReshardingConfiguration};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{
    ClusterMode, GroupStatus, Member, NewEvent, ReplicationGroup, Resharding, Shard, SlotMove,
};
use crate::rules::layout::{MAX_REPLICAS, MAX_SHARDS};
use crate::rules::{self, node_types};
use crate::state::{check_node_quota, taken_addresses};
use crate::{now, Control};

impl Control {
    /// `ModifyReplicationGroupShardConfiguration`.
    pub async fn modify_shard_configuration(
        &self,
        input: ModifyReplicationGroupShardConfiguration,
    ) -> Result<output::ReplicationGroup> {
        let (g, count) = self.group_to_reshard(&input)?;
        let current = g.shards.len();
        let remove = input.node_groups_to_remove.clone().map(|l| l.0);
        let retain = input.node_groups_to_retain.clone().map(|l| l.0);
        if count >= current && (remove.is_some() || retain.is_some()) {
            return Err(combination(
                "NodeGroupsToRemove and NodeGroupsToRetain are for reducing the number of node groups (NodeGroupCount \
                 smaller than the current count).",
            ));
        }
        if count <= current
            && input
                .resharding_configuration
                .as_ref()
                .is_some_and(|r| !r.is_empty())
        {
            return Err(combination(
                "ReshardingConfiguration can be given only when NodeGroupCount is greater than the current number of \
                 node groups.",
            ));
        }
        // Data fit: what the node groups removed hold must fit in those kept.
        let removed: Vec<String> = if count < current {
            let removed = self.shards_to_remove(&g, count, remove, retain)?;
            self.check_fit(&g, &removed).await?;
            removed
        } else {
            vec![]
        };

        let t = now();
        let g = self.commit(|st| {
            // The group may have changed while the nodes were read.
            let mut g = match st.groups.get(&g.id) {
                Some(cur) if cur.status == GroupStatus::Available => cur.clone(),
                Some(cur) => {
                    return Err(ControlError::InvalidReplicationGroupState {
                        id: cur.id.clone(),
                        status: cur.status.as_str().into(),
                    })
                }
                None => return Err(ControlError::ReplicationGroupNotFound(g.id.clone())),
            };
            let mut events = Vec::new();
            if count > current {
                events.extend(self.add_shards(st, &mut g, count - current, &input, t)?);
            }
            let moves = slot_moves(&g, &removed);
            if moves.is_empty() && count == current {
                return Err(ControlError::GroupStateMessage(
                    "Slots in the replication group are uniformly distributed. Nothing to do."
                        .into(),
                ));
            }
            let total_slots = moves
                .iter()
                .map(|m| crate::rules::slots::count(&m.ranges))
                .sum();
            g.resharding = Some(Resharding {
                moves,
                total_slots,
                removing_shards: removed,
                finished: false,
            });
            g.status = GroupStatus::Modifying;
            events.push(NewEvent::group(
                &g.id,
                format!(
                "Resharding of replication group {} from {current} to {count} node groups started",
                g.id
            ),
            ));
            st.save_group(&g, t, &events)?;
            st.wake();
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }

    /// The group the request names, as it is now (cluster mode enabled, `available`), and the checked
    /// `NodeGroupCount`.
    fn group_to_reshard(
        &self,
        input: &ModifyReplicationGroupShardConfiguration,
    ) -> Result<(ReplicationGroup, usize)> {
        if !input.apply_immediately {
            return Err(invalid(
                "ApplyImmediately=false is not supported for ModifyReplicationGroupShardConfiguration: the only \
                 permitted value is true.",
            ));
        }
        let g = self
            .state()
            .replication_group(&input.replication_group_id)
            .cloned()
            .ok_or_else(|| {
                ControlError::ReplicationGroupNotFound(rules::shown(&input.replication_group_id))
            })?;
        if g.cluster_mode != ClusterMode::Enabled {
            return Err(invalid(
                "Operation is only applicable for cluster mode enabled replication groups.",
            ));
        }
        if g.status != GroupStatus::Available {
            return Err(ControlError::InvalidReplicationGroupState {
                id: g.id.clone(),
                status: g.status.as_str().into(),
            });
        }
        let count = input.node_group_count;
        if count < 1 {
            return Err(invalid(format!(
                "Invalid NodeGroupCount {count}: a replication group keeps at least 1 node group."
            )));
        }
        if count as usize > MAX_SHARDS {
            return Err(ControlError::NodeGroupsPerReplicationGroupQuotaExceeded(
                format!(
                "A replication group has at most {MAX_SHARDS} node groups; {count} were asked for."
            ),
            ));
        }
        Ok((g, count as usize))
    }

    /// The node groups a scale-in removes: `NodeGroupsToRemove`, or all but `NodeGroupsToRetain`.
    fn shards_to_remove(
        &self,
        g: &ReplicationGroup,
        count: usize,
        remove: Option<Vec<String>>,
        retain: Option<Vec<String>>,
    ) -> Result<Vec<String>> {
        let current = g.shards.len();
        let ids = match (&remove, &retain) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(combination(
                    "Give either NodeGroupsToRemove or NodeGroupsToRetain to reduce the number of node groups.",
                ))
            }
            (Some(l), None) | (None, Some(l)) => l,
        };
        for id in ids {
            rules::node_group_id(id)?;
        }
        let unknown: Vec<&str> = ids
            .iter()
            .filter(|id| g.shard(id).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "The following node group ids are invalid: [{}]",
                unknown.join(", ")
            )));
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != ids.len() {
            return Err(invalid("A node group id is listed twice."));
        }
        let removed: Vec<String> = match remove {
            Some(r) => r,
            None => g
                .shards
                .iter()
                .filter(|s| !ids.contains(&s.id))
                .map(|s| s.id.clone())
                .collect(),
        };
        if current - removed.len() != count {
            return Err(combination(format!(
                "NodeGroupCount {count} does not match: removing {} of {current} node groups leaves {}.",
                removed.len(),
                current - removed.len()
            )));
        }
        Ok(removed)
    }

    /// Refuses a scale-in whose data would not fit in the node groups kept: the memory every primary uses now
    /// (as their worker reads them) against what the kept primaries may hold (their node type's `maxmemory`).
    async fn check_fit(&self, g: &ReplicationGroup, removed: &[String]) -> Result<()> {
        let used: u64 = self
            .fresh_primaries(g)
            .await?
            .iter()
            .map(|d| d.dataset)
            .sum();
        let kept = (g.shards.len() - removed.len()) as u64;
        let room = kept * node_types::maxmemory(&g.cache_node_type).unwrap_or(0);
        if used > room {
            return Err(combination(format!(
                "The data ({} MB) would not fit in the {kept} node groups kept ({} MB in all with {}); nothing was \
                 changed.",
                used >> 20,
                room >> 20,
                g.cache_node_type
            )));
        }
        Ok(())
    }

    /// New node groups of a scale-out, each as large as the smallest node group, with their ids and zones from
    /// `ReshardingConfiguration` when given. Returns their events.
    fn add_shards(
        &self,
        st: &crate::state::State,
        g: &mut ReplicationGroup,
        n: usize,
        input: &ModifyReplicationGroupShardConfiguration,
        t: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<NewEvent>> {
        let s = &self.inner.settings;
        // New node groups go into the zones of the group's cache subnet group.
        let allowed = st.subnet_group_zones(s, &g.cache_subnet_group)?;
        let size = g.shards.iter().map(|s| s.members.len()).min().unwrap_or(1);
        if size > MAX_REPLICAS as usize + 1 {
            return Err(ControlError::Internal(
                "node group larger than allowed".into(),
            ));
        }
        let configs = new_shard_configs(g, n, input)?;
        check_node_quota(st, n * size)?;
        // A new node receives its share of the data: at most what one primary holds now.
        let holds = g
            .primaries()
            .filter_map(|p| self.resident_of(p))
            .max()
            .unwrap_or(0);
        self.check_capacity(st, g.on_hosts(), n * size, holds)?;
        let mut taken = taken_addresses(st);
        let mut given: Vec<String> = configs
            .iter()
            .filter_map(|c| c.node_group_id.clone())
            .collect();
        for id in &given {
            rules::node_group_id(id)?;
        }
        let mut seen = given.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != given.len() {
            return Err(invalid("A new node group id is given twice."));
        }
        let mut next = 1u32;
        let mut events = Vec::new();
        for i in 0..n {
            let config = configs.get(i);
            let id = match config.and_then(|c| c.node_group_id.clone()) {
                Some(id) => id,
                None => free_shard_id(g, &mut next, &mut given),
            };
            let zones = new_shard_zones(config, &id, i, size, &allowed)?;
            let mut members = Vec::with_capacity(size);
            for (k, zone) in zones.into_iter().enumerate() {
                let cluster_id = format!("{}-{id}-{:03}", g.id, k + 1);
                if st.standalone.contains_key(&cluster_id) {
                    return Err(combination(format!(
                        "A cache cluster named {cluster_id} already exists."
                    )));
                }
                let mut group_hosts = g.hosts();
                group_hosts.extend(
                    members
                        .iter()
                        .filter_map(|m: &Member| m.host.as_ref().map(|h| h.name.as_str())),
                );
                let (address, host) = crate::state::place_node(
                    st,
                    &zone,
                    &group_hosts,
                    g.on_hosts(),
                    g.port,
                    &mut taken,
                )?;
                members.push(Member {
                    host,
                    ..Member::new(cluster_id, address, zone, t)
                });
            }
            events.extend(members.iter().map(|m| {
                NewEvent::cluster(
                    &m.cluster_id,
                    format!(
                        "Adding cache node 0001 in availability zone {}",
                        m.availability_zone
                    ),
                )
            }));
            g.shards.push(Shard {
                id: id.clone(),
                slots: vec![],
                primary_cluster_id: members[0].cluster_id.clone(),
                adding: members[1..].iter().map(|m| m.cluster_id.clone()).collect(),
                members,
                failover: None,
                switchover_to: None,
            });
        }
        Ok(events)
    }
}

/// The slot moves that leave the node groups kept (all but `removed`) with even shares of the slots.
fn slot_moves(g: &ReplicationGroup, removed: &[String]) -> Vec<SlotMove> {
    let ranges: Vec<Vec<(u16, u16)>> = g.shards.iter().map(|s| s.slots.clone()).collect();
    let kept: Vec<bool> = g.shards.iter().map(|s| !removed.contains(&s.id)).collect();
    crate::rules::slots::rebalance(&ranges, &kept)
        .into_iter()
        .map(|m| SlotMove {
            from: g.shards[m.from].id.clone(),
            to: g.shards[m.to].id.clone(),
            ranges: m.ranges,
        })
        .collect()
}

/// The `ReshardingConfiguration` entries that describe new node groups (at most `n`): configurations naming
/// existing node groups are about those (AWS lets them be listed); the others describe new ones.
fn new_shard_configs(
    g: &ReplicationGroup,
    n: usize,
    input: &ModifyReplicationGroupShardConfiguration,
) -> Result<Vec<ReshardingConfiguration>> {
    let configs: Vec<_> = input
        .resharding_configuration
        .iter()
        .flatten()
        .filter(|c| {
            c.node_group_id
                .as_deref()
                .is_none_or(|id| g.shard(id).is_none())
        })
        .cloned()
        .collect();
    if configs.len() > n {
        return Err(combination(format!(
            "ReshardingConfiguration describes {} new node groups; NodeGroupCount adds {n}.",
            configs.len()
        )));
    }
    Ok(configs)
}

/// The next free node group id (`0001`, `0002`, … from `next`), neither the group's nor one `given`; it is added to
/// `given`.
fn free_shard_id(g: &ReplicationGroup, next: &mut u32, given: &mut Vec<String>) -> String {
    loop {
        let candidate = format!("{:04}", *next);
        *next += 1;
        if g.shard(&candidate).is_none() && !given.contains(&candidate) {
            given.push(candidate.clone());
            break candidate;
        }
    }
}

/// The zones of new node group `id` (the `i`th new one, of `size` nodes): its configuration's
/// `PreferredAvailabilityZones`, or the `allowed` zones in turn.
fn new_shard_zones(
    config: Option<&ReshardingConfiguration>,
    id: &str,
    i: usize,
    size: usize,
    allowed: &[String],
) -> Result<Vec<String>> {
    Ok(
        match config.and_then(|c| c.preferred_availability_zones.clone()) {
            Some(z) if !z.is_empty() => {
                if z.len() != size {
                    return Err(combination(format!(
                        "Node group {id} has {} PreferredAvailabilityZones; its {size} nodes need one each.",
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
                z
            }
            _ => (0..size)
                .map(|k| allowed[(i + k) % allowed.len()].clone())
                .collect(),
        },
    )
}
