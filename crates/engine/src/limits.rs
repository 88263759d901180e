//! File descriptors: the process's open-file limit, and the share of it customers' connections may hold.
//!
//! At start the daemon raises its soft `RLIMIT_NOFILE` to the hard one ([`raise_file_limit`]). Of that limit a
//! reserve ([`reserve_for`]) is kept for the daemon's own work: the API, the metrics listener, the admin
//! connections to nodes, the store, node processes' pipes and logs. The rest is the customers' budget, shared by
//! every customer-facing listener (endpoint forwarders, TLS `preferred` fronts, Memcached configuration endpoints).
//! Each of those listeners also has a cap of its own, so that one endpoint cannot take the whole budget
//! ([`Gate`]). A connection the budget or its listener's cap cannot take is closed as soon as it is accepted,
//! unless an idle connection of the same listener (one without a request in progress) can make room for it:
//! that one is evicted, the connection idle longest first. Customers' connections never bring the process to
//! `EMFILE`, and idle ones never lock out a client with something to ask.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use tokio_util::sync::CancellationToken;

/// Descriptors a forwarded connection holds: the client's and the node's.
pub const FORWARDED: usize = 2;

/// What [`raise_file_limit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimit {
    /// The soft limit the process started with.
    pub before: u64,
    /// The soft limit now (the hard one, unless raising failed).
    pub limit: u64,
    /// Descriptors kept for the daemon's own work.
    pub reserve: u64,
}

/// The highest limit asked for when the hard limit is unlimited (Linux's default `nr_open`).
const UNLIMITED: u64 = 1 << 20;

/// Raises the soft open-file limit to the hard one and sets the customers' budget from it. Children started
/// afterwards (the nodes) inherit the raised limit. Raising cannot fail in a way that matters: when it does, the
/// budget is taken from the limit the process has.
pub fn raise_file_limit() -> FileLimit {
    let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
    let wanted = if hard == RLIM_INFINITY {
        UNLIMITED
    } else {
        hard
    };
    let limit = if wanted > before && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        wanted
    } else {
        before
    };
    let budget = budget_for(limit);
    let _ = BUDGET.set(budget);
    FileLimit {
        before,
        limit,
        reserve: reserve_for(limit),
    }
}

/// The descriptors kept for the daemon's own work under an open-file limit of `limit`: half of it, at least 64
/// and at most 2048 (the API's 256 connections, the metrics listener's, an admin connection per node and the
/// nodes' pipes and logs fit in that many on a machine running hundreds of nodes).
pub fn reserve_for(limit: u64) -> u64 {
    (limit / 2).clamp(64, 2048).min(limit)
}

fn budget_for(limit: u64) -> Budget {
    Budget {
        total: usize::try_from(limit.saturating_sub(reserve_for(limit))).unwrap_or(usize::MAX),
        used: AtomicUsize::new(0),
    }
}

/// The customers' share of the process's descriptors.
#[derive(Debug)]
struct Budget {
    total: usize,
    used: AtomicUsize,
}

static BUDGET: OnceLock<Budget> = OnceLock::new();

/// The budget: set by [`raise_file_limit`], else taken from the limit the process has.
fn budget() -> &'static Budget {
    BUDGET.get_or_init(|| {
        let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((1024, 1024));
        budget_for(soft)
    })
}

/// Takes `n` from `counter` if it stays within `cap`.
fn take(counter: &AtomicUsize, n: usize, cap: usize) -> bool {
    counter
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(n).filter(|u| *u <= cap)
        })
        .is_ok()
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its listener holds its most connections, each with a request in progress.
    ListenerFull,
    /// Customers' connections hold every descriptor they may.
    DescriptorsExhausted,
}

/// The customers' budget of a listener of the daemon's own (the API, metrics): its connections are counted in
/// the reserve ([`reserve_for`]), so they take nothing of the customers' budget.
static RESERVED: Budget = Budget {
    total: usize::MAX,
    used: AtomicUsize::new(0),
};

/// One listener's admission: at most `cap` connections, each holding descriptors of the shared budget while it
/// lives.
///
/// At the cap a new connection does not lose to idle ones: the connection idle longest (one admitted with
/// [`Gate::admit_idle`] that has no request in progress: it has not finished its first request, or waits
/// between requests) is evicted, its place and descriptors go to the new one, and the evicted connection's task
/// sees [`Admission::evicted`] and closes it. A connection with a request in progress ([`Admission::busy`]) and a
/// forwarded one ([`Gate::admit`]) are never evicted; when every connection is one of those, the new one is
/// refused.
#[derive(Debug, Clone)]
pub struct Gate {
    /// What the listener is, for the log (`reader endpoint 127.0.0.3:6379`).
    name: Arc<str>,
    cap: usize,
    open: Arc<AtomicUsize>,
    budget: &'static Budget,
    idle: Arc<Mutex<Idle>>,
    /// When a refusal was last logged (seconds since the Unix epoch): a flood logs once every 10 s, not per
    /// connection.
    warned: Arc<AtomicU64>,
}

impl Gate {
    /// A customer-facing listener's gate: its connections hold descriptors of the customers' budget.
    pub fn new(name: impl Into<String>, cap: usize) -> Self {
        Self::within(name, cap, budget())
    }

    /// A gate for a listener of the daemon's own (the API, metrics), whose descriptors are in the reserve.
    pub fn reserved(name: impl Into<String>, cap: usize) -> Self {
        Self::within(name, cap, &RESERVED)
    }

    fn within(name: impl Into<String>, cap: usize, budget: &'static Budget) -> Self {
        Self {
            name: Arc::from(name.into()),
            cap,
            open: Arc::new(AtomicUsize::new(0)),
            budget,
            idle: Arc::new(Mutex::new(Idle::default())),
            warned: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Connections this listener holds now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Admits a connection that is busy for its whole life (a forwarded stream: never evicted) and will hold
    /// `descriptors` (its own included), or says why not. The admission gives them back when dropped.
    pub fn admit(&self, descriptors: usize) -> Result<Admission, Refusal> {
        let held = self.hold(descriptors)?;
        Ok(Admission { held, place: None })
    }

    /// Admits a connection that has no request in progress yet: until it starts one ([`Admission::busy`]), and
    /// whenever it waits between requests, a newer connection may evict it when the listener is full.
    pub fn admit_idle(&self, descriptors: usize) -> Result<Admission, Refusal> {
        let held = self.hold(descriptors)?;
        let place = Place {
            idle: self.idle.clone(),
            id: lock(&self.idle).enter(held.clone()),
        };
        Ok(Admission {
            held,
            place: Some(place),
        })
    }

    /// Takes a place and `descriptors`; when either is short, evicts the connection idle longest and tries once
    /// more.
    fn hold(&self, descriptors: usize) -> Result<Arc<Held>, Refusal> {
        let why = match self.try_hold(descriptors) {
            Ok(h) => return Ok(h),
            Err(why) => why,
        };
        let evicted = lock(&self.idle).evict_idlest();
        let result = if evicted {
            tracing::debug!(listener = %self.name, "the connection idle longest was closed for a new one");
            self.try_hold(descriptors)
        } else {
            Err(why)
        };
        if let Err(why) = result {
            self.refused(why);
        }
        result
    }

    fn try_hold(&self, descriptors: usize) -> Result<Arc<Held>, Refusal> {
        if !take(&self.open, 1, self.cap) {
            return Err(Refusal::ListenerFull);
        }
        let b = self.budget;
        if !take(&b.used, descriptors, b.total) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::DescriptorsExhausted);
        }
        Ok(Arc::new(Held {
            open: self.open.clone(),
            budget: b,
            descriptors,
            released: AtomicBool::new(false),
        }))
    }

    fn refused(&self, why: Refusal) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let last = self.warned.load(Ordering::Relaxed);
        if now >= last + 10
            && self
                .warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            match why {
                Refusal::ListenerFull => tracing::warn!(
                    listener = %self.name,
                    cap = self.cap,
                    "connections refused: the listener holds its most connections, each with a request in progress"
                ),
                Refusal::DescriptorsExhausted => tracing::warn!(
                    listener = %self.name,
                    budget = self.budget.total,
                    "connections refused: customers' connections hold every file descriptor they may (the rest is \
                     kept for the API and the control plane); raise the daemon's hard open-file limit for more"
                ),
            }
        }
    }
}

fn lock(idle: &Mutex<Idle>) -> std::sync::MutexGuard<'_, Idle> {
    idle.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's place in its listener and its descriptors of the budget, given back once: when the connection
/// is evicted or when its admission is dropped, whichever comes first.
#[derive(Debug)]
struct Held {
    open: Arc<AtomicUsize>,
    budget: &'static Budget,
    descriptors: usize,
    released: AtomicBool,
}

impl Held {
    fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.budget
                .used
                .fetch_sub(self.descriptors, Ordering::AcqRel);
        }
    }
}

/// The connections of one listener that may be evicted, and which is idle longest.
#[derive(Debug, Default)]
struct Idle {
    /// Numbers connections, and orders the moments they became idle.
    next: u64,
    /// Idle connections, the longest idle first: when it became idle → its id.
    order: BTreeMap<u64, u64>,
    connections: HashMap<u64, Connection>,
}

#[derive(Debug)]
struct Connection {
    /// Requests in progress: the connection is idle (in `order`) at 0.
    requests: usize,
    /// Its key in `order` while idle.
    since: Option<u64>,
    evicted: CancellationToken,
    held: Arc<Held>,
}

impl Idle {
    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// A new connection, idle from now; its id.
    fn enter(&mut self, held: Arc<Held>) -> u64 {
        let id = self.tick();
        let since = self.tick();
        self.order.insert(since, id);
        self.connections.insert(
            id,
            Connection {
                requests: 0,
                since: Some(since),
                evicted: CancellationToken::new(),
                held,
            },
        );
        id
    }

    /// Evicts the connection idle longest: its place and descriptors are given back now, and its task told.
    fn evict_idlest(&mut self) -> bool {
        let Some((_, id)) = self.order.pop_first() else {
            return false;
        };
        if let Some(c) = self.connections.remove(&id) {
            c.held.release();
            c.evicted.cancel();
        }
        true
    }

    /// Starts a request on `id`: `false` when the connection was evicted already.
    fn start(&mut self, id: u64) -> bool {
        let Some(c) = self.connections.get_mut(&id) else {
            return false;
        };
        c.requests += 1;
        if let Some(since) = c.since.take() {
            self.order.remove(&since);
        }
        true
    }

    /// Ends a request on `id`: the connection is idle from now when it was the last.
    fn end(&mut self, id: u64) {
        let since = self.next + 1;
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        c.requests = c.requests.saturating_sub(1);
        if c.requests == 0 && c.since.is_none() {
            c.since = Some(since);
            self.next = since;
            self.order.insert(since, id);
        }
    }

    fn leave(&mut self, id: u64) {
        if let Some(c) = self.connections.remove(&id) {
            if let Some(since) = c.since {
                self.order.remove(&since);
            }
        }
    }

    fn token(&self, id: u64) -> Option<CancellationToken> {
        self.connections.get(&id).map(|c| c.evicted.clone())
    }
}

/// A connection's entry among its listener's idle ones.
#[derive(Debug, Clone)]
struct Place {
    idle: Arc<Mutex<Idle>>,
    id: u64,
}

/// A connection's place in its listener and its descriptors of the budget, given back when dropped (or when the
/// connection is evicted).
#[derive(Debug)]
pub struct Admission {
    held: Arc<Held>,
    place: Option<Place>,
}

impl Admission {
    /// A handle on this connection's activity, for a task or service other than the one holding the admission
    /// (an HTTP connection's request handler).
    pub fn activity(&self) -> Activity {
        let evicted = match &self.place {
            Some(p) => lock(&p.idle).token(p.id),
            None => Some(CancellationToken::new()),
        };
        Activity {
            place: self.place.clone(),
            // Gone from the registry: evicted already.
            evicted: evicted.unwrap_or_else(|| {
                let t = CancellationToken::new();
                t.cancel();
                t
            }),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(p) = &self.place {
            lock(&p.idle).leave(p.id);
        }
        self.held.release();
    }
}

/// What a connection's task tells its listener's gate: a request starts ([`Activity::busy`]) or ends (the guard
/// dropped); and what the gate tells the task: the connection was evicted ([`Activity::evicted`]).
#[derive(Debug, Clone)]
pub struct Activity {
    place: Option<Place>,
    evicted: CancellationToken,
}

impl Activity {
    /// Marks a request in progress until the guard is dropped: the connection is not evicted meanwhile. `None`
    /// when it was evicted already (its task is closing it).
    pub fn busy(&self) -> Option<Busy> {
        match &self.place {
            Some(p) if lock(&p.idle).start(p.id) => Some(Busy {
                place: Some(p.clone()),
            }),
            Some(_) => None,
            None => Some(Busy { place: None }),
        }
    }

    /// Resolves once the connection was evicted for a newer one: its task should close it.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await;
    }

    pub fn is_evicted(&self) -> bool {
        self.evicted.is_cancelled()
    }
}

/// A request in progress on a connection; it ends when dropped.
#[derive(Debug)]
pub struct Busy {
    place: Option<Place>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(p) = &self.place {
            lock(&p.idle).end(p.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_half_within_bounds() {
        assert_eq!(reserve_for(256), 128);
        assert_eq!(reserve_for(1024), 512);
        assert_eq!(reserve_for(1 << 20), 2048);
        assert_eq!(reserve_for(100), 64);
        assert_eq!(reserve_for(10), 10);
    }

    #[test]
    fn a_gate_holds_its_cap_and_gives_back() {
        let g = Gate::new("test", 2);
        let a = g.admit(FORWARDED).expect("first");
        let b = g.admit(1).expect("second");
        assert_eq!(g.admit(1).err(), Some(Refusal::ListenerFull));
        assert_eq!(g.open(), 2);
        drop(a);
        let _c = g.admit(FORWARDED).expect("after one left");
        drop(b);
        assert_eq!(g.open(), 1);
    }

    #[test]
    fn the_budget_is_shared_by_every_gate() {
        let budget: &'static Budget = Box::leak(Box::new(budget_for(256)));
        assert_eq!(budget.total, 128);
        let g = Gate::within("big", usize::MAX, budget);
        let held: Vec<Admission> = (0..64)
            .map(|_| g.admit(FORWARDED).expect("within"))
            .collect();
        assert_eq!(g.admit(1).err(), Some(Refusal::DescriptorsExhausted));
        let other = Gate::within("other", 10, budget);
        assert_eq!(other.admit(1).err(), Some(Refusal::DescriptorsExhausted));
        assert_eq!(other.open(), 0, "a refused connection holds no place");
        drop(held);
        assert_eq!(budget.used.load(Ordering::Acquire), 0, "all given back");
        assert!(other.admit(FORWARDED).is_ok());
    }

    #[test]
    fn a_full_gate_evicts_the_connection_idle_longest() {
        let budget: &'static Budget = Box::leak(Box::new(budget_for(256)));
        let g = Gate::within("idle", 3, budget);
        let a = g.admit_idle(FORWARDED).expect("a");
        let b = g.admit_idle(FORWARDED).expect("b");
        let c = g.admit_idle(FORWARDED).expect("c");
        let (aa, ba, ca) = (a.activity(), b.activity(), c.activity());
        // `a` starts a request and ends it: it is now idle for less long than `b`.
        drop(aa.busy().expect("a is not evicted"));
        let d = g.admit_idle(FORWARDED).expect("d takes b's place");
        assert!(ba.is_evicted(), "b was idle longest");
        assert!(!aa.is_evicted() && !ca.is_evicted());
        assert_eq!(g.open(), 3, "the cap holds");
        assert!(ba.busy().is_none(), "an evicted connection starts no request");
        // Its place was given at eviction; dropping its admission later gives nothing back twice.
        drop(b);
        assert_eq!(g.open(), 3);
        assert_eq!(budget.used.load(Ordering::Acquire), 3 * FORWARDED);
        let _e = g.admit_idle(FORWARDED).expect("e takes c's place");
        assert!(ca.is_evicted());
        drop((a, c, d));
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let g = Gate::reserved("busy", 2);
        let a = g.admit_idle(1).expect("a");
        let forwarded = g.admit(1).expect("forwarded");
        let request = a.activity().busy().expect("a request on a");
        assert_eq!(
            g.admit_idle(1).err(),
            Some(Refusal::ListenerFull),
            "every connection busy: the new one is refused"
        );
        assert!(!a.activity().is_evicted());
        // Two requests at once (a response still written while the next is read): idle only after both.
        let second = a.activity().busy().expect("a second request");
        drop(request);
        assert_eq!(g.admit_idle(1).err(), Some(Refusal::ListenerFull));
        drop(second);
        let _b = g.admit_idle(1).expect("a is idle again: b takes its place");
        assert!(a.activity().is_evicted());
        drop(forwarded);
        assert_eq!(g.open(), 1);
    }

    #[test]
    fn eviction_gives_back_descriptors_of_an_exhausted_budget() {
        let budget: &'static Budget = Box::leak(Box::new(budget_for(256)));
        let idle = Gate::within("idle", usize::MAX, budget);
        let forwarded = Gate::within("forwarded", usize::MAX, budget);
        let held: Vec<Admission> = (0..63)
            .map(|_| forwarded.admit(FORWARDED).expect("within"))
            .collect();
        let a = idle.admit_idle(FORWARDED).expect("the last two descriptors");
        assert_eq!(forwarded.admit(FORWARDED).err(), Some(Refusal::DescriptorsExhausted));
        assert!(!a.activity().is_evicted(), "another listener evicts nothing of this one");
        let b = idle.admit_idle(FORWARDED).expect("a's descriptors");
        assert!(a.activity().is_evicted());
        assert_eq!(budget.used.load(Ordering::Acquire), budget.total);
        drop((a, b, held));
        assert_eq!(budget.used.load(Ordering::Acquire), 0, "all given back");
    }

    #[tokio::test]
    async fn an_evicted_connection_s_task_is_told() {
        let g = Gate::reserved("told", 1);
        let a = g.admit_idle(1).expect("a");
        let activity = a.activity();
        let task = tokio::spawn(async move {
            activity.evicted().await;
            drop(a);
        });
        let _b = g.admit_idle(1).expect("b");
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("told within 5 s")
            .expect("task");
        assert_eq!(g.open(), 1);
    }
}
