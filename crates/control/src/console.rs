//! What the web console shows that the API does not: the list of everything running with its counts, a group's
//! or cache cluster's live page (its nodes as they report themselves, long operations with their progress, each
//! node's figures of the last hour with its clients' commands told apart from the control plane's own, and where
//! each node stands against its parameter group). The console's actions and the rest of its views go through the
//! API itself.
//!
//! Nothing here carries a secret: no AUTH token, user password or admin credential is in these views.

use std::collections::HashMap;

use engine::admin::NodeStats;

use crate::error::{ControlError, Result};
use crate::model::{ClusterMode, ReplicationGroup};
use crate::runtime::metrics::Sample;
use crate::status::{ClusterReport, GroupReport, ShardReport};
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
    /// `0001` for a Redis or Valkey cluster's node; a Memcached cluster's node id.
    pub cache_node_id: String,
    pub used_memory: Option<u64>,
    pub max_memory: Option<u64>,
    pub clients: Option<u64>,
    /// Items stored (Memcached).
    pub items: Option<u64>,
    /// Unix seconds of each point.
    pub at: Vec<i64>,
    /// Clients' commands a second since the previous point: what the node counted, less the commands this daemon
    /// sent it (health probes, `INFO`, the reconciler's reads) and replication's own (`REPLCONF`).
    pub ops_per_second: Vec<Option<f64>>,
    /// The commands a second this daemon sent the node meanwhile (left out of `ops_per_second`).
    pub control_ops_per_second: Vec<Option<f64>>,
    pub used_memory_bytes: Vec<Option<u64>>,
    /// How far its offset was behind its shard's primary at that collection (0 for the primary).
    pub lag_bytes: Vec<Option<i64>>,
}

/// Where a node stands against its parameter group, as `DescribeCacheClusters` says it (`ParameterApplyStatus`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeParameters {
    pub cache_cluster_id: String,
    /// `in-sync`, `applying`, or `pending-reboot` (settings taken at start wait for the node's reboot).
    pub status: &'static str,
    /// The nodes to reboot for them (`CacheNodeIdsToReboot`): `0001` when pending a reboot.
    pub cache_node_ids_to_reboot: Vec<String>,
}

/// A group's live page.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupPage {
    pub report: GroupReport,
    pub series: Vec<NodeSeries>,
    pub parameters: Vec<NodeParameters>,
    /// Whether `RebootCacheCluster` takes the group's nodes: not with cluster mode enabled (AWS's rule, `ha.rs`).
    pub rebootable: bool,
    /// Seconds between collections.
    pub interval_seconds: u64,
}

/// A cache cluster's live page (Memcached, or Redis or Valkey outside a group).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterPage {
    pub report: ClusterReport,
    pub series: Vec<NodeSeries>,
    pub parameters: Vec<NodeParameters>,
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
                cluster_mode: if g.standalone {
                    ""
                } else {
                    g.cluster_mode.as_str()
                },
                shards: if g.standalone { 0 } else { g.shards.len() },
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
        let series = self.redis_series(&g, &report.shards).await;
        Ok(GroupPage {
            parameters: self.parameters_of(&g),
            rebootable: g.cluster_mode != ClusterMode::Enabled,
            report,
            series,
            interval_seconds,
        })
    }

    /// A cache cluster's live page: a Memcached cluster's nodes as the collector last read them (their `stats`),
    /// with the configuration endpoint and the version of the node list it serves; a Redis or Valkey cluster's
    /// node asked now. Its figures from the collections of the last hour.
    pub async fn console_cluster(&self, id: &str, interval_seconds: u64) -> Result<ClusterPage> {
        let key = id.to_ascii_lowercase();
        let (memcached, standalone) = {
            let st = self.state();
            (
                st.memcached.get(&key).cloned(),
                st.groups.get(&key).filter(|g| g.standalone).cloned(),
            )
        };
        if let Some(g) = standalone {
            let report =
                crate::status::group_report(&g, &self.inner.admin, &self.inner.settings.data_dir)
                    .await;
            let series = self.redis_series(&g, &report.shards).await;
            return Ok(ClusterPage {
                parameters: self.parameters_of(&g),
                report: crate::status::standalone_report(report),
                series,
                interval_seconds,
            });
        }
        let c = memcached.ok_or_else(|| ControlError::CacheClusterNotFound(id.to_string()))?;
        let name = |n: &crate::model::McNode| format!("{}-{}", c.id, n.id);
        let names: Vec<String> = c.nodes.iter().map(name).collect();
        let history = self.node_history(&names).await;
        // A node's last reading, when it is from one of the last collections (an older one: it did not answer).
        let recent = crate::now().timestamp() - 2 * interval_seconds.max(1) as i64 - 1;
        let stats: HashMap<String, NodeStats> = c
            .nodes
            .iter()
            .filter_map(|n| {
                let last = history.get(&name(n))?.last().filter(|s| s.at >= recent)?;
                Some((
                    n.id.clone(),
                    NodeStats {
                        items: last.items,
                        used_memory: last.used_memory,
                        max_memory: last.max_memory,
                        clients: last.clients,
                        ..Default::default()
                    },
                ))
            })
            .collect();
        let series = c
            .nodes
            .iter()
            .map(|n| {
                let h = history.get(&name(n)).map(Vec::as_slice).unwrap_or(&[]);
                node_series(&c.id, &n.id, h, &HashMap::new())
            })
            .collect();
        Ok(ClusterPage {
            report: crate::status::memcached_report(&c, &stats),
            series,
            parameters: Vec::new(),
            interval_seconds,
        })
    }

    /// The figures of the last hour of the nodes of `shards` (a group's, as reported now).
    async fn redis_series(&self, g: &ReplicationGroup, shards: &[ShardReport]) -> Vec<NodeSeries> {
        let names: Vec<String> = g.members().map(|m| m.cluster_id.clone()).collect();
        let history = self.node_history(&names).await;
        let mut series = Vec::new();
        for s in shards {
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
                series.push(node_series(
                    &n.cache_cluster_id,
                    "0001",
                    h,
                    &primary_offsets,
                ));
            }
        }
        series
    }

    /// Each member's `ParameterApplyStatus`, as `DescribeCacheClusters` reports it.
    fn parameters_of(&self, g: &ReplicationGroup) -> Vec<NodeParameters> {
        g.members()
            .map(|m| {
                let status = self.parameter_status(&g.cache_parameter_group, g.release_of(m), m);
                NodeParameters {
                    cache_cluster_id: m.cluster_id.clone(),
                    status,
                    cache_node_ids_to_reboot: if status == "pending-reboot" {
                        vec!["0001".to_string()]
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect()
    }
}

/// How much a counter grew between two collections, `None` across a restart (the counter went back).
fn growth(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    let (a, b) = (a?, b?);
    (b >= a).then(|| b - a)
}

fn node_series(
    cluster: &str,
    node: &str,
    h: &[Sample],
    primary_offsets: &HashMap<i64, i64>,
) -> NodeSeries {
    let last = h.last();
    let mut out = NodeSeries {
        cache_cluster_id: cluster.to_string(),
        cache_node_id: node.to_string(),
        used_memory: last.and_then(|s| s.used_memory),
        max_memory: last.and_then(|s| s.max_memory),
        clients: last.and_then(|s| s.clients),
        items: last.and_then(|s| s.items),
        at: Vec::with_capacity(h.len()),
        ops_per_second: Vec::with_capacity(h.len()),
        control_ops_per_second: Vec::with_capacity(h.len()),
        used_memory_bytes: Vec::with_capacity(h.len()),
        lag_bytes: Vec::with_capacity(h.len()),
    };
    for (i, s) in h.iter().enumerate() {
        out.at.push(s.at);
        let p = i.checked_sub(1).map(|p| &h[p]).filter(|p| s.at > p.at);
        let seconds = p.map_or(1, |p| s.at - p.at) as f64;
        let grew = |f: fn(&Sample) -> Option<u64>| p.and_then(|p| growth(f(p), f(s)));
        let own = grew(|s| s.control_commands);
        let replication = grew(|s| s.replication_commands);
        // A daemon's command in flight at a reading is counted by the daemon a moment before the node: the
        // difference can dip a command below zero, and is made up at the next point.
        out.ops_per_second.push(grew(|s| s.commands).map(|all| {
            let clients = all as i64 - own.unwrap_or(0) as i64 - replication.unwrap_or(0) as i64;
            clients.max(0) as f64 / seconds
        }));
        out.control_ops_per_second
            .push(own.map(|own| own as f64 / seconds));
        out.used_memory_bytes.push(s.used_memory);
        out.lag_bytes.push(match s.primary {
            Some(true) => Some(0),
            // Memcached: no replication.
            None => None,
            Some(false) => match (primary_offsets.get(&s.at), s.offset) {
                (Some(p), Some(o)) => Some((p - o).max(0)),
                _ => None,
            },
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
            control_commands: None,
            replication_commands: None,
            items: None,
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
        let s = node_series("g-002", "0001", &h, &primary_offsets);
        assert_eq!(s.at, vec![100, 105, 110]);
        assert_eq!(s.ops_per_second, vec![None, Some(10.0), None]);
        assert_eq!(s.lag_bytes, vec![Some(100), Some(0), Some(300)]);
        assert_eq!(s.used_memory, Some(1110));
        let p = node_series(
            "g-001",
            "0001",
            &[sample(100, 10, 500, true)],
            &primary_offsets,
        );
        assert_eq!(p.lag_bytes, vec![Some(0)]);
    }

    /// An idle node: everything it counted came from the daemon (probes, INFO) and from its replicas' REPLCONF
    /// acknowledgements, so its clients' rate is zero; a client's commands show on top.
    #[test]
    fn the_control_plane_s_own_commands_are_not_clients_commands() {
        let at = |at: i64, commands: u64, own: u64, replconf: u64| Sample {
            control_commands: Some(own),
            replication_commands: Some(replconf),
            ..sample(at, commands, 0, true)
        };
        let h = [
            at(100, 1_000, 900, 50),
            // 5 s: 100 commands of the daemon's, 10 acknowledgements.
            at(105, 1_110, 1_000, 60),
            // Then a client's 250 on top; one of the daemon's counted by it before the node saw it.
            at(110, 1_470, 1_101, 70),
            at(115, 1_581, 1_200, 80),
        ];
        let s = node_series("g-001", "0001", &h, &HashMap::new());
        assert_eq!(
            s.ops_per_second,
            vec![None, Some(0.0), Some(49.8), Some(0.4)]
        );
        assert_eq!(
            s.control_ops_per_second,
            vec![None, Some(20.0), Some(20.2), Some(19.8)]
        );
        // Nothing told apart (a Memcached node, whose stats the control plane's reads do not count): all of it.
        let plain = node_series(
            "mc",
            "0001",
            &[sample(100, 10, 0, true), sample(105, 60, 0, true)],
            &HashMap::new(),
        );
        assert_eq!(plain.ops_per_second, vec![None, Some(10.0)]);
    }
}
