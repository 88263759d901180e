//! Host agents in tests: `cacheplane agent` processes of this machine, each with its own address range, joined to
//! a daemon with a token of `cacheplane hosts token`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::daemon::{free_port, Daemon};

pub struct Agent {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub zone: String,
    /// `127.<n>.0.0/16`.
    pub addresses: String,
    pub port: u16,
    pub controls: Vec<String>,
    /// The host's name, once joined.
    pub name: String,
    /// `CACHEPLANE_LOG` of the agent.
    pub log: &'static str,
    /// More `cacheplane agent` arguments.
    pub extra_args: Vec<String>,
}

/// A new join token of the deployment of daemon `d`.
pub fn join_token(d: &Daemon, store: Option<&str>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cacheplane"));
    c.args(["hosts", "token", "--data-dir"]).arg(d.data_dir());
    if let Some(url) = store {
        c.args(["--store", url]);
    }
    let out = c.output().expect("cacheplane hosts token");
    assert!(
        out.status.success(),
        "hosts token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

impl Agent {
    /// An agent in `zone` with the addresses `127.<octet>.0.0/16`, joined to `controls` with `token`.
    pub fn join(controls: &[&Daemon], zone: &str, octet: u8, token: &str) -> Agent {
        Self::join_logging(controls, zone, octet, token, "info")
    }

    /// [`Agent::join`] with more `cacheplane agent` arguments.
    pub fn join_with(
        controls: &[&Daemon],
        zone: &str,
        octet: u8,
        token: &str,
        args: &[&str],
    ) -> Agent {
        Self::start(controls, zone, octet, token, "info", args)
    }

    /// [`Agent::join`], logging at `log`.
    pub fn join_logging(
        controls: &[&Daemon],
        zone: &str,
        octet: u8,
        token: &str,
        log: &'static str,
    ) -> Agent {
        Self::start(controls, zone, octet, token, log, &[])
    }

    fn start(
        controls: &[&Daemon],
        zone: &str,
        octet: u8,
        token: &str,
        log: &'static str,
        args: &[&str],
    ) -> Agent {
        let mut a = Agent {
            child: None,
            dir: tempfile::tempdir().expect("tempdir"),
            zone: zone.to_string(),
            addresses: format!("127.{octet}.0.0/16"),
            port: free_port(),
            controls: controls.iter().map(|d| d.endpoint()).collect(),
            name: String::new(),
            log,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
        };
        a.spawn(Some(token));
        a
    }

    /// Where the agent answers (`https://127.<n>.0.1:<port>`).
    pub fn url(&self) -> String {
        let octet = self.addresses.split('.').nth(1).unwrap_or("0");
        format!("https://127.{octet}.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts) the agent; it has joined once `token` was given.
    pub fn spawn(&mut self, token: Option<&str>) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cacheplane"));
        c.arg("agent");
        for url in &self.controls {
            c.args(["--control", url]);
        }
        c.args(["--zone", &self.zone, "--addresses", &self.addresses])
            .args(["--port", &self.port.to_string(), "--data-dir"])
            .arg(self.data_dir())
            .args(&self.extra_args)
            .env("CACHEPLANE_LOG", self.log)
            .env_remove("CACHEPLANE_JOIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(t) = token {
            c.env("CACHEPLANE_JOIN_TOKEN", t);
        }
        let mut child = c.spawn().expect("start cacheplane agent");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .expect("the agent says it answers")
                .expect("readable");
            if let Some(rest) = line.strip_prefix("cacheplane agent: host ") {
                self.name = rest.split(' ').next().unwrap_or_default().to_string();
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// `kill -9` of the agent only: its nodes keep running.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The pids of the nodes under this agent (their pid files: Redis/Valkey or Memcached).
    pub fn node_pids(&self) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.data_dir().join("nodes")) {
            for e in rd.flatten() {
                if let Some(pid) = ["redis.pid", "memcached.pid"]
                    .iter()
                    .find_map(|f| std::fs::read_to_string(e.path().join(f)).ok())
                    .and_then(|s| s.trim().parse().ok())
                {
                    v.push((e.file_name().to_string_lossy().to_string(), pid));
                }
            }
        }
        v.sort();
        v
    }

    /// Kills the agent and every node it runs: the host is lost.
    pub fn lose(&mut self) {
        self.kill9();
        for round in 0..2 {
            // The nodes working in this agent's directory, not the pids its pid files name: a stale file's pid
            // may since be another test's node (pids wrap at 32,768 here).
            let dir = self.data_dir();
            for pid in super::daemon::redis_servers_under(dir)
                .into_iter()
                .chain(super::daemon::memcached_under(dir))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if round == 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.lose();
    }
}
