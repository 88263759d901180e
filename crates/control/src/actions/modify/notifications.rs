//! `ModifyReplicationGroup`'s `NotificationTopicArn` and `NotificationTopicStatus`.

use wire::input::ModifyReplicationGroup;

use super::Draft;
use crate::error::{combination, invalid, Result};
use crate::model::Notification;
use crate::rules::{self, topic_arn};

/// Notifications: the topic and whether it is active, after the request.
pub(super) fn change_notification(d: &mut Draft, input: &ModifyReplicationGroup) -> Result<()> {
    let g = &mut d.g;
    let (arn, status) = (
        &input.notification_topic_arn,
        &input.notification_topic_status,
    );
    let active = match status.as_deref() {
        None => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(other) => {
            return Err(invalid(format!(
                "Invalid NotificationTopicStatus '{}': use active or inactive.",
                rules::shown(other)
            )))
        }
    };
    let next = match (arn, &g.notification) {
        (Some(a), _) => {
            topic_arn(a)?;
            Some(Notification {
                topic_arn: a.clone(),
                active: active.unwrap_or(true),
            })
        }
        (None, Some(n)) => Some(Notification {
            topic_arn: n.topic_arn.clone(),
            active: active.unwrap_or(n.active),
        }),
        (None, None) if active.is_some() => {
            return Err(combination(
                "NotificationTopicStatus needs a NotificationTopicArn: the group has no topic.",
            ))
        }
        (None, None) => None,
    };
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
