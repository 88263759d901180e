//! The control plane's state in memory — groups, standalone and Memcached clusters, users, snapshots, subnet groups —
//! with the store it is written through to, and what is read across all of it (addresses and ports in use, the node
//! quota, new member ids).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;

use chrono::{DateTime, Utc};

use crate::error::{ControlError, Result};
use crate::model::{self, ReplicationGroup, StandaloneCluster};
use crate::store::{Catchup, Changed, Store};

/// Most nodes one daemon runs (a guard against exhausting the machine, like AWS's per-customer node quota).
pub const MAX_NODES: usize = 300;

/// Groups and standalone clusters in memory, with the store they are written through to.
#[derive(Debug)]
pub struct State {
    pub store: Box<dyn Store>,
    pub groups: BTreeMap<String, ReplicationGroup>,
    pub standalone: BTreeMap<String, StandaloneCluster>,
    pub users: BTreeMap<String, model::User>,
    pub user_groups: BTreeMap<String, model::UserGroup>,
    pub snapshots: BTreeMap<String, model::Snapshot>,
    pub subnet_groups: BTreeMap<String, model::SubnetGroup>,
    pub memcached: BTreeMap<String, model::MemcachedCluster>,
    /// The hosts that joined (none on one machine).
    pub hosts: BTreeMap<String, model::Host>,
    /// What each host reported last, as the leader heard it (not stored; empty on a daemon that does not lead):
    /// its available memory and the nodes whose processes run there. New nodes go to the host with most room.
    pub host_memory: BTreeMap<String, (u64, Vec<String>)>,
    /// The point of the store's change log this state reflects; negative: the state must be loaded again (a
    /// commit's end failed, so memory may hold what the store does not).
    pub seen: i64,
}

/// Customers' cache parameter groups by name (kept apart from [`State`]; see `workflows::Core`).
pub type ParameterGroups = BTreeMap<String, model::ParameterGroup>;

fn keyed<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> BTreeMap<String, T> {
    items.into_iter().map(|i| (key(&i), i)).collect()
}

impl State {
    /// How many nodes run off hosts, in the leader's data directory: groups' members without a host, Memcached nodes
    /// and standalone clusters.
    pub fn nodes_off_hosts(&self) -> usize {
        let members = self
            .groups
            .values()
            .flat_map(|g| g.members().chain(&g.removing))
            .filter(|m| m.host.is_none())
            .count();
        let memcached: usize = self
            .memcached
            .values()
            .flat_map(|c| &c.nodes)
            .filter(|n| n.host.is_none())
            .count();
        members + memcached + self.standalone.len()
    }

    /// Whether daemons of several machines share the store, so that nodes off hosts are refused
    /// ([`crate::store::shared_files::Machines`]).
    pub fn on_several_machines(&self) -> Result<bool> {
        crate::store::shared_files::Machines::several(&*self.store)
    }

    /// Everything `store` holds.
    pub fn load(store: Box<dyn Store>) -> Result<(State, ParameterGroups)> {
        let mut st = State {
            store,
            groups: BTreeMap::new(),
            standalone: BTreeMap::new(),
            users: BTreeMap::new(),
            user_groups: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            subnet_groups: BTreeMap::new(),
            memcached: BTreeMap::new(),
            hosts: BTreeMap::new(),
            seen: -1,
            host_memory: BTreeMap::new(),
        };
        let mut pgs = ParameterGroups::new();
        st.reload(&mut pgs)?;
        Ok((st, pgs))
    }

    /// Loads every document again, as of the store's newest point (asked first: what lands while loading is
    /// caught up again next time).
    fn reload(&mut self, pgs: &mut ParameterGroups) -> Result<()> {
        self.seen = -1;
        let head = self.store.log_head()?;
        let s = &self.store;
        self.groups = keyed(s.load_groups()?, |g| g.id.clone());
        self.standalone = keyed(s.load_standalone()?, |c| c.member.cluster_id.clone());
        self.users = keyed(s.load_users()?, |u| u.id.clone());
        self.user_groups = keyed(s.load_user_groups()?, |g| g.id.clone());
        self.snapshots = keyed(s.load_snapshots()?, |x| x.name.clone());
        self.subnet_groups = keyed(s.load_subnet_groups()?, |g| g.name.clone());
        self.memcached = keyed(s.load_memcached()?, |c| c.id.clone());
        self.hosts = keyed(s.load_hosts()?, |h| h.name.clone());
        *pgs = keyed(s.load_parameter_groups()?, |g| g.name.clone());
        self.seen = head;
        Ok(())
    }

    /// Catches up with what other daemons committed to a shared store; what to wake. The parameter groups are
    /// locked only when something changed (reads take this path: alone on its store, nothing ever does).
    pub fn catch_up(&mut self, pgs: &std::sync::Mutex<ParameterGroups>) -> Result<Wakes> {
        let caught = self.store.catch_up(self.seen)?;
        if let Catchup::Changes { seen, changed } = &caught {
            if changed.is_empty() && self.seen >= 0 {
                self.seen = *seen;
                return Ok(Wakes::default());
            }
        }
        self.apply(caught, &mut pgs.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Begins a commit (serialised with other daemons' on a shared store) and catches up; what to wake. On an
    /// error no commit is open.
    pub fn begin_commit(&mut self, pgs: &mut ParameterGroups) -> Result<Wakes> {
        let caught = self.store.begin_commit(self.seen)?;
        self.apply(caught, pgs).inspect_err(|_| {
            let _ = self.store.end_commit(self.seen);
        })
    }

    /// Ends the commit begun last. Should the store keep nothing of it, memory may hold what the store does not:
    /// everything is loaded again (now, or at the next look if the store does not answer) and the error returned.
    pub fn end_commit(&mut self, pgs: &mut ParameterGroups) -> Result<()> {
        match self.store.end_commit(self.seen) {
            Ok(head) => {
                self.seen = head;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "a commit's end failed: loading the state again");
                if let Err(e) = self.reload(pgs) {
                    tracing::error!(error = %e, "the state could not be loaded again; the next look tries again");
                }
                Err(e)
            }
        }
    }

    /// Ends the commit begun last without keeping it (its closure panicked): memory may hold what the store does
    /// not, or lack what it does, so the state is loaded again at the next look.
    /// Ends the commit begun last without keeping it (refused after its closure changed memory), and loads the
    /// state again now (or at the next look, if the store does not answer).
    pub fn abort_and_reload(&mut self, pgs: &mut ParameterGroups) {
        self.abort_commit();
        if let Err(e) = self.reload(pgs) {
            tracing::error!(error = %e, "the state could not be loaded again; the next look tries again");
        }
    }

    pub fn abort_commit(&mut self) {
        self.store.abort_commit();
        self.seen = -1;
    }

    /// Applies what other daemons changed (or loads everything again when the state must be, or the store says
    /// so). What to wake: the reconciler for documents new or gone, a group's worker for its changes.
    fn apply(&mut self, caught: Catchup, pgs: &mut ParameterGroups) -> Result<Wakes> {
        let mut wakes = Wakes::default();
        if let Catchup::Changes { seen, changed } = &caught {
            if changed.is_empty() && self.seen >= 0 {
                self.seen = *seen;
                return Ok(wakes);
            }
        }
        let changed = match caught {
            _ if self.seen < 0 => {
                self.reload(pgs)?;
                wakes.all = true;
                return Ok(wakes);
            }
            Catchup::Reload { .. } => {
                self.reload(pgs)?;
                wakes.all = true;
                return Ok(wakes);
            }
            Catchup::Changes { seen, changed } => {
                self.seen = seen;
                changed
            }
        };
        fn put<T>(map: &mut BTreeMap<String, T>, id: String, doc: Option<Box<T>>) -> bool {
            match doc {
                Some(d) => map.insert(id, *d).is_none(),
                None => map.remove(&id).is_some(),
            }
        }
        for c in changed {
            let structural = match c {
                Changed::Group(id, doc) => {
                    wakes.groups.push((id.clone(), true));
                    put(&mut self.groups, id, doc)
                }
                Changed::Standalone(id, doc) => put(&mut self.standalone, id, doc),
                Changed::Memcached(id, doc) => {
                    put(&mut self.memcached, id, doc);
                    true
                }
                Changed::User(id, doc) => put(&mut self.users, id, doc),
                Changed::UserGroup(id, doc) => put(&mut self.user_groups, id, doc),
                Changed::Snapshot(id, doc) => put(&mut self.snapshots, id, doc),
                Changed::SubnetGroup(id, doc) => put(&mut self.subnet_groups, id, doc),
                Changed::Host(id, doc) => {
                    put(&mut self.hosts, id, doc);
                    true
                }
                Changed::ParameterGroup(id, doc) => put(pgs, id, doc),
            };
            wakes.all |= structural;
        }
        Ok(wakes)
    }

    /// A replication group by id, as the replication group actions see them: the vessel of a standalone cache
    /// cluster is not one.
    pub fn replication_group(&self, id: &str) -> Option<&ReplicationGroup> {
        self.groups
            .get(&id.to_ascii_lowercase())
            .filter(|g| !g.standalone)
    }

    /// The group `id` names (lower-cased), as one of `vessel` kind: a standalone cache cluster's vessel, or a
    /// replication group; AWS's not-found answer for the kind asked otherwise.
    pub fn group_of_kind(&self, id: &str, vessel: bool) -> Result<ReplicationGroup> {
        self.groups
            .get(&id.to_ascii_lowercase())
            .filter(|g| g.standalone == vessel)
            .cloned()
            .ok_or_else(|| {
                if vessel {
                    ControlError::CacheClusterNotFound(crate::rules::shown(id))
                } else {
                    ControlError::ReplicationGroupNotFound(crate::rules::shown(id))
                }
            })
    }

    /// Writes `g` with its events in one transaction, then keeps it in memory: the one way a mutation lands.
    pub fn save_group(
        &mut self,
        g: &ReplicationGroup,
        t: DateTime<Utc>,
        events: &[model::NewEvent],
    ) -> Result<()> {
        self.store.put_group(g, t, events)?;
        self.groups.insert(g.id.clone(), g.clone());
        Ok(())
    }
}

/// A change under way: the state, locked, and which workers to wake once the change has landed. Made by
/// [`crate::workflows::Step::commit`], the one way an action or a workflow changes what the control plane holds:
/// checks first, then the writes (each one store transaction together with its events, kept in memory as it
/// lands), then the wake-ups, after the lock is released.
pub struct Tx<'a> {
    state: MutexGuard<'a, State>,
    wakes: Wakes,
}

/// The workers a change wakes.
#[derive(Debug, Default)]
pub struct Wakes {
    /// The reconciler as a whole (new groups and clusters, removals).
    pub all: bool,
    /// These groups' workers, with roles and addresses re-read first where `refresh` says.
    pub groups: Vec<(String, bool)>,
}

impl<'a> Tx<'a> {
    pub fn new(state: MutexGuard<'a, State>) -> Self {
        Tx {
            state,
            wakes: Wakes::default(),
        }
    }

    /// Wakes the reconciler once the change has landed.
    pub fn wake(&mut self) {
        self.wakes.all = true;
    }

    /// Runs the next step of group `id`'s worker once the change has landed.
    pub fn poke(&mut self, id: &str) {
        self.wakes.groups.push((id.to_string(), false));
    }

    /// Runs the next step of group `id`'s worker once the change has landed, re-reading its nodes' roles first.
    pub fn refresh(&mut self, id: &str) {
        self.wakes.groups.push((id.to_string(), true));
    }

    /// Releases the lock; what to wake remains.
    pub fn finish(self) -> Wakes {
        self.wakes
    }
}

impl Deref for Tx<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

/// Every port handed out to dual-stack nodes and endpoints (they share `::1`).
pub fn taken_ports(st: &State) -> Vec<u16> {
    let mut v = Vec::new();
    for g in st.groups.values() {
        if let Some(d) = &g.dual_stack {
            v.extend([d.primary_port, d.reader_port]);
        }
        v.extend(g.members().chain(&g.removing).filter_map(|m| m.port));
    }
    v.extend(st.standalone.values().filter_map(|s| s.member.port));
    v
}

/// Refuses `more` nodes past [`MAX_NODES`] (the nodes of every group and standalone cluster, those still being
/// removed included).
pub fn check_node_quota(st: &State, more: usize) -> Result<()> {
    let in_use: usize = st
        .groups
        .values()
        .map(|g| g.members().count() + g.removing.len())
        .sum::<usize>()
        + st.standalone.len();
    if in_use + more > MAX_NODES {
        return Err(ControlError::NodeQuotaForCustomerExceeded(format!(
            "This Cacheplane runs at most {MAX_NODES} nodes; {in_use} are in use."
        )));
    }
    Ok(())
}

/// Every loopback address in use by this daemon's groups and clusters.
pub fn taken_addresses(st: &State) -> Vec<IpAddr> {
    let mut v = Vec::new();
    for g in st.groups.values() {
        v.push(g.primary_endpoint);
        v.push(g.reader_endpoint);
        v.extend(g.configuration_endpoint);
        v.extend(g.members().chain(&g.removing).map(|m| m.address));
    }
    v.extend(st.standalone.values().map(|s| s.member.address));
    for c in st.memcached.values() {
        v.push(c.config_address);
        v.extend(c.nodes.iter().map(|n| n.address));
    }
    v
}

/// A new member's id: `<rg>-<nnn>` with cluster mode disabled, `<rg>-<node group>-<nnn>` with it enabled; the
/// number after the highest in use (in the group, or in the node group), skipping standalone clusters' ids.
pub fn next_member_id(st: &State, g: &ReplicationGroup, shard: &str) -> String {
    let cme = g.cluster_mode == crate::model::ClusterMode::Enabled;
    let prefix = if cme {
        format!("{}-{shard}-", g.id)
    } else {
        format!("{}-", g.id)
    };
    let mut next = g
        .members()
        .chain(&g.removing)
        .filter_map(|m| m.cluster_id.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    loop {
        let id = format!("{prefix}{next:03}");
        if !st.standalone.contains_key(&id)
            && !st.groups.contains_key(&id)
            && !st.groups.values().any(|o| o.member(&id).is_some())
        {
            return id;
        }
        next += 1;
    }
}

impl State {
    /// Writes host `h`'s record.
    pub fn save_host(&mut self, h: crate::model::Host) -> Result<()> {
        self.store.put_host(&h)?;
        self.hosts.insert(h.name.clone(), h);
        Ok(())
    }
}

/// Where a new node of a group goes, in `zone`: on a host of that zone when hosts have joined and the group can run
/// on hosts (`on_hosts`), with an address of the host's range; otherwise on this machine, with a free loopback
/// address for `port`. `group_hosts` are the hosts the group's nodes run on already; `taken` every address in use
/// (the new one is added to it).
pub fn place_node(
    st: &State,
    zone: &str,
    group_hosts: &[&str],
    on_hosts: bool,
    port: u16,
    taken: &mut Vec<IpAddr>,
) -> Result<(IpAddr, Option<engine::spec::NodeHost>)> {
    if st.hosts.is_empty() || !on_hosts {
        let ip = engine::address::allocate(port, taken)?;
        taken.push(ip);
        return Ok((ip, None));
    }
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    // Room: what a host reported available, less the most the nodes placed there and not yet running may take.
    let mut room: BTreeMap<&str, u64> = st
        .host_memory
        .iter()
        .map(|(h, (available, _))| (h.as_str(), *available))
        .collect();
    // Every node placed on a host (a group's member, a Memcached node): its type's most.
    let placed = st
        .groups
        .values()
        .flat_map(|g| {
            g.members()
                .chain(&g.removing)
                .map(move |m| (m.host.as_ref(), m.cluster_id.clone(), &g.cache_node_type))
        })
        .chain(st.memcached.values().flat_map(|c| {
            c.nodes
                .iter()
                .map(move |n| (n.host.as_ref(), c.node_name(n), &c.cache_node_type))
        }));
    for (host, name, node_type) in placed {
        let Some(h) = host else { continue };
        let most = crate::rules::node_types::maxmemory(node_type).unwrap_or(0);
        *load.entry(h.name.as_str()).or_default() += 1;
        let running = st
            .host_memory
            .get(&h.name)
            .is_some_and(|(_, r)| r.contains(&name));
        if let (false, Some(r)) = (running, room.get_mut(h.name.as_str())) {
            *r = r.saturating_sub(most);
        }
    }
    let host =
        crate::rules::placement::choose_host(st.hosts.values(), zone, group_hosts, &load, &room)
            .ok_or_else(|| {
                ControlError::InsufficientCacheClusterCapacity(format!(
                    "No host in availability zone {zone} can take a node: hosts are in {}.",
                    host_zones(st).join(", ")
                ))
            })?;
    let ip = crate::rules::placement::host_address(host, taken).ok_or_else(|| {
        ControlError::InsufficientCacheClusterCapacity(format!(
            "Host {} in {zone} has no address left in its range {}.",
            host.name, host.addresses
        ))
    })?;
    taken.push(ip);
    Ok((
        ip,
        Some(engine::spec::NodeHost {
            name: host.name.clone(),
            url: host.url.clone(),
        }),
    ))
}

/// Where the replacement of a node of a lost host goes: its own zone first (AWS replaces a node in its zone), else
/// the zone with fewest of its group's nodes (`existing`), on a host other than those of its group's other nodes
/// (`others`); the zone and the placement, `None` when no host can take it yet.
pub fn place_replacement(
    st: &State,
    own_zone: &str,
    existing: &[&str],
    others: &[&str],
    port: u16,
    taken: &mut Vec<IpAddr>,
) -> Option<(String, (IpAddr, Option<engine::spec::NodeHost>))> {
    let zones = host_zones(st);
    let mut order = vec![own_zone.to_string()];
    order.extend(crate::rules::placement::spread_over(
        &zones,
        existing,
        zones.len(),
    ));
    order.iter().find_map(|z| {
        place_node(st, z, others, true, port, taken)
            .ok()
            .map(|p| (z.clone(), p))
    })
}

/// The zones hosts that report have joined in, each once, in order.
pub fn host_zones(st: &State) -> Vec<String> {
    let mut z: Vec<String> = st
        .hosts
        .values()
        .filter(|h| h.lost.is_none())
        .map(|h| h.zone.clone())
        .collect();
    z.sort();
    z.dedup();
    z
}
