//! Long waits on a node's data: a node loading its dataset (after a start, a restore, a reboot, an upgrade) and a
//! replica receiving a full sync. Both are progress, not failure: every step that needs the node waits for it, and
//! only a wait past its deadline, or one whose bytes stopped moving, is a failure. The deadlines come from the
//! size of the data (pure functions here, so they can be read and tested):
//!
//! - a wait may last [`WAIT_BASE`] plus one second for every [`MIN_RATE`] bytes of data (the data's size in memory
//!   when the engine reports it, else the file's): 1 GB allows about 4 minutes, 4 GB about 10; this machine loads
//!   some 190 MB of memory a second, so a healthy load uses a small part of its deadline;
//! - once bytes flow, a wait whose byte count has not grown for [`STALL`] is stuck, whatever its deadline.

use std::time::Duration;

/// The part of every deadline that does not depend on the data: process start, fork, first bytes.
pub const WAIT_BASE: Duration = Duration::from_secs(120);
/// The slowest progress still taken for a healthy load or sync, in bytes of data a second.
pub const MIN_RATE: u64 = 8 << 20;
/// How long the byte count of a load or sync may stay still before the wait is judged stuck.
pub const STALL: Duration = Duration::from_secs(60);

/// The longest a load or full sync of `bytes` of data may take.
pub fn deadline(bytes: u64) -> Duration {
    WAIT_BASE + Duration::from_secs(bytes / MIN_RATE)
}

/// What a wait on a node's data has come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On its way: keep waiting.
    OnItsWay,
    /// Bytes flowed, then none for [`STALL`].
    Stalled,
    /// Past [`deadline`] for its size.
    Overdue(Duration),
}

/// Judges a wait that began `elapsed` ago, whose byte count last grew `still_for` ago (`None`: no byte yet), for
/// `bytes` of data.
pub fn judge(elapsed: Duration, still_for: Option<Duration>, bytes: u64) -> Verdict {
    let limit = deadline(bytes);
    if elapsed > limit {
        Verdict::Overdue(limit)
    } else if still_for.is_some_and(|s| s > STALL) {
        Verdict::Stalled
    } else {
        Verdict::OnItsWay
    }
}

/// `bytes` for people: `1.1 GB`, `350.0 MB`, `12 KB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)];
    for (unit, size) in UNITS {
        if bytes as f64 >= size {
            return if unit == "KB" {
                format!("{} {unit}", bytes / 1000)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size)
            };
        }
    }
    counted(bytes, "byte")
}

/// `n` of a thing, its noun in the singular for one: `1 replica`, `0 replicas`, `2 replicas`.
pub fn counted(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_grow_with_the_data() {
        assert_eq!(deadline(0), WAIT_BASE);
        let gb = deadline(1_000_000_000);
        let four = deadline(4_000_000_000);
        assert!(
            gb > Duration::from_secs(230) && gb < Duration::from_secs(250),
            "{gb:?}"
        );
        assert!(
            four > Duration::from_secs(580) && four < Duration::from_secs(600),
            "{four:?}"
        );
    }

    #[test]
    fn a_wait_is_judged_by_its_size_and_its_bytes() {
        let s = Duration::from_secs;
        // A 1 GB load at 3 minutes, bytes moving: fine; past its deadline: overdue.
        assert_eq!(judge(s(180), Some(s(1)), 1_000_000_000), Verdict::OnItsWay);
        assert!(matches!(
            judge(s(300), Some(s(1)), 1_000_000_000),
            Verdict::Overdue(_)
        ));
        // No byte yet (a primary still writing the payload of a full sync): only the deadline counts.
        assert_eq!(judge(s(100), None, 0), Verdict::OnItsWay);
        assert!(matches!(judge(s(121), None, 0), Verdict::Overdue(_)));
        // Bytes stopped moving for longer than STALL: stuck, however early.
        assert_eq!(judge(s(90), Some(s(61)), 4_000_000_000), Verdict::Stalled);
        assert_eq!(judge(s(90), Some(s(59)), 4_000_000_000), Verdict::OnItsWay);
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_bytes(1_100_000_000), "1.1 GB");
        assert_eq!(human_bytes(350_000_000), "350.0 MB");
        assert_eq!(human_bytes(12_345), "12 KB");
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(1), "1 byte");
        assert_eq!(counted(1u32, "replica"), "1 replica");
        assert_eq!(counted(0u32, "replica"), "0 replicas");
        assert_eq!(counted(2u64, "node group"), "2 node groups");
    }
}
