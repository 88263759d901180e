//! The web console's sessions, kept server-side in the store so that a logout ends a session for good: a session
//! is a random id of 256 bits (from the operating system's CSPRNG) that only the browser holds, in its cookie; the
//! store keeps the SHA-256 of it and its expiry, so a copy of the store opens no session. A logout deletes the
//! session's row, "log out everywhere" (the console's button, `cacheplane console-logout-all`) deletes every row,
//! and the daemon reads the store on every console request: what the CLI ends while the daemon runs is ended at
//! once, and a restart revives nothing.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::store::{Store, StoreAt};

/// How long a session lasts from its login.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The bytes of a session id (256 bits).
const ID_BYTES: usize = 32;

/// The console's sessions, over a connection of their own to the deployment's store.
pub struct Sessions {
    store: Mutex<Box<dyn Store>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

/// What the store keeps of a session id: its SHA-256, in hex. `None` for a value that is no session id.
fn id_hash(id: &str) -> Option<String> {
    let valid = id.len() == 2 * ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| hex::encode(Sha256::digest(id.to_ascii_lowercase().as_bytes())))
}

impl Sessions {
    /// The sessions of the store at `at`, which must already hold Cacheplane's state (of `data_dir`).
    pub fn open(data_dir: &Path, at: &StoreAt) -> Result<Self> {
        Ok(Self {
            store: Mutex::new(at.open_existing(data_dir)?),
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Box<dyn Store>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session, live until `now` + [`LIFETIME`]: its id, for the browser's cookie.
    pub fn begin(&self, now: DateTime<Utc>) -> Result<String> {
        let mut bytes = [0u8; ID_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        let hash = id_hash(&id).expect("a fresh id is well formed");
        let expires = now + chrono::Duration::from_std(LIFETIME).expect("12 hours");
        self.store().put_console_session(&hash, expires, now)?;
        Ok(id)
    }

    /// Whether `id` is a session that was begun, has not ended and has not expired by `now`.
    pub fn live(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        match id_hash(id) {
            Some(hash) => self.store().console_session_live(&hash, now),
            None => Ok(false),
        }
    }

    /// Ends the session `id` (a logout); nothing for an id that is no session.
    pub fn end(&self, id: &str) -> Result<()> {
        if let Some(hash) = id_hash(id) {
            self.store().end_console_session(&hash)?;
        }
        Ok(())
    }

    /// Ends every session; returns how many were live.
    pub fn end_all(&self, now: DateTime<Utc>) -> Result<usize> {
        self.store().end_console_sessions(now)
    }
}

/// Ends every console session of `data_dir` (`cacheplane console-logout-all`), beside a running daemon or not.
pub fn end_all(data_dir: &Path, at: &StoreAt) -> Result<usize> {
    Sessions::open(data_dir, at)?.end_all(crate::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_until_they_end_or_expire_and_only_their_hash_is_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = StoreAt::new(dir.path(), None).expect("at");
        assert!(Sessions::open(dir.path(), &at).is_err(), "no state yet");
        at.open().expect("store");
        let s = Sessions::open(dir.path(), &at).expect("sessions");
        let t = crate::now();
        let a = s.begin(t).expect("begin");
        let b = s.begin(t).expect("begin");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(s.live(&a, t).expect("read"));
        assert!(s.live(&a.to_ascii_uppercase(), t).expect("read"));
        let end = t + chrono::Duration::from_std(LIFETIME).expect("lifetime");
        assert!(!s.live(&a, end).expect("read"), "expired");
        assert!(!s.live("", t).expect("read"));
        assert!(!s.live("v1.123.abc", t).expect("read"));
        assert!(!s.live(&"0".repeat(64), t).expect("read"));
        // The store holds no id.
        let db = std::fs::read(dir.path().join("cacheplane.sqlite3")).expect("db");
        let wal = std::fs::read(dir.path().join("cacheplane.sqlite3-wal")).unwrap_or_default();
        for bytes in [db, wal] {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&a) && !text.contains(&b));
        }
        s.end(&a).expect("end");
        assert!(!s.live(&a, t).expect("read"));
        assert!(s.live(&b, t).expect("read"));
        // Another connection (the CLI beside the daemon) ends them all.
        assert_eq!(end_all(dir.path(), &at).expect("end all"), 1);
        assert!(!s.live(&b, t).expect("read"));
        // A reopened store (a restart) knows no ended session.
        let again = Sessions::open(dir.path(), &at).expect("sessions");
        assert!(!again.live(&a, t).expect("read") && !again.live(&b, t).expect("read"));
        // Expired sessions are forgotten by the next login.
        let c = again.begin(t).expect("begin");
        let _ = again.begin(end).expect("begin");
        assert!(!again.live(&c, end).expect("read"));
        assert_eq!(again.end_all(end).expect("end all"), 1);
    }

    #[test]
    fn no_state_no_sessions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = StoreAt::new(dir.path(), None).expect("at");
        let e = end_all(dir.path(), &at).expect_err("nothing there");
        assert!(e.to_string().contains("cacheplane serve"), "{e}");
    }
}
