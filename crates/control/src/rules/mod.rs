//! AWS's rules for names, windows and counts, as pure functions (unit-tested with chosen values).

pub mod capacity;
pub mod endpoint_names;
pub mod failover;
pub mod layout;
pub mod log_delivery;
pub mod migration;
pub mod node_types;
pub mod parameters;
pub mod placement;
pub mod progress;
pub mod security;
pub mod slots;
pub mod snapshots;
pub mod users;
pub mod versions;
pub mod windows;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::error::{invalid, Result};

/// A `NodeGroupId`: 1 to 4 digits (AWS's `AllowedNodeGroupId`).
pub fn node_group_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 4 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(crate::error::invalid(format!(
            "Invalid NodeGroupId '{}': it must be 1 to 4 digits, such as 0001.",
            shown(id)
        )));
    }
    Ok(())
}

/// Checks an identifier: `max` characters at most, letters, digits and hyphens, a letter first, no trailing hyphen
/// and no two hyphens in a row. Returns it lower-cased, as ElastiCache stores it.
pub fn identifier(kind: &str, id: &str, max: usize) -> Result<String> {
    let problem = if id.is_empty() {
        Some("must not be empty".to_string())
    } else if id.len() > max {
        Some(format!("must be at most {max} characters long"))
    } else if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Some("must contain only ASCII letters, digits and hyphens".to_string())
    } else if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        Some("must begin with a letter".to_string())
    } else if id.ends_with('-') {
        Some("must not end with a hyphen".to_string())
    } else if id.contains("--") {
        Some("must not contain two consecutive hyphens".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => Err(invalid(format!("Invalid {kind} '{}': it {p}.", shown(id)))),
        None => Ok(id.to_ascii_lowercase()),
    }
}

/// What customers may run, whoever they authenticate as. As on ElastiCache, they may not run what would break the
/// control plane's invariants: Redis's `@admin` category (`REPLICAOF`, `CONFIG`, `SHUTDOWN`, `DEBUG`, `ACL`
/// changes, `MODULE`, `FAILOVER`, `SAVE`/`BGSAVE`, …) and `MIGRATE`. `ROLE` (also `@admin`) stays allowed because
/// client libraries use it to find the primary, and so do the questions cluster clients ask ([`CLUSTER_QUESTIONS`]).
pub const CUSTOMER_PERMISSIONS: &str = "~* &* +@all -@admin -migrate +role +cluster|slots +cluster|shards \
    +cluster|nodes +cluster|info +cluster|keyslot +cluster|countkeysinslot +cluster|getkeysinslot +cluster|myid \
    +cluster|replicas";

/// The `CLUSTER` subcommands cluster clients use to learn the cluster (what ElastiCache lets them run): Redis 6.2
/// files all of `CLUSTER` under `@admin`, which customers may not run, so they are granted by name.
pub const CLUSTER_QUESTIONS: &str =
    "+cluster|slots +cluster|shards +cluster|nodes +cluster|info +cluster|keyslot \
    +cluster|countkeysinslot +cluster|getkeysinslot +cluster|myid +cluster|replicas";

/// ACL rules of the `default` user for a group's AUTH tokens: no password while the group has no token (or
/// still lets unauthenticated clients in after a first `ROTATE` — Redis then accepts any `AUTH` password as
/// well, the token among them); otherwise exactly the tokens' hashes.
pub fn default_user_rules(auth: Option<&crate::model::AuthTokens>) -> String {
    match auth {
        Some(a) if !a.open && !a.hashes.is_empty() => {
            let hashes: Vec<String> = a.hashes.iter().map(|h| format!("#{h}")).collect();
            format!("on resetpass {} {CUSTOMER_PERMISSIONS}", hashes.join(" "))
        }
        _ => format!("on nopass {CUSTOMER_PERMISSIONS}"),
    }
}

/// True for characters XML 1.0 can carry (what every response must be able to echo back).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Checks a free-text parameter: no control characters or other characters XML cannot carry.
pub fn text(name: &str, value: &str) -> Result<()> {
    if value.chars().all(xml_char) {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid {name}: it contains control or non-character code points."
        )))
    }
}

/// A value cut for an error message (never echo a megabyte back).
pub fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

/// One character of a secret, for a message: quoted when printable, else its code point (a secret's other
/// characters are never shown).
pub fn shown_char(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("'{c}'")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A weekly window `ddd:hh24:mi-ddd:hh24:mi`, as minutes since Sunday 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyWindow {
    pub start: u32,
    pub end: u32,
}

const WEEK: u32 = 7 * 24 * 60;
const DAY: u32 = 24 * 60;

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

impl WeeklyWindow {
    /// Parses and checks a maintenance window: 60 minutes to 24 hours long.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            invalid(format!(
                "Invalid maintenance window '{}': use the format ddd:hh24:mi-ddd:hh24:mi in UTC, e.g. sun:05:00-sun:06:00.",
                shown(s)
            ))
        };
        let lower = s.to_ascii_lowercase();
        let (a, b) = lower.split_once('-').ok_or_else(bad)?;
        let point = |p: &str| -> Option<u32> {
            let (d, t) = p.split_once(':')?;
            let day = DAYS.iter().position(|x| *x == d)? as u32;
            Some(day * DAY + hhmm(t)?)
        };
        let (start, end) = (point(a).ok_or_else(bad)?, point(b).ok_or_else(bad)?);
        let w = Self { start, end };
        let len = w.len_minutes();
        if len < 60 {
            return Err(invalid(format!(
                "Invalid maintenance window '{}': it must be at least 60 minutes long.",
                shown(s)
            )));
        }
        if len > DAY {
            return Err(invalid(format!(
                "Invalid maintenance window '{}': it must be at most 24 hours long.",
                shown(s)
            )));
        }
        Ok(w)
    }

    pub fn len_minutes(&self) -> u32 {
        (self.end + WEEK - self.start) % WEEK
    }

    /// True when `t` falls inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let m = t.weekday().num_days_from_sunday() * DAY + t.hour() * 60 + t.minute();
        (m + WEEK - self.start) % WEEK < self.len_minutes()
    }

    /// The canonical text form.
    pub fn format(&self) -> String {
        let p = |m: u32| {
            format!(
                "{}:{:02}:{:02}",
                DAYS[(m / DAY) as usize],
                (m % DAY) / 60,
                m % 60
            )
        };
        format!("{}-{}", p(self.start), p(self.end))
    }

    /// True when this window shares a minute with the daily window `d` on any day.
    pub fn overlaps_daily(&self, d: &DailyWindow) -> bool {
        (0..7).any(|day| {
            let s = day * DAY + d.start;
            let len = d.len_minutes();
            ranges_overlap(self.start, self.len_minutes(), s, len)
        })
    }
}

fn ranges_overlap(a: u32, alen: u32, b: u32, blen: u32) -> bool {
    // On a circle of WEEK minutes: does [a, a+alen) meet [b, b+blen)?
    let d = (b + WEEK - a) % WEEK;
    let e = (a + WEEK - b) % WEEK;
    d < alen || e < blen
}

/// A daily window `hh24:mi-hh24:mi` (snapshots), as minutes since 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyWindow {
    pub start: u32,
    pub end: u32,
}

impl DailyWindow {
    /// Parses and checks a snapshot window: at least 60 minutes.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            invalid(format!(
                "Invalid snapshot window '{}': use the format hh24:mi-hh24:mi in UTC, e.g. 05:00-06:00.",
                shown(s)
            ))
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let w = Self {
            start: hhmm(a).ok_or_else(bad)?,
            end: hhmm(b).ok_or_else(bad)?,
        };
        if w.len_minutes() < 60 {
            return Err(invalid("Snapshot window must be at least 60 minutes."));
        }
        Ok(w)
    }

    pub fn len_minutes(&self) -> u32 {
        let l = (self.end + DAY - self.start) % DAY;
        if l == 0 {
            DAY
        } else {
            l
        }
    }

    pub fn format(&self) -> String {
        format!(
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// The 8-hour block (UTC start hour) from which ElastiCache picks default windows in a region.
pub fn regional_block_start(region: &str) -> u32 {
    match region {
        "us-east-1" | "us-east-2" | "ca-central-1" | "sa-east-1" => 3,
        "us-west-1" | "us-west-2" => 6,
        r if r.starts_with("eu-")
            || r.starts_with("me-")
            || r.starts_with("af-")
            || r.starts_with("il-") =>
        {
            21
        }
        r if r.starts_with("ap-") => 13,
        _ => 3,
    }
}

/// The default maintenance window: a 60-minute slot inside the regional 8-hour block, on a day and hour drawn
/// from `seed` (AWS picks at random).
pub fn default_maintenance_window(region: &str, seed: u32) -> WeeklyWindow {
    let day = seed % 7;
    let hour = (regional_block_start(region) + (seed / 7) % 7) % 24;
    let start = day * DAY + hour * 60;
    WeeklyWindow {
        start,
        end: (start + 60) % WEEK,
    }
}

/// The default maintenance window of a new group whose snapshot window is `snapshot`: the regional pick for `seed`
/// ([`default_maintenance_window`]), or, when that would overlap the snapshot window (a request AWS would then
/// refuse for a window it chose itself), the next hour of the same day that does not.
pub fn default_maintenance_window_clear_of(
    region: &str,
    seed: u32,
    snapshot: Option<&DailyWindow>,
) -> WeeklyWindow {
    let first = default_maintenance_window(region, seed);
    let Some(d) = snapshot else {
        return first;
    };
    let day = first.start - first.start % DAY;
    (0..24)
        .map(|k| {
            let start = day + (first.start % DAY + k * 60) % DAY;
            WeeklyWindow {
                start,
                end: (start + 60) % WEEK,
            }
        })
        .find(|w| !w.overlaps_daily(d))
        .unwrap_or(first)
}

/// The default snapshot window: 60 minutes inside the regional block that does not meet the maintenance window.
pub fn default_snapshot_window(region: &str, maintenance: &WeeklyWindow) -> DailyWindow {
    let base = regional_block_start(region);
    (0..24)
        .map(|i| {
            let h = (base + i) % 24;
            DailyWindow {
                start: h * 60,
                end: ((h + 1) % 24) * 60,
            }
        })
        .find(|d| !maintenance.overlaps_daily(d))
        .unwrap_or(DailyWindow { start: 0, end: 60 })
}

/// Checks `SecurityGroupIds` items: `sg-` and 8 or 17 lower-case hex digits.
pub fn security_group_id(id: &str) -> Result<()> {
    let ok = id.strip_prefix("sg-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Invalid security group id '{}': expected sg- followed by 8 or 17 hexadecimal digits.",
            shown(id)
        )))
    }
}

/// Checks one tag. AWS allows 50 per resource, keys of 1–128 and values of 0–256 characters, and reserves `aws:`.
pub fn tag(key: &str, value: &str) -> Result<()> {
    text("tag key", key)?;
    text("tag value", value)?;
    if key.is_empty() || key.chars().count() > 128 {
        return Err(invalid(format!(
            "Invalid tag key '{}': it must be 1 to 128 characters long.",
            shown(key)
        )));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(invalid(format!(
            "Invalid tag key '{}': the prefix aws: is reserved.",
            shown(key)
        )));
    }
    if value.chars().count() > 256 {
        return Err(invalid(format!(
            "Invalid value for tag '{}': it must be at most 256 characters long.",
            shown(key)
        )));
    }
    Ok(())
}

/// The most tags a resource may carry.
pub const MAX_TAGS: usize = 50;

/// `MaxRecords` of the Describe actions: 20 to 100, default 100.
pub fn max_records(v: Option<i32>) -> Result<usize> {
    match v {
        None => Ok(100),
        Some(n) if (20..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "Invalid MaxRecords {n}: it must be between 20 and 100."
        ))),
    }
}

/// The `Marker` of a page that ends at the resource named `last`: opaque to clients (`cp1-` and the name in hex),
/// so that a marker no page produced — a group's name, say — is told apart and refused.
pub fn page_marker(last: &str) -> String {
    let hex: String = last.bytes().map(|b| format!("{b:02x}")).collect();
    format!("cp1-{hex}")
}

/// The name a [`page_marker`] was made from; `InvalidParameterValue` for a marker no page produced. `None` for
/// no marker (the first page).
pub fn read_page_marker(marker: Option<&str>) -> crate::error::Result<Option<String>> {
    let Some(m) = marker.filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        crate::error::invalid(format!(
            "Invalid Marker '{}': no page produced it.",
            shown(m)
        ))
    };
    let hex = m.strip_prefix("cp1-").ok_or_else(bad)?;
    if hex.len() % 2 != 0 || hex.is_empty() {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes.ok_or_else(bad)?)
        .map(Some)
        .map_err(|_| bad())
}

/// Validates tags and turns them into pairs (a missing value is the empty string).
pub fn tag_pairs(tags: &[wire::input::Tag]) -> Result<Vec<(String, String)>> {
    if tags.len() > crate::rules::MAX_TAGS {
        return Err(crate::error::ControlError::TagQuotaPerResourceExceeded(
            format!(
                "At most {} tags are allowed on a resource; {} were given.",
                crate::rules::MAX_TAGS,
                tags.len()
            ),
        ));
    }
    tags.iter()
        .map(|t| {
            let v = t.value.clone().unwrap_or_default();
            crate::rules::tag(&t.key, &v)?;
            Ok((t.key.clone(), v))
        })
        .collect()
}

/// Checks an SNS topic ARN: `arn:aws:sns:<region>:<12-digit account>:<name>`.
pub fn topic_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
        && parts[5].len() <= 256
        && parts[5]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(invalid(format!(
            "Invalid NotificationTopicArn '{}': expected arn:aws:sns:<region>:<account id>:<topic name>.",
            crate::rules::shown(arn)
        )));
    }
    Ok(())
}

/// The notification of a group or cluster after a request: a new topic `arn` (checked; active unless `status` says
/// otherwise), or the current topic with its status changed. `NotificationTopicStatus` without a topic is refused;
/// `whose` names the resource in that message (`group`, `cluster`).
pub fn notification_after(
    current: Option<&crate::model::Notification>,
    arn: Option<&str>,
    status: Option<&str>,
    whose: &str,
) -> Result<Option<crate::model::Notification>> {
    let active = match status {
        None => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(other) => {
            return Err(invalid(format!(
                "Invalid NotificationTopicStatus '{}': use active or inactive.",
                shown(other)
            )))
        }
    };
    Ok(match (arn, current) {
        (Some(a), _) => {
            topic_arn(a)?;
            Some(crate::model::Notification {
                topic_arn: a.to_string(),
                active: active.unwrap_or(true),
            })
        }
        (None, Some(n)) => Some(crate::model::Notification {
            topic_arn: n.topic_arn.clone(),
            active: active.unwrap_or(n.active),
        }),
        (None, None) if active.is_some() => {
            return Err(crate::error::combination(format!(
                "NotificationTopicStatus needs a NotificationTopicArn: the {whose} has no topic."
            )))
        }
        (None, None) => None,
    })
}

/// The topic's name, which names its notification file.
pub fn topic_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn identifiers() {
        assert_eq!(identifier("id", "My-Group1", 40).expect("ok"), "my-group1");
        for bad in ["", "1abc", "a--b", "ab-", "a_b", &"a".repeat(41)] {
            assert!(identifier("id", bad, 40).is_err(), "{bad}");
        }
    }

    #[test]
    fn maintenance_windows() {
        let w = WeeklyWindow::parse("Sun:05:00-sun:06:00").expect("ok");
        assert_eq!(w.format(), "sun:05:00-sun:06:00");
        assert_eq!(w.len_minutes(), 60);
        assert!(WeeklyWindow::parse("sun:05:00-sun:05:30").is_err());
        assert!(WeeklyWindow::parse("sun:05:00-mon:05:01").is_err());
        assert!(
            WeeklyWindow::parse("sat:23:30-sun:00:30").is_ok(),
            "wraps the week"
        );
        assert!(WeeklyWindow::parse("sun:25:00-sun:26:00").is_err());
        assert!(WeeklyWindow::parse("nonsense").is_err());
        // Sunday 2024-01-07 05:30 UTC is inside; 06:00 is not.
        let t = Utc
            .with_ymd_and_hms(2024, 1, 7, 5, 30, 0)
            .single()
            .expect("t");
        assert!(w.contains(t));
        let t = Utc
            .with_ymd_and_hms(2024, 1, 7, 6, 0, 0)
            .single()
            .expect("t");
        assert!(!w.contains(t));
        let wrap = WeeklyWindow::parse("sat:23:30-sun:00:30").expect("ok");
        assert!(wrap.contains(
            Utc.with_ymd_and_hms(2024, 1, 7, 0, 10, 0)
                .single()
                .expect("t")
        ));
    }

    #[test]
    fn snapshot_windows_and_overlap() {
        let d = DailyWindow::parse("05:00-06:00").expect("ok");
        assert!(DailyWindow::parse("05:00-05:59").is_err());
        assert!(DailyWindow::parse("23:30-00:30").is_ok());
        let m = WeeklyWindow::parse("wed:05:30-wed:06:30").expect("ok");
        assert!(m.overlaps_daily(&d));
        let m2 = WeeklyWindow::parse("wed:06:00-wed:07:00").expect("ok");
        assert!(!m2.overlaps_daily(&d));
    }

    #[test]
    fn a_default_maintenance_window_never_meets_the_snapshot_window_given() {
        let d = DailyWindow::parse("06:00-07:00").expect("ok");
        for seed in 0..200 {
            let m = default_maintenance_window_clear_of("us-east-1", seed, Some(&d));
            assert!(!m.overlaps_daily(&d), "seed {seed}: {m:?}");
        }
        // Without a snapshot window, the regional pick itself.
        assert_eq!(
            default_maintenance_window_clear_of("us-east-1", 5, None),
            default_maintenance_window("us-east-1", 5)
        );
    }

    #[test]
    fn defaults_do_not_overlap() {
        for seed in 0..100 {
            let m = default_maintenance_window("us-east-1", seed);
            assert_eq!(m.len_minutes(), 60);
            let s = default_snapshot_window("us-east-1", &m);
            assert!(!m.overlaps_daily(&s), "{seed}");
        }
    }

    #[test]
    fn security_groups_and_tags() {
        assert!(security_group_id("sg-0123abcd").is_ok());
        assert!(security_group_id("sg-0123456789abcdef0").is_ok());
        assert!(security_group_id("sg-xyz").is_err());
        assert!(tag("k", "v").is_ok());
        assert!(tag("aws:x", "v").is_err());
        assert!(tag("", "v").is_err());
        assert!(tag("k", "a\u{0}b").is_err());
        assert!(text("d", "tab\tand \u{e9}").is_ok());
        assert!(text("d", "\u{ffff}").is_err());
        assert_eq!(max_records(None).expect("ok"), 100);
        assert!(max_records(Some(19)).is_err());
    }

    #[test]
    fn markers_round_trip_and_refuse_names() {
        let m = page_marker("my-group");
        assert_eq!(
            read_page_marker(Some(&m)).expect("ok"),
            Some("my-group".into())
        );
        assert_eq!(read_page_marker(None).expect("ok"), None);
        for bad in ["my-group", "cp1-zz", "cp1-6", "cp1-"] {
            assert!(read_page_marker(Some(bad)).is_err(), "{bad}");
        }
    }
}
