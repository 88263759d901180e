//! Loopback addresses. On Linux all of 127.0.0.0/8 reaches the loopback interface, so every node and every
//! stable endpoint can own an address of its own and all can listen on the group's port, as when each
//! node is its own host. This is the one place that decides addresses; a multi-host runtime replaces it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

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
}
