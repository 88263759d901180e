//! Snapshots: `CreateSnapshot`, `DescribeSnapshots`, `CopySnapshot`, `DeleteSnapshot`; the reconciler's step that
//! takes one (from a replica by default, `SnapshottingClusterId` when set, the member named by `CacheClusterId`
//! when given, as on AWS); restoring a new group from one (`SnapshotName` at create); and the final snapshot of
//! `DeleteReplicationGroup`.
//!
//! A snapshot is a real RDB file under `<data dir>/snapshots/<name>.rdb`, read from a running node the way a
//! replica reads its primary (the node forks; customers' commands are not stopped) and checked with
//! `redis-check-rdb` before it is `available`. Its metadata is in the store.

use crate::rules::snapshots::check_name;
use crate::rules::snapshots::AUTOMATED;
use crate::rules::snapshots::MANUAL;
use std::path::PathBuf;

use wire::input::{CopySnapshot, CreateSnapshot, DescribeSnapshots};
use wire::output;

use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{ClusterMode, GroupStatus, NewEvent, Snapshot};
use crate::rules::tag_pairs;
use crate::state::State;
use crate::{now, rules, Control};

/// The answer to `KmsKeyId` on a snapshot.
const NO_KMS: &str =
    "KmsKeyId: snapshots are not encrypted at rest by this Cacheplane (encryption at rest is not available).";

impl Control {
    pub(crate) fn view_snapshot(&self, s: &Snapshot, node_group_config: bool) -> output::Snapshot {
        let node = |cluster: &str,
                    group: &str,
                    size: u64,
                    created,
                    zone: &str,
                    replicas: i64,
                    slots: Option<String>| output::NodeSnapshot {
            cache_cluster_id: cluster.to_string(),
            node_group_id: group.to_string(),
            cache_size: format!("{} MB", size.div_ceil(1 << 20)),
            cache_node_create_time: created,
            snapshot_create_time: s.taken,
            node_group_config: node_group_config.then(|| output::NodeGroupConfig {
                primary_availability_zone: zone.to_string(),
                replica_count: replicas,
                slots,
            }),
        };
        output::Snapshot {
            snapshot_name: s.name.clone(),
            replication_group_id: if s.of_cluster {
                String::new()
            } else {
                s.replication_group_id.clone()
            },
            cache_cluster_id: s.of_cluster.then(|| s.cache_cluster_id.clone()),
            replication_group_description: s.description.clone(),
            snapshot_status: s.status.clone(),
            snapshot_source: s.source.clone(),
            cache_node_type: s.cache_node_type.clone(),
            engine: s.engine.clone(),
            engine_version: s.engine_version.clone(),
            preferred_maintenance_window: s.preferred_maintenance_window.clone(),
            port: s.port,
            cache_parameter_group_name: s.cache_parameter_group.clone(),
            auto_minor_version_upgrade: s.auto_minor_version_upgrade,
            snapshot_retention_limit: s.snapshot_retention_limit,
            snapshot_window: s.snapshot_window.clone(),
            automatic_failover: if s.automatic_failover {
                "enabled"
            } else {
                "disabled"
            }
            .into(),
            num_node_groups: s.shards.len().max(1) as i64,
            // A snapshot of cluster mode disabled is its one node group, `0001`, without slots.
            node_snapshots: if s.shards.is_empty() {
                vec![node(
                    &s.cache_cluster_id,
                    "0001",
                    s.size,
                    s.cache_cluster_create_time,
                    &s.availability_zone,
                    s.replica_count,
                    None,
                )]
            } else {
                s.shards
                    .iter()
                    .map(|sh| {
                        node(
                            &sh.cache_cluster_id,
                            &sh.node_group_id,
                            sh.size,
                            sh.cache_cluster_create_time,
                            &sh.availability_zone,
                            sh.replica_count,
                            Some(crate::rules::slots::text(&sh.slots)),
                        )
                    })
                    .collect()
            },
            arn: self.inner.settings.arn("snapshot", &s.name),
        }
    }

    /// Checks the quota of manual snapshots against `st`, which the caller holds until it has recorded the new
    /// snapshot: two requests at once cannot both take the last place.
    fn check_quota(&self, st: &State) -> Result<()> {
        let quota = self.inner.settings.snapshot_quota;
        let manual = st.snapshots.values().filter(|s| s.source == MANUAL).count();
        if manual >= quota {
            return Err(ControlError::SnapshotQuotaExceeded(format!(
                "This deployment keeps at most {quota} manual snapshots (--snapshot-quota); delete one first."
            )));
        }
        Ok(())
    }

    /// `CreateSnapshot`: records the snapshot `creating`, the group `snapshotting`; the group's worker takes it.
    pub fn create_snapshot(&self, input: CreateSnapshot) -> Result<output::Snapshot> {
        let name = check_name("SnapshotName", &input.snapshot_name)?;
        if input.kms_key_id.is_some() {
            return Err(combination(NO_KMS));
        }
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let snap = self.commit(|st| {
            self.check_quota(st)?;
            let (mut g, from) = match (&input.replication_group_id, &input.cache_cluster_id) {
                (None, None) => {
                    return Err(combination(
                        "CreateSnapshot needs ReplicationGroupId or CacheClusterId.",
                    ))
                }
                (rg, Some(cc)) => {
                    let cc = cc.to_ascii_lowercase();
                    if st.memcached.contains_key(&cc) {
                        return Err(ControlError::SnapshotFeatureNotSupported(format!(
                            "Cache cluster {cc} runs memcached: snapshots are only for the redis and valkey engines."
                        )));
                    }
                    let g = st
                        .groups
                        .values()
                        .find(|g| g.member(&cc).is_some())
                        .cloned()
                        .ok_or_else(|| ControlError::CacheClusterNotFound(cc.clone()))?;
                    if rg.as_ref().is_some_and(|r| !r.eq_ignore_ascii_case(&g.id)) {
                        return Err(combination(format!(
                            "Cache cluster {cc} is a member of {}, not of the replication group given.",
                            g.id
                        )));
                    }
                    (g, cc)
                }
                (Some(rg), None) => {
                    let g = st
                        .replication_group(rg)
                        .cloned()
                        .ok_or_else(|| ControlError::ReplicationGroupNotFound(rules::shown(rg)))?;
                    let from = crate::rules::snapshots::snapshot_source(&g);
                    (g, from)
                }
            };
            if g.cluster_mode == ClusterMode::Enabled && input.cache_cluster_id.is_some() {
                return Err(combination(format!(
                    "A snapshot of cluster mode enabled replication group {} holds every node group: give its \
                     ReplicationGroupId, not CacheClusterId.",
                    g.id
                )));
            }
            if st.snapshots.contains_key(&name) {
                return Err(ControlError::SnapshotAlreadyExists(format!(
                    "Snapshot {name} already exists."
                )));
            }
            if g.status != GroupStatus::Available {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: g.id.clone(),
                    status: g.status.as_str().into(),
                });
            }
            let snap = crate::rules::snapshots::new_snapshot(&g, &name, MANUAL, &from);
            g.status = GroupStatus::Snapshotting;
            g.snapshotting = Some(name.clone());
            st.store.put_snapshots(
                &[&snap],
                &[],
                Some(&g),
                now(),
                &[NewEvent::group(
                    &g.id,
                    format!(
                        "Snapshot {name} of replication group {} started from {from}",
                        g.id
                    ),
                )],
            )?;
            if !tags.is_empty() {
                st.store
                    .put_tags(&self.inner.settings.arn("snapshot", &name), &tags)?;
            }
            st.snapshots.insert(name.clone(), snap.clone());
            st.groups.insert(g.id.clone(), g.clone());
            st.poke(&g.id);
            Ok(snap)
        })?;
        Ok(self.view_snapshot(&snap, false))
    }

    /// `DescribeSnapshots`: filters `ReplicationGroupId`, `CacheClusterId`, `SnapshotName`, `SnapshotSource`
    /// (`manual`, `automated`; all when absent), pages of 20–50 (50 by default).
    pub fn describe_snapshots(
        &self,
        input: DescribeSnapshots,
    ) -> Result<(Vec<output::Snapshot>, Option<String>)> {
        let limit = match input.max_records {
            None => 50,
            Some(n) if (20..=50).contains(&n) => n as usize,
            Some(n) => {
                return Err(invalid(format!(
                    "Invalid MaxRecords {n}: it must be between 20 and 50."
                )))
            }
        };
        if let Some(src) = &input.snapshot_source {
            if src != MANUAL && src != AUTOMATED {
                return Err(invalid(format!(
                    "Invalid SnapshotSource '{}': use manual or automated.",
                    rules::shown(src)
                )));
            }
        }
        if input.cache_cluster_id.is_some() && input.replication_group_id.is_some() {
            return Err(combination(
                "Cannot specify both ReplicationGroupId and CacheClusterId: give one of them.",
            ));
        }
        let st = self.state();
        let name = input.snapshot_name.as_ref().map(|n| n.to_ascii_lowercase());
        let cc = input
            .cache_cluster_id
            .as_ref()
            .map(|c| c.to_ascii_lowercase());
        let rg = input
            .replication_group_id
            .as_ref()
            .map(|r| r.to_ascii_lowercase());
        let all: Vec<&Snapshot> = st
            .snapshots
            .values()
            .filter(|s| name.as_ref().is_none_or(|n| s.name == *n))
            .filter(|s| {
                rg.as_ref()
                    .is_none_or(|r| !s.of_cluster && s.replication_group_id == *r)
            })
            .filter(|s| cc.as_ref().is_none_or(|c| s.cache_cluster_id == *c))
            .filter(|s| {
                input
                    .snapshot_source
                    .as_ref()
                    .is_none_or(|src| s.source == *src)
            })
            .collect();
        if let Some(n) = &name {
            if all.is_empty() {
                return Err(ControlError::SnapshotNotFound(format!(
                    "Snapshot {n} not found."
                )));
            }
        }
        if let Some(c) = &cc {
            let known = st.groups.values().any(|g| g.member(c).is_some())
                || st.snapshots.values().any(|s| s.cache_cluster_id == *c);
            if !known {
                return Err(ControlError::CacheClusterNotFound(c.clone()));
            }
        }
        let start: usize = match input.marker.as_deref() {
            None | Some("") => 0,
            Some(m) => m
                .parse()
                .map_err(|_| invalid(format!("Invalid Marker '{}'.", rules::shown(m))))?,
        };
        let show = input.show_node_group_config.unwrap_or(false);
        let page = all
            .iter()
            .skip(start)
            .take(limit)
            .map(|s| self.view_snapshot(s, show))
            .collect();
        Ok((
            page,
            (start + limit < all.len()).then(|| (start + limit).to_string()),
        ))
    }

    /// `CopySnapshot`: a new manual snapshot with the same data (the file copied).
    pub async fn copy_snapshot(&self, input: CopySnapshot) -> Result<output::Snapshot> {
        if input.target_bucket.is_some() {
            return Err(invalid(
                "TargetBucket: exporting snapshots to Amazon S3 is not available in Cacheplane; copy within it by leaving TargetBucket out.",
            ));
        }
        if input.kms_key_id.is_some() {
            return Err(combination(NO_KMS));
        }
        let source = input.source_snapshot_name.to_ascii_lowercase();
        let target = check_name("TargetSnapshotName", &input.target_snapshot_name)?;
        let tags = tag_pairs(input.tags.as_deref().unwrap_or_default())?;
        let mut copy = {
            let st = self.state();
            let src = st.snapshots.get(&source).cloned().ok_or_else(|| {
                ControlError::SnapshotNotFound(format!(
                    "Snapshot {} not found.",
                    rules::shown(&source)
                ))
            })?;
            if src.status != "available" {
                return Err(ControlError::InvalidSnapshotState(format!(
                    "Snapshot {source} is {}; it can be copied when it is available.",
                    src.status
                )));
            }
            if st.snapshots.contains_key(&target) {
                return Err(ControlError::SnapshotAlreadyExists(format!(
                    "Snapshot {target} already exists."
                )));
            }
            self.check_quota(&st)?;
            src
        };
        // Temporary names of this request's own: two copies to one target never share a file.
        let from = self.snapshot_files(&copy);
        copy.name = target.clone();
        copy.source = MANUAL.into();
        let to = self.snapshot_files(&copy);
        let token = engine::secret::random_token(8);
        let tmp_of = |f: &PathBuf| PathBuf::from(format!("{}.copying-{token}", f.display()));
        for ((_, src), (_, dst)) in from.iter().zip(&to) {
            if let Err(e) = tokio::fs::copy(src, tmp_of(dst)).await {
                for (_, d) in &to {
                    let _ = std::fs::remove_file(tmp_of(d));
                }
                return Err(ControlError::Internal(format!(
                    "copy snapshot {source}: {e}"
                )));
            }
        }
        self.commit(|st| {
            let taken = if st.snapshots.contains_key(&target) {
                Err(ControlError::SnapshotAlreadyExists(format!(
                    "Snapshot {target} already exists."
                )))
            } else {
                self.check_quota(st)
            };
            if let Err(e) = taken {
                for (_, d) in &to {
                    let _ = std::fs::remove_file(tmp_of(d));
                }
                return Err(e);
            }
            for (_, dst) in &to {
                std::fs::rename(tmp_of(dst), dst)
                    .map_err(|e| ControlError::Internal(format!("copy snapshot {source}: {e}")))?;
            }
            st.store.put_snapshots(
                &[&copy],
                &[],
                None,
                now(),
                &[NewEvent {
                    source_type: "replication-group",
                    source_id: copy.replication_group_id.clone(),
                    message: format!("Snapshot {source} copied to {target}"),
                }],
            )?;
            if !tags.is_empty() {
                st.store
                    .put_tags(&self.inner.settings.arn("snapshot", &target), &tags)?;
            }
            st.snapshots.insert(target, copy.clone());
            Ok(())
        })?;
        Ok(self.view_snapshot(&copy, false))
    }

    /// `DeleteSnapshot`: the file and the record; a snapshot being taken cannot be deleted.
    pub fn delete_snapshot(&self, name: &str) -> Result<output::Snapshot> {
        let key = name.to_ascii_lowercase();
        let mut s = self.commit(|st| {
            let s = st.snapshots.get(&key).cloned().ok_or_else(|| {
                ControlError::SnapshotNotFound(format!(
                    "Snapshot {} not found.",
                    rules::shown(name)
                ))
            })?;
            if s.status == "creating" {
                return Err(ControlError::InvalidSnapshotState(format!(
                    "Snapshot {key} is being created; it can be deleted once it is available."
                )));
            }
            st.store.put_snapshots(
                &[],
                &[&key],
                None,
                now(),
                &[NewEvent::group(
                    &s.replication_group_id,
                    format!("Snapshot {key} deleted"),
                )],
            )?;
            st.store
                .remove_tags_of(&[self.inner.settings.arn("snapshot", &key)])?;
            st.snapshots.remove(&key);
            Ok(s)
        })?;
        self.remove_snapshot_files(&s);
        s.status = "deleting".into();
        Ok(self.view_snapshot(&s, false))
    }

    /// The snapshot a new group is restored from: available, and whose data fits the group's node type.
    pub(crate) fn check_restore(
        &self,
        name: &str,
        cache_node_type: &str,
        engine: &str,
        engine_version: &str,
        node_groups: usize,
    ) -> Result<Snapshot> {
        let key = name.to_ascii_lowercase();
        let s = self.state().snapshots.get(&key).cloned().ok_or_else(|| {
            ControlError::SnapshotNotFound(format!("Snapshot {} not found.", rules::shown(name)))
        })?;
        if s.status != "available" {
            return Err(ControlError::InvalidSnapshotState(format!(
                "Snapshot {key} is {}; a group can be restored from it once it is available.",
                s.status
            )));
        }
        // The file must still be the one taken: an RDB (it starts with `REDIS`) of the recorded size. A file
        // damaged in the data directory would otherwise make every node of the new group fail to start.
        let sizes: Vec<u64> = if s.shards.is_empty() {
            vec![s.size]
        } else {
            s.shards.iter().map(|sh| sh.size).collect()
        };
        for ((_, file), size) in self.snapshot_files(&s).iter().zip(sizes) {
            let intact = std::fs::File::open(file).is_ok_and(|mut f| {
                use std::io::Read;
                let mut magic = [0u8; 9];
                f.read_exact(&mut magic).is_ok()
                    && engine::snapshot::begins_as_rdb(&magic)
                    && f.metadata().is_ok_and(|m| m.len() == size)
            });
            if !intact {
                return Err(ControlError::InvalidSnapshotState(format!(
                    "Snapshot {key} cannot be restored: its file {} is missing or damaged.",
                    file.display()
                )));
            }
        }
        // Each node group holds its share (with cluster mode enabled, the keys are spread by slot).
        let bytes = crate::rules::node_types::maxmemory(cache_node_type).unwrap_or(0);
        let share = s.used_memory / node_groups.max(1) as u64;
        if bytes < share {
            return Err(combination(format!(
                "Cache node type {cache_node_type} ({bytes} bytes) cannot hold snapshot {key}, whose data used {} bytes \
                 ({share} bytes a node group over {node_groups}); choose a larger node type or more node groups.",
                s.used_memory
            )));
        }
        // A Valkey snapshot restores only into Valkey (Redis cannot read its files); a Redis one into either, as
        // AWS allows, and never into an older version of its own engine.
        if s.engine != engine {
            if s.engine == "valkey" {
                return Err(combination(format!(
                    "Snapshot {key} was taken on valkey {}; it can be restored only into a valkey group.",
                    s.engine_version
                )));
            }
        } else if crate::rules::versions::version_cmp(engine_version, &s.engine_version)
            == std::cmp::Ordering::Less
        {
            return Err(combination(format!(
                "Snapshot {key} was taken on engine {}; it cannot be restored on the older {engine_version}.",
                s.engine_version
            )));
        }
        Ok(s)
    }
}
