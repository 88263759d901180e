//! Online migration from a Redis this daemon does not manage. `TestMigration` checks, without moving any data,
//! everything AWS requires of the source and the target; the outcome is reported as events of the group, whose
//! status stays `available`. `StartMigration` runs the same checks (status `modifying`), then makes the target's
//! primary a replica of the source (`migrating`: the target's replicas keep following its primary, reads are
//! served, writes refused by Redis as on any replica); the group's worker reports the link (initial sync done,
//! link down, up again) as events, retries a start that does not take and abandons it after a few attempts.
//! `CompleteMigration` checks that the target is in sync (link up, the source's replication offset reached)
//! unless `Force`, then promotes the primary.
//!
//! The source is looked at from the daemon, which runs on the same host as the target's nodes: what the daemon
//! reaches, the nodes reach.

use wire::input::{CompleteMigration, CustomerNodeEndpoint, StartMigration, TestMigration};
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{GroupStatus, Migration, MigrationPhase, NewEvent, ReplicationGroup};
use crate::rules::{self};
use crate::{now, Control};

/// A group can start a migration (or a test of one) when none runs and it is `available`.
fn can_migrate(g: &ReplicationGroup) -> Result<()> {
    // The target's primary follows the source with `REPLICAOF`, which Redis refuses in cluster mode (compatible
    // included).
    if g.cluster_mode.runs_cluster() {
        return Err(crate::error::not_yet(
            "TestMigration/StartMigration",
            "online migration into groups whose nodes run Redis Cluster (cluster mode enabled or compatible)",
        ));
    }
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
    Ok(())
}

fn source_endpoint(list: &[CustomerNodeEndpoint]) -> Result<(String, u16)> {
    let [ep] = list else {
        return Err(invalid(format!(
            "CustomerNodeEndpointList must have exactly one endpoint; it has {}.",
            list.len()
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
        let (host, port) = source_endpoint(&input.customer_node_endpoint_list)?;
        let source = format!("{host}:{port}");
        self.begin_migration(
            &input.replication_group_id,
            Migration {
                host,
                port,
                phase: MigrationPhase::Testing,
            },
            |id| format!("Test migration started for {id} with source {source}"),
        )
    }

    /// The group `id` names.
    fn find_group(&self, id: &str) -> Result<ReplicationGroup> {
        self.state()
            .replication_group(id)
            .cloned()
            .ok_or_else(|| ControlError::ReplicationGroupNotFound(rules::shown(id)))
    }

    /// Records `m` on group `id` if no migration (or test) runs and the group is `available`; the status turns
    /// `modifying` for a start, and `message` of the group's id is its event. The worker carries it on.
    fn begin_migration(
        &self,
        id: &str,
        m: Migration,
        message: impl FnOnce(&str) -> String,
    ) -> Result<output::ReplicationGroup> {
        let g = self.commit(|st| {
            let mut g = st
                .replication_group(id)
                .cloned()
                .ok_or_else(|| ControlError::ReplicationGroupNotFound(rules::shown(id)))?;
            can_migrate(&g)?;
            if matches!(m.phase, MigrationPhase::Starting { .. }) {
                g.status = GroupStatus::Modifying;
            }
            g.migration = Some(m);
            let event = NewEvent::group(&g.id, message(&g.id));
            st.save_group(&g, now(), &[event])?;
            st.poke(&g.id);
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }

    /// `StartMigration`: validates, records the request (status `modifying`) and returns; the group's worker
    /// runs the checks and starts the replication.
    pub async fn start_migration(&self, input: StartMigration) -> Result<output::ReplicationGroup> {
        if input.serverless_cache_name.is_some() {
            return Err(not_yet("ServerlessCacheName", "serverless caches"));
        }
        if input.auto_cutover == Some(true) {
            return Err(combination(
                "AutoCutover is for serverless caches; a replication group's migration ends with CompleteMigration.",
            ));
        }
        let id = input.replication_group_id.clone().unwrap_or_default();
        let endpoints = input
            .customer_node_endpoint_list
            .as_deref()
            .unwrap_or_default();
        let (host, port) = source_endpoint(endpoints)?;
        let g = self.find_group(&id)?;
        can_migrate(&g)?;
        let clear = input.clear_target_cache_data.unwrap_or(false);
        if !clear {
            // Replication replaces the target's data with the source's. AWS does not say what happens to keys
            // already in the target; rather than drop them silently, ask for ClearTargetCacheData.
            // (The worker checks again before the primary follows the source.)
            let keys: u64 = self
                .fresh_primaries(&g)
                .await?
                .iter()
                .map(|d| d.total_keys())
                .sum();
            if keys > 0 {
                return Err(combination(format!(
                    "The target replication group {} holds {keys} keys, and a migration replaces the target's data with the source's. Set ClearTargetCacheData to true to clear them and start (clients whose model lacks it, such as AWS CLI v1, can empty the target with FLUSHALL first).",
                    g.id
                )));
            }
        }
        let source = format!("{host}:{port}");
        self.begin_migration(
            &id,
            Migration {
                host,
                port,
                phase: MigrationPhase::Starting { clear },
            },
            |id| {
                format!(
                    "Migration of {id} from {source} requested: checking the source and the target"
                )
            },
        )
    }

    /// `CompleteMigration`: unless `Force`, the target must be in sync with the source (else the migration
    /// goes on, an event says why, and `MigrationHealthFault` answers); then the group's worker promotes the
    /// primary.
    pub async fn complete_migration(
        &self,
        input: CompleteMigration,
    ) -> Result<output::ReplicationGroup> {
        if input.serverless_cache_name.is_some() {
            return Err(not_yet("ServerlessCacheName", "serverless caches"));
        }
        let id = input.replication_group_id.clone().unwrap_or_default();
        let key = id.to_ascii_lowercase();
        let g = self.find_group(&id)?;
        let m = match &g.migration {
            Some(m) if matches!(m.phase, MigrationPhase::Following(_)) => m.clone(),
            Some(m) if matches!(m.phase, MigrationPhase::Completing { .. }) => {
                return Ok(self.view_group(&g))
            }
            Some(m) if matches!(m.phase, MigrationPhase::Starting { .. }) => {
                return Err(ControlError::InvalidReplicationGroupState {
                    id: g.id.clone(),
                    status: g.status.as_str().into(),
                })
            }
            _ => {
                return Err(ControlError::ReplicationGroupNotUnderMigration(format!(
                    "Replication group {} is not under migration.",
                    g.id
                )))
            }
        };
        let force = input.force.unwrap_or(false);
        if !force {
            // The one action that reads nodes itself: the target's primary and the source, now, since AWS answers
            // `MigrationHealthFault` at once and a reading from before the request could not show that every write
            // the source acknowledged has reached the target.
            if let Err(why) = self.in_sync(&g, &m).await {
                self.add_events(
                    now(),
                    &[NewEvent::group(
                        &g.id,
                        format!(
                            "Complete Migration failed for {}: {why}; the migration continues",
                            g.id
                        ),
                    )],
                )?;
                return Err(ControlError::MigrationHealth(format!(
                    "Replication group {} is not in sync with its source {}:{}: {why}. Try again when it is, or use Force=true to complete anyway.",
                    g.id, m.host, m.port
                )));
            }
        }
        let g = self.commit(|st| {
            let mut g = st
                .groups
                .get(&key)
                .cloned()
                .ok_or_else(|| ControlError::ReplicationGroupNotFound(rules::shown(&id)))?;
            let Some(Migration {
                phase: MigrationPhase::Following(f),
                ..
            }) = &g.migration
            else {
                return Err(ControlError::ReplicationGroupNotUnderMigration(format!(
                    "Replication group {} is not under migration.",
                    g.id
                )));
            };
            let addr = f.addr;
            if let Some(x) = g.migration.as_mut() {
                x.phase = MigrationPhase::Completing { addr, force };
            }
            st.save_group(&g, now(), &[])?;
            st.poke(&g.id);
            Ok(g)
        })?;
        Ok(self.view_group(&g))
    }
}
