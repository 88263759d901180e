//! Hosts lost and back. A host whose agent has not reported for [`HOST_LOST_AFTER`] is taken for lost: no new node
//! goes there, and each of its nodes that answers nothing is replaced by a node on another host (the group's
//! failover, when its primary was there, has run first: the replacement is a replica). A host that reports again
//! takes new nodes again, and the nodes it still holds that no group places there any more (those replaced while
//! it was away) are stopped and removed: never two primaries.

use std::time::Duration;

use crate::error::Result;
use crate::model::{NewEvent, ReplicationGroup};
use crate::now;
use crate::workflows::Step;

/// How often the leader looks at its hosts.
const TEND_EVERY: Duration = Duration::from_millis(250);

/// How long a host's agent may be silent before the host is taken for lost: well past a stall of the machine
/// under load, and well past the monitor's judgement of its nodes (which fails a primary over first).
pub const HOST_LOST_AFTER: Duration = Duration::from_secs(3);

impl Step {
    /// Tends the hosts until `stop` turns true (the leader's task beside the reconciler): marks them lost or back,
    /// and sweeps each host that reports again of the nodes no group places there.
    pub async fn tend_hosts_until(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.tend_hosts().await {
                tracing::warn!(error = %e, "tending the hosts failed; will retry");
            }
            tokio::select! {
                () = tokio::time::sleep(TEND_EVERY) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn tend_hosts(&self) -> Result<()> {
        let hosts: Vec<crate::model::Host> = self.state().hosts.values().cloned().collect();
        let mut reported = std::collections::BTreeMap::new();
        for h in hosts {
            let at = engine::spec::NodeHost {
                name: h.name.clone(),
                url: h.url.clone(),
            };
            if let Some(m) = self.nodes().host_memory(&at) {
                if crate::model::host::room_moved(h.room, m.0) {
                    let (name, room) = (h.name.clone(), m.0);
                    let kept = self.commit(|tx| {
                        if let Some(cur) = tx.hosts.get(&name).cloned() {
                            tx.save_host(crate::model::Host {
                                room: Some(room),
                                ..cur
                            })?;
                        }
                        Ok(())
                    });
                    if let Err(e) = kept {
                        tracing::warn!(host = %h.name, error = %e, "the host's room could not be kept; will retry");
                    }
                }
                reported.insert(h.name.clone(), m);
            }
            let silence = self.nodes().host_silence(&at);
            // Lost once silent long enough; back only once heard from again (a daemon that just began to lead has
            // heard nothing yet, and does not take a lost host for back).
            let lost = match h.lost {
                None => silence.at_least(HOST_LOST_AFTER),
                Some(_) => !silence.heard_within(HOST_LOST_AFTER),
            };
            if lost != h.lost.is_some() {
                if lost {
                    tracing::warn!(host = %h.name, zone = %h.zone,
                        "host lost: its agent is silent; its nodes that answer nothing are replaced elsewhere");
                } else {
                    tracing::info!(host = %h.name, "host back: its agent reports again");
                }
                let name = h.name.clone();
                self.commit(|tx| {
                    if let Some(cur) = tx.hosts.get(&name).cloned() {
                        tx.save_host(crate::model::Host {
                            lost: lost.then(now),
                            ..cur
                        })?;
                        tx.wake();
                    }
                    Ok(())
                })?;
            }
            if lost {
                self.swept().remove(&h.name);
            } else if silence.heard_within(HOST_LOST_AFTER)
                && !self.swept().contains(&h.name)
                && self.remove_strays(&at).await
            {
                self.swept().insert(h.name.clone());
            }
        }
        self.set_host_memory(reported);
        Ok(())
    }

    fn swept(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.inner
            .endpoints
            .swept_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Stops and removes the nodes `host` holds that no group places there; true when none is left.
    async fn remove_strays(&self, host: &engine::spec::NodeHost) -> bool {
        let Some(held) = self.nodes().nodes_on(host) else {
            return false;
        };
        let placed: Vec<String> = {
            let st = self.state();
            let on_host =
                |h: Option<&engine::spec::NodeHost>| h.is_some_and(|h| h.name == host.name);
            st.groups
                .values()
                .flat_map(|g| g.members().chain(&g.removing))
                .filter(|m| on_host(m.host.as_ref()))
                .map(|m| m.cluster_id.clone())
                .chain(st.memcached.values().flat_map(|c| {
                    c.nodes
                        .iter()
                        .filter(|n| on_host(n.host.as_ref()))
                        .map(|n| c.node_name(n))
                }))
                .collect()
        };
        let mut all = true;
        for name in held.iter().filter(|n| !placed.contains(n)) {
            tracing::warn!(host = %host.name, node = %name,
                "a node no group places on this host (replaced while the host was lost): stopped and removed");
            if let Err(e) = self.nodes().remove_node_on(host, name).await {
                tracing::warn!(host = %host.name, node = %name, error = %e, "removing it failed; will retry");
                all = false;
            }
        }
        all
    }

    /// Moves each member of `g` whose host is lost, and whose node answers nothing now, to another host (its zone's
    /// if one is left, else the zone with fewest of the group's nodes); true when any moved.
    pub(crate) async fn replace_lost_nodes(&self, g: &ReplicationGroup) -> Result<bool> {
        let on_lost: Vec<&crate::model::Member> = {
            let st = self.state();
            g.members()
                .filter(|m| {
                    m.host
                        .as_ref()
                        .is_some_and(|h| st.hosts.get(&h.name).is_some_and(|x| x.lost.is_some()))
                })
                .collect()
        };
        let mut moving = Vec::new();
        for m in on_lost {
            // Fresh evidence: nothing answers at its address now (a node of a host cut off from the daemons that
            // still serves is not replaced), and the monitor does not have it up.
            let watched_up = self.nodes().health(&m.cluster_id).is_up()
                && self
                    .nodes()
                    .observed(&m.cluster_id)
                    .and_then(|o| o.pid)
                    .is_some();
            // The node's own port (in TLS `preferred` mode not its agent's front, which goes with the agent).
            let own = g.admin_addr(m, &self.inner.settings.data_dir).reach();
            if !watched_up && !self.nodes().accepts(own).await {
                moving.push(m.cluster_id.clone());
            }
        }
        if moving.is_empty() {
            return Ok(false);
        }
        for id in &moving {
            // The observations of the old process mean nothing for the new one.
            self.nodes().unwatch(id);
            self.nodes().forget(id);
        }
        let gid = g.id.clone();
        self.commit(|tx| {
            let Some(mut cur) = tx.groups.get(&gid).cloned() else {
                return Ok(());
            };
            let mut taken = crate::state::taken_addresses(tx);
            let mut events = Vec::new();
            for id in &moving {
                let Some(m) = cur.member(id).cloned() else {
                    continue;
                };
                let others: Vec<String> = cur
                    .members()
                    .filter(|x| x.cluster_id != *id)
                    .filter_map(|x| x.host.as_ref().map(|h| h.name.clone()))
                    .collect();
                let others: Vec<&str> = others.iter().map(String::as_str).collect();
                let existing: Vec<&str> = cur.members().map(|x| x.availability_zone.as_str()).collect();
                let placed = crate::state::place_replacement(
                    tx,
                    &m.availability_zone,
                    &existing,
                    &others,
                    cur.port,
                    &mut taken,
                );
                let Some((zone, (address, host))) = placed else {
                    tracing::warn!(group = %gid, node = %id, "no host can take the replacement of the node yet");
                    continue;
                };
                let (old, new) = (
                    m.host.as_ref().map_or_else(String::new, |h| h.name.clone()),
                    host.as_ref().map_or_else(String::new, |h| h.name.clone()),
                );
                if let Some(x) = cur.member_mut(id) {
                    x.address = address;
                    x.host = host;
                    x.availability_zone = zone.clone();
                    x.converted = false;
                }
                events.push(NewEvent::cluster(
                    id,
                    format!("Cache node 0001 replaced: its host {old} was lost; the new node runs on host {new} in {zone}"),
                ));
            }
            if events.is_empty() {
                return Ok(());
            }
            tx.save_group(&cur, now(), &events)?;
            tx.refresh(&gid);
            Ok(())
        })?;
        Ok(true)
    }
}
