//! Waiting on nodes that are on their way: loads and full syncs judged against their deadlines, and the events of restarts once the node has loaded.

use super::*;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::Shard;
use crate::now;
use crate::rules::progress::Verdict;
use crate::workflows::host::Wait;
use crate::Arc;
use crate::ControlError;
use std::collections::HashMap;
use std::time::Duration;
use std::time::Instant;

impl Step {
    /// Waits a little (up to [`PROGRESS_LOOK`], less when the monitor pokes the group) for the replicas of `specs`
    /// to report their links up. True when all are; false when some are still on their way (waiting for their
    /// primary, receiving a full sync or loading it), and the step ends so the next one looks again at once. A
    /// replica past its deadline ([`crate::rules::progress`]) is restarted, to sync afresh, and the step fails.
    pub(crate) async fn wait_for_links(
        &self,
        g: &ReplicationGroup,
        specs: &[NodeSpec],
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        if specs.iter().all(|s| s.replica_of.is_none()) {
            return Ok(true);
        }
        let until = Instant::now() + PROGRESS_LOOK;
        // What the syncs carry, read once per look and shard (their deadline's size).
        let mut replicas = Vec::new();
        for shard in &g.shards {
            let mine: Vec<&NodeSpec> = specs
                .iter()
                .filter(|s| s.replica_of.is_some() && shard.member(&s.name).is_some())
                .collect();
            if mine.is_empty() {
                continue;
            }
            let size = self.dataset_size(g, shard).await;
            replicas.extend(mine.into_iter().map(|s| (s, size)));
        }
        loop {
            if self.check_links(&replicas).await? {
                return Ok(true);
            }
            if Instant::now() >= until {
                poke.notify_one();
                return Ok(false);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
                () = poke.notified() => {
                    poke.notify_one();
                    return Ok(false);
                }
            }
        }
    }

    /// One look at each replica of `specs`: true when every one reports its link up. Records each one's role and,
    /// for those not linked, how far their sync has got.
    pub(crate) async fn check_links(&self, replicas: &[(&NodeSpec, u64)]) -> Result<bool> {
        let mut all = true;
        for &(spec, size) in replicas {
            let mut c = AdminClient::connect(&spec.node_addr(), self.nodes().admin()).await?;
            let info = c.info("replication").await?;
            let role = engine::admin::role_from_info(&info);
            let up = matches!(role, Some(Role::Replica { link_up: true, .. }));
            if up {
                self.nodes().update(&spec.name, |o| {
                    o.role = role;
                    o.sync = None;
                    o.load = None;
                });
                continue;
            }
            all = false;
            let link = engine::admin::link_state_from_info(&info);
            let load = c.load_progress().await?;
            let now = Instant::now();
            let (phase, done, total) = match (load, link) {
                (Some(p), _) => ("loading", p.loaded_bytes, p.total_bytes),
                (None, Some(l)) if l.sync_in_progress && l.sync_read_bytes > 0 => (
                    "receiving",
                    l.sync_read_bytes,
                    l.sync_total_bytes.unwrap_or(0),
                ),
                _ => ("waiting for the primary", 0, 0),
            };
            let mut wait = None;
            self.nodes().update(&spec.name, |o| {
                o.role = role;
                let w = Wait::next(o.sync.as_ref(), now, phase, done, total, size, None);
                o.load = load.map(|p| Wait::of_load(o.load.as_ref(), now, &p));
                o.sync = Some(w.clone());
                wait = Some(w);
            });
            if let Some(w) = wait {
                let why = match w.verdict(now) {
                    Verdict::OnItsWay => continue,
                    Verdict::Stalled => format!(
                        "no progress for {:?} while {} ({} of its data)",
                        crate::rules::progress::STALL,
                        w.phase,
                        crate::rules::progress::human_bytes(w.done)
                    ),
                    Verdict::Overdue(limit) => format!(
                        "not synced within {limit:?}, the deadline for {} of data",
                        crate::rules::progress::human_bytes(w.size)
                    ),
                };
                self.restart_stuck(spec, &why).await?;
                return Err(ControlError::Internal(format!(
                    "replica {} {why}; restarted to sync again",
                    spec.name
                )));
            }
        }
        Ok(all)
    }

    /// The size in memory of the dataset of `shard`'s primary (what its replicas' full syncs carry), 0 when it
    /// cannot be read.
    pub(crate) async fn dataset_size(&self, g: &ReplicationGroup, shard: &Shard) -> u64 {
        let Some(spec) = shard.primary().and_then(|p| self.node_spec(g, p).ok()) else {
            return 0;
        };
        let read = async {
            let mut c = AdminClient::connect_within(
                &spec.node_addr(),
                self.nodes().admin(),
                STEP_COMMAND_TIMEOUT,
            )
            .await?;
            let info = c.info("memory").await?;
            Ok::<_, engine::EngineError>(
                info.get("used_memory_dataset")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0),
            )
        };
        read.await.unwrap_or(0)
    }

    /// Waits a little (up to [`PROGRESS_LOOK`]) for the nodes of `specs` that were seen loading their data. True
    /// when none is loading any more. A node whose load is past its deadline, or stalled, is killed (restarted,
    /// or failed over, by the next steps) and the step fails.
    pub(crate) async fn loads_done(
        &self,
        g: &ReplicationGroup,
        specs: &[NodeSpec],
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        let loading = |this: &Self| -> Vec<NodeSpec> {
            specs
                .iter()
                .filter(|s| {
                    this.nodes()
                        .observed(&s.name)
                        .is_some_and(|o| o.load.is_some())
                })
                .cloned()
                .collect()
        };
        let mut pending = loading(self);
        if pending.is_empty() {
            return Ok(true);
        }
        let until = Instant::now() + PROGRESS_LOOK;
        loop {
            for spec in &pending {
                let mut c = AdminClient::connect(&spec.node_addr(), self.nodes().admin()).await?;
                self.note_load(&mut c, spec).await?;
                let now = Instant::now();
                let Some(w) = self.nodes().observed(&spec.name).and_then(|o| o.load) else {
                    continue;
                };
                let why = match w.verdict(now) {
                    Verdict::OnItsWay => continue,
                    Verdict::Stalled => format!(
                        "its load made no progress for {:?} ({} of {} read)",
                        crate::rules::progress::STALL,
                        crate::rules::progress::human_bytes(w.done),
                        crate::rules::progress::human_bytes(w.total)
                    ),
                    Verdict::Overdue(limit) => format!(
                        "it did not load {} of data within {limit:?}",
                        crate::rules::progress::human_bytes(w.size)
                    ),
                };
                tracing::warn!(group = %g.id, node = %spec.name, %why, "node stuck loading its data");
                self.restart_stuck(spec, &why).await?;
                return Err(ControlError::Internal(format!(
                    "node {} is stuck loading its data: {why}",
                    spec.name
                )));
            }
            pending = loading(self);
            if pending.is_empty() {
                // Loaded: the next step corrects them at once.
                self.refresh_roles_soon(&g.id);
                poke.notify_one();
                return Ok(false);
            }
            if Instant::now() >= until {
                self.refresh_roles_soon(&g.id);
                poke.notify_one();
                return Ok(false);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
                () = poke.notified() => {
                    self.refresh_roles_soon(&g.id);
                    poke.notify_one();
                    return Ok(false);
                }
            }
        }
    }

    /// Records the nodes restarted by this step: a reboot asked for is done (the member no longer `rebooting`), a
    /// recovery begins (an event). Each one's "restarted" or "finished recovery" event waits until the node has
    /// loaded its data ([`Self::restarts_finished`]); meanwhile a rebooted member still shows as rebooting.
    pub(crate) fn restart_events(
        &self,
        g: &ReplicationGroup,
        restarted: &[String],
        rebooted: &[String],
    ) -> Result<()> {
        {
            let mut pending = self.lock_restarting();
            for c in restarted {
                pending.insert(c.clone(), rebooted.contains(c));
            }
        }
        let events: Vec<NewEvent> = restarted
            .iter()
            .filter(|c| !rebooted.contains(c))
            .map(|c| NewEvent::cluster(c, "Recovering cache nodes 0001"))
            .collect();
        if rebooted.is_empty() {
            self.add_events(now(), &events)?;
            return Ok(());
        }
        let done: Vec<String> = rebooted.to_vec();
        self.update_group(&g.id, move |g| {
            for m in g.members_mut() {
                if done.contains(&m.cluster_id) {
                    m.rebooting = false;
                }
            }
            events
        })
    }

    /// The restarted members of `g` whose nodes have loaded their data: their "restarted" (a reboot) or "finished
    /// recovery" event.
    pub(crate) fn restarts_finished(&self, g: &ReplicationGroup) -> Result<()> {
        let finished: Vec<(String, bool)> = {
            let mut pending = self.lock_restarting();
            let done: Vec<(String, bool)> = g
                .members()
                .filter_map(|m| {
                    let rebooted = *pending.get(&m.cluster_id)?;
                    let o = self.nodes().observed(&m.cluster_id)?;
                    (o.role.is_some() && o.load.is_none()).then(|| (m.cluster_id.clone(), rebooted))
                })
                .collect();
            for (c, _) in &done {
                pending.remove(c);
            }
            done
        };
        if finished.is_empty() {
            return Ok(());
        }
        let events: Vec<NewEvent> = finished
            .iter()
            .map(|(c, rebooted)| {
                if *rebooted {
                    NewEvent::cluster(c, "Cache node 0001 restarted")
                } else {
                    NewEvent::cluster(c, "Finished recovery for cache nodes 0001")
                }
            })
            .collect();
        self.add_events(now(), &events)?;
        Ok(())
    }

    pub(crate) fn lock_restarting(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.inner
            .endpoints
            .restarting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether member `cluster_id` was rebooted and its node is still loading its data.
    pub(crate) fn still_rebooting(&self, cluster_id: &str) -> bool {
        self.lock_restarting()
            .get(cluster_id)
            .copied()
            .unwrap_or(false)
    }
}
