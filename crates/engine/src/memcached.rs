//! Memcached nodes (Debian's `memcached`), each a real process on its own loopback address, and the configuration
//! endpoint that answers ElastiCache's auto discovery.
//!
//! Auto discovery is an ElastiCache addition to the Memcached protocol: `config get cluster` (and, for engines
//! before 1.4.14, `get AmazonElastiCache:cluster`) answers the cluster's node list and a version that grows each
//! time a node is added or removed. Stock memcached does not know the command, so the configuration endpoint is a
//! small server of its own: it answers those two requests from the list the control plane gives it, and hands
//! every other connection's bytes to a node, so a plain client pointed at it works too.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::limits::{Activity, Gate, Heard, FORWARDED};
use crate::tls::NodeCertificate;
use crate::{io_err, EngineError, Result};

/// A connection to or from a node: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How the daemon talks TLS with Memcached nodes and their clients: a client side trusting the deployment's CA
/// (to reach TLS nodes), and for a configuration endpoint its server side.
#[derive(Clone)]
pub struct Tls {
    pub connector: TlsConnector,
    pub acceptor: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Other(format!("TLS ({what}): {e}"))
}

impl Tls {
    /// The client side, trusting the CA bundle `ca`; with `server`, also the server side presenting that
    /// certificate.
    pub fn new(ca: &Path, server: Option<&NodeCertificate>) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(ca)? {
            roots.add(c).map_err(|e| tls_err("CA bundle", e))?;
        }
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("client", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let acceptor = match server {
            None => None,
            Some(n) => {
                let chain = read_certs(&n.cert)?;
                let key = {
                    let pem = std::fs::read(&n.key).map_err(io_err(&n.key))?;
                    rustls_pemfile::private_key(&mut pem.as_slice())
                        .map_err(io_err(&n.key))?
                        .ok_or_else(|| tls_err("key", format!("no key in {}", n.key.display())))?
                };
                let config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| tls_err("server", e))?
                    .with_no_client_auth()
                    .with_single_cert(chain, key)
                    .map_err(|e| tls_err("server certificate", e))?;
                Some(TlsAcceptor::from(Arc::new(config)))
            }
        };
        Ok(Self {
            connector: TlsConnector::from(Arc::new(client)),
            acceptor,
        })
    }

    /// Opens TLS to the node at `addr` over `tcp`, checking its certificate names that address.
    async fn connect(&self, addr: SocketAddr, tcp: TcpStream) -> std::io::Result<Box<dyn Io>> {
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        Ok(Box::new(self.connector.connect(name, tcp).await?))
    }
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(io_err(path))?;
    rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(io_err(path))
}

/// Connects to a node (or a configuration endpoint) at `addr`, over TLS when `tls` is given.
pub async fn connect(addr: SocketAddr, tls: Option<&Tls>) -> std::io::Result<Box<dyn Io>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    match tls {
        None => Ok(Box::new(tcp)),
        Some(t) => t.connect(addr, tcp).await,
    }
}

pub use crate::binary::find_memcached as find_binary;

/// The version a `memcached` binary reports (`memcached -V` prints `memcached 1.6.18`).
pub fn version(binary: &Path) -> Result<String> {
    let out = std::process::Command::new(binary)
        .arg("-V")
        .output()
        .map_err(|source| EngineError::Exec {
            path: binary.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .filter(|v| crate::binary::parse_version(v).is_some())
        .map(str::to_string)
        .ok_or_else(|| {
            EngineError::Other(format!(
                "{} -V printed no version: {text}",
                binary.display()
            ))
        })
}

/// The connection limit a node can have: `asked`, or fewer when this process may not open that many files
/// (memcached refuses to start when it cannot raise its file limit to the connection limit).
fn conn_limit(asked: &str) -> u64 {
    let asked: u64 = asked.parse().unwrap_or(1024);
    // Files memcached keeps for itself beyond its connections (listeners, pipes, threads' notifiers).
    const RESERVED: u64 = 64;
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) if hard != nix::sys::resource::RLIM_INFINITY && hard < asked + RESERVED => {
            hard.saturating_sub(RESERVED).max(1)
        }
        _ => asked,
    }
}

/// The pid file in a Memcached node's directory.
pub const PID_FILE: &str = "memcached.pid";

/// One Memcached node: where it listens and how much memory it may hold. Sent to a host agent as it is (its
/// directory and binary are then the host's, its TLS files those the call carries).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MemcachedNode {
    /// The cache cluster id and node id, `<cluster>-0001`: for logs and the process title.
    pub name: String,
    /// Its directory (pid file, log).
    pub dir: PathBuf,
    pub binary: PathBuf,
    pub addr: SocketAddr,
    /// `-m`: the item memory in MiB.
    pub memory_mib: u64,
    /// memcached's long options (`--name=value`; `None`: a switch), given after the daemon's own.
    pub options: Vec<(String, Option<String>)>,
    /// memcached's extended options (`-o name=value,...`; `None`: a switch), in order.
    pub extended: Vec<(String, Option<String>)>,
    /// TLS only (`-Z`), with this certificate; the daemon reaches it with `client`.
    #[serde(skip)]
    pub tls: Option<(NodeCertificate, Tls)>,
    /// The memcached version it runs (`1.6.18`): which binary a host runs it with.
    #[serde(default)]
    pub version: String,
    /// The host whose agent runs the node; `None`: the control plane's own machine.
    #[serde(default)]
    pub host: Option<crate::spec::NodeHost>,
}

impl MemcachedNode {
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join(PID_FILE)
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("memcached.log")
    }

    /// The pid of the running node, from its pid file, when that process is a live memcached.
    pub fn running_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        is_memcached_alive(pid).then_some(pid)
    }

    /// Starts the node (detached: it keeps running when the daemon stops, as Redis nodes do) and waits until it
    /// answers `version`. Returns its pid.
    pub async fn start(&self) -> Result<u32> {
        crate::private::create_dir(&self.dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())
            .map_err(io_err(self.log_file()))?;
        let _ = std::fs::remove_file(self.pid_file());
        let mut cmd = tokio::process::Command::new(&self.binary);
        // memcached refuses to run as root unless told which user to run as: the one it runs as now.
        if nix::unistd::geteuid().is_root() {
            cmd.arg("-u").arg("root");
        }
        cmd.arg("-P")
            .arg(self.pid_file())
            .arg("-l")
            .arg(self.addr.ip().to_string())
            .arg("-p")
            .arg(self.addr.port().to_string())
            // No UDP, as ElastiCache.
            .arg("-U")
            .arg("0")
            .arg("-m")
            .arg(self.memory_mib.to_string());
        for (name, value) in &self.options {
            match (name.as_str(), value) {
                ("conn-limit", Some(v)) => {
                    cmd.arg(format!("--conn-limit={}", conn_limit(v)));
                }
                (_, Some(v)) => {
                    cmd.arg(format!("--{name}={v}"));
                }
                (_, None) => {
                    cmd.arg(format!("--{name}"));
                }
            }
        }
        let mut extended: Vec<String> = self
            .extended
            .iter()
            .map(|(name, value)| match value {
                Some(v) => format!("{name}={v}"),
                None => name.clone(),
            })
            .collect();
        if let Some((cert, _)) = &self.tls {
            cmd.arg("-Z");
            extended.push(format!(
                "ssl_chain_cert={},ssl_key={}",
                cert.cert.display(),
                cert.key.display()
            ));
        }
        if !extended.is_empty() {
            cmd.arg("-o").arg(extended.join(","));
        }
        // In the foreground, as this process's child in a process group of its own (so no signal to the starter's
        // group reaches it), never killed when the starter goes: it keeps running when the daemon or agent stops,
        // as Redis nodes do. Its exit is reaped and logged, with what it said on its way out.
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(|source| EngineError::Exec {
                path: self.binary.clone(),
                source,
            })?;
        let (exited_tx, exited) = tokio::sync::watch::channel(None);
        let name = self.name.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            tracing::info!(node = %name, ?status, "memcached exited");
            let _ = exited_tx.send(Some(status.map(|s| s.to_string()).unwrap_or_default()));
        });
        let deadline = tokio::time::Instant::now() + crate::process::READY_TIMEOUT;
        loop {
            if let Some(status) = exited.borrow().clone() {
                let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
                return Err(EngineError::Other(format!(
                    "memcached for {} exited with {status}: {}",
                    self.name,
                    log.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                )));
            }
            if let (Some(pid), Ok(_)) = (
                self.running_pid(),
                node_version_over(self.addr, self.client()).await,
            ) {
                return Ok(pid);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(EngineError::NotReady {
                    node: self.name.clone(),
                    millis: crate::process::READY_TIMEOUT.as_millis() as u64,
                    detail: format!("memcached at {} does not answer", self.addr),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How the daemon reaches this node: over TLS when it serves TLS.
    pub fn client(&self) -> Option<&Tls> {
        self.tls.as_ref().map(|(_, t)| t)
    }

    /// Stops the node (`SIGTERM`, then `SIGKILL` after 5 s) and waits until its process is gone.
    pub async fn stop(&self) {
        let Some(pid) = self.running_pid() else {
            return;
        };
        use nix::sys::signal::{kill, Signal};
        let p = nix::unistd::Pid::from_raw(pid as i32);
        let _ = kill(p, Signal::SIGTERM);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while is_memcached_alive(pid) {
            if tokio::time::Instant::now() > deadline {
                let _ = kill(p, Signal::SIGKILL);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = std::fs::remove_file(self.pid_file());
    }
}

/// True when `pid` is a live (not zombie) `memcached` process.
pub fn is_memcached_alive(pid: u32) -> bool {
    crate::process::is_alive(pid, &["memcached"])
}

/// Asks the node at `addr` its `version` (a readiness probe).
pub async fn node_version(addr: SocketAddr) -> Result<String> {
    node_version_over(addr, None).await
}

/// Asks the node at `addr` its `version`, over TLS when `tls` is given.
pub async fn node_version_over(addr: SocketAddr, tls: Option<&Tls>) -> Result<String> {
    let io = |e: std::io::Error| EngineError::Other(format!("memcached at {addr}: {e}"));
    let mut s = tokio::time::timeout(Duration::from_secs(1), connect(addr, tls))
        .await
        .map_err(|_| EngineError::Other(format!("memcached at {addr}: connect timed out")))?
        .map_err(io)?;
    s.write_all(b"version\r\n").await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(1),
        BufReader::new(&mut s).read_line(&mut line),
    )
    .await
    .map_err(|_| EngineError::Other(format!("memcached at {addr}: no answer")))?
    .map_err(io)?;
    line.trim()
        .strip_prefix("VERSION ")
        .map(str::to_string)
        .ok_or_else(|| EngineError::Other(format!("memcached at {addr} answered {line:?}")))
}

/// Sends one command line to the node at `addr` and reads its answer: up to `END` for `stats`, else one line.
async fn command(addr: SocketAddr, tls: Option<&Tls>, line: &str) -> Result<Vec<String>> {
    let io = |e: std::io::Error| EngineError::Other(format!("memcached at {addr}: {e}"));
    let talk = async {
        let mut s = connect(addr, tls).await.map_err(io)?;
        s.write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(io)?;
        s.flush().await.map_err(io)?;
        let mut r = BufReader::new(s);
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).await.map_err(io)? == 0 {
                return Err(EngineError::Other(format!(
                    "memcached at {addr} closed the connection"
                )));
            }
            let l = l.trim_end().to_string();
            let last = !l.starts_with("STAT ");
            lines.push(l);
            if last {
                return Ok(lines);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), talk)
        .await
        .map_err(|_| EngineError::Other(format!("memcached at {addr}: no answer to {line}")))?
}

/// What the node at `addr` says of its load (`stats`), as [`crate::admin::NodeStats`]: commands are its gets,
/// sets, touches and flushes; expired keys the ones it reclaimed or dropped unfetched.
pub async fn node_stats(addr: SocketAddr, tls: Option<&Tls>) -> Result<crate::admin::NodeStats> {
    let stats: std::collections::HashMap<String, u64> = command(addr, tls, "stats")
        .await?
        .iter()
        .filter_map(|l| {
            let (k, v) = l.strip_prefix("STAT ")?.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect();
    let n = |k: &str| stats.get(k).copied();
    let sum = |ks: &[&str]| ks.iter().map(|k| n(k)).sum::<Option<u64>>();
    Ok(crate::admin::NodeStats {
        clients: n("curr_connections"),
        used_memory: n("bytes"),
        max_memory: n("limit_maxbytes"),
        commands: sum(&["cmd_get", "cmd_set", "cmd_touch", "cmd_flush"]),
        items: n("curr_items"),
        hits: n("get_hits"),
        misses: n("get_misses"),
        evicted: n("evictions"),
        expired: sum(&["reclaimed", "expired_unfetched"]),
        ..Default::default()
    })
}

/// The item memory limit of the node at `addr`, in bytes (`stats`: `limit_maxbytes`).
pub async fn memory_limit(addr: SocketAddr, tls: Option<&Tls>) -> Result<u64> {
    let lines = command(addr, tls, "stats").await?;
    lines
        .iter()
        .find_map(|l| l.strip_prefix("STAT limit_maxbytes "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            EngineError::Other(format!("memcached at {addr}: no limit_maxbytes in stats"))
        })
}

/// Changes the item memory limit of the running node at `addr` (`cache_memlimit`, MiB): memcached applies it
/// live, evicting past a lower limit.
pub async fn set_memory_limit(addr: SocketAddr, tls: Option<&Tls>, mib: u64) -> Result<()> {
    let lines = command(addr, tls, &format!("cache_memlimit {mib}")).await?;
    match lines.first().map(String::as_str) {
        Some("OK") => Ok(()),
        other => Err(EngineError::Other(format!(
            "memcached at {addr} answered cache_memlimit {mib} with {other:?}"
        ))),
    }
}

/// What auto discovery tells clients: the configuration's version and each node's host name, address and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterConfig {
    pub version: u64,
    pub nodes: Vec<(String, IpAddr, u16)>,
    /// The nodes' memcached version, which the endpoint answers `version` with: discovery clients ask it first
    /// to choose between `config get cluster` (1.4.14 and later) and the older `get AmazonElastiCache:cluster`.
    pub server_version: String,
}

impl ClusterConfig {
    /// The reply to `config get cluster` (`key` = `cluster`) or `get AmazonElastiCache:cluster`: a header line
    /// with the data's length, the version line (ended by LF), the node line (`host|ip|port` separated by spaces,
    /// ended by LF), CR LF, then `END`.
    pub fn reply(&self, header: &str) -> Vec<u8> {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|(host, ip, port)| format!("{host}|{ip}|{port}"))
            .collect();
        let data = format!("{}\n{}\n", self.version, nodes.join(" "));
        format!("{header} 0 {}\r\n{data}\r\nEND\r\n", data.len()).into_bytes()
    }
}

/// A running configuration endpoint; stops when dropped.
#[derive(Debug)]
pub struct ConfigEndpoint {
    config: Arc<RwLock<ClusterConfig>>,
    task: tokio::task::JoinHandle<()>,
    pub addr: SocketAddr,
}

impl Drop for ConfigEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConfigEndpoint {
    /// Listens on `addr` and answers auto discovery from `config`; with `tls`, clients speak TLS to it (the
    /// acceptor's certificate) and it speaks TLS to the nodes.
    pub async fn bind(addr: SocketAddr, config: ClusterConfig, tls: Option<Tls>) -> Result<Self> {
        let gate = Gate::new(
            format!("configuration endpoint {addr}"),
            CONFIG_ENDPOINT_CONNECTIONS,
        );
        Self::bind_within(addr, config, tls, gate).await
    }

    async fn bind_within(
        addr: SocketAddr,
        config: ClusterConfig,
        tls: Option<Tls>,
        gate: Gate,
    ) -> Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            EngineError::Other(format!("binding the configuration endpoint {addr}: {e}"))
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let config = Arc::new(RwLock::new(config));
        let shared = config.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                // Past the endpoint's cap or the descriptors' budget, the connection idle longest (no first
                // line yet, or between requests: a discovery client reconnects) is closed for this one; when
                // every connection has a request in progress or is handed to a node, this one is closed at once.
                // A connection handed to a node holds two descriptors.
                let Ok(admission) = gate.admit_idle(FORWARDED).await else {
                    continue;
                };
                // Bytes it sent that are not read yet keep it from being evicted until read.
                admission.watch(&conn);
                let shared = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let activity = admission.activity();
                    let _admission = admission;
                    let _ = conn.set_nodelay(true);
                    let work = async {
                        let conn: Box<dyn Io> = match tls.as_ref().and_then(|t| t.acceptor.as_ref())
                        {
                            None => Box::new(conn),
                            Some(a) => {
                                let handshake =
                                    tokio::time::timeout(HANDSHAKE_TIMEOUT, a.accept(conn));
                                tokio::select! {
                                    r = handshake => match r {
                                        Ok(Ok(s)) => Box::new(s),
                                        Ok(Err(_)) | Err(_) => return,
                                    },
                                    () = activity.evicted() => return,
                                }
                            }
                        };
                        // Its bytes (after TLS) tell the gate when it holds part of a line.
                        let conn: Box<dyn Io> = Box::new(Heard::new(conn, activity.clone()));
                        let _ = serve(conn, shared, tls, &activity).await;
                    };
                    tokio::pin!(work);
                    // What the client sent with its connection is read before a newer one may evict it.
                    let first = std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(std::future::Future::poll(work.as_mut(), cx))
                    })
                    .await;
                    activity.arrived();
                    if first.is_pending() {
                        work.await;
                    }
                });
            }
        });
        Ok(Self { config, task, addr })
    }

    /// Replaces the node list (the version is the caller's: it grows when nodes are added or removed).
    pub fn set(&self, config: ClusterConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    pub fn get(&self) -> ClusterConfig {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The longest request line the configuration endpoint reads (memcached's own limit for a line without its end).
pub const MAX_LINE: usize = 2048;
/// The most connections one configuration endpoint holds (memcached's own default connection limit is 1024).
pub const CONFIG_ENDPOINT_CONNECTIONS: usize = 512;
/// How long a client of a TLS configuration endpoint may take over its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client of a configuration endpoint may take to send its first line (after the handshake).
pub const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the configuration endpoint may take to reach the node it hands a connection to.
const NODE_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What [`read_line`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// A line with its end.
    Whole,
    /// [`MAX_LINE`] bytes and no end.
    TooLong,
    /// The client closed the connection (what it sent without a line end is dropped).
    Closed,
}

/// Reads one line (up to its `\n`, included) into `line`, at most [`MAX_LINE`] bytes of it.
async fn read_line(
    reader: &mut BufReader<Box<dyn Io>>,
    line: &mut Vec<u8>,
) -> std::io::Result<Line> {
    let n = (&mut *reader)
        .take(MAX_LINE as u64)
        .read_until(b'\n', line)
        .await?;
    Ok(if line.ends_with(b"\n") {
        Line::Whole
    } else if n >= MAX_LINE {
        Line::TooLong
    } else {
        Line::Closed
    })
}

/// A `get` or `gets` of many keys, the one request memcached reads past [`MAX_LINE`].
fn is_multiget(line: &str) -> bool {
    let l = line.trim_start_matches(' ');
    l.starts_with("get ") || l.starts_with("gets ")
}

/// One client of the configuration endpoint: discovery requests (and `version`, which discovery clients send
/// first) are answered here, line by line; at the first other request the connection is handed to the first node
/// (that request included) and piped both ways.
///
/// While it waits for a line (a part of one included) the connection is idle: a newer connection may evict it
/// when the endpoint is full (`activity`). From a whole line until its answer is written it is busy, and once
/// handed to a node it is busy for good.
async fn serve(
    conn: Box<dyn Io>,
    config: Arc<RwLock<ClusterConfig>>,
    tls: Option<Tls>,
    activity: &Activity,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        let read = read_line(&mut reader, &mut line);
        let read = async {
            if first {
                // A client has this long to say what it wants; a discovery client asks at once.
                tokio::time::timeout(FIRST_LINE_TIMEOUT, read).await.ok()
            } else {
                Some(read.await)
            }
        };
        let read = tokio::select! {
            r = read => match r {
                Some(r) => r?,
                // The first line is late.
                None => return Ok(()),
            },
            () = activity.evicted() => return Ok(()),
        };
        first = false;
        // A request in progress: not evicted until it is answered (or, handed to a node, ever).
        let Some(_busy) = activity.busy() else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&line).into_owned();
        match read {
            Line::Closed => return Ok(()),
            Line::Whole => {}
            // memcached's own rule: a line this long can only be a large multiget, which the node takes; anything
            // else is refused and the connection closed.
            Line::TooLong if !is_multiget(&text) => {
                let w = reader.get_mut();
                w.write_all(b"CLIENT_ERROR line too long\r\n").await?;
                w.flush().await?;
                return w.shutdown().await;
            }
            Line::TooLong => {}
        }
        let cmd: Vec<&str> = if read == Line::Whole {
            text.split_whitespace().collect()
        } else {
            Vec::new()
        };
        let current = config.read().unwrap_or_else(|p| p.into_inner()).clone();
        match cmd.as_slice() {
            ["config", "get", "cluster"] => {
                let reply = current.reply("CONFIG cluster");
                reader.get_mut().write_all(&reply).await?;
                reader.get_mut().flush().await?;
            }
            ["version"] if !current.server_version.is_empty() => {
                let reply = format!("VERSION {}\r\n", current.server_version);
                reader.get_mut().write_all(reply.as_bytes()).await?;
                reader.get_mut().flush().await?;
            }
            ["get", "AmazonElastiCache:cluster"] => {
                let reply = current.reply("VALUE AmazonElastiCache:cluster");
                reader.get_mut().write_all(&reply).await?;
                reader.get_mut().flush().await?;
            }
            ["quit"] => return Ok(()),
            _ => {
                let Some((_, ip, port)) = current.nodes.first().cloned() else {
                    reader
                        .get_mut()
                        .write_all(b"SERVER_ERROR no cache node\r\n")
                        .await?;
                    reader.get_mut().flush().await?;
                    continue;
                };
                return hand_to_node(reader, &line, SocketAddr::new(ip, port), tls.as_ref()).await;
            }
        }
    }
}

/// Hands a configuration endpoint's client to the node at `addr`: the request `line` and what the client sent after
/// it go first, then bytes are piped both ways until either side closes.
async fn hand_to_node(
    reader: BufReader<Box<dyn Io>>,
    line: &[u8],
    addr: SocketAddr,
    tls: Option<&Tls>,
) -> std::io::Result<()> {
    // Requests and answers are small: both sockets go without Nagle's algorithm, which would hold
    // each back for the other side's delayed acknowledgement.
    let mut node = tokio::time::timeout(NODE_CONNECT_TIMEOUT, connect(addr, tls))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
    // This line and what the client sent after it (still buffered here) go first, in one write: over
    // TLS one write is one record, and memcached 1.6.18 does not read on a request whose rest waits
    // in a second record it has already taken off the socket.
    let mut first = line.to_vec();
    first.extend_from_slice(reader.buffer());
    node.write_all(&first).await?;
    node.flush().await?;
    let client = reader.into_inner();
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut nr, mut nw) = tokio::io::split(node);
    let up = async {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = cr.read(&mut buf).await?;
            if n == 0 {
                return nw.shutdown().await;
            }
            nw.write_all(&buf[..n]).await?;
            nw.flush().await?;
        }
    };
    let down = async {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = nr.read(&mut buf).await?;
            if n == 0 {
                return cw.shutdown().await;
            }
            cw.write_all(&buf[..n]).await?;
            cw.flush().await?;
        }
    };
    let _ = tokio::try_join!(up, down);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kills the node whose pid file is given when dropped: a failing test leaves no memcached behind.
    struct KillOnDrop(PathBuf);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let pid = std::fs::read_to_string(&self.0)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|p| is_memcached_alive(*p as u32)) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// A plain TCP server standing for a node: answers each read with `NODE ` and what it read.
    async fn fake_node() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let a = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 64 << 10];
                    // Answers once the request line is whole.
                    while !got.ends_with(b"\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = s
                        .write_all(format!("NODE {}\r\n", got.len()).as_bytes())
                        .await;
                });
            }
        });
        a
    }

    async fn read_to_end(s: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut got)).await;
        assert!(r.is_ok(), "the connection is closed in time: {got:?}");
        String::from_utf8_lossy(&got).into_owned()
    }

    /// A request line longer than memcached's 2048 bytes is refused with memcached's error and its connection
    /// closed, unless it is a multiget, which goes to the node as memcached would take it.
    #[tokio::test]
    async fn long_lines_are_refused_but_multigets() {
        let node = fake_node().await;
        let ep = ConfigEndpoint::bind(
            "127.0.0.1:0".parse().expect("addr"),
            ClusterConfig {
                version: 1,
                nodes: vec![("n".into(), node.ip(), node.port())],
                server_version: "1.6.18".into(),
            },
            None,
        )
        .await
        .expect("bind");
        // 3000 bytes and no line end: memcached's error, then the connection closes.
        let mut s = TcpStream::connect(ep.addr).await.expect("connect");
        s.write_all(&[b'x'; 3000]).await.expect("write");
        assert_eq!(read_to_end(&mut s).await, "CLIENT_ERROR line too long\r\n");
        // A line of 2047 bytes and its end is a request like any other (the node answers it).
        let mut s = TcpStream::connect(ep.addr).await.expect("connect");
        let mut req = vec![b'y'; MAX_LINE - 1];
        req.push(b'\n');
        s.write_all(&req).await.expect("write");
        s.write_all(b"more\r\n").await.expect("write");
        let mut buf = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(
            buf[..n].starts_with(b"NODE "),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        // A multiget of 10 000 keys goes to the node whole.
        let keys: Vec<String> = (0..10_000).map(|i| format!("key-{i}")).collect();
        let get = format!("get {}\r\n", keys.join(" "));
        let mut s = TcpStream::connect(ep.addr).await.expect("connect");
        s.write_all(get.as_bytes()).await.expect("write");
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert_eq!(
            String::from_utf8_lossy(&buf[..n]),
            format!("NODE {}\r\n", get.len())
        );
    }

    /// A client that says nothing is closed once its first line is late; over TLS, one that does not finish its
    /// handshake is closed once that is late. Neither holds a place meanwhile past those bounds.
    #[tokio::test]
    async fn silent_clients_are_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = crate::tls::Authority::load_or_create(&dir.path().join("tls")).expect("ca");
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let cert = ca
            .node_certificate(&dir.path().join("cfg"), &[ip])
            .expect("cert");
        let tls = Tls::new(ca.bundle(), Some(&cert)).expect("server");
        let plain = ConfigEndpoint::bind_within(
            "127.0.0.1:0".parse().expect("addr"),
            ClusterConfig::default(),
            None,
            Gate::new("plain", 1),
        )
        .await
        .expect("bind");
        let over_tls = ConfigEndpoint::bind(
            "127.0.0.1:0".parse().expect("addr"),
            ClusterConfig::default(),
            Some(tls),
        )
        .await
        .expect("bind");
        let started = tokio::time::Instant::now();
        // Its one place is held by a client waiting between requests (its first one answered): a newer one
        // takes it, the older one is closed at once...
        let mut older = TcpStream::connect(plain.addr).await.expect("connect");
        older
            .write_all(b"config get cluster\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(3), older.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(buf[..n].starts_with(b"CONFIG cluster 0 "));
        let mut silent = TcpStream::connect(plain.addr).await.expect("connect");
        assert_eq!(read_to_end(&mut older).await, "");
        // ...and the newer one, silent, is closed once its first line is late.
        // A handshake begun and never finished (a TLS record header announcing more than is sent).
        let mut half = TcpStream::connect(over_tls.addr).await.expect("connect");
        half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .expect("write");
        let mut got = Vec::new();
        let wait = FIRST_LINE_TIMEOUT.max(HANDSHAKE_TIMEOUT) + Duration::from_secs(2);
        for s in [&mut silent, &mut half] {
            got.clear();
            let r = tokio::time::timeout(wait, s.read_to_end(&mut got)).await;
            assert!(r.is_ok(), "a silent client kept its connection");
        }
        assert!(started.elapsed() >= FIRST_LINE_TIMEOUT.min(HANDSHAKE_TIMEOUT));
        // Its place is free again: a client that asks is answered.
        let mut s = TcpStream::connect(plain.addr).await.expect("connect");
        s.write_all(b"config get cluster\r\n").await.expect("write");
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(buf[..n].starts_with(b"CONFIG cluster 0 "));
    }

    /// An endpoint at its cap closes the connection idle longest for a new one (one that has sent no line yet,
    /// or waits between requests); a connection handed to a node is never closed for another, and when every
    /// place is held by one, a new connection is closed at once.
    #[tokio::test]
    async fn idle_clients_make_room_and_forwarded_ones_keep_theirs() {
        let node = fake_node().await;
        let ep = ConfigEndpoint::bind_within(
            "127.0.0.1:0".parse().expect("addr"),
            ClusterConfig {
                version: 1,
                nodes: vec![("n".into(), node.ip(), node.port())],
                server_version: "1.6.18".into(),
            },
            None,
            Gate::new("two", 2),
        )
        .await
        .expect("bind");
        let ask = |s: TcpStream, line: &'static [u8]| async move {
            let mut s = s;
            s.write_all(line).await.expect("write");
            let mut buf = vec![0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
                .await
                .expect("answered")
                .expect("read");
            (s, String::from_utf8_lossy(&buf[..n]).into_owned())
        };
        // One handed to a node, one answered and waiting between requests: the endpoint is full.
        let (forwarded, got) = ask(
            TcpStream::connect(ep.addr).await.expect("connect"),
            b"get a\r\n",
        )
        .await;
        assert_eq!(got, "NODE 7\r\n");
        let (mut between, got) = ask(
            TcpStream::connect(ep.addr).await.expect("connect"),
            b"version\r\n",
        )
        .await;
        assert_eq!(got, "VERSION 1.6.18\r\n");
        // A discovery client arriving takes the place of the one between requests, and is answered.
        let (_discovery, got) = ask(
            TcpStream::connect(ep.addr).await.expect("connect"),
            b"config get cluster\r\n",
        )
        .await;
        assert!(got.starts_with("CONFIG cluster 0 "), "{got}");
        assert_eq!(read_to_end(&mut between).await, "");
        // Both places handed to nodes: a new connection is closed at once (were a forwarded one closed for it
        // instead, it would wait for its first line, and be closed only after FIRST_LINE_TIMEOUT).
        let (forwarded2, got) = ask(
            TcpStream::connect(ep.addr).await.expect("connect"),
            b"get b\r\n",
        )
        .await;
        assert_eq!(got, "NODE 7\r\n");
        let mut refused = TcpStream::connect(ep.addr).await.expect("connect");
        assert_eq!(read_to_end(&mut refused).await, "");
        drop((forwarded, forwarded2));
    }

    #[test]
    fn discovery_reply_is_elasticache_s_format() {
        let c = ClusterConfig {
            version: 12,
            nodes: vec![
                ("a.cfg".into(), "127.0.0.5".parse().expect("ip"), 11211),
                ("b.cfg".into(), "127.0.0.6".parse().expect("ip"), 11211),
            ],
            ..Default::default()
        };
        let data = "12\na.cfg|127.0.0.5|11211 b.cfg|127.0.0.6|11211\n";
        assert_eq!(
            String::from_utf8(c.reply("CONFIG cluster")).expect("utf8"),
            format!("CONFIG cluster 0 {}\r\n{data}\r\nEND\r\n", data.len())
        );
    }

    /// A real memcached behind a configuration endpoint: discovery answered by the endpoint, other commands by the
    /// node, the version growing when the list changes.
    #[tokio::test]
    async fn endpoint_answers_discovery_and_forwards_the_rest() {
        let Some(binary) = find_binary() else {
            eprintln!("memcached is not installed; skipped (scripts/test.sh installs it)");
            return;
        };
        assert!(version(&binary).expect("version").starts_with("1."));
        let dir = tempfile::tempdir().expect("tempdir");
        let taken: Vec<IpAddr> = vec![];
        let ip = crate::address::allocate(11211, &taken).expect("address");
        let node = MemcachedNode {
            name: "t-0001".into(),
            dir: dir.path().join("t-0001"),
            binary,
            addr: SocketAddr::new(ip, 11211),
            memory_mib: 16,
            options: vec![],
            extended: vec![],
            tls: None,
            version: String::new(),
            host: None,
        };
        let _guard = KillOnDrop(node.pid_file());
        let pid = node.start().await.expect("start");
        assert!(is_memcached_alive(pid));
        let cfg_ip = crate::address::allocate(11211, &[ip]).expect("address");
        let ep = ConfigEndpoint::bind(
            SocketAddr::new(cfg_ip, 11211),
            ClusterConfig {
                version: 1,
                nodes: vec![("t-0001".into(), ip, 11211)],
                server_version: "1.6.18".into(),
            },
            None,
        )
        .await
        .expect("bind");
        let mut s = TcpStream::connect(ep.addr).await.expect("connect");
        // What discovery clients ask first: answered by the endpoint, the connection stays with it.
        s.write_all(b"version\r\n").await.expect("write");
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], b"VERSION 1.6.18\r\n");
        s.write_all(b"config get cluster\r\n").await.expect("write");
        let n = s.read(&mut buf).await.expect("read");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(text.starts_with("CONFIG cluster 0 "), "{text}");
        assert!(text.contains(&format!("1\nt-0001|{ip}|11211\n")), "{text}");
        // Anything else goes to the node.
        s.write_all(b"set k 0 0 1\r\nv\r\nget k\r\n")
            .await
            .expect("write");
        let mut got = String::new();
        while !got.ends_with("END\r\n") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert_eq!(got, "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
        // A new list with a new version is what the next client sees.
        ep.set(ClusterConfig {
            version: 2,
            nodes: vec![("t-0001".into(), ip, 11211), ("t-0002".into(), ip, 11212)],
            ..Default::default()
        });
        let mut s = TcpStream::connect(ep.addr).await.expect("connect");
        s.write_all(b"get AmazonElastiCache:cluster\r\n")
            .await
            .expect("write");
        let n = s.read(&mut buf).await.expect("read");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            text.starts_with("VALUE AmazonElastiCache:cluster 0 "),
            "{text}"
        );
        assert!(text.contains("2\n") && text.contains("t-0002"), "{text}");
        node.stop().await;
        assert!(!is_memcached_alive(pid), "stopped");
    }

    /// A TLS-only node (`-Z`) behind a TLS configuration endpoint: a client trusting the deployment's CA gets
    /// discovery from the endpoint and its other requests answered by the node; plain TCP gets nothing.
    #[tokio::test]
    async fn tls_node_and_endpoint() {
        let Some(binary) = find_binary() else {
            eprintln!("memcached is not installed; skipped (scripts/test.sh installs it)");
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = crate::tls::Authority::load_or_create(&dir.path().join("tls")).expect("ca");
        let ip = crate::address::allocate(11211, &[]).expect("address");
        let cfg_ip = crate::address::allocate(11211, &[ip]).expect("address");
        let node_dir = dir.path().join("t-0001");
        let client = Tls::new(ca.bundle(), None).expect("client");
        let node = MemcachedNode {
            name: "t-0001".into(),
            dir: node_dir.clone(),
            binary,
            addr: SocketAddr::new(ip, 11211),
            memory_mib: 16,
            options: vec![],
            extended: vec![],
            tls: Some((
                ca.node_certificate(&node_dir, &[ip]).expect("cert"),
                client.clone(),
            )),
            version: String::new(),
            host: None,
        };
        let _guard = KillOnDrop(node.pid_file());
        node.start().await.expect("start over TLS");
        let cfg_cert = ca
            .node_certificate(&dir.path().join("t-config"), &[cfg_ip])
            .expect("cert");
        let ep = ConfigEndpoint::bind(
            SocketAddr::new(cfg_ip, 11211),
            ClusterConfig {
                version: 3,
                nodes: vec![(ip.to_string(), ip, 11211)],
                server_version: "1.6.18".into(),
            },
            Some(Tls::new(ca.bundle(), Some(&cfg_cert)).expect("server")),
        )
        .await
        .expect("bind");
        let mut s = connect(ep.addr, Some(&client))
            .await
            .expect("TLS to the endpoint");
        s.write_all(b"config get cluster\r\nset k 0 0 1\r\nv\r\nget k\r\n")
            .await
            .expect("write");
        s.flush().await.expect("flush");
        let mut got = String::new();
        let mut buf = vec![0u8; 1024];
        while !got.ends_with("VALUE k 0 1\r\nv\r\nEND\r\n") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(got.starts_with("CONFIG cluster 0 "), "{got}");
        assert!(got.contains(&format!("3\n{ip}|{ip}|11211\n")), "{got}");
        assert!(got.contains("STORED\r\n"), "{got}");
        // Without TLS neither answers.
        assert!(
            node_version(node.addr).await.is_err(),
            "the node refuses plain TCP"
        );
        let mut plain = TcpStream::connect(ep.addr).await.expect("connect");
        plain
            .write_all(b"config get cluster\r\n")
            .await
            .expect("write");
        let n = tokio::time::timeout(Duration::from_secs(2), plain.read(&mut buf))
            .await
            .map(|r| r.unwrap_or(0))
            .unwrap_or(0);
        assert!(
            !String::from_utf8_lossy(&buf[..n]).contains("CONFIG"),
            "no discovery in the clear"
        );
        assert_eq!(
            memory_limit(node.addr, node.client())
                .await
                .expect("stats over TLS"),
            16 << 20
        );
        node.stop().await;
    }
}
