//! `ModifyReplicationGroup`'s `Engine` and `EngineVersion`, and `AutoMinorVersionUpgrade`.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, invalid, Result};
use crate::model::{PendingChanges, ReplicationGroup};
use crate::rules::versions::version_cmp;
use crate::Control;

/// `AutoMinorVersionUpgrade`: changed when it differs.
pub(super) fn change_auto_minor_version_upgrade(d: &mut Draft, input: &ModifyReplicationGroup) {
    if let Some(v) = input.auto_minor_version_upgrade {
        if v != d.g.auto_minor_version_upgrade {
            d.g.auto_minor_version_upgrade = v;
            d.events
                .push(format!("auto minor version upgrade set to {v}"));
        }
    }
}

impl Control {
    /// Engine and version: only upward; a newer version is a rolling replacement. The engine may move from
    /// Redis OSS to Valkey (AWS's cross-engine upgrade, named with the Valkey version), never back: a Redis
    /// node cannot replicate from a Valkey one, whose files are of a newer format.
    /// Returns the group's pending changes with the requested version in them (or none, when it is the group's).
    pub(super) fn requested_engine_version(
        &self,
        g: &ReplicationGroup,
        input: &ModifyReplicationGroup,
    ) -> Result<PendingChanges> {
        let target_engine = self.target_engine(g, input)?;
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
        Ok(pending)
    }

    /// The engine the group runs after the request: its own, or Valkey for a Redis OSS group (with the Valkey
    /// version to move to).
    fn target_engine(
        &self,
        g: &ReplicationGroup,
        input: &ModifyReplicationGroup,
    ) -> Result<String> {
        Ok(match input.engine.as_deref() {
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
        })
    }
}
