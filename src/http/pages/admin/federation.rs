//! (filled in by its own step of issue 22)

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
