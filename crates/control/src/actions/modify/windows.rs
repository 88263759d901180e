//! `ModifyReplicationGroup`'s windows and snapshot settings.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, invalid, Result};
use crate::rules::{self, DailyWindow, WeeklyWindow};

/// The maintenance and snapshot windows, checked together (they must not overlap when either is given).
pub(super) fn change_windows(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    let g = &mut d.g;
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
        d.events.push(format!(
            "maintenance window set to {}",
            g.preferred_maintenance_window
        ));
    }
    if snapshot.format() != g.snapshot_window {
        g.snapshot_window = snapshot.format();
        d.events
            .push(format!("snapshot window set to {}", g.snapshot_window));
    }
    Ok(())
}

/// `SnapshotRetentionLimit` (0 to 35 days) and `SnapshottingClusterId` (a member of the group).
pub(super) fn change_snapshots(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    let g = &mut d.g;
    if let Some(n) = input.snapshot_retention_limit {
        if !(0..=35).contains(&n) {
            return Err(invalid(format!(
                "Invalid SnapshotRetentionLimit {n}: it must be between 0 and 35 days."
            )));
        }
        if n != g.snapshot_retention_limit {
            g.snapshot_retention_limit = n;
            d.events
                .push(format!("snapshot retention limit set to {n}"));
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
            d.events.push(format!("snapshotting cluster set to {c}"));
            g.snapshotting_cluster_id = Some(c);
        }
    }
    Ok(())
}
