//! Integration tokens: bearer tokens that administrators create for systems that call
//! Brygga's API (hashed at rest, scoped per route family — `audit:read`, `cases:write`, … —,
//! 90 days unless asked otherwise and at most 365, revocable, audited). A token acts as an
//! administrator of the municipality that created it, but only on the route families its scopes
//! name (`extract::AdminIn`). Tokens do not beget tokens: no scope opens these routes, so an
//! integration token can neither list, create nor revoke integration tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AdminAuth, ApiJson};
use crate::domain::access::ApiToken;
use crate::workflow::IntegrationTokenInput;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/tokens", get(list).post(create))
        .route("/api/v1/admin/tokens/{id}", delete(revoke))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// Route families (`crate::domain::access::Scope::GRANTABLE`), at least one; any other
    /// name is 422 `invalid_field` `scopes`.
    scopes: Vec<String>,
    /// Days the token lives: 90 unless given, at most 365.
    #[serde(default)]
    days: Option<u32>,
}

#[derive(Serialize)]
struct TokenView {
    id: String,
    name: Option<String>,
    scopes: Vec<&'static str>,
    /// The municipality the token acts for; absent for the federation.
    #[serde(skip_serializing_if = "Option::is_none")]
    municipality: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        TokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            scopes: t.scopes.iter().map(|s| s.as_str()).collect(),
            municipality: crate::workflow::acting_for(t).map(|m| m.as_str().to_owned()),
            created_by: t.created_by.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Serialize)]
struct Created {
    /// Shown once; only its hash is stored.
    token: String,
    #[serde(flatten)]
    view: TokenView,
}

async fn create(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let (issued, token) = app
        .ctx
        .create_integration_token(
            &admin,
            IntegrationTokenInput {
                name: body.name,
                scopes: body.scopes,
                days: body.days,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            token: issued.token,
            view: TokenView::from(&token),
        }),
    ))
}

/// A municipality's administrators see their municipality's tokens; federation
/// administrators see all.
async fn list(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let tokens = app.ctx.integration_tokens(&admin).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

async fn revoke(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.ctx.revoke_integration_token(&admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
