//! The ends of a group's operations: creation finished or failed, a modification finished, members removed, a group deleted; standalone clusters.

use super::*;
use crate::model::GroupStatus;
use crate::model::NewEvent;
use crate::model::ReplicationGroup;
use crate::model::StandaloneCluster;
use crate::now;
use crate::workflows::MAX_CREATE_ATTEMPTS;
use crate::ControlError;

impl Step {
    pub(crate) fn finish_create(&self, id: &str) -> Result<()> {
        let t = now();
        self.commit(|st| {
            let Some(mut g) = st.groups.get(id).cloned() else {
                return Ok(());
            };
            if g.status != GroupStatus::Creating {
                return Ok(());
            }
            g.status = GroupStatus::Available;
            g.create_attempts = 0;
            let restored = g.restore_from.take();
            let mut events: Vec<NewEvent> = g.members().map(NewEvent::node_added).collect();
            if let Some(name) = restored {
                events.push(NewEvent::group(
                    &g.id,
                    format!("Restored replication group {} from snapshot {name}", g.id),
                ));
            }
            events.push(NewEvent::group(
                &g.id,
                format!("Replication group {} created", g.id),
            ));
            st.store.put_group(&g, t, &events)?;
            st.groups.insert(g.id.clone(), g);
            Ok(())
        })
    }

    pub(crate) async fn creation_failed(&self, id: &str, err: &ControlError) -> Result<()> {
        tracing::warn!(group = %id, error = %err, "creation attempt failed");
        let t = now();
        let failed = self.commit(|st| {
            let Some(mut g) = st.groups.get(id).cloned() else {
                return Ok(None);
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
            Ok(failed.then_some(g))
        })?;
        if let Some(g) = failed {
            for m in g.members() {
                self.stop_member(&self.node_spec(&g, m)?, Stop::Discard)
                    .await;
                self.drop_sniffers(&[m.address], g.port);
            }
            self.drop_sniffers(&[g.primary_endpoint], g.port);
            self.drop_endpoints(id);
        }
        Ok(())
    }

    /// A `modifying` group whose work is done becomes `available`.
    pub(crate) fn finish_modify(&self, id: &str) -> Result<()> {
        let synced = |c: &String| {
            matches!(
                self.nodes().observed(c).and_then(|o| o.role),
                Some(Role::Replica { link_up: true, .. })
            )
        };
        self.update_group(id, |g| {
            if g.status != GroupStatus::Modifying
                || !g.removing.is_empty()
                || g.shards.iter().any(|s| s.switchover_to.is_some())
                || g.upgrading_to.is_some()
                || g.resharding.as_ref().is_some_and(|r| !r.finished)
                || g.converting_to.is_some()
                || !g.adding().all(synced)
                || g.migration.as_ref().is_some_and(|m| m.is_running())
                || g.dual_stack
                    .as_ref()
                    .is_some_and(|d| g.members().any(|m| m.ipv6 != d.ipv6_discovery))
            {
                return vec![];
            }
            g.failover_transition = None;
            g.resharding = None;
            g.pending_transit = None;
            g.pending_user_groups = None;
            if let Some(a) = g.auth.as_mut().filter(|a| a.status.is_some()) {
                a.status = None;
                a.last_modified = Some(now());
            }
            let mut events: Vec<NewEvent> = g
                .adding()
                .filter_map(|c| g.member(c))
                .map(NewEvent::node_added)
                .collect();
            for s in g.shards.iter_mut() {
                s.adding.clear();
            }
            g.status = GroupStatus::Available;
            events.push(NewEvent::group(
                &g.id,
                format!("Replication group {} modified", g.id),
            ));
            events
        })
    }

    /// Stops the nodes of members `DecreaseReplicaCount` removed and forgets them.
    pub(crate) async fn remove_members(&self, g: &ReplicationGroup) -> Result<()> {
        for m in &g.removing {
            let spec = self.node_spec(g, m)?;
            self.stop_member(&spec, Stop::Discard).await;
            self.nodes().remove_dir(&spec).await?;
        }
        let arns: Vec<String> = g
            .removing
            .iter()
            .map(|m| self.inner.settings.arn("cluster", &m.cluster_id))
            .collect();
        let removed: Vec<String> = g.removing.iter().map(|m| m.cluster_id.clone()).collect();
        self.commit(|st| st.store.remove_tags_of(&arns))?;
        self.update_group(&g.id, |g| {
            g.removing.clear();
            removed
                .iter()
                .map(|c| NewEvent::cluster(c, "Cache cluster deleted"))
                .collect()
        })?;
        self.ensure_endpoints(g).await?;
        self.poke_group(&g.id);
        Ok(())
    }

    pub(crate) async fn delete_nodes(&self, g: &ReplicationGroup) -> Result<()> {
        if let Some(name) = &g.final_snapshot {
            self.final_snapshot_step(g, name).await?;
        }
        let mut retained = None;
        for m in g.members() {
            let spec = self.node_spec(g, m)?;
            if g.retain_cluster_id.as_deref() == Some(m.cluster_id.as_str()) {
                retained = Some(crate::rules::layout::vessel_of(g, m));
                continue;
            }
            self.stop_member(&spec, Stop::Discard).await;
            self.drop_sniffers(&[m.address], g.port);
            self.nodes().remove_dir(&spec).await?;
        }
        self.drop_sniffers(&[g.primary_endpoint], g.port);
        self.drop_endpoints(&g.id);
        self.drop_automatic_snapshots(&g.id)?;
        self.inner
            .endpoints
            .roles_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&g.id);
        let s = &self.inner.settings;
        let mut arns = vec![s.arn("replicationgroup", &g.id)];
        let mut events = Vec::new();
        for m in g.members() {
            if retained.as_ref().is_some_and(|r| r.id == m.cluster_id) {
                continue;
            }
            arns.push(s.arn("cluster", &m.cluster_id));
            events.push(NewEvent::cluster(&m.cluster_id, "Cache cluster deleted"));
        }
        // A standalone cluster's vessel is no replication group: its deletion is its node's.
        if !g.standalone {
            events.push(NewEvent::group(
                &g.id,
                format!("Replication group {} deleted", g.id),
            ));
        }
        self.commit(|st| {
            st.store
                .remove_group(&g.id, &arns, retained.as_ref(), now(), &events)?;
            st.groups.remove(&g.id);
            if let Some(r) = retained {
                st.groups.insert(r.id.clone(), r);
            }
            Ok(())
        })
    }

    pub(crate) async fn ensure_standalone(&self, s: &StandaloneCluster) -> Result<()> {
        if s.deleting {
            return self.remove_standalone(s).await;
        }
        let spec = self.standalone_spec(s)?;
        if s.member.rebooting {
            self.stop_member(&spec, Stop::Graceful).await;
        }
        let poke = self.poke_of(&format!("cc:{}", s.member.cluster_id));
        let restarted = self.ensure_node(&spec, &poke).await?;
        if s.member.rebooting {
            let id = s.member.cluster_id.clone();
            self.commit(|st| {
                if let Some(mut cur) = st.standalone.get(&id).cloned() {
                    cur.member.rebooting = false;
                    st.store.put_standalone(
                        &cur,
                        now(),
                        &[NewEvent::cluster(&id, "Cache node 0001 restarted")],
                    )?;
                    st.standalone.insert(id, cur);
                }
                Ok(())
            })?;
        } else if restarted {
            self.add_events(
                now(),
                &[NewEvent::cluster(
                    &s.member.cluster_id,
                    "Finished recovery for cache nodes 0001",
                )],
            )?;
        }
        let role_known = self
            .nodes()
            .observed(&spec.name)
            .is_some_and(|o| o.role.is_some());
        if restarted || !role_known {
            self.observe_and_correct(std::slice::from_ref(&spec), STEP_COMMAND_TIMEOUT, &[])
                .await?;
        }
        let preferred = s.transit_encryption == Some(crate::model::TransitMode::Preferred);
        self.ensure_sniffers_on(&[s.member.address], s.port, preferred)
            .await
    }

    /// Stops a standalone cluster's node, removes its data and forgets it.
    pub(crate) async fn remove_standalone(&self, s: &StandaloneCluster) -> Result<()> {
        let spec = self.standalone_spec(s)?;
        self.stop_member(&spec, Stop::Discard).await;
        self.nodes().remove_dir(&spec).await?;
        let id = &s.member.cluster_id;
        let arn = self.inner.settings.arn("cluster", id);
        self.commit(|st| {
            st.store.remove_standalone(
                id,
                &arn,
                now(),
                &[NewEvent::cluster(id, "Cache cluster deleted")],
            )?;
            st.standalone.remove(id);
            Ok(())
        })
    }
}
