//! Stable endpoints: a listener on an address of its own that forwards each client connection to one of the
//! nodes currently holding a role (the primary for a primary endpoint, the replicas for a reader endpoint).
//!
//! The address never changes for the life of the group; [`StableEndpoint::set_targets`] moves it. When a target
//! leaves the set (a failover), connections forwarded to it are closed so clients reconnect to the new one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{io_err, Result};

/// How long a forwarded connection may take to reach its node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
        let listener = TcpListener::bind(addr)
            .await
            .map_err(io_err(format!("endpoint {addr}")))?;
        let (tx, rx) = watch::channel(targets);
        let task = tokio::spawn(accept_loop(listener, rx));
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

async fn accept_loop(listener: TcpListener, targets: watch::Receiver<Vec<SocketAddr>>) {
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let rx = targets.clone();
        let next = next.clone();
        tokio::spawn(async move {
            let _ = forward(client, rx, next).await;
        });
    }
}

async fn forward(
    mut client: TcpStream,
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
    let Some((target, mut server)) = upstream else {
        return Ok(());
    };
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut server) => r.map(|_| ()),
        () = async {
            // Close when this target is no longer one of the endpoint's targets.
            while targets.changed().await.is_ok() {
                if !targets.borrow().contains(&target) {
                    return;
                }
            }
            std::future::pending::<()>().await;
        } => Ok(()),
    }
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
