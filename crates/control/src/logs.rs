//! The log groups, streams and events the daemon serves through its subset of the CloudWatch Logs API, kept in a
//! SQLite database of their own (`<data dir>/logs.sqlite`) so that delivering logs never waits on the control
//! plane's state.
//!
//! AWS's rules kept here: log group names of 1–512 characters of `[.\-_/#A-Za-z0-9]`, `ResourceAlreadyExists` and
//! `ResourceNotFound`; events ordered as ingested within a stream; `GetLogEvents` from the tail (or the head with
//! `startFromHead`) with `f/…` and `b/…` tokens, the forward token repeating once the stream has no more;
//! `FilterLogEvents` in timestamp order over the streams asked for, with plain-term filter patterns (every term, or
//! quoted phrase, must occur). Retention is bounded: a log group keeps its newest [`MAX_EVENTS_PER_GROUP`] events
//! (trimmed every [`TRIM_EVERY`] appends, so it may hold a few more for a moment).

use std::path::Path;

use rusqlite::{params, OptionalExtension};
use wire::logs::{
    CreateLogGroup, DescribeLogGroups, DescribeLogStreams, Events, FilterLogEvents, FilteredEvents,
    GetLogEvents, LogEvent, LogGroup, LogGroups, LogStream, LogStreams, LogsError,
    SearchedLogStream,
};

/// Events a log group keeps at most; older ones are dropped as new ones arrive.
pub const MAX_EVENTS_PER_GROUP: i64 = 200_000;
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
DROP INDEX IF EXISTS log_events_by_group;
CREATE TABLE IF NOT EXISTS delivery_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

fn internal(e: impl std::fmt::Display) -> LogsError {
    tracing::error!(error = %e, "log store");
    LogsError::internal()
}

type R<T> = Result<T, LogsError>;

/// Checks a log group name: 1–512 characters of letters, digits, `.`, `-`, `_`, `/` and `#`.
pub fn check_group_name(name: &str) -> R<()> {
    if name.is_empty()
        || name.len() > 512
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
    {
        return Err(LogsError::invalid(format!(
            "Invalid log group name '{}': it must be 1 to 512 characters of letters, digits, '.', '-', '_', '/' and '#'.",
            name.chars().take(100).collect::<String>()
        )));
    }
    Ok(())
}

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

/// Appends between two trims of a log group to its bound (a trim steps over the group's newest events).
const TRIM_EVERY: u64 = 256;

/// The log store.
pub struct LogStore {
    conn: rusqlite::Connection,
    region: String,
    account: String,
    appends: u64,
}

impl LogStore {
    pub fn open(path: &Path, region: &str, account: &str) -> crate::Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn,
            region: region.to_string(),
            account: account.to_string(),
            appends: 0,
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
        tx.commit().map_err(internal)
    }

    /// `DescribeLogGroups`: by name, `logGroupNamePrefix` or `logGroupNamePattern` (a substring), in pages.
    pub fn describe_groups(&self, r: &DescribeLogGroups) -> R<LogGroups> {
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
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT g.name, g.created_ms, \
                 (SELECT COALESCE(SUM(LENGTH(message)), 0) FROM log_events e WHERE e.log_group = g.name) \
                 FROM log_groups g WHERE g.name > ?1 ORDER BY g.name",
            )
            .map_err(internal)?;
        let rows = st
            .query_map(params![after], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(internal)?;
        let mut out = LogGroups::default();
        for row in rows {
            let (name, created, bytes) = row.map_err(internal)?;
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

    /// `FilterLogEvents`: the events of the streams asked for (all by default), in timestamp order.
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
        let terms = pattern_terms(r.filter_pattern.as_deref().unwrap_or(""))?;
        let limit = page_limit(r.limit, MAX_PAGE)?;
        let (lo, hi) = (
            r.start_time.unwrap_or(i64::MIN),
            r.end_time.unwrap_or(i64::MAX),
        );
        let (after_ts, after_seq) = match r.next_token.as_deref() {
            Some(t) => {
                let rest = t.strip_prefix("e/").ok_or_else(|| {
                    LogsError::invalid(format!("The next token '{t}' is not valid."))
                })?;
                let (a, b) = rest.split_once('/').ok_or_else(|| {
                    LogsError::invalid(format!("The next token '{t}' is not valid."))
                })?;
                (
                    a.parse::<i64>()
                        .map_err(|_| LogsError::invalid("The next token is not valid."))?,
                    b.parse::<i64>()
                        .map_err(|_| LogsError::invalid("The next token is not valid."))?,
                )
            }
            None => (i64::MIN, i64::MIN),
        };
        let streams: Vec<String> = {
            let mut st = self
                .conn
                .prepare_cached("SELECT name FROM log_streams WHERE log_group = ?1 ORDER BY name")
                .map_err(internal)?;
            let all: Vec<String> = st
                .query_map(params![group], |row| row.get(0))
                .map_err(internal)?
                .collect::<Result<_, _>>()
                .map_err(internal)?;
            all.into_iter()
                .filter(|s| {
                    r.log_stream_names.as_ref().is_none_or(|n| n.contains(s))
                        && r.log_stream_name_prefix
                            .as_deref()
                            .is_none_or(|p| s.starts_with(p))
                })
                .collect()
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT seq, stream, ts_ms, ingest_ms, message FROM log_events WHERE log_group = ?1 \
                 AND ts_ms >= ?2 AND ts_ms < ?3 AND (ts_ms > ?4 OR (ts_ms = ?4 AND seq > ?5)) \
                 ORDER BY ts_ms, seq",
            )
            .map_err(internal)?;
        let rows = st
            .query_map(params![group, lo, hi, after_ts, after_seq], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })
            .map_err(internal)?;
        let mut out = FilteredEvents::default();
        let mut more = false;
        for row in rows {
            let (seq, stream, ts, ingest, message) = row.map_err(internal)?;
            if !streams.contains(&stream) || !terms.iter().all(|t| message.contains(t.as_str())) {
                continue;
            }
            if out.events.len() as i64 == limit {
                more = true;
                break;
            }
            out.events.push(LogEvent {
                log_stream_name: Some(stream),
                timestamp: ts,
                message,
                ingestion_time: ingest,
                event_id: Some(seq.to_string()),
            });
        }
        if more {
            let last = out.events.last().expect("a full page");
            out.next_token = Some(format!(
                "e/{}/{}",
                last.timestamp,
                last.event_id.as_deref().unwrap_or("0")
            ));
        }
        out.searched_log_streams = streams
            .into_iter()
            .map(|s| SearchedLogStream {
                log_stream_name: s,
                searched_completely: !more,
            })
            .collect();
        Ok(out)
    }

    /// Appends events `(timestamp ms, message)` to a stream (creating the group and stream when missing), and
    /// records a delivery cursor, in one transaction; the oldest events past the group's bound are dropped.
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
        let tx = self.conn.transaction().map_err(internal)?;
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
        if let Some((name, value)) = cursor {
            tx.execute(
                "INSERT INTO delivery_cursors (name, value) VALUES (?1, ?2) \
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                params![name, value],
            )
            .map_err(internal)?;
        }
        self.appends += 1;
        if self.appends.is_multiple_of(TRIM_EVERY) {
            // The oldest by time (the index events are filtered by), past the newest MAX_EVENTS_PER_GROUP.
            tx.execute(
                "DELETE FROM log_events WHERE seq IN (SELECT seq FROM log_events WHERE log_group = ?1 \
                 ORDER BY ts_ms DESC, seq DESC LIMIT -1 OFFSET ?2)",
                params![group, MAX_EVENTS_PER_GROUP],
            )
            .map_err(internal)?;
        }
        tx.commit().map_err(internal)
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

impl crate::Control {
    fn log_store(&self) -> std::sync::MutexGuard<'_, LogStore> {
        self.inner.logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves one request of the CloudWatch Logs API; the answer's JSON body.
    pub fn logs_request(&self, request: wire::logs::LogsRequest) -> R<String> {
        use wire::logs::{to_json, LogsRequest};
        let now_ms = crate::now().timestamp_millis();
        match request {
            LogsRequest::CreateLogGroup(r) => {
                self.log_store().create_group(&r, now_ms)?;
                Ok("{}".into())
            }
            LogsRequest::DeleteLogGroup(r) => {
                self.log_store().delete_group(&r.log_group_name)?;
                Ok("{}".into())
            }
            LogsRequest::DescribeLogGroups(r) => {
                Ok(to_json(&self.log_store().describe_groups(&r)?))
            }
            LogsRequest::DescribeLogStreams(r) => {
                Ok(to_json(&self.log_store().describe_streams(&r)?))
            }
            LogsRequest::GetLogEvents(r) => {
                if r.unmask == Some(true) {
                    return Err(LogsError::invalid(
                        "unmask is not supported here: nothing is masked.",
                    ));
                }
                Ok(to_json(&self.log_store().get_events(&r)?))
            }
            LogsRequest::FilterLogEvents(r) => {
                if r.unmask == Some(true) {
                    return Err(LogsError::invalid(
                        "unmask is not supported here: nothing is masked.",
                    ));
                }
                Ok(to_json(&self.log_store().filter_events(&r)?))
            }
        }
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
}
