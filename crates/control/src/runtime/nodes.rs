//! The daemon's own [`Nodes`]: the engine processes of this machine, run through `engine::process`, watched by
//! the health monitor, with what was observed of them kept in memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use engine::config::NodeSpec;
use engine::memcached::MemcachedNode;
use engine::process::{self, Spawned};
use engine::secret::AdminCredentials;

use super::monitor::{self, Monitor};
use super::observe::Observations;
use crate::error::Result;
use crate::workflows::host::{DirChange, Health, NodeObservation, Nodes, Target};

/// The processes of this machine.
pub struct LocalNodes {
    pub admin: AdminCredentials,
    pub observed: Arc<Observations>,
    pub monitor: Arc<Monitor>,
}

#[async_trait::async_trait]
impl Nodes for LocalNodes {
    fn admin(&self) -> &AdminCredentials {
        &self.admin
    }

    fn observed(&self, name: &str) -> Option<NodeObservation> {
        self.observed.get(name)
    }

    fn record(&self, name: &str, f: &mut dyn FnMut(&mut NodeObservation)) {
        self.observed.update(name, f)
    }

    fn forget(&self, name: &str) {
        self.observed.remove(name)
    }

    fn health(&self, name: &str) -> Health {
        self.monitor.health(name)
    }

    fn watch(&self, target: Target) {
        self.monitor
            .ensure(&self.admin, target, Arc::new(monitor::LocalProcesses))
    }

    fn unwatch(&self, name: &str) {
        self.monitor.forget(name)
    }

    async fn answers_now(&self, spec: &NodeSpec, pid: u32) -> bool {
        monitor::answers_now(
            &monitor::LocalProcesses,
            pid,
            &spec.node_addr(),
            &self.admin,
        )
        .await
    }

    fn is_alive(&self, _spec: &NodeSpec, pid: u32) -> bool {
        process::is_redis_alive(pid)
    }

    async fn pid_file(&self, spec: &NodeSpec) -> Option<u32> {
        process::read_pid(spec)
    }

    async fn pids_serving(&self, _spec: &NodeSpec, addr: SocketAddr) -> Vec<u32> {
        process::pids_serving(addr)
    }

    async fn adopt(&self, spec: &NodeSpec) -> Option<u32> {
        process::adopt(spec, &self.admin).await
    }

    async fn spawn(&self, spec: &NodeSpec) -> Result<Spawned> {
        Ok(process::spawn(spec, &self.admin).await?)
    }

    async fn stop(&self, _spec: &NodeSpec, pid: u32, grace: Duration) {
        process::stop(pid, grace).await
    }

    async fn kill_now(&self, _spec: &NodeSpec, pid: u32) -> bool {
        process::kill_now(pid).await
    }

    async fn accepts(&self, addr: SocketAddr) -> bool {
        process::accepts(addr).await
    }

    async fn remove_dir(&self, spec: &NodeSpec) -> Result<()> {
        Ok(process::remove_dir(&spec.dir)?)
    }

    async fn change_dir(&self, spec: &NodeSpec, change: DirChange) -> Result<()> {
        Ok(process::change_dir(spec, change)?)
    }

    async fn read_log(
        &self,
        spec: &NodeSpec,
        offset: Option<u64>,
        max: usize,
    ) -> Result<(Vec<String>, u64)> {
        Ok(engine::logs::read_log(&spec.log_path(), offset, max)?)
    }

    fn host_silence(&self, _host: &engine::spec::NodeHost) -> crate::workflows::host::Silence {
        crate::workflows::host::Silence {
            heard_ago: Some(Duration::ZERO),
            watched_for: Duration::ZERO,
        }
    }

    fn nodes_on(&self, _host: &engine::spec::NodeHost) -> Option<Vec<String>> {
        None
    }

    fn host_memory(&self, _host: &engine::spec::NodeHost) -> Option<(u64, Vec<String>)> {
        None
    }

    fn resident_bytes(&self, host: Option<&engine::spec::NodeHost>, pid: u32) -> Option<u64> {
        host.is_none()
            .then(|| engine::process::resident_bytes(pid))
            .flatten()
    }

    async fn remove_node_on(&self, host: &engine::spec::NodeHost, _name: &str) -> Result<()> {
        Err(crate::error::ControlError::Internal(format!(
            "host {} is not this machine",
            host.name
        )))
    }

    async fn memcached_pid(&self, node: &MemcachedNode) -> Result<Option<u32>> {
        Ok(node.running_pid())
    }

    async fn start_memcached(&self, node: &MemcachedNode) -> Result<u32> {
        Ok(node.start().await?)
    }

    async fn stop_memcached(&self, node: &MemcachedNode) -> Result<()> {
        node.stop().await;
        Ok(())
    }

    async fn remove_memcached(&self, node: &MemcachedNode) -> Result<()> {
        node.stop().await;
        Ok(process::remove_dir(&node.dir)?)
    }
}
