//! What the nodes report, kept in memory only: the pid of each node's process and the role it last reported.
//! "Unknown" (no entry, or `role: None`) means not observed since this daemon started.

use std::collections::HashMap;
use std::sync::RwLock;

pub use crate::workflows::host::{NodeObservation, Wait};

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

    /// The pids of every node observed running.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|o| o.pid)
            .collect()
    }

    pub fn remove(&self, cluster_id: &str) {
        self.nodes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cluster_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::progress::Verdict;
    use std::time::Duration;
    use std::time::Instant;

    #[test]
    fn a_wait_remembers_when_its_bytes_last_moved() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // No byte yet: only the deadline counts.
        let w = Wait::next(None, t0, "waiting for the primary", 0, 0, 1 << 30, None);
        assert_eq!(w.grew, None);
        // Bytes move: noted; the start stays the first look's.
        let w = Wait::next(Some(&w), t0 + s(10), "receiving", 100, 1000, 0, None);
        assert_eq!((w.since, w.grew), (t0, Some(t0 + s(10))));
        assert_eq!(w.size, 1 << 30, "the size never shrinks");
        assert_eq!(w.percent(), Some(10.0));
        // Still for 61 s: stuck.
        let w = Wait::next(Some(&w), t0 + s(71), "receiving", 100, 1000, 0, None);
        assert_eq!(w.grew, Some(t0 + s(10)));
        assert_eq!(w.verdict(t0 + s(71)), Verdict::Stalled);
        // A new phase starts its count over (loading after the transfer): moving again.
        let w = Wait::next(Some(&w), t0 + s(72), "loading", 5, 1000, 0, None);
        assert_eq!(w.grew, Some(t0 + s(72)));
        assert_eq!(w.verdict(t0 + s(72)), Verdict::OnItsWay);
    }
}
