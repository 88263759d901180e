//! The health monitor: one probe task per running node that tells, as fast as it can be known, whether the node
//! still serves.
//!
//! - **Process exit** is known at once: a node this daemon started is its child, and the kernel reports the
//!   exit the moment it happens ([`engine::process::Spawned::exited`]); a node adopted after a daemon restart is
//!   checked in `/proc` every [`ALIVE_CHECK`].
//! - **A hung process** (stopped with `SIGSTOP`, deadlocked, gone from the scheduler) is noticed by `PING`: the
//!   probe keeps one `PING` in flight on its admin connection, every [`PROBE_INTERVAL`]; a node that has not
//!   answered for [`FAIL_AFTER`] is judged from `/proc` ([`judge`]):
//!   - stopped or traced (`T`, `t`): `Unresponsive` at once — it cannot answer until someone resumes it;
//!   - **busy**: its CPU time grew, or it is runnable (`R`), since the last time it made progress — it is
//!     executing something (a customer's long script or `KEYS`, a big `DEL`): alive. Redis itself answers
//!     other clients `-BUSY` after `busy-reply-threshold` (5 s, which customers cannot change), and the probe
//!     takes `-BUSY` as an answer; a node that answers nothing at all while busy for [`BUSY_LIMIT`] is
//!     `Unresponsive` (a loop no command started);
//!   - otherwise (sleeping or in I/O without using CPU for [`FAIL_AFTER`]) it is `Unresponsive`.
//!
//!   So a customer cannot force a failover with a legitimate command, while a stopped or silent primary is still
//!   failed over within `FAIL_AFTER` plus the failover itself. 800 ms sits well above a legitimate stall of an
//!   idle process (a fork for a rewrite of a few GB) and well below AWS's "a few seconds".
//!
//! A stall of the daemon itself, or of the whole machine, is not a failure of its nodes:
//! - **the daemon's own lateness**: a probe counts a node's silence only over time it was itself running. When
//!   its timer fires more than [`LATE_WAKE`] after it was due (the daemon was stopped, swapped out or starved of
//!   CPU), what it saw before proves nothing, and the node gets a whole new [`FAIL_AFTER`] from then;
//! - **many nodes silent at once**: when at least [`STALL_QUORUM`] nodes, and more than half of those probed, are
//!   silent past their deadline at the same time without being stopped, that is taken for this machine's stall
//!   (its CPUs or disk saturated), not for as many failures, and no one of them is judged failed until the
//!   silence outlasts [`BUSY_LIMIT`] (a stopped node, `T`, is still judged at once).
//!
//! And the reconciler decides from fresh evidence: right before it fences a primary for a failover it looks at the
//! node again ([`answers_now`]); a primary that answers is not failed over.
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

pub use crate::workflows::host::{Health, Target};

/// How often a healthy node is pinged.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// How long a node may leave a `PING` unanswered before it counts as failed.
pub const FAIL_AFTER: Duration = Duration::from_millis(800);
/// How often an adopted node's process is looked up in `/proc` (a started one is watched by the kernel).
pub const ALIVE_CHECK: Duration = Duration::from_millis(20);
/// How long a node that keeps using CPU may leave every `PING` unanswered (not even `-BUSY`) before it counts
/// as failed.
pub const BUSY_LIMIT: Duration = Duration::from_secs(30);
/// How late a probe's timer may fire before the probe takes it for a stall of the daemon itself (stopped,
/// starved of CPU): the silence it saw before then is not counted against the node.
pub const LATE_WAKE: Duration = Duration::from_millis(250);
/// A node silent this long (its `PING` unanswered, the daemon running) counts towards a stall of the machine: the
/// nodes a stall silences fall silent within a probe interval of each other, so when the first reaches its deadline
/// the others are past this already, and the first is held with them.
pub const SUSPECT_AFTER: Duration = Duration::from_millis(400);
/// How many nodes silent at once, at least (and more than half of those probed), are taken for a stall of the
/// machine rather than for as many failures.
pub const STALL_QUORUM: usize = 3;
/// How long the fresh look before a failover waits for the primary's answer.
pub const RECHECK_WITHIN: Duration = Duration::from_millis(300);
/// Timeout of the probe's own connection and commands: long, because the deadline is kept by the probe.
const PROBE_COMMAND_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the monitor can learn of a node's process from where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// The process is gone (or is not an engine process any more).
    Gone,
    /// Nothing is known now: the process runs on a host whose agent has not reported lately. The node is judged
    /// by its answers alone.
    Unknown,
    /// It runs: its state letter (`/proc/<pid>/stat`) and its CPU time.
    Running { state: char, cpu: u64 },
}

/// Where the monitor looks at processes: `/proc` of this machine, or a host agent's last report.
pub trait ProcessLook: Send + Sync {
    fn look(&self, pid: u32) -> Look;
}

/// The processes of this machine, read from `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct LocalProcesses;

impl ProcessLook for LocalProcesses {
    fn look(&self, pid: u32) -> Look {
        if !engine::process::is_redis_alive(pid) {
            return Look::Gone;
        }
        match engine::process::cpu_and_state(pid) {
            Some((state, cpu)) => Look::Running { state, cpu },
            None => Look::Gone,
        }
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
    silence: Arc<Silence>,
}

/// Since when each silent probed node (not stopped) has been silent, out of how many are probed: the evidence of a
/// stall of the whole machine.
#[derive(Default)]
struct Silence {
    silent: Mutex<HashMap<String, Instant>>,
    probed: std::sync::atomic::AtomicUsize,
    /// When a stall of the daemon itself was last reported (once per stall, not once per node).
    late_reported: Mutex<Option<Instant>>,
}

impl Silence {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.silent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that `name` has been silent since `since` (not stopped).
    fn silent(&self, name: &str, since: Instant) {
        self.lock().insert(name.to_string(), since);
    }

    /// Whether the machine looks stalled now (see [`machine_stalled`]).
    fn stalled(&self) -> bool {
        let now = Instant::now();
        let suspects = self
            .lock()
            .values()
            .filter(|since| now.saturating_duration_since(**since) >= SUSPECT_AFTER)
            .count();
        machine_stalled(
            suspects,
            self.probed.load(std::sync::atomic::Ordering::SeqCst),
        )
    }

    fn answered(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Reports a stall of the daemon itself once (its probes' timers fired `late`).
    fn daemon_late(&self, late: Duration) {
        let mut last = self.late_reported.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() > late + Duration::from_secs(1)) {
            *last = Some(Instant::now());
            tracing::warn!(target: "monitor", late_ms = late.as_millis() as u64,
                "the daemon did not run for a while (stopped, or starved of CPU): its nodes' silence meanwhile is not counted against them");
        }
    }
}

/// Whether `silent` nodes silent at once (each for [`SUSPECT_AFTER`] at least), of `probed`, are a stall of the
/// machine rather than that many failures.
pub fn machine_stalled(silent: usize, probed: usize) -> bool {
    silent >= STALL_QUORUM && silent * 2 > probed
}

/// Whether a process in `state` (`/proc/<pid>/stat`) is stopped, traced or a zombie: it cannot answer until someone
/// resumes it, whatever else is going on.
pub fn is_stopped(state: char) -> bool {
    matches!(state, 'T' | 't' | 'Z' | 'X')
}

/// Counts a probe among those probed for as long as it runs.
struct Probed {
    silence: Arc<Silence>,
    name: String,
}

impl Probed {
    fn new(silence: Arc<Silence>, name: String) -> Self {
        silence
            .probed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Probed { silence, name }
    }
}

impl Drop for Probed {
    fn drop(&mut self) {
        self.silence
            .probed
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.silence.answered(&self.name);
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Monitor")
    }
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
    pub fn ensure(&self, admin: &AdminCredentials, t: Target, look: Arc<dyn ProcessLook>) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        // A probe of this very process that still runs is kept; one that ended while its process lives (a panic)
        // is replaced, so no node is left unwatched.
        if probes
            .get(&t.name)
            .is_some_and(|p| p.pid == t.pid && !p.task.is_finished())
        {
            return;
        }
        if let Some(old) = probes.remove(&t.name) {
            old.task.abort();
        }
        set(&self.health, &t.name, Health::Up);
        let name = t.name.clone();
        let pid = t.pid;
        let task = tokio::spawn(probe(
            self.health.clone(),
            self.silence.clone(),
            admin.clone(),
            t,
            look,
        ));
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

fn alive(look: &dyn ProcessLook, pid: u32, exited: &Option<watch::Receiver<bool>>) -> bool {
    exited.as_ref().is_none_or(|rx| !*rx.borrow()) && look.look(pid) != Look::Gone
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

/// What a node that has not answered since `last_ok` is, judged from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Executing: count it alive.
    Busy,
    /// Stopped, silent without using CPU, or busy past [`BUSY_LIMIT`]: failed.
    Failed,
}

/// The last time a silent node was seen making progress, and its CPU time then.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub at: Instant,
    pub cpu: u64,
}

/// Judges a node that has not answered since `last_ok` from its process `state` and `cpu` time now, given when
/// it last made `progress` (updated here). A pure function of its inputs, so every case is unit-tested.
pub fn judge(
    now: Instant,
    last_ok: Instant,
    state: char,
    cpu: u64,
    progress: &mut Progress,
) -> Verdict {
    if is_stopped(state) {
        return Verdict::Failed;
    }
    if cpu > progress.cpu || state == 'R' {
        *progress = Progress { at: now, cpu };
    }
    if now.duration_since(last_ok) >= BUSY_LIMIT {
        return Verdict::Failed;
    }
    if now.duration_since(progress.at) >= FAIL_AFTER {
        Verdict::Failed
    } else {
        Verdict::Busy
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

/// Whether the node of process `pid` answers a `PING` now, on a connection of its own, within
/// [`RECHECK_WITHIN`]: the fresh evidence a failover needs. A process that is gone, stopped or a zombie does not.
pub async fn answers_now(
    look: &dyn ProcessLook,
    pid: u32,
    addr: &NodeAddr,
    admin: &AdminCredentials,
) -> bool {
    match look.look(pid) {
        Look::Gone => return false,
        Look::Running { state, .. } if is_stopped(state) => return false,
        Look::Running { .. } | Look::Unknown => {}
    }
    let attempt = async {
        let mut c = AdminClient::connect_within(addr, admin, RECHECK_WITHIN)
            .await
            .ok()?;
        c.ping().await.ok()
    };
    matches!(
        tokio::time::timeout(RECHECK_WITHIN, attempt).await,
        Ok(Some(()))
    )
}

/// When a node silent since its last answer at `last_ok` is judged: [`FAIL_AFTER`] of the daemon's own running
/// time (`watched_from` has moved past the time it did not run), and never later than [`BUSY_LIMIT`] after the last
/// answer.
fn deadline_of(last_ok: Instant, watched_from: Instant) -> Instant {
    (last_ok.max(watched_from) + FAIL_AFTER).min(last_ok + BUSY_LIMIT)
}

/// The probe of one node: what it watches and whom it tells (what it has seen is in [`Watch`]).
struct Prober {
    table: Arc<RwLock<HashMap<String, Health>>>,
    silence: Arc<Silence>,
    admin: AdminCredentials,
    name: String,
    addr: NodeAddr,
    pid: u32,
    poke: Arc<Notify>,
    look: Arc<dyn ProcessLook>,
}

/// What a probe has seen of its node since its last answer.
struct Watch {
    last_ok: Instant,
    /// The start of the probe's own unbroken watch: the node's silence counts from its last answer or from the
    /// end of the daemon's last stall, whichever is later.
    watched_from: Instant,
    progress: Progress,
    busy_logged: bool,
    stall_logged: bool,
}

/// Watches one node until its process is gone (or the probe is aborted), keeping its health in `table`.
async fn probe(
    table: Arc<RwLock<HashMap<String, Health>>>,
    silence: Arc<Silence>,
    admin: AdminCredentials,
    t: Target,
    look: Arc<dyn ProcessLook>,
) {
    let Target {
        name,
        host: _,
        addr,
        pid,
        mut exited,
        poke,
    } = t;
    let _probed = Probed::new(silence.clone(), name.clone());
    let p = Prober {
        table,
        silence,
        admin,
        name,
        addr,
        pid,
        poke,
        look,
    };
    let mut conn: Option<AdminClient> = None;
    let last_ok = Instant::now();
    let mut w = Watch {
        last_ok,
        watched_from: last_ok,
        progress: Progress {
            at: last_ok,
            cpu: p.cpu_now(),
        },
        busy_logged: false,
        stall_logged: false,
    };
    loop {
        if !alive(&*p.look, p.pid, &exited) {
            p.mark(Health::Gone);
            return;
        }
        let Some(ok) = p.wait_answer(&mut conn, &mut exited, &mut w).await else {
            return;
        };
        if ok {
            if !p.rest_after_answer(&mut exited, &mut w).await {
                return;
            }
        } else {
            // Refused or reset: the process may be on its way out, or still loading. Try again shortly; the
            // deadline keeps counting from the last answer.
            conn = None;
            let due = Instant::now() + Duration::from_millis(10);
            tokio::time::sleep_until(due.into()).await;
            p.woke_late(due, &mut w);
            p.judge_if_due(&mut w);
        }
    }
}

impl Prober {
    /// Records the node's health `h`; a change is logged and pokes the group's worker.
    fn mark(&self, h: Health) {
        if set(&self.table, &self.name, h) {
            tracing::info!(target: "monitor", node = %self.name, health = ?h, "node health changed");
            self.poke.notify_one();
        }
    }

    /// The node's CPU time now (0 when its process cannot be read).
    fn cpu_now(&self) -> u64 {
        match self.look.look(self.pid) {
            Look::Running { cpu, .. } => cpu,
            Look::Gone | Look::Unknown => 0,
        }
    }

    /// Sends one `PING` and waits for its answer, looking at the process meanwhile: true when it answered, false
    /// when the connection failed, `None` when the process is gone (marked so). A node silent past its deadline
    /// is judged while the `PING` stays in flight.
    async fn wait_answer(
        &self,
        conn: &mut Option<AdminClient>,
        exited: &mut Option<watch::Receiver<bool>>,
        w: &mut Watch,
    ) -> Option<bool> {
        let attempt = ping(conn, &self.addr, &self.admin);
        tokio::pin!(attempt);
        loop {
            let deadline = deadline_of(w.last_ok, w.watched_from);
            let next_check = (Instant::now() + ALIVE_CHECK).min(deadline.max(Instant::now()));
            // Biased: an answer that arrived while this task waited for a thread wins over the deadline, so
            // a daemon starved of CPU for a moment does not take its own lateness for the node's.
            tokio::select! {
                biased;
                ok = &mut attempt => return Some(ok),
                () = exit_of(exited) => {
                    self.mark(Health::Gone);
                    return None;
                }
                () = tokio::time::sleep_until(next_check.into()) => {
                    let look = self.look.look(self.pid);
                    if look == Look::Gone {
                        self.mark(Health::Gone);
                        return None;
                    }
                    self.woke_late(next_check, w);
                    let silent_from = w.last_ok.max(w.watched_from);
                    let stopped = matches!(look, Look::Running { state, .. } if is_stopped(state));
                    if Instant::now().saturating_duration_since(silent_from) >= SUSPECT_AFTER && !stopped {
                        self.silence.silent(&self.name, silent_from);
                    }
                    self.judge_if_due(w);
                }
            }
        }
    }

    /// After an answer: the node is up, and the probe waits [`PROBE_INTERVAL`] before the next `PING`. False when
    /// the process exited meanwhile (marked gone).
    async fn rest_after_answer(
        &self,
        exited: &mut Option<watch::Receiver<bool>>,
        w: &mut Watch,
    ) -> bool {
        w.last_ok = Instant::now();
        w.watched_from = w.last_ok;
        w.progress = Progress {
            at: w.last_ok,
            cpu: self.cpu_now(),
        };
        w.busy_logged = false;
        w.stall_logged = false;
        self.silence.answered(&self.name);
        self.mark(Health::Up);
        let due = Instant::now() + PROBE_INTERVAL;
        tokio::select! {
            () = tokio::time::sleep_until(due.into()) => {}
            () = exit_of(exited) => {
                self.mark(Health::Gone);
                return false;
            }
        }
        // A stall of the daemon between two pings: not counted against the next one.
        self.woke_late(due, w);
        true
    }

    /// Marks the node unresponsive when it is silent past its deadline and judged failed.
    fn judge_if_due(&self, w: &mut Watch) {
        if Instant::now() >= deadline_of(w.last_ok, w.watched_from) && self.failed(w) {
            self.mark(Health::Unresponsive { since: w.last_ok });
        }
    }

    /// Judges a node silent past its deadline; true when it has failed.
    fn failed(&self, w: &mut Watch) -> bool {
        let last_ok = w.last_ok;
        // A process nothing is known of (its host's agent silent) shows no sign of being busy: judged by its
        // silence alone, as a running process that uses no CPU.
        let (state, cpu) = match self.look.look(self.pid) {
            Look::Gone => return true,
            Look::Unknown => ('S', w.progress.cpu),
            Look::Running { state, cpu } => (state, cpu),
        };
        match judge(Instant::now(), last_ok, state, cpu, &mut w.progress) {
            Verdict::Failed
                if !is_stopped(state)
                    && self.silence.stalled()
                    && last_ok.elapsed() < BUSY_LIMIT =>
            {
                if !w.stall_logged {
                    w.stall_logged = true;
                    tracing::warn!(target: "monitor", node = %self.name, silent_ms = last_ok.elapsed().as_millis() as u64,
                        "many nodes silent at once: taken for a stall of this machine, not a failure of each");
                }
                false
            }
            Verdict::Failed => true,
            Verdict::Busy => {
                if !w.busy_logged {
                    w.busy_logged = true;
                    tracing::info!(target: "monitor", node = %self.name, silent_ms = last_ok.elapsed().as_millis() as u64,
                        "node busy executing a command: counted alive");
                }
                false
            }
        }
    }

    /// A wake-up more than [`LATE_WAKE`] after it was `due`: the daemon did not run meanwhile, and that time is not
    /// counted against the node.
    fn woke_late(&self, due: Instant, w: &mut Watch) {
        let now = Instant::now();
        let late = now.saturating_duration_since(due);
        if late > LATE_WAKE {
            self.silence.daemon_late(late);
            tracing::debug!(target: "monitor", node = %self.name, late_ms = late.as_millis() as u64,
                "the daemon's own timer fired late: that time is not counted against the node");
            // The time the daemon did not run is not counted: the deadline moves by that much, no more (a daemon
            // late again and again still judges a node that never answers, within BUSY_LIMIT).
            w.watched_from = w.watched_from.max(w.last_ok) + late;
            w.progress = Progress {
                at: now,
                cpu: self.cpu_now(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_node_a_stall_silences_is_held_with_the_others() {
        let s = Silence::default();
        s.probed.store(4, std::sync::atomic::Ordering::SeqCst);
        let now = Instant::now();
        // Three of four nodes fell silent within a probe interval: when the first reaches its deadline (800 ms),
        // the others have been silent 700 and 750 ms — the machine, not three failures.
        s.silent("a", now - FAIL_AFTER);
        s.silent("b", now - Duration::from_millis(700));
        s.silent("c", now - Duration::from_millis(750));
        assert!(s.stalled());
        // One node silent long, two for a moment: not a stall; the long one is judged on its own.
        let s = Silence::default();
        s.probed.store(4, std::sync::atomic::Ordering::SeqCst);
        s.silent("a", now - FAIL_AFTER);
        s.silent("b", now - Duration::from_millis(50));
        s.silent("c", now - Duration::from_millis(50));
        assert!(!s.stalled());
        s.answered("a");
        assert!(!s.stalled());
    }

    #[test]
    fn a_daemon_late_again_and_again_still_judges_within_the_busy_limit() {
        let t0 = Instant::now();
        // The lateness moves the deadline by the time the daemon did not run ...
        assert_eq!(
            deadline_of(t0, t0 + Duration::from_secs(3)),
            t0 + Duration::from_secs(3) + FAIL_AFTER
        );
        // ... and never past BUSY_LIMIT after the last answer.
        assert_eq!(
            deadline_of(t0, t0 + Duration::from_secs(60)),
            t0 + BUSY_LIMIT
        );
    }

    #[test]
    fn many_nodes_silent_at_once_are_a_stall_of_the_machine() {
        // One or two silent nodes are failures, whatever their number of peers.
        assert!(!machine_stalled(1, 1));
        assert!(!machine_stalled(2, 3));
        assert!(!machine_stalled(2, 100));
        // Three or more, and more than half of those probed: the machine.
        assert!(machine_stalled(3, 4));
        assert!(machine_stalled(9, 12));
        // Three of six, or of a hundred: not most of them; each is judged on its own.
        assert!(!machine_stalled(3, 6));
        assert!(!machine_stalled(10, 100));
    }

    #[test]
    fn busy_stopped_and_silent_nodes() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Stopped: failed as soon as it is judged.
        let mut p = Progress { at: t0, cpu: 10 };
        assert_eq!(judge(ms(800), t0, 'T', 10, &mut p), Verdict::Failed);
        assert_eq!(judge(ms(800), t0, 't', 90, &mut p), Verdict::Failed);
        // Executing a long script: its CPU time grows, so it stays alive, up to BUSY_LIMIT without any answer.
        let mut p = Progress { at: t0, cpu: 10 };
        assert_eq!(judge(ms(800), t0, 'R', 90, &mut p), Verdict::Busy);
        assert_eq!(judge(ms(1600), t0, 'S', 170, &mut p), Verdict::Busy);
        assert_eq!(judge(ms(4900), t0, 'R', 500, &mut p), Verdict::Busy);
        let limit = BUSY_LIMIT.as_millis() as u64;
        assert_eq!(judge(ms(limit), t0, 'R', 9000, &mut p), Verdict::Failed);
        // Silent without using CPU (a deadlock, a process that lost its event loop): failed after FAIL_AFTER
        // without progress.
        let mut p = Progress { at: t0, cpu: 10 };
        assert_eq!(judge(ms(800), t0, 'S', 10, &mut p), Verdict::Failed);
        // Busy, then silent: failed FAIL_AFTER after the last progress.
        let mut p = Progress { at: t0, cpu: 10 };
        assert_eq!(judge(ms(900), t0, 'S', 100, &mut p), Verdict::Busy);
        assert_eq!(judge(ms(1500), t0, 'S', 100, &mut p), Verdict::Busy);
        assert_eq!(judge(ms(1700), t0, 'D', 100, &mut p), Verdict::Failed);
    }
}
