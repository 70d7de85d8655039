//! Server-sent events: being written (GET /api/v1/events).

use axum::Router;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
