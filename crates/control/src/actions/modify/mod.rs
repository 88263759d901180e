//! `ModifyReplicationGroup`: every parameter validated by AWS's rules against the group's current state, then
//! recorded with one event per change in one transaction. Node type and engine version wait for the maintenance
//! window unless `ApplyImmediately=true` (see [`due_for_window`]); everything else applies at once: the group
//! turns `modifying` and its worker does the work on the nodes (`maxmemory`, a planned switchover, the monitor's
//! failover setting, a rolling engine upgrade), then `available`.
//!
//! Each concern is a step over a [`Draft`] (its own file below), run in the order that decides which error a bad
//! request gets.

mod cluster_mode;
mod engine;
mod failover;
mod log_delivery;
mod network;
mod node_type;
mod notifications;
mod parameters;
mod pending;
mod security;
mod windows;

use wire::input::ModifyReplicationGroup;
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{GroupStatus, NewEvent, ReplicationGroup};
use crate::rules;
use crate::{now, Control};

/// The group as the request leaves it, built step by step: the changed copy, one event per change, and whether
/// the group's worker has work on the nodes (then the group turns `modifying`).
pub(super) struct Draft {
    pub(super) g: ReplicationGroup,
    pub(super) events: Events,
    pub(super) work: bool,
}

/// The events of one modification, each told as a change of the group.
pub(super) struct Events {
    id: String,
    list: Vec<NewEvent>,
}

impl Events {
    /// Records one change (`what`), as "Modified replication group <id>: <what>".
    pub(super) fn push(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.list.push(NewEvent::group(
            &self.id,
            format!("Modified replication group {}: {what}", self.id),
        ));
    }
}

impl Draft {
    /// A draft of `current`, with nothing changed yet.
    fn of(current: &ReplicationGroup) -> Self {
        Self {
            g: current.clone(),
            events: Events {
                id: current.id.clone(),
                list: Vec::new(),
            },
            work: false,
        }
    }
}

impl Control {
    /// `ModifyReplicationGroup`.
    pub async fn modify_replication_group(
        &self,
        input: ModifyReplicationGroup,
    ) -> Result<output::ReplicationGroup> {
        self.modify_group(input, false).await
    }

    /// `ModifyReplicationGroup` of a replication group, or (`vessel`) the same changes to the vessel of a standalone
    /// cache cluster (`ModifyCacheCluster`).
    pub(crate) async fn modify_group(
        &self,
        input: ModifyReplicationGroup,
        vessel: bool,
    ) -> Result<output::ReplicationGroup> {
        check_request(&input)?;
        let (key, current) = self.group_to_modify(&input, vessel)?;
        if let Some(changed) = self.change_cluster_mode(&current, &input).await? {
            return Ok(changed);
        }
        cluster_mode_rules(&current, &input)?;
        let apply_now = input.apply_immediately.unwrap_or(false);
        let mut d = Draft::of(&current);

        check_node_group(&d.g, &input)?;
        change_description(&mut d, &input)?;
        self.change_transit_encryption(&mut d, &input)?;
        let users = self.change_user_groups(&mut d, &input)?;
        security::change_auth(&mut d, &input, &users)?;
        let (af, maz) = failover::change_failover(&mut d, &input)?;
        failover::switchover(&mut d, &input, af || maz)?;
        windows::change_windows(&mut d, &input)?;
        windows::change_snapshots(&mut d, &input)?;
        security::change_security_groups(&mut d, &input)?;
        engine::change_auto_minor_version_upgrade(&mut d, &input);
        log_delivery::change_log_delivery(&mut d, &input)?;
        self.change_parameter_group(&mut d, &input)?;
        notifications::change_notification(&mut d, &input)?;
        network::change_ip_discovery(&mut d, &input)?;
        let mut pending = self.requested_engine_version(&d.g, &input)?;
        self.requested_node_type(&d.g, &input, &mut pending).await?;
        self.apply_or_wait(&mut d, &input, pending, apply_now)
            .await?;

        self.save_modified(&key, &current, d)
    }

    /// The group the request names, as it is now: it must exist (as a group, or as a standalone cluster's vessel)
    /// and be `available`. Returns it with its key.
    fn group_to_modify(
        &self,
        input: &ModifyReplicationGroup,
        vessel: bool,
    ) -> Result<(String, ReplicationGroup)> {
        let key = input.replication_group_id.to_ascii_lowercase();
        let current = self
            .state()
            .group_of_kind(&input.replication_group_id, vessel)?;
        if current.status != GroupStatus::Available {
            return Err(ControlError::InvalidReplicationGroupState {
                id: current.id.clone(),
                status: current.status.as_str().into(),
            });
        }
        Ok((key, current))
    }

    /// Commits the draft with its events (unless nothing changed), then sets the group's worker going.
    fn save_modified(
        &self,
        key: &str,
        current: &ReplicationGroup,
        d: Draft,
    ) -> Result<output::ReplicationGroup> {
        let Draft {
            mut g,
            events,
            work,
        } = d;
        if g == *current {
            return Ok(self.view_group(&g));
        }
        if work {
            g.status = GroupStatus::Modifying;
        }
        let t = now();
        let evs = events.list;
        self.commit(|st| {
            // The group may have changed while node memory was read.
            if st.groups.get(key) != Some(current) {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: current.id.clone(),
                    status: "changing (another modification was accepted first)".into(),
                });
            }
            st.save_group(&g, t, &evs)?;
            st.refresh(&g.id);
            Ok(self.view_group(&g))
        })
    }
}

impl Control {
    /// Refuses a node type whose memory cannot hold what the group's primaries use now (as their worker reads
    /// them).
    pub(crate) async fn check_fits(
        &self,
        g: &ReplicationGroup,
        node_type: &str,
        bytes: u64,
    ) -> Result<()> {
        // Every shard's primary must fit; the fullest decides.
        let used = self
            .fresh_primaries(g)
            .await?
            .iter()
            .map(|d| d.used_memory)
            .max()
            .unwrap_or(0);
        if used > bytes {
            return Err(combination(format!(
                "Cannot scale replication group {} to {node_type}: its nodes use {used} bytes, more than the {bytes} bytes of memory of {node_type}.",
                g.id
            )));
        }
        Ok(())
    }
}

/// The refusals that depend on the request alone, before the group is looked up.
fn check_request(input: &ModifyReplicationGroup) -> Result<()> {
    // AWS's rule: every log delivery change is applied immediately, and says so.
    if input
        .log_delivery_configurations
        .as_ref()
        .is_some_and(|l| !l.is_empty())
        && input.apply_immediately != Some(true)
    {
        return Err(invalid(
            "To modify the log delivery configuration, set the apply-immediately parameter to true.",
        ));
    }
    if matches!(
        input.durability.as_deref(),
        Some("async") | Some("sync") | Some("disabled")
    ) {
        return Err(invalid(
            "Durability: only 'default' is available (replication is asynchronous, with an append-only file on every node).",
        ));
    }
    if input
        .cache_security_group_names
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        return Err(combination(
            "CacheSecurityGroupNames are for EC2-Classic clusters; Cacheplane groups run as in a VPC: use SecurityGroupIds.",
        ));
    }
    Ok(())
}

/// Refuses a `NodeGroupId` that is not one of the group's shards.
fn check_node_group(g: &ReplicationGroup, input: &ModifyReplicationGroup) -> Result<()> {
    if let Some(ng) = input.node_group_id.as_deref() {
        if g.shard(ng).is_none() {
            return Err(ControlError::NodeGroupNotFound(format!(
                "Node group {} not found in replication group {}: a group with cluster mode disabled has one node group, 0001.",
                rules::shown(ng),
                g.id
            )));
        }
    }
    Ok(())
}

/// `ReplicationGroupDescription`: checked, and changed when it differs.
fn change_description(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    if let Some(desc) = &input.replication_group_description {
        rules::text("ReplicationGroupDescription", desc)?;
        if desc.chars().count() > 255 {
            return Err(invalid(
                "ReplicationGroupDescription must be at most 255 characters long.",
            ));
        }
        if *desc != d.g.description {
            d.g.description = desc.clone();
            d.events.push("description changed");
        }
    }
    Ok(())
}

/// Compares dotted versions numerically.
/// What `ModifyReplicationGroup` may not do to a group because of its cluster mode, by AWS's rules (with AWS's
/// messages), and what Cacheplane does not do yet with cluster mode enabled (refused by name).
fn cluster_mode_rules(g: &ReplicationGroup, input: &ModifyReplicationGroup) -> Result<()> {
    use crate::model::ClusterMode;
    let changes = |v: &Option<String>, now: &str| v.as_deref().is_some_and(|v| v != now);
    if g.cluster_mode == ClusterMode::Compatible {
        // AWS: while compatible, "scaling and engine version are not allowed". The planned switchover and turning
        // automatic failover off are refused too: the nodes run Redis Cluster, whose roles move only by failover.
        if changes(&input.engine_version, &g.engine_version)
            || changes(&input.cache_node_type, &g.cache_node_type)
        {
            return Err(combination(
                "Scaling and engine version changes are not allowed while cluster mode is compatible: set ClusterMode \
                 to enabled (or back to disabled) first.",
            ));
        }
        if input.primary_cluster_id.is_some() || input.automatic_failover_enabled == Some(false) {
            return Err(combination(
                "PrimaryClusterId and AutomaticFailoverEnabled=false are not allowed while cluster mode is \
                 compatible (use TestFailover to move the primary).",
            ));
        }
        if input.transit_encryption_enabled.is_some() || input.transit_encryption_mode.is_some() {
            return Err(not_yet(
                "TransitEncryptionEnabled/TransitEncryptionMode",
                "TLS for groups whose nodes run Redis Cluster",
            ));
        }
        return Ok(());
    }
    if g.cluster_mode != ClusterMode::Enabled {
        return Ok(());
    }
    if input.automatic_failover_enabled == Some(false) {
        return Err(combination(
            "Turning off automatic failover for replication group with cluster mode enabled is not supported.",
        ));
    }
    if input.snapshotting_cluster_id.is_some() {
        return Err(combination(
            "Cannot set snapshotting cluster for cluster mode enabled replication group",
        ));
    }
    if input.primary_cluster_id.is_some() {
        return Err(combination(
            "PrimaryClusterId is for cluster mode disabled groups; with cluster mode enabled, use TestFailover with \
             the node group's NodeGroupId.",
        ));
    }
    if input.transit_encryption_enabled.is_some() || input.transit_encryption_mode.is_some() {
        return Err(not_yet(
            "TransitEncryptionEnabled/TransitEncryptionMode",
            "TLS for cluster mode enabled groups",
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::topic_arn;
    use crate::rules::topic_name;
    use crate::rules::versions::version_cmp;
    use crate::rules::windows::due_for_window;
    use crate::rules::windows::window_work;
    use chrono::TimeZone;
    use chrono::{DateTime, Utc};

    fn group(window: &str, pending: bool) -> ReplicationGroup {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("t");
        ReplicationGroup {
            id: "rg".into(),
            description: String::new(),
            status: GroupStatus::Available,
            engine: "redis".into(),
            engine_version: "7.0.15".into(),
            cache_subnet_group: "default".into(),
            standalone: false,
            dns_suffix: None,
            cache_node_type: "cache.t3.micro".into(),
            port: 6379,
            automatic_failover: false,
            multi_az: false,
            preferred_maintenance_window: window.into(),
            snapshot_retention_limit: 0,
            snapshot_window: "01:00-02:00".into(),
            snapshotting_cluster_id: None,
            security_group_ids: vec![],
            auto_minor_version_upgrade: true,
            cache_parameter_group: "default.redis7".into(),
            create_time: t,
            primary_endpoint: "127.0.0.2".parse().expect("ip"),
            reader_endpoint: "127.0.0.3".parse().expect("ip"),
            shards: vec![crate::model::Shard {
                id: "0001".into(),
                slots: vec![],
                primary_cluster_id: "rg-001".into(),
                members: vec![],
                failover: None,
                switchover_to: None,
                adding: vec![],
            }],
            cluster_mode: Default::default(),
            resharding: None,
            configuration_endpoint: None,
            converting_to: None,
            retain_cluster_id: None,
            create_attempts: 0,
            removing: vec![],
            pending: crate::model::PendingChanges {
                cache_node_type: pending.then(|| "cache.t3.small".to_string()),
                engine_version: None,
                engine: None,
            },
            failover_transition: None,
            notification: None,
            upgrading_to: None,
            upgrading_engine: None,
            pending_transit: None,
            pending_user_groups: None,
            migration: None,
            dual_stack: None,
            transit_encryption: None,
            auth: None,
            user_group_ids: vec![],
            acl: None,
            next_parameter_group: None,
            log_delivery: vec![],
            snapshotting: None,
            restore_from: None,
            final_snapshot: None,
        }
    }

    /// A group of a primary and one replica with automatic failover, Redis 7.0.
    pub(crate) fn sample_group() -> ReplicationGroup {
        let mut g = group("sun:05:00-sun:06:00", false);
        g.automatic_failover = true;
        let t = g.create_time;
        for (i, id) in ["rg-001", "rg-002"].into_iter().enumerate() {
            g.shards[0].members.push(crate::model::Member::new(
                id.into(),
                format!("127.0.0.{}", 10 + i).parse().expect("ip"),
                "local-1a".into(),
                t,
            ));
        }
        g
    }

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        // 2026-11-22 is a Sunday.
        Utc.with_ymd_and_hms(2026, 11, 22 + d, h, m, 0)
            .single()
            .expect("instant")
    }

    #[test]
    fn pending_changes_wait_for_the_window() {
        let g = group("sun:05:00-sun:06:00", true);
        assert!(!due_for_window(&g, at(0, 4, 59)), "a minute before");
        assert!(due_for_window(&g, at(0, 5, 0)), "at the start");
        assert!(due_for_window(&g, at(0, 5, 59)), "at the last minute");
        assert!(!due_for_window(&g, at(0, 6, 0)), "at the end");
        assert!(!due_for_window(&g, at(1, 5, 30)), "another day");
        assert!(
            !due_for_window(&group("sun:05:00-sun:06:00", false), at(0, 5, 30)),
            "nothing pending"
        );
        let mut busy = g.clone();
        busy.status = GroupStatus::Modifying;
        assert!(!due_for_window(&busy, at(0, 5, 30)), "not while modifying");
    }

    #[test]
    fn windows_across_midnight_and_the_week_end() {
        let g = group("sat:23:30-sun:00:30", true);
        assert!(due_for_window(&g, at(6, 23, 45)));
        assert!(due_for_window(&g, at(0, 0, 15)));
        assert!(!due_for_window(&g, at(0, 0, 30)));
        assert!(!due_for_window(&g, at(6, 23, 29)));
    }

    #[test]
    fn auto_minor_version_upgrade_in_the_window() {
        let mut g = group("sun:05:00-sun:06:00", false);
        g.engine_version = "6.2.6".into();
        let versions: Vec<String> = ["7.0.15", "6.2.14", "6.2.10", "6.0.20"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let work = window_work(&g, at(0, 5, 30), &versions).expect("an upgrade");
        assert_eq!(
            work.engine_version.as_deref(),
            Some("6.2.14"),
            "same major, newest"
        );
        assert_eq!(
            window_work(&g, at(0, 7, 0), &versions),
            None,
            "outside the window"
        );
        g.auto_minor_version_upgrade = false;
        assert_eq!(window_work(&g, at(0, 5, 30), &versions), None, "turned off");
        g.auto_minor_version_upgrade = true;
        g.engine_version = "7.0.15".into();
        assert_eq!(
            window_work(&g, at(0, 5, 30), &versions),
            None,
            "already the newest 7"
        );
    }

    #[test]
    fn topic_arns() {
        assert!(topic_arn("arn:aws:sns:us-east-1:123456789012:my-topic").is_ok());
        assert!(topic_arn("arn:aws:sns:us-east-1:1234:t").is_err());
        assert!(topic_arn("arn:aws:sqs:us-east-1:123456789012:t").is_err());
        assert!(topic_arn("nope").is_err());
        assert_eq!(
            topic_name("arn:aws:sns:us-east-1:123456789012:my-topic"),
            "my-topic"
        );
    }

    #[test]
    fn versions() {
        assert_eq!(version_cmp("7.0.15", "6.2.6"), std::cmp::Ordering::Greater);
        assert_eq!(version_cmp("7.0.15", "7.0.15"), std::cmp::Ordering::Equal);
        assert_eq!(version_cmp("6.2.14", "7.0.0"), std::cmp::Ordering::Less);
    }
}
