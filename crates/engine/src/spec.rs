//! What a node is, in data-plane terms: its spec (addresses, ports, files, TLS, cluster settings) and the plain
//! rules derived from it. Every module that deals with a node reads its description from here; this module does
//! nothing to a node itself.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::tls::NodeCertificate;

/// What a node is, in data-plane terms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeSpec {
    /// A name for logs (the member cluster's id).
    pub name: String,
    /// The node's own directory: config, data, log and pid file.
    pub dir: PathBuf,
    pub bind: IpAddr,
    /// More addresses the node listens on: a primary also owns its group's primary endpoint address, the way a
    /// floating (virtual) IP follows the primary in a classic HA pair.
    pub extra_binds: Vec<IpAddr>,
    pub port: u16,
    /// The address the node gives its primary as its own (`replica-announce-ip`): the one other nodes and
    /// clients reach it at (its IPv4 address, or `::1` in a group that discovers IPv6 addresses).
    pub announce: IpAddr,
    /// `replica_of` is a Redis outside the group (the source of a migration): no `masteruser`/`masterauth`.
    pub follows_external: bool,
    /// `maxmemory` in bytes.
    pub maxmemory: u64,
    /// The `redis-server` to run.
    pub binary: PathBuf,
    /// The primary this node replicates from; `None` for a primary.
    pub replica_of: Option<SocketAddr>,
    /// ACL rules of the `default` user (what clients that do not authenticate may do), e.g. `on nopass ~* +@all`.
    pub default_user: String,
    /// TLS in transit, when on.
    pub tls: Option<NodeTls>,
    /// More ACL users (customers' users of a user group): name and rules.
    pub users: Vec<(String, String)>,
    /// An RDB file (a snapshot) the node starts from when it has no data of its own yet (a restored group's
    /// primary). See [`crate::restore`].
    pub restore_rdb: Option<PathBuf>,
    /// The engine version of `binary` (`major.minor.patch`): what its data files look like.
    pub engine_version: (u32, u32, u32),
    /// The node runs Redis Cluster (`cluster-enabled yes`); `None`: a plain replication node.
    pub cluster: Option<NodeCluster>,
    /// The customer's engine settings that the node takes while it runs (`CONFIG SET`), as
    /// `(name, value)`. They are not written to its config: a value this build refuses (`activedefrag yes` without
    /// Redis's own jemalloc) would stop the node from starting; the control plane sets them once it runs.
    pub settings: Vec<(String, String)>,
    /// Settings the node takes only when it starts (parameters that require a reboot): written to its config,
    /// after the control plane's own.
    pub boot_settings: Vec<(String, String)>,
    /// The host whose agent runs the node; `None`: the control plane's own machine.
    #[serde(default)]
    pub host: Option<NodeHost>,
}

/// The host that runs a node, and where its agent answers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NodeHost {
    pub name: String,
    pub url: String,
}

/// How a node takes part in a Redis Cluster. The control plane decides roles and failovers: the cluster's own
/// failover is off (`cluster-replica-no-failover`), replicas never migrate between primaries by themselves, and a
/// shard that is down does not stop the others serving (`cluster-require-full-coverage no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeCluster {
    /// How long a node may not answer on the bus before the others mark it failing (`cluster-node-timeout`).
    pub node_timeout_ms: u64,
    /// A node that must replicate a primary which does not run Redis Cluster (while its nodes move into Redis
    /// Cluster): the primary's address. Redis refuses `REPLICAOF` in cluster mode, so the node starts from a cluster state
    /// that names it the replica of a stand-in node at that address (see [`crate::cluster::seed_state`]).
    pub seed_primary: Option<std::net::SocketAddr>,
}

/// The file a node of an older Cacheplane loaded a snapshot from (with `appendonly no` until the control plane
/// turned it on); a node that still has it is finished by [`crate::admin::AdminClient::finish_restore`].
pub const RESTORE_FILE: &str = "restore.rdb";

/// What a node with TLS on accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TlsMode {
    /// TLS and plaintext, both on the node's port. Redis cannot serve both on one port, so the node listens on
    /// two ports of its own ([`PREFERRED_PLAIN_OFFSET`], [`PREFERRED_TLS_OFFSET`] above the port) and the control
    /// plane's [`crate::endpoint::Sniffer`] on the port hands each connection to one of them by its first byte.
    Preferred,
    /// TLS only, served by Redis itself on the node's port.
    Required,
}

/// Where a node in `preferred` mode listens for plaintext: the group's port plus this.
pub const PREFERRED_PLAIN_OFFSET: u16 = 1;
/// Where a node in `preferred` mode listens for TLS: the group's port plus this.
pub const PREFERRED_TLS_OFFSET: u16 = 2;

/// A node's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeTls {
    pub mode: TlsMode,
    pub files: NodeCertificate,
    /// The addresses the node's certificate names.
    pub addresses: Vec<IpAddr>,
    /// The DNS names it names too: the node's and its group's endpoints', when they are names.
    #[serde(default)]
    pub names: Vec<String>,
}

/// The ports Redis itself listens on (0: none), plaintext and TLS, for a node on `port` with `tls`.
pub fn listen_ports(port: u16, tls: Option<TlsMode>) -> (u16, u16) {
    match tls {
        None => (port, 0),
        Some(TlsMode::Required) => (0, port),
        Some(TlsMode::Preferred) => (
            port.saturating_add(PREFERRED_PLAIN_OFFSET),
            port.saturating_add(PREFERRED_TLS_OFFSET),
        ),
    }
}

impl NodeSpec {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }
    /// Every address the node listens on, its own first.
    pub fn binds(&self) -> Vec<IpAddr> {
        std::iter::once(self.bind)
            .chain(self.extra_binds.iter().copied())
            .collect()
    }
    /// The `bind` value: the addresses separated by spaces.
    pub fn bind_line(&self) -> String {
        bind_line(&self.binds())
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("redis.conf")
    }
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join("redis.pid")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
    /// A digest of the node's customer-facing ACL (the `default` user's rules and the other users'): what the
    /// control plane compares to know whether a running node still holds what its spec says.
    pub fn acl_fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.default_user.as_bytes());
        for (name, rules) in &self.users {
            h.update(b"\n");
            h.update(name.as_bytes());
            h.update(b" ");
            h.update(rules.as_bytes());
        }
        hex::encode(h.finalize())
    }
    /// A digest of [`Self::settings`]: whether a running node has been given these.
    pub fn settings_fingerprint(&self) -> String {
        settings_fingerprint(&self.settings)
    }

    /// The ports Redis listens on, plaintext and TLS (0: none).
    pub fn listen_ports(&self) -> (u16, u16) {
        listen_ports(self.port, self.tls.as_ref().map(|t| t.mode))
    }
    /// The node's admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        admin_socket(&self.dir)
    }
    /// How the control plane reaches this node.
    pub fn node_addr(&self) -> NodeAddr {
        NodeAddr {
            tcp: self.addr(),
            socket: self.admin_socket(),
            tls: self
                .tls
                .as_ref()
                .map(|t| (self.listen_ports().1, t.files.ca.clone())),
        }
    }
}

/// The admin socket of the node whose directory is `dir`: `admin.sock` in it, or, when that path is longer
/// than a Unix socket address holds (108 bytes on Linux), a name derived from `dir` in the deployment's private
/// socket directory ([`crate::private::prepare_socket_dir`]: 0700, this user's own, checked at start). Without a
/// prepared one the socket stays in the node's directory, where Redis will refuse the long path: a node that
/// cannot start is safer than a socket others could reach.
pub fn admin_socket(dir: &Path) -> PathBuf {
    let inside = dir.join("admin.sock");
    if inside.as_os_str().len() < 100 {
        return inside;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    crate::private::long_socket_path(&format!("{}.sock", &hex::encode(digest)[..24]))
        .unwrap_or(inside)
}

/// The `bind` value for `addrs`.
pub fn bind_line(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A digest of a list of settings.
pub fn settings_fingerprint(settings: &[(String, String)]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (name, value) in settings {
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(value.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// How the control plane reaches a node: its admin socket, a Unix socket in the node's directory that only
/// this user can open. It is plaintext whatever the node's TLS mode, so no change a customer makes (TLS
/// `required`, a new AUTH token, ACL users) can shut the control plane out. `tcp` is the node's own address,
/// used in messages and to count the control plane's commands, and to reach a node whose socket is not on this
/// machine (a node of a host agent): over TLS at the node's own TLS port when it serves TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub tcp: SocketAddr,
    pub socket: PathBuf,
    /// The node serves TLS: the port Redis itself serves it on (in `preferred` mode not the front's, so that the
    /// node is judged by itself), and the CA bundle its certificate is verified against.
    pub tls: Option<(u16, PathBuf)>,
}

impl NodeAddr {
    /// Where the node itself answers over TCP: its TLS port when it serves TLS, else its port.
    pub fn reach(&self) -> SocketAddr {
        match &self.tls {
            Some((port, _)) if *port != 0 => SocketAddr::new(self.tcp.ip(), *port),
            _ => self.tcp,
        }
    }
}

/// The cluster bus port of a node listening for clients on `port`: Redis's own rule (`port + 10000`), which
/// every node announces, so a port above 55535 cannot carry a cluster.
pub fn bus_port(port: u16) -> Option<u16> {
    port.checked_add(10000)
}

/// The `cluster-node-timeout` of a seeded node until its handover (an hour): the stand-in never answers on the bus.
pub const SEEDED_NODE_TIMEOUT_MS: u64 = 3_600_000;
