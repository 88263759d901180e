//! A group's log delivery configuration, one per log type.

use serde::{Deserialize, Serialize};
use wire::output;

/// One log type's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDelivery {
    /// `slow-log` or `engine-log`.
    pub log_type: String,
    /// `cloudwatch-logs` or `kinesis-firehose`.
    pub destination_type: String,
    /// The log group or the delivery stream.
    pub destination: String,
    /// `json` or `text`.
    pub format: String,
    /// `enabling`, `active`, `modifying`, `disabling` or `error`.
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
}

impl LogDelivery {
    pub fn view(&self) -> output::LogDeliveryConfiguration {
        output::LogDeliveryConfiguration {
            log_type: self.log_type.clone(),
            destination_type: self.destination_type.clone(),
            destination: self.destination.clone(),
            log_format: self.format.clone(),
            status: self.status.clone(),
            message: self.message.clone(),
        }
    }

    /// Being enabled or changed (shown in `PendingModifiedValues`).
    pub fn pending(&self) -> bool {
        matches!(self.status.as_str(), "enabling" | "modifying")
    }
}
