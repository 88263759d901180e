//! Online migration from a Redis this daemon does not manage. `TestMigration` checks, without moving any data,
//! everything AWS requires of the source and the target; the outcome is reported as events of the group, whose
//! status stays `available`.
//!
//! The source is looked at from the daemon, which runs on the same host as the target's nodes: what the daemon
//! reaches, the nodes reach.

use std::time::Duration;

use engine::source::{probe, SourceReport};
use wire::input::TestMigration;
use wire::output;

use crate::error::{invalid, ControlError, Result};
use crate::model::{GroupStatus, Migration, MigrationPhase, NewEvent, ReplicationGroup};
use crate::{node_types, now, rules, Control};

/// How long the source may take to answer each step of the checks.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(3);
/// Databases every target node has (Redis's default, which Cacheplane does not change).
pub const TARGET_DATABASES: u32 = 16;
/// The oldest source version AWS migrates from (cluster mode disabled).
const MIN_SOURCE_VERSION: (u32, u32, u32) = (2, 8, 21);

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

fn source_endpoint(input: &TestMigration) -> Result<(String, u16)> {
    let [ep] = input.customer_node_endpoint_list.as_slice() else {
        return Err(invalid(format!(
            "CustomerNodeEndpointList must have exactly one endpoint; it has {}.",
            input.customer_node_endpoint_list.len()
        )));
    };
    let host = ep
        .address
        .as_deref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("CustomerNodeEndpointList.member.1.Address is required."))?;
    rules::text("Address", host)?;
    if host.len() > 255 || host.contains(char::is_whitespace) {
        return Err(invalid(format!(
            "Invalid source address '{}'.",
            rules::shown(host)
        )));
    }
    let port = match ep.port {
        Some(p) if (1..=65535).contains(&p) => p as u16,
        Some(p) => {
            return Err(invalid(format!(
                "Invalid source port {p}: it must be between 1 and 65535."
            )))
        }
        None => {
            return Err(invalid(
                "CustomerNodeEndpointList.member.1.Port is required.",
            ))
        }
    };
    Ok((host.to_string(), port))
}

impl Control {
    /// `TestMigration`: records the request and returns at once; the group's worker runs the checks.
    pub fn test_migration(&self, input: TestMigration) -> Result<output::ReplicationGroup> {
        let (host, port) = source_endpoint(&input)?;
        let key = input.replication_group_id.to_ascii_lowercase();
        let mut st = self.state();
        let mut g = st.groups.get(&key).cloned().ok_or_else(|| {
            ControlError::ReplicationGroupNotFound(rules::shown(&input.replication_group_id))
        })?;
        if g.migration.is_some() {
            return Err(ControlError::ReplicationGroupAlreadyUnderMigration(
                format!(
                "Replication group {} is already under migration (or a migration test is running).",
                g.id
            ),
            ));
        }
        if g.status != GroupStatus::Available {
            return Err(ControlError::InvalidReplicationGroupState {
                id: g.id.clone(),
                status: g.status.as_str().into(),
            });
        }
        g.migration = Some(Migration {
            host: host.clone(),
            port,
            phase: MigrationPhase::Testing,
        });
        st.save_group(
            &g,
            now(),
            &[NewEvent::group(
                &g.id,
                format!(
                    "Test migration started for {} with source {host}:{port}",
                    g.id
                ),
            )],
        )?;
        drop(st);
        self.poke_group(&g.id);
        Ok(self.view_group(&g))
    }

    /// Runs the checks of a `TestMigration` and reports them as events.
    pub(crate) async fn run_migration_test(
        &self,
        g: &ReplicationGroup,
        m: &Migration,
    ) -> Result<()> {
        let source = format!("{}:{}", m.host, m.port);
        let events = match probe(&m.host, m.port, SOURCE_TIMEOUT).await {
            Err(problem) => vec![NewEvent::group(
                &g.id,
                format!(
                    "Test migration failed for {}: source {source}: {problem}",
                    g.id
                ),
            )],
            Ok(report) => {
                let failed = failed_checks(&report, g);
                if failed.is_empty() {
                    vec![NewEvent::group(
                        &g.id,
                        format!(
                            "Test migration succeeded for {}: source {source} (Redis {}, {} keys, {} bytes) passed every check",
                            g.id, report.version, report.keys, report.used_memory
                        ),
                    )]
                } else {
                    failed
                        .into_iter()
                        .map(|(check, why)| {
                            NewEvent::group(
                                &g.id,
                                format!("Test migration failed for {}: {check} check: {why}", g.id),
                            )
                        })
                        .collect()
                }
            }
        };
        self.update_group(&g.id, |cur| {
            if cur
                .migration
                .as_ref()
                .is_some_and(|x| x.phase == MigrationPhase::Testing)
            {
                cur.migration = None;
            }
            events
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "primary_cluster_id": "rg-001", "members": [], "retain_cluster_id": null
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
