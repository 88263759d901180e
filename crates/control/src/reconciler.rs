//! The reconciler: compares each group's spec with what its nodes report and drives them there, one idempotent
//! step at a time, so a crash at any point resumes cleanly. One task per group at a time, a bounded number at
//! once; a slow group never blocks another.
//!
//! - `creating`: start (or adopt) every node, point replicas at the primary, wait for every replica's link,
//!   bind the stable endpoints, then `available`. After [`MAX_CREATE_ATTEMPTS`] failures, `create-failed`.
//! - `available`: a node whose process is gone is restarted in place from its data; roles are re-read every
//!   [`ROLE_REFRESH`] and corrected if a node drifted (a restarted replica that came back without its primary).
//! - `deleting`: stop every node, remove its data, unbind the endpoints, forget the group.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine::admin::{AdminClient, Role};
use engine::config::NodeSpec;
use engine::endpoint::StableEndpoint;
use engine::process;
use tokio::sync::{watch, Semaphore};

use crate::error::{ControlError, Result};
use crate::model::{GroupStatus, Member, NewEvent, ReplicationGroup, StandaloneCluster};
use crate::{node_types, now, rules, Control};

/// How often every group is looked at even when nothing woke the reconciler.
pub const TICK: Duration = Duration::from_millis(250);
/// How often roles are re-read from the nodes of an available group.
pub const ROLE_REFRESH: Duration = Duration::from_secs(2);
/// Creation attempts before a group is `create-failed`.
pub const MAX_CREATE_ATTEMPTS: u32 = 3;
/// How long a new replica may take to report its link up.
const LINK_TIMEOUT: Duration = Duration::from_secs(30);
/// Groups reconciled at once.
const CONCURRENCY: usize = 16;
/// Grace between SIGTERM and SIGKILL when stopping a node.
const STOP_GRACE: Duration = Duration::from_secs(10);

struct GroupEndpoints {
    primary: StableEndpoint,
    reader: StableEndpoint,
}

/// The stable endpoints of every group, by group id.
#[derive(Default)]
pub struct Endpoints {
    map: Mutex<HashMap<String, GroupEndpoints>>,
    roles_read: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Endpoints")
    }
}

/// What a reconcile step of a group needs to do next.
enum Work {
    Converge(ReplicationGroup),
    Delete(ReplicationGroup),
    Standalone(StandaloneCluster),
    Nothing,
}

impl Control {
    fn lock_endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, GroupEndpoints>> {
        self.inner
            .endpoints
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The data-plane description of a member.
    pub(crate) fn node_spec(&self, g: &ReplicationGroup, m: &Member) -> Result<NodeSpec> {
        let binary = self
            .inner
            .settings
            .binary_for(&g.engine_version)
            .ok_or_else(|| {
                ControlError::Internal(format!("no binary for engine version {}", g.engine_version))
            })?;
        let replica_of = if m.cluster_id == g.primary_cluster_id {
            None
        } else {
            g.primary().map(|p| SocketAddr::new(p.address, g.port))
        };
        Ok(NodeSpec {
            name: m.cluster_id.clone(),
            dir: self
                .inner
                .settings
                .data_dir
                .join("nodes")
                .join(&m.cluster_id),
            bind: m.address,
            port: g.port,
            maxmemory: node_types::maxmemory(&g.cache_node_type).unwrap_or(1 << 29),
            binary: binary.path.clone(),
            replica_of,
            default_user: rules::CUSTOMER_ACL_RULES.to_string(),
        })
    }

    fn standalone_spec(&self, s: &StandaloneCluster) -> Result<NodeSpec> {
        let binary = self
            .inner
            .settings
            .binary_for(&s.engine_version)
            .ok_or_else(|| {
                ControlError::Internal(format!("no binary for engine version {}", s.engine_version))
            })?;
        Ok(NodeSpec {
            name: s.member.cluster_id.clone(),
            dir: self
                .inner
                .settings
                .data_dir
                .join("nodes")
                .join(&s.member.cluster_id),
            bind: s.member.address,
            port: s.port,
            maxmemory: node_types::maxmemory(&s.cache_node_type).unwrap_or(1 << 29),
            binary: binary.path.clone(),
            replica_of: None,
            default_user: rules::CUSTOMER_ACL_RULES.to_string(),
        })
    }

    /// Runs until `shutdown` turns true, then waits for the steps in flight (no step starts a node after that).
    pub async fn run_reconciler(&self, mut shutdown: watch::Receiver<bool>) {
        let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
        let permits = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let keys: Vec<String> = {
                let st = self.state();
                st.groups
                    .keys()
                    .map(|k| format!("rg:{k}"))
                    .chain(st.standalone.keys().map(|k| format!("cc:{k}")))
                    .collect()
            };
            for key in keys {
                let fresh = in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone());
                if !fresh {
                    continue;
                }
                let this = self.clone();
                let in_flight = in_flight.clone();
                let permits = permits.clone();
                tasks.spawn(async move {
                    if let Ok(_permit) = permits.acquire().await {
                        this.reconcile(&key).await;
                    }
                    in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                });
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.inner
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        while tasks.join_next().await.is_some() {}
    }

    async fn reconcile(&self, key: &str) {
        let work = {
            let st = self.state();
            if let Some(id) = key.strip_prefix("rg:") {
                match st.groups.get(id) {
                    Some(g) if g.status == GroupStatus::Deleting => Work::Delete(g.clone()),
                    Some(g) if g.status == GroupStatus::CreateFailed => Work::Nothing,
                    Some(g) => Work::Converge(g.clone()),
                    None => Work::Nothing,
                }
            } else if let Some(id) = key.strip_prefix("cc:") {
                st.standalone
                    .get(id)
                    .cloned()
                    .map_or(Work::Nothing, Work::Standalone)
            } else {
                Work::Nothing
            }
        };
        let result = match work {
            Work::Converge(g) => {
                let creating = g.status == GroupStatus::Creating;
                let r = self.converge(&g).await;
                match (&r, creating) {
                    (Ok(()), true) => self.finish_create(&g.id),
                    (Err(e), true) => self.creation_failed(&g.id, e).await,
                    _ => r,
                }
            }
            Work::Delete(g) => self.delete_nodes(&g).await,
            Work::Standalone(s) => self.ensure_standalone(&s).await,
            Work::Nothing => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(target: "reconciler", %key, error = %e, "reconcile step failed; will retry");
        }
    }

    /// Makes sure the node of `m` runs: the known process, an adopted one from before a restart, or a new one
    /// started from the node's data. Returns true when it had to start one.
    async fn ensure_node(&self, spec: &NodeSpec) -> Result<bool> {
        if let Some(pid) = self.inner.observed.get(&spec.name).and_then(|o| o.pid) {
            if process::is_redis_alive(pid) {
                return Ok(false);
            }
        }
        if let Some(pid) = process::adopt(spec, &self.inner.admin).await {
            tracing::info!(node = %spec.name, pid, "adopted running node");
            self.inner
                .observed
                .update(&spec.name, |o| o.pid = Some(pid));
            return Ok(false);
        }
        if self
            .inner
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(ControlError::Internal(format!(
                "not starting {}: the daemon is stopping",
                spec.name
            )));
        }
        let pid = process::spawn(spec, &self.inner.admin).await?;
        tracing::info!(node = %spec.name, pid, addr = %spec.addr(), "started node");
        self.inner.observed.update(&spec.name, |o| {
            o.pid = Some(pid);
            o.role = None;
        });
        Ok(true)
    }

    /// Reads each node's role and corrects one that is not what the spec says. Returns the roles read.
    async fn observe_and_correct(&self, specs: &[NodeSpec]) -> Result<Vec<Role>> {
        let mut roles = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut c = AdminClient::connect(spec.addr(), &self.inner.admin).await?;
            let mut role = c.role().await?;
            let wrong = match (&role, spec.replica_of) {
                (Role::Replica { .. }, None) => true,
                (Role::Primary { .. }, Some(_)) => true,
                (Role::Replica { primary, .. }, Some(want)) => *primary != Some(want),
                (Role::Primary { .. }, None) => false,
            };
            if wrong {
                tracing::info!(node = %spec.name, ?role, want = ?spec.replica_of, "correcting role");
                c.replicaof(spec.replica_of).await?;
                role = c.role().await?;
            }
            self.inner
                .observed
                .update(&spec.name, |o| o.role = Some(role.clone()));
            roles.push(role);
        }
        Ok(roles)
    }

    /// Binds the group's endpoints if needed and points them at the current primary and replicas.
    async fn ensure_endpoints(&self, g: &ReplicationGroup) -> Result<()> {
        let primary: Vec<SocketAddr> = g
            .primary()
            .map(|p| SocketAddr::new(p.address, g.port))
            .into_iter()
            .collect();
        let replicas: Vec<SocketAddr> = g
            .members
            .iter()
            .filter(|m| m.cluster_id != g.primary_cluster_id)
            .map(|m| SocketAddr::new(m.address, g.port))
            .collect();
        let readers = if replicas.is_empty() {
            primary.clone()
        } else {
            replicas
        };
        let bound = self.lock_endpoints().contains_key(&g.id);
        if !bound {
            let p =
                StableEndpoint::bind(SocketAddr::new(g.primary_endpoint, g.port), primary.clone())
                    .await?;
            let r =
                StableEndpoint::bind(SocketAddr::new(g.reader_endpoint, g.port), readers.clone())
                    .await?;
            self.lock_endpoints().insert(
                g.id.clone(),
                GroupEndpoints {
                    primary: p,
                    reader: r,
                },
            );
        }
        if let Some(e) = self.lock_endpoints().get(&g.id) {
            e.primary.set_targets(primary);
            e.reader.set_targets(readers);
        }
        Ok(())
    }

    async fn converge(&self, g: &ReplicationGroup) -> Result<()> {
        let specs: Vec<NodeSpec> = g
            .members
            .iter()
            .map(|m| self.node_spec(g, m))
            .collect::<Result<_>>()?;
        // Start what is not running: the primary first, then every replica at once. A replica started before
        // its primary listens would wait for Redis's next replication cron tick (one second) to connect.
        let mut restarted = Vec::new();
        let mut first_err = None;
        let (primaries, replicas): (Vec<NodeSpec>, Vec<NodeSpec>) =
            specs.iter().cloned().partition(|s| s.replica_of.is_none());
        for wave in [primaries, replicas] {
            let mut set = tokio::task::JoinSet::new();
            for spec in wave {
                let this = self.clone();
                set.spawn(async move { (spec.name.clone(), this.ensure_node(&spec).await) });
            }
            while let Some(r) = set.join_next().await {
                match r {
                    Ok((name, Ok(true))) => restarted.push(name),
                    Ok((_, Ok(false))) => {}
                    Ok((_, Err(e))) => first_err = first_err.or(Some(e)),
                    Err(e) => {
                        first_err =
                            first_err.or(Some(ControlError::Internal(format!("node task: {e}"))))
                    }
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let creating = g.status == GroupStatus::Creating;
        if !creating && !restarted.is_empty() {
            let t = now();
            let events: Vec<NewEvent> = restarted
                .iter()
                .flat_map(|c| {
                    [
                        NewEvent::cluster(c, "Recovering cache nodes 0001"),
                        NewEvent::cluster(c, "Finished recovery for cache nodes 0001"),
                    ]
                })
                .collect();
            self.state().store.add_events(t, &events)?;
        }
        let due = {
            let mut read = self
                .inner
                .endpoints
                .roles_read
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let last = read.get(&g.id).copied();
            let due = creating
                || !restarted.is_empty()
                || last.is_none_or(|t| t.elapsed() >= ROLE_REFRESH);
            if due {
                read.insert(g.id.clone(), Instant::now());
            }
            due
        };
        if due {
            self.observe_and_correct(&specs).await?;
        }
        self.ensure_endpoints(g).await?;
        if creating {
            self.wait_for_links(&specs).await?;
        }
        Ok(())
    }

    /// Waits until every replica reports `master_link_status:up`.
    async fn wait_for_links(&self, specs: &[NodeSpec]) -> Result<()> {
        let deadline = Instant::now() + LINK_TIMEOUT;
        for spec in specs.iter().filter(|s| s.replica_of.is_some()) {
            let mut c = AdminClient::connect(spec.addr(), &self.inner.admin).await?;
            loop {
                let role = c.role().await?;
                let up = matches!(role, Role::Replica { link_up: true, .. });
                self.inner
                    .observed
                    .update(&spec.name, |o| o.role = Some(role));
                if up {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(ControlError::Internal(format!(
                        "replica {} did not sync within {LINK_TIMEOUT:?}",
                        spec.name
                    )));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        Ok(())
    }

    fn finish_create(&self, id: &str) -> Result<()> {
        let t = now();
        let mut st = self.state();
        let Some(mut g) = st.groups.get(id).cloned() else {
            return Ok(());
        };
        if g.status != GroupStatus::Creating {
            return Ok(());
        }
        g.status = GroupStatus::Available;
        g.create_attempts = 0;
        let mut events: Vec<NewEvent> = g
            .members
            .iter()
            .map(|m| {
                NewEvent::cluster(
                    &m.cluster_id,
                    format!(
                        "Added cache node 0001 in availability zone {}",
                        m.availability_zone
                    ),
                )
            })
            .collect();
        events.push(NewEvent::group(
            &g.id,
            format!("Replication group {} created", g.id),
        ));
        st.store.put_group(&g, t, &events)?;
        st.groups.insert(g.id.clone(), g);
        Ok(())
    }

    async fn creation_failed(&self, id: &str, err: &ControlError) -> Result<()> {
        tracing::warn!(group = %id, error = %err, "creation attempt failed");
        let t = now();
        let failed = {
            let mut st = self.state();
            let Some(mut g) = st.groups.get(id).cloned() else {
                return Ok(());
            };
            g.create_attempts += 1;
            let mut events = Vec::new();
            let failed = g.create_attempts >= MAX_CREATE_ATTEMPTS;
            if failed {
                g.status = GroupStatus::CreateFailed;
                events.push(NewEvent::group(
                    id,
                    format!("Failed to create replication group {id}: its nodes could not be started (the daemon log has the details)."),
                ));
            }
            st.store.put_group(&g, t, &events)?;
            st.groups.insert(id.to_string(), g.clone());
            failed.then_some(g)
        };
        if let Some(g) = failed {
            for m in &g.members {
                self.stop_member(&self.node_spec(&g, m)?).await;
            }
            self.lock_endpoints().remove(id);
        }
        Ok(())
    }

    async fn stop_member(&self, spec: &NodeSpec) {
        let pid = self
            .inner
            .observed
            .get(&spec.name)
            .and_then(|o| o.pid)
            .or_else(|| process::read_pid(spec));
        if let Some(pid) = pid {
            process::stop(pid, STOP_GRACE).await;
        }
        self.inner.observed.remove(&spec.name);
    }

    async fn delete_nodes(&self, g: &ReplicationGroup) -> Result<()> {
        let mut retained = None;
        for m in &g.members {
            let spec = self.node_spec(g, m)?;
            if g.retain_cluster_id.as_deref() == Some(m.cluster_id.as_str()) {
                retained = Some(StandaloneCluster {
                    member: m.clone(),
                    engine: g.engine.clone(),
                    engine_version: g.engine_version.clone(),
                    cache_node_type: g.cache_node_type.clone(),
                    port: g.port,
                    preferred_maintenance_window: g.preferred_maintenance_window.clone(),
                    security_group_ids: g.security_group_ids.clone(),
                    auto_minor_version_upgrade: g.auto_minor_version_upgrade,
                    cache_parameter_group: g.cache_parameter_group.clone(),
                    snapshot_window: g.snapshot_window.clone(),
                });
                continue;
            }
            self.stop_member(&spec).await;
            process::remove_dir(&spec.dir)?;
        }
        self.lock_endpoints().remove(&g.id);
        self.inner
            .endpoints
            .roles_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&g.id);
        let s = &self.inner.settings;
        let mut arns = vec![s.arn("replicationgroup", &g.id)];
        let mut events = Vec::new();
        for m in &g.members {
            if retained
                .as_ref()
                .is_some_and(|r| r.member.cluster_id == m.cluster_id)
            {
                continue;
            }
            arns.push(s.arn("cluster", &m.cluster_id));
            events.push(NewEvent::cluster(&m.cluster_id, "Cache cluster deleted"));
        }
        events.push(NewEvent::group(
            &g.id,
            format!("Replication group {} deleted", g.id),
        ));
        let mut st = self.state();
        st.store
            .remove_group(&g.id, &arns, retained.as_ref(), now(), &events)?;
        st.groups.remove(&g.id);
        if let Some(r) = retained {
            st.standalone.insert(r.member.cluster_id.clone(), r);
        }
        Ok(())
    }

    async fn ensure_standalone(&self, s: &StandaloneCluster) -> Result<()> {
        let spec = self.standalone_spec(s)?;
        let restarted = self.ensure_node(&spec).await?;
        if restarted {
            self.state().store.add_events(
                now(),
                &[NewEvent::cluster(
                    &s.member.cluster_id,
                    "Finished recovery for cache nodes 0001",
                )],
            )?;
        }
        let role_known = self
            .inner
            .observed
            .get(&spec.name)
            .is_some_and(|o| o.role.is_some());
        if restarted || !role_known {
            self.observe_and_correct(std::slice::from_ref(&spec))
                .await?;
        }
        Ok(())
    }

    /// Binds the stable endpoints of every live group before the API answers, so that a restarted daemon never
    /// reports `available` for a group whose endpoints are not listening. Returns the groups that failed.
    pub async fn restore_endpoints(&self) -> Vec<(String, ControlError)> {
        let groups: Vec<ReplicationGroup> = self
            .state()
            .groups
            .values()
            .filter(|g| matches!(g.status, GroupStatus::Available | GroupStatus::Modifying))
            .cloned()
            .collect();
        let mut failed = Vec::new();
        for g in groups {
            if let Err(e) = self.ensure_endpoints(&g).await {
                failed.push((g.id.clone(), e));
            }
        }
        failed
    }

    /// Stops a standalone cluster's node, removes its data and forgets it.
    pub(crate) async fn remove_standalone(&self, s: &StandaloneCluster) -> Result<()> {
        let spec = self.standalone_spec(s)?;
        self.stop_member(&spec).await;
        process::remove_dir(&spec.dir)?;
        let id = &s.member.cluster_id;
        let arn = self.inner.settings.arn("cluster", id);
        let mut st = self.state();
        st.store.remove_standalone(
            id,
            &arn,
            now(),
            &[NewEvent::cluster(id, "Cache cluster deleted")],
        )?;
        st.standalone.remove(id);
        Ok(())
    }

    /// Stops every node of this daemon (for `--stop-nodes-on-exit`). The store keeps the groups, so a later
    /// start brings them back from their data.
    pub async fn stop_all_nodes(&self) {
        let specs: Vec<NodeSpec> = {
            let st = self.state();
            let mut v: Vec<NodeSpec> = st
                .groups
                .values()
                .flat_map(|g| g.members.iter().filter_map(|m| self.node_spec(g, m).ok()))
                .collect();
            v.extend(
                st.standalone
                    .values()
                    .filter_map(|s| self.standalone_spec(s).ok()),
            );
            v
        };
        let mut set = tokio::task::JoinSet::new();
        for spec in specs {
            let this = self.clone();
            set.spawn(async move { this.stop_member(&spec).await });
        }
        while set.join_next().await.is_some() {}
        self.lock_endpoints().clear();
    }
}
