//! Endpoints as DNS names, in AWS's shapes, under the zone a deployment names (`--dns-zone`) instead of
//! `amazonaws.com`:
//! - primary `master.<group>.<id>.<region-short>.cache.<zone>`;
//! - reader `replica.<group>.…`;
//! - node `<node>.<group>.…` (`<group>-001`, or `<group>-0001-001` with cluster mode enabled);
//! - configuration `clustercfg.<group>.…`.
//!
//! `<id>` is six letters and digits that stand for the account and region (AWS's own are opaque); `<region-short>`
//! is AWS's short form of the region (`us-east-1` → `use1`).

use sha2::{Digest, Sha256};

/// What a name under the zone stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<'a> {
    /// `master.`: the primary of a group with cluster mode disabled.
    Primary(&'a str),
    /// `replica.`: its replicas.
    Reader(&'a str),
    /// `clustercfg.`: the nodes that answer a cluster client's discovery.
    Configuration(&'a str),
    /// `<node>.`: one node (its cache cluster id) of a group.
    Node { group: &'a str, node: &'a str },
}

/// The names of one deployment.
#[derive(Debug, Clone)]
pub struct EndpointNames {
    zone: String,
    /// `<id>.<region-short>.cache.<zone>`.
    suffix: String,
}

impl EndpointNames {
    /// The names under `zone` (lower-cased, without a trailing dot) of the deployment of `account` in `region`.
    pub fn new(zone: &str, account: &str, region: &str) -> Self {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let suffix = format!(
            "{}.{}.cache.{zone}",
            deployment_id(account, region),
            region_short(region)
        );
        Self { zone, suffix }
    }

    /// The names whose common part is `suffix` ([`Self::suffix`]); `None` for a text of another shape.
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        let mut parts = suffix.splitn(4, '.');
        let (_id, _region, cache, zone) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        (cache == "cache" && !zone.is_empty()).then(|| Self {
            zone: zone.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// `<id>.<region-short>.cache.<zone>`: what every name of the deployment ends with.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// The zone the daemons answer for.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    pub fn primary(&self, group: &str) -> String {
        format!("master.{group}.{}", self.suffix)
    }

    pub fn reader(&self, group: &str) -> String {
        format!("replica.{group}.{}", self.suffix)
    }

    pub fn configuration(&self, group: &str) -> String {
        format!("clustercfg.{group}.{}", self.suffix)
    }

    pub fn node(&self, group: &str, node: &str) -> String {
        format!("{node}.{group}.{}", self.suffix)
    }

    /// Whether `name` (lower case, no trailing dot) is the zone or under it.
    pub fn in_zone(&self, name: &str) -> bool {
        name == self.zone
            || name
                .strip_suffix(self.zone.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    }

    /// What `name` (lower case, no trailing dot) stands for; `None` for a name of no endpoint's shape.
    pub fn parse<'a>(&self, name: &'a str) -> Option<Named<'a>> {
        let rest = name.strip_suffix(self.suffix.as_str())?.strip_suffix('.')?;
        let (label, group) = rest.split_once('.')?;
        if group.contains('.') || group.is_empty() || label.is_empty() {
            return None;
        }
        Some(match label {
            "master" => Named::Primary(group),
            "replica" => Named::Reader(group),
            "clustercfg" => Named::Configuration(group),
            node => Named::Node { group, node },
        })
    }
}

/// AWS's short form of a region: its area, the initials of its direction, its number (`us-east-1` → `use1`,
/// `ap-southeast-2` → `apse2`, `eu-central-1` → `euc1`).
pub fn region_short(region: &str) -> String {
    let mut parts = region.split('-');
    let area = parts.next().unwrap_or_default();
    let mut out = area.to_string();
    for p in parts {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(p);
            continue;
        }
        let short = match p {
            "northeast" => "ne",
            "northwest" => "nw",
            "southeast" => "se",
            "southwest" => "sw",
            "central" => "c",
            other => &other[..other.len().min(1)],
        };
        out.push_str(short);
    }
    out
}

/// Six lower-case letters and digits derived from the account and region: stable, the same on every daemon.
pub fn deployment_id(account: &str, region: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let digest = Sha256::digest(format!("{account}/{region}").as_bytes());
    digest
        .iter()
        .take(6)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_shorten_as_aws_writes_them() {
        for (long, short) in [
            ("us-east-1", "use1"),
            ("us-west-2", "usw2"),
            ("eu-west-1", "euw1"),
            ("eu-central-1", "euc1"),
            ("ap-southeast-2", "apse2"),
            ("ap-northeast-1", "apne1"),
            ("sa-east-1", "sae1"),
            ("ca-central-1", "cac1"),
            ("ap-south-1", "aps1"),
        ] {
            assert_eq!(region_short(long), short, "{long}");
        }
    }

    #[test]
    fn names_round_trip_and_others_are_not_endpoints() {
        let n = EndpointNames::new("Cache.Example.", "123456789012", "us-east-1");
        let id = deployment_id("123456789012", "us-east-1");
        assert_eq!(id.len(), 6);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(id, deployment_id("123456789012", "us-west-2"));
        let primary = n.primary("orders");
        assert_eq!(
            primary,
            format!("master.orders.{id}.use1.cache.cache.example")
        );
        assert_eq!(n.parse(&primary), Some(Named::Primary("orders")));
        assert_eq!(n.parse(&n.reader("orders")), Some(Named::Reader("orders")));
        assert_eq!(
            n.parse(&n.configuration("orders")),
            Some(Named::Configuration("orders"))
        );
        assert_eq!(
            n.parse(&n.node("orders", "orders-0001-002")),
            Some(Named::Node {
                group: "orders",
                node: "orders-0001-002"
            })
        );
        let again = EndpointNames::from_suffix(n.suffix()).expect("suffix");
        assert_eq!(
            (again.zone(), again.primary("orders")),
            (n.zone(), primary.clone())
        );
        assert!(EndpointNames::from_suffix("use1.cache").is_none());
        assert!(n.in_zone("cache.example"));
        assert!(n.in_zone(&primary));
        assert!(!n.in_zone("xcache.example"));
        assert!(!n.in_zone("example"));
        for other in [
            "cache.example".to_string(),
            format!("{id}.use1.cache.cache.example"),
            format!("orders.{id}.use1.cache.cache.example"),
            format!("a.b.orders.{id}.use1.cache.cache.example"),
            "master.orders.zzzzzz.use1.cache.cache.example".to_string(),
        ] {
            assert_eq!(n.parse(&other), None, "{other}");
        }
    }
}
