//! `DescribeEvents`, the tag actions and `DescribeCacheEngineVersions`.

use chrono::Duration;
use wire::input::{
    AddTagsToResource, DescribeCacheEngineVersions, DescribeEvents, ListTagsForResource,
    RemoveTagsFromResource,
};
use wire::output;

use crate::error::{invalid, ControlError, Result};
use crate::rules;
use crate::rules::tag_pairs;
use crate::rules::versions::parameter_group_family;
use crate::store::EventQuery;
use crate::{now, Control};

/// How far back `DescribeEvents` reaches.
const EVENT_HORIZON_DAYS: i64 = 14;

impl Control {
    /// `DescribeEvents`: the last hour by default; `StartTime`/`EndTime`/`Duration` (minutes) choose another range
    /// within the last 14 days. `Marker` is the sequence number of the last event of the page before.
    pub fn describe_events(
        &self,
        input: DescribeEvents,
    ) -> Result<(Vec<output::Event>, Option<String>)> {
        let limit = rules::max_records(input.max_records)?;
        let t = now();
        let end = input.end_time.unwrap_or(t);
        let start = match (input.start_time, input.duration) {
            (Some(s), _) => s,
            (None, Some(d)) if (0..=EVENT_HORIZON_DAYS as i32 * 24 * 60).contains(&d) => {
                end - Duration::minutes(i64::from(d))
            }
            (None, Some(d)) => {
                return Err(invalid(format!(
                    "Invalid Duration {d}: it must be between 0 and 20160 minutes (14 days)."
                )))
            }
            (None, None) => end - Duration::hours(1),
        };
        if start > end {
            return Err(invalid("StartTime must be before EndTime."));
        }
        let start = start.max(t - Duration::days(EVENT_HORIZON_DAYS));
        let after_seq = match input.marker.as_deref() {
            None | Some("") => 0,
            Some(m) => m
                .parse::<i64>()
                .map_err(|_| invalid(format!("Invalid Marker '{}'.", rules::shown(m))))?,
        };
        let q = EventQuery {
            source_type: input.source_type,
            source_id: input.source_identifier.map(|s| s.to_ascii_lowercase()),
            start,
            end,
            after_seq,
            limit: limit + 1,
        };
        let mut events = self.state().store.events(&q)?;
        let more = events.len() > limit;
        events.truncate(limit);
        let marker = if more {
            events.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok((
            events
                .into_iter()
                .map(|e| output::Event {
                    source_identifier: e.source_id,
                    source_type: e.source_type,
                    message: e.message,
                    date: e.date,
                })
                .collect(),
            marker,
        ))
    }

    /// Checks that an ARN names a resource of this daemon and returns it normalised.
    fn resource_arn(&self, arn: &str) -> Result<String> {
        let s = &self.inner.settings;
        let bad = || {
            ControlError::InvalidArn(format!(
                "Invalid ARN '{}': expected arn:aws:elasticache:{}:{}:<type>:<name>.",
                rules::shown(arn),
                s.region,
                s.account_id
            ))
        };
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        let [_, partition, service, region, account, kind, name] = parts[..] else {
            return Err(bad());
        };
        if parts[0] != "arn" || partition != "aws" || service != "elasticache" || name.is_empty() {
            return Err(bad());
        }
        if region != s.region || account != s.account_id {
            return Err(bad());
        }
        let given = name.to_string();
        let name = name.to_ascii_lowercase();
        let st = self.state();
        match kind {
            "replicationgroup" => {
                if st.replication_group(&name).is_none() {
                    return Err(ControlError::ReplicationGroupNotFound(rules::shown(&name)));
                }
            }
            "cluster" => {
                if !st.standalone.contains_key(&name)
                    && !st.memcached.contains_key(&name)
                    && !st.groups.values().any(|g| g.member(&name).is_some())
                {
                    return Err(ControlError::CacheClusterNotFound(rules::shown(&name)));
                }
            }
            "snapshot" => {
                if !st.snapshots.contains_key(&name) {
                    return Err(ControlError::SnapshotNotFound(format!(
                        "Snapshot {} not found.",
                        rules::shown(&name)
                    )));
                }
            }
            "subnetgroup" => {
                if name == crate::model::subnet_group::DEFAULT {
                    // AWS: default subnet groups do not support tagging.
                    return Err(ControlError::InvalidArn(format!(
                        "The default cache subnet group cannot be tagged: {}.",
                        rules::shown(arn)
                    )));
                }
                if !st.subnet_groups.contains_key(&name) {
                    return Err(ControlError::CacheSubnetGroupNotFound(format!(
                        "CacheSubnetGroup {} not found.",
                        rules::shown(&name)
                    )));
                }
            }
            "parametergroup" => {
                let Some(pg) = self.parameter_group(&name) else {
                    return Err(ControlError::CacheParameterGroupNotFound(rules::shown(
                        &name,
                    )));
                };
                if pg.is_default() {
                    return Err(ControlError::InvalidArn(format!(
                        "The default cache parameter group cannot be tagged: {}.",
                        rules::shown(arn)
                    )));
                }
            }
            // User and user group ids keep their case.
            "usergroup" => {
                if !st.user_groups.contains_key(&given) {
                    return Err(ControlError::UserGroupNotFound(format!(
                        "User group {} not found.",
                        rules::shown(&given)
                    )));
                }
                return Ok(s.arn(kind, &given));
            }
            "user" => {
                if !st.users.contains_key(&given) {
                    return Err(ControlError::UserNotFound(format!(
                        "User {} not found.",
                        rules::shown(&given)
                    )));
                }
                return Ok(s.arn(kind, &given));
            }
            _ => return Err(bad()),
        }
        Ok(s.arn(kind, &name))
    }

    pub fn list_tags_for_resource(
        &self,
        input: ListTagsForResource,
    ) -> Result<Vec<(String, String)>> {
        let arn = self.resource_arn(&input.resource_name)?;
        let st = self.state();
        let mut tags = st.store.tags(&arn)?;
        // A member cluster carries its replication group's tags too, as AWS reports them.
        if let Some(name) = arn.strip_prefix(&self.inner.settings.arn("cluster", "")) {
            if let Some(g) = st.groups.values().find(|g| g.member(name).is_some()) {
                let mut of_group = st
                    .store
                    .tags(&self.inner.settings.arn("replicationgroup", &g.id))?;
                of_group.retain(|(k, _)| !tags.iter().any(|(own, _)| own == k));
                of_group.append(&mut tags);
                tags = of_group;
            }
        }
        Ok(tags)
    }

    /// `AddTagsToResource`: adds or replaces; at most 50 tags in all.
    pub fn add_tags_to_resource(&self, input: AddTagsToResource) -> Result<Vec<(String, String)>> {
        let arn = self.resource_arn(&input.resource_name)?;
        let new = tag_pairs(&input.tags)?;
        self.commit(|st| {
            let mut existing = st.store.tags(&arn)?;
            for (k, v) in &new {
                match existing.iter_mut().find(|(ek, _)| ek == k) {
                    Some(e) => e.1 = v.clone(),
                    None => existing.push((k.clone(), v.clone())),
                }
            }
            if existing.len() > rules::MAX_TAGS {
                return Err(ControlError::TagQuotaPerResourceExceeded(format!(
                    "A resource may carry at most {} tags; this request would leave {}.",
                    rules::MAX_TAGS,
                    existing.len()
                )));
            }
            st.store.put_tags(&arn, &new)?;
            st.store.tags(&arn)
        })
    }

    /// `RemoveTagsFromResource`: every key must be present, else nothing changes.
    pub fn remove_tags_from_resource(
        &self,
        input: RemoveTagsFromResource,
    ) -> Result<Vec<(String, String)>> {
        let arn = self.resource_arn(&input.resource_name)?;
        self.commit(|st| {
            let existing = st.store.tags(&arn)?;
            if let Some(missing) = input
                .tag_keys
                .iter()
                .find(|k| !existing.iter().any(|(ek, _)| ek == *k))
            {
                return Err(ControlError::TagNotFound(format!(
                    "The tag {} was not found on {arn}.",
                    rules::shown(missing)
                )));
            }
            st.store.remove_tags(&arn, &input.tag_keys)?;
            st.store.tags(&arn)
        })
    }

    /// `DescribeCacheEngineVersions`: the engine binaries this daemon has.
    pub fn describe_cache_engine_versions(
        &self,
        input: DescribeCacheEngineVersions,
    ) -> Result<(Vec<output::CacheEngineVersion>, Option<String>)> {
        let limit = rules::max_records(input.max_records)?;
        let all: Vec<output::CacheEngineVersion> = self
            .inner
            .settings
            .binaries
            .iter()
            .enumerate()
            // The default version of each engine: its newest (binaries are sorted newest first per engine).
            .filter(|(i, b)| {
                !input.default_only.unwrap_or(false)
                    || !self.inner.settings.binaries[..*i]
                        .iter()
                        .any(|o| o.engine == b.engine)
            })
            .map(|(_, b)| output::CacheEngineVersion {
                engine: b.engine.clone(),
                engine_version: b.version.clone(),
                parameter_group_family: parameter_group_family(&b.engine, &b.version),
                description: engine_description(&b.engine).into(),
                version_description: format!(
                    "{} version {} ({})",
                    b.engine,
                    b.version,
                    b.path.display()
                ),
            })
            .filter(|v| {
                input
                    .engine
                    .as_deref()
                    .is_none_or(|e| e.eq_ignore_ascii_case(&v.engine))
            })
            .filter(|v| {
                input
                    .engine_version
                    .as_deref()
                    .is_none_or(|e| v.engine_version.starts_with(e))
            })
            .filter(|v| {
                input
                    .cache_parameter_group_family
                    .as_deref()
                    .is_none_or(|f| f == v.parameter_group_family)
            })
            .collect();
        let start: usize = match input.marker.as_deref() {
            None | Some("") => 0,
            Some(m) => m
                .parse()
                .map_err(|_| invalid(format!("Invalid Marker '{}'.", rules::shown(m))))?,
        };
        let page: Vec<_> = all.iter().skip(start).take(limit).cloned().collect();
        let marker = (start + limit < all.len()).then(|| (start + limit).to_string());
        Ok((page, marker))
    }
}

/// The `CacheEngineDescription` AWS gives an engine.
fn engine_description(engine: &str) -> &'static str {
    match engine {
        "valkey" => "Valkey",
        "memcached" => "memcached",
        _ => "Redis",
    }
}

/// AWS's answer to an account whose caches run in a VPC (every Cacheplane deployment): cache security groups are
/// an EC2-Classic feature. (What AWS answers `DescribeCacheSecurityGroups` for such an account is not written down;
/// its error for the feature, as users quote it, is given.)
const NO_CACHE_SECURITY_GROUPS: &str =
    "Use of cache security groups is not permitted in this API version for your account.";

/// A `Marker` for a list that has no pages: only none, or the empty one, is valid.
fn no_pages(marker: Option<&str>) -> Result<()> {
    match marker {
        None | Some("") => Ok(()),
        Some(m) => Err(invalid(format!(
            "Invalid Marker '{}': no page produced it.",
            rules::shown(m)
        ))),
    }
}

impl Control {
    /// `ListAllowedNodeTypeModifications`: the node types a group (or a cluster) can move to. Up: every larger
    /// type; down: the smaller ones that still hold what its fullest primary uses now (a move to any other would
    /// be refused). Types needing data tiering (r6gd) are left out: Cacheplane refuses them.
    pub async fn list_allowed_node_type_modifications(
        &self,
        input: wire::input::ListAllowedNodeTypeModifications,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let (current, used) = match (&input.replication_group_id, &input.cache_cluster_id) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(crate::error::combination(
                    "Give either ReplicationGroupId or CacheClusterId.",
                ))
            }
            (Some(id), None) => {
                let g = self
                    .state()
                    .groups
                    .get(&id.to_ascii_lowercase())
                    .cloned()
                    .ok_or_else(|| ControlError::ReplicationGroupNotFound(rules::shown(id)))?;
                (g.cache_node_type.clone(), self.fresh_memory(&g).await?)
            }
            (None, Some(id)) => {
                let key = id.to_ascii_lowercase();
                let (group, standalone) = {
                    let st = self.state();
                    (
                        st.groups
                            .values()
                            .find(|g| g.member(&key).is_some())
                            .cloned(),
                        st.standalone.get(&key).cloned(),
                    )
                };
                match (group, standalone) {
                    (Some(g), _) => (g.cache_node_type.clone(), self.fresh_memory(&g).await?),
                    (None, Some(s)) => {
                        let used = self
                            .nodes()
                            .observed(&s.member.cluster_id)
                            .and_then(|o| o.data)
                            .map(|d| d.used_memory);
                        (s.cache_node_type.clone(), used)
                    }
                    (None, None) => {
                        // A Memcached cluster is a cache: a smaller type evicts rather than refuses, so every
                        // other type is allowed.
                        let mc = self
                            .state()
                            .memcached
                            .get(&key)
                            .map(|c| c.cache_node_type.clone());
                        match mc {
                            Some(t) => (t, Some(0)),
                            None => {
                                return Err(ControlError::CacheClusterNotFound(rules::shown(id)))
                            }
                        }
                    }
                }
            }
        };
        let have = crate::rules::node_types::maxmemory(&current).unwrap_or(0);
        let mut types: Vec<(&str, u64)> = crate::rules::node_types::all()
            .filter(|t| *t != current && !t.starts_with("cache.r6gd."))
            .filter_map(|t| Some((t, crate::rules::node_types::maxmemory(t)?)))
            .collect();
        types.sort_by_key(|(t, b)| (*b, *t));
        let up = types
            .iter()
            .filter(|(_, b)| *b > have)
            .map(|(t, _)| t.to_string())
            .collect();
        let down = types
            .iter()
            // Smaller types that hold the data; none while it is not known (a standalone cluster not read yet).
            .filter(|(_, b)| *b < have && used.is_some_and(|u| *b >= u))
            .map(|(t, _)| t.to_string())
            .collect();
        Ok((up, down))
    }

    /// What the fullest primary of `g` uses now (`used_memory`), as its worker reads it.
    async fn fresh_memory(&self, g: &crate::model::ReplicationGroup) -> Result<Option<u64>> {
        let data = self.fresh_primaries(g).await?;
        Ok(Some(data.iter().map(|d| d.used_memory).max().unwrap_or(0)))
    }

    /// `DescribeReservedCacheNodes`: nothing is reserved here.
    pub fn describe_reserved_cache_nodes(
        &self,
        input: wire::input::DescribeReservedCacheNodes,
    ) -> Result<()> {
        rules::max_records(input.max_records)?;
        no_pages(input.marker.as_deref())?;
        if let Some(id) = input.reserved_cache_node_id {
            return Err(ControlError::ReservedCacheNodeNotFound(format!(
                "ReservedCacheNode {} not found: no cache node is reserved in this deployment.",
                rules::shown(&id)
            )));
        }
        Ok(())
    }

    /// `DescribeReservedCacheNodesOfferings`: nothing can be reserved here, so nothing is offered.
    pub fn describe_reserved_cache_nodes_offerings(
        &self,
        input: wire::input::DescribeReservedCacheNodesOfferings,
    ) -> Result<()> {
        rules::max_records(input.max_records)?;
        no_pages(input.marker.as_deref())?;
        if let Some(id) = input.reserved_cache_nodes_offering_id {
            return Err(ControlError::ReservedCacheNodesOfferingNotFound(format!(
                "ReservedCacheNodesOffering {} not found: this deployment offers no reserved nodes.",
                rules::shown(&id)
            )));
        }
        Ok(())
    }

    /// `DescribeServiceUpdates`: Cacheplane publishes no service updates (engine versions arrive as registered
    /// binaries and are applied by `EngineVersion` or `AutoMinorVersionUpgrade`).
    pub fn describe_service_updates(
        &self,
        input: wire::input::DescribeServiceUpdates,
    ) -> Result<()> {
        rules::max_records(input.max_records)?;
        no_pages(input.marker.as_deref())?;
        if let Some(name) = input.service_update_name {
            return Err(ControlError::ServiceUpdateNotFound(format!(
                "ServiceUpdate {} not found.",
                rules::shown(&name)
            )));
        }
        Ok(())
    }

    /// `DescribeUpdateActions`: with no service updates there is no update action; named groups and clusters must
    /// exist.
    pub fn describe_update_actions(&self, input: wire::input::DescribeUpdateActions) -> Result<()> {
        rules::max_records(input.max_records)?;
        no_pages(input.marker.as_deref())?;
        let st = self.state();
        for id in input.replication_group_ids.iter().flatten() {
            if st.replication_group(id).is_none() {
                return Err(ControlError::ReplicationGroupNotFound(rules::shown(id)));
            }
        }
        Ok(())
    }

    /// `DescribeCacheSecurityGroups`: refused as AWS refuses it for an account in a VPC.
    pub fn describe_cache_security_groups(
        &self,
        input: wire::input::DescribeCacheSecurityGroups,
    ) -> Result<()> {
        rules::max_records(input.max_records)?;
        Err(invalid(NO_CACHE_SECURITY_GROUPS))
    }
}
