//! What the web console shows that the API does not: the list of everything running with its counts, and a
//! group's live page (its nodes as they report themselves, long operations with their progress, and each node's
//! figures of the last hour). The console's actions and the rest of its views go through the API itself.
//!
//! Nothing here carries a secret: no AUTH token, user password or admin credential is in these views.

use std::collections::HashMap;

use crate::error::{ControlError, Result};
use crate::metrics::Sample;
use crate::status::GroupReport;
use crate::Control;

/// One line of the console's list: a replication group or a cache cluster outside one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Entry {
    /// `replication-group` or `cache-cluster`.
    pub kind: &'static str,
    pub id: String,
    pub status: String,
    pub engine: String,
    pub engine_version: String,
    pub cache_node_type: String,
    /// `disabled`, `compatible` or `enabled` (Redis and Valkey); empty for Memcached.
    pub cluster_mode: &'static str,
    pub shards: usize,
    pub nodes: usize,
}

/// A node's figures over the last hour, a point a collection.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeSeries {
    pub cache_cluster_id: String,
    pub used_memory: Option<u64>,
    pub max_memory: Option<u64>,
    pub clients: Option<u64>,
    /// Unix seconds of each point.
    pub at: Vec<i64>,
    /// Commands a second since the previous point.
    pub ops_per_second: Vec<Option<f64>>,
    pub used_memory_bytes: Vec<Option<u64>>,
    /// How far its offset was behind its shard's primary at that collection (0 for the primary).
    pub lag_bytes: Vec<Option<i64>>,
}

/// A group's live page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupPage {
    pub report: GroupReport,
    pub series: Vec<NodeSeries>,
    /// Seconds between collections.
    pub interval_seconds: u64,
}

impl Control {
    /// Every replication group and cache cluster, sorted by id.
    pub fn console_list(&self) -> Vec<Entry> {
        let st = self.state();
        let mut out = Vec::new();
        for g in st.groups.values() {
            out.push(Entry {
                kind: if g.standalone {
                    "cache-cluster"
                } else {
                    "replication-group"
                },
                id: g.id.clone(),
                status: g.status.as_str().to_string(),
                engine: g.engine.clone(),
                engine_version: g.engine_version.clone(),
                cache_node_type: g.cache_node_type.clone(),
                cluster_mode: g.cluster_mode.as_str(),
                shards: g.shards.len(),
                nodes: g.members().count(),
            });
        }
        for c in st.memcached.values() {
            out.push(Entry {
                kind: "cache-cluster",
                id: c.id.clone(),
                status: c.status.as_str().to_string(),
                engine: "memcached".to_string(),
                engine_version: c.engine_version.clone(),
                cache_node_type: c.cache_node_type.clone(),
                cluster_mode: "",
                shards: 0,
                nodes: c.nodes.len(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// A replication group's live page: its nodes asked now, their figures from the collections of the last hour.
    pub async fn console_group(&self, id: &str, interval_seconds: u64) -> Result<GroupPage> {
        let g = self
            .state()
            .replication_group(id)
            .cloned()
            .ok_or_else(|| ControlError::ReplicationGroupNotFound(id.to_string()))?;
        let report =
            crate::status::group_report(&g, &self.inner.admin, &self.inner.settings.data_dir).await;
        let names: Vec<String> = g.members().map(|m| m.cluster_id.clone()).collect();
        let history = self.node_history(&names).await;
        let mut series = Vec::new();
        for s in &report.shards {
            // The primary's offset at each collection, for its replicas' lag then.
            let primary_offsets: HashMap<i64, i64> = s
                .nodes
                .iter()
                .filter_map(|n| history.get(&n.cache_cluster_id))
                .flatten()
                .filter(|p| p.primary == Some(true))
                .filter_map(|p| Some((p.at, p.offset?)))
                .collect();
            for n in &s.nodes {
                let h = history
                    .get(&n.cache_cluster_id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                series.push(node_series(&n.cache_cluster_id, h, &primary_offsets));
            }
        }
        Ok(GroupPage {
            report,
            series,
            interval_seconds,
        })
    }
}

fn node_series(id: &str, h: &[Sample], primary_offsets: &HashMap<i64, i64>) -> NodeSeries {
    let last = h.last();
    let mut out = NodeSeries {
        cache_cluster_id: id.to_string(),
        used_memory: last.and_then(|s| s.used_memory),
        max_memory: last.and_then(|s| s.max_memory),
        clients: last.and_then(|s| s.clients),
        at: Vec::with_capacity(h.len()),
        ops_per_second: Vec::with_capacity(h.len()),
        used_memory_bytes: Vec::with_capacity(h.len()),
        lag_bytes: Vec::with_capacity(h.len()),
    };
    for (i, s) in h.iter().enumerate() {
        out.at.push(s.at);
        let rate = i.checked_sub(1).map(|p| &h[p]).and_then(|p| {
            let (a, b) = (p.commands?, s.commands?);
            // A restart resets the counter: no rate across it.
            (b >= a && s.at > p.at).then(|| (b - a) as f64 / (s.at - p.at) as f64)
        });
        out.ops_per_second.push(rate);
        out.used_memory_bytes.push(s.used_memory);
        out.lag_bytes.push(if s.primary == Some(true) {
            Some(0)
        } else {
            match (primary_offsets.get(&s.at), s.offset) {
                (Some(p), Some(o)) => Some((p - o).max(0)),
                _ => None,
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64, commands: u64, offset: i64, primary: bool) -> Sample {
        Sample {
            at,
            commands: Some(commands),
            used_memory: Some(1000 + at as u64),
            max_memory: Some(1 << 20),
            clients: Some(2),
            offset: Some(offset),
            primary: Some(primary),
        }
    }

    #[test]
    fn rates_and_lag_come_from_consecutive_collections() {
        let primary_offsets = HashMap::from([(100, 500), (105, 900), (110, 1000)]);
        let h = [
            sample(100, 10, 400, false),
            sample(105, 60, 900, false),
            // Restarted: the counter went back, no rate across it.
            sample(110, 5, 700, false),
        ];
        let s = node_series("g-002", &h, &primary_offsets);
        assert_eq!(s.at, vec![100, 105, 110]);
        assert_eq!(s.ops_per_second, vec![None, Some(10.0), None]);
        assert_eq!(s.lag_bytes, vec![Some(100), Some(0), Some(300)]);
        assert_eq!(s.used_memory, Some(1110));
        let p = node_series("g-001", &[sample(100, 10, 500, true)], &primary_offsets);
        assert_eq!(p.lag_bytes, vec![Some(0)]);
    }
}
