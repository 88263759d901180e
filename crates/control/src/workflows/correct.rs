//! Reading what each node reports and correcting what drifted from its spec: roles, addresses, TLS, ACL, settings.

use super::*;
use crate::model::NewEvent;
use crate::now;
use crate::workflows::host::{NodeData, Wait};
use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

impl Step {
    /// Reads each answering node's role and listening addresses and corrects what is not as the spec says:
    /// replicas first, so that a former primary gives up the primary endpoint address before the primary
    /// takes it.
    /// The roles of the nodes named in `hold` are left as they are (a switchover in progress is changing them).
    pub(crate) async fn observe_and_correct(
        &self,
        specs: &[NodeSpec],
        timeout: Duration,
        hold: &[String],
    ) -> Result<()> {
        let mut ordered: Vec<&NodeSpec> = specs.iter().filter(|s| s.replica_of.is_some()).collect();
        ordered.extend(specs.iter().filter(|s| s.replica_of.is_none()));
        let mut first_err = None;
        // TLS changes reach the primary first (and only here: `correct_node` does the replicas'): a replica whose link moves to (or off) TLS then finds its
        // primary already accepting that kind of connection (a TLS hello sent to a plaintext-only Redis would
        // hang the link until the replication timeout).
        for spec in specs.iter().filter(|s| s.replica_of.is_none()) {
            if !self.nodes().health(&spec.name).is_up() {
                continue;
            }
            let tls = async {
                let mut c =
                    AdminClient::connect_within(&spec.node_addr(), self.nodes().admin(), timeout)
                        .await?;
                if self.note_load(&mut c, spec).await? {
                    return Ok(());
                }
                self.correct_tls(&mut c, spec).await
            };
            if let Err(e) = tls.await {
                first_err = first_err.or(Some(e));
            }
        }
        for spec in ordered {
            if !self.nodes().health(&spec.name).is_up() {
                continue;
            }
            if let Err(e) = self
                .correct_node(spec, timeout, hold.contains(&spec.name))
                .await
            {
                first_err = first_err.or(Some(e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    pub(crate) async fn correct_node(
        &self,
        spec: &NodeSpec,
        timeout: Duration,
        hold_role: bool,
    ) -> Result<()> {
        let mut c =
            AdminClient::connect_within(&spec.node_addr(), self.nodes().admin(), timeout).await?;
        // A node loading its data is on its way: it is corrected once loaded (most commands wait until then).
        if self.note_load(&mut c, spec).await? {
            let role = c.role().await?;
            self.nodes().update(&spec.name, |o| o.role = Some(role));
            return Ok(());
        }
        if self.nodes().observed(&spec.name).is_some_and(|o| {
            o.data_wanted
                .is_some_and(|w| o.data.as_ref().is_none_or(|d| d.at < w))
        }) {
            // Taken before the node is asked: a reading newer than a request saw every write acknowledged before it.
            let at = Instant::now();
            let memory = c.info("memory").await?;
            let keyspace = c.info("keyspace").await?;
            let data = NodeData::read(at, &memory, &keyspace);
            self.nodes().update(&spec.name, |o| o.data = Some(data));
        }
        let binds = c.binds().await?;
        let want = spec.binds();
        if binds != want {
            tracing::info!(node = %spec.name, ?binds, ?want, "correcting listening addresses");
            c.set_binds(&want).await?;
            for gone in binds.iter().filter(|a| !want.contains(a)) {
                for port in client_ports(spec) {
                    c.kill_clients_on(SocketAddr::new(*gone, port)).await?;
                }
            }
        }
        // A primary's TLS was corrected first, by `observe_and_correct`.
        if spec.replica_of.is_some() {
            self.correct_tls(&mut c, spec).await?;
        }
        // The customer-facing ACL (AUTH tokens, users of a user group): applied again when the running process
        // has not been given this spec's yet (a change, or a daemon that restarted).
        let fingerprint = spec.acl_fingerprint();
        let pid = self.nodes().observed(&spec.name).and_then(|o| o.pid);
        let applied = self.nodes().observed(&spec.name).and_then(|o| o.acl);
        if pid.is_none()
            || applied.as_ref().map(|(p, f)| (Some(*p), f)) != Some((pid, &fingerprint))
        {
            c.apply_acl(
                &spec.default_user,
                &spec.users,
                &[self.nodes().admin().user.as_str()],
            )
            .await?;
            tracing::info!(node = %spec.name, users = spec.users.len(), "customer ACL applied");
            if let Some(pid) = pid {
                self.nodes()
                    .update(&spec.name, |o| o.acl = Some((pid, fingerprint)));
            }
        }
        // Nodes written by an older version ran in protected mode (see `engine::config::render`).
        if c.config_get("protected-mode").await?.as_deref() != Some("no") {
            c.config_set("protected-mode", "no").await?;
        }
        let announce = spec.announce.to_string();
        if c.config_get("replica-announce-ip").await?.as_deref() != Some(announce.as_str()) {
            c.config_set("replica-announce-ip", &announce).await?;
        }
        let user = if spec.follows_external {
            ""
        } else {
            self.nodes().admin().user.as_str()
        };
        if c.config_get("masteruser").await?.as_deref().unwrap_or("") != user {
            c.set_primary_auth((!spec.follows_external).then_some(self.nodes().admin()))
                .await?;
        }
        let maxmemory = spec.maxmemory.to_string();
        if c.config_get("maxmemory").await?.as_deref() != Some(maxmemory.as_str()) {
            tracing::info!(node = %spec.name, %maxmemory, "setting maxmemory");
            c.config_set("maxmemory", &maxmemory).await?;
        }
        self.correct_settings(&mut c, spec, pid).await?;
        let mut role = c.role().await?;
        let wrong = match (&role, spec.replica_of) {
            (Role::Replica { .. }, None) => true,
            (Role::Primary { .. }, Some(_)) => true,
            (Role::Replica { primary, .. }, Some(want)) => *primary != Some(want),
            (Role::Primary { .. }, None) => false,
        };
        if wrong && !hold_role {
            tracing::info!(node = %spec.name, ?role, want = ?spec.replica_of, "correcting role");
            if !c.follow(spec.replica_of, spec.cluster.is_some()).await? {
                tracing::debug!(node = %spec.name, "cluster role change waits for the cluster's news");
            }
            role = c.role().await?;
        }
        // A replica not linked to its primary is on its way (or its link is down for a moment): noted, so that
        // readers are not sent to it meanwhile; `check_links` follows how far its sync has got.
        let linked = !matches!(role, Role::Replica { link_up: false, .. });
        let now = Instant::now();
        self.nodes().update(&spec.name, |o| {
            o.role = Some(role.clone());
            if linked {
                o.sync = None;
            } else if o.sync.is_none() {
                o.sync = Some(Wait::next(
                    None,
                    now,
                    "waiting for the primary",
                    0,
                    0,
                    0,
                    None,
                ));
            }
        });
        Ok(())
    }

    /// Brings the node's settings to its parameter group: the live ones applied when the running process has not
    /// been given these values yet (a change, a new process, or a daemon that restarted); the ones taken at start
    /// compared, and the node marked `pending-reboot` while they differ. A value the node refuses is reported as
    /// an event once, not retried until the values change.
    async fn correct_settings(
        &self,
        c: &mut AdminClient,
        spec: &NodeSpec,
        pid: Option<u32>,
    ) -> Result<()> {
        let fingerprint = spec.settings_fingerprint();
        let applied = self.nodes().observed(&spec.name).and_then(|o| o.settings);
        if pid.is_none()
            || applied.as_ref().map(|(p, f)| (Some(*p), f)) != Some((pid, &fingerprint))
        {
            self.apply_settings(c, spec, pid).await?;
        }
        let pending = !c.differing(&spec.boot_settings).await?.is_empty();
        self.nodes()
            .update(&spec.name, |o| o.pending_reboot = pending);
        Ok(())
    }

    /// Applies the live settings of `spec` to the node behind `c` (process `pid`) and records them as applied; a
    /// value the engine refuses becomes an event.
    async fn apply_settings(
        &self,
        c: &mut AdminClient,
        spec: &NodeSpec,
        pid: Option<u32>,
    ) -> Result<()> {
        let refused = c.apply_settings(&spec.settings).await?;
        tracing::info!(node = %spec.name, settings = spec.settings.len(), refused = refused.len(), "parameter group applied");
        for (name, why) in &refused {
            tracing::warn!(node = %spec.name, %name, %why, "node refused a parameter");
            self.add_events(
                now(),
                &[NewEvent::cluster(
                    &spec.name,
                    format!(
                        "Parameter {name} could not be applied to cache cluster {}: the engine refused it ({why})",
                        spec.name
                    ),
                )],
            )?;
        }
        if let Some(pid) = pid {
            let fingerprint = spec.settings_fingerprint();
            self.nodes()
                .update(&spec.name, |o| o.settings = Some((pid, fingerprint)));
        }
        Ok(())
    }

    /// The live settings of a node just started (process `pid`).
    pub(crate) async fn apply_new_node_settings(&self, spec: &NodeSpec, pid: u32) -> Result<()> {
        let mut c = AdminClient::connect(&spec.node_addr(), self.nodes().admin()).await?;
        self.apply_settings(&mut c, spec, Some(pid)).await
    }

    /// Reads whether the node is loading its data, and records how far it has got. True while it loads.
    pub(crate) async fn note_load(&self, c: &mut AdminClient, spec: &NodeSpec) -> Result<bool> {
        let load = c.load_progress().await?;
        let now = Instant::now();
        self.nodes().update(&spec.name, |o| {
            o.load = load.map(|p| Wait::of_load(o.load.as_ref(), now, &p));
        });
        Ok(load.is_some())
    }

    /// Brings a node's TLS to its spec while it runs (`CONFIG SET`, no restart; clients on the ports that stay
    /// keep their connections): certificate files, TLS for the replication link, and the ports Redis listens
    /// on. In `preferred` mode the node's port is a [`Sniffer`]'s, which is closed here before Redis takes the
    /// port back and bound again by [`Self::ensure_endpoints`] after Redis has left it.
    pub(crate) async fn correct_tls(&self, c: &mut AdminClient, spec: &NodeSpec) -> Result<()> {
        let replication_now = c.config_get("tls-replication").await?;
        if replication_now.is_none() && spec.tls.is_none() {
            // An engine built without TLS: nothing to correct.
            return Ok(());
        }
        if let Some(tls) = &spec.tls {
            let cert = tls.files.cert.display().to_string();
            let loaded = c.config_get("tls-cert-file").await?;
            if let Some(host) = &spec.host {
                // A node of a host took the files its agent wrote when it started (in its own directory, named
                // there): TLS is not changed on a running node of a host.
                if loaded.as_deref().is_none_or(str::is_empty) {
                    return Err(crate::ControlError::Internal(format!(
                        "node {} on host {} serves no TLS certificate: it is restarted with one",
                        spec.name, host.name
                    )));
                }
            } else if loaded.as_deref() != Some(cert.as_str()) {
                tracing::info!(node = %spec.name, "loading TLS certificate");
                self.ensure_certificate(spec)?;
                c.config_set_many(&[
                    ("tls-cert-file", cert.as_str()),
                    ("tls-key-file", &tls.files.key.display().to_string()),
                    ("tls-ca-cert-file", &tls.files.ca.display().to_string()),
                    ("tls-auth-clients", "no"),
                ])
                .await?;
            }
        }
        let replication_tls = if spec.tls.is_some() && !spec.follows_external {
            "yes"
        } else {
            "no"
        };
        let relink = replication_now.as_deref() != Some(replication_tls);
        if relink {
            c.config_set("tls-replication", replication_tls).await?;
        }
        let (plain, tls_port) = spec.listen_ports();
        let have = c.listen_ports().await?;
        if have != (plain, tls_port) {
            tracing::info!(node = %spec.name, ?have, want = ?(plain, tls_port), "changing listening ports");
            if !matches!(spec.tls.as_ref().map(|t| t.mode), Some(TlsMode::Preferred)) {
                self.drop_sniffers(&spec.binds(), spec.port);
            }
            let drops_a_kind = (have.0 != 0 && plain == 0) || (have.1 != 0 && tls_port == 0);
            if drops_a_kind && have.0 != spec.port && have.1 != spec.port {
                // In `preferred` mode Redis does not listen on the node's port, so clients connected to it
                // directly came before `preferred`, of the kind the mode then was (plaintext, or TLS from
                // `required`). The kind cannot be told apart afterwards; when a kind stops being accepted they
                // all reconnect (before Redis listens there again, so no new client is caught).
                for addr in spec.binds() {
                    c.kill_clients_on(SocketAddr::new(addr, spec.port)).await?;
                }
            }
            c.set_listen_ports(plain, tls_port).await?;
            let preferred = spec
                .tls
                .as_ref()
                .is_some_and(|t| t.mode == TlsMode::Preferred);
            self.ensure_sniffers_on(&spec.binds(), spec.port, preferred)
                .await?;
            // Clients of a kind no longer accepted are disconnected, as ElastiCache drops plaintext clients once
            // TLS is required (and TLS clients once it is off); the others keep their connections even when
            // Redis now listens for their kind on another port.
            let dropped = [(have.0, plain), (have.1, tls_port)]
                .into_iter()
                .filter(|(old, new)| *old != 0 && *new == 0)
                .map(|(old, _)| old);
            for port in dropped {
                for addr in spec.binds() {
                    c.kill_clients_on(SocketAddr::new(addr, port)).await?;
                }
            }
        }
        if relink && spec.replica_of.is_some() {
            // The link to the primary is opened again, now with (or without) TLS.
            c.kill_primary_link().await?;
        }
        Ok(())
    }

    /// Writes the node's certificate when it has TLS (once: an existing one naming the same addresses is kept).
    /// Done where a node starts or first loads TLS, not each time a spec is computed.
    pub(crate) fn ensure_certificate(&self, spec: &NodeSpec) -> Result<()> {
        // A node of a host gets its certificate with its start (`HostNodes::spawn`), on its own machine.
        if let Some(t) = spec.tls.as_ref().filter(|_| spec.host.is_none()) {
            self.inner
                .tls
                .node_certificate_for(&spec.dir, &t.addresses, &t.names)?;
        }
        Ok(())
    }
}
