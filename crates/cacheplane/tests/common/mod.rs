//! Test harness: starts the real `cacheplane` binary on a free port with a temporary data directory, gives a real
//! `aws-sdk-elasticache` client and a signer for hand-made requests, and on drop stops the daemon and every node
//! it started (by pid, from the nodes' pid files).

#![allow(dead_code)]

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
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Daemon {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Self {
            child: None,
            addr: "127.0.0.1:0".parse().expect("addr"),
            dir,
        };
        d.spawn();
        d
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts (or restarts) the daemon on the same data directory.
    pub fn spawn(&mut self) {
        let port = if self.addr.port() == 0 {
            free_port()
        } else {
            self.addr.port()
        };
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = Command::new(env!("CARGO_BIN_EXE_cacheplane"))
            .args(["serve", "--listen", &self.addr.to_string(), "--data-dir"])
            .arg(self.dir.path())
            .env("CACHEPLANE_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("CACHEPLANE_SECRET_ACCESS_KEY", SECRET)
            .env("CACHEPLANE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cacheplane");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("a line on stdout").expect("readable");
        assert!(
            line.contains("API listening"),
            "unexpected first line: {line}"
        );
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

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        for (_, pid) in self.node_pids() {
            if engine::process::is_redis_alive(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
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
    format!(
        "redis://{}:{}/",
        ep.address().expect("address"),
        ep.port().expect("port")
    )
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
