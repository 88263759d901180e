//! `ModifyReplicationGroup`'s `CacheNodeType`.

use wire::input::ModifyReplicationGroup;

use crate::error::not_yet;
use crate::error::{invalid, Result};
use crate::model::{PendingChanges, ReplicationGroup};
use crate::rules;
use crate::rules::node_types;
use crate::Control;

impl Control {
    /// Node type: a new maxmemory on every node, no restart. Sets (or clears, when it is the group's) the pending
    /// node type.
    pub(super) async fn requested_node_type(
        &self,
        g: &ReplicationGroup,
        input: &ModifyReplicationGroup,
        pending: &mut PendingChanges,
    ) -> Result<()> {
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
                self.check_fits(g, t, bytes).await?;
                pending.cache_node_type = Some(t.clone());
            }
        }
        Ok(())
    }
}
