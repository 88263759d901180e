//! A host: one machine whose engine processes a host agent runs (`cacheplane agent`), in one availability zone.

use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A host that joined the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Its name, unique in the deployment (`<zone>-<n>` unless the agent names itself).
    pub name: String,
    /// The availability zone it is in: the zone of every node it runs.
    pub zone: String,
    /// Where its agent answers the leader (`https://<address>:<port>`).
    pub url: String,
    /// The addresses its nodes may listen on, each node its own.
    pub addresses: AddressRange,
    pub joined: DateTime<Utc>,
    /// Since when the leader has taken the host for lost (its agent silent, its nodes answering nothing): no new
    /// node goes there, and its nodes are replaced on other hosts. `None`: it reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<DateTime<Utc>>,
    /// What new nodes may take there (bytes), as its agent reported to the leader; kept when it moves enough
    /// ([`room_moved`]), so that every daemon checks a request against the same figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<u64>,
}

/// The least change of a host's reported room that is written to the store ([`Host::room`]).
pub const ROOM_STEP: u64 = 16 << 20;

/// Whether a host's room, kept as `kept`, has moved enough to `now` to be kept again: by [`ROOM_STEP`] and by an
/// eighth of the smaller of the two. The figure is exact where it matters, on a host nearly full, while the
/// swings of a large host's free memory (a fork, the page cache) write nothing.
pub fn room_moved(kept: Option<u64>, now: u64) -> bool {
    kept.is_none_or(|k| {
        let moved = k.abs_diff(now);
        moved >= ROOM_STEP && moved >= k.min(now) / 8
    })
}

/// An IPv4 range (`127.10.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressRange {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl AddressRange {
    /// Parses `a.b.c.d/n`; `None` when it is not one (or names no address a node can take).
    pub fn parse(s: &str) -> Option<AddressRange> {
        let (ip, prefix) = s.split_once('/')?;
        let base: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if !(8..=30).contains(&prefix) {
            return None;
        }
        let mask = u32::MAX << (32 - prefix);
        Some(AddressRange {
            base: Ipv4Addr::from(u32::from(base) & mask),
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX << (32 - self.prefix);
                u32::from(v4) & mask == u32::from(self.base)
            }
            IpAddr::V6(_) => false,
        }
    }

    /// The addresses nodes may take: all but the range's first (the agent's own) and last.
    pub fn node_addresses(&self) -> impl Iterator<Item = IpAddr> {
        let first = u64::from(u32::from(self.base));
        let size = 1u64 << (32 - self.prefix);
        (first + 2..first + size - 1).map(|a| IpAddr::V4(Ipv4Addr::from(a as u32)))
    }

    /// The agent's own address: the first of the range after its network address.
    pub fn agent_address(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(u32::from(self.base) + 1))
    }
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_hold_their_addresses() {
        let r = AddressRange::parse("127.10.3.7/16").expect("a range");
        assert_eq!(r.to_string(), "127.10.0.0/16");
        assert!(r.contains("127.10.200.1".parse().expect("ip")));
        assert!(!r.contains("127.11.0.1".parse().expect("ip")));
        assert_eq!(r.agent_address().to_string(), "127.10.0.1");
        let small = AddressRange::parse("127.0.5.0/30").expect("a range");
        let nodes: Vec<String> = small.node_addresses().map(|a| a.to_string()).collect();
        assert_eq!(nodes, ["127.0.5.2"]);
        let top = AddressRange::parse("255.0.0.0/8").expect("a range");
        assert_eq!(
            top.node_addresses()
                .last()
                .map(|a| a.to_string())
                .as_deref(),
            Some("255.255.255.254")
        );
        for bad in [
            "127.0.0.1",
            "127.0.0.0/31",
            "::1/64",
            "127.0.0.0/x",
            "300.0.0.0/8",
        ] {
            assert_eq!(AddressRange::parse(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod room_tests {
    use super::room_moved;

    #[test]
    fn a_room_is_kept_again_when_it_moves_by_a_step_and_an_eighth() {
        const MIB: u64 = 1 << 20;
        assert!(room_moved(None, 0), "a first report is kept");
        assert!(!room_moved(Some(40 * MIB), 30 * MIB), "less than a step");
        assert!(room_moved(Some(40 * MIB), 2 * MIB), "a host filling up");
        assert!(
            !room_moved(Some(16_000 * MIB), 15_000 * MIB),
            "a large host's swing"
        );
        assert!(room_moved(Some(16_000 * MIB), 12_000 * MIB));
        assert!(room_moved(Some(100 * MIB), 200 * MIB), "freed");
    }
}
