//! The reconciler: compares each group's spec with what its nodes report and drives them there, one idempotent
//! step at a time, so a crash at any point resumes cleanly. Each group (and standalone cluster) has one worker
//! task that runs its steps one after another — so a failover never races a role correction — woken by the
//! API, by the health monitor, or every [`TICK`]. Starting nodes for new groups is bounded ([`CONCURRENCY`]);
//! a slow group never blocks another.
//!
//! - `creating`: start (or adopt) every node, point replicas at the primary, wait for every replica's link,
//!   bind the stable endpoints, then `available`. After [`MAX_CREATE_ATTEMPTS`] failures, `create-failed`.
//! - `available` / `modifying`: with automatic failover, a failed primary (process gone, or unresponsive for
//!   [`crate::monitor::FAIL_AFTER`]) is fenced (killed) and the least-lagging replica promoted; it then owns
//!   the primary endpoint address. Without it, a dead node is restarted in place from its data. A node hung for
//!   [`REPLACE_HUNG_AFTER`] that no failover replaces is killed and restarted. Roles and listening addresses
//!   are re-read every [`ROLE_REFRESH`] and corrected if a node drifted.
//! - `deleting`: stop every node, remove its data, unbind the endpoints, forget the group.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::admin::{AdminClient, Role};
use engine::config::NodeSpec;
use engine::config::TlsMode;
use engine::endpoint::{Sniffer, StableEndpoint};
use engine::process;
use tokio::sync::{watch, Notify, Semaphore};

use crate::error::{ControlError, Result};
use crate::failover::{self, Candidate};
use crate::model::{Failover, GroupStatus, Member, NewEvent, ReplicationGroup, StandaloneCluster};
use crate::monitor::{Health, Target};
use crate::observe::Wait;
use crate::progress::Verdict;
use crate::{node_types, now, rules, Control};

/// How often every group is looked at even when nothing woke the reconciler.
pub const TICK: Duration = Duration::from_millis(250);
/// How often roles are re-read from the nodes of an available group.
pub const ROLE_REFRESH: Duration = Duration::from_secs(2);
/// Creation attempts before a group is `create-failed`.
pub const MAX_CREATE_ATTEMPTS: u32 = 3;
/// Groups whose nodes are being started (created) or stopped (deleted) at once.
pub const CONCURRENCY: usize = 16;
/// A node that does not answer for this long, and that no failover replaces, is killed and restarted.
pub const REPLACE_HUNG_AFTER: Duration = Duration::from_secs(10);
/// Time allowed for a command the reconciler sends to a node in an available group. Shorter than the
/// monitor's failure deadline, so a step never holds up a failover for long.
const STEP_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long writes may stay paused on the primary during a planned switchover (the target must catch up within
/// half of it). Should the daemon die meanwhile, the pause ends by itself.
const SWITCHOVER_PAUSE: Duration = Duration::from_secs(4);
/// How often events older than AWS's 14 days are forgotten.
const EVENT_PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// The longest wait before a failing step is tried again (it starts at [`TICK`] and doubles; a poke from the
/// API or the monitor cuts it short).
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long one step waits on a node that is loading its data or a replica that is syncing before it ends (the next
/// step looks again at once): long enough to see short waits through, short enough that a step never holds up a
/// failover.
const PROGRESS_LOOK: Duration = Duration::from_secs(1);
/// Grace between SIGTERM and SIGKILL when stopping a node.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The reader endpoint of every group, by group id (the primary endpoint's address is owned by the primary
/// node itself), the last time each group's roles were read, and each worker's wake-up.
#[derive(Default)]
pub struct Endpoints {
    map: Mutex<HashMap<String, StableEndpoint>>,
    /// The `preferred`-mode TLS fronts, by the address they listen on.
    sniffers: Mutex<HashMap<SocketAddr, Sniffer>>,
    roles_read: Mutex<HashMap<String, Instant>>,
    workers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Each group's recent automatic failovers, and whether a held-back one was reported.
    failovers: Mutex<HashMap<String, FailoverHistory>>,
    /// Members whose nodes were restarted and have not finished loading their data yet: true for a reboot.
    restarting: Mutex<HashMap<String, bool>>,
}

/// A group's automatic failovers within the budget's window.
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

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Endpoints")
    }
}

/// Makes a newly promoted node listen on every address of its spec (the primary endpoint's among them). The
/// address was just released by the old primary (fenced or demoted); retry briefly should the kernel lag.
async fn take_addresses(c: &mut AdminClient, spec: &NodeSpec) -> Result<()> {
    let mut tries = 0;
    while let Err(e) = c.set_binds(&spec.binds()).await {
        tries += 1;
        if tries >= 100 {
            return Err(e.into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// How a node is stopped: cleanly when its data is kept (a reboot, the daemon's exit), at once when its data is
/// about to be removed (a deleted group or a removed replica; a clean shutdown would only write files that are
/// deleted next, and a node in the middle of its first sync can take seconds to honour `SIGTERM`).
#[derive(Debug, Clone, Copy)]
enum Stop {
    Graceful,
    Discard,
}

/// How a reconcile step went.
enum Step {
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
    Nothing,
}

impl Control {
    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, StableEndpoint>> {
        self.inner
            .endpoints
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The wake-up of the worker of `key` (`rg:<id>` or `cc:<id>`).
    fn poke_of(&self, key: &str) -> Arc<Notify> {
        self.inner
            .endpoints
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Runs the next step of a group's worker now.
    pub(crate) fn poke_group(&self, id: &str) {
        self.poke_of(&format!("rg:{id}")).notify_one();
    }

    /// Forces the next step of the group to re-read roles and addresses.
    pub(crate) fn refresh_roles_soon(&self, id: &str) {
        self.inner
            .endpoints
            .roles_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// The data-plane description of a member.
    pub(crate) fn node_spec(&self, g: &ReplicationGroup, m: &Member) -> Result<NodeSpec> {
        let version = m.engine_version.as_deref().unwrap_or(&g.engine_version);
        let binary = self.inner.settings.binary_for(version).ok_or_else(|| {
            ControlError::Internal(format!("no binary for engine version {version}"))
        })?;
        let is_primary = m.cluster_id == g.primary_cluster_id;
        // The primary of a migration target follows the source.
        let source = g.migration.as_ref().and_then(|x| x.following());
        let replica_of = if is_primary {
            source
        } else {
            g.primary().map(|p| g.link_addr(p, m.ipv6))
        };
        // A primary of a single-stack group owns the primary endpoint address (a floating address); in a
        // dual-stack group every node also listens on ::1 and the endpoints are forwarders.
        let extra_binds = match (&g.dual_stack, is_primary) {
            (Some(_), _) => vec![engine::address::IPV6_LOOPBACK],
            (None, true) => vec![g.primary_endpoint],
            (None, false) => vec![],
        };
        let dir = crate::model::node_dir(&self.inner.settings.data_dir, &m.cluster_id);
        let tls = g.transit_encryption.map(|mode| engine::config::NodeTls {
            mode: mode.engine(),
            files: self.inner.tls.files(&dir),
            addresses: vec![m.address, g.primary_endpoint, g.reader_endpoint],
        });
        Ok(NodeSpec {
            name: m.cluster_id.clone(),
            dir,
            bind: m.address,
            extra_binds,
            port: g.node_port(m),
            announce: g.addr_of(m, m.ipv6).ip(),
            follows_external: is_primary && source.is_some(),
            maxmemory: node_types::maxmemory(&g.cache_node_type).unwrap_or(1 << 29),
            binary: binary.path.clone(),
            replica_of,
            default_user: match &g.acl {
                Some(acl) => acl.default_user.clone(),
                None => rules::default_user_rules(g.auth.as_ref()),
            },
            tls,
            users: g.acl.as_ref().map(|a| a.users.clone()).unwrap_or_default(),
            restore_rdb: match (&g.restore_from, g.status, is_primary) {
                (Some(name), GroupStatus::Creating, true) => Some(self.snapshot_file(name)),
                _ => None,
            },
            engine_version: binary.version_triple(),
        })
    }

    fn standalone_spec(&self, s: &StandaloneCluster) -> Result<NodeSpec> {
        let binary = self
            .inner
            .settings
            .binary_for(&s.engine_version)
            .ok_or_else(|| {
                ControlError::Internal(format!("no binary for engine version {}", s.engine_version))
            })?;
        let dir = crate::model::node_dir(&self.inner.settings.data_dir, &s.member.cluster_id);
        let tls = s.transit_encryption.map(|mode| engine::config::NodeTls {
            mode: mode.engine(),
            files: self.inner.tls.files(&dir),
            addresses: vec![s.member.address],
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
            maxmemory: node_types::maxmemory(&s.cache_node_type).unwrap_or(1 << 29),
            binary: binary.path.clone(),
            replica_of: None,
            default_user: match &s.acl {
                Some(acl) => acl.default_user.clone(),
                None => rules::default_user_rules(s.auth.as_ref()),
            },
            tls,
            users: s.acl.as_ref().map(|a| a.users.clone()).unwrap_or_default(),
            restore_rdb: None,
            engine_version: binary.version_triple(),
        })
    }

    /// Runs until `shutdown` turns true, then waits for the steps in flight (no step starts a node after that).
    pub async fn run_reconciler(&self, shutdown: watch::Receiver<bool>) {
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut workers: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut stop = shutdown.clone();
        let mut pruned: Option<Instant> = None;
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
                match self.state().store.prune_events(before) {
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
                Step::Gone => {
                    self.inner
                        .endpoints
                        .workers
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    return;
                }
                Step::Done => {
                    if let Some((_, n)) = failing.take() {
                        tracing::info!(target: "reconciler", %key, failures = n, "step succeeded again");
                    }
                    TICK
                }
                Step::Failed(e) => {
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
    async fn reconcile(&self, key: &str, permits: &Semaphore) -> Step {
        let work = {
            let st = self.state();
            if let Some(id) = key.strip_prefix("rg:") {
                match st.groups.get(id) {
                    Some(g) if g.status == GroupStatus::Deleting => Work::Delete(g.clone()),
                    Some(g) if g.status == GroupStatus::CreateFailed => Work::Nothing,
                    Some(g) => Work::Converge(g.clone()),
                    None => return Step::Gone,
                }
            } else if let Some(id) = key.strip_prefix("cc:") {
                match st.standalone.get(id) {
                    Some(s) => Work::Standalone(s.clone()),
                    None => return Step::Gone,
                }
            } else {
                return Step::Gone;
            }
        };
        // Starting and stopping many nodes at once is what the permits bound; routine steps (and failovers)
        // of running groups never wait for them.
        let heavy = match &work {
            Work::Converge(g) => g.status == GroupStatus::Creating || !g.adding.is_empty(),
            Work::Delete(_) => true,
            _ => false,
        };
        let _permit = if heavy {
            permits.acquire().await.ok()
        } else {
            None
        };
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
            Work::Nothing => Ok(()),
        };
        match result {
            Ok(()) => Step::Done,
            Err(e) => Step::Failed(e.to_string()),
        }
    }

    /// Makes sure the node of `spec` runs: the known process, an adopted one from before a restart, or a new one
    /// started from the node's data; and that the monitor watches it. Returns true when it had to start one.
    async fn ensure_node(&self, spec: &NodeSpec, poke: &Arc<Notify>) -> Result<bool> {
        let known = self.inner.observed.get(&spec.name);
        if let Some(pid) = known.as_ref().and_then(|o| o.pid) {
            if process::is_redis_alive(pid) {
                self.watch_node(spec, pid, known.and_then(|o| o.exited), poke);
                return Ok(false);
            }
        }
        if let Some(pid) = process::adopt(spec, &self.inner.admin).await {
            tracing::info!(node = %spec.name, pid, "adopted running node");
            self.inner.observed.update(&spec.name, |o| {
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
        let spawned = process::spawn(spec, &self.inner.admin).await.inspect_err(
            |e| tracing::error!(node = %spec.name, error = %e, "node failed to start"),
        )?;
        tracing::info!(node = %spec.name, pid = spawned.pid, addr = %spec.addr(), "started node");
        self.inner.observed.update(&spec.name, |o| {
            o.pid = Some(spawned.pid);
            o.exited = Some(spawned.exited.clone());
            o.role = None;
            o.load = None;
            o.sync = None;
        });
        self.watch_node(spec, spawned.pid, Some(spawned.exited), poke);
        Ok(true)
    }

    fn watch_node(
        &self,
        spec: &NodeSpec,
        pid: u32,
        exited: Option<watch::Receiver<bool>>,
        poke: &Arc<Notify>,
    ) {
        self.inner.monitor.ensure(
            &self.inner.admin,
            Target {
                name: spec.name.clone(),
                addr: spec.node_addr(),
                pid,
                exited,
                poke: poke.clone(),
            },
        );
    }

    /// True when the node is known to be down: its process is gone, or the monitor found it unresponsive.
    fn node_down(&self, spec: &NodeSpec) -> bool {
        match self.inner.monitor.health(&spec.name) {
            Health::Gone | Health::Unresponsive { .. } => true,
            Health::Up => {
                let pid = self
                    .inner
                    .observed
                    .get(&spec.name)
                    .and_then(|o| o.pid)
                    .or_else(|| process::read_pid(spec));
                pid.is_none_or(|p| !process::is_redis_alive(p))
            }
        }
    }

    /// Reads each answering node's role and listening addresses and corrects what is not as the spec says:
    /// replicas first, so that a former primary gives up the primary endpoint address before the primary
    /// takes it.
    /// The roles of the nodes named in `hold` are left as they are (a switchover in progress is changing them).
    async fn observe_and_correct(
        &self,
        specs: &[NodeSpec],
        timeout: Duration,
        hold: &[String],
    ) -> Result<()> {
        let mut ordered: Vec<&NodeSpec> = specs.iter().filter(|s| s.replica_of.is_some()).collect();
        ordered.extend(specs.iter().filter(|s| s.replica_of.is_none()));
        let mut first_err = None;
        // TLS changes reach the primary first (and only here: `correct_node` does the replicas'): a replica whose link moves to (or off) TLS then finds its
        // primary already accepting that kind of connection (a TLS hello sent to a plaintext-only Redis would
        // hang the link until the replication timeout).
        for spec in specs.iter().filter(|s| s.replica_of.is_none()) {
            if !self.inner.monitor.health(&spec.name).is_up() {
                continue;
            }
            let tls = async {
                let mut c =
                    AdminClient::connect_within(&spec.node_addr(), &self.inner.admin, timeout)
                        .await?;
                if self.note_load(&mut c, spec).await? {
                    return Ok(());
                }
                self.correct_tls(&mut c, spec).await
            };
            if let Err(e) = tls.await {
                first_err = first_err.or(Some(e));
            }
        }
        for spec in ordered {
            if !self.inner.monitor.health(&spec.name).is_up() {
                continue;
            }
            if let Err(e) = self
                .correct_node(spec, timeout, hold.contains(&spec.name))
                .await
            {
                first_err = first_err.or(Some(e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    async fn correct_node(
        &self,
        spec: &NodeSpec,
        timeout: Duration,
        hold_role: bool,
    ) -> Result<()> {
        let mut c =
            AdminClient::connect_within(&spec.node_addr(), &self.inner.admin, timeout).await?;
        // A node loading its data is on its way: it is corrected once loaded (most commands wait until then).
        if self.note_load(&mut c, spec).await? {
            let role = c.role().await?;
            self.inner
                .observed
                .update(&spec.name, |o| o.role = Some(role));
            return Ok(());
        }
        let binds = c.binds().await?;
        let want = spec.binds();
        if binds != want {
            tracing::info!(node = %spec.name, ?binds, ?want, "correcting listening addresses");
            c.set_binds(&want).await?;
            for gone in binds.iter().filter(|a| !want.contains(a)) {
                for port in client_ports(spec) {
                    c.kill_clients_on(SocketAddr::new(*gone, port)).await?;
                }
            }
        }
        // A primary's TLS was corrected first, by `observe_and_correct`.
        if spec.replica_of.is_some() {
            self.correct_tls(&mut c, spec).await?;
        }
        // The customer-facing ACL (AUTH tokens, users of a user group): applied again when the running process
        // has not been given this spec's yet (a change, or a daemon that restarted).
        let fingerprint = spec.acl_fingerprint();
        let pid = self.inner.observed.get(&spec.name).and_then(|o| o.pid);
        let applied = self.inner.observed.get(&spec.name).and_then(|o| o.acl);
        if pid.is_none()
            || applied.as_ref().map(|(p, f)| (Some(*p), f)) != Some((pid, &fingerprint))
        {
            c.apply_acl(
                &spec.default_user,
                &spec.users,
                &[self.inner.admin.user.as_str()],
            )
            .await?;
            tracing::info!(node = %spec.name, users = spec.users.len(), "customer ACL applied");
            if let Some(pid) = pid {
                self.inner
                    .observed
                    .update(&spec.name, |o| o.acl = Some((pid, fingerprint)));
            }
        }
        // Nodes written by an older version ran in protected mode (see `engine::config::render`).
        if c.config_get("protected-mode").await?.as_deref() != Some("no") {
            c.config_set("protected-mode", "no").await?;
        }
        let announce = spec.announce.to_string();
        if c.config_get("replica-announce-ip").await?.as_deref() != Some(announce.as_str()) {
            c.config_set("replica-announce-ip", &announce).await?;
        }
        let user = if spec.follows_external {
            ""
        } else {
            self.inner.admin.user.as_str()
        };
        if c.config_get("masteruser").await?.as_deref().unwrap_or("") != user {
            c.set_primary_auth((!spec.follows_external).then_some(&self.inner.admin))
                .await?;
        }
        let maxmemory = spec.maxmemory.to_string();
        if c.config_get("maxmemory").await?.as_deref() != Some(maxmemory.as_str()) {
            tracing::info!(node = %spec.name, %maxmemory, "setting maxmemory");
            c.config_set("maxmemory", &maxmemory).await?;
        }
        let mut role = c.role().await?;
        let wrong = match (&role, spec.replica_of) {
            (Role::Replica { .. }, None) => true,
            (Role::Primary { .. }, Some(_)) => true,
            (Role::Replica { primary, .. }, Some(want)) => *primary != Some(want),
            (Role::Primary { .. }, None) => false,
        };
        if wrong && !hold_role {
            tracing::info!(node = %spec.name, ?role, want = ?spec.replica_of, "correcting role");
            c.replicaof(spec.replica_of).await?;
            role = c.role().await?;
        }
        // A replica not linked to its primary is on its way (or its link is down for a moment): noted, so that
        // readers are not sent to it meanwhile; `check_links` follows how far its sync has got.
        let linked = !matches!(role, Role::Replica { link_up: false, .. });
        let now = Instant::now();
        self.inner.observed.update(&spec.name, |o| {
            o.role = Some(role.clone());
            if linked {
                o.sync = None;
            } else if o.sync.is_none() {
                o.sync = Some(Wait::next(
                    None,
                    now,
                    "waiting for the primary",
                    0,
                    0,
                    0,
                    None,
                ));
            }
        });
        Ok(())
    }

    /// Reads whether the node is loading its data, and records how far it has got. True while it loads.
    async fn note_load(&self, c: &mut AdminClient, spec: &NodeSpec) -> Result<bool> {
        let load = c.load_progress().await?;
        let now = Instant::now();
        self.inner.observed.update(&spec.name, |o| {
            o.load = load.map(|p| Wait::of_load(o.load.as_ref(), now, &p));
        });
        Ok(load.is_some())
    }

    /// Brings a node's TLS to its spec while it runs (`CONFIG SET`, no restart; clients on the ports that stay
    /// keep their connections): certificate files, TLS for the replication link, and the ports Redis listens
    /// on. In `preferred` mode the node's port is a [`Sniffer`]'s, which is closed here before Redis takes the
    /// port back and bound again by [`Self::ensure_endpoints`] after Redis has left it.
    async fn correct_tls(&self, c: &mut AdminClient, spec: &NodeSpec) -> Result<()> {
        let replication_now = c.config_get("tls-replication").await?;
        if replication_now.is_none() && spec.tls.is_none() {
            // An engine built without TLS: nothing to correct.
            return Ok(());
        }
        if let Some(tls) = &spec.tls {
            let cert = tls.files.cert.display().to_string();
            if c.config_get("tls-cert-file").await?.as_deref() != Some(cert.as_str()) {
                tracing::info!(node = %spec.name, "loading TLS certificate");
                self.ensure_certificate(spec)?;
                c.config_set_many(&[
                    ("tls-cert-file", cert.as_str()),
                    ("tls-key-file", &tls.files.key.display().to_string()),
                    ("tls-ca-cert-file", &tls.files.ca.display().to_string()),
                    ("tls-auth-clients", "no"),
                ])
                .await?;
            }
        }
        let replication_tls = if spec.tls.is_some() && !spec.follows_external {
            "yes"
        } else {
            "no"
        };
        let relink = replication_now.as_deref() != Some(replication_tls);
        if relink {
            c.config_set("tls-replication", replication_tls).await?;
        }
        let (plain, tls_port) = spec.listen_ports();
        let have = c.listen_ports().await?;
        if have != (plain, tls_port) {
            tracing::info!(node = %spec.name, ?have, want = ?(plain, tls_port), "changing listening ports");
            if !matches!(spec.tls.as_ref().map(|t| t.mode), Some(TlsMode::Preferred)) {
                self.drop_sniffers(&spec.binds(), spec.port);
            }
            let drops_a_kind = (have.0 != 0 && plain == 0) || (have.1 != 0 && tls_port == 0);
            if drops_a_kind && have.0 != spec.port && have.1 != spec.port {
                // In `preferred` mode Redis does not listen on the node's port, so clients connected to it
                // directly came before `preferred`, of the kind the mode then was (plaintext, or TLS from
                // `required`). The kind cannot be told apart afterwards; when a kind stops being accepted they
                // all reconnect (before Redis listens there again, so no new client is caught).
                for addr in spec.binds() {
                    c.kill_clients_on(SocketAddr::new(addr, spec.port)).await?;
                }
            }
            c.set_listen_ports(plain, tls_port).await?;
            let preferred = spec
                .tls
                .as_ref()
                .is_some_and(|t| t.mode == TlsMode::Preferred);
            self.ensure_sniffers_on(&spec.binds(), spec.port, preferred)
                .await?;
            // Clients of a kind no longer accepted are disconnected, as ElastiCache drops plaintext clients once
            // TLS is required (and TLS clients once it is off); the others keep their connections even when
            // Redis now listens for their kind on another port.
            let dropped = [(have.0, plain), (have.1, tls_port)]
                .into_iter()
                .filter(|(old, new)| *old != 0 && *new == 0)
                .map(|(old, _)| old);
            for port in dropped {
                for addr in spec.binds() {
                    c.kill_clients_on(SocketAddr::new(addr, port)).await?;
                }
            }
        }
        if relink && spec.replica_of.is_some() {
            // The link to the primary is opened again, now with (or without) TLS.
            c.kill_primary_link().await?;
        }
        Ok(())
    }

    /// Writes the node's certificate when it has TLS (once: an existing one naming the same addresses is kept).
    /// Done where a node starts or first loads TLS, not each time a spec is computed.
    fn ensure_certificate(&self, spec: &NodeSpec) -> Result<()> {
        if let Some(t) = &spec.tls {
            self.inner.tls.node_certificate(&spec.dir, &t.addresses)?;
        }
        Ok(())
    }

    fn lock_sniffers(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Sniffer>> {
        self.inner
            .endpoints
            .sniffers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the `preferred`-mode fronts on `addrs` at `port`.
    fn drop_sniffers(&self, addrs: &[std::net::IpAddr], port: u16) {
        let mut map = self.lock_sniffers();
        for a in addrs {
            map.remove(&SocketAddr::new(*a, port));
        }
    }

    /// In `preferred` mode, binds the front on each node's address and on the primary endpoint's; otherwise
    /// closes them.
    async fn ensure_sniffers(&self, g: &ReplicationGroup) -> Result<()> {
        let addrs: Vec<std::net::IpAddr> = g
            .members
            .iter()
            .map(|m| m.address)
            .chain(std::iter::once(g.primary_endpoint))
            .collect();
        let preferred = g.transit_encryption == Some(crate::model::TransitMode::Preferred);
        self.ensure_sniffers_on(&addrs, g.port, preferred).await
    }

    async fn ensure_sniffers_on(
        &self,
        addrs: &[std::net::IpAddr],
        port: u16,
        preferred: bool,
    ) -> Result<()> {
        if !preferred {
            self.drop_sniffers(addrs, port);
            return Ok(());
        }
        let (plain, tls) = engine::config::listen_ports(port, Some(TlsMode::Preferred));
        for &ip in addrs {
            let front = SocketAddr::new(ip, port);
            if self.lock_sniffers().contains_key(&front) {
                continue;
            }
            let s =
                Sniffer::bind(front, SocketAddr::new(ip, plain), SocketAddr::new(ip, tls)).await?;
            self.lock_sniffers().insert(front, s);
        }
        Ok(())
    }

    /// Binds the group's forwarding endpoints if needed and points them at their nodes: the reader endpoint at
    /// the replicas that answer (the primary when none does); in a dual-stack group also the primary endpoint
    /// (its IPv4 address and its port on `::1`) and the reader endpoint on `::1`. Each endpoint reaches the
    /// nodes over its own address family, so a change of `IpDiscovery` drops no client connection.
    async fn ensure_endpoints(&self, g: &ReplicationGroup) -> Result<()> {
        self.ensure_sniffers(g).await?;
        let targets = |ipv6: bool| {
            let primary: Vec<SocketAddr> = g
                .primary()
                .map(|p| g.addr_of(p, ipv6))
                .into_iter()
                .collect();
            // Readers go only to replicas known linked to their primary and done loading: one on its way (just
            // started, loading, or receiving a full sync, perhaps empty) would answer `-LOADING`, or without the
            // data. With none ready, the primary serves them.
            let ready = |m: &Member| {
                self.inner.observed.get(&m.cluster_id).is_some_and(|o| {
                    o.load.is_none() && matches!(o.role, Some(Role::Replica { link_up: true, .. }))
                })
            };
            let replicas: Vec<SocketAddr> = g
                .replicas()
                .filter(|m| {
                    !m.rebooting
                        && !self.still_rebooting(&m.cluster_id)
                        && self.inner.monitor.health(&m.cluster_id).is_up()
                        && ready(m)
                })
                .map(|m| g.addr_of(m, ipv6))
                .collect();
            let readers = if replicas.is_empty() {
                primary.clone()
            } else {
                replicas
            };
            (primary, readers)
        };
        let (primary4, readers4) = targets(false);
        let mut wanted = vec![(
            g.id.clone(),
            SocketAddr::new(g.reader_endpoint, g.port),
            readers4,
        )];
        if let Some(d) = &g.dual_stack {
            let (primary6, readers6) = targets(true);
            let v6 = engine::address::IPV6_LOOPBACK;
            wanted.push((
                format!("{}/primary", g.id),
                SocketAddr::new(g.primary_endpoint, g.port),
                primary4,
            ));
            wanted.push((
                format!("{}/primary6", g.id),
                SocketAddr::new(v6, d.primary_port),
                primary6,
            ));
            wanted.push((
                format!("{}/reader6", g.id),
                SocketAddr::new(v6, d.reader_port),
                readers6,
            ));
        }
        for (key, addr, targets) in wanted {
            let bound = self.lock_endpoints().contains_key(&key);
            if !bound {
                let e = StableEndpoint::bind(addr, targets.clone()).await?;
                self.lock_endpoints().insert(key.clone(), e);
            }
            if let Some(e) = self.lock_endpoints().get(&key) {
                e.set_targets(targets);
            }
        }
        Ok(())
    }

    /// Closes every endpoint of group `id`.
    fn drop_endpoints(&self, id: &str) {
        let prefix = format!("{id}/");
        self.lock_endpoints()
            .retain(|k, _| k != id && !k.starts_with(&prefix));
    }

    /// One step towards the spec. Returns true when the group is where the spec says (its pending work done),
    /// false when the step did part of the work and the next one continues.
    async fn converge(&self, g: &ReplicationGroup) -> Result<bool> {
        let creating = g.status == GroupStatus::Creating;
        let poke = self.poke_of(&format!("rg:{}", g.id));
        if !g.removing.is_empty() {
            self.remove_members(g).await?;
            return Ok(false);
        }
        let versions: Vec<String> = self
            .inner
            .settings
            .binaries
            .iter()
            .map(|b| b.version.clone())
            .collect();
        if let Some(work) = crate::modify::window_work(g, now(), &versions) {
            self.apply_pending(g, work).await?;
            poke.notify_one();
            return Ok(false);
        }
        // A migration target is not failed over (AWS's rule): its primary is a replica of the source, and a
        // promoted replica would end the migration. A dead primary is restarted in place, following again.
        let migrating = g.migration.as_ref().is_some_and(|m| m.is_running());
        if !creating && g.automatic_failover && !migrating {
            let primary = g.primary().cloned();
            if let Some(p) = primary {
                let requested = g.failover == Some(Failover::Requested);
                let failed = !p.rebooting && self.node_down(&self.node_spec(g, &p)?);
                if requested || failed {
                    if !requested && !self.failover_allowed(g, &p)? {
                        // Past the budget: the primary is restarted in place below, like a group without
                        // automatic failover.
                    } else if self.fail_over(g, &p, requested).await? {
                        if !requested {
                            self.lock_failovers()
                                .entry(g.id.clone())
                                .or_default()
                                .at
                                .push_back(Instant::now());
                        }
                        poke.notify_one();
                        return Ok(false);
                    }
                }
            }
        }
        let specs: Vec<NodeSpec> = g
            .members
            .iter()
            .map(|m| self.node_spec(g, m))
            .collect::<Result<_>>()?;
        // Reboots asked for: stop the node cleanly; it is started again below from its data. A rebooted
        // primary is not failed over (as on AWS): the monitor stops watching it first.
        let mut rebooted = Vec::new();
        for (m, spec) in g.members.iter().zip(&specs) {
            if m.rebooting {
                self.stop_member(spec, Stop::Graceful).await;
                rebooted.push(m.cluster_id.clone());
            } else if let Health::Unresponsive { since } = self.inner.monitor.health(&spec.name) {
                if since.elapsed() >= REPLACE_HUNG_AFTER {
                    tracing::warn!(node = %spec.name, "node hung; replacing it");
                    self.inner.monitor.forget(&spec.name);
                    if let Some(pid) = self.inner.observed.get(&spec.name).and_then(|o| o.pid) {
                        let _ = process::kill_now(pid).await;
                    }
                }
            }
        }
        // Readers leave the nodes about to be started again (rebooted, or down) before they start: one loading its
        // data, or still empty, at the same address would answer them wrongly.
        if !rebooted.is_empty() || specs.iter().any(|s| self.node_down(s)) {
            self.ensure_endpoints(g).await?;
        }
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
        // A replica IncreaseReplicaCount adds is started for the first time: that is no recovery, and alerts keyed
        // on "Recovering cache nodes" must not fire for it.
        restarted.retain(|n| !g.adding.contains(n));
        if !creating && (!restarted.is_empty() || !rebooted.is_empty()) {
            self.restart_events(g, &restarted, &rebooted)?;
        }
        let due = {
            let mut read = self
                .inner
                .endpoints
                .roles_read
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let last = read.get(&g.id).copied();
            let due = creating
                || !restarted.is_empty()
                || last.is_none_or(|t| t.elapsed() >= ROLE_REFRESH);
            if due {
                read.insert(g.id.clone(), Instant::now());
            }
            due
        };
        if due {
            let timeout = if creating {
                engine::admin::COMMAND_TIMEOUT
            } else {
                STEP_COMMAND_TIMEOUT
            };
            if creating {
                self.observe_and_correct(&specs, timeout, &Self::switching(g))
                    .await?;
            } else {
                // A node that hangs while it is being read would hold this step up to the timeout; when the
                // monitor reports a change meanwhile, give up the reading and run the next step at once.
                let hold = Self::switching(g);
                tokio::select! {
                    r = self.observe_and_correct(&specs, timeout, &hold) => r?,
                    () = poke.notified() => {
                        self.refresh_roles_soon(&g.id);
                        poke.notify_one();
                        return Ok(false);
                    }
                }
            }
        }
        self.ensure_endpoints(g).await?;
        // Nodes loading their data are on their way: the group's work waits for them (a failover, a restart or a
        // correction above never does), within deadlines from the data's size.
        if !self.loads_done(g, &specs, &poke).await? {
            return Ok(false);
        }
        self.restarts_finished(g)?;
        if creating {
            if g.restore_from.is_some() {
                if let Some(p) = specs.iter().find(|s| s.replica_of.is_none()) {
                    let mut c = AdminClient::connect(&p.node_addr(), &self.inner.admin).await?;
                    if c.finish_restore().await? {
                        tracing::info!(node = %p.name, "restored from its snapshot; append-only file on");
                    }
                    let _ = std::fs::remove_file(p.dir.join(engine::config::RESTORE_FILE));
                }
            }
            if !self.wait_for_links(g, &specs, &poke).await? {
                return Ok(false);
            }
            // The replicas, now linked, serve the reader endpoint.
            self.ensure_endpoints(g).await?;
        } else if !g.adding.is_empty() {
            let new: Vec<NodeSpec> = specs
                .iter()
                .filter(|s| g.adding.contains(&s.name))
                .cloned()
                .collect();
            if !self.wait_for_links(g, &new, &poke).await? {
                return Ok(false);
            }
            self.ensure_endpoints(g).await?;
        }
        if let Some(m) = &g.migration {
            use crate::model::MigrationPhase;
            match &m.phase {
                MigrationPhase::Testing => self.run_migration_test(g, m).await?,
                MigrationPhase::Starting { clear } => {
                    self.run_migration_start(g, m, *clear).await?;
                    poke.notify_one();
                }
                MigrationPhase::Following(f) => self.migration_step(g, m, f).await?,
                MigrationPhase::Completing { force, .. } => {
                    self.finish_migration(g, *force).await?
                }
            }
            return Ok(false);
        }
        if let Some(name) = &g.snapshotting {
            self.snapshot_step(g, name).await?;
            return Ok(false);
        }
        if g.snapshot_retention_limit > 0 && self.automatic_step(g)? {
            poke.notify_one();
            return Ok(false);
        }
        if let Some(target) = &g.switchover_to {
            self.switch_over(g, target).await?;
            poke.notify_one();
            return Ok(false);
        }
        if let Some(target) = &g.upgrading_to {
            if self.upgrade_step(g, target, &poke).await? {
                poke.notify_one();
            }
            return Ok(false);
        }
        if let Some(ipv6) = g.dual_stack.as_ref().map(|d| d.ipv6_discovery) {
            if g.members.iter().any(|m| m.ipv6 != ipv6) {
                if self.discovery_step(g, ipv6).await? {
                    poke.notify_one();
                }
                return Ok(false);
            }
        }
        if let Some(Failover::Recovering { failed }) = &g.failover {
            let back = matches!(
                self.inner.observed.get(failed).and_then(|o| o.role),
                Some(Role::Replica { link_up: true, .. })
            ) || g.member(failed).is_none();
            if back {
                self.update_group(&g.id, |g| {
                    if matches!(&g.failover, Some(Failover::Recovering { .. })) {
                        g.failover = None;
                    }
                    vec![]
                })?;
            } else {
                // Look again soon: the replaced node's link comes up within milliseconds of its start.
                self.refresh_roles_soon(&g.id);
            }
        }
        Ok(due || !g.status.eq(&GroupStatus::Modifying))
    }

    /// Records the nodes restarted by this step: a reboot asked for is done (the member no longer `rebooting`), a
    /// recovery begins (an event). Each one's "restarted" or "finished recovery" event waits until the node has
    /// loaded its data ([`Self::restarts_finished`]); meanwhile a rebooted member still shows as rebooting.
    fn restart_events(
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
            self.state().store.add_events(now(), &events)?;
            return Ok(());
        }
        let done: Vec<String> = rebooted.to_vec();
        self.update_group(&g.id, move |g| {
            for m in g.members.iter_mut() {
                if done.contains(&m.cluster_id) {
                    m.rebooting = false;
                }
            }
            events
        })
    }

    /// The restarted members of `g` whose nodes have loaded their data: their "restarted" (a reboot) or "finished
    /// recovery" event.
    fn restarts_finished(&self, g: &ReplicationGroup) -> Result<()> {
        let finished: Vec<(String, bool)> = {
            let mut pending = self.lock_restarting();
            let done: Vec<(String, bool)> = g
                .members
                .iter()
                .filter_map(|m| {
                    let rebooted = *pending.get(&m.cluster_id)?;
                    let o = self.inner.observed.get(&m.cluster_id)?;
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
        self.state().store.add_events(now(), &events)?;
        Ok(())
    }

    fn lock_restarting(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
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

    fn lock_failovers(&self) -> std::sync::MutexGuard<'_, HashMap<String, FailoverHistory>> {
        self.inner
            .endpoints
            .failovers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the failed primary `p` of `g` may be failed over automatically now ([`crate::FailoverBudget`]).
    /// When not, says so once in an event.
    fn failover_allowed(&self, g: &ReplicationGroup, p: &Member) -> Result<bool> {
        let budget = self.inner.settings.failover_budget;
        let report = {
            let mut all = self.lock_failovers();
            let h = all.entry(g.id.clone()).or_default();
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
            self.state().store.add_events(
                now(),
                &[
                    NewEvent::group(&g.id, message.clone()),
                    NewEvent::cluster(&p.cluster_id, message),
                ],
            )?;
        }
        Ok(false)
    }

    /// Applies `f` to the stored group and writes it with the events `f` returns, in one transaction.
    pub(crate) fn update_group(
        &self,
        id: &str,
        f: impl FnOnce(&mut ReplicationGroup) -> Vec<NewEvent>,
    ) -> Result<()> {
        let mut st = self.state();
        let Some(mut g) = st.groups.get(id).cloned() else {
            return Ok(());
        };
        let before = g.clone();
        let events = f(&mut g);
        if g == before && events.is_empty() {
            return Ok(());
        }
        st.save_group(&g, now(), &events)
    }

    /// Fails the primary `old` over to the replica with the least lag. The old primary is fenced first: its
    /// process is killed, so it can neither take another write nor keep the primary endpoint's address. It is
    /// then started again by the next step as a replica of the new primary. Returns false when no replica can
    /// take over (nothing is changed then).
    async fn fail_over(&self, g: &ReplicationGroup, old: &Member, test: bool) -> Result<bool> {
        let mut reads = tokio::task::JoinSet::new();
        for m in g.replicas() {
            if m.rebooting || !self.inner.monitor.health(&m.cluster_id).is_up() {
                continue;
            }
            let addr = g.admin_addr(m, &self.inner.settings.data_dir);
            let admin = self.inner.admin.clone();
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
        let Some(choice) =
            failover::choose(&candidates, &old.availability_zone, g.multi_az).cloned()
        else {
            if test {
                self.update_group(&g.id, |g| {
                    g.failover = None;
                    vec![NewEvent::group(
                        &g.id,
                        "Test failover could not proceed: no replica is available to promote",
                    )]
                })?;
            }
            tracing::warn!(group = %g.id, "primary failed and no replica can take over");
            return Ok(false);
        };
        tracing::warn!(group = %g.id, from = %old.cluster_id, to = %choice.cluster_id, test, "failing over");
        // Fence: nothing is promoted until the old primary is known gone.
        let old_spec = self.node_spec(g, old)?;
        self.inner.monitor.forget(&old.cluster_id);
        if !self.fence(&old_spec).await {
            return Err(ControlError::Internal(format!(
                "the failed primary {} could not be fenced; no replica is promoted while it may still take writes",
                old.cluster_id
            )));
        }
        self.inner.observed.update(&old.cluster_id, |o| {
            o.pid = None;
            o.exited = None;
            o.role = None;
            o.load = None;
            o.sync = None;
        });
        // Record the decision, then carry it out; a crash in between is finished by the next step's
        // corrections.
        let mut new = g.clone();
        new.primary_cluster_id = choice.cluster_id.clone();
        new.failover = Some(Failover::Recovering {
            failed: old.cluster_id.clone(),
        });
        {
            let mut st = self.state();
            st.store.put_group(&new, now(), &[])?;
            st.groups.insert(new.id.clone(), new.clone());
        }
        let member = new
            .member(&choice.cluster_id)
            .cloned()
            .ok_or_else(|| ControlError::Internal("chosen member vanished".into()))?;
        let spec = self.node_spec(&new, &member)?;
        let mut c =
            AdminClient::connect_within(&spec.node_addr(), &self.inner.admin, STEP_COMMAND_TIMEOUT)
                .await?;
        c.replicaof(None).await?;
        take_addresses(&mut c, &spec).await?;
        let role = c.role().await?;
        self.inner
            .observed
            .update(&choice.cluster_id, |o| o.role = Some(role));
        self.ensure_endpoints(&new).await?;
        let message = format!(
            "Failover from primary node {} to replica node {} completed",
            old.cluster_id, choice.cluster_id
        );
        self.state().store.add_events(
            now(),
            &[
                NewEvent::cluster(&old.cluster_id, message.clone()),
                NewEvent::group(&g.id, message),
            ],
        )?;
        // Point the other replicas at the new primary now (the next refresh would, a little later).
        for m in new.replicas() {
            if m.cluster_id == old.cluster_id || !self.inner.monitor.health(&m.cluster_id).is_up() {
                continue;
            }
            let target = new.link_addr(&member, m.ipv6);
            match AdminClient::connect_within(
                &new.admin_addr(m, &self.inner.settings.data_dir),
                &self.inner.admin,
                STEP_COMMAND_TIMEOUT,
            )
            .await
            {
                Ok(mut c) => {
                    if let Err(e) = c.replicaof(Some(target)).await {
                        tracing::warn!(node = %m.cluster_id, error = %e, "re-pointing replica failed; will retry");
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %m.cluster_id, error = %e, "re-pointing replica failed; will retry")
                }
            }
        }
        self.refresh_roles_soon(&g.id);
        Ok(true)
    }

    /// Fences the node of `spec`: kills every process that is it (the pid the daemon knows, the pid file's, and
    /// any `redis-server` titled with its address, for a node whose pid file is gone), then makes sure nothing
    /// accepts connections on its addresses any more. False when either cannot be made sure.
    async fn fence(&self, spec: &NodeSpec) -> bool {
        let mut pids: Vec<u32> = self
            .inner
            .observed
            .get(&spec.name)
            .and_then(|o| o.pid)
            .into_iter()
            .chain(process::read_pid(spec))
            .collect();
        let (plain, tls) = spec.listen_ports();
        let ports: Vec<u16> = [plain, tls].into_iter().filter(|p| *p != 0).collect();
        for port in &ports {
            pids.extend(process::pids_serving(SocketAddr::new(spec.bind, *port)));
        }
        pids.sort_unstable();
        pids.dedup();
        tracing::debug!(node = %spec.name, ?pids, "fencing");
        for pid in pids {
            if !process::kill_now(pid).await {
                tracing::error!(node = %spec.name, pid, "fence failed: the process did not die");
                return false;
            }
        }
        for addr in spec.binds() {
            for port in &ports {
                let at = SocketAddr::new(addr, *port);
                if process::accepts(at).await {
                    tracing::error!(node = %spec.name, %at, "fence failed: something still accepts on the node's address");
                    return false;
                }
            }
        }
        true
    }

    /// Stops the nodes of members `DecreaseReplicaCount` removed and forgets them.
    async fn remove_members(&self, g: &ReplicationGroup) -> Result<()> {
        for m in &g.removing {
            let spec = self.node_spec(g, m)?;
            self.stop_member(&spec, Stop::Discard).await;
            process::remove_dir(&spec.dir)?;
        }
        let arns: Vec<String> = g
            .removing
            .iter()
            .map(|m| self.inner.settings.arn("cluster", &m.cluster_id))
            .collect();
        let removed: Vec<String> = g.removing.iter().map(|m| m.cluster_id.clone()).collect();
        self.state().store.remove_tags_of(&arns)?;
        self.update_group(&g.id, |g| {
            g.removing.clear();
            removed
                .iter()
                .map(|c| NewEvent::cluster(c, "Cache cluster deleted"))
                .collect()
        })?;
        self.ensure_endpoints(g).await?;
        self.poke_group(&g.id);
        Ok(())
    }

    /// Applies the changes that waited for the maintenance window.
    async fn apply_pending(
        &self,
        g: &ReplicationGroup,
        work: crate::model::PendingChanges,
    ) -> Result<()> {
        let mut events = Vec::new();
        let mut node_type = work.cache_node_type.clone();
        if let Some(t) = &node_type {
            let bytes = node_types::maxmemory(t).unwrap_or(0);
            if let Err(e) = self.check_fits(g, t, bytes).await {
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
                events.push(NewEvent::group(
                    &cur.id,
                    format!(
                        "Modified replication group {}: engine upgrade from {} to {v} started in the maintenance window",
                        cur.id, cur.engine_version
                    ),
                ));
                cur.upgrading_to = Some(v);
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

    /// A planned switchover of `g`'s primary to `target`, in an order that never has two primaries, whatever
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
    /// nodes alone until the store records the new primary ([`Self::switching`]). A failure before step 4 puts the
    /// old primary back (it is promoted again only while the target is not a primary); after it, the switchover is
    /// finished by the next attempt.
    async fn switch_over(&self, g: &ReplicationGroup, target: &str) -> Result<()> {
        let (Some(old), Some(new)) = (g.primary().cloned(), g.member(target).cloned()) else {
            return self.update_group(&g.id, |g| {
                g.switchover_to = None;
                vec![]
            });
        };
        let old_spec = self.node_spec(g, &old)?;
        let vip = SocketAddr::new(g.primary_endpoint, g.port);
        let mut switched = g.clone();
        switched.primary_cluster_id = new.cluster_id.clone();
        switched.switchover_to = None;
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
            AdminClient::connect_within(&old_spec.node_addr(), &self.inner.admin, timeout).await?;
        let mut n =
            AdminClient::connect_within(&new_spec.node_addr(), &self.inner.admin, timeout).await?;
        // A pause an interrupted attempt left on the target (the primary of an earlier switchover) would also
        // hold back its replication stream (a paused replica applies no write): lift it first.
        n.unpause().await?;
        match (c.role().await?, n.role().await?) {
            (Role::Primary { .. }, Role::Replica { .. }) => {
                c.pause_writes(SWITCHOVER_PAUSE.as_millis() as u64).await?;
                let handed = async {
                    let Role::Primary { offset: goal, .. } = c.role().await? else {
                        return Err(ControlError::Internal("the primary changed role".into()));
                    };
                    let deadline = Instant::now() + SWITCHOVER_PAUSE / 2;
                    loop {
                        match n.role().await? {
                            Role::Replica {
                                offset, link_up: true, ..
                            } if offset >= goal => break,
                            seen if Instant::now() > deadline => {
                                return Err(ControlError::Internal(format!(
                                    "{} did not catch up with the primary (offset {goal}) within {} ms: {seen:?}",
                                    new.cluster_id,
                                    (SWITCHOVER_PAUSE / 2).as_millis()
                                )))
                            }
                            _ => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                    c.replicaof(Some(follow_target)).await?;
                    Ok(())
                }
                .await;
                if let Err(e) = handed {
                    // Not demoted, or demoted while the target is still a replica: the old primary stays.
                    if !matches!(n.role().await, Ok(Role::Primary { .. })) {
                        let _ = c.replicaof(None).await;
                    }
                    let _ = c.unpause().await;
                    return self.switchover_failed(g, &new.cluster_id, &e.to_string());
                }
                if let Err(e) = n.replicaof(None).await {
                    if !matches!(n.role().await, Ok(Role::Primary { .. })) {
                        let _ = c.replicaof(None).await;
                        let _ = c.unpause().await;
                        return self.switchover_failed(g, &new.cluster_id, &e.to_string());
                    }
                }
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
                n.replicaof(self.node_spec(g, &new)?.replica_of).await?;
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
        // The target is the primary: record it, then move what is the control plane's to move.
        let message = format!(
            "Primary changed from {} to {} (planned switchover)",
            old.cluster_id, new.cluster_id
        );
        self.update_group(&g.id, |cur| {
            cur.primary_cluster_id = new.cluster_id.clone();
            cur.switchover_to = None;
            vec![
                NewEvent::cluster(&new.cluster_id, message.clone()),
                NewEvent::group(&cur.id, message),
            ]
        })?;
        if g.dual_stack.is_none() {
            c.set_binds(&demoted_spec.binds()).await?;
            take_addresses(&mut n, &new_spec).await?;
            for port in client_ports(&old_spec) {
                c.kill_clients_on(SocketAddr::new(vip.ip(), port)).await?;
            }
        }
        // Forwarding endpoints (a dual-stack group's) move too; then the writes that waited are answered.
        self.ensure_endpoints(&switched).await?;
        let _ = c.unpause().await;
        let role = n.role().await?;
        self.inner
            .observed
            .update(&new.cluster_id, |o| o.role = Some(role));
        // The other replicas follow the new primary now; the next refresh checks everything.
        for m in switched.replicas() {
            if m.cluster_id == old.cluster_id {
                continue;
            }
            if let Ok(mut r) = AdminClient::connect_within(
                &switched.admin_addr(m, &self.inner.settings.data_dir),
                &self.inner.admin,
                STEP_COMMAND_TIMEOUT,
            )
            .await
            {
                let _ = r.replicaof(Some(switched.link_addr(&new, m.ipv6))).await;
            }
        }
        self.refresh_roles_soon(&g.id);
        Ok(())
    }

    /// Ends a switchover that could not happen: the old primary stays, and an event says why.
    fn switchover_failed(&self, g: &ReplicationGroup, target: &str, why: &str) -> Result<()> {
        tracing::warn!(group = %g.id, %target, why, "switchover failed");
        self.update_group(&g.id, |g| {
            g.switchover_to = None;
            vec![NewEvent::group(
                &g.id,
                format!("Could not switch the primary to {target}: {why}"),
            )]
        })
    }

    /// The members whose roles a switchover in progress is changing: left alone by role corrections.
    fn switching(g: &ReplicationGroup) -> Vec<String> {
        match &g.switchover_to {
            Some(t) => vec![g.primary_cluster_id.clone(), t.clone()],
            None => vec![],
        }
    }

    /// One step of a rolling engine upgrade to `target`: replicas are replaced one at a time (stopped cleanly and
    /// started by the next step on the new binary from their data, then resynced); when only the primary is left,
    /// a planned switchover hands its role to an upgraded replica, and it is replaced in turn; a group without
    /// replicas has its primary restarted in place. Returns true when it changed something.
    async fn upgrade_step(
        &self,
        g: &ReplicationGroup,
        target: &str,
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        let upgraded = |m: &Member| m.engine_version.as_deref() == Some(target);
        // Wait until every replaced node is back: running, and (a replica) linked to the primary, its full sync
        // judged against its deadline.
        let mut back = Vec::new();
        for m in g.members.iter().filter(|m| upgraded(m)) {
            if !self.inner.monitor.health(&m.cluster_id).is_up() {
                return Ok(false);
            }
            if m.cluster_id != g.primary_cluster_id {
                back.push(self.node_spec(g, m)?);
            }
        }
        if !self.wait_for_links(g, &back, poke).await? {
            self.refresh_roles_soon(&g.id);
            return Ok(false);
        }
        let next_replica = g.replicas().find(|m| !upgraded(m)).cloned();
        let primary = g.primary().cloned();
        let replace = match (next_replica, primary) {
            (Some(r), _) => Some(r),
            (None, Some(p)) if !upgraded(&p) => {
                if let Some(r) = g.replicas().find(|m| upgraded(m)) {
                    let to = r.cluster_id.clone();
                    self.update_group(&g.id, |cur| {
                        cur.switchover_to = Some(to);
                        vec![]
                    })?;
                    return Ok(true);
                }
                Some(p)
            }
            _ => None,
        };
        match replace {
            Some(m) => {
                tracing::info!(group = %g.id, node = %m.cluster_id, %target, "upgrading node");
                let spec = self.node_spec(g, &m)?;
                let id = m.cluster_id.clone();
                let version = target.to_string();
                self.update_group(&g.id, |cur| {
                    if let Some(x) = cur.members.iter_mut().find(|x| x.cluster_id == id) {
                        x.engine_version = Some(version.clone());
                    }
                    vec![NewEvent::cluster(
                        &id,
                        format!("Upgrading cache node 0001 to engine version {version}"),
                    )]
                })?;
                self.stop_member(&spec, Stop::Graceful).await;
                // A replica restarted on another engine cannot resume its link (its replication id is not kept
                // with an append-only file): it full-syncs whatever it holds. Loading its own copy first would only
                // double the time; it starts empty instead, kept out of the reader endpoint and out of failover
                // choices until synced. A primary (a group without replicas) keeps its data, of course.
                if m.cluster_id != g.primary_cluster_id {
                    engine::restore::discard_data(&spec)?;
                }
                // Readers leave it now, before it starts again at the same address.
                self.ensure_endpoints(g).await?;
            }
            None => {
                let version = target.to_string();
                self.update_group(&g.id, |cur| {
                    let from = std::mem::replace(&mut cur.engine_version, version.clone());
                    for x in cur.members.iter_mut() {
                        x.engine_version = None;
                    }
                    cur.upgrading_to = None;
                    cur.cache_parameter_group =
                        crate::replication_groups::default_parameter_group(&version);
                    vec![NewEvent::group(
                        &cur.id,
                        format!(
                            "Upgraded the engine of replication group {} from {from} to {version}",
                            cur.id
                        ),
                    )]
                })?;
            }
        }
        Ok(true)
    }

    /// One step of moving a dual-stack group's nodes to the address family of its `IpDiscovery`: a replica at a
    /// time is re-pointed at the primary's address of that family and announces its own (by the next
    /// correction, a partial resync: it keeps its data and the primary's replication id), and the next one
    /// moves only when its link is up again; the primary moves last. Returns true when it changed something.
    async fn discovery_step(&self, g: &ReplicationGroup, ipv6: bool) -> Result<bool> {
        let Some(primary) = g.primary() else {
            return Ok(false);
        };
        let want = g.link_addr(primary, ipv6);
        for m in g.replicas().filter(|m| m.ipv6 == ipv6) {
            let linked = matches!(
                self.inner.observed.get(&m.cluster_id).and_then(|o| o.role),
                Some(Role::Replica { link_up: true, primary: Some(p), .. }) if p == want
            );
            if !linked {
                self.refresh_roles_soon(&g.id);
                return Ok(false);
            }
        }
        let Some(next) = g
            .replicas()
            .find(|m| m.ipv6 != ipv6)
            .or(Some(primary).filter(|p| p.ipv6 != ipv6))
            .cloned()
        else {
            return Ok(false);
        };
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        let addr = g.addr_of(&next, ipv6);
        tracing::info!(group = %g.id, node = %next.cluster_id, %addr, "moving node to {family}");
        self.update_group(&g.id, |cur| {
            if let Some(x) = cur
                .members
                .iter_mut()
                .find(|x| x.cluster_id == next.cluster_id)
            {
                x.ipv6 = ipv6;
            }
            let mut events = vec![NewEvent::cluster(
                &next.cluster_id,
                format!("Cache node 0001 now discovered over {family} at {addr}"),
            )];
            if cur.members.iter().all(|m| m.ipv6 == ipv6) {
                events.push(NewEvent::group(
                    &cur.id,
                    format!(
                        "IP discovery of replication group {} changed to {}",
                        cur.id,
                        cur.ip_discovery()
                    ),
                ));
            }
            events
        })?;
        self.refresh_roles_soon(&g.id);
        Ok(true)
    }

    /// A `modifying` group whose work is done becomes `available`.
    fn finish_modify(&self, id: &str) -> Result<()> {
        let synced = |c: &String| {
            matches!(
                self.inner.observed.get(c).and_then(|o| o.role),
                Some(Role::Replica { link_up: true, .. })
            )
        };
        self.update_group(id, |g| {
            if g.status != GroupStatus::Modifying
                || !g.removing.is_empty()
                || g.switchover_to.is_some()
                || g.upgrading_to.is_some()
                || !g.adding.iter().all(synced)
                || g.migration.as_ref().is_some_and(|m| m.is_running())
                || g.dual_stack
                    .as_ref()
                    .is_some_and(|d| g.members.iter().any(|m| m.ipv6 != d.ipv6_discovery))
            {
                return vec![];
            }
            g.failover_transition = None;
            if let Some(a) = g.auth.as_mut().filter(|a| a.status.is_some()) {
                a.status = None;
                a.last_modified = Some(now());
            }
            let mut events: Vec<NewEvent> = g
                .adding
                .iter()
                .filter_map(|c| g.member(c))
                .map(NewEvent::node_added)
                .collect();
            g.adding.clear();
            g.status = GroupStatus::Available;
            events.push(NewEvent::group(
                &g.id,
                format!("Replication group {} modified", g.id),
            ));
            events
        })
    }

    /// Waits a little (up to [`PROGRESS_LOOK`], less when the monitor pokes the group) for the replicas of `specs`
    /// to report their links up. True when all are; false when some are still on their way (waiting for their
    /// primary, receiving a full sync or loading it), and the step ends so the next one looks again at once. A
    /// replica past its deadline ([`crate::progress`]) is restarted, to sync afresh, and the step fails.
    async fn wait_for_links(
        &self,
        g: &ReplicationGroup,
        specs: &[NodeSpec],
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        if specs.iter().all(|s| s.replica_of.is_none()) {
            return Ok(true);
        }
        let until = Instant::now() + PROGRESS_LOOK;
        // What the syncs carry, read once per look (their deadline's size).
        let size = self.dataset_size(g).await;
        loop {
            if self.check_links(specs, size).await? {
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
    async fn check_links(&self, specs: &[NodeSpec], size: u64) -> Result<bool> {
        let mut all = true;
        for spec in specs.iter().filter(|s| s.replica_of.is_some()) {
            let mut c = AdminClient::connect(&spec.node_addr(), &self.inner.admin).await?;
            let info = c.info("replication").await?;
            let role = engine::admin::role_from_info(&info);
            let up = matches!(role, Some(Role::Replica { link_up: true, .. }));
            if up {
                self.inner.observed.update(&spec.name, |o| {
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
            self.inner.observed.update(&spec.name, |o| {
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
                        crate::progress::STALL,
                        w.phase,
                        crate::progress::human_bytes(w.done)
                    ),
                    Verdict::Overdue(limit) => format!(
                        "not synced within {limit:?}, the deadline for {} of data",
                        crate::progress::human_bytes(w.size)
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

    /// The size in memory of the dataset of `g`'s primary (what its replicas' full syncs carry), 0 when it cannot
    /// be read.
    async fn dataset_size(&self, g: &ReplicationGroup) -> u64 {
        let Some(spec) = g.primary().and_then(|p| self.node_spec(g, p).ok()) else {
            return 0;
        };
        let read = async {
            let mut c = AdminClient::connect_within(
                &spec.node_addr(),
                &self.inner.admin,
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
    async fn loads_done(
        &self,
        g: &ReplicationGroup,
        specs: &[NodeSpec],
        poke: &Arc<Notify>,
    ) -> Result<bool> {
        let loading = |this: &Self| -> Vec<NodeSpec> {
            specs
                .iter()
                .filter(|s| {
                    this.inner
                        .observed
                        .get(&s.name)
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
                let mut c = AdminClient::connect(&spec.node_addr(), &self.inner.admin).await?;
                self.note_load(&mut c, spec).await?;
                let now = Instant::now();
                let Some(w) = self.inner.observed.get(&spec.name).and_then(|o| o.load) else {
                    continue;
                };
                let why = match w.verdict(now) {
                    Verdict::OnItsWay => continue,
                    Verdict::Stalled => format!(
                        "its load made no progress for {:?} ({} of {} read)",
                        crate::progress::STALL,
                        crate::progress::human_bytes(w.done),
                        crate::progress::human_bytes(w.total)
                    ),
                    Verdict::Overdue(limit) => format!(
                        "it did not load {} of data within {limit:?}",
                        crate::progress::human_bytes(w.size)
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

    /// Kills a node stuck on its data (a load or a sync past its deadline) so that it starts again: the next step
    /// restarts it from its own data (or fails over from it), and a replica syncs afresh.
    async fn restart_stuck(&self, spec: &NodeSpec, why: &str) -> Result<()> {
        if let Some(pid) = self.inner.observed.get(&spec.name).and_then(|o| o.pid) {
            let _ = process::kill_now(pid).await;
        }
        self.inner.observed.update(&spec.name, |o| {
            o.load = None;
            o.sync = None;
        });
        self.state().store.add_events(
            now(),
            &[NewEvent::cluster(
                &spec.name,
                format!("Cache node 0001 was restarted: {why}"),
            )],
        )?;
        Ok(())
    }

    fn finish_create(&self, id: &str) -> Result<()> {
        let t = now();
        let mut st = self.state();
        let Some(mut g) = st.groups.get(id).cloned() else {
            return Ok(());
        };
        if g.status != GroupStatus::Creating {
            return Ok(());
        }
        g.status = GroupStatus::Available;
        g.create_attempts = 0;
        let restored = g.restore_from.take();
        let mut events: Vec<NewEvent> = g.members.iter().map(NewEvent::node_added).collect();
        if let Some(name) = restored {
            events.push(NewEvent::group(
                &g.id,
                format!("Restored replication group {} from snapshot {name}", g.id),
            ));
        }
        events.push(NewEvent::group(
            &g.id,
            format!("Replication group {} created", g.id),
        ));
        st.store.put_group(&g, t, &events)?;
        st.groups.insert(g.id.clone(), g);
        Ok(())
    }

    async fn creation_failed(&self, id: &str, err: &ControlError) -> Result<()> {
        tracing::warn!(group = %id, error = %err, "creation attempt failed");
        let t = now();
        let failed = {
            let mut st = self.state();
            let Some(mut g) = st.groups.get(id).cloned() else {
                return Ok(());
            };
            g.create_attempts += 1;
            let mut events = Vec::new();
            let failed = g.create_attempts >= MAX_CREATE_ATTEMPTS;
            if failed {
                g.status = GroupStatus::CreateFailed;
                events.push(NewEvent::group(
                    id,
                    format!("Failed to create replication group {id}: its nodes could not be started (the daemon log has the details)."),
                ));
            }
            st.store.put_group(&g, t, &events)?;
            st.groups.insert(id.to_string(), g.clone());
            failed.then_some(g)
        };
        if let Some(g) = failed {
            for m in &g.members {
                self.stop_member(&self.node_spec(&g, m)?, Stop::Discard)
                    .await;
                self.drop_sniffers(&[m.address], g.port);
            }
            self.drop_sniffers(&[g.primary_endpoint], g.port);
            self.drop_endpoints(id);
        }
        Ok(())
    }

    async fn stop_member(&self, spec: &NodeSpec, how: Stop) {
        self.inner.monitor.forget(&spec.name);
        let pid = self
            .inner
            .observed
            .get(&spec.name)
            .and_then(|o| o.pid)
            .or_else(|| process::read_pid(spec));
        if let Some(pid) = pid {
            let t = Instant::now();
            match how {
                Stop::Graceful => process::stop(pid, STOP_GRACE).await,
                Stop::Discard => {
                    let _ = process::kill_now(pid).await;
                }
            }
            tracing::info!(node = %spec.name, pid, millis = t.elapsed().as_millis() as u64, "stopped node");
        }
        self.inner.observed.remove(&spec.name);
    }

    async fn delete_nodes(&self, g: &ReplicationGroup) -> Result<()> {
        if let Some(name) = &g.final_snapshot {
            self.final_snapshot_step(g, name).await?;
        }
        let mut retained = None;
        for m in &g.members {
            let spec = self.node_spec(g, m)?;
            if g.retain_cluster_id.as_deref() == Some(m.cluster_id.as_str()) {
                retained = Some(StandaloneCluster {
                    member: m.clone(),
                    engine: g.engine.clone(),
                    engine_version: g.engine_version.clone(),
                    cache_node_type: g.cache_node_type.clone(),
                    port: g.node_port(m),
                    preferred_maintenance_window: g.preferred_maintenance_window.clone(),
                    security_group_ids: g.security_group_ids.clone(),
                    auto_minor_version_upgrade: g.auto_minor_version_upgrade,
                    cache_parameter_group: g.cache_parameter_group.clone(),
                    snapshot_window: g.snapshot_window.clone(),
                    transit_encryption: g.transit_encryption,
                    auth: g.auth.clone(),
                    acl: g.acl.clone(),
                });
                continue;
            }
            self.stop_member(&spec, Stop::Discard).await;
            self.drop_sniffers(&[m.address], g.port);
            process::remove_dir(&spec.dir)?;
        }
        self.drop_sniffers(&[g.primary_endpoint], g.port);
        self.drop_endpoints(&g.id);
        self.drop_automatic_snapshots(&g.id)?;
        self.inner
            .endpoints
            .roles_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&g.id);
        let s = &self.inner.settings;
        let mut arns = vec![s.arn("replicationgroup", &g.id)];
        let mut events = Vec::new();
        for m in &g.members {
            if retained
                .as_ref()
                .is_some_and(|r| r.member.cluster_id == m.cluster_id)
            {
                continue;
            }
            arns.push(s.arn("cluster", &m.cluster_id));
            events.push(NewEvent::cluster(&m.cluster_id, "Cache cluster deleted"));
        }
        events.push(NewEvent::group(
            &g.id,
            format!("Replication group {} deleted", g.id),
        ));
        let mut st = self.state();
        st.store
            .remove_group(&g.id, &arns, retained.as_ref(), now(), &events)?;
        st.groups.remove(&g.id);
        if let Some(r) = retained {
            st.standalone.insert(r.member.cluster_id.clone(), r);
        }
        Ok(())
    }

    async fn ensure_standalone(&self, s: &StandaloneCluster) -> Result<()> {
        let spec = self.standalone_spec(s)?;
        if s.member.rebooting {
            self.stop_member(&spec, Stop::Graceful).await;
        }
        let poke = self.poke_of(&format!("cc:{}", s.member.cluster_id));
        let restarted = self.ensure_node(&spec, &poke).await?;
        if s.member.rebooting {
            let id = s.member.cluster_id.clone();
            let mut st = self.state();
            if let Some(mut cur) = st.standalone.get(&id).cloned() {
                cur.member.rebooting = false;
                st.store.put_standalone(
                    &cur,
                    now(),
                    &[NewEvent::cluster(&id, "Cache node 0001 restarted")],
                )?;
                st.standalone.insert(id, cur);
            }
        } else if restarted {
            self.state().store.add_events(
                now(),
                &[NewEvent::cluster(
                    &s.member.cluster_id,
                    "Finished recovery for cache nodes 0001",
                )],
            )?;
        }
        let role_known = self
            .inner
            .observed
            .get(&spec.name)
            .is_some_and(|o| o.role.is_some());
        if restarted || !role_known {
            self.observe_and_correct(std::slice::from_ref(&spec), STEP_COMMAND_TIMEOUT, &[])
                .await?;
        }
        let preferred = s.transit_encryption == Some(crate::model::TransitMode::Preferred);
        self.ensure_sniffers_on(&[s.member.address], s.port, preferred)
            .await
    }

    /// Binds the stable endpoints of every live group before the API answers, so that a restarted daemon never
    /// reports `available` for a group whose endpoints are not listening. Returns the groups that failed.
    pub async fn restore_endpoints(&self) -> Vec<(String, ControlError)> {
        let groups: Vec<ReplicationGroup> = self
            .state()
            .groups
            .values()
            .filter(|g| {
                matches!(
                    g.status,
                    GroupStatus::Available | GroupStatus::Modifying | GroupStatus::Migrating
                )
            })
            .cloned()
            .collect();
        let mut failed = Vec::new();
        for g in groups {
            if let Err(e) = self.ensure_endpoints(&g).await {
                failed.push((g.id.clone(), e));
            }
        }
        failed
    }

    /// Stops a standalone cluster's node, removes its data and forgets it.
    pub(crate) async fn remove_standalone(&self, s: &StandaloneCluster) -> Result<()> {
        let spec = self.standalone_spec(s)?;
        self.stop_member(&spec, Stop::Discard).await;
        process::remove_dir(&spec.dir)?;
        let id = &s.member.cluster_id;
        let arn = self.inner.settings.arn("cluster", id);
        let mut st = self.state();
        st.store.remove_standalone(
            id,
            &arn,
            now(),
            &[NewEvent::cluster(id, "Cache cluster deleted")],
        )?;
        st.standalone.remove(id);
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
                .flat_map(|g| g.members.iter().filter_map(|m| self.node_spec(g, m).ok()))
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
    }
}

/// The ports clients are connected to Redis on, on each of a node's addresses: its port, or in TLS `preferred`
/// mode the two ports behind the front.
fn client_ports(spec: &NodeSpec) -> Vec<u16> {
    let (plain, tls) = spec.listen_ports();
    [plain, tls].into_iter().filter(|p| *p != 0).collect()
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
