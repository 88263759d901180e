//! `cacheplane status`: what the replication groups and cache clusters of a data directory look like now, read from
//! the store and from the nodes themselves (with the admin credentials of the data directory), including the
//! replication link of a migration and how far the target is behind its source, and for a Memcached cluster its
//! nodes' `stats` and the node list auto discovery serves. Read-only: it runs beside the daemon.
//!
//! The text view is a line a group or cluster, its endpoints and operations, then a line a node; [`Report::wrapped`]
//! lays it out for a terminal's width, breaking lines between fields (or words), never inside an address or an id.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use engine::admin::{AdminClient, NodeStats, Role};
use engine::secret::AdminCredentials;

use crate::error::{ControlError, Result};
use crate::model::{MemcachedCluster, MigrationPhase, ReplicationGroup, Shard};
use crate::rules::progress::{counted, human_bytes};
use crate::store::StoreAt;

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
    /// `0001` for a Redis or Valkey cluster's one node; a Memcached cluster's node id.
    pub cache_node_id: String,
    pub address: String,
    pub zone: String,
    /// `primary`, `replica`, or `None` when the node does not answer (and for Memcached nodes).
    pub role: Option<&'static str>,
    /// A Memcached node's `CacheNodeStatus`: `creating`, `available`, `rebooting` or `deleting`.
    pub status: Option<&'static str>,
    /// What the text view says of it (`primary, 2 replicas connected, offset 1234`).
    pub state: String,
    pub offset: Option<i64>,
    /// How far a replica is behind its shard's primary.
    pub behind_bytes: Option<i64>,
    /// A load or a full sync under way.
    pub progress: Option<Operation>,
    /// A Memcached node's items (`curr_items`) and item memory used and allowed (`bytes`, `limit_maxbytes`), as
    /// its `stats` said.
    pub items: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_max_bytes: Option<u64>,
}

impl NodeReport {
    /// A node not yet asked anything: no role, state or figures.
    pub fn new(cache_cluster_id: &str, cache_node_id: &str, address: String, zone: &str) -> Self {
        Self {
            cache_cluster_id: cache_cluster_id.to_string(),
            cache_node_id: cache_node_id.to_string(),
            address,
            zone: zone.to_string(),
            role: None,
            status: None,
            state: String::new(),
            offset: None,
            behind_bytes: None,
            progress: None,
            items: None,
            memory_used_bytes: None,
            memory_max_bytes: None,
        }
    }
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
    /// `disabled`, `compatible` or `enabled`.
    pub cluster_mode: &'static str,
    pub endpoints: Vec<String>,
    /// The group's long operations under way (its nodes' own are with the nodes).
    pub operations: Vec<Operation>,
    /// The text view's line of a migration (link, offsets).
    pub migration: Option<String>,
    pub shards: Vec<ShardReport>,
}

/// A cache cluster outside any replication group: a Memcached cluster, or a Redis or Valkey cluster of one node.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterReport {
    pub id: String,
    pub status: String,
    pub engine: String,
    pub engine_version: String,
    pub cache_node_type: String,
    pub endpoints: Vec<String>,
    /// Memcached: the configuration endpoint (`address:port`) that auto discovery clients ask.
    pub configuration_endpoint: Option<String>,
    /// Memcached: the version of the node list the configuration endpoint serves (`config get cluster`), and the
    /// nodes on that list.
    pub discovery_version: Option<u64>,
    pub discovery_nodes: Vec<String>,
    pub operations: Vec<Operation>,
    pub nodes: Vec<NodeReport>,
}

/// What `cacheplane status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    pub replication_groups: Vec<GroupReport>,
    pub cache_clusters: Vec<ClusterReport>,
    /// Where TLS clients find the deployment's CA bundle.
    pub ca_bundle: Option<String>,
    /// What the running daemon said of itself at its start that its operator must know (e.g. that it serves no
    /// metrics because their default address was taken): [`read_notices`].
    pub notices: Vec<String>,
}

/// The file of the data directory where the daemon leaves its notices for `cacheplane status` (which runs beside
/// it, read-only): a JSON list of sentences, written at each start and removed at a clean stop.
const NOTICES_FILE: &str = "daemon-notices.json";

/// Records the daemon's notices (replacing those of an earlier start).
pub fn write_notices(data_dir: &Path, notices: &[String]) -> Result<()> {
    let path = data_dir.join(NOTICES_FILE);
    if notices.is_empty() {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ControlError::Internal(format!(
                "cannot remove {}: {e}",
                path.display()
            ))),
        };
    }
    engine::private::write_atomic(&path, serde_json::to_string(notices)?.as_bytes())?;
    Ok(())
}

/// The notices the daemon of `data_dir` left at its start (none when it left none, or stopped cleanly).
pub fn read_notices(data_dir: &Path) -> Vec<String> {
    std::fs::read(data_dir.join(NOTICES_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// The report for every replication group and cache cluster of `data_dir`, or only the one named `id` (a
/// replication group's id, or a cache cluster's: Memcached, or Redis or Valkey outside a group).
pub async fn report(data_dir: &Path, at: &StoreAt, id: Option<&str>) -> Result<Report> {
    let secret = data_dir.join("admin.secret");
    if !secret.exists() {
        return Err(ControlError::InvalidParameterValue(format!(
            "{} holds no Cacheplane state (run `cacheplane serve --data-dir {}` first).",
            data_dir.display(),
            data_dir.display()
        )));
    }
    let admin = engine::secret::load_or_create(&secret)?;
    engine::private::prepare_socket_dir(data_dir)?;
    let store = at.open_existing(data_dir)?;
    let mut groups = store.load_groups()?;
    let mut memcached = store.load_memcached()?;
    let named = |other: &str| id.is_none_or(|id| id.eq_ignore_ascii_case(other));
    groups.retain(|g| named(&g.id));
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    memcached.retain(|c| named(&c.id));
    if let Some(id) = id {
        if groups.is_empty() && memcached.is_empty() {
            return Err(ControlError::InvalidParameterValue(format!(
                "{} has no replication group or cache cluster {id}.",
                data_dir.display()
            )));
        }
    }
    let mut out = Report {
        replication_groups: Vec::new(),
        cache_clusters: Vec::new(),
        ca_bundle: None,
        notices: read_notices(data_dir),
    };
    for g in &groups {
        let r = group_report(g, &admin, data_dir).await;
        if g.standalone {
            out.cache_clusters.push(standalone_report(r));
        } else {
            out.replication_groups.push(r);
        }
    }
    let bundle = data_dir.join("tls").join("ca.pem");
    let tls = if memcached.iter().any(|c| c.transit_encryption) {
        engine::memcached::Tls::new(&bundle, None).ok()
    } else {
        None
    };
    for c in &memcached {
        // Every node at once: one slow node does not hold back the others' answers.
        let mut reads = tokio::task::JoinSet::new();
        for n in &c.nodes {
            let (id, addr) = (n.id.clone(), std::net::SocketAddr::new(n.address, c.port));
            let tls = tls.clone().filter(|_| c.transit_encryption);
            reads.spawn(async move {
                let read = engine::memcached::node_stats(addr, tls.as_ref());
                (id, tokio::time::timeout(NODE_TIMEOUT, read).await)
            });
        }
        let mut stats = HashMap::new();
        while let Some(r) = reads.join_next().await {
            if let Ok((id, Ok(Ok(s)))) = r {
                stats.insert(id, s);
            }
        }
        out.cache_clusters.push(memcached_report(c, &stats));
    }
    out.cache_clusters.sort_by(|a, b| a.id.cmp(&b.id));
    if bundle.exists() {
        out.ca_bundle = Some(bundle.display().to_string());
    }
    Ok(out)
}

/// A Memcached cluster from its spec and what each node's `stats` said (by node id; a node missing did not
/// answer, or was not read).
pub fn memcached_report(c: &MemcachedCluster, stats: &HashMap<String, NodeStats>) -> ClusterReport {
    let configuration_endpoint = std::net::SocketAddr::new(c.config_address, c.port).to_string();
    let nodes = c
        .nodes
        .iter()
        .map(|n| {
            let mut r = NodeReport::new(
                &c.id,
                &n.id,
                std::net::SocketAddr::new(n.address, c.port).to_string(),
                &n.zone,
            );
            r.status = Some(n.state.as_str());
            let s = stats.get(&n.id);
            r.items = s.and_then(|s| s.items);
            r.memory_used_bytes = s.and_then(|s| s.used_memory);
            r.memory_max_bytes = s.and_then(|s| s.max_memory);
            let mut state = n.state.as_str().to_string();
            match s {
                Some(_) => {
                    if let Some(items) = r.items {
                        let _ = write!(state, ", {}", counted(items, "item"));
                    }
                    if let (Some(used), Some(max)) = (r.memory_used_bytes, r.memory_max_bytes) {
                        let _ = write!(
                            state,
                            ", {} of {} used",
                            human_bytes(used),
                            human_bytes(max)
                        );
                    }
                }
                None if n.state == crate::model::McNodeState::Creating => {}
                None => state.push_str(", not answering"),
            }
            if !c.published.contains(&n.id) {
                state.push_str(", not listed by auto discovery");
            }
            r.state = state;
            r
        })
        .collect();
    let discovery_nodes: Vec<String> = c
        .nodes
        .iter()
        .filter(|n| c.published.contains(&n.id))
        .map(|n| n.id.clone())
        .collect();
    ClusterReport {
        id: c.id.clone(),
        status: c.status.as_str().to_string(),
        engine: "memcached".to_string(),
        engine_version: c.engine_version.clone(),
        cache_node_type: c.cache_node_type.clone(),
        endpoints: vec![format!(
            "configuration endpoint {configuration_endpoint}  auto discovery version {}: {}",
            c.config_version,
            counted(discovery_nodes.len() as u64, "node")
        )],
        configuration_endpoint: Some(configuration_endpoint),
        discovery_version: Some(c.config_version),
        discovery_nodes,
        operations: Vec::new(),
        nodes,
    }
}

/// A Redis or Valkey cluster outside any group, from the report of the one-node group it is run as: its node's
/// address is its endpoint.
pub fn standalone_report(g: GroupReport) -> ClusterReport {
    let nodes: Vec<NodeReport> = g.shards.into_iter().flat_map(|s| s.nodes).collect();
    ClusterReport {
        id: g.id,
        status: g.status,
        engine: g.engine,
        engine_version: g.engine_version,
        cache_node_type: g.cache_node_type,
        endpoints: nodes
            .iter()
            .map(|n| format!("endpoint {}", n.address))
            .collect(),
        configuration_endpoint: None,
        discovery_version: None,
        discovery_nodes: Vec::new(),
        operations: g.operations,
        nodes,
    }
}

pub(crate) async fn group_report(
    g: &ReplicationGroup,
    admin: &AdminCredentials,
    data_dir: &Path,
) -> GroupReport {
    let names = crate::views::names_of(g);
    let names = names.as_ref();
    let mut endpoints = Vec::new();
    let port = g.port;
    if g.cluster_mode.has_primary_endpoint() && !g.standalone {
        match names {
            Some(n) => {
                endpoints.push(format!("primary endpoint {}:{port}", n.primary(&g.id)));
                endpoints.push(format!("reader endpoint {}:{port}", n.reader(&g.id)));
            }
            None => {
                endpoints.push(format!("primary endpoint {}", g.primary_endpoint_addr()));
                endpoints.push(format!("reader endpoint {}", g.reader_endpoint_addr()));
            }
        }
    }
    if let Some(ce) = g
        .configuration_endpoint
        .filter(|_| g.serves_configuration_endpoint())
    {
        let at = match names {
            Some(n) => format!("{}:{port}", n.configuration(&g.id)),
            None => std::net::SocketAddr::new(ce, port).to_string(),
        };
        endpoints.push(format!("configuration endpoint {at}"));
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
            label: format!("{up} of {} started", counted(total as u64, "node")),
            percent: Some(up as f64 * 100.0 / total.max(1) as f64),
        });
    }
    if let Some(r) = &g.resharding {
        operations.push(Operation {
            kind: "resharding",
            label: if r.finished {
                format!("all {} moved; finishing", counted(r.total_slots, "slot"))
            } else {
                format!(
                    "{:.1}% of {} moved",
                    r.progress(),
                    counted(r.total_slots, "slot")
                )
            },
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
        cluster_mode: g.cluster_mode.as_str(),
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
    let mut n = NodeReport::new(
        &m.cluster_id,
        "0001",
        g.addr_of(m, g.ipv6_discovery()).to_string(),
        &m.availability_zone,
    );
    n.state =
        match AdminClient::connect_within(&g.admin_addr(m, data_dir), admin, NODE_TIMEOUT).await {
            Err(_) => "not answering".to_string(),
            Ok(mut c) => {
                n.progress = data_progress(&mut c).await;
                match c.role().await {
                    Err(e) => format!("not answering ({e})"),
                    Ok(role) => describe_role(&mut n, &role, primary_offset),
                }
            }
        };
    n
}

/// Fills `n`'s role, offset and distance from `role` as the node reported it (`primary_offset`: its shard
/// primary's, for a replica), and says it: `primary, 1 replica connected, offset 1234`.
pub fn describe_role(n: &mut NodeReport, role: &Role, primary_offset: Option<i64>) -> String {
    match *role {
        Role::Primary {
            connected_replicas,
            offset,
        } => {
            n.role = Some("primary");
            n.offset = Some(offset);
            format!(
                "primary, {} connected, offset {offset}",
                counted(connected_replicas, "replica")
            )
        }
        Role::Replica {
            primary,
            link_up,
            offset,
        } => {
            n.role = Some("replica");
            n.offset = Some(offset);
            n.behind_bytes = primary_offset.map(|p| (p - offset).max(0));
            let behind = n
                .behind_bytes
                .map(|b| format!(", {} behind the primary", counted(b as u64, "byte")))
                .unwrap_or_default();
            format!(
                "replica of {}, link {}, offset {offset}{behind}",
                primary.map_or("?".to_string(), |p| p.to_string()),
                if link_up { "up" } else { "down" }
            )
        }
    }
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
        human_bytes(p.loaded_bytes),
        human_bytes(p.total_bytes)
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
    let mut line = format!("receiving a full sync: {}", human_bytes(l.sync_read_bytes));
    if let Some(total) = l.sync_total_bytes {
        let _ = write!(
            line,
            " of {} ({:.0}%)",
            human_bytes(total),
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
        let _ = write!(
            line,
            ", initial sync {}",
            counted(link.sync_read_bytes, "byte")
        );
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
                    format!("{} behind", counted(behind as u64, "byte"))
                }
            );
        }
        Err(e) => {
            let _ = write!(line, ", source not readable: {e}");
        }
    }
    line
}
