//! The API's application state (the control plane, the key pair, the console) and how a Query request is run and
//! answered — shared by the signed API and the console's actions.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use wire::ApiError;

use crate::api;

/// How long a client may take to send a whole body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct AppState {
    pub control: control::Control,
    /// Permits for requests whose bodies are read or handled ([`MAX_IN_FLIGHT`]).
    pub in_flight: tokio::sync::Semaphore,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The web console, unless `--no-console`.
    pub console: Option<crate::console::state::Console>,
}

pub fn xml_response(status: u16, body: String, request_id: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

pub fn error_response(e: &ApiError, request_id: &str) -> Response<Body> {
    xml_response(e.code.http_status(), e.to_xml(request_id), request_id)
}

/// The answer to a Query API request (signed, or from the console), counted in the metrics by action and code.
pub fn answer(
    app: &AppState,
    action: &str,
    started: std::time::Instant,
    result: Result<String, ApiError>,
    request_id: &str,
) -> Response<Body> {
    let code = match &result {
        Ok(_) => "OK",
        Err(e) => e.code.code(),
    };
    app.control
        .metrics()
        .api_request(action, code, started.elapsed());
    match result {
        Ok(xml) => xml_response(200, xml, request_id),
        Err(e) => {
            tracing::debug!(code = e.code.code(), message = %e.message, "request refused");
            error_response(&e, request_id)
        }
    }
}

/// Decodes a Query form and runs its action; `action` is set once it is known.
pub async fn dispatch_form(
    app: &AppState,
    form: wire::form::Form,
    request_id: &str,
    action: &mut &'static str,
) -> Result<String, ApiError> {
    let request = wire::input::Request::decode(form)?;
    *action = request.action();
    api::dispatch(&app.control, request, request_id).await
}
