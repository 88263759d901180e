//! The daemon's [`Nodes`] when nodes may run on other hosts: a node whose spec names a host is reached through that
//! host's agent (`engine::agent`), with the leader's generation on every call; any other node is this machine's
//! ([`LocalNodes`]). What is observed of nodes, their health and the monitor's probes are one set for all hosts:
//! the monitor pings every node over the network, and looks at a remote node's process in its agent's last report.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use engine::agent::{Call, CallError, Client, Reply, Report};
use engine::config::NodeSpec;
use engine::memcached::MemcachedNode;
use engine::process::Spawned;
use engine::secret::AdminCredentials;
use engine::spec::NodeHost;
use tokio::sync::watch;

use super::monitor::{self, Look, ProcessLook};
use super::nodes::LocalNodes;
use crate::error::{ControlError, Result};
use crate::workflows::host::{DirChange, Health, NodeObservation, Nodes, Target};

/// A report asked for longer ago than this says nothing of the processes now: the agent is silent (stopped,
/// partitioned, or its machine lost), and its nodes are judged by their answers alone.
pub const REPORT_STALE: Duration = Duration::from_secs(1);

/// How the control plane proves itself to agents, and knows them.
#[derive(Clone)]
pub struct Channel {
    /// The host CA's certificate (PEM): it signed every agent's certificate.
    pub ca: String,
    /// The control plane's client certificate and key (PEM).
    pub identity: engine::tls::Identity,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channel")
    }
}

/// The nodes of this machine and of every host.
pub struct HostNodes {
    pub local: LocalNodes,
    channel: Channel,
    /// The node CA: a node with TLS on a host gets a certificate it signed with each start.
    node_ca: Arc<engine::tls::Authority>,
    /// The generation this daemon leads under, sent with every call.
    generation: Arc<AtomicI64>,
    /// Which engine each registered binary runs (the agent runs its own binary of that engine and version).
    engines: HashMap<PathBuf, String>,
    agents: Mutex<HashMap<NodeHost, Arc<Agent>>>,
}

/// One host's agent, as the leader knows it.
struct Agent {
    client: Client,
    /// When the agent was first needed, and when it last reported.
    since: Instant,
    heard: Mutex<Option<Instant>>,
    /// The last report and when it was asked for.
    report: RwLock<Option<(Instant, Report)>>,
    /// When the leader learnt each process runs (a report asked before that does not know it yet).
    known: Mutex<HashMap<u32, Instant>>,
    /// The processes started through this agent, each told when its exit is reported.
    exits: Mutex<HashMap<u32, watch::Sender<bool>>>,
}

impl Agent {
    fn silence(&self) -> crate::workflows::host::Silence {
        let heard = *self.heard.lock().unwrap_or_else(|p| p.into_inner());
        crate::workflows::host::Silence {
            heard_ago: heard.map(|h| h.elapsed()),
            watched_for: self.since.elapsed(),
        }
    }

    fn look(&self, pid: u32) -> Look {
        let report = self.report.read().unwrap_or_else(|p| p.into_inner());
        let Some((asked, r)) = report.as_ref() else {
            return Look::Unknown;
        };
        if asked.elapsed() > REPORT_STALE {
            return Look::Unknown;
        }
        let learnt = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&pid)
            .copied();
        if learnt.is_some_and(|t| t > *asked) {
            return Look::Unknown;
        }
        match r.processes.get(&pid) {
            Some(&(state, cpu)) => Look::Running { state, cpu },
            None => Look::Gone,
        }
    }

    fn learnt(&self, pid: u32) {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pid, Instant::now());
    }

    /// Keeps the newest report, and tells of every started process it shows gone.
    fn reported(&self, asked: Instant, r: Report) {
        let gone: Vec<u32> = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let exits = self.exits.lock().unwrap_or_else(|p| p.into_inner());
            exits
                .keys()
                .filter(|pid| {
                    known.get(pid).is_none_or(|t| *t <= asked) && !r.processes.contains_key(pid)
                })
                .copied()
                .collect()
        };
        // What the leader learnt of processes this report shows gone is forgotten: the map holds live ones only.
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|pid, t| *t > asked || r.processes.contains_key(pid));
        *self.report.write().unwrap_or_else(|p| p.into_inner()) = Some((asked, r));
        *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let mut exits = self.exits.lock().unwrap_or_else(|p| p.into_inner());
        for pid in gone {
            if let Some(tx) = exits.remove(&pid) {
                let _ = tx.send(true);
            }
        }
    }
}

/// The monitor's look at a remote node's process: its agent's last report.
struct RemoteLook(Arc<Agent>);

impl ProcessLook for RemoteLook {
    fn look(&self, pid: u32) -> Look {
        self.0.look(pid)
    }
}

/// Reads an agent's reports for as long as the agent is known, each as soon as the last one came, as generation
/// `generation`.
async fn poll_reports(agent: Weak<Agent>, generation: Arc<AtomicI64>) {
    let mut after = 0;
    loop {
        let Some(a) = agent.upgrade() else { return };
        let client = a.client.clone();
        drop(a);
        let asked = Instant::now();
        let g = generation.load(Ordering::SeqCst).max(0) as u64;
        match client.report(g, after).await {
            Ok(r) => {
                after = r.exits;
                match agent.upgrade() {
                    Some(a) => a.reported(asked, r),
                    None => return,
                }
            }
            Err(e) => {
                tracing::debug!(agent = client.url(), error = %e, "no report from the host agent");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

impl HostNodes {
    pub fn new(
        local: LocalNodes,
        channel: Channel,
        node_ca: Arc<engine::tls::Authority>,
        generation: Arc<AtomicI64>,
        engines: HashMap<PathBuf, String>,
    ) -> Self {
        HostNodes {
            local,
            channel,
            node_ca,
            generation,
            engines,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// The agent of `host`, reading its reports from the first time it is needed.
    fn agent(&self, host: &NodeHost) -> Result<Arc<Agent>> {
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = agents.get(host) {
            return Ok(a.clone());
        }
        let client = Client::new(
            &host.url,
            &self.channel.ca,
            &self.channel.identity.cert,
            &self.channel.identity.key,
        )?;
        let a = Arc::new(Agent {
            client,
            since: Instant::now(),
            heard: Mutex::new(None),
            report: RwLock::new(None),
            known: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
        });
        tokio::spawn(poll_reports(Arc::downgrade(&a), self.generation.clone()));
        agents.insert(host.clone(), a.clone());
        Ok(a)
    }

    async fn call(&self, host: &NodeHost, call: Call) -> Result<Reply> {
        self.try_call(host, call)
            .await
            .map_err(|e| ControlError::Internal(format!("host {}: {e}", host.name)))
    }

    /// Sends `call` to `host`'s agent; at once `Unreachable` when the agent has not reported for [`REPORT_STALE`]
    /// (a call to a lost machine would wait for its connection's timeout, and a failover with it).
    async fn try_call(&self, host: &NodeHost, call: Call) -> std::result::Result<Reply, CallError> {
        let agent = self
            .agent(host)
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let silent = agent.silence();
        if silent.watched_for > REPORT_STALE && silent.heard_ago.is_none_or(|d| d > REPORT_STALE) {
            return Err(CallError::Unreachable(format!(
                "its agent has not reported for {} ms",
                silent.heard_ago.unwrap_or(silent.watched_for).as_millis()
            )));
        }
        let generation = self.generation.load(Ordering::SeqCst).max(0) as u64;
        agent.client.call(generation, &call).await
    }

    fn engine_of(&self, spec: &NodeSpec) -> Result<String> {
        self.engines.get(&spec.binary).cloned().ok_or_else(|| {
            ControlError::Internal(format!(
                "no engine registered for {}",
                spec.binary.display()
            ))
        })
    }

    /// The agent's last report, when it was asked for lately.
    fn fresh_report(&self, host: &NodeHost) -> Option<Report> {
        let agent = self.agent(host).ok()?;
        Self::fresh(&agent)
    }

    /// [`Self::fresh_report`] of an agent this daemon talks to already (none is made: an action's check may ask
    /// on a daemon that does not lead).
    fn known_report(&self, host: &NodeHost) -> Option<Report> {
        let agent = self
            .agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .cloned()?;
        Self::fresh(&agent)
    }

    fn fresh(agent: &Agent) -> Option<Report> {
        let r = agent.report.read().unwrap_or_else(|p| p.into_inner());
        r.as_ref()
            .filter(|(asked, _)| asked.elapsed() <= REPORT_STALE)
            .map(|(_, r)| r.clone())
    }
}

fn unexpected(host: &NodeHost, r: &Reply) -> ControlError {
    ControlError::Internal(format!("host {} answered {r:?}", host.name))
}

#[async_trait::async_trait]
impl Nodes for HostNodes {
    fn admin(&self) -> &AdminCredentials {
        self.local.admin()
    }

    fn observed(&self, name: &str) -> Option<NodeObservation> {
        self.local.observed(name)
    }

    fn record(&self, name: &str, f: &mut dyn FnMut(&mut NodeObservation)) {
        self.local.record(name, f)
    }

    fn forget(&self, name: &str) {
        self.local.forget(name)
    }

    fn health(&self, name: &str) -> Health {
        self.local.health(name)
    }

    fn watch(&self, target: Target) {
        let look: Arc<dyn ProcessLook> = match target.host.as_ref().map(|h| self.agent(h)) {
            None => Arc::new(monitor::LocalProcesses),
            Some(Ok(a)) => Arc::new(RemoteLook(a)),
            Some(Err(e)) => {
                tracing::error!(node = %target.name, error = %e, "cannot reach the node's host to watch it");
                return;
            }
        };
        self.local.monitor.ensure(self.local.admin(), target, look)
    }

    fn unwatch(&self, name: &str) {
        self.local.unwatch(name)
    }

    async fn answers_now(&self, spec: &NodeSpec, pid: u32) -> bool {
        let Some(host) = &spec.host else {
            return self.local.answers_now(spec, pid).await;
        };
        let Ok(agent) = self.agent(host) else {
            return false;
        };
        monitor::answers_now(
            &RemoteLook(agent),
            pid,
            &spec.node_addr(),
            self.local.admin(),
        )
        .await
    }

    fn is_alive(&self, spec: &NodeSpec, pid: u32) -> bool {
        match &spec.host {
            None => self.local.is_alive(spec, pid),
            Some(host) => self.agent(host).is_ok_and(|a| a.look(pid) != Look::Gone),
        }
    }

    async fn pid_file(&self, spec: &NodeSpec) -> Option<u32> {
        let Some(host) = &spec.host else {
            return self.local.pid_file(spec).await;
        };
        // A fresh report says; else the agent is asked (a leader that just began has no report yet).
        if let Some(r) = self.fresh_report(host) {
            return r.pid_files.get(&spec.name).copied();
        }
        let name = spec.name.clone();
        match self.call(host, Call::PidFile { name }).await {
            Ok(Reply::Pid(pid)) => pid,
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(node = %spec.name, error = %e, "cannot read the node's pid file on its host");
                None
            }
        }
    }

    async fn pids_serving(&self, spec: &NodeSpec, addr: SocketAddr) -> Vec<u32> {
        let Some(host) = &spec.host else {
            return self.local.pids_serving(spec, addr).await;
        };
        match self.call(host, Call::PidsServing { addr }).await {
            Ok(Reply::Pids(p)) => p,
            Ok(r) => {
                tracing::warn!(error = %unexpected(host, &r), "pids serving");
                vec![]
            }
            Err(e) => {
                tracing::warn!(node = %spec.name, error = %e, "cannot ask the host which processes serve the node");
                vec![]
            }
        }
    }

    async fn adopt(&self, spec: &NodeSpec) -> Option<u32> {
        let Some(host) = &spec.host else {
            return self.local.adopt(spec).await;
        };
        let call = Call::Adopt {
            spec: Box::new(spec.clone()),
            engine: self.engine_of(spec).ok()?,
            admin: self.local.admin().clone(),
        };
        match self.call(host, call).await {
            Ok(Reply::Pid(Some(pid))) => {
                self.agent(host).ok()?.learnt(pid);
                Some(pid)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(node = %spec.name, error = %e, "cannot ask the host to adopt the node");
                None
            }
        }
    }

    async fn spawn(&self, spec: &NodeSpec) -> Result<Spawned> {
        let Some(host) = &spec.host else {
            return self.local.spawn(spec).await;
        };
        let tls = match &spec.tls {
            Some(t) => Some(self.node_ca.node_pem(&t.addresses, &t.names)?),
            None => None,
        };
        let call = Call::Spawn {
            spec: Box::new(spec.clone()),
            engine: self.engine_of(spec)?,
            admin: self.local.admin().clone(),
            tls,
        };
        match self.call(host, call).await? {
            Reply::Pid(Some(pid)) => {
                let agent = self.agent(host)?;
                agent.learnt(pid);
                let (tx, exited) = watch::channel(false);
                agent
                    .exits
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(pid, tx);
                Ok(Spawned { pid, exited })
            }
            r => Err(unexpected(host, &r)),
        }
    }

    async fn stop(&self, spec: &NodeSpec, pid: u32, grace: Duration) {
        let Some(host) = &spec.host else {
            return self.local.stop(spec, pid, grace).await;
        };
        let call = Call::Stop {
            pid,
            grace_ms: grace.as_millis() as u64,
        };
        if let Err(e) = self.call(host, call).await {
            tracing::warn!(node = %spec.name, error = %e, "cannot ask the host to stop the node");
        }
    }

    async fn kill_now(&self, spec: &NodeSpec, pid: u32) -> bool {
        let Some(host) = &spec.host else {
            return self.local.kill_now(spec, pid).await;
        };
        match self.try_call(host, Call::Kill { pid }).await {
            Ok(Reply::Done(dead)) => dead,
            Ok(_) => false,
            Err(e @ CallError::Refused(_)) => {
                tracing::warn!(node = %spec.name, error = %e, "the host refused to kill the node");
                false
            }
            // The host does not answer (lost, or cut off): the node counts as dead when nothing answers at its
            // address either. Should the host come back, its agent obeys the new leader's generation only, and the
            // node, no longer placed there, is removed (see `workflows::hosts`).
            Err(e @ CallError::Unreachable(_)) => {
                let answers = self.local.accepts(spec.node_addr().reach()).await;
                tracing::warn!(node = %spec.name, error = %e, answers,
                    "cannot ask the host to kill the node; counted dead when nothing answers at its address");
                !answers
            }
        }
    }

    async fn accepts(&self, addr: SocketAddr) -> bool {
        self.local.accepts(addr).await
    }

    async fn remove_dir(&self, spec: &NodeSpec) -> Result<()> {
        let Some(host) = &spec.host else {
            return self.local.remove_dir(spec).await;
        };
        let name = spec.name.clone();
        // A host that does not answer (lost) keeps the directory until it reports again: the node is then placed
        // there no more, and the host's strays are removed (`workflows::hosts`). A removal never waits on it.
        if let Err(e) = self.call(host, Call::RemoveDir { name }).await {
            tracing::warn!(node = %spec.name, error = %e,
                "the node's host does not answer: its directory is removed when the host reports again");
        }
        Ok(())
    }

    async fn read_log(
        &self,
        spec: &NodeSpec,
        offset: Option<u64>,
        max: usize,
    ) -> Result<(Vec<String>, u64)> {
        let Some(host) = &spec.host else {
            return self.local.read_log(spec, offset, max).await;
        };
        let name = spec.name.clone();
        match self.call(host, Call::ReadLog { name, offset, max }).await? {
            Reply::Log { lines, next } => Ok((lines, next)),
            r => Err(unexpected(host, &r)),
        }
    }

    fn host_silence(&self, host: &NodeHost) -> crate::workflows::host::Silence {
        match self.agent(host) {
            Ok(a) => a.silence(),
            Err(_) => crate::workflows::host::Silence {
                heard_ago: None,
                watched_for: Duration::MAX,
            },
        }
    }

    fn nodes_on(&self, host: &NodeHost) -> Option<Vec<String>> {
        self.fresh_report(host).map(|r| r.dirs)
    }

    fn host_memory(&self, host: &NodeHost) -> Option<(u64, Vec<String>)> {
        let r = self.fresh_report(host)?;
        Some((r.memory_available?, r.pid_files.into_keys().collect()))
    }

    fn resident_bytes(&self, host: Option<&NodeHost>, pid: u32) -> Option<u64> {
        match host {
            None => self.local.resident_bytes(None, pid),
            Some(h) => self.known_report(h)?.resident.get(&pid).copied(),
        }
    }

    async fn remove_node_on(&self, host: &NodeHost, name: &str) -> Result<()> {
        let name = name.to_string();
        self.call(host, Call::RemoveDir { name }).await.map(|_| ())
    }

    async fn memcached_pid(&self, node: &MemcachedNode) -> Result<Option<u32>> {
        let Some(host) = &node.host else {
            return self.local.memcached_pid(node).await;
        };
        // A fresh report that shows it running says so; otherwise the agent is asked (a node started since the
        // report was asked for is not in it).
        if let Some(r) = self.fresh_report(host) {
            if let Some(pid) = r.pid_files.get(&node.name).copied() {
                if r.processes.contains_key(&pid) {
                    return Ok(Some(pid));
                }
            }
        }
        let name = node.name.clone();
        match self.call(host, Call::MemcachedPid { name }).await? {
            Reply::Pid(pid) => Ok(pid),
            r => Err(unexpected(host, &r)),
        }
    }

    async fn start_memcached(&self, node: &MemcachedNode) -> Result<u32> {
        let Some(host) = &node.host else {
            return self.local.start_memcached(node).await;
        };
        let tls = match &node.tls {
            Some(_) => Some(self.node_ca.node_pem(&[node.addr.ip()], &[])?),
            None => None,
        };
        let call = Call::StartMemcached {
            node: Box::new(node.clone()),
            tls,
        };
        match self.call(host, call).await? {
            Reply::Pid(Some(pid)) => {
                self.agent(host)?.learnt(pid);
                Ok(pid)
            }
            r => Err(unexpected(host, &r)),
        }
    }

    async fn stop_memcached(&self, node: &MemcachedNode) -> Result<()> {
        let Some(host) = &node.host else {
            return self.local.stop_memcached(node).await;
        };
        let name = node.name.clone();
        self.call(host, Call::StopMemcached { name })
            .await
            .map(|_| ())
    }

    async fn remove_memcached(&self, node: &MemcachedNode) -> Result<()> {
        let Some(host) = &node.host else {
            return self.local.remove_memcached(node).await;
        };
        self.stop_memcached(node).await?;
        self.remove_node_on(host, &node.name).await
    }

    async fn change_dir(&self, spec: &NodeSpec, change: DirChange) -> Result<()> {
        let Some(host) = &spec.host else {
            return self.local.change_dir(spec, change).await;
        };
        let name = spec.name.clone();
        self.call(host, Call::ChangeDir { name, change })
            .await
            .map(|_| ())
    }
}
