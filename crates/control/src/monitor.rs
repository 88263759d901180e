//! The health monitor: one probe task per running node that tells, as fast as it can be known, whether the node
//! still serves.
//!
//! - **Process exit** is known at once: a node this daemon started is its child, and the kernel reports the
//!   exit the moment it happens ([`engine::process::Spawned::exited`]); a node adopted after a daemon restart is
//!   checked in `/proc` every [`ALIVE_CHECK`].
//! - **A hung process** (stopped with `SIGSTOP`, stuck in a long command, swapping) is noticed by `PING`: the
//!   probe keeps one `PING` in flight on its admin connection, every [`PROBE_INTERVAL`]; a node that has not
//!   answered for [`FAIL_AFTER`] is `Unresponsive`. 800 ms is chosen to sit well above a legitimate stall
//!   (a `DEBUG SLEEP 0.5`, a fork for a rewrite of a few GB) and well below AWS's "a few seconds".
//!
//! A transition is written to the health table and pokes the group's reconciler worker, which decides what to
//! do (fail over, restart in place, take the node out of the reader endpoint). The probe itself never acts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use engine::admin::{AdminClient, NodeAddr};
use engine::secret::AdminCredentials;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How often a healthy node is pinged.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How long a node may leave a `PING` unanswered before it counts as failed.
pub const FAIL_AFTER: Duration = Duration::from_millis(800);
/// How often an adopted node's process is looked up in `/proc` (a started one is watched by the kernel).
pub const ALIVE_CHECK: Duration = Duration::from_millis(20);
/// Timeout of the probe's own connection and commands: long, because the deadline is kept by the probe.
const PROBE_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the monitor knows of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Answered its last `PING` (or not probed yet).
    Up,
    /// Has not answered since `since` for longer than [`FAIL_AFTER`].
    Unresponsive { since: Instant },
    /// Its process is gone.
    Gone,
}

impl Health {
    pub fn is_up(self) -> bool {
        self == Health::Up
    }
}

struct Probe {
    pid: u32,
    task: JoinHandle<()>,
}

/// Health of every node, by member cluster id, and the probes that keep it.
#[derive(Default)]
pub struct Monitor {
    health: Arc<RwLock<HashMap<String, Health>>>,
    probes: Mutex<HashMap<String, Probe>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Monitor")
    }
}

/// Where to probe a node and whom to tell.
pub struct Target {
    pub name: String,
    pub addr: NodeAddr,
    pub pid: u32,
    pub exited: Option<watch::Receiver<bool>>,
    pub poke: Arc<Notify>,
}

impl Monitor {
    /// The node's health; a node never probed counts as up.
    pub fn health(&self, name: &str) -> Health {
        self.health
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
            .unwrap_or(Health::Up)
    }

    /// Makes sure a probe watches process `pid` of node `name` (replacing a probe of an older process).
    pub fn ensure(&self, admin: &AdminCredentials, t: Target) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        if probes.get(&t.name).is_some_and(|p| p.pid == t.pid) {
            return;
        }
        if let Some(old) = probes.remove(&t.name) {
            old.task.abort();
        }
        set(&self.health, &t.name, Health::Up);
        let name = t.name.clone();
        let pid = t.pid;
        let task = tokio::spawn(probe(self.health.clone(), admin.clone(), t));
        probes.insert(name, Probe { pid, task });
    }

    /// Stops watching a node (it is being stopped on purpose or removed).
    pub fn forget(&self, name: &str) {
        if let Some(p) = self
            .probes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name)
        {
            p.task.abort();
        }
        self.health
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

fn set(table: &RwLock<HashMap<String, Health>>, name: &str, h: Health) -> bool {
    let mut m = table.write().unwrap_or_else(|p| p.into_inner());
    m.insert(name.to_string(), h) != Some(h)
}

fn alive(pid: u32, exited: &Option<watch::Receiver<bool>>) -> bool {
    match exited {
        Some(rx) => !*rx.borrow() && engine::process::is_redis_alive(pid),
        None => engine::process::is_redis_alive(pid),
    }
}

async fn exit_of(exited: &mut Option<watch::Receiver<bool>>) {
    match exited {
        Some(rx) => {
            if rx.wait_for(|e| *e).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

async fn ping(conn: &mut Option<AdminClient>, addr: &NodeAddr, admin: &AdminCredentials) -> bool {
    if conn.is_none() {
        match AdminClient::connect_within(addr, admin, PROBE_COMMAND_TIMEOUT).await {
            Ok(c) => *conn = Some(c),
            Err(_) => return false,
        }
    }
    match conn.as_mut() {
        Some(c) => c.ping().await.is_ok(),
        None => false,
    }
}

async fn probe(table: Arc<RwLock<HashMap<String, Health>>>, admin: AdminCredentials, t: Target) {
    let Target {
        name,
        addr,
        pid,
        mut exited,
        poke,
    } = t;
    let mark = |h: Health| {
        if set(&table, &name, h) {
            tracing::info!(target: "monitor", node = %name, health = ?h, "node health changed");
            poke.notify_one();
        }
    };
    let mut conn: Option<AdminClient> = None;
    let mut last_ok = Instant::now();
    loop {
        if !alive(pid, &exited) {
            mark(Health::Gone);
            return;
        }
        let ok = {
            let attempt = ping(&mut conn, &addr, &admin);
            tokio::pin!(attempt);
            loop {
                let deadline = last_ok + FAIL_AFTER;
                let next_check = (Instant::now() + ALIVE_CHECK).min(deadline.max(Instant::now()));
                // Biased: an answer that arrived while this task waited for a thread wins over the deadline, so
                // a daemon starved of CPU for a moment does not take its own lateness for the node's.
                tokio::select! {
                    biased;
                    ok = &mut attempt => break ok,
                    () = exit_of(&mut exited) => {
                        mark(Health::Gone);
                        return;
                    }
                    () = tokio::time::sleep_until(next_check.into()) => {
                        if !engine::process::is_redis_alive(pid) {
                            mark(Health::Gone);
                            return;
                        }
                        if Instant::now() >= deadline {
                            mark(Health::Unresponsive { since: last_ok });
                        }
                    }
                }
            }
        };
        if ok {
            last_ok = Instant::now();
            mark(Health::Up);
            tokio::select! {
                () = tokio::time::sleep(PROBE_INTERVAL) => {}
                () = exit_of(&mut exited) => {
                    mark(Health::Gone);
                    return;
                }
            }
        } else {
            // Refused or reset: the process may be on its way out, or still loading. Try again shortly; the
            // deadline keeps counting from the last answer.
            conn = None;
            tokio::time::sleep(Duration::from_millis(10)).await;
            if Instant::now() >= last_ok + FAIL_AFTER {
                mark(Health::Unresponsive { since: last_ok });
            }
        }
    }
}
