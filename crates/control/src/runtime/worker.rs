//! The reconciler: compares each group's spec with what its nodes report and drives them there, one idempotent
//! step at a time, so a crash at any point resumes cleanly. Each group (and standalone cluster) has one worker
//! task that runs its steps one after another — so a failover never races a role correction — woken by the
//! API, by the health monitor, or every [`TICK`]. Starting nodes for new groups is bounded ([`CONCURRENCY`]);
//! a slow group never blocks another.
//!
//! - `creating`: start (or adopt) every node, point replicas at the primary, wait for every replica's link,
//!   bind the stable endpoints, then `available`. After [`MAX_CREATE_ATTEMPTS`] failures, `create-failed`.
//! - `available` / `modifying`: with automatic failover, a failed primary (process gone, or unresponsive for
//!   [`crate::runtime::monitor::FAIL_AFTER`]) is fenced (killed) and the least-lagging replica promoted; it then owns
//!   the primary endpoint address. Without it, a dead node is restarted in place from its data. A node hung for
//!   [`REPLACE_HUNG_AFTER`] that no failover replaces is killed and restarted. Roles and listening addresses
//!   are re-read every [`ROLE_REFRESH`] and corrected if a node drifted.
//! - `deleting`: stop every node, remove its data, unbind the endpoints, forget the group.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::admin::{AdminClient, Role};
use engine::config::NodeSpec;
use tokio::sync::{watch, Notify, Semaphore};

use crate::error::{ControlError, Result};
use crate::model::{Failover, GroupStatus, Member, ReplicationGroup, StandaloneCluster};
use crate::runtime::monitor::Health;
use crate::workflows::host::DirChange;
use crate::workflows::*;
use crate::{now, Control};

/// How often every group is looked at even when nothing woke the reconciler.
pub const TICK: Duration = Duration::from_millis(250);
/// Groups whose nodes are being started (created) or stopped (deleted) at once.
pub const CONCURRENCY: usize = 16;
/// How often events older than AWS's 14 days are forgotten.
const EVENT_PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait before a failing step is tried again (it starts at [`TICK`] and doubles; a poke from the
/// API or the monitor cuts it short).
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// How a reconcile step went.
enum Outcome {
    /// The group or cluster no longer exists: its worker ends.
    Gone,
    Done,
    Failed(String),
}

/// The wait after the `n`th failure in a row of the same step: [`TICK`], doubled each time, at most
/// [`MAX_BACKOFF`].
pub fn backoff(n: u32) -> Duration {
    TICK.saturating_mul(1 << n.saturating_sub(1).min(10))
        .min(MAX_BACKOFF)
}

/// What a reconcile step of a group needs to do next.
enum Work {
    Converge(ReplicationGroup),
    Delete(ReplicationGroup),
    Standalone(StandaloneCluster),
    Memcached(crate::model::MemcachedCluster),
    Nothing,
}

/// The steps of one pass of `converge`, in the order they run: the first one with work to do that is under way
/// ends the pass, and the next pass (woken at once, or at the next tick) goes on from the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConvergeStep {
    Removals,
    MaintenanceWindow,
    Failover,
    Replace,
    Starts,
    Roles,
    Endpoints,
    Loads,
    CreationEnd,
    ReplicasAdded,
    Migration,
    Resharding,
    Snapshot,
    AutomaticSnapshot,
    Switchover,
    Upgrade,
    AddressFamily,
    FailoverRecovery,
    ClusterModeChange,
}

/// The order of the steps of `converge` (a unit test pins it; `docs/design/control-tree.md` gives it too). Each step
/// is a method of `Control` named after it, run by `converge_step`.
const CONVERGE_ORDER: &[ConvergeStep] = &[
    ConvergeStep::Removals,
    ConvergeStep::MaintenanceWindow,
    ConvergeStep::Failover,
    ConvergeStep::Replace,
    ConvergeStep::Starts,
    ConvergeStep::Roles,
    ConvergeStep::Endpoints,
    ConvergeStep::Loads,
    ConvergeStep::CreationEnd,
    ConvergeStep::ReplicasAdded,
    ConvergeStep::Migration,
    ConvergeStep::Resharding,
    ConvergeStep::Snapshot,
    ConvergeStep::AutomaticSnapshot,
    ConvergeStep::Switchover,
    ConvergeStep::Upgrade,
    ConvergeStep::AddressFamily,
    ConvergeStep::FailoverRecovery,
    ConvergeStep::ClusterModeChange,
];

/// What a step of `converge` says about the rest of the pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Go on with the next step.
    Next,
    /// The pass ends here (`converge` returns false): this step's work is under way.
    Stop,
}

/// What one pass of `converge` carries from step to step.
struct Pass<'a> {
    g: &'a ReplicationGroup,
    creating: bool,
    /// The wake-up of the group's worker: a step that wants the next pass at once pokes it.
    poke: Arc<Notify>,
    /// Every member's node spec (from `Starts` on).
    specs: Vec<NodeSpec>,
    /// The members stopped for a reboot in this pass (from `Starts` on).
    rebooted: Vec<String>,
    /// The nodes started again in this pass, replicas being added left out (from `Starts` on).
    restarted: Vec<String>,
    /// Whether roles were read in this pass (from `Roles` on).
    due: bool,
    /// Whether the cluster step found the cluster formed (from `Roles` on).
    formed: bool,
}

impl<'a> Pass<'a> {
    /// A pass over `g`, nothing done yet.
    fn new(g: &'a ReplicationGroup, poke: Arc<Notify>) -> Self {
        Pass {
            g,
            creating: g.status == GroupStatus::Creating,
            poke,
            specs: Vec::new(),
            rebooted: Vec::new(),
            restarted: Vec::new(),
            due: false,
            formed: false,
        }
    }
}

use crate::workflows::fail_over::{budget_key, Cause};

impl Control {
    /// Runs until `shutdown` turns true, then waits for the steps in flight (no step starts a node after that).
    pub async fn run_reconciler(&self, shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut stop = shutdown.clone();
        let mut pruned: Option<Instant> = None;
        let tender = {
            let this = self.clone();
            let stop = shutdown.clone();
            tokio::spawn(async move { this.tend_hosts_until(stop).await })
        };
        loop {
            if *stop.borrow() {
                break;
            }
            // A worker that ended (its group is gone) is dropped; one that panicked is said so, and started again
            // below: one group's fault never leaves it without a worker.
            let ended: Vec<String> = workers
                .iter()
                .filter(|(_, h)| h.is_finished())
                .map(|(k, _)| k.clone())
                .collect();
            for key in ended {
                if let Some(h) = workers.remove(&key) {
                    if let Err(e) = h.await {
                        tracing::error!(target: "reconciler", %key, error = %e, "worker failed; starting it again");
                    }
                }
            }
            if pruned.is_none_or(|t| t.elapsed() >= EVENT_PRUNE_EVERY) {
                pruned = Some(Instant::now());
                let before = now() - chrono::Duration::days(crate::store::EVENT_RETENTION_DAYS);
                match self.commit(|st| st.store.prune_events(before)) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "forgot events older than 14 days"),
                    Err(e) => tracing::warn!(error = %e, "pruning old events failed"),
                }
            }
            let keys: Vec<String> = {
                let st = self.state();
                st.groups
                    .keys()
                    .map(|k| format!("rg:{k}"))
                    .chain(st.standalone.keys().map(|k| format!("cc:{k}")))
                    .chain(st.memcached.keys().map(|k| format!("mc:{k}")))
                    .collect()
            };
            for key in keys {
                if workers.contains_key(&key) {
                    continue;
                }
                let this = self.clone();
                let permits = permits.clone();
                let stop = shutdown.clone();
                let poke = self.poke_of(&key);
                workers.insert(
                    key.clone(),
                    tokio::spawn(async move { this.work(key, poke, permits, stop).await }),
                );
            }
            if let Err(e) = self.settle_access() {
                tracing::warn!(error = %e, "settling users and user groups failed; will retry");
            }
            tokio::select! {
                () = self.inner.wake.notified() => {
                    for p in self.inner.endpoints.workers.lock().unwrap_or_else(|p| p.into_inner()).values() {
                        p.notify_one();
                    }
                }
                () = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => {}
            }
        }
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for (_, h) in workers {
            let _ = h.await;
        }
        let _ = tender.await;
    }

    /// The worker of one group or standalone cluster: its steps, one at a time, until it is gone.
    async fn work(
        &self,
        key: String,
        poke: Arc<Notify>,
        permits: Arc<Semaphore>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut failing: Option<(String, u32)> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            let wait = match self.reconcile(&key, &permits).await {
                Outcome::Gone => {
                    self.inner
                        .endpoints
                        .workers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    return;
                }
                Outcome::Done => {
                    if let Some((_, n)) = failing.take() {
                        tracing::info!(target: "reconciler", %key, failures = n, "step succeeded again");
                    }
                    TICK
                }
                Outcome::Failed(e) => {
                    let n = match &mut failing {
                        Some((last, n)) if *last == e => {
                            *n += 1;
                            *n
                        }
                        _ => {
                            failing = Some((e.clone(), 1));
                            1
                        }
                    };
                    // The first failure, and then one line at each doubling, not one every tick.
                    if n.is_power_of_two() {
                        tracing::warn!(target: "reconciler", %key, error = %e, failures = n, "reconcile step failed; will retry");
                    } else {
                        tracing::debug!(target: "reconciler", %key, error = %e, failures = n, "reconcile step failed again");
                    }
                    backoff(n)
                }
            };
            tokio::select! {
                () = poke.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One step for `key`.
    async fn reconcile(&self, key: &str, permits: &Semaphore) -> Outcome {
        let work = {
            let st = self.state();
            if let Some(id) = key.strip_prefix("rg:") {
                match st.groups.get(id) {
                    Some(g) if g.status == GroupStatus::Deleting => Work::Delete(g.clone()),
                    Some(g) if g.status == GroupStatus::CreateFailed => Work::Nothing,
                    Some(g) => Work::Converge(g.clone()),
                    None => return Outcome::Gone,
                }
            } else if let Some(id) = key.strip_prefix("cc:") {
                match st.standalone.get(id) {
                    Some(s) => Work::Standalone(s.clone()),
                    None => return Outcome::Gone,
                }
            } else if let Some(id) = key.strip_prefix("mc:") {
                match st.memcached.get(id) {
                    Some(c) => Work::Memcached(c.clone()),
                    None => return Outcome::Gone,
                }
            } else {
                return Outcome::Gone;
            }
        };
        // Starting and stopping many nodes at once is what the permits bound; routine steps (and failovers)
        // of running groups never wait for them.
        let heavy = match &work {
            Work::Converge(g) => g.status == GroupStatus::Creating || g.adding().next().is_some(),
            Work::Delete(_) => true,
            Work::Memcached(c) => c.status != crate::model::McStatus::Available,
            _ => false,
        };
        let _permit = if heavy {
            self.inner.metrics.waiting_step(1);
            let p = permits.acquire().await.ok();
            self.inner.metrics.waiting_step(-1);
            p
        } else {
            None
        };
        let kind = match &work {
            Work::Converge(_) | Work::Delete(_) => "replication_group",
            Work::Standalone(_) => "cache_cluster",
            Work::Memcached(_) => "memcached",
            Work::Nothing => "",
        };
        let started = Instant::now();
        let result = match work {
            Work::Converge(g) => {
                let creating = g.status == GroupStatus::Creating;
                match (self.converge(&g).await, creating) {
                    (Ok(true), true) => self.finish_create(&g.id),
                    (Err(e), true) => self.creation_failed(&g.id, &e).await,
                    (Ok(true), false) => self.finish_modify(&g.id),
                    (Ok(false), _) => Ok(()),
                    (Err(e), false) => Err(e),
                }
            }
            Work::Delete(g) => self.delete_nodes(&g).await,
            Work::Standalone(s) => self.ensure_standalone(&s).await,
            Work::Memcached(c) => self.memcached_step(&c).await,
            Work::Nothing => Ok(()),
        };
        if !kind.is_empty() {
            self.inner
                .metrics
                .step(kind, result.is_err(), started.elapsed());
        }
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// One step towards the spec. Returns true when the group is where the spec says (its pending work done),
    /// false when the step did part of the work and the next one continues.
    ///
    /// It runs the steps of [`CONVERGE_ORDER`] one after another; the first that ends the pass (its work is under
    /// way) makes it return false.
    async fn converge(&self, g: &ReplicationGroup) -> Result<bool> {
        let mut pass = Pass::new(g, self.poke_of(&format!("rg:{}", g.id)));
        for step in CONVERGE_ORDER {
            if self.converge_step(*step, &mut pass).await? == Flow::Stop {
                return Ok(false);
            }
        }
        Ok(pass.due || !g.status.eq(&GroupStatus::Modifying))
    }

    /// Runs one step of [`Control::converge`].
    async fn converge_step(&self, step: ConvergeStep, p: &mut Pass<'_>) -> Result<Flow> {
        match step {
            ConvergeStep::Removals => self.removals_step(p).await,
            ConvergeStep::MaintenanceWindow => self.window_step(p).await,
            ConvergeStep::Failover => self.failover_step(p).await,
            ConvergeStep::Replace => self.replace_step(p).await,
            ConvergeStep::Starts => self.starts_step(p).await,
            ConvergeStep::Roles => self.roles_step(p).await,
            ConvergeStep::Endpoints => self.endpoints_step(p).await,
            ConvergeStep::Loads => self.loads_step(p).await,
            ConvergeStep::CreationEnd => self.creation_end_step(p).await,
            ConvergeStep::ReplicasAdded => self.replicas_added_step(p).await,
            ConvergeStep::Migration => self.migration_work_step(p).await,
            ConvergeStep::Resharding => self.resharding_step(p).await,
            ConvergeStep::Snapshot => self.snapshot_work_step(p).await,
            ConvergeStep::AutomaticSnapshot => self.automatic_snapshot_step(p),
            ConvergeStep::Switchover => self.switchover_step(p).await,
            ConvergeStep::Upgrade => self.upgrade_work_step(p).await,
            ConvergeStep::AddressFamily => self.address_family_step(p).await,
            ConvergeStep::FailoverRecovery => self.failover_recovery_step(p),
            ConvergeStep::ClusterModeChange => self.mode_change_step(p).await,
        }
    }

    /// Removals: the replicas being removed are stopped and forgotten first.
    async fn removals_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        if p.g.removing.is_empty() {
            return Ok(Flow::Next);
        }
        self.remove_members(p.g).await?;
        Ok(Flow::Stop)
    }

    /// Maintenance window: the changes waiting for it are applied once it is open.
    async fn window_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        let versions: Vec<String> = self
            .inner
            .settings
            .binaries
            .iter()
            .filter(|b| b.engine == g.engine)
            .map(|b| b.version.clone())
            .collect();
        if let Some(work) = crate::rules::windows::window_work(g, now(), &versions) {
            self.apply_pending(g, work).await?;
            p.poke.notify_one();
            return Ok(Flow::Stop);
        }
        Ok(Flow::Next)
    }

    /// Failover of each shard: a failed primary (or one a test asked to fail) is replaced by a replica.
    async fn failover_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        // A migration target is not failed over (AWS's rule): its primary is a replica of the source, and a
        // promoted replica would end the migration. A dead primary is restarted in place, following again.
        let migrating = g.migration.as_ref().is_some_and(|m| m.is_running());
        if p.creating || !g.automatic_failover || migrating {
            return Ok(Flow::Next);
        }
        // Each shard's primary on its own: a failover of one never waits on another shard.
        for shard in &g.shards {
            let Some(primary) = shard.primary().cloned() else {
                continue;
            };
            // A node group added by a scale-out serves no slot until slots move to it: nothing to fail over
            // (its nodes are being started).
            if g.cluster_mode == crate::model::ClusterMode::Enabled && shard.slots.is_empty() {
                continue;
            }
            let requested = shard.failover == Some(Failover::Requested);
            let failed = !primary.rebooting && self.node_down(&self.node_spec(g, &primary)?).await;
            if requested || failed {
                if !requested && !self.failover_allowed(g, shard, &primary)? {
                    // Past the budget: the primary is restarted in place below, like a group without
                    // automatic failover.
                } else if self
                    .fail_over(
                        g,
                        shard,
                        &primary,
                        if requested {
                            Cause::Test
                        } else {
                            Cause::Failure
                        },
                    )
                    .await?
                {
                    if !requested {
                        self.lock_failovers()
                            .entry(budget_key(g, shard))
                            .or_default()
                            .at
                            .push_back(Instant::now());
                    }
                    p.poke.notify_one();
                    return Ok(Flow::Stop);
                }
            }
        }
        Ok(Flow::Next)
    }

    /// Replace: the nodes of lost hosts that answer nothing move to other hosts (after the failover of a primary
    /// there).
    async fn replace_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        if !self.replace_lost_nodes(p.g).await? {
            return Ok(Flow::Next);
        }
        p.poke.notify_one();
        Ok(Flow::Stop)
    }

    /// Starts: the specs of every member are made, rebooted and hung nodes stopped, and every node that is not
    /// running started (its restart said in an event).
    async fn starts_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        let members: Vec<&Member> = g.members().collect();
        p.specs = members
            .iter()
            .map(|m| self.node_spec(g, m))
            .collect::<Result<_>>()?;
        p.rebooted = self.stop_rebooted_and_hung(&members, &p.specs).await;
        // Readers leave the nodes about to be started again (rebooted, or down) before they start: one loading its
        // data, or still empty, at the same address would answer them wrongly.
        let mut any_down = false;
        for s in &p.specs {
            any_down = any_down || self.node_down(s).await;
        }
        if !p.rebooted.is_empty() || any_down {
            self.ensure_endpoints(g).await?;
        }
        self.discard_replaced_cluster_state(g, &p.specs).await?;
        let mut restarted = self.start_stopped_nodes(&p.specs, &p.poke).await?;
        // A replica IncreaseReplicaCount adds is started for the first time: that is no recovery, and alerts keyed
        // on "Recovering cache nodes" must not fire for it.
        restarted.retain(|n| !g.adding().any(|a| a == n));
        if !p.creating && (!restarted.is_empty() || !p.rebooted.is_empty()) {
            self.restart_events(g, &restarted, &p.rebooted)?;
        }
        p.restarted = restarted;
        Ok(Flow::Next)
    }

    /// Stops the nodes a reboot was asked for, and kills a node hung for [`REPLACE_HUNG_AFTER`] that does not answer
    /// now; returns the rebooted members.
    async fn stop_rebooted_and_hung(&self, members: &[&Member], specs: &[NodeSpec]) -> Vec<String> {
        // Reboots asked for: stop the node cleanly; it is started again below from its data. A rebooted
        // primary is not failed over (as on AWS): the monitor stops watching it first.
        let mut rebooted = Vec::new();
        for (m, spec) in members.iter().zip(specs) {
            if m.rebooting {
                self.stop_member(spec, Stop::Graceful).await;
                rebooted.push(m.cluster_id.clone());
            } else if let Health::Unresponsive { since } = self.nodes().health(&spec.name) {
                let pid = self.nodes().observed(&spec.name).and_then(|o| o.pid);
                // From fresh evidence, as a failover: a node that answers now is not killed.
                let answers = match pid.filter(|_| since.elapsed() >= REPLACE_HUNG_AFTER) {
                    Some(pid) => self.nodes().answers_now(spec, pid).await,
                    None => false,
                };
                if since.elapsed() >= REPLACE_HUNG_AFTER && !answers {
                    tracing::warn!(node = %spec.name, "node hung; replacing it");
                    self.nodes().unwatch(&spec.name);
                    if let Some(pid) = pid {
                        let _ = self.nodes().kill_now(spec, pid).await;
                    }
                }
            }
        }
        rebooted
    }

    /// Removes the cluster state of a node a failover replaced, so that it starts again as a new, empty node.
    async fn discard_replaced_cluster_state(
        &self,
        g: &ReplicationGroup,
        specs: &[NodeSpec],
    ) -> Result<()> {
        // A cluster node replaced by a failover starts again as a new, empty node (see `discard_state`); this is
        // decided here, from the stored failover, so a daemon that died anywhere in between still does it.
        // During a change of cluster mode, the replaced primary starts again in the new mode, empty, too.
        for shard in &g.shards {
            let Some(Failover::Recovering { failed }) = &shard.failover else {
                continue;
            };
            let fresh = g
                .member(failed)
                .is_some_and(|m| g.runs_cluster(m) || g.converting_to.is_some());
            if fresh {
                if let Some(spec) = specs.iter().find(|s| s.name == *failed) {
                    if self
                        .pid_of(spec)
                        .await
                        .is_none_or(|p| !self.nodes().is_alive(spec, p))
                    {
                        self.nodes()
                            .change_dir(spec, DirChange::DiscardClusterState)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts every node that is not running, the primaries first; returns the nodes (re)started, or the first
    /// error once every start has ended.
    async fn start_stopped_nodes(
        &self,
        specs: &[NodeSpec],
        poke: &Arc<Notify>,
    ) -> Result<Vec<String>> {
        // Start what is not running: the primary first, then every replica at once. A replica started before
        // its primary listens would wait for Redis's next replication cron tick (one second) to connect.
        let mut restarted = Vec::new();
        let mut first_err = None;
        let (primaries, replicas): (Vec<NodeSpec>, Vec<NodeSpec>) =
            specs.iter().cloned().partition(|s| s.replica_of.is_none());
        for wave in [primaries, replicas] {
            let mut set = tokio::task::JoinSet::new();
            for spec in wave {
                let this = self.clone();
                let poke = poke.clone();
                set.spawn(async move { (spec.name.clone(), this.ensure_node(&spec, &poke).await) });
            }
            while let Some(r) = set.join_next().await {
                match r {
                    Ok((name, Ok(true))) => restarted.push(name),
                    Ok((_, Ok(false))) => {}
                    Ok((_, Err(e))) => first_err = first_err.or(Some(e)),
                    Err(e) => {
                        first_err =
                            first_err.or(Some(ControlError::Internal(format!("node task: {e}"))))
                    }
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok(restarted)
    }

    /// Whether roles are to be read now (creating, a node restarted, or [`ROLE_REFRESH`] since the last reading);
    /// if so, the reading is recorded as done now.
    fn roles_due(&self, g: &ReplicationGroup, creating: bool, restarted: &[String]) -> bool {
        let mut read = self
            .inner
            .endpoints
            .roles_read
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let last = read.get(&g.id).copied();
        let due =
            creating || !restarted.is_empty() || last.is_none_or(|t| t.elapsed() >= ROLE_REFRESH);
        if due {
            read.insert(g.id.clone(), Instant::now());
        }
        due
    }

    /// Roles and cluster forming: when due, a cluster's nodes are formed, then every node's role and listening
    /// addresses are read and corrected.
    async fn roles_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        p.due = self.roles_due(g, p.creating, &p.restarted);
        if !p.due {
            return Ok(Flow::Next);
        }
        let hold: Vec<String> = g.shards.iter().flat_map(|s| s.switching()).collect();
        let timeout = if p.creating {
            engine::admin::COMMAND_TIMEOUT
        } else {
            STEP_COMMAND_TIMEOUT
        };
        if self.form_cluster(p).await? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        if p.creating {
            self.observe_and_correct(&p.specs, timeout, &hold).await?;
        } else {
            // A node that hangs while it is being read would hold this step up to the timeout; when the
            // monitor reports a change meanwhile, give up the reading and run the next step at once.
            tokio::select! {
                r = self.observe_and_correct(&p.specs, timeout, &hold) => r?,
                () = p.poke.notified() => {
                    self.refresh_roles_soon(&g.id);
                    p.poke.notify_one();
                    return Ok(Flow::Stop);
                }
            }
        }
        Ok(Flow::Next)
    }

    /// The cluster part of the roles step: once every primary runs Redis Cluster, its nodes meet, get their slots
    /// and follow their primaries (recorded in `p.formed`).
    async fn form_cluster(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        // A cluster's nodes meet, get their slots and follow their primaries before anything waits on them.
        // During a change of cluster mode, the nodes that run Redis Cluster once the primary does.
        let primaries_cluster = g
            .shards
            .iter()
            .all(|s| s.primary().is_some_and(|p| g.runs_cluster(p)));
        if !primaries_cluster {
            return Ok(Flow::Next);
        }
        let cluster_specs: Vec<NodeSpec> = p
            .specs
            .iter()
            .filter(|s| s.cluster.is_some())
            .cloned()
            .collect();
        match self.cluster_step(g, &cluster_specs).await {
            Ok(true) => p.formed = true,
            Ok(false) if p.creating => {
                p.poke.notify_one();
                return Ok(Flow::Stop);
            }
            Ok(false) => {}
            Err(e) if p.creating => return Err(e),
            // A live group's other work (roles, endpoints, a resharding) goes on; the next look tries again.
            Err(e) => {
                tracing::warn!(group = %g.id, error = %e, "cluster step failed; will retry");
            }
        }
        Ok(Flow::Next)
    }

    /// Endpoints: the group's endpoints follow its nodes' roles.
    async fn endpoints_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        self.ensure_endpoints(p.g).await?;
        Ok(Flow::Next)
    }

    /// Loads: the group's work waits for nodes loading their data; restarts whose load ended are said done.
    async fn loads_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        // Nodes loading their data are on their way: the group's work waits for them (a failover, a restart or a
        // correction above never does), within deadlines from the data's size.
        if !self.loads_done(p.g, &p.specs, &p.poke).await? {
            return Ok(Flow::Stop);
        }
        self.restarts_finished(p.g)?;
        Ok(Flow::Next)
    }

    /// Creation's end: a restore is finished, the replicas' links waited for, and the reader endpoint bound.
    async fn creation_end_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        if !p.creating {
            return Ok(Flow::Next);
        }
        if g.restore_from.is_some() {
            for primary in p.specs.iter().filter(|s| s.replica_of.is_none()) {
                let mut c = AdminClient::connect(&primary.node_addr(), &self.inner.admin).await?;
                if c.finish_restore().await? {
                    tracing::info!(node = %primary.name, "restored from its snapshot; append-only file on");
                }
                let _ = self
                    .nodes()
                    .change_dir(primary, DirChange::RemoveRestoreFile)
                    .await;
            }
        }
        if !self.wait_for_links(g, &p.specs, &p.poke).await? {
            return Ok(Flow::Stop);
        }
        if let Some(name) = g.restore_from.as_deref().filter(|_| g.loads_restore()) {
            self.restore_by_slot(g, name).await?;
        }
        // The replicas, now linked, serve the reader endpoint.
        self.ensure_endpoints(g).await?;
        Ok(Flow::Next)
    }

    /// Replicas added (to a group past its creation): their links are waited for, then they serve the reader
    /// endpoint.
    async fn replicas_added_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        if p.creating || g.adding().next().is_none() {
            return Ok(Flow::Next);
        }
        let new: Vec<NodeSpec> = p
            .specs
            .iter()
            .filter(|s| g.adding().any(|a| *a == s.name))
            .cloned()
            .collect();
        if !self.wait_for_links(g, &new, &p.poke).await? {
            return Ok(Flow::Stop);
        }
        self.ensure_endpoints(g).await?;
        Ok(Flow::Next)
    }

    /// Migration: the next step of an online migration into the group.
    async fn migration_work_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        use crate::model::MigrationPhase;
        let g = p.g;
        let Some(m) = &g.migration else {
            return Ok(Flow::Next);
        };
        match &m.phase {
            MigrationPhase::Testing => self.run_migration_test(g, m).await?,
            MigrationPhase::Starting { clear } => {
                self.run_migration_start(g, m, *clear).await?;
                p.poke.notify_one();
            }
            MigrationPhase::Following(f) => self.migration_step(g, m, f).await?,
            MigrationPhase::Completing { force, .. } => self.finish_migration(g, *force).await?,
        }
        Ok(Flow::Stop)
    }

    /// Resharding: the next step of an unfinished resharding.
    async fn resharding_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let Some(r) = p.g.resharding.as_ref().filter(|r| !r.finished) else {
            return Ok(Flow::Next);
        };
        if self.reshard_step(p.g, r).await? {
            p.poke.notify_one();
        }
        Ok(Flow::Stop)
    }

    /// Snapshot: the next step of the snapshot being taken.
    async fn snapshot_work_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let Some(name) = &p.g.snapshotting else {
            return Ok(Flow::Next);
        };
        self.snapshot_step(p.g, name).await?;
        Ok(Flow::Stop)
    }

    /// Automatic snapshot: the daily snapshot and the retention of the automatic ones.
    fn automatic_snapshot_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        if p.g.snapshot_retention_limit > 0 && self.automatic_step(p.g)? {
            p.poke.notify_one();
            return Ok(Flow::Stop);
        }
        Ok(Flow::Next)
    }

    /// Switchover: a shard's planned switchover to another member.
    async fn switchover_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        let Some((shard, target)) = g
            .shards
            .iter()
            .find_map(|s| s.switchover_to.as_ref().map(|t| (s, t)))
        else {
            return Ok(Flow::Next);
        };
        self.switch_over(g, shard, target).await?;
        p.poke.notify_one();
        Ok(Flow::Stop)
    }

    /// Upgrade: the next step of an engine upgrade.
    async fn upgrade_work_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let Some(target) = &p.g.upgrading_to else {
            return Ok(Flow::Next);
        };
        if self.upgrade_step(p.g, target, &p.poke).await? {
            p.poke.notify_one();
        }
        Ok(Flow::Stop)
    }

    /// Address family: members whose IPv6 discovery differs from the group's are moved over.
    async fn address_family_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        if let Some(ipv6) = g.dual_stack.as_ref().map(|d| d.ipv6_discovery) {
            if g.members().any(|m| m.ipv6 != ipv6) {
                if self.discovery_step(g, ipv6).await? {
                    p.poke.notify_one();
                }
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Next)
    }

    /// Failover recovery: a shard's failover ends once its replaced node is back as a linked replica (or gone).
    fn failover_recovery_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        let g = p.g;
        for shard in &g.shards {
            let Some(Failover::Recovering { failed }) = &shard.failover else {
                continue;
            };
            let back = matches!(
                self.inner.observed.get(failed).and_then(|o| o.role),
                Some(Role::Replica { link_up: true, .. })
            ) || shard.member(failed).is_none();
            if back {
                let id = shard.id.clone();
                self.update_group(&g.id, |g| {
                    if let Some(s) = g.shard_mut(&id) {
                        if matches!(&s.failover, Some(Failover::Recovering { .. })) {
                            s.failover = None;
                        }
                    }
                    vec![]
                })?;
            } else {
                // Look again soon: the replaced node's link comes up within milliseconds of its start.
                self.refresh_roles_soon(&g.id);
            }
        }
        Ok(Flow::Next)
    }

    /// Cluster mode change: its next step, once a replaced primary's recovery above is recorded.
    async fn mode_change_step(&self, p: &mut Pass<'_>) -> Result<Flow> {
        // A change of cluster mode goes on once a replaced primary's recovery above is recorded.
        let Some(to) = p.g.converting_to else {
            return Ok(Flow::Next);
        };
        if self.mode_step(p.g, to, p.formed, &p.poke).await? {
            p.poke.notify_one();
        }
        Ok(Flow::Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_steps_back_off() {
        assert_eq!(backoff(1), TICK);
        assert_eq!(backoff(2), TICK * 2);
        assert_eq!(backoff(4), TICK * 8);
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(1000), MAX_BACKOFF);
    }

    #[test]
    fn converge_runs_its_steps_in_order() {
        let names: Vec<String> = CONVERGE_ORDER.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(
            names,
            [
                "Removals",
                "MaintenanceWindow",
                "Failover",
                "Replace",
                "Starts",
                "Roles",
                "Endpoints",
                "Loads",
                "CreationEnd",
                "ReplicasAdded",
                "Migration",
                "Resharding",
                "Snapshot",
                "AutomaticSnapshot",
                "Switchover",
                "Upgrade",
                "AddressFamily",
                "FailoverRecovery",
                "ClusterModeChange",
            ]
        );
    }
}
