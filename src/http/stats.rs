//! Administrators' figures route: the live queue figures (API.md `GET /api/v1/admin/stats`).
//! Settlement (`GET /api/v1/admin/settlement`) is a later issue's.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminIn, family};
use crate::workflow::LiveFigures;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/stats", get(stats))
}

/// The figures of the caller's municipality, or of every member for the federation's
/// administrators (and tokens with `stats:read`). Shape: docs/DECISIONS.md "Live queue
/// figures (issue 22)".
async fn stats(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::StatsRead>,
) -> Result<Json<LiveFigures>, ApiError> {
    Ok(Json(app.ctx.live_figures(&admin).await?))
}
