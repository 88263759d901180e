//! What the nodes report, kept in memory only: the pid of each node's process and the role it last reported.
//! "Unknown" (no entry, or `role: None`) means not observed since this daemon started.

use std::collections::HashMap;
use std::sync::RwLock;

use engine::admin::Role;

/// The last observation of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeObservation {
    pub pid: Option<u32>,
    /// For a node this daemon started: turns true when the process exits.
    pub exited: Option<tokio::sync::watch::Receiver<bool>>,
    pub role: Option<Role>,
    /// The ACL last applied to the running process: its pid and [`engine::config::NodeSpec::acl_fingerprint`].
    pub acl: Option<(u32, String)>,
}

/// Observations by member cluster id.
#[derive(Debug, Default)]
pub struct Observations {
    nodes: RwLock<HashMap<String, NodeObservation>>,
}

impl Observations {
    pub fn get(&self, cluster_id: &str) -> Option<NodeObservation> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(cluster_id)
            .cloned()
    }

    pub fn update(&self, cluster_id: &str, f: impl FnOnce(&mut NodeObservation)) {
        let mut m = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        f(m.entry(cluster_id.to_string()).or_default());
    }

    pub fn remove(&self, cluster_id: &str) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cluster_id);
    }
}
