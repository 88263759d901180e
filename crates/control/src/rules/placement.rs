//! Where new nodes go: zones spread evenly over a group's nodes.

use std::collections::BTreeMap;

use crate::model::ReplicationGroup;

/// Zones for `n` new nodes of `g`: each time the zone with the fewest of the group's nodes (the first listed on
/// a tie), so nodes stay spread.
pub fn spread(g: &ReplicationGroup, zones: &[String], n: usize) -> Vec<String> {
    let existing: Vec<&str> = g.members().map(|m| m.availability_zone.as_str()).collect();
    spread_over(zones, &existing, n)
}

/// `n` zones of `zones` for new nodes, each the one holding fewest of the `existing` nodes and those picked before
/// it (ties: the first in `zones`).
pub fn spread_over(zones: &[String], existing: &[&str], n: usize) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = zones.iter().map(|z| (z.as_str(), 0)).collect();
    for z in existing {
        if let Some(c) = count.get_mut(z) {
            *c += 1;
        }
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Some(z) = zones
            .iter()
            .min_by_key(|z| count.get(z.as_str()).copied().unwrap_or(0))
        else {
            break;
        };
        *count.entry(z.as_str()).or_default() += 1;
        out.push(z.clone());
    }
    out
}

/// Room is compared in steps of this many bytes: hosts whose room differs by less (a machine's available memory
/// moves by megabytes from one report to the next) are alike, and the one running fewer nodes takes the node.
pub const ROOM_STEP: u64 = 256 << 20;

/// The host for a new node in `zone`: of the hosts in that zone, one that runs no node of the node's group yet
/// (`group_hosts`) if any does not; of those the one with the most room (`room`, in steps of [`ROOM_STEP`]; a host
/// that has not reported counts none), then the one running fewest nodes (`load`), the first by name on a tie.
pub fn choose_host<'a>(
    hosts: impl Iterator<Item = &'a crate::model::Host>,
    zone: &str,
    group_hosts: &[&str],
    load: &BTreeMap<&str, usize>,
    room: &BTreeMap<&str, u64>,
) -> Option<&'a crate::model::Host> {
    hosts
        .filter(|h| h.zone == zone && h.lost.is_none())
        .min_by_key(|h| {
            (
                group_hosts.contains(&h.name.as_str()),
                std::cmp::Reverse(room.get(h.name.as_str()).copied().unwrap_or(0) / ROOM_STEP),
                load.get(h.name.as_str()).copied().unwrap_or(0),
                h.name.clone(),
            )
        })
}

/// The first address of `host`'s range that no node or endpoint takes.
pub fn host_address(
    host: &crate::model::Host,
    taken: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    host.addresses.node_addresses().find(|a| !taken.contains(a))
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::model::{AddressRange, Host};

    fn host(name: &str, zone: &str, range: &str) -> Host {
        Host {
            name: name.into(),
            zone: zone.into(),
            url: format!("https://{name}"),
            addresses: AddressRange::parse(range).expect("range"),
            joined: chrono::Utc::now(),
            lost: None,
            room: None,
        }
    }

    #[test]
    fn a_node_goes_to_its_zone_apart_from_its_group_on_the_least_loaded_host() {
        let hosts = [
            host("a-1", "a", "127.1.0.0/24"),
            host("a-2", "a", "127.2.0.0/24"),
            host("b-1", "b", "127.3.0.0/24"),
        ];
        let load = BTreeMap::from([("a-1", 1), ("a-2", 3)]);
        let none = BTreeMap::new();
        let pick = |zone, group: &[&str]| {
            choose_host(hosts.iter(), zone, group, &load, &none).map(|h| h.name.clone())
        };
        assert_eq!(pick("a", &[]).as_deref(), Some("a-1"));
        // The most room first: a-2 runs more nodes but has a gigabyte more; within a step, fewer nodes wins.
        let gib = 1u64 << 30;
        let room = BTreeMap::from([("a-1", 2 * gib), ("a-2", 3 * gib)]);
        let by_room = |room: &BTreeMap<&str, u64>, group: &[&str]| {
            choose_host(hosts.iter(), "a", group, &load, room).map(|h| h.name.clone())
        };
        assert_eq!(by_room(&room, &[]).as_deref(), Some("a-2"));
        assert_eq!(by_room(&room, &["a-2"]).as_deref(), Some("a-1"));
        let alike = BTreeMap::from([
            ("a-1", 3 * gib + (10 << 20)),
            ("a-2", 3 * gib + (100 << 20)),
        ]);
        assert_eq!(by_room(&alike, &[]).as_deref(), Some("a-1"));
        // Apart from its group first, however loaded.
        assert_eq!(pick("a", &["a-1"]).as_deref(), Some("a-2"));
        // A zone's only host takes a second node of a group rather than none.
        assert_eq!(pick("b", &["b-1"]).as_deref(), Some("b-1"));
        assert_eq!(pick("c", &[]), None);
        // A lost host takes nothing.
        let mut lost = hosts.clone();
        lost[2].lost = Some(chrono::Utc::now());
        assert!(choose_host(lost.iter(), "b", &[], &load, &none).is_none());
        let taken = ["127.1.0.2".parse().expect("ip")];
        assert_eq!(
            host_address(&hosts[0], &taken)
                .map(|a| a.to_string())
                .as_deref(),
            Some("127.1.0.3")
        );
    }
}
