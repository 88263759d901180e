//! `ModifyReplicationGroup` `ClusterMode`: AWS's path from cluster mode disabled to enabled, through `compatible`.
//!
//! - `disabled` → `compatible` needs keys in database 0 only, automatic failover with at least one replica and
//!   Redis OSS 7.0 or later; the nodes are restarted with Redis Cluster on one at a time (replicas first, then a
//!   handover of the primary's role, see `reconciler/mode.rs`). A `compatible` group is one shard owning every slot:
//!   its primary and reader endpoints serve plain clients, its configuration endpoint cluster clients.
//! - `compatible` → `enabled` changes only the endpoints (the nodes already run Redis Cluster): the primary and reader
//!   endpoints close. It is final.
//! - `compatible` → `disabled` restarts the nodes without Redis Cluster, the same way.
//!
//! With `ClusterMode` in the request, only `CacheParameterGroupName` may accompany it (AWS's rule); it must then be a
//! group of the new mode (AWS switches a default group to the matching `.cluster.on` one by itself, as here).
//!
//! Choices where AWS does not say (written in the README): `disabled` → `enabled` in one request is refused (AWS
//! documents the two steps); in-transit encryption and dual stack are refused by name for now (cluster mode with
//! them is not built yet); a `compatible` group's engine version, node type and primary (`PrimaryClusterId`) do not
//! change (AWS: "scaling and engine version are not allowed").

use wire::input::ModifyReplicationGroup;
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, ControlError, Result};
use crate::model::{ClusterMode, GroupStatus, NewEvent, ReplicationGroup};
use crate::rules::versions::default_parameter_group;
use crate::{now, Control};

/// The members a `ClusterMode` request may carry besides it.
const MAY_ACCOMPANY: [&str; 4] = [
    "ReplicationGroupId",
    "ClusterMode",
    "CacheParameterGroupName",
    "ApplyImmediately",
];

fn mode_named(name: &str) -> Option<ClusterMode> {
    match name {
        "disabled" => Some(ClusterMode::Disabled),
        "compatible" => Some(ClusterMode::Compatible),
        "enabled" => Some(ClusterMode::Enabled),
        _ => None,
    }
}

/// The default parameter group of `mode` for `version`.
fn default_group(engine: &str, version: &str, mode: ClusterMode) -> String {
    default_parameter_group(engine, version, mode.runs_cluster())
}

/// AWS's rules for a request that changes `g`'s cluster mode to `to` (pure: the data's databases are checked
/// apart, against the nodes).
/// `requested`: the parameter group the request names, and its `cluster-enabled`.
pub fn check_change(
    g: &ReplicationGroup,
    to: ClusterMode,
    input: &ModifyReplicationGroup,
    requested: Option<(&str, bool)>,
) -> Result<()> {
    let others: Vec<&str> = input
        .given()
        .into_iter()
        .filter(|n| !MAY_ACCOMPANY.contains(n))
        .collect();
    if !others.is_empty() {
        return Err(combination(format!(
            "Cluster mode updates are not supported while attempting to update additional properties ({}): send \
             ClusterMode alone (CacheParameterGroupName may accompany it).",
            others.join(", ")
        )));
    }
    match (g.cluster_mode, to) {
        (ClusterMode::Enabled, _) => {
            return Err(combination(
                "Cluster mode cannot be changed once it is enabled: reverting this configuration is not possible.",
            ))
        }
        (ClusterMode::Disabled, ClusterMode::Enabled) => {
            return Err(combination(
                "ClusterMode can change from disabled to enabled only through compatible: set it to compatible, \
                 move your clients to the configuration endpoint, then set it to enabled.",
            ))
        }
        _ => {}
    }
    if let Some((name, cluster_enabled)) = requested {
        if cluster_enabled != to.runs_cluster() {
            return Err(combination(format!(
                "Parameter group {} has cluster-enabled {}, which cluster mode {} cannot use: use {}.",
                crate::rules::shown(name),
                if cluster_enabled { "yes" } else { "no" },
                to.as_str(),
                default_group(&g.engine, &g.engine_version, to)
            )));
        }
    }
    if to != ClusterMode::Compatible || g.cluster_mode != ClusterMode::Disabled {
        return Ok(());
    }
    if crate::rules::versions::version_cmp(&g.engine_version, "7.0") == std::cmp::Ordering::Less {
        return Err(combination(format!(
            "ClusterMode compatible needs Redis OSS 7.0 or later; replication group {} runs {}: upgrade its engine \
             version first.",
            g.id, g.engine_version
        )));
    }
    if !g.automatic_failover || g.first_shard().replicas().next().is_none() {
        return Err(combination(format!(
            "ClusterMode compatible needs automatic failover enabled with at least one replica; replication group {} \
             has automatic failover {} and {} replicas.",
            g.id,
            if g.automatic_failover { "enabled" } else { "disabled" },
            g.first_shard().replicas().count()
        )));
    }
    if g.transit_encryption.is_some() {
        return Err(not_yet(
            "ClusterMode",
            "cluster mode with in-transit encryption",
        ));
    }
    if g.dual_stack.is_some() {
        return Err(not_yet("ClusterMode", "cluster mode with dual stack"));
    }
    if engine::cluster::bus_port(g.port).is_none() {
        return Err(combination(format!(
            "Replication group {} listens on port {}: Redis Cluster needs a port of 55535 or lower (its bus port is \
             10000 above).",
            g.id, g.port
        )));
    }
    Ok(())
}

impl Control {
    /// A `ModifyReplicationGroup` that changes `ClusterMode`: checked, recorded, and left to the group's worker.
    /// `None` when the request does not change the cluster mode (the rest of the action goes on).
    pub(crate) async fn change_cluster_mode(
        &self,
        current: &ReplicationGroup,
        input: &ModifyReplicationGroup,
    ) -> Result<Option<output::ReplicationGroup>> {
        let Some(to) = input.cluster_mode.as_deref().and_then(mode_named) else {
            return Ok(None);
        };
        if to == current.cluster_mode {
            return Ok(None);
        }
        // The parameter group the nodes run with in the new mode: the one named (of the engine's family), or the
        // mode's default group when the group uses a default one; a customer's own group is not swapped for a
        // default one behind the customer's back.
        let next_group = match input.cache_parameter_group_name.as_deref() {
            Some(p) => {
                Some(self.usable_parameter_group(p, &current.engine, &current.engine_version)?)
            }
            None => None,
        };
        if next_group.is_none()
            && !current.cache_parameter_group.starts_with("default.")
            && to != ClusterMode::Enabled
        {
            return Err(combination(format!(
                "Replication group {} uses its own parameter group {}: name a parameter group with cluster-enabled {} \
                 in CacheParameterGroupName to change its cluster mode to {}.",
                current.id,
                current.cache_parameter_group,
                if to.runs_cluster() { "yes" } else { "no" },
                to.as_str()
            )));
        }
        check_change(
            current,
            to,
            input,
            next_group
                .as_ref()
                .map(|p| (p.name.as_str(), p.cluster_enabled())),
        )?;
        if to == ClusterMode::Compatible {
            self.check_only_db0(current).await?;
        }
        let mut g = current.clone();
        g.status = GroupStatus::Modifying;
        g.next_parameter_group = next_group.map(|p| p.name);
        let message = match to {
            ClusterMode::Enabled => {
                // The nodes run Redis Cluster already: the primary and reader endpoints close (the worker unbinds
                // them), and the group is cluster mode enabled for good.
                g.cluster_mode = ClusterMode::Enabled;
                if let Some(p) = g.next_parameter_group.take() {
                    g.cache_parameter_group = p;
                }
                "cluster mode changed from compatible to enabled; the primary and reader endpoints are closed"
                    .to_string()
            }
            _ => {
                g.converting_to = Some(to);
                format!(
                    "cluster mode change from {} to {} started (nodes restarted one at a time, replicas first)",
                    current.cluster_mode.as_str(),
                    to.as_str()
                )
            }
        };
        self.commit(|st| {
            if to == ClusterMode::Compatible {
                // One shard owning every slot, reached by cluster clients at the configuration endpoint.
                g.first_shard_mut().slots = vec![(0, engine::cluster::SLOTS - 1)];
                if g.configuration_endpoint.is_none() {
                    let taken = crate::state::taken_addresses(st);
                    g.configuration_endpoint = Some(engine::address::allocate(g.port, &taken)?);
                }
            }
            if st.groups.get(&g.id) != Some(current) {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: current.id.clone(),
                    status: "changing (another modification was accepted first)".into(),
                });
            }
            st.save_group(
                &g,
                now(),
                &[NewEvent::group(
                    &g.id,
                    format!("Modified replication group {}: {message}", g.id),
                )],
            )?;
            st.refresh(&g.id);
            Ok(Some(self.view_group(&g)))
        })
    }

    /// AWS's precondition for Redis Cluster: keys only in database 0 (Redis Cluster has no other).
    async fn check_only_db0(&self, g: &ReplicationGroup) -> Result<()> {
        let data = self.fresh_primaries(g).await?;
        let mut others: Vec<&str> = data
            .iter()
            .flat_map(|d| d.keys.iter())
            .filter(|(k, n)| *k != "db0" && **n > 0)
            .map(|(k, _)| k.as_str())
            .collect();
        others.dedup();
        others.sort_unstable();
        if !others.is_empty() {
            return Err(ControlError::GroupStateMessage(format!(
                "Replication group {} has keys in databases other than 0 ({}): Redis Cluster has database 0 only. \
                 Move or delete those keys, then set ClusterMode compatible again.",
                g.id,
                others.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: &str) -> ModifyReplicationGroup {
        ModifyReplicationGroup {
            replication_group_id: "rg".into(),
            cluster_mode: Some(mode.into()),
            apply_immediately: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_parameter_group_may_accompany_cluster_mode() {
        let g = crate::actions::modify::tests::sample_group();
        let mut r = request("compatible");
        r.cache_node_type = Some("cache.r7g.large".into());
        r.snapshot_retention_limit = Some(1);
        let e = check_change(&g, ClusterMode::Compatible, &r, None)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("SnapshotRetentionLimit, CacheNodeType"), "{e}");
        let mut r = request("compatible");
        r.cache_parameter_group_name = Some("default.redis7.cluster.on".into());
        check_change(
            &g,
            ClusterMode::Compatible,
            &r,
            Some(("default.redis7.cluster.on", true)),
        )
        .expect("accepted");
        r.cache_parameter_group_name = Some("default.redis7".into());
        let e = check_change(
            &g,
            ClusterMode::Compatible,
            &r,
            Some(("default.redis7", false)),
        )
        .expect_err("refused")
        .to_string();
        assert!(e.contains("cluster-enabled no"), "{e}");
    }

    #[test]
    fn aws_path_and_preconditions() {
        let mut g = crate::actions::modify::tests::sample_group();
        let e =
            check_change(&g, ClusterMode::Enabled, &request("enabled"), None).expect_err("refused");
        assert!(e.to_string().contains("only through compatible"), "{e}");
        g.automatic_failover = false;
        let e = check_change(&g, ClusterMode::Compatible, &request("compatible"), None)
            .expect_err("refused");
        assert!(e.to_string().contains("automatic failover"), "{e}");
        g.automatic_failover = true;
        g.engine_version = "6.2.14".into();
        let e = check_change(&g, ClusterMode::Compatible, &request("compatible"), None)
            .expect_err("refused");
        assert!(e.to_string().contains("7.0 or later"), "{e}");
        g.engine_version = "7.0.15".into();
        g.cluster_mode = ClusterMode::Compatible;
        check_change(&g, ClusterMode::Disabled, &request("disabled"), None).expect("accepted");
        check_change(&g, ClusterMode::Enabled, &request("enabled"), None).expect("accepted");
        g.cluster_mode = ClusterMode::Enabled;
        let e = check_change(&g, ClusterMode::Compatible, &request("compatible"), None)
            .expect_err("refused");
        assert!(e.to_string().contains("once it is enabled"), "{e}");
    }
}
