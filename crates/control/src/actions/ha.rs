//! High availability actions: `TestFailover`, `IncreaseReplicaCount`, `DecreaseReplicaCount`,
//! `RebootCacheCluster`. Each validates against AWS's rules, records the new spec and its events in one
//! transaction and wakes the group's worker; the worker does the work on the nodes.

use crate::rules::placement::spread;
use crate::state::next_member_id;

use chrono::Duration as ChronoDuration;
use wire::input::{ChangeReplicaCount, ConfigureShard, TestFailover};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{Failover, GroupStatus, Member, NewEvent, ReplicationGroup};
use crate::state::State;
use crate::state::{check_node_quota, taken_addresses, taken_ports};
use crate::{now, rules, Control};

/// `TestFailover` calls allowed in any rolling 24 hours (AWS's limit, counted across the account).
pub const TEST_FAILOVERS_PER_DAY: usize = 15;
/// Replicas a node group may have (cluster mode disabled).
pub const MAX_REPLICAS: i32 = 5;

fn node_group_not_found(id: &str, g: &ReplicationGroup) -> ControlError {
    let ids: Vec<&str> = g.shards.iter().map(|s| s.id.as_str()).collect();
    ControlError::NodeGroupNotFound(format!(
        "Node group {} not found in replication group {}: its node groups are {}.",
        rules::shown(id),
        g.id,
        ids.join(", ")
    ))
}

fn group_for_change<'a>(st: &'a State, id: &str) -> Result<&'a ReplicationGroup> {
    let g = st
        .replication_group(id)
        .ok_or_else(|| ControlError::ReplicationGroupNotFound(rules::shown(id)))?;
    if g.status != GroupStatus::Available {
        return Err(ControlError::InvalidReplicationGroupState {
            id: g.id.clone(),
            status: g.status.as_str().into(),
        });
    }
    Ok(g)
}

/// One node group's replica count asked for, and the zones asked for its nodes (primary first), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ShardTarget {
    shard: String,
    count: i32,
    zones: Option<Vec<String>>,
}

/// The counts asked for by `NewReplicaCount` (every node group) or `ReplicaConfiguration` (the node groups it
/// names); empty when neither is given.
fn shard_targets(
    g: &ReplicationGroup,
    new_replica_count: Option<i32>,
    configuration: Option<&[ConfigureShard]>,
) -> Result<Vec<ShardTarget>> {
    match (new_replica_count, configuration) {
        (Some(_), Some(_)) => Err(combination(
            "Give either NewReplicaCount or ReplicaConfiguration, not both.",
        )),
        (Some(n), None) => Ok(g
            .shards
            .iter()
            .map(|s| ShardTarget {
                shard: s.id.clone(),
                count: n,
                zones: None,
            })
            .collect()),
        (None, None) => Ok(vec![]),
        (None, Some(shards)) => {
            let mut out: Vec<ShardTarget> = Vec::with_capacity(shards.len());
            for c in shards {
                rules::node_group_id(&c.node_group_id)?;
                if g.shard(&c.node_group_id).is_none() {
                    return Err(node_group_not_found(&c.node_group_id, g));
                }
                if out.iter().any(|t| t.shard == c.node_group_id) {
                    return Err(invalid(format!(
                        "Node group {} is configured twice in ReplicaConfiguration.",
                        c.node_group_id
                    )));
                }
                if c.preferred_outpost_arns.is_some() {
                    return Err(invalid(
                        "PreferredOutpostArns is not supported: this Cacheplane has no Outposts.",
                    ));
                }
                out.push(ShardTarget {
                    shard: c.node_group_id.clone(),
                    count: c.new_replica_count,
                    zones: c.preferred_availability_zones.clone(),
                });
            }
            Ok(out)
        }
    }
}

/// "node group 0002 of replication group rg" with several node groups, "replication group rg" with one.
fn shard_name(g: &ReplicationGroup, shard: &str) -> String {
    if g.shards.len() > 1 || g.cluster_mode == crate::model::ClusterMode::Enabled {
        format!("node group {shard} of replication group {}", g.id)
    } else {
        format!("replication group {}", g.id)
    }
}

fn check_apply_immediately(apply: bool, action: &str) -> Result<()> {
    if !apply {
        return Err(invalid(format!(
            "ApplyImmediately=false is not currently supported for {action}: set it to true."
        )));
    }
    Ok(())
}

impl Control {
    /// `TestFailover`: an abrupt failover of the node group's primary, as if it had failed.
    pub fn test_failover(&self, input: TestFailover) -> Result<output::ReplicationGroup> {
        rules::node_group_id(&input.node_group_id)?;
        let t = now();
        let g = self.commit(|st| {
            let mut g = st
                .replication_group(&input.replication_group_id)
                .cloned()
                .ok_or_else(|| {
                    ControlError::ReplicationGroupNotFound(rules::shown(&input.replication_group_id))
                })?;
            let Some(shard) = g.shard(&input.node_group_id).cloned() else {
                return Err(node_group_not_found(&input.node_group_id, &g));
            };
            if g.status != GroupStatus::Available {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: g.id.clone(),
                    status: g.status.as_str().into(),
                });
            }
            // AWS documents no single error for this case; the group's state is what is wrong, so we answer
            // InvalidReplicationGroupState, saying what to do.
            if !g.automatic_failover {
                return Err(ControlError::GroupStateMessage(format!(
                    "Automatic failover is disabled for replication group {}: TestFailover needs it. Enable it with \
                     ModifyReplicationGroup --automatic-failover-enabled (with at least one replica), then call TestFailover again.",
                    g.id
                )));
            }
            // With several node groups, AWS lets a failover finish (its old primary replaced) before the next call.
            if let Some(busy) = g
                .shards
                .iter()
                .find(|s| s.failover.is_some() && s.id != shard.id)
            {
                return Err(ControlError::TestFailoverNotAvailable(format!(
                    "A failover of node group {} of replication group {} is still in progress: the first node replacement must complete before another TestFailover.",
                    busy.id, g.id
                )));
            }
            if shard.failover.is_some() {
                return Err(ControlError::TestFailoverNotAvailable(format!(
                    "A failover of node group {} of replication group {} is still in progress: wait until its old primary has rejoined as a replica.",
                    shard.id, g.id
                )));
            }
            if let Some(m) = shard.members.iter().find(|m| m.rebooting) {
                return Err(ControlError::InvalidCacheClusterState(format!(
                    "Cache cluster {} is rebooting; try again when it is available.",
                    m.cluster_id
                )));
            }
            let ready = shard
                .replicas()
                .filter(|m| self.inner.monitor.health(&m.cluster_id).is_up())
                .count();
            if ready == 0 {
                return Err(ControlError::TestFailoverNotAvailable(format!(
                    "Replication group {} has no available replica to fail over to.",
                    g.id
                )));
            }
            let day_ago = t - ChronoDuration::hours(24);
            let recent = st.store.test_failovers_since(day_ago)?;
            if recent.len() >= TEST_FAILOVERS_PER_DAY {
                let next = recent[recent.len() - TEST_FAILOVERS_PER_DAY] + ChronoDuration::hours(24);
                return Err(ControlError::ApiCallRateForCustomerExceeded(format!(
                    "TestFailover may be called at most {TEST_FAILOVERS_PER_DAY} times in any rolling 24 hours; the next call is allowed after {}.",
                    next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
            if let Some(s) = g.shard_mut(&shard.id) {
                s.failover = Some(Failover::Requested);
            }
            st.store.put_test_failover(
                &g,
                t,
                day_ago,
                &[NewEvent::group(
                    &g.id,
                    format!("Test Failover API called for node group {}", shard.id),
                )],
            )?;
            st.groups.insert(g.id.clone(), g.clone());
            st.poke(&g.id);
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }

    /// `IncreaseReplicaCount`: new replicas, each a real node that does a full sync from its node group's primary.
    pub fn increase_replica_count(
        &self,
        input: ChangeReplicaCount,
    ) -> Result<output::ReplicationGroup> {
        check_apply_immediately(input.apply_immediately, "IncreaseReplicaCount")?;
        let t = now();
        let g = self.commit(|st| {
            let mut g = group_for_change(st, &input.replication_group_id)?.clone();
            let targets = shard_targets(
                &g,
                input.new_replica_count,
                input.replica_configuration.as_deref(),
            )?;
            if targets.is_empty() {
                return Err(invalid(
                    "Give NewReplicaCount (or ReplicaConfiguration) with the number of replicas wanted.",
                ));
            }
            let s = &self.inner.settings;
            // New replicas go into the zones of the group's cache subnet group.
            let allowed = st.subnet_group_zones(s, &g.cache_subnet_group)?;
            let plan = plan_increase(&g, &targets, &allowed)?;
            // Each new replica receives its primary's data: what the primary's node holds now.
            let adding: usize = plan.iter().map(|p| (p.count - p.current) as usize).sum();
            self.check_capacity(st, g.on_hosts(), adding, self.largest_primary(&g, &plan))?;
            check_node_quota(st, adding)?;
            let events = add_replicas(st, &mut g, plan, &allowed, t)?;
            g.status = GroupStatus::Modifying;
            st.save_group(&g, t, &events)?;
            st.wake();
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }

    /// The bytes the largest primary of the node groups in `plan` holds now (0 when none is observed).
    fn largest_primary(&self, g: &ReplicationGroup, plan: &[ShardIncrease]) -> u64 {
        plan.iter()
            .filter_map(|p| g.shard(&p.shard)?.primary())
            .filter_map(|p| self.resident_of(p))
            .max()
            .unwrap_or(0)
    }

    /// `DecreaseReplicaCount`: replicas removed (their nodes stopped and their data deleted), in one node group or
    /// several.
    pub fn decrease_replica_count(
        &self,
        input: ChangeReplicaCount,
    ) -> Result<output::ReplicationGroup> {
        check_apply_immediately(input.apply_immediately, "DecreaseReplicaCount")?;
        let t = now();
        let g = self.commit(|st| {
            let mut g = group_for_change(st, &input.replication_group_id)?.clone();
            let targets = shard_targets(
                &g,
                input.new_replica_count,
                input.replica_configuration.as_deref(),
            )?;
            let minimum = minimum_replicas(&g);
            let chosen: Vec<String> = match (&input.replicas_to_remove, targets.is_empty()) {
                (None, true) => {
                    return Err(invalid(
                        "Give NewReplicaCount, ReplicaConfiguration or ReplicasToRemove.",
                    ))
                }
                (Some(_), false) if input.replica_configuration.is_some() => {
                    return Err(combination(
                        "Give either ReplicasToRemove or ReplicaConfiguration, not both.",
                    ))
                }
                (Some(list), _) => replicas_named(&g, list, input.new_replica_count)?,
                (None, false) => self.replicas_to_drop(&g, &targets)?,
            };
            if chosen.is_empty() {
                return Err(invalid("No replica to remove was given."));
            }
            let summary = decrease_summary(&g, &chosen, minimum)?;
            let events = remove_replicas(&mut g, &chosen, summary);
            g.status = GroupStatus::Modifying;
            st.save_group(&g, t, &events)?;
            st.wake();
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }

    /// The replicas a `NewReplicaCount` (or `ReplicaConfiguration`) removes: in each node group of `targets`,
    /// the replicas that are down first, then the newest.
    fn replicas_to_drop(
        &self,
        g: &ReplicationGroup,
        targets: &[ShardTarget],
    ) -> Result<Vec<String>> {
        let mut chosen = Vec::new();
        for t in targets {
            let Some(shard) = g.shard(&t.shard) else {
                continue;
            };
            let current = shard.replicas().count() as i32;
            if t.count >= current || t.count < 0 {
                return Err(invalid(format!(
                    "NewReplicaCount ({}) must be smaller than the current number of replicas ({current}) of {} and not negative.",
                    t.count,
                    shard_name(g, &t.shard)
                )));
            }
            // Remove replicas that are down first, then the newest.
            let mut replicas: Vec<&Member> = shard.replicas().collect();
            replicas.sort_by_key(|m| {
                (
                    self.inner.monitor.health(&m.cluster_id).is_up(),
                    std::cmp::Reverse(m.cluster_id.clone()),
                )
            });
            chosen.extend(
                replicas
                    .iter()
                    .take((current - t.count) as usize)
                    .map(|m| m.cluster_id.clone()),
            );
        }
        Ok(chosen)
    }
}

/// One node group's part of an `IncreaseReplicaCount`: its replicas now, the count asked for, and the zones of the
/// new replicas if asked for.
struct ShardIncrease {
    shard: String,
    current: i32,
    count: i32,
    zones: Option<Vec<String>>,
}

/// Every node group's new replicas and their zones, checked before anything changes.
fn plan_increase(
    g: &ReplicationGroup,
    targets: &[ShardTarget],
    allowed: &[String],
) -> Result<Vec<ShardIncrease>> {
    let mut plan = Vec::new();
    for t in targets {
        let Some(shard) = g.shard(&t.shard) else {
            continue;
        };
        let current = shard.replicas().count() as i32;
        let count = t.count;
        if !(0..=MAX_REPLICAS).contains(&count) {
            return Err(invalid(format!(
                "Invalid NewReplicaCount {count}: a node group has between 0 and {MAX_REPLICAS} replicas."
            )));
        }
        if count <= current {
            return Err(invalid(format!(
                "NewReplicaCount ({count}) must be greater than the current number of replicas ({current}) of {} to increase it.",
                shard_name(g, &t.shard)
            )));
        }
        let adding = (count - current) as usize;
        let zones = match &t.zones {
            Some(z) => Some(new_replica_zones(z, count, adding, allowed)?),
            None => None,
        };
        plan.push(ShardIncrease {
            shard: t.shard.clone(),
            current,
            count,
            zones,
        });
    }
    Ok(plan)
}

/// The zones of a node group's `adding` new replicas from its `PreferredAvailabilityZones` `z` (one per node of
/// the `count` replicas and the primary, checked against the `allowed` zones).
fn new_replica_zones(
    z: &[String],
    count: i32,
    adding: usize,
    allowed: &[String],
) -> Result<Vec<String>> {
    if z.len() != count as usize + 1 {
        return Err(invalid(format!(
            "PreferredAvailabilityZones has {} zones; it needs NewReplicaCount + 1 = {} (the primary's first).",
            z.len(),
            count + 1
        )));
    }
    if let Some(bad) = z.iter().find(|az| !allowed.contains(az)) {
        return Err(invalid(format!(
            "Invalid availability zone '{}': the group's cache subnet group has subnets in {}.",
            rules::shown(bad),
            allowed.join(", ")
        )));
    }
    // Existing nodes stay where they are; the new replicas take the last zones of the list.
    Ok(z[z.len() - adding..].to_vec())
}

/// Adds the new replicas of `plan` to `g` (addresses and ports not `st`'s), and returns their events.
fn add_replicas(
    st: &State,
    g: &mut ReplicationGroup,
    plan: Vec<ShardIncrease>,
    allowed: &[String],
    t: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<NewEvent>> {
    let mut taken = taken_addresses(st);
    let mut ports = taken_ports(st);
    let mut events = Vec::new();
    for p in plan {
        let (sid, current, count) = (p.shard, p.current, p.count);
        let n = (count - current) as usize;
        let zones = p.zones.unwrap_or_else(|| spread(g, allowed, n));
        for zone in zones {
            let id = next_member_id(st, g, &sid);
            let (address, host) =
                crate::state::place_node(st, &zone, &g.hosts(), g.on_hosts(), g.port, &mut taken)?;
            let port = match g.dual_stack {
                Some(_) => {
                    let p = engine::address::allocate_port(
                        &[address, engine::address::IPV6_LOOPBACK],
                        &ports,
                    )?;
                    ports.push(p);
                    Some(p)
                }
                None => None,
            };
            events.push(NewEvent::cluster(
                &id,
                format!("Adding cache node 0001 in availability zone {zone}"),
            ));
            let ipv6 = g.ipv6_discovery();
            let Some(shard) = g.shard_mut(&sid) else {
                continue;
            };
            shard.adding.push(id.clone());
            shard.members.push(Member {
                port,
                ipv6,
                host,
                ..Member::new(id, address, zone, t)
            });
        }
        events.push(NewEvent::group(
            &g.id,
            format!(
                "Increasing the replica count of {} from {current} to {count}",
                shard_name(g, &sid)
            ),
        ));
    }
    Ok(events)
}

/// AWS's minimums: with cluster mode disabled one replica while automatic failover (or Multi-AZ) is on; with
/// it enabled none, or one per node group with Multi-AZ.
fn minimum_replicas(g: &ReplicationGroup) -> i32 {
    let cme = g.cluster_mode == crate::model::ClusterMode::Enabled;
    if g.multi_az || (g.automatic_failover && !cme) {
        1
    } else {
        0
    }
}

/// The replicas `ReplicasToRemove` names, checked: replicas of `g`, each once; with `NewReplicaCount` too, every
/// node group touched must end with that many replicas.
fn replicas_named(
    g: &ReplicationGroup,
    list: &[String],
    new_replica_count: Option<i32>,
) -> Result<Vec<String>> {
    let mut seen = Vec::new();
    for raw in list {
        let id = raw.to_ascii_lowercase();
        if g.is_primary(&id) {
            return Err(invalid(format!(
                "{id} is the primary of its node group in replication group {}: only replicas can be removed.",
                g.id
            )));
        }
        if g.member(&id).is_none() {
            return Err(invalid(format!(
                "{} is not a replica of replication group {}.",
                rules::shown(raw),
                g.id
            )));
        }
        if seen.contains(&id) {
            return Err(invalid(format!(
                "{id} is listed twice in ReplicasToRemove."
            )));
        }
        seen.push(id);
    }
    // With NewReplicaCount too, every node group touched must end with that many replicas.
    if let Some(n) = new_replica_count {
        for shard in &g.shards {
            let current = shard.replicas().count() as i32;
            let gone = shard
                .members
                .iter()
                .filter(|m| seen.contains(&m.cluster_id))
                .count() as i32;
            if gone > 0 && current - gone != n {
                return Err(combination(format!(
                    "Removing {gone} of {current} replicas of {} leaves {}, not the NewReplicaCount {n} asked for.",
                    shard_name(g, &shard.id),
                    current - gone
                )));
            }
        }
    }
    Ok(seen)
}

/// For each node group losing replicas in `chosen`: its id, its replicas now and the replicas left, which must
/// be at least `minimum`.
fn decrease_summary(
    g: &ReplicationGroup,
    chosen: &[String],
    minimum: i32,
) -> Result<Vec<(String, i32, i32)>> {
    let mut summary = Vec::new();
    for shard in &g.shards {
        let current = shard.replicas().count() as i32;
        let gone = shard
            .members
            .iter()
            .filter(|m| chosen.contains(&m.cluster_id))
            .count() as i32;
        if gone == 0 {
            continue;
        }
        let left = current - gone;
        if left < minimum {
            return Err(invalid(format!(
                "{} must keep at least {minimum} replica{} ({}); {left} would be left.",
                shard_name(g, &shard.id),
                if minimum == 1 { "" } else { "s" },
                if g.multi_az {
                    "Multi-AZ is enabled"
                } else {
                    "automatic failover is enabled"
                }
            )));
        }
        summary.push((shard.id.clone(), current, left));
    }
    Ok(summary)
}

/// Takes the `chosen` replicas out of `g`'s node groups into its removals, and returns the events of the removal
/// (one per node, then one per node group of `summary`).
fn remove_replicas(
    g: &mut ReplicationGroup,
    chosen: &[String],
    summary: Vec<(String, i32, i32)>,
) -> Vec<NewEvent> {
    let mut removed = Vec::new();
    for s in g.shards.iter_mut() {
        let (gone, kept): (Vec<Member>, Vec<Member>) = s
            .members
            .drain(..)
            .partition(|m| chosen.contains(&m.cluster_id));
        s.members = kept;
        removed.extend(gone);
    }
    if g.snapshotting_cluster_id
        .as_ref()
        .is_some_and(|s| chosen.contains(s))
    {
        g.snapshotting_cluster_id = None;
    }
    let mut events: Vec<NewEvent> = removed
        .iter()
        .map(|m| NewEvent::cluster(&m.cluster_id, "Removing cache node 0001"))
        .collect();
    for (sid, current, left) in summary {
        events.push(NewEvent::group(
            &g.id,
            format!(
                "Decreasing the replica count of {} from {current} to {left}",
                shard_name(g, &sid)
            ),
        ));
    }
    g.removing = removed;
    events
}
