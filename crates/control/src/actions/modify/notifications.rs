//! `ModifyReplicationGroup`'s `NotificationTopicArn` and `NotificationTopicStatus`.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::Result;
use crate::rules::notification_after;

/// Notifications: the topic and whether it is active, after the request.
pub(super) fn change_notification(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    let g = &mut d.g;
    let next = notification_after(
        g.notification.as_ref(),
        input.notification_topic_arn.as_deref(),
        input.notification_topic_status.as_deref(),
        "group",
    )?;
    if next != g.notification {
        if let Some(n) = &next {
            d.events.push(format!(
                "notification topic {} is {}",
                n.topic_arn,
                n.status()
            ));
        }
        g.notification = next;
    }
    Ok(())
}
