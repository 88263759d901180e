//! Looking at a Redis this daemon does not manage (the source of an online migration): can it be reached, does
//! it answer without AUTH, and what does it say about itself. Nothing is written to it.

use std::time::Duration;

use crate::admin::parse_info;

/// What a source Redis reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub version: String,
    pub cluster_enabled: bool,
    /// `CONFIG GET databases`, when `CONFIG` is available.
    pub databases: Option<u32>,
    pub used_memory: u64,
    pub keys: u64,
    /// Commands replication needs that the source does not know (renamed or disabled).
    pub missing_commands: Vec<String>,
}

/// Why a source cannot be looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceProblem {
    #[error("it cannot be reached over TCP: {0}")]
    Unreachable(String),
    #[error("it requires AUTH (a migration source must accept connections without a password)")]
    AuthRequired,
    #[error(
        "it refuses the connection in protected mode ({0}); set protected-mode no on the source"
    )]
    ProtectedMode(String),
    #[error("it does not answer PING as Redis: {0}")]
    NotRedis(String),
}

/// Commands a migration needs on the source, as named in `COMMAND INFO`.
pub const REQUIRED_COMMANDS: &[&str] = &["sync", "psync", "info", "config", "command", "replconf"];

/// Connects to `host:port` without credentials.
async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<redis::aio::MultiplexedConnection, SourceProblem> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Err(_) => {
            return Err(SourceProblem::Unreachable(format!(
                "no answer within {timeout:?}"
            )))
        }
        Ok(Err(e)) => return Err(SourceProblem::Unreachable(e.to_string())),
        Ok(Ok(_)) => {}
    }
    let info = redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(host.to_string(), port),
        redis: redis::RedisConnectionInfo {
            db: 0,
            username: None,
            password: None,
            protocol: redis::ProtocolVersion::RESP2,
        },
    };
    let client = redis::Client::open(info).map_err(|e| SourceProblem::NotRedis(e.to_string()))?;
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
        .map_err(classify)
}

/// The source's `INFO replication`.
async fn info_replication(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<String, SourceProblem> {
    let mut conn = connect(host, port, timeout).await?;
    redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .map_err(classify)
}

/// The source's replication offset (`master_repl_offset`): how far its stream of writes has gone.
pub async fn replication_offset(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<i64, SourceProblem> {
    parse_info(&info_replication(host, port, timeout).await?)
        .get("master_repl_offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| SourceProblem::NotRedis("INFO replication has no master_repl_offset".into()))
}

/// The replicas a source lists in `INFO replication` (`slaveN:ip=…,port=…,state=…`): the address each
/// announced, and the state of its sync (`wait_bgsave`, `send_bulk`, `online`).
pub async fn replicas(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<(std::net::SocketAddr, String)>, SourceProblem> {
    Ok(parse_replicas(
        &info_replication(host, port, timeout).await?,
    ))
}

fn parse_replicas(info: &str) -> Vec<(std::net::SocketAddr, String)> {
    info.lines()
        .filter(|l| l.starts_with("slave") && l.contains(":ip="))
        .filter_map(|l| {
            let fields: std::collections::HashMap<&str, &str> = l
                .split_once(':')?
                .1
                .trim()
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let ip: std::net::IpAddr = fields.get("ip")?.parse().ok()?;
            let port: u16 = fields.get("port")?.parse().ok()?;
            Some((
                std::net::SocketAddr::new(ip, port),
                fields.get("state").unwrap_or(&"").to_string(),
            ))
        })
        .collect()
}

/// Connects to `host:port` without credentials and reads what a migration needs to know.
pub async fn probe(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<SourceReport, SourceProblem> {
    let mut conn = connect(host, port, timeout).await?;
    let _: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(classify)?;
    let text: String = redis::cmd("INFO")
        .arg("everything")
        .query_async(&mut conn)
        .await
        .map_err(classify)?;
    let info = parse_info(&text);
    let num = |k: &str| info.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let keys = text
        .lines()
        .filter(|l| l.starts_with("db"))
        .filter_map(|l| {
            l.split_once(":keys=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let databases = redis::cmd("CONFIG")
        .arg("GET")
        .arg("databases")
        .query_async::<Vec<String>>(&mut conn)
        .await
        .ok()
        .and_then(|v| v.get(1)?.parse().ok());
    let mut missing = Vec::new();
    let mut cmd = redis::cmd("COMMAND");
    cmd.arg("INFO");
    for c in REQUIRED_COMMANDS {
        cmd.arg(*c);
    }
    match cmd.query_async::<Vec<redis::Value>>(&mut conn).await {
        Ok(v) => {
            for (name, entry) in REQUIRED_COMMANDS.iter().zip(v) {
                if entry == redis::Value::Nil {
                    missing.push(name.to_string());
                }
            }
        }
        Err(_) => missing.push("command".into()),
    }
    if databases.is_none() && !missing.iter().any(|m| m == "config") {
        missing.push("config".into());
    }
    Ok(SourceReport {
        version: info.get("redis_version").cloned().unwrap_or_default(),
        cluster_enabled: num("cluster_enabled") == 1,
        databases,
        used_memory: num("used_memory"),
        keys,
        missing_commands: missing,
    })
}

fn classify(e: redis::RedisError) -> SourceProblem {
    let text = e.to_string();
    if text.contains("NOAUTH") || text.contains("Authentication required") {
        SourceProblem::AuthRequired
    } else if text.contains("DENIED") {
        SourceProblem::ProtectedMode(text)
    } else if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
    {
        SourceProblem::Unreachable(text)
    } else {
        SourceProblem::NotRedis(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_replicas_a_source_lists() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
                    slave0:ip=127.1.2.3,port=6379,state=wait_bgsave,offset=0,lag=0\r\n\
                    slave1:ip=::1,port=21000,state=online,offset=42,lag=1\r\nmaster_repl_offset:42\r\n";
        assert_eq!(
            parse_replicas(info),
            vec![
                (
                    "127.1.2.3:6379".parse().expect("addr"),
                    "wait_bgsave".to_string()
                ),
                ("[::1]:21000".parse().expect("addr"), "online".to_string()),
            ]
        );
    }
}
