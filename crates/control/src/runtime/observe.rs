//! What the nodes report, kept in memory only: the pid of each node's process and the role it last reported.
//! "Unknown" (no entry, or `role: None`) means not observed since this daemon started.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Instant;

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
    /// The parameter group settings last applied to the running process: its pid and
    /// [`engine::config::NodeSpec::settings_fingerprint`].
    pub settings: Option<(u32, String)>,
    /// Settings that take effect at the node's next start differ from what it runs with (`pending-reboot`).
    pub pending_reboot: bool,
    /// The node is loading its dataset (after a start, or a full sync's payload): how far it has got.
    pub load: Option<Wait>,
    /// The node is a replica not yet linked to its primary (waiting for, or receiving, a full sync).
    pub sync: Option<Wait>,
    /// A cluster node that serves and whose slot map is right (every shard's slots served by its primary): a
    /// cluster client may ask it for the topology, so the configuration endpoint may send clients to it.
    pub cluster_map_right: bool,
}

/// A wait on a node's data (a load, or a replica's sync), followed across looks: when it began, how many bytes
/// were done at the last look and when that number last grew. Judged by [`crate::rules::progress::judge`].
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub since: Instant,
    /// What the node is doing: `loading`, `receiving` (a full sync's payload), `waiting for the primary`.
    pub phase: &'static str,
    /// Bytes done, and the total when the engine says (0 when not known).
    pub done: u64,
    pub total: u64,
    /// The size of the data the wait is for: what its deadline is computed from.
    pub size: u64,
    /// When `done` last grew; `None` while no byte has moved.
    pub grew: Option<Instant>,
    /// The engine's own estimate of the seconds left, when it gives one.
    pub eta_seconds: Option<u64>,
}

impl Wait {
    /// The wait after a look at `now` that found `done` of `total` bytes, for `size` bytes of data; `prev` is the
    /// same wait at the look before.
    pub fn next(
        prev: Option<&Wait>,
        now: Instant,
        phase: &'static str,
        done: u64,
        total: u64,
        size: u64,
        eta_seconds: Option<u64>,
    ) -> Wait {
        let grew = match prev {
            Some(p) if done == p.done => p.grew,
            Some(p) if done < p.done => Some(now), // started over (a new sync): moving again
            _ if done > 0 => Some(now),
            _ => None,
        };
        Wait {
            since: prev.map_or(now, |p| p.since),
            phase,
            done,
            total,
            size: size.max(prev.map_or(0, |p| p.size)),
            grew,
            eta_seconds,
        }
    }

    /// The load wait after a look at `now` that found the node loading as `p` reports.
    pub fn of_load(prev: Option<&Wait>, now: Instant, p: &engine::admin::LoadProgress) -> Wait {
        Wait::next(
            prev,
            now,
            "loading",
            p.loaded_bytes,
            p.total_bytes,
            p.rdb_used_memory.max(p.total_bytes),
            p.eta_seconds,
        )
    }

    pub fn verdict(&self, now: Instant) -> crate::rules::progress::Verdict {
        crate::rules::progress::judge(
            now.duration_since(self.since),
            self.grew.map(|g| now.duration_since(g)),
            self.size,
        )
    }

    /// Percent done, when the total is known.
    pub fn percent(&self) -> Option<f64> {
        (self.total > 0).then(|| (self.done as f64 * 100.0 / self.total as f64).min(100.0))
    }
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
