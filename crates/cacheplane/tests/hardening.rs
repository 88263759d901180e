//! Hardening (issue 12): private data at rest, one daemon per data directory, admin sockets out of reach, names
//! that cannot break a node's config file, a bounded API.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Every entry under `root` whose mode lets another user in (group or other bits), with its mode.
fn not_private(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut bad = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.file_type().is_symlink() {
            continue;
        }
        if m.mode() & 0o077 != 0 {
            bad.push((p.clone(), m.mode() & 0o7777));
        }
        if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_at_rest_is_private_and_one_daemon_holds_it() {
    let mut d = Daemon::start();
    let c = d.client();
    c.create_replication_group()
        .replication_group_id("priv")
        .replication_group_description("private files")
        .num_cache_clusters(2)
        .send()
        .await
        .expect("create");
    wait_available(&c, "priv", Duration::from_secs(30)).await;
    c.create_snapshot()
        .replication_group_id("priv")
        .snapshot_name("priv-snap")
        .send()
        .await
        .expect("snapshot");
    wait_snapshot(&c, "priv-snap").await;
    let bad = not_private(d.data_dir());
    assert!(bad.is_empty(), "entries others can read: {bad:?}");
    let root_mode = std::fs::metadata(d.data_dir()).expect("meta").mode() & 0o777;
    assert_eq!(root_mode, 0o700);
    // The nodes' own files (append-only files, logs) are theirs only too.
    let aof = std::fs::read_dir(d.data_dir().join("nodes"))
        .expect("nodes")
        .flatten()
        .map(|e| e.path().join("appendonlydir"))
        .find(|p| p.exists())
        .expect("an append-only directory");
    for e in std::fs::read_dir(&aof).expect("aof").flatten() {
        assert_eq!(
            e.metadata().expect("meta").mode() & 0o077,
            0,
            "{:?}",
            e.path()
        );
    }

    // A second daemon on the same directory refuses to start, naming the running one.
    let first_pid = d.child.as_ref().expect("running").id();
    let out = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(d.data_dir())
        .env("CACHEPLANE_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("CACHEPLANE_SECRET_ACCESS_KEY", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("second daemon runs");
    assert!(!out.status.success(), "a second daemon started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by another cacheplane daemon")
            && err.contains(&format!("pid {first_pid},")),
        "{err}"
    );

    // Files an older version left readable are made private at the next start.
    d.kill9();
    let store = d.data_dir().join("cacheplane.sqlite3");
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::set_permissions(d.data_dir(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    d.spawn();
    let bad = not_private(d.data_dir());
    assert!(bad.is_empty(), "still readable after a restart: {bad:?}");
    wait_available(&d.client(), "priv", Duration::from_secs(30)).await;
}
