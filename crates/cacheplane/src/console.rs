//! The web console under `/console/`, on the API's listener but off the SigV4 path.
//!
//! - **Pages**: one HTML page, its script and its style sheet, embedded in the binary (no CDN). They hold no data;
//!   everything shown comes from the JSON and XML below, after a login.
//! - **Login**: the API's key pair, or the console password given at start (`CACHEPLANE_CONSOLE_PASSWORD`). A login
//!   gets a session cookie (`HttpOnly`, `SameSite=Strict`, 12 hours) that carries its expiry and an HMAC over it
//!   with a key derived from the API secret (and the console password): nothing is kept server-side, so a session
//!   outlives a restart of the daemon and ends when the secret or password changes.
//! - **Reads**: `api/list`, `api/groups/{id}` and `api/clusters/{id}` (JSON, from `control::console`), and the
//!   API's own actions.
//! - **Actions**: `api/action` takes an ElastiCache Query request (`Action=TestFailover&…`) and runs it through the
//!   same decoder and dispatcher as a signed API request, answering the API's XML (its errors with AWS's code and
//!   HTTP status), so the console can do nothing the API would not and shows AWS's messages.
//! - **Forgery**: every request that changes something (and the login) must carry `X-Console: 1`, which a page of
//!   another origin cannot send without a CORS preflight this server never grants.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::server::AppState;

const COOKIE: &str = "cacheplane_console";
/// How long a login lasts.
const SESSION: Duration = Duration::from_secs(12 * 3600);
/// The largest body the console accepts (a create form is a few hundred bytes).
const MAX_BODY: usize = 64 << 10;
/// How long a group's (or cache cluster's) live page is served from the last reading of its nodes, whatever the
/// number of browsers.
const GROUP_PAGE_REUSE: Duration = Duration::from_millis(900);

const INDEX_HTML: &str = include_str!("console/index.html");
const APP_JS: &str = include_str!("console/app.js");
const APP_CSS: &str = include_str!("console/app.css");

/// The console's own state.
pub struct Console {
    /// The key sessions are signed with.
    key: [u8; 32],
    password: Option<String>,
    interval: Duration,
    /// Each group's (and cache cluster's) last live page, under a lock of its own: one reading of a group's nodes
    /// at a time, shared by every browser showing it, while other groups' pages go on.
    pages: std::sync::Mutex<HashMap<String, Arc<PageSlot>>>,
}

type PageSlot = tokio::sync::Mutex<Option<(Instant, Arc<String>)>>;

impl Console {
    pub fn new(secret_access_key: &str, password: Option<String>, interval: Duration) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret_access_key.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"cacheplane console session key\n");
        mac.update(password.as_deref().unwrap_or("").as_bytes());
        Self {
            key: mac.finalize().into_bytes().into(),
            password: password.filter(|p| !p.is_empty()),
            interval,
            pages: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn mac(&self, expiry: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(format!("v1\n{expiry}").as_bytes());
        mac
    }

    /// A session cookie's value, valid until `expiry` (Unix seconds).
    fn session(&self, expiry: i64) -> String {
        format!(
            "v1.{expiry}.{}",
            hex::encode(self.mac(expiry).finalize().into_bytes())
        )
    }

    /// Whether `value` is a session this daemon signed that has not expired.
    fn valid(&self, value: &str, now: i64) -> bool {
        let mut parts = value.split('.');
        let (Some("v1"), Some(expiry), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(expiry), Ok(mac)) = (expiry.parse::<i64>(), hex::decode(mac)) else {
            return false;
        };
        expiry > now && self.mac(expiry).verify_slice(&mac).is_ok()
    }

    /// Whether the login's credentials open the console: the API's key pair, or the console password.
    fn accepts(
        &self,
        login: &serde_json::Value,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> bool {
        let field = |k: &str| login.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let same = |a: &str, b: &str| bool::from(a.as_bytes().ct_eq(b.as_bytes()));
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
        }
    }
}

/// Refuses a request without a valid session (and, for a change, without `X-Console: 1`).
fn check(app: &AppState, headers: &HeaderMap, change: bool) -> Result<(), Refused> {
    let c = console(app).ok_or(Refused::NoConsole)?;
    let now = control::now().timestamp();
    let logged_in = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == COOKIE && c.valid(v, now));
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
    if !c.accepts(&login, &app.access_key_id, &app.secret_access_key) {
        // A guess costs its sender a quarter of a second.
        tokio::time::sleep(Duration::from_millis(250)).await;
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
    let expiry = control::now().timestamp() + SESSION.as_secs() as i64;
    let mut r = json(StatusCode::OK, r#"{"logged_in":true}"#.to_string());
    let cookie = format!(
        "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        c.session(expiry),
        SESSION.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    tracing::info!("console login");
    r
}

async fn logout(headers: HeaderMap) -> Response {
    if !forgery_safe(&headers) {
        return Refused::MissingHeader.into_response();
    }
    let mut r = json(StatusCode::OK, r#"{"logged_in":false}"#.to_string());
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "cacheplane_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

async fn session(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, false) {
        return r.into_response();
    }
    json(
        StatusCode::OK,
        serde_json::json!({ "region": app.region, "interval_seconds": console(&app).map(|c| c.interval.as_secs()) })
            .to_string(),
    )
}

async fn list(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = check(&app, &headers, false) {
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
    if let Err(r) = check(app, headers, false) {
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
    if let Err(r) = check(&app, &headers, false) {
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
    if let Err(r) = check(&app, req.headers(), true) {
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

    #[test]
    fn sessions_are_signed_expire_and_end_with_the_secret() {
        let c = Console::new("secret", None, Duration::from_secs(5));
        let s = c.session(1_000);
        assert!(c.valid(&s, 999));
        assert!(!c.valid(&s, 1_000), "expired");
        // Another expiry under the same MAC, a flipped MAC, a malformed value.
        let forged = s.replacen("1000", "9000", 1);
        assert!(!c.valid(&forged, 999));
        let mut flipped = s.clone();
        let last = flipped.pop().unwrap_or('0');
        flipped.push(if last == '0' { '1' } else { '0' });
        assert!(!c.valid(&flipped, 999));
        assert!(!c.valid("v1.1000", 999));
        assert!(!c.valid("", 999));
        // Another secret, or a console password set, signs differently: the old sessions end.
        let other = Console::new("other", None, Duration::from_secs(5));
        assert!(!other.valid(&s, 999));
        let with_password = Console::new("secret", Some("pw".into()), Duration::from_secs(5));
        assert!(!with_password.valid(&s, 999));
        // The same secret after a restart keeps them.
        let again = Console::new("secret", None, Duration::from_secs(5));
        assert!(again.valid(&s, 999));
    }

    #[test]
    fn a_login_needs_the_key_pair_or_the_password() {
        let c = Console::new("secret", Some("pw".into()), Duration::from_secs(5));
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
        let no_password = Console::new("secret", Some(String::new()), Duration::from_secs(5));
        assert!(!no_password.accepts(&serde_json::json!({"password": ""}), "AKID", "secret"));
    }
}
