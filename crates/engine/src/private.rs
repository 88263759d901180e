//! Keeping a deployment's files to itself: the data directory is 0700 and every file the daemon or a node writes
//! is 0600 (the process umask is 077, inherited by every node; modes left by an older version are corrected at
//! start), secrets are written atomically, one daemon holds a data directory at a time (an exclusive `flock`
//! kept for the daemon's life), and admin sockets that cannot live in their node's directory live in a
//! directory only this user can enter.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::fcntl::{Flock, FlockArg};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::{io_err, EngineError, Result};

/// The mode of every directory the deployment owns.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file the deployment owns.
pub const FILE_MODE: u32 = 0o600;

/// Sets this process's umask to 077, so that every file it creates, and every file a node it starts creates
/// (append-only files, RDB files, logs), is readable by this user only.
pub fn restrict_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

/// Creates `dir` (and its missing parents) with mode 0700, and makes it 0700 if it already existed.
pub fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)).map_err(io_err(dir))
}

/// Makes every directory under `root` (and `root` itself) 0700 and every other entry 0600, without following
/// symbolic links. Returns how many modes it changed (files written before this rule, by an older version).
pub fn make_tree_private(root: &Path) -> Result<usize> {
    let mut changed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&p)(e)),
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let want = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        if meta.mode() & 0o7777 != want {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want))
                .map_err(io_err(&p))?;
            changed += 1;
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).map_err(io_err(&p))? {
                stack.push(e.map_err(io_err(&p))?.path());
            }
        }
    }
    Ok(changed)
}

/// A random alphanumeric string.
pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Writes `contents` to `path` atomically with mode 0600: into a temporary file beside it (never readable by
/// others, even for a moment), flushed to disk, then renamed over `path`, and the directory flushed, so a crash
/// leaves either the old contents or the new, never a part.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.tmp",
        random_token(8).to_ascii_lowercase()
    ));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io_err(path))
}

/// The exclusive hold of one daemon on a data directory, released when the daemon exits (the kernel drops the
/// `flock` with the process, so a killed daemon never leaves a stale lock).
#[derive(Debug)]
pub struct DirLock {
    _lock: Flock<File>,
}

/// A lock file, private to this user, created when missing and never truncated (it may name its holder).
fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err(path))
}

/// The lock file in a data directory.
pub const LOCK_FILE: &str = "daemon.lock";

impl DirLock {
    /// Takes the data directory `dir` for this process, writing `holder` (who this daemon is: pid, API address)
    /// into the lock file. Fails with a message naming the daemon that holds it.
    pub fn acquire(dir: &Path, holder: &str) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, _)) => {
                let mut who = String::new();
                let _ = file.read_to_string(&mut who);
                let who = who.trim();
                return Err(EngineError::Other(format!(
                    "the data directory {} is in use by another cacheplane daemon ({}); stop it first, or give \
                     this one another --data-dir",
                    dir.display(),
                    if who.is_empty() { "starting" } else { who }
                )));
            }
        };
        let write = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            f.write_all(holder.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        };
        write(&mut lock).map_err(io_err(&path))?;
        Ok(DirLock { _lock: lock })
    }
}

/// The lock file daemons sharing a data directory take, one at a time, while they set up what they share in it.
pub const INIT_LOCK_FILE: &str = "init.lock";

/// The hold of one starting daemon on the set-up of a shared data directory (its secrets, CA and credentials are
/// made once, by whichever starts first), released when dropped.
#[derive(Debug)]
pub struct InitLock {
    _lock: Flock<File>,
}

impl InitLock {
    /// Waits until no other daemon sets up `dir`, then holds it.
    pub fn wait(dir: &Path) -> Result<InitLock> {
        let path = dir.join(INIT_LOCK_FILE);
        let file = open_lock_file(&path)?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| EngineError::Other(format!("cannot lock {}: {e}", path.display())))?;
        Ok(InitLock { _lock: lock })
    }
}

static SOCKET_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The directory for admin sockets whose path inside their node's directory would be too long for a Unix socket
/// address: `cacheplane-<uid>-<digest of the data directory>` in the system's temporary directory.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!(
        "cacheplane-{}-{}",
        nix::unistd::geteuid(),
        &hex::encode(digest)[..16]
    ))
}

/// Prepares the private directory for the long-path admin sockets of the deployment in `data_dir`, creating it
/// 0700 when it is missing. A directory of that name that is not this user's own, or that others may enter, or a
/// symbolic link, is refused: a local user who made it first could otherwise receive the admin password of
/// whoever connects through it.
pub fn prepare_socket_dir(data_dir: &Path) -> Result<PathBuf> {
    let dir = socket_dir_for(data_dir);
    // Every admin socket of a short data directory fits in its node's directory (`nodes/<member id of at most 44
    // characters, 50 for a cache cluster>/admin.sock`): nothing to prepare, nothing left in the temporary directory.
    if data_dir.as_os_str().len() + 70 < 100 {
        return Ok(dir);
    }
    match DirBuilder::new().mode(DIR_MODE).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(&dir)(e)),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(io_err(&dir))?;
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.file_type().is_symlink() || !ours || meta.mode() & 0o077 != 0 {
        return Err(EngineError::Other(format!(
            "{} is not a private directory of this user (owner uid {}, mode {:o}); remove it: admin sockets are \
             kept only where no other user can reach them",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    let _ = SOCKET_DIR.set(dir.clone());
    Ok(dir)
}

/// Where a long-path admin socket named `name` goes: the prepared private directory (see
/// [`prepare_socket_dir`]); `None` when none was prepared in this process.
pub(crate) fn long_socket_path(name: &str) -> Option<PathBuf> {
    SOCKET_DIR.get().map(|d| d.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_made_private_and_lock_held_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let sub = d.path().join("a/b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::write(sub.join("f"), "x").expect("write");
        std::fs::set_permissions(sub.join("f"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(make_tree_private(d.path()).expect("fix") >= 2);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").mode() & 0o777;
        assert_eq!(mode(&sub.join("f")), 0o600);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(make_tree_private(d.path()).expect("again"), 0);

        let first = DirLock::acquire(d.path(), "pid 1, API on 127.0.0.1:1").expect("first");
        let err = DirLock::acquire(d.path(), "pid 2").expect_err("second refused");
        assert!(
            err.to_string().contains("pid 1, API on 127.0.0.1:1"),
            "{err}"
        );
        drop(first);
        DirLock::acquire(d.path(), "pid 3").expect("free again");
    }

    #[test]
    fn atomic_write_is_private_and_whole() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("secret");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("rewrite");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "two");
        assert_eq!(std::fs::metadata(&p).expect("meta").mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(d.path()).expect("ls").count(), 1);
    }
}
