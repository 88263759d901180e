//! The domain of Cacheplane: replication groups, their member clusters and nodes, events and tags; the AWS rules
//! that govern them; the store that keeps what must survive; and the reconciler that drives real `redis-server`
//! nodes (through `engine`) to what the user asked for.
//!
//! Actions validate against the current state, commit the new spec with its events in one store transaction
//! (`workflows::Step::commit`), wake the workers and return at once; they never talk to a node. An answer that
//! depends on what the nodes hold (a node type that must hold the data, keys only in database 0, an empty migration
//! target) waits for the group's worker to read its nodes afresh (`workflows::Step::fresh_primaries`). One
//! exception, documented where it is: `CompleteMigration` checks itself that the target caught up with the source,
//! since AWS answers `MigrationHealthFault` at once. Typed inputs and output shapes are the plain data types of
//! `wire::input` / `wire::output` (no HTTP or XML is touched here).

pub mod actions;
pub mod console;
pub mod error;
pub mod model;
pub mod rules;
pub mod runtime;
pub mod state;
pub mod status;
pub mod store;
pub mod workflows;

mod views;
pub use views::Resolution;

use crate::rules::capacity;
use crate::state::State;
use crate::store::logs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use engine::binary::EngineBinary;
use engine::secret::AdminCredentials;

pub use error::{ControlError, Result};

/// How the daemon is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// Where the state is kept (the data directory's SQLite file by default).
    pub store: store::StoreAt,
    pub region: String,
    pub account_id: String,
    /// Availability zone names nodes are spread across.
    pub availability_zones: Vec<String>,
    /// The engine binaries, newest first.
    pub binaries: Vec<EngineBinary>,
    /// How long a migration target's primary may take to start replicating from the source (link up, or a
    /// sync making progress) before the attempt counts as failed.
    pub migration_attempt_timeout: std::time::Duration,
    /// Manual snapshots this deployment keeps at most (`SnapshotQuotaExceededFault` beyond).
    pub snapshot_quota: usize,
    /// How many automatic failovers one shard may have in a window.
    pub failover_budget: FailoverBudget,
    /// The commands every registered engine build's ACL knows (access rules naming others are refused).
    pub acl_vocabulary: engine::vocabulary::AclVocabulary,
    /// The memory this daemon's nodes may hold in all (`--memory-limit`); `None`: whatever the machine has.
    pub memory_limit: Option<u64>,
    /// `--dns-zone`: endpoints are names under it ([`rules::endpoint_names`]); `None`: addresses.
    pub dns_zone: Option<String>,
}

/// The policy that bounds automatic failovers: at most `count` for one shard (node group) within any `window`.
/// Past it, a failed primary is restarted in place (a dead one from its data; a hung one killed first, after
/// [`workflows::REPLACE_HUNG_AFTER`]) and an event says why. Kept in memory: a daemon restart starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverBudget {
    pub count: u32,
    pub window: std::time::Duration,
}

impl Settings {
    /// The default zones of a region: `<region>a`, `b`, `c`.
    pub fn default_zones(region: &str) -> Vec<String> {
        ["a", "b", "c"]
            .iter()
            .map(|s| format!("{region}{s}"))
            .collect()
    }

    pub fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:{kind}:{name}",
            self.region, self.account_id
        )
    }

    /// The binary of `engine` at exactly `version`.
    pub(crate) fn binary_for(&self, engine: &str, version: &str) -> Option<&EngineBinary> {
        self.binaries
            .iter()
            .find(|b| b.engine == engine && b.version == version)
    }

    /// The engine a request names (`redis` when none), lower-cased; `InvalidParameterValue` for a name AWS does not
    /// know, or one no registered binary runs.
    pub(crate) fn engine_named(&self, given: Option<&str>) -> Result<String> {
        let engine = given.unwrap_or(engine::binary::REDIS).to_ascii_lowercase();
        if !["redis", "valkey", "memcached"].contains(&engine.as_str()) {
            return Err(error::invalid(format!(
                "Invalid Engine '{}': the engine must be redis, valkey or memcached.",
                rules::shown(&engine)
            )));
        }
        if !self.binaries.iter().any(|b| b.engine == engine) {
            return Err(error::invalid(format!(
                "Engine {engine} is not available here: no {engine} binary is registered. Engines available: {}.",
                self.engines().join(", ")
            )));
        }
        Ok(engine)
    }

    /// The engines some registered binary runs.
    pub(crate) fn engines(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.binaries.iter().map(|b| b.engine.as_str()).collect();
        names.dedup();
        names
    }

    /// The newest registered binary of `engine`.
    pub(crate) fn newest(&self, engine: &str) -> Result<&EngineBinary> {
        self.binaries
            .iter()
            .filter(|b| b.engine == engine)
            .max_by(|a, b| rules::versions::version_cmp(&a.version, &b.version))
            .ok_or_else(|| ControlError::Internal(format!("no {engine} binary is registered")))
    }

    /// The registered binary of `engine` a requested `EngineVersion` names: `7.0`, `7.0.15` or `6.x` match the
    /// newest binary whose version starts with those parts. `InvalidParameterValue` listing the available ones
    /// otherwise.
    pub(crate) fn resolve_version(&self, engine: &str, requested: &str) -> Result<&EngineBinary> {
        let wanted: Vec<&str> = requested.split('.').filter(|p| *p != "x").collect();
        // `6.2` (or `6.x`) means the newest registered 6.2.
        self.binaries
            .iter()
            .filter(|b| b.engine == engine)
            .filter(|b| {
                let have: Vec<&str> = b.version.split('.').collect();
                !wanted.is_empty()
                    && wanted.len() <= have.len()
                    && wanted.iter().zip(&have).all(|(w, h)| w == h)
            })
            .max_by(|a, b| rules::versions::version_cmp(&a.version, &b.version))
            .ok_or_else(|| {
                error::invalid(format!(
                    "Engine version {} is not available for {engine}. Available versions: {}.",
                    rules::shown(requested),
                    self.binaries
                        .iter()
                        .filter(|b| b.engine == engine)
                        .map(|b| b.version.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

pub(crate) struct Inner {
    /// What workflows work with (settings, nodes, state, endpoints); the fields of [`workflows::Core`] read
    /// through `Inner` as its own.
    pub step: workflows::Step,
    pub admin: AdminCredentials,
    /// The delivered logs served through the CloudWatch Logs API (a database of their own, on a thread of its
    /// own).
    pub logs: logs::LogStoreThread,
    pub observed: Arc<runtime::observe::Observations>,
    pub monitor: Arc<runtime::monitor::Monitor>,
    pub metrics: runtime::metrics::Metrics,
    /// The host CA: it signs the certificates of host agents that join.
    pub hosts_ca: engine::tls::Authority,
}

impl std::ops::Deref for Inner {
    type Target = workflows::Core;
    fn deref(&self) -> &workflows::Core {
        &self.step.inner
    }
}

/// The control plane of one daemon. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Control({})", self.inner.settings.data_dir.display())
    }
}

/// The control plane is the workflows' context and more: an action reaches a workflow's pure parts (a node's spec)
/// and the one way to change the state through it.
impl std::ops::Deref for Control {
    type Target = workflows::Step;
    fn deref(&self) -> &workflows::Step {
        &self.inner.step
    }
}

/// The one clock of the control plane.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

impl Control {
    /// Opens the store in `settings.data_dir` (creating it), loads the admin secret and every group. The data
    /// directory is made private first: 0700 directories and 0600 files, whatever an older version left.
    pub fn open(settings: Settings) -> Result<Self> {
        engine::private::create_dir(&settings.data_dir.join("nodes"))?;
        let fixed = engine::private::make_tree_private(&settings.data_dir)?;
        if fixed > 0 {
            tracing::info!(entries = fixed, dir = %settings.data_dir.display(), "made files of the data directory private (0700/0600)");
        }
        engine::private::prepare_socket_dir(&settings.data_dir)?;
        let mut store = settings.store.open()?;
        let machines = if settings.store.shared() {
            store::shared_files::share_control_secrets(&mut *store, &settings.data_dir)?;
            Some(store::shared_files::Machines::learn(
                &mut *store,
                &settings.data_dir,
            )?)
        } else {
            None
        };
        let admin = engine::secret::load_or_create(&settings.data_dir.join("admin.secret"))?;
        let tls = Arc::new(engine::tls::Authority::load_or_create(
            &model::node_ca_dir(&settings.data_dir),
        )?);
        let settings_shared = settings.store.shared();
        let log_store = logs::LogStore::open(
            &settings.data_dir.join("logs.sqlite3"),
            &settings.region,
            &settings.account_id,
        )?;
        let (state, parameter_groups) = State::load(store)?;
        let observed = Arc::new(runtime::observe::Observations::default());
        let monitor = Arc::new(runtime::monitor::Monitor::default());
        let local = runtime::nodes::LocalNodes {
            admin: admin.clone(),
            observed: observed.clone(),
            monitor: monitor.clone(),
        };
        // The host CA signs the agents' certificates and the control plane's own towards them.
        let hosts_ca = engine::tls::Authority::load_or_create(&settings.data_dir.join("hosts"))?;
        let channel = runtime::hosts::Channel {
            ca: hosts_ca.ca_pem()?,
            identity: hosts_ca.control_identity(&settings.data_dir.join("hosts"))?,
        };
        let generation = Arc::new(std::sync::atomic::AtomicI64::new(i64::from(
            !settings_shared,
        )));
        let engines = settings
            .binaries
            .iter()
            .map(|b| (b.path.clone(), b.engine.clone()))
            .collect();
        let nodes = runtime::hosts::HostNodes::new(
            local,
            channel,
            tls.clone(),
            generation.clone(),
            engines,
        );
        let names = settings.dns_zone.as_deref().map(|zone| {
            rules::endpoint_names::EndpointNames::new(zone, &settings.account_id, &settings.region)
        });
        let step = workflows::Step::new(workflows::Core {
            names,
            settings,
            tls,
            nodes: Arc::new(nodes),
            state: Mutex::new(state),
            parameter_groups: Mutex::new(parameter_groups),
            endpoints: workflows::Endpoints::default(),
            wake: tokio::sync::Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            leads: std::sync::atomic::AtomicBool::new(!settings_shared),
            generation,
            figures: Default::default(),
            caught_up: Default::default(),
            dns_caught_up: Default::default(),
        });
        if machines == Some(store::shared_files::Machines::Elsewhere) {
            // In a commit: serialised with any commit that would add nodes off hosts, which then sees the record.
            step.commit(|tx| {
                let off_hosts = tx.nodes_off_hosts();
                store::shared_files::Machines::join_elsewhere(
                    &mut *tx.store,
                    &step.inner.settings.data_dir,
                    off_hosts,
                )
            })?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                step,
                admin,
                logs: logs::LogStoreThread::start(log_store).map_err(|e| {
                    ControlError::Internal(format!("cannot start the log store's thread: {e}"))
                })?,
                observed,
                monitor,
                metrics: runtime::metrics::Metrics::default(),
                hosts_ca,
            }),
        })
    }

    /// This daemon leads from now on, under `generation`: it runs the workers (a daemon on a shared store, once
    /// elected).
    pub fn set_leading(&self, generation: i64) {
        self.inner
            .generation
            .store(generation, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .leads
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// What this machine can give new nodes now. Its nodes are the processes running in its own node directories
    /// (a node on a host is a process of another machine: its pid means nothing here).
    pub fn host_memory(&self) -> capacity::HostMemory {
        let nodes = self.inner.settings.data_dir.join("nodes");
        capacity::HostMemory {
            available: engine::process::memory_available(),
            limit: self.inner.settings.memory_limit,
            used_by_nodes: self
                .inner
                .observed
                .pids()
                .into_iter()
                .filter(|pid| engine::process::runs_in(*pid, &nodes))
                .filter_map(engine::process::resident_bytes)
                .sum(),
        }
    }

    /// What member `m`'s node holds now (its resident memory, on its host or here); `None` when not known.
    pub(crate) fn resident_of(&self, m: &model::Member) -> Option<u64> {
        let pid = self.inner.observed.get(&m.cluster_id)?.pid?;
        self.nodes().resident_bytes(m.host.as_ref(), pid)
    }

    /// Refuses `nodes` new nodes of `data_bytes` each that cannot be held where they go: on the hosts (when
    /// `on_hosts` and hosts joined), by the room their agents reported; else on this machine.
    pub(crate) fn check_capacity(
        &self,
        st: &State,
        on_hosts: bool,
        nodes: usize,
        data_bytes: u64,
    ) -> Result<()> {
        if on_hosts && !st.hosts.is_empty() {
            // A live host that has not reported yet could take any node: nothing to refuse.
            let rooms: Option<Vec<(String, u64)>> = st
                .hosts
                .values()
                .filter(|h| h.lost.is_none())
                .map(|h| Some((h.name.clone(), h.room?)))
                .collect();
            return capacity::check_hosts(nodes, data_bytes, &rooms.unwrap_or_default())
                .map_err(ControlError::InsufficientCacheClusterCapacity);
        }
        capacity::check(nodes, data_bytes, &self.host_memory())
            .map_err(ControlError::InsufficientCacheClusterCapacity)
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The CA bundle that TLS clients trust (every node's certificate is signed by it).
    pub fn ca_bundle(&self) -> &std::path::Path {
        self.inner.tls.bundle()
    }

    /// Wakes the reconciler now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }
}
