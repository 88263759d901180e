//! Finding `redis-server` and `valkey-server` binaries and reading their engine and version (`--version`).

use std::path::{Path, PathBuf};

use crate::{EngineError, Result};

/// One runnable engine binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineBinary {
    pub path: PathBuf,
    /// `redis` or `valkey`, as the binary names itself (`Redis server v=…`, `Valkey server v=…`).
    pub engine: String,
    /// `7.0.15`.
    pub version: String,
    /// Built with TLS support (see [`crate::tls::binary_supports_tls`]).
    pub tls: bool,
}

impl EngineBinary {
    /// `(major, minor, patch)` for ordering versions.
    pub fn version_triple(&self) -> (u32, u32, u32) {
        parse_version(&self.version).unwrap_or((0, 0, 0))
    }
}

/// Parses `7.0.15` (or `7.0`) into numbers.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>());
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// Runs `path --version` and reads `v=X.Y.Z`.
pub fn probe(path: &Path) -> Result<EngineBinary> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .output()
        .map_err(|source| EngineError::Exec {
            path: path.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `memcached --version` prints `memcached 1.6.18`.
    if let Some(v) = text.trim().strip_prefix("memcached ") {
        let help = std::process::Command::new(path).arg("-h").output();
        return Ok(EngineBinary {
            engine: MEMCACHED.to_string(),
            tls: help.is_ok_and(|h| String::from_utf8_lossy(&h.stdout).contains("--enable-ssl")),
            path: path.to_path_buf(),
            version: v.trim().to_string(),
        });
    }
    let engine = if text.trim_start().starts_with("Valkey") {
        VALKEY
    } else {
        REDIS
    };
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .ok_or_else(|| {
            EngineError::Other(format!(
                "{} is not a redis-server, valkey-server or memcached binary (its --version names no engine \
                 version): give the path of one to --engine-binary",
                path.display()
            ))
        })?;
    Ok(EngineBinary {
        engine: engine.to_string(),
        tls: crate::tls::binary_supports_tls(path),
        path: path.to_path_buf(),
        version: version.to_string(),
    })
}

/// The engine names a binary may give.
pub const REDIS: &str = "redis";
pub const VALKEY: &str = "valkey";
pub const MEMCACHED: &str = "memcached";

/// Looks `redis-server` up on `PATH`.
pub fn find_on_path() -> Option<PathBuf> {
    find_named_on_path("redis-server")
}

/// Looks a program up on `PATH`.
pub fn find_named_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        // A relative entry of PATH (`.`, `bin`) gives a relative path: it must not depend on a later directory.
        .and_then(|p| std::path::absolute(p).ok())
}

/// Looks `memcached` up on `PATH`.
pub fn find_memcached() -> Option<PathBuf> {
    find_named_on_path("memcached")
}

/// The binaries to use: the explicitly registered ones, else `redis-server` and `valkey-server` on `PATH`. Sorted
/// by engine, then newest first; the same engine and version twice keeps the first.
pub fn discover(registered: &[PathBuf]) -> Result<Vec<EngineBinary>> {
    let candidates: Vec<PathBuf> = if registered.is_empty() {
        ["redis-server", "valkey-server"]
            .iter()
            .filter_map(|n| find_named_on_path(n))
            .collect()
    } else {
        registered.to_vec()
    };
    if candidates.is_empty() {
        return Err(EngineError::NoBinary(
            "redis-server is not on PATH. Install it with `sudo apt-get install redis-server` (Debian/Ubuntu), \
             or register one with --engine-binary /path/to/redis-server."
                .into(),
        ));
    }
    let mut found: Vec<EngineBinary> = Vec::new();
    let mut candidates = candidates;
    // Memcached is optional: the one on PATH unless one was registered.
    if !candidates.iter().any(|c| {
        c.file_name()
            .is_some_and(|n| n.to_string_lossy().contains("memcached"))
    }) {
        candidates.extend(find_memcached());
    }
    for c in candidates {
        let b = probe(&c)?;
        if !found
            .iter()
            .any(|f| f.version == b.version && f.engine == b.engine)
        {
            found.push(b);
        }
    }
    // Redis first (the default engine), then Valkey, then Memcached; newest first within each.
    let rank = |e: &str| match e {
        REDIS => 0,
        VALKEY => 1,
        _ => 2,
    };
    found.sort_by_key(|b| (rank(&b.engine), std::cmp::Reverse(b.version_triple())));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("7.0.15"), Some((7, 0, 15)));
        assert_eq!(parse_version("6.2"), Some((6, 2, 0)));
        assert_eq!(parse_version("x"), None);
    }
}
