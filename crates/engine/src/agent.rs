//! A host agent: the process half of the control plane's node interface, run on each machine of a deployment
//! with several hosts. The leading control-plane daemon sends it calls over HTTP/JSON on mutual TLS (the
//! deployment's host CA signs both sides); this module has both halves of that channel:
//! - [`Host`]: what an agent does with a call, on its own machine (its own directories and engine binaries);
//! - [`Client`]: how the leader sends calls and reads the agent's reports.
//!
//! Every call carries the leader's generation ([`GENERATION_HEADER`]). An agent keeps the highest generation it
//! has obeyed, on disk, and refuses an older one: a leader that was paused and wakes up after another took over
//! can do nothing to a node (fencing).
//!
//! The agent never acts on its own: its nodes keep running while no leader calls.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_rustls::rustls;

use crate::binary::EngineBinary;
use crate::process::{self, DirChange};
use crate::secret::AdminCredentials;
use crate::spec::NodeSpec;
use crate::{io_err, EngineError, Result};

/// The header that carries the caller's generation on every call.
pub const GENERATION_HEADER: &str = "cacheplane-generation";
/// Where calls are sent (`POST`, a [`Call`] as JSON, answered with a [`Reply`]).
pub const CALL_PATH: &str = "/v1/call";
/// Where reports are read (`GET ?after=<exits>`, answered with a [`Report`]).
pub const REPORT_PATH: &str = "/v1/report";
/// How long a report waits for a process exit before it answers anyway.
pub const REPORT_WAIT: Duration = Duration::from_millis(250);

/// One command to an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// Starts the node (its directory, configuration and binary the agent's own) and waits until it answers.
    Spawn {
        spec: Box<NodeSpec>,
        engine: String,
        admin: AdminCredentials,
        /// A node with TLS: its certificate, key and CA, written into its directory before it starts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<crate::tls::NodeTlsPem>,
    },
    /// The pid of a process of the node that runs already and answers as the admin, if any.
    Adopt {
        spec: Box<NodeSpec>,
        engine: String,
        admin: AdminCredentials,
    },
    /// Every process that listens on `addr`.
    PidsServing { addr: SocketAddr },
    /// The pid the node's pid file names.
    PidFile { name: String },
    /// Stops a process cleanly (`SIGTERM`, then `SIGKILL` after `grace_ms`).
    Stop { pid: u32, grace_ms: u64 },
    /// Kills a process at once.
    Kill { pid: u32 },
    /// Removes the node's directory.
    RemoveDir { name: String },
    /// Changes the files of the node, which does not run.
    ChangeDir { name: String, change: DirChange },
    /// Starts a Memcached node (its directory and binary the agent's own; with TLS, the files `tls` carries) and
    /// waits until it answers.
    StartMemcached {
        node: Box<crate::memcached::MemcachedNode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<crate::tls::NodeTlsPem>,
    },
    /// Stops the Memcached node `name` if it runs (its pid file says which process).
    StopMemcached { name: String },
    /// The pid of the Memcached node `name` when its pid file names a live memcached.
    MemcachedPid { name: String },
    /// Lines of the node's log file past `offset` (see [`crate::logs::read_log`]).
    ReadLog {
        name: String,
        offset: Option<u64>,
        max: usize,
    },
}

/// An agent's answer to a [`Call`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Pid(Option<u32>),
    Pids(Vec<u32>),
    Done(bool),
    Log { lines: Vec<String>, next: u64 },
}

/// What an agent reports of its machine: the processes it runs and the nodes' pid files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The host's name.
    pub host: String,
    /// Drawn at random when the agent starts: a new value says the agent restarted.
    pub instance: u64,
    /// The highest generation the agent has obeyed.
    pub generation: u64,
    /// How many processes it ran have exited since it started: a change tells the leader to look.
    pub exits: u64,
    /// The engine processes it runs (started or adopted), by pid: their state letter (`/proc/<pid>/stat`) and CPU
    /// time.
    pub processes: BTreeMap<u32, (char, u64)>,
    /// The resident memory of each of those processes, in bytes: what a node holds.
    #[serde(default)]
    pub resident: BTreeMap<u32, u64>,
    /// The pid each node's pid file names, by node name.
    pub pid_files: BTreeMap<String, u32>,
    /// Every node directory the host holds, by node name (with a pid file or not).
    pub dirs: Vec<String>,
    /// What new nodes may take here, in bytes: the machine's available memory, or less, what the host's
    /// `--memory-limit` leaves beside its running nodes.
    pub memory_available: Option<u64>,
}

/// Why an agent refused a call.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The caller's generation is older than one the agent has obeyed.
    #[error(
        "fenced: generation {given} is older than generation {seen}, which this host has obeyed"
    )]
    Fenced { given: u64, seen: u64 },
    /// The call cannot be done here.
    #[error("{0}")]
    Failed(#[from] EngineError),
}

/// The agent's side: the engine processes of this machine, under `dir`.
pub struct Host {
    name: String,
    dir: PathBuf,
    binaries: Vec<EngineBinary>,
    /// `--memory-limit`: what all its nodes may hold together.
    memory_limit: Option<u64>,
    instance: u64,
    /// The highest generation obeyed. A call runs holding it for reading, and a newer generation is taken for
    /// writing: once a newer leader is obeyed, no call of an older one is still running.
    generation: tokio::sync::RwLock<u64>,
    /// The processes it runs: for one it started, a receiver that turns true when it exits.
    running: Mutex<BTreeMap<u32, Option<watch::Receiver<bool>>>>,
    exits: watch::Sender<u64>,
    /// The TLS `preferred` fronts of its nodes, by node name: each on the node's port, handing each connection to
    /// the node's plaintext or TLS port by its first byte ([`crate::endpoint::Sniffer`]).
    fronts: tokio::sync::Mutex<BTreeMap<String, crate::endpoint::Sniffer>>,
}

/// A node's TLS `preferred` front, kept in its directory so that an agent started again binds it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Front {
    front: SocketAddr,
    plain: SocketAddr,
    tls: SocketAddr,
}

/// The file in a node's directory that names its front.
const FRONT_FILE: &str = "front.json";

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Host({})", self.name)
    }
}

const GENERATION_FILE: &str = "generation";

impl Host {
    /// The host `name`, keeping its nodes and its generation under `dir`, with the engine `binaries` of this machine.
    pub fn open(
        name: &str,
        dir: &Path,
        binaries: Vec<EngineBinary>,
        memory_limit: Option<u64>,
    ) -> Result<Arc<Host>> {
        std::fs::create_dir_all(dir.join("nodes")).map_err(io_err(dir))?;
        let file = dir.join(GENERATION_FILE);
        let generation = match std::fs::read_to_string(&file) {
            Ok(s) => s.trim().parse().map_err(|_| {
                EngineError::Other(format!("{} does not hold a number", file.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&file)(e)),
        };
        let host = Arc::new(Host {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            binaries,
            memory_limit,
            instance: rand::random(),
            generation: tokio::sync::RwLock::new(generation),
            running: Mutex::new(BTreeMap::new()),
            exits: watch::channel(0).0,
            fronts: tokio::sync::Mutex::new(BTreeMap::new()),
        });
        // The nodes that run already (the agent restarted): watched as adopted until they exit.
        for (name, pid) in host.pid_files() {
            if process::is_engine_alive(pid) {
                tracing::info!(target: "agent", node = %name, pid, "running node found");
                host.running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pid, None);
            }
        }
        Ok(host)
    }

    /// The pid each node's pid file names, by node name.
    fn pid_files(&self) -> BTreeMap<String, u32> {
        self.dirs()
            .into_iter()
            .filter_map(|name| {
                let pid = pid_in(&self.dir.join("nodes").join(&name))?;
                Some((name, pid))
            })
            .collect()
    }

    /// Every node directory.
    fn dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.join("nodes"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory of node `name` on this host.
    pub fn node_dir(&self, name: &str) -> Result<PathBuf> {
        // A name is a cluster id (letters, digits, hyphens): anything else could leave the nodes' directory.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(EngineError::Other(format!("not a node name: {name:?}")));
        }
        Ok(self.dir.join("nodes").join(name))
    }

    /// Runs `call` for generation `given`: refused when an agent has obeyed a newer one; a newer one is kept on disk
    /// first. The call runs holding the generation, so a newer leader's first call waits for it to end.
    pub async fn obey(
        self: &Arc<Self>,
        given: u64,
        call: Call,
    ) -> std::result::Result<Reply, Refusal> {
        let seen = self.admit(given).await?;
        let reply = self.call(call).await?;
        drop(seen);
        Ok(reply)
    }

    /// Takes generation `given` when it is not older than the newest obeyed: a guard held while the caller acts.
    pub async fn admit(
        &self,
        given: u64,
    ) -> std::result::Result<tokio::sync::RwLockReadGuard<'_, u64>, Refusal> {
        {
            let seen = self.generation.read().await;
            if given < *seen {
                return Err(Refusal::Fenced { given, seen: *seen });
            }
            if given == *seen {
                return Ok(seen);
            }
        }
        let mut seen = self.generation.write().await;
        if given < *seen {
            return Err(Refusal::Fenced { given, seen: *seen });
        }
        if given > *seen {
            crate::private::write_atomic(
                &self.dir.join(GENERATION_FILE),
                given.to_string().as_bytes(),
            )?;
            tracing::info!(target: "agent", generation = given, "obeying a new leader");
            *seen = given;
        }
        Ok(seen.downgrade())
    }

    /// Binds again the fronts its nodes had (an agent started again): each while its node's directory holds it.
    pub async fn restore_fronts(&self) {
        for name in self.dirs() {
            let path = self.dir.join("nodes").join(&name).join(FRONT_FILE);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let bound = match serde_json::from_str::<Front>(&text) {
                Ok(f) => self.bind_front(&name, f).await,
                Err(e) => Err(EngineError::Other(format!("{}: {e}", path.display()))),
            };
            if let Err(e) = bound {
                tracing::warn!(target: "agent", node = %name, error = %e, "cannot bind the node's front again");
            }
        }
    }

    /// In TLS `preferred` mode, the node's front on its own address and port (bound once, kept in its directory);
    /// otherwise none.
    async fn ensure_front(&self, spec: &NodeSpec) -> Result<()> {
        let preferred = spec
            .tls
            .as_ref()
            .is_some_and(|t| t.mode == crate::spec::TlsMode::Preferred);
        if !preferred {
            self.drop_front(&spec.name).await;
            return Ok(());
        }
        let (plain, tls) = spec.listen_ports();
        let f = Front {
            front: spec.addr(),
            plain: SocketAddr::new(spec.bind, plain),
            tls: SocketAddr::new(spec.bind, tls),
        };
        let text = serde_json::to_string(&f).map_err(|e| EngineError::Other(e.to_string()))?;
        crate::private::write_atomic(&spec.dir.join(FRONT_FILE), text.as_bytes())?;
        self.bind_front(&spec.name, f).await
    }

    /// [`Self::ensure_front`] for a node that runs: a front that cannot be bound is told, and the node is still
    /// the leader's to see (its own ports serve).
    async fn front_or_warn(&self, spec: &NodeSpec) {
        if let Err(e) = self.ensure_front(spec).await {
            tracing::warn!(target: "agent", node = %spec.name, error = %e, "the node's TLS preferred front is not bound");
        }
    }

    async fn bind_front(&self, name: &str, f: Front) -> Result<()> {
        let mut fronts = self.fronts.lock().await;
        if !fronts.contains_key(name) {
            let s = crate::endpoint::Sniffer::bind(f.front, f.plain, f.tls).await?;
            tracing::info!(target: "agent", node = %name, front = %f.front, "TLS preferred front bound");
            fronts.insert(name.to_string(), s);
        }
        Ok(())
    }

    async fn drop_front(&self, name: &str) {
        self.fronts.lock().await.remove(name);
    }

    /// `spec` as this host runs it: its directory, binary and TLS files are this machine's.
    fn localized(&self, spec: &NodeSpec, engine: &str) -> Result<NodeSpec> {
        if spec.restore_rdb.is_some() {
            return Err(EngineError::Other(
                "a node restored from a snapshot cannot run on a host agent yet".into(),
            ));
        }
        let binary = self
            .binaries
            .iter()
            .find(|b| b.engine == engine && b.version_triple() == spec.engine_version)
            .ok_or_else(|| {
                let (a, b, c) = spec.engine_version;
                EngineError::NoBinary(format!(
                    "host {} has no {engine} {a}.{b}.{c} binary (give it with --engine-binary)",
                    self.name
                ))
            })?;
        let mut local = spec.clone();
        local.dir = self.node_dir(&spec.name)?;
        local.binary = binary.path.clone();
        if let Some(tls) = &mut local.tls {
            tls.files = crate::tls::files_in(&local.dir);
        }
        Ok(local)
    }

    /// Memcached node `node` as this host runs it: its directory and binary this machine's, and with TLS the
    /// files `tls` carries, written into its directory.
    fn localized_memcached(
        &self,
        node: &crate::memcached::MemcachedNode,
        tls: Option<&crate::tls::NodeTlsPem>,
    ) -> Result<crate::memcached::MemcachedNode> {
        let want = crate::binary::parse_version(&node.version);
        let binary = self
            .binaries
            .iter()
            .find(|b| b.engine == "memcached" && Some(b.version_triple()) == want)
            .ok_or_else(|| {
                EngineError::NoBinary(format!(
                    "host {} has no memcached {} binary (give it with --engine-binary)",
                    self.name, node.version
                ))
            })?;
        let mut local = node.clone();
        local.dir = self.node_dir(&node.name)?;
        local.binary = binary.path.clone();
        local.tls = match tls {
            Some(pem) => {
                crate::private::create_dir(&local.dir)?;
                let files = pem.write(&local.dir)?;
                let client = crate::memcached::Tls::new(&files.ca, None)?;
                Some((files, client))
            }
            None => None,
        };
        Ok(local)
    }

    /// Does `call`, already admitted.
    async fn call(self: &Arc<Self>, call: Call) -> Result<Reply> {
        Ok(match call {
            Call::Spawn {
                spec,
                engine,
                admin,
                tls,
            } => {
                let spec = self.localized(&spec, &engine)?;
                match (&spec.tls, tls) {
                    (Some(_), Some(pem)) => {
                        crate::private::create_dir(&spec.dir)?;
                        pem.write(&spec.dir)?;
                    }
                    (Some(_), None) => {
                        return Err(EngineError::Other(format!(
                            "node {} serves TLS, and the call carries no certificate for it",
                            spec.name
                        )))
                    }
                    (None, _) => {}
                }
                let spawned = process::spawn(&spec, &admin).await?;
                self.track(spawned.pid, Some(spawned.exited));
                tracing::info!(target: "agent", node = %spec.name, pid = spawned.pid, "started node");
                self.front_or_warn(&spec).await;
                Reply::Pid(Some(spawned.pid))
            }
            Call::Adopt {
                spec,
                engine,
                admin,
            } => {
                let spec = self.localized(&spec, &engine)?;
                let pid = process::adopt(&spec, &admin).await;
                if let Some(pid) = pid {
                    self.track(pid, None);
                    self.front_or_warn(&spec).await;
                }
                Reply::Pid(pid)
            }
            Call::PidsServing { addr } => Reply::Pids(process::pids_serving(addr)),
            Call::PidFile { name } => Reply::Pid(pid_in(&self.node_dir(&name)?)),
            Call::Stop { pid, grace_ms } => {
                tracing::info!(target: "agent", pid, "stopping a process");
                process::stop(pid, Duration::from_millis(grace_ms)).await;
                Reply::Done(!process::is_engine_alive(pid))
            }
            Call::StartMemcached { node, tls } => {
                let node = self.localized_memcached(&node, tls.as_ref())?;
                let pid = node.start().await?;
                self.track(pid, None);
                tracing::info!(target: "agent", node = %node.name, pid, "started memcached node");
                Reply::Pid(Some(pid))
            }
            Call::MemcachedPid { name } => Reply::Pid(
                pid_in(&self.node_dir(&name)?).filter(|p| crate::memcached::is_memcached_alive(*p)),
            ),
            Call::StopMemcached { name } => {
                let dir = self.node_dir(&name)?;
                if let Some(pid) = pid_in(&dir).filter(|p| crate::memcached::is_memcached_alive(*p))
                {
                    process::stop(pid, Duration::from_secs(5)).await;
                    self.gone(pid);
                }
                let _ = std::fs::remove_file(dir.join(crate::memcached::PID_FILE));
                Reply::Done(true)
            }
            Call::Kill { pid } => {
                tracing::info!(target: "agent", pid, "killing a process");
                Reply::Done(process::kill_now(pid).await)
            }
            Call::RemoveDir { name } => {
                // Never a directory whose node still runs: the process is stopped first.
                let dir = self.node_dir(&name)?;
                let pid = pid_in(&dir).filter(|p| process::is_engine_alive(*p));
                if let Some(pid) = pid {
                    tracing::warn!(target: "agent", node = %name, pid, "the node still ran when its directory was removed: killed");
                    if !process::kill_now(pid).await {
                        return Err(EngineError::Other(format!(
                            "node {name} (pid {pid}) did not die: its directory is kept"
                        )));
                    }
                }
                self.drop_front(&name).await;
                process::remove_dir(&dir)?;
                Reply::Done(true)
            }
            Call::ReadLog { name, offset, max } => {
                let path = self.node_dir(&name)?.join("redis.log");
                let (lines, next) = crate::logs::read_log(&path, offset, max.min(1 << 20))?;
                Reply::Log { lines, next }
            }
            Call::ChangeDir { name, change } => {
                let dir = self.node_dir(&name)?;
                process::change_dir_at(&dir, change)?;
                Reply::Done(true)
            }
        })
    }

    /// Keeps track of process `pid` (started here when `exited` is given) until it exits.
    fn track(self: &Arc<Self>, pid: u32, exited: Option<watch::Receiver<bool>>) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid, exited.clone());
        if let Some(mut rx) = exited {
            let host = Arc::downgrade(self);
            tokio::spawn(async move {
                let _ = rx.wait_for(|e| *e).await;
                if let Some(host) = host.upgrade() {
                    host.gone(pid);
                }
            });
        }
    }

    fn gone(&self, pid: u32) {
        if self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pid)
            .is_some()
        {
            tracing::info!(target: "agent", pid, "engine process exited");
            self.exits.send_modify(|n| *n += 1);
        }
    }

    /// The report of this machine, once the exits counted differ from `after` or [`REPORT_WAIT`] has passed.
    pub async fn report(&self, after: u64) -> Report {
        let mut rx = self.exits.subscribe();
        let _ = tokio::time::timeout(REPORT_WAIT, rx.wait_for(|n| *n != after)).await;
        self.report_now().await
    }

    /// The report of this machine now.
    pub async fn report_now(&self) -> Report {
        let pid_files = self.pid_files();
        // The processes it started or adopted, and those its nodes' pid files name (a node that runs is reported
        // whoever started it).
        let pids: std::collections::BTreeSet<u32> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .chain(pid_files.values().copied())
            .collect();
        let mut processes = BTreeMap::new();
        for pid in pids {
            match process::cpu_and_state(pid).filter(|_| process::is_engine_alive(pid)) {
                Some(look) => {
                    processes.insert(pid, look);
                }
                None => self.gone(pid),
            }
        }
        let resident: BTreeMap<u32, u64> = processes
            .keys()
            .filter_map(|p| Some((*p, process::resident_bytes(*p)?)))
            .collect();
        Report {
            host: self.name.clone(),
            instance: self.instance,
            generation: *self.generation.read().await,
            exits: *self.exits.borrow(),
            processes,
            pid_files,
            dirs: self.dirs(),
            memory_available: self.room(&resident),
            resident,
        }
    }
}

impl Host {
    /// What new nodes may take: the kernel's MemAvailable, and under a limit, what it leaves beside the resident
    /// memory of the nodes running.
    fn room(&self, resident: &BTreeMap<u32, u64>) -> Option<u64> {
        let available = process::memory_available();
        let left = self
            .memory_limit
            .map(|limit| limit.saturating_sub(resident.values().sum()));
        match (available, left) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (a, l) => a.or(l),
        }
    }
}

/// The pid a node directory's pid file names: a Redis/Valkey node's, or a Memcached node's.
fn pid_in(dir: &Path) -> Option<u32> {
    ["redis.pid", crate::memcached::PID_FILE]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())?
        .trim()
        .parse()
        .ok()
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Other(format!("{what}: {e}"))
}

fn certs(pem: &str) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_err("certificate", e))
}

fn key(pem: &str) -> Result<rustls::pki_types::PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| tls_err("key", e))?
        .ok_or_else(|| tls_err("key", "no private key in the PEM"))
}

fn roots(ca_pem: &str) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots
            .add(c)
            .map_err(|e| tls_err("host CA certificate", e))?;
    }
    Ok(roots)
}

/// The agent's TLS: its own certificate, and a client certificate signed by the host CA required of every caller.
pub fn server_config(ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(ca_pem)?),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_err("client verifier", e))?;
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("server", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)
        .map_err(|e| tls_err("agent certificate", e))
}

/// Why a call to an agent did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The agent could not be reached, or did not answer in time: its host may be lost.
    #[error("{0}")]
    Unreachable(String),
    /// The agent answered and refused (fenced, or the call failed there).
    #[error("{0}")]
    Refused(String),
}

/// The leader's side of the channel to one agent.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
}

/// How long a call may take beyond its own work (a start waits for the node, a stop for its grace).
const CALL_MARGIN: Duration = Duration::from_secs(10);

impl Client {
    /// A client of the agent at `url` (`https://<address>:<port>`), trusting the host CA `ca_pem` and presenting
    /// the control plane's certificate.
    pub fn new(url: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Result<Client> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut chain = certs(cert_pem)?;
        chain.extend(certs(ca_pem)?);
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("client", e))?
            .with_root_certificates(roots(ca_pem)?)
            .with_client_auth_cert(chain, key(key_pem)?)
            .map_err(|e| tls_err("control certificate", e))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| tls_err("agent client", e))?;
        Ok(Client {
            http,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `call` as generation `generation`.
    pub async fn call(
        &self,
        generation: u64,
        call: &Call,
    ) -> std::result::Result<Reply, CallError> {
        let within = match call {
            Call::Spawn { .. } | Call::StartMemcached { .. } => {
                process::READY_TIMEOUT + CALL_MARGIN
            }
            Call::StopMemcached { .. } => Duration::from_secs(5) + CALL_MARGIN,
            Call::Stop { grace_ms, .. } => Duration::from_millis(*grace_ms) + CALL_MARGIN,
            _ => CALL_MARGIN,
        };
        let r = self
            .http
            .post(format!("{}{CALL_PATH}", self.url))
            .header(GENERATION_HEADER, generation)
            .json(call)
            .timeout(within)
            .send()
            .await
            .map_err(|e| self.failed(e))?;
        let status = r.status();
        if !status.is_success() {
            let text = r.text().await.unwrap_or_default();
            return Err(CallError::Refused(format!(
                "host agent {} refused the call ({status}): {text}",
                self.url
            )));
        }
        r.json().await.map_err(|e| self.failed(e))
    }

    fn failed(&self, e: reqwest::Error) -> CallError {
        // The causes too ("error sending request" alone says nothing of why).
        let mut text = format!("host agent {}: {e}", self.url);
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        // Not reached at all, or no answer in time: the host may be gone. Anything else was an answer.
        if e.is_connect() || e.is_timeout() {
            CallError::Unreachable(text)
        } else {
            CallError::Refused(text)
        }
    }

    /// The agent's report once its exits differ from `after` (or after [`REPORT_WAIT`]); the read carries the
    /// caller's generation, so an agent learns of a new leader from its first read.
    pub async fn report(
        &self,
        generation: u64,
        after: u64,
    ) -> std::result::Result<Report, CallError> {
        let r = self
            .http
            .get(format!("{}{REPORT_PATH}?after={after}", self.url))
            .header(GENERATION_HEADER, generation)
            .timeout(REPORT_WAIT + Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| self.failed(e))?;
        if !r.status().is_success() {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return Err(CallError::Refused(format!(
                "host agent {}: {status}: {text}",
                self.url
            )));
        }
        r.json().await.map_err(|e| self.failed(e))
    }
}
