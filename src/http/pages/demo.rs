//! `brygga demo`: pick a demo person and be logged in as them, with a real browser session.

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
