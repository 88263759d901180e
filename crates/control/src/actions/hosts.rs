//! Hosts joining the deployment. An operator makes a one-use join token (`cacheplane hosts token`); the store keeps
//! its SHA-256 and its expiry, never the token. A new agent sends the token with a certificate request to any
//! daemon, which uses the token up, records the host (its zone, its address range, where its agent answers) and
//! signs the request's key with the host CA. From then on the agent and the leader know each other by that CA.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{invalid, ControlError, Result};
use crate::model::{AddressRange, Host};
use crate::store::StoreAt;
use crate::{now, Control};

/// How long a join token is good for unless said otherwise.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
const TOKEN_BYTES: usize = 32;

/// What the store keeps of a token: the SHA-256 of its secret (the part before the dot), in hex; `None` for what is
/// no token.
fn token_hash(token: &str) -> Option<String> {
    let secret = token.split('.').next()?;
    let valid = secret.len() == 2 * TOKEN_BYTES && secret.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| hex::encode(Sha256::digest(secret.to_ascii_lowercase().as_bytes())))
}

/// The host CA a token names (the part after the dot): the SHA-256 of its certificate (PEM), in hex.
pub fn token_ca(token: &str) -> Option<&str> {
    token.split_once('.').map(|(_, ca)| ca)
}

/// The SHA-256 of a certificate's PEM, in hex: how a token names the host CA.
pub fn ca_fingerprint(ca_pem: &str) -> String {
    hex::encode(Sha256::digest(ca_pem.as_bytes()))
}

/// A new join token for the deployment whose state is at `at` (of `data_dir`), good for one join within
/// `valid_for`: a secret, a dot, and the host CA's fingerprint (the agent checks the CA it is given against it, so
/// a join across a network nobody vouches for cannot be answered with another CA).
pub fn new_token(data_dir: &Path, at: &StoreAt, valid_for: Duration) -> Result<String> {
    let ca_path = data_dir.join("hosts").join("ca.pem");
    let ca = std::fs::read_to_string(&ca_path).map_err(|e| {
        ControlError::Internal(format!(
            "{}: {e} (the daemon makes the host CA when it starts: start it once first)",
            ca_path.display()
        ))
    })?;
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = token_hash(&secret).expect("a fresh token is well formed");
    let t = now();
    let expires = t + chrono::Duration::from_std(valid_for).map_err(|_| invalid("too long"))?;
    at.open_existing(data_dir)?
        .add_join_token(&hash, expires, t)?;
    Ok(format!("{secret}.{}", ca_fingerprint(&ca)))
}

/// The hosts that joined the deployment whose state is at `at`.
pub fn list(data_dir: &Path, at: &StoreAt) -> Result<Vec<Host>> {
    at.open_existing(data_dir)?.load_hosts()
}

/// What a new agent sends to join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub token: String,
    /// Its certificate request (PEM): only its key is used.
    pub csr: String,
    pub zone: String,
    /// The addresses its nodes may take (`a.b.c.d/n`).
    pub addresses: String,
    /// Where its agent listens.
    pub listen: SocketAddr,
    /// The name it asks for; `<zone>-<n>` when none.
    #[serde(default)]
    pub name: Option<String>,
}

/// What a host that joined is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    pub host: String,
    /// Its certificate (PEM), for its listener.
    pub certificate: String,
    /// The host CA (PEM): the control plane's client certificate is signed by it.
    pub ca: String,
}

/// Why a join was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the join token is not valid: unknown, used already, or expired. Make a new one with `cacheplane hosts token`.")]
    Token,
    #[error("{0}")]
    Refused(#[from] ControlError),
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

impl Control {
    /// Records the host of `r` and signs its key, using its token up; refused, changing nothing, when the token is
    /// not live or the request is not sound.
    pub fn join_host(&self, r: JoinRequest) -> std::result::Result<Joined, JoinError> {
        let hash = token_hash(&r.token).ok_or(JoinError::Token)?;
        // Nothing is said of the deployment to a request without a live token.
        if !self.state().store.join_token_live(&hash, now())? {
            return Err(JoinError::Token);
        }
        if !valid_name(&r.zone) {
            return Err(invalid(format!(
                "Invalid zone {:?}: a zone is lowercase letters, digits and hyphens (us-east-1a).",
                crate::rules::shown(&r.zone)
            ))
            .into());
        }
        let zones = &self.settings().availability_zones;
        if !zones.contains(&r.zone) {
            return Err(invalid(format!(
                "Zone {} is not an availability zone of this deployment: give one of {}.",
                r.zone,
                zones.join(", ")
            ))
            .into());
        }
        let addresses = AddressRange::parse(&r.addresses).ok_or_else(|| {
            invalid(format!(
                "Invalid address range {:?}: give an IPv4 range a.b.c.d/n with n from 8 to 30.",
                crate::rules::shown(&r.addresses)
            ))
        })?;
        if !addresses.contains(r.listen.ip()) {
            return Err(invalid(format!(
                "The agent listens on {}, outside its address range {addresses}.",
                r.listen
            ))
            .into());
        }
        if let Some(n) = &r.name {
            if !valid_name(n) {
                return Err(invalid(format!(
                    "Invalid host name {:?}: lowercase letters, digits and hyphens, at most 63.",
                    crate::rules::shown(n)
                ))
                .into());
            }
        }
        let joined = self.commit(|tx| {
            if let Some(other) = tx.hosts.values().find(|h| {
                h.addresses.contains(addresses.base.into())
                    || addresses.contains(h.addresses.base.into())
            }) {
                return Err(invalid(format!(
                    "The address range {addresses} overlaps host {}'s ({}).",
                    other.name, other.addresses
                )));
            }
            let name = match &r.name {
                Some(n) if tx.hosts.contains_key(n) => {
                    return Err(invalid(format!("A host named {n} has joined already.")))
                }
                Some(n) => n.clone(),
                None => (1..)
                    .map(|i| format!("{}-{i}", r.zone))
                    .find(|n| !tx.hosts.contains_key(n))
                    .expect("a free name"),
            };
            let certificate = self
                .inner
                .hosts_ca
                .sign_agent(&r.csr, &name, r.listen.ip())
                .map_err(|e| invalid(format!("Invalid certificate request: {e}")))?;
            let host = Host {
                name: name.clone(),
                zone: r.zone.clone(),
                url: format!("https://{}", r.listen),
                addresses,
                joined: now(),
                lost: None,
                room: None,
            };
            if !tx.store.join_host(&host, &hash, host.joined)? {
                return Ok(None);
            }
            tracing::info!(host = %name, zone = %host.zone, url = %host.url, "host joined");
            tx.hosts.insert(name.clone(), host);
            tx.wake();
            Ok(Some(Joined {
                host: name,
                certificate,
                ca: self.inner.hosts_ca.ca_pem()?,
            }))
        })?;
        joined.ok_or(JoinError::Token)
    }
}
