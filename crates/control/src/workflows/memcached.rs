//! Memcached clusters' nodes and configuration endpoints, driven to their spec: nodes started, restarted
//! (a reboot, or a node found dead), resized live, removed; the discovery list published with a new version each
//! time it changes; changes that waited for the maintenance window applied in it.

use crate::error::combination;
use crate::model::NewEvent;
use crate::model::ParameterGroup;
use crate::now;
use crate::rules::parameters::Family;
use crate::ControlError;
use crate::State;
use engine::memcached::{ClusterConfig, ConfigEndpoint, MemcachedNode, Tls};
use std::collections::HashMap;
use std::net::SocketAddr;

use super::*;
use crate::model::{McNode, McNodeState, McStatus, MemcachedCluster};
use crate::rules::parameters::MemcachedParams;

impl Step {
    /// What the nodes of `c` run with, from its parameter group.
    pub(crate) fn memcached_cluster_params(&self, c: &MemcachedCluster) -> Result<MemcachedParams> {
        let pg = self
            .parameter_group(&c.cache_parameter_group)
            .ok_or_else(|| {
                ControlError::Internal(format!(
                    "cache cluster {} uses parameter group {}, which does not exist",
                    c.id, c.cache_parameter_group
                ))
            })?;
        self.memcached_params_of(&pg, &c.cache_node_type)
    }

    /// The process of node `n` of cluster `c`, started with `p` (its parameter group's; any, to stop it).
    fn memcached_node(
        &self,
        c: &MemcachedCluster,
        n: &McNode,
        p: &MemcachedParams,
    ) -> Result<MemcachedNode> {
        let b = self
            .inner
            .settings
            .binary_for("memcached", &c.engine_version)
            .ok_or_else(|| {
                ControlError::Internal(format!(
                    "no memcached {} binary is registered",
                    c.engine_version
                ))
            })?;
        let name = c.node_name(n);
        let dir = self.inner.settings.data_dir.join("nodes").join(&name);
        let tls = match (c.transit_encryption, &n.host) {
            (false, _) => None,
            (true, None) => {
                let cert = self.inner.tls.node_certificate(&dir, &[n.address])?;
                Some((cert, self.memcached_client_tls()?))
            }
            // A node of a host gets its certificate with its start (`Nodes::start_memcached`), on its machine.
            (true, Some(_)) => Some((self.inner.tls.files(&dir), self.memcached_client_tls()?)),
        };
        Ok(MemcachedNode {
            dir,
            name,
            binary: b.path.clone(),
            addr: SocketAddr::new(n.address, c.port),
            memory_mib: p.memory_mib,
            options: p.options.clone(),
            extended: p.extended.clone(),
            tls,
            version: c.engine_version.clone(),
            host: n.host.clone(),
        })
    }

    /// The daemon's TLS client of Memcached nodes (trusting the deployment's CA), made once.
    pub(crate) fn memcached_client_tls(&self) -> Result<Tls> {
        let mut slot = self
            .inner
            .endpoints
            .memcached_tls
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let t = Tls::new(self.inner.tls.bundle(), None)?;
        *slot = Some(t.clone());
        Ok(t)
    }

    /// Writes a change to Memcached cluster `id` (read afresh, so an API change made meanwhile is kept).
    fn update_memcached(
        &self,
        id: &str,
        f: impl FnOnce(&mut MemcachedCluster) -> Vec<NewEvent>,
    ) -> Result<Option<MemcachedCluster>> {
        self.commit(|st| {
            let Some(mut c) = st.memcached.get(id).cloned() else {
                return Ok(None);
            };
            let before = c.clone();
            let events = f(&mut c);
            if c != before || !events.is_empty() {
                st.store.put_memcached(&c, now(), &events)?;
                st.memcached.insert(id.to_string(), c.clone());
            }
            Ok(Some(c))
        })
    }

    fn lock_memcached_endpoints(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, ConfigEndpoint>> {
        self.inner
            .endpoints
            .memcached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the configuration endpoint of `c` list the nodes that serve (a new version when the list changed),
    /// binding it first when this daemon has not yet.
    async fn publish_discovery(&self, c: &MemcachedCluster) -> Result<()> {
        let listed: Vec<String> = c.listed().map(|n| n.id.clone()).collect();
        let c = if listed != c.published {
            match self.update_memcached(&c.id, |cur| {
                cur.config_version += 1;
                cur.published = listed.clone();
                vec![]
            })? {
                Some(c) => c,
                None => return Ok(()),
            }
        } else {
            c.clone()
        };
        let config = ClusterConfig {
            version: c.config_version,
            nodes: c
                .nodes
                .iter()
                .filter(|n| c.published.contains(&n.id))
                .map(|n| (n.address.to_string(), n.address, c.port))
                .collect(),
            server_version: c.engine_version.clone(),
        };
        if let Some(ep) = self.lock_memcached_endpoints().get(&c.id) {
            if ep.get() != config {
                ep.set(config);
            }
            return Ok(());
        }
        let tls = if c.transit_encryption {
            let dir = self
                .inner
                .settings
                .data_dir
                .join("nodes")
                .join(format!("{}-config", c.id));
            let cert = self.inner.tls.node_certificate(&dir, &[c.config_address])?;
            Some(Tls::new(self.inner.tls.bundle(), Some(&cert))?)
        } else {
            None
        };
        let ep =
            ConfigEndpoint::bind(SocketAddr::new(c.config_address, c.port), config, tls).await?;
        self.lock_memcached_endpoints().insert(c.id.clone(), ep);
        Ok(())
    }

    /// One step of Memcached cluster `c`.
    pub(crate) async fn memcached_step(&self, c: &MemcachedCluster) -> Result<()> {
        if c.status == McStatus::Deleting {
            return self.delete_memcached_nodes(c).await;
        }
        if !c.pending.is_empty()
            && c.status == McStatus::Available
            && crate::rules::WeeklyWindow::parse(&c.preferred_maintenance_window)?.contains(now())
        {
            return self.apply_memcached_pending(&c.id);
        }
        // Nodes of lost hosts that answer nothing start anew elsewhere (empty, as AWS replaces a Memcached node).
        let replaced;
        let c = match self.replace_lost_memcached_nodes(c).await? {
            Some(now) => {
                replaced = now;
                &replaced
            }
            None => c,
        };
        // Nodes on their way out leave the discovery list before they stop.
        self.publish_discovery(c).await?;
        let params = self.memcached_cluster_params(c)?;
        let fingerprint = params.boot_fingerprint();
        // Nodes (re)started with the group's options, and nodes given a new memory limit live.
        let mut done = NodesDone::default();
        let mut first_err = None;
        for n in &c.nodes {
            let node = self.memcached_node(c, n, &params)?;
            if let Err(e) = drive_memcached_node(self.nodes(), n, &node, &mut done).await {
                first_err = first_err.or(Some(e));
            }
        }
        let creating = c.status == McStatus::Creating;
        let failed = first_err.is_some();
        let updated = self.update_memcached(&c.id, |cur| {
            record_nodes_done(
                cur,
                &done,
                &fingerprint,
                params.memory_mib,
                creating,
                failed,
            )
        })?;
        if let Some(c) = updated {
            self.publish_discovery(&c).await?;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Applies the node changes that waited for the maintenance window.
    fn apply_memcached_pending(&self, id: &str) -> Result<()> {
        let t = now();
        self.commit(|st| {
            let Some(mut c) = st.memcached.get(id).cloned() else {
                return Ok(());
            };
            let pending = std::mem::take(&mut c.pending);
            let mut events = Vec::new();
            if pending.num_cache_nodes.is_some() {
                self.apply_node_changes(st, &mut c, &pending.zones, &pending.remove, t)?;
                events.push(NewEvent::cluster(
                    id,
                    "Cache cluster modified in the maintenance window: change of the number of nodes started",
                ));
            }
            if let Some(nt) = pending.cache_node_type {
                events.push(NewEvent::cluster(
                    id,
                    format!("Cache node type changed to {nt} in the maintenance window"),
                ));
                c.cache_node_type = nt;
                c.status = McStatus::Modifying;
            }
            st.store.put_memcached(&c, t, &events)?;
            st.memcached.insert(id.to_string(), c);
            Ok(())
        })
    }

    /// Stops every node of a deleted cluster, closes its configuration endpoint and forgets it.
    async fn delete_memcached_nodes(&self, c: &MemcachedCluster) -> Result<()> {
        self.lock_memcached_endpoints().remove(&c.id);
        for n in &c.nodes {
            let node = self.memcached_node(c, n, &MemcachedParams::default())?;
            // A node of a lost host is removed by its agent's sweep when the host comes back (no cluster places it).
            if let Err(e) = self.nodes().remove_memcached(&node).await {
                tracing::warn!(node = %node.name, error = %e, "the deleted cluster's node could not be removed");
            }
        }
        let config_dir = self
            .inner
            .settings
            .data_dir
            .join("nodes")
            .join(format!("{}-config", c.id));
        let _ = std::fs::remove_dir_all(config_dir);
        let arn = self.inner.settings.arn("cluster", &c.id);
        self.commit(|st| {
            st.store.remove_memcached(
                &c.id,
                &arn,
                now(),
                &[NewEvent::cluster(&c.id, "Cache cluster deleted")],
            )?;
            st.memcached.remove(&c.id);
            Ok(())
        })
    }

    /// Stops the nodes of every Memcached cluster on this machine and closes their endpoints
    /// (`--stop-nodes-on-exit`; the nodes of hosts are their agents').
    pub(crate) async fn stop_memcached_nodes(&self) {
        let nodes: Vec<MemcachedNode> = {
            let st = self.state();
            st.memcached
                .values()
                .flat_map(|c| c.nodes.iter().map(move |n| (c, n)))
                .filter(|(_, n)| n.host.is_none())
                .filter_map(|(c, n)| self.memcached_node(c, n, &MemcachedParams::default()).ok())
                .collect()
        };
        self.lock_memcached_endpoints().clear();
        for n in nodes {
            n.stop().await;
        }
    }
}

/// What one step did to the nodes of a Memcached cluster, by node id.
#[derive(Default)]
struct NodesDone {
    started: Vec<String>,
    restarted: Vec<String>,
    recovered: Vec<String>,
    removed: Vec<String>,
    memory_set: Vec<String>,
}

/// Drives node `n` (its process `node`) towards its state: removed, started, rebooted, started again when found
/// dead, or given its new memory limit live; what was done is added to `done`.
async fn drive_memcached_node(
    nodes: &dyn Nodes,
    n: &McNode,
    node: &MemcachedNode,
    done: &mut NodesDone,
) -> Result<()> {
    match n.state {
        McNodeState::Deleting => {
            nodes.remove_memcached(node).await?;
            done.removed.push(n.id.clone());
        }
        McNodeState::Creating => {
            if nodes.memcached_pid(node).await?.is_none() {
                nodes.start_memcached(node).await?;
            }
            done.started.push(n.id.clone());
        }
        McNodeState::Rebooting => {
            nodes.stop_memcached(node).await?;
            nodes.start_memcached(node).await?;
            done.restarted.push(n.id.clone());
        }
        McNodeState::Available => {
            if nodes.memcached_pid(node).await?.is_none() {
                tracing::warn!(node = %node.name, "memcached node is not running; starting it again");
                nodes.start_memcached(node).await?;
                done.recovered.push(n.id.clone());
            } else if n.memory_mib != Some(node.memory_mib) {
                // A change of node type, `cache_memlimit` or the connections overhead: live.
                if engine::memcached::memory_limit(node.addr, node.client()).await?
                    != node.memory_mib << 20
                {
                    engine::memcached::set_memory_limit(node.addr, node.client(), node.memory_mib)
                        .await?;
                    tracing::info!(node = %node.name, mib = node.memory_mib, "memory limit changed");
                }
                done.memory_set.push(n.id.clone());
            }
        }
    }
    Ok(())
}

/// Records in cluster `cur` what the step `done` to its nodes (booted with `fingerprint` and `memory_mib`): their
/// new states, the nodes removed, the cluster available once every node is (unless a node `failed`); returns the
/// events to write with it.
fn record_nodes_done(
    cur: &mut MemcachedCluster,
    done: &NodesDone,
    fingerprint: &str,
    memory_mib: u64,
    creating: bool,
    failed: bool,
) -> Vec<NewEvent> {
    let mut events = Vec::new();
    for n in cur.nodes.iter_mut() {
        if done.started.contains(&n.id)
            || done.restarted.contains(&n.id)
            || done.recovered.contains(&n.id)
        {
            n.booted = Some(fingerprint.to_string());
            n.memory_mib = Some(memory_mib);
        }
        if done.memory_set.contains(&n.id) {
            n.memory_mib = Some(memory_mib);
        }
        if done.started.contains(&n.id) && n.state == McNodeState::Creating {
            n.state = McNodeState::Available;
            // A replacement's event was written when it was placed.
            let replaced = std::mem::take(&mut n.replacing);
            if !creating && !replaced {
                events.push(NewEvent::cluster(
                    &cur.id,
                    format!("Added cache node {} in availability zone {}", n.id, n.zone),
                ));
            }
        }
        if done.restarted.contains(&n.id) && n.state == McNodeState::Rebooting {
            n.state = McNodeState::Available;
            events.push(NewEvent::cluster(
                &cur.id,
                format!("Cache node {} restarted", n.id),
            ));
        }
    }
    if !done.recovered.is_empty() {
        events.push(NewEvent::cluster(
            &cur.id,
            format!(
                "Finished recovery for cache nodes {}",
                done.recovered.join(", ")
            ),
        ));
    }
    let gone: Vec<String> = cur
        .nodes
        .iter()
        .filter(|n| done.removed.contains(&n.id) && n.state == McNodeState::Deleting)
        .map(|n| n.id.clone())
        .collect();
    if !gone.is_empty() {
        cur.nodes.retain(|n| !gone.contains(&n.id));
        events.push(NewEvent::cluster(
            &cur.id,
            format!("Removed cache nodes {}", gone.join(", ")),
        ));
    }
    let settled = cur.nodes.iter().all(|n| n.state == McNodeState::Available);
    // A cluster deleted while this step ran stays deleted: its next step removes it.
    if settled && !failed && !matches!(cur.status, McStatus::Available | McStatus::Deleting) {
        if cur.status == McStatus::Creating {
            events.push(NewEvent::cluster(&cur.id, "Cache cluster created"));
        }
        cur.status = McStatus::Available;
    }
    events
}

impl Step {
    /// What the nodes of a Memcached cluster of `node_type` run with under `pg`; `InvalidParameterCombination`
    /// when memcached could not start with its values on that node type.
    pub(crate) fn memcached_params_of(
        &self,
        pg: &ParameterGroup,
        node_type: &str,
    ) -> Result<MemcachedParams> {
        let family = Family::of(&pg.family)
            .filter(Family::is_memcached)
            .ok_or_else(|| {
                combination(format!(
                    "Parameter group {} is of family {}, not a Memcached family.",
                    pg.name, pg.family
                ))
            })?;
        crate::rules::parameters::memcached_params(&family, node_type, |s| pg.value(s).0)
            .map_err(|e| combination(format!("Parameter group {}: {e}", pg.name)))
    }
}

impl Step {
    /// Moves each node of `c` whose host is lost, and which answers nothing at its address now, to another host (its
    /// zone's if one is left, else the zone with fewest of the cluster's nodes), to be started there empty; the
    /// cluster as it is then, when any moved.
    async fn replace_lost_memcached_nodes(
        &self,
        c: &MemcachedCluster,
    ) -> Result<Option<MemcachedCluster>> {
        let on_lost: Vec<&McNode> = {
            let st = self.state();
            c.nodes
                .iter()
                .filter(|n| {
                    n.host
                        .as_ref()
                        .is_some_and(|h| st.hosts.get(&h.name).is_some_and(|x| x.lost.is_some()))
                })
                .collect()
        };
        // Nodes being removed are dropped (the host's sweep removes their directories if it comes back); the others
        // move.
        let (mut moving, mut dropping) = (Vec::new(), Vec::new());
        for n in on_lost {
            // A node of a host cut off from the daemons that still serves is left where it is.
            if !self
                .nodes()
                .accepts(SocketAddr::new(n.address, c.port))
                .await
            {
                match n.state {
                    McNodeState::Deleting => dropping.push(n.id.clone()),
                    _ => moving.push(n.id.clone()),
                }
            }
        }
        if moving.is_empty() && dropping.is_empty() {
            return Ok(None);
        }
        let id = c.id.clone();
        self.commit(|tx| {
            let Some(mut cur) = tx.memcached.get(&id).cloned() else {
                return Ok(None);
            };
            let mut taken = crate::state::taken_addresses(tx);
            let mut events = Vec::new();
            let before = cur.nodes.len();
            cur.nodes.retain(|n| !dropping.contains(&n.id));
            if cur.nodes.len() != before {
                events.push(NewEvent::cluster(
                    &id,
                    format!("Removed cache nodes {}", dropping.join(", ")),
                ));
            }
            for nid in &moving {
                let Some(n) = cur.nodes.iter().find(|n| n.id == *nid).cloned() else {
                    continue;
                };
                let others: Vec<String> = cur
                    .nodes
                    .iter()
                    .filter(|x| x.id != *nid)
                    .filter_map(|x| x.host.as_ref().map(|h| h.name.clone()))
                    .collect();
                let others: Vec<&str> = others.iter().map(String::as_str).collect();
                let existing: Vec<&str> = cur.nodes.iter().map(|x| x.zone.as_str()).collect();
                let placed = crate::state::place_replacement(
                    tx, &n.zone, &existing, &others, cur.port, &mut taken,
                );
                let Some((zone, (address, host))) = placed else {
                    tracing::warn!(cluster = %id, node = %nid, "no host can take the replacement of the node yet");
                    continue;
                };
                let name = |h: &Option<engine::spec::NodeHost>| {
                    h.as_ref().map_or_else(String::new, |h| h.name.clone())
                };
                events.push(NewEvent::cluster(
                    &id,
                    format!(
                        "Cache node {nid} replaced: its host {} was lost; the new node runs on host {} in {zone}",
                        name(&n.host),
                        name(&host)
                    ),
                ));
                if let Some(x) = cur.nodes.iter_mut().find(|x| x.id == *nid) {
                    x.address = address;
                    x.host = host;
                    x.zone = zone;
                    x.state = McNodeState::Creating;
                    x.replacing = true;
                    x.booted = None;
                    x.memory_mib = None;
                }
            }
            if events.is_empty() {
                return Ok(None);
            }
            tx.store.put_memcached(&cur, now(), &events)?;
            tx.memcached.insert(id.clone(), cur.clone());
            Ok(Some(cur))
        })
    }

    /// Applies a change of nodes to `c` (in `st`'s view of addresses): new nodes in `zones`, `remove`d nodes
    /// marked for removal. The reconciler starts and stops them.
    pub(crate) fn apply_node_changes(
        &self,
        st: &State,
        c: &mut MemcachedCluster,
        zones: &[String],
        remove: &[String],
        t: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let mut taken = crate::state::taken_addresses(st);
        for zone in zones {
            let placed: Vec<String> = c.hosts().into_iter().map(str::to_string).collect();
            let placed: Vec<&str> = placed.iter().map(String::as_str).collect();
            let (address, host) =
                crate::state::place_node(st, zone, &placed, true, c.port, &mut taken)?;
            c.nodes.push(McNode {
                id: MemcachedCluster::node_id(c.next_node),
                zone: zone.clone(),
                address,
                created: t,
                state: McNodeState::Creating,
                booted: None,
                memory_mib: None,
                host,
                replacing: false,
            });
            c.next_node += 1;
        }
        for n in c.nodes.iter_mut().filter(|n| remove.contains(&n.id)) {
            n.state = McNodeState::Deleting;
        }
        if !zones.is_empty() || !remove.is_empty() {
            c.status = McStatus::Modifying;
        }
        Ok(())
    }
}
