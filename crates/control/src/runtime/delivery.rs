//! The log delivery worker: every [`POLL`], for each group with `LogDeliveryConfigurations`, reads each node's new
//! slow log entries (`SLOWLOG GET`) and new engine log lines (its log file, past a byte offset), turns them into
//! AWS's records ([`crate::rules::log_delivery`]) and delivers them, then moves the configurations' statuses on.
//!
//! Delivery is at least once and in order per node. Where a node's reading got to is a cursor: for the slow log the
//! process's `run_id` and the last entry id delivered (ids start again when a node restarts), for the engine log a
//! byte offset. A cursor is written in the same transaction as the records it covers when they go to the log store
//! (so, there, exactly once, across daemon restarts too), and right after they are written to a Firehose sink file.
//! A newly enabled configuration starts from what each node logs from then on, not its history.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use engine::admin::AdminClient;
use tokio::sync::watch;

use crate::error::{ControlError, Result};
use crate::model::LogDelivery;
use crate::model::{Member, ReplicationGroup};
use crate::rules::log_delivery::{engine_record, engine_time_ms, slow_record};
use crate::Control;

/// How often nodes are read.
pub const POLL: Duration = Duration::from_millis(100);
/// Engine log bytes read from a node in one pass at most.
const LOG_CHUNK: usize = 1 << 20;

/// A connection to a node, with the `run_id` of the process it reaches and how many slow log entries a read asks
/// for (grown while a read falls short of the cursor, so that a busy node is read in one command).
struct NodeConn {
    client: AdminClient,
    run_id: String,
    count: usize,
    /// The slow log cursor last committed, by cursor name: read from the log store once, then kept here (the
    /// worker is the only writer), so a poll of an idle node costs one `SLOWLOG GET` and nothing else.
    cursors: HashMap<String, Option<String>>,
}

fn io(e: std::io::Error) -> ControlError {
    ControlError::Internal(format!("firehose sink: {e}"))
}

fn logs_err(e: wire::logs::LogsError) -> ControlError {
    ControlError::Internal(format!("log store: {}", e.message))
}

impl Control {
    /// Runs the delivery worker until `shutdown`.
    pub async fn run_log_delivery(&self, mut shutdown: watch::Receiver<bool>) {
        let mut conns: HashMap<String, NodeConn> = HashMap::new();
        loop {
            let groups: Vec<ReplicationGroup> = self
                .state()
                .groups
                .values()
                .filter(|g| !g.log_delivery.is_empty())
                .cloned()
                .collect();
            for g in &groups {
                if let Err(e) = self.deliver_group(g, &mut conns).await {
                    tracing::debug!(group = %g.id, error = %e, "log delivery pass incomplete; next pass retries");
                }
            }
            conns.retain(|name, _| {
                groups
                    .iter()
                    .any(|g| g.members().any(|m| m.cluster_id == *name))
            });
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One pass over a group's nodes; then the statuses of its configurations.
    async fn deliver_group(
        &self,
        g: &ReplicationGroup,
        conns: &mut HashMap<String, NodeConn>,
    ) -> Result<()> {
        let mut first_err = None;
        for m in g.members() {
            for d in g.log_delivery.iter().filter(|d| d.status != "disabling") {
                let r = if d.log_type == "slow-log" {
                    self.deliver_slow_log(g, m, d, conns).await
                } else {
                    self.deliver_engine_log(g, m, d).await
                };
                if let Err(e) = r {
                    conns.remove(&m.cluster_id);
                    first_err = first_err.or(Some(e));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if g.log_delivery.iter().all(|d| d.status == "active") {
            return Ok(());
        }
        // Every node was read for every configuration: they are active now; disabled ones go, with their cursors.
        for d in g.log_delivery.iter().filter(|d| d.status == "disabling") {
            for m in g.members() {
                let name = cursor_name(d, m);
                self.clear_cursor(&name).await?;
                if let Some(conn) = conns.get_mut(&m.cluster_id) {
                    conn.cursors.remove(&name);
                }
            }
        }
        let seen = g.log_delivery.clone();
        self.update_group(&g.id, |cur| {
            if cur.log_delivery != seen {
                // Changed meanwhile: the next pass takes the new configurations up.
                return vec![];
            }
            cur.log_delivery.retain(|d| d.status != "disabling");
            for d in &mut cur.log_delivery {
                d.status = "active".into();
            }
            vec![]
        })
    }

    async fn clear_cursor(&self, name: &str) -> Result<()> {
        let name = name.to_string();
        self.log_store()
            .run(move |s| s.clear_cursor(&name))
            .await
            .map_err(logs_err)
    }

    async fn cursor(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_string();
        self.log_store()
            .run(move |s| s.cursor(&name))
            .await
            .map_err(logs_err)
    }

    /// Writes `records` (timestamp ms, text) of node `m` to `d`'s destination, with the cursor that covers them.
    async fn deliver(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        d: &LogDelivery,
        records: Vec<(i64, String)>,
        cursor: &str,
    ) -> Result<()> {
        let n = records.len();
        self.write_records(g, m, d, records, cursor).await?;
        if n > 0 {
            self.inner
                .metrics
                .delivered(&g.id, &d.log_type, &d.destination_type, n);
        }
        Ok(())
    }

    async fn write_records(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        d: &LogDelivery,
        records: Vec<(i64, String)>,
        cursor: &str,
    ) -> Result<()> {
        let name = cursor_name(d, m);
        let cursor = cursor.to_string();
        let now_ms = crate::now().timestamp_millis();
        if d.destination_type == "cloudwatch-logs" {
            let stream = format!(
                "elasticache/{}/{}/0001/{}",
                g.release_of(m).0,
                m.cluster_id,
                d.log_type
            );
            let group = d.destination.clone();
            return self
                .log_store()
                .run(move |s| s.append(&group, &stream, &records, now_ms, Some((&name, &cursor))))
                .await
                .map_err(logs_err);
        }
        if !records.is_empty() {
            let dir = self.inner.settings.data_dir.join("firehose");
            engine::private::create_dir(&dir)?;
            let path = dir.join(format!("{}.log", d.destination));
            if std::fs::metadata(&path)
                .is_ok_and(|md| md.len() >= crate::rules::log_delivery::FIREHOSE_FILE_BYTES)
            {
                std::fs::rename(&path, dir.join(format!("{}.log.1", d.destination))).map_err(io)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            let mut buf = String::new();
            for (_, r) in &records {
                buf.push_str(r);
                buf.push('\n');
            }
            f.write_all(buf.as_bytes()).map_err(io)?;
        }
        self.log_store()
            .run(move |s| s.set_cursor(&name, &cursor))
            .await
            .map_err(logs_err)
    }

    async fn deliver_slow_log(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        d: &LogDelivery,
        conns: &mut HashMap<String, NodeConn>,
    ) -> Result<()> {
        if !self.inner.monitor.health(&m.cluster_id).is_up() {
            return Err(ControlError::Internal(format!(
                "{} is not up",
                m.cluster_id
            )));
        }
        if !conns.contains_key(&m.cluster_id) {
            let spec = self.node_spec(g, m)?;
            let mut client = AdminClient::connect(&spec.node_addr(), &self.inner.admin).await?;
            let run_id = client
                .info("server")
                .await?
                .get("run_id")
                .cloned()
                .unwrap_or_default();
            conns.insert(
                m.cluster_id.clone(),
                NodeConn {
                    client,
                    run_id,
                    count: 128,
                    cursors: HashMap::new(),
                },
            );
        }
        let conn = conns.get_mut(&m.cluster_id).expect("inserted");
        let name = cursor_name(d, m);
        let saved = match conn.cursors.get(&name) {
            Some(c) => c.clone(),
            None => {
                let c = self.cursor(&name).await?;
                conn.cursors.insert(name.clone(), c.clone());
                c
            }
        };
        let last = saved.as_deref().and_then(|c| {
            let (run, id) = c.split_once(' ')?;
            (run == conn.run_id).then(|| id.parse::<u64>().ok())?
        });
        // Newest first in the engine; read more until the entries reach past the cursor (or the log's start).
        let entries = loop {
            let count = conn.count;
            let entries = conn.client.slowlog(count).await?;
            // Past the cursor, or the whole slow log (it holds `slowlog-max-len` entries at most; older ones are
            // gone, as on AWS).
            let reached = entries.len() < count
                || last.is_none_or(|l| entries.first().is_some_and(|e| e.id <= l + 1));
            if reached || count >= 1 << 20 {
                break entries;
            }
            conn.count = count * 8;
        };
        let fresh_start = saved.is_none() && d.status == "enabling";
        let top = entries.last().map(|e| e.id);
        let records: Vec<(i64, String)> = if fresh_start {
            vec![]
        } else {
            entries
                .iter()
                .filter(|e| last.is_none_or(|l| e.id > l) && from_a_client(e))
                .map(|e| {
                    (
                        e.timestamp * 1000,
                        slow_record(&m.cluster_id, "0001", e, &d.format),
                    )
                })
                .collect()
        };
        let top = top
            .map(|t| t as i64)
            .or(last.map(|l| l as i64))
            .unwrap_or(-1);
        let cursor = format!("{} {top}", conn.run_id);
        if records.is_empty() && saved.as_deref() == Some(cursor.as_str()) {
            return Ok(());
        }
        // Forgotten first: should the delivery fail, the next poll reads the committed cursor again.
        conn.cursors.remove(&name);
        self.deliver(g, m, d, records, &cursor).await?;
        conn.cursors.insert(name, Some(cursor));
        Ok(())
    }

    async fn deliver_engine_log(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        d: &LogDelivery,
    ) -> Result<()> {
        let spec = self.node_spec(g, m)?;
        let name = cursor_name(d, m);
        let saved = self.cursor(&name).await?;
        let offset = match saved.as_deref().and_then(|c| c.parse::<u64>().ok()) {
            Some(o) => o,
            None if d.status == "enabling" => {
                // From what the node logs from now on.
                let (_, len) = self.nodes().read_log(&spec, None, 0).await?;
                return self.deliver(g, m, d, vec![], &len.to_string()).await;
            }
            None => 0,
        };
        let (lines, next) = self
            .nodes()
            .read_log(&spec, Some(offset), LOG_CHUNK)
            .await?;
        if next == offset && saved.is_some() {
            return Ok(());
        }
        let now_ms = crate::now().timestamp_millis();
        let records: Vec<(i64, String)> = lines
            .iter()
            .filter_map(|l| engine::logs::LogLine::parse(l))
            .map(|l| {
                (
                    engine_time_ms(&l).unwrap_or(now_ms),
                    engine_record(&m.cluster_id, "0001", &l, &d.format),
                )
            })
            .collect();
        self.deliver(g, m, d, records, &next.to_string()).await
    }
}

/// Whether a slow log entry is a customer's: not the control plane's own (its admin connection is a Unix socket,
/// which customers cannot reach), nor the replication link's (`PSYNC`, `SYNC`, `REPLCONF`).
fn from_a_client(e: &engine::logs::SlowEntry) -> bool {
    !e.client_address.starts_with('/')
        && !e.args.first().is_some_and(|c| {
            ["REPLCONF", "PSYNC", "SYNC"]
                .iter()
                .any(|r| c.eq_ignore_ascii_case(r))
        })
}

/// The cursor of log type `d` on node `m`.
fn cursor_name(d: &LogDelivery, m: &Member) -> String {
    format!("{}:{}", d.log_type, m.cluster_id)
}
