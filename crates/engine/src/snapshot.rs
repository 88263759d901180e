//! Snapshots of a node's data as RDB files, taken without stopping the node.
//!
//! [`capture`] asks the node for its dataset the way a replica does (`redis-cli --rdb`, which sends `REPLCONF
//! rdb-only` and `SYNC` over the node's admin socket): Redis forks, writes the RDB from the child and streams it,
//! so customers' commands keep being served meanwhile (the only pause is the fork). [`verify`] runs
//! `redis-check-rdb` on the result before anything calls it a snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admin::NodeAddr;
use crate::secret::AdminCredentials;
use crate::{io_err, EngineError, Result};

/// How long a snapshot may take (a dataset of a few GB on a slow disk).
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(600);

/// The tool that ships with `redis-server` in Debian's `redis-tools`, next to `redis-cli`.
fn tool(name: &str) -> PathBuf {
    PathBuf::from(name)
}

/// Writes the dataset of the node at `node` to `dest` (through a temporary file beside it, renamed when
/// complete). Returns the file's size.
pub async fn capture(node: &NodeAddr, admin: &AdminCredentials, dest: &Path) -> Result<u64> {
    let tmp = dest.with_extension("rdb.partial");
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut cmd = tokio::process::Command::new(tool("redis-cli"));
    cmd.arg("-s")
        .arg(&node.socket)
        .arg("--user")
        .arg(&admin.user)
        .arg("--no-auth-warning")
        .arg("--rdb")
        .arg(&tmp)
        // The password goes in the environment, never on a command line other users can read.
        .env("REDISCLI_AUTH", &admin.password)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(CAPTURE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| EngineError::Other(format!("snapshot of {} timed out", node.tcp)))?
        .map_err(|source| EngineError::Exec {
            path: tool("redis-cli"),
            source,
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(EngineError::Other(format!(
            "snapshot of {} failed: {}",
            node.tcp,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    std::fs::rename(&tmp, dest).map_err(io_err(dest))?;
    Ok(std::fs::metadata(dest).map_err(io_err(dest))?.len())
}

/// Checks an RDB file with `redis-check-rdb`; the error says what it found wrong.
pub async fn verify(file: &Path) -> Result<()> {
    let out = tokio::process::Command::new(tool("redis-check-rdb"))
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| EngineError::Exec {
            path: tool("redis-check-rdb"),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && text.contains("RDB looks OK") {
        Ok(())
    } else {
        Err(EngineError::Other(format!(
            "{} is not a sound RDB file: {}",
            file.display(),
            text.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
        )))
    }
}
