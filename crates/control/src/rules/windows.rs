//! The maintenance window: what it applies to a group, and how its events name an upgrade.

use crate::model::ReplicationGroup;
use chrono::{DateTime, Utc};

use crate::model::GroupStatus;

use crate::model::PendingChanges;

use crate::rules::WeeklyWindow;

use crate::rules::versions::version_cmp;

/// What the maintenance window applies to `g` at `t`, given the engine versions registered: the changes waiting
/// for it, plus — with `AutoMinorVersionUpgrade` — the newest registered version of the same major version as
/// the group's, when it is newer. `None` outside the window, when the group is busy, or when there is nothing to
/// do. The scheduler's rule: a pure function of time and state.
pub fn window_work(
    g: &ReplicationGroup,
    t: DateTime<Utc>,
    versions: &[String],
) -> Option<PendingChanges> {
    if g.status != GroupStatus::Available
        || g.upgrading_to.is_some()
        || !WeeklyWindow::parse(&g.preferred_maintenance_window).is_ok_and(|w| w.contains(t))
    {
        return None;
    }
    let mut work = g.pending.clone();
    if work.engine_version.is_none() && g.auto_minor_version_upgrade {
        let major = |v: &str| v.split('.').next().map(str::to_string);
        work.engine_version = versions
            .iter()
            .filter(|v| major(v) == major(&g.engine_version))
            .filter(|v| version_cmp(v, &g.engine_version) == std::cmp::Ordering::Greater)
            .max_by(|a, b| version_cmp(a, b))
            .cloned();
    }
    (!work.is_empty()).then_some(work)
}

/// True when the window has work for `g` at `t` (see [`window_work`]).
pub fn due_for_window(g: &ReplicationGroup, t: DateTime<Utc>) -> bool {
    window_work(g, t, &[]).is_some()
}

/// How an event names the two ends of an upgrade: versions alone within one engine (`6.2.7` to `6.2.14`), with
/// the engines when it changes (`redis 7.0.15` to `valkey 9.0.0`).
pub fn upgrade_ends(
    from: (&str, &str),
    to_engine: Option<&str>,
    to_version: &str,
) -> (String, String) {
    match to_engine.filter(|e| *e != from.0) {
        None => (from.1.to_string(), to_version.to_string()),
        Some(e) => (
            format!("{} {}", from.0, from.1),
            format!("{e} {to_version}"),
        ),
    }
}
