//! The control plane's RESP client to one node, authenticated as the admin user.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::secret::AdminCredentials;
use crate::{EngineError, Result};

/// Time allowed for one admin command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// An admin connection to a node.
pub struct AdminClient {
    addr: SocketAddr,
    conn: MultiplexedConnection,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminClient({})", self.addr)
    }
}

/// What `INFO replication` says of a node's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Primary {
        connected_replicas: u32,
        offset: i64,
    },
    Replica {
        primary: Option<SocketAddr>,
        link_up: bool,
        offset: i64,
    },
}

fn redis_err(addr: SocketAddr) -> impl FnOnce(redis::RedisError) -> EngineError {
    move |source| EngineError::Redis {
        node: addr.to_string(),
        source,
    }
}

/// Parses `INFO` text into `field → value`.
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Reads the role out of parsed `INFO replication`.
pub fn role_from_info(info: &HashMap<String, String>) -> Option<Role> {
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    match info.get("role").map(String::as_str) {
        Some("master") => Some(Role::Primary {
            connected_replicas: num("connected_slaves") as u32,
            offset: num("master_repl_offset"),
        }),
        Some("slave") => {
            let primary = match (info.get("master_host"), info.get("master_port")) {
                (Some(h), Some(p)) => format!("{h}:{p}").parse().ok(),
                _ => None,
            };
            Some(Role::Replica {
                primary,
                link_up: info.get("master_link_status").map(String::as_str) == Some("up"),
                offset: num("slave_repl_offset"),
            })
        }
        _ => None,
    }
}

impl AdminClient {
    pub async fn connect(addr: SocketAddr, admin: &AdminCredentials) -> Result<Self> {
        let info = redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Tcp(addr.ip().to_string(), addr.port()),
            redis: redis::RedisConnectionInfo {
                db: 0,
                username: Some(admin.user.clone()),
                password: Some(admin.password.clone()),
                protocol: redis::ProtocolVersion::RESP2,
            },
        };
        let client = redis::Client::open(info).map_err(redis_err(addr))?;
        let conn = tokio::time::timeout(COMMAND_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| EngineError::Other(format!("connect to {addr} timed out")))?
            .map_err(redis_err(addr))?;
        Ok(Self { addr, conn })
    }

    async fn run<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T> {
        tokio::time::timeout(COMMAND_TIMEOUT, cmd.query_async(&mut self.conn))
            .await
            .map_err(|_| EngineError::Other(format!("command on {} timed out", self.addr)))?
            .map_err(redis_err(self.addr))
    }

    pub async fn ping(&mut self) -> Result<()> {
        let _: String = self.run(&redis::cmd("PING")).await?;
        Ok(())
    }

    pub async fn info(&mut self, section: &str) -> Result<HashMap<String, String>> {
        let text: String = self.run(redis::cmd("INFO").arg(section)).await?;
        Ok(parse_info(&text))
    }

    pub async fn role(&mut self) -> Result<Role> {
        let info = self.info("replication").await?;
        role_from_info(&info)
            .ok_or_else(|| EngineError::Other(format!("{} reports no role", self.addr)))
    }

    /// `REPLICAOF host port`, or `REPLICAOF NO ONE` for `None`.
    pub async fn replicaof(&mut self, primary: Option<SocketAddr>) -> Result<()> {
        let mut cmd = redis::cmd("REPLICAOF");
        match primary {
            Some(p) => cmd.arg(p.ip().to_string()).arg(p.port()),
            None => cmd.arg("NO").arg("ONE"),
        };
        let _: String = self.run(&cmd).await?;
        Ok(())
    }
}
