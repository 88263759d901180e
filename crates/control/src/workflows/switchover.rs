//! The planned switchover of a primary (`PrimaryClusterId`, and the last step of a rolling upgrade).

use super::*;
use crate::model::Member;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::Shard;
use crate::ControlError;
use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

impl Step {
    /// A planned switchover of `shard`'s primary to `target`, in an order that never has two primaries, whatever
    /// fails and whenever the daemon dies:
    ///
    /// 1. writes pause on the old primary (`CLIENT PAUSE WRITE` for [`SWITCHOVER_PAUSE`]; should the daemon die
    ///    here, the pause ends by itself and the old primary carries on);
    /// 2. the target catches up with the old primary's offset (within half the pause; if it does not, the pause
    ///    is lifted and the switchover given up);
    /// 3. the old primary is **demoted first** (`REPLICAOF` the target): from here on it takes no write, and its
    ///    waiting writes will be answered `READONLY`; a daemon dying here leaves no primary for a moment, and the
    ///    next attempt, seeing the old primary following the target, promotes the target;
    /// 4. the target is promoted (`REPLICAOF NO ONE`); the old primary resyncs from it partially;
    /// 5. the store records the new primary, the primary endpoint's address moves (released by the old node,
    ///    taken by the new at once; the old one's connections on it closed), the pause is lifted.
    ///
    /// Each attempt first reads what the nodes say and carries on from there, and role corrections leave the two
    /// nodes alone until the store records the new primary ([`Shard::switching`]). A failure before step 4 puts the
    /// old primary back (it is promoted again only while the target is not a primary); after it, the switchover is
    /// finished by the next attempt.
    pub(crate) async fn switch_over(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        target: &str,
    ) -> Result<()> {
        let sid = shard.id.clone();
        let (Some(old), Some(new)) = (shard.primary().cloned(), shard.member(target).cloned())
        else {
            return self.update_group(&g.id, |g| {
                if let Some(s) = g.shard_mut(&sid) {
                    s.switchover_to = None;
                }
                vec![]
            });
        };
        let old_spec = self.node_spec(g, &old)?;
        if old_spec.cluster.is_some() {
            return self.cluster_switch_over(g, shard, &old, &new).await;
        }
        let mut switched = g.clone();
        if let Some(s) = switched.shard_mut(&sid) {
            s.primary_cluster_id = new.cluster_id.clone();
            s.switchover_to = None;
        }
        let new_spec = self.node_spec(&switched, &new)?;
        let demoted_spec = self.node_spec(&switched, &old)?;
        // Where the target's own followers reach it, and where the old primary must follow it.
        let Some(follow_target) = demoted_spec.replica_of else {
            return Err(ControlError::Internal(
                "a demoted primary follows no one".into(),
            ));
        };
        let timeout = engine::admin::COMMAND_TIMEOUT;
        let mut c =
            AdminClient::connect_within(&old_spec.node_addr(), self.nodes().admin(), timeout)
                .await?;
        let mut n =
            AdminClient::connect_within(&new_spec.node_addr(), self.nodes().admin(), timeout)
                .await?;
        // A pause an interrupted attempt left on the target (the primary of an earlier switchover) would also
        // hold back its replication stream (a paused replica applies no write): lift it first.
        n.unpause().await?;
        if !self
            .hand_over(g, shard, &new, &mut c, &mut n, follow_target)
            .await?
        {
            return Ok(());
        }
        // The target is the primary: record it, then move what is the control plane's to move.
        self.record_switchover(g, &sid, &old, &new)?;
        if g.dual_stack.is_none() {
            c.set_binds(&demoted_spec.binds()).await?;
            take_addresses(&mut n, &new_spec).await?;
            self.close_primary_clients(g, &mut c, &old_spec).await?;
        }
        // Forwarding endpoints (a dual-stack group's) move too; then the writes that waited are answered.
        self.ensure_endpoints(&switched).await?;
        let _ = c.unpause().await;
        let role = n.role().await?;
        self.nodes()
            .update(&new.cluster_id, |o| o.role = Some(role));
        // The other replicas follow the new primary now; the next refresh checks everything.
        self.follow_new_primary(&switched, &sid, &old, &new).await;
        self.refresh_roles_soon(&g.id);
        Ok(())
    }

    /// Closes the connections of the primary endpoint's clients to the old primary (`c`, its spec `old_spec`), so
    /// that they connect again, to the new primary: those to the floating address; in a group whose endpoints are
    /// names, the customers' connections to the old primary's own address (they resolve the primary name again,
    /// which names the new primary since the switchover was recorded).
    async fn close_primary_clients(
        &self,
        g: &ReplicationGroup,
        c: &mut AdminClient,
        old_spec: &NodeSpec,
    ) -> Result<()> {
        for port in client_ports(old_spec) {
            if self.names_for(g).is_some() {
                let at = SocketAddr::new(old_spec.bind, port);
                c.kill_customer_clients_on(at, &self.nodes().admin().user)
                    .await?;
            } else {
                c.kill_clients_on(SocketAddr::new(g.primary_endpoint, port))
                    .await?;
            }
        }
        Ok(())
    }

    /// Steps 1 to 4 of a switchover, from the roles the old primary (`c`) and the target `new` (`n`) report: true
    /// when the target is the primary, false when the switchover was given up (the old primary stays, an event
    /// says why).
    async fn hand_over(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        new: &Member,
        c: &mut AdminClient,
        n: &mut AdminClient,
        follow_target: SocketAddr,
    ) -> Result<bool> {
        match (c.role().await?, n.role().await?) {
            (Role::Primary { .. }, Role::Replica { .. }) => {
                return self
                    .demote_then_promote(g, shard, new, c, n, follow_target)
                    .await;
            }
            // An earlier attempt demoted the old primary and died before promoting the target: the target has
            // every write the old primary acknowledged (it caught up while writes were paused).
            (Role::Replica { primary, .. }, Role::Replica { .. })
                if primary == Some(follow_target) =>
            {
                tracing::info!(group = %g.id, target = %new.cluster_id, "finishing an interrupted switchover");
                n.replicaof(None).await?;
            }
            (Role::Replica { .. }, Role::Primary { .. }) => {}
            (Role::Primary { .. }, Role::Primary { .. }) => {
                // Not something this switchover leaves: resolve it to the primary the store names, and try again.
                tracing::warn!(group = %g.id, target = %new.cluster_id, "two primaries; demoting the target");
                n.replicaof(self.node_spec(g, new)?.replica_of).await?;
                return Err(ControlError::Internal(format!(
                    "{} was a primary too; made a replica again",
                    new.cluster_id
                )));
            }
            (old_role, new_role) => {
                return Err(ControlError::Internal(format!(
                    "switchover of {}: unexpected roles {old_role:?} / {new_role:?}",
                    g.id
                )))
            }
        }
        Ok(true)
    }

    /// Steps 1 to 4 from the start: writes paused on the old primary `c`, the target `n` caught up, the old primary
    /// demoted, the target promoted. True when the target is the primary; false when the old primary was put back
    /// (the switchover given up).
    async fn demote_then_promote(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        new: &Member,
        c: &mut AdminClient,
        n: &mut AdminClient,
        follow_target: SocketAddr,
    ) -> Result<bool> {
        c.pause_writes(SWITCHOVER_PAUSE.as_millis() as u64).await?;
        let handed = async {
            catch_up(c, n, &new.cluster_id).await?;
            c.replicaof(Some(follow_target)).await?;
            Ok::<(), ControlError>(())
        }
        .await;
        if let Err(e) = handed {
            // Not demoted, or demoted while the target is still a replica: the old primary stays.
            if !matches!(n.role().await, Ok(Role::Primary { .. })) {
                let _ = c.replicaof(None).await;
            }
            let _ = c.unpause().await;
            self.switchover_failed(g, shard, &new.cluster_id, &e.to_string())?;
            return Ok(false);
        }
        if let Err(e) = n.replicaof(None).await {
            if !matches!(n.role().await, Ok(Role::Primary { .. })) {
                let _ = c.replicaof(None).await;
                let _ = c.unpause().await;
                self.switchover_failed(g, shard, &new.cluster_id, &e.to_string())?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Points the replicas of shard `sid` (but the old primary `old`) at the new primary `new`, as best it can.
    async fn follow_new_primary(
        &self,
        switched: &ReplicationGroup,
        sid: &str,
        old: &Member,
        new: &Member,
    ) {
        for m in switched.shard(sid).into_iter().flat_map(|s| s.replicas()) {
            if m.cluster_id == old.cluster_id {
                continue;
            }
            if let Ok(mut r) = AdminClient::connect_within(
                &switched.admin_addr(m, &self.inner.settings.data_dir),
                self.nodes().admin(),
                STEP_COMMAND_TIMEOUT,
            )
            .await
            {
                let _ = r.replicaof(Some(switched.link_addr(new, m.ipv6))).await;
            }
        }
    }

    /// The planned switchover of a shard whose nodes run Redis Cluster: Redis's own (`CLUSTER FAILOVER` on the
    /// target, see [`AdminClient::cluster_manual_failover`]), which pauses the old primary, waits for the target to
    /// catch up and hands the slots over with a new epoch. Then the store records the new primary, and with
    /// cluster mode `compatible` the primary endpoint's address moves.
    async fn cluster_switch_over(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        old: &Member,
        new: &Member,
    ) -> Result<()> {
        let mut switched = g.clone();
        if let Some(s) = switched.shard_mut(&shard.id) {
            s.primary_cluster_id = new.cluster_id.clone();
            s.switchover_to = None;
        }
        let new_spec = self.node_spec(&switched, new)?;
        let mut n = AdminClient::connect_within(
            &new_spec.node_addr(),
            self.nodes().admin(),
            engine::admin::COMMAND_TIMEOUT,
        )
        .await?;
        if !matches!(n.role().await?, Role::Primary { .. }) {
            n.cluster_manual_failover().await?;
            let deadline = Instant::now() + SWITCHOVER_PAUSE * 2;
            while !matches!(n.role().await?, Role::Primary { .. }) {
                if Instant::now() > deadline {
                    return self.switchover_failed(
                        g,
                        shard,
                        &new.cluster_id,
                        &format!(
                            "CLUSTER FAILOVER on {} did not finish within {} s",
                            new.cluster_id,
                            (SWITCHOVER_PAUSE * 2).as_secs()
                        ),
                    );
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self.record_switchover(g, &shard.id, old, new)?;
        if switched.cluster_mode.has_primary_endpoint() {
            let old_spec = self.node_spec(&switched, old)?;
            if let Ok(mut c) = AdminClient::connect_within(
                &old_spec.node_addr(),
                self.nodes().admin(),
                STEP_COMMAND_TIMEOUT,
            )
            .await
            {
                c.set_binds(&old_spec.binds()).await?;
                // Plain clients of the primary endpoint reconnect (to the new primary) rather than be redirected.
                self.close_primary_clients(g, &mut c, &old_spec).await?;
            }
            take_addresses(&mut n, &new_spec).await?;
        }
        self.ensure_endpoints(&switched).await?;
        let role = n.role().await?;
        self.nodes()
            .update(&new.cluster_id, |o| o.role = Some(role));
        self.refresh_roles_soon(&g.id);
        Ok(())
    }

    /// Records `new` as the primary of shard `sid` (the switchover from `old` done), with its events.
    fn record_switchover(
        &self,
        g: &ReplicationGroup,
        sid: &str,
        old: &Member,
        new: &Member,
    ) -> Result<()> {
        let message = format!(
            "Primary changed from {} to {} (planned switchover)",
            old.cluster_id, new.cluster_id
        );
        self.update_group(&g.id, |cur| {
            if let Some(s) = cur.shard_mut(sid) {
                s.primary_cluster_id = new.cluster_id.clone();
                s.switchover_to = None;
            }
            vec![
                NewEvent::cluster(&new.cluster_id, message.clone()),
                NewEvent::group(&cur.id, message),
            ]
        })?;
        self.inner.figures.switchover(&g.id);
        Ok(())
    }

    /// Ends a switchover that could not happen: the old primary stays, and an event says why.
    pub(crate) fn switchover_failed(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        target: &str,
        why: &str,
    ) -> Result<()> {
        tracing::warn!(group = %g.id, %target, why, "switchover failed");
        let sid = shard.id.clone();
        self.update_group(&g.id, |g| {
            if let Some(s) = g.shard_mut(&sid) {
                s.switchover_to = None;
            }
            vec![NewEvent::group(
                &g.id,
                format!("Could not switch the primary to {target}: {why}"),
            )]
        })
    }
}

/// With writes paused on the primary `c`, waits until its replica `n` (member `name`) has processed everything the
/// primary has, within half the pause ([`SWITCHOVER_PAUSE`]): from then on, every acknowledged write is on `n`.
pub(crate) async fn catch_up(c: &mut AdminClient, n: &mut AdminClient, name: &str) -> Result<()> {
    let Role::Primary { offset: goal, .. } = c.role().await? else {
        return Err(ControlError::Internal("the primary changed role".into()));
    };
    let deadline = Instant::now() + SWITCHOVER_PAUSE / 2;
    loop {
        match n.role().await? {
            Role::Replica {
                offset,
                link_up: true,
                ..
            } if offset >= goal => return Ok(()),
            seen if Instant::now() > deadline => {
                return Err(ControlError::Internal(format!(
                "{name} did not catch up with the primary (offset {goal}) within {} ms: {seen:?}",
                (SWITCHOVER_PAUSE / 2).as_millis()
            )))
            }
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}
