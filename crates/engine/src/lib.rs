//! The Redis data plane, with no knowledge of AWS or HTTP.
//!
//! - [`binary`]: the `redis-server` binaries this machine has, and their versions.
//! - [`address`]: loopback addresses for nodes and endpoints (one small module so another runtime can replace it).
//! - [`spec`]: what a node is (addresses, ports, files, TLS, cluster settings), with nothing done to it.
//! - [`config`]: a node's `redis.conf`.
//! - [`cluster`]: Redis Cluster: a node's view of its cluster, joining, slots, replicas, takeover.
//! - [`process`]: spawn, adopt, watch and stop `redis-server` processes.
//! - [`admin`]: the control plane's own RESP client to a node (readiness, `INFO`, `REPLICAOF`).
//! - [`endpoint`]: stable TCP endpoints that forward to whichever node currently holds a role.
//! - [`limits`]: the open-file limit, and the descriptors customers' connections may hold (every listener they reach).
//! - [`memcached`]: Memcached nodes, and the configuration endpoint that answers ElastiCache's auto discovery.
//! - [`private`]: private files and directories, atomic secrets, the data directory's lock.
//! - [`secret`]: the admin user's secret, kept in the data directory.
//! - [`source`]: looking at a Redis this daemon does not manage (a migration source), read-only.
//! - [`restore`]: a restored node's append-only file, made of its snapshot.
//! - [`snapshot`]: a node's dataset as an RDB file, taken the way a replica reads it; checked with `redis-check-rdb`.
//! - [`vocabulary`]: the commands an engine build's ACL knows, read from the build itself.
//! - [`tls`]: the deployment's certificate authority and node certificates.

pub mod address;
pub mod admin;
pub mod agent;
pub mod binary;
pub mod cluster;
pub mod config;
pub mod endpoint;
pub mod limits;
pub mod load;
pub mod logs;
pub mod memcached;
pub mod private;
pub mod process;
pub mod restore;
pub mod scratch;
pub mod secret;
pub mod snapshot;
pub mod source;
pub mod spec;
pub mod tls;
pub mod vocabulary;

use std::path::PathBuf;

/// Errors of the data plane. Each says what failed on which node so the control plane can log and retry.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no redis-server binary found: {0}")]
    NoBinary(String),
    #[error("could not run {path}: {source}")]
    Exec {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node} did not become ready within {millis} ms: {detail}")]
    NotReady {
        node: String,
        millis: u64,
        detail: String,
    },
    #[error("redis command on {node} failed: {source}")]
    Redis {
        node: String,
        source: redis::RedisError,
    },
    #[error("no free loopback address for port {0}")]
    NoAddress(u16),
    #[error("no free port on {0}")]
    NoPort(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    /// The node answered `-LOADING`: it is loading its dataset into memory, on its way rather than failed.
    pub fn is_loading(&self) -> bool {
        matches!(self, EngineError::Redis { source, .. } if source.kind() == redis::ErrorKind::BusyLoadingError)
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.into();
    move |source| EngineError::Io { path, source }
}
