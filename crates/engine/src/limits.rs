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
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The longest a new connection waits for arriving ones to be read before it is refused ([`Gate::admit_idle`]).
pub const ARRIVAL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long an idle connection is not evicted after it became idle or began a request: a client on a loaded
/// machine writes its request some milliseconds after its connection is accepted (or its last answer read),
/// and a request whose first bytes were just read is being parsed. A new connection finding only such
/// connections to evict waits until one is judged ([`Gate::admit_idle`]).
pub const GRACE: std::time::Duration = std::time::Duration::from_millis(50);

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
/// sees [`Activity::evicted`] and closes it. Which goes first: one that sent part of a request and stalled, then
/// one waiting between requests, then one that has sent nothing (each the longest so first). A connection is
/// judged before it is evicted: not before its task has read what it sent first ([`Activity::arrived`]), not
/// while bytes wait unread on its socket ([`Admission::watch`]), not within [`GRACE`] of becoming idle. A connection with a request in progress ([`Admission::busy`]) and a
/// forwarded one ([`Gate::admit`]) are never evicted; when every connection is one of those, the new one is
/// refused.
#[derive(Debug, Clone)]
pub struct Gate {
    /// What the listener is, for the log (`reader endpoint 127.0.0.3:6379`).
    name: Arc<str>,
    cap: usize,
    open: Arc<AtomicUsize>,
    budget: &'static Budget,
    registry: Arc<Registry>,
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
            registry: Arc::new(Registry::with_grace(GRACE)),
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

    /// Admits a connection that has no request in progress yet: once its task has read what it sent first
    /// ([`Activity::arrived`]), until it starts a request ([`Activity::busy`]), and whenever it waits between
    /// requests, a newer connection may evict it when the listener is full.
    ///
    /// When the listener is full and none of its connections may be evicted but some have not been judged yet
    /// (accepted, their tasks not run yet: a burst of connections is accepted faster than their tasks start;
    /// bytes waiting unread; idle for less than [`GRACE`]), this waits (at most [`ARRIVAL_WAIT`]) until one
    /// is judged rather than refuse the new connection.
    pub async fn admit_idle(&self, descriptors: usize) -> Result<Admission, Refusal> {
        let deadline = tokio::time::Instant::now() + ARRIVAL_WAIT;
        loop {
            let changed = self.registry.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.try_admit_idle(descriptors) {
                Ok(a) => return Ok(a),
                // Woken by a change, or soon to see a silent connection's grace end.
                Err(_)
                    if self.registry.lock().unjudged()
                        && tokio::time::Instant::now() < deadline =>
                {
                    let soon = (tokio::time::Instant::now() + GRACE / 5).min(deadline);
                    let _ = tokio::time::timeout_at(soon, changed).await;
                }
                Err(why) => {
                    self.refused(why);
                    return Err(why);
                }
            }
        }
    }

    /// [`Gate::admit_idle`] without waiting for arriving connections; a refusal is not logged.
    fn try_admit_idle(&self, descriptors: usize) -> Result<Admission, Refusal> {
        let held = self.try_hold_evicting(descriptors)?;
        let place = Place {
            registry: self.registry.clone(),
            id: self.registry.lock().enter(held.clone()),
        };
        Ok(Admission {
            held,
            place: Some(place),
        })
    }

    /// Takes a place and `descriptors`; when either is short, evicts the connection idle longest and tries once
    /// more.
    fn hold(&self, descriptors: usize) -> Result<Arc<Held>, Refusal> {
        let result = self.try_hold_evicting(descriptors);
        if let Err(why) = result {
            self.refused(why);
        }
        result
    }

    fn try_hold_evicting(&self, descriptors: usize) -> Result<Arc<Held>, Refusal> {
        let why = match self.try_hold(descriptors) {
            Ok(h) => return Ok(h),
            Err(why) => why,
        };
        let evicted = self.registry.lock().evict_idlest();
        if evicted {
            tracing::debug!(listener = %self.name, "the connection idle longest was closed for a new one");
            self.try_hold(descriptors)
        } else {
            Err(why)
        }
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

/// A listener's idle connections, and a signal when one of them changes state (arrives, or leaves).
#[derive(Debug, Default)]
struct Registry {
    idle: Mutex<Idle>,
    changed: Notify,
}

impl Registry {
    fn with_grace(grace: std::time::Duration) -> Self {
        let r = Self::default();
        r.lock().grace = grace;
        r
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
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
    /// Connections whose tasks have not read what they sent first.
    arriving: usize,
    /// [`GRACE`] (shorter in tests).
    grace: std::time::Duration,
    /// The last eviction passed over connections not judged yet (bytes waiting, or within their [`GRACE`]).
    unread: bool,
    /// Idle connections in the order they are evicted: (rank, when it became idle) → its id. The rank puts
    /// first those that sent part of a request and stalled (a slowloris; ordered by when that part began),
    /// then those waiting between requests (served; a client reconnects), last those that have sent nothing
    /// yet (a new client whose request may be on its way); within a rank, the one idle longest first.
    order: BTreeMap<(u8, u64), u64>,
    connections: HashMap<u64, Connection>,
}

#[derive(Debug)]
struct Connection {
    /// Its task has not read what it sent first yet: not idle.
    arriving: bool,
    /// Requests in progress: the connection is idle (in `order`) at 0 once arrived.
    requests: usize,
    /// It sent bytes since it arrived or since its last request began: part of a request.
    heard: bool,
    /// It has had a request.
    served: bool,
    /// Its socket, to see whether bytes wait unread ([`Admission::watch`]).
    fd: Option<RawFd>,
    /// When it became idle, or (idle) began a request.
    idle_at: std::time::Instant,
    /// Its key in `order` while idle.
    since: Option<(u8, u64)>,
    evicted: CancellationToken,
    held: Arc<Held>,
}

impl Idle {
    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// A new connection, arriving (not idle until [`Idle::arrived`]); its id.
    fn enter(&mut self, held: Arc<Held>) -> u64 {
        let id = self.tick();
        self.arriving += 1;
        self.connections.insert(
            id,
            Connection {
                arriving: true,
                requests: 0,
                heard: false,
                served: false,
                fd: None,
                idle_at: std::time::Instant::now(),
                since: None,
                evicted: CancellationToken::new(),
                held,
            },
        );
        id
    }

    /// Evicts the first idle connection in the order of eviction whose bytes have all been read (one with
    /// bytes waiting has not been judged yet: they may be its request): its place and descriptors are given back
    /// now, and its task told.
    fn evict_idlest(&mut self) -> bool {
        self.unread = false;
        let found = self
            .oldest_judged(0)
            .or_else(|| self.oldest_judged(1))
            .or_else(|| self.oldest_judged(2));
        let Some((key, id)) = found else {
            return false;
        };
        self.order.remove(&key);
        if let Some(c) = self.connections.remove(&id) {
            c.held.release();
            c.evicted.cancel();
        }
        true
    }

    /// The idle connection of `rank` idle longest that has been judged.
    fn oldest_judged(&mut self, rank: u8) -> Option<((u8, u64), u64)> {
        let range: Vec<_> = self
            .order
            .range((rank, 0)..(rank + 1, 0))
            .map(|(k, v)| (*k, *v))
            .take(64)
            .collect();
        self.judged(range.iter().map(|(k, v)| (k, v)))
    }

    /// The first of `candidates` judged: its bytes all read (bytes waiting may be its request), and in its state
    /// for at least [`GRACE`] (a request on its way, or being parsed, is not cut); notes when one was passed over.
    fn judged<'a>(
        &mut self,
        candidates: impl Iterator<Item = (&'a (u8, u64), &'a u64)>,
    ) -> Option<((u8, u64), u64)> {
        for (key, id) in candidates.take(64) {
            let Some(c) = self.connections.get(id) else {
                continue;
            };
            if c.idle_at.elapsed() < self.grace || c.fd.is_some_and(has_unread_bytes) {
                self.unread = true;
            } else {
                return Some((*key, *id));
            }
        }
        None
    }

    /// Whether some connections have not been judged yet (arriving, or idle with bytes waiting at the last
    /// eviction): a new connection waits for them rather than be refused.
    fn unjudged(&self) -> bool {
        self.arriving > 0 || self.unread
    }

    /// Starts a request on `id`: `false` when the connection was evicted already.
    fn start(&mut self, id: u64) -> bool {
        let Some(c) = self.connections.get_mut(&id) else {
            return false;
        };
        c.requests += 1;
        c.heard = false;
        if let Some(since) = c.since.take() {
            self.order.remove(&since);
        }
        true
    }

    /// `id` sent bytes: while idle, it holds part of a request.
    fn heard(&mut self, id: u64) {
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        if c.requests > 0 || c.heard {
            return;
        }
        c.heard = true;
        c.idle_at = std::time::Instant::now();
        // Among stalled requests, the one begun longest ago goes first: a request whose bytes were just read
        // (and which is being parsed) goes last.
        if let Some(key) = c.since {
            self.order.remove(&key);
            self.next += 1;
            let key = (rank(c), self.next);
            c.since = Some(key);
            self.order.insert(key, id);
        }
    }

    /// Ends a request on `id`: the connection is idle from now when it was the last.
    fn end(&mut self, id: u64) {
        if let Some(c) = self.connections.get_mut(&id) {
            c.requests = c.requests.saturating_sub(1);
            if c.requests == 0 {
                c.served = true;
                c.heard = false;
            }
        }
        self.settle(id);
    }

    /// `id`'s task has read what it sent first.
    fn arrived(&mut self, id: u64) {
        if let Some(c) = self.connections.get_mut(&id) {
            if std::mem::take(&mut c.arriving) {
                self.arriving -= 1;
            }
        }
        self.settle(id);
    }

    /// Puts `id` among the idle ones when it is: arrived, without a request in progress.
    fn settle(&mut self, id: u64) {
        let since = self.next + 1;
        let Some(c) = self.connections.get_mut(&id) else {
            return;
        };
        if !c.arriving && c.requests == 0 && c.since.is_none() {
            c.idle_at = std::time::Instant::now();
            let key = (rank(c), since);
            c.since = Some(key);
            self.next = since;
            self.order.insert(key, id);
        }
    }

    fn leave(&mut self, id: u64) {
        if let Some(c) = self.connections.remove(&id) {
            if c.arriving {
                self.arriving -= 1;
            }
            if let Some(since) = c.since {
                self.order.remove(&since);
            }
        }
    }

    fn token(&self, id: u64) -> Option<CancellationToken> {
        self.connections.get(&id).map(|c| c.evicted.clone())
    }
}

/// Whether bytes wait unread on socket `fd` (a peek that does not wait).
fn has_unread_bytes(fd: RawFd) -> bool {
    use nix::sys::socket::{recv, MsgFlags};
    let mut b = [0u8; 1];
    matches!(
        recv(fd, &mut b, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT),
        Ok(n) if n > 0
    )
}

/// Where an idle connection comes in the order of eviction (lowest first): see [`Idle::order`].
fn rank(c: &Connection) -> u8 {
    if c.heard {
        0
    } else if c.served {
        1
    } else {
        2
    }
}

/// A connection's entry among its listener's idle ones.
#[derive(Debug, Clone)]
struct Place {
    registry: Arc<Registry>,
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
    /// Gives the connection's socket: an idle connection whose client sent bytes its task has not read yet is
    /// not evicted until they are read (they may be a whole request). The socket must outlive the admission or
    /// be closed after it (a number reused meanwhile only misleads the choice of whom to evict).
    pub fn watch(&self, socket: &impl AsRawFd) {
        if let Some(p) = &self.place {
            if let Some(c) = p.registry.lock().connections.get_mut(&p.id) {
                c.fd = Some(socket.as_raw_fd());
            }
        }
    }

    /// A handle on this connection's activity, for a task or service other than the one holding the admission
    /// (an HTTP connection's request handler).
    pub fn activity(&self) -> Activity {
        let evicted = match &self.place {
            Some(p) => p.registry.lock().token(p.id),
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
            p.registry.lock().leave(p.id);
        }
        self.held.release();
        if let Some(p) = &self.place {
            p.registry.changed.notify_waiters();
        }
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
            Some(p) if p.registry.lock().start(p.id) => {
                p.registry.changed.notify_waiters();
                Some(Busy {
                    place: Some(p.clone()),
                })
            }
            Some(_) => None,
            None => Some(Busy { place: None }),
        }
    }

    /// Says that the connection's task has read what the client sent first (polled its work once): from now on,
    /// without a request in progress, the connection may be evicted. Until then it is not.
    pub fn arrived(&self) {
        if let Some(p) = &self.place {
            p.registry.lock().arrived(p.id);
            p.registry.changed.notify_waiters();
        }
    }

    /// Says that the client sent bytes (its connection's reads call this, [`Heard`]): while no request is in
    /// progress, it holds part of one, and is evicted before connections waiting between requests or that have
    /// sent nothing yet.
    pub fn heard(&self) {
        if let Some(p) = &self.place {
            p.registry.lock().heard(p.id);
            p.registry.changed.notify_waiters();
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
            p.registry.lock().end(p.id);
        }
    }
}

/// A connection's stream that tells its [`Activity`] when the client sent bytes ([`Activity::heard`]), and
/// ends requests whose answers wait in a buffer only once they are flushed ([`Unflushed`]).
#[derive(Debug)]
pub struct Heard<T> {
    inner: T,
    activity: Activity,
    unflushed: Unflushed,
}

impl<T> Heard<T> {
    pub fn new(inner: T, activity: Activity) -> Self {
        Self {
            inner,
            activity,
            unflushed: Unflushed::default(),
        }
    }

    /// Where a request whose answer has been handed to a writing buffer (an HTTP server's) leaves its guard:
    /// the request ends at the stream's next completed flush, so an answer is never cut by an eviction.
    pub fn unflushed(&self) -> Unflushed {
        self.unflushed.clone()
    }
}

/// Requests whose answers are written to a buffer but not yet flushed to the socket ([`Heard::unflushed`]).
#[derive(Debug, Clone, Default)]
pub struct Unflushed(Arc<Mutex<Vec<Busy>>>);

impl Unflushed {
    /// Keeps `busy` until the stream's next completed flush.
    pub fn hold(&self, busy: Busy) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(busy);
    }

    fn flushed(&self) {
        let done = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        drop(done);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Heard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.heard();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Heard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            this.unflushed.flushed();
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `g` without [`GRACE`]: idle connections may be evicted at once.
    fn graceless(g: Gate) -> Gate {
        g.registry.lock().grace = std::time::Duration::ZERO;
        g
    }

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
        let g = graceless(Gate::within("idle", 3, budget));
        let a = g.try_admit_idle(FORWARDED).expect("a");
        let b = g.try_admit_idle(FORWARDED).expect("b");
        let c = g.try_admit_idle(FORWARDED).expect("c");
        let (aa, ba, ca) = (a.activity(), b.activity(), c.activity());
        for x in [&aa, &ba, &ca] {
            x.arrived();
        }
        // Each has a request, `a` last: it is now idle for less long than `b` and `c`.
        for x in [&ba, &ca, &aa] {
            drop(x.busy().expect("not evicted"));
        }
        let d = g.try_admit_idle(FORWARDED).expect("d takes b's place");
        d.activity().arrived();
        assert!(ba.is_evicted(), "b was idle longest");
        assert!(!aa.is_evicted() && !ca.is_evicted());
        assert_eq!(g.open(), 3, "the cap holds");
        assert!(
            ba.busy().is_none(),
            "an evicted connection starts no request"
        );
        // Its place was given at eviction; dropping its admission later gives nothing back twice.
        drop(b);
        assert_eq!(g.open(), 3);
        assert_eq!(budget.used.load(Ordering::Acquire), 3 * FORWARDED);
        let _e = g.try_admit_idle(FORWARDED).expect("e takes c's place");
        assert!(ca.is_evicted());
        drop((a, c, d));
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let g = graceless(Gate::reserved("busy", 2));
        let a = g.try_admit_idle(1).expect("a");
        a.activity().arrived();
        let forwarded = g.admit(1).expect("forwarded");
        let request = a.activity().busy().expect("a request on a");
        assert_eq!(
            g.try_admit_idle(1).err(),
            Some(Refusal::ListenerFull),
            "every connection busy: the new one is refused"
        );
        assert!(!a.activity().is_evicted());
        // Two requests at once (a response still written while the next is read): idle only after both.
        let second = a.activity().busy().expect("a second request");
        drop(request);
        assert_eq!(g.try_admit_idle(1).err(), Some(Refusal::ListenerFull));
        drop(second);
        let _b = g
            .try_admit_idle(1)
            .expect("a is idle again: b takes its place");
        assert!(a.activity().is_evicted());
        drop(forwarded);
        assert_eq!(g.open(), 1);
    }

    #[test]
    fn eviction_gives_back_descriptors_of_an_exhausted_budget() {
        let budget: &'static Budget = Box::leak(Box::new(budget_for(256)));
        let idle = graceless(Gate::within("idle", usize::MAX, budget));
        let forwarded = Gate::within("forwarded", usize::MAX, budget);
        let held: Vec<Admission> = (0..63)
            .map(|_| forwarded.admit(FORWARDED).expect("within"))
            .collect();
        let a = idle
            .try_admit_idle(FORWARDED)
            .expect("the last two descriptors");
        a.activity().arrived();
        assert_eq!(
            forwarded.admit(FORWARDED).err(),
            Some(Refusal::DescriptorsExhausted)
        );
        assert!(
            !a.activity().is_evicted(),
            "another listener evicts nothing of this one"
        );
        let b = idle.try_admit_idle(FORWARDED).expect("a's descriptors");
        assert!(a.activity().is_evicted());
        assert_eq!(budget.used.load(Ordering::Acquire), budget.total);
        drop((a, b, held));
        assert_eq!(budget.used.load(Ordering::Acquire), 0, "all given back");
    }

    #[tokio::test]
    async fn an_evicted_connection_s_task_is_told() {
        let g = graceless(Gate::reserved("told", 1));
        let a = g.try_admit_idle(1).expect("a");
        let activity = a.activity();
        activity.arrived();
        let task = tokio::spawn(async move {
            activity.evicted().await;
            drop(a);
        });
        let _b = g.try_admit_idle(1).expect("b");
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("told within 5 s")
            .expect("task");
        assert_eq!(g.open(), 1);
    }

    #[test]
    fn an_arriving_connection_is_not_evicted() {
        let g = graceless(Gate::reserved("arriving", 2));
        let a = g.try_admit_idle(1).expect("a");
        let b = g.try_admit_idle(1).expect("b");
        assert_eq!(
            g.try_admit_idle(1).err(),
            Some(Refusal::ListenerFull),
            "neither has been read yet"
        );
        // `b` is read first and found without a request; `a` then.
        b.activity().arrived();
        a.activity().arrived();
        let _c = g.try_admit_idle(1).expect("c takes b's place");
        assert!(b.activity().is_evicted() && !a.activity().is_evicted());
        // A request that came with its connection: busy before it arrived, never idle since.
        let request = a.activity().busy().expect("a request");
        a.activity().arrived();
        assert_eq!(g.try_admit_idle(1).err(), Some(Refusal::ListenerFull));
        drop(request);
    }

    #[tokio::test]
    async fn a_new_connection_waits_for_arriving_ones() {
        let g = graceless(Gate::reserved("wait", 1));
        let a = g.admit_idle(1).await.expect("a");
        let activity = a.activity();
        let newer = {
            let g = g.clone();
            tokio::spawn(async move { g.admit_idle(1).await.map(|_| ()) })
        };
        // `a`'s task reads what it sent, finds no request: the waiting connection takes its place.
        tokio::task::yield_now().await;
        activity.arrived();
        assert_eq!(newer.await.expect("task"), Ok(()));
        assert!(activity.is_evicted());
        drop(a);
        // A connection that never arrives (its task stuck) does not hold a new one for long.
        let _b = g.admit_idle(1).await.expect("b");
        let started = tokio::time::Instant::now();
        assert_eq!(g.admit_idle(1).await.err(), Some(Refusal::ListenerFull));
        assert!(started.elapsed() >= ARRIVAL_WAIT);
    }

    #[test]
    fn a_stalled_request_goes_before_a_served_connection_and_a_silent_one() {
        let g = graceless(Gate::reserved("ranks", 3));
        let silent = g.try_admit_idle(1).expect("silent");
        let served = g.try_admit_idle(1).expect("served");
        let stalled = g.try_admit_idle(1).expect("stalled");
        let (si, se, st) = (silent.activity(), served.activity(), stalled.activity());
        for a in [&si, &se, &st] {
            a.arrived();
        }
        drop(se.busy().expect("a request"));
        st.heard();
        let _n = g.try_admit_idle(1).expect("a newer one");
        assert!(
            st.is_evicted(),
            "the stalled request goes first, though newest"
        );
        let _m = g.try_admit_idle(1).expect("another");
        assert!(se.is_evicted(), "then the served connection");
        assert!(!si.is_evicted(), "the silent one, idle longest, last");
    }

    #[tokio::test]
    async fn bytes_not_read_yet_keep_a_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut client = tokio::net::TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (mut server, _) = l.accept().await.expect("accept");
        let g = graceless(Gate::reserved("unread", 1));
        let a = g.admit_idle(1).await.expect("a");
        a.watch(&server);
        a.activity().arrived();
        client
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        // Its bytes wait unread (bounded polling until the kernel has them).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !has_unread_bytes(server.as_raw_fd()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the bytes never arrived"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(g.try_admit_idle(1).err(), Some(Refusal::ListenerFull));
        assert!(!a.activity().is_evicted());
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).await.expect("read");
        assert!(n > 0);
        let _b = g
            .try_admit_idle(1)
            .expect("read and judged: b takes its place");
        assert!(a.activity().is_evicted());
    }

    #[tokio::test]
    async fn a_connection_just_idle_is_spared_for_its_grace() {
        let g = Gate::reserved("grace", 1);
        let a = g.admit_idle(1).await.expect("a");
        a.activity().arrived();
        assert_eq!(
            g.try_admit_idle(1).err(),
            Some(Refusal::ListenerFull),
            "idle for less than GRACE: not judged yet"
        );
        let _b = g
            .admit_idle(1)
            .await
            .expect("b waits for a's grace to end, then takes its place");
        assert!(a.activity().is_evicted());
    }
}
