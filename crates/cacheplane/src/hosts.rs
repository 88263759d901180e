//! The daemon's side of hosts joining (`POST /cacheplane/hosts/join` on the API's address), and the operator's
//! `cacheplane hosts` commands.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use axum::Json;
use control::actions::hosts::{JoinError, JoinRequest};

use crate::app::AppState;

/// Where a new agent sends its join request.
pub const JOIN_PATH: &str = "/cacheplane/hosts/join";

/// Answers a join request: the host's certificate, or why not (403 for a token that is not live, 400 for a
/// request that is not sound).
pub async fn join(State(app): State<Arc<AppState>>, Json(r): Json<JoinRequest>) -> Response<Body> {
    let (status, body) = match app.control.join_host(r) {
        Ok(j) => match serde_json::to_string(&j) {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(e @ JoinError::Token) => (StatusCode::FORBIDDEN, e.to_string()),
        Err(JoinError::Refused(e)) => {
            let e = crate::api::to_api_error(e);
            (
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
                e.message,
            )
        }
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r
}
