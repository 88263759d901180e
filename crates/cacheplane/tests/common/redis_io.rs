//! The nodes' side: connections (plain, with timeouts, TLS, as the admin user), datasets written and compared,
//! a plain `redis-server` outside Cacheplane, raw sockets read to their end.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

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
        let binary = engine::binary::find_on_path().expect("redis-server");
        Self::launch(&binary, free_port(), dir, extra)
    }

    /// Starts `binary` on `port` of 127.0.0.1 in `dir`, with `extra` arguments (after the harness's own, so they
    /// win); waits until it accepts connections.
    pub fn launch(binary: &Path, port: u16, dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let child = Command::new(binary)
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
            .expect("plain redis-server");
        wait_listening(([127, 0, 0, 1], port).into(), Duration::from_secs(10));
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

impl Drop for PlainRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Waits until the node at `url` holds `key` = `value` (replication is asynchronous).
pub async fn wait_value(url: &str, key: &str, value: &str) {
    use redis::AsyncCommands;
    let c = redis_conn(url).await;
    super::waits::eventually(
        &format!("{key} = {value} at {url}"),
        Duration::from_secs(30),
        || {
            let mut c = c.clone();
            async move {
                let v: Option<String> = c.get(key).await.ok().flatten();
                (v.as_deref() == Some(value)).then_some(()).ok_or(v)
            }
        },
    )
    .await
}

/// A connection over TLS to `ip:port` that verifies the server's certificate for the DNS name `name` against the CA
/// bundle at `ca`: what a client does that resolved `name` to `ip`.
pub async fn tls_conn_by_name(
    ip: std::net::IpAddr,
    port: u16,
    name: &str,
    ca: &Path,
) -> Result<redis::aio::MultiplexedConnection, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).map_err(|e| e.to_string())?;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let server =
        rustls::pki_types::ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(server, tcp)
            .await
            .map_err(|e| format!("TLS with {ip}:{port} as {name}: {e}"))?;
        let info = redis::RedisConnectionInfo::default();
        let (conn, driver) = redis::aio::MultiplexedConnection::new(&info, stream)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(driver);
        Ok::<_, String>(conn)
    };
    tokio::time::timeout(Duration::from_secs(2), work)
        .await
        .map_err(|_| format!("{ip}:{port} as {name}: no answer in time"))?
}
