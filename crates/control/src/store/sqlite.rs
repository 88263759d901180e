//! The store in SQLite (the default: one file in the data directory).
//!
//! Groups and standalone clusters are stored as JSON documents keyed by id (their shape is the domain model),
//! events and tags as rows. Every API mutation is one transaction: the new spec together with its events.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{AccessChange, EventQuery, Store};
use crate::error::Result;
use crate::model::{
    Event, NewEvent, ReplicationGroup, Snapshot, StandaloneCluster, User, UserGroup,
};

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS replication_groups (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS standalone_clusters (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memcached_clusters (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    date_ms INTEGER NOT NULL,
    source_type TEXT NOT NULL,
    source_id TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_date ON events (date_ms);
CREATE TABLE IF NOT EXISTS tags (arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_groups (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subnet_groups (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parameter_groups (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS test_failovers (date_ms INTEGER NOT NULL, replication_group_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS console_sessions (id_sha256 TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS join_tokens (token_sha256 TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL);
";

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The version of the store's layout, kept in SQLite's `user_version`. 1 is [`SCHEMA`]; a store written before
/// versions were kept reads 0 and has the same tables. 2: a group's members live in its shards.
pub const SCHEMA_VERSION: i64 = 2;

/// `MIGRATIONS[i]` takes a store from version `i + 1` to `i + 2`, in the transaction that records the new version.
const MIGRATIONS: &[&str] = &[
    // 1 → 2: a group's one node group becomes its first shard, `0001`, with the members, the primary, and the
    // failover, switchover and replicas being added that were the group's.
    "UPDATE replication_groups SET doc = json_set(
        json_remove(doc, '$.primary_cluster_id', '$.members', '$.failover', '$.switchover_to', '$.adding'),
        '$.shards', json_array(json_object(
            'id', '0001',
            'slots', json_array(),
            'primary_cluster_id', json_extract(doc, '$.primary_cluster_id'),
            'members', json(coalesce(json_extract(doc, '$.members'), '[]')),
            'failover', json_extract(doc, '$.failover'),
            'switchover_to', json_extract(doc, '$.switchover_to'),
            'adding', json(coalesce(json_extract(doc, '$.adding'), '[]'))
        )))
     WHERE json_type(doc, '$.shards') IS NULL;",
];

/// How long events are kept (AWS: "events … over the past 14 days").
pub const EVENT_RETENTION_DAYS: i64 = 14;

impl SqliteStore {
    /// Every document of `table` (keyed by `key`), in key order. Table and column names are this module's own
    /// constants, never input.
    fn load_docs<T: serde::de::DeserializeOwned>(&self, table: &str, key: &str) -> Result<Vec<T>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT doc FROM {table} ORDER BY {key}"))?;
        let docs = st
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
    }

    /// Writes one document of `table`, replacing the one of the same key.
    fn put_doc(
        tx: &rusqlite::Transaction<'_>,
        table: &str,
        key: &str,
        id: &str,
        doc: &impl serde::Serialize,
    ) -> Result<()> {
        tx.execute(
            &format!(
                "INSERT INTO {table} ({key}, doc) VALUES (?1, ?2) ON CONFLICT({key}) DO UPDATE SET doc = excluded.doc"
            ),
            params![id, serde_json::to_string(doc)?],
        )?;
        Ok(())
    }

    fn delete_doc(tx: &rusqlite::Transaction<'_>, table: &str, key: &str, id: &str) -> Result<()> {
        tx.execute(
            &format!("DELETE FROM {table} WHERE {key} = ?1"),
            params![id],
        )?;
        Ok(())
    }

    fn insert_tags(
        tx: &rusqlite::Transaction<'_>,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        for (k, v) in tags {
            tx.execute(
                "INSERT INTO tags (arn, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
                params![arn, k, v],
            )?;
        }
        Ok(())
    }

    /// Removes the document `name` of `table` and the tags at `arn` in one transaction.
    fn delete_named(&mut self, table: &str, name: &str, arn: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::delete_doc(&tx, table, "name", name)?;
        tx.execute("DELETE FROM tags WHERE arn = ?1", params![arn])?;
        tx.commit()?;
        Ok(())
    }

    fn insert_events(
        tx: &rusqlite::Transaction<'_>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let mut st = tx.prepare_cached(
            "INSERT INTO events (date_ms, source_type, source_id, message) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for e in events {
            st.execute(params![ms(now), e.source_type, e.source_id, e.message])?;
        }
        Ok(())
    }

    /// Opens (or creates) the store, bringing an older layout up to [`SCHEMA_VERSION`] and refusing a newer one.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        // The wait for a lock first: the daemon opens the store more than once (its state, the console's
        // sessions, `cacheplane console-logout-all` beside it), and setting the journal mode already needs one.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(crate::error::ControlError::Internal(format!(
                "{} was written by a newer Cacheplane (store version {version}; this one knows up to \
                 {SCHEMA_VERSION}): run that version, or a newer one, on this data directory",
                path.display()
            )));
        }
        // Immediate: the write lock is taken (waiting for it) at the start. A deferred transaction that reads the
        // schema and then writes fails at once, without waiting, when another connection wrote in between.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        for m in MIGRATIONS.iter().skip((version.max(1) - 1) as usize) {
            tx.execute_batch(m)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        tx.commit()?;
        Ok(Self { conn })
    }
}

impl Store for SqliteStore {
    /// Forgets events older than `before`; returns how many.
    fn prune_events(&mut self, before: DateTime<Utc>) -> Result<usize> {
        Ok(self
            .conn
            .execute("DELETE FROM events WHERE date_ms < ?1", params![ms(before)])?)
    }

    /// Every group; a group without a shard (which no version writes) is refused, as every workflow relies on one.
    fn load_groups(&self) -> Result<Vec<ReplicationGroup>> {
        super::with_shards(self.load_docs("replication_groups", "id")?)
    }

    fn load_snapshots(&self) -> Result<Vec<Snapshot>> {
        self.load_docs("snapshots", "name")
    }

    /// Writes snapshots (and removes `deleted`), with the group `g` when given, and `events`, in one
    /// transaction.
    fn put_snapshots(
        &mut self,
        snapshots: &[&Snapshot],
        deleted: &[&str],
        g: Option<&ReplicationGroup>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for s in snapshots {
            Self::put_doc(&tx, "snapshots", "name", &s.name, s)?;
        }
        for name in deleted {
            Self::delete_doc(&tx, "snapshots", "name", name)?;
        }
        if let Some(g) = g {
            Self::put_doc(&tx, "replication_groups", "id", &g.id, g)?;
        }
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    fn load_users(&self) -> Result<Vec<User>> {
        self.load_docs("users", "id")
    }

    fn load_user_groups(&self) -> Result<Vec<UserGroup>> {
        self.load_docs("user_groups", "id")
    }

    /// Writes `change` with `events` in one transaction.
    fn put_access(
        &mut self,
        change: &AccessChange<'_>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for u in &change.users {
            Self::put_doc(&tx, "users", "id", &u.id, u)?;
        }
        for id in &change.deleted_users {
            Self::delete_doc(&tx, "users", "id", id)?;
        }
        for g in &change.user_groups {
            Self::put_doc(&tx, "user_groups", "id", &g.id, g)?;
        }
        for id in &change.deleted_user_groups {
            Self::delete_doc(&tx, "user_groups", "id", id)?;
        }
        for g in &change.replication_groups {
            Self::put_doc(&tx, "replication_groups", "id", &g.id, g)?;
        }
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    fn load_subnet_groups(&self) -> Result<Vec<crate::model::SubnetGroup>> {
        self.load_docs("subnet_groups", "name")
    }

    /// Writes a subnet group, with its first tags (at `arn`) when it is new, in one transaction.
    fn put_subnet_group(
        &mut self,
        g: &crate::model::SubnetGroup,
        arn: &str,
        tags: &[(String, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, "subnet_groups", "name", &g.name, g)?;
        Self::insert_tags(&tx, arn, tags)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a subnet group and its tags in one transaction.
    fn delete_subnet_group(&mut self, name: &str, arn: &str) -> Result<()> {
        self.delete_named("subnet_groups", name, arn)
    }

    fn load_parameter_groups(&self) -> Result<Vec<crate::model::ParameterGroup>> {
        self.load_docs("parameter_groups", "name")
    }

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
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, "parameter_groups", "name", &pg.name, pg)?;
        Self::insert_tags(&tx, arn, tags)?;
        for g in groups {
            Self::put_doc(&tx, "replication_groups", "id", &g.id, g)?;
        }
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a parameter group and its tags in one transaction.
    fn delete_parameter_group(&mut self, name: &str, arn: &str) -> Result<()> {
        self.delete_named("parameter_groups", name, arn)
    }

    fn load_standalone(&self) -> Result<Vec<StandaloneCluster>> {
        self.load_docs("standalone_clusters", "id")
    }

    fn load_memcached(&self) -> Result<Vec<crate::model::MemcachedCluster>> {
        self.load_docs("memcached_clusters", "id")
    }

    /// Writes a Memcached cluster's document and its events in one transaction.
    fn put_memcached(
        &mut self,
        c: &crate::model::MemcachedCluster,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, "memcached_clusters", "id", &c.id, c)?;
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a Memcached cluster, its tags (at `arn`) and writes its events, in one transaction.
    fn remove_memcached(
        &mut self,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::delete_doc(&tx, "memcached_clusters", "id", id)?;
        tx.execute("DELETE FROM tags WHERE arn = ?1", params![arn])?;
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    /// Writes a group's document and its events in one transaction.
    fn put_group(
        &mut self,
        g: &ReplicationGroup,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, "replication_groups", "id", &g.id, g)?;
        if g.standalone {
            let events: Vec<NewEvent> = events.iter().map(NewEvent::of_vessel).collect();
            Self::insert_events(&tx, now, &events)?;
        } else {
            Self::insert_events(&tx, now, events)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a group (and the tags of the ARNs given) with its events; optionally writes in its place `kept`
    /// (the vessel of a cluster it leaves behind, or the same group under a new id), all in one transaction.
    fn remove_group(
        &mut self,
        id: &str,
        arns: &[String],
        kept: Option<&ReplicationGroup>,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM replication_groups WHERE id = ?1", params![id])?;
        for a in arns {
            tx.execute("DELETE FROM tags WHERE arn = ?1", params![a])?;
        }
        if let Some(g) = kept {
            Self::put_doc(&tx, "replication_groups", "id", &g.id, g)?;
        }
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    /// The times of the `TestFailover` calls since `since`, oldest first.
    fn test_failovers_since(&self, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>> {
        let mut st = self
            .conn
            .prepare("SELECT date_ms FROM test_failovers WHERE date_ms > ?1 ORDER BY date_ms")?;
        let rows = st.query_map(params![ms(since)], |r| r.get::<_, i64>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(DateTime::<Utc>::from_timestamp_millis(r?));
        }
        Ok(out)
    }

    /// Records a `TestFailover` call together with the group's new state and its events; forgets calls older
    /// than `forget_before`.
    fn put_test_failover(
        &mut self,
        g: &ReplicationGroup,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let doc = serde_json::to_string(g)?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE replication_groups SET doc = ?2 WHERE id = ?1",
            params![g.id, doc],
        )?;
        tx.execute(
            "INSERT INTO test_failovers (date_ms, replication_group_id) VALUES (?1, ?2)",
            params![ms(now), g.id],
        )?;
        tx.execute(
            "DELETE FROM test_failovers WHERE date_ms <= ?1",
            params![ms(forget_before)],
        )?;
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    /// Writes a standalone cluster's document and its events in one transaction.
    fn put_standalone(
        &mut self,
        s: &StandaloneCluster,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO standalone_clusters (id, doc) VALUES (?1, ?2)",
            params![s.member.cluster_id, serde_json::to_string(s)?],
        )?;
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    /// Events after `seq`, oldest first, at most `limit`.
    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, date_ms, source_type, source_id, message FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![seq, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (seq, date, source_type, source_id, message) = r?;
            out.push(Event {
                seq,
                date: DateTime::<Utc>::from_timestamp_millis(date).unwrap_or_default(),
                source_type,
                source_id,
                message,
            });
        }
        Ok(out)
    }

    /// The highest event sequence number so far (0 when there is none).
    fn max_event_seq(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)
    }

    /// A named cursor (how far a consumer of events got).
    fn cursor(&self, name: &str) -> Result<Option<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq FROM cursors WHERE name = ?1")?;
        let mut rows = st.query(params![name])?;
        Ok(match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        })
    }

    fn set_cursor(&mut self, name: &str, seq: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO cursors (name, seq) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
            params![name, seq],
        )?;
        Ok(())
    }

    /// Records a console session by the SHA-256 of its id (the id itself is never stored), until `expires`; the
    /// sessions expired by `now` are forgotten in the same transaction.
    fn load_hosts(&self) -> Result<Vec<crate::model::Host>> {
        self.load_docs("hosts", "name")
    }

    fn put_host(&mut self, h: &crate::model::Host) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::put_doc(&tx, "hosts", "name", &h.name, h)?;
        tx.commit()?;
        Ok(())
    }

    fn add_join_token(
        &mut self,
        token_sha256: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM join_tokens WHERE expires_ms <= ?1",
            params![ms(now)],
        )?;
        tx.execute(
            "INSERT INTO join_tokens (token_sha256, expires_ms) VALUES (?1, ?2)",
            params![token_sha256, ms(expires)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn join_token_live(&self, token_sha256: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM join_tokens WHERE token_sha256 = ?1 AND expires_ms > ?2",
            params![token_sha256, ms(now)],
            |r| r.get::<_, i64>(0),
        )? > 0)
    }

    fn join_host(
        &mut self,
        h: &crate::model::Host,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let used = tx.execute(
            "DELETE FROM join_tokens WHERE token_sha256 = ?1 AND expires_ms > ?2",
            params![token_sha256, ms(now)],
        )?;
        if used == 0 {
            return Ok(false);
        }
        Self::put_doc(&tx, "hosts", "name", &h.name, h)?;
        tx.commit()?;
        Ok(true)
    }

    fn put_console_session(
        &mut self,
        id_sha256: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM console_sessions WHERE expires_ms <= ?1",
            params![ms(now)],
        )?;
        tx.execute(
            "INSERT INTO console_sessions (id_sha256, expires_ms) VALUES (?1, ?2)",
            params![id_sha256, ms(expires)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Whether the console session of this id hash exists and has not expired by `now`.
    fn console_session_live(&self, id_sha256: &str, now: DateTime<Utc>) -> Result<bool> {
        let mut st = self.conn.prepare_cached(
            "SELECT 1 FROM console_sessions WHERE id_sha256 = ?1 AND expires_ms > ?2",
        )?;
        Ok(st.exists(params![id_sha256, ms(now)])?)
    }

    /// Ends one console session; returns whether it was there.
    fn end_console_session(&mut self, id_sha256: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM console_sessions WHERE id_sha256 = ?1",
            params![id_sha256],
        )? > 0)
    }

    /// Ends every console session; returns how many were live at `now`.
    fn end_console_sessions(&mut self, now: DateTime<Utc>) -> Result<usize> {
        // Immediate: it reads, then writes, beside a daemon that writes (see `open`).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let live = tx.query_row(
            "SELECT count(*) FROM console_sessions WHERE expires_ms > ?1",
            params![ms(now)],
            |r| r.get::<_, i64>(0),
        )?;
        tx.execute("DELETE FROM console_sessions", [])?;
        tx.commit()?;
        Ok(live as usize)
    }

    /// Removes the tags of `arns` (resources that are gone).
    fn remove_tags_of(&mut self, arns: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for a in arns {
            tx.execute("DELETE FROM tags WHERE arn = ?1", params![a])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn add_events(&mut self, now: DateTime<Utc>, events: &[NewEvent]) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }

    fn events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, date_ms, source_type, source_id, message FROM events
             WHERE date_ms >= ?1 AND date_ms <= ?2 AND seq > ?3
               AND (?4 IS NULL OR source_type = ?4) AND (?5 IS NULL OR source_id = ?5)
             ORDER BY seq LIMIT ?6",
        )?;
        let rows = st.query_map(
            params![
                ms(q.start),
                ms(q.end),
                q.after_seq,
                q.source_type,
                q.source_id,
                q.limit as i64
            ],
            |r| {
                Ok(Event {
                    seq: r.get(0)?,
                    date: DateTime::from_timestamp_millis(r.get(1)?).unwrap_or_default(),
                    source_type: r.get(2)?,
                    source_id: r.get(3)?,
                    message: r.get(4)?,
                })
            },
        )?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// The tags of `arn` in the order they were first added (as AWS lists them; a new value keeps its place).
    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT key, value FROM tags WHERE arn = ?1 ORDER BY rowid")?;
        let rows = st.query_map(params![arn], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Adds or replaces tags in one transaction.
    fn put_tags(&mut self, arn: &str, tags: &[(String, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::insert_tags(&tx, arn, tags)?;
        tx.commit()?;
        Ok(())
    }

    fn remove_tags(&mut self, arn: &str, keys: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for k in keys {
            tx.execute(
                "DELETE FROM tags WHERE arn = ?1 AND key = ?2",
                params![arn, k],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn remove_standalone(
        &mut self,
        id: &str,
        arn: &str,
        now: DateTime<Utc>,
        events: &[NewEvent],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM standalone_clusters WHERE id = ?1", params![id])?;
        tx.execute("DELETE FROM tags WHERE arn = ?1", params![arn])?;
        Self::insert_events(&tx, now, events)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_store_keeps_the_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = SqliteStore::open(&dir.path().join("s.sqlite3")).expect("open");
        crate::store::suite::run(&mut s);
    }

    #[test]
    fn versions_and_event_pruning() {
        let d = tempfile::tempdir().expect("dir");
        let path = d.path().join("s.sqlite3");
        // A store of before versions were kept (user_version 0) opens and is marked current.
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(SCHEMA).expect("schema");
        }
        let mut s = SqliteStore::open(&path).expect("old store opens");
        let v: i64 = s
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
        let old = Utc::now() - chrono::Duration::days(15);
        s.add_events(old, &[NewEvent::group("g", "old")])
            .expect("event");
        s.add_events(Utc::now(), &[NewEvent::group("g", "new")])
            .expect("event");
        let cut = Utc::now() - chrono::Duration::days(EVENT_RETENTION_DAYS);
        assert_eq!(s.prune_events(cut).expect("prune"), 1);
        assert_eq!(s.events_after(0, 10).expect("events").len(), 1);
        // A newer store is refused with a message that says so.
        s.conn
            .execute_batch("PRAGMA user_version = 99")
            .expect("set");
        drop(s);
        let e = SqliteStore::open(&path).expect_err("newer refused");
        assert!(e.to_string().contains("newer Cacheplane"), "{e}");
    }

    /// A group written by version 1 (members, primary and failover state on the group) comes back with them in its
    /// first shard, and everything else as it was.
    #[test]
    fn version_1_groups_get_their_shard() {
        let d = tempfile::tempdir().expect("dir");
        let path = d.path().join("s.sqlite3");
        let member = |id: &str, ip: &str| {
            serde_json::json!({"cluster_id": id, "address": ip, "availability_zone": "us-east-1a",
                "create_time": "2026-01-01T00:00:00Z", "rebooting": false})
        };
        let doc = serde_json::json!({
            "id": "rg", "description": "d", "status": "modifying", "engine": "redis",
            "engine_version": "7.0.15", "cache_node_type": "cache.t3.micro", "port": 6379,
            "automatic_failover": true, "multi_az": false, "preferred_maintenance_window": "sun:05:00-sun:06:00",
            "snapshot_retention_limit": 1, "snapshot_window": "01:00-02:00", "snapshotting_cluster_id": null,
            "security_group_ids": [], "auto_minor_version_upgrade": true, "cache_parameter_group": "default.redis7",
            "create_time": "2026-01-01T00:00:00Z", "primary_endpoint": "127.0.0.2", "reader_endpoint": "127.0.0.3",
            "primary_cluster_id": "rg-002",
            "members": [member("rg-001", "127.0.0.4"), member("rg-002", "127.0.0.5"), member("rg-003", "127.0.0.6")],
            "retain_cluster_id": null, "failover": {"recovering": {"failed": "rg-001"}},
            "adding": ["rg-003"], "switchover_to": "rg-003"
        });
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(SCHEMA).expect("schema");
            c.execute_batch("PRAGMA user_version = 1").expect("version");
            c.execute(
                "INSERT INTO replication_groups (id, doc) VALUES ('rg', ?1)",
                params![doc.to_string()],
            )
            .expect("insert");
        }
        let s = SqliteStore::open(&path).expect("opens");
        let groups = s.load_groups().expect("groups");
        let [g] = groups.as_slice() else {
            panic!("one group: {groups:?}")
        };
        assert_eq!(g.status, crate::model::GroupStatus::Modifying);
        assert_eq!(g.snapshot_retention_limit, 1);
        let [shard] = g.shards.as_slice() else {
            panic!("one shard: {:?}", g.shards)
        };
        assert_eq!(shard.id, "0001");
        assert!(shard.slots.is_empty());
        assert_eq!(shard.primary_cluster_id, "rg-002");
        let ids: Vec<&str> = shard
            .members
            .iter()
            .map(|m| m.cluster_id.as_str())
            .collect();
        assert_eq!(ids, ["rg-001", "rg-002", "rg-003"]);
        assert_eq!(shard.members[1].address.to_string(), "127.0.0.5");
        assert_eq!(
            shard.failover,
            Some(crate::model::Failover::Recovering {
                failed: "rg-001".into()
            })
        );
        assert_eq!(shard.switchover_to.as_deref(), Some("rg-003"));
        assert_eq!(shard.adding, ["rg-003"]);
        // A group of version 1 with none of the optional fields.
        let bare = {
            let mut d = doc.clone();
            let o = d.as_object_mut().expect("object");
            for k in ["failover", "adding", "switchover_to"] {
                o.remove(k);
            }
            d
        };
        drop(s);
        let c = Connection::open(&path).expect("open");
        c.execute_batch("PRAGMA user_version = 1").expect("version");
        c.execute(
            "UPDATE replication_groups SET doc = ?1 WHERE id = 'rg'",
            params![bare.to_string()],
        )
        .expect("update");
        drop(c);
        let g = SqliteStore::open(&path)
            .expect("opens")
            .load_groups()
            .expect("groups")[0]
            .clone();
        assert_eq!(g.shards[0].failover, None);
        assert!(g.shards[0].adding.is_empty());
        assert_eq!(g.shards[0].members.len(), 3);
    }
}
