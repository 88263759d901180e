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

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use control::actions::console_sessions::LIFETIME as SESSION;

use crate::app::AppState;

pub(crate) mod state;
pub use state::*;

const COOKIE: &str = "cacheplane_console";
/// The largest body the console accepts (a create form is a few hundred bytes).
const MAX_BODY: usize = 64 << 10;
/// How long a group's (or cache cluster's) live page is served from the last reading of its nodes, whatever the
/// number of browsers.
const GROUP_PAGE_REUSE: Duration = Duration::from_millis(900);

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

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
pub(crate) enum Refused {
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
        crate::app::BODY_TIMEOUT,
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
        crate::app::dispatch_form(&app, form, &request_id, &mut action).await
    }
    .await;
    crate::app::answer(&app, action, started, result, &request_id).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::actions::console_sessions::Sessions;

    fn console(password: Option<&str>) -> (tempfile::TempDir, Console) {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = control::store::StoreAt::new(dir.path(), None).expect("at");
        at.open().expect("store");
        let sessions = Sessions::open(dir.path(), &at).expect("sessions");
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
