//! Finding `redis-server` binaries and reading their versions (`redis-server --version`).

use std::path::{Path, PathBuf};

use crate::{EngineError, Result};

/// One runnable engine binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineBinary {
    pub path: PathBuf,
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
    let version = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("v="))
        .ok_or_else(|| {
            EngineError::Other(format!(
                "{} --version printed no version: {text}",
                path.display()
            ))
        })?;
    Ok(EngineBinary {
        tls: crate::tls::binary_supports_tls(path),
        path: path.to_path_buf(),
        version: version.to_string(),
    })
}

/// Looks `redis-server` up on `PATH`.
pub fn find_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// The binaries to use: the explicitly registered ones, else the one on `PATH`. Sorted newest first; the same
/// version twice keeps the first.
pub fn discover(registered: &[PathBuf]) -> Result<Vec<EngineBinary>> {
    let candidates: Vec<PathBuf> = if registered.is_empty() {
        find_on_path().into_iter().collect()
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
    for c in candidates {
        let b = probe(&c)?;
        if !found.iter().any(|f| f.version == b.version) {
            found.push(b);
        }
    }
    found.sort_by_key(|b| std::cmp::Reverse(b.version_triple()));
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
