//! `ModifyReplicationGroup`'s failover steps: automatic failover, Multi-AZ and a planned switchover.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, invalid, Result};
use crate::rules;

/// Automatic failover and Multi-AZ, checked on the settings they lead to. Returns those settings
/// (automatic failover, Multi-AZ).
pub(super) fn change_failover(
    d: &mut Draft,
    input: &ModifyReplicationGroup,
) -> Result<(bool, bool)> {
    let g = &mut d.g;
    let af = input
        .automatic_failover_enabled
        .unwrap_or(g.automatic_failover);
    let maz = input.multi_az_enabled.unwrap_or(g.multi_az);
    // Every shard needs a replica to fail over to.
    let replicas = g
        .shards
        .iter()
        .map(|s| s.replicas().count())
        .min()
        .unwrap_or(0);
    if af && !g.automatic_failover && replicas == 0 {
        return Err(combination(
            "Replication group must have at least one read replica to enable autofailover.",
        ));
    }
    if maz && !af {
        return Err(combination(
            "Multi-AZ requires automatic failover: set AutomaticFailoverEnabled to true (or disable Multi-AZ).",
        ));
    }
    if maz && !g.multi_az {
        if replicas == 0 {
            return Err(combination(
                "Multi-AZ needs at least one read replica in the replication group.",
            ));
        }
        if g.cache_node_type.starts_with("cache.t1.") {
            return Err(invalid("Multi-AZ is not supported on T1 node types."));
        }
    }
    if af != g.automatic_failover {
        g.failover_transition = Some(if af { "enabling" } else { "disabling" }.into());
        g.automatic_failover = af;
        d.events.push(format!(
            "automatic failover {}",
            if af { "enabled" } else { "disabled" }
        ));
        d.work = true;
    }
    if maz != g.multi_az {
        g.multi_az = maz;
        d.events.push(format!(
            "Multi-AZ {}",
            if maz { "enabled" } else { "disabled" }
        ));
    }
    Ok((af, maz))
}

/// A planned switchover (`PrimaryClusterId`); AWS allows it only with automatic failover and Multi-AZ off
/// (`failover_on`: either is on after this request).
pub(super) fn switchover(
    d: &mut Draft,
    input: &ModifyReplicationGroup,
    failover_on: bool,
) -> Result<()> {
    let g = &mut d.g;
    if let Some(p) = &input.primary_cluster_id {
        let p = p.to_ascii_lowercase();
        if g.member(&p).is_none() {
            return Err(invalid(format!(
                "PrimaryClusterId {}: no such member in replication group {}.",
                rules::shown(&p),
                g.id
            )));
        }
        if failover_on {
            return Err(combination(
                "PrimaryClusterId can be set only when automatic failover and Multi-AZ are disabled; with them on, use TestFailover.",
            ));
        }
        if !g.is_primary(&p) {
            d.events
                .push(format!("switchover to primary {p} requested"));
            if let Some(s) = g.shards.iter_mut().find(|s| s.member(&p).is_some()) {
                s.switchover_to = Some(p);
            }
            d.work = true;
        }
    }
    Ok(())
}
