//! Output shapes built from the spec and what the nodes report.

use std::net::{IpAddr, SocketAddr};

use engine::admin::Role;
use wire::output::{self, CacheNode, Endpoint, NodeGroup, NodeGroupMember};

use crate::model::{GroupStatus, Member, ReplicationGroup, StandaloneCluster};
use crate::Control;

pub(crate) fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint {
        address: addr.ip().to_string(),
        port: addr.port(),
    }
}

/// The names of `g`'s endpoints, when it is named.
pub(crate) fn names_of(
    g: &ReplicationGroup,
) -> Option<crate::rules::endpoint_names::EndpointNames> {
    g.dns_suffix
        .as_deref()
        .and_then(crate::rules::endpoint_names::EndpointNames::from_suffix)
}

/// What a DNS name asks for, answered from the state ([`Step::resolve_name`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Not a name of this deployment's zone (or the deployment has none): refused.
    NotInZone,
    /// In the zone, but no endpoint has this name.
    NoSuchName,
    /// The name's addresses (none for the zone itself, which has only its SOA).
    Addresses(Vec<IpAddr>),
}

impl crate::workflows::Step {
    /// The names of `g`'s endpoints, when it is named ([`ReplicationGroup::dns_suffix`]).
    pub(crate) fn names_for(
        &self,
        g: &ReplicationGroup,
    ) -> Option<crate::rules::endpoint_names::EndpointNames> {
        names_of(g)
    }

    /// What this deployment's names end with, when it has a zone: given to the groups it creates.
    pub(crate) fn names_suffix(&self) -> Option<String> {
        self.inner.names.as_ref().map(|n| n.suffix().to_string())
    }

    /// The zone this deployment's DNS names are under (`--dns-zone`).
    pub fn dns_zone(&self) -> Option<&str> {
        self.inner.names.as_ref().map(|n| n.zone())
    }

    /// What the DNS name `name` (any case, with or without its final dot) answers: a primary name the primary's
    /// address as the store records it (changed before a promoted node takes writes); a reader name the replicas
    /// (those the leader observed ready; elsewhere those recorded, not being added nor rebooted), else the
    /// primary; a configuration name the nodes that answer discovery; a node name its node.
    pub fn resolve_name(&self, name: &str) -> Resolution {
        use crate::rules::endpoint_names::Named;
        let Some(names) = &self.inner.names else {
            return Resolution::NotInZone;
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if !names.in_zone(&name) {
            return Resolution::NotInZone;
        }
        if name == names.zone() {
            return Resolution::Addresses(vec![]);
        }
        let Some(named) = names.parse(&name) else {
            // A name above the endpoints' (`<group>.<id>.…`, `<id>.…`, `cache.<zone>`) exists, with no address:
            // resolvers that ask for each label in turn must not be told it does not.
            let above = names.suffix() == name
                || names.suffix().ends_with(&format!(".{name}"))
                || name
                    .strip_suffix(names.suffix())
                    .and_then(|g| g.strip_suffix('.'))
                    .is_some_and(|g| {
                        !g.contains('.') && self.recent_state().replication_group(g).is_some()
                    });
            return if above {
                Resolution::Addresses(vec![])
            } else {
                Resolution::NoSuchName
            };
        };
        let group = match &named {
            Named::Primary(g) | Named::Reader(g) | Named::Configuration(g) => *g,
            Named::Node { group, .. } => *group,
        };
        let st = self.recent_state();
        let Some(g) = st.replication_group(group).filter(|g| {
            g.dns_suffix.as_deref() == Some(names.suffix()) && g.status != GroupStatus::Deleting
        }) else {
            return Resolution::NoSuchName;
        };
        let observed = self
            .leads()
            .then(|| self.lock_named().get(&g.id).cloned())
            .flatten();
        let shard = g.first_shard();
        let primary: Vec<IpAddr> = shard.primary().map(|p| p.address).into_iter().collect();
        let addresses = match named {
            Named::Primary(_) if g.cluster_mode.has_primary_endpoint() => primary,
            Named::Reader(_) if g.cluster_mode.has_primary_endpoint() => {
                let readers = match observed {
                    Some(o) => o.readers,
                    None => shard
                        .replicas()
                        .filter(|m| {
                            !m.rebooting
                                && !g.runs_cluster(m)
                                && !shard.adding.contains(&m.cluster_id)
                        })
                        .map(|m| m.address)
                        .collect(),
                };
                if readers.is_empty() {
                    primary
                } else {
                    readers
                }
            }
            Named::Configuration(_)
                if g.configuration_endpoint.is_some() && g.serves_configuration_endpoint() =>
            {
                match observed.filter(|o| !o.configuration.is_empty()) {
                    Some(o) => o.configuration,
                    None => g
                        .members()
                        .filter(|m| !m.rebooting)
                        .map(|m| m.address)
                        .collect(),
                }
            }
            Named::Node { node, .. } => match g.members().find(|m| m.cluster_id == node) {
                Some(m) => vec![m.address],
                None => return Resolution::NoSuchName,
            },
            _ => return Resolution::NoSuchName,
        };
        Resolution::Addresses(addresses)
    }

    /// An endpoint of `g` as reported: its DNS name (`name` of the deployment's names) when `g` is named, else
    /// `addr`.
    pub(crate) fn endpoint_of(
        &self,
        g: &ReplicationGroup,
        name: impl FnOnce(&crate::rules::endpoint_names::EndpointNames) -> String,
        addr: SocketAddr,
    ) -> Endpoint {
        match self.names_for(g) {
            Some(names) => Endpoint {
                address: name(&names),
                port: addr.port(),
            },
            None => endpoint(addr),
        }
    }
}

fn member_status(g: GroupStatus) -> &'static str {
    match g {
        GroupStatus::Creating => "creating",
        GroupStatus::Available => "available",
        GroupStatus::Modifying => "modifying",
        GroupStatus::Deleting => "deleting",
        GroupStatus::CreateFailed => "create-failed",
        // AWS has no `migrating` for clusters and node groups: their nodes are up and serve reads.
        GroupStatus::Migrating => "available",
        GroupStatus::Snapshotting => "snapshotting",
    }
}

impl Control {
    /// The role a node reports, as `CurrentRole` says it; `None` while not observed. A daemon that does not lead
    /// observes no node: it says the role the group's record gives, once the group's nodes run.
    fn current_role(
        &self,
        g: &ReplicationGroup,
        shard: &crate::model::Shard,
        cluster_id: &str,
    ) -> Option<String> {
        if !self.leads() {
            let running = !matches!(g.status, GroupStatus::Creating | GroupStatus::CreateFailed);
            return running.then(|| {
                if shard.primary_cluster_id == cluster_id {
                    "primary".into()
                } else {
                    "replica".into()
                }
            });
        }
        match self.inner.observed.get(cluster_id)?.role? {
            Role::Primary { .. } => Some("primary".into()),
            Role::Replica { .. } => Some("replica".into()),
        }
    }

    pub(crate) fn view_group(&self, g: &ReplicationGroup) -> output::ReplicationGroup {
        let s = &self.inner.settings;
        let v6 = g.ipv6_discovery();
        // With cluster mode enabled node groups have no primary or reader endpoint, and members no read endpoint
        // and no role: clients learn the topology from the cluster itself (AWS's shapes).
        let cmd = g.cluster_mode.has_primary_endpoint();
        let node_groups = g
            .shards
            .iter()
            .map(|shard| NodeGroup {
                node_group_id: shard.id.clone(),
                status: member_status(g.status).into(),
                primary_endpoint: cmd
                    .then(|| self.endpoint_of(g, |n| n.primary(&g.id), g.primary_endpoint_addr())),
                reader_endpoint: cmd
                    .then(|| self.endpoint_of(g, |n| n.reader(&g.id), g.reader_endpoint_addr())),
                slots: (g.cluster_mode.runs_cluster() && !shard.slots.is_empty())
                    .then(|| shard.slots_text()),
                members: shard
                    .members
                    .iter()
                    .map(|m| NodeGroupMember {
                        cache_cluster_id: m.cluster_id.clone(),
                        cache_node_id: "0001".into(),
                        read_endpoint: cmd.then(|| {
                            self.endpoint_of(g, |n| n.node(&g.id, &m.cluster_id), g.addr_of(m, v6))
                        }),
                        preferred_availability_zone: Some(m.availability_zone.clone()),
                        // A migration target's primary replicates from the source, yet is the group's primary.
                        current_role: if !cmd {
                            None
                        } else if m.cluster_id == shard.primary_cluster_id
                            && g.migration
                                .as_ref()
                                .is_some_and(|x| x.following().is_some())
                        {
                            Some("primary".into())
                        } else {
                            self.current_role(g, shard, &m.cluster_id)
                        },
                    })
                    .collect(),
            })
            .collect();
        let (log_delivery, pending_log_delivery) =
            crate::rules::log_delivery::views(&g.log_delivery);
        output::ReplicationGroup {
            replication_group_id: g.id.clone(),
            description: g.description.clone(),
            status: g.status.as_str().into(),
            log_delivery,
            pending: output::ReplicationGroupPending {
                log_delivery: pending_log_delivery,
                primary_cluster_id: g.shards.iter().find_map(|s| s.switchover_to.clone()),
                automatic_failover_status: g.failover_transition.as_ref().map(|_| {
                    if g.automatic_failover {
                        "enabled"
                    } else {
                        "disabled"
                    }
                    .to_string()
                }),
                auth_token_status: g.auth.as_ref().and_then(|a| a.status.clone()),
                resharding_progress: g.resharding.as_ref().map(|r| r.progress()),
                cluster_mode: g.converting_to.map(|m| m.as_str().to_string()),
                transit_encryption_enabled: g.pending_transit.as_ref().map(|t| t.0),
                transit_encryption_mode: g.pending_transit.as_ref().and_then(|t| t.1.clone()),
                user_groups: g.pending_user_groups.clone(),
            },
            member_clusters: g.members().map(|m| m.cluster_id.clone()).collect(),
            node_groups,
            // AWS reports the member automatic snapshots are read from once retention is on (a replica, or the one
            // node); with cluster mode enabled each node group's is read from its own replica, so none is named.
            snapshotting_cluster_id: g.snapshotting_cluster_id.clone().or_else(|| {
                (g.snapshot_retention_limit > 0 && !g.cluster_mode.runs_cluster())
                    .then(|| crate::rules::snapshots::snapshot_source(g))
            }),
            automatic_failover: match (&g.failover_transition, g.automatic_failover) {
                (Some(t), _) => t.clone(),
                (None, true) => "enabled".into(),
                (None, false) => "disabled".into(),
            },
            multi_az: if g.multi_az { "enabled" } else { "disabled" }.into(),
            snapshot_retention_limit: g.snapshot_retention_limit,
            snapshot_window: Some(g.snapshot_window.clone()),
            configuration_endpoint: g
                .configuration_endpoint
                .filter(|_| g.serves_configuration_endpoint())
                .map(|ip| {
                    self.endpoint_of(g, |n| n.configuration(&g.id), SocketAddr::new(ip, g.port))
                }),
            cluster_enabled: g.cluster_mode.runs_cluster(),
            cache_node_type: g.cache_node_type.clone(),
            auth_token_enabled: auth_enabled(g.auth.as_ref()),
            auth_token_last_modified_date: g.auth.as_ref().and_then(|a| a.last_modified),
            transit_encryption_enabled: g.transit_encryption.is_some(),
            transit_encryption_mode: g.transit_encryption.map(|m| m.as_str().to_string()),
            at_rest_encryption_enabled: false,
            arn: s.arn("replicationgroup", &g.id),
            user_group_ids: g.user_group_ids.clone(),
            create_time: g.create_time,
            data_tiering: "disabled".into(),
            auto_minor_version_upgrade: g.auto_minor_version_upgrade,
            network_type: g.network_type().into(),
            ip_discovery: g.ip_discovery().into(),
            cluster_mode: g.cluster_mode.as_str().into(),
            engine: g.engine.clone(),
        }
    }

    /// How far the node of member `m` has taken its parameter group: `in-sync`, `applying` (live settings not
    /// yet set on the running node) or `pending-reboot` (settings taken at start differ from what it runs with).
    pub(crate) fn parameter_status(
        &self,
        group: &str,
        (engine, version): (&str, &str),
        m: &Member,
    ) -> &'static str {
        let Some(o) = self.inner.observed.get(&m.cluster_id) else {
            return "in-sync";
        };
        if o.pending_reboot {
            return "pending-reboot";
        }
        let Some(pid) = o.pid else {
            return "in-sync";
        };
        let params = self.node_params(group, engine, version);
        let want = engine::config::settings_fingerprint(&params.live);
        if o.settings.as_ref() == Some(&(pid, want)) {
            "in-sync"
        } else {
            "applying"
        }
    }

    fn node_view(
        &self,
        m: &Member,
        at: Endpoint,
        status: &str,
        parameter_status: &str,
    ) -> CacheNode {
        CacheNode {
            cache_node_id: "0001".into(),
            status: status.into(),
            create_time: Some(m.create_time),
            endpoint: Some(at),
            parameter_group_status: parameter_status.into(),
            customer_availability_zone: Some(m.availability_zone.clone()),
        }
    }

    pub(crate) fn view_member(
        &self,
        g: &ReplicationGroup,
        m: &Member,
        show_nodes: bool,
    ) -> output::CacheCluster {
        let (status, node_status) = if m.rebooting || self.still_rebooting(&m.cluster_id) {
            ("rebooting cluster nodes", "rebooting")
        } else {
            (member_status(g.status), member_status(g.status))
        };
        let parameter_status = self.parameter_status(&g.cache_parameter_group, g.release_of(m), m);
        output::CacheCluster {
            cache_cluster_id: m.cluster_id.clone(),
            cache_node_type: g.cache_node_type.clone(),
            engine: g.release_of(m).0.to_string(),
            engine_version: g.release_of(m).1.to_string(),
            status: status.into(),
            num_cache_nodes: 1,
            preferred_availability_zone: Some(m.availability_zone.clone()),
            create_time: Some(m.create_time),
            preferred_maintenance_window: g.preferred_maintenance_window.clone(),
            pending_engine_version: g.pending.engine_version.clone(),
            pending_cache_node_type: g.pending.cache_node_type.clone(),
            notification: g
                .notification
                .as_ref()
                .map(|n| (n.topic_arn.clone(), n.status().to_string())),
            cache_parameter_group_name: g.cache_parameter_group.clone(),
            parameter_apply_status: parameter_status.into(),
            cache_node_ids_to_reboot: if parameter_status == "pending-reboot" {
                vec!["0001".into()]
            } else {
                vec![]
            },
            cache_subnet_group_name: Some(g.cache_subnet_group.clone()),
            cache_nodes: show_nodes.then(|| {
                vec![self.node_view(
                    m,
                    self.endpoint_of(
                        g,
                        |n| n.node(&g.id, &m.cluster_id),
                        g.addr_of(m, g.ipv6_discovery()),
                    ),
                    node_status,
                    parameter_status,
                )]
            }),
            auto_minor_version_upgrade: g.auto_minor_version_upgrade,
            security_group_ids: g.security_group_ids.clone(),
            replication_group_id: (!g.standalone).then(|| g.id.clone()),
            snapshot_retention_limit: g.snapshot_retention_limit,
            snapshot_window: Some(g.snapshot_window.clone()),
            auth_token_enabled: auth_enabled(g.auth.as_ref()),
            transit_encryption_enabled: g.transit_encryption.is_some(),
            transit_encryption_mode: g.transit_encryption.map(|m| m.as_str().to_string()),
            at_rest_encryption_enabled: false,
            arn: self.inner.settings.arn("cluster", &m.cluster_id),
            network_type: g.network_type().into(),
            ip_discovery: g.ip_discovery().into(),
            ..Default::default()
        }
    }

    pub(crate) fn view_standalone(
        &self,
        s: &StandaloneCluster,
        show_nodes: bool,
    ) -> output::CacheCluster {
        let (status, node_status) = if s.deleting {
            ("deleting", "deleting")
        } else if s.member.rebooting {
            ("rebooting cluster nodes", "rebooting")
        } else {
            ("available", "available")
        };
        output::CacheCluster {
            cache_cluster_id: s.member.cluster_id.clone(),
            cache_node_type: s.cache_node_type.clone(),
            engine: s.engine.clone(),
            engine_version: s.engine_version.clone(),
            status: status.into(),
            num_cache_nodes: 1,
            preferred_availability_zone: Some(s.member.availability_zone.clone()),
            create_time: Some(s.member.create_time),
            preferred_maintenance_window: s.preferred_maintenance_window.clone(),
            pending_engine_version: None,
            pending_cache_node_type: None,
            notification: None,
            cache_parameter_group_name: s.cache_parameter_group.clone(),
            cache_subnet_group_name: Some(s.cache_subnet_group.clone()),
            cache_nodes: show_nodes.then(|| {
                let ip = if s.member.ipv6 {
                    engine::address::IPV6_LOOPBACK
                } else {
                    s.member.address
                };
                vec![self.node_view(
                    &s.member,
                    endpoint(SocketAddr::new(ip, s.port)),
                    node_status,
                    "in-sync",
                )]
            }),
            auto_minor_version_upgrade: s.auto_minor_version_upgrade,
            security_group_ids: s.security_group_ids.clone(),
            replication_group_id: None,
            snapshot_retention_limit: 0,
            snapshot_window: Some(s.snapshot_window.clone()),
            auth_token_enabled: auth_enabled(s.auth.as_ref()),
            transit_encryption_enabled: s.transit_encryption.is_some(),
            transit_encryption_mode: s.transit_encryption.map(|m| m.as_str().to_string()),
            at_rest_encryption_enabled: false,
            arn: self.inner.settings.arn("cluster", &s.member.cluster_id),
            network_type: if s.member.port.is_some() {
                "dual_stack"
            } else {
                "ipv4"
            }
            .into(),
            ip_discovery: if s.member.ipv6 { "ipv6" } else { "ipv4" }.into(),
            ..Default::default()
        }
    }
}

/// `AuthTokenEnabled`: a token has been applied (a first `ROTATE` counts once it reached the nodes).
fn auth_enabled(a: Option<&crate::model::AuthTokens>) -> bool {
    a.is_some_and(|a| !a.hashes.is_empty() && a.last_modified.is_some())
}
