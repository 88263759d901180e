//! The control plane's admin user on every node. Its password is generated once, kept in the data directory
//! with mode 0600, and never leaves it; node configs carry only its SHA-256 (Redis ACL `#<hex>`), except for
//! `masterauth`, which replicas need in clear and which lives in the equally private node config.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Result;

/// The admin ACL user's name.
pub const ADMIN_USER: &str = "cacheplane-admin";

/// The admin user's credentials.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct AdminCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminCredentials({}, <redacted>)", self.user)
    }
}

impl AdminCredentials {
    /// `#<sha256 hex>` as Redis ACL takes a hashed password.
    pub fn acl_hash(&self) -> String {
        sha256_acl(&self.password)
    }
}

/// The ACL form of a password: `#` and the hex SHA-256.
pub fn sha256_acl(password: &str) -> String {
    format!("#{}", sha256_hex(password))
}

/// The SHA-256 of `password` in lower-case hex: what Redis ACL lists as a user's password.
pub fn sha256_hex(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

pub use crate::private::random_token;

/// Writes `contents` to `path` with mode 0600 (never readable by others, even for a moment), atomically: a crash
/// leaves the old contents or the new (see [`crate::private::write_atomic`]).
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    crate::private::write_atomic(path, contents.as_bytes())
}

/// Loads the admin secret from `path`, creating it on first start.
pub fn load_or_create(path: &Path) -> Result<AdminCredentials> {
    let password = match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            let p = random_token(48);
            write_private(path, &p)?;
            p
        }
    };
    Ok(AdminCredentials {
        user: ADMIN_USER.to_string(),
        password,
    })
}
