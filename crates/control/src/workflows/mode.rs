//! A change of cluster mode (`ModifyReplicationGroup` `ClusterMode`, `disabled` ⇄ `compatible`): the nodes are
//! restarted in the new mode one at a time, with 0 acknowledged writes lost.
//!
//! 1. Each replica in turn leaves the reader endpoint, stops, and starts again empty in the new mode; it full-syncs
//!    from the primary before the next one goes. A replica that runs Redis Cluster cannot `REPLICAOF` a primary
//!    that does not: it starts from a cluster state naming a stand-in for the primary (see
//!    `engine::cluster::seed_state`) and replicates the primary all the same. Going back, a plain replica follows a
//!    Redis Cluster primary as any replica does.
//! 2. When every replica runs the new mode, the primary's writes pause, the replica with its data catches up, and
//!    the primary's role is handed over as in a failover (fence, promote: `CLUSTER FAILOVER TAKEOVER` or
//!    `REPLICAOF NO ONE`; the primary endpoint's address moves); the old primary starts again empty in the new mode
//!    as a replica.
//! 3. When every node runs the new mode (and, for `compatible`, the cluster is formed: every node knows the others
//!    and the primary serves every slot), the group's mode is the new one.
//!
//! Each step is decided from the stored group and what the nodes say, so a daemon that dies anywhere resumes it.

use super::fail_over::Cause;
use super::*;
use crate::model::ClusterMode;
use crate::model::Member;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::Shard;
use crate::Arc;
use crate::ControlError;

impl Step {
    /// One step of the change of `g`'s cluster mode to `to`. `formed`: the cluster step of this pass found the
    /// cluster formed. Returns true when it changed something.
    pub(crate) async fn mode_step(
        &self,
        g: &ReplicationGroup,
        to: ClusterMode,
        formed: bool,
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        let shard = g.first_shard();
        if !self.replaced_are_back(g, |m| m.converted, poke).await? {
            return Ok(false);
        }
        if let Some(m) = shard.replicas().find(|m| !m.converted) {
            self.restart_in_new_mode(g, m, to).await?;
            return Ok(true);
        }
        let Some(p) = shard.primary() else {
            return Ok(false);
        };
        if !p.converted {
            self.hand_over_for_mode(g, shard, p).await?;
            return Ok(true);
        }
        if shard.failover.is_some() || (to.runs_cluster() && !formed) {
            self.refresh_roles_soon(&g.id);
            return Ok(false);
        }
        self.finish_mode_change(g, to).await?;
        Ok(true)
    }

    /// Stops replica `m`, empties it and marks it converted: the next step starts it, empty, in mode `to`.
    async fn restart_in_new_mode(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        to: ClusterMode,
    ) -> Result<()> {
        tracing::info!(group = %g.id, node = %m.cluster_id, to = to.as_str(), "restarting node in the new cluster mode");
        let spec = self.node_spec(g, m)?;
        // Stopped and emptied first, then marked: a daemon that dies in between finds it down and unmarked, and
        // starts it again in the old mode (the step is then done again); marked first, a node still running in
        // the old mode would count as converted.
        self.take_out(g, m, &spec).await?;
        // Its data is synced again from the primary, and its cluster state (if any) is the old mode's.
        self.nodes()
            .change_dir(
                &spec,
                crate::workflows::host::DirChange::DiscardClusterState,
            )
            .await?;
        let id = m.cluster_id.clone();
        self.update_group(&g.id, |cur| {
            if let Some(x) = cur.member_mut(&id) {
                x.converted = true;
            }
            vec![NewEvent::cluster(
                &id,
                format!(
                    "Restarting cache node 0001 with cluster mode {}",
                    to.as_str()
                ),
            )]
        })?;
        Ok(())
    }

    /// Hands the role of `p`, the last node in the old mode, to a replica that has every write it acknowledged:
    /// its writes pause, a converted replica catches up, then the failover's fence and promotion (which marks `p`
    /// converted with its successor recorded). If the replica does not catch up, the pause is lifted and the next
    /// step tries again.
    async fn hand_over_for_mode(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        p: &Member,
    ) -> Result<()> {
        let timeout = engine::admin::COMMAND_TIMEOUT;
        let mut c = AdminClient::connect_within(
            &g.admin_addr(p, &self.inner.settings.data_dir),
            self.nodes().admin(),
            timeout,
        )
        .await?;
        let mut target = None;
        for r in shard.replicas() {
            if self.nodes().health(&r.cluster_id).is_up() {
                if let Ok(n) = AdminClient::connect_within(
                    &g.admin_addr(r, &self.inner.settings.data_dir),
                    self.nodes().admin(),
                    timeout,
                )
                .await
                {
                    target = Some((r.cluster_id.clone(), n));
                    break;
                }
            }
        }
        let Some((name, mut n)) = target else {
            return Err(ControlError::Internal(format!(
                "no replica of {} answers for the cluster mode change",
                g.id
            )));
        };
        c.pause_writes(SWITCHOVER_PAUSE.as_millis() as u64).await?;
        if let Err(e) = super::switchover::catch_up(&mut c, &mut n, &name).await {
            let _ = c.unpause().await;
            return Err(e);
        }
        if !self.fail_over(g, shard, p, Cause::ModeChange).await? {
            let _ = c.unpause().await;
            return Err(ControlError::Internal(format!(
                "no replica of {} could take the primary's role",
                g.id
            )));
        }
        Ok(())
    }

    /// Every node runs mode `to`: the group's mode is `to`.
    async fn finish_mode_change(&self, g: &ReplicationGroup, to: ClusterMode) -> Result<()> {
        if to.runs_cluster() {
            // The nodes that started replicating a stand-in kept it alive with a long bus timeout: the usual one
            // now, so that a failing node is noticed.
            let timeout = CLUSTER_NODE_TIMEOUT.as_millis().to_string();
            for m in g.members() {
                let mut c = AdminClient::connect_within(
                    &g.admin_addr(m, &self.inner.settings.data_dir),
                    self.nodes().admin(),
                    STEP_COMMAND_TIMEOUT,
                )
                .await?;
                c.config_set("cluster-node-timeout", &timeout).await?;
            }
        }
        let (engine, version) = (g.engine.clone(), g.engine_version.clone());
        self.update_group(&g.id, |cur| {
            let from = cur.cluster_mode;
            cur.cluster_mode = to;
            cur.converting_to = None;
            for m in cur.members_mut() {
                m.converted = false;
            }
            let group = crate::rules::versions::default_parameter_group(
                &engine,
                &version,
                to.runs_cluster(),
            );
            if !to.runs_cluster() {
                cur.configuration_endpoint = None;
                for s in &mut cur.shards {
                    s.slots.clear();
                }
            }
            cur.cache_parameter_group = cur.next_parameter_group.take().unwrap_or(group);
            vec![NewEvent::group(
                &cur.id,
                format!(
                    "Cluster mode of replication group {} changed from {} to {}",
                    cur.id,
                    from.as_str(),
                    to.as_str()
                ),
            )]
        })
    }
}
