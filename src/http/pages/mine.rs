//! The citizen's own pages: their requests, one request (status history, thread, reply,
//! consent, cancel), an anonymous visitor's way back to their request, and their data.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
