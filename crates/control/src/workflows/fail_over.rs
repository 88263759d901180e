//! Automatic and test failover of a primary: the budget, the fence, the promotion.

use super::*;
use crate::model::Failover;
use crate::model::Member;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::Shard;
use crate::now;
use crate::rules::failover::Candidate;
use crate::workflows::host::Health;
use crate::ControlError;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// A shard's automatic failovers within the budget's window.
#[derive(Debug, Default)]
pub struct FailoverHistory {
    pub at: std::collections::VecDeque<Instant>,
    /// A held-back failover was reported (one event per episode).
    pub held_back: bool,
}

impl FailoverHistory {
    /// Whether another automatic failover fits `budget` at `now` (forgetting those older than its window).
    pub fn allows(&mut self, now: Instant, budget: crate::FailoverBudget) -> bool {
        while self
            .at
            .front()
            .is_some_and(|t| now.duration_since(*t) >= budget.window)
        {
            self.at.pop_front();
        }
        (self.at.len() as u32) < budget.count
    }
}

/// The key of a shard's failover history: the budget counts per shard, so one shard's failovers never hold
/// back another's.
pub(crate) fn budget_key(g: &ReplicationGroup, shard: &Shard) -> String {
    format!("{}/{}", g.id, shard.id)
}

/// Why a primary's role is handed to a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The primary failed.
    Failure,
    /// `TestFailover`.
    Test,
    /// A change of cluster mode: the primary, paused and caught up with, is restarted in the new mode (marked
    /// converted in the same write that records its successor).
    ModeChange,
}

impl Step {
    pub(crate) fn lock_failovers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, FailoverHistory>> {
        self.inner
            .endpoints
            .failovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the failed primary `p` of `shard` may be failed over automatically now
    /// ([`crate::FailoverBudget`]). When not, says so once in an event.
    pub(crate) fn failover_allowed(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        p: &Member,
    ) -> Result<bool> {
        let budget = self.inner.settings.failover_budget;
        let report = {
            let mut all = self.lock_failovers();
            let h = all.entry(budget_key(g, shard)).or_default();
            if h.allows(Instant::now(), budget) {
                h.held_back = false;
                return Ok(true);
            }
            !std::mem::replace(&mut h.held_back, true)
        };
        if report {
            tracing::warn!(group = %g.id, primary = %p.cluster_id, "automatic failover held back: budget spent");
            let message = format!(
                "Automatic failover of primary node {} held back: {} automatic failovers in the last {} minutes; \
                 the primary is restarted in place",
                p.cluster_id,
                budget.count,
                budget.window.as_secs().div_ceil(60)
            );
            self.add_events(
                now(),
                &[
                    NewEvent::group(&g.id, message.clone()),
                    NewEvent::cluster(&p.cluster_id, message),
                ],
            )?;
        }
        Ok(false)
    }

    /// Fails the primary `old` of `shard` over to its replica with the least lag. The old primary is fenced first: its
    /// process is killed, so it can neither take another write nor keep the primary endpoint's address. It is
    /// then started again by the next step as a replica of the new primary. Returns false when no replica can
    /// take over (nothing is changed then).
    pub(crate) async fn fail_over(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        old: &Member,
        cause: Cause,
    ) -> Result<bool> {
        let test = cause == Cause::Test;
        // The gap a client sees: from the primary's failure (as the monitor saw it), or from now.
        let failed_at = match self.nodes().health(&old.cluster_id) {
            Health::Unresponsive { since } => since,
            _ => Instant::now(),
        };
        let candidates = self.failover_candidates(g, shard).await;
        let Some(choice) =
            crate::rules::failover::choose(&candidates, &old.availability_zone, g.multi_az)
                .cloned()
        else {
            if test {
                self.call_off_test_failover(g, shard)?;
            }
            tracing::warn!(group = %g.id, "primary failed and no replica can take over");
            return Ok(false);
        };
        let old_spec = self.node_spec(g, old)?;
        // Fresh evidence: the monitor's verdict may be a moment old (a stall of the daemon or of the machine
        // ended since). A primary that answers now is not failed over.
        if cause == Cause::Failure && self.answers_again(&old_spec).await {
            tracing::warn!(group = %g.id, primary = %old.cluster_id,
                "failover called off: the primary answers again");
            return Ok(false);
        }
        tracing::warn!(group = %g.id, from = %old.cluster_id, to = %choice.cluster_id, ?cause, "failing over");
        self.fence_failed_primary(old, &old_spec).await?;
        // Record the decision, then carry it out; a crash in between is finished by the next step's
        // corrections.
        self.record_failover(g, shard, old, &choice.cluster_id, cause)?;
        let new = self
            .state()
            .groups
            .get(&g.id)
            .cloned()
            .ok_or_else(|| ControlError::Internal(format!("{} vanished", g.id)))?;
        let member = new
            .member(&choice.cluster_id)
            .cloned()
            .ok_or_else(|| ControlError::Internal("chosen member vanished".into()))?;
        let spec = self.node_spec(&new, &member)?;
        let mut c = AdminClient::connect_within(
            &spec.node_addr(),
            self.nodes().admin(),
            STEP_COMMAND_TIMEOUT,
        )
        .await?;
        let old_id = if spec.cluster.is_some() {
            self.forget_failed_in_other_shards(&new, shard, old, &mut c)
                .await?
        } else {
            None
        };
        c.follow(None, spec.cluster.is_some()).await?;
        take_addresses(&mut c, &spec).await?;
        let role = c.role().await?;
        self.nodes()
            .update(&choice.cluster_id, |o| o.role = Some(role));
        // The failed node leaves the configuration endpoint until it is looked at again: it is started anew (it
        // knows only itself then), and a cluster client that asked it would find no slot served.
        self.nodes()
            .update(&old.cluster_id, |o| o.cluster_map_right = false);
        self.ensure_endpoints(&new).await?;
        self.report_failover(g, old, &choice.cluster_id, cause, failed_at)?;
        // Point the other replicas at the new primary now (the next refresh would, a little later).
        self.repoint_replicas(&new, shard, old, &member, &spec)
            .await;
        if let Some(id) = &old_id {
            self.forget_everywhere(
                &new,
                id,
                new.shard(&shard.id)
                    .into_iter()
                    .flat_map(|s| s.members.iter())
                    .filter(|m| m.cluster_id != old.cluster_id),
            )
            .await;
        }
        self.refresh_roles_soon(&g.id);
        Ok(true)
    }

    /// The replicas of `shard` that may be promoted (up, not rebooting, holding the whole data set), with their
    /// replication offsets as they report them now.
    async fn failover_candidates(&self, g: &ReplicationGroup, shard: &Shard) -> Vec<Candidate> {
        let mut reads = tokio::task::JoinSet::new();
        for m in shard.replicas() {
            if m.rebooting || !self.nodes().health(&m.cluster_id).is_up() {
                continue;
            }
            let addr = g.admin_addr(m, &self.inner.settings.data_dir);
            let admin = self.nodes().admin().clone();
            let m = m.clone();
            reads.spawn(async move {
                let mut c =
                    AdminClient::connect_within(&addr, &admin, STEP_COMMAND_TIMEOUT).await?;
                let info = c.info("replication").await?;
                let role = engine::admin::role_from_info(&info).ok_or_else(|| {
                    engine::EngineError::Other(format!("{} reports no role", m.cluster_id))
                })?;
                // A replica that never finished a sync, or is receiving or loading one, holds none (or only
                // part) of the data: promoting it would lose every key the primary had.
                let link = engine::admin::link_state_from_info(&info);
                let whole = link
                    .is_none_or(|l| l.link_up || (!l.sync_in_progress && l.down_seconds.is_some()))
                    && c.load_progress().await?.is_none();
                Ok::<_, engine::EngineError>((m, role, whole))
            });
        }
        let mut candidates = Vec::new();
        while let Some(r) = reads.join_next().await {
            if let Ok(Ok((m, role, true))) = r {
                let offset = match role {
                    Role::Replica { offset, .. } | Role::Primary { offset, .. } => offset,
                };
                candidates.push(Candidate {
                    cluster_id: m.cluster_id,
                    availability_zone: m.availability_zone,
                    offset,
                });
            }
        }
        candidates
    }

    /// Ends a test failover of `shard` that no replica can carry out, saying so in an event.
    fn call_off_test_failover(&self, g: &ReplicationGroup, shard: &Shard) -> Result<()> {
        let sid = shard.id.clone();
        self.update_group(&g.id, |g| {
            if let Some(s) = g.shard_mut(&sid) {
                s.failover = None;
            }
            vec![NewEvent::group(
                &g.id,
                "Test failover could not proceed: no replica is available to promote",
            )]
        })
    }

    /// Whether the failed primary `old` answers now (then it is not failed over).
    async fn answers_again(&self, old_spec: &NodeSpec) -> bool {
        let pid = self.pid_of(old_spec).await;
        // A node whose process is not known (its pid file lost) cannot be looked at, nor adopted: it is fenced
        // by its address and title, as before.
        match pid {
            Some(pid) => self.nodes().answers_now(old_spec, pid).await,
            None => false,
        }
    }

    /// Fences the old primary and forgets what was observed of it; an error when it cannot be made sure it is gone.
    async fn fence_failed_primary(&self, old: &Member, old_spec: &NodeSpec) -> Result<()> {
        // Fence: nothing is promoted until the old primary is known gone.
        self.nodes().unwatch(&old.cluster_id);
        if !self.fence(old_spec).await {
            return Err(ControlError::Internal(format!(
                "the failed primary {} could not be fenced; no replica is promoted while it may still take writes",
                old.cluster_id
            )));
        }
        self.nodes().update(&old.cluster_id, |o| {
            o.pid = None;
            o.exited = None;
            o.role = None;
            o.load = None;
            o.sync = None;
        });
        Ok(())
    }

    /// Records the decision: `chosen` is the primary of `shard`, which recovers from the failure of `old`.
    fn record_failover(
        &self,
        g: &ReplicationGroup,
        shard: &Shard,
        old: &Member,
        chosen: &str,
        cause: Cause,
    ) -> Result<()> {
        let (sid, chosen, failed) = (shard.id.clone(), chosen.to_string(), old.cluster_id.clone());
        self.update_group(&g.id, |cur| {
            if let Some(s) = cur.shard_mut(&sid) {
                s.primary_cluster_id = chosen;
                s.failover = Some(Failover::Recovering {
                    failed: failed.clone(),
                });
            }
            if cause == Cause::ModeChange {
                if let Some(m) = cur.member_mut(&failed) {
                    m.converted = true;
                }
            }
            vec![]
        })
    }

    /// With Redis Cluster, the nodes of the other shards forget the failed primary (as the promoted replica,
    /// connected by `c`, knows it); returns its node id when known.
    async fn forget_failed_in_other_shards(
        &self,
        new: &ReplicationGroup,
        shard: &Shard,
        old: &Member,
        c: &mut AdminClient,
    ) -> Result<Option<String>> {
        // With Redis Cluster, the other nodes forget the failed primary first: its slots are then unserved in their
        // view, and the broadcast of the takeover gives them to the new primary at once, whatever the two nodes'
        // epochs (Redis's takeover does not always raise the new primary's; with equal epochs the others would keep
        // the failed one as owner).
        // The failed primary as the promoted replica knows it: by its address, else as the one it follows.
        let old_addr = new.tcp_addr(old);
        let view = c.cluster_nodes().await?;
        let known = view
            .iter()
            .find(|n| n.addr == Some(old_addr) && !n.myself)
            .map(|n| n.id.clone())
            .or_else(|| {
                engine::cluster::myself(&view)
                    .ok()
                    .and_then(|me| me.primary_id.clone())
            });
        if let Some(id) = &known {
            self.forget_everywhere(
                new,
                id,
                new.members().filter(|m| {
                    new.shard_of(&m.cluster_id)
                        .is_some_and(|s| s.id != shard.id)
                }),
            )
            .await;
        }
        Ok(known)
    }

    /// Says the failover from `old` to `chosen` is done: events, and the failover (or switchover) metrics.
    fn report_failover(
        &self,
        g: &ReplicationGroup,
        old: &Member,
        chosen: &str,
        cause: Cause,
        failed_at: Instant,
    ) -> Result<()> {
        let message = match cause {
            Cause::ModeChange => format!(
                "Primary changed from {} to {} (cluster mode change)",
                old.cluster_id, chosen
            ),
            _ => format!(
                "Failover from primary node {} to replica node {} completed",
                old.cluster_id, chosen
            ),
        };
        self.add_events(
            now(),
            &[
                NewEvent::cluster(&old.cluster_id, message.clone()),
                NewEvent::group(&g.id, message),
            ],
        )?;
        match cause {
            Cause::Failure => self
                .inner
                .figures
                .failover(&g.id, "automatic", failed_at.elapsed()),
            Cause::Test => self
                .inner
                .figures
                .failover(&g.id, "test", failed_at.elapsed()),
            Cause::ModeChange => self.inner.figures.switchover(&g.id),
        }
        Ok(())
    }

    /// Points the other up replicas of `shard` at the new primary `member` (a failure is retried by a later step).
    async fn repoint_replicas(
        &self,
        new: &ReplicationGroup,
        shard: &Shard,
        old: &Member,
        member: &Member,
        spec: &NodeSpec,
    ) {
        for m in new.shard(&shard.id).into_iter().flat_map(|s| s.replicas()) {
            if m.cluster_id == old.cluster_id || !self.nodes().health(&m.cluster_id).is_up() {
                continue;
            }
            let target = new.follow_addr(member, m);
            match AdminClient::connect_within(
                &new.admin_addr(m, &self.inner.settings.data_dir),
                self.nodes().admin(),
                STEP_COMMAND_TIMEOUT,
            )
            .await
            {
                Ok(mut c) => {
                    if let Err(e) = c.follow(Some(target), spec.cluster.is_some()).await {
                        tracing::warn!(node = %m.cluster_id, error = %e, "re-pointing replica failed; will retry");
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %m.cluster_id, error = %e, "re-pointing replica failed; will retry")
                }
            }
        }
    }

    /// Fences the node of `spec`: kills every process that is it (the pid the daemon knows, the pid file's, and
    /// any `redis-server` titled with its address, for a node whose pid file is gone), then makes sure nothing
    /// accepts connections on its addresses any more. False when either cannot be made sure.
    pub(crate) async fn fence(&self, spec: &NodeSpec) -> bool {
        let mut pids: Vec<u32> = self
            .nodes()
            .observed(&spec.name)
            .and_then(|o| o.pid)
            .into_iter()
            .chain(self.nodes().pid_file(spec).await)
            .collect();
        let ports = client_ports(spec);
        for port in &ports {
            pids.extend(
                self.nodes()
                    .pids_serving(spec, SocketAddr::new(spec.bind, *port))
                    .await,
            );
        }
        pids.sort_unstable();
        pids.dedup();
        tracing::debug!(node = %spec.name, ?pids, "fencing");
        for pid in pids {
            if !self.nodes().kill_now(spec, pid).await {
                tracing::error!(node = %spec.name, pid, "fence failed: the process did not die");
                return false;
            }
        }
        for addr in spec.binds() {
            for port in &ports {
                let at = SocketAddr::new(addr, *port);
                if self.nodes().accepts(at).await {
                    tracing::error!(node = %spec.name, %at, "fence failed: something still accepts on the node's address");
                    return false;
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use std::time::Instant;

    #[test]
    fn failover_budget_counts_within_its_window() {
        let budget = crate::FailoverBudget {
            count: 2,
            window: Duration::from_secs(600),
        };
        let t0 = Instant::now();
        let mut h = FailoverHistory::default();
        assert!(h.allows(t0, budget));
        h.at.push_back(t0);
        assert!(h.allows(t0 + Duration::from_secs(1), budget));
        h.at.push_back(t0 + Duration::from_secs(1));
        assert!(!h.allows(t0 + Duration::from_secs(599), budget));
        // The first leaves the window: one more fits.
        assert!(h.allows(t0 + Duration::from_secs(600), budget));
        assert_eq!(h.at.len(), 1);
    }
}
