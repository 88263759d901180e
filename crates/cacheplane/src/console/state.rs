//! The console's own state: its sessions and login checks, the failed-login lock for everyone ([`FailedLogins`]),
//! the `Host` check of the console and the metrics ([`AllowedHosts`]), and the daemon's notices. The API's
//! application state holds it; the routes in the parent module read it.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use control::actions::console_sessions::Sessions;

use super::*;

/// The failure in a row that first locks logins (the ones before it are free).
pub(crate) const FREE_FAILURES: u32 = 5;
/// The first lock; each further failure doubles it, up to [`LONGEST_LOCK`].
pub(crate) const FIRST_LOCK: Duration = Duration::from_millis(500);
pub(crate) const LONGEST_LOCK: Duration = Duration::from_secs(60);
/// A failure is forgiven for each of these without one.
pub(crate) const FORGIVEN_EVERY: Duration = Duration::from_secs(60);

/// Failed logins, counted for every sender at once (an attacker has as many addresses and connections as they
/// like): [`FREE_FAILURES`] in a row are free, then each failure locks the login for [`FIRST_LOCK`] doubled for
/// each further one, up to [`LONGEST_LOCK`]; a failure is forgiven per [`FORGIVEN_EVERY`] without one. While
/// locked, no login is checked at all, a right one included (else the lock would tell a right guess from a
/// wrong one): a guesser gets at most one guess a minute, and so does the operator while someone guesses (the
/// trade-off: sessions already open go on, and the lock ends a minute after the guessing stops).
#[derive(Debug, Default)]
pub(crate) struct FailedLogins {
    pub(crate) strikes: u32,
    pub(crate) last_failure: Option<Instant>,
    pub(crate) locked_until: Option<Instant>,
}

impl FailedLogins {
    /// `Err(how long)` while logins are locked.
    pub(crate) fn admit(&self, now: Instant) -> Result<(), Duration> {
        match self.locked_until {
            Some(until) if now < until => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure at `now`; returns the lock it starts, if any.
    pub(crate) fn failed(&mut self, now: Instant) -> Option<Duration> {
        if let Some(last) = self.last_failure {
            let quiet = now.saturating_duration_since(last).as_secs() / FORGIVEN_EVERY.as_secs();
            self.strikes = self
                .strikes
                .saturating_sub(u32::try_from(quiet).unwrap_or(u32::MAX));
        }
        self.strikes = self.strikes.saturating_add(1);
        self.last_failure = Some(now);
        let over = self.strikes.checked_sub(FREE_FAILURES)?;
        let lock = FIRST_LOCK
            .checked_mul(1u32.checked_shl(over).unwrap_or(u32::MAX))
            .unwrap_or(LONGEST_LOCK)
            .min(LONGEST_LOCK);
        self.locked_until = Some(now + lock);
        Some(lock)
    }
}

/// The names a request's `Host` may give for the console and the metrics: the addresses the daemon listens on;
/// `localhost`, `127.0.0.1` and `::1` when one of them is loopback (or every address); and `--allowed-host` names.
/// The port is not compared: another port of this machine's names reaches the same daemon's listeners anyway.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    pub(crate) names: BTreeSet<String>,
}

impl AllowedHosts {
    pub fn new(listening: &[SocketAddr], given: &[String]) -> Self {
        let mut names = BTreeSet::new();
        for a in listening {
            names.insert(a.ip().to_string());
            if a.ip().is_loopback() || a.ip().is_unspecified() {
                for n in ["localhost", "127.0.0.1", "::1"] {
                    names.insert(n.to_string());
                }
            }
        }
        names.extend(given.iter().filter_map(|g| host_name(g)));
        Self { names }
    }

    /// Whether a request's `Host` value names this daemon.
    pub(crate) fn allows(&self, host: &str) -> bool {
        host_name(host).is_some_and(|h| self.names.contains(&h))
    }
}

/// The name of a `Host` value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), lower-case and without the
/// root's dot; `None` for what is not one.
pub(crate) fn host_name(value: &str) -> Option<String> {
    let v = value.trim();
    let port_ok = |p: &str| {
        p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    let name = if let Some(rest) = v.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        port_ok(after).then_some(inside)?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        inside
    } else {
        match v.split_once(':') {
            Some((n, p)) if port_ok(&format!(":{p}")) => n,
            Some(_) => {
                // An IPv6 address without brackets (as --allowed-host might be given).
                v.parse::<IpAddr>().ok()?;
                v
            }
            None => v,
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// Refuses a request to the console or the metrics whose `Host` (and absolute URI, if any) is not one of this
/// daemon's names: 421, with what to do.
pub async fn host_check(
    State(hosts): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let uri_host = req.uri().authority().map(|a| a.as_str()).unwrap_or(host);
    if hosts.allows(host) && hosts.allows(uri_host) {
        return next.run(req).await;
    }
    let shown: String = host.chars().take(100).collect();
    tracing::info!(host = %shown, path = %req.uri().path(), "request refused: a Host this daemon does not answer as");
    refusal(
        StatusCode::MISDIRECTED_REQUEST,
        "MisdirectedRequest",
        &format!(
            "This daemon serves its console and metrics only to requests that name it by an address it listens \
             on (or localhost when that is loopback), or by a name given with --allowed-host; the Host {} is \
             not one of them. If you reach the daemon by that name, start it with --allowed-host NAME.",
            if shown.is_empty() { "header is missing and" } else { &shown }
        ),
    )
}

/// What the operator must know of this start of the daemon, said by `cacheplane status` and on every page of the
/// console: that the metrics' default address (`metrics_listen`) was taken so that the daemon serves none, that
/// the console is served over plain HTTP on `insecure`, an address that is not loopback (also said on stderr).
pub fn start_notices(
    metrics_taken: bool,
    metrics_listen: &str,
    insecure: Option<SocketAddr>,
) -> Vec<String> {
    let mut notices = Vec::new();
    if metrics_taken {
        notices.push(format!(
            "this daemon serves no metrics: their default address {metrics_listen} was taken by another process \
             when it started ({}), so whatever answers there is not this daemon and its figures are not to be \
             trusted. Free the address and restart, or choose one with --metrics-listen.",
            control::now().format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    if let Some(addr) = insecure.filter(|a| !a.ip().is_loopback()) {
        let warning = format!(
            "the console is served over plain HTTP on {addr}, which is not a loopback address \
             (--console-insecure): its logins and session cookies cross the network in clear."
        );
        tracing::warn!("{warning}");
        eprintln!("cacheplane: WARNING: {warning}");
        notices.push(warning);
    }
    notices
}

/// The console's own state.
pub struct Console {
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) password: Option<String>,
    pub(crate) interval: Duration,
    /// Failed logins, for everyone.
    pub(crate) failed: std::sync::Mutex<FailedLogins>,
    /// What the daemon said of itself at its start that the operator must see (a banner in every page).
    pub(crate) notices: Vec<String>,
    /// Each group's (and cache cluster's) last live page, under a lock of its own: one reading of a group's nodes
    /// at a time, shared by every browser showing it, while other groups' pages go on.
    pub(crate) pages: std::sync::Mutex<HashMap<String, Arc<PageSlot>>>,
}

type PageSlot = tokio::sync::Mutex<Option<(Instant, Arc<String>)>>;

impl Console {
    pub fn new(
        sessions: Sessions,
        password: Option<String>,
        interval: Duration,
        notices: Vec<String>,
    ) -> Self {
        Self {
            sessions: Arc::new(sessions),
            password: password.filter(|p| !p.is_empty()),
            interval,
            failed: std::sync::Mutex::new(FailedLogins::default()),
            notices,
            pages: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Runs `f` on the sessions off the async workers (it reads or writes the store).
    pub(crate) async fn with_sessions<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Sessions) -> control::Result<T> + Send + 'static,
    ) -> Result<T, Refused> {
        let sessions = self.sessions.clone();
        match tokio::task::spawn_blocking(move || f(&sessions)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the console's sessions could not be read or written");
                Err(Refused::Store)
            }
            Err(e) => {
                tracing::error!(error = %e, "the console's session task failed");
                Err(Refused::Store)
            }
        }
    }

    /// Whether the login's credentials open the console: the API's key pair, or the console password.
    pub(crate) fn accepts(
        &self,
        login: &serde_json::Value,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> bool {
        let field = |k: &str| login.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let same = crate::secret::same_secret;
        if let Some(p) = &self.password {
            if !field("password").is_empty() && same(field("password"), p) {
                return true;
            }
        }
        let id_ok = same(field("access_key_id"), access_key_id);
        let secret_ok = same(field("secret_access_key"), secret_access_key);
        id_ok & secret_ok
    }
}
