//! What survives a restart, behind one interface: [`Store`]. Every mutation is one call, hence one transaction: a
//! record with the events it causes. The embedded SQLite store ([`sqlite::SqliteStore`], one file in the data
//! directory, the default) and the PostgreSQL store ([`pg::PgStore`], for several daemons on one state) implement it
//! and pass one contract suite; the delivered CloudWatch logs are in a database of their own ([`logs`]). All SQL of
//! the project is under this folder.

pub mod lease;
pub mod logs;
pub mod pg;
pub mod shared_files;
pub mod sqlite;
mod suite;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::model::{
    Event, NewEvent, ReplicationGroup, Snapshot, StandaloneCluster, User, UserGroup,
};

pub use pg::PgStore;
pub use sqlite::{SqliteStore, EVENT_RETENTION_DAYS, SCHEMA_VERSION};

/// The file of the embedded store in a data directory.
pub const SQLITE_FILE: &str = "cacheplane.sqlite3";

/// Where a deployment keeps its state: the embedded SQLite file of its data directory (the default), or
/// PostgreSQL (`--store postgresql://…`, shared by several daemons).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreAt {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl std::fmt::Debug for StoreAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreAt::Sqlite(p) => write!(f, "{}", p.display()),
            // A URL may hold a password: only what follows it.
            StoreAt::Postgres(url) => write!(f, "PostgreSQL at {}", pg::shown_url(url)),
        }
    }
}

impl StoreAt {
    /// `--store` as given (`None`: the SQLite file of `data_dir`). A value that is no PostgreSQL connection
    /// string is refused with what to give.
    pub fn new(data_dir: &std::path::Path, given: Option<&str>) -> Result<Self> {
        let Some(url) = given.filter(|u| !u.trim().is_empty()) else {
            return Ok(StoreAt::Sqlite(data_dir.join(SQLITE_FILE)));
        };
        let looks =
            url.starts_with("postgresql://") || url.starts_with("postgres://") || url.contains('=');
        if !looks || url.parse::<postgres::Config>().is_err() {
            return Err(crate::error::ControlError::InvalidParameterValue(format!(
                "--store {} is not a PostgreSQL connection string: give postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE \
                 (or libpq's key=value form), or leave --store out for the embedded store in the data directory",
                pg::shown_url(url)
            )));
        }
        Ok(StoreAt::Postgres(url.to_string()))
    }

    /// Opens the store, creating it when missing.
    pub fn open(&self) -> Result<Box<dyn Store>> {
        Ok(match self {
            StoreAt::Sqlite(p) => Box::new(SqliteStore::open(p)?),
            StoreAt::Postgres(url) => Box::new(PgStore::open(url)?),
        })
    }

    /// Opens a store some daemon already made (for the tools beside the daemon): a data directory without its
    /// SQLite file is refused with what to run first.
    pub fn open_existing(&self, data_dir: &std::path::Path) -> Result<Box<dyn Store>> {
        if let StoreAt::Sqlite(p) = self {
            if !p.exists() {
                return Err(crate::error::ControlError::InvalidParameterValue(format!(
                    "{} holds no Cacheplane state (run `cacheplane serve --data-dir {}` first).",
                    data_dir.display(),
                    data_dir.display()
                )));
            }
        }
        self.open()
    }

    /// Whether several daemons may share this store.
    pub fn shared(&self) -> bool {
        matches!(self, StoreAt::Postgres(_))
    }
}

/// The groups loaded, refused when one has no shard (which no version writes): every workflow relies on one.
fn with_shards(groups: Vec<ReplicationGroup>) -> Result<Vec<ReplicationGroup>> {
    if let Some(g) = groups.iter().find(|g| g.shards.is_empty()) {
        return Err(crate::error::ControlError::Internal(format!(
            "replication group {} is stored without a node group",
            g.id
        )));
    }
    Ok(groups)
}

/// One change of users, user groups and the replication groups they reach, written in one transaction.
#[derive(Debug, Default)]
pub struct AccessChange<'a> {
    pub users: Vec<&'a User>,
    pub deleted_users: Vec<&'a str>,
    pub user_groups: Vec<&'a UserGroup>,
    pub deleted_user_groups: Vec<&'a str>,
    pub replication_groups: Vec<&'a ReplicationGroup>,
}

/// Filters of `DescribeEvents`, already resolved to a time range.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub source_type: Option<String>,
    pub source_id: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub after_seq: i64,
    pub limit: usize,
}

/// A document as the store now holds it (`None`: deleted), changed by some daemon after a point of the change log.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    Group(String, Option<Box<ReplicationGroup>>),
    Standalone(String, Option<Box<StandaloneCluster>>),
    Memcached(String, Option<Box<crate::model::MemcachedCluster>>),
    User(String, Option<Box<User>>),
    UserGroup(String, Option<Box<UserGroup>>),
    Snapshot(String, Option<Box<Snapshot>>),
    SubnetGroup(String, Option<Box<crate::model::SubnetGroup>>),
    Host(String, Option<Box<crate::model::Host>>),
    ParameterGroup(String, Option<Box<crate::model::ParameterGroup>>),
}

/// What a daemon must learn to be current: the documents changed after the point it had seen, and the point it is
/// at once it has applied them.
#[derive(Debug, Clone, PartialEq)]
pub enum Catchup {
    /// These documents changed; apply them and remember `seen`.
    Changes { seen: i64, changed: Vec<Changed> },
    /// The log no longer reaches back to the point given: load everything again, then remember `seen`.
    Reload { seen: i64 },
}

impl Catchup {
    /// Nothing changed since `seen`.
    pub fn none(seen: i64) -> Self {
        Catchup::Changes {
            seen,
            changed: Vec::new(),
        }
    }

    pub fn seen(&self) -> i64 {
        match self {
            Catchup::Changes { seen, .. } | Catchup::Reload { seen } => *seen,
        }
    }
}

/// The store of the control plane: loads everything at start, and writes each change with its events in one
/// transaction.
///
/// Several daemons may share one store (PostgreSQL): each keeps the documents in memory, and learns what the others
/// changed from the store's change log ([`Store::catch_up`]). A commit ([`Store::begin_commit`] …
/// [`Store::end_commit`]) is serialised with every other daemon's and is one transaction. A store only one daemon
/// opens (SQLite) has nothing to catch up with, and each of its writes is its own transaction.
pub trait Store: Send + std::fmt::Debug {
    /// The lease that elects the leader of the daemons sharing this store, and fences its commits (`None`: a store
    /// only one daemon opens, which always leads).
    fn lease(&self) -> Option<lease::Lease> {
        None
    }

    /// The newest point of the change log (0 for a store only one daemon opens): what a daemon has seen once it
    /// has loaded everything after asking.
    fn log_head(&self) -> Result<i64> {
        Ok(0)
    }

    /// The documents other daemons changed after `seen` (a point of the change log; 0 before any).
    fn catch_up(&self, seen: i64) -> Result<Catchup> {
        Ok(Catchup::none(seen))
    }

    /// Begins a commit: waits for every other daemon's to end, then answers what changed after `seen`. The writes
    /// until [`Store::end_commit`] are one transaction.
    fn begin_commit(&mut self, seen: i64) -> Result<Catchup> {
        Ok(Catchup::none(seen))
    }

    /// Ends the commit begun last keeping none of its writes (a store where each write was its own transaction
    /// keeps them: the caller loads the state again).
    fn abort_commit(&mut self) {}

    /// Ends the commit begun last, keeping its writes; the point of the change log it leaves this daemon at (its
    /// own changes included). An error: nothing of the commit was kept.
    fn end_commit(&mut self, seen: i64) -> Result<i64> {
        Ok(seen)
    }

    /// Forgets events older than `before`; returns how many.
    fn prune_events(&mut self, before: DateTime<Utc>) -> Result<usize>;

    /// Every group; a group without a shard (which no version writes) is refused, as every workflow relies on one.
    fn load_groups(&self) -> Result<Vec<ReplicationGroup>>;

    fn load_snapshots(&self) -> Result<Vec<Snapshot>>;

    /// Writes snapshots (and removes `deleted`), with the group `g` when given, and `events`, in one
    /// transaction.
    fn put_snapshots(
        &mut self,
        snapshots: &[&Snapshot],
        deleted: &[&str],
        g: Option<&ReplicationGroup>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    fn load_users(&self) -> Result<Vec<User>>;

    fn load_user_groups(&self) -> Result<Vec<UserGroup>>;

    /// Writes `change` with `events` in one transaction.
    fn put_access(
        &mut self,
        change: &AccessChange<'_>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    fn load_subnet_groups(&self) -> Result<Vec<crate::model::SubnetGroup>>;

    /// Writes a subnet group, with its first tags (at `arn`) when it is new, in one transaction.
    fn put_subnet_group(
        &mut self,
        g: &crate::model::SubnetGroup,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<()>;

    /// Removes a subnet group and its tags in one transaction.
    fn delete_subnet_group(&mut self, name: &str, arn: &str) -> Result<()>;

    fn load_parameter_groups(&self) -> Result<Vec<crate::model::ParameterGroup>>;

    /// Writes a parameter group, with its first tags (at `arn`) when it is new, the replication groups whose nodes'
    /// parameters it changed, and `events`, in one transaction.
    fn put_parameter_group(
        &mut self,
        pg: &crate::model::ParameterGroup,
        arn: &str,
        tags: &[(String, String)],
        groups: &[ReplicationGroup],
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// Removes a parameter group and its tags in one transaction.
    fn delete_parameter_group(&mut self, name: &str, arn: &str) -> Result<()>;

    fn load_standalone(&self) -> Result<Vec<StandaloneCluster>>;

    fn load_memcached(&self) -> Result<Vec<crate::model::MemcachedCluster>>;

    /// Writes a Memcached cluster's document and its events in one transaction.
    fn put_memcached(
        &mut self,
        c: &crate::model::MemcachedCluster,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// Removes a Memcached cluster, its tags (at `arn`) and writes its events, in one transaction.
    fn remove_memcached(
        &mut self,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// Writes a group's document and its events in one transaction.
    fn put_group(
        &mut self,
        g: &ReplicationGroup,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// Removes a group (and the tags of the ARNs given) with its events; optionally writes in its place `kept`
    /// (the vessel of a cluster it leaves behind, or the same group under a new id), all in one transaction.
    fn remove_group(
        &mut self,
        id: &str,
        arns: &[String],
        kept: Option<&ReplicationGroup>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// The times of the `TestFailover` calls since `since`, oldest first.
    fn test_failovers_since(&self, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>>;

    /// Records a `TestFailover` call together with the group's new state and its events; forgets calls older
    /// than `forget_before`.
    fn put_test_failover(
        &mut self,
        g: &ReplicationGroup,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// Writes a standalone cluster's document and its events in one transaction.
    fn put_standalone(
        &mut self,
        s: &StandaloneCluster,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;

    /// Events after `seq`, oldest first, at most `limit`.
    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<Event>>;

    /// The highest event sequence number so far (0 when there is none).
    fn max_event_seq(&self) -> Result<i64>;

    /// A named cursor (how far a consumer of events got).
    fn cursor(&self, name: &str) -> Result<Option<i64>>;

    fn set_cursor(&mut self, name: &str, seq: i64) -> Result<()>;

    /// Every host that joined.
    fn load_hosts(&self) -> Result<Vec<crate::model::Host>>;
    /// Writes the record of a host that joined.
    fn put_host(&mut self, h: &crate::model::Host) -> Result<()>;
    /// Records a join token by its SHA-256 (the token itself is never stored), good for one join until `expires`;
    /// tokens expired by `now` are forgotten in the same transaction.
    fn add_join_token(
        &mut self,
        token_sha256: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// The deployment's secret `name` (see [`shared_files`]), if one is kept. A store of one machine keeps none:
    /// its data directory is the deployment's.
    fn secret(&self, _name: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Keeps `value` as the deployment's secret `name` unless one is kept already, and answers the one kept (the
    /// first daemon's, when several start at once).
    fn keep_secret(&mut self, _name: &str, value: &str) -> Result<String> {
        Ok(value.to_string())
    }
    /// Whether `token_sha256` is a live join token (nothing used up).
    fn join_token_live(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Records host `h` when `token_sha256` is a live join token, using the token up, in one transaction; false
    /// (and nothing written) when it is not.
    fn join_host(
        &mut self,
        h: &crate::model::Host,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Records a console session by the SHA-256 of its id (the id itself is never stored), until `expires`; the
    /// sessions expired by `now` are forgotten in the same transaction.
    fn put_console_session(
        &mut self,
        id_sha256: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Whether the console session of this id hash exists and has not expired by `now`.
    fn console_session_live(&self, id_sha256: &str, now: DateTime<Utc>) -> Result<bool>;

    /// Ends one console session; returns whether it was there.
    fn end_console_session(&mut self, id_sha256: &str) -> Result<bool>;

    /// Ends every console session; returns how many were live at `now`.
    fn end_console_sessions(&mut self, now: DateTime<Utc>) -> Result<usize>;

    /// Removes the tags of `arns` (resources that are gone).
    fn remove_tags_of(&mut self, arns: &[String]) -> Result<()>;

    fn add_events(&mut self, now: DateTime<Utc>, events: &[NewEvent]) -> Result<()>;

    fn events(&self, q: &EventQuery) -> Result<Vec<Event>>;

    /// The tags of `arn` in the order they were first added (as AWS lists them; a new value keeps its place).
    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>>;

    /// Adds or replaces tags in one transaction.
    fn put_tags(&mut self, arn: &str, tags: &[(String, String)]) -> Result<()>;

    fn remove_tags(&mut self, arn: &str, keys: &[String]) -> Result<()>;

    fn remove_standalone(
        &mut self,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()>;
}
