//! Redis Cluster mechanics: what a node knows of its cluster (`CLUSTER NODES`), joining nodes (`CLUSTER MEET`),
//! assigning slots, attaching a replica to its primary (`CLUSTER REPLICATE`), and promoting a replica without the
//! cluster's own vote (`CLUSTER FAILOVER TAKEOVER`: the control plane has fenced the old primary first).

use std::net::{IpAddr, SocketAddr};

use crate::admin::AdminClient;
use crate::{EngineError, Result};

/// Hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

pub use crate::spec::bus_port;

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub id: String,
    /// Where clients reach it; `None` while the node has no known address (a handshake in progress).
    pub addr: Option<SocketAddr>,
    pub myself: bool,
    pub primary: bool,
    /// Marked failed (`fail`) or suspected (`fail?`) by the cluster.
    pub failing: bool,
    /// Still in the handshake of a `CLUSTER MEET`.
    pub handshake: bool,
    /// The primary it replicates, for a replica.
    pub primary_id: Option<String>,
    pub config_epoch: u64,
    pub connected: bool,
    /// The slot ranges it serves (a primary), inclusive and in order; slots being moved are not listed here.
    pub slots: Vec<(u16, u16)>,
}

/// Reads `CLUSTER NODES`. Lines that cannot be read are skipped.
pub fn parse_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<ClusterNode> {
    let mut f = line.split_whitespace();
    let id = f.next()?.to_string();
    let addr_field = f.next()?;
    let flags: Vec<&str> = f.next()?.split(',').collect();
    let primary_id = match f.next()? {
        "-" => None,
        p => Some(p.to_string()),
    };
    let _ping_sent = f.next()?;
    let _pong_recv = f.next()?;
    let config_epoch = f.next()?.parse().ok()?;
    let connected = f.next()? == "connected";
    let mut slots = Vec::new();
    for s in f {
        // `[slot->-id]` / `[slot-<-id]`: a slot being migrated or imported.
        if s.starts_with('[') {
            continue;
        }
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => {
                let x = s.parse().ok()?;
                (x, x)
            }
        };
        slots.push((a, b));
    }
    slots.sort_unstable();
    // `ip:port@cport[,hostname]`; the ip may be IPv6 (its colons come before the last one).
    let host_port = addr_field.split('@').next()?;
    let addr = host_port.rsplit_once(':').and_then(|(ip, port)| {
        let ip: IpAddr = ip.trim_matches(['[', ']']).parse().ok()?;
        let port: u16 = port.parse().ok()?;
        (port != 0).then_some(SocketAddr::new(ip, port))
    });
    Some(ClusterNode {
        id,
        addr,
        myself: flags.contains(&"myself"),
        primary: flags.contains(&"master"),
        failing: flags.iter().any(|f| *f == "fail" || *f == "fail?"),
        handshake: flags.contains(&"handshake"),
        primary_id,
        config_epoch,
        connected,
        slots,
    })
}

impl AdminClient {
    /// `CLUSTER MYID`.
    pub async fn cluster_myid(&mut self) -> Result<String> {
        self.run(redis::cmd("CLUSTER").arg("MYID")).await
    }

    /// `CLUSTER NODES`, read.
    pub async fn cluster_nodes(&mut self) -> Result<Vec<ClusterNode>> {
        let text: String = self.run(redis::cmd("CLUSTER").arg("NODES")).await?;
        Ok(parse_nodes(&text))
    }

    /// `CLUSTER MEET ip port`: the node shakes hands with the node at `addr` (over the bus, `port + 10000`).
    pub async fn cluster_meet(&mut self, addr: SocketAddr) -> Result<()> {
        let _: String = self
            .run(
                redis::cmd("CLUSTER")
                    .arg("MEET")
                    .arg(addr.ip().to_string())
                    .arg(addr.port()),
            )
            .await?;
        Ok(())
    }

    /// Assigns `ranges` to this node (`CLUSTER ADDSLOTSRANGE` on Redis 7, `ADDSLOTS` slot by slot before).
    pub async fn cluster_add_slots(
        &mut self,
        ranges: &[(u16, u16)],
        ranges_command: bool,
    ) -> Result<()> {
        if ranges.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("CLUSTER");
        if ranges_command {
            cmd.arg("ADDSLOTSRANGE");
            for (a, b) in ranges {
                cmd.arg(*a).arg(*b);
            }
        } else {
            cmd.arg("ADDSLOTS");
            for (a, b) in ranges {
                for s in *a..=*b {
                    cmd.arg(s);
                }
            }
        }
        let _: String = self.run(&cmd).await?;
        Ok(())
    }

    /// `CLUSTER REPLICATE id`: the node becomes a replica of the primary `id` (it must know it already).
    pub async fn cluster_replicate(&mut self, primary_id: &str) -> Result<()> {
        let _: String = self
            .run(redis::cmd("CLUSTER").arg("REPLICATE").arg(primary_id))
            .await?;
        Ok(())
    }

    /// `CLUSTER FAILOVER TAKEOVER`: a replica takes its primary's slots at once, with a new epoch and no vote of
    /// the other primaries. Only for a primary known dead (fenced) — or demoted — by the control plane.
    pub async fn cluster_takeover(&mut self) -> Result<()> {
        let _: String = self
            .run(redis::cmd("CLUSTER").arg("FAILOVER").arg("TAKEOVER"))
            .await?;
        Ok(())
    }

    /// `CLUSTER FAILOVER`: Redis's planned switchover, run on a replica: its primary pauses its clients, the replica
    /// catches up with its replication offset, wins an election among the primaries (a new epoch) and takes the
    /// slots; the old primary becomes its replica, and its paused clients are redirected (`MOVED`). Nothing the
    /// primary acknowledged is lost. Returns at once; the caller watches the roles change.
    pub async fn cluster_manual_failover(&mut self) -> Result<()> {
        let _: String = self.run(redis::cmd("CLUSTER").arg("FAILOVER")).await?;
        Ok(())
    }

    /// `CLUSTER RESET HARD`: the node forgets its cluster, its slots and its id (an emptied node only).
    pub async fn cluster_reset(&mut self) -> Result<()> {
        let _: String = self
            .run(redis::cmd("CLUSTER").arg("RESET").arg("HARD"))
            .await?;
        Ok(())
    }

    /// Whether the node serves its cluster (`cluster_state:ok` in `CLUSTER INFO`). A primary reports `fail` for
    /// its first two seconds (Redis's `CLUSTER_WRITABLE_DELAY`) and while it cannot reach most primaries.
    pub async fn cluster_state_ok(&mut self) -> Result<bool> {
        let text: String = self.run(redis::cmd("CLUSTER").arg("INFO")).await?;
        Ok(crate::admin::parse_info(&text)
            .get("cluster_state")
            .map(String::as_str)
            == Some("ok"))
    }

    /// `CLUSTER FORGET id`.
    pub async fn cluster_forget(&mut self, id: &str) -> Result<()> {
        let _: String = self
            .run(redis::cmd("CLUSTER").arg("FORGET").arg(id))
            .await?;
        Ok(())
    }
}

impl AdminClient {
    /// Gives a node the role of its spec: [`Self::cluster_follow`] on a cluster node, `REPLICAOF` on another.
    /// Returns false when a cluster node's change has to wait (see there).
    pub async fn follow(&mut self, primary: Option<SocketAddr>, cluster: bool) -> Result<bool> {
        if cluster {
            self.cluster_follow(primary).await
        } else {
            self.replicaof(primary).await?;
            Ok(true)
        }
    }

    /// Gives a cluster node the role of its spec: `None` makes it its shard's primary (`CLUSTER FAILOVER TAKEOVER`
    /// on a replica), `Some(addr)` a replica of the node listening at `addr` (`CLUSTER REPLICATE`). Returns false
    /// when that cannot be done yet and needs no command: the primary is not known to this node yet (a `MEET` or
    /// its gossip is on its way), or this node still owns slots (a former primary learns of its successor from
    /// the cluster, which makes it a replica by itself).
    pub async fn cluster_follow(&mut self, primary: Option<SocketAddr>) -> Result<bool> {
        let nodes = self.cluster_nodes().await?;
        let me = myself(&nodes)?;
        let Some(addr) = primary else {
            if !me.primary {
                self.cluster_takeover().await?;
            }
            return Ok(true);
        };
        let Some(target) = nodes
            .iter()
            .find(|n| n.addr == Some(addr) && !n.handshake && !n.myself)
        else {
            return Ok(false);
        };
        if me.primary_id.as_deref() == Some(target.id.as_str()) {
            return Ok(true);
        }
        if me.primary && !me.slots.is_empty() {
            return Ok(false);
        }
        self.cluster_replicate(&target.id).await?;
        Ok(true)
    }
}

/// The identity of the stand-in a seeded node (see [`seed_state`]) believes its primary: 40 hex digits no Redis node
/// picks by chance (Redis draws its ids at random).
pub const SEED_ID: &str = "cacce55000000000000000000000000000000001";

pub use crate::spec::SEEDED_NODE_TIMEOUT_MS;

/// Before a node whose spec has [`crate::spec::NodeCluster::seed_primary`] starts for the first time (no
/// `nodes.conf` yet), writes the cluster state that makes it a replica of a stand-in node, [`SEED_ID`], at the
/// primary's address, owning every slot. Redis, finding itself a replica of a node whose address it knows,
/// replicates that address (the primary, which does not run Redis Cluster, serves it like any replica); the
/// stand-in's bus port is 0, so no bus connection reaches anything. When the primary's role is handed over, the
/// replica's `CLUSTER FAILOVER TAKEOVER` gives it every slot and the stand-in is forgotten.
pub fn seed_state(spec: &crate::spec::NodeSpec) -> Result<()> {
    let Some(primary) = spec.cluster.as_ref().and_then(|c| c.seed_primary) else {
        return Ok(());
    };
    let file = spec.dir.join(NODES_FILE);
    if file.exists() {
        return Ok(());
    }
    use rand::Rng;
    let me: String = (0..20)
        .map(|_| format!("{:02x}", rand::thread_rng().gen::<u8>()))
        .collect();
    let cport = bus_port(spec.port).unwrap_or(0);
    let text = format!(
        "{me} {}:{}@{cport} myself,slave {SEED_ID} 0 0 0 connected\n\
         {SEED_ID} {}:{}@0 master - 0 0 1 connected 0-{}\n\
         vars currentEpoch 1 lastVoteEpoch 0\n",
        spec.announce,
        spec.port,
        primary.ip(),
        primary.port(),
        SLOTS - 1
    );
    std::fs::write(&file, text)
        .map_err(|e| EngineError::Other(format!("writing {}: {e}", file.display())))
}

/// The file a cluster node keeps its state in (its id, epochs, what it knows of the others), in its directory.
pub const NODES_FILE: &str = "nodes.conf";

/// Makes a stopped node start as a new, empty cluster node: its cluster state (`nodes.conf`: its id, its epoch and
/// the slots it served) and its data are removed. For a failed primary replaced by a failover: with its old
/// identity it would come back claiming its slots, and with an epoch equal to its successor's Redis's collision
/// rule may give them back to it (and its stale data with them).
pub fn discard_state(spec: &crate::spec::NodeSpec) -> Result<()> {
    discard_state_at(&spec.dir)
}

/// [`discard_state`] of the node directory `dir`.
pub fn discard_state_at(dir: &std::path::Path) -> Result<()> {
    let file = dir.join(NODES_FILE);
    match std::fs::remove_file(&file) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(EngineError::Other(format!(
                "removing {}: {e}",
                file.display()
            )))
        }
        _ => {}
    }
    crate::restore::discard_data_at(dir)
}

impl AdminClient {
    /// Tells this node that `owner` serves `ranges` (`CLUSTER SETSLOT slot NODE id` for each slot, pipelined): for a
    /// node whose view lags (slots it believes unserved, or served by a node that is gone), without waiting for the
    /// cluster's gossip.
    pub async fn cluster_set_owner(&mut self, ranges: &[(u16, u16)], owner: &str) -> Result<()> {
        for (a, b) in ranges {
            let mut pipe = redis::pipe();
            for slot in *a..=*b {
                pipe.cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(owner)
                    .ignore();
            }
            self.query_pipe::<()>(&pipe, std::time::Duration::from_secs(10))
                .await?;
        }
        Ok(())
    }
}

/// Keys asked for per slot at a time while a slot moves (`CLUSTER GETKEYSINSLOT`), and so the most one `MIGRATE`
/// carries.
pub const MIGRATE_BATCH: usize = 1000;

/// Keys sent in one pipeline of `MIGRATE`s (the source serves its clients between two).
const MIGRATE_PIPELINE: usize = 2000;

/// How long one `MIGRATE` may take to hand its keys over.
const MIGRATE_TIMEOUT_MS: u64 = 10_000;

/// One side of a slot move: a primary's admin connection and its cluster id.
pub struct SlotOwner<'a> {
    pub conn: &'a mut AdminClient,
    pub id: &'a str,
}

/// Moves `slots` (each whole, keys and ownership) from `source` to `target`, whose clients connect at
/// `target_addr`, and tells `others` (the other primaries) who serves them now. Redis Cluster's own protocol,
/// batched over many slots at once: the target imports, the source migrates, the keys go over with `MIGRATE` (as the
/// admin user, `REPLACE`: the source's copy is the one clients wrote) until the source has none left, then the
/// target, the source and the others record the new owner (the target first: it bumps its epoch, so the change
/// wins over anything older). Clients meanwhile get `ASK` for keys already moved, then `MOVED`; none is lost.
/// Returns the keys moved. Safe to run again on slots a crash left half moved.
pub async fn move_slots(
    mut source: SlotOwner<'_>,
    mut target: SlotOwner<'_>,
    target_addr: SocketAddr,
    others: &mut [AdminClient],
    slots: &[u16],
    admin: &crate::secret::AdminCredentials,
) -> Result<u64> {
    let long = std::time::Duration::from_millis(MIGRATE_TIMEOUT_MS + 5_000);
    let t0 = std::time::Instant::now();
    // Slots the target already serves (a move cut short after its last step began) need only the others told.
    let owned = served_by(target.conn, slots).await?;
    let moving: Vec<u16> = slots
        .iter()
        .copied()
        .filter(|s| !owned.contains(s))
        .collect();
    if !moving.is_empty() {
        mark_moving(&mut source, &mut target, &moving, long).await?;
    }
    let t_mark = t0.elapsed();
    let moved = migrate_keys(source.conn, target_addr, &moving, admin, long).await?;
    let t_keys = t0.elapsed();
    let tell = |ids: &[u16]| {
        let mut pipe = redis::pipe();
        for s in ids {
            pipe.cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(*s)
                .arg("NODE")
                .arg(target.id)
                .ignore();
        }
        pipe
    };
    // The target first (it bumps its epoch), then the source and the others at once.
    if !moving.is_empty() {
        target.conn.query_pipe::<()>(&tell(&moving), long).await?;
    }
    let told = tell(slots);
    let rest = async {
        // Best effort: a primary that misses it learns from the target's epoch by gossip.
        let tasks = others.iter_mut().map(|o| o.query_pipe::<()>(&told, long));
        for t in tasks {
            let _ = t.await;
        }
    };
    let (src, ()) = tokio::join!(source.conn.query_pipe::<()>(&told, long), rest);
    src?;
    tracing::debug!(
        slots = slots.len(),
        keys = moved,
        mark_us = t_mark.as_micros() as u64,
        keys_us = (t_keys - t_mark).as_micros() as u64,
        owner_us = (t0.elapsed() - t_keys).as_micros() as u64,
        "slot batch moved"
    );
    Ok(moved)
}

/// Which of `slots` the node behind `conn` serves.
async fn served_by(conn: &mut AdminClient, slots: &[u16]) -> Result<Vec<u16>> {
    let nodes = conn.cluster_nodes().await?;
    let me = myself(&nodes)?;
    Ok(slots
        .iter()
        .copied()
        .filter(|s| me.slots.iter().any(|(a, b)| (*a..=*b).contains(s)))
        .collect())
}

/// Marks `moving` as importing on the target, then migrating on the source.
async fn mark_moving(
    source: &mut SlotOwner<'_>,
    target: &mut SlotOwner<'_>,
    moving: &[u16],
    long: std::time::Duration,
) -> Result<()> {
    let mut pipe = redis::pipe();
    for s in moving {
        pipe.cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(*s)
            .arg("IMPORTING")
            .arg(source.id)
            .ignore();
    }
    target.conn.query_pipe::<()>(&pipe, long).await?;
    let mut pipe = redis::pipe();
    for s in moving {
        pipe.cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(*s)
            .arg("MIGRATING")
            .arg(target.id)
            .ignore();
    }
    source.conn.query_pipe::<()>(&pipe, long).await
}

/// Moves every key of the `moving` slots from `source` to the target at `target_addr`, batch by batch, until a look
/// finds each slot empty; returns how many keys went.
async fn migrate_keys(
    source: &mut AdminClient,
    target_addr: SocketAddr,
    moving: &[u16],
    admin: &crate::secret::AdminCredentials,
    long: std::time::Duration,
) -> Result<u64> {
    let mut moved = 0u64;
    let mut left = moving.to_vec();
    while !left.is_empty() {
        let mut pipe = redis::pipe();
        for s in &left {
            pipe.cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(*s)
                .arg(MIGRATE_BATCH);
        }
        let keys: Vec<Vec<Vec<u8>>> = source.query_pipe(&pipe, long).await?;
        // The `MIGRATE`s go in pipelines of about `MIGRATE_PIPELINE` keys: each blocks the source while its keys
        // go over, so the source answers its clients between two pipelines.
        let mut pipe = redis::pipe();
        let mut in_pipe = 0usize;
        let mut next = Vec::new();
        for (s, k) in left.iter().zip(&keys) {
            if k.is_empty() {
                continue;
            }
            next.push(*s);
            moved += k.len() as u64;
            in_pipe += k.len();
            pipe.cmd("MIGRATE")
                .arg(target_addr.ip().to_string())
                .arg(target_addr.port())
                .arg("")
                .arg(0)
                .arg(MIGRATE_TIMEOUT_MS)
                .arg("REPLACE")
                .arg("AUTH2")
                .arg(&admin.user)
                .arg(&admin.password)
                .arg("KEYS")
                .arg(k)
                .ignore();
            if in_pipe >= MIGRATE_PIPELINE {
                source.query_pipe::<()>(&pipe, long).await?;
                pipe = redis::pipe();
                in_pipe = 0;
            }
        }
        if in_pipe > 0 {
            source.query_pipe::<()>(&pipe, long).await?;
        }
        // A slot is empty once a look finds no key in it (clients may have added keys to a slot before it began
        // to move: the next look takes them).
        left = next;
    }
    Ok(moved)
}

/// The node `myself` of a `CLUSTER NODES` reading.
pub fn myself(nodes: &[ClusterNode]) -> Result<&ClusterNode> {
    nodes
        .iter()
        .find(|n| n.myself)
        .ok_or_else(|| EngineError::Other("CLUSTER NODES lists no myself".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cluster_nodes() {
        // As Redis 7.0 prints it: a primary with two ranges and a slot being migrated, its replica, a node in
        // the handshake of a MEET, and a failed one over IPv6.
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.5:6379@16379 myself,master - 0 0 3 connected 0-5461 10923 [5462->-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]\n\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.6:6379@16379 slave 07c37dfeb235213a872192d90877d0cd55635b91 0 1426238317239 3 connected\n\
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f :0@0 handshake - 0 0 0 disconnected\n\
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 ::1:7002@17002 master,fail - 1426238316232 1426238316232 2 disconnected 5462-10922\n";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 4);
        let me = myself(&nodes).expect("myself");
        assert!(me.primary && !me.failing);
        assert_eq!(me.addr, Some("127.0.0.5:6379".parse().expect("addr")));
        assert_eq!(me.slots, vec![(0, 5461), (10923, 10923)]);
        assert_eq!(me.config_epoch, 3);
        let r = &nodes[1];
        assert!(!r.primary);
        assert_eq!(r.primary_id.as_deref(), Some(me.id.as_str()));
        assert!(r.slots.is_empty() && r.connected);
        assert!(nodes[2].handshake && nodes[2].addr.is_none());
        assert!(nodes[3].failing && !nodes[3].connected);
        assert_eq!(nodes[3].addr, Some("[::1]:7002".parse().expect("addr")));
        assert_eq!(bus_port(6379), Some(16379));
        assert_eq!(bus_port(60000), None);
    }
}
