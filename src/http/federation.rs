//! The federation's configuration: municipalities, categories and agreements (API.md
//! "Administrators"). Any administrator reads it (an integration token with `config:read`);
//! changes are made by administrators in person — no token scope opens them — and the
//! policies decide whose: the federation's administrators everything, a municipality's own
//! administrators their emergency number and home rule.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminAuth, AdminIn, ApiJson, family};
use crate::domain::federation::{AgreementVersion, Category, Municipality};
use crate::workflow::{
    AgreementChanged, AgreementInput, AgreementRecord, CategoryInput, MunicipalityInput,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/admin/municipalities",
            get(municipalities).post(add_municipality),
        )
        .route(
            "/api/v1/admin/municipalities/{code}",
            get(municipality)
                .put(change_municipality)
                .delete(remove_municipality),
        )
        .route(
            "/api/v1/admin/categories",
            get(categories).post(add_category),
        )
        .route(
            "/api/v1/admin/categories/{id}",
            get(category).put(change_category).delete(remove_category),
        )
        .route(
            "/api/v1/admin/agreements",
            get(agreements).post(draft_agreement),
        )
        .route(
            "/api/v1/admin/agreements/{id}",
            get(agreement).put(redraft_agreement).delete(end_agreement),
        )
        .route(
            "/api/v1/admin/agreements/{id}/versions/{version}/sign",
            post(sign_agreement),
        )
}

async fn municipalities(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::ConfigRead>,
) -> Result<Json<Vec<Municipality>>, ApiError> {
    let federation = app.ctx.federation_config(&admin).await?;
    Ok(Json(federation.municipalities.clone()))
}

async fn municipality(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::ConfigRead>,
    Path(code): Path<String>,
) -> Result<Json<Municipality>, ApiError> {
    let federation = app.ctx.federation_config(&admin).await?;
    federation
        .municipalities
        .iter()
        .find(|m| m.code.as_str() == code)
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound)
}

async fn add_municipality(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiJson(body): ApiJson<MunicipalityInput>,
) -> Result<(StatusCode, Json<Municipality>), ApiError> {
    let added = app.ctx.add_municipality(&admin, body).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

async fn change_municipality(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<MunicipalityInput>,
) -> Result<Json<Municipality>, ApiError> {
    Ok(Json(
        app.ctx.change_municipality(&admin, &code, body).await?,
    ))
}

async fn remove_municipality(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.ctx.remove_municipality(&admin, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn categories(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::ConfigRead>,
) -> Result<Json<Vec<Category>>, ApiError> {
    let federation = app.ctx.federation_config(&admin).await?;
    Ok(Json(federation.categories.clone()))
}

async fn category(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::ConfigRead>,
    Path(id): Path<String>,
) -> Result<Json<Category>, ApiError> {
    let federation = app.ctx.federation_config(&admin).await?;
    federation
        .category(&id)
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound)
}

async fn add_category(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiJson(body): ApiJson<CategoryInput>,
) -> Result<(StatusCode, Json<Category>), ApiError> {
    let added = app.ctx.add_category(&admin, body).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

async fn change_category(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CategoryInput>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(app.ctx.change_category(&admin, &id, body).await?))
}

async fn remove_category(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.ctx.remove_category(&admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn agreements(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::ConfigRead>,
) -> Result<Json<Vec<AgreementRecord>>, ApiError> {
    Ok(Json(app.ctx.agreements(&admin).await?))
}

async fn agreement(
    State(app): State<AppState>,
    AdminIn { admin, .. }: AdminIn<family::ConfigRead>,
    Path(id): Path<String>,
) -> Result<Json<AgreementRecord>, ApiError> {
    Ok(Json(app.ctx.agreement(&admin, &id).await?))
}

/// A new agreement, as a draft: `201` with the version.
async fn draft_agreement(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiJson(body): ApiJson<AgreementInput>,
) -> Result<(StatusCode, Json<AgreementVersion>), ApiError> {
    let draft = app.ctx.draft_agreement(&admin, body, None).await?;
    Ok((StatusCode::CREATED, Json(draft)))
}

/// A new version of an agreement, as a draft: `201` with the version.
async fn redraft_agreement(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgreementInput>,
) -> Result<(StatusCode, Json<AgreementVersion>), ApiError> {
    let draft = app.ctx.draft_agreement(&admin, body, Some(&id)).await?;
    Ok((StatusCode::CREATED, Json(draft)))
}

async fn sign_agreement(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<AgreementChanged>, ApiError> {
    let version: i64 = version.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(app.ctx.sign_agreement(&admin, &id, version).await?))
}

/// Ends the agreement today; its cross-border cases go home at once.
async fn end_agreement(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> Result<Json<AgreementChanged>, ApiError> {
    Ok(Json(app.ctx.end_agreement(&admin, &id).await?))
}
