//! What a workflow is given instead of the whole control plane: the settings, the [`Nodes`], the state with the one
//! way to change it, and the handles of the endpoints and the workers. The worker (`runtime::worker`) drives every
//! workflow through a [`Step`]; an API action reaches a workflow's pure parts (a node's spec) through it as well.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use tokio::sync::Notify;

use super::host::Nodes;
use super::Endpoints;
use crate::error::{ControlError, Result};
use crate::model::{NewEvent, ParameterGroup, ReplicationGroup};
use crate::state::{State, Tx, Wakes};
use crate::{now, Settings};

/// The parts a workflow works with (shared by every clone of a [`Step`] and by the daemon's `Control`).
pub struct Core {
    pub settings: Settings,
    /// The endpoints' DNS names, with `--dns-zone`.
    pub names: Option<crate::rules::endpoint_names::EndpointNames>,
    /// The deployment's certificate authority (`<data dir>/tls`), which signs every node's certificate.
    pub tls: Arc<engine::tls::Authority>,
    /// The processes of the nodes, their health and what was observed of them.
    pub nodes: Arc<dyn Nodes>,
    pub state: Mutex<State>,
    /// Customers' cache parameter groups (the default ones are not stored), apart from `state` so that a node's
    /// spec can be made while the state is locked. Lock order: `state`, then this.
    pub parameter_groups: Mutex<BTreeMap<String, ParameterGroup>>,
    pub endpoints: Endpoints,
    /// Wakes the reconciler.
    pub wake: Notify,
    /// Set when the daemon stops: no node is started after it.
    pub stopping: AtomicBool,
    /// Whether this daemon runs the workers (always, alone on its store; on a shared store, once it leads). A
    /// daemon that does not lead has observed no node: what it must know of them it asks them itself.
    pub leads: AtomicBool,
    /// The generation this daemon leads under (the store's lease; 1 alone on its store): host agents obey no
    /// older one.
    pub generation: Arc<std::sync::atomic::AtomicI64>,
    /// What workflows count as it happens (failovers, switchovers), read by the metrics collector.
    pub figures: Figures,
    /// How many catch-ups with the store reads have applied ([`Step::state`]).
    pub caught_up: std::sync::atomic::AtomicU64,
    /// When a DNS answer last caught up with a shared store ([`Step::recent_state`]).
    pub dns_caught_up: Mutex<Option<Instant>>,
}

/// How stale a DNS answer of a daemon on a shared store may be: at most this long behind the store.
pub const DNS_CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A label set: names and values, in order.
pub type Labels = Vec<(&'static str, String)>;
pub type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// The figures workflows keep as they happen.
pub struct Figures {
    pub failovers: Family<Labels, Counter>,
    pub failover_gap: HistogramFamily,
    pub switchovers: Family<Labels, Counter>,
}

impl Default for Figures {
    fn default() -> Self {
        Figures {
            failovers: Family::default(),
            // 50 ms to about 100 s.
            failover_gap: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.05, 2.0, 12))
            }),
            switchovers: Family::default(),
        }
    }
}

impl Figures {
    /// A failover of a group's primary: `automatic` (the primary failed) or `test` (`TestFailover`); `gap`: from
    /// the primary's failure (or the request) until the new primary took writes.
    pub(crate) fn failover(&self, group: &str, kind: &str, gap: std::time::Duration) {
        let group_label = vec![("replication_group", group.to_string())];
        let mut labels = group_label.clone();
        labels.push(("kind", kind.to_string()));
        self.failovers.get_or_create(&labels).inc();
        self.failover_gap
            .get_or_create(&group_label)
            .observe(gap.as_secs_f64());
    }

    /// A planned change of a group's primary (a primary chosen by the customer, a rolling upgrade's last step).
    pub(crate) fn switchover(&self, group: &str) {
        self.switchovers
            .get_or_create(&vec![("replication_group", group.to_string())])
            .inc();
    }
}

/// The state held for reading (the lock is held until it is dropped).
pub struct Read<'a>(MutexGuard<'a, State>);

impl std::ops::Deref for Read<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

/// The context of a workflow's step. Cheap to clone.
#[derive(Clone)]
pub struct Step {
    pub(crate) inner: Arc<Core>,
}

impl Step {
    pub(crate) fn new(core: Core) -> Self {
        Step {
            inner: Arc::new(core),
        }
    }

    /// Whether this daemon runs the workers (see [`Core::leads`]).
    pub(crate) fn leads(&self) -> bool {
        self.inner.leads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The processes of the nodes.
    pub(crate) fn nodes(&self) -> &dyn Nodes {
        &*self.inner.nodes
    }

    /// The state, to read, current with what other daemons committed to a shared store: a change goes through
    /// [`Step::commit`]. Should the store not answer, the state as last known (and a warning).
    ///
    /// Reads that arrive together share one catch-up: a read is current once a catch-up that began after it
    /// arrived has been applied (catch-ups run under the state's lock, one at a time), so a read waiting for the
    /// lock behind another's catch-up asks the store nothing more. A change committed through another daemon before
    /// a read arrives is always in what the read sees.
    ///
    /// On a shared store the wait (for the lock, and for the store) happens off the async runtime's worker
    /// ([`tokio::task::block_in_place`]), so that other requests keep being served and pile up to share the next
    /// catch-up.
    pub(crate) fn state(&self) -> Read<'_> {
        self.off_worker(|| self.caught_up_state())
    }

    /// Runs `f`, which may wait for the state's lock or a shared store, off the async runtime's worker when the
    /// store is shared (there, a lock may be held across a round trip to the store).
    fn off_worker<T>(&self, f: impl FnOnce() -> T) -> T {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if self.inner.settings.store.shared() && multi_thread {
            tokio::task::block_in_place(f)
        } else {
            f()
        }
    }

    /// The state for a DNS answer: as [`Step::state`], but caught up with a shared store at most every
    /// [`DNS_CATCH_UP_EVERY`] (a flood of queries makes at most that many reads of the store); in between, what this
    /// daemon knows (a leader knows its own commits at once).
    pub(crate) fn recent_state(&self) -> Read<'_> {
        if self.inner.settings.store.shared() {
            let mut last = self
                .inner
                .dns_caught_up
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < DNS_CATCH_UP_EVERY) {
                drop(last);
                return self.off_worker(|| Read(self.lock()));
            }
            *last = Some(Instant::now());
        }
        self.state()
    }

    fn caught_up_state(&self) -> Read<'_> {
        use std::sync::atomic::Ordering;
        let arrived = self.inner.caught_up.load(Ordering::SeqCst);
        let mut st = self.lock();
        if self.inner.caught_up.load(Ordering::SeqCst) > arrived + 1 {
            // Two catch-ups were applied since: the second began after this read arrived.
            return Read(st);
        }
        match st.catch_up(&self.inner.parameter_groups) {
            Ok(wakes) => {
                self.inner.caught_up.fetch_add(1, Ordering::SeqCst);
                self.wake(&wakes)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not catch up with the store; answering from what this daemon knows")
            }
        }
        Read(st)
    }

    fn wake(&self, wakes: &Wakes) {
        for (id, refresh) in &wakes.groups {
            if *refresh {
                self.refresh_roles_soon(id);
            }
            self.poke_group(id);
        }
        if wakes.all {
            self.inner.wake.notify_one();
        }
    }

    /// Keeps what the hosts reported last ([`State::host_memory`]): not a change of the state, nothing is stored.
    pub(crate) fn set_host_memory(&self, reported: BTreeMap<String, (u64, Vec<String>)>) {
        self.lock().host_memory = reported;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave memory and store apart (writes go to the store first), so
        // a poisoned lock is still consistent.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The one way a change lands: locks the state, lets `f` check and change it (its writes go through the
    /// store, each with its events in one transaction, and into memory), releases the lock, then wakes the workers
    /// `f` asked for. An error from `f` wakes nothing; `f` makes its checks before its writes, so a refused change
    /// writes nothing.
    ///
    /// On a store shared by several daemons the commit is serialised with theirs and is one transaction: it first
    /// applies what they committed, so `f` checks against the newest state. Should the store keep nothing of it
    /// (its end failed), the state is loaded again and the change is an error.
    pub(crate) fn commit<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut st = self.lock();
        let caught = st.begin_commit(&mut self.parameter_groups())?;
        self.wake(&caught);
        // Only a shared store can have daemons on several machines: one machine's commits count nothing.
        let off_hosts = self
            .inner
            .settings
            .store
            .shared()
            .then(|| st.nodes_off_hosts());
        let mut tx = Tx::new(st);
        // A panic in `f` ends the commit without it, and the state is loaded again at the next look.
        let out = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx))) {
            Ok(out) => out,
            Err(panic) => {
                tx.abort_commit();
                drop(tx);
                std::panic::resume_unwind(panic)
            }
        };
        if out.is_ok() && off_hosts.is_some_and(|before| tx.nodes_off_hosts() > before) {
            if let Err(e) = self.refuse_off_hosts(&tx) {
                // Memory holds what the store will not: loaded again at once, before any read sees it.
                tx.abort_and_reload(&mut self.parameter_groups());
                drop(tx);
                return Err(e);
            }
        }
        let ended = tx.end_commit(&mut self.parameter_groups());
        let wakes = tx.finish();
        let out = out?;
        ended?;
        self.wake(&wakes);
        Ok(out)
    }

    /// New nodes off hosts (in the leader's data directory) are refused once daemons of several machines share the
    /// store: no other daemon could lead them (see `store::shared_files::Machines`).
    fn refuse_off_hosts(&self, st: &State) -> Result<()> {
        if !st.on_several_machines()? {
            return Ok(());
        }
        Err(ControlError::InsufficientCacheClusterCapacity(
            "this deployment's daemons run on several machines, so every node runs on a host (an agent), and the \
             hosts cannot run these nodes yet: TLS, dual stack, restores from a file and Memcached clusters run \
             on a daemon's own machine. Create the cluster without them, or run every daemon with one \
             data directory on one machine (docs/hosts.md)."
                .into(),
        ))
    }

    /// Records events that change nothing else.
    pub(crate) fn add_events(
        &self,
        t: chrono::DateTime<chrono::Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        self.commit(|st| st.store.add_events(t, events))
    }

    /// Applies `f` to the stored group and writes it with the events `f` returns, in one transaction.
    pub(crate) fn update_group(
        &self,
        id: &str,
        f: impl FnOnce(&mut ReplicationGroup) -> Vec<NewEvent>,
    ) -> Result<()> {
        self.commit(|st| {
            let Some(mut g) = st.groups.get(id).cloned() else {
                return Ok(());
            };
            let before = g.clone();
            let events = f(&mut g);
            if g == before && events.is_empty() {
                return Ok(());
            }
            st.save_group(&g, now(), &events)
        })
    }

    /// The wake-up of the worker of `key` (`rg:<id>` or `cc:<id>`).
    pub(crate) fn poke_of(&self, key: &str) -> Arc<Notify> {
        self.inner
            .endpoints
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Runs the next step of a group's worker now. A group without a worker (a new one, whose worker the reconciler
    /// starts and which runs its first step at once; or a daemon that does not lead) gets nothing, so that no
    /// wake-up is kept for a worker that may never be.
    pub(crate) fn poke_group(&self, id: &str) {
        let poke = self
            .inner
            .endpoints
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("rg:{id}"))
            .cloned();
        if let Some(p) = poke {
            p.notify_one();
        }
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
}

impl Step {
    /// The parameter group `name` (case-insensitive): a customer's, or a default one of a family here.
    pub fn parameter_group(&self, name: &str) -> Option<ParameterGroup> {
        let name = name.to_ascii_lowercase();
        if let Some(g) = self.parameter_groups().get(&name) {
            return Some(g.clone());
        }
        ParameterGroup::default_named(&name, &self.inner.settings.parameter_families())
    }

    pub(crate) fn parameter_groups(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<String, ParameterGroup>> {
        self.inner
            .parameter_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}
