//! The stable endpoints a group's clients use: the reader endpoint's forwarder, a dual-stack group's forwarders, and the TLS `preferred` fronts.

use super::*;
use crate::model::GroupStatus;
use crate::model::Member;
use crate::model::ReplicationGroup;
use crate::ControlError;
use std::collections::HashMap;
use std::net::SocketAddr;

impl Step {
    pub(crate) fn lock_endpoints(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, StableEndpoint>> {
        self.inner
            .endpoints
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_sniffers(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Sniffer>> {
        self.inner
            .endpoints
            .sniffers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the `preferred`-mode fronts on `addrs` at `port`.
    pub(crate) fn drop_sniffers(&self, addrs: &[std::net::IpAddr], port: u16) {
        let mut map = self.lock_sniffers();
        for a in addrs {
            map.remove(&SocketAddr::new(*a, port));
        }
    }

    /// In `preferred` mode, binds the front on each node's address and on the primary endpoint's; otherwise
    /// closes them. A node of a host has its front from its agent, on its machine.
    pub(crate) async fn ensure_sniffers(&self, g: &ReplicationGroup) -> Result<()> {
        // A group whose endpoints are names has no floating address to front.
        let floating = self.names_for(g).is_none().then_some(g.primary_endpoint);
        let addrs: Vec<std::net::IpAddr> = g
            .members()
            .filter(|m| m.host.is_none())
            .map(|m| m.address)
            .chain(floating)
            .collect();
        let preferred = g.transit_encryption == Some(crate::model::TransitMode::Preferred);
        self.ensure_sniffers_on(&addrs, g.port, preferred).await
    }

    pub(crate) async fn ensure_sniffers_on(
        &self,
        addrs: &[std::net::IpAddr],
        port: u16,
        preferred: bool,
    ) -> Result<()> {
        if !preferred {
            self.drop_sniffers(addrs, port);
            return Ok(());
        }
        let (plain, tls) = engine::config::listen_ports(port, Some(TlsMode::Preferred));
        for &ip in addrs {
            let front = SocketAddr::new(ip, port);
            if self.lock_sniffers().contains_key(&front) {
                continue;
            }
            let s =
                Sniffer::bind(front, SocketAddr::new(ip, plain), SocketAddr::new(ip, tls)).await?;
            self.lock_sniffers().insert(front, s);
        }
        Ok(())
    }

    /// Binds the group's forwarding endpoints if needed and points them at their nodes: the reader endpoint at
    /// the replicas that answer (the primary when none does); in a dual-stack group also the primary endpoint
    /// (its IPv4 address and its port on `::1`) and the reader endpoint on `::1`. Each endpoint reaches the
    /// nodes over its own address family, so a change of `IpDiscovery` drops no client connection.
    pub(crate) async fn ensure_endpoints(&self, g: &ReplicationGroup) -> Result<()> {
        self.ensure_sniffers(g).await?;
        // The primary and reader endpoints are those of the one shard of a group with cluster mode disabled.
        let shard = g.first_shard();
        let targets = |ipv6: bool| {
            let primary: Vec<SocketAddr> = shard
                .primary()
                .map(|p| g.addr_of(p, ipv6))
                .into_iter()
                .collect();
            // Readers go only to replicas known linked to their primary and done loading: one on its way (just
            // started, loading, or receiving a full sync, perhaps empty) would answer `-LOADING`, or without the
            // data. With none ready, the primary serves them.
            let ready = |m: &Member| {
                self.nodes().observed(&m.cluster_id).is_some_and(|o| {
                    o.load.is_none() && matches!(o.role, Some(Role::Replica { link_up: true, .. }))
                })
            };
            // A replica running Redis Cluster answers a plain client's read with `MOVED` (only a cluster client
            // reads it, with `READONLY`): with cluster mode `compatible` (and while it changes), the reader endpoint's
            // plain clients are served by replicas that do not run it, else by the primary.
            let replicas: Vec<SocketAddr> = shard
                .replicas()
                .filter(|m| {
                    !g.runs_cluster(m)
                        && !m.rebooting
                        && !self.still_rebooting(&m.cluster_id)
                        && self.nodes().health(&m.cluster_id).is_up()
                        && ready(m)
                })
                .map(|m| g.addr_of(m, ipv6))
                .collect();
            let readers = if replicas.is_empty() {
                primary.clone()
            } else {
                replicas
            };
            (primary, readers)
        };
        let (primary4, readers4) = targets(false);
        let mut wanted = Vec::new();
        if g.cluster_mode.has_primary_endpoint() {
            wanted.push((
                g.id.clone(),
                SocketAddr::new(g.reader_endpoint, g.port),
                readers4,
            ));
        }
        // The configuration endpoint: a node answers a cluster client's questions about the cluster once its slot
        // map is right (a node just started, or replaced, knows only itself); those that are up serve it.
        if let Some(ce) = g
            .configuration_endpoint
            .filter(|_| g.serves_configuration_endpoint())
        {
            let up = |m: &&Member| {
                !m.rebooting
                    && !self.still_rebooting(&m.cluster_id)
                    && self.nodes().health(&m.cluster_id).is_up()
            };
            let right = |m: &&Member| {
                self.nodes()
                    .observed(&m.cluster_id)
                    .is_some_and(|o| o.load.is_none() && o.cluster_map_right)
            };
            let mut nodes: Vec<SocketAddr> = g
                .members()
                .filter(|m| up(m) && right(m))
                .map(|m| g.tcp_addr(m))
                .collect();
            // Before any node has been looked at (a daemon that just started and adopted its nodes), every node up.
            if nodes.is_empty() && g.status != GroupStatus::Creating {
                nodes = g.members().filter(up).map(|m| g.tcp_addr(m)).collect();
            }
            wanted.push((
                format!("{}/config", g.id),
                SocketAddr::new(ce, g.port),
                nodes,
            ));
        }
        self.take_named(g, &mut wanted);
        if let Some(d) = &g.dual_stack {
            let (primary6, readers6) = targets(true);
            let v6 = engine::address::IPV6_LOOPBACK;
            wanted.push((
                format!("{}/primary", g.id),
                SocketAddr::new(g.primary_endpoint, g.port),
                primary4,
            ));
            wanted.push((
                format!("{}/primary6", g.id),
                SocketAddr::new(v6, d.primary_port),
                primary6,
            ));
            wanted.push((
                format!("{}/reader6", g.id),
                SocketAddr::new(v6, d.reader_port),
                readers6,
            ));
        }
        // Endpoints the group no longer has (the primary and reader endpoints once cluster mode is enabled, the
        // configuration endpoint while the cluster mode changes) close.
        {
            let prefix = format!("{}/", g.id);
            self.lock_endpoints().retain(|k, _| {
                !(k == &g.id || k.starts_with(&prefix)) || wanted.iter().any(|(w, _, _)| w == k)
            });
        }
        for (key, addr, targets) in wanted {
            let bound = self.lock_endpoints().contains_key(&key);
            if !bound {
                let e = StableEndpoint::bind(addr, targets.clone()).await?;
                self.lock_endpoints().insert(key.clone(), e);
            }
            if let Some(e) = self.lock_endpoints().get(&key) {
                e.set_targets(targets);
            }
        }
        Ok(())
    }

    /// A group whose endpoints are names has no forwarder: its reader and configuration names answer the
    /// addresses the forwarders in `wanted` would have reached (taken out of it).
    fn take_named(
        &self,
        g: &ReplicationGroup,
        wanted: &mut Vec<(String, SocketAddr, Vec<SocketAddr>)>,
    ) {
        if self.names_for(g).is_none() {
            return;
        }
        let ips = |t: &[SocketAddr]| t.iter().map(|a| a.ip()).collect::<Vec<_>>();
        let mut named = super::NamedTargets::default();
        for (key, _, targets) in wanted.drain(..) {
            if key == g.id {
                named.readers = ips(&targets);
            } else {
                named.configuration = ips(&targets);
            }
        }
        self.lock_named().insert(g.id.clone(), named);
    }

    /// Closes every endpoint of group `id`.
    /// The endpoints of group `id` go (a vessel that became a group under another id).
    pub(crate) fn drop_group_endpoints(&self, id: &str) {
        self.drop_endpoints(id);
    }

    pub(crate) fn lock_named(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, super::NamedTargets>> {
        self.inner
            .endpoints
            .named
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn drop_endpoints(&self, id: &str) {
        self.lock_named().remove(id);
        let prefix = format!("{id}/");
        self.lock_endpoints()
            .retain(|k, _| k != id && !k.starts_with(&prefix));
    }

    /// Binds the stable endpoints of every live group before the API answers, so that a restarted daemon never
    /// reports `available` for a group whose endpoints are not listening. Returns the groups that failed.
    pub async fn restore_endpoints(&self) -> Vec<(String, ControlError)> {
        let groups: Vec<ReplicationGroup> = self
            .state()
            .groups
            .values()
            .filter(|g| {
                matches!(
                    g.status,
                    GroupStatus::Available | GroupStatus::Modifying | GroupStatus::Migrating
                )
            })
            .cloned()
            .collect();
        let mut failed = Vec::new();
        for g in groups {
            if let Err(e) = self.ensure_endpoints(&g).await {
                failed.push((g.id.clone(), e));
            }
        }
        failed
    }
}
