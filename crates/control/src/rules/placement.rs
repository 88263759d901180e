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
