//! A private, short-lived `redis-server` of an engine build: no TCP port, a Unix socket in a private directory (or,
//! for a path too long for a socket, the deployment's private socket directory), no persistence of its own. It reads
//! what a build knows ([`crate::vocabulary`]) and loads a snapshot's file to send its keys on ([`crate::load`]).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::{EngineError, Result};

/// A running scratch server; killed when dropped.
#[derive(Debug)]
pub struct Scratch {
    child: tokio::process::Child,
    socket: PathBuf,
    binary: PathBuf,
}

impl Scratch {
    /// Starts `binary` in `dir` (which exists), with `extra` arguments after the usual ones.
    pub fn start(binary: &Path, dir: &Path, extra: &[&OsStr]) -> Result<Self> {
        let socket = crate::config::admin_socket(dir);
        let child = tokio::process::Command::new(binary)
            .args([
                "--port",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .arg("--unixsocket")
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(dir)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| EngineError::Exec {
                path: binary.to_path_buf(),
                source,
            })?;
        Ok(Self {
            child,
            socket,
            binary: binary.to_path_buf(),
        })
    }

    /// A connection once the server answers `PING`: not before its socket exists, nor while it loads a file
    /// (`-LOADING`); within `within`.
    pub async fn connect(&self, within: Duration) -> Result<MultiplexedConnection> {
        let client = redis::Client::open(redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Unix(self.socket.clone()),
            redis: redis::RedisConnectionInfo::default(),
        })
        .map_err(|e| EngineError::Other(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let attempt = async {
                let mut c = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut c).await?;
                Ok::<_, redis::RedisError>(c)
            };
            match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                Ok(Ok(c)) => return Ok(c),
                other if tokio::time::Instant::now() >= deadline => {
                    return Err(EngineError::Other(format!(
                        "a scratch {} did not answer within {within:?}: {other:?}",
                        self.binary.display()
                    )))
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    /// Stops it at once.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
