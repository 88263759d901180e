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

use std::time::Duration;

use engine::admin::AdminClient;
use engine::source::{probe, SourceReport};
use wire::input::{CompleteMigration, CustomerNodeEndpoint, StartMigration, TestMigration};
use wire::output;

use crate::error::not_yet;
use crate::error::{combination, invalid, ControlError, Result};
use crate::model::{Following, GroupStatus, Migration, MigrationPhase, NewEvent, ReplicationGroup};
use crate::rules::{self, node_types};
use crate::{now, Control};

/// Attempts at making the target's primary follow the source before the migration is abandoned.
pub const START_ATTEMPTS: u32 = 3;
/// How long `CompleteMigration` waits for the target to reach the source's replication offset.
const CATCH_UP: Duration = Duration::from_secs(1);
/// Commands on the target's primary during a migration step.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);

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
        let mut st = self.state();
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

    /// An admin connection to the group's primary node.
    async fn primary_admin(&self, g: &ReplicationGroup) -> Result<AdminClient> {
        let p = g
            .first_shard()
            .primary()
            .ok_or_else(|| ControlError::Internal(format!("{} has no primary", g.id)))?;
        Ok(AdminClient::connect_within(
            &g.admin_addr(p, &self.inner.settings.data_dir),
            &self.inner.admin,
            NODE_TIMEOUT,
        )
        .await?)
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
            let keys = self.primary_admin(&g).await?.dbsize().await?;
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

    /// The worker's part of `StartMigration`: the checks, then the primary follows the source. A failed check
    /// (or a source that cannot be resolved) ends the migration at once, with events, and the group is
    /// `available` again.
    pub(crate) async fn run_migration_start(
        &self,
        g: &ReplicationGroup,
        m: &Migration,
        clear: bool,
    ) -> Result<()> {
        let source = format!("{}:{}", m.host, m.port);
        let mut failures: Vec<String> = match probe(&m.host, m.port, SOURCE_TIMEOUT).await {
            Err(problem) => vec![format!("source {source}: {problem}")],
            Ok(report) => failed_checks(&report, g)
                .into_iter()
                .map(|(check, why)| format!("{check} check: {why}"))
                .collect(),
        };
        let addr = match tokio::net::lookup_host((m.host.as_str(), m.port)).await {
            Ok(mut addrs) => addrs.next(),
            Err(_) => None,
        };
        if addr.is_none() && failures.is_empty() {
            failures.push(format!("source {source}: its address cannot be resolved"));
        }
        let (Some(addr), true) = (addr, failures.is_empty()) else {
            return self.update_group(&g.id, |cur| {
                if cur
                    .migration
                    .as_ref()
                    .is_some_and(|x| matches!(x.phase, MigrationPhase::Starting { .. }))
                {
                    cur.migration = None;
                    cur.status = GroupStatus::Available;
                }
                failures
                    .iter()
                    .map(|f| {
                        NewEvent::group(
                            &cur.id,
                            format!("Start migration failed for {}: {f}", cur.id),
                        )
                    })
                    .collect()
            });
        };
        let mut c = self.primary_admin(g).await?;
        let mut events = Vec::new();
        if clear {
            c.flush_all().await?;
            events.push(format!(
                "Target cache data of {} cleared before the migration",
                g.id
            ));
        }
        c.set_primary_auth(None).await?;
        c.replicaof(Some(addr)).await?;
        tracing::info!(group = %g.id, %source, "migration started: the primary follows the source");
        events.push(format!(
            "Migration started for {}: primary {} replicates from {source}; writes to the target are refused until CompleteMigration",
            g.id, g.first_shard().primary_cluster_id
        ));
        let t = now();
        self.update_group(&g.id, |cur| {
            if let Some(x) = cur.migration.as_mut() {
                x.phase = MigrationPhase::Following(Following {
                    addr,
                    since: t,
                    synced: false,
                    link_up: false,
                    attempts: 1,
                    attempt_since: t,
                });
            }
            cur.status = GroupStatus::Migrating;
            events
                .iter()
                .map(|e| NewEvent::group(&cur.id, e.clone()))
                .collect()
        })?;
        self.refresh_roles_soon(&g.id);
        Ok(())
    }

    /// One look at a running migration: events when the link comes up (the initial sync is done), goes down
    /// and comes back; a start that does not take within the attempt timeout is retried, and abandoned after
    /// [`START_ATTEMPTS`] (the primary is promoted back, the group `available`, a failure event).
    pub(crate) async fn migration_step(
        &self,
        g: &ReplicationGroup,
        m: &Migration,
        f: &Following,
    ) -> Result<()> {
        let Ok(mut c) = self.primary_admin(g).await else {
            // The primary is down: the node is restarted (following the source, from its config).
            return Ok(());
        };
        let source = format!("{}:{}", m.host, m.port);
        let Some(link) = c.link_state().await? else {
            // Not following (restarted before its config said so, or promoted by hand): point it again.
            c.set_primary_auth(None).await?;
            c.replicaof(Some(f.addr)).await?;
            return Ok(());
        };
        let t = now();
        // Loading the source's data (the sync's last part) is progress too.
        let loading = !link.link_up && c.load_progress().await?.is_some();
        let stalled = !f.synced
            && !link.link_up
            && !link.sync_in_progress
            && !loading
            && (t - f.attempt_since).to_std().unwrap_or_default()
                >= self.inner.settings.migration_attempt_timeout;
        // Asked only when it matters: a source may take seconds to start a sync it has accepted.
        let accepted = stalled && self.source_accepted(g, m).await;
        let step = link_step(f, link.link_up, stalled && !accepted, t);
        let events: Vec<String> = step
            .events
            .iter()
            .map(|e| match e {
                LinkEvent::InitialSyncDone => format!(
                    "Migration of {}: initial sync from {source} completed; replication link up",
                    g.id
                ),
                LinkEvent::Up => format!(
                    "Migration of {}: replication link from {source} up again",
                    g.id
                ),
                LinkEvent::Down => format!(
                    "Migration of {}: replication link from {source} down",
                    g.id
                ),
                LinkEvent::Retrying(n) => format!(
                    "Migration of {}: primary {} could not start replicating from {source} (attempt {n} of {START_ATTEMPTS}); retrying",
                    g.id, g.first_shard().primary_cluster_id
                ),
            })
            .collect();
        let (next, abandon) = match step.next {
            Some(next) => (next, false),
            None => (f.clone(), true),
        };
        if next.attempts != f.attempts {
            c.replicaof(None).await?;
            c.replicaof(Some(f.addr)).await?;
        }
        if abandon {
            self.stop_following(g, &mut c).await?;
            tracing::warn!(group = %g.id, %source, "migration abandoned: the source could not be followed");
            self.update_group(&g.id, |cur| {
                cur.migration = None;
                cur.status = GroupStatus::Available;
                vec![NewEvent::group(
                    &cur.id,
                    format!(
                        "Migration failed for {}: primary {} could not replicate from {source} after {START_ATTEMPTS} attempts; the migration was stopped and the group is available again",
                        cur.id, cur.first_shard().primary_cluster_id
                    ),
                )]
            })?;
            self.refresh_roles_soon(&g.id);
            return Ok(());
        }
        if next != *f {
            self.update_group(&g.id, |cur| {
                if let Some(x) = cur.migration.as_mut() {
                    if matches!(x.phase, MigrationPhase::Following(_)) {
                        x.phase = MigrationPhase::Following(next.clone());
                    }
                }
                events
                    .iter()
                    .map(|e| NewEvent::group(&cur.id, e.clone()))
                    .collect()
            })?;
        }
        Ok(())
    }

    /// Promotes the target's primary back: it stops following the source and offers the admin credentials
    /// again to any primary it follows later.
    async fn stop_following(&self, g: &ReplicationGroup, c: &mut AdminClient) -> Result<()> {
        c.replicaof(None).await?;
        c.set_primary_auth(Some(&self.inner.admin)).await?;
        let role = c.role().await?;
        self.inner
            .observed
            .update(&g.first_shard().primary_cluster_id, |o| o.role = Some(role));
        Ok(())
    }

    /// True when the source lists the target's primary among its replicas: it accepted the sync and is
    /// preparing or sending its data (a source may wait seconds before it starts a diskless sync).
    async fn source_accepted(&self, g: &ReplicationGroup, m: &Migration) -> bool {
        let Some(p) = g.first_shard().primary() else {
            return false;
        };
        let me = g.addr_of(p, p.ipv6);
        engine::source::replicas(&m.host, m.port, SOURCE_TIMEOUT)
            .await
            .is_ok_and(|r| r.iter().any(|(addr, _)| *addr == me))
    }

    /// Whether the target is in sync with the source: its primary's link is up, no full sync runs, and it has
    /// applied the source's stream up to the source's offset (waiting up to [`CATCH_UP`] for the last bytes).
    async fn in_sync(
        &self,
        g: &ReplicationGroup,
        m: &Migration,
    ) -> std::result::Result<(), String> {
        let mut c = self
            .primary_admin(g)
            .await
            .map_err(|e| format!("the target's primary cannot be reached ({e})"))?;
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let link = c
                .link_state()
                .await
                .map_err(|e| format!("the target's primary does not answer ({e})"))?
                .ok_or("the target's primary is not replicating from the source")?;
            if !link.link_up || link.sync_in_progress {
                return Err(format!(
                    "the replication link from the source is down{}",
                    if link.sync_in_progress {
                        " (the initial sync is still running)"
                    } else {
                        ""
                    }
                ));
            }
            let goal = engine::source::replication_offset(&m.host, m.port, SOURCE_TIMEOUT)
                .await
                .map_err(|e| format!("the source cannot be read: {e}"))?;
            if link.offset >= goal {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the target is {} bytes of the source's replication stream behind",
                    goal - link.offset
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
            if let Err(why) = self.in_sync(&g, &m).await {
                self.state().store.add_events(
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
        let mut st = self.state();
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
        drop(st);
        self.poke_group(&g.id);
        Ok(self.view_group(&g))
    }

    /// The worker's part of `CompleteMigration`: the primary stops following the source and is promoted; the
    /// group is `available` and takes writes again.
    pub(crate) async fn finish_migration(&self, g: &ReplicationGroup, force: bool) -> Result<()> {
        let mut c = self.primary_admin(g).await?;
        self.stop_following(g, &mut c).await?;
        tracing::info!(group = %g.id, force, "migration complete: the primary was promoted");
        self.update_group(&g.id, |cur| {
            cur.migration = None;
            cur.status = GroupStatus::Available;
            vec![NewEvent::group(
                &cur.id,
                if force {
                    format!(
                        "Complete Migration successful for {} (forced: the target may not hold the source's latest writes)",
                        cur.id
                    )
                } else {
                    format!("Complete Migration successful for {}", cur.id)
                },
            )]
        })?;
        self.refresh_roles_soon(&g.id);
        Ok(())
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
