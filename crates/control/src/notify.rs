//! Notification delivery: while a group's `NotificationTopicStatus` is `active`, every event of the group and of
//! its member clusters is delivered to the topic's sink — one JSON object per line appended to
//! `<data-dir>/notifications/<topic name>.jsonl` (the topic name is the last part of its ARN).
//!
//! Delivery follows the event log with a cursor kept in the store, so a daemon restart neither loses nor
//! repeats a line that was written before it (at least once: a crash between the write and the cursor update
//! repeats that one batch).

use std::io::Write as _;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{ControlError, Result};
use crate::model::Event;
use crate::modify::topic_name;
use crate::Control;

const CURSOR: &str = "notifications";
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
        let (events, cursor) = {
            let mut st = self.state();
            let cursor = match st.store.cursor(CURSOR)? {
                Some(c) => c,
                None => {
                    // First start: notify what happens from now on, not the history.
                    let seq = st.store.max_event_seq()?;
                    st.store.set_cursor(CURSOR, seq)?;
                    seq
                }
            };
            (st.store.events_after(cursor, BATCH)?, cursor)
        };
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let mut lines: Vec<(String, String)> = Vec::new();
        {
            let st = self.state();
            for e in &events {
                let group = st.groups.values().find(|g| {
                    g.id == e.source_id || g.members.iter().any(|m| m.cluster_id == e.source_id)
                });
                let Some(g) = group else { continue };
                let Some(n) = g.notification.as_ref().filter(|n| n.active) else {
                    continue;
                };
                lines.push((
                    topic_name(&n.topic_arn).to_string(),
                    line(e, &n.topic_arn, &g.id),
                ));
            }
        }
        let dir = self.inner.settings.data_dir.join("notifications");
        if !lines.is_empty() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ControlError::Internal(format!("create {}: {e}", dir.display())))?;
        }
        for (topic, l) in lines {
            let path = dir.join(format!("{topic}.jsonl"));
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| ControlError::Internal(format!("open {}: {e}", path.display())))?;
            writeln!(f, "{l}")
                .map_err(|e| ControlError::Internal(format!("write {}: {e}", path.display())))?;
        }
        if last > cursor {
            self.state().store.set_cursor(CURSOR, last)?;
        }
        Ok(())
    }
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
