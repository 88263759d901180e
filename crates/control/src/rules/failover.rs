//! Which replica takes over from a failed primary (AWS: "the replica with the least replication lag"; with
//! Multi-AZ, one in another availability zone than the failed primary).

/// A replica that could be promoted: it is running, answers, and reported its replication offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub cluster_id: String,
    pub availability_zone: String,
    /// The replication offset it has processed: the larger, the less it lags.
    pub offset: i64,
}

/// Picks the replica to promote: the least lag first (no acknowledged write the others have is given up for a
/// zone preference); among those equally up to date, with Multi-AZ, one outside the failed primary's zone;
/// then the lowest cluster id, so the choice is stable.
pub fn choose<'a>(
    candidates: &'a [Candidate],
    failed_zone: &str,
    multi_az: bool,
) -> Option<&'a Candidate> {
    candidates.iter().min_by(|a, b| {
        let other_zone = |c: &Candidate| multi_az && c.availability_zone != failed_zone;
        b.offset
            .cmp(&a.offset)
            .then_with(|| other_zone(b).cmp(&other_zone(a)))
            .then_with(|| a.cluster_id.cmp(&b.cluster_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, az: &str, offset: i64) -> Candidate {
        Candidate {
            cluster_id: id.into(),
            availability_zone: az.into(),
            offset,
        }
    }

    #[test]
    fn least_lag_wins_over_zone() {
        let cs = [c("rg-002", "a", 100), c("rg-003", "b", 90)];
        assert_eq!(
            choose(&cs, "a", true).map(|c| c.cluster_id.as_str()),
            Some("rg-002")
        );
    }

    #[test]
    fn other_zone_breaks_ties_with_multi_az_only() {
        let cs = [c("rg-002", "a", 100), c("rg-003", "b", 100)];
        assert_eq!(
            choose(&cs, "a", true).map(|c| c.cluster_id.as_str()),
            Some("rg-003")
        );
        assert_eq!(
            choose(&cs, "a", false).map(|c| c.cluster_id.as_str()),
            Some("rg-002")
        );
    }

    #[test]
    fn none_without_candidates() {
        assert_eq!(choose(&[], "a", true), None);
    }
}
