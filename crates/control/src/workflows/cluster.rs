//! Cluster mode: a group's nodes form one Redis Cluster. Every node knows every other (`CLUSTER MEET`), each shard's
//! primary serves the shard's slots, and each replica replicates its shard's primary (`CLUSTER REPLICATE`).
//!
//! [`plan`] compares what each node knows (`CLUSTER NODES`) with the spec and says what to tell whom (a pure
//! function); [`Control::cluster_step`] reads the nodes, carries the plan out, and looks again until every node
//! knows the whole cluster or the look's time is up.

use crate::model::GroupStatus;
use crate::model::Member;
use crate::model::ReplicationGroup;
use crate::ControlError;
use std::collections::HashMap;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

use engine::cluster::ClusterNode;

use super::*;

/// How long one formation step waits for handshakes and gossip before it ends (the next step looks again).
const FORMATION_LOOK: Duration = Duration::from_secs(1);

/// A member as the cluster plan sees it.
#[derive(Debug, Clone)]
pub(crate) struct PlanMember {
    pub name: String,
    pub addr: SocketAddr,
    /// The member it should replicate (its shard's primary), `None` for a primary.
    pub follows: Option<String>,
}

/// A shard as the cluster plan sees it.
#[derive(Debug, Clone)]
pub(crate) struct PlanShard {
    pub primary: String,
    pub slots: Vec<(u16, u16)>,
}

/// One thing to tell a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClusterWork {
    /// Serve these unserved slots yourself (`ADDSLOTSRANGE`).
    Add(Vec<(u16, u16)>),
    /// These slots are served by this node id (`SETSLOT NODE`): slots a node takes over from an identity that is
    /// gone, or a view that lags behind the owner's own.
    Owner(Vec<(u16, u16)>, String),
    /// `CLUSTER FORGET` an identity no member has any more, or a node that is no member.
    Forget(String),
    /// `CLUSTER MEET` a member not heard of.
    Meet(SocketAddr),
    /// Replicate your shard's primary now (it is known).
    Follow,
}

/// What to tell each node, by member name, in order (slots first: a node meeting another then learns the slots it
/// serves in the same handshake).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ClusterPlan {
    pub work: Vec<(String, ClusterWork)>,
    /// Every member answered, knows every other member by its current identity and sees every shard's slots served
    /// by its primary.
    pub formed: bool,
    /// The members whose own view is whole in that sense.
    pub whole: Vec<String>,
    /// The members whose slot map is right (every shard's slots served by its primary, which they know): what a
    /// cluster client gets from them is right, though it may not list every replica yet.
    pub map_right: Vec<String>,
}

fn ranges_of<'a>(
    view: &'a [ClusterNode],
    pick: impl Fn(&ClusterNode) -> bool + 'a,
) -> Vec<(u16, u16)> {
    crate::rules::slots::normalize(
        view.iter()
            .filter(|n| n.primary && pick(n))
            .flat_map(|n| n.slots.iter().copied())
            .collect(),
    )
}

/// What the plan knows of the cluster: its members, and each answering member's current identity.
struct Known<'a> {
    members: &'a [PlanMember],
    /// Each answering member's identity, by name.
    current: HashMap<&'a str, &'a ClusterNode>,
    current_ids: HashSet<&'a str>,
}

impl<'a> Known<'a> {
    /// What the views of the answering members say of the cluster of `members`.
    fn new(members: &'a [PlanMember], views: &'a HashMap<String, Vec<ClusterNode>>) -> Self {
        // Each answering member's identity, by name and by address.
        let current: HashMap<&str, &ClusterNode> = views
            .iter()
            .filter_map(|(name, v)| Some((name.as_str(), v.iter().find(|n| n.myself)?)))
            .collect();
        let current_ids: HashSet<&str> = current.values().map(|n| n.id.as_str()).collect();
        Known {
            members,
            current,
            current_ids,
        }
    }

    /// The current identity of the member at `addr`, when it answered.
    fn id_at(&self, addr: SocketAddr) -> Option<&'a str> {
        self.members
            .iter()
            .find(|m| m.addr == addr)
            .and_then(|m| self.current.get(m.name.as_str()).copied())
            .map(|n| n.id.as_str())
    }

    /// Whether `a` is a member's address.
    fn member_addr(&self, a: Option<SocketAddr>) -> bool {
        a.is_some_and(|a| self.members.iter().any(|m| m.addr == a))
    }

    /// An entry of a view that no member is any more: an old identity at a member's address (a node replaced by a
    /// new one), or a node at an address that is no member's. An entry at the address of a member that did not
    /// answer is kept (it may be that member, down for a moment).
    fn stale(&self, n: &ClusterNode) -> bool {
        !n.myself
            && !n.handshake
            && !self.current_ids.contains(n.id.as_str())
            && (!self.member_addr(n.addr) || n.addr.and_then(|a| self.id_at(a)).is_some())
    }
}

/// Whether `view` knows the node `id` (past its handshake).
fn knows(view: &[ClusterNode], id: &str) -> bool {
    view.iter().any(|n| n.id == id && !n.handshake)
}

/// What the nodes must be told for the cluster of `members` and `shards`, given what each answering node knows.
pub(crate) fn plan(
    members: &[PlanMember],
    shards: &[PlanShard],
    views: &HashMap<String, Vec<ClusterNode>>,
) -> ClusterPlan {
    let mut out = ClusterPlan::default();
    let known = Known::new(members, views);
    let mut formed = members
        .iter()
        .all(|m| known.current.contains_key(m.name.as_str()));
    for m in members {
        let Some(view) = views.get(&m.name) else {
            continue;
        };
        let Some(me) = known.current.get(m.name.as_str()).copied() else {
            continue;
        };
        let p = plan_member(&known, shards, m, view, me);
        out.work
            .extend(p.todo.into_iter().map(|w| (m.name.clone(), w)));
        if p.map_right {
            out.map_right.push(m.name.clone());
        }
        if p.whole && p.map_right {
            out.whole.push(m.name.clone());
        } else {
            formed = false;
        }
    }
    out.formed = formed;
    out
}

/// The plan of one member.
struct MemberPlan {
    /// What to tell it, in order.
    todo: Vec<ClusterWork>,
    /// Its view knows every member by its current identity, and each replica as its primary's.
    whole: bool,
    /// Its slot map is right.
    map_right: bool,
}

/// The plan of member `m`, whose view is `view` and current identity `me`.
fn plan_member(
    known: &Known<'_>,
    shards: &[PlanShard],
    m: &PlanMember,
    view: &[ClusterNode],
    me: &ClusterNode,
) -> MemberPlan {
    let meet = meetings(known, m, view);
    let whole = knows_members(known, view);
    let forget: Vec<String> = view
        .iter()
        .filter(|n| known.stale(n) && me.primary_id.as_deref() != Some(n.id.as_str()))
        .map(|n| n.id.clone())
        .collect();
    let (mut todo, map_right) = slot_work(known, shards, m, view, me);
    // Replicas follow their primary once they know it.
    let mut follow = false;
    if let Some(p) = &m.follows {
        match known.current.get(p.as_str()) {
            Some(pn) if knows(view, &pn.id) && me.primary_id.as_deref() != Some(pn.id.as_str()) => {
                follow = true;
            }
            _ => {}
        }
    }
    // A node that is gone is forgotten only once this view has nobody else's slots under it: forgetting it
    // sooner leaves them unserved here (`CLUSTERDOWN Hash slot not served` to a client that asks this node)
    // until gossip brings their new owner. A primary tells itself the owner first (the work above); a replica,
    // which takes no `SETSLOT`, waits for gossip.
    let told: Vec<(u16, u16)> = crate::rules::slots::normalize(
        todo.iter()
            .filter_map(|w| match w {
                ClusterWork::Owner(r, _) => Some(r.clone()),
                _ => None,
            })
            .flatten()
            .collect(),
    );
    let forget: Vec<String> = forget
        .into_iter()
        .filter(|id| {
            view.iter()
                .find(|n| n.id == *id)
                .is_none_or(|n| crate::rules::slots::subtract(&n.slots, &told).is_empty())
        })
        .collect();
    todo.extend(forget.into_iter().map(ClusterWork::Forget));
    todo.extend(meet.into_iter().map(ClusterWork::Meet));
    if follow {
        todo.push(ClusterWork::Follow);
    }
    MemberPlan {
        todo,
        whole,
        map_right,
    }
}

/// Meetings: every member the node of `m` has not heard of under its current identity (or at all).
fn meetings(known: &Known<'_>, m: &PlanMember, view: &[ClusterNode]) -> Vec<SocketAddr> {
    known
        .members
        .iter()
        .filter(|o| o.name != m.name)
        .filter(|o| {
            let id = known.id_at(o.addr);
            !view
                .iter()
                .any(|n| n.addr == Some(o.addr) && (n.handshake || id.is_none_or(|id| id == n.id)))
        })
        .map(|o| o.addr)
        .collect()
}

/// Whether `view` knows every answering member by its current identity, and each replica as its primary's.
fn knows_members(known: &Known<'_>, view: &[ClusterNode]) -> bool {
    let mut whole = true;
    if !known
        .members
        .iter()
        .filter_map(|o| known.current.get(o.name.as_str()))
        .all(|n| knows(view, &n.id))
    {
        whole = false;
    }
    // ...and knows each replica as its primary's (what `CLUSTER SLOTS` lists for clients that read replicas).
    let replicates = |replica: &str, primary: &str| {
        let (Some(r), Some(p)) = (known.current.get(replica), known.current.get(primary)) else {
            return false;
        };
        view.iter()
            .any(|n| n.id == r.id && n.primary_id.as_deref() == Some(p.id.as_str()))
    };
    if !known
        .members
        .iter()
        .all(|o| o.follows.as_deref().is_none_or(|p| replicates(&o.name, p)))
    {
        whole = false;
    }
    whole
}

/// Slots: what to tell the node of `m` about each shard's slots, and whether the map a client gets from it is right
/// (every shard's slots served by its primary's current identity).
fn slot_work(
    known: &Known<'_>,
    shards: &[PlanShard],
    m: &PlanMember,
    view: &[ClusterNode],
    me: &ClusterNode,
) -> (Vec<ClusterWork>, bool) {
    let mut todo: Vec<ClusterWork> = Vec::new();
    let mut map_right = true;
    for shard in shards {
        let Some(owner) = known.current.get(shard.primary.as_str()) else {
            map_right = false;
            continue;
        };
        let others = ranges_of(view, |n| n.id != owner.id && !known.stale(n));
        let served_by_owner = ranges_of(view, |n| n.id == owner.id);
        let lacking = crate::rules::slots::subtract(
            &crate::rules::slots::subtract(&shard.slots, &served_by_owner),
            &others,
        );
        if !crate::rules::slots::subtract(&shard.slots, &served_by_owner).is_empty()
            || !knows(view, &owner.id)
        {
            map_right = false;
        }
        if lacking.is_empty() {
            continue;
        }
        if m.name == shard.primary {
            if !me.primary {
                continue;
            }
            todo.extend(claim_slots(known, view, me, &lacking));
        } else if owner.primary && knows(view, &owner.id) && me.primary && m.follows.is_none() {
            // (Redis takes `SETSLOT` only on primaries: a replica's view follows by gossip.)
            // Only what the owner itself says it serves.
            let established = crate::rules::slots::subtract(
                &lacking,
                &crate::rules::slots::subtract(&lacking, &owner.slots),
            );
            if !established.is_empty() {
                todo.push(ClusterWork::Owner(established, owner.id.clone()));
            }
        }
    }
    (todo, map_right)
}

/// What a shard's primary `me` is told about its `lacking` slots: to serve those nobody serves, and to own those
/// a stale identity still holds in its `view`.
fn claim_slots(
    known: &Known<'_>,
    view: &[ClusterNode],
    me: &ClusterNode,
    lacking: &[(u16, u16)],
) -> Vec<ClusterWork> {
    let mut todo = Vec::new();
    let taken_by_stale = ranges_of(view, |n| known.stale(n));
    let take: Vec<(u16, u16)> = crate::rules::slots::normalize(
        lacking
            .iter()
            .flat_map(|r| {
                let outside = crate::rules::slots::subtract(&[*r], &taken_by_stale);
                crate::rules::slots::subtract(&[*r], &outside)
            })
            .collect(),
    );
    let add = crate::rules::slots::subtract(lacking, &take);
    if !add.is_empty() {
        todo.push(ClusterWork::Add(add));
    }
    if !take.is_empty() {
        todo.push(ClusterWork::Owner(take, me.id.clone()));
    }
    todo
}

impl Step {
    /// What each answering node of `specs` knows of its cluster (`CLUSTER NODES`), by member id. Nodes that do not
    /// answer (down, loading) are left out.
    /// Also the members whose node says it serves the cluster (`cluster_state:ok`).
    async fn cluster_views(
        &self,
        specs: &[NodeSpec],
    ) -> (HashMap<String, Vec<ClusterNode>>, HashSet<String>) {
        let mut set = tokio::task::JoinSet::new();
        for spec in specs {
            if !self.nodes().health(&spec.name).is_up() {
                continue;
            }
            let (name, addr, admin) = (
                spec.name.clone(),
                spec.node_addr(),
                self.nodes().admin().clone(),
            );
            set.spawn(async move {
                let mut c =
                    AdminClient::connect_within(&addr, &admin, STEP_COMMAND_TIMEOUT).await?;
                let nodes = c.cluster_nodes().await?;
                let ok = c.cluster_state_ok().await?;
                Ok::<_, engine::EngineError>((name, nodes, ok))
            });
        }
        let mut views = HashMap::new();
        let mut serving = HashSet::new();
        while let Some(r) = set.join_next().await {
            if let Ok(Ok((name, nodes, ok))) = r {
                if ok {
                    serving.insert(name.clone());
                }
                views.insert(name, nodes);
            }
        }
        (views, serving)
    }

    /// Brings the group's Redis Cluster to its spec ([`plan`]) and, while the group is created, looks again for up to
    /// [`FORMATION_LOOK`] (a live group's step looks once: a node that is down must not hold it up). Returns
    /// true when the cluster is formed: every node answers, knows every member, and sees every shard's slots served
    /// by the shard's primary (what a cluster client asks any of them).
    pub(crate) async fn cluster_step(
        &self,
        g: &ReplicationGroup,
        specs: &[NodeSpec],
    ) -> Result<bool> {
        let until = Instant::now()
            + if g.status == GroupStatus::Creating {
                FORMATION_LOOK
            } else {
                Duration::ZERO
            };
        let members: Vec<PlanMember> = specs
            .iter()
            .filter_map(|spec| {
                let m = g.member(&spec.name)?;
                let shard = g.shard_of(&m.cluster_id)?;
                Some(PlanMember {
                    name: m.cluster_id.clone(),
                    addr: g.tcp_addr(m),
                    follows: (shard.primary_cluster_id != m.cluster_id)
                        .then(|| shard.primary_cluster_id.clone()),
                })
            })
            .collect();
        let shards: Vec<PlanShard> = g
            .shards
            .iter()
            .map(|s| PlanShard {
                primary: s.primary_cluster_id.clone(),
                slots: s.slots.clone(),
            })
            .collect();
        let ranges_command = specs.iter().all(|s| s.engine_version.0 >= 7);
        loop {
            let (views, serving) = self.cluster_views(specs).await;
            let p = plan(&members, &shards, &views);
            // Formed, and every node serves (a new primary refuses commands with `CLUSTERDOWN` for its first two
            // seconds: the group is not available before that is over). Work left (forgetting a removed node) is
            // still done.
            let done = p.formed && members.iter().all(|m| serving.contains(&m.name));
            for m in &members {
                let right = p.map_right.contains(&m.name) && serving.contains(&m.name);
                self.nodes()
                    .update(&m.name, |o| o.cluster_map_right = right);
            }
            let mut work: HashMap<String, Vec<ClusterWork>> = HashMap::new();
            for (name, w) in p.work {
                work.entry(name).or_default().push(w);
            }
            let mut set = tokio::task::JoinSet::new();
            for (name, todo) in work {
                let Some(spec) = specs.iter().find(|s| s.name == name).cloned() else {
                    continue;
                };
                let admin = self.nodes().admin().clone();
                set.spawn(async move {
                    let mut c = AdminClient::connect_within(&spec.node_addr(), &admin, STEP_COMMAND_TIMEOUT).await?;
                    for w in todo {
                        tracing::debug!(node = %spec.name, ?w, "cluster");
                        match w {
                            ClusterWork::Add(r) => {
                                tracing::info!(node = %spec.name, slots = %crate::rules::slots::text(&r), "assigning slots");
                                c.cluster_add_slots(&r, ranges_command).await?;
                            }
                            ClusterWork::Owner(r, id) => c.cluster_set_owner(&r, &id).await?,
                            ClusterWork::Forget(id) => c.cluster_forget(&id).await?,
                            ClusterWork::Meet(a) => c.cluster_meet(a).await?,
                            ClusterWork::Follow => {
                                c.cluster_follow(spec.replica_of).await?;
                            }
                        }
                    }
                    Ok::<_, engine::EngineError>(())
                });
            }
            let mut first_err = None;
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => first_err = first_err.or(Some(ControlError::from(e))),
                    Err(e) => {
                        first_err =
                            first_err.or(Some(ControlError::Internal(format!("cluster task: {e}"))))
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            if done {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes the members `on` forget the node of the failed primary `old` (`CLUSTER FORGET`): its slots are then
    /// unserved in their view until its successor claims them, and its identity can never win them back (a failed
    /// primary starts again as a new node: [`engine::cluster::discard_state`]). Best effort: a node that does not
    /// answer, or does not know `old`, is left to [`Self::cluster_step`]'s cleanup.
    pub(crate) async fn forget_everywhere<'a>(
        &self,
        g: &ReplicationGroup,
        old_id: &str,
        on: impl Iterator<Item = &'a Member>,
    ) {
        let mut set = tokio::task::JoinSet::new();
        for m in on {
            if !self.nodes().health(&m.cluster_id).is_up() {
                continue;
            }
            let (addr, admin, id, name) = (
                g.admin_addr(m, &self.inner.settings.data_dir),
                self.nodes().admin().clone(),
                old_id.to_string(),
                m.cluster_id.clone(),
            );
            set.spawn(async move {
                let r = async {
                    let mut c = AdminClient::connect_within(&addr, &admin, STEP_COMMAND_TIMEOUT).await?;
                    c.cluster_forget(&id).await
                };
                if let Err(e) = r.await {
                    tracing::debug!(node = %name, forgotten = %id, error = %e, "cluster forget failed");
                }
            });
        }
        while set.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::SocketAddr;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::new(std::net::IpAddr::from([127, 0, 9, i]), 6379)
    }

    fn node(
        id: &str,
        at: u8,
        myself: bool,
        primary_id: Option<&str>,
        slots: &[(u16, u16)],
    ) -> ClusterNode {
        ClusterNode {
            id: id.into(),
            addr: Some(addr(at)),
            myself,
            primary: primary_id.is_none(),
            failing: false,
            handshake: false,
            primary_id: primary_id.map(Into::into),
            config_epoch: 0,
            connected: true,
            slots: slots.to_vec(),
        }
    }

    /// Two shards of a primary and a replica: members a (primary of 0-8191), b (its replica), c (primary of
    /// 8192-16383), d (its replica), at 127.0.9.1 to .4.
    fn layout() -> (Vec<PlanMember>, Vec<PlanShard>) {
        let m = |name: &str, at: u8, follows: Option<&str>| PlanMember {
            name: name.into(),
            addr: addr(at),
            follows: follows.map(Into::into),
        };
        (
            vec![
                m("a", 1, None),
                m("b", 2, Some("a")),
                m("c", 3, None),
                m("d", 4, Some("c")),
            ],
            vec![
                PlanShard {
                    primary: "a".into(),
                    slots: vec![(0, 8191)],
                },
                PlanShard {
                    primary: "c".into(),
                    slots: vec![(8192, 16383)],
                },
            ],
        )
    }

    fn formed_views() -> HashMap<String, Vec<ClusterNode>> {
        let all = |me: &str| {
            vec![
                node("A", 1, me == "A", None, &[(0, 8191)]),
                node("B", 2, me == "B", Some("A"), &[]),
                node("C", 3, me == "C", None, &[(8192, 16383)]),
                node("D", 4, me == "D", Some("C"), &[]),
            ]
        };
        [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]
            .into_iter()
            .map(|(n, id)| (n.to_string(), all(id)))
            .collect()
    }

    fn work_of(p: &ClusterPlan, name: &str) -> Vec<ClusterWork> {
        p.work
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, w)| w.clone())
            .collect()
    }

    #[test]
    fn new_nodes_get_slots_first_then_meet() {
        let (members, shards) = layout();
        let views: HashMap<String, Vec<ClusterNode>> =
            [("a", "A", 1), ("b", "B", 2), ("c", "C", 3), ("d", "D", 4)]
                .into_iter()
                .map(|(n, id, at)| (n.to_string(), vec![node(id, at, true, None, &[])]))
                .collect();
        let p = plan(&members, &shards, &views);
        assert!(!p.formed);
        let a = work_of(&p, "a");
        assert_eq!(
            a[0],
            ClusterWork::Add(vec![(0, 8191)]),
            "slots before meetings: {a:?}"
        );
        assert_eq!(
            a[1..],
            [
                ClusterWork::Meet(addr(2)),
                ClusterWork::Meet(addr(3)),
                ClusterWork::Meet(addr(4))
            ]
        );
        // A replica neither serves slots nor follows a primary it does not know yet.
        let b = work_of(&p, "b");
        assert!(b.iter().all(|w| matches!(w, ClusterWork::Meet(_))), "{b:?}");
    }

    #[test]
    fn a_formed_cluster_needs_nothing() {
        let (members, shards) = layout();
        let p = plan(&members, &shards, &formed_views());
        assert!(p.formed);
        assert!(p.work.is_empty(), "{:?}", p.work);
        assert_eq!(p.whole.len(), 4);
        // A member that does not answer: not formed, and the others are left alone.
        let mut views = formed_views();
        views.remove("d");
        let p = plan(&members, &shards, &views);
        assert!(!p.formed && p.work.is_empty(), "{p:?}");
    }

    #[test]
    fn a_replica_forgets_a_removed_node_only_once_its_slots_have_a_new_owner_in_its_view() {
        let (members, shards) = layout();
        // A node group was removed by a resharding: its primary E (at an address no member has) served 0-100
        // before the slots moved to a. d, a replica (it takes no SETSLOT), has not heard of the move yet.
        let e = node("E", 9, false, None, &[(0, 100)]);
        let mut views = formed_views();
        let d_view = vec![
            e.clone(),
            node("A", 1, false, None, &[(101, 8191)]),
            node("B", 2, false, Some("A"), &[]),
            node("C", 3, false, None, &[(8192, 16383)]),
            node("D", 4, true, Some("C"), &[]),
        ];
        views.insert("d".into(), d_view.clone());
        let c_view: Vec<ClusterNode> = views["c"]
            .iter()
            .cloned()
            .map(|mut n| {
                if n.id == "A" {
                    n.slots = vec![(101, 8191)];
                }
                n
            })
            .chain([e])
            .collect();
        views.insert("c".into(), c_view);
        let p = plan(&members, &shards, &views);
        let d = work_of(&p, "d");
        assert!(
            !d.contains(&ClusterWork::Forget("E".into())),
            "forgetting E now would leave 0-100 unserved in d's view: {d:?}"
        );
        // c, a primary, is told the owner in the same step, then forgets E.
        let c = work_of(&p, "c");
        let owner = c
            .iter()
            .position(|w| *w == ClusterWork::Owner(vec![(0, 100)], "A".into()));
        let forget = c.iter().position(|w| *w == ClusterWork::Forget("E".into()));
        assert!(owner.is_some() && forget > owner, "{c:?}");
        // Once gossip has brought the new owner to d, E is forgotten there too.
        let mut moved = d_view;
        moved[0].slots.clear();
        moved[1].slots = vec![(0, 8191)];
        views.insert("d".into(), moved);
        let p = plan(&members, &shards, &views);
        assert!(work_of(&p, "d").contains(&ClusterWork::Forget("E".into())));
    }

    #[test]
    fn after_a_failover_the_old_identity_is_forgotten_and_its_slots_moved() {
        let (members, shards) = layout();
        // b took over from a (shard 1's primary is now b in the spec); a came back as a new node (id A2) that knows
        // only itself; c still believes the old A serves 0-8191 (equal epochs), d learnt of A2 already.
        let shards = vec![
            PlanShard {
                primary: "b".into(),
                slots: shards[0].slots.clone(),
            },
            shards[1].clone(),
        ];
        let members: Vec<PlanMember> = members
            .into_iter()
            .map(|mut m| {
                m.follows = match m.name.as_str() {
                    "a" => Some("b".into()),
                    "b" => None,
                    _ => m.follows,
                };
                m
            })
            .collect();
        let mut views = HashMap::new();
        views.insert("a".to_string(), vec![node("A2", 1, true, None, &[])]);
        views.insert(
            "b".to_string(),
            vec![
                node("B", 2, true, None, &[(0, 8191)]),
                node("C", 3, false, None, &[(8192, 16383)]),
                node("D", 4, false, Some("C"), &[]),
            ],
        );
        views.insert(
            "c".to_string(),
            vec![
                node("A", 1, false, None, &[(0, 8191)]),
                node("B", 2, false, Some("A"), &[]),
                node("C", 3, true, None, &[(8192, 16383)]),
                node("D", 4, false, Some("C"), &[]),
            ],
        );
        views.insert(
            "d".to_string(),
            vec![
                node("A2", 1, false, None, &[]),
                node("B", 2, false, None, &[(0, 8191)]),
                node("C", 3, false, None, &[(8192, 16383)]),
                node("D", 4, true, Some("C"), &[]),
            ],
        );
        let p = plan(&members, &shards, &views);
        assert!(!p.formed);
        // The new a knows only itself: no client may be sent to it yet.
        assert!(!p.whole.contains(&"a".to_string()));
        assert!(!p.map_right.contains(&"a".to_string()));
        assert!(
            !p.map_right.contains(&"c".to_string()),
            "c still sends 0-8191 to the old a"
        );
        assert!(
            p.map_right.contains(&"d".to_string()),
            "d's map is right though it lacks a's replication"
        );
        let c = work_of(&p, "c");
        assert!(
            c.contains(&ClusterWork::Owner(vec![(0, 8191)], "B".into())),
            "{c:?}"
        );
        assert!(c.contains(&ClusterWork::Forget("A".into())), "{c:?}");
        assert!(
            c.contains(&ClusterWork::Meet(addr(1))),
            "the new identity at a's address: {c:?}"
        );
        // b meets the new a; the new a meets everyone; d needs nothing.
        assert_eq!(work_of(&p, "b"), [ClusterWork::Meet(addr(1))]);
        assert_eq!(work_of(&p, "a").len(), 3);
        assert!(work_of(&p, "d").is_empty());
    }
}
