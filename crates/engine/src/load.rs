//! Loading RDB files into a Redis Cluster whose slots are split differently from the data's source (a dataset of 3
//! primaries loaded into 4, or of a Redis without cluster into a cluster):
//! each key must go to the primary that serves its slot.
//!
//! Each file is loaded by a private `redis-server` of the group's engine (no TCP port, a unix socket in a private
//! directory, the file as its RDB), which then sends its keys on with `MIGRATE … COPY REPLACE KEYS` in batches,
//! each batch to the primary serving the keys' slots: Redis itself serializes, sends and restores the values
//! (`DUMP`/`RESTORE` over one connection per target), with their expiry. `REPLACE` makes a repeated load (after a
//! daemon died in the middle) idempotent.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::secret::AdminCredentials;
use crate::{io_err, EngineError, Result};

/// The hash slot of `key`, as Redis Cluster computes it: CRC16 (XMODEM) of the key, or of its hash tag (the part
/// between the first `{` and the next `}`, when not empty), modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    CRC16.checksum(hashed) % crate::cluster::SLOTS
}

/// A primary and the slots it serves.
#[derive(Debug, Clone)]
pub struct SlotOwner {
    pub addr: SocketAddr,
    pub slots: Vec<(u16, u16)>,
}

/// Keys per `SCAN` and per `MIGRATE` batch.
const BATCH: usize = 1000;
/// How long one `MIGRATE` may take (Redis's own timeout for its connection to the target).
const MIGRATE_TIMEOUT_MS: u64 = 60_000;

/// Which of the file's databases are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Databases {
    /// Database 0 only: the targets run Redis Cluster, which has no other.
    First,
    /// Every database that holds keys, each key into the database of its number on the target (a target without
    /// cluster mode).
    All,
}

/// Loads RDB file `rdb` with the engine `binary` in `work` (a directory of its own, emptied first) and sends every
/// key to the owner of its slot among `owners`. Returns the number of keys sent. `within` bounds the loading.
#[allow(clippy::too_many_arguments)]
pub async fn load_by_slot(
    rdb: &Path,
    binary: &Path,
    work: &Path,
    owners: &[SlotOwner],
    admin: &AdminCredentials,
    tls: Option<&crate::tls::NodeCertificate>,
    databases: Databases,
    within: Duration,
) -> Result<u64> {
    // A loader a daemon that died left behind is stopped first (its pid file says which).
    if let Ok(text) = std::fs::read_to_string(work.join("loader.pid")) {
        if let Ok(pid) = text.trim().parse::<u32>() {
            if crate::process::is_redis_alive(pid) {
                let _ = crate::process::kill_now(pid).await;
            }
        }
    }
    let _ = std::fs::remove_dir_all(work);
    crate::private::create_dir(work)?;
    let file = work.join("dump.rdb");
    if std::fs::hard_link(rdb, &file).is_err() {
        std::fs::copy(rdb, &file).map_err(io_err(&file))?;
    }
    let (pid, log) = (work.join("loader.pid"), work.join("loader.log"));
    let mut extra: Vec<&OsStr> = vec![
        OsStr::new("--dbfilename"),
        OsStr::new("dump.rdb"),
        OsStr::new("--pidfile"),
        pid.as_os_str(),
        OsStr::new("--logfile"),
        log.as_os_str(),
    ];
    // With TLS on the group's nodes, `MIGRATE` speaks TLS to them (Redis uses TLS for it with `tls-cluster`).
    if let Some(t) = tls {
        extra.extend([
            OsStr::new("--tls-cluster"),
            OsStr::new("yes"),
            OsStr::new("--tls-cert-file"),
            t.cert.as_os_str(),
            OsStr::new("--tls-key-file"),
            t.key.as_os_str(),
            OsStr::new("--tls-ca-cert-file"),
            t.ca.as_os_str(),
        ]);
    }
    let mut server = crate::scratch::Scratch::start(binary, work, &extra)?;
    let result = async {
        let mut conn = server.connect(within).await?;
        let dbs = match databases {
            Databases::First => vec![0],
            Databases::All => databases_with_keys(&mut conn).await?,
        };
        let mut sent = 0;
        for db in dbs {
            sent += send_keys(&mut conn, owners, admin, db).await?;
        }
        Ok(sent)
    }
    .await;
    let socket = crate::spec::admin_socket(work);
    server.stop().await;
    let _ = std::fs::remove_file(socket);
    let _ = std::fs::remove_dir_all(work);
    result
}

fn loader_err(source: redis::RedisError) -> EngineError {
    EngineError::Redis {
        node: "snapshot loader".into(),
        source,
    }
}

/// The numbers of the databases that hold keys (`INFO keyspace`: `db3:keys=…`).
async fn databases_with_keys(conn: &mut redis::aio::MultiplexedConnection) -> Result<Vec<u32>> {
    let text: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(conn)
        .await
        .map_err(loader_err)?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("db")?.split_once(':')?.0.parse().ok())
        .collect())
}

/// Sends the keys of database `db` (the loader's connection is switched to it) into database `db` of the owners.
async fn send_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    owners: &[SlotOwner],
    admin: &AdminCredentials,
    db: u32,
) -> Result<u64> {
    redis::cmd("SELECT")
        .arg(db)
        .query_async::<()>(conn)
        .await
        .map_err(loader_err)?;
    let owner_of = |slot: u16| {
        owners
            .iter()
            .position(|o| o.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
    };
    let mut cursor: u64 = 0;
    let mut sent = 0u64;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(conn)
            .await
            .map_err(loader_err)?;
        let mut by_owner: Vec<Vec<Vec<u8>>> = vec![Vec::new(); owners.len()];
        for k in keys {
            let slot = key_slot(&k);
            let o = owner_of(slot)
                .ok_or_else(|| EngineError::Other(format!("no primary serves slot {slot}")))?;
            by_owner[o].push(k);
        }
        let mut pipe = redis::pipe();
        for (o, keys) in owners.iter().zip(&by_owner) {
            if keys.is_empty() {
                continue;
            }
            sent += keys.len() as u64;
            pipe.cmd("MIGRATE")
                .arg(o.addr.ip().to_string())
                .arg(o.addr.port())
                .arg("")
                .arg(db)
                .arg(MIGRATE_TIMEOUT_MS)
                .arg("COPY")
                .arg("REPLACE")
                .arg("AUTH2")
                .arg(&admin.user)
                .arg(&admin.password)
                .arg("KEYS")
                .arg(keys)
                .ignore();
        }
        pipe.query_async::<()>(conn)
            .await
            .map_err(|source| EngineError::Redis {
                node: "snapshot loader (MIGRATE)".into(),
                source,
            })?;
        if next == 0 {
            return Ok(sent);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_as_redis_computes_them() {
        // Values from Redis's documentation and `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"somekey"), 11058);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }
}
