//! `redis-server` processes: spawn, adopt after a control-plane restart, watch, stop.
//!
//! Nodes run in a process group of their own so a Ctrl-C or a signal to the daemon never reaches them: the data
//! plane outlives the control plane. Each node writes a pid file in its directory; adoption checks that the pid
//! is alive, is a `redis-server`, and that the node answering on the node's address reports that same pid.

use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::admin::AdminClient;
use crate::config::render;
use crate::secret::{write_private, AdminCredentials};
use crate::spec::NodeSpec;
use crate::{io_err, EngineError, Result};

/// How long a fresh node may take to answer `PING`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// True when a process title's first word is an engine server (`redis-server` or `valkey-server`).
pub fn is_engine_program(word: &str) -> bool {
    word.ends_with("redis-server") || word.ends_with("valkey-server")
}

/// True when `pid` is a live (not zombie) `redis-server` (or `valkey-server`) process.
pub fn is_redis_alive(pid: u32) -> bool {
    is_alive(pid, &["redis-server", "valkey-server"])
}

/// True when `pid` is a live (not zombie) engine process: Redis, Valkey or Memcached.
pub fn is_engine_alive(pid: u32) -> bool {
    is_alive(pid, &["redis-server", "valkey-server", "memcached"])
}

/// True when `pid` is a live (not zombie) process whose command line names one of `programs`.
pub fn is_alive(pid: u32, programs: &[&str]) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Field 3, after the parenthesised command name, is the state; Z and X are dead.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let c = String::from_utf8_lossy(&c);
            programs.iter().any(|p| c.contains(p))
        })
        .unwrap_or(false)
}

/// What `/proc` says of a running process: its state letter (`R` running, `S` sleeping, `D` in I/O, `T`
/// stopped, `t` traced, `Z` zombie) and the CPU time it has used, in clock ticks (user and system, every
/// thread). `None` when the process is gone.
pub fn cpu_and_state(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (man 5 proc).
    let state = fields.first()?.chars().next()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((state, utime + stime))
}

/// Whether process `pid` runs with its working directory under `dir` (a node's process works in its node
/// directory); false when it is gone or not this user's to look at.
pub fn runs_in(pid: u32, dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
}

/// The memory a running process holds (its resident set, `/proc/<pid>/statm`), in bytes; `None` when it is gone.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .filter(|n| *n > 0)
        .map_or(4096, |n| n as u64)
}

/// The memory this machine can still give new processes without swapping (`MemAvailable` of `/proc/meminfo`), in
/// bytes; `None` when the kernel does not say.
pub fn memory_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Reads the pid a node wrote.
pub fn read_pid(spec: &NodeSpec) -> Option<u32> {
    std::fs::read_to_string(spec.pid_path())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Writes the node's config file (mode 0600: it holds `masterauth`).
pub fn write_config(spec: &NodeSpec, admin: &AdminCredentials) -> Result<()> {
    std::fs::create_dir_all(&spec.dir).map_err(io_err(&spec.dir))?;
    crate::restore::prepare(spec)?;
    crate::cluster::seed_state(spec)?;
    write_private(&spec.config_path(), &render(spec, admin))
}

/// A node this process started.
#[derive(Debug, Clone)]
pub struct Spawned {
    pub pid: u32,
    /// Turns true the moment the process exits (it is our child, so the kernel tells us at once).
    pub exited: tokio::sync::watch::Receiver<bool>,
}

/// Starts a node and waits until it answers `PING` as the admin user.
pub async fn spawn(spec: &NodeSpec, admin: &AdminCredentials) -> Result<Spawned> {
    write_config(spec, admin)?;
    let _ = std::fs::remove_file(spec.pid_path());
    // What Redis prints before it opens its log file (a config it cannot read, a port it cannot bind) goes to the
    // same log, so the reason a node did not start is never lost.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(crate::private::FILE_MODE)
        .open(spec.log_path())
        .map_err(io_err(spec.log_path()))?;
    let log2 = log.try_clone().map_err(io_err(spec.log_path()))?;
    let mut cmd = std::process::Command::new(&spec.binary);
    cmd.arg(spec.config_path())
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .process_group(0);
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(false)
        .spawn()
        .map_err(|source| EngineError::Exec {
            path: spec.binary.clone(),
            source,
        })?;
    let pid = child
        .id()
        .ok_or_else(|| EngineError::Other(format!("{} exited at once", spec.name)))?;
    // Reap the child whenever it exits so it never lingers as a zombie; watchers see it gone through /proc.
    // Until it is reaped, `exited` tells readiness polling whether it is still worth waiting (a check of
    // /proc/<pid>/cmdline right after the fork may still show our own command line, before the exec).
    let (exited_tx, exited) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = child.wait().await;
        let _ = exited_tx.send(true);
    });
    wait_ready(spec, admin, pid, || *exited.borrow()).await?;
    Ok(Spawned { pid, exited })
}

/// Polls the node until it answers, or fails early when `exited` says the process is gone.
pub async fn wait_ready(
    spec: &NodeSpec,
    admin: &AdminCredentials,
    pid: u32,
    exited: impl Fn() -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut last;
    loop {
        match AdminClient::connect(&spec.node_addr(), admin).await {
            Ok(mut c) => match c.ping().await {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        if exited() {
            let log = std::fs::read_to_string(spec.log_path()).unwrap_or_default();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .filter(|l| !l.trim().is_empty())
                .take(6)
                .collect();
            return Err(EngineError::NotReady {
                node: spec.name.clone(),
                millis: 0,
                detail: format!(
                    "process {pid} exited; log: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ),
            });
        }
        if tokio::time::Instant::now() > deadline {
            return Err(EngineError::NotReady {
                node: spec.name.clone(),
                millis: READY_TIMEOUT.as_millis() as u64,
                detail: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// Adopts a node that may still run from before a control-plane restart. Returns its pid when the process
/// named by the pid file is alive and is the node answering on the node's address.
pub async fn adopt(spec: &NodeSpec, admin: &AdminCredentials) -> Option<u32> {
    let pid = read_pid(spec)?;
    if !is_redis_alive(pid) {
        return None;
    }
    let mut c = AdminClient::connect(&spec.node_addr(), admin).await.ok()?;
    let info = c.info("server").await.ok()?;
    (info.get("process_id").and_then(|p| p.parse::<u32>().ok()) == Some(pid)).then_some(pid)
}

/// Stops a node: SIGTERM, repeated every quarter second, then SIGKILL after `grace`. Waits until the process
/// is gone. The repetition matters: Redis refuses a shutdown while it writes its first append-only file (right
/// after a replica's full sync, "Writing initial AOF, can't exit") and does not retry by itself.
pub async fn stop(pid: u32, grace: Duration) {
    if !is_engine_alive(pid) {
        return;
    }
    let p = Pid::from_raw(pid as i32);
    let _ = kill(p, Signal::SIGTERM);
    let start = tokio::time::Instant::now();
    let mut last_term = start;
    while any_thread_alive(pid) {
        let now = tokio::time::Instant::now();
        if now > start + grace {
            let _ = kill(p, Signal::SIGKILL);
        } else if now > last_term + Duration::from_millis(250) {
            let _ = kill(p, Signal::SIGTERM);
            last_term = now;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// True while any thread of process `pid` still runs. The main thread of a killed process turns zombie before
/// its other threads have exited, and the process's sockets are released only when the last one has.
fn any_thread_alive(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        std::fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
            })
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Kills a node at once (SIGKILL, which also ends a stopped process) and waits until every thread is gone. This
/// is the fence of a failed primary: once it returns true, the process can neither accept a write nor hold its
/// addresses. False when threads of it are still there after 5 s (a process stuck in the kernel, in `D` state):
/// the caller must not act as if it were gone.
#[must_use]
pub async fn kill_now(pid: u32) -> bool {
    if is_engine_alive(pid) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while any_thread_alive(pid) {
        if tokio::time::Instant::now() >= deadline {
            tracing::error!(pid, "a killed node still has live threads after 5 s");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// The pids of every `redis-server` process whose title names `addr` (Redis titles itself
/// `<path of redis-server> <address>:<port>`): how a node is found when its pid file is gone.
pub fn pids_serving(addr: std::net::SocketAddr) -> Vec<u32> {
    let addr = addr.to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let title = String::from_utf8_lossy(&c);
            let mut words = title.split(['\0', ' ']).filter(|w| !w.is_empty());
            words.next().is_some_and(is_engine_program) && words.next() == Some(&addr)
        })
        .filter(|pid| is_redis_alive(*pid))
        .collect()
}

/// True when something still accepts TCP connections on `addr` (a fenced node must not: it would keep
/// clients, and the address could not move).
pub async fn accepts(addr: std::net::SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

/// Removes a node's directory and everything in it.
pub fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
    }
}

/// A change to the files of a node that does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DirChange {
    /// Removes its cluster state (`nodes.conf`) and its data, so that it starts again as a new, empty cluster node.
    DiscardClusterState,
    /// Removes its data files, so that it starts empty and takes a full sync.
    DiscardData,
    /// Removes the snapshot it was restored from, once the restore is complete.
    RemoveRestoreFile,
}

/// Makes `change` to the directory of the node of `spec`.
pub fn change_dir(spec: &NodeSpec, change: DirChange) -> Result<()> {
    change_dir_at(&spec.dir, change)
}

/// Makes `change` to the node directory `dir`.
pub fn change_dir_at(dir: &Path, change: DirChange) -> Result<()> {
    match change {
        DirChange::DiscardClusterState => crate::cluster::discard_state_at(dir),
        DirChange::DiscardData => crate::restore::discard_data_at(dir),
        DirChange::RemoveRestoreFile => {
            let file = dir.join(crate::spec::RESTORE_FILE);
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&file)(e)),
                _ => Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_runs_in_its_working_directory_and_not_elsewhere() {
        let here = tempfile::tempdir().expect("dir");
        let elsewhere = tempfile::tempdir().expect("dir");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(here.path())
            .spawn()
            .expect("sleep");
        let pid = child.id();
        assert!(runs_in(pid, here.path()));
        assert!(runs_in(pid, here.path().parent().expect("parent")));
        assert!(!runs_in(pid, elsewhere.path()));
        let _ = child.kill();
        let _ = child.wait();
        assert!(!runs_in(pid, here.path()), "gone");
    }
}
