//! The log groups, streams and events the daemon serves through its subset of the CloudWatch Logs API, kept in a
//! SQLite database of their own (`<data dir>/logs.sqlite3`) so that delivering logs never waits on the control
//! plane's state.
//!
//! AWS's rules kept here: log group names of 1–512 characters of `[.\-_/#A-Za-z0-9]`, `ResourceAlreadyExists` and
//! `ResourceNotFound`; events ordered as ingested within a stream; `GetLogEvents` from the tail (or the head with
//! `startFromHead`) with `f/…` and `b/…` tokens, the forward token repeating once the stream has no more;
//! `FilterLogEvents` in timestamp order over the streams asked for, with plain-term filter patterns (every term, or
//! quoted phrase, must occur), each call examining at most [`Bounds::filter_scan`] events and answering at most
//! 1 MB of messages (the rest is behind its `nextToken`, as AWS pages a search).
//!
//! The store is bounded ([`Bounds`]): every log group keeps at most its newest events by count and by bytes, and
//! the whole store at most its newest bytes; the oldest events (by timestamp) go first, in the same transaction as
//! the append that went past a bound. The totals the bounds are checked against are kept in memory, counted once
//! from the database when the store opens (so they are right after a restart, whatever wrote the file).
//!
//! SQLite's work never runs on an async worker: the store lives on a thread of its own ([`LogStoreThread`]) that
//! takes requests one at a time, so the API, the health of nodes and everything else the runtime does never wait
//! on a long search.

use crate::rules::log_delivery::check_group_name;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, params_from_iter, OptionalExtension};
use wire::logs::{
    CreateLogGroup, DescribeLogGroups, DescribeLogStreams, Events, FilterLogEvents, FilteredEvents,
    GetLogEvents, LogEvent, LogGroup, LogGroups, LogStream, LogStreams, LogsError, LogsResponse,
    SearchedLogStream,
};

/// What the log store keeps at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Events a log group keeps; older ones are dropped as new ones arrive.
    pub group_events: u64,
    /// Bytes of messages a log group keeps.
    pub group_bytes: u64,
    /// Bytes of messages the whole store keeps, over every log group.
    pub store_bytes: u64,
    /// Events one `FilterLogEvents` call examines (matching or not); the rest is behind its `nextToken`.
    pub filter_scan: u64,
}

impl Bounds {
    /// The daemon's bounds.
    pub const DEFAULT: Bounds = Bounds {
        group_events: 200_000,
        group_bytes: 64 << 20,
        store_bytes: 256 << 20,
        filter_scan: 100_000,
    };
}

/// Events a log group keeps at most ([`Bounds::DEFAULT`]).
pub const MAX_EVENTS_PER_GROUP: u64 = Bounds::DEFAULT.group_events;
/// Message bytes one `FilterLogEvents` page holds at most (AWS: "as many log events as can fit in 1 MB").
const MAX_PAGE_BYTES: usize = 1 << 20;
/// Log groups a deployment holds at most.
pub const MAX_LOG_GROUPS: i64 = 1_000;
/// Events one page holds at most (AWS's default and most).
const MAX_PAGE: i64 = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log_groups (name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS log_streams (
    log_group TEXT NOT NULL,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (log_group, name)
);
CREATE TABLE IF NOT EXISTS log_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    log_group TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    ingest_ms INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (log_group, stream, seq);
CREATE INDEX IF NOT EXISTS log_events_by_time ON log_events (log_group, ts_ms, seq);
CREATE INDEX IF NOT EXISTS log_events_by_age ON log_events (ts_ms, seq);
DROP INDEX IF EXISTS log_events_by_group;
CREATE TABLE IF NOT EXISTS delivery_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

fn internal(e: impl std::fmt::Display) -> LogsError {
    tracing::error!(error = %e, "log store");
    LogsError::internal()
}

type R<T> = Result<T, LogsError>;

fn page_limit(limit: Option<i64>, max: i64) -> R<i64> {
    match limit {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(LogsError::invalid(format!(
            "limit {n} is out of range: it must be between 1 and {max}."
        ))),
    }
}

/// A number in a token of the form `<prefix><number>`.
fn token_number(token: &str, prefix: &str) -> R<i64> {
    token
        .strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| LogsError::invalid(format!("The next token '{token}' is not valid.")))
}

/// The terms of a filter pattern: words, or quoted phrases, each of which must occur in a message.
fn pattern_terms(pattern: &str) -> R<Vec<String>> {
    let p = pattern.trim();
    if p.starts_with('{') || p.starts_with('[') {
        return Err(LogsError::invalid(
            "JSON and space-delimited filter patterns are not supported here; use terms or quoted phrases.",
        ));
    }
    let mut terms = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').ok_or_else(|| {
                LogsError::invalid("The filter pattern has an unterminated quoted phrase.")
            })?;
            terms.push(q[..end].to_string());
            rest = q[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            terms.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    if terms
        .iter()
        .any(|t| t.starts_with('-') || t.starts_with('?'))
    {
        return Err(LogsError::invalid(
            "Terms with '-' or '?' are not supported here; every term of the pattern must occur.",
        ));
    }
    Ok(terms)
}

/// What a log group (or the whole store) holds: events and bytes of messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub events: u64,
    pub bytes: u64,
}

/// The running totals the bounds are checked against.
#[derive(Debug, Default, Clone)]
struct Totals {
    groups: HashMap<String, Usage>,
    /// Bytes of every group's messages.
    bytes: u64,
}

impl Totals {
    /// Counted from the database (once, when the store opens). Events of a log group that no longer exists,
    /// which nothing could read, are dropped first.
    fn count(conn: &rusqlite::Connection) -> R<Totals> {
        conn.execute(
            "DELETE FROM log_events WHERE log_group NOT IN (SELECT name FROM log_groups)",
            [],
        )
        .map_err(internal)?;
        let mut st = conn
            .prepare(
                "SELECT g.name, COUNT(e.seq), COALESCE(SUM(LENGTH(CAST(e.message AS BLOB))), 0) \
                 FROM log_groups g LEFT JOIN log_events e ON e.log_group = g.name GROUP BY g.name",
            )
            .map_err(internal)?;
        let mut totals = Totals::default();
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(internal)?;
        for row in rows {
            let (name, events, bytes) = row.map_err(internal)?;
            let u = Usage {
                events: events as u64,
                bytes: bytes as u64,
            };
            totals.bytes += u.bytes;
            totals.groups.insert(name, u);
        }
        Ok(totals)
    }

    fn add(&mut self, group: &str, events: u64, bytes: u64) {
        let u = self.groups.entry(group.to_string()).or_default();
        u.events += events;
        u.bytes += bytes;
        self.bytes += bytes;
    }

    fn remove(&mut self, group: &str, events: u64, bytes: u64) {
        if let Some(u) = self.groups.get_mut(group) {
            u.events = u.events.saturating_sub(events);
            u.bytes = u.bytes.saturating_sub(bytes);
        }
        self.bytes = self.bytes.saturating_sub(bytes);
    }
}

/// Drops a log group's oldest events (by timestamp) past its bounds of count and bytes.
fn trim_group(
    tx: &rusqlite::Transaction<'_>,
    bounds: &Bounds,
    totals: &mut Totals,
    group: &str,
) -> R<()> {
    let u = totals.groups.get(group).copied().unwrap_or_default();
    let (over_events, over_bytes) = (
        u.events.saturating_sub(bounds.group_events),
        u.bytes.saturating_sub(bounds.group_bytes),
    );
    if over_events == 0 && over_bytes == 0 {
        return Ok(());
    }
    let (mut events, mut bytes, mut last) = (0u64, 0u64, None);
    {
        let mut st = tx
            .prepare_cached(
                "SELECT ts_ms, seq, LENGTH(CAST(message AS BLOB)) FROM log_events WHERE log_group = ?1 \
                 ORDER BY ts_ms, seq",
            )
            .map_err(internal)?;
        let mut rows = st.query(params![group]).map_err(internal)?;
        while events < over_events || bytes < over_bytes {
            let Some(row) = rows.next().map_err(internal)? else {
                break;
            };
            events += 1;
            bytes += row.get::<_, i64>(2).map_err(internal)? as u64;
            last = Some((
                row.get::<_, i64>(0).map_err(internal)?,
                row.get::<_, i64>(1).map_err(internal)?,
            ));
        }
    }
    if let Some((ts, seq)) = last {
        // Exactly the rows read above: everything of the group up to (ts, seq) in (ts_ms, seq) order.
        tx.execute(
            "DELETE FROM log_events WHERE log_group = ?1 AND ts_ms <= ?2 AND (ts_ms < ?2 OR seq <= ?3)",
            params![group, ts, seq],
        )
        .map_err(internal)?;
        totals.remove(group, events, bytes);
    }
    Ok(())
}

/// Drops the whole store's oldest events (by timestamp, whatever their group) past its bound of bytes.
fn trim_store(tx: &rusqlite::Transaction<'_>, bounds: &Bounds, totals: &mut Totals) -> R<()> {
    let over = totals.bytes.saturating_sub(bounds.store_bytes);
    if over == 0 {
        return Ok(());
    }
    let mut dropped: HashMap<String, Usage> = HashMap::new();
    let (mut bytes, mut last) = (0u64, None);
    {
        let mut st = tx
            .prepare_cached(
                "SELECT ts_ms, seq, log_group, LENGTH(CAST(message AS BLOB)) FROM log_events ORDER BY ts_ms, seq",
            )
            .map_err(internal)?;
        let mut rows = st.query([]).map_err(internal)?;
        while bytes < over {
            let Some(row) = rows.next().map_err(internal)? else {
                break;
            };
            let b = row.get::<_, i64>(3).map_err(internal)? as u64;
            let u = dropped
                .entry(row.get::<_, String>(2).map_err(internal)?)
                .or_default();
            u.events += 1;
            u.bytes += b;
            bytes += b;
            last = Some((
                row.get::<_, i64>(0).map_err(internal)?,
                row.get::<_, i64>(1).map_err(internal)?,
            ));
        }
    }
    if let Some((ts, seq)) = last {
        tx.execute(
            "DELETE FROM log_events WHERE ts_ms <= ?1 AND (ts_ms < ?1 OR seq <= ?2)",
            params![ts, seq],
        )
        .map_err(internal)?;
        for (group, u) in dropped {
            totals.remove(&group, u.events, u.bytes);
        }
    }
    Ok(())
}

/// Where a `FilterLogEvents` resumes: its `nextToken` (`e/<timestamp>/<seq>`), or the beginning.
fn filter_token(token: Option<&str>) -> R<(i64, i64)> {
    let Some(t) = token else {
        return Ok((i64::MIN, i64::MIN));
    };
    let invalid = || LogsError::invalid(format!("The next token '{t}' is not valid."));
    let (a, b) = t
        .strip_prefix("e/")
        .and_then(|rest| rest.split_once('/'))
        .ok_or_else(invalid)?;
    Ok((
        a.parse::<i64>().map_err(|_| invalid())?,
        b.parse::<i64>().map_err(|_| invalid())?,
    ))
}

/// Fills a page from `rows` up to `limit` events or [`MAX_PAGE_BYTES`] of messages (at least one event); true when
/// more events matched than the page holds.
fn fill_page(
    events: &mut Vec<LogEvent>,
    rows: impl Iterator<Item = rusqlite::Result<LogEvent>>,
    limit: i64,
) -> R<bool> {
    let mut bytes = 0usize;
    for row in rows {
        let e = row.map_err(internal)?;
        bytes += e.message.len();
        if events.len() as i64 == limit || (bytes > MAX_PAGE_BYTES && !events.is_empty()) {
            return Ok(true);
        }
        events.push(e);
    }
    Ok(false)
}

/// The log store.
pub struct LogStore {
    conn: rusqlite::Connection,
    region: String,
    account: String,
    bounds: Bounds,
    /// Counted from the database on first use; forgotten (counted again) when a write fails half-way.
    totals: Option<Totals>,
}

impl LogStore {
    /// Opens the store with the daemon's bounds ([`Bounds::DEFAULT`]).
    pub fn open(path: &Path, region: &str, account: &str) -> crate::error::Result<Self> {
        Self::open_with(path, region, account, Bounds::DEFAULT)
    }

    /// Opens the store with these bounds. Nothing is counted or trimmed yet: [`Self::enforce_bounds`] does it
    /// (the store's thread calls it first), or the first call that needs the totals.
    pub fn open_with(
        path: &Path,
        region: &str,
        account: &str,
        bounds: Bounds,
    ) -> crate::error::Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn,
            region: region.to_string(),
            account: account.to_string(),
            bounds,
            totals: None,
        })
    }

    /// Runs `f` with the totals (counted first if they are not yet); should it fail, they are counted again on
    /// next use, since a transaction that failed half-way leaves them unknown.
    fn with_totals<T>(
        &mut self,
        f: impl FnOnce(&mut rusqlite::Connection, &Bounds, &mut Totals) -> R<T>,
    ) -> R<T> {
        let mut totals = match self.totals.take() {
            Some(t) => t,
            None => Totals::count(&self.conn)?,
        };
        let r = f(&mut self.conn, &self.bounds, &mut totals);
        if r.is_ok() {
            self.totals = Some(totals);
        }
        r
    }

    /// Counts the totals and trims every log group, then the whole store, to the bounds (an older version, or
    /// lower bounds, may have left more).
    pub fn enforce_bounds(&mut self) -> R<()> {
        self.with_totals(|conn, bounds, totals| {
            let tx = conn.transaction().map_err(internal)?;
            let groups: Vec<String> = totals.groups.keys().cloned().collect();
            for g in groups {
                trim_group(&tx, bounds, totals, &g)?;
            }
            trim_store(&tx, bounds, totals)?;
            tx.commit().map_err(internal)
        })
    }

    /// What a log group holds (zero for one that does not exist).
    pub fn usage(&mut self, group: &str) -> R<Usage> {
        self.with_totals(|_, _, t| Ok(t.groups.get(group).copied().unwrap_or_default()))
    }

    /// What the whole store holds.
    pub fn total(&mut self) -> R<Usage> {
        self.with_totals(|_, _, t| {
            Ok(Usage {
                events: t.groups.values().map(|u| u.events).sum(),
                bytes: t.bytes,
            })
        })
    }

    fn group_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}",
            self.region, self.account
        )
    }

    fn group_exists(&self, name: &str) -> R<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM log_groups WHERE name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(internal)
    }

    fn must_exist(&self, name: &str) -> R<()> {
        if self.group_exists(name)? {
            Ok(())
        } else {
            Err(LogsError::not_found(
                "The specified log group does not exist.",
            ))
        }
    }

    /// The log group named by a request (`logGroupName`, or `logGroupIdentifier` as a name or ARN).
    fn named_group(&self, name: Option<&str>, identifier: Option<&str>) -> R<String> {
        let name = match (name, identifier) {
            (Some(n), None) => n.to_string(),
            (None, Some(id)) => id
                .strip_prefix(&self.group_arn(""))
                .unwrap_or(id)
                .trim_end_matches(":*")
                .to_string(),
            (Some(_), Some(_)) => {
                return Err(LogsError::invalid(
                    "Give logGroupName or logGroupIdentifier, not both.",
                ))
            }
            (None, None) => {
                return Err(LogsError::invalid(
                    "Either logGroupName or logGroupIdentifier is required.",
                ))
            }
        };
        self.must_exist(&name)?;
        Ok(name)
    }

    /// `CreateLogGroup`.
    pub fn create_group(&mut self, r: &CreateLogGroup, now_ms: i64) -> R<()> {
        check_group_name(&r.log_group_name)?;
        if r.kms_key_id.is_some() {
            return Err(LogsError::invalid(
                "kmsKeyId is not supported here: there is no KMS.",
            ));
        }
        if r.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(LogsError::invalid(
                "Tags on log groups are not supported here.",
            ));
        }
        if r.log_group_class
            .as_deref()
            .is_some_and(|c| c != "STANDARD")
        {
            return Err(LogsError::invalid(
                "Only the STANDARD log group class exists here.",
            ));
        }
        if r.deletion_protection_enabled == Some(true) {
            return Err(LogsError::invalid(
                "Deletion protection is not supported here.",
            ));
        }
        if self.group_exists(&r.log_group_name)? {
            return Err(LogsError::new(
                "ResourceAlreadyExistsException",
                "The specified log group already exists",
            ));
        }
        self.insert_group(&r.log_group_name, now_ms)
    }

    fn insert_group(&mut self, name: &str, now_ms: i64) -> R<()> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM log_groups", [], |r| r.get(0))
            .map_err(internal)?;
        if n >= MAX_LOG_GROUPS {
            return Err(LogsError::new(
                "LimitExceededException",
                format!("This deployment holds at most {MAX_LOG_GROUPS} log groups."),
            ));
        }
        self.conn
            .execute(
                "INSERT INTO log_groups (name, created_ms) VALUES (?1, ?2)",
                params![name, now_ms],
            )
            .map_err(internal)?;
        if let Some(t) = &mut self.totals {
            t.groups.entry(name.to_string()).or_default();
        }
        Ok(())
    }

    /// `DeleteLogGroup`: the group, its streams and events.
    pub fn delete_group(&mut self, name: &str) -> R<()> {
        self.must_exist(name)?;
        let tx = self.conn.transaction().map_err(internal)?;
        for table in ["log_events", "log_streams"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE log_group = ?1"),
                params![name],
            )
            .map_err(internal)?;
        }
        tx.execute("DELETE FROM log_groups WHERE name = ?1", params![name])
            .map_err(internal)?;
        tx.commit().map_err(internal)?;
        if let Some(t) = &mut self.totals {
            if let Some(u) = t.groups.remove(name) {
                t.bytes = t.bytes.saturating_sub(u.bytes);
            }
        }
        Ok(())
    }

    /// `DescribeLogGroups`: by name, `logGroupNamePrefix` or `logGroupNamePattern` (a substring), in pages.
    pub fn describe_groups(&mut self, r: &DescribeLogGroups) -> R<LogGroups> {
        if r.account_identifiers
            .as_ref()
            .is_some_and(|a| !a.is_empty())
            || r.include_linked_accounts == Some(true)
        {
            return Err(LogsError::invalid(
                "Linked accounts are not supported here: there is one account.",
            ));
        }
        if r.log_group_name_prefix.is_some() && r.log_group_name_pattern.is_some() {
            return Err(LogsError::invalid(
                "logGroupNamePrefix and logGroupNamePattern cannot be used together.",
            ));
        }
        if r.log_group_class
            .as_deref()
            .is_some_and(|c| c != "STANDARD")
        {
            return Ok(LogGroups::default());
        }
        let limit = page_limit(r.limit, 50)?;
        let after = match r.next_token.as_deref() {
            Some(t) => t
                .strip_prefix("g/")
                .map(str::to_string)
                .ok_or_else(|| LogsError::invalid(format!("The next token '{t}' is not valid.")))?,
            None => String::new(),
        };
        // The bytes from the running totals: nothing here reads a message.
        let stored: HashMap<String, u64> = self.with_totals(|_, _, t| {
            Ok(t.groups.iter().map(|(g, u)| (g.clone(), u.bytes)).collect())
        })?;
        let mut st = self
            .conn
            .prepare_cached("SELECT name, created_ms FROM log_groups WHERE name > ?1 ORDER BY name")
            .map_err(internal)?;
        let rows = st
            .query_map(params![after], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(internal)?;
        let mut out = LogGroups::default();
        for row in rows {
            let (name, created) = row.map_err(internal)?;
            let bytes = stored.get(&name).copied().unwrap_or(0) as i64;
            let wanted = r
                .log_group_name_prefix
                .as_deref()
                .is_none_or(|p| name.starts_with(p))
                && r.log_group_name_pattern
                    .as_deref()
                    .is_none_or(|p| name.to_lowercase().contains(&p.to_lowercase()))
                && r.log_group_identifiers.as_ref().is_none_or(|ids| {
                    ids.iter()
                        .any(|i| *i == name || *i == self.group_arn(&name))
                });
            if !wanted {
                continue;
            }
            if out.log_groups.len() as i64 == limit {
                out.next_token = out
                    .log_groups
                    .last()
                    .map(|g| format!("g/{}", g.log_group_name));
                break;
            }
            out.log_groups.push(LogGroup {
                arn: format!("{}:*", self.group_arn(&name)),
                log_group_arn: self.group_arn(&name),
                log_group_name: name,
                creation_time: created,
                retention_in_days: None,
                metric_filter_count: 0,
                stored_bytes: bytes,
                log_group_class: "STANDARD".into(),
            });
        }
        Ok(out)
    }

    /// `DescribeLogStreams`: by name (or last event time, `orderBy LastEventTime`), in pages.
    pub fn describe_streams(&self, r: &DescribeLogStreams) -> R<LogStreams> {
        let group = self.named_group(
            r.log_group_name.as_deref(),
            r.log_group_identifier.as_deref(),
        )?;
        let by_time = match r.order_by.as_deref() {
            None | Some("LogStreamName") => false,
            Some("LastEventTime") => {
                if r.log_stream_name_prefix.is_some() {
                    return Err(LogsError::invalid(
                        "Cannot order by LastEventTime with a logStreamNamePrefix.",
                    ));
                }
                true
            }
            Some(o) => {
                return Err(LogsError::invalid(format!(
                    "orderBy must be LogStreamName or LastEventTime, not '{o}'."
                )))
            }
        };
        let limit = page_limit(r.limit, 50)?;
        let start = match r.next_token.as_deref() {
            Some(t) => token_number(t, "s/")?,
            None => 0,
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT s.name, s.created_ms, MIN(e.ts_ms), MAX(e.ts_ms), MAX(e.ingest_ms), \
                 COALESCE(SUM(LENGTH(e.message)), 0) \
                 FROM log_streams s LEFT JOIN log_events e ON e.log_group = s.log_group AND e.stream = s.name \
                 WHERE s.log_group = ?1 GROUP BY s.name ORDER BY s.name",
            )
            .map_err(internal)?;
        let mut streams: Vec<LogStream> = st
            .query_map(params![group], |row| {
                Ok(LogStream {
                    log_stream_name: row.get(0)?,
                    creation_time: row.get(1)?,
                    first_event_timestamp: row.get(2)?,
                    last_event_timestamp: row.get(3)?,
                    last_ingestion_time: row.get(4)?,
                    arn: String::new(),
                    stored_bytes: row.get(5)?,
                })
            })
            .map_err(internal)?
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        streams.retain(|s| {
            r.log_stream_name_prefix
                .as_deref()
                .is_none_or(|p| s.log_stream_name.starts_with(p))
        });
        if by_time {
            streams.sort_by_key(|s| s.last_event_timestamp.unwrap_or(s.creation_time));
        }
        if r.descending == Some(true) {
            streams.reverse();
        }
        let total = streams.len() as i64;
        let page: Vec<LogStream> = streams
            .into_iter()
            .skip(start as usize)
            .take(limit as usize)
            .map(|mut s| {
                s.arn = format!(
                    "{}:log-stream:{}",
                    self.group_arn(&group),
                    s.log_stream_name
                );
                s
            })
            .collect();
        let next = start + page.len() as i64;
        Ok(LogStreams {
            log_streams: page,
            next_token: (next < total).then(|| format!("s/{next}")),
        })
    }

    /// `GetLogEvents`.
    pub fn get_events(&self, r: &GetLogEvents) -> R<Events> {
        let group = self.named_group(
            r.log_group_name.as_deref(),
            r.log_group_identifier.as_deref(),
        )?;
        let exists = self
            .conn
            .query_row(
                "SELECT 1 FROM log_streams WHERE log_group = ?1 AND name = ?2",
                params![group, r.log_stream_name],
                |_| Ok(()),
            )
            .optional()
            .map_err(internal)?
            .is_some();
        if !exists {
            return Err(LogsError::not_found(
                "The specified log stream does not exist.",
            ));
        }
        let limit = page_limit(r.limit, MAX_PAGE)?;
        let (lo, hi) = (
            r.start_time.unwrap_or(i64::MIN),
            r.end_time.unwrap_or(i64::MAX),
        );
        // Forward: events after a sequence number, oldest first; backward: before one, newest first.
        let (forward, bound) = match r.next_token.as_deref() {
            Some(t) if t.starts_with("f/") => (true, token_number(t, "f/")?),
            Some(t) => (false, token_number(t, "b/")?),
            None if r.start_from_head == Some(true) => (true, 0),
            None => (false, i64::MAX),
        };
        let sql = if forward {
            "SELECT seq, ts_ms, ingest_ms, message FROM log_events WHERE log_group = ?1 AND stream = ?2 \
             AND seq > ?3 AND ts_ms >= ?4 AND ts_ms < ?5 ORDER BY seq LIMIT ?6"
        } else {
            "SELECT seq, ts_ms, ingest_ms, message FROM log_events WHERE log_group = ?1 AND stream = ?2 \
             AND seq < ?3 AND ts_ms >= ?4 AND ts_ms < ?5 ORDER BY seq DESC LIMIT ?6"
        };
        let mut st = self.conn.prepare_cached(sql).map_err(internal)?;
        let mut rows: Vec<(i64, LogEvent)> = st
            .query_map(
                params![group, r.log_stream_name, bound, lo, hi, limit],
                |row| {
                    Ok((
                        row.get(0)?,
                        LogEvent {
                            timestamp: row.get(1)?,
                            ingestion_time: row.get(2)?,
                            message: row.get(3)?,
                            ..Default::default()
                        },
                    ))
                },
            )
            .map_err(internal)?
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        if !forward {
            rows.reverse();
        }
        let (first, last) = match (rows.first(), rows.last()) {
            (Some(f), Some(l)) => (f.0, l.0),
            // Nothing more: the tokens stay where they were, as AWS's do.
            _ if forward => (bound + 1, bound),
            _ => (bound, bound.saturating_sub(1)),
        };
        Ok(Events {
            events: rows.into_iter().map(|(_, e)| e).collect(),
            next_forward_token: format!("f/{last}"),
            next_backward_token: format!("b/{first}"),
        })
    }

    /// `FilterLogEvents`: the events of the streams asked for (all by default), in timestamp order. The
    /// streams and terms are matched by SQLite; one call examines at most [`Bounds::filter_scan`] events and
    /// answers at most [`MAX_PAGE_BYTES`] of messages, and says where to go on (`nextToken`, with
    /// `searchedCompletely` false) when it stopped short of the end.
    pub fn filter_events(&self, r: &FilterLogEvents) -> R<FilteredEvents> {
        let group = self.named_group(
            r.log_group_name.as_deref(),
            r.log_group_identifier.as_deref(),
        )?;
        if r.log_stream_names.is_some() && r.log_stream_name_prefix.is_some() {
            return Err(LogsError::invalid(
                "logStreamNames and logStreamNamePrefix cannot be used together.",
            ));
        }
        if r.log_stream_names.as_ref().is_some_and(|n| n.len() > 100) {
            return Err(LogsError::invalid(
                "logStreamNames holds at most 100 names.",
            ));
        }
        let terms = pattern_terms(r.filter_pattern.as_deref().unwrap_or(""))?;
        let limit = page_limit(r.limit, MAX_PAGE)?;
        let (lo, hi) = (
            r.start_time.unwrap_or(i64::MIN),
            r.end_time.unwrap_or(i64::MAX),
        );
        let (after_ts, after_seq) = filter_token(r.next_token.as_deref())?;
        let streams = self.filtered_streams(&group, r)?;
        // The events after the token, in (timestamp, seq) order: the index's range from max(start, token).
        let after = "log_group = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 AND (ts_ms > ?4 OR seq > ?5)";
        let scan = self.bounds.filter_scan.max(1) as i64;
        let mut args: Vec<rusqlite::types::Value> = vec![
            group.clone().into(),
            lo.max(after_ts).into(),
            hi.into(),
            after_ts.into(),
            after_seq.into(),
            scan.into(),
            (limit + 1).into(),
        ];
        let mut wanted = String::new();
        let arg = |v: rusqlite::types::Value, args: &mut Vec<rusqlite::types::Value>| {
            args.push(v);
            format!("?{}", args.len())
        };
        if r.log_stream_names.is_some() || r.log_stream_name_prefix.is_some() {
            let names: Vec<String> = streams
                .iter()
                .map(|s| arg(s.clone().into(), &mut args))
                .collect();
            wanted.push_str(&format!(" AND stream IN ({})", names.join(", ")));
        }
        for t in &terms {
            let p = arg(t.clone().into(), &mut args);
            wanted.push_str(&format!(" AND instr(message, {p}) > 0"));
        }
        let sql = format!(
            "SELECT seq, stream, ts_ms, ingest_ms, message FROM \
             (SELECT seq, stream, ts_ms, ingest_ms, message FROM log_events WHERE {after} \
              ORDER BY ts_ms, seq LIMIT ?6) \
             WHERE 1{wanted} ORDER BY ts_ms, seq LIMIT ?7"
        );
        let mut st = self.conn.prepare(&sql).map_err(internal)?;
        let rows = st
            .query_map(params_from_iter(args.iter()), |row| {
                Ok(LogEvent {
                    event_id: Some(row.get::<_, i64>(0)?.to_string()),
                    log_stream_name: Some(row.get(1)?),
                    timestamp: row.get(2)?,
                    ingestion_time: row.get(3)?,
                    message: row.get(4)?,
                })
            })
            .map_err(internal)?;
        let mut out = FilteredEvents::default();
        let more = fill_page(&mut out.events, rows, limit)?;
        let resume = if more {
            out.events.last().map(|e| {
                (
                    e.timestamp,
                    e.event_id
                        .as_deref()
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(0),
                )
            })
        } else {
            // The page is not full: the scan's bound may have stopped the search, at its last event.
            self.conn
                .query_row(
                    &format!(
                        "SELECT ts_ms, seq FROM log_events WHERE {after} ORDER BY ts_ms, seq LIMIT 1 OFFSET ?6"
                    ),
                    params![group, lo.max(after_ts), hi, after_ts, after_seq, scan - 1],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)),
                )
                .optional()
                .map_err(internal)?
        };
        out.next_token = resume.map(|(ts, seq)| format!("e/{ts}/{seq}"));
        out.searched_log_streams = streams
            .into_iter()
            .map(|s| SearchedLogStream {
                log_stream_name: s,
                searched_completely: out.next_token.is_none(),
            })
            .collect();
        Ok(out)
    }

    /// The streams of `group` a `FilterLogEvents` searches: those named, or those with the prefix, or all.
    fn filtered_streams(&self, group: &str, r: &FilterLogEvents) -> R<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT name FROM log_streams WHERE log_group = ?1 ORDER BY name")
            .map_err(internal)?;
        let all: Vec<String> = st
            .query_map(params![group], |row| row.get(0))
            .map_err(internal)?
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        Ok(all
            .into_iter()
            .filter(|s| {
                r.log_stream_names.as_ref().is_none_or(|n| n.contains(s))
                    && r.log_stream_name_prefix
                        .as_deref()
                        .is_none_or(|p| s.starts_with(p))
            })
            .collect())
    }

    /// Appends events `(timestamp ms, message)` to a stream (creating the group and stream when missing), and
    /// records a delivery cursor, in one transaction; the oldest events past the group's bounds, then past the
    /// store's, are dropped in the same transaction.
    pub fn append(
        &mut self,
        group: &str,
        stream: &str,
        events: &[(i64, String)],
        now_ms: i64,
        cursor: Option<(&str, &str)>,
    ) -> R<()> {
        if !self.group_exists(group)? {
            self.insert_group(group, now_ms)?;
        }
        self.with_totals(|conn, bounds, totals| {
            let tx = conn.transaction().map_err(internal)?;
            tx.execute(
                "INSERT OR IGNORE INTO log_streams (log_group, name, created_ms) VALUES (?1, ?2, ?3)",
                params![group, stream, now_ms],
            )
            .map_err(internal)?;
            {
                let mut ins = tx
                    .prepare_cached(
                        "INSERT INTO log_events (log_group, stream, ts_ms, ingest_ms, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .map_err(internal)?;
                for (ts, m) in events {
                    ins.execute(params![group, stream, ts, now_ms, m])
                        .map_err(internal)?;
                }
            }
            totals.add(
                group,
                events.len() as u64,
                events.iter().map(|(_, m)| m.len() as u64).sum(),
            );
            if let Some((name, value)) = cursor {
                tx.execute(
                    "INSERT INTO delivery_cursors (name, value) VALUES (?1, ?2) \
                     ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    params![name, value],
                )
                .map_err(internal)?;
            }
            trim_group(&tx, bounds, totals, group)?;
            trim_store(&tx, bounds, totals)?;
            tx.commit().map_err(internal)
        })
    }

    /// A delivery cursor recorded by [`Self::append`] or [`Self::set_cursor`].
    pub fn cursor(&self, name: &str) -> R<Option<String>> {
        self.conn
            .query_row(
                "SELECT value FROM delivery_cursors WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(internal)
    }

    /// Forgets a delivery cursor (a delivery disabled: enabled again, it starts afresh).
    pub fn clear_cursor(&mut self, name: &str) -> R<()> {
        self.conn
            .execute(
                "DELETE FROM delivery_cursors WHERE name = ?1",
                params![name],
            )
            .map_err(internal)?;
        Ok(())
    }

    /// Records a delivery cursor on its own (a destination outside this store).
    pub fn set_cursor(&mut self, name: &str, value: &str) -> R<()> {
        self.conn
            .execute(
                "INSERT INTO delivery_cursors (name, value) VALUES (?1, ?2) \
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(internal)?;
        Ok(())
    }
}

impl LogStore {
    /// Serves one request of the CloudWatch Logs API; its answer (the API edge writes the JSON).
    pub fn serve(&mut self, request: wire::logs::LogsRequest, now_ms: i64) -> R<LogsResponse> {
        use wire::logs::LogsRequest;
        match request {
            LogsRequest::CreateLogGroup(r) => {
                self.create_group(&r, now_ms)?;
                Ok(LogsResponse::Empty)
            }
            LogsRequest::DeleteLogGroup(r) => {
                self.delete_group(&r.log_group_name)?;
                Ok(LogsResponse::Empty)
            }
            LogsRequest::DescribeLogGroups(r) => {
                self.describe_groups(&r).map(LogsResponse::LogGroups)
            }
            LogsRequest::DescribeLogStreams(r) => {
                self.describe_streams(&r).map(LogsResponse::LogStreams)
            }
            LogsRequest::GetLogEvents(r) => {
                if r.unmask == Some(true) {
                    return Err(LogsError::invalid(
                        "unmask is not supported here: nothing is masked.",
                    ));
                }
                self.get_events(&r).map(LogsResponse::Events)
            }
            LogsRequest::FilterLogEvents(r) => {
                if r.unmask == Some(true) {
                    return Err(LogsError::invalid(
                        "unmask is not supported here: nothing is masked.",
                    ));
                }
                self.filter_events(&r).map(LogsResponse::FilteredEvents)
            }
        }
    }
}

/// Work for the log store's thread.
type Job = Box<dyn FnOnce(&mut LogStore) + Send>;

/// The log store on a thread of its own: callers send it work and await the answer, so SQLite's work (a long
/// search, a trim) holds no async worker and nothing else the runtime does waits on it. Work runs one request at
/// a time, in the order sent; the thread ends when this handle is dropped.
pub struct LogStoreThread {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl LogStoreThread {
    /// Starts the thread; its first work is to count the store's totals and trim it to its bounds.
    pub fn start(mut store: LogStore) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("log-store".into())
            .spawn(move || {
                // An error is logged where it happens; the next request counts the totals again.
                let _ = store.enforce_bounds();
                for job in queue {
                    // A panic in one request answers it with an error (its sender is dropped), not every later one.
                    let run = std::panic::AssertUnwindSafe(|| job(&mut store));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("a log store request panicked; the next request counts the totals again");
                        store.totals = None;
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the store's thread and waits for its answer without holding the caller's worker.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut LogStore) -> R<T> + Send + 'static,
    ) -> R<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store| {
            // A caller that has gone (a client that disconnected, a request that timed out and is retried) is
            // not worked for: retries do not pile searches up in front of log delivery.
            if !tx.is_closed() {
                let _ = tx.send(f(store));
            }
        });
        if self.jobs.send(job).is_err() {
            return Err(internal("the log store's thread has ended"));
        }
        rx.await
            .unwrap_or_else(|_| Err(internal("a log store request ended without an answer")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LogStore) {
        let d = tempfile::tempdir().expect("dir");
        let s = LogStore::open(&d.path().join("logs.sqlite"), "us-east-1", "000000000000")
            .expect("open");
        (d, s)
    }

    fn bounded(dir: &Path, bounds: Bounds) -> LogStore {
        LogStore::open_with(
            &dir.join("logs.sqlite"),
            "us-east-1",
            "000000000000",
            bounds,
        )
        .expect("open")
    }

    /// A group's events and bytes as the database holds them (not as the totals say).
    fn counted(s: &LogStore, group: &str) -> (u64, u64) {
        s.conn
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events WHERE log_group = ?1",
                params![group],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .expect("count")
    }

    /// The timestamps a group keeps, oldest first.
    fn kept(s: &LogStore, group: &str) -> Vec<i64> {
        let mut st = s
            .conn
            .prepare("SELECT ts_ms FROM log_events WHERE log_group = ?1 ORDER BY ts_ms")
            .expect("prepare");
        st.query_map(params![group], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn get(s: &LogStore, token: Option<&str>, head: bool, limit: i64) -> Events {
        s.get_events(&GetLogEvents {
            log_group_name: Some("g".into()),
            log_stream_name: "s".into(),
            next_token: token.map(str::to_string),
            start_from_head: Some(head),
            limit: Some(limit),
            ..Default::default()
        })
        .expect("get")
    }

    #[test]
    fn events_page_forward_and_backward_and_tokens_settle() {
        let (_d, mut s) = store();
        let events: Vec<(i64, String)> = (0..5).map(|i| (1000 + i, format!("m{i}"))).collect();
        s.append("g", "s", &events, 2000, Some(("c", "5")))
            .expect("append");
        assert_eq!(s.cursor("c").expect("cursor").as_deref(), Some("5"));
        let tail = get(&s, None, false, 2);
        assert_eq!(
            tail.events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["m3", "m4"]
        );
        let back = get(&s, Some(&tail.next_backward_token), false, 2);
        assert_eq!(
            back.events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["m1", "m2"]
        );
        let head = get(&s, None, true, 3);
        assert_eq!(head.events.len(), 3);
        let rest = get(&s, Some(&head.next_forward_token), true, 3);
        assert_eq!(
            rest.events
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["m3", "m4"]
        );
        let end = get(&s, Some(&rest.next_forward_token), true, 3);
        assert!(end.events.is_empty());
        assert_eq!(
            end.next_forward_token, rest.next_forward_token,
            "the CLI stops on a repeated token"
        );
        s.append("g", "s", &[(1005, "m5".into())], 2001, None)
            .expect("more");
        let new = get(&s, Some(&end.next_forward_token), true, 3);
        assert_eq!(new.events[0].message, "m5");
    }

    #[test]
    fn filtering_by_terms_streams_and_time() {
        let (_d, mut s) = store();
        s.append(
            "g",
            "a",
            &[(1, "GET key".into()), (3, "SET key".into())],
            10,
            None,
        )
        .expect("a");
        s.append("g", "b", &[(2, "GET other".into())], 10, None)
            .expect("b");
        let f = |pattern: &str, streams: Option<Vec<String>>, start: Option<i64>| {
            s.filter_events(&FilterLogEvents {
                log_group_name: Some("g".into()),
                filter_pattern: Some(pattern.into()),
                log_stream_names: streams,
                start_time: start,
                ..Default::default()
            })
            .expect("filter")
            .events
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
        };
        assert_eq!(f("", None, None), ["GET key", "GET other", "SET key"]);
        assert_eq!(f("GET", None, None), ["GET key", "GET other"]);
        assert_eq!(f("\"GET key\"", None, None), ["GET key"]);
        assert_eq!(f("", Some(vec!["b".into()]), None), ["GET other"]);
        assert_eq!(f("", None, Some(2)), ["GET other", "SET key"]);
        let e = s
            .filter_events(&FilterLogEvents {
                log_group_name: Some("g".into()),
                filter_pattern: Some("{ $.x = 1 }".into()),
                ..Default::default()
            })
            .expect_err("json patterns");
        assert_eq!(e.code, "InvalidParameterException");
    }

    #[test]
    fn groups_are_named_created_once_and_deleted_with_their_events() {
        let (_d, mut s) = store();
        let create = |name: &str| CreateLogGroup {
            log_group_name: name.into(),
            ..Default::default()
        };
        s.create_group(&create("/elasticache/slow"), 1)
            .expect("create");
        assert_eq!(
            s.create_group(&create("/elasticache/slow"), 1)
                .expect_err("twice")
                .code,
            "ResourceAlreadyExistsException"
        );
        assert_eq!(
            s.create_group(&create("bad name"), 1)
                .expect_err("space")
                .code,
            "InvalidParameterException"
        );
        s.append("/elasticache/slow", "x", &[(1, "m".into())], 1, None)
            .expect("append");
        let groups = s
            .describe_groups(&DescribeLogGroups {
                log_group_name_prefix: Some("/elasticache".into()),
                ..Default::default()
            })
            .expect("describe");
        assert_eq!(groups.log_groups.len(), 1);
        assert_eq!(groups.log_groups[0].stored_bytes, 1);
        s.delete_group("/elasticache/slow").expect("delete");
        assert_eq!(
            s.delete_group("/elasticache/slow").expect_err("gone").code,
            "ResourceNotFoundException"
        );
        s.append("/elasticache/slow", "x", &[(1, "again".into())], 1, None)
            .expect("delivery creates it again");
        let streams = s
            .describe_streams(&DescribeLogStreams {
                log_group_name: Some("/elasticache/slow".into()),
                ..Default::default()
            })
            .expect("streams");
        assert_eq!(streams.log_streams.len(), 1);
        assert_eq!(streams.log_streams[0].last_event_timestamp, Some(1));
    }

    #[test]
    fn a_group_past_its_bound_is_trimmed_whoever_appends_next() {
        // The daemon's own bound: one large delivery to a group, then others' appends only.
        let (_d, mut s) = store();
        let n = MAX_EVENTS_PER_GROUP as i64 + 50;
        let big: Vec<(i64, String)> = (0..n).map(|i| (i, "m".to_string())).collect();
        s.append("big", "s", &big, 1, None).expect("big append");
        for i in 0..300 {
            s.append("other", "s", &[(i, "o".into())], 1, None)
                .expect("other");
        }
        assert_eq!(
            counted(&s, "big").0,
            MAX_EVENTS_PER_GROUP,
            "the group appended to before the others' appends keeps its bound"
        );
        assert_eq!(kept(&s, "big").first(), Some(&50), "the oldest went");
    }

    #[test]
    fn every_group_keeps_its_count_and_bytes_and_the_store_its_bytes() {
        let d = tempfile::tempdir().expect("dir");
        let bounds = Bounds {
            group_events: 10,
            group_bytes: 100,
            store_bytes: 150,
            filter_scan: 1_000,
        };
        let mut s = bounded(d.path(), bounds);
        // Interleaved appends: each group is held to its count whatever the others do.
        for i in 0..25 {
            for g in ["a", "b"] {
                s.append(g, "s", &[(i, "x".into())], 1, None)
                    .expect("append");
            }
        }
        for g in ["a", "b"] {
            assert_eq!(counted(&s, g), (10, 10));
            assert_eq!(kept(&s, g), (15..25).collect::<Vec<_>>(), "the newest stay");
            assert_eq!(
                s.usage(g).expect("usage"),
                Usage {
                    events: 10,
                    bytes: 10
                }
            );
        }
        // Bytes: 30-byte messages, 100 bytes a group at most: the newest 3.
        let big = "y".repeat(30);
        for i in 100..106 {
            s.append("a", "s", &[(i, big.clone())], 1, None)
                .expect("append");
        }
        assert_eq!(kept(&s, "a"), [103, 104, 105]);
        assert_eq!(counted(&s, "a"), (3, 90));
        // The store: 150 bytes over every group, the oldest first whatever their group.
        for i in 200..206 {
            s.append("c", "s", &[(i, big.clone())], 1, None)
                .expect("append");
        }
        let all: u64 = ["a", "b", "c"].iter().map(|g| counted(&s, g).1).sum();
        assert!(all <= 150, "{all} bytes kept");
        assert_eq!(s.total().expect("total").bytes, all);
        assert!(
            kept(&s, "b").is_empty(),
            "the oldest group's events went first"
        );
        assert_eq!(kept(&s, "a"), [104, 105], "then the next oldest");
        assert_eq!(kept(&s, "c"), (203..206).collect::<Vec<_>>());
        for g in ["a", "b", "c"] {
            let (events, bytes) = counted(&s, g);
            assert_eq!(s.usage(g).expect("usage"), Usage { events, bytes }, "{g}");
        }
        // One append larger than the bound keeps its newest part.
        let many: Vec<(i64, String)> = (300..340).map(|i| (i, "z".to_string())).collect();
        s.append("d", "s", &many, 1, None).expect("append");
        assert_eq!(kept(&s, "d"), (330..340).collect::<Vec<_>>());
    }

    #[test]
    fn totals_are_right_after_a_restart_and_bounds_apply_at_open() {
        let d = tempfile::tempdir().expect("dir");
        let wide = Bounds {
            group_events: 1_000,
            ..Bounds::DEFAULT
        };
        let mut s = bounded(d.path(), wide);
        for i in 0..20 {
            s.append("a", "s", &[(i, "é".into())], 1, None)
                .expect("append");
        }
        drop(s);
        let mut s = bounded(d.path(), wide);
        assert_eq!(
            s.usage("a").expect("usage"),
            Usage {
                events: 20,
                bytes: 40
            },
            "bytes, not characters"
        );
        let groups = s
            .describe_groups(&DescribeLogGroups::default())
            .expect("describe");
        assert_eq!(groups.log_groups[0].stored_bytes, 40);
        drop(s);
        // Reopened with a lower bound: trimmed at once, and the next append keeps it.
        let narrow = Bounds {
            group_events: 5,
            ..Bounds::DEFAULT
        };
        let mut s = bounded(d.path(), narrow);
        s.enforce_bounds().expect("enforce");
        assert_eq!(kept(&s, "a"), (15..20).collect::<Vec<_>>());
        s.append("a", "s", &[(20, "é".into())], 1, None)
            .expect("append");
        assert_eq!(kept(&s, "a"), (16..21).collect::<Vec<_>>());
        assert_eq!(
            s.usage("a").expect("usage"),
            Usage {
                events: 5,
                bytes: 10
            }
        );
        s.delete_group("a").expect("delete");
        assert_eq!(s.total().expect("total"), Usage::default());
    }

    #[test]
    fn a_filter_examines_a_bounded_number_of_events_and_pages_on() {
        let d = tempfile::tempdir().expect("dir");
        let mut s = bounded(
            d.path(),
            Bounds {
                filter_scan: 10,
                ..Bounds::DEFAULT
            },
        );
        let events: Vec<(i64, String)> = (0..95)
            .map(|i| {
                (
                    i,
                    if i % 7 == 0 {
                        format!("hit {i}")
                    } else {
                        format!("miss {i}")
                    },
                )
            })
            .collect();
        s.append("g", "a", &events, 1, None).expect("append");
        s.append("g", "b", &[(50, "hit b".into())], 1, None)
            .expect("append");
        let mut token = None;
        let (mut found, mut calls) = (Vec::new(), 0);
        loop {
            let page = s
                .filter_events(&FilterLogEvents {
                    log_group_name: Some("g".into()),
                    filter_pattern: Some("hit".into()),
                    log_stream_names: Some(vec!["a".into()]),
                    next_token: token.take(),
                    limit: Some(2),
                    ..Default::default()
                })
                .expect("filter");
            calls += 1;
            assert!(page.events.len() <= 2);
            found.extend(page.events.into_iter().map(|e| e.message));
            match page.next_token {
                Some(t) => {
                    assert!(page
                        .searched_log_streams
                        .iter()
                        .all(|s| !s.searched_completely));
                    token = Some(t);
                }
                None => break,
            }
            assert!(calls < 50, "the tokens move on");
        }
        let want: Vec<String> = (0..95)
            .filter(|i| i % 7 == 0)
            .map(|i| format!("hit {i}"))
            .collect();
        assert_eq!(
            found, want,
            "every match once, in order, the other stream left out"
        );
        assert!(calls >= 10, "96 events, 10 examined a call: {calls} calls");
    }
}
