//! Changes applied in the maintenance window, and rolling engine upgrades.

use super::*;
use crate::error::combination;
use crate::model::GroupStatus;
use crate::model::Member;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::rules::node_types;
use crate::Arc;
use std::time::Duration;
use std::time::Instant;

impl Step {
    /// Applies the changes that waited for the maintenance window.
    pub(crate) async fn apply_pending(
        &self,
        g: &ReplicationGroup,
        work: crate::model::PendingChanges,
    ) -> Result<()> {
        let mut events = Vec::new();
        let mut node_type = work.cache_node_type.clone();
        if let Some(t) = &node_type {
            let bytes = node_types::maxmemory(t).unwrap_or(0);
            if let Err(e) = self.check_fits_now(g, t, bytes).await {
                events.push(NewEvent::group(
                    &g.id,
                    format!("Could not apply the pending change of cache node type to {t} in the maintenance window: {e}"),
                ));
                node_type = None;
            }
        }
        let engine_version = work.engine_version.clone();
        self.update_group(&g.id, |cur| {
            if let Some(v) = engine_version {
                let (a, b) = crate::rules::windows::upgrade_ends(
                    (&cur.engine, &cur.engine_version),
                    work.engine.as_deref(),
                    &v,
                );
                events.push(NewEvent::group(
                    &cur.id,
                    format!(
                        "Modified replication group {}: engine upgrade from {a} to {b} started in the maintenance window",
                        cur.id,
                    ),
                ));
                cur.upgrading_to = Some(v);
                cur.upgrading_engine = work.engine.clone();
                cur.status = GroupStatus::Modifying;
            }
            if let Some(t) = node_type {
                events.push(NewEvent::group(
                    &cur.id,
                    format!(
                        "Modified replication group {}: cache node type changed to {t} in the maintenance window",
                        cur.id
                    ),
                ));
                cur.cache_node_type = t;
                cur.status = GroupStatus::Modifying;
            }
            cur.pending = Default::default();
            events
        })?;
        self.refresh_roles_soon(&g.id);
        Ok(())
    }

    /// Whether every node `replaced` picks is back: running, (a replica) linked to its primary, its full sync
    /// judged against its deadline, and the data it holds on its disk too. False while one is on its way (roles
    /// are looked at again soon).
    ///
    /// The last condition matters because the next step takes another copy of the data away: a replica that has
    /// just loaded a full sync appends nothing to its append-only file until the rewrite that follows the sync
    /// ends, so were it to die before then (promoted by the switchover meanwhile, say) it would start again
    /// empty, while the node replaced next has discarded its copy.
    pub(crate) async fn replaced_are_back(
        &self,
        g: &ReplicationGroup,
        replaced: impl Fn(&Member) -> bool,
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        let mut back = Vec::new();
        let mut all = Vec::new();
        for m in g.members().filter(|m| replaced(m)) {
            if !self.nodes().health(&m.cluster_id).is_up() {
                return Ok(false);
            }
            let spec = self.node_spec(g, m)?;
            if !g.is_primary(&m.cluster_id) {
                back.push(spec.clone());
            }
            all.push(spec);
        }
        if !self.wait_for_links(g, &back, poke).await? {
            self.refresh_roles_soon(&g.id);
            return Ok(false);
        }
        self.written_to_disk(&all, poke).await
    }

    /// Waits a little (up to [`PROGRESS_LOOK`], less when the monitor pokes the group) until no node of `specs`
    /// has an append-only file rewrite running or waiting. False when one still has (the next step looks again).
    async fn written_to_disk(&self, specs: &[NodeSpec], poke: &Arc<Notify>) -> Result<bool> {
        let until = Instant::now() + PROGRESS_LOOK;
        for spec in specs {
            let mut c = AdminClient::connect_within(
                &spec.node_addr(),
                self.nodes().admin(),
                STEP_COMMAND_TIMEOUT,
            )
            .await?;
            while c.aof_rewriting().await? {
                if Instant::now() >= until {
                    poke.notify_one();
                    return Ok(false);
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                    () = poke.notified() => {
                        poke.notify_one();
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// Takes member `m` (its node's `spec`) out of service to replace it: readers leave it first, what they asked it
    /// is answered, then it stops cleanly.
    pub(crate) async fn take_out(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        spec: &NodeSpec,
    ) -> Result<()> {
        self.nodes().update(&m.cluster_id, |o| o.role = None);
        let current = self.state().groups.get(&g.id).cloned();
        if let Some(cur) = current {
            self.ensure_endpoints(&cur).await?;
            tokio::time::sleep(engine::endpoint::DRAIN).await;
        }
        self.stop_member(spec, Stop::Graceful).await;
        Ok(())
    }

    /// One step of a rolling engine upgrade to `target` (of [`ReplicationGroup::upgrading_engine`], else of the
    /// group's engine): replicas are replaced one at a time (stopped cleanly and
    /// started by the next step on the new binary from their data, then resynced); when only the primary is left,
    /// a planned switchover hands its role to an upgraded replica, and it is replaced in turn; a group without
    /// replicas has its primary restarted in place. Returns true when it changed something.
    pub(crate) async fn upgrade_step(
        &self,
        g: &ReplicationGroup,
        target: &str,
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        let target_engine = g
            .upgrading_engine
            .clone()
            .unwrap_or_else(|| g.engine.clone());
        let upgraded = |m: &Member| g.release_of(m) == (target_engine.as_str(), target);
        if !self.replaced_are_back(g, upgraded, poke).await? {
            return Ok(false);
        }
        // Every shard's replicas first; then, shard by shard, the primary hands its role to an upgraded replica.
        let mut replace = g.replicas().find(|m| !upgraded(m)).cloned();
        if replace.is_none() {
            for shard in &g.shards {
                let Some(p) = shard.primary().filter(|p| !upgraded(p)) else {
                    continue;
                };
                if let Some(r) = shard.replicas().find(|m| upgraded(m)) {
                    let (sid, to) = (shard.id.clone(), r.cluster_id.clone());
                    self.update_group(&g.id, |cur| {
                        if let Some(s) = cur.shard_mut(&sid) {
                            s.switchover_to = Some(to);
                        }
                        vec![]
                    })?;
                    return Ok(true);
                }
                replace = Some(p.clone());
                break;
            }
        }
        match replace {
            Some(m) => {
                tracing::info!(group = %g.id, node = %m.cluster_id, %target, "upgrading node");
                let spec = self.node_spec(g, &m)?;
                let id = m.cluster_id.clone();
                let version = target.to_string();
                self.update_group(&g.id, |cur| {
                    if let Some(x) = cur.member_mut(&id) {
                        x.engine_version = Some(version.clone());
                        x.engine = Some(target_engine.clone());
                    }
                    vec![NewEvent::cluster(
                        &id,
                        format!(
                            "Upgrading cache node 0001 to {target_engine} engine version {version}"
                        ),
                    )]
                })?;
                self.take_out(g, &m, &spec).await?;
                // A replica restarted on another engine cannot resume its link (its replication id is not kept
                // with an append-only file): it full-syncs whatever it holds. Loading its own copy first would only
                // double the time; it starts empty instead, kept out of the reader endpoint and out of failover
                // choices until synced. A primary (a group without replicas) keeps its data, of course.
                if !g.is_primary(&m.cluster_id) {
                    self.nodes()
                        .change_dir(&spec, crate::workflows::host::DirChange::DiscardData)
                        .await?;
                }
            }
            None => {
                let version = target.to_string();
                self.update_group(&g.id, |cur| {
                    let (from_engine, from_version) =
                        (cur.engine.clone(), cur.engine_version.clone());
                    let (from, to) = crate::rules::windows::upgrade_ends(
                        (&cur.engine, &cur.engine_version),
                        Some(&target_engine),
                        &version,
                    );
                    cur.engine_version = version.clone();
                    cur.engine = target_engine.clone();
                    for x in cur.members_mut() {
                        x.engine_version = None;
                        x.engine = None;
                    }
                    cur.upgrading_to = None;
                    cur.upgrading_engine = None;
                    // A group named for the new family, or the new family's default group when the group
                    // used a default one; a group of the same family stays.
                    let same_family =
                        crate::rules::versions::parameter_group_family(&cur.engine, &version)
                            == crate::rules::versions::parameter_group_family(
                                &from_engine,
                                &from_version,
                            );
                    if let Some(p) = cur.next_parameter_group.take() {
                        cur.cache_parameter_group = p;
                    } else if !same_family {
                        cur.cache_parameter_group = crate::rules::versions::default_parameter_group(
                            &cur.engine,
                            &version,
                            cur.cluster_mode.runs_cluster(),
                        );
                    }
                    vec![NewEvent::group(
                        &cur.id,
                        format!(
                            "Upgraded the engine of replication group {} from {from} to {to}",
                            cur.id
                        ),
                    )]
                })?;
            }
        }
        Ok(true)
    }
}

impl Step {
    /// Refuses a node type whose memory cannot hold what the group's nodes use now, read from them now (a change
    /// applied in the maintenance window, long after it was accepted).
    pub(crate) async fn check_fits_now(
        &self,
        g: &ReplicationGroup,
        node_type: &str,
        bytes: u64,
    ) -> Result<()> {
        // Every shard's primary must fit; the fullest decides.
        let used = self.used_memory(g).await?;
        if used > bytes {
            return Err(combination(format!(
                "Cannot scale replication group {} to {node_type}: its nodes use {used} bytes, more than the {bytes} bytes of memory of {node_type}.",
                g.id
            )));
        }
        Ok(())
    }
}

impl Step {
    /// What the fullest primary of `g` uses now (`used_memory`).
    pub(crate) async fn used_memory(&self, g: &crate::model::ReplicationGroup) -> Result<u64> {
        let mut used = 0;
        for p in g.primaries() {
            let addr = g.admin_addr(p, &self.inner.settings.data_dir);
            let mut c = engine::admin::AdminClient::connect(&addr, self.nodes().admin()).await?;
            let info = c.info("memory").await?;
            used = used.max(
                info.get("used_memory")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            );
        }
        Ok(used)
    }
}
