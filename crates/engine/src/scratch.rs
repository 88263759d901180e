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
    /// Its own log file, read back to say why it did not answer.
    log: PathBuf,
}

/// The scratch server's log file in its directory.
const LOG_FILE: &str = "scratch.log";

impl Scratch {
    /// Starts `binary` in `dir` (which exists), with `extra` arguments after the usual ones.
    pub fn start(binary: &Path, dir: &Path, extra: &[&OsStr]) -> Result<Self> {
        // The server changes into `--dir` before it creates its socket and log: every path it is given must not
        // depend on the current directory.
        let dir = &std::path::absolute(dir).map_err(crate::io_err(dir))?;
        let socket = crate::spec::admin_socket(dir);
        let log = dir.join(LOG_FILE);
        // A fresh log each start (what it says is about this run), which also takes what the server prints before
        // it opens the log (a refused configuration).
        let _ = std::fs::remove_file(&log);
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(crate::io_err(&log))?;
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
            .args(["--unixsocketperm", "700", "--logfile"])
            .arg(&log)
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
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
            log,
        })
    }

    /// A connection once the server answers `PING`: not before its socket exists, nor while it loads a file
    /// (`-LOADING`); within `within`.
    pub async fn connect(&mut self, within: Duration) -> Result<MultiplexedConnection> {
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
            let last = match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                Ok(Ok(c)) => return Ok(c),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 5 s".to_string(),
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(EngineError::Other(format!(
                    "{} exited ({status}) before it answered: {}",
                    self.binary.display(),
                    self.last_log_line()
                        .unwrap_or_else(|| "it logged nothing".to_string())
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Other(format!(
                    "{} did not answer on its Unix socket {} within {} s (last attempt: {last}; its log: {})",
                    self.binary.display(),
                    self.socket.display(),
                    within.as_secs(),
                    self.last_log_line()
                        .unwrap_or_else(|| "empty".to_string())
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The last line of its log, if any.
    fn last_log_line(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.log).ok()?;
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
    }

    /// Stops it at once.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
