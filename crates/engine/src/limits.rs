//! File descriptors: the process's open-file limit, and the share of it customers' connections may hold.
//!
//! At start the daemon raises its soft `RLIMIT_NOFILE` to the hard one ([`raise_file_limit`]). Of that limit a
//! reserve ([`reserve_for`]) is kept for the daemon's own work: the API, the metrics listener, the admin
//! connections to nodes, the store, node processes' pipes and logs. The rest is the customers' budget, shared by
//! every customer-facing listener (endpoint forwarders, TLS `preferred` fronts, Memcached configuration endpoints).
//! Each of those listeners also has a cap of its own, so that one endpoint cannot take the whole budget
//! ([`Gate`]). A connection the budget or its listener's cap cannot take is closed as soon as it is accepted:
//! customers' connections never bring the process to `EMFILE`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

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
    /// Its listener holds its most connections.
    ListenerFull,
    /// Customers' connections hold every descriptor they may.
    DescriptorsExhausted,
}

/// One customer-facing listener's admission: at most `cap` connections, each holding descriptors of the shared
/// budget while it lives.
#[derive(Debug, Clone)]
pub struct Gate {
    /// What the listener is, for the log (`reader endpoint 127.0.0.3:6379`).
    name: Arc<str>,
    cap: usize,
    open: Arc<AtomicUsize>,
    budget: &'static Budget,
    /// When a refusal was last logged (seconds since the Unix epoch): a flood logs once every 10 s, not per
    /// connection.
    warned: Arc<AtomicU64>,
}

impl Gate {
    pub fn new(name: impl Into<String>, cap: usize) -> Self {
        Self::within(name, cap, budget())
    }

    fn within(name: impl Into<String>, cap: usize, budget: &'static Budget) -> Self {
        Self {
            name: Arc::from(name.into()),
            cap,
            open: Arc::new(AtomicUsize::new(0)),
            budget,
            warned: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Connections this listener holds now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Admits a connection that will hold `descriptors` (its own included), or says why not. The admission gives
    /// them back when dropped.
    pub fn admit(&self, descriptors: usize) -> Result<Admission, Refusal> {
        if !take(&self.open, 1, self.cap) {
            self.refused(Refusal::ListenerFull);
            return Err(Refusal::ListenerFull);
        }
        let b = self.budget;
        if !take(&b.used, descriptors, b.total) {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.refused(Refusal::DescriptorsExhausted);
            return Err(Refusal::DescriptorsExhausted);
        }
        Ok(Admission {
            open: self.open.clone(),
            budget: b,
            descriptors,
        })
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
                    "connections refused: the listener holds its most connections"
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

/// A connection's place in its listener and its descriptors of the budget, given back when dropped.
#[derive(Debug)]
pub struct Admission {
    open: Arc<AtomicUsize>,
    budget: &'static Budget,
    descriptors: usize,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.budget
            .used
            .fetch_sub(self.descriptors, Ordering::AcqRel);
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
}
