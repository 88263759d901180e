//! `cacheplane status`'s text: the report of `control::status` laid out a line an item, and for a terminal's width
//! (`wrap`). Presentation lives here, in the binary; `control` gathers the report.

use control::status::{NodeReport, Operation, Report};

/// The text views of a status report.
pub trait ReportText {
    /// The text view, a line an item: a line a group or cluster, its endpoints and operations, a line a node.
    fn text(&self) -> String;
    /// The text view laid out for a terminal `width` columns wide (see [`wrap`]).
    fn wrapped(&self, width: usize) -> String;
    /// Every long operation with who it belongs to.
    fn operations(&self) -> Vec<(String, &Operation)>;
}

impl ReportText for Report {
    /// The text view, a line an item: a line a group or cluster, its endpoints and operations, a line a node.
    fn text(&self) -> String {
        let mut out = String::new();
        for l in lines(self) {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    /// The text view laid out for a terminal `width` columns wide: a line too long is broken between its fields
    /// (or, for a field wider than a line, between words) and goes on indented; a word is never cut, so an
    /// address or an id wider than the terminal is the only thing that can run past it.
    fn wrapped(&self, width: usize) -> String {
        let mut out = String::new();
        for l in lines(self) {
            for part in wrap(&l, width) {
                out.push_str(&part);
                out.push('\n');
            }
        }
        out
    }

    /// Every long operation under way, with whose it is (`group` or `group/cluster`).
    fn operations(&self) -> Vec<(String, &Operation)> {
        let mut v = Vec::new();
        for g in &self.replication_groups {
            v.extend(g.operations.iter().map(|o| (g.id.clone(), o)));
            for n in g.shards.iter().flat_map(|s| s.nodes.iter()) {
                if let Some(p) = &n.progress {
                    v.push((format!("{}/{}", g.id, n.cache_cluster_id), p));
                }
            }
        }
        for c in &self.cache_clusters {
            v.extend(c.operations.iter().map(|o| (c.id.clone(), o)));
            for n in &c.nodes {
                if let Some(p) = &n.progress {
                    v.push((c.id.clone(), p));
                }
            }
        }
        v
    }
}

fn operation_lines(out: &mut Vec<String>, ops: &[Operation]) {
    out.extend(ops.iter().map(|o| format!("  {}: {}", o.kind, o.label)));
}

/// A node's line: its id (a Redis or Valkey node's cluster id, a Memcached node's id), address, zone, state.
fn node_line(n: &NodeReport) -> String {
    let id = if n.status.is_some() {
        &n.cache_node_id
    } else {
        &n.cache_cluster_id
    };
    let progress = n
        .progress
        .as_ref()
        .map(|p| format!(", {}", p.label))
        .unwrap_or_default();
    format!("  {id}  {}  {}  {}{progress}", n.address, n.zone, n.state)
}

/// `line` broken into lines of at most `width` columns where it can be: between its fields (two spaces apart)
/// first, else between words; the lines after the first are indented four columns more than it. A word wider
/// than a line is left whole.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    let cols = |s: &str| s.chars().count();
    let indent = line.len() - line.trim_start_matches(' ').len();
    let next = " ".repeat(indent + 4);
    let mut out = Vec::new();
    let mut cur = " ".repeat(indent);
    // Whether `cur` holds anything past its indentation.
    let mut filled = false;
    for field in line[indent..].split("  ").filter(|f| !f.is_empty()) {
        let sep = if filled { "  " } else { "" };
        if cols(&cur) + cols(sep) + cols(field) <= width {
            cur.push_str(sep);
            cur.push_str(field);
            filled = true;
            continue;
        }
        // On a line of its own, and when it is wider than that, its words, as many on each line as fit.
        if filled {
            out.push(std::mem::replace(&mut cur, next.clone()));
            filled = false;
        }
        for word in field.split(' ').filter(|w| !w.is_empty()) {
            let sep = if filled { " " } else { "" };
            if filled && cols(&cur) + cols(sep) + cols(word) > width {
                out.push(std::mem::replace(&mut cur, next.clone()));
                cur.push_str(word);
            } else {
                cur.push_str(sep);
                cur.push_str(word);
            }
            filled = true;
        }
    }
    out.push(cur);
    out
}

fn lines(r: &Report) -> Vec<String> {
    let mut out: Vec<String> = r.notices.iter().map(|n| format!("notice: {n}")).collect();
    if r.replication_groups.is_empty() && r.cache_clusters.is_empty() {
        out.push("no replication groups or cache clusters".to_string());
    }
    for g in &r.replication_groups {
        out.push(format!(
            "{}  {}  {} {}  {}",
            g.id, g.status, g.engine, g.engine_version, g.cache_node_type
        ));
        out.extend(g.endpoints.iter().map(|e| format!("  {e}")));
        operation_lines(&mut out, &g.operations);
        if let Some(m) = &g.migration {
            out.push(format!("  {m}"));
        }
        for shard in &g.shards {
            if let Some(slots) = &shard.slots {
                out.push(format!(
                    "  shard {}  slots {}",
                    shard.id,
                    slots.replace(',', ", ")
                ));
            }
            out.extend(shard.nodes.iter().map(node_line));
        }
    }
    for c in &r.cache_clusters {
        out.push(format!(
            "{}  {}  {} {}  {}  (cache cluster)",
            c.id, c.status, c.engine, c.engine_version, c.cache_node_type
        ));
        out.extend(c.endpoints.iter().map(|e| format!("  {e}")));
        operation_lines(&mut out, &c.operations);
        out.extend(c.nodes.iter().map(node_line));
    }
    if let Some(b) = &r.ca_bundle {
        out.push(format!("CA bundle for TLS clients (rediss://): {b}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::model::MemcachedCluster;
    use control::model::{McNode, McNodeState, McPending, McStatus};
    use control::status::*;
    use engine::admin::{NodeStats, Role};
    use std::collections::HashMap;

    fn node(cluster: &str, address: &str, state: &str) -> NodeReport {
        let mut n = NodeReport::new(cluster, "0001", address.to_string(), "us-east-1a");
        n.state = state.to_string();
        n
    }

    /// A group as `cacheplane status` shows it, with its longest lines: a replica's state, a multi-range slot list,
    /// a migration line.
    fn group() -> GroupReport {
        let mut primary = node("orders-0002-001", "127.201.144.233:6379", "");
        primary.state = describe_role(
            &mut primary,
            &Role::Primary {
                connected_replicas: 1,
                offset: 123_456_789,
            },
            None,
        );
        let mut replica = node("orders-0002-002", "127.201.144.234:6379", "");
        replica.state = describe_role(
            &mut replica,
            &Role::Replica {
                primary: Some("127.201.144.233:6379".parse().expect("addr")),
                link_up: true,
                offset: 123_456_788,
            },
            Some(123_456_789),
        );
        replica.progress = Some(Operation {
            kind: "sync",
            label: "receiving a full sync: 12.0 MB of 150.6 MB (8%)".into(),
            percent: Some(8.0),
        });
        GroupReport {
            id: "orders".into(),
            status: "modifying".into(),
            engine: "redis".into(),
            engine_version: "7.0.15".into(),
            cache_node_type: "cache.r7g.large".into(),
            cluster_mode: "enabled",
            endpoints: vec!["configuration endpoint 127.201.144.230:6379".into()],
            operations: vec![Operation {
                kind: "resharding",
                label: "45.0% of 5462 slots moved".into(),
                percent: Some(45.0),
            }],
            migration: Some(
                "migration from 10.0.0.12:6379: link up, target offset 1234567 / source offset 1234567 (in sync)"
                    .into(),
            ),
            shards: vec![ShardReport {
                id: "0002".into(),
                slots: Some("0-1000,2000-3000,4000-5000,6000-7000,8000-9000,10000-11000,12000-12100".into()),
                nodes: vec![primary, replica],
            }],
        }
    }

    fn memcached() -> MemcachedCluster {
        let t = control::now();
        let mc_node = |id: &str, address: &str, state| McNode {
            id: id.into(),
            zone: "us-east-1b".into(),
            address: address.parse().expect("ip"),
            created: t,
            state,
            booted: None,
            memory_mib: None,
            host: None,
            replacing: false,
        };
        MemcachedCluster {
            id: "sessions".into(),
            status: McStatus::Modifying,
            created: t,
            engine_version: "1.6.18".into(),
            cache_node_type: "cache.t3.micro".into(),
            port: 11211,
            az_mode: "single-az".into(),
            config_address: "127.10.0.1".parse().expect("ip"),
            config_version: 3,
            published: vec!["0001".into(), "0002".into()],
            nodes: vec![
                mc_node("0001", "127.10.0.2", McNodeState::Available),
                mc_node("0002", "127.10.0.3", McNodeState::Available),
                mc_node("0004", "127.10.0.5", McNodeState::Creating),
            ],
            next_node: 5,
            pending: McPending::default(),
            preferred_maintenance_window: "sun:05:00-sun:06:00".into(),
            notification: None,
            security_group_ids: vec![],
            cache_subnet_group: "default".into(),
            cache_parameter_group: "default.memcached1.6".into(),
            auto_minor_version_upgrade: true,
            transit_encryption: false,
        }
    }

    fn report() -> Report {
        let stats = HashMap::from([(
            "0001".to_string(),
            NodeStats {
                items: Some(1),
                used_memory: Some(68),
                max_memory: Some(536_870_912),
                ..Default::default()
            },
        )]);
        Report {
            replication_groups: vec![group()],
            cache_clusters: vec![memcached_report(&memcached(), &stats)],
            ca_bundle: Some("/var/lib/cacheplane/tls/ca.pem".into()),
            notices: vec![],
        }
    }

    #[test]
    fn the_daemons_notices_come_first_and_go_with_a_clean_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_notices(dir.path()).is_empty());
        let said = vec!["the daemon serves no metrics".to_string()];
        write_notices(dir.path(), &said).expect("write");
        assert_eq!(read_notices(dir.path()), said);
        let mut r = report();
        r.notices = read_notices(dir.path());
        assert!(
            r.text()
                .starts_with("notice: the daemon serves no metrics\n"),
            "{}",
            r.text()
        );
        write_notices(dir.path(), &[]).expect("remove");
        write_notices(dir.path(), &[]).expect("nothing to remove");
        assert!(read_notices(dir.path()).is_empty());
    }

    #[test]
    fn at_80_columns_no_line_is_longer_and_no_word_is_cut() {
        let r = report();
        let (text, wrapped) = (r.text(), r.wrapped(80));
        assert!(
            text.lines().any(|l| l.chars().count() > 80),
            "the example has lines to break:\n{text}"
        );
        for line in wrapped.lines() {
            assert!(
                line.chars().count() <= 80,
                "{} columns: {line:?}",
                line.chars().count()
            );
        }
        // The same words in the same order: lines are broken between words only.
        let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&text), words(&wrapped), "\n{wrapped}");
        // A line that goes on is indented under its start.
        assert!(
            wrapped.contains("us-east-1a\n      primary, 1 replica connected"),
            "\n{wrapped}"
        );
        // Wide enough, nothing changes.
        assert_eq!(r.wrapped(400), text);
    }

    #[test]
    fn a_word_wider_than_the_terminal_is_left_whole() {
        assert_eq!(
            wrap("  node  127.201.144.233:6379  up", 10),
            vec!["  node", "      127.201.144.233:6379", "      up"]
        );
    }

    #[test]
    fn counts_read_in_the_singular_for_one() {
        let text = report().text();
        assert!(
            text.contains("primary, 1 replica connected, offset 123456789"),
            "{text}"
        );
        assert!(text.contains(", 1 byte behind the primary"), "{text}");
        assert!(
            text.contains("available, 1 item, 68 bytes of 536.9 MB used"),
            "{text}"
        );
        for wrong in ["1 replicas", "1 bytes", "1 items", "1 nodes"] {
            assert!(!text.contains(wrong), "{wrong:?} in\n{text}");
        }
        let mut n = node("g-001", "127.0.0.1:6379", "");
        let two = describe_role(
            &mut n,
            &Role::Primary {
                connected_replicas: 2,
                offset: 0,
            },
            None,
        );
        assert_eq!(two, "primary, 2 replicas connected, offset 0");
    }

    /// A Memcached cluster has its lines: the configuration endpoint with the version of the node list auto
    /// discovery serves, and a line a node with its status and what its `stats` said.
    #[test]
    fn a_memcached_cluster_shows_its_nodes_and_discovery() {
        let r = report();
        let c = &r.cache_clusters[0];
        assert_eq!(
            c.configuration_endpoint.as_deref(),
            Some("127.10.0.1:11211")
        );
        assert_eq!(c.discovery_version, Some(3));
        assert_eq!(c.discovery_nodes, ["0001", "0002"]);
        let ids: Vec<&str> = c.nodes.iter().map(|n| n.cache_node_id.as_str()).collect();
        assert_eq!(ids, ["0001", "0002", "0004"]);
        assert_eq!(c.nodes[0].items, Some(1));
        assert_eq!(c.nodes[0].status, Some("available"));
        let text = r.text();
        for line in [
            "sessions  modifying  memcached 1.6.18  cache.t3.micro  (cache cluster)",
            "  configuration endpoint 127.10.0.1:11211  auto discovery version 3: 2 nodes",
            "  0001  127.10.0.2:11211  us-east-1b  available, 1 item, 68 bytes of 536.9 MB used",
            "  0002  127.10.0.3:11211  us-east-1b  available, not answering",
            "  0004  127.10.0.5:11211  us-east-1b  creating, not listed by auto discovery",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["cache_clusters"][0]["discovery_version"], 3);
        assert_eq!(
            json["cache_clusters"][0]["nodes"][0]["memory_max_bytes"],
            536_870_912
        );
    }
}
