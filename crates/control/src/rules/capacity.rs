//! Memory honesty: nodes that would hold more data than this machine can give are refused before they start
//! (AWS's `InsufficientCacheClusterCapacity`), rather than found out by the kernel killing one for memory halfway
//! through a restore or a full sync. Whether the data fits a node type's own memory is checked where the node type
//! is chosen (a restore: [`crate::Control::check_restore`]); a replica holds what its primary holds, in a node of
//! the same type.

/// What this machine can give new nodes, as read at the moment of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMemory {
    /// `MemAvailable`: what the kernel can give without swapping (`None` when it does not say).
    pub available: Option<u64>,
    /// `--memory-limit`: what this daemon's nodes may hold in all, if the operator set it.
    pub limit: Option<u64>,
    /// What this daemon's running nodes hold now (their resident memory).
    pub used_by_nodes: u64,
}

/// Allocator and copy-on-write headroom taken on top of the data itself, in percent.
pub const OVERHEAD_PERCENT: u64 = 10;

impl HostMemory {
    /// The memory new nodes may take: the smaller of what the kernel has and what the limit leaves.
    pub fn room(&self) -> Option<u64> {
        let left = self.limit.map(|l| l.saturating_sub(self.used_by_nodes));
        match (self.available, left) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (a, l) => a.or(l),
        }
    }
}

/// Whether `nodes` new nodes, each loading `data_bytes` of data, fit on the hosts whose rooms are `rooms` (name and
/// bytes new nodes may take, as their agents reported), each node on one host; the refusal's message when not. No
/// room known: nothing to refuse.
pub fn check_hosts(nodes: usize, data_bytes: u64, rooms: &[(String, u64)]) -> Result<(), String> {
    let each = (data_bytes / 100).saturating_mul(100 + OVERHEAD_PERCENT);
    if rooms.is_empty() || each == 0 {
        return Ok(());
    }
    let fit: u64 = rooms.iter().map(|(_, room)| room / each).sum();
    if fit >= nodes as u64 {
        return Ok(());
    }
    let h = crate::rules::progress::human_bytes;
    let free: Vec<String> = rooms
        .iter()
        .map(|(name, room)| format!("{name} {}", h(*room)))
        .collect();
    Err(format!(
        "The hosts cannot hold {nodes} more node{} of {} of data each ({} with {OVERHEAD_PERCENT}% headroom): free for new nodes: {}. Use fewer nodes, free memory, or add a host.",
        if nodes == 1 { "" } else { "s" },
        h(data_bytes),
        h(each),
        free.join(", ")
    ))
}

/// Whether `nodes` new nodes, each loading `data_bytes` of data, fit in `host`; the refusal's message when not.
pub fn check(nodes: usize, data_bytes: u64, host: &HostMemory) -> Result<(), String> {
    let needed =
        (data_bytes.saturating_mul(nodes as u64) / 100).saturating_mul(100 + OVERHEAD_PERCENT);
    let Some(room) = host.room() else {
        return Ok(());
    };
    if needed <= room {
        return Ok(());
    }
    let h = crate::rules::progress::human_bytes;
    let mut why = format!(
        "{} is free for new nodes (the kernel's MemAvailable {}",
        h(room),
        host.available.map_or("unknown".into(), h)
    );
    if let Some(limit) = host.limit {
        why.push_str(&format!(
            "; --memory-limit {} with {} held by running nodes",
            h(limit),
            h(host.used_by_nodes)
        ));
    }
    why.push(')');
    Err(format!(
        "This Cacheplane host cannot hold {nodes} more node{} of {} of data each ({} with {OVERHEAD_PERCENT}% headroom): {why}. Use fewer nodes or free memory first.",
        if nodes == 1 { "" } else { "s" },
        h(data_bytes),
        h(needed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn room_is_the_smaller_of_the_kernel_and_the_limit() {
        let h = HostMemory {
            available: Some(20 * GB),
            limit: Some(8 * GB),
            used_by_nodes: 3 * GB,
        };
        assert_eq!(h.room(), Some(5 * GB));
        let h = HostMemory {
            available: Some(2 * GB),
            limit: None,
            used_by_nodes: 3 * GB,
        };
        assert_eq!(h.room(), Some(2 * GB));
        let unknown = HostMemory {
            available: None,
            limit: None,
            used_by_nodes: 0,
        };
        assert_eq!(unknown.room(), None);
        assert!(check(90, 100 * GB, &unknown).is_ok());
    }

    #[test]
    fn nodes_that_do_not_fit_are_refused_with_the_figures() {
        let h = HostMemory {
            available: Some(20 * GB),
            limit: Some(4 * GB),
            used_by_nodes: 0,
        };
        // 3 × 1 GB + 10% = 3.3 GB: fits in 4 GB; 4 × 1 GB + 10% = 4.4 GB does not.
        assert!(check(3, GB, &h).is_ok());
        let e = check(4, GB, &h).expect_err("too much");
        assert!(e.contains("cannot hold 4 more nodes of 1.0 GB"), "{e}");
        assert!(e.contains("4.4 GB"), "{e}");
        assert!(e.contains("--memory-limit 4.0 GB"), "{e}");
        // Empty nodes always fit.
        assert!(check(40, 0, &h).is_ok());
    }
}
