//! Rendering a node's `redis.conf`.
//!
//! Every node persists with an append-only file so a restarted node comes back with its data, replicates
//! from a snapshot on disk (an empty replica syncs in milliseconds), and has two ACL users: the control plane's
//! admin (hashed password, all commands) and `default`, whose rules the caller decides (`NodeSpec::default_user`).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::admin::NodeAddr;
use crate::secret::AdminCredentials;
use crate::tls::NodeCertificate;

/// What a node is, in data-plane terms.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// How a node takes part in a Redis Cluster. The control plane decides roles and failovers: the cluster's own
/// failover is off (`cluster-replica-no-failover`), replicas never migrate between primaries by themselves, and a
/// shard that is down does not stop the others serving (`cluster-require-full-coverage no`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeTls {
    pub mode: TlsMode,
    pub files: NodeCertificate,
    /// The addresses the node's certificate names.
    pub addresses: Vec<IpAddr>,
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

fn quoted(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
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

/// A config file line for a setting. `client-output-buffer-limit` takes one class (four words) a line in Redis 6;
/// every other value is one argument.
fn setting_line(name: &str, value: &str) -> String {
    if name == "client-output-buffer-limit" {
        let words: Vec<&str> = value.split_whitespace().collect();
        return words
            .chunks(4)
            .map(|class| format!("{name} {}", class.join(" ")))
            .collect::<Vec<_>>()
            .join("\n");
    }
    format!("{name} {}", conf_arg(value))
}

/// `arg` as one argument of a config file line: double-quoted, with `\\`, `"` and every byte that is not
/// printable ASCII escaped the way Redis's config parser (`sdssplitargs`) reads them back. Whatever a customer
/// names a user or writes in an access rule stays one argument and cannot end the line or open another.
pub fn conf_arg(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('"');
    for b in arg.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// A `user` line: the name and every rule (separated by white space in `rules`) each one quoted argument.
fn user_line(name: &str, rules: &str) -> String {
    let mut line = format!("user {}", conf_arg(name));
    for r in rules.split_whitespace() {
        line.push(' ');
        line.push_str(&conf_arg(r));
    }
    line
}

/// The full config file for `spec`.
pub fn render(spec: &NodeSpec, admin: &AdminCredentials) -> String {
    let mut c = String::with_capacity(1024);
    let _ = writeln!(
        c,
        "# Written by cacheplane for node {}; rewritten on every change.",
        spec.name
    );
    let _ = writeln!(c, "bind {}", spec.bind_line());
    let (plain, tls_port) = spec.listen_ports();
    let _ = writeln!(c, "port {plain}");
    if let Some(tls) = &spec.tls {
        let _ = writeln!(c, "tls-port {tls_port}");
        let _ = writeln!(c, "tls-cert-file {}", quoted(&tls.files.cert));
        let _ = writeln!(c, "tls-key-file {}", quoted(&tls.files.key));
        let _ = writeln!(c, "tls-ca-cert-file {}", quoted(&tls.files.ca));
        // Clients prove who they are with AUTH, not with certificates.
        let _ = writeln!(c, "tls-auth-clients no");
        // A replica reaches its primary over TLS; a node following a Redis outside the group does not (that
        // Redis speaks plaintext).
        if !spec.follows_external {
            let _ = writeln!(c, "tls-replication yes");
        }
    }
    let _ = writeln!(c, "unixsocket {}", quoted(&spec.admin_socket()));
    let _ = writeln!(c, "unixsocketperm 700");
    let _ = writeln!(c, "daemonize no");
    // Protected mode refuses clients from any address but 127.0.0.1 and ::1 while `default` has no password. A
    // node binds only addresses of its own, so it guards nothing here, and it refuses what must work: a Redis
    // 6.2 replica connects from its own bound address (127.x.y.z), so a 6.2 primary demoted by `FAILOVER`
    // could not reach its 7.0 successor.
    let _ = writeln!(c, "protected-mode no");
    let _ = writeln!(c, "dir {}", quoted(&spec.dir));
    let _ = writeln!(c, "pidfile {}", quoted(&spec.pid_path()));
    let _ = writeln!(c, "logfile {}", quoted(&spec.log_path()));
    // A restored node starts from an append-only file made of its snapshot (`crate::restore`), so every node
    // runs with the same settings from its first start.
    let _ = writeln!(c, "dbfilename dump.rdb");
    let _ = writeln!(c, "save \"\"");
    let _ = writeln!(c, "appendonly yes");
    let _ = writeln!(c, "appendfsync everysec");
    let _ = writeln!(c, "maxmemory {}", spec.maxmemory);
    let _ = writeln!(c, "maxmemory-policy volatile-lru");
    // Disk-based full sync: the primary starts a replica's command stream as soon as the snapshot is sent. With
    // diskless sync Redis holds the stream back until the replica's first REPLCONF ACK (up to a second later),
    // so a replica can report its link up while it has none of the writes made meanwhile — and a failover in
    // that second would promote an empty node.
    let _ = writeln!(c, "repl-diskless-sync no");
    let _ = writeln!(c, "replica-read-only yes");
    // Customers may RESTORE payloads of their own making: Redis checks each one through before it loads it, so a
    // crafted payload cannot crash the node.
    let _ = writeln!(c, "sanitize-dump-payload yes");
    // Replicas connect from 127.0.0.1 whatever their own address; announce the real one so the primary (and
    // `FAILOVER TO`, and `INFO replication`) can tell them apart.
    let _ = writeln!(c, "replica-announce-ip {}", spec.announce);
    // A node following a Redis outside the group (a migration source) must not offer it the admin user's
    // credentials: the source knows nothing of them, and would refuse the sync.
    if !spec.follows_external {
        let _ = writeln!(c, "masteruser {}", admin.user);
        let _ = writeln!(c, "masterauth {}", conf_arg(&admin.password));
    }
    let _ = writeln!(c, "user {} on {} ~* &* +@all", admin.user, admin.acl_hash());
    let _ = writeln!(c, "{}", user_line("default", &spec.default_user));
    // The control plane's own user is written once, above, and never as a customer's (nor `default` twice).
    for (name, rules) in spec
        .users
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(&admin.user) && n != "default")
    {
        let _ = writeln!(c, "{}", user_line(name, rules));
    }
    match &spec.cluster {
        Some(cl) => {
            // The bus listens on the port + 10000 of the node's own addresses; the node's state (its id, epoch
            // and what it knows of the others) is `nodes.conf` in its directory. A replica's primary is set with
            // `CLUSTER REPLICATE` (Redis refuses `replicaof` in cluster mode).
            let _ = writeln!(c, "cluster-enabled yes");
            let _ = writeln!(c, "cluster-config-file nodes.conf");
            // A seeded node never hears from its stand-in primary on the bus: with the usual timeout it would find
            // itself in a minority, and, once promoted, refuse writes for a rejoin delay. It keeps the stand-in
            // alive in its view until the handover sets the usual timeout.
            let timeout = if cl.seed_primary.is_some() {
                crate::cluster::SEEDED_NODE_TIMEOUT_MS
            } else {
                cl.node_timeout_ms
            };
            let _ = writeln!(c, "cluster-node-timeout {timeout}");
            let _ = writeln!(c, "cluster-replica-no-failover yes");
            let _ = writeln!(c, "cluster-allow-replica-migration no");
            let _ = writeln!(c, "cluster-require-full-coverage no");
            let _ = writeln!(c, "cluster-announce-ip {}", spec.announce);
            if spec.tls.is_some() {
                // The bus over TLS, on the port + 10000 whatever ports the node listens on; clients are told the
                // group's port (in `preferred` mode the front that takes both, not the ports behind it), for TLS and
                // plaintext connections alike.
                let _ = writeln!(c, "tls-cluster yes");
                if let Some(bus) = crate::cluster::bus_port(spec.port) {
                    let _ = writeln!(c, "cluster-port {bus}");
                }
                let _ = writeln!(c, "cluster-announce-port {}", spec.port);
                let _ = writeln!(c, "cluster-announce-tls-port {}", spec.port);
            }
        }
        None => {
            if let Some(p) = spec.replica_of {
                let _ = writeln!(c, "replicaof {} {}", p.ip(), p.port());
            }
        }
    }
    // The customer's parameter group last: a later line of the same setting wins.
    for (name, value) in &spec.boot_settings {
        let _ = writeln!(c, "{}", setting_line(name, value));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_roles_and_acl() {
        let admin = AdminCredentials {
            user: "a".into(),
            password: "pw".into(),
        };
        let mut spec = NodeSpec {
            name: "rg-001".into(),
            dir: "/tmp/x y".into(),
            bind: "127.1.2.3".parse().expect("ip"),
            extra_binds: vec![],
            port: 6379,
            announce: "127.1.2.3".parse().expect("ip"),
            follows_external: false,
            maxmemory: 1024,
            binary: "/usr/bin/redis-server".into(),
            replica_of: None,
            default_user: "on nopass ~* +@all -@admin".into(),
            tls: None,
            users: vec![],
            restore_rdb: None,
            engine_version: (7, 0, 15),
            cluster: None,
            settings: vec![],
            boot_settings: vec![],
        };
        let c = render(&spec, &admin);
        assert!(c.contains("bind 127.1.2.3\n"));
        assert!(c.contains("dir \"/tmp/x y\"\n"));
        assert!(!c.contains("replicaof"));
        assert!(c.contains("user \"default\" \"on\" \"nopass\" \"~*\" \"+@all\" \"-@admin\"\n"));
        assert!(
            !c.contains(">pw"),
            "admin password only hashed in ACL rules"
        );
        // A customer's name or rule stays one argument whatever it holds.
        spec.users = vec![("a\"b\\c d".into(), "on ~k\"*\n+get".into())];
        assert!(
            render(&spec, &admin).contains("user \"a\\\"b\\\\c d\" \"on\" \"~k\\\"*\" \"+get\"\n")
        );
        assert_eq!(conf_arg("\x01é"), "\"\\x01\\xc3\\xa9\"");
        // A customer's user named as the control plane's own (or `default`) is never written.
        spec.users = vec![
            (admin.user.clone(), "on nopass ~* +@all".into()),
            (admin.user.to_uppercase(), "on nopass ~* +@all".into()),
            ("default".into(), "on nopass ~* +@all".into()),
        ];
        let c = render(&spec, &admin);
        assert_eq!(
            c.lines().filter(|l| l.starts_with("user ")).count(),
            2,
            "{c}"
        );
        assert!(!c.contains("nopass \"~*\" \"+@all\"\n"), "{c}");
        spec.users.clear();
        spec.extra_binds = vec!["127.1.2.4".parse().expect("ip")];
        assert!(render(&spec, &admin).contains("bind 127.1.2.3 127.1.2.4\n"));
        spec.replica_of = Some("127.9.9.9:6379".parse().expect("addr"));
        assert!(render(&spec, &admin).contains("replicaof 127.9.9.9 6379\n"));
        // A dual-stack node that discovers IPv6: listens on ::1 too, follows and announces over IPv6.
        spec.extra_binds = vec!["::1".parse().expect("ip")];
        spec.announce = "::1".parse().expect("ip");
        spec.replica_of = Some("[::1]:21000".parse().expect("addr"));
        let c = render(&spec, &admin);
        assert!(c.contains("bind 127.1.2.3 ::1\n"));
        assert!(c.contains("replica-announce-ip ::1\n"));
        assert!(c.contains("replicaof ::1 21000\n"));
        assert!(c.contains("masteruser a\n"));
        spec.follows_external = true;
        assert!(!render(&spec, &admin).contains("masteruser"));
        // A cluster node: no `replicaof` (Redis refuses it in cluster mode), the cluster's own failover off.
        spec.follows_external = false;
        spec.cluster = Some(NodeCluster {
            node_timeout_ms: 5000,
            seed_primary: None,
        });
        let c = render(&spec, &admin);
        assert!(c.contains("cluster-enabled yes\n"));
        assert!(c.contains("cluster-replica-no-failover yes\n"));
        assert!(c.contains("cluster-announce-ip ::1\n"));
        assert!(!c.contains("replicaof"));
    }
}
