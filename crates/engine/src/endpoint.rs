//! Stable endpoints: a listener on an address of its own that forwards each client connection to one of the
//! nodes currently holding a role (the primary for a primary endpoint, the replicas for a reader endpoint).
//!
//! The address never changes for the life of the group; [`StableEndpoint::set_targets`] moves it. When a target
//! leaves the set (a failover), connections forwarded to it are closed so clients reconnect to the new one.
//!
//! Both listeners here face customers: each holds at most [`MAX_CONNECTIONS`] connections, and every connection
//! holds its two descriptors of the daemon's budget ([`crate::limits`]); one more is closed as soon as it is
//! accepted. A forwarded connection has no idle timeout (a client pool's idle connections are legitimate, as they
//! are to a node itself).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::limits::{Gate, FORWARDED};
use crate::{io_err, Result};

/// The most connections one forwarding listener holds (a stable endpoint, or a TLS `preferred` front).
pub const MAX_CONNECTIONS: usize = 4096;
/// How long a TLS `preferred` front waits for a client's first byte before taking it for a plaintext client: a TLS
/// client speaks first (its `ClientHello`), a plaintext client of a pool may connect and stay silent.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a forwarded connection may take to reach its node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection to a target the endpoint no longer has is kept before it is closed, so that the requests
/// in flight when it left are answered (no new connection goes there meanwhile). A node to be stopped leaves its
/// endpoints this long before it stops.
pub const DRAIN: Duration = Duration::from_millis(200);

/// One listening endpoint.
#[derive(Debug)]
pub struct StableEndpoint {
    addr: SocketAddr,
    targets: watch::Sender<Vec<SocketAddr>>,
    task: JoinHandle<()>,
}

impl StableEndpoint {
    /// Binds `addr` and starts forwarding to `targets`.
    pub async fn bind(addr: SocketAddr, targets: Vec<SocketAddr>) -> Result<Self> {
        Self::bind_within(
            addr,
            targets,
            Gate::new(format!("endpoint {addr}"), MAX_CONNECTIONS),
        )
        .await
    }

    async fn bind_within(addr: SocketAddr, targets: Vec<SocketAddr>, gate: Gate) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(io_err(format!("endpoint {addr}")))?;
        let (tx, rx) = watch::channel(targets);
        let task = tokio::spawn(accept_loop(listener, rx, gate));
        Ok(Self {
            addr,
            targets: tx,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points the endpoint at `targets`. Unchanged sets are not announced.
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        self.targets.send_if_modified(|cur| {
            if *cur == targets {
                false
            } else {
                *cur = targets;
                true
            }
        });
    }
}

impl Drop for StableEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, targets: watch::Receiver<Vec<SocketAddr>>, gate: Gate) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Past the listener's cap or the descriptors' budget, the connection is closed at once.
        let Ok(admission) = gate.admit(FORWARDED) else {
            continue;
        };
        let rx = targets.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let _admission = admission;
            let _ = forward(client, rx, next).await;
        });
    }
}

async fn forward(
    client: TcpStream,
    mut targets: watch::Receiver<Vec<SocketAddr>>,
    next: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let candidates = targets.borrow_and_update().clone();
    if candidates.is_empty() {
        return Ok(());
    }
    let start = next.fetch_add(1, Ordering::Relaxed);
    let mut upstream = None;
    for i in 0..candidates.len() {
        let t = candidates[(start + i) % candidates.len()];
        if let Ok(Ok(s)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(t)).await {
            upstream = Some((t, s));
            break;
        }
    }
    let Some((target, server)) = upstream else {
        return Ok(());
    };
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    tokio::select! {
        r = relay(&client, &server) => r,
        () = async {
            // Close when this target is no longer one of the endpoint's targets, once what was in flight has had
            // its answer.
            while targets.changed().await.is_ok() {
                if !targets.borrow().contains(&target) {
                    tokio::time::sleep(DRAIN).await;
                    return;
                }
            }
            std::future::pending::<()>().await;
        } => Ok(()),
    }
}

/// The front of a node (or of the primary endpoint) in TLS `preferred` mode: one port that takes both TLS and
/// plaintext, as ElastiCache does, in front of a Redis that listens for each on a port of its own. It reads the
/// first byte a client sends — a TLS handshake record starts with 0x16, a RESP command never does — and joins
/// the connection to the TLS or the plaintext port on the same address. TLS passes through untouched: the client
/// and Redis do the handshake, and the certificate names this address.
#[derive(Debug)]
pub struct Sniffer {
    task: JoinHandle<()>,
}

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

impl Sniffer {
    /// Binds `addr` (retrying for up to two seconds while Redis lets go of it) and hands connections to `plain`
    /// or `tls`.
    pub async fn bind(addr: SocketAddr, plain: SocketAddr, tls: SocketAddr) -> Result<Self> {
        let gate = Gate::new(format!("TLS preferred front {addr}"), MAX_CONNECTIONS);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%addr, error = %e, "port not free yet");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(e) => return Err(io_err(format!("tls front {addr}"))(e)),
            }
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let Ok(admission) = gate.admit(FORWARDED) else {
                    continue;
                };
                tokio::spawn(async move {
                    let _admission = admission;
                    let _ = sniff(client, plain, tls).await;
                });
            }
        });
        Ok(Self { task })
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sniff(client: TcpStream, plain: SocketAddr, tls: SocketAddr) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    // A client silent past the timeout is not a TLS client: it goes to the plaintext port.
    let target = match tokio::time::timeout(FIRST_BYTE_TIMEOUT, client.peek(&mut first)).await {
        Ok(Ok(0)) => return Ok(()),
        Ok(Ok(_)) if first[0] == TLS_HANDSHAKE => tls,
        Ok(Ok(_)) | Err(_) => plain,
        Ok(Err(e)) => return Err(e),
    };
    let server = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    relay(&client, &server).await
}

/// The bytes read at once while a connection has data; held only while it does.
const RELAY_BUFFER: usize = 16 << 10;

/// Relays bytes both ways between `a` and `b` until both have ended (an end of one is passed on to the other as
/// the end of its writing). Unlike `tokio::io::copy_bidirectional`, which keeps two buffers for as long as the
/// connection lives, a buffer is held only while bytes flow: an idle connection — a client pool's, or a flood's —
/// costs its sockets and a small task, not 16 KiB, so thousands of them stay within the daemon's memory bound.
pub async fn relay(a: &TcpStream, b: &TcpStream) -> std::io::Result<()> {
    tokio::try_join!(pump(a, b), pump(b, a)).map(|_| ())
}

async fn pump(from: &TcpStream, to: &TcpStream) -> std::io::Result<()> {
    use std::io::ErrorKind::WouldBlock;
    loop {
        from.readable().await?;
        let mut buf = vec![0u8; RELAY_BUFFER];
        loop {
            match from.try_read(&mut buf) {
                Ok(0) => {
                    // The end of `from`'s writing is the end of ours to `to`.
                    let _ = nix::sys::socket::shutdown(
                        std::os::fd::AsRawFd::as_raw_fd(to),
                        nix::sys::socket::Shutdown::Write,
                    );
                    return Ok(());
                }
                Ok(n) => write_all(to, &buf[..n]).await?,
                Err(e) if e.kind() == WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
}

async fn write_all(to: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server(tag: u8) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let a = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 1];
                    while s.read_exact(&mut b).await.is_ok() {
                        if s.write_all(&[tag]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        a
    }

    #[tokio::test]
    async fn sniffer_routes_tls_and_plaintext() {
        let plain = echo_server(b'p').await;
        let tls = echo_server(b't').await;
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("probe")
            .local_addr()
            .expect("addr");
        let _front = Sniffer::bind(free, plain, tls).await.expect("bind");
        for (first, want) in [(b'*', b'p'), (TLS_HANDSHAKE, b't')] {
            let mut c = TcpStream::connect(free).await.expect("connect");
            c.write_all(&[first]).await.expect("w");
            let mut r = [0u8; 1];
            c.read_exact(&mut r).await.expect("r");
            assert_eq!(r[0], want);
        }
    }

    /// A forwarder holds at most its cap: one more connection is closed at once, and a place freed is taken again.
    #[tokio::test]
    async fn a_forwarder_holds_its_cap() {
        let a = echo_server(b'a').await;
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("probe")
            .local_addr()
            .expect("addr");
        let _ep = StableEndpoint::bind_within(free, vec![a], Gate::new("test", 2))
            .await
            .expect("bind");
        let mut r = [0u8; 1];
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = TcpStream::connect(free).await.expect("connect");
            c.write_all(b"x").await.expect("w");
            c.read_exact(&mut r).await.expect("forwarded");
            held.push(c);
        }
        let mut extra = TcpStream::connect(free).await.expect("connect");
        let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut r))
            .await
            .expect("closed at once");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        drop(held.pop());
        // The freed place is taken once the forwarder has seen the client go.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let mut c = TcpStream::connect(free).await.expect("connect");
            let _ = c.write_all(b"x").await;
            if matches!(
                tokio::time::timeout(Duration::from_secs(1), c.read(&mut r)).await,
                Ok(Ok(1))
            ) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never admitted again"
            );
        }
    }

    /// A TLS `preferred` front hands a client that says nothing to the plaintext port (a pooled idle connection),
    /// once the first byte's wait is over.
    #[tokio::test]
    async fn a_silent_client_of_a_front_is_plaintext() {
        let plain = echo_server(b'p').await;
        let tls = echo_server(b't').await;
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("probe")
            .local_addr()
            .expect("addr");
        let _front = Sniffer::bind(free, plain, tls).await.expect("bind");
        let mut c = TcpStream::connect(free).await.expect("connect");
        tokio::time::sleep(FIRST_BYTE_TIMEOUT + Duration::from_millis(300)).await;
        c.write_all(&[TLS_HANDSHAKE]).await.expect("w");
        let mut r = [0u8; 1];
        c.read_exact(&mut r).await.expect("r");
        assert_eq!(r[0], b'p', "a silent client is a plaintext client");
    }

    #[tokio::test]
    async fn forwards_then_switches_targets() {
        let a = echo_server(b'a').await;
        let b = echo_server(b'b').await;
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("probe")
            .local_addr()
            .expect("addr");
        let ep = StableEndpoint::bind(free, vec![a]).await.expect("bind");
        let mut c = TcpStream::connect(free).await.expect("connect");
        c.write_all(b"x").await.expect("w");
        let mut r = [0u8; 1];
        c.read_exact(&mut r).await.expect("r");
        assert_eq!(&r, b"a");
        ep.set_targets(vec![b]);
        // The old connection is closed...
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut r))
            .await
            .expect("closed in time");
        assert!(matches!(n, Ok(0) | Err(_)));
        // ...and a new one reaches the new target.
        let mut c = TcpStream::connect(free).await.expect("connect");
        c.write_all(b"x").await.expect("w");
        c.read_exact(&mut r).await.expect("r");
        assert_eq!(&r, b"b");
    }
}
