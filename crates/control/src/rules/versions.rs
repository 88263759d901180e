//! Engine versions: their order, and the parameter group family and default group of each.

pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    engine::binary::parse_version(a).cmp(&engine::binary::parse_version(b))
}

/// The parameter group family of an engine version (`redis7`, `redis6.x`, `redis5.0`).
pub fn parameter_group_family(engine: &str, version: &str) -> String {
    let parsed = engine::binary::parse_version(version);
    match (engine, parsed) {
        // AWS's families: `valkey7`, `valkey8` (and on), `memcached1.6`, `redis7`, `redis6.x`, `redis5.0`.
        ("valkey", Some((major, _, _))) => format!("valkey{major}"),
        ("memcached", Some((major, minor, _))) => format!("memcached{major}.{minor}"),
        (_, Some((major, _, _))) if major >= 7 => format!("redis{major}"),
        (_, Some((6, _, _))) => "redis6.x".to_string(),
        (_, Some((major, minor, _))) => format!("redis{major}.{minor}"),
        (_, None) => engine.to_string(),
    }
}

/// The default parameter group of an engine version, with cluster mode on (`.cluster.on`) or not.
pub fn default_parameter_group(engine: &str, version: &str, cluster: bool) -> String {
    let family = parameter_group_family(engine, version);
    if cluster {
        format!("default.{family}.cluster.on")
    } else {
        format!("default.{family}")
    }
}
