//! A node restored from a snapshot starts from an append-only file made of the snapshot's RDB, so it loads the data
//! exactly as `redis-server` loads an RDB file, runs with `appendonly yes` from its first start, and has no
//! append-only file to rewrite afterwards (a rewrite of gigabytes would double the time to `available`, and Redis
//! refuses to stop while it writes its first one).
//!
//! - Redis 7 and later keep the append-only file as a directory of parts listed by a manifest: the snapshot becomes
//!   the base part (a hard link to the snapshot file: base parts are only ever read, and a rewrite replaces them
//!   with a new file; a copy where a link cannot be made), beside an empty increment, and the manifest is written
//!   last, atomically. A node whose manifest exists has data of its own and is never restored again.
//! - Earlier versions keep one `appendonly.aof`, which may begin with an RDB preamble: the snapshot is copied there
//!   (not linked: Redis appends to that file), under a temporary name renamed when complete.

use std::path::Path;

use crate::spec::NodeSpec;
use crate::{io_err, Result};

/// `appendfilename`: Redis's default, which every node uses.
pub const AOF_NAME: &str = "appendonly.aof";
/// `appenddirname` (Redis 7 and later): Redis's default, which every node uses.
pub const AOF_DIR: &str = "appendonlydir";

/// Whether the node's engine keeps its append-only file in parts (Redis 7 and later).
fn multi_part(spec: &NodeSpec) -> bool {
    spec.engine_version.0 >= 7
}

/// Whether the node has data of its own: an append-only file, complete.
pub fn has_data(spec: &NodeSpec) -> bool {
    if multi_part(spec) {
        spec.dir
            .join(AOF_DIR)
            .join(format!("{AOF_NAME}.manifest"))
            .exists()
    } else {
        spec.dir.join(AOF_NAME).exists()
    }
}

/// True when `spec`'s node is to start from its snapshot: it has one, and no data of its own yet.
pub fn restoring(spec: &NodeSpec) -> bool {
    spec.restore_rdb.is_some() && !has_data(spec)
}

/// Lays out the append-only file of a node that is to start from its snapshot; does nothing for any other node.
pub fn prepare(spec: &NodeSpec) -> Result<()> {
    let Some(rdb) = spec.restore_rdb.as_deref().filter(|_| restoring(spec)) else {
        return Ok(());
    };
    if multi_part(spec) {
        let dir = spec.dir.join(AOF_DIR);
        // Whatever an interrupted attempt left (no manifest yet) is started over.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let base = dir.join(format!("{AOF_NAME}.1.base.rdb"));
        if std::fs::hard_link(rdb, &base).is_err() {
            copy_synced(rdb, &base)?;
        }
        let incr = dir.join(format!("{AOF_NAME}.1.incr.aof"));
        crate::private::write_atomic(&incr, b"")?;
        let manifest = format!(
            "file {AOF_NAME}.1.base.rdb seq 1 type b\nfile {AOF_NAME}.1.incr.aof seq 1 type i\n"
        );
        crate::private::write_atomic(
            &dir.join(format!("{AOF_NAME}.manifest")),
            manifest.as_bytes(),
        )
    } else {
        let tmp = spec.dir.join(format!(".{AOF_NAME}.restore.tmp"));
        copy_synced(rdb, &tmp)?;
        let dest = spec.dir.join(AOF_NAME);
        std::fs::rename(&tmp, &dest).map_err(io_err(&dest))
    }
}

/// Copies `from` to `to` (mode 0600) and flushes it to disk.
fn copy_synced(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let copied = (|| {
        let mut src = std::fs::File::open(from)?;
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(crate::private::FILE_MODE)
            .open(to)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()
    })();
    copied.map_err(io_err(to))
}

/// Removes a stopped node's data files (its append-only file in either layout, and any RDB file), so that it starts
/// empty: for a replica about to full-sync anyway, whose own copy would only be loaded to be thrown away.
pub fn discard_data(spec: &NodeSpec) -> Result<()> {
    discard_data_at(&spec.dir)
}

/// [`discard_data`] of the node directory `dir`.
pub fn discard_data_at(node: &std::path::Path) -> Result<()> {
    let dir = node.join(AOF_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
    }
    for name in [AOF_NAME, "dump.rdb", crate::spec::RESTORE_FILE] {
        let file = node.join(name);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(&file)(e)),
            _ => {}
        }
    }
    Ok(())
}
