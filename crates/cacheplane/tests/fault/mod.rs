//! The fault campaign (issue 12): every long operation runs under a continuous writer while the daemon is killed
//! with `SIGKILL` at points spread over the operation's steps (or, in the node campaign, while nodes are killed
//! or stopped), and the invariants are checked after convergence — and, for "never two primaries", sampled the
//! whole time:
//!
//! - the group reaches the state its spec says (`available`, the topology asked for) within [`CONVERGE`];
//! - never two nodes of a group report `master` at once (each node's `ROLE`, every few milliseconds, over its
//!   admin socket);
//! - the primary endpoint reaches the node the API names primary;
//! - acknowledged writes lost: 0 where nothing fails over; reported for failovers (asynchronous replication);
//! - no `redis-server` runs in a node directory no group owns, no node directory or snapshot file is left that
//!   nothing owns.
//!
//! Shared by the short CI run (`tests/campaign.rs`) and the full one (`benches/campaign.rs`, `scripts/bench.sh`),
//! which prints one row per operation.

#![allow(dead_code)]

pub mod stall;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_elasticache::Client;

use crate::common::*;

/// How long a group may take to converge after the daemon comes back.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// An operation of the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    AutomaticFailover,
    TestFailover,
    Switchover,
    Upgrade,
    NodeType,
    AddReplica,
    RemoveReplica,
    TlsStep,
    AuthRotate,
    Snapshot,
    Restore,
    // The node campaign: no daemon kill; a node gets the signal.
    KillPrimaryNode,
    StopPrimaryNode,
    KillReplicaNode,
    StopReplicaNode,
    // With host agents: the primary's host lost (its agent and nodes SIGKILLed), the daemon killed during the
    // failover and the healing that follow.
    HostLost,
}

impl Op {
    pub const ALL: [Op; 12] = [
        Op::Create,
        Op::AutomaticFailover,
        Op::TestFailover,
        Op::Switchover,
        Op::Upgrade,
        Op::NodeType,
        Op::AddReplica,
        Op::RemoveReplica,
        Op::TlsStep,
        Op::AuthRotate,
        Op::Snapshot,
        Op::Restore,
    ];

    /// The node campaign: `SIGKILL` / `SIGSTOP` of a node instead of the daemon.
    pub const NODES: [Op; 4] = [
        Op::KillPrimaryNode,
        Op::StopPrimaryNode,
        Op::KillReplicaNode,
        Op::StopReplicaNode,
    ];

    /// The hosts campaign: the primary's host lost, the daemon (or the leader) killed during the recovery.
    pub const HOSTS: [Op; 1] = [Op::HostLost];

    fn node_fault(self) -> bool {
        Self::NODES.contains(&self)
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::AutomaticFailover => "automatic failover",
            Op::TestFailover => "TestFailover",
            Op::Switchover => "PrimaryClusterId switchover",
            Op::Upgrade => "rolling engine upgrade",
            Op::NodeType => "node type change",
            Op::AddReplica => "replica add",
            Op::RemoveReplica => "replica remove",
            Op::TlsStep => "TLS mode step",
            Op::AuthRotate => "AUTH token ROTATE",
            Op::Snapshot => "snapshot",
            Op::Restore => "restore",
            Op::KillPrimaryNode => "node: SIGKILL primary",
            Op::StopPrimaryNode => "node: SIGSTOP primary",
            Op::KillReplicaNode => "node: SIGKILL replica",
            Op::StopReplicaNode => "node: SIGSTOP replica 2 s",
            Op::HostLost => "host lost (primary's)",
        }
    }

    /// Operations that fail over: their lost writes are reported, not counted as violations.
    fn fails_over(self) -> bool {
        matches!(
            self,
            Op::AutomaticFailover | Op::KillPrimaryNode | Op::StopPrimaryNode | Op::HostLost
        )
    }
}

/// One row of the table.
#[derive(Debug, Default, Clone)]
pub struct Row {
    pub op: String,
    pub kills: usize,
    pub not_converged: usize,
    pub two_primaries: usize,
    pub endpoint_wrong: usize,
    pub lost_violations: usize,
    /// Acknowledged writes lost where the operation fails over (reported, not a violation).
    pub lost_reported: i64,
    pub orphans: usize,
    pub worst_convergence: Duration,
    /// How long the operation takes without a kill (the kills are spread over it).
    pub span: Duration,
    /// Rounds of `ROLE` the two-primaries sampler made over the run.
    pub samples: usize,
    /// What each violation was, for the report.
    pub notes: Vec<String>,
    /// On a shared store: from each kill of the leader to another daemon leading.
    pub takeovers: Vec<Duration>,
}

impl Row {
    pub fn violations(&self) -> usize {
        self.not_converged
            + self.two_primaries
            + self.endpoint_wrong
            + self.lost_violations
            + self.orphans
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<28} {:>8} {:>5} {:>10} {:>10} {:>9} {:>5} {:>8} {:>8} {:>11}\n",
        "operation",
        "span",
        "kills",
        "converged",
        "2 primary",
        "endpoint",
        "lost",
        "orphans",
        "failover",
        "worst conv."
    );
    s.push_str(&format!(
        "{:<28} {:>8} {:>5} {:>10} {:>10} {:>9} {:>5} {:>8} {:>8} {:>11}\n",
        "", "", "", "(viol.)", "(viol.)", "(viol.)", "(viol.)", "(viol.)", "lost", ""
    ));
    let samples: usize = rows.iter().map(|r| r.samples).sum();
    for r in rows {
        s.push_str(&format!(
            "{:<28} {:>6.2} s {:>5} {:>10} {:>10} {:>9} {:>5} {:>8} {:>8} {:>9.2} s\n",
            r.op,
            r.span.as_secs_f64(),
            r.kills,
            r.not_converged,
            r.two_primaries,
            r.endpoint_wrong,
            r.lost_violations,
            r.orphans,
            r.lost_reported,
            r.worst_convergence.as_secs_f64()
        ));
    }
    s.push_str(&format!(
        "(two-primaries sampled {samples} times over every node, every 5 ms, during the whole run)\n"
    ));
    let takeovers: Vec<Duration> = rows.iter().flat_map(|r| r.takeovers.clone()).collect();
    if let Some(max) = takeovers.iter().max() {
        let mut sorted = takeovers.clone();
        sorted.sort();
        s.push_str(&format!(
            "(leader killed {} times: another daemon led after {:.0} ms at the median, {:.0} ms at most)\n",
            sorted.len(),
            sorted[sorted.len() / 2].as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0
        ));
    }
    s
}

/// One row per operation, side by side: the daemon killed (alone on SQLite) and the leader killed (two daemons on
/// PostgreSQL), each with its kills, its violations and its worst convergence; the leader's column also the time
/// until another daemon led.
pub fn fault_table(daemon: &[Row], leader: &[Row]) -> String {
    let mut s = format!(
        "{:<28} | {:>5} {:>10} {:>9} | {:>5} {:>10} {:>9} {:>15}\n",
        "operation", "kills", "violations", "worst", "kills", "violations", "worst", "next leader"
    );
    s.push_str(&format!(
        "{:<28} | {:<26} | {:<42}\n",
        "", "daemon killed (SQLite)", "leader killed (2 daemons, PostgreSQL)"
    ));
    let cell = |r: Option<&Row>| match r {
        Some(r) => format!(
            "{:>5} {:>10} {:>7.2} s",
            r.kills,
            r.violations(),
            r.worst_convergence.as_secs_f64()
        ),
        None => format!("{:>5} {:>10} {:>9}", "-", "-", "-"),
    };
    let mut ops: Vec<&str> = daemon.iter().map(|r| r.op.as_str()).collect();
    for r in leader {
        if !ops.contains(&r.op.as_str()) {
            ops.push(&r.op);
        }
    }
    for op in ops {
        let l = leader.iter().find(|r| r.op == op);
        let next = l
            .and_then(|r| r.takeovers.iter().max())
            .map(|m| format!("{:.0} ms max", m.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "{op:<28} | {} | {} {next:>15}\n",
            cell(daemon.iter().find(|r| r.op == op)),
            cell(l)
        ));
    }
    s
}

/// Samples every node of a data directory for `ROLE` over its admin socket, and counts the samples in which two
/// nodes of one group both said `master`.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    pub two_primaries: Arc<AtomicUsize>,
    pub samples: Arc<AtomicUsize>,
    task: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Sampler {
    /// Starts sampling the nodes whose directories are under `data_dir/nodes` and whose names start with one of
    /// `groups` (members are `<group>-NNN`).
    pub fn start(data_dir: &Path, groups: Arc<std::sync::Mutex<Vec<String>>>) -> Self {
        Self::start_over(data_dir, vec![data_dir.join("nodes")], groups)
    }

    /// [`Sampler::start`] over the node directories under each of `node_dirs` (the daemon's, and each host
    /// agent's), with the admin secret of `data_dir`.
    pub fn start_over(
        data_dir: &Path,
        node_dirs: Vec<PathBuf>,
        groups: Arc<std::sync::Mutex<Vec<String>>>,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let two = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(AtomicUsize::new(0));
        let (s2, t2, n2) = (stop.clone(), two.clone(), samples.clone());
        let dir = data_dir.to_path_buf();
        let task = std::thread::spawn(move || {
            let password = std::fs::read_to_string(dir.join("admin.secret"))
                .unwrap_or_default()
                .trim()
                .to_string();
            let mut conns: std::collections::HashMap<PathBuf, redis::Connection> =
                Default::default();
            let mut notes = Vec::new();
            while !s2.load(Ordering::SeqCst) {
                let groups = groups.lock().map(|g| g.clone()).unwrap_or_default();
                let mut masters: std::collections::HashMap<String, Vec<String>> =
                    Default::default();
                let mut paths: std::collections::HashMap<String, PathBuf> = Default::default();
                for e in node_dirs
                    .iter()
                    .filter_map(|d| std::fs::read_dir(d).ok())
                    .flatten()
                    .flatten()
                {
                    {
                        let name = e.file_name().to_string_lossy().to_string();
                        let Some(group) = groups.iter().find(|g| {
                            name.strip_prefix(g.as_str())
                                .is_some_and(|r| r.starts_with('-'))
                        }) else {
                            continue;
                        };
                        let sock = e.path().join("admin.sock");
                        paths.insert(name.clone(), sock.clone());
                        if !sock.exists() {
                            conns.remove(&sock);
                            continue;
                        }
                        if !conns.contains_key(&sock) {
                            let Ok(c) = admin_client(&sock, &password)
                                .get_connection_with_timeout(Duration::from_millis(50))
                            else {
                                continue;
                            };
                            let _ = c.set_read_timeout(Some(Duration::from_millis(50)));
                            conns.insert(sock.clone(), c);
                        }
                        let Some(c) = conns.get_mut(&sock) else {
                            continue;
                        };
                        match redis::cmd("ROLE").query::<redis::Value>(c) {
                            Ok(redis::Value::Array(v)) => {
                                if matches!(v.first(), Some(redis::Value::BulkString(b)) if b == b"master")
                                {
                                    masters.entry(group.clone()).or_default().push(name);
                                }
                            }
                            _ => {
                                conns.remove(&sock);
                            }
                        }
                    }
                }
                n2.fetch_add(1, Ordering::SeqCst);
                for (g, m) in masters {
                    // The nodes are read one after another, so a round can straddle a switchover (the first read
                    // before the old primary's demotion, the second after the target's promotion). Read them
                    // again, in the other order: only nodes still master then were masters together (at the
                    // moment of the later node's first read, the earlier one had said master before and after).
                    let still: Vec<&String> = m
                        .iter()
                        .rev()
                        .filter(|name| {
                            let Some(sock) = paths.get(*name) else {
                                return false;
                            };
                            conns.get_mut(sock).is_some_and(|c| {
                                matches!(redis::cmd("ROLE").query::<redis::Value>(c),
                                    Ok(redis::Value::Array(v)) if matches!(v.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
                            })
                        })
                        .collect();
                    if still.len() > 1 {
                        t2.fetch_add(1, Ordering::SeqCst);
                        if notes.len() < 5 {
                            notes.push(format!("{g}: {m:?} both master"));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            notes
        });
        Self {
            stop,
            two_primaries: two,
            samples,
            task: Some(task),
        }
    }

    pub fn stop(mut self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let notes = self
            .task
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        (self.two_primaries.load(Ordering::SeqCst), notes)
    }
}

/// `redis-server` processes running in a node directory of `data_dir` that no existing member owns, node
/// directories no member owns, snapshot files no snapshot owns.
pub async fn orphans(d: &Daemon, c: &Client) -> Vec<String> {
    let mut members = BTreeSet::new();
    let groups = c
        .describe_replication_groups()
        .send()
        .await
        .expect("describe");
    for g in groups.replication_groups() {
        for m in g.member_clusters() {
            members.insert(m.to_string());
        }
    }
    let clusters = c
        .describe_cache_clusters()
        .send()
        .await
        .expect("describe clusters");
    for cc in clusters.cache_clusters() {
        if let Some(id) = cc.cache_cluster_id() {
            members.insert(id.to_string());
        }
    }
    let mut snapshots = BTreeSet::new();
    let mut marker = None;
    loop {
        let out = c
            .describe_snapshots()
            .set_marker(marker)
            .send()
            .await
            .expect("snapshots");
        for s in out.snapshots() {
            if let Some(n) = s.snapshot_name() {
                snapshots.insert(n.to_string());
            }
        }
        marker = out.marker().map(String::from);
        if marker.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    let nodes = d.data_dir().join("nodes");
    if let Ok(rd) = std::fs::read_dir(&nodes) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !members.contains(&name) {
                found.push(format!("node directory {name}"));
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
                continue;
            };
            if let Ok(rest) = cwd.strip_prefix(&nodes) {
                let name = rest.to_string_lossy().to_string();
                if engine::process::is_redis_alive(pid) && !members.contains(&name) {
                    found.push(format!("redis-server {pid} in {name}"));
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(d.data_dir().join("snapshots")) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().to_string();
            match file.strip_suffix(".rdb") {
                Some(n) if snapshots.contains(n) => {}
                _ => found.push(format!("snapshot file {file}")),
            }
        }
    }
    found
}

async fn describe(c: &Client, id: &str) -> Option<aws_sdk_elasticache::types::ReplicationGroup> {
    c.describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .ok()?
        .replication_groups()
        .first()
        .cloned()
}

/// The primary member's id and the primary endpoint, as the API says.
fn primary_of(g: &aws_sdk_elasticache::types::ReplicationGroup) -> Option<(String, String)> {
    members_of(g)
        .into_iter()
        .find(|(_, role, _)| role == "primary")
        .map(|(id, _, url)| (id, url))
}

/// Checks that the primary endpoint reaches the node the API names primary: a key written through the endpoint
/// is read back at once from that node (which replicates from no one).
async fn endpoint_right(
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    tls: Option<(&Path, Option<&str>)>,
) -> Result<(), String> {
    let Some((id, node_url)) = primary_of(g) else {
        return Err("no member reported primary".into());
    };
    let ep = g.node_groups()[0]
        .primary_endpoint()
        .ok_or("no primary endpoint")?;
    let client_for = |url: &str| -> redis::Client {
        match tls {
            None => redis::Client::open(url).expect("url"),
            Some((ca, token)) => {
                let u = url.trim_start_matches("redis://").trim_end_matches('/');
                let (host, port) = u.rsplit_once(':').expect("host:port");
                tls_client_as(
                    &(host.to_string(), port.parse().expect("port")),
                    ca,
                    None,
                    token,
                )
            }
        }
    };
    let key = format!("probe-{}", rand_suffix());
    let mut e = client_conn_with_timeout(&client_for(&redis_url(ep)), Duration::from_secs(3))
        .await
        .map_err(|e| format!("primary endpoint: {e}"))?;
    redis::cmd("SET")
        .arg(&key)
        .arg("1")
        .query_async::<()>(&mut e)
        .await
        .map_err(|e| format!("write through the primary endpoint: {e}"))?;
    let mut n = client_conn_with_timeout(&client_for(&node_url), Duration::from_secs(3))
        .await
        .map_err(|e| format!("{id}: {e}"))?;
    let role: redis::Value = redis::cmd("ROLE")
        .query_async(&mut n)
        .await
        .map_err(|e| format!("{id} ROLE: {e}"))?;
    if !matches!(&role, redis::Value::Array(v) if matches!(v.first(), Some(redis::Value::BulkString(b)) if b == b"master"))
    {
        return Err(format!("{id}, named primary, is not master: {role:?}"));
    }
    let v: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut n)
        .await
        .map_err(|e| format!("{id} GET: {e}"))?;
    if v.as_deref() != Some("1") {
        return Err(format!("the primary endpoint does not reach {id}"));
    }
    Ok(())
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// Waits until `id` is `available` with `members` member clusters and a primary (and, for `primary`, that one);
/// returns how long it took, or None past [`CONVERGE`].
async fn converge(
    c: &Client,
    e: &Expect,
) -> Option<(Duration, aws_sdk_elasticache::types::ReplicationGroup)> {
    let (id, members) = (e.group.as_str(), e.members);
    let start = Instant::now();
    while start.elapsed() < CONVERGE {
        if let Ok(out) = c
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
        {
            if let Some(g) = out.replication_groups().first() {
                let ok = g.status() == Some("available")
                    && g.member_clusters().len() == members
                    && members_of(g).len() == members
                    && members_of(g)
                        .iter()
                        .all(|(_, r, _)| r == "primary" || r == "replica")
                    && primary_of(g).is_some_and(|(p, _)| {
                        e.primary.as_ref().is_none_or(|want| p == *want)
                            && e.not_primary.as_ref().is_none_or(|old| p != *old)
                    });
                if ok {
                    return Some((start.elapsed(), g.clone()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Where a campaign's daemons keep their state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// One daemon on the embedded store: a kill is followed by a restart.
    Sqlite,
    /// Two daemons on one PostgreSQL store, sharing the data directory: a kill is of the leader, the other takes
    /// over, and the killed one comes back as a follower.
    Postgres,
}

/// The PostgreSQL server the campaign's deployments share while a caller holds it ([`shared_postgres`]).
static SHARED_PG: std::sync::Mutex<std::sync::Weak<testpg::TestPostgres>> =
    std::sync::Mutex::new(std::sync::Weak::new());

/// One PostgreSQL server for every deployment on `Store::Postgres` started while the result is held (a database
/// of its own for each), instead of one server each; it stops when the last holder drops it.
pub fn shared_postgres() -> std::sync::Arc<testpg::TestPostgres> {
    let mut shared = SHARED_PG.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(server) = shared.upgrade() {
        return server;
    }
    let server = std::sync::Arc::new(testpg::TestPostgres::start());
    *shared = std::sync::Arc::downgrade(&server);
    server
}

/// A database of its own on the shared server.
fn campaign_database() -> (std::sync::Arc<testpg::TestPostgres>, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let server = shared_postgres();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let url = server.database(&format!("campaign{n}"));
    (server, url)
}

/// The daemons of a campaign. Fields drop in order: the standby, the first daemon (whose data directory it is),
/// then the PostgreSQL server.
pub struct Deployment {
    /// Host agents (the hosts campaign): dropped first, with their nodes.
    pub agents: Vec<Agent>,
    standby: Option<Daemon>,
    pub d: Daemon,
    pg: Option<(std::sync::Arc<testpg::TestPostgres>, String)>,
    /// From each kill of a leader to another daemon holding the data directory (leading).
    pub takeovers: Vec<Duration>,
}

/// The pid the data directory's lock file names (the daemon holding it: on a shared store, the leader).
fn lock_holder(data_dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(data_dir.join("daemon.lock")).ok()?;
    text.strip_prefix("pid ")?.split(',').next()?.parse().ok()
}

fn pid_of(d: &Daemon) -> Option<u32> {
    d.child.as_ref().map(|c| c.id())
}

impl Deployment {
    pub async fn start(store: Store) -> Self {
        let mut d = daemon();
        let (standby, pg) = match store {
            Store::Sqlite => (None, None),
            Store::Postgres => {
                let (server, url) = campaign_database();
                d.kill9();
                d.extra_args.extend(["--store".to_string(), url.clone()]);
                d.spawn();
                let first = pid_of(&d);
                eventually(
                    "the first daemon leads",
                    Duration::from_secs(30),
                    || async { (lock_holder(d.data_dir()) == first).then_some(()).ok_or(()) },
                )
                .await;
                let args: Vec<&str> = d.extra_args.iter().map(String::as_str).collect();
                let mut b = Daemon::beside(&d, &args);
                b.log = d.log;
                (Some(b), Some((server, url)))
            }
        };
        Deployment {
            agents: Vec::new(),
            standby,
            d,
            pg,
            takeovers: Vec::new(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.d.data_dir()
    }

    pub fn client(&self) -> Client {
        self.d.client()
    }

    /// Starts again, following, a daemon of the deployment that stopped by itself (a leader that could not renew
    /// its lease in time, on a loaded machine, stops); true when one did.
    pub fn revive(&mut self) -> bool {
        let mut revived = false;
        for d in std::iter::once(&mut self.d).chain(self.standby.as_mut()) {
            if d.child
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some())
            {
                d.spawn();
                revived = true;
            }
        }
        revived
    }

    /// The fault: a restart of the one daemon, or the leader's kill and another daemon's takeover (then the
    /// killed one comes back, following).
    pub async fn kill(&mut self) {
        if self.standby.is_none() {
            self.d.kill9();
            self.d.spawn();
            return;
        }
        self.revive();
        let Some(standby) = self.standby.as_mut() else {
            return;
        };
        let leader = lock_holder(self.d.data_dir());
        let (dead, other) = if leader == pid_of(standby) {
            (standby, &self.d)
        } else {
            (&mut self.d, &*standby)
        };
        let next = pid_of(other);
        let killed = Instant::now();
        dead.kill9();
        let dir = other.data_dir().to_path_buf();
        eventually("another daemon leads", Duration::from_secs(30), || async {
            (lock_holder(&dir) == next).then_some(()).ok_or(())
        })
        .await;
        self.takeovers.push(killed.elapsed());
        dead.spawn();
    }

    /// Forgets the `TestFailover` calls the store recorded (AWS allows 15 a day; the campaign makes more).
    pub fn forget_test_failovers(&self) {
        match &self.pg {
            None => {
                let db = rusqlite::Connection::open(self.data_dir().join("cacheplane.sqlite3"))
                    .expect("store");
                db.busy_timeout(Duration::from_secs(5))
                    .expect("busy timeout");
                db.execute("DELETE FROM test_failovers", [])
                    .expect("forget test failovers");
            }
            Some((_, url)) => testpg::off_runtime(|| {
                let mut c = postgres::Client::connect(url, postgres::NoTls).expect("store");
                c.execute("DELETE FROM test_failovers", &[])
                    .expect("forget test failovers");
            }),
        }
    }
}

/// The daemon of a campaign: generous failover budget (the campaign fails over on purpose), both engines.
pub fn daemon() -> Daemon {
    let mut d = Daemon::start_with_engines(&["CACHEPLANE_TEST_REDIS_6"]);
    d.kill9();
    d.extra_args
        .extend(["--max-automatic-failovers".to_string(), "10000".to_string()]);
    d.log = match std::env::var("CAMPAIGN_LOG") {
        Ok(l) => Box::leak(l.into_boxed_str()),
        Err(_) => "warn",
    };
    d.spawn();
    d
}

async fn create(c: &Client, id: &str, replicas: i32, version: Option<&str>) {
    create_with(c, id, replicas, version, true).await
}

async fn create_with(c: &Client, id: &str, replicas: i32, version: Option<&str>, failover: bool) {
    let mut req = c
        .create_replication_group()
        .replication_group_id(id)
        .replication_group_description("campaign")
        .num_cache_clusters(replicas + 1)
        .automatic_failover_enabled(failover)
        .snapshot_window(snapshot_window_clear_of_now());
    if let Some(v) = version {
        req = req.engine_version(v);
    }
    req.send().await.expect("create");
}

async fn delete(c: &Client, id: &str) {
    let _ = c
        .delete_replication_group()
        .replication_group_id(id)
        .send()
        .await;
    wait_deleted(c, id, Duration::from_secs(60)).await;
}

/// What a trial needs to know to check the group after convergence.
struct Expect {
    group: String,
    members: usize,
    primary: Option<String>,
    /// A primary the group must have left (a failover's).
    not_primary: Option<String>,
}

/// Runs `op` once without a kill to measure how long it takes (its span: from the API call to convergence),
/// then again with the daemon killed at `kills` points spread evenly over that span (at least `min_span`), and
/// returns its row.
pub async fn run_op(op: Op, kills: usize, min_span: Duration) -> Row {
    run_op_on(Store::Sqlite, op, kills, min_span).await
}

/// [`run_op`] on daemons of `store`.
pub async fn run_op_on(store: Store, op: Op, kills: usize, min_span: Duration) -> Row {
    let mut span = min_span;
    let mut dep = Deployment::start(store).await;
    let mut row = Row {
        op: op.name().to_string(),
        ..Row::default()
    };
    let watched = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    if op == Op::HostLost {
        // Four hosts: one in each zone, and a second in the first zone, where the lost node's replacement goes.
        for (zone, octet) in [
            ("us-east-1a", 91u8),
            ("us-east-1b", 92),
            ("us-east-1c", 93),
            ("us-east-1a", 94),
        ] {
            let token = join_token(&dep.d, dep.pg.as_ref().map(|(_, url)| url.as_str()));
            let controls: Vec<&Daemon> = std::iter::once(&dep.d)
                .chain(dep.standby.as_ref())
                .collect();
            let agent = Agent::join(&controls, zone, octet, &token);
            dep.agents.push(agent);
        }
    }
    let node_dirs = std::iter::once(dep.data_dir().join("nodes"))
        .chain(dep.agents.iter().map(|a| a.data_dir().join("nodes")))
        .collect();
    let sampler = Sampler::start_over(dep.data_dir(), node_dirs, watched.clone());
    let watch = |g: &str| {
        if let Ok(mut w) = watched.lock() {
            w.push(g.to_string());
        }
    };
    let c = dep.client();
    let ca = dep.data_dir().join("tls").join("ca.pem");
    let tokens = [
        "campaign-token-aaaaaaaaaaaaaaaa",
        "campaign-token-bbbbbbbbbbbbbbbb",
    ];
    // The long-lived group most operations act on.
    let main = "camp";
    match op {
        Op::Create | Op::TestFailover | Op::Upgrade => {}
        Op::AuthRotate => {
            c.create_replication_group()
                .replication_group_id(main)
                .replication_group_description("campaign")
                .num_cache_clusters(2)
                .automatic_failover_enabled(true)
                .transit_encryption_enabled(true)
                .auth_token(tokens[0])
                .snapshot_window(snapshot_window_clear_of_now())
                .send()
                .await
                .expect("create");
        }
        // PrimaryClusterId is AWS's for groups without automatic failover.
        Op::Switchover => create_with(&c, main, 2, None, false).await,
        Op::RemoveReplica => create(&c, main, 3, None).await,
        _ => create(&c, main, 2, None).await,
    }
    if !matches!(op, Op::Create | Op::TestFailover | Op::Upgrade) {
        watch(main);
        wait_available(&c, main, CONVERGE).await;
    }
    if op == Op::Restore || op == Op::Snapshot {
        let g = describe_group(&c, main).await;
        let mut p = redis_conn(&redis_url(
            g.node_groups()[0].primary_endpoint().expect("ep"),
        ))
        .await;
        fill_mixed(&mut p, "data", 2000).await;
        if op == Op::Restore {
            c.create_snapshot()
                .replication_group_id(main)
                .snapshot_name("base")
                .send()
                .await
                .expect("snapshot");
            wait_snapshot(&c, "base").await;
        }
    }
    for i in 0..=kills {
        // Trial 0 measures the span; the others kill the daemon at the middle of each of `kills` equal slots.
        let delay = (i > 0).then(|| span.mul_f64((i as f64 - 0.5) / kills as f64));
        let trial_group;
        let mut expect = Expect {
            group: main.to_string(),
            members: 3,
            primary: None,
            not_primary: None,
        };
        // Set up what this trial acts on.
        match op {
            Op::Create => {
                trial_group = format!("cr{i}");
                expect.group = trial_group.clone();
            }
            Op::TestFailover => {
                // AWS allows 15 TestFailover calls a day; the campaign makes more, so it forgets the earlier ones
                // (the store's record of them) between trials.
                dep.forget_test_failovers();
                trial_group = format!("tf{i}");
                create(&c, &trial_group, 2, None).await;
                wait_available(&c, &trial_group, CONVERGE).await;
                expect.group = trial_group.clone();
            }
            Op::Upgrade => {
                trial_group = format!("up{i}");
                create(&c, &trial_group, 2, Some("6.2")).await;
                wait_available(&c, &trial_group, CONVERGE).await;
                expect.group = trial_group.clone();
            }
            Op::Restore => {
                trial_group = format!("rs{i}");
                expect.group = trial_group.clone();
            }
            _ => trial_group = main.to_string(),
        }
        watch(&trial_group);
        if op == Op::AuthRotate {
            expect.members = 2;
        }
        let before = describe(&c, &expect.group).await;
        let writer = before.as_ref().and_then(|g| {
            let ep = g.node_groups().first()?.primary_endpoint()?;
            Some(if op == Op::AuthRotate {
                let (h, p) = primary_addr(g);
                Writer::start_client(
                    tls_client_as(&(h, p), &ca, None, Some(tokens[0])),
                    "counter",
                )
            } else {
                Writer::start(redis_url(ep), "counter")
            })
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Start the operation.
        if matches!(
            op,
            Op::AutomaticFailover | Op::TestFailover | Op::KillPrimaryNode | Op::StopPrimaryNode
        ) {
            expect.not_primary = before.as_ref().and_then(primary_of).map(|p| p.0);
        }
        let mut lost_host = None;
        let started = if op == Op::HostLost {
            let g = describe_group(&c, &expect.group).await;
            let (p, _) = primary_of(&g).expect("a primary");
            lost_host = dep
                .agents
                .iter()
                .position(|a| a.node_pids().iter().any(|(n, _)| *n == p));
            if let Some(a) = lost_host {
                dep.agents[a].lose();
            }
            None
        } else {
            // A daemon that stopped by itself since the last trial (a lease not renewed in time on a loaded machine)
            // is started again first: the operation is asked of a live daemon (on the same port, so `c` holds).
            dep.revive();
            start_op(op, &c, &dep.d, &expect, i, &tokens).await
        };
        if let Some(p) = started {
            expect.primary = Some(p);
        }
        // Replica add and remove alternate (see `start_op`): after an add the group has 4 members.
        let added = (op == Op::AddReplica) == (i.is_multiple_of(2));
        if matches!(op, Op::AddReplica | Op::RemoveReplica) {
            expect.members = if added { 4 } else { 3 };
        }
        let op_started = Instant::now();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
            if op.node_fault() {
                // The node got its signal in `start_op`; the daemon stays up.
                row.kills += 1;
            } else {
                dep.kill().await;
                row.kills += 1;
            }
        }
        let mut c2 = dep.client();
        let converging = Instant::now();
        let mut converged = converge(&c2, &expect).await;
        // A daemon that stopped by itself meanwhile (a lease not renewed in time on a loaded machine) answered
        // nothing: started again, the deployment is judged again.
        if converged.is_none() && dep.revive() {
            c2 = dep.client();
            converged = converge(&c2, &expect).await;
        }
        // A lost host's group is whole again once its lost node is replaced on a live host.
        if let (Some(a), Some(_)) = (lost_host, &converged) {
            match wait_healed(&dep, a, &c2, &expect.group).await {
                // The group as it is now, its replaced node at its new address.
                Ok(()) => {
                    converged = converge(&c2, &expect)
                        .await
                        .map(|(_, g)| (converging.elapsed(), g))
                }
                Err(e) => {
                    row.not_converged += 1;
                    row.notes
                        .push(format!("trial {i} (kill at {delay:?}): {e}"));
                }
            }
        }
        if delay.is_none() {
            if let Some((_, _)) = &converged {
                span = span.max(op_started.elapsed());
                row.span = span;
            }
        }
        let Some((took, g)) = converged else {
            row.not_converged += 1;
            let now = describe(&c2, &expect.group).await;
            let events = event_messages(&c2, &expect.group).await;
            row.notes.push(format!(
                "trial {i} (kill at {delay:?}): not converged (wanted primary {:?}): {:?}; last events {:?}",
                expect.primary,
                now.map(|g| (g.status().map(String::from), members_of(&g))),
                events.iter().rev().take(3).collect::<Vec<_>>()
            ));
            if let Some(w) = writer {
                w.stop().await;
            }
            // Bring the group back for the next trial anyway.
            let _ = converge(
                &c2,
                &Expect {
                    primary: None,
                    not_primary: None,
                    ..expect
                },
            )
            .await;
            continue;
        };
        row.worst_convergence = row.worst_convergence.max(took);
        // Snapshots end in a terminal state.
        if op == Op::Snapshot {
            let s = wait_snapshot_terminal(&c2, &format!("snap{i}")).await;
            if s.as_deref() != Some("available") && s.as_deref() != Some("failed") {
                row.not_converged += 1;
                row.notes.push(format!("trial {i}: snapshot {s:?}"));
            }
        }
        let tls = (op == Op::AuthRotate).then_some((ca.as_path(), Some(tokens[0])));
        if let Err(e) = endpoint_right(&g, tls).await {
            row.endpoint_wrong += 1;
            row.notes
                .push(format!("trial {i} (kill at {delay:?}): {e}"));
        }
        if let Some(w) = writer {
            // A moment for the writer to reconnect and prove the group writable, then the count.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let log = w.stop().await;
            let mut lost = log.lost();
            if let Some(max) = log.acks.iter().map(|(_, v)| *v).max() {
                if let Some(now) = counter_now(&g, tls).await {
                    lost += (max - now).max(0);
                }
            }
            if op.fails_over() {
                row.lost_reported += lost;
                if lost > 0 {
                    row.notes.push(format!(
                        "trial {i} (kill at {delay:?}): {lost} acknowledged writes lost in the failover (of {})",
                        log.acks.len()
                    ));
                }
            } else if lost > 0 {
                row.lost_violations += 1;
                row.notes.push(format!(
                    "trial {i} (kill at {delay:?}): {lost} acknowledged writes lost"
                ));
            }
        }
        if op == Op::Restore {
            let mut p = redis_conn(&redis_url(
                g.node_groups()[0].primary_endpoint().expect("ep"),
            ))
            .await;
            let n: i64 = redis::cmd("DBSIZE").query_async(&mut p).await.unwrap_or(0);
            if n < 2000 {
                row.not_converged += 1;
                row.notes
                    .push(format!("trial {i}: restored {n} keys of 2000"));
            }
        }
        // Trials that made a group of their own remove it (the orphan check then proves nothing is left).
        if matches!(
            op,
            Op::Create | Op::TestFailover | Op::Upgrade | Op::Restore
        ) {
            delete(&c2, &trial_group).await;
        }
        if op == Op::Snapshot {
            let _ = c2
                .delete_snapshot()
                .snapshot_name(format!("snap{i}"))
                .send()
                .await;
        }
        if let Some(a) = lost_host {
            if let Err(e) = return_host(&mut dep, a).await {
                row.not_converged += 1;
                row.notes
                    .push(format!("trial {i} (kill at {delay:?}): {e}"));
            }
        }
        let mut o = orphans(&dep.d, &c2).await;
        o.extend(host_orphans(&dep.agents, &c2).await);
        if !o.is_empty() {
            row.orphans += 1;
            row.notes.push(format!("trial {i}: orphans {o:?}"));
        }
    }
    let samples = sampler.samples.load(Ordering::SeqCst);
    let (two, notes) = sampler.stop();
    row.two_primaries = two;
    row.samples = samples;
    row.notes.extend(notes);
    row.takeovers = dep.takeovers.clone();
    row
}

/// After a host was lost (agent `lost` of `dep`): waits until every member of `group` runs on a live host (the
/// lost node was replaced).
async fn wait_healed(dep: &Deployment, lost: usize, c: &Client, group: &str) -> Result<(), String> {
    let live: Vec<&Agent> = dep
        .agents
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != lost)
        .map(|(_, a)| a)
        .collect();
    let start = Instant::now();
    loop {
        let g = describe_group(c, group).await;
        let running: BTreeSet<String> = live
            .iter()
            .flat_map(|a| a.node_pids())
            .map(|(n, _)| n)
            .collect();
        let missing: Vec<String> = g
            .member_clusters()
            .iter()
            .filter(|m| !running.contains(*m))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if start.elapsed() > CONVERGE {
            return Err(format!("not healed: {missing:?} run on no live host"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The lost host (agent `lost` of `dep`) comes back; waits until it is swept of what it held.
async fn return_host(dep: &mut Deployment, lost: usize) -> Result<(), String> {
    dep.agents[lost].spawn(None);
    let back = dep.agents[lost].data_dir().join("nodes");
    let start = Instant::now();
    loop {
        let left: Vec<String> = std::fs::read_dir(&back)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > CONVERGE {
            return Err(format!("the lost host, back, still holds {left:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Node directories on hosts that no member owns.
async fn host_orphans(agents: &[Agent], c: &Client) -> Vec<String> {
    if agents.is_empty() {
        return vec![];
    }
    let groups = c
        .describe_replication_groups()
        .send()
        .await
        .expect("describe");
    let members: BTreeSet<String> = groups
        .replication_groups()
        .iter()
        .flat_map(|g| g.member_clusters().iter().cloned())
        .collect();
    let mut found = Vec::new();
    for a in agents {
        if let Ok(rd) = std::fs::read_dir(a.data_dir().join("nodes")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !members.contains(&name) {
                    found.push(format!("node directory {name} on host {}", a.name));
                }
            }
        }
    }
    found
}

/// The counter's value on the primary now.
async fn counter_now(
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    tls: Option<(&Path, Option<&str>)>,
) -> Option<i64> {
    let client = match tls {
        None => redis::Client::open(redis_url(g.node_groups()[0].primary_endpoint()?)).ok()?,
        Some((ca, token)) => tls_client_as(&primary_addr(g), ca, None, token),
    };
    let mut conn = client_conn_with_timeout(&client, Duration::from_secs(3))
        .await
        .ok()?;
    redis::cmd("GET")
        .arg("counter")
        .query_async::<Option<i64>>(&mut conn)
        .await
        .ok()
        .flatten()
}

async fn wait_snapshot_terminal(c: &Client, name: &str) -> Option<String> {
    let deadline = Instant::now() + CONVERGE;
    while Instant::now() < deadline {
        let out = c
            .describe_snapshots()
            .snapshot_name(name)
            .send()
            .await
            .ok()?;
        let s = out.snapshots().first()?.snapshot_status().map(String::from);
        if s.as_deref() != Some("creating") {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some("creating".into())
}

/// Starts the operation of trial `i`; returns the primary the group must end with when the operation names
/// one.
async fn start_op(
    op: Op,
    c: &Client,
    d: &Daemon,
    e: &Expect,
    i: usize,
    tokens: &[&str; 2],
) -> Option<String> {
    let id = e.group.as_str();
    match op {
        Op::Create => {
            create(c, id, 2, None).await;
            None
        }
        Op::AutomaticFailover => {
            let g = describe_group(c, id).await;
            let (p, _) = primary_of(&g)?;
            let pid = node_pid(d, &p);
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            None
        }
        Op::KillPrimaryNode | Op::StopPrimaryNode | Op::KillReplicaNode | Op::StopReplicaNode => {
            let g = describe_group(c, id).await;
            let (p, _) = primary_of(&g)?;
            let target = if matches!(op, Op::KillPrimaryNode | Op::StopPrimaryNode) {
                p
            } else {
                g.member_clusters().iter().find(|m| **m != p).cloned()?
            };
            let pid = node_pid(d, &target);
            let stop = matches!(op, Op::StopPrimaryNode | Op::StopReplicaNode);
            let signal = if stop {
                nix::sys::signal::Signal::SIGSTOP
            } else {
                nix::sys::signal::Signal::SIGKILL
            };
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
            if stop {
                // A stopped primary is fenced (killed) by the failover; a stopped replica resumes after 2 s, a
                // stall shorter than the replacement deadline. Either way it does not stay stopped.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGCONT,
                    );
                });
            }
            None
        }
        Op::TestFailover => {
            let g = describe_group(c, id).await;
            let (p, _) = primary_of(&g)?;
            c.test_failover()
                .replication_group_id(id)
                .node_group_id("0001")
                .send()
                .await
                .expect("test failover");
            let _ = p;
            None
        }
        Op::Switchover => {
            let g = describe_group(c, id).await;
            let (p, _) = primary_of(&g)?;
            let target = g.member_clusters().iter().find(|m| **m != p).cloned()?;
            c.modify_replication_group()
                .replication_group_id(id)
                .primary_cluster_id(&target)
                .apply_immediately(true)
                .send()
                .await
                .expect("switchover");
            Some(target)
        }
        Op::Upgrade => {
            c.modify_replication_group()
                .replication_group_id(id)
                .engine_version("7.0")
                .apply_immediately(true)
                .send()
                .await
                .expect("upgrade");
            None
        }
        Op::NodeType => {
            let t = if i.is_multiple_of(2) {
                "cache.t3.small"
            } else {
                "cache.t3.micro"
            };
            c.modify_replication_group()
                .replication_group_id(id)
                .cache_node_type(t)
                .apply_immediately(true)
                .send()
                .await
                .expect("node type");
            None
        }
        Op::AddReplica | Op::RemoveReplica => {
            // Replica add and remove alternate, so the group stays between 2 and 3 replicas.
            let add = (op == Op::AddReplica) == (i.is_multiple_of(2));
            if add {
                c.increase_replica_count()
                    .replication_group_id(id)
                    .new_replica_count(3)
                    .apply_immediately(true)
                    .send()
                    .await
                    .expect("increase");
            } else {
                c.decrease_replica_count()
                    .replication_group_id(id)
                    .new_replica_count(2)
                    .apply_immediately(true)
                    .send()
                    .await
                    .expect("decrease");
            }
            None
        }
        Op::TlsStep => {
            let mut req = c
                .modify_replication_group()
                .replication_group_id(id)
                .apply_immediately(true);
            req = if i.is_multiple_of(2) {
                req.transit_encryption_enabled(true)
                    .transit_encryption_mode("preferred".into())
            } else {
                req.transit_encryption_enabled(false)
            };
            req.send().await.expect("tls step");
            None
        }
        Op::AuthRotate => {
            c.modify_replication_group()
                .replication_group_id(id)
                .auth_token(tokens[(i + 1) % 2])
                .auth_token_update_strategy(
                    aws_sdk_elasticache::types::AuthTokenUpdateStrategyType::Rotate,
                )
                .apply_immediately(true)
                .send()
                .await
                .expect("rotate");
            None
        }
        Op::Snapshot => {
            c.create_snapshot()
                .replication_group_id(id)
                .snapshot_name(format!("snap{i}"))
                .send()
                .await
                .expect("snapshot");
            None
        }
        Op::Restore => {
            c.create_replication_group()
                .replication_group_id(id)
                .replication_group_description("restore")
                .num_cache_clusters(3)
                .automatic_failover_enabled(true)
                .snapshot_name("base")
                .snapshot_window(snapshot_window_clear_of_now())
                .send()
                .await
                .expect("restore");
            None
        }
        // Started by the trial itself, which holds the agents.
        Op::HostLost => None,
    }
}
