//! The store in PostgreSQL (`--store postgresql://…`), for several daemons on one state (see
//! `docs/design/multi-host.md`).
//!
//! The tables and their meaning are the SQLite store's: groups, clusters, users, snapshots, subnet and parameter
//! groups as JSON documents keyed by id, events and tags as rows. Every write of the [`Store`] trait is one
//! transaction. The synchronous `postgres` client drives a runtime of its own, which must not run inside the
//! daemon's tokio workers, so the connection lives on a thread of its own and each call is one request to it (the
//! log store's pattern); a lost connection is made again at the next call.

use std::sync::{mpsc, Arc};

use chrono::{DateTime, Utc};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls};

use super::lease::{Fence, Lease};
use super::{AccessChange, Catchup, Changed, EventQuery, Store};
use crate::error::{ControlError, Result};
use crate::model::{
    Event, NewEvent, ReplicationGroup, Snapshot, StandaloneCluster, User, UserGroup,
};

/// The version of the layout this build writes (the same numbering as [`super::SCHEMA_VERSION`]).
pub const PG_SCHEMA_VERSION: i64 = 2;

/// The tables, created when missing. A store is created at version [`PG_SCHEMA_VERSION`]: no PostgreSQL store was
/// ever written with an older layout.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cacheplane_schema (version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS replication_groups (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS standalone_clusters (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memcached_clusters (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq BIGSERIAL PRIMARY KEY,
    date_ms BIGINT NOT NULL,
    source_type TEXT NOT NULL,
    source_id TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_date ON events (date_ms);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    pos BIGSERIAL,
    PRIMARY KEY (arn, key)
);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_groups (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subnet_groups (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parameter_groups (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS test_failovers (date_ms BIGINT NOT NULL, replication_group_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS console_sessions (id_sha256 TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS join_tokens (token_sha256 TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE SEQUENCE IF NOT EXISTS changes_seq;
CREATE TABLE IF NOT EXISTS changes (
    tbl TEXT NOT NULL,
    id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    PRIMARY KEY (tbl, id)
);
CREATE INDEX IF NOT EXISTS changes_by_seq ON changes (seq);
CREATE TABLE IF NOT EXISTS changes_horizon (seq BIGINT NOT NULL);
";

/// The advisory lock every write of documents takes, in its transaction: commits of all daemons are serialised, so
/// the change log's order is the order of commits, and a check made inside a commit holds until it ends.
const COMMIT_LOCK: i64 = 0x6361_6368_6570_6c62;

/// The change log keeps the entries of deleted documents for this many later changes; a daemon further behind
/// loads everything again.
const KEPT_DELETIONS: i64 = 10_000;

/// How often (in commits) the deletions past [`KEPT_DELETIONS`] are forgotten.
const PRUNE_EVERY: u64 = 256;

/// The document tables, with their key column, as the change log names them.
const DOC_TABLES: [(&str, &str); 9] = [
    ("replication_groups", "id"),
    ("standalone_clusters", "id"),
    ("memcached_clusters", "id"),
    ("users", "id"),
    ("user_groups", "id"),
    ("snapshots", "name"),
    ("subnet_groups", "name"),
    ("parameter_groups", "name"),
    ("hosts", "name"),
];

/// The advisory lock that serialises the creation of the schema by daemons starting at once.
const SCHEMA_LOCK: i64 = 0x6361_6368_6570_6c61; // "cachepla"

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn pg(e: postgres::Error) -> ControlError {
    ControlError::Internal(format!("PostgreSQL store: {e}"))
}

/// One change inside a write's transaction. Table and column names are this module's constants, never input.
enum Op {
    PutDoc {
        table: &'static str,
        key: &'static str,
        id: String,
        doc: String,
    },
    DeleteDoc {
        table: &'static str,
        key: &'static str,
        id: String,
    },
    PutTags {
        arn: String,
        tags: Vec<(String, String)>,
    },
    DeleteTags {
        arn: String,
    },
    DeleteTagKeys {
        arn: String,
        keys: Vec<String>,
    },
    Events {
        at: i64,
        events: Vec<NewEvent>,
    },
    TestFailover {
        at: i64,
        group: String,
        forget_before: i64,
    },
}

impl Op {
    fn doc(
        table: &'static str,
        key: &'static str,
        id: &str,
        doc: &impl serde::Serialize,
    ) -> Result<Op> {
        Ok(Op::PutDoc {
            table,
            key,
            id: id.to_string(),
            doc: serde_json::to_string(doc)?,
        })
    }

    /// A cluster's document gone with its tags, and its events.
    fn removal(
        table: &'static str,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Vec<Op> {
        vec![
            Op::delete(table, "id", id),
            Op::DeleteTags {
                arn: arn.to_string(),
            },
            Op::events(now, events),
        ]
    }

    fn delete(table: &'static str, key: &'static str, id: &str) -> Op {
        Op::DeleteDoc {
            table,
            key,
            id: id.to_string(),
        }
    }

    fn events(now: DateTime<Utc>, events: &[NewEvent]) -> Op {
        Op::Events {
            at: ms(now),
            events: events.to_vec(),
        }
    }

    fn is_doc(&self) -> bool {
        matches!(self, Op::PutDoc { .. } | Op::DeleteDoc { .. })
    }

    fn apply(self, tx: &mut impl GenericClient) -> std::result::Result<(), postgres::Error> {
        match self {
            Op::PutDoc {
                table,
                key,
                id,
                doc,
            } => {
                tx.execute(
                    &format!(
                        "INSERT INTO {table} ({key}, doc) VALUES ($1, $2) \
                         ON CONFLICT ({key}) DO UPDATE SET doc = excluded.doc"
                    ),
                    &[&id, &doc],
                )?;
                log_change(tx, table, &id, false)?;
            }
            Op::DeleteDoc { table, key, id } => {
                tx.execute(&format!("DELETE FROM {table} WHERE {key} = $1"), &[&id])?;
                log_change(tx, table, &id, true)?;
            }
            Op::PutTags { arn, tags } => {
                for (k, v) in &tags {
                    tx.execute(
                        "INSERT INTO tags (arn, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
                        &[&arn, k, v],
                    )?;
                }
            }
            Op::DeleteTags { arn } => {
                tx.execute("DELETE FROM tags WHERE arn = $1", &[&arn])?;
            }
            Op::DeleteTagKeys { arn, keys } => {
                for k in &keys {
                    tx.execute("DELETE FROM tags WHERE arn = $1 AND key = $2", &[&arn, k])?;
                }
            }
            Op::Events { at, events } => {
                let st = tx.prepare(
                    "INSERT INTO events (date_ms, source_type, source_id, message) VALUES ($1, $2, $3, $4)",
                )?;
                for e in &events {
                    tx.execute(&st, &[&at, &e.source_type, &e.source_id, &e.message])?;
                }
            }
            Op::TestFailover {
                at,
                group,
                forget_before,
            } => {
                tx.execute(
                    "INSERT INTO test_failovers (date_ms, replication_group_id) VALUES ($1, $2)",
                    &[&at, &group],
                )?;
                tx.execute(
                    "DELETE FROM test_failovers WHERE date_ms <= $1",
                    &[&forget_before],
                )?;
            }
        }
        Ok(())
    }
}

/// Records in the change log that a document changed (the entry of a document is its latest change).
fn log_change(
    tx: &mut impl GenericClient,
    table: &str,
    id: &str,
    deleted: bool,
) -> std::result::Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO changes (tbl, id, seq, deleted) VALUES ($1, $2, nextval('changes_seq'), $3) \
         ON CONFLICT (tbl, id) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted",
        &[&table, &id, &deleted],
    )?;
    // Delivered at the commit, once per transaction however many documents it changed.
    tx.execute(&format!("NOTIFY {}", super::lease::CHANGES_CHANNEL), &[])?;
    Ok(())
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The connection, made again when it was lost (outside a commit: a commit whose connection is lost is lost).
struct Connection {
    url: String,
    client: Option<Client>,
    /// The change log's query ([`CHANGES`]), prepared once per connection: every read asks it.
    changes: Option<postgres::Statement>,
    /// A commit's transaction is open on the connection.
    in_commit: bool,
    /// A statement of the open commit failed: PostgreSQL keeps nothing of it.
    failed: bool,
    commits: u64,
}

impl Connection {
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            if self.in_commit {
                self.failed = true;
                return Err(ControlError::Internal(
                    "PostgreSQL store: the connection was lost during a commit".into(),
                ));
            }
            self.client = Some(connect(&self.url)?);
            self.changes = None;
        }
        self.client
            .as_mut()
            .ok_or_else(|| ControlError::Internal("PostgreSQL store: no connection".into()))
    }

    /// The connection, and the change log's query prepared on it.
    fn with_changes(&mut self) -> Result<(&mut Client, postgres::Statement)> {
        // Connected (again) first: a new connection forgets the statement.
        self.client()?;
        let c = self
            .client
            .as_mut()
            .ok_or_else(|| ControlError::Internal("PostgreSQL store: no connection".into()))?;
        let stmt = match &self.changes {
            Some(s) => s.clone(),
            None => {
                let s = c.prepare(CHANGES).map_err(pg)?;
                self.changes = Some(s.clone());
                s
            }
        };
        Ok((c, stmt))
    }
}

/// How long a connection may take to be made.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection with the store's session settings:
/// - read committed, whatever the database's default (a commit reads what committed while it waited for the lock);
/// - a daemon stopped in the middle of a commit holds the commit lock for at most
///   `idle_in_transaction_session_timeout` (its session is ended, and the lock with it);
/// - a commit waits for the lock at most `lock_timeout` (and fails, changing nothing);
/// - TCP keepalives find a peer that vanished.
fn connect(url: &str) -> Result<Client> {
    let mut config: postgres::Config = url.parse().map_err(pg)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(std::time::Duration::from_secs(5));
    let mut c = config.connect(NoTls).map_err(pg)?;
    c.batch_execute(
        "SET default_transaction_isolation = 'read committed'; \
         SET idle_in_transaction_session_timeout = '5s'; \
         SET lock_timeout = '15s'",
    )
    .map_err(pg)?;
    Ok(c)
}

/// The PostgreSQL store.
pub struct PgStore {
    jobs: mpsc::Sender<Job>,
    url: String,
    fence: Arc<Fence>,
}

/// A connection string as it may be shown: a URL without what precedes its `@` (user and password), a key=value
/// string without its password.
pub fn shown_url(url: &str) -> String {
    if url.contains("://") {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let at = rest.rsplit_once('@').map_or(rest, |(_, at)| at);
        format!("{scheme}://{at}")
    } else {
        url.split_whitespace()
            .filter(|kv| !kv.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgStore({})", shown_url(&self.url))
    }
}

impl PgStore {
    /// Connects to the database at `url` (a `postgresql://` URL or a `key=value` string), creating the tables
    /// when missing and refusing a store written by a newer Cacheplane.
    pub fn open(url: &str) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut conn = Connection {
            url: url.to_string(),
            client: None,
            changes: None,
            in_commit: false,
            failed: false,
            commits: 0,
        };
        // The client connects on the store's thread (its runtime cannot start on one of the daemon's), at the first
        // request below: a wrong URL is an error of `open`.
        std::thread::Builder::new()
            .name("pg-store".into())
            .spawn(move || {
                for job in queue {
                    // A job that panics fails its own call only (its answer's sender is dropped).
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|e| {
                ControlError::Internal(format!("cannot start the PostgreSQL store's thread: {e}"))
            })?;
        let store = PgStore {
            jobs,
            url: url.to_string(),
            fence: Arc::new(Fence::new()),
        };
        store.call(|c| {
            let mut tx = c.transaction().map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .map_err(pg)?;
            // "already exists, skipping" is no news at every start.
            tx.batch_execute("SET LOCAL client_min_messages = warning")
                .map_err(pg)?;
            tx.batch_execute(SCHEMA).map_err(pg)?;
            tx.batch_execute(super::lease::SCHEMA).map_err(pg)?;
            let version: Option<i64> = tx
                .query_opt("SELECT max(version) FROM cacheplane_schema", &[])
                .map_err(pg)?
                .and_then(|r| r.get(0));
            match version {
                Some(v) if v > PG_SCHEMA_VERSION => {
                    return Err(ControlError::Internal(format!(
                        "the PostgreSQL store was written by a newer Cacheplane (store version {v}; this one knows up \
                         to {PG_SCHEMA_VERSION}): run that version, or a newer one, on this store"
                    )))
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO cacheplane_schema (version) VALUES ($1)",
                        &[&PG_SCHEMA_VERSION],
                    )
                    .map_err(pg)?;
                }
            }
            tx.commit().map_err(pg)
        })?;
        Ok(store)
    }

    /// Runs `f` with the client on the store's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.call_conn(move |conn| conn.client().and_then(f))
    }

    /// Runs `f` with the connection on the store's thread and waits for its answer.
    fn call_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.jobs.send(job).map_err(|_| {
            ControlError::Internal("the PostgreSQL store's thread has ended".into())
        })?;
        rx.recv()
            .map_err(|_| ControlError::Internal("the PostgreSQL store's thread has ended".into()))?
    }

    /// Applies `ops` inside the open commit, or in a transaction of their own (serialised with commits when they
    /// change documents).
    fn write(&self, ops: Vec<Op>) -> Result<()> {
        self.call_conn(move |conn| {
            if conn.in_commit {
                let c = conn.client()?;
                let r = ops.into_iter().try_for_each(|op| op.apply(c));
                if r.is_err() {
                    conn.failed = true;
                }
                return r.map_err(pg);
            }
            let docs = ops.iter().any(Op::is_doc);
            let mut tx = conn.client()?.transaction().map_err(pg)?;
            if docs {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])
                    .map_err(pg)?;
            }
            for op in ops {
                op.apply(&mut tx).map_err(pg)?;
            }
            tx.commit().map_err(pg)
        })
    }

    /// Runs `f` in a transaction of its own; refused inside a commit (whose transaction it would end).
    fn own_transaction<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.call_conn(move |conn| {
            if conn.in_commit {
                return Err(ControlError::Internal(
                    "PostgreSQL store: a write of its own was asked inside a commit".into(),
                ));
            }
            let mut tx = conn.client()?.transaction().map_err(pg)?;
            let out = f(&mut tx)?;
            tx.commit().map_err(pg)?;
            Ok(out)
        })
    }

    /// Every document of `table` (keyed by `key`), in key order.
    fn load_docs<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        key: &'static str,
    ) -> Result<Vec<T>> {
        let docs: Vec<String> = self.call(move |c| {
            Ok(
                c.query(&format!("SELECT doc FROM {table} ORDER BY {key}"), &[])
                    .map_err(pg)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect(),
            )
        })?;
        docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
    }

    /// One query's rows, each read by `row`.
    fn rows<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Sync + Send>>,
        row: fn(&postgres::Row) -> T,
    ) -> Result<Vec<T>> {
        self.call(move |c| {
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            Ok(c.query(sql, &refs).map_err(pg)?.iter().map(row).collect())
        })
    }

    /// One statement outside any other; the rows it changed.
    fn execute(&self, sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) -> Result<u64> {
        self.call(move |c| {
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            c.execute(sql, &refs).map_err(pg)
        })
    }
}

/// The documents changed after `seen`, read on `c` (inside a commit's transaction, or alone).
/// What the change log holds after a point (`$1`), and whether the forgotten part of it reaches past that point.
const CHANGES: &str = "SELECT tbl, id, seq FROM changes WHERE seq > $1 \
                       UNION ALL SELECT NULL, NULL, seq FROM changes_horizon WHERE seq > $1";

fn changes_after(
    c: &mut impl GenericClient,
    query: &postgres::Statement,
    seen: i64,
) -> Result<Catchup> {
    let rows = c.query(query, &[&seen]).map_err(pg)?;
    let mut at = seen;
    let mut listed = Vec::new();
    for r in &rows {
        let (tbl, id): (Option<String>, Option<String>) = (r.get(0), r.get(1));
        match (tbl, id) {
            (Some(tbl), Some(id)) => {
                at = at.max(r.get::<_, i64>(2));
                listed.push((tbl, id));
            }
            // A deletion after `seen` was forgotten: only a full load is sure to be right.
            _ => return Ok(Catchup::Reload { seen: log_head(c)? }),
        }
    }
    let mut changed = Vec::with_capacity(listed.len());
    for (tbl, id) in listed {
        let Some((table, key)) = DOC_TABLES.iter().find(|(t, _)| *t == tbl) else {
            return Err(ControlError::Internal(format!(
                "the change log names a table this Cacheplane does not know: {tbl}"
            )));
        };
        let doc: Option<String> = c
            .query_opt(&format!("SELECT doc FROM {table} WHERE {key} = $1"), &[&id])
            .map_err(pg)?
            .map(|r| r.get(0));
        changed.push(changed_of(table, id, doc.as_deref())?);
    }
    Ok(Catchup::Changes { seen: at, changed })
}

/// A daemon that led commits only while it still leads under the same generation: one whose lease passed to
/// another (it was paused, or cut off from the store) changes nothing more. At a commit's end (`at_end`), the lease
/// must also not have expired by the database's clock.
fn check_fence(c: &mut impl GenericClient, fence: &Fence, at_end: bool) -> Result<()> {
    let generation = fence.generation();
    if generation == 0 {
        return Ok(());
    }
    let holds = c
        .query_opt(
            "SELECT 1 FROM leader WHERE id = 1 AND holder = $1 AND generation = $2 \
             AND (NOT $3 OR expires_at > clock_timestamp())",
            &[&fence.holder, &generation, &at_end],
        )
        .map_err(pg)?
        .is_some();
    if holds {
        Ok(())
    } else {
        Err(ControlError::Internal(format!(
            "this daemon no longer leads under generation {generation} (succeeded, or its lease expired): it \
             changes nothing more"
        )))
    }
}

/// The newest point of the change log.
fn log_head(c: &mut impl GenericClient) -> Result<i64> {
    Ok(c.query_one(
        "SELECT GREATEST((SELECT COALESCE(max(seq), 0) FROM changes), \
         (SELECT COALESCE(max(seq), 0) FROM changes_horizon))",
        &[],
    )
    .map_err(pg)?
    .get(0))
}

/// Forgets the entries of documents deleted more than [`KEPT_DELETIONS`] changes ago, and remembers up to where.
fn prune_changes(c: &mut impl GenericClient, kept: i64) -> Result<()> {
    let gone = c
        .query_one(
            "WITH gone AS (DELETE FROM changes WHERE deleted AND seq <= \
             (SELECT COALESCE(max(seq), 0) FROM changes) - $1 RETURNING seq) SELECT max(seq) FROM gone",
            &[&kept],
        )
        .map_err(pg)?
        .get::<_, Option<i64>>(0);
    if let Some(upto) = gone {
        c.execute("DELETE FROM changes_horizon", &[]).map_err(pg)?;
        c.execute("INSERT INTO changes_horizon (seq) VALUES ($1)", &[&upto])
            .map_err(pg)?;
    }
    Ok(())
}

/// A document of the change log as the store holds it now.
fn changed_of(table: &str, id: String, doc: Option<&str>) -> Result<Changed> {
    fn parse<T: serde::de::DeserializeOwned>(doc: Option<&str>) -> Result<Option<Box<T>>> {
        Ok(match doc {
            Some(d) => Some(Box::new(serde_json::from_str(d)?)),
            None => None,
        })
    }
    Ok(match table {
        "replication_groups" => Changed::Group(id, parse(doc)?),
        "standalone_clusters" => Changed::Standalone(id, parse(doc)?),
        "memcached_clusters" => Changed::Memcached(id, parse(doc)?),
        "users" => Changed::User(id, parse(doc)?),
        "user_groups" => Changed::UserGroup(id, parse(doc)?),
        "snapshots" => Changed::Snapshot(id, parse(doc)?),
        "subnet_groups" => Changed::SubnetGroup(id, parse(doc)?),
        "hosts" => Changed::Host(id, parse(doc)?),
        _ => Changed::ParameterGroup(id, parse(doc)?),
    })
}

fn event_of(r: &postgres::Row) -> Event {
    Event {
        seq: r.get(0),
        date: DateTime::<Utc>::from_timestamp_millis(r.get(1)).unwrap_or_default(),
        source_type: r.get(2),
        source_id: r.get(3),
        message: r.get(4),
    }
}

impl Store for PgStore {
    fn lease(&self) -> Option<Lease> {
        Some(Lease::new(&self.url, self.fence.clone()))
    }

    fn log_head(&self) -> Result<i64> {
        self.call(log_head)
    }

    fn catch_up(&self, seen: i64) -> Result<Catchup> {
        self.call_conn(move |conn| {
            if conn.in_commit {
                return Err(ControlError::Internal(
                    "PostgreSQL store: a catch-up was asked inside a commit".into(),
                ));
            }
            let (c, query) = conn.with_changes()?;
            changes_after(c, &query, seen)
        })
    }

    fn begin_commit(&mut self, seen: i64) -> Result<Catchup> {
        let fence = self.fence.clone();
        self.call_conn(move |conn| {
            if conn.in_commit {
                return Err(ControlError::Internal(
                    "PostgreSQL store: a commit was begun inside another".into(),
                ));
            }
            let (c, query) = conn.with_changes()?;
            c.batch_execute("BEGIN").map_err(pg)?;
            let caught = c
                .execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])
                .map_err(pg)
                .and_then(|_| check_fence(c, &fence, false))
                .and_then(|_| changes_after(c, &query, seen));
            match caught {
                Ok(caught) => {
                    conn.in_commit = true;
                    conn.failed = false;
                    Ok(caught)
                }
                Err(e) => {
                    let _ = c.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    fn abort_commit(&mut self) {
        let _ = self.call_conn(|conn| {
            if conn.in_commit {
                if let Some(c) = conn.client.as_mut() {
                    let _ = c.batch_execute("ROLLBACK");
                }
            }
            conn.in_commit = false;
            conn.failed = false;
            Ok(())
        });
    }

    fn end_commit(&mut self, _seen: i64) -> Result<i64> {
        let fence = self.fence.clone();
        self.call_conn(move |conn| {
            if !conn.in_commit {
                return Err(ControlError::Internal(
                    "PostgreSQL store: no commit is open".into(),
                ));
            }
            let failed = conn.failed;
            conn.commits += 1;
            let prune = conn.commits % PRUNE_EVERY == 0;
            let out = conn.client().and_then(|c| {
                if failed {
                    let _ = c.batch_execute("ROLLBACK");
                    return Err(ControlError::Internal(
                        "PostgreSQL store: a write of the commit failed, so nothing of it was kept"
                            .into(),
                    ));
                }
                if prune {
                    // In a savepoint: a failed prune costs nothing of the commit.
                    c.batch_execute("SAVEPOINT prune").map_err(pg)?;
                    match prune_changes(c, KEPT_DELETIONS) {
                        Ok(()) => c.batch_execute("RELEASE SAVEPOINT prune").map_err(pg)?,
                        Err(e) => {
                            tracing::warn!(error = %e, "pruning the change log failed; the next prune tries again");
                            c.batch_execute("ROLLBACK TO SAVEPOINT prune").map_err(pg)?;
                        }
                    }
                }
                // A leader's commit lands only while its lease holds, by the database's clock.
                check_fence(c, &fence, true)?;
                let head = log_head(c)?;
                c.batch_execute("COMMIT").map_err(pg)?;
                Ok(head)
            });
            if out.is_err() {
                if let Some(c) = conn.client.as_mut() {
                    let _ = c.batch_execute("ROLLBACK");
                }
            }
            conn.in_commit = false;
            conn.failed = false;
            out
        })
    }

    fn prune_events(&mut self, before: DateTime<Utc>) -> Result<usize> {
        Ok(self.execute(
            "DELETE FROM events WHERE date_ms < $1",
            vec![Box::new(ms(before))],
        )? as usize)
    }

    fn load_groups(&self) -> Result<Vec<ReplicationGroup>> {
        super::with_shards(self.load_docs("replication_groups", "id")?)
    }

    fn load_snapshots(&self) -> Result<Vec<Snapshot>> {
        self.load_docs("snapshots", "name")
    }

    fn put_snapshots(
        &mut self,
        snapshots: &[&Snapshot],
        deleted: &[&str],
        g: Option<&ReplicationGroup>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let mut ops = Vec::new();
        for s in snapshots {
            ops.push(Op::doc("snapshots", "name", &s.name, s)?);
        }
        for name in deleted {
            ops.push(Op::delete("snapshots", "name", name));
        }
        if let Some(g) = g {
            ops.push(Op::doc("replication_groups", "id", &g.id, g)?);
        }
        ops.push(Op::events(now, events));
        self.write(ops)
    }

    fn load_users(&self) -> Result<Vec<User>> {
        self.load_docs("users", "id")
    }

    fn load_user_groups(&self) -> Result<Vec<UserGroup>> {
        self.load_docs("user_groups", "id")
    }

    fn put_access(
        &mut self,
        change: &AccessChange<'_>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let mut ops = Vec::new();
        for u in &change.users {
            ops.push(Op::doc("users", "id", &u.id, u)?);
        }
        for id in &change.deleted_users {
            ops.push(Op::delete("users", "id", id));
        }
        for g in &change.user_groups {
            ops.push(Op::doc("user_groups", "id", &g.id, g)?);
        }
        for id in &change.deleted_user_groups {
            ops.push(Op::delete("user_groups", "id", id));
        }
        for g in &change.replication_groups {
            ops.push(Op::doc("replication_groups", "id", &g.id, g)?);
        }
        ops.push(Op::events(now, events));
        self.write(ops)
    }

    fn load_subnet_groups(&self) -> Result<Vec<crate::model::SubnetGroup>> {
        self.load_docs("subnet_groups", "name")
    }

    fn put_subnet_group(
        &mut self,
        g: &crate::model::SubnetGroup,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        self.write(vec![
            Op::doc("subnet_groups", "name", &g.name, g)?,
            Op::PutTags {
                arn: arn.to_string(),
                tags: tags.to_vec(),
            },
        ])
    }

    fn delete_subnet_group(&mut self, name: &str, arn: &str) -> Result<()> {
        self.write(vec![
            Op::delete("subnet_groups", "name", name),
            Op::DeleteTags {
                arn: arn.to_string(),
            },
        ])
    }

    fn load_parameter_groups(&self) -> Result<Vec<crate::model::ParameterGroup>> {
        self.load_docs("parameter_groups", "name")
    }

    fn put_parameter_group(
        &mut self,
        pg: &crate::model::ParameterGroup,
        arn: &str,
        tags: &[(String, String)],
        groups: &[ReplicationGroup],
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let mut ops = vec![
            Op::doc("parameter_groups", "name", &pg.name, pg)?,
            Op::PutTags {
                arn: arn.to_string(),
                tags: tags.to_vec(),
            },
        ];
        for g in groups {
            ops.push(Op::doc("replication_groups", "id", &g.id, g)?);
        }
        ops.push(Op::events(now, events));
        self.write(ops)
    }

    fn delete_parameter_group(&mut self, name: &str, arn: &str) -> Result<()> {
        self.write(vec![
            Op::delete("parameter_groups", "name", name),
            Op::DeleteTags {
                arn: arn.to_string(),
            },
        ])
    }

    fn load_standalone(&self) -> Result<Vec<StandaloneCluster>> {
        self.load_docs("standalone_clusters", "id")
    }

    fn load_memcached(&self) -> Result<Vec<crate::model::MemcachedCluster>> {
        self.load_docs("memcached_clusters", "id")
    }

    fn put_memcached(
        &mut self,
        c: &crate::model::MemcachedCluster,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        self.write(vec![
            Op::doc("memcached_clusters", "id", &c.id, c)?,
            Op::events(now, events),
        ])
    }

    fn remove_memcached(
        &mut self,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        self.write(Op::removal("memcached_clusters", id, arn, now, events))
    }

    fn put_group(
        &mut self,
        g: &ReplicationGroup,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let events: Vec<NewEvent> = if g.standalone {
            events.iter().map(NewEvent::of_vessel).collect()
        } else {
            events.to_vec()
        };
        self.write(vec![
            Op::doc("replication_groups", "id", &g.id, g)?,
            Op::events(now, &events),
        ])
    }

    fn remove_group(
        &mut self,
        id: &str,
        arns: &[String],
        kept: Option<&ReplicationGroup>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let mut ops = vec![Op::delete("replication_groups", "id", id)];
        for a in arns {
            ops.push(Op::DeleteTags { arn: a.clone() });
        }
        if let Some(g) = kept {
            ops.push(Op::doc("replication_groups", "id", &g.id, g)?);
        }
        ops.push(Op::events(now, events));
        self.write(ops)
    }

    fn test_failovers_since(&self, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        let times = self.rows(
            "SELECT date_ms FROM test_failovers WHERE date_ms > $1 ORDER BY date_ms",
            vec![Box::new(ms(since))],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(times
            .into_iter()
            .filter_map(DateTime::<Utc>::from_timestamp_millis)
            .collect())
    }

    fn put_test_failover(
        &mut self,
        g: &ReplicationGroup,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        self.write(vec![
            Op::doc("replication_groups", "id", &g.id, g)?,
            Op::TestFailover {
                at: ms(now),
                group: g.id.clone(),
                forget_before: ms(forget_before),
            },
            Op::events(now, events),
        ])
    }

    fn put_standalone(
        &mut self,
        s: &StandaloneCluster,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        self.write(vec![
            Op::doc("standalone_clusters", "id", &s.member.cluster_id, s)?,
            Op::events(now, events),
        ])
    }

    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<Event>> {
        self.rows(
            "SELECT seq, date_ms, source_type, source_id, message FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            vec![Box::new(seq), Box::new(limit as i64)],
            event_of,
        )
    }

    fn max_event_seq(&self) -> Result<i64> {
        let v = self.rows("SELECT COALESCE(MAX(seq), 0) FROM events", vec![], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(v.first().copied().unwrap_or(0))
    }

    fn cursor(&self, name: &str) -> Result<Option<i64>> {
        let v = self.rows(
            "SELECT seq FROM cursors WHERE name = $1",
            vec![Box::new(name.to_string())],
            |r| r.get::<_, i64>(0),
        )?;
        Ok(v.first().copied())
    }

    fn set_cursor(&mut self, name: &str, seq: i64) -> Result<()> {
        self.execute(
            "INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            vec![Box::new(name.to_string()), Box::new(seq)],
        )?;
        Ok(())
    }

    fn load_hosts(&self) -> Result<Vec<crate::model::Host>> {
        self.load_docs("hosts", "name")
    }

    fn put_host(&mut self, h: &crate::model::Host) -> Result<()> {
        self.write(vec![Op::doc("hosts", "name", &h.name, h)?])
    }

    fn add_join_token(
        &mut self,
        token_sha256: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (id, expires, now) = (token_sha256.to_string(), ms(expires), ms(now));
        self.own_transaction(move |tx| {
            tx.execute("DELETE FROM join_tokens WHERE expires_ms <= $1", &[&now])
                .map_err(pg)?;
            tx.execute(
                "INSERT INTO join_tokens (token_sha256, expires_ms) VALUES ($1, $2)",
                &[&id, &expires],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn secret(&self, name: &str) -> Result<Option<String>> {
        let name = name.to_string();
        self.call(move |c| {
            Ok(
                c.query_opt("SELECT value FROM secrets WHERE name = $1", &[&name])
                    .map_err(pg)?
                    .map(|r| r.get(0)),
            )
        })
    }

    fn keep_secret(&mut self, name: &str, value: &str) -> Result<String> {
        let (name, value) = (name.to_string(), value.to_string());
        fn keep(
            c: &mut impl GenericClient,
            name: &str,
            value: &str,
        ) -> std::result::Result<String, postgres::Error> {
            c.execute(
                "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )?;
            Ok(
                c.query_one("SELECT value FROM secrets WHERE name = $1", &[&name])?
                    .get(0),
            )
        }
        // Inside a commit it is one of its writes (serialised with every daemon's commits); else a transaction of
        // its own.
        self.call_conn(move |conn| {
            if conn.in_commit {
                let r = keep(conn.client()?, &name, &value);
                if r.is_err() {
                    conn.failed = true;
                }
                return r.map_err(pg);
            }
            let mut tx = conn.client()?.transaction().map_err(pg)?;
            let kept = keep(&mut tx, &name, &value).map_err(pg)?;
            tx.commit().map_err(pg)?;
            Ok(kept)
        })
    }

    fn join_token_live(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<bool> {
        let (id, now) = (token_sha256.to_string(), ms(now));
        self.call_conn(move |conn| {
            let n: i64 = conn
                .client()?
                .query_one(
                    "SELECT count(*) FROM join_tokens WHERE token_sha256 = $1 AND expires_ms > $2",
                    &[&id, &now],
                )
                .map_err(pg)?
                .get(0);
            Ok(n > 0)
        })
    }

    fn join_host(
        &mut self,
        h: &crate::model::Host,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (id, now) = (token_sha256.to_string(), ms(now));
        let host = Op::doc("hosts", "name", &h.name, h)?;
        // The token used up and the host recorded in one transaction: the commit's, or one of their own.
        fn join(
            c: &mut impl GenericClient,
            id: &str,
            now: i64,
            host: Op,
        ) -> std::result::Result<bool, postgres::Error> {
            let used: i64 = c
                .query_one(
                    "WITH used AS (DELETE FROM join_tokens WHERE token_sha256 = $1 AND expires_ms > $2 RETURNING 1)
                     SELECT count(*) FROM used",
                    &[&id, &now],
                )?
                .get(0);
            if used == 0 {
                return Ok(false);
            }
            host.apply(c)?;
            Ok(true)
        }
        self.call_conn(move |conn| {
            if conn.in_commit {
                let r = join(conn.client()?, &id, now, host);
                if r.is_err() {
                    conn.failed = true;
                }
                return r.map_err(pg);
            }
            let mut tx = conn.client()?.transaction().map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&COMMIT_LOCK])
                .map_err(pg)?;
            let joined = join(&mut tx, &id, now, host).map_err(pg)?;
            tx.commit().map_err(pg)?;
            Ok(joined)
        })
    }

    fn put_console_session(
        &mut self,
        id_sha256: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (id, expires, now) = (id_sha256.to_string(), ms(expires), ms(now));
        self.own_transaction(move |tx| {
            tx.execute(
                "DELETE FROM console_sessions WHERE expires_ms <= $1",
                &[&now],
            )
            .map_err(pg)?;
            tx.execute(
                "INSERT INTO console_sessions (id_sha256, expires_ms) VALUES ($1, $2)",
                &[&id, &expires],
            )
            .map_err(pg)?;
            Ok(())
        })
    }

    fn console_session_live(&self, id_sha256: &str, now: DateTime<Utc>) -> Result<bool> {
        let v = self.rows(
            "SELECT 1 FROM console_sessions WHERE id_sha256 = $1 AND expires_ms > $2",
            vec![Box::new(id_sha256.to_string()), Box::new(ms(now))],
            |_| (),
        )?;
        Ok(!v.is_empty())
    }

    fn end_console_session(&mut self, id_sha256: &str) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM console_sessions WHERE id_sha256 = $1",
            vec![Box::new(id_sha256.to_string())],
        )? > 0)
    }

    fn end_console_sessions(&mut self, now: DateTime<Utc>) -> Result<usize> {
        let now = ms(now);
        self.own_transaction(move |tx| {
            let live: i64 = tx
                .query_one(
                    "SELECT count(*) FROM console_sessions WHERE expires_ms > $1",
                    &[&now],
                )
                .map_err(pg)?
                .get(0);
            tx.execute("DELETE FROM console_sessions", &[])
                .map_err(pg)?;
            Ok(live as usize)
        })
    }

    fn remove_tags_of(&mut self, arns: &[String]) -> Result<()> {
        self.write(
            arns.iter()
                .map(|a| Op::DeleteTags { arn: a.clone() })
                .collect(),
        )
    }

    fn add_events(&mut self, now: DateTime<Utc>, events: &[NewEvent]) -> Result<()> {
        self.write(vec![Op::events(now, events)])
    }

    fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        self.rows(
            "SELECT seq, date_ms, source_type, source_id, message FROM events
             WHERE date_ms >= $1 AND date_ms <= $2 AND seq > $3
               AND ($4::TEXT IS NULL OR source_type = $4) AND ($5::TEXT IS NULL OR source_id = $5)
             ORDER BY seq LIMIT $6",
            vec![
                Box::new(ms(q.start)),
                Box::new(ms(q.end)),
                Box::new(q.after_seq),
                Box::new(q.source_type.clone()),
                Box::new(q.source_id.clone()),
                Box::new(q.limit as i64),
            ],
            event_of,
        )
    }

    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        self.rows(
            "SELECT key, value FROM tags WHERE arn = $1 ORDER BY pos",
            vec![Box::new(arn.to_string())],
            |r| (r.get(0), r.get(1)),
        )
    }

    fn put_tags(&mut self, arn: &str, tags: &[(String, String)]) -> Result<()> {
        self.write(vec![Op::PutTags {
            arn: arn.to_string(),
            tags: tags.to_vec(),
        }])
    }

    fn remove_tags(&mut self, arn: &str, keys: &[String]) -> Result<()> {
        self.write(vec![Op::DeleteTagKeys {
            arn: arn.to_string(),
            keys: keys.to_vec(),
        }])
    }

    fn remove_standalone(
        &mut self,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        self.write(Op::removal("standalone_clusters", id, arn, now, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testpg::TestPostgres;

    #[test]
    fn the_postgresql_store_keeps_the_contract() {
        let server = TestPostgres::start();
        let url = server.database("contract");
        let mut s = PgStore::open(&url).expect("open");
        crate::store::suite::run(&mut s);
        // A second daemon opening the same store finds it as written, and a store of a newer version is refused.
        let again = PgStore::open(&url).expect("open again");
        assert!(again.load_groups().expect("load").is_empty());
        again
            .execute(
                "INSERT INTO cacheplane_schema (version) VALUES (99)",
                vec![],
            )
            .expect("newer");
        let e = PgStore::open(&url).expect_err("newer refused");
        assert!(e.to_string().contains("newer Cacheplane"), "{e}");
    }

    fn group(id: &str, description: &str) -> ReplicationGroup {
        let mut g = crate::actions::modify::tests::sample_group();
        g.id = id.into();
        g.description = description.into();
        g
    }

    #[test]
    fn daemons_learn_each_others_changes_and_commit_one_at_a_time() {
        let server = TestPostgres::start();
        let url = server.database("log");
        let mut a = PgStore::open(&url).expect("open a");
        let mut b = PgStore::open(&url).expect("open b");
        let t = Utc::now();
        let mut seen = b.log_head().expect("head");
        assert_eq!(b.catch_up(seen).expect("nothing yet"), Catchup::none(seen));

        // A write of a is what b catches up with, once.
        let g = group("one", "first");
        a.put_group(&g, t, &[]).expect("put");
        let Catchup::Changes { seen: s, changed } = b.catch_up(seen).expect("catch up") else {
            panic!("a change, not a reload")
        };
        assert_eq!(
            changed,
            vec![Changed::Group("one".into(), Some(Box::new(g.clone())))]
        );
        assert!(s > seen);
        seen = s;
        assert_eq!(b.catch_up(seen).expect("again"), Catchup::none(seen));

        // A commit of a holds b's commit back until it ends; b's then sees a's write first.
        let head_a = a.log_head().expect("head");
        assert_eq!(
            a.begin_commit(head_a).expect("begin a"),
            Catchup::none(head_a)
        );
        let waiting = std::thread::spawn(move || {
            let caught = b.begin_commit(seen).expect("begin b");
            let head = b.end_commit(seen).expect("end b");
            (b, caught, head)
        });
        let watcher = PgStore::open(&url).expect("watcher");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while watcher
            .rows(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
                vec![],
                |_| (),
            )
            .expect("activity")
            .is_empty()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "b's commit never waited"
            );
            std::thread::yield_now();
        }
        let g2 = group("one", "second");
        a.put_group(&g2, t, &[]).expect("put in commit");
        let after_a = a.end_commit(head_a).expect("end a");
        assert!(after_a > head_a);
        let (b, caught, head_b) = waiting.join().expect("b");
        assert_eq!(
            caught,
            Catchup::Changes {
                seen: after_a,
                changed: vec![Changed::Group("one".into(), Some(Box::new(g2)))]
            }
        );
        assert_eq!(head_b, after_a, "b wrote nothing");

        // A deletion is caught up as such; one forgotten past what b saw means a full load.
        let mut a = a;
        a.remove_group("one", &[], None, t, &[]).expect("remove");
        let caught = b.catch_up(after_a).expect("deleted");
        assert_eq!(
            caught,
            Catchup::Changes {
                seen: a.log_head().expect("head"),
                changed: vec![Changed::Group("one".into(), None)]
            }
        );
        // Forgetting every deletion (none kept) moves the horizon past what b saw.
        a.call(|c| prune_changes(c, 0)).expect("prune");
        assert!(matches!(
            b.catch_up(after_a).expect("reload"),
            Catchup::Reload { .. }
        ));
        let head = a.log_head().expect("head");
        assert_eq!(b.catch_up(head).expect("current"), Catchup::none(head));
    }

    #[test]
    fn one_daemon_leads_at_a_time_and_one_succeeded_commits_nothing_more() {
        let server = TestPostgres::start();
        let url = server.database("lease");
        let mut a = PgStore::open(&url).expect("open a");
        let b = PgStore::open(&url).expect("open b");
        let (mut la, mut lb) = (a.lease().expect("lease"), b.lease().expect("lease"));
        let ttl = std::time::Duration::from_secs(30);
        let first = la.try_lead(ttl, ttl).expect("a asks").expect("a leads");
        assert_eq!(lb.try_lead(ttl, ttl).expect("b asks"), None, "b follows");
        assert_eq!(
            la.try_lead(ttl, ttl).expect("renew"),
            Some(first),
            "a renews"
        );
        // a leads: its commits land.
        let head = a.log_head().expect("head");
        a.begin_commit(head).expect("a commits while it leads");
        a.put_group(&group("led", "by a"), Utc::now(), &[])
            .expect("put");
        a.end_commit(head).expect("end");
        // The lease passes to b (a released it, as a stopping daemon does): a higher generation, and a commit of
        // a is refused from then on, whatever a believes.
        la.release();
        let next = lb.try_lead(ttl, ttl).expect("b asks").expect("b leads");
        assert!(next > first);
        let head = a.log_head().expect("head");
        let e = a.begin_commit(head).expect_err("a is fenced");
        assert!(e.to_string().contains("no longer leads"), "{e}");
        assert!(b.load_groups().expect("load").len() == 1);
    }

    #[test]
    fn a_wrong_url_is_an_error_of_open() {
        let e = PgStore::open(
            "host=/nonexistent-cacheplane-socket-dir user=nobody dbname=x connect_timeout=2",
        )
        .expect_err("no server");
        assert!(e.to_string().contains("PostgreSQL store"), "{e}");
    }
}
