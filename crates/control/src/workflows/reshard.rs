//! Online resharding (`ModifyReplicationGroupShardConfiguration`): slots move from node group to node group in
//! batches ([`engine::cluster::move_slots`]) while clients keep reading and writing; a batch changes hands in the
//! spec as soon as its keys are over, so a daemon that dies resumes with the slots left. When no slot is left to
//! move, the node groups removed are stopped.

use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::Resharding;
use crate::model::Shard;
use crate::ControlError;
use std::time::Duration;
use std::time::Instant;

use super::*;

/// Slots moved together (one pipeline of each of Redis Cluster's steps).
const RESHARD_BATCH: u32 = 1024;
/// How long one step moves slots before it lets the group's other work (a failover) run.
const RESHARD_LOOK: Duration = Duration::from_millis(500);

impl Step {
    /// Moves batches of slots for up to [`RESHARD_LOOK`] — one move per source node group at a time, the moves of
    /// different sources at once (each source's `MIGRATE` waits on its target; several sources keep the target busy)
    /// — or finishes the resharding when no move is left. Returns true when there is more to do at once.
    pub(crate) async fn reshard_step(&self, g: &ReplicationGroup, r: &Resharding) -> Result<bool> {
        if r.moves.is_empty() {
            self.finish_resharding(g)?;
            return Ok(false);
        }
        let mut jobs: Vec<crate::model::SlotMove> = Vec::new();
        for m in &r.moves {
            if !jobs.iter().any(|j| j.from == m.from) {
                jobs.push(m.clone());
            }
        }
        let until = Instant::now() + RESHARD_LOOK;
        let mut set = tokio::task::JoinSet::new();
        for job in jobs {
            let (this, g) = (self.clone(), g.clone());
            set.spawn(async move { this.move_for(&g, &job, until).await });
        }
        let mut more = false;
        let mut first_err = None;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(m)) => more |= m,
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(e) => {
                    first_err =
                        first_err.or(Some(ControlError::Internal(format!("move task: {e}"))))
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(more),
        }
    }

    /// Moves `m`'s slots batch by batch until `until`. True when it moved some (more may follow at once).
    async fn move_for(
        &self,
        g: &ReplicationGroup,
        m: &crate::model::SlotMove,
        until: Instant,
    ) -> Result<bool> {
        let (Some(src), Some(dst)) = (
            g.shard(&m.from).and_then(|s| s.primary()),
            g.shard(&m.to).and_then(|s| s.primary()),
        ) else {
            return Err(ControlError::Internal(format!(
                "resharding of {}: node group {} or {} has no primary",
                g.id, m.from, m.to
            )));
        };
        if !self.nodes().health(&src.cluster_id).is_up()
            || !self.nodes().health(&dst.cluster_id).is_up()
        {
            // A failover comes first; the move resumes with the new primary.
            return Ok(false);
        }
        let dir = &self.inner.settings.data_dir;
        let mut sc = AdminClient::connect_within(
            &g.admin_addr(src, dir),
            self.nodes().admin(),
            STEP_COMMAND_TIMEOUT,
        )
        .await?;
        let mut dc = AdminClient::connect_within(
            &g.admin_addr(dst, dir),
            self.nodes().admin(),
            STEP_COMMAND_TIMEOUT,
        )
        .await?;
        let (src_view, dst_view) = (sc.cluster_nodes().await?, dc.cluster_nodes().await?);
        let src_id = engine::cluster::myself(&src_view)?.id.clone();
        let dst_id = engine::cluster::myself(&dst_view)?.id.clone();
        let knows = |view: &[engine::cluster::ClusterNode], id: &str| {
            view.iter().any(|n| n.id == id && !n.handshake)
        };
        if !knows(&src_view, &dst_id) || !knows(&dst_view, &src_id) {
            // A new node group's primary not met yet: the cluster step introduces it.
            self.refresh_roles_soon(&g.id);
            return Ok(false);
        }
        let mut others = Vec::new();
        for p in g.primaries() {
            if p.cluster_id == src.cluster_id
                || p.cluster_id == dst.cluster_id
                || !self.nodes().health(&p.cluster_id).is_up()
            {
                continue;
            }
            if let Ok(c) = AdminClient::connect_within(
                &g.admin_addr(p, dir),
                self.nodes().admin(),
                STEP_COMMAND_TIMEOUT,
            )
            .await
            {
                others.push(c);
            }
        }
        let (from, to) = (m.from.clone(), m.to.clone());
        let mut ranges = m.ranges.clone();
        let mut moved_any = false;
        while !ranges.is_empty() {
            let batch = first_slots(&ranges, RESHARD_BATCH);
            let slots: Vec<u16> = batch.iter().flat_map(|(a, b)| *a..=*b).collect();
            let t = Instant::now();
            let keys = engine::cluster::move_slots(
                engine::cluster::SlotOwner {
                    conn: &mut sc,
                    id: &src_id,
                },
                engine::cluster::SlotOwner {
                    conn: &mut dc,
                    id: &dst_id,
                },
                g.tcp_addr(dst),
                &mut others,
                &slots,
                self.nodes().admin(),
            )
            .await?;
            tracing::debug!(group = %g.id, %from, %to, slots = slots.len(), keys,
                millis = t.elapsed().as_millis() as u64, "slots moved");
            ranges = crate::rules::slots::subtract(&ranges, &batch);
            moved_any = true;
            self.update_group(&g.id, |cur| {
                if let Some(r) = cur.resharding.as_mut() {
                    if let Some(mv) = r.moves.iter_mut().find(|x| x.from == from && x.to == to) {
                        mv.ranges = crate::rules::slots::subtract(&mv.ranges, &batch);
                    }
                    r.moves.retain(|x| !x.ranges.is_empty());
                }
                if let Some(s) = cur.shard_mut(&from) {
                    s.slots = crate::rules::slots::subtract(&s.slots, &batch);
                }
                if let Some(s) = cur.shard_mut(&to) {
                    let mut all = s.slots.clone();
                    all.extend(batch.iter().copied());
                    s.slots = crate::rules::slots::normalize(all);
                }
                vec![]
            })?;
            if Instant::now() >= until {
                break;
            }
        }
        Ok(moved_any)
    }

    /// Every slot is where it should be: the node groups removed leave the group (their nodes are stopped by the
    /// next step, and forgotten by the cluster), and the group is available again once that is done.
    fn finish_resharding(&self, g: &ReplicationGroup) -> Result<()> {
        self.update_group(&g.id, |g| {
            let Some(r) = g.resharding.as_mut().filter(|r| !r.finished) else {
                return vec![];
            };
            // Kept, finished, until the group is available (`finish_modify`): ProgressPercentage shows 100 meanwhile.
            r.finished = true;
            let r = r.clone();
            let (gone, kept): (Vec<Shard>, Vec<Shard>) = g
                .shards
                .drain(..)
                .partition(|s| r.removing_shards.contains(&s.id));
            g.shards = kept;
            let mut events: Vec<NewEvent> = Vec::new();
            for s in gone {
                for m in s.members {
                    events.push(NewEvent::cluster(&m.cluster_id, "Removing cache node 0001"));
                    g.removing.push(m);
                }
            }
            events.push(NewEvent::group(
                &g.id,
                format!(
                    "Resharding of replication group {} completed: {} node groups",
                    g.id,
                    g.shards.len()
                ),
            ));
            events
        })
    }
}

/// The first `n` slots of `ranges`, as ranges.
fn first_slots(ranges: &[(u16, u16)], n: u32) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let mut left = n;
    for &(a, b) in ranges {
        if left == 0 {
            break;
        }
        let len = u32::from(b) - u32::from(a) + 1;
        if len <= left {
            out.push((a, b));
            left -= len;
        } else {
            out.push((a, a + (left - 1) as u16));
            left = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_the_lowest_slots() {
        assert_eq!(
            first_slots(&[(0, 99), (200, 299)], 128),
            vec![(0, 99), (200, 227)]
        );
        assert_eq!(first_slots(&[(5, 5)], 128), vec![(5, 5)]);
        assert_eq!(first_slots(&[(0, 16383)], 128), vec![(0, 127)]);
    }
}
