//! `cacheplane status`: what the groups of a data directory look like now, read from the store and from the
//! nodes themselves (with the admin credentials of the data directory), including the replication link of a
//! migration and how far the target is behind its source. Read-only: it runs beside the daemon.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use engine::admin::{AdminClient, NodeAddr, Role};
use engine::secret::AdminCredentials;

use crate::error::{ControlError, Result};
use crate::model::{MigrationPhase, ReplicationGroup, Shard};
use crate::store::Store;

const NODE_TIMEOUT: Duration = Duration::from_secs(1);

/// The report for every group of `data_dir`, or only `group`.
pub async fn report(data_dir: &Path, group: Option<&str>) -> Result<String> {
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
    let mut out = String::new();
    let mut groups = Store::open(&db)?.load_groups()?;
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(id) = group {
        groups.retain(|g| g.id.eq_ignore_ascii_case(id));
        if groups.is_empty() {
            return Err(ControlError::ReplicationGroupNotFound(id.to_string()));
        }
    }
    if groups.is_empty() {
        out.push_str("no replication groups\n");
    }
    for g in &groups {
        group_report(&mut out, g, &admin, data_dir).await;
    }
    let bundle = data_dir.join("tls").join("ca.pem");
    if bundle.exists() {
        let _ = writeln!(
            out,
            "CA bundle for TLS clients (rediss://): {}",
            bundle.display()
        );
    }
    Ok(out)
}

async fn group_report(
    out: &mut String,
    g: &ReplicationGroup,
    admin: &AdminCredentials,
    data_dir: &Path,
) {
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
    let _ = writeln!(
        out,
        "{}  {}  redis {}  {}  {}",
        g.id,
        g.status.as_str(),
        g.engine_version,
        g.cache_node_type,
        endpoints.join("  ")
    );
    if let Some(r) = &g.resharding {
        let _ = writeln!(
            out,
            "  resharding: {:.1}% of {} slots moved",
            r.progress(),
            r.total_slots
        );
    }
    if let Some(m) = &g.migration {
        let source = format!("{}:{}", m.host, m.port);
        let line = match &m.phase {
            MigrationPhase::Testing => format!("testing migration from {source}"),
            MigrationPhase::Starting { .. } => {
                format!("migration from {source}: checking the source and the target")
            }
            MigrationPhase::Following(_) | MigrationPhase::Completing { .. } => {
                migration_line(g, &source, &m.host, m.port, admin, data_dir).await
            }
        };
        let _ = writeln!(out, "  {line}");
    }
    for shard in &g.shards {
        if g.shards.len() > 1 || !shard.slots.is_empty() {
            let _ = writeln!(out, "  shard {}  slots {}", shard.id, shard.slots_text());
        }
        shard_status(out, g, shard, admin, data_dir).await;
    }
}

/// The members of one shard, as their nodes report them.
async fn shard_status(
    out: &mut String,
    g: &ReplicationGroup,
    shard: &Shard,
    admin: &AdminCredentials,
    data_dir: &Path,
) {
    let primary_offset = match shard.primary() {
        Some(p) => node_offset(&g.admin_addr(p, data_dir), admin).await,
        None => None,
    };
    for m in &shard.members {
        let addr = g.admin_addr(m, data_dir);
        let mut progress = String::new();
        let state = match AdminClient::connect_within(&addr, admin, NODE_TIMEOUT).await {
            Err(_) => "not answering".to_string(),
            Ok(mut c) => {
                progress = data_progress(&mut c).await;
                match c.role().await {
                    Err(e) => format!("not answering ({e})"),
                    Ok(Role::Primary {
                        connected_replicas,
                        offset,
                    }) => {
                        format!("primary, {connected_replicas} replicas connected, offset {offset}")
                    }
                    Ok(Role::Replica {
                        primary,
                        link_up,
                        offset,
                    }) => {
                        let behind = primary_offset
                            .filter(|_| m.cluster_id != shard.primary_cluster_id)
                            .map(|p| format!(", {} bytes behind the primary", (p - offset).max(0)))
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
        let _ = writeln!(
            out,
            "  {}  {}  {}  {state}{progress}",
            m.cluster_id,
            g.addr_of(m, g.ipv6_discovery()),
            m.availability_zone
        );
    }
}

/// How far a node has got with its data, when it is on its way: a full sync being received, or a load (after a
/// start, a restore, or a full sync). Empty otherwise.
async fn data_progress(c: &mut AdminClient) -> String {
    if let Ok(Some(p)) = c.load_progress().await {
        return format!(", {}", load_line(&p));
    }
    match c.link_state().await {
        Ok(Some(l)) if l.sync_in_progress => format!(", {}", sync_line(&l)),
        _ => String::new(),
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

async fn node_offset(addr: &NodeAddr, admin: &AdminCredentials) -> Option<i64> {
    let mut c = AdminClient::connect_within(addr, admin, NODE_TIMEOUT)
        .await
        .ok()?;
    match c.role().await.ok()? {
        Role::Primary { offset, .. } | Role::Replica { offset, .. } => Some(offset),
    }
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
