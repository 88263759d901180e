//! Moving a dual-stack group's nodes to the address family of its `IpDiscovery`.

use super::*;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;

impl Step {
    /// One step of moving a dual-stack group's nodes to the address family of its `IpDiscovery`: a replica at a
    /// time is re-pointed at the primary's address of that family and announces its own (by the next
    /// correction, a partial resync: it keeps its data and the primary's replication id), and the next one
    /// moves only when its link is up again; the primary moves last. Shards move one after another. Returns true
    /// when it changed something.
    pub(crate) async fn discovery_step(&self, g: &ReplicationGroup, ipv6: bool) -> Result<bool> {
        let Some(shard) = g
            .shards
            .iter()
            .find(|s| s.members.iter().any(|m| m.ipv6 != ipv6))
        else {
            return Ok(false);
        };
        let Some(primary) = shard.primary() else {
            return Ok(false);
        };
        let want = g.link_addr(primary, ipv6);
        for m in shard.replicas().filter(|m| m.ipv6 == ipv6) {
            let linked = matches!(
                self.nodes().observed(&m.cluster_id).and_then(|o| o.role),
                Some(Role::Replica { link_up: true, primary: Some(p), .. }) if p == want
            );
            if !linked {
                self.refresh_roles_soon(&g.id);
                return Ok(false);
            }
        }
        let Some(next) = shard
            .replicas()
            .find(|m| m.ipv6 != ipv6)
            .or(Some(primary).filter(|p| p.ipv6 != ipv6))
            .cloned()
        else {
            return Ok(false);
        };
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        let addr = g.addr_of(&next, ipv6);
        tracing::info!(group = %g.id, node = %next.cluster_id, %addr, "moving node to {family}");
        self.update_group(&g.id, |cur| {
            if let Some(x) = cur.member_mut(&next.cluster_id) {
                x.ipv6 = ipv6;
            }
            let mut events = vec![NewEvent::cluster(
                &next.cluster_id,
                format!("Cache node 0001 now discovered over {family} at {addr}"),
            )];
            if cur.members().all(|m| m.ipv6 == ipv6) {
                events.push(NewEvent::group(
                    &cur.id,
                    format!(
                        "IP discovery of replication group {} changed to {}",
                        cur.id,
                        cur.ip_discovery()
                    ),
                ));
            }
            events
        })?;
        self.refresh_roles_soon(&g.id);
        Ok(true)
    }
}
