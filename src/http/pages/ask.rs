//! Asking: the question pages, check answers, and the confirmation (API.md "Pages":
//! `/requests/new`, `POST /requests`).

use axum::Router;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
