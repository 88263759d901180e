//! Snapshots on the nodes: a manual or final snapshot taken from a node (a replica when there is one), the automatic
//! snapshots of the snapshot window, and a restore into a cluster of another split, slot by slot.

use super::Step;
use crate::model::GroupStatus;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::Snapshot;
use crate::now;
use crate::rules::snapshots::automatic_name;
use crate::rules::snapshots::automatic_work;
use crate::rules::snapshots::file_stem;
use crate::rules::snapshots::AUTOMATED;
use crate::rules::snapshots::MANUAL;
use crate::ControlError;
use crate::PathBuf;
use engine::admin::AdminClient;

use crate::error::Result;

impl Step {
    /// Reads the data of member `from` of `g` into snapshot `name`'s file and checks it. Returns (file size,
    /// used memory of the node).
    pub(crate) async fn capture_snapshot(
        &self,
        g: &ReplicationGroup,
        from: &str,
        name: &str,
        file: &std::path::Path,
    ) -> Result<(u64, u64)> {
        let m = g
            .member(from)
            .ok_or_else(|| ControlError::Internal(format!("{from} is not a member of {}", g.id)))?;
        let addr = g.admin_addr(m, &self.inner.settings.data_dir);
        let used = {
            let mut c = AdminClient::connect(&addr, self.nodes().admin()).await?;
            let info = c.info("memory").await?;
            info.get("used_memory")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let binary = self.node_spec(g, m)?.binary;
        // A connection the node drops (it is still loading after a restart, say) is no reason to fail a snapshot:
        // three attempts, a moment apart.
        let mut attempt = 0;
        let size = loop {
            attempt += 1;
            // As long as a full sync of this much data may take (`crate::rules::progress`).
            let within = crate::rules::progress::deadline(used);
            match engine::snapshot::capture(&addr, self.nodes().admin(), file, &binary, within)
                .await
            {
                Ok(size) => break size,
                Err(e) if attempt < 3 => {
                    tracing::info!(group = %g.id, snapshot = name, attempt, error = %e, "snapshot capture failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if let Err(e) = engine::snapshot::verify(file, &binary).await {
            let _ = std::fs::remove_file(file);
            return Err(e.into());
        }
        Ok((size, used))
    }

    /// Reads the data of snapshot `snap` of `g` into its files: its member's, or every node group's (one after
    /// another: one fork at a time), and records sizes.
    pub(crate) async fn take_snapshot(
        &self,
        g: &ReplicationGroup,
        snap: &mut Snapshot,
    ) -> Result<()> {
        let files = self.snapshot_files(snap);
        if snap.shards.is_empty() {
            let (size, used) = self
                .capture_snapshot(g, &snap.cache_cluster_id, &snap.name, &files[0].1)
                .await?;
            snap.size = size;
            snap.used_memory = used;
            return Ok(());
        }
        let name = snap.name.clone();
        for (sh, (_, file)) in snap.shards.iter_mut().zip(&files) {
            let (size, used) = self
                .capture_snapshot(g, &sh.cache_cluster_id, &name, file)
                .await?;
            sh.size = size;
            sh.used_memory = used;
        }
        snap.size = snap.shards.iter().map(|s| s.size).sum();
        snap.used_memory = snap.shards.iter().map(|s| s.used_memory).sum();
        Ok(())
    }

    /// The reconciler's step for `CreateSnapshot`: take it, then the group is `available` again.
    pub(crate) async fn snapshot_step(&self, g: &ReplicationGroup, name: &str) -> Result<()> {
        let Some(snap) = self.state().snapshots.get(name).cloned() else {
            return self.update_group(&g.id, |g| {
                g.snapshotting = None;
                g.status = GroupStatus::Available;
                vec![]
            });
        };
        let mut done = snap.clone();
        let result = self.take_snapshot(g, &mut done).await;
        let t = now();
        let message = match &result {
            Ok(()) => {
                done.status = "available".into();
                done.taken = Some(t);
                format!(
                    "Snapshot succeeded for snapshot with ID '{name}' of replication group with ID '{}'",
                    g.id
                )
            }
            Err(e) => {
                tracing::warn!(group = %g.id, snapshot = %name, error = %e, "snapshot failed");
                self.remove_snapshot_files(&done);
                done.status = "failed".into();
                format!(
                    "Snapshot failed for snapshot with ID '{name}' of replication group with ID '{}'",
                    g.id
                )
            }
        };
        self.commit(|st| {
            let Some(mut cur) = st.groups.get(&g.id).cloned() else {
                return Ok(());
            };
            cur.snapshotting = None;
            if cur.status == GroupStatus::Snapshotting {
                cur.status = GroupStatus::Available;
            }
            st.store.put_snapshots(
                &[&done],
                &[],
                Some(&cur),
                t,
                &[NewEvent::group(&g.id, message)],
            )?;
            st.snapshots.insert(name.to_string(), done);
            st.groups.insert(g.id.clone(), cur);
            Ok(())
        })
    }

    /// The final snapshot of a group being deleted, from its primary (as AWS takes it). A failure is logged
    /// and recorded; the deletion goes on.
    pub(crate) async fn final_snapshot_step(&self, g: &ReplicationGroup, name: &str) -> Result<()> {
        let already = self
            .state()
            .snapshots
            .get(name)
            .is_some_and(|s| s.status != "creating");
        if already {
            return Ok(());
        }
        let primary = &g.first_shard().primary_cluster_id;
        let mut snap = crate::rules::snapshots::new_snapshot(g, name, MANUAL, primary);
        let (status, message) = match self.take_snapshot(g, &mut snap).await {
            Ok(()) => {
                snap.taken = Some(now());
                (
                    "available",
                    format!(
                        "Final snapshot {name} of replication group {} succeeded",
                        g.id
                    ),
                )
            }
            Err(e) => {
                tracing::warn!(group = %g.id, snapshot = %name, error = %e, "final snapshot failed");
                self.remove_snapshot_files(&snap);
                (
                    "failed",
                    format!("Final snapshot {name} of replication group {} failed", g.id),
                )
            }
        };
        snap.status = status.into();
        self.commit(|st| {
            st.store.put_snapshots(
                &[&snap],
                &[],
                None,
                now(),
                &[NewEvent::group(&g.id, message)],
            )?;
            st.snapshots.insert(name.to_string(), snap);
            Ok(())
        })
    }

    /// The scheduler's step for a group with `SnapshotRetentionLimit` above 0: prunes automatic snapshots past
    /// retention, and starts one when due (the group turns `snapshotting`; [`Self::snapshot_step`] takes it).
    /// Returns true when it started one.
    pub(crate) fn automatic_step(&self, g: &ReplicationGroup) -> Result<bool> {
        let t = now();
        let automatic: Vec<(String, chrono::DateTime<chrono::Utc>)> = self
            .state()
            .snapshots
            .values()
            .filter(|s| s.replication_group_id == g.id && s.source == AUTOMATED)
            .map(|s| {
                (
                    s.name.clone(),
                    s.taken.unwrap_or(s.cache_cluster_create_time),
                )
            })
            .collect();
        let Ok(window) = crate::rules::DailyWindow::parse(&g.snapshot_window) else {
            return Ok(false);
        };
        let (due, expired) = automatic_work(t, &window, g.snapshot_retention_limit, &automatic);
        if !expired.is_empty() {
            self.commit(|st| {
                let refs: Vec<&str> = expired.iter().map(String::as_str).collect();
                let events: Vec<NewEvent> = expired
                    .iter()
                    .map(|n| {
                        NewEvent::group(
                            &g.id,
                            format!(
                            "Automatic snapshot {n} deleted: past the retention limit of {} days",
                            g.snapshot_retention_limit
                        ),
                        )
                    })
                    .collect();
                st.store.put_snapshots(&[], &refs, None, t, &events)?;
                for n in &expired {
                    if let Some(s) = st.snapshots.remove(n) {
                        self.remove_snapshot_files(&s);
                    }
                }
                Ok(())
            })?;
        }
        if !due || g.status != GroupStatus::Available {
            return Ok(false);
        }
        let name = automatic_name(&g.id, t);
        self.commit(|st| {
            let Some(mut cur) = st.groups.get(&g.id).cloned() else {
                return Ok(false);
            };
            if cur.status != GroupStatus::Available || st.snapshots.contains_key(&name) {
                return Ok(false);
            }
            let from = crate::rules::snapshots::snapshot_source(&cur);
            let mut snap = crate::rules::snapshots::new_snapshot(&cur, &name, AUTOMATED, &from);
            // Counted as taken now for the once-a-window rule even if reading the data takes a while.
            snap.taken = Some(t);
            cur.status = GroupStatus::Snapshotting;
            cur.snapshotting = Some(name.clone());
            st.store.put_snapshots(
                &[&snap],
                &[],
                Some(&cur),
                t,
                &[NewEvent::group(
                    &g.id,
                    format!("Automatic snapshot {name} started from {from}"),
                )],
            )?;
            st.snapshots.insert(name, snap);
            st.groups.insert(g.id.clone(), cur);
            Ok(true)
        })
    }

    /// Loads snapshot `name` into new group `g`, whose nodes run Redis Cluster and whose cluster is formed: every
    /// key of every file of the snapshot goes to the primary serving its slot (`engine::load`), whatever the
    /// snapshot's own split. Run again after an interruption, it sends the same keys again (replacing them).
    pub(crate) async fn restore_by_slot(&self, g: &ReplicationGroup, name: &str) -> Result<()> {
        let Some(snap) = self.state().snapshots.get(name).cloned() else {
            return Err(ControlError::SnapshotNotFound(format!(
                "Snapshot {name} not found."
            )));
        };
        let mut owners = Vec::new();
        let mut binary = None;
        let mut tls = None;
        let cluster = g.cluster_mode.runs_cluster();
        let restore_dir = self.inner.settings.data_dir.join("restore");
        for sh in &g.shards {
            let p = sh.primary().ok_or_else(|| {
                ControlError::Internal(format!("node group {} has no primary", sh.id))
            })?;
            let spec = self.node_spec(g, p)?;
            binary = Some(spec.binary);
            // The loader's `MIGRATE` speaks TLS to TLS nodes, with a certificate of its own that names nothing (no
            // client could take it for a node's), removed when the loading ends.
            tls = match spec.tls {
                Some(_) => Some(
                    self.inner
                        .tls
                        .node_certificate(&restore_dir.join(format!("{}.tls", g.id)), &[])?,
                ),
                None => None,
            };
            owners.push(engine::load::SlotOwner {
                addr: g.tcp_addr(p),
                // Outside cluster mode the one primary takes every key.
                slots: if cluster {
                    sh.slots.clone()
                } else {
                    vec![(0, engine::cluster::SLOTS - 1)]
                },
            });
        }
        let binary =
            binary.ok_or_else(|| ControlError::Internal(format!("{} has no node group", g.id)))?;
        let work = restore_dir.join(&g.id);
        let within = crate::rules::progress::deadline(snap.used_memory);
        let mut keys = 0;
        let mut loaded = Ok(());
        for (_, file) in self.snapshot_files(&snap) {
            match engine::load::load_by_slot(
                &file,
                &binary,
                &work,
                &owners,
                self.nodes().admin(),
                tls.as_ref(),
                if cluster {
                    engine::load::Databases::First
                } else {
                    engine::load::Databases::All
                },
                within,
            )
            .await
            {
                Ok(n) => keys += n,
                Err(e) => {
                    loaded = Err(e);
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(restore_dir.join(format!("{}.tls", g.id)));
        loaded?;
        tracing::info!(group = %g.id, snapshot = name, keys, "snapshot loaded by slot");
        Ok(())
    }
}

impl Step {
    /// Where a snapshot's RDB file is: `<name>.rdb`, or, for a name too long for a file name with the suffixes
    /// a snapshot's temporary files take (AWS allows 255 characters; a file name holds 255 bytes), its first 180
    /// characters and a digest of the whole name.
    pub(crate) fn snapshot_file(&self, name: &str) -> PathBuf {
        self.inner
            .settings
            .data_dir
            .join("snapshots")
            .join(format!("{}.rdb", file_stem(name)))
    }

    /// The RDB files of snapshot `s`: its one file, or with cluster mode enabled one per node group
    /// (`<name>.<node group>.rdb`), with the node group's id.
    pub(crate) fn snapshot_files(&self, s: &Snapshot) -> Vec<(Option<String>, PathBuf)> {
        if s.shards.is_empty() {
            return vec![(None, self.snapshot_file(&s.name))];
        }
        s.shards
            .iter()
            .map(|sh| {
                let file = self.snapshot_file(&s.name);
                (
                    Some(sh.node_group_id.clone()),
                    file.with_extension(format!("{}.rdb", sh.node_group_id)),
                )
            })
            .collect()
    }

    /// Removes every file of snapshot `s` (a file already gone is no error).
    pub(crate) fn remove_snapshot_files(&self, s: &Snapshot) {
        for (_, f) in self.snapshot_files(s) {
            let _ = std::fs::remove_file(f);
        }
    }

    /// Forgets the automatic snapshots of a deleted group (manual ones stay, as on AWS).
    pub(crate) fn drop_automatic_snapshots(&self, group: &str) -> Result<()> {
        self.commit(|st| {
            let names: Vec<String> = st
                .snapshots
                .values()
                .filter(|s| s.replication_group_id == group && s.source == AUTOMATED)
                .map(|s| s.name.clone())
                .collect();
            if names.is_empty() {
                return Ok(());
            }
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            st.store.put_snapshots(&[], &refs, None, now(), &[])?;
            for n in &names {
                if let Some(s) = st.snapshots.remove(n) {
                    self.remove_snapshot_files(&s);
                }
            }
            Ok(())
        })
    }
}
