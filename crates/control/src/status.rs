//! `cacheplane status`: what the groups of a data directory look like now, read from the store and from the
//! nodes themselves (with the admin credentials of the data directory), including the replication link of a
//! migration and how far the target is behind its source. Read-only: it runs beside the daemon.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use engine::admin::{AdminClient, Role};
use engine::secret::AdminCredentials;

use crate::error::{ControlError, Result};
use crate::model::{MigrationPhase, ReplicationGroup, Shard};
use crate::store::Store;

const NODE_TIMEOUT: Duration = Duration::from_secs(1);

/// A long operation under way, as a progress bar shows it: a label and, when it can be told, how far it has got.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Operation {
    /// `create`, `resharding`, `migration`, `upgrade`, `snapshot`, `load` or `sync`.
    pub kind: &'static str,
    pub label: String,
    /// Percent done, when known.
    pub percent: Option<f64>,
}

/// One node, as it reports itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeReport {
    pub cache_cluster_id: String,
    pub address: String,
    pub zone: String,
    /// `primary`, `replica`, or `None` when the node does not answer.
    pub role: Option<&'static str>,
    /// What the text view says of it (`primary, 2 replicas connected, offset 1234`).
    pub state: String,
    pub offset: Option<i64>,
    /// How far a replica is behind its shard's primary.
    pub behind_bytes: Option<i64>,
    /// A load or a full sync under way.
    pub progress: Option<Operation>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShardReport {
    pub id: String,
    /// Its hash slots (cluster mode enabled only).
    pub slots: Option<String>,
    pub nodes: Vec<NodeReport>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupReport {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub engine_version: String,
    pub cache_node_type: String,
    pub endpoints: Vec<String>,
    /// The group's long operations under way (its nodes' own are with the nodes).
    pub operations: Vec<Operation>,
    /// The text view's line of a migration (link, offsets).
    pub migration: Option<String>,
    pub shards: Vec<ShardReport>,
}

/// What `cacheplane status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub replication_groups: Vec<GroupReport>,
    /// Where TLS clients find the deployment's CA bundle.
    pub ca_bundle: Option<String>,
}

/// The report for every group of `data_dir`, or only `group`.
pub async fn report(data_dir: &Path, group: Option<&str>) -> Result<Report> {
    let db = data_dir.join("cacheplane.sqlite3");
    let secret = data_dir.join("admin.secret");
    if !db.exists() || !secret.exists() {
        return Err(ControlError::InvalidParameterValue(format!(
            "{} holds no Cacheplane state (run `cacheplane serve --data-dir {}` first).",
            data_dir.display(),
            data_dir.display()
        )));
    }
    let admin = engine::secret::load_or_create(&secret)?;
    engine::private::prepare_socket_dir(data_dir)?;
    let mut groups = Store::open(&db)?.load_groups()?;
    groups.retain(|g| !g.standalone);
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(id) = group {
        groups.retain(|g| g.id.eq_ignore_ascii_case(id));
        if groups.is_empty() {
            return Err(ControlError::ReplicationGroupNotFound(id.to_string()));
        }
    }
    let mut out = Report {
        replication_groups: Vec::new(),
        ca_bundle: None,
    };
    for g in &groups {
        out.replication_groups
            .push(group_report(g, &admin, data_dir).await);
    }
    let bundle = data_dir.join("tls").join("ca.pem");
    if bundle.exists() {
        out.ca_bundle = Some(bundle.display().to_string());
    }
    Ok(out)
}

impl Report {
    /// The text view: a line a group, its operations, a line a node.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.replication_groups.is_empty() {
            out.push_str("no replication groups\n");
        }
        for g in &self.replication_groups {
            let _ = writeln!(
                out,
                "{}  {}  {} {}  {}  {}",
                g.id,
                g.status,
                g.engine,
                g.engine_version,
                g.cache_node_type,
                g.endpoints.join("  ")
            );
            for o in &g.operations {
                let _ = writeln!(out, "  {}: {}", o.kind, o.label);
            }
            if let Some(m) = &g.migration {
                let _ = writeln!(out, "  {m}");
            }
            for shard in &g.shards {
                if let Some(slots) = &shard.slots {
                    let _ = writeln!(out, "  shard {}  slots {slots}", shard.id);
                }
                for n in &shard.nodes {
                    let progress = n
                        .progress
                        .as_ref()
                        .map(|p| format!(", {}", p.label))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {}  {}  {}  {}{progress}",
                        n.cache_cluster_id, n.address, n.zone, n.state
                    );
                }
            }
        }
        if let Some(b) = &self.ca_bundle {
            let _ = writeln!(out, "CA bundle for TLS clients (rediss://): {b}");
        }
        out
    }

    /// Every long operation under way, with whose it is (`group` or `group/cluster`).
    pub fn operations(&self) -> Vec<(String, &Operation)> {
        let mut v = Vec::new();
        for g in &self.replication_groups {
            v.extend(g.operations.iter().map(|o| (g.id.clone(), o)));
            for n in g.shards.iter().flat_map(|s| s.nodes.iter()) {
                if let Some(p) = &n.progress {
                    v.push((format!("{}/{}", g.id, n.cache_cluster_id), p));
                }
            }
        }
        v
    }
}

pub(crate) async fn group_report(
    g: &ReplicationGroup,
    admin: &AdminCredentials,
    data_dir: &Path,
) -> GroupReport {
    let mut endpoints = Vec::new();
    if g.cluster_mode.has_primary_endpoint() {
        endpoints.push(format!(
            "primary endpoint {}  reader endpoint {}",
            g.primary_endpoint_addr(),
            g.reader_endpoint_addr()
        ));
    }
    if let Some(ce) = g
        .configuration_endpoint
        .filter(|_| g.serves_configuration_endpoint())
    {
        endpoints.push(format!(
            "configuration endpoint {}",
            std::net::SocketAddr::new(ce, g.port)
        ));
    }
    let mut shards = Vec::new();
    for shard in &g.shards {
        let slots = (g.shards.len() > 1 || !shard.slots.is_empty()).then(|| shard.slots_text());
        shards.push(ShardReport {
            id: shard.id.clone(),
            slots,
            nodes: shard_status(g, shard, admin, data_dir).await,
        });
    }
    let mut operations = Vec::new();
    let total = g.members().count();
    if g.status == crate::model::GroupStatus::Creating {
        // Started: the nodes that answered just now.
        let up = shards
            .iter()
            .flat_map(|s| &s.nodes)
            .filter(|n| n.role.is_some())
            .count();
        operations.push(Operation {
            kind: "create",
            label: format!("{up} of {total} nodes started"),
            percent: Some(up as f64 * 100.0 / total.max(1) as f64),
        });
    }
    if let Some(r) = &g.resharding {
        operations.push(Operation {
            kind: "resharding",
            label: format!("{:.1}% of {} slots moved", r.progress(), r.total_slots),
            percent: Some(r.progress()),
        });
    }
    if let Some(to) = &g.upgrading_to {
        let done = g
            .members()
            .filter(|m| m.engine_version.as_deref() == Some(to.as_str()))
            .count();
        operations.push(Operation {
            kind: "upgrade",
            label: format!("to {to}: step {} of {total}", (done + 1).min(total)),
            percent: Some(done as f64 * 100.0 / total.max(1) as f64),
        });
    }
    if let Some(s) = &g.snapshotting {
        operations.push(Operation {
            kind: "snapshot",
            label: format!("taking snapshot {s}"),
            percent: None,
        });
    }
    let mut migration = None;
    if let Some(m) = &g.migration {
        let source = format!("{}:{}", m.host, m.port);
        migration = Some(match &m.phase {
            MigrationPhase::Testing => format!("testing migration from {source}"),
            MigrationPhase::Starting { .. } => {
                format!("migration from {source}: checking the source and the target")
            }
            MigrationPhase::Following(_) | MigrationPhase::Completing { .. } => {
                migration_line(g, &source, &m.host, m.port, admin, data_dir).await
            }
        });
    }
    GroupReport {
        id: g.id.clone(),
        status: g.status.as_str().to_string(),
        engine: g.engine.clone(),
        engine_version: g.engine_version.clone(),
        cache_node_type: g.cache_node_type.clone(),
        endpoints,
        operations,
        migration,
        shards,
    }
}

/// The members of one shard, as their nodes report them, in the shard's order: one connection a node, the
/// primary's first, so that its offset is the one its replicas are measured against.
async fn shard_status(
    g: &ReplicationGroup,
    shard: &Shard,
    admin: &AdminCredentials,
    data_dir: &Path,
) -> Vec<NodeReport> {
    let is_primary = |m: &crate::model::Member| m.cluster_id == shard.primary_cluster_id;
    let mut primary_offset = None;
    let mut nodes = Vec::new();
    for m in shard.members.iter().filter(|m| is_primary(m)) {
        let n = node_status(g, m, admin, data_dir, None).await;
        primary_offset = n.offset;
        nodes.push(n);
    }
    for m in shard.members.iter().filter(|m| !is_primary(m)) {
        nodes.push(node_status(g, m, admin, data_dir, primary_offset).await);
    }
    nodes.sort_by_key(|n| {
        shard
            .members
            .iter()
            .position(|m| m.cluster_id == n.cache_cluster_id)
    });
    nodes
}

/// One member as its node reports itself; `primary_offset`: its shard primary's, for a replica's distance.
async fn node_status(
    g: &ReplicationGroup,
    m: &crate::model::Member,
    admin: &AdminCredentials,
    data_dir: &Path,
    primary_offset: Option<i64>,
) -> NodeReport {
    let mut n = NodeReport {
        cache_cluster_id: m.cluster_id.clone(),
        address: g.addr_of(m, g.ipv6_discovery()).to_string(),
        zone: m.availability_zone.clone(),
        role: None,
        state: String::new(),
        offset: None,
        behind_bytes: None,
        progress: None,
    };
    n.state =
        match AdminClient::connect_within(&g.admin_addr(m, data_dir), admin, NODE_TIMEOUT).await {
            Err(_) => "not answering".to_string(),
            Ok(mut c) => {
                n.progress = data_progress(&mut c).await;
                match c.role().await {
                    Err(e) => format!("not answering ({e})"),
                    Ok(Role::Primary {
                        connected_replicas,
                        offset,
                    }) => {
                        n.role = Some("primary");
                        n.offset = Some(offset);
                        format!("primary, {connected_replicas} replicas connected, offset {offset}")
                    }
                    Ok(Role::Replica {
                        primary,
                        link_up,
                        offset,
                    }) => {
                        n.role = Some("replica");
                        n.offset = Some(offset);
                        n.behind_bytes = primary_offset.map(|p| (p - offset).max(0));
                        let behind = n
                            .behind_bytes
                            .map(|b| format!(", {b} bytes behind the primary"))
                            .unwrap_or_default();
                        format!(
                            "replica of {}, link {}, offset {offset}{behind}",
                            primary.map_or("?".to_string(), |p| p.to_string()),
                            if link_up { "up" } else { "down" }
                        )
                    }
                }
            }
        };
    n
}

/// How far a node has got with its data, when it is on its way: a full sync being received, or a load (after a
/// start, a restore, or a full sync).
async fn data_progress(c: &mut AdminClient) -> Option<Operation> {
    if let Ok(Some(p)) = c.load_progress().await {
        return Some(Operation {
            kind: "load",
            label: load_line(&p),
            percent: Some(p.percent),
        });
    }
    match c.link_state().await {
        Ok(Some(l)) if l.sync_in_progress => Some(Operation {
            kind: "sync",
            label: sync_line(&l),
            percent: l
                .sync_total_bytes
                .map(|t| l.sync_read_bytes as f64 * 100.0 / t.max(1) as f64),
        }),
        _ => None,
    }
}

/// `loading its data: 45% (68.0 MB of 150.6 MB), about 3 s left`.
pub fn load_line(p: &engine::admin::LoadProgress) -> String {
    let mut line = format!(
        "loading its data: {:.0}% ({} of {})",
        p.percent,
        crate::progress::human_bytes(p.loaded_bytes),
        crate::progress::human_bytes(p.total_bytes)
    );
    if let Some(eta) = p.eta_seconds {
        let _ = write!(line, ", about {eta} s left");
    }
    line
}

/// `receiving a full sync: 12.0 MB of 150.6 MB` (or `waiting for the primary's data` before the first byte).
pub fn sync_line(l: &engine::admin::LinkState) -> String {
    if l.sync_read_bytes == 0 {
        return "full sync: waiting for the primary's data".into();
    }
    let mut line = format!(
        "receiving a full sync: {}",
        crate::progress::human_bytes(l.sync_read_bytes)
    );
    if let Some(total) = l.sync_total_bytes {
        let _ = write!(
            line,
            " of {} ({:.0}%)",
            crate::progress::human_bytes(total),
            l.sync_read_bytes as f64 * 100.0 / total.max(1) as f64
        );
    }
    line
}

/// The load in progress on the primary of `g`, if any.
async fn primary_load(
    g: &ReplicationGroup,
    admin: &AdminCredentials,
    data_dir: &Path,
) -> Result<Option<engine::admin::LoadProgress>> {
    let Some(p) = g.first_shard().primary() else {
        return Ok(None);
    };
    let mut c =
        AdminClient::connect_within(&g.admin_addr(p, data_dir), admin, NODE_TIMEOUT).await?;
    Ok(c.load_progress().await?)
}

/// The link of a running migration: up or down, the initial sync's progress, and the target's offset against
/// the source's.
async fn migration_line(
    g: &ReplicationGroup,
    source: &str,
    host: &str,
    port: u16,
    admin: &AdminCredentials,
    data_dir: &Path,
) -> String {
    let Some(p) = g.first_shard().primary() else {
        return format!("migration from {source}: the group has no primary");
    };
    let link =
        match AdminClient::connect_within(&g.admin_addr(p, data_dir), admin, NODE_TIMEOUT).await {
            Ok(mut c) => c.link_state().await.ok().flatten(),
            Err(_) => None,
        };
    let Some(link) = link else {
        return format!(
            "migration from {source}: primary {} is not replicating from it now",
            p.cluster_id
        );
    };
    let mut line = format!(
        "migration from {source}: link {}",
        if link.link_up { "up" } else { "down" }
    );
    if let Some(s) = link.down_seconds {
        let _ = write!(line, " for {s} s");
    }
    if link.sync_in_progress {
        let _ = write!(line, ", initial sync {} bytes", link.sync_read_bytes);
        if let Some(total) = link.sync_total_bytes {
            let _ = write!(line, " of {total}");
        }
    } else if !link.link_up {
        if let Ok(Some(p)) = primary_load(g, admin, data_dir).await {
            let _ = write!(line, ", initial sync received, {}", load_line(&p));
        }
    }
    match engine::source::replication_offset(host, port, NODE_TIMEOUT).await {
        // No initial sync done yet (a source with diskless sync waits before it starts one): how many bytes the
        // target is "behind" means nothing until it has the source's dataset.
        Ok(goal) if !link.link_up && (link.sync_in_progress || link.offset <= 0) => {
            let _ = write!(line, ", initial sync not complete (source offset {goal})");
        }
        Ok(goal) => {
            let behind = (goal - link.offset).max(0);
            let _ = write!(
                line,
                ", target offset {} / source offset {goal} ({})",
                link.offset,
                if link.link_up && behind == 0 {
                    "in sync".to_string()
                } else {
                    format!("{behind} bytes behind")
                }
            );
        }
        Err(e) => {
            let _ = write!(line, ", source not readable: {e}");
        }
    }
    line
}
