//! The HTTP layer (axum): routes, extractors, JSON views and the error mapping. Handlers parse,
//! call one workflow and answer; they never decide policy or set a case's state.

mod admin;
mod audit;
mod cases;
mod demo;
pub mod error;
mod events;
pub mod extract;
mod federation;
pub mod login;
mod offers;
mod ops;
pub mod pages;
mod policies;
mod requests;
mod scim;
mod staff;
mod stats;
mod tokens;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::workflow::{self, Context};
use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Context,
    /// OpenID Connect providers and the population register.
    pub auth: std::sync::Arc<login::AuthServices>,
    /// `brygga demo`: the demo login routes exist only then.
    pub demo: bool,
    /// Turns `true` when the server begins to shut down: long-lived answers (server-sent
    /// events) end then, so a graceful shutdown is not held open by subscribers.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl From<workflow::Error> for ApiError {
    fn from(e: workflow::Error) -> Self {
        use workflow::Error as W;
        match e {
            W::NotFound => ApiError::NotFound,
            W::Forbidden => ApiError::Forbidden,
            W::LoaTooLow => ApiError::LoaTooLow,
            W::FourEyesRequired => ApiError::FourEyesRequired,
            W::NotEligible(d) => ApiError::NotEligible {
                policies: d.policies,
            },
            W::Denied(d) => ApiError::Denied {
                policies: d.policies,
            },
            W::Conflict(t) => ApiError::Conflict(t),
            W::Duplicate(_) => ApiError::AlreadyExists,
            W::StateConflict(code) => ApiError::ConflictCode(code),
            W::InvalidField(field) => ApiError::InvalidField {
                field: field.to_owned(),
            },
            W::Unprocessable(code) => ApiError::Unprocessable(code),
            W::PolicyInvalid(problems) => ApiError::PolicyInvalid {
                at: problems.iter().map(|p| p.at).collect(),
                errors: problems.into_iter().map(|p| p.message).collect(),
            },
            W::RateLimited(retry_after) => ApiError::RateLimited { retry_after },
            W::Unavailable(why) => ApiError::Unavailable(why),
            W::SolverUnavailable(why) => ApiError::SolverUnavailable(why),
            W::Internal(why) => ApiError::Internal(why),
        }
    }
}

/// Runs the request with its id (`x-request-id`, set by the layer outside) known to the
/// audit events it causes.
async fn with_request_id(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match id {
        Some(id) => crate::audit::REQUEST_ID.scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}

/// An unknown path: the error page for a browser asking for a page (outside `/api/`), JSON
/// for everyone else.
async fn not_found(
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wants_page = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_page && !uri.path().starts_with("/api/") {
        pages::PageError::NotFound.into_response()
    } else {
        ApiError::NotFound.into_response()
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub fn router(state: AppState) -> Router {
    let max_body = state.ctx.config.max_body_bytes;
    let mut api = Router::new()
        .merge(ops::router())
        .merge(requests::router())
        .merge(cases::router())
        .merge(offers::router())
        .merge(admin::router())
        .merge(policies::router())
        .merge(federation::router())
        .merge(login::router())
        .merge(tokens::router())
        .merge(staff::router())
        .merge(scim::router())
        .merge(audit::router())
        .merge(stats::router())
        .merge(events::router())
        .merge(pages::router(state.demo));
    if state.demo {
        api = api.merge(demo::router());
    }
    let sessions = SessionManagerLayer::new(state.ctx.web_sessions())
        .with_name(extract::SESSION_COOKIE)
        .with_secure(state.ctx.config.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(i64::from(
            state.ctx.config.session_idle_minutes,
        ))));
    api.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            pages::error_pages,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), pages::frame))
        .layer(sessions)
        .layer(middleware::from_fn(with_request_id))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(error::localize))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
