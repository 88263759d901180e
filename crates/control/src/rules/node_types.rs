//! Cache node types and their `maxmemory` (bytes), from the ElastiCache user guide's parameter tables.

const TABLE: &str = include_str!("node_types.txt");

/// `maxmemory` in bytes for a node type, `None` for a type ElastiCache does not have.
pub fn maxmemory(node_type: &str) -> Option<u64> {
    TABLE.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == node_type).then(|| it.next()?.parse().ok())?
    })
}

/// Every known node type, in table order.
pub fn all() -> impl Iterator<Item = &'static str> {
    TABLE.lines().filter_map(|l| l.split_whitespace().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(maxmemory("cache.t3.micro"), Some(536_870_912));
        assert!(maxmemory("cache.r6g.large").is_some_and(|b| b > 13 * (1 << 30)));
        assert_eq!(maxmemory("cache.nope"), None);
        assert!(all().count() > 40);
    }
}
