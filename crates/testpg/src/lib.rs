//! A private PostgreSQL server for the tests of Cacheplane's crates: Debian's `postgresql` binaries, a temporary directory, a Unix socket in it
//! and no TCP port, run as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root). The
//! server is stopped by its pid when the value is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The port number that names the socket file (`.s.PGSQL.<port>`); nothing listens on TCP.
const PORT: u16 = 5432;

pub struct TestPostgres {
    dir: tempfile::TempDir,
    server: Child,
}

/// The directory of the newest installed PostgreSQL's binaries (`CACHEPLANE_PG_BIN` overrides).
fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CACHEPLANE_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: scripts/test.sh installs Debian's postgresql")
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("no PostgreSQL server binaries under /usr/lib/postgresql")
        .1
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program` with `args`, as the `postgres` user when this process is root.
fn as_server_user(program: &Path, args: &[&str]) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program).args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

/// Runs `f` on a thread of its own: the synchronous client drives a runtime of its own, which cannot start on a
/// thread of an async test's runtime.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("a thread of the test"))
}

impl TestPostgres {
    /// Creates a cluster in a new temporary directory and starts its server; returns once it accepts connections.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cp-pg")
            .tempdir()
            .expect("tempdir");
        if running_as_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "cannot give the test directory to the postgres user");
        }
        let bin = bin_dir();
        let data = dir.path().join("data");
        let data_s = data.to_str().expect("path");
        let out = as_server_user(
            &bin.join("initdb"),
            &[
                "-D",
                data_s,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .expect("initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket_dir = dir.path().to_str().expect("path").to_string();
        let port = PORT.to_string();
        let server = as_server_user(
            &bin.join("postgres"),
            &[
                "-D",
                data_s,
                "-k",
                &socket_dir,
                "-p",
                &port,
                "-c",
                "listen_addresses=",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=50",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres");
        let pg = TestPostgres { dir, server };
        let deadline = Instant::now() + Duration::from_secs(30);
        while off_runtime(|| {
            postgres::Client::connect(&pg.url("postgres"), postgres::NoTls).map(drop)
        })
        .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the test PostgreSQL server did not accept connections within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pg
    }

    /// The connection string of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "host={} port={PORT} user=postgres dbname={name}",
            self.dir.path().display()
        )
    }

    /// A new, empty database; its connection string.
    pub fn database(&self, name: &str) -> String {
        off_runtime(|| {
            let mut c = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
                .expect("connect to the test server");
            c.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
        });
        self.url(name)
    }

    /// The server's own pid (the child may be `runuser` in front of it).
    fn postmaster_pid(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        text.lines().next().map(str::to_string)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // A fast shutdown (SIGINT) of the server by its pid, then the wait for the process we started.
        if let Some(pid) = self.postmaster_pid() {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        } else {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}
