//! What runs: the worker of each group (the ordered list of workflows), the health monitor, what nodes report,
//! delivery of events, notifications and logs, and the metrics collector.

pub mod delivery;
pub mod hosts;
pub mod leader;
pub mod metrics;
pub mod monitor;
pub mod nodes;
pub mod notify;
pub mod observe;
pub mod worker;
