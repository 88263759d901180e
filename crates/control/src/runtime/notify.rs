//! Notification delivery: while a group's `NotificationTopicStatus` is `active`, every event of the group and of
//! its member clusters is delivered to the topic's sink — one JSON object per line appended to
//! `<data-dir>/notifications/<partition>.sns.<region>.<account>.<topic name>.jsonl` (the topic's whole ARN, so
//! two topics of one name in different accounts or regions never share a file).
//!
//! Delivery follows the event log with a cursor kept in the store, and the lines are on disk (fsync) before the
//! cursor moves, so a daemon or machine crash neither loses nor repeats a line that was written before it (at
//! least once: a crash between the write and the cursor update repeats that one batch).

use std::io::Write as _;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{ControlError, Result};
use crate::model::Event;
use crate::Control;

/// The notifier's cursor in the store: the last event it has delivered.
pub(crate) const CURSOR: &str = "notifications";
const POLL: Duration = Duration::from_millis(200);
const BATCH: usize = 500;

impl Control {
    /// Delivers new events until `shutdown` turns true.
    pub async fn run_notifier(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.deliver_notifications() {
                tracing::warn!(target: "notify", error = %e, "notification delivery failed; will retry");
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One pass: the events since the cursor, to the sinks of the active topics.
    pub fn deliver_notifications(&self) -> Result<()> {
        let (events, cursor) = self.commit(|st| {
            let cursor = match st.store.cursor(CURSOR)? {
                Some(c) => c,
                None => {
                    // First start: notify what happens from now on, not the history.
                    let seq = st.store.max_event_seq()?;
                    st.store.set_cursor(CURSOR, seq)?;
                    seq
                }
            };
            Ok((st.store.events_after(cursor, BATCH)?, cursor))
        })?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let mut lines: Vec<(String, String)> = Vec::new();
        {
            let st = self.state();
            for e in &events {
                let group = st
                    .groups
                    .values()
                    .find(|g| g.id == e.source_id || g.member(&e.source_id).is_some());
                let (notification, id) = match group {
                    Some(g) => (g.notification.as_ref(), &g.id),
                    None => match st.memcached.get(&e.source_id) {
                        Some(c) => (c.notification.as_ref(), &c.id),
                        None => continue,
                    },
                };
                let Some(n) = notification.filter(|n| n.active) else {
                    continue;
                };
                lines.push((sink_name(&n.topic_arn), line(e, &n.topic_arn, id)));
            }
        }
        let dir = self.inner.settings.data_dir.join("notifications");
        if !lines.is_empty() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ControlError::Internal(format!("create {}: {e}", dir.display())))?;
        }
        let mut by_sink: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (sink, l) in lines {
            by_sink.entry(sink).or_default().push(l);
        }
        for (sink, ls) in by_sink {
            let path = dir.join(format!("{sink}.jsonl"));
            let io = |e: std::io::Error| ControlError::Internal(format!("{}: {e}", path.display()));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            let mut text = ls.join("\n");
            text.push('\n');
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_data().map_err(io)?;
        }
        if last > cursor {
            self.commit(|st| st.store.set_cursor(CURSOR, last))?;
        }
        Ok(())
    }
}

/// The sink file's name (without `.jsonl`) of the topic `arn`: its parts after `arn:`, joined by dots, anything
/// but letters, digits, `-` and `_` made `_`.
pub fn sink_name(arn: &str) -> String {
    arn.strip_prefix("arn:")
        .unwrap_or(arn)
        .split(':')
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn line(e: &Event, topic: &str, group: &str) -> String {
    serde_json::json!({
        "TopicArn": topic,
        "ReplicationGroupId": group,
        "Date": e.date.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "SourceType": e.source_type,
        "SourceIdentifier": e.source_id,
        "Message": e.message,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sinks_are_keyed_by_the_whole_arn() {
        assert_eq!(
            super::sink_name("arn:aws:sns:us-east-1:123456789012:cache-events"),
            "aws.sns.us-east-1.123456789012.cache-events"
        );
        assert_ne!(
            super::sink_name("arn:aws:sns:us-east-1:111111111111:t"),
            super::sink_name("arn:aws:sns:us-east-1:222222222222:t")
        );
        assert_eq!(
            super::sink_name("arn:aws:sns:x:1:a/../b"),
            "aws.sns.x.1.a____b"
        );
    }
}
