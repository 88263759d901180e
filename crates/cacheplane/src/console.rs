//! The web console under `/console/`, on the API's listener but off the SigV4 path.
//!
//! - **Pages**: one HTML page, its script and its style sheet, embedded in the binary (no CDN). They hold no data;
//!   everything shown comes from the JSON and XML below, after a login.
//! - **Login**: the API's key pair, or the console password given at start (`CACHEPLANE_CONSOLE_PASSWORD` or
//!   `--console-password-file`, 16 characters or more). A login gets a session cookie (`HttpOnly`,
//!   `SameSite=Strict`, 12 hours) holding a random session id that the store knows by its hash
//!   ([`control::actions::console_sessions`]): a logout ends it for good, "log out everywhere" (`logout-all`, or `cacheplane
//!   console-logout-all`) ends every session, and a restart revives none.
//! - **Guessing**: failed logins are counted for everyone at once ([`FailedLogins`]): after a few, no login is
//!   checked for a while that doubles with each further failure, whoever sends it and over however many
//!   connections.
//! - **Host**: the console (and the metrics listener) answer only requests whose `Host` names the daemon as it
//!   listens ([`AllowedHosts`]), so a page of another site that rebinds its name to this address reaches nothing.
//! - **Reads**: `api/list`, `api/groups/{id}` and `api/clusters/{id}` (JSON, from `control::console`), and the
//!   API's own actions.
//! - **Actions**: `api/action` takes an ElastiCache Query request (`Action=TestFailover&…`) and runs it through the
//!   same decoder and dispatcher as a signed API request, answering the API's XML (its errors with AWS's code and
//!   HTTP status), so the console can do nothing the API would not and shows AWS's messages.
//! - **Forgery**: every request that changes something (and the login) must carry `X-Console: 1`, which a page of
//!   another origin cannot send without a CORS preflight this server never grants.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use control::actions::console_sessions::{Sessions, LIFETIME as SESSION};

use crate::server::AppState;

const COOKIE: &str = "cacheplane_console";
/// The largest body the console accepts (a create form is a few hundred bytes).
const MAX_BODY: usize = 64 << 10;
/// How long a group's (or cache cluster's) live page is served from the last reading of its nodes, whatever the
/// number of browsers.
const GROUP_PAGE_REUSE: Duration = Duration::from_millis(900);

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");

/// The failure in a row that first locks logins (the ones before it are free).
const FREE_FAILURES: u32 = 5;
/// The first lock; each further failure doubles it, up to [`LONGEST_LOCK`].
const FIRST_LOCK: Duration = Duration::from_millis(500);
const LONGEST_LOCK: Duration = Duration::from_secs(60);
/// A failure is forgiven for each of these without one.
const FORGIVEN_EVERY: Duration = Duration::from_secs(60);

/// Failed logins, counted for every sender at once (an attacker has as many addresses and connections as they
/// like): [`FREE_FAILURES`] in a row are free, then each failure locks the login for [`FIRST_LOCK`] doubled for
/// each further one, up to [`LONGEST_LOCK`]; a failure is forgiven per [`FORGIVEN_EVERY`] without one. While
/// locked, no login is checked at all, a right one included (else the lock would tell a right guess from a
/// wrong one): a guesser gets at most one guess a minute, and so does the operator while someone guesses (the
/// trade-off: sessions already open go on, and the lock ends a minute after the guessing stops).
#[derive(Debug, Default)]
struct FailedLogins {
    strikes: u32,
    last_failure: Option<Instant>,
    locked_until: Option<Instant>,
}

impl FailedLogins {
    /// `Err(how long)` while logins are locked.
    fn admit(&self, now: Instant) -> Result<(), Duration> {
        match self.locked_until {
            Some(until) if now < until => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure at `now`; returns the lock it starts, if any.
    fn failed(&mut self, now: Instant) -> Option<Duration> {
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
    names: BTreeSet<String>,
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
    fn allows(&self, host: &str) -> bool {
        host_name(host).is_some_and(|h| self.names.contains(&h))
    }
}

/// The name of a `Host` value (`name`, `name:port`, `1.2.3.4:port`, `[::1]:port`), lower-case and without the
/// root's dot; `None` for what is not one.
fn host_name(value: &str) -> Option<String> {
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
    sessions: Arc<Sessions>,
    password: Option<String>,
    interval: Duration,
    /// Failed logins, for everyone.
    failed: std::sync::Mutex<FailedLogins>,
    /// What the daemon said of itself at its start that the operator must see (a banner in every page).
    notices: Vec<String>,
    /// Each group's (and cache cluster's) last live page, under a lock of its own: one reading of a group's nodes
    /// at a time, shared by every browser showing it, while other groups' pages go on.
    pages: std::sync::Mutex<HashMap<String, Arc<PageSlot>>>,
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
    async fn with_sessions<T: Send + 'static>(
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
    fn accepts(
        &self,
        login: &serde_json::Value,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> bool {
        let field = |k: &str| login.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let same = crate::server::same_secret;
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

/// The console's routes, to merge into the API's router (whose fallback is the SigV4 API).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(|| async { redirect("/console/") }))
        .route(
            "/console/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/console/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/console/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
        .route("/console/logout-all", post(logout_all))
        .route("/console/api/session", get(session))
        .route("/console/api/list", get(list))
        .route("/console/api/groups/{id}", get(group))
        .route("/console/api/clusters/{id}", get(cluster))
        .route("/console/api/ca.pem", get(ca_bundle))
        .route("/console/api/action", post(action))
}

fn console(app: &AppState) -> Option<&Console> {
    app.console.as_ref()
}

fn with_headers(mut r: Response, content_type: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    with_headers(Response::new(Body::from(body)), content_type)
}

fn redirect(to: &'static str) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = with_headers(
        Response::new(Body::from(body)),
        "application/json; charset=utf-8",
    );
    *r.status_mut() = status;
    r
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "code": code, "message": message }).to_string(),
    )
}

fn not_logged_in() -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        "NotLoggedIn",
        "Log in to the console first.",
    )
}

/// Why a console request is refused before it is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    NoConsole,
    NotLoggedIn,
    MissingHeader,
    /// The store did not answer (said in the log).
    Store,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::NoConsole => refusal(
                StatusCode::NOT_FOUND,
                "NoConsole",
                "The console is off (--no-console).",
            ),
            Self::NotLoggedIn => not_logged_in(),
            Self::MissingHeader => refusal(
                StatusCode::FORBIDDEN,
                "MissingConsoleHeader",
                "Requests that change something (and logins) must carry the header X-Console: 1.",
            ),
            Self::Store => refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "The console's sessions could not be read from the store; the daemon's log says why.",
            ),
        }
    }
}

/// The session ids a request's cookies carry (a few at most).
fn session_ids(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .take(4)
        .collect()
}

/// Refuses a request without a live session (and, for a change, without `X-Console: 1`). The store is read on
/// every request: a session ended elsewhere (another browser's "log out everywhere", the CLI) is ended here.
async fn check(app: &AppState, headers: &HeaderMap, change: bool) -> Result<(), Refused> {
    let c = console(app).ok_or(Refused::NoConsole)?;
    let ids = session_ids(headers);
    if ids.is_empty() {
        return Err(Refused::NotLoggedIn);
    }
    let now = control::now();
    let logged_in = c
        .with_sessions(move |s| {
            for id in &ids {
                if s.live(id, now)? {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await?;
    if !logged_in {
        return Err(Refused::NotLoggedIn);
    }
    if change && !forgery_safe(headers) {
        return Err(Refused::MissingHeader);
    }
    Ok(())
}

fn forgery_safe(headers: &HeaderMap) -> bool {
    headers.get("x-console").and_then(|v| v.to_str().ok()) == Some("1")
}

async fn read_body(body: Body) -> Result<Bytes, Response> {
    match tokio::time::timeout(
        crate::server::BODY_TIMEOUT,
        axum::body::to_bytes(body, MAX_BODY),
    )
    .await
    {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "The request is larger than the console accepts.",
        )),
        Err(_) => Err(refusal(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            "The request body did not arrive in time.",
        )),
    }
}

async fn login(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let Some(c) = console(&app) else {
        return Refused::NoConsole.into_response();
    };
    if !forgery_safe(req.headers()) {
        return Refused::MissingHeader.into_response();
    }
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let login: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    // One login checked at a time, for everyone: the lock and the count are one step with the check.
    let verdict = {
        let mut failed = c.failed.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match failed.admit(now) {
            Err(wait) => Err(Some(wait)),
            Ok(()) if c.accepts(&login, &app.access_key_id, &app.secret_access_key) => Ok(()),
            Ok(()) => {
                if let Some(lock) = failed.failed(now) {
                    tracing::warn!(
                        failures = failed.strikes,
                        lock_ms = lock.as_millis() as u64,
                        "console logins locked after repeated failed logins"
                    );
                }
                Err(None)
            }
        }
    };
    match verdict {
        Err(Some(wait)) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut r = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyFailedLogins",
                &format!(
                    "Too many failed logins to this console, from anyone: no login is checked for {seconds} more \
                     second(s), and each further failure doubles the wait (up to a minute). Sessions already \
                     open go on; if you are not the one guessing, someone else is."
                ),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return r;
        }
        Err(None) => {
            tracing::info!("console login refused");
            return refusal(
                StatusCode::UNAUTHORIZED,
                "LoginRefused",
                if c.password.is_some() {
                    "That is not this daemon's access key ID and secret access key, nor its console password."
                } else {
                    "That is not this daemon's access key ID and secret access key."
                },
            );
        }
        Ok(()) => {}
    }
    let now = control::now();
    let id = match c.with_sessions(move |s| s.begin(now)).await {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let mut r = json(StatusCode::OK, r#"{"logged_in":true}"#.to_string());
    let cookie = format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    tracing::info!("console login");
    r
}

/// The answer to a logout: the browser's cookie cleared.
fn logged_out() -> Response {
    let mut r = json(StatusCode::OK, r#"{"logged_in":false}"#.to_string());
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "cacheplane_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

/// Ends the request's session (for good: a copy of its cookie opens nothing after it).
async fn logout(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let Some(c) = console(&app) else {
        return Refused::NoConsole.into_response();
    };
    if !forgery_safe(&headers) {
        return Refused::MissingHeader.into_response();
    }
    let ids = session_ids(&headers);
    let ended = c
        .with_sessions(move |s| ids.iter().try_for_each(|id| s.end(id)))
        .await;
    match ended {
        Ok(()) => logged_out(),
        Err(r) => r.into_response(),
    }
}

/// "Log out everywhere": ends every session of the console, this one included.
async fn logout_all(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, true).await {
        return r.into_response();
    }
    let Some(c) = console(&app) else {
        return Refused::NoConsole.into_response();
    };
    let now = control::now();
    match c.with_sessions(move |s| s.end_all(now)).await {
        Ok(n) => {
            tracing::info!(sessions = n, "console: logged out everywhere");
            logged_out()
        }
        Err(r) => r.into_response(),
    }
}

async fn session(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, false).await {
        return r.into_response();
    }
    let c = console(&app);
    json(
        StatusCode::OK,
        serde_json::json!({
            "region": app.region,
            "interval_seconds": c.map(|c| c.interval.as_secs()),
            "notices": c.map(|c| c.notices.clone()).unwrap_or_default(),
        })
        .to_string(),
    )
}

async fn list(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, false).await {
        return r.into_response();
    }
    let entries = app.control.console_list();
    json(
        StatusCode::OK,
        serde_json::to_string(&entries).unwrap_or_default(),
    )
}

async fn group(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    live_page(&app, &headers, Page::Group, id).await
}

async fn cluster(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    live_page(&app, &headers, Page::Cluster, id).await
}

/// Which live page: a replication group's, or a cache cluster's (Memcached, or Redis or Valkey outside a group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Group,
    Cluster,
}

/// A live page, read afresh at most once per [`GROUP_PAGE_REUSE`] whatever the number of browsers showing it.
async fn live_page(app: &AppState, headers: &HeaderMap, page: Page, id: String) -> Response {
    if let Err(r) = check(app, headers, false).await {
        return r.into_response();
    }
    let Some(c) = console(app) else {
        return not_logged_in();
    };
    let key = format!("{page:?}/{}", id.to_ascii_lowercase());
    let slot = c
        .pages
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.clone())
        .or_default()
        .clone();
    let mut last = slot.lock().await;
    if let Some((at, page)) = last.as_ref() {
        if at.elapsed() < GROUP_PAGE_REUSE {
            return json(StatusCode::OK, page.to_string());
        }
    }
    let interval = c.interval.as_secs();
    let read = match page {
        Page::Group => app
            .control
            .console_group(&id, interval)
            .await
            .map(|p| serde_json::to_string(&p).unwrap_or_default()),
        Page::Cluster => app
            .control
            .console_cluster(&id, interval)
            .await
            .map(|p| serde_json::to_string(&p).unwrap_or_default()),
    };
    match read {
        Ok(body) => {
            let body = Arc::new(body);
            *last = Some((Instant::now(), body.clone()));
            json(StatusCode::OK, body.to_string())
        }
        Err(e) => {
            // A group or cluster that is gone (or never was) keeps no slot.
            *last = None;
            drop(last);
            c.pages
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            let e = crate::api::to_api_error(e);
            refusal(
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
                e.code.code(),
                &e.message,
            )
        }
    }
}

async fn ca_bundle(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, false).await {
        return r.into_response();
    }
    match std::fs::read(app.control.ca_bundle()) {
        Ok(pem) => {
            let mut r = with_headers(Response::new(Body::from(pem)), "application/x-pem-file");
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"cacheplane-ca.pem\""),
            );
            r
        }
        Err(e) => refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            &format!("The CA bundle could not be read: {e}"),
        ),
    }
}

/// An API action from the console: decoded and dispatched as a signed request would be.
async fn action(State(app): State<Arc<AppState>>, req: Request) -> Response {
    if let Err(r) = check(&app, req.headers(), true).await {
        return r.into_response();
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let started = Instant::now();
    let mut action = "-";
    let result = async {
        let _permit = app.in_flight.acquire().await.map_err(|_| {
            wire::ApiError::new(
                wire::ErrorCode::ServiceUnavailable,
                "The server is shutting down.",
            )
        })?;
        let form = wire::form::Form::parse(&body)?;
        crate::server::dispatch_form(&app, form, &request_id, &mut action).await
    }
    .await;
    crate::server::answer(&app, action, started, result, &request_id).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(password: Option<&str>) -> (tempfile::TempDir, Console) {
        let dir = tempfile::tempdir().expect("tempdir");
        control::store::SqliteStore::open(&dir.path().join("cacheplane.sqlite3")).expect("store");
        let sessions = Sessions::open(dir.path()).expect("sessions");
        let c = Console::new(
            sessions,
            password.map(str::to_string),
            Duration::from_secs(5),
            vec![],
        );
        (dir, c)
    }

    #[test]
    fn a_login_needs_the_key_pair_or_the_password() {
        let (_dir, c) = console(Some("pw"));
        let j = |v: serde_json::Value| c.accepts(&v, "AKID", "secret");
        assert!(j(
            serde_json::json!({"access_key_id": "AKID", "secret_access_key": "secret"})
        ));
        assert!(j(serde_json::json!({"password": "pw"})));
        assert!(!j(
            serde_json::json!({"access_key_id": "AKID", "secret_access_key": "secreT"})
        ));
        assert!(!j(
            serde_json::json!({"access_key_id": "", "secret_access_key": "secret"})
        ));
        assert!(!j(serde_json::json!({"password": ""})));
        assert!(!j(serde_json::json!({})));
        let (_dir, no_password) = console(Some(""));
        assert!(!no_password.accepts(&serde_json::json!({"password": ""}), "AKID", "secret"));
    }

    #[test]
    fn failed_logins_lock_everyone_longer_each_time_and_are_forgiven_slowly() {
        let mut f = FailedLogins::default();
        let t0 = Instant::now();
        for _ in 1..FREE_FAILURES {
            assert_eq!(f.admit(t0), Ok(()));
            assert_eq!(f.failed(t0), None);
        }
        // The fifth locks for half a second, then each one doubles it.
        assert_eq!(f.failed(t0), Some(Duration::from_millis(500)));
        assert_eq!(f.admit(t0), Err(Duration::from_millis(500)));
        let mut t = t0 + Duration::from_millis(500);
        assert_eq!(f.admit(t), Ok(()));
        let mut locks = vec![];
        for _ in 0..10 {
            let lock = f.failed(t).expect("locked");
            locks.push(lock.as_millis());
            t += lock;
        }
        assert_eq!(
            locks,
            [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]
        );
        // Guessing without pause for an hour: about one guess a minute.
        let start = t;
        let mut guesses = 0;
        while t < start + Duration::from_secs(3600) {
            t += f.failed(t).expect("locked");
            guesses += 1;
        }
        assert_eq!(guesses, 60);
        // A quiet quarter of an hour forgives every strike: the next failure is free again.
        t += Duration::from_secs(15 * 60);
        assert_eq!(f.admit(t), Ok(()));
        assert_eq!(f.failed(t), None);
    }

    #[test]
    fn hosts_are_the_listening_addresses_localhost_and_the_given_names() {
        let loopback = AllowedHosts::new(
            &["127.0.0.1:9736".parse().expect("addr")],
            &["Cacheplane.Example.".into(), "[fd00::1]:80".into()],
        );
        for ok in [
            "127.0.0.1:9736",
            "127.0.0.1",
            "localhost:9736",
            "LOCALHOST",
            "[::1]:9736",
            "cacheplane.example",
            "cacheplane.example.:9736",
            "[fd00::1]",
        ] {
            assert!(loopback.allows(ok), "{ok}");
        }
        for refused in [
            "",
            "evil.example",
            "evil.example:9736",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "localhost:97a",
            "[::1",
            "[::1]x",
            "::1:9736",
        ] {
            assert!(!loopback.allows(refused), "{refused}");
        }
        // Listening on another address: that address, not localhost.
        let lan = AllowedHosts::new(&["192.0.2.7:9736".parse().expect("addr")], &[]);
        assert!(lan.allows("192.0.2.7:9736"));
        assert!(!lan.allows("localhost:9736"));
        assert!(!lan.allows("127.0.0.1:9736"));
    }
}
