//! One file per API family: an action validates its input with `rules`, changes a draft of the state and commits it
//! with its events in one store transaction, then wakes the worker. Actions never wait for a node, and never import
//! one another: what several share lives in `rules`, `model`, `state` or the facade.

pub(crate) mod cache_clusters;
pub(crate) mod catalog;
pub mod console_sessions;
pub(crate) mod ha;
pub mod hosts;
pub(crate) mod logs;
pub mod migration;
pub mod modify;
pub mod parameter_groups;
pub(crate) mod replication_groups;
pub(crate) mod resharding;
pub mod snapshots;
pub mod subnet_groups;
pub mod users;
