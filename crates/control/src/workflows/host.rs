//! The `Nodes` interface: everything a workflow does to a node's process, and everything it may read of a node
//! besides what the node answers on its own admin connection. Workflows hold it as `&dyn Nodes` and never start,
//! stop or watch a process themselves; the daemon's implementation (`runtime::nodes::LocalNodes`) runs the
//! processes of this machine through `engine`, and a host agent's client can implement the same interface over the
//! network (with the leader's generation on every command).
//!
//! What stays outside it: the admin connection itself. A workflow opens one with [`Nodes::admin`]'s credentials to
//! the address of the node's spec, as any Redis client would, and sends it the engine's commands (`REPLICAOF`,
//! `CLUSTER`, `CONFIG SET`, `MIGRATE`, …): those travel over the network wherever the node runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use engine::admin::{NodeAddr, Role};
use engine::config::NodeSpec;
use engine::memcached::MemcachedNode;
pub use engine::process::DirChange;
use engine::process::Spawned;
use engine::secret::AdminCredentials;
use tokio::sync::{watch, Notify};

use crate::error::Result;

/// The processes of nodes, their health and what was last observed of them.
#[async_trait::async_trait]
pub trait Nodes: Send + Sync {
    /// The credentials of the control plane's admin connections to nodes (and of replicas to their primary).
    fn admin(&self) -> &AdminCredentials;

    /// What was last observed of node `name`; `None` when nothing was since this daemon started.
    fn observed(&self, name: &str) -> Option<NodeObservation>;
    /// Changes what is recorded of node `name` (see [`update`](#method.update) for a closure that moves).
    fn record(&self, name: &str, f: &mut dyn FnMut(&mut NodeObservation));
    /// Forgets every observation of node `name` (its process was stopped on purpose).
    fn forget(&self, name: &str);

    /// The node's health as the monitor knows it; a node never watched counts as up.
    fn health(&self, name: &str) -> Health;
    /// Makes sure the node's process is watched (replacing a watch of an older process of it).
    fn watch(&self, target: Target);
    /// Stops watching node `name` (it is being stopped on purpose, or removed).
    fn unwatch(&self, name: &str);
    /// Whether process `pid` of the node of `spec` answers a `PING` now, on a connection of its own: the fresh
    /// evidence a failover needs.
    async fn answers_now(&self, spec: &NodeSpec, pid: u32) -> bool;

    /// Whether process `pid` of the node of `spec` (on the node's host) is a running engine process. A host that
    /// has not reported lately counts its processes as alive: the monitor's `PING` judges them.
    fn is_alive(&self, spec: &NodeSpec, pid: u32) -> bool;
    /// The pid the node's own pid file names.
    async fn pid_file(&self, spec: &NodeSpec) -> Option<u32>;
    /// Every process of the node's host that listens on `addr`.
    async fn pids_serving(&self, spec: &NodeSpec, addr: SocketAddr) -> Vec<u32>;
    /// A process of `spec` that runs already (left from before a restart of the daemon) and answers as the admin.
    async fn adopt(&self, spec: &NodeSpec) -> Option<u32>;
    /// Starts the node of `spec` from its directory and waits until it answers as the admin.
    async fn spawn(&self, spec: &NodeSpec) -> Result<Spawned>;
    /// Stops process `pid` of the node of `spec` cleanly (`SIGTERM`, then `SIGKILL` after `grace`).
    async fn stop(&self, spec: &NodeSpec, pid: u32, grace: std::time::Duration);
    /// Kills process `pid` of the node of `spec` at once; false when it did not die (or cannot be made sure of).
    async fn kill_now(&self, spec: &NodeSpec, pid: u32) -> bool;
    /// Whether anything accepts connections at `addr`.
    async fn accepts(&self, addr: SocketAddr) -> bool;
    /// Removes the node's directory with its data.
    async fn remove_dir(&self, spec: &NodeSpec) -> Result<()>;
    /// Changes the files of the stopped node of `spec`: see [`DirChange`].
    async fn change_dir(&self, spec: &NodeSpec, change: DirChange) -> Result<()>;

    /// Whole lines of the node's log file past `offset` (at most `max` bytes) and the offset after them; with no
    /// offset, none and the log's length now.
    async fn read_log(
        &self,
        spec: &NodeSpec,
        offset: Option<u64>,
        max: usize,
    ) -> Result<(Vec<String>, u64)>;

    /// How long the agent of `host` has not reported.
    fn host_silence(&self, host: &engine::spec::NodeHost) -> Silence;
    /// The nodes whose directories `host` holds, by its agent's last report; `None` when it has not reported
    /// lately.
    fn nodes_on(&self, host: &engine::spec::NodeHost) -> Option<Vec<String>>;
    /// What `host` has for new nodes, by its agent's last report: the machine's available memory and the nodes
    /// whose processes run there; `None` when it has not reported lately.
    fn host_memory(&self, host: &engine::spec::NodeHost) -> Option<(u64, Vec<String>)>;
    /// The resident memory of process `pid` of a node (on `host`, by its agent's last report; else on this
    /// machine): what the node holds, `None` when not known.
    fn resident_bytes(&self, host: Option<&engine::spec::NodeHost>, pid: u32) -> Option<u64>;
    /// Stops node `name` on `host` (if it runs) and removes its directory: a node no group places there any more.
    async fn remove_node_on(&self, host: &engine::spec::NodeHost, name: &str) -> Result<()>;

    /// The pid of Memcached node `node` when it runs (on its host: by its agent's fresh report, else by asking it);
    /// an error when its host cannot say.
    async fn memcached_pid(&self, node: &MemcachedNode) -> Result<Option<u32>>;
    /// Starts Memcached node `node` (on its host, with its certificate when it serves TLS) and waits until it
    /// answers: its pid.
    async fn start_memcached(&self, node: &MemcachedNode) -> Result<u32>;
    /// Stops Memcached node `node` if it runs.
    async fn stop_memcached(&self, node: &MemcachedNode) -> Result<()>;
    /// Stops Memcached node `node` if it runs, and removes its directory.
    async fn remove_memcached(&self, node: &MemcachedNode) -> Result<()>;
}

impl dyn Nodes + '_ {
    /// Changes what is recorded of node `name` with a closure that may move what it captures.
    pub fn update(&self, name: &str, f: impl FnOnce(&mut NodeObservation)) {
        let mut f = Some(f);
        self.record(name, &mut |o| {
            if let Some(f) = f.take() {
                f(o)
            }
        });
    }
}

/// How long a host's agent has been silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Silence {
    /// Since its last report; `None`: not one since this daemon began to watch it.
    pub heard_ago: Option<std::time::Duration>,
    /// Since this daemon began to watch it.
    pub watched_for: std::time::Duration,
}

impl Silence {
    /// Silent for at least `d`.
    pub fn at_least(&self, d: std::time::Duration) -> bool {
        self.heard_ago.unwrap_or(self.watched_for) >= d
    }

    /// Heard from within `d`.
    pub fn heard_within(&self, d: std::time::Duration) -> bool {
        self.heard_ago.is_some_and(|h| h < d)
    }
}

/// The last observation of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeObservation {
    pub pid: Option<u32>,
    /// For a node this daemon started: turns true when the process exits.
    pub exited: Option<tokio::sync::watch::Receiver<bool>>,
    pub role: Option<Role>,
    /// The ACL last applied to the running process: its pid and [`engine::config::NodeSpec::acl_fingerprint`].
    pub acl: Option<(u32, String)>,
    /// The parameter group settings last applied to the running process: its pid and
    /// [`engine::config::NodeSpec::settings_fingerprint`].
    pub settings: Option<(u32, String)>,
    /// Settings that take effect at the node's next start differ from what it runs with (`pending-reboot`).
    pub pending_reboot: bool,
    /// The node is loading its dataset (after a start, or a full sync's payload): how far it has got.
    pub load: Option<Wait>,
    /// The node is a replica not yet linked to its primary (waiting for, or receiving, a full sync).
    pub sync: Option<Wait>,
    /// A cluster node that serves and whose slot map is right (every shard's slots served by its primary): a
    /// cluster client may ask it for the topology, so the configuration endpoint may send clients to it.
    pub cluster_map_right: bool,
    /// What the node held when its worker last read it for a request (see `data_wanted`).
    pub data: Option<NodeData>,
    /// When a request last asked for what the node holds: its worker reads it at its next look when `data` is
    /// older (and only then: a look of an idle group reads nothing more).
    pub data_wanted: Option<Instant>,
}

/// The data a node held at one look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    pub at: Instant,
    /// `used_memory`: all the memory the node uses.
    pub used_memory: u64,
    /// `used_memory_dataset`: the memory its keys use (`used_memory` where the engine does not say).
    pub dataset: u64,
    /// The keys of each database that has any (`db0`, `db3`, …).
    pub keys: std::collections::BTreeMap<String, u64>,
}

impl NodeData {
    /// The node's data from its `INFO memory` and `INFO keyspace`.
    pub fn read(
        at: Instant,
        memory: &std::collections::HashMap<String, String>,
        keyspace: &std::collections::HashMap<String, String>,
    ) -> NodeData {
        let number = |k: &str| memory.get(k).and_then(|v| v.parse::<u64>().ok());
        let used_memory = number("used_memory").unwrap_or(0);
        NodeData {
            at,
            used_memory,
            dataset: number("used_memory_dataset").unwrap_or(used_memory),
            keys: keyspace
                .iter()
                .filter(|(k, _)| k.starts_with("db"))
                .map(|(k, v)| {
                    let n = v
                        .split(',')
                        .find_map(|p| p.strip_prefix("keys="))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    (k.clone(), n)
                })
                .collect(),
        }
    }

    pub fn total_keys(&self) -> u64 {
        self.keys.values().sum()
    }
}

/// A wait on a node's data (a load, or a replica's sync), followed across looks: when it began, how many bytes
/// were done at the last look and when that number last grew. Judged by [`crate::rules::progress::judge`].
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub since: Instant,
    /// What the node is doing: `loading`, `receiving` (a full sync's payload), `waiting for the primary`.
    pub phase: &'static str,
    /// Bytes done, and the total when the engine says (0 when not known).
    pub done: u64,
    pub total: u64,
    /// The size of the data the wait is for: what its deadline is computed from.
    pub size: u64,
    /// When `done` last grew; `None` while no byte has moved.
    pub grew: Option<Instant>,
    /// The engine's own estimate of the seconds left, when it gives one.
    pub eta_seconds: Option<u64>,
}

impl Wait {
    /// The wait after a look at `now` that found `done` of `total` bytes, for `size` bytes of data; `prev` is the
    /// same wait at the look before.
    pub fn next(
        prev: Option<&Wait>,
        now: Instant,
        phase: &'static str,
        done: u64,
        total: u64,
        size: u64,
        eta_seconds: Option<u64>,
    ) -> Wait {
        let grew = match prev {
            Some(p) if done == p.done => p.grew,
            Some(p) if done < p.done => Some(now), // started over (a new sync): moving again
            _ if done > 0 => Some(now),
            _ => None,
        };
        Wait {
            since: prev.map_or(now, |p| p.since),
            phase,
            done,
            total,
            size: size.max(prev.map_or(0, |p| p.size)),
            grew,
            eta_seconds,
        }
    }

    /// The load wait after a look at `now` that found the node loading as `p` reports.
    pub fn of_load(prev: Option<&Wait>, now: Instant, p: &engine::admin::LoadProgress) -> Wait {
        Wait::next(
            prev,
            now,
            "loading",
            p.loaded_bytes,
            p.total_bytes,
            p.rdb_used_memory.max(p.total_bytes),
            p.eta_seconds,
        )
    }

    pub fn verdict(&self, now: Instant) -> crate::rules::progress::Verdict {
        crate::rules::progress::judge(
            now.duration_since(self.since),
            self.grew.map(|g| now.duration_since(g)),
            self.size,
        )
    }

    /// Percent done, when the total is known.
    pub fn percent(&self) -> Option<f64> {
        (self.total > 0).then(|| (self.done as f64 * 100.0 / self.total as f64).min(100.0))
    }
}

/// What the monitor knows of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Answered its last `PING` (or not probed yet).
    Up,
    /// Has not answered since `since` for longer than the monitor's failure deadline.
    Unresponsive { since: Instant },
    /// Its process is gone.
    Gone,
}

impl Health {
    pub fn is_up(self) -> bool {
        self == Health::Up
    }
}

/// Where to probe a node and whom to tell.
pub struct Target {
    pub name: String,
    /// The host that runs the node; `None`: this machine.
    pub host: Option<engine::spec::NodeHost>,
    pub addr: NodeAddr,
    pub pid: u32,
    pub exited: Option<watch::Receiver<bool>>,
    pub poke: Arc<Notify>,
}
