//! A migration from a Redis outside Cacheplane: the test, the start (the target's primary replicates from the source),
//! following it (link events, retries, abandon), the in-sync check and the promotion that completes it.

use super::Step;
use crate::model::Following;
use crate::model::GroupStatus;
use crate::model::Migration;
use crate::model::MigrationPhase;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::now;
use crate::rules::migration::failed_checks;
use crate::rules::migration::link_step;
use crate::rules::migration::LinkEvent;
use crate::rules::migration::CATCH_UP;
use crate::rules::migration::NODE_TIMEOUT;
use crate::rules::migration::SOURCE_TIMEOUT;
use crate::rules::migration::START_ATTEMPTS;
use crate::workflows::Duration;
use crate::ControlError;
use engine::admin::AdminClient;
use engine::source::probe;

use crate::error::Result;

impl Step {
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
    pub(crate) async fn primary_admin(&self, g: &ReplicationGroup) -> Result<AdminClient> {
        let p = g
            .first_shard()
            .primary()
            .ok_or_else(|| ControlError::Internal(format!("{} has no primary", g.id)))?;
        Ok(AdminClient::connect_within(
            &g.admin_addr(p, &self.inner.settings.data_dir),
            self.nodes().admin(),
            NODE_TIMEOUT,
        )
        .await?)
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
        // StartMigration checked the target's keys at its primary's last look; keys written since are not
        // replaced silently either.
        if !clear && failures.is_empty() {
            let keys = self.primary_admin(g).await?.dbsize().await?;
            if keys > 0 {
                failures.push(format!(
                    "target check: the target holds {keys} keys; start again with ClearTargetCacheData to replace them"
                ));
            }
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
    pub(crate) async fn stop_following(
        &self,
        g: &ReplicationGroup,
        c: &mut AdminClient,
    ) -> Result<()> {
        c.replicaof(None).await?;
        c.set_primary_auth(Some(self.nodes().admin())).await?;
        let role = c.role().await?;
        self.nodes()
            .update(&g.first_shard().primary_cluster_id, |o| o.role = Some(role));
        Ok(())
    }

    /// True when the source lists the target's primary among its replicas: it accepted the sync and is
    /// preparing or sending its data (a source may wait seconds before it starts a diskless sync).
    pub(crate) async fn source_accepted(&self, g: &ReplicationGroup, m: &Migration) -> bool {
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
    pub(crate) async fn in_sync(
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
