//! `ModifyReplicationGroup`'s `IpDiscovery`.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, Result};

/// IP discovery: the address family the nodes follow each other over and are reported at. AWS allows
/// IPv6 only on dual-stack groups; the move is rolling (see the reconciler's discovery step).
pub(super) fn change_ip_discovery(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    if let Some(discovery) = input.ip_discovery.as_deref() {
        let want = discovery == "ipv6";
        match &mut d.g.dual_stack {
            None if want => {
                return Err(combination(format!(
                    "IpDiscovery ipv6 needs a replication group with NetworkType dual_stack; {} was created with NetworkType ipv4 (create the group with NetworkType dual_stack to use IPv6).",
                    d.g.id
                )))
            }
            Some(ds) if ds.ipv6_discovery != want => {
                ds.ipv6_discovery = want;
                d.events.push(format!(
                    "IP discovery changing to {discovery} (replicas first, one at a time)"
                ));
                d.work = true;
            }
            _ => {}
        }
    }
    Ok(())
}
