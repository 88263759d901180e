//! The control plane's RESP client to one node, authenticated as the admin user.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::secret::AdminCredentials;
use crate::{EngineError, Result};

/// Time allowed for one admin command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::spec::NodeAddr;

/// An admin connection to a node.
pub struct AdminClient {
    addr: SocketAddr,
    conn: MultiplexedConnection,
    timeout: Duration,
    /// The node's count of the commands this process sent it (see [`commands_sent`]).
    sent: Arc<AtomicU64>,
}

/// Each node's count of commands sent over admin connections, by the node's address.
fn sent_counters() -> &'static Mutex<HashMap<SocketAddr, Arc<AtomicU64>>> {
    static COUNTERS: OnceLock<Mutex<HashMap<SocketAddr, Arc<AtomicU64>>>> = OnceLock::new();
    COUNTERS.get_or_init(Default::default)
}

fn sent_counter(addr: SocketAddr) -> Arc<AtomicU64> {
    sent_counters()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(addr)
        .or_default()
        .clone()
}

/// Forgets the counts of nodes that are gone: every node but those at `keep`, unless a connection still holds its
/// count (a node added while `keep` was read, a connection not yet closed), so the counts stay as many as the nodes.
pub fn forget_sent_except(keep: &std::collections::HashSet<SocketAddr>) {
    sent_counters()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|addr, count| keep.contains(addr) || Arc::strong_count(count) > 1);
}

/// How many commands this process has sent the node at `addr` over its admin connections (`AUTH` at connect,
/// the monitor's `PING`, `INFO`, the reconciler's reads and corrections, slot moves), counted as they are sent.
/// The node counts them in its `total_commands_processed` with its clients' commands: the difference is what
/// its clients (and replication) asked of it. A command in flight at a reading is counted here a moment before
/// the node counts it.
pub fn commands_sent(addr: SocketAddr) -> u64 {
    sent_counter(addr).load(Ordering::Relaxed)
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminClient({})", self.addr)
    }
}

/// What `INFO replication` says of a node's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Primary {
        connected_replicas: u32,
        offset: i64,
    },
    Replica {
        primary: Option<SocketAddr>,
        link_up: bool,
        offset: i64,
    },
}

fn redis_err(addr: SocketAddr) -> impl FnOnce(redis::RedisError) -> EngineError {
    move |source| EngineError::Redis {
        node: addr.to_string(),
        source,
    }
}

/// An admin connection over TLS to the node at `addr`, whose certificate the CA bundle `ca` signed and names
/// `addr`'s address.
async fn connect_tls(
    addr: SocketAddr,
    ca: &std::path::Path,
    info: &redis::RedisConnectionInfo,
) -> Result<MultiplexedConnection> {
    let config = crate::tls::node_client_config(ca)?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| EngineError::Other(format!("connect to {addr}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| EngineError::Other(format!("TLS with {addr}: {e}")))?;
    let (conn, driver) = MultiplexedConnection::new(info, stream)
        .await
        .map_err(redis_err(addr))?;
    // The driver ends when the connection's last handle is dropped.
    tokio::spawn(driver);
    Ok(conn)
}

/// Parses `INFO` text into `field → value`.
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Reads the role out of parsed `INFO replication`.
/// The state of a replica's link to its primary, from `INFO replication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub link_up: bool,
    /// A full sync is being received (`master_sync_in_progress:1`).
    pub sync_in_progress: bool,
    /// Bytes of the sync payload received, and its size when the primary said (disk-based sync).
    pub sync_read_bytes: u64,
    pub sync_total_bytes: Option<u64>,
    /// How far the replica has applied its primary's stream (`slave_repl_offset`).
    pub offset: i64,
    /// Seconds since the link went down, when it is down.
    pub down_seconds: Option<i64>,
}

/// What a node says of its load and replication, for monitoring: from one `INFO` (or memcached's `stats`, see
/// [`crate::memcached::node_stats`]). `None`: the node did not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeStats {
    pub clients: Option<u64>,
    pub used_memory: Option<u64>,
    pub max_memory: Option<u64>,
    pub commands: Option<u64>,
    /// Of `commands`, those of replication itself: `REPLCONF` (a primary's replicas acknowledge what they have
    /// applied once a second), from `INFO commandstats` when it was read.
    pub replication_commands: Option<u64>,
    /// Items stored (Memcached's `curr_items`).
    pub items: Option<u64>,
    pub hits: Option<u64>,
    pub misses: Option<u64>,
    pub evicted: Option<u64>,
    pub expired: Option<u64>,
    /// `Some(true)` for a primary, `Some(false)` for a replica; `None` for a node without replication.
    pub primary: Option<bool>,
    /// The replication offset (a primary's `master_repl_offset`, a replica's `slave_repl_offset`).
    pub offset: Option<i64>,
    /// A replica's seconds since it last heard from its primary, or since its link went down.
    pub silent_seconds: Option<i64>,
}

impl NodeStats {
    /// From the fields of `INFO` (its default sections, and `commandstats` when they are among them).
    pub fn from_info(info: &HashMap<String, String>) -> Self {
        let n = |k: &str| info.get(k).and_then(|v| v.trim().parse::<u64>().ok());
        let i = |k: &str| info.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        let primary = info.get("role").map(|r| r == "master");
        let link_up = info.get("master_link_status").map(String::as_str) == Some("up");
        Self {
            clients: n("connected_clients"),
            used_memory: n("used_memory"),
            max_memory: n("maxmemory"),
            commands: n("total_commands_processed"),
            replication_commands: info
                .get("cmdstat_replconf")
                .map(String::as_str)
                .map(command_calls)
                .or_else(
                    // Never called since the node started: no line for it.
                    || info.keys().any(|k| k.starts_with("cmdstat_")).then_some(0),
                ),
            items: None,
            hits: n("keyspace_hits"),
            misses: n("keyspace_misses"),
            evicted: n("evicted_keys"),
            expired: n("expired_keys"),
            primary,
            offset: match primary {
                Some(true) => i("master_repl_offset"),
                Some(false) => i("slave_repl_offset"),
                None => None,
            },
            silent_seconds: match (primary, link_up) {
                (Some(false), true) => i("master_last_io_seconds_ago"),
                (Some(false), false) => i("master_link_down_since_seconds"),
                _ => None,
            },
        }
    }
}

/// The `calls` of an `INFO commandstats` line's value (`calls=12,usec=…`).
fn command_calls(stats: &str) -> u64 {
    stats
        .split(',')
        .find_map(|kv| kv.strip_prefix("calls="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn link_state_from_info(info: &HashMap<String, String>) -> Option<LinkState> {
    if info.get("role").map(String::as_str) != Some("slave") {
        return None;
    }
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<i64>().ok());
    let link_up = info.get("master_link_status").map(String::as_str) == Some("up");
    Some(LinkState {
        link_up,
        sync_in_progress: num("master_sync_in_progress") == Some(1),
        sync_read_bytes: num("master_sync_read_bytes").unwrap_or(0).max(0) as u64,
        sync_total_bytes: num("master_sync_total_bytes")
            .filter(|n| *n > 0)
            .map(|n| n as u64),
        offset: num("slave_repl_offset").unwrap_or(0),
        down_seconds: if link_up {
            None
        } else {
            // -1 until the link was ever up.
            num("master_link_down_since_seconds").filter(|s| *s >= 0)
        },
    })
}

/// A node loading its dataset into memory, as `INFO persistence` reports it: from its own files after a start, or
/// (a replica) the payload of a full sync.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadProgress {
    /// When the load began (Unix seconds, the node's clock: this machine's).
    pub started: i64,
    /// Bytes of the file read so far, and its size.
    pub loaded_bytes: u64,
    pub total_bytes: u64,
    /// The memory the data used when it was saved (Redis 7; 0 when not known).
    pub rdb_used_memory: u64,
    /// Redis's own estimate: percent done and seconds left.
    pub percent: f64,
    pub eta_seconds: Option<u64>,
}

/// The load in progress that parsed `INFO persistence` reports, if any.
pub fn load_progress_from_info(info: &HashMap<String, String>) -> Option<LoadProgress> {
    let loading = |k: &str| info.get(k).map(String::as_str) == Some("1");
    if !loading("loading") && !loading("async_loading") {
        return None;
    }
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<i64>().ok());
    Some(LoadProgress {
        started: num("loading_start_time").unwrap_or(0),
        loaded_bytes: num("loading_loaded_bytes").unwrap_or(0).max(0) as u64,
        total_bytes: num("loading_total_bytes").unwrap_or(0).max(0) as u64,
        rdb_used_memory: num("loading_rdb_used_mem").unwrap_or(0).max(0) as u64,
        percent: info
            .get("loading_loaded_perc")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0),
        eta_seconds: num("loading_eta_seconds")
            .filter(|s| *s >= 0)
            .map(|s| s as u64),
    })
}

/// Whether `INFO persistence` shows an append-only file rewrite running or scheduled.
pub fn aof_rewriting(info: &HashMap<String, String>) -> bool {
    let set = |k: &str| info.get(k).map(String::as_str) == Some("1");
    set("aof_rewrite_in_progress") || set("aof_rewrite_scheduled")
}

pub fn role_from_info(info: &HashMap<String, String>) -> Option<Role> {
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    match info.get("role").map(String::as_str) {
        Some("master") => Some(Role::Primary {
            connected_replicas: num("connected_slaves") as u32,
            offset: num("master_repl_offset"),
        }),
        Some("slave") => {
            let primary = match (info.get("master_host"), info.get("master_port")) {
                (Some(h), Some(p)) => match (h.parse::<IpAddr>(), p.parse::<u16>()) {
                    (Ok(ip), Ok(port)) => Some(SocketAddr::new(ip, port)),
                    _ => None,
                },
                _ => None,
            };
            Some(Role::Replica {
                primary,
                link_up: info.get("master_link_status").map(String::as_str) == Some("up"),
                offset: num("slave_repl_offset"),
            })
        }
        _ => None,
    }
}

impl AdminClient {
    pub async fn connect(to: &NodeAddr, admin: &AdminCredentials) -> Result<Self> {
        Self::connect_within(to, admin, COMMAND_TIMEOUT).await
    }

    /// Connects with `timeout` for the connection and for every command of this client: over the node's admin
    /// socket when it has one (any node this daemon configured), else over TCP (a node started by an older
    /// daemon, until it is restarted).
    pub async fn connect_within(
        to: &NodeAddr,
        admin: &AdminCredentials,
        timeout: Duration,
    ) -> Result<Self> {
        let addr = to.tcp;
        let redis_info = redis::RedisConnectionInfo {
            db: 0,
            username: Some(admin.user.clone()),
            password: Some(admin.password.clone()),
            protocol: redis::ProtocolVersion::RESP2,
        };
        let conn = match (&to.tls, to.socket.exists()) {
            // A node of another machine that serves TLS: its own TLS port, its certificate checked against the CA.
            (Some((_, ca)), false) => {
                tokio::time::timeout(timeout, connect_tls(to.reach(), ca, &redis_info))
                    .await
                    .map_err(|_| EngineError::Other(format!("connect to {addr} timed out")))??
            }
            _ => {
                let target = if to.socket.exists() {
                    redis::ConnectionAddr::Unix(to.socket.clone())
                } else {
                    redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port())
                };
                let info = redis::ConnectionInfo {
                    addr: target,
                    redis: redis_info,
                };
                let client = redis::Client::open(info).map_err(redis_err(addr))?;
                tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
                    .await
                    .map_err(|_| EngineError::Other(format!("connect to {addr} timed out")))?
                    .map_err(redis_err(addr))?
            }
        };
        // The connection's `AUTH`, which the node counted.
        let sent = sent_counter(addr);
        sent.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            addr,
            conn,
            timeout,
            sent,
        })
    }

    /// Counts `n` commands about to be sent.
    fn sending(&self, n: usize) {
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) async fn run<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T> {
        self.sending(1);
        tokio::time::timeout(self.timeout, cmd.query_async(&mut self.conn))
            .await
            .map_err(|_| EngineError::Other(format!("command on {} timed out", self.addr)))?
            .map_err(redis_err(self.addr))
    }

    /// Runs a pipeline and returns its replies.
    pub(crate) async fn query_pipe<T: redis::FromRedisValue>(
        &mut self,
        pipe: &redis::Pipeline,
        timeout: std::time::Duration,
    ) -> Result<T> {
        self.sending(pipe.cmd_iter().count());
        tokio::time::timeout(timeout, pipe.query_async::<T>(&mut self.conn))
            .await
            .map_err(|_| EngineError::Other(format!("pipeline on {} timed out", self.addr)))?
            .map_err(redis_err(self.addr))
    }

    /// `PING`. A node loading its data (a replica's full sync) answers `-LOADING`, and one running a customer's
    /// script past `busy-reply-threshold` answers `-BUSY`: both alive, not hung.
    pub async fn ping(&mut self) -> Result<()> {
        self.sending(1);
        match tokio::time::timeout(
            self.timeout,
            redis::cmd("PING").query_async::<String>(&mut self.conn),
        )
        .await
        {
            Err(_) => Err(EngineError::Other(format!(
                "command on {} timed out",
                self.addr
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::BusyLoadingError || e.code() == Some("BUSY") =>
            {
                Ok(())
            }
            Ok(Err(e)) => Err(redis_err(self.addr)(e)),
        }
    }

    /// The load in progress on the node (`INFO persistence`, which a loading node answers), if any.
    pub async fn load_progress(&mut self) -> Result<Option<LoadProgress>> {
        let info = self.info("persistence").await?;
        Ok(load_progress_from_info(&info))
    }

    /// How a replica's link to its primary is doing; `None` on a primary.
    pub async fn link_state(&mut self) -> Result<Option<LinkState>> {
        let info = self.info("replication").await?;
        Ok(link_state_from_info(&info))
    }

    /// The credentials the node offers the primary it replicates from: the admin user's (a primary in the
    /// group), or none (a Redis outside the group, such as a migration source).
    pub async fn set_primary_auth(&mut self, admin: Option<&AdminCredentials>) -> Result<()> {
        let (user, password) = admin.map_or(("", ""), |a| (a.user.as_str(), a.password.as_str()));
        let _: String = self
            .run(
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("masteruser")
                    .arg(user)
                    .arg("masterauth")
                    .arg(password),
            )
            .await?;
        Ok(())
    }

    /// `DBSIZE`: the keys of database 0.
    pub async fn dbsize(&mut self) -> Result<u64> {
        self.run(&redis::cmd("DBSIZE")).await
    }

    /// `FLUSHALL ASYNC`: removes every key of the node (and, on a primary, of its replicas) at once; the memory
    /// is freed by a background thread, so a large dataset does not block the node meanwhile.
    pub async fn flush_all(&mut self) -> Result<()> {
        let _: String = self.run(redis::cmd("FLUSHALL").arg("ASYNC")).await?;
        Ok(())
    }

    pub async fn info(&mut self, section: &str) -> Result<HashMap<String, String>> {
        let text: String = self.run(redis::cmd("INFO").arg(section)).await?;
        Ok(parse_info(&text))
    }

    pub async fn role(&mut self) -> Result<Role> {
        let info = self.info("replication").await?;
        role_from_info(&info)
            .ok_or_else(|| EngineError::Other(format!("{} reports no role", self.addr)))
    }

    /// The addresses the node listens on (`CONFIG GET bind`).
    pub async fn binds(&mut self) -> Result<Vec<IpAddr>> {
        let v: Vec<String> = self
            .run(redis::cmd("CONFIG").arg("GET").arg("bind"))
            .await?;
        Ok(v.get(1)
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Makes the node listen on exactly `addrs` (`CONFIG SET bind`, Redis ≥ 7.0); Redis rolls back when one
    /// cannot be bound.
    pub async fn set_binds(&mut self, addrs: &[IpAddr]) -> Result<()> {
        let _: String = self
            .run(
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("bind")
                    .arg(crate::spec::bind_line(addrs)),
            )
            .await?;
        Ok(())
    }

    /// Disconnects every client that connected through local address `laddr` (Redis ≥ 6.2). Returns how many.
    pub async fn kill_clients_on(&mut self, laddr: SocketAddr) -> Result<u64> {
        self.run(
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("LADDR")
                // Redis writes addresses as `ip:port`, IPv6 in brackets: what `SocketAddr` prints.
                .arg(laddr.to_string()),
        )
        .await
    }

    /// Closes the customers' connections to `laddr`: the normal clients not authenticated as `except_user` (the
    /// control plane's own user, whose connections to the node's own address must survive). Returns how many.
    pub async fn kill_customer_clients_on(
        &mut self,
        laddr: SocketAddr,
        except_user: &str,
    ) -> Result<u64> {
        let list: String = self
            .run(redis::cmd("CLIENT").arg("LIST").arg("TYPE").arg("normal"))
            .await?;
        let laddr = laddr.to_string();
        let mut killed = 0;
        for line in list.lines() {
            let field = |k: &str| line.split(' ').find_map(|f| f.strip_prefix(k));
            if field("laddr=") != Some(laddr.as_str()) || field("user=") == Some(except_user) {
                continue;
            }
            if let Some(id) = field("id=") {
                // A client gone meanwhile is no error.
                killed += self
                    .run::<u64>(redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id))
                    .await
                    .unwrap_or(0);
            }
        }
        Ok(killed)
    }

    /// `CONFIG SET` of several parameters at once (Redis ≥ 7.0: all applied, or none).
    pub async fn config_set_many(&mut self, pairs: &[(&str, &str)]) -> Result<()> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        for (k, v) in pairs {
            cmd.arg(*k).arg(*v);
        }
        let _: String = self.run(&cmd).await?;
        Ok(())
    }

    /// The ports Redis listens on: plaintext (`port`) and TLS (`tls-port`, 0 for a build without TLS); 0 is none.
    pub async fn listen_ports(&mut self) -> Result<(u16, u16)> {
        let plain = self.config_get("port").await?;
        let tls = self.config_get("tls-port").await?;
        let num = |v: Option<String>| v.and_then(|v| v.parse::<u16>().ok()).unwrap_or(0);
        Ok((num(plain), num(tls)))
    }

    /// Moves Redis's listeners to `plain` and `tls` (0: none) at once. Connected clients stay connected.
    pub async fn set_listen_ports(&mut self, plain: u16, tls: u16) -> Result<()> {
        let (plain, tls) = (plain.to_string(), tls.to_string());
        self.config_set_many(&[("port", &plain), ("tls-port", &tls)])
            .await
    }

    /// Closes a replica's link to its primary (`CLIENT KILL TYPE master`); Redis opens it again at once, with
    /// the replication settings now in force.
    pub async fn kill_primary_link(&mut self) -> Result<u64> {
        self.run(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("master"))
            .await
    }

    /// Makes the node's customer-facing ACL exactly `default_rules` for the `default` user and `users` for the
    /// others: each set with one `ACL SETUSER <name> reset <rules>` (applied by Redis as a whole; connections
    /// already authenticated stay connected), and every other user but `keep` deleted (`ACL DELUSER`, which
    /// disconnects that user's clients).
    pub async fn apply_acl(
        &mut self,
        default_rules: &str,
        users: &[(String, String)],
        keep: &[&str],
    ) -> Result<()> {
        let setuser = |name: &str, rules: &str| {
            let mut cmd = redis::cmd("ACL");
            cmd.arg("SETUSER").arg(name).arg("reset");
            // `reset` grants every channel when `acl-pubsub-default` is `allchannels`, and Redis then refuses a
            // channel pattern after it: rules that name their channels start from none.
            if rules
                .split_whitespace()
                .any(|r| r.starts_with('&') || r == "allchannels" || r == "resetchannels")
            {
                cmd.arg("resetchannels");
            }
            for r in rules.split_whitespace() {
                cmd.arg(r);
            }
            cmd
        };
        let _: String = self.run(&setuser("default", default_rules)).await?;
        // The users in `keep` (the control plane's own) are never written as a customer's: `reset` would give a
        // customer's password and rights to the user the daemon itself logs in as.
        let reserved =
            |name: &str| name == "default" || keep.iter().any(|k| k.eq_ignore_ascii_case(name));
        let customers: Vec<&(String, String)> =
            users.iter().filter(|(n, _)| !reserved(n)).collect();
        if customers.len() < users.len() {
            tracing::warn!("a customer user with a reserved name was not written to the node");
        }
        for (name, rules) in &customers {
            let _: String = self.run(&setuser(name, rules)).await?;
        }
        let present: Vec<String> = self.run(redis::cmd("ACL").arg("USERS")).await?;
        for name in present {
            if name != "default"
                && !keep.contains(&name.as_str())
                && !customers.iter().any(|(n, _)| *n == name)
            {
                let _: i64 = self
                    .run(redis::cmd("ACL").arg("DELUSER").arg(&name))
                    .await?;
            }
        }
        Ok(())
    }

    /// Ends a node's start from a snapshot: turns the append-only file on (Redis rewrites it from memory) and
    /// waits until it is written. Returns false when it was on already.
    pub async fn finish_restore(&mut self) -> Result<bool> {
        if self.config_get("appendonly").await?.as_deref() == Some("yes") {
            return Ok(false);
        }
        self.config_set("appendonly", "yes").await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            let info = self.info("persistence").await?;
            let on = info.get("aof_enabled").map(String::as_str) == Some("1");
            if on && !aof_rewriting(&info) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(EngineError::Other(format!(
                    "{}: the append-only file was not written in time",
                    self.addr
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // `dbfilename` is a protected setting: the running node keeps the restore file's name for the RDB files
        // it writes for replicas, until its next start (rendered with `dump.rdb`).
        Ok(true)
    }

    /// True while the node's append-only file does not yet hold its dataset: a rewrite runs or waits to run. A
    /// replica that has just loaded a full sync is in this state until its rewrite ends (it appends nothing to
    /// the old file meanwhile), so a restart then would bring it back with its data from before the sync.
    pub async fn aof_rewriting(&mut self) -> Result<bool> {
        Ok(aof_rewriting(&self.info("persistence").await?))
    }

    /// `CONFIG SET` of each setting on its own, so that one the node refuses does not hold back the others.
    /// Returns the refused ones with the node's reason; a lost connection is an error.
    pub async fn apply_settings(
        &mut self,
        settings: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        let mut refused = Vec::new();
        for (name, value) in settings {
            self.sending(1);
            let reply = tokio::time::timeout(
                self.timeout,
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg(name)
                    .arg(value)
                    .query_async::<String>(&mut self.conn),
            )
            .await
            .map_err(|_| EngineError::Other(format!("command on {} timed out", self.addr)))?;
            match reply {
                Ok(_) => {}
                Err(e) if e.kind() == redis::ErrorKind::ResponseError => {
                    refused.push((name.clone(), e.to_string()));
                }
                Err(e) => return Err(redis_err(self.addr)(e)),
            }
        }
        Ok(refused)
    }

    /// The settings of `settings` whose running value differs (settings a node takes only at its start).
    pub async fn differing(&mut self, settings: &[(String, String)]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (name, want) in settings {
            if self.config_get(name).await?.as_deref() != Some(want.as_str()) {
                out.push(name.clone());
            }
        }
        Ok(out)
    }

    /// `CONFIG GET name`: the value, if the parameter exists.
    pub async fn config_get(&mut self, name: &str) -> Result<Option<String>> {
        let v: Vec<String> = self.run(redis::cmd("CONFIG").arg("GET").arg(name)).await?;
        Ok(v.get(1).cloned())
    }

    /// `CLIENT PAUSE ms WRITE` (Redis ≥ 6.2): write commands of every client wait; replication keeps flowing.
    pub async fn pause_writes(&mut self, ms: u64) -> Result<()> {
        let _: String = self
            .run(redis::cmd("CLIENT").arg("PAUSE").arg(ms).arg("WRITE"))
            .await?;
        Ok(())
    }

    /// `CLIENT UNPAUSE`.
    pub async fn unpause(&mut self) -> Result<()> {
        let _: String = self.run(redis::cmd("CLIENT").arg("UNPAUSE")).await?;
        Ok(())
    }

    /// `CONFIG SET name value`.
    pub async fn config_set(&mut self, name: &str, value: &str) -> Result<()> {
        let _: String = self
            .run(redis::cmd("CONFIG").arg("SET").arg(name).arg(value))
            .await?;
        Ok(())
    }

    /// `REPLICAOF host port`, or `REPLICAOF NO ONE` for `None`.
    pub async fn replicaof(&mut self, primary: Option<SocketAddr>) -> Result<()> {
        let mut cmd = redis::cmd("REPLICAOF");
        match primary {
            Some(p) => cmd.arg(p.ip().to_string()).arg(p.port()),
            None => cmd.arg("NO").arg("ONE"),
        };
        let _: String = self.run(&cmd).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_replica_of_an_ipv6_primary() {
        let info: HashMap<String, String> = [
            ("role", "slave"),
            ("master_host", "::1"),
            ("master_port", "21000"),
            ("master_link_status", "up"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        match role_from_info(&info) {
            Some(Role::Replica {
                primary, link_up, ..
            }) => {
                assert_eq!(primary, Some("[::1]:21000".parse().expect("addr")));
                assert!(link_up);
            }
            other => panic!("not a replica: {other:?}"),
        }
    }

    #[test]
    fn reads_a_load_in_progress() {
        // As Redis 7.0 prints it while it loads.
        let text = "# Persistence\r\nloading:1\r\nasync_loading:0\r\nloading_start_time:1796258657\r\n\
loading_total_bytes:102888988\r\nloading_rdb_used_mem:1190000000\r\nloading_loaded_bytes:51444494\r\n\
loading_loaded_perc:50.00\r\nloading_eta_seconds:3\r\n";
        let p = load_progress_from_info(&parse_info(text)).expect("loading");
        assert_eq!(p.total_bytes, 102_888_988);
        assert_eq!(p.loaded_bytes, 51_444_494);
        assert_eq!(p.rdb_used_memory, 1_190_000_000);
        assert_eq!(p.started, 1_796_258_657);
        assert_eq!(p.eta_seconds, Some(3));
        assert!((p.percent - 50.0).abs() < 1e-9);
        let done = parse_info("loading:0\r\nasync_loading:0\r\n");
        assert_eq!(load_progress_from_info(&done), None);
    }

    #[test]
    fn reads_replication_s_own_commands_from_commandstats() {
        let mut info = parse_info(
            "# Stats\r\ntotal_commands_processed:120\r\n# Commandstats\r\n\
cmdstat_ping:calls=100,usec=50,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n\
cmdstat_replconf:calls=17,usec=40,usec_per_call=2.35,rejected_calls=0,failed_calls=0\r\n",
        );
        let s = NodeStats::from_info(&info);
        assert_eq!((s.commands, s.replication_commands), (Some(120), Some(17)));
        // No REPLCONF since the start: none; commandstats not read: not known.
        info.remove("cmdstat_replconf");
        assert_eq!(NodeStats::from_info(&info).replication_commands, Some(0));
        info.remove("cmdstat_ping");
        assert_eq!(NodeStats::from_info(&info).replication_commands, None);
    }
}
