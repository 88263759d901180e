//! The cache parameter catalogues of the Redis OSS and Valkey families (`parameters.txt`), values checked against
//! an entry's `DataType` and `AllowedValues`, and the translation of a parameter group's values into the settings a
//! node runs with.
//!
//! AWS's `AllowedValues` is a small grammar, seen in its catalogues: `a,b,c` (an enumeration), `lo-hi`, `lo-` (no
//! upper bound), `-` (anything), and mixes such as `0,20-` or `-5,-4,-3,-2,-1,1-` (a leading minus sign belongs to
//! the number). Every value is a string on the wire; `integer` values are whole numbers within the ranges.

/// One part of an `AllowedValues` list.
use crate::model::ParameterGroup;

#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// A value as written (a word, or a number).
    Exact(String),
    /// Numbers from `lo` to `hi` (inclusive; `None`: unbounded): whole ones for an `integer` parameter.
    Range { lo: Option<f64>, hi: Option<f64> },
}

/// What a parameter's `AllowedValues` admits.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowed {
    /// The text as AWS writes it (`-` when there is none).
    text: String,
    /// `None`: anything (`-`, or no `AllowedValues` at all).
    parts: Option<Vec<Part>>,
}

/// Splits `lo-hi` (either side may be empty, `lo` may be negative) into its bounds; `None` when `s` is no range.
fn range(s: &str) -> Option<(Option<f64>, Option<f64>)> {
    // The separator is a minus sign that is not the number's own leading sign.
    let at = s.char_indices().skip(1).find(|(_, c)| *c == '-')?.0;
    let (lo, hi) = (&s[..at], &s[at + 1..]);
    let bound = |b: &str| -> Option<Option<f64>> {
        if b.is_empty() {
            Some(None)
        } else {
            b.parse().ok().map(Some)
        }
    };
    Some((bound(lo)?, bound(hi)?))
}

impl Allowed {
    /// Reads an `AllowedValues` text.
    pub fn parse(text: Option<&str>) -> Self {
        let Some(t) = text.map(str::trim).filter(|t| !t.is_empty() && *t != "-") else {
            return Self {
                text: "-".into(),
                parts: None,
            };
        };
        let parts = t
            .split(',')
            .map(str::trim)
            .map(|p| match range(p) {
                Some((lo, hi)) => Part::Range { lo, hi },
                None => Part::Exact(p.to_string()),
            })
            .collect();
        Self {
            text: t.to_string(),
            parts: Some(parts),
        }
    }

    /// Whether `value` is allowed, for a parameter of `data_type` (`integer`, `float`, `string`, `boolean`).
    pub fn admits(&self, data_type: &str, value: &str) -> bool {
        let number = match data_type {
            "integer" => match value.parse::<i64>() {
                Ok(n) => Some(n as f64),
                Err(_) => return false,
            },
            _ => value.parse::<f64>().ok().filter(|n| n.is_finite()),
        };
        if data_type == "float" && number.is_none() {
            return false;
        }
        let Some(parts) = &self.parts else {
            return true;
        };
        parts.iter().any(|p| match p {
            Part::Exact(e) => e == value,
            Part::Range { lo, hi } => {
                number.is_some_and(|n| lo.is_none_or(|lo| n >= lo) && hi.is_none_or(|hi| n <= hi))
            }
        })
    }

    /// The check of a value given for parameter `name`: `Err` with a message a person can act on.
    pub fn check(&self, name: &str, data_type: &str, value: &str) -> Result<(), String> {
        if self.admits(data_type, value) {
            return Ok(());
        }
        let allowed_text = &self.text;
        let shown = crate::rules::shown(value);
        Err(if data_type == "integer" && value.parse::<i64>().is_err() {
            format!("Value ({shown}) for parameter {name} is invalid: it must be a whole number in {allowed_text}.")
        } else if data_type == "float" && value.parse::<f64>().is_err() {
            format!("Value ({shown}) for parameter {name} is invalid: it must be a number in {allowed_text}.")
        } else {
            format!("Value ({shown}) for parameter {name} is invalid: allowed values are {allowed_text}.")
        })
    }
}

/// `ChangeType`: when a new value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Immediate,
    RequiresReboot,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediate => "immediate",
            Self::RequiresReboot => "requires-reboot",
        }
    }
}

/// One parameter of a family's catalogue.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: &'static str,
    /// `None`: the parameter has no value (AWS sends no `ParameterValue`).
    pub default: Option<&'static str>,
    pub data_type: &'static str,
    /// `AllowedValues` as AWS writes it; `None`: AWS sends none.
    pub allowed_text: Option<&'static str>,
    pub allowed: Allowed,
    modifiable: bool,
    /// Modifiable in a customer's own group, though the engine defaults say it is not.
    custom_only: bool,
    /// An ElastiCache-only behaviour Cacheplane does not have: reported, never changed.
    refused: bool,
    pub change: Change,
    families: &'static str,
    min_version: &'static str,
    pub description: &'static str,
}

const CATALOGUE_TEXT: &str = include_str!("parameters.txt");

static CATALOGUE: std::sync::LazyLock<Vec<Spec>> = std::sync::LazyLock::new(|| {
    CATALOGUE_TEXT
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&'static str> = l.split('|').collect();
            assert_eq!(f.len(), 8, "parameters.txt: {l}");
            let opt = |v: &'static str| (v != "~").then_some(v);
            Spec {
                name: f[0],
                default: opt(f[1]),
                data_type: f[2],
                allowed_text: opt(f[3]),
                allowed: Allowed::parse(opt(f[3])),
                modifiable: f[4].contains('M'),
                custom_only: f[4].contains('C'),
                refused: f[4].contains('X'),
                change: if f[4].contains('R') {
                    Change::RequiresReboot
                } else {
                    Change::Immediate
                },
                families: f[5],
                min_version: f[6],
                description: f[7],
            }
        })
        .collect()
});

/// A parameter group family whose catalogue is known: `redis6.x`, `redis7`, `valkey7`, `valkey8`, `valkey9`,
/// `memcached1.6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub name: String,
    /// The catalogue column (`6`, `7`, or `m` for Memcached).
    column: char,
    /// The family's first engine version: every parameter's `MinimumEngineVersion` is at least this.
    first_version: String,
}

impl Family {
    /// The family named `name`, when its catalogue is known.
    pub fn of(name: &str) -> Option<Self> {
        let (column, first) = match name {
            "redis6.x" => ('6', "6.0.0".to_string()),
            "redis7" => ('7', "7.0.0".to_string()),
            // AWS's first Memcached 1.6 version.
            "memcached1.6" => ('m', "1.6.6".to_string()),
            _ => {
                let major: u32 = name.strip_prefix("valkey")?.parse().ok()?;
                if major < 7 {
                    return None;
                }
                (
                    '7',
                    if major == 7 {
                        "7.2.0".into()
                    } else {
                        format!("{major}.0.0")
                    },
                )
            }
        };
        Some(Self {
            name: name.to_string(),
            column,
            first_version: first,
        })
    }

    /// The family's parameters, by name.
    pub fn specs(&self) -> impl Iterator<Item = &'static Spec> + '_ {
        CATALOGUE
            .iter()
            .filter(move |s| s.families.contains(self.column))
    }

    pub fn spec(&self, name: &str) -> Option<&'static Spec> {
        self.specs().find(|s| s.name == name)
    }

    /// A Memcached family: its nodes take command-line options, not Redis settings.
    pub fn is_memcached(&self) -> bool {
        self.column == 'm'
    }

    /// The family's first engine version.
    pub fn first_version(&self) -> &str {
        &self.first_version
    }

    /// `MinimumEngineVersion` of a parameter in this family.
    pub fn min_version(&self, s: &Spec) -> String {
        let own = engine::binary::parse_version(s.min_version);
        if own > engine::binary::parse_version(&self.first_version) {
            s.min_version.to_string()
        } else {
            self.first_version.clone()
        }
    }
}

impl Spec {
    /// `IsModifiable` as reported in a group (`custom`: a customer's own group) or in the engine defaults.
    pub fn is_modifiable(&self, custom: bool) -> bool {
        !self.refused && (self.modifiable || (custom && self.custom_only))
    }

    /// Whether a customer's group may change it; `Err` with AWS's message when not.
    pub fn check_modifiable(&self) -> Result<(), String> {
        if self.is_modifiable(true) {
            Ok(())
        } else if self.refused {
            Err(format!(
                "The parameter {} cannot be modified: Cacheplane does not have this ElastiCache-only behaviour.",
                self.name
            ))
        } else {
            Err(format!("The parameter {} cannot be modified.", self.name))
        }
    }
}

/// What a node of a group runs with, from its parameter group: stored with the group (so that a node's config is a
/// function of its group alone) and re-resolved when the parameter group changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct NodeParams {
    /// Engine settings set live (`CONFIG SET`) and written to the node's config: `immediate` parameters.
    pub live: Vec<(String, String)>,
    /// Engine settings a node takes only when it starts: `requires-reboot` parameters.
    pub boot: Vec<(String, String)>,
    /// `reserved-memory-percent`: the share of the node type's memory kept out of `maxmemory`.
    pub reserved_memory_percent: u64,
}

impl NodeParams {
    /// The node's `maxmemory` for a node type of `bytes`.
    pub fn maxmemory(&self, bytes: u64) -> u64 {
        (u128::from(bytes) * u128::from(100 - self.reserved_memory_percent.min(100)) / 100) as u64
    }
}

/// The engine's name of an AWS parameter, where they differ.
fn engine_name(name: &str) -> &str {
    match name {
        "cluster-allow-pubsub-shard-when-down" => "cluster-allow-pubsubshard-when-down",
        other => other,
    }
}

/// The settings a node of `engine_version` runs with for a group whose values are `value_of` each parameter.
/// Parameters ElastiCache manages itself (cluster mode, persistence, replication, client limits) stay the control
/// plane's; the client output buffer limits of the normal and pub/sub classes become one
/// `client-output-buffer-limit` setting; `reserved-memory-percent` lowers `maxmemory`.
pub fn node_params(
    family: &Family,
    engine_version: &str,
    value_of: impl Fn(&Spec) -> Option<String>,
) -> NodeParams {
    let engine = engine::binary::parse_version(engine_version);
    let mut p = NodeParams::default();
    let mut buffers = std::collections::BTreeMap::new();
    for s in family.specs() {
        if engine::binary::parse_version(&family.min_version(s)) > engine {
            continue;
        }
        let value = value_of(s).unwrap_or_default();
        if s.name == "reserved-memory-percent" {
            p.reserved_memory_percent = value.parse().unwrap_or(25);
            continue;
        }
        if let Some(rest) = s.name.strip_prefix("client-output-buffer-limit-") {
            if let Some((class @ ("normal" | "pubsub"), field)) = rest.split_once('-') {
                buffers.insert((class, field), value);
            }
            continue;
        }
        // Managed by the control plane, or refused: reported, not applied.
        if s.name == "cluster-enabled" || !s.is_modifiable(true) && s.change == Change::Immediate {
            continue;
        }
        if s.name == "maxclients" {
            continue;
        }
        let setting = (engine_name(s.name).to_string(), value);
        match s.change {
            Change::Immediate => p.live.push(setting),
            Change::RequiresReboot => p.boot.push(setting),
        }
    }
    let limit = |class: &str| -> String {
        let f = |field| buffers.get(&(class, field)).cloned().unwrap_or_default();
        format!(
            "{class} {} {} {}",
            f("hard-limit"),
            f("soft-limit"),
            f("soft-seconds")
        )
    };
    p.live.push((
        "client-output-buffer-limit".into(),
        format!("{} {}", limit("normal"), limit("pubsub")),
    ));
    p
}

/// The item memory (MiB) of a Memcached node of `node_type`: AWS's node-type-specific `max_cache_memory`, the
/// memory a node of that type has for data.
pub fn max_cache_memory_mib(node_type: &str) -> u64 {
    crate::rules::node_types::maxmemory(node_type).unwrap_or(512 << 20) >> 20
}

/// Memcached's worker threads on a node of `node_type` (AWS's node-type-specific `num_threads`): one per vCPU of
/// the size, as AWS's table gives them (`micro`, `small` 1; `medium`, `large` 2; `xlarge` 4; `Nxlarge` 4·N).
pub fn num_threads(node_type: &str) -> u64 {
    let size = node_type.rsplit('.').next().unwrap_or_default();
    match size {
        "micro" | "small" => 1,
        "medium" | "large" => 2,
        "xlarge" => 4,
        _ => size
            .strip_suffix("xlarge")
            .and_then(|n| n.parse::<u64>().ok())
            .map_or(2, |n| 4 * n),
    }
}

/// What a Memcached node runs with, from its parameter group and node type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemcachedParams {
    /// memcached's long options (`--name=value`; `None`: a switch): the ones a node takes when it starts.
    pub options: Vec<(String, Option<String>)>,
    /// memcached's extended options (`-o`), in order: `no_modern` first, so the others override what it sets.
    pub extended: Vec<(String, Option<String>)>,
    /// The item memory in MiB: `-m` at start, and memcached's `cache_memlimit` on a running node.
    pub memory_mib: u64,
}

impl MemcachedParams {
    /// A fingerprint of what a node takes only when it starts (not its memory, which changes live).
    pub fn boot_fingerprint(&self) -> String {
        let flat = |v: &[(String, Option<String>)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(n, v)| (n.clone(), v.clone().unwrap_or_default()))
                .collect()
        };
        let mut all = flat(&self.options);
        all.push(("-o".into(), String::new()));
        all.extend(flat(&self.extended));
        engine::config::settings_fingerprint(&all)
    }
}

/// The options a Memcached node of `node_type` runs with for a group whose values are `value_of` each parameter,
/// or why the values cannot run together on that node type (memcached refuses to start with them).
pub fn memcached_params(
    family: &Family,
    node_type: &str,
    value_of: impl Fn(&Spec) -> Option<String>,
) -> Result<MemcachedParams, String> {
    let value = |name: &str| -> Option<String> { family.spec(name).and_then(&value_of) };
    let number = |name: &str| -> u64 { value(name).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let on = |name: &str| value(name).as_deref() == Some("1");
    let max_cache = max_cache_memory_mib(node_type);
    let memory_mib = match value("cache_memlimit") {
        Some(v) => {
            let mib: u64 = v.parse().unwrap_or(0);
            if mib > max_cache {
                return Err(format!(
                    "cache_memlimit {mib} is more than the {max_cache} MB a {node_type} node has for items."
                ));
            }
            mib
        }
        None => {
            let overhead = number("memcached_connections_overhead");
            if overhead + 8 > max_cache {
                return Err(format!(
                    "memcached_connections_overhead {overhead} leaves less than 8 MB for items on a {node_type} node ({max_cache} MB)."
                ));
            }
            max_cache - overhead
        }
    };
    let item = number("max_item_size");
    if item > (memory_mib << 20) / 2 {
        return Err(format!(
            "max_item_size {item} is more than half of the {memory_mib} MB a {node_type} node gives items; memcached needs room for two."
        ));
    }
    let chunk_max = number("slab_chunk_max");
    if chunk_max % 1024 != 0 || chunk_max > item || item % chunk_max.max(1) != 0 {
        return Err(format!(
            "slab_chunk_max {chunk_max} must be a multiple of 1024 that divides max_item_size {item}."
        ));
    }
    let mut options: Vec<(String, Option<String>)> = Vec::new();
    let mut set = |name: &str, v: Option<String>| options.push((name.to_string(), v));
    set("threads", Some(num_threads(node_type).to_string()));
    for (param, option) in [
        ("backlog_queue_limit", "listen-backlog"),
        ("binding_protocol", "protocol"),
        ("chunk_size", "slab-min-size"),
        ("chunk_size_growth_factor", "slab-growth-factor"),
        ("max_item_size", "max-item-size"),
        ("max_simultaneous_connections", "conn-limit"),
        ("requests_per_event", "max-reqs-per-event"),
    ] {
        if let Some(v) = value(param) {
            set(option, Some(v));
        }
    }
    for (param, switch) in [
        ("cas_disabled", "disable-cas"),
        ("disable_flush_all", "disable-flush-all"),
        ("error_on_memory_exhausted", "disable-evictions"),
        ("large_memory_pages", "enable-largepages"),
        ("lock_down_paged_memory", "lock-memory"),
        ("maximize_core_file_limit", "enable-coredumps"),
    ] {
        if on(param) {
            set(switch, None);
        }
    }
    if value("watch").as_deref() == Some("0") {
        set("disable-watch", None);
    }
    let mut extended: Vec<(String, Option<String>)> = Vec::new();
    if on("no_modern") {
        extended.push(("no_modern".into(), None));
    }
    for (param, option) in [
        ("hashpower_init", "hashpower"),
        ("hash_algorithm", "hash_algorithm"),
        ("idle_timeout", "idle_timeout"),
        ("slab_automove", "slab_automove"),
        ("watcher_logbuf_size", "watcher_logbuf_size"),
    ] {
        if let Some(v) = value(param) {
            extended.push((option.into(), Some(v)));
        }
    }
    // memcached takes this one in kilobytes.
    extended.push((
        "slab_chunk_max".into(),
        Some((chunk_max / 1024).to_string()),
    ));
    for name in [
        "lru_crawler",
        "lru_maintainer",
        "maxconns_fast",
        "slab_reassign",
    ] {
        let switch = if on(name) {
            name.to_string()
        } else {
            format!("no_{name}")
        };
        extended.push((switch, None));
    }
    if on("track_sizes") {
        extended.push(("track_sizes".into(), None));
    }
    Ok(MemcachedParams {
        options,
        extended,
        memory_mib,
    })
}

/// What a Memcached node of `node_type` runs with in its family's default group.
pub fn memcached_defaults(node_type: &str) -> MemcachedParams {
    let family = Family::of("memcached1.6").expect("memcached1.6 is catalogued");
    memcached_params(&family, node_type, |s| s.default.map(str::to_string))
        .expect("the defaults run on every node type")
}

/// What a parameter group's values mean under its family's rules.
impl ParameterGroup {
    /// The default group `name` (`default.<family>` or `default.<family>.cluster.on`) of one of `families`.
    pub(crate) fn default_named(name: &str, families: &[String]) -> Option<Self> {
        let rest = name.strip_prefix("default.")?;
        let (family, cluster) = match rest.strip_suffix(".cluster.on") {
            Some(f) => (f, true),
            None => (rest, false),
        };
        // `.cluster.on` groups exist for Redis OSS and Valkey only: Memcached has no cluster mode.
        let clusters = Family::of(family).is_some_and(|f| !f.is_memcached());
        if !families.iter().any(|f| f == family) || (cluster && !clusters) {
            return None;
        }
        let description = if cluster {
            format!("Customized default parameter group for {family} with cluster mode on")
        } else {
            format!("Default parameter group for {family}")
        };
        Some(Self {
            name: name.to_string(),
            family: family.to_string(),
            description,
            values: std::collections::BTreeMap::new(),
        })
    }

    pub fn is_default(&self) -> bool {
        self.name.starts_with("default.")
    }

    /// A parameter's value in this group (`None`: it has none) and its `Source`.
    pub(crate) fn value(&self, s: &Spec) -> (Option<String>, &'static str) {
        if let Some(v) = self.values.get(s.name) {
            return (Some(v.clone()), "user");
        }
        if s.name == "cluster-enabled" && self.is_default() && self.name.ends_with(".cluster.on") {
            return (Some("yes".into()), "system");
        }
        (s.default.map(str::to_string), "system")
    }

    /// Whether nodes using this group run Redis Cluster (`cluster-enabled yes`).
    pub fn cluster_enabled(&self) -> bool {
        Family::of(&self.family)
            .and_then(|f| f.spec("cluster-enabled"))
            .and_then(|s| self.value(s).0)
            .is_some_and(|v| v == "yes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_of_allowed_values() {
        let yes_no = Allowed::parse(Some("yes,no"));
        assert!(yes_no.admits("string", "yes") && !yes_no.admits("string", "maybe"));
        let closed = Allowed::parse(Some("1-75"));
        assert!(closed.admits("integer", "1") && closed.admits("integer", "75"));
        assert!(!closed.admits("integer", "0") && !closed.admits("integer", "76"));
        assert!(!closed.admits("integer", "7.5") && !closed.admits("integer", "x"));
        let open = Allowed::parse(Some("1048576-"));
        assert!(open.admits("integer", "1073741824") && !open.admits("integer", "1048575"));
        let any = Allowed::parse(Some("-"));
        assert!(any.admits("integer", "-1") && any.admits("integer", "10000"));
        assert!(
            !any.admits("integer", "ten"),
            "an integer is still a number"
        );
        assert!(Allowed::parse(None).admits("string", "KEA"));
        let timeout = Allowed::parse(Some("0,20-"));
        assert!(timeout.admits("integer", "0") && timeout.admits("integer", "20"));
        assert!(!timeout.admits("integer", "5"));
        let list_size = Allowed::parse(Some("-5,-4,-3,-2,-1,1-"));
        assert!(list_size.admits("integer", "-5") && list_size.admits("integer", "-1"));
        assert!(list_size.admits("integer", "128"));
        assert!(!list_size.admits("integer", "0") && !list_size.admits("integer", "-6"));
        let negative_range = Allowed::parse(Some("-10--2"));
        assert!(negative_range.admits("integer", "-3") && !negative_range.admits("integer", "-1"));
    }

    #[test]
    fn floats_and_memcached_defaults() {
        let factor = Allowed::parse(Some("1.01-100"));
        assert!(factor.admits("float", "1.25") && factor.admits("float", "2"));
        assert!(!factor.admits("float", "1.0") && !factor.admits("float", "fast"));
        let p = memcached_defaults("cache.t3.micro");
        assert_eq!(
            p.memory_mib,
            512 - 100,
            "max_cache_memory less the overhead"
        );
        assert_eq!(p.extended[0].0, "no_modern");
        assert!(p
            .options
            .contains(&("max-item-size".into(), Some("1048576".into()))));
        assert!(p
            .extended
            .contains(&("slab_chunk_max".into(), Some("512".into()))));
        assert_eq!(num_threads("cache.m5.4xlarge"), 16);
        assert_eq!(num_threads("cache.t3.medium"), 2);
        let family = Family::of("memcached1.6").expect("family");
        let big_items = memcached_params(&family, "cache.t3.micro", |s| {
            if s.name == "max_item_size" {
                Some("268435456".into())
            } else {
                s.default.map(str::to_string)
            }
        });
        assert!(big_items.expect_err("too big").contains("half"));
    }

    #[test]
    fn refusals_name_the_parameter_and_what_is_allowed() {
        let a = Allowed::parse(Some("0,20-"));
        let e = a.check("timeout", "integer", "5").expect_err("5");
        assert!(
            e.contains("timeout") && e.contains("0,20-") && e.contains("(5)"),
            "{e}"
        );
        let e = a.check("timeout", "integer", "soon").expect_err("soon");
        assert!(e.contains("whole number"), "{e}");
        assert!(a.check("timeout", "integer", "300").is_ok());
    }
}
