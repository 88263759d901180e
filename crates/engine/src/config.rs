//! Rendering a node's `redis.conf`.
//!
//! Every node persists with an append-only file so a restarted node comes back with its data, replicates
//! from a snapshot on disk (an empty replica syncs in milliseconds), and has two ACL users: the control plane's
//! admin (hashed password, all commands) and `default`, whose rules the caller decides (`NodeSpec::default_user`).

use std::fmt::Write as _;
use std::path::Path;

use crate::secret::AdminCredentials;
use crate::spec::SEEDED_NODE_TIMEOUT_MS;

pub use crate::spec::{
    admin_socket, bind_line, listen_ports, settings_fingerprint, NodeCluster, NodeSpec, NodeTls,
    TlsMode, PREFERRED_PLAIN_OFFSET, PREFERRED_TLS_OFFSET, RESTORE_FILE,
};

fn quoted(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
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
                SEEDED_NODE_TIMEOUT_MS
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
                if let Some(bus) = crate::spec::bus_port(spec.port) {
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
            host: None,
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
