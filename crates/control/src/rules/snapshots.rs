//! Snapshots' names and the automatic snapshots' schedule, as pure functions.

use crate::error::invalid;
use crate::error::Result;
use crate::model::ClusterMode;
use crate::model::ReplicationGroup;
use crate::model::ShardSnapshot;
use crate::model::Snapshot;

use crate::rules;

/// Checks a snapshot name: 1–255 characters, a letter first, letters, digits and hyphens, no `--` and no hyphen
/// at the end; `automatic.` names are the scheduler's. Returns it lower-cased, as AWS stores it.
/// `SnapshotSource` of a snapshot asked for by a user.
pub const MANUAL: &str = "manual";
/// `SnapshotSource` of a snapshot the scheduler took.
pub const AUTOMATED: &str = "automated";

pub fn check_name(kind: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.contains("--")
        && !name.ends_with('-');
    if !ok {
        return Err(invalid(format!(
            "Invalid {kind} '{}': 1 to 255 letters, digits and hyphens, beginning with a letter, without two \
             hyphens in a row or one at the end.",
            rules::shown(name)
        )));
    }
    Ok(name.to_ascii_lowercase())
}

/// The file name (without `.rdb`) of snapshot `name`: see [`Control::snapshot_file`].
pub fn file_stem(name: &str) -> String {
    if name.len() <= 200 {
        return name.to_string();
    }
    let digest = engine::secret::sha256_hex(name);
    format!("{}-{}", &name[..180], &digest[..16])
}

/// The start of the occurrence of daily `window` that contains `now`, if `now` is inside one.
pub fn window_occurrence(
    window: &crate::rules::DailyWindow,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::Timelike;
    let minute = now.hour() * 60 + now.minute();
    let since_start = (minute + 24 * 60 - window.start) % (24 * 60);
    if since_start >= window.len_minutes() {
        return None;
    }
    let start_of_minute = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    Some(start_of_minute - chrono::Duration::minutes(i64::from(since_start)))
}

/// What the scheduler does for one group at `now`: whether an automatic snapshot is due (retention above 0,
/// inside the snapshot window, and none taken yet in this occurrence of the window), and which automatic
/// snapshots are past retention (taken more than `retention` days before `now`). A pure function of time and
/// state.
pub fn automatic_work(
    now: chrono::DateTime<chrono::Utc>,
    window: &crate::rules::DailyWindow,
    retention: i32,
    automatic: &[(String, chrono::DateTime<chrono::Utc>)],
) -> (bool, Vec<String>) {
    let due = retention > 0
        && window_occurrence(window, now)
            .is_some_and(|start| !automatic.iter().any(|(_, taken)| *taken >= start));
    let expired = automatic
        .iter()
        .filter(|(_, taken)| now - *taken > chrono::Duration::days(i64::from(retention.max(0))))
        .filter(|_| retention > 0)
        .map(|(n, _)| n.clone())
        .collect();
    (due, expired)
}

/// AWS's name of an automatic snapshot: `automatic.<group>-YYYY-MM-DD-HH-MM`.
pub fn automatic_name(group: &str, t: chrono::DateTime<chrono::Utc>) -> String {
    format!("automatic.{group}-{}", t.format("%Y-%m-%d-%H-%M"))
}

/// A new snapshot record of group `g`, to be read from member `from`.
pub fn new_snapshot(g: &ReplicationGroup, name: &str, source: &str, from: &str) -> Snapshot {
    let m = g.member(from);
    Snapshot {
        name: name.to_string(),
        source: source.to_string(),
        status: "creating".into(),
        replication_group_id: g.id.clone(),
        of_cluster: g.standalone,
        description: g.description.clone(),
        cache_cluster_id: from.to_string(),
        cache_cluster_create_time: m.map_or(g.create_time, |m| m.create_time),
        availability_zone: m.map(|m| m.availability_zone.clone()).unwrap_or_default(),
        replica_count: g.replicas().count() as i64,
        cache_node_type: g.cache_node_type.clone(),
        engine: m
            .map_or(g.engine.as_str(), |m| g.release_of(m).0)
            .to_string(),
        engine_version: m
            .map_or(g.engine_version.as_str(), |m| g.release_of(m).1)
            .to_string(),
        port: g.port,
        cache_parameter_group: g.cache_parameter_group.clone(),
        preferred_maintenance_window: g.preferred_maintenance_window.clone(),
        snapshot_window: g.snapshot_window.clone(),
        snapshot_retention_limit: g.snapshot_retention_limit,
        auto_minor_version_upgrade: g.auto_minor_version_upgrade,
        automatic_failover: g.automatic_failover,
        taken: None,
        size: 0,
        used_memory: 0,
        // With cluster mode enabled, every node group's data, each read from a replica (else its primary).
        shards: if g.cluster_mode == ClusterMode::Enabled {
            g.shards
                .iter()
                .map(|sh| {
                    let m = sh.replicas().next().or_else(|| sh.primary());
                    ShardSnapshot {
                        node_group_id: sh.id.clone(),
                        cache_cluster_id: m.map(|m| m.cluster_id.clone()).unwrap_or_default(),
                        cache_cluster_create_time: m.map_or(g.create_time, |m| m.create_time),
                        slots: sh.slots.clone(),
                        availability_zone: sh
                            .primary()
                            .map(|p| p.availability_zone.clone())
                            .unwrap_or_default(),
                        replica_count: sh.replicas().count() as i64,
                        size: 0,
                        used_memory: 0,
                    }
                })
                .collect()
        } else {
            vec![]
        },
    }
}

/// The member a snapshot of `g` is read from: `SnapshottingClusterId` when set, else a replica, else the
/// primary (a group without replicas).
pub fn snapshot_source(g: &ReplicationGroup) -> String {
    g.snapshotting_cluster_id
        .clone()
        .filter(|c| g.member(c).is_some())
        .or_else(|| {
            g.first_shard()
                .replicas()
                .next()
                .map(|m| m.cluster_id.clone())
        })
        .unwrap_or_else(|| g.first_shard().primary_cluster_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::DailyWindow;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn automatic_snapshots_once_a_window_and_pruned_past_retention() {
        let w = DailyWindow::parse("05:00-06:00").expect("window");
        // Outside the window: nothing; at its edges: in from 05:00, out from 06:00.
        assert!(!automatic_work(at(10, 4, 59), &w, 1, &[]).0);
        assert!(automatic_work(at(10, 5, 0), &w, 1, &[]).0);
        assert!(automatic_work(at(10, 5, 59), &w, 1, &[]).0);
        assert!(!automatic_work(at(10, 6, 0), &w, 1, &[]).0);
        // Retention 0: never, and nothing pruned.
        let old = vec![("automatic.rg-2026-11-01-05-00".to_string(), at(1, 5, 0))];
        assert_eq!(automatic_work(at(10, 5, 30), &w, 0, &old), (false, vec![]));
        // Taken in this occurrence: not again the same day; the next day's window: again.
        let today = vec![("a".to_string(), at(10, 5, 1))];
        assert!(!automatic_work(at(10, 5, 30), &w, 1, &today).0);
        assert!(automatic_work(at(11, 5, 0), &w, 1, &today).0);
        // Retention 1: pruned once more than a day old.
        assert_eq!(
            automatic_work(at(11, 5, 0), &w, 1, &today).1,
            Vec::<String>::new()
        );
        assert_eq!(
            automatic_work(at(11, 5, 2), &w, 1, &today).1,
            vec!["a".to_string()]
        );
        // A longer retention keeps it.
        assert!(automatic_work(at(11, 5, 2), &w, 3, &today).1.is_empty());
        // A window across midnight: 23:30-00:30 occurs from 23:30 of one day.
        let night = DailyWindow::parse("23:30-00:30").expect("window");
        assert_eq!(
            window_occurrence(&night, at(11, 0, 10)),
            Some(at(10, 23, 30))
        );
        assert_eq!(
            window_occurrence(&night, at(10, 23, 45)),
            Some(at(10, 23, 30))
        );
        assert_eq!(window_occurrence(&night, at(11, 0, 30)), None);
        let yesterday_night = vec![("n".to_string(), at(10, 23, 40))];
        assert!(
            !automatic_work(at(11, 0, 10), &night, 1, &yesterday_night).0,
            "same occurrence"
        );
        assert!(
            automatic_work(at(11, 23, 30), &night, 1, &yesterday_night).0,
            "next occurrence"
        );
        assert_eq!(
            automatic_name("rg", at(10, 5, 7)),
            "automatic.rg-2026-11-10-05-07"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            check_name("SnapshotName", "My-Snap1").ok().as_deref(),
            Some("my-snap1")
        );
        for bad in ["", "1snap", "a--b", "a-", "a_b", "automatic.x"] {
            assert!(check_name("SnapshotName", bad).is_err(), "{bad}");
        }
    }
}
