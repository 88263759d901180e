//! Which of the daemons sharing a store leads — runs the workers, the health monitor and the deliveries — through
//! the store's lease ([`crate::store::lease`]). The lease lasts [`LEASE`] and is renewed every [`RENEW_EVERY`] on a
//! thread of its own. A leader that could not confirm its lease for [`SELF_FENCE_AFTER`] (before the lease can have
//! passed to another) says so, and the daemon stops: its workers must not act beside a new leader's. On a store only
//! one daemon opens (SQLite) the daemon always leads and no thread runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::store::lease::Lease;
use crate::Control;

/// How long a lease lasts from its last renewal (judged by the store's clock).
pub const LEASE: Duration = Duration::from_millis(1500);
/// How often the lease is renewed, and how often a follower asks for it.
pub const RENEW_EVERY: Duration = Duration::from_millis(250);
/// A leader that could not confirm its lease for this long (on its own clock, from the moment it asked) gives up
/// leading: well before the lease can have expired in the store.
pub const SELF_FENCE_AFTER: Duration = Duration::from_millis(1000);

/// What this daemon is among those sharing the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leading {
    /// Another daemon leads (or none yet): this one answers the API only.
    Follows,
    /// This daemon leads under this generation.
    Leads(i64),
    /// This daemon led and can no longer be sure it does: if its workers ran, it must stop; if not, it follows
    /// again (and may lead again later).
    Lost,
}

/// The lease's thread, while it runs.
#[derive(Debug)]
pub struct Leadership {
    pub state: watch::Receiver<Leading>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Leadership {
    /// Stops asking for the lease and gives it up, so that another daemon leads at once.
    pub fn release(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Control {
    /// Starts asking for the lease of a shared store; `None` for a store only this daemon opens (it leads).
    pub fn start_leadership(&self) -> Option<Leadership> {
        let lease = self.state().store.lease()?;
        let (tx, rx) = watch::channel(Leading::Follows);
        let tx = Arc::new(tx);
        let stop = Arc::new(AtomicBool::new(false));
        let confirmed = Arc::new(Mutex::new(None));
        // The watchdog says the lease is lost on its own clock, whatever a call to the store is stuck in.
        {
            let (tx, stop, confirmed) = (tx.clone(), stop.clone(), confirmed.clone());
            std::thread::Builder::new()
                .name("lease-watchdog".into())
                .spawn(move || watchdog(&tx, &stop, &confirmed))
                .ok()?;
        }
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lease".into())
            .spawn(move || run(lease, &tx, &stopping, &confirmed))
            .ok()?;
        Some(Leadership {
            state: rx,
            stop,
            thread: Some(thread),
        })
    }
}

impl Control {
    /// On a shared store, has every change another daemon commits caught up with at once (its workers woken),
    /// rather than at the reconciler's next tick: a thread listening for the store's notifications.
    pub fn listen_for_changes(&self) {
        let Some(lease) = self.state().store.lease() else {
            return;
        };
        let url = lease.url().to_string();
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("store-changes".into())
            .spawn(move || {
                let never = AtomicBool::new(false);
                crate::store::lease::listen(&url, &never, &|| drop(this.state()));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot listen for other daemons' changes; the reconciler's tick catches up");
        }
    }
}

/// When this daemon's lease was last confirmed (the moment it asked); `None` while it does not lead.
type Confirmed = Mutex<Option<Instant>>;

fn confirmed_at(c: &Confirmed) -> Option<Instant> {
    *c.lock().unwrap_or_else(|p| p.into_inner())
}

fn watchdog(tx: &watch::Sender<Leading>, stop: &AtomicBool, confirmed: &Confirmed) {
    while !stop.load(Ordering::SeqCst) {
        {
            let mut c = confirmed.lock().unwrap_or_else(|p| p.into_inner());
            if c.is_some_and(|at| at.elapsed() >= SELF_FENCE_AFTER) {
                *c = None;
                tracing::error!(
                    "the lease could not be renewed in time: this daemon stops leading before another may"
                );
                let _ = tx.send(Leading::Lost);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run(mut lease: Lease, tx: &watch::Sender<Leading>, stop: &AtomicBool, confirmed: &Confirmed) {
    loop {
        let led = confirmed_at(confirmed);
        if stop.load(Ordering::SeqCst) {
            if led.is_some() {
                lease.release();
            }
            return;
        }
        let asked = Instant::now();
        // An attempt never runs past the moment this daemon would have to give up leading.
        let budget = match led {
            Some(at) => SELF_FENCE_AFTER.saturating_sub(at.elapsed()),
            None => LEASE,
        };
        match lease.try_lead(LEASE, budget.max(Duration::from_millis(10))) {
            Ok(Some(generation)) => {
                let mut c = confirmed.lock().unwrap_or_else(|p| p.into_inner());
                // Not leading (never, or the watchdog gave up): it leads (again) from now. Nobody else led in
                // between: the lease still named this daemon, under the same generation.
                if c.is_none() {
                    tracing::info!(generation, "this daemon leads");
                    let _ = tx.send(Leading::Leads(generation));
                }
                *c = Some(asked);
            }
            Ok(None) => {
                let mut c = confirmed.lock().unwrap_or_else(|p| p.into_inner());
                if c.take().is_some() {
                    tracing::error!("another daemon took the lease: this one stops leading");
                    let _ = tx.send(Leading::Lost);
                }
            }
            Err(e) => tracing::warn!(error = %e, "the lease could not be asked for"),
        }
        std::thread::sleep(RENEW_EVERY.saturating_sub(asked.elapsed()));
    }
}
