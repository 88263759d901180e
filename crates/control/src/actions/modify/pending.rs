//! When `ModifyReplicationGroup`'s node type and engine version changes happen: at once with
//! `ApplyImmediately=true`, else in the maintenance window.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::Result;
use crate::model::PendingChanges;
use crate::rules::node_types;
use crate::rules::windows::upgrade_ends;
use crate::Control;

impl Control {
    /// The pending changes (`pending`) start now (`apply_now`) or are recorded for the maintenance window.
    pub(super) async fn apply_or_wait(
        &self,
        d: &mut Draft,
        input: &ModifyReplicationGroup,
        mut pending: PendingChanges,
        apply_now: bool,
    ) -> Result<()> {
        if apply_now {
            self.apply_pending_now(d, input, &mut pending).await?;
        } else {
            note_pending(d, &pending);
        }
        d.g.pending = pending;
        Ok(())
    }

    /// `ApplyImmediately=true`: the node type changes and the engine upgrade starts now (taken out of `pending`).
    async fn apply_pending_now(
        &self,
        d: &mut Draft,
        input: &ModifyReplicationGroup,
        pending: &mut PendingChanges,
    ) -> Result<()> {
        let g = &mut d.g;
        if let Some(t) = pending.cache_node_type.take() {
            if input.cache_node_type.is_none() {
                let bytes = node_types::maxmemory(&t).unwrap_or(0);
                self.check_fits(g, &t, bytes).await?;
            }
            d.events.push(format!("cache node type changed to {t}"));
            g.cache_node_type = t;
            d.work = true;
        }
        if let Some(v) = pending.engine_version.take() {
            let to = pending.engine.take();
            let (a, b) = upgrade_ends((&g.engine, &g.engine_version), to.as_deref(), &v);
            d.events.push(format!(
                "engine upgrade from {a} to {b} started (replicas first, then a switchover)"
            ));
            g.upgrading_to = Some(v);
            g.upgrading_engine = to;
            d.work = true;
        }
        Ok(())
    }
}

/// Without `ApplyImmediately`: an event for each pending change that is new, saying it waits for the window.
fn note_pending(d: &mut Draft, pending: &PendingChanges) {
    let g = &d.g;
    if pending.cache_node_type != g.pending.cache_node_type {
        if let Some(t) = &pending.cache_node_type {
            d.events.push(format!(
                "cache node type change to {t} pending until the maintenance window {}",
                g.preferred_maintenance_window
            ));
        }
    }
    if pending.engine_version != g.pending.engine_version {
        if let Some(v) = &pending.engine_version {
            let to = upgrade_ends((&g.engine, &g.engine_version), pending.engine.as_deref(), v).1;
            d.events.push(format!(
                "engine upgrade to {to} pending until the maintenance window {}",
                g.preferred_maintenance_window
            ));
        }
    }
}
