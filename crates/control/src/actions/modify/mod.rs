//! `ModifyReplicationGroup`: every parameter validated by AWS's rules against the group's current state, then
//! recorded with one event per change in one transaction. Node type and engine version wait for the maintenance
//! window unless `ApplyImmediately=true` (see [`due_for_window`]); everything else applies at once: the group
//! turns `modifying` and its worker does the work on the nodes (`maxmemory`, a planned switchover, the monitor's
//! failover setting, a rolling engine upgrade), then `available`.

mod cluster_mode;

use crate::rules::topic_arn;
use crate::rules::versions::version_cmp;
use crate::rules::windows::upgrade_ends;
use wire::input::ModifyReplicationGroup;
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{GroupStatus, NewEvent, Notification, ReplicationGroup};
use crate::rules::node_types;
use crate::rules::{self, DailyWindow, WeeklyWindow};
use crate::{now, Control};

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

        let key = input.replication_group_id.to_ascii_lowercase();
        let current = self
            .state()
            .groups
            .get(&key)
            .filter(|g| g.standalone == vessel)
            .cloned()
            .ok_or_else(|| {
                if vessel {
                    ControlError::CacheClusterNotFound(rules::shown(&input.replication_group_id))
                } else {
                    ControlError::ReplicationGroupNotFound(rules::shown(
                        &input.replication_group_id,
                    ))
                }
            })?;
        if current.status != GroupStatus::Available {
            return Err(ControlError::InvalidReplicationGroupState {
                id: current.id.clone(),
                status: current.status.as_str().into(),
            });
        }
        if let Some(changed) = self.change_cluster_mode(&current, &input).await? {
            return Ok(changed);
        }
        cluster_mode_rules(&current, &input)?;
        let apply_now = input.apply_immediately.unwrap_or(false);
        let mut g = current.clone();
        let mut events: Vec<String> = Vec::new();
        let mut work = false;

        if let Some(ng) = input.node_group_id.as_deref() {
            if g.shard(ng).is_none() {
                return Err(ControlError::NodeGroupNotFound(format!(
                    "Node group {} not found in replication group {}: a group with cluster mode disabled has one node group, 0001.",
                    rules::shown(ng),
                    g.id
                )));
            }
        }
        if let Some(d) = &input.replication_group_description {
            rules::text("ReplicationGroupDescription", d)?;
            if d.chars().count() > 255 {
                return Err(invalid(
                    "ReplicationGroupDescription must be at most 255 characters long.",
                ));
            }
            if *d != g.description {
                g.description = d.clone();
                events.push("description changed".into());
            }
        }

        // TLS in transit: applied at once, node by node without a restart (`CONFIG SET`), status `modifying`
        // until every node listens as the mode says.
        if let Some(next) = crate::rules::security::transit_change(
            g.transit_encryption,
            input.transit_encryption_enabled,
            input.transit_encryption_mode.as_deref(),
        )? {
            if next.is_some() {
                if g.engine_version_triple() < (7, 0, 5) {
                    return Err(invalid(format!(
                        "In-transit encryption can be changed on an existing group from engine version 7.0.5; \
                         {} runs {}. Upgrade the engine first.",
                        g.id, g.engine_version
                    )));
                }
                crate::rules::security::tls_possible(
                    &self.inner.settings.binaries,
                    &g.engine,
                    &g.engine_version,
                    g.port,
                    g.dual_stack.is_some(),
                )?;
            }
            if g.migration.is_some() {
                return Err(combination(
                    "In-transit encryption cannot be changed while the group is a migration target.",
                ));
            }
            if !g.user_group_ids.is_empty() {
                return Err(combination(
                    "Modification of transit encryption is not supported for access control enabled clusters.",
                ));
            }
            if next.is_none() && g.auth.as_ref().is_some_and(|a| !a.hashes.is_empty()) {
                return Err(combination(
                    "In-transit encryption cannot be turned off while the group has an AUTH token: AUTH tokens need TLS.",
                ));
            }
            events.push(match next {
                Some(m) => format!("transit encryption mode set to {}", m.as_str()),
                None => "transit encryption disabled".into(),
            });
            g.transit_encryption = next;
            g.pending_transit = Some((next.is_some(), next.map(|m| m.as_str().to_string())));
            work = true;
        }

        // User groups: the nodes' ACL users become exactly the attached groups' users.
        let mut user_groups = g.user_group_ids.clone();
        if input.remove_user_groups == Some(true) {
            user_groups.clear();
        }
        for id in input.user_group_ids_to_remove.iter().flatten() {
            if !g.user_group_ids.contains(id) {
                return Err(invalid(format!(
                    "User group {} is not attached to {}.",
                    rules::shown(id),
                    g.id
                )));
            }
            user_groups.retain(|u| u != id);
        }
        let adding: Vec<String> = input
            .user_group_ids_to_add
            .iter()
            .flatten()
            .filter(|id| !user_groups.contains(id))
            .cloned()
            .collect();
        user_groups.extend(adding.iter().cloned());
        let groups_changed = user_groups != g.user_group_ids;
        if groups_changed {
            let st = self.state();
            self.check_user_groups_for(&st, &user_groups, g.transit_encryption, &g.engine_version)?;
            if !adding.is_empty()
                && g.auth.as_ref().is_some_and(|a| !a.hashes.is_empty())
                && input.auth_token_update_strategy.as_deref() != Some("DELETE")
            {
                return Err(combination(
                    "This group uses AUTH tokens: move it to user groups with AuthTokenUpdateStrategy=DELETE together with UserGroupIdsToAdd.",
                ));
            }
            g.acl = st.acl_of(&user_groups);
            drop(st);
            events.push(if user_groups.is_empty() {
                "user groups removed".to_string()
            } else {
                format!("user groups set to {}", user_groups.join(", "))
            });
            let removed: Vec<String> = g
                .user_group_ids
                .iter()
                .filter(|u| !user_groups.contains(u))
                .cloned()
                .collect();
            g.pending_user_groups = Some((adding.clone(), removed));
            g.user_group_ids = user_groups.clone();
            work = true;
        }
        if input.auth_token.is_some() && !g.user_group_ids.is_empty() {
            return Err(combination(
                "AuthToken cannot be set on a group with user groups; to move back to AUTH tokens, give AuthTokenUpdateStrategy=SET with RemoveUserGroups=true.",
            ));
        }

        // AUTH tokens: applied at once to every node's `default` user (`ACL SETUSER`), status `modifying` and
        // `AuthTokenStatus` until done.
        if let Some(next) = crate::rules::security::auth_change(
            g.auth.as_ref(),
            input.auth_token.as_ref().map(|t| t.0.as_str()),
            input.auth_token_update_strategy.as_deref(),
            g.transit_encryption.is_some(),
            !adding.is_empty(),
            groups_changed && user_groups.is_empty(),
        )? {
            events.push(match next.as_ref().and_then(|a| a.status.as_deref()) {
                Some("SETTING") => "AUTH token set".to_string(),
                Some(_) => "AUTH token rotated".to_string(),
                None => "AUTH tokens removed".to_string(),
            });
            g.auth = next;
            work = true;
        }

        // Automatic failover and Multi-AZ, checked on the settings they lead to.
        let af = input
            .automatic_failover_enabled
            .unwrap_or(g.automatic_failover);
        let maz = input.multi_az_enabled.unwrap_or(g.multi_az);
        // Every shard needs a replica to fail over to.
        let replicas = g
            .shards
            .iter()
            .map(|s| s.replicas().count())
            .min()
            .unwrap_or(0);
        if af && !g.automatic_failover && replicas == 0 {
            return Err(combination(
                "Replication group must have at least one read replica to enable autofailover.",
            ));
        }
        if maz && !af {
            return Err(combination(
                "Multi-AZ requires automatic failover: set AutomaticFailoverEnabled to true (or disable Multi-AZ).",
            ));
        }
        if maz && !g.multi_az {
            if replicas == 0 {
                return Err(combination(
                    "Multi-AZ needs at least one read replica in the replication group.",
                ));
            }
            if g.cache_node_type.starts_with("cache.t1.") {
                return Err(invalid("Multi-AZ is not supported on T1 node types."));
            }
        }
        if af != g.automatic_failover {
            g.failover_transition = Some(if af { "enabling" } else { "disabling" }.into());
            g.automatic_failover = af;
            events.push(format!(
                "automatic failover {}",
                if af { "enabled" } else { "disabled" }
            ));
            work = true;
        }
        if maz != g.multi_az {
            g.multi_az = maz;
            events.push(format!(
                "Multi-AZ {}",
                if maz { "enabled" } else { "disabled" }
            ));
        }

        // A planned switchover; AWS allows it only with automatic failover and Multi-AZ off.
        if let Some(p) = &input.primary_cluster_id {
            let p = p.to_ascii_lowercase();
            if g.member(&p).is_none() {
                return Err(invalid(format!(
                    "PrimaryClusterId {}: no such member in replication group {}.",
                    rules::shown(&p),
                    g.id
                )));
            }
            if af || maz {
                return Err(combination(
                    "PrimaryClusterId can be set only when automatic failover and Multi-AZ are disabled; with them on, use TestFailover.",
                ));
            }
            if !g.is_primary(&p) {
                events.push(format!("switchover to primary {p} requested"));
                if let Some(s) = g.shards.iter_mut().find(|s| s.member(&p).is_some()) {
                    s.switchover_to = Some(p);
                }
                work = true;
            }
        }

        // Windows and snapshot settings.
        let maintenance = match &input.preferred_maintenance_window {
            Some(w) => WeeklyWindow::parse(w)?,
            None => WeeklyWindow::parse(&g.preferred_maintenance_window)?,
        };
        let snapshot = match &input.snapshot_window {
            Some(w) => DailyWindow::parse(w)?,
            None => DailyWindow::parse(&g.snapshot_window)?,
        };
        if (input.preferred_maintenance_window.is_some() || input.snapshot_window.is_some())
            && maintenance.overlaps_daily(&snapshot)
        {
            return Err(combination(
                "The snapshot window and maintenance window must not overlap.",
            ));
        }
        if maintenance.format() != g.preferred_maintenance_window {
            g.preferred_maintenance_window = maintenance.format();
            events.push(format!(
                "maintenance window set to {}",
                g.preferred_maintenance_window
            ));
        }
        if snapshot.format() != g.snapshot_window {
            g.snapshot_window = snapshot.format();
            events.push(format!("snapshot window set to {}", g.snapshot_window));
        }
        if let Some(n) = input.snapshot_retention_limit {
            if !(0..=35).contains(&n) {
                return Err(invalid(format!(
                    "Invalid SnapshotRetentionLimit {n}: it must be between 0 and 35 days."
                )));
            }
            if n != g.snapshot_retention_limit {
                g.snapshot_retention_limit = n;
                events.push(format!("snapshot retention limit set to {n}"));
            }
        }
        if let Some(c) = &input.snapshotting_cluster_id {
            let c = c.to_ascii_lowercase();
            if g.member(&c).is_none() {
                return Err(invalid(format!(
                    "SnapshottingClusterId {}: no such member in replication group {}.",
                    rules::shown(&c),
                    g.id
                )));
            }
            if g.snapshotting_cluster_id.as_deref() != Some(c.as_str()) {
                events.push(format!("snapshotting cluster set to {c}"));
                g.snapshotting_cluster_id = Some(c);
            }
        }

        if let Some(sgs) = &input.security_group_ids {
            for sg in sgs {
                rules::security_group_id(sg)?;
            }
            if *sgs != g.security_group_ids {
                g.security_group_ids = sgs.clone();
                events.push(format!("security groups set to {}", sgs.join(", ")));
            }
        }
        if let Some(v) = input.auto_minor_version_upgrade {
            if v != g.auto_minor_version_upgrade {
                g.auto_minor_version_upgrade = v;
                events.push(format!("auto minor version upgrade set to {v}"));
            }
        }
        if let Some(requests) = input
            .log_delivery_configurations
            .as_deref()
            .filter(|l| !l.is_empty())
        {
            let next = crate::rules::log_delivery::apply(
                &g.log_delivery,
                requests,
                &g.engine,
                &g.engine_version,
            )?;
            for l in &next {
                if g.log_delivery.iter().all(|c| c != l) {
                    events.push(format!(
                        "{} delivery to {} {} ({}): {}",
                        l.log_type, l.destination_type, l.destination, l.format, l.status
                    ));
                }
            }
            g.log_delivery = next;
        }
        if let Some(p) = &input.cache_parameter_group_name {
            // The family the group runs after this request: a new engine version's, when one is asked for.
            let (engine, version) = match &input.engine_version {
                Some(v) => (
                    input.engine.clone().unwrap_or_else(|| g.engine.clone()),
                    self.inner
                        .settings
                        .resolve_version(input.engine.as_deref().unwrap_or(&g.engine), v)?
                        .version
                        .clone(),
                ),
                None => (g.engine.clone(), g.engine_version.clone()),
            };
            let pg = self.usable_parameter_group(p, &engine, &version)?;
            let current = self
                .parameter_group(&g.cache_parameter_group)
                .is_some_and(|c| c.cluster_enabled());
            if pg.cluster_enabled() != current {
                return Err(combination(
                    "The parameter cluster-enabled has a different value in the requested parameter group than the \
                     current parameter group. This parameter value cannot be changed for a cache cluster.",
                ));
            }
            if (engine.as_str(), version.as_str()) != (g.engine.as_str(), g.engine_version.as_str())
                && crate::rules::versions::parameter_group_family(&engine, &version)
                    != crate::rules::versions::parameter_group_family(&g.engine, &g.engine_version)
            {
                // Taken when the upgrade to the new family ends.
                g.next_parameter_group = Some(pg.name);
            } else if pg.name != g.cache_parameter_group {
                events.push(format!(
                    "cache parameter group changed from {} to {}",
                    g.cache_parameter_group, pg.name
                ));
                g.cache_parameter_group = pg.name;
            }
        } else if let Some(v) = &input.engine_version {
            // A customer's own group is not swapped for a default one by an upgrade to another family.
            let engine = input.engine.as_deref().unwrap_or(&g.engine);
            let to = self.inner.settings.resolve_version(engine, v)?;
            if !g.cache_parameter_group.starts_with("default.")
                && crate::rules::versions::parameter_group_family(engine, &to.version)
                    != crate::rules::versions::parameter_group_family(&g.engine, &g.engine_version)
            {
                return Err(combination(format!(
                    "Replication group {} uses its own parameter group {} (family {}); engine {engine} {} needs a \
                     parameter group of family {}: name one in CacheParameterGroupName.",
                    g.id,
                    g.cache_parameter_group,
                    crate::rules::versions::parameter_group_family(&g.engine, &g.engine_version),
                    to.version,
                    crate::rules::versions::parameter_group_family(engine, &to.version)
                )));
            }
        }

        // Notifications.
        {
            let (arn, status) = (
                &input.notification_topic_arn,
                &input.notification_topic_status,
            );
            {
                let active = match status.as_deref() {
                    None => None,
                    Some("active") => Some(true),
                    Some("inactive") => Some(false),
                    Some(other) => {
                        return Err(invalid(format!(
                            "Invalid NotificationTopicStatus '{}': use active or inactive.",
                            rules::shown(other)
                        )))
                    }
                };
                let next = match (arn, &g.notification) {
                    (Some(a), _) => {
                        topic_arn(a)?;
                        Some(Notification {
                            topic_arn: a.clone(),
                            active: active.unwrap_or(true),
                        })
                    }
                    (None, Some(n)) => Some(Notification {
                        topic_arn: n.topic_arn.clone(),
                        active: active.unwrap_or(n.active),
                    }),
                    (None, None) if active.is_some() => {
                        return Err(combination(
                            "NotificationTopicStatus needs a NotificationTopicArn: the group has no topic.",
                        ))
                    }
                    (None, None) => None,
                };
                if next != g.notification {
                    if let Some(n) = &next {
                        events.push(format!(
                            "notification topic {} is {}",
                            n.topic_arn,
                            n.status()
                        ));
                    }
                    g.notification = next;
                }
            }
        }

        // IP discovery: the address family the nodes follow each other over and are reported at. AWS allows
        // IPv6 only on dual-stack groups; the move is rolling (see the reconciler's discovery step).
        if let Some(d) = input.ip_discovery.as_deref() {
            let want = d == "ipv6";
            match &mut g.dual_stack {
                None if want => {
                    return Err(combination(format!(
                        "IpDiscovery ipv6 needs a replication group with NetworkType dual_stack; {} was created with NetworkType ipv4 (create the group with NetworkType dual_stack to use IPv6).",
                        g.id
                    )))
                }
                Some(ds) if ds.ipv6_discovery != want => {
                    ds.ipv6_discovery = want;
                    events.push(format!(
                        "IP discovery changing to {d} (replicas first, one at a time)"
                    ));
                    work = true;
                }
                _ => {}
            }
        }

        // Engine and version: only upward; a newer version is a rolling replacement. The engine may move from
        // Redis OSS to Valkey (AWS's cross-engine upgrade, named with the Valkey version), never back: a Redis
        // node cannot replicate from a Valkey one, whose files are of a newer format.
        let target_engine = match input.engine.as_deref() {
            None => g.engine.clone(),
            Some(e) => {
                let e = self.inner.settings.engine_named(Some(e))?;
                if e == "memcached" {
                    return Err(invalid(
                        "Replication groups are for redis and valkey; memcached runs as a cache cluster (CreateCacheCluster).",
                    ));
                }
                if e != g.engine {
                    if !(g.engine == "redis" && e == "valkey") {
                        return Err(combination(format!(
                            "Engine cannot be changed from {} to {e}: the only engine change possible is from redis to valkey.",
                            g.engine
                        )));
                    }
                    if input.engine_version.is_none() {
                        return Err(combination(
                            "Changing the engine from redis to valkey needs the Valkey EngineVersion to move to.",
                        ));
                    }
                }
                e
            }
        };
        let mut pending = g.pending.clone();
        if let Some(v) = &input.engine_version {
            let b = self.inner.settings.resolve_version(&target_engine, v)?;
            let cross = target_engine != g.engine;
            let cmp = if cross {
                std::cmp::Ordering::Greater
            } else {
                version_cmp(&b.version, &g.engine_version)
            };
            if cmp == std::cmp::Ordering::Less {
                return Err(invalid(format!(
                    "Engine version {} is lower than the group's {}: a downgrade is not possible; create a new replication group instead.",
                    b.version, g.engine_version
                )));
            }
            if g.transit_encryption.is_some() && !b.tls {
                return Err(invalid(format!(
                    "Engine version {} has no TLS support here, and {} uses in-transit encryption.",
                    b.version, g.id
                )));
            }
            if cmp == std::cmp::Ordering::Greater {
                pending.engine_version = Some(b.version.clone());
                pending.engine = cross.then(|| target_engine.clone());
            } else {
                pending.engine_version = None;
                pending.engine = None;
            }
        }

        // Node type: a new maxmemory on every node, no restart.
        if let Some(t) = &input.cache_node_type {
            let Some(bytes) = node_types::maxmemory(t) else {
                return Err(invalid(format!(
                    "Invalid CacheNodeType '{}': no such cache node type.",
                    rules::shown(t)
                )));
            };
            if t.starts_with("cache.r6gd.") {
                return Err(not_yet(
                    "CacheNodeType (r6gd)",
                    "data tiering, which r6gd node types require",
                ));
            }
            if *t == g.cache_node_type {
                pending.cache_node_type = None;
            } else {
                self.check_fits(&g, t, bytes).await?;
                pending.cache_node_type = Some(t.clone());
            }
        }
        if apply_now {
            if let Some(t) = pending.cache_node_type.take() {
                if input.cache_node_type.is_none() {
                    let bytes = node_types::maxmemory(&t).unwrap_or(0);
                    self.check_fits(&g, &t, bytes).await?;
                }
                events.push(format!("cache node type changed to {t}"));
                g.cache_node_type = t;
                work = true;
            }
            if let Some(v) = pending.engine_version.take() {
                let to = pending.engine.take();
                let (a, b) = upgrade_ends((&g.engine, &g.engine_version), to.as_deref(), &v);
                events.push(format!(
                    "engine upgrade from {a} to {b} started (replicas first, then a switchover)"
                ));
                g.upgrading_to = Some(v);
                g.upgrading_engine = to;
                work = true;
            }
        } else {
            if pending.cache_node_type != g.pending.cache_node_type {
                if let Some(t) = &pending.cache_node_type {
                    events.push(format!(
                        "cache node type change to {t} pending until the maintenance window {}",
                        g.preferred_maintenance_window
                    ));
                }
            }
            if pending.engine_version != g.pending.engine_version {
                if let Some(v) = &pending.engine_version {
                    let to =
                        upgrade_ends((&g.engine, &g.engine_version), pending.engine.as_deref(), v)
                            .1;
                    events.push(format!(
                        "engine upgrade to {to} pending until the maintenance window {}",
                        g.preferred_maintenance_window
                    ));
                }
            }
        }
        g.pending = pending;

        if g == current {
            return Ok(self.view_group(&g));
        }
        if work {
            g.status = GroupStatus::Modifying;
        }
        let t = now();
        let evs: Vec<NewEvent> = events
            .iter()
            .map(|e| NewEvent::group(&g.id, format!("Modified replication group {}: {e}", g.id)))
            .collect();
        {
            let mut st = self.state();
            // The group may have changed while node memory was read.
            if st.groups.get(&key) != Some(&current) {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: current.id.clone(),
                    status: "changing (another modification was accepted first)".into(),
                });
            }
            st.save_group(&g, t, &evs)?;
        }
        self.refresh_roles_soon(&g.id);
        self.poke_group(&g.id);
        Ok(self.view_group(&g))
    }

    /// Refuses a node type whose memory cannot hold what the group's nodes use now.
    pub(crate) async fn check_fits(
        &self,
        g: &ReplicationGroup,
        node_type: &str,
        bytes: u64,
    ) -> Result<()> {
        // Every shard's primary must fit; the fullest decides.
        let used = self.used_memory(g).await?;
        if used > bytes {
            return Err(combination(format!(
                "Cannot scale replication group {} to {node_type}: its nodes use {used} bytes, more than the {bytes} bytes of memory of {node_type}.",
                g.id
            )));
        }
        Ok(())
    }
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
