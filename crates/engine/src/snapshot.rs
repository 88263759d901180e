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

/// The `redis-cli` that ships beside the engine binary `engine` (never one found on `PATH`, which may be of
/// another version, or not Redis's at all).
fn cli_beside(engine: &Path) -> Result<PathBuf> {
    let cli = engine.with_file_name("redis-cli");
    if cli.is_file() {
        Ok(cli)
    } else {
        Err(EngineError::Other(format!(
            "no redis-cli beside {}: snapshots of its nodes need the redis-cli of the same build",
            engine.display()
        )))
    }
}

/// Writes the dataset of the node at `node` to `dest` (through a temporary file beside it, renamed when
/// complete). Returns the file's size.
/// `engine` is the `redis-server` the node runs: its own `redis-cli` reads the stream.
pub async fn capture(
    node: &NodeAddr,
    admin: &AdminCredentials,
    dest: &Path,
    engine: &Path,
) -> Result<u64> {
    let tmp = dest.with_extension("rdb.partial");
    if let Some(dir) = dest.parent() {
        crate::private::create_dir(dir)?;
    }
    let cli = cli_beside(engine)?;
    let mut cmd = tokio::process::Command::new(&cli);
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
        .map_err(|source| EngineError::Exec { path: cli, source })?;
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

/// Checks an RDB file with `redis-check-rdb` of the engine binary `engine` (the one that wrote it): Redis's
/// checker is `redis-server` itself run under that name, so every engine build carries its own, whatever
/// is on `PATH`. The error says what it found wrong.
pub async fn verify(file: &Path, engine: &Path) -> Result<()> {
    let mut cmd = std::process::Command::new(engine);
    std::os::unix::process::CommandExt::arg0(&mut cmd, "redis-check-rdb");
    let out = tokio::process::Command::from(cmd)
        .arg(file)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| EngineError::Exec {
            path: engine.to_path_buf(),
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
