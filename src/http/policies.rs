//! Administrators' policy routes: the versions, storing a new one (validated and tested),
//! activating one (federation administrators, audited), and simulating a request.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminAuth, ApiJson};
use crate::workflow::{PolicyVersion, SimulationInput, SimulationResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/policies", get(list).post(create))
        .route("/api/v1/admin/policies/{version}/activate", post(activate))
        .route("/api/v1/admin/policies/simulate", post(simulate))
}

#[derive(Serialize)]
struct Listing {
    /// The version every decision uses now.
    active: i64,
    /// The active version's policy ids, in text order.
    policies: Vec<String>,
    versions: Vec<PolicyVersion>,
}

async fn list(
    State(app): State<AppState>,
    AdminAuth(_): AdminAuth,
) -> Result<Json<Listing>, ApiError> {
    let active = app.ctx.policy.active();
    Ok(Json(Listing {
        active: active.number,
        policies: active.compiled.ids.clone(),
        versions: app.ctx.policy_versions().await?,
    }))
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

fn actor(municipality: Option<&str>) -> String {
    format!("admin:{}", municipality.unwrap_or("federation"))
}

/// Federation administrators store versions; the policies decide who administers what.
async fn create(
    State(app): State<AppState>,
    AdminAuth(municipality): AdminAuth,
    ApiJson(body): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    app.ctx.may_administer_federation(municipality.as_deref())?;
    let version = app
        .ctx
        .create_policy_version(
            &actor(municipality.as_deref()),
            &body.text,
            body.tests.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Created { version })))
}

async fn activate(
    State(app): State<AppState>,
    AdminAuth(municipality): AdminAuth,
    Path(version): Path<String>,
) -> Result<Json<Created>, ApiError> {
    app.ctx.may_administer_federation(municipality.as_deref())?;
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    app.ctx
        .activate_policy_version(&actor(municipality.as_deref()), version)
        .await?;
    Ok(Json(Created { version }))
}

/// Any administrator may ask what the policies would decide; nothing is stored.
async fn simulate(
    State(app): State<AppState>,
    AdminAuth(_): AdminAuth,
    ApiJson(body): ApiJson<SimulationInput>,
) -> Result<Json<SimulationResult>, ApiError> {
    Ok(Json(app.ctx.simulate_policies(&body).await?))
}
