//! Operations: liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers, the federation is loaded, and which policy version decides.
async fn readyz(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let database = app
        .ctx
        .ready()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(json!({
        "status": "ready",
        "database": database,
        "federation": app.ctx.federation().id,
        "policy_version": app.ctx.policy.active().number,
    })))
}
