//! AWS's rules of an online migration, applied to what the source reports and to the target, and how the worker
//! judges each look at the link: pure functions.

use crate::rules::node_types;
use std::time::Duration;

use engine::source::SourceReport;

use crate::model::{Following, ReplicationGroup};

/// Attempts at making the target's primary follow the source before the migration is abandoned.
/// What a look at a running migration's link reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// The link came up for the first time: the initial sync is done.
    InitialSyncDone,
    Up,
    Down,
    /// Attempt `n` to start following failed; another begins.
    Retrying(u32),
}

/// The outcome of one look: the migration's next state (`None`: abandon it) and the events to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStep {
    pub next: Option<Following>,
    pub events: Vec<LinkEvent>,
}

pub const START_ATTEMPTS: u32 = 3;

/// How long `CompleteMigration` waits for the target to reach the source's replication offset.
pub const CATCH_UP: Duration = Duration::from_secs(1);

/// Commands on the target's primary during a migration step.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the source may take to answer each step of the checks.
pub const SOURCE_TIMEOUT: Duration = Duration::from_secs(3);

/// Databases every target node has (Redis's default, which Cacheplane does not change).
pub const TARGET_DATABASES: u32 = 16;

/// The oldest source version AWS migrates from (cluster mode disabled).
pub const MIN_SOURCE_VERSION: (u32, u32, u32) = (2, 8, 21);

/// The AWS rules of a migration, applied to what the source reported and to the target: the checks that
/// failed, each as `(check, reason)`. Empty when the migration can go ahead. A pure function.
pub fn failed_checks(
    source: &SourceReport,
    target: &ReplicationGroup,
) -> Vec<(&'static str, String)> {
    let mut failed = Vec::new();
    match engine::binary::parse_version(&source.version) {
        Some(v) if v >= MIN_SOURCE_VERSION => {}
        _ => failed.push((
            "source version",
            format!(
                "the source runs Redis {}, older than the 2.8.21 a migration needs",
                if source.version.is_empty() {
                    "of an unknown version"
                } else {
                    &source.version
                }
            ),
        )),
    }
    if source.cluster_enabled {
        failed.push((
            "cluster mode",
            "the source runs in cluster mode and the target has cluster mode disabled".into(),
        ));
    }
    match source.databases {
        Some(n) if n == TARGET_DATABASES => {}
        Some(n) => failed.push((
            "databases",
            format!("the source has {n} databases and the target {TARGET_DATABASES}"),
        )),
        None => {}
    }
    if !source.missing_commands.is_empty() {
        failed.push((
            "commands",
            format!(
                "the source does not know {} (renamed or disabled); replication needs them",
                source.missing_commands.join(", ")
            ),
        ));
    }
    if !target.multi_az {
        failed.push(("Multi-AZ", "the target must have Multi-AZ enabled".into()));
    }
    let maxmemory = node_types::maxmemory(&target.cache_node_type).unwrap_or(0);
    if source.used_memory > maxmemory {
        failed.push((
            "memory",
            format!(
                "the source uses {} bytes and a {} node holds {maxmemory}",
                source.used_memory, target.cache_node_type
            ),
        ));
    }
    failed
}

/// One step of a running migration, a pure function: `link_up` is what the target's primary reports,
/// `stalled` that the current attempt to start following has timed out without the link, a sync or the
/// source's acceptance. A stalled attempt is retried up to [`START_ATTEMPTS`], then the migration is
/// abandoned; once the initial sync is done, a link that goes down is only reported (Redis reconnects).
pub fn link_step(
    f: &Following,
    link_up: bool,
    stalled: bool,
    t: chrono::DateTime<chrono::Utc>,
) -> LinkStep {
    let mut next = f.clone();
    let mut events = Vec::new();
    next.link_up = link_up;
    match (link_up, f.link_up, f.synced) {
        (true, _, false) => {
            next.synced = true;
            events.push(LinkEvent::InitialSyncDone);
        }
        (true, false, true) => events.push(LinkEvent::Up),
        (false, true, _) => events.push(LinkEvent::Down),
        _ => {}
    }
    if !link_up && stalled && !f.synced {
        if f.attempts >= START_ATTEMPTS {
            return LinkStep { next: None, events };
        }
        events.push(LinkEvent::Retrying(f.attempts));
        next.attempts += 1;
        next.attempt_since = t;
    }
    LinkStep {
        next: Some(next),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn following(attempts: u32, synced: bool, link_up: bool) -> Following {
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        Following {
            addr: "127.0.0.1:6379".parse().expect("addr"),
            since: t0,
            synced,
            link_up,
            attempts,
            attempt_since: t0,
        }
    }

    #[test]
    fn link_steps_report_sync_and_link_changes() {
        let t = following(1, false, false).since + chrono::Duration::seconds(5);
        // Nothing yet, not stalled: no change.
        let f = following(1, false, false);
        assert_eq!(
            link_step(&f, false, false, t),
            LinkStep {
                next: Some(f.clone()),
                events: vec![]
            }
        );
        // The link comes up: the initial sync is done.
        let s = link_step(&f, true, false, t);
        assert_eq!(s.events, vec![LinkEvent::InitialSyncDone]);
        let synced = s.next.expect("goes on");
        assert!(synced.synced && synced.link_up);
        // Down, then up again; an attempt timeout no longer matters once synced.
        let s = link_step(&synced, false, true, t);
        assert_eq!(s.events, vec![LinkEvent::Down]);
        let down = s.next.expect("goes on");
        assert_eq!(down.attempts, 1);
        assert_eq!(link_step(&down, false, true, t).events, vec![]);
        assert_eq!(link_step(&down, true, false, t).events, vec![LinkEvent::Up]);
    }

    #[test]
    fn a_stalled_start_is_retried_then_abandoned() {
        let t = following(1, false, false).since + chrono::Duration::seconds(31);
        let s = link_step(&following(1, false, false), false, true, t);
        assert_eq!(s.events, vec![LinkEvent::Retrying(1)]);
        let next = s.next.expect("retried");
        assert_eq!((next.attempts, next.attempt_since), (2, t));
        let s = link_step(&following(START_ATTEMPTS - 1, false, false), false, true, t);
        assert_eq!(s.events, vec![LinkEvent::Retrying(START_ATTEMPTS - 1)]);
        let s = link_step(&following(START_ATTEMPTS, false, false), false, true, t);
        assert_eq!(s.next, None, "abandoned after the last attempt");
        // A link that comes up in the same look wins over a timeout.
        let s = link_step(&following(START_ATTEMPTS, false, false), true, true, t);
        assert!(s.next.is_some_and(|f| f.synced));
    }

    fn report() -> SourceReport {
        SourceReport {
            version: "7.0.15".into(),
            cluster_enabled: false,
            databases: Some(16),
            used_memory: 1 << 20,
            keys: 10,
            missing_commands: vec![],
        }
    }

    fn target(multi_az: bool) -> ReplicationGroup {
        let mut g: ReplicationGroup = serde_json::from_value(serde_json::json!({
            "id": "rg", "description": "", "status": "available", "engine": "redis",
            "engine_version": "7.0.15", "cache_node_type": "cache.t3.micro", "port": 6379,
            "automatic_failover": true, "multi_az": true, "preferred_maintenance_window": "sun:05:00-sun:06:00",
            "snapshot_retention_limit": 0, "snapshot_window": "01:00-02:00", "snapshotting_cluster_id": null,
            "security_group_ids": [], "auto_minor_version_upgrade": true, "cache_parameter_group": "default.redis7",
            "create_time": "2026-01-01T00:00:00Z", "primary_endpoint": "127.0.0.2", "reader_endpoint": "127.0.0.3",
            "shards": [{"id": "0001", "primary_cluster_id": "rg-001", "members": []}], "retain_cluster_id": null
        }))
        .expect("group");
        g.multi_az = multi_az;
        g
    }

    #[test]
    fn a_good_source_and_target_pass() {
        assert!(failed_checks(&report(), &target(true)).is_empty());
    }

    #[test]
    fn each_rule_names_its_check() {
        let names = |r: SourceReport, t: ReplicationGroup| -> Vec<&'static str> {
            failed_checks(&r, &t).into_iter().map(|(c, _)| c).collect()
        };
        assert_eq!(names(report(), target(false)), ["Multi-AZ"]);
        let mut r = report();
        r.cluster_enabled = true;
        assert_eq!(names(r, target(true)), ["cluster mode"]);
        let mut r = report();
        r.databases = Some(8);
        assert_eq!(names(r, target(true)), ["databases"]);
        let mut r = report();
        r.missing_commands = vec!["psync".into()];
        assert_eq!(names(r, target(true)), ["commands"]);
        let mut r = report();
        r.used_memory = 1 << 30;
        assert_eq!(names(r, target(true)), ["memory"]);
        let mut r = report();
        r.version = "2.6.0".into();
        assert_eq!(names(r, target(true)), ["source version"]);
    }
}
