//! Administrators' policy routes: the versions, storing a new one (validated, tested and held
//! to the legal baseline), the impact of activating one, activating one (federation
//! administrators, audited, four eyes), and simulating a request.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminAuth, AdminIn, ApiJson, family};
use crate::workflow::{ImpactReport, PolicyListing, SimulationInput, SimulationResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/policies", get(list).post(create))
        .route("/api/v1/admin/policies/{version}/activate", post(activate))
        .route("/api/v1/admin/policies/{version}/impact", post(impact))
        .route("/api/v1/admin/policies/simulate", post(simulate))
}

async fn list(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::PoliciesRead>,
) -> Result<Json<PolicyListing>, ApiError> {
    Ok(Json(app.ctx.policy_versions(&admin).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVersion {
    text: String,
    #[serde(default)]
    tests: Option<String>,
}

#[derive(Serialize)]
struct Created {
    version: i64,
}

/// Federation administrators in person store versions (no token scope opens this); the
/// policies decide who administers what.
async fn create(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiJson(body): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let version = app
        .ctx
        .create_policy_version(&admin, &body.text, body.tests.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(Created { version })))
}

async fn activate(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(version): Path<String>,
) -> Result<Json<Created>, ApiError> {
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    app.ctx.activate_policy_version(&admin, version).await?;
    Ok(Json(Created { version }))
}

/// What activating the version would change, replayed on the last 30 days' cases (federation
/// administrators in person; audited). An unknown version is 404.
async fn impact(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(version): Path<String>,
) -> Result<Json<ImpactReport>, ApiError> {
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(app.ctx.policy_impact(&admin, version).await?))
}

/// Any administrator may ask what the policies would decide; nothing is stored.
async fn simulate(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::PoliciesRead>,
    ApiJson(body): ApiJson<SimulationInput>,
) -> Result<Json<SimulationResult>, ApiError> {
    Ok(Json(app.ctx.simulate_policies(&admin, &body).await?))
}
