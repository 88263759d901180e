//! One file per long operation: what the next step is for a group, and doing it on its nodes. A step is small and
//! safe to repeat; the worker (`runtime::worker`) runs the steps of each group in order.

pub(crate) mod cluster;
pub(crate) mod correct;
pub(crate) mod discovery;
pub(crate) mod endpoints;
pub(crate) mod fail_over;
pub mod host;
pub(crate) mod hosts;
pub(crate) mod lifecycle;
pub(crate) mod memcached;
pub(crate) mod migration;
pub(crate) mod mode;
pub(crate) mod nodes;
pub(crate) mod reshard;
pub(crate) mod snapshot;
pub mod step;
pub(crate) mod switchover;
pub(crate) mod upgrade;
pub(crate) mod waits;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::admin::{AdminClient, Role};
use engine::config::NodeSpec;
use engine::config::TlsMode;
use engine::endpoint::{Sniffer, StableEndpoint};
use tokio::sync::{watch, Notify};

use crate::error::Result;
use fail_over::FailoverHistory;
pub use host::Nodes;
pub use step::{Core, Step};

/// How often roles are re-read from the nodes of an available group.
pub const ROLE_REFRESH: Duration = Duration::from_secs(2);

/// How long an action waits for a group's worker to read its nodes afresh ([`Step::fresh_primaries`]).
pub const FRESH_LOOK: Duration = Duration::from_secs(5);

/// Creation attempts before a group is `create-failed`.
pub const MAX_CREATE_ATTEMPTS: u32 = 3;

/// A node that does not answer for this long, and that no failover replaces, is killed and restarted.
pub const REPLACE_HUNG_AFTER: Duration = Duration::from_secs(10);

/// Time allowed for a command the reconciler sends to a node in an available group. Shorter than the
/// monitor's failure deadline, so a step never holds up a failover for long.
pub(crate) const STEP_COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// How long writes may stay paused on the primary during a planned switchover (the target must catch up within
/// half of it). Should the daemon die meanwhile, the pause ends by itself.
pub(crate) const SWITCHOVER_PAUSE: Duration = Duration::from_secs(4);

/// How long one step waits on a node that is loading its data or a replica that is syncing before it ends (the next
/// step looks again at once): long enough to see short waits through, short enough that a step never holds up a
/// failover.
pub(crate) const PROGRESS_LOOK: Duration = Duration::from_secs(1);

/// `cluster-node-timeout` of cluster nodes: only how long before nodes mark a silent peer failing. Failover is the
/// control plane's (the cluster's own is off), so this does not bound it; long enough that a busy node is not
/// marked failing for a pause.
pub(crate) const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// Grace between SIGTERM and SIGKILL when stopping a node.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);

/// The addresses a named group's reader and configuration names answer, from the nodes observed ready.
#[derive(Debug, Clone, Default)]
pub(crate) struct NamedTargets {
    pub(crate) readers: Vec<std::net::IpAddr>,
    pub(crate) configuration: Vec<std::net::IpAddr>,
}

/// The reader endpoint of every group, by group id (the primary endpoint's address is owned by the primary
/// node itself), the last time each group's roles were read, and each worker's wake-up.
#[derive(Default)]
pub struct Endpoints {
    pub(crate) map: Mutex<HashMap<String, StableEndpoint>>,
    /// The `preferred`-mode TLS fronts, by the address they listen on.
    pub(crate) sniffers: Mutex<HashMap<SocketAddr, Sniffer>>,
    pub(crate) roles_read: Mutex<HashMap<String, Instant>>,
    pub(crate) workers: Mutex<HashMap<String, Arc<Notify>>>,
    /// Each group's recent automatic failovers, and whether a held-back one was reported.
    pub(crate) failovers: Mutex<HashMap<String, FailoverHistory>>,
    /// Members whose nodes were restarted and have not finished loading their data yet: true for a reboot.
    pub(crate) restarting: Mutex<HashMap<String, bool>>,
    /// The configuration endpoint of each Memcached cluster, by cluster id.
    pub(crate) memcached: Mutex<HashMap<String, engine::memcached::ConfigEndpoint>>,
    /// The daemon's TLS client of Memcached nodes, made on first use.
    pub(crate) memcached_tls: Mutex<Option<engine::memcached::Tls>>,
    /// The hosts this daemon has swept of the nodes no group places there, since they last reported again.
    pub(crate) swept_hosts: Mutex<std::collections::HashSet<String>>,
    /// What the DNS names of each group with named endpoints answer, as this daemon last observed while leading.
    pub(crate) named: Mutex<HashMap<String, NamedTargets>>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Endpoints")
    }
}

/// Makes a newly promoted node listen on every address of its spec (the primary endpoint's among them). The
/// address was just released by the old primary (fenced or demoted); retry briefly should the kernel lag.
pub(crate) async fn take_addresses(c: &mut AdminClient, spec: &NodeSpec) -> Result<()> {
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
pub(crate) enum Stop {
    Graceful,
    Discard,
}

/// The ports clients are connected to Redis on, on each of a node's addresses: its port, or in TLS `preferred`
/// mode the two ports behind the front.
pub(crate) fn client_ports(spec: &NodeSpec) -> Vec<u16> {
    let (plain, tls) = spec.listen_ports();
    [plain, tls].into_iter().filter(|p| *p != 0).collect()
}
