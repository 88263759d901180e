//! Loopback addresses. On Linux all of 127.0.0.0/8 reaches the loopback interface, so every node and every
//! stable endpoint can own an address of its own and all can listen on the group's port, as when each
//! node is its own host. This is the one place that decides addresses; a multi-host runtime replaces it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use rand::Rng;

use crate::{EngineError, Result};

/// True when nothing listens on `addr` now (checked by binding it for a moment).
pub fn is_free(addr: SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

/// Picks a free loopback address for `port`, avoiding `taken` and 127.0.0.0/16 (where machine services live).
/// Random choice over ~16 million addresses keeps daemons that run side by side (tests) out of each other's way.
pub fn allocate(port: u16, taken: &[IpAddr]) -> Result<IpAddr> {
    let mut rng = rand::thread_rng();
    for _ in 0..64 {
        let ip = IpAddr::V4(Ipv4Addr::new(
            127,
            rng.gen_range(1..=254),
            rng.gen(),
            rng.gen_range(1..=254),
        ));
        if !taken.contains(&ip) && is_free(SocketAddr::new(ip, port)) {
            return Ok(ip);
        }
    }
    Err(EngineError::NoAddress(port))
}

/// The one IPv6 loopback address. Unlike 127.0.0.0/8 it is a single address, so nodes that listen on it
/// (dual-stack groups) each need a port of their own.
pub const IPV6_LOOPBACK: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// True when this machine's loopback has IPv6 (`::1` can be listened on).
pub fn ipv6_available() -> bool {
    TcpListener::bind(SocketAddr::new(IPV6_LOOPBACK, 0)).is_ok()
}

/// Ports handed out to dual-stack nodes and endpoints: below Linux's ephemeral range (32768–60999), so no
/// outgoing connection holds one, and above the well-known services.
const PORTS: std::ops::RangeInclusive<u16> = 20000..=32000;

/// Picks a port free on every one of `addrs` (a dual-stack node listens on its IPv4 address and on `::1` with
/// one port), avoiding `taken`.
pub fn allocate_port(addrs: &[IpAddr], taken: &[u16]) -> Result<u16> {
    let mut rng = rand::thread_rng();
    for _ in 0..64 {
        let port = rng.gen_range(PORTS);
        if !taken.contains(&port) && addrs.iter().all(|a| is_free(SocketAddr::new(*a, port))) {
            return Ok(port);
        }
    }
    Err(EngineError::NoPort(
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_free_addresses() {
        let a = allocate(6379, &[]).expect("a");
        let b = allocate(6379, &[a]).expect("b");
        assert_ne!(a, b);
        assert!(a.is_loopback());
    }

    #[test]
    fn allocates_ports_free_on_every_address() {
        let a = allocate(6379, &[]).expect("a");
        let p = allocate_port(&[a], &[]).expect("port");
        assert!(PORTS.contains(&p));
        let _hold = TcpListener::bind(SocketAddr::new(a, p)).expect("bind");
        let q = allocate_port(&[a], &[]).expect("another");
        assert_ne!(p, q);
    }
}
