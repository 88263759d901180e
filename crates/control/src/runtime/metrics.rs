//! Prometheus metrics of the control plane and its nodes, in the OpenMetrics text format (`prometheus-client`).
//!
//! Two kinds of figures:
//! - **Kept as they happen** ([`Metrics`]): API requests by action and error code with their latency, reconciler
//!   steps with their durations and failures, automatic failovers with their gap, planned switchovers. These are
//!   counters and histograms that live as long as the daemon.
//! - **Read at scrape time** ([`Control::scrape_metrics`]): every node's `INFO` (clients, memory, commands, keyspace
//!   hits and misses, evictions and expirations, replication offset and lag) and every group's status, shards,
//!   nodes and pending modifications. The nodes are read at most once per collection interval whatever the number
//!   of scrapers: a scrape within the interval of the last collection is served from it, and concurrent scrapes
//!   wait for the one collection under way. Each node is read over the control plane's admin connection, kept
//!   open between collections.
//!
//! Labels of node series: `replication_group`, `shard`, `cache_cluster`, `node`, `role` (`primary`/`replica`, from
//! the node's own `INFO` when it answered, else the control plane's view), `zone`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use engine::admin::{AdminClient, NodeAddr, NodeStats};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::Control;

pub use crate::workflows::step::{Figures, HistogramFamily, Labels};
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// How long one node may take to answer `INFO` in a collection.
const INFO_TIMEOUT: Duration = Duration::from_secs(1);

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The figures kept as they happen.
pub struct Metrics {
    api_requests: Family<Labels, Counter>,
    api_duration: HistogramFamily,
    steps: Family<Labels, Counter>,
    step_duration: HistogramFamily,
    failed_steps: Family<Labels, Counter>,
    waiting_steps: Gauge,
    delivered: Family<Labels, Counter>,
    nodes: tokio::sync::Mutex<NodeCache>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            api_requests: Family::default(),
            api_duration: Family::new_with_constructor(latency_histogram),
            steps: Family::default(),
            step_duration: Family::new_with_constructor(latency_histogram),
            failed_steps: Family::default(),
            waiting_steps: Gauge::default(),
            delivered: Family::default(),
            nodes: tokio::sync::Mutex::new(NodeCache::default()),
        }
    }
}

impl Metrics {
    /// An API request of `action` (`-` when it named none the API knows) answered with `code` (`OK` or the AWS
    /// error code) after `took`.
    pub fn api_request(&self, action: &str, code: &str, took: Duration) {
        self.api_requests
            .get_or_create(&vec![
                ("action", action.to_string()),
                ("code", code.to_string()),
            ])
            .inc();
        self.api_duration
            .get_or_create(&vec![("action", action.to_string())])
            .observe(took.as_secs_f64());
    }

    /// A reconciler step of a `kind` of resource (`replication_group`, `cache_cluster`, `memcached`).
    pub(crate) fn step(&self, kind: &str, failed: bool, took: Duration) {
        let kind_label = vec![("kind", kind.to_string())];
        self.steps.get_or_create(&kind_label).inc();
        if failed {
            self.failed_steps.get_or_create(&kind_label).inc();
        }
        self.step_duration
            .get_or_create(&kind_label)
            .observe(took.as_secs_f64());
    }

    pub(crate) fn waiting_step(&self, delta: i64) {
        self.waiting_steps.inc_by(delta);
    }

    /// Log records delivered for a group.
    pub(crate) fn delivered(&self, group: &str, log_type: &str, destination_type: &str, n: usize) {
        self.delivered
            .get_or_create(&vec![
                ("replication_group", group.to_string()),
                ("log_type", log_type.to_string()),
                ("destination_type", destination_type.to_string()),
            ])
            .inc_by(n as u64);
    }
}

/// What the last collection read from each node.
#[derive(Default)]
struct NodeCache {
    conns: HashMap<String, AdminClient>,
    info: HashMap<String, (Instant, NodeStats)>,
    collected: Option<Instant>,
    took: Duration,
    /// Each node's figures of the last [`HISTORY`], a sample a collection (the console's charts).
    history: HashMap<String, VecDeque<Sample>>,
}

/// How long the console's charts look back.
pub const HISTORY: Duration = Duration::from_secs(3600);

/// A node's figures at one collection, kept for [`HISTORY`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Unix time of the collection, in seconds.
    pub at: i64,
    pub commands: Option<u64>,
    /// Of `commands`, those this daemon had sent the node over its admin connections when it was read
    /// ([`engine::admin::commands_sent`]; `None` for Memcached, whose `stats` and `version` are not counted).
    pub control_commands: Option<u64>,
    /// Of `commands`, replication's own (`REPLCONF`).
    pub replication_commands: Option<u64>,
    /// Items stored (Memcached).
    pub items: Option<u64>,
    pub used_memory: Option<u64>,
    pub max_memory: Option<u64>,
    pub clients: Option<u64>,
    pub offset: Option<i64>,
    pub primary: Option<bool>,
}

/// How a node is read.
#[derive(Clone)]
enum Reach {
    /// A Redis or Valkey node: `INFO` over the admin connection.
    Redis(NodeAddr),
    /// A Memcached node: `stats`, over TLS when it serves TLS.
    Memcached(std::net::SocketAddr, Option<engine::memcached::Tls>),
}

/// A node to read, with its labels.
struct Target {
    name: String,
    reach: Reach,
    labels: Labels,
    primary: bool,
}

/// The modifications of `g` its `PendingModifiedValues` shows: those waiting for the window, and those on their
/// way to the nodes.
fn pending_count(g: &crate::model::ReplicationGroup) -> i64 {
    [
        g.pending.cache_node_type.is_some(),
        g.pending.engine_version.is_some(),
        g.pending_transit.is_some(),
        g.pending_user_groups.is_some(),
    ]
    .into_iter()
    .map(i64::from)
    .sum()
}

impl Control {
    /// The figures kept as they happen.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Every node to read, with its labels, from the current state.
    fn metric_targets(&self) -> (Vec<Target>, Vec<(Labels, crate::model::ReplicationGroup)>) {
        let st = self.state();
        let mut targets = Vec::new();
        let mut groups = Vec::new();
        for g in st.groups.values() {
            let group = if g.standalone {
                String::new()
            } else {
                g.id.clone()
            };
            for s in &g.shards {
                for m in &s.members {
                    let primary = s.primary_cluster_id == m.cluster_id;
                    targets.push(Target {
                        name: m.cluster_id.clone(),
                        reach: Reach::Redis(g.admin_addr(m, &self.inner.settings.data_dir)),
                        labels: vec![
                            ("replication_group", group.clone()),
                            ("shard", s.id.clone()),
                            ("cache_cluster", m.cluster_id.clone()),
                            ("node", "0001".to_string()),
                            ("role", String::new()),
                            ("zone", m.availability_zone.clone()),
                        ],
                        primary,
                    });
                }
            }
            if !g.standalone {
                groups.push((vec![("replication_group", g.id.clone())], g.clone()));
            }
        }
        let tls = self.memcached_client_tls().ok();
        for c in st.memcached.values() {
            for n in &c.nodes {
                targets.push(Target {
                    name: format!("{}-{}", c.id, n.id),
                    reach: Reach::Memcached(
                        std::net::SocketAddr::new(n.address, c.port),
                        tls.clone().filter(|_| c.transit_encryption),
                    ),
                    labels: vec![
                        ("replication_group", String::new()),
                        ("shard", String::new()),
                        ("cache_cluster", c.id.clone()),
                        ("node", n.id.clone()),
                        ("role", String::new()),
                        ("zone", n.zone.clone()),
                    ],
                    primary: false,
                });
            }
        }
        (targets, groups)
    }

    /// Reads `INFO` from every node, at most once per `interval`; concurrent callers share one collection.
    async fn collect_nodes(&self, interval: Duration, targets: &[Target]) {
        let mut cache = self.inner.metrics.nodes.lock().await;
        if cache.collected.is_some_and(|t| t.elapsed() < interval) {
            return;
        }
        let started = Instant::now();
        let mut reads = tokio::task::JoinSet::new();
        for t in targets {
            let conn = cache.conns.remove(&t.name);
            let (name, reach, admin) = (t.name.clone(), t.reach.clone(), self.inner.admin.clone());
            reads.spawn(async move {
                let read = async {
                    match reach {
                        Reach::Redis(addr) => {
                            let mut c = match conn {
                                Some(c) => c,
                                None => {
                                    AdminClient::connect_within(&addr, &admin, INFO_TIMEOUT).await?
                                }
                            };
                            // The daemon's own commands so far, read before this INFO as the node's count
                            // (which leaves out the INFO that reports it).
                            let sent = engine::admin::commands_sent(addr.tcp);
                            let mut info = c.info("default").await?;
                            info.extend(c.info("commandstats").await?);
                            Ok::<_, engine::EngineError>((
                                Some(c),
                                NodeStats::from_info(&info),
                                Some(sent),
                            ))
                        }
                        Reach::Memcached(addr, tls) => Ok((
                            None,
                            engine::memcached::node_stats(addr, tls.as_ref()).await?,
                            None,
                        )),
                    }
                };
                (
                    name,
                    tokio::time::timeout(INFO_TIMEOUT, read)
                        .await
                        .ok()
                        .and_then(Result::ok),
                )
            });
        }
        let at = crate::now().timestamp();
        while let Some(r) = reads.join_next().await {
            let Ok((name, read)) = r else { continue };
            if let Some((c, info, sent)) = read {
                if let Some(c) = c {
                    cache.conns.insert(name.clone(), c);
                }
                let samples = cache.history.entry(name.clone()).or_default();
                samples.push_back(Sample {
                    at,
                    commands: info.commands,
                    control_commands: sent,
                    replication_commands: info.replication_commands,
                    items: info.items,
                    used_memory: info.used_memory,
                    max_memory: info.max_memory,
                    clients: info.clients,
                    offset: info.offset,
                    primary: info.primary,
                });
                while samples
                    .front()
                    .is_some_and(|s| s.at < at - HISTORY.as_secs() as i64)
                {
                    samples.pop_front();
                }
                cache.info.insert(name, (Instant::now(), info));
            }
        }
        // Nodes that are gone are forgotten.
        let known: std::collections::HashSet<&str> =
            targets.iter().map(|t| t.name.as_str()).collect();
        cache.info.retain(|name, _| known.contains(name.as_str()));
        cache
            .history
            .retain(|name, _| known.contains(name.as_str()));
        engine::admin::forget_sent_except(
            &targets
                .iter()
                .filter_map(|t| match &t.reach {
                    Reach::Redis(addr) => Some(addr.tcp),
                    Reach::Memcached(..) => None,
                })
                .collect(),
        );
        cache.collected = Some(Instant::now());
        cache.took = started.elapsed();
    }

    /// Reads every node once per `interval` until `stop`, so that the console's charts have the last hour
    /// whether or not anything scrapes (a scrape in between is served from the same collection).
    pub async fn run_collector(
        &self,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let (targets, _) = self.metric_targets();
            self.collect_nodes(interval, &targets).await;
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// The figures of the last hour of the nodes named (cache cluster ids; Memcached nodes `<cluster>-<node>`).
    pub async fn node_history(&self, names: &[String]) -> HashMap<String, Vec<Sample>> {
        let cache = self.inner.metrics.nodes.lock().await;
        names
            .iter()
            .filter_map(|n| {
                cache
                    .history
                    .get(n)
                    .map(|h| (n.clone(), h.iter().copied().collect()))
            })
            .collect()
    }

    /// The metrics page: the nodes read at most once per `interval`.
    pub async fn scrape_metrics(&self, interval: Duration) -> String {
        let (mut targets, groups) = self.metric_targets();
        self.collect_nodes(interval, &targets).await;
        let cache = self.inner.metrics.nodes.lock().await;
        let mut r = Registry::default();
        let families = NodeFamilies::default();
        let primary_offsets = settle_roles(&cache, &mut targets);
        for t in &targets {
            families.record(t, &cache, &primary_offsets);
        }
        families.register(&mut r);
        register_groups(&mut r, &groups);
        register_kept(&mut r, &self.inner.metrics, &self.inner.figures);
        self.register_backlog(&mut r);
        let took = FloatGauge::default();
        took.set(cache.took.as_secs_f64());
        r.register(
            "cacheplane_metrics_collection_duration_seconds",
            "How long the last collection of the nodes' INFO took",
            took,
        );
        let mut out = String::new();
        if encode(&mut out, &r).is_err() {
            tracing::warn!("encoding the metrics failed");
        }
        out
    }

    /// Registers how many events the notification delivery has not taken yet.
    fn register_backlog(&self, r: &mut Registry) {
        let backlog = Gauge::<i64>::default();
        {
            let st = self.state();
            let newest = st.store.max_event_seq().unwrap_or(0);
            let delivered = st
                .store
                .cursor(crate::runtime::notify::CURSOR)
                .ok()
                .flatten()
                .unwrap_or(newest);
            backlog.set((newest - delivered).max(0));
        }
        r.register(
            "cacheplane_notification_backlog_events",
            "Events not yet taken by the notification delivery",
            backlog,
        );
    }
}

/// Sets each Redis target's role from its node's own `INFO` when it answered (else the control plane's view);
/// returns the primary's offset of each shard, for its replicas' lag in bytes.
fn settle_roles(cache: &NodeCache, targets: &mut [Target]) -> HashMap<(String, String), i64> {
    let mut primary_offsets: HashMap<(String, String), i64> = HashMap::new();
    for t in targets
        .iter_mut()
        .filter(|t| matches!(t.reach, Reach::Redis(_)))
    {
        let info = cache.info.get(&t.name).map(|(_, i)| i);
        let is_primary = info.and_then(|i| i.primary).unwrap_or(t.primary);
        t.primary = is_primary;
        t.labels[4].1 = if is_primary { "primary" } else { "replica" }.to_string();
        if let (true, Some(o)) = (is_primary, info.and_then(|i| i.offset)) {
            primary_offsets.insert((t.labels[0].1.clone(), t.labels[1].1.clone()), o);
        }
    }
    primary_offsets
}

/// The node series of one scrape.
#[derive(Default)]
struct NodeFamilies {
    up: Family<Labels, Gauge>,
    primary: Family<Labels, Gauge>,
    clients: Family<Labels, Gauge>,
    used: Family<Labels, Gauge>,
    max: Family<Labels, Gauge>,
    commands: Family<Labels, Counter>,
    hits: Family<Labels, Counter>,
    misses: Family<Labels, Counter>,
    evicted: Family<Labels, Counter>,
    expired: Family<Labels, Counter>,
    offset: Family<Labels, Gauge>,
    lag_bytes: Family<Labels, Gauge>,
    lag_seconds: Family<Labels, Gauge>,
    probe_age: Family<Labels, FloatGauge>,
}

impl NodeFamilies {
    /// Records the figures of one node `t` from the last collection.
    fn record(
        &self,
        t: &Target,
        cache: &NodeCache,
        primary_offsets: &HashMap<(String, String), i64>,
    ) {
        let l = &t.labels;
        let read = cache.info.get(&t.name);
        let fresh =
            read.is_some_and(|(at, _)| cache.collected.is_some_and(|c| *at >= c - cache.took));
        self.up.get_or_create(l).set(i64::from(fresh));
        if matches!(t.reach, Reach::Redis(_)) {
            self.primary.get_or_create(l).set(i64::from(t.primary));
        }
        let Some((at, info)) = read else { return };
        self.probe_age
            .get_or_create(l)
            .set(at.elapsed().as_secs_f64());
        let set = |f: &Family<Labels, Gauge>, v: Option<u64>| {
            if let Some(v) = v {
                f.get_or_create(l).set(v as i64);
            }
        };
        set(&self.clients, info.clients);
        set(&self.used, info.used_memory);
        set(&self.max, info.max_memory);
        let count = |f: &Family<Labels, Counter>, v: Option<u64>| {
            if let Some(v) = v {
                f.get_or_create(l).inc_by(v);
            }
        };
        count(&self.commands, info.commands);
        count(&self.hits, info.hits);
        count(&self.misses, info.misses);
        count(&self.evicted, info.evicted);
        count(&self.expired, info.expired);
        if matches!(t.reach, Reach::Memcached(..)) {
            return;
        }
        self.record_replication(l, info, t.primary, primary_offsets);
    }

    /// Records a Redis node's replication offset and lag.
    fn record_replication(
        &self,
        l: &Labels,
        info: &NodeStats,
        is_primary: bool,
        primary_offsets: &HashMap<(String, String), i64>,
    ) {
        if let Some(o) = info.offset {
            self.offset.get_or_create(l).set(o);
        }
        if is_primary {
            self.lag_bytes.get_or_create(l).set(0);
            self.lag_seconds.get_or_create(l).set(0);
            return;
        }
        if let (Some(o), Some(p)) = (
            info.offset,
            primary_offsets.get(&(l[0].1.clone(), l[1].1.clone())),
        ) {
            self.lag_bytes.get_or_create(l).set((p - o).max(0));
        }
        // Seconds since the replica last heard from its primary; a broken link counts from when it broke.
        if let Some(s) = info.silent_seconds {
            self.lag_seconds.get_or_create(l).set(s);
        }
    }

    /// Registers the node series, in the page's order.
    fn register(self, r: &mut Registry) {
        let node = |r: &mut Registry, name: &str, help: &str, f: &Family<Labels, Gauge>| {
            r.register(name, help, f.clone());
        };
        node(
            r,
            "cacheplane_node_up",
            "1 when the node answered INFO in the last collection",
            &self.up,
        );
        node(
            r,
            "cacheplane_node_primary",
            "1 for a primary, 0 for a replica",
            &self.primary,
        );
        node(
            r,
            "cacheplane_node_connected_clients",
            "Client connections of the node",
            &self.clients,
        );
        node(
            r,
            "cacheplane_node_memory_used_bytes",
            "Memory the node uses (used_memory)",
            &self.used,
        );
        node(
            r,
            "cacheplane_node_memory_max_bytes",
            "The node's maxmemory",
            &self.max,
        );
        r.register(
            "cacheplane_node_commands_processed",
            "Commands the node has processed since it started",
            self.commands.clone(),
        );
        r.register(
            "cacheplane_node_keyspace_hits",
            "Successful key lookups",
            self.hits.clone(),
        );
        r.register(
            "cacheplane_node_keyspace_misses",
            "Failed key lookups",
            self.misses.clone(),
        );
        r.register(
            "cacheplane_node_evicted_keys",
            "Keys evicted for maxmemory",
            self.evicted.clone(),
        );
        r.register(
            "cacheplane_node_expired_keys",
            "Keys expired",
            self.expired.clone(),
        );
        node(
            r,
            "cacheplane_node_replication_offset_bytes",
            "The node's replication offset (a primary's master_repl_offset, a replica's slave_repl_offset)",
            &self.offset,
        );
        node(
            r,
            "cacheplane_node_replication_lag_bytes",
            "How far the node's replication offset is behind its shard's primary",
            &self.lag_bytes,
        );
        node(
            r,
            "cacheplane_node_replication_lag_seconds",
            "Seconds since the replica last heard from its primary (0 for a primary)",
            &self.lag_seconds,
        );
        r.register(
            "cacheplane_node_last_probe_age_seconds",
            "Seconds since the node last answered INFO",
            self.probe_age,
        );
    }
}

/// Registers the series of every replication group: its status, shards, nodes and pending modifications.
fn register_groups(r: &mut Registry, groups: &[(Labels, crate::model::ReplicationGroup)]) {
    let status = Family::<Labels, Gauge>::default();
    let shards = Family::<Labels, Gauge>::default();
    let nodes = Family::<Labels, Gauge>::default();
    let pending = Family::<Labels, Gauge>::default();
    for (l, g) in groups {
        let mut with_status = l.clone();
        with_status.push(("status", g.status.as_str().to_string()));
        status.get_or_create(&with_status).set(1);
        shards.get_or_create(l).set(g.shards.len() as i64);
        nodes.get_or_create(l).set(g.members().count() as i64);
        pending.get_or_create(l).set(pending_count(g));
    }
    r.register(
        "cacheplane_replication_group_status",
        "1 for the group's current status",
        status,
    );
    r.register(
        "cacheplane_replication_group_shards",
        "Shards (node groups) of the group",
        shards,
    );
    r.register(
        "cacheplane_replication_group_nodes",
        "Nodes of the group",
        nodes,
    );
    r.register(
        "cacheplane_replication_group_pending_modifications",
        "Modifications of the group waiting to be applied (PendingModifiedValues)",
        pending,
    );
}

/// Registers the figures kept as they happen: failovers, switchovers, API requests, reconciler steps, log delivery.
fn register_kept(r: &mut Registry, m: &Metrics, f: &Figures) {
    r.register(
        "cacheplane_replication_group_failovers",
        "Failovers of a primary: kind automatic (it failed) or test (TestFailover)",
        f.failovers.clone(),
    );
    r.register(
        "cacheplane_replication_group_failover_gap_seconds",
        "From a primary's failure (or TestFailover) until its successor took writes",
        f.failover_gap.clone(),
    );
    r.register(
        "cacheplane_replication_group_switchovers",
        "Planned changes of primary",
        f.switchovers.clone(),
    );
    r.register(
        "cacheplane_api_requests",
        "API requests by action and result code (OK or the AWS error code)",
        m.api_requests.clone(),
    );
    r.register(
        "cacheplane_api_request_duration_seconds",
        "API request latency by action",
        m.api_duration.clone(),
    );
    r.register(
        "cacheplane_reconciler_steps",
        "Reconciler steps by kind of resource",
        m.steps.clone(),
    );
    r.register(
        "cacheplane_reconciler_failed_steps",
        "Reconciler steps that failed (retried with backoff)",
        m.failed_steps.clone(),
    );
    r.register(
        "cacheplane_reconciler_step_duration_seconds",
        "Reconciler step durations by kind of resource",
        m.step_duration.clone(),
    );
    r.register(
        "cacheplane_reconciler_waiting_steps",
        "Steps waiting for one of the reconciler's concurrent slots",
        m.waiting_steps.clone(),
    );
    r.register(
        "cacheplane_log_delivery_records",
        "Log records delivered (slow log, engine log) by destination type",
        m.delivered.clone(),
    );
}
