//! The machine-stall rows of the fault campaign (issue 29): the daemon alone, or the daemon and every node at
//! once, stopped with `SIGSTOP` for some seconds under a writer, then continued (the daemon first, the worse order:
//! for a moment it runs while its nodes do not). Nothing failed, so nothing may be failed over: a group with cluster
//! mode disabled (a primary and two replicas) and one with cluster mode enabled (two node groups of a primary and a
//! replica), both with automatic failover, must keep their primaries, and the writer loses no acknowledged write.

use std::time::{Duration, Instant};

use aws_sdk_elasticache::Client;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{create, daemon};
use crate::common::*;

/// What is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frozen {
    /// The daemon's process only; its nodes keep serving.
    Daemon,
    /// The daemon and every node: a stall of the whole machine.
    Everything,
}

impl Frozen {
    pub fn name(self) -> &'static str {
        match self {
            Frozen::Daemon => "daemon SIGSTOP",
            Frozen::Everything => "daemon + nodes SIGSTOP",
        }
    }
}

/// One row: a stall and what it caused.
#[derive(Debug, Default, Clone)]
pub struct StallRow {
    pub what: String,
    pub seconds: u64,
    /// Failovers started while nothing had failed (a violation).
    pub failovers: usize,
    /// Primaries that changed (a violation).
    pub primaries_changed: usize,
    /// Acknowledged writes lost (a violation).
    pub lost: i64,
    /// The writer's longest pause between two acknowledged writes.
    pub longest_pause: Duration,
    pub notes: Vec<String>,
}

impl StallRow {
    pub fn violations(&self) -> usize {
        self.failovers + self.primaries_changed + usize::from(self.lost > 0)
    }
}

pub fn stall_table(rows: &[StallRow]) -> String {
    let mut s = format!(
        "{:<26} {:>7} {:>10} {:>10} {:>6} {:>14}\n{:<26} {:>7} {:>10} {:>10} {:>6} {:>14}\n",
        "machine stall",
        "stopped",
        "failovers",
        "primaries",
        "lost",
        "writer pause",
        "",
        "",
        "(viol.)",
        "(viol.)",
        "(viol.)",
        "longest"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<26} {:>6}s {:>10} {:>10} {:>6} {:>12}ms\n",
            r.what,
            r.seconds,
            r.failovers,
            r.primaries_changed,
            r.lost,
            r.longest_pause.as_millis()
        ));
    }
    s
}

const PLAIN: &str = "stall";
const SHARDED: &str = "stallc";

/// The primaries of every node group of `id` (their node ids, from the nodes' own roles where AWS shows them, else
/// the node group's primary endpoint).
async fn primaries(c: &Client, id: &str) -> Vec<String> {
    let g = describe_group(c, id).await;
    g.node_groups()
        .iter()
        .map(|ng| {
            let by_role = ng
                .node_group_members()
                .iter()
                .find(|m| m.current_role() == Some("primary"))
                .and_then(|m| m.cache_cluster_id());
            match by_role {
                Some(id) => id.to_string(),
                None => format!("{:?}", ng.primary_endpoint()),
            }
        })
        .collect()
}

async fn failover_events(c: &Client) -> usize {
    let mut n = 0;
    for id in [PLAIN, SHARDED] {
        n += event_messages(c, id)
            .await
            .iter()
            .filter(|m| m.starts_with("Failover from primary node"))
            .count();
    }
    n
}

/// The cluster mode enabled group's primaries, as `CLUSTER NODES` on one of its nodes reports them.
async fn cluster_primaries(c: &Client) -> Vec<String> {
    let g = describe_group(c, SHARDED).await;
    let Ok(client) = redis::Client::open(crate::common::cluster::config_url(&g)) else {
        return vec![];
    };
    let Ok(mut conn) = client_conn_with_timeout(&client, Duration::from_secs(2)).await else {
        return vec![];
    };
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    let mut v: Vec<String> = nodes
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(2)
                .is_some_and(|f| f.contains("master"))
        })
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    v.sort();
    v
}

fn signal_all(pids: &[u32], sig: Signal) {
    for pid in pids {
        let _ = kill(Pid::from_raw(*pid as i32), sig);
    }
}

/// Runs every stall of `plan` (what is stopped, for how many seconds) on one daemon and returns a row each.
pub async fn run_stalls(plan: &[(Frozen, u64)]) -> Vec<StallRow> {
    let d = daemon();
    let c = d.client();
    create(&c, PLAIN, 2, None).await;
    c.create_replication_group()
        .replication_group_id(SHARDED)
        .replication_group_description("stall")
        .num_node_groups(2)
        .replicas_per_node_group(1)
        .automatic_failover_enabled(true)
        .snapshot_window(snapshot_window_clear_of_now())
        .send()
        .await
        .expect("create the sharded group");
    wait_available(&c, PLAIN, super::CONVERGE).await;
    wait_available(&c, SHARDED, super::CONVERGE).await;
    let daemon_pid = d.child.as_ref().expect("the daemon runs").id();
    let mut rows = Vec::new();
    for &(frozen, seconds) in plan {
        let mut row = StallRow {
            what: frozen.name().to_string(),
            seconds,
            ..StallRow::default()
        };
        let g = wait_available(&c, PLAIN, super::CONVERGE).await;
        wait_available(&c, SHARDED, super::CONVERGE).await;
        let before = (
            primaries(&c, PLAIN).await,
            cluster_primaries(&c).await,
            failover_events(&c).await,
        );
        let writer = Writer::start(
            redis_url(g.node_groups()[0].primary_endpoint().expect("endpoint")),
            "stall-counter",
        );
        // The group takes writes before the stall.
        let mut probe = redis_conn(&redis_url(
            g.node_groups()[0].primary_endpoint().expect("endpoint"),
        ))
        .await;
        let _: i64 = redis::cmd("INCR")
            .arg("stall-probe")
            .query_async(&mut probe)
            .await
            .expect("the group takes writes");
        // The nodes by role: a machine's processes do not all run again at the same instant, and the worst order
        // for the control plane is its own daemon first, then the replicas, and the primaries a moment later.
        let (mut primary_pids, mut replica_pids) = (Vec::new(), Vec::new());
        if frozen == Frozen::Everything {
            for (node, pid) in d.node_pids() {
                let mut conn =
                    match client_conn_with_timeout(&node_admin(&d, &node), Duration::from_secs(2))
                        .await
                    {
                        Ok(conn) => conn,
                        Err(e) => panic!("{node}: {e}"),
                    };
                let role: Vec<redis::Value> = redis::cmd("ROLE")
                    .query_async(&mut conn)
                    .await
                    .expect("ROLE");
                if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
                    primary_pids.push(pid);
                } else {
                    replica_pids.push(pid);
                }
            }
        }
        // The daemon first, so it never sees its nodes stop.
        signal_all(&[daemon_pid], Signal::SIGSTOP);
        signal_all(&replica_pids, Signal::SIGSTOP);
        signal_all(&primary_pids, Signal::SIGSTOP);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let resumed = Instant::now();
        signal_all(&[daemon_pid], Signal::SIGCONT);
        signal_all(&replica_pids, Signal::SIGCONT);
        if !primary_pids.is_empty() {
            tokio::time::sleep(RESUME_SPREAD).await;
            signal_all(&primary_pids, Signal::SIGCONT);
        }
        // Observed: the API answers again, the writer writes again; then a while longer than the monitor's
        // deadline plus a failover, in which any failover the stall caused would show.
        let mut answered = false;
        while resumed.elapsed() < Duration::from_secs(30) {
            if c.describe_replication_groups()
                .replication_group_id(PLAIN)
                .send()
                .await
                .is_ok()
            {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !answered {
            row.notes
                .push("the API did not answer within 30 s of the stall".into());
        }
        // An observation window: a failover the stall caused would start within it.
        tokio::time::sleep(control_deadline() * 3).await;
        let log = writer.stop().await;
        row.lost = log.lost();
        row.longest_pause = log.longest_pause();
        if log.first_ack_after(resumed).is_none() {
            row.notes
                .push("the writer wrote nothing after the stall".into());
        }
        // Whatever happened is over before the primaries are compared.
        wait_available(&c, PLAIN, super::CONVERGE).await;
        wait_available(&c, SHARDED, super::CONVERGE).await;
        let after = (
            primaries(&c, PLAIN).await,
            cluster_primaries(&c).await,
            failover_events(&c).await,
        );
        row.failovers = after.2.saturating_sub(before.2);
        if after.0 != before.0 {
            row.primaries_changed += 1;
            row.notes
                .push(format!("{PLAIN}: primary {:?} → {:?}", before.0, after.0));
        }
        if after.1 != before.1 {
            row.primaries_changed += 1;
            row.notes.push(format!(
                "{SHARDED}: primaries {:?} → {:?}",
                before.1, after.1
            ));
        }
        rows.push(row);
    }
    rows
}

/// How long after the daemon and the replicas the primaries run again in a stall of the whole machine: well within
/// the monitor's deadline (800 ms), which counts only while the daemon runs.
const RESUME_SPREAD: Duration = Duration::from_millis(300);

/// The monitor's deadline (a node silent this long is judged), plus the fresh look and the failover's own time.
fn control_deadline() -> Duration {
    Duration::from_millis(800 + 300 + 500)
}
