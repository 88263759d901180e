//! A node's spec, and starting, watching, stopping and restarting its process.

use super::*;
use crate::model::GroupStatus;
use crate::model::Member;
use crate::model::NewEvent;
use crate::model::ParameterGroup;
use crate::model::ReplicationGroup;
use crate::model::StandaloneCluster;
use crate::now;
use crate::rules;
use crate::rules::node_types;
use crate::rules::parameters::Family;
use crate::rules::parameters::NodeParams;
use crate::rules::versions::parameter_group_family;
use crate::workflows::host::Health;
use crate::workflows::host::{NodeData, Target};
use crate::Arc;
use crate::ControlError;
use std::collections::BTreeMap;
use std::time::Instant;

impl Step {
    /// The data-plane description of a member.
    pub(crate) fn node_spec(&self, g: &ReplicationGroup, m: &Member) -> Result<NodeSpec> {
        let (engine, version) = g.release_of(m);
        let binary = self
            .inner
            .settings
            .binary_for(engine, version)
            .ok_or_else(|| {
                ControlError::Internal(format!("no binary for {engine} version {version}"))
            })?;
        // A member being removed (`DecreaseReplicaCount`) is in no shard any more: it follows no one.
        let shard = g.shard_of(&m.cluster_id);
        let is_primary = shard.is_some_and(|s| s.primary_cluster_id == m.cluster_id);
        // The primary of a migration target follows the source.
        let source = g.migration.as_ref().and_then(|x| x.following());
        let replica_of = if is_primary {
            source
        } else {
            shard.and_then(|s| s.primary()).map(|p| g.follow_addr(p, m))
        };
        // A primary of a single-stack group owns the primary endpoint address (a floating address); in a
        // dual-stack group every node also listens on ::1 and the endpoints are forwarders.
        let extra_binds = match (&g.dual_stack, is_primary) {
            (Some(_), _) => vec![engine::address::IPV6_LOOPBACK],
            // A group whose endpoints are names has no floating address: its primary name moves instead.
            (None, true)
                if g.cluster_mode.has_primary_endpoint() && self.names_for(g).is_none() =>
            {
                vec![g.primary_endpoint]
            }
            (None, _) => vec![],
        };
        let dir = crate::model::node_dir(&self.inner.settings.data_dir, &m.cluster_id);
        let tls = g.transit_encryption.map(|mode| engine::config::NodeTls {
            mode: mode.engine(),
            files: self.inner.tls.files(&dir),
            addresses: [m.address, g.primary_endpoint, g.reader_endpoint]
                .into_iter()
                .chain(g.configuration_endpoint)
                .collect(),
            // A client verifies the name it dialled: the node's own, or an endpoint's that may lead to it (every
            // kind, so that a change of cluster mode needs no new certificate).
            names: self
                .names_for(g)
                .map(|n| {
                    vec![
                        n.node(&g.id, &m.cluster_id),
                        n.primary(&g.id),
                        n.reader(&g.id),
                        n.configuration(&g.id),
                    ]
                })
                .unwrap_or_default(),
        });
        let params = self.node_params(&g.cache_parameter_group, engine, version);
        Ok(NodeSpec {
            name: m.cluster_id.clone(),
            dir,
            bind: m.address,
            extra_binds,
            port: g.node_port(m),
            announce: g.addr_of(m, m.ipv6).ip(),
            follows_external: is_primary && source.is_some(),
            maxmemory: params
                .maxmemory(node_types::maxmemory(&g.cache_node_type).unwrap_or(1 << 29)),
            binary: binary.path.clone(),
            replica_of,
            default_user: match &g.acl {
                Some(acl) => acl.default_user.clone(),
                None => rules::default_user_rules(g.auth.as_ref()),
            },
            tls,
            users: crate::rules::users::node_users(g.acl.as_ref()),
            // A group whose nodes run Redis Cluster, or run on hosts, is loaded once formed (`restore_by_slot`).
            restore_rdb: match (&g.restore_from, g.status, is_primary) {
                (Some(name), GroupStatus::Creating, true) if !g.loads_restore() => {
                    Some(self.snapshot_file(name))
                }
                _ => None,
            },
            engine_version: binary.version_triple(),
            cluster: g.runs_cluster(m).then(|| engine::config::NodeCluster {
                node_timeout_ms: CLUSTER_NODE_TIMEOUT.as_millis() as u64,
                // A replica converted to cluster mode while its primary is not yet (a change of cluster mode).
                seed_primary: shard
                    .and_then(|s| s.primary())
                    .filter(|p| !is_primary && !g.runs_cluster(p))
                    .and(replica_of),
            }),
            settings: params.live,
            boot_settings: params.boot,
            host: m.host.clone(),
        })
    }

    pub(crate) fn standalone_spec(&self, s: &StandaloneCluster) -> Result<NodeSpec> {
        let binary = self
            .inner
            .settings
            .binary_for(&s.engine, &s.engine_version)
            .ok_or_else(|| {
                ControlError::Internal(format!(
                    "no binary for {} version {}",
                    s.engine, s.engine_version
                ))
            })?;
        let dir = crate::model::node_dir(&self.inner.settings.data_dir, &s.member.cluster_id);
        let params = self.node_params(&s.cache_parameter_group, &s.engine, &s.engine_version);
        let tls = s.transit_encryption.map(|mode| engine::config::NodeTls {
            mode: mode.engine(),
            files: self.inner.tls.files(&dir),
            addresses: vec![s.member.address],
            names: vec![],
        });
        Ok(NodeSpec {
            name: s.member.cluster_id.clone(),
            dir,
            bind: s.member.address,
            extra_binds: if s.member.port.is_some() {
                vec![engine::address::IPV6_LOOPBACK]
            } else {
                vec![]
            },
            port: s.port,
            announce: s.member.address,
            follows_external: false,
            maxmemory: params
                .maxmemory(node_types::maxmemory(&s.cache_node_type).unwrap_or(1 << 29)),
            binary: binary.path.clone(),
            replica_of: None,
            default_user: match &s.acl {
                Some(acl) => acl.default_user.clone(),
                None => rules::default_user_rules(s.auth.as_ref()),
            },
            tls,
            users: crate::rules::users::node_users(s.acl.as_ref()),
            restore_rdb: None,
            engine_version: binary.version_triple(),
            cluster: None,
            settings: params.live,
            boot_settings: params.boot,
            host: None,
        })
    }

    /// What the primaries of `g` hold now, as their worker reads them: asks the group's worker to look at its
    /// nodes at once and waits for a look taken after the request (at most [`FRESH_LOOK`]). So an action whose
    /// answer depends on the nodes' data (a node type that must hold it, keys only in database 0, an empty
    /// migration target) answers from the worker's reading and never talks to a node itself.
    pub(crate) async fn fresh_primaries(&self, g: &ReplicationGroup) -> Result<Vec<NodeData>> {
        if !self.leads() {
            return self.read_primaries(g).await;
        }
        let asked = Instant::now();
        for p in g.primaries() {
            self.nodes()
                .update(&p.cluster_id, |o| o.data_wanted = Some(asked));
        }
        self.refresh_roles_soon(&g.id);
        self.poke_group(&g.id);
        loop {
            let fresh: Option<Vec<NodeData>> = g
                .primaries()
                .map(|p| {
                    self.nodes()
                        .observed(&p.cluster_id)
                        .and_then(|o| o.data)
                        .filter(|d| d.at >= asked)
                })
                .collect();
            if let Some(data) = fresh {
                return Ok(data);
            }
            if asked.elapsed() >= FRESH_LOOK {
                return Err(ControlError::GroupStateMessage(format!(
                    "The nodes of replication group {} could not be read within {} seconds (a node may be \
                     restarting or loading its data): try again shortly.",
                    g.id,
                    FRESH_LOOK.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What each primary of `g` holds, read now over its admin connection: how a daemon that does not lead (and
    /// runs no worker) answers what depends on the nodes' data.
    async fn read_primaries(&self, g: &ReplicationGroup) -> Result<Vec<NodeData>> {
        let mut out = Vec::new();
        for p in g.primaries() {
            let spec = self.node_spec(g, p)?;
            let unread = |e: ControlError| {
                ControlError::GroupStateMessage(format!(
                    "The nodes of replication group {} could not be read ({e}): try again shortly.",
                    g.id
                ))
            };
            let mut c =
                AdminClient::connect_within(&spec.node_addr(), self.nodes().admin(), FRESH_LOOK)
                    .await
                    .map_err(|e| unread(e.into()))?;
            let at = Instant::now();
            let memory = c.info("memory").await.map_err(|e| unread(e.into()))?;
            let keyspace = c.info("keyspace").await.map_err(|e| unread(e.into()))?;
            out.push(NodeData::read(at, &memory, &keyspace));
        }
        Ok(out)
    }

    /// Makes sure the node of `spec` runs: the known process, an adopted one from before a restart, or a new one
    /// started from the node's data; and that the monitor watches it. Returns true when it had to start one.
    pub(crate) async fn ensure_node(&self, spec: &NodeSpec, poke: &Arc<Notify>) -> Result<bool> {
        let known = self.nodes().observed(&spec.name);
        if let Some(pid) = known.as_ref().and_then(|o| o.pid) {
            if self.nodes().is_alive(spec, pid) {
                self.watch_node(spec, pid, known.and_then(|o| o.exited), poke);
                return Ok(false);
            }
        }
        if let Some(pid) = self.nodes().adopt(spec).await {
            tracing::info!(node = %spec.name, pid, "adopted running node");
            self.nodes().update(&spec.name, |o| {
                o.pid = Some(pid);
                o.exited = None;
            });
            self.watch_node(spec, pid, None, poke);
            return Ok(false);
        }
        if self
            .inner
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ControlError::Internal(format!(
                "not starting {}: the daemon is stopping",
                spec.name
            )));
        }
        self.ensure_certificate(spec)?;
        let spawned = self.nodes().spawn(spec).await.inspect_err(
            |e| tracing::error!(node = %spec.name, error = %e, "node failed to start"),
        )?;
        tracing::info!(node = %spec.name, pid = spawned.pid, addr = %spec.addr(), "started node");
        self.nodes().update(&spec.name, |o| {
            o.pid = Some(spawned.pid);
            o.exited = Some(spawned.exited.clone());
            o.role = None;
            o.load = None;
            o.sync = None;
            o.cluster_map_right = false;
            // A node starts with every setting of its config: nothing waits for a reboot.
            o.pending_reboot = false;
        });
        // The parameter group's live settings at once, before anything waits on the node.
        if let Err(e) = self.apply_new_node_settings(spec, spawned.pid).await {
            tracing::warn!(node = %spec.name, error = %e, "parameter group not applied yet; the next look will");
        }
        self.watch_node(spec, spawned.pid, Some(spawned.exited), poke);
        Ok(true)
    }

    pub(crate) fn watch_node(
        &self,
        spec: &NodeSpec,
        pid: u32,
        exited: Option<watch::Receiver<bool>>,
        poke: &Arc<Notify>,
    ) {
        self.nodes().watch(Target {
            name: spec.name.clone(),
            host: spec.host.clone(),
            addr: spec.node_addr(),
            pid,
            exited,
            poke: poke.clone(),
        });
    }

    /// True when the node is known to be down: its process is gone, or the monitor found it unresponsive.
    pub(crate) async fn node_down(&self, spec: &NodeSpec) -> bool {
        match self.nodes().health(&spec.name) {
            Health::Gone | Health::Unresponsive { .. } => true,
            Health::Up => self
                .pid_of(spec)
                .await
                .is_none_or(|p| !self.nodes().is_alive(spec, p)),
        }
    }

    /// The pid of the node of `spec`: the one this daemon knows, else its pid file's.
    pub(crate) async fn pid_of(&self, spec: &NodeSpec) -> Option<u32> {
        match self.nodes().observed(&spec.name).and_then(|o| o.pid) {
            Some(pid) => Some(pid),
            None => self.nodes().pid_file(spec).await,
        }
    }

    pub(crate) async fn stop_member(&self, spec: &NodeSpec, how: Stop) {
        self.nodes().unwatch(&spec.name);
        if let Some(pid) = self.pid_of(spec).await {
            let t = Instant::now();
            match how {
                Stop::Graceful => self.nodes().stop(spec, pid, STOP_GRACE).await,
                Stop::Discard => {
                    let _ = self.nodes().kill_now(spec, pid).await;
                }
            }
            tracing::info!(node = %spec.name, pid, millis = t.elapsed().as_millis() as u64, "stopped node");
        }
        self.nodes().forget(&spec.name);
    }

    /// Kills a node stuck on its data (a load or a sync past its deadline) so that it starts again: the next step
    /// restarts it from its own data (or fails over from it), and a replica syncs afresh.
    pub(crate) async fn restart_stuck(&self, spec: &NodeSpec, why: &str) -> Result<()> {
        if let Some(pid) = self.nodes().observed(&spec.name).and_then(|o| o.pid) {
            let _ = self.nodes().kill_now(spec, pid).await;
        }
        self.nodes().update(&spec.name, |o| {
            o.load = None;
            o.sync = None;
        });
        self.add_events(
            now(),
            &[NewEvent::cluster(
                &spec.name,
                format!("Cache node 0001 was restarted: {why}"),
            )],
        )?;
        Ok(())
    }

    /// Stops every node of this daemon (for `--stop-nodes-on-exit`). The store keeps the groups, so a later
    /// start brings them back from their data.
    pub async fn stop_all_nodes(&self) {
        let specs: Vec<NodeSpec> = {
            let st = self.state();
            let mut v: Vec<NodeSpec> = st
                .groups
                .values()
                .flat_map(|g| g.members().filter_map(|m| self.node_spec(g, m).ok()))
                .collect();
            v.extend(
                st.standalone
                    .values()
                    .filter_map(|s| self.standalone_spec(s).ok()),
            );
            v
        };
        let mut set = tokio::task::JoinSet::new();
        for spec in specs {
            let this = self.clone();
            set.spawn(async move { this.stop_member(&spec, Stop::Graceful).await });
        }
        while set.join_next().await.is_some() {}
        self.lock_endpoints().clear();
        self.stop_memcached_nodes().await;
    }
}

impl Step {
    /// What a node of engine `version` runs with under parameter group `group` (the family defaults when the group
    /// is unknown, which no workflow leaves).
    pub(crate) fn node_params(&self, group: &str, engine: &str, version: &str) -> NodeParams {
        let pg = self
            .parameter_group(group)
            .unwrap_or_else(|| ParameterGroup {
                name: group.to_string(),
                family: parameter_group_family(engine, version),
                description: String::new(),
                values: BTreeMap::new(),
            });
        match Family::of(&pg.family) {
            Some(f) => crate::rules::parameters::node_params(&f, version, |s| pg.value(s).0),
            None => NodeParams::default(),
        }
    }
}
